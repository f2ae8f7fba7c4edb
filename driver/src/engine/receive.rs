//! The Receive ring: packets the client writes, read by the driver and indicated into the stack
//! without copying.
//!
//! The consumer thread ([`Session::run_receive`]) loops:
//! 1. load `tail` (acquire) once per round;
//! 2. if the ring is empty, spin for about 0.1 ms, then declare itself alertable: store
//!    `alertable = 1`, full fence, re-load `tail`; sleep on the client's event (or the stop
//!    signal) only if it is still empty, re-checking `tail` after a timed wait (1 ms doubling to
//!    4 ms while idle) so that a lost wake-up costs at most that, and clear `alertable` when woken;
//! 3. validate each packet at the private cursor with ring-abi (header words read once); any
//!    fault stops the ring: `head = RING_STOPPED`, nothing more is consumed;
//! 4. classify each packet (IPv4 / IPv6; anything else is dropped and counted; v2 empty slots are
//!    skipped; with `RECEIVE_SPLIT` a slot may carry several packets), prepare one indication per
//!    packet over the ring memory, record the slot as in flight, and indicate the batch. A split
//!    slot with more packets than the batch has room for stays open: the next round carries on
//!    where this one stopped, and the slot is released only once it is finished and all its
//!    packets are back;
//! 5. when the stack returns packets ([`Session::complete_indications`], any thread, any order),
//!    release `head` over the leading slots whose packets are all back, in order, under the lock;
//!    with the write-space signal, the release is followed by a full fence and a load of the
//!    client's `space_waiting`, and the client's write-space event is set when it is non-zero.
//!
//! With offloads (`OFFLOAD`), step 4 first reads the slot's metadata block and the packet's
//! headers once into locals, validates them (ring-abi's `OffloadMeta::validate`; invalid
//! metadata drops the packet, counted), and decides with the offloads the stack takes now
//! ([`crate::engine::offload::receive_action`]): the packet is indicated whole (a coalesced
//! unit, a partial or valid checksum), or cut into IP packets whose headers the engine writes
//! into the indications' own memory in front of the payload, which stays in the ring. The
//! engine never writes the Receive ring's data area. A slot whose packets do not fit what is
//! left of the round's batch is left for the next round.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use lock_api::Mutex;
use ring_abi::{
    GsoKind, OffloadMeta, OffloadPlan, PacketView, RegistrationFlags, Ring, RingVersion, SleepCheck,
    CONSUMER_RECHECK_MAX_NS, CONSUMER_RECHECK_MIN_NS, CONSUMER_RECHECK_SIGNALLED_MAX_NS, CONSUMER_SPIN_NS,
    MAX_OFFLOAD_HEADER, OFFLOAD_MIN_DATA_OFFSET, RING_STOPPED,
};

use crate::engine::offload::{receive_action, ReceiveAction};
use crate::engine::session::Session;
use crate::engine::stats::{add, bump, count_coalesced};
use crate::fallible::{try_deque_with_capacity, try_push, try_vec_with_capacity};
use crate::platform::{Event, IndicationInfo, IpKind, Platform, StackOffloads};

/// Most Receive-ring slots that may be in flight (indicated and not yet all returned, or
/// consumed and waiting for an earlier slot). The consumer waits for returns beyond it.
pub const MAX_SLOTS_IN_FLIGHT: usize = 4096;
/// Most slots consumed per round (one indication call).
pub const RECEIVE_BATCH_SLOTS: usize = 64;
/// Most packets one round indicates (a split slot can carry several).
pub const RECEIVE_BATCH_PACKETS: usize = 256;

/// Bits of a token that carry the slot sequence number; the rest carry the session generation.
const TOKEN_SEQ_BITS: u32 = 48;
const TOKEN_SEQ_MASK: u64 = (1 << TOKEN_SEQ_BITS) - 1;

/// What one [`Session::poll_receive`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceivePoll {
    /// A round ran: slots were consumed and their packets indicated (or dropped and counted).
    Consumed,
    /// Nothing is published beyond the consumer's cursor.
    Empty,
    /// Too many slots are in flight: the stack must return packets first.
    Full,
    /// The adapter is paused: nothing is indicated.
    Paused,
    /// The ring was found corrupt (now or earlier): `head` is `RING_STOPPED`.
    Stopped,
    /// The session is ending, or a worker thread owns the consumer.
    NotRunning,
}

/// A consumed slot whose head release waits for its packets to come back.
#[derive(Clone, Copy, Debug)]
struct SlotRecord {
    /// Head value once this slot is released.
    next_head: u32,
    /// Packets of this slot still with the stack.
    pending: u32,
    /// The consumer has not finished preparing this slot's packets (a split slot carried into the
    /// next round): it is not released even if `pending` is 0.
    open: bool,
}

/// A split slot whose remaining packets did not fit the round's batch: the next round carries on
/// from `offset` with the view validated when the slot was first read (the header is not re-read).
#[derive(Clone, Copy, Debug)]
struct PartialSlot {
    view: PacketView,
    /// Data offset of the first packet not yet prepared.
    offset: u32,
    /// The slot's sequence number (its record is in flight, marked open).
    seq: u64,
}

