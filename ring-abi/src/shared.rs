//! Access to ring memory that another party writes concurrently.
//!
//! [`SharedRing`] is a bounds-checked window over a ring's bytes: header words are accessed only
//! through atomics, payload bytes only through bounded raw copies, so no Rust reference to shared
//! bytes ever exists. [`Ring`] adds the geometry and the protocol's memory orderings: release
//! stores of `head`/`tail`, acquire loads of the other side's index, and the full fences of the
//! alertable handshake.

use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, Ordering};

use crate::consts::{OFFLOAD_META_OFFSET, OFFLOAD_META_SIZE};
use crate::geometry::{GeometryError, RingGeometry, RingVersion};
use crate::offload::OffloadMeta;
use crate::packet::{PacketHeader, PacketView, RingFault};
use crate::{checksum, v1, v2};

/// An access outside the mapped ring was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds {
    /// Start of the refused access, from the ring start.
    pub offset: usize,
    /// Length of the refused access.
    pub len: usize,
}

/// A window of `len` bytes of shared ring memory.
#[derive(Debug)]
pub struct SharedRing {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: `SharedRing` only hands out atomic accesses and raw copies; the creator of the value
// promised (see `SharedRing::new`) that the memory stays valid for as long as any copy is used,
// from any thread.
unsafe impl Send for SharedRing {}
// SAFETY: as above; all accesses through `&SharedRing` are atomic or raw copies.
unsafe impl Sync for SharedRing {}

impl SharedRing {
    /// Alignment a ring's start address must have: the version's alignment, v1: 4, v2: 8
    /// (`docs/ring-protocol.md` section 5.4). Wintun's own client places its Receive ring at
    /// `region + ring_size`, which is 4 mod 8 for every v1 ring size, so v1 must not ask for more.
    pub const fn required_alignment(version: RingVersion) -> usize {
        version.alignment() as usize
    }

    /// A window over `len` bytes at `base` for a ring of `version`. Returns `None` for a null
    /// `base`, a `base` not aligned to [`Self::required_alignment`], or a range that wraps the
    /// address space.
    ///
    /// # Safety
    /// `base..base + len` must be valid for reads and writes for the whole life of the returned
    /// value, and must be written by others only as plain bytes (never freed or unmapped while
    /// this value lives). Concurrent writes by the other party are expected: this type never
    /// forms references to the bytes.
    pub unsafe fn new(base: *mut u8, len: usize, version: RingVersion) -> Option<Self> {
        let base = NonNull::new(base)?;
        if !(base.as_ptr() as usize).is_multiple_of(Self::required_alignment(version)) {
            return None;
        }
        (base.as_ptr() as usize).checked_add(len)?;
        Some(Self { base, len })
    }

