//! Target `ring_parse`: ring-abi's packet validation at an arbitrary head and tail over an
//! arbitrary ring image, v1 and v2, any room, with the RECEIVE_SPLIT walk on or off.
//!
//! Promises: the slice parser (`RingGeometry::parse_packet`) and the shared-memory parser
//! (`Ring::packet_at`) agree on every step; a valid head and tail with `tail == head` is empty;
//! every accepted packet obeys section 6.1 (slot aligned, within `max_slot` and the published
//! content, data inside the slot, the slot inside the data area); walking from head, the slots
//! tile the content exactly up to `tail` or the walk stops at a fault; split packets lie inside
//! their slot's data; after each accepted slot the published tail passes the consumer's tail
//! rule (section 6.1 rule 1) and a tail moved back onto that slot fails it.

use ring_abi::{
    PacketView, Ring, RingFault, RingGeometry, RingVersion, Room, SharedRing, MAX_HEADROOM, MAX_IP_PACKET_SIZE,
    MAX_TAILROOM, MIN_RING_CAPACITY,
};

use super::model::split_all;
use super::Input;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let version = if flags & 1 == 0 { RingVersion::V1 } else { RingVersion::V2 };
    let split = flags & 2 != 0;
    let room = match version {
        RingVersion::V1 => Room::NONE,
        RingVersion::V2 => Room::new(input.u16() % (MAX_HEADROOM + 1), input.u16() % (MAX_TAILROOM + 1)),
    };
    let geometry = RingGeometry::new(version, MIN_RING_CAPACITY, room).expect("room within limits");
    let capacity = geometry.capacity();
    let align_mask = !(geometry.alignment() - 1);
    let (raw_head, raw_tail) = (input.u32(), input.u32());
    // Mostly valid indices (where the interesting content is), sometimes anything.
    let head = if flags & 4 != 0 { raw_head } else { (raw_head % capacity) & align_mask };
    let tail = match (flags >> 3) & 3 {
        0 => raw_tail,
        1 => (raw_tail % capacity) & align_mask,
        _ => geometry.wrap(head.wrapping_add(raw_tail % 0x4000) & align_mask),
    };

    // The ring image: zeroed, the rest of the input laid out from `head` on, wrapping through the
    // trailing bytes to the start of the data area.
    let mut memory = vec![0u64; (geometry.ring_size() as usize).div_ceil(8)];
    let area_start = geometry.data_start() as usize;
    let area_len = geometry.data_area_size() as usize;
    {
        // SAFETY: a u64 buffer viewed as bytes; the length is within the allocation.
        let bytes = unsafe { core::slice::from_raw_parts_mut(memory.as_mut_ptr().cast::<u8>(), memory.len() * 8) };
        let area = &mut bytes[area_start..area_start + area_len];
        let mut at = (head as usize) % area_len;
        for &b in input.rest().iter().take(area_len) {
            area[at] = b;
            at = (at + 1) % area_len;
        }
    }
    // SAFETY: `memory` outlives `ring` (dropped at the end of this function, after it) and is
    // only accessed through the ring from here on.
    let shared = unsafe { SharedRing::new(memory.as_mut_ptr().cast::<u8>(), geometry.ring_size() as usize, version) }
        .expect("aligned buffer");
    let ring = Ring::new(shared, geometry).expect("geometry");
    let mut area = vec![0u8; area_len];
    ring.read_data(0, &mut area).expect("the data area");

    let content = geometry.content(head, tail);
    let mut cursor = head;
    let mut walked = 0u32;
    // Each valid slot is at least one alignment unit: the walk ends within capacity/alignment steps.
    for _ in 0..=capacity / geometry.alignment() {
        let from_slice = geometry.parse_packet(&area, cursor, tail);
        let from_ring = ring.packet_at(cursor, tail);
        assert_eq!(from_slice, from_ring, "the two parsers disagree at {cursor:#x}");
        match from_slice {
            Ok(None) => {
                assert_eq!(cursor, tail, "empty only at the tail");
                assert_eq!(walked, content, "slots do not tile the published content");
                return;
            }
            Ok(Some(view)) => {
                check_view(&geometry, &view, cursor, tail);
                if split {
                    let start = view.data_start() as usize;
                    let data = &area[start..start + view.data_length as usize];
                    let (packets, _dropped) = split_all(data);
                    let mut end = 0;
                    for (offset, len, _) in packets {
                        assert!(offset == end && offset + len <= data.len(), "split packet outside its slot");
                        end = offset + len;
                    }
                }
                walked += view.slot_size;
                assert!(walked <= content);
                cursor = geometry.advance(cursor, view.slot_size);
                // Rule 1 as a consumer that released nothing since `head`: the published tail is
                // still honest after this slot; a tail moved back onto this slot is not.
                assert_eq!(geometry.check_consumer_tail(head, cursor, tail), Ok(()));
                assert_eq!(
                    geometry.check_consumer_tail(head, cursor, view.slot_offset),
                    Err(RingFault::TailBehindCursor { tail: view.slot_offset, cursor })
                );
            }
            Err(fault) => {
                check_fault(&geometry, fault, cursor, tail);
                return;
            }
        }
    }
    panic!("the walk did not end");
}

fn check_view(geometry: &RingGeometry, view: &PacketView, cursor: u32, tail: u32) {
    assert_eq!(view.slot_offset, cursor);
    assert!(geometry.check_head(cursor).is_ok() && geometry.check_tail(tail).is_ok());
    assert_eq!(view.slot_size % geometry.alignment(), 0);
    assert!(view.slot_size >= geometry.packet_header_size() && view.slot_size <= geometry.max_slot());
    assert!(view.slot_size <= geometry.content(cursor, tail), "slot beyond the published content");
    assert!(view.data_offset >= geometry.packet_header_size());
    assert!(view.data_offset + view.data_length <= view.slot_size, "data beyond the slot");
    assert!(view.data_length <= MAX_IP_PACKET_SIZE);
    assert!(
        u64::from(view.slot_offset) + u64::from(view.slot_size) <= u64::from(geometry.data_area_size()),
        "slot beyond the data area"
    );
    if geometry.version() == RingVersion::V1 {
        assert_eq!(view.data_offset, 4);
        assert_eq!(view.slot_size, (4 + view.data_length + 3) & !3);
    }
}

fn check_fault(geometry: &RingGeometry, fault: RingFault, cursor: u32, tail: u32) {
    let head_bad = geometry.check_head(cursor).is_err();
    let tail_bad = geometry.check_tail(tail).is_err();
    match fault {
        RingFault::HeadOutOfRange(_) | RingFault::HeadMisaligned(_) => assert!(head_bad),
        RingFault::TailOutOfRange(_) | RingFault::TailMisaligned(_) => assert!(!head_bad && tail_bad),
        _ => assert!(!head_bad && !tail_bad && geometry.content(cursor, tail) > 0, "{fault:?}"),
    }
}
