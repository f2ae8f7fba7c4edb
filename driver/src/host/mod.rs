//! The host platform: the engine on std threads, for tests, benchmarks and the demo.
//!
//! [`HostDriver`] plays the whole driver as a client sees it: open a handle, send IOCTLs, close;
//! ring memory comes from [`HostKernel::alloc_ring`] and events from
//! [`HostKernel::create_event`], so `map_ring` and `reference_event` can fail exactly where the
//! kernel's `MmProbeAndLockPages` and `ObReferenceObjectByHandle` would. Ring memory is a shared
//! memory object: `map_ring` maps its pages a second time for the engine (the kernel's system
//! mapping of locked pages) and releasing the mapping unmaps them, so an engine access after the
//! release faults in tests, as it would bugcheck in the kernel. The network stack is a
//! [`StackSide`]: [`FakeStack`] (scriptable, for tests) unless another is plugged in with
//! [`HostDriver::with_stack_side`] (a TUN device, in the `ringtun-tun` crate); packets the stack
//! sends out of the adapter enter through [`HostDriver::transmit`] or [`Adapter::transmit`].
//! [`HostFaults`] injects resource failures.

pub mod kernel;
pub mod stack;

use std::boxed::Box;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;
use std::vec::Vec;

use ring_abi::{CallerBitness, RingRole};

use crate::engine::session::AdapterInner;
use crate::engine::{Adapter, Owner, ReceivePoll, Session, Status, TransmitStatus};
use crate::fallible::{TryArc, TryWeak};
use crate::platform::{IndicationInfo, Platform, PlatformError, RingMapping, StackOffloads, Worker, MAX_WAIT_EVENTS};

pub use kernel::{HostEvent, HostKernel, RingAllocation};
pub use stack::{Delivered, FakeStack, HostIndication, HostTransmitBatch, ReturnMode};

std::thread_local! {
    static PLATFORM_ALLOCATING: Cell<bool> = const { Cell::new(false) };
    /// Engine spin locks this thread holds.
    static SPIN_LOCKS_HELD: Cell<u32> = const { Cell::new(0) };
}

/// The engine's short-section lock on the host: a parking_lot mutex that counts, per thread, how
/// many are held, so that the platform can tell when the engine calls out to the stack while
/// holding one (in the kernel: an indication at DISPATCH_LEVEL under a spin lock).
pub struct HostSpinLock(parking_lot::RawMutex);

impl HostSpinLock {
    fn held() -> u32 {
        SPIN_LOCKS_HELD.with(Cell::get)
    }
}

// SAFETY: every operation forwards to parking_lot's RawMutex, which provides the exclusion; the
// per-thread count is bookkeeping only.
unsafe impl lock_api::RawMutex for HostSpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self(<parking_lot::RawMutex as lock_api::RawMutex>::INIT);
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        self.0.lock();
        SPIN_LOCKS_HELD.with(|c| c.set(c.get().wrapping_add(1)));
    }

    fn try_lock(&self) -> bool {
        let locked = self.0.try_lock();
        if locked {
            SPIN_LOCKS_HELD.with(|c| c.set(c.get().wrapping_add(1)));
        }
        locked
    }

    unsafe fn unlock(&self) {
        SPIN_LOCKS_HELD.with(|c| c.set(c.get().wrapping_sub(1)));
        // SAFETY: forwarded contract (this thread holds the lock).
        unsafe { self.0.unlock() };
    }
}

/// Whether the current thread is inside one of the host platform's own std allocations (an
/// event, a thread, the driver's host objects). Those stand in for kernel primitives whose
/// failure [`HostFaults`] injects instead, and std cannot fail them gracefully; a test that makes
/// the global allocator fail (to check the engine's own allocations) leaves them alone.
pub fn in_platform_allocation() -> bool {
    PLATFORM_ALLOCATING.with(Cell::get)
}

fn platform_allocation<R>(f: impl FnOnce() -> R) -> R {
    let previous = PLATFORM_ALLOCATING.with(|a| a.replace(true));
    let result = f();
    PLATFORM_ALLOCATING.with(|a| a.set(previous));
    result
}

