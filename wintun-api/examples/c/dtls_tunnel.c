/*
 * A Cisco-DTLS-style tunnel (the framing AnyConnect-compatible VPNs use) over the Ringtun
 * extensions, with AES-256-GCM from OpenSSL's libcrypto, every packet encrypted and decrypted
 * where it lies in the rings.
 *
 * A record is a DTLS 1.2 application-data record: a 13-byte header (type, version, epoch and
 * sequence number, length), an 8-byte explicit nonce, then the AEAD-sealed plaintext and its
 * 16-byte tag. The plaintext starts with a 1-byte type: 0x00 carries an IP packet (the rest of
 * the plaintext); 0x03 is a dead-peer-detection request, answered by 0x04 with the same payload;
 * 0x07 is a keepalive.
 *
 *   outbound: a packet the client receives from its adapter arrives with 22 bytes of head room
 *             and at least 16 of tail room: header, nonce and type byte go in front of it, it is
 *             encrypted in place, the tag goes after it, and the record is sent from the ring.
 *   inbound:  records are received straight into a slot of the adapter's send ring and decrypted
 *             there. A data record's slot is pointed at its IP packet (past the header, the nonce
 *             and the type byte; the tag cut off) and sent. A control record is handled and its
 *             slot takes the next record: control traffic uses no slot.
 *
 * Both ends run in this process, joined by UDP sockets on 127.0.0.1; the adapters use the
 * loopback stack (RINGTUN_WINTUN_STACK=loopback). Every byte is checked, every DPD request is
 * answered, and the session counters show that the library copied no packet byte.
 *
 * Build (Linux): cc -std=c11 -I wintun-api/include dtls_tunnel.c -lwintun -lcrypto
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringtun_wintun.h"

#define FAIL(...)                                                             \
    do {                                                                      \
        fprintf(stderr, "dtls_tunnel: " __VA_ARGS__);                         \
        fputc('\n', stderr);                                                  \
        exit(1);                                                              \
    } while (0)

enum {
    RECORD_HEADER = 13,
    EXPLICIT_NONCE = 8,
    TYPE_BYTE = 1,
    HEAD_ROOM = RECORD_HEADER + EXPLICIT_NONCE + TYPE_BYTE, /* 22 */
    TAG_SIZE = 16,
    TAIL_ROOM = TAG_SIZE,
    MAX_INNER = 1400,
    BATCH = 32,
    ROUNDS = 48,
};

enum { PKT_DATA = 0x00, PKT_DPD_REQUEST = 0x03, PKT_DPD_RESPONSE = 0x04, PKT_KEEPALIVE = 0x07 };

/* One direction's keys and record sequence. */
struct channel {
    uint8_t key[32];
    uint8_t salt[4];
    uint64_t next_seq; /* sender: the next one; receiver: the highest seen + 1 */
    EVP_CIPHER_CTX *ctx;
};

static void channel_init(struct channel *c, uint8_t seed) {
    for (int i = 0; i < 32; i++)
        c->key[i] = (uint8_t)(seed * 29 + i);
    for (int i = 0; i < 4; i++)
        c->salt[i] = (uint8_t)(seed + 53 * i);
    c->next_seq = 0;
    c->ctx = EVP_CIPHER_CTX_new();
    if (!c->ctx || !EVP_CipherInit_ex(c->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, -1) ||
        !EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL))
        FAIL("cipher setup");
}

/* The record's additional data: epoch and sequence, type, version, plaintext length. */
static void additional_data(uint8_t aad[13], const uint8_t *header, size_t plain) {
    memcpy(aad, header + 3, 8);
    aad[8] = header[0];
    aad[9] = header[1];
    aad[10] = header[2];
    aad[11] = (uint8_t)(plain >> 8);
    aad[12] = (uint8_t)plain;
}

/*
 * Seals the plaintext at Record[HEAD_ROOM - 1 .. HEAD_ROOM - 1 + Plain) (the type byte, then the
 * payload) into a record in place: header and nonce in front, the tag after. Returns the
 * record's length.
 */
