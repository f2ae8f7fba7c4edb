//! The C types of the `Ringtun*` extensions, as `include/ringtun_wintun.h` declares them.
//!
//! Every layout is asserted here for the target's pointer width and checked against the header
//! by a C compiler in the tests (`tests/c_api.rs`).

use core::mem::{offset_of, size_of};

/// `RINGTUN_SESSION_RECEIVE_SPLIT`: a packet the client sends may hold several IP packets back to
/// back; the driver splits them by their IP length fields (the ABI's `RECEIVE_SPLIT`, named for
/// the driver's Receive ring, which carries what the client sends).
pub const RINGTUN_SESSION_RECEIVE_SPLIT: u32 = ring_abi::RegistrationFlags::RECEIVE_SPLIT.bits();
/// `RINGTUN_SESSION_OFFLOAD`: per-packet offload metadata on both rings (the ABI's `OFFLOAD`):
/// received packets may be super-packets or carry a checksum state, and sent ones may ask the
/// driver for either. Not with `RINGTUN_SESSION_RECEIVE_SPLIT`.
pub const RINGTUN_SESSION_OFFLOAD: u32 = ring_abi::RegistrationFlags::OFFLOAD.bits();
/// `RINGTUN_SESSION_WRITE_SPACE`: the write-space signal (the ABI's `WRITE_SPACE`): a client that
/// finds the send ring full sleeps until the driver frees space (`RingtunWaitForSendSpace`).
pub const RINGTUN_SESSION_WRITE_SPACE: u32 = ring_abi::RegistrationFlags::WRITE_SPACE.bits();
/// The `RINGTUN_SESSION_*` flags passed to the driver as registration flags.
pub const RINGTUN_SESSION_DRIVER_FLAGS: u32 =
    RINGTUN_SESSION_RECEIVE_SPLIT | RINGTUN_SESSION_OFFLOAD | RINGTUN_SESSION_WRITE_SPACE;
/// `RINGTUN_SESSION_V1_ONLY`: register v1 rings even if the driver has v2 (the API's own flag,
/// never passed to the driver).
pub const RINGTUN_SESSION_V1_ONLY: u32 = 0x0001_0000;

/// `RINGTUN_FALLBACK_NONE`: the session runs the version it asked for.
pub const RINGTUN_FALLBACK_NONE: u32 = 0;
/// `RINGTUN_FALLBACK_NO_CAPABILITY_QUERY`: the driver does not answer the capability query (an old
/// driver, or Wintun's); the detail is the query's Win32 error.
pub const RINGTUN_FALLBACK_NO_CAPABILITY_QUERY: u32 = 1;
/// `RINGTUN_FALLBACK_DRIVER_VERSION`: the driver's highest ring version is below 2; the detail is
/// that version.
pub const RINGTUN_FALLBACK_DRIVER_VERSION: u32 = 2;
/// `RINGTUN_FALLBACK_UNSUPPORTED`: the driver cannot give the room or flags asked for.
pub const RINGTUN_FALLBACK_UNSUPPORTED: u32 = 3;
/// `RINGTUN_FALLBACK_REFUSED`: the driver refused the v2 registration; the detail is its Win32
/// error.
pub const RINGTUN_FALLBACK_REFUSED: u32 = 4;

/// `RINGTUN_CAPABILITIES`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingtunCapabilities {
    /// In: `sizeof(RINGTUN_CAPABILITIES)`.
    pub size: u32,
    /// Highest ring version the driver registers (1: Wintun's rings only).
    pub max_version: u32,
    /// `RINGTUN_SESSION_*` flags the driver accepts.
    pub supported_flags: u32,
    /// Largest head room per ring.
    pub max_head_room: u16,
    /// Largest tail room per ring.
    pub max_tail_room: u16,
    /// Smallest ring capacity.
    pub min_capacity: u32,
    /// Largest ring capacity.
    pub max_capacity: u32,
    /// The driver's version, `major << 16 | minor << 8 | patch` (0 if it does not say).
    pub driver_version: u32,
}

/// `RINGTUN_SESSION_CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingtunSessionConfig {
    /// In: `sizeof(RINGTUN_SESSION_CONFIG)`.
    pub size: u32,
    /// `RINGTUN_SESSION_*`.
    pub flags: u32,
    /// Capacity of the ring the client receives from (a power of two, 0x20000..=0x4000000).
    pub receive_capacity: u32,
    /// Capacity of the ring the client sends into.
    pub send_capacity: u32,
    /// Head room in front of every received packet (exactly this much).
    pub receive_head_room: u16,
    /// Tail room after every received packet (at least this much).
    pub receive_tail_room: u16,
    /// The most head room a sent packet's slot may have.
    pub send_head_room: u16,
    /// The most tail room a sent packet's slot may have.
    pub send_tail_room: u16,
}

