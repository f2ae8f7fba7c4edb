//! How a session reaches a driver: the device operations a client needs, and nothing else.
//!
//! [`host`] runs the driver's engine in-process (tests, benchmarks, demos on any OS); the Windows
//! backend opens the adapter's device and uses `DeviceIoControl`, `VirtualAlloc` and
//! `CreateEvent`.

#[cfg(feature = "host")]
pub mod host;
#[cfg(windows)]
pub mod windows;

use core::fmt;
use std::time::Duration;

use ring_abi::{CallerBitness, Capabilities};
use zerocopy::FromBytes;

/// A device request's failure, as the driver reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The driver does not know the request (an old driver asked for capabilities).
    InvalidDeviceRequest,
    /// The driver refused the input (an old driver given a v2 registration, or a bad field).
    InvalidParameter,
    /// A session is already registered on the adapter.
    AlreadyInitialized,
    /// The driver lacked resources.
    InsufficientResources,
    /// The adapter is not ready (halted, removed).
    NotReady,
    /// The output buffer was too small.
    BufferTooSmall,
    /// The caller may not use the adapter (the driver accepts SYSTEM and elevated administrators).
    AccessDenied,
    /// A registration's event handle is not a usable event.
    InvalidHandle,
    /// A registration's ring memory could not be locked for the driver.
    InvalidUserBuffer,
    /// Another OS error code.
    Os(u32),
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidDeviceRequest => f.write_str("invalid device request"),
            Self::InvalidParameter => f.write_str("invalid parameter"),
            Self::AlreadyInitialized => f.write_str("a session is already registered"),
            Self::InsufficientResources => f.write_str("insufficient resources"),
            Self::NotReady => f.write_str("device not ready"),
            Self::BufferTooSmall => f.write_str("buffer too small"),
            Self::AccessDenied => f.write_str("access denied (run as an elevated administrator or SYSTEM)"),
            Self::InvalidHandle => f.write_str("invalid event handle"),
            Self::InvalidUserBuffer => f.write_str("ring memory cannot be locked"),
            Self::Os(code) => write!(f, "OS error {code:#x}"),
        }
    }
}

impl std::error::Error for DeviceError {}

/// An event the client signals (Receive ring) or waits on (Send ring).
pub trait ClientEvent: Send + Sync {
    /// The handle value the driver is given at registration.
    fn handle(&self) -> u64;
    /// Signals the event.
    fn set(&self);
    /// Waits until signalled (auto-reset) or `timeout` passes; `true` if signalled.
    fn wait(&self, timeout: Option<Duration>) -> bool;
}

/// Memory for one ring, page-aligned, zeroed, owned by the client for the session's life.
pub trait RingMemory: Send + Sync {
    /// First byte.
    fn as_ptr(&self) -> *mut u8;
    /// Size in bytes.
    fn len(&self) -> usize;
    /// Whether empty (never, for a ring).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The device operations a session needs.
pub trait Backend: Send + Sync {
    /// The backend's events.
    type Event: ClientEvent;
    /// The backend's ring memory.
    type Memory: RingMemory;

    /// `DeviceIoControl` on the adapter's device: returns the output bytes written.
    fn device_io_control(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, DeviceError>;

    /// The capability query IOCTL.
    fn query_capabilities(&self) -> Result<Capabilities, DeviceError> {
        let mut out = [0u8; ring_abi::CAPABILITIES_SIZE];
        let n = self.device_io_control(ring_abi::IOCTL_QUERY_CAPABILITIES, &[], &mut out)?;
        let bytes = out.get(..n).ok_or(DeviceError::BufferTooSmall)?;
        Capabilities::read_from_bytes(bytes).map_err(|_| DeviceError::BufferTooSmall)
    }

    /// The registration IOCTL with raw input bytes.
    fn register(&self, input: &[u8]) -> Result<(), DeviceError> {
        self.device_io_control(ring_abi::IOCTL_REGISTER_RINGS, input, &mut []).map(|_| ())
    }
    /// Allocates ring memory of `size` bytes.
    fn alloc_ring(&self, size: usize) -> Result<Self::Memory, DeviceError>;
    /// Creates an auto-reset event, not signalled.
    fn create_event(&self) -> Result<Self::Event, DeviceError>;
    /// Bitness of this process as the driver sees it (chooses the v1 layout).
    fn bitness(&self) -> CallerBitness;
}
