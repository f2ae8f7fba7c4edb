//! Target `registration`: any bytes, from a caller of either bitness, through ring-abi's
//! validator and through the engine's IOCTL entry.
//!
//! Promises: the validator is deterministic; whatever it accepts obeys every rule of the spec
//! (length matches the bitness, version, flags, pointers non-zero and aligned, rings inside the
//! caller's address space and not overlapping, sizes exactly a valid geometry) and re-encodes
//! to an input that parses to the same configuration; the engine refuses exactly what the
//! validator refuses (with `STATUS_INVALID_PARAMETER`; what it accepts fails at referencing the
//! Send ring's event, `STATUS_INVALID_HANDLE`), counts the refusal, leaves no session, no mapping
//! and no event reference behind.

use std::cell::RefCell;
use std::sync::Arc;

use ring_abi::{
    parse_registration, CallerBitness, RingConfig, RingDesc, RingVersion, IOCTL_REGISTER_RINGS, MAX_HEADROOM,
    MAX_RING_CAPACITY, MAX_TAILROOM, MIN_RING_CAPACITY,
};
use ringtun_driver::engine::Status;
use ringtun_driver::host::HostDriver;
use zerocopy::IntoBytes;

use super::Input;

thread_local! {
    static DRIVER: RefCell<Option<Arc<HostDriver>>> = const { RefCell::new(None) };
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let caller = if input.u8() & 1 == 0 { CallerBitness::Bits64 } else { CallerBitness::Bits32 };
    let bytes = input.rest();
    let parsed = parse_registration(bytes, caller);
    assert_eq!(parsed, parse_registration(bytes, caller), "validator not deterministic");
    if let Ok(config) = &parsed {
        check_accepted(bytes.len(), caller, config);
        round_trip(caller, config);
    }

    // The engine's entry: the same verdict. No event handle and no ring memory exist in this
    // kernel, so an accepted registration still fails at its first event reference (events are
    // referenced before rings are probed); either way nothing may remain.
    let driver = DRIVER.with(|d| Arc::clone(d.borrow_mut().get_or_insert_with(HostDriver::new_polled)));
    let before = driver.adapter().stats();
    let file = driver.open(1, caller);
    let result = driver.ioctl(&file, IOCTL_REGISTER_RINGS, bytes, &mut []);
    // Refused by the validator: invalid parameter. Accepted: the Send event cannot be referenced
    // (this kernel holds no handle), as Wintun answers it.
    let want = if parsed.is_ok() { Status::InvalidHandle } else { Status::InvalidParameter };
    assert_eq!(result, Err(want), "{parsed:?}");
    let after = driver.adapter().stats();
    assert_eq!(after.registrations_refused, before.registrations_refused + 1);
    assert_eq!(after.sessions_registered, 0);
    assert!(driver.adapter().session().is_none());
    assert_eq!(driver.kernel().live_ring_allocations(), 0);
    assert!(driver.stack().link_history().is_empty(), "link raised by a refused registration");
    driver.close(file);
}

fn check_accepted(len: usize, caller: CallerBitness, config: &RingConfig) {
    match (len, caller, config.version) {
        (56, _, RingVersion::V2) | (48, CallerBitness::Bits64, RingVersion::V1) => {}
        (24, CallerBitness::Bits32, RingVersion::V1) => {}
        other => panic!("accepted {other:?}"),
    }
    if config.version == RingVersion::V1 {
        assert_eq!(config.flags, ring_abi::RegistrationFlags::EMPTY);
    }
    let top: u128 = match caller {
        CallerBitness::Bits64 => 1 << 64,
        CallerBitness::Bits32 => 1 << 32,
    };
    let end = |d: &RingDesc| u128::from(d.ring_ptr) + u128::from(d.geometry.ring_size());
    for d in [&config.send, &config.receive] {
        assert_eq!(d.geometry.version(), config.version);
        assert!(d.ring_ptr != 0 && d.tail_moved_event != 0);
        assert_eq!(d.ring_ptr % u64::from(d.geometry.alignment()), 0);
        assert!(end(d) <= top, "ring beyond the caller's address space");
        let capacity = d.geometry.capacity();
        assert!(capacity.is_power_of_two() && (MIN_RING_CAPACITY..=MAX_RING_CAPACITY).contains(&capacity));
        assert!(d.geometry.room().headroom <= MAX_HEADROOM && d.geometry.room().tailroom <= MAX_TAILROOM);
    }
    let (s, r) = (&config.send, &config.receive);
    assert!(end(s) <= u128::from(r.ring_ptr) || end(r) <= u128::from(s.ring_ptr), "overlapping rings accepted");
}

fn round_trip(caller: CallerBitness, config: &RingConfig) {
    let again = match config.version {
        RingVersion::V2 => parse_registration(config.to_v2().as_bytes(), caller),
        RingVersion::V1 => match caller {
            CallerBitness::Bits64 => parse_registration(config.to_v1x64().as_bytes(), caller),
            CallerBitness::Bits32 => {
                let encoded = config.to_v1x86().expect("a 32-bit caller's registration fits 32 bits");
                parse_registration(encoded.as_bytes(), caller)
            }
        },
    };
    assert_eq!(again.as_ref(), Ok(config));
}
