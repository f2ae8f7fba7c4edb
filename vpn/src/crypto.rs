//! The tunnel's record protection: ChaCha20-Poly1305 (aws-lc's assembly implementation, through
//! `aws-lc-rs`) with one key per direction, a 64-bit counter as the nonce (never reused under a
//! key), and a sliding replay window.
//!
//! A record on the wire is `header (12 bytes) | ciphertext | tag (16 bytes)`:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | record type, [`RECORD_DATA`] |
//! | 1..4 | zero |
//! | 4..12 | counter, little-endian |
//!
//! The nonce is four zero bytes followed by the counter; the header is the associated data.
//! Keys are fresh random values for every tunnel run (from the OS's `getrandom`), so a counter
//! restarting at zero never meets an old key. A sender refuses to seal past
//! [`REJECT_AFTER_COUNTER`]; there is no rekeying (the tunnel would have to be restarted).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};

/// Header length.
pub const HEADER: usize = 12;
/// Authentication tag length.
pub const TAG: usize = 16;
/// Header plus tag: what a record adds to a packet.
pub const OVERHEAD: usize = HEADER + TAG;
/// The data record type.
pub const RECORD_DATA: u8 = 1;
/// A sender seals no record with a counter at or above this (far below 2^64, so the counter
/// cannot wrap).
pub const REJECT_AFTER_COUNTER: u64 = 1 << 60;
/// Counters this far behind the highest accepted one are still checked individually; older ones
/// are refused.
pub const REPLAY_WINDOW: u64 = 2048;

/// Why a record was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Shorter than a header and a tag (or than a header, a byte of data and a tag).
    Short,
    /// Unknown type or non-zero reserved bytes.
    BadHeader,
    /// Counter seen before, or older than the window.
    Replay,
    /// The tag does not verify.
    Forged,
    /// The sender's counter is exhausted.
    CounterExhausted,
}

/// A 32-byte key.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A key from the OS's random source.
    pub fn random() -> std::io::Result<Self> {
        let mut key = [0u8; 32];
        let mut filled = 0;
        while filled < key.len() {
            let rest = &mut key[filled..];
            // SAFETY: `rest` is valid for writes of `rest.len()` bytes.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            } else {
                filled += n.unsigned_abs();
            }
        }
        Ok(Self(key))
    }

    /// A key with the given bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        // Best effort: volatile writes so the clearing is not optimised away.
        for b in &mut self.0 {
            // SAFETY: `b` is a valid, aligned, exclusive reference.
            unsafe { core::ptr::write_volatile(b, 0) };
        }
    }
}

/// The two keys of one tunnel end: one to seal what it sends, one to open what it receives.
/// The peer holds the same two keys the other way round.
#[derive(Clone, Debug)]
pub struct DirectionKeys {
    /// Seals records this end sends.
    pub send: SecretKey,
    /// Opens records this end receives.
    pub receive: SecretKey,
}

impl DirectionKeys {
    /// A fresh pair of random keys for the two ends: `(a, b)` with `a.send == b.receive` and
    /// `a.receive == b.send`.
    pub fn generate_pair() -> std::io::Result<(Self, Self)> {
        let (ab, ba) = (SecretKey::random()?, SecretKey::random()?);
        Ok((Self { send: ab.clone(), receive: ba.clone() }, Self { send: ba, receive: ab }))
    }
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

fn cipher(key: &SecretKey) -> LessSafeKey {
    match UnboundKey::new(&CHACHA20_POLY1305, &key.0) {
        Ok(k) => LessSafeKey::new(k),
        // The key is 32 bytes by type, ChaCha20-Poly1305's length: aws-lc cannot refuse it.
        Err(_) => unreachable!("aws-lc refused a 32-byte ChaCha20-Poly1305 key"),
    }
}

/// Seals records with the send key and the next counter.
pub struct Sealer {
    cipher: LessSafeKey,
    next: u64,
}

impl Sealer {
    /// A sealer starting at counter 0.
    pub fn new(key: &SecretKey) -> Self {
        Self { cipher: cipher(key), next: 0 }
    }

    /// Encrypts `data` in place and returns the record header to put in front of it and the tag
    /// to put behind it. Each call uses a new counter.
    pub fn seal(&mut self, data: &mut [u8]) -> Result<([u8; HEADER], [u8; TAG]), RecordError> {
        let counter = self.next;
        if counter >= REJECT_AFTER_COUNTER {
            return Err(RecordError::CounterExhausted);
        }
        self.next = counter + 1;
        let mut header = [0u8; HEADER];
        header[0] = RECORD_DATA;
        header[4..].copy_from_slice(&counter.to_le_bytes());
        let tag = self
            .cipher
            .seal_in_place_separate_tag(nonce(counter), Aad::from(&header), data)
            .map_err(|_| RecordError::Short)?;
        let mut tag_bytes = [0u8; TAG];
        tag_bytes.copy_from_slice(tag.as_ref());
        Ok((header, tag_bytes))
    }

