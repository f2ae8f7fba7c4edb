//! Ring geometry: capacity, sizes, slot sizes and the offset arithmetic both sides share.
//!
//! All functions are total: they return a value or an error for every input, with no panics
//! and no overflowing arithmetic.

use crate::consts::{
    MAX_HEADROOM, MAX_IP_PACKET_SIZE, MAX_RING_CAPACITY, MAX_TAILROOM, MIN_RING_CAPACITY, V1_ALIGNMENT,
    V1_MAX_SLOT_SIZE, V1_PACKET_HEADER_SIZE, V1_RING_HEADER_SIZE, V1_TRAILING_SIZE, V2_ALIGNMENT,
    V2_PACKET_HEADER_SIZE, V2_RING_HEADER_SIZE,
};

/// Ring protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RingVersion {
    /// Wintun-compatible rings: 4-byte `size` headers, no room.
    V1,
    /// Rings with head/tail room and explicit slot sizes.
    V2,
}

impl RingVersion {
    /// Alignment of this version's slots, offsets and ring start address: v1: 4, v2: 8 (the one
    /// alignment rule, `docs/ring-protocol.md` section 5.4).
    #[inline]
    pub const fn alignment(self) -> u32 {
        match self {
            Self::V1 => V1_ALIGNMENT,
            Self::V2 => V2_ALIGNMENT,
        }
    }

    /// Size of the ring header; the data area starts at this offset.
    pub const fn ring_header_size(self) -> u32 {
        match self {
            Self::V1 => V1_RING_HEADER_SIZE,
            Self::V2 => V2_RING_HEADER_SIZE,
        }
    }

    /// Size of a packet header.
    #[inline]
    pub const fn packet_header_size(self) -> u32 {
        match self {
            Self::V1 => V1_PACKET_HEADER_SIZE,
            Self::V2 => V2_PACKET_HEADER_SIZE,
        }
    }
}

/// Head and tail room around each packet's data (v2 only; zero for v1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Room {
    /// Bytes between the packet header and the IP packet.
    pub headroom: u16,
    /// Bytes after the IP packet (at least; alignment may add up to 7 more).
    pub tailroom: u16,
}

impl Room {
    /// No room.
    pub const NONE: Self = Self { headroom: 0, tailroom: 0 };

    /// Room of `headroom` and `tailroom` bytes.
    pub const fn new(headroom: u16, tailroom: u16) -> Self {
        Self { headroom, tailroom }
    }

    /// Whether this room fits in `limit` on both sides.
    pub const fn fits_in(self, limit: Room) -> bool {
        self.headroom <= limit.headroom && self.tailroom <= limit.tailroom
    }
}

/// Why a capacity, ring size or room was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryError {
    /// Capacity is not a power of two.
    CapacityNotPowerOfTwo(u32),
    /// Capacity is outside `MIN_RING_CAPACITY..=MAX_RING_CAPACITY`.
    CapacityOutOfRange(u32),
    /// Ring size does not correspond to any valid capacity for this version and room.
    RingSizeMismatch(u32),
    /// Head or tail room is above the driver's limit (4096).
    RoomTooLarge(Room),
    /// v1 rings have no room.
    RoomInV1(Room),
}

/// Rounds `value` up to a multiple of `alignment` (a power of two), in u64 so it cannot overflow.
const fn align_up(value: u64, alignment: u64) -> u64 {
    let mask = alignment.wrapping_sub(1);
    (value.wrapping_add(mask)) & !mask
}

/// v1 ring size in bytes for `capacity`: `12 + capacity + 0x10000` (no validation of capacity;
/// saturates instead of overflowing).
pub const fn v1_ring_size(capacity: u32) -> u32 {
    V1_RING_HEADER_SIZE.saturating_add(capacity).saturating_add(V1_TRAILING_SIZE)
}

/// Largest v2 slot for a ring with this room: `align8(8 + headroom + 0xFFFF + tailroom)`.
pub const fn v2_max_slot(headroom: u16, tailroom: u16) -> u32 {
    // Four values below 2^32 summed in u64: cannot wrap.
    let raw = (V2_PACKET_HEADER_SIZE as u64)
        .wrapping_add(headroom as u64)
        .wrapping_add(MAX_IP_PACKET_SIZE as u64)
        .wrapping_add(tailroom as u64);
    // At most align8(8 + 0xFFFF + 2 * 0xFFFF), well below u32::MAX.
    align_up(raw, V2_ALIGNMENT as u64) as u32
}

