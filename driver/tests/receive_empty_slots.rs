//! A Receive-ring slot without data (spec section 6.2): in v2 (`data_length == 0`) an empty
//! slot, a cancelled allocation, skipped silently and counted as such; in v1, where a packet's
//! length is also its slot size, a zero-length packet is not an IP packet and is dropped as one.
//! Either way the slot is released in order and the packet behind it arrives.

use ringtun_driver::host::HostDriver;
use ringtun_driver::ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, PacketHeader, Ring, RingGeometry, RingVersion, Room, SharedRing, IOCTL_REGISTER_RINGS,
};
use zerocopy::IntoBytes;

#[test]
fn an_empty_slot_is_skipped_in_v2_and_not_ip_in_v1() {
    for version in [RingVersion::V1, RingVersion::V2] {
        let driver = HostDriver::new_polled();
        let geometry = RingGeometry::new(version, 0x20000, Room::NONE).unwrap();
        let size = geometry.ring_size();
        let send = driver.kernel().alloc_ring(size as usize).unwrap();
        let receive = driver.kernel().alloc_ring(size as usize).unwrap();
        let (send_event, _) = driver.kernel().create_event(true, false);
        let (receive_event, _) = driver.kernel().create_event(true, false);
        let input = match version {
            RingVersion::V1 => {
                let desc =
                    |ptr: u64, event| RingDescV1x64 { ring_size: size, pad: 0, ring_ptr: ptr, tail_moved_event: event };
                RegistrationV1x64 {
                    send: desc(send.as_ptr() as u64, send_event),
                    receive: desc(receive.as_ptr() as u64, receive_event),
                }
                .as_bytes()
                .to_vec()
            }
            RingVersion::V2 => {
                let desc = |ptr: u64, event| RingDescV2 {
                    ring_size: size,
                    headroom: 0,
                    tailroom: 0,
                    ring_ptr: ptr,
                    tail_moved_event: event,
                };
                RegistrationV2 {
                    version: 2,
                    flags: 0,
                    send: desc(send.as_ptr() as u64, send_event),
                    receive: desc(receive.as_ptr() as u64, receive_event),
                }
                .as_bytes()
                .to_vec()
            }
        };
        let file = driver.open(3, CallerBitness::Bits64);
        driver.ioctl(&file, IOCTL_REGISTER_RINGS, &input, &mut []).unwrap();
        // SAFETY: the allocation outlives the ring (both live until the end of the loop body).
        let shared = unsafe { SharedRing::new(receive.as_ptr(), receive.len(), version) }.unwrap();
        let ring = Ring::new(shared, geometry).unwrap();

        // A slot without data, then an IPv4 packet of 28 bytes.
        let empty_slot = geometry.slot_size(0, Room::NONE).unwrap();
        let empty = match version {
            RingVersion::V1 => PacketHeader::V1 { size: 0 },
            RingVersion::V2 => PacketHeader::V2 { slot_size: empty_slot, data_offset: 8, data_length: 0 },
        };
        ring.write_packet_header(0, empty).unwrap();
        let mut packet = vec![0x11u8; 28];
        packet[0] = 0x45;
        packet[2..4].copy_from_slice(&28u16.to_be_bytes());
        let slot = geometry.slot_size(28, Room::NONE).unwrap();
        let header = match version {
            RingVersion::V1 => PacketHeader::V1 { size: 28 },
            RingVersion::V2 => PacketHeader::V2 { slot_size: slot, data_offset: 8, data_length: 28 },
        };
        ring.write_packet_header(empty_slot, header).unwrap();
        let data_at = empty_slot + if version == RingVersion::V1 { 4 } else { 8 };
        ring.write_data(data_at, &packet).unwrap();
        ring.store_tail(empty_slot + slot);
        driver.poll_receive();

        let delivered = driver.stack().take_delivered();
        assert_eq!(delivered.len(), 1, "{version:?}");
        assert_eq!(delivered[0].bytes, packet, "{version:?}");
        let stats = driver.adapter().stats();
        let want = if version == RingVersion::V2 { (1, 0) } else { (0, 1) };
        assert_eq!((stats.receive_empty_slots, stats.receive_dropped_not_ip), want, "{version:?}");
        assert_eq!(stats.receive_packets, 1, "{version:?}");
        driver.close(file);
    }
}
