//! A session: two rings registered with the driver, and the client's side of both.
//!
//! - **Outgoing** packets (client → network) go through the driver's *Receive* ring, where the
//!   client is the producer: [`Session::allocate`] reserves a slot, the caller fills it in place
//!   (head room, data, tail room; v2 may move the data start and shrink it), [`Session::send`]
//!   hands it over. Slots may be sent in any order; the tail is published in allocation order.
//! - **Incoming** packets (network → client) arrive on the driver's *Send* ring, where the client
//!   is the consumer: [`Session::receive`] returns the next packet in place, with its head and tail
//!   room writable (for in-place decryption or encryption); dropping or
//!   [`ReceivedPacket::release`]-ing it gives the slot back. Packets may be released in any order;
//!   the head advances in order.
//!
//! Until a slot is published (outgoing) or released (incoming) the client marks it in the ring
//! with [`ring_abi::CLIENT_OWNED_BIT`]: bit 31 of the v1 `size` or v2 `slot_size`.
//!
//! With offloads ([`SessionConfig::offload`], granted when [`Session::offloads`] says so), every
//! slot also carries an [`OffloadMeta`] block at the start of its head room: incoming packets may
//! be super-packets of up to 64 KiB ([`IncomingPacket::offload`]), and outgoing slots may be
//! ([`OutgoingSlot::set_offload`]). The block is not part of the room the caller asked for: the
//! head room, frame and data ranges of both slot types are the same as without offloads.
//!
//! A client whose outgoing ring is full waits for room with [`Session::wait_for_send_space`]
//! (or [`Session::allocate_wait`]): with the write-space signal ([`SessionConfig::write_space`])
//! it sleeps on an event the driver sets when it frees space.

use core::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ring_abi::{
    checksum, CallerBitness, OffloadError, OffloadMeta, OffloadPlan, PacketHeader, PacketView, RegistrationFlags,
    ReserveError, Ring, RingConfig, RingDesc, RingGeometry, RingVersion, Room, SharedRing, SleepCheck,
    CLIENT_OWNED_BIT, MAX_IP_PACKET_SIZE, MAX_OFFLOAD_HEADER, OFFLOAD_META_SIZE, RING_STOPPED,
};
use zerocopy::IntoBytes;

use crate::backend::{Backend, ClientEvent, DeviceError, RingMemory};
use crate::error::Error;

// A slot size that is aligned and not 0 is at least a packet header (the checks of slots handed
// back rely on it).
const _: () = assert!(RingVersion::V1.alignment() >= RingVersion::V1.packet_header_size());
const _: () = assert!(RingVersion::V2.alignment() >= RingVersion::V2.packet_header_size());

/// Which ring version to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionPreference {
    /// v2, falling back to v1 (with a reason) when the driver lacks it.
    PreferV2,
    /// v1 only (Wintun-compatible).
    V1Only,
}

/// What a session asks the driver for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Version preference.
    pub version: VersionPreference,
    /// Capacity of the incoming ring (the driver's Send ring); power of two, 128 KiB..=64 MiB.
    pub incoming_capacity: u32,
    /// Capacity of the outgoing ring (the driver's Receive ring).
    pub outgoing_capacity: u32,
    /// v2: room the driver leaves around every incoming packet (exact head room, at least this
    /// tail room).
    pub incoming_room: Room,
    /// v2: the most head/tail room an outgoing packet may use.
    pub outgoing_room: Room,
    /// v2: outgoing slots may hold several IP packets back to back.
    pub receive_split: bool,
    /// v2: ask for offload metadata on both rings (super-packets up to 64 KiB, checksum states).
    /// Granted only if the driver supports it ([`Session::offloads`] tells); not together with
    /// `receive_split` (refused with [`Error::IncompatibleOptions`]).
    pub offload: bool,
    /// v2: ask for the write-space signal, so that [`Session::wait_for_send_space`] sleeps on an
    /// event the driver sets instead of re-checking on a timer. Granted only if the driver
    /// supports it ([`Session::write_space_signal`] tells).
    pub write_space: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            version: VersionPreference::PreferV2,
            incoming_capacity: 0x20_0000,
            outgoing_capacity: 0x20_0000,
            incoming_room: Room::NONE,
            outgoing_room: Room::NONE,
            receive_split: false,
            offload: false,
            write_space: false,
        }
    }
}

/// What the driver granted of what a v2 session asked for beyond the ring version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Extensions {
    offload: bool,
    write_space: bool,
}

/// The write-space counters of [`SessionCounters`], kept under their own lock.
#[derive(Clone, Copy, Debug, Default)]
struct SpaceCounters {
    outgoing_ring_full: u64,
    space_waits: u64,
    space_found: u64,
    space_timeouts: u64,
    space_signals: u64,
}

/// Why a session asked for v2 runs on v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackReason {
    /// The driver does not answer the capability query (an old driver).
    NoCapabilityQuery(DeviceError),
    /// The driver's capabilities do not include v2.
    DriverMaxVersion(u32),
    /// The driver cannot give the room or flags asked for.
    Unsupported,
    /// The driver refused the v2 registration.
    V2Refused(DeviceError),
}

/// What a session moved, as the client library counted it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Outgoing packets sent (cancelled slots are not counted).
    pub sent_packets: u64,
    /// IP bytes of those packets.
    pub sent_bytes: u64,
    /// Incoming packets handed to the caller.
    pub received_packets: u64,
    /// IP bytes of those packets.
    pub received_bytes: u64,
    /// Packet bytes the library itself copied. Only one operation copies: moving the data of a
    /// v1 slot to the slot's start ([`OutgoingSlot::set_data`] or [`Session::send_raw`] with a
    /// range that does not start at 0), because v1 has no data offset. Every other byte a
    /// session moves stays where it is in the ring.
    pub copied_bytes: u64,
    /// Allocations refused because the outgoing ring was full (each a drop unless the caller
    /// waited and retried).
    pub outgoing_ring_full: u64,
    /// Calls to [`Session::wait_for_send_space`] that had to wait.
    pub space_waits: u64,
    /// Waits that ended with room (after the driver freed space).
    pub space_found: u64,
    /// Waits that timed out without room.
    pub space_timeouts: u64,
    /// Times the write-space event woke the caller.
    pub space_signals: u64,
}

/// A slot detached from its borrow, for a caller across an FFI boundary: where it is in the ring
/// and where its bytes are. The caller hands it back by [`RawSlot::slot`] ([`Session::send_raw`],
/// [`Session::cancel_raw`], [`Session::release_raw`]); the session checks that offset against the
/// slots it handed out and not yet got back, so a stale or foreign value fails with
/// [`Error::UnknownSlot`] instead of touching another slot.
///
/// The bytes at `frame` belong to the caller until the slot is sent, cancelled or released: head
/// room (`data_start` bytes), the IP packet (`data_len` bytes), tail room (the rest of
/// `frame_len`). In a session with offloads the frame begins after the slot's offload metadata
/// block, as [`OutgoingSlot::frame_mut`] does; the block is read and written by slot
/// ([`Session::incoming_offload_raw`], [`Session::set_outgoing_offload_raw`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSlot {
    /// The slot's offset in the ring's data area: its identity.
    pub slot: u32,
    /// The first byte after the slot's header.
    pub frame: *mut u8,
    /// Bytes from `frame` to the end of the slot.
    pub frame_len: u32,
    /// Where the IP packet starts, from `frame`.
    pub data_start: u32,
    /// The IP packet's length.
    pub data_len: u32,
}

/// How far a batch call on raw slots got: the first `done` items were processed; if `error` is
/// set, item `done` failed with it and the later ones were not looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Items processed.
    pub done: usize,
    /// Why item `done` was not.
    pub error: Option<Error>,
}

/// A batch that goes on past a failed item (releases: every packet the caller holds is released):
/// counts the items and keeps the first failure, for its [`BatchOutcome`].
#[derive(Default)]
struct BatchCount {
    items: usize,
    first_failure: Option<(usize, Error)>,
}

impl BatchCount {
    /// An item done (`true`) or failed with `error`.
    #[inline(always)]
    fn add(&mut self, done: bool, error: Error) {
        if !done {
            self.failed(error);
        }
        self.items += 1;
    }

    #[cold]
    #[inline(never)]
    fn failed(&mut self, error: Error) {
        self.first_failure.get_or_insert((self.items, error));
    }

    fn outcome(self) -> BatchOutcome {
        match self.first_failure {
            Some((done, e)) => BatchOutcome { done, error: Some(e) },
            None => BatchOutcome { done: self.items, error: None },
        }
    }
}

struct Outgoing {
    /// End of the last allocation (private).
    reserved_tail: u32,
    /// Tail published to the driver.
    published_tail: u32,
    /// Start of the last allocation, for v1 shrink.
    last_slot: Option<u32>,
    /// The driver's `head` as last read (`None` before the first allocation): read once per
    /// allocating call, and again only when an allocation does not fit it. `head` only moves
    /// forward, so what fits it fits; a batch of allocations reads the shared word (which the
    /// driver's consumer writes every round) once instead of once per slot.
    known_head: Option<u32>,
    /// Slots allocated and not yet sent, dropped or taken back. At zero every slot below
    /// `reserved_tail` is finished, and the tail is published there without walking the headers.
    unfinished: u32,
    /// [`SessionCounters::sent_packets`].
    sent_packets: u64,
    /// [`SessionCounters::sent_bytes`].
    sent_bytes: u64,
    /// [`SessionCounters::copied_bytes`].
    copied_bytes: u64,
}

struct Incoming {
    /// Next slot to hand out.
    cursor: u32,
    /// Head released to the driver.
    head: u32,
    /// [`SessionCounters::received_packets`].
    received_packets: u64,
    /// [`SessionCounters::received_bytes`].
    received_bytes: u64,
}

/// Threads inside [`Session::wait_for_send_space`]: `space_waiting` in the ring is set while
/// any is, and cleared by the last one out (under this lock, so that a thread arriving as the
/// last one leaves cannot have its flag cleared).
#[derive(Default)]
struct SpaceWaiters {
    count: u32,
}

/// A registered session.
pub struct Session<B: Backend> {
    version: RingVersion,
    fallback: Option<FallbackReason>,
    extensions: Extensions,
    config: RingConfig,
    incoming_ring: Ring,
    outgoing_ring: Ring,
    incoming: Mutex<Incoming>,
    outgoing: Mutex<Outgoing>,
    /// The rings' data areas as the raw (FFI) calls map them.
    incoming_map: RawMap,
    outgoing_map: RawMap,
    incoming_event: B::Event,
    outgoing_event: B::Event,
    /// The write-space event, when the driver granted the signal.
    space_event: Option<B::Event>,
    space_waiters: Mutex<SpaceWaiters>,
    counters: Mutex<SpaceCounters>,
    _incoming_memory: B::Memory,
    _outgoing_memory: B::Memory,
    // Declared last: dropping the backend closes the handle, which ends the session in the
    // driver before the ring memory above is freed... fields drop in declaration order, so the
    // backend must come first. See `Drop`.
    backend: Option<B>,
}

impl<B: Backend> Drop for Session<B> {
    fn drop(&mut self) {
        // Close the device handle (ending the driver's session and unlocking the rings) before
        // the ring memory and events are released.
        drop(self.backend.take());
    }
}

