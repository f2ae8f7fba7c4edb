//! `receive_lost_wakeups` counts only wake-ups that were lost: a timed re-check that finds a
//! packet whose client signalled it (the signal arriving after the timeout, before the re-check)
//! is a re-check, not a lost wake-up; a packet published without a signal is one.
//!
//! Deterministic: the host platform runs the client's action exactly in the window between the
//! consumer's timed wait timing out and its re-check of `tail`
//! ([`HostDriver::on_next_wait_timeout`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringtun_driver::engine::StatsSnapshot;
use ringtun_driver::host::{HostDriver, HostEvent, HostFile, RingAllocation};
use ringtun_driver::platform::Event as _;
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{CallerBitness, Ring, RingGeometry, Room, SharedRing, IOCTL_REGISTER_RINGS};
use zerocopy::IntoBytes;

const PATIENCE: Duration = Duration::from_secs(10);

fn ipv4(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// A v2 session whose Receive ring the test writes as the client.
struct Client {
    driver: Arc<HostDriver>,
    receive: Arc<RingAllocation>,
    _send: Arc<RingAllocation>,
    /// The registering handle, open for the test's length (closing it would end the session).
    _file: HostFile,
    geometry: RingGeometry,
    receive_event: HostEvent,
    tail: u32,
}

impl Client {
    fn register() -> Self {
        let driver = HostDriver::new();
        let geometry = RingGeometry::v2(0x20000, Room::new(0, 0)).unwrap();
        let send = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
        let receive = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
        let (send_handle, _) = driver.kernel().create_event(true, false);
        // Auto-reset, as Wintun's client creates it: the consumer's wait consumes a signal.
        let (receive_handle, receive_event) = driver.kernel().create_event(true, false);
        let desc = |memory: &RingAllocation, event| RingDescV2 {
            ring_size: geometry.ring_size(),
            headroom: 0,
            tailroom: 0,
            ring_ptr: memory.as_ptr() as u64,
            tail_moved_event: event,
        };
        let registration = RegistrationV2 {
            version: 2,
            flags: 0,
            send: desc(&send, send_handle),
            receive: desc(&receive, receive_handle),
        };
        let file = driver.open(7, CallerBitness::Bits64);
        driver.ioctl(&file, IOCTL_REGISTER_RINGS, registration.as_bytes(), &mut []).unwrap();
        Self { driver, receive, _send: send, _file: file, geometry, receive_event, tail: 0 }
    }

    fn ring(&self) -> Ring {
        // SAFETY: the allocation outlives every `Ring` made here (the test holds it).
        let shared = unsafe { SharedRing::new(self.receive.as_ptr(), self.receive.len(), self.geometry.version()) };
        Ring::new(shared.unwrap(), self.geometry).unwrap()
    }

    fn stats(&self) -> StatsSnapshot {
        self.driver.adapter().stats()
    }

    /// Waits until the consumer sleeps on an idle ring with `alertable` set, `sleeps` times in all.
    fn wait_asleep(&self, sleeps: u64) {
        let start = Instant::now();
        while !(self.stats().receive_sleeps >= sleeps && self.ring().load_alertable()) {
            assert!(start.elapsed() < PATIENCE, "the consumer never went to sleep");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// What the client's publish does, to be run in the consumer's timeout window: one packet
    /// written at `tail` and `tail` stored; then, if `signal`, the event set (a client that saw
    /// `alertable`).
    fn publish_action(&mut self, packet: &[u8], signal: bool) -> impl FnOnce() + Send + 'static {
        let ring = self.ring();
        let at = self.tail;
        let slot = (8 + packet.len() as u32 + 7) & !7;
        self.tail = self.geometry.advance(at, slot);
        let next_tail = self.tail;
        let packet = packet.to_vec();
        let event = self.receive_event.clone();
        let memory = Arc::clone(&self.receive);
        move || {
            let _keep = memory;
            let mut header = [0u8; 8];
            header[..4].copy_from_slice(&slot.to_le_bytes());
            header[4..6].copy_from_slice(&8u16.to_le_bytes());
            header[6..8].copy_from_slice(&(packet.len() as u16).to_le_bytes());
            ring.write_data(at, &header).unwrap();
            ring.write_data(at.wrapping_add(8), &packet).unwrap();
            ring.store_tail(next_tail);
            if signal {
                event.set();
            }
        }
    }

    fn wait_delivered(&self, packets: u64) {
        let start = Instant::now();
        while self.stats().receive_packets < packets {
            assert!(start.elapsed() < PATIENCE, "packet never consumed");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn delivered(client: &Client) -> Vec<Vec<u8>> {
    client.driver.stack().take_delivered().into_iter().map(|d| d.bytes).collect()
}

#[test]
fn a_signal_that_races_the_recheck_is_not_a_lost_wakeup() {
    let mut client = Client::register();
    client.wait_asleep(1);
    let before = client.stats();
    let action = client.publish_action(&ipv4(60, 1), true);
    client.driver.on_next_wait_timeout(action);
    client.wait_delivered(before.receive_packets + 1);
    let after = client.stats();
    assert!(after.receive_rechecks > before.receive_rechecks, "the packet was found by a re-check");
    assert_eq!(
        after.receive_lost_wakeups, before.receive_lost_wakeups,
        "a signalled packet found by the timed re-check counted as a lost wake-up"
    );
    // The signal was consumed with the packet: the next sleep does not wake for it.
    client.wait_asleep(before.receive_sleeps + 1);
    assert!(!client.receive_event.is_set(), "the raced signal was left set");
    assert_eq!(delivered(&client), vec![ipv4(60, 1)]);
}

#[test]
fn an_unsignalled_packet_found_by_the_recheck_is_a_lost_wakeup() {
    let mut client = Client::register();
    client.wait_asleep(1);
    let before = client.stats();
    let action = client.publish_action(&ipv4(80, 2), false);
    client.driver.on_next_wait_timeout(action);
    client.wait_delivered(before.receive_packets + 1);
    let after = client.stats();
    assert_eq!(after.receive_lost_wakeups, before.receive_lost_wakeups + 1, "the lost wake-up was not counted");
    assert_eq!(delivered(&client), vec![ipv4(80, 2)]);
}
