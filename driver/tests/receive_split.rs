//! RECEIVE_SPLIT slots carrying more packets than one round's batch: nothing is lost, nothing is
//! counted as dropped, and the slot is released only once it is finished and all its packets are
//! back. Driven deterministically (the host platform's polled consumer).

// Test code on the host: the process heap, not the kernel pool, so the crate's allocation
// rules (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;

use ringtun_driver::engine::receive::RECEIVE_BATCH_PACKETS;
use ringtun_driver::engine::ReceivePoll;
use ringtun_driver::host::{HostDriver, HostFile, ReturnMode, RingAllocation};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, PacketHeader, Ring, RingGeometry, Room, SharedRing, IOCTL_REGISTER_RINGS,
};
use zerocopy::IntoBytes;

fn ipv4(len: usize, id: u16) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p
}

struct Split {
    driver: Arc<HostDriver>,
    file: Option<HostFile>,
    _memory: (Arc<RingAllocation>, Arc<RingAllocation>),
    ring: Ring,
    geometry: RingGeometry,
    tail: u32,
}

/// The session ends with the test (the adapter and its session refer to each other until then).
impl Drop for Split {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            self.driver.close(file);
        }
    }
}

impl Split {
    fn new() -> Self {
        Self::on(HostDriver::new_polled())
    }

    /// A session on `driver` (polled, or with a consumer thread).
    fn on(driver: Arc<HostDriver>) -> Self {
        let geometry = RingGeometry::v2(0x20000, Room::new(0, 0)).unwrap();
        let send_mem = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
        let recv_mem = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
        let (send_ev, _) = driver.kernel().create_event(true, false);
        let (recv_ev, _) = driver.kernel().create_event(true, false);
        let desc = |mem: &RingAllocation, event| RingDescV2 {
            ring_size: geometry.ring_size(),
            headroom: 0,
            tailroom: 0,
            ring_ptr: mem.as_ptr() as u64,
            tail_moved_event: event,
        };
        let reg =
            RegistrationV2 { version: 2, flags: 1, send: desc(&send_mem, send_ev), receive: desc(&recv_mem, recv_ev) };
        let file = driver.open(7, CallerBitness::Bits64);
        driver.ioctl(&file, IOCTL_REGISTER_RINGS, reg.as_bytes(), &mut []).unwrap();
        // SAFETY: the allocation outlives the ring (both live in this value; the ring is dropped first).
        let ring = Ring::new(
            unsafe { SharedRing::new(recv_mem.as_ptr(), recv_mem.len(), geometry.version()) }.unwrap(),
            geometry,
        )
        .unwrap();
        Self { driver, file: Some(file), _memory: (send_mem, recv_mem), ring, geometry, tail: 0 }
    }

    /// Writes one slot holding `packets` back to back (not yet published).
    fn write_slot(&mut self, packets: &[Vec<u8>]) {
        let data: Vec<u8> = packets.concat();
        let slot = self.geometry.slot_size(data.len() as u32, Room::new(0, 0)).unwrap();
        let header = PacketHeader::V2 { slot_size: slot, data_offset: 8, data_length: data.len() as u16 };
        self.ring.write_packet_header(self.tail, header).unwrap();
        self.ring.write_data(self.tail + 8, &data).unwrap();
        self.tail = self.geometry.advance(self.tail, slot);
    }

    fn publish(&self) {
        self.ring.publish_tail(self.tail);
    }

    /// Polls until the consumer has nothing more to do; returns the number of rounds.
    fn drain(&self) -> usize {
        let mut rounds = 0;
        while self.driver.poll_receive() == ReceivePoll::Consumed {
            rounds += 1;
            assert!(rounds < 10_000, "the consumer never ran out of work");
        }
        rounds
    }

    fn delivered_ids(&self) -> Vec<u16> {
        self.driver.stack().take_delivered().iter().map(|d| u16::from_be_bytes([d.bytes[4], d.bytes[5]])).collect()
    }
}

/// 60 slots of 5 packets published at once: the round that fills its batch mid-slot carries the
/// rest of that slot into the next round (before the fix: 296 delivered, 4 dropped as "no
/// resources").
#[test]
fn sixty_slots_of_five_all_delivered() {
    let mut t = Split::new();
    let mut id = 0u16;
    for _ in 0..60 {
        let packets: Vec<_> = (0..5)
            .map(|_| {
                id += 1;
                ipv4(20, id)
            })
            .collect();
        t.write_slot(&packets);
    }
    t.publish();
    assert!(t.drain() >= 2);
    assert_eq!(t.delivered_ids(), (1..=300).collect::<Vec<_>>());
    let stats = t.driver.adapter().stats();
    assert_eq!(stats.receive_packets, 300);
    assert_eq!(stats.receive_dropped_no_resources, 0);
    assert_eq!(stats.receive_dropped_split, 0);
    assert_eq!(t.ring.load_head(), t.tail, "every slot released");
}

/// One slot of 300 packets (more than a whole batch): all delivered (before: 256, 44 lost).
#[test]
fn one_slot_larger_than_a_batch() {
    let mut t = Split::new();
    let packets: Vec<_> = (1..=300).map(|id| ipv4(20, id)).collect();
    t.write_slot(&packets);
    t.publish();
    assert_eq!(t.drain(), 2);
    assert_eq!(t.delivered_ids(), (1..=300).collect::<Vec<_>>());
    let stats = t.driver.adapter().stats();
    assert_eq!(stats.receive_packets, 300);
    assert_eq!(stats.receive_dropped_no_resources, 0);
    assert_eq!(t.ring.load_head(), t.tail);
}

