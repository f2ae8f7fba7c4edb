//! Instruction counts per packet (callgrind): stable on a noisy machine, so a regression shows
//! anywhere. `ringtun-bench --instructions` re-runs this binary under
//! `valgrind --tool=callgrind` once per scenario, collecting only inside one function (the
//! scenario's marker), and divides the instructions by the packets that went through it.
//!
//! | scenario | collected inside | per |
//! |---|---|---|
//! | Send path | `Adapter::transmit` for one batch (the engine's copy included) | packet |
//! | consumer path | the engine's `consume_round` (validation, indication, the stack's immediate return, head release), minus the host stack stand-in's `FakeStack::accept` | packet, 64 per round |
//! | client receive | `Session::receive` + `release` | packet |
//! | client send | `Session::allocate` + 64-byte fill + `send` | packet |
//! | C API receive / send | the same through the Wintun API library's exports (`WintunReceivePacket` + `WintunReleaseReceivePacket`, `WintunAllocateSendPacket` + fill + `WintunSendPacket`, and the `Ringtun*` batch calls), on the same session shape | packet |
//! | VPN client, null transform | the client's datapath of the VPN benchmark, v1 and v2, each way | packet |

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ring_abi::Room;
use ringtun::backend::host::{HostBackend, HostDriver};
use ringtun::Session;

use crate::{ipv4, open, transmit};

/// A scenario: its name on the command line, what it measures, its marker and its packets.
struct Scenario {
    name: &'static str,
    what: &'static str,
    marker: &'static str,
    size: usize,
    batch: usize,
    rounds: usize,
}

const SCENARIOS: &[Scenario] = &[
    Scenario { name: "send-64x32", what: "engine Send path", marker: "ir_send_path", size: 64, batch: 32, rounds: 200 },
    Scenario {
        name: "send-1420x32",
        what: "engine Send path",
        marker: "ir_send_path",
        size: 1420,
        batch: 32,
        rounds: 200,
    },
    Scenario { name: "send-64x1", what: "engine Send path", marker: "ir_send_path", size: 64, batch: 1, rounds: 2000 },
    Scenario {
        name: "consume-64",
        what: "engine consumer path",
        marker: "consume_round",
        size: 64,
        batch: 64,
        rounds: 60,
    },
    Scenario {
        name: "consume-1420",
        what: "engine consumer path",
        marker: "consume_round",
        size: 1420,
        batch: 64,
        rounds: 60,
    },
    Scenario {
        name: "client-recv-64",
        what: "client receive+release",
        marker: "ir_client_receive",
        size: 64,
        batch: 32,
        rounds: 200,
    },
    Scenario {
        name: "client-send-64",
        what: "client allocate+fill+send",
        marker: "ir_client_send",
        size: 64,
        batch: 32,
        rounds: 200,
    },
    Scenario {
        name: "client-recv-many-64",
        what: "client receive_many+release_many",
        marker: "ir_client_receive_many",
        size: 64,
        batch: 32,
        rounds: 200,
    },
    Scenario {
        name: "client-send-many-64",
        what: "client allocate_many+fill+send_many",
        marker: "ir_client_send_many",
        size: 64,
        batch: 32,
        rounds: 200,
    },
    Scenario {
        name: "capi-recv-64",
        what: "C API WintunReceivePacket+WintunReleaseReceivePacket",
        marker: "ir_capi_receive",
        size: 64,
        batch: 32,
        rounds: 200,
    },
    Scenario {
        name: "capi-send-64",
        what: "C API WintunAllocateSendPacket+fill+WintunSendPacket",
        marker: "ir_capi_send",
        size: 64,
        batch: 32,
        rounds: 200,
    },
    Scenario {
        name: "capi-recv-many-64",
        what: "C API RingtunReceivePackets+RingtunReleaseReceivePackets",
        marker: "ir_capi_receive_many",
        size: 64,
        batch: 32,
        rounds: 200,
    },
    Scenario {
        name: "capi-send-many-64",
        what: "C API RingtunAllocateSendPackets+fill+RingtunSendPackets",
        marker: "ir_capi_send_many",
        size: 64,
        batch: 32,
        rounds: 200,
    },
    Scenario {
        name: "vpn-null-down-v1",
        what: "VPN client, null, net→client, v1 copy",
        marker: "vpn_down_client",
        size: 1420,
        batch: 32,
        rounds: 100,
    },
    Scenario {
        name: "vpn-null-down-v2",
        what: "VPN client, null, net→client, v2 in place",
        marker: "vpn_down_client",
        size: 1420,
        batch: 32,
        rounds: 100,
    },
    Scenario {
        name: "vpn-null-up-v1",
        what: "VPN client, null, client→net, v1 copy",
        marker: "vpn_up_client",
        size: 1420,
        batch: 32,
        rounds: 100,
    },
    Scenario {
        name: "vpn-null-up-v2",
        what: "VPN client, null, client→net, v2 in place",
        marker: "vpn_up_client",
        size: 1420,
        batch: 32,
        rounds: 100,
    },
];

