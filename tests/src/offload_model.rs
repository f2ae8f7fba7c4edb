//! An independent model of the offload extension (`docs/ring-protocol.md` section 15), written
//! from the spec without ring-abi's code: a builder of super-packets with valid headers, the
//! metadata validator's rules in their documented order, and the checks every packet cut from a
//! super-packet must pass (a valid IP packet whose payload is the right slice of the original).
//!
//! The fuzz targets `offload_meta` and `segmenter` and the offload scenarios compare ring-abi and
//! the engine against it.

use ring_abi::{OffloadError, OffloadMeta};

/// TCP flag bits.
pub const FIN: u8 = 0x01;
/// TCP SYN.
pub const SYN: u8 = 0x02;
/// TCP RST.
pub const RST: u8 = 0x04;
/// TCP PSH.
pub const PSH: u8 = 0x08;
/// TCP ACK.
pub const ACK: u8 = 0x10;
/// TCP URG.
pub const URG: u8 = 0x20;
/// TCP ECE.
pub const ECE: u8 = 0x40;
/// TCP CWR.
pub const CWR: u8 = 0x80;

/// A packet to build: IPv4 (with options) or IPv6, TCP (with options) or UDP, and a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketSpec {
    /// IPv6 instead of IPv4.
    pub v6: bool,
    /// UDP instead of TCP.
    pub udp: bool,
    /// IPv4 option words (0..=10).
    pub ip_options: u8,
    /// TCP option words (0..=10).
    pub tcp_options: u8,
    /// Payload bytes.
    pub payload: usize,
    /// TCP flags.
    pub tcp_flags: u8,
    /// TCP sequence number.
    pub seq: u32,
    /// TCP acknowledgement number (copied unchanged into every segment: an identity).
    pub ack: u32,
    /// IPv4 identification.
    pub ip_id: u16,
    /// Seeds the payload and addresses.
    pub seed: u32,
}

impl PacketSpec {
    /// A TCP packet over IPv4 or IPv6 without options, ACK|PSH.
    pub fn tcp(v6: bool, payload: usize, seed: u32) -> Self {
        Self {
            v6,
            udp: false,
            ip_options: 0,
            tcp_options: 0,
            payload,
            tcp_flags: ACK | PSH,
            seq: seed.wrapping_mul(7919),
            ack: seed.wrapping_mul(31),
            ip_id: seed as u16,
            seed,
        }
    }

    /// A UDP packet over IPv4 or IPv6.
    pub fn udp(v6: bool, payload: usize, seed: u32) -> Self {
        Self { udp: true, ..Self::tcp(v6, payload, seed) }
    }

    /// Length of the IP header.
    pub fn l3_len(&self) -> usize {
        if self.v6 {
            40
        } else {
            20 + 4 * usize::from(self.ip_options.min(10))
        }
    }

    /// Length of the TCP/UDP header.
    pub fn l4_len(&self) -> usize {
        if self.udp {
            8
        } else {
            20 + 4 * usize::from(self.tcp_options.min(10))
        }
    }

    /// Length of both headers.
    pub fn header_len(&self) -> usize {
        self.l3_len() + self.l4_len()
    }

    /// Whether the whole packet fits an IP packet (0xFFFF bytes).
    pub fn fits(&self) -> bool {
        self.header_len() + self.payload <= 0xFFFF
    }

