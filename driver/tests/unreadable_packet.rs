//! A packet whose bytes cannot be read (an MDL chain shorter than the packet, a mapping that
//! fails) still occupies the slot the Send path reserved for it. The client must be able to step
//! over it: v2 publishes the slot empty, v1 (where the length is also the slot size) keeps the
//! length and zeroes the bytes. Either way the packets behind it arrive intact. The same holds for
//! a large send the engine cuts into many slots: every one of them is stepped over.

// Test code on the host: the process heap, not the kernel pool, so the crate's allocation
// rules (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

use ringtun_driver::engine::{SlotWriter, TransmitBatch, TransmitOffload, TransmitStatus};
use ringtun_driver::host::HostDriver;
use ringtun_driver::ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, GsoKind, Ring, RingGeometry, RingVersion, Room, SharedRing, IOCTL_REGISTER_RINGS,
};
use zerocopy::IntoBytes;

fn ipv4(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// An IPv4/TCP packet of `len` bytes (20-byte headers each), as a stack hands over a large send.
fn tcp4(len: usize) -> Vec<u8> {
    let mut p = ipv4(len, 0x33);
    p[9] = 6;
    p[6..8].copy_from_slice(&[0, 0]); // not a fragment
    p[32] = 5 << 4;
    p[33] = 0x10;
    p
}

/// A batch whose packet `unreadable` copies its first half, then fails; packets may carry
/// offload requests.
struct Batch<'a> {
    packets: &'a [Vec<u8>],
    unreadable: usize,
    statuses: Vec<Option<TransmitStatus>>,
    requests: Vec<TransmitOffload>,
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

    fn packet_offload(&self, index: usize) -> TransmitOffload {
        self.requests.get(index).copied().unwrap_or_default()
    }

    fn read_prefix(&self, index: usize, dst: &mut [u8]) -> usize {
        let p = &self.packets[index];
        let n = dst.len().min(p.len());
        dst[..n].copy_from_slice(&p[..n]);
        n
    }
}

fn run(version: RingVersion) {
    run_with(version, false);
}

fn run_with(version: RingVersion, cut: bool) {
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

    let middle = if cut { tcp4(0xFFFF) } else { ipv4(201, 2) };
    let packets = vec![ipv4(100, 1), middle, ipv4(77, 3)];
    let requests = if cut {
        // 0xFFFF - 40 payload bytes in segments of 1400: 47 slots, more than one largest slot.
        let request = TransmitOffload {
            segmentation: Some((GsoKind::TcpV4, 1400)),
            l4_checksum: true,
            ip_checksum: true,
            ..TransmitOffload::default()
        };
        vec![TransmitOffload::default(), request]
    } else {
        Vec::new()
    };
    let mut batch = Batch { packets: &packets, unreadable: 1, statuses: vec![None; 3], requests };
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
    if cut {
        // The cut packet's reservation (47 segment slots) is stepped over as unusable slots: the
        // client sees only zeroed (v1) or empty (v2) packets between the two good ones.
        let segments: u32 = (0..47u32).map(|k| slot(40 + (0xFFFF - 40 - k * 1400).min(1400))).sum();
        assert_eq!(tail, slot(100) + segments + slot(77), "the segments' reservation kept");
        assert_eq!(seen.first(), Some(&packets[0]));
        assert_eq!(seen.last(), Some(&packets[2]));
        for filler in &seen[1..seen.len() - 1] {
            assert!(filler.iter().all(|&b| b == 0), "a filler slot carries bytes");
        }
        assert!(seen.len() > 3, "the reservation is more than one largest slot");
        let stats = driver.adapter().stats();
        assert_eq!((stats.send_packets, stats.send_dropped_invalid, stats.send_segmented), (2, 1, 0));
        driver.close(file);
        return;
    }
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

#[test]
fn unreadable_large_send_v1_is_stepped_over() {
    run_with(RingVersion::V1, true);
}

#[test]
fn unreadable_large_send_v2_is_stepped_over() {
    run_with(RingVersion::V2, true);
}
