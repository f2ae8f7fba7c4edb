//! The consumer thread's waits and the waits on it:
//!
//! - a pause that must wait for the consumer's round raises the consumer first
//!   ([`Worker::expedite`]), and returns it to its own priority ([`Worker::relax`]) as soon as
//!   that round is over, before it waits for the stack to return packets: in the kernel the
//!   consumer runs at priority 1, and a pause waiting on it would otherwise last as long as the
//!   processor is loaded, while a consumer left raised would keep a real-time priority it no
//!   longer needs;
//! - a client whose Receive event is manual-reset (a notification event) does not make the
//!   consumer spin: a wake by the event clears it, so the next sleep sleeps.
//!
//! Deterministic: the consumer is held inside its round by a stack side that blocks in the
//! indication until the test lets it go, and the idle consumer is observed through its counters.
//!
//! [`Worker::expedite`]: ringtun_driver::platform::Worker::expedite
//! [`Worker::relax`]: ringtun_driver::platform::Worker::relax

// Test code on the host: the process heap, not the kernel pool, so the crate's allocation
// rules (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ringtun_driver::engine::StatsSnapshot;
use ringtun_driver::host::{
    HostDriver, HostEvent, HostFile, HostIndication, PriorityChange, RingAllocation, StackSide,
};
use ringtun_driver::platform::Event as _;
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{CallerBitness, Ring, RingGeometry, Room, SharedRing, IOCTL_REGISTER_RINGS};
use zerocopy::IntoBytes;

/// How long a test waits for something that must happen before it declares it did not.
const PATIENCE: Duration = Duration::from_secs(10);

fn ipv4(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// Polls `done` until it holds; panics with `what` after [`PATIENCE`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "{what}");
        std::thread::sleep(Duration::from_millis(1));
    }
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
    /// Registers on `driver`; the Receive event is auto-reset (as Wintun's client creates it) or
    /// manual-reset.
    fn register(driver: Arc<HostDriver>, receive_auto_reset: bool) -> Self {
        let geometry = RingGeometry::v2(0x20000, Room::new(0, 0)).unwrap();
        let send = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
        let receive = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
        let (send_handle, _) = driver.kernel().create_event(true, false);
        let (receive_handle, receive_event) = driver.kernel().create_event(receive_auto_reset, false);
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
        wait_until("the consumer never went to sleep", || {
            self.stats().receive_sleeps >= sleeps && self.ring().load_alertable()
        });
    }

    /// Publishes one packet as a fenced client does: slot written, `tail` stored, then the event
    /// set if the consumer is alertable.
    fn publish(&mut self, packet: &[u8]) {
        let ring = self.ring();
        let at = self.tail;
        let slot = (8 + packet.len() as u32 + 7) & !7;
        let mut header = [0u8; 8];
        header[..4].copy_from_slice(&slot.to_le_bytes());
        header[4..6].copy_from_slice(&8u16.to_le_bytes());
        header[6..8].copy_from_slice(&(packet.len() as u16).to_le_bytes());
        ring.write_data(at, &header).unwrap();
        ring.write_data(at.wrapping_add(8), packet).unwrap();
        self.tail = self.geometry.advance(at, slot);
        ring.store_tail(self.tail);
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        if ring.load_alertable() {
            self.receive_event.set();
        }
    }
}

/// A stack side that keeps the indicating thread inside the indication until the test opens the
/// gate, then returns every packet at once, or, while `keep` is set, keeps them (the test returns
/// them later, as a stack that holds packets does).
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    open: bool,
    keep: bool,
    /// Indications entered (the consumer is inside its round from the first one on).
    entered: u64,
    delivered: Vec<Vec<u8>>,
    /// Tokens of the packets kept while `keep` was set.
    kept: Vec<u64>,
}

impl Gate {
    fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    fn keep(&self, keep: bool) {
        self.state.lock().unwrap().keep = keep;
    }

    fn take_kept(&self) -> Vec<u64> {
        std::mem::take(&mut self.state.lock().unwrap().kept)
    }

    fn entered(&self) -> u64 {
        self.state.lock().unwrap().entered
    }
}

