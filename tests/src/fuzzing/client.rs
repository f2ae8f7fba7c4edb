//! Target `client_send_ring`: the client library reading a Send ring written by a hostile
//! driver. A stand-in driver (a [`Backend`] that accepts any valid registration) writes honest
//! packets, scribbles anywhere in the ring, and publishes any `tail` (also one moved back onto
//! packets the client holds); the client receives, reads and writes its packets (data, head
//! room, tail room, whole frame), keeps some and releases them in any order, one at a time or
//! several at once (`receive_many`, `release_many`).
//!
//! Promises: every packet handed out is the one the spec's parser finds at the client's cursor
//! (after empty slots, which are skipped), and all its views have the lengths the header
//! promises; a `tail` moved back among the packets the client holds is corrupt, so no packet is
//! handed out twice; a corrupt ring is reported as corrupt, a stopped one as ended; the client
//! writes only its `head`, the headers of slots it was handed and the bytes of the slots it
//! owns, never a byte outside the ring; `head` only ever moves to the end of a slot it was
//! handed; a new session afterwards receives normally.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ring_abi::{
    parse_registration, CallerBitness, Capabilities, PacketHeader, PacketView, Ring, RingFault, RingGeometry,
    RingVersion, Room, IOCTL_QUERY_CAPABILITIES, IOCTL_REGISTER_RINGS, MAX_HEADROOM, MAX_TAILROOM, MIN_RING_CAPACITY,
    RING_STOPPED,
};
use ringtun::backend::{Backend, ClientEvent, DeviceError, RingMemory};
use ringtun::{Error, IncomingPacket, Session, SessionConfig, VersionPreference};

use super::{changed_bytes, Input};

const GUARD: usize = 4096;
const GUARD_BYTE: u8 = 0x5C;
const MAX_ACTIONS: usize = 96;

/// Ring memory with guard bytes on both sides.
pub struct GuardedMemory {
    buffer: Mutex<Vec<u64>>,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the buffer is never resized after creation, so `ptr` stays valid; all access to the
// ring bytes goes through raw pointers (`SharedRing`), the guards are only read.
unsafe impl Send for GuardedMemory {}
// SAFETY: as above.
unsafe impl Sync for GuardedMemory {}

impl GuardedMemory {
    fn new(len: usize) -> Arc<Self> {
        let mut buffer = vec![u64::from_ne_bytes([GUARD_BYTE; 8]); (len + 2 * GUARD).div_ceil(8)];
        let base = buffer.as_mut_ptr().cast::<u8>();
        // SAFETY: the ring range lies inside the buffer (GUARD + len <= its byte length).
        let ptr = unsafe { base.add(GUARD) };
        // SAFETY: as above; the ring starts zeroed.
        unsafe { core::ptr::write_bytes(ptr, 0, len) };
        Arc::new(Self { buffer: Mutex::new(buffer), ptr, len })
    }

    fn guards_intact(&self) -> bool {
        let buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let bytes_len = buffer.len() * 8;
        // SAFETY: reading the buffer's own bytes through its pointer; the guard ranges are never
        // handed to anyone, and the lock keeps the buffer in place.
        let bytes = unsafe { core::slice::from_raw_parts(buffer.as_ptr().cast::<u8>(), bytes_len) };
        bytes[..GUARD].iter().chain(&bytes[GUARD + self.len..]).all(|&b| b == GUARD_BYTE)
    }
}

/// The client's handle on a [`GuardedMemory`].
pub struct FuzzMemory(Arc<GuardedMemory>);

impl RingMemory for FuzzMemory {
    fn as_ptr(&self) -> *mut u8 {
        self.0.ptr
    }

    fn len(&self) -> usize {
        self.0.len
    }
}

/// An event nobody waits on (the target never sleeps).
pub struct FuzzEvent(u64);

impl ClientEvent for FuzzEvent {
    fn handle(&self) -> u64 {
        self.0
    }

    fn set(&self) {}

