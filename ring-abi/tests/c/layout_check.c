/*
 * Checks ringtun.h against ring-abi from the C side.
 *   layout_check print         prints "name value" for every size, offset and constant
 *   layout_check write FILE    writes a v2 ring image with packets (see image_params)
 *   layout_check read FILE     validates and checks a ring image written by the Rust side
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtun.h"

#define P(name, value) printf("%s %lu\n", name, (unsigned long)(value))
#define SZ(type) P("size." #type, sizeof(type))
#define OFF(type, field) P("offset." #type "." #field, offsetof(type, field))

static void print_layout(void) {
    SZ(ringtun_ring_header_v1);
    OFF(ringtun_ring_header_v1, head);
    OFF(ringtun_ring_header_v1, tail);
    OFF(ringtun_ring_header_v1, alertable);
    SZ(ringtun_packet_header_v1);
    OFF(ringtun_packet_header_v1, size);
    SZ(ringtun_ring_desc_v1_64);
    OFF(ringtun_ring_desc_v1_64, ring_size);
    OFF(ringtun_ring_desc_v1_64, pad);
    OFF(ringtun_ring_desc_v1_64, ring_ptr);
    OFF(ringtun_ring_desc_v1_64, tail_moved_event);
    SZ(ringtun_registration_v1_64);
    OFF(ringtun_registration_v1_64, send);
    OFF(ringtun_registration_v1_64, receive);
    SZ(ringtun_ring_desc_v1_32);
    OFF(ringtun_ring_desc_v1_32, ring_size);
    OFF(ringtun_ring_desc_v1_32, ring_ptr);
    OFF(ringtun_ring_desc_v1_32, tail_moved_event);
    SZ(ringtun_registration_v1_32);
    OFF(ringtun_registration_v1_32, send);
    OFF(ringtun_registration_v1_32, receive);
    SZ(ringtun_ring_header_v2);
    OFF(ringtun_ring_header_v2, head);
    OFF(ringtun_ring_header_v2, alertable);
    OFF(ringtun_ring_header_v2, reserved0);
    OFF(ringtun_ring_header_v2, tail);
    OFF(ringtun_ring_header_v2, space_waiting);
    OFF(ringtun_ring_header_v2, reserved1);
    SZ(ringtun_packet_header_v2);
    OFF(ringtun_packet_header_v2, slot_size);
    OFF(ringtun_packet_header_v2, data_offset);
    OFF(ringtun_packet_header_v2, data_length);
    SZ(ringtun_ring_desc_v2);
    OFF(ringtun_ring_desc_v2, ring_size);
    OFF(ringtun_ring_desc_v2, headroom);
    OFF(ringtun_ring_desc_v2, tailroom);
    OFF(ringtun_ring_desc_v2, ring_ptr);
    OFF(ringtun_ring_desc_v2, tail_moved_event);
    SZ(ringtun_registration_v2);
    OFF(ringtun_registration_v2, version);
    OFF(ringtun_registration_v2, flags);
    OFF(ringtun_registration_v2, send);
    OFF(ringtun_registration_v2, receive);
    SZ(ringtun_registration_v2_ext);
    OFF(ringtun_registration_v2_ext, base);
    OFF(ringtun_registration_v2_ext, write_space_event);
    SZ(ringtun_offload_meta);
    OFF(ringtun_offload_meta, flags);
    OFF(ringtun_offload_meta, gso_type);
    OFF(ringtun_offload_meta, hdr_len);
    OFF(ringtun_offload_meta, gso_size);
    OFF(ringtun_offload_meta, csum_start);
    OFF(ringtun_offload_meta, csum_offset);
    OFF(ringtun_offload_meta, reserved);
    SZ(ringtun_capabilities);
    OFF(ringtun_capabilities, size);
    OFF(ringtun_capabilities, max_version);
    OFF(ringtun_capabilities, supported_flags);
    OFF(ringtun_capabilities, max_headroom);
    OFF(ringtun_capabilities, max_tailroom);
    OFF(ringtun_capabilities, min_capacity);
    OFF(ringtun_capabilities, max_capacity);
    OFF(ringtun_capabilities, driver_version);

    P("const.V1_ALIGNMENT", RINGTUN_V1_ALIGNMENT);
    P("const.V2_ALIGNMENT", RINGTUN_V2_ALIGNMENT);
    P("const.MAX_IP_PACKET_SIZE", RINGTUN_MAX_IP_PACKET_SIZE);
    P("const.V1_PACKET_HEADER_SIZE", RINGTUN_V1_PACKET_HEADER_SIZE);
    P("const.V2_PACKET_HEADER_SIZE", RINGTUN_V2_PACKET_HEADER_SIZE);
    P("const.V1_MAX_SLOT_SIZE", RINGTUN_V1_MAX_SLOT_SIZE);
    P("const.MIN_RING_CAPACITY", RINGTUN_MIN_RING_CAPACITY);
    P("const.MAX_RING_CAPACITY", RINGTUN_MAX_RING_CAPACITY);
    P("const.V1_RING_HEADER_SIZE", RINGTUN_V1_RING_HEADER_SIZE);
    P("const.V2_RING_HEADER_SIZE", RINGTUN_V2_RING_HEADER_SIZE);
    P("const.CACHE_LINE_SIZE", RINGTUN_CACHE_LINE_SIZE);
    P("const.V1_TRAILING_SIZE", RINGTUN_V1_TRAILING_SIZE);
    P("const.MAX_HEADROOM", RINGTUN_MAX_HEADROOM);
    P("const.MAX_TAILROOM", RINGTUN_MAX_TAILROOM);
    P("const.RING_STOPPED", RINGTUN_RING_STOPPED);
    P("const.CLIENT_OWNED_BIT", RINGTUN_CLIENT_OWNED_BIT);
    P("const.RINGTUN_DEVICE_TYPE", RINGTUN_DEVICE_TYPE);
    P("const.REGISTER_RINGS_FUNCTION", RINGTUN_REGISTER_RINGS_FUNCTION);
    P("const.QUERY_CAPABILITIES_FUNCTION", RINGTUN_QUERY_CAPABILITIES_FUNCTION);
    P("const.ABI_VERSION_2", RINGTUN_ABI_VERSION_2);
    P("const.V1_REGISTRATION_SIZE_64", RINGTUN_V1_REGISTRATION_SIZE_64);
    P("const.V1_REGISTRATION_SIZE_32", RINGTUN_V1_REGISTRATION_SIZE_32);
    P("const.V2_REGISTRATION_SIZE", RINGTUN_V2_REGISTRATION_SIZE);
    P("const.CAPABILITIES_SIZE", RINGTUN_CAPABILITIES_SIZE);
    P("const.V2_REGISTRATION_EXT_SIZE", RINGTUN_V2_REGISTRATION_EXT_SIZE);
    P("const.FLAG_RECEIVE_SPLIT", RINGTUN_FLAG_RECEIVE_SPLIT);
    P("const.FLAG_OFFLOAD", RINGTUN_FLAG_OFFLOAD);
    P("const.FLAG_WRITE_SPACE", RINGTUN_FLAG_WRITE_SPACE);
    P("const.OFFLOAD_META_SIZE", RINGTUN_OFFLOAD_META_SIZE);
    P("const.OFFLOAD_META_OFFSET", RINGTUN_OFFLOAD_META_OFFSET);
    P("const.OFFLOAD_MIN_DATA_OFFSET", RINGTUN_OFFLOAD_MIN_DATA_OFFSET);
    P("const.MAX_GSO_SEGMENTS", RINGTUN_MAX_GSO_SEGMENTS);
    P("const.MAX_OFFLOAD_HEADER", RINGTUN_MAX_OFFLOAD_HEADER);
    P("const.OFFLOAD_F_NEEDS_CSUM", RINGTUN_OFFLOAD_F_NEEDS_CSUM);
    P("const.OFFLOAD_F_DATA_VALID", RINGTUN_OFFLOAD_F_DATA_VALID);
    P("const.OFFLOAD_GSO_NONE", RINGTUN_OFFLOAD_GSO_NONE);
    P("const.OFFLOAD_GSO_TCPV4", RINGTUN_OFFLOAD_GSO_TCPV4);
    P("const.OFFLOAD_GSO_TCPV6", RINGTUN_OFFLOAD_GSO_TCPV6);
    P("const.OFFLOAD_GSO_UDP_L4", RINGTUN_OFFLOAD_GSO_UDP_L4);
    P("const.OFFLOAD_GSO_ECN", RINGTUN_OFFLOAD_GSO_ECN);
    P("const.SPACE_WAITING_OFFSET", RINGTUN_SPACE_WAITING_OFFSET);
    P("const.IOCTL_REGISTER_RINGS", RINGTUN_IOCTL_REGISTER_RINGS);
    P("const.IOCTL_QUERY_CAPABILITIES", RINGTUN_IOCTL_QUERY_CAPABILITIES);

    P("fn.v1_ring_size.0x400000", ringtun_v1_ring_size(0x400000u));
    P("fn.v2_max_slot.32.16", ringtun_v2_max_slot(32, 16));
    P("fn.v2_ring_size.0x400000.32.16", ringtun_v2_ring_size(0x400000u, 32, 16));
    P("fn.v2_ring_size.0x4000000.4096.4096", ringtun_v2_ring_size(0x4000000u, 4096, 4096));
    P("fn.v2_slot_size.1500.16.16", ringtun_v2_slot_size(1500, 16, 16));
    P("fn.v1_slot_size.1500", ringtun_v1_slot_size(1500));
}

/* The image both sides agree on: v2, capacity 0x20000, starting 64 bytes before the end of
 * the data area so that packets straddle the wrap point. */
