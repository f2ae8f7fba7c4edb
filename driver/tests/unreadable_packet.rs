//! A packet whose bytes cannot be read (an MDL chain shorter than the packet, a mapping that
//! fails) still occupies the slot the Send path reserved for it. The client must be able to step
//! over it: v2 publishes the slot empty, v1 (where the length is also the slot size) keeps the
//! length and zeroes the bytes. Either way the packets behind it arrive intact.

// Test code on the host: the process heap, not the kernel pool, so the crate's allocation
// rules (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

use ringtun_driver::engine::{SlotWriter, TransmitBatch, TransmitStatus};
use ringtun_driver::host::HostDriver;
use ringtun_driver::ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, Ring, RingGeometry, RingVersion, Room, SharedRing, IOCTL_REGISTER_RINGS,
};
use zerocopy::IntoBytes;

fn ipv4(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// A batch whose packet `unreadable` copies its first half, then fails.
struct Batch<'a> {
    packets: &'a [Vec<u8>],
    unreadable: usize,
    statuses: Vec<Option<TransmitStatus>>,
}

impl TransmitBatch for Batch<'_> {
    fn packet_count(&self) -> usize {
        self.packets.len()
    }

    fn packet_len(&self, index: usize) -> usize {
        self.packets[index].len()
    }

    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool {
        let p = &self.packets[index];
        let (first, second) = p.split_at(p.len() / 2);
        slot.write(0, first) && index != self.unreadable && slot.write(first.len(), second)
    }

    fn set_status(&mut self, index: usize, status: TransmitStatus) {
        assert!(self.statuses[index].replace(status).is_none(), "status written twice");
    }
}

fn run(version: RingVersion) {
    let driver = HostDriver::new();
    let room = match version {
        RingVersion::V1 => Room::NONE,
        RingVersion::V2 => Room::new(16, 16),
    };
    let geometry = RingGeometry::new(version, 0x20000, room).unwrap();
    let send_mem = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
    let recv_geometry = RingGeometry::new(version, 0x20000, Room::NONE).unwrap();
    let recv_mem = driver.kernel().alloc_ring(recv_geometry.ring_size() as usize).unwrap();
    let (send_event, _send_ev) = driver.kernel().create_event(true, false);
    let (recv_event, _recv_ev) = driver.kernel().create_event(true, false);
    let file = driver.open(7, CallerBitness::Bits64);
    let registration = match version {
        RingVersion::V1 => RegistrationV1x64 {
            send: RingDescV1x64 {
                ring_size: geometry.ring_size(),
                pad: 0,
                ring_ptr: send_mem.as_ptr() as u64,
                tail_moved_event: send_event,
            },
            receive: RingDescV1x64 {
                ring_size: recv_geometry.ring_size(),
                pad: 0,
                ring_ptr: recv_mem.as_ptr() as u64,
                tail_moved_event: recv_event,
            },
        }
        .as_bytes()
        .to_vec(),
        RingVersion::V2 => RegistrationV2 {
            version: 2,
            flags: 0,
            send: RingDescV2 {
                ring_size: geometry.ring_size(),
                headroom: 16,
                tailroom: 16,
                ring_ptr: send_mem.as_ptr() as u64,
                tail_moved_event: send_event,
            },
            receive: RingDescV2 {
                ring_size: recv_geometry.ring_size(),
                headroom: 0,
                tailroom: 0,
                ring_ptr: recv_mem.as_ptr() as u64,
                tail_moved_event: recv_event,
            },
        }
        .as_bytes()
        .to_vec(),
    };
    driver.ioctl(&file, IOCTL_REGISTER_RINGS, &registration, &mut []).unwrap();
    // SAFETY: the allocation outlives the ring in this test.
    let ring =
        Ring::new(unsafe { SharedRing::new(send_mem.as_ptr(), send_mem.len(), version) }.unwrap(), geometry).unwrap();

    let packets = vec![ipv4(100, 1), ipv4(201, 2), ipv4(77, 3)];
    let mut batch = Batch { packets: &packets, unreadable: 1, statuses: vec![None; 3] };
    driver.adapter().transmit(&mut batch);
    assert_eq!(
        batch.statuses,
        vec![Some(TransmitStatus::Sent), Some(TransmitStatus::Invalid), Some(TransmitStatus::Sent)]
    );

    // The client's walk: every slot parses, and the one behind the unreadable packet is where
    // its reservation put it.
    let tail = ring.load_tail();
    let mut head = 0;
    let mut seen = Vec::new();
    while head != tail {
        let view = ring.packet_at(head, tail).expect("a valid ring").expect("a packet");
        let mut bytes = vec![0u8; view.data_length as usize];
        ring.read_data(view.data_start(), &mut bytes).unwrap();
        seen.push(bytes);
        head = geometry.advance(head, view.slot_size);
    }
    let slot = |len: u32| geometry.slot_size(len, room).unwrap();
    assert_eq!(tail, slot(100) + slot(201) + slot(77), "each packet in the slot reserved for it");
    match version {
        RingVersion::V1 => {
            assert_eq!(seen.len(), 3);
            assert_eq!(seen[1], vec![0u8; 201], "v1: the unreadable packet keeps its length, zeroed");
            assert_eq!([&seen[0], &seen[2]], [&packets[0], &packets[2]]);
        }
        RingVersion::V2 => {
            assert_eq!(seen.len(), 3);
            assert!(seen[1].is_empty(), "v2: the unreadable packet's slot is published empty");
            assert_eq!([&seen[0], &seen[2]], [&packets[0], &packets[2]]);
        }
    }
    let stats = driver.adapter().stats();
    assert_eq!(stats.send_packets, 2);
    assert_eq!(stats.send_dropped_invalid, 1);
    driver.close(file);
}

#[test]
fn unreadable_packet_v1_keeps_its_slot() {
    run(RingVersion::V1);
}

#[test]
fn unreadable_packet_v2_is_published_empty() {
    run(RingVersion::V2);
}
