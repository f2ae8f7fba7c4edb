//! Soaks on the host platform: fault injection during traffic, and session ends under load.
//!
//! One *iteration* is one session's life: a client with several sending threads and a receiving
//! thread that releases out of order, several stack threads transmitting towards the client, a
//! stack that holds indications and returns them late and out of order — and, at a random
//! moment, an end (handle closed, owner process exited, adapter halted, surprise removal), with
//! pauses and restarts at random points. The fault soak also fails every fallible platform call
//! in turn at registration, and at random during traffic.
//!
//! After every iteration the soak checks, from the two logs (what each side accepted, what the
//! other side saw) and the engine's counters:
//! - **outgoing** (client → stack): every delivered packet was allocated by the client, is
//!   byte-exact, and is delivered once; the driver consumes the Receive ring in order, so the
//!   delivered packets lie within the first `delivered + dropped` packets the client allocated,
//!   where `dropped` is what the counters say was dropped (`receive_dropped_no_resources`, which
//!   must equal the indication failures injected); the rest were still in the ring when the session ended (the end
//!   point documented in docs/ring-protocol.md, section 10);
//! - **incoming** (stack → client): every packet the client read was accepted (status `Sent`),
//!   is byte-exact and read once; per stack thread, what the client read is a prefix of what
//!   that thread had accepted (the rest ended with the session: the `RING_STOPPED` marker
//!   replaces the last published tail); every packet not accepted got a status that is counted
//!   (`send_dropped_ring_full`, `send_dropped_not_running`);
//! - **resources**: once the session is gone and the client closed, no ring mapping, engine
//!   event, event reference, consumer thread or indication is alive in the platform, no ring
//!   memory is referenced and no event handle is open;
//! - the adapter accepts the next session (after a halt: refuses it, and a new adapter does).
//!
//! A third of the v2 sessions run with offloads and the write-space signal: the client sends
//! TCP packets, every fourth a super-packet (`DATA_VALID` or `NEEDS_CSUM`), to a stack that
//! takes nothing, Windows-like receive coalescing, or everything (a Linux TUN device), and waits
//! on the write-space event when its ring is full; the stack sends TCP packets, every fourth a
//! large send with its request. Every packet carries its id in the TCP acknowledgement number,
//! which every segment keeps: the outgoing check then groups what was delivered by id and
//! checks each super-packet whole (exact bytes) or cut (every segment a valid packet, the
//! payloads the original's), and that the indications add up: delivered + dropped (counted)
//! covers, in order, every packet up to the last one delivered.
//!
//! Seeded: every random choice derives from the run's seed (printed on failure), so a failing
//! run can be replayed with `RINGTUN_SOAK_SEED`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::{
    CallerBitness, GsoKind, OffloadMeta, RingRole, RingVersion, MIN_RING_CAPACITY, OFFLOAD_F_DATA_VALID,
    OFFLOAD_F_NEEDS_CSUM,
};
use ringtun::backend::host::{device_error, HostBackend, HostDriver};
use ringtun::backend::{Backend as ClientBackend, DeviceError, RingMemory};
use ringtun::{Error, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::{RegisterError, TransmitOffload, TransmitStatus};
use ringtun_driver::host::{FaultKind, HostIndication, ResourceCounts, RingAllocation};
use ringtun_driver::platform::{PlatformError, StackOffloads};

use crate::offload_model::{check_segments, with_pseudo_sum, PacketSpec};
use crate::packets::{ipv4, raw, seq_of, Rng};
use crate::{ensure, ensure_eq, Failure};

/// How long any wait in the soak may take before the iteration fails as hung.
const PATIENCE: Duration = Duration::from_secs(20);

/// What a soak run does.
#[derive(Clone, Copy, Debug)]
pub struct SoakConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Session lives to run.
    pub iterations: u32,
}

impl SoakConfig {
    /// From the environment: `RINGTUN_SOAK_SEED` (else a seed from the clock),
    /// `RINGTUN_SOAK_ITERATIONS` (else `ci_iterations`, or `long_iterations` when
    /// `RINGTUN_SOAK=long`).
    pub fn from_env(ci_iterations: u32, long_iterations: u32) -> Self {
        let seed = std::env::var("RINGTUN_SOAK_SEED").ok().and_then(|s| parse_u64(&s)).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos());
            (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
        });
        let long = std::env::var("RINGTUN_SOAK").is_ok_and(|v| v == "long");
        let iterations = std::env::var("RINGTUN_SOAK_ITERATIONS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(if long { long_iterations } else { ci_iterations });
        Self { seed, iterations }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// How a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The client closes its handle (while the stack still transmits).
    Close,
    /// The owner process exits (while the client's threads still run).
    ProcessExit,
    /// The adapter is halted; registrations are refused afterwards.
    Halt,
    /// Surprise removal (forced close).
    SurpriseRemove,
}

/// What a run did, for the report.
#[derive(Clone, Debug, Default)]
pub struct SoakReport {
    /// Iterations run.
    pub iterations: u32,
    /// Sessions that carried traffic.
    pub sessions: u64,
    /// Ends by kind: close, process exit, halt, surprise removal.
    pub ends: [u64; 4],
    /// Pauses (each followed by a restart).
    pub pauses: u64,
    /// v1 sessions with Wintun's single-allocation layout that carried traffic.
    pub wintun_layout_sessions: u64,
    /// v2 sessions with offloads and the write-space signal that carried traffic.
    pub offload_sessions: u64,
    /// Of their outgoing super-packets: delivered whole, and cut (all segments delivered).
    pub super_packets_whole: u64,
    /// See `super_packets_whole`.
    pub super_packets_cut: u64,
    /// Outgoing packets the clients of offload sessions allocated (not in `outgoing_*`: their
    /// super-packets may become several indications).
    pub offload_outgoing_allocated: u64,
    /// Indications made for them.
    pub offload_outgoing_indications: u64,
    /// Indications dropped (counted) for them.
    pub offload_outgoing_dropped: u64,
    /// Registrations refused because of an injected fault.
    pub refused_registrations: u64,
    /// Failures injected, all kinds.
    pub faults_injected: u64,
    /// Registrations refused because a large allocation (ring memory, engine bookkeeping) failed.
    pub allocation_failures: u64,
    /// Outgoing packets the client allocated (each then sent).
    pub outgoing_allocated: u64,
    /// Outgoing packets the client sent (`send` returned `Ok`).
    pub outgoing_accepted: u64,
    /// Outgoing packets delivered to the stack.
    pub outgoing_delivered: u64,
    /// Outgoing packets dropped and counted by the driver.
    pub outgoing_dropped: u64,
    /// Outgoing packets still in the ring when their session ended.
    pub outgoing_unconsumed: u64,
    /// Incoming packets the driver accepted (status `Sent`).
    pub incoming_accepted: u64,
    /// Incoming packets the client read.
    pub incoming_read: u64,
    /// Incoming packets refused with a counted status.
    pub incoming_refused: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} iterations in {:.1} s: {} sessions (ends: close {}, exit {}, halt {}, removal {}; {} pauses; \
             {} of them v1 with Wintun's single-allocation layout, {} v2 with offloads: {} packets allocated, {} \
             super-packets delivered whole, {} cut, {} indications + {} dropped (counted)), {} registrations refused \
             by {} injected platform faults and {} by failed allocations; outgoing {} allocated ({} sent) = {} delivered + {} dropped (counted) + {} unconsumed at the end; \
             incoming {} accepted, {} read, {} refused (counted)",
            self.iterations,
            self.elapsed.as_secs_f64(),
            self.sessions,
            self.ends[0],
            self.ends[1],
            self.ends[2],
            self.ends[3],
            self.pauses,
            self.wintun_layout_sessions,
            self.offload_sessions,
            self.offload_outgoing_allocated,
            self.super_packets_whole,
            self.super_packets_cut,
            self.offload_outgoing_indications,
            self.offload_outgoing_dropped,
            self.refused_registrations,
            self.faults_injected,
            self.allocation_failures,
            self.outgoing_allocated,
            self.outgoing_accepted,
            self.outgoing_delivered,
            self.outgoing_dropped,
            self.outgoing_unconsumed,
            self.incoming_accepted,
            self.incoming_read,
            self.incoming_refused,
        )
    }
}

