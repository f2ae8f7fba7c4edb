//! ringtun benchmarks on the host platform: the real engine (Send path, Receive path, consumer
//! thread) and the real client library, with std threads in place of the kernel's. Every figure
//! is printed beside a baseline measured in the same run (memcpy of the same bytes, a bare SPSC
//! copy ring, a futex ping-pong), the measurements interleaved, and every target as PASS/MISS.
//!
//! ```text
//! ringtun-bench [--quick | --full] [--report docs/performance.md] [--no-instructions] [--only a..e]
//! ringtun-bench --instructions [NAME..] # only the callgrind instruction counts per packet (of the
//!                                       # scenarios whose names start with a NAME, if given)
//! ringtun-bench --instructions --report docs/performance.md  # rewrite only the report's (f) parts
//! ```
//!
//! Sections: (a) the VPN datapath with real AEADs, v1 copy vs v2 in place; (b) throughput per
//! direction and size against memcpy and the bare ring; (c) Send-path batch sizes; (d) memory;
//! (e) wake-up latency against the futex ping-pong; (f) instructions per packet (callgrind);
//! then the targets. `--report` writes the whole performance document (from
//! `bench/performance.md.in`) and its SVG plots next to it; nothing in it is typed by hand.
//!
//! Nothing here asserts a speed.

mod alloc_count;
mod baselines;
mod instructions;
mod plot;
mod vpn;

use std::fmt::Write as _;
use std::mem::size_of;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ring_abi::{v1_ring_size, v2_ring_size, Room};
use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::{Error, Session, SessionConfig, VersionPreference};
use ringtun_driver::engine::{receive, send, SlotWriter, TransmitBatch, TransmitStatus};
use ringtun_driver::host::HostIndication;

use crate::plot::{Axis, Series};

#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::Counting;

/// Ring capacity of every session here (8 MiB, a common VPN choice).
const CAPACITY: u32 = 0x80_0000;

/// The Wintun API library's calls may cost at most this many times the instructions per packet
/// of the client library's calls they translate to.
const CAPI_INSTRUCTION_LIMIT: f64 = 1.2;
/// The room every v2 client here asks for on incoming packets.
const HEADER: usize = 16;
const TRAILER: usize = 16;
const SIZES: [usize; 6] = [64, 576, 1420, 1500, 9000, 65535];
/// The VPN datapath's packet size.
const VPN_SIZE: usize = 1420;

struct Budget {
    name: &'static str,
    /// Time per transform and direction in (a).
    vpn: Duration,
    /// Length of one throughput measurement window in (b) and (c).
    window: Duration,
    /// Windows per throughput figure (the median is reported); engine and baselines alternate.
    windows: usize,
    /// Packets per direction in (e), and per interleaved chunk.
    latency_samples: usize,
    latency_chunk: usize,
}

const FULL: Budget = Budget {
    name: "full",
    vpn: Duration::from_millis(2400),
    window: Duration::from_millis(400),
    windows: 5,
    latency_samples: 3000,
    latency_chunk: 100,
};
const QUICK: Budget = Budget {
    name: "quick",
    vpn: Duration::from_millis(600),
    window: Duration::from_millis(150),
    windows: 3,
    latency_samples: 600,
    latency_chunk: 50,
};

struct Options {
    budget: &'static Budget,
    report: Option<PathBuf>,
    instructions: bool,
    /// Run only this section (a..e), without the report.
    only: Option<String>,
}