    /// Seals the record in `frame` = `header | data | tag` (the first [`HEADER`] and last [`TAG`]
    /// bytes are overwritten).
    pub fn seal_frame(&mut self, frame: &mut [u8]) -> Result<(), RecordError> {
        let data_end = frame.len().checked_sub(TAG).filter(|&e| e > HEADER).ok_or(RecordError::Short)?;
        let (head, rest) = frame.split_at_mut(HEADER);
        let (data, tail) = rest.split_at_mut(data_end - HEADER);
        let (header, tag) = self.seal(data)?;
        head.copy_from_slice(&header);
        tail.copy_from_slice(&tag);
        Ok(())
    }

    /// The counter the next record will carry.
    pub fn next_counter(&self) -> u64 {
        self.next
    }
}

/// A sliding window over the most recent [`REPLAY_WINDOW`] counters.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// Highest counter accepted plus one (0: none yet).
    top: u64,
    /// Bit `c % REPLAY_WINDOW` set: counter `c` (within the window) was accepted.
    bits: [u64; (REPLAY_WINDOW / 64) as usize],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self { top: 0, bits: [0; (REPLAY_WINDOW / 64) as usize] }
    }
}

impl ReplayWindow {
    fn slot(counter: u64) -> (usize, u64) {
        let bit = counter % REPLAY_WINDOW;
        ((bit / 64) as usize, 1u64 << (bit % 64))
    }

    /// Whether `counter` may be accepted (not seen, not older than the window). Does not record it:
    /// call [`Self::accept`] once the record is authenticated.
    pub fn check(&self, counter: u64) -> bool {
        if counter >= self.top {
            return counter < REJECT_AFTER_COUNTER;
        }
        if self.top - counter > REPLAY_WINDOW {
            return false;
        }
        let (word, mask) = Self::slot(counter);
        self.bits.get(word).is_some_and(|w| w & mask == 0)
    }

    /// Records `counter` as accepted (after [`Self::check`] and authentication).
    pub fn accept(&mut self, counter: u64) {
        if counter >= self.top {
            // Clear the bits of the counters the window slides past.
            let advance = counter - self.top + 1;
            if advance >= REPLAY_WINDOW {
                self.bits = [0; (REPLAY_WINDOW / 64) as usize];
            } else {
                for c in self.top..=counter {
                    let (word, mask) = Self::slot(c);
                    if let Some(w) = self.bits.get_mut(word) {
                        *w &= !mask;
                    }
                }
            }
            self.top = counter + 1;
        }
        let (word, mask) = Self::slot(counter);
        if let Some(w) = self.bits.get_mut(word) {
            *w |= mask;
        }
    }
}

/// Opens records with the receive key, refusing forgeries and replays.
pub struct Opener {
    cipher: LessSafeKey,
    window: ReplayWindow,
}

impl Opener {
    /// An opener that has accepted nothing yet.
    pub fn new(key: &SecretKey) -> Self {
        Self { cipher: cipher(key), window: ReplayWindow::default() }
    }

    /// Authenticates and decrypts the record in `record` in place; returns the range of the
    /// plaintext within `record` (`HEADER..len - TAG`).
    pub fn open(&mut self, record: &mut [u8]) -> Result<core::ops::Range<usize>, RecordError> {
        let data_end = record.len().checked_sub(TAG).filter(|&e| e > HEADER).ok_or(RecordError::Short)?;
        let (head, rest) = record.split_at_mut(HEADER);
        let (data, tail) = rest.split_at_mut(data_end - HEADER);
        let header: [u8; HEADER] = head.try_into().map_err(|_| RecordError::Short)?;
        if header[0] != RECORD_DATA || header[1..4] != [0, 0, 0] {
            return Err(RecordError::BadHeader);
        }
        let mut counter_bytes = [0u8; 8];
        counter_bytes.copy_from_slice(&header[4..]);
        let counter = u64::from_le_bytes(counter_bytes);
        if !self.window.check(counter) {
            return Err(RecordError::Replay);
        }
        self.cipher
            .open_in_place_separate_tag(nonce(counter), Aad::from(&header), tail, data)
            .map_err(|_| RecordError::Forged)?;
        self.window.accept(counter);
        Ok(HEADER..data_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Sealer, Opener) {
        let key = SecretKey::from_bytes([7; 32]);
        (Sealer::new(&key), Opener::new(&key))
    }

    fn record(sealer: &mut Sealer, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; HEADER + payload.len() + TAG];
        frame[HEADER..HEADER + payload.len()].copy_from_slice(payload);
        sealer.seal_frame(&mut frame).expect("seal");
        frame
    }