impl StackSide for Gate {
    fn accept(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64> {
        let mut state = self.state.lock().unwrap();
        state.entered += 1;
        let mut tokens = Vec::new();
        for indication in batch {
            state.delivered.push(indication.bytes());
            tokens.push(indication.token());
        }
        self.changed.notify_all();
        while !state.open {
            state = self.changed.wait(state).unwrap();
        }
        if state.keep {
            state.kept.append(&mut tokens);
        }
        tokens
    }

    fn link_changed(&self, _up: bool) {}
}

#[test]
fn a_pause_raises_the_consumer_for_its_round_and_relaxes_it_as_soon_as_the_round_is_over() {
    let gate = Arc::new(Gate::default());
    let driver = HostDriver::with_stack_side(Arc::clone(&gate) as Arc<dyn StackSide>);
    let mut client = Client::register(Arc::clone(&driver), true);
    client.wait_asleep(1);
    assert_eq!(driver.worker_priority_changes(), vec![], "a running consumer keeps its own priority");

    // The consumer enters a round and stays inside the indication: preempted mid-round. The stack
    // keeps the packet, so the pause has the returns still to wait for once the round is over.
    gate.keep(true);
    client.publish(&ipv4(60, 1));
    wait_until("the consumer never indicated", || gate.entered() == 1);

    let (raised, finished_early, relaxed_before_returns) = std::thread::scope(|scope| {
        let adapter = driver.adapter();
        let pauser = scope.spawn(move || adapter.pause());
        // The pause cannot get past the round, which ends only when the consumer runs again: the
        // consumer must already have been raised.
        let start = Instant::now();
        let raised = loop {
            if driver.worker_priority_changes() == vec![PriorityChange::Expedited] {
                break true;
            }
            if start.elapsed() > PATIENCE {
                break false;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let finished_early = pauser.is_finished();
        // The round ends (the packet stays with the stack): the consumer must be back at its own
        // priority while the pause still waits for the packet.
        gate.open();
        let start = Instant::now();
        let relaxed = loop {
            if driver.worker_priority_changes().len() == 2 || start.elapsed() > PATIENCE {
                break driver.worker_priority_changes() == vec![PriorityChange::Expedited, PriorityChange::Relaxed];
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let relaxed_before_returns = relaxed && !pauser.is_finished();
        // Return the packet in every case, so that the pause returns.
        wait_until("the packet was not kept by the stack", || !gate.state.lock().unwrap().kept.is_empty());
        driver.adapter().return_indications(gate.take_kept());
        pauser.join().unwrap();
        (raised, finished_early, relaxed_before_returns)
    });
    assert!(raised, "the pause did not raise the consumer it waits for: {:?}", driver.worker_priority_changes());
    assert!(!finished_early, "the pause returned while the consumer was still inside its round");
    assert!(
        relaxed_before_returns,
        "the consumer was not returned to its own priority once its round was over (while the pause waits for \
         the stack): {:?}",
        driver.worker_priority_changes()
    );
    assert_eq!(gate.state.lock().unwrap().delivered, vec![ipv4(60, 1)]);
    assert_eq!(client.stats().receive_packets, 1);

    // The restart changes nothing more: the consumer is at its own priority already.
    gate.keep(false);
    driver.adapter().restart();
    assert_eq!(driver.worker_priority_changes(), vec![PriorityChange::Expedited, PriorityChange::Relaxed]);
    // Still consuming after the restart.
    client.publish(&ipv4(70, 2));
    wait_until("no packet consumed after the restart", || client.stats().receive_packets == 2);
    assert_eq!(driver.worker_priority_changes(), vec![PriorityChange::Expedited, PriorityChange::Relaxed]);
}

#[test]
fn a_manual_reset_receive_event_does_not_make_the_consumer_spin() {
    let mut client = Client::register(HostDriver::new(), false);
    client.wait_asleep(1);
    let before = client.stats();
    client.publish(&ipv4(60, 3));
    wait_until("the packet was not consumed", || client.stats().receive_packets == before.receive_packets + 1);
    client.wait_asleep(before.receive_sleeps + 1);
    // A manual-reset event stays set until someone clears it: a consumer that woke for it and left
    // it set would find it set at every later sleep and never sleep again.
    assert!(!client.receive_event.is_set(), "the client's manual-reset event was left set by the wake-up");
    let asleep = client.stats();
    std::thread::sleep(Duration::from_millis(20));
    let idle = client.stats();
    assert_eq!(
        idle.receive_sleeps,
        asleep.receive_sleeps,
        "the idle consumer went to sleep again {} times in 20 ms: each sleep returned at once",
        idle.receive_sleeps - asleep.receive_sleeps
    );
    assert_eq!(idle.receive_packets, before.receive_packets + 1);
    let delivered: Vec<Vec<u8>> = client.driver.stack().take_delivered().into_iter().map(|d| d.bytes).collect();
    assert_eq!(delivered, vec![ipv4(60, 3)]);
}