fn usage() -> ! {
    eprintln!("usage: ringtun-bench [--quick | --full] [--report FILE.md] [--no-instructions] [--only a|b|c|d|e]");
    eprintln!("       ringtun-bench --instructions [SCENARIO-PREFIX ...]");
    eprintln!("       ringtun-bench --instructions --report FILE.md   # only the instruction parts of FILE.md");
    eprintln!("       ringtun-bench --stream down|up|bare-down|bare-up SIZE SECONDS");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--instructions-child") {
        instructions::child(args.get(1).map_or("", String::as_str));
        return;
    }
    if args.first().map(String::as_str) == Some("--instructions") {
        // `--instructions --report FILE`: every scenario, and only the instruction parts of FILE
        // (a page this program wrote) rewritten.
        let report = match args.get(1).map(String::as_str) {
            Some("--report") => Some(PathBuf::from(args.get(2).unwrap_or_else(|| usage()))),
            _ => None,
        };
        let only = if report.is_some() { &args[3..] } else { &args[1..] };
        if report.is_some() && !only.is_empty() {
            usage();
        }
        match instructions::measure(only) {
            Some(counts) => {
                print!("{}", instructions::table(&counts));
                println!();
                print!("{}", instructions::capi_lines(&counts, CAPI_INSTRUCTION_LIMIT));
                println!();
                print!("{}", instructions::profiles(&counts));
                if let Some(path) = report {
                    match update_instruction_parts(&path, &counts) {
                        Ok(()) => println!("instruction parts of {} rewritten", path.display()),
                        Err(e) => {
                            eprintln!("cannot rewrite the report's instruction parts: {e}");
                            std::process::exit(1);
                        }
                    }
                }
            }
            None => {
                eprintln!("valgrind (callgrind) and callgrind_annotate are needed");
                std::process::exit(1);
            }
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--stream") {
        profile_stream(&args[1..]);
        return;
    }
    let mut options = Options { budget: &FULL, report: None, instructions: true, only: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => options.budget = &QUICK,
            "--full" => options.budget = &FULL,
            "--no-instructions" => options.instructions = false,
            "--report" => options.report = Some(it.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            "--only" => options.only = Some(it.next().cloned().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    run(&options);
}

/// Every generated part of the report, by placeholder name.
#[derive(Default)]
struct Report {
    parts: Vec<(&'static str, String)>,
    targets: Vec<Target>,
    plots: Vec<(&'static str, String)>,
}

impl Report {
    fn part(&mut self, name: &'static str, text: String) {
        println!("{text}");
        self.parts.push((name, text));
    }
}

struct Target {
    what: String,
    ratio: f64,
    /// The ratio must be at least (`true`) or at most (`false`) `limit`.
    at_least: bool,
    limit: f64,
}

impl Target {
    fn pass(&self) -> bool {
        if self.at_least {
            self.ratio >= self.limit
        } else {
            self.ratio <= self.limit
        }
    }

    fn verdict(&self) -> &'static str {
        if self.pass() {
            "PASS"
        } else {
            "MISS"
        }
    }

    /// The target's row in the report's table (its first cell names it).
    fn row(&self) -> String {
        format!(
            "| {} | {:.2}× | {} {:.2}× | **{}** |",
            self.what,
            self.ratio,
            if self.at_least { "≥" } else { "≤" },
            self.limit,
            self.verdict()
        )
    }
}

/// The targets on instruction counts: the C API against the client library.
fn instruction_targets(counts: &[instructions::Count]) -> Vec<Target> {
    instructions::capi_ratios(counts)
        .into_iter()
        .map(|(what, _, _, ratio)| Target { what, ratio, at_least: false, limit: CAPI_INSTRUCTION_LIMIT })
        .collect()
}

/// The parts of a written report that `--instructions --report` rewrites alone: each between
/// `<!-- BEGIN name -->` and `<!-- END name -->` lines, which the template puts around them.
const INSTRUCTION_PARTS: [&str; 3] = ["instructions", "profiles", "instructions_run"];

/// Rewrites the instruction parts of the report at `path` (written by a full run of this program
/// from the current template) from `counts`: the tables of (f), their target rows, and the line
/// that says when they were measured. Everything else stays as the full run wrote it.
fn update_instruction_parts(path: &Path, counts: &[instructions::Count]) -> std::io::Result<()> {
    let mut text = std::fs::read_to_string(path)?;
    let when = machine_facts();
    let parts = [
        instructions::table(counts),
        instructions::profiles(counts),
        format!(
            "- instruction counts (f) and their targets: measured again alone (`ringtun-bench --instructions --report`), taken {}; {}, release build; every other figure is from the run above\n",
            when.date, when.rustc
        ),
    ];
    for (name, part) in INSTRUCTION_PARTS.iter().zip(parts) {
        let (begin, end) = (format!("<!-- BEGIN {name} -->\n"), format!("\n<!-- END {name} -->"));
        let missing =
            || std::io::Error::other(format!("no {begin:?} ... {end:?} in the report: write it with a full run"));
        let start = text.find(&begin).ok_or_else(missing)? + begin.len();
        let stop = start + text[start..].find(&end).ok_or_else(missing)?;
        text.replace_range(start..stop, part.trim_end());
    }
    for target in instruction_targets(counts) {
        let cell = format!("| {} |", target.what);
        let line = text
            .lines()
            .find(|l| l.starts_with(&cell))
            .map(str::to_string)
            .ok_or_else(|| std::io::Error::other(format!("no target row {cell:?} in the report")))?;
        text = text.replacen(&line, &target.row(), 1);
    }
    std::fs::write(path, text)
}

fn run(options: &Options) {
    let budget = options.budget;
    let started = Instant::now();
    let load_before = load_average();
    let mut report = Report::default();
    println!(
        "ringtun-bench ({}): the engine and client library on the host platform, rings of {} MiB",
        budget.name,
        CAPACITY >> 20
    );
    println!("host-platform numbers: relative costs on this machine, not Windows kernel numbers\n");

    if let Some(only) = &options.only {
        match only.as_str() {
            "a" => vpn_section(budget, &mut report),
            "b" => throughput_section(budget, &mut report),
            "c" => batching_section(budget, &mut report),
            "d" => memory_section(&mut report),
            "e" => latency_section(budget, &mut report),
            _ => usage(),
        }
        return;
    }
    vpn_section(budget, &mut report);
    throughput_section(budget, &mut report);
    batching_section(budget, &mut report);
    memory_section(&mut report);
    latency_section(budget, &mut report);
    let counts = if options.instructions { instructions::measure(&[]) } else { None };
    match &counts {
        Some(c) => {
            report.part("instructions", instructions::table(c));
            report.part("profiles", instructions::profiles(c));
            report.part("instructions_run", "- instruction counts (f): this run\n".to_string());
            report.targets.extend(instruction_targets(c));
        }
        None => {
            let note = "Not measured in this run (`--no-instructions`, or valgrind missing).\n".to_string();
            report.part("instructions", note.clone());
            report.part("profiles", note);
            report.part("instructions_run", "- instruction counts (f): not measured\n".to_string());
        }
    }
    let mut t = String::new();
    let _ = writeln!(t, "| target | measured | limit | verdict |");
    let _ = writeln!(t, "|---|---:|---:|:---:|");
    for target in &report.targets {
        let _ = writeln!(t, "{}", target.row());
    }
    report.part("targets", t);
    let load_after = load_average();
    let elapsed = started.elapsed();
    let machine = machine_line(budget, load_before.as_deref(), load_after.as_deref(), elapsed);
    report.part("machine", machine);
    if let Some(path) = &options.report {
        match write_report(path, &report) {
            Ok(()) => println!("report written to {}", path.display()),
            Err(e) => {
                eprintln!("cannot write the report: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("done in {:.1} s", elapsed.as_secs_f64());
}

fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// When a measurement was taken, and by which compiler's code.
struct MachineFacts {
    date: String,
    rustc: String,
}

fn machine_facts() -> MachineFacts {
    let output = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    MachineFacts { date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]), rustc: output("rustc", &["--version"]) }
}

fn machine_line(budget: &Budget, before: Option<&str>, after: Option<&str>, elapsed: Duration) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .map_or_else(|| "?".into(), |k| format!("{} GiB", k >> 20));
    let MachineFacts { date, rustc } = machine_facts();
    format!(
        "- mode: `{}` ({:.0} s); taken {date}\n- machine: {cpus} CPUs ({cpu}), {mem}; {rustc}, release build\n- load average (1/5/15 min) before: {}; after: {}\n",
        budget.name,
        elapsed.as_secs_f64(),
        before.unwrap_or("?"),
        after.unwrap_or("?")
    )
}

fn write_report(path: &Path, report: &Report) -> std::io::Result<()> {
    let template_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("performance.md.in");
    let mut text = std::fs::read_to_string(&template_path)?;
    for (name, part) in &report.parts {
        text = text.replace(&format!("{{{{{name}}}}}"), part.trim_end());
    }
    if let Some(start) = text.find("{{") {
        let end = text[start..].find("}}").map_or(text.len(), |e| start + e + 2);
        return Err(std::io::Error::other(format!("template placeholder {} not generated", &text[start..end])));
    }
    std::fs::write(path, text)?;
    let dir = path.parent().unwrap_or(Path::new(".")).join("perf");
    std::fs::create_dir_all(&dir)?;
    for (name, svg) in &report.plots {
        std::fs::write(dir.join(name), svg)?;
    }
    Ok(())
}

/// CPU time this thread has run (not wall time): what a lockstep measurement on one thread
/// should use on a machine shared with other work, since time spent preempted is not counted.
pub fn cpu_now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_THREAD_CPUTIME_ID always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

// ----- common ----------------------------------------------------------------------------------

/// An IPv4 packet of `len` bytes (20..=0xFFFF).
fn ipv4(len: usize, seq: u32) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i as u32).wrapping_mul(131).wrapping_add(seq) as u8).collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

fn open(driver: &Arc<HostDriver>, v1: bool, incoming: Room, outgoing: Room) -> Session<HostBackend> {
    let config = SessionConfig {
        version: if v1 { VersionPreference::V1Only } else { VersionPreference::PreferV2 },
        incoming_capacity: CAPACITY,
        outgoing_capacity: CAPACITY,
        incoming_room: incoming,
        outgoing_room: outgoing,
        ..SessionConfig::default()
    };
    match Session::open(HostBackend::open_default(driver), config) {
        Ok(s) => s,
        Err(e) => panic!("cannot open a session: {e}"),
    }
}

/// Packets per Send-path batch for `size`-byte packets: 32, fewer if 32 would not fit a quarter
/// of the ring.
fn batch_for(size: usize) -> usize {
    (CAPACITY as usize / 4 / (size + 64)).clamp(1, 32)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn mpps(packets: u64, time: Duration) -> f64 {
    packets as f64 / time.as_secs_f64().max(1e-12) / 1e6
}

fn gbytes(mpps: f64, size: usize) -> f64 {
    mpps * 1e6 * size as f64 / 1e9
}

/// A small deterministic generator (xorshift64*) for idle gaps.
pub struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A transmit batch without per-call allocations (unlike the host's test batch, which tracks
/// every status write), so the time measured around a transmit is the engine's.
struct Batch<'a> {
    packets: &'a [&'a [u8]],
    sent: usize,
}

impl TransmitBatch for Batch<'_> {
    fn packet_count(&self) -> usize {
        self.packets.len()
    }

    fn packet_len(&self, index: usize) -> usize {
        self.packets.get(index).map_or(0, |p| p.len())
    }

    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool {
        self.packets.get(index).is_some_and(|p| slot.write(0, p))
    }

    fn set_status(&mut self, _index: usize, status: TransmitStatus) {
        if status == TransmitStatus::Sent {
            self.sent += 1;
        }
    }
}

/// The stack sends `packets` out of the adapter as one batch; returns how many were published
/// (all or none: a batch the Send ring has no room for is refused whole).
fn transmit(driver: &HostDriver, packets: &[&[u8]]) -> usize {
    let mut batch = Batch { packets, sent: 0 };
    driver.adapter().transmit(&mut batch);
    batch.sent
}

fn ratio_cell(r: f64) -> String {
    format!("{r:.2}×")
}

// ----- (a) the VPN datapath --------------------------------------------------------------------

fn vpn_section(budget: &Budget, report: &mut Report) {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{VPN_SIZE}-byte packets; Mpps of the client's datapath (v1: copy; v2: in place), lockstep on one thread, the client library's batch calls on both sides (one lock and one publication per batch of 32), v1 and v2 alternating in blocks of 64 batches, each figure from the median batch (monotonic clock; a preempted batch falls in the tail).\n"
    );
    let _ = writeln!(
        s,
        "The AEAD targets are judged on the aws-lc rows (aws-lc-rs, pinned in bench/Cargo.toml): production VPNs use assembly AEADs (OpenSSL, BoringSSL or aws-lc, the kernel's crypto), and at their cost per byte the copy v2 saves is a visible share of a packet's work. The RustCrypto rows (chacha20poly1305, aes-gcm) are shown for comparison only: their AEAD costs several times more per byte, which keeps the bound on v2/v1 (second table) close to 1 whatever the ring does.\n"
    );
    let _ = writeln!(
        s,
        "| transform | net→client v1 | v2 | v2/v1 | whole path v1 | v2 | v2/v1 | client→net v1 | v2 | v2/v1 |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ns_rows = Vec::new();
    for t in vpn::Transform::all() {
        let r = vpn::measure(&t, VPN_SIZE, budget.vpn);
        let (down, whole, up) = (r.down_v2 / r.down_v1, r.down_whole_v2 / r.down_whole_v1, r.up_v2 / r.up_v1);
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.3} | {} | {:.3} | {:.3} | {} | {:.3} | {:.3} | {} |",
            r.transform,
            r.down_v1,
            r.down_v2,
            ratio_cell(down),
            r.down_whole_v1,
            r.down_whole_v2,
            ratio_cell(whole),
            r.up_v1,
            r.up_v2,
            ratio_cell(up)
        );
        ns_rows.push((r.transform, 1e3 / r.down_v1, 1e3 / r.down_v2, 1e3 / r.up_v1, 1e3 / r.up_v2));
        let limit = match t.provider() {
            vpn::Provider::None => 1.5,
            vpn::Provider::AwsLc => 1.10,
            // Shown for comparison; the AEAD targets are judged on the aws-lc rows.
            vpn::Provider::RustCrypto => continue,
        };
        for (dir, ratio) in [("network→client", down), ("client→network", up)] {
            report.targets.push(Target {
                what: format!("v2 in place / v1 copy, {}, {dir}, {VPN_SIZE} B", r.transform),
                ratio,
                at_least: true,
                limit,
            });
        }
    }
    // What removing the copy can buy: v2 saves one memcpy of the packet into (or out of) v1's
    // scratch buffer per packet, one buffer used again and again and so in the L1 cache
    // (measured as a memcpy cycling through 4 KiB), in CPU time. Both sides also write every
    // packet into the ring once (up); the ring (8 MiB) is larger than a core's L2 cache, so that
    // write goes to lines that are not in the core's caches.
    let packet = ipv4(VPN_SIZE, 1);
    let copy_ns = VPN_SIZE as f64 / baselines::memcpy_gbps(&packet, 1 << 12, budget.vpn / 8, true);
    let ring_copy_ns = VPN_SIZE as f64 / baselines::memcpy_gbps(&packet, CAPACITY as usize, budget.vpn / 8, true);
    let _ = writeln!(
        s,
        "\nPer packet (the datapath's median batch; the memcpys in CPU time over a long loop): the copy v2 avoids, a memcpy of {VPN_SIZE} B into a buffer in the L1 cache (v1's scratch buffer, the same for every packet), costs {copy_ns:.0} ns. If v2 saved that copy and nothing else, v2/v1 could be at most v1 / (v1 − copy). Both sides pay the write of each packet into the ring (client→net): the same memcpy into a buffer of the ring's size ({} MiB, more than a core's L2 cache) costs {ring_copy_ns:.0} ns on its own. One cell has no such bound (n/a): with the null transform, network→client, v2 touches none of the packet's bytes, while v1's copy reads all of them out of the ring (from lines the Send path has just written), so v2 saves more than an L1 copy there.\n",
        CAPACITY >> 20
    );
    let _ = writeln!(
        s,
        "| transform | net→client v1 ns | v2 ns | bound on v2/v1 | client→net v1 ns | v2 ns | bound on v2/v1 |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, d1, d2, u1, u2) in ns_rows {
        let bound = |v1: f64, copy: f64| if v1 > copy { ratio_cell(v1 / (v1 - copy)) } else { "—".into() };
        let down_bound = if name == "null" { "n/a".to_string() } else { bound(d1, copy_ns) };
        let _ =
            writeln!(s, "| {name} | {d1:.0} | {d2:.0} | {down_bound} | {u1:.0} | {u2:.0} | {} |", bound(u1, copy_ns));
    }
    report.part("vpn", s);
}

