//! The adapter's task offloads as the stack switches them (`OID_TCP_OFFLOAD_PARAMETERS`): a
//! large send of an offload turned off is dropped (NDIS requires it once the request that turned
//! it off completed), others still pass; receive coalescing turned off makes the Receive path
//! cut what it would have indicated whole.

// Test code on the host: the process heap, not the kernel pool, so the crate's allocation
// rules (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

use ringtun_driver::engine::keywords::configured_offloads;
use ringtun_driver::engine::offload::{OffloadParameters, TaskOffloads};
use ringtun_driver::engine::oid::{
    OidError, OidValue, RscStatistics, OID_OFFLOAD_ENCAPSULATION, OID_TCP_OFFLOAD_PARAMETERS, OID_TCP_RSC_STATISTICS,
};
use ringtun_driver::engine::{TransmitOffload, TransmitStatus};
use ringtun_driver::host::HostDriver;
use ringtun_driver::platform::{IndicatedChecksum, StackOffloads};
use ringtun_driver::ring_abi::{
    GsoKind, OffloadMeta, RingVersion, OFFLOAD_F_DATA_VALID, OFFLOAD_F_NEEDS_CSUM, OFFLOAD_GSO_TCPV4,
};

/// An IPv4/TCP packet of `payload` bytes (20-byte headers each).
fn tcp4(payload: usize) -> Vec<u8> {
    let total = 40 + payload;
    let mut p = vec![0x5Au8; total];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6..8].copy_from_slice(&[0x40, 0]);
    p[9] = 6;
    p[32] = 5 << 4;
    p[33] = 0x10;
    p
}

#[test]
fn a_large_send_turned_off_is_dropped_and_the_rest_passes() {
    let driver = HostDriver::new();
    let adapter = driver.adapter();
    assert_eq!(adapter.task_offloads(), TaskOffloads::ALL);
    assert_eq!(
        adapter.set_oid(OID_TCP_OFFLOAD_PARAMETERS, &[]),
        Err(OidError::BufferTooShort { needed: 20 }),
        "revision 1 of NDIS_OFFLOAD_PARAMETERS is the least"
    );
    let lso = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1000)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    let big = tcp4(3000);
    let small = tcp4(100);
    // No session: refused as not running, whatever is asked.
    assert_eq!(driver.transmit_offloaded(&[&big], &[lso]), Ok(vec![TransmitStatus::NotRunning]));

    let file = driver.open(1, ringtun_driver::ring_abi::CallerBitness::Bits64);
    let registration = registration(&driver);
    driver.ioctl(&file, ringtun_driver::ring_abi::IOCTL_REGISTER_RINGS, &registration.0, &mut []).unwrap();

    // NDIS_OFFLOAD_PARAMETERS revision 4 (32 bytes) with LsoV2IPv4 (offset 11) =
    // NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED.
    let mut off = vec![0u8; 32];
    off[..4].copy_from_slice(&[0x80, 4, 32, 0]);
    off[11] = 1;
    assert_eq!(adapter.set_oid(OID_TCP_OFFLOAD_PARAMETERS, &off), Ok(32));
    let now = adapter.task_offloads();
    assert!(!now.contains(TaskOffloads::LSO_V4) && now.contains(TaskOffloads::LSO_V6));
    let statuses = driver.transmit_offloaded(&[&big, &small], &[lso, TransmitOffload::default()]).unwrap();
    assert_eq!(statuses, vec![TransmitStatus::OffloadOff, TransmitStatus::Sent]);
    assert_eq!(adapter.stats().send_dropped_offload_off, 1);
    // A checksum request alone is still served.
    let checksum =
        TransmitOffload { segmentation: None, l4_checksum: true, ip_checksum: true, ..TransmitOffload::default() };
    assert_eq!(driver.transmit_offloaded(&[&small], &[checksum]), Ok(vec![TransmitStatus::Sent]));
    // Turned on again: one super-packet with its metadata for this offload session.
    adapter.set_offload_parameters(&OffloadParameters { lso_v2_ipv4: 2, ..OffloadParameters::default() }).unwrap();
    assert_eq!(driver.transmit_offloaded(&[&big], &[lso]), Ok(vec![TransmitStatus::Sent]));
    assert_eq!(adapter.stats().send_offload_packets, 2, "the checksum request and the large send");
    // A refused request changes nothing.
    let before = adapter.task_offloads();
    assert!(adapter
        .set_offload_parameters(&OffloadParameters { lso_v1: 2, lso_v2_ipv6: 1, ..OffloadParameters::default() })
        .is_err());
    assert_eq!(adapter.task_offloads(), before);
    driver.close(file);
}

