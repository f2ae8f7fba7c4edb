//! TCP segmentation of a super-packet (what a NIC does for TSO), so that every record the tunnel
//! sends fits the underlay's MTU.
//!
//! A super-packet is `headers | payload` with up to 64 KiB of payload; segment `i` is
//! `headers_i | payload[i * mss .. (i + 1) * mss]` (the last one shorter), where `headers_i` is
//! the super-packet's headers with, as Linux's TCP segmentation writes them: the IP length of the
//! segment, IPv4 identification `id + i` and a new header checksum, TCP sequence number
//! `seq + i * mss`, FIN and PSH only on the last segment, CWR only on the first, and the TCP
//! checksum computed over the segment. Whatever the super-packet's own checksum field held (a
//! complete checksum, or only the pseudo-header sum the kernel leaves for the device) is not
//! used.
//!
//! [`Segmenter::build`] writes a segment's headers in front of its payload wherever the caller
//! has put them together: in a copy (v1), or in the ring itself, over the bytes just before the
//! payload (v2, see `node`).

use crate::inet::{self, IpVersion, TcpPacket, TCP_CWR, TCP_FIN, TCP_PSH};

/// The longest headers a segment can have: a 60-byte IPv4 header and a 60-byte TCP header.
pub const MAX_HEADERS: usize = 120;

/// Why a packet cannot be segmented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentError {
    /// Not an IPv4 or IPv6 packet carrying TCP directly (or its lengths disagree).
    NotTcp,
    /// A segment size of zero, or one that would not leave every segment's headers room.
    BadSegmentSize,
}

/// How one TCP super-packet is cut into segments of at most `mss` payload bytes.
#[derive(Clone, Debug)]
pub struct Segmenter {
    info: TcpPacket,
    template: [u8; MAX_HEADERS],
    mss: usize,
    count: usize,
    /// Unfolded sum of the pseudo-header's addresses and protocol (the length is added per segment).
    pseudo_base: u64,
}

impl Segmenter {
    /// Plans the segmentation of `packet` (one whole IP packet) into segments of `mss` payload
    /// bytes. A packet whose payload fits one segment gives one segment (its headers rewritten the
    /// same way).
    pub fn new(packet: &[u8], mss: usize) -> Result<Self, SegmentError> {
        let info = TcpPacket::parse(packet).ok_or(SegmentError::NotTcp)?;
        let h = info.header_len();
        if mss == 0 || h > MAX_HEADERS {
            return Err(SegmentError::BadSegmentSize);
        }
        let mut template = [0u8; MAX_HEADERS];
        template[..h].copy_from_slice(packet.get(..h).ok_or(SegmentError::NotTcp)?);
        let addresses = match info.version {
            IpVersion::V4 => packet.get(12..20),
            IpVersion::V6 => packet.get(8..40),
        };
        let pseudo_base = inet::sum(addresses.unwrap_or(&[])) + u64::from(u16::from(inet::PROTO_TCP).swap_bytes());
        let count = info.payload_len.div_ceil(mss).max(1);
        Ok(Self { info, template, mss, count, pseudo_base })
    }

    /// The parsed super-packet.
    pub fn packet(&self) -> &TcpPacket {
        &self.info
    }

    /// Number of segments.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Length of every segment's headers.
    pub fn header_len(&self) -> usize {
        self.info.header_len()
    }

    /// Payload bytes per segment (all but the last).
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// Payload bytes of segment `i` (0 past the end).
    pub fn payload_len(&self, i: usize) -> usize {
        let start = i.saturating_mul(self.mss);
        self.info.payload_len.saturating_sub(start).min(self.mss)
    }

    /// Length of segment `i`: headers and payload.
    pub fn segment_len(&self, i: usize) -> usize {
        self.header_len() + self.payload_len(i)
    }

    /// Where segment `i`'s payload starts in the super-packet.
    pub fn payload_offset(&self, i: usize) -> usize {
        self.header_len() + i.saturating_mul(self.mss)
    }

