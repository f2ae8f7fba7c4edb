//! Property tests of the registration validator: random bytes never panic it; what it accepts
//! obeys every rule; valid registrations round-trip; single-byte corruption gives the right error.

use proptest::prelude::*;
use ring_abi::v1::{RegistrationV1x64, RegistrationV1x86, RingDescV1x64, RingDescV1x86};
use ring_abi::v2::{RegistrationV2, RingDescV2};
use ring_abi::*;
use zerocopy::IntoBytes;

fn bitness() -> impl Strategy<Value = CallerBitness> {
    prop_oneof![Just(CallerBitness::Bits64), Just(CallerBitness::Bits32)]
}

fn check_accepted(input: &[u8], caller: CallerBitness, cfg: &RingConfig) -> Result<(), TestCaseError> {
    match (input.len(), caller) {
        (56, _) => {
            prop_assert_eq!(cfg.version, RingVersion::V2);
            prop_assert!(!cfg.flags.contains(RegistrationFlags::WRITE_SPACE) && cfg.write_space_event.is_none());
        }
        (64, _) => {
            prop_assert_eq!(cfg.version, RingVersion::V2);
            prop_assert!(cfg.flags.contains(RegistrationFlags::WRITE_SPACE));
            prop_assert!(cfg.write_space_event.is_some_and(|e| e != 0));
        }
        (48, CallerBitness::Bits64) | (24, CallerBitness::Bits32) => prop_assert_eq!(cfg.version, RingVersion::V1),
        other => return Err(TestCaseError::fail(format!("accepted {other:?}"))),
    }
    let limit: u128 = match caller {
        CallerBitness::Bits64 => 1 << 64,
        CallerBitness::Bits32 => 1 << 32,
    };
    let end = |d: &RingDesc| u128::from(d.ring_ptr) + u128::from(d.geometry.ring_size());
    prop_assert!(
        end(&cfg.send) <= u128::from(cfg.receive.ring_ptr) || end(&cfg.receive) <= u128::from(cfg.send.ring_ptr),
        "overlapping rings accepted"
    );
    for d in [cfg.send, cfg.receive] {
        prop_assert!(d.ring_ptr != 0 && d.tail_moved_event != 0);
        prop_assert_eq!(d.ring_ptr % u64::from(d.geometry.alignment()), 0);
        prop_assert!(end(&d) <= limit);
        prop_assert!(d.geometry.capacity().is_power_of_two());
        prop_assert!(d.geometry.room().headroom <= MAX_HEADROOM && d.geometry.room().tailroom <= MAX_TAILROOM);
        if cfg.flags.contains(RegistrationFlags::OFFLOAD) {
            prop_assert!(u32::from(d.geometry.room().headroom) >= OFFLOAD_META_SIZE);
        }
    }
    prop_assert!(
        !(cfg.flags.contains(RegistrationFlags::OFFLOAD) && cfg.flags.contains(RegistrationFlags::RECEIVE_SPLIT))
    );
    Ok(())
}

fn capacity() -> impl Strategy<Value = u32> {
    (17u32..=26).prop_map(|shift| 1u32 << shift)
}

