//! Packets the kernel routes into the TUN interface, handed to the engine's Send path in batches.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringtun_driver::engine::{SlotWriter, TransmitBatch, TransmitOffload, TransmitStatus};
use ringtun_driver::host::HostDriver;

use crate::device::TunDevice;
use crate::offload::{VnetHeader, VNET_HDR_LEN};

/// Most packets read from the device and handed to the engine in one transmit call.
pub const PUMP_BATCH: usize = 64;
/// The same with offloads on, where a packet may be 64 KiB (a batch's buffers stay within 1 MiB).
pub const PUMP_BATCH_OFFLOAD: usize = 16;
/// Largest packet read from the device (an IP packet's 16-bit total length).
pub const MAX_PACKET: usize = 0xFFFF;
/// How long one wait for the device lasts before the stop flag is checked again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Counters of the transmit path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PumpStats {
    /// Packets read from the device.
    pub read: u64,
    /// Transmit calls (batches) made.
    pub batches: u64,
    /// Packets the engine published on the Send ring.
    pub sent: u64,
    /// Packets the engine dropped (ring full, no session, invalid).
    pub dropped: u64,
    /// Device read errors.
    pub read_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    read: AtomicU64,
    batches: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    read_errors: AtomicU64,
}

/// One batch read from the device: packet `i` is `buffers[i][skip..skip + lens[i]]`, with the
/// request its virtio header made (`requests[i]`; none without offloads).
struct ReadBatch<'a> {
    buffers: &'a [Vec<u8>],
    skip: usize,
    lens: &'a [usize],
    requests: &'a [TransmitOffload],
    sent: u64,
    dropped: u64,
}

impl TransmitBatch for ReadBatch<'_> {
    fn packet_count(&self) -> usize {
        self.lens.len()
    }

    fn packet_len(&self, index: usize) -> usize {
        self.lens.get(index).copied().unwrap_or(0)
    }

    fn copy_packet(&self, index: usize, slot: &mut SlotWriter<'_>) -> bool {
        match (self.buffers.get(index), self.lens.get(index)) {
            (Some(buffer), Some(&len)) => buffer.get(self.skip..self.skip + len).is_some_and(|p| slot.write(0, p)),
            _ => false,
        }
    }

    fn set_status(&mut self, _index: usize, status: TransmitStatus) {
        if status == TransmitStatus::Sent {
            self.sent += 1;
        } else {
            self.dropped += 1;
        }
    }

    fn packet_offload(&self, index: usize) -> TransmitOffload {
        self.requests.get(index).copied().unwrap_or_default()
    }

    fn read_prefix(&self, index: usize, dst: &mut [u8]) -> usize {
        let (Some(buffer), Some(&len)) = (self.buffers.get(index), self.lens.get(index)) else { return 0 };
        let n = dst.len().min(len);
        match buffer.get(self.skip..self.skip + n) {
            Some(src) => {
                dst[..n].copy_from_slice(src);
                n
            }
            None => 0,
        }
    }
}

/// The thread that reads the device and transmits what it reads through the engine.
pub struct TunPump {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl TunPump {
    /// Starts pumping `device` into `driver`'s adapter.
    pub fn start(device: Arc<TunDevice>, driver: Arc<HostDriver>) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (thread_stop, thread_counters) = (Arc::clone(&stop), Arc::clone(&counters));
        let thread = std::thread::Builder::new()
            .name("ringtun-tun-pump".into())
            .spawn(move || pump(&device, &driver, &thread_stop, &thread_counters))?;
        Ok(Self { stop, counters, thread: Some(thread) })
    }

    /// The counters now.
    pub fn stats(&self) -> PumpStats {
        let c = &self.counters;
        PumpStats {
            read: c.read.load(Relaxed),
            batches: c.batches.load(Relaxed),
            sent: c.sent.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            read_errors: c.read_errors.load(Relaxed),
        }
    }

    /// Stops the thread and waits for it (at most one poll interval plus a batch).
    pub fn stop(mut self) -> io::Result<PumpStats> {
        self.halt()
    }

    fn halt(&mut self) -> io::Result<PumpStats> {
        self.stop.store(true, Relaxed);
        let result = match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| Err(io::Error::other("pump thread panicked"))),
            None => Ok(()),
        };
        result.map(|()| self.stats())
    }
}

impl Drop for TunPump {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn pump(device: &TunDevice, driver: &HostDriver, stop: &AtomicBool, counters: &Counters) -> io::Result<()> {
    let skip = if device.offload() { VNET_HDR_LEN } else { 0 };
    let batch = if device.offload() { PUMP_BATCH_OFFLOAD } else { PUMP_BATCH };
    let mut buffers: Vec<Vec<u8>> = (0..batch).map(|_| vec![0u8; skip + MAX_PACKET]).collect();
    let mut lens: Vec<usize> = Vec::with_capacity(PUMP_BATCH);
    let mut requests: Vec<TransmitOffload> = Vec::with_capacity(PUMP_BATCH);
    while !stop.load(Relaxed) {
        if !device.wait_readable(POLL_INTERVAL)? {
            continue;
        }
        // Drain what is queued, up to one batch: one engine call (one ring publish, at most one
        // wake-up of the client) for all of it.
        lens.clear();
        requests.clear();
        while let Some(buffer) = buffers.get_mut(lens.len()) {
            match device.read_packet(buffer) {
                Ok(Some(n)) if n <= skip => {}
                Ok(Some(n)) => {
                    // The virtio header, translated as it is; the engine decides what the packet
                    // becomes (one slot with metadata, or the packets it cuts).
                    let request = if skip > 0 {
                        VnetHeader::parse(buffer).and_then(VnetHeader::to_request)
                    } else {
                        Some(TransmitOffload::default())
                    };
                    let Some(request) = request else {
                        counters.read_errors.fetch_add(1, Relaxed);
                        continue;
                    };
                    lens.push(n - skip);
                    requests.push(request);
                }
                Ok(None) => break,
                Err(_) => {
                    counters.read_errors.fetch_add(1, Relaxed);
                    break;
                }
            }
        }
        if lens.is_empty() {
            continue;
        }
        let mut batch = ReadBatch { buffers: &buffers, skip, lens: &lens, requests: &requests, sent: 0, dropped: 0 };
        driver.adapter().transmit(&mut batch);
        counters.read.fetch_add(lens.len() as u64, Relaxed);
        counters.batches.fetch_add(1, Relaxed);
        counters.sent.fetch_add(batch.sent, Relaxed);
        counters.dropped.fetch_add(batch.dropped, Relaxed);
    }
    Ok(())
}
