//! Resource failures inside the driver.

use ring_abi::CallerBitness;
use ringtun::backend::DeviceError;
use ringtun::{Error, Session};

use super::common::{send, v1, v2, PATIENCE};
use crate::backend::{Backend, Failure};
use crate::packets::ipv4;
use crate::{ensure, ensure_eq};

/// No NBL for three packets: they are dropped and counted, their slots still released in
/// order, and the packets after them delivered.
pub fn indication_failures<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = Session::open(b.open_client(1, CallerBitness::Bits64), v2())?;
    b.fail_next_indications(3);
    let packets: Vec<Vec<u8>> = (0..10).map(|i| ipv4(100 + i, i as u32)).collect();
    for p in &packets {
        send(&s, p)?;
    }
    ensure!(b.wait_delivered(7, PATIENCE), "the packets after the failures were not delivered");
    ensure_eq!(b.take_delivered(), packets[3..].to_vec());
    let c = b.counters();
    ensure_eq!(c.receive_dropped_no_resources, 3);
    ensure_eq!(c.receive_packets, 7);
    let ring = s.outgoing_ring();
    let deadline = std::time::Instant::now() + PATIENCE;
    while ring.load_head() != ring.load_tail() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    ensure_eq!(ring.load_head(), ring.load_tail(), "slots of dropped packets released");
    Ok(())
}

/// Mapping, event and thread failures refuse the registration with the right status and leave
/// nothing behind; the next registration works.
pub fn registration_failures<B: Backend>(b: &B) -> Result<(), Failure> {
    let open = |config| Session::open(b.open_client(1, CallerBitness::Bits64), config);
    b.fail_map(true);
    ensure!(matches!(open(v2()), Err(Error::Device(DeviceError::InsufficientResources))), "map failure");
    b.fail_map(false);
    b.fail_reference_event(true);
    // Refused with invalid handle (as Wintun), v2 and v1 alike; not a reason to fall back.
    ensure!(matches!(open(v2()), Err(Error::Device(DeviceError::InvalidHandle))), "event failure");
    ensure!(matches!(open(v1()), Err(Error::Device(DeviceError::InvalidHandle))), "event failure, v1");
    b.fail_reference_event(false);
    b.fail_spawn(true);
    ensure!(matches!(open(v2()), Err(Error::Device(DeviceError::InsufficientResources))), "thread failure");
    b.fail_spawn(false);
    if let Some(live) = b.live_rings() {
        ensure_eq!(live, 0, "ring memory still referenced after refused registrations");
    }
    let c = b.counters();
    ensure_eq!(c.sessions_registered, 0);
    // Map, event (v2), event (v1), thread: an invalid handle is no reason to fall back to v1.
    ensure_eq!(c.registrations_refused, 4);
    ensure!(b.link_history().is_empty(), "link went up: {:?}", b.link_history());
    let s = open(v2())?;
    send(&s, &ipv4(64, 1))?;
    ensure!(b.wait_delivered(1, PATIENCE), "no traffic after the failures");
    ensure_eq!(b.counters().sessions_registered, 1);
    Ok(())
}
