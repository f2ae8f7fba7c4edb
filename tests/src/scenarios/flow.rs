//! Flow control and ordering: full rings and recovery, wrap-around, out-of-order release.

use std::thread;

use ring_abi::RingVersion;
use ringtun::{Error, SessionConfig, VersionPreference};

use super::common::{receive_n, send, session, v1, v2, PATIENCE};
use crate::backend::{Backend, Failure, Outcome};
use crate::packets::{ipv4, raw, Rng};
use crate::{ensure, ensure_eq};

fn small(version: VersionPreference) -> SessionConfig {
    SessionConfig { version, incoming_capacity: 0x20000, outgoing_capacity: 0x20000, ..SessionConfig::default() }
}

/// A batch larger than the Send ring's free space (a chain of large sends can be megabytes): its
/// longest prefix that fits is sent, the rest dropped and counted, in order: a packet after a
/// dropped one is not sent even if it would fit. Into an empty 128 KiB ring, two 60 000-byte
/// packets fit and the third does not.
pub fn send_batch_larger_than_the_ring<B: Backend>(b: &B) -> Result<(), Failure> {
    for version in [VersionPreference::V1Only, VersionPreference::PreferV2] {
        let s = session(b, small(version))?;
        let before = b.counters();
        let batch: Vec<Vec<u8>> = (0..3).map(|k| raw(60_000, 10 + k)).chain([raw(100, 13)]).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        ensure_eq!(
            b.transmit(&refs),
            vec![Outcome::Sent, Outcome::Sent, Outcome::RingFull, Outcome::RingFull],
            "{version:?}"
        );
        let c = b.counters();
        ensure_eq!(c.send_packets - before.send_packets, 2);
        ensure_eq!(c.send_dropped_ring_full - before.send_dropped_ring_full, 2);
        ensure_eq!(receive_n(&s, 2)?, batch[..2].to_vec());
        // Read: the ring takes a batch again, from its first packet.
        ensure_eq!(b.transmit(&refs[2..]), vec![Outcome::Sent, Outcome::Sent]);
        ensure_eq!(receive_n(&s, 2)?, batch[2..].to_vec());
    }
    Ok(())
}

/// The Send ring fills: what of a batch does not fit is dropped and counted; once the client
/// reads, batches go through again.
pub fn send_ring_full_and_recovery<B: Backend>(b: &B) -> Result<(), Failure> {
    for version in [VersionPreference::V1Only, VersionPreference::PreferV2] {
        let s = session(b, small(version))?;
        let before = b.counters();
        let mut sent = Vec::new();
        let mut dropped = 0u64;
        let mut seq = 0u32;
        // Fill with batches of 4 x 1400 bytes until one is cut short, then a few more.
        let mut refused_batches = 0;
        while refused_batches < 3 {
            let batch: Vec<Vec<u8>> = (0..4)
                .map(|_| {
                    seq += 1;
                    raw(1400, seq)
                })
                .collect();
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let outcomes = b.transmit(&refs);
            // The longest prefix that fits is sent, the rest dropped: never a packet after a drop.
            let fitted = outcomes.iter().take_while(|o| **o == Outcome::Sent).count();
            ensure!(outcomes[fitted..].iter().all(|o| *o == Outcome::RingFull), "outcomes {outcomes:?}");
            sent.extend(batch.into_iter().take(fitted));
            if fitted < 4 {
                refused_batches += 1;
                dropped += 4 - fitted as u64;
            }
            ensure!(seq < 10_000, "the ring never filled");
        }
        // 0x20000 bytes (one alignment unit kept free) hold 93 slots of 1400 bytes (v1: 1404, v2:
        // 1408): 23 batches and the first packet of the 24th.
        ensure_eq!(sent.len(), 93);
        let c = b.counters();
        ensure_eq!(c.send_dropped_ring_full - before.send_dropped_ring_full, dropped);
        ensure_eq!(c.send_packets - before.send_packets, sent.len() as u64);
        // Everything that was accepted is there, in order.
        ensure_eq!(receive_n(&s, sent.len())?, sent);
        // And the ring accepts again.
        let p = raw(1400, 99_999);
        ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent]);
        ensure_eq!(receive_n(&s, 1)?, vec![p]);
    }
    Ok(())
}

