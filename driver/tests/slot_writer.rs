//! The `SlotWriter` a shell copies each sent packet through: it reports the packet's length, is
//! never empty, and refuses any write that would run past the packet (into the tail room, the
//! next slot, or around the address space), leaving those bytes untouched.

// Test code on the host: the process heap, not the kernel pool, so the crate's allocation
// rules (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};

use ringtun_driver::engine::{SlotWriter, TransmitBatch, TransmitStatus};
use ringtun_driver::host::{HostDriver, RingAllocation};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, Ring, RingGeometry, Room, SharedRing, IOCTL_REGISTER_RINGS, MIN_RING_CAPACITY,
};
use zerocopy::IntoBytes;

/// A batch whose copies probe the writer before copying the packet.
struct Probing {
    packets: Vec<Vec<u8>>,
    /// (len, is_empty, writes past the end refused, empty write at the end accepted) per copy.
    seen: Mutex<Vec<(usize, bool, bool, bool)>>,
    statuses: Vec<Option<TransmitStatus>>,
}

impl TransmitBatch for Probing {
    fn packet_count(&self) -> usize {
        self.packets.len()
    }

    fn packet_len(&self, index: usize) -> usize {
        self.packets[index].len()
    }

    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool {
        let packet = &self.packets[index];
        let len = packet.len();
        let past_end_refused = !slot.write(1, packet)
            && !slot.write(len, &[0xEE])
            && !slot.write(len - 1, &[0xEE, 0xEE])
            && !slot.write(usize::MAX, &[0xEE])
            && !slot.write(usize::MAX - 1, &[0xEE, 0xEE, 0xEE]);
        let empty_at_end = slot.write(len, &[]);
        self.seen.lock().unwrap().push((slot.len(), slot.is_empty(), past_end_refused, empty_at_end));
        slot.write(0, &packet[..len / 3]) && slot.write(len / 3, &packet[len / 3..])
    }

    fn set_status(&mut self, index: usize, status: TransmitStatus) {
        self.statuses[index] = Some(status);
    }
}

#[test]
fn slot_writer_is_bounded_by_the_packet() {
    let driver = HostDriver::new_polled();
    let room = Room::new(16, 24);
    let geometry = RingGeometry::v2(MIN_RING_CAPACITY, room).unwrap();
    let size = geometry.ring_size();
    let memory: [Arc<RingAllocation>; 2] = [0, 1].map(|_| driver.kernel().alloc_ring(size as usize).unwrap());
    let events = [0, 1].map(|_| driver.kernel().create_event(true, false).0);
    let desc = |i: usize| RingDescV2 {
        ring_size: size,
        headroom: room.headroom,
        tailroom: room.tailroom,
        ring_ptr: memory[i].as_ptr() as u64,
        tail_moved_event: events[i],
    };
    let input = RegistrationV2 { version: 2, flags: 0, send: desc(0), receive: desc(1) };
    let file = driver.open(4, CallerBitness::Bits64);
    driver.ioctl(&file, IOCTL_REGISTER_RINGS, input.as_bytes(), &mut []).unwrap();
    // SAFETY: the allocation outlives the ring (both live until the end of the test).
    let shared = unsafe { SharedRing::new(memory[0].as_ptr(), size as usize, geometry.version()) }.unwrap();
    let send = Ring::new(shared, geometry).unwrap();

    let packets: Vec<Vec<u8>> = [1usize, 20, 1500].iter().map(|&n| (0..n).map(|i| 0x45 ^ i as u8).collect()).collect();
    let mut batch = Probing { statuses: vec![None; packets.len()], packets, seen: Mutex::new(Vec::new()) };
    driver.adapter().transmit(&mut batch);
    assert_eq!(batch.statuses, vec![Some(TransmitStatus::Sent); 3]);
    let seen = batch.seen.lock().unwrap().clone();
    assert_eq!(seen, vec![(1, false, true, true), (20, false, true, true), (1500, false, true, true)]);

    // Each slot holds exactly its packet; the tail room after it is still zero.
    let mut at = 0;
    for packet in &batch.packets {
        let view = send.packet_at(at, send.load_tail()).unwrap().unwrap();
        let mut bytes = vec![0u8; view.slot_size as usize - view.data_offset as usize];
        send.read_data(view.data_start(), &mut bytes).unwrap();
        let (data, tail_room) = bytes.split_at(packet.len());
        assert_eq!(data, &packet[..]);
        assert!(tail_room.len() >= 24 && tail_room.iter().all(|&b| b == 0), "a write landed past the packet");
        at = geometry.advance(at, view.slot_size);
    }
    driver.close(file);
}