/// An IPv4/UDP packet of `payload` bytes.
fn udp4(payload: usize) -> Vec<u8> {
    let total = 28 + payload;
    let mut p = vec![0x33u8; total];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6..8].copy_from_slice(&[0x40, 0]);
    p[9] = 17;
    p[24..26].copy_from_slice(&((total - 20) as u16).to_be_bytes());
    p
}

#[test]
fn an_adapter_starts_with_the_offloads_its_keywords_leave_on_and_the_stack_may_turn_them_on() {
    let driver = HostDriver::new();
    let adapter = driver.adapter();
    // The registry says *LsoV2IPv4 = 0 and *TCPChecksumOffloadIPv4 = 1 (transmit only).
    let registry = [("*LsoV2IPv4", 0u32), ("*TCPChecksumOffloadIPv4", 1)];
    let on = configured_offloads(TaskOffloads::ALL, |k| registry.iter().find(|(n, _)| *n == k.name).map(|&(_, v)| v));
    adapter.offer_task_offloads(TaskOffloads::ALL, on);
    let off = TaskOffloads::LSO_V4.bits() | TaskOffloads::TCP4_CHECKSUM_RX.bits();
    assert_eq!(adapter.offered_task_offloads(), TaskOffloads::ALL);
    assert_eq!(adapter.task_offloads(), TaskOffloads::from_bits(TaskOffloads::ALL.bits() & !off));
    let file = driver.open(1, ringtun_driver::ring_abi::CallerBitness::Bits64);
    let registration = registration(&driver);
    driver.ioctl(&file, ringtun_driver::ring_abi::IOCTL_REGISTER_RINGS, &registration.0, &mut []).unwrap();
    let lso = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1000)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    assert_eq!(driver.transmit_offloaded(&[&tcp4(3000)], &[lso]), Ok(vec![TransmitStatus::OffloadOff]));
    // Offered, so the stack may turn it on (NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED).
    let now = adapter.set_offload_parameters(&OffloadParameters { lso_v2_ipv4: 2, ..OffloadParameters::default() });
    assert_eq!(now, Ok(TaskOffloads::from_bits(TaskOffloads::ALL.bits() & !TaskOffloads::TCP4_CHECKSUM_RX.bits())));
    // A keyword never turns on more than is offered.
    adapter.offer_task_offloads(TaskOffloads::NONE, TaskOffloads::ALL);
    assert_eq!(adapter.task_offloads(), TaskOffloads::NONE);
    driver.close(file);
}

#[test]
fn an_offload_not_offered_cannot_be_turned_on_and_its_large_sends_are_dropped() {
    let driver = HostDriver::new();
    let adapter = driver.adapter();
    // A shell that registered an NDIS version without USO offers everything else.
    let offered = TaskOffloads::from_bits(
        TaskOffloads::ALL.bits() & !(TaskOffloads::USO_V4.bits() | TaskOffloads::USO_V6.bits()),
    );
    adapter.offer_task_offloads(offered, TaskOffloads::ALL);
    assert_eq!((adapter.task_offloads(), adapter.offered_task_offloads()), (offered, offered));
    let file = driver.open(1, ringtun_driver::ring_abi::CallerBitness::Bits64);
    let registration = registration(&driver);
    driver.ioctl(&file, ringtun_driver::ring_abi::IOCTL_REGISTER_RINGS, &registration.0, &mut []).unwrap();
    let uso =
        TransmitOffload { segmentation: Some((GsoKind::UdpL4, 1000)), l4_checksum: true, ..TransmitOffload::default() };
    assert_eq!(driver.transmit_offloaded(&[&udp4(3000)], &[uso]), Ok(vec![TransmitStatus::OffloadOff]));
    // Turning USO on is refused and changes nothing; turning it off (no change) is accepted.
    let on = OffloadParameters { uso_ipv4: 2, ..OffloadParameters::default() };
    assert!(adapter.set_offload_parameters(&on).is_err());
    assert_eq!(adapter.task_offloads(), offered);
    let off = OffloadParameters { uso_ipv4: 1, lso_v2_ipv6: 1, ..OffloadParameters::default() };
    let now = adapter.set_offload_parameters(&off).unwrap();
    assert!(!now.contains(TaskOffloads::LSO_V6) && now.contains(TaskOffloads::LSO_V4));
    // LSO still offered: back on.
    let back = adapter.set_offload_parameters(&OffloadParameters { lso_v2_ipv6: 2, ..OffloadParameters::default() });
    assert_eq!(back, Ok(offered));
    assert_eq!(adapter.stats().send_dropped_offload_off, 1);
    driver.close(file);
}

