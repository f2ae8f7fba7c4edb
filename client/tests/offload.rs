//! The client library's offload and write-space API against the engine on the host platform.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::ring_abi::{
    checksum, GsoKind, OffloadMeta, RingVersion, Room, MAX_OFFLOAD_HEADER, OFFLOAD_F_DATA_VALID, OFFLOAD_F_NEEDS_CSUM,
    OFFLOAD_GSO_TCPV4, OFFLOAD_META_SIZE,
};
use ringtun::{Error, Session, SessionConfig};
use ringtun_driver::engine::{TransmitOffload, TransmitStatus};
use ringtun_driver::host::ReturnMode;
use ringtun_driver::platform::{IndicatedChecksum, StackOffloads};

/// An IPv4/TCP packet (20-byte IP, 20-byte TCP header) with `payload` bytes and valid checksums.
fn tcp4(payload: usize, seq: u32) -> Vec<u8> {
    let total = 40 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&7u16.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..20].copy_from_slice(&[10, 9, 0, 1, 10, 9, 0, 2]);
    p[20..22].copy_from_slice(&1234u16.to_be_bytes());
    p[22..24].copy_from_slice(&80u16.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = 0x18; // ACK | PSH
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    let ip = checksum::finish(checksum::sum(&p[..20]));
    p[10..12].copy_from_slice(&ip.to_be_bytes());
    let l4 = checksum::finish(checksum::pseudo_v4(&p, 6, (total - 20) as u32) + checksum::sum(&p[20..]));
    p[36..38].copy_from_slice(&l4.to_be_bytes());
    p
}

/// Whether an IPv4/TCP packet's IP and TCP checksums verify.
fn verifies(p: &[u8]) -> bool {
    let ip = checksum::fold(checksum::sum(&p[..20])) == 0xFFFF;
    let l4 = checksum::fold(checksum::pseudo_v4(p, 6, (p.len() - 20) as u32) + checksum::sum(&p[20..])) == 0xFFFF;
    ip && l4
}

fn config(offload: bool) -> SessionConfig {
    SessionConfig {
        incoming_room: Room::new(32, 16),
        outgoing_room: Room::new(8, 0),
        offload,
        write_space: true,
        ..SessionConfig::default()
    }
}

#[test]
fn offloads_and_write_space_are_negotiated() {
    let driver = HostDriver::new();
    let session = Session::open(HostBackend::open_default(&driver), config(true)).unwrap();
    assert_eq!(session.version(), RingVersion::V2);
    assert!(session.offloads());
    assert!(session.write_space_signal());
    // The metadata block is registered on top of the room asked for, on both rings.
    assert_eq!(session.config().send.geometry.room(), Room::new(32 + OFFLOAD_META_SIZE as u16, 16));
    assert_eq!(session.config().receive.geometry.room(), Room::new(8 + OFFLOAD_META_SIZE as u16, 0));
    assert_eq!(session.outgoing_room(), Room::new(8, 0));
    assert!(session.config().write_space_event.is_some());
    let plain = Session::open(HostBackend::open(&driver, 2, ringtun::ring_abi::CallerBitness::Bits64), config(false));
    assert!(matches!(plain, Err(Error::Device(_))), "one session per adapter");
    drop(session);
    let plain = Session::open(HostBackend::open_default(&driver), config(false)).unwrap();
    assert!(!plain.offloads());
    assert!(plain.allocate(100, 0, 0).unwrap().set_offload(OffloadMeta::NONE) == Err(Error::OffloadsNotNegotiated));
    assert_eq!(
        Session::open(
            HostBackend::open(&driver, 3, ringtun::ring_abi::CallerBitness::Bits64),
            SessionConfig { receive_split: true, ..config(true) }
        )
        .err(),
        Some(Error::IncompatibleOptions)
    );
}

