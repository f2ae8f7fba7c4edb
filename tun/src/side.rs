//! The engine's indications, written to the TUN device.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use ringtun_driver::host::{HostIndication, StackSide};
use ringtun_driver::platform::StackOffloads;

use crate::device::TunDevice;
use crate::offload::VnetHeader;

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
///
/// With the device's offloads on, each write starts with the virtio header that says what the
/// engine tells the stack ([`VnetHeader::from_info`]): a super-packet as one unit (the kernel
/// takes it like a GRO packet), a partial checksum, checksums already valid. The stack side
/// reports what the device takes ([`StackSide::offloads`]); the engine decides the rest.
#[derive(Debug)]
pub struct TunStackSide {
    device: Arc<TunDevice>,
    mtu: usize,
    counters: Counters,
}

impl TunStackSide {
    /// The stack side over `device`, whose MTU is `mtu`.
    pub fn new(device: Arc<TunDevice>, mtu: usize) -> Self {
        Self { device, mtu, counters: Counters::default() }
    }

    /// The interface MTU given at creation.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    fn write(&self, indication: &HostIndication) -> std::io::Result<usize> {
        let (header, ptr, len) = (indication.header(), indication.as_ptr(), indication.ring_len());
        let vnet = VnetHeader::from_info(indication.info()).to_bytes();
        let prefix: &[&[u8]] = if self.device.offload() { &[&vnet, header] } else { &[header] };
        // SAFETY: `indication` keeps `[ptr, ptr + len)` allocated until it is dropped, after the
        // write; the engine checked the range lies inside the mapped ring. The kernel only reads it.
        unsafe { self.device.write_raw_with(prefix, ptr, len) }
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

    /// With the device's offloads: TCP super-packets whole (and UDP ones where the kernel has
    /// USO), partial checksums, and checksums marked valid. Without: nothing.
    fn offloads(&self) -> StackOffloads {
        if !self.device.offload() {
            return StackOffloads::default();
        }
        StackOffloads {
            coalesced_tcp4: true,
            coalesced_tcp6: true,
            coalesced_udp: self.device.uso(),
            partial_checksum: true,
            checksum_valid: true,
            coalescing_rules: false,
        }
    }
}