/// The host stand-in for the stack, excluded from the consumer path: the fake stack's `accept`
/// (`FakeStack::accept`, or `<FakeStack as StackSide>::accept` behind the pluggable stack side).
fn is_stack_stand_in(function: &str) -> bool {
    function.contains("FakeStack") && function.ends_with("::accept")
}

#[inline(never)]
fn ir_send_path(driver: &HostDriver, refs: &[&[u8]]) -> usize {
    transmit(driver, refs)
}

#[inline(never)]
fn ir_client_receive(session: &Session<HostBackend>) -> usize {
    let mut n = 0;
    while let Ok(Some(p)) = session.receive() {
        p.release();
        n += 1;
    }
    n
}

#[inline(never)]
fn ir_client_send(session: &Session<HostBackend>, packet: &[u8]) {
    match session.allocate(packet.len(), 0, 0) {
        Ok(mut slot) => {
            slot.data_mut().copy_from_slice(packet);
            if let Err(e) = session.send(slot) {
                panic!("send: {e}");
            }
        }
        Err(e) => panic!("allocate: {e}"),
    }
}

#[inline(never)]
fn ir_client_receive_many<'s>(
    session: &'s Session<HostBackend>,
    packets: &mut Vec<ringtun::IncomingPacket<'s, HostBackend>>,
    max: usize,
) -> usize {
    let n = session.receive_many(packets, max).unwrap_or(0);
    session.release_many(packets);
    n
}

#[inline(never)]
fn ir_client_send_many<'s>(
    session: &'s Session<HostBackend>,
    lens: &[usize],
    packet: &[u8],
    slots: &mut Vec<ringtun::OutgoingSlot<'s, HostBackend>>,
) {
    match session.allocate_many(lens, 0, 0, slots) {
        Ok(n) if n == lens.len() => {}
        other => panic!("allocate_many: {other:?}"),
    }
    for slot in slots.iter_mut() {
        slot.data_mut().copy_from_slice(packet);
    }
    if let Err(e) = session.send_many(slots) {
        panic!("send: {e}");
    }
}

// ----- the Wintun API library's exports, called as a C client calls them ---------------------

/// A Wintun API session on a fake-stack adapter, shaped as `open` shapes the Rust scenarios'
/// (v2, capacity `CAPACITY`, 16 bytes of head and tail room both ways), and the adapter's driver.
struct CApi {
    adapter: *mut wintun::WintunAdapter,
    session: *mut wintun::WintunSession,
    driver: Arc<HostDriver>,
}

impl CApi {
    fn open() -> Self {
        std::env::set_var("RINGTUN_WINTUN_STACK", "fake");
        let name: Vec<u16> = "bench".encode_utf16().chain(Some(0)).collect();
        // SAFETY: NUL-terminated UTF-16 strings, no GUID.
        let adapter = unsafe { wintun::WintunCreateAdapter(name.as_ptr(), name.as_ptr(), core::ptr::null()) };
        assert!(!adapter.is_null(), "WintunCreateAdapter");
        let config = wintun::ffi::RingtunSessionConfig {
            size: core::mem::size_of::<wintun::ffi::RingtunSessionConfig>() as u32,
            flags: 0,
            receive_capacity: crate::CAPACITY,
            send_capacity: crate::CAPACITY,
            receive_head_room: 16,
            receive_tail_room: 16,
            send_head_room: 16,
            send_tail_room: 16,
        };
        // SAFETY: a live adapter and a filled config.
        let session = unsafe { wintun::RingtunStartSession(adapter, &config) };
        assert!(!session.is_null(), "RingtunStartSession");
        // SAFETY: a live adapter handle.
        let driver = Arc::clone(unsafe { &*adapter }.platform().host_driver());
        driver.stack().set_logging(false);
        Self { adapter, session, driver }
    }
}

impl Drop for CApi {
    fn drop(&mut self) {
        // SAFETY: the handles are not used after this.
        unsafe {
            wintun::WintunEndSession(self.session);
            wintun::WintunCloseAdapter(self.adapter);
        }
    }
}

