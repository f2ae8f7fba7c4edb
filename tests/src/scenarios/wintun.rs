//! Wintun clients as they are: the single-allocation layout (Receive ring at `region +
//! ring_size`, 4 mod 8), 64- and 32-bit registrations, every capacity, Wintun's call pattern;
//! the observable v1 behaviours of `docs/ring-protocol.md` section 13.1; and clients that lose
//! wake-ups (no full fence, or no signal at all).

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::{v1_ring_size, CallerBitness, CONSUMER_RECHECK_MAX_NS, RING_STOPPED};
use ringtun::backend::{Backend as ClientBackend, ClientEvent, DeviceError};

use super::common::PATIENCE;
use crate::backend::{Backend, Failure, Outcome};
use crate::packets::{ipv4, ipv6, raw, seq_of, Rng};
use crate::wintun_client::{registration_bytes, Layout, Publish, WintunError, WintunSession, CAPACITIES};
use crate::{ensure, ensure_eq};

const BITNESSES: [CallerBitness; 2] = [CallerBitness::Bits64, CallerBitness::Bits32];

fn start<B: Backend>(
    b: &B,
    process: u64,
    bitness: CallerBitness,
    capacity: u32,
    publish: Publish,
) -> Result<WintunSession<B::Client>, Failure> {
    let s = WintunSession::start(b.open_client(process, bitness), capacity, publish)
        .map_err(|e| Failure::new(format!("{bitness:?} capacity {capacity:#x}: start refused: {e:?}")))?;
    ensure_eq!(s.receive_ring_address() - s.send_ring_address(), u64::from(v1_ring_size(capacity)));
    ensure_eq!(s.receive_ring_address() % 8, 4, "the Receive ring is 4 mod 8");
    if bitness == CallerBitness::Bits32 {
        ensure!(
            s.receive_ring_address() + u64::from(v1_ring_size(capacity)) <= 1 << 32,
            "a 32-bit client's region lies below 4 GiB"
        );
    }
    Ok(s)
}

/// Sends `p` from the client, retrying while the ring is full.
fn send_retry<C: ClientBackend>(s: &WintunSession<C>, p: &[u8]) -> Result<(), Failure> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match s.send_bytes(p) {
            Ok(()) => return Ok(()),
            Err(WintunError::BufferOverflow) if Instant::now() < deadline => thread::sleep(Duration::from_micros(100)),
            Err(e) => return Err(Failure::new(format!("send: {e:?}"))),
        }
    }
}

fn receive<C: ClientBackend>(s: &WintunSession<C>) -> Result<Vec<u8>, Failure> {
    s.receive_wait(PATIENCE).map_err(|e| Failure::new(format!("receive: {e:?}")))
}

/// One packet each way, bytes checked.
fn one_each_way<B: Backend>(b: &B, s: &WintunSession<B::Client>, seq: u32) -> Result<(), Failure> {
    let down = raw(300, seq);
    ensure_eq!(b.transmit(&[&down]), vec![Outcome::Sent]);
    ensure_eq!(receive(s)?, down);
    let up = ipv4(200, seq + 1);
    let before = b.counters().receive_packets;
    send_retry(s, &up)?;
    ensure!(b.wait_delivered(before + 1, PATIENCE), "packet not delivered");
    ensure_eq!(b.take_delivered(), vec![up]);
    Ok(())
}

/// Registration at every capacity, 64- and 32-bit: accepted, traffic, a second registration
/// refused, and closing the handle ends the session with both markers set.
pub fn wintun_registration<B: Backend>(b: &B) -> Result<(), Failure> {
    let mut sessions = 0u64;
    for bitness in BITNESSES {
        for capacity in CAPACITIES {
            let mut s = start(b, 7, bitness, capacity, Publish::Fenced)?;
            sessions += 1;
            ensure_eq!(b.counters().sessions_registered, sessions);
            one_each_way(b, &s, capacity)?;
            // A second registration, from another handle of another process: refused.
            let other = b.open_client(8, bitness);
            let layout = Layout::new(&other, capacity)?;
            let input = layout.registration(bitness).ok_or_else(|| Failure::new("registration"))?;
            ensure_eq!(other.register(&input), Err(DeviceError::AlreadyInitialized));
            // ... and from the owner's own handle.
            if let Some(handle) = s.handle() {
                ensure_eq!(handle.register(&input), Err(DeviceError::AlreadyInitialized));
            }
            // Consume a signal left from the last publish, so that the check below sees teardown's.
            s.wait_readable(Duration::ZERO);
            s.close_handle();
            ensure!(s.stopped(), "markers after close: {:x?} {:x?}", s.send_header(), s.receive_header());
            ensure_eq!(s.receive_header().2, 0, "Receive alertable after teardown");
            ensure!(s.wait_readable(Duration::ZERO), "the read event is set at teardown");
        }
    }
    ensure_eq!(b.counters().sessions_ended, sessions);
    Ok(())
}