    /// Length of the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start address of the window.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    #[inline]
    fn check(&self, offset: usize, len: usize) -> Result<(), OutOfBounds> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(OutOfBounds { offset, len }),
        }
    }

    /// Pointer to `len` bytes at `offset`, after a bounds check. For handing a range to the OS
    /// (a partial MDL, a socket) without copying.
    #[inline]
    pub fn ptr_range(&self, offset: usize, len: usize) -> Result<NonNull<u8>, OutOfBounds> {
        self.check(offset, len)?;
        // SAFETY: `offset + len <= self.len`, so the offset stays inside the allocation promised
        // by `new`; the result is non-null because `base` is non-null and the range does not wrap.
        Ok(unsafe { NonNull::new_unchecked(self.base.as_ptr().add(offset)) })
    }

    #[inline]
    fn word(&self, offset: usize) -> Result<&AtomicU32, OutOfBounds> {
        self.check(offset, 4)?;
        if !offset.is_multiple_of(4) {
            return Err(OutOfBounds { offset, len: 4 });
        }
        // SAFETY: in bounds (checked), 4-byte aligned (base is at least 4-aligned, see
        // `required_alignment`, and offset % 4 == 0),
        // valid for the life of `self` (contract of `new`). `AtomicU32` has the size and
        // alignment of `u32`, and all our accesses to it are atomic.
        Ok(unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU32>() })
    }

    /// Atomically loads the `u32` at `offset` (4-aligned).
    #[inline]
    pub fn load_u32(&self, offset: usize, order: Ordering) -> Result<u32, OutOfBounds> {
        Ok(self.word(offset)?.load(order))
    }

    /// Atomically stores `value` at `offset` (4-aligned).
    #[inline]
    pub fn store_u32(&self, offset: usize, value: u32, order: Ordering) -> Result<(), OutOfBounds> {
        self.word(offset)?.store(value, order);
        Ok(())
    }

    /// Copies `dst.len()` bytes at `offset` into `dst`. The bytes may change concurrently; the
    /// copy is a snapshot of whatever they held.
    #[inline]
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), OutOfBounds> {
        let src = self.ptr_range(offset, dst.len())?;
        // SAFETY: `src` covers `dst.len()` bytes inside the window; `dst` is a distinct local
        // buffer, so the ranges do not overlap. Shared bytes carry no validity invariant.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Copies `src` to `offset`.
    #[inline]
    pub fn write(&self, offset: usize, src: &[u8]) -> Result<(), OutOfBounds> {
        let dst = self.ptr_range(offset, src.len())?;
        // SAFETY: `dst` covers `src.len()` bytes inside the window, valid for writes (contract of
        // `new`); `src` is a valid slice. `copy` (memmove) is used so that the call stays sound
        // even if a caller's slice aliases the window.
        unsafe { core::ptr::copy(src.as_ptr(), dst.as_ptr(), src.len()) };
        Ok(())
    }

    /// Sets `len` bytes at `offset` to `byte`.
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result<(), OutOfBounds> {
        let dst = self.ptr_range(offset, len)?;
        // SAFETY: `dst` covers `len` writable bytes inside the window.
        unsafe { core::ptr::write_bytes(dst.as_ptr(), byte, len) };
        Ok(())
    }

    /// Moves `len` bytes from `from` to `to` inside the window (ranges may overlap).
    pub fn copy_within(&self, from: usize, to: usize, len: usize) -> Result<(), OutOfBounds> {
        let src = self.ptr_range(from, len)?;
        let dst = self.ptr_range(to, len)?;
        // SAFETY: both ranges are inside the window; `copy` allows overlap.
        unsafe { core::ptr::copy(src.as_ptr(), dst.as_ptr(), len) };
        Ok(())
    }
}

/// What a consumer should do after announcing it is about to sleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SleepCheck {
    /// The tail moved meanwhile: do not sleep; `alertable` was cleared again. Carries the tail read.
    Work(u32),
    /// Still empty after the fence: sleep on the event; clear `alertable` when woken.
    Sleep,
}

/// One mapped ring: memory, geometry, and the protocol's access rules.
#[derive(Debug)]
pub struct Ring {
    mem: SharedRing,
    geometry: RingGeometry,
}

impl Ring {
    /// A ring over `mem`; the window must be at least `geometry.ring_size()` bytes.
    pub fn new(mem: SharedRing, geometry: RingGeometry) -> Result<Self, GeometryError> {
        if mem.len() < geometry.ring_size() as usize {
            return Err(GeometryError::RingSizeMismatch(mem.len().try_into().unwrap_or(u32::MAX)));
        }
        Ok(Self { mem, geometry })
    }

    /// The ring's geometry.
    #[inline]
    pub fn geometry(&self) -> &RingGeometry {
        &self.geometry
    }

    /// The underlying memory window.
    #[inline]
    pub fn memory(&self) -> &SharedRing {
        &self.mem
    }

    /// Both layouts put `head` first (`docs/ring-protocol.md` sections 3.1 and 3.3).
    const HEAD_OFFSET: usize = {
        assert!(v1::HEAD_OFFSET == 0);
        assert!(v2::HEAD_OFFSET == 0);
        0
    };

    #[inline]
    fn tail_offset(&self) -> usize {
        match self.geometry.version() {
            RingVersion::V1 => v1::TAIL_OFFSET,
            RingVersion::V2 => v2::TAIL_OFFSET,
        }
    }

    #[inline]
    fn alertable_offset(&self) -> usize {
        match self.geometry.version() {
            RingVersion::V1 => v1::ALERTABLE_OFFSET,
            RingVersion::V2 => v2::ALERTABLE_OFFSET,
        }
    }

    // The header offsets are constants below 128 and `new` checked the window holds the whole
    // ring, so header accesses cannot fail; they fall back to "stopped"/no-op defensively.

