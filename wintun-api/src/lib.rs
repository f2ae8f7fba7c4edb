//! # wintun (ringtun)
//!
//! Wintun 0.14's API over the ringtun client library: `wintun.dll` on Windows, `libwintun.so` on
//! Linux. A program written for Wintun's `wintun.dll` runs on ringtun by loading this library
//! instead; `Ringtun*` extensions give C programs ringtun's v2 rings (head and tail room, moving
//! and shrinking a packet inside its slot, batches, per-packet offload metadata, the write-space
//! wait) and the session's counters.
//!
//! The exports are portable: they check arguments, translate to the client library (the only ring
//! implementation) and report errors through the platform's last error. What depends on the
//! operating system (adapters, the driver, the last error, event handles) is in [`platform`].
//!
//! Names follow the C API: "receive" is what the client receives (the driver's Send ring),
//! "send" what it sends (the driver's Receive ring).
//!
//! ## Semantics kept from Wintun
//! - Allocation order is send order; packets are released in any order.
//! - Every call is thread-safe.
//! - The read-wait event belongs to the session: auto-reset, closed by `WintunEndSession`, never
//!   by the caller.
//! - Errors through the last error, with Wintun's codes: `ERROR_NO_MORE_ITEMS` (nothing to
//!   receive), `ERROR_HANDLE_EOF` (the session ended), `ERROR_INVALID_DATA` (a corrupt ring),
//!   `ERROR_BUFFER_OVERFLOW` (the send ring is full), `ERROR_INVALID_PARAMETER` (bad arguments),
//!   `ERROR_FILE_NOT_FOUND` (no driver loaded).
//!
//! ## The end of a session
//! When the driver ends a session (the adapter is closed or removed, the driver stops), every
//! receive returns `ERROR_HANDLE_EOF`, and each receive that reports the end signals the
//! read-wait event again first: the driver signals it once, an auto-reset event releases one
//! waiter per signal, and every released waiter passes the signal on. So every thread waiting on
//! the event wakes, in turn, and its next receive reports the end: with the Linux build's events
//! and with a real Windows auto-reset event alike, since nothing but the event's own semantics is
//! relied on. `WintunEndSession` must still come last, after every other thread has left the
//! session (as with Wintun: it frees the session and its event).

use core::ops::Range;
use core::ptr;
use std::time::Duration;

use ring_abi::{RingVersion, Room, MAX_RING_CAPACITY, MIN_RING_CAPACITY, OFFLOAD_META_SIZE};
use ringtun::backend::{Backend, DeviceError};
use ringtun::{Error, FallbackReason, RawSlot, Session, SessionConfig, VersionPreference};

pub mod ffi;
pub mod logger;
pub mod platform;
pub mod win32;

use ffi::{
    RingtunCapabilities, RingtunOffloadMeta, RingtunPacket, RingtunSessionConfig, RingtunSessionInfo,
    RingtunSessionStatistics, RINGTUN_FALLBACK_DRIVER_VERSION, RINGTUN_FALLBACK_NONE,
    RINGTUN_FALLBACK_NO_CAPABILITY_QUERY, RINGTUN_FALLBACK_REFUSED, RINGTUN_FALLBACK_UNSUPPORTED,
    RINGTUN_SESSION_DRIVER_FLAGS, RINGTUN_SESSION_OFFLOAD, RINGTUN_SESSION_RECEIVE_SPLIT,
    RINGTUN_SESSION_STATISTICS_V1_SIZE, RINGTUN_SESSION_V1_ONLY, RINGTUN_SESSION_WRITE_SPACE,
};
use platform::{ExportedEvent, PlatformAdapter, PlatformSystem};
use win32::*;

/// A driver version as the ABI packs it (`major << 16 | minor << 8 | patch`), in Wintun's format
/// (`major << 16 | minor`).
pub const fn wintun_driver_version(abi_version: u32) -> u32 {
    (abi_version & 0xFFFF_0000) | ((abi_version >> 8) & 0xFF)
}

type PlatformBackend = <platform::Adapter as PlatformAdapter>::Backend;

/// What a `WINTUN_ADAPTER_HANDLE` points at.
pub struct WintunAdapter {
    adapter: platform::Adapter,
}

impl WintunAdapter {
    /// The platform's adapter (for Rust callers of the library: tests and benchmarks).
    pub fn platform(&self) -> &platform::Adapter {
        &self.adapter
    }
}

/// What a `WINTUN_SESSION_HANDLE` points at.
pub struct WintunSession {
    /// Declared first: the event's handle goes before the session (and its event) do.
    read_wait: <platform::System as PlatformSystem>::ExportedEvent,
    session: Session<PlatformBackend>,
    /// Where a received packet's data starts in its slot (header and the exact head room): maps
    /// the pointer `WintunReleaseReceivePacket` gets back to its slot.
    receive_data_offset: u32,
    /// Bytes of a send-ring slot before the client's frame (the packet header, and the offload
    /// metadata block with offloads): maps a data (or frame) pointer to its slot.
    send_header: u32,
    /// The same for the receive ring: maps a frame pointer to its slot.
    receive_header: u32,
    /// Bytes of the offload metadata block in front of every frame (0 without offloads): part of
    /// the registered room, not of the room the client asked for.
    meta: u32,
    /// `RINGTUN_SESSION_*` flags in force.
    flags: u32,
}

/// `ERROR_*` for a client library error.
fn error_code(e: Error) -> u32 {
    match e {
        Error::RingFull => ERROR_BUFFER_OVERFLOW,
        Error::SessionEnded => ERROR_HANDLE_EOF,
        Error::CorruptRing(_) => ERROR_INVALID_DATA,
        Error::ShrinkNotLast | Error::OffloadsNotNegotiated => ERROR_NOT_SUPPORTED,
        Error::Oversize(_)
        | Error::RoomUnsupported { .. }
        | Error::InvalidRange
        | Error::UnknownSlot
        | Error::IncompatibleOptions
        | Error::Geometry(_) => ERROR_INVALID_PARAMETER,
        Error::Device(d) => device_error_code(d),
    }
}

