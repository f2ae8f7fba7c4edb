//! The adapter and its single session: who owns the rings, and how a session ends.
//!
//! Teardown order (close, process exit, halt, surprise removal all use it):
//! 1. mark the session closing and wait until no sender is inside the Send path;
//! 2. indicate link down;
//! 3. stop the consumer thread and join it;
//! 4. wait until the stack returned every indicated packet;
//! 5. publish Send.tail = `RING_STOPPED` and signal the client; set Receive.head = `RING_STOPPED`;
//! 6. unmap and unlock both rings (here, not when the last reference goes: a process must not
//!    exit with its pages still locked);
//! 7. forget the session; the events go with the last reference.
//!
//! A second caller (close racing with halt, process exit racing with close) waits until the first
//! has finished all of it.

use crate::fallible::TryArc;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use lock_api::Mutex;
use ring_abi::{RingConfig, RING_STOPPED};

use crate::engine::oid::OidSettings;
use crate::engine::receive::ReceiveState;
use crate::engine::send::SendState;
use crate::engine::stats::{bump, Stats, StatsSnapshot};
use crate::platform::{Event, Platform, PlatformError, Worker};

/// The engine-owned events of a session, created at registration.
pub(crate) struct SessionEvents<P: Platform> {
    pub(crate) stop: P::Event,
    pub(crate) started: P::Event,
    pub(crate) closed: P::Event,
    pub(crate) link_indicated: P::Event,
}

/// Who registered a session: the file object of the registering handle and its process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// Identity of the registering handle (the FILE_OBJECT address in the kernel).
    pub file: usize,
    /// Identity of the registering process (its process id).
    pub process: u64,
}

const SESSION_RUNNING: u8 = 0;
const SESSION_CLOSING: u8 = 1;
const SESSION_CLOSED: u8 = 2;

/// Counts threads inside a section and lets a closer wait until none is (rundown protection).
pub(crate) struct Rundown<E> {
    /// Bit 31: closing; bits 0..31: threads inside.
    count: AtomicU32,
    drained: E,
}

const RUNDOWN_CLOSING: u32 = 1 << 31;

impl<E: Event> Rundown<E> {
    pub(crate) fn new(drained: E) -> Self {
        Self { count: AtomicU32::new(0), drained }
    }

