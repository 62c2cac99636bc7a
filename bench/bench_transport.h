/* SPDX-License-Identifier: ISC */
/* A contender in the throughput benchmark: opens one end of a connected stream (doing any
 * handshake), sends and receives whole messages. */
#ifndef VMSEC_BENCH_TRANSPORT_H
#define VMSEC_BENCH_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The batch of "TLS 1.3 ... +batch": small messages (each with a 4-byte length prefix) are
 * gathered into writes of up to this many bytes. The vmsec contenders flush at the same messages. */
#define BENCH_BATCH 16384

struct contender {
    const char *name;
    const char *id;
    int variant;
    void *(*open)(const struct contender *c, int fd, int server);
    int (*send)(void *p, const uint8_t *msg, size_t len);
    int (*flush)(void *p);
    ssize_t (*recv)(void *p, uint8_t *out, size_t cap);
    void (*close)(void *p);
};

/* Fills out[] with the vmsec contenders (one per suite); returns how many. */
size_t bench_vmsec_contenders(const struct contender **out, size_t cap);

#endif
