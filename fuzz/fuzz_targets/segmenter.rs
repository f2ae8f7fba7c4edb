//! libFuzzer entry for the `segmenter` harness (see `tests/src/fuzzing/offload.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtun_tests::fuzzing::offload::run_segmenter(data));