#[test]
fn receive_coalescing_turned_off_cuts_what_was_indicated_whole() {
    for rsc in [true, false] {
        let driver = HostDriver::new_polled();
        driver.stack().set_offloads(StackOffloads {
            coalesced_tcp4: true,
            coalesced_tcp6: true,
            coalesced_udp: false,
            partial_checksum: false,
            checksum_valid: true,
            coalescing_rules: true,
        });
        if !rsc {
            driver
                .adapter()
                .set_offload_parameters(&OffloadParameters { rsc_ipv4: 1, ..OffloadParameters::default() })
                .unwrap();
        }
        let file = driver.open(1, ringtun_driver::ring_abi::CallerBitness::Bits64);
        let (input, receive) = registration(&driver);
        driver.ioctl(&file, ringtun_driver::ring_abi::IOCTL_REGISTER_RINGS, &input, &mut []).unwrap();
        let packet = tcp4(3000);
        let meta = OffloadMeta {
            flags: OFFLOAD_F_DATA_VALID,
            gso_type: OFFLOAD_GSO_TCPV4,
            hdr_len: 40,
            gso_size: 1000,
            ..OffloadMeta::NONE
        };
        publish(&receive, 0, &packet, &meta);
        driver.poll_receive();
        let delivered = driver.stack().take_delivered();
        assert_eq!(delivered.len(), if rsc { 1 } else { 3 }, "rsc {rsc}");
        // Cut because coalescing is off, not because this unit breaks a coalescing rule: not an
        // RSC abort (NDIS counts an abort only where the stack would have taken the unit whole).
        assert_eq!(driver.adapter().stats().receive_coalesce_aborts, 0, "rsc {rsc}");
        driver.close(file);
        drop(receive);
    }
}

/// Super-packets the engine cuts, more segments together than one round indicates
/// (`RECEIVE_BATCH_PACKETS`, 256): a slot's segments go in one round, so a slot that does not fit
/// what is left of a round waits for the next, and one that fits exactly goes in this one; none
/// is dropped and every segment arrives once.
#[test]
fn cut_super_packets_wait_for_a_round_with_room() {
    // Segments per slot (10 payload bytes each), and the segments each round indicates.
    for (slots, rounds) in [(&[100u16, 100, 100][..], &[200usize, 100][..]), (&[128, 128, 1], &[256, 1])] {
        let driver = HostDriver::new_polled();
        driver.stack().set_offloads(StackOffloads::default());
        let file = driver.open(1, ringtun_driver::ring_abi::CallerBitness::Bits64);
        let (input, receive) = registration(&driver);
        driver.ioctl(&file, ringtun_driver::ring_abi::IOCTL_REGISTER_RINGS, &input, &mut []).unwrap();
        let mut at = 0;
        for &segments in slots {
            let packet = tcp4(usize::from(segments) * 10);
            let meta = OffloadMeta {
                flags: OFFLOAD_F_DATA_VALID,
                gso_type: OFFLOAD_GSO_TCPV4,
                hdr_len: 40,
                gso_size: 10,
                ..OffloadMeta::NONE
            };
            at = publish(&receive, at, &packet, &meta);
        }
        let mut per_round = Vec::new();
        for _ in 0..rounds.len() {
            driver.poll_receive();
            let delivered = driver.stack().take_delivered();
            assert!(delivered.iter().all(|p| p.bytes.len() == 50), "every segment 40 + 10 bytes");
            per_round.push(delivered.len());
        }
        assert_eq!(per_round, rounds, "{slots:?}");
        let stats = driver.adapter().stats();
        assert_eq!((stats.receive_dropped_no_resources, stats.receive_dropped_offload), (0, 0));
        driver.close(file);
        drop(receive);
    }
}

/// Publishes `packet` with `meta` in the Receive ring's slot at `offset`; returns the next
/// slot's offset.
fn publish(receive: &ReceiveRing, offset: u32, packet: &[u8], meta: &OffloadMeta) -> u32 {
    let ring = receive.ring();
    let geometry = *ring.geometry();
    let slot = geometry.slot_size(packet.len() as u32, geometry.room()).unwrap();
    ring.write_packet_header(
        offset,
        ringtun_driver::ring_abi::PacketHeader::V2 {
            slot_size: slot,
            data_offset: 24,
            data_length: packet.len() as u16,
        },
    )
    .unwrap();
    ring.write_offload_meta(offset, meta).unwrap();
    ring.write_data(offset + 24, packet).unwrap();
    ring.store_tail(offset + slot);
    offset + slot
}

