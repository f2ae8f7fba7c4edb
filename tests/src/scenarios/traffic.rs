//! Traffic both ways at every size, classification, and RECEIVE_SPLIT.

use ring_abi::RingVersion;
use ringtun::SessionConfig;

use super::common::{receive_n, send, session, v1, v2, PATIENCE};
use crate::backend::{Backend, Failure, Outcome};
use crate::packets::{ipv4, ipv6, not_ip, raw};
use crate::{ensure, ensure_eq};

const INCOMING_SIZES: &[usize] =
    &[1, 2, 3, 4, 5, 7, 8, 19, 20, 39, 40, 41, 64, 576, 1280, 1500, 1501, 4096, 9000, 32768, 65534, 65535];
const OUTGOING_SIZES: &[usize] = &[41, 60, 64, 576, 1280, 1500, 1501, 4096, 9000, 32768, 65534, 65535];

fn both_ways<B: Backend>(b: &B, config: SessionConfig, version: RingVersion) -> Result<(), Failure> {
    let s = session(b, config)?;
    ensure_eq!(s.version(), version);
    // Network -> client: any bytes, 1..=0xFFFF.
    let mut bytes = 0u64;
    for (i, &len) in INCOMING_SIZES.iter().enumerate() {
        let p = raw(len, i as u32);
        ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent], "incoming {len}");
        ensure_eq!(receive_n(&s, 1)?, vec![p], "incoming {len} bytes");
        bytes += len as u64;
    }
    // Client -> network: IPv4 20..=0xFFFF and IPv6 41..=0xFFFF.
    let mut sent = Vec::new();
    for (i, &len) in OUTGOING_SIZES.iter().enumerate() {
        sent.push(ipv4(len, 1000 + i as u32));
        sent.push(ipv6(len, 2000 + i as u32));
    }
    sent.push(ipv4(20, 3000));
    for p in &sent {
        send(&s, p)?;
    }
    ensure!(b.wait_delivered(sent.len() as u64, PATIENCE), "not all outgoing packets delivered");
    ensure_eq!(b.take_delivered(), sent);
    let c = b.counters();
    ensure_eq!(c.send_packets, INCOMING_SIZES.len() as u64);
    ensure_eq!(c.send_bytes, bytes);
    ensure_eq!(c.receive_packets, sent.len() as u64);
    ensure_eq!(c.receive_bytes, sent.iter().map(|p| p.len() as u64).sum::<u64>());
    ensure_eq!(c.receive_dropped_not_ip + c.send_dropped_invalid + c.receive_ring_faults, 0);
    // Batches too: 16 packets in one transmit, all Sent, all received in order.
    let batch: Vec<Vec<u8>> = (0..16).map(|i| raw(100 + i * 97, 5000 + i as u32)).collect();
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    ensure_eq!(b.transmit(&refs), vec![Outcome::Sent; 16]);
    ensure_eq!(receive_n(&s, 16)?, batch);
    Ok(())
}

/// v1 both ways at every size.
pub fn both_ways_all_sizes_v1<B: Backend>(b: &B) -> Result<(), Failure> {
    both_ways(b, v1(), RingVersion::V1)
}

/// v2 both ways at every size.
pub fn both_ways_all_sizes_v2<B: Backend>(b: &B) -> Result<(), Failure> {
    both_ways(b, v2(), RingVersion::V2)
}

/// Non-IP, too-short IPv4/IPv6: dropped and counted; the ring keeps moving.
pub fn non_ip_dropped<B: Backend>(b: &B) -> Result<(), Failure> {
    for config in [v1(), v2()] {
        let s = session(b, config)?;
        let before = b.counters();
        let mut short_v4 = ipv4(20, 1);
        short_v4.truncate(19);
        let mut short_v6 = ipv6(41, 2);
        short_v6.truncate(39);
        let bad = [not_ip(100, 3), short_v4, short_v6, not_ip(1, 4), {
            let mut p = ipv4(60, 5);
            p[0] = 0x55; // version 5
            p
        }];
        let good = [ipv4(60, 10), ipv6(80, 11)];
        for (i, p) in bad.iter().enumerate() {
            send(&s, p)?;
            send(&s, &good[i % 2])?;
        }
        ensure!(b.wait_delivered(before.receive_packets + 5, PATIENCE), "good packets not delivered");
        let delivered = b.take_delivered();
        ensure_eq!(delivered.len(), 5);
        for (i, p) in delivered.iter().enumerate() {
            ensure_eq!(p, &good[i % 2]);
        }
        let c = b.counters();
        ensure_eq!(c.receive_dropped_not_ip - before.receive_dropped_not_ip, bad.len() as u64);
        // Every slot was released: head caught up with tail.
        let ring = s.outgoing_ring();
        let deadline = std::time::Instant::now() + PATIENCE;
        while ring.load_head() != ring.load_tail() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        ensure_eq!(ring.load_head(), ring.load_tail());
    }
    Ok(())
}

/// RECEIVE_SPLIT: IP packets back to back in one slot are indicated one by one; an
/// inconsistent length drops the rest of the slot.
pub fn receive_split<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = session(b, SessionConfig { receive_split: true, ..v2() })?;
    ensure!(s.config().flags.contains(ring_abi::RegistrationFlags::RECEIVE_SPLIT), "flag not registered");
    let parts = [ipv4(120, 1), ipv6(60, 2), ipv4(1500, 3), ipv4(20, 4)];
    let joined: Vec<u8> = parts.concat();
    send(&s, &joined)?;
    ensure!(b.wait_delivered(4, PATIENCE), "split packets not delivered");
    ensure_eq!(b.take_delivered(), parts.to_vec());
    // Two good packets, then one claiming more bytes than are left.
    let mut liar = ipv4(100, 7);
    liar[2..4].copy_from_slice(&200u16.to_be_bytes());
    let joined: Vec<u8> = [ipv4(40, 5), ipv6(48, 6), liar].concat();
    send(&s, &joined)?;
    ensure!(b.wait_delivered(6, PATIENCE), "good split packets not delivered");
    ensure_eq!(b.take_delivered(), vec![ipv4(40, 5), ipv6(48, 6)]);
    let c = b.counters();
    ensure_eq!(c.receive_dropped_split, 1);
    ensure_eq!(c.receive_packets, 6);
    Ok(())
}
