//! The client library against the engine on the host platform.

use std::time::{Duration, Instant};

use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::ring_abi::{RingVersion, Room};
use ringtun::{Error, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::TransmitStatus;
use ringtun_driver::host::ReturnMode;

fn ipv4(len: usize, seq: u8) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i as u8) ^ seq).collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

#[test]
fn v2_round_trip_with_room() {
    let driver = HostDriver::new();
    let config = SessionConfig {
        incoming_room: Room::new(24, 16),
        outgoing_room: Room::new(32, 32),
        ..SessionConfig::default()
    };
    let session = Session::open(HostBackend::open_default(&driver), config).unwrap();
    assert_eq!(session.version(), RingVersion::V2);
    assert_eq!(session.fallback_reason(), None);

    // Incoming: the stack sends, the client sees head room exactly 24 and tail room >= 16.
    let pkt = ipv4(200, 1);
    assert_eq!(driver.transmit(&[&pkt]).unwrap(), vec![TransmitStatus::Sent]);
    let mut got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(got.data(), &pkt[..]);
    assert_eq!(got.headroom_mut().len(), 24);
    assert!(got.tailroom_mut().len() >= 16);
    got.release();

    // Outgoing: decrypt-in-place shape: move the start past a 1-byte header and cut the end.
    driver.stack().set_mode(ReturnMode::Immediate);
    let inner = ipv4(100, 2);
    let mut slot = session.allocate(120, 0, 8).unwrap();
    slot.frame_mut()[0] = 0x17;
    slot.frame_mut()[1..101].copy_from_slice(&inner);
    slot.set_data(1..101).unwrap();
    session.send(slot).unwrap();
    assert!(driver.stack().wait_delivered(1, Duration::from_secs(5)));
    let delivered = driver.stack().take_delivered();
    assert_eq!(delivered[0].bytes, inner);
}

#[test]
fn out_of_order_send_publishes_in_order() {
    let driver = HostDriver::new();
    let session = Session::open(HostBackend::open_default(&driver), SessionConfig::default()).unwrap();
    let a = ipv4(60, 1);
    let b = ipv4(70, 2);
    let mut sa = session.allocate(60, 0, 0).unwrap();
    let mut sb = session.allocate(70, 0, 0).unwrap();
    sa.data_mut().copy_from_slice(&a);
    sb.data_mut().copy_from_slice(&b);
    session.send(sb).unwrap();
    assert_eq!(session.outgoing_ring().load_tail(), 0, "b waits for a");
    session.send(sa).unwrap();
    assert!(driver.stack().wait_delivered(2, Duration::from_secs(5)));
    let d = driver.stack().take_delivered();
    assert_eq!(d[0].bytes, a);
    assert_eq!(d[1].bytes, b);
}

#[test]
fn v1_only_and_shrink_rules() {
    let driver = HostDriver::new();
    let config = SessionConfig { version: VersionPreference::V1Only, ..SessionConfig::default() };
    let session = Session::open(HostBackend::open_default(&driver), config).unwrap();
    assert_eq!(session.version(), RingVersion::V1);
    assert!(matches!(session.allocate(100, 4, 0), Err(Error::RoomUnsupported { .. })));
    let mut first = session.allocate(100, 0, 0).unwrap();
    let mut second = session.allocate(100, 0, 0).unwrap();
    assert_eq!(first.shrink(50), Err(Error::ShrinkNotLast));
    second.shrink(40).unwrap();
    first.data_mut().copy_from_slice(&ipv4(100, 3));
    second.data_mut().copy_from_slice(&ipv4(40, 4));
    session.send(first).unwrap();
    session.send(second).unwrap();
    assert!(driver.stack().wait_delivered(2, Duration::from_secs(5)));
    let d = driver.stack().take_delivered();
    assert_eq!(d[1].bytes, ipv4(40, 4));
}

