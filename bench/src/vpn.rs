//! The VPN datapath with a real AEAD or the null transform, both directions, v1 (copy) against
//! v2 (in place):
//!
//! - network → client (encrypt): v1 copies each packet out of the ring into a send buffer after a
//!   16-byte header, encrypts it there and appends the tag; v2 encrypts in place in the ring,
//!   writes the header into the head room and the tag into the tail room, and hands the span
//!   `[header | ciphertext | tag]` to the socket straight from the ring.
//! - client → network (decrypt): v1 receives the record into a scratch buffer, decrypts it there
//!   and copies the plaintext into an allocated slot; v2 receives the record straight into the
//!   slot, decrypts it in place, then moves the data start past the header and cuts the tag
//!   (`set_data`).
//!
//! The AEADs: aws-lc (through aws-lc-rs; assembly AES-GCM and ChaCha20-Poly1305, the kind of
//! implementation production VPNs use), and RustCrypto's for comparison. Both sides make the same
//! cipher calls: seal in place with a separate tag, open in place with a separate tag.
//!
//! The "socket" is a `black_box` over the span (down) and a memcpy from a prepared record (up):
//! the same on both sides. Both sides take a batch of packets from the ring (or slots for them) in
//! one call and hand them back in one (`receive_many` / `release_many`, `allocate_many` /
//! `send_many`: one lock and one publication per batch), as a VPN that reads and writes its
//! socket a batch at a time (`recvmmsg`, `sendmmsg`) would.
//!
//! Each direction runs in lockstep on one thread, v1 and v2 alternating in blocks of batches so
//! that drift cancels. Blocks rather than single batches: after its batch, a path's consumer
//! thread keeps polling its ring for a while, and with v1 and v2 alternating batch by batch that
//! thread competed with the other path's client on a two-core machine. What is compared is the
//! time of the client's datapath per batch, read from the monotonic clock, and a path's rate is
//! that of its median batch: a batch during which the thread was preempted or interrupted falls in
//! the tail. (The thread's CPU-time clock would exclude preemption, but reading it is a system
//! call, about 0.4 µs a read on the machine this was written on: a third of a whole batch of the
//! null transform's v2 datapath, the same on both sides, pulling every ratio towards 1.)
//! Before anything is timed, each path moves a full ring's worth of packets, so that the first
//! touch of the ring's pages (page faults) falls outside the measurement.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::Aes256Gcm;
use aws_lc_rs::aead;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use ring_abi::Room;
use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::{Error, Session};

use crate::{ipv4, open, transmit};

/// Bytes before the packet on the wire (an ESP-like header, used as associated data).
pub const HEADER: usize = 16;
/// The AEAD tag.
pub const TAG: usize = 16;
/// Packets per lockstep batch.
const BATCH: usize = 32;
/// Batches one path runs before the other takes over: 2048 packets, several times longer than the
/// 0.1 ms the idle path's consumer keeps polling.
const BLOCK: usize = 64;

/// Which AEAD implementation a transform uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// No cipher.
    None,
    /// aws-lc (through aws-lc-rs): assembly AES-GCM and ChaCha20-Poly1305, the kind production
    /// VPNs use (OpenSSL, BoringSSL and aws-lc, kernel crypto).
    AwsLc,
    /// RustCrypto (portable Rust with intrinsics), several times slower per byte here.
    RustCrypto,
}

/// The transform a VPN applies.
pub enum Transform {
    Null,
    /// aws-lc-rs, either algorithm.
    AwsLc(&'static str, Box<aead::LessSafeKey>),
    ChaCha(Box<ChaCha20Poly1305>),
    Aes(Box<Aes256Gcm>),
}

impl Transform {
    pub fn all() -> Vec<Transform> {
        let key = [0x42u8; 32];
        let aws = |name, algorithm| match aead::UnboundKey::new(algorithm, &key) {
            Ok(k) => Transform::AwsLc(name, Box::new(aead::LessSafeKey::new(k))),
            Err(_) => panic!("aws-lc-rs refuses a 32-byte key"),
        };
        vec![
            Transform::Null,
            aws("ChaCha20-Poly1305 (aws-lc-rs)", &aead::CHACHA20_POLY1305),
            aws("AES-256-GCM (aws-lc-rs)", &aead::AES_256_GCM),
            Transform::ChaCha(Box::new(ChaCha20Poly1305::new(&key.into()))),
            Transform::Aes(Box::new(Aes256Gcm::new(&key.into()))),
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Transform::Null => "null",
            Transform::AwsLc(name, _) => name,
            Transform::ChaCha(_) => "ChaCha20-Poly1305 (RustCrypto)",
            Transform::Aes(_) => "AES-256-GCM (RustCrypto)",
        }
    }

