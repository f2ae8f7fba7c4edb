//! The engine's indications, written to the TUN device.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use ringtun_driver::host::{HostIndication, StackSide};

use crate::device::TunDevice;

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
    counters: Counters,
}

impl TunStackSide {
    /// The stack side over `device`.
    pub fn new(device: Arc<TunDevice>) -> Self {
        Self { device, counters: Counters::default() }
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
            // SAFETY: `indication` keeps the ring memory under `[as_ptr, as_ptr + len)` allocated
            // until it is dropped, after the write; the engine checked the range lies inside the
            // mapped ring. The kernel only reads it.
            match unsafe { self.device.write_raw(indication.as_ptr(), indication.len()) } {
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
