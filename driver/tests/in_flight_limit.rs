//! The Receive ring's in-flight limit: the consumer takes up to `MAX_SLOTS_IN_FLIGHT` slots whose
//! packets the stack holds, reading a new batch only while at most `MAX_SLOTS_IN_FLIGHT -
//! RECEIVE_BATCH_SLOTS` are in flight; it carries on once the stack returns packets (the polled
//! consumer on the next round, the consumer thread when the release wakes it). Nothing is lost,
//! nothing indicated twice, every wait bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringtun_driver::engine::receive::{MAX_SLOTS_IN_FLIGHT, RECEIVE_BATCH_SLOTS};
use ringtun_driver::engine::ReceivePoll;
use ringtun_driver::host::{HostDriver, HostFile, HostIndication, ReturnMode, RingAllocation};
use ringtun_driver::platform::Event as _;
use ringtun_driver::ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ringtun_driver::ring_abi::{
    CallerBitness, PacketHeader, Ring, RingGeometry, SharedRing, IOCTL_REGISTER_RINGS, MIN_RING_CAPACITY,
};
use zerocopy::IntoBytes;

/// Slots published: more than the limit, fewer than a v1 ring of the minimum capacity holds.
const SLOTS: u16 = 4200;

fn ipv4(id: u16) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[3] = 20;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p
}

fn id_of(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[4], bytes[5]])
}

struct Client {
    driver: Arc<HostDriver>,
    file: Option<HostFile>,
    _memory: [Arc<RingAllocation>; 2],
    ring: Ring,
    event: u64,
    tail: u32,
}

/// The session ends with the test; a failed assertion leaves it open (the stack holds packets
/// that a teardown would wait for).
impl Drop for Client {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            if !std::thread::panicking() {
                self.driver.close(file);
            }
        }
    }
}

impl Client {
    fn open(driver: &Arc<HostDriver>) -> Self {
        driver.stack().set_mode(ReturnMode::Hold);
        driver.stack().set_logging(false);
        let geometry = RingGeometry::v1(MIN_RING_CAPACITY).unwrap();
        let size = geometry.ring_size();
        let memory = [0, 1].map(|_| driver.kernel().alloc_ring(size as usize).unwrap());
        let events = [0, 1].map(|_| driver.kernel().create_event(true, false).0);
        let desc = |i: usize| RingDescV1x64 {
            ring_size: size,
            pad: 0,
            ring_ptr: memory[i].as_ptr() as u64,
            tail_moved_event: events[i],
        };
        let input = RegistrationV1x64 { send: desc(0), receive: desc(1) };
        let file = driver.open(6, CallerBitness::Bits64);
        driver.ioctl(&file, IOCTL_REGISTER_RINGS, input.as_bytes(), &mut []).unwrap();
        // SAFETY: the allocation outlives the ring (both live in this value).
        let shared = unsafe { SharedRing::new(memory[1].as_ptr(), size as usize, geometry.version()) }.unwrap();
        let ring = Ring::new(shared, geometry).unwrap();
        Self { driver: Arc::clone(driver), file: Some(file), _memory: memory, ring, event: events[1], tail: 0 }
    }

    /// Publishes `SLOTS` one-packet slots at once and wakes the consumer.
    fn publish_all(&mut self) {
        let geometry = *self.ring.geometry();
        for id in 0..SLOTS {
            self.ring.write_packet_header(self.tail, PacketHeader::V1 { size: 20 }).unwrap();
            self.ring.write_data(self.tail + 4, &ipv4(id)).unwrap();
            self.tail = geometry.advance(self.tail, 24);
        }
        self.ring.publish_tail(self.tail);
        self.driver.kernel().event(self.event).unwrap().set();
    }
}

fn ids(held: &[HostIndication]) -> Vec<u16> {
    held.iter().map(|h| id_of(&h.bytes())).collect()
}

/// Returns the packets of `held` to the engine (and frees them).
fn give_back(driver: &HostDriver, held: Vec<HostIndication>) {
    driver.adapter().return_indications(held.iter().map(HostIndication::token));
}