const DOWN_SIZES: &[usize] =
    &[1, 2, 3, 4, 5, 7, 8, 19, 20, 39, 40, 41, 64, 576, 1280, 1500, 4096, 9000, 32768, 65534, 65535];
const UP_SIZES: &[usize] = &[41, 60, 64, 576, 1280, 1500, 1501, 4096, 9000, 32768, 65534, 65535];

/// Traffic both ways at every capacity and bitness, packets of 1..=0xFFFF bytes, every byte
/// checked.
pub fn wintun_traffic_every_size<B: Backend>(b: &B) -> Result<(), Failure> {
    let mut seq = 0u32;
    for bitness in BITNESSES {
        for capacity in CAPACITIES {
            let s = start(b, 7, bitness, capacity, Publish::Fenced)?;
            for &len in DOWN_SIZES {
                seq += 1;
                let p = raw(len, seq);
                ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent], "{capacity:#x}: down {len}");
                ensure_eq!(receive(&s)?, p, "{capacity:#x}: down {len} bytes");
            }
            let mut sent = Vec::new();
            for &len in UP_SIZES {
                seq += 2;
                sent.push(ipv4(len, seq));
                sent.push(ipv6(len, seq + 1));
            }
            let before = b.counters().receive_packets;
            for p in &sent {
                send_retry(&s, p)?;
            }
            ensure!(b.wait_delivered(before + sent.len() as u64, PATIENCE), "{capacity:#x}: not all delivered");
            ensure_eq!(b.take_delivered(), sent, "{capacity:#x}: up bytes");
        }
    }
    let c = b.counters();
    ensure_eq!(c.receive_dropped_not_ip + c.receive_ring_faults + c.send_dropped_invalid, 0);
    Ok(())
}

/// Several laps of the smallest ring both ways, slot sizes stepping through every 4-byte
/// offset so that slots start at every aligned position around the wrap.
pub fn wintun_wrap_around<B: Backend>(b: &B) -> Result<(), Failure> {
    for bitness in BITNESSES {
        let s = start(b, 7, bitness, CAPACITIES[0], Publish::Fenced)?;
        let laps_bytes = 4 * CAPACITIES[0] as usize;
        let (mut down_bytes, mut seq) = (0usize, 0u32);
        while down_bytes < laps_bytes {
            let p = raw(1000 + (seq as usize % 16), seq);
            ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent]);
            ensure_eq!(receive(&s)?, p, "down {seq}");
            down_bytes += p.len();
            seq += 1;
        }
        let mut up_bytes = 0usize;
        while up_bytes < laps_bytes {
            let p = ipv4(1000 + (seq as usize % 16), seq);
            let before = b.counters().receive_packets;
            send_retry(&s, &p)?;
            ensure!(b.wait_delivered(before + 1, PATIENCE), "up {seq} not delivered");
            ensure_eq!(b.take_delivered(), vec![p.clone()], "up {seq}");
            up_bytes += p.len();
            seq += 1;
        }
        let (head, tail, _) = s.send_header();
        ensure_eq!(head, tail, "Send ring fully released");
    }
    Ok(())
}