/// v2 ring size in bytes: `128 + capacity + max_slot - 8` (saturates instead of overflowing).
pub const fn v2_ring_size(capacity: u32, headroom: u16, tailroom: u16) -> u32 {
    V2_RING_HEADER_SIZE
        .saturating_add(capacity)
        .saturating_add(v2_max_slot(headroom, tailroom).saturating_sub(V2_ALIGNMENT))
}

/// Size of a v2 slot holding `data_length` bytes with this head and tail room:
/// `align8(8 + headroom + data_length + tailroom)`. `None` if `data_length > 0xFFFF`.
#[inline]
pub const fn v2_slot_size(data_length: u32, headroom: u16, tailroom: u16) -> Option<u32> {
    if data_length > MAX_IP_PACKET_SIZE {
        return None;
    }
    // Four values below 2^32 summed in u64: cannot wrap.
    let raw = (V2_PACKET_HEADER_SIZE as u64)
        .wrapping_add(headroom as u64)
        .wrapping_add(data_length as u64)
        .wrapping_add(tailroom as u64);
    Some(align_up(raw, V2_ALIGNMENT as u64) as u32)
}

/// Size of a v1 slot holding `size` bytes: `align4(4 + size)`. `None` if `size > 0xFFFF`.
#[inline]
pub const fn v1_slot_size(size: u32) -> Option<u32> {
    if size > MAX_IP_PACKET_SIZE {
        return None;
    }
    Some(align_up((V1_PACKET_HEADER_SIZE as u64).wrapping_add(size as u64), V1_ALIGNMENT as u64) as u32)
}

/// Checks a capacity: power of two within `MIN_RING_CAPACITY..=MAX_RING_CAPACITY`.
pub const fn check_capacity(capacity: u32) -> Result<(), GeometryError> {
    if capacity < MIN_RING_CAPACITY || capacity > MAX_RING_CAPACITY {
        return Err(GeometryError::CapacityOutOfRange(capacity));
    }
    if !capacity.is_power_of_two() {
        return Err(GeometryError::CapacityNotPowerOfTwo(capacity));
    }
    Ok(())
}

/// The validated shape of one ring: version, capacity and room. Every `RingGeometry` that exists
/// has a power-of-two capacity in range and room within limits, so its methods cannot fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingGeometry {
    version: RingVersion,
    capacity: u32,
    room: Room,
}

impl RingGeometry {
    /// A geometry from a capacity; fails on a bad capacity or room.
    pub const fn new(version: RingVersion, capacity: u32, room: Room) -> Result<Self, GeometryError> {
        if let Err(e) = check_capacity(capacity) {
            return Err(e);
        }
        match version {
            RingVersion::V1 => {
                if room.headroom != 0 || room.tailroom != 0 {
                    return Err(GeometryError::RoomInV1(room));
                }
            }
            RingVersion::V2 => {
                if room.headroom > MAX_HEADROOM || room.tailroom > MAX_TAILROOM {
                    return Err(GeometryError::RoomTooLarge(room));
                }
            }
        }
        Ok(Self { version, capacity, room })
    }

    /// A v1 geometry from a capacity.
    pub const fn v1(capacity: u32) -> Result<Self, GeometryError> {
        Self::new(RingVersion::V1, capacity, Room::NONE)
    }

    /// A v2 geometry from a capacity and room.
    pub const fn v2(capacity: u32, room: Room) -> Result<Self, GeometryError> {
        Self::new(RingVersion::V2, capacity, room)
    }

    /// The geometry whose [`ring_size`](Self::ring_size) is exactly `ring_size`, as the driver
    /// derives it from a registration; anything else is refused.
    pub const fn from_ring_size(version: RingVersion, ring_size: u32, room: Room) -> Result<Self, GeometryError> {
        let overhead = match version {
            RingVersion::V1 => V1_RING_HEADER_SIZE.wrapping_add(V1_TRAILING_SIZE),
            // max_slot >= 0x10008 and < 0x30010: neither step can wrap.
            RingVersion::V2 => {
                V2_RING_HEADER_SIZE.wrapping_add(v2_max_slot(room.headroom, room.tailroom)).wrapping_sub(V2_ALIGNMENT)
            }
        };
        let capacity = match ring_size.checked_sub(overhead) {
            Some(c) => c,
            None => return Err(GeometryError::RingSizeMismatch(ring_size)),
        };
        match Self::new(version, capacity, room) {
            Ok(g) => Ok(g),
            Err(GeometryError::CapacityNotPowerOfTwo(_)) | Err(GeometryError::CapacityOutOfRange(_)) => {
                Err(GeometryError::RingSizeMismatch(ring_size))
            }
            Err(e) => Err(e),
        }
    }