#[test]
fn v1_from_a_32_bit_process() {
    let driver = HostDriver::new();
    let backend = HostBackend::open(&driver, 7, ringtun::ring_abi::CallerBitness::Bits32);
    let session = Session::open(backend, SessionConfig::default()).unwrap();
    // v2 registration is the same 56 bytes for 32-bit callers.
    assert_eq!(session.version(), RingVersion::V2);
    let config = SessionConfig { version: VersionPreference::V1Only, ..SessionConfig::default() };
    drop(session);
    let backend = HostBackend::open(&driver, 7, ringtun::ring_abi::CallerBitness::Bits32);
    let session = Session::open(backend, config).unwrap();
    assert_eq!(session.version(), RingVersion::V1);
    assert!(session.config().send.ring_ptr < (1 << 32));
    let mut slot = session.allocate(40, 0, 0).unwrap();
    slot.data_mut().copy_from_slice(&ipv4(40, 9));
    session.send(slot).unwrap();
    assert!(driver.stack().wait_delivered(1, Duration::from_secs(5)));
}

/// Batch calls given slots or packets of another session hand them to that session: each ring's
/// `head` and `tail` move only over its own slots.
#[test]
fn batch_calls_route_another_sessions_items_to_it() {
    let (driver_a, driver_b) = (HostDriver::new(), HostDriver::new());
    for d in [&driver_a, &driver_b] {
        d.stack().set_mode(ReturnMode::Immediate);
    }
    let a = Session::open(HostBackend::open_default(&driver_a), SessionConfig::default()).unwrap();
    let b = Session::open(HostBackend::open_default(&driver_b), SessionConfig::default()).unwrap();

    // Outgoing: one slot of each session, sent together through `b`.
    let (pa, pb) = (ipv4(300, 1), ipv4(400, 2));
    let mut slots = Vec::new();
    assert_eq!(a.allocate_many(&[pa.len()], 0, 0, &mut slots).unwrap(), 1);
    assert_eq!(b.allocate_many(&[pb.len()], 0, 0, &mut slots).unwrap(), 1);
    slots[0].data_mut().copy_from_slice(&pa);
    slots[1].data_mut().copy_from_slice(&pb);
    b.send_many(&mut slots).unwrap();
    assert!(driver_a.stack().wait_delivered(1, Duration::from_secs(5)));
    assert!(driver_b.stack().wait_delivered(1, Duration::from_secs(5)));
    assert_eq!(driver_a.stack().take_delivered().into_iter().map(|d| d.bytes).collect::<Vec<_>>(), vec![pa]);
    assert_eq!(driver_b.stack().take_delivered().into_iter().map(|d| d.bytes).collect::<Vec<_>>(), vec![pb]);

    // Incoming: one packet of each, released together through `a`.
    let (qa, qb) = (ipv4(120, 3), ipv4(140, 4));
    assert_eq!(driver_a.transmit(&[&qa]).unwrap(), vec![TransmitStatus::Sent]);
    assert_eq!(driver_b.transmit(&[&qb]).unwrap(), vec![TransmitStatus::Sent]);
    let mut packets = Vec::new();
    assert_eq!(a.receive_many(&mut packets, 8).unwrap(), 1);
    assert_eq!(b.receive_many(&mut packets, 8).unwrap(), 1);
    a.release_many(&mut packets);
    for s in [&a, &b] {
        let ring = s.incoming_ring();
        assert_eq!(ring.load_head(), ring.load_tail(), "each ring's head moved over its own packet");
    }
}

/// When the session ends, every thread waiting for incoming packets returns with the end. The
/// driver signals the read-wait event once and an auto-reset event wakes one waiter per signal:
/// each waiter that sees the end passes the signal on, so the others wake too instead of sitting
/// out their timeouts.
#[test]
fn session_end_wakes_every_waiter() {
    for version in [VersionPreference::V1Only, VersionPreference::PreferV2] {
        let driver = HostDriver::new();
        let config = SessionConfig { version, ..SessionConfig::default() };
        let session = Session::open(HostBackend::open_default(&driver), config).unwrap();
        let long = Duration::from_secs(30);
        let started = Instant::now();
        std::thread::scope(|s| {
            let waiters: Vec<_> =
                (0..4).map(|_| s.spawn(|| session.receive_wait(long).map(|p| p.map(|p| p.len())))).collect();
            // Let them reach the event.
            std::thread::sleep(Duration::from_millis(200));
            driver.surprise_remove();
            for waiter in waiters {
                assert_eq!(waiter.join().unwrap(), Err(Error::SessionEnded), "{version:?}");
            }
        });
        assert!(started.elapsed() < long / 2, "{version:?}: waiters sat out their timeouts ({:?})", started.elapsed());
        // Later calls see the end at once too.
        assert_eq!(session.receive().map(|p| p.is_some()), Err(Error::SessionEnded));
    }
}

