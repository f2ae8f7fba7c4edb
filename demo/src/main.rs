//! ringtun demo: the driver's engine on the host platform, a VPN-like client on a v2 session, and
//! verified traffic in both directions with in-place encapsulation.
//!
//! - **network → client**: a "stack" thread sends batches of IPv4/IPv6 packets out of the
//!   adapter ([`HostDriver::transmit`], the engine's Send path). The client receives each packet
//!   in the ring, checks every byte, writes a 16-byte "ESP header" into its head room and a
//!   16-byte "ICV" into its tail room — in place — and hands `[header | packet | ICV]` to its
//!   "socket" as one span, without copying.
//! - **client → network**: the client "decrypts" DTLS-like records (`type | packet | padding |
//!   tag`) straight into allocated slots, moves the data start past the type byte and cuts the
//!   padding with `set_data` (no memmove), and sends bursts of slots in reverse order (the
//!   library publishes them in allocation order). The engine validates and indicates each packet
//!   to the stack without copying; the stack checks every byte and the order.
//!
//! With `--v1` the session is Wintun-compatible: no room, so the client copies every packet in
//! both directions (and the summary says so).
//!
//! ```text
//! ringtun-demo [--seconds N] [--packets N] [--size BYTES] [--v1] [--fast-sink]
//! ```

mod traffic;

