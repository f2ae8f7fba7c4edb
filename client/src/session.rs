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

use core::ops::Range;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ring_abi::{
    CallerBitness, PacketHeader, PacketView, RegistrationFlags, ReserveError, Ring, RingConfig, RingDesc, RingGeometry,
    RingVersion, Room, SharedRing, SleepCheck, CLIENT_OWNED_BIT, MAX_IP_PACKET_SIZE, RING_STOPPED,
};
use zerocopy::IntoBytes;

use crate::backend::{Backend, ClientEvent, DeviceError, RingMemory};
use crate::error::Error;

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
        }
    }
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
}

struct Incoming {
    /// Next slot to hand out.
    cursor: u32,
    /// Head released to the driver.
    head: u32,
}

/// A registered session.
pub struct Session<B: Backend> {
    version: RingVersion,
    fallback: Option<FallbackReason>,
    config: RingConfig,
    incoming_ring: Ring,
    outgoing_ring: Ring,
    incoming: Mutex<Incoming>,
    outgoing: Mutex<Outgoing>,
    incoming_event: B::Event,
    outgoing_event: B::Event,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Prepared<B: Backend> {
    config: RingConfig,
    incoming: (B::Memory, B::Event),
    outgoing: (B::Memory, B::Event),
}

fn prepare<B: Backend>(backend: &B, version: RingVersion, config: &SessionConfig) -> Result<Prepared<B>, Error> {
    let (incoming_room, outgoing_room, flags) = match version {
        RingVersion::V1 => (Room::NONE, Room::NONE, RegistrationFlags::EMPTY),
        RingVersion::V2 => (
            config.incoming_room,
            config.outgoing_room,
            if config.receive_split { RegistrationFlags::RECEIVE_SPLIT } else { RegistrationFlags::EMPTY },
        ),
    };
    let incoming_geometry = RingGeometry::new(version, config.incoming_capacity, incoming_room)?;
    let outgoing_geometry = RingGeometry::new(version, config.outgoing_capacity, outgoing_room)?;
    let incoming_memory = backend.alloc_ring(incoming_geometry.ring_size() as usize)?;
    let outgoing_memory = backend.alloc_ring(outgoing_geometry.ring_size() as usize)?;
    let incoming_event = backend.create_event()?;
    let outgoing_event = backend.create_event()?;
    let ring_config = RingConfig {
        version,
        flags,
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
        incoming: (incoming_memory, incoming_event),
        outgoing: (outgoing_memory, outgoing_event),
    })
}