/// Raw slots: detached, handed back by offset, checked against what the session handed out.
#[test]
fn raw_slots_send_and_release_by_offset() {
    for version in [VersionPreference::V1Only, VersionPreference::PreferV2] {
        let driver = HostDriver::new();
        driver.stack().set_mode(ReturnMode::Immediate);
        let config = SessionConfig { version, ..SessionConfig::default() };
        let session = Session::open(HostBackend::open_default(&driver), config).unwrap();

        // Outgoing: two slots, written through the raw pointers, sent in reverse order.
        let (a, b) = (ipv4(100, 1), ipv4(60, 2));
        let ra = session.allocate(a.len(), 0, 0).unwrap().into_raw();
        let rb = session.allocate_raw(b.len(), 0, 0).unwrap();
        assert_eq!((ra.data_start, ra.data_len), (0, 100));
        // SAFETY: each frame holds the packet's bytes and belongs to this test until sent.
        unsafe {
            core::ptr::copy_nonoverlapping(a.as_ptr(), ra.frame, a.len());
            core::ptr::copy_nonoverlapping(b.as_ptr(), rb.frame, b.len());
        }
        let header = session.outgoing_ring().geometry().packet_header_size();
        assert_eq!(session.outgoing_slot_at(ra.frame, header), Some(ra.slot));
        assert_eq!(session.outgoing_slot_at(core::ptr::null(), header), None);
        assert_eq!(session.send_raw(ra.slot + 4, None), Err(Error::UnknownSlot), "not a slot boundary");
        session.send_raw(rb.slot, None).unwrap();
        assert_eq!(session.send_raw(rb.slot, None), Err(Error::UnknownSlot), "sent twice");
        session.send_raw(ra.slot, None).unwrap();
        assert_eq!(session.send_raw(ra.slot, None), Err(Error::UnknownSlot), "published");
        assert!(driver.stack().wait_delivered(2, Duration::from_secs(5)));
        let got: Vec<Vec<u8>> = driver.stack().take_delivered().into_iter().map(|d| d.bytes).collect();
        assert_eq!(got, vec![a.clone(), b.clone()], "{version:?}: allocation order is send order");

        // Incoming: three packets, released by offset out of order; a second release is refused.
        let packets = [ipv4(80, 3), ipv4(90, 4), ipv4(70, 5)];
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        driver.transmit(&refs).unwrap();
        let mut raws = Vec::new();
        while raws.len() < 3 {
            // Both ways of getting a raw packet: received detached, or detached after.
            if raws.len() == 1 {
                if let Some(raw) = session.receive_raw().unwrap() {
                    raws.push(raw);
                }
                continue;
            }
            match session.receive_wait(Duration::from_secs(5)).unwrap() {
                Some(p) => raws.push(p.into_raw()),
                None => panic!("{version:?}: packet missing"),
            }
        }
        for (raw, want) in raws.iter().zip(&packets) {
            // SAFETY: the packet's bytes, held by this test until released.
            let data =
                unsafe { core::slice::from_raw_parts(raw.frame.add(raw.data_start as usize), raw.data_len as usize) };
            assert_eq!(data, &want[..]);
        }
        session.release_raw(raws[1].slot).unwrap();
        assert_eq!(session.release_raw(raws[1].slot), Err(Error::UnknownSlot), "released twice");
        let ring = session.incoming_ring();
        assert_ne!(ring.load_head(), ring.load_tail(), "the first packet still holds the head");
        session.release_raw(raws[0].slot).unwrap();
        session.release_raw(raws[2].slot).unwrap();
        assert_eq!(ring.load_head(), ring.load_tail());
        assert_eq!(session.release_raw(raws[0].slot), Err(Error::UnknownSlot), "behind the head");

        let c = session.counters();
        assert_eq!((c.sent_packets, c.sent_bytes), (2, 160));
        assert_eq!((c.received_packets, c.received_bytes), (3, 240));
        assert_eq!(c.copied_bytes, 0);
    }
}

