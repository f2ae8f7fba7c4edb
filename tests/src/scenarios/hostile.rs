//! A hostile client: random scribbles on both rings while traffic runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::{CallerBitness, PacketHeader, RING_STOPPED};
use ringtun::backend::ClientEvent;
use ringtun::{Session, SessionConfig};

use super::common::{receive_n, send, v1, v2, PATIENCE};
use crate::backend::{Backend, Failure, Outcome};
use crate::packets::{ipv4, raw, Rng};
use crate::{ensure, ensure_eq};

fn scribble<B: Backend>(b: &B, config: SessionConfig, seed: u64) -> Result<(), Failure> {
    let s = Session::open(b.open_client(1, CallerBitness::Bits64), config)?;
    let ring_size = s.config().receive.geometry.ring_size() as usize;
    let capacity = s.config().receive.geometry.capacity();
    b.set_hold(true);
    let stop = AtomicBool::new(false);
    let out_of_bounds = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_millis(300);
    thread::scope(|scope| {
        let (stop, out_of_bounds, s) = (&stop, &out_of_bounds, &s);
        // The client: between its own sends and receives, random values into head, tail,
        // alertable and packet headers of both rings. The scribbles and the client's packet
        // writes (`send_once` copies through `data_mut()`, a plain `&mut [u8]`) come from this one
        // thread in program order: a client racing its own writes is not what is under test (and
        // would be a data race inside the test). What is under test is the driver meeting those
        // scribbles concurrently, from its own threads.
        scope.spawn(move || {
            let mut rng = Rng::new(seed);
            let mut seq = 0u32;
            while Instant::now() < deadline {
                scribble_once(s, &mut rng, capacity);
                let _ = send_once(s, &ipv4(100, seq));
                let _ = s.receive();
                seq += 1;
                thread::yield_now();
            }
            stop.store(true, Ordering::SeqCst);
        });
        // The network keeps sending.
        scope.spawn(move || {
            let mut seq = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let p = raw(200, seq);
                let outcomes = b.transmit(&[&p, &p]);
                assert_eq!(outcomes.len(), 2);
                seq += 1;
            }
        });
        // The stack checks every indication lies inside the ring, and returns it.
        scope.spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                b.wait_held(1, Duration::from_millis(5));
                let held = b.take_held();
                for h in &held {
                    let (offset, len) = b.held_span(h);
                    if offset + len > ring_size || len > 0xFFFF {
                        out_of_bounds.store(true, Ordering::SeqCst);
                    }
                }
                b.return_held(held);
            }
        });
    });
    b.set_hold(false);
    b.return_held(b.take_held());
    ensure!(!out_of_bounds.load(Ordering::SeqCst), "an indication reached outside the ring");
    // Now a certainly corrupt tail: the ring stops, head = RING_STOPPED, counted.
    let before = b.counters().receive_ring_faults;
    let out = s.outgoing_ring();
    let geometry = *out.geometry();
    let current = out.load_tail();
    out.store_tail(if geometry.is_valid_offset(current) { current ^ 2 } else { 2 });
    // The scribbles may have cleared `alertable` while the driver slept: wake it as a producer
    // would, so it reads the corrupt tail.
    s.outgoing_event().set();
    let deadline = Instant::now() + PATIENCE;
    while out.load_head() != RING_STOPPED && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    if out.load_head() != RING_STOPPED {
        // The scribbles may already have stopped the ring (its head then may have been
        // overwritten by the scribbler itself); it must have been counted.
        ensure!(b.counters().receive_ring_faults >= 1, "ring not stopped and no fault counted");
    } else {
        ensure!(b.counters().receive_ring_faults >= before.max(1), "fault not counted");
    }
    // The adapter is fine: the session ends normally, and a new one works both ways.
    drop(s);
    ensure_eq!(b.counters().sessions_ended, 1);
    let fresh = Session::open(b.open_client(2, CallerBitness::Bits64), SessionConfig::default())?;
    let p = raw(500, 1);
    ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent]);
    ensure_eq!(receive_n(&fresh, 1)?, vec![p]);
    let baseline = b.counters().receive_packets;
    b.take_delivered();
    send(&fresh, &ipv4(300, 2))?;
    ensure!(b.wait_delivered(baseline + 1, PATIENCE), "fresh session: nothing delivered");
    ensure_eq!(b.take_delivered(), vec![ipv4(300, 2)]);
    Ok(())
}

/// One hostile write: a random value into a ring index, `alertable`, or a packet header (all
/// shared words, written atomically as the protocol's words are).
fn scribble_once<C: ringtun::backend::Backend>(s: &Session<C>, rng: &mut Rng, capacity: u32) {
    let value = match rng.range(0, 3) {
        0 => rng.next_u64() as u32,
        1 => rng.range(0, u64::from(capacity)) as u32 & !3,
        2 => RING_STOPPED,
        _ => rng.range(0, 64) as u32,
    };
    let (out, inc) = (s.outgoing_ring(), s.incoming_ring());
    match rng.range(0, 7) {
        0 => out.store_tail(value),
        1 => inc.store_head(value),
        2 => out.store_alertable(value & 1 == 1),
        3 => inc.store_alertable(value & 1 == 1),
        4 | 5 => {
            let at = rng.range(0, u64::from(capacity)) as u32 & !7;
            let header = match s.version() {
                ring_abi::RingVersion::V1 => PacketHeader::V1 { size: value },
                ring_abi::RingVersion::V2 => PacketHeader::V2 {
                    slot_size: value,
                    data_offset: rng.next_u64() as u16,
                    data_length: rng.next_u64() as u16,
                },
            };
            let _ = out.write_packet_header(at, header);
        }
        _ => {
            let _ = inc.write_packet_header(0, PacketHeader::V1 { size: value });
        }
    }
}

fn send_once<C: ringtun::backend::Backend>(s: &Session<C>, p: &[u8]) -> Result<(), ringtun::Error> {
    let mut slot = s.allocate(p.len(), 0, 0)?;
    slot.data_mut().copy_from_slice(p);
    s.send(slot)
}

/// v1 rings.
pub fn scribbling_client_v1<B: Backend>(b: &B) -> Result<(), Failure> {
    scribble(b, v1(), 0xBAD1)
}

/// v2 rings.
pub fn scribbling_client_v2<B: Backend>(b: &B) -> Result<(), Failure> {
    scribble(b, v2(), 0xBAD2)
}
