//! The Linux platform: the whole API in one process, over the driver's host platform.
//!
//! An adapter is a host-platform adapter ([`ringtun_driver::host::HostDriver`]: the driver's
//! engine, running in this process) with one of three stack sides, chosen when the adapter is
//! created by the environment variable `RINGTUN_WINTUN_STACK`:
//!
//! - `fake` (the default): the host platform's fake stack; packets the client sends are counted
//!   and dropped, nothing arrives;
//! - `loopback`: every packet the client sends comes back to it unchanged, through the adapter's
//!   Send path (a test and demo network);
//! - `tun`: a Linux TUN interface named like the adapter (see [`adapter`]); packets the kernel
//!   routes into it arrive at the client, packets the client sends go to the kernel. Needs
//!   `CAP_NET_ADMIN`.
//!
//! Adapters live in the process that created them: [`super::PlatformAdapter::open`] finds adapters
//! created by this process only.
//!
//! The Linux build also provides what a Windows client expects of the system around the API
//! ([`win32`]): `GetLastError`/`SetLastError` (the last error is per thread), events
//! (`CreateEventW`, `SetEvent`, `ResetEvent`, `CloseHandle`), waits (`WaitForSingleObject`,
//! `WaitForMultipleObjects`) and module loading (`LoadLibraryExW`, `LoadLibraryW`,
//! `GetProcAddress`, `FreeLibrary` over `dlopen`/`dlsym`).

pub mod adapter;
pub mod handles;
pub mod win32;

use ringtun::backend::host::HostClientEvent;

pub use adapter::Adapter;

use super::{ExportedEvent, PlatformSystem};
use crate::win32::{Handle, Win32Error};

/// The system calls of the Linux build.
pub struct System;

/// The read-wait event in the handle table; the handle is closed when the session ends.
pub struct LinuxExportedEvent(usize);

impl ExportedEvent for LinuxExportedEvent {
    fn handle(&self) -> Handle {
        self.0 as Handle
    }
}

impl Drop for LinuxExportedEvent {
    fn drop(&mut self) {
        handles::close_session_event(self.0);
    }
}

impl PlatformSystem for System {
    type ExportedEvent = LinuxExportedEvent;

    fn running_driver_version() -> Result<u32, Win32Error> {
        adapter::running_driver_version()
    }

    fn delete_driver() -> Result<(), Win32Error> {
        adapter::delete_driver()
    }

    fn set_last_error(code: u32) {
        win32::set_last_error(code);
    }

    fn last_error() -> u32 {
        win32::last_error()
    }

    fn export_event(event: &HostClientEvent) -> Result<LinuxExportedEvent, Win32Error> {
        Ok(LinuxExportedEvent(handles::insert_session_event(event.host_event().clone())))
    }
}