/// Pointers handed back (Wintun's `WintunReleaseReceivePacket` and `WintunSendPacket`): each is
/// mapped to its slot and checked before the ring is touched. A pointer that is not a packet the
/// caller holds is refused and leaves the ring's head, tail and headers as they were.
#[test]
fn raw_pointers_are_checked_before_use() {
    for version in [VersionPreference::V1Only, VersionPreference::PreferV2] {
        let driver = HostDriver::new();
        driver.stack().set_mode(ReturnMode::Immediate);
        let config = SessionConfig { version, ..SessionConfig::default() };
        let session = Session::open(HostBackend::open_default(&driver), config).unwrap();
        let h = session.outgoing_ring().geometry().packet_header_size();
        let alignment = session.outgoing_ring().geometry().alignment() as usize;

        // Outgoing: three packets allocated, written through the pointers.
        let packets = [ipv4(100, 1), ipv4(60, 2), ipv4(40, 3)];
        let ptrs: Vec<*mut u8> = packets.iter().map(|p| session.allocate_data_raw(p.len()).unwrap()).collect();
        for (ptr, p) in ptrs.iter().zip(&packets) {
            // SAFETY: each allocation holds its packet's bytes and belongs to this test until sent.
            unsafe { core::ptr::copy_nonoverlapping(p.as_ptr(), *ptr, p.len()) };
        }
        let ring = session.outgoing_ring();
        let tail = ring.load_tail();
        let refused = |ptr: *const u8, why: &str| {
            assert_eq!(session.send_raw_at(ptr, h), Err(Error::UnknownSlot), "{version:?}: {why}");
            assert_eq!(ring.load_tail(), tail, "{version:?}: {why}: nothing published");
        };
        refused(core::ptr::null(), "null");
        refused(ptrs[1].wrapping_add(1), "inside a packet");
        refused(ptrs[1].wrapping_add(alignment), "inside a packet, on a slot boundary");
        refused(ptrs[0].wrapping_sub(alignment), "before the first allocated slot");
        // Past the last allocation: a slot boundary in free space.
        refused(ptrs[2].wrapping_add(64), "not allocated");
        // A header scribbled over by the caller: the size no longer fits what was reserved.
        let slot1 = session.outgoing_slot_at(ptrs[1], h).unwrap();
        let word = ring.read_slot_word(slot1);
        ring.write_slot_word(slot1, word | 0x00FF_0000).unwrap();
        refused(ptrs[1], "its header scribbled");
        ring.write_slot_word(slot1, word).unwrap();
        // Sent out of order: held back until the first is sent, then all are published.
        session.send_raw_at(ptrs[1], h).unwrap();
        refused(ptrs[1], "sent twice");
        session.send_raw_at(ptrs[2], h).unwrap();
        assert_eq!(ring.load_tail(), tail, "{version:?}: the first still holds the tail");
        session.send_raw_at(ptrs[0], h).unwrap();
        assert_ne!(ring.load_tail(), tail);
        assert_eq!(session.send_raw_at(ptrs[0], h), Err(Error::UnknownSlot), "{version:?}: published");
        assert!(driver.stack().wait_delivered(3, Duration::from_secs(5)));
        let got: Vec<Vec<u8>> = driver.stack().take_delivered().into_iter().map(|d| d.bytes).collect();
        assert_eq!(got, packets.to_vec(), "{version:?}: allocation order is send order");

        // Incoming: three packets; two received, released by pointer out of order.
        let packets = [ipv4(80, 4), ipv4(90, 5), ipv4(70, 6)];
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        driver.transmit(&refs).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < 2 && Instant::now() < deadline {
            if let Some(packet) = session.receive_data_raw().unwrap() {
                got.push(packet);
            }
        }
        for ((ptr, len), want) in got.iter().zip(&packets) {
            // SAFETY: the packet's bytes, held by this test until released.
            assert_eq!(unsafe { core::slice::from_raw_parts(*ptr, *len as usize) }, &want[..]);
        }
        let in_slot = session.incoming_ring().geometry().packet_header_size();
        let ring = session.incoming_ring();
        let head = ring.load_head();
        let refused = |ptr: *const u8, why: &str| {
            assert_eq!(session.release_raw_at(ptr, in_slot), Err(Error::UnknownSlot), "{version:?}: {why}");
            assert_eq!(ring.load_head(), head, "{version:?}: {why}: the head did not move");
        };
        let (first, second) = (got[0].0, got[1].0);
        refused(core::ptr::null(), "null");
        refused(second.wrapping_add(1), "inside a packet");
        refused(second.wrapping_add(alignment), "inside a packet, on a slot boundary");
        // The third packet is in the ring but not received: its slot follows the second's.
        let third = second.wrapping_add((h + 90).next_multiple_of(alignment as u32) as usize);
        refused(third, "not received yet");
        refused(third.wrapping_add(4 * alignment), "beyond the received packets");
        session.release_raw_at(second, in_slot).unwrap();
        refused(second, "released twice");
        session.release_raw_at(first, in_slot).unwrap();
        assert_ne!(ring.load_head(), head, "{version:?}: both released, the head moved past them");
        let head = ring.load_head();
        assert_eq!(session.release_raw_at(first, in_slot), Err(Error::UnknownSlot), "{version:?}: behind the head");
        assert_eq!(ring.load_head(), head);
        let (third, _) = session.receive_data_raw().unwrap().unwrap();
        session.release_raw_at(third, in_slot).unwrap();
        assert_eq!(ring.load_head(), ring.load_tail(), "{version:?}: every packet released");
        let c = session.counters();
        assert_eq!((c.sent_packets, c.sent_bytes, c.received_packets, c.received_bytes), (3, 200, 3, 240));
    }
}