    fn wait(&self, _timeout: Option<Duration>) -> bool {
        false
    }
}

#[derive(Default)]
struct DriverState {
    memory: Mutex<Vec<Arc<GuardedMemory>>>,
    next_handle: AtomicU64,
}

/// A driver that accepts every valid registration and then lets the target write the rings.
#[derive(Clone, Default)]
pub struct HostileDriver(Arc<DriverState>);

impl HostileDriver {
    fn guards_intact(&self) -> bool {
        self.0.memory.lock().unwrap_or_else(|e| e.into_inner()).iter().all(|m| m.guards_intact())
    }
}

impl Backend for HostileDriver {
    type Event = FuzzEvent;
    type Memory = FuzzMemory;

    fn device_io_control(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, DeviceError> {
        match code {
            IOCTL_QUERY_CAPABILITIES => {
                let bytes = Capabilities::CURRENT.to_bytes();
                output.get_mut(..bytes.len()).ok_or(DeviceError::BufferTooSmall)?.copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            IOCTL_REGISTER_RINGS => {
                parse_registration(input, CallerBitness::Bits64).map_err(|_| DeviceError::InvalidParameter)?;
                Ok(0)
            }
            _ => Err(DeviceError::InvalidDeviceRequest),
        }
    }

    fn alloc_ring(&self, size: usize) -> Result<FuzzMemory, DeviceError> {
        let memory = GuardedMemory::new(size);
        self.0.memory.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::clone(&memory));
        Ok(FuzzMemory(memory))
    }

    fn create_event(&self) -> Result<FuzzEvent, DeviceError> {
        Ok(FuzzEvent(0x100 + 4 * self.0.next_handle.fetch_add(1, Ordering::Relaxed)))
    }

    fn bitness(&self) -> CallerBitness {
        CallerBitness::Bits64
    }
}

struct Run<'a, 's> {
    input: Input<'a>,
    session: &'s Session<HostileDriver>,
    geometry: RingGeometry,
    /// Where the stand-in driver writes its next honest packet.
    driver_tail: u32,
    /// The client's cursor as the spec predicts it.
    cursor: u32,
    /// Slots handed out (including skipped empty ones): where each ends.
    boundaries: HashSet<u32>,
    /// Every data-area byte the client may write (those of handed-out slots).
    owned: Vec<bool>,
    kept: Vec<IncomingPacket<'s, HostileDriver>>,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let (version, incoming_room) = if flags & 1 == 0 {
        (VersionPreference::V1Only, Room::NONE)
    } else {
        (VersionPreference::PreferV2, Room::new(input.u16() % (MAX_HEADROOM + 1), input.u16() % (MAX_TAILROOM + 1)))
    };
    let config = SessionConfig {
        version,
        incoming_capacity: MIN_RING_CAPACITY,
        outgoing_capacity: MIN_RING_CAPACITY,
        incoming_room,
        ..SessionConfig::default()
    };
    let driver = HostileDriver::default();
    let session = Session::open(driver.clone(), config).expect("the stand-in accepts valid registrations");
    let geometry = *session.incoming_ring().geometry();
    let mut run = Run {
        input,
        session: &session,
        geometry,
        driver_tail: 0,
        cursor: 0,
        boundaries: HashSet::from([0]),
        owned: vec![false; geometry.data_area_size() as usize],
        kept: Vec::new(),
    };
    let mut actions = 0;
    while !run.input.is_empty() && actions < MAX_ACTIONS {
        actions += 1;
        match run.input.u8() % 8 {
            0 | 1 => run.honest_packets(),
            2 => run.hostile_tail(),
            3 => run.scribble(),
            4 | 5 => run.receive(),
            6 => run.receive_many(),
            _ => {
                if !run.kept.is_empty() {
                    let pick = run.input.u8();
                    if pick & 1 == 0 {
                        let index = usize::from(pick >> 1) % run.kept.len();
                        let packet = run.kept.swap_remove(index);
                        run.client_writes(|| packet.release());
                    } else {
                        // Several at once, in any order, through one `release_many`.
                        let count = 1 + usize::from(pick >> 1) % run.kept.len();
                        let mut batch = Vec::with_capacity(count);
                        for _ in 0..count {
                            let index = usize::from(run.input.u8()) % run.kept.len();
                            batch.push(run.kept.swap_remove(index));
                        }
                        let session = run.session;
                        run.client_writes(|| session.release_many(&mut batch));
                    }
                }
            }
        }
        assert!(driver.guards_intact(), "bytes written outside a ring");
    }
    let kept = std::mem::take(&mut run.kept);
    run.client_writes(|| drop(kept));
    drop(run);
    drop(session);
    assert!(driver.guards_intact(), "bytes written outside a ring");
    next_session_receives();
}

impl<'s> Run<'_, 's> {
    fn ring(&self) -> &'s Ring {
        self.session.incoming_ring()
    }

    fn image(&self) -> Vec<u8> {
        let mut image = vec![0u8; self.geometry.ring_size() as usize];
        self.ring().memory().read(0, &mut image).expect("the whole ring");
        image
    }

    /// Runs a client action and checks what it wrote: only `head` (to the end of a handed-out
    /// slot) and bytes of handed-out slots.
    fn client_writes<T>(&mut self, action: impl FnOnce() -> T) -> T {
        let before = self.image();
        let result = action();
        let after = self.image();
        let area_start = self.geometry.data_start() as usize;
        let head_word = match self.geometry.version() {
            RingVersion::V1 => ring_abi::v1::HEAD_OFFSET,
            RingVersion::V2 => ring_abi::v2::HEAD_OFFSET,
        };
        for i in changed_bytes(&before, &after) {
            if (head_word..head_word + 4).contains(&i) {
                continue;
            }
            let in_owned = i >= area_start && self.owned.get(i - area_start).copied().unwrap_or(false);
            assert!(in_owned, "the client wrote byte {i:#x}, outside every slot it was handed");
        }
        let head = self.ring().load_head();
        assert!(self.geometry.check_head(head).is_ok(), "the client published head {head:#x}");
        assert!(self.boundaries.contains(&head), "head {head:#x} is not the end of a slot the client was handed");
        result
    }

    /// The slot is the client's now: it may write its bytes (and its header).
    fn own(&mut self, view: &PacketView) {
        let start = view.slot_offset as usize;
        self.owned[start..start + view.slot_size as usize].fill(true);
    }

    fn honest_packets(&mut self) {
        let count = 1 + self.input.u8() % 4;
        for _ in 0..count {
            let len = u32::from(self.input.u16() % 1600) + 1;
            let fill = self.input.u8();
            let room = self.geometry.room();
            let Some(slot) = self.geometry.slot_size(len, room) else { return };
            let head = self.ring().load_head();
            if self.geometry.check_head(head).is_err() || self.geometry.free_space(head, self.driver_tail) < slot {
                break;
            }
            let data_offset = self.geometry.packet_header_size() + u32::from(room.headroom);
            let header = match self.geometry.version() {
                RingVersion::V1 => PacketHeader::V1 { size: len },
                RingVersion::V2 => {
                    PacketHeader::V2 { slot_size: slot, data_offset: data_offset as u16, data_length: len as u16 }
                }
            };
            let at = self.driver_tail;
            self.ring().write_packet_header(at, header).expect("inside the data area");
            let bytes: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
            self.ring().write_data(at + data_offset, &bytes).expect("inside the data area");
            self.driver_tail = self.geometry.advance(at, slot);
        }
        self.ring().store_tail(self.driver_tail);
    }

    fn hostile_tail(&mut self) {
        let raw = self.input.u32();
        let aligned = |offset: u32| offset & !(self.geometry.alignment() - 1);
        let tail = match raw % 4 {
            0 => RING_STOPPED,
            1 => raw,
            2 => aligned(self.geometry.wrap(raw)),
            // Back from the published tail by up to 4 KiB: onto packets the client may hold.
            _ => aligned(self.geometry.wrap(self.ring().load_tail().wrapping_sub((raw >> 2) % 0x1000))),
        };
        self.ring().store_tail(tail);
    }

    fn scribble(&mut self) {
        let at = self.input.u32() % self.geometry.data_area_size();
        let len = usize::from(self.input.u8());
        let bytes = self.input.bytes(len);
        let len = bytes.len().min((self.geometry.data_area_size() - at) as usize);
        self.ring().write_data(at, &bytes[..len]).expect("inside the data area");
    }

    /// Section 6.1 rule 1 for the `tail` read: in range, aligned, and not among the packets the
    /// client holds (from its released head, the `head` in the image, up to its cursor).
    fn tail_rule(&self, image: &[u8], tail: u32) -> Result<(), RingFault> {
        let capacity = self.geometry.capacity();
        if tail >= capacity {
            return Err(RingFault::TailOutOfRange(tail));
        }
        if !tail.is_multiple_of(self.geometry.alignment()) {
            return Err(RingFault::TailMisaligned(tail));
        }
        let head_word = match self.geometry.version() {
            RingVersion::V1 => ring_abi::v1::HEAD_OFFSET,
            RingVersion::V2 => ring_abi::v2::HEAD_OFFSET,
        };
        let released = u32::from_le_bytes(image[head_word..head_word + 4].try_into().expect("4 bytes"));
        let from_released = |offset: u32| (offset + capacity - released) % capacity;
        if from_released(tail) < from_released(self.cursor) {
            return Err(RingFault::TailBehindCursor { tail, cursor: self.cursor });
        }
        Ok(())
    }

    /// What the spec says the client finds at its cursor: empty v2 slots are skipped.
    fn expected(&mut self, image: &[u8], tail: u32) -> Result<Option<PacketView>, RingFault> {
        let area = &image[self.geometry.data_start() as usize..];
        for _ in 0..=self.geometry.capacity() / self.geometry.alignment() {
            match self.geometry.parse_packet(area, self.cursor, tail)? {
                Some(view) if view.data_length == 0 => {
                    self.own(&view);
                    self.cursor = self.geometry.advance(self.cursor, view.slot_size);
                    self.boundaries.insert(self.cursor);
                }
                other => return Ok(other),
            }
        }
        panic!("endless run of empty slots");
    }

    fn receive(&mut self) {
        let image = self.image();
        let tail = self.ring().load_tail();
        let cursor_before = self.cursor;
        let expected = if tail == RING_STOPPED {
            None
        } else {
            Some(self.tail_rule(&image, tail).and_then(|()| self.expected(&image, tail)))
        };
        let session = self.session;
        let got = self.client_writes(|| session.receive());
        match (got, expected) {
            (Err(Error::SessionEnded), None) => {}
            (Ok(None), Some(Ok(None))) => {}
            (Err(Error::CorruptRing(fault)), Some(Err(want))) => assert_eq!(fault, want),
            (Ok(Some(mut packet)), Some(Ok(Some(view)))) => {
                assert_eq!(packet.view(), view, "cursor was {cursor_before:#x}");
                let header = self.geometry.packet_header_size() as usize;
                assert_eq!(packet.len(), view.data_length as usize);
                assert_eq!(packet.data().len(), view.data_length as usize);
                let start = self.geometry.data_start() as usize + view.data_start() as usize;
                assert_eq!(packet.data(), &image[start..start + view.data_length as usize]);
                self.own(&view);
                self.cursor = self.geometry.advance(view.slot_offset, view.slot_size);
                self.boundaries.insert(self.cursor);
                let pattern = self.input.u8();
                self.client_writes(|| {
                    packet.data_mut().fill(pattern);
                    assert_eq!(packet.headroom_mut().len(), view.data_offset as usize - header);
                    packet.headroom_mut().fill(pattern);
                    assert_eq!(
                        packet.tailroom_mut().len(),
                        (view.slot_size - view.data_offset - view.data_length) as usize
                    );
                    packet.tailroom_mut().fill(pattern);
                    assert_eq!(packet.frame_mut().len(), view.slot_size as usize - header);
                });
                if self.input.u8() & 1 == 0 && self.kept.len() < 16 {
                    self.kept.push(packet);
                } else {
                    self.client_writes(|| packet.release());
                }
            }
            (got, expected) => panic!(
                "client returned {:?}, the spec says {expected:?}",
                got.as_ref().map(|p| p.as_ref().map(IncomingPacket::view))
            ),
        }
    }
}

