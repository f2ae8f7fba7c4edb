//! The IP and TCP header facts the tunnel's segmentation and coalescing need: the Internet
//! checksum (RFC 1071) and a parse of an IPv4 or IPv6 packet that carries TCP directly.
//!
//! Everything here reads packets that arrived from a socket or a ring: every field is
//! bounds-checked, and a packet that does not parse is simply not segmented or coalesced.

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// TCP flag FIN.
pub const TCP_FIN: u8 = 0x01;
/// TCP flag SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP flag RST.
pub const TCP_RST: u8 = 0x04;
/// TCP flag PSH.
pub const TCP_PSH: u8 = 0x08;
/// TCP flag ACK.
pub const TCP_ACK: u8 = 0x10;
/// TCP flag URG.
pub const TCP_URG: u8 = 0x20;
/// TCP flag CWR.
pub const TCP_CWR: u8 = 0x80;
/// IPv4 "more fragments" flag and fragment offset (the low 14 bits of bytes 6–7).
const V4_FRAGMENT_MASK: u16 = 0x3FFF;

/// The unfolded ones' complement sum of `bytes` read as little-endian 16-bit words, an odd last
/// byte as the low byte of a last word. Folded and byte-swapped ([`finish`]), it is the sum of
/// the big-endian words the Internet checksum is defined over (RFC 1071's byte-order
/// independence); reading four bytes at a time lets the compiler vectorise the loop.
pub fn sum(bytes: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut words = bytes.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_le_bytes([p[0], p[1]]));
    }
    if let Some(&last) = pairs.remainder().first() {
        acc += u64::from(last);
    }
    acc
}

/// Folds an unfolded little-endian sum ([`sum`]) to the 16-bit ones' complement sum of the
/// big-endian words.
pub fn finish(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    (acc as u16).swap_bytes()
}

/// Ones' complement addition of two folded (big-endian) sums.
pub fn add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xFFFF) + (s >> 16)) as u16
}

/// The folded big-endian sum of `bytes`.
pub fn sum16(bytes: &[u8]) -> u16 {
    finish(sum(bytes))
}

/// The IPv4 header checksum of `header` (whose checksum field is taken as zero).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let field = header.get(10..12).map_or(0, |f| u16::from_be_bytes([f[0], f[1]]));
    // Subtracting the field's value is adding its complement.
    !add(sum16(header), !field)
}

/// IP version of a TCP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpVersion {
    /// IPv4 (the header length is `TcpPacket::ip_len`).
    V4,
    /// IPv6 with TCP as the first next header (40-byte header).
    V6,
}

/// An IPv4 or IPv6 packet carrying TCP, as far as segmentation and coalescing need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket {
    /// IP version.
    pub version: IpVersion,
    /// IP header length (20..=60 for IPv4, 40 for IPv6).
    pub ip_len: usize,
    /// TCP header length (20..=60).
    pub tcp_len: usize,
    /// Bytes of TCP payload after both headers.
    pub payload_len: usize,
    /// Sequence number.
    pub seq: u32,
    /// Flags byte (byte 13 of the TCP header).
    pub flags: u8,
    /// IPv4 identification (0 for IPv6).
    pub id: u16,
}

