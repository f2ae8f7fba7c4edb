//! The offload extension and the write-space signal (`docs/ring-protocol.md` sections 15 and 16):
//! negotiation, large sends of the stack as one super-packet or cut by the engine, super-packets
//! of the client handed to each kind of stack whole or cut, checksum states, a hostile client's
//! invalid metadata, and a client waiting for space.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::{
    CallerBitness, GsoKind, OffloadMeta, PacketHeader, RingVersion, Room, MAX_OFFLOAD_HEADER, OFFLOAD_F_DATA_VALID,
    OFFLOAD_F_NEEDS_CSUM, OFFLOAD_META_SIZE,
};
use ringtun::backend::ClientEvent;
use ringtun::{Error, IncomingPacket, Session, SessionConfig};

use super::common::{receive_n, session, v1, v2, PATIENCE};
use crate::backend::{Backend, DeliveredChecksum, Failure, Outcome, SendRequest, StackOffloadMode};
use crate::offload_model::{
    as_ndis_sends, as_stack_sends, check_packet, check_segments, check_sent_segments, with_pseudo_sum, PacketSpec, ACK,
    FIN, PSH, SYN,
};
use crate::{ensure, ensure_eq};

/// A v2 session with offloads and the write-space signal, room 16/16 incoming, 8/0 outgoing.
pub fn offload_config() -> SessionConfig {
    SessionConfig {
        incoming_room: Room::new(16, 16),
        outgoing_room: Room::new(8, 0),
        offload: true,
        write_space: true,
        ..SessionConfig::default()
    }
}

fn kind_of(spec: &PacketSpec) -> GsoKind {
    match (spec.v6, spec.udp) {
        (_, true) => GsoKind::UdpL4,
        (false, false) => GsoKind::TcpV4,
        (true, false) => GsoKind::TcpV6,
    }
}

fn receive_one<C: ringtun::backend::Backend>(s: &Session<C>) -> Result<IncomingPacket<'_, C>, Failure> {
    s.receive_wait(PATIENCE)?.ok_or_else(|| Failure::new("no incoming packet"))
}

/// Offloads and the write-space signal are granted to a v2 client that asks, on top of the room
/// it asked for; a plain v2 client and a v1 client keep their layouts (56 and 48 bytes).
pub fn negotiated<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = session(b, offload_config())?;
    ensure_eq!(s.version(), RingVersion::V2);
    ensure!(s.offloads() && s.write_space_signal(), "offloads or write-space signal not granted");
    ensure_eq!(s.config().send.geometry.room(), Room::new(16 + OFFLOAD_META_SIZE as u16, 16));
    ensure_eq!(s.config().receive.geometry.room(), Room::new(8 + OFFLOAD_META_SIZE as u16, 0));
    ensure!(s.config().write_space_event.is_some(), "no write-space event registered");
    ensure_eq!(s.outgoing_room(), Room::new(8, 0));
    drop(s);
    let plain = session(b, v2())?;
    ensure!(!plain.offloads() && !plain.write_space_signal(), "plain v2 got extensions");
    ensure_eq!(plain.config().write_space_event, None);
    let mut slot = plain.allocate(40, 0, 0)?;
    ensure_eq!(slot.set_offload(OffloadMeta::NONE), Err(Error::OffloadsNotNegotiated));
    drop(slot);
    drop(plain);
    let old = Session::open(b.open_client(2, CallerBitness::Bits64), SessionConfig { offload: true, ..v1() })?;
    ensure_eq!(old.version(), RingVersion::V1);
    ensure!(!old.offloads(), "v1 with offloads");
    Ok(())
}