/// Resource failures to inject (each flag fails every call while set; counters fail the next N).
///
/// Besides the per-call flags, [`HostFaults::fail_nth_call`] fails one chosen call among all
/// fallible platform calls (to make each one fail in turn), and [`HostFaults::set_random`] fails
/// any of them at random with a seeded generator (to fail them during traffic).
/// [`HostFaults::set_call_hook`] runs a test's action at each fallible call (a query-remove or a
/// halt at a chosen point of a registration).
#[derive(Debug, Default)]
pub struct HostFaults {
    /// `map_ring` fails with insufficient resources.
    pub fail_map: AtomicBool,
    /// `map_ring` succeeds but reports a mapping one byte shorter than the ring (a platform bug
    /// the engine must refuse rather than trust).
    pub short_map: AtomicBool,
    /// `reference_event` fails with an invalid handle.
    pub fail_reference_event: AtomicBool,
    /// `create_event` fails with insufficient resources (the kernel allocates each event).
    pub fail_create_event: AtomicBool,
    /// `spawn_worker` fails.
    pub fail_spawn: AtomicBool,
    /// The next N `prepare_indication` calls fail (no NBL).
    pub fail_indications: AtomicU64,
    /// When non-zero: the N-th fallible platform call from now fails (1: the next one), then
    /// this returns to zero.
    pub fail_nth_call: AtomicU64,
    /// Random failures: probability per call in parts per million (0: off).
    random_ppm: AtomicU64,
    /// State of the random generator (splitmix64).
    random_state: AtomicU64,
    /// Failures injected so far, by kind.
    injected: [AtomicU64; FAULT_KINDS],
    hook: CallHook,
}

/// An action to run at each fallible platform call.
type HookFn = Arc<dyn Fn(FaultKind) + Send + Sync>;

/// The call hook: a flag read on every call (so an unhooked call costs one load) and the action.
#[derive(Default)]
struct CallHook {
    set: AtomicBool,
    action: std::sync::Mutex<Option<HookFn>>,
}

impl core::fmt::Debug for CallHook {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.set.load(Ordering::Relaxed) { "CallHook(set)" } else { "CallHook(none)" })
    }
}

/// A fallible platform call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `map_ring` (probe, lock and map the pages).
    Map = 0,
    /// `reference_event` (the client's event by handle).
    ReferenceEvent = 1,
    /// `create_event` (an engine-owned event, allocated by the kernel).
    CreateEvent = 2,
    /// `spawn_worker` (the consumer thread).
    Spawn = 3,
    /// `prepare_indication` (an NBL and its MDL).
    Indication = 4,
}

const FAULT_KINDS: usize = 5;

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; FAULT_KINDS] =
        [Self::Map, Self::ReferenceEvent, Self::CreateEvent, Self::Spawn, Self::Indication];
}

impl HostFaults {
    /// Fails each fallible call with probability `ppm` / 1e6, drawn from a generator seeded with
    /// `seed` (0 ppm: off).
    pub fn set_random(&self, ppm: u32, seed: u64) {
        self.random_state.store(seed, Ordering::SeqCst);
        self.random_ppm.store(u64::from(ppm), Ordering::SeqCst);
    }

