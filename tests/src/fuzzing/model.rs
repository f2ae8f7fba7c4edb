//! An independent model of the spec's Receive-ring consumer (sections 6 and 7 of
//! `docs/ring-protocol.md`), written from the spec rather than from the engine: whether the
//! `tail` read is honest (in range, aligned, not moved back among the slots still held), which
//! slots a round consumes, what each becomes (indication, or a drop under which counter), and where
//! `head` is released to. The receive target runs it next to the engine over the same ring image
//! and compares every indication, every counter and `head` after every step.

use std::collections::VecDeque;

use ring_abi::{PacketView, RingGeometry, RingVersion, RING_STOPPED};

/// Most slots per round and packets per round (the engine's published limits).
pub use ringtun_driver::engine::receive::{MAX_SLOTS_IN_FLIGHT, RECEIVE_BATCH_PACKETS, RECEIVE_BATCH_SLOTS};

/// What one IP packet of a slot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// IPv4 (version 4, at least 20 bytes).
    V4,
    /// IPv6 (version 6, at least 40 bytes).
    V6,
}

/// Section 6.2: a whole slot's data as one packet.
pub fn classify(data: &[u8]) -> Option<Kind> {
    match data.first().map(|b| b >> 4) {
        Some(4) if data.len() >= 20 => Some(Kind::V4),
        Some(6) if data.len() >= 40 => Some(Kind::V6),
        _ => None,
    }
}

/// Section 7: the next split packet at the start of `rest`: its kind and length, or `None` when
/// the rest of the slot is dropped.
pub fn split_next(rest: &[u8]) -> Option<(Kind, usize)> {
    let header = rest.get(..8)?;
    let (kind, len) = match header[0] >> 4 {
        4 => {
            let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
            (total >= 20).then_some((Kind::V4, total))?
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes([header[4], header[5]]));
            (payload != 0).then_some((Kind::V6, 40 + payload))?
        }
        _ => return None,
    };
    (len <= rest.len()).then_some((kind, len))
}

/// Every packet of a split slot's data, and whether the rest was dropped.
pub fn split_all(data: &[u8]) -> (Vec<(usize, usize, Kind)>, bool) {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        match split_next(&data[offset..]) {
            Some((kind, len)) => {
                out.push((offset, len, kind));
                offset += len;
            }
            None => return (out, true),
        }
    }
    (out, false)
}

/// The counters the model predicts (the engine's receive counters of the same names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// `receive_packets`.
    pub packets: u64,
    /// `receive_dropped_not_ip`.
    pub not_ip: u64,
    /// `receive_dropped_no_resources`.
    pub no_resources: u64,
    /// `receive_dropped_split`.
    pub split: u64,
    /// `receive_empty_slots`.
    pub empty: u64,
    /// `receive_ring_faults`.
    pub faults: u64,
}

/// One indicated packet: its slot, its offset in the data area, its length and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Indicated {
    /// The model's slot id.
    pub slot: u64,
    /// Offset of the packet in the data area.
    pub offset: u32,
    /// Length.
    pub len: u32,
    /// IPv4 or IPv6.
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    id: u64,
    next_head: u32,
    pending: u32,
    open: bool,
}

/// What a model round did (the engine's `ReceivePoll` of the same step must agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Consumed (maybe nothing indicated).
    Consumed,
    /// Nothing published.
    Empty,
    /// Too many slots in flight.
    Full,
    /// Stopped (corrupt now or before).
    Stopped,
}

/// The consumer as the spec describes it.
#[derive(Debug)]
pub struct ReceiveModel {
    geometry: RingGeometry,
    split: bool,
    /// Packets the stack holds until returned (else returned at once).
    hold: bool,
    cursor: u32,
    partial: Option<(PacketView, u32, u64)>,
    slots: VecDeque<Slot>,
    next_id: u64,
    released_head: u32,
    stopped: bool,
    /// Indications that will fail (no resources) before the next succeeds.
    pub fail_next: u64,
    /// Predicted counters.
    pub counters: Counters,
}

impl ReceiveModel {
    /// A consumer starting at `head`.
    pub fn new(geometry: RingGeometry, split: bool, hold: bool, head: u32) -> Self {
        Self {
            geometry,
            split,
            hold,
            cursor: head,
            partial: None,
            slots: VecDeque::new(),
            next_id: 0,
            released_head: head,
            stopped: false,
            fail_next: 0,
            counters: Counters::default(),
        }
    }

    /// The `head` the client must see.
    pub fn head(&self) -> u32 {
        if self.stopped {
            RING_STOPPED
        } else {
            self.released_head
        }
    }