#[test]
fn rsc_statistics_count_units_segments_payload_and_aborts() {
    let driver = HostDriver::new_polled();
    driver.stack().set_offloads(StackOffloads {
        coalesced_tcp4: true,
        coalesced_tcp6: true,
        coalesced_udp: false,
        partial_checksum: false,
        checksum_valid: true,
        coalescing_rules: true,
    });
    let adapter = driver.adapter();
    let file = driver.open(1, ringtun_driver::ring_abi::CallerBitness::Bits64);
    let (input, receive) = registration(&driver);
    driver.ioctl(&file, ringtun_driver::ring_abi::IOCTL_REGISTER_RINGS, &input, &mut []).unwrap();
    let meta = |flags, segment| OffloadMeta {
        flags,
        gso_type: OFFLOAD_GSO_TCPV4,
        hdr_len: 40,
        gso_size: segment,
        ..OffloadMeta::NONE
    };
    // Two units whole (3 + 2 segments, 3000 + 1800 payload bytes); one with a partial checksum,
    // which this stack cannot take whole: cut (an abort).
    let mut at = publish(&receive, 0, &tcp4(3000), &meta(OFFLOAD_F_DATA_VALID, 1000));
    at = publish(&receive, at, &tcp4(1800), &meta(OFFLOAD_F_DATA_VALID, 900));
    let mut partial = meta(OFFLOAD_F_NEEDS_CSUM, 1000);
    partial.csum_start = 20;
    partial.csum_offset = 16;
    publish(&receive, at, &tcp4(2000), &partial);
    driver.poll_receive();
    assert_eq!(driver.stack().take_delivered().len(), 1 + 1 + 2);
    assert_eq!(
        adapter.query_oid(OID_TCP_RSC_STATISTICS),
        Ok(OidValue::RscStatistics(RscStatistics {
            coalesced_packets: 5,
            coalesced_octets: 4800,
            coalesce_events: 2,
            aborts: 1,
        }))
    );
    driver.close(file);
}

