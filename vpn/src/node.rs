//! One end of the tunnel: a TUN interface bridged to the engine, and a client that moves packets
//! between the session's rings and a UDP socket, sealed with ChaCha20-Poly1305.
//!
//! Every record fits the underlay's MTU: `header | one IP packet of at most the TUN MTU | tag`
//! in one UDP datagram, and the socket refuses to fragment (`IP_PMTUDISC_DO`).
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
//!
//! **With offloads** the TUN interface hands over TCP packets of up to 64 KiB (TSO) and takes
//! such packets back, and the socket uses UDP GSO and GRO:
//!
//! - a TCP super-packet is cut into MTU-sized segments ([`crate::segment`]), each sealed as its
//!   own record, and all of them leave in one `sendmmsg` with `UDP_SEGMENT` (one pass through
//!   the kernel's UDP stack per up to 44 records). v2 does it in the ring: segment `i`'s headers
//!   and record header are written over the last bytes of segment `i - 1`'s ciphertext (after
//!   those bytes were copied aside, with the tag, for the socket), so the payload is encrypted
//!   where the engine put it and the socket gathers each record from the ring and the copy; v1
//!   copies each segment into a buffer and seals it there;
//! - one `recvmsg` on the `UDP_GRO` socket returns up to 64 KiB of back-to-back records of one
//!   length, written straight into one Receive-ring slot (v2) or a buffer (v1). Each record is
//!   opened in place, and consecutive TCP segments of one flow are coalesced
//!   ([`crate::coalesce`]): v2 moves each later payload down behind the first segment's (in the
//!   slot, no second copy) and points the slot at the result; v1 copies each run into a slot.

use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::ring_abi::{RingVersion, Room};
use ringtun::{Error, IncomingPacket, OutgoingSlot, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::StatsSnapshot;
use ringtun_tun::{PumpStats, SideStats, TunDevice, TunPump, TunStackSide};

use crate::coalesce::{self, Run, MAX_COALESCED};
use crate::crypto::{DirectionKeys, Opener, RecordError, Sealer, HEADER, OVERHEAD, TAG};
use crate::interrupt;
use crate::netns::Netns;
use crate::segment::Segmenter;
use crate::udp::{BatchSocket, Datagram, Received, Wire};

/// Packets handled per batch in each direction (one `sendmmsg` / `recvmmsg`).
pub const BATCH: usize = 64;
/// A batch of outbound packets is sent once it holds this many bytes (with offloads, a few
/// super-packets: sealing does not hold back the first datagram for long).
const BATCH_BYTES: usize = 256 << 10;
/// How long a blocked wait (for the ring, for the socket) lasts before the stop flag is checked
/// again. An idle tunnel's threads sleep this long between two looks: every wait for traffic is a
/// sleep on an event or in a system call, not a spin. Stopping wakes the socket's reader at once
/// (the socket is shut down); the ring's reader notices within this.
const POLL: Duration = Duration::from_millis(500);
/// Ring capacity, both rings (16 MiB: room for a TCP window of 64 KiB packets).
const RING_CAPACITY: u32 = 0x100_0000;
/// With offloads, the largest packet the TUN interface hands over (its `gso_max_size`): within a
/// ring slot's largest packet (65535 bytes) with room to spare for IPv6's larger header.
pub const OFFLOAD_MAX_PACKET: u32 = 65_000;
/// v1 with offloads: the buffer the records of one outbound batch are built in (the batch's
/// bytes, one more super-packet, and the headers and overhead every segment adds).
const V1_ARENA: usize = BATCH_BYTES + 2 * 0x1_0000 + 4096 * (OVERHEAD + crate::segment::MAX_HEADERS);

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
    /// MTU of the TUN interface: the underlay's UDP payload minus [`OVERHEAD`]; no record is
    /// longer than this plus [`OVERHEAD`].
    pub tun_mtu: u32,
    /// Local UDP address (on the underlay).
    pub local: SocketAddrV4,
    /// The peer's UDP address.
    pub peer: SocketAddrV4,
    /// Copies or in place.
    pub mode: Mode,
    /// This end's keys.
    pub keys: DirectionKeys,
    /// Offloads: TSO and checksum offload on the TUN interface (TCP packets of up to
    /// [`OFFLOAD_MAX_PACKET`] bytes cross the rings whole), cut into MTU-sized records sent with
    /// UDP GSO, received with UDP GRO and coalesced again.
    pub offload: bool,
}

