//! Every numeric constant of the ring protocol, each in one place.
//!
//! Values marked "Wintun" are facts of the existing Wintun v1 ABI and must stay bit-exact;
//! values marked "v2" are decisions of this project (see `docs/ring-protocol.md`).

/// Alignment of a v1 ring's slots, offsets and start address (Wintun: `TUN_ALIGNMENT =
/// sizeof(ULONG)`). Wintun's own client places its Receive ring at `region + ring_size`, which is
/// 4 mod 8, so a v1 ring start is never required to be more aligned than this.
pub const V1_ALIGNMENT: u32 = 4;
/// Alignment of a v2 ring's slots, offsets and start address: the v2 packet header holds a `u32`
/// and two `u16`s, and 8-byte slots keep every header naturally aligned for 64-bit atomic-free
/// access.
pub const V2_ALIGNMENT: u32 = 8;

/// Largest IP packet either version carries (Wintun: `TUN_MAX_IP_PACKET_SIZE`; also the largest
/// IPv4 total length and the `u16` range of the v2 `data_length`).
pub const MAX_IP_PACKET_SIZE: u32 = 0xFFFF;

/// Size of the v1 packet header: a single `u32 size` (Wintun).
pub const V1_PACKET_HEADER_SIZE: u32 = 4;
/// Size of the v2 packet header `{u32 slot_size; u16 data_offset; u16 data_length}`.
pub const V2_PACKET_HEADER_SIZE: u32 = 8;

/// Largest v1 slot: `align4(4 + 0xFFFF)` (Wintun: `TUN_MAX_PACKET_SIZE`).
pub const V1_MAX_SLOT_SIZE: u32 = 0x10004;

/// Smallest data-area capacity of a ring, both versions (Wintun: `TUN_MIN_RING_CAPACITY`, 128 KiB).
pub const MIN_RING_CAPACITY: u32 = 0x20000;
/// Largest data-area capacity of a ring, both versions (Wintun: `TUN_MAX_RING_CAPACITY`, 64 MiB).
pub const MAX_RING_CAPACITY: u32 = 0x400_0000;

/// Size of the v1 ring header `{head, tail, alertable}`; the data area starts right after it (Wintun).
pub const V1_RING_HEADER_SIZE: u32 = 12;
/// Size of the v2 ring header: consumer fields on the first cache line, producer fields on the
/// second, so the two sides never write the same 64-byte line.
pub const V2_RING_HEADER_SIZE: u32 = 128;
/// Cache-line size the v2 header is laid out for.
pub const CACHE_LINE_SIZE: u32 = 64;

/// Trailing bytes after a v1 data area, so that a slot starting at any valid offset never wraps:
/// `V1_MAX_SLOT_SIZE - V1_ALIGNMENT` (Wintun: `TUN_RING_TRAILING_BYTES`).
pub const V1_TRAILING_SIZE: u32 = V1_MAX_SLOT_SIZE - V1_ALIGNMENT;

/// Largest head room a v2 registration may ask for, per ring (driver limit, reported by the
/// capability query).
pub const MAX_HEADROOM: u16 = 4096;
/// Largest tail room a v2 registration may ask for, per ring.
pub const MAX_TAILROOM: u16 = 4096;

/// Value of the Receive ring's `head` once the driver stopped consuming it (corrupt ring or
/// teardown), and of the Send ring's `tail` once the session is gone (Wintun: `MAXULONG`).
pub const RING_STOPPED: u32 = u32::MAX;

/// Bit of a v1 `size` / v2 `slot_size` that a client may set on slots it still owns (allocated but
/// not yet sent, or received but not yet released). Never set in a published slot.
pub const CLIENT_OWNED_BIT: u32 = 0x8000_0000;

/// Device type of ringtun's IOCTLs (Wintun: `TUN_IOCTL_REGISTER_RINGS` uses 51820, the WireGuard port).
pub const RINGTUN_DEVICE_TYPE: u32 = 51820;
/// Function code of the ring registration IOCTL (Wintun).
pub const REGISTER_RINGS_FUNCTION: u32 = 0x970;
/// Function code of the capability query IOCTL (v2).
pub const QUERY_CAPABILITIES_FUNCTION: u32 = 0x971;

/// Registration version number of a v2 registration (`RegistrationV2::version`).
pub const ABI_VERSION_2: u32 = 2;
/// Highest ring protocol version this crate speaks.
pub const MAX_ABI_VERSION: u32 = ABI_VERSION_2;

/// Input length of a v1 registration from a 64-bit process: two `{u32; pad; u64; u64}` descriptors.
pub const V1_REGISTRATION_SIZE_64: usize = 48;
/// Input length of a v1 registration from a 32-bit process: two `{u32; u32; u32}` descriptors.
pub const V1_REGISTRATION_SIZE_32: usize = 24;
/// Input length of a v2 registration (identical for 32- and 64-bit processes).
pub const V2_REGISTRATION_SIZE: usize = 56;
/// Output length of the capability query.
pub const CAPABILITIES_SIZE: usize = 28;
/// Input length of a v2 registration with the write-space extension: the 56-byte v2 layout
/// followed by the `u64` handle of the write-space event (identical for 32- and 64-bit
/// processes). Only valid with the `WRITE_SPACE` flag.
pub const V2_REGISTRATION_EXT_SIZE: usize = 64;

