//! Task offloads between NDIS's structures and the engine's: what the adapter offers
//! (`NDIS_OFFLOAD`, from [`TaskOffloads`]), what the stack asks of a sent NBL (its checksum,
//! LSO and USO information, as a [`TransmitOffload`]), and what an indicated NBL says (its
//! checksum and RSC information, from an [`IndicationInfo`]). Translation only: which offloads
//! exist, which requests are valid and what is indicated how are the engine's decisions
//! ([`crate::engine::offload`]).

use core::ffi::c_void;

use ring_abi::{GsoKind, Transport};

use super::ndis::*;
use crate::engine::offload::{TaskOffloads, LARGE_SEND_MAX_PAYLOAD, LARGE_SEND_MIN_SEGMENTS};
use crate::engine::oid::OFFLOAD_ENCAPSULATIONS;
use crate::engine::TransmitOffload;
use crate::platform::{IndicatedChecksum, IndicationInfo, IpKind};

/// The NDIS minor version from which `NDIS_OFFLOAD` carries `UdpSegmentation` (revision 6):
/// NDIS 6.83.
pub const USO_MINOR_VERSION: u8 = 83;

/// What the adapter offers when it registered NDIS 6.`minor`: everything the engine implements,
/// less USO below NDIS 6.83 (the stack could not be told of it).
pub fn offered(minor: u8) -> TaskOffloads {
    if minor >= USO_MINOR_VERSION {
        TaskOffloads::ALL
    } else {
        TaskOffloads::from_bits(TaskOffloads::ALL.bits() & !(TaskOffloads::USO_V4.bits() | TaskOffloads::USO_V6.bits()))
    }
}

/// A 2-bit field of `NDIS_OFFLOAD`: `NDIS_OFFLOAD_SUPPORTED` (1) when `offload` is in `set`,
/// else `NDIS_OFFLOAD_NOT_SUPPORTED` (0), never `NDIS_OFFLOAD_SET_OFF` (why: [`ndis_offload`]).
fn bit(set: TaskOffloads, offload: TaskOffloads) -> u32 {
    if set.contains(offload) {
        NDIS_OFFLOAD_SUPPORTED
    } else {
        NDIS_OFFLOAD_NOT_SUPPORTED
    }
}

/// The NDIS minor version from which `NDIS_OFFLOAD` revision 5 (through `Rfc6877Xlat`) is the
/// one a miniport reports: NDIS 6.70 ("for NDIS 6.70 and later").
pub const REVISION_5_MINOR_VERSION: u8 = 70;

/// The `NDIS_OFFLOAD` revision and size a miniport that registered NDIS 6.`minor` reports
/// (ntddndis.h; the `NDIS_OFFLOAD` documentation's table): revision 6 (216 bytes, with
/// `UdpSegmentation`) from NDIS 6.83, revision 5 (188) from NDIS 6.70, revision 3 (156, through
/// `EncapsulatedPacketTaskOffloadGre`) for NDIS 6.30 to 6.6x.
pub const fn offload_revision(minor: u8) -> (u8, usize) {
    if minor >= USO_MINOR_VERSION {
        (NDIS_OFFLOAD_REVISION_6, NDIS_OFFLOAD_SIZE_REVISION_6)
    } else if minor >= REVISION_5_MINOR_VERSION {
        (NDIS_OFFLOAD_REVISION_5, NDIS_OFFLOAD_SIZE_REVISION_5)
    } else {
        (NDIS_OFFLOAD_REVISION_3, NDIS_OFFLOAD_SIZE_REVISION_3)
    }
}

