//! # ringtun
//!
//! The client library for the ringtun adapter. A [`Session`] registers two rings with the
//! driver — v2 with per-packet head and tail room where the driver supports it, v1
//! (Wintun-compatible) otherwise — and moves packets through them without a system call per
//! packet and without copying:
//!
//! ```no_run
//! # #[cfg(feature = "host")] {
//! use ringtun::{backend::host::HostBackend, Session, SessionConfig};
//! use ringtun::ring_abi::Room;
//! # let driver = ringtun_driver_host();
//! let backend = HostBackend::open_default(&driver);
//! let config = SessionConfig { outgoing_room: Room::new(16, 16), ..SessionConfig::default() };
//! let session = Session::open(backend, config)?;
//! let mut slot = session.allocate(1400, 16, 16)?;
//! slot.frame_mut().fill(0); // decrypt the record straight into the slot
//! slot.set_data(1..1201)?; // the IP packet is what follows a 1-byte type header
//! session.send(slot)?;
//! # fn ringtun_driver_host() -> std::sync::Arc<ringtun::backend::host::HostDriver> { unimplemented!() }
//! # }
//! # Ok::<(), ringtun::Error>(())
//! ```
//!
//! Backends: [`backend::host`] runs the driver's engine in-process; the Windows backend talks to
//! the installed driver.

pub mod backend;
mod error;
mod session;

pub use error::Error;
pub use ring_abi;
pub use session::{FallbackReason, IncomingPacket, OutgoingSlot, Session, SessionConfig, VersionPreference};
