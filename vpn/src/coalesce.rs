//! Receive coalescing (GRO) of the tunnel's decrypted packets: consecutive TCP segments of one
//! flow become one super-packet, so the engine and the stack take them as one unit.
//!
//! The rules follow Linux's TCP GRO: segments join a run when they belong to the same flow (same
//! addresses, ports, IP header fields, acknowledgment number, window and TCP options), carry the
//! next sequence number, have the same flags except PSH, no SYN, RST, URG, FIN or CWR, and at
//! most as much payload as the first; a segment shorter than the first, or one with PSH, ends the
//! run (it is its last member). IPv4 identifications must increase by one per segment (or stay
//! fixed with DF set). A run is at most [`MAX_COALESCED`] bytes long.
//!
//! The coalesced packet is the first segment's headers with the new lengths, the last segment's
//! PSH, a new IPv4 header checksum, and a complete TCP checksum computed from the segments' own
//! checksum fields (each gives its payload's sum: O(headers), not O(bytes)), so it is a valid IP
//! packet as a host would have sent it; a segment whose checksum was wrong makes the coalesced
//! packet's checksum wrong, and the stack drops it.

use core::ops::Range;

use crate::inet::{self, IpVersion, TcpPacket, TCP_CWR, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG};

/// Longest coalesced packet (an IPv4 total length, and a ring slot's largest packet).
pub const MAX_COALESCED: usize = 0xFFFF;

/// Flags that keep a segment out of any run.
const NEVER: u8 = TCP_SYN | TCP_RST | TCP_URG | TCP_FIN;

/// Consecutive packets that become one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Index of the first packet.
    pub first: usize,
    /// Number of packets (1: delivered as it is).
    pub count: usize,
    /// Length of the coalesced packet.
    pub len: usize,
    /// Length of the headers (every member's).
    pub header_len: usize,
    /// Payload bytes of the first member: the segment size to announce.
    pub mss: usize,
    /// The coalesced packet's IP version (`None`: not TCP, never coalesced).
    version: Option<IpVersion>,
    /// The last member carries PSH.
    push: bool,
    /// Ones' complement sum of the whole payload (folded, big-endian words).
    payload_sum: u16,
}

impl Run {
    fn single(index: usize, packet: &[u8], version: Option<IpVersion>) -> Self {
        Self { first: index, count: 1, len: packet.len(), header_len: 0, mss: 0, version, push: false, payload_sum: 0 }
    }

    /// The IP version when the run is TCP (one packet or several), `None` for anything else.
    pub fn version(&self) -> Option<IpVersion> {
        self.version
    }
}

/// The payload's sum of a valid TCP packet, from its checksum field: pseudo-header + TCP header
/// (with the field) + payload sums to 0xFFFF.
fn payload_sum(packet: &[u8], info: &TcpPacket) -> u16 {
    let tcp = packet.get(info.ip_len..info.header_len()).unwrap_or(&[]);
    !inet::add(info.pseudo_sum(packet, packet.len() - info.ip_len), inet::sum16(tcp))
}

fn same(a: &[u8], b: &[u8], range: Range<usize>) -> bool {
    a.get(range.clone()).is_some_and(|x| b.get(range).is_some_and(|y| x == y))
}

/// Whether `next` may join a run that starts with `first` and ends with `last`.
fn joins(first: (&[u8], &TcpPacket), li: &TcpPacket, next: (&[u8], &TcpPacket)) -> bool {
    let ((f, fi), (n, ni)) = (first, next);
    if li.flags & TCP_PSH != 0 || li.payload_len != fi.payload_len {
        return false; // the run is closed
    }
    if ni.version != fi.version || ni.ip_len != fi.ip_len || ni.tcp_len != fi.tcp_len {
        return false;
    }
    if ni.payload_len == 0 || ni.payload_len > fi.payload_len || ni.flags & (NEVER | TCP_CWR) != 0 {
        return false;
    }
    if ni.flags & !TCP_PSH != fi.flags & !(TCP_PSH | TCP_CWR) {
        return false;
    }
    if ni.seq != li.seq.wrapping_add(li.payload_len as u32) {
        return false;
    }
    let ip_same = match fi.version {
        IpVersion::V4 => {
            let df = f.get(6).is_some_and(|b| b & 0x40 != 0);
            let id_ok = ni.id == li.id.wrapping_add(1) || (df && ni.id == li.id);
            id_ok && same(f, n, 0..2) && same(f, n, 6..10) && same(f, n, 12..fi.ip_len)
        }
        IpVersion::V6 => same(f, n, 0..4) && same(f, n, 6..40),
    };
    let t = fi.ip_len;
    // Ports, acknowledgment number, data offset/flags word minus the flags, window, urgent
    // pointer, options.
    let tcp_same =
        same(f, n, t..t + 4) && same(f, n, t + 8..t + 13) && same(f, n, t + 14..t + 16) && same(f, n, t + 18..t + 20);
    let options_same = same(f, n, t + 20..fi.header_len());
    ip_same && tcp_same && options_same
}