/// `RINGTUN_SESSION_INFO`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingtunSessionInfo {
    /// In: `sizeof(RINGTUN_SESSION_INFO)`.
    pub size: u32,
    /// The ring version in use: 1 or 2.
    pub version: u32,
    /// `RINGTUN_FALLBACK_*`: why v1 runs where v2 was asked for.
    pub fallback: u32,
    /// The fallback's detail (see each `RINGTUN_FALLBACK_*`).
    pub fallback_detail: u32,
    /// `RINGTUN_SESSION_*` flags in force.
    pub flags: u32,
    /// Capacity of the ring the client receives from.
    pub receive_capacity: u32,
    /// Capacity of the ring the client sends into.
    pub send_capacity: u32,
    /// Head room of every received packet.
    pub receive_head_room: u16,
    /// Tail room of every received packet (at least).
    pub receive_tail_room: u16,
    /// The most head room a sent packet's slot may have (0 on v1).
    pub send_head_room: u16,
    /// The most tail room a sent packet's slot may have (0 on v1).
    pub send_tail_room: u16,
}

/// `RINGTUN_SESSION_STATISTICS`. A caller may pass the first version's `Size`
/// ([`RINGTUN_SESSION_STATISTICS_V1_SIZE`], up to `copied_bytes`): only that much is written.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingtunSessionStatistics {
    /// In: `sizeof(RINGTUN_SESSION_STATISTICS)`.
    pub size: u32,
    /// Zero.
    pub reserved: u32,
    /// Packets sent.
    pub sent_packets: u64,
    /// IP bytes sent.
    pub sent_bytes: u64,
    /// Packets received.
    pub received_packets: u64,
    /// IP bytes received.
    pub received_bytes: u64,
    /// Packet bytes the library copied (only moves of sent data on v1 rings).
    pub copied_bytes: u64,
    /// Allocations refused because the send ring was full (each a drop unless the caller waited
    /// and retried).
    pub send_ring_full: u64,
    /// Calls to `RingtunWaitForSendSpace` that had to wait.
    pub space_waits: u64,
    /// Waits that ended with room.
    pub space_found: u64,
    /// Waits that timed out without room.
    pub space_timeouts: u64,
    /// Times the driver's write-space signal woke a waiter.
    pub space_signals: u64,
}

/// The `Size` of the first `RINGTUN_SESSION_STATISTICS` (without the write-space counters).
pub const RINGTUN_SESSION_STATISTICS_V1_SIZE: u32 = 48;

/// `RINGTUN_OFFLOAD_META`: a packet's offload metadata, the ABI's block (`ring_abi::OffloadMeta`,
/// the shape of Linux's `struct virtio_net_hdr`, little-endian) field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingtunOffloadMeta {
    /// `RINGTUN_OFFLOAD_F_*` (at most one).
    pub flags: u8,
    /// `RINGTUN_OFFLOAD_GSO_*`, with `RINGTUN_OFFLOAD_GSO_ECN` on TCP types.
    pub gso_type: u8,
    /// Super-packets: length of the IP and TCP/UDP headers; else 0.
    pub hdr_len: u16,
    /// Super-packets: payload bytes per segment; else 0.
    pub gso_size: u16,
    /// `NEEDS_CSUM`: where the checksummed range starts (the L4 header); else 0.
    pub csum_start: u16,
    /// `NEEDS_CSUM`: offset of the checksum field from `csum_start`; else 0.
    pub csum_offset: u16,
    /// Zero.
    pub reserved: [u8; 6],
}

impl From<ring_abi::OffloadMeta> for RingtunOffloadMeta {
    fn from(m: ring_abi::OffloadMeta) -> Self {
        Self {
            flags: m.flags,
            gso_type: m.gso_type,
            hdr_len: m.hdr_len,
            gso_size: m.gso_size,
            csum_start: m.csum_start,
            csum_offset: m.csum_offset,
            reserved: m.reserved,
        }
    }
}

impl From<RingtunOffloadMeta> for ring_abi::OffloadMeta {
    fn from(m: RingtunOffloadMeta) -> Self {
        Self {
            flags: m.flags,
            gso_type: m.gso_type,
            hdr_len: m.hdr_len,
            gso_size: m.gso_size,
            csum_start: m.csum_start,
            csum_offset: m.csum_offset,
            reserved: m.reserved,
        }
    }
}

