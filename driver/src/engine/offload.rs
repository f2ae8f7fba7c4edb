//! Offload decisions (sessions registered with `OFFLOAD`, and stack requests on any session).
//!
//! - Receive path: what a validated super-packet or checksum state becomes for the stack the
//!   platform has now ([`receive_action`]): one indication as it is in the ring, one whose L4
//!   checksum field is replaced by the pseudo-header sum (the stack completes it), or the packets
//!   the engine cuts it into (each with its own rewritten header and computed checksums).
//! - Send path: what a packet the stack hands over with a request (a large send, a checksum to
//!   complete) becomes in the ring ([`send_action`]): one super-packet with its metadata when the
//!   client negotiated offloads, otherwise the complete IP packets the engine cuts it into.
//!
//! The rules are in `docs/ring-protocol.md` section 15.

use ring_abi::{ChecksumState, Gso, GsoKind, IpVersion, OffloadPlan, Transport};

use crate::engine::oid::OidError;
use crate::platform::{Coalesced, IndicatedChecksum, IndicationInfo, IpKind, StackOffloads};

/// What the Receive path does with a packet whose metadata was validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveAction {
    /// One indication of the packet as the ring holds it.
    AsIs(IndicationInfo),
    /// One indication of the packet with its L4 checksum field replaced by the pseudo-header
    /// sum (a header the engine writes in front of the ring's payload), told to the stack as
    /// partial: the stack completes or verifies it itself.
    PseudoSum(IndicationInfo),
    /// One indication per segment (a packet that is not a super-packet: one, its checksum
    /// completed), each with a header the engine writes and computed checksums.
    Segment(IndicationInfo),
}

impl ReceiveAction {
    /// How many indications the action takes.
    pub fn indications(&self, plan: &OffloadPlan) -> usize {
        match self {
            Self::AsIs(_) | Self::PseudoSum(_) => 1,
            Self::Segment(_) => usize::from(plan.segment_count()),
        }
    }
}

fn ip_kind(plan: &OffloadPlan) -> IpKind {
    match plan.ip {
        IpVersion::V4 => IpKind::V4,
        IpVersion::V6 => IpKind::V6,
    }
}

fn coalesced(gso: &Gso, plan: &OffloadPlan) -> Coalesced {
    Coalesced {
        kind: gso.kind,
        segment_size: gso.segment_size,
        header_len: plan.header_len,
        segments: gso.segments,
        ecn: gso.ecn,
    }
}

/// Whether a validated TCP super-packet could have been built by NDIS receive segment
/// coalescing from the segments it stands for (NDIS: "Exception Conditions that Terminate
/// Coalescing"), judged from `headers`, the local copy of its first bytes its plan was validated
/// against: TCP flags only ACK, PSH and ECE (ECE is carried by every segment; CWR, which the
/// segmenter keeps only on the first, would differ between them, as the ECN bit of `gso_type`
/// says), no TCP option but NOPs, an end-of-list and one timestamp (every segment carries the
/// super-packet's options, so their timestamps are equal and the timestamp delta is 0), no IPv4
/// options (IPv6 extension headers never validate as TCP). `false` for anything else.
pub fn rsc_eligible(plan: &OffloadPlan, headers: &[u8]) -> bool {
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    const ECE: u8 = 0x40;
    const OPTION_END: u8 = 0;
    const OPTION_NOP: u8 = 1;
    const OPTION_TIMESTAMP: u8 = 8;
    const TIMESTAMP_LEN: u8 = 10;
    let Some(gso) = plan.gso else { return false };
    if plan.transport != Transport::Tcp || gso.ecn {
        return false;
    }
    let plain_ip = match plan.ip {
        IpVersion::V4 => plan.l3_len == 20,
        IpVersion::V6 => plan.l3_len == 40,
    };
    let l3 = usize::from(plan.l3_len);
    let Some(&flags) = headers.get(l3.wrapping_add(13)) else { return false };
    if !plain_ip || flags & !(ACK | PSH | ECE) != 0 {
        return false;
    }
    let Some(mut options) = headers.get(l3.wrapping_add(20)..usize::from(plan.header_len)) else { return false };
    let mut timestamps = 0u8;
    while let Some((&kind, rest)) = options.split_first() {
        match kind {
            OPTION_END => break,
            OPTION_NOP => options = rest,
            OPTION_TIMESTAMP if rest.first() == Some(&TIMESTAMP_LEN) => {
                timestamps = timestamps.saturating_add(1);
                match options.get(usize::from(TIMESTAMP_LEN)..) {
                    Some(after) => options = after,
                    None => return false,
                }
            }
            _ => return false,
        }
    }
    timestamps <= 1
}

/// The Receive path's decision for a validated packet, given the offloads the stack takes now;
/// `headers` is the local copy of the packet's first bytes its plan was validated against.
///
/// - A super-packet of a kind the stack coalesces (and, where the stack keeps the coalescing
///   rules, that could have been coalesced: [`rsc_eligible`]) is indicated whole: as it is if its
///   checksum is partial and the stack takes partial checksums, or valid (`DATA_VALID`) and the
///   stack can be told so (the checksum values themselves are then the client's, not computed);
///   with the pseudo-header sum written in if the stack takes partial checksums (the client's
///   checksum field is then not trusted); otherwise it is cut.
/// - Any other super-packet is cut. Segments carry computed checksums, and are told valid where
///   the stack can be told so.
/// - A partial checksum on a single packet is passed on where the stack completes it, and
///   completed by the engine otherwise.
/// - `DATA_VALID` on a single packet is passed on where the stack can be told (its values not
///   computed); elsewhere the packet goes as it is (its checksum is what the client wrote).
pub fn receive_action(plan: &OffloadPlan, headers: &[u8], stack: &StackOffloads) -> ReceiveAction {
    let kind = ip_kind(plan);
    let info = |checksum, coalesced| IndicationInfo { kind, transport: plan.transport, checksum, coalesced };
    let partial = plan
        .checksum_field()
        .map(|field| IndicatedChecksum::Partial { start: plan.l3_len, offset: field.wrapping_sub(plan.l3_len) });
    let computed = if stack.checksum_valid {
        IndicatedChecksum::Valid { value_computed: true }
    } else {
        IndicatedChecksum::Unknown
    };
    let as_client_wrote = IndicatedChecksum::Valid { value_computed: false };
    let whole = |gso: &Gso| {
        stack.coalesces(gso.kind)
            && (gso.kind == GsoKind::UdpL4 || !stack.coalescing_rules || rsc_eligible(plan, headers))
    };
    match plan.gso {
        Some(gso) if whole(&gso) => {
            let unit = Some(coalesced(&gso, plan));
            match (plan.checksum, partial) {
                (ChecksumState::Partial, Some(p)) if stack.partial_checksum => ReceiveAction::AsIs(info(p, unit)),
                (ChecksumState::Valid, _) if stack.checksum_valid => ReceiveAction::AsIs(info(as_client_wrote, unit)),
                (_, Some(p)) if stack.partial_checksum => ReceiveAction::PseudoSum(info(p, unit)),
                _ => ReceiveAction::Segment(info(computed, None)),
            }
        }
        Some(_) => ReceiveAction::Segment(info(computed, None)),
        None => match plan.checksum {
            ChecksumState::Partial => match partial {
                Some(p) if stack.partial_checksum => ReceiveAction::AsIs(info(p, None)),
                _ => ReceiveAction::Segment(info(computed, None)),
            },
            // Deliberately "values not computed" on a single packet too, not only on a coalesced
            // unit (where NDIS documents the value-invalid bits): the client validated the
            // checksums, but nothing says the values it left in the fields are right, so a
            // stack that forwards the packet must recompute them rather than update them
            // (docs/oids.md, "The checksum information of an indication").
            ChecksumState::Valid if stack.checksum_valid => ReceiveAction::AsIs(info(as_client_wrote, None)),
            ChecksumState::Valid | ChecksumState::Unknown => {
                ReceiveAction::AsIs(info(IndicatedChecksum::Unknown, None))
            }
        },
    }
}

