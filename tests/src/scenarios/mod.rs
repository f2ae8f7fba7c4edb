//! Every scenario, by area.

pub mod common;
pub mod faults;
pub mod flow;
pub mod hostile;
pub mod offload;
pub mod registration;
pub mod regressions;
pub mod room;
pub mod teardown;
pub mod traffic;
pub mod wintun;

use crate::backend::{Backend, Needs};
use crate::runner::Scenario;

macro_rules! scenarios {
    ($d:tt $( $module:ident :: $name:ident, $needs:expr, $summary:literal; )*) => {
        /// Every scenario, in a stable order.
        pub fn all<B: Backend>() -> Vec<Scenario<B>> {
            vec![$(
                Scenario {
                    name: concat!(stringify!($module), "::", stringify!($name)),
                    summary: $summary,
                    needs: $needs,
                    run: $module::$name::<B>,
                },
            )*]
        }

        /// Generates one `#[test]` per scenario for a backend type (used by the host suite).
        #[macro_export]
        macro_rules! scenario_tests {
            ($d backend:ty, $d make:expr) => {
                $(
                    #[test]
                    fn $name() {
                        let scenario = $d crate::scenarios::all::<$d backend>()
                            .into_iter()
                            .find(|s| s.name == concat!(stringify!($module), "::", stringify!($name)))
                            .expect("scenario registered");
                        let report = $d crate::runner::run_one(&scenario, &$d make);
                        match report.verdict {
                            $d crate::runner::Verdict::Passed => {}
                            // Only what needs a real device (PnP) may be skipped here.
                            $d crate::runner::Verdict::Skipped(why) => {
                                assert!(scenario.needs.pnp, "skipped on a full backend: {why}")
                            }
                            $d crate::runner::Verdict::Failed(why) => panic!("{}: {why}", scenario.name),
                        }
                    }
                )*
            };
        }
    };
}

