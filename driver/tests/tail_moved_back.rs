//! A client that moves the Receive ring's `tail` backwards, onto slots the stack still holds:
//! the ring is corrupt (`docs/ring-protocol.md` section 6.1, rule 1), so the consumer stops it
//! and counts the fault; it never indicates a held slot a second time. Driven deterministically
//! (the host platform's polled consumer), v1 and v2.

use std::sync::Arc;

use ringtun_driver::engine::ReceivePoll;
use ringtun_driver::host::{HostDriver, HostFile, HostIndication, ReturnMode, RingAllocation};
use ringtun_driver::ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, PacketHeader, Ring, RingGeometry, RingVersion, Room, SharedRing, IOCTL_REGISTER_RINGS,
    MIN_RING_CAPACITY, RING_STOPPED,
};
use zerocopy::IntoBytes;

fn ipv4(len: usize, id: u16) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p
}

struct Client {
    driver: Arc<HostDriver>,
    file: Option<HostFile>,
    _memory: [Arc<RingAllocation>; 2],
    ring: Ring,
    geometry: RingGeometry,
    tail: u32,
}

/// The session ends with the test (the adapter and its session refer to each other until then).
/// A failed assertion leaves it open: the stack may still hold packets, and a teardown would wait
/// for them forever instead of letting the test report its failure.
impl Drop for Client {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(file) = self.file.take() {
            self.driver.close(file);
        }
    }
}

impl Client {
    fn open(version: RingVersion) -> Self {
        let driver = HostDriver::new_polled();
        driver.stack().set_mode(ReturnMode::Hold);
        let geometry = RingGeometry::new(version, MIN_RING_CAPACITY, Room::NONE).unwrap();
        let size = geometry.ring_size();
        let memory = [0, 1].map(|_| driver.kernel().alloc_ring(size as usize).unwrap());
        let events = [0, 1].map(|_| driver.kernel().create_event(true, false).0);
        let ptr = |i: usize| memory[i].as_ptr() as u64;
        let input = match version {
            RingVersion::V1 => {
                let desc = |i| RingDescV1x64 { ring_size: size, pad: 0, ring_ptr: ptr(i), tail_moved_event: events[i] };
                RegistrationV1x64 { send: desc(0), receive: desc(1) }.as_bytes().to_vec()
            }
            RingVersion::V2 => {
                let desc = |i| RingDescV2 {
                    ring_size: size,
                    headroom: 0,
                    tailroom: 0,
                    ring_ptr: ptr(i),
                    tail_moved_event: events[i],
                };
                RegistrationV2 { version: 2, flags: 0, send: desc(0), receive: desc(1) }.as_bytes().to_vec()
            }
        };
        let file = driver.open(3, CallerBitness::Bits64);
        driver.ioctl(&file, IOCTL_REGISTER_RINGS, &input, &mut []).unwrap();
        // SAFETY: the allocation outlives the ring (both live in this value; the ring is not used
        // after the session ends).
        let shared = unsafe { SharedRing::new(memory[1].as_ptr(), size as usize, version) }.unwrap();
        let ring = Ring::new(shared, geometry).unwrap();
        Self { driver, file: Some(file), _memory: memory, ring, geometry, tail: 0 }
    }

    /// Writes a valid slot of `data` at `at` (not published); returns its size.
    fn write_slot_at(&self, at: u32, data: &[u8]) -> u32 {
        let slot = self.geometry.slot_size(data.len() as u32, Room::NONE).unwrap();
        let header = match self.geometry.version() {
            RingVersion::V1 => PacketHeader::V1 { size: data.len() as u32 },
            RingVersion::V2 => PacketHeader::V2 { slot_size: slot, data_offset: 8, data_length: data.len() as u16 },
        };
        self.ring.write_packet_header(at, header).unwrap();
        self.ring.write_data(at + self.geometry.packet_header_size(), data).unwrap();
        slot
    }

    fn write_slot(&mut self, data: &[u8]) -> u32 {
        let at = self.tail;
        let slot = self.write_slot_at(at, data);
        self.tail = self.geometry.advance(at, slot);
        at
    }

    /// Valid-looking IPv4 slots from `from` to the end of the capacity, so that a walk from
    /// `from` reaches offset 0 again on a slot boundary.
    fn fill_to_the_end(&self, from: u32) {
        let mut at = from;
        let mut id = 1000;
        while at < self.geometry.capacity() {
            let room = self.geometry.capacity() - at;
            let slot = room.min(1504 + self.geometry.packet_header_size());
            let len = (slot - self.geometry.packet_header_size()) as usize;
            id += 1;
            assert_eq!(self.write_slot_at(at, &ipv4(len.max(20), id)[..len]), slot);
            at += slot;
        }
    }
}