/// Several client threads allocating and sending at once while the stack sends: every packet
/// exactly once, each thread's packets in its order, bytes intact.
pub fn wintun_parallel_senders<B: Backend>(b: &B) -> Result<(), Failure> {
    const THREADS: u32 = 6;
    const PER_THREAD: u32 = 400;
    for bitness in BITNESSES {
        b.take_delivered();
        let before = b.counters().receive_packets;
        let s = start(b, 7, bitness, 0x40000, Publish::Fenced)?;
        let s = &s;
        let down_done = AtomicBool::new(false);
        let received = thread::scope(|scope| -> Result<usize, Failure> {
            for t in 0..THREADS {
                scope.spawn(move || -> Result<(), Failure> {
                    let mut rng = Rng::new(u64::from(t) + 77);
                    for i in 0..PER_THREAD {
                        let p = ipv4(rng.range(20, 1500) as usize, (t << 24) | i);
                        send_retry(s, &p)?;
                    }
                    Ok(())
                });
            }
            // The stack sends meanwhile; the client receives on this thread.
            let down_done = &down_done;
            let stack = scope.spawn(move || {
                let mut sent = 0usize;
                for i in 0..500u32 {
                    let p = raw(64 + (i as usize % 900), 0x7F00_0000 | i);
                    while b.transmit(&[&p]) != vec![Outcome::Sent] {
                        thread::sleep(Duration::from_micros(200));
                    }
                    sent += 1;
                }
                down_done.store(true, Ordering::SeqCst);
                sent
            });
            let mut got = 0usize;
            let mut expect = 0u32;
            while !(down_done.load(Ordering::SeqCst) && got == 500) {
                match s.receive_wait(Duration::from_millis(50)) {
                    Ok(p) => {
                        ensure_eq!(p, raw(p.len(), 0x7F00_0000 | expect), "down packet {expect}");
                        expect += 1;
                        got += 1;
                    }
                    Err(WintunError::NoMoreItems) => {}
                    Err(e) => return Err(Failure::new(format!("receive: {e:?}"))),
                }
            }
            ensure_eq!(stack.join().unwrap_or(0), 500);
            Ok(got)
        })?;
        ensure_eq!(received, 500);
        let total = u64::from(THREADS * PER_THREAD);
        ensure!(b.wait_delivered(before + total, PATIENCE), "not every packet delivered");
        let delivered = b.take_delivered();
        ensure_eq!(delivered.len() as u64, total);
        let mut next = [0u32; THREADS as usize];
        for p in &delivered {
            let seq = seq_of(p).ok_or_else(|| Failure::new("short packet"))?;
            let (t, i) = ((seq >> 24) as usize, seq & 0xFF_FFFF);
            ensure!(t < THREADS as usize, "unknown thread {t}");
            ensure_eq!(i, next[t], "thread {t}: lost, duplicated or reordered");
            ensure_eq!(p, &ipv4(p.len(), seq), "packet {seq:#x} corrupted");
            next[t] += 1;
        }
    }
    Ok(())
}

/// Releases and sends out of order: `head` moves only over the released prefix, `tail` only over
/// the sent prefix; nothing is lost.
pub fn wintun_out_of_order_release<B: Backend>(b: &B) -> Result<(), Failure> {
    for bitness in BITNESSES {
        let s = start(b, 7, bitness, CAPACITIES[0], Publish::Fenced)?;
        let mut rng = Rng::new(5);
        for round in 0..20u32 {
            // Send ring: receive 16, release all but the first shuffled, then the first.
            let packets: Vec<Vec<u8>> = (0..16).map(|i| raw(40 + 13 * i, round * 100 + i as u32)).collect();
            let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
            ensure_eq!(b.transmit(&refs), vec![Outcome::Sent; 16]);
            let mut got = Vec::new();
            for p in &packets {
                let r = s.receive_packet().map_err(|e| Failure::new(format!("receive: {e:?}")))?;
                ensure_eq!(&s.received_bytes(&r), p);
                got.push(r);
            }
            let (head_before, tail, _) = s.send_header();
            let first = got.remove(0);
            rng.shuffle(&mut got);
            for r in got {
                s.release_receive_packet(r);
                ensure_eq!(s.send_header().0, head_before, "round {round}: head moved past an unreleased slot");
            }
            s.release_receive_packet(first);
            ensure_eq!(s.send_header().0, tail, "round {round}: head after every release");
            // Receive ring: allocate 16, send all but the first shuffled, then the first.
            let mut slots = Vec::new();
            let mut wanted = Vec::new();
            for i in 0..16u32 {
                let p = ipv4(60 + 7 * i as usize, 5000 + round * 100 + i);
                let slot = s.allocate_send_packet(p.len() as u32).map_err(|e| Failure::new(format!("{e:?}")))?;
                s.fill(&slot, &p);
                slots.push(slot);
                wanted.push(p);
            }
            let tail_before = s.receive_header().1;
            let before = b.counters().receive_packets;
            let first = slots.remove(0);
            rng.shuffle(&mut slots);
            for slot in slots {
                s.send_packet(slot);
                ensure_eq!(s.receive_header().1, tail_before, "round {round}: tail moved past an unsent slot");
            }
            ensure_eq!(b.counters().receive_packets, before, "round {round}: consumed before published");
            s.send_packet(first);
            ensure!(b.wait_delivered(before + 16, PATIENCE), "round {round}: not delivered");
            ensure_eq!(b.take_delivered(), wanted, "round {round}: delivered in ring order");
        }
    }
    Ok(())
}