// ----- (b) and (c) streaming throughput --------------------------------------------------------

/// network → client, streaming: a stack thread sends batches of `batch` packets of `size` bytes
/// (a batch the full ring refuses is dropped, as NDIS would), a client thread receives and
/// releases. Returns the median over `windows` windows, in Mpps.
fn stream_down(size: usize, batch: usize, budget: &Budget) -> f64 {
    let driver = HostDriver::new();
    let session = open(&driver, false, Room::new(HEADER as u16, TRAILER as u16), Room::NONE);
    let packet = ipv4(size, 3);
    let stop = AtomicBool::new(false);
    let received = AtomicU64::new(0);
    thread::scope(|scope| {
        scope.spawn(|| {
            let refs: Vec<&[u8]> = vec![packet.as_slice(); batch];
            while !stop.load(Relaxed) {
                if transmit(&driver, &refs) == 0 {
                    // The ring is full: the client is behind. (Two threads on two CPUs: a yield
                    // is enough; a sleep would measure the timer, not the engine.)
                    thread::yield_now();
                }
            }
        });
        scope.spawn(|| {
            let mut n = 0u64;
            let mut packets = Vec::with_capacity(batch);
            while !stop.load(Relaxed) {
                match session.receive_many(&mut packets, batch) {
                    Ok(0) => {
                        // Empty: wait for the next packet like a client would (spin, then sleep).
                        if let Ok(Some(p)) = session.receive_wait(Duration::from_millis(10)) {
                            p.release();
                            n += 1;
                        }
                    }
                    Ok(k) => {
                        session.release_many(&mut packets);
                        n += k as u64;
                    }
                    Err(e) => panic!("receive: {e}"),
                }
                received.store(n, Relaxed);
            }
        });
        let rate = windows(budget, 1, || received.load(Relaxed));
        stop.store(true, Relaxed);
        rate
    })
}

