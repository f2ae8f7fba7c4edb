/*
 * The offload and write-space extensions of the Wintun API's Linux build, from C:
 *
 *   - RINGTUN_OFFLOAD_META and the grown RINGTUN_SESSION_STATISTICS have the ABI's layout, and a
 *     program built with the first statistics struct gets only its 48 bytes;
 *   - offload metadata set on an allocated slot reaches the driver (a TCP super-packet comes
 *     back cut into its segments; a block that does not fit its packet drops it), frames and
 *     room exclude the metadata block, and Wintun's own calls work in such a session;
 *   - RingtunWaitForSendSpace: a thread finds the send ring full and sleeps; another thread
 *     receives, so that the stack (the `backpressure` stack of the host platform) sends what it
 *     kept and the driver frees space; the waiter is woken by the driver's write-space signal
 *     (counted in SpaceSignals), not by a timer. Also the timeout, the end of the session while
 *     a thread waits, and the same session without the signal (woken by looking, no signal).
 *
 * Built by tests/c_api.rs and run with RINGTUN_WINTUN_STACK=backpressure (each test sets the
 * stack it needs before creating its adapter). Each test prints "ok <name>"; any failure exits
 * with status 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <uchar.h>

#include "common.h"

/* The ABI's metadata block (ringtun.h's ringtun_offload_meta, ring-abi's OffloadMeta). */
_Static_assert(sizeof(RINGTUN_OFFLOAD_META) == 16, "RINGTUN_OFFLOAD_META");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, Flags) == 0, "Flags");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, GsoType) == 1, "GsoType");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, HdrLen) == 2, "HdrLen");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, GsoSize) == 4, "GsoSize");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, CsumStart) == 6, "CsumStart");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, CsumOffset) == 8, "CsumOffset");
_Static_assert(offsetof(RINGTUN_OFFLOAD_META, Reserved) == 10, "Reserved");
_Static_assert(sizeof(RINGTUN_SESSION_STATISTICS) == 88, "RINGTUN_SESSION_STATISTICS");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, CopiedBytes) == 40, "CopiedBytes");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, SendRingFull) == 48, "SendRingFull");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, SpaceWaits) == 56, "SpaceWaits");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, SpaceFound) == 64, "SpaceFound");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, SpaceTimeouts) == 72, "SpaceTimeouts");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, SpaceSignals) == 80, "SpaceSignals");
_Static_assert(RINGTUN_SESSION_OFFLOAD == 2 && RINGTUN_SESSION_WRITE_SPACE == 4, "the ABI's flag bits");
_Static_assert(ERROR_TIMEOUT == 1460, "winerror.h");

static RINGTUN_SESSION_INFO info_of(WINTUN_SESSION_HANDLE s) {
    RINGTUN_SESSION_INFO info;
    memset(&info, 0, sizeof(info));
    info.Size = sizeof(info);
    CHECK(RingtunGetSessionInfo(s, &info), "info");
    return info;
}

static RINGTUN_SESSION_CONFIG config_with(DWORD flags, DWORD capacity) {
    RINGTUN_SESSION_CONFIG c;
    memset(&c, 0, sizeof(c));
    c.Size = sizeof(c);
    c.Flags = flags;
    c.ReceiveCapacity = capacity;
    c.SendCapacity = capacity;
    return c;
}

/* ----- the statistics of a program built with the first struct ----- */