scenarios! {
    $
    registration::register_v1_64, Needs::COUNTERS, "v1 from a 64-bit process: registers, moves traffic both ways";
    registration::register_v1_32, Needs::COUNTERS, "v1 from a 32-bit process (24-byte layout)";
    registration::register_v2, Needs::COUNTERS, "v2 registration and the capability reply";
    registration::refused_fields, Needs::COUNTERS, "each invalid registration field refused with its status; nothing left behind";
    registration::second_registration_refused, Needs::COUNTERS, "one session per adapter; the next after close";
    registration::stale_registration, Needs::COUNTERS, "closed event handles and freed ring memory: STATUS_INVALID_HANDLE (events referenced before the rings are probed, as Wintun)";
    traffic::both_ways_all_sizes_v1, Needs::COUNTERS, "1..=0xFFFF bytes both ways, IPv4 and IPv6, v1";
    traffic::both_ways_all_sizes_v2, Needs::COUNTERS, "1..=0xFFFF bytes both ways, IPv4 and IPv6, v2";
    traffic::non_ip_dropped, Needs::COUNTERS, "non-IP and short packets dropped, counted, slots released";
    traffic::receive_split, Needs::COUNTERS, "RECEIVE_SPLIT: several IP packets per slot, bad lengths dropped";
    room::send_ring_room_exact, Needs::COUNTERS, "v2 Send ring: exact head room, at least the tail room";
    room::receive_room_and_shrink_any_order, Needs::COUNTERS, "v2 Receive ring: per-packet room, moved start, shrink, sent out of order";
    flow::send_batch_larger_than_the_ring, Needs::STACK, "a batch larger than the Send ring's free space: its longest prefix that fits sent, the rest dropped, in order";
    flow::send_ring_full_and_recovery, Needs::STACK, "Send ring full: what does not fit dropped and counted, then recovery";
    flow::receive_ring_full_and_recovery, Needs::STACK, "Receive ring full while the stack holds packets, then recovery";
    flow::wrap_at_every_alignment_v1, Needs::COUNTERS, "slots straddling the wrap at every 4-byte offset";
    flow::wrap_at_every_alignment_v2, Needs::COUNTERS, "slots straddling the wrap at every 8-byte offset";
    flow::client_releases_out_of_order, Needs::COUNTERS, "head advances only over the released prefix";
    flow::client_batches, Needs::STACK, "receive_many/release_many and allocate_many/send_many move head and tail as single calls do";
    flow::stack_returns_out_of_order, Needs::STACK, "Receive head released in order whatever the return order";
    teardown::close_with_packets_in_flight, Needs::LIFECYCLE, "close with packets in flight: all returned, markers set";
    teardown::process_exit_with_packets_in_flight, Needs::LIFECYCLE, "owner process exit ends the session";
    teardown::process_exit_waits_for_close_in_progress, Needs::LIFECYCLE, "owner exit during another handle's close waits for that teardown";
    teardown::halt_with_packets_in_flight, Needs::LIFECYCLE, "halt ends the session and refuses new ones";
    teardown::surprise_remove_with_packets_in_flight, Needs::LIFECYCLE, "surprise removal ends the session";
    teardown::query_remove_refuses_registrations_until_cancelled, Needs::LIFECYCLE, "query-remove keeps the session and refuses registrations until cancel-remove; surprise removal ends it";
    teardown::removal_with_session_open, Needs::PNP, "disabling the device with a session open: not vetoed, the session ends, the device comes back";
    teardown::pause_and_restart, Needs::LIFECYCLE, "pause waits for returns, refuses sends, holds receives";
    faults::indication_failures, Needs::ALL, "no NBL: packets dropped and counted, slots still released in order";
    faults::registration_failures, Needs::ALL, "map/event/thread failures refuse cleanly; the next registration works";
    hostile::scribbling_client_v1, Needs::STACK, "a client scribbling on its v1 rings stops only its own session";
    hostile::scribbling_client_v2, Needs::STACK, "a client scribbling on its v2 rings stops only its own session";
    regressions::parallel_senders, Needs::COUNTERS, "many threads transmitting at once: no overlap, nothing lost";
    regressions::parallel_returns, Needs::STACK, "the stack returning from several threads: head in order";
    regressions::wakeup_race, Needs::TRAFFIC, "consumer about to sleep while the producer publishes: every packet within 1 s";
    regressions::garbage_bookkeeping, Needs::STACK, "every transmit status written exactly once on every path";
    wintun::wintun_registration, Needs::COUNTERS, "Wintun layout (one region, Receive ring 4 mod 8), 64/32-bit, every capacity: registers, second refused, close stops both rings";
    wintun::wintun_traffic_every_size, Needs::COUNTERS, "Wintun layout: traffic both ways at every capacity and bitness, 1..=0xFFFF bytes";
    wintun::wintun_wrap_around, Needs::COUNTERS, "Wintun layout: four laps of the ring both ways, slots at every 4-byte offset";
    wintun::wintun_parallel_senders, Needs::COUNTERS, "Wintun layout: several threads allocating and sending while the stack sends";
    wintun::wintun_out_of_order_release, Needs::COUNTERS, "Wintun layout: releases and sends out of order move head/tail over the prefix only";
    wintun::wintun_ring_full_and_recovery, Needs::STACK, "Wintun layout: both rings full, then recovery";
    wintun::wintun_teardown_both_sides, Needs::LIFECYCLE, "Wintun layout: close, process exit and halt: markers, read event, end of file";
    wintun::wintun_observable_refusals, Needs::COUNTERS, "Wintun layout: each registration refusal with its status";
    wintun::wintun_read_event_and_alertable, Needs::COUNTERS, "Wintun layout: read event after every publish only; alertable while the consumer sleeps";
    wintun::wintun_lost_wakeups_bounded, Needs::COUNTERS, "clients without the fence or the signal: every packet within the re-check bound";
    offload::negotiated, Needs::COUNTERS, "offloads and the write-space signal granted on top of the asked room; v1 and plain v2 unchanged";
    offload::large_sends, Needs::OFFLOAD, "the stack's large sends: one slot with exact metadata, or valid packets cut by the engine for v1/v2 clients";
    offload::ndis_large_sends, Needs::OFFLOAD, "NDIS large sends (length fields 0): lengths filled in from the buffer, a wrong one refused, LSOv1 dropped as off";
    offload::large_sends_beyond_the_segment_limit, Needs::OFFLOAD, "a large send of more segments than the ring carries (MSS 256, 64 KiB): cut by the engine for every client, never refused";
    offload::super_packets_to_each_stack, Needs::OFFLOAD, "client super-packets and checksum states to each kind of stack: whole, with the pseudo-header sum, or cut";
    offload::invalid_metadata, Needs::OFFLOAD, "a hostile client's invalid metadata: each packet dropped and counted alone, the ring keeps going";
    offload::write_space_wakes_the_client, Needs::STACK, "a full ring: the client sleeps on the write-space event and is woken by the release, or by the ring's end";
}