/// client → network, streaming: a client thread allocates, fills (a stand-in for decrypting)
/// and sends `size`-byte packets; the engine's consumer thread validates and indicates them to
/// the stack, which returns them at once. Returns the median Mpps.
fn stream_up(size: usize, batch: usize, budget: &Budget) -> f64 {
    let driver = HostDriver::new();
    driver.stack().set_logging(false);
    let session = open(&driver, false, Room::NONE, Room::new(1, TRAILER as u16));
    let packet = ipv4(size, 4);
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            let lens = vec![size; batch];
            let mut slots = Vec::with_capacity(batch);
            while !stop.load(Relaxed) {
                match session.allocate_many(&lens, 0, 0, &mut slots) {
                    Ok(_) => {
                        for slot in &mut slots {
                            slot.data_mut().copy_from_slice(&packet);
                        }
                        if let Err(e) = session.send_many(&mut slots) {
                            panic!("send: {e}");
                        }
                    }
                    Err(Error::RingFull) => thread::yield_now(),
                    Err(e) => panic!("allocate: {e}"),
                }
            }
        });
        let rate = windows(budget, 1, || driver.adapter().stats().receive_packets);
        stop.store(true, Relaxed);
        rate
    })
}

/// `--stream down|up|bare-down|bare-up SIZE SECONDS`: one streaming figure alone, for a profiler
/// (`perf record -g ringtun-bench --stream down 64 5`).
fn profile_stream(args: &[String]) {
    let (Some(dir), Some(size), Some(secs)) = (
        args.first(),
        args.get(1).and_then(|s| s.parse::<usize>().ok()),
        args.get(2).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        usage()
    };
    let budget = Budget { window: Duration::from_secs(secs), windows: 1, ..QUICK };
    let packet = ipv4(size, 3);
    let batch = batch_for(size);
    let rate = match dir.as_str() {
        "down" => stream_down(size, batch, &budget),
        "up" => stream_up(size, batch, &budget),
        "bare-down" => {
            baselines::bare_ring_mpps(&packet, batch, CAPACITY as usize, |c: &dyn Fn() -> u64| windows(&budget, 1, c))
        }
        "bare-up" => {
            baselines::bare_ring_mpps(&packet, batch, CAPACITY as usize, |c: &dyn Fn() -> u64| windows(&budget, 1, c))
        }
        _ => usage(),
    };
    println!("{dir} {size} B: {rate:.2} Mpps");
}