/// The stack's large sends (TCP over IPv4 and IPv6, UDP) and checksum requests: one slot with
/// exact metadata for a client with offloads, whose segments the client library cuts into valid
/// packets; complete packets cut by the engine for v1 and plain v2 clients; a packet without
/// payload (a SYN) with its checksum completed.
pub fn large_sends<B: Backend>(b: &B) -> Result<(), Failure> {
    let specs = [
        (PacketSpec { tcp_options: 3, ..PacketSpec::tcp(false, 20_000, 1) }, 1448u16),
        (PacketSpec::tcp(true, 9_000, 2), 1428),
        (PacketSpec { ip_options: 2, ..PacketSpec::udp(false, 5_000, 3) }, 1200),
        (PacketSpec::udp(true, 3_001, 4), 1000),
    ];
    let s = session(b, offload_config())?;
    for (spec, gso) in &specs {
        let original = spec.bytes();
        let sent = as_stack_sends(spec, &original);
        let request = SendRequest {
            segmentation: Some((kind_of(spec), *gso)),
            l4_checksum: true,
            ip_checksum: !spec.v6,
            ..SendRequest::default()
        };
        ensure_eq!(b.transmit_requests(&[&sent], &[request]), vec![Outcome::Sent]);
        let mut p = receive_one(&s)?;
        ensure_eq!(p.offload(), spec.meta(*gso, OFFLOAD_F_NEEDS_CSUM), "metadata of {spec:?}");
        ensure_eq!(p.headroom_mut().len(), 16, "the caller's head room after the metadata block");
        ensure!(p.data() == with_pseudo_sum(spec, &original), "super-packet bytes of {spec:?}");
        let plan =
            p.offload_plan().map_err(|e| Failure::new(format!("{e:?}")))?.ok_or_else(|| Failure::new("plain"))?;
        let mut segments = Vec::new();
        let mut header = [0u8; MAX_OFFLOAD_HEADER];
        for k in 0..plan.segment_count() {
            let (n, payload) = p.segment(&plan, k, &mut header).ok_or_else(|| Failure::new("segment"))?;
            segments.push([&header[..n], payload].concat());
        }
        check_segments(&original, spec.header_len(), usize::from(*gso), &segments).map_err(Failure::new)?;
    }
    ensure_eq!(b.counters().send_offload_packets, specs.len() as u64);
    drop(s);

    for (n, config) in [v1(), v2()].into_iter().enumerate() {
        let s = Session::open(b.open_client(10 + n as u64, CallerBitness::Bits64), config)?;
        let before = b.counters();
        let mut segments_total = 0;
        for (spec, gso) in &specs {
            let original = spec.bytes();
            let sent = as_stack_sends(spec, &original);
            let request = SendRequest {
                segmentation: Some((kind_of(spec), *gso)),
                l4_checksum: true,
                ip_checksum: !spec.v6,
                ..SendRequest::default()
            };
            ensure_eq!(b.transmit_requests(&[&sent], &[request]), vec![Outcome::Sent]);
            let count = (original.len() - spec.header_len()).div_ceil(usize::from(*gso));
            let got = receive_n(&s, count)?;
            check_sent_segments(&original, spec.header_len(), usize::from(*gso), &got)
                .map_err(|e| Failure::new(format!("{:?}: {e}", s.version())))?;
            segments_total += count as u64;
        }
        // A SYN (no payload) whose checksum the stack left to the adapter: completed.
        let syn = PacketSpec { tcp_flags: SYN, tcp_options: 5, ..PacketSpec::tcp(false, 0, 9) };
        let original = syn.bytes();
        let request =
            SendRequest { segmentation: None, l4_checksum: true, ip_checksum: true, ..SendRequest::default() };
        ensure_eq!(b.transmit_requests(&[&as_stack_sends(&syn, &original)], &[request]), vec![Outcome::Sent]);
        ensure_eq!(receive_n(&s, 1)?, vec![original], "the SYN with its checksums");
        let after = b.counters();
        ensure_eq!(after.send_segmented - before.send_segmented, specs.len() as u64 + 1);
        ensure_eq!(after.send_segments - before.send_segments, segments_total + 1);
        ensure_eq!(after.send_packets - before.send_packets, specs.len() as u64 + 1, "one per stack packet");
    }
    // A request the packet does not fit (a TCP large send of a UDP packet) is refused alone.
    let s = session(b, offload_config())?;
    let udp = PacketSpec::udp(false, 3000, 5).bytes();
    let ok = PacketSpec::tcp(false, 100, 6).bytes();
    let wrong = SendRequest {
        segmentation: Some((GsoKind::TcpV4, 1000)),
        l4_checksum: true,
        ip_checksum: false,
        ..SendRequest::default()
    };
    let outcomes = b.transmit_requests(&[&udp, &ok], &[wrong, SendRequest::default()]);
    ensure_eq!(outcomes, vec![Outcome::Invalid, Outcome::Sent]);
    ensure_eq!(receive_n(&s, 1)?, vec![ok]);
    Ok(())
}