/// Batches of raw slots: one call sends or releases many; a send batch stops at the first slot
/// the caller does not hold, a release batch skips it.
#[test]
fn raw_batches_stop_or_skip_at_unknown_slots() {
    let driver = HostDriver::new();
    driver.stack().set_mode(ReturnMode::Immediate);
    let config = SessionConfig { outgoing_room: Room::new(16, 16), ..SessionConfig::default() };
    let session = Session::open(HostBackend::open_default(&driver), config).unwrap();
    let mut raws = Vec::new();
    assert_eq!(session.allocate_raw_many(4, 100, 16, 16, |raw| raws.push(raw)).unwrap(), 4);
    for (i, raw) in raws.iter().enumerate() {
        assert_eq!(raw.data_start, 16);
        assert!(raw.frame_len >= 132);
        let p = ipv4(90, i as u8);
        // SAFETY: the frame holds at least 132 bytes and belongs to this test until sent.
        unsafe { core::ptr::copy_nonoverlapping(p.as_ptr(), raw.frame.add(4), p.len()) };
    }
    // Each packet moved to 4 bytes into the frame and cut to 90; the third item is bogus.
    let items =
        [(raws[0].slot, Some(4..94)), (raws[1].slot, Some(4..94)), (raws[1].slot + 8, None), (raws[2].slot, None)];
    let outcome = session.send_raw_many(items.iter().cloned());
    assert_eq!(outcome, ringtun::BatchOutcome { done: 2, error: Some(Error::UnknownSlot) });
    session.send_raw_many([(raws[2].slot, Some(4..94)), (raws[3].slot, Some(4..94))]);
    assert!(driver.stack().wait_delivered(4, Duration::from_secs(5)));
    let got: Vec<Vec<u8>> = driver.stack().take_delivered().into_iter().map(|d| d.bytes).collect();
    assert_eq!(got, (0..4).map(|i| ipv4(90, i)).collect::<Vec<_>>());
    assert_eq!(session.counters().copied_bytes, 0, "v2 moves in place");

    let packets: Vec<Vec<u8>> = (0..3).map(|i| ipv4(50, 10 + i)).collect();
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    driver.transmit(&refs).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 3 && Instant::now() < deadline {
        let want = 8 - got.len();
        session.receive_raw_many(want, |raw| got.push(raw)).unwrap();
    }
    assert_eq!(got.len(), 3);
    let outcome = session.release_raw_many([got[2].slot, 12345, got[0].slot, got[1].slot]);
    assert_eq!(outcome, ringtun::BatchOutcome { done: 1, error: Some(Error::UnknownSlot) });
    let ring = session.incoming_ring();
    assert_eq!(ring.load_head(), ring.load_tail(), "every held packet released despite the bogus one");
}