use std::fmt::Display;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::ring_abi::{RingVersion, Room};
use ringtun::{Error, IncomingPacket, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::{StatsSnapshot, TransmitStatus};
use ringtun_driver::platform::IpKind;

use traffic::Dir;

/// Head room the client asks for on incoming packets: an ESP header (SPI, sequence, IV).
const ESP_HEADER: usize = 16;
/// Tail room on incoming packets: an ICV.
const ICV: usize = 16;
/// Head room on outgoing packets: a DTLS-like record type byte.
const RECORD_TYPE: usize = 1;
/// Tail room on outgoing packets: the record's authentication tag.
const TAG: usize = 16;
/// Ring capacity, both rings (8 MiB, a common VPN choice).
const CAPACITY: u32 = 0x80_0000;
/// Packets per stack transmit call (at most).
const STACK_BATCH: usize = 32;
/// Outgoing slots allocated before the burst is sent (in reverse order).
const SEND_BURST: usize = 8;
/// Verification failures reported in detail (the rest are only counted).
const REPORTED_FAILURES: u64 = 5;

struct Options {
    seconds: Option<u64>,
    packets: Option<u64>,
    size: usize,
    v1: bool,
    fast_sink: bool,
}

const USAGE: &str = "usage: ringtun-demo [--seconds N] [--packets N] [--size BYTES] [--v1] [--fast-sink]

  --seconds N     run for N seconds (default 3; with --packets, at most 30)
  --packets N     stop each direction after N packets
  --size BYTES    IP packet size, 28..=65535 (default 1400; IPv6 from 48 bytes)
  --v1            force a v1 (Wintun-compatible) session: no room, the client copies
  --fast-sink     the stack counts client packets without copying them out to check them";

fn options() -> Result<Options, String> {
    let mut o = Options { seconds: None, packets: None, size: 1400, v1: false, fast_sink: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let v = args.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|e| format!("{name} {v}: {e}"))
        };
        match a.as_str() {
            "--seconds" => o.seconds = Some(number("--seconds")?),
            "--packets" => o.packets = Some(number("--packets")?),
            "--size" => o.size = usize::try_from(number("--size")?).unwrap_or(usize::MAX),
            "--v1" => o.v1 = true,
            "--fast-sink" => o.fast_sink = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(traffic::MIN_SIZE..=traffic::MAX_SIZE).contains(&o.size) {
        return Err(format!("--size must be {}..={}", traffic::MIN_SIZE, traffic::MAX_SIZE));
    }
    if o.seconds == Some(0) || o.packets == Some(0) {
        return Err("--seconds and --packets must be at least 1".into());
    }
    Ok(o)
}

/// Counters shared by the demo's threads.
#[derive(Default)]
struct Counters {
    /// Packets the stack offered that the engine published (network → client).
    stack_sent: AtomicU64,
    /// Packets refused because the Send ring was full (the stack retried them).
    stack_refused: AtomicU64,
    /// Packets the client received and encapsulated.
    down_packets: AtomicU64,
    down_bytes: AtomicU64,
    /// Packets the client sent (client → network).
    up_packets: AtomicU64,
    up_bytes: AtomicU64,
    /// Packets the stack checked on arrival.
    sink_checked: AtomicU64,
    /// Client bytes written in place: headers and trailers (network → client), decrypted
    /// records (client → network).
    client_header_bytes: AtomicU64,
    client_decrypted_bytes: AtomicU64,
    /// Client bytes copied (v1: every packet, both ways).
    client_copied_bytes: AtomicU64,
    failures: AtomicU64,
    stack_done: AtomicBool,
    sender_done: AtomicBool,
}

impl Counters {
    fn fail(&self, what: impl Display) {
        if self.failures.fetch_add(1, Relaxed) < REPORTED_FAILURES {
            eprintln!("  verification failure: {what}");
        }
    }
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let limit = o.packets.unwrap_or(u64::MAX);
    let seconds = o.seconds.unwrap_or(if o.packets.is_some() { 30 } else { 3 });

    let driver = HostDriver::new();
    driver.stack().set_logging(!o.fast_sink);
    let config = SessionConfig {
        version: if o.v1 { VersionPreference::V1Only } else { VersionPreference::PreferV2 },
        incoming_capacity: CAPACITY,
        outgoing_capacity: CAPACITY,
        incoming_room: Room::new(ESP_HEADER as u16, ICV as u16),
        outgoing_room: Room::new(RECORD_TYPE as u16, TAG as u16),
        ..SessionConfig::default()
    };
    let session = match Session::open(HostBackend::open_default(&driver), config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open a session: {e}");
            return ExitCode::FAILURE;
        }
    };
    let v2 = session.version() == RingVersion::V2;
    println!(
        "ringtun demo: the driver's engine on the host platform, a {} session, {}-byte packets ({}), {}",
        if v2 { "v2" } else { "v1" },
        o.size,
        if o.size >= 48 { "IPv4 and IPv6" } else { "IPv4" },
        match o.packets {
            Some(n) => format!("{} packets each way (at most {seconds} s)", count(n)),
            None => format!("{seconds} s"),
        }
    );
    if let Some(reason) = session.fallback_reason() {
        println!("  v2 was not available ({reason:?}); running v1");
    }
    if v2 {
        println!(
            "  network->client: {ESP_HEADER} B head room + {ICV} B tail room, ESP header and ICV written in place"
        );
        println!("  client->network: records decrypted straight into slots, data start moved past the type byte");
    } else {
        println!("  v1 rings have no room: the client copies each packet to add a header and trailer,");
        println!("  and copies each decrypted packet into its slot");
    }

    let counters = Counters::default();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let size = o.size;

    thread::scope(|scope| {
        scope.spawn(|| stack_sender(&driver, size, limit, &stop, &counters));
        scope.spawn(|| client_receiver(&session, v2, &counters));
        scope.spawn(|| client_sender(&session, v2, size, limit, &stop, &counters));
        scope.spawn(|| stack_sink(&driver, o.fast_sink, &counters));
        progress(start, deadline, &counters);
        stop.store(true, Relaxed);
    });
    let elapsed = start.elapsed();
    let stats = driver.adapter().stats();
    drop(session);
    summary(&counters, &stats, v2, o.fast_sink, elapsed)
}

