//! Targets `offload_meta` and `segmenter`: the offload extension against the independent model
//! of [`crate::offload_model`].
//!
//! `offload_meta`: any 16-byte metadata block with any packet (raw bytes, or a well-formed
//! packet whose metadata and headers are mutated field by field). Promises: ring-abi's
//! validator gives exactly the model's answer (the same first broken rule, or the same segment
//! count and header length); and in an offload session on the engine, a slot with that metadata
//! is dropped and counted when invalid, indicated when valid, and released in order either way,
//! without a write to the Receive ring's data area or outside the rings.
//!
//! `segmenter`: a well-formed super-packet (IPv4 with options or IPv6, TCP with options or UDP,
//! any payload and segment size, any TCP flags a super-packet may have, any checksum state).
//! Promises: ring-abi's segment headers with the payload slices are valid IP packets whose
//! payloads concatenate to the original's (lengths, IPv4 identification and checksum, TCP
//! sequence numbers and FIN/PSH/CWR, L4 checksums, all checked by the model's own code); the
//! engine's Receive path, for each kind of stack, indicates the packet whole exactly as the spec
//! says (as it is, or with the pseudo-header sum written in) or cuts it into such packets; the
//! engine's Send path cuts a large send into such packets for a session without offloads, and
//! writes it as one slot with exact metadata for a session with them.

use ring_abi::{GsoKind, OffloadMeta, RegistrationFlags, RingVersion, Room, MAX_OFFLOAD_HEADER, OFFLOAD_META_SIZE};
use ringtun_driver::engine::{ReceivePoll, TransmitOffload, TransmitStatus};
use ringtun_driver::host::HostDriver;
use ringtun_driver::platform::{IndicatedChecksum, StackOffloads};

use super::rig::{next_session_works, Rig};
use super::Input;
use crate::offload_model::{
    check_segments, check_sent_segments, fold, model_validate, ones, PacketSpec, ACK, ECE, PSH, RST, SYN, URG,
};

/// A well-formed packet from the input, and a segment size within the segment limit.
fn packet_spec(input: &mut Input<'_>) -> (PacketSpec, u16) {
    let shape = input.u8();
    let mut spec = PacketSpec {
        v6: shape & 1 != 0,
        udp: shape & 2 != 0,
        ip_options: input.u8() % 11,
        tcp_options: input.u8() % 11,
        payload: 0,
        tcp_flags: input.u8() & !(SYN | RST | URG),
        seq: input.u32(),
        ack: input.u32(),
        ip_id: input.u16(),
        seed: input.u32(),
    };
    let room = 0xFFFF - spec.header_len();
    // Small payloads as often as large ones.
    let raw = usize::from(input.u16());
    spec.payload = 1 + if shape & 4 != 0 { raw % 3000 } else { raw } % room;
    let least = spec.payload.div_ceil(128);
    let raw = usize::from(input.u16());
    let gso = least + raw % (spec.payload - least + 1);
    (spec, gso as u16)
}

/// Runs one `offload_meta` input.
pub fn run_meta(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let (meta, packet) = if mode & 1 == 0 {
        let mut block = [0u8; OFFLOAD_META_SIZE as usize];
        block.copy_from_slice(&{
            let b = input.bytes(16);
            let mut a = [0u8; 16];
            a[..b.len()].copy_from_slice(b);
            a
        });
        let packet = input.rest();
        (OffloadMeta::from_bytes(block), packet[..packet.len().min(0xFFFF)].to_vec())
    } else {
        let (spec, gso) = packet_spec(&mut input);
        let mut packet = spec.bytes();
        let mut meta = spec.meta(gso, input.u8() % 3);
        if mode & 2 != 0 {
            meta = OffloadMeta { gso_type: 0, hdr_len: 0, gso_size: 0, ..meta };
        }
        // Mutations: a metadata field or a header byte, each to any value.
        for _ in 0..input.u8() % 4 {
            let value = input.u16();
            match input.u8() % 9 {
                0 => meta.flags = value as u8,
                1 => meta.gso_type = value as u8,
                2 => meta.hdr_len = value,
                3 => meta.gso_size = value,
                4 => meta.csum_start = value,
                5 => meta.csum_offset = value,
                6 => meta.reserved[usize::from(value % 6)] = (value >> 8) as u8,
                _ => {
                    let at = usize::from(input.u8()) % packet.len().min(MAX_OFFLOAD_HEADER);
                    packet[at] = value as u8;
                }
            }
        }
        if mode & 4 != 0 {
            packet.truncate(usize::from(input.u16()) % (packet.len() + 1));
        }
        (meta, packet)
    };
    let len = packet.len() as u32;
    let headers = &packet[..packet.len().min(MAX_OFFLOAD_HEADER)];
    let got = meta.validate(headers, len);
    let want = model_validate(&meta, &packet);
    match (&got, &want) {
        (Ok(None), Ok(None)) => {}
        (Ok(Some(plan)), Ok(Some((segments, header_len)))) => {
            assert_eq!((plan.segment_count(), plan.header_len), (*segments, *header_len), "{meta:?}");
            assert_eq!(u32::from(plan.data_length), len);
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "{meta:?}"),
        _ => panic!("validator {got:?}, model {want:?} for {meta:?}"),
    }
    if mode & 8 != 0 && !packet.is_empty() {
        through_the_engine(&meta, &packet, want.is_ok(), input.u8());
    }
}

