/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: parsed transport addresses. */
#ifndef VMSEC_TRANSPORT_INTERNAL_H
#define VMSEC_TRANSPORT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <linux/vm_sockets.h>

#include "vmsec/transport.h"

struct addrinfo;

struct vmsec__address {
    int family; /* AF_VSOCK, AF_UNIX, or AF_INET for any TCP address (resolved later) */
    union {
        struct sockaddr_un un;
        struct sockaddr_vm vm;
    } sa;
    socklen_t len;
    char host[256];
    char port[8];
};

/* Parses an address string; VMSEC_EFORMAT / VMSEC_ETOOBIG with a message naming the problem. */
int vmsec__address_parse(struct vmsec__address *a, const char *address);
/* Formats a socket address as vsock:/unix:/tcp: text. */
int vmsec__sockaddr_format(const struct sockaddr *sa, socklen_t len, char *out, size_t out_len);

/* A connect in steps, for event loops (a session's reconnect attempts): vmsec_transport_connect()
 * without its waits. A tcp: host name is still resolved at once (getaddrinfo() blocks; a numeric
 * address does not). */
struct vmsec__connector {
    char address[VMSEC_ADDRESS_MAX];
    struct vmsec__address a;
    struct addrinfo *res, *next; /* tcp: what the name resolved to, the next address to try */
    int family;                  /* the address being connected to */
    const struct sockaddr *sa;
    socklen_t salen;
    int fd;   /* its non-blocking socket, -1 when none */
    bool full; /* a unix listener's backlog was full: connect again at retry_at */
    int64_t retry_at;
    unsigned int retry_ms;
};

/* Starts connecting: 0 (connected), VMSEC_EAGAIN (wait for POLLOUT on vmsec__connector_fd(), or
 * until vmsec__connector_due() when that is -1, then call vmsec__connector_step()), or an error
 * once every address failed. vmsec__connector_clear() in every case. */
int vmsec__connector_start(struct vmsec__connector *c, const char *address);
/* Goes on after a wait (early calls do no harm): as vmsec__connector_start(). */
int vmsec__connector_step(struct vmsec__connector *c);
/* The descriptor to wait for POLLOUT on (-1: none, wait for the timer); the timer (0: none). */
int vmsec__connector_fd(const struct vmsec__connector *c);
int64_t vmsec__connector_due(const struct vmsec__connector *c);
/* Takes the connected, non-blocking socket: the connector no longer closes it. */
int vmsec__connector_take(struct vmsec__connector *c);
void vmsec__connector_clear(struct vmsec__connector *c);

#endif
