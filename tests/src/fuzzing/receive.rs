//! Target `receive_engine`: the engine's Receive-ring consumer over a hostile client's ring,
//! driven deterministically on one thread (the host platform's polled mode). The input is a
//! sequence of client and stack actions: honest slots (one packet, or several back to back with
//! RECEIVE_SPLIT, of any kind and room), scribbles anywhere in the data area, any `tail` (also
//! one moved back onto slots the engine still holds),
//! consumer rounds, the stack returning held packets in any order, indication failures.
//!
//! Promises, checked after every action against the independent model in [`super::model`]:
//! each round consumes the same slots and indicates the same packets (offset, length, kind,
//! bytes) as the spec says; every counter matches; `head` is exactly the end of the leading
//! slots whose packets are all back, or `RING_STOPPED` once the ring was found corrupt (the Send
//! ring still works then); the engine never writes the Receive data area nor a byte outside
//! either ring; at the end every indication is back, the session tears down cleanly, and the
//! next session on the adapter works.

use std::sync::atomic::Ordering;

use ring_abi::{
    PacketHeader, RegistrationFlags, RingGeometry, RingVersion, Room, MAX_HEADROOM, MAX_TAILROOM, RING_STOPPED,
};
use ringtun_driver::engine::{ReceivePoll, StatsSnapshot, TransmitStatus};
use ringtun_driver::host::{HostDriver, HostIndication, ReturnMode};
use ringtun_driver::platform::IpKind;

use super::model::{Counters, Indicated, Kind, ReceiveModel, Round};
use super::rig::{next_session_works, Rig};
use super::Input;

/// Most actions per input.
const MAX_ACTIONS: usize = 96;

struct Run<'a> {
    input: Input<'a>,
    rig: Rig,
    geometry: RingGeometry,
    split: bool,
    hold: bool,
    model: ReceiveModel,
    /// Where the honest producer writes next.
    producer_tail: u32,
    /// The data area as the client wrote it (the engine must never change it).
    area: Vec<u8>,
    held: Vec<(HostIndication, u64)>,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let version = if flags & 1 == 0 { RingVersion::V1 } else { RingVersion::V2 };
    let split = version == RingVersion::V2 && flags & 2 != 0;
    let hold = flags & 4 != 0;
    let room = match version {
        RingVersion::V1 => Room::NONE,
        RingVersion::V2 => Room::new(input.u16() % (MAX_HEADROOM + 1), input.u16() % (MAX_TAILROOM + 1)),
    };
    let driver = HostDriver::new_polled();
    driver.stack().set_mode(if hold { ReturnMode::Hold } else { ReturnMode::Immediate });
    let flags = if split { RegistrationFlags::RECEIVE_SPLIT } else { RegistrationFlags::EMPTY };
    let rig = Rig::open(&driver, version, Room::NONE, room, flags);
    let geometry = *rig.receive.geometry();
    let mut run = Run {
        input,
        geometry,
        split,
        hold,
        model: ReceiveModel::new(geometry, split, hold, 0),
        producer_tail: 0,
        area: vec![0u8; geometry.data_area_size() as usize],
        held: Vec::new(),
        rig,
    };
    let mut actions = 0;
    while !run.input.is_empty() && actions < MAX_ACTIONS {
        actions += 1;
        match run.input.u8() % 8 {
            0 | 1 => run.honest_slots(),
            2 => run.hostile_tail(),
            3 => run.scribble(),
            4 | 5 => {
                run.round();
            }
            6 => run.return_some(),
            _ => {
                let n = u64::from(run.input.u8() % 4);
                run.rig.driver.faults().fail_indications.store(n, Ordering::SeqCst);
                run.model.fail_next = n;
            }
        }
        run.check();
    }
    run.finish();
    let driver = run.rig.driver.clone();
    run.rig.close();
    next_session_works(&driver);
}

