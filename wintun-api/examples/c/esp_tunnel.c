/*
 * An ESP-style tunnel over the Ringtun extensions, with AES-256-GCM from OpenSSL's libcrypto,
 * encrypting and decrypting every packet where it lies in the rings.
 *
 *   outbound: a packet the client receives from adapter A arrives with 16 bytes of head room and
 *             at least 24 of tail room. The ESP header (SPI, sequence number) and the IV are
 *             written into the head room, the padding, pad length and next header after the
 *             packet, the packet is encrypted in place and the ICV written into the tail room;
 *             the datagram is sent to the UDP socket straight from the ring.
 *   inbound:  a slot of adapter B's send ring is allocated with room for a whole datagram, the
 *             datagram is received straight into it, decrypted and authenticated in place, and
 *             the slot is pointed at the inner packet (Offset, Size) and sent: no copy.
 *
 * Both ends run in this process, joined by two UDP sockets on 127.0.0.1; the adapters use the
 * loopback stack (RINGTUN_WINTUN_STACK=loopback), so the packets A's stack sends into the tunnel
 * are written into A by this program and the packets B's stack receives come back to it to be
 * checked. Every byte is checked, a forged datagram is refused, and the session counters show
 * that the library copied no packet byte.
 *
 * Build (Linux): cc -std=c11 -I wintun-api/include esp_tunnel.c -lwintun -lcrypto
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
        fprintf(stderr, "esp_tunnel: " __VA_ARGS__);                          \
        fputc('\n', stderr);                                                  \
        exit(1);                                                              \
    } while (0)

enum {
    ESP_HEADER = 8, /* SPI, sequence number */
    IV_SIZE = 8,
    HEAD_ROOM = ESP_HEADER + IV_SIZE,
    ICV_SIZE = 16,
    TAIL_ROOM = 3 + 2 + ICV_SIZE + 3, /* padding to 4 bytes, pad length, next header, ICV; rounded */
    MAX_INNER = 1400,
    BATCH = 32,
    ROUNDS = 48,
};

/* One direction's security association. */
struct sa {
    uint32_t spi;
    uint8_t key[32];
    uint8_t salt[4];
    uint64_t next_seq; /* sender: the next sequence number; receiver: the highest seen + 1 */
    EVP_CIPHER_CTX *ctx;
};