    /// Producer side: loads the consumer's `head` (acquire: the consumer's reads of the slots it
    /// released happened before).
    #[inline]
    pub fn load_head(&self) -> u32 {
        self.mem.load_u32(Self::HEAD_OFFSET, Ordering::Acquire).unwrap_or(crate::consts::RING_STOPPED)
    }

    /// Consumer side: releases slots up to `head` (release: our reads of them happen before).
    #[inline]
    pub fn store_head(&self, head: u32) {
        let _ = self.mem.store_u32(Self::HEAD_OFFSET, head, Ordering::Release);
    }

    /// Consumer side: loads the producer's `tail` (acquire: the slot contents it published are
    /// visible after).
    #[inline]
    pub fn load_tail(&self) -> u32 {
        self.mem.load_u32(self.tail_offset(), Ordering::Acquire).unwrap_or(crate::consts::RING_STOPPED)
    }

    /// Producer side: stores `tail` (release) without the wake-up check; for initialisation and
    /// for the stop marker.
    #[inline]
    pub fn store_tail(&self, tail: u32) {
        let _ = self.mem.store_u32(self.tail_offset(), tail, Ordering::Release);
    }

    /// Loads `alertable` (relaxed: [`Self::publish_tail`] orders its load after the `tail` store
    /// with a full fence).
    #[inline]
    pub fn load_alertable(&self) -> bool {
        self.mem.load_u32(self.alertable_offset(), Ordering::Relaxed).unwrap_or(0) != 0
    }

    /// Stores `alertable` (relaxed). Setting it is [`Self::prepare_to_sleep`]'s job, which
    /// fences it before re-loading `tail`. Clearing it (after a wake, or when work turned up)
    /// needs no ordering: a producer that still reads the old 1 only signals for nothing, and the
    /// consumer never sleeps again before its next fenced set and `tail` re-load
    /// (`docs/ring-protocol.md` section 8, and the model `models/handshake.pml`, whose clear is
    /// unfenced).
    #[inline]
    pub fn store_alertable(&self, alertable: bool) {
        let _ = self.mem.store_u32(self.alertable_offset(), u32::from(alertable), Ordering::Relaxed);
    }

    /// Producer side: publishes `tail` and reports whether the consumer asked to be woken.
    /// Release-stores `tail` (the slots written before are visible first), then a full fence
    /// (the `tail` store before the `alertable` load: a store followed by a load of another
    /// address needs it on x86 and ARM64 alike; `dmb ish` on ARM64), then loads `alertable`:
    /// paired with [`Self::prepare_to_sleep`], at least one side sees the other's store.
    #[inline]
    pub fn publish_tail(&self, tail: u32) -> bool {
        self.store_tail(tail);
        fence(Ordering::SeqCst);
        self.load_alertable()
    }

    /// Consumer side, ring empty at `head` after spinning: sets `alertable`, full fence (the
    /// `alertable` store before the `tail` re-load; `dmb ish` on ARM64), re-reads `tail` with
    /// acquire. If the tail moved meanwhile, clears `alertable` (no ordering needed, see
    /// [`Self::store_alertable`]) and reports work.
    #[inline]
    pub fn prepare_to_sleep(&self, head: u32) -> SleepCheck {
        self.store_alertable(true);
        fence(Ordering::SeqCst);
        let tail = self.load_tail();
        if tail != head {
            self.store_alertable(false);
            SleepCheck::Work(tail)
        } else {
            SleepCheck::Sleep
        }
    }

    /// Loads `space_waiting` (v2; v1 rings have none and read as 0). Relaxed: the write-space
    /// handshake adds the fences.
    #[inline]
    pub fn load_space_waiting(&self) -> bool {
        match self.geometry.version() {
            RingVersion::V1 => false,
            RingVersion::V2 => self.mem.load_u32(v2::SPACE_WAITING_FIELD_OFFSET, Ordering::Relaxed).unwrap_or(0) != 0,
        }
    }

    /// Stores `space_waiting` (v2 only; a no-op on v1). Relaxed, as [`Self::load_space_waiting`].
    #[inline]
    pub fn store_space_waiting(&self, waiting: bool) {
        if self.geometry.version() == RingVersion::V2 {
            let _ = self.mem.store_u32(v2::SPACE_WAITING_FIELD_OFFSET, u32::from(waiting), Ordering::Relaxed);
        }
    }

