//! The consumer thread on an idle Receive ring: it declares itself alertable and sleeps once,
//! re-checking `tail` on a timer inside that one sleep (no wake-up is counted as lost while the
//! ring stays idle); a signalled packet wakes it, and an unsignalled one is found by a re-check
//! and counted as a lost wake-up. The re-check schedule of a sleep, as the host logs it: doubling
//! to the long interval while the client signals, to the short one for good after a lost
//! wake-up. Every wait bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringtun_driver::engine::StatsSnapshot;
use ringtun_driver::host::{HostDriver, HostFile, RingAllocation};
use ringtun_driver::platform::Event as _;
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, PacketHeader, Ring, RingGeometry, Room, SharedRing, CONSUMER_RECHECK_MAX_NS,
    CONSUMER_RECHECK_MIN_NS, CONSUMER_RECHECK_SIGNALLED_MAX_NS, IOCTL_REGISTER_RINGS, MIN_RING_CAPACITY, RING_STOPPED,
};
use zerocopy::IntoBytes;

struct Client {
    driver: Arc<HostDriver>,
    file: Option<HostFile>,
    _memory: [Arc<RingAllocation>; 2],
    ring: Ring,
    event: u64,
    tail: u32,
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            self.driver.close(file);
        }
    }
}

impl Client {
    fn open(driver: &Arc<HostDriver>) -> Self {
        let geometry = RingGeometry::v2(MIN_RING_CAPACITY, Room::NONE).unwrap();
        let size = geometry.ring_size();
        let memory = [0, 1].map(|_| driver.kernel().alloc_ring(size as usize).unwrap());
        let events = [0, 1].map(|_| driver.kernel().create_event(true, false).0);
        let desc = |i: usize| RingDescV2 {
            ring_size: size,
            headroom: 0,
            tailroom: 0,
            ring_ptr: memory[i].as_ptr() as u64,
            tail_moved_event: events[i],
        };
        let input = RegistrationV2 { version: 2, flags: 0, send: desc(0), receive: desc(1) };
        let file = driver.open(8, CallerBitness::Bits64);
        driver.ioctl(&file, IOCTL_REGISTER_RINGS, input.as_bytes(), &mut []).unwrap();
        // SAFETY: the allocation outlives the ring (both live in this value).
        let shared = unsafe { SharedRing::new(memory[1].as_ptr(), size as usize, geometry.version()) }.unwrap();
        let ring = Ring::new(shared, geometry).unwrap();
        Self { driver: Arc::clone(driver), file: Some(file), _memory: memory, ring, event: events[1], tail: 0 }
    }

    /// Publishes one IPv4 packet; signals the consumer if it asked for it and `signal` is set.
    fn publish(&mut self, id: u8, signal: bool) {
        let mut packet = vec![id; 40];
        packet[0] = 0x45;
        packet[2..4].copy_from_slice(&40u16.to_be_bytes());
        self.ring
            .write_packet_header(self.tail, PacketHeader::V2 { slot_size: 48, data_offset: 8, data_length: 40 })
            .unwrap();
        self.ring.write_data(self.tail + 8, &packet).unwrap();
        self.tail = self.ring.geometry().advance(self.tail, 48);
        if self.ring.publish_tail(self.tail) && signal {
            self.driver.kernel().event(self.event).unwrap().set();
        }
    }
}

fn stats(driver: &HostDriver) -> StatsSnapshot {
    driver.adapter().stats()
}

/// Waits (bounded) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until the consumer is asleep again (alertable, one more sleep counted than `sleeps`).
fn asleep(c: &Client, sleeps: u64) {
    eventually("the consumer sleeps", || stats(&c.driver).receive_sleeps > sleeps && c.ring.load_alertable());
}

