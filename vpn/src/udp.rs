//! A connected UDP socket with the kernel's batch calls and UDP offloads.
//!
//! - Sending: [`BatchSocket::send_wire`] hands a batch of records ([`Wire`]) to one `sendmmsg`
//!   call. With offloads, consecutive records of one length (the last of a group may be shorter)
//!   go as one message with a `UDP_SEGMENT` control message: one pass through the stack for up to
//!   [`GSO_MAX_SEGMENTS`] datagrams, which the kernel cuts into datagrams at the segment size
//!   (UDP GSO). A record may be gathered from several pieces (`iovec`s): parts of a ring slot and
//!   small side buffers.
//! - Receiving: [`BatchSocket::receive_batch`] is one `recvmmsg` (a datagram per buffer);
//!   [`BatchSocket::receive_coalesced`] is one `recvmsg` on a socket with `UDP_GRO` on, which
//!   returns up to 64 KiB of back-to-back datagrams of one length (the last may be shorter) and
//!   that length.
//!
//! Every socket has `IP_PMTUDISC_DO`: a datagram longer than the path MTU is refused with
//! `EMSGSIZE` instead of being fragmented, so the tunnel never emits an IP fragment.

use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Socket buffer size asked for in each direction.
const SOCKET_BUFFER: libc::c_int = 4 << 20;
/// Most datagrams in one UDP GSO message (the kernel's `UDP_MAX_SEGMENTS` is at least this).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Most bytes of UDP payload in one message over IPv4 (65535 less the IPv4 and UDP headers).
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// Control-message buffer: room for one `cmsghdr` and an `int`, 8-byte aligned.
type Cmsg = [u64; 4];

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

/// What one coalescing receive produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coalesced {
    /// Bytes received: datagrams of `segment` bytes back to back, the last possibly shorter.
    pub len: usize,
    /// Length of each datagram (`len` when the kernel did not coalesce).
    pub segment: usize,
    /// The datagrams were longer than the room given (and cut).
    pub truncated: bool,
}

/// Where a piece of a record lies.
#[derive(Clone, Copy, Debug)]
enum Piece {
    /// Caller memory (a ring slot), valid until the send.
    Memory(*const u8, usize),
    /// A range of the wire's own side buffer.
    Side(usize, usize),
}

/// A batch of records to send, each gathered from pieces.
#[derive(Debug, Default)]
pub struct Wire {
    pieces: Vec<Piece>,
    /// Per record: first piece, piece count, length.
    records: Vec<(usize, usize, usize)>,
    side: Vec<u8>,
    open: Option<(usize, usize)>,
    // Scratch of `send_wire`, kept to reuse the allocations.
    iovecs: Vec<libc::iovec>,
    messages: Vec<libc::mmsghdr>,
    cmsgs: Vec<Cmsg>,
    datagrams: Vec<usize>,
}

// SAFETY: the raw pointers are only dereferenced by the kernel during `send_wire`, whose caller
// vouches for them; a `Wire` moved to another thread carries no access of its own.
unsafe impl Send for Wire {}

impl Wire {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.pieces.clear();
        self.records.clear();
        self.side.clear();
        self.open = None;
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes of all records.
    pub fn bytes(&self) -> usize {
        self.records.iter().map(|r| r.2).sum()
    }

    /// Length of each record, in order.
    pub fn record_lens(&self) -> impl Iterator<Item = usize> + '_ {
        self.records.iter().map(|r| r.2)
    }

    /// Starts a record (ending one left open).
    pub fn begin(&mut self) {
        self.end();
        self.open = Some((self.pieces.len(), 0));
    }

    /// Appends `len` bytes at `ptr` to the open record. They are read by [`BatchSocket::send_wire`]
    /// (whose caller guarantees they are still valid then), not now.
    pub fn push_memory(&mut self, ptr: *const u8, len: usize) {
        if len == 0 {
            return;
        }
        if let Some((_, bytes)) = &mut self.open {
            *bytes += len;
            self.pieces.push(Piece::Memory(ptr, len));
        }
    }

    /// Appends a copy of `bytes` (kept in the wire's side buffer) to the open record.
    pub fn push_copy(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some((first, len)) = &mut self.open {
            *len += bytes.len();
            // Right behind the record's last copy in the side buffer: one piece for both.
            let own = self.pieces.len() > *first;
            match self.pieces.last_mut() {
                Some(Piece::Side(at, n)) if own && *at + *n == self.side.len() => *n += bytes.len(),
                _ => self.pieces.push(Piece::Side(self.side.len(), bytes.len())),
            }
            self.side.extend_from_slice(bytes);
        }
    }

    /// Ends the open record (an empty one is dropped).
    pub fn end(&mut self) {
        if let Some((first, len)) = self.open.take() {
            if len > 0 {
                self.records.push((first, self.pieces.len() - first, len));
            } else {
                self.pieces.truncate(first);
            }
        }
    }

    /// Groups the records into messages: with `gso`, runs of records of one length (the last
    /// shorter or equal) within the segment and size limits; without, one record per message.
    /// Returns `(first record, count, segment length)` per message.
    fn group(&self, gso: bool) -> Vec<(usize, usize, usize)> {
        let mut groups = Vec::new();
        let mut i = 0;
        while let Some(&(_, _, first_len)) = self.records.get(i) {
            let (mut count, mut bytes) = (1, first_len);
            while gso && count < GSO_MAX_SEGMENTS {
                let Some(&(_, _, len)) = self.records.get(i + count) else { break };
                if len > first_len || bytes + len > MAX_UDP_PAYLOAD {
                    break;
                }
                count += 1;
                bytes += len;
                if len < first_len {
                    break; // a shorter datagram ends a GSO message
                }
            }
            groups.push((i, count, first_len));
            i += count;
        }
        groups
    }
}