/// A large send of the stack arrives as one super-packet with its metadata; the client cuts it
/// into packets that verify and carry the payload in order.
#[test]
fn a_large_send_arrives_as_one_super_packet() {
    let driver = HostDriver::new();
    let session = Session::open(HostBackend::open_default(&driver), config(true)).unwrap();
    let packet = tcp4(10_000, 0x1000);
    let request = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1400)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    assert_eq!(driver.transmit_offloaded(&[&packet], &[request]).unwrap(), vec![TransmitStatus::Sent]);
    let mut got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
    let meta = got.offload();
    assert_eq!(
        (meta.flags, meta.gso_type, meta.hdr_len, meta.gso_size, meta.csum_start, meta.csum_offset),
        (OFFLOAD_F_NEEDS_CSUM, OFFLOAD_GSO_TCPV4, 40, 1400, 20, 16)
    );
    assert_eq!(got.headroom_mut().len(), 32, "the caller's head room, after the metadata block");
    assert_eq!(got.len(), packet.len());
    assert_eq!(got.data()[40..], packet[40..], "payload unchanged");
    // NEEDS_CSUM: the TCP checksum field holds the pseudo-header sum (folded, not complemented).
    let pseudo = checksum::fold(checksum::pseudo_v4(&packet, 6, (packet.len() - 20) as u32));
    assert_eq!(got.data()[36..38], pseudo.to_be_bytes(), "the pseudo-header sum");
    let plan = got.offload_plan().unwrap().unwrap();
    assert_eq!(plan.segment_count(), 8);
    let mut joined = Vec::new();
    let mut header = [0u8; MAX_OFFLOAD_HEADER];
    for k in 0..plan.segment_count() {
        let (n, payload) = got.segment(&plan, k, &mut header).unwrap();
        let mut seg = header[..n].to_vec();
        seg.extend_from_slice(payload);
        assert!(verifies(&seg), "segment {k}");
        joined.extend_from_slice(payload);
    }
    assert_eq!(joined, packet[40..]);
    drop(got);
    assert_eq!(driver.adapter().stats().send_offload_packets, 1);
}

/// A large send whose IPv4 header checksum the stack left to the adapter (0) reaches the ring
/// with the header checksum computed; the header's other bytes are the stack's.
#[test]
fn a_large_send_gets_its_ipv4_header_checksum() {
    let driver = HostDriver::new();
    let session = Session::open(HostBackend::open_default(&driver), config(true)).unwrap();
    let mut packet = tcp4(10_000, 0x2000);
    let want = [packet[10], packet[11]];
    packet[10..12].copy_from_slice(&[0, 0]);
    let request = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1400)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    assert_eq!(driver.transmit_offloaded(&[&packet], &[request]).unwrap(), vec![TransmitStatus::Sent]);
    let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(got.data()[10..12], want, "the IPv4 header checksum");
    assert_eq!(got.data()[..10], packet[..10]);
    assert_eq!(got.data()[12..20], packet[12..20]);
}

/// Without offloads the engine cuts the large send itself.
#[test]
fn without_offloads_the_engine_cuts_a_large_send() {
    let driver = HostDriver::new();
    let session = Session::open(HostBackend::open_default(&driver), config(false)).unwrap();
    let packet = tcp4(4000, 77);
    let request = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1000)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    assert_eq!(driver.transmit_offloaded(&[&packet], &[request]).unwrap(), vec![TransmitStatus::Sent]);
    let mut joined = Vec::new();
    for k in 0..4 {
        let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(got.len(), 1040, "segment {k}");
        assert!(verifies(got.data()), "segment {k}");
        joined.extend_from_slice(&got.data()[40..]);
    }
    assert_eq!(joined, packet[40..]);
    let stats = driver.adapter().stats();
    assert_eq!((stats.send_segmented, stats.send_segments, stats.send_packets), (1, 4, 1));
}

/// A large send whose IPv4 total length the stack left 0 (NDIS LSOv2): the engine writes the
/// packet's length into it, in the super-packet an offload client receives and in the segments
/// it cuts for a client without offloads; nothing else of the packet changes.
#[test]
fn a_large_send_with_its_length_left_unset() {
    let packet = tcp4(3000, 5);
    let mut unset = packet.clone();
    unset[2..4].copy_from_slice(&[0, 0]);
    let request = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1000)),
        l4_checksum: true,
        ip_checksum: true,
        lengths_from_buffer: true,
        ..TransmitOffload::default()
    };
    for offload in [true, false] {
        let driver = HostDriver::new();
        let session = Session::open(HostBackend::open_default(&driver), config(offload)).unwrap();
        assert_eq!(driver.transmit_offloaded(&[&unset], &[request]).unwrap(), vec![TransmitStatus::Sent]);
        if offload {
            let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
            // The total length written; the rest as sent but the checksums (the IPv4 header's
            // is the stack's to leave, the TCP field carries the pseudo-header sum).
            assert_eq!(got.len(), packet.len());
            assert_eq!(got.data()[..10], packet[..10], "the total length written");
            assert_eq!(got.data()[12..36], packet[12..36]);
            assert_eq!(got.data()[38..], packet[38..]);
            assert_eq!(got.offload().gso_size, 1000);
        } else {
            let mut joined = Vec::new();
            for k in 0..3 {
                let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
                assert_eq!(got.len(), 1040, "segment {k}");
                assert_eq!(got.data()[2..4], 1040u16.to_be_bytes(), "segment {k}");
                assert!(verifies(got.data()), "segment {k}");
                joined.extend_from_slice(&got.data()[40..]);
            }
            assert_eq!(joined, packet[40..]);
        }
        assert_eq!(driver.adapter().stats().send_dropped_invalid, 0);
    }
}

