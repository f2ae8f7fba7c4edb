//! The client library against the engine on the host platform.

use std::time::Duration;

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
