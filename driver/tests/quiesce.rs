//! What the engine must have finished when a pause or a teardown returns, observed through the
//! host platform's real mappings (each ring's pages are mapped a second time for the engine and
//! unmapped when the engine releases them, as the kernel unlocks and unmaps them):
//! - a teardown (close, process exit) unmaps and unlocks both rings before it returns, also while
//!   someone still holds a reference to the session (a returning packet, a concurrent sender):
//!   a process must never exit with its ring pages still locked;
//! - a pause does not return while the consumer is inside a round (between its pause check and
//!   the end of its indications), even when every packet indicated so far is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Duration;

use ringtun_driver::engine::ReceivePoll;
use ringtun_driver::host::{HostDriver, HostFile, HostIndication, ReturnMode, RingAllocation, StackSide};
use ringtun_driver::platform::Event as _;
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, PacketHeader, Ring, RingGeometry, Room, SharedRing, IOCTL_REGISTER_RINGS, MIN_RING_CAPACITY,
    RING_STOPPED,
};
use zerocopy::IntoBytes;

fn ipv4(len: usize, id: u16) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p
}

/// Whether the page holding `address` is mapped in this process (`mincore` fails with ENOMEM on
/// an unmapped range; it never faults).
fn is_mapped(address: *const u8) -> bool {
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let start = (address as usize & !(page - 1)) as *mut libc::c_void;
    let mut resident = [0u8; 1];
    // SAFETY: a one-page query with a one-byte result vector; `mincore` only reports.
    unsafe { libc::mincore(start, page, resident.as_mut_ptr()) == 0 }
}

/// A v2 session registered from process 9, with the client's view of its Receive ring.
struct Client {
    driver: Arc<HostDriver>,
    file: Option<HostFile>,
    memory: [Arc<RingAllocation>; 2],
    receive: Ring,
    send: Ring,
    receive_event: u64,
}

/// The session ends with the test. A failed assertion leaves it open: the stack may still hold
/// packets (or the consumer be stopped inside a round), and a teardown would wait for them
/// instead of letting the test report its failure.
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
        let file = driver.open(9, CallerBitness::Bits64);
        driver.ioctl(&file, IOCTL_REGISTER_RINGS, input.as_bytes(), &mut []).unwrap();
        let ring = |i: usize| {
            // SAFETY: the allocation outlives the ring (both live in this value).
            let shared = unsafe { SharedRing::new(memory[i].as_ptr(), size as usize, geometry.version()) }.unwrap();
            Ring::new(shared, geometry).unwrap()
        };
        let (send, receive) = (ring(0), ring(1));
        Self { driver: Arc::clone(driver), file: Some(file), memory, receive, send, receive_event: events[1] }
    }

    /// Publishes one IPv4 packet at the start of the empty Receive ring and wakes the consumer.
    fn send_one(&self, id: u16) -> u32 {
        let packet = ipv4(100, id);
        let geometry = *self.receive.geometry();
        let slot = geometry.slot_size(100, Room::NONE).unwrap();
        self.receive
            .write_packet_header(0, PacketHeader::V2 { slot_size: slot, data_offset: 8, data_length: 100 })
            .unwrap();
        self.receive.write_data(8, &packet).unwrap();
        self.receive.publish_tail(slot);
        // Signalled whether or not the consumer is alertable: an extra signal costs one wake-up.
        self.driver.kernel().event(self.receive_event).unwrap().set();
        slot
    }
}