/// An IPv6/UDP packet with `payload` bytes, its lengths left 0 (as a stack's UDP segmentation
/// template may leave them).
fn udp6_lengths_unset(payload: usize) -> Vec<u8> {
    let mut p = vec![0u8; 48 + payload];
    p[0] = 0x60;
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p[24..40].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p[40..42].copy_from_slice(&5000u16.to_be_bytes());
    p[42..44].copy_from_slice(&6000u16.to_be_bytes());
    for (i, b) in p[48..].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    p
}

/// The same for IPv6/UDP: the engine writes the IPv6 payload length and the UDP length.
#[test]
fn a_udp_large_send_with_its_lengths_left_unset() {
    let unset = udp6_lengths_unset(2500);
    let request = TransmitOffload {
        segmentation: Some((GsoKind::UdpL4, 1000)),
        l4_checksum: true,
        lengths_from_buffer: true,
        ..TransmitOffload::default()
    };
    for offload in [true, false] {
        let driver = HostDriver::new();
        let session = Session::open(HostBackend::open_default(&driver), config(offload)).unwrap();
        assert_eq!(driver.transmit_offloaded(&[&unset], &[request]).unwrap(), vec![TransmitStatus::Sent]);
        if offload {
            let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
            assert_eq!(got.len(), unset.len());
            assert_eq!(got.data()[4..6], 2508u16.to_be_bytes(), "IPv6 payload length");
            assert_eq!(got.data()[44..46], 2508u16.to_be_bytes(), "UDP length");
            assert_eq!(got.data()[..4], unset[..4]);
            assert_eq!(got.data()[6..44], unset[6..44]);
            assert_eq!(got.data()[48..], unset[48..]);
            assert_eq!(got.offload().gso_size, 1000);
        } else {
            let mut joined = Vec::new();
            for (k, payload) in [1000u16, 1000, 500].into_iter().enumerate() {
                let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
                assert_eq!(got.len(), 48 + usize::from(payload), "segment {k}");
                assert_eq!(got.data()[4..6], (payload + 8).to_be_bytes(), "segment {k}");
                assert_eq!(got.data()[44..46], (payload + 8).to_be_bytes(), "segment {k}");
                joined.extend_from_slice(&got.data()[48..]);
            }
            assert_eq!(joined, unset[48..]);
        }
        assert_eq!(driver.adapter().stats().send_dropped_invalid, 0);
    }
}