/// An `NDIS_OFFLOAD_ENCAPSULATION` (ndis.h) asking `(Enabled, EncapsulationType)` for IPv4
/// and IPv6.
fn encapsulation(ipv4: (u32, u32), ipv6: (u32, u32)) -> Vec<u8> {
    let mut bytes = vec![0xA8, 1, 28, 0];
    for (enabled, kind) in [ipv4, ipv6] {
        bytes.extend_from_slice(&enabled.to_le_bytes());
        bytes.extend_from_slice(&kind.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
    }
    bytes
}

#[test]
fn receive_offloads_wait_for_the_encapsulation_and_set_off_turns_a_version_off() {
    const ON: u32 = 1;
    const OFF: u32 = 2;
    const NULL: u32 = 1;
    const IEEE_802_3: u32 = 2;
    const LLC_SNAP_ROUTED: u32 = 0x10;
    let driver = HostDriver::new_polled();
    driver.stack().set_offloads(StackOffloads {
        coalesced_tcp4: true,
        coalesced_tcp6: true,
        coalesced_udp: false,
        partial_checksum: false,
        checksum_valid: true,
        coalescing_rules: true,
    });
    let adapter = driver.adapter();
    // A stack that sets the encapsulation (NDIS): nothing received is marked before it does.
    adapter.await_offload_encapsulation();
    assert_eq!(adapter.task_offloads(), TaskOffloads::ALL, "configured and reported on");
    assert_eq!(adapter.receive_task_offloads(), TaskOffloads::NONE);
    let file = driver.open(1, ringtun_driver::ring_abi::CallerBitness::Bits64);
    let (input, receive) = registration(&driver);
    driver.ioctl(&file, ringtun_driver::ring_abi::IOCTL_REGISTER_RINGS, &input, &mut []).unwrap();
    let meta = OffloadMeta {
        flags: OFFLOAD_F_DATA_VALID,
        gso_type: OFFLOAD_GSO_TCPV4,
        hdr_len: 40,
        gso_size: 1000,
        ..OffloadMeta::NONE
    };
    let packet = tcp4(3000);
    let mut at = 0;
    let mut indicate = |driver: &HostDriver| {
        at = publish(&receive, at, &packet, &meta);
        driver.poll_receive();
        driver
            .stack()
            .take_delivered()
            .into_iter()
            .map(|d| (d.info.checksum, d.info.coalesced.is_some()))
            .collect::<Vec<_>>()
    };
    let cut_unmarked = vec![(IndicatedChecksum::Unknown, false); 3];
    assert_eq!(indicate(&driver), cut_unmarked, "before the encapsulation: cut, no valid mark");

    // Set on with NDIS_ENCAPSULATION_NULL for both versions: one coalesced unit, marked valid.
    assert_eq!(adapter.set_oid(OID_OFFLOAD_ENCAPSULATION, &encapsulation((ON, NULL), (ON, NULL))), Ok(28));
    assert_eq!(adapter.receive_task_offloads(), TaskOffloads::ALL);
    assert_eq!(indicate(&driver), vec![(IndicatedChecksum::Valid { value_computed: false }, true)]);

    // Refusals change nothing: an encapsulation the adapter names for no offload, none at all
    // (INVALID_PARAMETER), an unknown Enabled, a wrong header, a short buffer.
    let refusals = [
        (encapsulation((0, 0), (ON, 0x20)), OidError::InvalidParameter),
        (encapsulation((0, 0), (ON, IEEE_802_3 | 0x100)), OidError::InvalidParameter),
        (encapsulation((0, 0), (ON, 0)), OidError::InvalidParameter),
        (encapsulation((OFF, 0), (3, NULL)), OidError::InvalidParameter),
        ([&[0x80, 1, 28, 0][..], &encapsulation((OFF, 0), (OFF, 0))[4..]].concat(), OidError::InvalidData),
        ([&[0xA8, 1, 27, 0][..], &encapsulation((OFF, 0), (OFF, 0))[4..]].concat(), OidError::InvalidData),
        (encapsulation((OFF, 0), (OFF, 0))[..27].to_vec(), OidError::BufferTooShort { needed: 28 }),
    ];
    for (request, error) in refusals {
        assert_eq!(adapter.set_oid(OID_OFFLOAD_ENCAPSULATION, &request), Err(error), "{request:02x?}");
    }
    assert_eq!(adapter.receive_task_offloads(), TaskOffloads::ALL);

    // IPv4 set off (IPv6 unchanged): every IPv4 offload off in both directions, IPv6's stay.
    assert_eq!(adapter.set_oid(OID_OFFLOAD_ENCAPSULATION, &encapsulation((OFF, 0), (0, 0))), Ok(28));
    let now = adapter.task_offloads();
    for v4 in
        [TaskOffloads::LSO_V4, TaskOffloads::RSC_V4, TaskOffloads::TCP4_CHECKSUM_RX, TaskOffloads::IPV4_CHECKSUM_TX]
    {
        assert!(!now.contains(v4), "{v4:?}");
    }
    for v6 in [TaskOffloads::LSO_V6, TaskOffloads::RSC_V6, TaskOffloads::TCP6_CHECKSUM_RX, TaskOffloads::USO_V6] {
        assert!(now.contains(v6), "{v6:?}");
    }
    assert_eq!(indicate(&driver), cut_unmarked, "IPv4 off: cut, no valid mark");
    let lso = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1000)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    assert_eq!(driver.transmit_offloaded(&[&tcp4(3000)], &[lso]), Ok(vec![TransmitStatus::OffloadOff]));
    // On again, with the encapsulation ndis.h tells a protocol to set (IEEE 802.3; LLC/SNAP for
    // IPv6): the adapter's packets carry no link-layer header whichever is named.
    assert_eq!(
        adapter.set_oid(OID_OFFLOAD_ENCAPSULATION, &encapsulation((ON, IEEE_802_3), (ON, LLC_SNAP_ROUTED))),
        Ok(28)
    );
    assert_eq!(adapter.task_offloads(), TaskOffloads::ALL);
    assert_eq!(adapter.receive_task_offloads(), TaskOffloads::ALL);
    assert_eq!(indicate(&driver), vec![(IndicatedChecksum::Valid { value_computed: false }, true)]);
    driver.close(file);
}

