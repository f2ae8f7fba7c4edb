//! The device backend: the installed ringtun driver on a Windows machine, with the machine's own
//! network stack on the other side of the adapter.
//!
//! # What it drives
//!
//! - **Client handles** are real: [`WindowsBackend`] on the first present ringtun adapter, or on
//!   the device interface path given in [`DeviceConfig::device`]. Every handle belongs to this
//!   process, whatever process number a scenario passes, and has this process's bitness (a
//!   scenario asking for the other bitness fails; run the runner built for the other target to
//!   cover the other layout).
//! - **The network stack** is Windows' own TCP/IP stack, reached through a UDP socket. The
//!   adapter must carry the local address [`DeviceConfig::local`], with the peer address
//!   [`DeviceConfig::peer`] routed through it (`tests/vm/Run-DeviceTests.ps1` sets this up).
//!   - Traffic towards the client: a datagram sent from `local` to `peer` ([`PEER_PORT`]); the
//!     stack routes it out of the adapter, the driver publishes it on the Send ring, and the
//!     client sees an IPv4/UDP packet the stack built.
//!   - Traffic from the client: an IPv4/UDP packet from `peer` ([`PEER_PORT`]) to `local` (the
//!     socket's port), built by [`DeviceSuite::packet_to_stack`] with valid checksums, written
//!     to the Receive ring; the driver indicates it, the stack delivers it to the socket.
//!
//! The addresses come from the environment ([`DeviceConfig::from_env`]):
//!
//! | variable | meaning |
//! |---|---|
//! | `RINGTUN_TEST_LOCAL` | IPv4 address assigned to the ringtun adapter (the stack's side) |
//! | `RINGTUN_TEST_PEER` | IPv4 address routed through the adapter (the client's side) |
//!
//! The socket is bound when first needed, after a session has brought the link up (a
//! disconnected adapter's address may not be usable yet), retrying for [`PATIENCE`]. Device
//! scenarios also wait until a [`PROBE`] datagram gets through each way before they start.
//! Windows Firewall must let the runner receive UDP on `local` (the VM script adds a rule for
//! the run). IPv4 only.
//!
//! # What it can do ([`Needs`])
//!
//! Well-formed traffic only ([`Needs::NONE`]: no raw packets, no stack control). A real stack cannot hold indicated packets or return them
//! on demand (no `stack_control`); halt, surprise removal, pause and process exit are not
//! triggered from here (no `lifecycle`); there is no fault injection (no `faults`); and the
//! engine's counters are not readable from user mode (no `counters`: the adapter reports them
//! only as interface statistics, which merge the drop reasons scenarios check). The runner skips
//! scenarios that need any of these. The [`Backend`] methods behind them panic with the reason
//! (the runner reports a panic as a failure); given [`DeviceSuite::supports`] they are never
//! called.
//!
//! # Limits of the traffic mapping
//!
//! The [`Backend`] traffic methods were written for a stack that carries arbitrary bytes. A real
//! stack carries IP packets it accepts, so on this backend:
//!
//! - [`Backend::transmit`] sends each packet's bytes as the **payload** of one UDP datagram
//!   (at most 65 507 bytes). The client receives an IPv4/UDP packet around those bytes, not the
//!   bytes themselves. [`Outcome::Sent`] means the stack accepted the datagram, not that the
//!   driver published it (the driver's per-packet outcome is not visible from user mode).
//! - [`Backend::wait_delivered`] and [`Backend::take_delivered`] count and return the
//!   **payloads** of the datagrams the socket received from `peer`. Packets the client writes
//!   that are not valid IPv4/UDP to `local` (other protocols, other addresses, bad checksums,
//!   TTL 0, non-IP bytes) are discarded by the stack and never seen here.
//! - [`Backend::link_history`] is not observable through the socket API.
//! - The stack has traffic of its own on the adapter (IGMP, MLD, router solicitations, name
//!   resolution): [`DeviceSuite::datagram_from_stack`] picks out the datagrams of the stack's
//!   socket.
//!
//! Shared scenarios that rely on arbitrary bytes reaching the other side declare
//! [`Needs::raw_packets`], which this backend does not cover, so the runner skips them here.
//! [`scenarios`] holds device scenarios that cover the same ground (traffic both ways at every
//! size, the consumer sleep/wake race) with packets a real stack carries.

