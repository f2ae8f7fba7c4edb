//! Property tests: a modelled producer and consumer on one ring (both versions) never lose,
//! duplicate or corrupt a byte, keep every invariant, and hostile ring images never panic.

use proptest::prelude::*;
use ring_abi::*;
use std::collections::VecDeque;

struct Buffer {
    words: Vec<u64>,
}

impl Buffer {
    fn new(len: usize) -> Self {
        Self { words: vec![0; len.div_ceil(8)] }
    }
    fn ring(&mut self, geometry: RingGeometry) -> Ring {
        let len = self.words.len() * 8;
        // SAFETY: the buffer outlives the ring in every test (both are locals, buffer first).
        let mem = unsafe { SharedRing::new(self.words.as_mut_ptr().cast(), len, geometry.version()) }.unwrap();
        Ring::new(mem, geometry).unwrap()
    }
}

fn pattern(seq: u32, j: u32) -> u8 {
    (seq.wrapping_mul(0x9E37_79B9) >> 24) as u8 ^ (j as u8)
}

#[derive(Clone, Debug)]
enum Op {
    /// Produce a batch of packets with these lengths and per-packet (headroom, tailroom, cut).
    Produce(Vec<(u32, u16, u16, u16)>),
    /// Consume up to n packets.
    Consume(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let len = prop_oneof![8 => 1u32..2000, 1 => 2000u32..=0xFFFF, 1 => Just(0xFFFFu32)];
    prop_oneof![
        prop::collection::vec((len, any::<u16>(), any::<u16>(), any::<u16>()), 1..8).prop_map(Op::Produce),
        (1usize..10).prop_map(Op::Consume),
    ]
}

fn geometry_strategy() -> impl Strategy<Value = RingGeometry> {
    let capacity = prop_oneof![Just(0x20000u32), Just(0x40000u32)];
    prop_oneof![
        capacity.clone().prop_map(|c| RingGeometry::v1(c).unwrap()),
        (capacity, 0u16..=4096, 0u16..=4096).prop_map(|(c, h, t)| RingGeometry::v2(c, Room::new(h, t)).unwrap()),
    ]
}

/// Runs `ops` against a ring whose head and tail start at `start`; returns packets consumed.
fn run_model(geometry: RingGeometry, start_slots: u32, ops: &[Op]) -> Result<u32, TestCaseError> {
    let mut buffer = Buffer::new(geometry.ring_size() as usize);
    let ring = buffer.ring(geometry);
    let align = geometry.alignment();
    let start = geometry.wrap(geometry.capacity().wrapping_sub(start_slots * align));
    ring.store_head(start);
    ring.store_tail(start);
    let (mut producer_tail, mut consumer_head) = (start, start);
    let mut expected: VecDeque<(u32, u32, u32)> = VecDeque::new(); // (seq, len, data_offset)
    let (mut seq, mut consumed) = (0u32, 0u32);
    let room = geometry.room();
    for op in ops {
        match op {
            Op::Produce(batch) => {
                // Per packet: room within the ring's, then an optional cut of the data (v2 only).
                let mut slots = Vec::new();
                for &(len, h, t, cut) in batch {
                    let r = match geometry.version() {
                        RingVersion::V1 => Room::NONE,
                        RingVersion::V2 => Room::new(h % (room.headroom + 1), t % (room.tailroom + 1)),
                    };
                    let slot = geometry.slot_size(len, r).unwrap();
                    prop_assert!(slot <= geometry.max_slot());
                    prop_assert_eq!(slot % align, 0);
                    slots.push((len, r, slot, cut));
                }
                let total: u32 = slots.iter().map(|s| s.2).sum();
                let head_seen = ring.load_head();
                let free = geometry.free_space(head_seen, producer_tail);
                match geometry.plan_reservation(head_seen, producer_tail, total) {
                    Err(ReserveError::Full { needed, free: f }) => {
                        prop_assert_eq!(needed, total);
                        prop_assert_eq!(f, free);
                        prop_assert!(total > free);
                        continue;
                    }
                    Err(ReserveError::BadSize(s)) => {
                        prop_assert!(s >= geometry.capacity());
                        continue;
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("unexpected {e:?}"))),
                    Ok(plan) => {
                        prop_assert!(total <= free);
                        prop_assert_eq!(plan.offset, producer_tail);
                        let mut at = plan.offset;
                        for (len, r, slot, cut) in slots {
                            prop_assert!(at as u64 + slot as u64 <= geometry.data_area_size() as u64);
                            let (data_offset, data_len) = match geometry.version() {
                                RingVersion::V1 => (4, len),
                                RingVersion::V2 => {
                                    // Move the start forward and shrink, as a decrypting client would.
                                    let shift = u32::from(cut) % (len.min(16));
                                    let off = 8 + u32::from(r.headroom) + shift;
                                    (off, len - shift)
                                }
                            };
                            let header = match geometry.version() {
                                RingVersion::V1 => PacketHeader::V1 { size: len },
                                RingVersion::V2 => PacketHeader::V2 {
                                    slot_size: slot,
                                    data_offset: data_offset as u16,
                                    data_length: data_len as u16,
                                },
                            };
                            ring.write_packet_header(at, header).unwrap();
                            let bytes: Vec<u8> = (0..data_len).map(|j| pattern(seq, j)).collect();
                            ring.write_data(at + data_offset, &bytes).unwrap();
                            expected.push_back((seq, data_len, data_offset));
                            seq += 1;
                            at = geometry.advance(at, slot);
                        }
                        prop_assert_eq!(at, plan.next_tail);
                        producer_tail = plan.next_tail;
                        ring.publish_tail(producer_tail);
                    }
                }
            }
            Op::Consume(n) => {
                for _ in 0..*n {
                    let tail = ring.load_tail();
                    match ring.packet_at(consumer_head, tail).map_err(|f| TestCaseError::fail(format!("{f:?}")))? {
                        None => {
                            prop_assert!(expected.is_empty());
                            break;
                        }
                        Some(view) => {
                            let (want_seq, want_len, want_off) =
                                expected.pop_front().ok_or_else(|| TestCaseError::fail("extra packet"))?;
                            prop_assert_eq!(view.data_length, want_len);
                            prop_assert_eq!(view.data_offset, want_off);
                            let mut bytes = vec![0u8; view.data_length as usize];
                            ring.read_data(view.data_start(), &mut bytes).unwrap();
                            prop_assert!(bytes.iter().enumerate().all(|(j, &b)| b == pattern(want_seq, j as u32)));
                            consumer_head = geometry.advance(consumer_head, view.slot_size);
                            ring.store_head(consumer_head);
                            consumed += 1;
                        }
                    }
                }
            }
        }
        // Invariants after every step.
        let head = ring.load_head();
        let tail = ring.load_tail();
        prop_assert!(geometry.is_valid_offset(head) && geometry.is_valid_offset(tail));
        prop_assert_eq!(geometry.free_space(head, tail) + geometry.content(head, tail) + align, geometry.capacity());
    }
    // Drain: everything produced comes out once, in order.
    while let Some(view) = ring.packet_at(consumer_head, ring.load_tail()).unwrap() {
        let (want_seq, want_len, _) = expected.pop_front().ok_or_else(|| TestCaseError::fail("extra packet"))?;
        prop_assert_eq!(view.data_length, want_len);
        let mut bytes = vec![0u8; view.data_length as usize];
        ring.read_data(view.data_start(), &mut bytes).unwrap();
        prop_assert!(bytes.iter().enumerate().all(|(j, &b)| b == pattern(want_seq, j as u32)));
        consumer_head = geometry.advance(consumer_head, view.slot_size);
        consumed += 1;
    }
    prop_assert!(expected.is_empty(), "lost {} packets", expected.len());
    prop_assert_eq!(consumed, seq);
    Ok(consumed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn producer_consumer_never_lose_or_duplicate(
        geometry in geometry_strategy(),
        start_slots in 0u32..=32,
        ops in prop::collection::vec(op_strategy(), 1..40),
    ) {
        run_model(geometry, start_slots, &ops)?;
    }
}

#[test]
fn wrap_at_every_alignment() {
    for geometry in [RingGeometry::v1(0x20000).unwrap(), RingGeometry::v2(0x20000, Room::new(3, 5)).unwrap()] {
        for start_slots in 1..=32 {
            let ops = vec![
                Op::Produce(vec![(1500, 3, 5, 0), (7, 0, 0, 0), (61, 1, 1, 3)]),
                Op::Consume(2),
                Op::Produce(vec![(0xFFFF, 3, 5, 9)]),
                Op::Consume(5),
            ];
            assert_eq!(run_model(geometry, start_slots, &ops).unwrap(), 4, "start {start_slots}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A data area of random bytes with random head and tail never panics the consumer side,
    /// and anything accepted stays inside the ring.
    #[test]
    fn hostile_images_never_escape(
        v2 in any::<bool>(),
        headroom in 0u16..=4096,
        tailroom in 0u16..=4096,
        head in any::<u32>(),
        tail in any::<u32>(),
        words in prop::collection::vec(any::<u32>(), 4),
        at in any::<u32>(),
    ) {
        let geometry = if v2 {
            RingGeometry::v2(0x20000, Room::new(headroom, tailroom)).unwrap()
        } else {
            RingGeometry::v1(0x20000).unwrap()
        };
        let mut buffer = Buffer::new(geometry.ring_size() as usize);
        let ring = buffer.ring(geometry);
        // Plant the random header words where the consumer will look, and elsewhere.
        let slot = geometry.wrap(head) & !(geometry.alignment() - 1);
        for (i, w) in words.iter().enumerate() {
            let _ = ring.write_data(slot + 4 * i as u32, &w.to_le_bytes());
            let _ = ring.write_data(geometry.wrap(at) & !3, &w.to_le_bytes());
        }
        for h in [head, slot] {
            if let Ok(Some(view)) = ring.packet_at(h, tail) {
                prop_assert!(view.slot_offset < geometry.capacity());
                prop_assert!(view.slot_size <= geometry.max_slot());
                prop_assert!(view.slot_offset as u64 + view.slot_size as u64 <= geometry.data_area_size() as u64);
                prop_assert!(view.data_offset + view.data_length <= view.slot_size);
                prop_assert!(view.data_length <= MAX_IP_PACKET_SIZE);
                prop_assert!(view.slot_size <= geometry.content(h, tail));
            }
        }
        let _ = geometry.plan_reservation(head, tail, words[0]);
        let _ = ring.read_packet_header(at);
        let _ = geometry.content(head, tail);
        let _ = geometry.free_space(head, tail);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let _ = geometry.parse_packet(&bytes, head, tail);
    }

    #[test]
    fn geometry_is_total(version in any::<bool>(), size in any::<u32>(), capacity in any::<u32>(), h in any::<u16>(), t in any::<u16>()) {
        let version = if version { RingVersion::V2 } else { RingVersion::V1 };
        let room = Room::new(h, t);
        if let Ok(g) = RingGeometry::from_ring_size(version, size, room) {
            prop_assert_eq!(g.ring_size(), size);
            prop_assert!(g.capacity().is_power_of_two());
        }
        if let Ok(g) = RingGeometry::new(version, capacity, room) {
            prop_assert_eq!(RingGeometry::from_ring_size(version, g.ring_size(), room), Ok(g));
        }
        let _ = v2_ring_size(capacity, h, t);
        let _ = v1_ring_size(capacity);
        let _ = v2_slot_size(capacity, h, t);
    }
}
