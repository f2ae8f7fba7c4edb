//! The Send path's per-packet outcomes. It takes packets of 1 to 0xFFFF bytes (spec section
//! 6.2): a packet the stack hands over empty, or longer than an IP packet can be, is dropped as
//! invalid and counted, takes no slot and leaves the ring as it was; the packets around it are
//! sent in order. A batch refused as a whole (ring full) gives its valid packets that status and
//! leaves the invalid ones theirs; each packet gets exactly one status. A batch that fits before
//! the last valid `head` the driver read is sent without reading `head` again. A packet whose
//! copy reports a failure is dropped as invalid even if its bytes all arrived, also when the
//! engine cuts it into segments.

use std::sync::Arc;

use ringtun_driver::engine::{SlotWriter, TransmitBatch, TransmitOffload, TransmitStatus};
use ringtun_driver::host::{HostDriver, HostFile, RingAllocation};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, GsoKind, Ring, RingGeometry, Room, SharedRing, IOCTL_REGISTER_RINGS, MAX_IP_PACKET_SIZE,
};
use zerocopy::IntoBytes;

/// A v2 session with a Send ring of 256 KiB that no client reads: the driver, the client's
/// file, the Send ring as the client sees it, its geometry and room.
fn session() -> (Arc<HostDriver>, HostFile, Ring, RingGeometry, Room, [Arc<RingAllocation>; 2]) {
    let driver = HostDriver::new_polled();
    let room = Room::new(8, 8);
    let geometry = RingGeometry::v2(0x40000, room).unwrap();
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

    (driver, file, send, geometry, room, memory)
}

#[test]
fn empty_and_oversized_packets_are_invalid() {
    let (driver, file, send, geometry, room, _memory) = session();
    let largest = MAX_IP_PACKET_SIZE as usize;
    let packet = |len: usize, fill: u8| vec![fill; len];
    let (one, max, over, twenty) =
        (packet(1, 0x45), packet(largest, 0x46), packet(largest + 1, 0x47), packet(20, 0x48));
    let statuses = driver.transmit(&[&[], &one, &over, &max, &twenty]).unwrap();
    assert_eq!(
        statuses,
        vec![
            TransmitStatus::Invalid,
            TransmitStatus::Sent,
            TransmitStatus::Invalid,
            TransmitStatus::Sent,
            TransmitStatus::Sent
        ]
    );
    let stats = driver.adapter().stats();
    assert_eq!((stats.send_packets, stats.send_dropped_invalid), (3, 2));

    // Exactly the three valid packets, in order, each in its own slot.
    let tail = send.load_tail();
    let slot = |len: u32| geometry.slot_size(len, room).unwrap();
    assert_eq!(tail, slot(1) + slot(MAX_IP_PACKET_SIZE) + slot(20));
    let mut head = 0;
    for want in [&one, &max, &twenty] {
        let view = send.packet_at(head, tail).unwrap().unwrap();
        let mut bytes = vec![0u8; view.data_length as usize];
        send.read_data(view.data_start(), &mut bytes).unwrap();
        assert_eq!(&bytes, want);
        head = geometry.advance(head, view.slot_size);
    }
    assert_eq!(head, tail);
    driver.close(file);
}

#[test]
fn a_full_ring_leaves_the_invalid_packets_their_status() {
    let (driver, file, send, _geometry, _room, _memory) = session();
    let big = vec![0x45u8; MAX_IP_PACKET_SIZE as usize];
    // Fill the ring (nobody consumes it).
    let mut sent = 0u64;
    while driver.transmit(&[&big]).unwrap() == vec![TransmitStatus::Sent] {
        sent += 1;
    }
    let tail = send.load_tail();
    let before = driver.adapter().stats();
    // One status per packet: the empty one stays invalid, the valid ones are refused as ring
    // full (statuses() fails on a packet given no status or two).
    let statuses = driver.transmit(&[&[], &big, &big[..100]]).unwrap();
    assert_eq!(statuses, vec![TransmitStatus::Invalid, TransmitStatus::RingFull, TransmitStatus::RingFull]);
    let after = driver.adapter().stats();
    assert_eq!(after.send_dropped_invalid - before.send_dropped_invalid, 1);
    assert_eq!(after.send_dropped_ring_full - before.send_dropped_ring_full, 2);
    assert_eq!((after.send_packets, send.load_tail()), (sent, tail));
    driver.close(file);
}

