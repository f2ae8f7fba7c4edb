//! What the engine needs from an operating system, and nothing more.
//!
//! The engine makes every decision about rings, packets and sessions; a platform only provides
//! primitives: a short-section lock, events, locked+mapped ring memory, a clock, a worker thread,
//! and the packet path towards the network stack. The Windows kernel shell maps these to
//! KSPIN_LOCK, KEVENT, MDLs, KeQueryInterruptTime, a system thread and NBLs; the host platform
//! maps them to std primitives and a scriptable fake stack.

use alloc::vec::Vec;

use ring_abi::{CallerBitness, GsoKind, RingRole, Transport};

use crate::engine::Session;
use crate::fallible::TryArc;

/// Why a platform primitive failed. The engine turns each into a registration error or a
/// counted drop; none is fatal to the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// Memory, pool, MDL or NBL allocation failed.
    InsufficientResources,
    /// The ring address range could not be probed and locked for the caller.
    InvalidRingAddress,
    /// The handle does not name an event the caller may use.
    InvalidHandle,
    /// The worker thread could not be started.
    ThreadStart,
}

/// What kind of IP packet an indication carries (sets the frame type towards the stack).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpKind {
    /// IPv4 (version nibble 4, at least 20 bytes).
    V4,
    /// IPv6 (version nibble 6, at least 40 bytes).
    V6,
}

/// What an indicated packet's checksums are, as the stack is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndicatedChecksum {
    /// Nothing is said: the stack verifies what the packet holds.
    Unknown,
    /// The checksums need not be verified (NDIS: IP and TCP/UDP checksum succeeded; Linux:
    /// `DATA_VALID`). Only when [`StackOffloads::checksum_valid`].
    Valid {
        /// The checksum fields hold values the engine computed (a segment it cut). `false`: the
        /// data was validated but the fields are the client's, which may be anything (a
        /// `DATA_VALID` packet or super-packet indicated as the ring holds it); a stack that
        /// forwards the packet must not update them incrementally (NDIS:
        /// `TcpChecksumValueInvalid`, `IpChecksumValueInvalid`).
        value_computed: bool,
    },
    /// The L4 checksum field at `start + offset` holds the pseudo-header sum; the stack completes
    /// the sum from `start` to the end (Linux: `NEEDS_CSUM`). Only when
    /// [`StackOffloads::partial_checksum`].
    Partial {
        /// Offset of the L4 header in the packet.
        start: u16,
        /// Offset of the checksum field from `start`.
        offset: u16,
    },
}

/// A super-packet indicated as one coalesced unit (NDIS receive segment coalescing, a Linux GRO
/// packet). Only for the kinds [`StackOffloads`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Coalesced {
    /// TCP over IPv4/IPv6, or UDP.
    pub kind: GsoKind,
    /// Payload bytes per segment.
    pub segment_size: u16,
    /// Length of the IP and TCP/UDP headers.
    pub header_len: u16,
    /// How many segments it stands for.
    pub segments: u16,
    /// The super-packet carries ECN's CWR (Linux `VIRTIO_NET_HDR_GSO_ECN`).
    pub ecn: bool,
}

/// Everything the engine tells the stack about one indicated packet besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IndicationInfo {
    /// IPv4 or IPv6 (the frame type).
    pub kind: IpKind,
    /// The protocol after the IP header (TCP, UDP or other), for the checksum information.
    pub transport: Transport,
    /// The checksum state.
    pub checksum: IndicatedChecksum,
    /// Set when the packet is a super-packet indicated whole.
    pub coalesced: Option<Coalesced>,
}

impl IndicationInfo {
    /// A plain packet: nothing said about its checksums, not coalesced.
    pub const fn plain(kind: IpKind) -> Self {
        Self { kind, transport: Transport::Other(0), checksum: IndicatedChecksum::Unknown, coalesced: None }
    }
}

