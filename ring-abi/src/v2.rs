//! v2 layouts: head/tail room per packet, explicit slot size, no false sharing, one
//! registration layout for 32- and 64-bit processes, and the capability reply.

use core::mem::{align_of, offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::consts::{
    CACHE_LINE_SIZE, CAPABILITIES_SIZE, SPACE_WAITING_OFFSET, V2_PACKET_HEADER_SIZE, V2_REGISTRATION_EXT_SIZE,
    V2_REGISTRATION_SIZE, V2_RING_HEADER_SIZE,
};

/// Header at the start of a v2 ring: consumer fields on the first cache line, the producer's
/// `tail` on the second. The data area starts at offset 128.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RingHeaderV2 {
    /// Consumer's offset into the data area (written by the consumer).
    pub head: u32,
    /// Non-zero while the consumer sleeps and wants the tail-moved event (written by the consumer).
    pub alertable: u32,
    /// Reserved, zero.
    pub reserved0: [u8; 56],
    /// Producer's offset into the data area (written by the producer).
    pub tail: u32,
    /// Receive ring with `WRITE_SPACE`: non-zero while the producer (the client) waits for free
    /// space and wants the write-space event (written by the producer). Zero otherwise.
    pub space_waiting: u32,
    /// Reserved, zero.
    pub reserved1: [u8; 56],
}

impl Default for RingHeaderV2 {
    fn default() -> Self {
        Self { head: 0, alertable: 0, reserved0: [0; 56], tail: 0, space_waiting: 0, reserved1: [0; 56] }
    }
}

/// Header in front of every v2 packet. The slot is `slot_size` bytes (multiple of 8) and holds
/// `[header][head room][data_length bytes of IP packet][tail room]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct PacketHeaderV2 {
    /// Whole slot including this header, multiple of 8. Bit 31 is the client's own mark.
    pub slot_size: u32,
    /// From slot start to the IP packet; at least 8. Head room = `data_offset - 8`.
    pub data_offset: u16,
    /// IP packet length.
    pub data_length: u16,
}

/// One ring of a v2 registration. Pointers and handles are widened to 64 bits for every caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RingDescV2 {
    /// Total ring size in bytes, from [`crate::geometry::RingGeometry::ring_size`].
    pub ring_size: u32,
    /// Send ring: exact head room of every packet. Receive ring: the most a packet may use.
    pub headroom: u16,
    /// Send ring: least tail room of every packet. Receive ring: the most a packet may use.
    pub tailroom: u16,
    /// User-mode address of the ring, 8-byte aligned.
    pub ring_ptr: u64,
    /// Handle of the ring's tail-moved event.
    pub tail_moved_event: u64,
}

/// v2 registration input (same IOCTL as v1, told apart by its 56-byte length).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RegistrationV2 {
    /// Must be [`crate::consts::ABI_VERSION_2`].
    pub version: u32,
    /// [`RegistrationFlags`] bits; unknown bits are rejected.
    pub flags: u32,
    /// The Send ring (driver produces, client consumes).
    pub send: RingDescV2,
    /// The Receive ring (client produces, driver consumes).
    pub receive: RingDescV2,
}

/// v2 registration with the write-space extension (flag `WRITE_SPACE`; told apart by its
/// 64-byte length): the v2 layout, then the handle of the event the driver sets when it frees
/// Receive-ring space while the client waits for it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct RegistrationV2Ext {
    /// The v2 registration; its flags include `WRITE_SPACE`.
    pub base: RegistrationV2,
    /// Handle of the write-space event (an auto-reset event the client waits on).
    pub write_space_event: u64,
}

/// Output of the capability query IOCTL.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct Capabilities {
    /// Size of this struct as the driver knows it (28); lets it grow later.
    pub size: u32,
    /// Highest registration version the driver accepts.
    pub max_version: u32,
    /// [`RegistrationFlags`] bits the driver supports.
    pub supported_flags: u32,
    /// Largest head room per ring.
    pub max_headroom: u16,
    /// Largest tail room per ring.
    pub max_tailroom: u16,
    /// Smallest ring capacity.
    pub min_capacity: u32,
    /// Largest ring capacity.
    pub max_capacity: u32,
    /// Driver version, `major << 16 | minor << 8 | patch`.
    pub driver_version: u32,
}