static void test_statistics_sizes(void) {
    setenv("RINGTUN_WINTUN_STACK", "loopback", 1);
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"Statistics", u"Ringtun", NULL);
    CHECK(a, "create: %lu", (unsigned long)GetLastError());
    WINTUN_SESSION_HANDLE s = WintunStartSession(a, 0x20000);
    CHECK(s, "start");
    BYTE *p = WintunAllocateSendPacket(s, 100);
    CHECK(p, "allocate");
    make_packet(p, 100, 1);
    WintunSendPacket(s, p);

    /* The first version of the struct: 48 bytes, nothing written past them. */
    BYTE buffer[sizeof(RINGTUN_SESSION_STATISTICS)];
    memset(buffer, 0xAB, sizeof(buffer));
    DWORD old_size = 48;
    memcpy(buffer, &old_size, sizeof(old_size));
    CHECK(RingtunGetSessionStatistics(s, (RINGTUN_SESSION_STATISTICS *)buffer), "old size: %lu",
          (unsigned long)GetLastError());
    DWORD64 sent;
    memcpy(&sent, buffer + offsetof(RINGTUN_SESSION_STATISTICS, SentPackets), sizeof(sent));
    CHECK(sent == 1, "SentPackets %llu", (unsigned long long)sent);
    for (size_t i = 48; i < sizeof(buffer); i++)
        CHECK(buffer[i] == 0xAB, "byte %zu written past a 48-byte struct", i);
    old_size = 47;
    memcpy(buffer, &old_size, sizeof(old_size));
    CHECK_FAILS(RingtunGetSessionStatistics(s, (RINGTUN_SESSION_STATISTICS *)buffer), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(RingtunGetSessionStatistics(s, NULL), ERROR_INVALID_PARAMETER);
    RINGTUN_SESSION_STATISTICS st = statistics(s);
    CHECK(st.SentPackets == 1 && st.SendRingFull == 0 && st.SpaceWaits == 0, "full struct");

    WintunEndSession(s);
    WintunCloseAdapter(a);
    puts("ok statistics_sizes");
}

/* ----- offload metadata ----- */

static void put16(BYTE *p, unsigned v) {
    p[0] = (BYTE)(v >> 8);
    p[1] = (BYTE)v;
}

static void put32(BYTE *p, uint32_t v) {
    put16(p, v >> 16);
    put16(p + 2, v & 0xFFFF);
}