impl<'s> Run<'_, 's> {
    /// `receive_many`: the packets the spec's parser finds one after another from the client's
    /// cursor (empty slots skipped), up to the batch size; a fault before the first is reported,
    /// a fault after some ends the batch (and is reported by the next call).
    fn receive_many(&mut self) {
        let max = 1 + usize::from(self.input.u8() % 8);
        let image = self.image();
        let tail = self.ring().load_tail();
        let stopped = tail == RING_STOPPED;
        let mut expected = Vec::new();
        let mut fault = None;
        if !stopped {
            if let Err(f) = self.tail_rule(&image, tail) {
                fault = Some(f);
            }
            while fault.is_none() && expected.len() < max {
                match self.expected(&image, tail) {
                    Ok(Some(view)) => {
                        self.own(&view);
                        self.cursor = self.geometry.advance(view.slot_offset, view.slot_size);
                        self.boundaries.insert(self.cursor);
                        expected.push(view);
                    }
                    Ok(None) => break,
                    Err(f) => {
                        fault = Some(f);
                        break;
                    }
                }
            }
        }
        let session = self.session;
        let mut got = Vec::new();
        let result = self.client_writes(|| session.receive_many(&mut got, max));
        match result {
            Err(Error::SessionEnded) => assert!(stopped, "ended, but tail is {tail:#x}"),
            Err(Error::CorruptRing(f)) => {
                assert!(expected.is_empty(), "a fault reported after {} packets", expected.len());
                assert_eq!(Some(f), fault);
            }
            Ok(n) => {
                assert!(!stopped, "a stopped ring handed out {n} packets");
                assert_eq!(n, expected.len());
                let views: Vec<PacketView> = got.iter().map(IncomingPacket::view).collect();
                assert_eq!(views, expected);
                for packet in &got {
                    let view = packet.view();
                    let start = self.geometry.data_start() as usize + view.data_start() as usize;
                    assert_eq!(packet.data(), &image[start..start + view.data_length as usize]);
                }
            }
            Err(e) => panic!("receive_many: {e:?}"),
        }
        let mut release = Vec::new();
        for packet in got {
            if self.input.u8() & 1 == 0 && self.kept.len() < 16 {
                self.kept.push(packet);
            } else {
                release.push(packet);
            }
        }
        self.client_writes(|| session.release_many(&mut release));
    }
}

/// A fresh session on a fresh stand-in receives an honest packet.
fn next_session_receives() {
    let driver = HostileDriver::default();
    let config = SessionConfig {
        incoming_capacity: MIN_RING_CAPACITY,
        outgoing_capacity: MIN_RING_CAPACITY,
        incoming_room: Room::new(8, 8),
        ..SessionConfig::default()
    };
    let session = Session::open(driver.clone(), config).expect("registration");
    let ring = session.incoming_ring();
    let geometry = *ring.geometry();
    let slot = geometry.slot_size(40, geometry.room()).expect("slot");
    ring.write_packet_header(0, PacketHeader::V2 { slot_size: slot, data_offset: 16, data_length: 40 })
        .expect("inside");
    ring.write_data(16, &[0x60; 40]).expect("inside");
    ring.store_tail(slot);
    let packet = session.receive().expect("a valid ring").expect("a packet");
    assert_eq!(packet.data(), &[0x60; 40]);
    packet.release();
    assert_eq!(ring.load_head(), slot);
    drop(session);
    assert!(driver.guards_intact());
}