#define IMG_CAPACITY 0x20000u
#define IMG_START (IMG_CAPACITY - 64u)
#define IMG_PACKETS 6u

static uint8_t payload(uint32_t packet, uint32_t byte) { return (uint8_t)(packet * 31u + byte * 7u + 1u); }

static int write_image(const char *path) {
    const uint16_t headroom = 16, tailroom = 8;
    uint32_t size = ringtun_v2_ring_size(IMG_CAPACITY, headroom, tailroom);
    uint8_t *ring = calloc(1, size);
    if (!ring) return 2;
    ringtun_ring_header_v2 hdr;
    memset(&hdr, 0, sizeof hdr);
    uint8_t *data = ring + RINGTUN_V2_RING_HEADER_SIZE;
    uint32_t tail = IMG_START;
    for (uint32_t i = 0; i < IMG_PACKETS; i++) {
        uint32_t len = 20u + i * 37u;
        ringtun_packet_header_v2 ph;
        ph.slot_size = ringtun_v2_slot_size(len, headroom, tailroom);
        ph.data_offset = (uint16_t)(RINGTUN_V2_PACKET_HEADER_SIZE + headroom);
        ph.data_length = (uint16_t)len;
        memcpy(data + tail, &ph, sizeof ph);
        for (uint32_t j = 0; j < len; j++) data[tail + ph.data_offset + j] = payload(i, j);
        tail = (tail + ph.slot_size) & (IMG_CAPACITY - 1u);
    }
    hdr.head = IMG_START;
    hdr.tail = tail;
    memcpy(ring, &hdr, sizeof hdr);
    FILE *f = fopen(path, "wb");
    if (!f) return 2;
    size_t n = fwrite(ring, 1, size, f);
    fclose(f);
    free(ring);
    return n == size ? 0 : 2;
}

