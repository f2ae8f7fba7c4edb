//! The kernel's offload metadata on a TUN device opened with `IFF_VNET_HDR`: every packet read or
//! written is preceded by a `struct virtio_net_hdr` (linux/virtio_net.h), which lets the kernel
//! hand over TCP (and, on Linux 6.2 and later, UDP) packets of up to 64 KiB in one read with
//! their checksum left to compute, and take such packets back in one write.
//!
//! This module only translates, field for field: a header read from the device becomes the
//! engine's [`TransmitOffload`] request, and an indication's [`IndicationInfo`] becomes the
//! header written in front of it. What a super-packet becomes (one ring slot with its metadata,
//! or packets the engine cuts) is the engine's decision.

use ringtun_driver::engine::TransmitOffload;
use ringtun_driver::platform::{IndicatedChecksum, IndicationInfo};
use ringtun_driver::ring_abi::{GsoKind, OFFLOAD_GSO_ECN};

/// Size of `struct virtio_net_hdr` (the TUN default, `TUNSETVNETHDRSZ` not used).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header sum; the rest is to be added from `csum_start` to the end.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the packet's checksums need not be verified.
pub const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4` (linux/virtio_net.h of Linux 5.18 and later; Debian 12's copy of
/// the header predates it).
pub const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN` (a flag on the GSO type).
pub const GSO_ECN: u8 = 0x80;

const _: () = assert!(GSO_ECN == OFFLOAD_GSO_ECN);

/// A `struct virtio_net_hdr`, in the host's byte order (the TUN default on a little-endian
/// host, where legacy virtio headers are native-endian).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHeader {
    /// `F_NEEDS_CSUM`, `F_DATA_VALID` or 0.
    pub flags: u8,
    /// `GSO_*`.
    pub gso_type: u8,
    /// Length of the headers in front of the segmented payload (a hint from the kernel: its
    /// linear part, which may be longer than the headers).
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

    /// The engine's request for a packet the kernel handed over with this header: a large send
    /// of the header's kind and segment size, and the L4 checksum when `NEEDS_CSUM` is set (the
    /// kernel computes IPv4 header checksums itself). `None` for a kind the engine does not know
    /// (the packet is dropped).
    pub fn to_request(self) -> Option<TransmitOffload> {
        let segmentation = match self.gso_type & !GSO_ECN {
            GSO_NONE => None,
            GSO_TCPV4 => Some((GsoKind::TcpV4, self.gso_size)),
            GSO_TCPV6 => Some((GsoKind::TcpV6, self.gso_size)),
            GSO_UDP_L4 => Some((GsoKind::UdpL4, self.gso_size)),
            _ => return None,
        };
        Some(TransmitOffload {
            segmentation,
            l4_checksum: self.flags & F_NEEDS_CSUM != 0,
            ip_checksum: false,
            ..TransmitOffload::default()
        })
    }

    /// The header written in front of an indicated packet: what the engine tells the stack.
    pub fn from_info(info: &IndicationInfo) -> Self {
        let mut header = Self::default();
        match info.checksum {
            IndicatedChecksum::Unknown => {}
            IndicatedChecksum::Valid { .. } => header.flags = F_DATA_VALID,
            IndicatedChecksum::Partial { start, offset } => {
                header.flags = F_NEEDS_CSUM;
                header.csum_start = start;
                header.csum_offset = offset;
            }
        }
        if let Some(unit) = info.coalesced {
            let kind = match unit.kind {
                GsoKind::TcpV4 => GSO_TCPV4,
                GsoKind::TcpV6 => GSO_TCPV6,
                GsoKind::UdpL4 => GSO_UDP_L4,
            };
            header.gso_type = kind | if unit.ecn { GSO_ECN } else { 0 };
            header.hdr_len = unit.header_len;
            header.gso_size = unit.segment_size;
        }
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringtun_driver::platform::{Coalesced, IpKind};
    use ringtun_driver::ring_abi::Transport;

    #[test]
    fn headers_round_trip() {
        let h = VnetHeader { flags: 1, gso_type: 4, hdr_len: 72, gso_size: 1372, csum_start: 40, csum_offset: 16 };
        assert_eq!(VnetHeader::parse(&h.to_bytes()), Some(h));
        assert_eq!(VnetHeader::parse(&[0; 9]), None);
    }

    #[test]
    fn a_read_header_becomes_the_engine_request() {
        let tso =
            VnetHeader { flags: F_NEEDS_CSUM, gso_type: GSO_TCPV6, hdr_len: 200, gso_size: 1380, ..Default::default() };
        assert_eq!(
            tso.to_request(),
            Some(TransmitOffload {
                segmentation: Some((GsoKind::TcpV6, 1380)),
                l4_checksum: true,
                ip_checksum: false,
                ..TransmitOffload::default()
            })
        );
        let uso = VnetHeader { flags: F_NEEDS_CSUM, gso_type: GSO_UDP_L4, gso_size: 1200, ..Default::default() };
        assert_eq!(uso.to_request().and_then(|r| r.segmentation), Some((GsoKind::UdpL4, 1200)));
        let csum = VnetHeader { flags: F_NEEDS_CSUM, csum_start: 20, csum_offset: 6, ..Default::default() };
        assert_eq!(
            csum.to_request(),
            Some(TransmitOffload {
                segmentation: None,
                l4_checksum: true,
                ip_checksum: false,
                ..TransmitOffload::default()
            })
        );
        assert_eq!(VnetHeader::default().to_request(), Some(TransmitOffload::default()));
        // UFO (type 3) and unknown types are refused.
        assert_eq!(VnetHeader { gso_type: 3, ..Default::default() }.to_request(), None);
        assert_eq!(VnetHeader { gso_type: 9, ..Default::default() }.to_request(), None);
    }

    #[test]
    fn an_indication_becomes_the_written_header() {
        let info = IndicationInfo {
            kind: IpKind::V4,
            transport: Transport::Tcp,
            checksum: IndicatedChecksum::Partial { start: 20, offset: 16 },
            coalesced: Some(Coalesced {
                kind: GsoKind::TcpV4,
                segment_size: 1448,
                header_len: 52,
                segments: 30,
                ecn: true,
            }),
        };
        assert_eq!(
            VnetHeader::from_info(&info),
            VnetHeader {
                flags: F_NEEDS_CSUM,
                gso_type: GSO_TCPV4 | GSO_ECN,
                hdr_len: 52,
                gso_size: 1448,
                csum_start: 20,
                csum_offset: 16
            }
        );
        let valid =
            IndicationInfo { checksum: IndicatedChecksum::Valid { value_computed: false }, coalesced: None, ..info };
        assert_eq!(VnetHeader::from_info(&valid), VnetHeader { flags: F_DATA_VALID, ..Default::default() });
        assert_eq!(VnetHeader::from_info(&IndicationInfo::plain(IpKind::V6)), VnetHeader::default());
    }
}