use std::convert::Infallible;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ring_abi::{CallerBitness, RingVersion};
use ringtun::backend::windows::WindowsBackend;
use ringtun::backend::Backend as _;
use ringtun::{Session, SessionConfig, VersionPreference};

use crate::backend::{Backend, Counters, Failure, Needs, Outcome};
use crate::packets::{raw, Rng};
use crate::runner::Scenario;
use crate::scenarios::common::{send, PATIENCE};
use crate::{ensure, ensure_eq};

/// The UDP port on the peer's side of every datagram (nothing listens there: the client sees
/// the packets on its rings).
pub const PEER_PORT: u16 = 47_000;

/// The largest payload one IPv4/UDP datagram carries.
pub const MAX_PAYLOAD: usize = 0xFFFF - 20 - 8;

/// The payload of the datagrams that check the path is up before a device scenario starts; the
/// stack's socket counts them apart from the scenario's own.
pub const PROBE: &[u8] = b"ringtun probe";

/// Where the adapter is and how the stack reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The adapter's device interface path; `None` opens the first present ringtun adapter.
    pub device: Option<OsString>,
    /// The IPv4 address assigned to the ringtun adapter (the stack's side).
    pub local: Ipv4Addr,
    /// An IPv4 address routed through the ringtun adapter (the client's side).
    pub peer: Ipv4Addr,
}

impl DeviceConfig {
    /// The variable holding [`DeviceConfig::local`].
    pub const LOCAL_VAR: &'static str = "RINGTUN_TEST_LOCAL";
    /// The variable holding [`DeviceConfig::peer`].
    pub const PEER_VAR: &'static str = "RINGTUN_TEST_PEER";

    /// The addresses from `RINGTUN_TEST_LOCAL` and `RINGTUN_TEST_PEER` (both required), and
    /// `device` as given.
    pub fn from_env(device: Option<OsString>) -> Result<Self, String> {
        let address = |var: &str, what: &str| -> Result<Ipv4Addr, String> {
            let value = std::env::var(var)
                .map_err(|_| format!("{var} is not set: the IPv4 address {what} (see tests/vm/Run-DeviceTests.ps1)"))?;
            value.trim().parse().map_err(|e| format!("{var}={value}: not an IPv4 address ({e})"))
        };
        let config = Self {
            device,
            local: address(Self::LOCAL_VAR, "assigned to the ringtun adapter")?,
            peer: address(Self::PEER_VAR, "routed through the ringtun adapter")?,
        };
        if config.local == config.peer {
            return Err(format!("{} and {} are both {}", Self::LOCAL_VAR, Self::PEER_VAR, config.local));
        }
        Ok(config)
    }
}

/// The installed driver and the machine's stack. A fresh one is made for every scenario.
pub struct DeviceSuite {
    config: DeviceConfig,
    stack: OnceLock<Result<Stack, String>>,
    ident: AtomicU16,
}

impl DeviceSuite {
    /// A suite on `config`. Nothing is opened or bound yet.
    pub fn new(config: DeviceConfig) -> Self {
        Self { config, stack: OnceLock::new(), ident: AtomicU16::new(1) }
    }

    /// The configuration.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// Opens a client handle on the adapter.
    pub fn open(&self) -> Result<WindowsBackend, Failure> {
        let opened = match &self.config.device {
            Some(path) => WindowsBackend::open(path),
            None => WindowsBackend::open_first(),
        };
        opened.map_err(|e| {
            let which = match &self.config.device {
                Some(path) => format!("the ringtun adapter at {}", path.to_string_lossy()),
                None => "the first ringtun adapter".to_string(),
            };
            Failure::new(format!(
                "cannot open {which}: {e} (is the driver installed with an adapter present, and is the runner \
                 elevated?)"
            ))
        })
    }