    /// Writes segment `i`'s headers into the first [`Segmenter::header_len`] bytes of `segment`,
    /// whose rest must already hold the segment's payload (`segment.len()` is
    /// [`Segmenter::segment_len`]`(i)`). `false` (nothing written) for a wrong length or `i`.
    pub fn build(&self, i: usize, segment: &mut [u8]) -> bool {
        let h = self.header_len();
        if i >= self.count || segment.len() != self.segment_len(i) {
            return false;
        }
        let (header, payload) = segment.split_at_mut(h);
        header.copy_from_slice(&self.template[..h]);
        let last = i + 1 == self.count;
        let ip = self.info.ip_len;
        let tcp_bytes = self.info.tcp_len + payload.len();
        match self.info.version {
            IpVersion::V4 => {
                header[2..4].copy_from_slice(&((ip + tcp_bytes) as u16).to_be_bytes());
                header[4..6].copy_from_slice(&self.info.id.wrapping_add(i as u16).to_be_bytes());
                header[10..12].copy_from_slice(&[0, 0]);
                let c = inet::ipv4_header_checksum(&header[..ip]);
                header[10..12].copy_from_slice(&c.to_be_bytes());
            }
            IpVersion::V6 => header[4..6].copy_from_slice(&(tcp_bytes as u16).to_be_bytes()),
        }
        let tcp = &mut header[ip..];
        let seq = self.info.seq.wrapping_add((i as u32).wrapping_mul(self.mss as u32));
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        let mut flags = self.info.flags;
        if !last {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            flags &= !TCP_CWR;
        }
        tcp[13] = flags;
        tcp[16..18].copy_from_slice(&[0, 0]);
        let len = tcp_bytes as u64;
        let pseudo =
            self.pseudo_base + u64::from((len as u16).swap_bytes()) + u64::from(((len >> 16) as u16).swap_bytes());
        // The TCP header is a multiple of four bytes long: the payload's words line up with the
        // segment's, so the sums add.
        let c = !inet::finish(pseudo + inet::sum(tcp) + inet::sum(payload));
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::tests::{tcp_packet, valid_tcp};
    use crate::inet::{TCP_ACK, TCP_PSH};

    /// Cuts `packet` by copying each segment's payload after a blank header, as v1 does.
    fn cut(packet: &[u8], mss: usize) -> Vec<Vec<u8>> {
        let s = Segmenter::new(packet, mss).expect("segmentable");
        (0..s.count())
            .map(|i| {
                let mut seg = vec![0xEEu8; s.segment_len(i)];
                let off = s.payload_offset(i);
                seg[s.header_len()..].copy_from_slice(&packet[off..off + s.payload_len(i)]);
                assert!(s.build(i, &mut seg));
                seg
            })
            .collect()
    }

    #[test]
    fn segments_are_valid_packets_whose_payloads_concatenate_to_the_input() {
        for v6 in [false, true] {
            for (payload, mss) in [(64_000usize, 1392usize), (1392 * 3, 1392), (1393, 1392), (5, 1392), (1001, 7)] {
                let flags = TCP_ACK | TCP_PSH | TCP_CWR;
                let p = tcp_packet(v6, payload, 0xFFFF_F000, flags, 3);
                let segs = cut(&p, mss);
                assert_eq!(segs.len(), payload.div_ceil(mss));
                let h = TcpPacket::parse(&p).map(|i| i.header_len()).expect("parses");
                let mut joined = Vec::new();
                let mut seq = 0xFFFF_F000u32;
                for (i, seg) in segs.iter().enumerate() {
                    assert!(valid_tcp(seg), "v6 {v6} payload {payload} segment {i} invalid");
                    let info = TcpPacket::parse(seg).expect("parses");
                    assert!(seg.len() <= h + mss);
                    assert_eq!(info.seq, seq, "sequence numbers follow the payload (and wrap)");
                    seq = seq.wrapping_add(info.payload_len as u32);
                    let last = i + 1 == segs.len();
                    assert_eq!(info.flags & TCP_PSH != 0, last, "PSH only on the last");
                    assert_eq!(info.flags & TCP_CWR != 0, i == 0, "CWR only on the first");
                    assert_eq!(info.flags & TCP_ACK, TCP_ACK);
                    if !v6 {
                        assert_eq!(info.id, 0x1234u16.wrapping_add(i as u16));
                    }
                    // Everything but lengths, id, seq, flags and checksums is the super-packet's.
                    assert_eq!(seg[info.ip_len..info.ip_len + 4], p[info.ip_len..info.ip_len + 4]);
                    assert_eq!(seg[info.ip_len + 20..h], p[info.ip_len + 20..h], "options copied");
                    joined.extend_from_slice(&seg[h..]);
                }
                assert_eq!(joined, p[h..], "payloads concatenate to the input");
            }
        }
    }

    #[test]
    fn fin_stays_on_the_last_segment_only() {
        let p = tcp_packet(false, 3000, 1, TCP_ACK | crate::inet::TCP_FIN, 0);
        let segs = cut(&p, 1000);
        let fins: Vec<bool> =
            segs.iter().map(|s| TcpPacket::parse(s).expect("parses").flags & crate::inet::TCP_FIN != 0).collect();
        assert_eq!(fins, [false, false, true]);
    }

    #[test]
    fn a_partial_checksum_in_the_input_does_not_matter() {
        let mut p = tcp_packet(false, 4000, 9, TCP_ACK, 1);
        let whole = cut(&p, 1392);
        // What the kernel hands over with NEEDS_CSUM: only the pseudo-header sum in the field.
        p[36..38].copy_from_slice(&[0x12, 0x34]);
        assert_eq!(cut(&p, 1392), whole);
    }

    #[test]
    fn refusals() {
        let p = tcp_packet(false, 100, 1, TCP_ACK, 0);
        assert_eq!(Segmenter::new(&p, 0).err(), Some(SegmentError::BadSegmentSize));
        let mut udp = p.clone();
        udp[9] = 17;
        assert_eq!(Segmenter::new(&udp, 1000).err(), Some(SegmentError::NotTcp));
        let s = Segmenter::new(&p, 1000).expect("one segment");
        assert_eq!(s.count(), 1);
        let mut wrong = vec![0u8; s.segment_len(0) + 1];
        assert!(!s.build(0, &mut wrong), "wrong length refused");
        let mut right = vec![0u8; s.segment_len(0)];
        assert!(!s.build(1, &mut right), "index past the end refused");
    }
}
