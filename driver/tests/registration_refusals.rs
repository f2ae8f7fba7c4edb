//! Registrations the adapter must refuse, and where: a halted adapter or a queried removal is
//! refused before any page is locked, also when the removal is queried (or the adapter halted)
//! while the registration is under way; a platform mapping shorter than the ring is refused.
//! Nothing is left behind by a refusal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use ringtun_driver::engine::Status;
use ringtun_driver::host::{FaultKind, HostDriver, HostFile, RingAllocation};
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{CallerBitness, RingGeometry, Room, IOCTL_REGISTER_RINGS, MIN_RING_CAPACITY};
use zerocopy::IntoBytes;

/// Ring memory and events for one v2 registration.
struct Rings {
    _memory: [Arc<RingAllocation>; 2],
    input: RegistrationV2,
}

impl Rings {
    fn new(driver: &HostDriver) -> Self {
        let geometry = RingGeometry::v2(MIN_RING_CAPACITY, Room::NONE).unwrap();
        let size = geometry.ring_size();
        let memory = [0, 1].map(|_| driver.kernel().alloc_ring(size as usize).unwrap());
        let events = [0, 1].map(|_| driver.kernel().create_event(true, false).0);
        let desc = |i: usize| RingDescV2 {
            ring_size: size,
            headroom: 0,
            tailroom: 0,
            ring_ptr: memory[i].as_ptr() as u64,
            tail_moved_event: events[i],
        };
        Self { input: RegistrationV2 { version: 2, flags: 0, send: desc(0), receive: desc(1) }, _memory: memory }
    }

    fn register(&self, driver: &HostDriver, file: &HostFile) -> Result<usize, Status> {
        driver.ioctl(file, IOCTL_REGISTER_RINGS, self.input.as_bytes(), &mut [])
    }
}

/// Nothing of a refused registration is left: no session, mapping, event reference or thread.
fn nothing_left(driver: &HostDriver) {
    assert!(driver.adapter().session().is_none());
    let left = driver.resources();
    assert_eq!((left.mappings, left.event_references, left.workers, left.indications), (0, 0, 0, 0), "{left:?}");
}

/// Counts the fallible platform calls (ring mappings, event references and creations, the
/// consumer thread) from now on.
fn count_platform_calls(driver: &HostDriver) -> Arc<AtomicU64> {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    driver.faults().set_call_hook(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    calls
}

/// A halted adapter, or one whose removal was queried, refuses a registration before it makes
/// any platform call (no page is locked, no event referenced); after a cancelled removal the
/// same registration is accepted.
#[test]
fn refused_before_any_platform_call_while_removing_or_halted() {
    let driver = HostDriver::new();
    let rings = Rings::new(&driver);
    let file = driver.open(5, CallerBitness::Bits64);
    driver.query_remove();
    let calls = count_platform_calls(&driver);
    assert_eq!(rings.register(&driver, &file), Err(Status::DeviceNotReady));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "platform calls made for a registration refused up front");
    assert_eq!(driver.adapter().stats().registrations_refused, 1);
    nothing_left(&driver);
    driver.cancel_remove();
    assert_eq!(rings.register(&driver, &file), Ok(0));
    assert!(calls.load(Ordering::SeqCst) >= 4, "a registration maps two rings and references two events");
    driver.faults().clear_call_hook();
    driver.close(file);

    let driver = HostDriver::new();
    let rings = Rings::new(&driver);
    let file = driver.open(5, CallerBitness::Bits64);
    driver.adapter().halt();
    let calls = count_platform_calls(&driver);
    assert_eq!(rings.register(&driver, &file), Err(Status::DeviceNotReady));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "platform calls made for a registration refused up front");
    nothing_left(&driver);
    driver.faults().clear_call_hook();
}

/// A removal queried, or a halt, while a registration maps its rings and starts its consumer:
/// the registration is refused when it would publish the session, and undoes everything.
#[test]
fn removal_or_halt_during_a_registration_refuses_it() {
    for halt in [false, true] {
        let driver = HostDriver::new();
        let rings = Rings::new(&driver);
        let file = driver.open(5, CallerBitness::Bits64);
        let weak: Weak<HostDriver> = Arc::downgrade(&driver);
        // The consumer thread is the registration's last platform call before it publishes.
        driver.faults().set_call_hook(move |kind| {
            if let (FaultKind::Spawn, Some(driver)) = (kind, weak.upgrade()) {
                if halt {
                    driver.adapter().halt();
                } else {
                    driver.query_remove();
                }
            }
        });
        assert_eq!(rings.register(&driver, &file), Err(Status::DeviceNotReady), "halt: {halt}");
        driver.faults().clear_call_hook();
        nothing_left(&driver);
        assert_eq!(driver.adapter().stats().sessions_registered, 0);
        if !halt {
            driver.cancel_remove();
            assert_eq!(rings.register(&driver, &file), Ok(0));
            driver.close(file);
        }
    }
}

/// A platform whose mapping is shorter than the ring it was asked for: the registration is
/// refused as a bad buffer (the engine never builds a ring over too little memory).
#[test]
fn mapping_shorter_than_the_ring_refused() {
    let driver = HostDriver::new();
    let rings = Rings::new(&driver);
    let file = driver.open(5, CallerBitness::Bits64);
    driver.faults().short_map.store(true, Ordering::SeqCst);
    assert_eq!(rings.register(&driver, &file), Err(Status::InvalidUserBuffer));
    nothing_left(&driver);
    driver.faults().short_map.store(false, Ordering::SeqCst);
    assert_eq!(rings.register(&driver, &file), Ok(0));
    driver.close(file);
}
