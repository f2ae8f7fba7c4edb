//! The offload extension of v2 (registration flag `OFFLOAD`): per-packet metadata in the shape of
//! Linux's `struct virtio_net_hdr`, its validation against the packet it describes, and the
//! segmentation of a super-packet into IP packets.
//!
//! In a session with offloads, every v2 slot on both rings carries a 16-byte [`OffloadMeta`]
//! block at slot offset 8, right after the packet header and at the start of the head room
//! (`data_offset >= 24`). An all-zero block ([`OffloadMeta::NONE`]) describes a plain packet.
//!
//! - [`OffloadMeta::validate`] checks a block against the packet's own IP and TCP/UDP headers
//!   (copied once into a local buffer by the caller) and yields an [`OffloadPlan`], or an
//!   [`OffloadError`] naming the first rule broken. The driver applies it to every Receive-ring
//!   packet (a client's metadata is hostile); a client may apply it to Send-ring packets.
//! - [`OffloadMeta::for_stack_request`] turns what a network stack asks for (a large send, a
//!   checksum to complete) into the exact metadata the ring carries, computing `hdr_len`,
//!   `csum_start` and `csum_offset` from the headers.
//! - [`OffloadPlan::segment_header`] writes the IP and TCP/UDP header of one segment of a
//!   super-packet (lengths, IPv4 identification and header checksum, TCP sequence number and
//!   flags, L4 checksum); the segment's payload is a range of the super-packet's
//!   ([`OffloadPlan::segment_payload`]), never copied by this module.
//!
//! Everything here is total: hostile values give an error, never a panic or an overflow.
//! `docs/ring-protocol.md` section 15 is the normative description.

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::checksum;
use crate::consts::{
    MAX_GSO_SEGMENTS, MAX_IP_PACKET_SIZE, MAX_OFFLOAD_HEADER, OFFLOAD_F_DATA_VALID, OFFLOAD_F_NEEDS_CSUM,
    OFFLOAD_GSO_ECN, OFFLOAD_GSO_NONE, OFFLOAD_GSO_TCPV4, OFFLOAD_GSO_TCPV6, OFFLOAD_GSO_UDP_L4, OFFLOAD_META_SIZE,
};

/// The offload metadata block of a slot: the 10 bytes of `struct virtio_net_hdr`
/// (linux/virtio_net.h; little-endian, as a modern virtio header) and 6 reserved bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct OffloadMeta {
    /// `OFFLOAD_F_NEEDS_CSUM`, `OFFLOAD_F_DATA_VALID` (at most one of them).
    pub flags: u8,
    /// `OFFLOAD_GSO_*`, with `OFFLOAD_GSO_ECN` on TCP types.
    pub gso_type: u8,
    /// Super-packets: length of the IP and TCP/UDP headers in front of the payload; else 0.
    pub hdr_len: u16,
    /// Super-packets: payload bytes per segment; else 0.
    pub gso_size: u16,
    /// `NEEDS_CSUM`: where the checksummed range starts (the L4 header); else 0.
    pub csum_start: u16,
    /// `NEEDS_CSUM`: offset of the checksum field from `csum_start` (TCP 16, UDP 6); else 0.
    pub csum_offset: u16,
    /// Reserved, zero.
    pub reserved: [u8; 6],
}

const _: () = {
    assert!(size_of::<OffloadMeta>() == OFFLOAD_META_SIZE as usize);
    assert!(offset_of!(OffloadMeta, flags) == 0);
    assert!(offset_of!(OffloadMeta, gso_type) == 1);
    assert!(offset_of!(OffloadMeta, hdr_len) == 2);
    assert!(offset_of!(OffloadMeta, gso_size) == 4);
    assert!(offset_of!(OffloadMeta, csum_start) == 6);
    assert!(offset_of!(OffloadMeta, csum_offset) == 8);
    assert!(offset_of!(OffloadMeta, reserved) == 10);
};

/// IP version of an offloaded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6 (no extension headers when an offload is asked for).
    V6,
}

/// The transport protocol following the IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP (protocol 6).
    Tcp,
    /// UDP (protocol 17).
    Udp,
    /// Anything else (no checksum or segmentation offload possible).
    Other(u8),
}

/// Which super-packet a slot carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GsoKind {
    /// IPv4 TCP (`OFFLOAD_GSO_TCPV4`).
    TcpV4,
    /// IPv6 TCP (`OFFLOAD_GSO_TCPV6`).
    TcpV6,
    /// UDP over IPv4 or IPv6, cut into datagrams (`OFFLOAD_GSO_UDP_L4`).
    UdpL4,
}

impl GsoKind {
    /// The `gso_type` value (without the ECN bit).
    pub const fn gso_type(self) -> u8 {
        match self {
            Self::TcpV4 => OFFLOAD_GSO_TCPV4,
            Self::TcpV6 => OFFLOAD_GSO_TCPV6,
            Self::UdpL4 => OFFLOAD_GSO_UDP_L4,
        }
    }
}

/// What a packet's metadata says about its L4 checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumState {
    /// Nothing: the checksums are whatever the packet holds.
    Unknown,
    /// `NEEDS_CSUM`: the L4 checksum field holds the pseudo-header sum; the rest is to be added.
    Partial,
    /// `DATA_VALID`: the checksums need not be verified.
    Valid,
}

/// A validated super-packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gso {
    /// Which kind.
    pub kind: GsoKind,
    /// Payload bytes per segment (the last may be shorter).
    pub segment_size: u16,
    /// Number of segments: `1..=MAX_GSO_SEGMENTS` in a plan [`OffloadMeta::validate`] gave;
    /// up to one per payload byte in one [`OffloadMeta::plan_stack_request`] gave.
    pub segments: u16,
    /// The ECN bit of `gso_type`.
    pub ecn: bool,
}

/// A packet whose metadata was validated against its headers: everything the driver (or a
/// client) needs to pass it on as one unit or to cut it into IP packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OffloadPlan {
    /// IP version.
    pub ip: IpVersion,
    /// Transport protocol.
    pub transport: Transport,
    /// Length of the IP header (IPv4 with options: 20..=60; IPv6: 40).
    pub l3_len: u16,
    /// Length of the IP and transport headers (the transport header is TCP's data offset or UDP's
    /// 8 bytes; 0 for other protocols).
    pub header_len: u16,
    /// The whole packet's length (= the IP length field's).
    pub data_length: u16,
    /// The checksum state.
    pub checksum: ChecksumState,
    /// The super-packet, if it is one.
    pub gso: Option<Gso>,
}