fn register<B: Backend>(backend: &B, prepared: &Prepared<B>) -> Result<(), DeviceError> {
    let config = &prepared.config;
    match (config.version, backend.bitness()) {
        (RingVersion::V2, _) => backend.register(config.to_v2().as_bytes()),
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
    pub fn open(backend: B, config: SessionConfig) -> Result<Self, Error> {
        let mut fallback = None;
        if config.version == VersionPreference::PreferV2 {
            match backend.query_capabilities() {
                Ok(caps) if caps.max_version < 2 => fallback = Some(FallbackReason::DriverMaxVersion(caps.max_version)),
                Ok(caps) => {
                    let fits = |room: Room| room.headroom <= caps.max_headroom && room.tailroom <= caps.max_tailroom;
                    let flags_ok =
                        !config.receive_split || caps.supported_flags & RegistrationFlags::RECEIVE_SPLIT.bits() != 0;
                    if fits(config.incoming_room) && fits(config.outgoing_room) && flags_ok {
                        let prepared = prepare(&backend, RingVersion::V2, &config)?;
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
        let prepared = prepare(&backend, RingVersion::V1, &config)?;
        register(&backend, &prepared)?;
        Self::build(backend, prepared, fallback)
    }

    fn build(backend: B, prepared: Prepared<B>, fallback: Option<FallbackReason>) -> Result<Self, Error> {
        let Prepared {
            config,
            incoming: (incoming_memory, incoming_event),
            outgoing: (outgoing_memory, outgoing_event),
        } = prepared;
        let incoming_ring = ring_over(&incoming_memory, config.send.geometry)?;
        let outgoing_ring = ring_over(&outgoing_memory, config.receive.geometry)?;
        Ok(Self {
            version: config.version,
            fallback,
            config,
            incoming_ring,
            outgoing_ring,
            incoming: Mutex::new(Incoming { cursor: 0, head: 0 }),
            outgoing: Mutex::new(Outgoing {
                reserved_tail: 0,
                published_tail: 0,
                last_slot: None,
                known_head: None,
                unfinished: 0,
            }),
            incoming_event,
            outgoing_event,
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

    // ----- outgoing: allocate / fill / send -------------------------------------------------

    /// Allocates an outgoing slot for `len` bytes of IP packet with `headroom` bytes before and at
    /// least `tailroom` after (v2; v1 takes 0/0).
    pub fn allocate(&self, len: usize, headroom: u16, tailroom: u16) -> Result<OutgoingSlot<'_, B>, Error> {
        let mut out = lock(&self.outgoing);
        self.refresh_head_locked(&mut out)?;
        self.allocate_locked(&mut out, len, headroom, tailroom)
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
                Err(e) if n == 0 => return Err(e),
                Err(_) => return Ok(n),
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
        let geometry = *self.outgoing_ring.geometry();
        let len32 =
            u32::try_from(len).ok().filter(|&l| l != 0 && l <= MAX_IP_PACKET_SIZE).ok_or(Error::Oversize(len))?;
        let room = Room::new(headroom, tailroom);
        let slot_size = geometry
            .slot_size(len32, room)
            .ok_or(Error::RoomUnsupported { requested: room, available: geometry.room() })?;
        let header_size = geometry.packet_header_size();
        let data_offset = header_size + u32::from(headroom);
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
        out.reserved_tail = plan.next_tail;
        out.last_slot = Some(plan.offset);
        out.unfinished = out.unfinished.saturating_add(1);
        Ok(OutgoingSlot { session: self, offset: plan.offset, slot_size, data_offset, data_length: len32, sent: false })
    }

    /// Publishes a filled slot. Slots sent out of order are held back until every earlier slot
    /// is sent (or dropped), then published together.
    pub fn send(&self, mut slot: OutgoingSlot<'_, B>) -> Result<(), Error> {
        slot.sent = true;
        // Through the slot's own session (a slot of another session is sent there, not here).
        slot.session.finish_outgoing(slot.offset, slot.slot_size, slot.data_offset, slot.data_length)
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
            let written =
                self.write_outgoing_locked(&mut out, slot.offset, slot.slot_size, slot.data_offset, slot.data_length);
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

    fn finish_outgoing(&self, offset: u32, slot_size: u32, data_offset: u32, data_length: u32) -> Result<(), Error> {
        let mut out = lock(&self.outgoing);
        self.write_outgoing_locked(&mut out, offset, slot_size, data_offset, data_length)?;
        self.publish_outgoing_locked(&mut out)
    }

    /// Writes a slot's final (not owned) header.
    fn write_outgoing_locked(
        &self,
        out: &mut Outgoing,
        offset: u32,
        slot_size: u32,
        data_offset: u32,
        data_length: u32,
    ) -> Result<(), Error> {
        let header = match self.version {
            RingVersion::V1 => PacketHeader::V1 { size: data_length },
            RingVersion::V2 => {
                PacketHeader::V2 { slot_size, data_offset: data_offset as u16, data_length: data_length as u16 }
            }
        };
        self.outgoing_ring.write_packet_header(offset, header).map_err(|_| Error::InvalidRange)?;
        if out.last_slot == Some(offset) {
            out.last_slot = None;
        }
        out.unfinished = out.unfinished.saturating_sub(1);
        Ok(())
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

    fn shrink_last_v1(&self, offset: u32, old_slot: u32, new_slot: u32) -> Result<(), Error> {
        let mut out = lock(&self.outgoing);
        let geometry = *self.outgoing_ring.geometry();
        if out.last_slot != Some(offset) || geometry.advance(offset, old_slot) != out.reserved_tail {
            return Err(Error::ShrinkNotLast);
        }
        out.reserved_tail = geometry.advance(offset, new_slot);
        Ok(())
    }

    // ----- incoming: receive / release -------------------------------------------------------

    /// The next incoming packet, if one is there.
    pub fn receive(&self) -> Result<Option<IncomingPacket<'_, B>>, Error> {
        let ring = &self.incoming_ring;
        let mut inc = lock(&self.incoming);
        loop {
            let tail = ring.load_tail();
            if tail == RING_STOPPED {
                return Err(Error::SessionEnded);
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
                self.release_locked(&mut inc, view);
                continue;
            }
            return Ok(Some(IncomingPacket { session: self, view, released: false }));
        }
    }

    /// Appends up to `max` incoming packets to `packets` under one lock; returns how many.
    pub fn receive_many<'s>(&'s self, packets: &mut Vec<IncomingPacket<'s, B>>, max: usize) -> Result<usize, Error> {
        let ring = &self.incoming_ring;
        let mut inc = lock(&self.incoming);
        let tail = ring.load_tail();
        if tail == RING_STOPPED {
            return Err(Error::SessionEnded);
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
            packets.push(IncomingPacket { session: self, view, released: false });
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
                self.mark_released(view);
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

    /// Marks a slot released out of order: bit 31 set in its header (the driver never sets it).
    fn mark_released(&self, view: PacketView) {
        let ring = &self.incoming_ring;
        let marked = match ring.read_packet_header(view.slot_offset) {
            PacketHeader::V1 { size } => PacketHeader::V1 { size: size | CLIENT_OWNED_BIT },
            PacketHeader::V2 { slot_size, data_offset, data_length } => {
                PacketHeader::V2 { slot_size: slot_size | CLIENT_OWNED_BIT, data_offset, data_length }
            }
        };
        let _ = ring.write_packet_header(view.slot_offset, marked);
    }

    fn release(&self, view: PacketView) {
        let mut inc = lock(&self.incoming);
        self.release_locked(&mut inc, view);
    }

    fn release_locked(&self, inc: &mut Incoming, view: PacketView) {
        let ring = &self.incoming_ring;
        if view.slot_offset == inc.head {
            // Released in order (the common case): the head moves past this slot (its size was
            // validated when it was received) and past any later slots already released out of
            // order; no mark needs writing.
            let next = ring.geometry().advance(inc.head, view.slot_size);
            let head = walk_slots(ring, next, inc.cursor, true);
            inc.head = head;
            ring.store_head(head);
            return;
        }
        self.mark_released(view);
        let head = walk_slots(ring, inc.head, inc.cursor, true);
        if head != inc.head {
            inc.head = head;
            ring.store_head(head);
        }
    }
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
    sent: bool,
}

impl<B: Backend> OutgoingSlot<'_, B> {
    fn header_size(&self) -> u32 {
        self.session.outgoing_ring.geometry().packet_header_size()
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

    /// v2: sets the IP packet to `range` of [`Self::frame_mut`] (move its start, cut its end).
    /// v1: only a range starting at 0 of the last allocated slot (see [`Self::shrink`]).
    pub fn set_data(&mut self, range: Range<usize>) -> Result<(), Error> {
        let h = self.header_size() as usize;
        let frame = (self.slot_size_bytes() as usize).saturating_sub(h);
        if range.start > range.end || range.end > frame || range.is_empty() {
            return Err(Error::InvalidRange);
        }
        match self.session.version {
            RingVersion::V2 => {
                // frame <= max_slot < 2^17 and data length <= 0xFFFF after this check.
                if range.len() > MAX_IP_PACKET_SIZE as usize || h + range.start > u16::MAX as usize {
                    return Err(Error::InvalidRange);
                }
                self.data_offset = (h + range.start) as u32;
                self.data_length = range.len() as u32;
                Ok(())
            }
            RingVersion::V1 => {
                if range.start != 0 {
                    return Err(Error::InvalidRange);
                }
                self.shrink(range.len())
            }
        }
    }

    /// Cuts the IP packet to its first `len` bytes. v2: any slot; v1: only the last allocated.
    pub fn shrink(&mut self, len: usize) -> Result<(), Error> {
        if len == 0 || len > self.data_length as usize {
            return Err(Error::InvalidRange);
        }
        let len = len as u32;
        if self.session.version == RingVersion::V1 {
            let old = ring_abi::v1_slot_size(self.data_length).ok_or(Error::InvalidRange)?;
            let new = ring_abi::v1_slot_size(len).ok_or(Error::InvalidRange)?;
            self.session.shrink_last_v1(self.offset, old, new)?;
            self.slot_size = new;
            // Keep the owned header in step with the shorter slot.
            let _ = self
                .session
                .outgoing_ring
                .write_packet_header(self.offset, PacketHeader::V1 { size: len | CLIENT_OWNED_BIT });
        }
        self.data_length = len;
        Ok(())
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
                let _ = self.session.finish_outgoing(self.offset, self.slot_size, self.data_offset, 0);
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
                let _ = self.session.finish_outgoing(self.offset, self.slot_size, self.data_offset, self.data_length);
            }
        }
    }
}

/// An incoming packet, in place in the ring until released (explicitly or by drop).
pub struct IncomingPacket<'a, B: Backend> {
    session: &'a Session<B>,
    view: PacketView,
    released: bool,
}

impl<B: Backend> IncomingPacket<'_, B> {
    fn bytes(&mut self, start: u32, len: u32) -> &mut [u8] {
        let (session, at) = (self.session, self.view.slot_offset.wrapping_add(start));
        owned_slot_bytes(self, &session.incoming_ring, at, len)
    }

    fn header_size(&self) -> u32 {
        self.session.incoming_ring.geometry().packet_header_size()
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
