//! The Windows kernel shell: a KMDF NDIS 6 miniport around the engine.
//!
//! The shell translates and nothing more. Every decision about rings, packets, sessions, OIDs and
//! request validity is an engine call:
//!
//! | Windows entry point | engine call |
//! |---|---|
//! | `IRP_MJ_DEVICE_CONTROL` (ours) | [`Adapter::device_control`](crate::engine::Adapter::device_control) |
//! | `IRP_MJ_CLOSE` | [`Adapter::close`](crate::engine::Adapter::close) |
//! | `IRP_MJ_PNP` query-remove / cancel-remove | [`Adapter::refuse_registrations`](crate::engine::Adapter::refuse_registrations) / [`accept_registrations`](crate::engine::Adapter::accept_registrations) |
//! | `IRP_MJ_PNP` surprise removal, `MiniportDevicePnPEventNotify` | [`Adapter::end_session_and_refuse_registrations`](crate::engine::Adapter::end_session_and_refuse_registrations) |
//! | process-exit notification | [`Adapter::process_exited`](crate::engine::Adapter::process_exited) |
//! | `MiniportSendNetBufferLists` | [`Adapter::transmit`](crate::engine::Adapter::transmit) |
//! | `MiniportReturnNetBufferLists` | [`Adapter::return_indications`](crate::engine::Adapter::return_indications) |
//! | `MiniportOidRequest` | [`Adapter::query_oid`](crate::engine::Adapter::query_oid), [`Adapter::set_oid`](crate::engine::Adapter::set_oid) |
//! | `MiniportDirectOidRequest`, `MiniportSynchronousOidRequest` | none: refused (`NDIS_STATUS_NOT_SUPPORTED`; `NDIS_STATUS_INVALID_OID` for another request type) |
//! | `MiniportPause` / `MiniportRestart` / `MiniportHaltEx` | [`Adapter::pause`](crate::engine::Adapter::pause) / [`restart`](crate::engine::Adapter::restart) / [`halt`](crate::engine::Adapter::halt) |
//! | consumer system thread | [`Session::run_receive`](crate::engine::Session::run_receive) |
//!
//! A reader can check that claim mechanically: no module under `windows/` imports `ring_abi`'s ring
//! types (`Ring`, `SharedRing`, packet headers, offload metadata) or reads ring memory; the only
//! `ring_abi` items used are the IOCTL codes (to route requests), [`ring_abi::CallerBitness`],
//! and the names of a large send's kind and a packet's transport ([`ring_abi::GsoKind`],
//! [`ring_abi::Transport`]) in the offload requests and indication details the engine exchanges
//! with the shell.
//!
//! Modules:
//! - [`ndis`]: the NDIS 6 declarations, with asserted layouts;
//! - [`kernel`]: small WDM helpers (MDL mapping, spin-lock calls per architecture, fallible boxes);
//! - [`platform`]: the [`Platform`](crate::platform::Platform) implementation (spin locks, KEVENTs,
//!   locked user pages, a system thread, NBL indications, link-state indications);
//! - [`miniport`]: `DriverEntry`, unload, and the miniport callbacks;
//! - [`dispatch`]: the IRP handlers chained in front of NDIS's, the access check, process exit;
//! - [`transmit`]: a chain of NBLs as an engine transmit batch;
//! - [`keywords`]: the standardized offload keywords read from the adapter's registry key at
//!   initialization, handed to the engine's mapping;
//! - [`offload`]: task offloads between NDIS's structures and NBL information and the engine's;
//! - [`oid`]: `NDIS_OID_REQUEST` to and from the engine's OID answers.

pub mod dispatch;
pub mod kernel;
pub mod keywords;
pub mod miniport;
pub mod ndis;
pub mod offload;
pub mod oid;
pub mod platform;
pub mod transmit;

#[cfg(feature = "host")]
compile_error!("the `kernel` and `host` features are exclusive on Windows targets");

// The kernel shell is a 64-bit driver: x64 and arm64, the targets the WDK crates build for. (On
// x86 the WDK declares callbacks and some exports `__stdcall`/`__fastcall`, and the NDIS layouts
// differ; none of that is declared here.) 32-bit *clients* are served by the 64-bit driver
// through WOW64 (see `dispatch::caller_bitness`).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the kernel shell builds only for x86_64 and aarch64 Windows targets");

extern crate wdk_panic;

#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

/// Pool tag of the driver's own NDIS and KMDF allocations (the NBL pool, the KMDF driver object):
/// 'rtun', little-endian as pool tags are shown. Rust heap allocations go through `wdk-alloc`,
/// which tags them with its own tag ('rust'); pool-usage tools and Driver Verifier's leak reports
/// show the driver's sessions, events and queues under that tag.
pub const POOL_TAG: u32 = u32::from_le_bytes(*b"rtun");
