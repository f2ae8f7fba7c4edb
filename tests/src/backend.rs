//! What a scenario needs from the system under test.
//!
//! A backend provides client handles (the `ringtun` client library's [`ringtun::backend::Backend`],
//! so scenarios use the real library and can also hand-build registrations), and the other side
//! of the adapter: the network stack (inject packets towards the client, observe and hold what
//! the client sent), lifecycle events, fault injection and counters. A real Windows stack cannot
//! hold packets or inject faults; [`Needs`] says which parts a scenario uses so that a backend
//! without them skips it.

use core::fmt;
use std::time::Duration;

use ring_abi::{CallerBitness, GsoKind};

/// A scenario failure: what went wrong, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(String);

impl Failure {
    /// A failure with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Self(format!("unexpected error: {e} ({e:?})"))
    }
}

/// Backend capabilities a scenario needs beyond client handles and plain traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The stack side carries arbitrary bytes unchanged both ways: any IP packet the client writes
    /// reaches the stack as written, and the stack can send any IP packet. A fake stack can; a
    /// real one drops packets it would not route and writes IP headers itself.
    pub raw_packets: bool,
    /// Hold indicated packets and return them late, out of order, from any thread; per-packet
    /// transmit outcomes.
    pub stack_control: bool,
    /// Process exit, halt, surprise removal, pause/restart on demand.
    pub lifecycle: bool,
    /// Inject resource failures.
    pub faults: bool,
    /// Read the engine's counters.
    pub counters: bool,
    /// Remove (disable) and restore the real device through PnP.
    pub pnp: bool,
    /// Send with offload requests (large sends, checksums left to the adapter), choose the
    /// offloads the stack takes on indicated packets, and see what the stack was told. A fake
    /// stack can; with a real one it is the OS's decision.
    pub offload_stack: bool,
}

impl Needs {
    /// Client handles and well-formed traffic through a real stack (UDP datagrams).
    pub const NONE: Self = Self {
        raw_packets: false,
        stack_control: false,
        lifecycle: false,
        faults: false,
        counters: false,
        pnp: false,
        offload_stack: false,
    };
    /// PnP removal of the real device.
    pub const PNP: Self = Self { pnp: true, ..Self::NONE };
    /// Arbitrary packets both ways.
    pub const TRAFFIC: Self = Self { raw_packets: true, ..Self::NONE };
    /// Arbitrary packets and counters.
    pub const COUNTERS: Self = Self { counters: true, ..Self::TRAFFIC };
    /// Stack control and counters.
    pub const STACK: Self = Self { stack_control: true, counters: true, ..Self::TRAFFIC };
    /// Lifecycle, stack control and counters.
    pub const LIFECYCLE: Self = Self { lifecycle: true, stack_control: true, counters: true, ..Self::TRAFFIC };
    /// Offload requests and stack offloads, stack control and counters.
    pub const OFFLOAD: Self = Self { offload_stack: true, ..Self::STACK };
    /// Everything the engine on the host can do (all but PnP).
    pub const ALL: Self = Self {
        raw_packets: true,
        stack_control: true,
        lifecycle: true,
        faults: true,
        counters: true,
        pnp: false,
        offload_stack: true,
    };

    /// Whether `self` includes everything `other` asks for.
    pub fn covers(&self, other: Needs) -> bool {
        (self.raw_packets || !other.raw_packets)
            && (self.stack_control || !other.stack_control)
            && (self.lifecycle || !other.lifecycle)
            && (self.faults || !other.faults)
            && (self.counters || !other.counters)
            && (self.pnp || !other.pnp)
            && (self.offload_stack || !other.offload_stack)
    }
}

/// What happened to one packet the stack sent towards the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Published on the Send ring.
    Sent,
    /// Dropped: ring full.
    RingFull,
    /// Dropped: no running session.
    NotRunning,
    /// Dropped: the adapter is paused.
    Paused,
    /// Dropped: invalid length.
    Invalid,
    /// Dropped: the client's head was invalid.
    RingFault,
    /// Dropped: a large send of an offload the adapter turned off.
    OffloadOff,
}

/// What the stack asks of a packet it sends (an NBL's large-send and checksum information).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendRequest {
    /// A large send: segments of this kind and payload size.
    pub segmentation: Option<(GsoKind, u16)>,
    /// The TCP/UDP checksum is left to the adapter.
    pub l4_checksum: bool,
    /// The IPv4 header checksum is left to the adapter.
    pub ip_checksum: bool,
    /// The large send's length fields are left 0 (NDIS LSOv2 and USO): the adapter takes the
    /// packet's length from its buffer.
    pub lengths_from_buffer: bool,
    /// An offload the adapter never offers (NDIS LSOv1).
    pub not_offered: bool,
}

