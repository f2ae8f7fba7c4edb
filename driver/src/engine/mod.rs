//! The portable engine: every decision about registrations, rings, packets and sessions.
//!
//! - [`registration`]: IOCTL dispatch, the capability reply, and turning a validated
//!   [`ring_abi::RingConfig`] into a running [`Session`];
//! - [`send`]: the Send ring (stack → client): batch reservation, parallel fill, in-order publish;
//! - [`receive`]: the Receive ring (client → stack): the consumer loop, validation,
//!   classification, zero-copy indication and in-order head release;
//! - [`session`]: the session and adapter lifecycle (close, process exit, pause, restart, halt,
//!   surprise removal), owner checks, link state;
//! - [`offload`]: what offload metadata and stack requests become on either path;
//! - [`stats`]: the counters;
//! - [`oid`]: the answers to NDIS OID requests (sizes, identity, counters, accepted settings).
//!
//! Everything above is reached through [`Adapter`].
//!
//! The engine uses `core` and `alloc` only; it reaches the OS exclusively through
//! [`crate::platform::Platform`].

#![deny(clippy::arithmetic_side_effects)]

pub mod keywords;
pub mod offload;
pub mod oid;
pub mod receive;
pub mod registration;
pub mod send;
pub mod session;
pub mod stats;

pub use receive::ReceivePoll;
pub use registration::RegisterError;
pub use send::{SlotWriter, TransmitBatch, TransmitOffload, TransmitStatus};
pub use session::{Adapter, Owner, Session};
pub use stats::{Stats, StatsSnapshot};

/// The outcome of a device request, as the shell reports it to the caller (each maps to one
/// NTSTATUS in the kernel shell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done.
    Success,
    /// Malformed input (a bad registration).
    InvalidParameter,
    /// An IOCTL code this driver does not know.
    InvalidDeviceRequest,
    /// A session is already registered on this adapter.
    AlreadyInitialized,
    /// The output buffer is too small.
    BufferTooSmall,
    /// A platform resource could not be allocated.
    InsufficientResources,
    /// The adapter is halted or being removed.
    DeviceNotReady,
    /// A registration's event handle does not name an event the caller may use (Wintun answers
    /// this with the status of `ObReferenceObjectByHandle`, `STATUS_INVALID_HANDLE`).
    InvalidHandle,
    /// A registration's ring memory could not be probed and locked for the caller (Wintun:
    /// `STATUS_INVALID_USER_BUFFER`).
    InvalidUserBuffer,
}