/// `ERROR_*` for a device request's failure (what `DeviceIoControl` reports on Windows).
pub(crate) fn device_error_code(e: DeviceError) -> u32 {
    match e {
        DeviceError::InvalidDeviceRequest => ERROR_INVALID_FUNCTION,
        DeviceError::InvalidParameter => ERROR_INVALID_PARAMETER,
        DeviceError::AlreadyInitialized => ERROR_ALREADY_INITIALIZED,
        DeviceError::InsufficientResources => ERROR_NO_SYSTEM_RESOURCES,
        DeviceError::NotReady => ERROR_NOT_READY,
        DeviceError::BufferTooSmall => ERROR_INSUFFICIENT_BUFFER,
        DeviceError::AccessDenied => ERROR_ACCESS_DENIED,
        DeviceError::InvalidHandle => ERROR_INVALID_HANDLE,
        DeviceError::InvalidUserBuffer => ERROR_INVALID_USER_BUFFER,
        DeviceError::Os(code) => code,
    }
}

fn set_last_error(code: u32) {
    platform::System::set_last_error(code);
}

/// Sets the last error and returns a null pointer.
fn fail<T>(code: u32) -> *mut T {
    set_last_error(code);
    ptr::null_mut()
}

/// [`fail`] out of a hot path's way.
#[cold]
#[inline(never)]
fn fail_cold<T>(code: u32) -> *mut T {
    fail(code)
}

/// Sets the last error and returns `FALSE`.
fn fail_bool(code: u32) -> i32 {
    set_last_error(code);
    0
}