/// Why metadata was refused. For the driver on the Receive ring, any of these drops the packet
/// (counted); the session goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffloadError {
    /// A reserved byte is not zero.
    ReservedNotZero,
    /// A `flags` bit outside `NEEDS_CSUM | DATA_VALID`.
    UnknownFlags(u8),
    /// `NEEDS_CSUM` and `DATA_VALID` together.
    ConflictingFlags,
    /// A `gso_type` other than NONE, TCPV4, TCPV6, UDP_L4, or the ECN bit on a non-TCP type.
    UnknownGsoType(u8),
    /// A field that must be zero for these flags and type is not (`hdr_len`/`gso_size` without a
    /// super-packet, `csum_start`/`csum_offset` without `NEEDS_CSUM`).
    UnusedFieldSet,
    /// The data is not an IPv4 or IPv6 packet (or its IPv4 header length is below 20).
    NotIp,
    /// The data ends before the headers do.
    Truncated,
    /// The IP length field (IPv4 total length, IPv6 payload length + 40), or the UDP length, is
    /// not the data length.
    LengthMismatch,
    /// An IPv4 fragment (more-fragments bit or a fragment offset).
    Fragment,
    /// A checksum or segmentation offload on a protocol other than TCP or UDP (IPv6 extension
    /// headers included).
    UnsupportedTransport(u8),
    /// A TCP data offset below 5 words.
    BadTransportHeader,
    /// `csum_start` is not the start of the TCP/UDP header.
    ChecksumStart(u16),
    /// `csum_offset` is not the checksum field of the protocol (TCP 16, UDP 6).
    ChecksumOffset(u16),
    /// The `gso_type` does not match the packet (TCPV4 on an IPv6 packet, a TCP type on UDP...).
    GsoMismatch,
    /// `hdr_len` is not the length of the IP and TCP/UDP headers.
    HeaderLength(u16),
    /// `gso_size` is 0.
    SegmentSize(u16),
    /// A super-packet without payload.
    NoPayload,
    /// More than `MAX_GSO_SEGMENTS` segments.
    TooManySegments(u32),
    /// A TCP super-packet with SYN, RST or URG set.
    TcpFlags(u8),
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_URG: u8 = 0x20;
const TCP_CWR: u8 = 0x80;
/// Offset of the checksum field in a TCP header.
pub const TCP_CHECKSUM_OFFSET: u16 = 16;
/// Offset of the checksum field in a UDP header.
pub const UDP_CHECKSUM_OFFSET: u16 = 6;

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let end = at.checked_add(2)?;
    let b = bytes.get(at..end)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn put_be16(bytes: &mut [u8], at: usize, value: u16) -> Option<()> {
    let end = at.checked_add(2)?;
    bytes.get_mut(at..end)?.copy_from_slice(&value.to_be_bytes());
    Some(())
}

/// The IP and transport headers of a packet, parsed from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Headers {
    ip: IpVersion,
    transport: Transport,
    l3_len: u16,
    l4_len: u16,
}

/// Parses the headers at the start of `headers` (the packet's first
/// `min(data_length, MAX_OFFLOAD_HEADER)` bytes) of a packet of `data_length` bytes.
fn parse_headers(headers: &[u8], data_length: u32) -> Result<Headers, OffloadError> {
    let first = *headers.first().ok_or(OffloadError::Truncated)?;
    let (ip, l3_len, protocol) = match first >> 4 {
        4 => {
            let l3_len = u16::from(first & 0x0F).wrapping_mul(4);
            if l3_len < 20 {
                return Err(OffloadError::NotIp);
            }
            if headers.len() < usize::from(l3_len) {
                return Err(OffloadError::Truncated);
            }
            let total = be16(headers, 2).ok_or(OffloadError::Truncated)?;
            if u32::from(total) != data_length {
                return Err(OffloadError::LengthMismatch);
            }
            if be16(headers, 6).ok_or(OffloadError::Truncated)? & 0x3FFF != 0 {
                return Err(OffloadError::Fragment);
            }
            (IpVersion::V4, l3_len, *headers.get(9).ok_or(OffloadError::Truncated)?)
        }
        6 => {
            if headers.len() < 40 {
                return Err(OffloadError::Truncated);
            }
            let payload = be16(headers, 4).ok_or(OffloadError::Truncated)?;
            if u32::from(payload).wrapping_add(40) != data_length {
                return Err(OffloadError::LengthMismatch);
            }
            (IpVersion::V6, 40, *headers.get(6).ok_or(OffloadError::Truncated)?)
        }
        _ => return Err(OffloadError::NotIp),
    };
    let l3 = usize::from(l3_len);
    let (transport, l4_len) = match protocol {
        TCP => {
            let offset_byte = *headers.get(l3.wrapping_add(12)).ok_or(OffloadError::Truncated)?;
            let l4_len = u16::from(offset_byte >> 4).wrapping_mul(4);
            if l4_len < 20 {
                return Err(OffloadError::BadTransportHeader);
            }
            (Transport::Tcp, l4_len)
        }
        UDP => {
            let udp_length = be16(headers, l3.wrapping_add(4)).ok_or(OffloadError::Truncated)?;
            if u32::from(udp_length) != data_length.wrapping_sub(u32::from(l3_len)) {
                return Err(OffloadError::LengthMismatch);
            }
            (Transport::Udp, 8)
        }
        other => (Transport::Other(other), 0),
    };
    // l3 <= 60 and l4 <= 60: the sum is at most MAX_OFFLOAD_HEADER.
    let header_len = l3_len.wrapping_add(l4_len);
    if usize::from(header_len) > headers.len() || u32::from(header_len) > data_length {
        return Err(OffloadError::Truncated);
    }
    Ok(Headers { ip, transport, l3_len, l4_len })
}

impl OffloadMeta {
    /// The block of a plain packet: all zero.
    pub const NONE: Self =
        Self { flags: 0, gso_type: 0, hdr_len: 0, gso_size: 0, csum_start: 0, csum_offset: 0, reserved: [0; 6] };

