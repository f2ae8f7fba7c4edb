//! libFuzzer entry for the `registration` harness (see `tests/src/fuzzing/registration.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtun_tests::fuzzing::registration::run(data));