/// Both rings full, then recovery: the Send ring drops what does not fit while the client does not
/// read; the Receive ring reports "buffer overflow" while the stack holds its packets.
pub fn wintun_ring_full_and_recovery<B: Backend>(b: &B) -> Result<(), Failure> {
    for bitness in BITNESSES {
        let s = start(b, 7, bitness, CAPACITIES[0], Publish::Fenced)?;
        // Send ring: fill with 1400-byte packets until a batch is refused.
        let mut sent = Vec::new();
        let mut seq = 0u32;
        loop {
            let p = raw(1400, seq);
            seq += 1;
            match b.transmit(&[&p])[..] {
                [Outcome::Sent] => sent.push(p),
                [Outcome::RingFull] => break,
                ref other => return Err(Failure::new(format!("transmit: {other:?}"))),
            }
            ensure!(sent.len() < 200, "the ring never filled");
        }
        // 0x20000 / 1404-byte slots, one alignment unit kept free.
        ensure_eq!(sent.len(), ((CAPACITIES[0] - 4) / 1404) as usize);
        let full_drops = b.counters().send_dropped_ring_full;
        ensure!(full_drops >= 1, "ring-full drop counted");
        for p in &sent {
            ensure_eq!(&receive(&s)?, p);
        }
        let p = raw(1400, seq);
        ensure_eq!(b.transmit(&[&p]), vec![Outcome::Sent], "after the client caught up");
        ensure_eq!(receive(&s)?, p);

        // Receive ring: the stack holds everything; allocate until overflow.
        b.set_hold(true);
        let mut queued = 0usize;
        loop {
            let p = ipv4(1400, 9000 + queued as u32);
            match s.send_bytes(&p) {
                Ok(()) => queued += 1,
                Err(WintunError::BufferOverflow) => break,
                Err(e) => return Err(Failure::new(format!("allocate: {e:?}"))),
            }
            ensure!(queued < 200, "the Receive ring never filled");
        }
        ensure_eq!(queued, ((CAPACITIES[0] - 4) / 1404) as usize);
        ensure!(b.wait_held(queued, PATIENCE), "not every packet indicated");
        let held = b.take_held();
        b.set_hold(false);
        b.return_held(held);
        b.take_delivered();
        // Room again: a full ring's worth more goes through, every byte checked.
        let before = b.counters().receive_packets;
        let more: Vec<Vec<u8>> = (0..queued as u32).map(|i| ipv4(1400, 20_000 + i)).collect();
        for p in &more {
            send_retry(&s, p)?;
        }
        ensure!(b.wait_delivered(before + more.len() as u64, PATIENCE), "recovery");
        ensure_eq!(b.take_delivered(), more, "after recovery");
    }
    Ok(())
}

