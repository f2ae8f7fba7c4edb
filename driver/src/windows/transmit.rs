//! A chain of NBLs from `MiniportSendNetBufferLists` as engine transmit batches.
//!
//! The chain's NET_BUFFERs are handed to the engine in batches of up to [`TRANSMIT_BATCH`]
//! packets (an array on the stack, no allocation); each packet's bytes are copied out of its MDL
//! chain into the slot the engine reserved, and its NBL's checksum, LSO and USO information is
//! the packet's offload request ([`super::offload::transmit_offload`]). Every NBL is then
//! completed with the first failure among its NET_BUFFERs, or success, an LSO NBL (v1 or v2)
//! with its completion information ([`super::offload::lso_completion`]).

use core::ptr::{self, NonNull};

use super::kernel::system_address;
use super::ndis::*;
use super::offload::{lso_completion, transmit_offload};
use super::platform::KernelPlatform;
use crate::engine::{Adapter, SlotWriter, TransmitBatch, TransmitOffload, TransmitStatus};

/// Packets per engine call: large enough to amortize the engine's per-batch lock, small enough
/// for a kernel stack (2 pointers each: 1 KiB on 64-bit targets).
pub const TRANSMIT_BATCH: usize = 64;

/// The NDIS status a packet's NBL completes with.
pub fn ndis_status(status: TransmitStatus) -> NDIS_STATUS {
    match status {
        TransmitStatus::Sent => NDIS_STATUS_SUCCESS,
        TransmitStatus::RingFull => NDIS_STATUS_RESOURCES,
        TransmitStatus::Paused => NDIS_STATUS_PAUSED,
        TransmitStatus::NotRunning => NDIS_STATUS_MEDIA_DISCONNECTED,
        TransmitStatus::Invalid => NDIS_STATUS_INVALID_LENGTH,
        TransmitStatus::RingFault => NDIS_STATUS_ADAPTER_NOT_READY,
        TransmitStatus::OffloadOff => NDIS_STATUS_FAILURE,
    }
}

struct NetBufferBatch {
    buffers: [*mut NET_BUFFER; TRANSMIT_BATCH],
    owners: [*mut NET_BUFFER_LIST; TRANSMIT_BATCH],
    len: usize,
    /// USO is offered: the NBLs' `UdpSegmentationOffloadInfo` is read.
    uso: bool,
}

impl NetBufferBatch {
    fn buffer(&self, index: usize) -> Option<NonNull<NET_BUFFER>> {
        self.buffers.get(..self.len)?.get(index).copied().and_then(NonNull::new)
    }

    fn owner(&self, index: usize) -> Option<NonNull<NET_BUFFER_LIST>> {
        self.owners.get(..self.len)?.get(index).copied().and_then(NonNull::new)
    }
}

/// Passes the first `len` bytes of a NET_BUFFER's data, in order, to `take` (the offset of each
/// piece in the packet and its bytes); `false` if the MDL chain ends first, a page cannot be
/// mapped, or `take` refuses a piece.
///
/// # Safety
/// `nb` is a NET_BUFFER NDIS handed the miniport, valid until completion, whose MDL chain
/// describes at least DataLength bytes from CurrentMdl + CurrentMdlOffset (NDIS's invariant),
/// mapped or mappable; `len` is at most its DataLength.
unsafe fn walk_data(nb: &NET_BUFFER, len: usize, mut take: impl FnMut(usize, &[u8]) -> bool) -> bool {
    let mut remaining = len;
    let mut written = 0usize;
    let mut mdl = nb.CurrentMdl;
    let mut skip = nb.CurrentMdlOffset as usize;
    while remaining != 0 {
        if mdl.is_null() {
            return false;
        }
        // SAFETY: an MDL of the chain (contract).
        let byte_count = unsafe { (*mdl).ByteCount } as usize;
        if skip < byte_count {
            // SAFETY: as above; the pages are locked (NDIS's MDLs) and mappable.
            let Some(base) = (unsafe { system_address(mdl) }) else { return false };
            let piece = (byte_count - skip).min(remaining);
            // SAFETY: `base + skip .. + piece` lies inside the MDL's mapped bytes.
            let bytes = unsafe { core::slice::from_raw_parts(base.as_ptr().add(skip), piece) };
            if !take(written, bytes) {
                return false;
            }
            written += piece;
            remaining -= piece;
            skip = 0;
        } else {
            skip -= byte_count;
        }
        // SAFETY: as above.
        mdl = unsafe { (*mdl).Next };
    }
    true
}

impl TransmitBatch for NetBufferBatch {
    fn packet_count(&self) -> usize {
        self.len
    }