    /// Runs `pnputil VERB <instance id>` on the adapter's device; `Err` unless it exits with 0
    /// (a vetoed removal exits non-zero, or asks for a reboot).
    fn pnputil(&self, verb: &str) -> Result<(), Failure> {
        let path = match &self.config.device {
            Some(path) => path.clone(),
            None => ringtun::backend::windows::adapter_paths()
                .map_err(|e| Failure::new(format!("no adapter: {e}")))?
                .into_iter()
                .next()
                .ok_or_else(|| Failure::new("no ringtun adapter present"))?,
        };
        let instance = ringtun::backend::windows::instance_id(&path)
            .ok_or_else(|| Failure::new(format!("no instance id for {}", path.to_string_lossy())))?;
        let output = std::process::Command::new("pnputil")
            .arg(verb)
            .arg(&instance)
            .output()
            .map_err(|e| Failure::new(format!("pnputil: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Failure::new(format!(
                "pnputil {verb} {}: {} {}",
                instance.to_string_lossy(),
                output.status,
                String::from_utf8_lossy(&output.stdout).trim()
            )))
        }
    }

    fn stack(&self) -> Result<&Stack, Failure> {
        self.stack.get_or_init(|| Stack::start(self.config.local, self.config.peer)).as_ref().map_err(Failure::new)
    }

    /// The stack side's UDP port on `local`, binding the socket first if needed (which waits
    /// until the address is usable: a session must have brought the link up).
    pub fn stack_port(&self) -> Result<u16, Failure> {
        Ok(self.stack()?.port)
    }

    /// An IPv4/UDP packet carrying `payload` from `peer:PEER_PORT` to the stack's socket, with
    /// valid header and UDP checksums: what the client writes for the stack to deliver.
    pub fn packet_to_stack(&self, payload: &[u8]) -> Result<Vec<u8>, Failure> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Failure::new(format!("a {}-byte payload does not fit one IPv4/UDP packet", payload.len())));
        }
        let port = self.stack_port()?;
        let ident = self.ident.fetch_add(1, Ordering::Relaxed);
        Ok(ipv4_udp(
            SocketAddrV4::new(self.config.peer, PEER_PORT),
            SocketAddrV4::new(self.config.local, port),
            ident,
            payload,
        ))
    }

    /// The payload of `packet` if it is an unfragmented IPv4/UDP datagram from the stack's
    /// socket to `peer:PEER_PORT` (the client sees the stack's other traffic on the adapter
    /// too). `None` before the socket is bound.
    pub fn datagram_from_stack<'a>(&self, packet: &'a [u8]) -> Option<&'a [u8]> {
        let port = self.stack.get()?.as_ref().ok()?.port;
        let (source, destination, payload) = parse_ipv4_udp(packet)?;
        (source == SocketAddrV4::new(self.config.local, port)
            && destination == SocketAddrV4::new(self.config.peer, PEER_PORT))
        .then_some(payload)
    }

    /// The stack sends `payload` to `peer:PEER_PORT`, out of the adapter.
    pub fn send_datagram(&self, payload: &[u8]) -> Result<(), Failure> {
        self.stack()?.send(payload).map_err(Failure::new)
    }
}

/// Panics with why the device backend cannot do `what` (the runner reports it as a failure).
fn unsupported(what: &str, why: &str) -> ! {
    panic!("the device backend cannot {what}: {why}")
}

const NO_HOLD: &str = "the real network stack returns indicated packets by itself; it cannot hold them for a scenario";
const NO_LIFECYCLE: &str = "adapter and process lifecycle events are not triggered on demand on a real machine";
const NO_FAULTS: &str = "the installed driver has no fault injection";

impl Backend for DeviceSuite {
    type Client = WindowsBackend;
    type Held = Infallible;

