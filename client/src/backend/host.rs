//! The host backend: the driver's engine on the host platform, in this process.

use std::sync::Arc;
use std::time::Duration;

use ring_abi::CallerBitness;
use ringtun_driver::engine::Status;
pub use ringtun_driver::host::HostDriver;
use ringtun_driver::host::{HostEvent, HostFile, HostKernel, RingAllocation};
use ringtun_driver::platform::Event as _;

use super::{Backend, ClientEvent, DeviceError, RingMemory};

/// A handle opened on a [`HostDriver`]; closing it (drop) ends the session it registered.
pub struct HostBackend {
    driver: Arc<HostDriver>,
    file: Option<HostFile>,
    bitness: CallerBitness,
    process: u64,
}

impl HostBackend {
    /// Opens the device as process `process` with `bitness`.
    pub fn open(driver: &Arc<HostDriver>, process: u64, bitness: CallerBitness) -> Self {
        Self { driver: Arc::clone(driver), file: Some(driver.open(process, bitness)), bitness, process }
    }

    /// Opens the device as a 64-bit process 1.
    pub fn open_default(driver: &Arc<HostDriver>) -> Self {
        Self::open(driver, 1, CallerBitness::Bits64)
    }

    /// The driver.
    pub fn driver(&self) -> &Arc<HostDriver> {
        &self.driver
    }

    /// The process this handle belongs to.
    pub fn process(&self) -> u64 {
        self.process
    }

    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, DeviceError> {
        let file = self.file.as_ref().ok_or(DeviceError::NotReady)?;
        self.driver.ioctl(file, code, input, output).map_err(device_error)
    }
}

impl Drop for HostBackend {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            self.driver.close(file);
        }
    }
}

/// The client-side error for a driver status (what `DeviceIoControl` reports for it).
pub fn device_error(status: Status) -> DeviceError {
    match status {
        Status::Success => DeviceError::Os(0),
        Status::InvalidParameter => DeviceError::InvalidParameter,
        Status::InvalidDeviceRequest => DeviceError::InvalidDeviceRequest,
        Status::AlreadyInitialized => DeviceError::AlreadyInitialized,
        Status::BufferTooSmall => DeviceError::BufferTooSmall,
        Status::InsufficientResources => DeviceError::InsufficientResources,
        Status::DeviceNotReady => DeviceError::NotReady,
        Status::InvalidHandle => DeviceError::InvalidHandle,
        Status::InvalidUserBuffer => DeviceError::InvalidUserBuffer,
    }
}

/// A host event with its handle.
pub struct HostClientEvent {
    handle: u64,
    event: HostEvent,
    kernel: Arc<HostKernel>,
}

impl HostClientEvent {
    /// The event object itself (for waiting on it together with other host events).
    pub fn host_event(&self) -> &HostEvent {
        &self.event
    }
}

impl ClientEvent for HostClientEvent {
    fn handle(&self) -> u64 {
        self.handle
    }

    fn set(&self) {
        self.event.set();
    }

    fn wait(&self, timeout: Option<Duration>) -> bool {
        HostEvent::wait_any(&[&self.event], timeout).is_some()
    }
}

impl Drop for HostClientEvent {
    fn drop(&mut self) {
        self.kernel.close_handle(self.handle);
    }
}

/// Host ring memory.
pub struct HostRingMemory(Arc<RingAllocation>);

impl RingMemory for HostRingMemory {
    fn as_ptr(&self) -> *mut u8 {
        self.0.as_ptr()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl Backend for HostBackend {
    type Event = HostClientEvent;
    type Memory = HostRingMemory;

    fn device_io_control(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, DeviceError> {
        self.ioctl(code, input, output)
    }

    fn alloc_ring(&self, size: usize) -> Result<HostRingMemory, DeviceError> {
        let kernel = self.driver.kernel();
        let memory = match self.bitness {
            // A 32-bit process's memory lies below 4 GiB.
            CallerBitness::Bits32 => kernel.alloc_ring_low(size),
            CallerBitness::Bits64 => kernel.alloc_ring(size),
        };
        memory.map(HostRingMemory).ok_or(DeviceError::InsufficientResources)
    }

    fn create_event(&self) -> Result<HostClientEvent, DeviceError> {
        let (handle, event) = self.driver.kernel().create_event(true, false);
        Ok(HostClientEvent { handle, event, kernel: Arc::clone(self.driver.kernel()) })
    }

    fn bitness(&self) -> CallerBitness {
        self.bitness
    }
}
