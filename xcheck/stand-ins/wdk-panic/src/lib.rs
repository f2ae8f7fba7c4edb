//! Stand-in for `wdk-panic` 0.5.0 during the Windows-target check: the panic handler.
#![no_std]

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