    /// Whether the ring was found corrupt.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// One consumer round over the data area image `area` with the published `tail`.
    pub fn round(&mut self, area: &[u8], tail: u32, out: &mut Vec<Indicated>) -> Round {
        if self.stopped {
            return Round::Stopped;
        }
        if self.partial.is_none() && self.slots.len() > MAX_SLOTS_IN_FLIGHT - RECEIVE_BATCH_SLOTS {
            return Round::Full;
        }
        if tail == self.cursor && self.partial.is_none() {
            return Round::Empty;
        }
        // Section 6.1 rule 1, on every tail read (also in a round that only carries on a split
        // slot): in range, aligned, and not among the slots still held (from the released head
        // up to the cursor).
        if !self.tail_is_honest(tail) {
            self.counters.faults += 1;
            self.stopped = true;
            return Round::Stopped;
        }
        let start = out.len();
        // A round that carries on a split slot reads no new slot.
        let carried = self.partial.is_some();
        if let Some((view, offset, id)) = self.partial.take() {
            let (n, resume) = self.split_from(area, &view, offset, id, out, start);
            if let Some(slot) = self.slots.iter_mut().find(|s| s.id == id) {
                slot.pending += if self.hold { n } else { 0 };
                slot.open = resume.is_some();
            }
            if let Some(offset) = resume {
                self.partial = Some((view, offset, id));
            }
        }
        let mut consumed = 0;
        while !carried
            && self.partial.is_none()
            && consumed < RECEIVE_BATCH_SLOTS
            && out.len() - start < RECEIVE_BATCH_PACKETS
        {
            match self.geometry.parse_packet(area, self.cursor, tail) {
                Ok(None) => break,
                Ok(Some(view)) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let (n, resume) = self.slot(area, &view, id, out, start);
                    if let Some(offset) = resume {
                        self.partial = Some((view, offset, id));
                    }
                    let next_head = self.geometry.advance(self.cursor, view.slot_size);
                    let pending = if self.hold { n } else { 0 };
                    self.slots.push_back(Slot { id, next_head, pending, open: resume.is_some() });
                    self.cursor = next_head;
                    consumed += 1;
                }
                Err(_) => {
                    self.counters.faults += 1;
                    self.stopped = true;
                    break;
                }
            }
        }
        self.release();
        if self.stopped {
            Round::Stopped
        } else {
            Round::Consumed
        }
    }

    /// Whether `tail` lies from the cursor up to, not including, the released head (any tail
    /// while nothing is held), measured forward from the released head around the ring.
    fn tail_is_honest(&self, tail: u32) -> bool {
        let capacity = self.geometry.capacity();
        if tail >= capacity || !tail.is_multiple_of(self.geometry.alignment()) {
            return false;
        }
        let from_released = |offset: u32| (offset + capacity - self.released_head) % capacity;
        from_released(tail) >= from_released(self.cursor)
    }

    /// The stack returned one packet of slot `id`.
    pub fn returned(&mut self, id: u64) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.id == id) {
            assert!(slot.pending > 0, "model: return of a slot with nothing pending");
            slot.pending -= 1;
        }
        self.release();
    }

    fn release(&mut self) {
        while self.slots.front().is_some_and(|s| s.pending == 0 && !s.open) {
            if let Some(slot) = self.slots.pop_front() {
                self.released_head = slot.next_head;
            }
        }
    }

    fn data<'a>(area: &'a [u8], view: &PacketView) -> &'a [u8] {
        let start = view.data_start() as usize;
        &area[start..start + view.data_length as usize]
    }

    fn slot(
        &mut self,
        area: &[u8],
        view: &PacketView,
        id: u64,
        out: &mut Vec<Indicated>,
        start: usize,
    ) -> (u32, Option<u32>) {
        if view.data_length == 0 && self.geometry.version() == RingVersion::V2 {
            self.counters.empty += 1;
            return (0, None);
        }
        if self.split {
            return self.split_from(area, view, 0, id, out, start);
        }
        match classify(Self::data(area, view)) {
            Some(kind) => (u32::from(self.indicate(out, id, view.data_start(), view.data_length, kind)), None),
            None => {
                self.counters.not_ip += 1;
                (0, None)
            }
        }
    }

    fn split_from(
        &mut self,
        area: &[u8],
        view: &PacketView,
        mut offset: u32,
        id: u64,
        out: &mut Vec<Indicated>,
        start: usize,
    ) -> (u32, Option<u32>) {
        let data = Self::data(area, view);
        let mut n = 0;
        while (offset as usize) < data.len() {
            if out.len() - start >= RECEIVE_BATCH_PACKETS {
                return (n, Some(offset));
            }
            match split_next(&data[offset as usize..]) {
                Some((kind, len)) => {
                    let len = len as u32;
                    if self.indicate(out, id, view.data_start() + offset, len, kind) {
                        n += 1;
                    }
                    offset += len;
                }
                None => {
                    self.counters.split += 1;
                    break;
                }
            }
        }
        (n, None)
    }

    fn indicate(&mut self, out: &mut Vec<Indicated>, slot: u64, offset: u32, len: u32, kind: Kind) -> bool {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            self.counters.no_resources += 1;
            return false;
        }
        self.counters.packets += 1;
        out.push(Indicated { slot, offset, len, kind });
        true
    }
}