    /// Whether this is the block of a plain packet.
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }

    /// The block as its 16 little-endian bytes.
    pub fn to_bytes(&self) -> [u8; OFFLOAD_META_SIZE as usize] {
        let mut out = [0u8; OFFLOAD_META_SIZE as usize];
        out.copy_from_slice(self.as_bytes());
        out
    }

    /// The block from its 16 bytes.
    pub fn from_bytes(bytes: [u8; OFFLOAD_META_SIZE as usize]) -> Self {
        Self::read_from_bytes(&bytes).unwrap_or(Self::NONE)
    }

    /// Validates the block against the packet it describes: `headers` is a local copy of the
    /// packet's first `min(data_length, MAX_OFFLOAD_HEADER)` bytes, `data_length` its length.
    /// `Ok(None)`: a plain packet (the block is all zero; nothing is parsed).
    ///
    /// The rules, in order (the first broken one is reported): reserved bytes zero; `flags` only
    /// `NEEDS_CSUM` or `DATA_VALID`, not both; `gso_type` NONE, TCPV4, TCPV6 or UDP_L4, the ECN
    /// bit only on TCP types; the data an IPv4 (header length >= 20, not a fragment) or IPv6
    /// packet whose length field is `data_length`, a TCP header (data offset >= 5) or a UDP
    /// header whose length is the rest of the packet, all inside the data; `NEEDS_CSUM`: TCP or
    /// UDP, `csum_start` the L4 header's offset and `csum_offset` its checksum field (16 or 6),
    /// otherwise both zero; a super-packet: the type matches the packet (TCPV4: IPv4/TCP, TCPV6:
    /// IPv6/TCP, UDP_L4: UDP), `hdr_len` the IP + L4 header length, `gso_size >= 1`, a payload of
    /// at least one byte, at most `MAX_GSO_SEGMENTS` segments, TCP without SYN, RST or URG;
    /// otherwise `hdr_len` and `gso_size` zero.
    pub fn validate(&self, headers: &[u8], data_length: u32) -> Result<Option<OffloadPlan>, OffloadError> {
        self.validate_within(headers, data_length, MAX_GSO_SEGMENTS)
    }

    /// [`Self::validate`] with a super-packet of at most `max_segments` segments.
    fn validate_within(
        &self,
        headers: &[u8],
        data_length: u32,
        max_segments: u32,
    ) -> Result<Option<OffloadPlan>, OffloadError> {
        if self.is_none() {
            return Ok(None);
        }
        if self.reserved != [0; 6] {
            return Err(OffloadError::ReservedNotZero);
        }
        let known = OFFLOAD_F_NEEDS_CSUM | OFFLOAD_F_DATA_VALID;
        if self.flags & !known != 0 {
            return Err(OffloadError::UnknownFlags(self.flags));
        }
        let checksum = match self.flags {
            0 => ChecksumState::Unknown,
            OFFLOAD_F_NEEDS_CSUM => ChecksumState::Partial,
            OFFLOAD_F_DATA_VALID => ChecksumState::Valid,
            _ => return Err(OffloadError::ConflictingFlags),
        };
        let ecn = self.gso_type & OFFLOAD_GSO_ECN != 0;
        let kind = match self.gso_type & !OFFLOAD_GSO_ECN {
            OFFLOAD_GSO_NONE if !ecn => None,
            OFFLOAD_GSO_TCPV4 => Some(GsoKind::TcpV4),
            OFFLOAD_GSO_TCPV6 => Some(GsoKind::TcpV6),
            OFFLOAD_GSO_UDP_L4 if !ecn => Some(GsoKind::UdpL4),
            _ => return Err(OffloadError::UnknownGsoType(self.gso_type)),
        };
        if data_length > MAX_IP_PACKET_SIZE {
            return Err(OffloadError::LengthMismatch);
        }
        let parsed = parse_headers(headers, data_length)?;
        let header_len = parsed.l3_len.wrapping_add(parsed.l4_len);
        if checksum == ChecksumState::Partial {
            let field = match parsed.transport {
                Transport::Tcp => TCP_CHECKSUM_OFFSET,
                Transport::Udp => UDP_CHECKSUM_OFFSET,
                Transport::Other(p) => return Err(OffloadError::UnsupportedTransport(p)),
            };
            if self.csum_start != parsed.l3_len {
                return Err(OffloadError::ChecksumStart(self.csum_start));
            }
            if self.csum_offset != field {
                return Err(OffloadError::ChecksumOffset(self.csum_offset));
            }
        } else if self.csum_start != 0 || self.csum_offset != 0 {
            return Err(OffloadError::UnusedFieldSet);
        }
        let gso = match kind {
            None => {
                if self.hdr_len != 0 || self.gso_size != 0 {
                    return Err(OffloadError::UnusedFieldSet);
                }
                None
            }
            Some(kind) => {
                if let Transport::Other(p) = parsed.transport {
                    return Err(OffloadError::UnsupportedTransport(p));
                }
                let matches = matches!(
                    (kind, parsed.ip, parsed.transport),
                    (GsoKind::TcpV4, IpVersion::V4, Transport::Tcp)
                        | (GsoKind::TcpV6, IpVersion::V6, Transport::Tcp)
                        | (GsoKind::UdpL4, _, Transport::Udp)
                );
                if !matches {
                    return Err(OffloadError::GsoMismatch);
                }
                if self.hdr_len != header_len {
                    return Err(OffloadError::HeaderLength(self.hdr_len));
                }
                if self.gso_size == 0 {
                    return Err(OffloadError::SegmentSize(self.gso_size));
                }
                let payload = data_length.wrapping_sub(u32::from(header_len));
                if payload == 0 {
                    return Err(OffloadError::NoPayload);
                }
                let segments = payload.div_ceil(u32::from(self.gso_size));
                if segments > max_segments {
                    return Err(OffloadError::TooManySegments(segments));
                }
                if parsed.transport == Transport::Tcp {
                    let flags = headers.get(usize::from(parsed.l3_len).wrapping_add(13)).copied().unwrap_or(0);
                    if flags & (TCP_SYN | TCP_RST | TCP_URG) != 0 {
                        return Err(OffloadError::TcpFlags(flags));
                    }
                }
                // segments <= payload <= 0xFFFF fits in u16.
                Some(Gso { kind, segment_size: self.gso_size, segments: segments as u16, ecn })
            }
        };
        Ok(Some(OffloadPlan {
            ip: parsed.ip,
            transport: parsed.transport,
            l3_len: parsed.l3_len,
            header_len,
            // data_length <= 0xFFFF (checked above).
            data_length: data_length as u16,
            checksum,
            gso,
        }))
    }

    /// The metadata the ring carries for what a network stack asks of a packet it sends: a
    /// checksum to complete (`checksum_partial`), and a large send cut into `segment_size`-byte
    /// segments (`segment_size` > 0) of the packet's own kind (TCP over IPv4 or IPv6, or UDP).
    /// `hdr_len`, `csum_start` and `csum_offset` are computed from the headers; a large send
    /// always carries `NEEDS_CSUM` (its segments' checksums are computed by whoever cuts it). The
    /// result is validated like a client's ([`Self::validate`]), so a request that does not fit
    /// the packet (a large send of a UDP packet asked as TCP, a fragment, too many segments) is
    /// refused.
    pub fn for_stack_request(
        headers: &[u8],
        data_length: u32,
        checksum_partial: bool,
        segment_size: Option<(GsoKind, u16)>,
    ) -> Result<(Self, Option<OffloadPlan>), OffloadError> {
        let (meta, plan) = Self::plan_stack_request(headers, data_length, checksum_partial, segment_size)?;
        if let Some(beyond) = plan.filter(|p| !p.within_ring_limit()) {
            return Err(OffloadError::TooManySegments(u32::from(beyond.segment_count())));
        }
        Ok((meta, plan))
    }

    /// [`Self::for_stack_request`] without the ring's segment limit: a large send of any number
    /// of segments is planned (a network stack's large send of a small segment size can make
    /// more than `MAX_GSO_SEGMENTS`, up to one per payload byte). The metadata is the ring's
    /// only when the plan is [`OffloadPlan::within_ring_limit`]; beyond it, the sender cuts the
    /// packet itself ([`OffloadPlan::segment_header`]).
    pub fn plan_stack_request(
        headers: &[u8],
        data_length: u32,
        checksum_partial: bool,
        segment_size: Option<(GsoKind, u16)>,
    ) -> Result<(Self, Option<OffloadPlan>), OffloadError> {
        if !checksum_partial && segment_size.is_none() {
            return Ok((Self::NONE, None));
        }
        let parsed = parse_headers(headers, data_length)?;
        let field = match parsed.transport {
            Transport::Tcp => TCP_CHECKSUM_OFFSET,
            Transport::Udp => UDP_CHECKSUM_OFFSET,
            Transport::Other(p) => return Err(OffloadError::UnsupportedTransport(p)),
        };
        let mut meta =
            Self { flags: OFFLOAD_F_NEEDS_CSUM, csum_start: parsed.l3_len, csum_offset: field, ..Self::NONE };
        if let Some((kind, size)) = segment_size {
            meta.gso_type = kind.gso_type();
            meta.hdr_len = parsed.l3_len.wrapping_add(parsed.l4_len);
            meta.gso_size = size;
        }
        let plan = meta.validate_within(headers, data_length, u32::from(u16::MAX))?;
        Ok((meta, plan))
    }
}

