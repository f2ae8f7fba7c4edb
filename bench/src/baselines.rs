//! The limits every figure is compared with, measured in the same run:
//!
//! - **memcpy**: one thread copying the same packet bytes into a buffer of the ring's capacity at
//!   advancing offsets (the one copy the driver must make is the floor of its cost);
//! - **bare ring**: the minimal single-producer/single-consumer copy ring between two threads —
//!   the same packets, batch size and capacity, a 4-byte length per packet, one release store of
//!   `tail` per batch and of `head` per drained run, a length check per packet, and the same
//!   back-off as the engine benchmark's threads (yield when full or empty);
//! - **futex ping-pong**: two threads, one wakes the other through a raw futex after the same
//!   idle gaps as the latency test; the waiter blocks without spinning.

use std::cell::UnsafeCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::{gap, Rng};

/// Bytes per packet header in the bare ring.
const LEN_BYTES: usize = 4;

fn slot_bytes(size: usize) -> usize {
    (size + LEN_BYTES + 7) & !7
}

/// memcpy of `packet` into a `capacity`-byte buffer at advancing offsets for about `time`;
/// returns GB/s of packet bytes, in wall time (`cpu`: in this thread's CPU time).
pub fn memcpy_gbps(packet: &[u8], capacity: usize, time: Duration, cpu: bool) -> f64 {
    let mut dst = vec![0u8; capacity + 0x1_0000];
    // First touch outside the measurement.
    dst.iter_mut().step_by(4096).for_each(|b| *b = 1);
    let step = slot_bytes(packet.len());
    let mask = capacity - 1;
    let mut offset = 0usize;
    let mut bytes = 0u64;
    let start = Instant::now();
    let cpu_start = crate::cpu_now();
    let mut elapsed;
    loop {
        for _ in 0..64 {
            let at = offset & mask;
            dst[at..at + packet.len()].copy_from_slice(packet);
            offset = offset.wrapping_add(step);
        }
        black_box(&mut dst);
        bytes += 64 * packet.len() as u64;
        elapsed = start.elapsed();
        if elapsed >= time {
            break;
        }
    }
    if cpu {
        elapsed = crate::cpu_now() - cpu_start;
    }
    bytes as f64 / elapsed.as_secs_f64() / 1e9
}

#[repr(align(128))]
struct Padded(AtomicU64);

/// The bare SPSC ring: free-running byte positions, a power-of-two capacity and a trailing area
/// so a packet never wraps (as in the real rings).
struct BareRing {
    data: Box<[UnsafeCell<u8>]>,
    mask: usize,
    capacity: usize,
    head: Padded,
    tail: Padded,
}

// SAFETY: the producer writes only bytes between `tail` and `head + capacity`, the consumer reads
// only bytes between `head` and `tail`; the release/acquire pairs on `tail` and `head` order them.
unsafe impl Sync for BareRing {}

impl BareRing {
    fn new(capacity: usize) -> Self {
        let data: Box<[UnsafeCell<u8>]> = (0..capacity + 0x1_0000 + 8).map(|_| UnsafeCell::new(0)).collect();
        Self { data, mask: capacity - 1, capacity, head: Padded(AtomicU64::new(0)), tail: Padded(AtomicU64::new(0)) }
    }

    fn base(&self) -> *mut u8 {
        UnsafeCell::raw_get(self.data.as_ptr())
    }
}

/// Moves `packet` through a bare ring, `batch` packets per publish, producer and consumer on two
/// threads, for `windows` windows; returns the median Mpps.
pub fn bare_ring_mpps(
    packet: &[u8],
    batch: usize,
    capacity: usize,
    measure: impl FnOnce(&dyn Fn() -> u64) -> f64,
) -> f64 {
    let ring = BareRing::new(capacity);
    let stop = AtomicBool::new(false);
    let received = AtomicU64::new(0);
    let slot = slot_bytes(packet.len());
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut tail = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let head = ring.head.0.load(Ordering::Acquire);
                if ring.capacity as u64 - (tail - head) < (batch * slot) as u64 {
                    thread::yield_now();
                    continue;
                }
                for _ in 0..batch {
                    let at = tail as usize & ring.mask;
                    // SAFETY: `at + slot <= capacity + 0x10000 + 8`, inside `data`; these bytes are
                    // the producer's until `tail` is published below.
                    unsafe {
                        let p = ring.base().add(at);
                        p.cast::<u32>().write_unaligned(packet.len() as u32);
                        std::ptr::copy_nonoverlapping(packet.as_ptr(), p.add(LEN_BYTES), packet.len());
                    }
                    tail += slot as u64;
                }
                ring.tail.0.store(tail, Ordering::Release);
            }
        });
        scope.spawn(|| {
            let mut head = 0u64;
            let mut count = 0u64;
            let mut idle = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let tail = ring.tail.0.load(Ordering::Acquire);
                if tail == head {
                    idle += 1;
                    if idle > 64 {
                        thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                    continue;
                }
                idle = 0;
                while head != tail {
                    let at = head as usize & ring.mask;
                    // SAFETY: `at + 4` lies inside `data`; published by the acquire load of `tail`.
                    let len = unsafe { ring.base().add(at).cast::<u32>().read_unaligned() } as usize;
                    // The consumer's validation: a length the ring cannot hold ends the run.
                    if len == 0 || len > 0xFFFF {
                        break;
                    }
                    head += slot_bytes(len) as u64;
                    count += 1;
                }
                ring.head.0.store(head, Ordering::Release);
                received.store(count, Ordering::Relaxed);
            }
        });
        let rate = measure(&|| received.load(Ordering::Relaxed));
        stop.store(true, Ordering::Relaxed);
        rate
    })
}

fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: FUTEX_WAIT on a live, aligned u32 with no timeout; the kernel only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live, aligned u32; wakes at most one waiter.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
    }
}

/// `samples` futex wake-ups after the latency test's idle gaps (drawn from `rng`): the waker
/// stamps the time, bumps a word and wakes the waiter, which blocks in FUTEX_WAIT without
/// spinning and takes the time when it runs. Returns the latencies.
pub fn futex_pingpong(samples: usize, rng: &mut Rng) -> Vec<Duration> {
    let word = AtomicU32::new(0);
    let ack = AtomicU32::new(0);
    let stamp = AtomicU64::new(0);
    let epoch = Instant::now();
    thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let mut out = Vec::with_capacity(samples);
            let mut seen = 0u32;
            while out.len() < samples {
                let mut now = word.load(Ordering::Acquire);
                while now == seen {
                    futex_wait(&word, seen);
                    now = word.load(Ordering::Acquire);
                }
                let at = epoch.elapsed();
                out.push(at.saturating_sub(Duration::from_nanos(stamp.load(Ordering::Relaxed))));
                seen = now;
                ack.store(seen, Ordering::Release);
                futex_wake(&ack);
            }
            out
        });
        for i in 1..=samples as u32 {
            gap(rng);
            stamp.store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
            word.store(i, Ordering::Release);
            futex_wake(&word);
            let mut a = ack.load(Ordering::Acquire);
            while a != i {
                futex_wait(&ack, a);
                a = ack.load(Ordering::Acquire);
            }
        }
        waiter.join().unwrap_or_default()
    })
}