/// What an offload session's slot is, from its metadata read once.
enum OffloadWork {
    /// An all-zero block: a plain packet.
    Plain,
    /// Metadata that does not fit the packet (or a data offset inside the block): dropped.
    Invalid,
    /// A validated packet, its headers copied once, and what to do with it.
    Offloaded { plan: OffloadPlan, headers: [u8; MAX_OFFLOAD_HEADER], action: ReceiveAction },
}

impl OffloadWork {
    /// Indications the slot takes (an upper bound for plain and invalid packets).
    fn indications(&self) -> usize {
        match self {
            Self::Plain | Self::Invalid => 1,
            Self::Offloaded { plan, action, .. } => action.indications(plan),
        }
    }
}

/// What preparing (part of) a slot gave.
#[derive(Clone, Copy, Debug)]
struct Prepared {
    /// Indications added to the batch.
    packets: u32,
    /// Where to carry on next round, if the batch filled before the slot's end.
    resume_at: Option<u32>,
}

pub(crate) struct InFlight {
    records: VecDeque<SlotRecord>,
    /// Sequence number of `records[0]`.
    base_seq: u64,
    /// Packets with the stack.
    indicated: u64,
    /// Head last released to the client.
    released_head: u32,
    /// Set once the ring is corrupt or torn down: `head` stays `RING_STOPPED`.
    stopped: bool,
    /// The consumer is waiting for in-flight records to be released (`space`).
    space_wanted: bool,
}

/// What releasing leading slots did.
#[derive(Clone, Copy, Debug, Default)]
struct Released {
    /// `head` moved.
    any: bool,
    /// The client waits for space (write-space signal): set its event once the lock is dropped.
    wake_client: bool,
}

/// The Receive ring of a session.
pub(crate) struct ReceiveState<P: Platform> {
    pub(crate) ring: Ring,
    pub(crate) event: P::Event,
    /// The client's write-space event (`WRITE_SPACE`), set when a release finds
    /// `space_waiting` set, and at the end of the ring.
    space_event: Option<P::Event>,
    /// Set whenever packets come back (notification event); drain waiters (pause, teardown).
    returned: P::Event,
    /// Set whenever slots are released (notification event); the consumer waits on it when too
    /// much is in flight. Separate from `returned` so two waiters never clear each other's wake-up.
    space: P::Event,
    in_flight: Mutex<P::RawMutex, InFlight>,
    /// The consumer's private cursor and buffers, taken by the worker thread.
    worker: Mutex<P::RawMutex, Option<ConsumerState<P>>>,
    /// True while the consumer is between its pause check and the end of its indications; with
    /// the adapter's `paused` flag it forms a store-fence-load pair (both `SeqCst`): either the
    /// consumer sees the pause, or the pauser sees the round and waits for it.
    in_round: AtomicBool,
    /// Set when a round ends (notification event).
    round_done: P::Event,
}

pub(crate) struct ConsumerState<P: Platform> {
    cursor: u32,
    next_seq: u64,
    /// A split slot to finish before reading the next one (`cursor` is already past it).
    partial: Option<PartialSlot>,
    out: IndicationBuffer<P>,
    /// The longest timed re-check interval of this session's sleeps:
    /// `CONSUMER_RECHECK_SIGNALLED_MAX_NS` until its client loses a wake-up, then
    /// `CONSUMER_RECHECK_MAX_NS` for the rest of the session (protocol §8.1).
    recheck_max_ns: u64,
}

/// What the consumer indicates from: the ring's mapping (owned here, so that teardown can release
/// it by taking the consumer state once the thread is joined) and the preallocated batch.
pub(crate) struct IndicationBuffer<P: Platform> {
    // Declared before `mapping` so that it drops first: a prepared indication never outlives the
    // ring pages it points into (every round drains the batch, so it is empty by then anyway).
    batch: Vec<P::Indication>,
    mapping: P::Mapping,
    /// IP bytes of the packets in `batch`, added to the shared counters once per round (not
    /// per packet: the counters' cache line is shared with the Send path).
    batch_bytes: u64,
    /// Of those, the bytes indicated from the ring without a copy (the rest are headers the
    /// engine wrote for cut packets).
    batch_ring_bytes: u64,
}

