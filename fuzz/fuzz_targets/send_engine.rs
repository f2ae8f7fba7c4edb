//! libFuzzer entry for the `send_engine` harness (see `tests/src/fuzzing/send.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtun_tests::fuzzing::send::run(data));
