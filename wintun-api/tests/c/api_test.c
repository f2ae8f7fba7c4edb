/*
 * The Wintun API's Linux build from C: all 14 Wintun calls and the Ringtun extensions, their
 * error paths, threads receiving and releasing out of order and allocating and sending
 * concurrently, the end of a session under waiting threads, and an adapter closed mid-traffic.
 *
 * Built by tests/c_api.rs against include/ringtun_wintun.h and linked with libwintun.so; run
 * with RINGTUN_WINTUN_STACK=loopback (every packet sent comes back as a received one). Each test
 * prints "ok <name>"; any failure exits with status 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <uchar.h>

#include "common.h"

_Static_assert(sizeof(GUID) == 16, "GUID");
_Static_assert(sizeof(NET_LUID) == 8, "NET_LUID");
_Static_assert(sizeof(WCHAR) == 2, "WCHAR is UTF-16");
_Static_assert(sizeof(RINGTUN_CAPABILITIES) == 28, "RINGTUN_CAPABILITIES");
_Static_assert(offsetof(RINGTUN_CAPABILITIES, MaxHeadRoom) == 12, "MaxHeadRoom");
_Static_assert(offsetof(RINGTUN_CAPABILITIES, DriverVersion) == 24, "DriverVersion");
_Static_assert(sizeof(RINGTUN_SESSION_CONFIG) == 24, "RINGTUN_SESSION_CONFIG");
_Static_assert(offsetof(RINGTUN_SESSION_CONFIG, ReceiveHeadRoom) == 16, "ReceiveHeadRoom");
_Static_assert(offsetof(RINGTUN_SESSION_CONFIG, SendTailRoom) == 22, "SendTailRoom");
_Static_assert(sizeof(RINGTUN_SESSION_INFO) == 36, "RINGTUN_SESSION_INFO");
_Static_assert(offsetof(RINGTUN_SESSION_INFO, ReceiveHeadRoom) == 28, "info ReceiveHeadRoom");
_Static_assert(sizeof(RINGTUN_SESSION_STATISTICS) == 88, "RINGTUN_SESSION_STATISTICS");
_Static_assert(offsetof(RINGTUN_SESSION_STATISTICS, CopiedBytes) == 40, "CopiedBytes");
_Static_assert(offsetof(RINGTUN_PACKET, FrameSize) == sizeof(void *), "FrameSize");
_Static_assert(offsetof(RINGTUN_PACKET, Size) == sizeof(void *) + 8, "Size");
_Static_assert(sizeof(RINGTUN_PACKET) == (sizeof(void *) == 8 ? 24 : 16), "RINGTUN_PACKET");

/* A pointer no session handed out. */
static BYTE junk[64];
static void *junk_pointer(void) {
    return junk + 8;
}

static const GUID TEST_GUID = { 0x12345678, 0x9abc, 0xdef0, { 1, 2, 3, 4, 5, 6, 7, 8 } };

static uint64_t luid_of(WINTUN_ADAPTER_HANDLE a) {
    NET_LUID luid;
    luid.Value = 0;
    WintunGetAdapterLUID(a, &luid);
    return luid.Value;
}

/* ----- adapters, the driver, strings ----- */

