//! A Linux TUN device as the stack side of the host platform.
//!
//! The engine stays the only place that decides about ring contents; this crate only moves
//! bytes between the kernel and the engine's two entry points:
//!
//! - [`TunPump`]: packets the kernel routes into the TUN interface are read in batches (one
//!   `poll`, then reads until the device is empty or the batch is full) and handed to
//!   [`Adapter::transmit`](ringtun_driver::engine::Adapter::transmit) as one batch — the engine's
//!   Send path, like one `MiniportSendNetBufferLists` call;
//! - [`TunStackSide`]: packets the engine indicates from the Receive ring are written to the
//!   device straight from the client's ring memory (the `iovec` points into the ring; the kernel
//!   copies once, as it would from an NBL), and returned to the engine at once;
//! - [`TunDevice`]: the device itself, a thin ioctl layer (`TUNSETIFF`, `TUNSETCARRIER`,
//!   `TUNSETOFFLOAD`);
//! - [`offload`]: with the kernel's offloads on (`IFF_VNET_HDR`, `TUNSETOFFLOAD`), the virtio
//!   header of every read becomes the engine's request (a large send, a checksum to complete) and
//!   every indication's information becomes the virtio header of its write (a super-packet as one
//!   unit, a partial or valid checksum): TCP and UDP packets of up to 64 KiB move as one read, one
//!   ring slot and one write where the client negotiated offloads; the engine cuts them
//!   otherwise.
//!
//! Linux only. Creating a TUN device needs `CAP_NET_ADMIN`.

#![cfg(target_os = "linux")]

mod device;
pub mod offload;
mod pump;
mod side;

pub use device::{IfName, TunDevice, TunError};
pub use pump::{PumpStats, TunPump, MAX_PACKET, PUMP_BATCH, PUMP_BATCH_OFFLOAD};
pub use side::{SideStats, TunStackSide};
