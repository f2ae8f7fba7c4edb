//! The event the driver waits on (the Receive ring's) named again as one it sets (the Send ring's,
//! or the write-space event) is refused (`docs/ring-protocol.md` section 5.4, step 4).
//!
//! The driver sets the Send ring's event after it publishes (and the write-space event when it
//! frees Receive-ring space) and waits on the Receive ring's (clearing it when it woke the
//! consumer): with one event object for both, the consumer's waits would consume the wake-ups
//! meant for the client, and every signal of the driver's would wake the consumer for nothing.
//! The engine compares the referenced event objects through the platform
//! (`Event::is_same_object`), so the same handle again and another handle to the same event are
//! refused alike, with `STATUS_INVALID_PARAMETER`, before any ring page is locked: the rings'
//! memory is never probed (a probe is made to fail here, and the answer is still the invalid
//! parameter), and nothing is left referenced. The Send ring's event and the write-space event,
//! both the client's to wait on, may be one event.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ringtun_driver::engine::Status;
use ringtun_driver::host::{FaultKind, HostDriver, RingAllocation};
use ringtun_driver::ring_abi::v1::{RegistrationV1x64, RingDescV1x64};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RegistrationV2Ext, RingDescV2};
use ringtun_driver::ring_abi::RegistrationFlags;
use ringtun_driver::ring_abi::{v1_ring_size, CallerBitness, RingGeometry, Room, IOCTL_REGISTER_RINGS};
use zerocopy::{FromBytes, IntoBytes};

/// Rings of a v2 registration (room 0/0, the smallest capacity).
fn v2_rings(driver: &HostDriver) -> (RingGeometry, Arc<RingAllocation>, Arc<RingAllocation>) {
    let geometry = RingGeometry::v2(0x20000, Room::new(0, 0)).unwrap();
    let alloc = || driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
    (geometry, alloc(), alloc())
}

fn v2_input(geometry: &RingGeometry, send: (u64, u64), receive: (u64, u64)) -> Vec<u8> {
    let desc = |(ring_ptr, tail_moved_event): (u64, u64)| RingDescV2 {
        ring_size: geometry.ring_size(),
        headroom: 0,
        tailroom: 0,
        ring_ptr,
        tail_moved_event,
    };
    RegistrationV2 { version: 2, flags: 0, send: desc(send), receive: desc(receive) }.as_bytes().to_vec()
}

/// Registers `input`; on a refusal, checks that nothing is left behind.
fn register(driver: &HostDriver, input: &[u8]) -> Result<(), Status> {
    let before = driver.resources();
    let file = driver.open(1, CallerBitness::Bits64);
    let result = driver.ioctl(&file, IOCTL_REGISTER_RINGS, input, &mut []).map(|_| ());
    if result.is_err() {
        assert_eq!(driver.resources(), before, "a refused registration left something behind");
        assert!(driver.adapter().session().is_none());
    }
    // The handle is not closed (`HostDriver::close`): a registered session lives on.
    result
}

#[test]
fn one_event_for_both_rings_is_refused_before_any_ring_is_probed() {
    let driver = HostDriver::new();
    let (geometry, send, receive) = v2_rings(&driver);
    let (send_ptr, receive_ptr) = (send.as_ptr() as u64, receive.as_ptr() as u64);
    let (event, _) = driver.kernel().create_event(true, false);
    let duplicate = driver.kernel().duplicate_handle(event).unwrap();
    assert_ne!(duplicate, event);

    // Any probe fails from here on: an answer other than the invalid parameter would mean a ring
    // was probed before the events were compared.
    driver.faults().fail_map.store(true, Ordering::SeqCst);
    for (what, receive_event) in [("the same handle twice", event), ("two handles to one event", duplicate)] {
        let input = v2_input(&geometry, (send_ptr, event), (receive_ptr, receive_event));
        assert_eq!(register(&driver, &input), Err(Status::InvalidParameter), "{what}");
    }
    // The same with rings that could never be probed (memory that is not the caller's).
    let input = v2_input(&geometry, (0x10_0000, event), (0x20_0000, duplicate));
    assert_eq!(register(&driver, &input), Err(Status::InvalidParameter), "unprobeable rings");
    assert_eq!(driver.faults().injected(FaultKind::Map), 0, "a ring was probed");
    driver.faults().fail_map.store(false, Ordering::SeqCst);

    let stats = driver.adapter().stats();
    assert_eq!((stats.registrations_refused, stats.sessions_registered), (3, 0));
    assert!(driver.stack().link_history().is_empty(), "the link went up for a refused registration");

    // Two events: the same rings register.
    let (other, _) = driver.kernel().create_event(true, false);
    let input = v2_input(&geometry, (send_ptr, event), (receive_ptr, other));
    assert_eq!(register(&driver, &input), Ok(()));
    assert_eq!(driver.adapter().stats().sessions_registered, 1);
}

#[test]
fn one_event_for_both_v1_rings_is_refused() {
    let driver = HostDriver::new();
    let size = v1_ring_size(0x20000);
    // Wintun's layout: one region, the Receive ring right after the Send ring.
    let region = driver.kernel().alloc_ring(2 * size as usize).unwrap();
    let (event, _) = driver.kernel().create_event(true, false);
    let duplicate = driver.kernel().duplicate_handle(event).unwrap();
    let desc = |ring_ptr, tail_moved_event| RingDescV1x64 { ring_size: size, pad: 0, ring_ptr, tail_moved_event };
    let input = |receive_event| {
        let base = region.as_ptr() as u64;
        RegistrationV1x64 { send: desc(base, event), receive: desc(base + u64::from(size), receive_event) }
            .as_bytes()
            .to_vec()
    };
    assert_eq!(register(&driver, &input(event)), Err(Status::InvalidParameter), "the same handle twice");
    assert_eq!(register(&driver, &input(duplicate)), Err(Status::InvalidParameter), "two handles to one event");
    let (other, _) = driver.kernel().create_event(true, false);
    assert_eq!(register(&driver, &input(other)), Ok(()));
}

#[test]
fn the_receive_event_as_the_write_space_event_is_refused() {
    let driver = HostDriver::new();
    let (geometry, send, receive) = v2_rings(&driver);
    let (send_ptr, receive_ptr) = (send.as_ptr() as u64, receive.as_ptr() as u64);
    let (send_event, _) = driver.kernel().create_event(true, false);
    let (receive_event, _) = driver.kernel().create_event(true, false);
    let duplicate = driver.kernel().duplicate_handle(receive_event).unwrap();
    let input = |space_event| {
        let base = v2_input(&geometry, (send_ptr, send_event), (receive_ptr, receive_event));
        let mut base = RegistrationV2::read_from_bytes(&base).unwrap();
        base.flags = RegistrationFlags::WRITE_SPACE.bits();
        RegistrationV2Ext { base, write_space_event: space_event }.as_bytes().to_vec()
    };
    driver.faults().fail_map.store(true, Ordering::SeqCst);
    for (what, space_event) in [("the same handle", receive_event), ("another handle to it", duplicate)] {
        assert_eq!(register(&driver, &input(space_event)), Err(Status::InvalidParameter), "{what}");
    }
    assert_eq!(driver.faults().injected(FaultKind::Map), 0, "a ring was probed");
    driver.faults().fail_map.store(false, Ordering::SeqCst);
    // The Send ring's event as the write-space event: both are set by the driver, waited on by the
    // client, which may share one.
    assert_eq!(register(&driver, &input(send_event)), Ok(()));
    assert!(driver.adapter().session().is_some_and(|s| s.config().write_space_event.is_some()));
}