/// The stack's large sends as NDIS hands them over (LSOv2 and USO: the length fields 0, the
/// pseudo-header sum without the length): the engine fills the lengths in from the packet's, so a
/// client with offloads gets the same super-packet as from a stack that fills them (Linux), and
/// v1/plain v2 clients get the same valid segments. A length field that is set but wrong is
/// still refused; an offload the adapter never offers (LSOv1) is dropped as off.
pub fn ndis_large_sends<B: Backend>(b: &B) -> Result<(), Failure> {
    let specs = [
        (PacketSpec { tcp_options: 3, ip_options: 1, ..PacketSpec::tcp(false, 20_000, 31) }, 1448u16),
        (PacketSpec::tcp(true, 9_000, 32), 1428),
        (PacketSpec::udp(false, 5_000, 33), 1000),
        (PacketSpec::udp(true, 3_000, 34), 1000),
    ];
    let ndis = |spec: &PacketSpec, gso: u16| SendRequest {
        segmentation: Some((kind_of(spec), gso)),
        l4_checksum: true,
        ip_checksum: !spec.v6,
        lengths_from_buffer: true,
        ..SendRequest::default()
    };
    let s = session(b, offload_config())?;
    for (spec, gso) in &specs {
        let original = spec.bytes();
        let sent = as_ndis_sends(spec, &original);
        ensure_eq!(b.transmit_requests(&[&sent], &[ndis(spec, *gso)]), vec![Outcome::Sent]);
        let p = receive_one(&s)?;
        ensure_eq!(p.offload(), spec.meta(*gso, OFFLOAD_F_NEEDS_CSUM), "metadata of {spec:?}");
        ensure!(p.data() == with_pseudo_sum(spec, &original), "super-packet bytes of {spec:?}: lengths filled in");
    }
    drop(s);
    for (n, config) in [v1(), v2()].into_iter().enumerate() {
        let s = Session::open(b.open_client(30 + n as u64, CallerBitness::Bits64), config)?;
        for (spec, gso) in &specs {
            let original = spec.bytes();
            let sent = as_ndis_sends(spec, &original);
            ensure_eq!(b.transmit_requests(&[&sent], &[ndis(spec, *gso)]), vec![Outcome::Sent]);
            let count = (original.len() - spec.header_len()).div_ceil(usize::from(*gso));
            let got = receive_n(&s, count)?;
            check_sent_segments(&original, spec.header_len(), usize::from(*gso), &got)
                .map_err(|e| Failure::new(format!("{:?} {spec:?}: {e}", s.version())))?;
        }
    }
    let s = session(b, offload_config())?;
    let spec = PacketSpec::tcp(false, 4_000, 35);
    let original = spec.bytes();
    let mut wrong_length = as_ndis_sends(&spec, &original);
    wrong_length[2..4].copy_from_slice(&1500u16.to_be_bytes());
    let v1_lso = SendRequest { not_offered: true, ..ndis(&spec, 1000) };
    let before = b.counters();
    let outcomes = b.transmit_requests(
        &[&wrong_length, &as_ndis_sends(&spec, &original), &original],
        &[ndis(&spec, 1000), v1_lso, SendRequest::default()],
    );
    ensure_eq!(outcomes, vec![Outcome::Invalid, Outcome::OffloadOff, Outcome::Sent]);
    ensure_eq!(receive_n(&s, 1)?, vec![original]);
    let after = b.counters();
    ensure_eq!(after.send_dropped_invalid - before.send_dropped_invalid, 1);
    ensure_eq!(after.send_dropped_offload_off - before.send_dropped_offload_off, 1);
    Ok(())
}

