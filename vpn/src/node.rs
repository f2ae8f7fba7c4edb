//! One end of the tunnel: a TUN interface bridged to the engine, and a client that moves packets
//! between the session's rings and a UDP socket, sealed with ChaCha20-Poly1305.
//!
//! - **Outbound** (the kernel sends into the TUN interface → engine Send path → the client's
//!   incoming ring → UDP): v2 asks for [`HEADER`] bytes of head room and [`TAG`] of tail room on
//!   every incoming packet, encrypts the packet where it lies, writes the header and tag into the
//!   room around it, and hands `header | ciphertext | tag` to `sendmmsg` straight from the ring.
//!   v1 (no room) copies each packet into a buffer first.
//! - **Inbound** (UDP → the client's outgoing ring → engine Receive path → written to the TUN
//!   interface): v2 allocates slots for whole records and lets `recvmmsg` write the datagrams
//!   straight into them, decrypts in place, then moves the data start past the header and cuts
//!   the tag (`set_data`) before sending the slot. v1 receives into buffers, decrypts there, and
//!   copies the packet into a slot.

use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::ring_abi::{RingVersion, Room};
use ringtun::{Error, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::StatsSnapshot;
use ringtun_tun::{PumpStats, SideStats, TunDevice, TunPump, TunStackSide};

use crate::crypto::{DirectionKeys, Opener, RecordError, Sealer, HEADER, OVERHEAD, TAG};
use crate::interrupt;
use crate::netns::Netns;
use crate::udp::{BatchSocket, Datagram, Received};

/// Packets handled per batch in each direction (one `sendmmsg` / `recvmmsg`).
pub const BATCH: usize = 64;
/// A batch of outbound packets is sent once it holds this many bytes (64 KiB packets: a few per
/// `sendmmsg`, so sealing does not hold back the first datagram for long).
const BATCH_BYTES: usize = 256 << 10;
/// How long a blocked wait lasts before the stop flag is checked again.
const POLL: Duration = Duration::from_millis(50);
/// Ring capacity, both rings (16 MiB: room for a TCP window of 64 KiB packets).
const RING_CAPACITY: u32 = 0x100_0000;
/// With offloads, the largest packet the TUN interface hands over (its `gso_max_size`): a
/// sealed record of it still fits one UDP datagram (65507 bytes of payload over IPv4).
pub const OFFLOAD_MAX_PACKET: u32 = 65_000;
/// Inbound slots allocated per `recvmmsg` when records may be 64 KiB.
const OFFLOAD_RECEIVE_BATCH: usize = 16;

/// Copies (v1) or in place (v2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Wintun-compatible rings: the client copies every packet in both directions.
    V1,
    /// Rings with head and tail room: encryption and decryption in the ring.
    V2,
}

impl Mode {
    /// "v1" or "v2".
    pub fn label(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

/// One tunnel end's settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// TUN interface name.
    pub tun_name: String,
    /// TUN interface address, with prefix length (e.g. `10.202.0.1/24`).
    pub tun_cidr: String,
    /// MTU of the TUN interface: the underlay's UDP payload minus [`OVERHEAD`].
    pub tun_mtu: u32,
    /// Local UDP address (on the underlay).
    pub local: SocketAddrV4,
    /// The peer's UDP address.
    pub peer: SocketAddrV4,
    /// Copies or in place.
    pub mode: Mode,
    /// This end's keys.
    pub keys: DirectionKeys,
    /// Let the kernel hand over and take back TCP packets of up to [`OFFLOAD_MAX_PACKET`] bytes
    /// (TSO/checksum offload on the TUN interface); their records cross the underlay as one UDP
    /// datagram each, which IP fragments and reassembles.
    pub offload: bool,
}

/// Counters of the client side.
#[derive(Debug, Default)]
struct Counters {
    sealed: AtomicU64,
    sent_bytes: AtomicU64,
    send_refused: AtomicU64,
    opened: AtomicU64,
    received_bytes: AtomicU64,
    forged: AtomicU64,
    replayed: AtomicU64,
    malformed: AtomicU64,
    ring_full_drops: AtomicU64,
}

/// What a node did, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeStats {
    /// Records sealed and handed to the socket.
    pub sealed: u64,
    /// Bytes of those records.
    pub sent_bytes: u64,
    /// Datagrams the socket refused.
    pub send_refused: u64,
    /// Records authenticated and sent to the engine.
    pub opened: u64,
    /// Bytes of those records.
    pub received_bytes: u64,
    /// Records whose tag did not verify.
    pub forged: u64,
    /// Records refused as replays.
    pub replayed: u64,
    /// Records too short, truncated or with a bad header.
    pub malformed: u64,
    /// Packets dropped because the outgoing ring stayed full.
    pub ring_full_drops: u64,
    /// The TUN reader (the engine's Send path).
    pub pump: PumpStats,
    /// The TUN writer (the engine's indications).
    pub side: SideStats,
    /// The engine's own counters.
    pub engine: StatsSnapshot,
}

