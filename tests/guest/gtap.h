/* SPDX-License-Identifier: ISC */
/* TAP output and small helpers for the static test programs that run inside the test guest.
 *
 * A guest program prints "ok N - ..." / "not ok N - ..." lines, "# ..." diagnostics and a final
 * plan on stdout; the host harness (tests/guest/guest.sh) relays them into make check. Lines are
 * written whole with one write(2) so that a crash never leaves half a line on the serial port.
 * No libcheck here: the program is linked statically and runs with nothing but the kernel. */
#ifndef VMSEC_GTAP_H
#define VMSEC_GTAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Tests run and tests failed, one count per program however many files it is built from:
 * defined in gtap.c. */
extern unsigned gt_n;
extern unsigned gt_failed;

__attribute__((format(printf, 2, 0))) static inline void gt_line(const char *prefix, const char *fmt,
                                                                 va_list ap)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s", prefix);
    if (n < 0 || (size_t)n >= sizeof(buf))
        n = 0;
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(buf) - 2)
        len = sizeof(buf) - 2;
    for (size_t i = 0; i < len; i++) /* keep one TAP line per call */
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = ' ';
    buf[len++] = '\n';
    for (size_t off = 0; off < len;) {
        ssize_t w = write(STDOUT_FILENO, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* Records one test result; returns cond so callers can stop a dependent sequence. */
__attribute__((format(printf, 2, 3))) static inline bool gt_ok(bool cond, const char *fmt, ...)
{
    char prefix[32];
    va_list ap;
    gt_n++;
    if (!cond)
        gt_failed++;
    snprintf(prefix, sizeof(prefix), "%sok %u - ", cond ? "" : "not ", gt_n);
    va_start(ap, fmt);
    gt_line(prefix, fmt, ap);
    va_end(ap);
    return cond;
}

/* A diagnostic line ("# ..."). */
__attribute__((format(printf, 1, 2))) static inline void gt_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gt_line("# ", fmt, ap);
    va_end(ap);
}

/* Prints the plan; returns the exit status. */
static inline int gt_done(void)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "1..%u\n", gt_n);
    if (write(STDOUT_FILENO, buf, (size_t)n) != n)
        return 1;
    return gt_failed ? 1 : 0;
}

/* Monotonic seconds, for benchmarks and diagnostics only (never asserted on). */
static inline double gt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Deterministic test data: bytes [offset, offset + len) of stream `seed` (a cheap 64-bit mix,
 * not crypto), so that any receiver can regenerate what a sender sent from the same offset. */
static inline void gt_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t offset)
{
    uint64_t word = 0, have = UINT64_MAX;
    for (size_t i = 0; i < len; i++) {
        uint64_t pos = offset + i;
        if (pos >> 3 != have) {
            have = pos >> 3;
            word = seed * 0x9e3779b97f4a7c15ULL + have;
            word ^= word >> 31;
            word *= 0xbf58476d1ce4e5b9ULL;
            word ^= word >> 29;
        }
        buf[i] = (uint8_t)(word >> (8 * (pos & 7)));
    }
}

/* FNV-1a 64, an end-to-end checksum for large transfers. */
static inline uint64_t gt_fnv(uint64_t h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define GT_FNV_INIT 0xcbf29ce484222325ULL

#endif