#[inline(never)]
fn ir_capi_receive(session: *mut wintun::WintunSession) -> usize {
    let mut n = 0;
    let mut size = 0u32;
    loop {
        // SAFETY: a live session; `size` is a DWORD.
        let packet = unsafe { wintun::WintunReceivePacket(session, &mut size) };
        if packet.is_null() {
            return n;
        }
        // SAFETY: the packet just received.
        unsafe { wintun::WintunReleaseReceivePacket(session, packet) };
        n += 1;
    }
}

#[inline(never)]
fn ir_capi_send(session: *mut wintun::WintunSession, packet: &[u8]) {
    // SAFETY: a live session.
    let slot = unsafe { wintun::WintunAllocateSendPacket(session, packet.len() as u32) };
    assert!(!slot.is_null(), "WintunAllocateSendPacket");
    // SAFETY: the slot holds `packet.len()` bytes and is ours until sent.
    unsafe {
        core::ptr::copy_nonoverlapping(packet.as_ptr(), slot, packet.len());
        wintun::WintunSendPacket(session, slot);
    }
}

#[inline(never)]
fn ir_capi_receive_many(session: *mut wintun::WintunSession, packets: &mut [wintun::ffi::RingtunPacket]) -> usize {
    // SAFETY: a live session; `packets` has room for its length.
    let n = unsafe { wintun::RingtunReceivePackets(session, packets.as_mut_ptr(), packets.len() as u32) };
    // SAFETY: the `n` packets just received.
    unsafe { wintun::RingtunReleaseReceivePackets(session, packets.as_ptr(), n) };
    n as usize
}

#[inline(never)]
fn ir_capi_send_many(session: *mut wintun::WintunSession, packets: &mut [wintun::ffi::RingtunPacket], packet: &[u8]) {
    let count = packets.len() as u32;
    // SAFETY: a live session; `packets` has room for `count`.
    let n =
        unsafe { wintun::RingtunAllocateSendPackets(session, packet.len() as u32, 0, 0, packets.as_mut_ptr(), count) };
    assert_eq!(n, count, "RingtunAllocateSendPackets");
    for p in packets.iter() {
        // SAFETY: each slot's frame holds the packet at its offset, ours until sent.
        unsafe { core::ptr::copy_nonoverlapping(packet.as_ptr(), p.frame.add(p.offset as usize), packet.len()) };
    }
    // SAFETY: the slots just allocated.
    let sent = unsafe { wintun::RingtunSendPackets(session, packets.as_ptr(), count) };
    assert_eq!(sent, count, "RingtunSendPackets");
}

fn capi_child(s: &Scenario) {
    let api = CApi::open();
    let packet = ipv4(s.size, 11);
    let refs: Vec<&[u8]> = vec![packet.as_slice(); s.batch];
    let blank = wintun::ffi::RingtunPacket { frame: core::ptr::null_mut(), frame_size: 0, offset: 0, size: 0 };
    let mut packets = vec![blank; s.batch];
    let mut sent = 0;
    for _ in 0..s.rounds {
        match s.marker {
            "ir_capi_receive" => {
                assert_eq!(transmit(&api.driver, &refs), s.batch);
                assert_eq!(ir_capi_receive(api.session), s.batch);
            }
            "ir_capi_receive_many" => {
                assert_eq!(transmit(&api.driver, &refs), s.batch);
                assert_eq!(ir_capi_receive_many(api.session, &mut packets), s.batch);
            }
            "ir_capi_send" => {
                for _ in 0..s.batch {
                    ir_capi_send(api.session, &packet);
                }
            }
            _ => ir_capi_send_many(api.session, &mut packets, &packet),
        }
        if s.marker.contains("send") {
            sent += s.batch as u64;
            assert!(api.driver.stack().wait_delivered(sent, Duration::from_secs(60)));
        }
    }
}

fn drain(session: &Session<HostBackend>) {
    while let Ok(Some(p)) = session.receive() {
        p.release();
    }
}