/// How the IPv4 identification of a super-packet's segments advances from the super-packet's
/// own (segment `k` gets `id + k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpIdWrap {
    /// Modulo 2^16, as Linux's segmentation (and the ring's segmenter, section 15.7).
    Bits16,
    /// In the low 15 bits, the top bit kept (NDIS large sends: the transport uses identifications
    /// 0..=0x7FFF and the adapter stays in that range).
    Bits15,
}

/// Where one segment's payload lies in the super-packet and how long its IP packet is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSpec {
    /// Offset of the payload in the super-packet.
    pub payload_offset: u32,
    /// Payload bytes.
    pub payload_len: u32,
    /// Length of the segment's IP packet (header + payload).
    pub packet_len: u32,
}

impl OffloadPlan {
    /// Number of IP packets this packet becomes when cut: the super-packet's segments, or 1.
    pub fn segment_count(&self) -> u16 {
        self.gso.map_or(1, |g| g.segments)
    }

    /// Whether the packet may cross the ring as one slot: at most `MAX_GSO_SEGMENTS` segments
    /// (always true of a plan [`OffloadMeta::validate`] gave).
    pub fn within_ring_limit(&self) -> bool {
        u32::from(self.segment_count()) <= MAX_GSO_SEGMENTS
    }

    /// Offset of the L4 checksum field in the packet, for TCP and UDP.
    pub fn checksum_field(&self) -> Option<u16> {
        let offset = match self.transport {
            Transport::Tcp => TCP_CHECKSUM_OFFSET,
            Transport::Udp => UDP_CHECKSUM_OFFSET,
            Transport::Other(_) => return None,
        };
        Some(self.l3_len.wrapping_add(offset))
    }

    /// The payload range and packet length of segment `index` (`None` past the last). A packet
    /// that is not a super-packet is its own single segment, its payload everything after the
    /// headers.
    pub fn segment_payload(&self, index: u16) -> Option<SegmentSpec> {
        let header = u32::from(self.header_len);
        let total_payload = u32::from(self.data_length).checked_sub(header)?;
        let (offset, len) = match self.gso {
            None if index == 0 => (0, total_payload),
            None => return None,
            Some(g) => {
                if index >= g.segments {
                    return None;
                }
                let size = u32::from(g.segment_size);
                let offset = u32::from(index).checked_mul(size)?;
                let left = total_payload.checked_sub(offset)?;
                (offset, left.min(size))
            }
        };
        Some(SegmentSpec {
            payload_offset: header.checked_add(offset)?,
            payload_len: len,
            packet_len: header.checked_add(len)?,
        })
    }

    /// Writes the IP and TCP/UDP header of segment `index` into `out` (at least `header_len`
    /// bytes) from `headers`, the super-packet's own first `header_len` bytes: IP length fields
    /// for the segment; IPv4: identification + `index` and the header checksum; TCP: sequence
    /// number + `index * segment_size`, FIN and PSH kept only on the last segment, CWR only on
    /// the first; UDP: its length; and the L4 checksum over the pseudo header, the L4 header and
    /// the payload, whose ones'-complement sum ([`checksum::sum`] of the payload bytes) is
    /// `payload_sum`. Returns the segment's description, or `None` for an index past the last or
    /// buffers too short (nothing is promised about `out` then).
    pub fn segment_header(&self, headers: &[u8], index: u16, payload_sum: u64, out: &mut [u8]) -> Option<SegmentSpec> {
        self.segment_header_with(headers, index, payload_sum, out, IpIdWrap::Bits16)
    }

    /// [`Self::segment_header`] with the IPv4 identifications advancing as `ids` says.
    pub fn segment_header_with(
        &self,
        headers: &[u8],
        index: u16,
        payload_sum: u64,
        out: &mut [u8],
        ids: IpIdWrap,
    ) -> Option<SegmentSpec> {
        let spec = self.segment_payload(index)?;
        let header_len = usize::from(self.header_len);
        let l3 = usize::from(self.l3_len);
        let out = out.get_mut(..header_len)?;
        out.copy_from_slice(headers.get(..header_len)?);
        // packet_len <= data_length <= 0xFFFF.
        let packet_len = spec.packet_len as u16;
        let l4_len = packet_len.checked_sub(self.l3_len)?;
        let first = index == 0;
        let last = index.checked_add(1)? == self.segment_count();
        match self.ip {
            IpVersion::V4 => {
                put_be16(out, 2, packet_len)?;
                if self.gso.is_some() {
                    let first = be16(out, 4)?;
                    let id = match ids {
                        IpIdWrap::Bits16 => first.wrapping_add(index),
                        IpIdWrap::Bits15 => (first & 0x8000) | (first.wrapping_add(index) & 0x7FFF),
                    };
                    put_be16(out, 4, id)?;
                }
                put_be16(out, 10, 0)?;
                let ip_sum = checksum::finish(checksum::sum(out.get(..l3)?));
                put_be16(out, 10, ip_sum)?;
            }
            IpVersion::V6 => put_be16(out, 4, l4_len)?,
        }
        let protocol = match self.transport {
            Transport::Tcp => {
                if let Some(g) = self.gso {
                    let seq_at = l3.checked_add(4)?;
                    let seq = u32::from_be_bytes(out.get(seq_at..seq_at.checked_add(4)?)?.try_into().ok()?);
                    let advanced = seq.wrapping_add(u32::from(index).wrapping_mul(u32::from(g.segment_size)));
                    out.get_mut(seq_at..seq_at.checked_add(4)?)?.copy_from_slice(&advanced.to_be_bytes());
                    let flags_at = l3.checked_add(13)?;
                    let flags = out.get_mut(flags_at)?;
                    if !last {
                        *flags &= !(TCP_FIN | TCP_PSH);
                    }
                    if !first {
                        *flags &= !TCP_CWR;
                    }
                }
                TCP
            }
            Transport::Udp => {
                put_be16(out, l3.checked_add(4)?, l4_len)?;
                UDP
            }
            Transport::Other(_) => return Some(spec),
        };
        let field = usize::from(self.checksum_field()?);
        put_be16(out, field, 0)?;
        let pseudo = match self.ip {
            IpVersion::V4 => checksum::pseudo_v4(out, protocol, u32::from(l4_len)),
            IpVersion::V6 => checksum::pseudo_v6(out, protocol, u32::from(l4_len)),
        };
        let total = pseudo.wrapping_add(checksum::sum(out.get(l3..)?)).wrapping_add(payload_sum);
        let mut l4_sum = checksum::finish(total);
        // UDP sends a computed zero as all ones (zero means "no checksum").
        if l4_sum == 0 && self.transport == Transport::Udp {
            l4_sum = 0xFFFF;
        }
        put_be16(out, field, l4_sum)?;
        Some(spec)
    }