/// What the engine does with a request that only fits some packets: lengths are filled in for
/// large sends only, and only when the stack says it left them; an IPv4 header checksum is
/// computed for a header of any length the packet holds; a request that asks nothing the
/// packet can be refused for leaves it as it is.
#[test]
fn requests_are_applied_only_where_they_fit() {
    let driver = HostDriver::new();
    let session = Session::open(HostBackend::open_default(&driver), config(false)).unwrap();
    let mut unset = tcp4(3000, 9);
    unset[2..4].copy_from_slice(&[0, 0]);
    let large_send = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1000)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    let checksum_only_unset =
        TransmitOffload { l4_checksum: true, lengths_from_buffer: true, ..TransmitOffload::default() };
    // A UDP large send over IPv4 with both lengths left 0.
    let mut udp4 = tcp4(2500, 1)[..20].to_vec();
    udp4[9] = 17;
    udp4[2..4].copy_from_slice(&[0, 0]);
    udp4.extend_from_slice(&[0x13, 0x88, 0x17, 0x70, 0, 0, 0, 0]);
    udp4.extend((0..2500u32).map(|i| (i * 5) as u8));
    let uso = TransmitOffload {
        segmentation: Some((GsoKind::UdpL4, 1000)),
        l4_checksum: true,
        ip_checksum: true,
        lengths_from_buffer: true,
        ..TransmitOffload::default()
    };
    // An IPv6 packet with nothing asked but the lengths (no large send): sent as it is.
    let mut v6 = vec![0u8; 60];
    v6[0] = 0x60;
    v6[4..6].copy_from_slice(&20u16.to_be_bytes());
    v6[6] = 59;
    let lengths_only = TransmitOffload { lengths_from_buffer: true, ..TransmitOffload::default() };
    // A 28-byte IPv4 packet (ICMP) whose header checksum is left to the adapter; the same
    // request on an IPv6 packet, on an IPv4 header length below 20 and on one longer than the
    // packet is refused.
    let mut small = tcp4(0, 3)[..20].to_vec();
    small[2..4].copy_from_slice(&28u16.to_be_bytes());
    small[9] = 1;
    small.extend_from_slice(&[8, 0, 0xF7, 0xFF, 0, 0, 0, 0]);
    small[10..12].copy_from_slice(&[0, 0]);
    let small_unsummed = small.clone();
    let ip_sum = checksum::finish(checksum::sum(&small[..20]));
    small[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let mut short_ihl = small_unsummed.clone();
    short_ihl[0] = 0x44;
    let mut long_ihl = small_unsummed.clone();
    long_ihl[0] = 0x4F;
    // A packet that is only its 20-byte IPv4 header: the header is inside it.
    let mut bare = small_unsummed[..20].to_vec();
    bare[2..4].copy_from_slice(&20u16.to_be_bytes());
    bare[9] = 59;
    let mut bare_summed = bare.clone();
    let bare_sum = checksum::finish(checksum::sum(&bare[..20]));
    bare_summed[10..12].copy_from_slice(&bare_sum.to_be_bytes());
    let ip_only = TransmitOffload { ip_checksum: true, ..TransmitOffload::default() };

    let statuses = driver
        .transmit_offloaded(
            &[&unset, &unset, &udp4, &v6, &small_unsummed, &v6, &short_ihl, &long_ihl, &bare],
            &[large_send, checksum_only_unset, uso, lengths_only, ip_only, ip_only, ip_only, ip_only, ip_only],
        )
        .unwrap();
    assert_eq!(
        statuses,
        vec![
            TransmitStatus::Invalid,
            TransmitStatus::Invalid,
            TransmitStatus::Sent,
            TransmitStatus::Sent,
            TransmitStatus::Sent,
            TransmitStatus::Invalid,
            TransmitStatus::Invalid,
            TransmitStatus::Invalid,
            TransmitStatus::Sent
        ]
    );
    for (k, payload) in [1000u16, 1000, 500].into_iter().enumerate() {
        let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(got.len(), 28 + usize::from(payload), "UDP segment {k}");
        assert_eq!(got.data()[2..4], (28 + payload).to_be_bytes(), "UDP segment {k}");
        assert_eq!(got.data()[24..26], (8 + payload).to_be_bytes(), "UDP segment {k}");
        assert_eq!(checksum::fold(checksum::sum(&got.data()[..20])), 0xFFFF, "UDP segment {k}");
    }
    let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(got.data(), &v6[..]);
    drop(got);
    let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(got.data(), &small[..], "the IPv4 header checksum computed");
    drop(got);
    let got = session.receive_wait(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(got.data(), &bare_summed[..], "the IPv4 header checksum computed");
    drop(got);
    assert_eq!(driver.adapter().stats().send_dropped_invalid, 5);
}

/// A super-packet the client sends is cut by the engine for a stack that takes nothing, and
/// handed over whole to a stack that coalesces.
#[test]
fn a_super_packet_from_the_client() {
    for coalesce in [false, true] {
        let driver = HostDriver::new();
        if coalesce {
            driver.stack().set_offloads(StackOffloads {
                coalesced_tcp4: true,
                coalesced_tcp6: true,
                coalesced_udp: true,
                partial_checksum: true,
                checksum_valid: true,
                coalescing_rules: false,
            });
        }
        let session = Session::open(HostBackend::open_default(&driver), config(true)).unwrap();
        let packet = tcp4(5000, 9);
        let mut slot = session.allocate(packet.len(), 8, 0).unwrap();
        slot.data_mut().copy_from_slice(&packet);
        slot.set_offload(OffloadMeta {
            flags: OFFLOAD_F_DATA_VALID,
            gso_type: OFFLOAD_GSO_TCPV4,
            hdr_len: 40,
            gso_size: 1448,
            ..OffloadMeta::NONE
        })
        .unwrap();
        assert!(slot.offload_plan().unwrap().is_some());
        session.send(slot).unwrap();
        let want = if coalesce { 1 } else { 4 };
        assert!(driver.stack().wait_delivered(want, Duration::from_secs(5)));
        let delivered = driver.stack().take_delivered();
        assert_eq!(delivered.len() as u64, want);
        if coalesce {
            assert_eq!(delivered[0].bytes, packet);
            assert_eq!(delivered[0].info.checksum, IndicatedChecksum::Valid { value_computed: false });
            assert_eq!(delivered[0].info.coalesced.map(|c| (c.segments, c.segment_size)), Some((4, 1448)));
        } else {
            let mut joined = Vec::new();
            for d in &delivered {
                assert!(verifies(&d.bytes));
                assert_eq!(d.header_len, 40);
                joined.extend_from_slice(&d.bytes[40..]);
            }
            assert_eq!(joined, packet[40..]);
            assert_eq!(driver.adapter().stats().receive_segments, 4);
        }
    }
}

/// A client whose outgoing ring is full sleeps until the driver frees space, woken by the
/// write-space event.
#[test]
fn a_full_ring_wakes_the_waiting_client() {
    let driver = HostDriver::new();
    driver.stack().set_mode(ReturnMode::Hold);
    let config = SessionConfig { outgoing_capacity: 0x20000, ..config(false) };
    let session = Arc::new(Session::open(HostBackend::open_default(&driver), config).unwrap());
    let packet = tcp4(1400, 1);
    let mut sent = 0;
    loop {
        match session.allocate(packet.len(), 0, 0) {
            Ok(mut slot) => {
                slot.data_mut().copy_from_slice(&packet);
                session.send(slot).unwrap();
                sent += 1;
            }
            Err(Error::RingFull) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(driver.stack().wait_held(sent, Duration::from_secs(5)));
    assert_eq!(session.counters().outgoing_ring_full, 1);
    let waiter = {
        let session = Arc::clone(&session);
        std::thread::spawn(move || {
            let start = Instant::now();
            let found = session.wait_for_send_space(1440, 0, 0, Duration::from_secs(10)).unwrap();
            (found, start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    for held in driver.stack().take_held() {
        driver.adapter().return_indication(held.token());
    }
    let (found, waited) = waiter.join().unwrap();
    assert!(found);
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let counters = session.counters();
    assert_eq!((counters.space_waits, counters.space_found), (1, 1));
    assert!(counters.space_signals >= 1);
    assert!(driver.adapter().stats().receive_space_signals >= 1);
    assert!(!session.outgoing_ring().load_space_waiting(), "the flag is cleared once no one waits");
    assert!(session.allocate(packet.len(), 0, 0).is_ok());
}

/// With offloads on, the frame of an outgoing slot begins after the metadata block: data moved
/// inside the frame (`set_data`, or `send_raw` with a range) stays behind the block, so the
/// engine finds the packet, not the block, at the data offset. Both the borrowed and the raw
/// paths, with the packet placed after a protocol header in the frame, as a VPN decrypting in
/// place does.
#[test]
fn data_moved_inside_the_frame_stays_behind_the_metadata_block() {
    let driver = HostDriver::new();
    let session = Session::open(HostBackend::open_default(&driver), config(true)).unwrap();
    let packet = tcp4(200, 3);
    let at = 16; // a protocol header in front of the packet
    let mut slot = session.allocate(at + packet.len() + 16, 0, 0).unwrap();
    slot.frame_mut()[at..at + packet.len()].copy_from_slice(&packet);
    slot.set_data(at..at + packet.len()).unwrap();
    assert_eq!(slot.data_mut(), &packet[..]);
    slot.set_offload(OffloadMeta { flags: OFFLOAD_F_DATA_VALID, ..OffloadMeta::NONE }).unwrap();
    session.send(slot).unwrap();

    let raw = session.allocate_raw(at + packet.len() + 16, 0, 0).unwrap();
    assert_eq!(raw.data_start, 0);
    // SAFETY: the frame is `frame_len` bytes of the slot this test holds.
    let frame = unsafe { std::slice::from_raw_parts_mut(raw.frame, raw.frame_len as usize) };
    frame[at..at + packet.len()].copy_from_slice(&packet);
    session.send_raw(raw.slot, Some(at..at + packet.len())).unwrap();

    assert!(driver.stack().wait_delivered(2, Duration::from_secs(5)));
    let delivered = driver.stack().take_delivered();
    assert_eq!(delivered.len(), 2);
    for d in &delivered {
        assert_eq!(d.bytes, packet);
    }
    assert_eq!(driver.adapter().stats().receive_dropped_offload, 0);
}