    pub fn provider(&self) -> Provider {
        match self {
            Transform::Null => Provider::None,
            Transform::AwsLc(..) => Provider::AwsLc,
            Transform::ChaCha(_) | Transform::Aes(_) => Provider::RustCrypto,
        }
    }

    fn nonce(seq: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&seq.to_le_bytes());
        n
    }

    /// Encrypts `data` in place; returns the tag.
    fn seal(&self, seq: u64, aad: &[u8], data: &mut [u8]) -> [u8; TAG] {
        let nonce = Self::nonce(seq);
        let tag = match self {
            Transform::Null => return [0; TAG],
            Transform::AwsLc(_, k) => {
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                return match k.seal_in_place_separate_tag(nonce, aead::Aad::from(aad), data) {
                    Ok(t) => match t.as_ref().try_into() {
                        Ok(t) => t,
                        Err(_) => panic!("a {TAG}-byte tag"),
                    },
                    Err(_) => panic!("encryption failed"),
                };
            }
            Transform::ChaCha(c) => c.encrypt_in_place_detached(&nonce.into(), aad, data),
            Transform::Aes(c) => c.encrypt_in_place_detached(&nonce.into(), aad, data),
        };
        match tag {
            Ok(t) => t.into(),
            Err(_) => panic!("encryption failed"),
        }
    }

    /// Decrypts `data` in place and checks `tag`.
    fn open(&self, seq: u64, aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        let nonce = Self::nonce(seq);
        match self {
            Transform::Null => true,
            Transform::AwsLc(_, k) => k
                .open_in_place_separate_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(aad), tag, data)
                .is_ok(),
            Transform::ChaCha(c) => c.decrypt_in_place_detached(&nonce.into(), aad, data, tag.into()).is_ok(),
            Transform::Aes(c) => c.decrypt_in_place_detached(&nonce.into(), aad, data, tag.into()).is_ok(),
        }
    }
}

fn header(seq: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&0x5eed_0001u32.to_be_bytes());
    h[8..].copy_from_slice(&seq.to_be_bytes());
    h
}

/// One side (v1 or v2) of one direction.
struct Path {
    driver: Arc<HostDriver>,
    session: Session<HostBackend>,
    v2: bool,
    buffer: Vec<u8>,
    /// Slot lengths of one `up` batch.
    lens: Vec<usize>,
    packets: u64,
    /// Time of the client's datapath, per batch.
    client: Vec<Duration>,
    /// Time of the engine's Send path plus the client's datapath, per batch (down only).
    whole: Vec<Duration>,
    seq: u64,
}

impl Path {
    fn new(v2: bool) -> Self {
        let driver = HostDriver::new();
        driver.stack().set_logging(false);
        let room = if v2 { Room::new(HEADER as u16, TAG as u16) } else { Room::NONE };
        let session = open(&driver, !v2, room, room);
        Self {
            driver,
            session,
            v2,
            buffer: vec![0; HEADER + 0xFFFF + TAG],
            lens: Vec::with_capacity(BATCH),
            packets: 0,
            client: Vec::new(),
            whole: Vec::new(),
            seq: 0,
        }
    }

