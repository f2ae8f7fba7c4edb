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