/// The offloads the stack side accepts on indicated packets: a platform capability, which may
/// change while a session runs (NDIS turns receive offloads on and off by OID), so the engine
/// asks for it once per round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StackOffloads {
    /// IPv4 TCP super-packets are taken as one coalesced unit.
    pub coalesced_tcp4: bool,
    /// IPv6 TCP super-packets are taken as one coalesced unit.
    pub coalesced_tcp6: bool,
    /// UDP super-packets are taken as one coalesced unit.
    pub coalesced_udp: bool,
    /// A packet whose L4 checksum is partial ([`IndicatedChecksum::Partial`]) is taken.
    pub partial_checksum: bool,
    /// The stack can be told that a packet's checksums are valid ([`IndicatedChecksum::Valid`]).
    pub checksum_valid: bool,
    /// TCP super-packets are taken whole only as NDIS receive segment coalescing could have
    /// built them ([`crate::engine::offload::rsc_eligible`]: no flag but ACK, PSH and ECE, no TCP
    /// option but timestamps, no IPv4 options, no ECN bit); others are cut. A Linux stack takes
    /// any valid super-packet whole (`false`); Windows does not (`true`).
    pub coalescing_rules: bool,
}

impl StackOffloads {
    /// Whether super-packets of `kind` are taken as one unit.
    pub const fn coalesces(&self, kind: GsoKind) -> bool {
        match kind {
            GsoKind::TcpV4 => self.coalesced_tcp4,
            GsoKind::TcpV6 => self.coalesced_tcp6,
            GsoKind::UdpL4 => self.coalesced_udp,
        }
    }
}

/// A notification or synchronization event shared with a waiter.
pub trait Event: Send + Sync {
    /// Signals the event.
    fn set(&self);
    /// Resets the event.
    fn clear(&self);
    /// Whether `self` and `other` are the same event object: two references taken from one
    /// handle, or from two handles that name one event. Only answers; the engine decides what
    /// it means (a registration that gives both rings one event is refused).
    fn is_same_object(&self, other: &Self) -> bool
    where
        Self: Sized;
}

/// A ring's user pages, locked and mapped into the driver's address space for as long as the
/// value lives (dropping it unmaps and unlocks).
pub trait RingMapping: Send + Sync {
    /// Driver-side address of the first ring byte. It keeps the alignment of the client's address
    /// within its page (a mapping of locked user pages preserves the byte offset), so it has the
    /// alignment the registration validated: v1: 4, v2: 8 (`docs/ring-protocol.md` section 5.4).
    fn base(&self) -> *mut u8;
    /// Mapped length in bytes (at least the registered ring size).
    fn mapped_len(&self) -> usize;
}

/// A started worker thread: the Receive-ring consumer, which runs below normal priority (it spins
/// on the client's `tail` and must not take time from the client that fills the ring).
pub trait Worker: Send {
    /// Raises the thread above every normal-priority thread, so that a waiter that cannot go on
    /// before the thread's next step (a pause waiting for its round to end) does not wait for as
    /// long as the processor is loaded. Called with an engine lock held: it must not block (in
    /// the kernel it runs at DISPATCH_LEVEL).
    fn expedite(&self);

    /// Returns the thread to its own low priority, as soon as the step it was raised for is done
    /// (the pause, right after the consumer's round ended). Called with an engine lock held, like
    /// [`Worker::expedite`].
    fn relax(&self);

    /// Waits until the thread has returned (the platform raises it first, as
    /// [`Worker::expedite`] does, for the same reason).
    fn join(self);
}

/// The most events one wait takes: the Windows kernel waits on at most `THREAD_WAIT_OBJECTS`
/// (wdm.h) = 3 objects without a caller-supplied `KWAIT_BLOCK` array, and the engine never
/// needs more.
pub const MAX_WAIT_EVENTS: usize = 3;