/// How often [`Session::wait_for_send_space`] re-checks the ring without the write-space signal.
const SPACE_RECHECK: Duration = Duration::from_millis(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Prepared<B: Backend> {
    config: RingConfig,
    extensions: Extensions,
    incoming: (B::Memory, B::Event),
    outgoing: (B::Memory, B::Event),
    space_event: Option<B::Event>,
}

/// The room registered for a ring: the caller's, plus the metadata block with offloads.
fn registered_room(room: Room, offload: bool) -> Option<Room> {
    if !offload {
        return Some(room);
    }
    // OFFLOAD_META_SIZE is 16.
    let headroom = room.headroom.checked_add(OFFLOAD_META_SIZE as u16)?;
    Some(Room::new(headroom, room.tailroom))
}

fn prepare<B: Backend>(
    backend: &B,
    version: RingVersion,
    config: &SessionConfig,
    extensions: Extensions,
) -> Result<Prepared<B>, Error> {
    let extensions = match version {
        RingVersion::V1 => Extensions::default(),
        RingVersion::V2 => extensions,
    };
    let (incoming_room, outgoing_room, flags) = match version {
        RingVersion::V1 => (Room::NONE, Room::NONE, RegistrationFlags::EMPTY),
        RingVersion::V2 => {
            let mut flags =
                if config.receive_split { RegistrationFlags::RECEIVE_SPLIT } else { RegistrationFlags::EMPTY };
            if extensions.offload {
                flags = flags.union(RegistrationFlags::OFFLOAD);
            }
            if extensions.write_space {
                flags = flags.union(RegistrationFlags::WRITE_SPACE);
            }
            let room = |r| {
                registered_room(r, extensions.offload).ok_or(Error::RoomUnsupported {
                    requested: r,
                    available: Room::new(ring_abi::MAX_HEADROOM, ring_abi::MAX_TAILROOM),
                })
            };
            (room(config.incoming_room)?, room(config.outgoing_room)?, flags)
        }
    };
    let incoming_geometry = RingGeometry::new(version, config.incoming_capacity, incoming_room)?;
    let outgoing_geometry = RingGeometry::new(version, config.outgoing_capacity, outgoing_room)?;
    let incoming_memory = backend.alloc_ring(incoming_geometry.ring_size() as usize)?;
    let outgoing_memory = backend.alloc_ring(outgoing_geometry.ring_size() as usize)?;
    let incoming_event = backend.create_event()?;
    let outgoing_event = backend.create_event()?;
    let space_event = if extensions.write_space { Some(backend.create_event()?) } else { None };
    let ring_config = RingConfig {
        version,
        flags,
        write_space_event: space_event.as_ref().map(ClientEvent::handle),
        send: RingDesc {
            geometry: incoming_geometry,
            ring_ptr: incoming_memory.as_ptr() as u64,
            tail_moved_event: incoming_event.handle(),
        },
        receive: RingDesc {
            geometry: outgoing_geometry,
            ring_ptr: outgoing_memory.as_ptr() as u64,
            tail_moved_event: outgoing_event.handle(),
        },
    };
    Ok(Prepared {
        config: ring_config,
        extensions,
        incoming: (incoming_memory, incoming_event),
        outgoing: (outgoing_memory, outgoing_event),
        space_event,
    })
}

fn register<B: Backend>(backend: &B, prepared: &Prepared<B>) -> Result<(), DeviceError> {
    let config = &prepared.config;
    match (config.version, backend.bitness()) {
        (RingVersion::V2, _) => match config.to_v2_ext() {
            Some(ext) => backend.register(ext.as_bytes()),
            None => backend.register(config.to_v2().as_bytes()),
        },
        (RingVersion::V1, CallerBitness::Bits64) => backend.register(config.to_v1x64().as_bytes()),
        (RingVersion::V1, CallerBitness::Bits32) => match config.to_v1x86() {
            Some(reg) => backend.register(reg.as_bytes()),
            None => Err(DeviceError::InvalidParameter),
        },
    }
}

fn ring_over<M: RingMemory>(memory: &M, geometry: RingGeometry) -> Result<Ring, Error> {
    // SAFETY: `memory` is owned by the session next to the `Ring` built here and outlives it
    // (both are fields of `Session`; the ring holds only the raw address). The driver writes it
    // concurrently, which `SharedRing` is built for.
    let shared = unsafe { SharedRing::new(memory.as_ptr(), memory.len(), geometry.version()) }
        .ok_or(Error::Geometry(ring_abi::GeometryError::RingSizeMismatch(0)))?;
    Ok(Ring::new(shared, geometry)?)
}

impl<B: Backend> Session<B> {
    /// Negotiates and registers a session on `backend`. With [`VersionPreference::PreferV2`], an
    /// old driver yields a v1 session whose [`Session::fallback_reason`] says why.
    ///
    /// Offloads and the write-space signal are asked for only when the driver's capabilities
    /// include them; otherwise the session runs without them ([`Session::offloads`],
    /// [`Session::write_space_signal`]), still v2.
    pub fn open(backend: B, config: SessionConfig) -> Result<Self, Error> {
        if config.offload && config.receive_split {
            return Err(Error::IncompatibleOptions);
        }
        let mut fallback = None;
        if config.version == VersionPreference::PreferV2 {
            match backend.query_capabilities() {
                Ok(caps) if caps.max_version < 2 => fallback = Some(FallbackReason::DriverMaxVersion(caps.max_version)),
                Ok(caps) => {
                    let supports = |flag: RegistrationFlags| caps.supported_flags & flag.bits() == flag.bits();
                    let extensions = Extensions {
                        offload: config.offload && supports(RegistrationFlags::OFFLOAD),
                        write_space: config.write_space && supports(RegistrationFlags::WRITE_SPACE),
                    };
                    let fits = |room: Room| {
                        registered_room(room, extensions.offload)
                            .is_some_and(|r| r.headroom <= caps.max_headroom && r.tailroom <= caps.max_tailroom)
                    };
                    let flags_ok = !config.receive_split || supports(RegistrationFlags::RECEIVE_SPLIT);
                    if fits(config.incoming_room) && fits(config.outgoing_room) && flags_ok {
                        let prepared = prepare(&backend, RingVersion::V2, &config, extensions)?;
                        match register(&backend, &prepared) {
                            Ok(()) => return Self::build(backend, prepared, None),
                            Err(e @ (DeviceError::InvalidParameter | DeviceError::InvalidDeviceRequest)) => {
                                fallback = Some(FallbackReason::V2Refused(e));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    } else {
                        fallback = Some(FallbackReason::Unsupported);
                    }
                }
                Err(e @ DeviceError::InvalidDeviceRequest) => fallback = Some(FallbackReason::NoCapabilityQuery(e)),
                Err(e) => return Err(e.into()),
            }
        }
        let prepared = prepare(&backend, RingVersion::V1, &config, Extensions::default())?;
        register(&backend, &prepared)?;
        Self::build(backend, prepared, fallback)
    }

    fn build(backend: B, prepared: Prepared<B>, fallback: Option<FallbackReason>) -> Result<Self, Error> {
        let Prepared {
            config,
            extensions,
            incoming: (incoming_memory, incoming_event),
            outgoing: (outgoing_memory, outgoing_event),
            space_event,
        } = prepared;
        let incoming_ring = ring_over(&incoming_memory, config.send.geometry)?;
        let outgoing_ring = ring_over(&outgoing_memory, config.receive.geometry)?;
        let incoming_map = RawMap::of(&incoming_ring, extensions);
        let outgoing_map = RawMap::of(&outgoing_ring, extensions);
        Ok(Self {
            version: config.version,
            fallback,
            extensions,
            config,
            incoming_ring,
            outgoing_ring,
            incoming: Mutex::new(Incoming { cursor: 0, head: 0, received_packets: 0, received_bytes: 0 }),
            outgoing: Mutex::new(Outgoing {
                reserved_tail: 0,
                published_tail: 0,
                last_slot: None,
                known_head: None,
                unfinished: 0,
                sent_packets: 0,
                sent_bytes: 0,
                copied_bytes: 0,
            }),
            incoming_map,
            outgoing_map,
            incoming_event,
            outgoing_event,
            space_event,
            space_waiters: Mutex::new(SpaceWaiters::default()),
            counters: Mutex::new(SpaceCounters::default()),
            _incoming_memory: incoming_memory,
            _outgoing_memory: outgoing_memory,
            backend: Some(backend),
        })
    }

    /// The negotiated ring version.
    pub fn version(&self) -> RingVersion {
        self.version
    }

    /// Why v2 was asked for and v1 is used, if so.
    pub fn fallback_reason(&self) -> Option<FallbackReason> {
        self.fallback
    }

    /// The registration as the driver accepted it.
    pub fn config(&self) -> &RingConfig {
        &self.config
    }

    /// Whether the session carries offload metadata (asked for and granted).
    pub fn offloads(&self) -> bool {
        self.extensions.offload
    }

    /// Whether the driver signals freed outgoing space (asked for and granted); without it,
    /// [`Session::wait_for_send_space`] re-checks the ring on a timer.
    pub fn write_space_signal(&self) -> bool {
        self.extensions.write_space
    }

    /// The most head and tail room an outgoing packet may use (without the offload metadata
    /// block, which is not the caller's room).
    pub fn outgoing_room(&self) -> Room {
        let room = self.outgoing_ring.geometry().room();
        match self.extensions.offload {
            // The registration validator made sure the head room holds the block.
            true => Room::new(room.headroom.saturating_sub(OFFLOAD_META_SIZE as u16), room.tailroom),
            false => room,
        }
    }

    /// Bytes in front of a packet's data that are not the caller's room: the packet header, and
    /// the offload metadata block when offloads are on.
    fn slot_prefix(&self, ring: &Ring) -> u32 {
        let meta = if self.extensions.offload { OFFLOAD_META_SIZE } else { 0 };
        ring.geometry().packet_header_size().wrapping_add(meta)
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        // Present until drop.
        match &self.backend {
            Some(b) => b,
            None => unreachable_backend(),
        }
    }

    /// The event the driver signals when incoming packets arrive (v1: every publish; v2: while
    /// [`Session::receive_wait`] sleeps).
    pub fn read_wait_event(&self) -> &B::Event {
        &self.incoming_event
    }

    /// The event the client signals after publishing outgoing packets while the driver sleeps
    /// (for diagnostics and tests; [`Session::send`] signals it as the protocol requires).
    pub fn outgoing_event(&self) -> &B::Event {
        &self.outgoing_event
    }

    /// The incoming ring (for diagnostics and tests).
    pub fn incoming_ring(&self) -> &Ring {
        &self.incoming_ring
    }

    /// The outgoing ring (for diagnostics and tests).
    pub fn outgoing_ring(&self) -> &Ring {
        &self.outgoing_ring
    }

    /// What the session moved so far.
    pub fn counters(&self) -> SessionCounters {
        let (sent_packets, sent_bytes, copied_bytes) = {
            let out = lock(&self.outgoing);
            (out.sent_packets, out.sent_bytes, out.copied_bytes)
        };
        let (received_packets, received_bytes) = {
            let inc = lock(&self.incoming);
            (inc.received_packets, inc.received_bytes)
        };
        let space = *lock(&self.counters);
        SessionCounters {
            sent_packets,
            sent_bytes,
            received_packets,
            received_bytes,
            copied_bytes,
            outgoing_ring_full: space.outgoing_ring_full,
            space_waits: space.space_waits,
            space_found: space.space_found,
            space_timeouts: space.space_timeouts,
            space_signals: space.space_signals,
        }
    }

    // ----- outgoing: allocate / fill / send -------------------------------------------------

    /// Allocates an outgoing slot for `len` bytes of IP packet with `headroom` bytes before and at
    /// least `tailroom` after (v2; v1 takes 0/0).
    pub fn allocate(&self, len: usize, headroom: u16, tailroom: u16) -> Result<OutgoingSlot<'_, B>, Error> {
        let mut out = lock(&self.outgoing);
        self.refresh_head_locked(&mut out)?;
        let slot = self.allocate_locked(&mut out, len, headroom, tailroom);
        drop(out);
        self.count_full(&slot);
        slot
    }

    /// An allocation refused: counted if for lack of room ([`Session::count_full`]), out of the
    /// way of the raw paths' instructions.
    #[cold]
    #[inline(never)]
    fn refused(&self, e: Error) -> Error {
        let refused: Result<(), Error> = Err(e);
        self.count_full(&refused);
        e
    }

    /// Counts an allocation refused for lack of room.
    fn count_full<T>(&self, result: &Result<T, Error>) {
        if matches!(result, Err(Error::RingFull)) {
            let mut counters = lock(&self.counters);
            counters.outgoing_ring_full = counters.outgoing_ring_full.saturating_add(1);
        }
    }

    /// [`Session::allocate`], waiting up to `timeout` for room when the ring is full
    /// ([`Session::wait_for_send_space`]). [`Error::RingFull`] once the time is up.
    pub fn allocate_wait(
        &self,
        len: usize,
        headroom: u16,
        tailroom: u16,
        timeout: Duration,
    ) -> Result<OutgoingSlot<'_, B>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let attempt = {
                let mut out = lock(&self.outgoing);
                self.refresh_head_locked(&mut out)?;
                self.allocate_locked(&mut out, len, headroom, tailroom)
            };
            match attempt {
                Err(Error::RingFull) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if !self.wait_for_send_space(len, headroom, tailroom, remaining)? {
                        let full = Err(Error::RingFull);
                        self.count_full(&full);
                        return full;
                    }
                }
                other => return other,
            }
        }
    }

    /// Waits up to `timeout` until an allocation of `len` bytes with this room fits in the
    /// outgoing ring: `Ok(true)` when it does (nothing is reserved: allocate next; another
    /// thread of this client may have taken the room meanwhile), `Ok(false)` on timeout,
    /// [`Error::SessionEnded`] once the driver ended the session.
    ///
    /// With the write-space signal ([`Session::write_space_signal`]) the caller sleeps on the
    /// write-space event with the ring's `space_waiting` set: store `space_waiting = 1`, full
    /// fence, re-read `head`, sleep only if the room is still short (the driver stores `head`,
    /// fences, and sets the event when it sees `space_waiting`). Without it, the ring is
    /// re-checked every millisecond. Never a busy loop.
    pub fn wait_for_send_space(
        &self,
        len: usize,
        headroom: u16,
        tailroom: u16,
        timeout: Duration,
    ) -> Result<bool, Error> {
        let slot_size = self.outgoing_slot_size(len, headroom, tailroom)?;
        let head = self.outgoing_ring.load_head();
        if head == RING_STOPPED {
            return Err(Error::SessionEnded);
        }
        if self.fits(head, slot_size) {
            return Ok(true);
        }
        self.bump(|c| &mut c.space_waits);
        let deadline = Instant::now() + timeout;
        let signalled = self.extensions.write_space;
        if signalled {
            lock(&self.space_waiters).count += 1;
        }
        let result = loop {
            let head =
                if signalled { self.outgoing_ring.prepare_to_wait_for_space() } else { self.outgoing_ring.load_head() };
            if head == RING_STOPPED {
                break Err(Error::SessionEnded);
            }
            if self.fits(head, slot_size) {
                self.bump(|c| &mut c.space_found);
                break Ok(true);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                self.bump(|c| &mut c.space_timeouts);
                break Ok(false);
            }
            match (&self.space_event, signalled) {
                (Some(event), true) => {
                    if event.wait(Some(remaining)) {
                        self.bump(|c| &mut c.space_signals);
                    }
                }
                _ => std::thread::sleep(remaining.min(SPACE_RECHECK)),
            }
        };
        if signalled {
            let mut waiters = lock(&self.space_waiters);
            waiters.count = waiters.count.saturating_sub(1);
            if waiters.count == 0 {
                self.outgoing_ring.store_space_waiting(false);
            } else if let Some(event) = &self.space_event {
                // The event is auto-reset and woke only this thread: pass it on.
                event.set();
            }
        }
        result
    }

    fn bump(&self, counter: impl FnOnce(&mut SpaceCounters) -> &mut u64) {
        let mut counters = lock(&self.counters);
        let c = counter(&mut counters);
        *c = c.saturating_add(1);
    }

    /// The slot an allocation of `len` bytes with this room takes.
    fn outgoing_slot_size(&self, len: usize, headroom: u16, tailroom: u16) -> Result<u32, Error> {
        let geometry = self.outgoing_ring.geometry();
        let len32 =
            u32::try_from(len).ok().filter(|&l| l != 0 && l <= MAX_IP_PACKET_SIZE).ok_or(Error::Oversize(len))?;
        let room = Room::new(headroom, tailroom);
        let unsupported = Error::RoomUnsupported { requested: room, available: self.outgoing_room() };
        let slot_room = registered_room(room, self.extensions.offload).ok_or(unsupported)?;
        geometry.slot_size(len32, slot_room).ok_or(unsupported)
    }

    /// Whether a slot of `slot_size` fits at the reserved tail against `head`.
    fn fits(&self, head: u32, slot_size: u32) -> bool {
        let out = lock(&self.outgoing);
        self.outgoing_ring.geometry().plan_reservation(head, out.reserved_tail, slot_size).is_ok()
    }

    /// Allocates one outgoing slot per length in `lens`, in order, under one lock (a batch costs
    /// what one [`Session::allocate`] does, plus the slots), appending them to `slots`. Stops at
    /// the first length that cannot be allocated: returns how many were, or that error if none
    /// was.
    pub fn allocate_many<'s>(
        &'s self,
        lens: &[usize],
        headroom: u16,
        tailroom: u16,
        slots: &mut Vec<OutgoingSlot<'s, B>>,
    ) -> Result<usize, Error> {
        let mut out = lock(&self.outgoing);
        self.refresh_head_locked(&mut out)?;
        for (n, &len) in lens.iter().enumerate() {
            match self.allocate_locked(&mut out, len, headroom, tailroom) {
                Ok(slot) => slots.push(slot),
                Err(e) => {
                    drop(out);
                    let refused: Result<(), Error> = Err(e);
                    self.count_full(&refused);
                    return if n == 0 { Err(e) } else { Ok(n) };
                }
            }
        }
        Ok(lens.len())
    }

    /// Reads the driver's `head` once per allocating call: a call after the session ended fails
    /// with [`Error::SessionEnded`] whatever the known head says. The value is not checked here:
    /// `plan_reservation` checks it before any use, and a bad one is read again there.
    fn refresh_head_locked(&self, out: &mut Outgoing) -> Result<(), Error> {
        let head = self.outgoing_ring.load_head();
        if head == RING_STOPPED {
            return Err(Error::SessionEnded);
        }
        out.known_head = Some(head);
        Ok(())
    }

    fn allocate_locked(
        &self,
        out: &mut Outgoing,
        len: usize,
        headroom: u16,
        tailroom: u16,
    ) -> Result<OutgoingSlot<'_, B>, Error> {
        let (offset, slot_size, data_offset, data_length) = self.reserve_locked(out, len, headroom, tailroom)?;
        Ok(OutgoingSlot {
            session: self,
            offset,
            slot_size,
            data_offset,
            data_length,
            meta: OffloadMeta::NONE,
            sent: false,
        })
    }

    /// Reserves an outgoing slot and writes its owned header: (offset, slot size, data offset,
    /// data length).
    fn reserve_locked(
        &self,
        out: &mut Outgoing,
        len: usize,
        headroom: u16,
        tailroom: u16,
    ) -> Result<(u32, u32, u32, u32), Error> {
        let geometry = *self.outgoing_ring.geometry();
        let len32 =
            u32::try_from(len).ok().filter(|&l| l != 0 && l <= MAX_IP_PACKET_SIZE).ok_or(Error::Oversize(len))?;
        let room = Room::new(headroom, tailroom);
        let unsupported = Error::RoomUnsupported { requested: room, available: self.outgoing_room() };
        let slot_room = registered_room(room, self.extensions.offload).ok_or(unsupported)?;
        let slot_size = geometry.slot_size(len32, slot_room).ok_or(unsupported)?;
        let data_offset = self.slot_prefix(&self.outgoing_ring) + u32::from(headroom);
        let known = out.known_head.map(|head| geometry.plan_reservation(head, out.reserved_tail, slot_size));
        let planned = match known {
            Some(Ok(plan)) => Ok(plan),
            Some(Err(_)) | None => {
                let head = self.outgoing_ring.load_head();
                if head == RING_STOPPED {
                    return Err(Error::SessionEnded);
                }
                let plan = geometry.plan_reservation(head, out.reserved_tail, slot_size);
                if !matches!(plan, Err(ReserveError::Corrupt(_))) {
                    out.known_head = Some(head);
                }
                plan
            }
        };
        let plan = match planned {
            Ok(plan) => plan,
            Err(ReserveError::Full { .. }) => return Err(Error::RingFull),
            Err(ReserveError::Corrupt(fault)) => return Err(Error::CorruptRing(fault)),
            Err(ReserveError::BadSize(_)) => return Err(Error::Oversize(len)),
        };
        let owned = match geometry.version() {
            RingVersion::V1 => PacketHeader::V1 { size: len32 | CLIENT_OWNED_BIT },
            RingVersion::V2 => PacketHeader::V2 {
                slot_size: slot_size | CLIENT_OWNED_BIT,
                data_offset: data_offset as u16,
                data_length: len32 as u16,
            },
        };
        self.outgoing_ring.write_packet_header(plan.offset, owned).map_err(|_| Error::InvalidRange)?;
        if self.extensions.offload {
            // The ring's bytes are those of an earlier lap: a slot starts as a plain packet.
            self.outgoing_ring.write_offload_meta(plan.offset, &OffloadMeta::NONE).map_err(|_| Error::InvalidRange)?;
        }
        out.reserved_tail = plan.next_tail;
        out.last_slot = Some(plan.offset);
        out.unfinished = out.unfinished.saturating_add(1);
        Ok((plan.offset, slot_size, data_offset, len32))
    }

    /// Publishes a filled slot. Slots sent out of order are held back until every earlier slot
    /// is sent (or dropped), then published together.
    pub fn send(&self, mut slot: OutgoingSlot<'_, B>) -> Result<(), Error> {
        slot.sent = true;
        // Through the slot's own session (a slot of another session is sent there, not here).
        slot.session.finish_outgoing(slot.offset, slot.slot_size, slot.data_offset, slot.data_length, true)
    }

    /// Sends every slot in `slots` (draining it) under one lock, with one publication of the tail
    /// and at most one signal for the whole batch. Same ordering rules as [`Session::send`].
    pub fn send_many<'s>(&self, slots: &mut Vec<OutgoingSlot<'s, B>>) -> Result<(), Error> {
        // Slots of another session are sent through it once this session's lock is released
        // (taking two sessions' locks at once could deadlock against a caller doing the reverse).
        let mut foreign: Vec<OutgoingSlot<'s, B>> = Vec::new();
        let mut out = lock(&self.outgoing);
        let mut result = Ok(());
        for mut slot in slots.drain(..) {
            if !core::ptr::eq(slot.session, self) {
                foreign.push(slot);
                continue;
            }
            slot.sent = true;
            let written = self.write_outgoing_locked(
                &mut out,
                slot.offset,
                slot.slot_size,
                slot.data_offset,
                slot.data_length,
                true,
            );
            if result.is_ok() {
                result = written;
            }
        }
        let published = self.publish_outgoing_locked(&mut out);
        drop(out);
        let mut result = result.and(published);
        for slot in foreign {
            let session = slot.session;
            let sent = session.send(slot);
            if result.is_ok() {
                result = sent;
            }
        }
        result
    }

    fn finish_outgoing(
        &self,
        offset: u32,
        slot_size: u32,
        data_offset: u32,
        data_length: u32,
        sent: bool,
    ) -> Result<(), Error> {
        let mut out = lock(&self.outgoing);
        self.write_outgoing_locked(&mut out, offset, slot_size, data_offset, data_length, sent)?;
        self.publish_outgoing_locked(&mut out)
    }

    /// Writes a slot's final (not owned) header; `sent` counts it as a sent packet (a cancelled
    /// slot is not).
    fn write_outgoing_locked(
        &self,
        out: &mut Outgoing,
        offset: u32,
        slot_size: u32,
        data_offset: u32,
        data_length: u32,
        sent: bool,
    ) -> Result<(), Error> {
        let header = match self.version {
            RingVersion::V1 => PacketHeader::V1 { size: data_length },
            RingVersion::V2 => {
                PacketHeader::V2 { slot_size, data_offset: data_offset as u16, data_length: data_length as u16 }
            }
        };
        self.outgoing_ring.write_packet_header(offset, header).map_err(|_| Error::InvalidRange)?;
        Self::finished_locked(out, offset, data_length, sent);
        Ok(())
    }

    /// The bookkeeping of a slot whose final header is written.
    #[inline]
    fn finished_locked(out: &mut Outgoing, offset: u32, data_length: u32, sent: bool) {
        if out.last_slot == Some(offset) {
            out.last_slot = None;
        }
        out.unfinished = out.unfinished.saturating_sub(1);
        if sent {
            out.sent_packets += 1;
            out.sent_bytes += u64::from(data_length);
        }
    }

    /// Publishes every leading slot that is no longer owned, and signals the driver if it sleeps.
    fn publish_outgoing_locked(&self, out: &mut Outgoing) -> Result<(), Error> {
        let ring = &self.outgoing_ring;
        // The headers are re-read from shared memory, so each size is checked to stay within what
        // was reserved: a scribbled header stops the walk instead of sending it around the ring.
        let tail = if out.unfinished == 0 {
            out.reserved_tail
        } else {
            walk_slots(ring, out.published_tail, out.reserved_tail, false)
        };
        if tail != out.published_tail {
            out.published_tail = tail;
            if ring.publish_tail(tail) {
                self.outgoing_event.set();
            }
        }
        if ring.load_head() == RING_STOPPED {
            return Err(Error::SessionEnded);
        }
        Ok(())
    }

    fn cancel_last_v1(&self, offset: u32) -> bool {
        let mut out = lock(&self.outgoing);
        if out.last_slot == Some(offset) {
            out.reserved_tail = offset;
            out.last_slot = None;
            out.unfinished = out.unfinished.saturating_sub(1);
            true
        } else {
            false
        }
    }

    // ----- raw slots: a caller across an FFI boundary ------------------------------------------

    /// The slot whose byte `in_slot` (counted from the slot's first header byte) `ptr` points
    /// at, in the outgoing ring; `None` for a pointer outside its data area. The result still has
    /// to be a slot the caller holds: [`Session::send_raw`] checks.
    pub fn outgoing_slot_at(&self, ptr: *const u8, in_slot: u32) -> Option<u32> {
        self.outgoing_map.slot_at(&self.outgoing_ring, ptr, in_slot)
    }

    /// The same for the incoming ring ([`Session::release_raw`] checks the result).
    pub fn incoming_slot_at(&self, ptr: *const u8, in_slot: u32) -> Option<u32> {
        self.incoming_map.slot_at(&self.incoming_ring, ptr, in_slot)
    }

    /// [`Session::allocate`], detached at once: the slot as a [`RawSlot`].
    #[inline]
    pub fn allocate_raw(&self, len: usize, headroom: u16, tailroom: u16) -> Result<RawSlot, Error> {
        let mut out = lock(&self.outgoing);
        self.refresh_head_locked(&mut out)?;
        let (offset, slot_size, data_offset, data_length) =
            self.reserve_locked(&mut out, len, headroom, tailroom).map_err(|e| self.refused(e))?;
        Ok(self.outgoing_map.outgoing(&self.outgoing_ring, offset, slot_size, data_offset, data_length))
    }

    /// [`Session::allocate_raw`] of a packet of `len` bytes without room, for a caller that needs
    /// only where the packet goes (Wintun's `WintunAllocateSendPacket`): its first byte. The slot
    /// is handed back by that pointer ([`Session::send_raw_at`]).
    #[inline(always)]
    pub fn allocate_data_raw(&self, len: usize) -> Result<*mut u8, Error> {
        let mut out = lock(&self.outgoing);
        self.refresh_head_locked(&mut out)?;
        let (offset, _, data_offset, _) = self.reserve_locked(&mut out, len, 0, 0).map_err(|e| self.refused(e))?;
        drop(out);
        // The packet lies inside its reserved slot.
        Ok(self.outgoing_map.ptr(&self.outgoing_ring, offset.wrapping_add(data_offset)))
    }

    /// Allocates up to `count` outgoing slots of `len` bytes with `headroom` and `tailroom` under
    /// one lock, handing each to `each` detached ([`RawSlot`]); returns how many (stopping at the
    /// first that does not fit), or the error if none could be allocated.
    pub fn allocate_raw_many(
        &self,
        count: usize,
        len: usize,
        headroom: u16,
        tailroom: u16,
        mut each: impl FnMut(RawSlot),
    ) -> Result<usize, Error> {
        let mut out = lock(&self.outgoing);
        self.refresh_head_locked(&mut out)?;
        for n in 0..count {
            match self.reserve_locked(&mut out, len, headroom, tailroom) {
                Ok((offset, slot_size, data_offset, data_length)) => {
                    each(self.outgoing_map.outgoing(&self.outgoing_ring, offset, slot_size, data_offset, data_length));
                }
                Err(e) => {
                    let e = self.refused(e);
                    return if n == 0 { Err(e) } else { Ok(n) };
                }
            }
        }
        Ok(count)
    }

    /// Sends the outgoing slot at `slot` (from [`OutgoingSlot::into_raw`]), with its data set to
    /// `data` of its frame first if given (as [`OutgoingSlot::set_data`] does). One lock, one
    /// publication. On error the slot stays the caller's, unchanged.
    #[inline]
    pub fn send_raw(&self, slot: u32, data: Option<Range<usize>>) -> Result<(), Error> {
        let mut out = lock(&self.outgoing);
        self.send_raw_locked(&mut out, slot, data)?;
        self.publish_outgoing_locked(&mut out)
    }

    /// Sends the allocated packet whose byte `in_slot` `ptr` points at (as
    /// [`Session::outgoing_slot_at`] maps it; Wintun's `WintunSendPacket` hands back the pointer
    /// [`Session::allocate_data_raw`] gave), as it is: [`Session::send_raw`] of that slot without
    /// a new range, with the same checks, in one call.
    #[inline(always)]
    pub fn send_raw_at(&self, ptr: *const u8, in_slot: u32) -> Result<(), Error> {
        // One copy of the checks per ring version, each with the version's sizes as constants.
        match self.version {
            RingVersion::V1 => self.send_raw_at_as(RingVersion::V1, ptr, in_slot),
            RingVersion::V2 => self.send_raw_at_as(RingVersion::V2, ptr, in_slot),
        }
    }

    #[inline(always)]
    fn send_raw_at_as(&self, version: RingVersion, ptr: *const u8, in_slot: u32) -> Result<(), Error> {
        let ring = &self.outgoing_ring;
        let slot = self.outgoing_map.slot_at(ring, ptr, in_slot).ok_or(Error::UnknownSlot)?;
        let mut out = lock(&self.outgoing);
        let (slot_size, _, data_length) =
            held_outgoing(ring, version, self.outgoing_map.prefix, &out, slot).ok_or(Error::UnknownSlot)?;
        // The owned header holds the data as it is: clearing the owned bit finishes the slot.
        let word = match version {
            RingVersion::V1 => data_length,
            RingVersion::V2 => slot_size,
        };
        ring.memory()
            .store_u32(header_word(version, slot), word, Ordering::Relaxed)
            .map_err(|_| Error::InvalidRange)?;
        Self::finished_locked(&mut out, slot, data_length, true);
        self.publish_outgoing_locked(&mut out)
    }

    /// Sends raw slots in order under one lock with one publication; stops at the first that
    /// cannot be sent (it and the later ones stay the caller's).
    pub fn send_raw_many(&self, items: impl IntoIterator<Item = (u32, Option<Range<usize>>)>) -> BatchOutcome {
        let mut out = lock(&self.outgoing);
        let mut outcome = BatchOutcome { done: 0, error: None };
        for (slot, data) in items {
            if let Err(e) = self.send_raw_locked(&mut out, slot, data) {
                outcome.error = Some(e);
                break;
            }
            outcome.done += 1;
        }
        if let Err(e) = self.publish_outgoing_locked(&mut out) {
            outcome.error.get_or_insert(e);
        }
        outcome
    }

    #[inline]
    fn send_raw_locked(&self, out: &mut Outgoing, slot: u32, data: Option<Range<usize>>) -> Result<(), Error> {
        let (slot_size, data_offset, data_length) = self.held_outgoing_locked(out, slot)?;
        let h = self.slot_prefix(&self.outgoing_ring);
        let unchanged = data
            .as_ref()
            .is_none_or(|range| range.start == (data_offset - h) as usize && range.len() == data_length as usize);
        if unchanged {
            // The owned header holds the data as it is: clearing the owned bit finishes the slot.
            let word = match self.version {
                RingVersion::V1 => data_length,
                RingVersion::V2 => slot_size,
            };
            self.outgoing_ring.write_slot_word(slot, word).map_err(|_| Error::InvalidRange)?;
            Self::finished_locked(out, slot, data_length, true);
            return Ok(());
        }
        let range = data.unwrap_or(0..0);
        let (slot_size, data_offset, data_length) = self.resized_locked(out, slot, slot_size, data_length, range)?;
        self.write_outgoing_locked(out, slot, slot_size, data_offset, data_length, true)
    }

    /// Cancels the outgoing slot at `slot`, as dropping an unsent [`OutgoingSlot`] does.
    pub fn cancel_raw(&self, slot: u32) -> Result<(), Error> {
        let (slot_size, data_offset, data_length) = self.held_outgoing_locked(&lock(&self.outgoing), slot)?;
        drop(OutgoingSlot {
            session: self,
            offset: slot,
            slot_size,
            data_offset,
            data_length,
            meta: OffloadMeta::NONE,
            sent: false,
        });
        Ok(())
    }

    /// Sets the offload metadata of the outgoing slot at `slot` (a [`RawSlot::slot`] the caller
    /// holds), as [`OutgoingSlot::set_offload`] does: offload sessions only
    /// ([`Error::OffloadsNotNegotiated`]); a slot starts as a plain packet. The driver validates
    /// the block against the packet when it reads the slot.
    pub fn set_outgoing_offload_raw(&self, slot: u32, meta: OffloadMeta) -> Result<(), Error> {
        let out = lock(&self.outgoing);
        self.held_outgoing_locked(&out, slot)?;
        if !self.extensions.offload {
            return Err(Error::OffloadsNotNegotiated);
        }
        self.outgoing_ring.write_offload_meta(slot, &meta).map_err(|_| Error::InvalidRange)
    }

    /// The offload metadata of the outgoing slot at `slot` (a [`RawSlot::slot`] the caller
    /// holds): what was last set, [`OffloadMeta::NONE`] without offloads.
    pub fn outgoing_offload_raw(&self, slot: u32) -> Result<OffloadMeta, Error> {
        let out = lock(&self.outgoing);
        self.held_outgoing_locked(&out, slot)?;
        Ok(if self.extensions.offload { self.outgoing_ring.read_offload_meta(slot) } else { OffloadMeta::NONE })
    }

    /// The offload metadata of the incoming packet at `slot` (a [`RawSlot::slot`] the caller
    /// holds), read once, as [`IncomingPacket::offload`] gives it: [`OffloadMeta::NONE`] without
    /// offloads (or for a slot whose data starts inside the block).
    pub fn incoming_offload_raw(&self, slot: u32) -> Result<OffloadMeta, Error> {
        let slot = self.incoming_slot(slot).ok_or(Error::UnknownSlot)?;
        // Held under the lock: the slot cannot be released (and rewritten by the driver) meanwhile.
        let inc = lock(&self.incoming);
        held_incoming(&self.incoming_ring, self.version, &inc, slot).ok_or(Error::UnknownSlot)?;
        if !self.extensions.offload {
            return Ok(OffloadMeta::NONE);
        }
        let data_offset = match self.incoming_ring.read_packet_header(slot) {
            PacketHeader::V2 { data_offset, .. } => u32::from(data_offset),
            PacketHeader::V1 { .. } => 0,
        };
        Ok(if data_offset >= ring_abi::OFFLOAD_MIN_DATA_OFFSET {
            self.incoming_ring.read_offload_meta(slot)
        } else {
            OffloadMeta::NONE
        })
    }

    /// The (slot size, data offset, data length) of the outgoing slot at `slot`, if it is one the
    /// caller holds (see [`held_outgoing`]).
    #[inline]
    fn held_outgoing_locked(&self, out: &Outgoing, slot: u32) -> Result<(u32, u32, u32), Error> {
        let ring = &self.outgoing_ring;
        if slot >= ring.geometry().capacity() {
            return Err(Error::UnknownSlot);
        }
        held_outgoing(ring, self.version, self.outgoing_map.prefix, out, slot).ok_or(Error::UnknownSlot)
    }

    /// (slot size, data offset, data length) of the slot at `slot` once its data is `range` of
    /// its frame (see [`OutgoingSlot::set_data`]).
    fn resized_locked(
        &self,
        out: &mut Outgoing,
        slot: u32,
        slot_size: u32,
        data_length: u32,
        range: Range<usize>,
    ) -> Result<(u32, u32, u32), Error> {
        match self.version {
            RingVersion::V2 => self.resized_v2(slot_size, range),
            RingVersion::V1 => self.resized_v1_locked(out, slot, data_length, range),
        }
    }

    /// The frame's start and length for `range` of a frame of `frame` bytes, if the range is a
    /// non-empty IP packet inside it.
    fn frame_range(range: Range<usize>, frame: u32) -> Result<(u32, u32), Error> {
        if range.start >= range.end || range.end > frame as usize || range.len() > MAX_IP_PACKET_SIZE as usize {
            return Err(Error::InvalidRange);
        }
        // Both fit: the range ends inside the frame, which is below 2^17.
        Ok((range.start as u32, range.len() as u32))
    }

    /// v2: the data moves and shrinks in place, in any slot.
    fn resized_v2(&self, slot_size: u32, range: Range<usize>) -> Result<(u32, u32, u32), Error> {
        // The frame begins after the header and, with offloads, the metadata block.
        let h = self.slot_prefix(&self.outgoing_ring);
        let (start, len) = Self::frame_range(range, slot_size.saturating_sub(h))?;
        if h + start > u32::from(u16::MAX) {
            return Err(Error::InvalidRange);
        }
        Ok((slot_size, h + start, len))
    }

    /// v1 has no data offset and its slot size follows the length: only the last allocated slot
    /// can be cut (its end is the reserved tail), and data that does not start at 0 is moved to
    /// the start (a copy, counted).
    fn resized_v1_locked(
        &self,
        out: &mut Outgoing,
        slot: u32,
        data_length: u32,
        range: Range<usize>,
    ) -> Result<(u32, u32, u32), Error> {
        let geometry = *self.outgoing_ring.geometry();
        let h = geometry.packet_header_size();
        let old_slot = ring_abi::v1_slot_size(data_length).ok_or(Error::InvalidRange)?;
        let (start, len) = Self::frame_range(range, old_slot - h)?;
        if len > data_length {
            return Err(Error::InvalidRange);
        }
        let new_slot = ring_abi::v1_slot_size(len).ok_or(Error::InvalidRange)?;
        let resized = new_slot != old_slot;
        if resized && (out.last_slot != Some(slot) || geometry.advance(slot, old_slot) != out.reserved_tail) {
            return Err(Error::ShrinkNotLast);
        }
        if start != 0 {
            let ring = &self.outgoing_ring;
            let to = ring.ring_offset_of(slot + h, len as usize).map_err(|_| Error::InvalidRange)?;
            let from = ring.ring_offset_of(slot + h + start, len as usize).map_err(|_| Error::InvalidRange)?;
            ring.memory().copy_within(from, to, len as usize).map_err(|_| Error::InvalidRange)?;
            out.copied_bytes += u64::from(len);
        }
        if resized {
            out.reserved_tail = geometry.advance(slot, new_slot);
        }
        // Keep the owned header in step with the length.
        self.outgoing_ring
            .write_packet_header(slot, PacketHeader::V1 { size: len | CLIENT_OWNED_BIT })
            .map_err(|_| Error::InvalidRange)?;
        Ok((new_slot, h, len))
    }

    /// [`Session::receive`], detached at once: the packet as a [`RawSlot`].
    #[inline]
    pub fn receive_raw(&self) -> Result<Option<RawSlot>, Error> {
        let mut inc = lock(&self.incoming);
        Ok(self.next_incoming_locked(&mut inc)?.map(|view| self.incoming_map.incoming(&self.incoming_ring, view)))
    }

    /// [`Session::receive_raw`] for a caller that needs only the IP packet (Wintun's
    /// `WintunReceivePacket`): its first byte and its length. The packet is handed back by that
    /// pointer ([`Session::release_raw_at`]).
    #[inline(always)]
    pub fn receive_data_raw(&self) -> Result<Option<(*mut u8, u32)>, Error> {
        let mut inc = lock(&self.incoming);
        let view = self.next_incoming_locked(&mut inc)?;
        drop(inc);
        Ok(view.map(|view| {
            // The packet lies inside its validated slot (`data_offset` within it).
            let offset = view.slot_offset.wrapping_add(view.data_offset);
            (self.incoming_map.ptr(&self.incoming_ring, offset), view.data_length)
        }))
    }

    /// Receives up to `max` incoming packets under one lock, handing each to `each` detached
    /// ([`RawSlot`]); returns how many.
    pub fn receive_raw_many(&self, max: usize, mut each: impl FnMut(RawSlot)) -> Result<usize, Error> {
        let ring = &self.incoming_ring;
        let mut inc = lock(&self.incoming);
        let tail = ring.load_tail();
        if tail == RING_STOPPED {
            return Err(self.session_ended_incoming());
        }
        let mut n = 0;
        while n < max {
            let view = match ring.packet_at(inc.cursor, tail) {
                Ok(None) => break,
                Ok(Some(view)) => view,
                Err(fault) if n == 0 => return Err(Error::CorruptRing(fault)),
                Err(_) => break,
            };
            inc.cursor = ring.geometry().advance(inc.cursor, view.slot_size);
            if view.data_length == 0 {
                self.release_locked(&mut inc, view);
                continue;
            }
            inc.received_packets += 1;
            inc.received_bytes += u64::from(view.data_length);
            each(self.incoming_map.incoming(ring, view));
            n += 1;
        }
        Ok(n)
    }

    /// Releases the incoming packet at `slot` (from [`IncomingPacket::into_raw`]).
    #[inline]
    pub fn release_raw(&self, slot: u32) -> Result<(), Error> {
        let slot = self.incoming_slot(slot).ok_or(Error::UnknownSlot)?;
        let mut inc = lock(&self.incoming);
        let slot_size = held_incoming(&self.incoming_ring, self.version, &inc, slot).ok_or(Error::UnknownSlot)?;
        self.release_slot_locked(&mut inc, slot, slot_size);
        Ok(())
    }

    /// Releases the incoming packet whose byte `in_slot` `ptr` points at (as
    /// [`Session::incoming_slot_at`] maps it; Wintun's `WintunReleaseReceivePacket` hands back the
    /// pointer [`Session::receive_data_raw`] gave): [`Session::release_raw`] of that slot, with
    /// the same checks, in one call.
    #[inline(always)]
    pub fn release_raw_at(&self, ptr: *const u8, in_slot: u32) -> Result<(), Error> {
        // One copy of the checks per ring version, each with the version's sizes as constants.
        match self.version {
            RingVersion::V1 => self.release_raw_at_as(RingVersion::V1, ptr, in_slot),
            RingVersion::V2 => self.release_raw_at_as(RingVersion::V2, ptr, in_slot),
        }
    }

    #[inline(always)]
    fn release_raw_at_as(&self, version: RingVersion, ptr: *const u8, in_slot: u32) -> Result<(), Error> {
        let slot = self.incoming_slot_at(ptr, in_slot).ok_or(Error::UnknownSlot)?;
        let mut inc = lock(&self.incoming);
        let slot_size = held_incoming(&self.incoming_ring, version, &inc, slot).ok_or(Error::UnknownSlot)?;
        self.release_slot_locked(&mut inc, slot, slot_size);
        Ok(())
    }

    /// `slot` if it is below the incoming ring's capacity (every slot starts there).
    #[inline]
    fn incoming_slot(&self, slot: u32) -> Option<u32> {
        (slot < self.incoming_ring.geometry().capacity()).then_some(slot)
    }

    /// Releases incoming packets under one lock with one store of the head. Every packet the
    /// caller holds is released; the outcome counts them up to the first slot that is not one
    /// (which is skipped, as are any later ones that are not).
    pub fn release_raw_many(&self, slots: impl IntoIterator<Item = u32>) -> BatchOutcome {
        let mut inc = lock(&self.incoming);
        let published = inc.head;
        let mut count = BatchCount::default();
        for slot in slots {
            count.add(
                self.release_one_of_many_locked(self.version, &mut inc, self.incoming_slot(slot)),
                Error::UnknownSlot,
            );
        }
        self.finish_release_many_locked(&mut inc, published);
        count.outcome()
    }

    /// [`Session::release_raw_many`] for packets named by a pointer `in_slot` bytes into their
    /// slot (as [`Session::incoming_slot_at`] maps them).
    pub fn release_raw_many_at(&self, ptrs: impl IntoIterator<Item = *const u8>, in_slot: u32) -> BatchOutcome {
        // One copy of the loop per ring version, each with the version's sizes as constants.
        match self.version {
            RingVersion::V1 => self.release_raw_many_at_as(RingVersion::V1, ptrs, in_slot),
            RingVersion::V2 => self.release_raw_many_at_as(RingVersion::V2, ptrs, in_slot),
        }
    }

    #[inline(always)]
    fn release_raw_many_at_as(
        &self,
        version: RingVersion,
        ptrs: impl IntoIterator<Item = *const u8>,
        in_slot: u32,
    ) -> BatchOutcome {
        let ring = &self.incoming_ring;
        let map = self.incoming_map;
        let mut inc = lock(&self.incoming);
        let published = inc.head;
        let mut count = BatchCount::default();
        for ptr in ptrs {
            count.add(
                self.release_one_of_many_locked(version, &mut inc, map.slot_at(ring, ptr, in_slot)),
                Error::UnknownSlot,
            );
        }
        self.finish_release_many_locked(&mut inc, published);
        count.outcome()
    }

    /// One release of a batch: the head moves past a packet released in order (stored once, for
    /// the whole batch, by `finish_release_many_locked`), a packet released out of order is marked.
    /// `false`: not a packet the caller holds.
    #[inline(always)]
    fn release_one_of_many_locked(&self, version: RingVersion, inc: &mut Incoming, slot: Option<u32>) -> bool {
        let ring = &self.incoming_ring;
        let Some((slot, slot_size)) = slot.and_then(|slot| Some((slot, held_incoming(ring, version, inc, slot)?)))
        else {
            return false;
        };
        if slot == inc.head {
            inc.head = ring.geometry().advance(inc.head, slot_size);
        } else {
            self.mark_released(slot);
        }
        true
    }

    #[inline]
    fn finish_release_many_locked(&self, inc: &mut Incoming, published: u32) {
        let ring = &self.incoming_ring;
        let head = walk_slots(ring, inc.head, inc.cursor, true);
        inc.head = head;
        if head != published {
            ring.store_head(head);
        }
    }

    // ----- incoming: receive / release -------------------------------------------------------

    /// The next incoming packet, if one is there.
    pub fn receive(&self) -> Result<Option<IncomingPacket<'_, B>>, Error> {
        let mut inc = lock(&self.incoming);
        Ok(self.next_incoming_locked(&mut inc)?.map(|view| {
            let meta = self.incoming_meta(&view);
            IncomingPacket { session: self, view, meta, released: false }
        }))
    }

    /// The next incoming packet's view, moving the cursor past it. Always inlined: the raw
    /// receive's result then stays in registers.
    #[inline(always)]
    fn next_incoming_locked(&self, inc: &mut Incoming) -> Result<Option<PacketView>, Error> {
        let ring = &self.incoming_ring;
        loop {
            let tail = ring.load_tail();
            if tail == RING_STOPPED {
                return Err(self.session_ended_incoming());
            }
            // A tail among the packets this client holds moved backwards: corrupt.
            ring.geometry().check_consumer_tail(inc.head, inc.cursor, tail).map_err(Error::CorruptRing)?;
            let view = match ring.packet_at(inc.cursor, tail) {
                Ok(None) => return Ok(None),
                Ok(Some(view)) => view,
                Err(fault) => return Err(Error::CorruptRing(fault)),
            };
            inc.cursor = ring.geometry().advance(inc.cursor, view.slot_size);
            // An empty slot (the driver could not read a packet's bytes) is released at once.
            if view.data_length == 0 {
                self.release_locked(inc, view);
                continue;
            }
            inc.received_packets += 1;
            inc.received_bytes += u64::from(view.data_length);
            return Ok(Some(view));
        }
    }

    /// The offload metadata of an incoming slot, read once (offload sessions; the block of a
    /// slot whose data starts inside it reads as plain, as the driver never writes one).
    fn incoming_meta(&self, view: &PacketView) -> OffloadMeta {
        if self.extensions.offload && view.data_offset >= ring_abi::OFFLOAD_MIN_DATA_OFFSET {
            self.incoming_ring.read_offload_meta(view.slot_offset)
        } else {
            OffloadMeta::NONE
        }
    }

    /// The end of the session, seen on the incoming ring: the read-wait event is signalled again
    /// before the end is reported. The driver signals it once when the session ends, and an
    /// auto-reset event wakes one waiter per signal; each waiter that learns of the end here
    /// passes the signal on, so every thread waiting on the event wakes in turn (also when the
    /// waits are the application's own, on the event's handle) and sees the end.
    #[cold]
    fn session_ended_incoming(&self) -> Error {
        self.incoming_event.set();
        Error::SessionEnded
    }

    /// Appends up to `max` incoming packets to `packets` under one lock; returns how many.
    pub fn receive_many<'s>(&'s self, packets: &mut Vec<IncomingPacket<'s, B>>, max: usize) -> Result<usize, Error> {
        let ring = &self.incoming_ring;
        let mut inc = lock(&self.incoming);
        let tail = ring.load_tail();
        if tail == RING_STOPPED {
            drop(inc);
            return Err(self.session_ended_incoming());
        }
        // A tail among the packets this client holds moved backwards: corrupt.
        ring.geometry().check_consumer_tail(inc.head, inc.cursor, tail).map_err(Error::CorruptRing)?;
        let mut n = 0;
        while n < max {
            let view = match ring.packet_at(inc.cursor, tail) {
                Ok(None) => break,
                Ok(Some(view)) => view,
                Err(fault) if n == 0 => return Err(Error::CorruptRing(fault)),
                // The packets before the fault are good; the fault is reported by the next call.
                Err(_) => break,
            };
            inc.cursor = ring.geometry().advance(inc.cursor, view.slot_size);
            if view.data_length == 0 {
                self.release_locked(&mut inc, view);
                continue;
            }
            inc.received_packets += 1;
            inc.received_bytes += u64::from(view.data_length);
            let meta = self.incoming_meta(&view);
            packets.push(IncomingPacket { session: self, view, meta, released: false });
            n += 1;
        }
        Ok(n)
    }

    /// Releases every packet in `packets` (draining it) under one lock, with one store of the
    /// head for the whole batch. Same as releasing each, in any order.
    pub fn release_many<'s>(&self, packets: &mut Vec<IncomingPacket<'s, B>>) {
        let ring = &self.incoming_ring;
        // Packets of another session are released through it (by drop) once this session's lock
        // is released.
        let mut foreign: Vec<IncomingPacket<'s, B>> = Vec::new();
        let mut inc = lock(&self.incoming);
        let published = inc.head;
        for mut packet in packets.drain(..) {
            if !core::ptr::eq(packet.session, self) {
                foreign.push(packet);
                continue;
            }
            packet.released = true;
            let view = packet.view;
            if view.slot_offset == inc.head {
                inc.head = ring.geometry().advance(inc.head, view.slot_size);
            } else {
                self.mark_released(view.slot_offset);
            }
        }
        let head = walk_slots(ring, inc.head, inc.cursor, true);
        inc.head = head;
        if head != published {
            ring.store_head(head);
        }
        drop(inc);
        drop(foreign);
    }

    /// Waits up to `timeout` for an incoming packet: spins briefly, then (v2) declares itself
    /// alertable with the full-fence handshake and sleeps on the read-wait event.
    pub fn receive_wait(&self, timeout: Duration) -> Result<Option<IncomingPacket<'_, B>>, Error> {
        // A packet already there costs no clock read.
        if let Some(p) = self.receive()? {
            return Ok(Some(p));
        }
        let deadline = Instant::now() + timeout;
        loop {
            // Spin on the shared tail (no lock) for up to the consumer spin budget before sleeping,
            // yielding the CPU at each step: with few CPUs, a busy spin keeps the thread that
            // will send the next packet off the CPU for the whole budget.
            let cursor = lock(&self.incoming).cursor;
            let spin_start = Instant::now();
            while self.incoming_ring.load_tail() == cursor
                && spin_start.elapsed() < Duration::from_nanos(ring_abi::CONSUMER_SPIN_NS)
            {
                std::thread::yield_now();
            }
            if let Some(p) = self.receive()? {
                return Ok(Some(p));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let remaining = deadline - now;
            match self.version {
                RingVersion::V1 => {
                    self.incoming_event.wait(Some(remaining));
                }
                RingVersion::V2 => {
                    let cursor = lock(&self.incoming).cursor;
                    if let SleepCheck::Sleep = self.incoming_ring.prepare_to_sleep(cursor) {
                        self.incoming_event.wait(Some(remaining));
                        self.incoming_ring.store_alertable(false);
                    }
                }
            }
        }
    }

    /// For a caller that waits on the read-wait event itself (the Wintun API's pattern: receive
    /// until nothing is there, then wait on the event's handle): makes sure the driver signals the
    /// event when the next packet arrives. v1: the driver signals every publish, nothing to do.
    /// v2: declares the client alertable with the full-fence handshake; returns `false` if a
    /// packet arrived meanwhile (receive it instead of waiting). The declaration is not withdrawn
    /// (the library does not see the caller wake), so from then on the driver signals every
    /// publish, as it does on v1.
    pub fn arm_read_wait(&self) -> bool {
        match self.version {
            RingVersion::V1 => true,
            RingVersion::V2 => {
                let cursor = lock(&self.incoming).cursor;
                matches!(self.incoming_ring.prepare_to_sleep(cursor), SleepCheck::Sleep)
            }
        }
    }

    /// Marks a slot released out of order: bit 31 set in its header (the driver never sets it).
    fn mark_released(&self, slot: u32) {
        let ring = &self.incoming_ring;
        let marked = match ring.read_packet_header(slot) {
            PacketHeader::V1 { size } => PacketHeader::V1 { size: size | CLIENT_OWNED_BIT },
            PacketHeader::V2 { slot_size, data_offset, data_length } => {
                PacketHeader::V2 { slot_size: slot_size | CLIENT_OWNED_BIT, data_offset, data_length }
            }
        };
        let _ = ring.write_packet_header(slot, marked);
    }

    fn release(&self, view: PacketView) {
        let mut inc = lock(&self.incoming);
        self.release_locked(&mut inc, view);
    }

    fn release_locked(&self, inc: &mut Incoming, view: PacketView) {
        self.release_slot_locked(inc, view.slot_offset, view.slot_size);
    }

    #[inline]
    fn release_slot_locked(&self, inc: &mut Incoming, slot: u32, slot_size: u32) {
        let ring = &self.incoming_ring;
        if slot == inc.head {
            // Released in order (the common case): the head moves past this slot (its size was
            // validated when it was received) and past any later slots already released out of
            // order; no mark needs writing.
            let next = ring.geometry().advance(inc.head, slot_size);
            let head = walk_slots(ring, next, inc.cursor, true);
            inc.head = head;
            ring.store_head(head);
            return;
        }
        self.mark_released(slot);
        let head = walk_slots(ring, inc.head, inc.cursor, true);
        if head != inc.head {
            inc.head = head;
            ring.store_head(head);
        }
    }
}

