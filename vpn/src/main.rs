//! `ringtun-vpn`: the mini-VPN between two network namespaces, measured beside the bare veth and
//! a peer VPN, in one sitting.
//!
//! As root: makes two namespaces joined by a veth pair; for each link (the bare veth, the
//! mini-VPN in v1 and v2 without offloads and with them, and wireguard-go when installed) checks
//! it with a ping and a TCP transfer whose payload checksum the receiver compares with the
//! sender's, then measures it with iperf3 (one TCP stream), the links alternating round by round.
//! Prints each link's median Mbit/s and spread, CPU time per byte, the load average, the IP
//! fragment counters, each tunnel's idle CPU, the cipher's own speed, and the targets as PASS /
//! MISS lines; removes everything it made, also when interrupted.
//!
//! ```text
//! ringtun-vpn [--seconds N] [--rounds N] [--only LINKS] [--idle-seconds N] [--write-doc PATH]
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ringtun_tun::{PumpStats, SideStats};
use ringtun_vpn::crypto::{HEADER, OVERHEAD, TAG};
use ringtun_vpn::measure::{self, ping, process_cpu, tcp_transfer, TransferLimit};
use ringtun_vpn::netns::{self, FragmentCounters, Topology};
use ringtun_vpn::node::{Mode, NodeStats};
use ringtun_vpn::peer::{self, WireguardGo};
use ringtun_vpn::tunnel::{Tunnel, TUN_B, TUN_MTU};
use ringtun_vpn::{interrupt, iperf};

/// TCP port of the checked transfers.
const CHECK_PORT: u16 = 5301;
/// TCP port of iperf3.
const IPERF_PORT: u16 = 5201;
/// Echo requests per ping.
const PINGS: u16 = 3;
/// Bytes of the checked transfer through each link.
const CHECK_BYTES: u64 = 16 << 20;
/// How long a tunnel stays up before its idle CPU time is measured (start-up work done).
const IDLE_SETTLE: Duration = Duration::from_millis(500);

const USAGE: &str = "usage: ringtun-vpn [--seconds N] [--rounds N] [--only bare,v1,v2,v1o,v2o,wg] [--idle-seconds N] \
                     [--write-doc PATH]";

