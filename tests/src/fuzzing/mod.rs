//! Fuzz harnesses: one function per hostile surface. Each takes arbitrary bytes, builds the
//! hostile input from them (a registration, a ring image with its indices, a sequence of client
//! or driver actions) and asserts the promises the spec makes, not only the absence of a crash:
//! nothing is read or written outside the ring, a corrupt ring stops with `head = RING_STOPPED`,
//! counters match an independent model of the spec, and the next session on the adapter works.
//!
//! The same functions run under libFuzzer (`fuzz/`, nightly, `cargo fuzz run <target>`) and, on
//! stable, as a replay of the checked-in corpus (`tests/tests/fuzz_corpus.rs`). A failed
//! promise panics. See `docs/fuzzing.md`.

pub mod client;
pub mod model;
pub mod offload;
pub mod receive;
pub mod registration;
pub mod rig;
pub mod rings;
pub mod send;

/// A harness: panics when a promise fails.
pub type Harness = fn(&[u8]);

/// Every target by name (the names of the libFuzzer binaries and corpus folders).
pub const TARGETS: &[(&str, Harness)] = &[
    ("registration", registration::run),
    ("ring_parse", rings::run),
    ("receive_engine", receive::run),
    ("send_engine", send::run),
    ("client_send_ring", client::run),
    ("offload_meta", offload::run_meta),
    ("segmenter", offload::run_segmenter),
];

/// Reads fuzz bytes as values; past the end every read gives zeros.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        let mut b = [0u8; 2];
        let src = self.bytes(2);
        b[..src.len()].copy_from_slice(src);
        u16::from_le_bytes(b)
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        let src = self.bytes(4);
        b[..src.len()].copy_from_slice(src);
        u32::from_le_bytes(b)
    }
}

/// Offsets of the bytes that differ between two images of equal length (compared in chunks, so
/// that mostly equal images cost little).
pub fn changed_bytes<'a>(before: &'a [u8], after: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    const CHUNK: usize = 256;
    before.chunks(CHUNK).zip(after.chunks(CHUNK)).enumerate().filter(|(_, (b, a))| b != a).flat_map(
        |(chunk, (b, a))| {
            b.iter().zip(a.iter()).enumerate().filter(|(_, (x, y))| x != y).map(move |(i, _)| chunk * CHUNK + i)
        },
    )
}
