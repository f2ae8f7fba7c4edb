//! The demo's packets: real IPv4/IPv6 headers (IPv4 with a valid header checksum) around a
//! payload that carries a sequence number and a pattern derived from it, so that every byte can
//! be checked wherever the packet arrives.
//!
//! Layout: IP header (20 or 40 bytes), 8-byte big-endian sequence number, pattern bytes.
//! Even sequence numbers are IPv4, odd ones IPv6 (when the size allows a 48-byte IPv6 packet).

use std::sync::OnceLock;

/// Smallest packet: an IPv4 header and the sequence number.
pub const MIN_SIZE: usize = IPV4_HEADER + SEQ_LEN;
/// Largest packet (IPv4 total length, v2 data length).
pub const MAX_SIZE: usize = 0xFFFF;

const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const SEQ_LEN: usize = 8;
/// IP protocol 253: "use for experimentation and testing" (RFC 3692), so nothing mistakes the
/// payload for a real transport header.
const PROTOCOL: u8 = 253;

/// Which way a packet travels; the addresses differ, so a packet cannot pass for the other way's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Sent by the network stack out of the adapter, to the client (tunnel address → remote).
    Outbound,
    /// Sent by the client into the adapter, to the network stack (remote → tunnel address).
    Inbound,
}

const V4_LOCAL: [u8; 4] = [10, 8, 0, 2];
const V4_REMOTE: [u8; 4] = [192, 0, 2, 1];
const V6_LOCAL: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const V6_REMOTE: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Why a packet failed its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Not the IP version, protocol or addresses this sequence number and direction call for.
    Header,
    /// The IP length field disagrees with the packet's length.
    Length,
    /// IPv4 header checksum wrong.
    Checksum,
    /// A pattern byte differs.
    Payload,
}

fn pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        (0..MAX_SIZE + 256)
            .map(|i| ((i as u32).wrapping_mul(0x9E37_79B1).wrapping_add(0x7F4A_7C15) >> 24) as u8)
            .collect()
    })
}

fn pattern_at(seq: u64, len: usize) -> &'static [u8] {
    let start = (seq % 251) as usize;
    &pattern()[start..start + len]
}

fn is_v6(seq: u64, len: usize) -> bool {
    len >= IPV6_HEADER + SEQ_LEN && seq % 2 == 1
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes packet `seq` into `out`; the packet is `out.len()` bytes (`MIN_SIZE..=MAX_SIZE`).
pub fn write(out: &mut [u8], seq: u64, dir: Dir) {
    let len = out.len();
    debug_assert!((MIN_SIZE..=MAX_SIZE).contains(&len));
    let header = if is_v6(seq, len) {
        let (src, dst) = match dir {
            Dir::Outbound => (V6_LOCAL, V6_REMOTE),
            Dir::Inbound => (V6_REMOTE, V6_LOCAL),
        };
        out[..4].copy_from_slice(&[0x60, 0, 0, 0]);
        out[4..6].copy_from_slice(&((len - IPV6_HEADER) as u16).to_be_bytes());
        out[6] = PROTOCOL;
        out[7] = 64;
        out[8..24].copy_from_slice(&src);
        out[24..40].copy_from_slice(&dst);
        IPV6_HEADER
    } else {
        let (src, dst) = match dir {
            Dir::Outbound => (V4_LOCAL, V4_REMOTE),
            Dir::Inbound => (V4_REMOTE, V4_LOCAL),
        };
        out[..2].copy_from_slice(&[0x45, 0]);
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        out[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
        out[6..8].copy_from_slice(&[0x40, 0]);
        out[8] = 64;
        out[9] = PROTOCOL;
        out[10..12].fill(0);
        out[12..16].copy_from_slice(&src);
        out[16..20].copy_from_slice(&dst);
        let sum = checksum(&out[..IPV4_HEADER]);
        out[10..12].copy_from_slice(&sum.to_be_bytes());
        IPV4_HEADER
    };
    out[header..header + SEQ_LEN].copy_from_slice(&seq.to_be_bytes());
    out[header + SEQ_LEN..].copy_from_slice(pattern_at(seq, len - header - SEQ_LEN));
}

/// Checks every byte of a packet that travelled `dir`; returns its sequence number.
pub fn check(p: &[u8], dir: Dir) -> Result<u64, Fault> {
    let len = p.len();
    let v6 = match p.first().map(|b| b >> 4) {
        Some(4) => false,
        Some(6) => true,
        _ => return Err(Fault::Header),
    };
    let header = if v6 { IPV6_HEADER } else { IPV4_HEADER };
    if len < header + SEQ_LEN {
        return Err(Fault::Length);
    }
    let declared = if v6 {
        usize::from(u16::from_be_bytes([p[4], p[5]])) + IPV6_HEADER
    } else {
        usize::from(u16::from_be_bytes([p[2], p[3]]))
    };
    if declared != len {
        return Err(Fault::Length);
    }
    let addresses_ok = if v6 {
        let (src, dst) = if dir == Dir::Outbound { (V6_LOCAL, V6_REMOTE) } else { (V6_REMOTE, V6_LOCAL) };
        p[0] == 0x60 && p[6] == PROTOCOL && p[8..24] == src && p[24..40] == dst
    } else {
        let (src, dst) = if dir == Dir::Outbound { (V4_LOCAL, V4_REMOTE) } else { (V4_REMOTE, V4_LOCAL) };
        if checksum(&p[..IPV4_HEADER]) != 0 {
            return Err(Fault::Checksum);
        }
        p[0] == 0x45 && p[9] == PROTOCOL && p[12..16] == src && p[16..20] == dst
    };
    let seq = u64::from_be_bytes(p[header..header + SEQ_LEN].try_into().map_err(|_| Fault::Length)?);
    // IPv4 carries the sequence number's low bits in its identification field too.
    let id_ok = v6 || p[4..6] == (seq as u16).to_be_bytes();
    if !addresses_ok || !id_ok || is_v6(seq, len) != v6 {
        return Err(Fault::Header);
    }
    if p[header + SEQ_LEN..] != *pattern_at(seq, len - header - SEQ_LEN) {
        return Err(Fault::Payload);
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_faults() {
        for len in [MIN_SIZE, 47, 48, 1400, MAX_SIZE] {
            for seq in [0u64, 1, 2, 250, 251, 1 << 40] {
                let mut p = vec![0u8; len];
                write(&mut p, seq, Dir::Outbound);
                assert_eq!(check(&p, Dir::Outbound), Ok(seq), "len {len} seq {seq}");
                assert_eq!(check(&p, Dir::Inbound), Err(Fault::Header));
                let last = p.len() - 1;
                p[last] ^= 1;
                assert!(check(&p, Dir::Outbound).is_err());
            }
        }
        let mut p = vec![0u8; 100];
        write(&mut p, 2, Dir::Inbound);
        p[8] = 63;
        assert_eq!(check(&p, Dir::Inbound), Err(Fault::Checksum));
        assert_eq!(check(&p[..99], Dir::Inbound), Err(Fault::Length));
        assert_eq!(check(&[0u8; 40], Dir::Inbound), Err(Fault::Header));
    }
}
