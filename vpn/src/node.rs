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
//! **With offloads** (v2) the TUN interface hands over TCP packets of up to 64 KiB (TSO) and
//! takes such packets back, the session carries the ring's offload metadata and the write-space
//! signal, and the socket uses UDP GSO and GRO:
//!
//! - a super-packet from the Send ring (metadata: segment size, checksum to complete) is cut
//!   into MTU-sized segments by the ring ABI's segmenter ([`OffloadPlan::segment_header`]), each
//!   sealed as its own record **in the slot**: segment `i`'s headers and record header are
//!   written over the last bytes of segment `i - 1`'s ciphertext, after those bytes were copied
//!   aside with its tag, so the payload is encrypted where the engine put it and the socket
//!   gathers each record from the ring and the copy. All records leave in one `sendmmsg` with
//!   `UDP_SEGMENT` (one pass through the kernel's UDP stack per up to 44 records);
//! - one `recvmsg` on the `UDP_GRO` socket returns up to 64 KiB of back-to-back records of one
//!   length, written straight into one Receive-ring slot. Each record is opened in place, and
//!   consecutive TCP segments of one flow are coalesced ([`crate::coalesce`]) by moving each
//!   later payload down behind the first; the slot is pointed at the result and carries the
//!   metadata of a super-packet (`DATA_VALID`: the records were authenticated).
//!
//! v1 rings carry no metadata: with the TUN interface's offloads on, the engine cuts large sends
//! itself, and the client still sends with UDP GSO and receives with UDP GRO, packet by packet.
//!
//! Every wait for traffic is a sleep — on the read-wait event (after the client library's 0.1 ms
//! spin on the ring), in the socket, on the write-space event — so an idle tunnel end does not
//! poll.

