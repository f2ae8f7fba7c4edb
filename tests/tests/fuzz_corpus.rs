//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through every fuzz target's
//! harness on the stable toolchain, so the targets and their assertions never rot; then a short
//! burst of pseudo-random inputs per target (a fixed seed: the same inputs every run).

use std::path::PathBuf;

use ringtun_tests::fuzzing::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

#[test]
fn every_target_has_a_corpus_and_replays_it() {
    for (name, run) in TARGETS {
        let dir = corpus_dir(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .collect();
        files.sort();
        assert!(files.len() >= 10, "{name}: only {} corpus inputs", files.len());
        for file in files {
            let data = std::fs::read(&file).expect("corpus file");
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                panic!("{name}: {} fails: {:?}", file.display(), panic.downcast_ref::<String>());
            }
        }
    }
}

/// xorshift64*: a fixed, dependency-free stream of test bytes.
fn bytes(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed >> 12;
            *seed ^= *seed << 25;
            *seed ^= *seed >> 27;
            (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn every_target_survives_random_inputs() {
    for (name, run) in TARGETS {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ name.len() as u64;
        for i in 0..40 {
            let len = [0usize, 1, 7, 24, 48, 56, 200, 1000][i % 8];
            let data = bytes(&mut seed, len);
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                panic!("{name}: random input {data:02x?} fails: {:?}", panic.downcast_ref::<String>());
            }
        }
    }
}
