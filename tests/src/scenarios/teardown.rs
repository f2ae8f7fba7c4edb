//! Session end with packets in flight, and pause/restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use ring_abi::{CallerBitness, RING_STOPPED};
use ringtun::backend::DeviceError;
use ringtun::{Error, Session};

use super::common::{receive_n, send, v2, PATIENCE};
use crate::backend::{Backend, Failure, Outcome};
use crate::packets::{ipv4, raw};
use crate::{ensure, ensure_eq};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Trigger {
    Close,
    ProcessExit,
    Halt,
    SurpriseRemove,
}

/// A session with 40 outgoing packets held by the stack and 10 incoming ones published, then
/// `trigger`: the end waits for every held packet to come back (returned late, from another
/// thread), sets both markers, takes the link down, and loses nothing it accepted.
fn end_with_packets_in_flight<B: Backend>(b: &B, trigger: Trigger) -> Result<(), Failure> {
    const PROCESS: u64 = 4242;
    let s = Session::open(b.open_client(PROCESS, CallerBitness::Bits64), v2())?;
    b.set_hold(true);
    let outgoing: Vec<Vec<u8>> = (0..40).map(|i| ipv4(100 + i, i as u32)).collect();
    for p in &outgoing {
        send(&s, p)?;
    }
    ensure!(b.wait_held(40, PATIENCE), "not all indicated");
    let incoming: Vec<Vec<u8>> = (0..10).map(|i| raw(300 + i, 100 + i as u32)).collect();
    let refs: Vec<&[u8]> = incoming.iter().map(Vec::as_slice).collect();
    ensure_eq!(b.transmit(&refs), vec![Outcome::Sent; 10]);
    // The client reads what was published before the end.
    ensure_eq!(receive_n(&s, 10)?, incoming);

    let held = b.take_held();
    for (i, h) in held.iter().enumerate() {
        ensure_eq!(b.held_bytes(h), outgoing[i], "held packet {i} intact");
    }
    // The stack returns everything 100 ms from now, from another thread.
    let returning = AtomicBool::new(false);
    thread::scope(|scope| -> Result<(), Failure> {
        let returning = &returning;
        scope.spawn(move || {
            thread::sleep(Duration::from_millis(100));
            returning.store(true, Ordering::SeqCst);
            b.return_held(held);
        });
        match trigger {
            Trigger::Close => drop(s),
            Trigger::ProcessExit => {
                b.process_exit(PROCESS);
                ensure_session_ended(&s)?;
                drop(s);
            }
            Trigger::Halt => {
                b.halt();
                ensure_session_ended(&s)?;
                drop(s);
            }
            Trigger::SurpriseRemove => {
                b.surprise_remove();
                ensure_session_ended(&s)?;
                drop(s);
            }
        }
        ensure!(returning.load(Ordering::SeqCst), "the session ended before the stack returned its packets");
        Ok(())
    })?;
    // Nothing leaked: with the client's session gone, no ring memory is alive anywhere (the
    // driver unmapped both rings, the stack released every packet).
    if let Some(live) = b.live_rings() {
        ensure_eq!(live, 0, "ring memory still referenced after the session ended");
    }
    let c = b.counters();
    ensure_eq!(c.sessions_ended, 1);
    ensure_eq!(c.receive_packets, 40);
    ensure_eq!(c.send_packets, 10);
    ensure_eq!(b.link_history(), vec![true, false]);
    // Sends after the end are refused, not lost silently.
    let p = raw(100, 1);
    ensure_eq!(b.transmit(&[&p]), vec![Outcome::NotRunning]);
    ensure_eq!(b.counters().send_dropped_not_running, 1);
    // A new session: refused after halt, accepted otherwise.
    b.set_hold(false);
    let again = Session::open(b.open_client(7, CallerBitness::Bits64), v2());
    if trigger == Trigger::Halt {
        ensure!(matches!(again, Err(Error::Device(DeviceError::NotReady))), "registration after halt");
    } else {
        let again = again?;
        send(&again, &ipv4(64, 77))?;
        ensure!(b.wait_delivered(41, PATIENCE), "no traffic on the next session");
    }
    Ok(())
}

fn ensure_session_ended<C: ringtun::backend::Backend>(s: &Session<C>) -> Result<(), Failure> {
    ensure_eq!(s.incoming_ring().load_tail(), RING_STOPPED, "Send tail marker");
    ensure_eq!(s.outgoing_ring().load_head(), RING_STOPPED, "Receive head marker");
    ensure!(matches!(s.receive(), Err(Error::SessionEnded)), "receive after the end");
    ensure!(matches!(s.allocate(100, 0, 0), Err(Error::SessionEnded)), "allocate after the end");
    Ok(())
}

/// Close.
pub fn close_with_packets_in_flight<B: Backend>(b: &B) -> Result<(), Failure> {
    end_with_packets_in_flight(b, Trigger::Close)
}

/// Owner process exit.
pub fn process_exit_with_packets_in_flight<B: Backend>(b: &B) -> Result<(), Failure> {
    end_with_packets_in_flight(b, Trigger::ProcessExit)
}

