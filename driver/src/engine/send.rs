//! The Send ring: packets the stack sends out of the adapter, written by the driver for the
//! client to read.
//!
//! A batch (one `MiniportSendNetBufferLists` call) is handled in three steps:
//! 1. **reserve** — under the send lock: plan a reservation for the whole batch with
//!    [`ring_abi::RingGeometry::plan_reservation`] against the client's `head` as last read (the
//!    known head), reading the shared `head` again only if the batch does not fit that; move the
//!    private tail and queue the reservation; a batch that does not fit whole is dropped and
//!    counted;
//! 2. **fill** — without the lock, so that concurrent senders copy in parallel: write each slot's
//!    header and copy the packet behind the negotiated head room;
//! 3. **publish** — under the lock: mark the reservation filled and release-store `tail` past
//!    every filled reservation at the front of the queue, so the client sees slots strictly in
//!    reservation order; then signal the client (v1: always; v2: only if it is alertable).
//!
//! The client's `head` is read, and the known head kept, inside the lock: read outside it, a stale
//! head from before another sender's reservation would let two batches overlap (a bug Wintun
//! shipped).

use alloc::collections::VecDeque;

use lock_api::Mutex;
use ring_abi::{PacketHeader, ReserveError, Ring, RingGeometry, RingVersion, MAX_IP_PACKET_SIZE};

use crate::engine::session::{Adapter, Rundown, Session};
use crate::engine::stats::{add, bump};
use crate::fallible::try_deque_with_capacity;
use crate::platform::{Event, Platform};

/// How many batches may be between reserve and publish at once (one per concurrent sender).
pub const MAX_RESERVATIONS_IN_FLIGHT: usize = 256;

/// Per-packet outcome of a transmit, for the shell to complete each packet with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransmitStatus {
    /// Published on the Send ring.
    Sent,
    /// Dropped: the ring had no room for the whole batch.
    RingFull,
    /// Dropped: no running session.
    NotRunning,
    /// Dropped: the adapter is paused (NDIS expects `NDIS_STATUS_PAUSED` for these).
    Paused,
    /// Dropped: empty, larger than 0xFFFF, or its bytes could not be read.
    Invalid,
    /// Dropped: the client's Send-ring head was invalid.
    RingFault,
}

/// Writes one packet's bytes into its reserved slot; bounded to the packet's length.
pub struct SlotWriter<'a> {
    ring: &'a Ring,
    data_offset: u32,
    len: u32,
}

impl SlotWriter<'_> {
    /// Packet length this slot holds.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the packet is empty (never true for a reserved slot).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `bytes` to `offset` within the packet. `false` if it would run past the packet.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> bool {
        let Some(end) = offset.checked_add(bytes.len()) else { return false };
        if end > self.len as usize {
            return false;
        }
        // offset < len <= 0xFFFF fits in u32; data_offset + offset stays inside the slot.
        let at = self.data_offset.wrapping_add(offset as u32);
        self.ring.write_data(at, bytes).is_ok()
    }
}

/// A batch of packets from the stack (a chain of NBLs in the kernel).
pub trait TransmitBatch {
    /// Number of packets.
    fn packet_count(&self) -> usize;
    /// Length in bytes of packet `index`.
    fn packet_len(&self, index: usize) -> usize;
    /// Copies packet `index` (all of `packet_len` bytes) through `slot`; `false` on failure.
    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool;
    /// Records the outcome for packet `index`. Called exactly once per packet.
    fn set_status(&mut self, index: usize, status: TransmitStatus);
}

/// A reservation between reserve and publish.
struct PendingReservation {
    id: u64,
    next_tail: u32,
    filled: bool,
}

/// Producer-side state of the Send ring.
pub(crate) struct SendTail {
    /// Private tail: the end of the last reservation (never read back from shared memory).
    reserved_tail: u32,
    /// Last tail published to the client.
    published_tail: u32,
    /// The client's `head` as last read and checked (`None` before the first batch). The free
    /// space it gives is a lower bound, since a correct client only moves `head` forward: a batch
    /// that fits it fits, and the shared word is read again only when a batch does not. A client
    /// that moves `head` backwards can only lose its own unread packets.
    known_head: Option<u32>,
    next_id: u64,
    pending: VecDeque<PendingReservation>,
}

/// The Send ring of a session.
pub(crate) struct SendState<P: Platform> {
    pub(crate) ring: Ring,
    pub(crate) event: P::Event,
    pub(crate) gate: Rundown<P::Event>,
    tail: Mutex<P::RawMutex, SendTail>,
    /// Released by teardown once no sender can be inside the ring.
    mapping: Mutex<P::RawMutex, Option<P::Mapping>>,
}

