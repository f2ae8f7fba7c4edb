//! libFuzzer entry for the `ring_parse` harness (see `tests/src/fuzzing/rings.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtun_tests::fuzzing::rings::run(data));