    /// Failures injected so far of `kind`.
    pub fn injected(&self, kind: FaultKind) -> u64 {
        self.injected.get(kind as usize).map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// Failures injected so far, all kinds.
    pub fn injected_total(&self) -> u64 {
        self.injected.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    /// Runs `action` at the start of every fallible platform call from now on, on the calling
    /// thread (which may be inside a registration or a consumer round), until cleared with
    /// [`HostFaults::clear_call_hook`].
    pub fn set_call_hook(&self, action: impl Fn(FaultKind) + Send + Sync + 'static) {
        *self.hook.action.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(action));
        self.hook.set.store(true, Ordering::SeqCst);
    }

    /// Removes the call hook.
    pub fn clear_call_hook(&self) {
        self.hook.set.store(false, Ordering::SeqCst);
        *self.hook.action.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Runs the call hook for a call of `kind`. Out of line, so that the check in [`Self::fail`]
    /// (on every indication) stays one load.
    #[cold]
    #[inline(never)]
    fn run_call_hook(&self, kind: FaultKind) {
        // Called without the hook's lock held: the action may call into the driver.
        let action = self.hook.action.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(action) = action {
            action(kind);
        }
    }

    /// Whether this call of `kind` fails.
    #[inline]
    fn fail(&self, kind: FaultKind) -> bool {
        if self.hook.set.load(Ordering::Relaxed) {
            self.run_call_hook(kind);
        }
        let flagged = match kind {
            FaultKind::Map => self.fail_map.load(Ordering::SeqCst),
            FaultKind::ReferenceEvent => self.fail_reference_event.load(Ordering::SeqCst),
            FaultKind::CreateEvent => self.fail_create_event.load(Ordering::SeqCst),
            FaultKind::Spawn => self.fail_spawn.load(Ordering::SeqCst),
            FaultKind::Indication => {
                self.fail_indications.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
            }
        };
        // Count down the chosen call: the one that takes the count from 1 to 0 fails.
        let nth = self
            .fail_nth_call
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|previous| previous == 1);
        let ppm = self.random_ppm.load(Ordering::SeqCst);
        let random = ppm != 0 && {
            let state = self.random_state.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst);
            splitmix64(state.wrapping_add(0x9E37_79B9_7F4A_7C15)) % 1_000_000 < ppm
        };
        let fail = flagged || nth || random;
        if fail {
            if let Some(counter) = self.injected.get(kind as usize) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
        fail
    }
}

/// One step of splitmix64 (a full-period mix of a counter).
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Platform resources alive now (what a kernel would have to release): a leak shows as a count
/// that does not return to zero once sessions are gone.
#[derive(Debug, Default)]
pub struct HostResources {
    unmapped_in_use: AtomicI64,
    mappings: AtomicI64,
    engine_events: AtomicI64,
    event_references: AtomicI64,
    workers: AtomicI64,
    indications: AtomicI64,
}

/// A snapshot of [`HostResources`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceCounts {
    /// Mappings released while an indication over them was still with the stack (in the kernel:
    /// the stack reading unlocked pages). Must stay zero.
    pub unmapped_in_use: i64,
    /// Ring mappings (locked pages) held by the engine.
    pub mappings: i64,
    /// Engine-owned events not yet freed.
    pub engine_events: i64,
    /// Client events the engine holds a reference to.
    pub event_references: i64,
    /// Consumer threads running.
    pub workers: i64,
    /// Indications (NBLs) prepared and not yet freed.
    pub indications: i64,
}

impl ResourceCounts {
    /// Whether nothing is held.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

impl HostResources {
    /// The counts now.
    pub fn snapshot(&self) -> ResourceCounts {
        ResourceCounts {
            unmapped_in_use: self.unmapped_in_use.load(Ordering::SeqCst),
            mappings: self.mappings.load(Ordering::SeqCst),
            engine_events: self.engine_events.load(Ordering::SeqCst),
            event_references: self.event_references.load(Ordering::SeqCst),
            workers: self.workers.load(Ordering::SeqCst),
            indications: self.indications.load(Ordering::SeqCst),
        }
    }
}

/// One live resource: counted up when created, down when dropped.
#[derive(Debug)]
pub(crate) struct Live {
    resources: Arc<HostResources>,
    field: fn(&HostResources) -> &AtomicI64,
}

impl Live {
    fn new(resources: &Arc<HostResources>, field: fn(&HostResources) -> &AtomicI64) -> Self {
        field(resources).fetch_add(1, Ordering::SeqCst);
        Self { resources: Arc::clone(resources), field }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        (self.field)(&self.resources).fetch_sub(1, Ordering::SeqCst);
    }
}

/// A ring mapped for the engine: its own mapping of the client's pages (a locked MDL's system
/// address in the kernel), unmapped when this value and every indication over it are gone.
#[derive(Debug)]
pub struct HostMapping {
    base: *mut u8,
    len: usize,
    /// Shared with every indication over this mapping: one more strong count per indication the
    /// stack has not freed yet.
    anchor: Arc<IndicationAnchor>,
    live: Live,
}

impl Drop for HostMapping {
    fn drop(&mut self) {
        // Released while the stack still holds a packet in it (in the kernel: the stack reading
        // unlocked pages): counted, and the view stays mapped until that packet is freed, so that
        // the stack side does not fault; the engine itself must not touch it any more.
        if Arc::strong_count(&self.anchor) > 1 {
            self.live.resources.unmapped_in_use.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// What an indication holds on to: the engine's view of the ring it points into, and the
/// resource count it is part of. One reference count and one counter per indication (not one of
/// each per resource), so the host's bookkeeping does not dominate the per-packet cost it
/// measures.
#[derive(Debug)]
pub(crate) struct IndicationAnchor {
    /// Unmapped with the last holder: the mapping, or the last indication over it.
    _view: kernel::RingView,
    /// The client's allocation (counted live while the driver maps it).
    _memory: Arc<RingAllocation>,
    resources: Arc<HostResources>,
}

/// Marks one indication as live and as using its mapping until it is freed.
#[derive(Debug)]
pub(crate) struct IndicationHold(Arc<IndicationAnchor>);

impl IndicationHold {
    fn new(anchor: &Arc<IndicationAnchor>) -> Self {
        anchor.resources.indications.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(anchor))
    }
}

impl Drop for IndicationHold {
    fn drop(&mut self) {
        self.0.resources.indications.fetch_sub(1, Ordering::SeqCst);
    }
}

// SAFETY: the mapping only carries the address of the engine's view, kept mapped by `anchor`;
// all access is through `SharedRing`.
unsafe impl Send for HostMapping {}
// SAFETY: as above.
unsafe impl Sync for HostMapping {}

impl RingMapping for HostMapping {
    fn base(&self) -> *mut u8 {
        self.base
    }

    fn mapped_len(&self) -> usize {
        self.len
    }
}

/// A change of the consumer thread's priority the engine asked for. The host has no thread
/// priorities: it records each request, in order ([`HostDriver::worker_priority_changes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityChange {
    /// [`Worker::expedite`]: raised above every normal-priority thread.
    Expedited,
    /// [`Worker::relax`]: back to its own low priority.
    Relaxed,
}

/// The priority changes asked of the adapter's workers, in order.
type PriorityLog = std::sync::Mutex<Vec<PriorityChange>>;

/// The consumer thread (none in polled mode: the test drives [`Session::poll_receive`]).
pub struct HostWorker {
    thread: Option<JoinHandle<()>>,
    priorities: Arc<PriorityLog>,
}

impl HostWorker {
    fn record(&self, change: PriorityChange) {
        // The host's own bookkeeping: exempt from the allocation faults a test injects.
        platform_allocation(|| self.priorities.lock().unwrap_or_else(|e| e.into_inner()).push(change));
    }
}

impl Worker for HostWorker {
    fn expedite(&self) {
        self.record(PriorityChange::Expedited);
    }

