//! The Send ring: packets the stack sends out of the adapter, written by the driver for the
//! client to read.
//!
//! A batch (one `MiniportSendNetBufferLists` call) is handled in three steps:
//! 1. **reserve** — under the send lock: plan a reservation for the whole batch with
//!    [`ring_abi::RingGeometry::plan_reservation`] against the client's `head` as last read (the
//!    known head), reading the shared `head` again only if the batch does not fit that; move the
//!    private tail and queue the reservation; a batch that does not fit whole gets its longest
//!    prefix that fits reserved, and the packets after it are dropped and counted (order is
//!    kept: nothing after a dropped packet is sent);
//! 2. **fill** — without the lock, so that concurrent senders copy in parallel: write each slot's
//!    header and copy the packet behind the negotiated head room;
//! 3. **publish** — under the lock: mark the reservation filled and release-store `tail` past
//!    every filled reservation at the front of the queue, so the client sees slots strictly in
//!    reservation order; then signal the client (v1: always; v2: only if it is alertable).
//!
//! The client's `head` is read, and the known head kept, inside the lock: read outside it, a stale
//! head from before another sender's reservation would let two batches overlap (a bug Wintun
//! shipped).
//!
//! A packet the stack hands over with an offload request ([`TransmitOffload`]: a large send, a
//! checksum left to the adapter) is planned from its headers, copied once into a local
//! ([`TransmitBatch::read_prefix`]): in a session with offloads it takes one slot whose metadata
//! block says what is left to do (its L4 checksum field set to the pseudo-header sum, an IPv4
//! header checksum computed); otherwise the engine cuts it into complete IP packets, one slot
//! each, summing each segment's payload as it copies it and writing each segment's header
//! behind it ([`crate::engine::offload::send_action`]). In sessions with offloads every slot's
//! metadata block is written, plain packets' all zero.

use alloc::collections::VecDeque;

use lock_api::Mutex;
use ring_abi::{
    checksum, GsoKind, IpIdWrap, IpVersion, OffloadMeta, OffloadPlan, PacketHeader, RegistrationFlags, ReserveError,
    Ring, RingGeometry, RingVersion, MAX_IP_PACKET_SIZE, MAX_OFFLOAD_HEADER,
};

use crate::engine::offload::{send_action, SendAction};
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
    /// Dropped: the packet asks for a large send the adapter has turned off (NDIS: after an
    /// `OID_TCP_OFFLOAD_PARAMETERS` turning LSO or USO off, such NBLs are dropped).
    OffloadOff,
}

/// Writes one packet's bytes into its reserved slot (or, for a packet the engine cuts, into its
/// segments' slots); bounded to the packet's length.
pub struct SlotWriter<'a> {
    ring: &'a Ring,
    len: u32,
    target: Target<'a>,
}

/// Where a [`SlotWriter`]'s bytes go.
enum Target<'a> {
    /// One slot: packet byte `i` at data-area offset `data_offset + i`.
    Slot { data_offset: u32 },
    /// The segments of a packet the engine cuts.
    Segments(SegmentCursor<'a>),
}

/// The state of a copy into a cut packet's slots. The packet's bytes arrive in order; its
/// headers (`plan.header_len` bytes) are not copied (the engine writes each segment's own
/// header from its local copy), each payload byte goes to its segment's slot, and a segment's
/// header is written as soon as its payload is complete, with the sum of that payload.
struct SegmentCursor<'a> {
    ring: &'a Ring,
    plan: OffloadPlan,
    headers: [u8; MAX_OFFLOAD_HEADER],
    geometry: RingGeometry,
    /// From a slot's start to its data (packet header, metadata block, head room).
    data_offset: u32,
    /// Where the next write must start (in the packet).
    next: u32,
    /// The segment being filled, its slot and what of its payload is written and summed.
    segment: u16,
    slot: u32,
    filled: u32,
    sum: u64,
    /// Segments whose headers were written.
    done: u16,
}