/// `NDIS_OFFLOAD` for the offloads `set` of an adapter registered with NDIS 6.`minor`, of the
/// revision that version reports ([`offload_revision`]); `UdpSegmentation` is filled in only
/// from NDIS 6.83 (the revision that carries it), and every member beyond the revision's size is
/// zero.
///
/// IPv4 options and TCP options are supported wherever the engine cuts or completes a packet.
/// Each options field belongs to its checksum (`IpOptionsSupported`: the IPv4 header checksum of
/// a packet with IP options; `TcpOptionsSupported`: the TCP checksum of a packet with TCP options;
/// the `NDIS_TCP_IP_CHECKSUM_OFFLOAD` reference), so a direction reports it only while that
/// checksum is on there: a direction with only some checksums on reports the options of those
/// alone, as NDIS's own merge of the offload keywords clears each options field with its checksum
/// (from what is known of its implementation) and as NetAdapterCx pairs them. Other Microsoft
/// pages read `IpOptionsSupported` more widely, as covering the TCP and UDP checksums of a packet
/// with IPv4 options too ("Reporting a NIC's Checksum Capabilities"; "Combining Types of Task
/// Offloads": IP options "Required (for TCP checksum)", a requirement the capabilities meet).
/// Under that reading, a direction whose TCP or UDP checksum is on while its IPv4 header checksum
/// is off under-reports, and the stack computes the checksums of its packets with IPv4 options
/// itself. The rule can only under-report: the engine computes TCP and UDP checksums behind any
/// IPv4 header of 20 to 60 bytes, so no reading makes it claim what the engine does not do.
///
/// IPv6 extension headers are reported unsupported in every checksum direction, in LSOv2 IPv6 and
/// in USO IPv6, although the "Combining Types of Task Offloads" table lists 128 bytes of them as
/// required of an adapter that reports IPv6 checksum or LSOv2 offload: the engine's offload
/// planning takes TCP or UDP right after the fixed IPv6 header, and refuses a packet with
/// extension headers rather than mis-handling it. With the field 0 the stack computes or cuts
/// such packets itself; a request for one that comes anyway is completed
/// `NDIS_STATUS_INVALID_LENGTH`, never carried out wrong. Supporting extension headers in the
/// engine is the alternative; correctness does not need it.
///
/// Off is `NDIS_OFFLOAD_NOT_SUPPORTED` (0) in every 2-bit field, in `DefaultOffloadConfiguration`
/// and in every `NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG` alike (`bit`), not the
/// `NDIS_OFFLOAD_SET_OFF` (2) that the `NDIS_TCP_IP_CHECKSUM_OFFLOAD` remarks name for "disabled"
/// in the status indication: NetAdapterCx indicates 0, and readers of the indication treat these
/// fields as booleans (XDP for Windows tests them for truth), so a 2 would read as on.
///
/// Every `Encapsulation` names [`OFFLOAD_ENCAPSULATIONS`] (NULL and the IEEE 802.3 kinds a
/// protocol sets with `OID_OFFLOAD_ENCAPSULATION`); the adapter's packets have no link-layer
/// header under any of them. An offload that is off is all zero, its encapsulation
/// `NDIS_ENCAPSULATION_NOT_SUPPORTED` included: so is a checksum direction (`IPv4Transmit`,
/// `IPv4Receive`, `IPv6Transmit`, `IPv6Receive`) none of whose checksums is on.
pub fn ndis_offload(set: TaskOffloads, minor: u8) -> NDIS_OFFLOAD {
    let (revision, size) = offload_revision(minor);
    let uso = minor >= USO_MINOR_VERSION;
    let mut offload = NDIS_OFFLOAD {
        // At most 216 bytes: fits the header's u16.
        Header: NDIS_OBJECT_HEADER { Type: NDIS_OBJECT_TYPE_OFFLOAD, Revision: revision, Size: size as u16 },
        // No flag. The IPsec coexistence flags describe IPsecV2, which is not offered; and not
        // NDIS_OFFLOAD_FLAGS_GROUP_CHECKSUM_CAPABILITIES, which ties the adapter to the grouped
        // checksum keywords (`*TCPUDPChecksumOffloadIPv4/IPv6`): from what is known of NDIS's
        // implementation (the reference does not document the flag), with it set NDIS writes
        // the grouped keywords on OID_TCP_OFFLOAD_PARAMETERS instead of the granular ones the INF
        // declares, and refuses a request whose per-transport checksum settings of one IP
        // version differ, which the engine supports. The adapter reads the grouped keywords only
        // because NDIS reads them too (docs/oids.md). The emulator's model refuses the flag.
        Flags: 0,
        ..NDIS_OFFLOAD::default()
    };
    let checksum = &mut offload.Checksum;
    let off = NDIS_CHECKSUM_OFFLOAD_DIRECTION { Encapsulation: NDIS_ENCAPSULATION_NOT_SUPPORTED, Fields: 0 };
    let v4 = |tcp: TaskOffloads, udp: TaskOffloads, ip: TaskOffloads, rx: bool| {
        if !set.intersects(tcp.union(udp).union(ip)) {
            return off;
        }
        let (ip_options, tcp_options, tcp_bits, udp_bits, ip_bits) = if rx {
            (
                CHECKSUM_IPV4_RX_IP_OPTIONS,
                CHECKSUM_IPV4_RX_TCP_OPTIONS,
                CHECKSUM_IPV4_RX_TCP,
                CHECKSUM_IPV4_RX_UDP,
                CHECKSUM_IPV4_RX_IP,
            )
        } else {
            (
                CHECKSUM_IPV4_TX_IP_OPTIONS,
                CHECKSUM_IPV4_TX_TCP_OPTIONS,
                CHECKSUM_IPV4_TX_TCP,
                CHECKSUM_IPV4_TX_UDP,
                CHECKSUM_IPV4_TX_IP,
            )
        };
        let mut fields = 0;
        fields = ip_options.put(fields, bit(set, ip));
        fields = tcp_options.put(fields, bit(set, tcp));
        fields = tcp_bits.put(fields, bit(set, tcp));
        fields = udp_bits.put(fields, bit(set, udp));
        fields = ip_bits.put(fields, bit(set, ip));
        NDIS_CHECKSUM_OFFLOAD_DIRECTION { Encapsulation: OFFLOAD_ENCAPSULATIONS, Fields: fields }
    };
    let v6 = |tcp: TaskOffloads, udp: TaskOffloads, rx: bool| {
        if !set.intersects(tcp.union(udp)) {
            return off;
        }
        let (extension, tcp_options, tcp_bits, udp_bits) = if rx {
            (
                CHECKSUM_IPV6_RX_EXTENSION_HEADERS,
                CHECKSUM_IPV6_RX_TCP_OPTIONS,
                CHECKSUM_IPV6_RX_TCP,
                CHECKSUM_IPV6_RX_UDP,
            )
        } else {
            (
                CHECKSUM_IPV6_TX_EXTENSION_HEADERS,
                CHECKSUM_IPV6_TX_TCP_OPTIONS,
                CHECKSUM_IPV6_TX_TCP,
                CHECKSUM_IPV6_TX_UDP,
            )
        };
        let mut fields = 0;
        fields = extension.put(fields, NDIS_OFFLOAD_NOT_SUPPORTED);
        fields = tcp_options.put(fields, bit(set, tcp));
        fields = tcp_bits.put(fields, bit(set, tcp));
        fields = udp_bits.put(fields, bit(set, udp));
        NDIS_CHECKSUM_OFFLOAD_DIRECTION { Encapsulation: OFFLOAD_ENCAPSULATIONS, Fields: fields }
    };
    checksum.IPv4Transmit =
        v4(TaskOffloads::TCP4_CHECKSUM_TX, TaskOffloads::UDP4_CHECKSUM_TX, TaskOffloads::IPV4_CHECKSUM_TX, false);
    checksum.IPv4Receive =
        v4(TaskOffloads::TCP4_CHECKSUM_RX, TaskOffloads::UDP4_CHECKSUM_RX, TaskOffloads::IPV4_CHECKSUM_RX, true);
    checksum.IPv6Transmit = v6(TaskOffloads::TCP6_CHECKSUM_TX, TaskOffloads::UDP6_CHECKSUM_TX, false);
    checksum.IPv6Receive = v6(TaskOffloads::TCP6_CHECKSUM_RX, TaskOffloads::UDP6_CHECKSUM_RX, true);
    // An offload that is off is all zero (encapsulation NOT_SUPPORTED included).
    const _: () = assert!(NDIS_ENCAPSULATION_NOT_SUPPORTED == 0);
    if set.contains(TaskOffloads::LSO_V4) {
        offload.LsoV2.IPv4 = NDIS_LSO_V2_IPV4 {
            Encapsulation: OFFLOAD_ENCAPSULATIONS,
            MaxOffLoadSize: LARGE_SEND_MAX_PAYLOAD,
            MinSegmentCount: LARGE_SEND_MIN_SEGMENTS,
        };
    }
    if set.contains(TaskOffloads::LSO_V6) {
        let mut fields = LSO_V2_IPV6_EXTENSION_HEADERS.put(0, NDIS_OFFLOAD_NOT_SUPPORTED);
        fields = LSO_V2_IPV6_TCP_OPTIONS.put(fields, NDIS_OFFLOAD_SUPPORTED);
        offload.LsoV2.IPv6 = NDIS_LSO_V2_IPV6 {
            Encapsulation: OFFLOAD_ENCAPSULATIONS,
            MaxOffLoadSize: LARGE_SEND_MAX_PAYLOAD,
            MinSegmentCount: LARGE_SEND_MIN_SEGMENTS,
            Fields: fields,
        };
    }
    offload.Rsc = NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD {
        IPv4: u8::from(set.contains(TaskOffloads::RSC_V4)),
        IPv6: u8::from(set.contains(TaskOffloads::RSC_V6)),
    };
    if uso {
        if set.contains(TaskOffloads::USO_V4) {
            offload.UdpSegmentation.IPv4 = NDIS_USO_IPV4 {
                Encapsulation: OFFLOAD_ENCAPSULATIONS,
                MaxOffLoadSize: LARGE_SEND_MAX_PAYLOAD,
                Fields: USO_IPV4_MIN_SEGMENT_COUNT.put(0, LARGE_SEND_MIN_SEGMENTS),
            };
        }
        if set.contains(TaskOffloads::USO_V6) {
            offload.UdpSegmentation.IPv6 = NDIS_USO_IPV6 {
                Encapsulation: OFFLOAD_ENCAPSULATIONS,
                MaxOffLoadSize: LARGE_SEND_MAX_PAYLOAD,
                Fields: USO_IPV6_MIN_SEGMENT_COUNT.put(0, LARGE_SEND_MIN_SEGMENTS),
                Fields2: USO_IPV6_EXTENSION_HEADERS.put(0, NDIS_OFFLOAD_NOT_SUPPORTED),
            };
        }
    }
    offload
}