impl<P: Platform> ReceiveState<P> {
    /// Receive state for a ring whose client-side head was read as `initial_head` (validated).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ring: Ring,
        mapping: P::Mapping,
        event: P::Event,
        space_event: Option<P::Event>,
        returned: P::Event,
        space: P::Event,
        round_done: P::Event,
        initial_head: u32,
    ) -> Option<Self> {
        let records = try_deque_with_capacity(MAX_SLOTS_IN_FLIGHT).ok()?;
        let batch = try_vec_with_capacity(RECEIVE_BATCH_PACKETS).ok()?;
        Some(Self {
            ring,
            event,
            space_event,
            returned,
            space,
            in_flight: Mutex::new(InFlight {
                records,
                base_seq: 0,
                indicated: 0,
                released_head: initial_head,
                stopped: false,
                space_wanted: false,
            }),
            worker: Mutex::new(Some(ConsumerState {
                cursor: initial_head,
                next_seq: 0,
                partial: None,
                out: IndicationBuffer { mapping, batch, batch_bytes: 0, batch_ring_bytes: 0 },
                recheck_max_ns: CONSUMER_RECHECK_SIGNALLED_MAX_NS,
            })),
            in_round: AtomicBool::new(false),
            round_done,
        })
    }

    /// Waits until the stack has returned every indicated packet.
    pub(crate) fn wait_all_returned(&self, platform: &P) {
        loop {
            self.returned.clear();
            if self.in_flight.lock().indicated == 0 {
                return;
            }
            platform.wait_any(&[&self.returned]);
        }
    }

    /// Ends a round. `round_done` is signalled only if the adapter is paused: a pauser stores
    /// `paused` before it loads `in_round` (both SeqCst), so either it sees the round over or this
    /// sees `paused` and wakes it; rounds without a pauser cost no event operation.
    fn end_round(&self, paused: &AtomicBool) {
        self.in_round.store(false, Ordering::SeqCst);
        if paused.load(Ordering::SeqCst) {
            self.round_done.set();
        }
    }

    /// Waits until the consumer is outside a round (after `paused` was set).
    fn wait_round_done(&self, platform: &P) {
        loop {
            self.round_done.clear();
            if !self.in_round.load(Ordering::SeqCst) {
                return;
            }
            platform.wait_any(&[&self.round_done]);
        }
    }

    /// Releases the ring's mapping (with the consumer state that owns it). Only once the consumer
    /// thread is joined and the ring is stopped: nothing touches the ring afterwards.
    pub(crate) fn release_mapping(&self) {
        // Taken under the lock, dropped after it: unmapping and unlocking a ring of up to 64 MiB
        // is slow work that must not run while a spin lock holds the processor at raised IRQL.
        let consumer = self.worker.lock().take();
        drop(consumer);
    }

    /// Marks the ring stopped: `head = RING_STOPPED`, no later release moves it; a client
    /// waiting for space is woken (it finds the ring stopped).
    pub(crate) fn stop_ring(&self) {
        {
            let mut in_flight = self.in_flight.lock();
            in_flight.stopped = true;
            self.ring.store_head(RING_STOPPED);
        }
        if let Some(event) = &self.space_event {
            event.set();
        }
    }

    /// Sets the client's write-space event, if it has one.
    fn wake_client(&self) {
        if let Some(event) = &self.space_event {
            event.set();
        }
    }
}

/// What one packet inside a slot is.
fn classify(first_byte: u8, len: u32) -> Option<IpKind> {
    match first_byte >> 4 {
        4 if len >= 20 => Some(IpKind::V4),
        6 if len >= 40 => Some(IpKind::V6),
        _ => None,
    }
}

/// Length of the IP packet whose header starts with `header` (at least 8 bytes read), for
/// splitting; `None` if the header is not IPv4/IPv6 or its length field is below the minimum.
fn ip_packet_length(header: &[u8; 8]) -> Option<(IpKind, u32)> {
    let [first, _, b2, b3, b4, b5, _, _] = *header;
    match first >> 4 {
        4 => {
            let total = u32::from(u16::from_be_bytes([b2, b3]));
            (total >= 20).then_some((IpKind::V4, total))
        }
        // 40-byte fixed header + payload length (jumbograms, payload length 0, are refused).
        6 => {
            let payload = u32::from(u16::from_be_bytes([b4, b5]));
            (payload != 0).then_some((IpKind::V6, payload.wrapping_add(40)))
        }
        _ => None,
    }
}

impl<P: Platform> Session<P> {
    /// The consumer thread's body: runs until the session stops. Called once by the platform's
    /// worker thread.
    pub fn run_receive(&self) {
        // Registration starts the thread before it publishes the session, and signals `started`
        // after: no packet is indicated before the stack can return it to this session.
        self.platform().wait_any(&[&self.started, &self.stop]);
        let Some(mut consumer) = self.receive.worker.lock().take() else { return };
        self.consume(&mut consumer);
        self.receive.worker.lock().replace(consumer);
    }

    fn stopping(&self) -> bool {
        !self.is_running()
    }

    /// Runs one consumer round on the calling thread without waiting: the deterministic drive
    /// of a platform whose worker thread does not call [`Session::run_receive`] (the host
    /// platform's polled mode, for fuzzing and tests). The same checks, validation, indication
    /// and release as the consumer thread's rounds; only the spinning and sleeping are left out.
    pub fn poll_receive(&self) -> ReceivePoll {
        if self.stopping() {
            return ReceivePoll::NotRunning;
        }
        let Some(mut consumer) = self.receive.worker.lock().take() else {
            return ReceivePoll::NotRunning;
        };
        let result = self.poll_round(&mut consumer);
        self.receive.worker.lock().replace(consumer);
        result
    }

    fn poll_round(&self, consumer: &mut ConsumerState<P>) -> ReceivePoll {
        let receive = &self.receive;
        {
            let in_flight = receive.in_flight.lock();
            if in_flight.stopped {
                return ReceivePoll::Stopped;
            }
            if consumer.partial.is_none()
                && in_flight.records.len() > MAX_SLOTS_IN_FLIGHT.saturating_sub(RECEIVE_BATCH_SLOTS)
            {
                return ReceivePoll::Full;
            }
        }
        let tail = receive.ring.load_tail();
        if tail == consumer.cursor && consumer.partial.is_none() {
            return ReceivePoll::Empty;
        }
        receive.in_round.store(true, Ordering::SeqCst);
        if self.adapter.paused.load(Ordering::SeqCst) {
            receive.end_round(&self.adapter.paused);
            return ReceivePoll::Paused;
        }
        let healthy = self.consume_round(consumer, tail);
        receive.end_round(&self.adapter.paused);
        if healthy {
            ReceivePoll::Consumed
        } else {
            ReceivePoll::Stopped
        }
    }

