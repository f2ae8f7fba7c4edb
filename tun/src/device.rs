//! The TUN device: open `/dev/net/tun`, attach an L3 interface (`IFF_TUN | IFF_NO_PI`), read and
//! write whole IP packets, set the carrier.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// `_IOW('T', 202, int)` from linux/if_tun.h: attach the file to an interface.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `_IOW('T', 226, int)` from linux/if_tun.h: set or clear the interface's carrier.
const TUNSETCARRIER: libc::c_ulong = 0x4004_54e2;
/// `_IOW('T', 208, unsigned int)` from linux/if_tun.h: the offloads the reader can take.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
/// `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6` from linux/if_tun.h: packets may come with their
/// checksum to complete, and as TCP packets of up to 64 KiB.
const TUN_OFFLOADS: libc::c_uint = 0x01 | 0x02 | 0x04;
/// `TUN_F_USO4 | TUN_F_USO6` from linux/if_tun.h of Linux 6.2 and later (Debian 12's copy of
/// the header predates them): UDP packets of up to 64 KiB, to cut into datagrams.
const TUN_USO: libc::c_uint = 0x20 | 0x40;
/// `IFF_VNET_HDR` from linux/if_tun.h: a `struct virtio_net_hdr` precedes every packet.
const IFF_VNET_HDR: libc::c_short = 0x4000;
/// `IFNAMSIZ` from linux/if.h: interface name buffer, terminating NUL included.
const IFNAMSIZ: usize = 16;

/// `struct ifreq` from linux/if.h as `TUNSETIFF` reads it: the name, then the flags (a `short`)
/// at the start of the 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _union_rest: [u8; 22],
}

const _: () = assert!(core::mem::size_of::<IfReq>() == 40);
const _: () = assert!(core::mem::offset_of!(IfReq, flags) == 16);
const _: () = assert!(core::mem::size_of::<libc::ifreq>() == core::mem::size_of::<IfReq>());

/// Why a TUN device could not be set up.
#[derive(Debug)]
pub enum TunError {
    /// The name is empty, too long for `IFNAMSIZ`, or has a byte an interface name cannot have.
    BadName,
    /// A system call failed.
    Io(&'static str, io::Error),
}

impl core::fmt::Display for TunError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadName => f.write_str("bad interface name"),
            Self::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for TunError {}

/// A validated interface name: 1..=15 bytes of printable ASCII without '/', ':' or spaces
/// (what the kernel's `dev_valid_name` accepts, minus "." and "..").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfName {
    bytes: [u8; IFNAMSIZ],
}

impl IfName {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<Self, TunError> {
        let raw = name.as_bytes();
        let printable = |b: &u8| b.is_ascii_graphic() && *b != b'/' && *b != b':';
        if raw.is_empty() || raw.len() >= IFNAMSIZ || !raw.iter().all(printable) || name == "." || name == ".." {
            return Err(TunError::BadName);
        }
        let mut bytes = [0u8; IFNAMSIZ];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Self { bytes })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        let end = self.bytes.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        core::str::from_utf8(&self.bytes[..end]).unwrap_or("")
    }

    fn from_kernel(bytes: [u8; IFNAMSIZ]) -> Option<Self> {
        let name = CStr::from_bytes_until_nul(&bytes).ok()?.to_str().ok()?;
        Self::new(name).ok()
    }
}

fn ifreq(name: IfName, flags: libc::c_short) -> IfReq {
    IfReq { name: name.bytes, flags, _union_rest: [0; 22] }
}

/// An open TUN interface (L3, no packet-information prefix), non-blocking. The interface lives
/// in the network namespace of the thread that opened it and goes away when this is dropped.
#[derive(Debug)]
pub struct TunDevice {
    fd: OwnedFd,
    name: IfName,
    offload: bool,
    uso: bool,
}

impl TunDevice {
    /// Creates (or attaches to) the TUN interface `name`, one packet per read and write.
    pub fn open(name: &str) -> Result<Self, TunError> {
        Self::open_with(name, false)
    }