impl SegmentCursor<'_> {
    /// Takes the packet bytes `[offset, offset + bytes.len())`.
    fn write(&mut self, offset: usize, bytes: &[u8]) -> bool {
        if offset != self.next as usize {
            return false;
        }
        let header_len = usize::from(self.plan.header_len);
        let end = offset.saturating_add(bytes.len());
        // Header bytes: the local copy is used instead.
        let skip = header_len.saturating_sub(offset).min(bytes.len());
        let mut rest = bytes.get(skip..).unwrap_or(&[]);
        // Nothing of the payload before the headers are through (a packet without payload has
        // one segment of none, finished once they are).
        while end >= header_len && self.segment < self.plan.segment_count() {
            let Some(spec) = self.plan.segment_payload(self.segment) else { return false };
            if self.filled == spec.payload_len {
                if !self.finish_segment(spec) {
                    return false;
                }
                continue;
            }
            if rest.is_empty() {
                break;
            }
            let room = spec.payload_len.wrapping_sub(self.filled) as usize;
            let take = room.min(rest.len());
            let (chunk, after) = rest.split_at(take);
            // Inside the segment's slot: data offset + header + filled < slot size.
            let at = self
                .slot
                .wrapping_add(self.data_offset)
                .wrapping_add(u32::from(self.plan.header_len))
                .wrapping_add(self.filled);
            // Slots never wrap (the trailing room holds the largest).
            if self.ring.write_data(at, chunk).is_err() {
                return false;
            }
            self.sum = self.sum.wrapping_add(checksum::sum_at(chunk, self.filled & 1 == 1));
            // take <= room < 2^16.
            self.filled = self.filled.wrapping_add(take as u32);
            rest = after;
        }
        if !rest.is_empty() {
            return false;
        }
        // bytes.len() <= 0xFFFF (bounded by the writer's length check).
        self.next = self.next.wrapping_add(bytes.len() as u32);
        true
    }

    /// Writes the current segment's header and moves on to the next segment's slot.
    fn finish_segment(&mut self, spec: ring_abi::offload::SegmentSpec) -> bool {
        let mut header = [0u8; MAX_OFFLOAD_HEADER];
        // NDIS asks large sends' identifications to stay in 0..=0x7FFF (a Linux stack's cross
        // 0x8000 the same way: the top bit is kept).
        let written =
            self.plan.segment_header_with(&self.headers, self.segment, self.sum, &mut header, IpIdWrap::Bits15);
        if written.is_none() {
            return false;
        }
        let header = header.get(..usize::from(self.plan.header_len)).unwrap_or(&[]);
        if self.ring.write_data(self.slot.wrapping_add(self.data_offset), header).is_err() {
            return false;
        }
        let Some(slot_size) = self.geometry.slot_size(spec.packet_len, self.geometry.room()) else { return false };
        self.slot = self.geometry.advance(self.slot, slot_size);
        self.segment = self.segment.wrapping_add(1);
        self.done = self.done.wrapping_add(1);
        self.filled = 0;
        self.sum = 0;
        true
    }
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

    /// Copies `bytes` to `offset` within the packet. `false` if it would run past the packet, or,
    /// for a packet the engine cuts, if it does not start where the previous write ended.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> bool {
        let Some(end) = offset.checked_add(bytes.len()) else { return false };
        if end > self.len as usize {
            return false;
        }
        match &mut self.target {
            Target::Slot { data_offset } => {
                // offset < len <= 0xFFFF fits in u32; data_offset + offset stays inside the slot.
                let at = data_offset.wrapping_add(offset as u32);
                self.ring.write_data(at, bytes).is_ok()
            }
            Target::Segments(cursor) => cursor.write(offset, bytes),
        }
    }
}

/// What the stack asks of a packet it sends: the platform's translation of an NBL's large-send,
/// UDP-segmentation and checksum information, or of a Linux `virtio_net_hdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransmitOffload {
    /// A large send: cut into segments of this many payload bytes, of this kind (which must be
    /// the packet's own).
    pub segmentation: Option<(GsoKind, u16)>,
    /// The TCP/UDP checksum is left to the adapter.
    pub l4_checksum: bool,
    /// The IPv4 header checksum is left to the adapter.
    pub ip_checksum: bool,
    /// The length fields of a large send's headers are not filled in: the packet's length is its
    /// buffer's (NDIS LSOv2 leaves the IPv4 total length or IPv6 payload length 0, and USO's
    /// template headers need not carry the large packet's lengths). The engine writes them from
    /// the packet's length before planning it; a non-zero field that disagrees is still refused.
    pub lengths_from_buffer: bool,
    /// The stack asked for an offload this adapter never offers (NDIS: an LSOv1 large send):
    /// dropped as an offload that is off ([`TransmitStatus::OffloadOff`]).
    pub not_offered: bool,
}