/// The network stack sends packets out of the adapter in batches. A batch the Send ring has no
/// room for is refused whole (the engine counts the drop); the stack retries it shortly after,
/// as a transport would retransmit, so that every sequence number arrives exactly once.
fn stack_sender(driver: &HostDriver, size: usize, limit: u64, stop: &AtomicBool, counters: &Counters) {
    let batch = STACK_BATCH.min(CAPACITY as usize / 4 / (size + 64)).max(1);
    let mut buffers = vec![vec![0u8; size]; batch];
    let mut seq = 0u64;
    'run: while seq < limit && !stop.load(Relaxed) {
        let n = batch.min(usize::try_from(limit - seq).unwrap_or(batch));
        for (i, b) in buffers.iter_mut().take(n).enumerate() {
            traffic::write(b, seq + i as u64, Dir::Outbound);
        }
        let refs: Vec<&[u8]> = buffers.iter().take(n).map(Vec::as_slice).collect();
        let mut refusals = 0u32;
        loop {
            let statuses = match driver.transmit(&refs) {
                Ok(s) => s,
                Err(index) => {
                    counters.fail(format_args!("the engine left the status of packet {index} of a batch unset"));
                    break 'run;
                }
            };
            if statuses.iter().all(|s| *s == TransmitStatus::Sent) {
                break;
            }
            if statuses.iter().all(|s| *s == TransmitStatus::RingFull) {
                counters.stack_refused.fetch_add(n as u64, Relaxed);
                if stop.load(Relaxed) {
                    break 'run;
                }
                // Back off: yield at first, then sleep briefly, so a full ring does not turn the
                // stack into a busy loop that takes the CPU the client needs to drain it.
                refusals += 1;
                if refusals < 4 {
                    thread::yield_now();
                } else {
                    thread::sleep(Duration::from_micros(50));
                }
                continue;
            }
            counters.fail(format_args!("the engine refused a batch of valid packets: {statuses:?}"));
            break 'run;
        }
        seq += n as u64;
        counters.stack_sent.store(seq, Relaxed);
    }
    counters.stack_done.store(true, Relaxed);
}

/// The client's receive path: check, encapsulate in place, hand the span to the "socket".
fn client_receiver(session: &Session<HostBackend>, v2: bool, counters: &Counters) {
    let mut expected = 0u64;
    let mut datagram = Vec::with_capacity(ESP_HEADER + traffic::MAX_SIZE + ICV);
    let mut idle_since = Instant::now();
    loop {
        let packet = match session.receive_wait(Duration::from_millis(20)) {
            Ok(Some(p)) => p,
            Ok(None) => {
                // Finished once the stack has stopped and everything it sent has arrived (or
                // nothing more arrived for 5 s: the summary then reports the difference).
                if counters.stack_done.load(Relaxed)
                    && (counters.down_packets.load(Relaxed) >= stack_sent(counters)
                        || idle_since.elapsed() > Duration::from_secs(5))
                {
                    return;
                }
                continue;
            }
            Err(e) => {
                counters.fail(format_args!("receive: {e}"));
                return;
            }
        };
        idle_since = Instant::now();
        let len = packet.len();
        counters.down_packets.fetch_add(1, Relaxed);
        counters.down_bytes.fetch_add(len as u64, Relaxed);
        let seq = match traffic::check(packet.data(), Dir::Outbound) {
            Ok(seq) => seq,
            Err(fault) => {
                counters.fail(format_args!("network->client packet {expected}: {fault:?}"));
                expected += 1;
                continue;
            }
        };
        if seq != expected {
            counters.fail(format_args!("network->client: packet {seq} arrived, {expected} was next"));
        }
        expected = seq + 1;
        let header = esp_header(seq);
        let trailer = icv(seq);
        if v2 {
            encapsulate_in_place(packet, &header, &trailer, counters);
        } else {
            // v1: no room around the packet, so header, packet and trailer are assembled in a
            // separate buffer: one memcpy of the packet.
            datagram.clear();
            datagram.extend_from_slice(&header);
            datagram.extend_from_slice(packet.data());
            datagram.extend_from_slice(&trailer);
            counters.client_copied_bytes.fetch_add(len as u64, Relaxed);
            if !socket_send(&datagram, &header, &trailer, len) {
                counters.fail(format_args!("network->client packet {seq}: datagram malformed"));
            }
            packet.release();
        }
    }
}

/// v2: the ESP header goes into the head room (exactly 16 bytes), the ICV into the tail room (at
/// least 16), and `[header | packet | ICV]` is one contiguous span in the ring.
fn encapsulate_in_place(
    mut packet: IncomingPacket<'_, HostBackend>,
    header: &[u8; ESP_HEADER],
    trailer: &[u8; ICV],
    counters: &Counters,
) {
    let len = packet.len();
    let head = packet.headroom_mut();
    if head.len() != ESP_HEADER {
        counters.fail(format_args!("head room is {} bytes, {ESP_HEADER} were negotiated", head.len()));
        return;
    }
    head.copy_from_slice(header);
    let tail = packet.tailroom_mut();
    let Some(tail) = tail.get_mut(..ICV) else {
        counters.fail(format_args!("tail room is {} bytes, {ICV} were negotiated", tail.len()));
        return;
    };
    tail.copy_from_slice(trailer);
    counters.client_header_bytes.fetch_add((ESP_HEADER + ICV) as u64, Relaxed);
    let frame = packet.frame_mut();
    if !socket_send(&frame[..ESP_HEADER + len + ICV], header, trailer, len) {
        counters.fail("network->client: the in-place span is not [header | packet | ICV]");
    }
    packet.release();
}

