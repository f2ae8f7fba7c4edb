//! Pure ring operations on packets: validating the packet at a consumer's head, and planning a
//! producer's reservation. Both sides (driver and client) call these; neither re-derives them.
//!
//! Inputs that come from shared memory (`tail` for a consumer, `head` for a producer, and the
//! packet header words) are hostile: each is passed in as a value read once, and every
//! combination of values yields either a view that stays inside the ring or a [`RingFault`].

use crate::consts::{CLIENT_OWNED_BIT, V2_PACKET_HEADER_SIZE};
use crate::geometry::{v1_slot_size, RingGeometry, RingVersion};

/// A packet header's values, read once from shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketHeader {
    /// v1: the IP packet length.
    V1 {
        /// `size` as read.
        size: u32,
    },
    /// v2: slot size, data offset and data length.
    V2 {
        /// `slot_size` as read.
        slot_size: u32,
        /// `data_offset` as read.
        data_offset: u16,
        /// `data_length` as read.
        data_length: u16,
    },
}

/// A validated packet in a ring. Offsets are relative to the start of the data area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketView {
    /// Offset of the slot (the packet header) in the data area.
    pub slot_offset: u32,
    /// Whole slot size including header and alignment padding.
    pub slot_size: u32,
    /// Offset of the IP packet from the slot start.
    pub data_offset: u32,
    /// IP packet length (0 is possible in v2: an empty, cancelled slot).
    pub data_length: u32,
}

impl PacketView {
    /// Offset of the IP packet in the data area. Cannot overflow: the slot lies inside the data
    /// area (`slot_offset < capacity`, `data_offset + data_length <= slot_size <= max_slot`).
    #[inline]
    pub const fn data_start(&self) -> u32 {
        self.slot_offset.wrapping_add(self.data_offset)
    }

    /// Head room the packet has in front of its data.
    #[inline]
    pub const fn headroom(&self) -> u32 {
        self.data_offset.saturating_sub(V2_PACKET_HEADER_SIZE)
    }

    /// Tail room after the data, up to the end of the slot.
    #[inline]
    pub const fn tailroom(&self) -> u32 {
        self.slot_size.saturating_sub(self.data_offset).saturating_sub(self.data_length)
    }
}

/// Why the contents of a ring are invalid. For a consumer, any fault means the ring is corrupt:
/// it stops consuming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFault {
    /// A head beyond the capacity (or the stop marker).
    HeadOutOfRange(u32),
    /// A head not on a slot boundary.
    HeadMisaligned(u32),
    /// A tail beyond the capacity (or the stop marker).
    TailOutOfRange(u32),
    /// A tail not on a slot boundary.
    TailMisaligned(u32),
    /// A tail behind what the consumer already consumed: it lies among the slots the consumer
    /// still holds (from its released head up to its cursor), so the producer moved it
    /// backwards.
    TailBehindCursor {
        /// The tail as read.
        tail: u32,
        /// The consumer's cursor (where it reads next).
        cursor: u32,
    },
    /// Published content is smaller than a packet header.
    ContentTooSmall(u32),
    /// v1: a size above 0xFFFF (bit 31 set included).
    PacketTooLarge(u32),
    /// The slot runs past the published content.
    SlotBeyondContent {
        /// The slot's size.
        slot_size: u32,
        /// Bytes published.
        content: u32,
    },
    /// v2: bit 31 of `slot_size` set in a published slot.
    ClientOwnedBit(u32),
    /// v2: `slot_size` not a multiple of 8.
    SlotMisaligned(u32),
    /// v2: `slot_size` smaller than the header.
    SlotTooSmall(u32),
    /// v2: `slot_size` above the ring's largest slot.
    SlotTooLarge(u32),
    /// v2: `data_offset` points into the header.
    DataOffsetTooSmall(u16),
    /// v2: `data_offset + data_length` runs past the slot.
    DataBeyondSlot {
        /// `data_offset` as read.
        data_offset: u16,
        /// `data_length` as read.
        data_length: u16,
        /// `slot_size` as read.
        slot_size: u32,
    },
}

