//! ringtun benchmarks on the host platform: the real engine (Send path, Receive path, consumer
//! thread) and the real client library, with std threads in place of the kernel's. Every
//! comparison is measured in the same run, the two sides interleaved, and printed as a ratio.
//!
//! ```text
//! ringtun-bench [--quick]
//! ```
//!
//! - (a) network → client encapsulation: v2 writes the header and trailer into the packet's
//!   room in the ring; a v1 client must memcpy the packet into a separate buffer to add them;
//! - (b) throughput of each direction against packet size;
//! - (c) batch sizes on the Send path;
//! - (d) memory: ring sizes and the engine's fixed per-session allocations;
//! - (e) wake-up latency after idle gaps (a missed wake-up shows as a tail).
//!
//! Nothing here asserts a speed; `docs/performance.md` explains the numbers and the targets.

mod alloc_count;

use std::hint::black_box;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::{v1_ring_size, v2_ring_size, Room};
use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::{Error, IncomingPacket, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::{receive, send, SlotWriter, TransmitBatch, TransmitStatus};
use ringtun_driver::host::HostIndication;

#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::Counting;

/// Ring capacity of every session here (8 MiB, a common VPN choice).
const CAPACITY: u32 = 0x80_0000;
/// The encapsulation every client here does: a 16-byte header and a 16-byte trailer.
const HEADER: usize = 16;
const TRAILER: usize = 16;
const SIZES: [usize; 5] = [64, 576, 1500, 9000, 65535];

struct Budget {
    /// Time per size for each comparison in (a), split between its paths.
    encapsulation: Duration,
    /// Length of one throughput measurement window in (b) and (c).
    window: Duration,
    /// Windows per throughput figure (the median is reported).
    windows: usize,
    /// Packets per direction in (e).
    latency_samples: usize,
}

const FULL: Budget = Budget {
    encapsulation: Duration::from_millis(1200),
    window: Duration::from_millis(500),
    windows: 3,
    latency_samples: 3000,
};
const QUICK: Budget = Budget {
    encapsulation: Duration::from_millis(240),
    window: Duration::from_millis(200),
    windows: 1,
    latency_samples: 500,
};

fn main() {
    let quick = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--quick") => true,
        Some(_) => {
            eprintln!("usage: ringtun-bench [--quick]");
            std::process::exit(2);
        }
    };
    let budget = if quick { QUICK } else { FULL };
    let started = Instant::now();
    println!(
        "ringtun-bench ({}): the engine and client library on the host platform, {} CPUs, rings of {} MiB",
        if quick { "quick" } else { "full" },
        thread::available_parallelism().map_or(1, |n| n.get()),
        CAPACITY >> 20
    );
    println!("host-platform numbers: relative costs on this machine, not Windows kernel numbers");

    encapsulation_section(&budget);
    throughput_section(&budget);
    batching_section(&budget);
    memory_section();
    latency_section(&budget);
    println!("\ndone in {:.1} s", started.elapsed().as_secs_f64());
}

// ----- common ----------------------------------------------------------------------------------

/// An IPv4 packet of `len` bytes (20..=0xFFFF).
fn ipv4(len: usize, seq: u32) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i as u32).wrapping_mul(131).wrapping_add(seq) as u8).collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

fn open(driver: &Arc<HostDriver>, v1: bool, incoming: Room, outgoing: Room) -> Session<HostBackend> {
    let config = SessionConfig {
        version: if v1 { VersionPreference::V1Only } else { VersionPreference::PreferV2 },
        incoming_capacity: CAPACITY,
        outgoing_capacity: CAPACITY,
        incoming_room: incoming,
        outgoing_room: outgoing,
        receive_split: false,
    };
    match Session::open(HostBackend::open_default(driver), config) {
        Ok(s) => s,
        Err(e) => panic!("cannot open a session: {e}"),
    }
}