/// The "socket": takes one datagram span and checks its framing (header, an IP packet of the
/// right length, trailer) — the bytes a real socket would send.
fn socket_send(span: &[u8], header: &[u8; ESP_HEADER], trailer: &[u8; ICV], len: usize) -> bool {
    span.len() == ESP_HEADER + len + ICV
        && span[..ESP_HEADER] == *header
        && matches!(span[ESP_HEADER] >> 4, 4 | 6)
        && span[ESP_HEADER + len..] == *trailer
}

fn esp_header(seq: u64) -> [u8; ESP_HEADER] {
    let mut h = [0u8; ESP_HEADER];
    h[..4].copy_from_slice(&0x0000_1001u32.to_be_bytes());
    h[4..8].copy_from_slice(&(seq as u32).wrapping_add(1).to_be_bytes());
    h[8..].copy_from_slice(&seq.to_be_bytes());
    h
}

fn icv(seq: u64) -> [u8; ICV] {
    let mut t = [0u8; ICV];
    t[..8].copy_from_slice(&(seq ^ 0xA5A5_A5A5_A5A5_A5A5).to_be_bytes());
    t[8..].copy_from_slice(&seq.rotate_left(17).to_be_bytes());
    t
}

fn stack_sent(counters: &Counters) -> u64 {
    counters.stack_sent.load(Relaxed)
}

/// Padding of record `seq` (0..=15 bytes, as a cipher would pad), never past 0xFFFF.
fn padding(seq: u64, size: usize) -> usize {
    ((seq % 16) as usize).min(traffic::MAX_SIZE - size)
}

/// The client's send path: decrypt records straight into slots, send bursts in reverse order.
fn client_sender(
    session: &Session<HostBackend>,
    v2: bool,
    size: usize,
    limit: u64,
    stop: &AtomicBool,
    counters: &Counters,
) {
    let mut seq = 0u64;
    let mut record = Vec::with_capacity(RECORD_TYPE + traffic::MAX_SIZE + 16 + TAG);
    let mut burst = Vec::with_capacity(SEND_BURST);
    'run: while seq < limit && !stop.load(Relaxed) {
        // Allocate and fill up to a burst of slots.
        while burst.len() < SEND_BURST && seq < limit {
            let pad = padding(seq, size);
            let slot = if v2 {
                // The record's plaintext (type | packet | padding) as the data, the tag in the tail
                // room. At the very largest sizes the type byte goes into the head room instead.
                let plaintext = RECORD_TYPE + size + pad;
                let (len, headroom) =
                    if plaintext <= traffic::MAX_SIZE { (plaintext, 0) } else { (size + pad, RECORD_TYPE as u16) };
                session.allocate(len, headroom, TAG as u16)
            } else {
                session.allocate(size, 0, 0)
            };
            let mut slot = match slot {
                Ok(slot) => slot,
                Err(Error::RingFull) => break,
                Err(e) => {
                    counters.fail(format_args!("allocate: {e}"));
                    break 'run;
                }
            };
            if v2 {
                // "Decrypt" the record [type | packet | padding | tag] straight into the slot, then
                // point the data at the packet: past the type byte, without the padding.
                let frame = slot.frame_mut();
                frame[0] = 0x17;
                traffic::write(&mut frame[RECORD_TYPE..RECORD_TYPE + size], seq, Dir::Inbound);
                frame[RECORD_TYPE + size..RECORD_TYPE + size + pad].fill(0);
                frame[RECORD_TYPE + size + pad..RECORD_TYPE + size + pad + TAG].fill(0x7A);
                if let Err(e) = slot.set_data(RECORD_TYPE..RECORD_TYPE + size) {
                    counters.fail(format_args!("set_data: {e}"));
                    break 'run;
                }
                counters.client_decrypted_bytes.fetch_add((RECORD_TYPE + size + pad + TAG) as u64, Relaxed);
            } else {
                // v1: the packet must start right after the 4-byte size, so the record is decrypted
                // into a buffer and the packet copied into the slot.
                record.clear();
                record.resize(RECORD_TYPE + size + pad + TAG, 0);
                record[0] = 0x17;
                traffic::write(&mut record[RECORD_TYPE..RECORD_TYPE + size], seq, Dir::Inbound);
                record[RECORD_TYPE + size + pad..].fill(0x7A);
                slot.data_mut().copy_from_slice(&record[RECORD_TYPE..RECORD_TYPE + size]);
                counters.client_decrypted_bytes.fetch_add(record.len() as u64, Relaxed);
                counters.client_copied_bytes.fetch_add(size as u64, Relaxed);
            }
            burst.push(slot);
            seq += 1;
        }
        if burst.is_empty() {
            // The Receive ring is full: the engine is behind.
            thread::yield_now();
            continue;
        }
        // Send the burst last-first: the library publishes in allocation order regardless.
        let n = burst.len() as u64;
        while let Some(slot) = burst.pop() {
            if let Err(e) = session.send(slot) {
                counters.fail(format_args!("send: {e}"));
                break 'run;
            }
        }
        counters.up_packets.fetch_add(n, Relaxed);
        counters.up_bytes.fetch_add(n * size as u64, Relaxed);
    }
    // Slots still in the burst (after a failure) are cancelled by dropping them.
    drop(burst);
    counters.sender_done.store(true, Relaxed);
}