    #[test]
    fn round_trip_and_counters_advance() {
        let (mut sealer, mut opener) = pair();
        for i in 0..5u8 {
            let payload = vec![i; 100 + usize::from(i)];
            let mut r = record(&mut sealer, &payload);
            assert_ne!(&r[HEADER..HEADER + payload.len()], &payload[..], "not encrypted");
            let range = opener.open(&mut r).expect("open");
            assert_eq!(&r[range], &payload[..]);
        }
        assert_eq!(sealer.next_counter(), 5);
    }

    #[test]
    fn nonces_differ_for_the_same_plaintext() {
        let (mut sealer, _) = pair();
        let a = record(&mut sealer, b"same plaintext");
        let b = record(&mut sealer, b"same plaintext");
        assert_ne!(a[HEADER..], b[HEADER..]);
        assert_ne!(a[4..12], b[4..12]);
    }

    #[test]
    fn replays_are_refused_reordering_within_the_window_is_not() {
        let (mut sealer, mut opener) = pair();
        let records: Vec<Vec<u8>> = (0..10).map(|i| record(&mut sealer, &[i as u8; 40])).collect();
        for i in [3usize, 0, 1, 9, 2, 5] {
            opener.open(&mut records[i].clone()).expect("first delivery");
        }
        for i in [3usize, 0, 9, 5] {
            assert_eq!(opener.open(&mut records[i].clone()), Err(RecordError::Replay));
        }
        opener.open(&mut records[4].clone()).expect("late but inside the window");
    }

    #[test]
    fn counters_older_than_the_window_are_refused() {
        let mut w = ReplayWindow::default();
        w.accept(5000);
        assert!(!w.check(5000));
        assert!(w.check(5000 - REPLAY_WINDOW + 1));
        assert!(!w.check(5000 - REPLAY_WINDOW - 1));
        assert!(w.check(5001));
        // A jump larger than the window forgets everything behind it.
        w.accept(5000 + 3 * REPLAY_WINDOW);
        assert!(!w.check(5000));
        assert!(w.check(5000 + 3 * REPLAY_WINDOW - 1));
    }

    #[test]
    fn sliding_clears_reused_bits() {
        let mut w = ReplayWindow::default();
        w.accept(1);
        // Counter 1 + REPLAY_WINDOW shares bit 1 with counter 1: sliding must clear it first.
        w.accept(REPLAY_WINDOW);
        assert!(w.check(1 + REPLAY_WINDOW));
        w.accept(1 + REPLAY_WINDOW);
        assert!(!w.check(1 + REPLAY_WINDOW));
    }

    #[test]
    fn forgeries_and_bad_headers_are_refused_without_advancing_the_window() {
        let (mut sealer, mut opener) = pair();
        let good = record(&mut sealer, &[1; 64]);
        for at in [0usize, 5, HEADER + 3, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            let err = opener.open(&mut bad).expect_err("tampered record accepted");
            assert!(matches!(err, RecordError::Forged | RecordError::BadHeader), "{err:?}");
        }
        opener.open(&mut good.clone()).expect("the untampered record still opens");
        let other_key = Opener::new(&SecretKey::from_bytes([8; 32])).open(&mut good.clone());
        assert_eq!(other_key, Err(RecordError::Forged));
        assert_eq!(opener.open(&mut [RECORD_DATA; OVERHEAD]), Err(RecordError::Short));
    }

    #[test]
    fn the_sender_stops_before_the_counter_can_wrap() {
        let (mut sealer, _) = pair();
        sealer.next = REJECT_AFTER_COUNTER - 1;
        assert!(sealer.seal(&mut [0; 8]).is_ok());
        assert_eq!(sealer.seal(&mut [0; 8]), Err(RecordError::CounterExhausted));
        let mut w = ReplayWindow::default();
        assert!(!w.check(REJECT_AFTER_COUNTER));
        w.accept(3);
        assert!(!w.check(u64::MAX));
    }

    #[test]
    fn generated_pairs_mirror_each_other() {
        let (a, b) = DirectionKeys::generate_pair().expect("getrandom");
        assert_eq!(a.send.0, b.receive.0);
        assert_eq!(a.receive.0, b.send.0);
        assert_ne!(a.send.0, a.receive.0);
    }
}