    fn consume(&self, consumer: &mut ConsumerState<P>) {
        let platform = self.platform();
        let receive = &self.receive;
        let ring = &receive.ring;
        loop {
            if self.stopping() {
                return;
            }
            // Too much in flight: wait for the stack to return some. The wish is recorded under
            // the lock that releases take, so the release that makes room sees it and signals.
            // (Finishing an open split slot adds no record, and the open record may be the one
            // that holds the others back: it never waits here.)
            let full = consumer.partial.is_none() && {
                let mut in_flight = receive.in_flight.lock();
                let full = in_flight.records.len() > MAX_SLOTS_IN_FLIGHT.saturating_sub(RECEIVE_BATCH_SLOTS);
                if full {
                    receive.space.clear();
                    in_flight.space_wanted = true;
                }
                full
            };
            if full {
                platform.wait_any(&[&self.stop, &receive.space]);
                continue;
            }

            let mut tail = ring.load_tail();
            if tail == consumer.cursor && consumer.partial.is_none() {
                match self.wait_for_tail(consumer.cursor, &mut consumer.recheck_max_ns) {
                    Some(t) => tail = t,
                    None => continue,
                }
            }
            // Paused: indicate nothing until restarted (see `in_round`).
            receive.in_round.store(true, Ordering::SeqCst);
            if self.adapter.paused.load(Ordering::SeqCst) {
                receive.end_round(&self.adapter.paused);
                platform.wait_any(&[&self.stop, &self.adapter.resumed]);
                continue;
            }
            let healthy = self.consume_round(consumer, tail);
            receive.end_round(&self.adapter.paused);
            if !healthy {
                // The ring is stopped: wait for the session to end.
                platform.wait_any(&[&self.stop]);
                return;
            }
        }
    }

    /// Spins, then sleeps; returns a tail that differs from `cursor`, or `None` to re-check
    /// the loop conditions (woken, or stop requested). `recheck_max_ns` is the session's longest
    /// re-check interval (lowered for good by a lost wake-up).
    fn wait_for_tail(&self, cursor: u32, recheck_max_ns: &mut u64) -> Option<u32> {
        let platform = self.platform();
        let ring = &self.receive.ring;
        let start = platform.now_ns();
        loop {
            core::hint::spin_loop();
            let tail = ring.load_tail();
            if tail != cursor {
                return Some(tail);
            }
            if platform.now_ns().wrapping_sub(start) >= CONSUMER_SPIN_NS {
                break;
            }
            // Give the processor to other ready threads while spinning (the client included).
            platform.yield_now();
        }
        match check_before_sleep(ring, &self.receive.event, cursor) {
            Some(tail) => Some(tail),
            None => {
                bump(&self.stats().receive_sleeps);
                self.sleep_bounded(cursor, recheck_max_ns)
            }
        }
    }

    /// Sleeps on the client's event (or the stop signal) with `alertable` set, but never longer
    /// than a timed re-check of `tail`: a client that publishes without the full fence before its
    /// `alertable` load, or skips the signal, would otherwise leave the consumer asleep until its
    /// next signalled packet. The re-check interval doubles from `CONSUMER_RECHECK_MIN_NS` to
    /// `recheck_max_ns` while the ring stays idle (`alertable` stays set throughout, so a fenced
    /// client keeps waking the consumer at once): `CONSUMER_RECHECK_SIGNALLED_MAX_NS` while the
    /// client has signalled every packet, `CONSUMER_RECHECK_MAX_NS` from its first lost wake-up
    /// on, which this sets. Returns a tail that differs from `cursor` (found by a re-check), or
    /// `None` when woken by an event.
    fn sleep_bounded(&self, cursor: u32, recheck_max_ns: &mut u64) -> Option<u32> {
        let platform = self.platform();
        let ring = &self.receive.ring;
        let mut interval = CONSUMER_RECHECK_MIN_NS;
        loop {
            if let Some(woken_by) = platform.wait_any_timeout(&[&self.receive.event, &self.stop], interval) {
                ring.store_alertable(false);
                // A manual-reset client event stays set after the wait: cleared here, or every
                // later sleep would return at once. No wake-up is lost: `tail` is re-read after
                // this, behind the alertable store and fence of the next sleep's check.
                if woken_by == 0 {
                    self.receive.event.clear();
                }
                return None;
            }
            bump(&self.stats().receive_rechecks);
            let tail = ring.load_tail();
            if tail != cursor {
                // Lost only if the client did not signal it: a client that saw `alertable` signals
                // after publishing, and its signal may land between the timeout and this load. Such
                // a signal is consumed here (a poll), so that it does not wake the next sleep.
                if platform.wait_any_timeout(&[&self.receive.event], 0).is_some() {
                    self.receive.event.clear();
                } else {
                    bump(&self.stats().receive_lost_wakeups);
                    *recheck_max_ns = CONSUMER_RECHECK_MAX_NS;
                }
                ring.store_alertable(false);
                return Some(tail);
            }
            interval = interval.saturating_mul(2).min(*recheck_max_ns);
        }
    }