/// Counters of the client side.
#[derive(Debug, Default)]
struct Counters {
    sealed: AtomicU64,
    sent_bytes: AtomicU64,
    send_refused: AtomicU64,
    segmented: AtomicU64,
    oversize: AtomicU64,
    opened: AtomicU64,
    received_bytes: AtomicU64,
    largest_datagram: AtomicU64,
    coalesced: AtomicU64,
    coalesced_records: AtomicU64,
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
    /// Super-packets cut into several records.
    pub segmented: u64,
    /// Packets longer than a record can carry that could not be segmented (dropped).
    pub oversize: u64,
    /// Records authenticated and sent to the engine.
    pub opened: u64,
    /// Bytes of those records.
    pub received_bytes: u64,
    /// The longest datagram received (a record).
    pub largest_datagram: u64,
    /// Packets sent to the engine that were coalesced from several records.
    pub coalesced: u64,
    /// Records that went into those packets.
    pub coalesced_records: u64,
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
    socket: Arc<BatchSocket>,
    driver: Arc<HostDriver>,
    /// The pump's last counters, once it is stopped.
    pump_stats: PumpStats,
}

impl Node {
    /// Creates the TUN interface and the socket inside `ns`, configures the interface, registers
    /// a session in `config.mode`, and starts the threads.
    pub fn start(ns: &Netns, config: NodeConfig) -> io::Result<Self> {
        let (tun_name, local, peer, offload) = (config.tun_name.clone(), config.local, config.peer, config.offload);
        let (device, socket) = ns.run(move || {
            let device = TunDevice::open_with(&tun_name, offload).map_err(io::Error::other)?;
            let socket = BatchSocket::open(local, peer, POLL, offload)?;
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
        let tun_mtu = config.tun_mtu as usize;

        let mut node = Self {
            mode: config.mode,
            stop: Arc::clone(&stop),
            counters: Arc::clone(&counters),
            threads: Vec::new(),
            pump: None,
            side,
            session: Some(Arc::clone(&session)),
            socket: Arc::clone(&socket),
            driver: Arc::clone(&driver),
            pump_stats: PumpStats::default(),
        };
        let outbound = {
            let (session, socket, stop, counters) =
                (Arc::clone(&session), Arc::clone(&socket), Arc::clone(&stop), Arc::clone(&counters));
            let sealer = Sealer::new(&config.keys.send);
            let (mode, offload) = (config.mode, config.offload);
            std::thread::Builder::new().name("vpn-outbound".into()).spawn(move || {
                let run = Outbound {
                    session: &session,
                    socket: &socket,
                    stop: &stop,
                    counters: &counters,
                    sealer,
                    tun_mtu,
                    offload,
                };
                match mode {
                    Mode::V1 => run.copying(),
                    Mode::V2 => run.in_place(),
                }
            })?
        };
        node.threads.push(outbound);
        let inbound = {
            let (session, socket, stop, counters) =
                (Arc::clone(&session), Arc::clone(&socket), Arc::clone(&stop), Arc::clone(&counters));
            let opener = Opener::new(&config.keys.receive);
            let (mode, offload) = (config.mode, config.offload);
            std::thread::Builder::new().name("vpn-inbound".into()).spawn(move || {
                let run = Inbound { session: &session, socket: &socket, stop: &stop, counters: &counters, opener };
                let record_room = tun_mtu + OVERHEAD;
                match (mode, offload) {
                    (Mode::V1, false) => run.copying(record_room),
                    (Mode::V2, false) => run.in_place(record_room),
                    (Mode::V1, true) => run.copying_coalesced(),
                    (Mode::V2, true) => run.in_place_coalesced(),
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
            segmented: c.segmented.load(Relaxed),
            oversize: c.oversize.load(Relaxed),
            opened: c.opened.load(Relaxed),
            received_bytes: c.received_bytes.load(Relaxed),
            largest_datagram: c.largest_datagram.load(Relaxed),
            coalesced: c.coalesced.load(Relaxed),
            coalesced_records: c.coalesced_records.load(Relaxed),
            forged: c.forged.load(Relaxed),
            replayed: c.replayed.load(Relaxed),
            malformed: c.malformed.load(Relaxed),
            ring_full_drops: c.ring_full_drops.load(Relaxed),
            pump: self.pump.as_ref().map_or(self.pump_stats, TunPump::stats),
            side: self.side.stats(),
            engine: self.driver.adapter().stats(),
        }
    }

    /// Stops every thread, closes the session (the engine tears it down), and drops the TUN
    /// interface and the socket. Returns the final counters, or the first thread error.
    pub fn stop(mut self) -> io::Result<NodeStats> {
        self.halt()
    }

    /// Tells the threads to stop, without waiting for them ([`Node::stop`] waits): stopping
    /// several nodes this way first lets their threads wind down together.
    pub fn request_stop(&self) {
        self.stop.store(true, Relaxed);
        // Wakes the socket's reader now rather than at its next timeout.
        self.socket.shutdown_read();
    }

    fn halt(&mut self) -> io::Result<NodeStats> {
        self.request_stop();
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            let joined = thread.join().unwrap_or_else(|_| Err(io::Error::other("tunnel thread panicked")));
            if result.is_ok() {
                result = joined;
            }
        }
        if let Some(pump) = self.pump.take() {
            match pump.stop() {
                Ok(stats) => self.pump_stats = stats,
                Err(e) if result.is_ok() => result = Err(e),
                Err(_) => {}
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

fn exhausted() -> io::Error {
    io::Error::other("send counter exhausted: the tunnel needs new keys")
}

/// Waits for the first incoming packet of a batch, then takes what else is there, up to the
/// batch limits. `Ok(false)`: the session ended.
fn take_batch<'s>(
    session: &'s Session<HostBackend>,
    packets: &mut Vec<IncomingPacket<'s, HostBackend>>,
) -> io::Result<bool> {
    let first = match session.receive_wait(POLL) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(true),
        Err(Error::SessionEnded) => return Ok(false),
        Err(e) => return Err(io::Error::other(e)),
    };
    let mut bytes = first.len();
    packets.push(first);
    while packets.len() < BATCH && bytes < BATCH_BYTES {
        match session.receive() {
            Ok(Some(p)) => {
                bytes += p.len();
                packets.push(p);
            }
            Ok(None) | Err(Error::SessionEnded) => break,
            Err(e) => return Err(io::Error::other(e)),
        }
    }
    Ok(true)
}

struct Outbound<'a> {
    session: &'a Session<HostBackend>,
    socket: &'a BatchSocket,
    stop: &'a AtomicBool,
    counters: &'a Counters,
    sealer: Sealer,
    tun_mtu: usize,
    offload: bool,
}

impl Outbound<'_> {
    /// The segmentation of a packet too long for one record: TCP only, with the segment size that
    /// fills the TUN MTU (the kernel's own segment size for a path of that MTU). `None`: drop it.
    fn segmenter(&self, packet: &[u8]) -> Option<Segmenter> {
        if !self.offload {
            return None;
        }
        let h = crate::inet::TcpPacket::parse(packet)?.header_len();
        let mss = self.tun_mtu.checked_sub(h).filter(|&m| m > 0)?;
        Segmenter::new(packet, mss).ok()
    }

    /// v2: seal each packet where it lies in the incoming ring and send it from there; cut a
    /// super-packet into records in the ring.
    fn in_place(mut self) -> io::Result<()> {
        let mut packets = Vec::with_capacity(BATCH);
        let mut wire = Wire::new();
        while !stopping(self.stop) {
            if !take_batch(self.session, &mut packets)? {
                return Ok(());
            }
            wire.clear();
            for packet in &mut packets {
                let len = packet.len();
                if packet.headroom_mut().len() != HEADER {
                    self.counters.malformed.fetch_add(1, Relaxed);
                    continue;
                }
                if len <= self.tun_mtu {
                    let Some(record) = packet.frame_mut().get_mut(..HEADER + len + TAG) else {
                        self.counters.malformed.fetch_add(1, Relaxed);
                        continue;
                    };
                    self.sealer.seal_frame(record).map_err(|_| exhausted())?;
                    wire.begin();
                    wire.push_memory(record.as_ptr(), record.len());
                    continue;
                }
                let Some(seg) = self.segmenter(packet.data()) else {
                    self.counters.oversize.fetch_add(1, Relaxed);
                    continue;
                };
                self.cut_in_place(&seg, packet.frame_mut(), &mut wire)?;
            }
            // SAFETY: every memory piece of `wire` points into a slot of `packets`, which are held
            // (not released) until after the call.
            let refused = unsafe { self.socket.send_wire(&mut wire, self.offload) };
            self.account(&wire, refused);
            self.session.release_many(&mut packets);
        }
        Ok(())
    }

    /// Cuts the super-packet in `frame` (`[HEADER bytes of head room | packet | tail room]`) into
    /// records in place and adds them to `wire`.
    ///
    /// Segment `i` (headers `H_i`, payload `P_i`) is sealed where `P_i` already is: its headers go
    /// in front of `P_i`, over the last bytes of segment `i - 1`'s ciphertext, and its record
    /// header in front of those. Before they are overwritten, those bytes are copied into the
    /// wire's side buffer, followed by segment `i - 1`'s tag, so record `i - 1` is gathered as
    /// `[ring: record header | ciphertext up to there][copy: the rest of its ciphertext | tag]`.
    /// The first record's header lies in the head room, the last record's tag in the tail room.
    fn cut_in_place(&mut self, seg: &Segmenter, frame: &mut [u8], wire: &mut Wire) -> io::Result<()> {
        let (h, mss, count) = (seg.header_len(), seg.mss(), seg.count());
        for i in 0..count {
            let start = HEADER + i * mss; // where H_i goes
            let end = start + seg.segment_len(i);
            let Some(segment) = frame.get_mut(start..end) else {
                self.counters.malformed.fetch_add(1, Relaxed);
                return Ok(());
            };
            // Segments after the first overwrite bytes of the previous record: already copied.
            if !seg.build(i, segment) {
                self.counters.malformed.fetch_add(1, Relaxed);
                return Ok(());
            }
            let (header, tag) = self.sealer.seal(segment).map_err(|_| exhausted())?;
            frame[start - HEADER..start].copy_from_slice(&header);
            wire.begin();
            if i + 1 == count {
                let Some(tail) = frame.get_mut(end..end + TAG) else {
                    self.counters.malformed.fetch_add(1, Relaxed);
                    return Ok(());
                };
                tail.copy_from_slice(&tag);
                wire.push_memory(frame[start - HEADER..].as_ptr(), HEADER + (end - start) + TAG);
            } else {
                // The next record's header and headers will cover [split, end).
                let split = end - (h + HEADER);
                wire.push_memory(frame[start - HEADER..].as_ptr(), split - (start - HEADER));
                wire.push_copy(&frame[split..end]);
                wire.push_copy(&tag);
            }
        }
        self.counters.segmented.fetch_add(1, Relaxed);
        Ok(())
    }

    /// v1: copy each packet (each segment of a super-packet) out of the ring into a buffer, seal
    /// it there, send; the ring slots go back once copied.
    fn copying(mut self) -> io::Result<()> {
        let mut packets = Vec::with_capacity(BATCH);
        let mut arena = vec![0u8; V1_ARENA];
        let mut wire = Wire::new();
        while !stopping(self.stop) {
            if !take_batch(self.session, &mut packets)? {
                return Ok(());
            }
            wire.clear();
            let mut used = 0usize;
            for packet in packets.drain(..) {
                let data = packet.data();
                if data.len() <= self.tun_mtu {
                    let Some(record) = arena.get_mut(used..used + HEADER + data.len() + TAG) else {
                        self.counters.malformed.fetch_add(1, Relaxed);
                        continue;
                    };
                    record[HEADER..HEADER + data.len()].copy_from_slice(data);
                    drop(packet);
                    self.sealer.seal_frame(record).map_err(|_| exhausted())?;
                    wire.begin();
                    wire.push_memory(record.as_ptr(), record.len());
                    used += record.len();
                    continue;
                }
                let Some(seg) = self.segmenter(data) else {
                    self.counters.oversize.fetch_add(1, Relaxed);
                    continue;
                };
                for i in 0..seg.count() {
                    let (len, from) = (seg.segment_len(i), seg.payload_offset(i));
                    let (Some(record), Some(payload)) =
                        (arena.get_mut(used..used + HEADER + len + TAG), data.get(from..from + seg.payload_len(i)))
                    else {
                        self.counters.malformed.fetch_add(1, Relaxed);
                        break;
                    };
                    record[HEADER + seg.header_len()..HEADER + len].copy_from_slice(payload);
                    if !seg.build(i, &mut record[HEADER..HEADER + len]) {
                        self.counters.malformed.fetch_add(1, Relaxed);
                        break;
                    }
                    self.sealer.seal_frame(record).map_err(|_| exhausted())?;
                    wire.begin();
                    wire.push_memory(record.as_ptr(), record.len());
                    used += record.len();
                }
                self.counters.segmented.fetch_add(1, Relaxed);
            }
            // SAFETY: every memory piece of `wire` points into `arena`, untouched until after the
            // call.
            let refused = unsafe { self.socket.send_wire(&mut wire, self.offload) };
            self.account(&wire, refused);
        }
        Ok(())
    }

    fn account(&self, wire: &Wire, refused: u64) {
        self.counters.sealed.fetch_add(wire.len() as u64, Relaxed);
        self.counters.sent_bytes.fetch_add(wire.bytes() as u64, Relaxed);
        self.counters.send_refused.fetch_add(refused, Relaxed);
    }
}

struct Inbound<'a> {
    session: &'a Session<HostBackend>,
    socket: &'a BatchSocket,
    stop: &'a AtomicBool,
    counters: &'a Counters,
    opener: Opener,
}

/// `Ok(false)` for a session that ended, an error for anything else unexpected.
fn sent(result: Result<(), Error>) -> io::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(Error::SessionEnded) => Ok(false),
        Err(e) => Err(io::Error::other(e)),
    }
}

impl<'a> Inbound<'a> {
    /// Allocates an outgoing slot of `len` bytes, waiting a little for room. `Ok(None)`: the ring
    /// stayed full (the packet is dropped and counted) or the session ended (`ended` set).
    fn allocate(&self, len: usize, ended: &mut bool) -> io::Result<Option<OutgoingSlot<'a, HostBackend>>> {
        for _ in 0..200 {
            match self.session.allocate(len, 0, 0) {
                Ok(slot) => return Ok(Some(slot)),
                Err(Error::RingFull) => std::thread::sleep(Duration::from_micros(50)),
                Err(Error::SessionEnded) => {
                    *ended = true;
                    return Ok(None);
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        self.counters.ring_full_drops.fetch_add(1, Relaxed);
        Ok(None)
    }

    /// Opens the records of a coalesced receive in place in `buf` (records of `segment` bytes
    /// back to back, the last possibly shorter) and returns the ranges of their packets.
    fn open_records(&mut self, buf: &mut [u8], segment: usize, packets: &mut Vec<core::ops::Range<usize>>) {
        packets.clear();
        self.counters.largest_datagram.fetch_max(segment.min(buf.len()) as u64, Relaxed);
        let mut at = 0;
        while at < buf.len() {
            let end = (at + segment.max(1)).min(buf.len());
            match self.opener.open(&mut buf[at..end]) {
                Ok(range) => {
                    self.counters.opened.fetch_add(1, Relaxed);
                    self.counters.received_bytes.fetch_add((end - at) as u64, Relaxed);
                    packets.push(at + range.start..at + range.end);
                }
                Err(e) => count_open_error(self.counters, e),
            }
            at = end;
        }
    }

    fn count_run(&self, run: &Run) {
        if run.count > 1 {
            self.counters.coalesced.fetch_add(1, Relaxed);
            self.counters.coalesced_records.fetch_add(run.count as u64, Relaxed);
        }
    }

    /// Copies `run` (of `packets` in `buf`) into a new slot, coalesced, and sends it. `Ok(false)`:
    /// the session ended.
    fn copy_run(&self, buf: &[u8], packets: &[core::ops::Range<usize>], run: &Run) -> io::Result<bool> {
        let mut ended = false;
        let Some(mut slot) = self.allocate(run.len, &mut ended)? else { return Ok(!ended) };
        if !copy_into(slot.data_mut(), buf, packets, run) {
            self.counters.malformed.fetch_add(1, Relaxed);
            return Ok(true); // the slot goes out empty
        }
        self.count_run(run);
        sent(self.session.send(slot))
    }

    /// v2 with offloads: one coalesced receive straight into a slot, records opened there, the
    /// first run coalesced in place (its later payloads moved down behind the first), any further
    /// run copied into a slot of its own.
    fn in_place_coalesced(mut self) -> io::Result<()> {
        let (mut packets, mut runs) = (Vec::new(), Vec::new());
        let mut pending: Option<OutgoingSlot<'a, HostBackend>> = None;
        let mut ended = false;
        while !stopping(self.stop) {
            let mut slot = match pending.take() {
                Some(slot) => slot,
                None => match self.allocate(MAX_COALESCED, &mut ended)? {
                    Some(slot) => slot,
                    None if ended => return Ok(()),
                    None => continue,
                },
            };
            let data = slot.data_mut();
            // SAFETY: `data` is the slot's data, owned by this thread and not touched otherwise
            // until the call returns.
            let got = unsafe { self.socket.receive_coalesced(Datagram { ptr: data.as_mut_ptr(), len: data.len() })? };
            let Some(got) = got else {
                pending = Some(slot); // nothing arrived: keep the slot for the next receive
                continue;
            };
            if got.truncated {
                self.counters.malformed.fetch_add(1, Relaxed);
                continue; // dropped unsent: published as an empty slot
            }
            let buf = &mut slot.data_mut()[..got.len];
            self.open_records(buf, got.segment, &mut packets);
            runs.clear();
            {
                let slices: Vec<&[u8]> = packets.iter().map(|r| &buf[r.clone()]).collect();
                coalesce::plan(&slices, &mut runs);
            }
            let Some(first) = runs.first().copied() else { continue };
            // Later runs are copied out before the first one's payloads move over their bytes.
            let mut later = Vec::new();
            for run in runs.iter().skip(1) {
                let mut ended_here = false;
                let Some(mut s) = self.allocate(run.len, &mut ended_here)? else {
                    if ended_here {
                        return Ok(());
                    }
                    continue;
                };
                if copy_into(s.data_mut(), buf, &packets, run) {
                    later.push((s, *run));
                } else {
                    self.counters.malformed.fetch_add(1, Relaxed);
                }
            }
            let start = packets.get(first.first).map_or(0, |r| r.start);
            let mut at = start;
            for (k, range) in packets.iter().skip(first.first).take(first.count).enumerate() {
                let skip = if k == 0 { 0 } else { first.header_len };
                let len = range.end - range.start - skip;
                buf.copy_within(range.start + skip..range.end, at);
                at += len;
            }
            let ok = at - start == first.len
                && (first.count == 1 || coalesce::finish(&first, &mut buf[start..start + first.len]));
            if ok && slot.set_data(start..start + first.len).is_ok() {
                self.count_run(&first);
                if !sent(self.session.send(slot))? {
                    return Ok(());
                }
            } else {
                self.counters.malformed.fetch_add(1, Relaxed);
            }
            for (s, run) in later {
                self.count_run(&run);
                if !sent(self.session.send(s))? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// v1 with offloads: one coalesced receive into a buffer, records opened there, each run
    /// copied (coalesced) into a slot.
    fn copying_coalesced(mut self) -> io::Result<()> {
        let mut buf = vec![0u8; MAX_COALESCED];
        let (mut packets, mut runs) = (Vec::new(), Vec::new());
        while !stopping(self.stop) {
            // SAFETY: `buf` is owned here and not otherwise accessed during the call.
            let got = unsafe { self.socket.receive_coalesced(Datagram { ptr: buf.as_mut_ptr(), len: buf.len() })? };
            let Some(got) = got else { continue };
            if got.truncated {
                self.counters.malformed.fetch_add(1, Relaxed);
                continue;
            }
            self.open_records(&mut buf[..got.len], got.segment, &mut packets);
            runs.clear();
            {
                let slices: Vec<&[u8]> = packets.iter().map(|r| &buf[r.clone()]).collect();
                coalesce::plan(&slices, &mut runs);
            }
            for run in &runs {
                if !self.copy_run(&buf, &packets, run)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

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
            while slots.len() < BATCH {
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
            room.extend(slots.iter_mut().map(|slot: &mut OutgoingSlot<'_, HostBackend>| {
                let data = slot.data_mut();
                Datagram { ptr: data.as_mut_ptr(), len: data.len() }
            }));
            // SAFETY: each datagram's room is the data of a slot in `slots`, owned by this thread
            // and not touched through the slot until the call returns.
            unsafe { self.socket.receive_batch(&room, &mut iovs, &mut scratch, &mut received)? };
            for &Received { len, truncated } in &received {
                let Some(mut slot) = slots.pop_front() else { break };
                self.counters.largest_datagram.fetch_max(len as u64, Relaxed);
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
                        if !sent(self.session.send(slot))? {
                            return Ok(());
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
        let mut buffers: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; record_room]).collect();
        let room: Vec<Datagram> = buffers.iter_mut().map(|b| Datagram { ptr: b.as_mut_ptr(), len: b.len() }).collect();
        let (mut iovs, mut scratch, mut received) =
            (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
        while !stopping(self.stop) {
            // SAFETY: the datagrams point at `buffers`, not accessed otherwise during the call.
            unsafe { self.socket.receive_batch(&room, &mut iovs, &mut scratch, &mut received)? };
            for (i, &Received { len, truncated }) in received.iter().enumerate() {
                let Some(&Datagram { ptr, .. }) = room.get(i) else { break };
                self.counters.largest_datagram.fetch_max(len as u64, Relaxed);
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
                let mut ended = false;
                let Some(mut slot) = self.allocate(plain.len(), &mut ended)? else {
                    if ended {
                        return Ok(());
                    }
                    continue;
                };
                slot.data_mut().copy_from_slice(plain);
                if !sent(self.session.send(slot))? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Copies `run` of `packets` (ranges of `buf`) into `out` (`run.len` bytes): the first member
/// whole, the later members' payloads behind it; then rewrites the headers. `false` if the
/// lengths do not add up.
fn copy_into(out: &mut [u8], buf: &[u8], packets: &[core::ops::Range<usize>], run: &Run) -> bool {
    let members = packets.get(run.first..run.first + run.count).unwrap_or(&[]);
    let mut at = 0;
    for (k, range) in members.iter().enumerate() {
        let skip = if k == 0 { 0 } else { run.header_len };
        let Some(bytes) = buf.get(range.start + skip..range.end) else { return false };
        let Some(dst) = out.get_mut(at..at + bytes.len()) else { return false };
        dst.copy_from_slice(bytes);
        at += bytes.len();
    }
    at == run.len && out.len() == run.len && (run.count == 1 || coalesce::finish(run, out))
}