/// The offloads the stack takes on indicated packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackOffloadMode {
    /// TCP super-packets (IPv4 and IPv6) whole.
    pub coalesce_tcp: bool,
    /// UDP super-packets whole.
    pub coalesce_udp: bool,
    /// Partial checksums, completed by the stack.
    pub partial_checksum: bool,
    /// Packets marked as having valid checksums.
    pub checksum_valid: bool,
    /// TCP super-packets whole only as NDIS receive segment coalescing could have built them.
    pub coalescing_rules: bool,
}

impl StackOffloadMode {
    /// A stack that takes nothing.
    pub const NOTHING: Self = Self {
        coalesce_tcp: false,
        coalesce_udp: false,
        partial_checksum: false,
        checksum_valid: false,
        coalescing_rules: false,
    };
    /// Windows with receive segment coalescing and checksum offload: TCP whole (as coalescing
    /// could have built it), checksums valid.
    pub const RSC: Self = Self {
        coalesce_tcp: true,
        coalesce_udp: false,
        partial_checksum: false,
        checksum_valid: true,
        coalescing_rules: true,
    };
    /// A Linux TUN device with offloads: everything.
    pub const LINUX: Self = Self {
        coalesce_tcp: true,
        coalesce_udp: true,
        partial_checksum: true,
        checksum_valid: true,
        coalescing_rules: false,
    };
}

/// What the stack was told about a checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveredChecksum {
    /// Nothing: the stack verifies.
    Unknown,
    /// Valid.
    Valid,
    /// The L4 checksum field holds the pseudo-header sum; `start` and `offset` locate it.
    Partial {
        /// L4 header offset.
        start: u16,
        /// Checksum field offset from `start`.
        offset: u16,
    },
}

/// A packet the stack received, with what it was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveredPacket {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The checksum state.
    pub checksum: DeliveredChecksum,
    /// A super-packet indicated whole: its kind, segment size and segment count.
    pub coalesced: Option<(GsoKind, u16, u16)>,
}

/// Engine counters a scenario checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets published on the Send ring.
    pub send_packets: u64,
    /// Their bytes.
    pub send_bytes: u64,
    /// Send-ring drops for lack of room.
    pub send_dropped_ring_full: u64,
    /// Send drops with no running session.
    pub send_dropped_not_running: u64,
    /// Send drops for invalid length.
    pub send_dropped_invalid: u64,
    /// Send drops for an invalid client head.
    pub send_dropped_ring_fault: u64,
    /// Packets indicated from the Receive ring.
    pub receive_packets: u64,
    /// Their bytes.
    pub receive_bytes: u64,
    /// Non-IP drops.
    pub receive_dropped_not_ip: u64,
    /// Drops for lack of indication resources.
    pub receive_dropped_no_resources: u64,
    /// Split-packet drops.
    pub receive_dropped_split: u64,
    /// Skipped empty v2 slots.
    pub receive_empty_slots: u64,
    /// Receive rings stopped as corrupt.
    pub receive_ring_faults: u64,
    /// Times the Receive-ring consumer went to sleep.
    pub receive_sleeps: u64,
    /// Timed re-checks of `tail` by the sleeping consumer.
    pub receive_rechecks: u64,
    /// Re-checks that found packets published without a wake-up.
    pub receive_lost_wakeups: u64,
    /// Sessions registered.
    pub sessions_registered: u64,
    /// Registrations refused.
    pub registrations_refused: u64,
    /// Sessions ended.
    pub sessions_ended: u64,
    /// Offload sessions: Receive-ring packets dropped for invalid metadata.
    pub receive_dropped_offload: u64,
    /// Super-packets (or partial checksums) the engine cut (or completed) on the Receive path.
    pub receive_segmented: u64,
    /// The packets indicated for those.
    pub receive_segments: u64,
    /// Super-packets indicated whole.
    pub receive_coalesced: u64,
    /// Write-space events set.
    pub receive_space_signals: u64,
    /// Stack packets with an offload request published whole with metadata.
    pub send_offload_packets: u64,
    /// Stack packets with an offload request the engine cut before the ring.
    pub send_segmented: u64,
    /// The packets published for those.
    pub send_segments: u64,
    /// Large sends dropped because their offload is off (or never offered).
    pub send_dropped_offload_off: u64,
}