    /// Protocol version.
    #[inline]
    pub const fn version(&self) -> RingVersion {
        self.version
    }

    /// Data-area capacity in bytes (power of two).
    #[inline]
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The ring's head and tail room (zero for v1).
    #[inline]
    pub const fn room(&self) -> Room {
        self.room
    }

    /// Slot alignment.
    #[inline]
    pub const fn alignment(&self) -> u32 {
        self.version.alignment()
    }

    /// Packet header size.
    #[inline]
    pub const fn packet_header_size(&self) -> u32 {
        self.version.packet_header_size()
    }

    /// Offset of the data area from the start of the ring.
    #[inline]
    pub const fn data_start(&self) -> u32 {
        self.version.ring_header_size()
    }

    /// Largest slot this ring can hold.
    #[inline]
    pub const fn max_slot(&self) -> u32 {
        match self.version {
            RingVersion::V1 => V1_MAX_SLOT_SIZE,
            RingVersion::V2 => v2_max_slot(self.room.headroom, self.room.tailroom),
        }
    }

    /// Bytes after the data area's capacity so that no slot wraps: `max_slot - alignment`.
    pub const fn trailing_size(&self) -> u32 {
        // max_slot >= 0x10004 > alignment.
        self.max_slot().wrapping_sub(self.alignment())
    }

    /// Bytes of data area including trailing room.
    #[inline]
    pub const fn data_area_size(&self) -> u32 {
        // capacity <= 0x400_0000 and trailing < 0x30000: no overflow.
        self.capacity.wrapping_add(self.trailing_size())
    }

    /// Total ring size: header + capacity + trailing room.
    pub const fn ring_size(&self) -> u32 {
        // <= 128 + 0x400_0000 + 0x30000: no overflow.
        self.data_start().wrapping_add(self.data_area_size())
    }

    /// `offset` reduced modulo the capacity.
    #[inline]
    pub const fn wrap(&self, offset: u32) -> u32 {
        // capacity >= MIN_RING_CAPACITY > 0.
        offset & self.capacity.wrapping_sub(1)
    }

    /// Whether `offset` is a valid head or tail: below capacity and aligned.
    #[inline]
    pub const fn is_valid_offset(&self, offset: u32) -> bool {
        offset < self.capacity && offset & self.alignment().wrapping_sub(1) == 0
    }

    /// Bytes a producer may still reserve: `wrap(head - tail - alignment)`.
    #[inline]
    pub const fn free_space(&self, head: u32, tail: u32) -> u32 {
        self.wrap(head.wrapping_sub(tail).wrapping_sub(self.alignment()))
    }

    /// Bytes published and not yet consumed: `wrap(tail - head)`.
    #[inline]
    pub const fn content(&self, head: u32, tail: u32) -> u32 {
        self.wrap(tail.wrapping_sub(head))
    }

    /// `wrap(offset + len)` without overflow for any inputs.
    #[inline]
    pub const fn advance(&self, offset: u32, len: u32) -> u32 {
        self.wrap(offset.wrapping_add(len))
    }

