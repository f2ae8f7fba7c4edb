//! The peer the measurements compare with: wireguard-go (Debian's `wireguard-go`, configured
//! with `wg` from `wireguard-tools`) on the same two namespaces and veth, a userspace WireGuard
//! daemon in each namespace, as a VPN user on Linux without the kernel module would run it.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns::{dotted, Topology};

/// Tunnel address of the WireGuard end in `a`.
pub const WG_A: [u8; 4] = [10, 203, 0, 1];
/// Tunnel address of the WireGuard end in `b`.
pub const WG_B: [u8; 4] = [10, 203, 0, 2];
/// WireGuard's interface MTU on this veth: 1500 less IPv4 (20), UDP (8) and WireGuard's own 32
/// bytes (the mini-VPN's TUN MTU is the same computation with its 28-byte record overhead).
pub const WG_MTU: u32 = Topology::VETH_MTU - 20 - 8 - 32;
/// WireGuard's UDP ports in `a` and `b`.
const PORTS: [u16; 2] = [51821, 51822];
/// Interface names (distinct: wireguard-go's control socket is named after the interface in
/// one directory for every namespace).
const NAMES: [&str; 2] = ["wgrt-a", "wgrt-b"];

/// Why wireguard-go cannot be run, if it cannot: a note for the report.
pub fn unavailable() -> Option<String> {
    for tool in ["wireguard-go", "wg"] {
        let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
        if !found {
            return Some(format!(
                "`{tool}` is not installed (Debian: wireguard-go, wireguard-tools; `bash scripts/vpn --install-peer` \
                 installs them)"
            ));
        }
    }
    None
}

/// wireguard-go's version line.
pub fn version() -> String {
    Command::new("wireguard-go")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_owned))
        .unwrap_or_default()
}

fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(io::Error::other(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim())))
    }
}

fn public_key(private: &str) -> io::Result<String> {
    let mut child = Command::new("wg").arg("pubkey").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        io::Write::write_all(&mut stdin, private.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// CPU time (user + system) of process `pid` so far, from `/proc/<pid>/stat`.
fn process_cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rfind(')').and_then(|at| stat.get(at + 2..)) else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1).unsigned_abs();
    Duration::from_nanos((ticks(11) + ticks(12)).saturating_mul(1_000_000_000 / hz))
}

/// Two running wireguard-go daemons, one per namespace, peered over the veth.
pub struct WireguardGo {
    daemons: Vec<Child>,
    keys: PathBuf,
}

impl WireguardGo {
    /// Starts both daemons, gives them fresh keys, addresses them and brings them up.
    pub fn start(topology: &Topology) -> io::Result<Self> {
        let keys = std::env::temp_dir().join(format!("ringtun-wg-{}", std::process::id()));
        std::fs::create_dir_all(&keys)?;
        std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let mut wg = Self { daemons: Vec::new(), keys };
        let nss = [&topology.a, &topology.b];
        for (ns, name) in nss.iter().zip(NAMES) {
            let daemon = Command::new("ip")
                .args(["netns", "exec", ns.name(), "wireguard-go", "-f", name])
                .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            wg.daemons.push(daemon);
        }
        let mut privates = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let socket = PathBuf::from(format!("/var/run/wireguard/{name}.sock"));
            let deadline = Instant::now() + Duration::from_secs(5);
            while !socket.exists() {
                if Instant::now() >= deadline {
                    return Err(io::Error::other(format!("wireguard-go did not create {}", socket.display())));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let private = run(Command::new("wg").arg("genkey"))?;
            let path = wg.keys.join(format!("{i}.key"));
            std::fs::write(&path, format!("{private}\n"))?;
            privates.push((path, public_key(&private)?));
        }
        let veth = [Topology::VETH_A, Topology::VETH_B];
        let tunnel = [WG_A, WG_B];
        for i in 0..2 {
            let peer = 1 - i;
            let (ns, name) = (nss[i], NAMES[i]);
            run(Command::new("wg").args([
                "set",
                name,
                "listen-port",
                &PORTS[i].to_string(),
                "private-key",
                &privates[i].0.to_string_lossy(),
                "peer",
                &privates[peer].1,
                "allowed-ips",
                &format!("{}/32", dotted(tunnel[peer])),
                "endpoint",
                &format!("{}:{}", dotted(veth[peer]), PORTS[peer]),
            ]))?;
            ns.ip(&["addr", "add", &format!("{}/24", dotted(tunnel[i])), "dev", name])?;
            ns.ip(&["link", "set", name, "mtu", &WG_MTU.to_string(), "up"])?;
        }
        Ok(wg)
    }

    /// CPU time both daemons used so far.
    pub fn cpu(&self) -> Duration {
        self.daemons.iter().map(|d| process_cpu(d.id())).sum()
    }

    /// Stops both daemons (their interfaces go with them) and removes the keys.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        for d in &mut self.daemons {
            if let Ok(pid) = libc::pid_t::try_from(d.id()) {
                // SAFETY: plain kill of our own child.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        for mut d in self.daemons.drain(..) {
            let _ = d.wait();
        }
        let _ = std::fs::remove_dir_all(&self.keys);
    }
}

impl Drop for WireguardGo {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_cpu_time_is_read_from_proc() {
        let start = process_cpu(std::process::id());
        // Burn 60 ms of this thread's own CPU time (several clock ticks), however busy the
        // machine is.
        let burnt = crate::measure::thread_cpu();
        let mut x = 0u64;
        while crate::measure::thread_cpu().saturating_sub(burnt) < Duration::from_millis(60) {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(process_cpu(std::process::id()) > start, "CPU time of a busy process grows");
        assert_eq!(process_cpu(u32::MAX), Duration::ZERO);
    }
}