/// Runs scenario `name` (in the child, under callgrind).
pub fn child(name: &str) {
    let Some(s) = SCENARIOS.iter().find(|s| s.name == name) else {
        eprintln!("unknown scenario {name}");
        std::process::exit(2);
    };
    if s.marker.starts_with("vpn_") {
        crate::vpn::instruction_run(s.name.ends_with("v2"), s.marker == "vpn_down_client", s.size, s.rounds);
        return;
    }
    if s.marker.starts_with("ir_capi_") {
        capi_child(s);
        return;
    }
    let driver: Arc<HostDriver> = HostDriver::new();
    driver.stack().set_logging(false);
    let session = open(&driver, false, Room::new(16, 16), Room::new(16, 16));
    let packet = ipv4(s.size, 11);
    let refs: Vec<&[u8]> = vec![packet.as_slice(); s.batch];
    match s.marker {
        "ir_send_path" => {
            for _ in 0..s.rounds {
                assert_eq!(ir_send_path(&driver, &refs), s.batch);
                drain(&session);
            }
        }
        "ir_client_receive" => {
            for _ in 0..s.rounds {
                assert_eq!(transmit(&driver, &refs), s.batch);
                assert_eq!(ir_client_receive(&session), s.batch);
            }
        }
        "ir_client_receive_many" => {
            let mut packets = Vec::with_capacity(s.batch);
            for _ in 0..s.rounds {
                assert_eq!(transmit(&driver, &refs), s.batch);
                assert_eq!(ir_client_receive_many(&session, &mut packets, s.batch), s.batch);
            }
        }
        "ir_client_send_many" => {
            let lens = vec![packet.len(); s.batch];
            let mut slots = Vec::with_capacity(s.batch);
            let mut sent = 0;
            for _ in 0..s.rounds {
                ir_client_send_many(&session, &lens, &packet, &mut slots);
                sent += s.batch as u64;
                assert!(driver.stack().wait_delivered(sent, Duration::from_secs(60)));
            }
        }
        "ir_client_send" => {
            let mut sent = 0;
            for _ in 0..s.rounds {
                for _ in 0..s.batch {
                    ir_client_send(&session, &packet);
                }
                sent += s.batch as u64;
                assert!(driver.stack().wait_delivered(sent, Duration::from_secs(60)));
            }
        }
        _ => {
            // The consumer: the adapter is paused while the client publishes a full round, so
            // every round the consumer runs sees exactly `batch` packets.
            let mut sent = 0;
            for _ in 0..s.rounds {
                driver.adapter().pause();
                for _ in 0..s.batch {
                    match session.allocate(packet.len(), 0, 0) {
                        Ok(mut slot) => {
                            slot.data_mut().copy_from_slice(&packet);
                            if let Err(e) = session.send(slot) {
                                panic!("send: {e}");
                            }
                        }
                        Err(e) => panic!("allocate: {e}"),
                    }
                }
                driver.adapter().restart();
                sent += s.batch as u64;
                assert!(driver.stack().wait_delivered(sent, Duration::from_secs(60)));
            }
        }
    }
    black_box(&session);
}

/// Per-packet results of one scenario.
pub struct Count {
    pub name: &'static str,
    pub what: &'static str,
    pub size: usize,
    pub batch: usize,
    pub per_packet: f64,
    /// The most expensive functions inside the marker (exclusive instructions per packet).
    pub profile: Vec<(f64, String)>,
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().replace(',', "").parse().ok()
}