/// The 32 bits of an NBL information entry the offload structures use (their `Value` is a PVOID
/// whose low ULONG holds the bit fields on these little-endian 64-bit targets).
fn word(value: *mut c_void) -> u32 {
    value as usize as u32
}

/// What the stack asks of a sent NBL, from its `NetBufferListInfo` entries (`info`, through
/// [`NBL_INFO_ENTRIES_USED`]); `uso` says whether USO was offered (before NDIS 6.83 the USO
/// entry is `TcpRecvSegCoalesceInfo`, which a send does not use, and is not read).
///
/// LSOv2 and USO carry their segment size and IP version; their length fields are left to the
/// adapter (`lengths_from_buffer`). An LSOv1 request was never offered (`not_offered`). The
/// checksum entry's `Transmit` bits ask for the TCP or UDP checksum and the IPv4 header
/// checksum.
pub fn transmit_offload(info: &[*mut c_void; NBL_INFO_ENTRIES_USED], uso: bool) -> TransmitOffload {
    let checksum = word(info[TcpIpChecksumNetBufferListInfo]);
    let lso = word(info[TcpLargeSendNetBufferListInfo]);
    let udp = if uso { word(info[UdpSegmentationOffloadInfo]) } else { 0 };
    let mut request = TransmitOffload {
        segmentation: None,
        l4_checksum: CHECKSUM_TRANSMIT_TCP.get(checksum) != 0 || CHECKSUM_TRANSMIT_UDP.get(checksum) != 0,
        ip_checksum: CHECKSUM_TRANSMIT_IP_HEADER.get(checksum) != 0,
        lengths_from_buffer: false,
        not_offered: false,
    };
    if lso != 0 {
        if LSO_TRANSMIT_TYPE.get(lso) == NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE {
            let kind = if LSO_V2_TRANSMIT_IP_VERSION.get(lso) == NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6 {
                GsoKind::TcpV6
            } else {
                GsoKind::TcpV4
            };
            // MSS is 20 bits; a value above 0xFFFF cannot be a segment size of a 64 KiB packet.
            let mss = u16::try_from(LSO_V2_TRANSMIT_MSS.get(lso)).unwrap_or(0);
            request.segmentation = Some((kind, mss));
            request.lengths_from_buffer = true;
        } else {
            request.not_offered = true;
        }
    } else if udp != 0 {
        let mss = u16::try_from(USO_TRANSMIT_MSS.get(udp)).unwrap_or(0);
        request.segmentation = Some((GsoKind::UdpL4, mss));
        request.lengths_from_buffer = true;
    }
    request
}