static size_t seal(struct channel *c, BYTE *record, size_t plain) {
    uint64_t seq = c->next_seq++;
    record[0] = 23; /* application data */
    record[1] = 0xFE, record[2] = 0xFD; /* DTLS 1.2 */
    record[3] = 0, record[4] = 1;       /* epoch 1 */
    for (int i = 0; i < 6; i++)
        record[5 + i] = (uint8_t)(seq >> (40 - 8 * i));
    size_t body = EXPLICIT_NONCE + plain + TAG_SIZE;
    record[11] = (uint8_t)(body >> 8), record[12] = (uint8_t)body;
    memcpy(record + RECORD_HEADER, record + 3, EXPLICIT_NONCE); /* explicit nonce: epoch, sequence */
    uint8_t nonce[12], aad[13];
    memcpy(nonce, c->salt, 4);
    memcpy(nonce + 4, record + RECORD_HEADER, EXPLICIT_NONCE);
    additional_data(aad, record, plain);
    BYTE *text = record + RECORD_HEADER + EXPLICIT_NONCE;
    int len;
    if (!EVP_EncryptInit_ex(c->ctx, NULL, NULL, c->key, nonce) || !EVP_EncryptUpdate(c->ctx, NULL, &len, aad, 13) ||
        !EVP_EncryptUpdate(c->ctx, text, &len, text, (int)plain) || len != (int)plain ||
        !EVP_EncryptFinal_ex(c->ctx, text + plain, &len) ||
        !EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, text + plain))
        FAIL("encrypt");
    return RECORD_HEADER + body;
}

/* Opens the record at Record[0 .. Length) in place; returns the plaintext's length (the type byte
 * at Record[HEAD_ROOM - 1], the payload after it), or -1. */
static long open_record(struct channel *c, BYTE *record, size_t length) {
    if (length < RECORD_HEADER + EXPLICIT_NONCE + TYPE_BYTE + TAG_SIZE || record[0] != 23 || record[1] != 0xFE ||
        record[2] != 0xFD || ((size_t)record[11] << 8 | record[12]) != length - RECORD_HEADER)
        return -1;
    uint64_t seq = 0;
    for (int i = 0; i < 6; i++)
        seq = seq << 8 | record[5 + i];
    if (seq < c->next_seq)
        return -1;
    size_t plain = length - RECORD_HEADER - EXPLICIT_NONCE - TAG_SIZE;
    uint8_t nonce[12], aad[13];
    memcpy(nonce, c->salt, 4);
    memcpy(nonce + 4, record + RECORD_HEADER, EXPLICIT_NONCE);
    additional_data(aad, record, plain);
    BYTE *text = record + RECORD_HEADER + EXPLICIT_NONCE;
    int len;
    if (!EVP_DecryptInit_ex(c->ctx, NULL, NULL, c->key, nonce) || !EVP_DecryptUpdate(c->ctx, NULL, &len, aad, 13) ||
        !EVP_DecryptUpdate(c->ctx, text, &len, text, (int)plain) ||
        !EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, text + plain) ||
        EVP_DecryptFinal_ex(c->ctx, text + plain, &len) <= 0)
        return -1;
    c->next_seq = seq + 1;
    return (long)plain;
}

/* ----- the test traffic ----- */

static DWORD packet_length(uint32_t tag) {
    return 20 + (tag * 2654435761u) % (MAX_INNER - 19);
}

static void make_packet(BYTE *p, uint32_t tag) {
    DWORD len = packet_length(tag);
    p[0] = 0x45, p[1] = 0, p[2] = (BYTE)(len >> 8), p[3] = (BYTE)len;
    memcpy(p + 4, &tag, 4);
    for (DWORD i = 8; i < len; i++)
        p[i] = (BYTE)(tag * 31u + i * 7u);
}

static int packet_is(const BYTE *p, DWORD len, uint32_t tag) {
    if (len != packet_length(tag) || p[0] != 0x45 || memcmp(p + 4, &tag, 4) != 0)
        return 0;
    for (DWORD i = 8; i < len; i++)
        if (p[i] != (BYTE)(tag * 31u + i * 7u))
            return 0;
    return 1;
}

struct end {
    const char *name;
    WINTUN_ADAPTER_HANDLE adapter;
    WINTUN_SESSION_HANDLE session;
    int socket;
    struct channel out, in;
    int dpd_requests_answered, dpd_responses_seen, keepalives_seen;
    uint64_t last_dpd; /* the payload of the last DPD request this end sent */
};