static void sa_init(struct sa *sa, uint32_t spi, uint8_t seed) {
    sa->spi = spi;
    for (int i = 0; i < 32; i++)
        sa->key[i] = (uint8_t)(seed * 17 + i);
    for (int i = 0; i < 4; i++)
        sa->salt[i] = (uint8_t)(seed + 101 * i);
    sa->next_seq = 1;
    sa->ctx = EVP_CIPHER_CTX_new();
    if (!sa->ctx || !EVP_CipherInit_ex(sa->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, -1) ||
        !EVP_CIPHER_CTX_ctrl(sa->ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL))
        FAIL("cipher setup");
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Turns the packet at Frame[HeadRoom .. HeadRoom + Size) into an ESP datagram in place, using the
 * head and tail room around it; returns the datagram's length (it starts at Frame).
 */
static size_t esp_seal(struct sa *sa, BYTE *frame, DWORD size, DWORD frame_size) {
    BYTE *payload = frame + HEAD_ROOM;
    DWORD pad = (4 - (size + 2) % 4) % 4;
    if (HEAD_ROOM + size + pad + 2 + ICV_SIZE > frame_size)
        FAIL("tail room too small");
    for (DWORD i = 0; i < pad; i++)
        payload[size + i] = (BYTE)(i + 1);
    payload[size + pad] = (BYTE)pad;
    payload[size + pad + 1] = 4; /* next header: IPv4 */
    DWORD plain = size + pad + 2;

    uint64_t seq = sa->next_seq++;
    put32(frame, sa->spi);
    put32(frame + 4, (uint32_t)seq);
    memcpy(frame + ESP_HEADER, &seq, IV_SIZE); /* the IV: unique per packet */
    uint8_t nonce[12];
    memcpy(nonce, sa->salt, 4);
    memcpy(nonce + 4, frame + ESP_HEADER, IV_SIZE);

    int len;
    if (!EVP_EncryptInit_ex(sa->ctx, NULL, NULL, sa->key, nonce) ||
        !EVP_EncryptUpdate(sa->ctx, NULL, &len, frame, ESP_HEADER) || /* AAD: SPI, sequence */
        !EVP_EncryptUpdate(sa->ctx, payload, &len, payload, (int)plain) || len != (int)plain ||
        !EVP_EncryptFinal_ex(sa->ctx, payload + plain, &len) ||
        !EVP_CIPHER_CTX_ctrl(sa->ctx, EVP_CTRL_GCM_GET_TAG, ICV_SIZE, payload + plain))
        FAIL("encrypt");
    return HEAD_ROOM + plain + ICV_SIZE;
}

/*
 * Authenticates and decrypts the datagram at Frame[0 .. Length) in place; on success stores where
 * the inner packet is in the frame and returns 1.
 */
static int esp_open(struct sa *sa, BYTE *frame, size_t length, DWORD *offset, DWORD *size) {
    if (length < HEAD_ROOM + 2 + ICV_SIZE || get32(frame) != sa->spi)
        return 0;
    uint32_t seq = get32(frame + 4);
    if (seq < sa->next_seq) /* replayed or reordered: this tunnel keeps order */
        return 0;
    BYTE *payload = frame + HEAD_ROOM;
    int cipher = (int)(length - HEAD_ROOM - ICV_SIZE);
    uint8_t nonce[12];
    memcpy(nonce, sa->salt, 4);
    memcpy(nonce + 4, frame + ESP_HEADER, IV_SIZE);
    int len;
    if (!EVP_DecryptInit_ex(sa->ctx, NULL, NULL, sa->key, nonce) ||
        !EVP_DecryptUpdate(sa->ctx, NULL, &len, frame, ESP_HEADER) ||
        !EVP_DecryptUpdate(sa->ctx, payload, &len, payload, cipher) ||
        !EVP_CIPHER_CTX_ctrl(sa->ctx, EVP_CTRL_GCM_SET_TAG, ICV_SIZE, payload + cipher) ||
        EVP_DecryptFinal_ex(sa->ctx, payload + cipher, &len) <= 0)
        return 0;
    DWORD pad = payload[cipher - 2];
    if (payload[cipher - 1] != 4 || pad + 2 > (DWORD)cipher)
        return 0;
    for (DWORD i = 0; i < pad; i++)
        if (payload[cipher - 2 - pad + i] != (BYTE)(i + 1))
            return 0;
    sa->next_seq = (uint64_t)seq + 1;
    *offset = HEAD_ROOM;
    *size = (DWORD)cipher - 2 - pad;
    return 1;
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
    struct sa out, in;
};

static void open_end(struct end *e, LPCWSTR name, const char *label) {
    e->name = label;
    e->adapter = WintunCreateAdapter(name, u"ESP", NULL);
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
        FAIL("%s: v2 rings needed for in-place ESP (version %lu, fallback %lu)", label, (unsigned long)info.Version,
             (unsigned long)info.Fallback);
}

/* The stack behind `from` sends `n` packets into the tunnel (the loopback stack hands them back
 * to the client as received packets). */
static void stack_sends(struct end *from, uint32_t first_tag, int n) {
    for (int i = 0; i < n; i++) {
        BYTE *p = WintunAllocateSendPacket(from->session, packet_length(first_tag + (uint32_t)i));
        if (!p)
            FAIL("%s: stack send: %lu", from->name, (unsigned long)GetLastError());
        make_packet(p, first_tag + (uint32_t)i);
        WintunSendPacket(from->session, p);
    }
}

/* Waits until `session` has packets to receive, up to 5 s. */
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

/* Outbound: every packet `e` receives is sealed in its slot and sent from there. */
static int outbound(struct end *e, int expected) {
    RINGTUN_PACKET packets[BATCH];
    DWORD n = receive_batch(e->session, packets, (DWORD)expected);
    for (DWORD i = 0; i < n; i++) {
        if (packets[i].Offset != HEAD_ROOM)
            FAIL("%s: head room %lu", e->name, (unsigned long)packets[i].Offset);
        size_t len = esp_seal(&e->out, packets[i].Frame, packets[i].Size, packets[i].FrameSize);
        if (send(e->socket, packets[i].Frame, len, 0) != (ssize_t)len)
            FAIL("%s: send", e->name);
    }
    if (RingtunReleaseReceivePackets(e->session, packets, n) != n)
        FAIL("%s: release", e->name);
    return (int)n;
}

/* Inbound: datagrams are received straight into slots of `e`'s send ring, opened there, and the
 * slots sent with the inner packet; a datagram that does not open leaves its slot for the next. */
static int inbound(struct end *e, int expected, int *forged) {
    RINGTUN_PACKET slots[BATCH];
    DWORD have = RingtunAllocateSendPackets(e->session, MAX_INNER, HEAD_ROOM, TAIL_ROOM, slots, BATCH);
    if (have != BATCH)
        FAIL("%s: allocate: %lu", e->name, (unsigned long)GetLastError());
    DWORD ready = 0;
    int received = 0;
    while (received < expected) {
        struct pollfd pfd = { e->socket, POLLIN, 0 };
        if (poll(&pfd, 1, 5000) != 1)
            FAIL("%s: no datagram", e->name);
        RINGTUN_PACKET *slot = &slots[ready];
        ssize_t len = recv(e->socket, slot->Frame, slot->FrameSize, 0);
        if (len <= 0)
            FAIL("%s: recv", e->name);
        received++;
        DWORD offset, size;
        if (!esp_open(&e->in, slot->Frame, (size_t)len, &offset, &size)) {
            ++*forged;
            continue; /* the slot takes the next datagram */
        }
        slot->Offset = offset;
        slot->Size = size;
        ready++;
    }
    if (RingtunSendPackets(e->session, slots, ready) != ready)
        FAIL("%s: send: %lu", e->name, (unsigned long)GetLastError());
    for (DWORD i = ready; i < BATCH; i++)
        if (!RingtunCancelSendPacket(e->session, &slots[i]))
            FAIL("%s: cancel", e->name);
    return (int)ready;
}

/* The stack behind `e` gets the packets: every byte checked, in order. */
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
    open_end(&a, u"esp-a", "A");
    open_end(&b, u"esp-b", "B");
    udp_pair(&a.socket, &b.socket);
    sa_init(&a.out, 0x1001, 1), sa_init(&b.in, 0x1001, 1); /* A to B */
    sa_init(&b.out, 0x2002, 2), sa_init(&a.in, 0x2002, 2); /* B to A */

    int forged = 0, delivered = 0;
    uint64_t inner_bytes = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint32_t tag = (uint32_t)round * BATCH;
        /* A's stack to B's stack. */
        stack_sends(&a, tag, BATCH);
        if (round == 7) {
            /* A datagram that does not authenticate is refused, its slot takes the next one, and
             * the tunnel goes on. */
            BYTE bad[HEAD_ROOM + 64 + ICV_SIZE] = { 0 };
            put32(bad, a.out.spi);
            put32(bad + 4, (uint32_t)a.out.next_seq);
            bad[HEAD_ROOM] ^= 1;
            if (send(a.socket, bad, sizeof(bad), 0) != (ssize_t)sizeof(bad))
                FAIL("send forged");
        }
        if (outbound(&a, BATCH) != BATCH)
            FAIL("A: outbound");
        if (round == 7) {
            if (inbound(&b, BATCH + 1, &forged) != BATCH)
                FAIL("B: inbound with a forged datagram");
        } else if (inbound(&b, BATCH, &forged) != BATCH) {
            FAIL("B: inbound");
        }
        stack_receives(&b, tag, BATCH);
        /* B's stack to A's stack. */
        tag += 0x100000;
        stack_sends(&b, tag, BATCH);
        if (outbound(&b, BATCH) != BATCH || inbound(&a, BATCH, &forged) != BATCH)
            FAIL("B to A");
        stack_receives(&a, tag, BATCH);
        delivered += 2 * BATCH;
        for (int i = 0; i < BATCH; i++)
            inner_bytes += packet_length((uint32_t)round * BATCH + (uint32_t)i) +
                           packet_length((uint32_t)round * BATCH + (uint32_t)i + 0x100000);
    }
    if (forged != 1)
        FAIL("%d datagrams refused, 1 forged", forged);

    /* The counters: the tunnel's packets went through the rings, and no byte was copied. */
    uint64_t copied = 0;
    struct end *ends[] = { &a, &b };
    for (int i = 0; i < 2; i++) {
        RINGTUN_SESSION_STATISTICS st = { .Size = sizeof(st) };
        if (!RingtunGetSessionStatistics(ends[i]->session, &st))
            FAIL("statistics");
        /* Each side received its stack's packets (to seal) and the peer's (to check), and sent
         * both as well: every inner byte passed through each session twice each way. */
        if (st.ReceivedBytes != inner_bytes || st.SentBytes != inner_bytes)
            FAIL("%s: received %llu sent %llu, expected %llu", ends[i]->name, (unsigned long long)st.ReceivedBytes,
                 (unsigned long long)st.SentBytes, (unsigned long long)inner_bytes);
        copied += st.CopiedBytes;
    }
    if (copied != 0)
        FAIL("the library copied %llu packet bytes", (unsigned long long)copied);
    printf("esp_tunnel: %d packets (%llu inner bytes) through the tunnel, every byte checked, 1 forged datagram "
           "refused, copied 0 bytes\n",
           delivered, (unsigned long long)inner_bytes);

    for (int i = 0; i < 2; i++) {
        WintunEndSession(ends[i]->session);
        WintunCloseAdapter(ends[i]->adapter);
        close(ends[i]->socket);
    }
    EVP_CIPHER_CTX_free(a.out.ctx), EVP_CIPHER_CTX_free(a.in.ctx);
    EVP_CIPHER_CTX_free(b.out.ctx), EVP_CIPHER_CTX_free(b.in.ctx);
    return 0;
}