impl TransmitOffload {
    /// Whether anything is asked.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

/// A batch of packets from the stack (a chain of NBLs in the kernel).
pub trait TransmitBatch {
    /// Number of packets.
    fn packet_count(&self) -> usize;
    /// Length in bytes of packet `index`.
    fn packet_len(&self, index: usize) -> usize;
    /// Copies packet `index` (all of `packet_len` bytes) through `slot`, in order: each write
    /// starts where the previous one ended, the first at 0 (a packet the engine cuts refuses any
    /// other order); `false` on failure.
    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool;
    /// Records the outcome for packet `index`. Called exactly once per packet.
    fn set_status(&mut self, index: usize, status: TransmitStatus);
    /// What the stack asks of packet `index` beyond carrying it (nothing by default).
    fn packet_offload(&self, index: usize) -> TransmitOffload {
        let _ = index;
        TransmitOffload::default()
    }
    /// Copies the first `dst.len()` bytes of packet `index` (at most its length) into `dst`;
    /// returns how many. Asked only for packets with an offload request; 0 (the default) makes
    /// the request fail, and the packet is dropped as invalid.
    fn read_prefix(&self, index: usize, dst: &mut [u8]) -> usize {
        let _ = (index, dst);
        0
    }
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

/// How a packet goes into the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendKind {
    /// As it is, one slot.
    Plain,
    /// One slot, its IPv4 header checksum computed (the stack asked only for that).
    IpChecksum,
    /// One slot with its offload metadata (a session with offloads).
    WithMetadata,
    /// Cut by the engine: one slot per segment.
    Segmented,
}

/// A packet's length, the bytes of ring it takes and how (`total == 0`: refused, as invalid or,
/// with `off`, for asking an offload that is off).
#[derive(Clone, Copy)]
struct PacketSize {
    len: u32,
    total: u32,
    kind: SendKind,
    off: bool,
}

const INVALID: PacketSize = PacketSize { len: 0, total: 0, kind: SendKind::Plain, off: false };
const OFFLOAD_OFF: PacketSize = PacketSize { off: true, ..INVALID };

/// The slot a packet of `len` bytes needs, if it is a valid packet.
fn slot_size_for(geometry: &RingGeometry, len: usize) -> Option<u32> {
    let len = u32::try_from(len).ok().filter(|&l| l != 0 && l <= MAX_IP_PACKET_SIZE)?;
    geometry.slot_size(len, geometry.room())
}

/// A packet with an offload request, planned from its headers (copied once into `headers`).
struct OffloadedPacket {
    meta: OffloadMeta,
    plan: Option<OffloadPlan>,
    headers: [u8; MAX_OFFLOAD_HEADER],
    /// Where the engine filled in length fields the stack left unset
    /// ([`TransmitOffload::lengths_from_buffer`]): (offset in the packet, value), to be written
    /// over the copied bytes too.
    lengths: [Option<(u8, u16)>; 2],
}

/// Fills in the length fields of a large send's headers the stack left 0 (the IPv4 total length
/// or IPv6 payload length, and a UDP length), in the local copy, from the packet's length `len`;
/// returns the fields it wrote. Fields that are not 0 are left for validation to compare.
fn fill_lengths(headers: &mut [u8], len: u32) -> [Option<(u8, u16)>; 2] {
    let mut written = [None, None];
    let Ok(len) = u16::try_from(len) else { return written };
    let mut put = |headers: &mut [u8], at: usize, value: u16, slot: usize| {
        if let Some(field) = headers.get_mut(at..at.wrapping_add(2)) {
            if field == [0, 0] {
                field.copy_from_slice(&value.to_be_bytes());
                if let (Some(w), Ok(at)) = (written.get_mut(slot), u8::try_from(at)) {
                    *w = Some((at, value));
                }
            }
        }
    };
    let first = headers.first().copied().unwrap_or(0);
    let (l3_len, protocol) = match first >> 4 {
        4 => {
            put(headers, 2, len, 0);
            (u16::from(first & 0x0F).wrapping_mul(4), headers.get(9).copied())
        }
        6 => {
            put(headers, 4, len.wrapping_sub(40), 0);
            (40, headers.get(6).copied())
        }
        _ => return written,
    };
    if protocol == Some(17) && len > l3_len {
        put(headers, usize::from(l3_len).wrapping_add(4), len.wrapping_sub(l3_len), 1);
    }
    written
}

/// Reads packet `index`'s headers and turns its request into ring metadata and a plan; `None`
/// if the request does not fit the packet.
fn offloaded_packet<B: TransmitBatch + ?Sized>(
    batch: &B,
    index: usize,
    len: u32,
    request: &TransmitOffload,
) -> Option<OffloadedPacket> {
    let mut headers = [0u8; MAX_OFFLOAD_HEADER];
    let want = (len as usize).min(MAX_OFFLOAD_HEADER);
    let got = batch.read_prefix(index, headers.get_mut(..want)?);
    if got != want {
        return None;
    }
    let lengths = if request.lengths_from_buffer && request.segmentation.is_some() {
        fill_lengths(headers.get_mut(..want)?, len)
    } else {
        [None, None]
    };
    let local = headers.get(..want)?;
    let (meta, plan) = OffloadMeta::plan_stack_request(local, len, request.l4_checksum, request.segmentation).ok()?;
    if request.ip_checksum && plan.is_none() {
        // Only the IPv4 header checksum: an IPv4 header must be there.
        let first = *local.first()?;
        let ihl = usize::from(first & 0x0F).wrapping_mul(4);
        if first >> 4 != 4 || ihl < 20 || ihl > want {
            return None;
        }
    } else if plan.is_some_and(|p| request.ip_checksum && p.ip != IpVersion::V4) {
        return None;
    }
    Some(OffloadedPacket { meta, plan, headers, lengths })
}

/// The IPv4 header checksum of `header` (at most 60 bytes; its checksum field taken as zero).
fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let mut local = [0u8; 60];
    let len = header.len().min(local.len());
    if let (Some(dst), Some(src)) = (local.get_mut(..len), header.get(..len)) {
        dst.copy_from_slice(src);
    }
    if let Some(field) = local.get_mut(10..12) {
        field.fill(0);
    }
    checksum::finish(checksum::sum(local.get(..len).unwrap_or(&[])))
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
    /// How packet `index` goes into the ring and how many bytes it takes; [`INVALID`] for a packet
    /// that cannot be sent (length 0 or above 0xFFFF, an offload request that does not fit it).
    fn packet_size<B: TransmitBatch + ?Sized>(&self, batch: &B, index: usize) -> PacketSize {
        let geometry = self.send.ring.geometry();
        let len = batch.packet_len(index);
        let Some(slot) = slot_size_for(geometry, len) else { return INVALID };
        // `slot_size_for` accepted it: 1..=0xFFFF.
        let len = len as u32;
        let request = batch.packet_offload(index);
        if request.is_none() {
            return PacketSize { len, total: slot, kind: SendKind::Plain, off: false };
        }
        if request.not_offered {
            return OFFLOAD_OFF;
        }
        let Some(packet) = offloaded_packet(batch, index, len, &request) else { return INVALID };
        let Some(plan) = packet.plan else {
            return PacketSize { len, total: slot, kind: SendKind::IpChecksum, off: false };
        };
        // A large send the stack was told is off (it may still arrive for a moment after the
        // change): dropped, as NDIS requires.
        if let Some(gso) = plan.gso {
            if !self.adapter_task_offloads().allows_segmentation(gso.kind, plan.ip) {
                return OFFLOAD_OFF;
            }
        }
        match send_action(self.config.flags.contains(RegistrationFlags::OFFLOAD), &plan) {
            SendAction::WithMetadata => PacketSize { len, total: slot, kind: SendKind::WithMetadata, off: false },
            SendAction::Segment => {
                let mut total = 0u32;
                for index in 0..plan.segment_count() {
                    let Some(spec) = plan.segment_payload(index) else { return INVALID };
                    let Some(slot) = geometry.slot_size(spec.packet_len, geometry.room()) else { return INVALID };
                    // Saturating: a large send of tiny segments may need more than the ring has,
                    // and is then refused as not fitting.
                    total = total.saturating_add(slot);
                }
                PacketSize { len, total, kind: SendKind::Segmented, off: false }
            }
        }
    }