/// A slot spanning three rounds is not released while the consumer is still reading it, even
/// when every packet indicated so far is back; it is released once finished and all back, and
/// the slot after it waits for it.
#[test]
fn open_slot_not_released_early() {
    let mut t = Split::new();
    t.driver.stack().set_mode(ReturnMode::Hold);
    let big: Vec<_> = (1..=600).map(|id| ipv4(20, id)).collect();
    t.write_slot(&big);
    let after_big = t.tail;
    t.write_slot(&[ipv4(40, 601)]);
    t.publish();

    assert_eq!(t.driver.poll_receive(), ReceivePoll::Consumed);
    let first = t.driver.stack().take_held();
    assert_eq!(first.len(), RECEIVE_BATCH_PACKETS);
    t.driver.adapter().return_indications(first.iter().map(|h| h.token()));
    assert_eq!(t.ring.load_head(), 0, "released while the consumer still reads the slot");

    // The rest of the big slot takes two more rounds; the slot after it comes in a round of its
    // own (a round that carries a slot on reads no new one).
    for _ in 0..3 {
        assert_eq!(t.driver.poll_receive(), ReceivePoll::Consumed);
    }
    assert_eq!(t.driver.poll_receive(), ReceivePoll::Empty);
    let mut rest = t.driver.stack().take_held();
    assert_eq!(rest.len(), 600 - RECEIVE_BATCH_PACKETS + 1);
    let last_of_big = rest.remove(rest.len() - 2);
    t.driver.adapter().return_indications(rest.iter().map(|h| h.token()));
    assert_eq!(t.ring.load_head(), 0, "the big slot has a packet out");
    t.driver.adapter().return_indication(last_of_big.token());
    assert_eq!(t.ring.load_head(), t.tail);
    assert_ne!(after_big, t.tail);

    assert_eq!(t.delivered_ids(), (1..=601).collect::<Vec<_>>());
    let stats = t.driver.adapter().stats();
    assert_eq!(stats.receive_packets, 601);
    assert_eq!(stats.receive_dropped_no_resources + stats.receive_dropped_split, 0);
    assert_eq!(t.driver.adapter().session().unwrap().indications_in_flight(), 0);
}

/// A bad length in the part of a slot carried into the next round drops the rest there, counted
/// once as a split drop (where it happens), never as "no resources".
#[test]
fn bad_length_after_the_carry_counted_as_split_drop() {
    let mut t = Split::new();
    let mut packets: Vec<_> = (1..=260).map(|id| ipv4(20, id)).collect();
    let mut liar = ipv4(20, 261);
    liar[2..4].copy_from_slice(&400u16.to_be_bytes());
    packets.push(liar);
    packets.push(ipv4(20, 262));
    t.write_slot(&packets);
    t.publish();
    t.drain();
    assert_eq!(t.delivered_ids(), (1..=260).collect::<Vec<_>>());
    let stats = t.driver.adapter().stats();
    assert_eq!(stats.receive_packets, 260);
    assert_eq!(stats.receive_dropped_split, 1);
    assert_eq!(stats.receive_dropped_no_resources, 0);
    assert_eq!(t.ring.load_head(), t.tail);
}

/// 40 slots of 8 packets: the first round fills its 256-packet batch exactly at a slot boundary
/// (32 slots) and reads no further; the second round takes the other 8 slots whole. Nothing is
/// carried over, nothing dropped.
#[test]
fn batch_full_at_a_slot_boundary_reads_no_further() {
    let mut t = Split::new();
    t.driver.stack().set_mode(ReturnMode::Hold);
    let mut id = 0u16;
    for _ in 0..40 {
        let packets: Vec<_> = (0..8)
            .map(|_| {
                id += 1;
                ipv4(20, id)
            })
            .collect();
        t.write_slot(&packets);
    }
    t.publish();
    assert_eq!(t.driver.poll_receive(), ReceivePoll::Consumed);
    let first = t.driver.stack().take_held();
    assert_eq!(first.len(), RECEIVE_BATCH_PACKETS);
    assert_eq!(t.driver.poll_receive(), ReceivePoll::Consumed);
    let second = t.driver.stack().take_held();
    assert_eq!(second.len(), 64, "the second round carried a slot over instead of reading whole ones");
    assert_eq!(t.driver.poll_receive(), ReceivePoll::Empty);
    t.driver.adapter().return_indications(first.iter().chain(&second).map(|h| h.token()));
    assert_eq!(t.delivered_ids(), (1..=320).collect::<Vec<_>>());
    let stats = t.driver.adapter().stats();
    assert_eq!((stats.receive_dropped_no_resources, stats.receive_dropped_split), (0, 0));
    assert_eq!(t.ring.load_head(), t.tail);
}

/// The consumer thread carries a slot larger than a batch over to its next round by itself: with
/// no newer `tail` published, it finishes the slot instead of waiting for one.
#[test]
fn consumer_thread_finishes_a_slot_larger_than_a_batch() {
    let mut t = Split::on(HostDriver::new());
    let packets: Vec<_> = (1..=300).map(|id| ipv4(20, id)).collect();
    t.write_slot(&packets);
    t.publish();
    let all = t.driver.stack().wait_delivered(300, std::time::Duration::from_secs(10));
    assert!(
        all,
        "{} of 300 delivered: the rest of the slot waits for a tail that never moves",
        t.driver.stack().delivered_total()
    );
    assert_eq!(t.delivered_ids(), (1..=300).collect::<Vec<_>>());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while t.ring.load_head() != t.tail {
        assert!(std::time::Instant::now() < deadline, "the slot was never released");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(t.driver.adapter().stats().receive_dropped_no_resources, 0);
}