    fn relax(&self) {
        self.record(PriorityChange::Relaxed);
    }

    fn join(self) {
        if let Some(thread) = self.thread {
            let _ = thread.join();
        }
    }
}

/// The stack side of the host platform: where the engine's indications go.
///
/// The engine decides what to indicate; a stack side only delivers. Each indication is a window
/// over the client's ring ([`HostIndication::as_ptr`], [`HostIndication::len`]) that stays valid
/// until its token is handed back to the engine.
pub trait StackSide: Send + Sync + 'static {
    /// Takes a batch of indications. Returns the tokens of those the stack is done with already
    /// (the engine returns them at once); the stack keeps the others and returns them later
    /// through [`Adapter::return_indications`].
    fn accept(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64>;

    /// The link went up or down.
    fn link_changed(&self, up: bool);

    /// The offloads this stack takes on indicated packets (none unless it says so).
    fn offloads(&self) -> StackOffloads {
        StackOffloads::default()
    }
}

/// The platform.
pub struct HostPlatform {
    kernel: Arc<HostKernel>,
    stack: Arc<dyn StackSide>,
    faults: Arc<HostFaults>,
    resources: Arc<HostResources>,
    epoch: Instant,
    adapter: OnceLock<TryWeak<AdapterInner<HostPlatform>>>,
    /// Calls into the stack side (indications) made while an engine spin lock was held; in the
    /// kernel such a call would run at DISPATCH_LEVEL under the driver's lock. Must stay 0.
    calls_under_lock: Arc<AtomicU64>,
    /// No consumer thread: the Receive ring moves only when the test calls
    /// [`Session::poll_receive`] (deterministic, single-threaded).
    polled: bool,
    /// The hook run at the next timeout, and the log of the timed waits that timed out.
    timed_waits: Arc<TimedWaits>,
    /// Every priority change asked of a worker of this adapter.
    priorities: Arc<PriorityLog>,
}

/// What the host keeps of the engine's timed waits (the consumer's re-checks are the only ones).
#[derive(Default)]
struct TimedWaits {
    /// Runs once, on the thread whose next timed wait ends by its timeout, before that wait
    /// returns: a test acts in the window between a timeout and the waiter's next step
    /// ([`HostDriver::on_next_wait_timeout`]).
    hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// The timeout, in nanoseconds, of each timed wait that ended by its timeout, oldest first;
    /// the last [`TIMED_OUT_WAITS_KEPT`] only ([`HostDriver::timed_out_waits`]).
    timed_out: std::sync::Mutex<std::collections::VecDeque<u64>>,
}

/// How many timed-out waits [`TimedWaits`] remembers (an idle consumer adds one every few
/// milliseconds: the log stays bounded however long a test runs).
const TIMED_OUT_WAITS_KEPT: usize = 256;

impl Platform for HostPlatform {
    type RawMutex = HostSpinLock;
    type Event = HostEvent;
    type Mapping = HostMapping;
    type Worker = HostWorker;
    type Indication = HostIndication;