/// Teardown from the client's side (handle closed with packets in flight both ways) and from the
/// driver's (owner process exit, halt): markers set, the read event set, the client sees "end of
/// file" on both rings, nothing held by the stack is lost.
pub fn wintun_teardown_both_sides<B: Backend>(b: &B) -> Result<(), Failure> {
    for bitness in BITNESSES {
        // Client side: close with unread Send-ring packets and held Receive-ring packets.
        let mut s = start(b, 7, bitness, CAPACITIES[0], Publish::Fenced)?;
        ensure_eq!(b.transmit(&[&raw(100, 1)]), vec![Outcome::Sent]);
        b.set_hold(true);
        send_retry(&s, &ipv4(100, 2))?;
        ensure!(b.wait_held(1, PATIENCE), "held");
        let held = b.take_held();
        let closer = {
            let b2 = &b;
            thread::scope(|scope| {
                let h = scope.spawn(|| {
                    thread::sleep(Duration::from_millis(20));
                    b2.return_held(held);
                });
                s.close_handle();
                h.join().is_ok()
            })
        };
        ensure!(closer, "returner");
        b.set_hold(false);
        ensure!(s.stopped(), "markers after close");
        ensure_eq!(s.receive_packet().err(), Some(WintunError::HandleEof));
        ensure_eq!(s.allocate_send_packet(100).err(), Some(WintunError::HandleEof));
        ensure_eq!(b.transmit(&[&raw(100, 3)]), vec![Outcome::NotRunning]);
        b.take_delivered();
    }
    // Driver side: the owning process exits.
    let s = start(b, 9, CallerBitness::Bits64, CAPACITIES[0], Publish::Fenced)?;
    one_each_way(b, &s, 50)?;
    s.wait_readable(Duration::ZERO);
    b.process_exit(9);
    ensure!(s.stopped(), "markers after process exit");
    ensure!(s.wait_readable(Duration::ZERO), "read event set at teardown");
    ensure_eq!(s.receive_packet().err(), Some(WintunError::HandleEof));
    drop(s);
    // Driver side: halt; a new registration is refused afterwards.
    let s = start(b, 10, CallerBitness::Bits32, CAPACITIES[0], Publish::Fenced)?;
    one_each_way(b, &s, 60)?;
    b.halt();
    ensure!(s.stopped(), "markers after halt");
    ensure_eq!(s.allocate_send_packet(100).err(), Some(WintunError::HandleEof));
    let again = WintunSession::start(b.open_client(11, CallerBitness::Bits64), CAPACITIES[0], Publish::Fenced);
    ensure!(matches!(again, Err(DeviceError::NotReady)), "registration after halt: {:?}", again.err());
    Ok(())
}

