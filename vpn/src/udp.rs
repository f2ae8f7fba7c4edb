//! A connected UDP socket with the kernel's batch calls: `sendmmsg` sends many datagrams in one
//! system call, `recvmmsg` receives many.

use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Socket buffer size asked for in each direction.
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// One datagram to send or receive: `len` bytes at `ptr`.
#[derive(Clone, Copy, Debug)]
pub struct Datagram {
    /// First byte.
    pub ptr: *mut u8,
    /// Length (to send), or room (to receive).
    pub len: usize,
}

/// What one `recvmmsg` produced for one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes received.
    pub len: usize,
    /// It was longer than the room given (and cut).
    pub truncated: bool,
}

/// The tunnel's socket.
#[derive(Debug)]
pub struct BatchSocket {
    socket: UdpSocket,
}

fn set_int(fd: libc::c_int, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the option value is one `int` that lives across the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            core::ptr::addr_of!(value).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl BatchSocket {
    /// Binds `local`, connects to `peer`; receives wait at most `poll` before returning nothing.
    pub fn open(local: SocketAddrV4, peer: SocketAddrV4, poll: Duration) -> io::Result<Self> {
        let socket = UdpSocket::bind(local)?;
        socket.connect(peer)?;
        socket.set_read_timeout(Some(poll))?;
        let fd = socket.as_raw_fd();
        // The FORCE variants pass the sysctl limits (the caller has CAP_NET_ADMIN); fall back to
        // the plain ones, which the kernel caps.
        for (force, plain) in [(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF), (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)] {
            if set_int(fd, libc::SOL_SOCKET, force, SOCKET_BUFFER).is_err() {
                set_int(fd, libc::SOL_SOCKET, plain, SOCKET_BUFFER)?;
            }
        }
        Ok(Self { socket })
    }

    /// Sends every datagram of `batch`, as few `sendmmsg` calls as the kernel allows. Returns how
    /// many the kernel refused (each is dropped, as a network would).
    ///
    /// # Safety
    /// Every `ptr..ptr + len` in `batch` must stay allocated during the call (the kernel only
    /// reads it).
    pub unsafe fn send_batch(&self, batch: &mut [Datagram], scratch: &mut Vec<libc::mmsghdr>) -> u64 {
        let mut iovs: Vec<libc::iovec> =
            batch.iter().map(|d| libc::iovec { iov_base: d.ptr.cast(), iov_len: d.len }).collect();
        scratch.clear();
        for iov in &mut iovs {
            // SAFETY: a zeroed msghdr is valid (no name, no control data); the iovec is filled in.
            let mut hdr: libc::mmsghdr = unsafe { core::mem::zeroed() };
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            scratch.push(hdr);
        }
        let mut refused = 0u64;
        let mut at = 0usize;
        while at < scratch.len() {
            let rest = &mut scratch[at..];
            let count = libc::c_uint::try_from(rest.len()).unwrap_or(libc::c_uint::MAX);
            // SAFETY: `rest` holds `count` initialised headers whose iovecs point at `iovs` (alive
            // for the call) and, through them, at the caller's buffers (alive by contract).
            let n = unsafe { libc::sendmmsg(self.socket.as_raw_fd(), rest.as_mut_ptr(), count, 0) };
            if n > 0 {
                at += n.unsigned_abs() as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // The first datagram could not be sent (e.g. ECONNREFUSED from an earlier ICMP error,
            // ENOBUFS): drop it and go on with the rest.
            refused += 1;
            at += 1;
        }
        refused
    }

    /// Receives up to `room.len()` datagrams into `room` (at least one, waiting up to the poll
    /// interval for it). Returns what each of the first N got; empty on timeout.
    ///
    /// # Safety
    /// Every `ptr..ptr + len` in `room` must be writable and not otherwise accessed during the
    /// call.
    pub unsafe fn receive_batch(
        &self,
        room: &[Datagram],
        iovs: &mut Vec<libc::iovec>,
        scratch: &mut Vec<libc::mmsghdr>,
        out: &mut Vec<Received>,
    ) -> io::Result<()> {
        out.clear();
        iovs.clear();
        iovs.extend(room.iter().map(|d| libc::iovec { iov_base: d.ptr.cast(), iov_len: d.len }));
        scratch.clear();
        for iov in iovs.iter_mut() {
            // SAFETY: as in `send_batch`.
            let mut hdr: libc::mmsghdr = unsafe { core::mem::zeroed() };
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            scratch.push(hdr);
        }
        let count = libc::c_uint::try_from(scratch.len()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: `scratch` holds `count` headers whose iovecs point at writable buffers (the
        // caller's contract); no timeout pointer (the socket's receive timeout bounds the wait).
        let n = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                scratch.as_mut_ptr(),
                count,
                libc::MSG_WAITFORONE,
                core::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => Ok(()),
                // An ICMP error for an earlier datagram of ours (the peer was not up yet).
                io::ErrorKind::ConnectionRefused => Ok(()),
                _ => Err(e),
            };
        }
        for hdr in scratch.iter().take(n.unsigned_abs() as usize) {
            out.push(Received { len: hdr.msg_len as usize, truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 });
        }
        Ok(())
    }
}