/// Reads a NUL-terminated UTF-16 string of 1 to `MAX_ADAPTER_NAME - 1` units: `ERROR_INVALID_PARAMETER`
/// for null or empty, `ERROR_BUFFER_OVERFLOW` for longer (Wintun's code for a name it cannot
/// hold).
///
/// # Safety
/// `s` is null or a NUL-terminated UTF-16 string.
unsafe fn adapter_name(s: *const u16) -> Result<Vec<u16>, u32> {
    if s.is_null() {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let mut out = Vec::new();
    for i in 0..MAX_ADAPTER_NAME {
        // SAFETY: a NUL-terminated string (caller's contract); reading stops at its NUL or
        // before, at the limit.
        let unit = unsafe { s.add(i).read() };
        if unit == 0 {
            return if out.is_empty() { Err(ERROR_INVALID_PARAMETER) } else { Ok(out) };
        }
        out.push(unit);
    }
    Err(ERROR_BUFFER_OVERFLOW)
}

/// The session behind a handle, or `ERROR_INVALID_PARAMETER` for null.
///
/// # Safety
/// `session` is null or a handle from `WintunStartSession` / `RingtunStartSession` not yet ended.
unsafe fn session_ref<'a>(session: *mut WintunSession) -> Option<&'a WintunSession> {
    // SAFETY: the caller's contract: a live handle (or null, refused here).
    let s = unsafe { session.as_ref() };
    if s.is_none() {
        set_last_error(ERROR_INVALID_PARAMETER);
    }
    s
}

/// The adapter behind a handle, or `ERROR_INVALID_PARAMETER` for null.
///
/// # Safety
/// `adapter` is null or a handle from `WintunCreateAdapter` / `WintunOpenAdapter` not yet closed.
unsafe fn adapter_ref<'a>(adapter: *mut WintunAdapter) -> Option<&'a WintunAdapter> {
    // SAFETY: the caller's contract.
    let a = unsafe { adapter.as_ref() };
    if a.is_none() {
        set_last_error(ERROR_INVALID_PARAMETER);
    }
    a
}

// ----- adapters and the driver ------------------------------------------------------------

/// `WintunCreateAdapter`: creates an adapter named `name` of tunnel type `tunnel_type`, with
/// `requested_guid` as its network GUID if not null.
///
/// # Safety
/// `name` and `tunnel_type` are null or NUL-terminated UTF-16 strings; `requested_guid` is null
/// or points to a GUID.
#[no_mangle]
pub unsafe extern "system" fn WintunCreateAdapter(
    name: *const u16,
    tunnel_type: *const u16,
    requested_guid: *const Guid,
) -> *mut WintunAdapter {
    // SAFETY: forwarded from the caller's contract.
    let (name, tunnel_type) = match unsafe { (adapter_name(name), adapter_name(tunnel_type)) } {
        (Ok(n), Ok(t)) => (n, t),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    // SAFETY: null or a GUID (caller's contract).
    let guid = unsafe { requested_guid.as_ref() }.copied();
    match platform::Adapter::create(&name, &tunnel_type, guid) {
        Ok(adapter) => Box::into_raw(Box::new(WintunAdapter { adapter })),
        Err(e) => {
            logger::error(format_args!("Failed to create adapter {}: error {}", String::from_utf16_lossy(&name), e.0));
            fail(e.0)
        }
    }
}

/// `WintunOpenAdapter`: opens the adapter named `name`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "system" fn WintunOpenAdapter(name: *const u16) -> *mut WintunAdapter {
    // SAFETY: forwarded from the caller's contract.
    let name = match unsafe { adapter_name(name) } {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    match platform::Adapter::open(&name) {
        Ok(adapter) => Box::into_raw(Box::new(WintunAdapter { adapter })),
        Err(e) => fail(e.0),
    }
}

/// `WintunCloseAdapter`: releases the handle; removes the adapter if this handle created it.
///
/// # Safety
/// `adapter` is null or a handle not yet closed; no other call uses it during or after this one.
#[no_mangle]
pub unsafe extern "system" fn WintunCloseAdapter(adapter: *mut WintunAdapter) {
    if adapter.is_null() {
        return;
    }
    // SAFETY: a handle from `Box::into_raw` in this library, closed once (caller's contract).
    let adapter = unsafe { Box::from_raw(adapter) };
    adapter.adapter.close();
}

/// `WintunDeleteDriver`: keeps the driver package by default (this library cannot install it
/// again) and succeeds; removes it as Wintun does where the administrator opted in
/// ([`platform::driver_deletion`]).
#[no_mangle]
pub extern "system" fn WintunDeleteDriver() -> i32 {
    match platform::System::delete_driver() {
        Ok(()) => 1,
        Err(e) => fail_bool(e.0),
    }
}

/// `WintunGetAdapterLUID`: writes the adapter's `NET_LUID` to `luid`.
///
/// # Safety
/// `adapter` is null or a live adapter handle; `luid` is null or points to a `NET_LUID`.
#[no_mangle]
pub unsafe extern "system" fn WintunGetAdapterLUID(adapter: *mut WintunAdapter, luid: *mut u64) {
    // SAFETY: forwarded from the caller's contract.
    let Some(adapter) = (unsafe { adapter_ref(adapter) }) else { return };
    if luid.is_null() {
        set_last_error(ERROR_INVALID_PARAMETER);
        return;
    }
    // SAFETY: `luid` points to a NET_LUID, 8 bytes (caller's contract); written unaligned-safe.
    unsafe { luid.write_unaligned(adapter.adapter.luid()) };
}

/// `WintunGetRunningDriverVersion`: the running driver's version (`major << 16 | minor`), or 0
/// with `ERROR_FILE_NOT_FOUND` when none is loaded.
#[no_mangle]
pub extern "system" fn WintunGetRunningDriverVersion() -> u32 {
    match platform::System::running_driver_version() {
        Ok(version) => version,
        Err(e) => {
            set_last_error(e.0);
            0
        }
    }
}

/// `WintunSetLogger`: the process-wide logger (null: none).
#[no_mangle]
pub extern "system" fn WintunSetLogger(new_logger: Option<logger::LoggerCallback>) {
    logger::set(new_logger);
}

// ----- sessions ---------------------------------------------------------------------------

fn valid_capacity(capacity: u32) -> bool {
    capacity.is_power_of_two() && (MIN_RING_CAPACITY..=MAX_RING_CAPACITY).contains(&capacity)
}

fn start_session(adapter: &WintunAdapter, config: SessionConfig, flags: u32) -> *mut WintunSession {
    let backend = match adapter.adapter.open_backend() {
        Ok(b) => b,
        Err(e) => {
            logger::error(format_args!("Failed to open the adapter's device: error {}", e.0));
            return fail(e.0);
        }
    };
    let session = match Session::open(backend, config) {
        Ok(s) => s,
        Err(e) => {
            logger::error(format_args!("Failed to register rings: {e}"));
            return fail(error_code(e));
        }
    };
    if let Some(reason) = session.fallback_reason() {
        logger::warn(format_args!("v2 rings unavailable ({reason:?}): the session runs on v1 rings"));
    }
    let read_wait = match platform::System::export_event(session.read_wait_event()) {
        Ok(e) => e,
        Err(e) => return fail(e.0),
    };
    let receive = *session.incoming_ring().geometry();
    let send = *session.outgoing_ring().geometry();
    let granted = |flag: u32, on: bool| if on { flag } else { 0 };
    let flags = match session.version() {
        RingVersion::V2 => {
            (flags & RINGTUN_SESSION_RECEIVE_SPLIT)
                | granted(RINGTUN_SESSION_OFFLOAD, session.offloads())
                | granted(RINGTUN_SESSION_WRITE_SPACE, session.write_space_signal())
        }
        RingVersion::V1 => 0,
    } | (flags & RINGTUN_SESSION_V1_ONLY);
    let meta = if session.offloads() { OFFLOAD_META_SIZE } else { 0 };
    let handle = WintunSession {
        read_wait,
        // The registered head room includes the metadata block.
        receive_data_offset: receive.packet_header_size() + u32::from(receive.room().headroom),
        send_header: send.packet_header_size() + meta,
        receive_header: receive.packet_header_size() + meta,
        meta,
        session,
        flags,
    };
    Box::into_raw(Box::new(handle))
}

/// `WintunStartSession`: registers Wintun's (v1) rings of `capacity` bytes each.
///
/// # Safety
/// `adapter` is null or a live adapter handle.
#[no_mangle]
pub unsafe extern "system" fn WintunStartSession(adapter: *mut WintunAdapter, capacity: u32) -> *mut WintunSession {
    // SAFETY: forwarded from the caller's contract.
    let Some(adapter) = (unsafe { adapter_ref(adapter) }) else { return ptr::null_mut() };
    if !valid_capacity(capacity) {
        return fail(ERROR_INVALID_PARAMETER);
    }
    let config = SessionConfig {
        version: VersionPreference::V1Only,
        incoming_capacity: capacity,
        outgoing_capacity: capacity,
        ..SessionConfig::default()
    };
    start_session(adapter, config, 0)
}

/// `WintunEndSession`: ends the session and frees it (its read-wait event too).
///
/// # Safety
/// `session` is null or a live session handle; no other call uses it during or after this one.
#[no_mangle]
pub unsafe extern "system" fn WintunEndSession(session: *mut WintunSession) {
    if session.is_null() {
        return;
    }
    // SAFETY: a handle from `Box::into_raw` in this library, ended once (caller's contract).
    drop(unsafe { Box::from_raw(session) });
}

/// `WintunGetReadWaitEvent`: the session's read-wait event (auto-reset; do not close it).
///
/// # Safety
/// `session` is null or a live session handle.
#[no_mangle]
pub unsafe extern "system" fn WintunGetReadWaitEvent(session: *mut WintunSession) -> Handle {
    // SAFETY: forwarded from the caller's contract.
    match unsafe { session_ref(session) } {
        Some(s) => s.read_wait.handle(),
        None => ptr::null_mut(),
    }
}

// ----- packets: Wintun's calls ----------------------------------------------------------------

/// The next received packet, detached; with nothing there, the read-wait event is armed first
/// (v2 rings signal it only for a client that declared itself alertable), so that a caller that
/// then waits on it wakes for the next packet. A packet that arrives while arming is returned.
#[inline(always)]
fn receive_or_arm(s: &WintunSession) -> Result<Option<RawSlot>, Error> {
    match s.session.receive_raw() {
        Ok(None) => arm_or_receive(s),
        other => other,
    }
}

/// [`receive_or_arm`] once the ring was found empty: arms the read-wait event, or receives the
/// packet that arrived meanwhile.
#[cold]
#[inline(never)]
fn arm_or_receive(s: &WintunSession) -> Result<Option<RawSlot>, Error> {
    loop {
        if s.session.arm_read_wait() {
            return Ok(None);
        }
        if let Some(raw) = s.session.receive_raw()? {
            return Ok(Some(raw));
        }
    }
}

/// `WintunReceivePacket`: the next received packet, in place, and its size; null with
/// `ERROR_NO_MORE_ITEMS`, `ERROR_HANDLE_EOF` or `ERROR_INVALID_DATA`.
///
/// # Safety
/// `session` is null or a live session handle; `packet_size` is null or points to a `DWORD`.
#[no_mangle]
pub unsafe extern "system" fn WintunReceivePacket(session: *mut WintunSession, packet_size: *mut u32) -> *mut u8 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return ptr::null_mut() };
    if packet_size.is_null() {
        return fail(ERROR_INVALID_PARAMETER);
    }
    let (data, len) = match s.session.receive_data_raw() {
        Ok(Some(packet)) => packet,
        Ok(None) => match arm_or_receive(s) {
            Ok(Some(raw)) => (raw.frame.wrapping_add(raw.data_start as usize), raw.data_len),
            Ok(None) => return fail(ERROR_NO_MORE_ITEMS),
            Err(e) => return fail_cold(error_code(e)),
        },
        Err(e) => return fail_cold(error_code(e)),
    };
    // SAFETY: `packet_size` points to a DWORD (caller's contract).
    unsafe { packet_size.write_unaligned(len) };
    data
}