/// A running tunnel end.
pub struct Node {
    mode: Mode,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    pump: Option<TunPump>,
    side: Arc<TunStackSide>,
    session: Option<Arc<Session<HostBackend>>>,
    driver: Arc<HostDriver>,
}

impl Node {
    /// Creates the TUN interface and the socket inside `ns`, configures the interface, registers
    /// a session in `config.mode`, and starts the threads.
    pub fn start(ns: &Netns, config: NodeConfig) -> io::Result<Self> {
        let (tun_name, local, peer, offload) = (config.tun_name.clone(), config.local, config.peer, config.offload);
        let (device, socket) = ns.run(move || {
            let device = TunDevice::open_with(&tun_name, offload).map_err(io::Error::other)?;
            let socket = BatchSocket::open(local, peer, POLL)?;
            Ok((device, socket))
        })?;
        let device = Arc::new(device);
        let mtu = config.tun_mtu.to_string();
        ns.ip(&["link", "set", device.name(), "mtu", &mtu])?;
        if config.offload {
            let max = OFFLOAD_MAX_PACKET.to_string();
            ns.ip(&["link", "set", device.name(), "gso_max_size", &max])?;
        }
        ns.ip(&["addr", "add", &config.tun_cidr, "dev", device.name()])?;
        ns.ip(&["link", "set", device.name(), "up"])?;

        let side = Arc::new(TunStackSide::new(Arc::clone(&device), config.tun_mtu as usize));
        let driver = HostDriver::with_stack_side(Arc::clone(&side) as Arc<dyn ringtun_driver::host::StackSide>);
        let session_config = match config.mode {
            Mode::V1 => SessionConfig {
                version: VersionPreference::V1Only,
                incoming_capacity: RING_CAPACITY,
                outgoing_capacity: RING_CAPACITY,
                ..SessionConfig::default()
            },
            Mode::V2 => SessionConfig {
                version: VersionPreference::PreferV2,
                incoming_capacity: RING_CAPACITY,
                outgoing_capacity: RING_CAPACITY,
                incoming_room: Room::new(HEADER as u16, TAG as u16),
                outgoing_room: Room::NONE,
                ..SessionConfig::default()
            },
        };
        let session = Session::open(HostBackend::open_default(&driver), session_config).map_err(io::Error::other)?;
        let expected = match config.mode {
            Mode::V1 => RingVersion::V1,
            Mode::V2 => RingVersion::V2,
        };
        if session.version() != expected {
            return Err(io::Error::other(format!("asked for {expected:?}, got {:?}", session.version())));
        }
        let session = Arc::new(session);
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let largest = if config.offload { OFFLOAD_MAX_PACKET } else { config.tun_mtu };
        let record_room = largest as usize + OVERHEAD;
        let receive_batch = if config.offload { OFFLOAD_RECEIVE_BATCH } else { BATCH };

        let mut node = Self {
            mode: config.mode,
            stop: Arc::clone(&stop),
            counters: Arc::clone(&counters),
            threads: Vec::new(),
            pump: None,
            side,
            session: Some(Arc::clone(&session)),
            driver: Arc::clone(&driver),
        };
        let outbound = {
            let (session, socket, stop, counters) =
                (Arc::clone(&session), Arc::clone(&socket), Arc::clone(&stop), Arc::clone(&counters));
            let sealer = Sealer::new(&config.keys.send);
            let mode = config.mode;
            std::thread::Builder::new().name("vpn-outbound".into()).spawn(move || {
                let run = Outbound { session: &session, socket: &socket, stop: &stop, counters: &counters, sealer };
                match mode {
                    Mode::V1 => run.copying(record_room),
                    Mode::V2 => run.in_place(),
                }
            })?
        };
        node.threads.push(outbound);
        let inbound = {
            let (session, socket, stop, counters) =
                (Arc::clone(&session), Arc::clone(&socket), Arc::clone(&stop), Arc::clone(&counters));
            let opener = Opener::new(&config.keys.receive);
            let mode = config.mode;
            std::thread::Builder::new().name("vpn-inbound".into()).spawn(move || {
                let run = Inbound {
                    session: &session,
                    socket: &socket,
                    stop: &stop,
                    counters: &counters,
                    opener,
                    batch: receive_batch,
                };
                match mode {
                    Mode::V1 => run.copying(record_room),
                    Mode::V2 => run.in_place(record_room),
                }
            })?
        };
        node.threads.push(inbound);
        node.pump = Some(TunPump::start(device, driver)?);
        Ok(node)
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The counters now.
    pub fn stats(&self) -> NodeStats {
        let c = &self.counters;
        NodeStats {
            sealed: c.sealed.load(Relaxed),
            sent_bytes: c.sent_bytes.load(Relaxed),
            send_refused: c.send_refused.load(Relaxed),
            opened: c.opened.load(Relaxed),
            received_bytes: c.received_bytes.load(Relaxed),
            forged: c.forged.load(Relaxed),
            replayed: c.replayed.load(Relaxed),
            malformed: c.malformed.load(Relaxed),
            ring_full_drops: c.ring_full_drops.load(Relaxed),
            pump: self.pump.as_ref().map(TunPump::stats).unwrap_or_default(),
            side: self.side.stats(),
            engine: self.driver.adapter().stats(),
        }
    }

    /// Stops every thread, closes the session (the engine tears it down), and drops the TUN
    /// interface and the socket. Returns the final counters, or the first thread error.
    pub fn stop(mut self) -> io::Result<NodeStats> {
        self.halt()
    }

    fn halt(&mut self) -> io::Result<NodeStats> {
        self.stop.store(true, Relaxed);
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            let joined = thread.join().unwrap_or_else(|_| Err(io::Error::other("tunnel thread panicked")));
            if result.is_ok() {
                result = joined;
            }
        }
        if let Some(pump) = self.pump.take() {
            let stopped = pump.stop();
            if result.is_ok() {
                result = stopped.map(|_| ());
            }
        }
        let stats = self.stats();
        // Last reference: closing the handle ends the session in the engine (consumer joined,
        // rings unmapped) before the ring memory goes.
        self.session = None;
        result.map(|()| stats)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn stopping(stop: &AtomicBool) -> bool {
    stop.load(Relaxed) || interrupt::requested()
}

fn count_open_error(counters: &Counters, e: RecordError) {
    match e {
        RecordError::Forged => counters.forged.fetch_add(1, Relaxed),
        RecordError::Replay => counters.replayed.fetch_add(1, Relaxed),
        _ => counters.malformed.fetch_add(1, Relaxed),
    };
}

struct Outbound<'a> {
    session: &'a Session<HostBackend>,
    socket: &'a BatchSocket,
    stop: &'a AtomicBool,
    counters: &'a Counters,
    sealer: Sealer,
}

impl Outbound<'_> {
    /// v2: seal each packet where it lies in the incoming ring and send it from there.
    fn in_place(mut self) -> io::Result<()> {
        let mut packets = Vec::with_capacity(BATCH);
        let mut datagrams = Vec::with_capacity(BATCH);
        let mut scratch = Vec::with_capacity(BATCH);
        while !stopping(self.stop) {
            let first = match self.session.receive_wait(POLL) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(Error::SessionEnded) => return Ok(()),
                Err(e) => return Err(io::Error::other(e)),
            };
            let mut bytes = first.len();
            packets.push(first);
            while packets.len() < BATCH && bytes < BATCH_BYTES {
                match self.session.receive() {
                    Ok(Some(p)) => {
                        bytes += p.len();
                        packets.push(p);
                    }
                    Ok(None) => break,
                    Err(Error::SessionEnded) => break,
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            datagrams.clear();
            for packet in &mut packets {
                let len = packet.len();
                if packet.headroom_mut().len() != HEADER {
                    self.counters.malformed.fetch_add(1, Relaxed);
                    continue;
                }
                let Some(record) = packet.frame_mut().get_mut(..HEADER + len + TAG) else {
                    self.counters.malformed.fetch_add(1, Relaxed);
                    continue;
                };
                if self.sealer.seal_frame(record).is_err() {
                    return Err(io::Error::other("send counter exhausted: the tunnel needs new keys"));
                }
                datagrams.push(Datagram { ptr: record.as_mut_ptr(), len: record.len() });
            }
            // SAFETY: every datagram points into a slot of `packets`, which are held (not
            // released) until after the call.
            let refused = unsafe { self.socket.send_batch(&mut datagrams, &mut scratch) };
            self.account(&datagrams, refused);
            packets.clear();
        }
        Ok(())
    }

    /// v1: copy each packet out of the ring (giving the slot back at once), seal the copy, send.
    fn copying(mut self, record_room: usize) -> io::Result<()> {
        let mut buffers: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; record_room]).collect();
        let mut datagrams = Vec::with_capacity(BATCH);
        let mut scratch = Vec::with_capacity(BATCH);
        while !stopping(self.stop) {
            let mut next = match self.session.receive_wait(POLL) {
                Ok(Some(p)) => Some(p),
                Ok(None) => continue,
                Err(Error::SessionEnded) => return Ok(()),
                Err(e) => return Err(io::Error::other(e)),
            };
            datagrams.clear();
            let (mut used, mut bytes) = (0usize, 0usize);
            while let Some(packet) = next.take() {
                let len = packet.len();
                let Some(buffer) = buffers.get_mut(used) else { break };
                match buffer.get_mut(HEADER..HEADER + len) {
                    Some(data) => data.copy_from_slice(packet.data()),
                    None => {
                        self.counters.malformed.fetch_add(1, Relaxed);
                        drop(packet);
                        next = next_packet(self.session)?;
                        continue;
                    }
                }
                drop(packet);
                let record = &mut buffer[..HEADER + len + TAG];
                if self.sealer.seal_frame(record).is_err() {
                    return Err(io::Error::other("send counter exhausted: the tunnel needs new keys"));
                }
                datagrams.push(Datagram { ptr: record.as_mut_ptr(), len: record.len() });
                used += 1;
                bytes += len;
                if used < BATCH && bytes < BATCH_BYTES {
                    next = next_packet(self.session)?;
                }
            }
            // SAFETY: every datagram points into `buffers`, untouched until after the call.
            let refused = unsafe { self.socket.send_batch(&mut datagrams, &mut scratch) };
            self.account(&datagrams, refused);
        }
        Ok(())
    }

    fn account(&self, datagrams: &[Datagram], refused: u64) {
        let bytes: usize = datagrams.iter().map(|d| d.len).sum();
        self.counters.sealed.fetch_add(datagrams.len() as u64, Relaxed);
        self.counters.sent_bytes.fetch_add(bytes as u64, Relaxed);
        self.counters.send_refused.fetch_add(refused, Relaxed);
    }
}