    /// Consumes up to a batch of slots published before `tail`. Returns `false` if the ring was
    /// found corrupt (and is now stopped). Kept out of line so that profiles attribute the
    /// consumer's per-round cost to it.
    #[inline(never)]
    fn consume_round(&self, consumer: &mut ConsumerState<P>, tail: u32) -> bool {
        let ring = &self.receive.ring;
        let geometry = *ring.geometry();
        // A tail among the slots still in flight (from the released head up to the cursor) moved
        // backwards: the ring is corrupt, and nothing is consumed. The released head is read
        // after `tail` was loaded, so it is at least the head the client saw before publishing
        // that tail (an older one could make a full ring look corrupt).
        let released = self.receive.in_flight.lock().released_head;
        if geometry.check_consumer_tail(released, consumer.cursor, tail).is_err() {
            bump(&self.stats().receive_ring_faults);
            self.receive.stop_ring();
            return false;
        }
        let mut records = [SlotRecord { next_head: 0, pending: 0, open: false }; RECEIVE_BATCH_SLOTS];
        let mut slots = 0usize;
        let mut healthy = true;
        // The offloads the stack takes, once per round (they may change by OID meanwhile).
        let offloads = self.config.flags.contains(RegistrationFlags::OFFLOAD);
        let stack = if offloads {
            self.adapter_receive_task_offloads().receive_offloads(self.platform().stack_offloads())
        } else {
            StackOffloads::default()
        };
        // First the rest of a split slot the last round could not finish.
        let continued = consumer.partial.take().map(|partial| {
            let done = self.prepare_split(&partial.view, partial.offset, self.token(partial.seq), &mut consumer.out);
            if let Some(offset) = done.resume_at {
                consumer.partial = Some(PartialSlot { offset, ..partial });
            }
            (partial.seq, done)
        });
        // A round that carried on a split slot reads no new slot: the room check at the top of
        // the loop was skipped for it, so the records must not grow past their reservation.
        while continued.is_none()
            && consumer.partial.is_none()
            && slots < RECEIVE_BATCH_SLOTS
            && consumer.out.batch.len() < RECEIVE_BATCH_PACKETS
        {
            match ring.packet_at(consumer.cursor, tail) {
                Ok(None) => break,
                Ok(Some(view)) => {
                    let seq = consumer.next_seq;
                    let work =
                        if offloads && view.data_length != 0 { Some(self.offload_work(&view, &stack)) } else { None };
                    // A slot's packets are indicated in one round: one that does not fit what is
                    // left of the batch waits for the next round, which starts empty (a slot
                    // becomes at most MAX_GSO_SEGMENTS packets, fewer than a batch holds).
                    let room = RECEIVE_BATCH_PACKETS.saturating_sub(consumer.out.batch.len());
                    if work.as_ref().is_some_and(|w| w.indications() > room) {
                        break;
                    }
                    let done = self.prepare_slot(&view, seq, &mut consumer.out, work);
                    if let Some(offset) = done.resume_at {
                        consumer.partial = Some(PartialSlot { view, offset, seq });
                    }
                    let next_head = geometry.advance(consumer.cursor, view.slot_size);
                    if let Some(record) = records.get_mut(slots) {
                        *record = SlotRecord { next_head, pending: done.packets, open: done.resume_at.is_some() };
                    }
                    slots = slots.saturating_add(1);
                    consumer.cursor = next_head;
                    consumer.next_seq = seq.wrapping_add(1) & TOKEN_SEQ_MASK;
                }
                Err(_fault) => {
                    healthy = false;
                    break;
                }
            }
        }
        // Record the slots before indicating: the stack may return packets at once. (Slots with
        // nothing to indicate are released here; the consumer is this thread, so no `space`.)
        let released = {
            let mut in_flight = self.receive.in_flight.lock();
            let mut pending_packets = 0u64;
            if let Some((seq, done)) = continued {
                // The open record is still queued: it cannot be released while open.
                let index = seq.wrapping_sub(in_flight.base_seq) & TOKEN_SEQ_MASK;
                if let Some(record) = usize::try_from(index).ok().and_then(|i| in_flight.records.get_mut(i)) {
                    record.pending = record.pending.saturating_add(done.packets);
                    record.open = done.resume_at.is_some();
                    pending_packets = u64::from(done.packets);
                }
            }
            for record in records.iter().take(slots) {
                in_flight.records.push_back(*record);
                pending_packets = pending_packets.saturating_add(u64::from(record.pending));
            }
            in_flight.indicated = in_flight.indicated.saturating_add(pending_packets);
            self.release_leading(&mut in_flight)
        };
        if released.wake_client {
            bump(&self.stats().receive_space_signals);
            self.receive.wake_client();
        }
        if !consumer.out.batch.is_empty() {
            // Counted before the indication, so that a packet the stack has seen is counted.
            let stats = self.stats();
            add(&stats.receive_packets, consumer.out.batch.len() as u64);
            add(&stats.receive_bytes, consumer.out.batch_bytes);
            add(&stats.zero_copy_bytes, consumer.out.batch_ring_bytes);
            consumer.out.batch_bytes = 0;
            consumer.out.batch_ring_bytes = 0;
            self.platform().indicate(&mut consumer.out.batch);
            consumer.out.batch.clear();
        }
        if !healthy {
            bump(&self.stats().receive_ring_faults);
            self.receive.stop_ring();
        }
        healthy
    }

    /// The token of the packets of slot `seq` in this session.
    fn token(&self, seq: u64) -> u64 {
        (u64::from(self.generation) << TOKEN_SEQ_BITS) | (seq & TOKEN_SEQ_MASK)
    }