prop_compose! {
    fn valid_v2()(
        flags in 0u32..=1,
        caps in (capacity(), capacity()),
        rooms in (0u16..=4096, 0u16..=4096, 0u16..=4096, 0u16..=4096),
        // Send below 2^41, Receive from 2^42: never overlapping.
        ptrs in (1u64..(1 << 38), (1u64 << 39)..(1 << 40)),
        events in (1u64..u64::MAX, 1u64..u64::MAX),
    ) -> RegistrationV2 {
        RegistrationV2 {
            version: 2,
            flags,
            send: RingDescV2 { ring_size: v2_ring_size(caps.0, rooms.0, rooms.1), headroom: rooms.0, tailroom: rooms.1, ring_ptr: ptrs.0 * 8, tail_moved_event: events.0 },
            receive: RingDescV2 { ring_size: v2_ring_size(caps.1, rooms.2, rooms.3), headroom: rooms.2, tailroom: rooms.3, ring_ptr: ptrs.1 * 8, tail_moved_event: events.1 },
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..128), caller in bitness()) {
        if let Ok(cfg) = parse_registration(&input, caller) {
            check_accepted(&input, caller, &cfg)?;
        }
    }

    #[test]
    fn random_bytes_of_the_right_lengths(len in prop_oneof![Just(24usize), Just(48), Just(56), Just(64)], seed in prop::collection::vec(any::<u8>(), 64), caller in bitness()) {
        let input = &seed[..len];
        if let Ok(cfg) = parse_registration(input, caller) {
            check_accepted(input, caller, &cfg)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn v2_round_trips_and_single_byte_corruption(reg in valid_v2(), byte in 0usize..56, value in any::<u8>(), caller in bitness()) {
        let caller_ok = caller == CallerBitness::Bits64
            || (reg.send.ring_ptr + u64::from(reg.send.ring_size) <= 1 << 32
                && reg.receive.ring_ptr + u64::from(reg.receive.ring_size) <= 1 << 32);
        let parsed = parse_registration(reg.as_bytes(), caller);
        if caller_ok {
            let cfg = parsed.unwrap();
            prop_assert_eq!(cfg.to_v2(), reg);
        } else {
            prop_assert!(matches!(parsed, Err(RegistrationError::RingWraps(_))));
            return Ok(());
        }
        let mut bytes = reg.as_bytes().to_vec();
        let changed = bytes[byte] != value;
        bytes[byte] = value;
        match parse_registration(&bytes, caller) {
            Ok(cfg) => check_accepted(&bytes, caller, &cfg)?,
            Err(e) => {
                prop_assert!(changed);
                let role = if byte < 32 { RingRole::Send } else { RingRole::Receive };
                match byte {
                    0..=3 => prop_assert!(matches!(e, RegistrationError::UnsupportedVersion(_))),
                    // Known flags can also be refused in combination, without their layout (the
                    // 64-byte one for WRITE_SPACE) or without the head room OFFLOAD needs.
                    4..=7 => prop_assert!(matches!(
                        e,
                        RegistrationError::UnknownFlags(_)
                            | RegistrationError::IncompatibleFlags(_)
                            | RegistrationError::WriteSpaceLayout(_)
                            | RegistrationError::OffloadNeedsHeadroom(_)
                    )),
                    _ => {
                        let within = (byte - 8) % 24;
                        let ok = match within {
                            0..=7 => matches!(e, RegistrationError::Geometry(r, _) if r == role),
                            8..=15 => matches!(e, RegistrationError::NullRing(r) | RegistrationError::MisalignedRing(r, _) | RegistrationError::RingWraps(r) if r == role)
                                || e == RegistrationError::RingsOverlap,
                            _ => matches!(e, RegistrationError::NullEvent(r) if r == role),
                        };
                        prop_assert!(ok, "byte {} gave {:?}", byte, e);
                    }
                }
            }
        }
    }

    #[test]
    fn v1_round_trips(caps in (capacity(), capacity()), ptrs in (1u32..0x0E00_0000, 0x1000_0000u32..0x2000_0000), events in (1u32.., 1u32..)) {
        let r64 = RegistrationV1x64 {
            send: RingDescV1x64 { ring_size: v1_ring_size(caps.0), pad: 0, ring_ptr: u64::from(ptrs.0) * 4, tail_moved_event: u64::from(events.0) },
            receive: RingDescV1x64 { ring_size: v1_ring_size(caps.1), pad: 7, ring_ptr: u64::from(ptrs.1) * 4, tail_moved_event: u64::from(events.1) },
        };
        let cfg = parse_registration(r64.as_bytes(), CallerBitness::Bits64).unwrap();
        prop_assert_eq!(cfg.send.geometry.capacity(), caps.0);
        prop_assert_eq!(cfg.receive.geometry.capacity(), caps.1);
        prop_assert_eq!(cfg.to_v1x64().send.ring_ptr, r64.send.ring_ptr);
        let r32 = RegistrationV1x86 {
            send: RingDescV1x86 { ring_size: v1_ring_size(caps.0), ring_ptr: ptrs.0 * 4, tail_moved_event: events.0 },
            receive: RingDescV1x86 { ring_size: v1_ring_size(caps.1), ring_ptr: ptrs.1 * 4, tail_moved_event: events.1 },
        };
        let cfg = parse_registration(r32.as_bytes(), CallerBitness::Bits32).unwrap();
        prop_assert_eq!(cfg.to_v1x86(), Some(r32));
    }
}