/// Warms up, then measures `n` windows of `budget.window` of a packet counter; median Mpps.
fn windows(budget: &Budget, n: usize, counter: impl Fn() -> u64) -> f64 {
    thread::sleep(Duration::from_millis(30));
    let mut rates = Vec::with_capacity(n);
    for _ in 0..n {
        let (t0, c0) = (Instant::now(), counter());
        thread::sleep(budget.window);
        let (t1, c1) = (Instant::now(), counter());
        rates.push(mpps(c1 - c0, t1 - t0));
    }
    median(rates)
}

/// One size's streaming figures, each the median of its windows (engine and baselines
/// alternate window by window).
struct Row {
    size: usize,
    down: f64,
    up: f64,
    bare_down: f64,
    bare_up: f64,
    memcpy_gbps: f64,
}

fn throughput_section(budget: &Budget, report: &mut Report) {
    let mut rows = Vec::new();
    for size in SIZES {
        let packet = ipv4(size, 3);
        let batch = batch_for(size);
        let (mut down, mut up, mut bare_down, mut bare_up, mut copy) = (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..budget.windows {
            down.push(stream_down(size, batch, budget));
            bare_down.push(baselines::bare_ring_mpps(&packet, batch, CAPACITY as usize, |c: &dyn Fn() -> u64| {
                windows(budget, 1, c)
            }));
            copy.push(baselines::memcpy_gbps(&packet, CAPACITY as usize, budget.window, false));
            up.push(stream_up(size, batch, budget));
            bare_up.push(baselines::bare_ring_mpps(&packet, batch, CAPACITY as usize, |c: &dyn Fn() -> u64| {
                windows(budget, 1, c)
            }));
        }
        rows.push(Row {
            size,
            down: median(down),
            up: median(up),
            bare_down: median(bare_down),
            bare_up: median(bare_up),
            memcpy_gbps: median(copy),
        });
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Median of {} windows of {} ms per figure; the engine and its baselines alternate window by window.\n",
        budget.windows,
        budget.window.as_millis()
    );
    let _ = writeln!(
        s,
        "| size | memcpy GB/s | net→client Mpps | GB/s | ÷ bare ring | ÷ memcpy | client→net Mpps | GB/s | ÷ bare ring | ÷ memcpy | bare ring Mpps, batch {} (runs beside net→client / client→net) |",
        batch_for(64)
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        let (dg, ug) = (gbytes(r.down, r.size), gbytes(r.up, r.size));
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.2} | {:.1} | {} | {} | {:.2} | {:.1} | {} | {} | {:.2} / {:.2} |",
            r.size,
            r.memcpy_gbps,
            r.down,
            dg,
            ratio_cell(r.down / r.bare_down),
            ratio_cell(dg / r.memcpy_gbps),
            r.up,
            ug,
            ratio_cell(r.up / r.bare_up),
            ratio_cell(ug / r.memcpy_gbps),
            r.bare_down,
            r.bare_up
        );
        if r.size == 64 {
            report.targets.push(Target {
                what: "64 B packet rate ÷ bare ring, network→client".into(),
                ratio: r.down / r.bare_down,
                at_least: true,
                limit: 0.5,
            });
            report.targets.push(Target {
                what: "64 B packet rate ÷ bare ring, client→network".into(),
                ratio: r.up / r.bare_up,
                at_least: true,
                limit: 0.5,
            });
        }
        if r.size >= 1420 {
            report.targets.push(Target {
                what: format!("{} B bandwidth ÷ memcpy, network→client", r.size),
                ratio: dg / r.memcpy_gbps,
                at_least: true,
                limit: 0.8,
            });
            report.targets.push(Target {
                what: format!("{} B bandwidth ÷ memcpy, client→network", r.size),
                ratio: ug / r.memcpy_gbps,
                at_least: true,
                limit: 0.8,
            });
        }
    }
    report.part("throughput", s);
    for (name, title, pick, bare) in [
        (
            "throughput-down.svg",
            "network → client",
            (|r: &Row| r.down) as fn(&Row) -> f64,
            (|r: &Row| r.bare_down) as fn(&Row) -> f64,
        ),
        ("throughput-up.svg", "client → network", |r: &Row| r.up, |r: &Row| r.bare_up),
    ] {
        let series = vec![
            Series {
                name: "engine".into(),
                color: "#c0392b",
                dashed: false,
                points: rows.iter().map(|r| (r.size as f64, gbytes(pick(r), r.size))).collect(),
            },
            Series {
                name: "bare SPSC ring".into(),
                color: "#2e86c1",
                dashed: true,
                points: rows.iter().map(|r| (r.size as f64, gbytes(bare(r), r.size))).collect(),
            },
            Series {
                name: "memcpy".into(),
                color: "#7f8c8d",
                dashed: true,
                points: rows.iter().map(|r| (r.size as f64, r.memcpy_gbps)).collect(),
            },
        ];
        let svg = plot::chart(
            &format!("Throughput {title} ({} mode)", budget.name),
            Axis { label: "packet size (bytes)", log: true },
            Axis { label: "GB/s of packet bytes", log: true },
            &series,
        );
        report.plots.push((name, svg));
    }
}