    fn packet_len(&self, index: usize) -> usize {
        // SAFETY: NET_BUFFERs of a chain NDIS handed us, valid until completion.
        self.buffer(index).map_or(0, |nb| unsafe { nb.as_ref().DataLength } as u32 as usize)
    }

    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool {
        let Some(nb) = self.buffer(index) else { return false };
        let len = slot.len();
        // SAFETY: a NET_BUFFER of the chain, valid until completion; the slot's length is the
        // packet's (`packet_len`), so at most its DataLength.
        unsafe { walk_data(nb.as_ref(), len, |at, bytes| slot.write(at, bytes)) }
    }

    fn packet_offload(&self, index: usize) -> TransmitOffload {
        let Some(owner) = self.owner(index) else { return TransmitOffload::default() };
        // SAFETY: the owning NBL of a NET_BUFFER in the chain, valid until completion; its
        // information entries are read, not written.
        let info = unsafe { &owner.as_ref().NetBufferListInfo };
        transmit_offload(info, self.uso)
    }

    fn read_prefix(&self, index: usize, dst: &mut [u8]) -> usize {
        let Some(nb) = self.buffer(index) else { return 0 };
        let len = dst.len().min(self.packet_len(index));
        // SAFETY: as in `copy_packet`; `len` is at most DataLength.
        let read = unsafe {
            walk_data(nb.as_ref(), len, |at, bytes| {
                dst.get_mut(at..at + bytes.len()).map(|d| d.copy_from_slice(bytes)).is_some()
            })
        };
        if read {
            len
        } else {
            0
        }
    }

    fn set_status(&mut self, index: usize, status: TransmitStatus) {
        if status == TransmitStatus::Sent {
            return;
        }
        let Some(&owner) = self.owners.get(..self.len).and_then(|o| o.get(index)) else { return };
        if owner.is_null() {
            return;
        }
        // SAFETY: the owning NBL of a NET_BUFFER in the chain; only the first failure is kept.
        unsafe {
            if (*owner).Status == NDIS_STATUS_SUCCESS {
                (*owner).Status = ndis_status(status);
            }
        }
    }
}

/// Sends a chain through the engine and completes every NBL in it.
///
/// # Safety
/// `chain` is an NBL chain NDIS handed to `MiniportSendNetBufferLists`, owned by the miniport
/// until completed; `send_flags` are that call's flags.
pub unsafe fn transmit_chain(adapter: &Adapter<KernelPlatform>, chain: *mut NET_BUFFER_LIST, send_flags: u32) {
    let mut batch = NetBufferBatch {
        buffers: [ptr::null_mut(); TRANSMIT_BATCH],
        owners: [ptr::null_mut(); TRANSMIT_BATCH],
        len: 0,
        uso: adapter.platform().uso(),
    };
    let mut nbl = chain;
    while !nbl.is_null() {
        // SAFETY: NBLs and NET_BUFFERs of the chain are ours until completion (contract).
        unsafe {
            (*nbl).Status = NDIS_STATUS_SUCCESS;
            let mut nb = (*nbl).FirstNetBuffer;
            while !nb.is_null() {
                if let (Some(b), Some(o)) = (batch.buffers.get_mut(batch.len), batch.owners.get_mut(batch.len)) {
                    *b = nb;
                    *o = nbl;
                    batch.len += 1;
                }
                if batch.len == TRANSMIT_BATCH {
                    adapter.transmit(&mut batch);
                    batch.len = 0;
                }
                nb = (*nb).Next;
            }
            nbl = (*nbl).Next;
        }
    }
    if batch.len != 0 {
        adapter.transmit(&mut batch);
    }
    // An LSO NBL (v1 or v2) goes back with its completion information, written read-modify-write
    // (`lso_completion`) before the chain is completed: NDIS requires it of the miniport whatever
    // the status (LSOv2: `Reserved` zero; LSOv1: `TcpPayload`, the payload bytes sent, 0 for an NBL
    // that failed). An NBL without LSO information is left as it is.
    let mut nbl = chain;
    while !nbl.is_null() {
        // SAFETY: the NBLs of the chain are ours until completed just below.
        unsafe {
            let entry = &mut (*nbl).NetBufferListInfo[TcpLargeSendNetBufferListInfo];
            *entry = lso_completion(*entry);
            nbl = (*nbl).Next;
        }
    }
    let complete_flags =
        if send_flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL != 0 { NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL } else { 0 };
    if !chain.is_null() {
        // SAFETY: every NBL has its status; the chain goes back to NDIS unchanged otherwise.
        unsafe { NdisMSendNetBufferListsComplete(adapter.platform().miniport(), chain, complete_flags) };
    }
}
