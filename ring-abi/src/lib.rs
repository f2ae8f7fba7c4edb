//! # ring-abi
//!
//! Every byte shared between the ringtun driver and its clients, defined once:
//!
//! - [`consts`]: sizes, limits, alignment, markers;
//! - [`ioctl`]: `CTL_CODE` and the two IOCTL codes;
//! - [`v1`]: Wintun-compatible layouts (bit-exact);
//! - [`v2`]: layouts with head/tail room, the capability reply and the registration flags;
//! - [`geometry`]: capacity, ring sizes, slot sizes, offset arithmetic;
//! - [`packet`]: validating the packet at a consumer's head, planning a producer's reservation;
//! - [`shared`]: atomic and bounded access to ring memory with the protocol's orderings;
//! - [`registration`]: raw registration bytes to a validated [`registration::RingConfig`];
//! - [`offload`]: the offload extension's per-packet metadata, its validation, segmentation;
//! - [`checksum`]: the Internet checksum the offload code computes.
//!
//! The crate is `no_std`, allocates nothing, and every function is total: any input — random
//! bytes in a registration or a ring included — yields a value or an error, never a panic or an
//! arithmetic overflow. `docs/ring-protocol.md` is the normative description.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::panic,
        clippy::unwrap_used,
        clippy::expect_used
    )
)]

#[cfg(test)]
extern crate std;

#[cfg(not(target_endian = "little"))]
compile_error!("the ring ABI is little-endian (every Windows target is)");

pub mod checksum;
pub mod consts;
pub mod geometry;
pub mod ioctl;
pub mod offload;
pub mod packet;
pub mod registration;
pub mod shared;
pub mod v1;
pub mod v2;

pub use consts::*;
pub use geometry::{
    v1_ring_size, v1_slot_size, v2_max_slot, v2_ring_size, v2_slot_size, GeometryError, RingGeometry, RingVersion, Room,
};
pub use ioctl::{ctl_code, IOCTL_QUERY_CAPABILITIES, IOCTL_REGISTER_RINGS};
pub use offload::{
    ChecksumState, Gso, GsoKind, IpIdWrap, IpVersion, OffloadError, OffloadMeta, OffloadPlan, Transport,
};
pub use packet::{PacketHeader, PacketView, Reservation, ReserveError, RingFault};
pub use registration::{parse_registration, CallerBitness, RegistrationError, RingConfig, RingDesc, RingRole};
pub use shared::{OutOfBounds, Ring, SharedRing, SleepCheck};
pub use v2::{Capabilities, RegistrationFlags};