/// Packets per Send-path batch for `size`-byte packets: 32, fewer if 32 would not fit a quarter
/// of the ring.
fn batch_for(size: usize) -> usize {
    (CAPACITY as usize / 4 / (size + 64)).clamp(1, 32)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn mpps(packets: u64, time: Duration) -> f64 {
    packets as f64 / time.as_secs_f64().max(1e-12) / 1e6
}

fn gbits(mpps: f64, size: usize) -> f64 {
    mpps * 1e6 * size as f64 * 8.0 / 1e9
}

/// A small deterministic generator (xorshift64*) for idle gaps.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A transmit batch without per-call allocations (unlike the host's test batch, which tracks
/// every status write), so the time measured around a transmit is the engine's.
struct Batch<'a> {
    packets: &'a [&'a [u8]],
    sent: usize,
}

impl TransmitBatch for Batch<'_> {
    fn packet_count(&self) -> usize {
        self.packets.len()
    }

    fn packet_len(&self, index: usize) -> usize {
        self.packets.get(index).map_or(0, |p| p.len())
    }

    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool {
        self.packets.get(index).is_some_and(|p| slot.write(0, p))
    }

    fn set_status(&mut self, _index: usize, status: TransmitStatus) {
        if status == TransmitStatus::Sent {
            self.sent += 1;
        }
    }
}

/// The stack sends `packets` out of the adapter as one batch; returns how many were published
/// (all or none: a batch the Send ring has no room for is refused whole).
fn transmit(driver: &HostDriver, packets: &[&[u8]]) -> usize {
    let mut batch = Batch { packets, sent: 0 };
    driver.adapter().transmit(&mut batch);
    batch.sent
}

// ----- (a) encapsulation -----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encap {
    /// v2: header and trailer written into the packet's head and tail room.
    InPlace,
    /// v2 session, but the client copies anyway: isolates the memcpy.
    CopyOnV2,
    /// v1 session: no room, the client must copy.
    CopyOnV1,
    /// v2 with a cipher-like pass over the packet, in place.
    CipherInPlace,
    /// v1 with the cipher-like pass writing into the separate buffer (the copy fused into it).
    CipherFusedV1,
    /// v1, copy into the buffer, then the cipher-like pass over it.
    CipherAfterCopyV1,
}

/// The "cipher": XOR with a 64-byte keystream. Far cheaper per byte than a real AEAD, so every
/// ratio with it is an upper bound of what copying costs next to real encryption.
const KEY: [u8; 64] = {
    let mut k = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        k[i] = (i as u8).wrapping_mul(37).wrapping_add(11);
        i += 1;
    }
    k
};

fn xor_in_place(data: &mut [u8]) {
    for chunk in data.chunks_mut(64) {
        for (b, k) in chunk.iter_mut().zip(KEY.iter()) {
            *b ^= k;
        }
    }
}

fn xor_into(src: &[u8], dst: &mut Vec<u8>) {
    for chunk in src.chunks(64) {
        dst.extend(chunk.iter().zip(KEY.iter()).map(|(b, k)| b ^ k));
    }
}

/// One session and its client doing one kind of encapsulation, in lockstep with the stack:
/// the stack sends a batch (the engine copies it into the Send ring), then the client turns every
/// packet into `[header | packet | trailer]` and releases it. Both phases are timed.
struct EncapPath {
    driver: Arc<HostDriver>,
    session: Session<HostBackend>,
    mode: Encap,
    buffer: Vec<u8>,
    packets: u64,
    engine: Duration,
    client: Duration,
}

impl EncapPath {
    fn new(mode: Encap) -> Self {
        let driver = HostDriver::new();
        let v1 = matches!(mode, Encap::CopyOnV1 | Encap::CipherFusedV1 | Encap::CipherAfterCopyV1);
        let session = open(&driver, v1, Room::new(HEADER as u16, TRAILER as u16), Room::NONE);
        Self {
            driver,
            session,
            mode,
            buffer: Vec::with_capacity(HEADER + 0xFFFF + TRAILER),
            packets: 0,
            engine: Duration::ZERO,
            client: Duration::ZERO,
        }
    }
}