/// Length of outgoing packet `id` (20..=1419 bytes).
fn out_len(id: u32) -> usize {
    20 + (id.wrapping_mul(37) % 1400) as usize
}

/// Incoming packet `seq` of stack thread `thread`: the thread in the top byte of the sequence.
fn in_seq(thread: u32, seq: u32) -> u32 {
    (thread << 24) | (seq & 0x00FF_FFFF)
}

/// Length of incoming packet with sequence `seq` (12..=1523 bytes).
fn in_len(seq: u32) -> usize {
    12 + (seq.wrapping_mul(53) % 1512) as usize
}

/// The offloads of a stack an offload iteration meets.
fn stack_offloads(mode: u8) -> StackOffloads {
    match mode % 3 {
        0 => StackOffloads::default(),
        1 => StackOffloads {
            coalesced_tcp4: true,
            coalesced_tcp6: true,
            checksum_valid: true,
            coalescing_rules: true,
            ..StackOffloads::default()
        },
        _ => StackOffloads {
            coalesced_tcp4: true,
            coalesced_tcp6: true,
            coalesced_udp: true,
            partial_checksum: true,
            checksum_valid: true,
            coalescing_rules: false,
        },
    }
}

/// An offload iteration's outgoing packet `id`: IPv4 TCP with `id` as its acknowledgement
/// number; every fourth a super-packet. Returns the packet as built (valid checksums), the bytes
/// the client writes, and its metadata.
fn out_offload(id: u32) -> (PacketSpec, Vec<u8>, Vec<u8>, OffloadMeta) {
    let big = id.is_multiple_of(4);
    let payload =
        if big { 2000 + (id.wrapping_mul(97) % 6000) as usize } else { (id.wrapping_mul(37) % 1400) as usize };
    let spec = PacketSpec { ack: id, ..PacketSpec::tcp(false, payload, id) };
    let original = spec.bytes();
    if !big {
        return (spec, original.clone(), original, OffloadMeta::NONE);
    }
    let gso = 1000 + (id % 449) as u16;
    if (id / 4).is_multiple_of(2) {
        (spec, original.clone(), original, spec.meta(gso, OFFLOAD_F_DATA_VALID))
    } else {
        let written = with_pseudo_sum(&spec, &original);
        (spec, original, written, spec.meta(gso, OFFLOAD_F_NEEDS_CSUM))
    }
}

/// How the engine hands outgoing packet `id` of an offload iteration to `stack`: `None` as one
/// packet with these bytes, `Some(segments)` cut.
fn out_offload_delivery(id: u32, stack: &StackOffloads) -> (Vec<u8>, Option<usize>) {
    let (spec, original, written, meta) = out_offload(id);
    if meta.is_none() {
        return (written, None);
    }
    let valid = meta.flags == OFFLOAD_F_DATA_VALID;
    if stack.coalesced_tcp4 && ((valid && stack.checksum_valid) || stack.partial_checksum) {
        // Whole: as written where the stack takes the client's checksum state; a DATA_VALID
        // packet for a stack that cannot be told so but completes partial checksums gets the
        // pseudo-header sum (not met with these stacks: both that coalesce can be told).
        return (written, None);
    }
    let segments = (original.len() - spec.header_len()).div_ceil(usize::from(meta.gso_size));
    (original, Some(segments))
}

/// An offload iteration's incoming packet `seq` (its acknowledgement number): IPv4 TCP, every
/// fourth a large send with its request. Returns what the stack sends, the request, and what
/// the client must read (bytes and metadata).
fn in_offload(seq: u32) -> (Vec<u8>, TransmitOffload, Vec<u8>, OffloadMeta) {
    let big = seq % 4 == 1;
    let payload =
        if big { 3000 + (seq.wrapping_mul(89) % 3000) as usize } else { (seq.wrapping_mul(53) % 1400) as usize };
    let spec = PacketSpec { ack: seq, ..PacketSpec::tcp(false, payload, seq) };
    let original = spec.bytes();
    if !big {
        return (original.clone(), TransmitOffload::default(), original, OffloadMeta::NONE);
    }
    let gso = 1200 + (seq % 249) as u16;
    let request = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, gso)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    let sent = crate::offload_model::as_stack_sends(&spec, &original);
    (sent, request, with_pseudo_sum(&spec, &original), spec.meta(gso, OFFLOAD_F_NEEDS_CSUM))
}