/// Size of the offload metadata block of a v2 slot when the session negotiated `OFFLOAD`: the
/// 10 bytes of Linux's `struct virtio_net_hdr` followed by 6 reserved bytes.
pub const OFFLOAD_META_SIZE: u32 = 16;
/// Where the offload metadata block starts in a slot: right after the 8-byte v2 packet header,
/// at the start of the head room.
pub const OFFLOAD_META_OFFSET: u32 = V2_PACKET_HEADER_SIZE;
/// Smallest `data_offset` of a slot in a session with offloads: the data begins after the
/// metadata block.
pub const OFFLOAD_MIN_DATA_OFFSET: u32 = OFFLOAD_META_OFFSET + OFFLOAD_META_SIZE;
/// Most segments one super-packet may be cut into (on either ring): Linux's `UDP_MAX_SEGMENTS`;
/// a 64 KiB TCP super-packet at IPv4's smallest usual MSS (536) is 123 segments.
pub const MAX_GSO_SEGMENTS: u32 = 128;
/// Largest header (IP + TCP/UDP) of an offloaded packet: an IPv4 header with options (60) and a
/// TCP header with options (60). IPv6 extension headers are not supported with offloads.
pub const MAX_OFFLOAD_HEADER: usize = 120;

/// `flags` bit of the offload metadata (`VIRTIO_NET_HDR_F_NEEDS_CSUM`): the L4 checksum is not
/// computed; its field holds the pseudo-header sum, to be completed over `csum_start..`.
pub const OFFLOAD_F_NEEDS_CSUM: u8 = 1;
/// `flags` bit (`VIRTIO_NET_HDR_F_DATA_VALID`): the packet's checksums need not be verified
/// (a VPN client sets it on packets its AEAD authenticated).
pub const OFFLOAD_F_DATA_VALID: u8 = 2;
/// `gso_type` (`VIRTIO_NET_HDR_GSO_NONE`): not a super-packet.
pub const OFFLOAD_GSO_NONE: u8 = 0;
/// `gso_type` (`VIRTIO_NET_HDR_GSO_TCPV4`): an IPv4 TCP super-packet.
pub const OFFLOAD_GSO_TCPV4: u8 = 1;
/// `gso_type` (`VIRTIO_NET_HDR_GSO_TCPV6`): an IPv6 TCP super-packet.
pub const OFFLOAD_GSO_TCPV6: u8 = 4;
/// `gso_type` (`VIRTIO_NET_HDR_GSO_UDP_L4`, Linux 5.18's uapi header): a UDP super-packet cut
/// into datagrams (IPv4 or IPv6).
pub const OFFLOAD_GSO_UDP_L4: u8 = 5;
/// Bit of `gso_type` (`VIRTIO_NET_HDR_GSO_ECN`): the TCP super-packet carries CWR (ECN).
pub const OFFLOAD_GSO_ECN: u8 = 0x80;

/// Offset in the v2 ring header of `space_waiting`, on the producer's cache line: non-zero while
/// the Receive ring's producer (the client) waits for free space (write-space signal).
pub const SPACE_WAITING_OFFSET: u32 = CACHE_LINE_SIZE + 4;

/// How long a consumer spins on an empty ring before it declares itself alertable and sleeps,
/// in nanoseconds (Wintun's driver: about 0.1 ms).
pub const CONSUMER_SPIN_NS: u64 = 100_000;

/// First timed re-check of `tail` by a sleeping consumer, in nanoseconds: the driver's consumer
/// never sleeps on the Receive ring's event alone, so that a client that publishes without the
/// full fence (or without signalling) waits at most this long for a lost wake-up right after the
/// consumer went to sleep.
pub const CONSUMER_RECHECK_MIN_NS: u64 = 1_000_000;
/// Longest timed re-check interval while the Receive ring stays idle, once the session's client
/// has lost a wake-up (the interval doubles from [`CONSUMER_RECHECK_MIN_NS`] up to this): from
/// then on, the bound on a lost wake-up's cost at any time.
pub const CONSUMER_RECHECK_MAX_NS: u64 = 4_000_000;
/// Longest timed re-check interval while the Receive ring stays idle, for a session whose client
/// has not lost a wake-up so far (the interval doubles from [`CONSUMER_RECHECK_MIN_NS`] up to
/// this). A client that signals loses a wake-up only as the consumer goes to sleep, which the
/// first re-check covers; the longer interval spares an idle adapter most of its timed wake-ups,
/// and the first lost wake-up brings the session down to [`CONSUMER_RECHECK_MAX_NS`].
pub const CONSUMER_RECHECK_SIGNALLED_MAX_NS: u64 = 64_000_000;

/// Version of this ABI crate packed as `major << 16 | minor << 8 | patch`, reported as
/// `Capabilities::driver_version` by drivers built from it.
pub const DRIVER_VERSION: u32 = 1 << 8;

const _: () = assert!(V1_MAX_SLOT_SIZE == (V1_PACKET_HEADER_SIZE + MAX_IP_PACKET_SIZE + 3) & !3);
const _: () = assert!(V1_TRAILING_SIZE == 0x10000);
const _: () = assert!(MIN_RING_CAPACITY.is_power_of_two() && MAX_RING_CAPACITY.is_power_of_two());
const _: () = assert!(V2_RING_HEADER_SIZE == 2 * CACHE_LINE_SIZE);
const _: () = assert!(OFFLOAD_MIN_DATA_OFFSET == 24 && OFFLOAD_META_SIZE.is_multiple_of(V2_ALIGNMENT));
const _: () = assert!(OFFLOAD_META_SIZE <= MAX_HEADROOM as u32);
const _: () = assert!(
    CONSUMER_SPIN_NS < CONSUMER_RECHECK_MIN_NS
        && CONSUMER_RECHECK_MIN_NS <= CONSUMER_RECHECK_MAX_NS
        && CONSUMER_RECHECK_MAX_NS <= CONSUMER_RECHECK_SIGNALLED_MAX_NS
);