/// A large send of more segments than the ring's limit (`MAX_GSO_SEGMENTS`): 65 415 payload
/// bytes, the most NDIS hands over, with an MSS of 256 make 256 segments. The engine cuts it
/// into valid packets for every client, with offloads too (their metadata plain), instead of
/// refusing it: refused, TCP would retransmit the same large send and the connection stall.
pub fn large_sends_beyond_the_segment_limit<B: Backend>(b: &B) -> Result<(), Failure> {
    // Identifications from 0x7F80: the segments cross 0x7FFF and wrap to 0 (NDIS's range).
    let spec = PacketSpec { ip_id: 0x7F80, ..PacketSpec::tcp(false, 65_415, 41) };
    let mss = 256u16;
    let original = spec.bytes();
    let count = 65_415usize.div_ceil(usize::from(mss));
    ensure_eq!(count, 256);
    let request = SendRequest {
        segmentation: Some((GsoKind::TcpV4, mss)),
        l4_checksum: true,
        ip_checksum: true,
        lengths_from_buffer: true,
        ..SendRequest::default()
    };
    for (n, config) in [offload_config(), v1(), v2()].into_iter().enumerate() {
        let s = Session::open(b.open_client(40 + n as u64, CallerBitness::Bits64), config)?;
        let before = b.counters();
        let sent = as_ndis_sends(&spec, &original);
        ensure_eq!(b.transmit_requests(&[&sent], &[request]), vec![Outcome::Sent], "{:?}", s.version());
        let mut got = Vec::with_capacity(count);
        while got.len() < count {
            let p = receive_one(&s)?;
            if s.offloads() {
                ensure_eq!(p.offload(), OffloadMeta::NONE, "segment {} of the cut large send", got.len());
            }
            got.push(p.data().to_vec());
        }
        check_sent_segments(&original, spec.header_len(), usize::from(mss), &got)
            .map_err(|e| Failure::new(format!("{:?}: {e}", s.version())))?;
        let after = b.counters();
        ensure_eq!(after.send_segmented - before.send_segmented, 1);
        ensure_eq!(after.send_segments - before.send_segments, count as u64);
        ensure_eq!(after.send_offload_packets, before.send_offload_packets, "no super-packet slot");
        ensure_eq!(after.send_dropped_invalid, before.send_dropped_invalid);
    }
    Ok(())
}