use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::ring_abi::{
    ChecksumState, OffloadMeta, OffloadPlan, RingVersion, Room, MAX_OFFLOAD_HEADER, OFFLOAD_F_DATA_VALID,
    OFFLOAD_GSO_ECN, OFFLOAD_GSO_TCPV4, OFFLOAD_GSO_TCPV6,
};
use ringtun::{Error, IncomingPacket, OutgoingSlot, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::StatsSnapshot;
use ringtun_tun::{PumpStats, SideStats, TunDevice, TunPump, TunStackSide};

use crate::coalesce::{self, Run, MAX_COALESCED};
use crate::crypto::{DirectionKeys, Opener, RecordError, Sealer, HEADER, OVERHEAD, TAG};
use crate::inet::{self, IpVersion};
use crate::interrupt;
use crate::netns::Netns;
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
/// v1: the buffer the records of one outbound batch are built in (the batch's bytes, one more
/// packet, and every record's overhead).
const V1_ARENA: usize = BATCH_BYTES + 0x1_0000 + BATCH * OVERHEAD;

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
    /// Offloads: TSO and checksum offload on the TUN interface, UDP GSO and GRO on the socket.
    /// v2: TCP packets of up to [`OFFLOAD_MAX_PACKET`] bytes cross the rings whole with their
    /// metadata, are cut into MTU-sized records here and coalesced again at the other end; v1
    /// (no metadata): the engine cuts them, and nothing is coalesced.
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
                offload: config.offload,
                write_space: true,
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
        if config.mode == Mode::V2 && (session.offloads() != config.offload || !session.write_space_signal()) {
            return Err(io::Error::other("the engine did not grant the offloads or the write-space signal"));
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
    /// How `plan` (an incoming packet's validated metadata) is cut into records: the segment
    /// size the kernel asked for, or smaller if its segments would not fit the TUN MTU. `None`:
    /// the packet goes as it is (no super-packet, no checksum to complete).
    fn cut_plan(&self, plan: Option<OffloadPlan>) -> Option<OffloadPlan> {
        let mut plan = plan?;
        match &mut plan.gso {
            Some(gso) => {
                let header = usize::from(plan.header_len);
                let fits = self.tun_mtu.saturating_sub(header).clamp(1, usize::from(u16::MAX)) as u16;
                if gso.segment_size > fits {
                    let payload = u32::from(plan.data_length).saturating_sub(u32::from(plan.header_len));
                    gso.segment_size = fits;
                    gso.segments = u16::try_from(payload.div_ceil(u32::from(fits))).unwrap_or(u16::MAX);
                }
                Some(plan)
            }
            None if plan.checksum == ChecksumState::Partial => Some(plan),
            None => None,
        }
    }

    /// v2: seal each packet where it lies in the incoming ring and send it from there; cut a
    /// super-packet into records, and complete a partial checksum, in the ring.
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
                let plan = match packet.offload_plan() {
                    Ok(plan) => self.cut_plan(plan),
                    Err(_) => {
                        self.counters.malformed.fetch_add(1, Relaxed);
                        continue;
                    }
                };
                if let Some(plan) = plan {
                    self.cut_in_place(&plan, packet.frame_mut(), &mut wire)?;
                    continue;
                }
                if len > self.tun_mtu {
                    self.counters.oversize.fetch_add(1, Relaxed);
                    continue;
                }
                let Some(record) = packet.frame_mut().get_mut(..HEADER + len + TAG) else {
                    self.counters.malformed.fetch_add(1, Relaxed);
                    continue;
                };
                self.sealer.seal_frame(record).map_err(|_| exhausted())?;
                wire.begin();
                wire.push_memory(record.as_ptr(), record.len());
            }
            // SAFETY: every memory piece of `wire` points into a slot of `packets`, which are held
            // (not released) until after the call.
            let refused = unsafe { self.socket.send_wire(&mut wire, self.offload) };
            self.account(&wire, refused);
            self.session.release_many(&mut packets);
        }
        Ok(())
    }

    /// Cuts the packet in `frame` (`[HEADER bytes of head room | packet | tail room]`) into the
    /// records `plan` makes of it, in place, and adds them to `wire`.
    ///
    /// Segment `i` (headers `H_i`, payload `P_i`) is sealed where `P_i` already is: its headers go
    /// in front of `P_i`, over the last bytes of segment `i - 1`'s ciphertext, and its record
    /// header in front of those. Before they are overwritten, those bytes are copied into the
    /// wire's side buffer, followed by segment `i - 1`'s tag, so record `i - 1` is gathered as
    /// `[ring: record header | ciphertext up to there][copy: the rest of its ciphertext | tag]`.
    /// The first record's header lies in the head room, the last record's tag in the tail room.
    fn cut_in_place(&mut self, plan: &OffloadPlan, frame: &mut [u8], wire: &mut Wire) -> io::Result<()> {
        let h = usize::from(plan.header_len);
        // The super-packet's own headers: segment 0's are written over them.
        let mut template = [0u8; MAX_OFFLOAD_HEADER];
        let Some(headers) = frame.get(HEADER..HEADER + h) else {
            self.counters.malformed.fetch_add(1, Relaxed);
            return Ok(());
        };
        template[..h].copy_from_slice(headers);
        let count = plan.segment_count();
        for i in 0..count {
            let Some(spec) = plan.segment_payload(i) else { break };
            let (payload_at, payload_len) = (spec.payload_offset as usize, spec.payload_len as usize);
            let start = HEADER + payload_at - h; // where H_i goes
            let end = HEADER + payload_at + payload_len;
            // Segments after the first overwrite bytes of the previous record: already copied.
            let built = frame.get_mut(start..end).and_then(|segment| {
                let (header, payload) = segment.split_at_mut(h);
                plan.segment_header(&template[..h], i, u64::from(inet::sum16(payload)), header)
            });
            if built.is_none() {
                self.counters.malformed.fetch_add(1, Relaxed);
                return Ok(());
            }
            let (header, tag) = self.sealer.seal(&mut frame[start..end]).map_err(|_| exhausted())?;
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
        if count > 1 {
            self.counters.segmented.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    /// v1: copy each packet out of the ring into a buffer, seal it there, send; the ring slots go
    /// back once copied. (v1 rings carry no offload metadata: the engine hands over packets of
    /// at most the MTU, having cut any large send itself.)
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
                if data.len() > self.tun_mtu {
                    self.counters.oversize.fetch_add(1, Relaxed);
                    continue;
                }
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
    /// Allocates an outgoing slot of `len` bytes, waiting for room if the ring is full (asleep:
    /// on the write-space event, or re-checking now and then without it). `Ok(None)`: the ring
    /// stayed full (the packet is dropped and counted) or the session ended (`ended` set).
    fn allocate(&self, len: usize, ended: &mut bool) -> io::Result<Option<OutgoingSlot<'a, HostBackend>>> {
        match self.session.allocate_wait(len, 0, 0, POLL) {
            Ok(slot) => Ok(Some(slot)),
            Err(Error::RingFull) => {
                self.counters.ring_full_drops.fetch_add(1, Relaxed);
                Ok(None)
            }
            Err(Error::SessionEnded) => {
                *ended = true;
                Ok(None)
            }
            Err(e) => Err(io::Error::other(e)),
        }
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

    /// Sends `slot` holding `run`, with its offload metadata when the session carries it.
    /// `Ok(false)`: the session ended.
    fn send_run(&self, mut slot: OutgoingSlot<'a, HostBackend>, run: &Run) -> io::Result<bool> {
        if self.session.offloads() {
            let mut headers = [0u8; MAX_OFFLOAD_HEADER];
            let data = slot.data_mut();
            let n = data.len().min(MAX_OFFLOAD_HEADER);
            headers[..n].copy_from_slice(&data[..n]);
            slot.set_offload(run_meta(run, &headers[..n])).map_err(io::Error::other)?;
        }
        self.count_run(run);
        sent(self.session.send(slot))
    }

    /// v2 with offloads: one coalesced receive straight into a slot, records opened there, the
    /// first run coalesced in place (its later payloads moved down behind the first), any further
    /// run copied into a slot of its own; each coalesced packet goes with its metadata (a
    /// super-packet of the run's segment size, checksums valid: the records were authenticated).
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
                if !self.send_run(slot, &first)? {
                    return Ok(());
                }
            } else {
                self.counters.malformed.fetch_add(1, Relaxed);
            }
            for (s, run) in later {
                if !self.send_run(s, &run)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// v1 with offloads: one coalesced receive into a buffer, records opened there, each packet
    /// copied into a slot (a v1 ring carries no metadata, so nothing is coalesced).
    fn copying_coalesced(mut self) -> io::Result<()> {
        let mut buf = vec![0u8; MAX_COALESCED];
        let mut packets = Vec::new();
        while !stopping(self.stop) {
            // SAFETY: `buf` is owned here and not otherwise accessed during the call.
            let got = unsafe { self.socket.receive_coalesced(Datagram { ptr: buf.as_mut_ptr(), len: buf.len() })? };
            let Some(got) = got else { continue };
            if got.truncated {
                self.counters.malformed.fetch_add(1, Relaxed);
                continue;
            }
            self.open_records(&mut buf[..got.len], got.segment, &mut packets);
            for range in &packets {
                let Some(plain) = buf.get(range.clone()) else { continue };
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
                // The engine is behind: sleep until it frees room.
                match self.session.wait_for_send_space(record_room, 0, 0, POLL) {
                    Ok(_) => continue,
                    Err(Error::SessionEnded) => return Ok(()),
                    Err(e) => return Err(io::Error::other(e)),
                }
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

/// The offload metadata of a packet the tunnel sends to the engine: a run of several segments is
/// a super-packet of the run's segment size (ECN when its first segment carries CWR, as Linux's
/// GRO marks it); every TCP packet is marked checksum-valid (the record carrying it was
/// authenticated, and its checksum is complete as well); anything else goes as a plain packet.
fn run_meta(run: &Run, first_headers: &[u8]) -> OffloadMeta {
    let Some(version) = run.version() else { return OffloadMeta::NONE };
    let mut meta = OffloadMeta { flags: OFFLOAD_F_DATA_VALID, ..OffloadMeta::NONE };
    if run.count > 1 {
        let ip_len = match version {
            IpVersion::V4 => first_headers.first().map_or(20, |b| usize::from(b & 0x0F) * 4),
            IpVersion::V6 => 40,
        };
        let cwr = first_headers.get(ip_len + 13).is_some_and(|f| f & inet::TCP_CWR != 0);
        let kind = match version {
            IpVersion::V4 => OFFLOAD_GSO_TCPV4,
            IpVersion::V6 => OFFLOAD_GSO_TCPV6,
        };
        meta.gso_type = kind | if cwr { OFFLOAD_GSO_ECN } else { 0 };
        meta.hdr_len = u16::try_from(run.header_len).unwrap_or(0);
        meta.gso_size = u16::try_from(run.mss).unwrap_or(0);
    }
    meta
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::tests::{segments, tcp_packet};
    use crate::inet::{TCP_ACK, TCP_PSH};
    use ringtun::ring_abi::GsoKind;

    /// Coalesces `packets` as the receive path does (by copying) and returns each packet with the
    /// metadata the client would give its slot.
    fn coalesced(packets: &[Vec<u8>]) -> Vec<(Vec<u8>, OffloadMeta)> {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for p in packets {
            ranges.push(buf.len()..buf.len() + p.len());
            buf.extend_from_slice(p);
        }
        let mut runs = Vec::new();
        let slices: Vec<&[u8]> = ranges.iter().map(|r| &buf[r.clone()]).collect();
        coalesce::plan(&slices, &mut runs);
        runs.iter()
            .map(|run| {
                let mut out = vec![0u8; run.len];
                assert!(copy_into(&mut out, &buf, &ranges, run));
                let meta = run_meta(run, &out[..out.len().min(MAX_OFFLOAD_HEADER)]);
                (out, meta)
            })
            .collect()
    }

    #[test]
    fn coalesced_packets_carry_metadata_the_driver_accepts() {
        for v6 in [false, true] {
            let p = tcp_packet(v6, 1392 * 5 + 7, 1, TCP_ACK | TCP_PSH | inet::TCP_CWR, 1);
            let out = coalesced(&segments(&p, 1392));
            assert_eq!(out.len(), 1);
            let (packet, meta) = &out[0];
            assert_eq!(packet, &p, "the super-packet again");
            let plan = meta
                .validate(&packet[..MAX_OFFLOAD_HEADER], packet.len() as u32)
                .expect("metadata the driver accepts")
                .expect("not plain");
            assert_eq!(plan.checksum, ChecksumState::Valid);
            let gso = plan.gso.expect("a super-packet");
            assert_eq!(gso.kind, if v6 { GsoKind::TcpV6 } else { GsoKind::TcpV4 });
            assert_eq!((gso.segment_size, gso.segments, gso.ecn), (1392, 6, true));
        }
        // One TCP segment: checksum-valid, no super-packet; a UDP packet: plain.
        let single = tcp_packet(false, 300, 9, TCP_ACK, 2);
        let mut udp = tcp_packet(false, 30, 9, TCP_ACK, 2);
        udp[9] = 17;
        let out = coalesced(&[single.clone(), udp]);
        assert_eq!(out.len(), 2);
        let plan = out[0].1.validate(&single[..MAX_OFFLOAD_HEADER], single.len() as u32).expect("valid");
        assert!(plan.is_some_and(|p| p.gso.is_none() && p.checksum == ChecksumState::Valid));
        assert!(out[1].1.is_none());
    }
}