/// What the Send path does with a packet the stack asked an offload for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendAction {
    /// One slot carrying the packet with its metadata; the L4 checksum field is set to the
    /// pseudo-header sum (whatever convention the stack used) and an IPv4 header checksum is
    /// computed.
    WithMetadata,
    /// One slot per segment (a single packet: one slot with its checksum completed), each a
    /// complete IP packet; the metadata blocks, if any, are plain.
    Segment,
}

/// The Send path's decision for a packet planned from a stack's request: with its metadata when
/// the client negotiated offloads (`offloads`) and the packet fits the ring's limits as one slot
/// (at most `MAX_GSO_SEGMENTS` segments); otherwise cut. A large send of more segments (a small
/// segment size) is never refused for it: the engine cuts it.
pub fn send_action(offloads: bool, plan: &OffloadPlan) -> SendAction {
    if offloads && plan.within_ring_limit() {
        SendAction::WithMetadata
    } else {
        SendAction::Segment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn plan(checksum: ChecksumState, gso: Option<GsoKind>) -> OffloadPlan {
        OffloadPlan {
            ip: IpVersion::V4,
            transport: if gso == Some(GsoKind::UdpL4) { Transport::Udp } else { Transport::Tcp },
            l3_len: 20,
            header_len: 40,
            data_length: 4040,
            checksum,
            gso: gso.map(|kind| Gso { kind, segment_size: 1000, segments: 4, ecn: false }),
        }
    }

    const LINUX_TUN: StackOffloads = StackOffloads {
        coalesced_tcp4: true,
        coalesced_tcp6: true,
        coalesced_udp: true,
        partial_checksum: true,
        checksum_valid: true,
        coalescing_rules: false,
    };
    const WINDOWS_RSC: StackOffloads = StackOffloads {
        coalesced_tcp4: true,
        coalesced_tcp6: true,
        coalesced_udp: false,
        partial_checksum: false,
        checksum_valid: true,
        coalescing_rules: true,
    };
    const NOTHING: StackOffloads = StackOffloads {
        coalesced_tcp4: false,
        coalesced_tcp6: false,
        coalesced_udp: false,
        partial_checksum: false,
        checksum_valid: false,
        coalescing_rules: true,
    };

    /// The first bytes of the packet `plan` describes: an IPv4 header and a 20-byte TCP header
    /// with only ACK set.
    fn headers() -> [u8; 120] {
        let mut h = [0u8; 120];
        h[0] = 0x45;
        h[32] = 5 << 4;
        h[33] = 0x10;
        h
    }

    #[test]
    fn decisions() {
        use ChecksumState::*;
        let tcp = Some(GsoKind::TcpV4);
        let udp = Some(GsoKind::UdpL4);
        let partial = IndicatedChecksum::Partial { start: 20, offset: 16 };
        let computed = IndicatedChecksum::Valid { value_computed: true };
        let as_written = IndicatedChecksum::Valid { value_computed: false };
        let action = |c, g, s: &StackOffloads| receive_action(&plan(c, g), &headers(), s);
        let kind = |a: ReceiveAction| match a {
            ReceiveAction::AsIs(i) => ("as-is", i.checksum, i.coalesced.is_some()),
            ReceiveAction::PseudoSum(i) => ("pseudo", i.checksum, i.coalesced.is_some()),
            ReceiveAction::Segment(i) => ("segment", i.checksum, i.coalesced.is_some()),
        };
        // Linux TUN: every super-packet whole; a valid one as it is, others with a partial sum.
        assert_eq!(kind(action(Partial, tcp, &LINUX_TUN)), ("as-is", partial, true));
        assert_eq!(kind(action(Valid, tcp, &LINUX_TUN)), ("as-is", as_written, true));
        assert_eq!(kind(action(Unknown, tcp, &LINUX_TUN)), ("pseudo", partial, true));
        assert_eq!(
            kind(action(Unknown, udp, &LINUX_TUN)),
            ("pseudo", IndicatedChecksum::Partial { start: 20, offset: 6 }, true)
        );
        // Windows with RSC: only valid TCP super-packets whole (their checksum values the
        // client's, not computed); the rest cut, segments valid with computed values.
        assert_eq!(kind(action(Valid, tcp, &WINDOWS_RSC)), ("as-is", as_written, true));
        assert_eq!(kind(action(Partial, tcp, &WINDOWS_RSC)), ("segment", computed, false));
        assert_eq!(kind(action(Valid, udp, &WINDOWS_RSC)), ("segment", computed, false));
        // Nothing offered: cut, nothing said.
        assert_eq!(kind(action(Valid, tcp, &NOTHING)), ("segment", IndicatedChecksum::Unknown, false));
        // Single packets.
        assert_eq!(kind(action(Partial, None, &LINUX_TUN)), ("as-is", partial, false));
        assert_eq!(kind(action(Partial, None, &WINDOWS_RSC)), ("segment", computed, false));
        assert_eq!(kind(action(Valid, None, &WINDOWS_RSC)), ("as-is", as_written, false));
        assert_eq!(kind(action(Valid, None, &NOTHING)), ("as-is", IndicatedChecksum::Unknown, false));
        assert_eq!(action(Partial, tcp, &NOTHING).indications(&plan(Partial, tcp)), 4);
        assert_eq!(action(Partial, None, &NOTHING).indications(&plan(Partial, None)), 1);
        let tcp_plan = plan(Partial, tcp);
        assert_eq!(send_action(true, &tcp_plan), SendAction::WithMetadata);
        assert_eq!(send_action(false, &tcp_plan), SendAction::Segment);
        // Beyond the ring's segment limit: cut even with offloads.
        let many = OffloadPlan {
            gso: tcp_plan.gso.map(|g| Gso { segment_size: 256, segments: 256, ..g }),
            data_length: 40 + 65_000,
            ..tcp_plan
        };
        assert_eq!(send_action(true, &many), SendAction::Segment);
    }

    /// A TCP super-packet NDIS receive segment coalescing could not have built is cut for a stack
    /// that keeps the coalescing rules, and still taken whole by one that does not.
    #[test]
    fn units_outside_the_coalescing_rules_are_cut() {
        let valid = plan(ChecksumState::Valid, Some(GsoKind::TcpV4));
        let whole = |p: &OffloadPlan, h: &[u8], s: &StackOffloads| match receive_action(p, h, s) {
            ReceiveAction::AsIs(i) => i.coalesced.is_some(),
            _ => false,
        };
        assert!(rsc_eligible(&valid, &headers()));
        assert!(whole(&valid, &headers(), &WINDOWS_RSC));
        let with = |at: usize, value: u8| {
            let mut h = headers();
            h[at] = value;
            h
        };
        // Flags: PSH and ECE pass; FIN, CWR, URG, SYN, RST do not.
        assert!(whole(&valid, &with(33, 0x18 | 0x40), &WINDOWS_RSC));
        for flags in [0x11, 0x90, 0x30, 0x12, 0x14] {
            let h = with(33, flags);
            assert!(!rsc_eligible(&valid, &h), "flags {flags:#x}");
            assert_eq!(receive_action(&valid, &h, &WINDOWS_RSC).indications(&valid), 4, "cut, flags {flags:#x}");
            assert!(whole(&valid, &h, &LINUX_TUN), "Linux takes flags {flags:#x} whole");
        }
        // The ECN bit of gso_type (CWR on the first segment only).
        let ecn = OffloadPlan { gso: valid.gso.map(|g| Gso { ecn: true, ..g }), ..valid };
        assert!(!whole(&ecn, &headers(), &WINDOWS_RSC) && whole(&ecn, &headers(), &LINUX_TUN));
        // TCP options: a timestamp (with NOPs) passes; SACK, MSS, two timestamps, a truncated one
        // do not.
        let options = |opts: &[u8]| {
            let mut h = headers();
            let words = (20 + opts.len()).div_ceil(4);
            h[32] = (words as u8) << 4;
            h[40..40 + opts.len()].copy_from_slice(opts);
            (OffloadPlan { header_len: 20 + 4 * words as u16, ..valid }, h)
        };
        let ts = [8, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut nop_ts = vec![1, 1];
        nop_ts.extend_from_slice(&ts);
        let (p, h) = options(&nop_ts);
        assert!(rsc_eligible(&p, &h), "NOP NOP timestamp");
        let mut ts_end = ts.to_vec();
        ts_end.extend_from_slice(&[0, 0]);
        let (p, h) = options(&ts_end);
        assert!(rsc_eligible(&p, &h), "timestamp, end of list");
        let mut two = nop_ts.clone();
        two.extend_from_slice(&[1, 1]);
        two.extend_from_slice(&ts);
        // A kind-8 option whose length is not the timestamp's is no timestamp (its 10 bytes
        // would otherwise be skipped as one).
        let odd_ts = vec![8, 6, 1, 2, 3, 4, 1, 1, 1, 1, 1, 1];
        for bad in
            [vec![1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2], vec![2, 4, 5, 0xB4], two, vec![1, 1, 1, 8, 10, 0, 0, 0], odd_ts]
        {
            let (p, h) = options(&bad);
            assert!(!rsc_eligible(&p, &h), "options {bad:?}");
            assert!(!whole(&p, &h, &WINDOWS_RSC) && whole(&p, &h, &LINUX_TUN), "options {bad:?}");
        }
        // IPv4 options.
        let (p, mut h) = (OffloadPlan { l3_len: 24, header_len: 44, ..valid }, [0u8; 120]);
        h[0] = 0x46;
        h[36] = 5 << 4;
        h[37] = 0x10;
        assert!(!rsc_eligible(&p, &h) && whole(&p, &h, &LINUX_TUN));
        // IPv6: a fixed 40-byte header passes; anything longer (extension headers) does not.
        let mut h6 = [0u8; 120];
        h6[0] = 0x60;
        h6[6] = 6;
        h6[40 + 12] = 5 << 4;
        h6[40 + 13] = 0x10;
        let v6 = OffloadPlan { ip: IpVersion::V6, l3_len: 40, header_len: 60, ..valid };
        assert!(rsc_eligible(&v6, &h6), "a plain IPv6 unit");
        let mut h6x = [0u8; 120];
        h6x[48 + 12] = 5 << 4;
        h6x[48 + 13] = 0x10;
        assert!(!rsc_eligible(&OffloadPlan { l3_len: 48, header_len: 68, ..v6 }, &h6x), "IPv6 with 8 more bytes");
        // UDP super-packets are outside these rules.
        let udp = plan(ChecksumState::Valid, Some(GsoKind::UdpL4));
        assert!(!rsc_eligible(&udp, &headers()));
        let udp_stack = StackOffloads { coalesced_udp: true, ..WINDOWS_RSC };
        assert!(whole(&udp, &headers(), &udp_stack));
    }

    /// A stack that coalesces but does not take the "checksums succeeded" mark gets a
    /// `DATA_VALID` unit cut (with computed checksums), not indicated whole and marked.
    #[test]
    fn a_valid_unit_is_cut_for_a_stack_without_the_valid_mark() {
        let valid = plan(ChecksumState::Valid, Some(GsoKind::TcpV4));
        let unmarked = StackOffloads { checksum_valid: false, ..WINDOWS_RSC };
        assert!(matches!(receive_action(&valid, &headers(), &unmarked), ReceiveAction::Segment(_)));
        assert!(matches!(receive_action(&valid, &headers(), &WINDOWS_RSC), ReceiveAction::AsIs(_)));
    }

    /// The largest large send advertised (`MaxOffLoadSize`): the largest packet less the largest
    /// headers the Send path cuts, 65 415 bytes.
    #[test]
    fn the_largest_large_send_leaves_room_for_the_largest_headers() {
        assert_eq!(LARGE_SEND_MAX_PAYLOAD, 65_415);
        assert_eq!(LARGE_SEND_MAX_PAYLOAD + ring_abi::MAX_OFFLOAD_HEADER as u32, ring_abi::MAX_IP_PACKET_SIZE);
    }

    /// The checksum directions (NDIS's `IPv4Transmit`, `IPv4Receive`, `IPv6Transmit`,
    /// `IPv6Receive`) divide the checksum offloads between them, the receive ones making
    /// `CHECKSUM_RX`; `intersects` and `union` are what they say.
    #[test]
    fn checksum_directions_partition_the_checksums() {
        use TaskOffloads as T;
        let directions = [T::CHECKSUMS_V4_TX, T::CHECKSUMS_V4_RX, T::CHECKSUMS_V6_TX, T::CHECKSUMS_V6_RX];
        let mut seen = T::NONE;
        for d in directions {
            assert!(!seen.intersects(d), "{d:?} overlaps {seen:?}");
            seen = seen.union(d);
        }
        let checksums = [
            T::IPV4_CHECKSUM_TX,
            T::TCP4_CHECKSUM_TX,
            T::UDP4_CHECKSUM_TX,
            T::TCP6_CHECKSUM_TX,
            T::UDP6_CHECKSUM_TX,
            T::IPV4_CHECKSUM_RX,
            T::TCP4_CHECKSUM_RX,
            T::UDP4_CHECKSUM_RX,
            T::TCP6_CHECKSUM_RX,
            T::UDP6_CHECKSUM_RX,
        ];
        assert_eq!(seen, checksums.iter().fold(T::NONE, |all, &c| all.union(c)));
        assert_eq!(T::CHECKSUMS_V4_RX.union(T::CHECKSUMS_V6_RX), T::CHECKSUM_RX);
        // A union of overlapping sets holds the common offloads once (not their exclusive or).
        assert_eq!(T::CHECKSUMS_V4_TX.union(T::IPV4_CHECKSUM_TX.union(T::LSO_V4)), T::CHECKSUMS_V4_TX.union(T::LSO_V4));
        assert!(T::CHECKSUMS_V4_TX.contains(T::UDP4_CHECKSUM_TX) && !T::CHECKSUMS_V4_TX.contains(T::UDP6_CHECKSUM_TX));
        assert!(T::CHECKSUMS_V6_RX.intersects(T::TCP6_CHECKSUM_RX.union(T::LSO_V4)));
        assert!(!T::CHECKSUMS_V6_RX.intersects(T::TCP6_CHECKSUM_TX.union(T::LSO_V4)));
    }

    /// Each checksum value of `NDIS_OFFLOAD_PARAMETERS` (ntddndis.h): 1 both off, 2 transmit
    /// only, 3 receive only, 4 both on, 0 unchanged.
    #[test]
    fn checksum_parameters_switch_each_direction() {
        let (tx, rx) = (TaskOffloads::IPV4_CHECKSUM_TX, TaskOffloads::IPV4_CHECKSUM_RX);
        for (value, want_tx, want_rx) in [(1, false, false), (2, true, false), (3, false, true), (4, true, true)] {
            for start in [TaskOffloads::ALL, TaskOffloads::NONE] {
                let p = OffloadParameters { ipv4_checksum: value, ..OffloadParameters::default() };
                let set = start.apply(&p).unwrap();
                assert_eq!((set.contains(tx), set.contains(rx)), (want_tx, want_rx), "value {value}");
            }
        }
        let unchanged = TaskOffloads::ALL.apply(&OffloadParameters::default()).unwrap();
        assert_eq!(unchanged, TaskOffloads::ALL);
    }

    /// Every field of a revision-5 `NDIS_OFFLOAD_PARAMETERS` is read from its own offset.
    #[test]
    fn offload_parameters_are_read_field_by_field() {
        use parameters_layout::*;
        let mut bytes = vec![0u8; usize::from(SIZE_REVISION_5)];
        bytes[HEADER_TYPE] = 0x80;
        bytes[HEADER_REVISION] = 5;
        bytes[HEADER_SIZE..HEADER_SIZE + 2].copy_from_slice(&SIZE_REVISION_5.to_le_bytes());
        // A distinct value at every field's offset.
        let offsets: [usize; 18] = [
            IPV4_CHECKSUM,
            IPV4_CHECKSUM + 1,
            IPV4_CHECKSUM + 2,
            IPV4_CHECKSUM + 3,
            IPV4_CHECKSUM + 4,
            IPV4_CHECKSUM + 5,
            IPV4_CHECKSUM + 6,
            IPV4_CHECKSUM + 7,
            IPV4_CHECKSUM + 8,
            IPV4_CHECKSUM + 9,
            IPV4_CHECKSUM + 10,
            IPSEC_V2,
            IPSEC_V2 + 1,
            RSC_IPV4,
            RSC_IPV4 + 1,
            ENCAPSULATED_PACKET_TASK_OFFLOAD,
            UDP_SEGMENTATION,
            UDP_SEGMENTATION + 1,
        ];
        assert_eq!(
            (IPV4_CHECKSUM, IPSEC_V2, RSC_IPV4, ENCAPSULATED_PACKET_TASK_OFFLOAD, UDP_SEGMENTATION),
            (4, 20, 22, 24, 32)
        );
        for (k, &at) in offsets.iter().enumerate() {
            bytes[at] = 0x40 + k as u8;
        }
        let (p, read) = OffloadParameters::parse(&bytes).unwrap();
        assert_eq!(read, u32::from(SIZE_REVISION_5));
        let got = [
            p.ipv4_checksum,
            p.tcp_ipv4_checksum,
            p.udp_ipv4_checksum,
            p.tcp_ipv6_checksum,
            p.udp_ipv6_checksum,
            p.lso_v1,
            p.ipsec_v1,
            p.lso_v2_ipv4,
            p.lso_v2_ipv6,
            p.tcp_connection_ipv4,
            p.tcp_connection_ipv6,
            p.ipsec_v2,
            p.ipsec_v2_ipv4,
            p.rsc_ipv4,
            p.rsc_ipv6,
            p.encapsulated_packet_task_offload,
            p.uso_ipv4,
            p.uso_ipv6,
        ];
        let want: alloc::vec::Vec<u8> = (0..18).map(|k| 0x40 + k as u8).collect();
        assert_eq!(got.to_vec(), want);
    }
}

/// The most payload bytes a large send the stack hands over may carry (NDIS: `MaxOffLoadSize`),
/// so that with the largest headers the Send path cuts (IP and TCP with options,
/// [`ring_abi::MAX_OFFLOAD_HEADER`]) the packet still fits one slot (`data_length` is 16 bits).
pub const LARGE_SEND_MAX_PAYLOAD: u32 = ring_abi::MAX_IP_PACKET_SIZE - ring_abi::MAX_OFFLOAD_HEADER as u32;

/// The fewest segments a large send must make (NDIS: `MinSegmentCount`): anything that needs
/// cutting at all.
pub const LARGE_SEND_MIN_SEGMENTS: u32 = 2;

/// The task offloads an adapter offers its stack (NDIS: the `NDIS_OFFLOAD` capabilities and
/// current configuration), as a set. [`TaskOffloads::ALL`] is what the engine implements; the
/// stack turns parts of it off and on (`OID_TCP_OFFLOAD_PARAMETERS`,
/// [`TaskOffloads::apply`]). The current set decides which of the stack's requests the Send
/// path accepts and which receive offloads the Receive path uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskOffloads(u32);

impl TaskOffloads {
    /// Nothing.
    pub const NONE: Self = Self(0);
    /// IPv4 header checksums of sent packets.
    pub const IPV4_CHECKSUM_TX: Self = Self(1 << 0);
    /// TCP checksums of sent IPv4 packets.
    pub const TCP4_CHECKSUM_TX: Self = Self(1 << 1);
    /// UDP checksums of sent IPv4 packets.
    pub const UDP4_CHECKSUM_TX: Self = Self(1 << 2);
    /// TCP checksums of sent IPv6 packets.
    pub const TCP6_CHECKSUM_TX: Self = Self(1 << 3);
    /// UDP checksums of sent IPv6 packets.
    pub const UDP6_CHECKSUM_TX: Self = Self(1 << 4);
    /// IPv4 header checksums of received packets reported.
    pub const IPV4_CHECKSUM_RX: Self = Self(1 << 5);
    /// TCP checksums of received IPv4 packets reported.
    pub const TCP4_CHECKSUM_RX: Self = Self(1 << 6);
    /// UDP checksums of received IPv4 packets reported.
    pub const UDP4_CHECKSUM_RX: Self = Self(1 << 7);
    /// TCP checksums of received IPv6 packets reported.
    pub const TCP6_CHECKSUM_RX: Self = Self(1 << 8);
    /// UDP checksums of received IPv6 packets reported.
    pub const UDP6_CHECKSUM_RX: Self = Self(1 << 9);
    /// Large sends of IPv4 TCP (NDIS LSOv2).
    pub const LSO_V4: Self = Self(1 << 10);
    /// Large sends of IPv6 TCP (NDIS LSOv2).
    pub const LSO_V6: Self = Self(1 << 11);
    /// Large sends of IPv4 UDP (NDIS USO).
    pub const USO_V4: Self = Self(1 << 12);
    /// Large sends of IPv6 UDP (NDIS USO).
    pub const USO_V6: Self = Self(1 << 13);
    /// Receive segment coalescing of IPv4 TCP (NDIS RSC).
    pub const RSC_V4: Self = Self(1 << 14);
    /// Receive segment coalescing of IPv6 TCP (NDIS RSC).
    pub const RSC_V6: Self = Self(1 << 15);
    /// Every receive checksum bit.
    pub const CHECKSUM_RX: Self = Self(0x3E0);
    /// Every checksum of IPv4 packets sent (IPv4 header, TCP, UDP): NDIS's `IPv4Transmit`
    /// direction of the checksum offload.
    pub const CHECKSUMS_V4_TX: Self =
        Self(Self::IPV4_CHECKSUM_TX.0 | Self::TCP4_CHECKSUM_TX.0 | Self::UDP4_CHECKSUM_TX.0);
    /// Every checksum of IPv4 packets received reported (`IPv4Receive`).
    pub const CHECKSUMS_V4_RX: Self =
        Self(Self::IPV4_CHECKSUM_RX.0 | Self::TCP4_CHECKSUM_RX.0 | Self::UDP4_CHECKSUM_RX.0);
    /// Every checksum of IPv6 packets sent (TCP, UDP): `IPv6Transmit`.
    pub const CHECKSUMS_V6_TX: Self = Self(Self::TCP6_CHECKSUM_TX.0 | Self::UDP6_CHECKSUM_TX.0);
    /// Every checksum of IPv6 packets received reported (`IPv6Receive`).
    pub const CHECKSUMS_V6_RX: Self = Self(Self::TCP6_CHECKSUM_RX.0 | Self::UDP6_CHECKSUM_RX.0);
    /// Every offload the engine implements.
    pub const ALL: Self = Self(0xFFFF);

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The set of `bits` (bits outside [`Self::ALL`] dropped).
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits & Self::ALL.0)
    }

    /// Whether every offload of `other` is in the set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any offload of `other` is in the set.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// The offloads of either set.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    const fn with(self, other: Self, on: bool) -> Self {
        if on {
            Self(self.0 | other.0)
        } else {
            Self(self.0 & !other.0)
        }
    }

    /// Whether the stack may hand over a large send of `kind` over `ip`.
    pub const fn allows_segmentation(self, kind: ring_abi::GsoKind, ip: IpVersion) -> bool {
        let needed = match (kind, ip) {
            (ring_abi::GsoKind::TcpV4, _) => Self::LSO_V4,
            (ring_abi::GsoKind::TcpV6, _) => Self::LSO_V6,
            (ring_abi::GsoKind::UdpL4, IpVersion::V4) => Self::USO_V4,
            (ring_abi::GsoKind::UdpL4, IpVersion::V6) => Self::USO_V6,
        };
        self.contains(needed)
    }

    /// The receive offloads of `stack` that are also on in this set: TCP receive coalescing per
    /// IP version, and the valid mark only while every receive checksum is reported.
    pub const fn receive_offloads(self, stack: StackOffloads) -> StackOffloads {
        StackOffloads {
            coalesced_tcp4: stack.coalesced_tcp4 && self.contains(Self::RSC_V4),
            coalesced_tcp6: stack.coalesced_tcp6 && self.contains(Self::RSC_V6),
            coalesced_udp: stack.coalesced_udp,
            partial_checksum: stack.partial_checksum,
            checksum_valid: stack.checksum_valid && self.contains(Self::CHECKSUM_RX),
            coalescing_rules: stack.coalescing_rules,
        }
    }

    /// The set after a stack's `OID_TCP_OFFLOAD_PARAMETERS` request: each field 0 leaves its
    /// offloads as they are; the values are those of `ntddndis.h` (`NDIS_OFFLOAD_PARAMETERS_*`).
    /// Turning on what the engine does not implement (LSOv1, IPsec, connection offload,
    /// encapsulated-packet offload), or a value outside a field's range, refuses the whole
    /// request ([`OidError::InvalidData`]) and changes nothing.
    pub fn apply(self, p: &OffloadParameters) -> Result<Self, OidError> {
        let mut set = self;
        // Checksums: 1 TX and RX off, 2 TX on RX off, 3 RX on TX off, 4 both on.
        let checksum = |set: Self, value: u8, tx: Self, rx: Self| -> Result<Self, OidError> {
            Ok(match value {
                0 => set,
                1 => set.with(tx, false).with(rx, false),
                2 => set.with(tx, true).with(rx, false),
                3 => set.with(tx, false).with(rx, true),
                4 => set.with(tx, true).with(rx, true),
                _ => return Err(OidError::InvalidData),
            })
        };
        set = checksum(set, p.ipv4_checksum, Self::IPV4_CHECKSUM_TX, Self::IPV4_CHECKSUM_RX)?;
        set = checksum(set, p.tcp_ipv4_checksum, Self::TCP4_CHECKSUM_TX, Self::TCP4_CHECKSUM_RX)?;
        set = checksum(set, p.udp_ipv4_checksum, Self::UDP4_CHECKSUM_TX, Self::UDP4_CHECKSUM_RX)?;
        set = checksum(set, p.tcp_ipv6_checksum, Self::TCP6_CHECKSUM_TX, Self::TCP6_CHECKSUM_RX)?;
        set = checksum(set, p.udp_ipv6_checksum, Self::UDP6_CHECKSUM_TX, Self::UDP6_CHECKSUM_RX)?;
        // On/off fields: 1 off, 2 on (LSOv2, RSC, USO).
        let switch = |set: Self, value: u8, which: Self| -> Result<Self, OidError> {
            Ok(match value {
                0 => set,
                1 => set.with(which, false),
                2 => set.with(which, true),
                _ => return Err(OidError::InvalidData),
            })
        };
        set = switch(set, p.lso_v2_ipv4, Self::LSO_V4)?;
        set = switch(set, p.lso_v2_ipv6, Self::LSO_V6)?;
        set = switch(set, p.rsc_ipv4, Self::RSC_V4)?;
        set = switch(set, p.rsc_ipv6, Self::RSC_V6)?;
        set = switch(set, p.uso_ipv4, Self::USO_V4)?;
        set = switch(set, p.uso_ipv6, Self::USO_V6)?;
        // Offloads the engine does not implement: "no change" or "off" only. (Encapsulated-packet
        // offload uses NDIS_OFFLOAD_SET_*: 0 no change, 1 on, 2 off.)
        let off_only =
            [p.lso_v1, p.ipsec_v1, p.tcp_connection_ipv4, p.tcp_connection_ipv6, p.ipsec_v2, p.ipsec_v2_ipv4];
        if off_only.iter().any(|&v| v > 1)
            || p.encapsulated_packet_task_offload == 1
            || p.encapsulated_packet_task_offload > 2
        {
            return Err(OidError::InvalidData);
        }
        Ok(set)
    }
}