/// Groups `packets` (in order) into runs, appended to `runs`; every packet is in exactly one run.
pub fn plan(packets: &[&[u8]], runs: &mut Vec<Run>) {
    let mut i = 0;
    while i < packets.len() {
        let Some(&first) = packets.get(i) else { break };
        let fi = match TcpPacket::parse(first) {
            Some(info) if info.payload_len > 0 && info.flags & NEVER == 0 => info,
            other => {
                runs.push(Run::single(i, first, other.map(|info| info.version)));
                i += 1;
                continue;
            }
        };
        let mut run = Run {
            first: i,
            count: 1,
            len: first.len(),
            header_len: fi.header_len(),
            mss: fi.payload_len,
            version: Some(fi.version),
            push: fi.flags & TCP_PSH != 0,
            payload_sum: payload_sum(first, &fi),
        };
        let mut li = fi;
        let mut odd = fi.payload_len % 2 == 1;
        while let Some(&next) = packets.get(i + run.count) {
            let Some(ni) = TcpPacket::parse(next) else { break };
            if run.len + ni.payload_len > MAX_COALESCED || !joins((first, &fi), &li, (next, &ni)) {
                break;
            }
            let s = payload_sum(next, &ni);
            // A payload that starts at an odd offset of the coalesced segment has its bytes in
            // the other halves of the 16-bit words.
            run.payload_sum = inet::add(run.payload_sum, if odd { s.swap_bytes() } else { s });
            odd ^= ni.payload_len % 2 == 1;
            run.len += ni.payload_len;
            run.count += 1;
            run.push = ni.flags & TCP_PSH != 0;
            li = ni;
        }
        i += run.count;
        runs.push(run);
    }
}

