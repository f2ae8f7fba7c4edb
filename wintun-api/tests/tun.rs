//! The Linux build with `RINGTUN_WINTUN_STACK=tun`: a Wintun adapter is a Linux interface named
//! like it, and a Wintun client exchanges packets with the Linux stack through it. In a network
//! namespace of its own, a UDP socket sends a datagram into the interface; the client receives
//! it with `WintunReceivePacket`, answers with `WintunAllocateSendPacket`/`WintunSendPacket`, and
//! the socket receives the answer. Closing the adapter removes the interface.
//!
//! Needs root (a network namespace, a TUN device). Without it the test says why and passes,
//! except under `CI=true`, where not being able to set up is a failure. Its own test binary: it
//! sets the process's `RINGTUN_WINTUN_STACK`.
#![cfg(target_os = "linux")]

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use wintun::win32::ERROR_NO_MORE_ITEMS;
use wintun::*;

fn cannot_set_up(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the TUN test cannot set up: {reason}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED Wintun TUN test: {reason} (run as root to include it)");
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().expect("ip (iproute2)")
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// The UDP answer to `request` (IPv4, no options): addresses and ports swapped, `payload`.
fn answer(request: &[u8], payload: &[u8]) -> Vec<u8> {
    let len = 28 + payload.len();
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&request[16..20]);
    p[16..20].copy_from_slice(&request[12..16]);
    let sum = checksum(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p[20..22].copy_from_slice(&request[22..24]);
    p[22..24].copy_from_slice(&request[20..22]);
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    // UDP checksum 0: none (allowed over IPv4).
    p[28..].copy_from_slice(payload);
    p
}

#[test]
fn a_wintun_client_talks_to_the_linux_stack_through_its_interface() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return cannot_set_up("not root");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return cannot_set_up("no /dev/net/tun");
    }
    std::env::set_var("RINGTUN_WINTUN_STACK", "tun");
    // The whole test in one thread moved to a new network namespace: the interface, the address,
    // the socket and the `ip` commands (children of this thread) all live there.
    let result = std::thread::spawn(|| {
        // SAFETY: unshare with a namespace flag only changes this thread's network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare: {}", std::io::Error::last_os_error()));
        }
        run_in_namespace();
        Ok(())
    })
    .join()
    .expect("test thread");
    if let Err(reason) = result {
        cannot_set_up(&reason);
    }
}

