//! Test packets: valid IPv4/IPv6 headers around a payload that encodes a sequence number, so
//! every byte can be checked on the other side.

/// An IPv4 packet of `len` bytes (20..=0xFFFF) whose bytes derive from `seq`.
pub fn ipv4(len: usize, seq: u32) -> Vec<u8> {
    assert!((20..=0xFFFF).contains(&len), "IPv4 length {len}");
    let mut p = body(len, seq);
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// An IPv6 packet of `len` bytes (41..=0xFFFF) whose bytes derive from `seq`.
pub fn ipv6(len: usize, seq: u32) -> Vec<u8> {
    assert!((41..=0xFFFF).contains(&len), "IPv6 length {len}");
    let mut p = body(len, seq);
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    p
}

/// `len` bytes that are not an IP packet (version nibble 0).
pub fn not_ip(len: usize, seq: u32) -> Vec<u8> {
    let mut p = body(len, seq);
    if let Some(first) = p.first_mut() {
        *first = 0x00;
    }
    p
}

/// Arbitrary bytes (the Send ring carries anything the stack sends) of `len` bytes.
pub fn raw(len: usize, seq: u32) -> Vec<u8> {
    body(len, seq)
}

fn body(len: usize, seq: u32) -> Vec<u8> {
    let mut p: Vec<u8> =
        (0..len).map(|i| (i as u32).wrapping_mul(131).wrapping_add(seq.wrapping_mul(7919)) as u8).collect();
    // The sequence number in bytes 8..12 (inside the IP header's TTL/protocol/checksum area for
    // IPv4 and the source address for IPv6): harmless for classification, checkable on arrival.
    if len >= 12 {
        p[8..12].copy_from_slice(&seq.to_be_bytes());
    }
    p
}

/// The sequence number stored by [`ipv4`]/[`ipv6`]/[`raw`] (packets of 12 bytes or more).
pub fn seq_of(p: &[u8]) -> Option<u32> {
    p.get(8..12).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A small deterministic generator (xorshift64*), so scenarios are reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Shuffles `items`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i as u64) as usize;
            items.swap(i, j);
        }
    }
}