    /// Consumer side of the write-space handshake: releases slots up to `head` and reports
    /// whether the producer waits for space. Release-stores `head`, then a full fence, then loads
    /// `space_waiting`: paired with [`Self::prepare_to_wait_for_space`], at least one side sees
    /// the other's store.
    #[inline]
    pub fn release_head(&self, head: u32) -> bool {
        self.store_head(head);
        fence(Ordering::SeqCst);
        self.load_space_waiting()
    }

    /// Producer side of the write-space handshake, ring too full: sets `space_waiting`, full
    /// fence, re-reads `head` and returns it. The caller checks the space against it and waits
    /// on the write-space event only if it is still short; it clears `space_waiting` once it
    /// stops waiting.
    #[inline]
    pub fn prepare_to_wait_for_space(&self) -> u32 {
        self.store_space_waiting(true);
        fence(Ordering::SeqCst);
        self.load_head()
    }

    /// Byte offset in the window of data-area offset `offset`.
    #[inline]
    fn data_offset(&self, offset: u32) -> usize {
        // data_start <= 128 and offset is at most a u32: the sum fits in usize on 32-bit too for
        // any offset inside a ring (ring_size <= u32::MAX); saturate otherwise so that the bounds
        // check refuses it.
        (self.geometry.data_start() as usize).saturating_add(offset as usize)
    }

    /// Reads the packet header at data-area `slot_offset`, each word once.
    #[inline]
    pub fn read_packet_header(&self, slot_offset: u32) -> PacketHeader {
        let at = self.data_offset(slot_offset);
        match self.geometry.version() {
            RingVersion::V1 => PacketHeader::V1 { size: self.mem.load_u32(at, Ordering::Relaxed).unwrap_or(u32::MAX) },
            RingVersion::V2 => {
                let slot_size = self.mem.load_u32(at, Ordering::Relaxed).unwrap_or(u32::MAX);
                let second =
                    self.mem.load_u32(at.saturating_add(v2::PACKET_DATA_WORD_OFFSET), Ordering::Relaxed).unwrap_or(0);
                PacketHeader::V2 {
                    slot_size,
                    data_offset: (second & 0xFFFF) as u16,
                    data_length: (second >> 16) as u16,
                }
            }
        }
    }

    /// Reads the first word of the packet header at data-area `slot_offset` (v1 `size`, v2
    /// `slot_size`), once; `u32::MAX` if out of bounds.
    #[inline]
    pub fn read_slot_word(&self, slot_offset: u32) -> u32 {
        self.mem.load_u32(self.data_offset(slot_offset), Ordering::Relaxed).unwrap_or(u32::MAX)
    }

    /// Writes the first word of the packet header at data-area `slot_offset` (v1 `size`, v2
    /// `slot_size`; relaxed, published by the tail store).
    #[inline]
    pub fn write_slot_word(&self, slot_offset: u32, word: u32) -> Result<(), OutOfBounds> {
        self.mem.store_u32(self.data_offset(slot_offset), word, Ordering::Relaxed)
    }

    /// Writes a packet header at data-area `slot_offset` (relaxed; published by the tail store).
    #[inline]
    pub fn write_packet_header(&self, slot_offset: u32, header: PacketHeader) -> Result<(), OutOfBounds> {
        let at = self.data_offset(slot_offset);
        match header {
            PacketHeader::V1 { size } => self.mem.store_u32(at, size, Ordering::Relaxed),
            PacketHeader::V2 { slot_size, data_offset, data_length } => {
                let words = RingGeometry::v2_header_words(slot_size, data_offset, data_length);
                self.mem.store_u32(at, words[0], Ordering::Relaxed)?;
                self.mem.store_u32(at.saturating_add(v2::PACKET_DATA_WORD_OFFSET), words[1], Ordering::Relaxed)
            }
        }
    }

    /// Reads the offload metadata block of the slot at data-area `slot_offset`, once (16 bytes
    /// copied into a local). Outside the data area: the all-zero block.
    #[inline]
    pub fn read_offload_meta(&self, slot_offset: u32) -> OffloadMeta {
        let mut bytes = [0u8; OFFLOAD_META_SIZE as usize];
        match self.read_data(slot_offset.wrapping_add(OFFLOAD_META_OFFSET), &mut bytes) {
            Ok(()) => OffloadMeta::from_bytes(bytes),
            Err(_) => OffloadMeta::NONE,
        }
    }

