//! The kernel's offload metadata on a TUN device opened with `IFF_VNET_HDR`: every packet read or
//! written is preceded by a `struct virtio_net_hdr` (linux/virtio_net.h), which lets the kernel
//! hand over TCP packets of up to 64 KiB in one read (TSO, segmented by nobody: they stay whole
//! through the rings and the tunnel) with their checksum left to compute (`NEEDS_CSUM`), and take
//! such packets back in one write (like GRO's merged packets).
//!
//! The rings carry plain, complete IP packets: the pump completes a pending checksum before a
//! packet enters the engine, and the stack side derives the segmentation metadata of a written
//! packet from its own IP and TCP headers.

/// Size of `struct virtio_net_hdr` (the TUN default, `TUNSETVNETHDRSZ` not used).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header sum; the rest is to be added from `csum_start` to the end.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN` (a flag on the GSO type).
pub const GSO_ECN: u8 = 0x80;

/// Bytes of a packet's start the stack side reads to build its header (IPv6 header and the
/// longest TCP header).
pub const PEEK: usize = 40 + 60;

/// A `struct virtio_net_hdr`, in the host's byte order (the TUN default on a little-endian
/// host, where legacy virtio headers are native-endian).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHeader {
    /// `F_NEEDS_CSUM` or 0.
    pub flags: u8,
    /// `GSO_*`.
    pub gso_type: u8,
    /// Length of the headers (IP + TCP) in front of the segmented payload.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where the checksummed range starts.
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHeader {
    /// Parses the first [`VNET_HDR_LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..VNET_HDR_LEN)?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// The header's bytes.
    pub fn to_bytes(self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// Ones' complement sum of `bytes` as big-endian 16-bit words (odd tail padded with zero).
fn sum16(bytes: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        // Four 16-bit big-endian words at a time.
        let v = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        sum += (v >> 48) + ((v >> 32) & 0xFFFF) + ((v >> 16) & 0xFFFF) + (v & 0xFFFF);
    }
    let mut rest = words.remainder().chunks(2);
    for pair in &mut rest {
        sum += u64::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]));
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