/// Bytes from `slot` to `cursor` in a ring of `capacity` bytes (a power of two) if `slot` lies in
/// the window `[head, cursor)` the client holds, else 0. All three are below the capacity. A slot
/// in the window is at most the window's length before the cursor and at least a byte; a slot
/// outside it (in the rest of the ring, `[cursor, head)`) is more than the window's length before
/// it, or is the cursor itself.
#[inline(always)]
const fn held_room(capacity: u32, head: u32, cursor: u32, slot: u32) -> u32 {
    let mask = capacity.wrapping_sub(1);
    let room = cursor.wrapping_sub(slot) & mask;
    if room <= cursor.wrapping_sub(head) & mask {
        room
    } else {
        0
    }
}

/// The slot size of the incoming packet at `slot` (below the capacity) if the client holds it:
/// on a slot boundary in the window `[head, cursor)` between the released head and the receive
/// cursor, not released already (a slot released out of order has its header marked), its size
/// within the window. The header was validated when the packet was received and the driver does
/// not write it while the client holds the slot; its size is bounded again all the same, so a
/// bad `slot` can neither move the head past the cursor nor touch memory outside what was
/// received. One read of shared memory: the header's first word (the mark and the size). `None`
/// is [`Error::UnknownSlot`].
///
/// `version` is the ring's; callers that match on it pass a constant, so that the version's
/// alignment and header sizes fold into the code.
#[inline(always)]
fn held_incoming(ring: &Ring, version: RingVersion, inc: &Incoming, slot: u32) -> Option<u32> {
    debug_assert!(version == ring.geometry().version() && slot < ring.geometry().capacity());
    let room = held_room(ring.geometry().capacity(), inc.head, inc.cursor, slot);
    if room == 0 || !slot.is_multiple_of(version.alignment()) {
        return None;
    }
    let word = ring.memory().load_u32(header_word(version, slot), Ordering::Relaxed).unwrap_or(u32::MAX);
    if word & CLIENT_OWNED_BIT != 0 {
        return None;
    }
    let slot_size = match version {
        RingVersion::V1 => ring_abi::v1_slot_size(word)?,
        RingVersion::V2 => word,
    };
    // Aligned and not 0 is at least a header (the alignment is the header's size or more).
    if slot_size == 0 || !slot_size.is_multiple_of(version.alignment()) || slot_size > room {
        return None;
    }
    Some(slot_size)
}