    /// network → client: the stack sends a batch (engine time), the client encrypts and "sends"
    /// every packet (client time).
    fn down(&mut self, t: &Transform, packet: &[u8]) {
        let refs: Vec<&[u8]> = vec![packet; BATCH];
        let t0 = Instant::now();
        assert_eq!(transmit(&self.driver, &refs), BATCH, "lockstep: the Send ring has room for a batch");
        let t1 = Instant::now();
        self.vpn_down_client(t);
        let t2 = Instant::now();
        self.client.push(t2 - t1);
        self.whole.push(t2 - t0);
        self.packets += BATCH as u64;
    }

    /// The client's side of `down` for one batch (kept out of line for instruction counts).
    #[inline(never)]
    fn vpn_down_client(&mut self, t: &Transform) {
        let mut packets = Vec::with_capacity(BATCH);
        match self.session.receive_many(&mut packets, BATCH) {
            Ok(BATCH) => {}
            other => panic!("receive_many: {other:?}"),
        }
        for p in &mut packets {
            self.seq += 1;
            let hdr = header(self.seq);
            let len = p.len();
            if self.v2 {
                let tag = t.seal(self.seq, &hdr, p.data_mut());
                p.headroom_mut().copy_from_slice(&hdr);
                p.tailroom_mut()[..TAG].copy_from_slice(&tag);
                black_box(&p.frame_mut()[..HEADER + len + TAG]);
            } else {
                let buf = &mut self.buffer[..HEADER + len + TAG];
                buf[..HEADER].copy_from_slice(&hdr);
                buf[HEADER..HEADER + len].copy_from_slice(p.data());
                let (aad, rest) = buf.split_at_mut(HEADER);
                let tag = t.seal(self.seq, aad, &mut rest[..len]);
                rest[len..len + TAG].copy_from_slice(&tag);
                black_box(&*buf);
            }
        }
        self.session.release_many(&mut packets);
    }

    /// client → network: the client receives every record of `records` (a memcpy standing in for
    /// the socket), decrypts it and sends it (client time); then waits, untimed, until the
    /// engine's consumer has indicated them all to the stack.
    fn up(&mut self, t: &Transform, records: &[(u64, Vec<u8>)]) {
        let t0 = Instant::now();
        self.vpn_up_client(t, records);
        self.client.push(t0.elapsed());
        self.packets += records.len() as u64;
        let total = self.driver.adapter().stats().receive_packets;
        let want = self.packets;
        if total < want {
            assert!(
                self.driver.stack().wait_delivered(want, Duration::from_secs(10)),
                "the consumer indicates every packet"
            );
        }
    }

    /// The client's side of `up` for one batch (kept out of line for instruction counts).
    #[inline(never)]
    fn vpn_up_client(&mut self, t: &Transform, records: &[(u64, Vec<u8>)]) {
        // v2 takes each whole record into its slot; v1 allocates for the plaintext only.
        self.lens.clear();
        self.lens.extend(records.iter().map(|(_, r)| if self.v2 { r.len() } else { r.len() - HEADER - TAG }));
        let session = &self.session;
        let mut slots = Vec::with_capacity(records.len());
        while slots.len() < records.len() {
            match session.allocate_many(&self.lens[slots.len()..], 0, 0, &mut slots) {
                Ok(_) => {}
                Err(Error::RingFull) => std::thread::yield_now(),
                Err(e) => panic!("allocate: {e}"),
            }
        }
        for (slot, (seq, record)) in slots.iter_mut().zip(records) {
            let len = record.len() - HEADER - TAG;
            if self.v2 {
                let frame = slot.data_mut();
                frame.copy_from_slice(record);
                let (aad, rest) = frame.split_at_mut(HEADER);
                let (data, tag) = rest.split_at_mut(len);
                assert!(t.open(*seq, aad, data, tag), "authentic record");
                if let Err(e) = slot.set_data(HEADER..HEADER + len) {
                    panic!("set_data: {e}");
                }
            } else {
                let buf = &mut self.buffer[..record.len()];
                buf.copy_from_slice(record);
                let (aad, rest) = buf.split_at_mut(HEADER);
                let (data, tag) = rest.split_at_mut(len);
                assert!(t.open(*seq, aad, data, tag), "authentic record");
                slot.data_mut().copy_from_slice(data);
            }
        }
        if let Err(e) = session.send_many(&mut slots) {
            panic!("send: {e}");
        }
    }