impl Run<'_> {
    /// Honest slots written at the producer's tail (only into free space), published or not.
    fn honest_slots(&mut self) {
        let count = 1 + self.input.u8() % 4;
        for _ in 0..count {
            let data = self.slot_data();
            let room = self.geometry.room();
            let headroom = self.input.u16() % (room.headroom + 1);
            let tailroom = self.input.u16() % (room.tailroom + 1);
            let Some(slot) = self.geometry.slot_size(data.len() as u32, Room::new(headroom, tailroom)) else {
                return;
            };
            let head = self.rig.receive.load_head();
            if head == RING_STOPPED || self.geometry.free_space(head, self.producer_tail) < slot {
                return;
            }
            let at = self.producer_tail;
            let data_offset = self.geometry.packet_header_size() + u32::from(headroom);
            let header = match self.geometry.version() {
                RingVersion::V1 => PacketHeader::V1 { size: data.len() as u32 },
                RingVersion::V2 => PacketHeader::V2 {
                    slot_size: slot,
                    data_offset: data_offset as u16,
                    data_length: data.len() as u16,
                },
            };
            self.rig.receive.write_packet_header(at, header).expect("slot inside the data area");
            self.rig.receive.write_data(at + data_offset, &data).expect("slot inside the data area");
            self.mirror(at, slot);
            self.producer_tail = self.geometry.advance(at, slot);
        }
        if self.input.u8() & 1 == 0 {
            self.rig.receive.store_tail(self.producer_tail);
        }
    }

    /// One slot's data: one IP packet, several back to back, or anything.
    fn slot_data(&mut self) -> Vec<u8> {
        let packets = if self.split { 1 + usize::from(self.input.u8() % 8) } else { 1 };
        let mut data = Vec::new();
        for _ in 0..packets {
            let kind = self.input.u8();
            let len = usize::from(self.input.u16() % 1600);
            let mut p = vec![kind; len];
            match kind % 4 {
                0 if len >= 20 => {
                    p[0] = 0x45;
                    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                }
                1 if len >= 41 => {
                    p[0] = 0x60;
                    p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
                }
                // Anything: a wrong version, a lying length, a short packet.
                _ => {}
            }
            data.extend_from_slice(&p);
        }
        data.truncate(0xFFFF);
        data
    }

    fn hostile_tail(&mut self) {
        let raw = self.input.u32();
        let aligned = |offset: u32| offset & !(self.geometry.alignment() - 1);
        let tail = match raw % 4 {
            0 | 2 => aligned(self.geometry.wrap(raw)),
            1 => raw,
            // Back from the published tail by up to 4 KiB: onto slots the engine may still hold.
            _ => aligned(self.geometry.wrap(self.rig.receive.load_tail().wrapping_sub((raw >> 2) % 0x1000))),
        };
        self.rig.receive.store_tail(tail);
    }

    fn scribble(&mut self) {
        let at = self.input.u32() % self.geometry.data_area_size();
        let len = usize::from(self.input.u8());
        let bytes = self.input.bytes(len).to_vec();
        let len = bytes.len().min((self.geometry.data_area_size() - at) as usize);
        self.rig.receive.write_data(at, &bytes[..len]).expect("inside the data area");
        self.mirror(at, len as u32);
    }

    /// Copies what the client just wrote into the reference image.
    fn mirror(&mut self, at: u32, len: u32) {
        let range = at as usize..(at + len) as usize;
        self.rig.receive.read_data(at, &mut self.area[range]).expect("inside the data area");
    }

    /// One consumer round, the engine's and the model's, compared.
    fn round(&mut self) -> Round {
        let tail = self.rig.receive.load_tail();
        let mut predicted = Vec::new();
        let want = self.model.round(&self.area, tail, &mut predicted);
        let got = self.rig.driver.poll_receive();
        let same = matches!(
            (want, got),
            (Round::Consumed, ReceivePoll::Consumed)
                | (Round::Empty, ReceivePoll::Empty)
                | (Round::Full, ReceivePoll::Full)
                | (Round::Stopped, ReceivePoll::Stopped)
        );
        assert!(same, "round: model {want:?}, engine {got:?}");
        let delivered = self.rig.driver.stack().take_delivered();
        assert_eq!(delivered.len(), predicted.len(), "indications: {predicted:?}");
        let area_start = self.geometry.data_start() as usize;
        for (d, p) in delivered.iter().zip(&predicted) {
            assert_eq!(d.ring_offset, area_start + p.offset as usize, "{p:?}");
            assert_eq!(d.bytes.len(), p.len as usize);
            assert_eq!(d.bytes[..], self.area[p.offset as usize..(p.offset + p.len) as usize]);
            let kind = match d.kind {
                IpKind::V4 => Kind::V4,
                IpKind::V6 => Kind::V6,
            };
            assert_eq!(kind, p.kind);
        }
        if self.hold {
            let held = self.rig.driver.stack().take_held();
            assert_eq!(held.len(), predicted.len());
            self.held.extend(held.into_iter().zip(predicted.iter().map(|p: &Indicated| p.slot)));
        }
        want
    }

    fn return_some(&mut self) {
        let n = 1 + usize::from(self.input.u8() % 8);
        for _ in 0..n {
            if self.held.is_empty() {
                return;
            }
            let index = usize::from(self.input.u8()) % self.held.len();
            self.give_back(index);
        }
    }

    fn give_back(&mut self, index: usize) {
        let (indication, slot) = self.held.swap_remove(index);
        self.rig.driver.adapter().return_indication(indication.token());
        self.model.returned(slot);
    }

    fn check(&self) {
        assert_eq!(self.rig.receive.load_head(), self.model.head(), "head");
        check_counters(&self.rig.driver.adapter().stats(), &self.model.counters);
        assert!(self.rig.guards_intact(), "bytes written outside a ring");
    }

    /// The stack returns everything; the consumer runs until nothing is left.
    fn finish(&mut self) {
        for _ in 0..1000 {
            while !self.held.is_empty() {
                self.give_back(self.held.len() - 1);
            }
            self.check();
            if self.round() != Round::Consumed && self.held.is_empty() {
                break;
            }
            self.check();
        }
        let session = self.rig.driver.adapter().session().expect("the session is still registered");
        assert_eq!(session.indications_in_flight(), 0);
        let mut area = vec![0u8; self.area.len()];
        self.rig.receive.read_data(0, &mut area).expect("the data area");
        assert!(area == self.area, "the engine wrote into the Receive data area");
        if self.model.stopped() {
            assert_eq!(self.rig.receive.load_head(), RING_STOPPED);
            assert_eq!(self.rig.driver.adapter().stats().receive_ring_faults, 1);
            // A corrupt Receive ring stops only that ring: the Send ring still carries packets.
            let packet = [0x45u8; 20];
            let sent = self.rig.driver.transmit(&[&packet]);
            assert!(matches!(sent.as_deref(), Ok([TransmitStatus::Sent | TransmitStatus::RingFull])), "{sent:?}");
        }
    }
}

fn check_counters(stats: &StatsSnapshot, want: &Counters) {
    let got = Counters {
        packets: stats.receive_packets,
        not_ip: stats.receive_dropped_not_ip,
        no_resources: stats.receive_dropped_no_resources,
        split: stats.receive_dropped_split,
        empty: stats.receive_empty_slots,
        faults: stats.receive_ring_faults,
    };
    assert_eq!(&got, want, "counters");
}