    /// Creates the TUN interface `name`; with `offload`, every read and write carries a
    /// [`crate::offload::VnetHeader`] and the kernel may hand over TCP packets of up to 64 KiB
    /// with their checksum to complete (TSO and checksum offload).
    pub fn open_with(name: &str, offload: bool) -> Result<Self, TunError> {
        let name = IfName::new(name)?;
        // SAFETY: a NUL-terminated path and plain flags; the result is checked.
        let raw = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if raw < 0 {
            return Err(TunError::Io("open /dev/net/tun", io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a file descriptor this function just opened and owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        if offload {
            flags |= IFF_VNET_HDR;
        }
        let mut request = ifreq(name, flags);
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `request` is (layout asserted
        // above) and which lives across the call.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, core::ptr::addr_of_mut!(request)) };
        if rc < 0 {
            return Err(TunError::Io("TUNSETIFF", io::Error::last_os_error()));
        }
        // The kernel writes back the name it used.
        let name = IfName::from_kernel(request.name).unwrap_or(name);
        let mut uso = false;
        if offload {
            let set = |flags: libc::c_uint| {
                // SAFETY: TUNSETOFFLOAD takes the flags as the argument value itself.
                unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD, libc::c_ulong::from(flags)) }
            };
            // With USO where the kernel has it (6.2 and later refuse unknown flags before).
            uso = set(TUN_OFFLOADS | TUN_USO) == 0;
            if !uso && set(TUN_OFFLOADS) < 0 {
                return Err(TunError::Io("TUNSETOFFLOAD", io::Error::last_os_error()));
            }
        }
        Ok(Self { fd, name, offload, uso })
    }

    /// Whether reads and writes carry a [`crate::offload::VnetHeader`].
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// Whether the kernel also hands over (and takes) UDP super-packets (USO, Linux 6.2 and
    /// later), with offloads on.
    pub fn uso(&self) -> bool {
        self.uso
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Sets the carrier (link state as the kernel's routing sees it).
    pub fn set_carrier(&self, up: bool) -> io::Result<()> {
        let value: libc::c_int = up.into();
        // SAFETY: TUNSETCARRIER reads one `int` through the pointer, which points at `value`.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), TUNSETCARRIER, core::ptr::addr_of!(value)) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Reads one packet into `buf`. `Ok(None)` when no packet is queued.
    pub fn read_packet(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n.unsigned_abs()));
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(e)
        }
    }

    /// Writes the packet of `len` bytes at `ptr` as one datagram.
    ///
    /// # Safety
    /// `[ptr, ptr + len)` must stay allocated for the call; its bytes are only read by the
    /// kernel (they may change concurrently, like any shared ring memory).
    pub unsafe fn write_raw(&self, ptr: *const u8, len: usize) -> io::Result<usize> {
        // SAFETY: the caller guarantees the range stays allocated; write(2) only reads it.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), ptr.cast(), len) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n.unsigned_abs())
        }
    }

    /// Writes the `prefix` slices (at most two) and the `len` bytes at `ptr` as one datagram (one
    /// `writev`).
    ///
    /// # Safety
    /// As for [`Self::write_raw`].
    pub unsafe fn write_raw_with(&self, prefix: &[&[u8]], ptr: *const u8, len: usize) -> io::Result<usize> {
        let empty = libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 };
        let mut iov = [empty; 3];
        let mut count = 0;
        for part in prefix.iter().filter(|p| !p.is_empty()).take(2) {
            iov[count] = libc::iovec { iov_base: part.as_ptr().cast_mut().cast(), iov_len: part.len() };
            count += 1;
        }
        iov[count] = libc::iovec { iov_base: ptr.cast_mut().cast(), iov_len: len };
        count += 1;
        // SAFETY: every iovec names a range that stays allocated for the call (the caller's
        // contract and live slices); writev(2) only reads them.
        let n = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), count as libc::c_int) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n.unsigned_abs())
        }
    }

    /// Writes one packet.
    pub fn write_packet(&self, packet: &[u8]) -> io::Result<usize> {
        // SAFETY: `packet` is a live slice for the call.
        unsafe { self.write_raw(packet.as_ptr(), packet.len()) }
    }

    /// Waits up to `timeout` for a packet to read; `true` if one is queued.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid `pollfd` for the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        match rc {
            0 => Ok(false),
            n if n > 0 => Ok(pfd.revents & libc::POLLIN != 0),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The raw descriptor (for diagnostics).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_like_the_kernel_does() {
        assert_eq!(IfName::new("tun0").map(|n| n.as_str().to_owned()).ok().as_deref(), Some("tun0"));
        assert!(IfName::new("a23456789012345").is_ok());
        for bad in ["", "a234567890123456", "a/b", "a:b", "a b", ".", "..", "tün"] {
            assert!(IfName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_request_carries_the_name_nul_terminated_and_the_flags_after_it() {
        let Ok(name) = IfName::new("rt0") else { panic!("valid name refused") };
        let request = ifreq(name, 0x1001);
        assert_eq!(&request.name[..4], b"rt0\0");
        assert_eq!(request.flags, 0x1001);
        // The bytes as the kernel reads them: flags little-endian right after the 16-byte name.
        // SAFETY: `IfReq` is plain old data of 40 bytes without padding (asserted above).
        let bytes: [u8; 40] = unsafe { core::mem::transmute(request) };
        assert_eq!(&bytes[16..18], &0x1001i16.to_ne_bytes());
        assert!(bytes[18..].iter().all(|&b| b == 0));
    }

    #[test]
    fn the_kernel_name_round_trips() {
        let mut raw = [0u8; IFNAMSIZ];
        raw[..5].copy_from_slice(b"tun17");
        assert_eq!(IfName::from_kernel(raw).map(|n| n.as_str().to_owned()).as_deref(), Some("tun17"));
        assert_eq!(IfName::from_kernel([b'x'; IFNAMSIZ]), None);
    }

    #[test]
    fn ioctl_numbers_match_the_iow_encoding() {
        // _IOW(type, nr, int) = (1 << 30) | (sizeof(int) << 16) | (type << 8) | nr
        let iow = |nr: u64| (1u64 << 30) | (4 << 16) | (u64::from(b'T') << 8) | nr;
        assert_eq!(u64::from(TUNSETIFF as u32), iow(202));
        assert_eq!(u64::from(TUNSETCARRIER as u32), iow(226));
        assert_eq!(u64::from(TUNSETOFFLOAD as u32), iow(208));
    }
}