/// Rewrites `packet` = the first member's headers followed by the run's whole payload (already
/// in place) into the coalesced packet: lengths, PSH, IPv4 header checksum, TCP checksum.
/// `false` (nothing written) if `packet` is not `run.len` bytes or the run is not a TCP run of
/// several packets.
pub fn finish(run: &Run, packet: &mut [u8]) -> bool {
    let Some(version) = run.version else { return false };
    if run.count < 2 || packet.len() != run.len {
        return false;
    }
    let ip = match version {
        IpVersion::V4 => packet.first().map_or(0, |b| usize::from(b & 0x0F) * 4),
        IpVersion::V6 => 40,
    };
    if ip < 20 || ip + 20 > run.header_len {
        return false;
    }
    let tcp_bytes = run.len - ip;
    match version {
        IpVersion::V4 => {
            packet[2..4].copy_from_slice(&(run.len as u16).to_be_bytes());
            packet[10..12].copy_from_slice(&[0, 0]);
            let c = inet::ipv4_header_checksum(&packet[..ip]);
            packet[10..12].copy_from_slice(&c.to_be_bytes());
        }
        IpVersion::V6 => packet[4..6].copy_from_slice(&(tcp_bytes as u16).to_be_bytes()),
    }
    if run.push {
        packet[ip + 13] |= TCP_PSH;
    }
    packet[ip + 16..ip + 18].copy_from_slice(&[0, 0]);
    let pseudo = inet::pseudo_sum(version, packet, tcp_bytes);
    let header = inet::sum16(&packet[ip..run.header_len]);
    let c = !inet::add(pseudo, inet::add(header, run.payload_sum));
    packet[ip + 16..ip + 18].copy_from_slice(&c.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::tests::{segments, tcp_packet, valid_tcp};
    use crate::inet::TCP_ACK;

    /// Coalesces `packets` by copying, as v1 does: each run's first headers, then the payloads.
    fn coalesce(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let views: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        let mut runs = Vec::new();
        plan(&views, &mut runs);
        assert_eq!(runs.iter().map(|r| r.count).sum::<usize>(), packets.len(), "every packet in one run");
        runs.iter()
            .map(|run| {
                if run.count == 1 {
                    return packets[run.first].clone();
                }
                let mut out = packets[run.first][..run.header_len].to_vec();
                for p in &packets[run.first..run.first + run.count] {
                    out.extend_from_slice(&p[run.header_len..]);
                }
                assert!(finish(run, &mut out));
                out
            })
            .collect()
    }

    #[test]
    fn segments_of_a_super_packet_coalesce_back_into_it() {
        for v6 in [false, true] {
            for (payload, mss) in [(64_000usize, 1392u16), (1392 * 4, 1392), (10_001, 1391), (3, 1392)] {
                let p = tcp_packet(v6, payload, 0xFFFF_FF00, TCP_ACK | TCP_PSH, 5);
                let merged = coalesce(&segments(&p, mss));
                assert_eq!(merged.len(), 1, "v6 {v6} payload {payload}: one run");
                assert!(valid_tcp(&merged[0]));
                assert_eq!(merged[0], p, "v6 {v6} payload {payload} mss {mss}: the super-packet again");
            }
        }
    }

    #[test]
    fn runs_break_where_linux_gro_would() {
        let base = tcp_packet(false, 1392 * 6, 1000, TCP_ACK, 1);
        let segs = segments(&base, 1392);
        // A gap in the sequence numbers: two runs.
        let mut gap = segs.clone();
        gap.remove(3);
        let out = coalesce(&gap);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|p| valid_tcp(p)));
        assert_eq!(out[0].len(), 52 + 3 * 1392);
        // Another flow in between.
        let other = tcp_packet(false, 1392, 1000 + 2 * 1392, TCP_ACK, 2);
        let mut other_flow = segs.clone();
        let mut o = other.clone();
        o[20..22].copy_from_slice(&40001u16.to_be_bytes());
        crate::inet::tests::set_tcp_checksum(&mut o);
        other_flow.insert(2, o);
        assert_eq!(coalesce(&other_flow).len(), 3);
        // PSH on the second segment ends the run after it.
        let mut push = segs.clone();
        push[1][20 + 13] |= TCP_PSH;
        crate::inet::tests::set_tcp_checksum(&mut push[1]);
        let out = coalesce(&push);
        assert_eq!(out.len(), 2);
        assert_eq!(TcpPacket::parse(&out[0]).map(|i| i.flags & TCP_PSH), Some(TCP_PSH));
        // A different window, a different ack, an option change, a skipped IPv4 id, a SYN.
        let edits: [(usize, u8); 5] = [(20 + 15, 1), (20 + 11, 1), (20 + 31, 1), (5, 1), (20 + 13, TCP_SYN)];
        for (at, bit) in edits {
            let mut changed = segs.clone();
            changed[2][at] ^= bit;
            let c = crate::inet::ipv4_header_checksum(&changed[2][..20]);
            changed[2][10..12].copy_from_slice(&c.to_be_bytes());
            crate::inet::tests::set_tcp_checksum(&mut changed[2]);
            let out = coalesce(&changed);
            assert!(out.len() >= 2, "byte {at} changed: still one run");
            assert!(out.iter().all(|p| valid_tcp(p)), "byte {at}");
        }
        // A shorter segment ends its run; pure ACKs and non-TCP packets pass alone.
        let short = segments(&tcp_packet(false, 1392 + 100, 1000, TCP_ACK, 1), 1392);
        let mut mixed = vec![short[1].clone(), short[0].clone()];
        mixed.push(tcp_packet(false, 0, 5, TCP_ACK, 0));
        let mut udp = tcp_packet(false, 30, 5, TCP_ACK, 0);
        udp[9] = 17;
        mixed.push(udp.clone());
        let out = coalesce(&mixed);
        assert_eq!(out.len(), 4);
        assert_eq!(out[3], udp);
    }

    #[test]
    fn runs_stop_at_the_largest_packet() {
        // 60 full segments of one flow: more than one packet can hold.
        let segs: Vec<Vec<u8>> = (0..60u32)
            .map(|k| {
                let mut s = tcp_packet(false, 1392, 1 + k * 1392, TCP_ACK, 3);
                s[4..6].copy_from_slice(&(0x1234 + k as u16).to_be_bytes());
                let c = crate::inet::ipv4_header_checksum(&s[..20]);
                s[10..12].copy_from_slice(&c.to_be_bytes());
                s
            })
            .collect();
        let out = coalesce(&segs);
        assert_eq!(out.len(), 2);
        assert!(out[0].len() <= MAX_COALESCED && out[0].len() + 1392 > MAX_COALESCED);
        assert!(out.iter().all(|p| valid_tcp(p)));
    }

    #[test]
    fn a_wrong_member_checksum_makes_the_coalesced_checksum_wrong() {
        let p = tcp_packet(false, 1392 * 3, 1, TCP_ACK, 3);
        let mut segs = segments(&p, 1392);
        segs[1][60] ^= 0x40; // payload damaged after its checksum was computed
        let out = coalesce(&segs);
        assert_eq!(out.len(), 1);
        assert!(!valid_tcp(&out[0]));
    }

    #[test]
    fn finish_refuses_what_it_cannot_rewrite() {
        let p = tcp_packet(false, 100, 1, TCP_ACK, 3);
        let mut runs = Vec::new();
        plan(&[&p], &mut runs);
        let mut copy = p.clone();
        assert!(!finish(&runs[0], &mut copy), "a run of one is not rewritten");
        assert_eq!(copy, p);
    }
}