    /// Slot size for a packet of `data_length` bytes with `room` around it in this ring, or
    /// `None` if the length is above 0xFFFF or the room above the ring's (v1: any room).
    #[inline]
    pub const fn slot_size(&self, data_length: u32, room: Room) -> Option<u32> {
        if !room.fits_in(self.room) {
            return None;
        }
        match self.version {
            RingVersion::V1 => v1_slot_size(data_length),
            RingVersion::V2 => v2_slot_size(data_length, room.headroom, room.tailroom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wintun_v1_sizes() {
        assert_eq!(v1_ring_size(0x40_0000), 0x41_000C);
        let g = RingGeometry::v1(0x40_0000).unwrap();
        assert_eq!(g.ring_size(), 0x41_000C);
        assert_eq!(g.max_slot(), 0x10004);
        assert_eq!(g.trailing_size(), 0x10000);
        assert_eq!(g.data_start(), 12);
        assert_eq!(RingGeometry::from_ring_size(RingVersion::V1, 0x41_000C, Room::NONE), Ok(g));
        assert_eq!(v1_slot_size(0), Some(4));
        assert_eq!(v1_slot_size(1), Some(8));
        assert_eq!(v1_slot_size(0xFFFF), Some(0x10004));
        assert_eq!(v1_slot_size(0x10000), None);
    }

    #[test]
    fn v2_sizes() {
        assert_eq!(v2_max_slot(0, 0), 0x10008);
        assert_eq!(v2_max_slot(32, 16), 0x10038);
        assert_eq!(v2_max_slot(4096, 4096), 0x12008);
        assert_eq!(v2_ring_size(0x40_0000, 32, 16), 128 + 0x40_0000 + 0x10030);
        let g = RingGeometry::v2(0x20000, Room::new(32, 16)).unwrap();
        assert_eq!(g.ring_size(), v2_ring_size(0x20000, 32, 16));
        assert_eq!(RingGeometry::from_ring_size(RingVersion::V2, g.ring_size(), Room::new(32, 16)), Ok(g));
        assert_eq!(
            RingGeometry::from_ring_size(RingVersion::V2, g.ring_size(), Room::new(32, 8)),
            Err(GeometryError::RingSizeMismatch(g.ring_size()))
        );
        assert_eq!(v2_slot_size(1, 0, 0), Some(16));
        assert_eq!(v2_slot_size(1500, 13, 16), Some(1544));
        assert_eq!(v2_slot_size(0x10000, 0, 0), None);
    }

    #[test]
    fn capacity_checks() {
        assert_eq!(check_capacity(0x20000), Ok(()));
        assert_eq!(check_capacity(0x400_0000), Ok(()));
        assert_eq!(check_capacity(0x10000), Err(GeometryError::CapacityOutOfRange(0x10000)));
        assert_eq!(check_capacity(0x800_0000), Err(GeometryError::CapacityOutOfRange(0x800_0000)));
        assert_eq!(check_capacity(0x30000), Err(GeometryError::CapacityNotPowerOfTwo(0x30000)));
        assert_eq!(RingGeometry::v1(0).err(), Some(GeometryError::CapacityOutOfRange(0)));
        assert_eq!(
            RingGeometry::new(RingVersion::V1, 0x20000, Room::new(1, 0)).err(),
            Some(GeometryError::RoomInV1(Room::new(1, 0)))
        );
        assert_eq!(
            RingGeometry::v2(0x20000, Room::new(4097, 0)).err(),
            Some(GeometryError::RoomTooLarge(Room::new(4097, 0)))
        );
        assert!(RingGeometry::v2(0x20000, Room::new(4096, 4096)).is_ok());
    }

    #[test]
    fn ring_size_edges() {
        assert_eq!(
            RingGeometry::from_ring_size(RingVersion::V1, 0, Room::NONE),
            Err(GeometryError::RingSizeMismatch(0))
        );
        assert_eq!(
            RingGeometry::from_ring_size(RingVersion::V1, u32::MAX, Room::NONE),
            Err(GeometryError::RingSizeMismatch(u32::MAX))
        );
        assert_eq!(
            RingGeometry::from_ring_size(RingVersion::V1, 0x41_000D, Room::NONE),
            Err(GeometryError::RingSizeMismatch(0x41_000D))
        );
        assert_eq!(
            RingGeometry::from_ring_size(RingVersion::V2, v2_ring_size(0x20000, 4097, 0), Room::new(4097, 0)),
            Err(GeometryError::RoomTooLarge(Room::new(4097, 0)))
        );
        assert_eq!(v1_ring_size(u32::MAX), u32::MAX);
        assert_eq!(v2_ring_size(u32::MAX, 0, 0), u32::MAX);
    }

    #[test]
    fn arithmetic() {
        let g = RingGeometry::v1(0x20000).unwrap();
        assert_eq!(g.free_space(0, 0), 0x20000 - 4);
        assert_eq!(g.free_space(0, 0x20000 - 4), 0);
        assert_eq!(g.free_space(8, 4), 0);
        assert_eq!(g.free_space(4, 8), 0x20000 - 8);
        assert_eq!(g.content(0, 0), 0);
        assert_eq!(g.content(0x1FFFC, 4), 8);
        assert_eq!(g.advance(0x1FFFC, 8), 4);
        assert_eq!(g.advance(u32::MAX, 1), 0);
        assert!(g.is_valid_offset(0x1FFFC));
        assert!(!g.is_valid_offset(0x20000));
        assert!(!g.is_valid_offset(2));
        assert_eq!(g.slot_size(100, Room::NONE), Some(104));
        assert_eq!(g.slot_size(100, Room::new(1, 0)), None);
        let g2 = RingGeometry::v2(0x20000, Room::new(16, 16)).unwrap();
        assert_eq!(g2.slot_size(100, Room::new(16, 16)), Some(144));
        assert_eq!(g2.slot_size(100, Room::new(17, 16)), None);
        assert_eq!(g2.slot_size(100, Room::new(0, 3)), Some(112));
    }
}