/// The engine's Send path alone: CPU time spent in `transmit` per packet, batches of `batch`,
/// with the client draining (untimed) between batches.
fn send_path_ns(size: usize, batch: usize, time: Duration) -> f64 {
    let driver = HostDriver::new();
    let session = open(&driver, false, Room::new(HEADER as u16, TRAILER as u16), Room::NONE);
    let packet = ipv4(size, 5);
    let refs: Vec<&[u8]> = vec![packet.as_slice(); batch];
    let mut spent = Duration::ZERO;
    let mut packets = 0u64;
    let end = Instant::now() + time;
    let mut warm = true;
    while Instant::now() < end {
        // Batches enough to fill about 1/8 of the ring, then drain.
        let rounds = (CAPACITY as usize / 8 / ((size + 64) * batch)).max(1);
        let t0 = cpu_now();
        for _ in 0..rounds {
            assert_eq!(transmit(&driver, &refs), batch, "the Send ring has room for 1/8 of it");
        }
        let t1 = cpu_now();
        while let Ok(Some(p)) = session.receive() {
            p.release();
        }
        if warm {
            warm = false;
            continue;
        }
        spent += t1 - t0;
        packets += (rounds * batch) as u64;
    }
    spent.as_nanos() as f64 / packets.max(1) as f64
}

fn batching_section(budget: &Budget, report: &mut Report) {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| size | batch | engine ns/packet (lockstep) | ÷ batch 1 | streaming net→client Mpps | ÷ batch 1 |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
    for size in [64, 1500] {
        let mut base = None;
        for batch in [1, 8, 64] {
            let ns = send_path_ns(size, batch, budget.window);
            let pps = stream_down(size, batch, budget);
            let (base_ns, base_pps) = *base.get_or_insert((ns, pps));
            let _ = writeln!(
                s,
                "| {size} | {batch} | {ns:.1} | {} | {pps:.2} | {} |",
                ratio_cell(ns / base_ns),
                ratio_cell(pps / base_pps)
            );
        }
    }
    report.part("batching", s);
}

// ----- (d) memory ------------------------------------------------------------------------------

/// Mirrors of the engine's private per-session records (same fields, same order), for their size.
#[allow(dead_code)]
mod mirror {
    /// `send::PendingReservation`: one batch between reserve and publish.
    pub struct PendingReservation {
        pub id: u64,
        pub next_tail: u32,
        pub filled: bool,
    }
    /// `receive::SlotRecord`: one consumed Receive-ring slot awaiting its returns.
    pub struct SlotRecord {
        pub next_head: u32,
        pub pending: u32,
    }
}

