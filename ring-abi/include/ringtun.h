/*
 * ringtun.h: the ringtun ring ABI for C clients (C99).
 *
 * Every layout here mirrors the Rust crate ring-abi and is checked against it by
 * ring-abi/tests/c_header.rs. docs/ring-protocol.md is the normative description.
 * All integers are little-endian. No packing pragmas: every field is naturally aligned.
 */
#ifndef RINGTUN_H
#define RINGTUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants ------------------------------------------------------------------------- */

#define RINGTUN_V1_ALIGNMENT 4u
#define RINGTUN_V2_ALIGNMENT 8u
#define RINGTUN_MAX_IP_PACKET_SIZE 0xFFFFu
#define RINGTUN_V1_PACKET_HEADER_SIZE 4u
#define RINGTUN_V2_PACKET_HEADER_SIZE 8u
#define RINGTUN_V1_MAX_SLOT_SIZE 0x10004u
#define RINGTUN_MIN_RING_CAPACITY 0x20000u
#define RINGTUN_MAX_RING_CAPACITY 0x4000000u
#define RINGTUN_V1_RING_HEADER_SIZE 12u
#define RINGTUN_V2_RING_HEADER_SIZE 128u
#define RINGTUN_CACHE_LINE_SIZE 64u
#define RINGTUN_V1_TRAILING_SIZE 0x10000u
#define RINGTUN_MAX_HEADROOM 4096u
#define RINGTUN_MAX_TAILROOM 4096u
#define RINGTUN_RING_STOPPED 0xFFFFFFFFu
#define RINGTUN_CLIENT_OWNED_BIT 0x80000000u
#define RINGTUN_DEVICE_TYPE 51820u
#define RINGTUN_REGISTER_RINGS_FUNCTION 0x970u
#define RINGTUN_QUERY_CAPABILITIES_FUNCTION 0x971u
#define RINGTUN_ABI_VERSION_2 2u
#define RINGTUN_V1_REGISTRATION_SIZE_64 48u
#define RINGTUN_V1_REGISTRATION_SIZE_32 24u
#define RINGTUN_V2_REGISTRATION_SIZE 56u
#define RINGTUN_CAPABILITIES_SIZE 28u
#define RINGTUN_V2_REGISTRATION_EXT_SIZE 64u

/* Registration flags (v2). */
#define RINGTUN_FLAG_RECEIVE_SPLIT 0x1u
#define RINGTUN_FLAG_OFFLOAD 0x2u      /* offload metadata in every slot; not with RECEIVE_SPLIT */
#define RINGTUN_FLAG_WRITE_SPACE 0x4u  /* write-space event: the 64-byte registration */

/* Offload extension (RINGTUN_FLAG_OFFLOAD): a ringtun_offload_meta block at slot offset 8. */
#define RINGTUN_OFFLOAD_META_SIZE 16u
#define RINGTUN_OFFLOAD_META_OFFSET 8u
#define RINGTUN_OFFLOAD_MIN_DATA_OFFSET 24u
#define RINGTUN_MAX_GSO_SEGMENTS 128u
#define RINGTUN_MAX_OFFLOAD_HEADER 120u
/* flags and gso_type: the values of linux/virtio_net.h (VIRTIO_NET_HDR_F_*, _GSO_*). */
#define RINGTUN_OFFLOAD_F_NEEDS_CSUM 1u
#define RINGTUN_OFFLOAD_F_DATA_VALID 2u
#define RINGTUN_OFFLOAD_GSO_NONE 0u
#define RINGTUN_OFFLOAD_GSO_TCPV4 1u
#define RINGTUN_OFFLOAD_GSO_TCPV6 4u
#define RINGTUN_OFFLOAD_GSO_UDP_L4 5u
#define RINGTUN_OFFLOAD_GSO_ECN 0x80u

/* Offset of space_waiting in the v2 ring header (Receive ring, RINGTUN_FLAG_WRITE_SPACE). */
#define RINGTUN_SPACE_WAITING_OFFSET 68u

/* CTL_CODE as in the DDK: (type << 16) | (access << 14) | (function << 2) | method. */
#define RINGTUN_METHOD_BUFFERED 0u
#define RINGTUN_FILE_READ_DATA 1u
#define RINGTUN_FILE_WRITE_DATA 2u
#define RINGTUN_CTL_CODE(type, function, method, access) \
    ((((uint32_t)(type)) << 16) | (((uint32_t)(access)) << 14) | (((uint32_t)(function)) << 2) | ((uint32_t)(method)))
