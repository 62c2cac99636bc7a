/* SPDX-License-Identifier: ISC */
/* Raw AF_VSOCK helpers for the guest test programs (tests/guest/). Every socket gets send and
 * receive timeouts so that a kernel or test bug ends in a failed test, never in a hung guest. */
#ifndef VMSEC_GVSOCK_H
#define VMSEC_GVSOCK_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#ifndef VMADDR_CID_LOCAL
#define VMADDR_CID_LOCAL 1
#endif

/* Seconds a single blocking socket call may take before the test counts it as hung. */
#define GV_IO_TIMEOUT 20

static inline void gv_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = GV_IO_TIMEOUT, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static inline struct sockaddr_vm gv_addr(unsigned cid, unsigned port)
{
    struct sockaddr_vm a;
    memset(&a, 0, sizeof(a));
    a.svm_family = AF_VSOCK;
    a.svm_cid = cid;
    a.svm_port = port;
    return a;
}

/* A listening stream socket on (VMADDR_CID_ANY, port); the fd, or -errno. */
static inline int gv_listen(unsigned port, int backlog)
{
    struct sockaddr_vm a = gv_addr(VMADDR_CID_ANY, port);
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    gv_timeouts(fd);
    return fd;
}

/* A stream socket connected to (cid, port); the fd, or -errno. */
static inline int gv_connect(unsigned cid, unsigned port)
{
    struct sockaddr_vm a = gv_addr(cid, port);
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    gv_timeouts(fd);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* accept(2) that also returns the peer address; the fd, or -errno. */
static inline int gv_accept(int lfd, struct sockaddr_vm *peer)
{
    struct sockaddr_vm a;
    socklen_t alen = sizeof(a);
    int fd = accept4(lfd, (struct sockaddr *)&a, &alen, SOCK_CLOEXEC);
    if (fd < 0)
        return -errno;
    gv_timeouts(fd);
    if (peer)
        *peer = a;
    return fd;
}

/* Writes everything; 0, or -errno. */
static inline int gv_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads until len bytes, end of stream or an error. Returns the byte count; *err gets 0 on a full
 * read, 1 on end of stream, or -errno. */
static inline size_t gv_read_all(int fd, void *buf, size_t len, int *err)
{
    uint8_t *p = buf;
    size_t got = 0;
    *err = 0;
    while (got < len) {
        ssize_t r = recv(fd, p + got, len - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err = -errno;
            break;
        }
        if (r == 0) {
            *err = 1;
            break;
        }
        got += (size_t)r;
    }
    return got;
}

/* For diagnostics: "ok" for a descriptor or 0, else the symbolic name of the (negated) errno. */
static inline const char *gv_errname(int e)
{
    if (e >= 0)
        return "ok";
    switch (-e) {
    case ECONNRESET: return "ECONNRESET";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRINUSE: return "EADDRINUSE";
    case EAGAIN: return "EAGAIN";
    case EPIPE: return "EPIPE";
    case ENOTCONN: return "ENOTCONN";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENODEV: return "ENODEV";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    default: return strerror(-e);
    }
}

#endif