    /// The longest prefix of the batch's valid packets whose slots fit `free` bytes: their bytes,
    /// and the index of the first packet after it (`count` when all fit). Called under the send
    /// lock; sizes beyond the cached ones are computed again.
    fn prefix_fitting<B: TransmitBatch + ?Sized>(
        &self,
        batch: &B,
        sizes: &[PacketSize],
        count: usize,
        free: u32,
    ) -> (u32, usize) {
        let mut bytes = 0u32;
        for index in 0..count {
            let size = sizes.get(index).copied().unwrap_or_else(|| self.packet_size(batch, index));
            match bytes.checked_add(size.total) {
                Some(next) if next <= free => bytes = next,
                _ => return (bytes, index),
            }
        }
        (bytes, count)
    }

    fn transmit_inside_gate<B: TransmitBatch + ?Sized>(&self, batch: &mut B, count: usize) {
        let stats = self.stats();
        let send = &self.send;
        let geometry = *send.ring.geometry();

        // Sizes: invalid packets are refused individually, the rest reserved together. The first
        // packets' lengths and slot sizes are kept for the fill, so each is computed once.
        let mut sizes = [INVALID; CACHED_SIZES];
        let mut total: u64 = 0;
        let mut valid = 0usize;
        for index in 0..count {
            let size = self.packet_size(batch, index);
            if size.total == 0 {
                if size.off {
                    batch.set_status(index, TransmitStatus::OffloadOff);
                    bump(&stats.send_dropped_offload_off);
                } else {
                    batch.set_status(index, TransmitStatus::Invalid);
                    bump(&stats.send_dropped_invalid);
                }
                continue;
            }
            if let Some(cached) = sizes.get_mut(index) {
                *cached = size;
            }
            total = total.saturating_add(u64::from(size.total));
            valid = valid.saturating_add(1);
        }
        if valid == 0 {
            return;
        }
        // The valid packets from `from` on get `status`.
        let fail_valid =
            |batch: &mut B, from: usize, status: TransmitStatus, counter: &core::sync::atomic::AtomicU64| {
                let mut failed = 0u64;
                for index in from..count {
                    let size = sizes.get(index).copied().unwrap_or_else(|| self.packet_size(batch, index));
                    if size.total != 0 {
                        batch.set_status(index, status);
                        failed = failed.saturating_add(1);
                    }
                }
                add(counter, failed);
            };
        let total = u32::try_from(total).unwrap_or(u32::MAX);

        // 1. Reserve: the whole batch if it fits, else its longest prefix that does (the packets
        // after it are failed as the ring being full, so order is kept).
        let reservation = {
            let mut tail = send.tail.lock();
            if tail.pending.len() >= MAX_RESERVATIONS_IN_FLIGHT {
                None
            } else {
                // The known head first: no read of the line the client writes on every release.
                let known = tail.known_head.map(|head| geometry.plan_reservation(head, tail.reserved_tail, total));
                let planned = match known {
                    Some(Ok(plan)) => Ok((plan, count)),
                    Some(Err(_)) | None => {
                        let head = send.ring.load_head();
                        match geometry.plan_reservation(head, tail.reserved_tail, total) {
                            Ok(plan) => {
                                tail.known_head = Some(head);
                                Ok((plan, count))
                            }
                            Err(ReserveError::Corrupt(fault)) => Err(ReserveError::Corrupt(fault)),
                            Err(full) => {
                                tail.known_head = Some(head);
                                let free = geometry.free_space(head, tail.reserved_tail);
                                let (bytes, end) = self.prefix_fitting(batch, &sizes, count, free);
                                if bytes == 0 {
                                    Err(full)
                                } else {
                                    geometry.plan_reservation(head, tail.reserved_tail, bytes).map(|plan| (plan, end))
                                }
                            }
                        }
                    }
                };
                match planned {
                    Ok((plan, end)) => {
                        let id = tail.next_id;
                        tail.next_id = id.wrapping_add(1);
                        tail.reserved_tail = plan.next_tail;
                        tail.pending.push_back(PendingReservation { id, next_tail: plan.next_tail, filled: false });
                        Some(Ok((id, plan, end)))
                    }
                    Err(e) => Some(Err(e)),
                }
            }
        };
        let (id, plan, end) = match reservation {
            Some(Ok(r)) => r,
            Some(Err(ReserveError::Corrupt(_))) => {
                fail_valid(batch, 0, TransmitStatus::RingFault, &stats.send_dropped_ring_fault);
                return;
            }
            Some(Err(_)) | None => {
                fail_valid(batch, 0, TransmitStatus::RingFull, &stats.send_dropped_ring_full);
                return;
            }
        };

        // 2. Fill, without the lock.
        let room = geometry.room();
        let data_offset = geometry.packet_header_size().wrapping_add(u32::from(room.headroom));
        let mut slot_offset = plan.offset;
        let mut filled = Filled::default();
        for index in 0..end {
            let size = match sizes.get(index) {
                Some(cached) => *cached,
                None => self.packet_size(batch, index),
            };
            if size.total == 0 {
                continue;
            }
            let sent = match size.kind {
                SendKind::Plain | SendKind::IpChecksum | SendKind::WithMetadata => {
                    self.fill_one(batch, index, size, slot_offset, data_offset, &mut filled)
                }
                SendKind::Segmented => self.fill_segments(batch, index, size, slot_offset, data_offset, &mut filled),
            };
            if sent {
                batch.set_status(index, TransmitStatus::Sent);
                filled.sent = filled.sent.wrapping_add(1);
                filled.bytes = filled.bytes.wrapping_add(u64::from(size.len));
                if size.kind == SendKind::WithMetadata {
                    bump(&stats.send_offload_packets);
                }
            } else {
                batch.set_status(index, TransmitStatus::Invalid);
                bump(&stats.send_dropped_invalid);
            }
            slot_offset = geometry.advance(slot_offset, size.total);
        }
        let (sent, bytes) = (filled.sent, filled.bytes);
        // What did not fit after the reserved prefix.
        fail_valid(batch, end, TransmitStatus::RingFull, &stats.send_dropped_ring_full);

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
        add(&stats.copied_bytes, filled.copied);
        if let Some(alertable) = wake {
            if geometry.version() == RingVersion::V1 || alertable {
                send.event.set();
                bump(&stats.send_signals);
            }
        }
    }
}

