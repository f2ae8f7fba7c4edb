//! The Windows platform: adapters are software devices of the INF's hardware ID `ringtun`,
//! managed as Wintun manages its own, and sessions run over the installed driver through the
//! client library's Windows backend.
//!
//! - **Create** (`WintunCreateAdapter`): the name and tunnel type are checked
//!   ([`crate::platform::names`]); under a
//!   system-wide lock (`namespace`) leftover adapters are removed, the network GUID is the
//!   requested one or a random one ([`ids`]), a driverless stub device suggests it as the
//!   interface's `NetCfgInstanceId`, and the adapter is created with `SwDeviceCreate` under the
//!   root node (instance `SWD\ringtun\{GUID}`, description and friendly name
//!   "`<tunnel type>` Tunnel", the name in a device property of the project's own). The call
//!   returns once the adapter's network interface is present (at most 15 s; otherwise the
//!   device's problem as a Win32 error), with its LUID read from its driver key and its alias set
//!   to the name, moving another interface that holds the alias out of the way
//!   ([`crate::platform::names`]).
//!   The device lives as long as the handle: if the process ends without closing it, the next
//!   create or driver deletion removes it.
//! - **Open** (`WintunOpenAdapter`): the present adapter whose name property equals the name
//!   (ASCII case ignored), else `ERROR_NOT_FOUND`.
//! - **Close** (`WintunCloseAdapter`): an adapter the handle created is removed (the software
//!   device's handle closed, then its installation removed through the network class installer).
//! - **LUID**, **running driver version**, **driver deletion**: [`system`], `driver`.
//!
//! The decisions are in the portable modules ([`codes`], [`ids`], [`system`], and the platforms'
//! shared [`crate::platform::names`] and [`crate::platform::driver_deletion`]), unit tested on
//! every OS; the Win32 calls (`adapter`, `driver`, `namespace`, `pnp`) only call and
//! translate, and are compiled and linted for the Windows targets.

pub mod codes;
pub mod ids;
pub mod system;

#[cfg(windows)]
mod adapter;
#[cfg(windows)]
mod driver;
#[cfg(windows)]
mod namespace;
#[cfg(windows)]
mod pnp;

#[cfg(windows)]
pub use shell::{Adapter, System, WindowsExportedEvent};

#[cfg(windows)]
mod shell {
    use ringtun::backend::windows::WindowsBackend;
    use ringtun::backend::ClientEvent;
    use windows_sys::Win32::Foundation::{GetLastError, SetLastError};

    use super::super::{BackendEvent, ExportedEvent, PlatformAdapter, PlatformSystem};
    use super::{adapter, driver};
    use crate::win32::{Guid, Handle, Win32Error};

    /// An adapter handle (`WINTUN_ADAPTER_HANDLE`).
    pub struct Adapter(adapter::Adapter);

    impl PlatformAdapter for Adapter {
        type Backend = WindowsBackend;

        fn create(name: &[u16], tunnel_type: &[u16], requested_guid: Option<Guid>) -> Result<Self, Win32Error> {
            adapter::Adapter::create(name, tunnel_type, requested_guid).map(Self)
        }

        fn open(name: &[u16]) -> Result<Self, Win32Error> {
            adapter::Adapter::open(name).map(Self)
        }

        fn close(self) {
            self.0.close();
        }

        fn luid(&self) -> u64 {
            self.0.luid()
        }

        fn open_backend(&self) -> Result<WindowsBackend, Win32Error> {
            self.0.open_backend()
        }
    }

    /// The read-wait event's handle: the client library's event handle itself (a real Win32
    /// auto-reset event, owned by the session).
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
            driver::running_driver_version().map_err(Win32Error)
        }

        fn delete_driver() -> Result<(), Win32Error> {
            driver::delete_driver().map_err(Win32Error)
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
}
