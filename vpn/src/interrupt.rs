//! Ctrl-C and SIGTERM set a flag that every loop of the tunnel and the measurements checks, so
//! an interrupted run still stops its threads and removes its namespaces.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP (idempotent).
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed `sigaction` is a valid value to fill in; the handler only stores to an
        // atomic, which is async-signal-safe; the pointers are valid for the call.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, core::ptr::null_mut());
        }
    }
}

/// Whether an interrupt arrived.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