/// Turns one received packet into `[header | packet | trailer]` the way `mode` does, then
/// releases it.
fn encapsulate(buffer: &mut Vec<u8>, mode: Encap, mut p: IncomingPacket<'_, HostBackend>) {
    let len = p.len();
    match mode {
        Encap::InPlace | Encap::CipherInPlace => {
            if mode == Encap::CipherInPlace {
                xor_in_place(p.data_mut());
            }
            p.headroom_mut().fill(0xE5);
            p.tailroom_mut()[..TRAILER].fill(0x1C);
            let frame = p.frame_mut();
            black_box(&frame[..HEADER + len + TRAILER]);
        }
        Encap::CopyOnV2 | Encap::CopyOnV1 | Encap::CipherAfterCopyV1 => {
            buffer.clear();
            buffer.extend_from_slice(&[0xE5; HEADER]);
            buffer.extend_from_slice(p.data());
            if mode == Encap::CipherAfterCopyV1 {
                xor_in_place(&mut buffer[HEADER..]);
            }
            buffer.extend_from_slice(&[0x1C; TRAILER]);
            black_box(buffer.as_slice());
        }
        Encap::CipherFusedV1 => {
            buffer.clear();
            buffer.extend_from_slice(&[0xE5; HEADER]);
            xor_into(p.data(), buffer);
            buffer.extend_from_slice(&[0x1C; TRAILER]);
            black_box(buffer.as_slice());
        }
    }
    p.release();
}

impl EncapPath {
    /// Runs batches of `packet` for about `time`.
    fn run(&mut self, packet: &[u8], time: Duration) {
        let batch = batch_for(packet.len());
        let refs: Vec<&[u8]> = vec![packet; batch];
        let end = Instant::now() + time;
        while Instant::now() < end {
            for _ in 0..8 {
                let t0 = Instant::now();
                let sent = transmit(&self.driver, &refs);
                let t1 = Instant::now();
                assert_eq!(sent, batch, "lockstep: the Send ring has room for every batch");
                let mut n = 0;
                loop {
                    let p = match self.session.receive() {
                        Ok(Some(p)) => p,
                        Ok(None) => break,
                        Err(e) => panic!("receive: {e}"),
                    };
                    encapsulate(&mut self.buffer, self.mode, p);
                    n += 1;
                }
                let t2 = Instant::now();
                assert_eq!(n, batch, "lockstep: every packet of the batch arrives");
                self.engine += t1 - t0;
                self.client += t2 - t1;
                self.packets += batch as u64;
            }
        }
    }

    fn whole(&self) -> f64 {
        mpps(self.packets, self.engine + self.client)
    }

    fn client_only(&self) -> f64 {
        mpps(self.packets, self.client)
    }
}

/// Runs `modes` interleaved for `total` (each gets an equal share, in slices) on `packet`.
fn interleave(modes: &[Encap], packet: &[u8], total: Duration) -> Vec<EncapPath> {
    let mut paths: Vec<EncapPath> = modes.iter().map(|&m| EncapPath::new(m)).collect();
    // Warm-up: first touch of each ring's pages.
    for p in &mut paths {
        p.run(packet, Duration::from_millis(20));
        p.packets = 0;
        p.engine = Duration::ZERO;
        p.client = Duration::ZERO;
    }
    let slices = 6;
    let slice = total / (slices * paths.len() as u32);
    for _ in 0..slices {
        for p in &mut paths {
            p.run(packet, slice);
        }
    }
    paths
}