/// Why a reservation could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReserveError {
    /// Not enough free space; nothing was reserved.
    Full {
        /// Bytes asked for.
        needed: u32,
        /// Bytes free.
        free: u32,
    },
    /// The size is zero, unaligned, or larger than the ring can ever hold.
    BadSize(u32),
    /// The consumer's head (or the producer's own tail) is invalid.
    Corrupt(RingFault),
}

/// A planned reservation: `size` bytes starting at `offset`; the producer's tail becomes
/// `next_tail` once everything in it is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// First byte of the reservation in the data area (the old tail).
    pub offset: u32,
    /// Bytes reserved.
    pub size: u32,
    /// The tail after the reservation, wrapped.
    pub next_tail: u32,
}

impl RingGeometry {
    /// Checks a consumer-side head value.
    #[inline]
    pub const fn check_head(&self, head: u32) -> Result<(), RingFault> {
        if head >= self.capacity() {
            return Err(RingFault::HeadOutOfRange(head));
        }
        if head & self.alignment().wrapping_sub(1) != 0 {
            return Err(RingFault::HeadMisaligned(head));
        }
        Ok(())
    }

    /// Checks a tail value read from shared memory.
    #[inline]
    pub const fn check_tail(&self, tail: u32) -> Result<(), RingFault> {
        if tail >= self.capacity() {
            return Err(RingFault::TailOutOfRange(tail));
        }
        if tail & self.alignment().wrapping_sub(1) != 0 {
            return Err(RingFault::TailMisaligned(tail));
        }
        Ok(())
    }

    /// Consumer side: checks a `tail` read from shared memory against what this consumer has
    /// consumed (`docs/ring-protocol.md` section 6.1, rule 1). `released` is the head it last
    /// released (stored) and `cursor` where it reads next; the slots from `released` up to
    /// `cursor` are consumed and still held. A producer moves `tail` only forward, and never more
    /// than a lap ahead of the head it last read (it never publishes over a slot the consumer
    /// holds), so an honest tail lies from `cursor` up to, not including, `released`:
    /// `content(released, tail) >= content(released, cursor)`. A tail among the held slots is
    /// corrupt: it moved backwards (parsing on from `cursor` would hand out held slots a second
    /// time), or, at `released` itself while something is held, it claims a whole lap. Also
    /// refuses what [`Self::check_tail`] refuses. `released` and `cursor` are the consumer's
    /// own valid offsets.
    #[inline]
    pub const fn check_consumer_tail(&self, released: u32, cursor: u32, tail: u32) -> Result<(), RingFault> {
        if let Err(fault) = self.check_tail(tail) {
            return Err(fault);
        }
        // Both contents are wrapped into 0..capacity, one lap at most: the comparison is exact.
        if self.content(released, tail) < self.content(released, cursor) {
            return Err(RingFault::TailBehindCursor { tail, cursor });
        }
        Ok(())
    }

    /// Validates the packet at `head` given the published `tail` and the header values read once
    /// at `head`. `head` and `tail` must have been checked (see [`Self::packet_at`]).
    #[inline]
    pub const fn validate_packet(
        &self,
        head: u32,
        content: u32,
        header: PacketHeader,
    ) -> Result<PacketView, RingFault> {
        if content < self.packet_header_size() {
            return Err(RingFault::ContentTooSmall(content));
        }
        match header {
            PacketHeader::V1 { size } => {
                let slot_size = match v1_slot_size(size) {
                    Some(s) => s,
                    None => return Err(RingFault::PacketTooLarge(size)),
                };
                if slot_size > content {
                    return Err(RingFault::SlotBeyondContent { slot_size, content });
                }
                Ok(PacketView { slot_offset: head, slot_size, data_offset: 4, data_length: size })
            }
            PacketHeader::V2 { slot_size, data_offset, data_length } => {
                if slot_size & CLIENT_OWNED_BIT != 0 {
                    return Err(RingFault::ClientOwnedBit(slot_size));
                }
                if slot_size & self.alignment().wrapping_sub(1) != 0 {
                    return Err(RingFault::SlotMisaligned(slot_size));
                }
                if slot_size < V2_PACKET_HEADER_SIZE {
                    return Err(RingFault::SlotTooSmall(slot_size));
                }
                if slot_size > self.max_slot() {
                    return Err(RingFault::SlotTooLarge(slot_size));
                }
                if slot_size > content {
                    return Err(RingFault::SlotBeyondContent { slot_size, content });
                }
                if (data_offset as u32) < V2_PACKET_HEADER_SIZE {
                    return Err(RingFault::DataOffsetTooSmall(data_offset));
                }
                // u16 + u16 fits in u32.
                if (data_offset as u32).wrapping_add(data_length as u32) > slot_size {
                    return Err(RingFault::DataBeyondSlot { data_offset, data_length, slot_size });
                }
                Ok(PacketView {
                    slot_offset: head,
                    slot_size,
                    data_offset: data_offset as u32,
                    data_length: data_length as u32,
                })
            }
        }
    }