/// v1 has no data offset: data that does not start at the slot's start is moved there (a copy,
/// counted), and only the last allocated slot can change length.
#[test]
fn v1_move_is_a_counted_copy_of_the_last_slot() {
    let driver = HostDriver::new();
    driver.stack().set_mode(ReturnMode::Immediate);
    let config = SessionConfig { version: VersionPreference::V1Only, ..SessionConfig::default() };
    let session = Session::open(HostBackend::open_default(&driver), config).unwrap();
    let inner = ipv4(50, 7);
    let mut first = session.allocate(100, 0, 0).unwrap();
    let mut last = session.allocate(100, 0, 0).unwrap();
    for slot in [&mut first, &mut last] {
        slot.data_mut().fill(0xEE);
        slot.data_mut()[10..60].copy_from_slice(&inner);
    }
    assert_eq!(first.set_data(10..60), Err(Error::ShrinkNotLast));
    assert_eq!(&first.data_mut()[10..60], &inner[..], "a refused move leaves the bytes");
    assert_eq!(session.counters().copied_bytes, 0);
    last.set_data(10..60).unwrap();
    assert_eq!(last.data_mut(), &inner[..]);
    assert_eq!(session.counters().copied_bytes, 50);
    first.data_mut().copy_from_slice(&ipv4(100, 8));
    session.send(first).unwrap();
    session.send(last).unwrap();
    assert!(driver.stack().wait_delivered(2, Duration::from_secs(5)));
    let got: Vec<Vec<u8>> = driver.stack().take_delivered().into_iter().map(|d| d.bytes).collect();
    assert_eq!(got, vec![ipv4(100, 8), inner]);
}

#[test]
fn offload_slots_set_data_and_raw_metadata_count_from_the_frame() {
    use ringtun::ring_abi::{OffloadMeta, OFFLOAD_F_DATA_VALID, OFFLOAD_F_NEEDS_CSUM};
    let driver = HostDriver::new();
    let config = SessionConfig {
        incoming_room: Room::new(16, 0),
        outgoing_room: Room::new(32, 32),
        offload: true,
        ..SessionConfig::default()
    };
    let session = Session::open(HostBackend::open_default(&driver), config).unwrap();
    assert!(session.offloads());

    // set_data's range is of frame_mut, which starts after the metadata block: the packet moved
    // one byte in lands one byte into the caller's head room, the block untouched.
    let inner = ipv4(100, 3);
    let mut slot = session.allocate(120, 0, 8).unwrap();
    slot.frame_mut()[0] = 0x17;
    slot.frame_mut()[1..101].copy_from_slice(&inner);
    slot.set_data(1..101).unwrap();
    assert_eq!(slot.headroom(), 1);
    assert_eq!(slot.data_mut(), &inner[..]);
    session.send(slot).unwrap();
    assert!(driver.stack().wait_delivered(1, Duration::from_secs(5)));
    assert_eq!(driver.stack().take_delivered()[0].bytes, inner);

    // Raw slots: the metadata set by slot is read back by slot, and refused for foreign ones.
    let raw = session.allocate_raw(100, 0, 0).unwrap();
    assert_eq!(session.outgoing_offload_raw(raw.slot), Ok(OffloadMeta::NONE));
    let meta = OffloadMeta { flags: OFFLOAD_F_NEEDS_CSUM, csum_start: 20, csum_offset: 16, ..OffloadMeta::NONE };
    session.set_outgoing_offload_raw(raw.slot, meta).unwrap();
    assert_eq!(session.outgoing_offload_raw(raw.slot), Ok(meta));
    assert_eq!(session.set_outgoing_offload_raw(raw.slot + 8, meta), Err(Error::UnknownSlot));
    session.cancel_raw(raw.slot).unwrap();
    assert_eq!(session.outgoing_offload_raw(raw.slot), Err(Error::UnknownSlot));

    // A received packet's block by its raw slot.
    let pkt = ipv4(200, 4);
    assert_eq!(driver.transmit(&[&pkt]).unwrap(), vec![TransmitStatus::Sent]);
    let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
    let expected = got.offload();
    let raw = got.into_raw();
    assert_eq!(session.incoming_offload_raw(raw.slot), Ok(expected));
    assert_eq!(expected.flags & !(OFFLOAD_F_DATA_VALID | OFFLOAD_F_NEEDS_CSUM), 0);
    session.release_raw(raw.slot).unwrap();
    assert_eq!(session.incoming_offload_raw(raw.slot), Err(Error::UnknownSlot));
}
