//! v1 layouts: bit-exact with Wintun's ring ABI.
//!
//! Every struct here has its size and each field offset asserted at compile time.

use core::mem::{offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::consts::{V1_PACKET_HEADER_SIZE, V1_REGISTRATION_SIZE_32, V1_REGISTRATION_SIZE_64, V1_RING_HEADER_SIZE};

/// Header at the start of a v1 ring; the data area follows at offset 12.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RingHeaderV1 {
    /// Consumer's offset into the data area: the next slot it will read.
    pub head: u32,
    /// Producer's offset into the data area: where the next slot will be written.
    pub tail: u32,
    /// Non-zero while the consumer sleeps and wants the tail-moved event (used on the Receive ring).
    pub alertable: i32,
}

/// Header in front of every v1 packet; `size` bytes of IP packet follow, the slot is padded to 4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct PacketHeaderV1 {
    /// IP packet length. Bit 31 is the client's own "still owned" mark, never set when published.
    pub size: u32,
}

/// One ring as a 64-bit process registers it (Wintun: `TUN_REGISTER_RINGS` ring entry).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RingDescV1x64 {
    /// Total ring size in bytes: header + capacity + trailing room.
    pub ring_size: u32,
    /// Padding the C compiler inserts before the pointer; must be ignored by the driver.
    pub pad: u32,
    /// User-mode address of the ring.
    pub ring_ptr: u64,
    /// Handle of the ring's tail-moved event.
    pub tail_moved_event: u64,
}

/// v1 registration input from a 64-bit process: Send ring, then Receive ring. 48 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RegistrationV1x64 {
    /// The Send ring (driver produces, client consumes).
    pub send: RingDescV1x64,
    /// The Receive ring (client produces, driver consumes).
    pub receive: RingDescV1x64,
}

/// One ring as a 32-bit process registers it (pointer and handle are 32 bits).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RingDescV1x86 {
    /// Total ring size in bytes.
    pub ring_size: u32,
    /// User-mode address of the ring.
    pub ring_ptr: u32,
    /// Handle of the ring's tail-moved event.
    pub tail_moved_event: u32,
}

/// v1 registration input from a 32-bit process. 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RegistrationV1x86 {
    /// The Send ring.
    pub send: RingDescV1x86,
    /// The Receive ring.
    pub receive: RingDescV1x86,
}

const _: () = {
    assert!(size_of::<RingHeaderV1>() == V1_RING_HEADER_SIZE as usize);
    assert!(offset_of!(RingHeaderV1, head) == 0);
    assert!(offset_of!(RingHeaderV1, tail) == 4);
    assert!(offset_of!(RingHeaderV1, alertable) == 8);

    assert!(size_of::<PacketHeaderV1>() == V1_PACKET_HEADER_SIZE as usize);
    assert!(offset_of!(PacketHeaderV1, size) == 0);

    assert!(size_of::<RingDescV1x64>() == 24);
    assert!(offset_of!(RingDescV1x64, ring_size) == 0);
    assert!(offset_of!(RingDescV1x64, pad) == 4);
    assert!(offset_of!(RingDescV1x64, ring_ptr) == 8);
    assert!(offset_of!(RingDescV1x64, tail_moved_event) == 16);
    assert!(size_of::<RegistrationV1x64>() == V1_REGISTRATION_SIZE_64);
    assert!(offset_of!(RegistrationV1x64, send) == 0);
    assert!(offset_of!(RegistrationV1x64, receive) == 24);

    assert!(size_of::<RingDescV1x86>() == 12);
    assert!(offset_of!(RingDescV1x86, ring_size) == 0);
    assert!(offset_of!(RingDescV1x86, ring_ptr) == 4);
    assert!(offset_of!(RingDescV1x86, tail_moved_event) == 8);
    assert!(size_of::<RegistrationV1x86>() == V1_REGISTRATION_SIZE_32);
    assert!(offset_of!(RegistrationV1x86, send) == 0);
    assert!(offset_of!(RegistrationV1x86, receive) == 12);
};

/// Byte offset of `head` in a v1 ring.
pub const HEAD_OFFSET: usize = offset_of!(RingHeaderV1, head);
/// Byte offset of `tail` in a v1 ring.
pub const TAIL_OFFSET: usize = offset_of!(RingHeaderV1, tail);
/// Byte offset of `alertable` in a v1 ring.
pub const ALERTABLE_OFFSET: usize = offset_of!(RingHeaderV1, alertable);