/// The registration flag bits, as a typed set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegistrationFlags(u32);

impl RegistrationFlags {
    /// No flags.
    pub const EMPTY: Self = Self(0);
    /// A Receive-ring packet may hold several IP packets back to back; the driver splits them by
    /// their IP length fields.
    pub const RECEIVE_SPLIT: Self = Self(1 << 0);
    /// Offload metadata: every slot of both rings carries an [`crate::offload::OffloadMeta`]
    /// block at the start of its head room (super-packets, checksum states). Needs at least
    /// `OFFLOAD_META_SIZE` bytes of registered head room on both rings; excludes
    /// `RECEIVE_SPLIT`.
    pub const OFFLOAD: Self = Self(1 << 1);
    /// Write-space signal: the registration is the 64-byte [`RegistrationV2Ext`], whose event the
    /// driver sets when it frees Receive-ring space while the client's `space_waiting` is set.
    pub const WRITE_SPACE: Self = Self(1 << 2);
    /// Every flag this crate defines: `RECEIVE_SPLIT | OFFLOAD | WRITE_SPACE`, written as one
    /// literal (`flags_reject_unknown_bits` pins every bit).
    pub const ALL: Self = Self(0b111);

    /// The set for `bits`, or `None` when a bit outside [`Self::ALL`] is set.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        if bits & !Self::ALL.0 == 0 {
            Some(Self(bits))
        } else {
            None
        }
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

const _: () = {
    assert!(size_of::<RingHeaderV2>() == V2_RING_HEADER_SIZE as usize);
    assert!(align_of::<RingHeaderV2>() == CACHE_LINE_SIZE as usize);
    assert!(offset_of!(RingHeaderV2, head) == 0);
    assert!(offset_of!(RingHeaderV2, alertable) == 4);
    assert!(offset_of!(RingHeaderV2, reserved0) == 8);
    assert!(offset_of!(RingHeaderV2, tail) == CACHE_LINE_SIZE as usize);
    assert!(offset_of!(RingHeaderV2, space_waiting) == SPACE_WAITING_OFFSET as usize);
    assert!(offset_of!(RingHeaderV2, reserved1) == 72);

    assert!(size_of::<PacketHeaderV2>() == V2_PACKET_HEADER_SIZE as usize);
    assert!(offset_of!(PacketHeaderV2, slot_size) == 0);
    assert!(offset_of!(PacketHeaderV2, data_offset) == 4);
    assert!(offset_of!(PacketHeaderV2, data_length) == 6);

    assert!(size_of::<RingDescV2>() == 24);
    assert!(offset_of!(RingDescV2, ring_size) == 0);
    assert!(offset_of!(RingDescV2, headroom) == 4);
    assert!(offset_of!(RingDescV2, tailroom) == 6);
    assert!(offset_of!(RingDescV2, ring_ptr) == 8);
    assert!(offset_of!(RingDescV2, tail_moved_event) == 16);

    assert!(size_of::<RegistrationV2>() == V2_REGISTRATION_SIZE);
    assert!(offset_of!(RegistrationV2, version) == 0);
    assert!(offset_of!(RegistrationV2, flags) == 4);
    assert!(offset_of!(RegistrationV2, send) == 8);
    assert!(offset_of!(RegistrationV2, receive) == 32);

    assert!(size_of::<RegistrationV2Ext>() == V2_REGISTRATION_EXT_SIZE);
    assert!(offset_of!(RegistrationV2Ext, base) == 0);
    assert!(offset_of!(RegistrationV2Ext, write_space_event) == V2_REGISTRATION_SIZE);

    assert!(size_of::<Capabilities>() == CAPABILITIES_SIZE);
    assert!(offset_of!(Capabilities, size) == 0);
    assert!(offset_of!(Capabilities, max_version) == 4);
    assert!(offset_of!(Capabilities, supported_flags) == 8);
    assert!(offset_of!(Capabilities, max_headroom) == 12);
    assert!(offset_of!(Capabilities, max_tailroom) == 14);
    assert!(offset_of!(Capabilities, min_capacity) == 16);
    assert!(offset_of!(Capabilities, max_capacity) == 20);
    assert!(offset_of!(Capabilities, driver_version) == 24);
};