    /// An offload session's slot: its metadata and headers read once into locals, validated,
    /// and the decision for the stack's offloads.
    fn offload_work(&self, view: &PacketView, stack: &StackOffloads) -> OffloadWork {
        let ring = &self.receive.ring;
        // The data must begin after the metadata block (the block's bytes would be the packet's).
        if view.data_offset < OFFLOAD_MIN_DATA_OFFSET {
            return OffloadWork::Invalid;
        }
        let meta: OffloadMeta = ring.read_offload_meta(view.slot_offset);
        if meta.is_none() {
            return OffloadWork::Plain;
        }
        let mut headers = [0u8; MAX_OFFLOAD_HEADER];
        let copied = (view.data_length as usize).min(MAX_OFFLOAD_HEADER);
        let Some(local) = headers.get_mut(..copied) else { return OffloadWork::Invalid };
        if ring.read_data(view.data_start(), local).is_err() {
            return OffloadWork::Invalid;
        }
        match meta.validate(local, view.data_length) {
            Ok(Some(plan)) => {
                let action = receive_action(&plan, local, stack);
                // A TCP unit the stack would take whole, cut (a checksum state it cannot be told,
                // or outside NDIS's coalescing rules): an RSC abort in NDIS's statistics.
                if matches!(action, ReceiveAction::Segment(_))
                    && plan.gso.is_some_and(|gso| gso.kind != GsoKind::UdpL4 && stack.coalesces(gso.kind))
                {
                    bump(&self.stats().receive_coalesce_aborts);
                }
                OffloadWork::Offloaded { plan, headers, action }
            }
            Ok(None) => OffloadWork::Plain,
            Err(_) => OffloadWork::Invalid,
        }
    }

    /// Prepares the indications of one validated slot.
    fn prepare_slot(
        &self,
        view: &PacketView,
        seq: u64,
        out: &mut IndicationBuffer<P>,
        work: Option<OffloadWork>,
    ) -> Prepared {
        let stats = self.stats();
        let ring = &self.receive.ring;
        if view.data_length == 0 && ring.geometry().version() == RingVersion::V2 {
            bump(&stats.receive_empty_slots);
            return Prepared { packets: 0, resume_at: None };
        }
        let token = self.token(seq);
        if self.config.flags.contains(RegistrationFlags::RECEIVE_SPLIT) {
            return self.prepare_split(view, 0, token, out);
        }
        match work {
            None | Some(OffloadWork::Plain) => {}
            Some(OffloadWork::Invalid) => {
                bump(&stats.receive_dropped_offload);
                return Prepared { packets: 0, resume_at: None };
            }
            Some(OffloadWork::Offloaded { plan, headers, action }) => {
                let packets = self.prepare_offloaded(view, &plan, &headers, action, token, out);
                return Prepared { packets, resume_at: None };
            }
        }
        let mut first = [0u8; 1];
        let kind = if view.data_length == 0 || ring.read_data(view.data_start(), &mut first).is_err() {
            None
        } else {
            classify(first[0], view.data_length)
        };
        let packets = match kind {
            Some(kind) => u32::from(self.prepare_packet(
                &[],
                view.data_start(),
                view.data_length,
                &IndicationInfo::plain(kind),
                token,
                out,
            )),
            None => {
                bump(&stats.receive_dropped_not_ip);
                0
            }
        };
        Prepared { packets, resume_at: None }
    }

    /// RECEIVE_SPLIT: prepares the IP packets back to back in the slot's data from `offset` on;
    /// each length field is bounds-checked against what is left of the data. The first
    /// inconsistency drops (and counts) the rest. When the batch is full before the end of the
    /// data, nothing is dropped: the offset to carry on from is returned.
    fn prepare_split(&self, view: &PacketView, mut offset: u32, token: u64, out: &mut IndicationBuffer<P>) -> Prepared {
        let ring = &self.receive.ring;
        let mut packets = 0u32;
        while offset < view.data_length {
            if out.batch.len() >= RECEIVE_BATCH_PACKETS {
                return Prepared { packets, resume_at: Some(offset) };
            }
            let remaining = view.data_length.wrapping_sub(offset);
            let at = view.data_start().wrapping_add(offset);
            let mut header = [0u8; 8];
            let parsed = if remaining >= 8 && ring.read_data(at, &mut header).is_ok() {
                ip_packet_length(&header)
            } else {
                None
            };
            match parsed {
                Some((kind, len)) if len <= remaining && classify(header[0], len).is_some() => {
                    if self.prepare_packet(&[], at, len, &IndicationInfo::plain(kind), token, out) {
                        packets = packets.saturating_add(1);
                    }
                    offset = offset.wrapping_add(len);
                }
                _ => {
                    bump(&self.stats().receive_dropped_split);
                    break;
                }
            }
        }
        Prepared { packets, resume_at: None }
    }