fn memory_section(report: &mut Report) {
    let mut s = String::new();
    let _ = writeln!(s, "| capacity | v1 ring | v2, room 0/0 | v2, 16/16 | v2, 4096/4096 |");
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|");
    for capacity in [0x2_0000u32, 0x10_0000, 0x80_0000, 0x400_0000] {
        let v1 = v1_ring_size(capacity);
        let row = [v2_ring_size(capacity, 0, 0), v2_ring_size(capacity, 16, 16), v2_ring_size(capacity, 4096, 4096)];
        let _ = writeln!(
            s,
            "| {} KiB | {v1} B | +{} B | +{} B | +{} B |",
            capacity >> 10,
            row[0] - v1,
            row[1] - v1,
            row[2] - v1
        );
    }
    let reservations = send::MAX_RESERVATIONS_IN_FLIGHT * size_of::<mirror::PendingReservation>();
    let records = receive::MAX_SLOTS_IN_FLIGHT * size_of::<mirror::SlotRecord>();
    let host_batch = receive::RECEIVE_BATCH_PACKETS * size_of::<HostIndication>();
    let kernel_batch = receive::RECEIVE_BATCH_PACKETS * size_of::<usize>();
    let _ = writeln!(s, "\n| engine, per session (preallocated at registration) | count | record | bytes |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    let _ = writeln!(
        s,
        "| Send: reservations in flight (`MAX_RESERVATIONS_IN_FLIGHT`) | {} | {} B | {reservations} |",
        send::MAX_RESERVATIONS_IN_FLIGHT,
        size_of::<mirror::PendingReservation>()
    );
    let _ = writeln!(
        s,
        "| Receive: slots in flight (`MAX_SLOTS_IN_FLIGHT`) | {} | {} B | {records} |",
        receive::MAX_SLOTS_IN_FLIGHT,
        size_of::<mirror::SlotRecord>()
    );
    let _ = writeln!(
        s,
        "| Receive: indications per round (`RECEIVE_BATCH_PACKETS`) | {} | {} B on the host, {} B (an NBL pointer) in the kernel | {host_batch} / {kernel_batch} |",
        receive::RECEIVE_BATCH_PACKETS,
        size_of::<HostIndication>(),
        size_of::<usize>()
    );
    let driver = HostDriver::new();
    alloc_count::start();
    let before = alloc_count::live();
    let session = open(&driver, false, Room::new(16, 16), Room::new(1, 16));
    let open_bytes = alloc_count::live() - before;
    alloc_count::stop();
    let rings = i64::from(v2_ring_size(CAPACITY, 16, 16)) + i64::from(v2_ring_size(CAPACITY, 1, 16));
    let _ = writeln!(
        s,
        "\nMeasured with a counting allocator: opening a v2 session with two {} MiB rings grew the heap by the rings ({rings} B) plus {} B for everything else (engine, client library, host platform).",
        CAPACITY >> 20,
        open_bytes - rings
    );
    drop(session);
    report.part("memory", s);
}

// ----- (e) latency -----------------------------------------------------------------------------

/// A latency a missed wake-up would produce: the waiter sleeps until a timeout.
const STALL: Duration = Duration::from_secs(1);

struct Latencies(Vec<Duration>);

impl Latencies {
    fn sorted(mut self) -> Self {
        self.0.sort();
        self
    }

    fn at(&self, q: f64) -> Duration {
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0.get(i).copied().unwrap_or_default()
    }

