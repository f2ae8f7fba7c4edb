//! # ringtun
//!
//! The client library for the ringtun adapter. A [`Session`] registers two rings with the
//! driver — v2 with per-packet head and tail room where the driver supports it, v1
//! (Wintun-compatible) otherwise — and moves packets through them without a system call per
//! packet and without copying:
//!
//! ```
//! # #[cfg(feature = "host")] {
//! use ringtun::backend::host::{HostBackend, HostDriver};
//! use ringtun::ring_abi::Room;
//! use ringtun::{Session, SessionConfig};
//!
//! let driver = HostDriver::new(); // the driver's engine, in this process
//! let config = SessionConfig { outgoing_room: Room::new(16, 16), ..SessionConfig::default() };
//! let session = Session::open(HostBackend::open_default(&driver), config)?;
//!
//! // Decrypt a record (a 1-byte type, then an IPv4 packet) straight into a slot, then point the
//! // data at the packet: no copy.
//! let mut slot = session.allocate(1200, 1, 16)?;
//! let frame = slot.frame_mut();
//! frame[0] = 0x17;
//! frame[1] = 0x45;
//! frame[3..5].copy_from_slice(&1200u16.to_be_bytes());
//! slot.set_data(1..1201)?;
//! session.send(slot)?;
//! # }
//! # Ok::<(), ringtun::Error>(())
//! ```
//!
//! Each per-packet call takes the session's lock once. A client that moves many packets can use
//! the batch calls instead, which take it once per batch and publish the ring's index once:
//! [`Session::receive_many`] and [`Session::release_many`] for incoming packets,
//! [`Session::allocate_many`] and [`Session::send_many`] for outgoing ones. They follow the same
//! ordering rules as the single calls, and mix with them.
//!
//! With [`SessionConfig::offload`] (granted when the driver has it: [`Session::offloads`]) every
//! slot carries offload metadata in the shape of Linux's `virtio_net_hdr`: incoming packets may
//! be super-packets of up to 64 KiB ([`IncomingPacket::offload`], cut with
//! [`IncomingPacket::segment`]) and outgoing ones may be ([`OutgoingSlot::set_offload`]); the
//! driver cuts or coalesces them for the stack. With [`SessionConfig::write_space`] a client
//! whose outgoing ring is full sleeps until the driver frees space
//! ([`Session::wait_for_send_space`], [`Session::allocate_wait`]) instead of polling; refused
//! allocations and waits are counted ([`SessionCounters`]).
//!
//! A caller across an FFI boundary (the Wintun API library) cannot hold borrowed slots: it
//! detaches them with [`OutgoingSlot::into_raw`] and [`IncomingPacket::into_raw`] and hands them
//! back by their slot offset ([`Session::send_raw`], [`Session::release_raw`] and their batch
//! forms), which the session validates against what it handed out; their offload metadata by
//! the same offset ([`Session::incoming_offload_raw`], [`Session::set_outgoing_offload_raw`]).
//!
//! Backends: [`backend::host`] runs the driver's engine in-process; the Windows backend talks to
//! the installed driver.

pub mod backend;
mod error;
mod session;

pub use error::Error;
pub use ring_abi;
pub use session::{
    BatchOutcome, FallbackReason, IncomingPacket, OutgoingSlot, RawSlot, Session, SessionConfig, SessionCounters,
    VersionPreference,
};
