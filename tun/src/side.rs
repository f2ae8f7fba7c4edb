//! The engine's indications, written to the TUN device.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use ringtun_driver::host::{HostIndication, StackSide};

use crate::device::TunDevice;
use crate::offload::{header_for, PEEK};

/// Counters of the indication path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideStats {
    /// Packets written to the device.
    pub written: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Writes the kernel refused (the packet is dropped, as a stack drops a bad NBL).
    pub write_errors: u64,
    /// Carrier changes the device refused.
    pub carrier_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    bytes: AtomicU64,
    write_errors: AtomicU64,
    carrier_errors: AtomicU64,
}

/// The stack side: every indication is written to the device from the ring (the kernel copies
/// it during the write), so each is returned to the engine as soon as the batch is written.
#[derive(Debug)]
pub struct TunStackSide {
    device: Arc<TunDevice>,
    mtu: usize,
    counters: Counters,
}

impl TunStackSide {
    /// The stack side over `device`, whose MTU is `mtu` (with offloads on, a TCP packet longer
    /// than that is written as a TSO packet of MTU-sized segments).
    pub fn new(device: Arc<TunDevice>, mtu: usize) -> Self {
        Self { device, mtu, counters: Counters::default() }
    }

    fn write(&self, indication: &HostIndication) -> std::io::Result<usize> {
        let (ptr, len) = (indication.as_ptr(), indication.len());
        if !self.device.offload() {
            // SAFETY: `indication` keeps `[ptr, ptr + len)` allocated until it is dropped, after
            // the write; the engine checked the range lies inside the mapped ring.
            return unsafe { self.device.write_raw(ptr, len) };
        }
        let mut head = [0u8; PEEK];
        let peek = len.min(PEEK);
        // SAFETY: as above for the range; a raw copy into a local, so the client writing the
        // ring concurrently cannot change what is parsed.
        unsafe { core::ptr::copy_nonoverlapping(ptr, head.as_mut_ptr(), peek) };
        let header = header_for(&head[..peek], len, self.mtu).to_bytes();
        // SAFETY: as above.
        unsafe { self.device.write_raw_with(&header, ptr, len) }
    }

    /// The counters now.
    pub fn stats(&self) -> SideStats {
        SideStats {
            written: self.counters.written.load(Relaxed),
            bytes: self.counters.bytes.load(Relaxed),
            write_errors: self.counters.write_errors.load(Relaxed),
            carrier_errors: self.counters.carrier_errors.load(Relaxed),
        }
    }
}

impl StackSide for TunStackSide {
    fn accept(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64> {
        let mut done = Vec::new();
        for indication in batch {
            match self.write(&indication) {
                Ok(n) => {
                    self.counters.written.fetch_add(1, Relaxed);
                    self.counters.bytes.fetch_add(n as u64, Relaxed);
                }
                Err(_) => {
                    self.counters.write_errors.fetch_add(1, Relaxed);
                }
            }
            done.push(indication.token());
        }
        done
    }

    fn link_changed(&self, up: bool) {
        if self.device.set_carrier(up).is_err() {
            self.counters.carrier_errors.fetch_add(1, Relaxed);
        }
    }
}
