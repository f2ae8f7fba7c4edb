//! A scriptable network stack for the host platform: it receives indications (and can hold them,
//! return them at once, or let a test return them late, out of order, from any thread), and it
//! injects transmit batches whose per-packet bookkeeping starts out as garbage.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::engine::{SlotWriter, TransmitBatch, TransmitOffload, TransmitStatus};
use crate::host::StackSide;
use crate::platform::{IndicationInfo, IpKind, StackOffloads};

/// What the fake stack does with an indicated packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnMode {
    /// Copy the bytes into the delivered log and return the packet during the indication.
    Immediate,
    /// Copy the bytes into the delivered log and keep the packet until the test returns it.
    Hold,
}

/// A packet indicated to the stack: a window over the client's ring (not a copy), after a header
/// the engine wrote for a packet it cut (most indications have none).
#[derive(Debug)]
pub struct HostIndication {
    pub(crate) token: u64,
    pub(crate) info: IndicationInfo,
    /// The engine's header in front of the ring bytes (`header_len` of them).
    pub(crate) header: [u8; ring_abi::MAX_OFFLOAD_HEADER],
    pub(crate) header_len: u8,
    pub(crate) ptr: *const u8,
    pub(crate) len: u32,
    /// Offset of the packet from the start of the ring memory (proves no copy was made).
    pub(crate) ring_offset: usize,
    /// Keeps the ring memory alive while the stack holds the packet, marks the ring's mapping as
    /// in use and counts the indication as a live platform resource, until it is freed.
    pub(crate) _hold: crate::host::IndicationHold,
}

// SAFETY: `ptr` points into the ring memory that `_hold` keeps alive; it is only read through
// raw copies.
unsafe impl Send for HostIndication {}

impl HostIndication {
    /// The token the engine gave this packet.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// IPv4 or IPv6.
    pub fn kind(&self) -> IpKind {
        self.info.kind
    }

    /// What the engine tells the stack about the packet (checksum state, coalescing).
    pub fn info(&self) -> &IndicationInfo {
        &self.info
    }

    /// The header the engine wrote in front of the ring bytes (empty unless the packet is one
    /// the engine cut or rewrote).
    pub fn header(&self) -> &[u8] {
        self.header.get(..usize::from(self.header_len)).unwrap_or(&[])
    }

    /// Packet length: the header, then the ring bytes.
    pub fn len(&self) -> usize {
        usize::from(self.header_len).wrapping_add(self.len as usize)
    }

    /// Whether the packet is empty (never, for an indication).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Offset of the ring bytes from the start of the ring memory.
    pub fn ring_offset(&self) -> usize {
        self.ring_offset
    }

    /// Length of the part of the packet that is in the ring (after [`Self::header`]).
    pub fn ring_len(&self) -> usize {
        self.len as usize
    }

    /// Address of the first ring byte of the packet (after [`Self::header`]) in the client's ring:
    /// [`Self::ring_len`] bytes there stay allocated while this value lives. The client may write
    /// them concurrently (the memory is shared), so read them only through raw copies (a system
    /// call's `iovec`, [`core::ptr::copy_nonoverlapping`]), never through a Rust reference.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// The packet's bytes: the header, then the ring bytes as they are now.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = std::vec![0u8; self.len()];
        let (head, ring) = out.split_at_mut(usize::from(self.header_len));
        head.copy_from_slice(self.header());
        // SAFETY: the engine checked `[ptr, ptr + len)` lies inside the mapped ring, and
        // `_hold` keeps that memory allocated; `ring` is a separate buffer of `len` bytes.
        unsafe { core::ptr::copy_nonoverlapping(self.ptr, ring.as_mut_ptr(), ring.len()) };
        out
    }
}

/// A packet as the stack saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// IPv4 or IPv6.
    pub kind: IpKind,
    /// The bytes at indication time (the engine's header, if any, then the ring bytes).
    pub bytes: Vec<u8>,
    /// Offset in the ring memory of the indication's ring bytes.
    pub ring_offset: usize,
    /// Bytes of the engine's header in front of the ring bytes.
    pub header_len: usize,
    /// What the stack was told about the packet.
    pub info: IndicationInfo,
}