/// `receive_coalesced` counts the packets indicated whole as coalesced segments (a super-packet
/// the stack takes as it is, with its checksum valid or partial), not a plain packet indicated
/// as it is or with its pseudo-header sum.
#[test]
fn only_super_packets_indicated_whole_count_as_coalesced() {
    let driver = HostDriver::new_polled();
    driver.stack().set_offloads(StackOffloads {
        coalesced_tcp4: true,
        coalesced_tcp6: true,
        coalesced_udp: true,
        partial_checksum: true,
        checksum_valid: true,
        coalescing_rules: false,
    });
    let file = driver.open(1, ringtun_driver::ring_abi::CallerBitness::Bits64);
    let (input, receive) = registration(&driver);
    driver.ioctl(&file, ringtun_driver::ring_abi::IOCTL_REGISTER_RINGS, &input, &mut []).unwrap();
    let valid = OffloadMeta { flags: OFFLOAD_F_DATA_VALID, ..OffloadMeta::NONE };
    let partial = OffloadMeta { flags: OFFLOAD_F_NEEDS_CSUM, csum_start: 20, csum_offset: 16, ..OffloadMeta::NONE };
    let super_packet =
        |meta: OffloadMeta| OffloadMeta { gso_type: OFFLOAD_GSO_TCPV4, hdr_len: 40, gso_size: 1000, ..meta };
    let packet = tcp4(3000);
    let mut at = 0;
    for meta in [valid, partial, super_packet(valid), super_packet(partial)] {
        at = publish(&receive, at, &packet, &meta);
    }
    driver.poll_receive();
    let delivered = driver.stack().take_delivered();
    assert_eq!(delivered.len(), 4, "each indicated whole");
    let stats = driver.adapter().stats();
    assert_eq!((stats.receive_coalesced, stats.receive_segmented, stats.receive_dropped_offload), (2, 0, 0));
    driver.close(file);
    drop(receive);
}

/// An adapter that offers no task offload (its offload attributes were refused) answers
/// `OID_OFFLOAD_ENCAPSULATION` as a miniport without offloads: not supported.
#[test]
fn an_adapter_without_offloads_does_not_take_the_encapsulation() {
    let driver = HostDriver::new_polled();
    let adapter = driver.adapter();
    let request = encapsulation((1, 2), (1, 2));
    assert_eq!(adapter.set_oid(OID_OFFLOAD_ENCAPSULATION, &request), Ok(28));
    adapter.offer_task_offloads(TaskOffloads::NONE, TaskOffloads::NONE);
    assert_eq!(adapter.set_oid(OID_OFFLOAD_ENCAPSULATION, &request), Err(OidError::NotSupported));
}

/// A v2 registration with offloads (room 16/0 on both rings) of fresh host rings; returns the
/// input bytes and the Receive ring's memory.
fn registration(driver: &std::sync::Arc<HostDriver>) -> (Vec<u8>, ReceiveRing) {
    use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
    use ringtun_driver::ring_abi::{RegistrationFlags, RingGeometry, Room};
    use zerocopy::IntoBytes;
    let geometry = RingGeometry::new(RingVersion::V2, 0x20000, Room::new(16, 0)).unwrap();
    let send = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
    let receive = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
    let (send_event, _) = driver.kernel().create_event(true, false);
    let (receive_event, _) = driver.kernel().create_event(true, false);
    let desc = |ptr: u64, event| RingDescV2 {
        ring_size: geometry.ring_size(),
        headroom: 16,
        tailroom: 0,
        ring_ptr: ptr,
        tail_moved_event: event,
    };
    let input = RegistrationV2 {
        version: 2,
        flags: RegistrationFlags::OFFLOAD.bits(),
        send: desc(send.as_ptr() as u64, send_event),
        receive: desc(receive.as_ptr() as u64, receive_event),
    }
    .as_bytes()
    .to_vec();
    (input, ReceiveRing { _send: send, memory: receive, geometry })
}

/// The rings of [`registration`], kept alive for the session.
struct ReceiveRing {
    _send: std::sync::Arc<ringtun_driver::host::RingAllocation>,
    memory: std::sync::Arc<ringtun_driver::host::RingAllocation>,
    geometry: ringtun_driver::ring_abi::RingGeometry,
}

impl ReceiveRing {
    fn ring(&self) -> ringtun_driver::ring_abi::Ring {
        // SAFETY: the allocation outlives the ring in these tests (both live in the test's frame).
        let shared = unsafe {
            ringtun_driver::ring_abi::SharedRing::new(self.memory.as_ptr(), self.memory.len(), RingVersion::V2)
        }
        .unwrap();
        ringtun_driver::ring_abi::Ring::new(shared, self.geometry).unwrap()
    }
}