/// What a batch's fill did.
#[derive(Default)]
struct Filled {
    /// Stack packets published.
    sent: u64,
    /// Their bytes.
    bytes: u64,
    /// Bytes written into the ring for the copied packets (segments' headers included).
    copied: u64,
}

impl<P: Platform> Session<P> {
    /// The header a slot of `slot_size` bytes gets for a packet of `len` bytes.
    fn slot_header(&self, slot_size: u32, data_offset: u32, len: u32) -> PacketHeader {
        match self.send.ring.geometry().version() {
            RingVersion::V1 => PacketHeader::V1 { size: len },
            RingVersion::V2 => PacketHeader::V2 {
                slot_size,
                // data_offset <= 8 + 4096 and len <= 0xFFFF.
                data_offset: data_offset as u16,
                data_length: len as u16,
            },
        }
    }

    /// Marks `total` reserved bytes at `slot_offset` unusable, for a packet that could not be
    /// written: v2 as empty slots (data length 0, skipped by the client), v1 as slots whose
    /// packets are all zero bytes (v1 has no empty slot; a first byte of 0 is not IP), as Wintun
    /// does for an unreadable packet.
    fn fill_unusable(&self, mut slot_offset: u32, mut total: u32) {
        let ring = &self.send.ring;
        let geometry = *ring.geometry();
        let header = geometry.packet_header_size();
        while total != 0 {
            let slot = total.min(geometry.max_slot());
            let written = match geometry.version() {
                RingVersion::V1 => {
                    // A v1 slot's size is implied: align4(4 + size), at most 0x10004 for 0xFFFF.
                    let len = slot.saturating_sub(header).min(MAX_IP_PACKET_SIZE);
                    ring.write_packet_header(slot_offset, PacketHeader::V1 { size: len }).is_ok()
                        && ring.fill_data(slot_offset.wrapping_add(header), len as usize, 0).is_ok()
                }
                RingVersion::V2 => ring
                    .write_packet_header(
                        slot_offset,
                        PacketHeader::V2 { slot_size: slot, data_offset: header as u16, data_length: 0 },
                    )
                    .is_ok(),
            };
            if !written {
                return;
            }
            slot_offset = geometry.advance(slot_offset, slot);
            total = total.wrapping_sub(slot);
        }
    }

