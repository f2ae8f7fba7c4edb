//! The platform interface: what the exports need from the system they run on.
//!
//! The exports (`lib.rs`) are portable: they translate between the C API and the client
//! library. Everything that depends on the operating system is behind the two traits below,
//! implemented once per platform:
//!
//! - `windows/`: adapters are software devices for the INF's hardware ID, sessions run over the
//!   installed driver through the client library's Windows backend, the last error is the
//!   thread's Win32 last error;
//! - `linux/`: adapters are host-platform adapters (the driver's engine in this process) whose
//!   stack side is a fake stack, a loopback or a TUN interface; the Linux build also exports the
//!   Win32 calls a Wintun client makes around the API (last error, events, waits, module loading).
//!
//! Each platform module exports `Adapter` (implementing [`PlatformAdapter`]) and `System`
//! (implementing [`PlatformSystem`]); this module re-exports them, and the compiler checks that
//! they implement the interface.
//!
//! Errors are Win32 error codes ([`Win32Error`]); the exports pass them to
//! [`PlatformSystem::set_last_error`] unchanged, so a platform chooses the code a Wintun client
//! would see for the same failure.

use ringtun::backend::Backend;

use crate::win32::{Guid, Handle, Win32Error};

/// An adapter handle's platform side: one `WINTUN_ADAPTER_HANDLE`.
///
/// Every method may be called from any thread; `close` is called once, after every other call on
/// the handle has returned.
pub trait PlatformAdapter: Sized + Send + Sync + 'static {
    /// The device backend a session on this adapter runs over (the client library's `Session`
    /// is generic over it).
    type Backend: Backend + 'static;

    /// `WintunCreateAdapter`: creates an adapter named `name` (UTF-16, without the terminating
    /// NUL, 1 to `MAX_ADAPTER_NAME - 1` units, checked by the caller) of tunnel type
    /// `tunnel_type` (same rules), with `requested_guid` as its network GUID if given, and
    /// returns once it is ready for a session. A name already in use is handled as Wintun
    /// handles it: the new adapter takes the name and the holder is renamed.
    fn create(name: &[u16], tunnel_type: &[u16], requested_guid: Option<Guid>) -> Result<Self, Win32Error>;

    /// `WintunOpenAdapter`: opens the existing adapter named `name` (same rules as in
    /// [`PlatformAdapter::create`]), compared without regard to case;
    /// `ERROR_NOT_FOUND` if there is none.
    fn open(name: &[u16]) -> Result<Self, Win32Error>;

    /// `WintunCloseAdapter`: releases the handle; if this handle created the adapter, the adapter
    /// is removed (which ends any session running on it: its rings report the end).
    fn close(self);

    /// `WintunGetAdapterLUID`: the adapter's `NET_LUID` value.
    fn luid(&self) -> u64;

    /// Opens the adapter's device for one session (`WintunStartSession` and the `Ringtun`
    /// session calls): the handle the client library registers the rings through. Closing it
    /// (dropping the backend) ends that session in the driver.
    fn open_backend(&self) -> Result<Self::Backend, Win32Error>;
}

/// The event type of the platform's backend.
pub type BackendEvent = <<Adapter as PlatformAdapter>::Backend as Backend>::Event;

/// An event of a session, handed to the application as a `HANDLE` (the read-wait event). The
/// handle is valid while this value lives; the application must not close it.
pub trait ExportedEvent: Send + Sync {
    /// The `HANDLE` value the application waits on.
    fn handle(&self) -> Handle;
}

/// The system calls the exports need besides adapters.
pub trait PlatformSystem {
    /// A session event exported as a `HANDLE`.
    type ExportedEvent: ExportedEvent;

    /// `WintunGetRunningDriverVersion`: the version of the driver running now, in Wintun's
    /// format (`major << 16 | minor`); `ERROR_FILE_NOT_FOUND` when no driver is loaded.
    fn running_driver_version() -> Result<u32, Win32Error>;

    /// `WintunDeleteDriver`: by default keeps the driver and succeeds; where the administrator
    /// opted in, removes it if no adapter uses it ([`driver_deletion`] decides).
    fn delete_driver() -> Result<(), Win32Error>;

    /// `SetLastError` for the calling thread.
    fn set_last_error(code: u32);

    /// `GetLastError` of the calling thread.
    fn last_error() -> u32;

    /// Makes a session's event (the client library's read-wait event) a `HANDLE` the
    /// application can wait on with the platform's wait functions.
    fn export_event(event: &BackendEvent) -> Result<Self::ExportedEvent, Win32Error>;
}

pub mod driver_deletion;
pub mod names;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
pub use linux::{Adapter, System};

// The Windows platform's portable decisions (names, identifiers, what the system reports) are
// unit-tested on every OS; its Win32 calls are compiled only for Windows.
#[cfg(any(windows, test))]
pub mod windows;
#[cfg(windows)]
pub use windows::{Adapter, System};

/// The platform's types implement the interface.
const _: () = {
    const fn implements<A: PlatformAdapter, S: PlatformSystem>() {}
    implements::<Adapter, System>();
};