/// `WintunReleaseReceivePacket`: gives a received packet's slot back. A pointer that is not a
/// packet the caller holds is ignored (`ERROR_INVALID_PARAMETER`, logged).
///
/// # Safety
/// `session` is null or a live session handle.
#[no_mangle]
pub unsafe extern "system" fn WintunReleaseReceivePacket(session: *mut WintunSession, packet: *const u8) {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return };
    if let Err(e) = s.session.release_raw_at(packet, s.receive_data_offset) {
        release_refused(e);
    }
}

/// A release refused: logged, and the last error set.
#[cold]
#[inline(never)]
fn release_refused(e: Error) {
    logger::error(format_args!("Release of a packet the session did not hand out: {e}"));
    set_last_error(error_code(e));
}

/// `WintunAllocateSendPacket`: a slot for a packet of exactly `packet_size` bytes (1 to 0xFFFF),
/// in the order packets will be sent; null with `ERROR_BUFFER_OVERFLOW` (ring full),
/// `ERROR_HANDLE_EOF`, `ERROR_INVALID_DATA` or `ERROR_INVALID_PARAMETER`.
///
/// # Safety
/// `session` is null or a live session handle.
#[no_mangle]
pub unsafe extern "system" fn WintunAllocateSendPacket(session: *mut WintunSession, packet_size: u32) -> *mut u8 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return ptr::null_mut() };
    match s.session.allocate_data_raw(packet_size as usize) {
        Ok(packet) => packet,
        Err(e) => fail(error_code(e)),
    }
}

/// `WintunSendPacket`: sends an allocated packet (published once every packet allocated before
/// it is sent too). A pointer that is not a packet the caller holds is ignored
/// (`ERROR_INVALID_PARAMETER`, logged).
///
/// # Safety
/// `session` is null or a live session handle.
#[no_mangle]
pub unsafe extern "system" fn WintunSendPacket(session: *mut WintunSession, packet: *const u8) {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return };
    if let Err(e) = s.session.send_raw_at(packet, s.send_header) {
        send_failed(e);
    }
}

/// A send that failed: the last error set, and the logger told unless the session has ended.
#[cold]
#[inline(never)]
fn send_failed(e: Error) {
    match e {
        // Published, but the session has ended: as with Wintun, the packet is simply gone.
        Error::SessionEnded => set_last_error(ERROR_HANDLE_EOF),
        e => {
            logger::error(format_args!("Send of a packet the session did not allocate: {e}"));
            set_last_error(error_code(e));
        }
    }
}

// ----- the Ringtun extensions ---------------------------------------------------------------

/// Checks a `Size`-prefixed struct the caller passes: at least `N` bytes.
fn struct_size_ok<T>(size: u32) -> bool {
    size as usize >= core::mem::size_of::<T>()
}