    /// Writes one packet into its one slot. `false`: its bytes could not be read, an offload
    /// request could not be planned again, or the slot could not be written; the slot is then
    /// published unusable ([`Self::fill_unusable`]).
    fn fill_one<B: TransmitBatch + ?Sized>(
        &self,
        batch: &B,
        index: usize,
        size: PacketSize,
        slot_offset: u32,
        data_offset: u32,
        filled: &mut Filled,
    ) -> bool {
        let ring = &self.send.ring;
        let offloads = self.config.flags.contains(RegistrationFlags::OFFLOAD);
        // The packet's plan again (its headers are the stack's, so they read the same).
        let packet = match size.kind {
            SendKind::Plain => None,
            _ => match offloaded_packet(batch, index, size.len, &batch.packet_offload(index)) {
                Some(p) => Some(p),
                None => {
                    self.fill_unusable(slot_offset, size.total);
                    return false;
                }
            },
        };
        let meta = match (&packet, size.kind) {
            (Some(p), SendKind::WithMetadata) => p.meta,
            _ => OffloadMeta::NONE,
        };
        // The header first, then the bytes behind it (in address order).
        let header = self.slot_header(size.total, data_offset, size.len);
        if self.write_slot_header(slot_offset, header, offloads.then_some(&meta)).is_none() {
            self.fill_unusable(slot_offset, size.total);
            return false;
        }
        let data_at = slot_offset.wrapping_add(data_offset);
        let mut writer = SlotWriter { ring, len: size.len, target: Target::Slot { data_offset: data_at } };
        if !batch.copy_packet(index, &mut writer) {
            // A packet whose bytes could not be read still occupies its slot. v2 publishes it
            // empty (data length 0, skipped by the client). v1 has no empty slot: its length is
            // also its slot size, so it keeps the length and its bytes are zeroed (a first byte
            // of 0 is not IP), as Wintun does.
            let _ = match ring.geometry().version() {
                RingVersion::V1 => ring.fill_data(data_at, size.len as usize, 0),
                RingVersion::V2 => ring.write_packet_header(slot_offset, self.slot_header(size.total, data_offset, 0)),
            };
            return false;
        }
        if let Some(p) = &packet {
            if self.fix_headers(p, size.kind, data_at).is_none() {
                self.fill_unusable(slot_offset, size.total);
                return false;
            }
        }
        filled.copied = filled.copied.wrapping_add(u64::from(size.len));
        true
    }

