//! v2 head and tail room: exact on the Send ring, per packet on the Receive ring.

use ring_abi::{RingVersion, Room};
use ringtun::SessionConfig;

use super::common::{session, v2, PATIENCE};
use crate::backend::{Backend, Failure, Outcome};
use crate::packets::{ipv4, ipv6, raw, Rng};
use crate::{ensure, ensure_eq};

/// Every incoming packet has exactly the negotiated head room and at least the tail room (and
/// less than one alignment unit more); the client can write both in place.
pub fn send_ring_room_exact<B: Backend>(b: &B) -> Result<(), Failure> {
    for (h, t) in [(0u16, 0u16), (16, 16), (13, 5), (1, 0), (0, 7), (73, 129), (4096, 4096)] {
        let s = session(b, SessionConfig { incoming_room: Room::new(h, t), ..v2() })?;
        ensure_eq!(s.version(), RingVersion::V2);
        for (i, len) in [1usize, 20, 1499, 1500, 65535].into_iter().enumerate() {
            let p = raw(len, i as u32);
            ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent]);
            let mut got = s.receive_wait(PATIENCE)?.ok_or_else(|| Failure::new("no packet"))?;
            ensure_eq!(got.data(), &p[..], "room {h}/{t} len {len}");
            ensure_eq!(got.view().data_offset, 8 + u32::from(h));
            ensure_eq!(got.headroom_mut().len(), usize::from(h));
            let tail = got.tailroom_mut().len();
            ensure!(tail >= usize::from(t) && tail < usize::from(t) + 8, "room {h}/{t} len {len}: tail room {tail}");
            ensure_eq!(got.view().slot_size % 8, 0);
            // Encapsulate in place: header and trailer around the untouched packet.
            got.headroom_mut().fill(0xE5);
            got.tailroom_mut().fill(0x1C);
            let frame = got.frame_mut().to_vec();
            ensure_eq!(&frame[usize::from(h)..usize::from(h) + len], &p[..]);
            ensure!(frame[..usize::from(h)].iter().all(|&x| x == 0xE5), "head room written");
            ensure!(frame[usize::from(h) + len..].iter().all(|&x| x == 0x1C), "tail room written");
        }
    }
    Ok(())
}

/// Outgoing packets with their own room, moved data start and shrunk length, sent in a random
/// order: delivered in allocation order with exactly the chosen bytes.
pub fn receive_room_and_shrink_any_order<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = session(b, SessionConfig { outgoing_room: Room::new(64, 64), ..v2() })?;
    let mut rng = Rng::new(0x5EED);
    let mut expected = Vec::new();
    let mut slots = Vec::new();
    for i in 0..24u32 {
        let h = rng.range(0, 64) as u16;
        let t = rng.range(0, 64) as u16;
        let inner =
            if i % 2 == 0 { ipv4(rng.range(20, 3000) as usize, i) } else { ipv6(rng.range(41, 3000) as usize, i) };
        // Allocate more than needed, "decrypt" a record into the frame: a type byte (or a few),
        // the packet, padding; then point the data at the packet and cut the rest.
        let prefix = rng.range(0, 9) as usize;
        let extra = rng.range(0, 40) as usize;
        let mut slot = s.allocate(inner.len() + prefix + extra, h, t)?;
        ensure_eq!(slot.headroom(), usize::from(h));
        let start = usize::from(h) + prefix;
        {
            let frame = slot.frame_mut();
            frame.fill(0xAA);
            frame[start..start + inner.len()].copy_from_slice(&inner);
        }
        slot.set_data(start..start + inner.len())?;
        ensure_eq!(slot.len(), inner.len());
        expected.push(inner);
        slots.push(slot);
    }
    // Refusals: room over what was negotiated, a range outside the slot.
    ensure!(matches!(s.allocate(100, 65, 0), Err(ringtun::Error::RoomUnsupported { .. })), "room over the limit");
    ensure!(matches!(slots[0].set_data(0..100_000), Err(ringtun::Error::InvalidRange)), "range outside the slot");
    let mut order: Vec<usize> = (0..slots.len()).collect();
    rng.shuffle(&mut order);
    let mut by_index: Vec<Option<_>> = slots.into_iter().map(Some).collect();
    for (n, &i) in order.iter().enumerate() {
        let slot = by_index[i].take().ok_or_else(|| Failure::new("slot sent twice"))?;
        s.send(slot)?;
        // Nothing may be delivered past the first unsent slot.
        let first_unsent = by_index.iter().position(Option::is_some).unwrap_or(by_index.len());
        if n + 1 < order.len() {
            std::thread::sleep(std::time::Duration::from_micros(50));
            ensure!(
                b.counters().receive_packets as usize <= first_unsent,
                "delivered past an unsent slot ({} > {first_unsent})",
                b.counters().receive_packets
            );
        }
    }
    ensure!(b.wait_delivered(expected.len() as u64, PATIENCE), "not delivered");
    ensure_eq!(b.take_delivered(), expected);
    ensure_eq!(b.counters().receive_dropped_not_ip, 0);
    Ok(())
}
