//! The fault-injection and teardown soaks (see `ringtun_tests::soak`), at a size that fits CI.
//!
//! Long mode for local runs: `RINGTUN_SOAK=long cargo test -p ringtun-tests --test soak --release`
//! (or `RINGTUN_SOAK_ITERATIONS=N`); replay a run with `RINGTUN_SOAK_SEED=<seed>`.

use std::sync::Mutex;

use ringtun_tests::soak::{fault_soak, teardown_soak, FaultyAllocator, SoakConfig};

/// Lets the fault soak fail large allocations of the registering thread in turn.
#[global_allocator]
static ALLOCATOR: FaultyAllocator = FaultyAllocator;

/// The two soaks share the machine's cores; one at a time keeps their timing honest.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn fault_injection_soak() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = SoakConfig::from_env(500, 20_000);
    match fault_soak(config) {
        Ok(report) => {
            println!("fault soak, seed {:#x}: {report}", config.seed);
            assert!(report.allocation_failures > 0, "allocation failures were injected");
            assert!(report.faults_injected > 0, "platform faults were injected");
            assert!(report.offload_sessions > 0, "v2 sessions with offloads ran");
        }
        Err(e) => panic!("fault soak failed; replay with RINGTUN_SOAK_SEED={:#x}: {e}", config.seed),
    }
}

#[test]
fn teardown_under_load_soak() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = SoakConfig::from_env(1000, 20_000);
    match teardown_soak(config) {
        Ok(report) => {
            println!("teardown soak, seed {:#x}: {report}", config.seed);
            assert!(report.ends.iter().all(|&n| n > 0), "every kind of end ran: {:?}", report.ends);
            assert!(report.pauses > 0, "pauses ran");
            assert!(report.wintun_layout_sessions > 0, "v1 sessions with Wintun's layout ran");
            assert!(report.offload_sessions > 0, "v2 sessions with offloads ran");
            assert!(report.super_packets_whole > 0 && report.super_packets_cut > 0, "super-packets whole and cut");
        }
        Err(e) => panic!("teardown soak failed; replay with RINGTUN_SOAK_SEED={:#x}: {e}", config.seed),
    }
}
