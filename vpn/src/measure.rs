//! What runs across the link under test: an ICMP echo, and a TCP transfer whose payload checksum
//! the receiver compares with the sender's, with the process's CPU time over the transfer.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::interrupt;
use crate::netns::Netns;

/// A streaming 64-bit checksum of a byte stream, independent of how the stream is cut into
/// reads: four multiply-xor lanes over 32-byte blocks, the remainder folded in at the end.
#[derive(Clone, Debug, Default)]
pub struct StreamChecksum {
    lanes: [u64; 4],
    pending: [u8; 32],
    pending_len: usize,
    total: u64,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl StreamChecksum {
    fn block(&mut self, block: &[u8; 32]) {
        for (lane, chunk) in self.lanes.iter_mut().zip(block.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            *lane = (*lane ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
        }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.pending_len > 0 {
            let take = (32 - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < 32 {
                return;
            }
            let block = self.pending;
            self.block(&block);
            self.pending_len = 0;
        }
        let mut blocks = bytes.chunks_exact(32);
        for chunk in &mut blocks {
            let mut block = [0u8; 32];
            block.copy_from_slice(chunk);
            self.block(&block);
        }
        let rest = blocks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// The checksum of everything added.
    pub fn finish(&self) -> u64 {
        let mut last = [0u8; 32];
        last[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
        let mut copy = self.clone();
        copy.block(&last);
        copy.lanes.iter().fold(self.total.wrapping_mul(K), |acc, &l| (acc ^ l).wrapping_mul(K).rotate_left(31))
    }
}

/// CPU time (user + system) this process has used so far, all threads.
pub fn process_cpu() -> Duration {
    // SAFETY: a zeroed rusage is valid to fill; the pointer is valid for the call.
    let usage = unsafe {
        let mut usage: libc::rusage = core::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.unsigned_abs()) + Duration::from_micros(t.tv_usec.unsigned_abs())
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of the calling thread so far.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid pointer to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec.unsigned_abs(), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// The load average over the last minute (`/proc/loadavg`), NaN if unreadable.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The tunnel's cipher on its own, on one core: CPU nanoseconds per packet byte to seal and then
/// open records carrying `packet_len`-byte packets, the work every byte of a tunnel needs once
/// per direction of travel (this thread's CPU time over about `window`, so other work on the
/// machine does not count). NaN if the cipher fails.
pub fn cipher_ns_per_byte(packet_len: usize, window: Duration) -> f64 {
    use crate::crypto::{Opener, Sealer, SecretKey, HEADER, TAG};
    let key = SecretKey::from_bytes([0x5A; 32]);
    let (mut sealer, mut opener) = (Sealer::new(&key), Opener::new(&key));
    // A batch of records, sealed and opened in turn (as a batch of datagrams would be).
    let mut records = vec![vec![0x42u8; HEADER + packet_len + TAG]; 64];
    let (start, mut bytes) = (thread_cpu(), 0u64);
    while thread_cpu().saturating_sub(start) < window {
        for record in &mut records {
            if sealer.seal_frame(record).is_err() {
                return f64::NAN;
            }
        }
        for record in &mut records {
            if opener.open(record).is_err() {
                return f64::NAN;
            }
        }
        bytes += (records.len() * packet_len) as u64;
    }
    thread_cpu().saturating_sub(start).as_nanos() as f64 / bytes.max(1) as f64
}

fn icmp_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends `count` ICMP echo requests from inside `ns` to `to`, one at a time, each waiting up to
/// `timeout` for its reply. Returns the round-trip times of the replies that came back.
pub fn ping(ns: &Netns, to: Ipv4Addr, count: u16, timeout: Duration) -> io::Result<Vec<Duration>> {
    ns.run(move || {
        // SAFETY: plain arguments; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just opened and is owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let socket = std::net::UdpSocket::from(fd);
        let ident = (std::process::id() & 0xFFFF) as u16;
        let dest = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(to.octets()) },
            sin_zero: [0; 8],
        };
        let mut rtts = Vec::new();
        for seq in 1..=count {
            if interrupt::requested() {
                break;
            }
            let mut request = [0u8; 64];
            request[0] = 8; // echo request
            request[4..6].copy_from_slice(&ident.to_be_bytes());
            request[6..8].copy_from_slice(&seq.to_be_bytes());
            for (i, b) in request[8..].iter_mut().enumerate() {
                *b = i as u8;
            }
            let sum = icmp_checksum(&request);
            request[2..4].copy_from_slice(&sum.to_be_bytes());
            let sent_at = Instant::now();
            // SAFETY: `request` and `dest` are valid for the call, with their true lengths.
            let n = unsafe {
                libc::sendto(
                    socket.as_raw_fd(),
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    core::ptr::addr_of!(dest).cast(),
                    core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let deadline = sent_at + timeout;
            let mut reply = [0u8; 1500];
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                socket.set_read_timeout(Some(deadline - now))?;
                let Ok(n) = socket.recv(&mut reply) else { break };
                // A raw socket gets the IP header too.
                let Some(ihl) = reply.first().map(|b| usize::from(b & 0x0F) * 4) else { continue };
                let Some(icmp) = reply.get(ihl..n) else { continue };
                if icmp.len() >= 64
                    && icmp[0] == 0
                    && icmp[4..6] == ident.to_be_bytes()
                    && icmp[6..8] == seq.to_be_bytes()
                    && icmp[8..64] == request[8..]
                {
                    rtts.push(sent_at.elapsed());
                    break;
                }
            }
        }
        Ok(rtts)
    })
}

/// How long a TCP transfer runs.
#[derive(Clone, Copy, Debug)]
pub struct TransferLimit {
    /// Stop after this many bytes.
    pub bytes: Option<u64>,
    /// Stop after this long (always bounded).
    pub duration: Duration,
}

/// The outcome of one transfer.
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    /// Bytes the sender wrote.
    pub sent: u64,
    /// Bytes the receiver read.
    pub received: u64,
    /// The sender's checksum of what it wrote.
    pub sent_checksum: u64,
    /// The receiver's checksum of what it read.
    pub received_checksum: u64,
    /// From connect to the receiver seeing the end of the stream.
    pub elapsed: Duration,
    /// CPU time of the whole process over the transfer (sender, receiver, and the tunnel's
    /// threads when there is one), user plus system.
    pub cpu: Duration,
}

impl Transfer {
    /// Whether every byte arrived and the checksums match.
    pub fn verified(&self) -> bool {
        self.sent == self.received && self.sent_checksum == self.received_checksum && self.sent > 0
    }

    /// Throughput in Mbit/s (received bytes over the elapsed time).
    pub fn mbit_per_s(&self) -> f64 {
        self.received as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }

    /// CPU nanoseconds per byte received.
    pub fn cpu_ns_per_byte(&self) -> f64 {
        self.cpu.as_nanos() as f64 / (self.received.max(1)) as f64
    }
}

/// The sender's payload: 1 MiB of pseudo-random bytes, written round and round.
fn payload() -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// Sends a TCP stream from inside `from` to `to:port` (a listener inside `to_ns`) until `limit`,
/// calling `progress(bytes_received, elapsed)` about once a second.
pub fn tcp_transfer(
    from: &Netns,
    to_ns: &Netns,
    to: Ipv4Addr,
    port: u16,
    limit: TransferLimit,
    mut progress: impl FnMut(u64, Duration),
) -> io::Result<Transfer> {
    let received = Arc::new(AtomicU64::new(0));
    let (bound_tx, bound_rx) = mpsc::channel::<io::Result<()>>();
    let receiver = {
        let received = Arc::clone(&received);
        let grace = limit.duration + Duration::from_secs(10);
        to_ns.spawn("tcp-receiver", move || {
            let listener = match TcpListener::bind(SocketAddrV4::new(to, port)) {
                Ok(l) => {
                    let _ = bound_tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = bound_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    return Err(e);
                }
            };
            listener.set_nonblocking(true)?;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if Instant::now() >= deadline || interrupt::requested() {
                            return Err(io::Error::new(io::ErrorKind::TimedOut, "no connection"));
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => return Err(e),
                }
            };
            stream.set_nonblocking(false)?;
            // Short reads, so an interrupt is seen within a fraction of a second; the stream may
            // be idle for at most IDLE before the transfer counts as failed.
            const IDLE: Duration = Duration::from_secs(5);
            stream.set_read_timeout(Some(Duration::from_millis(200)))?;
            let end = Instant::now() + grace;
            let mut sum = StreamChecksum::default();
            let mut buf = vec![0u8; 256 << 10];
            let mut last_data = Instant::now();
            loop {
                if interrupt::requested() {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
                }
                if Instant::now() >= end || last_data.elapsed() >= IDLE {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "the stream did not end in time"));
                }
                let n = match stream.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    break;
                }
                last_data = Instant::now();
                sum.update(&buf[..n]);
                received.fetch_add(n as u64, Relaxed);
            }
            Ok((sum.total, sum.finish(), Instant::now()))
        })?
    };
    bound_rx.recv().map_err(|_| io::Error::other("receiver thread ended"))??;
    let cpu_start = process_cpu();
    let start = Instant::now();
    let sender = from.spawn("tcp-sender", move || {
        let data = payload();
        let mut stream = TcpStream::connect_timeout(&SocketAddrV4::new(to, port).into(), Duration::from_secs(5))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let start = Instant::now();
        let mut sum = StreamChecksum::default();
        let mut at = 0usize;
        let chunk = 128 << 10;
        loop {
            if start.elapsed() >= limit.duration || interrupt::requested() {
                break;
            }
            let mut end = (at + chunk).min(data.len());
            if let Some(max) = limit.bytes {
                let left = max - sum.total;
                if left == 0 {
                    break;
                }
                end = end.min(at + usize::try_from(left).unwrap_or(usize::MAX));
            }
            let n = stream.write(&data[at..end])?;
            sum.update(&data[at..at + n]);
            at = (at + n) % data.len();
        }
        stream.shutdown(std::net::Shutdown::Write)?;
        Ok((sum.total, sum.finish()))
    })?;
    let mut last = Instant::now();
    while !sender.is_finished() || !receiver.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            progress(received.load(Relaxed), start.elapsed());
        }
    }
    let sent = sender.join().unwrap_or_else(|_| Err(io::Error::other("sender panicked")));
    let got = receiver.join().unwrap_or_else(|_| Err(io::Error::other("receiver panicked")));
    let cpu = process_cpu().saturating_sub(cpu_start);
    let (sent, sent_checksum) = sent?;
    let (received, received_checksum, done) = got?;
    Ok(Transfer { sent, received, sent_checksum, received_checksum, elapsed: done - start, cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_does_not_depend_on_how_the_stream_is_cut() {
        let data = payload();
        let mut whole = StreamChecksum::default();
        whole.update(&data[..100_003]);
        for cut in [1usize, 7, 31, 32, 33, 1000, 65_537] {
            let mut pieces = StreamChecksum::default();
            for chunk in data[..100_003].chunks(cut) {
                pieces.update(chunk);
            }
            assert_eq!(pieces.finish(), whole.finish(), "cut {cut}");
        }
    }

    #[test]
    fn the_checksum_sees_changes_lengths_and_order() {
        let data = payload();
        let base = {
            let mut s = StreamChecksum::default();
            s.update(&data[..4096]);
            s.finish()
        };
        let mut flipped = data[..4096].to_vec();
        flipped[1234] ^= 1;
        let mut swapped = data[..4096].to_vec();
        swapped.swap(0, 40);
        let mut zero_padded = data[..4096].to_vec();
        zero_padded.push(0);
        for other in [flipped, swapped, zero_padded, data[..4095].to_vec()] {
            let mut s = StreamChecksum::default();
            s.update(&other);
            assert_ne!(s.finish(), base);
        }
    }

    #[test]
    fn icmp_checksum_of_a_known_header() {
        // Echo request, id 1, seq 1, no payload: 0x0800 + 0x0001 + 0x0001 = 0x0802 -> !0x0802.
        assert_eq!(icmp_checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), !0x0802);
        let mut packet = [8u8, 0, 0, 0, 0x12, 0x34, 0, 9, 1, 2, 3];
        let sum = icmp_checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(icmp_checksum(&packet), 0);
    }
}