/// `RingtunGetCapabilities`: what the adapter's driver offers. A driver that does not answer the
/// query (Wintun's, an old ringtun) is reported as ring version 1 with no room and no flags.
///
/// # Safety
/// `adapter` is null or a live adapter handle; `capabilities` is null or points to a
/// `RINGTUN_CAPABILITIES` whose `Size` is set.
#[no_mangle]
pub unsafe extern "system" fn RingtunGetCapabilities(
    adapter: *mut WintunAdapter,
    capabilities: *mut RingtunCapabilities,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(adapter) = (unsafe { adapter_ref(adapter) }) else { return 0 };
    // SAFETY: null or a RINGTUN_CAPABILITIES (caller's contract).
    let Some(out) = (unsafe { capabilities.as_mut() }) else { return fail_bool(ERROR_INVALID_PARAMETER) };
    if !struct_size_ok::<RingtunCapabilities>(out.size) {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    let backend = match adapter.adapter.open_backend() {
        Ok(b) => b,
        Err(e) => return fail_bool(e.0),
    };
    let size = out.size;
    *out = match backend.query_capabilities() {
        Ok(c) => RingtunCapabilities {
            size,
            max_version: c.max_version,
            supported_flags: c.supported_flags & RINGTUN_SESSION_DRIVER_FLAGS,
            max_head_room: c.max_headroom,
            max_tail_room: c.max_tailroom,
            min_capacity: c.min_capacity,
            max_capacity: c.max_capacity,
            driver_version: c.driver_version,
        },
        Err(DeviceError::InvalidDeviceRequest) => RingtunCapabilities {
            size,
            max_version: 1,
            min_capacity: MIN_RING_CAPACITY,
            max_capacity: MAX_RING_CAPACITY,
            ..RingtunCapabilities::default()
        },
        Err(e) => return fail_bool(device_error_code(e)),
    };
    1
}

/// `RingtunStartSession`: a session with the capacities, room and flags of `config`: v2 rings
/// where the driver has them, v1 otherwise (`RingtunGetSessionInfo` says which, and why).
///
/// # Safety
/// `adapter` is null or a live adapter handle; `config` is null or points to a
/// `RINGTUN_SESSION_CONFIG` whose `Size` is set.
#[no_mangle]
pub unsafe extern "system" fn RingtunStartSession(
    adapter: *mut WintunAdapter,
    config: *const RingtunSessionConfig,
) -> *mut WintunSession {
    // SAFETY: forwarded from the caller's contract.
    let Some(adapter) = (unsafe { adapter_ref(adapter) }) else { return ptr::null_mut() };
    // SAFETY: null or a RINGTUN_SESSION_CONFIG (caller's contract).
    let Some(c) = (unsafe { config.as_ref() }) else { return fail(ERROR_INVALID_PARAMETER) };
    let known = RINGTUN_SESSION_DRIVER_FLAGS | RINGTUN_SESSION_V1_ONLY;
    if !struct_size_ok::<RingtunSessionConfig>(c.size)
        || c.flags & !known != 0
        || !valid_capacity(c.receive_capacity)
        || !valid_capacity(c.send_capacity)
    {
        return fail(ERROR_INVALID_PARAMETER);
    }
    let config = SessionConfig {
        version: if c.flags & RINGTUN_SESSION_V1_ONLY != 0 {
            VersionPreference::V1Only
        } else {
            VersionPreference::PreferV2
        },
        incoming_capacity: c.receive_capacity,
        outgoing_capacity: c.send_capacity,
        incoming_room: Room::new(c.receive_head_room, c.receive_tail_room),
        outgoing_room: Room::new(c.send_head_room, c.send_tail_room),
        receive_split: c.flags & RINGTUN_SESSION_RECEIVE_SPLIT != 0,
        offload: c.flags & RINGTUN_SESSION_OFFLOAD != 0,
        write_space: c.flags & RINGTUN_SESSION_WRITE_SPACE != 0,
    };
    start_session(adapter, config, c.flags)
}

/// `RingtunGetSessionInfo`: the ring version in use, why v1 if v2 was asked for, the flags,
/// capacities and room in force.
///
/// # Safety
/// `session` is null or a live session handle; `info` is null or points to a
/// `RINGTUN_SESSION_INFO` whose `Size` is set.
#[no_mangle]
pub unsafe extern "system" fn RingtunGetSessionInfo(session: *mut WintunSession, info: *mut RingtunSessionInfo) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    // SAFETY: null or a RINGTUN_SESSION_INFO (caller's contract).
    let Some(out) = (unsafe { info.as_mut() }) else { return fail_bool(ERROR_INVALID_PARAMETER) };
    if !struct_size_ok::<RingtunSessionInfo>(out.size) {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    let (fallback, fallback_detail) = match s.session.fallback_reason() {
        None => (RINGTUN_FALLBACK_NONE, 0),
        Some(FallbackReason::NoCapabilityQuery(e)) => (RINGTUN_FALLBACK_NO_CAPABILITY_QUERY, device_error_code(e)),
        Some(FallbackReason::DriverMaxVersion(v)) => (RINGTUN_FALLBACK_DRIVER_VERSION, v),
        Some(FallbackReason::Unsupported) => (RINGTUN_FALLBACK_UNSUPPORTED, 0),
        Some(FallbackReason::V2Refused(e)) => (RINGTUN_FALLBACK_REFUSED, device_error_code(e)),
    };
    let receive = s.session.incoming_ring().geometry();
    let send = s.session.outgoing_ring().geometry();
    *out = RingtunSessionInfo {
        size: out.size,
        version: match s.session.version() {
            RingVersion::V1 => 1,
            RingVersion::V2 => 2,
        },
        fallback,
        fallback_detail,
        flags: s.flags,
        receive_capacity: receive.capacity(),
        send_capacity: send.capacity(),
        // The client's room, without the offload metadata block.
        receive_head_room: receive.room().headroom.saturating_sub(s.meta as u16),
        receive_tail_room: receive.room().tailroom,
        send_head_room: s.session.outgoing_room().headroom,
        send_tail_room: s.session.outgoing_room().tailroom,
    };
    1
}

/// `RingtunGetSessionStatistics`: what the session moved, the packet bytes the library copied
/// (only moves of sent data on v1 rings: 0 means every packet byte stayed in place), and the
/// send-ring full and write-space counters. A caller built with the first version of the struct
/// (`Size` 48, without the write-space counters) gets that much.
///
/// # Safety
/// `session` is null or a live session handle; `statistics` is null or points to a
/// `RINGTUN_SESSION_STATISTICS` of at least `Size` bytes, `Size` set.
#[no_mangle]
pub unsafe extern "system" fn RingtunGetSessionStatistics(
    session: *mut WintunSession,
    statistics: *mut RingtunSessionStatistics,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    if statistics.is_null() {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: `Size` is the struct's first DWORD (caller's contract); the rest may be shorter than
    // this version's struct, so no reference to the whole is formed.
    let size = unsafe { statistics.cast::<u32>().read_unaligned() };
    if size < RINGTUN_SESSION_STATISTICS_V1_SIZE {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    let c = s.session.counters();
    let full = RingtunSessionStatistics {
        size,
        reserved: 0,
        sent_packets: c.sent_packets,
        sent_bytes: c.sent_bytes,
        received_packets: c.received_packets,
        received_bytes: c.received_bytes,
        copied_bytes: c.copied_bytes,
        send_ring_full: c.outgoing_ring_full,
        space_waits: c.space_waits,
        space_found: c.space_found,
        space_timeouts: c.space_timeouts,
        space_signals: c.space_signals,
    };
    let len = (size as usize).min(core::mem::size_of::<RingtunSessionStatistics>());
    // SAFETY: the caller's struct holds `Size` bytes (its contract), `len` is at most that and at
    // most this struct's size; a local does not overlap the caller's memory.
    unsafe { ptr::copy_nonoverlapping(ptr::from_ref(&full).cast::<u8>(), statistics.cast::<u8>(), len) };
    1
}

/// A raw slot as a `RINGTUN_PACKET` (both frames begin after the offload metadata block, if any).
fn packet_of(raw: RawSlot) -> RingtunPacket {
    RingtunPacket { frame: raw.frame, frame_size: raw.frame_len, offset: raw.data_start, size: raw.data_len }
}

/// `RingtunReceivePacketEx`: the next received packet with its head and tail room.
///
/// # Safety
/// `session` is null or a live session handle; `packet` is null or points to a `RINGTUN_PACKET`.
#[no_mangle]
pub unsafe extern "system" fn RingtunReceivePacketEx(session: *mut WintunSession, packet: *mut RingtunPacket) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    if packet.is_null() {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    match receive_or_arm(s) {
        Ok(Some(raw)) => {
            // SAFETY: `packet` points to a RINGTUN_PACKET (caller's contract).
            unsafe { packet.write_unaligned(packet_of(raw)) };
            1
        }
        Ok(None) => fail_bool(ERROR_NO_MORE_ITEMS),
        Err(e) => fail_bool(error_code(e)),
    }
}

/// `RingtunReceivePackets`: up to `count` received packets under one lock; returns how many, or
/// 0 with `ERROR_NO_MORE_ITEMS`, `ERROR_HANDLE_EOF` or `ERROR_INVALID_DATA`.
///
/// # Safety
/// `session` is null or a live session handle; `packets` points to `count` `RINGTUN_PACKET`s.
#[no_mangle]
pub unsafe extern "system" fn RingtunReceivePackets(
    session: *mut WintunSession,
    packets: *mut RingtunPacket,
    count: u32,
) -> u32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    if packets.is_null() || count == 0 {
        set_last_error(ERROR_INVALID_PARAMETER);
        return 0;
    }
    let mut next = packets;
    let mut write = |raw: RawSlot| {
        // SAFETY: `packets` holds `count` entries (caller's contract) and at most `count` are
        // written, one after the other.
        unsafe {
            next.write_unaligned(packet_of(raw));
            next = next.add(1);
        }
    };
    let received = loop {
        match s.session.receive_raw_many(count as usize, &mut write) {
            // Nothing there: arm the read-wait event, unless a packet arrived meanwhile.
            Ok(0) if !s.session.arm_read_wait() => continue,
            other => break other,
        }
    };
    match received {
        Ok(0) => {
            set_last_error(ERROR_NO_MORE_ITEMS);
            0
        }
        Ok(n) => n as u32,
        Err(e) => {
            set_last_error(error_code(e));
            0
        }
    }
}

/// `RingtunReleaseReceivePackets`: releases `count` received packets under one lock with one
/// store of the ring's head. Returns how many were released before the first entry that is not a
/// packet the caller holds (`ERROR_INVALID_PARAMETER`; later valid entries are released too).
///
/// # Safety
/// `session` is null or a live session handle; `packets` points to `count` `RINGTUN_PACKET`s.
#[no_mangle]
pub unsafe extern "system" fn RingtunReleaseReceivePackets(
    session: *mut WintunSession,
    packets: *const RingtunPacket,
    count: u32,
) -> u32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    if packets.is_null() && count != 0 {
        set_last_error(ERROR_INVALID_PARAMETER);
        return 0;
    }
    // SAFETY: `packets` points to `count` entries (caller's contract; null only with 0).
    let list = if count == 0 { &[][..] } else { unsafe { core::slice::from_raw_parts(packets, count as usize) } };
    let outcome = s.session.release_raw_many_at(list.iter().map(|p| p.frame.cast_const()), s.receive_header);
    if let Some(e) = outcome.error {
        set_last_error(error_code(e));
    }
    outcome.done as u32
}