    /// A validated offload packet: indicated whole, with its pseudo-header sum written in, or
    /// cut. Returns the number of indications prepared.
    fn prepare_offloaded(
        &self,
        view: &PacketView,
        plan: &OffloadPlan,
        headers: &[u8; MAX_OFFLOAD_HEADER],
        action: ReceiveAction,
        token: u64,
        out: &mut IndicationBuffer<P>,
    ) -> u32 {
        let stats = self.stats();
        let data_start = view.data_start();
        let header_len = usize::from(plan.header_len);
        match action {
            ReceiveAction::AsIs(info) => {
                let sent = self.prepare_packet(&[], data_start, view.data_length, &info, token, out);
                if let (true, Some(unit)) = (sent, info.coalesced) {
                    count_coalesced(stats, unit.segments, view.data_length.saturating_sub(u32::from(plan.header_len)));
                }
                u32::from(sent)
            }
            ReceiveAction::PseudoSum(info) => {
                let mut header = *headers;
                let (Some(field), Some(sum)) = (plan.checksum_field(), plan.pseudo_header_sum(headers)) else {
                    bump(&stats.receive_dropped_offload);
                    return 0;
                };
                let at = usize::from(field);
                if let Some(dst) = header.get_mut(at..at.wrapping_add(2)) {
                    dst.copy_from_slice(&sum.to_be_bytes());
                }
                let payload = view.data_length.saturating_sub(u32::from(plan.header_len));
                let sent = self.prepare_packet(
                    header.get(..header_len).unwrap_or(&[]),
                    data_start.wrapping_add(u32::from(plan.header_len)),
                    payload,
                    &info,
                    token,
                    out,
                );
                if let (true, Some(unit)) = (sent, info.coalesced) {
                    count_coalesced(stats, unit.segments, view.data_length.saturating_sub(u32::from(plan.header_len)));
                }
                u32::from(sent)
            }
            ReceiveAction::Segment(info) => {
                bump(&stats.receive_segmented);
                let mut packets = 0u32;
                let mut header = [0u8; MAX_OFFLOAD_HEADER];
                for index in 0..plan.segment_count() {
                    let Some(spec) = plan.segment_payload(index) else { break };
                    let payload_at = data_start.wrapping_add(spec.payload_offset);
                    // The payload is summed as it is now; the stack reads it from the ring
                    // later. A client that changes it meanwhile gets a segment whose checksum
                    // does not match its bytes: a stack told the checksum succeeded (NDIS, a
                    // valid mark) takes the changed bytes unverified, one that verifies drops
                    // the segment; either way only the client's own data is affected.
                    let sum = self.receive.ring.sum_data(payload_at, spec.payload_len as usize);
                    let written = sum.ok().and_then(|sum| plan.segment_header(headers, index, sum, &mut header));
                    if written.is_none() {
                        bump(&stats.receive_dropped_offload);
                        continue;
                    }
                    let prefix = header.get(..header_len).unwrap_or(&[]);
                    if self.prepare_packet(prefix, payload_at, spec.payload_len, &info, token, out) {
                        packets = packets.saturating_add(1);
                        bump(&stats.receive_segments);
                    }
                }
                packets
            }
        }
    }

    fn prepare_packet(
        &self,
        header: &[u8],
        data_start: u32,
        len: u32,
        info: &IndicationInfo,
        token: u64,
        out: &mut IndicationBuffer<P>,
    ) -> bool {
        let stats = self.stats();
        if out.batch.len() >= RECEIVE_BATCH_PACKETS {
            bump(&stats.receive_dropped_no_resources);
            return false;
        }
        let Ok(offset) = self.receive.ring.ring_offset_of(data_start, len as usize) else {
            bump(&stats.receive_dropped_no_resources);
            return false;
        };
        let Some(indication) = self.platform().prepare_indication(&out.mapping, header, offset, len, info, token)
        else {
            bump(&stats.receive_dropped_no_resources);
            return false;
        };
        // The batch was allocated for RECEIVE_BATCH_PACKETS and is kept within it (checked above),
        // so this never allocates; were it full, the indication would be freed and counted.
        match try_push(&mut out.batch, indication) {
            Ok(()) => {
                let header_len = header.len() as u64;
                out.batch_bytes = out.batch_bytes.wrapping_add(u64::from(len)).wrapping_add(header_len);
                out.batch_ring_bytes = out.batch_ring_bytes.wrapping_add(u64::from(len));
                true
            }
            Err(indication) => {
                drop(indication);
                bump(&stats.receive_dropped_no_resources);
                false
            }
        }
    }

    /// Pops every leading slot whose packets are all back and stores the new head. Called with
    /// the in-flight lock held; the caller sets the client's write-space event (after dropping
    /// the lock) when the result says so.
    fn release_leading(&self, in_flight: &mut InFlight) -> Released {
        let mut head = None;
        while in_flight.records.front().is_some_and(|r| r.pending == 0 && !r.open) {
            head = in_flight.records.pop_front().map(|r| r.next_head);
            in_flight.base_seq = in_flight.base_seq.wrapping_add(1) & TOKEN_SEQ_MASK;
        }
        match head {
            Some(h) => {
                in_flight.released_head = h;
                let mut wake_client = false;
                if !in_flight.stopped {
                    if self.receive.space_event.is_some() {
                        // Write-space handshake: release store of head, full fence, load of the
                        // client's space_waiting (ring-abi's Ring::release_head).
                        wake_client = self.receive.ring.release_head(h);
                    } else {
                        self.receive.ring.store_head(h);
                    }
                }
                Released { any: true, wake_client }
            }
            None => Released::default(),
        }
    }