/// The polled consumer: `MAX_SLOTS_IN_FLIGHT / RECEIVE_BATCH_SLOTS` full rounds, then `Full`
/// until the stack returns a batch's worth; then one more round.
#[test]
fn polled_consumer_stops_at_the_limit_and_carries_on() {
    let driver = HostDriver::new_polled();
    let mut c = Client::open(&driver);
    c.publish_all();
    let rounds = MAX_SLOTS_IN_FLIGHT / RECEIVE_BATCH_SLOTS;
    for round in 0..rounds {
        assert_eq!(driver.poll_receive(), ReceivePoll::Consumed, "round {round}");
    }
    assert_eq!(driver.poll_receive(), ReceivePoll::Full);
    let mut held = driver.stack().take_held();
    assert_eq!(ids(&held), (0..MAX_SLOTS_IN_FLIGHT as u16).collect::<Vec<_>>());

    // One slot back (the first, so the head moves): still above the threshold.
    let rest = held.split_off(1);
    give_back(&driver, held);
    assert_eq!(c.ring.load_head(), 24);
    assert_eq!(driver.poll_receive(), ReceivePoll::Full);
    // A batch's worth back: exactly at the threshold, one more round, then full again.
    let mut rest = rest;
    let kept = rest.split_off(RECEIVE_BATCH_SLOTS - 1);
    give_back(&driver, rest);
    assert_eq!(driver.poll_receive(), ReceivePoll::Consumed);
    assert_eq!(driver.poll_receive(), ReceivePoll::Full);
    let next = driver.stack().take_held();
    let first_new = MAX_SLOTS_IN_FLIGHT as u16;
    assert_eq!(ids(&next), (first_new..first_new + RECEIVE_BATCH_SLOTS as u16).collect::<Vec<_>>());

    give_back(&driver, kept);
    give_back(&driver, next);
    while driver.poll_receive() == ReceivePoll::Consumed {
        give_back(&driver, driver.stack().take_held());
    }
    assert_eq!(driver.stack().delivered_total(), u64::from(SLOTS));
    assert_eq!(c.ring.load_head(), c.tail);
    assert_eq!(driver.adapter().stats().receive_packets, u64::from(SLOTS));
}

/// Waits until the stack holds `n` packets, then checks that it stays at `n` (the consumer waits
/// for room instead of reading on).
fn stalls_at(driver: &HostDriver, n: usize) {
    assert!(driver.stack().wait_held(n, Duration::from_secs(10)), "only {} held", driver.stack().held_count());
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        assert_eq!(driver.stack().held_count(), n, "the consumer read past the in-flight limit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The consumer thread: it stops at the limit and waits; the release that makes room wakes it.
#[test]
fn consumer_thread_waits_at_the_limit_and_is_woken_by_returns() {
    let driver = HostDriver::new();
    let mut c = Client::open(&driver);
    c.publish_all();
    stalls_at(&driver, MAX_SLOTS_IN_FLIGHT);
    let session = driver.adapter().session().unwrap();
    assert_eq!(session.indications_in_flight(), MAX_SLOTS_IN_FLIGHT as u64);
    let mut held = driver.stack().take_held();
    assert_eq!(ids(&held), (0..MAX_SLOTS_IN_FLIGHT as u16).collect::<Vec<_>>());

    // A batch's worth back: the consumer wakes and takes exactly one more batch.
    let kept = held.split_off(RECEIVE_BATCH_SLOTS);
    give_back(&driver, held);
    stalls_at(&driver, RECEIVE_BATCH_SLOTS);
    let next = driver.stack().take_held();
    let first_new = MAX_SLOTS_IN_FLIGHT as u16;
    assert_eq!(ids(&next), (first_new..first_new + RECEIVE_BATCH_SLOTS as u16).collect::<Vec<_>>());

    assert_eq!(session.indications_in_flight(), MAX_SLOTS_IN_FLIGHT as u64);
    // Everything back: the rest is consumed.
    give_back(&driver, kept);
    give_back(&driver, next);
    let remaining = usize::from(SLOTS) - MAX_SLOTS_IN_FLIGHT - RECEIVE_BATCH_SLOTS;
    assert!(driver.stack().wait_held(remaining, Duration::from_secs(10)));
    give_back(&driver, driver.stack().take_held());
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.ring.load_head() != c.tail {
        assert!(Instant::now() < deadline, "head {:#x}, tail {:#x}", c.ring.load_head(), c.tail);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(driver.stack().delivered_total(), u64::from(SLOTS));
    assert_eq!(session.indications_in_flight(), 0);
}