/// Completes a checksum the kernel left to the device (`NEEDS_CSUM`): sums `packet` from
/// `start` to the end (the field already holds the pseudo-header sum) and stores the complement
/// at `start + offset`. `false` (packet unchanged) if the range does not fit.
pub fn complete_checksum(packet: &mut [u8], start: usize, offset: usize) -> bool {
    let Some(field) = start.checked_add(offset) else { return false };
    if field.checked_add(2).is_none_or(|end| end > packet.len()) {
        return false;
    }
    let mut sum = !fold(sum16(&packet[start..]));
    // UDP sends a computed zero as all ones (zero means "no checksum").
    if sum == 0 && offset == 6 {
        sum = 0xFFFF;
    }
    packet[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    true
}

/// The header to write in front of a complete IP packet of `len` bytes whose first bytes are
/// `head`: a TCP packet longer than `mtu` is marked as a TSO packet whose segments fit `mtu`
/// (so the receiving TCP sees the segment size, as for a GRO-merged packet); anything else gets
/// the empty header (the kernel verifies every checksum itself either way).
pub fn header_for(head: &[u8], len: usize, mtu: usize) -> VnetHeader {
    if len <= mtu {
        return VnetHeader::default();
    }
    let (ip_len, gso_type) = match head.first().map(|b| b >> 4) {
        Some(4) if head.get(9) == Some(&6) => (usize::from(head[0] & 0x0F) * 4, GSO_TCPV4),
        Some(6) if head.get(6) == Some(&6) => (40, GSO_TCPV6),
        _ => return VnetHeader::default(),
    };
    let Some(&offset_byte) = head.get(ip_len + 12) else { return VnetHeader::default() };
    let tcp_len = usize::from(offset_byte >> 4) * 4;
    let hdr_len = ip_len + tcp_len;
    if ip_len < 20 || tcp_len < 20 || hdr_len >= mtu || hdr_len >= len {
        return VnetHeader::default();
    }
    let ecn = match gso_type {
        GSO_TCPV4 => head.get(1).is_some_and(|tos| tos & 3 == 3),
        _ => false,
    };
    VnetHeader {
        flags: 0,
        gso_type: gso_type | if ecn { GSO_ECN } else { 0 },
        hdr_len: hdr_len as u16,
        gso_size: (mtu - hdr_len) as u16,
        csum_start: 0,
        csum_offset: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/TCP packet with `payload` bytes, checksums as a host would compute them.
    fn tcp4(payload: usize) -> Vec<u8> {
        let total = 20 + 32 + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let ip_sum = !fold(sum16(&p[..20]));
        p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        p[20 + 12] = 8 << 4; // 32-byte TCP header
        for (i, b) in p[52..].iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        p
    }

    fn pseudo_sum(p: &[u8]) -> u64 {
        let tcp_len = (p.len() - 20) as u64;
        sum16(&p[12..20]) + 6 + tcp_len
    }

    #[test]
    fn a_completed_checksum_verifies_like_a_full_one() {
        for payload in [0usize, 1, 1391, 60_000] {
            let mut p = tcp4(payload);
            // What the kernel hands over with NEEDS_CSUM: the pseudo-header sum in the field.
            let partial = fold(pseudo_sum(&p));
            p[36..38].copy_from_slice(&partial.to_be_bytes());
            assert!(complete_checksum(&mut p, 20, 16));
            // Verification: pseudo header + whole TCP segment sums to 0xFFFF.
            assert_eq!(fold(pseudo_sum(&p) + sum16(&p[20..])), 0xFFFF, "payload {payload}");
        }
    }

    #[test]
    fn checksum_ranges_outside_the_packet_are_refused() {
        let mut p = tcp4(10);
        let before = p.clone();
        assert!(!complete_checksum(&mut p, 60, 16));
        assert!(!complete_checksum(&mut p, usize::MAX, 16));
        let len = p.len();
        assert!(!complete_checksum(&mut p, 20, len - 21));
        assert_eq!(p, before);
    }

    #[test]
    fn headers_round_trip() {
        let h = VnetHeader { flags: 1, gso_type: 4, hdr_len: 72, gso_size: 1372, csum_start: 40, csum_offset: 16 };
        assert_eq!(VnetHeader::parse(&h.to_bytes()), Some(h));
        assert_eq!(VnetHeader::parse(&[0; 9]), None);
    }

    #[test]
    fn large_tcp_packets_get_segment_metadata_small_ones_none() {
        let p = tcp4(8000);
        let h = header_for(&p[..PEEK], p.len(), 1444);
        assert_eq!(h.gso_type, GSO_TCPV4);
        assert_eq!(h.hdr_len, 52);
        assert_eq!(h.gso_size, 1444 - 52);
        let small = tcp4(1000);
        assert_eq!(header_for(&small[..PEEK], small.len(), 1444), VnetHeader::default());
        let mut udp = tcp4(8000);
        udp[9] = 17;
        assert_eq!(header_for(&udp[..PEEK], udp.len(), 1444), VnetHeader::default());
        let mut v6 = vec![0u8; 9000];
        v6[0] = 0x60;
        v6[6] = 6;
        v6[40 + 12] = 5 << 4;
        let h6 = header_for(&v6[..PEEK], v6.len(), 1444);
        assert_eq!((h6.gso_type, h6.hdr_len, h6.gso_size), (GSO_TCPV6, 60, 1384));
        // Garbage headers (TCP data offset below 5) get no metadata.
        let mut bad = tcp4(8000);
        bad[32] = 1 << 4;
        assert_eq!(header_for(&bad[..PEEK], bad.len(), 1444), VnetHeader::default());
    }
}
