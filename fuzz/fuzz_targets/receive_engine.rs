//! libFuzzer entry for the `receive_engine` harness (see `tests/src/fuzzing/receive.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtun_tests::fuzzing::receive::run(data));