fn tail_moved_back(version: RingVersion, back_to: impl Fn(&[u32]) -> u32) {
    let mut c = Client::open(version);
    let offsets: Vec<u32> = (1..=8).map(|id| c.write_slot(&ipv4(100, id))).collect();
    c.ring.publish_tail(c.tail);
    assert_eq!(c.driver.poll_receive(), ReceivePoll::Consumed);
    let held: Vec<HostIndication> = c.driver.stack().take_held();
    assert_eq!(held.len(), 8);
    assert_eq!(c.driver.stack().take_delivered().len(), 8);
    assert_eq!(c.ring.load_head(), 0, "every slot is still with the stack");

    // The client writes valid slots over the rest of the ring and moves `tail` back.
    c.fill_to_the_end(c.tail);
    c.ring.publish_tail(back_to(&offsets));
    let data_start = c.geometry.data_start() as usize;
    let first = c.driver.poll_receive();
    let mut again = c.driver.stack().take_delivered();
    // (Were the ring not stopped, the rounds would go on: count what they indicate.)
    let mut rounds = 0;
    while rounds < 100 && c.driver.poll_receive() == ReceivePoll::Consumed {
        again.extend(c.driver.stack().take_delivered());
        rounds += 1;
    }
    let duplicates = again.iter().filter(|d| d.ring_offset < data_start + offsets[7] as usize).count();
    assert!(
        again.is_empty(),
        "{} more indications, {duplicates} of them over slots the stack still holds",
        again.len()
    );
    assert_eq!(first, ReceivePoll::Stopped);
    let stats = c.driver.adapter().stats();
    assert_eq!(stats.receive_packets, 8);
    assert_eq!(stats.receive_ring_faults, 1);
    assert_eq!(c.ring.load_head(), RING_STOPPED);

    // The held packets come back; the ring stays stopped, the session ends cleanly.
    c.driver.adapter().return_indications(held.iter().map(HostIndication::token));
    drop(held);
    assert_eq!(c.ring.load_head(), RING_STOPPED);
    assert_eq!(c.driver.poll_receive(), ReceivePoll::Stopped);
    let driver = Arc::clone(&c.driver);
    drop(c);
    let left = driver.resources();
    assert_eq!((left.mappings, left.indications, left.unmapped_in_use), (0, 0, 0), "{left:?}");
}

/// `tail` set back to the 8th held slot: before the fix the consumer walked the client's new
/// slots, wrapped, and indicated the first seven held slots a second time.
#[test]
fn tail_back_onto_a_held_slot_stops_the_ring_v1() {
    tail_moved_back(RingVersion::V1, |held| held[7]);
}

#[test]
fn tail_back_onto_a_held_slot_stops_the_ring_v2() {
    tail_moved_back(RingVersion::V2, |held| held[7]);
}

/// `tail` set back to the released head while slots are held (a whole lap published, in effect):
/// before the fix the consumer indicated the client's new slots up to the end of the ring.
#[test]
fn tail_back_to_the_released_head_stops_the_ring() {
    tail_moved_back(RingVersion::V2, |held| held[0]);
    tail_moved_back(RingVersion::V1, |held| held[0]);
}

/// A tail that moves forward past slots still held is an honest producer: everything is
/// indicated once, in order.
#[test]
fn tail_forward_while_slots_are_held_is_honest() {
    for version in [RingVersion::V1, RingVersion::V2] {
        let mut c = Client::open(version);
        for id in 1..=8 {
            c.write_slot(&ipv4(100, id));
        }
        c.ring.publish_tail(c.tail);
        assert_eq!(c.driver.poll_receive(), ReceivePoll::Consumed);
        for id in 9..=12 {
            c.write_slot(&ipv4(100, id));
        }
        c.ring.publish_tail(c.tail);
        assert_eq!(c.driver.poll_receive(), ReceivePoll::Consumed);
        assert_eq!(c.driver.poll_receive(), ReceivePoll::Empty);
        let ids: Vec<u16> =
            c.driver.stack().take_delivered().iter().map(|d| u16::from_be_bytes([d.bytes[4], d.bytes[5]])).collect();
        assert_eq!(ids, (1..=12).collect::<Vec<_>>());
        let held = c.driver.stack().take_held();
        c.driver.adapter().return_indications(held.iter().map(HostIndication::token));
        assert_eq!(c.ring.load_head(), c.tail);
        assert_eq!(c.driver.adapter().stats().receive_ring_faults, 0);
    }
}