/// One slot with `meta` and `packet` in an offload session: dropped and counted if invalid,
/// indicated otherwise; released in order; the data area untouched.
fn through_the_engine(meta: &OffloadMeta, packet: &[u8], valid: bool, stack_mode: u8) {
    let driver = HostDriver::new_polled();
    driver.stack().set_offloads(stack(stack_mode));
    let room = Room::new(OFFLOAD_META_SIZE as u16, 0);
    let rig = Rig::open(&driver, RingVersion::V2, room, room, RegistrationFlags::OFFLOAD);
    let geometry = *rig.receive.geometry();
    let slot = geometry.slot_size(packet.len() as u32, room).expect("slot");
    let data_offset = 8 + OFFLOAD_META_SIZE;
    rig.receive
        .write_packet_header(
            0,
            ring_abi::PacketHeader::V2 {
                slot_size: slot,
                data_offset: data_offset as u16,
                data_length: packet.len() as u16,
            },
        )
        .expect("header");
    rig.receive.write_offload_meta(0, meta).expect("metadata");
    rig.receive.write_data(data_offset, packet).expect("data");
    let mut before = vec![0u8; geometry.data_area_size() as usize];
    rig.receive.read_data(0, &mut before).expect("area");
    rig.receive.store_tail(slot);
    assert_eq!(driver.poll_receive(), ReceivePoll::Consumed);
    let stats = driver.adapter().stats();
    let delivered = driver.stack().take_delivered();
    let plain_ip = (packet[0] >> 4 == 4 && packet.len() >= 20) || (packet[0] >> 4 == 6 && packet.len() >= 40);
    if meta.is_none() {
        assert_eq!(delivered.len(), usize::from(plain_ip));
    } else if valid {
        assert!(!delivered.is_empty(), "a valid packet was not indicated");
        assert_eq!(stats.receive_dropped_offload, 0);
    } else {
        assert!(delivered.is_empty(), "an invalid packet was indicated");
        assert_eq!(stats.receive_dropped_offload, 1);
    }
    assert_eq!(rig.receive.load_head(), slot, "the slot is released");
    let mut after = vec![0u8; before.len()];
    rig.receive.read_data(0, &mut after).expect("area");
    assert!(after == before, "the engine wrote into the Receive data area");
    rig.close();
    next_session_works(&driver);
}

/// The kinds of stack the engine meets: nothing, checksums only, Windows-like receive coalescing
/// of TCP with valid checksums, Linux-TUN-like everything.
fn stack(mode: u8) -> StackOffloads {
    match mode % 4 {
        0 => StackOffloads::default(),
        1 => StackOffloads { checksum_valid: true, ..StackOffloads::default() },
        2 => StackOffloads {
            coalesced_tcp4: true,
            coalesced_tcp6: true,
            checksum_valid: true,
            coalescing_rules: true,
            ..StackOffloads::default()
        },
        _ => StackOffloads {
            coalesced_tcp4: true,
            coalesced_tcp6: true,
            coalesced_udp: true,
            partial_checksum: true,
            checksum_valid: true,
            coalescing_rules: false,
        },
    }
}

