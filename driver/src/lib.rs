//! # ringtun-driver
//!
//! The ringtun NDIS miniport, split the way a sans-IO protocol library is:
//!
//! - [`engine`]: every decision (registration, Send path, Receive path, session lifecycle,
//!   statistics), portable `no_std` + `alloc` code;
//! - [`platform`]: the small trait the engine needs from an OS;
//! - `host` (feature `host`): a platform on std threads whose stack side is pluggable — a
//!   scriptable fake stack for tests, benchmarks and the demo, or a Linux TUN device (the
//!   `ringtun-tun` crate);
//! - `windows` (feature `kernel`, Windows targets): the KMDF NDIS miniport shell that maps the
//!   platform trait to NDIS/WDM/KMDF and translates callbacks into engine calls.
#![no_std]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used, clippy::expect_used))]

extern crate alloc;

// std is linked for the host platform, for tests, and on non-Windows targets (so that the cdylib
// has a panic handler and an allocator there); the engine itself never uses it. For Windows
// targets without `host` the crate is `no_std` + `alloc`, as it runs in the kernel.
#[cfg(any(feature = "host", test, not(target_os = "windows")))]
extern crate std;

pub mod engine;
pub mod fallible;
pub mod platform;
pub mod security;

// The host platform runs in a process: its memory is the process heap's, not the kernel pool's,
// so the allocation rules of `fallible` (see the crate's clippy.toml) do not apply there.
#[cfg(feature = "host")]
#[allow(clippy::disallowed_methods)]
pub mod host;

#[cfg(all(target_os = "windows", feature = "kernel"))]
pub mod windows;

pub use ring_abi;