    /// Writes the offload metadata block of the slot at data-area `slot_offset`.
    #[inline]
    pub fn write_offload_meta(&self, slot_offset: u32, meta: &OffloadMeta) -> Result<(), OutOfBounds> {
        self.write_data(slot_offset.wrapping_add(OFFLOAD_META_OFFSET), &meta.to_bytes())
    }

    /// Ones'-complement sum ([`checksum::sum`]) of `len` data-area bytes at `offset`, read once
    /// in local chunks (the bytes may change meanwhile; the sum is of what was read).
    pub fn sum_data(&self, offset: u32, len: usize) -> Result<u64, OutOfBounds> {
        self.check_data(offset, len)?;
        let mut chunk = [0u8; 512];
        let mut total = 0u64;
        let mut done = 0usize;
        while done < len {
            let n = chunk.len().min(len.wrapping_sub(done));
            let (buf, _) = chunk.split_at_mut(n);
            // done < len <= data area size < 2^32: fits in u32.
            self.mem.read(self.data_offset(offset.wrapping_add(done as u32)), buf)?;
            // Each chunk but the last has an even length: word alignment carries over.
            total = total.wrapping_add(checksum::sum(buf));
            done = done.wrapping_add(n);
        }
        Ok(total)
    }

    /// Consumer side: the validated packet at `head` given a `tail` read once.
    #[inline]
    pub fn packet_at(&self, head: u32, tail: u32) -> Result<Option<PacketView>, RingFault> {
        self.geometry.packet_at(head, tail, |slot| self.read_packet_header(slot))
    }

    /// Copies `src` to data-area offset `offset`.
    #[inline]
    pub fn write_data(&self, offset: u32, src: &[u8]) -> Result<(), OutOfBounds> {
        self.check_data(offset, src.len())?;
        self.mem.write(self.data_offset(offset), src)
    }

    /// Copies data-area bytes at `offset` into `dst`.
    #[inline]
    pub fn read_data(&self, offset: u32, dst: &mut [u8]) -> Result<(), OutOfBounds> {
        self.check_data(offset, dst.len())?;
        self.mem.read(self.data_offset(offset), dst)
    }

    /// Sets `len` data-area bytes at `offset` to `byte`.
    pub fn fill_data(&self, offset: u32, len: usize, byte: u8) -> Result<(), OutOfBounds> {
        self.check_data(offset, len)?;
        self.mem.fill(self.data_offset(offset), len, byte)
    }

    /// Pointer to `len` data-area bytes at `offset` (bounds-checked against the data area).
    #[inline]
    pub fn data_ptr(&self, offset: u32, len: usize) -> Result<NonNull<u8>, OutOfBounds> {
        self.check_data(offset, len)?;
        self.mem.ptr_range(self.data_offset(offset), len)
    }

    /// Byte offset from the ring start of data-area `offset`, after a bounds check.
    #[inline]
    pub fn ring_offset_of(&self, offset: u32, len: usize) -> Result<usize, OutOfBounds> {
        self.check_data(offset, len)?;
        Ok(self.data_offset(offset))
    }

    #[inline]
    fn check_data(&self, offset: u32, len: usize) -> Result<(), OutOfBounds> {
        let area = self.geometry.data_area_size() as usize;
        match (offset as usize).checked_add(len) {
            Some(end) if end <= area => Ok(()),
            _ => Err(OutOfBounds { offset: self.data_offset(offset), len }),
        }
    }