impl<P: Platform> SendState<P> {
    /// Send state for a ring whose client-side tail was read as `initial_tail` (validated).
    pub(crate) fn new(
        ring: Ring,
        mapping: P::Mapping,
        event: P::Event,
        drained: P::Event,
        initial_tail: u32,
    ) -> Option<Self> {
        let pending = try_deque_with_capacity(MAX_RESERVATIONS_IN_FLIGHT).ok()?;
        Some(Self {
            ring,
            event,
            gate: Rundown::new(drained),
            tail: Mutex::new(SendTail {
                reserved_tail: initial_tail,
                published_tail: initial_tail,
                known_head: None,
                next_id: 0,
                pending,
            }),
            mapping: Mutex::new(Some(mapping)),
        })
    }
}

impl<P: Platform> SendState<P> {
    /// Releases the ring's mapping. Only after the send gate is closed and drained.
    pub(crate) fn release_mapping(&self) {
        let mapping = self.mapping.lock().take();
        drop(mapping);
    }
}

/// How many packets of a batch keep their sizes from the reservation to the fill (on the stack).
const CACHED_SIZES: usize = 64;

/// A packet's length and slot size (`slot == 0`: refused as invalid).
#[derive(Clone, Copy)]
struct PacketSize {
    len: u32,
    slot: u32,
}

/// The slot a packet of `len` bytes needs, if it is a valid packet.
fn slot_size_for(geometry: &RingGeometry, len: usize) -> Option<u32> {
    let len = u32::try_from(len).ok().filter(|&l| l != 0 && l <= MAX_IP_PACKET_SIZE)?;
    geometry.slot_size(len, geometry.room())
}

impl<P: Platform> Adapter<P> {
    /// Sends a batch from the stack to the client through the Send ring. Every packet gets a
    /// status through [`TransmitBatch::set_status`].
    pub fn transmit<B: TransmitBatch + ?Sized>(&self, batch: &mut B) {
        let count = batch.packet_count();
        // One read of the pause state decides both whether to send and the status of a refusal.
        if self.is_paused() {
            drop_all(batch, count, TransmitStatus::Paused, &self.inner.stats.send_dropped_not_running);
            return;
        }
        let Some(session) = self.session() else {
            drop_all(batch, count, TransmitStatus::NotRunning, &self.inner.stats.send_dropped_not_running);
            return;
        };
        if !session.send.gate.enter() {
            drop_all(batch, count, TransmitStatus::NotRunning, &self.inner.stats.send_dropped_not_running);
            return;
        }
        session.transmit_inside_gate(batch, count);
        session.send.gate.exit();
    }
}

fn drop_all<B: TransmitBatch + ?Sized>(
    batch: &mut B,
    count: usize,
    status: TransmitStatus,
    counter: &core::sync::atomic::AtomicU64,
) {
    for index in 0..count {
        batch.set_status(index, status);
    }
    add(counter, count as u64);
}

