//! libFuzzer entry for the `client_send_ring` harness (see `tests/src/fuzzing/client.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtun_tests::fuzzing::client::run(data));
