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

use ring_abi::CallerBitness;

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
}

impl Needs {
    /// Client handles and well-formed traffic through a real stack (UDP datagrams).
    pub const NONE: Self =
        Self { raw_packets: false, stack_control: false, lifecycle: false, faults: false, counters: false, pnp: false };
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
    /// Everything the engine on the host can do (all but PnP).
    pub const ALL: Self =
        Self { raw_packets: true, stack_control: true, lifecycle: true, faults: true, counters: true, pnp: false };

    /// Whether `self` includes everything `other` asks for.
    pub fn covers(&self, other: Needs) -> bool {
        (self.raw_packets || !other.raw_packets)
            && (self.stack_control || !other.stack_control)
            && (self.lifecycle || !other.lifecycle)
            && (self.faults || !other.faults)
            && (self.counters || !other.counters)
            && (self.pnp || !other.pnp)
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
    /// The device is surprise-removed.
    fn surprise_remove(&self);
    /// PnP query-remove reaches the adapter (the session ends; registrations wait for the outcome).
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
