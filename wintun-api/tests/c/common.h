/* Helpers shared by the C test programs of the Wintun API's Linux build. */
#ifndef RINGTUN_WINTUN_TEST_COMMON_H
#define RINGTUN_WINTUN_TEST_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringtun_wintun.h"

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* The call's result is a failure (NULL / FALSE / 0) with last error `code`. */
#define CHECK_FAILS(expr, code)                                                                   \
    do {                                                                                          \
        SetLastError(0xDEADu);                                                                    \
        int failed_ = !(expr);                                                                    \
        DWORD error_ = GetLastError();                                                            \
        CHECK(failed_ && error_ == (DWORD)(code), "%s: expected failure %lu, got %s with error %lu", \
              #expr, (unsigned long)(code), failed_ ? "failure" : "success", (unsigned long)error_); \
    } while (0)

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(unsigned ms) {
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* An IPv4-looking packet of `len` bytes (20..0xFFFF) whose bytes all derive from `tag`. */
static inline void make_packet(BYTE *p, DWORD len, uint32_t tag) {
    p[0] = 0x45;
    p[1] = 0;
    p[2] = (BYTE)(len >> 8);
    p[3] = (BYTE)len;
    memcpy(p + 4, &tag, 4);
    for (DWORD i = 8; i < len; i++)
        p[i] = (BYTE)(tag * 31u + i * 7u);
}

/* Whether `p` is exactly what make_packet wrote for some tag; stores the tag. */
static inline int check_packet(const BYTE *p, DWORD len, uint32_t *tag) {
    if (len < 20 || p[0] != 0x45 || p[1] != 0 || ((DWORD)p[2] << 8 | p[3]) != len)
        return 0;
    uint32_t t;
    memcpy(&t, p + 4, 4);
    for (DWORD i = 8; i < len; i++)
        if (p[i] != (BYTE)(t * 31u + i * 7u))
            return 0;
    *tag = t;
    return 1;
}

/* Receives one packet, waiting on the read-wait event up to `ms` in total. */
static inline BYTE *receive_wait(WINTUN_SESSION_HANDLE s, DWORD *size, unsigned ms) {
    double deadline = now_seconds() + ms / 1000.0;
    for (;;) {
        BYTE *p = WintunReceivePacket(s, size);
        if (p || GetLastError() != ERROR_NO_MORE_ITEMS || now_seconds() > deadline)
            return p;
        WaitForSingleObject(WintunGetReadWaitEvent(s), 50);
    }
}

/* The same through the extension call. */
static inline BOOL receive_ex_wait(WINTUN_SESSION_HANDLE s, RINGTUN_PACKET *packet, unsigned ms) {
    double deadline = now_seconds() + ms / 1000.0;
    for (;;) {
        if (RingtunReceivePacketEx(s, packet))
            return TRUE;
        if (GetLastError() != ERROR_NO_MORE_ITEMS || now_seconds() > deadline)
            return FALSE;
        WaitForSingleObject(WintunGetReadWaitEvent(s), 50);
    }
}

static inline RINGTUN_SESSION_STATISTICS statistics(WINTUN_SESSION_HANDLE s) {
    RINGTUN_SESSION_STATISTICS st;
    memset(&st, 0, sizeof(st));
    st.Size = sizeof(st);
    CHECK(RingtunGetSessionStatistics(s, &st), "statistics: %lu", (unsigned long)GetLastError());
    return st;
}

#endif
