//! Bugs Wintun itself shipped and fixed, each as a scenario that would have caught it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::CallerBitness;
use ringtun::{Session, SessionConfig};

use super::common::{send, v2, PATIENCE};
use crate::backend::{Backend, Failure, Outcome};
use crate::packets::{ipv4, raw, seq_of, Rng};
use crate::{ensure, ensure_eq};

/// Many threads transmitting at full rate at once. Wintun read the Send ring's head outside
/// its lock, so parallel senders could reserve overlapping space and corrupt each other's
/// packets. Every packet reported Sent must arrive exactly once, bytes intact, each thread's
/// packets in its own order.
pub fn parallel_senders<B: Backend>(b: &B) -> Result<(), Failure> {
    const THREADS: u32 = 8;
    const BATCHES: u32 = 150;
    let s =
        Session::open(b.open_client(1, CallerBitness::Bits64), SessionConfig { incoming_capacity: 0x40000, ..v2() })?;
    let done = AtomicBool::new(false);
    let sent_count = AtomicU64::new(0);
    type SentAndReceived = (Vec<Vec<u32>>, Vec<Vec<u8>>);
    let result = thread::scope(|scope| -> Result<SentAndReceived, Failure> {
        let (done, sent_count) = (&done, &sent_count);
        let senders: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut rng = Rng::new(u64::from(t) + 1);
                    let mut sent = Vec::new();
                    let mut counter = 0u32;
                    for _ in 0..BATCHES {
                        let n = rng.range(1, 16) as usize;
                        let batch: Vec<Vec<u8>> = (0..n)
                            .map(|_| {
                                counter += 1;
                                let seq = (t << 24) | counter;
                                raw(rng.range(12, 1500) as usize, seq)
                            })
                            .collect();
                        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                        for (p, o) in batch.iter().zip(b.transmit(&refs)) {
                            if o == Outcome::Sent {
                                sent.push(seq_of(p).unwrap_or(0));
                            }
                        }
                    }
                    sent_count.fetch_add(sent.len() as u64, Ordering::SeqCst);
                    sent
                })
            })
            .collect();
        let receiver = scope.spawn(move || -> Result<Vec<Vec<u8>>, Failure> {
            let mut got = Vec::new();
            loop {
                match s.receive_wait(Duration::from_millis(20))? {
                    Some(p) => got.push(p.data().to_vec()),
                    None if done.load(Ordering::SeqCst) && got.len() as u64 >= sent_count.load(Ordering::SeqCst) => {
                        return Ok(got)
                    }
                    None => {}
                }
            }
        });
        let sent: Vec<Vec<u32>> = senders.into_iter().map(|h| h.join().unwrap_or_default()).collect();
        done.store(true, Ordering::SeqCst);
        let got = receiver.join().map_err(|_| Failure::new("receiver panicked"))??;
        Ok((sent, got))
    })?;
    let (sent, got) = result;
    let total_sent: usize = sent.iter().map(Vec::len).sum();
    ensure_eq!(got.len(), total_sent, "received vs sent");
    let mut per_thread: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in &got {
        let seq = seq_of(p).ok_or_else(|| Failure::new("short packet"))?;
        ensure_eq!(p, &raw(p.len(), seq), "packet {seq:#x} corrupted");
        per_thread.entry(seq >> 24).or_default().push(seq);
    }
    for (t, seqs) in sent.iter().enumerate() {
        let got = per_thread.remove(&(t as u32)).unwrap_or_default();
        ensure_eq!(&got, seqs, "thread {t}: packets lost, duplicated or reordered");
    }
    let c = b.counters();
    ensure_eq!(c.send_packets, total_sent as u64);
    ensure!(total_sent > 1000, "too few packets went through ({total_sent}) to mean anything");
    Ok(())
}

/// The stack returning packets from several threads at once. The Receive head must advance in
/// order, under the lock: every slot comes back, the head ends at the tail, the whole ring is
/// usable again, and nothing is delivered twice.
pub fn parallel_returns<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = Session::open(b.open_client(1, CallerBitness::Bits64), v2())?;
    b.set_hold(true);
    let rounds = 5;
    let per_round = 400;
    let mut seq = 0u32;
    for round in 0..rounds {
        for _ in 0..per_round {
            send(&s, &ipv4(60 + (seq as usize % 200), seq))?;
            seq += 1;
        }
        ensure!(b.wait_held(per_round, PATIENCE), "round {round}: not indicated");
        let mut held = b.take_held();
        let mut rng = Rng::new(round as u64 + 10);
        rng.shuffle(&mut held);
        let mut chunks: Vec<Vec<B::Held>> = (0..4).map(|_| Vec::new()).collect();
        for (i, h) in held.into_iter().enumerate() {
            chunks[i % 4].push(h);
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
        let ring = s.outgoing_ring();
        ensure_eq!(ring.load_head(), ring.load_tail(), "round {round}: head behind after all returns");
    }
    let delivered = b.take_delivered();
    ensure_eq!(delivered.len(), seq as usize);
    for (i, p) in delivered.iter().enumerate() {
        ensure_eq!(p, &ipv4(60 + (i % 200), i as u32), "packet {i}");
    }
    // The whole capacity is free again: exactly a ring's worth of slots can be held at once.
    let geometry = *s.outgoing_ring().geometry();
    let slot_size = geometry.slot_size(1400, ring_abi::Room::NONE).unwrap_or(u32::MAX);
    let want = ((geometry.capacity() - geometry.alignment()) / slot_size) as usize;
    let mut slots = Vec::new();
    while let Ok(slot) = s.allocate(1400, 0, 0) {
        slots.push(slot);
        ensure!(slots.len() <= want, "more slots than the ring holds");
    }
    ensure_eq!(slots.len(), want, "slots that fit after all returns");
    Ok(())
}

