//! The host backend: the engine on the host platform, driven through [`HostDriver`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ring_abi::CallerBitness;
use ringtun::backend::host::HostBackend;
use ringtun_driver::engine::{TransmitOffload, TransmitStatus};
use ringtun_driver::host::{HostDriver, HostIndication, ReturnMode};
use ringtun_driver::platform::{IndicatedChecksum, StackOffloads};

use crate::backend::{
    Backend, Counters, DeliveredChecksum, DeliveredPacket, Needs, Outcome, SendRequest, StackOffloadMode,
};

/// How long the stack may hold a packet before the harness returns it by itself. A scenario
/// that fails while packets are held would otherwise leave the session's teardown waiting for
/// them forever; with this, it fails (the watchdog firing is a failure) instead of hanging.
const HOLD_LIMIT: Duration = Duration::from_secs(5);

/// A fresh host driver with one adapter.
pub struct HostSuite {
    driver: Arc<HostDriver>,
    watchdog_fired: Arc<AtomicBool>,
}

impl HostSuite {
    /// A new driver, stack in immediate-return mode.
    pub fn new() -> Self {
        let driver = HostDriver::new();
        let watchdog_fired = Arc::new(AtomicBool::new(false));
        let weak = Arc::downgrade(&driver);
        let fired = Arc::clone(&watchdog_fired);
        std::thread::spawn(move || {
            while let Some(driver) = weak.upgrade() {
                let stale = driver.stack().take_held_older_than(HOLD_LIMIT);
                if !stale.is_empty() {
                    fired.store(true, Ordering::SeqCst);
                    driver.adapter().return_indications(stale.iter().map(HostIndication::token).collect::<Vec<_>>());
                }
                drop(driver);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self { driver, watchdog_fired }
    }

    /// The driver (for host-only checks).
    pub fn driver(&self) -> &Arc<HostDriver> {
        &self.driver
    }
}

impl Default for HostSuite {
    fn default() -> Self {
        Self::new()
    }
}

fn outcome(status: TransmitStatus) -> Outcome {
    match status {
        TransmitStatus::Sent => Outcome::Sent,
        TransmitStatus::RingFull => Outcome::RingFull,
        TransmitStatus::NotRunning => Outcome::NotRunning,
        TransmitStatus::Invalid => Outcome::Invalid,
        TransmitStatus::RingFault => Outcome::RingFault,
        TransmitStatus::OffloadOff => Outcome::OffloadOff,
        TransmitStatus::Paused => Outcome::Paused,
    }
}

impl Backend for HostSuite {
    type Client = HostBackend;
    type Held = HostIndication;

    fn name(&self) -> &'static str {
        "host"
    }

    fn supports(&self) -> Needs {
        Needs::ALL
    }

    fn open_client(&self, process: u64, bitness: CallerBitness) -> HostBackend {
        HostBackend::open(&self.driver, process, bitness)
    }

    fn transmit(&self, packets: &[&[u8]]) -> Vec<Outcome> {
        match self.driver.transmit(packets) {
            Ok(statuses) => statuses.into_iter().map(outcome).collect(),
            // A status left unset (or set twice): report it as a distinct, failing outcome list.
            Err(index) => panic!("the engine left the status of packet {index} unset or set it twice"),
        }
    }

    fn set_hold(&self, hold: bool) {
        self.driver.stack().set_mode(if hold { ReturnMode::Hold } else { ReturnMode::Immediate });
    }

    fn wait_held(&self, n: usize, timeout: Duration) -> bool {
        self.driver.stack().wait_held(n, timeout)
    }

    fn take_held(&self) -> Vec<HostIndication> {
        self.driver.stack().take_held()
    }

    fn held_bytes(&self, held: &HostIndication) -> Vec<u8> {
        held.bytes()
    }

    fn held_span(&self, held: &HostIndication) -> (usize, usize) {
        (held.ring_offset(), held.ring_len())
    }

    fn return_held(&self, held: Vec<HostIndication>) {
        // Freed before the tokens go back (NDIS hands the NBL itself back to the miniport).
        let tokens: Vec<u64> = held.into_iter().map(|h| h.token()).collect();
        self.driver.adapter().return_indications(tokens);
    }

    fn wait_delivered(&self, n: u64, timeout: Duration) -> bool {
        self.driver.stack().wait_delivered(n, timeout)
    }

    fn take_delivered(&self) -> Vec<Vec<u8>> {
        self.driver.stack().take_delivered().into_iter().map(|d| d.bytes).collect()
    }

    fn link_history(&self) -> Vec<bool> {
        self.driver.stack().link_history()
    }

    fn process_exit(&self, process: u64) {
        self.driver.process_exited(process);
    }

    fn halt(&self) {
        self.driver.halt();
    }

    fn surprise_remove(&self) {
        self.driver.surprise_remove();
    }

    fn query_remove(&self) {
        self.driver.query_remove();
    }

    fn cancel_remove(&self) {
        self.driver.cancel_remove();
    }

    fn disable_device(&self) -> Result<(), crate::Failure> {
        Err(crate::Failure::new("the host platform has no PnP manager"))
    }

    fn enable_device(&self) -> Result<(), crate::Failure> {
        Err(crate::Failure::new("the host platform has no PnP manager"))
    }

    fn pause(&self) {
        self.driver.adapter().pause();
    }

    fn restart(&self) {
        self.driver.adapter().restart();
    }

    fn fail_next_indications(&self, n: u64) {
        self.driver.faults().fail_indications.store(n, Ordering::SeqCst);
    }

    fn fail_map(&self, on: bool) {
        self.driver.faults().fail_map.store(on, Ordering::SeqCst);
    }

    fn fail_reference_event(&self, on: bool) {
        self.driver.faults().fail_reference_event.store(on, Ordering::SeqCst);
    }

    fn fail_spawn(&self, on: bool) {
        self.driver.faults().fail_spawn.store(on, Ordering::SeqCst);
    }

    fn live_rings(&self) -> Option<usize> {
        Some(self.driver.kernel().live_ring_allocations())
    }

    fn check_clean(&self) -> Result<(), crate::Failure> {
        let under_lock = self.driver.calls_under_lock();
        if under_lock != 0 {
            return Err(crate::Failure::new(format!(
                "{under_lock} indication(s) to the stack were made while an engine spin lock was held"
            )));
        }
        if self.watchdog_fired.load(Ordering::SeqCst) {
            return Err(crate::Failure::new(format!(
                "packets were held for more than {HOLD_LIMIT:?} and returned by the harness"
            )));
        }
        Ok(())
    }

    fn counters(&self) -> Counters {
        let s = self.driver.adapter().stats();
        Counters {
            send_packets: s.send_packets,
            send_bytes: s.send_bytes,
            send_dropped_ring_full: s.send_dropped_ring_full,
            send_dropped_not_running: s.send_dropped_not_running,
            send_dropped_invalid: s.send_dropped_invalid,
            send_dropped_ring_fault: s.send_dropped_ring_fault,
            receive_packets: s.receive_packets,
            receive_bytes: s.receive_bytes,
            receive_dropped_not_ip: s.receive_dropped_not_ip,
            receive_dropped_no_resources: s.receive_dropped_no_resources,
            receive_dropped_split: s.receive_dropped_split,
            receive_empty_slots: s.receive_empty_slots,
            receive_ring_faults: s.receive_ring_faults,
            receive_sleeps: s.receive_sleeps,
            receive_rechecks: s.receive_rechecks,
            receive_lost_wakeups: s.receive_lost_wakeups,
            sessions_registered: s.sessions_registered,
            registrations_refused: s.registrations_refused,
            sessions_ended: s.sessions_ended,
            receive_dropped_offload: s.receive_dropped_offload,
            receive_segmented: s.receive_segmented,
            receive_segments: s.receive_segments,
            receive_coalesced: s.receive_coalesced,
            receive_space_signals: s.receive_space_signals,
            send_offload_packets: s.send_offload_packets,
            send_segmented: s.send_segmented,
            send_segments: s.send_segments,
            send_dropped_offload_off: s.send_dropped_offload_off,
        }
    }

    fn transmit_requests(&self, packets: &[&[u8]], requests: &[SendRequest]) -> Vec<Outcome> {
        let offloads: Vec<TransmitOffload> = requests
            .iter()
            .map(|r| TransmitOffload {
                segmentation: r.segmentation,
                l4_checksum: r.l4_checksum,
                ip_checksum: r.ip_checksum,
                lengths_from_buffer: r.lengths_from_buffer,
                not_offered: r.not_offered,
            })
            .collect();
        match self.driver.transmit_offloaded(packets, &offloads) {
            Ok(statuses) => statuses.into_iter().map(outcome).collect(),
            Err(i) => panic!("the engine left the status of packet {i} unset or set it twice"),
        }
    }

    fn set_stack_offloads(&self, mode: StackOffloadMode) {
        self.driver.stack().set_offloads(StackOffloads {
            coalesced_tcp4: mode.coalesce_tcp,
            coalesced_tcp6: mode.coalesce_tcp,
            coalesced_udp: mode.coalesce_udp,
            partial_checksum: mode.partial_checksum,
            checksum_valid: mode.checksum_valid,
            coalescing_rules: mode.coalescing_rules,
        });
    }

    fn take_delivered_packets(&self) -> Vec<DeliveredPacket> {
        self.driver
            .stack()
            .take_delivered()
            .into_iter()
            .map(|d| DeliveredPacket {
                checksum: match d.info.checksum {
                    IndicatedChecksum::Unknown => DeliveredChecksum::Unknown,
                    IndicatedChecksum::Valid { .. } => DeliveredChecksum::Valid,
                    IndicatedChecksum::Partial { start, offset } => DeliveredChecksum::Partial { start, offset },
                },
                coalesced: d.info.coalesced.map(|c| (c.kind, c.segment_size, c.segments)),
                bytes: d.bytes,
            })
            .collect()
    }
}