    fn over(&self, limit: Duration) -> usize {
        self.0.iter().filter(|d| **d >= limit).count()
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// An idle gap before the next packet: none (the consumer is busy or spinning), a short spin,
/// or a sleep long enough that the consumer has declared itself alertable and sleeps.
pub fn gap(rng: &mut Rng) {
    match rng.next() % 4 {
        0 => {}
        1 => {
            let until = Instant::now() + Duration::from_micros(rng.next() % 80);
            while Instant::now() < until {
                thread::yield_now();
            }
        }
        _ => thread::sleep(Duration::from_micros(120 + rng.next() % 400)),
    }
}

/// network -> client: the stack sends one packet stamped with its send time; the client, blocked
/// in `receive_wait`, computes the latency and tells the stack to go on. One packet in flight.
fn latency_down(samples: usize, rng: &mut Rng) -> (Vec<Duration>, u64) {
    let driver = HostDriver::new();
    let session = open(&driver, false, Room::new(HEADER as u16, TRAILER as u16), Room::NONE);
    let epoch = Instant::now();
    let (next_tx, next_rx) = std::sync::mpsc::channel::<()>();
    let mut out = Vec::new();
    thread::scope(|scope| {
        let client = scope.spawn(move || {
            let mut lat = Vec::with_capacity(samples);
            while lat.len() < samples {
                // A missed wake-up shows as a wait that ends only at this timeout.
                match session.receive_wait(2 * STALL) {
                    Ok(Some(p)) => {
                        let now = epoch.elapsed();
                        let stamp = p.data().get(20..28).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
                        lat.push(now.saturating_sub(Duration::from_nanos(stamp)));
                        p.release();
                        if next_tx.send(()).is_err() {
                            break;
                        }
                    }
                    Ok(None) => lat.push(2 * STALL),
                    Err(e) => panic!("receive: {e}"),
                }
            }
            lat
        });
        let mut packet = ipv4(64, 6);
        for _ in 0..samples {
            gap(rng);
            let stamp = epoch.elapsed().as_nanos() as u64;
            packet[20..28].copy_from_slice(&stamp.to_le_bytes());
            assert_eq!(transmit(&driver, &[packet.as_slice()]), 1, "the Send ring takes a single packet");
            if next_rx.recv_timeout(4 * STALL).is_err() {
                break;
            }
        }
        out = client.join().unwrap_or_default();
    });
    (out, driver.adapter().stats().send_signals)
}

/// client -> network: the client sends one packet; the latency ends when the engine's consumer
/// hands it to the stack (stamped on the consumer thread). One packet in flight.
fn latency_up(samples: usize, rng: &mut Rng) -> (Vec<Duration>, u64) {
    let driver = HostDriver::new();
    driver.stack().set_logging(false);
    let session = open(&driver, false, Room::NONE, Room::new(1, TRAILER as u16));
    let packet = ipv4(64, 7);
    let mut lat = Vec::with_capacity(samples);
    for i in 1..=samples as u64 {
        gap(rng);
        let t0 = Instant::now();
        let mut slot = match session.allocate(packet.len(), 0, 0) {
            Ok(s) => s,
            Err(e) => panic!("allocate: {e}"),
        };
        slot.data_mut().copy_from_slice(&packet);
        if let Err(e) = session.send(slot) {
            panic!("send: {e}");
        }
        // A missed wake-up leaves the consumer asleep until the next packet arrives: record the
        // stall and stop (the counts would no longer line up).
        if !driver.stack().wait_delivered(i, STALL) {
            lat.push(STALL);
            break;
        }
        let at = driver.stack().last_accept().unwrap_or_else(Instant::now);
        lat.push(at.saturating_duration_since(t0));
    }
    (lat, driver.adapter().stats().receive_sleeps)
}

fn latency_section(budget: &Budget, report: &mut Report) {
    let n = budget.latency_samples;
    let chunk = budget.latency_chunk;
    let (mut futex, mut down, mut up) = (Vec::new(), Vec::new(), Vec::new());
    let (mut signals, mut sleeps) = (0, 0);
    // One gap sequence per kind, the three interleaved chunk by chunk.
    let mut rngs = [Rng(0x9E37_79B9_7F4A_7C15), Rng(0x9E37_79B9_7F4A_7C15), Rng(0x9E37_79B9_7F4A_7C15)];
    let mut done = 0;
    while done < n {
        let k = chunk.min(n - done);
        futex.extend(baselines::futex_pingpong(k, &mut rngs[0]));
        let (d, s) = latency_down(k, &mut rngs[1]);
        down.extend(d);
        signals += s;
        let (u, s) = latency_up(k, &mut rngs[2]);
        up.extend(u);
        sleeps += s;
        done += k;
    }
    let (futex, down, up) = (Latencies(futex).sorted(), Latencies(down).sorted(), Latencies(up).sorted());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{n} single packets per row after random idle gaps (none, < 80 µs, or 0.12–0.52 ms), one in flight; the three rows interleaved in chunks of {chunk}.\n"
    );
    let _ = writeln!(s, "| path | p50 µs | ÷ futex p50 | p90 µs | p99 µs | max µs | >1 ms | stalls ≥1 s |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let base = us(futex.at(0.5)).max(1e-3);
    for (name, l) in [("futex ping-pong (baseline)", &futex), ("network → client", &down), ("client → network", &up)]
    {
        let _ = writeln!(
            s,
            "| {name} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {} | {} |",
            us(l.at(0.5)),
            ratio_cell(us(l.at(0.5)) / base),
            us(l.at(0.9)),
            us(l.at(0.99)),
            us(l.at(1.0)),
            l.over(Duration::from_millis(1)),
            l.over(STALL)
        );
    }
    let _ = writeln!(
        s,
        "\nThe driver signalled the client {signals} times for {n} network → client packets; the engine's consumer went to sleep {sleeps} times for {n} client → network packets."
    );
    for (dir, l) in [("network→client", &down), ("client→network", &up)] {
        report.targets.push(Target {
            what: format!("wake-up p50 ÷ futex p50, {dir}"),
            ratio: us(l.at(0.5)) / base,
            at_least: false,
            limit: 2.0,
        });
        report.targets.push(Target {
            what: format!("stalls (≥ 1 s), {dir}"),
            ratio: l.over(STALL) as f64,
            at_least: false,
            limit: 0.0,
        });
    }
    report.part("latency", s);
    let cdf = |l: &Latencies| -> Vec<(f64, f64)> {
        let len = l.0.len().max(1) as f64;
        l.0.iter()
            .enumerate()
            .step_by((l.0.len() / 200).max(1))
            .map(|(i, d)| (us(*d).max(0.1), 100.0 * (i + 1) as f64 / len))
            .collect()
    };
    let series = vec![
        Series { name: "futex ping-pong".into(), color: "#7f8c8d", dashed: true, points: cdf(&futex) },
        Series { name: "network → client".into(), color: "#c0392b", dashed: false, points: cdf(&down) },
        Series { name: "client → network".into(), color: "#2e86c1", dashed: false, points: cdf(&up) },
    ];
    let svg = plot::chart(
        &format!("Wake-up latency after idle gaps ({} mode)", budget.name),
        Axis { label: "latency (µs)", log: true },
        Axis { label: "% of packets at or below", log: false },
        &series,
    );
    report.plots.push(("latency.svg", svg));
}