fn encapsulation_section(budget: &Budget) {
    println!("\n(a) network->client encapsulation through the engine, in lockstep: the stack sends a batch,");
    println!(
        "    the engine copies it into the Send ring, the client adds a {HEADER} B header and {TRAILER} B trailer"
    );
    println!("    to every packet and releases it. Mpps; 'v2/v1' = v2 in place over v1 + copy.");
    println!("    {:>6} | {:<37} | {:<37}", "", "whole path (engine + client)", "client part only (receive..release)");
    println!(
        "    {:>6} | {:>9} {:>8} {:>8} {:>8} | {:>9} {:>8} {:>8} {:>8}",
        "size", "v2 place", "v2+copy", "v1+copy", "v2/v1", "v2 place", "v2+copy", "v1+copy", "v2/v1"
    );
    for size in SIZES {
        let packet = ipv4(size, 1);
        let paths = interleave(&[Encap::InPlace, Encap::CopyOnV2, Encap::CopyOnV1], &packet, budget.encapsulation);
        let (w, c): (Vec<f64>, Vec<f64>) = paths.iter().map(|p| (p.whole(), p.client_only())).unzip();
        println!(
            "    {size:>6} | {:>9.3} {:>8.3} {:>8.3} {:>7.2}x | {:>9.3} {:>8.3} {:>8.3} {:>7.2}x",
            w[0],
            w[1],
            w[2],
            w[0] / w[2],
            c[0],
            c[1],
            c[2],
            c[0] / c[2]
        );
    }
    let size = 1500;
    let packet = ipv4(size, 2);
    let paths = interleave(
        &[Encap::CipherInPlace, Encap::CipherFusedV1, Encap::CipherAfterCopyV1],
        &packet,
        budget.encapsulation,
    );
    println!("    with a cipher-like pass over each {size} B packet (XOR keystream, far cheaper than a real AEAD):");
    println!(
        "      v2 in place {:.3} Mpps; v1 encrypting into its buffer (copy fused) {:.3} ({:.2}x); v1 copy then encrypt {:.3} ({:.2}x)",
        paths[0].whole(),
        paths[1].whole(),
        paths[0].whole() / paths[1].whole(),
        paths[2].whole(),
        paths[0].whole() / paths[2].whole()
    );
}

// ----- (b) and (c) streaming throughput --------------------------------------------------------

/// network → client, streaming: a stack thread sends batches of `batch` packets of `size` bytes
/// (a batch the full ring refuses is dropped, as NDIS would), a client thread receives and
/// releases.
/// Returns the median over `windows` windows, in Mpps.
fn stream_down(size: usize, batch: usize, budget: &Budget) -> f64 {
    let driver = HostDriver::new();
    let session = open(&driver, false, Room::new(HEADER as u16, TRAILER as u16), Room::NONE);
    let packet = ipv4(size, 3);
    let stop = AtomicBool::new(false);
    let received = AtomicU64::new(0);
    thread::scope(|scope| {
        scope.spawn(|| {
            let refs: Vec<&[u8]> = vec![packet.as_slice(); batch];
            while !stop.load(Relaxed) {
                if transmit(&driver, &refs) == 0 {
                    // The ring is full: the client is behind. (Two threads on two CPUs: a yield
                    // is enough; a sleep would measure the timer, not the engine.)
                    thread::yield_now();
                }
            }
        });
        scope.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                if let Ok(Some(p)) = session.receive_wait(Duration::from_millis(10)) {
                    p.release();
                    n += 1;
                    received.store(n, Relaxed);
                }
            }
        });
        let rate = windows(budget, || received.load(Relaxed));
        stop.store(true, Relaxed);
        rate
    })
}

/// client → network, streaming: a client thread allocates, fills (a stand-in for decrypting)
/// and sends `size`-byte packets; the engine's consumer thread validates and indicates them to
/// the stack, which returns them at once. Returns the median Mpps.
fn stream_up(size: usize, budget: &Budget) -> f64 {
    let driver = HostDriver::new();
    driver.stack().set_logging(false);
    let session = open(&driver, false, Room::NONE, Room::new(1, TRAILER as u16));
    let packet = ipv4(size, 4);
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Relaxed) {
                match session.allocate(size, 0, 0) {
                    Ok(mut slot) => {
                        slot.data_mut().copy_from_slice(&packet);
                        if let Err(e) = session.send(slot) {
                            panic!("send: {e}");
                        }
                    }
                    Err(Error::RingFull) => thread::yield_now(),
                    Err(e) => panic!("allocate: {e}"),
                }
            }
        });
        let rate = windows(budget, || driver.adapter().stats().receive_packets);
        stop.store(true, Relaxed);
        rate
    })
}

/// Warms up, then measures `budget.windows` windows of a packet counter; median Mpps.
fn windows(budget: &Budget, counter: impl Fn() -> u64) -> f64 {
    thread::sleep(Duration::from_millis(50));
    let mut rates = Vec::with_capacity(budget.windows);
    for _ in 0..budget.windows {
        let (t0, c0) = (Instant::now(), counter());
        thread::sleep(budget.window);
        let (t1, c1) = (Instant::now(), counter());
        rates.push(mpps(c1 - c0, t1 - t0));
    }
    median(rates)
}

