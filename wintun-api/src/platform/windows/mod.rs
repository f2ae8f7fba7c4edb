//! The Windows platform.
//!
//! PLACEHOLDER, to be replaced by the Windows adapter management (software device for the INF's
//! hardware ID, waiting for its network interface, Wintun's name-collision handling, LUID,
//! running driver version, driver deletion). Until then it keeps the crate compiling for the
//! Windows targets: the last error and the read-wait event are real, and every adapter and driver
//! call fails with `ERROR_NOT_SUPPORTED`.

use ringtun::backend::windows::WindowsBackend;
use ringtun::backend::ClientEvent;
use windows_sys::Win32::Foundation::{GetLastError, SetLastError};

use super::{BackendEvent, ExportedEvent, PlatformAdapter, PlatformSystem};
use crate::win32::{Guid, Handle, Win32Error, ERROR_NOT_SUPPORTED};

/// An adapter (not yet provided on Windows, see the module documentation).
pub struct Adapter {
    luid: u64,
}

impl PlatformAdapter for Adapter {
    type Backend = WindowsBackend;

    fn create(_name: &[u16], _tunnel_type: &[u16], _requested_guid: Option<Guid>) -> Result<Self, Win32Error> {
        Err(Win32Error(ERROR_NOT_SUPPORTED))
    }

    fn open(_name: &[u16]) -> Result<Self, Win32Error> {
        Err(Win32Error(ERROR_NOT_SUPPORTED))
    }

    fn close(self) {}

    fn luid(&self) -> u64 {
        self.luid
    }

    fn open_backend(&self) -> Result<WindowsBackend, Win32Error> {
        Err(Win32Error(ERROR_NOT_SUPPORTED))
    }
}

/// The read-wait event's handle: the client library's event handle itself (a real Win32 event).
pub struct WindowsExportedEvent(usize);

impl ExportedEvent for WindowsExportedEvent {
    fn handle(&self) -> Handle {
        self.0 as Handle
    }
}

/// The system calls.
pub struct System;

impl PlatformSystem for System {
    type ExportedEvent = WindowsExportedEvent;

    fn running_driver_version() -> Result<u32, Win32Error> {
        Err(Win32Error(ERROR_NOT_SUPPORTED))
    }

    fn delete_driver() -> Result<(), Win32Error> {
        Err(Win32Error(ERROR_NOT_SUPPORTED))
    }

    fn set_last_error(code: u32) {
        // SAFETY: sets the calling thread's last-error value; no pointers.
        unsafe { SetLastError(code) };
    }

    fn last_error() -> u32 {
        // SAFETY: reads the calling thread's last-error value; no pointers.
        unsafe { GetLastError() }
    }

    fn export_event(event: &BackendEvent) -> Result<WindowsExportedEvent, Win32Error> {
        Ok(WindowsExportedEvent(event.handle() as usize))
    }
}