    fn name(&self) -> &'static str {
        "device"
    }

    fn supports(&self) -> Needs {
        Needs::PNP
    }

    fn open_client(&self, _process: u64, bitness: CallerBitness) -> WindowsBackend {
        let client = self.open().unwrap_or_else(|e| panic!("{e}"));
        if client.bitness() != bitness {
            panic!(
                "the scenario asks for a {bitness:?} caller, and this runner is a {:?} process: run the runner built \
                 for the other target",
                client.bitness()
            );
        }
        client
    }

    fn transmit(&self, packets: &[&[u8]]) -> Vec<Outcome> {
        packets
            .iter()
            .map(|p| match self.send_datagram(p) {
                Ok(()) => Outcome::Sent,
                Err(e) => panic!("the stack did not send a {}-byte datagram: {e}", p.len()),
            })
            .collect()
    }

    fn set_hold(&self, hold: bool) {
        // Not holding is what a real stack does anyway.
        if hold {
            unsupported("hold indicated packets", NO_HOLD);
        }
    }

    fn wait_held(&self, n: usize, _timeout: Duration) -> bool {
        if n == 0 {
            return true;
        }
        unsupported("wait for held packets", NO_HOLD)
    }

    fn take_held(&self) -> Vec<Infallible> {
        unsupported("take held packets", NO_HOLD)
    }

    fn held_bytes(&self, held: &Infallible) -> Vec<u8> {
        match *held {}
    }

    fn held_span(&self, held: &Infallible) -> (usize, usize) {
        match *held {}
    }

    fn return_held(&self, held: Vec<Infallible>) {
        if let Some(never) = held.into_iter().next() {
            match never {}
        }
    }

    fn wait_delivered(&self, n: u64, timeout: Duration) -> bool {
        match self.stack().and_then(|stack| stack.inbox.wait(n, timeout).map_err(Failure::new)) {
            Ok(delivered) => delivered,
            Err(e) => panic!("{e}"),
        }
    }

    fn take_delivered(&self) -> Vec<Vec<u8>> {
        match self.stack() {
            Ok(stack) => stack.inbox.take(),
            Err(e) => panic!("{e}"),
        }
    }

    fn link_history(&self) -> Vec<bool> {
        unsupported("report link state changes", "they are not observable through the socket API")
    }

    fn process_exit(&self, _process: u64) {
        unsupported("end a process on demand", NO_LIFECYCLE)
    }

    fn halt(&self) {
        unsupported("halt the adapter", NO_LIFECYCLE)
    }

    fn surprise_remove(&self) {
        unsupported("surprise-remove the device", NO_LIFECYCLE)
    }

    fn query_remove(&self) {
        unsupported("deliver a query-remove alone", NO_LIFECYCLE)
    }

    fn cancel_remove(&self) {
        unsupported("deliver a cancel-remove alone", NO_LIFECYCLE)
    }

    fn disable_device(&self) -> Result<(), Failure> {
        self.pnputil("/disable-device")
    }

    fn enable_device(&self) -> Result<(), Failure> {
        self.pnputil("/enable-device")?;
        // The adapter starts asynchronously: wait until it can be opened again, so that the
        // scenarios after this one find it.
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.open() {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn pause(&self) {
        unsupported("pause the adapter", NO_LIFECYCLE)
    }

    fn restart(&self) {
        unsupported("restart the adapter", NO_LIFECYCLE)
    }

    fn fail_next_indications(&self, _n: u64) {
        unsupported("fail indications", NO_FAULTS)
    }

    fn fail_map(&self, _on: bool) {
        unsupported("fail ring mapping", NO_FAULTS)
    }

    fn fail_reference_event(&self, _on: bool) {
        unsupported("fail event referencing", NO_FAULTS)
    }

    fn fail_spawn(&self, _on: bool) {
        unsupported("fail the consumer thread's start", NO_FAULTS)
    }

    fn counters(&self) -> Counters {
        unsupported(
            "read the engine's counters",
            "no IOCTL exposes them, and the interface statistics the adapter reports merge the drop reasons",
        )
    }
}

/// The stack's side: a UDP socket on `local` and a thread receiving from it.
struct Stack {
    socket: UdpSocket,
    port: u16,
    peer: Ipv4Addr,
    inbox: Arc<Inbox>,
    reader: Option<JoinHandle<()>>,
}

impl Stack {
    fn start(local: Ipv4Addr, peer: Ipv4Addr) -> Result<Self, String> {
        let deadline = Instant::now() + PATIENCE;
        let socket = loop {
            match UdpSocket::bind(SocketAddrV4::new(local, 0)) {
                Ok(socket) => break socket,
                Err(e) if e.kind() == ErrorKind::AddrNotAvailable && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(format!(
                        "cannot bind a UDP socket on {local}: {e} (is {local} assigned to the ringtun adapter, and is \
                         a session registered so that the link is up?)"
                    ))
                }
            }
        };
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let receiver = socket.try_clone().map_err(|e| e.to_string())?;
        receiver.set_read_timeout(Some(Duration::from_millis(50))).map_err(|e| e.to_string())?;
        let inbox = Arc::new(Inbox::default());
        let reader = {
            let inbox = Arc::clone(&inbox);
            thread::spawn(move || receive_loop(&receiver, peer, &inbox))
        };
        Ok(Self { socket, port, peer, inbox, reader: Some(reader) })
    }

    fn send(&self, payload: &[u8]) -> Result<(), String> {
        let to = SocketAddrV4::new(self.peer, PEER_PORT);
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.socket.send_to(payload, to) {
                Ok(n) if n == payload.len() => return Ok(()),
                Ok(n) => return Err(format!("sent {n} of {} bytes to {to}", payload.len())),
                // The route through the adapter appears a moment after its link comes up.
                Err(e)
                    if matches!(e.kind(), ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable)
                        && Instant::now() < deadline =>
                {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(format!("cannot send to {to}: {e} (is {} routed through the adapter?)", self.peer))
                }
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.inbox.stop.store(true, Ordering::SeqCst);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Datagrams the stack delivered to the socket. A receive error ends the reader and is
/// reported to the next wait that it leaves short (the socket may also fail once a scenario's
/// session has ended and the link is down, which is no failure by itself).
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
    arrived: Condvar,
    stop: AtomicBool,
}

#[derive(Default)]
struct InboxState {
    datagrams: Vec<Vec<u8>>,
    total: u64,
    probes: u64,
    error: Option<String>,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `n` datagrams arrived in all within `timeout`; an error if the socket failed
    /// before.
    fn wait(&self, n: u64, timeout: Duration) -> Result<bool, String> {
        self.wait_for(timeout, |state| state.total >= n)
    }

    /// Whether a [`PROBE`] arrived within `timeout`.
    fn wait_probe(&self, timeout: Duration) -> Result<bool, String> {
        self.wait_for(timeout, |state| state.probes > 0)
    }

    fn wait_for(&self, timeout: Duration, done: impl Fn(&InboxState) -> bool) -> Result<bool, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !done(&state) {
            if let Some(e) = &state.error {
                return Err(e.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            state = self.arrived.wait_timeout(state, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        Ok(true)
    }

    fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.lock().datagrams)
    }
}

fn receive_loop(socket: &UdpSocket, peer: Ipv4Addr, inbox: &Inbox) {
    let mut buffer = vec![0u8; 0x1_0000];
    while !inbox.stop.load(Ordering::SeqCst) {
        match socket.recv_from(&mut buffer) {
            Ok((n, SocketAddr::V4(from))) if *from.ip() == peer => {
                let mut state = inbox.lock();
                if &buffer[..n] == PROBE {
                    state.probes += 1;
                } else {
                    state.datagrams.push(buffer[..n].to_vec());
                    state.total += 1;
                }
                drop(state);
                inbox.arrived.notify_all();
            }
            // From somewhere else: not the client's.
            Ok(_) => {}
            // Timeouts; and Windows reports an earlier send's ICMP port-unreachable on the next
            // receive.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionReset) => {}
            Err(e) => {
                inbox.lock().error = Some(format!("receiving on the stack's socket failed: {e}"));
                inbox.arrived.notify_all();
                return;
            }
        }
    }
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u64;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &byte in *part {
            match odd.take() {
                Some(high) => sum += u64::from(u16::from_be_bytes([high, byte])),
                None => odd = Some(byte),
            }
        }
    }
    if let Some(high) = odd {
        sum += u64::from(u16::from_be_bytes([high, 0]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP packet (no options, don't-fragment, TTL 64) with valid checksums.
fn ipv4_udp(source: SocketAddrV4, destination: SocketAddrV4, ident: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    assert!(total <= 0xFFFF, "{total}-byte IPv4 packet");
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&0x4000u16.to_be_bytes());
    p.extend_from_slice(&[64, 17, 0, 0]);
    p.extend_from_slice(&source.ip().octets());
    p.extend_from_slice(&destination.ip().octets());
    let header_sum = checksum(&[&p]);
    p[10..12].copy_from_slice(&header_sum.to_be_bytes());
    p.extend_from_slice(&source.port().to_be_bytes());
    p.extend_from_slice(&destination.port().to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let pseudo = [&p[12..20], &[0, 17], &(udp_len as u16).to_be_bytes()[..]].concat();
    let udp_sum = match checksum(&[&pseudo, &p[20..]]) {
        0 => 0xFFFF,
        sum => sum,
    };
    p[26..28].copy_from_slice(&udp_sum.to_be_bytes());
    p
}

/// Source, destination and payload of an unfragmented IPv4/UDP packet.
fn parse_ipv4_udp(p: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, &[u8])> {
    let (&first, _) = p.split_first()?;
    let header = usize::from(first & 0x0F) * 4;
    if first >> 4 != 4 || header < 20 || p.len() < header + 8 || p[9] != 17 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let fragment = u16::from_be_bytes([p[6], p[7]]);
    // More fragments, or an offset: not a whole datagram.
    if fragment & 0x3FFF != 0 || total < header + 8 || total > p.len() {
        return None;
    }
    let udp = &p[header..total];
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len < 8 || udp_len > udp.len() {
        return None;
    }
    let address = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
    let port = |at: usize| u16::from_be_bytes([udp[at], udp[at + 1]]);
    Some((SocketAddrV4::new(address(12), port(0)), SocketAddrV4::new(address(16), port(2)), &udp[8..udp_len]))
}

/// Device scenarios: the ground of the shared traffic scenarios, with packets a real stack carries.
pub fn scenarios() -> Vec<Scenario<DeviceSuite>> {
    vec![
        Scenario {
            name: "device::udp_both_ways_v1",
            summary: "v1: IPv4/UDP datagrams of 0..=1252 bytes both ways through the stack, bytes checked",
            needs: Needs::NONE,
            run: udp_both_ways_v1,
        },
        Scenario {
            name: "device::udp_both_ways_v2",
            summary: "v2: IPv4/UDP datagrams of 0..=1252 bytes both ways through the stack, bytes checked",
            needs: Needs::NONE,
            run: udp_both_ways_v2,
        },
        Scenario {
            name: "device::udp_large_both_ways",
            summary: "v1 and v2: unfragmented IPv4/UDP packets up to 0xFFFF bytes both ways (adapter MTU 0xFFFF)",
            needs: Needs::NONE,
            run: udp_large_both_ways,
        },
        Scenario {
            name: "device::udp_wakeup_race",
            summary: "sleeping consumers on both sides: every datagram through the stack within 1 s",
            needs: Needs::NONE,
            run: udp_wakeup_race,
        },
    ]
}

/// Payload sizes around the small-packet boundaries, up to a 1280-byte IPv4 packet (fits any MTU
/// the adapter may have, so nothing is fragmented).
pub const SIZES: &[usize] =
    &[0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 511, 512, 576, 1000, 1251, 1252];

/// Payload sizes beyond the usual MTUs, up to a 0xFFFF-byte IPv4 packet: unfragmented only while
/// the adapter's MTU is the driver's 0xFFFF.
pub const LARGE_SIZES: &[usize] = &[1253, 1472, 1473, 4096, 8972, 16_384, 32_768, 65_000, MAX_PAYLOAD - 1, MAX_PAYLOAD];

/// A session, once traffic flows both ways.
fn session(b: &DeviceSuite, version: VersionPreference) -> Result<Session<WindowsBackend>, Failure> {
    let s = Session::open(b.open()?, SessionConfig { version, ..SessionConfig::default() })?;
    if version == VersionPreference::PreferV2 {
        ensure_eq!(s.version(), RingVersion::V2, "the driver gave v1 ({:?})", s.fallback_reason());
    }
    warm_up(b, &s)?;
    Ok(s)
}

/// Waits until a [`PROBE`] gets through each way. The stack brings the interface (its address,
/// the route to the peer) up a moment after the session's link state reaches it; a scenario
/// starting earlier would lose its first packets to that, not to the driver. Late probes are
/// not counted as the scenario's traffic on either side.
fn warm_up(b: &DeviceSuite, s: &Session<WindowsBackend>) -> Result<(), Failure> {
    const RETRY: Duration = Duration::from_millis(100);
    let deadline = Instant::now() + PATIENCE;
    let probe = b.packet_to_stack(PROBE)?;
    let inbox = &b.stack()?.inbox;
    loop {
        send(s, &probe)?;
        if inbox.wait_probe(RETRY).map_err(Failure::new)? {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the stack delivered none of the client's probes within {PATIENCE:?}: is {} assigned to the ringtun \
             adapter, and may the runner receive UDP through the firewall?",
            b.config.local
        );
    }
    loop {
        b.send_datagram(PROBE)?;
        let until = Instant::now() + RETRY;
        while let Some(p) = s.receive_wait(until.saturating_duration_since(Instant::now()))? {
            if b.datagram_from_stack(p.data()) == Some(PROBE) {
                return Ok(());
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the client saw none of the stack's probes within {PATIENCE:?}: is {} routed through the ringtun adapter?",
            b.config.peer
        );
    }
}

/// Receives incoming packets until `n` datagrams from the stack's socket arrived, skipping the
/// stack's other traffic; each must come within `bound` of the previous one. Returns them and
/// the longest wait.
fn receive_datagrams(
    b: &DeviceSuite,
    s: &Session<WindowsBackend>,
    n: usize,
    bound: Duration,
) -> Result<(Vec<Vec<u8>>, Duration), Failure> {
    let mut out = Vec::with_capacity(n);
    let mut worst = Duration::ZERO;
    let mut since = Instant::now();
    while out.len() < n {
        let left = (since + bound).saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::new(format!("datagram {} of {n} not seen by the client within {bound:?}", out.len())));
        }
        if let Some(p) = s.receive_wait(left)? {
            if let Some(payload) = b.datagram_from_stack(p.data()).filter(|&payload| payload != PROBE) {
                out.push(payload.to_vec());
                worst = worst.max(since.elapsed());
                since = Instant::now();
            }
        }
    }
    Ok((out, worst))
}

/// `sizes` both ways: the client sends one datagram at a time and waits for the stack to
/// deliver it (a real socket's receive buffer is small); the stack sends them all at once.
fn both_ways(b: &DeviceSuite, s: &Session<WindowsBackend>, sizes: &[usize]) -> Result<(), Failure> {
    let payloads: Vec<Vec<u8>> = sizes.iter().zip(0u32..).map(|(&len, seq)| raw(len, seq)).collect();
    // Client -> driver -> stack.
    for (i, payload) in payloads.iter().enumerate() {
        send(s, &b.packet_to_stack(payload)?)?;
        ensure!(
            b.wait_delivered(i as u64 + 1, PATIENCE),
            "the stack did not deliver the client's {}-byte datagram",
            payload.len()
        );
    }
    let delivered = b.take_delivered();
    ensure_eq!(delivered.len(), payloads.len());
    for (d, p) in delivered.iter().zip(&payloads) {
        ensure!(d == p, "the stack delivered other bytes than the client's {}-byte datagram", p.len());
    }
    // Stack -> driver -> client.
    for payload in &payloads {
        b.send_datagram(payload)?;
    }
    let (received, _) = receive_datagrams(b, s, payloads.len(), PATIENCE)?;
    for (r, p) in received.iter().zip(&payloads) {
        ensure!(r == p, "the client received other bytes than the stack's {}-byte datagram", p.len());
    }
    Ok(())
}

/// v1 session: datagrams of every size in [`SIZES`] both ways.
pub fn udp_both_ways_v1(b: &DeviceSuite) -> Result<(), Failure> {
    both_ways(b, &session(b, VersionPreference::V1Only)?, SIZES)
}

/// v2 session: datagrams of every size in [`SIZES`] both ways.
pub fn udp_both_ways_v2(b: &DeviceSuite) -> Result<(), Failure> {
    both_ways(b, &session(b, VersionPreference::PreferV2)?, SIZES)
}

/// v1, then v2: datagrams of every size in [`LARGE_SIZES`] both ways.
pub fn udp_large_both_ways(b: &DeviceSuite) -> Result<(), Failure> {
    both_ways(b, &session(b, VersionPreference::V1Only)?, LARGE_SIZES)?;
    // A new session on the same adapter: its socket is bound afresh.
    let b = &DeviceSuite::new(b.config().clone());
    both_ways(b, &session(b, VersionPreference::PreferV2)?, LARGE_SIZES)
}

/// `regressions::wakeup_race` with packets the stack carries: the consumer on each side is
/// about to sleep when the producer publishes; every packet must get through within 1 s.
pub fn udp_wakeup_race(b: &DeviceSuite) -> Result<(), Failure> {
    const ITERATIONS: u32 = 2000;
    const BOUND: Duration = Duration::from_secs(1);
    let s = session(b, VersionPreference::PreferV2)?;
    let mut rng = Rng::new(0xFE9CE);
    let mut worst = Duration::ZERO;
    // Client -> driver -> stack: the driver's consumer sleeps between packets.
    for i in 0..ITERATIONS {
        let packet = b.packet_to_stack(&i.to_be_bytes())?;
        spin_for(Duration::from_nanos(rng.range(0, 250_000)));
        let start = Instant::now();
        send(&s, &packet)?;
        ensure!(b.wait_delivered(u64::from(i) + 1, BOUND), "outgoing datagram {i} not delivered within {BOUND:?}");
        worst = worst.max(start.elapsed());
    }
    let delivered = b.take_delivered();
    ensure_eq!(delivered.len(), ITERATIONS as usize);
    for (i, d) in (0..ITERATIONS).zip(&delivered) {
        ensure_eq!(d.as_slice(), &i.to_be_bytes()[..], "outgoing datagram {i}");
    }
    ensure!(worst < BOUND, "worst outgoing latency {worst:?}");
    // Stack -> driver -> client: the client sleeps on the Send ring's event.
    thread::scope(|scope| -> Result<(), Failure> {
        let s = &s;
        let receiver = scope.spawn(move || receive_datagrams(b, s, ITERATIONS as usize, BOUND));
        for i in 0..ITERATIONS {
            spin_for(Duration::from_nanos(rng.range(0, 250_000)));
            b.send_datagram(&i.to_be_bytes())?;
        }
        let (received, worst) = receiver.join().map_err(|_| Failure::new("receiver panicked"))??;
        for (i, d) in (0..ITERATIONS).zip(&received) {
            ensure_eq!(d.as_slice(), &i.to_be_bytes()[..], "incoming datagram {i}");
        }
        ensure!(worst < BOUND, "worst incoming latency {worst:?}");
        Ok(())
    })
}

fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}