/* Reads the image the Rust side writes: v2, capacity 0x20000, ring room 4/12, packets whose
 * data start was moved forward by (i % 3) bytes and whose length was shrunk. Validates every
 * packet with the consumer rules of the protocol and checks the bytes. */
static int read_image(const char *path) {
    const uint16_t headroom = 4, tailroom = 12;
    uint32_t size = ringtun_v2_ring_size(IMG_CAPACITY, headroom, tailroom);
    uint8_t *ring = malloc(size);
    if (!ring) return 2;
    FILE *f = fopen(path, "rb");
    if (!f) return 2;
    size_t n = fread(ring, 1, size, f);
    fclose(f);
    if (n != size) { fprintf(stderr, "short image: %lu\n", (unsigned long)n); return 3; }
    ringtun_ring_header_v2 hdr;
    memcpy(&hdr, ring, sizeof hdr);
    const uint8_t *data = ring + RINGTUN_V2_RING_HEADER_SIZE;
    uint32_t head = hdr.head, tail = hdr.tail, count = 0;
    uint32_t max_slot = ringtun_v2_max_slot(headroom, tailroom);
    if (tail >= IMG_CAPACITY || (tail & 7u)) { fprintf(stderr, "bad tail\n"); return 4; }
    while (head != tail) {
        uint32_t content = (tail - head) & (IMG_CAPACITY - 1u);
        ringtun_packet_header_v2 ph;
        if (content < sizeof ph) { fprintf(stderr, "content too small\n"); return 4; }
        memcpy(&ph, data + head, sizeof ph);
        if ((ph.slot_size & RINGTUN_CLIENT_OWNED_BIT) || (ph.slot_size & 7u) || ph.slot_size < 8u ||
            ph.slot_size > max_slot || ph.slot_size > content || ph.data_offset < 8u ||
            (uint32_t)ph.data_offset + ph.data_length > ph.slot_size) {
            fprintf(stderr, "packet %u invalid\n", count);
            return 4;
        }
        uint32_t want_offset = 8u + headroom + (count % 3u);
        uint32_t want_len = 40u + count * 53u;
        if (ph.data_offset != want_offset || ph.data_length != want_len) {
            fprintf(stderr, "packet %u: offset %u len %u\n", count, ph.data_offset, ph.data_length);
            return 5;
        }
        for (uint32_t j = 0; j < ph.data_length; j++) {
            if (data[head + ph.data_offset + j] != payload(count + 100u, j)) {
                fprintf(stderr, "packet %u byte %u differs\n", count, j);
                return 6;
            }
        }
        head = (head + ph.slot_size) & (IMG_CAPACITY - 1u);
        count++;
    }
    free(ring);
    printf("packets %u\n", count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "print") == 0) { print_layout(); return 0; }
    if (argc == 3 && strcmp(argv[1], "write") == 0) return write_image(argv[2]);
    if (argc == 3 && strcmp(argv[1], "read") == 0) return read_image(argv[2]);
    fprintf(stderr, "usage: layout_check print | write FILE | read FILE\n");
    return 1;
}
