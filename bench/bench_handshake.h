/* SPDX-License-Identifier: ISC */
/* A contender in the handshake benchmark: once() runs one complete handshake, returns seconds. */
#ifndef VMSEC_BENCH_HANDSHAKE_H
#define VMSEC_BENCH_HANDSHAKE_H

#include <stddef.h>

struct hs_contender {
    const char *name;
    const char *id;
    double (*once)(void *ctx);
    void *ctx;
};

/* Fills out[] with vmsec handshake contenders; returns how many. */
size_t bench_vmsec_handshakes(const struct hs_contender **out, size_t cap);

#endif