    fn map_ring(
        &self,
        _role: RingRole,
        ring_ptr: u64,
        ring_size: u32,
        caller: CallerBitness,
    ) -> Result<HostMapping, PlatformError> {
        if self.faults.fail(FaultKind::Map) {
            return Err(PlatformError::InsufficientResources);
        }
        // A 32-bit caller cannot name memory above 4 GiB; the host's allocations can lie there,
        // so the host accepts them (the registration validator already bounded the range).
        let _ = caller;
        let memory = self.kernel.probe(ring_ptr, u64::from(ring_size)).ok_or(PlatformError::InvalidRingAddress)?;
        // The engine's own view of the pages: any access after the release faults.
        let view = memory.map_view(ring_ptr, u64::from(ring_size)).ok_or(PlatformError::InsufficientResources)?;
        let base = view.base();
        let len = if self.faults.short_map.load(Ordering::SeqCst) {
            (ring_size as usize).saturating_sub(1)
        } else {
            ring_size as usize
        };
        // The host's own bookkeeping (the stand-in for the MDL), exempt from allocation faults.
        let (live, anchor) = platform_allocation(|| {
            (
                Live::new(&self.resources, |r| &r.mappings),
                Arc::new(IndicationAnchor { _view: view, _memory: memory, resources: Arc::clone(&self.resources) }),
            )
        });
        Ok(HostMapping { base, len, anchor, live })
    }

    fn reference_event(&self, _role: RingRole, handle: u64) -> Result<HostEvent, PlatformError> {
        if self.faults.fail(FaultKind::ReferenceEvent) {
            return Err(PlatformError::InvalidHandle);
        }
        let event = self.kernel.event(handle).ok_or(PlatformError::InvalidHandle)?;
        Ok(platform_allocation(|| event.counted(Live::new(&self.resources, |r| &r.event_references))))
    }

    fn create_event(&self) -> Result<HostEvent, PlatformError> {
        if self.faults.fail(FaultKind::CreateEvent) {
            return Err(PlatformError::InsufficientResources);
        }
        Ok(platform_allocation(|| {
            HostEvent::new(false, false).counted(Live::new(&self.resources, |r| &r.engine_events))
        }))
    }

    fn wait_any<const N: usize>(&self, events: &[&HostEvent; N]) -> usize {
        // The kernel platform's limit, enforced here too, so that host builds refuse an engine
        // wait the kernel could not make.
        const { assert!(N >= 1 && N <= MAX_WAIT_EVENTS, "a wait takes one to MAX_WAIT_EVENTS events") };
        HostEvent::wait_any(events, None).unwrap_or(0)
    }

    fn yield_now(&self) {
        std::thread::yield_now();
    }