static void open_end(struct end *e, LPCWSTR name, const char *label) {
    memset(e, 0, sizeof(*e));
    e->name = label;
    e->adapter = WintunCreateAdapter(name, u"DTLS", NULL);
    if (!e->adapter)
        FAIL("%s: create adapter: %lu", label, (unsigned long)GetLastError());
    RINGTUN_SESSION_CONFIG config = { .Size = sizeof(config) };
    config.ReceiveCapacity = config.SendCapacity = 0x400000;
    config.ReceiveHeadRoom = HEAD_ROOM;
    config.ReceiveTailRoom = TAIL_ROOM;
    config.SendHeadRoom = HEAD_ROOM;
    config.SendTailRoom = TAIL_ROOM;
    e->session = RingtunStartSession(e->adapter, &config);
    if (!e->session)
        FAIL("%s: start session: %lu", label, (unsigned long)GetLastError());
    RINGTUN_SESSION_INFO info = { .Size = sizeof(info) };
    if (!RingtunGetSessionInfo(e->session, &info) || info.Version != 2)
        FAIL("%s: v2 rings needed for in-place records (version %lu)", label, (unsigned long)info.Version);
}

/* A control record: built and sealed in a small buffer of its own (control traffic is not packet
 * data), and sent. */
static void send_control(struct end *e, BYTE type, uint64_t payload, size_t payload_size) {
    BYTE record[HEAD_ROOM + 8 + TAG_SIZE];
    record[HEAD_ROOM - 1] = type;
    memcpy(record + HEAD_ROOM, &payload, payload_size);
    size_t len = seal(&e->out, record, TYPE_BYTE + payload_size);
    if (send(e->socket, record, len, 0) != (ssize_t)len)
        FAIL("%s: send control", e->name);
}

static void stack_sends(struct end *from, uint32_t first_tag, int n) {
    for (int i = 0; i < n; i++) {
        BYTE *p = WintunAllocateSendPacket(from->session, packet_length(first_tag + (uint32_t)i));
        if (!p)
            FAIL("%s: stack send: %lu", from->name, (unsigned long)GetLastError());
        make_packet(p, first_tag + (uint32_t)i);
        WintunSendPacket(from->session, p);
    }
}

static DWORD receive_batch(WINTUN_SESSION_HANDLE session, RINGTUN_PACKET *packets, DWORD want) {
    DWORD n = 0;
    for (int tries = 0; n < want && tries < 100; tries++) {
        DWORD got = RingtunReceivePackets(session, packets + n, want - n);
        if (!got && GetLastError() != ERROR_NO_MORE_ITEMS)
            FAIL("receive: %lu", (unsigned long)GetLastError());
        n += got;
        if (n < want)
            WaitForSingleObject(WintunGetReadWaitEvent(session), 50);
    }
    return n;
}

/* Outbound: each packet `e` receives becomes a data record in its own slot, sent from there;
 * `controls` control records go out among them. */
static void outbound(struct end *e, int packets, int round) {
    RINGTUN_PACKET in[BATCH];
    DWORD n = receive_batch(e->session, in, (DWORD)packets);
    if (n != (DWORD)packets)
        FAIL("%s: %lu of %d packets to send", e->name, (unsigned long)n, packets);
    for (DWORD i = 0; i < n; i++) {
        if (in[i].Offset != HEAD_ROOM || in[i].FrameSize - in[i].Offset - in[i].Size < TAIL_ROOM)
            FAIL("%s: room %lu/%lu", e->name, (unsigned long)in[i].Offset, (unsigned long)in[i].FrameSize);
        in[i].Frame[HEAD_ROOM - 1] = PKT_DATA;
        size_t len = seal(&e->out, in[i].Frame, TYPE_BYTE + in[i].Size);
        if (send(e->socket, in[i].Frame, len, 0) != (ssize_t)len)
            FAIL("%s: send", e->name);
        if (i == 3) {
            e->last_dpd = 0xD0D0000000000000ull | ((uint64_t)round << 8) | (uint64_t)(e->name[0]);
            send_control(e, PKT_DPD_REQUEST, e->last_dpd, sizeof(e->last_dpd));
        }
        if (i == 17)
            send_control(e, PKT_KEEPALIVE, 0, 0);
    }
    if (RingtunReleaseReceivePackets(e->session, in, n) != n)
        FAIL("%s: release", e->name);
}