#[derive(Debug)]
struct StackState {
    mode: ReturnMode,
    held: VecDeque<(Instant, HostIndication)>,
    delivered: Vec<Delivered>,
    delivered_total: u64,
    keep_log: bool,
    link: Vec<bool>,
    indicate_calls: u64,
    /// When the last indication arrived (taken on the indicating thread).
    last_accept: Option<Instant>,
    /// The offloads this stack claims to take.
    offloads: StackOffloads,
}

/// The fake stack.
#[derive(Debug)]
pub struct FakeStack {
    state: Mutex<StackState>,
    changed: Condvar,
}

impl Default for FakeStack {
    fn default() -> Self {
        Self {
            state: Mutex::new(StackState {
                mode: ReturnMode::Immediate,
                held: VecDeque::new(),
                delivered: Vec::new(),
                delivered_total: 0,
                keep_log: true,
                link: Vec::new(),
                indicate_calls: 0,
                last_accept: None,
                offloads: StackOffloads::default(),
            }),
            changed: Condvar::new(),
        }
    }
}

impl FakeStack {
    fn state(&self) -> MutexGuard<'_, StackState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets what happens to indicated packets from now on.
    pub fn set_mode(&self, mode: ReturnMode) {
        self.state().mode = mode;
    }

    /// Sets the offloads this stack claims to take on indicated packets (none by default).
    pub fn set_offloads(&self, offloads: StackOffloads) {
        self.state().offloads = offloads;
    }

    /// Whether delivered bytes are logged (turn off for throughput runs).
    pub fn set_logging(&self, keep: bool) {
        self.state().keep_log = keep;
    }