    fn wait_any_timeout<const N: usize>(&self, events: &[&HostEvent; N], timeout_ns: u64) -> Option<usize> {
        const { assert!(N >= 1 && N <= MAX_WAIT_EVENTS, "a wait takes one to MAX_WAIT_EVENTS events") };
        let signalled = HostEvent::wait_any(events, Some(std::time::Duration::from_nanos(timeout_ns)));
        if signalled.is_none() && timeout_ns != 0 {
            platform_allocation(|| {
                let mut log = self.timed_waits.timed_out.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() == TIMED_OUT_WAITS_KEPT {
                    log.pop_front();
                }
                log.push_back(timeout_ns);
            });
            let hook = self.timed_waits.hook.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(hook) = hook {
                hook();
            }
        }
        signalled
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn spawn_worker(&self, session: TryArc<Session<Self>>) -> Result<HostWorker, PlatformError> {
        if self.faults.fail(FaultKind::Spawn) {
            return Err(PlatformError::ThreadStart);
        }
        let priorities = Arc::clone(&self.priorities);
        if self.polled {
            return Ok(HostWorker { thread: None, priorities });
        }
        platform_allocation(|| {
            let live = Live::new(&self.resources, |r| &r.workers);
            std::thread::Builder::new()
                .name("ringtun-receive".into())
                .spawn(move || {
                    session.run_receive();
                    drop(session);
                    drop(live);
                })
                .map(|thread| HostWorker { thread: Some(thread), priorities })
                .map_err(|_| PlatformError::ThreadStart)
        })
    }

    fn prepare_indication(
        &self,
        mapping: &HostMapping,
        header: &[u8],
        offset: usize,
        len: u32,
        info: &IndicationInfo,
        token: u64,
    ) -> Option<HostIndication> {
        if self.faults.fail(FaultKind::Indication) {
            return None;
        }
        let end = offset.checked_add(len as usize)?;
        if end > mapping.len {
            return None;
        }
        let mut copied = [0u8; ring_abi::MAX_OFFLOAD_HEADER];
        copied.get_mut(..header.len())?.copy_from_slice(header);
        let ring_offset = offset;
        let ptr = mapping.base.wrapping_add(offset).cast_const();
        Some(HostIndication {
            token,
            info: *info,
            header: copied,
            header_len: header.len() as u8,
            ptr,
            len,
            ring_offset,
            _hold: IndicationHold::new(&mapping.anchor),
        })
    }

    fn stack_offloads(&self) -> StackOffloads {
        self.stack.offloads()
    }

    fn indicate(&self, batch: &mut Vec<HostIndication>) {
        if HostSpinLock::held() != 0 {
            self.calls_under_lock.fetch_add(1, Ordering::SeqCst);
        }
        // Drained, not taken: the engine keeps the batch's preallocated capacity.
        let immediate = self.stack.accept(&mut batch.drain(..));
        if !immediate.is_empty() {
            if let Some(adapter) = self.adapter.get().and_then(TryWeak::upgrade) {
                Adapter { inner: adapter }.return_indications(immediate);
            }
        }
    }

    fn set_link_state(&self, up: bool) {
        if HostSpinLock::held() != 0 {
            self.calls_under_lock.fetch_add(1, Ordering::SeqCst);
        }
        platform_allocation(|| self.stack.link_changed(up));
    }
}

/// A handle opened on the host driver's device.
#[derive(Debug)]
pub struct HostFile {
    id: usize,
    process: u64,
    bitness: CallerBitness,
}

impl HostFile {
    /// The file identity (the FILE_OBJECT stand-in).
    pub fn id(&self) -> usize {
        self.id
    }

    /// The opening process.
    pub fn process(&self) -> u64 {
        self.process
    }
}

/// The driver as a client on the host sees it.
pub struct HostDriver {
    adapter: Adapter<HostPlatform>,
    kernel: Arc<HostKernel>,
    stack: Arc<FakeStack>,
    faults: Arc<HostFaults>,
    resources: Arc<HostResources>,
    calls_under_lock: Arc<AtomicU64>,
    timed_waits: Arc<TimedWaits>,
    priorities: Arc<PriorityLog>,
    next_file: AtomicUsize,
}

impl HostDriver {
    /// A driver with one adapter, running, no session; its stack is a [`FakeStack`].
    pub fn new() -> Arc<Self> {
        match Self::try_new() {
            Ok(driver) => driver,
            // Only the engine's adapter allocation can fail, and only under a failing allocator.
            Err(_) => out_of_memory(),
        }
    }

    /// A driver with one adapter and a [`FakeStack`], or the engine's error when the adapter
    /// cannot be created (its allocation failed).
    pub fn try_new() -> Result<Arc<Self>, PlatformError> {
        let stack = platform_allocation(|| Arc::new(FakeStack::default()));
        Self::build(Arc::clone(&stack) as Arc<dyn StackSide>, stack, false)
    }

    /// Like [`HostDriver::new`], but without a consumer thread: every session's Receive ring is
    /// consumed only by [`HostDriver::poll_receive`] on the caller's thread, so a run is
    /// deterministic (fuzzing, exact regression tests).
    pub fn new_polled() -> Arc<Self> {
        let stack = platform_allocation(|| Arc::new(FakeStack::default()));
        match Self::build(Arc::clone(&stack) as Arc<dyn StackSide>, stack, true) {
            Ok(driver) => driver,
            Err(_) => out_of_memory(),
        }
    }