#define RINGTUN_IOCTL_REGISTER_RINGS \
    RINGTUN_CTL_CODE(RINGTUN_DEVICE_TYPE, RINGTUN_REGISTER_RINGS_FUNCTION, RINGTUN_METHOD_BUFFERED, \
                     RINGTUN_FILE_READ_DATA | RINGTUN_FILE_WRITE_DATA) /* 0xCA6CE5C0 */
#define RINGTUN_IOCTL_QUERY_CAPABILITIES \
    RINGTUN_CTL_CODE(RINGTUN_DEVICE_TYPE, RINGTUN_QUERY_CAPABILITIES_FUNCTION, RINGTUN_METHOD_BUFFERED, \
                     RINGTUN_FILE_READ_DATA) /* 0xCA6C65C4 */

/* ---- v1 (Wintun-compatible) ------------------------------------------------------------- */

typedef struct ringtun_ring_header_v1 {
    uint32_t head;      /* consumer */
    uint32_t tail;      /* producer */
    int32_t alertable;  /* consumer (Receive ring) */
} ringtun_ring_header_v1;

typedef struct ringtun_packet_header_v1 {
    uint32_t size;      /* IP packet length; bit 31 is the client's own mark */
} ringtun_packet_header_v1;

typedef struct ringtun_ring_desc_v1_64 {
    uint32_t ring_size;
    uint32_t pad;
    uint64_t ring_ptr;
    uint64_t tail_moved_event;
} ringtun_ring_desc_v1_64;

typedef struct ringtun_registration_v1_64 {
    ringtun_ring_desc_v1_64 send;
    ringtun_ring_desc_v1_64 receive;
} ringtun_registration_v1_64;

typedef struct ringtun_ring_desc_v1_32 {
    uint32_t ring_size;
    uint32_t ring_ptr;
    uint32_t tail_moved_event;
} ringtun_ring_desc_v1_32;

typedef struct ringtun_registration_v1_32 {
    ringtun_ring_desc_v1_32 send;
    ringtun_ring_desc_v1_32 receive;
} ringtun_registration_v1_32;

/* ---- v2 ---------------------------------------------------------------------------------- */

typedef struct ringtun_ring_header_v2 {
    uint32_t head;           /* consumer, cache line 0 */
    uint32_t alertable;      /* consumer, cache line 0 */
    uint8_t reserved0[56];
    uint32_t tail;           /* producer, cache line 1 */
    uint32_t space_waiting;  /* producer, cache line 1: Receive ring, RINGTUN_FLAG_WRITE_SPACE */
    uint8_t reserved1[56];
} ringtun_ring_header_v2;

typedef struct ringtun_packet_header_v2 {
    uint32_t slot_size;      /* whole slot incl. header, multiple of 8; bit 31 client-owned */
    uint16_t data_offset;    /* slot start to IP packet, >= 8 */
    uint16_t data_length;    /* IP packet length */
} ringtun_packet_header_v2;

typedef struct ringtun_ring_desc_v2 {
    uint32_t ring_size;
    uint16_t headroom;
    uint16_t tailroom;
    uint64_t ring_ptr;
    uint64_t tail_moved_event;
} ringtun_ring_desc_v2;

typedef struct ringtun_registration_v2 {
    uint32_t version;        /* RINGTUN_ABI_VERSION_2 */
    uint32_t flags;          /* RINGTUN_FLAG_* */
    ringtun_ring_desc_v2 send;
    ringtun_ring_desc_v2 receive;
} ringtun_registration_v2;

/* The 64-byte registration of RINGTUN_FLAG_WRITE_SPACE: v2, then the write-space event. */
typedef struct ringtun_registration_v2_ext {
    ringtun_registration_v2 base;  /* flags include RINGTUN_FLAG_WRITE_SPACE */
    uint64_t write_space_event;    /* set by the driver when it frees Receive-ring space */
} ringtun_registration_v2_ext;

/* Offload metadata: struct virtio_net_hdr (little-endian) and 6 reserved bytes. */
typedef struct ringtun_offload_meta {
    uint8_t flags;           /* RINGTUN_OFFLOAD_F_* (at most one) */
    uint8_t gso_type;        /* RINGTUN_OFFLOAD_GSO_* */
    uint16_t hdr_len;        /* super-packet: IP + TCP/UDP header length; else 0 */
    uint16_t gso_size;       /* super-packet: payload bytes per segment; else 0 */
    uint16_t csum_start;     /* NEEDS_CSUM: offset of the TCP/UDP header; else 0 */
    uint16_t csum_offset;    /* NEEDS_CSUM: 16 (TCP) or 6 (UDP); else 0 */
    uint8_t reserved[6];     /* zero */
} ringtun_offload_meta;