/// Super-packets of the client (TCP over IPv4 and IPv6, UDP; each checksum state) to each kind
/// of stack: whole where the stack coalesces the kind and can be told the checksum state, with
/// the pseudo-header sum written in where it completes partial checksums, cut into valid packets
/// otherwise; single packets with a partial checksum completed for a stack that does not.
pub fn super_packets_to_each_stack<B: Backend>(b: &B) -> Result<(), Failure> {
    // TCP super-packets coalescing could not have built (a FIN, IPv4 options) go whole only to a
    // stack that does not keep its rules.
    let specs = [
        (PacketSpec::tcp(false, 12_000, 11), 1448u16),
        (PacketSpec { tcp_options: 2, ..PacketSpec::tcp(true, 7_001, 12) }, 1400),
        (PacketSpec::udp(false, 4_000, 13), 1000),
        (PacketSpec { tcp_flags: ACK | PSH | FIN, ..PacketSpec::tcp(false, 5_000, 15) }, 1448),
        (PacketSpec { ip_options: 2, ..PacketSpec::tcp(false, 4_000, 16) }, 1000),
    ];
    let s = session(b, offload_config())?;
    for mode in [StackOffloadMode::NOTHING, StackOffloadMode::RSC, StackOffloadMode::LINUX] {
        b.set_stack_offloads(mode);
        for (spec, gso) in &specs {
            for flags in [0, OFFLOAD_F_NEEDS_CSUM, OFFLOAD_F_DATA_VALID] {
                let original = spec.bytes();
                let before = b.counters();
                let mut slot = s.allocate(original.len(), 8, 0)?;
                slot.data_mut().copy_from_slice(&original);
                slot.set_offload(spec.meta(*gso, flags))?;
                s.send(slot)?;
                let coalescible = !mode.coalescing_rules || (spec.tcp_flags & FIN == 0 && spec.ip_options == 0);
                let whole = if spec.udp { mode.coalesce_udp } else { mode.coalesce_tcp && coalescible };
                let expect_whole =
                    whole && ((flags == OFFLOAD_F_DATA_VALID && mode.checksum_valid) || mode.partial_checksum);
                let count =
                    if expect_whole { 1 } else { (original.len() - spec.header_len()).div_ceil(usize::from(*gso)) };
                ensure!(b.wait_delivered(before.receive_packets + count as u64, PATIENCE), "nothing delivered");
                let got = b.take_delivered_packets();
                ensure_eq!(got.len(), count, "{mode:?} {spec:?} flags {flags}");
                let what = format!("{mode:?}, {:?}, flags {flags}", kind_of(spec));
                if expect_whole {
                    let d = &got[0];
                    ensure_eq!(d.coalesced, Some((kind_of(spec), *gso, count_of(&original, spec, *gso))), "{what}");
                    let l3 = spec.l3_len() as u16;
                    let partial = DeliveredChecksum::Partial { start: l3, offset: if spec.udp { 6 } else { 16 } };
                    if flags == OFFLOAD_F_DATA_VALID && mode.checksum_valid {
                        ensure_eq!(d.checksum, DeliveredChecksum::Valid, "{what}");
                        ensure!(d.bytes == original, "{what}: bytes");
                    } else if flags == OFFLOAD_F_NEEDS_CSUM {
                        ensure_eq!(d.checksum, partial, "{what}");
                        ensure!(d.bytes == original, "{what}: bytes as the client wrote them");
                    } else {
                        ensure_eq!(d.checksum, partial, "{what}");
                        ensure!(d.bytes == with_pseudo_sum(spec, &original), "{what}: pseudo-header sum");
                    }
                } else {
                    let bytes: Vec<Vec<u8>> = got.iter().map(|d| d.bytes.clone()).collect();
                    check_segments(&original, spec.header_len(), usize::from(*gso), &bytes)
                        .map_err(|e| Failure::new(format!("{what}: {e}")))?;
                    let mark = if mode.checksum_valid { DeliveredChecksum::Valid } else { DeliveredChecksum::Unknown };
                    ensure!(got.iter().all(|d| d.checksum == mark && d.coalesced.is_none()), "{what}: marks");
                }
            }
        }
    }
    ensure_eq!(b.counters().receive_dropped_offload, 0);
    // Single packets: a partial checksum is completed by the engine for a stack that cannot, and
    // passed on for one that can; DATA_VALID is said where it can be.
    let spec = PacketSpec::tcp(true, 700, 14);
    let original = spec.bytes();
    let meta = |flags| OffloadMeta { gso_type: 0, hdr_len: 0, gso_size: 0, ..spec.meta(1, flags) };
    for (mode, flags, want_checksum, want_bytes) in [
        (StackOffloadMode::NOTHING, OFFLOAD_F_NEEDS_CSUM, DeliveredChecksum::Unknown, original.clone()),
        (StackOffloadMode::RSC, OFFLOAD_F_NEEDS_CSUM, DeliveredChecksum::Valid, original.clone()),
        (
            StackOffloadMode::LINUX,
            OFFLOAD_F_NEEDS_CSUM,
            DeliveredChecksum::Partial { start: 40, offset: 16 },
            with_pseudo_sum(&spec, &original),
        ),
        (StackOffloadMode::NOTHING, OFFLOAD_F_DATA_VALID, DeliveredChecksum::Unknown, original.clone()),
        (StackOffloadMode::RSC, OFFLOAD_F_DATA_VALID, DeliveredChecksum::Valid, original.clone()),
    ] {
        b.set_stack_offloads(mode);
        let before = b.counters();
        // What the client writes with NEEDS_CSUM: the pseudo-header sum in the field.
        let written = if flags == OFFLOAD_F_NEEDS_CSUM { with_pseudo_sum(&spec, &original) } else { original.clone() };
        let mut slot = s.allocate(written.len(), 0, 0)?;
        slot.data_mut().copy_from_slice(&written);
        slot.set_offload(meta(flags))?;
        s.send(slot)?;
        ensure!(b.wait_delivered(before.receive_packets + 1, PATIENCE), "nothing delivered");
        let got = b.take_delivered_packets();
        ensure_eq!(got.len(), 1);
        ensure_eq!(got[0].checksum, want_checksum, "{mode:?} flags {flags}");
        ensure!(got[0].bytes == want_bytes, "{mode:?} flags {flags}: bytes");
        if want_checksum != (DeliveredChecksum::Partial { start: 40, offset: 16 }) {
            check_packet(&got[0].bytes).map_err(Failure::new)?;
        }
    }
    Ok(())
}

fn count_of(original: &[u8], spec: &PacketSpec, gso: u16) -> u16 {
    (original.len() - spec.header_len()).div_ceil(usize::from(gso)) as u16
}