    /// Writes a slot's packet header and, in a session with offloads, its metadata block.
    /// `None` if a write fell outside the ring (not for a slot the Send path reserved).
    fn write_slot_header(&self, slot_offset: u32, header: PacketHeader, meta: Option<&OffloadMeta>) -> Option<()> {
        let ring = &self.send.ring;
        ring.write_packet_header(slot_offset, header).ok()?;
        if let Some(meta) = meta {
            ring.write_offload_meta(slot_offset, meta).ok()?;
        }
        Some(())
    }

    /// After the copy: the IPv4 header checksum where the stack left it, and in a slot with
    /// metadata the pseudo-header sum in the L4 checksum field (the ring's convention for
    /// `NEEDS_CSUM`, whatever the stack's was), from the local copy of the headers. `None` if a
    /// write fell outside the ring (not for a slot the Send path reserved).
    fn fix_headers(&self, packet: &OffloadedPacket, kind: SendKind, data_at: u32) -> Option<()> {
        let ring = &self.send.ring;
        let headers = &packet.headers;
        let first = headers.first().copied().unwrap_or(0);
        for (at, value) in packet.lengths.iter().flatten() {
            ring.write_data(data_at.wrapping_add(u32::from(*at)), &value.to_be_bytes()).ok()?;
        }
        if first >> 4 == 4 {
            let ihl = usize::from(first & 0x0F).wrapping_mul(4);
            let sum = ipv4_header_checksum(headers.get(..ihl).unwrap_or(&[]));
            ring.write_data(data_at.wrapping_add(10), &sum.to_be_bytes()).ok()?;
        }
        if kind == SendKind::WithMetadata {
            if let Some(plan) = &packet.plan {
                if let (Some(field), Some(pseudo)) = (plan.checksum_field(), plan.pseudo_header_sum(headers)) {
                    ring.write_data(data_at.wrapping_add(u32::from(field)), &pseudo.to_be_bytes()).ok()?;
                }
            }
        }
        Some(())
    }

