//! Adapter statistics: lock-free counters updated on the data paths, read as a snapshot for OID
//! queries, tests and the demo.

use core::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Live counters (atomic adds; relaxed: each is independent).
        #[derive(Debug, Default)]
        pub struct Stats {
            $( $(#[$doc])* pub $name: AtomicU64, )*
        }

        /// A copy of every counter at one moment.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl Stats {
            /// Reads every counter.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }
    };
}

counters! {
    /// Packets the stack sent that were published on the Send ring.
    send_packets,
    /// IP bytes of those packets.
    send_bytes,
    /// Packets dropped because the Send ring lacked room for them (the packets of a batch after
    /// its longest prefix that fits).
    send_dropped_ring_full,
    /// Packets dropped because no session was running (or the adapter was paused).
    send_dropped_not_running,
    /// Packets dropped for a length of 0 or above 0xFFFF, or a copy failure.
    send_dropped_invalid,
    /// Packets dropped because the client's Send-ring head was invalid.
    send_dropped_ring_fault,
    /// Packets dropped because they asked for a large send the adapter has turned off.
    send_dropped_offload_off,
    /// Packets indicated to the stack from the Receive ring.
    receive_packets,
    /// IP bytes of those packets.
    receive_bytes,
    /// Well-formed Receive-ring packets that were not IPv4/IPv6, dropped.
    receive_dropped_not_ip,
    /// Receive-ring packets dropped because an indication could not be allocated.
    receive_dropped_no_resources,
    /// Parts of a split Receive-ring packet dropped for inconsistent IP lengths.
    receive_dropped_split,
    /// v2 empty slots (data length 0) skipped.
    receive_empty_slots,
    /// Receive rings stopped because their contents were corrupt.
    receive_ring_faults,
    /// Offload sessions: Receive-ring packets dropped for metadata that does not fit the packet
    /// (or a data offset inside the metadata block).
    receive_dropped_offload,
    /// Offload sessions: Receive-ring packets the engine cut into IP packets (or whose partial
    /// checksum it completed), because the stack does not take them whole.
    receive_segmented,
    /// The IP packets indicated for those.
    receive_segments,
    /// Offload sessions: super-packets indicated whole, as one coalesced unit (NDIS RSC
    /// statistics: `CoalesceEvents`).
    receive_coalesced,
    /// The TCP or UDP segments those units carry (`CoalescedPkts`).
    receive_coalesced_segments,
    /// Their payload bytes, headers not counted (`CoalescedOctets`).
    receive_coalesced_bytes,
    /// Offload sessions: TCP super-packets of an IP version the stack takes coalesced that the
    /// engine cut instead (their checksum state or headers did not allow one unit; `Aborts`).
    receive_coalesce_aborts,
    /// Times the driver set the client's write-space event after freeing Receive-ring space.
    receive_space_signals,
    /// Payload bytes the driver copied (stack to Send ring).
    copied_bytes,
    /// Payload bytes handed to the stack without a copy (Receive ring to stack).
    zero_copy_bytes,
    /// Times the consumer went to sleep on an empty Receive ring.
    receive_sleeps,
    /// Times a sleeping consumer woke on its re-check timeout (no signal) to re-read `tail`.
    receive_rechecks,
    /// Times such a re-check found packets the client had published without signalling the
    /// consumer (a lost wake-up: a client without the full fence, or one that skipped the
    /// signal). A re-check whose packets were signalled after the timeout is not one.
    receive_lost_wakeups,
    /// Times the driver signalled the client's Send-ring event.
    send_signals,
    /// Packets the stack sent with an offload request (a large send, a checksum to complete)
    /// that were published on the Send ring whole, with their metadata (offload sessions).
    send_offload_packets,
    /// Packets the stack sent with an offload request that the engine cut into IP packets (or
    /// whose checksum it completed) before the ring, for a session without offloads.
    send_segmented,
    /// The IP packets published for those.
    send_segments,
    /// Sessions registered.
    sessions_registered,
    /// Registrations refused.
    registrations_refused,
    /// Sessions ended.
    sessions_ended,
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Counts one coalesced unit of `segments` segments and `payload` payload bytes indicated.
pub(crate) fn count_coalesced(stats: &Stats, segments: u16, payload: u32) {
    bump(&stats.receive_coalesced);
    add(&stats.receive_coalesced_segments, u64::from(segments));
    add(&stats.receive_coalesced_bytes, u64::from(payload));
}

/// Adds 1 to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    add(counter, 1);
}
