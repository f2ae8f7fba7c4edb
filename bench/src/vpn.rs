//! The VPN datapath with a real AEAD (RustCrypto ChaCha20-Poly1305 and AES-256-GCM) or the null
//! transform, both directions, v1 (copy) against v2 (in place):
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
//! The "socket" is a `black_box` over the span (down) and a memcpy from a prepared record (up):
//! the same on both sides. Each direction runs in lockstep on one thread, v1 and v2 alternating
//! batch by batch so that drift cancels; the time of the client's datapath is what is compared, as
//! the thread's CPU time (time spent preempted by other work on the machine is not counted).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::Aes256Gcm;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use ring_abi::Room;
use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::{Error, Session};

use crate::{cpu_now, ipv4, open, transmit};

/// Bytes before the packet on the wire (an ESP-like header, used as associated data).
pub const HEADER: usize = 16;
/// The AEAD tag.
pub const TAG: usize = 16;
/// Packets per lockstep batch.
const BATCH: usize = 32;

/// The transform a VPN applies.
pub enum Transform {
    Null,
    ChaCha(Box<ChaCha20Poly1305>),
    Aes(Box<Aes256Gcm>),
}

impl Transform {
    pub fn all() -> Vec<Transform> {
        let key = [0x42u8; 32];
        vec![
            Transform::Null,
            Transform::ChaCha(Box::new(ChaCha20Poly1305::new(&key.into()))),
            Transform::Aes(Box::new(Aes256Gcm::new(&key.into()))),
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Transform::Null => "null",
            Transform::ChaCha(_) => "ChaCha20-Poly1305",
            Transform::Aes(_) => "AES-256-GCM",
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
    packets: u64,
    client: Duration,
    engine: Duration,
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
            packets: 0,
            client: Duration::ZERO,
            engine: Duration::ZERO,
            seq: 0,
        }
    }

    /// network → client: the stack sends a batch (engine time), the client encrypts and "sends"
    /// every packet (client time).
    fn down(&mut self, t: &Transform, packet: &[u8]) {
        let refs: Vec<&[u8]> = vec![packet; BATCH];
        let t0 = cpu_now();
        assert_eq!(transmit(&self.driver, &refs), BATCH, "lockstep: the Send ring has room for a batch");
        let t1 = cpu_now();
        self.vpn_down_client(t);
        let t2 = cpu_now();
        self.engine += t1 - t0;
        self.client += t2 - t1;
        self.packets += BATCH as u64;
    }

    /// The client's side of `down` for one batch (kept out of line for instruction counts).
    #[inline(never)]
    fn vpn_down_client(&mut self, t: &Transform) {
        for _ in 0..BATCH {
            let mut p = match self.session.receive() {
                Ok(Some(p)) => p,
                other => panic!("receive: {:?}", other.err()),
            };
            self.seq += 1;
            let hdr = header(self.seq);
            let len = p.len();
            if self.v2 {
                let tag = t.seal(self.seq, &hdr, p.data_mut());
                p.headroom_mut().copy_from_slice(&hdr);
                p.tailroom_mut()[..TAG].copy_from_slice(&tag);
                black_box(&p.frame_mut()[..HEADER + len + TAG]);
                p.release();
            } else {
                let buf = &mut self.buffer[..HEADER + len + TAG];
                buf[..HEADER].copy_from_slice(&hdr);
                buf[HEADER..HEADER + len].copy_from_slice(p.data());
                p.release();
                let (aad, rest) = buf.split_at_mut(HEADER);
                let tag = t.seal(self.seq, aad, &mut rest[..len]);
                rest[len..len + TAG].copy_from_slice(&tag);
                black_box(&*buf);
            }
        }
    }

    /// client → network: the client receives every record of `records` (a memcpy standing in for
    /// the socket), decrypts it and sends it (client time); then waits, untimed, until the
    /// engine's consumer has indicated them all to the stack.
    fn up(&mut self, t: &Transform, records: &[(u64, Vec<u8>)]) {
        let t0 = cpu_now();
        self.vpn_up_client(t, records);
        self.client += cpu_now() - t0;
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
        for (seq, record) in records {
            let len = record.len() - HEADER - TAG;
            let mut slot = loop {
                let alloc =
                    if self.v2 { self.session.allocate(record.len(), 0, 0) } else { self.session.allocate(len, 0, 0) };
                match alloc {
                    Ok(s) => break s,
                    Err(Error::RingFull) => std::thread::yield_now(),
                    Err(e) => panic!("allocate: {e}"),
                }
            };
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
            if let Err(e) = self.session.send(slot) {
                panic!("send: {e}");
            }
        }
    }

    fn reset(&mut self) {
        self.client = Duration::ZERO;
        self.engine = Duration::ZERO;
        // `packets` keeps counting for `up`'s delivery check; rates use `counted`.
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

fn rate(packets: u64, time: Duration) -> f64 {
    packets as f64 / time.as_secs_f64().max(1e-12) / 1e6
}

/// Measures `t` at `size` bytes for about `total` per direction.
pub fn measure(t: &Transform, size: usize, total: Duration) -> VpnResult {
    let packet = ipv4(size, 9);
    let mut paths = [Path::new(false), Path::new(true)];
    // Down: warm up, then interleave.
    for p in &mut paths {
        for _ in 0..4 {
            p.down(t, &packet);
        }
        p.reset();
    }
    // v1 and v2 alternate batch by batch, so that whatever else the machine does falls on both.
    let before = [paths[0].packets, paths[1].packets];
    let end = Instant::now() + total / 2;
    while Instant::now() < end {
        for p in &mut paths {
            p.down(t, &packet);
        }
    }
    let counted = [paths[0].packets - before[0], paths[1].packets - before[1]];
    let down = [rate(counted[0], paths[0].client), rate(counted[1], paths[1].client)];
    let whole =
        [rate(counted[0], paths[0].client + paths[0].engine), rate(counted[1], paths[1].client + paths[1].engine)];
    // Up: fresh sessions.
    let recs = records(t, size);
    let mut paths = [Path::new(false), Path::new(true)];
    for p in &mut paths {
        for _ in 0..4 {
            p.up(t, &recs);
        }
        p.reset();
    }
    let before = [paths[0].packets, paths[1].packets];
    let end = Instant::now() + total / 2;
    while Instant::now() < end {
        for p in &mut paths {
            p.up(t, &recs);
        }
    }
    let counted = [paths[0].packets - before[0], paths[1].packets - before[1]];
    let up = [rate(counted[0], paths[0].client), rate(counted[1], paths[1].client)];
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