/// An `OID_TCP_OFFLOAD_PARAMETERS` request's fields, as `NDIS_OFFLOAD_PARAMETERS` (ntddndis.h)
/// carries them; fields the request's revision lacks are 0 ("no change").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffloadParameters {
    /// `IPv4Checksum`.
    pub ipv4_checksum: u8,
    /// `TCPIPv4Checksum`.
    pub tcp_ipv4_checksum: u8,
    /// `UDPIPv4Checksum`.
    pub udp_ipv4_checksum: u8,
    /// `TCPIPv6Checksum`.
    pub tcp_ipv6_checksum: u8,
    /// `UDPIPv6Checksum`.
    pub udp_ipv6_checksum: u8,
    /// `LsoV1`.
    pub lso_v1: u8,
    /// `IPsecV1`.
    pub ipsec_v1: u8,
    /// `LsoV2IPv4`.
    pub lso_v2_ipv4: u8,
    /// `LsoV2IPv6`.
    pub lso_v2_ipv6: u8,
    /// `TcpConnectionIPv4`.
    pub tcp_connection_ipv4: u8,
    /// `TcpConnectionIPv6`.
    pub tcp_connection_ipv6: u8,
    /// `IPsecV2` (revision 2).
    pub ipsec_v2: u8,
    /// `IPsecV2IPv4` (revision 2).
    pub ipsec_v2_ipv4: u8,
    /// `RscIPv4` (revision 3).
    pub rsc_ipv4: u8,
    /// `RscIPv6` (revision 3).
    pub rsc_ipv6: u8,
    /// `EncapsulatedPacketTaskOffload` (revision 3).
    pub encapsulated_packet_task_offload: u8,
    /// `UdpSegmentation.IPv4` (revision 5).
    pub uso_ipv4: u8,
    /// `UdpSegmentation.IPv6` (revision 5).
    pub uso_ipv6: u8,
}