/// Where in a ring of `version` (a constant where the caller matched on it) the header of the slot
/// at data-area offset `slot` starts: its first word (v1 `size`, v2 `slot_size`). What
/// `Ring::read_slot_word` reads, with the version's data start folded in.
#[inline(always)]
fn header_word(version: RingVersion, slot: u32) -> usize {
    (version.ring_header_size() as usize).saturating_add(slot as usize)
}

/// The (slot size, data offset, data length) of the outgoing slot at `slot` (below the capacity)
/// if the client holds it: on a slot boundary in the window `[published tail, reserved tail)` of
/// slots allocated and not yet published, still marked owned, its header consistent with the
/// window (the size within it, the data inside the slot and not empty). The header was written by
/// the session when the slot was allocated, but the caller can write over it; a bad `slot` or
/// header can neither move the tail past what was reserved nor publish a slot twice. `None` is
/// [`Error::UnknownSlot`].
///
/// `version` is the ring's; callers that match on it pass a constant. `prefix` is what comes before
/// any data: the header and, with offloads, the metadata block.
#[inline(always)]
fn held_outgoing(ring: &Ring, version: RingVersion, prefix: u32, out: &Outgoing, slot: u32) -> Option<(u32, u32, u32)> {
    debug_assert!(version == ring.geometry().version() && slot < ring.geometry().capacity());
    let room = held_room(ring.geometry().capacity(), out.published_tail, out.reserved_tail, slot);
    if room == 0 || !slot.is_multiple_of(version.alignment()) {
        return None;
    }
    let at = header_word(version, slot);
    let word = ring.memory().load_u32(at, Ordering::Relaxed).unwrap_or(0);
    if word & CLIENT_OWNED_BIT == 0 {
        return None;
    }
    let word = word & !CLIENT_OWNED_BIT;
    let h = version.packet_header_size();
    let (slot_size, data_offset, data_length) = match version {
        RingVersion::V1 => (ring_abi::v1_slot_size(word)?, h, word),
        RingVersion::V2 => {
            let second = ring
                .memory()
                .load_u32(at.saturating_add(ring_abi::v2::PACKET_DATA_WORD_OFFSET), Ordering::Relaxed)
                .ok()?;
            (word, second & 0xFFFF, second >> 16)
        }
    };
    if slot_size > room
        || !slot_size.is_multiple_of(version.alignment())
        || data_offset < prefix
        || data_offset + data_length > slot_size
        || data_length == 0
    {
        return None;
    }
    Some((slot_size, data_offset, data_length))
}