/// Each refusal of a Wintun-layout v1 registration, with the status ringtun answers (the table
/// of `docs/ring-protocol.md` section 13.1 gives Wintun's beside it).
pub fn wintun_observable_refusals<B: Backend>(b: &B) -> Result<(), Failure> {
    use DeviceError::{InvalidHandle, InvalidParameter, InvalidUserBuffer};
    let capacity = CAPACITIES[0];
    let size = v1_ring_size(capacity);
    let client = b.open_client(7, CallerBitness::Bits64);
    let layout = Layout::new(&client, capacity)?;
    let (send, receive) = (layout.send_ring(), layout.receive_ring());
    let (se, re) = (layout.send_event.handle(), layout.receive_event.handle());
    let reg = |bits, size, s: (u64, u64), r: (u64, u64)| registration_bytes(bits, size, s, r).unwrap_or_default();
    let good = reg(CallerBitness::Bits64, size, (send, se), (receive, re));
    let cases: Vec<(&str, Vec<u8>, DeviceError)> = vec![
        ("input of 47 bytes", good[..47].to_vec(), InvalidParameter),
        (
            "24-byte layout from a 64-bit process",
            reg(CallerBitness::Bits32, size, (0x1000, se), (0x1000, re)),
            InvalidParameter,
        ),
        (
            "capacity not a power of two",
            reg(CallerBitness::Bits64, v1_ring_size(0x30000), (send, se), (receive, re)),
            InvalidParameter,
        ),
        (
            "capacity below 0x20000",
            reg(CallerBitness::Bits64, v1_ring_size(0x10000), (send, se), (receive, re)),
            InvalidParameter,
        ),
        (
            "capacity above 0x4000000",
            reg(CallerBitness::Bits64, v1_ring_size(0x800_0000), (send, se), (receive, re)),
            InvalidParameter,
        ),
        ("zero Send ring pointer", reg(CallerBitness::Bits64, size, (0, se), (receive, re)), InvalidParameter),
        ("zero Receive event", reg(CallerBitness::Bits64, size, (send, se), (receive, 0)), InvalidParameter),
        ("Receive ring 2 mod 4", reg(CallerBitness::Bits64, size, (send, se), (receive - 2, re)), InvalidParameter),
        (
            "unknown Send event handle",
            reg(CallerBitness::Bits64, size, (send, 0xDEAD_BEE0), (receive, re)),
            InvalidHandle,
        ),
        (
            "Receive ring not the caller's memory",
            reg(CallerBitness::Bits64, size, (send, se), (0x10_0000, re)),
            InvalidUserBuffer,
        ),
    ];
    for (name, bytes, want) in &cases {
        ensure_eq!(client.register(bytes), Err(*want), "{name}");
    }
    // 48 bytes from a 32-bit process.
    let client32 = b.open_client(12, CallerBitness::Bits32);
    let layout32 = Layout::new(&client32, capacity)?;
    let input = layout32.registration(CallerBitness::Bits64).unwrap_or_default();
    ensure_eq!(client32.register(&input), Err(InvalidParameter), "48 bytes from a 32-bit process");
    drop((client32, layout32));
    // Initial indices: Send tail out of range or misaligned, Receive head out of range.
    let poke = |at: u64, value: u32| {
        // SAFETY: `at` is a header word inside the region (asserted below), which is not
        // registered, so nothing else accesses it.
        unsafe { (at as usize as *mut u32).write(value) }
    };
    ensure!(receive + 4 <= send + 2 * u64::from(size), "inside the region");
    for (name, at, value) in [
        ("initial Send tail at capacity", send + 4, capacity),
        ("initial Send tail misaligned", send + 4, 2),
        ("initial Receive head at capacity", receive, capacity),
    ] {
        poke(at, value);
        ensure_eq!(client.register(&good), Err(InvalidParameter), "{name}");
        poke(at, 0);
    }
    ensure_eq!(b.counters().sessions_registered, 0);
    ensure!(b.link_history().is_empty(), "link went up on a refused registration");
    ensure_eq!(client.register(&good), Ok(()), "the same registration, valid");
    Ok(())
}

/// When the driver signals the client's read (Send-ring) event: after every publish of `tail`,
/// and at teardown; never otherwise. The Receive ring's `alertable` is set by the driver only
/// while its consumer sleeps.
pub fn wintun_read_event_and_alertable<B: Backend>(b: &B) -> Result<(), Failure> {
    let s = start(b, 7, CallerBitness::Bits64, CAPACITIES[0], Publish::Fenced)?;
    ensure!(!s.wait_readable(Duration::from_millis(20)), "read event set with nothing published");
    for i in 0..20u32 {
        let batch: Vec<Vec<u8>> = (0..=(i % 3)).map(|j| raw(100, i * 10 + j)).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        ensure!(b.transmit(&refs).iter().all(|o| *o == Outcome::Sent), "sent");
        ensure!(s.wait_readable(PATIENCE), "publish {i}: read event not set");
        for p in &batch {
            ensure_eq!(&receive(&s)?, p);
        }
        ensure!(!s.wait_readable(Duration::from_millis(5)), "read event set twice for one publish");
    }
    // Idle: the consumer sleeps with alertable set (after its spin, well under PATIENCE).
    let deadline = Instant::now() + PATIENCE;
    while s.receive_header().2 == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    ensure_eq!(s.receive_header().2, 1, "alertable while the consumer sleeps");
    one_each_way(b, &s, 500)?;
    Ok(())
}

