//! Target `send_engine`: the engine's Send path (stack → client) against a hostile client that
//! sets the Send ring's `head` to anything, consumes honestly or not, toggles `alertable` and
//! scribbles on its ring, between batches of packets of any length.
//!
//! Promises, checked after every batch against the spec (section 6.2 and the reservation rule):
//! every packet gets exactly one status; a batch that fits the free space before the `head` the
//! driver last read is sent without reading `head` again; otherwise an invalid `head` drops the
//! batch's valid packets as ring faults and writes nothing; a batch that does not fit whole has
//! its longest prefix of valid packets that fits sent and the valid packets after it dropped as
//! ring full (none sent after a dropped one; nothing written if the prefix is empty); the slots
//! sent land exactly at the old `tail`, each with the packet's bytes, exactly the negotiated head
//! room and at least the tail room, `tail` moves past them and nothing else in the ring changes; the client is signalled as the version requires; the
//! counters add up; at the end the session tears down with `tail = RING_STOPPED` and the next
//! session works.

use ring_abi::{RegistrationFlags, RingGeometry, RingVersion, Room, MAX_HEADROOM, MAX_IP_PACKET_SIZE, MAX_TAILROOM};
use ringtun_driver::engine::TransmitStatus;
use ringtun_driver::host::HostDriver;

use super::rig::{next_session_works, Rig};
use super::{changed_bytes, Input};

const MAX_ACTIONS: usize = 96;

#[derive(Default)]
struct Expected {
    sent: u64,
    full: u64,
    fault: u64,
    invalid: u64,
    signals: u64,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let version = if flags & 1 == 0 { RingVersion::V1 } else { RingVersion::V2 };
    let room = match version {
        RingVersion::V1 => Room::NONE,
        RingVersion::V2 => Room::new(input.u16() % (MAX_HEADROOM + 1), input.u16() % (MAX_TAILROOM + 1)),
    };
    let driver = HostDriver::new_polled();
    let rig = Rig::open(&driver, version, room, Room::NONE, RegistrationFlags::EMPTY);
    let geometry = *rig.send.geometry();
    let mut tail = 0u32;
    // The driver's known head: the last valid `head` it read (none before the first batch).
    let mut known_head = None;
    let mut expected = Expected::default();
    let mut actions = 0;
    while !input.is_empty() && actions < MAX_ACTIONS {
        actions += 1;
        match input.u8() % 8 {
            0..=2 => transmit(&rig, &geometry, &mut input, &mut tail, &mut known_head, &mut expected),
            3 => {
                let raw = input.u32();
                let head = if raw & 1 == 0 { geometry.wrap(raw) & !(geometry.alignment() - 1) } else { raw };
                rig.send.store_head(head);
            }
            4 => consume(&rig, &geometry, &mut input, tail),
            5 => rig.send.store_alertable(input.u8() & 1 != 0),
            _ => {
                let at = input.u32() % geometry.data_area_size();
                let len = usize::from(input.u8());
                let bytes = input.bytes(len);
                let len = bytes.len().min((geometry.data_area_size() - at) as usize);
                rig.send.write_data(at, &bytes[..len]).expect("inside the data area");
            }
        }
        let stats = driver.adapter().stats();
        assert_eq!(stats.send_packets, expected.sent);
        assert_eq!(stats.send_dropped_ring_full, expected.full);
        assert_eq!(stats.send_dropped_ring_fault, expected.fault);
        assert_eq!(stats.send_dropped_invalid, expected.invalid);
        assert_eq!(stats.send_signals, expected.signals);
        assert_eq!(rig.send.load_tail(), tail, "tail");
        assert!(rig.guards_intact(), "bytes written outside a ring");
    }
    rig.close();
    next_session_works(&driver);
}

fn ring_image(rig: &Rig) -> Vec<u8> {
    let mut image = vec![0u8; rig.send.geometry().ring_size() as usize];
    rig.send.memory().read(0, &mut image).expect("the whole ring");
    image
}

