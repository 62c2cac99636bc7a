/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: parsed transport addresses. */
#ifndef VMSEC_TRANSPORT_INTERNAL_H
#define VMSEC_TRANSPORT_INTERNAL_H

#include <sys/socket.h>
#include <sys/un.h>

#include <linux/vm_sockets.h>

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

#endif