/// Runs every scenario under callgrind (or, if `only` names any, those whose name starts with one
/// of them); `None` if valgrind is missing.
pub fn measure(only: &[String]) -> Option<Vec<Count>> {
    let exe = std::env::current_exe().ok()?;
    let dir = std::env::temp_dir().join(format!("ringtun-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let mut out = Vec::new();
    let chosen = |s: &&Scenario| only.is_empty() || only.iter().any(|o| s.name.starts_with(o.as_str()));
    for s in SCENARIOS.iter().filter(chosen) {
        let file = dir.join(format!("{}.out", s.name));
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", file.display()))
            .arg(format!("--toggle-collect=*{}*", s.marker))
            .arg("--quiet")
            .arg(&exe)
            .arg("--instructions-child")
            .arg(s.name)
            .status()
            .ok()?;
        if !status.success() {
            eprintln!("callgrind run of {} failed", s.name);
            return None;
        }
        let text = std::fs::read_to_string(&file).ok()?;
        let total = text
            .lines()
            .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
            .and_then(parse_number)?;
        let annotate = |inclusive: bool| -> Option<String> {
            let o = Command::new("callgrind_annotate")
                .arg(format!("--inclusive={}", if inclusive { "yes" } else { "no" }))
                .arg("--threshold=100")
                .arg(&file)
                .output()
                .ok()?;
            Some(String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let rows = |text: &str| -> Vec<(f64, String)> {
            // The function table: after the "file:function" heading and its rule, up to the next
            // blank line.
            text.lines()
                .skip_while(|l| !l.contains("file:function"))
                .skip(2)
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("---"))
                .filter_map(|l| {
                    let l = l.trim();
                    let (num, rest) = l.split_once(' ')?;
                    let n = parse_number(num)?;
                    // "1,234 (12.3%)  file:function [object]"
                    let rest = rest.trim_start();
                    let rest = if rest.starts_with('(') { rest.split_once(')')?.1.trim_start() } else { rest };
                    let func = rest.split(" [").next()?;
                    let func = func.split_once(':').map_or(func, |(_, f)| f);
                    Some((n, func.to_string()))
                })
                .collect()
        };
        let packets = (s.rounds * s.batch) as f64;
        let mut stand_in = 0.0;
        if s.marker == "consume_round" {
            let inc = annotate(true)?;
            // Inlined code is listed once per source file: the function's inclusive cost is the sum.
            stand_in = rows(&inc).iter().filter(|(_, f)| is_stack_stand_in(f)).map(|(n, _)| *n).sum();
        }
        let exclusive = annotate(false)?;
        // One function can be listed once per source file its code was inlined from: merge.
        let mut merged: Vec<(f64, String)> = Vec::new();
        for (n, f) in rows(&exclusive) {
            let f = shorten(&f);
            match merged.iter_mut().find(|(_, g)| *g == f) {
                Some(entry) => entry.0 += n,
                None => merged.push((n, f)),
            }
        }
        merged.sort_by(|a, b| b.0.total_cmp(&a.0));
        let profile: Vec<(f64, String)> =
            merged.into_iter().filter(|(n, _)| *n > 0.0).take(10).map(|(n, f)| (n / packets, f)).collect();
        out.push(Count {
            name: s.name,
            what: s.what,
            size: s.size,
            batch: s.batch,
            per_packet: (total - stand_in) / packets,
            profile,
        });
        let _ = std::fs::remove_file(&file);
    }
    let _ = std::fs::remove_dir(&dir);
    Some(out)
}

/// Drops generic noise from a demangled name.
fn shorten(f: &str) -> String {
    let mut s = f.replace("ringtun_driver::", "").replace("ring_abi::", "").replace("ringtun::", "");
    if let Some(i) = s.find("::h") {
        if s[i + 3..].chars().all(|c| c.is_ascii_hexdigit()) {
            s.truncate(i);
        }
    }
    if s.len() > 90 {
        s.truncate(90);
        s.push('…');
    }
    s
}

/// The markdown table of `counts`.
pub fn table(counts: &[Count]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| scenario | path | size | batch | instructions per packet |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    for c in counts {
        let _ = writeln!(s, "| `{}` | {} | {} B | {} | {:.0} |", c.name, c.what, c.size, c.batch, c.per_packet);
    }
    s
}

/// The C API's scenarios beside the Rust client's calls they translate to: (what, C API
/// instructions per packet, Rust client's, ratio).
pub fn capi_ratios(counts: &[Count]) -> Vec<(String, f64, f64, f64)> {
    let pairs = [
        ("capi-recv-64", "client-recv-64", "receive+release"),
        ("capi-send-64", "client-send-64", "allocate+fill+send"),
        ("capi-recv-many-64", "client-recv-many-64", "batch receive+release"),
        ("capi-send-many-64", "client-send-many-64", "batch allocate+fill+send"),
    ];
    let find = |name: &str| counts.iter().find(|c| c.name == name).map(|c| c.per_packet);
    pairs
        .iter()
        .filter_map(|(c, rust, what)| {
            let (c, rust) = (find(c)?, find(rust)?);
            Some((format!("C API {what}, instructions per packet vs the Rust client's"), c, rust, c / rust))
        })
        .collect()
}

/// The C API's comparison as lines with a verdict against `limit`.
pub fn capi_lines(counts: &[Count], limit: f64) -> String {
    let mut s = String::new();
    for (what, c, rust, ratio) in capi_ratios(counts) {
        let verdict = if ratio <= limit { "PASS" } else { "MISS" };
        let _ = writeln!(s, "{what}: {c:.0} vs {rust:.0} = {ratio:.2}× (target ≤ {limit:.1}×) {verdict}");
    }
    s
}

/// The markdown profile (top functions per scenario).
pub fn profiles(counts: &[Count]) -> String {
    let mut s = String::new();
    for c in counts {
        let _ = writeln!(s, "`{}` ({}, {:.0} instructions per packet):\n", c.name, c.what, c.per_packet);
        let _ = writeln!(s, "| instr./packet | function (exclusive) |");
        let _ = writeln!(s, "|---:|---|");
        for (n, f) in &c.profile {
            let _ = writeln!(s, "| {n:.1} | `{}` |", f.replace('|', "\\|"));
        }
        s.push('\n');
    }
    s
}