/// Walks from `from` towards `until` over the leading run of slots whose client-owned bit is
/// `marked` (set: released incoming slots; clear: sent outgoing slots) and returns where the run
/// ends. The headers are re-read from shared memory, so each size must stay within the range: a
/// scribbled header ends the walk instead of sending it around the ring.
fn walk_slots(ring: &Ring, from: u32, until: u32, marked: bool) -> u32 {
    let geometry = *ring.geometry();
    let mut at = from;
    while at != until {
        let (word, size_of) = match ring.read_packet_header(at) {
            PacketHeader::V1 { size } => (size, ring_abi::v1_slot_size(size & !CLIENT_OWNED_BIT)),
            PacketHeader::V2 { slot_size, .. } => (slot_size, Some(slot_size & !CLIENT_OWNED_BIT)),
        };
        let size = size_of
            .filter(|_| (word & CLIENT_OWNED_BIT != 0) == marked)
            .filter(|&s| plausible_slot(&geometry, s, geometry.content(at, until)));
        match size {
            Some(size) => at = geometry.advance(at, size),
            None => break,
        }
    }
    at
}

/// Whether `size` can be the size of a slot that starts `room` bytes before the end of the
/// client's own range: aligned, at least a header, at most the ring's largest slot and `room`.
fn plausible_slot(geometry: &RingGeometry, size: u32, room: u32) -> bool {
    size >= geometry.packet_header_size()
        && size.is_multiple_of(geometry.alignment())
        && size <= geometry.max_slot()
        && size <= room
}