/// A hostile client's invalid metadata: every rule of section 15.3 broken once, among valid
/// packets. Each broken packet is dropped and counted, alone: the valid ones arrive in order,
/// `head` moves past every slot, the ring is not stopped and nothing else changes.
pub fn invalid_metadata<B: Backend>(b: &B) -> Result<(), Failure> {
    b.set_stack_offloads(StackOffloadMode::NOTHING);
    let s = session(b, offload_config())?;
    let tcp = PacketSpec::tcp(false, 3000, 21);
    let good = tcp.meta(1000, OFFLOAD_F_NEEDS_CSUM);
    let udp = PacketSpec::udp(true, 2000, 22);
    let mut syn = tcp;
    syn.tcp_flags |= SYN;
    let mut fragment = tcp.bytes();
    fragment[6] = 0x20;
    let mut long = tcp.bytes();
    long[3] ^= 1;
    let mut icmp = tcp.bytes();
    icmp[9] = 1;
    let cases: Vec<(&str, Vec<u8>, OffloadMeta)> = vec![
        ("reserved byte", tcp.bytes(), OffloadMeta { reserved: [0, 0, 7, 0, 0, 0], ..good }),
        ("unknown flag", tcp.bytes(), OffloadMeta { flags: 4, ..good }),
        ("both flags", tcp.bytes(), OffloadMeta { flags: 3, ..good }),
        ("UFO type", tcp.bytes(), OffloadMeta { gso_type: 3, ..good }),
        ("ECN on UDP", udp.bytes(), OffloadMeta { gso_type: 0x85, ..udp.meta(500, OFFLOAD_F_NEEDS_CSUM) }),
        ("segment size without a super-packet", tcp.bytes(), OffloadMeta { gso_type: 0, ..good }),
        ("checksum fields without NEEDS_CSUM", tcp.bytes(), OffloadMeta { flags: OFFLOAD_F_DATA_VALID, ..good }),
        ("not IP", vec![0x55; 100], good),
        ("length field", long, good),
        ("fragment", fragment, good),
        ("ICMP", icmp, good),
        ("checksum start", tcp.bytes(), OffloadMeta { csum_start: 24, ..good }),
        ("checksum offset", tcp.bytes(), OffloadMeta { csum_offset: 6, ..good }),
        ("TCPV6 on IPv4", tcp.bytes(), OffloadMeta { gso_type: 4, ..good }),
        ("header length", tcp.bytes(), OffloadMeta { hdr_len: 60, ..good }),
        ("segment size 0", tcp.bytes(), OffloadMeta { gso_size: 0, ..good }),
        ("too many segments", tcp.bytes(), OffloadMeta { gso_size: 10, ..good }),
        ("SYN in a super-packet", syn.bytes(), good),
        ("no payload", PacketSpec::tcp(false, 0, 23).bytes(), OffloadMeta { hdr_len: 40, ..good }),
    ];
    let before = b.counters();
    let valid = PacketSpec::tcp(false, 300, 24).bytes();
    for (name, packet, meta) in &cases {
        let mut slot = s.allocate(packet.len(), 0, 0)?;
        slot.data_mut().copy_from_slice(packet);
        slot.set_offload(*meta)?;
        ensure!(slot.offload_plan().is_err(), "{name}: the client-side check accepts it");
        s.send(slot)?;
        let mut slot = s.allocate(valid.len(), 0, 0)?;
        slot.data_mut().copy_from_slice(&valid);
        s.send(slot)?;
    }
    ensure!(b.wait_delivered(before.receive_packets + cases.len() as u64, PATIENCE), "valid packets not delivered");
    let deadline = Instant::now() + PATIENCE;
    while b.counters().receive_dropped_offload - before.receive_dropped_offload < cases.len() as u64
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(1));
    }
    let after = b.counters();
    ensure_eq!(after.receive_dropped_offload - before.receive_dropped_offload, cases.len() as u64, "drops counted");
    ensure_eq!(after.receive_packets - before.receive_packets, cases.len() as u64, "only the valid packets");
    ensure_eq!(after.receive_ring_faults, 0, "the ring is not stopped");
    let delivered = b.take_delivered();
    ensure!(delivered.iter().all(|d| *d == valid), "a broken packet reached the stack");
    // Every slot released: the ring is empty again.
    let out = s.outgoing_ring();
    let deadline = Instant::now() + PATIENCE;
    while out.load_head() != out.load_tail() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    ensure_eq!(out.load_head(), out.load_tail(), "head released past every slot");
    // A slot whose data starts inside the metadata block (data offset below 24), written by
    // hand at the tail (the client library never writes one) with a valid-looking block.
    let at = out.load_tail();
    let geometry = *out.geometry();
    let slot = geometry.slot_size(valid.len() as u32, Room::new(8, 0)).ok_or_else(|| Failure::new("slot"))?;
    out.write_packet_header(at, PacketHeader::V2 { slot_size: slot, data_offset: 16, data_length: valid.len() as u16 })
        .map_err(|_| Failure::new("header"))?;
    out.write_offload_meta(at, &OffloadMeta::NONE).map_err(|_| Failure::new("metadata"))?;
    out.write_data(at + 16, &valid).map_err(|_| Failure::new("data"))?;
    let before = b.counters();
    if out.publish_tail(geometry.advance(at, slot)) {
        s.outgoing_event().set();
    }
    let deadline = Instant::now() + PATIENCE;
    while b.counters().receive_dropped_offload == before.receive_dropped_offload && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    let after = b.counters();
    ensure_eq!(after.receive_dropped_offload - before.receive_dropped_offload, 1, "data offset inside the block");
    ensure_eq!(after.receive_packets, before.receive_packets);
    ensure!(b.take_delivered().is_empty(), "indicated");
    Ok(())
}