/// Runs one `segmenter` input.
pub fn run_segmenter(data: &[u8]) {
    let mut input = Input::new(data);
    let (spec, gso) = packet_spec(&mut input);
    let flags = input.u8() % 3;
    let stack_mode = input.u8();
    let engine = input.u8();
    let original = spec.bytes();
    let meta = spec.meta(gso, flags);
    let header_len = spec.header_len();

    // ring-abi's segmenter.
    let plan = meta.validate(&original[..original.len().min(MAX_OFFLOAD_HEADER)], original.len() as u32);
    let plan = match plan {
        Ok(Some(plan)) => plan,
        other => panic!("a well-formed super-packet refused: {other:?}"),
    };
    let mut segments = Vec::new();
    for k in 0..plan.segment_count() {
        let spec_k = plan.segment_payload(k).expect("segment");
        let at = spec_k.payload_offset as usize;
        let payload = &original[at..at + spec_k.payload_len as usize];
        let mut header = [0u8; MAX_OFFLOAD_HEADER];
        plan.segment_header(&original, k, ring_abi::checksum::sum(payload), &mut header).expect("header");
        let mut seg = header[..header_len].to_vec();
        seg.extend_from_slice(payload);
        segments.push(seg);
    }
    check_segments(&original, header_len, usize::from(gso), &segments).unwrap_or_else(|e| panic!("ring-abi: {e}"));

    if engine & 1 != 0 {
        engine_receive(&spec, &original, &meta, stack(stack_mode));
    }
    if engine & 2 != 0 {
        engine_send(&spec, &original, gso, engine & 4 != 0);
    }
}

/// The engine's Receive path with one super-packet slot, for a stack that takes `stack`.
fn engine_receive(spec: &PacketSpec, original: &[u8], meta: &OffloadMeta, stack: StackOffloads) {
    let driver = HostDriver::new_polled();
    driver.stack().set_offloads(stack);
    let room = Room::new(OFFLOAD_META_SIZE as u16 + 8, 8);
    let rig = Rig::open(&driver, RingVersion::V2, room, room, RegistrationFlags::OFFLOAD);
    let geometry = *rig.receive.geometry();
    let slot = geometry.slot_size(original.len() as u32, room).expect("slot");
    let data_offset = 8 + OFFLOAD_META_SIZE + 8;
    let header = ring_abi::PacketHeader::V2 {
        slot_size: slot,
        data_offset: data_offset as u16,
        data_length: original.len() as u16,
    };
    rig.receive.write_packet_header(0, header).expect("header");
    rig.receive.write_offload_meta(0, meta).expect("metadata");
    rig.receive.write_data(data_offset, original).expect("data");
    rig.receive.store_tail(slot);
    assert_eq!(driver.poll_receive(), ReceivePoll::Consumed);
    let delivered = driver.stack().take_delivered();
    let kind = match (spec.v6, spec.udp) {
        (_, true) => GsoKind::UdpL4,
        (false, false) => GsoKind::TcpV4,
        (true, false) => GsoKind::TcpV6,
    };
    let l3 = spec.l3_len();
    let field = l3 + if spec.udp { 6 } else { 16 };
    let partial = IndicatedChecksum::Partial { start: l3 as u16, offset: (field - l3) as u16 };
    // The spec's decision (section 15.5), restated. A stack that keeps NDIS's coalescing rules
    // takes TCP units only with ACK, PSH and ECE, without IPv4 options and the ECN bit (the
    // model's TCP options are NOPs, which the rules allow).
    let coalescible = spec.udp
        || !stack.coalescing_rules
        || (spec.tcp_flags & !(ACK | PSH | ECE) == 0
            && (spec.v6 || spec.ip_options == 0)
            && meta.gso_type & ring_abi::OFFLOAD_GSO_ECN == 0);
    let whole = stack.coalesces(kind) && coalescible;
    let expected_whole = match (meta.flags, whole) {
        (1, true) if stack.partial_checksum => Some((partial, false)),
        (2, true) if stack.checksum_valid => Some((IndicatedChecksum::Valid { value_computed: false }, false)),
        (_, true) if stack.partial_checksum => Some((partial, true)),
        _ => None,
    };
    match expected_whole {
        Some((checksum, pseudo)) => {
            assert_eq!(delivered.len(), 1, "indicated whole");
            let d = &delivered[0];
            assert_eq!(d.info.checksum, checksum);
            let unit = d.info.coalesced.expect("a coalesced unit");
            assert_eq!(
                (unit.kind, unit.segment_size, usize::from(unit.header_len)),
                (kind, meta.gso_size, spec.header_len())
            );
            let mut want = original.to_vec();
            if pseudo {
                // The pseudo-header sum of the whole super-packet in the checksum field.
                let (addresses, proto) = if spec.v6 { (&want[8..40], want[6]) } else { (&want[12..20], want[9]) };
                let l4 = (want.len() - l3) as u32;
                let sum = fold(ones(addresses) + u32::from(proto) + (l4 >> 16) + (l4 & 0xFFFF));
                want[field..field + 2].copy_from_slice(&sum.to_be_bytes());
                assert_eq!(d.header_len, spec.header_len(), "the rewritten header in front of the ring bytes");
            } else {
                assert_eq!(d.header_len, 0, "as it is in the ring");
            }
            assert!(d.bytes == want, "whole packet bytes");
            assert_eq!(driver.adapter().stats().receive_coalesced, 1);
        }
        None => {
            let packets: Vec<Vec<u8>> = delivered.iter().map(|d| d.bytes.clone()).collect();
            check_segments(original, spec.header_len(), usize::from(meta.gso_size), &packets)
                .unwrap_or_else(|e| panic!("engine (receive): {e}"));
            let mark = if stack.checksum_valid {
                IndicatedChecksum::Valid { value_computed: true }
            } else {
                IndicatedChecksum::Unknown
            };
            for d in &delivered {
                assert_eq!(d.info.checksum, mark);
                assert!(d.info.coalesced.is_none());
                assert_eq!(d.header_len, spec.header_len());
            }
            let stats = driver.adapter().stats();
            assert_eq!((stats.receive_segmented, stats.receive_segments), (1, delivered.len() as u64));
        }
    }
    assert_eq!(rig.receive.load_head(), slot);
    rig.close();
}