struct Options {
    seconds: u64,
    rounds: u32,
    only: Option<Vec<String>>,
    idle_seconds: u64,
    doc: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options { seconds: 5, rounds: 3, only: None, idle_seconds: 3, doc: None };
    let mut args = std::env::args().skip(1);
    let number = |v: Option<String>, range: std::ops::RangeInclusive<u64>, what: &str| {
        v.and_then(|v| v.parse().ok()).filter(|n| range.contains(n)).ok_or(format!("{what} takes {range:?}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => o.seconds = number(args.next(), 1..=600, "--seconds")?,
            "--rounds" => o.rounds = number(args.next(), 1..=15, "--rounds")? as u32,
            "--idle-seconds" => o.idle_seconds = number(args.next(), 1..=60, "--idle-seconds")?,
            "--only" => {
                let list: Vec<String> =
                    args.next().ok_or("--only takes a list")?.split(',').map(str::to_owned).collect();
                if let Some(bad) = list.iter().find(|s| !LINKS.iter().any(|l| l.short == s.as_str())) {
                    return Err(format!("--only: unknown link {bad:?}; {USAGE}"));
                }
                o.only = Some(list);
            }
            "--write-doc" => o.doc = Some(args.next().ok_or("--write-doc takes a path")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(o)
}

/// What carries the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bare,
    Ringtun(Mode, bool),
    WireguardGo,
}

struct Link {
    short: &'static str,
    label: &'static str,
    kind: Kind,
}

const LINKS: [Link; 6] = [
    Link { short: "bare", label: "bare veth", kind: Kind::Bare },
    Link { short: "v1", label: "ringtun v1", kind: Kind::Ringtun(Mode::V1, false) },
    Link { short: "v2", label: "ringtun v2", kind: Kind::Ringtun(Mode::V2, false) },
    Link { short: "v1o", label: "ringtun v1 + offloads", kind: Kind::Ringtun(Mode::V1, true) },
    Link { short: "v2o", label: "ringtun v2 + offloads", kind: Kind::Ringtun(Mode::V2, true) },
    Link { short: "wg", label: "wireguard-go", kind: Kind::WireguardGo },
];

/// One measured run of one link.
#[derive(Clone, Copy, Debug)]
struct Sample {
    mbit: f64,
    cpu_ns_per_byte: f64,
    load: f64,
    retransmits: u64,
}

/// Everything measured about one link.
#[derive(Debug, Default)]
struct Measured {
    samples: Vec<Sample>,
    rtt: Option<Duration>,
    checked: Option<u64>,
    fragments: FragmentCounters,
    largest_datagram: u64,
    idle: Option<(f64, f64)>,
    stats: Option<(NodeStats, NodeStats)>,
}

/// A running link: what to send to, and what to read its CPU time from.
enum Running {
    Bare,
    Ringtun(Box<Tunnel>),
    WireguardGo(WireguardGo),
}

impl Running {
    fn start(topology: &Topology, kind: Kind) -> Result<Self, String> {
        match kind {
            Kind::Bare => Ok(Self::Bare),
            Kind::Ringtun(mode, offload) => {
                Tunnel::start(topology, mode, offload).map(|t| Self::Ringtun(Box::new(t))).map_err(|e| e.to_string())
            }
            Kind::WireguardGo => WireguardGo::start(topology).map(Self::WireguardGo).map_err(|e| e.to_string()),
        }
    }

    fn destination(&self) -> Ipv4Addr {
        Ipv4Addr::from(match self {
            Self::Bare => Topology::VETH_B,
            Self::Ringtun(_) => TUN_B,
            Self::WireguardGo(_) => peer::WG_B,
        })
    }

    /// CPU time of the link's own processes so far: this process (the tunnel's threads; nothing
    /// else runs in it during a measurement), or the wireguard-go daemons.
    fn cpu(&self) -> Duration {
        match self {
            Self::Bare => Duration::ZERO,
            Self::Ringtun(_) => process_cpu(),
            Self::WireguardGo(wg) => wg.cpu(),
        }
    }

    fn stop(self) -> Result<Option<(NodeStats, NodeStats)>, String> {
        match self {
            Self::Bare => Ok(None),
            Self::Ringtun(t) => t.stop().map(Some).map_err(|e| e.to_string()),
            Self::WireguardGo(wg) => {
                wg.stop();
                Ok(None)
            }
        }
    }
}

fn progress(label: &str, seconds: u64) -> impl FnMut(u64, Duration) + '_ {
    move |bytes, elapsed| {
        let mbit = bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e6;
        eprint!(
            "\r  {label:<22} check {:>3.0} s  {:>8.1} Mbit/s so far  (max {seconds} s) ",
            elapsed.as_secs_f64(),
            mbit
        );
        let _ = std::io::stderr().flush();
    }
}

fn fragments(topology: &Topology) -> Result<[FragmentCounters; 2], String> {
    let read = |ns| FragmentCounters::read(ns).map_err(|e| format!("reading /proc/net/snmp: {e}"));
    Ok([read(&topology.a)?, read(&topology.b)?])
}

/// One run of `link`: start, (first round: ping, idle CPU, checked transfer), iperf3, stop.
fn run_link(topology: &Topology, link: &Link, o: &Options, first: bool, m: &mut Measured) -> Result<(), String> {
    let label = link.label;
    let before = fragments(topology)?;
    let running = Running::start(topology, link.kind).map_err(|e| format!("{label}: starting: {e}"))?;
    let result = (|| {
        let to = running.destination();
        if first {
            // wireguard-go needs its first handshake: the ping waits for it.
            let rtts =
                ping(&topology.a, to, PINGS, Duration::from_secs(2)).map_err(|e| format!("{label}: ping: {e}"))?;
            if rtts.is_empty() {
                return Err(format!("{label}: no echo reply from {to}"));
            }
            m.rtt = Some(rtts.iter().sum::<Duration>() / rtts.len() as u32);
            if link.kind != Kind::Bare {
                std::thread::sleep(IDLE_SETTLE);
                let (cpu0, t0) = (running.cpu(), Instant::now());
                std::thread::sleep(Duration::from_secs(o.idle_seconds));
                let share = running.cpu().saturating_sub(cpu0).as_secs_f64() / t0.elapsed().as_secs_f64();
                m.idle = Some((share * 100.0, measure::load_average()));
            }
            let limit = TransferLimit { bytes: Some(CHECK_BYTES), duration: Duration::from_secs(60) };
            let t = tcp_transfer(&topology.a, &topology.b, to, CHECK_PORT, limit, progress(label, 60))
                .map_err(|e| format!("{label}: checked transfer: {e}"))?;
            eprint!("\r{:<80}\r", "");
            if !t.verified() {
                return Err(format!(
                    "{label}: payload check failed: sent {} bytes (checksum {:016x}), received {} ({:016x})",
                    t.sent, t.sent_checksum, t.received, t.received_checksum
                ));
            }
            m.checked = Some(t.received);
        }
        eprint!("\r  {label:<22} iperf3 for {} s ...", o.seconds);
        let _ = std::io::stderr().flush();
        let cpu0 = running.cpu();
        let run =
            iperf::run(&topology.b, &topology.a, to, IPERF_PORT, o.seconds).map_err(|e| format!("{label}: {e}"))?;
        let cpu = running.cpu().saturating_sub(cpu0) + run.cpu;
        let sample = Sample {
            mbit: run.mbit_per_s(),
            cpu_ns_per_byte: cpu.as_nanos() as f64 / run.bytes.max(1) as f64,
            load: measure::load_average(),
            retransmits: run.retransmits,
        };
        eprint!("\r{:<80}\r", "");
        println!(
            "  {label:<22} {:>8.0} Mbit/s  CPU {:>5.2} ns/byte  retransmits {:>5}  load {:.2}",
            sample.mbit, sample.cpu_ns_per_byte, sample.retransmits, sample.load
        );
        m.samples.push(sample);
        Ok(())
    })();
    let stopped = running.stop().map_err(|e| format!("{label}: stopping: {e}"));
    let after = fragments(topology)?;
    for (a, b) in after.iter().zip(before.iter()) {
        let d = a.since(b);
        m.fragments.reassembly_requests += d.reassembly_requests;
        m.fragments.reassembled += d.reassembled;
        m.fragments.fragmented += d.fragmented;
        m.fragments.fragments_created += d.fragments_created;
    }
    result?;
    if let Some((a, b)) = stopped? {
        m.largest_datagram = m.largest_datagram.max(a.largest_datagram).max(b.largest_datagram);
        m.stats = Some(match m.stats.take() {
            None => (a, b),
            Some(old) => (add_stats(old.0, a), add_stats(old.1, b)),
        });
    }
    Ok(())
}

fn add_stats(a: NodeStats, b: NodeStats) -> NodeStats {
    NodeStats {
        sealed: a.sealed + b.sealed,
        sent_bytes: a.sent_bytes + b.sent_bytes,
        send_refused: a.send_refused + b.send_refused,
        segmented: a.segmented + b.segmented,
        oversize: a.oversize + b.oversize,
        opened: a.opened + b.opened,
        received_bytes: a.received_bytes + b.received_bytes,
        largest_datagram: a.largest_datagram.max(b.largest_datagram),
        coalesced: a.coalesced + b.coalesced,
        coalesced_records: a.coalesced_records + b.coalesced_records,
        forged: a.forged + b.forged,
        replayed: a.replayed + b.replayed,
        malformed: a.malformed + b.malformed,
        ring_full_drops: a.ring_full_drops + b.ring_full_drops,
        pump: PumpStats {
            read: a.pump.read + b.pump.read,
            batches: a.pump.batches + b.pump.batches,
            sent: a.pump.sent + b.pump.sent,
            dropped: a.pump.dropped + b.pump.dropped,
            read_errors: a.pump.read_errors + b.pump.read_errors,
        },
        side: SideStats {
            written: a.side.written + b.side.written,
            bytes: a.side.bytes + b.side.bytes,
            write_errors: a.side.write_errors + b.side.write_errors,
            carrier_errors: a.side.carrier_errors + b.side.carrier_errors,
        },
        // The engine's counters are those of the last run.
        engine: b.engine,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn spread(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

struct Results<'a> {
    links: Vec<(&'a Link, Measured)>,
    skipped: Vec<(&'a Link, String)>,
    cipher_ns_per_byte: f64,
    cipher_load: f64,
    seconds: u64,
    rounds: u32,
    idle_seconds: u64,
    peer_version: String,
}

impl Results<'_> {
    fn get(&self, short: &str) -> Option<&Measured> {
        self.links.iter().find(|(l, _)| l.short == short).map(|(_, m)| m)
    }

    fn mbit(&self, short: &str) -> Option<f64> {
        self.get(short).filter(|m| !m.samples.is_empty()).map(|m| median(m.samples.iter().map(|s| s.mbit).collect()))
    }
}

fn run(o: &Options) -> Result<String, String> {
    if !iperf::available() {
        return Err("iperf3 is not installed (Debian: apt-get install iperf3; scripts/vpn installs it)".into());
    }
    let removed = netns::remove_stale();
    if !removed.is_empty() {
        println!("removed namespaces left by killed runs: {}", removed.join(", "));
    }
    let topology = Topology::create("main").map_err(|e| format!("setting up the namespaces: {e}"))?;
    println!(
        "namespaces {} and {}, veth {} <-> {} (MTU {}); ringtun tunnel {} <-> {} (TUN MTU {TUN_MTU}); \
         wireguard-go {} <-> {} (MTU {})",
        topology.a.name(),
        topology.b.name(),
        netns::dotted(Topology::VETH_A),
        netns::dotted(Topology::VETH_B),
        Topology::VETH_MTU,
        netns::dotted(ringtun_vpn::tunnel::TUN_A),
        netns::dotted(TUN_B),
        netns::dotted(peer::WG_A),
        netns::dotted(peer::WG_B),
        peer::WG_MTU,
    );
    let wanted =
        |l: &Link| l.kind == Kind::Bare || o.only.as_ref().is_none_or(|only| only.iter().any(|s| s == l.short));
    let mut skipped = Vec::new();
    let mut links: Vec<(&Link, Measured)> = Vec::new();
    for link in LINKS.iter().filter(|l| wanted(l)) {
        if link.kind == Kind::WireguardGo {
            if let Some(why) = peer::unavailable() {
                println!("  {}: skipped: {why}", link.label);
                skipped.push((link, why));
                continue;
            }
        }
        links.push((link, Measured::default()));
    }
    // The links alternate within each round, so a burst of other work on the machine spreads
    // over all of them instead of deciding one link's figure.
    for round in 1..=o.rounds {
        println!("round {round}/{} (load average {:.2})", o.rounds, measure::load_average());
        for (link, m) in &mut links {
            if interrupt::requested() {
                return Err("interrupted".into());
            }
            run_link(&topology, link, o, round == 1, m)?;
        }
    }
    let cipher_load = measure::load_average();
    let cipher = measure::cipher_ns_per_byte(TUN_MTU as usize, Duration::from_millis(500));
    let results = Results {
        links,
        skipped,
        cipher_ns_per_byte: cipher,
        cipher_load,
        seconds: o.seconds,
        rounds: o.rounds,
        idle_seconds: o.idle_seconds,
        peer_version: peer::version(),
    };
    Ok(report(&results))
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

fn report(r: &Results<'_>) -> String {
    let mut out = String::new();
    let bare = r.mbit("bare").unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "| link | Mbit/s (median) | spread (min–max) | × bare veth | CPU ns/byte | retransmits | ping rtt (µs) | idle CPU (% of a core) | load average (min–max) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (link, m) in &r.links {
        let mbits: Vec<f64> = m.samples.iter().map(|s| s.mbit).collect();
        let (lo, hi) = spread(&mbits);
        let med = median(mbits.clone());
        let (load_lo, load_hi) = spread(&m.samples.iter().map(|s| s.load).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0}–{:.0} | {:.2} | {:.2} | {:.0} | {} | {} | {:.1}–{:.1} |",
            link.label,
            med,
            lo,
            hi,
            med / bare,
            median(m.samples.iter().map(|s| s.cpu_ns_per_byte).collect()),
            median(m.samples.iter().map(|s| s.retransmits as f64).collect()),
            m.rtt.map_or("–".into(), |t| format!("{:.0}", t.as_secs_f64() * 1e6)),
            m.idle.map_or("–".into(), |(p, load)| format!("{p:.2} (load {load:.1})")),
            load_lo,
            load_hi,
        );
    }
    for (link, why) in &r.skipped {
        let _ = writeln!(out, "| {} | skipped: {why} | | | | | | | |", link.label);
    }
    let _ = writeln!(out);
    let cipher_mbit = 8.0 / r.cipher_ns_per_byte * 1e3;
    let _ = writeln!(
        out,
        "Cipher bound: ChaCha20-Poly1305 (aws-lc) sealing and opening records of {TUN_MTU}-byte packets \
         ({}-byte datagrams) on one core: {:.3} ns of CPU per byte, {cipher_mbit:.0} Mbit/s (load {:.1}).",
        TUN_MTU as usize + OVERHEAD,
        r.cipher_ns_per_byte,
        r.cipher_load
    );
    let _ = writeln!(out);
    // Targets.
    let v2o = r.mbit("v2o");
    let _ = writeln!(out, "Targets (ringtun v2 + offloads):");
    let _ = writeln!(out);
    match (r.get("v2o"), v2o) {
        (Some(m), Some(v)) => {
            let f = &m.fragments;
            let mtu_ok = f.none() && m.largest_datagram > 0 && m.largest_datagram <= u64::from(Topology::VETH_MTU) - 28;
            let _ = writeln!(
                out,
                "- {} MTU-respecting: {} fragments created and {} reassembly requests in the two namespaces over its \
                 runs; largest datagram {} bytes (limit {})",
                verdict(mtu_ok),
                f.fragments_created,
                f.reassembly_requests,
                m.largest_datagram,
                Topology::VETH_MTU - 28
            );
            let ratio = v / cipher_mbit;
            let _ = writeln!(
                out,
                "- {} ≥ 0.5 × the cipher bound: {v:.0} / {cipher_mbit:.0} Mbit/s = {ratio:.2}",
                verdict(ratio >= 0.5)
            );
            match r.mbit("v2") {
                Some(base) => {
                    let ratio = v / base;
                    let _ = writeln!(
                        out,
                        "- {} ≥ 3 × ringtun v2 without offloads: {v:.0} / {base:.0} Mbit/s = {ratio:.2}",
                        verdict(ratio >= 3.0)
                    );
                }
                None => {
                    let _ = writeln!(out, "- SKIP ≥ 3 × ringtun v2 without offloads: not measured in this run");
                }
            }
            match (r.mbit("wg"), r.skipped.iter().find(|(l, _)| l.short == "wg")) {
                (Some(wg), _) => {
                    let ratio = v / wg;
                    let _ = writeln!(
                        out,
                        "- {} ≥ 5 × the peer ({}): {v:.0} / {wg:.0} Mbit/s = {ratio:.2}",
                        verdict(ratio >= 5.0),
                        r.peer_version
                    );
                }
                (None, Some((_, why))) => {
                    let _ = writeln!(out, "- SKIP ≥ 5 × the peer: not measured: {why}");
                }
                (None, None) => {
                    let _ = writeln!(out, "- SKIP ≥ 5 × the peer: not measured in this run");
                }
            }
            match m.idle {
                Some((p, load)) => {
                    let _ = writeln!(
                        out,
                        "- {} idle tunnel ≤ 1 % of a core: {p:.2} % over {} s (both ends, load {load:.1})",
                        verdict(p <= 1.0),
                        r.idle_seconds
                    );
                }
                None => {
                    let _ = writeln!(out, "- SKIP idle tunnel ≤ 1 % of a core: not measured");
                }
            }
        }
        _ => {
            let _ = writeln!(out, "- SKIP every target: ringtun v2 + offloads was not measured in this run");
        }
    }
    let _ = writeln!(out);
    for (link, m) in &r.links {
        if let Some((a, b)) = &m.stats {
            let _ = writeln!(
                out,
                "- {}: {} records sealed ({} super-packets cut), {} opened ({} coalesced packets of {} records), \
                 {} forged, {} replayed, {} malformed, {} oversize; largest datagram {} B; TUN reads {} in {} \
                 batches (engine dropped {}), TUN writes {}; ring-full drops {}; IP fragments {}",
                link.label,
                a.sealed + b.sealed,
                a.segmented + b.segmented,
                a.opened + b.opened,
                a.coalesced + b.coalesced,
                a.coalesced_records + b.coalesced_records,
                a.forged + b.forged,
                a.replayed + b.replayed,
                a.malformed + b.malformed,
                a.oversize + b.oversize,
                m.largest_datagram,
                a.pump.read + b.pump.read,
                a.pump.batches + b.pump.batches,
                a.pump.dropped + b.pump.dropped,
                a.side.written + b.side.written,
                a.ring_full_drops + b.ring_full_drops,
                m.fragments.fragments_created + m.fragments.reassembly_requests,
            );
        } else if m.checked.is_some() {
            let _ = writeln!(
                out,
                "- {}: IP fragments {}",
                link.label,
                m.fragments.fragments_created + m.fragments.reassembly_requests
            );
        }
    }
    let _ = writeln!(
        out,
        "\nEach link: a ping and a TCP transfer of {} MiB whose payload checksum the receiver compares with the \
         sender's (round 1), then iperf3 (one TCP stream, a → b) for {} s per round, {} rounds, the links \
         alternating within each round; median and spread over the rounds. CPU ns/byte: the CPU time (user + \
         system) of the iperf3 client and server and of the link's own processes (the mini-VPN process with both \
         tunnel ends and their engines; the two wireguard-go daemons) over the iperf3 run, per byte received; \
         kernel work done outside those processes (softirq threads) is not counted. Idle CPU: the link's own \
         processes over {} s with the tunnel up and no traffic. Load average: the 1-minute figure after each run. \
         Records: {HEADER}-byte header, {TAG}-byte tag; TUN MTU {TUN_MTU} against the veth's {}.",
        CHECK_BYTES >> 20,
        r.seconds,
        r.rounds,
        r.idle_seconds,
        Topology::VETH_MTU
    );
    out
}

const BEGIN: &str = "<!-- BEGIN end-to-end (generated by ringtun-vpn --write-doc) -->";
const END: &str = "<!-- END end-to-end -->";

fn write_doc(path: &str, body: &str) -> std::io::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_default();
    let section = format!(
        "{BEGIN}\n## Measured\n\nProduced by `bash scripts/vpn` (as root), Linux {} on {cpus} CPUs ({model}). The load \
         average beside every figure says how much other work shared the CPUs.\n\n{body}{END}\n",
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
    if leftovers.is_empty() {
        println!("cleaned up: the run's namespaces, and the interfaces in them, are gone");
    } else {
        eprintln!("namespaces left behind: {}", leftovers.join(", "));
    }
    match result {
        Ok(body) => {
            println!("\n{body}");
            if let Some(path) = &o.doc {
                match write_doc(path, &body) {
                    Ok(()) => println!("wrote the measured section of {path}"),
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