    /// The packet at `head`, if any: `Ok(None)` when the ring is empty (`tail == head`),
    /// `Ok(Some(view))` for a valid packet, `Err` for a corrupt ring. `read_header` is called at
    /// most once, with the slot offset, and only when a whole header has been published.
    #[inline]
    pub fn packet_at<F>(&self, head: u32, tail: u32, read_header: F) -> Result<Option<PacketView>, RingFault>
    where
        F: FnOnce(u32) -> PacketHeader,
    {
        self.check_head(head)?;
        self.check_tail(tail)?;
        let content = self.content(head, tail);
        if content == 0 {
            return Ok(None);
        }
        if content < self.packet_header_size() {
            return Err(RingFault::ContentTooSmall(content));
        }
        let header = read_header(head);
        if !matches!(
            (self.version(), header),
            (RingVersion::V1, PacketHeader::V1 { .. }) | (RingVersion::V2, PacketHeader::V2 { .. })
        ) {
            // A header of the other version is a programming error on the caller's side; treat
            // it as corrupt content rather than trusting it.
            return Err(RingFault::ContentTooSmall(content));
        }
        self.validate_packet(head, content, header).map(Some)
    }

    /// Reads the packet header at `slot_offset` from a byte image of the data area. Bytes outside
    /// the image read as zero, which later fails validation.
    pub fn header_from_bytes(&self, data_area: &[u8], slot_offset: u32) -> PacketHeader {
        let word = |at: u32| -> u32 {
            let mut b = [0u8; 4];
            let start = at as usize;
            if let Some(src) = start.checked_add(4).and_then(|end| data_area.get(start..end)) {
                b.copy_from_slice(src);
            }
            u32::from_le_bytes(b)
        };
        match self.version() {
            RingVersion::V1 => PacketHeader::V1 { size: word(slot_offset) },
            RingVersion::V2 => {
                let second = word(slot_offset.wrapping_add(4));
                PacketHeader::V2 {
                    slot_size: word(slot_offset),
                    data_offset: (second & 0xFFFF) as u16,
                    data_length: (second >> 16) as u16,
                }
            }
        }
    }

    /// [`Self::packet_at`] over a byte image of the data area (capacity + trailing bytes).
    pub fn parse_packet(&self, data_area: &[u8], head: u32, tail: u32) -> Result<Option<PacketView>, RingFault> {
        self.packet_at(head, tail, |slot| self.header_from_bytes(data_area, slot))
    }

    /// Plans a reservation of `size` bytes at the producer's `tail`, given the consumer's `head`
    /// as read from shared memory. `size` must be a non-zero multiple of the alignment (a sum of
    /// slot sizes). Nothing is reserved unless the whole size fits.
    #[inline]
    pub const fn plan_reservation(&self, head: u32, tail: u32, size: u32) -> Result<Reservation, ReserveError> {
        if let Err(fault) = self.check_head(head) {
            return Err(ReserveError::Corrupt(fault));
        }
        if let Err(fault) = self.check_tail(tail) {
            return Err(ReserveError::Corrupt(fault));
        }
        if size == 0 || size & self.alignment().wrapping_sub(1) != 0 || size >= self.capacity() {
            return Err(ReserveError::BadSize(size));
        }
        let free = self.free_space(head, tail);
        if size > free {
            return Err(ReserveError::Full { needed: size, free });
        }
        Ok(Reservation { offset: tail, size, next_tail: self.advance(tail, size) })
    }