static void test_driver_and_adapters(void) {
    /* No adapter: no driver loaded. */
    CHECK_FAILS(WintunGetRunningDriverVersion(), ERROR_FILE_NOT_FOUND);
    CHECK(WintunDeleteDriver(), "nothing to delete: %lu", (unsigned long)GetLastError());
    setenv("RINGTUN_WINTUN_DELETE_DRIVER", "1", 1);
    CHECK(WintunDeleteDriver(), "opted in, nothing to delete: %lu", (unsigned long)GetLastError());
    unsetenv("RINGTUN_WINTUN_DELETE_DRIVER");

    CHECK_FAILS(WintunCreateAdapter(NULL, u"Test", NULL), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(WintunCreateAdapter(u"", u"Test", NULL), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(WintunCreateAdapter(u"Name", NULL, NULL), ERROR_INVALID_PARAMETER);
    WCHAR long_name[130];
    for (int i = 0; i < 129; i++)
        long_name[i] = u'a';
    long_name[128] = 0;
    CHECK_FAILS(WintunCreateAdapter(long_name, u"Test", NULL), ERROR_BUFFER_OVERFLOW);
    CHECK_FAILS(WintunOpenAdapter(long_name), ERROR_BUFFER_OVERFLOW);
    long_name[127] = 0;
    WINTUN_ADAPTER_HANDLE longest = WintunCreateAdapter(long_name, u"Test", NULL);
    CHECK(longest, "127 characters fit: %lu", (unsigned long)GetLastError());
    WintunCloseAdapter(longest);
    CHECK_FAILS(WintunOpenAdapter(u"no such adapter"), ERROR_NOT_FOUND);
    CHECK_FAILS(WintunOpenAdapter(NULL), ERROR_INVALID_PARAMETER);
    WintunCloseAdapter(NULL);

    WINTUN_ADAPTER_HANDLE first = WintunCreateAdapter(u"Office", u"Ringtun", &TEST_GUID);
    CHECK(first, "create: %lu", (unsigned long)GetLastError());
    DWORD version = WintunGetRunningDriverVersion();
    CHECK(version == 0x1, "version %#lx (0.1 as major << 16 | minor)", (unsigned long)version);
    /* The driver is kept by default (ringtun cannot install it again, unlike Wintun's DLL): the
       call succeeds while adapters exist and the driver keeps running. */
    SetLastError(0xDEADu);
    CHECK(WintunDeleteDriver(), "kept by default: %lu", (unsigned long)GetLastError());
    CHECK(GetLastError() == 0xDEADu, "success leaves the last error alone");
    CHECK(WintunGetRunningDriverVersion() == 0x1, "the driver still runs");
    /* With the administrator's opt-in, deleted as Wintun deletes: refused while an adapter uses
       it. */
    setenv("RINGTUN_WINTUN_DELETE_DRIVER", "1", 1);
    CHECK_FAILS(WintunDeleteDriver(), ERROR_INF_IN_USE_BY_DEVICES);
    setenv("RINGTUN_WINTUN_DELETE_DRIVER", "0", 1);
    CHECK(WintunDeleteDriver(), "0 keeps the driver");
    unsetenv("RINGTUN_WINTUN_DELETE_DRIVER");

    NET_LUID luid;
    luid.Value = luid_of(first);
    CHECK(luid.Info.IfType == 53, "IfType %u", (unsigned)luid.Info.IfType);
    CHECK(luid.Info.NetLuidIndex != 0 && luid.Info.Reserved == 0, "LUID %#llx", (unsigned long long)luid.Value);
    SetLastError(0);
    WintunGetAdapterLUID(NULL, &luid);
    CHECK(GetLastError() == ERROR_INVALID_PARAMETER, "LUID of NULL");

    WINTUN_ADAPTER_HANDLE opened = WintunOpenAdapter(u"oFFICE");
    CHECK(opened && luid_of(opened) == luid_of(first), "open without regard to case");
    WintunCloseAdapter(opened);
    CHECK(WintunOpenAdapter(u"Office") != NULL, "closing an opened handle keeps the adapter");

    /* A second adapter with the name takes it; the first becomes "Office 1", as Wintun renames
       the holder. A third takes it again; the second becomes the first free "Office N". */
    WINTUN_ADAPTER_HANDLE second = WintunCreateAdapter(u"Office", u"Ringtun", NULL);
    CHECK(second && luid_of(second) != luid_of(first), "second adapter");
    WINTUN_ADAPTER_HANDLE renamed = WintunOpenAdapter(u"Office 1");
    CHECK(renamed && luid_of(renamed) == luid_of(first), "the holder was renamed \"Office 1\"");
    WINTUN_ADAPTER_HANDLE named = WintunOpenAdapter(u"Office");
    CHECK(named && luid_of(named) == luid_of(second), "the new one has the name");
    WintunCloseAdapter(renamed);
    WintunCloseAdapter(named);
    CHECK_FAILS(WintunOpenAdapter(u"Office 2"), ERROR_NOT_FOUND);
    WINTUN_ADAPTER_HANDLE third = WintunCreateAdapter(u"OFFICE", u"Ringtun", NULL);
    CHECK(third, "third adapter");
    renamed = WintunOpenAdapter(u"Office 2");
    CHECK(renamed && luid_of(renamed) == luid_of(second), "\"Office 1\" is taken: the second became \"OFFICE 2\"");
    WintunCloseAdapter(renamed);
    WintunCloseAdapter(third);

    WintunCloseAdapter(first);
    CHECK_FAILS(WintunOpenAdapter(u"Office 1"), ERROR_NOT_FOUND);
    WintunCloseAdapter(second);
    CHECK_FAILS(WintunOpenAdapter(u"Office"), ERROR_NOT_FOUND);
    CHECK_FAILS(WintunGetRunningDriverVersion(), ERROR_FILE_NOT_FOUND);
    setenv("RINGTUN_WINTUN_DELETE_DRIVER", "1", 1);
    CHECK(WintunDeleteDriver(), "opted in: deleted once no adapter is left");
    unsetenv("RINGTUN_WINTUN_DELETE_DRIVER");
    puts("ok driver_and_adapters");
}

/* ----- the logger ----- */

#define MAX_RECORDS 64
static pthread_mutex_t records_lock = PTHREAD_MUTEX_INITIALIZER;
static struct record {
    WINTUN_LOGGER_LEVEL level;
    DWORD64 timestamp;
    char text[256];
    pthread_t thread;
} records[MAX_RECORDS];
static int record_count;

static VOID CALLBACK test_logger(WINTUN_LOGGER_LEVEL level, DWORD64 timestamp, LPCWSTR message) {
    pthread_mutex_lock(&records_lock);
    if (record_count < MAX_RECORDS) {
        struct record *r = &records[record_count++];
        r->level = level;
        r->timestamp = timestamp;
        r->thread = pthread_self();
        size_t i = 0;
        for (; message[i] && i < sizeof(r->text) - 1; i++)
            r->text[i] = message[i] < 128 ? (char)message[i] : '?';
        r->text[i] = 0;
    }
    pthread_mutex_unlock(&records_lock);
}

static int find_record(WINTUN_LOGGER_LEVEL level, const char *needle, int from) {
    pthread_mutex_lock(&records_lock);
    int found = -1;
    for (int i = from; i < record_count && found < 0; i++)
        if (records[i].level == level && strstr(records[i].text, needle))
            found = i;
    pthread_mutex_unlock(&records_lock);
    return found;
}

static void *create_in_thread(void *name) {
    return WintunCreateAdapter((LPCWSTR)name, u"Ringtun", NULL);
}

static void test_logger_calls(void) {
    WintunSetLogger(test_logger);
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"LoggedAdapter", u"Ringtun", NULL);
    CHECK(a, "create");
    int i = find_record(WINTUN_LOG_INFO, "LoggedAdapter", 0);
    CHECK(i >= 0, "an information message names the adapter");
    /* FILETIME: 100-ns intervals since 1601. */
    DWORD64 now = ((DWORD64)time(NULL) + 11644473600ull) * 10000000ull;
    DWORD64 ts = records[i].timestamp;
    CHECK(ts > now - 600000000ull && ts < now + 600000000ull, "timestamp %llu vs now %llu", (unsigned long long)ts,
          (unsigned long long)now);
    CHECK(pthread_equal(records[i].thread, pthread_self()), "called on the calling thread");

    /* From another thread: the callback runs there. */
    pthread_t t;
    void *b;
    pthread_create(&t, NULL, create_in_thread, (void *)u"ThreadAdapter");
    pthread_join(t, &b);
    CHECK(b, "create in a thread");
    i = find_record(WINTUN_LOG_INFO, "ThreadAdapter", 0);
    CHECK(i >= 0 && pthread_equal(records[i].thread, t), "logged on the creating thread");

    /* Errors are logged as errors. */
    setenv("RINGTUN_WINTUN_STACK", "no-such-stack", 1);
    CHECK_FAILS(WintunCreateAdapter(u"Refused", u"Ringtun", NULL), ERROR_INVALID_PARAMETER);
    setenv("RINGTUN_WINTUN_STACK", "loopback", 1);
    CHECK(find_record(WINTUN_LOG_ERR, "RINGTUN_WINTUN_STACK", 0) >= 0, "the refusal is logged as an error");

    /* WintunDeleteDriver says that it kept the driver, and how to let it delete; a setting it
       does not know keeps the driver too, with a warning. */
    CHECK(WintunDeleteDriver(), "kept");
    CHECK(find_record(WINTUN_LOG_INFO, "is kept", 0) >= 0, "keeping the driver is logged as information");
    CHECK(find_record(WINTUN_LOG_INFO, "RINGTUN_WINTUN_DELETE_DRIVER=1", 0) >= 0, "the opt-in is named");
    setenv("RINGTUN_WINTUN_DELETE_DRIVER", "yes", 1);
    CHECK(WintunDeleteDriver(), "an unknown setting keeps the driver");
    CHECK(find_record(WINTUN_LOG_WARN, "ignored", 0) >= 0, "an unknown setting is a warning");
    unsetenv("RINGTUN_WINTUN_DELETE_DRIVER");

    WintunSetLogger(NULL);
    int before = record_count;
    WintunCloseAdapter(a);
    WintunCloseAdapter((WINTUN_ADAPTER_HANDLE)b);
    CHECK(record_count == before, "no logger, no calls");
    puts("ok logger");
}

/* ----- sessions: errors, order, ring full ----- */

static void test_session_errors_and_order(void) {
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"Sessions", u"Ringtun", NULL);
    CHECK(a, "create");
    CHECK_FAILS(WintunStartSession(NULL, 0x20000), ERROR_INVALID_PARAMETER);
    DWORD bad[] = { 0, 0x10000, 0x30000, 0x8000000, 0xFFFFFFFFu };
    for (size_t i = 0; i < _countof(bad); i++)
        CHECK_FAILS(WintunStartSession(a, bad[i]), ERROR_INVALID_PARAMETER);
    WINTUN_SESSION_HANDLE s = WintunStartSession(a, WINTUN_MIN_RING_CAPACITY);
    CHECK(s, "start: %lu", (unsigned long)GetLastError());
    CHECK_FAILS(WintunStartSession(a, WINTUN_MIN_RING_CAPACITY), ERROR_ALREADY_INITIALIZED);

    DWORD size;
    CHECK_FAILS(WintunReceivePacket(s, &size), ERROR_NO_MORE_ITEMS);
    CHECK_FAILS(WintunReceivePacket(s, NULL), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(WintunReceivePacket(NULL, &size), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(WintunAllocateSendPacket(s, 0), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(WintunAllocateSendPacket(s, WINTUN_MAX_IP_PACKET_SIZE + 1), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(WintunAllocateSendPacket(NULL, 100), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(WintunGetReadWaitEvent(NULL), ERROR_INVALID_PARAMETER);
    HANDLE ev = WintunGetReadWaitEvent(s);
    CHECK(ev, "read-wait event");
    CHECK(WaitForSingleObject(ev, 0) == WAIT_TIMEOUT, "not signalled with nothing to read");
    CHECK_FAILS(CloseHandle(ev), ERROR_INVALID_HANDLE);

    /* Pointers the session did not hand out are refused, and the session goes on. */
    SetLastError(0);
    WintunReleaseReceivePacket(s, junk);
    CHECK(GetLastError() == ERROR_INVALID_PARAMETER, "release of a foreign pointer");
    SetLastError(0);
    WintunSendPacket(s, junk);
    CHECK(GetLastError() == ERROR_INVALID_PARAMETER, "send of a foreign pointer");

    /* Fill the ring without sending: the allocations stop with ERROR_BUFFER_OVERFLOW. */
    enum { LEN = 1400 };
    static BYTE *held[256];
    int n = 0;
    for (;;) {
        BYTE *p = WintunAllocateSendPacket(s, LEN);
        if (!p)
            break;
        CHECK(n < 256, "the ring never fills");
        make_packet(p, LEN, (uint32_t)n);
        held[n++] = p;
    }
    CHECK(GetLastError() == ERROR_BUFFER_OVERFLOW, "full ring: %lu", (unsigned long)GetLastError());
    /* 128 KiB of 1404-byte slots: 93 fit (the ring keeps one alignment unit free). */
    CHECK(n == (int)((WINTUN_MIN_RING_CAPACITY - 4) / 1404), "%d slots", n);
    SetLastError(0);
    WintunReleaseReceivePacket(s, held[0]);
    CHECK(GetLastError() == ERROR_INVALID_PARAMETER, "an outgoing slot is not a received packet");
    /* Sent in reverse: they leave in allocation order. */
    for (int i = n - 1; i >= 0; i--)
        WintunSendPacket(s, held[i]);
    SetLastError(0);
    WintunSendPacket(s, held[0]);
    CHECK(GetLastError() == ERROR_INVALID_PARAMETER, "sent twice");
    for (int i = 0; i < n; i++) {
        BYTE *p = receive_wait(s, &size, 5000);
        CHECK(p, "packet %d back: %lu", i, (unsigned long)GetLastError());
        uint32_t tag = 0;
        CHECK(size == LEN && check_packet(p, size, &tag) && tag == (uint32_t)i, "packet %d: tag %u size %lu", i,
              (unsigned)tag, (unsigned long)size);
        WintunReleaseReceivePacket(s, p);
        SetLastError(0);
        WintunReleaseReceivePacket(s, p);
        CHECK(GetLastError() == ERROR_INVALID_PARAMETER, "released twice");
    }
    RINGTUN_SESSION_STATISTICS st = statistics(s);
    CHECK(st.SentPackets == (DWORD64)n && st.ReceivedPackets == (DWORD64)n && st.CopiedBytes == 0,
          "sent %llu received %llu copied %llu", (unsigned long long)st.SentPackets,
          (unsigned long long)st.ReceivedPackets, (unsigned long long)st.CopiedBytes);
    WintunEndSession(s);
    WintunEndSession(NULL);
    /* The adapter takes a new session once the old one ended. */
    s = WintunStartSession(a, WINTUN_MAX_RING_CAPACITY);
    CHECK(s, "restart with the largest capacity: %lu", (unsigned long)GetLastError());
    WintunEndSession(s);
    WintunCloseAdapter(a);
    puts("ok session_errors_and_order");
}

/* ----- threads ----- */

enum { SENDERS = 4, RECEIVERS = 4, PER_SENDER = 400 };
static WINTUN_SESSION_HANDLE mt_session;
static atomic_int mt_received;
static atomic_uchar mt_seen[SENDERS][PER_SENDER];
static atomic_int mt_bad;

static DWORD mt_length(uint32_t sender, uint32_t seq) {
    return 60 + (sender * 977 + seq * 131) % 1400;
}

static void *mt_sender(void *arg) {
    uint32_t sender = (uint32_t)(uintptr_t)arg;
    for (uint32_t seq = 0; seq < PER_SENDER; seq++) {
        DWORD len = mt_length(sender, seq);
        BYTE *p;
        while (!(p = WintunAllocateSendPacket(mt_session, len))) {
            if (GetLastError() != ERROR_BUFFER_OVERFLOW) {
                fprintf(stderr, "sender %u: allocate failed with %lu\n", sender, (unsigned long)GetLastError());
                atomic_fetch_add(&mt_bad, 1);
                return NULL;
            }
            sched_yield();
        }
        make_packet(p, len, sender << 16 | seq);
        WintunSendPacket(mt_session, p);
    }
    return NULL;
}

static void *mt_receiver(void *arg) {
    unsigned salt = (unsigned)(uintptr_t)arg;
    BYTE *held[8];
    int n = 0;
    double deadline = now_seconds() + 30;
    while (atomic_load(&mt_received) < SENDERS * PER_SENDER && now_seconds() < deadline) {
        DWORD size;
        BYTE *p = WintunReceivePacket(mt_session, &size);
        DWORD error = p ? ERROR_SUCCESS : GetLastError();
        if (p) {
            uint32_t tag = 0;
            if (!check_packet(p, size, &tag) || (tag >> 16) >= SENDERS || (tag & 0xFFFF) >= PER_SENDER ||
                size != mt_length(tag >> 16, tag & 0xFFFF) ||
                atomic_exchange(&mt_seen[tag >> 16][tag & 0xFFFF], 1) != 0) {
                fprintf(stderr, "receiver %u: bad packet: size %lu tag %#x\n", salt, (unsigned long)size, (unsigned)tag);
                atomic_fetch_add(&mt_bad, 1);
            }
            atomic_fetch_add(&mt_received, 1);
            held[n++] = p;
        }
        /* Release what is held out of order, several at a time: last, first, second last, second... */
        if (n == 8 || (!p && n > 0)) {
            for (int k = 0; k < n; k++) {
                int i = k % 2 == 0 ? n - 1 - k / 2 : k / 2;
                SetLastError(ERROR_SUCCESS);
                WintunReleaseReceivePacket(mt_session, held[salt % 2 ? i : n - 1 - i]);
                if (GetLastError() != ERROR_SUCCESS) {
                    fprintf(stderr, "receiver %u: release failed with %lu\n", salt, (unsigned long)GetLastError());
                    atomic_fetch_add(&mt_bad, 1);
                }
            }
            n = 0;
        }
        if (!p) {
            if (error != ERROR_NO_MORE_ITEMS) {
                fprintf(stderr, "receiver %u: receive failed with %lu\n", salt, (unsigned long)error);
                atomic_fetch_add(&mt_bad, 1);
                break;
            }
            WaitForSingleObject(WintunGetReadWaitEvent(mt_session), 20);
        }
    }
    for (int k = 0; k < n; k++)
        WintunReleaseReceivePacket(mt_session, held[k]);
    return NULL;
}

static void test_threads(void) {
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"Threads", u"Ringtun", NULL);
    CHECK(a, "create");
    /* 1600 packets of at most 1460 bytes fit the 4 MiB ring: the loopback drops none. */
    mt_session = WintunStartSession(a, 0x400000);
    CHECK(mt_session, "start");
    pthread_t senders[SENDERS], receivers[RECEIVERS];
    for (uintptr_t i = 0; i < RECEIVERS; i++)
        pthread_create(&receivers[i], NULL, mt_receiver, (void *)i);
    for (uintptr_t i = 0; i < SENDERS; i++)
        pthread_create(&senders[i], NULL, mt_sender, (void *)i);
    for (int i = 0; i < SENDERS; i++)
        pthread_join(senders[i], NULL);
    for (int i = 0; i < RECEIVERS; i++)
        pthread_join(receivers[i], NULL);
    CHECK(atomic_load(&mt_bad) == 0, "%d bad packets or calls", atomic_load(&mt_bad));
    CHECK(atomic_load(&mt_received) == SENDERS * PER_SENDER, "received %d", atomic_load(&mt_received));
    for (int s = 0; s < SENDERS; s++)
        for (int q = 0; q < PER_SENDER; q++)
            CHECK(atomic_load(&mt_seen[s][q]), "packet %d/%d missing", s, q);
    RINGTUN_SESSION_STATISTICS st = statistics(mt_session);
    CHECK(st.SentPackets == SENDERS * PER_SENDER && st.ReceivedPackets == SENDERS * PER_SENDER &&
              st.SentBytes == st.ReceivedBytes && st.CopiedBytes == 0,
          "statistics");
    /* Every slot was released: the ring is empty again. */
    DWORD size;
    CHECK_FAILS(WintunReceivePacket(mt_session, &size), ERROR_NO_MORE_ITEMS);
    WintunEndSession(mt_session);
    WintunCloseAdapter(a);
    puts("ok threads");
}

/* ----- the end of a session under waiting threads ----- */

enum { WAITERS = 4 };
static atomic_int waiters_done;
static DWORD waiter_error[WAITERS];

static void *waiter(void *arg) {
    int i = (int)(uintptr_t)arg;
    HANDLE ev = WintunGetReadWaitEvent(mt_session);
    for (;;) {
        DWORD size;
        BYTE *p = WintunReceivePacket(mt_session, &size);
        if (p) {
            WintunReleaseReceivePacket(mt_session, p);
            continue;
        }
        DWORD e = GetLastError();
        if (e == ERROR_NO_MORE_ITEMS) {
            WaitForSingleObject(ev, INFINITE);
            continue;
        }
        waiter_error[i] = e;
        break;
    }
    atomic_fetch_add(&waiters_done, 1);
    return NULL;
}

static void test_end_wakes_every_waiter(void) {
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"Waiters", u"Ringtun", NULL);
    CHECK(a, "create");
    mt_session = WintunStartSession(a, 0x20000);
    CHECK(mt_session, "start");
    pthread_t t[WAITERS];
    for (uintptr_t i = 0; i < WAITERS; i++)
        pthread_create(&t[i], NULL, waiter, (void *)i);
    sleep_ms(300); /* all of them asleep on the event, with no timeout */
    double start = now_seconds();
    WintunCloseAdapter(a); /* removes the adapter: the session ends */
    while (atomic_load(&waiters_done) < WAITERS) {
        if (now_seconds() - start > 10) {
            fprintf(stderr, "only %d of %d waiters returned within 10 s\n", atomic_load(&waiters_done), WAITERS);
            exit(1);
        }
        sleep_ms(5);
    }
    double elapsed = now_seconds() - start;
    for (int i = 0; i < WAITERS; i++) {
        pthread_join(t[i], NULL);
        CHECK(waiter_error[i] == ERROR_HANDLE_EOF, "waiter %d: error %lu", i, (unsigned long)waiter_error[i]);
    }
    CHECK(elapsed < 2.0, "waiters took %.3f s", elapsed);
    CHECK_FAILS(WintunAllocateSendPacket(mt_session, 100), ERROR_HANDLE_EOF);
    DWORD size;
    CHECK_FAILS(WintunReceivePacket(mt_session, &size), ERROR_HANDLE_EOF);
    CHECK(WaitForSingleObject(WintunGetReadWaitEvent(mt_session), 0) == WAIT_OBJECT_0,
          "the event stays signalled for later waiters");
    WintunEndSession(mt_session);
    printf("ok end_wakes_every_waiter (%.1f ms)\n", elapsed * 1000);
}

/* ----- closing the adapter mid-traffic ----- */

static atomic_int traffic_sent, traffic_received, traffic_bad, traffic_done;
static DWORD traffic_error[4];

static void *traffic_sender(void *arg) {
    int i = (int)(uintptr_t)arg;
    for (uint32_t seq = 0;; seq++) {
        DWORD len = 40 + seq % 1000;
        BYTE *p = WintunAllocateSendPacket(mt_session, len);
        if (!p) {
            DWORD e = GetLastError();
            if (e == ERROR_BUFFER_OVERFLOW) {
                sched_yield();
                continue;
            }
            traffic_error[i] = e;
            break;
        }
        make_packet(p, len, (uint32_t)i << 24 | seq);
        WintunSendPacket(mt_session, p);
        atomic_fetch_add(&traffic_sent, 1);
    }
    atomic_fetch_add(&traffic_done, 1);
    return NULL;
}

static void *traffic_receiver(void *arg) {
    int i = (int)(uintptr_t)arg;
    for (;;) {
        DWORD size;
        BYTE *p = WintunReceivePacket(mt_session, &size);
        if (p) {
            uint32_t tag = 0;
            if (!check_packet(p, size, &tag))
                atomic_fetch_add(&traffic_bad, 1);
            WintunReleaseReceivePacket(mt_session, p);
            atomic_fetch_add(&traffic_received, 1);
            continue;
        }
        DWORD e = GetLastError();
        if (e == ERROR_NO_MORE_ITEMS) {
            WaitForSingleObject(WintunGetReadWaitEvent(mt_session), INFINITE);
            continue;
        }
        traffic_error[i] = e;
        break;
    }
    atomic_fetch_add(&traffic_done, 1);
    return NULL;
}

static void test_close_mid_traffic(void) {
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"Traffic", u"Ringtun", NULL);
    CHECK(a, "create");
    mt_session = WintunStartSession(a, 0x100000);
    CHECK(mt_session, "start");
    pthread_t t[4];
    pthread_create(&t[0], NULL, traffic_sender, (void *)0);
    pthread_create(&t[1], NULL, traffic_sender, (void *)1);
    pthread_create(&t[2], NULL, traffic_receiver, (void *)2);
    pthread_create(&t[3], NULL, traffic_receiver, (void *)3);
    while (atomic_load(&traffic_received) < 2000)
        sleep_ms(5);
    double start = now_seconds();
    WintunCloseAdapter(a);
    while (atomic_load(&traffic_done) < 4) {
        CHECK(now_seconds() - start < 10, "%d of 4 threads stopped within 10 s", atomic_load(&traffic_done));
        sleep_ms(5);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(traffic_error[i] == ERROR_HANDLE_EOF, "thread %d stopped with %lu", i, (unsigned long)traffic_error[i]);
    }
    CHECK(atomic_load(&traffic_bad) == 0, "%d damaged packets", atomic_load(&traffic_bad));
    CHECK_FAILS(WintunOpenAdapter(u"Traffic"), ERROR_NOT_FOUND);
    WintunEndSession(mt_session);
    printf("ok close_mid_traffic (%d sent, %d received)\n", atomic_load(&traffic_sent), atomic_load(&traffic_received));
}

/* ----- the Ringtun extensions ----- */

static RINGTUN_SESSION_INFO info_of(WINTUN_SESSION_HANDLE s) {
    RINGTUN_SESSION_INFO info;
    memset(&info, 0, sizeof(info));
    info.Size = sizeof(info);
    CHECK(RingtunGetSessionInfo(s, &info), "info");
    return info;
}

/* Receives `n` packets (waiting), checks each against make_packet with the expected tag and
 * length, and releases them in reverse order through the batch call. */
static void expect_packets(WINTUN_SESSION_HANDLE s, int n, const uint32_t *tags, const DWORD *lens) {
    RINGTUN_PACKET got[64];
    int have = 0;
    double deadline = now_seconds() + 5;
    while (have < n) {
        DWORD k = RingtunReceivePackets(s, got + have, (DWORD)(n - have));
        if (k == 0) {
            CHECK(GetLastError() == ERROR_NO_MORE_ITEMS && now_seconds() < deadline, "receive: %lu after %d of %d",
                  (unsigned long)GetLastError(), have, n);
            WaitForSingleObject(WintunGetReadWaitEvent(s), 50);
        }
        have += (int)k;
    }
    for (int i = 0; i < n; i++) {
        uint32_t tag = 0;
        CHECK(check_packet(RINGTUN_PACKET_DATA(&got[i]), got[i].Size, &tag) && tag == tags[i] && got[i].Size == lens[i],
              "packet %d: tag %u (want %u) size %lu (want %lu)", i, (unsigned)tag, (unsigned)tags[i],
              (unsigned long)got[i].Size, (unsigned long)lens[i]);
    }
    RINGTUN_PACKET reversed[64];
    for (int i = 0; i < n; i++)
        reversed[i] = got[n - 1 - i];
    CHECK(RingtunReleaseReceivePackets(s, reversed, (DWORD)n) == (DWORD)n, "release batch");
}

static WINTUN_SESSION_HANDLE delayed_session;

static void *send_after_a_while(void *arg) {
    (void)arg;
    sleep_ms(200);
    BYTE *p = WintunAllocateSendPacket(delayed_session, 90);
    if (p) {
        make_packet(p, 90, 76);
        WintunSendPacket(delayed_session, p);
    }
    return NULL;
}

static void test_v2_extensions(void) {
    WINTUN_ADAPTER_HANDLE a = WintunCreateAdapter(u"Extensions", u"Ringtun", NULL);
    CHECK(a, "create");
    RINGTUN_CAPABILITIES caps;
    memset(&caps, 0, sizeof(caps));
    CHECK_FAILS(RingtunGetCapabilities(a, &caps), ERROR_INVALID_PARAMETER); /* Size 0 */
    caps.Size = sizeof(caps);
    CHECK(RingtunGetCapabilities(a, &caps), "capabilities: %lu", (unsigned long)GetLastError());
    CHECK(caps.MaxVersion == 2 && (caps.SupportedFlags & RINGTUN_SESSION_RECEIVE_SPLIT) && caps.MaxHeadRoom == 4096 &&
              caps.MaxTailRoom == 4096 && caps.MinCapacity == WINTUN_MIN_RING_CAPACITY &&
              caps.MaxCapacity == WINTUN_MAX_RING_CAPACITY && caps.DriverVersion == 0x100,
          "capabilities: version %lu flags %#lx room %u/%u driver %#lx", (unsigned long)caps.MaxVersion,
          (unsigned long)caps.SupportedFlags, caps.MaxHeadRoom, caps.MaxTailRoom, (unsigned long)caps.DriverVersion);

    RINGTUN_SESSION_CONFIG config;
    memset(&config, 0, sizeof(config));
    config.Size = sizeof(config);
    config.Flags = RINGTUN_SESSION_RECEIVE_SPLIT;
    config.ReceiveCapacity = 0x100000;
    config.SendCapacity = 0x100000;
    config.ReceiveHeadRoom = 24;
    config.ReceiveTailRoom = 16;
    config.SendHeadRoom = 32;
    config.SendTailRoom = 32;
    CHECK_FAILS(RingtunStartSession(a, NULL), ERROR_INVALID_PARAMETER);
    config.Flags = 0x80;
    CHECK_FAILS(RingtunStartSession(a, &config), ERROR_INVALID_PARAMETER); /* an unknown flag */
    config.Flags = RINGTUN_SESSION_RECEIVE_SPLIT;
    config.ReceiveCapacity = 0x30000;
    CHECK_FAILS(RingtunStartSession(a, &config), ERROR_INVALID_PARAMETER);
    config.ReceiveCapacity = 0x100000;
    WINTUN_SESSION_HANDLE s = RingtunStartSession(a, &config);
    CHECK(s, "start: %lu", (unsigned long)GetLastError());
    RINGTUN_SESSION_INFO info = info_of(s);
    CHECK(info.Version == 2 && info.Fallback == RINGTUN_FALLBACK_NONE && info.Flags == RINGTUN_SESSION_RECEIVE_SPLIT &&
              info.ReceiveCapacity == 0x100000 && info.ReceiveHeadRoom == 24 && info.ReceiveTailRoom == 16 &&
              info.SendHeadRoom == 32 && info.SendTailRoom == 32,
          "v2 session info");

    /* A v2 session signals the read-wait event for a client that waits on it after
     * ERROR_NO_MORE_ITEMS, as Wintun's does: the empty receive armed it. */
    {
        DWORD size;
        CHECK_FAILS(WintunReceivePacket(s, &size), ERROR_NO_MORE_ITEMS);
        pthread_t t;
        delayed_session = s;
        pthread_create(&t, NULL, send_after_a_while, NULL);
        double start = now_seconds();
        DWORD woken = WaitForSingleObject(WintunGetReadWaitEvent(s), 5000);
        double waited = now_seconds() - start;
        pthread_join(t, NULL);
        CHECK(woken == WAIT_OBJECT_0 && waited < 2.0, "v2 wait: %lu after %.3f s", (unsigned long)woken, waited);
        BYTE *p = receive_wait(s, &size, 1000);
        uint32_t tag = 0;
        CHECK(p && check_packet(p, size, &tag) && tag == 76, "the packet that woke the wait");
        WintunReleaseReceivePacket(s, p);
    }

    /* One packet: a record written into the frame, the packet moved and cut inside it. */
    RINGTUN_PACKET slot;
    CHECK(RingtunAllocateSendPacketEx(s, 100, 32, 32, &slot), "allocate: %lu", (unsigned long)GetLastError());
    CHECK(slot.Offset == 32 && slot.Size == 100 && slot.FrameSize >= 164, "slot %lu/%lu/%lu",
          (unsigned long)slot.Offset, (unsigned long)slot.Size, (unsigned long)slot.FrameSize);
    memset(slot.Frame, 0xAB, slot.FrameSize);
    make_packet(slot.Frame + 5, 80, 77);
    slot.Offset = 5;
    slot.Size = 80;
    CHECK(RingtunSendPacketEx(s, &slot), "send moved packet: %lu", (unsigned long)GetLastError());
    CHECK_FAILS(RingtunSendPacketEx(s, &slot), ERROR_INVALID_PARAMETER); /* sent already */
    RINGTUN_PACKET in;
    CHECK(receive_ex_wait(s, &in, 5000), "receive: %lu", (unsigned long)GetLastError());
    uint32_t tag = 0;
    CHECK(in.Offset == 24 && in.Size == 80 && in.FrameSize - in.Offset - in.Size >= 16, "room %lu/%lu/%lu",
          (unsigned long)in.Offset, (unsigned long)in.Size, (unsigned long)in.FrameSize);
    CHECK(check_packet(RINGTUN_PACKET_DATA(&in), in.Size, &tag) && tag == 77, "bytes");
    memset(in.Frame, 0x11, in.Offset);                                  /* head room: ours */
    memset(RINGTUN_PACKET_DATA(&in) + in.Size, 0x22, in.FrameSize - in.Offset - in.Size); /* tail room */
    WintunReleaseReceivePacket(s, RINGTUN_PACKET_DATA(&in));

    /* Room beyond the session's, ranges outside the frame: refused, the slot stays held. */
    CHECK_FAILS(RingtunAllocateSendPacketEx(s, 100, 33, 0, &slot), ERROR_INVALID_PARAMETER);
    CHECK_FAILS(RingtunAllocateSendPacketEx(s, 100, 0, 0, NULL), ERROR_INVALID_PARAMETER);
    CHECK(RingtunAllocateSendPacketEx(s, 100, 0, 0, &slot), "allocate");
    RINGTUN_PACKET outside = slot;
    outside.Offset = 8;
    outside.Size = slot.FrameSize;
    CHECK_FAILS(RingtunSendPacketEx(s, &outside), ERROR_INVALID_PARAMETER);
    outside.Size = 0;
    outside.Offset = 0;
    CHECK_FAILS(RingtunSendPacketEx(s, &outside), ERROR_INVALID_PARAMETER);
    make_packet(slot.Frame, 100, 78);
    CHECK(RingtunSendPacketEx(s, &slot), "the refused slot is still held");
    {
        uint32_t t[] = { 78 };
        DWORD l[] = { 100 };
        expect_packets(s, 1, t, l);
    }

    /* Batches: 16 slots allocated and sent in one call each, received and released in batches. */
    RINGTUN_PACKET batch[16];
    CHECK_FAILS(RingtunAllocateSendPackets(s, 200, 16, 16, batch, 0), ERROR_INVALID_PARAMETER);
    CHECK(RingtunAllocateSendPackets(s, 200, 16, 16, batch, 16) == 16, "allocate batch");
    uint32_t tags[16];
    DWORD lens[16];
    for (int i = 0; i < 16; i++) {
        tags[i] = 1000 + (uint32_t)i;
        lens[i] = 100 + (DWORD)i;
        batch[i].Offset = (DWORD)i;
        batch[i].Size = lens[i];
        make_packet(RINGTUN_PACKET_DATA(&batch[i]), lens[i], tags[i]);
    }
    /* A bogus entry stops the send batch there; the rest stay held and go in a second call. */
    RINGTUN_PACKET with_bogus[17];
    memcpy(with_bogus, batch, 5 * sizeof(RINGTUN_PACKET));
    with_bogus[5] = batch[5];
    with_bogus[5].Frame = (BYTE *)junk_pointer();
    memcpy(with_bogus + 6, batch + 5, 11 * sizeof(RINGTUN_PACKET));
    SetLastError(0);
    CHECK(RingtunSendPackets(s, with_bogus, 17) == 5 && GetLastError() == ERROR_INVALID_PARAMETER, "stops at the bogus entry");
    CHECK(RingtunSendPackets(s, batch + 5, 11) == 11, "the rest");
    expect_packets(s, 16, tags, lens);

    /* A release batch skips a bogus entry and releases the others. */
    for (int i = 0; i < 3; i++) {
        CHECK(RingtunAllocateSendPacketEx(s, 60, 0, 0, &slot), "allocate");
        make_packet(slot.Frame, 60, 2000 + (uint32_t)i);
        CHECK(RingtunSendPacketEx(s, &slot), "send");
    }
    RINGTUN_PACKET three[4];
    int have = 0;
    while (have < 3) {
        CHECK(receive_ex_wait(s, &three[have], 5000), "receive");
        have++;
    }
    three[3] = three[2];
    three[2] = three[1];
    three[1].Frame = NULL;
    SetLastError(0);
    CHECK(RingtunReleaseReceivePackets(s, three, 4) == 1 && GetLastError() == ERROR_INVALID_PARAMETER, "skips bogus");
    SetLastError(0);
    CHECK(RingtunReleaseReceivePackets(s, &three[2], 2) == 0 && GetLastError() == ERROR_INVALID_PARAMETER,
          "the entries after the bogus one were released");
    DWORD size;
    CHECK_FAILS(WintunReceivePacket(s, &size), ERROR_NO_MORE_ITEMS);

    /* Cancel: nothing goes out. */
    CHECK(RingtunAllocateSendPacketEx(s, 60, 0, 0, &slot), "allocate");
    CHECK(RingtunCancelSendPacket(s, &slot), "cancel");
    CHECK_FAILS(RingtunCancelSendPacket(s, &slot), ERROR_INVALID_PARAMETER);
    CHECK(RingtunAllocateSendPacketEx(s, 60, 0, 0, &slot), "allocate");
    make_packet(slot.Frame, 60, 3000);
    CHECK(RingtunSendPacketEx(s, &slot), "send");
    {
        uint32_t t[] = { 3000 };
        DWORD l[] = { 60 };
        expect_packets(s, 1, t, l);
    }

    /* RECEIVE_SPLIT: two IP packets back to back in one slot arrive as two. */
    CHECK(RingtunAllocateSendPacketEx(s, 300, 0, 0, &slot), "allocate");
    make_packet(slot.Frame, 120, 4000);
    make_packet(slot.Frame + 120, 180, 4001);
    CHECK(RingtunSendPacketEx(s, &slot), "send two in one");
    {
        uint32_t t[] = { 4000, 4001 };
        DWORD l[] = { 120, 180 };
        expect_packets(s, 2, t, l);
    }

    /* Wintun's calls on a v2 session, and shrinking any packet before sending it. */
    BYTE *p1 = WintunAllocateSendPacket(s, 200), *p2 = WintunAllocateSendPacket(s, 200);
    CHECK(p1 && p2, "allocate");
    make_packet(p1, 100, 5000);
    make_packet(p2, 150, 5001);
    CHECK(RingtunShrinkSendPacket(s, p1, 100), "v2 shrinks a packet that is not the last");
    CHECK_FAILS(RingtunShrinkSendPacket(s, p2, 201), ERROR_INVALID_PARAMETER);
    CHECK(RingtunShrinkSendPacket(s, p2, 150), "shrink");
    {
        uint32_t t[] = { 5000, 5001 };
        DWORD l[] = { 100, 150 };
        expect_packets(s, 2, t, l);
    }
    RINGTUN_SESSION_STATISTICS st = statistics(s);
    CHECK(st.CopiedBytes == 0, "v2: nothing copied (%llu)", (unsigned long long)st.CopiedBytes);
    CHECK(st.SentPackets == 1 + 1 + 1 + 16 + 3 + 1 + 1 + 2 && st.ReceivedPackets == 1 + 1 + 1 + 16 + 3 + 1 + 2 + 2,
          "sent %llu received %llu", (unsigned long long)st.SentPackets, (unsigned long long)st.ReceivedPackets);
    WintunEndSession(s);

    /* v1 only, on request. */
    config.Flags = RINGTUN_SESSION_V1_ONLY;
    s = RingtunStartSession(a, &config);
    CHECK(s, "start v1");
    info = info_of(s);
    CHECK(info.Version == 1 && info.Fallback == RINGTUN_FALLBACK_NONE && info.ReceiveHeadRoom == 0 &&
              info.SendHeadRoom == 0 && info.Flags == RINGTUN_SESSION_V1_ONLY,
          "v1 on request");
    WintunEndSession(s);

    /* Room the driver cannot give: v1, saying why. */
    config.Flags = 0;
    config.SendHeadRoom = 5000;
    s = RingtunStartSession(a, &config);
    CHECK(s, "start with too much room");
    info = info_of(s);
    CHECK(info.Version == 1 && info.Fallback == RINGTUN_FALLBACK_UNSUPPORTED, "fallback %lu",
          (unsigned long)info.Fallback);
    /* The extension calls on v1: a frame of head room + packet + tail room; the packet is moved
     * to the frame's start when sent (a counted copy); only the last slot may change length. */
    RINGTUN_PACKET first, last;
    CHECK(RingtunAllocateSendPacketEx(s, 100, 16, 16, &first), "v1 allocate");
    CHECK(RingtunAllocateSendPacketEx(s, 100, 16, 16, &last), "v1 allocate");
    CHECK(first.Offset == 16 && first.Size == 100 && first.FrameSize == 132, "v1 frame %lu/%lu/%lu",
          (unsigned long)first.Offset, (unsigned long)first.Size, (unsigned long)first.FrameSize);
    make_packet(RINGTUN_PACKET_DATA(&first), 100, 6000);
    make_packet(RINGTUN_PACKET_DATA(&last), 100, 6001);
    CHECK_FAILS(RingtunSendPacketEx(s, &first), ERROR_NOT_SUPPORTED);
    CHECK(RingtunSendPacketEx(s, &last), "v1 move and shrink of the last slot");
    CHECK(statistics(s).CopiedBytes == 100, "the move is counted");
    first.Offset = 0;
    first.Size = 132;
    make_packet(first.Frame, 132, 6002);
    CHECK(RingtunSendPacketEx(s, &first), "the first slot, full length");
    {
        uint32_t t[] = { 6002, 6001 };
        DWORD l[] = { 132, 100 };
        expect_packets(s, 2, t, l);
    }
    WintunEndSession(s);

    /* Wintun's session (v1): shrink-and-send of the last allocated packet. */
    s = WintunStartSession(a, 0x20000);
    CHECK(s, "start");
    p1 = WintunAllocateSendPacket(s, 200);
    p2 = WintunAllocateSendPacket(s, 200);
    make_packet(p1, 200, 7000);
    make_packet(p2, 120, 7001);
    CHECK_FAILS(RingtunShrinkSendPacket(s, p1, 100), ERROR_NOT_SUPPORTED);
    CHECK(RingtunShrinkSendPacket(s, p2, 120), "v1 shrinks the last packet");
    WintunSendPacket(s, p1);
    {
        uint32_t t[] = { 7000, 7001 };
        DWORD l[] = { 200, 120 };
        expect_packets(s, 2, t, l);
    }
    CHECK(statistics(s).CopiedBytes == 0, "a shrink copies nothing");
    WintunEndSession(s);
    WintunCloseAdapter(a);
    puts("ok v2_extensions");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    test_driver_and_adapters();
    test_logger_calls();
    test_session_errors_and_order();
    test_threads();
    test_end_wakes_every_waiter();
    test_close_mid_traffic();
    test_v2_extensions();
    puts("all ok");
    return 0;
}