fn throughput_section(budget: &Budget) {
    println!("\n(b) throughput per direction and packet size (v2, one direction at a time, two busy threads)");
    println!("    network->client: stack thread -> engine Send path (copies) -> client receives and releases");
    println!("    client->network: client allocates, fills and sends -> engine consumer indicates in place -> stack");
    println!("    {:>6} | {:>8} {:>8} | {:>8} {:>8}", "size", "net->cl", "", "cl->net", "");
    println!("    {:>6} | {:>8} {:>8} | {:>8} {:>8}", "", "Mpps", "Gbit/s", "Mpps", "Gbit/s");
    for size in SIZES {
        let down = stream_down(size, batch_for(size), budget);
        let up = stream_up(size, budget);
        println!("    {size:>6} | {down:>8.3} {:>8.2} | {up:>8.3} {:>8.2}", gbits(down, size), gbits(up, size));
    }
}

/// The engine's Send path alone: time spent in `transmit` per packet, batches of `batch`, with
/// the client draining (untimed) between batches.
fn send_path_ns(size: usize, batch: usize, time: Duration) -> f64 {
    let driver = HostDriver::new();
    let session = open(&driver, false, Room::new(HEADER as u16, TRAILER as u16), Room::NONE);
    let packet = ipv4(size, 5);
    let refs: Vec<&[u8]> = vec![packet.as_slice(); batch];
    let mut spent = Duration::ZERO;
    let mut packets = 0u64;
    let end = Instant::now() + time;
    let mut warm = true;
    while Instant::now() < end {
        // Batches enough to fill about 1/8 of the ring, then drain.
        let rounds = (CAPACITY as usize / 8 / ((size + 64) * batch)).max(1);
        let t0 = Instant::now();
        for _ in 0..rounds {
            assert_eq!(transmit(&driver, &refs), batch, "the Send ring has room for 1/8 of it");
        }
        let t1 = Instant::now();
        while let Ok(Some(p)) = session.receive() {
            p.release();
        }
        if warm {
            warm = false;
            continue;
        }
        spent += t1 - t0;
        packets += (rounds * batch) as u64;
    }
    spent.as_nanos() as f64 / packets.max(1) as f64
}

fn batching_section(budget: &Budget) {
    println!("\n(c) Send-path batch size (packets per transmit call, v2)");
    println!(
        "    engine ns/packet: time inside the engine's Send path per packet (lockstep, the client drains untimed)"
    );
    println!("    streaming Mpps:   as in (b), network->client");
    println!("    {:>6} {:>6} | {:>16} | {:>14}", "size", "batch", "engine ns/packet", "streaming Mpps");
    for size in [64, 1500] {
        let mut base = None;
        for batch in [1, 8, 64] {
            let ns = send_path_ns(size, batch, budget.window);
            let pps = stream_down(size, batch, budget);
            let base_pps = *base.get_or_insert(pps);
            println!("    {size:>6} {batch:>6} | {ns:>16.1} | {pps:>8.3} ({:.2}x)", pps / base_pps);
        }
    }
}

// ----- (d) memory ------------------------------------------------------------------------------

/// Mirrors of the engine's private per-session records (same fields, same order), for their size.
#[allow(dead_code)]
mod mirror {
    /// `send::PendingReservation`: one batch between reserve and publish.
    pub struct PendingReservation {
        pub id: u64,
        pub next_tail: u32,
        pub filled: bool,
    }
    /// `receive::SlotRecord`: one consumed Receive-ring slot awaiting its returns.
    pub struct SlotRecord {
        pub next_head: u32,
        pub pending: u32,
    }
}