fn transmit(
    rig: &Rig,
    geometry: &RingGeometry,
    input: &mut Input<'_>,
    tail: &mut u32,
    known_head: &mut Option<u32>,
    expected: &mut Expected,
) {
    let count = 1 + usize::from(input.u8() % 8);
    let packets: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            let raw = input.u16();
            let len = match raw % 16 {
                0 => 0,
                1 => MAX_IP_PACKET_SIZE as usize + 1,
                2 => usize::from(raw),
                _ => usize::from(raw % 1600),
            };
            let fill = input.u8();
            (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
        })
        .collect();
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    let room = geometry.room();
    let slots: Vec<Option<u32>> = packets
        .iter()
        .map(|p| {
            let len = u32::try_from(p.len()).ok().filter(|&l| l != 0 && l <= MAX_IP_PACKET_SIZE)?;
            geometry.slot_size(len, room)
        })
        .collect();
    let valid = slots.iter().flatten().count() as u64;
    let total: u64 = slots.iter().flatten().map(|&s| u64::from(s)).sum();
    let head = rig.send.load_head();
    let alertable = rig.send.load_alertable();
    let before = ring_image(rig);

    // The rule (docs/ring-protocol.md section 4.1): the whole batch if it fits the known head or,
    // failing that, the head read again; else its longest prefix of valid packets that fits, the
    // valid packets after it refused as the ring being full; a corrupt head refuses them all.
    let fits =
        |head: u32| total < u64::from(geometry.capacity()) && total <= u64::from(geometry.free_space(head, *tail));
    let prefix = |head: u32| {
        let free = u64::from(geometry.free_space(head, *tail));
        let mut bytes = 0u64;
        for (index, slot) in slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            if bytes + u64::from(*slot) > free {
                return index;
            }
            bytes += u64::from(*slot);
        }
        count
    };
    // (a corrupt head, the index of the first packet not reserved)
    let (fault, end) = if valid == 0 || known_head.is_some_and(fits) {
        (false, count)
    } else if geometry.check_head(head).is_err() {
        (true, 0)
    } else {
        *known_head = Some(head);
        if fits(head) {
            (false, count)
        } else {
            (false, prefix(head))
        }
    };
    let statuses = rig.driver.transmit(&refs).expect("every status written exactly once");
    for (index, (status, slot)) in statuses.iter().zip(&slots).enumerate() {
        let want = match slot {
            None => TransmitStatus::Invalid,
            Some(_) if fault => TransmitStatus::RingFault,
            Some(_) if index < end => TransmitStatus::Sent,
            Some(_) => TransmitStatus::RingFull,
        };
        assert_eq!(*status, want, "packet {index} of {count}");
    }
    let reserved = slots[..end].iter().flatten().count() as u64;
    expected.invalid += count as u64 - valid;
    if fault {
        expected.fault += valid;
    } else {
        expected.full += valid - reserved;
    }
    let after = ring_image(rig);
    let area_start = geometry.data_start() as usize;
    if reserved == 0 {
        assert!(before == after, "a dropped or all-invalid batch wrote into the ring");
        return;
    }
    expected.sent += reserved;
    if geometry.version() == RingVersion::V1 || alertable {
        expected.signals += 1;
    }
    // Each reserved slot where the spec puts it, with the packet; nothing else changed.
    let mut touched = vec![false; before.len()];
    let mut at = *tail;
    for (packet, slot) in packets.iter().zip(&slots).take(end) {
        let Some(slot) = *slot else { continue };
        let view = geometry
            .parse_packet(&after[area_start..], at, geometry.advance(at, slot))
            .expect("a valid slot")
            .expect("a packet");
        assert_eq!(view.slot_size, slot);
        assert_eq!(view.data_length as usize, packet.len());
        assert_eq!(view.headroom(), if geometry.version() == RingVersion::V2 { u32::from(room.headroom) } else { 0 });
        assert!(view.tailroom() >= u32::from(room.tailroom));
        let data = area_start + view.data_start() as usize;
        assert_eq!(&after[data..data + packet.len()], &packet[..]);
        touched[area_start + at as usize..area_start + (at + slot) as usize].fill(true);
        at = geometry.advance(at, slot);
    }
    *tail = at;
    let tail_word = match geometry.version() {
        RingVersion::V1 => ring_abi::v1::TAIL_OFFSET,
        RingVersion::V2 => ring_abi::v2::TAIL_OFFSET,
    };
    touched[tail_word..tail_word + 4].fill(true);
    for i in changed_bytes(&before, &after) {
        assert!(touched[i], "byte {i:#x} of the Send ring changed outside the new slots");
    }
}

/// The client consumes up to `n` published slots honestly from a valid head.
fn consume(rig: &Rig, geometry: &RingGeometry, input: &mut Input<'_>, tail: u32) {
    let n = input.u8() % 8;
    let mut head = rig.send.load_head();
    if geometry.check_head(head).is_err() {
        return;
    }
    let area_start = geometry.data_start() as usize;
    let image = ring_image(rig);
    for _ in 0..n {
        match geometry.parse_packet(&image[area_start..], head, tail) {
            Ok(Some(view)) => head = geometry.advance(head, view.slot_size),
            _ => break,
        }
    }
    rig.send.store_head(head);
}