    /// Cuts a packet into its segments' slots: writes each slot's header (and a plain metadata
    /// block in a session with offloads), copies the payload through a segmenting writer, which
    /// writes each segment's IP and TCP/UDP header once its payload is in.
    fn fill_segments<B: TransmitBatch + ?Sized>(
        &self,
        batch: &B,
        index: usize,
        size: PacketSize,
        slot_offset: u32,
        data_offset: u32,
        filled: &mut Filled,
    ) -> bool {
        let ring = &self.send.ring;
        let geometry = *ring.geometry();
        let offloads = self.config.flags.contains(RegistrationFlags::OFFLOAD);
        let Some(packet) = offloaded_packet(batch, index, size.len, &batch.packet_offload(index)) else {
            self.fill_unusable(slot_offset, size.total);
            return false;
        };
        let Some(plan) = packet.plan else {
            self.fill_unusable(slot_offset, size.total);
            return false;
        };
        // The slots' headers, checking the segments take exactly the reserved bytes.
        let mut at = slot_offset;
        let mut used = 0u32;
        for segment in 0..plan.segment_count() {
            let written = plan
                .segment_payload(segment)
                .and_then(|spec| geometry.slot_size(spec.packet_len, geometry.room()).map(|s| (spec, s)))
                .and_then(|(spec, slot)| {
                    let header = self.slot_header(slot, data_offset, spec.packet_len);
                    self.write_slot_header(at, header, offloads.then_some(&OffloadMeta::NONE)).map(|()| slot)
                });
            let Some(slot) = written else {
                self.fill_unusable(slot_offset, size.total);
                return false;
            };
            used = used.saturating_add(slot);
            at = geometry.advance(at, slot);
        }
        if used != size.total {
            self.fill_unusable(slot_offset, size.total);
            return false;
        }
        let cursor = SegmentCursor {
            ring,
            plan,
            headers: packet.headers,
            geometry,
            data_offset,
            next: 0,
            segment: 0,
            slot: slot_offset,
            filled: 0,
            sum: 0,
            done: 0,
        };
        let mut writer = SlotWriter { ring, len: size.len, target: Target::Segments(cursor) };
        let copied = batch.copy_packet(index, &mut writer);
        let done = match &writer.target {
            Target::Segments(cursor) => cursor.done,
            Target::Slot { .. } => 0,
        };
        if !copied || done != plan.segment_count() {
            self.fill_unusable(slot_offset, size.total);
            return false;
        }
        let stats = self.stats();
        bump(&stats.send_segmented);
        add(&stats.send_segments, u64::from(plan.segment_count()));
        let header_bytes = u64::from(plan.header_len).wrapping_mul(u64::from(plan.segment_count()));
        let payload = u64::from(plan.data_length).wrapping_sub(u64::from(plan.header_len));
        filled.copied = filled.copied.wrapping_add(header_bytes).wrapping_add(payload);
        true
    }
}
