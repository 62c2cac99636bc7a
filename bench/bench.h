/* SPDX-License-Identifier: ISC */
/* Shared helpers for the vmsec benchmarks: clocks, statistics, markdown and JSON output. */
#ifndef VMSEC_BENCH_H
#define VMSEC_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double bench_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place and returns the q-quantile (0..1), nearest-rank. */
static inline double bench_quantile(double *v, size_t n, double q)
{
    size_t i;
    qsort(v, n, sizeof(*v), bench_cmp_double);
    i = (size_t)(q * (double)n);
    if (i >= n)
        i = n - 1;
    return v[i];
}

/* JSON lines sink: one object per measurement, appended to $VMSEC_BENCH_JSON (or nothing). */
static inline void bench_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void bench_json(const char *fmt, ...)
{
    const char *path = getenv("VMSEC_BENCH_JSON");
    FILE *f;
    va_list ap;
    if (!path || !*path)
        return;
    f = fopen(path, "a");
    if (!f)
        return;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static inline void bench_die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(2);
}

#endif