    /// Initialises the header of a fresh ring: head = tail = 0, not alertable.
    pub fn reset(&self) {
        self.store_alertable(false);
        let _ = self.mem.store_u32(Self::HEAD_OFFSET, 0, Ordering::Relaxed);
        self.store_tail(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Room;
    use std::vec;
    use std::vec::Vec;

    fn buffer(len: usize) -> Vec<u64> {
        vec![0u64; len.div_ceil(8)]
    }

    #[test]
    fn bounds_are_enforced() {
        let mut buf = buffer(64);
        // SAFETY: `buf` outlives `mem` and is 8-aligned.
        let mem = unsafe { SharedRing::new(buf.as_mut_ptr().cast(), 64, RingVersion::V2) }.unwrap();
        assert_eq!((mem.len(), mem.is_empty(), mem.as_ptr()), (64, false, buf.as_mut_ptr().cast()));
        // SAFETY: an empty window over `buf` (no access is possible through it).
        let empty = unsafe { SharedRing::new(buf.as_mut_ptr().cast(), 0, RingVersion::V2) }.unwrap();
        assert_eq!((empty.len(), empty.is_empty()), (0, true));
        assert_eq!(empty.load_u32(0, Ordering::Relaxed), Err(OutOfBounds { offset: 0, len: 4 }));
        assert!(mem.load_u32(60, Ordering::Relaxed).is_ok());
        assert_eq!(mem.load_u32(61, Ordering::Relaxed), Err(OutOfBounds { offset: 61, len: 4 }));
        assert_eq!(mem.load_u32(62, Ordering::Relaxed), Err(OutOfBounds { offset: 62, len: 4 }));
        assert!(mem.write(60, &[1, 2, 3, 4]).is_ok());
        assert!(mem.write(61, &[1, 2, 3, 4]).is_err());
        assert!(mem.write(usize::MAX, &[1]).is_err());
        let mut out = [0u8; 4];
        mem.read(60, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4]);
        assert!(mem.copy_within(60, 0, 4).is_ok());
        assert_eq!(mem.load_u32(0, Ordering::Relaxed), Ok(u32::from_le_bytes([1, 2, 3, 4])));
        assert!(mem.copy_within(60, 61, 4).is_err());
        // SAFETY: null is refused before use.
        assert!(unsafe { SharedRing::new(core::ptr::null_mut(), 8, RingVersion::V1) }.is_none());
        let base = buf.as_mut_ptr().cast::<u8>();
        // One rule: v1 rings at 4-byte alignment, v2 rings at 8.
        for (offset, v1_ok, v2_ok) in [(0, true, true), (2, false, false), (4, true, false), (6, false, false)] {
            // SAFETY: `buf` outlives the windows; an unaligned base is refused before use.
            let v1 = unsafe { SharedRing::new(base.wrapping_add(offset), 8, RingVersion::V1) };
            // SAFETY: as above.
            let v2 = unsafe { SharedRing::new(base.wrapping_add(offset), 8, RingVersion::V2) };
            assert_eq!((v1.is_some(), v2.is_some()), (v1_ok, v2_ok), "offset {offset}");
        }
    }

    /// The write-space handshake's fields (v2 only: a v1 ring has no `space_waiting`, reads it as
    /// clear and ignores stores), the slot word, the offload block and the data sum, each at
    /// its place and refused outside the data area.
    #[test]
    fn write_space_slot_word_offload_block_and_sum() {
        for g in [RingGeometry::v1(0x20000).unwrap(), RingGeometry::v2(0x20000, Room::new(16, 0)).unwrap()] {
            let size = g.ring_size() as usize;
            let mut buf = buffer(size);
            // SAFETY: `buf` outlives `ring` and is 8-aligned.
            let mem = unsafe { SharedRing::new(buf.as_mut_ptr().cast(), size, g.version()) }.unwrap();
            let ring = Ring::new(mem, g).unwrap();
            // SAFETY: a second window over the same buffer, for the test's raw accesses.
            let mem = unsafe { SharedRing::new(buf.as_mut_ptr().cast(), size, g.version()) }.unwrap();
            let is_v2 = g.version() == RingVersion::V2;
            let field = || mem.load_u32(v2::SPACE_WAITING_FIELD_OFFSET, Ordering::Relaxed).unwrap();
            assert!(!ring.load_space_waiting());
            // The producer's side: sets the flag (v2) and returns head as it is.
            ring.store_head(0x40);
            assert_eq!(ring.prepare_to_wait_for_space(), 0x40);
            assert_eq!(ring.load_space_waiting(), is_v2);
            if is_v2 {
                assert_eq!(field(), 1);
            }
            // The consumer's side: stores head, reports the flag.
            assert_eq!(ring.release_head(0x80), is_v2);
            assert_eq!(ring.load_head(), 0x80);
            ring.store_space_waiting(false);
            assert!(!ring.load_space_waiting());
            assert!(!ring.release_head(0xC0));
            if is_v2 {
                // Any non-zero value is "waiting".
                mem.store_u32(v2::SPACE_WAITING_FIELD_OFFSET, 7, Ordering::Relaxed).unwrap();
                assert!(ring.load_space_waiting());
            }

            // The slot word: the first word of the slot's header, in the data area.
            let area = g.data_area_size();
            ring.write_slot_word(0x100, 0x1234_5678).unwrap();
            assert_eq!(ring.read_slot_word(0x100), 0x1234_5678);
            assert_eq!(mem.load_u32(g.data_start() as usize + 0x100, Ordering::Relaxed), Ok(0x1234_5678));
            assert_eq!(ring.read_slot_word(u32::MAX - 2), u32::MAX);
            assert!(ring.write_slot_word(u32::MAX - 2, 1).is_err());

            // The offload block: 16 bytes at OFFLOAD_META_OFFSET in the slot.
            let meta = OffloadMeta {
                flags: 1,
                gso_type: 1,
                hdr_len: 40,
                gso_size: 1000,
                csum_start: 20,
                csum_offset: 16,
                reserved: [0; 6],
            };
            ring.write_offload_meta(0x200, &meta).unwrap();
            assert_eq!(ring.read_offload_meta(0x200), meta);
            let mut raw = [0u8; OFFLOAD_META_SIZE as usize];
            ring.read_data(0x200 + OFFLOAD_META_OFFSET, &mut raw).unwrap();
            assert_eq!(raw, meta.to_bytes());
            assert_eq!(ring.read_offload_meta(area - 4), OffloadMeta::NONE);
            assert!(ring.write_offload_meta(area - 4, &meta).is_err());

            // The sum of data bytes, over several of its 512-byte chunks and an odd length.
            let bytes: Vec<u8> = (0..1501u32).map(|i| (i * 7 + 1) as u8).collect();
            ring.write_data(0x1000, &bytes).unwrap();
            assert_eq!(ring.sum_data(0x1000, bytes.len()), Ok(checksum::sum(&bytes)));
            assert_eq!(ring.sum_data(0x1000, 512), Ok(checksum::sum(&bytes[..512])));
            assert_eq!(ring.sum_data(0x1000, 0), Ok(0));
            assert!(ring.sum_data(area - 2, 3).is_err());
        }
    }

    /// Data accesses are bounded by the data area, not by the window: a window larger than the
    /// ring (a mapping rounded up to whole pages) gives no access past the trailing room.
    #[test]
    fn data_accesses_stop_at_the_data_area_in_a_larger_window() {
        for g in [RingGeometry::v1(0x20000).unwrap(), RingGeometry::v2(0x20000, Room::new(8, 8)).unwrap()] {
            let window = g.ring_size() as usize + 4096;
            let mut buf = buffer(window);
            // SAFETY: `buf` outlives `ring` and is 8-aligned.
            let mem = unsafe { SharedRing::new(buf.as_mut_ptr().cast(), window, g.version()) }.unwrap();
            let ring = Ring::new(mem, g).unwrap();
            let area = g.data_area_size();
            let start = g.data_start() as usize;
            let refused = |offset: u32, len: usize| OutOfBounds { offset: start + offset as usize, len };
            let beyond = |offset: u32, len: usize| Err(refused(offset, len));

            assert_eq!(ring.write_data(area - 2, &[1, 2]), Ok(()));
            assert_eq!(ring.write_data(area - 2, &[1, 2, 3]), beyond(area - 2, 3));
            assert_eq!(ring.write_data(area, &[]), Ok(()));
            assert_eq!(ring.write_data(area + 1, &[]), beyond(area + 1, 0));
            let mut two = [0u8; 2];
            assert_eq!(ring.read_data(area - 2, &mut two), Ok(()));
            assert_eq!(two, [1, 2]);
            let mut three = [0u8; 3];
            assert_eq!(ring.read_data(area - 2, &mut three), beyond(area - 2, 3));
            assert_eq!(ring.read_data(u32::MAX, &mut two), beyond(u32::MAX, 2));

            assert_eq!(ring.fill_data(area - 4, 4, 0xEE), Ok(()));
            assert_eq!(ring.fill_data(area - 4, 5, 0xEE), beyond(area - 4, 5));
            assert_eq!(ring.fill_data(0, usize::MAX, 0xEE), beyond(0, usize::MAX));
            ring.read_data(area - 4, &mut two).unwrap();
            assert_eq!(two, [0xEE, 0xEE]);
            // Nothing was written past the data area.
            // SAFETY: a read of the test's own buffer after the ring's accesses.
            let bytes = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), window) };
            assert!(bytes[start + area as usize..].iter().all(|&b| b == 0));