typedef struct ringtun_capabilities {
    uint32_t size;
    uint32_t max_version;
    uint32_t supported_flags;
    uint16_t max_headroom;
    uint16_t max_tailroom;
    uint32_t min_capacity;
    uint32_t max_capacity;
    uint32_t driver_version;
} ringtun_capabilities;

/* ---- geometry ---------------------------------------------------------------------------- */

/* v1 ring size: 12 + capacity + 0x10000. */
static inline uint32_t ringtun_v1_ring_size(uint32_t capacity) {
    return RINGTUN_V1_RING_HEADER_SIZE + capacity + RINGTUN_V1_TRAILING_SIZE;
}

/* Largest v2 slot: align8(8 + headroom + 0xFFFF + tailroom). */
static inline uint32_t ringtun_v2_max_slot(uint16_t headroom, uint16_t tailroom) {
    uint32_t raw = RINGTUN_V2_PACKET_HEADER_SIZE + (uint32_t)headroom + RINGTUN_MAX_IP_PACKET_SIZE + (uint32_t)tailroom;
    return (raw + 7u) & ~7u;
}

/* v2 ring size: 128 + capacity + max_slot - 8. */
static inline uint32_t ringtun_v2_ring_size(uint32_t capacity, uint16_t headroom, uint16_t tailroom) {
    return RINGTUN_V2_RING_HEADER_SIZE + capacity + ringtun_v2_max_slot(headroom, tailroom) - RINGTUN_V2_ALIGNMENT;
}

/* v2 slot size for `len` bytes with this room (len <= 0xFFFF). */
static inline uint32_t ringtun_v2_slot_size(uint32_t len, uint16_t headroom, uint16_t tailroom) {
    uint32_t raw = RINGTUN_V2_PACKET_HEADER_SIZE + (uint32_t)headroom + len + (uint32_t)tailroom;
    return (raw + 7u) & ~7u;
}

/* v1 slot size for `size` bytes (size <= 0xFFFF). */
static inline uint32_t ringtun_v1_slot_size(uint32_t size) {
    return (RINGTUN_V1_PACKET_HEADER_SIZE + size + 3u) & ~3u;
}

/* ---- layout assertions ------------------------------------------------------------------- */

#ifdef __cplusplus
#define RINGTUN_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define RINGTUN_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

RINGTUN_STATIC_ASSERT(sizeof(ringtun_ring_header_v1) == 12, "v1 ring header");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_ring_header_v1, tail) == 4, "v1 tail");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_ring_header_v1, alertable) == 8, "v1 alertable");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_packet_header_v1) == 4, "v1 packet header");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_ring_desc_v1_64) == 24, "v1 64-bit descriptor");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_ring_desc_v1_64, ring_ptr) == 8, "v1 64-bit ring_ptr");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_ring_desc_v1_64, tail_moved_event) == 16, "v1 64-bit event");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_registration_v1_64) == 48, "v1 64-bit registration");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_ring_desc_v1_32) == 12, "v1 32-bit descriptor");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_registration_v1_32) == 24, "v1 32-bit registration");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_ring_header_v2) == 128, "v2 ring header");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_ring_header_v2, alertable) == 4, "v2 alertable");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_ring_header_v2, tail) == 64, "v2 tail on its own cache line");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_ring_header_v2, space_waiting) == RINGTUN_SPACE_WAITING_OFFSET,
                      "v2 space_waiting on the producer's line");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_packet_header_v2) == 8, "v2 packet header");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_packet_header_v2, data_offset) == 4, "v2 data_offset");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_packet_header_v2, data_length) == 6, "v2 data_length");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_ring_desc_v2) == 24, "v2 descriptor");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_ring_desc_v2, ring_ptr) == 8, "v2 ring_ptr");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_registration_v2) == 56, "v2 registration");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_registration_v2, receive) == 32, "v2 receive descriptor");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_registration_v2_ext) == RINGTUN_V2_REGISTRATION_EXT_SIZE, "v2 ext registration");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_registration_v2_ext, write_space_event) == 56, "v2 write-space event");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_offload_meta) == RINGTUN_OFFLOAD_META_SIZE, "offload metadata");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_offload_meta, hdr_len) == 2, "offload hdr_len");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_offload_meta, gso_size) == 4, "offload gso_size");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_offload_meta, csum_start) == 6, "offload csum_start");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_offload_meta, csum_offset) == 8, "offload csum_offset");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_offload_meta, reserved) == 10, "offload reserved");
RINGTUN_STATIC_ASSERT(sizeof(ringtun_capabilities) == 28, "capabilities");
RINGTUN_STATIC_ASSERT(offsetof(ringtun_capabilities, min_capacity) == 16, "capabilities min_capacity");

#ifdef __cplusplus
}
#endif

#endif /* RINGTUN_H */