    /// One consumer round of the current session on this thread (polled drivers only; with a
    /// consumer thread the round is that thread's and this returns `NotRunning`).
    pub fn poll_receive(&self) -> ReceivePoll {
        match self.adapter.session() {
            Some(session) => session.poll_receive(),
            None => ReceivePoll::NotRunning,
        }
    }

    /// A driver whose indications go to `side` instead of the fake stack ([`Self::stack`] then
    /// receives nothing).
    pub fn with_stack_side(side: Arc<dyn StackSide>) -> Arc<Self> {
        match Self::build(side, Arc::new(FakeStack::default()), false) {
            Ok(driver) => driver,
            Err(_) => out_of_memory(),
        }
    }

    fn build(side: Arc<dyn StackSide>, stack: Arc<FakeStack>, polled: bool) -> Result<Arc<Self>, PlatformError> {
        let (kernel, faults, resources, calls_under_lock, timed_waits, priorities) = platform_allocation(|| {
            (
                HostKernel::new(),
                Arc::new(HostFaults::default()),
                Arc::new(HostResources::default()),
                Arc::new(AtomicU64::new(0)),
                Arc::new(TimedWaits::default()),
                Arc::new(PriorityLog::default()),
            )
        });
        let platform = HostPlatform {
            kernel: Arc::clone(&kernel),
            stack: side,
            faults: Arc::clone(&faults),
            resources: Arc::clone(&resources),
            epoch: Instant::now(),
            adapter: OnceLock::new(),
            calls_under_lock: Arc::clone(&calls_under_lock),
            polled,
            timed_waits: Arc::clone(&timed_waits),
            priorities: Arc::clone(&priorities),
        };
        let adapter = Adapter::new(platform)?;
        let _ = adapter.inner.platform.adapter.set(TryArc::downgrade(&adapter.inner));
        Ok(platform_allocation(|| {
            Arc::new(Self {
                adapter,
                kernel,
                stack,
                faults,
                resources,
                calls_under_lock,
                timed_waits,
                priorities,
                next_file: AtomicUsize::new(0x1000),
            })
        }))
    }

    /// Opens a handle from `process` with the given bitness.
    pub fn open(&self, process: u64, bitness: CallerBitness) -> HostFile {
        HostFile { id: self.next_file.fetch_add(0x10, Ordering::Relaxed), process, bitness }
    }