    /// The value a `NEEDS_CSUM` packet carries in its L4 checksum field: the folded pseudo-header
    /// sum of the packet whose first `header_len` bytes are `headers` (IP addresses, protocol,
    /// and the L4 length of this packet, the whole super-packet's for a super-packet, as Linux's
    /// TSO leaves it). `None` for a protocol without one.
    pub fn pseudo_header_sum(&self, headers: &[u8]) -> Option<u16> {
        let l4_len = u32::from(self.data_length.checked_sub(self.l3_len)?);
        let protocol = match self.transport {
            Transport::Tcp => TCP,
            Transport::Udp => UDP,
            Transport::Other(_) => return None,
        };
        let sum = match self.ip {
            IpVersion::V4 => checksum::pseudo_v4(headers.get(..usize::from(self.l3_len))?, protocol, l4_len),
            IpVersion::V6 => checksum::pseudo_v6(headers.get(..40)?, protocol, l4_len),
        };
        Some(checksum::fold(sum))
    }
}

const _: () = assert!(MAX_OFFLOAD_HEADER == 120);

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// An IPv4 or IPv6 packet with a TCP header of `tcp_len` bytes (or a UDP header) and
    /// `payload` bytes, checksums valid.
    fn packet(v6: bool, udp: bool, tcp_len: usize, payload: usize) -> Vec<u8> {
        let l3 = if v6 { 40 } else { 20 };
        let l4 = if udp { 8 } else { tcp_len };
        let total = l3 + l4 + payload;
        let mut p = vec![0u8; total];
        let proto = if udp { UDP } else { TCP };
        if v6 {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
            p[6] = proto;
            p[7] = 64;
            for (i, b) in p[8..40].iter_mut().enumerate() {
                *b = i as u8 + 1;
            }
        } else {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            p[4..6].copy_from_slice(&0xFFFEu16.to_be_bytes());
            p[6] = 0x40; // DF
            p[8] = 64;
            p[9] = proto;
            p[12..20].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
            let c = checksum::finish(checksum::sum(&p[..20]));
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        if udp {
            p[l3..l3 + 2].copy_from_slice(&4000u16.to_be_bytes());
            p[l3 + 2..l3 + 4].copy_from_slice(&5000u16.to_be_bytes());
            p[l3 + 4..l3 + 6].copy_from_slice(&((total - l3) as u16).to_be_bytes());
        } else {
            p[l3..l3 + 4].copy_from_slice(&[0x1F, 0x90, 0xC3, 0x50]);
            p[l3 + 4..l3 + 8].copy_from_slice(&0xFFFF_FF00u32.to_be_bytes());
            p[l3 + 12] = ((tcp_len / 4) as u8) << 4;
            p[l3 + 13] = TCP_FIN | TCP_PSH | 0x10 | TCP_CWR;
        }
        for (i, b) in p[l3 + l4..].iter_mut().enumerate() {
            *b = (i * 13 + 7) as u8;
        }
        p
    }

    fn head(p: &[u8]) -> &[u8] {
        &p[..p.len().min(MAX_OFFLOAD_HEADER)]
    }

    fn gso(kind: u8, hdr_len: u16, size: u16) -> OffloadMeta {
        OffloadMeta {
            flags: OFFLOAD_F_NEEDS_CSUM,
            gso_type: kind,
            hdr_len,
            gso_size: size,
            csum_start: 20,
            csum_offset: 16,
            ..OffloadMeta::NONE
        }
    }

    /// A checksum over a whole L4 segment computed the plain way, for comparison.
    fn l4_verifies(segment: &[u8]) -> bool {
        let (v6, l3) = if segment[0] >> 4 == 6 { (true, 40) } else { (false, usize::from(segment[0] & 15) * 4) };
        let proto = if v6 { segment[6] } else { segment[9] };
        let len = (segment.len() - l3) as u32;
        let pseudo =
            if v6 { checksum::pseudo_v6(segment, proto, len) } else { checksum::pseudo_v4(segment, proto, len) };
        checksum::fold(pseudo + checksum::sum(&segment[l3..])) == 0xFFFF
    }

    #[test]
    fn none_is_plain_and_not_parsed() {
        assert_eq!(OffloadMeta::NONE.validate(&[], 0), Ok(None));
        assert_eq!(OffloadMeta::default(), OffloadMeta::NONE);
        let bytes = gso(1, 52, 1000).to_bytes();
        assert_eq!(bytes[..10], [1, 1, 52, 0, 0xE8, 0x03, 20, 0, 16, 0]);
        assert_eq!(OffloadMeta::from_bytes(bytes), gso(1, 52, 1000));
    }

    #[test]
    fn each_rule_refuses() {
        let p = packet(false, false, 32, 3000);
        let len = p.len() as u32;
        let ok = gso(OFFLOAD_GSO_TCPV4, 52, 1000);
        let plan = ok.validate(head(&p), len).unwrap().unwrap();
        assert_eq!(plan.gso, Some(Gso { kind: GsoKind::TcpV4, segment_size: 1000, segments: 3, ecn: false }));
        assert_eq!((plan.l3_len, plan.header_len, plan.checksum), (20, 52, ChecksumState::Partial));
        let check = |m: OffloadMeta, p: &[u8], want: OffloadError| {
            assert_eq!(m.validate(head(p), p.len() as u32), Err(want), "{m:?}");
        };
        check(OffloadMeta { reserved: [0, 0, 0, 0, 0, 1], ..ok }, &p, OffloadError::ReservedNotZero);
        check(OffloadMeta { flags: 4, ..ok }, &p, OffloadError::UnknownFlags(4));
        check(OffloadMeta { flags: 3, ..ok }, &p, OffloadError::ConflictingFlags);
        check(OffloadMeta { gso_type: 3, ..ok }, &p, OffloadError::UnknownGsoType(3));
        check(OffloadMeta { gso_type: 0x85, ..ok }, &p, OffloadError::UnknownGsoType(0x85));
        check(OffloadMeta { gso_type: 0x80, ..ok }, &p, OffloadError::UnknownGsoType(0x80));
        check(OffloadMeta { gso_type: 0, ..ok }, &p, OffloadError::UnusedFieldSet);
        check(OffloadMeta { flags: 2, ..ok }, &p, OffloadError::UnusedFieldSet);
        check(OffloadMeta { csum_start: 21, ..ok }, &p, OffloadError::ChecksumStart(21));
        check(OffloadMeta { csum_offset: 6, ..ok }, &p, OffloadError::ChecksumOffset(6));
        check(OffloadMeta { gso_type: OFFLOAD_GSO_TCPV6, ..ok }, &p, OffloadError::GsoMismatch);
        check(OffloadMeta { gso_type: OFFLOAD_GSO_UDP_L4, ..ok }, &p, OffloadError::GsoMismatch);
        check(OffloadMeta { hdr_len: 40, ..ok }, &p, OffloadError::HeaderLength(40));
        check(OffloadMeta { gso_size: 0, ..ok }, &p, OffloadError::SegmentSize(0));
        check(OffloadMeta { gso_size: 23, ..ok }, &p, OffloadError::TooManySegments(131));
        let mut syn = p.clone();
        syn[33] |= TCP_SYN;
        check(ok, &syn, OffloadError::TcpFlags(syn[33]));
        let bare = packet(false, false, 32, 0);
        check(ok, &bare, OffloadError::NoPayload);
        let mut frag = p.clone();
        frag[6] = 0x20;
        check(ok, &frag, OffloadError::Fragment);
        let mut long = p.clone();
        long[3] ^= 1;
        check(ok, &long, OffloadError::LengthMismatch);
        let mut notip = p.clone();
        notip[0] = 0x55;
        check(ok, &notip, OffloadError::NotIp);
        let mut short_ihl = p.clone();
        short_ihl[0] = 0x44;
        check(ok, &short_ihl, OffloadError::NotIp);
        let mut doff = p.clone();
        doff[32] = 4 << 4;
        check(ok, &doff, OffloadError::BadTransportHeader);
        check(ok, &p[..30], OffloadError::LengthMismatch);
        let mut icmp = p.clone();
        icmp[9] = 1;
        check(ok, &icmp, OffloadError::UnsupportedTransport(1));
        // UDP: its length must be the rest of the packet; checksum field at 6.
        let u = packet(true, true, 0, 5000);
        let udp = OffloadMeta {
            flags: OFFLOAD_F_NEEDS_CSUM,
            gso_type: OFFLOAD_GSO_UDP_L4,
            hdr_len: 48,
            gso_size: 1200,
            csum_start: 40,
            csum_offset: 6,
            ..OffloadMeta::NONE
        };
        assert_eq!(udp.validate(head(&u), u.len() as u32).unwrap().unwrap().segment_count(), 5);
        let mut bad_udp = u.clone();
        bad_udp[45] ^= 1;
        check(udp, &bad_udp, OffloadError::LengthMismatch);
        check(
            OffloadMeta { gso_type: OFFLOAD_GSO_UDP_L4 | OFFLOAD_GSO_ECN, ..udp },
            &u,
            OffloadError::UnknownGsoType(0x85),
        );
        // DATA_VALID alone: any IP packet, nothing else set.
        let valid = OffloadMeta { flags: OFFLOAD_F_DATA_VALID, ..OffloadMeta::NONE };
        let plan = valid.validate(head(&icmp), icmp.len() as u32).unwrap().unwrap();
        assert_eq!((plan.transport, plan.checksum, plan.gso), (Transport::Other(1), ChecksumState::Valid, None));
    }

    /// Segments as a receiver sees them: every one a valid IP packet with valid checksums, the
    /// payloads concatenating to the super-packet's, sequence numbers advancing, FIN/PSH only on
    /// the last and CWR only on the first.
    #[test]
    fn segments_are_valid_packets() {
        for (v6, udp, payload, size) in
            [(false, false, 4000, 1448), (true, false, 65535 - 72, 1428), (false, true, 3001, 1000), (true, true, 9, 4)]
        {
            let tcp_len = 32;
            let p = packet(v6, udp, tcp_len, payload);
            let l3: u16 = if v6 { 40 } else { 20 };
            let l4: u16 = if udp { 8 } else { tcp_len as u16 };
            let kind = match (v6, udp) {
                (_, true) => OFFLOAD_GSO_UDP_L4,
                (false, false) => OFFLOAD_GSO_TCPV4,
                (true, false) => OFFLOAD_GSO_TCPV6,
            };
            let meta = OffloadMeta {
                flags: OFFLOAD_F_NEEDS_CSUM,
                gso_type: kind,
                hdr_len: l3 + l4,
                gso_size: size,
                csum_start: l3,
                csum_offset: if udp { 6 } else { 16 },
                ..OffloadMeta::NONE
            };
            let plan = meta.validate(head(&p), p.len() as u32).unwrap().unwrap();
            let mut joined = Vec::new();
            for k in 0..plan.segment_count() {
                let spec = plan.segment_payload(k).unwrap();
                let from = spec.payload_offset as usize;
                let body = &p[from..from + spec.payload_len as usize];
                let mut out = [0u8; MAX_OFFLOAD_HEADER];
                assert_eq!(plan.segment_header(&p, k, checksum::sum(body), &mut out), Some(spec));
                let mut seg = out[..usize::from(plan.header_len)].to_vec();
                seg.extend_from_slice(body);
                assert_eq!(seg.len() as u32, spec.packet_len);
                assert!(l4_verifies(&seg), "segment {k} checksum ({v6} {udp})");
                if v6 {
                    assert_eq!(u16::from_be_bytes([seg[4], seg[5]]) as usize, seg.len() - 40);
                } else {
                    assert_eq!(u16::from_be_bytes([seg[2], seg[3]]) as usize, seg.len());
                    assert_eq!(checksum::fold(checksum::sum(&seg[..20])), 0xFFFF);
                    assert_eq!(u16::from_be_bytes([seg[4], seg[5]]), 0xFFFEu16.wrapping_add(k));
                }
                let l3 = usize::from(l3);
                if udp {
                    assert_eq!(u16::from_be_bytes([seg[l3 + 4], seg[l3 + 5]]) as usize, seg.len() - l3);
                } else {
                    let seq = u32::from_be_bytes(seg[l3 + 4..l3 + 8].try_into().unwrap());
                    assert_eq!(seq, 0xFFFF_FF00u32.wrapping_add(u32::from(k) * u32::from(size)));
                    let flags = seg[l3 + 13];
                    let last = k + 1 == plan.segment_count();
                    assert_eq!(flags & (TCP_FIN | TCP_PSH) != 0, last, "FIN/PSH on segment {k}");
                    assert_eq!(flags & TCP_CWR != 0, k == 0, "CWR on segment {k}");
                    assert_eq!(flags & 0x10, 0x10, "ACK kept");
                }
                joined.extend_from_slice(body);
            }
            assert_eq!(joined, p[usize::from(plan.header_len)..]);
            assert_eq!(plan.segment_payload(plan.segment_count()), None);
        }
    }

    /// The header bounds of rule 6 and 7 at their edges (section 15.3): a header that ends
    /// exactly where the data does is inside it, a TCP data offset of exactly 5 words is valid,
    /// and a header longer than the data is truncated before its length field is compared.
    #[test]
    fn header_bounds_are_inclusive() {
        let valid = OffloadMeta { flags: OFFLOAD_F_DATA_VALID, ..OffloadMeta::NONE };
        // IPv4 header only (ICMP with no payload: 20 bytes), and with one option word (24).
        let mut v4 = packet(false, false, 20, 0);
        v4.truncate(20);
        v4[2..4].copy_from_slice(&20u16.to_be_bytes());
        v4[9] = 1;
        let plan = valid.validate(&v4, 20).unwrap().unwrap();
        assert_eq!((plan.l3_len, plan.header_len, plan.transport), (20, 20, Transport::Other(1)));
        let mut v4_option = v4.clone();
        v4_option[0] = 0x46;
        v4_option[2..4].copy_from_slice(&24u16.to_be_bytes());
        v4_option.extend_from_slice(&[1, 1, 1, 0]);
        let plan = valid.validate(&v4_option, 24).unwrap().unwrap();
        assert_eq!((plan.l3_len, plan.header_len), (24, 24));
        // Its header claims 24 bytes but the data is 22: truncated, although the total length
        // field is wrong too (the header bound comes first).
        assert_eq!(valid.validate(&v4_option[..22], 22), Err(OffloadError::Truncated));
        // IPv6 header only (no next header, 59): 40 bytes; 39 bytes are truncated.
        let mut v6 = packet(true, false, 20, 0);
        v6.truncate(40);
        v6[4..6].copy_from_slice(&0u16.to_be_bytes());
        v6[6] = 59;
        let plan = valid.validate(&v6, 40).unwrap().unwrap();
        assert_eq!((plan.ip, plan.l3_len, plan.header_len), (IpVersion::V6, 40, 40));
        assert_eq!(valid.validate(&v6[..39], 39), Err(OffloadError::Truncated));
        // A TCP header of exactly 5 words, with a checksum to complete.
        let tcp = packet(false, false, 20, 100);
        let partial = OffloadMeta { flags: OFFLOAD_F_NEEDS_CSUM, csum_start: 20, csum_offset: 16, ..OffloadMeta::NONE };
        let plan = partial.validate(head(&tcp), tcp.len() as u32).unwrap().unwrap();
        assert_eq!((plan.transport, plan.header_len, plan.checksum), (Transport::Tcp, 40, ChecksumState::Partial));
        // Headers the caller could not give in full (fewer bytes than the headers span, though
        // the data is long enough) are truncated: the validator never reads past what it got.
        let tcp_options = packet(false, false, 32, 1000);
        let meta = gso(OFFLOAD_GSO_TCPV4, 52, 500);
        assert!(meta.validate(head(&tcp_options), tcp_options.len() as u32).is_ok());
        assert_eq!(meta.validate(&tcp_options[..40], tcp_options.len() as u32), Err(OffloadError::Truncated));
    }

    /// Rules 4, 8 and 9 at their edges (section 15.3): a super-packet without a checksum
    /// request, each unused field alone, the segment limit itself, each refused TCP flag alone.
    #[test]
    fn field_rules_at_their_edges() {
        let p = packet(false, false, 32, 3000);
        let len = p.len() as u32;
        let ok = gso(OFFLOAD_GSO_TCPV4, 52, 1000);
        // A super-packet whose checksum state is unknown (no flag): its fields must be zero.
        let unknown = OffloadMeta { flags: 0, csum_start: 0, csum_offset: 0, ..ok };
        let plan = unknown.validate(head(&p), len).unwrap().unwrap();
        assert_eq!((plan.checksum, plan.segment_count()), (ChecksumState::Unknown, 3));
        // Without NEEDS_CSUM, csum_start and csum_offset must both be zero: each alone refuses.
        let valid = OffloadMeta { flags: OFFLOAD_F_DATA_VALID, ..OffloadMeta::NONE };
        assert!(valid.validate(head(&p), len).is_ok());
        for m in [OffloadMeta { csum_start: 20, ..valid }, OffloadMeta { csum_offset: 16, ..valid }] {
            assert_eq!(m.validate(head(&p), len), Err(OffloadError::UnusedFieldSet), "{m:?}");
        }
        // Without a super-packet, hdr_len and gso_size must both be zero: each alone refuses.
        for m in [OffloadMeta { hdr_len: 52, ..valid }, OffloadMeta { gso_size: 1000, ..valid }] {
            assert_eq!(m.validate(head(&p), len), Err(OffloadError::UnusedFieldSet), "{m:?}");
        }
        // Exactly MAX_GSO_SEGMENTS segments are allowed, one more is not.
        let max = u16::try_from(MAX_GSO_SEGMENTS).unwrap();
        let limit = packet(false, false, 32, usize::from(max) * 10);
        let plan = gso(OFFLOAD_GSO_TCPV4, 52, 10).validate(head(&limit), limit.len() as u32).unwrap().unwrap();
        assert_eq!(plan.segment_count(), max);
        let over = packet(false, false, 32, usize::from(max) * 10 + 1);
        assert_eq!(
            gso(OFFLOAD_GSO_TCPV4, 52, 10).validate(head(&over), over.len() as u32),
            Err(OffloadError::TooManySegments(MAX_GSO_SEGMENTS + 1))
        );
        // SYN, RST and URG each refuse a TCP super-packet.
        for flag in [TCP_SYN, TCP_RST, TCP_URG] {
            let mut q = p.clone();
            q[33] |= flag;
            assert_eq!(ok.validate(head(&q), len), Err(OffloadError::TcpFlags(q[33])), "flag {flag:#x}");
        }
    }

    /// A packet that is not a super-packet is one segment: index 0 and nothing after it.
    #[test]
    fn a_plain_packet_is_one_segment() {
        let p = packet(true, true, 0, 100);
        let partial = OffloadMeta { flags: OFFLOAD_F_NEEDS_CSUM, csum_start: 40, csum_offset: 6, ..OffloadMeta::NONE };
        let plan = partial.validate(head(&p), p.len() as u32).unwrap().unwrap();
        assert_eq!(plan.segment_count(), 1);
        assert_eq!(
            plan.segment_payload(0),
            Some(SegmentSpec { payload_offset: 48, payload_len: 100, packet_len: 148 })
        );
        assert_eq!(plan.segment_payload(1), None);
        assert_eq!(plan.segment_header(&p, 1, 0, &mut [0u8; MAX_OFFLOAD_HEADER]), None);
    }

    /// A checksum that computes to zero: UDP sends it as 0xFFFF (zero means "no checksum",
    /// RFC 768), TCP as zero. Both verify.
    #[test]
    fn a_zero_checksum_is_all_ones_for_udp_only() {
        for udp in [true, false] {
            let mut p = packet(false, udp, 20, 2);
            let meta = if udp {
                OffloadMeta { flags: OFFLOAD_F_NEEDS_CSUM, csum_start: 20, csum_offset: 6, ..OffloadMeta::NONE }
            } else {
                OffloadMeta { flags: OFFLOAD_F_NEEDS_CSUM, csum_start: 20, csum_offset: 16, ..OffloadMeta::NONE }
            };
            let plan = meta.validate(head(&p), p.len() as u32).unwrap().unwrap();
            let field = usize::from(plan.checksum_field().unwrap());
            let last = p.len() - 2;
            let header = |p: &[u8]| {
                let mut out = [0u8; MAX_OFFLOAD_HEADER];
                plan.segment_header(p, 0, checksum::sum(&p[last..]), &mut out).unwrap();
                let mut seg = out[..usize::from(plan.header_len)].to_vec();
                seg.extend_from_slice(&p[last..]);
                seg
            };
            // Add the checksum to the payload's last word (ones' complement): the sum then folds
            // to 0xFFFF and the computed checksum is zero.
            let seg = header(&p);
            let c = u32::from(u16::from_be_bytes([seg[field], seg[field + 1]]));
            let mut word = u32::from(u16::from_be_bytes([p[last], p[last + 1]])) + c;
            if word > 0xFFFF {
                word -= 0xFFFF;
            }
            p[last..].copy_from_slice(&(word as u16).to_be_bytes());
            let seg = header(&p);
            let want: u16 = if udp { 0xFFFF } else { 0 };
            assert_eq!(u16::from_be_bytes([seg[field], seg[field + 1]]), want, "udp {udp}");
            assert!(l4_verifies(&seg), "udp {udp}");
        }
    }

    #[test]
    fn a_partial_checksum_is_completed_as_one_segment() {
        let p = packet(false, true, 0, 777);
        let meta = OffloadMeta { flags: OFFLOAD_F_NEEDS_CSUM, csum_start: 20, csum_offset: 6, ..OffloadMeta::NONE };
        let plan = meta.validate(head(&p), p.len() as u32).unwrap().unwrap();
        assert_eq!(plan.segment_count(), 1);
        let spec = plan.segment_payload(0).unwrap();
        assert_eq!((spec.payload_offset, spec.payload_len, spec.packet_len), (28, 777, p.len() as u32));
        let mut out = [0u8; MAX_OFFLOAD_HEADER];
        plan.segment_header(&p, 0, checksum::sum(&p[28..]), &mut out).unwrap();
        let mut seg = out[..28].to_vec();
        seg.extend_from_slice(&p[28..]);
        assert!(l4_verifies(&seg));
        // Not a super-packet: the identification is kept.
        assert_eq!(seg[4..6], p[4..6]);
    }

    /// A large send of more segments than the ring carries: planned for a sender that cuts it,
    /// refused as ring metadata.
    #[test]
    fn large_sends_beyond_the_ring_limit_are_planned() {
        let p = packet(false, false, 20, 65_535 - 40);
        let len = p.len() as u32;
        let request = Some((GsoKind::TcpV4, 256));
        assert_eq!(
            OffloadMeta::for_stack_request(head(&p), len, true, request),
            Err(OffloadError::TooManySegments(256))
        );
        let (meta, plan) = OffloadMeta::plan_stack_request(head(&p), len, true, request).unwrap();
        let plan = plan.unwrap();
        assert_eq!((plan.segment_count(), plan.within_ring_limit(), meta.gso_size), (256, false, 256));
        assert_eq!(plan.segment_payload(255).map(|s| s.payload_len), Some(65_495 - 255 * 256));
        let one_byte = OffloadMeta::plan_stack_request(head(&p), len, true, Some((GsoKind::TcpV4, 1)));
        assert_eq!(one_byte.unwrap().1.map(|p| p.segment_count()), Some(65_495));
        let fits = OffloadMeta::plan_stack_request(head(&p), len, true, Some((GsoKind::TcpV4, 512))).unwrap();
        assert_eq!(fits.1.map(|p| (p.segment_count(), p.within_ring_limit())), Some((128, true)));
        assert_eq!(OffloadMeta::for_stack_request(head(&p), len, true, Some((GsoKind::TcpV4, 512))), Ok(fits));
    }

    /// NDIS's identification range: segments count up in the low 15 bits, the top bit kept.
    #[test]
    fn identifications_wrap_in_15_bits_when_asked() {
        let p = packet(false, false, 20, 4000);
        let (_, plan) =
            OffloadMeta::for_stack_request(head(&p), p.len() as u32, true, Some((GsoKind::TcpV4, 1000))).unwrap();
        let plan = plan.unwrap();
        let id = |q: &[u8], k: u16, ids: IpIdWrap| {
            let mut out = [0u8; MAX_OFFLOAD_HEADER];
            plan.segment_header_with(q, k, 0, &mut out, ids).unwrap();
            assert_eq!(checksum::fold(checksum::sum(&out[..20])), 0xFFFF, "IPv4 header checksum");
            u16::from_be_bytes([out[4], out[5]])
        };
        let with_id = |first: u16| {
            let mut q = p.clone();
            q[4..6].copy_from_slice(&first.to_be_bytes());
            q
        };
        let (low, high, top) = (with_id(0x7FFE), with_id(0xFFFE), with_id(0x1234));
        let ids = |q: &[u8], w| (0..4).map(|k| id(q, k, w)).collect::<Vec<_>>();
        assert_eq!(ids(&low, IpIdWrap::Bits15), [0x7FFE, 0x7FFF, 0, 1]);
        assert_eq!(ids(&low, IpIdWrap::Bits16), [0x7FFE, 0x7FFF, 0x8000, 0x8001]);
        assert_eq!(ids(&high, IpIdWrap::Bits15), [0xFFFE, 0xFFFF, 0x8000, 0x8001]);
        assert_eq!(ids(&high, IpIdWrap::Bits16), [0xFFFE, 0xFFFF, 0, 1]);
        assert_eq!(ids(&top, IpIdWrap::Bits15), ids(&top, IpIdWrap::Bits16));
    }

    #[test]
    fn stack_requests_become_exact_metadata() {
        let p = packet(true, false, 40, 10_000);
        let (meta, plan) =
            OffloadMeta::for_stack_request(head(&p), p.len() as u32, false, Some((GsoKind::TcpV6, 1400))).unwrap();
        assert_eq!(
            meta,
            OffloadMeta {
                flags: OFFLOAD_F_NEEDS_CSUM,
                gso_type: OFFLOAD_GSO_TCPV6,
                hdr_len: 80,
                gso_size: 1400,
                csum_start: 40,
                csum_offset: 16,
                ..OffloadMeta::NONE
            }
        );
        assert_eq!(plan.unwrap().segment_count(), 8);
        assert_eq!(
            OffloadMeta::for_stack_request(head(&p), p.len() as u32, false, None),
            Ok((OffloadMeta::NONE, None))
        );
        assert_eq!(
            OffloadMeta::for_stack_request(head(&p), p.len() as u32, false, Some((GsoKind::TcpV4, 1400))),
            Err(OffloadError::GsoMismatch)
        );
        let (csum, _) = OffloadMeta::for_stack_request(head(&p), p.len() as u32, true, None).unwrap();
        assert_eq!((csum.flags, csum.csum_start, csum.csum_offset, csum.gso_type), (1, 40, 16, 0));
        // The pseudo-header sum a NEEDS_CSUM packet carries completes to a verifying checksum.
        let plan = csum.validate(head(&p), p.len() as u32).unwrap().unwrap();
        let mut q = p.clone();
        let pseudo = plan.pseudo_header_sum(&q).unwrap();
        q[56..58].copy_from_slice(&pseudo.to_be_bytes());
        let rest = checksum::finish(checksum::sum(&q[40..]));
        q[56..58].copy_from_slice(&rest.to_be_bytes());
        assert!(l4_verifies(&q));
    }
}