impl TcpPacket {
    /// Parses `packet` (exactly one IP packet: its IP length must equal `packet.len()`). `None`
    /// for anything else: another protocol, IPv6 extension headers, an IPv4 fragment, lengths
    /// that disagree.
    pub fn parse(packet: &[u8]) -> Option<Self> {
        let first = *packet.first()?;
        let (version, ip_len, id) = match first >> 4 {
            4 => {
                let ip_len = usize::from(first & 0x0F) * 4;
                let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
                let fragment = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]);
                if ip_len < 20 || total != packet.len() || fragment & V4_FRAGMENT_MASK != 0 {
                    return None;
                }
                if *packet.get(9)? != PROTO_TCP {
                    return None;
                }
                (IpVersion::V4, ip_len, u16::from_be_bytes([*packet.get(4)?, *packet.get(5)?]))
            }
            6 => {
                let payload = usize::from(u16::from_be_bytes([*packet.get(4)?, *packet.get(5)?]));
                if *packet.get(6)? != PROTO_TCP || payload.checked_add(40)? != packet.len() {
                    return None;
                }
                (IpVersion::V6, 40, 0)
            }
            _ => return None,
        };
        let tcp = packet.get(ip_len..)?;
        let tcp_len = usize::from(*tcp.get(12)? >> 4) * 4;
        if tcp_len < 20 || tcp.len() < tcp_len {
            return None;
        }
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        Some(Self { version, ip_len, tcp_len, payload_len: tcp.len() - tcp_len, seq, flags: tcp[13], id })
    }

    /// Both headers' length.
    pub fn header_len(&self) -> usize {
        self.ip_len + self.tcp_len
    }

    /// The folded sum of the TCP pseudo-header of `packet` for a TCP segment of `tcp_bytes`
    /// bytes (see [`pseudo_sum`]).
    pub fn pseudo_sum(&self, packet: &[u8], tcp_bytes: usize) -> u16 {
        pseudo_sum(self.version, packet, tcp_bytes)
    }
}

