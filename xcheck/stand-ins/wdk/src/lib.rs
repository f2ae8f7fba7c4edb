//! Stand-in for `wdk` 0.5.0 during the Windows-target check: `println!` over `DbgPrint`.
#![no_std]

use core::fmt::{self, Write};

/// Prints to the kernel debugger, like the real crate's `println!`.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

struct Line {
    bytes: [u8; 512],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            // Keep one byte for the terminating NUL; drop what does not fit, and interior NULs.
            if self.len + 1 < self.bytes.len() && b != 0 {
                self.bytes[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let mut line = Line { bytes: [0; 512], len: 0 };
    let _ = line.write_fmt(args);
    line.bytes[line.len] = 0;
    // SAFETY: "%s" with a NUL-terminated buffer.
    unsafe { wdk_sys::ntddk::DbgPrint(c"%s".as_ptr(), line.bytes.as_ptr()) };
}

/// Breaks into the kernel debugger, as the real crate's `dbg_break` does: `int 3` on x86 and x64,
/// `brk #0xF000` on arm64 (the encoding of a debug break on Windows arm64). Without an attached
/// kernel debugger Windows stops with a bug check on it.
pub fn dbg_break() {
    // SAFETY: a breakpoint instruction; it touches no memory and no register.
    unsafe {
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!("brk #0xF000");
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        core::arch::asm!("int 3");
    }
}