static uint32_t get32(const BYTE *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IPv4/TCP packet with `payload` bytes of pattern after 40 bytes of headers. */
static DWORD make_tcp(BYTE *p, DWORD payload, uint32_t seq) {
    DWORD len = 40 + payload;
    memset(p, 0, 40);
    p[0] = 0x45;
    put16(p + 2, len);
    put16(p + 4, 0x1234); /* identification */
    p[8] = 64;            /* TTL */
    p[9] = 6;             /* TCP */
    put32(p + 12, 0x0A000001);
    put32(p + 16, 0x0A000002);
    put16(p + 20, 40000);
    put16(p + 22, 443);
    put32(p + 24, seq);
    p[32] = 5 << 4; /* data offset: 20 bytes */
    p[33] = 0x10;   /* ACK */
    put16(p + 34, 0xFFFF);
    for (DWORD i = 0; i < payload; i++)
        p[40 + i] = (BYTE)(i * 13u + 7u);
    return len;
}

/* Waits for the next received packet (up to 5 s). */
static RINGTUN_PACKET receive_one(WINTUN_SESSION_HANDLE s) {
    RINGTUN_PACKET got;
    CHECK(receive_ex_wait(s, &got, 5000), "receive: %lu", (unsigned long)GetLastError());
    return got;
}

static void test_offload_metadata(void) {
    setenv("RINGTUN_WINTUN_STACK", "loopback", 1);
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"Offloads", u"Ringtun", NULL);
    CHECK(a, "create: %lu", (unsigned long)GetLastError());
    RINGTUN_CAPABILITIES caps;
    memset(&caps, 0, sizeof(caps));
    caps.Size = sizeof(caps);
    CHECK(RingtunGetCapabilities(a, &caps), "capabilities");
    CHECK((caps.SupportedFlags & (RINGTUN_SESSION_OFFLOAD | RINGTUN_SESSION_WRITE_SPACE)) ==
              (RINGTUN_SESSION_OFFLOAD | RINGTUN_SESSION_WRITE_SPACE),
          "the host driver offers both: %#lx", (unsigned long)caps.SupportedFlags);

    RINGTUN_SESSION_CONFIG config = config_with(RINGTUN_SESSION_OFFLOAD | RINGTUN_SESSION_RECEIVE_SPLIT, 0x100000);
    CHECK_FAILS(RingtunStartSession(a, &config), ERROR_INVALID_PARAMETER); /* not with RECEIVE_SPLIT */
    config = config_with(RINGTUN_SESSION_OFFLOAD, 0x100000);
    config.ReceiveHeadRoom = 8;
    config.ReceiveTailRoom = 16;
    config.SendHeadRoom = 32;
    config.SendTailRoom = 16;
    WINTUN_SESSION_HANDLE s = RingtunStartSession(a, &config);
    CHECK(s, "start: %lu", (unsigned long)GetLastError());
    RINGTUN_SESSION_INFO info = info_of(s);
    CHECK(info.Version == 2 && info.Flags == RINGTUN_SESSION_OFFLOAD, "granted: version %lu flags %#lx",
          (unsigned long)info.Version, (unsigned long)info.Flags);
    /* The room is the client's: the metadata block is not part of it. */
    CHECK(info.ReceiveHeadRoom == 8 && info.ReceiveTailRoom == 16 && info.SendHeadRoom == 32 &&
              info.SendTailRoom == 16,
          "room %u/%u %u/%u", info.ReceiveHeadRoom, info.ReceiveTailRoom, info.SendHeadRoom, info.SendTailRoom);

    /* A new slot is a plain packet; its frame starts after the block, with the head room asked. */
    RINGTUN_PACKET slot;
    CHECK(RingtunAllocateSendPacketEx(s, 0xFFFF, 16, 0, &slot), "allocate: %lu", (unsigned long)GetLastError());
    CHECK(slot.Offset == 16 && slot.Size == 0xFFFF, "offset %lu size %lu", (unsigned long)slot.Offset,
          (unsigned long)slot.Size);
    RINGTUN_OFFLOAD_META meta;
    memset(&meta, 0xEE, sizeof(meta));
    CHECK(RingtunGetSendPacketOffload(s, &slot, &meta), "get: %lu", (unsigned long)GetLastError());
    static const RINGTUN_OFFLOAD_META none;
    CHECK(memcmp(&meta, &none, sizeof(meta)) == 0, "a new slot is plain");

    /* A TCP super-packet: 2500 bytes of payload in 1000-byte segments. Written with the head
       room in front (where a VPN decrypts a record's header), then pointed at. */
    memset(slot.Frame, 0x55, 16);
    DWORD len = make_tcp(RINGTUN_PACKET_DATA(&slot), 2500, 1000);
    slot.Size = len;
    RINGTUN_OFFLOAD_META gso;
    memset(&gso, 0, sizeof(gso));
    gso.Flags = RINGTUN_OFFLOAD_F_NEEDS_CSUM;
    gso.GsoType = RINGTUN_OFFLOAD_GSO_TCPV4;
    gso.HdrLen = 40;
    gso.GsoSize = 1000;
    gso.CsumStart = 20;
    gso.CsumOffset = 16;
    CHECK(RingtunSetSendPacketOffload(s, &slot, &gso), "set: %lu", (unsigned long)GetLastError());
    CHECK(RingtunGetSendPacketOffload(s, &slot, &meta) && memcmp(&meta, &gso, sizeof(meta)) == 0, "read back");
    CHECK(RingtunSendPacketEx(s, &slot), "send: %lu", (unsigned long)GetLastError());
    CHECK_FAILS(RingtunGetSendPacketOffload(s, &slot, &meta), ERROR_INVALID_PARAMETER); /* sent: not held */

    /* The stack takes no super-packets: the driver cut it, and the loopback sends back each
       segment, a plain IP packet with the head room asked for in front. */
    static const DWORD segment_payload[3] = { 1000, 1000, 500 };
    for (int i = 0; i < 3; i++) {
        RINGTUN_PACKET got = receive_one(s);
        const BYTE *d = RINGTUN_PACKET_DATA(&got);
        CHECK(got.Offset == 8 && got.Size == 40 + segment_payload[i], "segment %d: offset %lu size %lu", i,
              (unsigned long)got.Offset, (unsigned long)got.Size);
        CHECK(((DWORD)d[2] << 8 | d[3]) == got.Size && d[9] == 6, "segment %d: IP length", i);
        CHECK(get32(d + 24) == 1000 + 1000u * (uint32_t)i, "segment %d: sequence %u", i, (unsigned)get32(d + 24));
        for (DWORD k = 0; k < segment_payload[i]; k++)
            CHECK(d[40 + k] == (BYTE)((1000u * (DWORD)i + k) * 13u + 7u), "segment %d: payload byte %lu", i,
                  (unsigned long)k);
        memset(&meta, 0xEE, sizeof(meta));
        CHECK(RingtunGetReceivePacketOffload(s, &got, &meta), "received block: %lu", (unsigned long)GetLastError());
        CHECK(memcmp(&meta, &none, sizeof(meta)) == 0, "a loopback segment is plain");
        CHECK(RingtunReleaseReceivePackets(s, &got, 1) == 1, "release");
        CHECK_FAILS(RingtunGetReceivePacketOffload(s, &got, &meta), ERROR_INVALID_PARAMETER); /* released */
    }

    /* A block that does not fit its packet (HdrLen one too many) drops the packet alone: the
       plain packet sent after it is the next one received. */
    CHECK(RingtunAllocateSendPacketEx(s, 1040, 0, 0, &slot), "allocate");
    make_tcp(RINGTUN_PACKET_DATA(&slot), 1000, 5);
    gso.HdrLen = 41;
    gso.GsoSize = 500;
    CHECK(RingtunSetSendPacketOffload(s, &slot, &gso), "set");
    CHECK(RingtunSendPacketEx(s, &slot), "send");
    BYTE *p = WintunAllocateSendPacket(s, 120);
    CHECK(p, "Wintun's allocation in an offload session: %lu", (unsigned long)GetLastError());
    make_packet(p, 120, 77);
    WintunSendPacket(s, p);
    DWORD size = 0;
    BYTE *q = receive_wait(s, &size, 5000);
    uint32_t tag = 0;
    CHECK(q && check_packet(q, size, &tag) && tag == 77, "the next packet is the plain one: size %lu",
          (unsigned long)size);
    WintunReleaseReceivePacket(s, q);

    /* Wintun's shrink in an offload session keeps the packet where it was allocated. */
    p = WintunAllocateSendPacket(s, 200);
    CHECK(p, "allocate");
    make_packet(p, 120, 78);
    CHECK(RingtunShrinkSendPacket(s, p, 120), "shrink: %lu", (unsigned long)GetLastError());
    q = receive_wait(s, &size, 5000);
    CHECK(q && check_packet(q, size, &tag) && tag == 78 && size == 120, "shrunk packet: size %lu",
          (unsigned long)size);
    WintunReleaseReceivePacket(s, q);

    /* Foreign pointers and NULLs. */
    RINGTUN_PACKET junk = slot;
    junk.Frame = (BYTE *)&junk;
    CHECK_FAILS(RingtunGetReceivePacketOffload(s, &junk, &meta), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(RingtunSetSendPacketOffload(s, &junk, &gso), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(RingtunGetSendPacketOffload(s, NULL, &meta), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(RingtunGetReceivePacketOffload(NULL, &junk, &meta), ERROR_INVALID_PARAMETER);
    WintunEndSession(s);

    /* Without offloads: received blocks read as plain, setting one is not supported. */
    config = config_with(0, 0x20000);
    s = RingtunStartSession(a, &config);
    CHECK(s && info_of(s).Flags == 0, "plain v2 session");
    CHECK(RingtunAllocateSendPacketEx(s, 100, 0, 0, &slot), "allocate");
    make_packet(RINGTUN_PACKET_DATA(&slot), 100, 79);
    CHECK_FAILS(RingtunSetSendPacketOffload(s, &slot, &gso), ERROR_NOT_SUPPORTED);
    CHECK(RingtunGetSendPacketOffload(s, &slot, &meta) && memcmp(&meta, &none, sizeof(meta)) == 0, "plain slot");
    CHECK(RingtunSendPacketEx(s, &slot), "send");
    RINGTUN_PACKET got = receive_one(s);
    memset(&meta, 0xEE, sizeof(meta));
    CHECK(RingtunGetReceivePacketOffload(s, &got, &meta) && memcmp(&meta, &none, sizeof(meta)) == 0, "plain packet");
    CHECK(RingtunReleaseReceivePackets(s, &got, 1) == 1, "release");
    WintunEndSession(s);
    WintunCloseAdapter(a);
    puts("ok offload_metadata");
}

/* ----- the write-space wait ----- */

#define PACKET 1400

struct waiter {
    WINTUN_SESSION_HANDLE session;
    DWORD milliseconds;
    BOOL result;
    DWORD error;
    double waited;
    atomic_int done;
};

static void *wait_for_space(void *arg) {
    struct waiter *w = arg;
    double start = now_seconds();
    SetLastError(0xDEADu);
    w->result = RingtunWaitForSendSpace(w->session, PACKET, 0, 0, w->milliseconds);
    w->error = GetLastError();
    w->waited = now_seconds() - start;
    atomic_store(&w->done, 1);
    return NULL;
}

struct drainer {
    WINTUN_SESSION_HANDLE session;
    int packets;
};

/* Receives (and checks) `packets` packets: the stack then sends what it kept, and the driver
   frees send-ring space. */
static void *drain(void *arg) {
    struct drainer *d = arg;
    for (int i = 0; i < d->packets; i++) {
        DWORD size = 0;
        BYTE *p = receive_wait(d->session, &size, 5000);
        uint32_t tag;
        CHECK(p && size == PACKET && check_packet(p, size, &tag), "drain: packet %d: %lu", i,
              (unsigned long)GetLastError());
        WintunReleaseReceivePacket(d->session, p);
    }
    return NULL;
}

/* Sends until the ring stays full: the stack keeps what the client's receive ring cannot take,
   holding those slots, so once the client stops receiving, the send ring fills and nothing
   frees it. Ends with a wait that timed out (the timeout case). Returns the packets sent. */
static int fill(WINTUN_SESSION_HANDLE s) {
    int sent = 0;
    for (;;) {
        BYTE *p = WintunAllocateSendPacket(s, PACKET);
        if (p) {
            make_packet(p, PACKET, (uint32_t)sent);
            WintunSendPacket(s, p);
            CHECK(++sent < 10000, "the ring never filled");
            continue;
        }
        CHECK(GetLastError() == ERROR_BUFFER_OVERFLOW, "allocate: %lu", (unsigned long)GetLastError());
        if (!RingtunWaitForSendSpace(s, PACKET, 0, 0, 200)) {
            CHECK(GetLastError() == ERROR_TIMEOUT, "wait: %lu", (unsigned long)GetLastError());
            return sent;
        }
    }
}

static void check_waiter(struct waiter *w, BOOL result, DWORD error) {
    CHECK(w->result == result && (result || w->error == error), "waiter: %d with %lu after %.3f s (want %d, %lu)",
          (int)w->result, (unsigned long)w->error, w->waited, (int)result, (unsigned long)error);
}

/* Fills the session's send ring, lets a thread wait for space, and a second thread receive what
   came back: the waiter wakes with room. Returns the waiter's wake-up statistics. */
static RINGTUN_SESSION_STATISTICS wait_while_another_thread_drains(WINTUN_SESSION_HANDLE s) {
    int sent = fill(s);
    RINGTUN_SESSION_STATISTICS before = statistics(s);
    CHECK(before.SendRingFull >= 1 && before.SpaceTimeouts >= 1 && before.SpaceWaits >= before.SpaceTimeouts,
          "filling counted: full %llu waits %llu timeouts %llu", (unsigned long long)before.SendRingFull,
          (unsigned long long)before.SpaceWaits, (unsigned long long)before.SpaceTimeouts);

    /* Nothing drains while the client does not receive: a wait times out, and 0 only looks. */
    double start = now_seconds();
    CHECK_FAILS(RingtunWaitForSendSpace(s, PACKET, 0, 0, 50), ERROR_TIMEOUT);
    CHECK(now_seconds() - start >= 0.045, "returned early: %.3f s", now_seconds() - start);
    CHECK_FAILS(RingtunWaitForSendSpace(s, PACKET, 0, 0, 0), ERROR_TIMEOUT);
    RINGTUN_SESSION_STATISTICS timed_out = statistics(s);
    CHECK(timed_out.SpaceTimeouts == before.SpaceTimeouts + 2 && timed_out.SpaceFound == before.SpaceFound,
          "two timeouts counted");

    struct waiter w = { .session = s, .milliseconds = 10000 };
    pthread_t waiter_thread, drainer_thread;
    CHECK(pthread_create(&waiter_thread, NULL, wait_for_space, &w) == 0, "thread");
    sleep_ms(100);
    CHECK(!atomic_load(&w.done), "woken before anything drained");
    struct drainer d = { .session = s, .packets = sent / 2 };
    CHECK(pthread_create(&drainer_thread, NULL, drain, &d) == 0, "thread");
    pthread_join(drainer_thread, NULL);
    pthread_join(waiter_thread, NULL);
    check_waiter(&w, TRUE, 0);
    CHECK(w.waited < 5, "woken after %.3f s", w.waited);
    BYTE *p = WintunAllocateSendPacket(s, PACKET);
    CHECK(p, "room after the wait: %lu", (unsigned long)GetLastError());
    make_packet(p, PACKET, 0xFFFF);
    WintunSendPacket(s, p);

    RINGTUN_SESSION_STATISTICS after = statistics(s);
    CHECK(after.SpaceWaits == timed_out.SpaceWaits + 1 && after.SpaceFound == timed_out.SpaceFound + 1 &&
              after.SpaceTimeouts == timed_out.SpaceTimeouts,
          "the wait counted: waits %llu found %llu", (unsigned long long)after.SpaceWaits,
          (unsigned long long)after.SpaceFound);
    after.SpaceSignals -= timed_out.SpaceSignals;
    return after;
}

static void test_write_space(void) {
    setenv("RINGTUN_WINTUN_STACK", "backpressure", 1);
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"Write space", u"Ringtun", NULL);
    CHECK(a, "create: %lu", (unsigned long)GetLastError());
    RINGTUN_SESSION_CONFIG config = config_with(RINGTUN_SESSION_WRITE_SPACE, WINTUN_MIN_RING_CAPACITY);
    WINTUN_SESSION_HANDLE s = RingtunStartSession(a, &config);
    CHECK(s, "start: %lu", (unsigned long)GetLastError());
    CHECK(info_of(s).Flags == RINGTUN_SESSION_WRITE_SPACE, "signal granted");
    CHECK_FAILS(RingtunWaitForSendSpace(s, 0, 0, 0, 0), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(RingtunWaitForSendSpace(s, 0x10000, 0, 0, 0), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(RingtunWaitForSendSpace(s, 100, 1, 0, 0), ERROR_INVALID_PARAMETER); /* room not asked for */
    CHECK_FAILS(RingtunWaitForSendSpace(NULL, 100, 0, 0, 0), ERROR_INVALID_PARAMETER);
    CHECK(RingtunWaitForSendSpace(s, PACKET, 0, 0, 0), "an empty ring has room");
    CHECK(statistics(s).SpaceWaits == 0, "room at once is no wait");

    /* The wake comes from the driver's signal. */
    RINGTUN_SESSION_STATISTICS woken = wait_while_another_thread_drains(s);
    CHECK(woken.SpaceSignals >= 1, "the waiter was not woken by the write-space signal");

    /* Full again; the adapter goes while a thread waits: it is woken and told the session
       ended. */
    int sent = fill(s);
    CHECK(sent > 0, "refilled");
    struct waiter w = { .session = s, .milliseconds = INFINITE };
    pthread_t waiter_thread;
    CHECK(pthread_create(&waiter_thread, NULL, wait_for_space, &w) == 0, "thread");
    sleep_ms(100);
    CHECK(!atomic_load(&w.done), "woken before the end");
    WintunCloseAdapter(a);
    pthread_join(waiter_thread, NULL);
    CHECK(w.waited < 5, "an INFINITE wait woken by the end after %.3f s", w.waited);
    if (w.result) {
        /* Woken by the space the end freed (the driver takes back what the stack kept before it
           stops the ring): the allocation reports the end. */
        CHECK_FAILS(WintunAllocateSendPacket(s, PACKET), ERROR_HANDLE_EOF);
    } else {
        check_waiter(&w, FALSE, ERROR_HANDLE_EOF);
    }
    CHECK_FAILS(RingtunWaitForSendSpace(s, PACKET, 0, 0, INFINITE), ERROR_HANDLE_EOF);
    WintunEndSession(s);

    /* Without the signal (not asked for) the same wait works by looking at the ring: no signal
       wakes it. */
    a = WintunCreateAdapter(u"Write space", u"Ringtun", NULL);
    CHECK(a, "create");
    config = config_with(0, WINTUN_MIN_RING_CAPACITY);
    s = RingtunStartSession(a, &config);
    CHECK(s && info_of(s).Flags == 0, "no signal");
    woken = wait_while_another_thread_drains(s);
    CHECK(woken.SpaceSignals == 0, "a signal without the signal: %llu", (unsigned long long)woken.SpaceSignals);
    WintunEndSession(s);
    WintunCloseAdapter(a);
    puts("ok write_space");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    test_statistics_sizes();
    test_offload_metadata();
    test_write_space();
    puts("all ok");
    return 0;
}