    fn record(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64> {
        let mut state = self.state();
        state.indicate_calls += 1;
        state.last_accept = Some(Instant::now());
        let mut immediate = Vec::with_capacity(batch.size_hint().0);
        for indication in batch {
            state.delivered_total += 1;
            if state.keep_log {
                let delivered = Delivered {
                    kind: indication.info.kind,
                    bytes: indication.bytes(),
                    ring_offset: indication.ring_offset,
                    header_len: usize::from(indication.header_len),
                    info: indication.info,
                };
                state.delivered.push(delivered);
            }
            match state.mode {
                ReturnMode::Immediate => immediate.push(indication.token),
                ReturnMode::Hold => state.held.push_back((Instant::now(), indication)),
            }
        }
        self.changed.notify_all();
        immediate
    }

    /// Every link state indicated so far, in order.
    pub fn link_history(&self) -> Vec<bool> {
        self.state().link.clone()
    }

    /// Takes every held packet (to return later, in any order).
    pub fn take_held(&self) -> Vec<HostIndication> {
        self.state().held.drain(..).map(|(_, i)| i).collect()
    }

    /// Takes the held packets indicated more than `age` ago (a test harness's safety net).
    pub fn take_held_older_than(&self, age: Duration) -> Vec<HostIndication> {
        let mut state = self.state();
        let now = Instant::now();
        let (old, young): (Vec<_>, Vec<_>) = state.held.drain(..).partition(|(at, _)| now.duration_since(*at) > age);
        state.held = young.into();
        old.into_iter().map(|(_, i)| i).collect()
    }

    /// Number of packets held now.
    pub fn held_count(&self) -> usize {
        self.state().held.len()
    }

    /// Takes the delivered log.
    pub fn take_delivered(&self) -> Vec<Delivered> {
        std::mem::take(&mut self.state().delivered)
    }

    /// Packets delivered since the start (logged or not).
    pub fn delivered_total(&self) -> u64 {
        self.state().delivered_total
    }

    /// When the stack last received an indication (the time the indicating thread handed it
    /// over, not when a waiter woke up to look).
    pub fn last_accept(&self) -> Option<Instant> {
        self.state().last_accept
    }

    /// Number of indicate calls so far.
    pub fn indicate_calls(&self) -> u64 {
        self.state().indicate_calls
    }

    /// Waits until at least `n` packets were delivered in total; `false` on timeout.
    pub fn wait_delivered(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.delivered_total < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Waits until at least `n` packets are held; `false` on timeout.
    pub fn wait_held(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.held.len() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

impl StackSide for FakeStack {
    /// Records indicated packets; returns the tokens to return at once.
    fn accept(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64> {
        self.record(batch)
    }

    fn link_changed(&self, up: bool) {
        self.state().link.push(up);
        self.changed.notify_all();
    }

    fn offloads(&self) -> StackOffloads {
        self.state().offloads
    }
}

/// Status bytes of a fresh batch: garbage, like uninitialised NBL bookkeeping.
const GARBAGE: u8 = 0xA5;

/// A transmit batch as the host stack hands it to the engine.
pub struct HostTransmitBatch<'a> {
    packets: &'a [&'a [u8]],
    /// What the stack asks of each packet (missing entries: nothing).
    offloads: &'a [TransmitOffload],
    statuses: Vec<u8>,
    status_writes: Vec<u32>,
}

impl<'a> HostTransmitBatch<'a> {
    /// A batch over `packets`, every status byte garbage.
    pub fn new(packets: &'a [&'a [u8]]) -> Self {
        Self::with_offloads(packets, &[])
    }

    /// A batch over `packets` whose `i`-th packet comes with the request `offloads[i]` (a large
    /// send, a checksum left to the adapter), like an NBL's offload information.
    pub fn with_offloads(packets: &'a [&'a [u8]], offloads: &'a [TransmitOffload]) -> Self {
        Self {
            packets,
            offloads,
            statuses: std::vec![GARBAGE; packets.len()],
            status_writes: std::vec![0; packets.len()],
        }
    }

    /// The statuses, or the index of the first packet whose status was never written (or
    /// written more than once).
    pub fn statuses(&self) -> Result<Vec<TransmitStatus>, usize> {
        self.statuses
            .iter()
            .zip(&self.status_writes)
            .enumerate()
            .map(|(i, (&code, &writes))| if writes == 1 { decode(code).ok_or(i) } else { Err(i) })
            .collect()
    }
}

fn encode(status: TransmitStatus) -> u8 {
    match status {
        TransmitStatus::Sent => 0,
        TransmitStatus::RingFull => 1,
        TransmitStatus::NotRunning => 2,
        TransmitStatus::Invalid => 3,
        TransmitStatus::RingFault => 4,
        TransmitStatus::Paused => 5,
        TransmitStatus::OffloadOff => 6,
    }
}

fn decode(code: u8) -> Option<TransmitStatus> {
    Some(match code {
        0 => TransmitStatus::Sent,
        1 => TransmitStatus::RingFull,
        2 => TransmitStatus::NotRunning,
        3 => TransmitStatus::Invalid,
        4 => TransmitStatus::RingFault,
        5 => TransmitStatus::Paused,
        6 => TransmitStatus::OffloadOff,
        _ => return None,
    })
}

impl TransmitBatch for HostTransmitBatch<'_> {
    fn packet_count(&self) -> usize {
        self.packets.len()
    }

    fn packet_len(&self, index: usize) -> usize {
        self.packets.get(index).map_or(0, |p| p.len())
    }

    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool {
        match self.packets.get(index) {
            // Copied in two pieces, like a NET_BUFFER spanning two MDLs.
            Some(p) => {
                let (first, second) = p.split_at(p.len() / 2);
                slot.write(0, first) && slot.write(first.len(), second)
            }
            None => false,
        }
    }

    fn set_status(&mut self, index: usize, status: TransmitStatus) {
        if let (Some(s), Some(w)) = (self.statuses.get_mut(index), self.status_writes.get_mut(index)) {
            *s = encode(status);
            *w += 1;
        }
    }

    fn packet_offload(&self, index: usize) -> TransmitOffload {
        self.offloads.get(index).copied().unwrap_or_default()
    }

    fn read_prefix(&self, index: usize, dst: &mut [u8]) -> usize {
        let Some(p) = self.packets.get(index) else { return 0 };
        let n = dst.len().min(p.len());
        match (dst.get_mut(..n), p.get(..n)) {
            (Some(d), Some(s)) => {
                d.copy_from_slice(s);
                n
            }
            _ => 0,
        }
    }
}