/// Close and process exit, each with a reference to the session held across the teardown (as a
/// returning packet or a sender holds one for a moment): both rings are unmapped by the time the
/// teardown returns, the engine's view of the Receive ring is gone from the address space, and
/// the client's own view still reads the stop markers.
#[test]
fn teardown_unmaps_both_rings_while_the_session_is_still_referenced() {
    for by_process_exit in [false, true] {
        let driver = HostDriver::new_polled();
        driver.stack().set_mode(ReturnMode::Hold);
        let mut client = Client::open(&driver);
        assert_eq!(driver.resources().mappings, 2);

        // One packet through the Receive ring: the indication points into the engine's view.
        client.send_one(1);
        assert_eq!(driver.poll_receive(), ReceivePoll::Consumed);
        let held: Vec<HostIndication> = driver.stack().take_held();
        assert_eq!(held.len(), 1);
        let engine_view = held[0].as_ptr().wrapping_sub(held[0].ring_offset());
        assert_ne!(engine_view, client.memory[1].as_ptr().cast_const(), "the engine reads the client's own view");
        assert!(is_mapped(engine_view));
        assert_eq!(held[0].bytes(), ipv4(100, 1));
        driver.adapter().return_indications(held.iter().map(HostIndication::token));
        drop(held);
        // And one through the Send ring.
        assert_eq!(driver.transmit(&[&ipv4(60, 2)]).unwrap().len(), 1);

        let session = driver.adapter().session().expect("registered");
        if by_process_exit {
            driver.process_exited(9);
            client.file = None;
        } else {
            driver.close(client.file.take().unwrap());
        }
        let left = driver.resources();
        assert_eq!(left.mappings, 0, "ring pages still locked after the teardown returned ({left:?})");
        assert!(!is_mapped(engine_view), "the engine's view of the Receive ring is still mapped");
        assert_eq!(left.unmapped_in_use, 0);
        assert_eq!(client.receive.load_head(), RING_STOPPED);
        assert_eq!(client.send.load_tail(), RING_STOPPED);
        assert!(!session.is_running());
        drop(session);
    }
}

/// A stack side that returns every packet during the indication and then keeps the indicating
/// thread (the consumer, inside its round) until the test lets it go.
#[derive(Default)]
struct StallingStack {
    driver: OnceLock<Weak<HostDriver>>,
    /// (inside the indication, let go)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
    indicated: AtomicBool,
}

impl StallingStack {
    fn wait_inside(&self, timeout: Duration) -> bool {
        let state = self.state.lock().unwrap();
        let (state, _) = self.changed.wait_timeout_while(state, timeout, |s| !s.0).unwrap();
        state.0
    }

    fn let_go(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

impl StackSide for StallingStack {
    fn accept(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64> {
        let tokens: Vec<u64> = batch.map(|indication| indication.token()).collect();
        if let Some(driver) = self.driver.get().and_then(Weak::upgrade) {
            driver.adapter().return_indications(tokens);
        }
        self.indicated.store(true, Ordering::SeqCst);
        let mut state = self.state.lock().unwrap();
        state.0 = true;
        self.changed.notify_all();
        // Bounded: a test that fails without letting go does not keep the consumer forever.
        let _ = self.changed.wait_timeout_while(state, Duration::from_secs(10), |s| !s.1).unwrap();
        Vec::new()
    }

    fn link_changed(&self, _up: bool) {}
}

/// Lets the stalled consumer go however the test ends.
struct LetGo(Arc<StallingStack>);

impl Drop for LetGo {
    fn drop(&mut self) {
        self.0.let_go();
    }
}

/// The consumer is inside a round (in the indication call), every packet it indicated is already
/// back: a pause must still wait until the round ends, since the round could indicate more (in
/// the kernel: NDIS requires that nothing is indicated once `MiniportPause` completes).
#[test]
fn pause_waits_for_a_round_in_progress() {
    let stack = Arc::new(StallingStack::default());
    let _let_go = LetGo(Arc::clone(&stack));
    let driver = HostDriver::with_stack_side(Arc::clone(&stack) as Arc<dyn StackSide>);
    let _ = stack.driver.set(Arc::downgrade(&driver));
    let client = Client::open(&driver);
    client.send_one(1);
    assert!(stack.wait_inside(Duration::from_secs(10)), "the consumer never indicated the packet");
    assert_eq!(driver.adapter().session().unwrap().indications_in_flight(), 0);

    let (done, paused) = mpsc::channel();
    let pauser = {
        let driver = Arc::clone(&driver);
        std::thread::spawn(move || {
            driver.adapter().pause();
            let _ = done.send(());
        })
    };
    // Bounded waits: a pause that returns now is the defect; one that never returns is another.
    let early = paused.recv_timeout(Duration::from_millis(500));
    assert!(early.is_err(), "pause returned while the consumer was still inside its round");
    stack.let_go();
    assert!(paused.recv_timeout(Duration::from_secs(10)).is_ok(), "pause did not return once the round ended");
    pauser.join().unwrap();
    assert!(stack.indicated.load(Ordering::SeqCst));
    assert_eq!(driver.adapter().stats().receive_packets, 1);
    driver.adapter().restart();
    drop(client);
    assert_eq!(driver.resources().mappings, 0);
}