/// The tunnel's socket.
#[derive(Debug)]
pub struct BatchSocket {
    socket: UdpSocket,
    gro: bool,
    /// Shut down for reading: receives return nothing (not the empty datagram the kernel reports).
    shut: AtomicBool,
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
    /// `gro`: turn on `UDP_GRO` (for [`BatchSocket::receive_coalesced`]).
    pub fn open(local: SocketAddrV4, peer: SocketAddrV4, poll: Duration, gro: bool) -> io::Result<Self> {
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
        // Never fragment: a datagram above the path MTU fails with EMSGSIZE.
        set_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_DO)?;
        if gro {
            set_int(fd, libc::SOL_UDP, libc::UDP_GRO, 1)?;
        }
        Ok(Self { socket, gro, shut: AtomicBool::new(false) })
    }

    /// Shuts the receiving side down: a reader blocked in it returns at once (with nothing), and
    /// so does every later receive.
    pub fn shutdown_read(&self) {
        self.shut.store(true, Ordering::SeqCst);
        // SAFETY: shutdown on our own open descriptor; the result needs no check (a socket that
        // cannot be shut down is read until its timeout).
        unsafe { libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_RD) };
    }

    /// The socket's descriptor (to wait on it).
    pub fn fd(&self) -> libc::c_int {
        self.socket.as_raw_fd()
    }

    /// Sends every record of `wire` in as few `sendmmsg` calls as the kernel allows; with `gso`,
    /// records of one length share a message (UDP GSO). Returns how many datagrams the kernel
    /// refused (each is dropped, as a network would).
    ///
    /// # Safety
    /// Every piece added with [`Wire::push_memory`] must still be valid for reads of its length
    /// (the kernel reads it during the call).
    pub unsafe fn send_wire(&self, wire: &mut Wire, gso: bool) -> u64 {
        wire.end();
        let groups = wire.group(gso);
        let Wire { pieces, records, side, iovecs, messages, cmsgs, datagrams, .. } = wire;
        iovecs.clear();
        iovecs.extend(pieces.iter().map(|p| match *p {
            Piece::Memory(ptr, len) => libc::iovec { iov_base: ptr.cast_mut().cast(), iov_len: len },
            Piece::Side(at, len) => {
                // In range: pushed with the side buffer's length at the time, and the side
                // buffer only grows until `clear`.
                libc::iovec { iov_base: side.as_mut_ptr().wrapping_add(at).cast(), iov_len: len }
            }
        }));
        cmsgs.clear();
        cmsgs.resize(groups.len(), [0; 4]);
        messages.clear();
        datagrams.clear();
        for (&(first, count, segment), cmsg) in groups.iter().zip(cmsgs.iter_mut()) {
            let first_piece = records.get(first).map_or(0, |r| r.0);
            let pieces: usize = records.get(first..first + count).map_or(0, |rs| rs.iter().map(|r| r.1).sum());
            // SAFETY: a zeroed msghdr is valid (no name, no control data, no iovecs).
            let mut hdr: libc::mmsghdr = unsafe { core::mem::zeroed() };
            hdr.msg_hdr.msg_iov = iovecs.as_mut_ptr().wrapping_add(first_piece);
            hdr.msg_hdr.msg_iovlen = pieces;
            if count > 1 {
                let segment = u16::try_from(segment).unwrap_or(u16::MAX);
                // SAFETY: `cmsg` is 32 bytes, 8-byte aligned: room for CMSG_SPACE(2) (24 bytes);
                // CMSG_FIRSTHDR of a msghdr whose control buffer is `cmsg` points at its start.
                unsafe {
                    hdr.msg_hdr.msg_control = cmsg.as_mut_ptr().cast();
                    hdr.msg_hdr.msg_controllen = libc::CMSG_SPACE(2) as usize;
                    let c = libc::CMSG_FIRSTHDR(&hdr.msg_hdr);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = libc::UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(2) as usize;
                    core::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
                }
            }
            messages.push(hdr);
            datagrams.push(count);
        }
        let mut refused = 0u64;
        let mut at = 0usize;
        while at < messages.len() {
            let rest = &mut messages[at..];
            let count = libc::c_uint::try_from(rest.len()).unwrap_or(libc::c_uint::MAX);
            // SAFETY: `rest` holds `count` initialised headers whose iovecs point into `iovecs`
            // (alive for the call) and through them into `side` (alive) or the caller's memory
            // (valid by contract); control buffers point into `cmsgs` (alive).
            let n = unsafe { libc::sendmmsg(self.socket.as_raw_fd(), rest.as_mut_ptr(), count, 0) };
            if n > 0 {
                at += n.unsigned_abs() as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // The first message could not be sent (e.g. ECONNREFUSED from an earlier ICMP error,
            // ENOBUFS, EMSGSIZE): drop it and go on with the rest.
            refused += datagrams.get(at).copied().unwrap_or(1) as u64;
            at += 1;
        }
        refused
    }

    /// Sends `batch`, one datagram per entry, in as few `sendmmsg` calls as the kernel allows.
    /// Returns how many the kernel refused.
    ///
    /// # Safety
    /// Every `ptr..ptr + len` in `batch` must stay allocated during the call.
    pub unsafe fn send_batch(&self, batch: &[Datagram], wire: &mut Wire) -> u64 {
        wire.clear();
        for d in batch {
            wire.begin();
            wire.push_memory(d.ptr, d.len);
        }
        // SAFETY: the caller's contract on `batch` is the one `send_wire` needs.
        unsafe { self.send_wire(wire, false) }
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
            // SAFETY: a zeroed msghdr is valid (no name, no control data); the iovec is filled in.
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
            return quiet(io::Error::last_os_error());
        }
        if self.shut.load(Ordering::SeqCst) {
            return Ok(());
        }
        for hdr in scratch.iter().take(n.unsigned_abs() as usize) {
            out.push(Received { len: hdr.msg_len as usize, truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 });
        }
        Ok(())
    }

    /// Receives into `room` what the kernel coalesced (`UDP_GRO`, turned on at [`BatchSocket::open`]),
    /// waiting up to the poll interval. `None` on timeout.
    ///
    /// # Safety
    /// `room.ptr..room.ptr + room.len` must be writable and not otherwise accessed during the call.
    pub unsafe fn receive_coalesced(&self, room: Datagram) -> io::Result<Option<Coalesced>> {
        let mut iov = libc::iovec { iov_base: room.ptr.cast(), iov_len: room.len };
        let mut cmsg: Cmsg = [0; 4];
        // SAFETY: a zeroed msghdr is valid; the iovec and control buffer live across the call.
        let mut hdr: libc::msghdr = unsafe { core::mem::zeroed() };
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = cmsg.as_mut_ptr().cast();
        hdr.msg_controllen = core::mem::size_of::<Cmsg>();
        // SAFETY: `hdr` points at a writable buffer (the caller's contract) and the control buffer.
        let n = unsafe { libc::recvmsg(self.socket.as_raw_fd(), &mut hdr, 0) };
        if n < 0 {
            return quiet(io::Error::last_os_error()).map(|()| None);
        }
        if self.shut.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let len = n.unsigned_abs();
        let mut segment = len;
        if self.gro {
            // SAFETY: the kernel filled `msg_controllen` bytes of `cmsg`; CMSG_FIRSTHDR/NXTHDR
            // stay within them and each header's data is read unaligned.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&hdr);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                        let size = core::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                        if let Ok(size) = usize::try_from(size) {
                            if size > 0 {
                                segment = size;
                            }
                        }
                    }
                    c = libc::CMSG_NXTHDR(&hdr, c);
                }
            }
        }
        Ok(Some(Coalesced { len, segment, truncated: hdr.msg_flags & libc::MSG_TRUNC != 0 }))
    }
}