    /// The stack returned packets (by token). Unknown tokens are ignored.
    pub fn complete_indications(&self, tokens: impl IntoIterator<Item = u64>) {
        let signals = {
            let mut in_flight = self.receive.in_flight.lock();
            for token in tokens {
                if token >> TOKEN_SEQ_BITS != u64::from(self.generation) {
                    continue;
                }
                let seq = token & TOKEN_SEQ_MASK;
                let index = seq.wrapping_sub(in_flight.base_seq) & TOKEN_SEQ_MASK;
                let Some(record) = usize::try_from(index).ok().and_then(|i| in_flight.records.get_mut(i)) else {
                    continue;
                };
                if record.pending == 0 {
                    continue;
                }
                record.pending = record.pending.wrapping_sub(1);
                in_flight.indicated = in_flight.indicated.saturating_sub(1);
            }
            let released = self.release_leading(&mut in_flight);
            // Signal only what someone waits for: teardown and pause wait for "all returned",
            // the consumer for room it asked for, the client for space.
            let all_returned = in_flight.indicated == 0;
            let wake_consumer = released.any && in_flight.space_wanted;
            if wake_consumer {
                in_flight.space_wanted = false;
            }
            (all_returned, wake_consumer, released.wake_client)
        };
        let (all_returned, wake_consumer, wake_client) = signals;
        if wake_client {
            bump(&self.stats().receive_space_signals);
            self.receive.wake_client();
        }
        if all_returned {
            self.receive.returned.set();
        }
        if wake_consumer {
            self.receive.space.set();
        }
    }

    /// Waits until every indicated packet is back (for pause).
    pub(crate) fn quiesce_receive(&self) {
        // `paused` is already set (SeqCst): a round that missed it is waited for here. The consumer
        // runs below normal priority, so that wait would last as long as the processor is loaded:
        // it is raised first, and returned to its own priority as soon as the round is over (the
        // wait for returns below depends on the stack, not on the consumer, which from here on
        // only sleeps until the restart).
        self.expedite_consumer();
        self.receive.wait_round_done(self.platform());
        self.relax_consumer();
        self.receive.wait_all_returned(self.platform());
    }

    /// Packets currently with the stack.
    pub fn indications_in_flight(&self) -> u64 {
        self.receive.in_flight.lock().indicated
    }
}

/// Declares the consumer alertable and re-checks `tail`: `None` means sleep on `event`. When work
/// turned up instead, the client may already have seen `alertable` set and signalled `event`;
/// the signal is cleared so that the next sleep does not wake for nothing. (No wake-up can be
/// lost: every sleep is preceded by this check, which re-reads `tail` after setting
/// `alertable`.)
fn check_before_sleep<E: Event>(ring: &Ring, event: &E, cursor: u32) -> Option<u32> {
    match ring.prepare_to_sleep(cursor) {
        SleepCheck::Work(tail) => {
            event.clear();
            Some(tail)
        }
        SleepCheck::Sleep => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(0x45, 20), Some(IpKind::V4));
        assert_eq!(classify(0x45, 19), None);
        assert_eq!(classify(0x60, 40), Some(IpKind::V6));
        assert_eq!(classify(0x60, 39), None);
        assert_eq!(classify(0x00, 100), None);
        assert_eq!(classify(0x50, 100), None);
    }

    #[test]
    fn split_lengths() {
        assert_eq!(ip_packet_length(&[0x45, 0, 0, 20, 0, 0, 0, 0]), Some((IpKind::V4, 20)));
        assert_eq!(ip_packet_length(&[0x45, 0, 0x05, 0xDC, 0, 0, 0, 0]), Some((IpKind::V4, 1500)));
        assert_eq!(ip_packet_length(&[0x45, 0, 0, 19, 0, 0, 0, 0]), None);
        assert_eq!(ip_packet_length(&[0x60, 0, 0, 0, 0, 8, 0, 0]), Some((IpKind::V6, 48)));
        assert_eq!(ip_packet_length(&[0x60, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(ip_packet_length(&[0x60, 0, 0, 0, 0xFF, 0xFF, 0, 0]), Some((IpKind::V6, 0xFFFF + 40)));
        assert_eq!(ip_packet_length(&[0x10, 0, 0, 0, 0, 0, 0, 0]), None);
    }
}

#[cfg(all(test, feature = "host"))]
mod sleep_tests {
    use ring_abi::{RingGeometry, Room, SharedRing};

    use super::*;
    use crate::host::HostKernel;

    #[test]
    fn work_found_at_the_sleep_check_clears_the_client_event() {
        let kernel = HostKernel::new();
        let geometry = RingGeometry::v2(0x20000, Room::new(0, 0)).unwrap();
        let memory = kernel.alloc_ring(geometry.ring_size() as usize).unwrap();
        // SAFETY: the allocation outlives the ring in this test.
        let shared = unsafe { SharedRing::new(memory.as_ptr(), memory.len(), RingVersion::V2) }.unwrap();
        let ring = Ring::new(shared, geometry).unwrap();
        let (_, event) = kernel.create_event(true, false);

        // Empty: sleep, alertable stays set, the event is left alone.
        assert_eq!(check_before_sleep(&ring, &event, 0), None);
        assert!(ring.load_alertable());

        // The client published and, having seen `alertable`, signalled; the consumer's check finds
        // the work without sleeping: the signal is stale and must not wake the next sleep.
        ring.store_alertable(false);
        ring.store_tail(64);
        event.set();
        assert_eq!(check_before_sleep(&ring, &event, 0), Some(64));
        assert!(!event.is_set(), "stale signal left set");
        assert!(!ring.load_alertable());
    }
}