/// The acknowledgement number of an IPv4 TCP packet (an offload iteration's packet id).
fn ack_of(p: &[u8]) -> Option<u32> {
    p.get(28..32).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

// ----- allocation failures ---------------------------------------------------------------------

/// A global allocator for a soak binary that can fail one chosen large allocation of the thread
/// that armed it ([`arm_large_allocation_failure`]); every other allocation goes to the system
/// allocator. Large allocations on the registering thread are exactly the ones that can fail
/// for lack of memory in a registration: the client's ring memory and the engine's per-session
/// bookkeeping (the in-flight queue, the indication batch, the reservation queue), all taken with
/// `try_reserve` or checked for null. An infallible allocation failed here would abort the test
/// run, which is how this soak would report one.
pub struct FaultyAllocator;

/// Allocations of at least this many bytes are "large".
pub const LARGE_ALLOCATION: usize = 4096;

thread_local! {
    static FAIL_NTH_LARGE: Cell<u32> = const { Cell::new(0) };
    static LARGE_FAILED: Cell<u64> = const { Cell::new(0) };
}

fn fail_large(size: usize) -> bool {
    if size < LARGE_ALLOCATION {
        return false;
    }
    FAIL_NTH_LARGE
        .try_with(|n| match n.get() {
            0 => false,
            1 => {
                n.set(0);
                let _ = LARGE_FAILED.try_with(|f| f.set(f.get() + 1));
                true
            }
            k => {
                n.set(k - 1);
                false
            }
        })
        .unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to the system allocator, except that `alloc`,
// `alloc_zeroed` and a growing `realloc` may return null (allowed by the `GlobalAlloc`
// contract: it reports allocation failure). The thread-locals used have no destructor and are
// accessed with `try_with`, so the allocator never allocates or panics itself.
unsafe impl GlobalAlloc for FaultyAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if fail_large(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's layout (non-zero size by the trait's contract).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if fail_large(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout` (every successful allocation here does).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && fail_large(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `new_size`'s rules.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Makes the `n`-th large allocation of this thread from now fail (0: none).
pub fn arm_large_allocation_failure(n: u32) {
    let _ = FAIL_NTH_LARGE.try_with(|c| c.set(n));
}

/// Large allocations this thread has failed so far.
pub fn large_allocations_failed() -> u64 {
    LARGE_FAILED.try_with(Cell::get).unwrap_or(0)
}

/// Whether the running binary's global allocator is [`FaultyAllocator`].
pub fn faulty_allocator_installed() -> bool {
    arm_large_allocation_failure(1);
    let mut probe: Vec<u8> = Vec::new();
    let failed = probe.try_reserve_exact(LARGE_ALLOCATION).is_err();
    arm_large_allocation_failure(0);
    failed
}

// ----- Wintun's single-allocation layout ---------------------------------------------------------

/// A client backend that places both rings in one allocation the way Wintun's own client does:
/// the Send ring at the start of the region and the Receive ring right after it, at
/// `region + ring_size` (4 mod 8 for a v1 ring: `ring_size` is 12 + capacity + 0x10000).
pub struct WintunLayout {
    inner: HostBackend,
    region: Mutex<Option<(Arc<RingAllocation>, usize)>>,
}

impl WintunLayout {
    /// Opens the device as `process`.
    pub fn open(driver: &Arc<HostDriver>, process: u64) -> Self {
        Self { inner: HostBackend::open(driver, process, CallerBitness::Bits64), region: Mutex::new(None) }
    }
}

/// One ring's window inside the shared region.
pub struct RegionWindow {
    region: Arc<RingAllocation>,
    offset: usize,
    len: usize,
}

impl RingMemory for RegionWindow {
    fn as_ptr(&self) -> *mut u8 {
        self.region.as_ptr().wrapping_add(self.offset)
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl ClientBackend for WintunLayout {
    type Event = <HostBackend as ClientBackend>::Event;
    type Memory = RegionWindow;

    fn device_io_control(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, DeviceError> {
        self.inner.device_io_control(code, input, output)
    }

    fn alloc_ring(&self, size: usize) -> Result<RegionWindow, DeviceError> {
        let mut region = self.region.lock().unwrap_or_else(|e| e.into_inner());
        match region.take() {
            // First ring (the client prepares the Send ring first): allocate room for both.
            None => {
                let both = size.checked_mul(2).ok_or(DeviceError::InsufficientResources)?;
                let memory = self.inner.driver().kernel().alloc_ring(both).ok_or(DeviceError::InsufficientResources)?;
                *region = Some((Arc::clone(&memory), size));
                Ok(RegionWindow { region: memory, offset: 0, len: size })
            }
            // Second ring (Receive): right behind the first.
            Some((memory, first)) if first == size => Ok(RegionWindow { region: memory, offset: size, len: size }),
            Some(_) => Err(DeviceError::InsufficientResources),
        }
    }

    fn create_event(&self) -> Result<Self::Event, DeviceError> {
        self.inner.create_event()
    }

    fn bitness(&self) -> CallerBitness {
        CallerBitness::Bits64
    }
}

// ----- one iteration ------------------------------------------------------------------------------

/// Choices for one iteration.
#[derive(Clone, Copy, Debug)]
struct Plan {
    version: VersionPreference,
    /// v2 with offloads and the write-space signal, towards a stack that takes these offloads.
    offload: Option<StackOffloads>,
    wintun_layout: bool,
    client_senders: u32,
    stack_senders: u32,
    hold: bool,
    end: End,
    pause: bool,
    pause_at_end: bool,
    run_for: Duration,
    fault_ppm: u32,
}

/// What the client's threads recorded.
#[derive(Default)]
struct ClientLog {
    /// Outgoing ids in allocation order are 0..allocated; these are the ones `send` accepted.
    sent: Vec<u32>,
    /// Ids whose `send` reported the session ended (may or may not have been consumed).
    send_failed: Vec<u32>,
    allocated: u32,
    /// Incoming packets read (copies, with their offload metadata).
    read: Vec<(Vec<u8>, OffloadMeta)>,
}

/// What each stack thread recorded: accepted sequence numbers in order, refused count.
#[derive(Default, Clone)]
struct StackLog {
    accepted: Vec<u32>,
    refused: u64,
}

struct Harness {
    driver: Arc<HostDriver>,
    /// What the adapter itself holds with no session (its own `resumed` event).
    baseline: ResourceCounts,
    rng: Rng,
    report: SoakReport,
    process: u64,
    faults: bool,
}

impl Harness {
    fn counters_snapshot(&self) -> ringtun_driver::engine::StatsSnapshot {
        self.driver.adapter().stats()
    }

    /// Every resource released: nothing in the platform, no ring memory, no handle.
    fn check_released(&self, what: &str) -> Result<(), Failure> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let resources = self.driver.resources();
            let rings = self.driver.kernel().live_ring_allocations();
            let handles = self.driver.kernel().open_handles();
            ensure_eq!(resources.unmapped_in_use, 0, "{what}: a ring was unmapped while the stack held a packet in it");
            if resources == self.baseline && rings == 0 && handles == 0 {
                return Ok(());
            }
            // A consumer thread counts itself out as its last act, just after teardown joined it.
            ensure!(
                Instant::now() < deadline,
                "{what}: resources still held: {resources:?} (the adapter alone: {:?}), ring allocations {rings}, \
                 handles {handles}",
                self.baseline
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn plan(&mut self, teardown: bool) -> Plan {
        let rng = &mut self.rng;
        let version = if rng.range(0, 1) == 0 { VersionPreference::V1Only } else { VersionPreference::PreferV2 };
        let end = match rng.range(0, 3) {
            0 => End::Close,
            1 => End::ProcessExit,
            2 => End::Halt,
            _ => End::SurpriseRemove,
        };
        let offload = (version == VersionPreference::PreferV2 && rng.range(0, 2) == 0)
            .then(|| stack_offloads(rng.range(0, 2) as u8));
        Plan {
            version,
            offload,
            wintun_layout: version == VersionPreference::V1Only && rng.range(0, 2) == 0,
            client_senders: rng.range(1, 3) as u32,
            stack_senders: rng.range(1, 3) as u32,
            hold: rng.range(0, 1) == 0,
            end,
            pause: teardown && rng.range(0, 3) == 0,
            pause_at_end: teardown && rng.range(0, 7) == 0,
            run_for: Duration::from_micros(rng.range(0, 4000)),
            fault_ppm: if self.faults { rng.range(0, 3) as u32 * 20_000 } else { 0 },
        }
    }

    fn config(version: VersionPreference) -> SessionConfig {
        SessionConfig {
            version,
            incoming_capacity: MIN_RING_CAPACITY,
            outgoing_capacity: MIN_RING_CAPACITY,
            ..SessionConfig::default()
        }
    }

    fn plan_config(plan: &Plan) -> SessionConfig {
        SessionConfig {
            offload: plan.offload.is_some(),
            write_space: plan.offload.is_some(),
            ..Self::config(plan.version)
        }
    }

    /// One iteration: open a session (retrying registrations an injected fault refused), run
    /// traffic, end it, check.
    fn iteration(&mut self, teardown: bool) -> Result<(), Failure> {
        let plan = self.plan(teardown);
        self.process += 1;
        let process = self.process;
        let before = self.counters_snapshot();
        let seed = self.rng.next_u64();
        self.driver.faults().set_random(plan.fault_ppm, seed);
        let injected_before = self.driver.faults().injected_total();
        let this_driver = Arc::clone(&self.driver);
        let result = if plan.wintun_layout {
            let driver = Arc::clone(&self.driver);
            match self.open_retrying(
                |process| WintunLayout::open(&driver, process),
                Self::plan_config(&plan),
                process,
            )? {
                Ok(session) => {
                    self.report.wintun_layout_sessions += 1;
                    self.run(session, plan, process, seed, before)
                }
                Err(e) => Err(Failure::new(format!("Wintun-layout registration: {e}"))),
            }
        } else {
            let driver = Arc::clone(&self.driver);
            match self.open_retrying(
                |process| HostBackend::open(&driver, process, CallerBitness::Bits64),
                Self::plan_config(&plan),
                process,
            )? {
                Ok(session) => self.run(session, plan, process, seed, before),
                Err(e) => Err(Failure::new(format!("registration: {e}"))),
            }
        };
        // (After a halt `self.driver` is the adapter's successor: count on the one that ran.)
        self.report.faults_injected += this_driver.faults().injected_total() - injected_before;
        this_driver.faults().set_random(0, 0);
        result
    }

    /// Opens a session, retrying while a refusal was caused by an injected fault (each refusal
    /// must leave nothing behind).
    fn open_retrying<C: ClientBackend>(
        &mut self,
        open: impl Fn(u64) -> C,
        config: SessionConfig,
        process: u64,
    ) -> Result<Result<Session<C>, Error>, Failure> {
        for _ in 0..1000 {
            let injected = self.driver.faults().injected_total();
            match Session::open(open(process), config) {
                Err(_) if self.driver.faults().injected_total() > injected => {
                    self.report.refused_registrations += 1;
                    self.check_released("after a registration refused by an injected fault")?;
                }
                other => return Ok(other),
            }
        }
        Err(Failure::new("1000 registrations in a row refused by injected faults"))
    }

    fn run<C: ClientBackend>(
        &mut self,
        session: Session<C>,
        plan: Plan,
        process: u64,
        seed: u64,
        before: ringtun_driver::engine::StatsSnapshot,
    ) -> Result<(), Failure> {
        self.report.sessions += 1;
        let driver = Arc::clone(&self.driver);
        let indication_faults_before = driver.faults().injected(FaultKind::Indication);
        let stack = Arc::clone(driver.stack());
        stack.set_mode(if plan.hold {
            ringtun_driver::host::ReturnMode::Hold
        } else {
            ringtun_driver::host::ReturnMode::Immediate
        });
        stack.take_delivered();
        stack.set_offloads(plan.offload.unwrap_or_default());
        if plan.offload.is_some() {
            ensure!(session.offloads() && session.write_space_signal(), "offloads not granted");
            self.report.offload_sessions += 1;
        }
        let offload = plan.offload.is_some();
        let version = session.version();
        let session = Arc::new(session);
        // One reference per client thread, and the iteration's own: for a close, dropped inside
        // the traffic (the last reference closes the handle while the stack still transmits).
        let mut client_refs: Vec<Arc<Session<C>>> = (0..=plan.client_senders).map(|_| Arc::clone(&session)).collect();
        let mut own = Some(session);
        let own_ref = &mut own;
        let client_log = Mutex::new(ClientLog::default());
        let order = Mutex::new(());
        let stop_client = AtomicBool::new(false);
        let stop_stack = AtomicBool::new(false);
        let stop_returner = AtomicBool::new(false);
        let moved = AtomicU64::new(0);
        let mut stack_logs: Vec<StackLog> = Vec::new();
        let mut paused = false;

        let outcome: Result<(), Failure> = thread::scope(|scope| {
            // Client senders: allocate in id order (under `order`), fill and send in parallel.
            let mut clients = Vec::new();
            for t in 0..plan.client_senders {
                let Some(session) = client_refs.pop() else { break };
                let (client_log, order, stop_client, moved) = (&client_log, &order, &stop_client, &moved);
                clients.push(scope.spawn(move || -> Result<(), Failure> {
                    let mut rng = Rng::new(seed ^ (0x1000 + u64::from(t)));
                    while !stop_client.load(Ordering::SeqCst) {
                        let guard = order.lock().unwrap_or_else(|e| e.into_inner());
                        let next = client_log.lock().unwrap_or_else(|e| e.into_inner()).allocated;
                        let (packet, meta) = if offload {
                            let (_, _, written, meta) = out_offload(next);
                            (written, meta)
                        } else {
                            (ipv4(out_len(next), next), OffloadMeta::NONE)
                        };
                        let slot = match session.allocate(packet.len(), 0, 0) {
                            Ok(slot) => slot,
                            Err(Error::RingFull) => {
                                drop(guard);
                                if offload {
                                    // Sleep on the write-space event until the driver frees room.
                                    match session.wait_for_send_space(packet.len(), 0, 0, Duration::from_millis(5)) {
                                        Ok(_) => {}
                                        Err(Error::SessionEnded) => return Ok(()),
                                        Err(e) => return Err(Failure::new(format!("wait for space: {e}"))),
                                    }
                                } else {
                                    thread::yield_now();
                                }
                                continue;
                            }
                            Err(Error::SessionEnded) => return Ok(()),
                            Err(e) => return Err(Failure::new(format!("allocate: {e}"))),
                        };
                        client_log.lock().unwrap_or_else(|e| e.into_inner()).allocated = next + 1;
                        drop(guard);
                        let mut slot = slot;
                        slot.data_mut().copy_from_slice(&packet);
                        if !meta.is_none() {
                            slot.set_offload(meta).map_err(|e| Failure::new(format!("set_offload: {e}")))?;
                        }
                        if rng.range(0, 15) == 0 {
                            thread::yield_now();
                        }
                        let sent = session.send(slot);
                        let mut log = client_log.lock().unwrap_or_else(|e| e.into_inner());
                        match sent {
                            Ok(()) => log.sent.push(next),
                            Err(Error::SessionEnded) => {
                                log.send_failed.push(next);
                                return Ok(());
                            }
                            Err(e) => return Err(Failure::new(format!("send: {e}"))),
                        }
                        moved.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                }));
            }
            // Client receiver: reads, holds up to 4 packets, releases them in random order.
            let receiver = {
                let session = client_refs.pop().ok_or_else(|| Failure::new("no client reference"))?;
                let (client_log, stop_client, moved) = (&client_log, &stop_client, &moved);
                scope.spawn(move || -> Result<(), Failure> {
                    let mut rng = Rng::new(seed ^ 0x2000);
                    let mut held = Vec::new();
                    while !stop_client.load(Ordering::SeqCst) {
                        match session.receive_wait(Duration::from_millis(2)) {
                            Ok(Some(packet)) => {
                                client_log
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .read
                                    .push((packet.data().to_vec(), packet.offload()));
                                moved.fetch_add(1, Ordering::Relaxed);
                                held.push(packet);
                                if held.len() > rng.range(0, 4) as usize {
                                    let i = rng.range(0, held.len() as u64 - 1) as usize;
                                    held.swap_remove(i).release();
                                }
                            }
                            Ok(None) => held.clear(),
                            Err(Error::SessionEnded) => return Ok(()),
                            Err(e) => return Err(Failure::new(format!("receive: {e}"))),
                        }
                    }
                    Ok(())
                })
            };
            // Stack senders: batches of 1..8 packets, each thread numbering its own.
            let mut stack_threads = Vec::new();
            for t in 0..plan.stack_senders {
                let driver = Arc::clone(&driver);
                let (stop_stack, moved) = (&stop_stack, &moved);
                stack_threads.push(scope.spawn(move || -> Result<StackLog, Failure> {
                    let mut rng = Rng::new(seed ^ (0x3000 + u64::from(t)));
                    let mut log = StackLog::default();
                    let mut next = 0u32;
                    while !stop_stack.load(Ordering::SeqCst) {
                        let n = rng.range(1, 8) as u32;
                        let (packets, requests): (Vec<Vec<u8>>, Vec<TransmitOffload>) = (next..next + n)
                            .map(|s| {
                                let seq = in_seq(t, s);
                                if offload {
                                    let (sent, request, _, _) = in_offload(seq);
                                    (sent, request)
                                } else {
                                    (raw(in_len(seq), seq), TransmitOffload::default())
                                }
                            })
                            .unzip();
                        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
                        let statuses = driver
                            .transmit_offloaded(&refs, &requests)
                            .map_err(|i| Failure::new(format!("status {i} unset")))?;
                        for (i, status) in statuses.iter().enumerate() {
                            match status {
                                TransmitStatus::Sent => log.accepted.push(in_seq(t, next + i as u32)),
                                TransmitStatus::RingFull | TransmitStatus::NotRunning | TransmitStatus::Paused => {
                                    log.refused += 1
                                }
                                other => return Err(Failure::new(format!("transmit status {other:?}"))),
                            }
                        }
                        moved.fetch_add(u64::from(n), Ordering::Relaxed);
                        next += n;
                        if statuses.first() != Some(&TransmitStatus::Sent) {
                            thread::sleep(Duration::from_micros(50));
                        }
                    }
                    Ok(log)
                }));
            }
            // The stack returns held packets late and out of order.
            let returner = {
                let driver = Arc::clone(&driver);
                let stop_returner = &stop_returner;
                scope.spawn(move || {
                    let mut rng = Rng::new(seed ^ 0x4000);
                    loop {
                        let stopping = stop_returner.load(Ordering::SeqCst);
                        let mut held: Vec<HostIndication> = driver.stack().take_held();
                        rng.shuffle(&mut held);
                        // Each packet is freed before its token goes back, as NDIS hands the NBL
                        // itself back: after the return the stack no longer touches it.
                        if !held.is_empty() {
                            let keep = if stopping { 0 } else { rng.range(0, held.len() as u64 / 2) as usize };
                            let back: Vec<u64> = held.drain(keep..).map(|h| h.token()).collect();
                            driver.adapter().return_indications(back);
                            // The rest goes back a little later, from the same shuffled order.
                            if !held.is_empty() {
                                thread::sleep(Duration::from_micros(rng.range(0, 300)));
                                let back: Vec<u64> = held.drain(..).map(|h| h.token()).collect();
                                driver.adapter().return_indications(back);
                            }
                        }
                        if stopping && driver.stack().held_count() == 0 {
                            return;
                        }
                        thread::sleep(Duration::from_micros(rng.range(20, 200)));
                    }
                })
            };

            // Let traffic run, with a pause and restart somewhere.
            let mut rng = Rng::new(seed ^ 0x5000);
            let start = Instant::now();
            if plan.pause {
                thread::sleep(plan.run_for / 2);
                driver.adapter().pause();
                self.report.pauses += 1;
                thread::sleep(Duration::from_micros(rng.range(0, 500)));
                driver.adapter().restart();
            }
            while start.elapsed() < plan.run_for || moved.load(Ordering::Relaxed) == 0 {
                if start.elapsed() > PATIENCE {
                    break;
                }
                thread::sleep(Duration::from_micros(100));
            }
            if plan.pause_at_end {
                driver.adapter().pause();
                self.report.pauses += 1;
                paused = true;
            }

            // The end.
            let mut result = Ok(());
            match plan.end {
                End::Close => {
                    // The client stops and closes its handle while the stack still transmits.
                    stop_client.store(true, Ordering::SeqCst);
                    for c in clients.drain(..) {
                        result =
                            result.and(c.join().map_err(|_| Failure::new("client sender panicked")).and_then(|r| r));
                    }
                }
                End::ProcessExit => driver.process_exited(process),
                End::Halt => driver.adapter().halt(),
                End::SurpriseRemove => driver.surprise_remove(),
            }
            self.report.ends[plan.end as usize] += 1;
            if plan.end == End::Close {
                stop_client.store(true, Ordering::SeqCst);
                result =
                    result.and(receiver.join().map_err(|_| Failure::new("client receiver panicked")).and_then(|r| r));
                // Every client thread is gone: this is the last reference; dropping it closes the
                // handle, which ends the session while the stack threads keep transmitting.
                if let Some(last) = own_ref.take() {
                    match Arc::try_unwrap(last) {
                        Ok(session) => drop(session),
                        Err(_) => result = result.and(Err(Failure::new("session still shared at close"))),
                    }
                }
                thread::sleep(Duration::from_micros(200));
            } else {
                // The client's threads see the end themselves.
                for c in clients.drain(..) {
                    result = result.and(c.join().map_err(|_| Failure::new("client sender panicked")).and_then(|r| r));
                }
                stop_client.store(true, Ordering::SeqCst);
                result =
                    result.and(receiver.join().map_err(|_| Failure::new("client receiver panicked")).and_then(|r| r));
            }
            stop_stack.store(true, Ordering::SeqCst);
            for s in stack_threads {
                match s.join() {
                    Ok(Ok(log)) => stack_logs.push(log),
                    Ok(Err(e)) => result = result.and(Err(e)),
                    Err(_) => result = result.and(Err(Failure::new("stack sender panicked"))),
                }
            }
            stop_returner.store(true, Ordering::SeqCst);
            let _ = returner.join();
            result
        });
        // Ends the driver decided: the client sees both markers, then closes.
        if let Some(last) = own.take() {
            let session = Arc::try_unwrap(last).map_err(|_| Failure::new("session still shared"))?;
            ensure_eq!(session.incoming_ring().load_tail(), ring_abi::RING_STOPPED, "Send tail marker after the end");
            ensure_eq!(
                session.outgoing_ring().load_head(),
                ring_abi::RING_STOPPED,
                "Receive head marker after the end"
            );
            drop(session);
        }
        outcome?;
        if paused {
            driver.adapter().restart();
        }
        // Everything the stack was given has come back; nothing is held.
        ensure_eq!(driver.stack().held_count(), 0, "packets still held");
        self.check_released("after the session ended")?;

        let after = self.counters_snapshot();
        let log = client_log.into_inner().unwrap_or_else(|e| e.into_inner());
        let indication_faults = driver.faults().injected(FaultKind::Indication) - indication_faults_before;
        match plan.offload {
            Some(stack_offloads) => self.check_outgoing_offload(
                &log,
                &before,
                &after,
                &stack.take_delivered(),
                indication_faults,
                &stack_offloads,
            )?,
            None => self.check_outgoing(&log, &before, &after, &stack.take_delivered(), indication_faults)?,
        }
        self.check_incoming(&log, &stack_logs, &before, &after, version, offload)?;

        // The adapter accepts the next session (after a halt or a surprise removal: a new adapter
        // does).
        if matches!(plan.end, End::Halt | End::SurpriseRemove) {
            let refused = Session::open(
                HostBackend::open(&self.driver, process, CallerBitness::Bits64),
                Self::plan_config(&plan),
            );
            ensure!(
                matches!(refused, Err(Error::Device(DeviceError::NotReady))),
                "registration after halt or surprise removal"
            );
            self.check_released("after the refused registration")?;
            self.driver = HostDriver::new();
            self.baseline = self.driver.resources();
        }
        Ok(())
    }

    fn check_outgoing(
        &mut self,
        log: &ClientLog,
        before: &ringtun_driver::engine::StatsSnapshot,
        after: &ringtun_driver::engine::StatsSnapshot,
        delivered: &[ringtun_driver::host::Delivered],
        indication_faults: u64,
    ) -> Result<(), Failure> {
        let mut seen = HashSet::new();
        for d in delivered {
            let id = seq_of(&d.bytes).ok_or_else(|| Failure::new("delivered packet without a sequence number"))?;
            ensure!(id < log.allocated, "delivered packet {id} was never allocated ({} were)", log.allocated);
            ensure!(seen.insert(id), "packet {id} delivered twice");
            ensure!(d.bytes == ipv4(out_len(id), id), "packet {id} delivered with other bytes");
        }
        let sent: HashSet<u32> = log.sent.iter().chain(&log.send_failed).copied().collect();
        for id in &seen {
            ensure!(sent.contains(id), "packet {id} delivered but its send never completed");
        }
        let delivered_n = delivered.len() as u64;
        let indicated = after.receive_packets - before.receive_packets;
        ensure_eq!(indicated, delivered_n, "indicated vs delivered");
        // The only drops: one per failed indication, counted where it failed.
        let dropped = after.receive_dropped_no_resources - before.receive_dropped_no_resources;
        ensure_eq!(dropped, indication_faults, "packets dropped for lack of resources vs indication faults");
        ensure_eq!(after.receive_dropped_not_ip - before.receive_dropped_not_ip, 0, "non-IP drops");
        ensure_eq!(after.receive_dropped_split - before.receive_dropped_split, 0, "split drops");
        ensure_eq!(after.receive_ring_faults - before.receive_ring_faults, 0, "ring faults");
        // Consumed in order: the consumed packets are the first `delivered + dropped` allocated.
        let consumed = delivered_n + dropped;
        ensure!(consumed <= u64::from(log.allocated), "consumed {consumed} of {} allocated", log.allocated);
        if let Some(max) = seen.iter().max() {
            ensure!(u64::from(*max) < consumed, "packet {max} delivered beyond the consumed prefix of {consumed}");
        }
        // Every packet `send` accepted is delivered, counted as dropped, or was still in the ring.
        let accepted = log.sent.len() as u64;
        let not_delivered = accepted.saturating_sub(log.sent.iter().filter(|id| seen.contains(id)).count() as u64);
        self.report.outgoing_allocated += u64::from(log.allocated);
        self.report.outgoing_accepted += accepted;
        self.report.outgoing_delivered += delivered_n;
        self.report.outgoing_dropped += dropped;
        self.report.outgoing_unconsumed += u64::from(log.allocated) - consumed;
        ensure!(
            not_delivered <= dropped + (u64::from(log.allocated) - consumed),
            "{not_delivered} accepted packets neither delivered, counted as dropped, nor left in the ring"
        );
        Ok(())
    }

    /// The outgoing check of an offload iteration: delivered packets grouped by the id in their
    /// acknowledgement number; each id's packets as the engine must hand them to this stack
    /// (whole with exact bytes, or cut: valid packets whose payloads are the original's);
    /// indications counted; every id up to the last delivered one consumed.
    fn check_outgoing_offload(
        &mut self,
        log: &ClientLog,
        before: &ringtun_driver::engine::StatsSnapshot,
        after: &ringtun_driver::engine::StatsSnapshot,
        delivered: &[ringtun_driver::host::Delivered],
        indication_faults: u64,
        stack: &StackOffloads,
    ) -> Result<(), Failure> {
        let mut by_id: std::collections::BTreeMap<u32, Vec<Vec<u8>>> = std::collections::BTreeMap::new();
        for d in delivered {
            let id = ack_of(&d.bytes).ok_or_else(|| Failure::new("delivered packet without an id"))?;
            ensure!(id < log.allocated, "delivered packet {id} was never allocated ({} were)", log.allocated);
            by_id.entry(id).or_default().push(d.bytes.clone());
        }
        let dropped = after.receive_dropped_no_resources - before.receive_dropped_no_resources;
        ensure_eq!(dropped, indication_faults, "packets dropped for lack of resources vs indication faults");
        ensure_eq!(after.receive_dropped_offload - before.receive_dropped_offload, 0, "offload drops");
        ensure_eq!(after.receive_dropped_not_ip - before.receive_dropped_not_ip, 0, "non-IP drops");
        ensure_eq!(after.receive_ring_faults - before.receive_ring_faults, 0, "ring faults");
        let delivered_n = delivered.len() as u64;
        ensure_eq!(after.receive_packets - before.receive_packets, delivered_n, "indicated vs delivered");
        let mut missing = 0u64;
        for (id, packets) in &by_id {
            let (want, cut) = out_offload_delivery(*id, stack);
            match cut {
                None => {
                    ensure_eq!(packets.len(), 1, "packet {id} delivered {} times", packets.len());
                    ensure!(packets[0] == want, "packet {id} delivered with other bytes");
                    if out_offload(*id).3.is_none() {
                        continue;
                    }
                    self.report.super_packets_whole += 1;
                }
                Some(count) => {
                    ensure!(packets.len() <= count, "packet {id}: {} segments of {count}", packets.len());
                    if packets.len() == count {
                        let (spec, _, _, meta) = out_offload(*id);
                        check_segments(&want, spec.header_len(), usize::from(meta.gso_size), packets)
                            .map_err(|e| Failure::new(format!("packet {id}: {e}")))?;
                        self.report.super_packets_cut += 1;
                    } else {
                        missing += (count - packets.len()) as u64;
                    }
                }
            }
        }
        ensure!(missing <= dropped, "{missing} segments missing, {dropped} drops counted");
        // Consumed in order: every id up to the last delivered one was indicated or dropped whole.
        if let Some(&last) = by_id.keys().next_back() {
            let needed: u64 = (0..=last).map(|id| out_offload_delivery(id, stack).1.map_or(1, |n| n as u64)).sum();
            ensure!(
                needed <= delivered_n + dropped,
                "ids up to {last} need {needed} indications, {} seen",
                delivered_n + dropped
            );
        }
        self.report.offload_outgoing_allocated += u64::from(log.allocated);
        self.report.offload_outgoing_indications += delivered_n;
        self.report.offload_outgoing_dropped += dropped;
        Ok(())
    }

    fn check_incoming(
        &mut self,
        log: &ClientLog,
        stack_logs: &[StackLog],
        before: &ringtun_driver::engine::StatsSnapshot,
        after: &ringtun_driver::engine::StatsSnapshot,
        version: RingVersion,
        offload: bool,
    ) -> Result<(), Failure> {
        let mut per_thread: Vec<Vec<u32>> = vec![Vec::new(); stack_logs.len()];
        let mut seen = HashSet::new();
        for (bytes, meta) in &log.read {
            let seq = if offload { ack_of(bytes) } else { seq_of(bytes) }
                .ok_or_else(|| Failure::new("read packet without a sequence number"))?;
            ensure!(seen.insert(seq), "incoming packet {seq:#x} read twice ({version:?})");
            if offload {
                // A large send arrives whole, with its metadata and the pseudo-header sum.
                let (_, _, want, want_meta) = in_offload(seq);
                ensure!(*bytes == want, "incoming packet {seq:#x} read with other bytes");
                ensure_eq!(*meta, want_meta, "incoming packet {seq:#x}: metadata");
            } else {
                ensure!(*bytes == raw(in_len(seq), seq), "incoming packet {seq:#x} read with other bytes");
                ensure!(meta.is_none(), "metadata without offloads");
            }
            let thread = (seq >> 24) as usize;
            per_thread
                .get_mut(thread)
                .ok_or_else(|| Failure::new(format!("incoming packet {seq:#x} from an unknown thread")))?
                .push(seq);
        }
        for (t, (read, stack)) in per_thread.iter().zip(stack_logs).enumerate() {
            ensure!(
                read.len() <= stack.accepted.len() && stack.accepted[..read.len()] == read[..],
                "stack thread {t}: the client read {} packets that are not a prefix of the {} accepted",
                read.len(),
                stack.accepted.len()
            );
        }
        let accepted: u64 = stack_logs.iter().map(|s| s.accepted.len() as u64).sum();
        let refused: u64 = stack_logs.iter().map(|s| s.refused).sum();
        ensure_eq!(after.send_packets - before.send_packets, accepted, "send_packets vs accepted");
        let counted = (after.send_dropped_ring_full - before.send_dropped_ring_full)
            + (after.send_dropped_not_running - before.send_dropped_not_running);
        ensure_eq!(counted, refused, "refused statuses vs counters");
        self.report.incoming_accepted += accepted;
        self.report.incoming_read += log.read.len() as u64;
        self.report.incoming_refused += refused;
        Ok(())
    }

    /// Every fallible platform call of a registration fails in turn: each refusal has the right
    /// status and leaves nothing behind, and the registration after it works.
    fn registration_faults_in_turn(&mut self, version: VersionPreference) -> Result<(), Failure> {
        for nth in 1u64.. {
            ensure!(nth < 100, "registration never completed without a fault");
            let injected_before = self.driver.faults().injected_total();
            let kinds_before: Vec<u64> = FaultKind::ALL.iter().map(|k| self.driver.faults().injected(*k)).collect();
            self.driver.faults().fail_nth_call.store(nth, Ordering::SeqCst);
            self.process += 1;
            let backend = HostBackend::open(&self.driver, self.process, CallerBitness::Bits64);
            let opened = Session::open(backend, Self::config(version));
            let fired = self.driver.faults().injected_total() > injected_before;
            self.driver.faults().fail_nth_call.store(0, Ordering::SeqCst);
            let kind = FaultKind::ALL
                .iter()
                .zip(&kinds_before)
                .find(|(k, n)| self.driver.faults().injected(**k) > **n)
                .map(|(k, _)| *k);
            match opened {
                Ok(session) => {
                    // The fault (if any) hit a v2 attempt that fell back to v1, or nothing was
                    // left to fail: either way traffic flows.
                    let p = ipv4(100, 7);
                    let mut slot = session.allocate(p.len(), 0, 0).map_err(|e| Failure::new(format!("{e}")))?;
                    slot.data_mut().copy_from_slice(&p);
                    session.send(slot).map_err(|e| Failure::new(format!("{e}")))?;
                    ensure!(self.driver.stack().wait_delivered(1, PATIENCE), "no traffic after fault {nth}");
                    self.driver.stack().take_delivered();
                    drop(session);
                    self.check_released("after a session that followed a fault")?;
                    if !fired {
                        return Ok(());
                    }
                    ensure!(
                        version == VersionPreference::PreferV2 && kind == Some(FaultKind::ReferenceEvent),
                        "registration succeeded although call {nth} ({kind:?}) failed"
                    );
                }
                Err(e) => {
                    ensure!(fired, "registration refused ({e}) with no fault injected");
                    // The status the engine gives for that platform failure, as the client sees it.
                    let platform_error = match kind {
                        Some(FaultKind::Map | FaultKind::CreateEvent) => PlatformError::InsufficientResources,
                        Some(FaultKind::ReferenceEvent) => PlatformError::InvalidHandle,
                        Some(FaultKind::Spawn) => PlatformError::ThreadStart,
                        other => return Err(Failure::new(format!("call {nth}: unexpected fault {other:?}"))),
                    };
                    let expected = device_error(RegisterError::Platform(RingRole::Receive, platform_error).status());
                    ensure!(matches!(e, Error::Device(d) if d == expected), "call {nth} ({kind:?}): refused with {e}");
                    self.report.refused_registrations += 1;
                    self.check_released("after a refused registration")?;
                }
            }
            self.report.faults_injected += u64::from(fired);
        }
        Ok(())
    }
}

impl Harness {
    /// Every large allocation of a registration (client ring memory, engine bookkeeping) fails in
    /// turn: each refusal is `InsufficientResources` and leaves nothing behind.
    fn allocation_faults_in_turn(&mut self, version: VersionPreference) -> Result<(), Failure> {
        for nth in 1u32.. {
            ensure!(nth < 100, "registration never completed without an allocation failure");
            let failed_before = large_allocations_failed();
            self.process += 1;
            let backend = HostBackend::open(&self.driver, self.process, CallerBitness::Bits64);
            arm_large_allocation_failure(nth);
            let opened = Session::open(backend, Self::config(version));
            arm_large_allocation_failure(0);
            let fired = large_allocations_failed() > failed_before;
            match opened {
                Ok(session) => {
                    ensure!(!fired, "registration succeeded although large allocation {nth} failed");
                    drop(session);
                    self.check_released("after the session that followed allocation failures")?;
                    return Ok(());
                }
                Err(e) => {
                    ensure!(fired, "registration refused ({e}) with no allocation failed");
                    ensure!(
                        matches!(e, Error::Device(DeviceError::InsufficientResources)),
                        "allocation {nth} failed: refused with {e}"
                    );
                    self.report.allocation_failures += 1;
                    self.check_released("after a registration refused for memory")?;
                }
            }
        }
        Ok(())
    }
}

fn run_soak(config: SoakConfig, faults: bool) -> Result<SoakReport, Failure> {
    let start = Instant::now();
    let driver = HostDriver::new();
    let mut harness = Harness {
        baseline: driver.resources(),
        driver,
        rng: Rng::new(config.seed),
        report: SoakReport::default(),
        process: 0x1000,
        faults,
    };
    harness.driver.stack().set_logging(true);
    if faults {
        for version in [VersionPreference::V1Only, VersionPreference::PreferV2] {
            harness.registration_faults_in_turn(version)?;
            if faulty_allocator_installed() {
                harness.allocation_faults_in_turn(version)?;
            }
        }
    }
    for i in 0..config.iterations {
        harness.iteration(!faults).map_err(|e| Failure::new(format!("iteration {i}: {e}")))?;
        harness.report.iterations = i + 1;
    }
    // The adapter (or its successor after a halt) still works.
    harness.driver.stack().set_mode(ringtun_driver::host::ReturnMode::Immediate);
    let delivered = harness.driver.stack().delivered_total();
    let s = Session::open(HostBackend::open(&harness.driver, 1, CallerBitness::Bits64), SessionConfig::default())?;
    let p = ipv4(64, 1);
    let mut slot = s.allocate(p.len(), 0, 0).map_err(|e| Failure::new(format!("{e}")))?;
    slot.data_mut().copy_from_slice(&p);
    s.send(slot).map_err(|e| Failure::new(format!("{e}")))?;
    ensure!(harness.driver.stack().wait_delivered(delivered + 1, PATIENCE), "no traffic on the final session");
    drop(s);
    harness.check_released("at the end")?;
    harness.report.elapsed = start.elapsed();
    Ok(harness.report)
}

/// Fault injection during traffic: registration faults in turn (v1 and v2), then sessions with
/// random faults of every fallible platform call (0, 2, 4 or 6 % per call, chosen per iteration),
/// ended by any of the four ends.
pub fn fault_soak(config: SoakConfig) -> Result<SoakReport, Failure> {
    run_soak(config, true)
}

/// Session ends under load: close, process exit, halt and surprise removal at random points,
/// pauses, v1 (including Wintun's single-allocation layout) and v2.
pub fn teardown_soak(config: SoakConfig) -> Result<SoakReport, Failure> {
    run_soak(config, false)
}