/// Allocates `count` slots per the extension's rules, handing each to `each`: v2 reserves
/// `head_room` and `tail_room` around a `max_size`-byte packet; v1 (no room in the ring) reserves
/// one packet of `head_room + max_size + tail_room` bytes and presents the same frame.
fn allocate_ex(
    s: &WintunSession,
    count: usize,
    max_size: u32,
    head_room: u16,
    tail_room: u16,
    mut each: impl FnMut(RingtunPacket),
) -> Result<usize, Error> {
    match s.session.version() {
        RingVersion::V2 => {
            s.session.allocate_raw_many(count, max_size as usize, head_room, tail_room, |raw| each(packet_of(raw)))
        }
        RingVersion::V1 => {
            let frame = max_size as usize + usize::from(head_room) + usize::from(tail_room);
            s.session.allocate_raw_many(count, frame, 0, 0, |raw| {
                each(RingtunPacket { offset: u32::from(head_room), size: max_size, ..packet_of(raw) })
            })
        }
    }
}

/// `RingtunAllocateSendPacketEx`: a slot for a packet of at most `max_size` bytes with `head_room`
/// bytes before it and at least `tail_room` after, in send order. The packet may then be moved
/// and shrunk inside the frame (`Offset`, `Size`) before `RingtunSendPacketEx`. On v1 rings the
/// frame is one packet of `head_room + max_size + tail_room` bytes: a packet that ends up not
/// starting at the frame's start is moved there when sent (a copy, counted), and only the last
/// allocated packet may change length.
///
/// # Safety
/// `session` is null or a live session handle; `packet` is null or points to a `RINGTUN_PACKET`.
#[no_mangle]
pub unsafe extern "system" fn RingtunAllocateSendPacketEx(
    session: *mut WintunSession,
    max_size: u32,
    head_room: u16,
    tail_room: u16,
    packet: *mut RingtunPacket,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    if packet.is_null() {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: `packet` points to a RINGTUN_PACKET (caller's contract).
    match allocate_ex(s, 1, max_size, head_room, tail_room, |p| unsafe { packet.write_unaligned(p) }) {
        Ok(_) => 1,
        Err(e) => fail_bool(error_code(e)),
    }
}

/// `RingtunAllocateSendPackets`: up to `count` slots as `RingtunAllocateSendPacketEx` makes them,
/// under one lock; returns how many (fewer when the ring fills), or 0 with the error.
///
/// # Safety
/// `session` is null or a live session handle; `packets` points to `count` `RINGTUN_PACKET`s.
#[no_mangle]
pub unsafe extern "system" fn RingtunAllocateSendPackets(
    session: *mut WintunSession,
    max_size: u32,
    head_room: u16,
    tail_room: u16,
    packets: *mut RingtunPacket,
    count: u32,
) -> u32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    if packets.is_null() || count == 0 {
        set_last_error(ERROR_INVALID_PARAMETER);
        return 0;
    }
    let mut next = packets;
    let write = |p: RingtunPacket| {
        // SAFETY: `packets` holds `count` entries (caller's contract) and at most `count` are
        // written, one after the other.
        unsafe {
            next.write_unaligned(p);
            next = next.add(1);
        }
    };
    match allocate_ex(s, count as usize, max_size, head_room, tail_room, write) {
        Ok(n) => n as u32,
        Err(e) => {
            set_last_error(error_code(e));
            0
        }
    }
}

/// The slot and data range a `RINGTUN_PACKET` names.
fn send_item(s: &WintunSession, p: &RingtunPacket) -> (u32, Option<Range<usize>>) {
    let slot =
        s.session.outgoing_slot_at(p.frame, s.send_header).unwrap_or(s.session.outgoing_ring().geometry().capacity());
    let start = p.offset as usize;
    (slot, Some(start..start.saturating_add(p.size as usize)))
}

/// `RingtunSendPacketEx`: sends a slot from `RingtunAllocateSendPacket(s)Ex` with its packet at
/// `Offset`, `Size` bytes long, inside the frame. On failure (`ERROR_INVALID_PARAMETER`: not a
/// slot the caller holds, or a range outside the frame; `ERROR_NOT_SUPPORTED`: a v1 slot that is
/// not the last allocated cannot change length) the slot stays the caller's.
///
/// # Safety
/// `session` is null or a live session handle; `packet` is null or points to a `RINGTUN_PACKET`.
#[no_mangle]
pub unsafe extern "system" fn RingtunSendPacketEx(session: *mut WintunSession, packet: *const RingtunPacket) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    // SAFETY: null or a RINGTUN_PACKET (caller's contract).
    let Some(p) = (unsafe { packet.as_ref() }) else { return fail_bool(ERROR_INVALID_PARAMETER) };
    let (slot, range) = send_item(s, p);
    match s.session.send_raw(slot, range) {
        Ok(()) => 1,
        Err(e) => fail_bool(error_code(e)),
    }
}

