//! ringtun demo: the driver's engine on the host platform, a VPN-like client on a v2 session,
//! and traffic in both directions with in-place encapsulation.
//!
//! - network → client: a "stack" thread sends IPv4 batches out of the adapter; the client
//!   receives each packet in the ring, writes a 16-byte "ESP header" into its head room and a
//!   16-byte "ICV" into its tail room — in place — and hands `[header | packet | ICV]` to its
//!   "socket" (a checksum over the span) without copying;
//! - client → network: the client "decrypts" a DTLS-like record (1-byte type, the IP packet,
//!   a 16-byte tag) straight into an allocated slot, points the data past the type byte, cuts
//!   the tag, and sends; the stack checks every byte.
//!
//! ```text
//! ringtun-demo [--seconds N] [--size BYTES] [--v1]
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::{RingVersion, Room};
use ringtun::backend::host::HostBackend;
use ringtun::{Error, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::TransmitStatus;
use ringtun_driver::host::HostDriver;

const ESP_HEADER: u16 = 16;
const ICV: u16 = 16;
const DTLS_TYPE: usize = 1;
const DTLS_TAG: usize = 16;
const BATCH: usize = 32;

struct Options {
    seconds: u64,
    size: usize,
    v1: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options { seconds: 3, size: 1400, v1: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--seconds" => o.seconds = value("--seconds")?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--size" => o.size = value("--size")?.parse().map_err(|e| format!("--size: {e}"))?,
            "--v1" => o.v1 = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(20..=0xFFFF).contains(&o.size) {
        return Err("--size must be 20..=65535".into());
    }
    Ok(o)
}

/// An IPv4 packet of `len` bytes carrying `seq`; every byte derives from `seq`.
fn packet(len: usize, seq: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend((0..len).map(|i| (i as u64).wrapping_mul(31).wrapping_add(seq) as u8));
    out[0] = 0x45;
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    out[8..16].copy_from_slice(&seq.to_be_bytes());
}

fn check(p: &[u8], scratch: &mut Vec<u8>) -> Option<u64> {
    let seq = u64::from_be_bytes(p.get(8..16)?.try_into().ok()?);
    packet(p.len(), seq, scratch);
    (scratch.as_slice() == p).then_some(seq)
}

#[derive(Default)]
struct Counters {
    down_packets: AtomicU64,
    down_bytes: AtomicU64,
    up_packets: AtomicU64,
    up_bytes: AtomicU64,
    in_place_bytes: AtomicU64,
    bad: AtomicU64,
    stack_refused: AtomicU64,
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("usage: ringtun-demo [--seconds N] [--size BYTES] [--v1]");
            return ExitCode::from(2);
        }
    };
    let driver = HostDriver::new();
    let config = SessionConfig {
        version: if o.v1 { VersionPreference::V1Only } else { VersionPreference::PreferV2 },
        incoming_capacity: 0x40_0000,
        outgoing_capacity: 0x40_0000,
        incoming_room: Room::new(ESP_HEADER, ICV),
        outgoing_room: Room::NONE,
        receive_split: false,
    };
    let session = match Session::open(HostBackend::open_default(&driver), config) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("cannot open a session: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "ringtun demo: engine on the host platform, {:?} session, {} B packets, {} s",
        session.version(),
        o.size,
        o.seconds
    );
    if session.version() == RingVersion::V2 {
        println!("  incoming packets carry {ESP_HEADER} B head room and {ICV}+ B tail room for in-place encapsulation");
    } else {
        println!("  v1: no room, so the client copies each packet to add its header and trailer");
    }
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let size = o.size;

    thread::scope(|scope| {
        // The network stack sends packets out of the adapter.
        scope.spawn(|| {
            let mut seq = 0u64;
            let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::new()).collect();
            while !stop.load(Ordering::Relaxed) {
                for b in &mut bufs {
                    packet(size, seq, b);
                    seq += 1;
                }
                let refs: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
                match driver.transmit(&refs) {
                    Ok(statuses) => {
                        let refused = statuses.iter().filter(|s| **s != TransmitStatus::Sent).count();
                        if refused > 0 {
                            counters.stack_refused.fetch_add(refused as u64, Ordering::Relaxed);
                            // The ring is full: the client is behind. Let it catch up.
                            thread::yield_now();
                        }
                    }
                    Err(_) => {
                        counters.bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        // The client's receive path: encapsulate in place and "send" the span.
        scope.spawn(|| {
            let mut scratch = Vec::new();
            let mut copy_buffer = Vec::new();
            let mut last: Option<u64> = None;
            while !stop.load(Ordering::Relaxed) {
                let mut p = match session.receive_wait(Duration::from_millis(50)) {
                    Ok(Some(p)) => p,
                    Ok(None) => continue,
                    Err(e) => {
                        eprintln!("receive: {e}");
                        counters.bad.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                };
                let len = p.len();
                match check(p.data(), &mut scratch) {
                    Some(seq) if last.is_none_or(|l| seq > l) => last = Some(seq),
                    _ => {
                        counters.bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let checksum = if p.headroom_mut().len() >= usize::from(ESP_HEADER) {
                    p.headroom_mut()[..usize::from(ESP_HEADER)].fill(0xE5);
                    p.tailroom_mut()[..usize::from(ICV)].fill(0x1C);
                    counters.in_place_bytes.fetch_add(u64::from(ESP_HEADER + ICV), Ordering::Relaxed);
                    let span = &p.frame_mut()[..usize::from(ESP_HEADER) + len + usize::from(ICV)];
                    span.iter().fold(0u32, |a, &b| a.wrapping_add(u32::from(b)))
                } else {
                    // v1: header, packet and trailer must be assembled in a separate buffer.
                    copy_buffer.clear();
                    copy_buffer.extend_from_slice(&[0xE5; ESP_HEADER as usize]);
                    copy_buffer.extend_from_slice(p.data());
                    copy_buffer.extend_from_slice(&[0x1C; ICV as usize]);
                    copy_buffer.iter().fold(0u32, |a, &b| a.wrapping_add(u32::from(b)))
                };
                std::hint::black_box(checksum);
                counters.down_packets.fetch_add(1, Ordering::Relaxed);
                counters.down_bytes.fetch_add(len as u64, Ordering::Relaxed);
            }
        });
        // The client's send path: decrypt a record straight into the slot.
        scope.spawn(|| {
            let mut seq = 0u64;
            let mut plain = Vec::new();
            let mut copy_buffer = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                packet(size, seq, &mut plain);
                let result = if session.version() == RingVersion::V2 {
                    session.allocate(DTLS_TYPE + size + DTLS_TAG, 0, 0).and_then(|mut slot| {
                        let frame = slot.frame_mut();
                        frame[0] = 0x17;
                        frame[DTLS_TYPE..DTLS_TYPE + size].copy_from_slice(&plain);
                        frame[DTLS_TYPE + size..DTLS_TYPE + size + DTLS_TAG].fill(0x7A);
                        slot.set_data(DTLS_TYPE..DTLS_TYPE + size)?;
                        session.send(slot)
                    })
                } else {
                    // v1: decrypt into a buffer, then copy the packet into the slot.
                    copy_buffer.clear();
                    copy_buffer.push(0x17);
                    copy_buffer.extend_from_slice(&plain);
                    copy_buffer.extend_from_slice(&[0x7A; DTLS_TAG]);
                    session.allocate(size, 0, 0).and_then(|mut slot| {
                        slot.data_mut().copy_from_slice(&copy_buffer[DTLS_TYPE..DTLS_TYPE + size]);
                        session.send(slot)
                    })
                };
                match result {
                    Ok(()) => {
                        seq += 1;
                        counters.up_packets.fetch_add(1, Ordering::Relaxed);
                        counters.up_bytes.fetch_add(size as u64, Ordering::Relaxed);
                    }
                    Err(Error::RingFull) => thread::yield_now(),
                    Err(e) => {
                        eprintln!("send: {e}");
                        counters.bad.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        });
        // The stack checks what the client sent.
        scope.spawn(|| {
            let mut scratch = Vec::new();
            let mut next = 0u64;
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
                for d in driver.stack().take_delivered() {
                    match check(&d.bytes, &mut scratch) {
                        Some(seq) if seq == next => next += 1,
                        _ => {
                            counters.bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        // Progress, once a second.
        let start = Instant::now();
        let mut last = (Instant::now(), 0u64, 0u64, 0u64, 0u64);
        while Instant::now() < deadline {
            thread::sleep(Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now())));
            let now = Instant::now();
            let (dp, db) = (counters.down_packets.load(Ordering::Relaxed), counters.down_bytes.load(Ordering::Relaxed));
            let (up, ub) = (counters.up_packets.load(Ordering::Relaxed), counters.up_bytes.load(Ordering::Relaxed));
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            println!(
                "  t={:>4.1}s  network→client {:>7.0} kpps {:>6.2} Gbit/s  |  client→network {:>7.0} kpps {:>6.2} Gbit/s",
                now.duration_since(start).as_secs_f64(),
                (dp - last.1) as f64 / dt / 1e3,
                (db - last.2) as f64 * 8.0 / dt / 1e9,
                (up - last.3) as f64 / dt / 1e3,
                (ub - last.4) as f64 * 8.0 / dt / 1e9,
            );
            last = (now, dp, db, up, ub);
        }
        stop.store(true, Ordering::Relaxed);
    });

    // Let the last packets through, then summarise.
    thread::sleep(Duration::from_millis(50));
    let stats = driver.adapter().stats();
    let bad = counters.bad.load(Ordering::Relaxed);
    let in_place = counters.in_place_bytes.load(Ordering::Relaxed);
    println!("summary");
    println!(
        "  network→client  {:>10} packets {:>14} bytes   published by the driver: {} packets",
        counters.down_packets.load(Ordering::Relaxed),
        counters.down_bytes.load(Ordering::Relaxed),
        stats.send_packets
    );
    println!(
        "  client→network  {:>10} packets {:>14} bytes   indicated by the driver: {} packets",
        counters.up_packets.load(Ordering::Relaxed),
        counters.up_bytes.load(Ordering::Relaxed),
        stats.receive_packets
    );
    println!(
        "  drops           Send ring full {}, not running {}, invalid {}, non-IP {}, no resources {}, ring faults {}",
        stats.send_dropped_ring_full,
        stats.send_dropped_not_running,
        stats.send_dropped_invalid,
        stats.receive_dropped_not_ip,
        stats.receive_dropped_no_resources,
        stats.receive_ring_faults
    );
    println!(
        "  zero-copy bytes {:>14}   (Receive ring → stack, indicated in place: {}; headers/trailers written in place: {})",
        stats.zero_copy_bytes + in_place,
        stats.zero_copy_bytes,
        in_place
    );
    println!(
        "  copied bytes    {:>14}   (stack → Send ring, the one copy the driver makes{})",
        stats.copied_bytes,
        if session.version() == RingVersion::V1 { "; v1 also copies every packet in the client" } else { "" }
    );
    println!("  verification failures: {bad}");
    drop(session);
    if bad == 0 && stats.send_packets > 0 && stats.receive_packets > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