/// The LSO information of a completed NBL, read, modified and written back whole. An LSOv2 NBL
/// gets `LsoV2TransmitComplete` with `Reserved` (bits 0–29) zero, as NDIS requires of a miniport
/// that completes one; an LSOv1 NBL (never offered, so never sent: completed as failed) gets
/// `LsoV1TransmitComplete` with `TcpPayload` (bits 0–29) 0, no payload sent, so no MSS or offset
/// bits of the request are left to be read as a payload count. Every other bit is the stack's:
/// `Type` (bit 30, the same bit in the request and completion arms), `Reserved2` (bit 31,
/// "reserved for NDIS"; `LsoV2Transmit.IPVersion` on the way down) and the rest of the
/// pointer-sized entry (its upper half). An NBL without LSO information is left as it is.
pub fn lso_completion(lso: *mut c_void) -> *mut c_void {
    let value = word(lso);
    if value == 0 {
        return lso;
    }
    let completed = if LSO_TRANSMIT_TYPE.get(value) == NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE {
        LSO_V2_TRANSMIT_COMPLETE_RESERVED.put(value, 0)
    } else {
        LSO_V1_TRANSMIT_COMPLETE_TCP_PAYLOAD.put(value, 0)
    };
    let upper = lso as usize & !(u32::MAX as usize);
    (upper | completed as usize) as *mut c_void
}