/// The Receive ring fills while the stack holds every packet; returns make room again.
pub fn receive_ring_full_and_recovery<B: Backend>(b: &B) -> Result<(), Failure> {
    for version in [VersionPreference::V1Only, VersionPreference::PreferV2] {
        let s = session(b, small(version))?;
        b.set_hold(true);
        let mut count = 0u32;
        loop {
            match s.allocate(1400, 0, 0) {
                Ok(mut slot) => {
                    slot.data_mut().copy_from_slice(&ipv4(1400, count));
                    s.send(slot)?;
                    count += 1;
                }
                Err(Error::RingFull) => break,
                Err(e) => return Err(e.into()),
            }
            ensure!(count < 1000, "the ring never filled");
        }
        // (0x20000 - alignment) / slot: 93 slots of 1400 bytes (v1: 1404, v2: 1408).
        ensure_eq!(count, 93);
        ensure!(b.wait_held(count as usize, PATIENCE), "not everything indicated");
        let held = b.take_held();
        for (i, h) in held.iter().enumerate() {
            ensure_eq!(b.held_bytes(h), ipv4(1400, i as u32));
        }
        ensure!(matches!(s.allocate(1400, 0, 0), Err(Error::RingFull)), "room appeared before any return");
        b.set_hold(false);
        b.return_held(held);
        let baseline = b.counters().receive_packets;
        send(&s, &ipv4(1400, 5000))?;
        ensure!(b.wait_delivered(baseline + 1, PATIENCE), "not delivered");
        let ring = s.outgoing_ring();
        let deadline = std::time::Instant::now() + PATIENCE;
        while ring.load_head() != ring.load_tail() && std::time::Instant::now() < deadline {
            thread::yield_now();
        }
        ensure_eq!(ring.load_head(), ring.load_tail());
        b.take_delivered();
    }
    Ok(())
}

/// Traffic through several wraps with slot sizes stepping through every alignment offset.
fn wrap<B: Backend>(b: &B, version: VersionPreference, expect: RingVersion) -> Result<(), Failure> {
    let s = session(b, small(version))?;
    ensure_eq!(s.version(), expect);
    let align = if expect == RingVersion::V1 { 4 } else { 8 };
    // About three capacities of traffic each way; lengths step by 1 so slot sizes (and so the
    // wrap point) take every aligned offset.
    let mut incoming_seq = 0u32;
    let mut total = 0usize;
    while total < 3 * 0x20000 {
        let len = 1000 + (incoming_seq as usize % (4 * align));
        let p = raw(len, incoming_seq);
        ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent]);
        ensure_eq!(receive_n(&s, 1)?, vec![p], "incoming {incoming_seq}");
        total += len;
        incoming_seq += 1;
    }
    let mut sent = Vec::new();
    let mut total = 0usize;
    let mut seq = 0u32;
    while total < 3 * 0x20000 {
        let p = ipv4(1000 + (seq as usize % (4 * align)), seq);
        send(&s, &p)?;
        total += p.len();
        sent.push(p);
        seq += 1;
    }
    ensure!(b.wait_delivered(sent.len() as u64, PATIENCE), "not delivered");
    ensure_eq!(b.take_delivered(), sent);
    Ok(())
}

/// Wrap-around, v1.
pub fn wrap_at_every_alignment_v1<B: Backend>(b: &B) -> Result<(), Failure> {
    wrap(b, VersionPreference::V1Only, RingVersion::V1)
}

/// Wrap-around, v2.
pub fn wrap_at_every_alignment_v2<B: Backend>(b: &B) -> Result<(), Failure> {
    wrap(b, VersionPreference::PreferV2, RingVersion::V2)
}

/// The client releases incoming packets out of order: `head` moves only over the released
/// prefix, and every byte stays intact until released.
pub fn client_releases_out_of_order<B: Backend>(b: &B) -> Result<(), Failure> {
    for config in [v1(), v2()] {
        let s = session(b, config)?;
        let packets: Vec<Vec<u8>> = (0..6).map(|i| raw(200 + 50 * i, i as u32)).collect();
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        ensure_eq!(b.transmit(&refs), vec![Outcome::Sent; 6]);
        let mut held = Vec::new();
        while held.len() < 6 {
            let p = s.receive_wait(PATIENCE)?.ok_or_else(|| Failure::new("missing packet"))?;
            held.push(Some(p));
        }
        let ends: Vec<u32> = held
            .iter()
            .map(|p| p.as_ref().map(|p| s.incoming_ring().geometry().advance(p.view().slot_offset, p.view().slot_size)))
            .collect::<Option<_>>()
            .ok_or_else(|| Failure::new("missing packet"))?;
        let start = held[0].as_ref().map(|p| p.view().slot_offset).unwrap_or(0);
        let mut released = [false; 6];
        for i in [2usize, 4, 0, 1, 5, 3] {
            let p = held[i].take().ok_or_else(|| Failure::new("released twice"))?;
            ensure_eq!(p.data(), &packets[i][..], "packet {i} intact until released");
            p.release();
            released[i] = true;
            let prefix = released.iter().take_while(|r| **r).count();
            let want = if prefix == 0 { start } else { ends[prefix - 1] };
            ensure_eq!(s.incoming_ring().load_head(), want, "after releasing {i}");
        }
    }
    Ok(())
}