    /// Enters the section unless it is closing.
    pub(crate) fn enter(&self) -> bool {
        let mut current = self.count.load(Ordering::Acquire);
        loop {
            // A count reaching bit 31 would need 2^31 concurrent threads: refuse rather than wrap.
            if current & RUNDOWN_CLOSING != 0 || current & !RUNDOWN_CLOSING == !RUNDOWN_CLOSING {
                return false;
            }
            match self.count.compare_exchange_weak(
                current,
                current.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Leaves the section; wakes the closer when the last thread leaves.
    pub(crate) fn exit(&self) {
        let previous = self.count.fetch_sub(1, Ordering::AcqRel);
        if previous == RUNDOWN_CLOSING | 1 {
            self.drained.set();
        }
    }

    /// Refuses new entries and waits until every thread inside has left.
    pub(crate) fn close_and_wait<P: Platform<Event = E>>(&self, platform: &P) {
        self.count.fetch_or(RUNDOWN_CLOSING, Ordering::AcqRel);
        while self.count.load(Ordering::Acquire) != RUNDOWN_CLOSING {
            platform.wait_any(&[&self.drained]);
        }
    }
}

pub(crate) struct AdapterState<P: Platform> {
    pub(crate) session: Option<TryArc<Session<P>>>,
    pub(crate) halted: bool,
    /// A PnP removal was queried and not cancelled: registrations are refused.
    pub(crate) removing: bool,
    pub(crate) next_generation: u16,
}

/// The adapter's shared core: the platform, counters, and the current session.
pub(crate) struct AdapterInner<P: Platform> {
    pub(crate) platform: P,
    pub(crate) stats: Stats,
    pub(crate) oid_settings: OidSettings,
    pub(crate) state: Mutex<P::RawMutex, AdapterState<P>>,
    pub(crate) paused: AtomicBool,
    /// Set while the adapter is running (not paused); the consumer waits on it when paused.
    pub(crate) resumed: P::Event,
}

/// One network adapter: at most one session at a time.
pub struct Adapter<P: Platform> {
    pub(crate) inner: TryArc<AdapterInner<P>>,
}

impl<P: Platform> Clone for Adapter<P> {
    fn clone(&self) -> Self {
        Self { inner: TryArc::clone(&self.inner) }
    }
}

/// A registered session: both rings, the client's events, and the data-path state.
pub struct Session<P: Platform> {
    pub(crate) adapter: TryArc<AdapterInner<P>>,
    pub(crate) owner: Owner,
    pub(crate) config: RingConfig,
    pub(crate) generation: u16,
    state: AtomicU8,
    /// Whether link up was decided for this session (so teardown indicates down only then). The
    /// lock only serializes the decisions; the indications are made after releasing it (a status
    /// indication must not run under a spin lock), and "down" waits for `link_indicated`, so
    /// "up" never lands after "down".
    link_up: Mutex<P::RawMutex, bool>,
    /// Signalled once the "up" indication has been made (notification event).
    link_indicated: P::Event,
    pub(crate) send: SendState<P>,
    pub(crate) receive: ReceiveState<P>,
    /// Signalled once to stop the consumer thread (notification event).
    pub(crate) stop: P::Event,
    /// Signalled once the session is published, to start the consumer (notification event).
    pub(crate) started: P::Event,
    /// Signalled when teardown has finished (notification event), for later callers to wait on.
    closed: P::Event,
    worker: Mutex<P::RawMutex, Option<P::Worker>>,
}

impl<P: Platform> Adapter<P> {
    /// A new adapter over `platform`: running, link down, no session.
    ///
    /// Fails with [`PlatformError::InsufficientResources`] when the adapter's memory cannot be
    /// allocated (the platform is dropped then).
    pub fn new(platform: P) -> Result<Self, PlatformError> {
        let resumed = platform.create_event()?;
        resumed.set();
        let inner = TryArc::try_new(AdapterInner {
            platform,
            stats: Stats::default(),
            oid_settings: OidSettings::default(),
            state: Mutex::new(AdapterState { session: None, halted: false, removing: false, next_generation: 1 }),
            paused: AtomicBool::new(false),
            resumed,
        })
        .map_err(|_| PlatformError::InsufficientResources)?;
        Ok(Self { inner })
    }

    /// The platform this adapter runs on.
    pub fn platform(&self) -> &P {
        &self.inner.platform
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// The current session, if any (including one that is closing).
    pub fn session(&self) -> Option<TryArc<Session<P>>> {
        self.inner.state.lock().session.clone()
    }

    /// Whether a session of process `process` is registered, running or being torn down (what a
    /// process-exit notification looks for: [`Adapter::process_exited`] ends a running one and
    /// waits for a teardown in progress, so that the process never leaves with ring pages still
    /// locked). A session leaves the adapter only after its rings are released.
    pub fn has_session_of_process(&self, process: u64) -> bool {
        self.inner.state.lock().session.as_ref().is_some_and(|s| s.owner.process == process)
    }

    /// Whether a running session is registered (what the link state reports).
    pub fn is_connected(&self) -> bool {
        self.session().is_some_and(|s| s.is_running())
    }

    /// The handle `file` was closed: ends the session if `file` owns it.
    pub fn close(&self, file: usize) -> bool {
        self.end_session_if(|owner| owner.file == file)
    }

    /// Process `process` exited: ends the session if it belongs to that process, or waits until a
    /// teardown already under way (a close from another process's handle, a halt) has finished.
    pub fn process_exited(&self, process: u64) -> bool {
        self.end_session_if(|owner| owner.process == process)
    }

    /// Ends the session whatever its owner (halt, surprise removal).
    pub fn force_close(&self) -> bool {
        self.end_session_if(|_| true)
    }

    fn end_session_if(&self, matches: impl Fn(&Owner) -> bool) -> bool {
        let session = {
            let state = self.inner.state.lock();
            match &state.session {
                Some(s) if matches(&s.owner) => TryArc::clone(s),
                _ => return false,
            }
        };
        session.teardown()
    }

    /// Refuses new registrations; a running session continues. What a PnP query-remove does: the
    /// removal may still be vetoed (a client that keeps its handle open vetoes it), and then the
    /// session must still be alive. A client that lets the removal proceed closes its handle,
    /// which ends the session (the client library does so on Windows' query-remove notification).
    pub fn refuse_registrations(&self) {
        self.inner.state.lock().removing = true;
    }

    /// Accepts registrations again (PnP cancel-remove), unless the adapter is halted.
    pub fn accept_registrations(&self) {
        self.inner.state.lock().removing = false;
    }

    /// Ends the session, whoever owns it, and refuses new registrations (PnP surprise removal:
    /// the device is gone and no veto is possible). Ending the session releases the client's ring
    /// pages and events; the client's handle is the client's to close.
    pub fn end_session_and_refuse_registrations(&self) -> bool {
        self.refuse_registrations();
        self.force_close()
    }

    /// Pauses the adapter: new sends are refused, the consumer stops indicating, and this returns
    /// once the stack has returned every indicated packet.
    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::SeqCst);
        self.inner.resumed.clear();
        if let Some(session) = self.session() {
            session.quiesce_receive();
        }
    }

    /// Restarts a paused adapter. (The consumer is already back at its own priority: the pause
    /// returned it there once the round it waited for was over.)
    pub fn restart(&self) {
        self.inner.paused.store(false, Ordering::SeqCst);
        self.inner.resumed.set();
    }

    /// Whether the adapter is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::SeqCst)
    }

    /// Halts the adapter: ends any session and refuses new registrations.
    pub fn halt(&self) {
        self.inner.state.lock().halted = true;
        self.force_close();
    }

    /// Returns one packet the stack was given by the consumer (its token).
    pub fn return_indication(&self, token: u64) {
        self.return_indications(core::iter::once(token));
    }

    /// Returns several packets at once (a returned NBL chain).
    pub fn return_indications(&self, tokens: impl IntoIterator<Item = u64>) {
        let Some(session) = self.session() else { return };
        session.complete_indications(tokens);
    }
}

impl<P: Platform> Session<P> {
    pub(crate) fn new(
        adapter: TryArc<AdapterInner<P>>,
        owner: Owner,
        config: RingConfig,
        generation: u16,
        send: SendState<P>,
        receive: ReceiveState<P>,
        events: SessionEvents<P>,
    ) -> Self {
        Self {
            adapter,
            owner,
            config,
            generation,
            state: AtomicU8::new(SESSION_RUNNING),
            link_up: Mutex::new(false),
            send,
            receive,
            stop: events.stop,
            started: events.started,
            closed: events.closed,
            link_indicated: events.link_indicated,
            worker: Mutex::new(None),
        }
    }