/// `RINGTUN_PACKET`: one slot the caller holds. Its bytes after the slot header are `Frame`
/// (`FrameSize` of them): head room (`Offset` bytes), the IP packet (`Size` bytes), tail room.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingtunPacket {
    /// The slot's first byte after its header; identifies the slot.
    pub frame: *mut u8,
    /// Bytes from `frame` to the end of the slot.
    pub frame_size: u32,
    /// Where the IP packet starts, from `frame`.
    pub offset: u32,
    /// The IP packet's length.
    pub size: u32,
}

const _: () = {
    assert!(size_of::<RingtunCapabilities>() == 28);
    assert!(offset_of!(RingtunCapabilities, max_head_room) == 12);
    assert!(offset_of!(RingtunCapabilities, max_tail_room) == 14);
    assert!(offset_of!(RingtunCapabilities, driver_version) == 24);
    assert!(size_of::<RingtunSessionConfig>() == 24);
    assert!(offset_of!(RingtunSessionConfig, receive_head_room) == 16);
    assert!(offset_of!(RingtunSessionConfig, send_tail_room) == 22);
    assert!(size_of::<RingtunSessionInfo>() == 36);
    assert!(offset_of!(RingtunSessionInfo, receive_head_room) == 28);
    assert!(offset_of!(RingtunSessionInfo, send_tail_room) == 34);
    assert!(size_of::<RingtunSessionStatistics>() == 88);
    assert!(offset_of!(RingtunSessionStatistics, sent_packets) == 8);
    assert!(offset_of!(RingtunSessionStatistics, copied_bytes) == 40);
    assert!(offset_of!(RingtunSessionStatistics, send_ring_full) == RINGTUN_SESSION_STATISTICS_V1_SIZE as usize);
    assert!(offset_of!(RingtunSessionStatistics, space_waits) == 56);
    assert!(offset_of!(RingtunSessionStatistics, space_found) == 64);
    assert!(offset_of!(RingtunSessionStatistics, space_timeouts) == 72);
    assert!(offset_of!(RingtunSessionStatistics, space_signals) == 80);
    // The ABI's metadata block, byte for byte.
    assert!(size_of::<RingtunOffloadMeta>() == ring_abi::OFFLOAD_META_SIZE as usize);
    assert!(size_of::<RingtunOffloadMeta>() == size_of::<ring_abi::OffloadMeta>());
    assert!(offset_of!(RingtunOffloadMeta, flags) == offset_of!(ring_abi::OffloadMeta, flags));
    assert!(offset_of!(RingtunOffloadMeta, gso_type) == offset_of!(ring_abi::OffloadMeta, gso_type));
    assert!(offset_of!(RingtunOffloadMeta, hdr_len) == offset_of!(ring_abi::OffloadMeta, hdr_len));
    assert!(offset_of!(RingtunOffloadMeta, gso_size) == offset_of!(ring_abi::OffloadMeta, gso_size));
    assert!(offset_of!(RingtunOffloadMeta, csum_start) == offset_of!(ring_abi::OffloadMeta, csum_start));
    assert!(offset_of!(RingtunOffloadMeta, csum_offset) == offset_of!(ring_abi::OffloadMeta, csum_offset));
    assert!(offset_of!(RingtunOffloadMeta, reserved) == offset_of!(ring_abi::OffloadMeta, reserved));
    assert!(offset_of!(RingtunOffloadMeta, hdr_len) == 2);
    assert!(offset_of!(RingtunOffloadMeta, csum_offset) == 8);
    assert!(offset_of!(RingtunOffloadMeta, reserved) == 10);
    assert!(RINGTUN_SESSION_OFFLOAD == 2 && RINGTUN_SESSION_WRITE_SPACE == 4);
    assert!(RINGTUN_SESSION_DRIVER_FLAGS & RINGTUN_SESSION_V1_ONLY == 0);
    assert!(offset_of!(RingtunPacket, frame) == 0);
    let p = size_of::<*mut u8>();
    assert!(offset_of!(RingtunPacket, frame_size) == p);
    assert!(offset_of!(RingtunPacket, offset) == p + 4);
    assert!(offset_of!(RingtunPacket, size) == p + 8);
    assert!(size_of::<RingtunPacket>() == if p == 8 { 24 } else { 16 });
};