/// A ring's data area as the raw (FFI) calls see it, computed once per session: a slot becomes
/// pointers by additions, and a pointer handed back becomes a slot offset by one subtraction and
/// one compare.
#[derive(Clone, Copy, Debug)]
struct RawMap {
    /// The address of the data area's first byte (the ring's memory does not move).
    base: usize,
    /// Where the data area starts in the ring's memory.
    data_start: u32,
    /// Bytes of a slot before its frame: the packet header and, with offloads, the metadata
    /// block.
    prefix: u32,
}

impl RawMap {
    fn of(ring: &Ring, extensions: Extensions) -> Self {
        let geometry = ring.geometry();
        let data_start = geometry.data_start();
        let meta = if extensions.offload { OFFLOAD_META_SIZE } else { 0 };
        Self {
            base: (ring.memory().as_ptr() as usize).wrapping_add(data_start as usize),
            data_start,
            prefix: geometry.packet_header_size().wrapping_add(meta),
        }
    }

    /// Address of the data area's byte `offset` (no bounds: the caller's offsets are in range).
    #[inline(always)]
    fn ptr(self, ring: &Ring, offset: u32) -> *mut u8 {
        ring.memory().as_ptr().wrapping_add(self.data_start as usize).wrapping_add(offset as usize)
    }