/// The engine's Send path with a large send of `original` (whose checksums the stack left
/// undone): cut for a session without offloads (v1 or v2), one slot with metadata with them.
fn engine_send(spec: &PacketSpec, original: &[u8], gso: u16, offloads: bool) {
    let kind = match (spec.v6, spec.udp) {
        (_, true) => GsoKind::UdpL4,
        (false, false) => GsoKind::TcpV4,
        (true, false) => GsoKind::TcpV6,
    };
    let l3 = spec.l3_len();
    let field = l3 + if spec.udp { 6 } else { 16 };
    let mut sent = original.to_vec();
    sent[field..field + 2].copy_from_slice(&[0xDE, 0xAD]);
    if !spec.v6 {
        sent[10..12].copy_from_slice(&[0, 0]);
    }
    let request = TransmitOffload {
        segmentation: Some((kind, gso)),
        l4_checksum: true,
        ip_checksum: !spec.v6,
        ..TransmitOffload::default()
    };
    let driver = HostDriver::new_polled();
    let (version, room, flags) = match (offloads, spec.seed & 1) {
        (true, _) => (RingVersion::V2, Room::new(OFFLOAD_META_SIZE as u16, 4), RegistrationFlags::OFFLOAD),
        (false, 0) => (RingVersion::V1, Room::NONE, RegistrationFlags::EMPTY),
        (false, _) => (RingVersion::V2, Room::new(12, 4), RegistrationFlags::EMPTY),
    };
    let receive_room = if offloads { Room::new(OFFLOAD_META_SIZE as u16, 0) } else { Room::NONE };
    let rig = Rig::open(&driver, version, room, receive_room, flags);
    assert_eq!(driver.transmit_offloaded(&[&sent], &[request]), Ok(vec![TransmitStatus::Sent]));
    let tail = rig.send.load_tail();
    let mut head = 0;
    let mut packets = Vec::new();
    let mut metas = Vec::new();
    while head != tail {
        let view = rig.send.packet_at(head, tail).expect("a valid ring").expect("a packet");
        let mut bytes = vec![0u8; view.data_length as usize];
        rig.send.read_data(view.data_start(), &mut bytes).expect("inside");
        if offloads {
            metas.push(rig.send.read_offload_meta(view.slot_offset));
        }
        packets.push(bytes);
        head = rig.send.geometry().advance(head, view.slot_size);
    }
    if offloads {
        assert_eq!(packets.len(), 1, "one slot for the super-packet");
        assert_eq!(metas[0], spec.meta(gso, 1), "exact metadata");
        let mut want = original.to_vec();
        let (addresses, proto) = if spec.v6 { (&want[8..40], want[6]) } else { (&want[12..20], want[9]) };
        let l4 = (want.len() - l3) as u32;
        let sum = fold(ones(addresses) + u32::from(proto) + (l4 >> 16) + (l4 & 0xFFFF));
        want[field..field + 2].copy_from_slice(&sum.to_be_bytes());
        assert!(packets[0] == want, "the super-packet with its pseudo-header sum");
        assert_eq!(driver.adapter().stats().send_offload_packets, 1);
    } else {
        check_sent_segments(original, spec.header_len(), usize::from(gso), &packets)
            .unwrap_or_else(|e| panic!("engine (send): {e}"));
        let stats = driver.adapter().stats();
        assert_eq!((stats.send_segmented, stats.send_segments), (1, packets.len() as u64));
    }
    rig.close();
}