/// `RingtunSendPackets`: sends `count` slots in order under one lock with one publication; stops
/// at the first that cannot be sent (it and the later ones stay the caller's) and returns how
/// many were sent, with the reason in the last error.
///
/// # Safety
/// `session` is null or a live session handle; `packets` points to `count` `RINGTUN_PACKET`s.
#[no_mangle]
pub unsafe extern "system" fn RingtunSendPackets(
    session: *mut WintunSession,
    packets: *const RingtunPacket,
    count: u32,
) -> u32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    if packets.is_null() && count != 0 {
        set_last_error(ERROR_INVALID_PARAMETER);
        return 0;
    }
    // SAFETY: `packets` points to `count` entries (caller's contract; null only with 0).
    let list = if count == 0 { &[][..] } else { unsafe { core::slice::from_raw_parts(packets, count as usize) } };
    let outcome = s.session.send_raw_many(list.iter().map(|p| send_item(s, p)));
    if let Some(e) = outcome.error {
        set_last_error(error_code(e));
    }
    outcome.done as u32
}

/// `RingtunCancelSendPacket`: gives an allocated slot back unsent (v2: an empty slot the driver
/// skips; v1: the last allocated slot is taken back, any other is sent as a packet the driver
/// drops).
///
/// # Safety
/// `session` is null or a live session handle; `packet` is null or points to a `RINGTUN_PACKET`.
#[no_mangle]
pub unsafe extern "system" fn RingtunCancelSendPacket(
    session: *mut WintunSession,
    packet: *const RingtunPacket,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    // SAFETY: null or a RINGTUN_PACKET (caller's contract).
    let Some(p) = (unsafe { packet.as_ref() }) else { return fail_bool(ERROR_INVALID_PARAMETER) };
    let (slot, _) = send_item(s, p);
    match s.session.cancel_raw(slot) {
        Ok(()) => 1,
        Err(e) => fail_bool(error_code(e)),
    }
}

/// `RingtunShrinkSendPacket`: sends a packet from `WintunAllocateSendPacket` cut to its first
/// `packet_size` bytes. On v1 rings (Wintun's, with any driver) only the last allocated packet
/// can be cut (`ERROR_NOT_SUPPORTED` otherwise, and the packet stays the caller's); on v2 any.
///
/// # Safety
/// `session` is null or a live session handle.
#[no_mangle]
pub unsafe extern "system" fn RingtunShrinkSendPacket(
    session: *mut WintunSession,
    packet: *const u8,
    packet_size: u32,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    let Some(slot) = s.session.outgoing_slot_at(packet, s.send_header) else {
        return fail_bool(ERROR_INVALID_PARAMETER);
    };
    match s.session.send_raw(slot, Some(0..packet_size as usize)) {
        Ok(()) => 1,
        Err(e) => fail_bool(error_code(e)),
    }
}

// ----- the write-space wait ------------------------------------------------------------------

/// The longest wait handed to the client library at once: `INFINITE` waits in such steps.
const LONGEST_WAIT: Duration = Duration::from_millis(INFINITE as u64 - 1);

/// `RingtunWaitForSendSpace`: waits up to `milliseconds` (`INFINITE`: no limit) until a slot as
/// `RingtunAllocateSendPacketEx(max_size, head_room, tail_room)` makes it fits in the send ring.
/// TRUE when it does (nothing is reserved: allocate next; another thread may take the room
/// first); FALSE with `ERROR_TIMEOUT` when the time is up, `ERROR_HANDLE_EOF` when the session
/// ended, `ERROR_INVALID_PARAMETER` for a slot no allocation could make. With the write-space
/// signal (`RINGTUN_SESSION_WRITE_SPACE` granted) the thread sleeps until the driver frees space;
/// without it, the ring is looked at again every millisecond.
///
/// # Safety
/// `session` is null or a live session handle.
#[no_mangle]
pub unsafe extern "system" fn RingtunWaitForSendSpace(
    session: *mut WintunSession,
    max_size: u32,
    head_room: u16,
    tail_room: u16,
    milliseconds: u32,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    // The slot `allocate_ex` would reserve.
    let (len, head_room, tail_room) = match s.session.version() {
        RingVersion::V2 => (max_size as usize, head_room, tail_room),
        RingVersion::V1 => (max_size as usize + usize::from(head_room) + usize::from(tail_room), 0, 0),
    };
    let timeout = Duration::from_millis(u64::from(milliseconds)).min(LONGEST_WAIT);
    loop {
        match s.session.wait_for_send_space(len, head_room, tail_room, timeout) {
            Ok(true) => return 1,
            Ok(false) if milliseconds == INFINITE => continue,
            Ok(false) => return fail_bool(ERROR_TIMEOUT),
            Err(e) => return fail_bool(error_code(e)),
        }
    }
}