/// The owner process exits while a close (from a handle another process holds) is tearing the
/// session down: the exit notification must not return before that teardown has released the
/// rings, or the process would leave with its ring pages still locked.
pub fn process_exit_waits_for_close_in_progress<B: Backend>(b: &B) -> Result<(), Failure> {
    const PROCESS: u64 = 4343;
    let s = Session::open(b.open_client(PROCESS, CallerBitness::Bits64), v2())?;
    b.set_hold(true);
    for i in 0..4 {
        send(&s, &ipv4(100, i))?;
    }
    ensure!(b.wait_held(4, PATIENCE), "not all indicated");
    let held = b.take_held();
    let returned = AtomicBool::new(false);
    thread::scope(|scope| -> Result<(), Failure> {
        // The close: its teardown waits for the held packets.
        let closer = scope.spawn(move || drop(s));
        // Link down is teardown step 2, before the wait for the stack's returns.
        let deadline = std::time::Instant::now() + PATIENCE;
        while b.link_history() != [true, false] {
            ensure!(std::time::Instant::now() < deadline, "close did not start tearing down");
            thread::sleep(Duration::from_millis(1));
        }
        let returned = &returned;
        scope.spawn(move || {
            thread::sleep(Duration::from_millis(100));
            returned.store(true, Ordering::SeqCst);
            b.return_held(held);
        });
        b.process_exit(PROCESS);
        ensure!(
            returned.load(Ordering::SeqCst),
            "the exit notification returned while the close's teardown was still in progress"
        );
        closer.join().map_err(|_| Failure::new("close panicked"))?;
        Ok(())
    })?;
    let c = b.counters();
    ensure_eq!(c.sessions_ended, 1, "one teardown, not two");
    ensure_eq!(c.receive_packets, 4);
    Ok(())
}

/// PnP query-remove ends the session (pages and events released) and refuses registrations
/// until the removal is cancelled; then the adapter works again.
pub fn query_remove_ends_session_until_cancelled<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = Session::open(b.open_client(11, CallerBitness::Bits64), v2())?;
    send(&s, &ipv4(64, 1))?;
    ensure!(b.wait_delivered(1, PATIENCE), "no traffic before the removal");
    b.query_remove();
    ensure_session_ended(&s)?;
    ensure_eq!(b.link_history().last().copied(), Some(false), "link down");
    let refused = Session::open(b.open_client(12, CallerBitness::Bits64), v2());
    ensure!(matches!(refused, Err(Error::Device(DeviceError::NotReady))), "registration during a pending removal");
    drop(s);
    b.cancel_remove();
    let again = Session::open(b.open_client(13, CallerBitness::Bits64), v2())?;
    send(&again, &ipv4(64, 2))?;
    ensure!(b.wait_delivered(2, PATIENCE), "no traffic after the removal was cancelled");
    Ok(())
}

/// A real device removal (disable) while a client holds a session: the removal is not vetoed
/// for the open handle (the client library closes it on Windows' query-remove notification and
/// the driver ends the session), the client sees the session end, and the device comes back.
pub fn removal_with_session_open<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = Session::open(b.open_client(1, CallerBitness::Bits64), v2())?;
    let removed = b.disable_device();
    let ended = matches!(s.receive(), Err(Error::SessionEnded));
    let restored = b.enable_device();
    removed?;
    restored?;
    ensure!(ended, "the session did not end when the device was removed");
    Ok(())
}

/// Adapter halt.
pub fn halt_with_packets_in_flight<B: Backend>(b: &B) -> Result<(), Failure> {
    end_with_packets_in_flight(b, Trigger::Halt)
}

/// Surprise removal.
pub fn surprise_remove_with_packets_in_flight<B: Backend>(b: &B) -> Result<(), Failure> {
    end_with_packets_in_flight(b, Trigger::SurpriseRemove)
}

/// Pause waits until the stack returned every packet; while paused, sends are refused and
/// client packets wait in the ring; restart delivers them.
pub fn pause_and_restart<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = Session::open(b.open_client(1, CallerBitness::Bits64), v2())?;
    b.set_hold(true);
    for i in 0..5 {
        send(&s, &ipv4(80, i))?;
    }
    ensure!(b.wait_held(5, PATIENCE), "not indicated");
    let held = b.take_held();
    thread::scope(|scope| -> Result<(), Failure> {
        let pauser = scope.spawn(move || b.pause());
        thread::sleep(Duration::from_millis(50));
        ensure!(!pauser.is_finished(), "pause returned with packets still at the stack");
        b.return_held(held);
        pauser.join().map_err(|_| Failure::new("pause panicked"))?;
        Ok(())
    })?;
    let p = raw(100, 9);
    // A send refused while paused completes as paused (NDIS_STATUS_PAUSED), not as disconnected.
    ensure_eq!(b.transmit(&[&p]), vec![Outcome::Paused]);
    b.set_hold(false);
    for i in 10..13 {
        send(&s, &ipv4(90, i))?;
    }
    thread::sleep(Duration::from_millis(50));
    ensure_eq!(b.counters().receive_packets, 5, "indicated while paused");
    b.take_delivered();
    b.restart();
    ensure!(b.wait_delivered(8, PATIENCE), "not delivered after restart");
    ensure_eq!(b.take_delivered(), (10..13).map(|i| ipv4(90, i)).collect::<Vec<_>>());
    ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent]);
    ensure_eq!(receive_n(&s, 1)?, vec![p]);
    Ok(())
}