    /// Who registered this session.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// The validated registration.
    pub fn config(&self) -> &RingConfig {
        &self.config
    }

    /// Whether the session still carries traffic.
    pub fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) == SESSION_RUNNING
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.adapter.stats
    }

    pub(crate) fn platform(&self) -> &P {
        &self.adapter.platform
    }

    /// The adapter's task offloads on now.
    pub(crate) fn adapter_task_offloads(&self) -> crate::engine::offload::TaskOffloads {
        self.adapter.oid_settings.task_offloads()
    }

    /// The task offloads the Receive path may use ([`Adapter::receive_task_offloads`]).
    pub(crate) fn adapter_receive_task_offloads(&self) -> crate::engine::offload::TaskOffloads {
        self.adapter.oid_settings.receive_task_offloads()
    }

    pub(crate) fn set_worker(&self, worker: P::Worker) {
        // Registration attaches the worker once, so `previous` is always `None`; were it not, it
        // would be joined here, after the lock is released (a join waits, which a spin lock's
        // raised IRQL forbids).
        let previous = self.worker.lock().replace(worker);
        drop(previous);
    }

    /// Raises the consumer thread ([`Worker::expedite`]) while a pauser waits for its round. Under
    /// the lock teardown takes the worker out with, so the thread is never one being joined (a
    /// teardown that took it first raises it itself).
    pub(crate) fn expedite_consumer(&self) {
        if let Some(worker) = self.worker.lock().as_ref() {
            worker.expedite();
        }
    }

    /// Returns the consumer thread to its own priority ([`Worker::relax`]), under the same lock: the
    /// pause, once the round it raised the consumer for is over.
    pub(crate) fn relax_consumer(&self) {
        if let Some(worker) = self.worker.lock().as_ref() {
            worker.relax();
        }
    }

    /// Indicates link up, unless the session already ended. Decided under the lock, indicated
    /// after releasing it.
    pub(crate) fn raise_link(&self) {
        let raise = {
            let mut link_up = self.link_up.lock();
            let raise = self.is_running() && !*link_up;
            if raise {
                *link_up = true;
            }
            raise
        };
        if raise {
            self.platform().set_link_state(true);
            self.link_indicated.set();
        }
    }

    /// Ends a session that was never published (registration lost a race): stops and joins the
    /// consumer, which never indicated anything; the rings are released with the value.
    pub(crate) fn discard(&self) {
        self.state.store(SESSION_CLOSED, Ordering::Release);
        self.stop.set();
        let worker = self.worker.lock().take();
        if let Some(worker) = worker {
            worker.join();
        }
        self.closed.set();
    }

    /// Ends the session. Only the first caller does the work and returns `true`; every later
    /// caller waits until that teardown is complete, then returns `false`.
    pub fn teardown(&self) -> bool {
        let platform = self.platform();
        if self.state.compare_exchange(SESSION_RUNNING, SESSION_CLOSING, Ordering::AcqRel, Ordering::Acquire).is_err() {
            while self.state.load(Ordering::Acquire) != SESSION_CLOSED {
                platform.wait_any(&[&self.closed]);
            }
            return false;
        }
        // 1. No sender may touch the Send ring from here on.
        self.send.gate.close_and_wait(platform);
        // 2. Link down (if up was decided): after the "up" indication has been made, and outside
        // the lock. No later "up" can be decided: the session is no longer running.
        let lower = core::mem::replace(&mut *self.link_up.lock(), false);
        if lower {
            platform.wait_any(&[&self.link_indicated]);
            platform.set_link_state(false);
        }
        // 3. Stop the consumer.
        self.stop.set();
        let worker = self.worker.lock().take();
        if let Some(worker) = worker {
            worker.join();
        }
        // 4. Every indicated packet back from the stack.
        self.receive.wait_all_returned(platform);
        // 5. Tell the client.
        self.send.ring.store_tail(RING_STOPPED);
        self.send.event.set();
        bump(&self.stats().send_signals);
        self.receive.stop_ring();
        // 6. Nothing touches either ring any more: unmap and unlock them now.
        self.send.release_mapping();
        self.receive.release_mapping();
        // 7. Forget it; the events go with the last reference.
        {
            let mut state = self.adapter.state.lock();
            if state.session.as_ref().is_some_and(|s| s.generation == self.generation) {
                state.session = None;
            }
        }
        bump(&self.stats().sessions_ended);
        self.state.store(SESSION_CLOSED, Ordering::Release);
        self.closed.set();
        true
    }
}