/// The folded sum of the TCP pseudo-header of `packet` (addresses from its IP header; none if it
/// is too short to hold them) for a TCP segment of `tcp_bytes` bytes.
pub fn pseudo_sum(version: IpVersion, packet: &[u8], tcp_bytes: usize) -> u16 {
    let addresses = match version {
        IpVersion::V4 => packet.get(12..20),
        IpVersion::V6 => packet.get(8..40),
    };
    let len = tcp_bytes as u64;
    // Protocol and length as big-endian words, added in the little-endian domain of `sum`.
    let extra = u64::from(u16::from(PROTO_TCP).swap_bytes())
        + u64::from((len as u16).swap_bytes())
        + u64::from(((len >> 16) as u16).swap_bytes());
    finish(sum(addresses.unwrap_or(&[])) + extra)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The reference sum: big-endian words one at a time, straight from RFC 1071.
    fn reference_sum(bytes: &[u8]) -> u16 {
        let mut s: u64 = bytes.chunks(2).map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
        while s > 0xFFFF {
            s = (s & 0xFFFF) + (s >> 16);
        }
        s as u16
    }

    /// An IPv4 (or IPv6) TCP packet with `payload` pseudo-random bytes, a 12-byte option block,
    /// and every checksum complete, as a host sends it.
    pub(crate) fn tcp_packet(v6: bool, payload: usize, seq: u32, flags: u8, salt: u8) -> Vec<u8> {
        let ip_len = if v6 { 40 } else { 20 };
        let tcp_len = 32;
        let total = ip_len + tcp_len + payload;
        let mut p = vec![0u8; total];
        if v6 {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((tcp_len + payload) as u16).to_be_bytes());
            p[6] = PROTO_TCP;
            p[7] = 64;
            p[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            p[24..40].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            p[6] = 0x40; // DF
            p[8] = 64;
            p[9] = PROTO_TCP;
            p[12..16].copy_from_slice(&[10, 202, 0, 1]);
            p[16..20].copy_from_slice(&[10, 202, 0, 2]);
            let c = ipv4_header_checksum(&p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let t = ip_len;
        p[t..t + 2].copy_from_slice(&40000u16.to_be_bytes());
        p[t + 2..t + 4].copy_from_slice(&5201u16.to_be_bytes());
        p[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        p[t + 8..t + 12].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        p[t + 12] = 8 << 4;
        p[t + 13] = flags;
        p[t + 14..t + 16].copy_from_slice(&512u16.to_be_bytes());
        // Options: NOP, NOP, timestamps.
        p[t + 20..t + 32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);
        let mut state = 0x9E37_79B9u32 ^ u32::from(salt) ^ seq;
        for b in &mut p[ip_len + tcp_len..] {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *b = state as u8;
        }
        set_tcp_checksum(&mut p);
        p
    }

    /// `p` cut into segments of `mss` payload bytes by the ring ABI's segmenter (as a large send
    /// from the stack would be), each a complete IP packet.
    pub(crate) fn segments(p: &[u8], mss: u16) -> Vec<Vec<u8>> {
        use ringtun::ring_abi::{GsoKind, OffloadMeta};
        let kind = if p[0] >> 4 == 6 { GsoKind::TcpV6 } else { GsoKind::TcpV4 };
        let (_, plan) = OffloadMeta::for_stack_request(&p[..p.len().min(120)], p.len() as u32, true, Some((kind, mss)))
            .expect("a valid large send");
        let plan = plan.expect("a super-packet");
        (0..plan.segment_count())
            .map(|i| {
                let spec = plan.segment_payload(i).expect("in range");
                let (at, len) = (spec.payload_offset as usize, spec.payload_len as usize);
                let payload = &p[at..at + len];
                let mut header = vec![0u8; plan.header_len as usize];
                plan.segment_header(p, i, u64::from(sum16(payload)), &mut header).expect("a header");
                header.extend_from_slice(payload);
                header
            })
            .collect()
    }

    /// Computes the TCP checksum of `p` from scratch.
    pub(crate) fn set_tcp_checksum(p: &mut [u8]) {
        let info = TcpPacket::parse(p).expect("a TCP packet");
        let t = info.ip_len;
        p[t + 16..t + 18].copy_from_slice(&[0, 0]);
        let c = !add(info.pseudo_sum(p, p.len() - t), sum16(&p[t..]));
        p[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
    }

    /// Whether `p` is a valid IP packet carrying TCP: lengths, IPv4 header checksum, TCP checksum.
    pub(crate) fn valid_tcp(p: &[u8]) -> bool {
        let Some(info) = TcpPacket::parse(p) else { return false };
        if info.version == IpVersion::V4 && reference_sum(&p[..info.ip_len]) != 0xFFFF {
            return false;
        }
        add(info.pseudo_sum(p, p.len() - info.ip_len), reference_sum(&p[info.ip_len..])) == 0xFFFF
    }

    #[test]
    fn the_fast_sum_equals_the_reference_for_every_length_and_alignment() {
        let data: Vec<u8> = (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for start in 0..4 {
            for len in (0..70).chain([1443, 1444, 1999 - start]) {
                let bytes = &data[start..start + len];
                assert_eq!(sum16(bytes), reference_sum(bytes), "start {start} len {len}");
            }
        }
        assert_eq!(sum16(&[0xFF; 4096]), 0xFFFF);
        assert_eq!(sum16(&[]), 0);
    }

    #[test]
    fn packets_built_here_verify_and_broken_ones_do_not() {
        for v6 in [false, true] {
            let p = tcp_packet(v6, 1000, 77, TCP_ACK, 1);
            assert!(valid_tcp(&p));
            let info = TcpPacket::parse(&p).expect("parses");
            assert_eq!((info.payload_len, info.seq, info.flags, info.tcp_len), (1000, 77, TCP_ACK, 32));
            let mut bad = p.clone();
            bad[p.len() - 3] ^= 1;
            assert!(!valid_tcp(&bad));
        }
    }

    #[test]
    fn non_tcp_fragments_and_inconsistent_lengths_do_not_parse() {
        let p = tcp_packet(false, 100, 1, TCP_ACK, 0);
        assert!(TcpPacket::parse(&p[..p.len() - 1]).is_none(), "total length disagrees");
        let mut udp = p.clone();
        udp[9] = 17;
        assert!(TcpPacket::parse(&udp).is_none());
        let mut fragment = p.clone();
        fragment[6] |= 0x20; // MF
        assert!(TcpPacket::parse(&fragment).is_none());
        let mut short_tcp = p.clone();
        short_tcp[20 + 12] = 4 << 4;
        assert!(TcpPacket::parse(&short_tcp).is_none());
        let v6 = tcp_packet(true, 100, 1, TCP_ACK, 0);
        let mut ext = v6.clone();
        ext[6] = 0; // hop-by-hop options first
        assert!(TcpPacket::parse(&ext).is_none());
        assert!(TcpPacket::parse(&[]).is_none());
        assert!(TcpPacket::parse(&[0x45]).is_none());
    }
}