/// Where `NDIS_OFFLOAD_PARAMETERS` (ntddndis.h) keeps each field [`OffloadParameters::parse`]
/// reads: byte offsets, which the Windows shell asserts equal to those of its declaration of the
/// structure (whose layout the layout check compares with the headers').
pub mod parameters_layout {
    /// The object header's type (`NDIS_OBJECT_TYPE_DEFAULT`).
    pub const HEADER_TYPE: usize = 0;
    /// The object header's revision.
    pub const HEADER_REVISION: usize = 1;
    /// The object header's size (u16, little-endian).
    pub const HEADER_SIZE: usize = 2;
    /// `IPv4Checksum`, then `TCPIPv4Checksum`, `UDPIPv4Checksum`, `TCPIPv6Checksum`,
    /// `UDPIPv6Checksum`, `LsoV1`, `IPsecV1`, `LsoV2IPv4`, `LsoV2IPv6`, `TcpConnectionIPv4`,
    /// `TcpConnectionIPv6`: one byte each.
    pub const IPV4_CHECKSUM: usize = 4;
    /// `IPsecV2`, then `IPsecV2IPv4` (revision 2).
    pub const IPSEC_V2: usize = 20;
    /// `RscIPv4`, then `RscIPv6` (revision 3).
    pub const RSC_IPV4: usize = 22;
    /// `EncapsulatedPacketTaskOffload` (revision 3).
    pub const ENCAPSULATED_PACKET_TASK_OFFLOAD: usize = 24;
    /// `UdpSegmentation.IPv4`, then `.IPv6` (revision 5).
    pub const UDP_SEGMENTATION: usize = 32;
    /// `NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1`: through `Flags`.
    pub const SIZE_REVISION_1: u16 = 20;
    /// `NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_2`: through `IPsecV2IPv4`.
    pub const SIZE_REVISION_2: u16 = 22;
    /// `NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_3`: through `EncapsulationTypes`.
    pub const SIZE_REVISION_3: u16 = 26;
    /// `NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_4`: through `EncapsulationProtocolParameters`.
    pub const SIZE_REVISION_4: u16 = 32;
    /// `NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_5`: through `UdpSegmentation`.
    pub const SIZE_REVISION_5: u16 = 34;