fn memory_section() {
    println!("\n(d) memory");
    println!("    ring sizes in bytes (v2 adds a 128-byte header; room only enlarges the trailing area):");
    println!("    {:>9} | {:>10} | {:>10} {:>10} {:>12}", "capacity", "v1", "v2 0/0", "v2 16/16", "v2 4096/4096");
    for capacity in [0x2_0000u32, 0x10_0000, 0x80_0000, 0x400_0000] {
        let v1 = v1_ring_size(capacity);
        let row = [v2_ring_size(capacity, 0, 0), v2_ring_size(capacity, 16, 16), v2_ring_size(capacity, 4096, 4096)];
        println!(
            "    {:>6} KiB | {v1:>10} | {:>10} {:>10} {:>12}   (v2 - v1: +{} / +{} / +{})",
            capacity >> 10,
            row[0],
            row[1],
            row[2],
            row[0] - v1,
            row[1] - v1,
            row[2] - v1
        );
    }
    let reservations = send::MAX_RESERVATIONS_IN_FLIGHT * size_of::<mirror::PendingReservation>();
    let records = receive::MAX_SLOTS_IN_FLIGHT * size_of::<mirror::SlotRecord>();
    let host_batch = receive::RECEIVE_BATCH_PACKETS * size_of::<HostIndication>();
    let kernel_batch = receive::RECEIVE_BATCH_PACKETS * size_of::<usize>();
    let round = receive::RECEIVE_BATCH_SLOTS * size_of::<mirror::SlotRecord>();
    println!("    engine, fixed per session (preallocated at registration; nothing is allocated per packet):");
    println!(
        "      Send:    {:>5} reservations in flight x {:>2} B = {:>6} B",
        send::MAX_RESERVATIONS_IN_FLIGHT,
        size_of::<mirror::PendingReservation>(),
        reservations
    );
    println!(
        "      Receive: {:>5} slot records in flight x {:>2} B = {:>6} B",
        receive::MAX_SLOTS_IN_FLIGHT,
        size_of::<mirror::SlotRecord>(),
        records
    );
    println!(
        "      Receive: {:>5} indications per round  x {:>2} B = {:>6} B on the host ({} B of NBL pointers in the kernel)",
        receive::RECEIVE_BATCH_PACKETS,
        size_of::<HostIndication>(),
        host_batch,
        kernel_batch
    );
    println!(
        "      total {} B on the host, {} B in the kernel (+ the NBLs and MDLs the shell preallocates), plus {} B of",
        reservations + records + host_batch,
        reservations + records + kernel_batch,
        round
    );
    println!(
        "      consumer stack per round ({} slots x {} B)",
        receive::RECEIVE_BATCH_SLOTS,
        size_of::<mirror::SlotRecord>()
    );

    // Measured: heap growth while a session is open (rings, engine, client, host bookkeeping).
    let driver = HostDriver::new();
    alloc_count::start();
    let before = alloc_count::live();
    let session = open(&driver, false, Room::new(16, 16), Room::new(1, 16));
    let open_bytes = alloc_count::live() - before;
    alloc_count::stop();
    let rings = i64::from(v2_ring_size(CAPACITY, 16, 16)) + i64::from(v2_ring_size(CAPACITY, 1, 16));
    println!(
        "    measured: opening a v2 session (two {} MiB rings) grew the heap by {} B: the rings {} B,",
        CAPACITY >> 20,
        open_bytes,
        rings
    );
    println!("      everything else (engine, client library, host platform) {} B", open_bytes - rings);
    drop(session);
}

// ----- (e) latency -----------------------------------------------------------------------------

/// A latency a missed wake-up would produce: the waiter sleeps until a timeout.
const STALL: Duration = Duration::from_secs(1);

struct Latencies(Vec<Duration>);

impl Latencies {
    fn at(&self, q: f64) -> Duration {
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0.get(i).copied().unwrap_or_default()
    }

    fn line(mut self) -> String {
        self.0.sort();
        let n = self.0.len();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let over = |limit: Duration| self.0.iter().filter(|d| **d >= limit).count();
        format!(
            "{n} packets: p50 {:>5.1} us  p90 {:>5.1} us  p99 {:>6.1} us  max {:>7.1} us  >1 ms: {}  stalls (>=1 s): {}",
            us(self.at(0.5)),
            us(self.at(0.9)),
            us(self.at(0.99)),
            us(self.at(1.0)),
            over(Duration::from_millis(1)),
            over(STALL)
        )
    }
}