#[test]
fn a_batch_that_fits_the_last_valid_head_is_sent_without_reading_head() {
    let (driver, file, send, geometry, room, _memory) = session();
    let packet = vec![0x45u8; 100];
    assert_eq!(driver.transmit(&[&packet]).unwrap(), vec![TransmitStatus::Sent]);
    // The client now writes a head that is not a slot boundary (corrupt). The driver read a valid
    // head (0) for the first batch, and the next one fits before it: sent, head not read.
    send.store_head(3);
    assert_eq!(driver.transmit(&[&packet]).unwrap(), vec![TransmitStatus::Sent]);
    let slot = geometry.slot_size(100, room).unwrap();
    assert_eq!(send.load_tail(), 2 * slot);
    assert_eq!(driver.adapter().stats().send_dropped_ring_fault, 0);
    driver.close(file);
}

/// A batch of one packet that copies all of it, then reports a failure (a shell whose copy
/// failed on its last step); the packet may be a large send.
struct FailsAfterCopy {
    packet: Vec<u8>,
    offload: TransmitOffload,
    status: Option<TransmitStatus>,
}

impl TransmitBatch for FailsAfterCopy {
    fn packet_count(&self) -> usize {
        1
    }

    fn packet_len(&self, _: usize) -> usize {
        self.packet.len()
    }

    fn copy_packet(&self, _: usize, slot: &mut SlotWriter<'_>) -> bool {
        let (first, second) = self.packet.split_at(self.packet.len() / 2);
        let _ = slot.write(0, first) && slot.write(first.len(), second);
        false
    }

    fn set_status(&mut self, _: usize, status: TransmitStatus) {
        assert!(self.status.replace(status).is_none(), "status written twice");
    }

    fn packet_offload(&self, _: usize) -> TransmitOffload {
        self.offload
    }

    fn read_prefix(&self, _: usize, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.packet.len());
        dst[..n].copy_from_slice(&self.packet[..n]);
        n
    }
}

#[test]
fn a_failed_copy_drops_the_packet_even_when_its_bytes_arrived() {
    let (driver, file, send, _geometry, _room, _memory) = session();
    // IPv4/TCP, 20-byte headers, 3000 bytes of payload; and the same as a large send of 1000.
    let mut tcp = vec![0x33u8; 3040];
    tcp[0] = 0x45;
    tcp[2..4].copy_from_slice(&3040u16.to_be_bytes());
    tcp[6..8].copy_from_slice(&[0, 0]);
    tcp[9] = 6;
    tcp[32] = 5 << 4;
    tcp[33] = 0x10;
    let large_send = TransmitOffload {
        segmentation: Some((GsoKind::TcpV4, 1000)),
        l4_checksum: true,
        ip_checksum: true,
        ..TransmitOffload::default()
    };
    for offload in [TransmitOffload::default(), large_send] {
        let mut batch = FailsAfterCopy { packet: tcp.clone(), offload, status: None };
        driver.adapter().transmit(&mut batch);
        assert_eq!(batch.status, Some(TransmitStatus::Invalid), "{offload:?}");
    }
    let stats = driver.adapter().stats();
    assert_eq!((stats.send_packets, stats.send_dropped_invalid, stats.send_segmented), (0, 2, 0));
    // The slots were stepped over: whatever the client finds is empty.
    let tail = send.load_tail();
    let mut head = 0;
    while head != tail {
        let view = send.packet_at(head, tail).unwrap().unwrap();
        assert_eq!(view.data_length, 0, "a dropped packet's slot is published empty (v2)");
        head = send.geometry().advance(head, view.slot_size);
    }
    driver.close(file);
}

/// A batch that does not fit sends its longest prefix that fits (spec section 4.1): four packets
/// of 60 000 bytes fill a 256 KiB ring, the fifth and everything after it are dropped as ring
/// full, even a small packet that would fit the space left (nothing after a dropped packet is
/// sent, so the order holds); `tail` ends exactly after the four slots.
#[test]
fn a_batch_larger_than_the_ring_sends_its_longest_fitting_prefix() {
    let (driver, file, send, geometry, room, _memory) = session();
    let big = vec![0x45u8; 60_000];
    let small = vec![0x45u8; 20];
    let batch: Vec<&[u8]> = vec![&big, &big, &big, &big, &big, &small];
    let statuses = driver.transmit(&batch).unwrap();
    let full = TransmitStatus::RingFull;
    assert_eq!(statuses[..4], [TransmitStatus::Sent; 4]);
    assert_eq!(statuses[4..], [full, full]);
    let slot = ringtun_driver::ring_abi::v2_slot_size(60_000, room.headroom, room.tailroom).unwrap();
    assert_eq!(send.load_tail(), 4 * slot, "four slots published");
    assert!(geometry.capacity() - 4 * slot > ringtun_driver::ring_abi::v2_slot_size(20, 8, 8).unwrap());
    assert_eq!(driver.adapter().stats().send_dropped_ring_full, 2);
    driver.close(file);
}