/// The system under test. A fresh one is made for every scenario.
pub trait Backend: Send + Sync {
    /// A client handle on the adapter.
    type Client: ringtun::backend::Backend + 'static;
    /// A packet the stack holds (indicated and not yet returned).
    type Held: Send;

    /// A short name for reports.
    fn name(&self) -> &'static str;
    /// What this backend can do beyond traffic.
    fn supports(&self) -> Needs;

    /// Opens a client handle as process `process` with the given bitness.
    fn open_client(&self, process: u64, bitness: CallerBitness) -> Self::Client;

    /// The stack sends `packets` out of the adapter as one batch.
    fn transmit(&self, packets: &[&[u8]]) -> Vec<Outcome>;
    /// Whether indicated packets are held (and not returned) from now on.
    fn set_hold(&self, hold: bool);
    /// Waits until `n` packets are held.
    fn wait_held(&self, n: usize, timeout: Duration) -> bool;
    /// Takes the held packets.
    fn take_held(&self) -> Vec<Self::Held>;
    /// A held packet's bytes, read in place.
    fn held_bytes(&self, held: &Self::Held) -> Vec<u8>;
    /// Where a held packet lies: (offset from the ring start, length).
    fn held_span(&self, held: &Self::Held) -> (usize, usize);
    /// Returns held packets to the adapter, in the given order.
    fn return_held(&self, held: Vec<Self::Held>);
    /// Waits until the stack has received `n` packets in total since the start.
    fn wait_delivered(&self, n: u64, timeout: Duration) -> bool;
    /// Takes the packets the stack received (bytes as indicated).
    fn take_delivered(&self) -> Vec<Vec<u8>>;
    /// Every link state change so far.
    fn link_history(&self) -> Vec<bool>;

    /// The process `process` exits.
    fn process_exit(&self, process: u64);
    /// The adapter is halted.
    fn halt(&self);
    /// The device is surprise-removed (the session ends; registrations are refused).
    fn surprise_remove(&self);
    /// PnP query-remove reaches the adapter (the session continues; registrations wait for the
    /// outcome).
    fn query_remove(&self);
    /// PnP cancel-remove reaches the adapter.
    fn cancel_remove(&self);
    /// Removes the device through PnP (disables it), as an administrator would; `Err` if the
    /// removal was refused (vetoed) or failed.
    fn disable_device(&self) -> Result<(), Failure>;
    /// Brings a removed device back (enables it).
    fn enable_device(&self) -> Result<(), Failure>;
    /// The adapter is paused (returns when paused).
    fn pause(&self);
    /// The adapter is restarted.
    fn restart(&self);

    /// The next `n` indications fail for lack of resources.
    fn fail_next_indications(&self, n: u64);
    /// Ring mapping fails while set.
    fn fail_map(&self, on: bool);
    /// Event referencing fails while set.
    fn fail_reference_event(&self, on: bool);
    /// Starting the consumer thread fails while set.
    fn fail_spawn(&self, on: bool);

    /// The engine's counters now.
    fn counters(&self) -> Counters;

    /// The stack sends `packets`, each with the offload request of the same index, as one batch
    /// (needs [`Needs::offload_stack`]).
    fn transmit_requests(&self, packets: &[&[u8]], requests: &[SendRequest]) -> Vec<Outcome> {
        let _ = requests;
        self.transmit(packets)
    }

    /// Sets the offloads the stack takes on indicated packets (needs [`Needs::offload_stack`]).
    fn set_stack_offloads(&self, mode: StackOffloadMode) {
        let _ = mode;
    }

    /// Takes the packets the stack received with what it was told about each (without
    /// [`Needs::offload_stack`]: nothing is told).
    fn take_delivered_packets(&self) -> Vec<DeliveredPacket> {
        self.take_delivered()
            .into_iter()
            .map(|bytes| DeliveredPacket { bytes, checksum: DeliveredChecksum::Unknown, coalesced: None })
            .collect()
    }

    /// Ring memory blocks still alive anywhere (client or driver), if the backend can tell.
    fn live_rings(&self) -> Option<usize> {
        None
    }

    /// After a scenario: whether the backend saw anything wrong on its side (for example a
    /// safety net that had to return packets a scenario left held).
    fn check_clean(&self) -> Result<(), Failure> {
        Ok(())
    }
}
