//! `ringtun-vpn`: the mini-VPN between two network namespaces, measured beside the bare veth.
//!
//! As root: makes two namespaces joined by a veth pair, pings across the veth and runs a TCP
//! transfer over it (the baseline), then for v1 and v2 starts a tunnel (TUN interface → engine →
//! client → ChaCha20-Poly1305 over UDP, and back), pings across it and runs the same transfer
//! through it, checking every transfer's payload checksum. Prints Mbit/s, ratios measured in this
//! run, and CPU time per byte; removes everything it made, also when interrupted.
//!
//! ```text
//! ringtun-vpn [--seconds N] [--rounds N] [--only v1|v2|v1pp|v2pp] [--write-doc PATH]
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use ringtun_vpn::measure::{ping, tcp_transfer, Transfer, TransferLimit};
use ringtun_vpn::netns::{self, Topology};
use ringtun_vpn::node::{Mode, NodeStats};
use ringtun_vpn::tunnel::{Tunnel, TUN_B, TUN_MTU};
use ringtun_vpn::{crypto, interrupt};

/// TCP port of the transfers.
const PORT: u16 = 5201;
/// Echo requests per ping.
const PINGS: u16 = 3;

struct Options {
    seconds: u64,
    rounds: u32,
    only: Option<String>,
    doc: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options { seconds: 4, rounds: 2, only: None, doc: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                o.seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&s| (1..=600).contains(&s))
                    .ok_or("--seconds takes 1..=600")?;
            }
            "--rounds" => {
                o.rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r| (1..=10).contains(&r))
                    .ok_or("--rounds takes 1..=10")?;
            }
            "--only" => o.only = Some(args.next().ok_or("--only takes v1, v2, v1pp or v2pp")?),
            "--write-doc" => o.doc = Some(args.next().ok_or("--write-doc takes a path")?),
            "-h" | "--help" => {
                return Err(
                    "usage: ringtun-vpn [--seconds N] [--rounds N] [--only v1|v2|v1pp|v2pp] [--write-doc PATH]".into()
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

struct Row {
    label: &'static str,
    transfer: Transfer,
    rtt: Duration,
    stats: Option<(NodeStats, NodeStats)>,
}

fn progress(label: &'static str, seconds: u64) -> impl FnMut(u64, Duration) {
    move |bytes, elapsed| {
        let mbit = bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e6;
        eprint!("\r  {label:<13} {:>3.0}/{seconds} s  {:>10.1} Mbit/s so far   ", elapsed.as_secs_f64(), mbit);
        let _ = std::io::stderr().flush();
    }
}

fn run_link(
    topology: &Topology,
    label: &'static str,
    to: [u8; 4],
    seconds: u64,
    tunnel: Option<&Tunnel>,
) -> Result<Row, String> {
    let to = Ipv4Addr::from(to);
    let rtts = ping(&topology.a, to, PINGS, Duration::from_secs(1)).map_err(|e| format!("{label}: ping: {e}"))?;
    if rtts.is_empty() {
        return Err(format!("{label}: no echo reply from {to}"));
    }
    let rtt = rtts.iter().sum::<Duration>() / rtts.len() as u32;
    println!("  {label:<13} ping {to}: {}/{PINGS} replies, mean rtt {:.0} us", rtts.len(), rtt.as_secs_f64() * 1e6);
    let limit = TransferLimit { bytes: None, duration: Duration::from_secs(seconds) };
    let transfer = tcp_transfer(&topology.a, &topology.b, to, PORT, limit, progress(label, seconds))
        .map_err(|e| format!("{label}: TCP transfer: {e}"))?;
    eprintln!();
    if !transfer.verified() {
        return Err(format!(
            "{label}: payload check failed: sent {} bytes (checksum {:016x}), received {} ({:016x})",
            transfer.sent, transfer.sent_checksum, transfer.received, transfer.received_checksum
        ));
    }
    println!(
        "  {label:<13} TCP {:.1} MB in {:.2} s: {:.1} Mbit/s, checksum {:016x} verified, CPU {:.2} ns/byte",
        transfer.received as f64 / 1e6,
        transfer.elapsed.as_secs_f64(),
        transfer.mbit_per_s(),
        transfer.received_checksum,
        transfer.cpu_ns_per_byte()
    );
    Ok(Row { label, transfer, rtt, stats: tunnel.map(Tunnel::stats) })
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid pointer to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec.unsigned_abs(), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// CPU time of sealing and opening one byte (64 KiB records, this thread's CPU time, so other
/// work on the machine does not count): a floor under any tunnel's CPU time per byte.
fn aead_ns_per_byte() -> f64 {
    let key = crypto::SecretKey::from_bytes([0x5A; 32]);
    let (mut sealer, mut opener) = (crypto::Sealer::new(&key), crypto::Opener::new(&key));
    let mut record = vec![0u8; 65_000 + crypto::OVERHEAD];
    let (start, mut bytes) = (thread_cpu(), 0u64);
    while thread_cpu().saturating_sub(start) < Duration::from_millis(300) {
        if sealer.seal_frame(&mut record).is_err() || opener.open(&mut record).is_err() {
            return f64::NAN;
        }
        bytes += 65_000;
    }
    thread_cpu().saturating_sub(start).as_nanos() as f64 / bytes as f64
}

fn run(o: &Options) -> Result<String, String> {
    let removed = netns::remove_stale();
    if !removed.is_empty() {
        println!("removed namespaces left by killed runs: {}", removed.join(", "));
    }
    let topology = Topology::create("main").map_err(|e| format!("setting up the namespaces: {e}"))?;
    println!(
        "namespaces {} and {}, veth {} <-> {} (MTU {}), tunnel {} <-> {} (TUN MTU {TUN_MTU})",
        topology.a.name(),
        topology.b.name(),
        netns::dotted(Topology::VETH_A),
        netns::dotted(Topology::VETH_B),
        Topology::VETH_MTU,
        netns::dotted(ringtun_vpn::tunnel::TUN_A),
        netns::dotted(TUN_B),
    );
    // Every link once per round, rounds one after the other: each link's best round is kept, so
    // a burst of other work on the machine does not decide a ratio alone.
    let mut best: Vec<Row> = Vec::new();
    for round in 1..=o.rounds {
        println!("round {round}/{}", o.rounds);
        let mut rows = vec![run_link(&topology, "bare veth", Topology::VETH_B, o.seconds, None)?];
        let links =
            [(Mode::V1, true, "v1"), (Mode::V2, true, "v2"), (Mode::V1, false, "v1pp"), (Mode::V2, false, "v2pp")];
        for (mode, offload, short) in links {
            if o.only.as_deref().is_some_and(|only| only != short) {
                continue;
            }
            if interrupt::requested() {
                return Err("interrupted".into());
            }
            let label = match (mode, offload) {
                (Mode::V1, true) => "tunnel v1",
                (Mode::V2, true) => "tunnel v2",
                (Mode::V1, false) => "v1 per-packet",
                (Mode::V2, false) => "v2 per-packet",
            };
            let tunnel = Tunnel::start(&topology, mode, offload).map_err(|e| format!("{label}: starting: {e}"))?;
            let row = run_link(&topology, label, TUN_B, o.seconds, Some(&tunnel));
            let stopped = tunnel.stop().map_err(|e| format!("{label}: stopping: {e}"));
            rows.push(row?);
            stopped?;
        }
        for row in rows {
            match best.iter_mut().find(|b| b.label == row.label) {
                Some(b) if b.transfer.mbit_per_s() >= row.transfer.mbit_per_s() => {}
                Some(b) => *b = row,
                None => best.push(row),
            }
        }
    }
    Ok(report(&best, o.seconds, o.rounds, aead_ns_per_byte()))
}

fn report(rows: &[Row], seconds: u64, rounds: u32, aead: f64) -> String {
    let bare = rows.first().map_or(1.0, |r| r.transfer.mbit_per_s());
    let mbit = |label: &str| rows.iter().find(|r| r.label == label).map_or(0.0, |r| r.transfer.mbit_per_s());
    let (v1, v2) = (mbit("tunnel v1"), mbit("tunnel v2"));
    let mut out = String::new();
    let _ = writeln!(out, "| link | TCP Mbit/s | × bare veth | CPU ns/byte | ping rtt (µs) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} |",
            r.label,
            r.transfer.mbit_per_s(),
            r.transfer.mbit_per_s() / bare,
            r.transfer.cpu_ns_per_byte(),
            r.rtt.as_secs_f64() * 1e6
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "v2 / bare veth = {:.2} (target ≥ 0.5: {}); v2 / v1 = {:.2} (target ≥ 1: {})",
        v2 / bare,
        if v2 / bare >= 0.5 { "met" } else { "missed" },
        v2 / v1.max(1e-9),
        if v2 >= v1 { "met" } else { "missed" }
    );
    let _ = writeln!(
        out,
        "ChaCha20-Poly1305 alone, seal + open of 64 KiB records, CPU time of one thread: {aead:.2} ns/byte, i.e. \
         at most {:.0} Mbit/s per fully used core for the cipher work of a tunnel, against {:.2} ns/byte of CPU for \
         the whole bare-veth transfer.",
        8.0 / aead * 1e3,
        rows.first().map_or(0.0, |r| r.transfer.cpu_ns_per_byte())
    );
    let _ = writeln!(out);
    for r in rows {
        if let Some((a, b)) = &r.stats {
            let _ = writeln!(
                out,
                "- {}: {} records sealed, {} opened, {} forged, {} replayed, {} malformed; TUN reads {} in {} batches \
                 (engine dropped {}), TUN writes {}; ring-full drops {}",
                r.label,
                a.sealed + b.sealed,
                a.opened + b.opened,
                a.forged + b.forged,
                a.replayed + b.replayed,
                a.malformed + b.malformed,
                a.pump.read + b.pump.read,
                a.pump.batches + b.pump.batches,
                a.pump.dropped + b.pump.dropped,
                a.side.written + b.side.written,
                a.ring_full_drops + b.ring_full_drops,
            );
        }
    }
    let _ = writeln!(
        out,
        "\nEach transfer: one TCP stream for {seconds} s, sender in one namespace, receiver in the other, \
         payload checksum verified; each link's best of {rounds} rounds (the rounds alternate the links). \
         \"tunnel\" rows: the TUN interfaces with TSO and checksum offload, so TCP packets of up to 64 KiB \
         cross the rings and the tunnel whole, as one record in one UDP datagram that IP fragments on the \
         veth; \"per-packet\" rows: no offloads, one MTU-sized packet per record. CPU ns/byte: user + system time of the whole process over the transfer \
         (sender, receiver and, for the tunnel, both tunnel ends) per byte received. Record overhead \
         {} bytes; TUN MTU {TUN_MTU} against the veth's {}.",
        crypto::OVERHEAD,
        Topology::VETH_MTU
    );
    out
}

const BEGIN: &str = "<!-- BEGIN end-to-end (generated by ringtun-vpn --write-doc) -->";
const END: &str = "<!-- END end-to-end -->";

fn write_doc(path: &str, body: &str) -> std::io::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let section = format!(
        "{BEGIN}\n## End to end: TCP through the mini-VPN\n\n\
         Produced by `bash scripts/vpn` (as root), Linux {} with {cpus} CPUs shared with other work, so \
         absolute numbers are disturbed; the ratios compare runs made one after the other in the same \
         invocation.\n\n{body}{END}\n",
        kernel.trim()
    );
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{section}{}", &old[..start], &old[end + END.len()..].trim_start_matches('\n'))
        }
        _ => format!("{old}{}{section}", if old.is_empty() || old.ends_with("\n\n") { "" } else { "\n" }),
    };
    std::fs::write(path, new)
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Err(reason) = netns::check_privileges() {
        eprintln!("ringtun-vpn: {reason}; the mini-VPN needs root (sudo bash scripts/vpn).");
        return ExitCode::from(77);
    }
    interrupt::install();
    let result = run(&o);
    if interrupt::requested() {
        eprintln!();
    }
    let leftovers = netns::own_leftovers();
    match (&result, leftovers.is_empty()) {
        (_, false) => eprintln!("namespaces left behind: {}", leftovers.join(", ")),
        (Err(_), true) | (Ok(_), true) => {
            println!("cleaned up: the run's namespaces, and the interfaces in them, are gone")
        }
    }
    match result {
        Ok(body) => {
            println!("\n{body}");
            if let Some(path) = &o.doc {
                match write_doc(path, &body) {
                    Ok(()) => println!("wrote the end-to-end section of {path}"),
                    Err(e) => eprintln!("writing {path}: {e}"),
                }
            }
            if leftovers.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(_) if interrupt::requested() => {
            eprintln!("ringtun-vpn: interrupted");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("ringtun-vpn: {e}");
            ExitCode::FAILURE
        }
    }
}
