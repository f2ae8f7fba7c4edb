//! ringtun benchmarks on the host platform. Every comparison is measured in the same run and
//! printed as a ratio, so the numbers mean something on any machine.
//!
//! ```text
//! ringtun-bench [--quick]
//! ```
//!
//! 1. Client encapsulation: v2 in place (write header and trailer into the packet's room) vs
//!    v1 (assemble header, packet and trailer in a separate buffer) — the memcpy v2 removes.
//! 2. Client decapsulation: v2 decrypt straight into the slot vs v1 decrypt into a buffer and
//!    copy into the slot.
//! 3. End-to-end throughput through the engine per packet size, each direction.
//! 4. Send-path batch sizes.
//! 5. Memory: ring sizes and the engine's fixed per-session allocations.

use std::hint::black_box;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::{v1_ring_size, v2_ring_size, Room};
use ringtun::backend::host::HostBackend;
use ringtun::{Error, Session, SessionConfig, VersionPreference};
use ringtun_driver::host::HostDriver;

const HEADER: usize = 16;
const TRAILER: usize = 16;

fn ipv4(len: usize, seq: u32) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i as u32 ^ seq) as u8).collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

fn config(v1: bool, room: Room, capacity: u32) -> SessionConfig {
    SessionConfig {
        version: if v1 { VersionPreference::V1Only } else { VersionPreference::PreferV2 },
        incoming_capacity: capacity,
        outgoing_capacity: capacity,
        incoming_room: room,
        ..SessionConfig::default()
    }
}

/// A session whose Send ring is refilled by the stack before each timed round.
struct Encapsulator {
    driver: std::sync::Arc<HostDriver>,
    session: Session<HostBackend>,
    packet: Vec<u8>,
    per_round: usize,
    buffer: Vec<u8>,
}

impl Encapsulator {
    fn new(v1: bool, size: usize) -> Self {
        let driver = HostDriver::new();
        let room = Room::new(HEADER as u16, TRAILER as u16);
        let session = Session::open(HostBackend::open_default(&driver), config(v1, room, 0x40_0000)).expect("session");
        let per_round = ((0x40_0000 / (size + 64)) * 3 / 4).clamp(1, 20_000);
        Self { driver, session, packet: ipv4(size, 1), per_round, buffer: Vec::with_capacity(size + 64) }
    }

    /// Refills the ring, then times the client turning every packet into a
    /// `[header | packet | trailer]` span. Returns (packets, time).
    fn round(&mut self, in_place: bool) -> (usize, Duration) {
        // Batches small enough to fit the ring whole (a batch that does not fit is dropped).
        let batch = self.per_round.min(64);
        let refs: Vec<&[u8]> = (0..batch).map(|_| self.packet.as_slice()).collect();
        for _ in 0..self.per_round.div_ceil(batch) {
            self.driver.transmit(&refs).expect("statuses");
        }
        let start = Instant::now();
        let mut count = 0;
        while let Ok(Some(mut p)) = self.session.receive() {
            if in_place {
                p.headroom_mut().fill(0xE5);
                p.tailroom_mut()[..TRAILER].fill(0x1C);
                black_box(p.frame_mut().as_ptr());
            } else {
                self.buffer.clear();
                self.buffer.extend_from_slice(&[0xE5; HEADER]);
                self.buffer.extend_from_slice(p.data());
                self.buffer.extend_from_slice(&[0x1C; TRAILER]);
                black_box(self.buffer.as_ptr());
            }
            count += 1;
        }
        (count, start.elapsed())
    }
}

/// Client-side encapsulation, v2 in place vs v1 copy, rounds interleaved so drift cancels.
/// Returns (v2 packets/s, v1 packets/s).
fn encapsulation(size: usize, rounds: usize) -> (f64, f64) {
    let mut v2 = Encapsulator::new(false, size);
    let mut v1 = Encapsulator::new(true, size);
    let (mut n2, mut t2, mut n1, mut t1) = (0, Duration::ZERO, 0, Duration::ZERO);
    // One warm-up round each (first touch of the ring pages).
    v2.round(true);
    v1.round(false);
    for _ in 0..rounds {
        let (n, t) = v2.round(true);
        n2 += n;
        t2 += t;
        let (n, t) = v1.round(false);
        n1 += n;
        t1 += t;
    }
    (n2 as f64 / t2.as_secs_f64(), n1 as f64 / t1.as_secs_f64())
}