/// The batch calls: packets received several at a time and released together (with some
/// released on their own, out of order, in between), slots allocated several at a time and sent
/// together. `head` and `tail` move as if each packet had been handled alone.
pub fn client_batches<B: Backend>(b: &B) -> Result<(), Failure> {
    for config in [v1(), v2()] {
        let s = session(b, config)?;
        let packets: Vec<Vec<u8>> = (0..8).map(|i| raw(100 + 40 * i, i as u32)).collect();
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        ensure_eq!(b.transmit(&refs), vec![Outcome::Sent; 8]);
        let geometry = *s.incoming_ring().geometry();
        let start = s.incoming_ring().load_head();
        let mut first = Vec::new();
        let mut second = Vec::new();
        ensure_eq!(s.receive_many(&mut first, 5)?, 5);
        ensure_eq!(s.receive_many(&mut second, 5)?, 3);
        ensure_eq!(s.receive_many(&mut Vec::new(), 5)?, 0, "nothing left");
        for (i, p) in first.iter().chain(&second).enumerate() {
            ensure_eq!(p.data(), &packets[i][..], "packet {i} in place");
        }
        let end_of = |p: &ringtun::IncomingPacket<'_, _>| geometry.advance(p.view().slot_offset, p.view().slot_size);
        let end_of_first = first.last().map(end_of).ok_or_else(|| Failure::new("no packet"))?;
        let end = second.last().map(end_of).ok_or_else(|| Failure::new("no packet"))?;
        // One of the second batch alone, out of order: head stays.
        second.remove(1).release();
        ensure_eq!(s.incoming_ring().load_head(), start, "out-of-order release moved head");
        // The first batch: head moves over it only.
        s.release_many(&mut first);
        ensure!(first.is_empty(), "release_many drains");
        ensure_eq!(s.incoming_ring().load_head(), end_of_first, "head after the first batch");
        // The rest: head moves over the slot released earlier too.
        s.release_many(&mut second);
        ensure_eq!(s.incoming_ring().load_head(), end, "head after the second batch");

        // Outgoing: a length that cannot be allocated stops the batch after the slots before it.
        let out: Vec<Vec<u8>> = (0..3).map(|i| ipv4(300 + 100 * i, i as u32)).collect();
        let mut slots = Vec::new();
        ensure!(s.allocate_many(&[0, 100], 0, 0, &mut slots).is_err(), "a first length of 0 is refused");
        ensure!(slots.is_empty(), "nothing allocated");
        let lens: Vec<usize> = out.iter().map(Vec::len).chain([0x1_0000]).collect();
        ensure_eq!(s.allocate_many(&lens, 0, 0, &mut slots)?, 3, "stops at the oversized length");
        for (slot, packet) in slots.iter_mut().zip(&out) {
            slot.data_mut().copy_from_slice(packet);
        }
        let baseline = b.counters().receive_packets;
        s.send_many(&mut slots)?;
        ensure!(slots.is_empty(), "send_many drains");
        ensure!(b.wait_delivered(baseline + 3, PATIENCE), "the batch was not delivered");
        ensure_eq!(b.take_delivered(), out, "delivered in order, intact");
    }
    Ok(())
}

/// The stack returns packets in a shuffled order from four threads: the Receive head only ever
/// moves over returned slots, in order, and ends at the tail.
pub fn stack_returns_out_of_order<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = session(b, v2())?;
    b.set_hold(true);
    let n = 200;
    let packets: Vec<Vec<u8>> = (0..n).map(|i| ipv4(60 + (i % 50), i as u32)).collect();
    for p in &packets {
        send(&s, p)?;
    }
    ensure!(b.wait_held(n, PATIENCE), "not all indicated");
    let mut held = b.take_held();
    for (i, h) in held.iter().enumerate() {
        ensure_eq!(b.held_bytes(h), packets[i]);
    }
    let ring = s.outgoing_ring();
    let tail = ring.load_tail();
    let head0 = ring.load_head();
    // Everything but the first comes back, shuffled, from four threads at once: the head must
    // not move, since the first slot is still out.
    let first = held.remove(0);
    let mut rng = Rng::new(77);
    rng.shuffle(&mut held);
    let mut chunks: Vec<Vec<B::Held>> = Vec::new();
    while !held.is_empty() {
        let take = held.len().min(50);
        chunks.push(held.drain(..take).collect());
    }
    thread::scope(|scope| {
        for chunk in chunks {
            scope.spawn(move || {
                for h in chunk {
                    b.return_held(vec![h]);
                }
            });
        }
    });
    ensure_eq!(ring.load_head(), head0, "head moved while the first slot was out");
    b.return_held(vec![first]);
    ensure_eq!(ring.load_head(), tail, "head did not reach the tail once all were back");
    ensure_eq!(b.counters().receive_packets, n as u64);
    // The whole ring is free again.
    b.set_hold(false);
    send(&s, &ipv4(1000, 9999))?;
    ensure!(b.wait_delivered(n as u64 + 1, PATIENCE), "not delivered after the returns");
    Ok(())
}