/// The platform primitives the engine runs on. One value per adapter.
pub trait Platform: Send + Sync + Sized + 'static {
    /// A lock for short critical sections that never sleep (a spin lock in the kernel).
    type RawMutex: lock_api::RawMutex + Send + Sync;
    /// Events: the client's (referenced by handle) and the engine's own.
    type Event: Event;
    /// A locked and mapped ring.
    type Mapping: RingMapping;
    /// The Receive-ring consumer thread.
    type Worker: Worker;
    /// One packet prepared for indication to the stack (an NBL with a partial MDL in the kernel).
    type Indication: Send;

    /// Probes, locks and maps `ring_size` bytes at the caller's `ring_ptr`.
    fn map_ring(
        &self,
        role: RingRole,
        ring_ptr: u64,
        ring_size: u32,
        caller: CallerBitness,
    ) -> Result<Self::Mapping, PlatformError>;

    /// References the caller's event `handle`, with the access `role` stands for:
    /// [`RingRole::Send`] for an event the driver only signals (the Send ring's, and the
    /// write-space event, which belongs to the Receive ring but is only set by the driver),
    /// [`RingRole::Receive`] for the event the driver also waits on (the Receive ring's).
    fn reference_event(&self, role: RingRole, handle: u64) -> Result<Self::Event, PlatformError>;

    /// Creates an engine-owned notification event, initially not signalled.
    fn create_event(&self) -> Result<Self::Event, PlatformError>;

    /// Blocks until one of `events` is signalled; returns its index. Synchronization events are
    /// reset by the wait; notification events stay signalled. `events` has one to
    /// [`MAX_WAIT_EVENTS`] entries: every implementation rejects any other count when the call is
    /// compiled (`const { assert!(..) }`), so no event can be left out of a wait.
    fn wait_any<const N: usize>(&self, events: &[&Self::Event; N]) -> usize;

    /// [`Self::wait_any`] bounded by a relative timeout of `timeout_ns` nanoseconds: `Some(index)`
    /// of the signalled event, or `None` once the timeout passed with none signalled. The engine
    /// uses it only where a missed signal must not cost more than a bounded delay (the consumer
    /// re-checks the Receive ring's `tail` after it); the platform may round a non-zero timeout
    /// up to its clock granularity. A zero timeout does not wait: it polls (and, like any wait,
    /// consumes the signal of a synchronization event it returns).
    fn wait_any_timeout<const N: usize>(&self, events: &[&Self::Event; N], timeout_ns: u64) -> Option<usize>;

    /// Lets other ready threads run (the consumer calls it while spinning on an empty ring).
    fn yield_now(&self);

    /// A monotonic clock in nanoseconds (only differences are used).
    fn now_ns(&self) -> u64;

    /// Starts the Receive-ring consumer thread, which calls [`Session::run_receive`] once.
    fn spawn_worker(&self, session: TryArc<Session<Self>>) -> Result<Self::Worker, PlatformError>;

    /// Prepares the indication of one packet: the bytes of `header` (at most
    /// `ring_abi::MAX_OFFLOAD_HEADER`, usually none: a segment's rewritten IP and TCP/UDP header,
    /// which the platform copies into memory of its own) followed by `len` bytes at byte `offset`
    /// of `mapping`, not copied. `info` says what the stack is told about it. `token` must be
    /// handed back to [`crate::engine::Adapter::return_indication`] when the stack returns the
    /// packet. `None`: no resources (the engine drops and counts the packet).
    fn prepare_indication(
        &self,
        mapping: &Self::Mapping,
        header: &[u8],
        offset: usize,
        len: u32,
        info: &IndicationInfo,
        token: u64,
    ) -> Option<Self::Indication>;

    /// The offloads the stack takes on indicated packets now (none by default).
    fn stack_offloads(&self) -> StackOffloads {
        StackOffloads::default()
    }

    /// Indicates every prepared packet in `batch` to the stack in one call (a chain of NBLs in one
    /// `NdisMIndicateReceiveNetBufferLists`), draining it but keeping its allocation (the engine
    /// preallocates it once per session). Each one comes back through
    /// [`crate::engine::Adapter::return_indication`], possibly before this returns.
    fn indicate(&self, batch: &mut Vec<Self::Indication>);

    /// Tells the stack the link went up or down.
    fn set_link_state(&self, up: bool);
}
