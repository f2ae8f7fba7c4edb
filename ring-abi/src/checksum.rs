//! The Internet checksum (RFC 1071) as the offload code needs it: ones'-complement sums of byte
//! ranges as big-endian 16-bit words, accumulated in a `u64` (which cannot overflow for any
//! range shorter than 2^48 bytes) and folded to 16 bits at the end, and the pseudo-header sums of
//! TCP and UDP over IPv4 and IPv6.
//!
//! Every function is total: out-of-range inputs give a value, never a panic.

/// Ones'-complement sum of `bytes` as big-endian 16-bit words; an odd last byte is the high byte
/// of a word whose low byte is zero. Sums of ranges that start at even offsets of a packet add
/// up to the sum of their concatenation.
pub fn sum(bytes: &[u8]) -> u64 {
    let mut total = 0u64;
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let v = u64::from_be_bytes(b);
        // Four 16-bit words, each below 2^16: their sum is below 2^18.
        let four = (v >> 48).wrapping_add((v >> 32) & 0xFFFF).wrapping_add((v >> 16) & 0xFFFF).wrapping_add(v & 0xFFFF);
        total = total.wrapping_add(four);
    }
    for pair in words.remainder().chunks(2) {
        let hi = pair.first().copied().unwrap_or(0);
        let lo = pair.get(1).copied().unwrap_or(0);
        total = total.wrapping_add(u64::from(u16::from_be_bytes([hi, lo])));
    }
    total
}

/// [`sum`] of `bytes` that start at an odd offset of the range being summed when `odd`: the
/// first byte is then the low byte of a word whose high byte came before. Summing a range in
/// pieces of any lengths, each with the parity of its start, gives the sum of the whole range.
pub fn sum_at(bytes: &[u8], odd: bool) -> u64 {
    match (odd, bytes.split_first()) {
        (true, Some((&low, rest))) => u64::from(low).wrapping_add(sum(rest)),
        _ => sum(bytes),
    }
}

/// Folds a sum to 16 bits (end-around carry), not complemented.
pub const fn fold(mut sum: u64) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF).wrapping_add(sum >> 16);
    }
    sum as u16
}

/// The checksum field value for a range whose sum (pseudo header included) is `sum`: the
/// complement of the folded sum.
pub const fn finish(sum: u64) -> u16 {
    !fold(sum)
}

/// Sum of the IPv4 pseudo header: source and destination addresses (`ip_header[12..20]`),
/// protocol, and the L4 length.
pub fn pseudo_v4(ip_header: &[u8], protocol: u8, l4_length: u32) -> u64 {
    let addresses = ip_header.get(12..20).map_or(0, sum);
    addresses.wrapping_add(u64::from(protocol)).wrapping_add(u64::from(l4_length))
}

/// Sum of the IPv6 pseudo header: source and destination addresses (`ip_header[8..40]`), the
/// upper-layer packet length (32 bits) and the next header value.
pub fn pseudo_v6(ip_header: &[u8], next_header: u8, l4_length: u32) -> u64 {
    let addresses = ip_header.get(8..40).map_or(0, sum);
    addresses
        .wrapping_add(u64::from(l4_length >> 16))
        .wrapping_add(u64::from(l4_length & 0xFFFF))
        .wrapping_add(u64::from(next_header))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn rfc1071_example() {
        // RFC 1071, section 3: the words 0001 f203 f4f5 f6f7 sum to 2 ddf0, folded ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&bytes), 0x2_ddf0);
        assert_eq!(fold(sum(&bytes)), 0xddf2);
        assert_eq!(finish(sum(&bytes)), !0xddf2);
    }

    #[test]
    fn odd_lengths_and_split_ranges() {
        let bytes: Vec<u8> = (0..1001u32).map(|i| (i * 37 + 11) as u8).collect();
        let whole = fold(sum(&bytes));
        for split in [0usize, 2, 8, 10, 500, 1000] {
            assert_eq!(fold(sum(&bytes[..split]).wrapping_add(sum(&bytes[split..]))), whole, "split {split}");
        }
        assert_eq!(sum(&[0xAB]), 0xAB00);
        // Pieces of odd lengths, each summed with the parity of its start.
        let mut at = 0usize;
        let mut pieces = 0u64;
        for len in [3usize, 1, 7, 2, 5, 983] {
            pieces += sum_at(&bytes[at..at + len], at % 2 == 1);
            at += len;
        }
        assert_eq!(fold(pieces), whole);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn ipv4_header_checksum_verifies() {
        // A header with its checksum filled in sums to 0xFFFF.
        let mut h = [0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let c = finish(sum(&h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(fold(sum(&h)), 0xFFFF);
    }
}
