//! End-to-end smoke test of the engine on the host platform, driving both rings by hand.

use std::time::Duration;

use ringtun_driver::engine::TransmitStatus;
use ringtun_driver::host::{HostDriver, ReturnMode};
use ringtun_driver::platform::Event as _;
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{
    CallerBitness, PacketHeader, Ring, RingGeometry, Room, SharedRing, IOCTL_REGISTER_RINGS, RING_STOPPED,
};
use zerocopy::IntoBytes;

fn ipv4(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

#[test]
fn v2_both_directions() {
    let driver = HostDriver::new();
    let send_geo = RingGeometry::v2(0x20000, Room::new(16, 8)).unwrap();
    let recv_geo = RingGeometry::v2(0x20000, Room::new(32, 32)).unwrap();
    let send_mem = driver.kernel().alloc_ring(send_geo.ring_size() as usize).unwrap();
    let recv_mem = driver.kernel().alloc_ring(recv_geo.ring_size() as usize).unwrap();
    let (send_ev_h, send_ev) = driver.kernel().create_event(true, false);
    let (recv_ev_h, recv_ev) = driver.kernel().create_event(true, false);
    let reg = RegistrationV2 {
        version: 2,
        flags: 0,
        send: RingDescV2 {
            ring_size: send_geo.ring_size(),
            headroom: 16,
            tailroom: 8,
            ring_ptr: send_mem.as_ptr() as u64,
            tail_moved_event: send_ev_h,
        },
        receive: RingDescV2 {
            ring_size: recv_geo.ring_size(),
            headroom: 32,
            tailroom: 32,
            ring_ptr: recv_mem.as_ptr() as u64,
            tail_moved_event: recv_ev_h,
        },
    };
    let file = driver.open(42, CallerBitness::Bits64);
    assert!(!driver.adapter().has_session_of_process(42));
    driver.ioctl(&file, IOCTL_REGISTER_RINGS, reg.as_bytes(), &mut []).unwrap();
    assert_eq!(driver.stack().link_history(), vec![true]);
    assert!(driver.adapter().has_session_of_process(42));
    assert!(!driver.adapter().has_session_of_process(43));

    // SAFETY: the allocations outlive the rings in this test.
    let send_ring =
        Ring::new(unsafe { SharedRing::new(send_mem.as_ptr(), send_mem.len(), send_geo.version()) }.unwrap(), send_geo)
            .unwrap();
    // SAFETY: as above.
    let recv_ring =
        Ring::new(unsafe { SharedRing::new(recv_mem.as_ptr(), recv_mem.len(), recv_geo.version()) }.unwrap(), recv_geo)
            .unwrap();

    // Stack -> client.
    let pkt = ipv4(100, 7);
    assert_eq!(driver.transmit(&[&pkt]).unwrap(), vec![TransmitStatus::Sent]);
    assert!(!send_ev.is_set(), "v2: no signal while the client is not alertable");
    send_ring.store_alertable(true);
    assert_eq!(driver.transmit(&[&pkt]).unwrap(), vec![TransmitStatus::Sent]);
    assert!(send_ev.is_set(), "v2: signal once the client is alertable");
    let view = send_ring.packet_at(0, send_ring.load_tail()).unwrap().unwrap();
    assert_eq!(view.data_offset, 8 + 16);
    assert_eq!(view.data_length, 100);
    assert!(view.tailroom() >= 8);
    let mut got = vec![0u8; 100];
    send_ring.read_data(view.data_start(), &mut got).unwrap();
    assert_eq!(got, pkt);

    // Client -> stack.
    driver.stack().set_mode(ReturnMode::Hold);
    let pkt = ipv4(60, 9);
    let slot = recv_geo.slot_size(60, Room::new(3, 5)).unwrap();
    recv_ring.write_packet_header(0, PacketHeader::V2 { slot_size: slot, data_offset: 11, data_length: 60 }).unwrap();
    recv_ring.write_data(11, &pkt).unwrap();
    // As a client does: wake the consumer if it declared itself alertable (it may be asleep).
    if recv_ring.publish_tail(slot) {
        recv_ev.set();
    }
    assert!(driver.stack().wait_held(1, Duration::from_secs(5)));
    let held = driver.stack().take_held();
    assert_eq!(held[0].bytes(), pkt);
    assert_eq!(held[0].ring_offset(), 128 + 11);
    assert_eq!(recv_ring.load_head(), 0, "head must wait for the return");
    driver.adapter().return_indications(held.iter().map(|h| h.token()));
    assert_eq!(recv_ring.load_head(), slot);

    driver.close(file);
    assert!(!driver.adapter().has_session_of_process(42));
    assert_eq!(send_ring.load_tail(), RING_STOPPED);
    assert_eq!(recv_ring.load_head(), RING_STOPPED);
    assert_eq!(driver.stack().link_history(), vec![true, false]);
    let stats = driver.adapter().stats();
    assert_eq!(stats.send_packets, 2);
    assert_eq!(stats.receive_packets, 1);
    assert_eq!(stats.zero_copy_bytes, 60);
    assert_eq!(stats.sessions_ended, 1);
}

/// A second teardown (process exit racing with close) returns only once the first is complete:
/// while the first waits for a held indication, the second waits too; when it returns, the rings
/// are stopped and the link is down.
#[test]
fn concurrent_teardowns_wait_for_the_first() {
    let driver = HostDriver::new();
    let geo = RingGeometry::v2(0x20000, Room::new(0, 0)).unwrap();
    let send_mem = driver.kernel().alloc_ring(geo.ring_size() as usize).unwrap();
    let recv_mem = driver.kernel().alloc_ring(geo.ring_size() as usize).unwrap();
    let (send_ev_h, _send_ev) = driver.kernel().create_event(true, false);
    let (recv_ev_h, recv_ev) = driver.kernel().create_event(true, false);
    let desc = |mem: &ringtun_driver::host::RingAllocation, event| RingDescV2 {
        ring_size: geo.ring_size(),
        headroom: 0,
        tailroom: 0,
        ring_ptr: mem.as_ptr() as u64,
        tail_moved_event: event,
    };
    let reg =
        RegistrationV2 { version: 2, flags: 0, send: desc(&send_mem, send_ev_h), receive: desc(&recv_mem, recv_ev_h) };
    let file = driver.open(42, CallerBitness::Bits64);
    driver.ioctl(&file, IOCTL_REGISTER_RINGS, reg.as_bytes(), &mut []).unwrap();
    // SAFETY: the allocations outlive the rings in this test.
    let send_ring =
        Ring::new(unsafe { SharedRing::new(send_mem.as_ptr(), send_mem.len(), geo.version()) }.unwrap(), geo).unwrap();
    // SAFETY: as above.
    let recv_ring =
        Ring::new(unsafe { SharedRing::new(recv_mem.as_ptr(), recv_mem.len(), geo.version()) }.unwrap(), geo).unwrap();

    // One packet held by the stack keeps the first teardown waiting at "every packet back".
    driver.stack().set_mode(ReturnMode::Hold);
    let pkt = ipv4(40, 1);
    let slot = geo.slot_size(40, Room::new(0, 0)).unwrap();
    recv_ring.write_packet_header(0, PacketHeader::V2 { slot_size: slot, data_offset: 8, data_length: 40 }).unwrap();
    recv_ring.write_data(8, &pkt).unwrap();
    // As a client does: wake the consumer if it declared itself alertable (it may be asleep).
    if recv_ring.publish_tail(slot) {
        recv_ev.set();
    }
    assert!(driver.stack().wait_held(1, Duration::from_secs(5)));

    let done = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| {
            driver.close(file);
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(20));
        let second = scope.spawn(|| {
            driver.process_exited(42);
            // Returned: the whole teardown must be visible.
            let complete = send_ring.load_tail() == RING_STOPPED && recv_ring.load_head() == RING_STOPPED;
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            complete
        });
        std::thread::sleep(Duration::from_millis(50));
        let returned_early = done.load(std::sync::atomic::Ordering::SeqCst);
        // Release the held packet before asserting, so that a failure cannot leave a thread blocked.
        let held = driver.stack().take_held();
        driver.adapter().return_indications(held.iter().map(|h| h.token()));
        first.join().unwrap();
        let second_saw_complete = second.join().unwrap();
        assert_eq!(returned_early, 0, "a teardown returned with a packet still held");
        assert!(second_saw_complete, "the second teardown returned before the first finished");
    });
    assert_eq!(driver.stack().link_history(), vec![true, false]);
    assert_eq!(driver.adapter().stats().sessions_ended, 1);
    assert!(driver.adapter().session().is_none());
}