    /// The slot whose byte `in_slot` `ptr` points at: an offset below the capacity (where every
    /// slot starts), or `None`.
    #[inline(always)]
    fn slot_at(self, ring: &Ring, ptr: *const u8, in_slot: u32) -> Option<u32> {
        let offset = (ptr as usize).wrapping_sub(self.base).wrapping_sub(in_slot as usize);
        if offset < ring.geometry().capacity() as usize {
            Some(offset as u32)
        } else {
            None
        }
    }

    /// A slot as a [`RawSlot`]: its frame begins after the prefix. Its bytes lie inside the data
    /// area: the slot was reserved (outgoing) or validated (incoming) against the ring's
    /// geometry, and a slot never wraps. Its data starts after the prefix (outgoing: checked;
    /// incoming: the driver's exact head room holds the metadata block). An incoming slot whose
    /// data starts inside the block (a driver never writes one) gets its frame from the data's
    /// start, so that the frame still ends at the slot's end and holds the whole packet.
    #[inline(always)]
    fn raw(self, ring: &Ring, slot: u32, slot_size: u32, data_offset: u32, data_length: u32) -> RawSlot {
        let frame_at = self.prefix.min(data_offset);
        RawSlot {
            slot,
            frame: self.ptr(ring, slot.wrapping_add(frame_at)),
            frame_len: slot_size.saturating_sub(frame_at),
            data_start: data_offset.wrapping_sub(frame_at),
            data_len: data_length,
        }
    }

    /// A received packet as a [`RawSlot`].
    #[inline(always)]
    fn incoming(self, ring: &Ring, view: PacketView) -> RawSlot {
        self.raw(ring, view.slot_offset, view.slot_size, view.data_offset, view.data_length)
    }

    /// An allocated slot as a [`RawSlot`]; a v1 slot's frame is its packet and alignment padding.
    #[inline(always)]
    fn outgoing(self, ring: &Ring, slot: u32, slot_size: u32, data_offset: u32, data_length: u32) -> RawSlot {
        let slot_size = match ring.geometry().version() {
            RingVersion::V2 => slot_size,
            RingVersion::V1 => ring_abi::v1_slot_size(data_length).unwrap_or(slot_size),
        };
        self.raw(ring, slot, slot_size, data_offset, data_length)
    }
}

/// The bytes `[start, start + len)` of a ring's data area, for a slot the caller owns.
///
/// The `&mut self` of the caller (an `OutgoingSlot` or `IncomingPacket`) bounds the slice's life.
fn owned_slot_bytes<'s>(_owner: &'s mut impl Sized, ring: &Ring, start: u32, len: u32) -> &'s mut [u8] {
    match ring.data_ptr(start, len as usize) {
        // SAFETY: the range lies inside the ring's data area (checked by `data_ptr`) and belongs to
        // a slot this client owns exclusively until it is published or released: the driver reads
        // outgoing slots only below the published tail and writes incoming slots only at or beyond
        // the released head, and the session hands each slot to exactly one `OutgoingSlot` /
        // `IncomingPacket`, whose `&mut self` borrow (`_owner`) makes the slice unique for `'s`.
        // The ring memory outlives the session, which outlives the slot.
        Ok(ptr) => unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), len as usize) },
        Err(_) => &mut [],
    }
}

/// Shared view of bytes of a slot the client owns, borrowed from its owner (see [`owned_slot_bytes`]).
fn owned_slot_bytes_shared<'s>(_owner: &'s impl Sized, ring: &Ring, start: u32, len: u32) -> &'s [u8] {
    match ring.data_ptr(start, len as usize) {
        // SAFETY: as in `owned_slot_bytes`: the range is inside the data area and the slot belongs
        // to `_owner` exclusively; `&'s` on the owner excludes the owner's `&mut` accessors for
        // `'s`, so no mutable view of these bytes exists while this one does.
        Ok(ptr) => unsafe { core::slice::from_raw_parts(ptr.as_ptr(), len as usize) },
        Err(_) => &[],
    }
}

#[cold]
fn unreachable_backend() -> ! {
    // The backend is only taken in `Drop`.
    std::process::abort()
}

/// An allocated outgoing slot, owned by the caller until sent. Dropping it unsent cancels it:
/// v2 publishes it as an empty slot the driver skips; v1 publishes a zero-length packet that the
/// driver drops and counts.
pub struct OutgoingSlot<'a, B: Backend> {
    session: &'a Session<B>,
    offset: u32,
    slot_size: u32,
    data_offset: u32,
    data_length: u32,
    /// The offload metadata written into the slot.
    meta: OffloadMeta,
    sent: bool,
}