/// A client whose outgoing ring is full waits on the write-space event and is woken as soon as
/// the stack returns packets; a client still waiting when the session ends is woken too.
pub fn write_space_wakes_the_client<B: Backend>(b: &B) -> Result<(), Failure> {
    b.set_hold(true);
    let config = SessionConfig { outgoing_capacity: 0x20000, ..offload_config() };
    let s = Arc::new(session(b, config)?);
    let packet = PacketSpec::tcp(false, 1400, 31).bytes();
    let mut sent = 0;
    loop {
        match s.allocate(packet.len(), 0, 0) {
            Ok(mut slot) => {
                slot.data_mut().copy_from_slice(&packet);
                s.send(slot)?;
                sent += 1;
            }
            Err(Error::RingFull) => break,
            Err(e) => return Err(e.into()),
        }
    }
    ensure!(b.wait_held(sent, PATIENCE), "the stack did not get every packet");
    ensure_eq!(s.counters().outgoing_ring_full, 1, "the refused allocation counted");
    ensure!(!s.wait_for_send_space(packet.len(), 0, 0, Duration::from_millis(20))?, "room while everything is held");
    ensure_eq!(s.counters().space_timeouts, 1);
    let signals_before = b.counters().receive_space_signals;
    let waiter = {
        let s = Arc::clone(&s);
        let len = packet.len();
        thread::spawn(move || {
            let start = Instant::now();
            (s.wait_for_send_space(len, 0, 0, Duration::from_secs(20)), start.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(30));
    let held = b.take_held();
    b.return_held(held);
    let (found, waited) = waiter.join().map_err(|_| Failure::new("waiter panicked"))?;
    ensure_eq!(found, Ok(true));
    ensure!(waited < Duration::from_secs(5), "woken after {waited:?}");
    ensure!(b.counters().receive_space_signals > signals_before, "the driver did not signal");
    ensure!(s.counters().space_signals >= 1, "the client was not woken by the event");
    ensure!(!s.outgoing_ring().load_space_waiting(), "space_waiting left set");

    // Full again, and the driver stops the ring while the client waits (a corrupt tail): the
    // client is woken and told the session's Receive direction ended.
    let mut more = 0;
    while let Ok(mut slot) = s.allocate(packet.len(), 0, 0) {
        slot.data_mut().copy_from_slice(&packet);
        s.send(slot)?;
        more += 1;
    }
    ensure!(b.wait_held(more, PATIENCE), "held");
    let waiter = {
        let s = Arc::clone(&s);
        let len = packet.len();
        thread::spawn(move || {
            let start = Instant::now();
            (s.wait_for_send_space(len, 0, 0, Duration::from_secs(20)), start.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(30));
    let out = s.outgoing_ring();
    out.store_tail(out.load_tail() ^ 4);
    s.outgoing_event().set();
    let (result, waited) = waiter.join().map_err(|_| Failure::new("waiter panicked"))?;
    ensure_eq!(result, Err(Error::SessionEnded));
    ensure!(waited < Duration::from_secs(5), "woken after {waited:?}");
    b.set_hold(false);
    b.return_held(b.take_held());
    Ok(())
}