/// Byte offset of `head` in a v2 ring.
pub const HEAD_OFFSET: usize = offset_of!(RingHeaderV2, head);
/// Byte offset of `alertable` in a v2 ring.
pub const ALERTABLE_OFFSET: usize = offset_of!(RingHeaderV2, alertable);
/// Byte offset of `tail` in a v2 ring.
pub const TAIL_OFFSET: usize = offset_of!(RingHeaderV2, tail);
/// Byte offset of `space_waiting` in a v2 ring.
pub const SPACE_WAITING_FIELD_OFFSET: usize = offset_of!(RingHeaderV2, space_waiting);
/// Byte offset of `data_offset` and `data_length` (one `u32` word, little-endian) in a v2 packet header.
pub const PACKET_DATA_WORD_OFFSET: usize = offset_of!(PacketHeaderV2, data_offset);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_reject_unknown_bits() {
        assert_eq!(RegistrationFlags::from_bits(0), Some(RegistrationFlags::EMPTY));
        assert_eq!(RegistrationFlags::from_bits(1), Some(RegistrationFlags::RECEIVE_SPLIT));
        assert_eq!(RegistrationFlags::from_bits(2), Some(RegistrationFlags::OFFLOAD));
        assert_eq!(RegistrationFlags::from_bits(4), Some(RegistrationFlags::WRITE_SPACE));
        assert_eq!(RegistrationFlags::from_bits(7).map(RegistrationFlags::bits), Some(7));
        assert_eq!(RegistrationFlags::from_bits(8), None);
        assert_eq!(RegistrationFlags::from_bits(0x8000_0001), None);
        assert!(RegistrationFlags::ALL.contains(RegistrationFlags::RECEIVE_SPLIT));
        assert!(!RegistrationFlags::EMPTY.contains(RegistrationFlags::RECEIVE_SPLIT));
        assert_eq!(RegistrationFlags::EMPTY.union(RegistrationFlags::RECEIVE_SPLIT).bits(), 1);
        // A union with a flag already present keeps it.
        assert_eq!(
            RegistrationFlags::RECEIVE_SPLIT.union(RegistrationFlags::RECEIVE_SPLIT),
            RegistrationFlags::RECEIVE_SPLIT
        );
        assert_eq!(RegistrationFlags::RECEIVE_SPLIT.union(RegistrationFlags::OFFLOAD).bits(), 3);
        assert!(RegistrationFlags::ALL.contains(RegistrationFlags::EMPTY));
        assert_eq!(
            RegistrationFlags::ALL.bits(),
            RegistrationFlags::RECEIVE_SPLIT.bits()
                | RegistrationFlags::OFFLOAD.bits()
                | RegistrationFlags::WRITE_SPACE.bits()
        );
    }

    #[test]
    fn registration_round_trips_through_bytes() {
        let reg = RegistrationV2 {
            version: 2,
            flags: 1,
            send: RingDescV2 {
                ring_size: 0x1234,
                headroom: 16,
                tailroom: 32,
                ring_ptr: 0xAABB_CCDD_0000_1000,
                tail_moved_event: 0x44,
            },
            receive: RingDescV2 { ring_size: 0x5678, headroom: 0, tailroom: 4096, ring_ptr: 8, tail_moved_event: 0x48 },
        };
        let bytes = reg.as_bytes();
        assert_eq!(bytes.len(), 56);
        assert_eq!(&bytes[0..4], &2u32.to_le_bytes());
        assert_eq!(&bytes[8..12], &0x1234u32.to_le_bytes());
        assert_eq!(&bytes[12..14], &16u16.to_le_bytes());
        assert_eq!(&bytes[16..24], &0xAABB_CCDD_0000_1000u64.to_le_bytes());
        assert_eq!(RegistrationV2::read_from_bytes(bytes).ok(), Some(reg));
    }
}