    /// The packet's bytes, every checksum valid.
    pub fn bytes(&self) -> Vec<u8> {
        let (l3, l4) = (self.l3_len(), self.l4_len());
        let total = l3 + l4 + self.payload;
        assert!(total <= 0xFFFF, "packet of {total} bytes");
        let mut p = vec![0u8; total];
        let proto = if self.udp { 17 } else { 6 };
        let byte = |i: usize| (i as u32).wrapping_mul(2654435761).wrapping_add(self.seed).rotate_left(7) as u8;
        if self.v6 {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
            p[6] = proto;
            p[7] = 64;
            for (i, b) in p[8..40].iter_mut().enumerate() {
                *b = byte(i + 1000);
            }
        } else {
            p[0] = 0x40 | (l3 / 4) as u8;
            p[1] = byte(7) & 0xFC;
            p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            p[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
            p[6] = 0x40; // DF
            p[8] = 64;
            p[9] = proto;
            for (i, b) in p[12..20].iter_mut().enumerate() {
                *b = byte(i + 2000);
            }
            for b in &mut p[20..l3] {
                *b = 1; // NOP options
            }
            let c = !fold(ones(&p[..l3]));
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        p[l3..l3 + 2].copy_from_slice(&(40000 + (self.seed % 1000) as u16).to_be_bytes());
        p[l3 + 2..l3 + 4].copy_from_slice(&443u16.to_be_bytes());
        if self.udp {
            p[l3 + 4..l3 + 6].copy_from_slice(&((total - l3) as u16).to_be_bytes());
        } else {
            p[l3 + 4..l3 + 8].copy_from_slice(&self.seq.to_be_bytes());
            p[l3 + 8..l3 + 12].copy_from_slice(&self.ack.to_be_bytes());
            p[l3 + 12] = ((l4 / 4) as u8) << 4;
            p[l3 + 13] = self.tcp_flags;
            p[l3 + 14..l3 + 16].copy_from_slice(&0xFFFFu16.to_be_bytes());
            for b in &mut p[l3 + 20..l3 + l4] {
                *b = 1;
            }
        }
        for (i, b) in p[l3 + l4..].iter_mut().enumerate() {
            *b = byte(i);
        }
        let check = l4_checksum(&p, l3);
        let field = l3 + if self.udp { 6 } else { 16 };
        p[field..field + 2].copy_from_slice(&check.to_be_bytes());
        p
    }

    /// The metadata of this packet as a super-packet of `gso_size` bytes per segment, with the
    /// checksum flags `flags` (`NEEDS_CSUM` sets the checksum fields).
    pub fn meta(&self, gso_size: u16, flags: u8) -> OffloadMeta {
        let gso_type = match (self.v6, self.udp) {
            (_, true) => 5,
            (false, false) => 1,
            (true, false) => 4,
        };
        let partial = flags & 1 != 0;
        OffloadMeta {
            flags,
            gso_type,
            hdr_len: self.header_len() as u16,
            gso_size,
            csum_start: if partial { self.l3_len() as u16 } else { 0 },
            csum_offset: if partial {
                if self.udp {
                    6
                } else {
                    16
                }
            } else {
                0
            },
            ..OffloadMeta::NONE
        }
    }
}

/// `original` (built from `spec`) with its L4 checksum field replaced by the pseudo-header sum:
/// what a `NEEDS_CSUM` packet carries in the rings.
pub fn with_pseudo_sum(spec: &PacketSpec, original: &[u8]) -> Vec<u8> {
    let mut p = original.to_vec();
    let l3 = spec.l3_len();
    let field = l3 + if spec.udp { 6 } else { 16 };
    let (addresses, proto) = if spec.v6 { (&p[8..40], p[6]) } else { (&p[12..20], p[9]) };
    let l4 = (p.len() - l3) as u32;
    let sum = fold(ones(addresses) + u32::from(proto) + (l4 >> 16) + (l4 & 0xFFFF));
    p[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    p
}

/// `original` as a stack hands it over for a large send: the L4 checksum field garbage and the
/// IPv4 header checksum zero (both left to the adapter).
pub fn as_stack_sends(spec: &PacketSpec, original: &[u8]) -> Vec<u8> {
    let mut p = original.to_vec();
    let field = spec.l3_len() + if spec.udp { 6 } else { 16 };
    p[field..field + 2].copy_from_slice(&[0x5A, 0xA5]);
    if !spec.v6 {
        p[10..12].copy_from_slice(&[0, 0]);
    }
    p
}

/// `original` as NDIS hands a large send to a miniport (LSOv2, USO): the IPv4 total length or
/// IPv6 payload length and the UDP length 0 (the adapter takes the length from the buffer), the
/// L4 checksum field the pseudo-header sum without the length, the IPv4 header checksum zero.
pub fn as_ndis_sends(spec: &PacketSpec, original: &[u8]) -> Vec<u8> {
    let mut p = original.to_vec();
    let l3 = spec.l3_len();
    let field = l3 + if spec.udp { 6 } else { 16 };
    let (addresses, proto) = if spec.v6 { (p[8..40].to_vec(), p[6]) } else { (p[12..20].to_vec(), p[9]) };
    let sum = fold(ones(&addresses) + u32::from(proto));
    p[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    if spec.v6 {
        p[4..6].copy_from_slice(&[0, 0]);
    } else {
        p[2..4].copy_from_slice(&[0, 0]);
        p[10..12].copy_from_slice(&[0, 0]);
    }
    if spec.udp {
        p[l3 + 4..l3 + 6].copy_from_slice(&[0, 0]);
    }
    p
}

/// Ones'-complement sum of 16-bit big-endian words (odd tail padded), in a u32 with carries
/// folded as it goes: a second implementation, for the checks.
pub fn ones(bytes: &[u8]) -> u32 {
    let mut sum = 0u32;
    let mut i = 0;
    while i + 1 < bytes.len() {
        sum += (u32::from(bytes[i]) << 8) | u32::from(bytes[i + 1]);
        sum = (sum & 0xFFFF) + (sum >> 16);
        i += 2;
    }
    if i < bytes.len() {
        sum += u32::from(bytes[i]) << 8;
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum
}

/// Folds to 16 bits.
pub fn fold(mut sum: u32) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

fn pseudo(p: &[u8], l3: usize) -> u32 {
    let (addresses, proto) = if p[0] >> 4 == 6 { (&p[8..40], p[6]) } else { (&p[12..20], p[9]) };
    let len = (p.len() - l3) as u32;
    ones(addresses) + u32::from(proto) + (len >> 16) + (len & 0xFFFF)
}

/// The L4 checksum of `p` computed from scratch (its field taken as zero).
pub fn l4_checksum(p: &[u8], l3: usize) -> u16 {
    let field = l3 + if (p[0] >> 4 == 6 && p[6] == 17) || (p[0] >> 4 == 4 && p[9] == 17) { 6 } else { 16 };
    let mut copy = p[l3..].to_vec();
    copy[field - l3] = 0;
    copy[field - l3 + 1] = 0;
    let c = !fold(pseudo(p, l3) + ones(&copy));
    if c == 0 && field - l3 == 6 {
        0xFFFF
    } else {
        c
    }
}

/// Whether `p` is a valid IPv4/IPv6 TCP/UDP packet: lengths, IPv4 header checksum, L4 checksum.
pub fn check_packet(p: &[u8]) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty".into());
    }
    let l3 = match p[0] >> 4 {
        4 => {
            let l3 = usize::from(p[0] & 15) * 4;
            if l3 < 20 || p.len() < l3 {
                return Err(format!("IPv4 header length {l3}"));
            }
            if usize::from(u16::from_be_bytes([p[2], p[3]])) != p.len() {
                return Err("IPv4 total length".into());
            }
            if fold(ones(&p[..l3])) != 0xFFFF {
                return Err("IPv4 header checksum".into());
            }
            l3
        }
        6 => {
            if p.len() < 40 || usize::from(u16::from_be_bytes([p[4], p[5]])) + 40 != p.len() {
                return Err("IPv6 payload length".into());
            }
            40
        }
        v => return Err(format!("IP version {v}")),
    };
    let proto = if p[0] >> 4 == 6 { p[6] } else { p[9] };
    match proto {
        17 => {
            if p.len() < l3 + 8 || usize::from(u16::from_be_bytes([p[l3 + 4], p[l3 + 5]])) != p.len() - l3 {
                return Err("UDP length".into());
            }
        }
        6 => {
            if p.len() < l3 + 20 || usize::from(p[l3 + 12] >> 4) * 4 + l3 > p.len() {
                return Err("TCP header".into());
            }
        }
        other => return Err(format!("protocol {other}")),
    }
    if fold(pseudo(p, l3) + ones(&p[l3..])) != 0xFFFF {
        return Err("L4 checksum".into());
    }
    Ok(())
}

/// Checks packets cut from super-packet `original` (headers `header_len` bytes, segments of
/// `gso_size` payload bytes): their number; each a valid IP packet (lengths, checksums) of at
/// most `header_len + gso_size` bytes; the IP header as the original's but for lengths, IPv4
/// identification (+ index) and checksum; TCP: sequence number advanced by the payload before
/// it, FIN and PSH only on the last (if the original had them), CWR only on the first, the rest
/// of the header as the original's; UDP: ports as the original's; and the payloads, in order,
/// exactly the original's.
pub fn check_segments(original: &[u8], header_len: usize, gso_size: usize, segments: &[Vec<u8>]) -> Result<(), String> {
    segments_with_ids(original, header_len, gso_size, segments, 0xFFFF)
}

/// [`check_segments`] for the packets the engine cuts from a large send of the stack: IPv4
/// identifications count up in the low 15 bits, the top bit kept (NDIS's range 0..=0x7FFF).
pub fn check_sent_segments(
    original: &[u8],
    header_len: usize,
    gso_size: usize,
    segments: &[Vec<u8>],
) -> Result<(), String> {
    segments_with_ids(original, header_len, gso_size, segments, 0x7FFF)
}

fn segments_with_ids(
    original: &[u8],
    header_len: usize,
    gso_size: usize,
    segments: &[Vec<u8>],
    id_mask: u16,
) -> Result<(), String> {
    let payload = &original[header_len..];
    let want = payload.len().div_ceil(gso_size);
    if segments.len() != want {
        return Err(format!("{} segments, {} expected", segments.len(), want));
    }
    let v6 = original[0] >> 4 == 6;
    let l3 = if v6 { 40 } else { usize::from(original[0] & 15) * 4 };
    let udp = if v6 { original[6] == 17 } else { original[9] == 17 };
    let mut joined = Vec::with_capacity(payload.len());
    for (k, seg) in segments.iter().enumerate() {
        check_packet(seg).map_err(|e| format!("segment {k}: {e}"))?;
        if seg.len() < header_len || seg.len() > header_len + gso_size {
            return Err(format!("segment {k}: {} bytes", seg.len()));
        }
        let last = k + 1 == segments.len();
        if v6 {
            if seg[..4] != original[..4] || seg[6..40] != original[6..40] {
                return Err(format!("segment {k}: IPv6 header"));
            }
        } else {
            let first = u16::from_be_bytes([original[4], original[5]]);
            let id = (first & !id_mask) | (first.wrapping_add(k as u16) & id_mask);
            if seg[..2] != original[..2] || seg[4..6] != id.to_be_bytes() || seg[6..10] != original[6..10] {
                return Err(format!("segment {k}: IPv4 header"));
            }
            if seg[12..l3] != original[12..l3] {
                return Err(format!("segment {k}: IPv4 addresses or options"));
            }
        }
        if udp {
            if seg[l3..l3 + 4] != original[l3..l3 + 4] {
                return Err(format!("segment {k}: UDP ports"));
            }
        } else {
            let seq = u32::from_be_bytes(original[l3 + 4..l3 + 8].try_into().unwrap());
            let want_seq = seq.wrapping_add((k * gso_size) as u32);
            if seg[l3 + 4..l3 + 8] != want_seq.to_be_bytes() {
                return Err(format!("segment {k}: TCP sequence"));
            }
            let flags = original[l3 + 13];
            let mut want_flags = flags;
            if !last {
                want_flags &= !(FIN | PSH);
            }
            if k != 0 {
                want_flags &= !CWR;
            }
            if seg[l3 + 13] != want_flags {
                return Err(format!("segment {k}: TCP flags {:#x}, {want_flags:#x} expected", seg[l3 + 13]));
            }
            if seg[l3..l3 + 4] != original[l3..l3 + 4]
                || seg[l3 + 8..l3 + 13] != original[l3 + 8..l3 + 13]
                || seg[l3 + 14..l3 + 16] != original[l3 + 14..l3 + 16]
                || seg[l3 + 18..header_len] != original[l3 + 18..header_len]
            {
                return Err(format!("segment {k}: TCP header"));
            }
        }
        joined.extend_from_slice(&seg[header_len..]);
    }
    if joined != payload {
        return Err("payloads do not concatenate to the original".into());
    }
    Ok(())
}

/// The metadata validator's rules (`docs/ring-protocol.md` section 15.3) in their order, from
/// the spec alone: `Ok(None)` for a plain packet, `Ok(Some((segments, header_len)))` for a valid
/// one, or the first rule broken.
pub fn model_validate(meta: &OffloadMeta, packet: &[u8]) -> Result<Option<(u16, u16)>, OffloadError> {
    use OffloadError as E;
    let b = meta.to_bytes();
    if b.iter().all(|&x| x == 0) {
        return Ok(None);
    }
    if b[10..16].iter().any(|&x| x != 0) {
        return Err(E::ReservedNotZero);
    }
    let flags = b[0];
    if flags > 3 {
        return Err(E::UnknownFlags(flags));
    }
    if flags == 3 {
        return Err(E::ConflictingFlags);
    }
    let gso_type = b[1];
    let ecn = gso_type & 0x80 != 0;
    let base = gso_type & 0x7F;
    let gso = match (base, ecn) {
        (0, false) => None,
        (1, _) | (4, _) => Some(base),
        (5, false) => Some(5),
        _ => return Err(E::UnknownGsoType(gso_type)),
    };
    let len = packet.len();
    if len == 0 {
        return Err(E::Truncated);
    }
    let (v6, l3, proto) = match packet[0] >> 4 {
        4 => {
            let l3 = usize::from(packet[0] & 15) * 4;
            if l3 < 20 {
                return Err(E::NotIp);
            }
            if len < l3 {
                return Err(E::Truncated);
            }
            if usize::from(u16::from_be_bytes([packet[2], packet[3]])) != len {
                return Err(E::LengthMismatch);
            }
            if u16::from_be_bytes([packet[6], packet[7]]) & 0x3FFF != 0 {
                return Err(E::Fragment);
            }
            (false, l3, packet[9])
        }
        6 => {
            if len < 40 {
                return Err(E::Truncated);
            }
            if usize::from(u16::from_be_bytes([packet[4], packet[5]])) + 40 != len {
                return Err(E::LengthMismatch);
            }
            (true, 40, packet[6])
        }
        _ => return Err(E::NotIp),
    };
    let l4 = match proto {
        6 => {
            if len < l3 + 13 {
                return Err(E::Truncated);
            }
            let l4 = usize::from(packet[l3 + 12] >> 4) * 4;
            if l4 < 20 {
                return Err(E::BadTransportHeader);
            }
            l4
        }
        17 => {
            if len < l3 + 6 {
                return Err(E::Truncated);
            }
            if usize::from(u16::from_be_bytes([packet[l3 + 4], packet[l3 + 5]])) != len - l3 {
                return Err(E::LengthMismatch);
            }
            8
        }
        _ => 0,
    };
    let header_len = l3 + l4;
    if header_len > len {
        return Err(E::Truncated);
    }
    let csum_start = u16::from_le_bytes([b[6], b[7]]);
    let csum_offset = u16::from_le_bytes([b[8], b[9]]);
    if flags == 1 {
        let field = match proto {
            6 => 16,
            17 => 6,
            p => return Err(E::UnsupportedTransport(p)),
        };
        if usize::from(csum_start) != l3 {
            return Err(E::ChecksumStart(csum_start));
        }
        if csum_offset != field {
            return Err(E::ChecksumOffset(csum_offset));
        }
    } else if csum_start != 0 || csum_offset != 0 {
        return Err(E::UnusedFieldSet);
    }
    let hdr_len = u16::from_le_bytes([b[2], b[3]]);
    let gso_size = u16::from_le_bytes([b[4], b[5]]);
    let Some(gso) = gso else {
        if hdr_len != 0 || gso_size != 0 {
            return Err(E::UnusedFieldSet);
        }
        return Ok(Some((1, header_len as u16)));
    };
    if proto != 6 && proto != 17 {
        return Err(E::UnsupportedTransport(proto));
    }
    let fits = match gso {
        1 => !v6 && proto == 6,
        4 => v6 && proto == 6,
        _ => proto == 17,
    };
    if !fits {
        return Err(E::GsoMismatch);
    }
    if usize::from(hdr_len) != header_len {
        return Err(E::HeaderLength(hdr_len));
    }
    if gso_size == 0 {
        return Err(E::SegmentSize(0));
    }
    let payload = len - header_len;
    if payload == 0 {
        return Err(E::NoPayload);
    }
    let segments = payload.div_ceil(usize::from(gso_size));
    if segments > 128 {
        return Err(E::TooManySegments(segments as u32));
    }
    if proto == 6 && packet[l3 + 13] & (SYN | RST | URG) != 0 {
        return Err(E::TcpFlags(packet[l3 + 13]));
    }
    Ok(Some((segments as u16, header_len as u16)))
}