/// The stack side of client → network: checks every delivered packet and the order.
fn stack_sink(driver: &HostDriver, fast: bool, counters: &Counters) {
    let mut expected = 0u64;
    let mut settled_at: Option<Instant> = None;
    loop {
        thread::sleep(Duration::from_millis(10));
        let delivered = driver.stack().take_delivered();
        for d in &delivered {
            match traffic::check(&d.bytes, Dir::Inbound) {
                Ok(seq) => {
                    let v6 = d.bytes[0] >> 4 == 6;
                    if (d.kind == IpKind::V6) != v6 {
                        counters.fail(format_args!("client->network packet {seq}: indicated as {:?}", d.kind));
                    }
                    if seq != expected {
                        counters.fail(format_args!("client->network: packet {seq} arrived, {expected} was next"));
                    }
                    expected = seq + 1;
                }
                Err(fault) => {
                    counters.fail(format_args!("client->network packet {expected}: {fault:?}"));
                    expected += 1;
                }
            }
        }
        let arrived = if fast { driver.stack().delivered_total() } else { expected };
        counters.sink_checked.store(arrived, Relaxed);
        if counters.sender_done.load(Relaxed) {
            if arrived >= counters.up_packets.load(Relaxed) {
                return;
            }
            // Give the engine a moment to indicate the last packets, then stop waiting.
            let since = *settled_at.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(5) {
                return;
            }
        }
    }
}

/// Prints a line about once a second until the deadline (or until both directions are done).
fn progress(start: Instant, deadline: Instant, counters: &Counters) {
    let sample = || {
        let c = counters;
        let load = |a: &AtomicU64| a.load(Relaxed);
        (Instant::now(), load(&c.down_packets), load(&c.down_bytes), load(&c.up_packets), load(&c.up_bytes))
    };
    let mut last = sample();
    loop {
        let now = Instant::now();
        let done = counters.stack_done.load(Relaxed) && counters.sender_done.load(Relaxed);
        if now >= deadline || done {
            return;
        }
        let next = (last.0 + Duration::from_secs(1)).min(deadline);
        thread::sleep(next.saturating_duration_since(now).min(Duration::from_millis(50)));
        if Instant::now() < next && !(counters.stack_done.load(Relaxed) && counters.sender_done.load(Relaxed)) {
            continue;
        }
        let current = sample();
        let dt = current.0.duration_since(last.0).as_secs_f64().max(1e-9);
        if dt < 0.25 {
            // A short last interval says little; the summary has the totals.
            return;
        }
        println!(
            "  t={:>4.1}s  network->client {:>6.3} Mpps {:>6.2} Gbit/s   client->network {:>6.3} Mpps {:>6.2} Gbit/s",
            current.0.duration_since(start).as_secs_f64(),
            (current.1 - last.1) as f64 / dt / 1e6,
            (current.2 - last.2) as f64 * 8.0 / dt / 1e9,
            (current.3 - last.3) as f64 / dt / 1e6,
            (current.4 - last.4) as f64 * 8.0 / dt / 1e9,
        );
        last = current;
    }
}