// ----- per-packet offload metadata ----------------------------------------------------------

/// `RingtunGetReceivePacketOffload`: the offload metadata of a received packet the caller holds
/// (from `RingtunReceivePacketEx` / `RingtunReceivePackets`), as the driver wrote it; all zero (a
/// plain packet) in a session without offloads. `ERROR_INVALID_PARAMETER` for a packet the
/// caller does not hold.
///
/// # Safety
/// `session` is null or a live session handle; `packet` is null or points to a `RINGTUN_PACKET`;
/// `meta` is null or points to a `RINGTUN_OFFLOAD_META`.
#[no_mangle]
pub unsafe extern "system" fn RingtunGetReceivePacketOffload(
    session: *mut WintunSession,
    packet: *const RingtunPacket,
    meta: *mut RingtunOffloadMeta,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    // SAFETY: null or a RINGTUN_PACKET (caller's contract).
    let Some(p) = (unsafe { packet.as_ref() }) else { return fail_bool(ERROR_INVALID_PARAMETER) };
    if meta.is_null() {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    let capacity = s.session.incoming_ring().geometry().capacity();
    let slot = s.session.incoming_slot_at(p.frame, s.receive_header).unwrap_or(capacity);
    match s.session.incoming_offload_raw(slot) {
        Ok(m) => {
            // SAFETY: `meta` points to a RINGTUN_OFFLOAD_META (caller's contract).
            unsafe { meta.write_unaligned(m.into()) };
            1
        }
        Err(e) => fail_bool(error_code(e)),
    }
}

/// `RingtunGetSendPacketOffload`: the offload metadata of an allocated slot the caller holds:
/// what `RingtunSetSendPacketOffload` set last, all zero for a new slot or without offloads.
///
/// # Safety
/// As [`RingtunGetReceivePacketOffload`].
#[no_mangle]
pub unsafe extern "system" fn RingtunGetSendPacketOffload(
    session: *mut WintunSession,
    packet: *const RingtunPacket,
    meta: *mut RingtunOffloadMeta,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    // SAFETY: null or a RINGTUN_PACKET (caller's contract).
    let Some(p) = (unsafe { packet.as_ref() }) else { return fail_bool(ERROR_INVALID_PARAMETER) };
    if meta.is_null() {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    let (slot, _) = send_item(s, p);
    match s.session.outgoing_offload_raw(slot) {
        Ok(m) => {
            // SAFETY: `meta` points to a RINGTUN_OFFLOAD_META (caller's contract).
            unsafe { meta.write_unaligned(m.into()) };
            1
        }
        Err(e) => fail_bool(error_code(e)),
    }
}

/// `RingtunSetSendPacketOffload`: sets the offload metadata of an allocated slot the caller holds
/// (a super-packet of up to 0xFFFF bytes to be cut by the driver or the stack, or a checksum to
/// complete). Only in a session with offloads (`ERROR_NOT_SUPPORTED` otherwise). The driver
/// validates the block against the packet when it reads the slot, and drops (and counts) a
/// packet whose block does not fit it.
///
/// # Safety
/// `session` is null or a live session handle; `packet` is null or points to a `RINGTUN_PACKET`;
/// `meta` is null or points to a `RINGTUN_OFFLOAD_META`.
#[no_mangle]
pub unsafe extern "system" fn RingtunSetSendPacketOffload(
    session: *mut WintunSession,
    packet: *const RingtunPacket,
    meta: *const RingtunOffloadMeta,
) -> i32 {
    // SAFETY: forwarded from the caller's contract.
    let Some(s) = (unsafe { session_ref(session) }) else { return 0 };
    // SAFETY: null or a RINGTUN_PACKET (caller's contract).
    let Some(p) = (unsafe { packet.as_ref() }) else { return fail_bool(ERROR_INVALID_PARAMETER) };
    if meta.is_null() {
        return fail_bool(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: `meta` points to a RINGTUN_OFFLOAD_META (caller's contract); read once.
    let m = unsafe { meta.read_unaligned() };
    let (slot, _) = send_item(s, p);
    match s.session.set_outgoing_offload_raw(slot, m.into()) {
        Ok(()) => 1,
        Err(e) => fail_bool(error_code(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_version_in_wintun_format() {
        assert_eq!(wintun_driver_version(0x0001_0203), 0x0001_0002);
        assert_eq!(wintun_driver_version(ring_abi::DRIVER_VERSION), 0x0000_0001);
    }

    #[test]
    fn capacities_as_wintun_accepts_them() {
        assert!(valid_capacity(0x20000));
        assert!(valid_capacity(0x400_0000));
        assert!(!valid_capacity(0x10000));
        assert!(!valid_capacity(0x800_0000));
        assert!(!valid_capacity(0x30000));
        assert!(!valid_capacity(0));
    }

    #[test]
    fn every_library_error_has_wintuns_code() {
        assert_eq!(error_code(Error::RingFull), ERROR_BUFFER_OVERFLOW);
        assert_eq!(error_code(Error::SessionEnded), ERROR_HANDLE_EOF);
        assert_eq!(error_code(Error::CorruptRing(ring_abi::RingFault::HeadOutOfRange(7))), ERROR_INVALID_DATA);
        assert_eq!(error_code(Error::Oversize(0x10000)), ERROR_INVALID_PARAMETER);
        assert_eq!(error_code(Error::UnknownSlot), ERROR_INVALID_PARAMETER);
        assert_eq!(error_code(Error::ShrinkNotLast), ERROR_NOT_SUPPORTED);
        assert_eq!(error_code(Error::Device(DeviceError::AlreadyInitialized)), ERROR_ALREADY_INITIALIZED);
        assert_eq!(error_code(Error::Device(DeviceError::Os(1617))), 1617);
    }
}