#[test]
fn idle_consumer_sleeps_once_and_wakes_for_packets() {
    let driver = HostDriver::new();
    let mut c = Client::open(&driver);

    // Idle: one sleep, alertable, re-checked on a timer, no wake-up counted as lost.
    asleep(&c, 0);
    let before = stats(&driver);
    eventually("a few timed re-checks", || stats(&driver).receive_rechecks >= before.receive_rechecks + 5);
    let idle = stats(&driver);
    assert_eq!(idle.receive_sleeps, 1, "the idle consumer slept again and again");
    assert_eq!(idle.receive_lost_wakeups, 0, "a re-check of an idle ring counted as a lost wake-up");
    assert!(c.ring.load_alertable());
    assert_eq!(idle.receive_packets, 0);

    // A packet, signalled as the protocol asks: consumed, no lost wake-up, asleep again.
    c.publish(1, true);
    eventually("the signalled packet is consumed", || c.ring.load_head() == c.tail);
    asleep(&c, 1);
    let after = stats(&driver);
    assert_eq!(after.receive_packets, 1);

    // A packet without the signal: found by a re-check, counted as a lost wake-up.
    c.publish(2, false);
    eventually("the unsignalled packet is consumed", || c.ring.load_head() == c.tail);
    let end = stats(&driver);
    assert_eq!((end.receive_packets, end.receive_lost_wakeups), (2, after.receive_lost_wakeups + 1));
    assert_ne!(c.ring.load_head(), RING_STOPPED);
    assert_eq!(driver.stack().take_delivered().len(), 2);
}

/// The re-check intervals of the first sleep that starts at or after the `from`-th logged timed
/// wait, once `count` of them have been logged (waited for, bounded). A sleep starts with the
/// shortest interval; the sleep that was under way at `from` logs only longer ones.
fn sleep_schedule(driver: &HostDriver, from: usize, count: usize) -> Vec<u64> {
    let found = |log: &[u64]| {
        let start = from + log.get(from..)?.iter().position(|&t| t == CONSUMER_RECHECK_MIN_NS)?;
        log.get(start..start + count).map(<[u64]>::to_vec)
    };
    eventually("a sleep's timed re-checks", || found(&driver.timed_out_waits()).is_some());
    found(&driver.timed_out_waits()).unwrap()
}

/// The re-check intervals of one idle sleep, in nanoseconds: doubling from the first to `max`.
fn schedule(count: usize, max: u64) -> Vec<u64> {
    std::iter::successors(Some(CONSUMER_RECHECK_MIN_NS), |t| Some((t * 2).min(max))).take(count).collect()
}

#[test]
fn recheck_interval_grows_long_until_a_wakeup_is_lost_then_stays_short() {
    let driver = HostDriver::new();
    let mut c = Client::open(&driver);
    let ms = |ns: &[u64]| ns.iter().map(|t| t / 1_000_000).collect::<Vec<_>>();

    // A client that has lost no wake-up: 1, 2, 4 ... up to the long interval, in one sleep.
    asleep(&c, 0);
    let idle = sleep_schedule(&driver, 0, 9);
    assert_eq!(ms(&idle), [1, 2, 4, 8, 16, 32, 64, 64, 64], "a signalling client's idle sleep");
    assert_eq!(idle, schedule(9, CONSUMER_RECHECK_SIGNALLED_MAX_NS));
    assert_eq!(stats(&driver).receive_sleeps, 1);
    assert_eq!(stats(&driver).receive_lost_wakeups, 0);

    // A signalled packet changes nothing: the next sleep grows long again.
    let from = driver.timed_out_waits().len();
    c.publish(1, true);
    eventually("the signalled packet is consumed", || c.ring.load_head() == c.tail);
    assert_eq!(sleep_schedule(&driver, from, 8), schedule(8, CONSUMER_RECHECK_SIGNALLED_MAX_NS));

    // A lost wake-up (a packet published without the signal): found by a re-check, and from then
    // on the session's sleeps re-check at the short interval, signalled packets or not.
    let from = driver.timed_out_waits().len();
    c.publish(2, false);
    eventually("the unsignalled packet is consumed", || c.ring.load_head() == c.tail);
    assert_eq!(stats(&driver).receive_lost_wakeups, 1);
    assert_eq!(ms(&sleep_schedule(&driver, from, 6)), [1, 2, 4, 4, 4, 4], "after a lost wake-up");
    let from = driver.timed_out_waits().len();
    c.publish(3, true);
    eventually("the signalled packet is consumed", || c.ring.load_head() == c.tail);
    assert_eq!(sleep_schedule(&driver, from, 6), schedule(6, CONSUMER_RECHECK_MAX_NS), "the session stays short");
    assert_eq!(stats(&driver).receive_lost_wakeups, 1);
    assert_eq!(driver.stack().take_delivered().len(), 3);
}