fn summary(counters: &Counters, stats: &StatsSnapshot, v2: bool, fast_sink: bool, elapsed: Duration) -> ExitCode {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let get = |c: &AtomicU64| c.load(Relaxed);
    let (down, down_bytes) = (get(&counters.down_packets), get(&counters.down_bytes));
    let (up, up_bytes) = (get(&counters.up_packets), get(&counters.up_bytes));
    let rate = |p: u64, b: u64| format!("{:.3} Mpps, {:.2} Gbit/s", p as f64 / secs / 1e6, b as f64 * 8.0 / secs / 1e9);

    // Consistency between what each side saw and what the engine counted.
    let mut mismatches = Vec::new();
    if down != get(&counters.stack_sent) || down != stats.send_packets {
        mismatches.push(format!(
            "network->client: stack sent {}, engine published {}, client received {down}",
            get(&counters.stack_sent),
            stats.send_packets
        ));
    }
    if get(&counters.stack_refused) != stats.send_dropped_ring_full {
        mismatches.push(format!(
            "Send ring full: stack saw {} refused, engine counted {}",
            get(&counters.stack_refused),
            stats.send_dropped_ring_full
        ));
    }
    if up != stats.receive_packets || up != get(&counters.sink_checked) {
        mismatches.push(format!(
            "client->network: client sent {up}, engine indicated {}, stack {} {}",
            stats.receive_packets,
            if fast_sink { "counted" } else { "checked" },
            get(&counters.sink_checked)
        ));
    }
    let other_drops = stats.send_dropped_not_running
        + stats.send_dropped_invalid
        + stats.send_dropped_ring_fault
        + stats.receive_dropped_not_ip
        + stats.receive_dropped_no_resources
        + stats.receive_dropped_split
        + stats.receive_ring_faults;

    println!("summary ({:.2} s, {} session)", secs, if v2 { "v2" } else { "v1" });
    println!("  network->client  {:>13} packets {:>10}   {}", count(down), bytes(down_bytes), rate(down, down_bytes));
    println!("  client->network  {:>13} packets {:>10}   {}", count(up), bytes(up_bytes), rate(up, up_bytes));
    println!(
        "  drops            Send ring full {} (refused batches, retried by the stack); any other drop: {}",
        count(stats.send_dropped_ring_full),
        count(other_drops)
    );
    println!(
        "  zero-copy        engine {:>10}  Receive ring -> stack, indicated in place",
        bytes(stats.zero_copy_bytes)
    );
    if v2 {
        println!(
            "                   client {:>10}  ESP headers and ICVs written into head/tail room",
            bytes(get(&counters.client_header_bytes))
        );
        println!(
            "                   client {:>10}  records decrypted straight into slots",
            bytes(get(&counters.client_decrypted_bytes))
        );
    }
    println!("  copied           engine {:>10}  stack -> Send ring (the driver's one copy)", bytes(stats.copied_bytes));
    println!(
        "                   client {:>10}  {}",
        bytes(get(&counters.client_copied_bytes)),
        if v2 { "none: v2 leaves room in the ring" } else { "v1: every packet, both ways" }
    );
    println!(
        "  wake-ups         engine consumer slept {} times; the driver signalled the client {} times",
        count(stats.receive_sleeps),
        count(stats.send_signals)
    );
    for m in &mismatches {
        println!("  MISMATCH         {m}");
    }
    let failures = get(&counters.failures);
    println!(
        "  verification failures: {failures} ({} packets checked by the client, {} by the stack{})",
        count(down),
        count(if fast_sink { 0 } else { get(&counters.sink_checked) }),
        if fast_sink { ", --fast-sink: counted only" } else { "" }
    );
    if failures == 0 && mismatches.is_empty() && other_drops == 0 && down > 0 && up > 0 {
        ExitCode::SUCCESS
    } else {
        println!("FAILED");
        ExitCode::FAILURE
    }
}

/// `1234567` as `1,234,567`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in decimal units (as Gbit/s are).
fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2_340_000_000), "2.34 GB");
    }

    #[test]
    fn padding_stays_in_range() {
        assert_eq!(padding(15, 1400), 15);
        assert_eq!(padding(15, traffic::MAX_SIZE), 0);
        assert_eq!(padding(31, traffic::MAX_SIZE - 3), 3);
    }
}
