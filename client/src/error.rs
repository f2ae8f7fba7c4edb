//! Errors a session reports.

use core::fmt;

use ring_abi::{GeometryError, RingFault, Room};

use crate::backend::DeviceError;

/// Why a session operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The ring has no room for the packet now; try again after the driver consumed some.
    RingFull,
    /// The driver ended the session (handle closed, adapter halted or removed).
    SessionEnded,
    /// The ring's contents are invalid; the session cannot continue.
    CorruptRing(RingFault),
    /// The packet is empty or larger than 0xFFFF bytes.
    Oversize(usize),
    /// The head or tail room asked for exceeds what the session negotiated (v1: none).
    RoomUnsupported {
        /// What was asked.
        requested: Room,
        /// What the ring allows.
        available: Room,
    },
    /// v1 can shrink only the most recently allocated packet (its slot size is implied).
    ShrinkNotLast,
    /// A data range outside the slot, or a growing "shrink".
    InvalidRange,
    /// A raw slot ([`crate::RawSlot`]) that is not an allocated, unsent outgoing slot (or a
    /// received, unreleased incoming packet) of this session.
    UnknownSlot,
    /// A device request failed.
    Device(DeviceError),
    /// A ring capacity or room the ABI refuses.
    Geometry(GeometryError),
    /// Offload metadata on a session without offloads.
    OffloadsNotNegotiated,
    /// Options that cannot be combined (offloads with `receive_split`).
    IncompatibleOptions,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RingFull => f.write_str("ring full"),
            Self::SessionEnded => f.write_str("session ended"),
            Self::CorruptRing(fault) => write!(f, "corrupt ring: {fault:?}"),
            Self::Oversize(len) => write!(f, "packet length {len} outside 1..=65535"),
            Self::RoomUnsupported { requested, available } => write!(
                f,
                "room {}/{} exceeds the negotiated {}/{}",
                requested.headroom, requested.tailroom, available.headroom, available.tailroom
            ),
            Self::ShrinkNotLast => f.write_str("v1 rings can only shrink the last allocated packet"),
            Self::InvalidRange => f.write_str("range outside the slot"),
            Self::UnknownSlot => f.write_str("not a slot the caller holds in this session"),
            Self::Device(e) => write!(f, "device: {e}"),
            Self::Geometry(e) => write!(f, "ring geometry: {e:?}"),
            Self::OffloadsNotNegotiated => f.write_str("offloads were not negotiated for this session"),
            Self::IncompatibleOptions => f.write_str("offloads and receive_split cannot be combined"),
        }
    }
}

impl std::error::Error for Error {}

impl From<DeviceError> for Error {
    fn from(e: DeviceError) -> Self {
        Self::Device(e)
    }
}

impl From<GeometryError> for Error {
    fn from(e: GeometryError) -> Self {
        Self::Geometry(e)
    }
}