impl<B: Backend> OutgoingSlot<'_, B> {
    /// Bytes before the caller's head room: the packet header and the offload metadata block.
    fn header_size(&self) -> u32 {
        self.session.slot_prefix(&self.session.outgoing_ring)
    }

    fn bytes(&mut self, start: u32, len: u32) -> &mut [u8] {
        let (session, at) = (self.session, self.offset.wrapping_add(start));
        owned_slot_bytes(self, &session.outgoing_ring, at, len)
    }

    /// The IP packet bytes.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.bytes(self.data_offset, self.data_length)
    }

    /// The bytes between the packet header and the data.
    pub fn headroom_mut(&mut self) -> &mut [u8] {
        let h = self.header_size();
        self.bytes(h, self.data_offset - h)
    }

    /// The bytes after the data, to the end of the slot.
    pub fn tailroom_mut(&mut self) -> &mut [u8] {
        let end = self.data_offset + self.data_length;
        self.bytes(end, self.slot_size_bytes() - end)
    }

    /// Everything after the packet header: head room, data, tail room (for decrypting a whole
    /// record into the slot before choosing the data range).
    pub fn frame_mut(&mut self) -> &mut [u8] {
        let h = self.header_size();
        self.bytes(h, self.slot_size_bytes() - h)
    }

    fn slot_size_bytes(&self) -> u32 {
        match self.session.version {
            RingVersion::V2 => self.slot_size,
            RingVersion::V1 => ring_abi::v1_slot_size(self.data_length).unwrap_or(self.slot_size),
        }
    }

    /// Length of the IP packet now.
    pub fn len(&self) -> usize {
        self.data_length as usize
    }

    /// Whether the data is empty (never, for an allocated slot).
    pub fn is_empty(&self) -> bool {
        self.data_length == 0
    }

    /// Head room in front of the data now.
    pub fn headroom(&self) -> usize {
        (self.data_offset - self.header_size()) as usize
    }

    /// Sets the IP packet to `range` of [`Self::frame_mut`]. v2: moves its start and cuts its
    /// end in place, in any slot. v1 (no data offset): cuts the end of the last allocated slot
    /// only ([`Error::ShrinkNotLast`] otherwise), and a range that does not start at 0 is moved
    /// to the start: a copy, counted in [`SessionCounters::copied_bytes`].
    pub fn set_data(&mut self, range: Range<usize>) -> Result<(), Error> {
        let session = self.session;
        let (slot_size, data_offset, data_length) = match session.version {
            RingVersion::V2 => session.resized_v2(self.slot_size, range)?,
            RingVersion::V1 => {
                session.resized_v1_locked(&mut lock(&session.outgoing), self.offset, self.data_length, range)?
            }
        };
        self.slot_size = slot_size;
        self.data_offset = data_offset;
        self.data_length = data_length;
        Ok(())
    }

    /// Sets the slot's offload metadata (offload sessions only; a slot starts as a plain packet,
    /// [`OffloadMeta::NONE`]). A super-packet may be up to 0xFFFF bytes; the driver validates the
    /// metadata against the packet when it reads the slot and drops (and counts) a packet whose
    /// metadata does not fit it ([`Self::offload_plan`] applies the same rules now).
    pub fn set_offload(&mut self, meta: OffloadMeta) -> Result<(), Error> {
        if !self.session.extensions.offload {
            return Err(Error::OffloadsNotNegotiated);
        }
        self.session.outgoing_ring.write_offload_meta(self.offset, &meta).map_err(|_| Error::InvalidRange)?;
        self.meta = meta;
        Ok(())
    }

    /// The metadata last set with [`Self::set_offload`].
    pub fn offload(&self) -> OffloadMeta {
        self.meta
    }

    /// Validates the metadata against the packet's headers as they are now, with the rules the
    /// driver applies ([`OffloadMeta::validate`]).
    pub fn offload_plan(&mut self) -> Result<Option<OffloadPlan>, OffloadError> {
        let meta = self.meta;
        let len = self.data_length;
        let data = self.data_mut();
        let headers = data.get(..data.len().min(MAX_OFFLOAD_HEADER)).unwrap_or(&[]);
        meta.validate(headers, len)
    }

    /// Cuts the IP packet to its first `len` bytes. v2: any slot; v1: only the last allocated.
    pub fn shrink(&mut self, len: usize) -> Result<(), Error> {
        if len == 0 || len > self.data_length as usize {
            return Err(Error::InvalidRange);
        }
        let start = (self.data_offset - self.header_size()) as usize;
        self.set_data(start..start + len)
    }

    /// Detaches the slot from its borrow (for a caller across an FFI boundary): the caller then
    /// owns its bytes until it hands it back by [`RawSlot::slot`] to [`Session::send_raw`] or
    /// [`Session::cancel_raw`]. A slot detached and never handed back holds the ring's tail.
    pub fn into_raw(self) -> RawSlot {
        let this = core::mem::ManuallyDrop::new(self);
        let ring = &this.session.outgoing_ring;
        if this.session.version == RingVersion::V2 {
            // The owned header records the data as it is now, for `send_raw` to find.
            let _ = ring.write_packet_header(
                this.offset,
                PacketHeader::V2 {
                    slot_size: this.slot_size | CLIENT_OWNED_BIT,
                    data_offset: this.data_offset as u16,
                    data_length: this.data_length as u16,
                },
            );
        }
        this.session.outgoing_map.outgoing(ring, this.offset, this.slot_size, this.data_offset, this.data_length)
    }
}

impl<B: Backend> Drop for OutgoingSlot<'_, B> {
    fn drop(&mut self) {
        if self.sent {
            return;
        }
        match self.session.version {
            // An empty v2 slot is skipped by the driver.
            RingVersion::V2 => {
                let _ = self.session.finish_outgoing(self.offset, self.slot_size, self.data_offset, 0, false);
            }
            // v1 has no empty slot: the last allocation is taken back; any other is published
            // with a zero first byte, which the driver drops (and counts) as not IP.
            RingVersion::V1 => {
                if self.session.cancel_last_v1(self.offset) {
                    return;
                }
                if let Some(first) = self.data_mut().first_mut() {
                    *first = 0;
                }
                let _ = self.session.finish_outgoing(
                    self.offset,
                    self.slot_size,
                    self.data_offset,
                    self.data_length,
                    false,
                );
            }
        }
    }
}

/// An incoming packet, in place in the ring until released (explicitly or by drop).
pub struct IncomingPacket<'a, B: Backend> {
    session: &'a Session<B>,
    view: PacketView,
    /// The slot's offload metadata, read once when the packet was received.
    meta: OffloadMeta,
    released: bool,
}

impl<B: Backend> IncomingPacket<'_, B> {
    fn bytes(&mut self, start: u32, len: u32) -> &mut [u8] {
        let (session, at) = (self.session, self.view.slot_offset.wrapping_add(start));
        owned_slot_bytes(self, &session.incoming_ring, at, len)
    }

    /// Bytes before the head room: the packet header and the offload metadata block.
    fn header_size(&self) -> u32 {
        self.session.slot_prefix(&self.session.incoming_ring)
    }

    /// The packet's offload metadata as the driver wrote it ([`OffloadMeta::NONE`] without
    /// offloads): a super-packet of up to 0xFFFF bytes to cut into `gso_size` segments, a checksum
    /// to complete (`NEEDS_CSUM`), or a plain packet.
    pub fn offload(&self) -> OffloadMeta {
        self.meta
    }

    /// Validates the metadata against the packet's headers ([`OffloadMeta::validate`]):
    /// `Ok(None)` for a plain packet.
    pub fn offload_plan(&self) -> Result<Option<OffloadPlan>, OffloadError> {
        let data = self.data();
        let headers = data.get(..data.len().min(MAX_OFFLOAD_HEADER)).unwrap_or(&[]);
        self.meta.validate(headers, self.view.data_length)
    }

    /// Segment `index` of the packet as `plan` ([`Self::offload_plan`]) cuts it: writes the
    /// segment's IP and TCP/UDP header (lengths, IPv4 identification and checksum, TCP sequence
    /// and flags, the L4 checksum over the payload) into `header` and returns its length with
    /// the segment's payload, in place in the ring. `header` + payload is one IP packet. `None`
    /// past the last segment.
    pub fn segment<'p>(
        &'p self,
        plan: &OffloadPlan,
        index: u16,
        header: &mut [u8; MAX_OFFLOAD_HEADER],
    ) -> Option<(usize, &'p [u8])> {
        let data = self.data();
        let spec = plan.segment_payload(index)?;
        let start = usize::try_from(spec.payload_offset).ok()?;
        let payload = data.get(start..start.checked_add(usize::try_from(spec.payload_len).ok()?)?)?;
        plan.segment_header(data, index, checksum::sum(payload), header)?;
        Some((usize::from(plan.header_len), payload))
    }

    /// The IP packet.
    pub fn data(&self) -> &[u8] {
        let at = self.view.slot_offset.wrapping_add(self.view.data_offset);
        owned_slot_bytes_shared(self, &self.session.incoming_ring, at, self.view.data_length)
    }

    /// The IP packet, writable (encrypt in place).
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.bytes(self.view.data_offset, self.view.data_length)
    }

    /// The head room in front of the packet (v2: exactly the negotiated head room).
    pub fn headroom_mut(&mut self) -> &mut [u8] {
        let h = self.header_size();
        self.bytes(h, self.view.data_offset - h)
    }

    /// The tail room after the packet (v2: at least the negotiated tail room).
    pub fn tailroom_mut(&mut self) -> &mut [u8] {
        let end = self.view.data_offset + self.view.data_length;
        self.bytes(end, self.view.slot_size - end)
    }

    /// Head room, packet and tail room as one span (hand `[header..data..trailer]` to a socket).
    pub fn frame_mut(&mut self) -> &mut [u8] {
        let h = self.header_size();
        self.bytes(h, self.view.slot_size - h)
    }

    /// Length of the IP packet.
    pub fn len(&self) -> usize {
        self.view.data_length as usize
    }

    /// Whether the packet is empty (never).
    pub fn is_empty(&self) -> bool {
        self.view.data_length == 0
    }

    /// Where the packet sits in the ring.
    pub fn view(&self) -> PacketView {
        self.view
    }

    /// Detaches the packet from its borrow (for a caller across an FFI boundary): the caller then
    /// owns its slot until it hands it back by [`RawSlot::slot`] to [`Session::release_raw`]. A
    /// packet detached and never handed back holds the ring's head.
    pub fn into_raw(self) -> RawSlot {
        let this = core::mem::ManuallyDrop::new(self);
        this.session.incoming_map.incoming(&this.session.incoming_ring, this.view)
    }

    /// Gives the slot back to the driver (same as dropping the packet).
    pub fn release(mut self) {
        self.released = true;
        self.session.release(self.view);
    }
}

impl<B: Backend> Drop for IncomingPacket<'_, B> {
    fn drop(&mut self) {
        if !self.released {
            self.session.release(self.view);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{held_room, Extensions, RawMap};
    use ring_abi::{Ring, RingGeometry, RingVersion, Room, SharedRing, OFFLOAD_META_SIZE};

    /// A raw slot's frame and data lie inside the slot for every data offset a validated incoming
    /// header can have, also one inside the metadata block (which a driver never writes): the
    /// frame then starts at the data, and otherwise after the header and the block.
    #[test]
    fn raw_slots_stay_inside_their_slot_whatever_the_data_offset() {
        let geometry = RingGeometry::v2(0x20000, Room::new(64, 16)).unwrap();
        let mut memory = vec![0u64; geometry.ring_size() as usize / 8];
        // SAFETY: `memory` is 8-byte aligned, `ring_size` bytes long, and outlives `ring`.
        let shared =
            unsafe { SharedRing::new(memory.as_mut_ptr().cast(), geometry.ring_size() as usize, RingVersion::V2) }
                .unwrap();
        let ring = Ring::new(shared, geometry).unwrap();
        let map = RawMap::of(&ring, Extensions { offload: true, write_space: false });
        let prefix = geometry.packet_header_size() + OFFLOAD_META_SIZE;
        let (slot, slot_size) = (0x100u32, 256u32);
        let slot_start = map.ptr(&ring, slot) as usize;
        for data_offset in geometry.packet_header_size()..slot_size {
            let data_length = slot_size - data_offset;
            let raw = map.raw(&ring, slot, slot_size, data_offset, data_length);
            let frame = raw.frame as usize;
            assert!(frame >= slot_start + geometry.packet_header_size() as usize, "{data_offset}");
            assert_eq!(frame + raw.frame_len as usize, slot_start + slot_size as usize, "{data_offset}");
            assert_eq!(frame + raw.data_start as usize, slot_start + data_offset as usize, "{data_offset}");
            assert!(raw.data_start + raw.data_len <= raw.frame_len, "{data_offset}");
            if data_offset >= prefix {
                assert_eq!(frame, slot_start + prefix as usize, "{data_offset}");
            }
        }
    }

    /// `held_room` against the window's definition, for every head, cursor and slot of small rings:
    /// a slot in `[head, cursor)` (going round the ring) gets its distance to the cursor, any other
    /// slot 0.
    #[test]
    fn held_room_is_the_distance_to_the_cursor_inside_the_window_only() {
        for capacity in [8u32, 16, 64] {
            for head in 0..capacity {
                for cursor in 0..capacity {
                    let window: Vec<u32> =
                        (0..(cursor + capacity - head) % capacity).map(|i| (head + i) % capacity).collect();
                    for slot in 0..capacity {
                        let want = if window.contains(&slot) { (cursor + capacity - slot) % capacity } else { 0 };
                        assert_eq!(held_room(capacity, head, cursor, slot), want, "{capacity} {head} {cursor} {slot}");
                    }
                }
            }
        }
    }
}