/// Clients that lose wake-ups: each publish at random is fenced, unfenced (Wintun's client
/// before February 2026), or not signalled at all. Every packet must be consumed, over many
/// iterations with the consumer asleep before each (without the bounded sleep, a packet whose
/// wake-up was lost would wait here until the scenario gives up: the next packet is sent only
/// after it arrived). The latencies are printed per publish kind. The assertions allow for a
/// loaded test machine's scheduling delays on top of the re-check bound (4 ms once the session
/// has lost a wake-up, which the first unsignalled publish does; 64 ms before it); the printed
/// numbers are the measurement. Then an idle second: its timed re-checks are counted (at the
/// short interval: the session has lost wake-ups).
pub fn wintun_lost_wakeups_bounded<B: Backend>(b: &B) -> Result<(), Failure> {
    const ITERATIONS: u32 = 300;
    let recheck = Duration::from_nanos(CONSUMER_RECHECK_MAX_NS);
    // Scheduling allowance: the host suite runs on shared, oversubscribed machines.
    let worst_allowed = recheck + Duration::from_secs(2);
    let median_allowed = recheck + Duration::from_millis(20);
    let s = start(b, 7, CallerBitness::Bits64, CAPACITIES[0], Publish::Chaos(0x5EED))?;
    let mut rng = Rng::new(99);
    let (mut signalled, mut unsignalled) = (Vec::new(), Vec::new());
    let before = b.counters();
    for i in 0..ITERATIONS {
        // Let the consumer go to sleep (spin 0.1 ms, then alertable) for a varying while, so
        // publishes land at every point of its re-check schedule.
        thread::sleep(Duration::from_micros(rng.range(150, 9000)));
        let p = ipv4(60, i);
        let delivered = b.counters().receive_packets;
        let t0 = Instant::now();
        send_retry(&s, &p)?;
        ensure!(b.wait_delivered(delivered + 1, PATIENCE), "packet {i} never consumed");
        let latency = t0.elapsed();
        match s.last_publish() {
            Some(_) => signalled.push(latency),
            None => unsignalled.push(latency),
        }
    }
    let delivered = b.take_delivered();
    ensure_eq!(delivered.len(), ITERATIONS as usize);
    for (i, p) in delivered.iter().enumerate() {
        ensure_eq!(p, &ipv4(60, i as u32), "packet {i}");
    }
    let after = b.counters();
    ensure!(!unsignalled.is_empty() && !signalled.is_empty(), "every publish kind happened");
    let stats = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        (v[v.len() / 2], v[v.len() * 99 / 100], v[v.len() - 1])
    };
    let (s_med, s_p99, s_max) = stats(&mut signalled);
    let (u_med, u_p99, u_max) = stats(&mut unsignalled);
    println!(
        "lost wake-ups: {ITERATIONS} packets; signalled (fenced or not) {}: median {s_med:?}, p99 {s_p99:?}, \
         max {s_max:?}; unsignalled {}: median {u_med:?}, p99 {u_p99:?}, max latency {u_max:?}; \
         {} consumer sleeps, {} lost wake-ups recovered by re-checks",
        signalled.len(),
        unsignalled.len(),
        after.receive_sleeps - before.receive_sleeps,
        after.receive_lost_wakeups - before.receive_lost_wakeups,
    );
    ensure!(
        after.receive_lost_wakeups > before.receive_lost_wakeups,
        "no wake-up was lost: the client always signalled"
    );
    ensure!(u_max.max(s_max) <= worst_allowed, "a packet took {:?} (allowed {worst_allowed:?})", u_max.max(s_max));
    ensure!(u_med <= median_allowed, "median cost of a lost wake-up {u_med:?} (allowed {median_allowed:?})");
    // Idle: count the consumer's timed re-checks over one second.
    thread::sleep(Duration::from_millis(50));
    let idle_start = b.counters().receive_rechecks;
    let t0 = Instant::now();
    thread::sleep(Duration::from_secs(1));
    let rechecks = b.counters().receive_rechecks - idle_start;
    let per_second = (rechecks as f64 / t0.elapsed().as_secs_f64()).round() as u64;
    println!("idle: {per_second} consumer wake-ups per second");
    let ceiling = 1_000_000_000 / CONSUMER_RECHECK_MAX_NS + 10;
    ensure!(per_second <= ceiling, "idle wake-ups {per_second}/s above {ceiling}/s");
    ensure!(rechecks > 0, "the idle consumer never re-checked");
    ensure_eq!(s.receive_header().2, 1, "alertable stays set while idle");
    ensure!(s.receive_header().0 != RING_STOPPED, "ring healthy");
    Ok(())
}