/// A consumer about to sleep exactly while the producer publishes. Wintun lacked a full fence
/// between storing `alertable` and re-reading `tail`: the packet then waited for the next one,
/// stalling traffic for seconds. Here thousands of single packets are published after random
/// delays around the consumer's 0.1 ms spin budget, in both directions; each must arrive
/// within 1 s.
pub fn wakeup_race<B: Backend>(b: &B) -> Result<(), Failure> {
    const ITERATIONS: u32 = 2000;
    const BOUND: Duration = Duration::from_secs(1);
    let s = Session::open(b.open_client(1, CallerBitness::Bits64), v2())?;
    let mut rng = Rng::new(0xFE9CE);
    let mut worst = Duration::ZERO;
    // Client -> driver: the driver's consumer sleeps between packets.
    for i in 0..ITERATIONS {
        spin_for(Duration::from_nanos(rng.range(0, 250_000)));
        let start = Instant::now();
        send(&s, &ipv4(60, i))?;
        ensure!(b.wait_delivered(u64::from(i) + 1, BOUND), "outgoing packet {i} not indicated within {BOUND:?}");
        worst = worst.max(start.elapsed());
    }
    ensure_eq!(b.take_delivered().len(), ITERATIONS as usize);
    // Driver -> client (v2: the client sleeps alertable on the Send ring).
    thread::scope(|scope| -> Result<(), Failure> {
        let s = &s;
        let receiver = scope.spawn(move || -> Result<Duration, Failure> {
            let mut worst = Duration::ZERO;
            for i in 0..ITERATIONS {
                let start = Instant::now();
                let p = s
                    .receive_wait(BOUND)?
                    .ok_or_else(|| Failure::new(format!("incoming packet {i} not seen within {BOUND:?}")))?;
                worst = worst.max(start.elapsed());
                ensure_eq!(seq_of(p.data()), Some(i));
            }
            Ok(worst)
        });
        for i in 0..ITERATIONS {
            spin_for(Duration::from_nanos(rng.range(0, 250_000)));
            let p = raw(64, i);
            ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent]);
        }
        let _ = receiver.join().map_err(|_| Failure::new("receiver panicked"))??;
        Ok(())
    })?;
    ensure!(worst < BOUND, "worst outgoing latency {worst:?}");
    Ok(())
}

fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Bookkeeping the platform hands the engine starts out as garbage (the host fills every
/// per-packet status with a garbage byte). Every path must write each packet's status exactly
/// once; the host backend fails the scenario if one is left unset or written twice.
pub fn garbage_bookkeeping<B: Backend>(b: &B) -> Result<(), Failure> {
    let p = raw(100, 1);
    let too_long = vec![0x45u8; 0x10000];
    // No session.
    ensure_eq!(b.transmit(&[&p, &p]), vec![Outcome::NotRunning; 2]);
    let s =
        Session::open(b.open_client(1, CallerBitness::Bits64), SessionConfig { incoming_capacity: 0x20000, ..v2() })?;
    // Sent, and invalid lengths mixed in one batch.
    ensure_eq!(
        b.transmit(&[&p, &[], &too_long, &p]),
        vec![Outcome::Sent, Outcome::Invalid, Outcome::Invalid, Outcome::Sent]
    );
    // Ring full, with an invalid packet in the same batch.
    let big = raw(60_000, 2);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes = b.transmit(&[&big, &[], &big]);
    }
    ensure_eq!(outcomes, vec![Outcome::RingFull, Outcome::Invalid, Outcome::RingFull]);
    // A corrupt client head: ring fault. The driver reads `head` again only for a batch that does
    // not fit the free space it already knows of, so the batch is one that does not.
    s.incoming_ring().store_head(3);
    ensure_eq!(b.transmit(&[&big, &[]]), vec![Outcome::RingFault, Outcome::Invalid]);
    let c = b.counters();
    ensure_eq!(c.send_dropped_not_running, 2);
    ensure_eq!(c.send_dropped_invalid, 2 + 3 + 1);
    ensure_eq!(c.send_dropped_ring_fault, 1);
    ensure!(c.send_dropped_ring_full >= 2, "ring full not counted");
    Ok(())
}