/// Receive errors that mean "nothing now": a timeout, a signal, or an ICMP error for an earlier
/// datagram of ours (the peer was not up yet).
fn quiet(e: io::Error) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::WouldBlock
        | io::ErrorKind::TimedOut
        | io::ErrorKind::Interrupted
        | io::ErrorKind::ConnectionRefused => Ok(()),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn wire_of(lens: &[usize]) -> Wire {
        let mut w = Wire::new();
        for &len in lens {
            w.begin();
            w.push_copy(&vec![7u8; len]);
        }
        w.end();
        w
    }

    #[test]
    fn gso_groups_are_runs_of_one_length_closed_by_a_shorter_one_and_bounded() {
        let w = wire_of(&[1472, 1472, 1472, 900, 1472, 80, 80, 80, 1472]);
        // A shorter record closes a message as its last datagram, whatever its length.
        assert_eq!(w.group(true), [(0, 4, 1472), (4, 2, 1472), (6, 2, 80), (8, 1, 1472)]);
        assert_eq!(w.group(false).len(), 9);
        let big = wire_of(&[1472; 100]);
        let groups = big.group(true);
        assert!(groups.iter().all(|g| g.1 * 1472 <= MAX_UDP_PAYLOAD && g.1 <= GSO_MAX_SEGMENTS));
        assert_eq!(groups.iter().map(|g| g.1).sum::<usize>(), 100);
        assert_eq!(groups[0].1, MAX_UDP_PAYLOAD / 1472);
        let small = wire_of(&[20; 200]);
        assert!(small.group(true).iter().all(|g| g.1 <= GSO_MAX_SEGMENTS));
    }

    #[test]
    fn empty_records_are_dropped_and_pieces_add_up() {
        let mut w = Wire::new();
        w.begin();
        w.begin();
        w.push_copy(b"abc");
        w.push_copy(b"de");
        w.begin();
        w.end();
        assert_eq!(w.len(), 1);
        assert_eq!(w.record_lens().collect::<Vec<_>>(), [5]);
        assert_eq!(w.pieces.len(), 1, "consecutive copies share a piece");
        w.begin();
        w.push_copy(b"f");
        let x = [1u8; 3];
        w.push_memory(x.as_ptr(), 3);
        w.push_copy(b"gh");
        w.end();
        assert_eq!(w.pieces.len(), 4, "a copy starts a new record's first piece; memory splits copies");
        assert_eq!(w.record_lens().collect::<Vec<_>>(), [5, 6]);
    }

    /// Over loopback: records gathered from pieces, sent with GSO, arrive as the same datagrams,
    /// and a coalescing receive returns them back to back with their length.
    #[test]
    fn gso_send_and_gro_receive_over_loopback() {
        let (a, b) = (SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
        let probe_a = UdpSocket::bind(a).expect("bind");
        let probe_b = UdpSocket::bind(b).expect("bind");
        let (Ok(std::net::SocketAddr::V4(a)), Ok(std::net::SocketAddr::V4(b))) =
            (probe_a.local_addr(), probe_b.local_addr())
        else {
            panic!("IPv4 addresses")
        };
        drop((probe_a, probe_b));
        let sender = BatchSocket::open(a, b, Duration::from_secs(2), false).expect("sender");
        let receiver = BatchSocket::open(b, a, Duration::from_secs(2), true).expect("receiver");
        let payload: Vec<u8> = (0..10 * 1000u32).map(|i| (i * 7 + i / 1000) as u8).collect();
        let mut w = Wire::new();
        let mut expected = Vec::new();
        for (i, chunk) in payload.chunks(1000).take(9).enumerate() {
            w.begin();
            w.push_copy(&[i as u8; 4]);
            w.push_memory(chunk.as_ptr(), chunk.len());
            expected.extend_from_slice(&[i as u8; 4]);
            expected.extend_from_slice(chunk);
        }
        w.begin();
        w.push_memory(payload.as_ptr(), 300);
        expected.extend_from_slice(&payload[..300]);
        // SAFETY: the memory pieces point into `payload`, alive during the call.
        assert_eq!(unsafe { sender.send_wire(&mut w, true) }, 0);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while got.len() < expected.len() {
            // SAFETY: `buf` is writable and not otherwise used during the call.
            let r = unsafe { receiver.receive_coalesced(Datagram { ptr: buf.as_mut_ptr(), len: buf.len() }) }
                .expect("receive")
                .expect("datagrams within the timeout");
            assert!(!r.truncated);
            assert_eq!(r.segment, 1004.min(r.len), "segment size reported");
            got.extend_from_slice(&buf[..r.len]);
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn sockets_are_opened_with_fragmentation_refused() {
        // IP_PMTUDISC_DO: a datagram above the path MTU fails with EMSGSIZE (the namespace test
        // checks the kernel's fragment counters; here the option itself is read back).
        let a = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let s = BatchSocket::open(a, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9), Duration::from_millis(10), false)
            .expect("socket");
        let mut value: libc::c_int = -1;
        let mut len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: valid pointers to an int and its length.
        let rc = unsafe {
            libc::getsockopt(s.fd(), libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, (&raw mut value).cast(), &mut len)
        };
        assert_eq!((rc, value), (0, libc::IP_PMTUDISC_DO));
    }
}
