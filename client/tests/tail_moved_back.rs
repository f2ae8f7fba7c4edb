//! A driver that moves the Send ring's `tail` backwards, onto packets the client still holds:
//! the ring is corrupt (`docs/ring-protocol.md` section 6.1, rule 1), so the client reports
//! `CorruptRing` and never hands out a held slot a second time (which would give safe code two
//! mutable views of the same bytes).

use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::ring_abi::{PacketHeader, RingFault, RingGeometry, RingVersion, MIN_RING_CAPACITY};
use ringtun::{Error, IncomingPacket, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::TransmitStatus;

fn ipv4(len: usize, seq: u8) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i as u8) ^ seq).collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// Valid-looking packets from `from` to the end of the capacity, written as a driver would, so
/// that a walk from `from` reaches offset 0 again on a slot boundary.
fn fill_to_the_end(session: &Session<HostBackend>, from: u32) {
    let ring = session.incoming_ring();
    let geometry: RingGeometry = *ring.geometry();
    let header_size = geometry.packet_header_size();
    let mut at = from;
    while at < geometry.capacity() {
        let slot = (geometry.capacity() - at).min(1504 + header_size);
        let len = slot - header_size;
        let header = match geometry.version() {
            RingVersion::V1 => PacketHeader::V1 { size: len },
            RingVersion::V2 => PacketHeader::V2 { slot_size: slot, data_offset: 8, data_length: len as u16 },
        };
        ring.write_packet_header(at, header).unwrap();
        ring.write_data(at + header_size, &ipv4(1504, 0x77)[..len as usize]).unwrap();
        at += slot;
    }
}

fn tail_moved_back(version: VersionPreference, back_to: impl Fn(&[IncomingPacket<'_, HostBackend>]) -> u32) {
    let driver = HostDriver::new();
    let config = SessionConfig {
        version,
        incoming_capacity: MIN_RING_CAPACITY,
        outgoing_capacity: MIN_RING_CAPACITY,
        ..SessionConfig::default()
    };
    let session = Session::open(HostBackend::open_default(&driver), config).unwrap();
    let packets: Vec<Vec<u8>> = (1..=8).map(|seq| ipv4(100, seq)).collect();
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    assert_eq!(driver.transmit(&refs).unwrap(), vec![TransmitStatus::Sent; 8]);

    let mut held = Vec::new();
    assert_eq!(session.receive_many(&mut held, 8).unwrap(), 8);
    let ring = session.incoming_ring();
    let geometry = *ring.geometry();
    let last = held[7].view();
    let cursor = geometry.advance(last.slot_offset, last.slot_size);

    // The driver side writes valid packets over the rest of the ring and moves `tail` back.
    fill_to_the_end(&session, cursor);
    ring.store_tail(back_to(&held));

    let mut more = Vec::new();
    let got = session.receive_many(&mut more, 1024);
    let held_offsets: Vec<u32> = held.iter().map(|p| p.view().slot_offset).collect();
    let again: Vec<u32> =
        more.iter().map(|p| p.view().slot_offset).filter(|offset| held_offsets.contains(offset)).collect();
    assert!(
        matches!(got, Err(Error::CorruptRing(RingFault::TailBehindCursor { cursor: c, .. })) if c == cursor),
        "receive_many: {got:?}; held slots handed out a second time: {again:#x?}"
    );
    assert!(more.is_empty());
    assert!(matches!(session.receive(), Err(Error::CorruptRing(RingFault::TailBehindCursor { .. }))));

    // The held packets are intact and release as before: head ends after the eighth.
    for (packet, sent) in held.iter().zip(&packets) {
        assert_eq!(packet.data(), &sent[..]);
    }
    session.release_many(&mut held);
    assert_eq!(ring.load_head(), cursor);
}

/// `tail` set back to the 8th held slot: before the fix `receive_many` walked the driver's new
/// slots, wrapped, and handed out the first seven held slots a second time.
#[test]
fn tail_back_onto_a_held_slot_is_corrupt_v1() {
    tail_moved_back(VersionPreference::V1Only, |held| held[7].view().slot_offset);
}

#[test]
fn tail_back_onto_a_held_slot_is_corrupt_v2() {
    tail_moved_back(VersionPreference::PreferV2, |held| held[7].view().slot_offset);
}

/// `tail` set back to the released head while packets are held (a whole lap, in effect).
#[test]
fn tail_back_to_the_released_head_is_corrupt() {
    tail_moved_back(VersionPreference::PreferV2, |held| held[0].view().slot_offset);
    tail_moved_back(VersionPreference::V1Only, |held| held[0].view().slot_offset);
}
