//! Low-resources simulation (what Driver Verifier does to pool allocations): a global allocator
//! that fails the n-th allocation the test thread makes, for every n until the operation no
//! longer allocates that much. Every failure must become a clean refusal: an infallible
//! allocation (`Box::new`, `Arc::new`, a growing `Vec`) on the path would abort this test binary.
//! The host platform's own std objects are exempt (see `host::in_platform_allocation`); the
//! primitives they stand in for fail through `HostFaults` in the scenario suite.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ringtun_driver::engine::Status;
use ringtun_driver::host::{in_platform_allocation, HostDriver};
use ringtun_driver::platform::PlatformError;
use ringtun_driver::ring_abi::v2::{RegistrationV2, RingDescV2};
use ringtun_driver::ring_abi::{CallerBitness, RingGeometry, Room, IOCTL_REGISTER_RINGS};
use zerocopy::IntoBytes;

struct FailingAllocator;

std::thread_local! {
    /// Allocations left before the next one fails; `None`: not armed.
    static COUNTDOWN: Cell<Option<u64>> = const { Cell::new(None) };
    /// Whether an allocation failed while armed.
    static FAILED: Cell<bool> = const { Cell::new(false) };
}

fn should_fail() -> bool {
    if in_platform_allocation() {
        return false;
    }
    COUNTDOWN.with(|c| match c.get() {
        Some(0) => {
            c.set(None);
            FAILED.with(|f| f.set(true));
            true
        }
        Some(n) => {
            c.set(Some(n - 1));
            false
        }
        None => false,
    })
}

// SAFETY: forwards to the system allocator, or reports failure (null) without allocating.
unsafe impl GlobalAlloc for FailingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if should_fail() {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if should_fail() {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: FailingAllocator = FailingAllocator;

/// Runs `f` with the `n`-th allocation of this thread failing; returns its result and whether an
/// allocation failed.
fn with_failure_at<R>(n: u64, f: impl FnOnce() -> R) -> (R, bool) {
    FAILED.with(|f| f.set(false));
    COUNTDOWN.with(|c| c.set(Some(n)));
    let result = f();
    COUNTDOWN.with(|c| c.set(None));
    (result, FAILED.with(Cell::get))
}

struct Client {
    input: Vec<u8>,
    _memory: Vec<std::sync::Arc<ringtun_driver::host::RingAllocation>>,
}

fn client(driver: &HostDriver) -> Client {
    let geometry = RingGeometry::v2(0x20000, Room::new(16, 8)).unwrap();
    let send = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
    let receive = driver.kernel().alloc_ring(geometry.ring_size() as usize).unwrap();
    let (send_event, _) = driver.kernel().create_event(true, false);
    let (receive_event, _) = driver.kernel().create_event(true, false);
    let desc = |ring: &ringtun_driver::host::RingAllocation, event| RingDescV2 {
        ring_size: geometry.ring_size(),
        headroom: 16,
        tailroom: 8,
        ring_ptr: ring.as_ptr() as u64,
        tail_moved_event: event,
    };
    let registration =
        RegistrationV2 { version: 2, flags: 0, send: desc(&send, send_event), receive: desc(&receive, receive_event) };
    Client { input: registration.as_bytes().to_vec(), _memory: vec![send, receive] }
}

#[test]
fn every_allocation_failure_in_a_registration_is_a_clean_refusal() {
    let driver = HostDriver::new();
    let mut failures = 0u64;
    for n in 0.. {
        // Fresh rings each time: an ended session leaves its rings marked stopped.
        let attempt = client(&driver);
        let file = driver.open(7, CallerBitness::Bits64);
        let (result, failed) =
            with_failure_at(n, || driver.ioctl(&file, IOCTL_REGISTER_RINGS, &attempt.input, &mut []));
        if !failed {
            assert_eq!(result, Ok(0), "registration with allocation {n} and later succeeding");
            driver.close(file);
            break;
        }
        failures += 1;
        assert_eq!(result, Err(Status::InsufficientResources), "allocation {n} failed");
        assert!(driver.adapter().session().is_none(), "a session survived allocation failure {n}");
        // Nothing was left behind: the rings are referenced only by the client.
        drop(attempt);
        assert_eq!(driver.kernel().live_ring_allocations(), 0, "ring still mapped after failure {n}");
        // The adapter still works: the next registration succeeds and ends cleanly.
        let next = client(&driver);
        let file = driver.open(8, CallerBitness::Bits64);
        assert_eq!(driver.ioctl(&file, IOCTL_REGISTER_RINGS, &next.input, &mut []), Ok(0));
        driver.close(file);
        assert!(driver.adapter().session().is_none());
    }
    // The session, the Send path's reservation queue, the Receive path's record queue and batch.
    assert!(failures >= 4, "only {failures} allocations on the registration path");
    assert_eq!(driver.adapter().stats().registrations_refused, failures);
}

#[test]
fn a_push_that_cannot_grow_hands_the_value_back() {
    use ringtun_driver::fallible::{try_push, try_vec_with_capacity};
    let mut vec = try_vec_with_capacity::<String>(1).unwrap();
    while vec.len() < vec.capacity() {
        try_push(&mut vec, String::from("kept")).unwrap();
    }
    let (capacity, len) = (vec.capacity(), vec.len());
    let value = String::from("refused");
    // Full: the push must grow, and the allocation fails.
    let (result, failed) = with_failure_at(0, || try_push(&mut vec, value));
    assert!(failed, "the full vector did not try to grow");
    assert_eq!(result, Err(String::from("refused")), "the value was not handed back");
    assert_eq!((vec.capacity(), vec.len()), (capacity, len), "a failed push changed the vector");
    // With memory, the same push grows the vector.
    try_push(&mut vec, String::from("grown")).unwrap();
    assert_eq!(vec.last().map(String::as_str), Some("grown"));
}

#[test]
fn adapter_allocation_failure_is_a_clean_error() {
    let (result, failed) = with_failure_at(0, HostDriver::try_new);
    assert!(failed);
    assert!(matches!(result, Err(PlatformError::InsufficientResources)));
    let (result, failed) = with_failure_at(1, HostDriver::try_new);
    assert!(!failed, "the adapter needs a single allocation");
    assert!(result.is_ok());
}
