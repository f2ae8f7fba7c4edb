//! Property tests of the one alignment rule for a ring's start address, v1: 4, v2: 8: the
//! registration validator and the shared-memory window accept exactly those addresses, and a
//! ring placed at any accepted address carries packets through several laps intact.

use proptest::prelude::*;
use ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ring_abi::v2::{RegistrationV2, RingDescV2};
use ring_abi::*;
use zerocopy::IntoBytes;

const CAPACITY: u32 = 0x20000;
/// Offsets tried inside a buffer: every 4-byte (v1) or 8-byte (v2) step over two pages, so that
/// the ring start takes every alignment class and cache-line position.
const SPAN: usize = 8192;

fn v1_registration(send: u64, receive: u64) -> Vec<u8> {
    let desc = |ptr| RingDescV1x64 { ring_size: v1_ring_size(CAPACITY), pad: 0, ring_ptr: ptr, tail_moved_event: 4 };
    RegistrationV1x64 { send: desc(send), receive: desc(receive) }.as_bytes().to_vec()
}

fn v2_registration(send: u64, receive: u64) -> Vec<u8> {
    let desc = |ptr| RingDescV2 {
        ring_size: v2_ring_size(CAPACITY, 0, 0),
        headroom: 0,
        tailroom: 0,
        ring_ptr: ptr,
        tail_moved_event: 4,
    };
    RegistrationV2 { version: 2, flags: 0, send: desc(send), receive: desc(receive) }.as_bytes().to_vec()
}

/// Runs `sizes` through a ring of `geometry` placed at byte `offset` of a fresh 8-aligned buffer,
/// as producer and consumer in turn, for at least two laps; checks every byte.
fn traffic_at(geometry: RingGeometry, offset: usize, sizes: &[u32]) -> Result<(), TestCaseError> {
    let len = geometry.ring_size() as usize;
    let mut words = vec![0u64; (offset + len).div_ceil(8)];
    let base = words.as_mut_ptr().cast::<u8>().wrapping_add(offset);
    // SAFETY: `base..base + len` lies inside `words`, which outlives `ring` (both locals, `words`
    // first); only this thread touches it.
    let mem = unsafe { SharedRing::new(base, len, geometry.version()) };
    let mem = mem.ok_or_else(|| TestCaseError::fail(format!("window refused at offset {offset}")))?;
    let ring = Ring::new(mem, geometry).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    ring.reset();
    let (mut head, mut tail) = (0u32, 0u32);
    let mut moved = 0u64;
    let mut seq = 0u32;
    while moved < 2 * u64::from(geometry.capacity()) {
        let size = sizes[seq as usize % sizes.len()];
        let slot = geometry.slot_size(size, Room::new(0, 0)).ok_or_else(|| TestCaseError::fail("slot"))?;
        prop_assert!(slot <= geometry.free_space(head, tail));
        let header = match geometry.version() {
            RingVersion::V1 => PacketHeader::V1 { size },
            RingVersion::V2 => PacketHeader::V2 { slot_size: slot, data_offset: 8, data_length: size as u16 },
        };
        let data_at = tail + geometry.packet_header_size();
        let bytes: Vec<u8> = (0..size).map(|i| (i ^ seq.wrapping_mul(31)) as u8).collect();
        ring.write_packet_header(tail, header).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        ring.write_data(data_at, &bytes).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        tail = geometry.advance(tail, slot);
        ring.store_tail(tail);
        let seen_tail = ring.load_tail();
        let view = ring.packet_at(head, seen_tail).map_err(|f| TestCaseError::fail(format!("{f:?}")))?;
        let view = view.ok_or_else(|| TestCaseError::fail("no packet"))?;
        prop_assert_eq!(view.slot_size, slot);
        let mut out = vec![0u8; size as usize];
        ring.read_data(view.data_start(), &mut out).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&out, &bytes);
        head = geometry.advance(head, slot);
        ring.store_head(head);
        prop_assert_eq!(ring.load_head(), head);
        moved += u64::from(slot);
        seq += 1;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// v1: accepted at every 4-byte offset, refused at every other; traffic at the accepted ones.
    #[test]
    fn v1_ring_at_every_4_byte_offset(
        step in 0usize..SPAN / 4,
        skew in 1u64..4,
        sizes in prop::collection::vec(1u32..=0xFFFF, 1..8),
    ) {
        let offset = step * 4;
        let address = 0x1000_0000u64 + offset as u64;
        let good = v1_registration(address, address + u64::from(v1_ring_size(CAPACITY)));
        prop_assert!(parse_registration(&good, CallerBitness::Bits64).is_ok());
        let bad = v1_registration(address + skew, address);
        prop_assert_eq!(
            parse_registration(&bad, CallerBitness::Bits64).err(),
            Some(RegistrationError::MisalignedRing(RingRole::Send, address + skew))
        );
        let geometry = RingGeometry::v1(CAPACITY).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        traffic_at(geometry, offset, &sizes)?;
    }

    /// v2: accepted at every 8-byte offset, refused at every other (4 mod 8 included).
    #[test]
    fn v2_ring_at_every_8_byte_offset(
        step in 0usize..SPAN / 8,
        skew in 1u64..8,
        sizes in prop::collection::vec(1u32..=0xFFFF, 1..8),
    ) {
        let offset = step * 8;
        let address = 0x1000_0000u64 + offset as u64;
        let good = v2_registration(address, address + u64::from(v2_ring_size(CAPACITY, 0, 0)));
        prop_assert!(parse_registration(&good, CallerBitness::Bits64).is_ok());
        let bad = v2_registration(address, address + skew);
        prop_assert_eq!(
            parse_registration(&bad, CallerBitness::Bits64).err(),
            Some(RegistrationError::MisalignedRing(RingRole::Receive, address + skew))
        );
        let geometry = RingGeometry::v2(CAPACITY, Room::new(0, 0)).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        traffic_at(geometry, offset, &sizes)?;
    }

    /// The shared-memory window applies the same rule as the validator at any address.
    #[test]
    fn window_and_validator_agree(offset in 0usize..64) {
        let mut words = vec![0u64; 16];
        let base = words.as_mut_ptr().cast::<u8>().wrapping_add(offset);
        for version in [RingVersion::V1, RingVersion::V2] {
            // SAFETY: 8 bytes at `base` lie inside `words` (offset < 64, 128 bytes), which
            // outlives the window; nothing is accessed through it.
            let window = unsafe { SharedRing::new(base, 8, version) };
            prop_assert_eq!(window.is_some(), (base as usize).is_multiple_of(version.alignment() as usize));
            prop_assert_eq!(SharedRing::required_alignment(version), version.alignment() as usize);
        }
    }
}