fn next_packet(session: &Session<HostBackend>) -> io::Result<Option<ringtun::IncomingPacket<'_, HostBackend>>> {
    match session.receive() {
        Ok(p) => Ok(p),
        Err(Error::SessionEnded) => Ok(None),
        Err(e) => Err(io::Error::other(e)),
    }
}

struct Inbound<'a> {
    session: &'a Session<HostBackend>,
    socket: &'a BatchSocket,
    stop: &'a AtomicBool,
    counters: &'a Counters,
    opener: Opener,
    batch: usize,
}

impl Inbound<'_> {
    /// v2: receive datagrams straight into outgoing slots, decrypt there, point the slot at the
    /// packet.
    fn in_place(mut self, record_room: usize) -> io::Result<()> {
        let mut slots = std::collections::VecDeque::with_capacity(BATCH);
        let (mut room, mut iovs, mut scratch, mut received) = (
            Vec::with_capacity(BATCH),
            Vec::with_capacity(BATCH),
            Vec::with_capacity(BATCH),
            Vec::with_capacity(BATCH),
        );
        while !stopping(self.stop) {
            // Slots left over from the last call come first: they are the oldest allocations, so
            // filling them first keeps the publication order.
            while slots.len() < self.batch {
                match self.session.allocate(record_room, 0, 0) {
                    Ok(slot) => slots.push_back(slot),
                    Err(Error::RingFull) => break,
                    Err(Error::SessionEnded) => return Ok(()),
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            if slots.is_empty() {
                // The engine is behind: wait for it to consume.
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            room.clear();
            room.extend(slots.iter_mut().map(|slot: &mut ringtun::OutgoingSlot<'_, HostBackend>| {
                let data = slot.data_mut();
                Datagram { ptr: data.as_mut_ptr(), len: data.len() }
            }));
            // SAFETY: each datagram's room is the data of a slot in `slots`, owned by this thread
            // and not touched through the slot until the call returns.
            unsafe { self.socket.receive_batch(&room, &mut iovs, &mut scratch, &mut received)? };
            for &Received { len, truncated } in &received {
                let Some(mut slot) = slots.pop_front() else { break };
                if truncated {
                    self.counters.malformed.fetch_add(1, Relaxed);
                    continue; // dropped unsent: published as an empty slot
                }
                let Some(record) = slot.data_mut().get_mut(..len) else { continue };
                match self.opener.open(record) {
                    Ok(packet) => {
                        self.counters.opened.fetch_add(1, Relaxed);
                        self.counters.received_bytes.fetch_add(len as u64, Relaxed);
                        // Move the data start past the header and cut the tag: no copy.
                        slot.set_data(packet).map_err(io::Error::other)?;
                        match self.session.send(slot) {
                            Ok(()) => {}
                            Err(Error::SessionEnded) => return Ok(()),
                            Err(e) => return Err(io::Error::other(e)),
                        }
                    }
                    Err(e) => count_open_error(self.counters, e),
                }
            }
        }
        Ok(())
    }

    /// v1: receive into buffers, decrypt there, copy each packet into a slot.
    fn copying(mut self, record_room: usize) -> io::Result<()> {
        let mut buffers: Vec<Vec<u8>> = (0..self.batch).map(|_| vec![0u8; record_room]).collect();
        let room: Vec<Datagram> = buffers.iter_mut().map(|b| Datagram { ptr: b.as_mut_ptr(), len: b.len() }).collect();
        let (mut iovs, mut scratch, mut received) =
            (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
        while !stopping(self.stop) {
            // SAFETY: the datagrams point at `buffers`, not accessed otherwise during the call.
            unsafe { self.socket.receive_batch(&room, &mut iovs, &mut scratch, &mut received)? };
            for (i, &Received { len, truncated }) in received.iter().enumerate() {
                let Some(&Datagram { ptr, .. }) = room.get(i) else { break };
                if truncated {
                    self.counters.malformed.fetch_add(1, Relaxed);
                    continue;
                }
                // SAFETY: `ptr` is the start of `buffers[i]` (`record_room` bytes, at least
                // `len`); no other reference to that buffer is alive in this loop.
                let record = unsafe { core::slice::from_raw_parts_mut(ptr, len) };
                let packet = match self.opener.open(record) {
                    Ok(range) => range,
                    Err(e) => {
                        count_open_error(self.counters, e);
                        continue;
                    }
                };
                self.counters.opened.fetch_add(1, Relaxed);
                self.counters.received_bytes.fetch_add(len as u64, Relaxed);
                let Some(plain) = record.get(packet) else { continue };
                if !self.copy_into_ring(plain)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Copies `plain` into a new slot and sends it; waits a little for room. `false`: the session
    /// ended.
    fn copy_into_ring(&self, plain: &[u8]) -> io::Result<bool> {
        for _ in 0..200 {
            match self.session.allocate(plain.len(), 0, 0) {
                Ok(mut slot) => {
                    slot.data_mut().copy_from_slice(plain);
                    return match self.session.send(slot) {
                        Ok(()) => Ok(true),
                        Err(Error::SessionEnded) => Ok(false),
                        Err(e) => Err(io::Error::other(e)),
                    };
                }
                Err(Error::RingFull) => std::thread::sleep(Duration::from_micros(50)),
                Err(Error::SessionEnded) => return Ok(false),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        self.counters.ring_full_drops.fetch_add(1, Relaxed);
        Ok(true)
    }
}