    fn reset(&mut self) {
        self.client.clear();
        self.whole.clear();
        // `packets` keeps counting for `up`'s delivery check.
    }
}

/// Encrypted records for the up direction.
fn records(t: &Transform, size: usize) -> Vec<(u64, Vec<u8>)> {
    (0..BATCH as u64)
        .map(|seq| {
            let mut r = header(seq).to_vec();
            r.extend_from_slice(&ipv4(size, seq as u32));
            let (aad, data) = r.split_at_mut(HEADER);
            let tag = t.seal(seq, aad, data);
            r.extend_from_slice(&tag);
            (seq, r)
        })
        .collect()
}

/// Runs `rounds` batches of the null transform's client datapath (for instruction counts):
/// `v2` in place or v1 copy, network → client (`down`) or client → network.
pub fn instruction_run(v2: bool, down: bool, size: usize, rounds: usize) {
    let t = Transform::Null;
    let mut path = Path::new(v2);
    if down {
        let packet = ipv4(size, 9);
        for _ in 0..rounds {
            path.down(&t, &packet);
        }
    } else {
        let recs = records(&t, size);
        for _ in 0..rounds {
            path.up(&t, &recs);
        }
    }
}

/// Result of one transform at one size: client-datapath Mpps for v1 and v2 each way, and the
/// whole network → client path (engine + client).
pub struct VpnResult {
    pub transform: &'static str,
    pub down_v1: f64,
    pub down_v2: f64,
    pub down_whole_v1: f64,
    pub down_whole_v2: f64,
    pub up_v1: f64,
    pub up_v2: f64,
}

/// Mpps from the median batch time: a batch during which the thread was interrupted, or ran
/// after another program had taken its caches, falls in the tail on either side, not in the
/// figure.
fn rate(batches: &[Duration]) -> f64 {
    let mut v = batches.to_vec();
    v.sort();
    let median = v.get(v.len() / 2).copied().unwrap_or(Duration::ZERO);
    BATCH as f64 / median.as_secs_f64().max(1e-12) / 1e6
}

/// Batches that take a path once around its ring (with a margin): the ring's pages are touched
/// for the first time then (page faults), which a long-running VPN pays once, not per packet.
fn warm_up_batches(size: usize) -> usize {
    crate::CAPACITY as usize / (size * BATCH) + 4
}

/// Warms each path up (a lap of the ring), then runs `step` on v1 and v2 alternately, block by
/// block, for about `time`, so that whatever else the machine does falls on both.
fn interleave(paths: &mut [Path; 2], size: usize, time: Duration, mut step: impl FnMut(&mut Path)) {
    for p in paths.iter_mut() {
        for _ in 0..warm_up_batches(size) {
            step(p);
        }
        p.reset();
    }
    let end = Instant::now() + time;
    while Instant::now() < end {
        for p in paths.iter_mut() {
            for _ in 0..BLOCK {
                step(p);
            }
        }
    }
}

/// Measures `t` at `size` bytes for about `total` per direction.
pub fn measure(t: &Transform, size: usize, total: Duration) -> VpnResult {
    let packet = ipv4(size, 9);
    let mut paths = [Path::new(false), Path::new(true)];
    interleave(&mut paths, size, total / 2, |p| p.down(t, &packet));
    let down = [rate(&paths[0].client), rate(&paths[1].client)];
    let whole = [rate(&paths[0].whole), rate(&paths[1].whole)];
    // Up: fresh sessions; the down sessions (and their engine threads) end first.
    drop(paths);
    let recs = records(t, size);
    let mut paths = [Path::new(false), Path::new(true)];
    interleave(&mut paths, size, total / 2, |p| p.up(t, &recs));
    let up = [rate(&paths[0].client), rate(&paths[1].client)];
    VpnResult {
        transform: t.name(),
        down_v1: down[0],
        down_v2: down[1],
        down_whole_v1: whole[0],
        down_whole_v2: whole[1],
        up_v1: up[0],
        up_v2: up[1],
    }
}