impl<P: Platform> Session<P> {
    fn transmit_inside_gate<B: TransmitBatch + ?Sized>(&self, batch: &mut B, count: usize) {
        let stats = self.stats();
        let send = &self.send;
        let geometry = *send.ring.geometry();

        // Sizes: invalid packets are refused individually, the rest reserved together. The first
        // packets' lengths and slot sizes are kept for the fill, so each is computed once.
        let mut sizes = [PacketSize { len: 0, slot: 0 }; CACHED_SIZES];
        let mut total: u64 = 0;
        let mut valid = 0usize;
        for index in 0..count {
            let len = batch.packet_len(index);
            match slot_size_for(&geometry, len) {
                Some(slot) => {
                    if let Some(cached) = sizes.get_mut(index) {
                        // `slot_size_for` accepted it: 1..=0xFFFF.
                        *cached = PacketSize { len: len as u32, slot };
                    }
                    total = total.saturating_add(u64::from(slot));
                    valid = valid.saturating_add(1);
                }
                None => {
                    batch.set_status(index, TransmitStatus::Invalid);
                    bump(&stats.send_dropped_invalid);
                }
            }
        }
        if valid == 0 {
            return;
        }
        let fail_valid = |batch: &mut B, status: TransmitStatus, counter: &core::sync::atomic::AtomicU64| {
            for index in 0..count {
                if slot_size_for(&geometry, batch.packet_len(index)).is_some() {
                    batch.set_status(index, status);
                }
            }
            add(counter, valid as u64);
        };
        let total = u32::try_from(total).unwrap_or(u32::MAX);

        // 1. Reserve.
        let reservation = {
            let mut tail = send.tail.lock();
            if tail.pending.len() >= MAX_RESERVATIONS_IN_FLIGHT {
                None
            } else {
                // The known head first: no read of the line the client writes on every release.
                let known = tail.known_head.map(|head| geometry.plan_reservation(head, tail.reserved_tail, total));
                let planned = match known {
                    Some(Ok(plan)) => Ok(plan),
                    Some(Err(_)) | None => {
                        let head = send.ring.load_head();
                        let plan = geometry.plan_reservation(head, tail.reserved_tail, total);
                        if !matches!(plan, Err(ReserveError::Corrupt(_))) {
                            tail.known_head = Some(head);
                        }
                        plan
                    }
                };
                match planned {
                    Ok(plan) => {
                        let id = tail.next_id;
                        tail.next_id = id.wrapping_add(1);
                        tail.reserved_tail = plan.next_tail;
                        tail.pending.push_back(PendingReservation { id, next_tail: plan.next_tail, filled: false });
                        Some(Ok((id, plan)))
                    }
                    Err(e) => Some(Err(e)),
                }
            }
        };
        let (id, plan) = match reservation {
            Some(Ok(r)) => r,
            Some(Err(ReserveError::Corrupt(_))) => {
                fail_valid(batch, TransmitStatus::RingFault, &stats.send_dropped_ring_fault);
                return;
            }
            Some(Err(_)) | None => {
                fail_valid(batch, TransmitStatus::RingFull, &stats.send_dropped_ring_full);
                return;
            }
        };

        // 2. Fill, without the lock.
        let room = geometry.room();
        let data_offset = geometry.packet_header_size().wrapping_add(u32::from(room.headroom));
        let mut slot_offset = plan.offset;
        let (mut sent, mut bytes) = (0u64, 0u64);
        for index in 0..count {
            let (len, slot_size) = match sizes.get(index) {
                Some(PacketSize { slot: 0, .. }) => continue,
                Some(cached) => (cached.len, cached.slot),
                None => {
                    let len = batch.packet_len(index);
                    let Some(slot_size) = slot_size_for(&geometry, len) else { continue };
                    // len <= 0xFFFF here.
                    (len as u32, slot_size)
                }
            };
            let header_for = |published_len: u32| match geometry.version() {
                RingVersion::V1 => PacketHeader::V1 { size: published_len },
                RingVersion::V2 => PacketHeader::V2 {
                    slot_size,
                    // data_offset <= 8 + 4096 and published_len <= 0xFFFF.
                    data_offset: data_offset as u16,
                    data_length: published_len as u16,
                },
            };
            // The header first, then the bytes behind it (in address order).
            let mut header_ok = send.ring.write_packet_header(slot_offset, header_for(len)).is_ok();
            let data_at = slot_offset.wrapping_add(data_offset);
            let mut writer = SlotWriter { ring: &send.ring, data_offset: data_at, len };
            let copied = batch.copy_packet(index, &mut writer);
            // A packet whose bytes could not be read still occupies its slot. v2 publishes it
            // empty (data length 0, skipped by the client). v1 has no empty slot: its length is
            // also its slot size, so it keeps the length and its bytes are zeroed (a first byte of
            // 0 is not IP), as Wintun does.
            if !copied {
                header_ok &= match geometry.version() {
                    RingVersion::V1 => send.ring.fill_data(data_at, len as usize, 0).is_ok(),
                    RingVersion::V2 => send.ring.write_packet_header(slot_offset, header_for(0)).is_ok(),
                };
            }
            if copied && header_ok {
                batch.set_status(index, TransmitStatus::Sent);
                sent = sent.wrapping_add(1);
                bytes = bytes.wrapping_add(u64::from(len));
            } else {
                batch.set_status(index, TransmitStatus::Invalid);
                bump(&stats.send_dropped_invalid);
            }
            slot_offset = geometry.advance(slot_offset, slot_size);
        }

        // 3. Publish in reservation order.
        let wake = {
            let mut tail = send.tail.lock();
            let front_id = tail.pending.front().map_or(id, |p| p.id);
            let index = id.wrapping_sub(front_id);
            if let Some(entry) = usize::try_from(index).ok().and_then(|i| tail.pending.get_mut(i)) {
                entry.filled = true;
            }
            let mut new_tail = None;
            while tail.pending.front().is_some_and(|p| p.filled) {
                new_tail = tail.pending.pop_front().map(|p| p.next_tail);
            }
            match new_tail {
                Some(t) => {
                    tail.published_tail = t;
                    Some(send.ring.publish_tail(t))
                }
                None => None,
            }
        };
        add(&stats.send_packets, sent);
        add(&stats.send_bytes, bytes);
        add(&stats.copied_bytes, bytes);
        if let Some(alertable) = wake {
            if geometry.version() == RingVersion::V1 || alertable {
                send.event.set();
                bump(&stats.send_signals);
            }
        }
    }
}