/// An idle gap before the next packet: none (the consumer is busy or spinning), a short spin,
/// or a sleep long enough that the consumer has declared itself alertable and sleeps.
fn gap(rng: &mut Rng) {
    match rng.next() % 4 {
        0 => {}
        1 => {
            let until = Instant::now() + Duration::from_micros(rng.next() % 80);
            while Instant::now() < until {
                thread::yield_now();
            }
        }
        _ => thread::sleep(Duration::from_micros(120 + rng.next() % 400)),
    }
}

/// network -> client: the stack sends one packet stamped with its send time; the client, blocked
/// in `receive_wait`, computes the latency and tells the stack to go on. One packet in flight.
fn latency_down(samples: usize) -> (Latencies, u64) {
    let driver = HostDriver::new();
    let session = open(&driver, false, Room::new(HEADER as u16, TRAILER as u16), Room::NONE);
    let epoch = Instant::now();
    let (next_tx, next_rx) = std::sync::mpsc::channel::<()>();
    let mut out = Vec::new();
    thread::scope(|scope| {
        let client = scope.spawn(move || {
            let mut lat = Vec::with_capacity(samples);
            while lat.len() < samples {
                // A missed wake-up shows as a wait that ends only at this timeout.
                match session.receive_wait(2 * STALL) {
                    Ok(Some(p)) => {
                        let now = epoch.elapsed();
                        let stamp = p.data().get(20..28).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
                        lat.push(now.saturating_sub(Duration::from_nanos(stamp)));
                        p.release();
                        if next_tx.send(()).is_err() {
                            break;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => panic!("receive: {e}"),
                }
            }
            lat
        });
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut packet = ipv4(64, 6);
        for _ in 0..samples {
            gap(&mut rng);
            let stamp = epoch.elapsed().as_nanos() as u64;
            packet[20..28].copy_from_slice(&stamp.to_le_bytes());
            assert_eq!(transmit(&driver, &[packet.as_slice()]), 1, "the Send ring takes a single packet");
            if next_rx.recv_timeout(4 * STALL).is_err() {
                break;
            }
        }
        out = client.join().unwrap_or_default();
    });
    (Latencies(out), driver.adapter().stats().send_signals)
}

/// client -> network: the client sends one packet; the stack, blocked until a packet is
/// indicated, takes the time. One packet in flight.
fn latency_up(samples: usize) -> (Latencies, u64) {
    let driver = HostDriver::new();
    driver.stack().set_logging(false);
    let session = open(&driver, false, Room::NONE, Room::new(1, TRAILER as u16));
    let packet = ipv4(64, 7);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut lat = Vec::with_capacity(samples);
    for i in 1..=samples as u64 {
        gap(&mut rng);
        let t0 = Instant::now();
        let mut slot = match session.allocate(packet.len(), 0, 0) {
            Ok(s) => s,
            Err(e) => panic!("allocate: {e}"),
        };
        slot.data_mut().copy_from_slice(&packet);
        if let Err(e) = session.send(slot) {
            panic!("send: {e}");
        }
        // A missed wake-up leaves the consumer asleep until the next packet arrives: record the
        // stall and stop (the counts would no longer line up).
        if !driver.stack().wait_delivered(i, STALL) {
            lat.push(STALL);
            break;
        }
        lat.push(t0.elapsed());
    }
    (Latencies(lat), driver.adapter().stats().receive_sleeps)
}

fn latency_section(budget: &Budget) {
    let n = budget.latency_samples;
    println!("\n(e) latency of single packets after random idle gaps (none, < 80 us, or 0.12-0.52 ms: around");
    println!("    the consumers' spin budgets, so they are caught spinning and asleep); one packet in flight");
    let (down, signals) = latency_down(n);
    println!("    network->client {}", down.line());
    println!("      the driver signalled the client {signals} times (v2: only when it had declared itself alertable)");
    let (up, sleeps) = latency_up(n);
    println!("    client->network {}", up.line());
    println!("      the engine's consumer went to sleep {sleeps} times");
}
