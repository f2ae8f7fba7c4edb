//! Network namespaces and the veth pair between them, made with `ip` and removed on drop.
//!
//! Nothing is ever created in the caller's own namespace: the veth pair is created inside the
//! first namespace with its peer directly in the second, and the TUN interfaces are created by
//! threads that have entered a namespace. Addresses are private ones that exist only on those
//! interfaces, and no namespace has a route to anything else.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

/// Where `ip netns` keeps the namespaces it names.
const NETNS_DIR: &str = "/run/netns";
/// Every namespace this crate makes is called `ringtun-<pid>-<tag>-<side>`.
const PREFIX: &str = "ringtun-";

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// `ip netns add name`.
    pub fn create(name: &str) -> io::Result<Self> {
        ip(&["netns", "add", name])?;
        let ns = Self { name: name.to_owned() };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of its bind mount.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.name)
    }

    /// `ip -n name args...`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `f` on a new thread that has entered this namespace (sockets and TUN devices it
    /// creates belong to the namespace, and stay there when used from other threads).
    pub fn spawn<T: Send + 'static>(
        &self,
        thread_name: &str,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<JoinHandle<io::Result<T>>> {
        let file = File::open(self.path())?;
        std::thread::Builder::new().name(thread_name.to_owned()).spawn(move || {
            // SAFETY: `file` is an open namespace file; setns affects only this thread (a
            // network namespace can be entered by one thread of a process).
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            drop(file);
            f()
        })
    }

    /// Runs `f` inside this namespace and waits for it.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
        self.spawn("ringtun-netns", f)?.join().unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its interfaces (the veth end, a TUN interface whose
        // file is already closed) once nothing refers to it any more.
        let _ = ip(&["netns", "delete", &self.name]);
    }
}

/// Two namespaces joined by a veth pair, each end called `veth0`, addressed
/// [`Topology::VETH_A`] and [`Topology::VETH_B`] (a /24 of their own).
#[derive(Debug)]
pub struct Topology {
    /// The first namespace.
    pub a: Netns,
    /// The second namespace.
    pub b: Netns,
}

impl Topology {
    /// Address of the veth end in `a`.
    pub const VETH_A: [u8; 4] = [10, 201, 0, 1];
    /// Address of the veth end in `b`.
    pub const VETH_B: [u8; 4] = [10, 201, 0, 2];
    /// MTU of the veth pair (Ethernet's).
    pub const VETH_MTU: u32 = 1500;

    /// Creates `ringtun-<pid>-<tag>-a` and `-b`, the veth pair and its addresses. Everything
    /// made so far is removed again if a step fails.
    pub fn create(tag: &str) -> io::Result<Self> {
        let pid = std::process::id();
        let a = Netns::create(&format!("{PREFIX}{pid}-{tag}-a"))?;
        let b = Netns::create(&format!("{PREFIX}{pid}-{tag}-b"))?;
        let mtu = Self::VETH_MTU.to_string();
        a.ip(&["link", "add", "veth0", "mtu", &mtu, "type", "veth", "peer", "name", "veth0", "netns", b.name()])?;
        for (ns, addr) in [(&a, Self::VETH_A), (&b, Self::VETH_B)] {
            ns.ip(&["addr", "add", &format!("{}/24", dotted(addr)), "dev", "veth0"])?;
            ns.ip(&["link", "set", "veth0", "up"])?;
        }
        Ok(Self { a, b })
    }

    /// Namespace paths (to check they are gone afterwards).
    pub fn paths(&self) -> [PathBuf; 2] {
        [self.a.path(), self.b.path()]
    }
}

/// The IPv4 fragmentation and reassembly counters of a namespace (`Ip:` in `/proc/net/snmp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentCounters {
    /// Fragments received that needed reassembly (`ReasmReqds`).
    pub reassembly_requests: u64,
    /// Packets reassembled (`ReasmOKs`).
    pub reassembled: u64,
    /// Packets fragmented (`FragOKs`).
    pub fragmented: u64,
    /// Fragments created (`FragCreates`).
    pub fragments_created: u64,
}

impl FragmentCounters {
    /// Parses the `Ip:` header and value lines of `/proc/net/snmp`.
    pub fn parse(snmp: &str) -> Option<Self> {
        let mut ip = snmp.lines().filter(|l| l.starts_with("Ip:"));
        let (names, values) = (ip.next()?, ip.next()?);
        let field = |name: &str| {
            let at = names.split_whitespace().position(|n| n == name)?;
            values.split_whitespace().nth(at)?.parse::<u64>().ok()
        };
        Some(Self {
            reassembly_requests: field("ReasmReqds")?,
            reassembled: field("ReasmOKs")?,
            fragmented: field("FragOKs")?,
            fragments_created: field("FragCreates")?,
        })
    }

    /// Reads the counters of `ns` (from a thread inside it: `/proc/thread-self/net` is the
    /// reading thread's namespace, `/proc/self/net` the process's).
    pub fn read(ns: &Netns) -> io::Result<Self> {
        ns.run(|| {
            let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")?;
            Self::parse(&snmp).ok_or_else(|| io::Error::other("no Ip: counters in /proc/net/snmp"))
        })
    }

    /// What changed since `before`.
    pub fn since(&self, before: &Self) -> Self {
        Self {
            reassembly_requests: self.reassembly_requests.wrapping_sub(before.reassembly_requests),
            reassembled: self.reassembled.wrapping_sub(before.reassembled),
            fragmented: self.fragmented.wrapping_sub(before.fragmented),
            fragments_created: self.fragments_created.wrapping_sub(before.fragments_created),
        }
    }

    /// No fragment made and none received.
    pub fn none(&self) -> bool {
        self.reassembly_requests == 0 && self.fragmented == 0 && self.fragments_created == 0
    }
}

/// `a.b.c.d`.
pub fn dotted(addr: [u8; 4]) -> String {
    std::net::Ipv4Addr::from(addr).to_string()
}

/// Deletes namespaces this crate made in processes that no longer exist (a run killed with
/// SIGKILL cannot clean up after itself). Returns the names deleted.
pub fn remove_stale() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|rest| rest.split('-').next()) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if !Path::new("/proc").join(pid.to_string()).exists() && ip(&["netns", "delete", &name]).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// Namespaces of this process that still exist.
pub fn own_leftovers() -> Vec<String> {
    let prefix = format!("{PREFIX}{}-", std::process::id());
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
    entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(&prefix)).collect()
}

/// Whether this process can make namespaces: root (or `CAP_SYS_ADMIN`), `ip`, `/dev/net/tun`.
pub fn check_privileges() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root (network namespaces, veth and TUN interfaces need it)".into());
    }
    if Command::new("ip").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        return Err("the `ip` command (iproute2) is missing".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun is missing".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_counters_are_read_by_name() {
        let snmp = "Ip: Forwarding DefaultTTL InReceives ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs \
                    FragFails FragCreates OutTransmits\nIp: 2 64 900 0 45 1 0 3 0 6 77\nIcmp: InMsgs\nIcmp: 1\n";
        let c = FragmentCounters::parse(snmp).expect("parses");
        assert_eq!(
            c,
            FragmentCounters { reassembly_requests: 45, reassembled: 1, fragmented: 3, fragments_created: 6 }
        );
        assert!(!c.none());
        assert!(c.since(&c).none());
        assert_eq!(FragmentCounters::parse("Ip: Forwarding\nIp: 2\n"), None);
    }
}