fn run_in_namespace() {
    let name = wide("ringtun wt0"); // Linux cannot take the space: the interface is ringtun-wt0.
    let tunnel_type = wide("Ringtun");
    // SAFETY: NUL-terminated UTF-16 strings; no GUID.
    let adapter = unsafe { WintunCreateAdapter(name.as_ptr(), tunnel_type.as_ptr(), core::ptr::null()) };
    assert!(!adapter.is_null(), "create: {}", platform_error());
    let shown = ip(&["-o", "link", "show", "ringtun-wt0"]);
    assert!(shown.status.success(), "the interface exists");
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains(",UP"),
        "and is up: {}",
        String::from_utf8_lossy(&shown.stdout)
    );
    let mut luid = 0u64;
    // SAFETY: a live adapter; `luid` is a NET_LUID.
    unsafe { WintunGetAdapterLUID(adapter, &mut luid) };
    let ifname = std::ffi::CString::new("ringtun-wt0").unwrap();
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(ifname.as_ptr()) };
    assert_eq!((luid >> 24) & 0xFF_FFFF, u64::from(index), "the LUID carries the interface index");
    assert_eq!(luid >> 48, 53);

    // SAFETY: a live adapter.
    let session = unsafe { WintunStartSession(adapter, 0x40_0000) };
    assert!(!session.is_null(), "start: {}", platform_error());
    assert!(ip(&["addr", "add", "10.203.0.1/24", "dev", "ringtun-wt0"]).status.success());

    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::new(10, 203, 0, 1), 0)).expect("bind");
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let peer = SocketAddrV4::new(Ipv4Addr::new(10, 203, 0, 2), 4242);
    let mut answered = 0;
    for round in 0..5u8 {
        let question = [b'q', round, 1, 2, 3];
        socket.send_to(&question, peer).expect("send into the interface");
        // The Wintun client: receive the datagram from the Linux stack, answer it.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut size = 0u32;
            // SAFETY: a live session; `size` is a DWORD.
            let packet = unsafe { WintunReceivePacket(session, &mut size) };
            if packet.is_null() {
                assert_eq!(platform_error(), ERROR_NO_MORE_ITEMS);
                assert!(Instant::now() < deadline, "no packet from the Linux stack");
                // SAFETY: a live session.
                let event = unsafe { WintunGetReadWaitEvent(session) };
                wintun::platform::linux::win32::WaitForSingleObject(event, 100);
                continue;
            }
            // SAFETY: the library handed out `size` bytes at `packet`, ours until released.
            let bytes = unsafe { core::slice::from_raw_parts(packet, size as usize) }.to_vec();
            // SAFETY: the packet just received.
            unsafe { WintunReleaseReceivePacket(session, packet) };
            // Other packets (e.g. IPv6 router solicitations) may come first.
            if bytes.len() < 28 || bytes[0] != 0x45 || bytes[9] != 17 || bytes[16..20] != [10, 203, 0, 2] {
                continue;
            }
            assert_eq!(&bytes[28..], &question, "the datagram's payload");
            let reply = answer(&bytes, &[b'a', round]);
            // SAFETY: a live session.
            let out = unsafe { WintunAllocateSendPacket(session, reply.len() as u32) };
            assert!(!out.is_null(), "allocate: {}", platform_error());
            // SAFETY: `out` has room for `reply.len()` bytes, ours until sent.
            unsafe {
                core::ptr::copy_nonoverlapping(reply.as_ptr(), out, reply.len());
                WintunSendPacket(session, out);
            }
            break;
        }
        let mut buf = [0u8; 64];
        let (n, from) = socket.recv_from(&mut buf).expect("the answer through the interface");
        assert_eq!(from, std::net::SocketAddr::V4(peer));
        assert_eq!(&buf[..n], &[b'a', round]);
        answered += 1;
    }
    assert_eq!(answered, 5);

    // A second adapter of the same name takes it, in Linux too: the first one's interface is
    // renamed as the adapter is ("ringtun wt0 1", as Wintun renames the holder).
    // SAFETY: NUL-terminated UTF-16 strings; no GUID.
    let second = unsafe { WintunCreateAdapter(name.as_ptr(), tunnel_type.as_ptr(), core::ptr::null()) };
    assert!(!second.is_null(), "second adapter: {}", platform_error());
    let mut renamed = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `renamed` has room for IF_NAMESIZE bytes, as if_indextoname requires.
    let found = unsafe { libc::if_indextoname(index, renamed.as_mut_ptr()) };
    assert!(!found.is_null(), "the first adapter's interface still exists");
    // SAFETY: if_indextoname wrote a NUL-terminated name.
    let renamed = unsafe { std::ffi::CStr::from_ptr(renamed.as_ptr()) }.to_string_lossy().into_owned();
    assert_eq!(renamed, "ringtun-wt0-1", "the first adapter's interface");
    assert!(ip(&["link", "show", "ringtun-wt0"]).status.success(), "the new adapter's interface");
    let renamed_name = wide("ringtun wt0 1");
    // SAFETY: a NUL-terminated UTF-16 string.
    let opened = unsafe { WintunOpenAdapter(renamed_name.as_ptr()) };
    assert!(!opened.is_null(), "the first adapter under its new name");
    let mut opened_luid = 0u64;
    // SAFETY: live adapters; the handles are not used after they are closed.
    unsafe {
        WintunGetAdapterLUID(opened, &mut opened_luid);
        WintunCloseAdapter(opened);
        WintunCloseAdapter(second);
    }
    assert_eq!(opened_luid, luid);

    // SAFETY: the session and adapter are not used after this.
    unsafe {
        WintunEndSession(session);
        WintunCloseAdapter(adapter);
    }
    assert!(!ip(&["link", "show", "ringtun-wt0-1"]).status.success(), "the interface went with the adapter");
    assert!(!ip(&["link", "show", "ringtun-wt0"]).status.success(), "and the second one's");
}

fn platform_error() -> u32 {
    wintun::platform::linux::win32::GetLastError()
}
