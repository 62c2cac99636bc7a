/* SPDX-License-Identifier: ISC */
/* Who may vouch for an origin. The relay tells a target who is calling in a header it sends before
 * the end-to-end channel; a target must be sure that header came from the relay and not from any
 * process that can reach it. Over vsock the relay connects from a reserved port (<= 1023), which
 * only a privileged process can bind, and targets refuse a header from any other port; over a unix
 * socket the peer must be root or the target's own user; over IP no header is believed.
 * doc/RELAY.md ("Who may send an origin header") describes the rule. */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/internal.h"
#include "relay/relay_internal.h"

#ifdef __linux__
#include <linux/vm_sockets.h>
#endif

/* The reserved ports the relay binds, highest first, as rresvport(3) does. Each connection in
 * flight holds one, so they bound the relay's concurrent sessions to targets. */
#define ORIGIN_PORT_HIGH 1023u
#define ORIGIN_PORT_LOW 512u

int vmsec__relay_vsock_connect_reserved(uint32_t cid, uint32_t port, int *fd)
{
#ifdef AF_VSOCK
    static atomic_uint next;
    const unsigned span = ORIGIN_PORT_HIGH - ORIGIN_PORT_LOW + 1;
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return vmsec__error_errno(VMSEC_EIO, errno, "relay: vsock socket");
    /* Start where the last connection left off, so a busy relay does not probe the same taken
     * ports on every connection. */
    unsigned start = atomic_fetch_add(&next, 1u);
    for (unsigned i = 0; i < span; i++) {
        struct sockaddr_vm me = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                 .svm_port = ORIGIN_PORT_HIGH - (start + i) % span};
        if (bind(s, (struct sockaddr *)&me, sizeof(me)) == 0) {
            struct sockaddr_vm to = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
            if (connect(s, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) {
                int e = errno;
                close(s);
                return vmsec__error_errno(VMSEC_ECONNREFUSED, e, "relay: connect to cid %u port %u", cid, port);
            }
            *fd = s;
            return 0;
        }
        if (errno != EADDRINUSE) {
            int e = errno;
            close(s);
            if (e == EACCES || e == EPERM)
                return vmsec__error_errno(VMSEC_EPERM, e,
                                          "relay: binding a reserved vsock port (<= %u), from which targets accept an "
                                          "origin header, needs root or CAP_NET_BIND_SERVICE",
                                          ORIGIN_PORT_HIGH);
            return vmsec__error_errno(VMSEC_EIO, e, "relay: bind vsock port %u", me.svm_port);
        }
    }
    close(s);
    return vmsec__error(VMSEC_EADDRINUSE, "relay: all %u reserved vsock ports (%u-%u) are in use by connections to targets",
                        span, ORIGIN_PORT_LOW, ORIGIN_PORT_HIGH);
#else
    (void)cid;
    (void)port;
    (void)fd;
    return vmsec__error(VMSEC_EUNSUPPORTED, "relay: this system has no AF_VSOCK");
#endif
}

int vmsec__relay_origin_peer_check(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return vmsec__error_errno(errno == ENOTSOCK ? VMSEC_EINVAL : VMSEC_EIO, errno,
                                  "relay origin: the descriptor is not a connected socket");
    switch (ss.ss_family) {
#ifdef AF_VSOCK
    case AF_VSOCK: {
        const struct sockaddr_vm *p = (const struct sockaddr_vm *)&ss;
        if (p->svm_port > ORIGIN_PORT_HIGH)
            return vmsec__error(VMSEC_EPERM,
                                "relay origin: the peer (cid %u) connected from port %u, not from a reserved port "
                                "(<= %u) as the relay does: any process could have sent this header",
                                p->svm_cid, p->svm_port, ORIGIN_PORT_HIGH);
        return 0;
    }
#endif
    case AF_UNIX: {
        struct ucred cred;
        socklen_t cl = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
            return vmsec__error_errno(VMSEC_EIO, errno, "relay origin: reading the peer's credentials");
        if (cred.uid != 0 && cred.uid != geteuid())
            return vmsec__error(VMSEC_EPERM,
                                "relay origin: the peer on this unix socket runs as uid %u, neither root nor this "
                                "process's user: it cannot vouch for an origin",
                                (unsigned)cred.uid);
        return 0;
    }
    default:
        return vmsec__error(VMSEC_EPERM,
                            "relay origin: an origin header is believed only over vsock or a unix socket, not over "
                            "address family %d",
                            ss.ss_family);
    }
}