    /// The size a request of `revision` must at least have (`NDIS_SIZEOF_OFFLOAD_PARAMETERS_*`):
    /// revisions beyond 5, unknown to this engine, at least revision 5's.
    pub const fn minimum_size(revision: u8) -> u16 {
        match revision {
            0 | 1 => SIZE_REVISION_1,
            2 => SIZE_REVISION_2,
            3 => SIZE_REVISION_3,
            4 => SIZE_REVISION_4,
            _ => SIZE_REVISION_5,
        }
    }
}

/// `NDIS_OBJECT_TYPE_DEFAULT` (ntddndis.h): the object type of `NDIS_OFFLOAD_PARAMETERS`.
const NDIS_OBJECT_TYPE_DEFAULT: u8 = 0x80;

impl OffloadParameters {
    /// Reads an `OID_TCP_OFFLOAD_PARAMETERS` request's `NDIS_OFFLOAD_PARAMETERS` from its bytes;
    /// returns it with the bytes read. The object header must say `NDIS_OBJECT_TYPE_DEFAULT`, a
    /// revision of at least 1 and a size of at least that revision's
    /// ([`parameters_layout::minimum_size`]: a revision-3 request of 20 bytes claims fields it
    /// does not carry), [`OidError::InvalidData`] otherwise; the buffer must hold the size
    /// ([`OidError::BufferTooShort`] otherwise). The fields the header's size does not reach are
    /// 0, "no change", as are those of revisions this engine does not know beyond revision 5.
    pub fn parse(input: &[u8]) -> Result<(Self, u32), OidError> {
        use parameters_layout::*;
        let too_short = OidError::BufferTooShort { needed: u32::from(SIZE_REVISION_1) };
        let header: [u8; 4] = input.get(..4).and_then(|h| h.try_into().ok()).ok_or(too_short)?;
        let size = u16::from_le_bytes([header[HEADER_SIZE], header[HEADER_SIZE + 1]]);
        let revision = header[HEADER_REVISION];
        if header[HEADER_TYPE] != NDIS_OBJECT_TYPE_DEFAULT || revision == 0 || size < minimum_size(revision) {
            return Err(OidError::InvalidData);
        }
        if input.len() < usize::from(size) {
            return Err(OidError::BufferTooShort { needed: u32::from(size) });
        }
        let known = input.get(..usize::from(size.min(SIZE_REVISION_5))).unwrap_or(&[]);
        let at = |offset: usize| known.get(offset).copied().unwrap_or(0);
        let base = IPV4_CHECKSUM;
        let p = Self {
            ipv4_checksum: at(base),
            tcp_ipv4_checksum: at(base + 1),
            udp_ipv4_checksum: at(base + 2),
            tcp_ipv6_checksum: at(base + 3),
            udp_ipv6_checksum: at(base + 4),
            lso_v1: at(base + 5),
            ipsec_v1: at(base + 6),
            lso_v2_ipv4: at(base + 7),
            lso_v2_ipv6: at(base + 8),
            tcp_connection_ipv4: at(base + 9),
            tcp_connection_ipv6: at(base + 10),
            ipsec_v2: at(IPSEC_V2),
            ipsec_v2_ipv4: at(IPSEC_V2 + 1),
            rsc_ipv4: at(RSC_IPV4),
            rsc_ipv6: at(RSC_IPV4 + 1),
            encapsulated_packet_task_offload: at(ENCAPSULATED_PACKET_TASK_OFFLOAD),
            uso_ipv4: at(UDP_SEGMENTATION),
            uso_ipv6: at(UDP_SEGMENTATION + 1),
        };
        Ok((p, u32::from(size)))
    }
}