// The request's `Type` is the completion's, in both versions (ndis.h: `Transmit.Type`,
// `LsoV1TransmitComplete.Type` and `LsoV2TransmitComplete.Type` are all bit 30), and the fields
// `lso_completion` rewrites end below it.
const _: () = {
    assert!(LSO_TRANSMIT_TYPE.shift == LSO_V1_TRANSMIT_COMPLETE_TYPE.shift);
    assert!(LSO_TRANSMIT_TYPE.shift == LSO_V2_TRANSMIT_COMPLETE_TYPE.shift);
    assert!(LSO_V1_TRANSMIT_COMPLETE_TCP_PAYLOAD.shift + LSO_V1_TRANSMIT_COMPLETE_TCP_PAYLOAD.width == 30);
    assert!(LSO_V2_TRANSMIT_COMPLETE_RESERVED.shift + LSO_V2_TRANSMIT_COMPLETE_RESERVED.width == 30);
};

/// The checksum and RSC information entries of an indicated NBL: `TcpIpChecksumNetBufferListInfo`
/// says the IP (IPv4) and TCP or UDP checksums succeeded for a packet the engine marks valid,
/// and, when the engine did not compute the values the packet carries, that the TCP and IPv4
/// header checksum values are not to be used (`TcpChecksumValueInvalid`,
/// `IpChecksumValueInvalid`: NDIS, "Indicating Coalesced Segments"); `TcpRecvSegCoalesceInfo`
/// carries the segment count of a super-packet indicated whole.
///
/// The value-invalid bits go with every packet whose values the engine did not compute, a
/// single `DATA_VALID` packet (`CoalescedSegCount` 0) as well as a coalesced unit: deliberately,
/// beyond the DDI reference, which describes them for coalesced segments only. The client
/// validated the checksums, but the engine cannot know that it wrote correct values, and the
/// stack must recompute them before it forwards the packet. (The reference's "miniport drivers
/// that do not support RSC should set this flag to zero" does not apply: the adapter supports
/// RSC.) Why, and what is unverified: docs/oids.md.
pub fn indication_entries(info: &IndicationInfo) -> (*mut c_void, *mut c_void) {
    let mut checksum = 0u32;
    if let IndicatedChecksum::Valid { value_computed } = info.checksum {
        if info.kind == IpKind::V4 {
            checksum = CHECKSUM_RECEIVE_IP_SUCCEEDED.put(checksum, 1);
            checksum = CHECKSUM_RECEIVE_IP_VALUE_INVALID.put(checksum, u32::from(!value_computed));
        }
        checksum = match info.transport {
            Transport::Tcp => {
                let succeeded = CHECKSUM_RECEIVE_TCP_SUCCEEDED.put(checksum, 1);
                CHECKSUM_RECEIVE_TCP_VALUE_INVALID.put(succeeded, u32::from(!value_computed))
            }
            Transport::Udp => CHECKSUM_RECEIVE_UDP_SUCCEEDED.put(checksum, 1),
            Transport::Other(_) => checksum,
        };
    }
    let rsc =
        info.coalesced.map_or(0, |c| RSC_DUP_ACK_COUNT.put(RSC_COALESCED_SEG_COUNT.put(0, u32::from(c.segments)), 0));
    (checksum as usize as *mut c_void, rsc as usize as *mut c_void)
}

