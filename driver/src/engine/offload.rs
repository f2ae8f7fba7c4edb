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

use ring_abi::{ChecksumState, Gso, IpVersion, OffloadPlan};

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

/// The Receive path's decision for a validated packet, given the offloads the stack takes now.
///
/// - A super-packet of a kind the stack coalesces is indicated whole: as it is if its checksum
///   is partial and the stack takes partial checksums, or valid (`DATA_VALID`) and the stack can
///   be told so; with the pseudo-header sum written in if the stack takes partial checksums
///   (the client's checksum field is then not trusted); otherwise it is cut.
/// - Any other super-packet is cut. Segments carry computed checksums, and are told valid where
///   the stack can be told so.
/// - A partial checksum on a single packet is passed on where the stack completes it, and
///   completed by the engine otherwise.
/// - `DATA_VALID` on a single packet is passed on where the stack can be told; elsewhere the
///   packet goes as it is (its checksum is what the client wrote).
pub fn receive_action(plan: &OffloadPlan, stack: &StackOffloads) -> ReceiveAction {
    let kind = ip_kind(plan);
    let info = |checksum, coalesced| IndicationInfo { kind, transport: plan.transport, checksum, coalesced };
    let partial = plan
        .checksum_field()
        .map(|field| IndicatedChecksum::Partial { start: plan.l3_len, offset: field.wrapping_sub(plan.l3_len) });
    let computed = if stack.checksum_valid { IndicatedChecksum::Valid } else { IndicatedChecksum::Unknown };
    match plan.gso {
        Some(gso) if stack.coalesces(gso.kind) => {
            let unit = Some(coalesced(&gso, plan));
            match (plan.checksum, partial) {
                (ChecksumState::Partial, Some(p)) if stack.partial_checksum => ReceiveAction::AsIs(info(p, unit)),
                (ChecksumState::Valid, _) if stack.checksum_valid => {
                    ReceiveAction::AsIs(info(IndicatedChecksum::Valid, unit))
                }
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
            ChecksumState::Valid if stack.checksum_valid => ReceiveAction::AsIs(info(IndicatedChecksum::Valid, None)),
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

/// The Send path's decision: the client negotiated offloads (`offloads`) and the packet fits
/// the ring's limits as a super-packet (at most `MAX_GSO_SEGMENTS` segments, which the plan's
/// validation already ensured), or not.
pub fn send_action(offloads: bool) -> SendAction {
    if offloads {
        SendAction::WithMetadata
    } else {
        SendAction::Segment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring_abi::{GsoKind, Transport};

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
    };
    const WINDOWS_RSC: StackOffloads = StackOffloads {
        coalesced_tcp4: true,
        coalesced_tcp6: true,
        coalesced_udp: false,
        partial_checksum: false,
        checksum_valid: true,
    };
    const NOTHING: StackOffloads = StackOffloads {
        coalesced_tcp4: false,
        coalesced_tcp6: false,
        coalesced_udp: false,
        partial_checksum: false,
        checksum_valid: false,
    };

    #[test]
    fn decisions() {
        use ChecksumState::*;
        let tcp = Some(GsoKind::TcpV4);
        let udp = Some(GsoKind::UdpL4);
        let partial = IndicatedChecksum::Partial { start: 20, offset: 16 };
        let action = |c, g, s: &StackOffloads| receive_action(&plan(c, g), s);
        let kind = |a: ReceiveAction| match a {
            ReceiveAction::AsIs(i) => ("as-is", i.checksum, i.coalesced.is_some()),
            ReceiveAction::PseudoSum(i) => ("pseudo", i.checksum, i.coalesced.is_some()),
            ReceiveAction::Segment(i) => ("segment", i.checksum, i.coalesced.is_some()),
        };
        // Linux TUN: every super-packet whole; a valid one as it is, others with a partial sum.
        assert_eq!(kind(action(Partial, tcp, &LINUX_TUN)), ("as-is", partial, true));
        assert_eq!(kind(action(Valid, tcp, &LINUX_TUN)), ("as-is", IndicatedChecksum::Valid, true));
        assert_eq!(kind(action(Unknown, tcp, &LINUX_TUN)), ("pseudo", partial, true));
        assert_eq!(
            kind(action(Unknown, udp, &LINUX_TUN)),
            ("pseudo", IndicatedChecksum::Partial { start: 20, offset: 6 }, true)
        );
        // Windows with RSC: only valid TCP super-packets whole; the rest cut, segments valid.
        assert_eq!(kind(action(Valid, tcp, &WINDOWS_RSC)), ("as-is", IndicatedChecksum::Valid, true));
        assert_eq!(kind(action(Partial, tcp, &WINDOWS_RSC)), ("segment", IndicatedChecksum::Valid, false));
        assert_eq!(kind(action(Valid, udp, &WINDOWS_RSC)), ("segment", IndicatedChecksum::Valid, false));
        // Nothing offered: cut, nothing said.
        assert_eq!(kind(action(Valid, tcp, &NOTHING)), ("segment", IndicatedChecksum::Unknown, false));
        // Single packets.
        assert_eq!(kind(action(Partial, None, &LINUX_TUN)), ("as-is", partial, false));
        assert_eq!(kind(action(Partial, None, &WINDOWS_RSC)), ("segment", IndicatedChecksum::Valid, false));
        assert_eq!(kind(action(Valid, None, &WINDOWS_RSC)), ("as-is", IndicatedChecksum::Valid, false));
        assert_eq!(kind(action(Valid, None, &NOTHING)), ("as-is", IndicatedChecksum::Unknown, false));
        assert_eq!(action(Partial, tcp, &NOTHING).indications(&plan(Partial, tcp)), 4);
        assert_eq!(action(Partial, None, &NOTHING).indications(&plan(Partial, None)), 1);
        assert_eq!(send_action(true), SendAction::WithMetadata);
        assert_eq!(send_action(false), SendAction::Segment);
    }
}
