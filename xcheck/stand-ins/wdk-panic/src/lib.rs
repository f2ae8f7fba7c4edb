//! Stand-in for `wdk-panic` 0.5.0 during the Windows-target check: the panic handler.
//!
//! As the real crate's kernel handler: in debug builds a debug break first (`wdk::dbg_break`),
//! then `KeBugCheckEx` with the code 0x52504E43 (the ASCII tag "RPNC", Rust panic) and the panic
//! location as parameters (address and length of the file name, line, column). The real crate
//! declares `KeBugCheckEx` itself (wdm.h: `DECLSPEC_NORETURN VOID KeBugCheckEx(ULONG BugCheckCode,
//! ULONG_PTR BugCheckParameter1, ... ULONG_PTR BugCheckParameter4)`), and so does this one.
#![no_std]

#[cfg(not(test))]
mod kernel_panic_handler {
    use core::panic::PanicInfo;

    extern "system" {
        fn KeBugCheckEx(
            BugCheckCode: u32,
            BugCheckParameter1: usize,
            BugCheckParameter2: usize,
            BugCheckParameter3: usize,
            BugCheckParameter4: usize,
        ) -> !;
    }

    /// "RPNC" read as a big-endian number, as the real crate defines it.
    const RUST_PANIC_BUGCHECK_CODE: u32 = u32::from_be_bytes(*b"RPNC");

    #[cold]
    #[panic_handler]
    fn panic(info: &PanicInfo) -> ! {
        #[cfg(debug_assertions)]
        wdk::dbg_break();
        let (file, file_len, line, column) = info.location().map_or((0, 0, 0, 0), |location| {
            (
                location.file().as_ptr() as usize,
                location.file().len(),
                location.line() as usize,
                location.column() as usize,
            )
        });
        // SAFETY: KeBugCheckEx has no preconditions on its arguments and may be called at any IRQL.
        unsafe { KeBugCheckEx(RUST_PANIC_BUGCHECK_CODE, file, file_len, line, column) }
    }
}