/* Inbound: exactly one slot per expected data record is allocated; records arrive straight into
 * the current slot; data records are pointed at their packet and the next slot is used, control
 * records are handled and the slot takes the next record. */
static void inbound(struct end *e, int data_records) {
    RINGTUN_PACKET slots[BATCH];
    if (RingtunAllocateSendPackets(e->session, MAX_INNER + TYPE_BYTE, HEAD_ROOM - TYPE_BYTE, TAIL_ROOM, slots,
                                   (DWORD)data_records) != (DWORD)data_records)
        FAIL("%s: allocate: %lu", e->name, (unsigned long)GetLastError());
    int ready = 0;
    while (ready < data_records) {
        struct pollfd pfd = { e->socket, POLLIN, 0 };
        if (poll(&pfd, 1, 5000) != 1)
            FAIL("%s: no record", e->name);
        RINGTUN_PACKET *slot = &slots[ready];
        ssize_t len = recv(e->socket, slot->Frame, slot->FrameSize, 0);
        long plain = len > 0 ? open_record(&e->in, slot->Frame, (size_t)len) : -1;
        if (plain < 1)
            FAIL("%s: a record does not open", e->name);
        BYTE type = slot->Frame[HEAD_ROOM - 1];
        const BYTE *payload = slot->Frame + HEAD_ROOM;
        uint64_t value = 0;
        switch (type) {
        case PKT_DATA:
            slot->Offset = HEAD_ROOM;
            slot->Size = (DWORD)plain - TYPE_BYTE;
            ready++;
            break;
        case PKT_DPD_REQUEST:
            memcpy(&value, payload, sizeof(value));
            send_control(e, PKT_DPD_RESPONSE, value, sizeof(value));
            e->dpd_requests_answered++;
            break;
        case PKT_DPD_RESPONSE:
            memcpy(&value, payload, sizeof(value));
            if (plain != TYPE_BYTE + 8 || value != e->last_dpd)
                FAIL("%s: a DPD response for another request", e->name);
            e->dpd_responses_seen++;
            break;
        case PKT_KEEPALIVE:
            e->keepalives_seen++;
            break;
        default:
            FAIL("%s: record type %u", e->name, (unsigned)type);
        }
    }
    if (RingtunSendPackets(e->session, slots, (DWORD)ready) != (DWORD)ready)
        FAIL("%s: send: %lu", e->name, (unsigned long)GetLastError());
}

/* A DPD response is read like any record: into a slot, which is then given back. */
static void read_dpd_response(struct end *e) {
    RINGTUN_PACKET slot;
    if (!RingtunAllocateSendPacketEx(e->session, MAX_INNER + TYPE_BYTE, HEAD_ROOM - TYPE_BYTE, TAIL_ROOM, &slot))
        FAIL("%s: allocate", e->name);
    struct pollfd pfd = { e->socket, POLLIN, 0 };
    if (poll(&pfd, 1, 5000) != 1)
        FAIL("%s: no DPD response", e->name);
    ssize_t len = recv(e->socket, slot.Frame, slot.FrameSize, 0);
    long plain = len > 0 ? open_record(&e->in, slot.Frame, (size_t)len) : -1;
    uint64_t value = 0;
    if (plain != TYPE_BYTE + 8 || slot.Frame[HEAD_ROOM - 1] != PKT_DPD_RESPONSE)
        FAIL("%s: expected a DPD response", e->name);
    memcpy(&value, slot.Frame + HEAD_ROOM, sizeof(value));
    if (value != e->last_dpd)
        FAIL("%s: a DPD response for another request", e->name);
    e->dpd_responses_seen++;
    if (!RingtunCancelSendPacket(e->session, &slot))
        FAIL("%s: cancel", e->name);
}

static void stack_receives(struct end *e, uint32_t first_tag, int n) {
    RINGTUN_PACKET packets[BATCH];
    DWORD got = receive_batch(e->session, packets, (DWORD)n);
    if (got != (DWORD)n)
        FAIL("%s: %lu of %d packets arrived", e->name, (unsigned long)got, n);
    for (int i = 0; i < n; i++)
        if (!packet_is(RINGTUN_PACKET_DATA(&packets[i]), packets[i].Size, first_tag + (uint32_t)i))
            FAIL("%s: packet %u damaged", e->name, first_tag + (unsigned)i);
    RingtunReleaseReceivePackets(e->session, packets, got);
}