            assert_eq!(ring.ring_offset_of(0x10, 4), Ok(start + 0x10));
            assert_eq!(ring.ring_offset_of(area - 4, 4), Ok(start + area as usize - 4));
            assert_eq!(ring.ring_offset_of(area - 4, 5), Err(refused(area - 4, 5)));
            assert_eq!(
                ring.data_ptr(0x10, 4).map(|p| p.as_ptr()),
                Ok(ring.memory().as_ptr().wrapping_add(start + 0x10))
            );
            assert_eq!(ring.data_ptr(area - 4, 5).map(|p| p.as_ptr()), Err(refused(area - 4, 5)));
        }
    }

    #[test]
    fn header_offsets_and_handshake() {
        let g = RingGeometry::v2(0x20000, Room::new(8, 8)).unwrap();
        let mut buf = buffer(g.ring_size() as usize);
        // SAFETY: `buf` outlives `ring`.
        let mem = unsafe { SharedRing::new(buf.as_mut_ptr().cast(), g.ring_size() as usize, g.version()) }.unwrap();
        let ring = Ring::new(mem, g).unwrap();
        ring.store_tail(40);
        ring.store_head(16);
        assert_eq!(ring.memory().load_u32(64, Ordering::Relaxed), Ok(40));
        assert_eq!(ring.memory().load_u32(0, Ordering::Relaxed), Ok(16));
        assert_eq!(ring.prepare_to_sleep(16), SleepCheck::Work(40));
        assert!(!ring.load_alertable());
        assert_eq!(ring.prepare_to_sleep(40), SleepCheck::Sleep);
        assert!(ring.load_alertable());
        assert_eq!(ring.memory().load_u32(4, Ordering::Relaxed), Ok(1));
        assert!(ring.publish_tail(48));
        ring.write_packet_header(8, PacketHeader::V2 { slot_size: 32, data_offset: 9, data_length: 3 }).unwrap();
        assert_eq!(ring.read_packet_header(8), PacketHeader::V2 { slot_size: 32, data_offset: 9, data_length: 3 });
        assert!(ring.write_data(g.data_area_size() - 2, &[1, 2]).is_ok());
        assert!(ring.write_data(g.data_area_size() - 1, &[1, 2]).is_err());
        // v1: Wintun's header, head at 0, tail at 4, alertable at 8, data at 12.
        let g1 = RingGeometry::v1(0x20000).unwrap();
        let mut buf1 = buffer(g1.ring_size() as usize);
        // SAFETY: `buf1` outlives `v1`.
        let mem1 = unsafe { SharedRing::new(buf1.as_mut_ptr().cast(), g1.ring_size() as usize, g1.version()) };
        let v1 = Ring::new(mem1.unwrap(), g1).unwrap();
        v1.store_head(8);
        v1.store_tail(12);
        v1.store_alertable(true);
        v1.write_packet_header(4, PacketHeader::V1 { size: 7 }).unwrap();
        let words: Vec<u32> = (0..5).map(|i| v1.memory().load_u32(4 * i, Ordering::Relaxed).unwrap()).collect();
        assert_eq!(words, [8, 12, 1, 0, 7]);
        assert_eq!((v1.load_head(), v1.load_tail(), v1.read_packet_header(4)), (8, 12, PacketHeader::V1 { size: 7 }));
        // A reset ring: head, tail and alertable all zero again.
        ring.store_alertable(true);
        ring.reset();
        assert_eq!((ring.load_head(), ring.load_tail(), ring.load_alertable()), (0, 0, false));
        assert_eq!(ring.memory().load_u32(4, Ordering::Relaxed), Ok(0));
        // SAFETY: `buf` outlives `too_small`.
        let too_small = unsafe { SharedRing::new(buf.as_mut_ptr().cast(), 64, g.version()) }.unwrap();
        assert!(Ring::new(too_small, g).is_err());
    }
}