/// Client-side cost of placing decrypted records into outgoing slots. Returns packets/s.
fn decapsulation(v1: bool, size: usize, n: usize) -> f64 {
    let driver = HostDriver::new();
    driver.stack().set_logging(false);
    let cfg = SessionConfig {
        outgoing_room: if v1 { Room::NONE } else { Room::new(1, TRAILER as u16) },
        ..config(v1, Room::NONE, 0x40_0000)
    };
    let session = Session::open(HostBackend::open_default(&driver), cfg).expect("session");
    let record: Vec<u8> = [vec![0x17], ipv4(size, 2), vec![0x7A; TRAILER]].concat();
    let mut buffer = vec![0u8; record.len()];
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let result = if v1 {
            // Decrypt into a buffer, then copy the packet into the slot.
            buffer.copy_from_slice(&record);
            session.allocate(size, 0, 0).and_then(|mut slot| {
                slot.data_mut().copy_from_slice(&buffer[1..1 + size]);
                session.send(slot)
            })
        } else {
            // Decrypt straight into the slot (type byte in the head room, tag in the tail room),
            // then point the data at the packet.
            session.allocate(size, 1, TRAILER as u16).and_then(|mut slot| {
                slot.frame_mut()[..record.len()].copy_from_slice(&record);
                slot.set_data(1..1 + size)?;
                session.send(slot)
            })
        };
        match result {
            Ok(()) => sent += 1,
            Err(Error::RingFull) => thread::yield_now(),
            Err(e) => panic!("send: {e}"),
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// End-to-end through the engine for `duration`: (network→client pps, client→network pps).
fn end_to_end(size: usize, batch: usize, duration: Duration) -> (f64, f64) {
    let driver = HostDriver::new();
    driver.stack().set_logging(false);
    let session = Session::open(HostBackend::open_default(&driver), config(false, Room::new(16, 16), 0x40_0000))
        .expect("session");
    let stop = AtomicBool::new(false);
    let received = AtomicU64::new(0);
    let packet = ipv4(size, 3);
    thread::scope(|scope| {
        scope.spawn(|| {
            let refs: Vec<&[u8]> = (0..batch).map(|_| packet.as_slice()).collect();
            while !stop.load(Ordering::Relaxed) {
                let _ = driver.transmit(&refs);
            }
        });
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(Some(p)) = session.receive_wait(Duration::from_millis(10)) {
                    black_box(p.len());
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                match session.allocate(size, 0, 0) {
                    Ok(mut slot) => {
                        slot.data_mut().copy_from_slice(&packet);
                        let _ = session.send(slot);
                    }
                    Err(_) => thread::yield_now(),
                }
            }
        });
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    let secs = duration.as_secs_f64();
    (received.load(Ordering::Relaxed) as f64 / secs, driver.adapter().stats().receive_packets as f64 / secs)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 6 } else { 30 };
    let window = Duration::from_millis(if quick { 300 } else { 1000 });
    println!(
        "ringtun-bench ({}; host platform, {} cores)",
        if quick { "quick" } else { "full" },
        thread::available_parallelism().map_or(1, |n| n.get())
    );

    println!("\n1. client encapsulation, packets/s (v2 in place vs v1 copy into a buffer)");
    println!("   {:>6}  {:>12}  {:>12}  {:>6}", "size", "v2 in place", "v1 copy", "ratio");
    for size in [64, 576, 1400, 9000, 65535] {
        let (v2, v1) = encapsulation(size, rounds);
        println!("   {size:>6}  {v2:>12.0}  {v1:>12.0}  {:>5.2}x", v2 / v1);
    }

    println!("\n2. client decapsulation into outgoing slots, packets/s (v2 decrypt in place vs v1 decrypt + copy)");
    println!("   {:>6}  {:>12}  {:>12}  {:>6}", "size", "v2 in place", "v1 copy", "ratio");
    for size in [64, 576, 1400, 9000, 65535] {
        let n = if quick { 20_000 } else { 100_000 }.min(400_000_000 / size);
        let v2 = decapsulation(false, size, n);
        let v1 = decapsulation(true, size, n);
        println!("   {size:>6}  {v2:>12.0}  {v1:>12.0}  {:>5.2}x", v2 / v1);
    }

    println!("\n3. end to end through the engine (v2, batches of 32), per direction");
    println!(
        "   {:>6}  {:>14}  {:>10}  {:>14}  {:>10}",
        "size", "net→client pps", "Gbit/s", "client→net pps", "Gbit/s"
    );
    for size in [64, 576, 1500, 9000, 65535] {
        let (down, up) = end_to_end(size, 32, window);
        let gbit = |pps: f64| pps * size as f64 * 8.0 / 1e9;
        println!("   {size:>6}  {down:>14.0}  {:>10.2}  {up:>14.0}  {:>10.2}", gbit(down), gbit(up));
    }

    println!("\n4. Send-path batch size (1400-byte packets), network→client packets/s");
    let (base, _) = end_to_end(1400, 1, window);
    for batch in [1, 8, 64] {
        let (pps, _) = if batch == 1 { (base, 0.0) } else { end_to_end(1400, batch, window) };
        println!("   batch {batch:>3}: {pps:>12.0}  ({:.2}x batch 1)", pps / base);
    }

    println!("\n5. memory");
    for capacity in [0x20000u32, 0x40_0000, 0x400_0000] {
        println!(
            "   capacity {capacity:>#10x}: v1 ring {:>10} B, v2 ring (room 0/0) {:>10} B, v2 ring (room 4096/4096) {:>10} B",
            v1_ring_size(capacity),
            v2_ring_size(capacity, 0, 0),
            v2_ring_size(capacity, 4096, 4096)
        );
    }
    use ringtun_driver::engine::{receive, send};
    let reservations = send::MAX_RESERVATIONS_IN_FLIGHT * (2 * size_of::<u64>());
    let records = receive::MAX_SLOTS_IN_FLIGHT * (2 * size_of::<u32>());
    println!(
        "   engine per session: {} reservation records ({} B) + {} slot records ({} B) + {} indication slots",
        send::MAX_RESERVATIONS_IN_FLIGHT,
        reservations,
        receive::MAX_SLOTS_IN_FLIGHT,
        records,
        receive::RECEIVE_BATCH_PACKETS
    );
}