static void udp_pair(int *a, int *b) {
    struct sockaddr_in addr[2];
    int fd[2];
    for (int i = 0; i < 2; i++) {
        fd[i] = socket(AF_INET, SOCK_DGRAM, 0);
        memset(&addr[i], 0, sizeof(addr[i]));
        addr[i].sin_family = AF_INET;
        addr[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(addr[i]);
        if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&addr[i], len) ||
            getsockname(fd[i], (struct sockaddr *)&addr[i], &len))
            FAIL("socket");
    }
    if (connect(fd[0], (struct sockaddr *)&addr[1], sizeof(addr[1])) ||
        connect(fd[1], (struct sockaddr *)&addr[0], sizeof(addr[0])))
        FAIL("connect");
    *a = fd[0], *b = fd[1];
}

int main(void) {
    struct end a, b;
    open_end(&a, u"dtls-a", "A");
    open_end(&b, u"dtls-b", "B");
    udp_pair(&a.socket, &b.socket);
    channel_init(&a.out, 1), channel_init(&b.in, 1); /* A to B */
    channel_init(&b.out, 2), channel_init(&a.in, 2); /* B to A */

    uint64_t inner_bytes = 0;
    int delivered = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint32_t tag = (uint32_t)round * BATCH;
        /* A to B: 32 data records, a DPD request and a keepalive among them. */
        stack_sends(&a, tag, BATCH);
        outbound(&a, BATCH, round);
        inbound(&b, BATCH);
        read_dpd_response(&a);
        stack_receives(&b, tag, BATCH);
        /* B to A likewise. */
        tag += 0x100000;
        stack_sends(&b, tag, BATCH);
        outbound(&b, BATCH, round);
        inbound(&a, BATCH);
        read_dpd_response(&b);
        stack_receives(&a, tag, BATCH);
        delivered += 2 * BATCH;
        for (int i = 0; i < BATCH; i++)
            inner_bytes += packet_length((uint32_t)round * BATCH + (uint32_t)i) +
                           packet_length((uint32_t)round * BATCH + (uint32_t)i + 0x100000);
    }
    struct end *ends[] = { &a, &b };
    uint64_t copied = 0;
    for (int i = 0; i < 2; i++) {
        struct end *e = ends[i];
        if (e->dpd_requests_answered != ROUNDS || e->dpd_responses_seen != ROUNDS || e->keepalives_seen != ROUNDS)
            FAIL("%s: %d DPD requests answered, %d responses, %d keepalives", e->name, e->dpd_requests_answered,
                 e->dpd_responses_seen, e->keepalives_seen);
        RINGTUN_SESSION_STATISTICS st = { .Size = sizeof(st) };
        if (!RingtunGetSessionStatistics(e->session, &st))
            FAIL("statistics");
        /* Only data went through the rings (control records used no slot): each side received its
         * stack's packets and the peer's, and sent both. */
        if (st.ReceivedBytes != inner_bytes || st.SentBytes != inner_bytes ||
            st.SentPackets != (DWORD64)delivered || st.ReceivedPackets != (DWORD64)delivered)
            FAIL("%s: received %llu sent %llu (packets %llu/%llu), expected %llu", e->name,
                 (unsigned long long)st.ReceivedBytes, (unsigned long long)st.SentBytes,
                 (unsigned long long)st.ReceivedPackets, (unsigned long long)st.SentPackets,
                 (unsigned long long)inner_bytes);
        copied += st.CopiedBytes;
    }
    if (copied != 0)
        FAIL("the library copied %llu packet bytes", (unsigned long long)copied);
    printf("dtls_tunnel: %d packets (%llu inner bytes) in data records, every byte checked, %d DPD exchanges and "
           "%d keepalives handled in reused slots, copied 0 bytes\n",
           delivered, (unsigned long long)inner_bytes, 2 * ROUNDS, 2 * ROUNDS);
    for (int i = 0; i < 2; i++) {
        WintunEndSession(ends[i]->session);
        WintunCloseAdapter(ends[i]->adapter);
        close(ends[i]->socket);
        EVP_CIPHER_CTX_free(ends[i]->out.ctx);
        EVP_CIPHER_CTX_free(ends[i]->in.ctx);
    }
    return 0;
}