    /// `DeviceIoControl` on `file`.
    pub fn ioctl(&self, file: &HostFile, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, Status> {
        let owner = Owner { file: file.id, process: file.process };
        self.adapter.device_control(owner, file.bitness, code, input, output)
    }

    /// Closes `file` (IRP_MJ_CLOSE): ends the session it owns.
    ///
    /// Like every teardown through `HostDriver`, bounded by [`TEARDOWN_LIMIT`].
    pub fn close(&self, file: HostFile) {
        let id = file.id;
        self.bounded("close", move |adapter| {
            adapter.close(id);
        });
    }

    /// The process `process` exited: what the kernel shell's process-exit notification does
    /// for each adapter (look for a session of the process, end it or wait for its teardown).
    /// Bounded by [`TEARDOWN_LIMIT`].
    pub fn process_exited(&self, process: u64) {
        self.bounded("process exit", move |adapter| {
            while adapter.has_session_of_process(process) {
                adapter.process_exited(process);
            }
        });
    }

    /// Halts the adapter (ends any session, refuses new ones), bounded by [`TEARDOWN_LIMIT`].
    pub fn halt(&self) {
        self.bounded("halt", Adapter::halt);
    }

    /// Runs a teardown on a thread of its own and waits for it at most [`TEARDOWN_LIMIT`]: an
    /// engine that hangs (a lost wake-up, a count that never reaches zero) makes the caller panic
    /// with what hung instead of blocking the test forever. The stuck thread is left behind.
    /// Called while the thread is already panicking, it does not wait.
    // The panic is the report: this is the test harness's side of the host platform, never the
    // engine's, and a test fails on it like on a failed assertion.
    #[allow(clippy::panic)]
    fn bounded(&self, what: &'static str, teardown: impl FnOnce(&Adapter<HostPlatform>) + Send + 'static) {
        let adapter = self.adapter.clone();
        let (done, finished) = platform_allocation(|| std::sync::mpsc::sync_channel::<()>(1));
        let thread = platform_allocation(|| {
            std::thread::Builder::new().name(std::format!("ringtun-{what}")).spawn(move || {
                teardown(&adapter);
                let _ = done.send(());
            })
        });
        let Ok(thread) = thread else { panic!("{what}: no thread to run it on") };
        if std::thread::panicking() {
            // A failing test unwinding through a client's drop: its failure is already reported,
            // and waiting (or a second panic, which aborts) would only hide it. The engine has
            // its own mapping of the rings, so the client may free its memory meanwhile.
            return;
        }
        match finished.recv_timeout(TEARDOWN_LIMIT) {
            Ok(()) => {
                let _ = thread.join();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // The teardown panicked: the same panic here.
                if let Err(panic) = thread.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("{what} did not return within {TEARDOWN_LIMIT:?}: the engine hangs")
            }
        }
    }

    /// PnP query-remove, as the kernel shell delivers it: new registrations are refused until
    /// cancelled; a running session continues (the removal may still be vetoed).
    pub fn query_remove(&self) {
        self.adapter.refuse_registrations();
    }

    /// PnP cancel-remove: registrations are accepted again.
    pub fn cancel_remove(&self) {
        self.adapter.accept_registrations();
    }

    /// Surprise removal: the session ends and new registrations are refused.
    pub fn surprise_remove(&self) {
        self.bounded("surprise removal", |adapter| {
            adapter.end_session_and_refuse_registrations();
        });
    }

    /// The adapter.
    pub fn adapter(&self) -> &Adapter<HostPlatform> {
        &self.adapter
    }

    /// The kernel objects.
    pub fn kernel(&self) -> &Arc<HostKernel> {
        &self.kernel
    }

    /// The fake network stack (the stack side unless [`Self::with_stack_side`] plugged in another).
    pub fn stack(&self) -> &Arc<FakeStack> {
        &self.stack
    }

    /// How many indications or link-state changes reached the stack side while an engine spin
    /// lock was held (must stay 0).
    pub fn calls_under_lock(&self) -> u64 {
        self.calls_under_lock.load(Ordering::SeqCst)
    }

    /// Runs `action` once, on the thread whose next timed platform wait (the consumer's re-check
    /// sleep) ends by its timeout, after the timeout and before the wait returns: a deterministic
    /// way to publish, or publish and signal, exactly in that window.
    pub fn on_next_wait_timeout(&self, action: impl FnOnce() + Send + 'static) {
        let action: Box<dyn FnOnce() + Send> = platform_allocation(|| Box::new(action));
        *self.timed_waits.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(action);
    }

    /// The timeout, in nanoseconds, of each of the engine's timed waits that ended by its
    /// timeout, oldest first (the last 256): the consumer's re-check schedule as it ran.
    pub fn timed_out_waits(&self) -> Vec<u64> {
        platform_allocation(|| {
            self.timed_waits.timed_out.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect()
        })
    }

    /// Every priority change the engine asked of this adapter's consumer threads, in order.
    pub fn worker_priority_changes(&self) -> Vec<PriorityChange> {
        self.priorities.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fault injection.
    pub fn faults(&self) -> &HostFaults {
        &self.faults
    }

    /// Platform resources the engine holds now (mappings, events, threads, indications).
    pub fn resources(&self) -> ResourceCounts {
        self.resources.snapshot()
    }

    /// The stack sends `packets` out of the adapter as one batch. `Err(index)` if the engine
    /// left a packet's status unset (or set it twice).
    pub fn transmit(&self, packets: &[&[u8]]) -> Result<Vec<TransmitStatus>, usize> {
        self.transmit_offloaded(packets, &[])
    }

    /// [`Self::transmit`] with the stack's offload request for each packet (a large send, a
    /// checksum left to the adapter); missing entries ask nothing.
    pub fn transmit_offloaded(
        &self,
        packets: &[&[u8]],
        offloads: &[crate::engine::TransmitOffload],
    ) -> Result<Vec<TransmitStatus>, usize> {
        let mut batch = HostTransmitBatch::with_offloads(packets, offloads);
        self.adapter.transmit(&mut batch);
        batch.statuses()
    }
}

/// Longest a teardown through [`HostDriver`] (close, process exit, surprise removal, halt) may
/// take before it is reported as a hang. Teardowns take milliseconds, sanitized builds a few
/// times more: this only ever fires on an engine that would never return.
pub const TEARDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

#[cold]
fn out_of_memory() -> ! {
    std::process::abort()
}