// The engine reads `NDIS_OFFLOAD_PARAMETERS` from bytes at these offsets; they are those of the
// declaration the layout check compares with the headers.
const _: () = {
    use core::mem::offset_of;

    use crate::engine::offload::parameters_layout as at;
    type P = NDIS_OFFLOAD_PARAMETERS;
    assert!(offset_of!(P, Header) + offset_of!(NDIS_OBJECT_HEADER, Type) == at::HEADER_TYPE);
    assert!(offset_of!(P, Header) + offset_of!(NDIS_OBJECT_HEADER, Revision) == at::HEADER_REVISION);
    assert!(offset_of!(P, Header) + offset_of!(NDIS_OBJECT_HEADER, Size) == at::HEADER_SIZE);
    assert!(offset_of!(P, IPv4Checksum) == at::IPV4_CHECKSUM);
    assert!(offset_of!(P, TCPIPv4Checksum) == at::IPV4_CHECKSUM + 1);
    assert!(offset_of!(P, UDPIPv4Checksum) == at::IPV4_CHECKSUM + 2);
    assert!(offset_of!(P, TCPIPv6Checksum) == at::IPV4_CHECKSUM + 3);
    assert!(offset_of!(P, UDPIPv6Checksum) == at::IPV4_CHECKSUM + 4);
    assert!(offset_of!(P, LsoV1) == at::IPV4_CHECKSUM + 5);
    assert!(offset_of!(P, IPsecV1) == at::IPV4_CHECKSUM + 6);
    assert!(offset_of!(P, LsoV2IPv4) == at::IPV4_CHECKSUM + 7);
    assert!(offset_of!(P, LsoV2IPv6) == at::IPV4_CHECKSUM + 8);
    assert!(offset_of!(P, TcpConnectionIPv4) == at::IPV4_CHECKSUM + 9);
    assert!(offset_of!(P, TcpConnectionIPv6) == at::IPV4_CHECKSUM + 10);
    assert!(offset_of!(P, Flags) + 4 == at::SIZE_REVISION_1 as usize);
    assert!(offset_of!(P, IPsecV2) == at::IPSEC_V2);
    assert!(offset_of!(P, IPsecV2IPv4) == at::IPSEC_V2 + 1);
    assert!(offset_of!(P, RscIPv4) == at::RSC_IPV4);
    assert!(offset_of!(P, RscIPv6) == at::RSC_IPV4 + 1);
    assert!(offset_of!(P, EncapsulatedPacketTaskOffload) == at::ENCAPSULATED_PACKET_TASK_OFFLOAD);
    assert!(offset_of!(P, UdpSegmentation) == at::UDP_SEGMENTATION);
    assert!(offset_of!(P, UdpSegmentation) + 2 == at::SIZE_REVISION_5 as usize);
};