    /// Encodes a v2 packet header as the two little-endian words stored in a slot.
    #[inline]
    pub const fn v2_header_words(slot_size: u32, data_offset: u16, data_length: u16) -> [u32; 2] {
        // The second word holds `data_offset` in its low bytes and `data_length` in its high ones.
        let [offset_low, offset_high] = data_offset.to_le_bytes();
        let [length_low, length_high] = data_length.to_le_bytes();
        [slot_size, u32::from_le_bytes([offset_low, offset_high, length_low, length_high])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Room;

    fn v1() -> RingGeometry {
        RingGeometry::v1(0x20000).unwrap()
    }
    fn v2() -> RingGeometry {
        RingGeometry::v2(0x20000, Room::new(16, 16)).unwrap()
    }
    fn v2h(slot_size: u32, data_offset: u16, data_length: u16) -> PacketHeader {
        PacketHeader::V2 { slot_size, data_offset, data_length }
    }

    #[test]
    fn empty_and_stopped() {
        let g = v1();
        assert_eq!(g.packet_at(8, 8, |_| unreachable!()), Ok(None));
        assert_eq!(g.packet_at(0, u32::MAX, |_| unreachable!()), Err(RingFault::TailOutOfRange(u32::MAX)));
        assert_eq!(g.packet_at(0, 6, |_| unreachable!()), Err(RingFault::TailMisaligned(6)));
        assert_eq!(g.packet_at(0x20000, 0, |_| unreachable!()), Err(RingFault::HeadOutOfRange(0x20000)));
        assert_eq!(g.packet_at(2, 8, |_| unreachable!()), Err(RingFault::HeadMisaligned(2)));
    }

    #[test]
    fn v1_packets() {
        let g = v1();
        assert_eq!(
            g.packet_at(0, 24, |_| PacketHeader::V1 { size: 20 }),
            Ok(Some(PacketView { slot_offset: 0, slot_size: 24, data_offset: 4, data_length: 20 }))
        );
        assert_eq!(
            g.packet_at(0, 24, |_| PacketHeader::V1 { size: 21 }),
            Err(RingFault::SlotBeyondContent { slot_size: 28, content: 24 })
        );
        assert_eq!(g.packet_at(0, 24, |_| PacketHeader::V1 { size: 0x10000 }), Err(RingFault::PacketTooLarge(0x10000)));
        assert_eq!(
            g.packet_at(0, 24, |_| PacketHeader::V1 { size: 0x8000_0014 }),
            Err(RingFault::PacketTooLarge(0x8000_0014))
        );
        // A packet that wraps around the end of the data area: content counts across the wrap.
        assert_eq!(
            g.packet_at(0x1FFF8, 0x10, |_| PacketHeader::V1 { size: 20 }),
            Ok(Some(PacketView { slot_offset: 0x1FFF8, slot_size: 24, data_offset: 4, data_length: 20 }))
        );
        // The wrong header version is never trusted.
        assert!(g.packet_at(0, 24, |_| v2h(24, 8, 16)).is_err());
    }

    /// A slot of just a header (a v2 slot of 8 bytes with no data, a v1 zero-length packet) is
    /// legal, also as the last published slot, where the content is exactly one header.
    #[test]
    fn header_only_slot_as_the_last_published_slot() {
        let g = v2();
        let empty = PacketView { slot_offset: 0x40, slot_size: 8, data_offset: 8, data_length: 0 };
        assert_eq!(g.packet_at(0x40, 0x48, |_| v2h(8, 8, 0)), Ok(Some(empty)));
        assert_eq!(g.validate_packet(0x40, 8, v2h(8, 8, 0)), Ok(empty));
        assert_eq!(g.validate_packet(0x40, 7, v2h(8, 8, 0)), Err(RingFault::ContentTooSmall(7)));
        // At the end of the capacity, wrapping the tail to 0.
        let at_end = PacketView { slot_offset: 0x1FFF8, ..empty };
        assert_eq!(g.packet_at(0x1FFF8, 0, |_| v2h(8, 8, 0)), Ok(Some(at_end)));
        let g = v1();
        let zero = PacketView { slot_offset: 0x40, slot_size: 4, data_offset: 4, data_length: 0 };
        assert_eq!(g.packet_at(0x40, 0x44, |_| PacketHeader::V1 { size: 0 }), Ok(Some(zero)));
        assert_eq!(g.validate_packet(0x40, 4, PacketHeader::V1 { size: 0 }), Ok(zero));
        assert_eq!(g.validate_packet(0x40, 3, PacketHeader::V1 { size: 0 }), Err(RingFault::ContentTooSmall(3)));
        assert_eq!(
            g.packet_at(0x40, 0x44, |_| PacketHeader::V1 { size: 1 }),
            Err(RingFault::SlotBeyondContent { slot_size: 8, content: 4 })
        );
    }

    #[test]
    fn v2_packets() {
        let g = v2();
        let ok = |h| g.packet_at(0, 64, |_| h);
        assert_eq!(
            ok(v2h(64, 24, 20)),
            Ok(Some(PacketView { slot_offset: 0, slot_size: 64, data_offset: 24, data_length: 20 }))
        );
        assert_eq!(ok(v2h(64, 8, 56)).unwrap().unwrap().tailroom(), 0);
        assert_eq!(ok(v2h(64, 24, 20)).unwrap().unwrap().headroom(), 16);
        assert_eq!(ok(v2h(64, 24, 20)).unwrap().unwrap().tailroom(), 20);
        assert_eq!(ok(v2h(64, 24, 0)).unwrap().unwrap().data_length, 0);
        assert_eq!(ok(v2h(64 | CLIENT_OWNED_BIT, 24, 20)), Err(RingFault::ClientOwnedBit(64 | CLIENT_OWNED_BIT)));
        assert_eq!(ok(v2h(60, 24, 20)), Err(RingFault::SlotMisaligned(60)));
        assert_eq!(ok(v2h(0, 24, 20)), Err(RingFault::SlotTooSmall(0)));
        assert_eq!(ok(v2h(72, 24, 20)), Err(RingFault::SlotBeyondContent { slot_size: 72, content: 64 }));
        assert_eq!(ok(v2h(64, 7, 20)), Err(RingFault::DataOffsetTooSmall(7)));
        assert_eq!(
            ok(v2h(64, 24, 41)),
            Err(RingFault::DataBeyondSlot { data_offset: 24, data_length: 41, slot_size: 64 })
        );
        let big = g.max_slot() + 8;
        assert_eq!(g.packet_at(0, 0x18000, |_| v2h(big, 8, 0xFFFF)), Err(RingFault::SlotTooLarge(big)));
        assert_eq!(g.packet_at(0, 4, |_| unreachable!()), Err(RingFault::TailMisaligned(4)));
    }

    #[test]
    fn parse_from_bytes() {
        let g = v2();
        let mut area = [0u8; 64];
        area[0..4].copy_from_slice(&32u32.to_le_bytes());
        area[4..6].copy_from_slice(&9u16.to_le_bytes());
        area[6..8].copy_from_slice(&20u16.to_le_bytes());
        assert_eq!(
            g.parse_packet(&area, 0, 32),
            Ok(Some(PacketView { slot_offset: 0, slot_size: 32, data_offset: 9, data_length: 20 }))
        );
        // A header outside the image reads as zeros and is refused.
        assert_eq!(g.parse_packet(&area, 64, 96), Err(RingFault::SlotTooSmall(0)));
        let words = RingGeometry::v2_header_words(32, 9, 20);
        assert_eq!(words[1].to_le_bytes(), [9, 0, 20, 0]);
    }

    /// Section 6.1 rule 1: a tail among the slots the consumer holds (from its released head up
    /// to its cursor) moved backwards; anywhere from the cursor up to the released head (exclusive)
    /// is honest, across the wrap too.
    #[test]
    fn consumer_tail_rule() {
        let g = v1();
        let behind = |tail, cursor| Err(RingFault::TailBehindCursor { tail, cursor });
        // Nothing held: any valid tail, up to a full ring.
        assert_eq!(g.check_consumer_tail(0x100, 0x100, 0x100), Ok(()));
        assert_eq!(g.check_consumer_tail(0x100, 0x100, 0xFC), Ok(()));
        // 0x100..0x200 held.
        assert_eq!(g.check_consumer_tail(0x100, 0x200, 0x200), Ok(()));
        assert_eq!(g.check_consumer_tail(0x100, 0x200, 0x204), Ok(()));
        assert_eq!(g.check_consumer_tail(0x100, 0x200, 0xFC), Ok(()));
        assert_eq!(g.check_consumer_tail(0x100, 0x200, 0x1FC), behind(0x1FC, 0x200));
        assert_eq!(g.check_consumer_tail(0x100, 0x200, 0x104), behind(0x104, 0x200));
        // The released head itself: a whole lap published over the held slots.
        assert_eq!(g.check_consumer_tail(0x100, 0x200, 0x100), behind(0x100, 0x200));
        // Held across the wrap: 0x1FF00..0x80.
        assert_eq!(g.check_consumer_tail(0x1FF00, 0x80, 0x80), Ok(()));
        assert_eq!(g.check_consumer_tail(0x1FF00, 0x80, 0x1FEFC), Ok(()));
        assert_eq!(g.check_consumer_tail(0x1FF00, 0x80, 0x7C), behind(0x7C, 0x80));
        assert_eq!(g.check_consumer_tail(0x1FF00, 0x80, 0), behind(0, 0x80));
        assert_eq!(g.check_consumer_tail(0x1FF00, 0x80, 0x1FFFC), behind(0x1FFFC, 0x80));
        // A bad tail is refused as `check_tail` refuses it.
        assert_eq!(g.check_consumer_tail(0, 0, 0x20000), Err(RingFault::TailOutOfRange(0x20000)));
        assert_eq!(g.check_consumer_tail(0, 0, u32::MAX), Err(RingFault::TailOutOfRange(u32::MAX)));
        assert_eq!(g.check_consumer_tail(0, 0, 2), Err(RingFault::TailMisaligned(2)));
        let g2 = v2();
        assert_eq!(g2.check_consumer_tail(0, 0x40, 0x3C), Err(RingFault::TailMisaligned(0x3C)));
        assert_eq!(g2.check_consumer_tail(0, 0x40, 0x38), behind(0x38, 0x40));
        assert_eq!(g2.check_consumer_tail(0, 0x40, 0x1FFF8), Ok(()));
    }

    #[test]
    fn reservations() {
        let g = v1();
        assert_eq!(g.plan_reservation(0, 0, 8), Ok(Reservation { offset: 0, size: 8, next_tail: 8 }));
        assert_eq!(g.plan_reservation(0, 0x1FFFC, 8), Err(ReserveError::Full { needed: 8, free: 0 }));
        assert_eq!(g.plan_reservation(8, 0x1FFF8, 12), Ok(Reservation { offset: 0x1FFF8, size: 12, next_tail: 4 }));
        assert_eq!(g.plan_reservation(0, 0, 0), Err(ReserveError::BadSize(0)));
        assert_eq!(g.plan_reservation(0, 0, 6), Err(ReserveError::BadSize(6)));
        assert_eq!(g.plan_reservation(0, 0, 0x20000), Err(ReserveError::BadSize(0x20000)));
        assert_eq!(g.plan_reservation(u32::MAX, 0, 8), Err(ReserveError::Corrupt(RingFault::HeadOutOfRange(u32::MAX))));
        assert_eq!(g.plan_reservation(0, 3, 8), Err(ReserveError::Corrupt(RingFault::TailMisaligned(3))));
        assert_eq!(
            g.plan_reservation(0, 0, 0x20000 - 4),
            Ok(Reservation { offset: 0, size: 0x1FFFC, next_tail: 0x1FFFC })
        );
    }
}