#[cfg(test)]
mod task_offload_tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use ring_abi::GsoKind;

    /// An `NDIS_OFFLOAD_PARAMETERS` of `size` bytes (header included) with `fields` set.
    fn ndis_parameters(revision: u8, size: u16, fields: &[(usize, u8)]) -> Vec<u8> {
        let mut bytes = vec![0u8; usize::from(size)];
        bytes[0] = 0x80;
        bytes[1] = revision;
        bytes[2..4].copy_from_slice(&size.to_le_bytes());
        for &(at, value) in fields {
            if let Some(b) = bytes.get_mut(at) {
                *b = value;
            }
        }
        bytes
    }

    #[test]
    fn parameters_are_read_by_revision() {
        use parameters_layout::*;
        // Revision 4 (32 bytes): LSOv2 IPv6 off (offset 12), RSC IPv4 on (22); no USO field.
        let r4 = ndis_parameters(4, 32, &[(12, 1), (RSC_IPV4, 2), (UDP_SEGMENTATION, 7)]);
        let (p, read) = OffloadParameters::parse(&r4).unwrap();
        assert_eq!(read, 32);
        assert_eq!(p, OffloadParameters { lso_v2_ipv6: 1, rsc_ipv4: 2, ..OffloadParameters::default() });
        // The same bytes behind a revision-5 header (34): USO read, and the buffer may be longer.
        let mut r5 = ndis_parameters(5, 34, &[(12, 1), (UDP_SEGMENTATION, 1), (UDP_SEGMENTATION + 1, 2)]);
        r5.extend_from_slice(&[9, 9]);
        let (p, read) = OffloadParameters::parse(&r5).unwrap();
        assert_eq!(read, 34);
        assert_eq!((p.lso_v2_ipv6, p.uso_ipv4, p.uso_ipv6), (1, 1, 2));
        // A size below its revision's (NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_2..5: 22, 26, 32,
        // 34): refused, whatever the buffer holds.
        for (revision, size) in [(2u8, 22u16), (3, 26), (4, 32), (5, 34), (6, 34)] {
            assert!(OffloadParameters::parse(&ndis_parameters(revision, size, &[])).is_ok(), "{revision}/{size}");
            let mut short = ndis_parameters(revision, size - 1, &[]);
            crate::fallible::try_push(&mut short, 0).unwrap();
            assert_eq!(OffloadParameters::parse(&short), Err(OidError::InvalidData), "{revision}/{}", size - 1);
        }
        assert_eq!(OffloadParameters::parse(&ndis_parameters(3, 20, &[(22, 2)])), Err(OidError::InvalidData));
        // A later revision's size (36: UdpRsc): its unknown field is not read.
        let r6 = ndis_parameters(6, 36, &[(34, 2), (IPV4_CHECKSUM, 4)]);
        assert_eq!(
            OffloadParameters::parse(&r6).unwrap().0,
            OffloadParameters { ipv4_checksum: 4, ..Default::default() }
        );
        // Revision 1 (20 bytes): the RSC byte beyond it is not read even if the buffer has it.
        let mut r1 = ndis_parameters(1, 20, &[(11, 2)]);
        r1.extend_from_slice(&[0, 0, 2, 2]);
        assert_eq!(
            OffloadParameters::parse(&r1).unwrap().0,
            OffloadParameters { lso_v2_ipv4: 2, ..Default::default() }
        );
        // Refusals: short buffers, a wrong type, revision 0, a size below revision 1's.
        assert_eq!(OffloadParameters::parse(&r4[..3]), Err(OidError::BufferTooShort { needed: 20 }));
        assert_eq!(OffloadParameters::parse(&r4[..31]), Err(OidError::BufferTooShort { needed: 32 }));
        let mut wrong = r4.clone();
        wrong[0] = 0xA7;
        assert_eq!(OffloadParameters::parse(&wrong), Err(OidError::InvalidData));
        assert_eq!(OffloadParameters::parse(&ndis_parameters(0, 32, &[])), Err(OidError::InvalidData));
        assert_eq!(OffloadParameters::parse(&ndis_parameters(1, 19, &[])), Err(OidError::InvalidData));
    }

    #[test]
    fn parameters_switch_offloads() {
        let all = TaskOffloads::ALL;
        let off = all.apply(&OffloadParameters { lso_v2_ipv4: 1, ..OffloadParameters::default() }).unwrap();
        assert!(!off.allows_segmentation(GsoKind::TcpV4, IpVersion::V4));
        assert!(off.allows_segmentation(GsoKind::TcpV6, IpVersion::V6));
        let back = off.apply(&OffloadParameters { lso_v2_ipv4: 2, ..OffloadParameters::default() }).unwrap();
        assert_eq!(back, all);
        let uso = all.apply(&OffloadParameters { uso_ipv6: 1, ..OffloadParameters::default() }).unwrap();
        assert!(uso.allows_segmentation(GsoKind::UdpL4, IpVersion::V4));
        assert!(!uso.allows_segmentation(GsoKind::UdpL4, IpVersion::V6));
        let rx_off = all.apply(&OffloadParameters { tcp_ipv6_checksum: 2, ..OffloadParameters::default() }).unwrap();
        assert!(rx_off.contains(TaskOffloads::TCP6_CHECKSUM_TX) && !rx_off.contains(TaskOffloads::TCP6_CHECKSUM_RX));
        let linux = StackOffloads {
            coalesced_tcp4: true,
            coalesced_tcp6: true,
            coalesced_udp: false,
            partial_checksum: false,
            checksum_valid: true,
            coalescing_rules: true,
        };
        assert!(!rx_off.receive_offloads(linux).checksum_valid, "one receive checksum off: no valid mark");
        let no_rsc = all.apply(&OffloadParameters { rsc_ipv6: 1, ..OffloadParameters::default() }).unwrap();
        let masked = no_rsc.receive_offloads(linux);
        assert!(masked.coalesced_tcp4 && !masked.coalesced_tcp6 && masked.checksum_valid);
        assert_eq!(all.apply(&OffloadParameters::default()), Ok(all));
        // Unknown values and unimplemented offloads turned on: refused, nothing changed.
        for bad in [
            OffloadParameters { ipv4_checksum: 5, ..OffloadParameters::default() },
            OffloadParameters { lso_v2_ipv6: 3, ..OffloadParameters::default() },
            OffloadParameters { lso_v1: 2, ..OffloadParameters::default() },
            OffloadParameters { ipsec_v2: 3, ..OffloadParameters::default() },
            OffloadParameters { tcp_connection_ipv4: 2, ..OffloadParameters::default() },
            OffloadParameters { encapsulated_packet_task_offload: 1, ..OffloadParameters::default() },
        ] {
            assert_eq!(all.apply(&bad), Err(OidError::InvalidData), "{bad:?}");
        }
        assert!(all
            .apply(&OffloadParameters {
                lso_v1: 1,
                ipsec_v1: 1,
                encapsulated_packet_task_offload: 2,
                ..OffloadParameters::default()
            })
            .is_ok());
    }
}
