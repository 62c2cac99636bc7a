/* SPDX-License-Identifier: ISC */
/* Stream transports named by address strings: vsock:CID:PORT, unix:PATH, tcp:HOST:PORT. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "common/internal.h"
#include "channel/transport_internal.h"
#include "vmsec/transport.h"

struct vmsec_listener {
    int fd;
    struct vmsec__address addr;
    bool unlink_path;
    uint32_t *cids;
    size_t ncids;
};

size_t vmsec_address_max(void) { return VMSEC_ADDRESS_MAX; }

static int parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_vsock(struct vmsec__address *a, const char *address, const char *rest)
{
    const char *colon = strchr(rest, ':');
    size_t clen;
    uint32_t cid, port;
    if (!colon)
        return vmsec__error(VMSEC_EFORMAT, "address '%s': expected vsock:CID:PORT", address);
    clen = (size_t)(colon - rest);
    if (clen == 4 && !strncmp(rest, "host", 4))
        cid = VMADDR_CID_HOST;
    else if (clen == 5 && !strncmp(rest, "local", 5))
        cid = 1; /* VMADDR_CID_LOCAL, not named by older headers */
    else if (clen == 3 && !strncmp(rest, "any", 3))
        cid = VMADDR_CID_ANY;
    else if (parse_u32(rest, clen, UINT32_MAX - 1, &cid) < 0)
        return vmsec__error(VMSEC_EFORMAT, "address '%s': CID '%.*s' is not a number below 4294967295, host, local or any",
                            address, (int)clen, rest);
    if (!strcmp(colon + 1, "any"))
        port = VMADDR_PORT_ANY;
    else if (parse_u32(colon + 1, strlen(colon + 1), UINT32_MAX - 1, &port) < 0)
        return vmsec__error(VMSEC_EFORMAT, "address '%s': port '%s' is not a number below 4294967295 or any", address,
                            colon + 1);
    a->family = AF_VSOCK;
    memset(&a->sa.vm, 0, sizeof(a->sa.vm));
    a->sa.vm.svm_family = AF_VSOCK;
    a->sa.vm.svm_cid = cid;
    a->sa.vm.svm_port = port;
    a->len = sizeof(a->sa.vm);
    return 0;
}

static int parse_unix(struct vmsec__address *a, const char *address, const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || (path[0] == '@' && n == 1))
        return vmsec__error(VMSEC_EFORMAT, "address '%s': empty unix socket path", address);
    if (n >= sizeof(a->sa.un.sun_path))
        return vmsec__error(VMSEC_ETOOBIG, "address '%.40s...': unix socket path of %zu bytes exceeds the limit of %zu",
                            address, n, sizeof(a->sa.un.sun_path) - 1);
    a->family = AF_UNIX;
    memset(&a->sa.un, 0, sizeof(a->sa.un));
    a->sa.un.sun_family = AF_UNIX;
    memcpy(a->sa.un.sun_path, path, n);
    if (path[0] == '@')
        a->sa.un.sun_path[0] = '\0'; /* abstract namespace: the name is the bytes after the NUL */
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
    return 0;
}

static int parse_tcp(struct vmsec__address *a, const char *address, const char *rest)
{
    const char *host = rest, *port;
    size_t hlen;
    uint32_t p;
    if (*rest == '[') {
        const char *end = strchr(rest, ']');
        if (!end || end[1] != ':')
            return vmsec__error(VMSEC_EFORMAT, "address '%s': expected tcp:[IPV6]:PORT", address);
        host = rest + 1;
        hlen = (size_t)(end - host);
        port = end + 2;
    } else {
        const char *colon = strrchr(rest, ':');
        if (!colon)
            return vmsec__error(VMSEC_EFORMAT, "address '%s': expected tcp:HOST:PORT", address);
        hlen = (size_t)(colon - rest);
        port = colon + 1;
        if (memchr(rest, ':', hlen))
            return vmsec__error(VMSEC_EFORMAT, "address '%s': put an IPv6 address in brackets, as tcp:[::1]:PORT",
                                address);
    }
    if (hlen == 0 || hlen >= sizeof(a->host))
        return vmsec__error(VMSEC_EFORMAT, "address '%s': host is %s", address, hlen ? "too long" : "empty");
    if (parse_u32(port, strlen(port), 65535, &p) < 0)
        return vmsec__error(VMSEC_EFORMAT, "address '%s': port '%s' is not a number in 0..65535", address, port);
    a->family = AF_INET; /* resolved later; AF_INET stands for "TCP" until then */
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    snprintf(a->port, sizeof(a->port), "%u", p);
    return 0;
}

int vmsec__address_parse(struct vmsec__address *a, const char *address)
{
    memset(a, 0, sizeof(*a));
    if (!address)
        return vmsec__error(VMSEC_EINVAL, "address is NULL");
    if (strlen(address) >= VMSEC_ADDRESS_MAX && strncmp(address, "unix:", 5) != 0)
        return vmsec__error(VMSEC_EFORMAT, "address '%.40s...' is longer than %d bytes", address, VMSEC_ADDRESS_MAX - 1);
    if (!strncmp(address, "vsock:", 6))
        return parse_vsock(a, address, address + 6);
    if (!strncmp(address, "unix:", 5))
        return parse_unix(a, address, address + 5);
    if (!strncmp(address, "tcp:", 4))
        return parse_tcp(a, address, address + 4);
    return vmsec__error(VMSEC_EFORMAT, "address '%s': expected vsock:CID:PORT, unix:PATH or tcp:HOST:PORT", address);
}

int vmsec_address_validate(const char *address)
{
    struct vmsec__address a;
    return vmsec__address_parse(&a, address);
}

int vmsec__sockaddr_format(const struct sockaddr *sa, socklen_t len, char *out, size_t out_len)
{
    char host[INET6_ADDRSTRLEN];
    int n;
    switch (sa->sa_family) {
    case AF_VSOCK: {
        const struct sockaddr_vm *vm = (const struct sockaddr_vm *)sa;
        if (vm->svm_cid == VMADDR_CID_ANY)
            n = snprintf(out, out_len, "vsock:any:%u", vm->svm_port);
        else
            n = snprintf(out, out_len, "vsock:%u:%u", vm->svm_cid, vm->svm_port);
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t plen = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (plen == 0)
            n = snprintf(out, out_len, "unix:");
        else if (un->sun_path[0] == '\0')
            n = snprintf(out, out_len, "unix:@%.*s", (int)plen - 1, un->sun_path + 1);
        else
            n = snprintf(out, out_len, "unix:%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
        break;
    }
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        n = snprintf(out, out_len, "tcp:%s:%u", host, ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        n = snprintf(out, out_len, "tcp:[%s]:%u", host, ntohs(in6->sin6_port));
        break;
    }
    default:
        return vmsec__error(VMSEC_EUNSUPPORTED, "socket family %d is not a vmsec transport", sa->sa_family);
    }
    if (n < 0 || (size_t)n >= out_len)
        return vmsec__error(VMSEC_ETOOBIG, "address needs %d bytes, buffer has %zu", n + 1, out_len);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int socket_error(int err, const char *what, const char *address)
{
    if (err == EAFNOSUPPORT || (err == ENODEV && !strncmp(address, "vsock:", 6)))
        return vmsec__error_errno(VMSEC_EUNSUPPORTED, err, "%s %s: no vsock transport in this kernel", what, address);
    /* vsock answers a connection request to a port without a listener with a reset (RST), so
     * connect(2) fails with ECONNRESET there, not ECONNREFUSED. */
    if (err == ECONNREFUSED || (err == ECONNRESET && !strncmp(address, "vsock:", 6)))
        return vmsec__error(VMSEC_ECONNREFUSED, "%s %s: connection refused (nobody listens there)", what, address);
    if (err == ENOENT && !strncmp(address, "unix:", 5))
        return vmsec__error(VMSEC_ECONNREFUSED, "%s %s: no socket at that path (nobody listens there)", what, address);
    if (err == ETIMEDOUT)
        return vmsec__error(VMSEC_ETIMEDOUT, "%s %s: timed out", what, address);
    if (err == EADDRINUSE)
        return vmsec__error(VMSEC_EADDRINUSE, "%s %s: address already in use", what, address);
    if (err == EACCES || err == EPERM)
        return vmsec__error_errno(VMSEC_EPERM, err, "%s %s", what, address);
    return vmsec__error_errno(vmsec__errno_code(err), err, "%s %s", what, address);
}

enum { CONNECT_DONE, CONNECT_PENDING, CONNECT_FULL };

/* connect(2) on a non-blocking socket: CONNECT_DONE, CONNECT_PENDING (in progress: its outcome once
 * the socket is writable), CONNECT_FULL or an error. A unix listener with a full backlog refuses a
 * non-blocking connect with EAGAIN (CONNECT_FULL): nothing is in progress then, and POLLOUT would
 * report the unconnected socket as ready, so the caller connects again a little later. */
static int connect_try(int fd, const struct sockaddr *sa, socklen_t len, const char *address)
{
    if (connect(fd, sa, len) == 0)
        return CONNECT_DONE;
    if (errno == EINPROGRESS)
        return CONNECT_PENDING;
    if (errno == EAGAIN)
        return CONNECT_FULL;
    return socket_error(errno, "connect to", address);
}

/* The outcome of a connect that was in progress, once its socket is writable. */
static int connect_result(int fd, const char *address)
{
    int err = 0;
    socklen_t elen = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        err = errno;
    return err ? socket_error(err, "connect to", address) : 0;
}

static int resolve(const struct vmsec__address *a, const char *address, bool passive, struct addrinfo **res)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    int rc = getaddrinfo(a->host, a->port, &hints, res);
    if (rc == EAI_SYSTEM)
        return vmsec__error_errno(VMSEC_EIO, errno, "resolving %s", address);
    if (rc != 0)
        return vmsec__error(VMSEC_ENOTFOUND, "resolving %s: %s", address, gai_strerror(rc));
    return 0;
}

static void connector_close(struct vmsec__connector *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->full = false;
}

/* Moves on to the next address a tcp: host name resolved to; false when none is left. */
static bool connector_advance(struct vmsec__connector *c)
{
    if (!c->next)
        return false;
    c->family = c->next->ai_family;
    c->sa = c->next->ai_addr;
    c->salen = c->next->ai_addrlen;
    c->next = c->next->ai_next;
    return true;
}

static int connector_state(struct vmsec__connector *c, int how)
{
    c->full = how == CONNECT_FULL;
    if (c->full) {
        c->retry_ms = !c->retry_ms ? 1 : c->retry_ms < 64 ? c->retry_ms * 2 : 64;
        c->retry_at = now_ms() + c->retry_ms;
    }
    return how == CONNECT_DONE ? 0 : VMSEC_EAGAIN;
}

/* Connects to the current address; while that fails at once, to the next ones. */
static int connector_open(struct vmsec__connector *c)
{
    int rc;
    for (;;) {
        if ((c->fd = socket(c->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
            rc = socket_error(errno, "socket for", c->address);
        else
            rc = connect_try(c->fd, c->sa, c->salen, c->address);
        if (rc >= 0)
            return connector_state(c, rc);
        connector_close(c);
        if (!connector_advance(c))
            return rc;
    }
}

int vmsec__connector_start(struct vmsec__connector *c, const char *address)
{
    int rc;
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if (strlen(address) >= sizeof(c->address))
        return vmsec__error(VMSEC_ETOOBIG, "address too long");
    strcpy(c->address, address);
    if ((rc = vmsec__address_parse(&c->a, address)) < 0)
        return rc;
    c->family = c->a.family;
    c->salen = c->a.len;
    if (c->a.family == AF_VSOCK) {
        if (c->a.sa.vm.svm_cid == VMADDR_CID_ANY || c->a.sa.vm.svm_port == VMADDR_PORT_ANY)
            return vmsec__error(VMSEC_EFORMAT, "address '%s': 'any' can only be listened on", address);
        c->sa = (const struct sockaddr *)&c->a.sa.vm;
    } else if (c->a.family == AF_UNIX) {
        c->sa = (const struct sockaddr *)&c->a.sa.un;
    } else {
        if (!strcmp(c->a.port, "0"))
            return vmsec__error(VMSEC_EFORMAT, "address '%s': port 0 can only be listened on", address);
        if ((rc = resolve(&c->a, address, false, &c->res)) < 0)
            return rc;
        c->next = c->res;
        if (!connector_advance(c))
            return vmsec__error(VMSEC_ENOTFOUND, "resolving %s: no address", address);
    }
    return connector_open(c);
}

int vmsec__connector_step(struct vmsec__connector *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLOUT};
    int rc;
    if (c->fd < 0)
        return vmsec__error(VMSEC_ESTATE, "connect to %s: nothing in progress", c->address);
    if (c->full) {
        if (now_ms() < c->retry_at)
            return VMSEC_EAGAIN;
        rc = connect_try(c->fd, c->sa, c->salen, c->address);
    } else {
        if (poll(&p, 1, 0) <= 0)
            return VMSEC_EAGAIN; /* still in progress (or EINTR: look again) */
        rc = connect_result(c->fd, c->address);
    }
    if (rc >= 0)
        return connector_state(c, rc);
    connector_close(c);
    return connector_advance(c) ? connector_open(c) : rc;
}

int vmsec__connector_fd(const struct vmsec__connector *c)
{
    return c->full ? -1 : c->fd;
}

int64_t vmsec__connector_due(const struct vmsec__connector *c)
{
    return c->full ? c->retry_at : 0;
}

int vmsec__connector_take(struct vmsec__connector *c)
{
    int fd = c->fd;
    c->fd = -1;
    return fd;
}

void vmsec__connector_clear(struct vmsec__connector *c)
{
    connector_close(c);
    if (c->res)
        freeaddrinfo(c->res);
    c->res = c->next = NULL;
}

/* The connector, waited for: poll(2) for the connect in progress, bounded by deadline (0: none). */
int vmsec_transport_connect(const char *address, unsigned int timeout_ms, int *fd)
{
    struct vmsec__connector c;
    int64_t deadline = timeout_ms ? now_ms() + timeout_ms : 0;
    int rc;
    if (!fd)
        return vmsec__error(VMSEC_EINVAL, "vmsec_transport_connect: fd is NULL");
    *fd = -1;
    rc = vmsec__connector_start(&c, address);
    while (rc == VMSEC_EAGAIN) {
        struct pollfd p = {.fd = vmsec__connector_fd(&c), .events = POLLOUT};
        int64_t wake = vmsec__connector_due(&c), now = now_ms();
        if (deadline && (!wake || deadline < wake))
            wake = deadline;
        if (deadline && now >= deadline) {
            rc = socket_error(ETIMEDOUT, "connect to", address);
            break;
        }
        if (poll(&p, p.fd >= 0, !wake ? -1 : wake - now > INT_MAX ? INT_MAX : (int)(wake - now)) < 0 &&
            errno != EINTR) {
            rc = vmsec__error_errno(VMSEC_EIO, errno, "poll while connecting to %s", address);
            break;
        }
        rc = vmsec__connector_step(&c);
    }
    if (rc == 0 && fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) & ~O_NONBLOCK) < 0)
        rc = vmsec__error_errno(VMSEC_EIO, errno, "fcntl on the socket for %s", address);
    if (rc == 0)
        *fd = vmsec__connector_take(&c);
    vmsec__connector_clear(&c);
    return rc;
}

static int listen_on(vmsec_listener *l, int family, const struct sockaddr *sa, socklen_t len, const char *address)
{
    int one = 1, err;
    l->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        return socket_error(errno, "socket for", address);
    if (family == AF_INET || family == AF_INET6)
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* TIME_WAIT only; never shares a live port */
    if (bind(l->fd, sa, len) < 0 || listen(l->fd, 128) < 0) {
        err = errno;
        close(l->fd);
        l->fd = -1;
        return socket_error(err, "listen on", address);
    }
    return 0;
}

int vmsec_listener_new(vmsec_listener **out, const char *address)
{
    vmsec_listener *l;
    struct addrinfo *res = NULL;
    int rc;
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_listener_new: out is NULL");
    *out = NULL;
    if (!(l = calloc(1, sizeof(*l))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory allocating a listener");
    l->fd = -1;
    if ((rc = vmsec__address_parse(&l->addr, address)) < 0)
        goto fail;
    if (l->addr.family == AF_VSOCK) {
        rc = listen_on(l, AF_VSOCK, (struct sockaddr *)&l->addr.sa.vm, l->addr.len, address);
    } else if (l->addr.family == AF_UNIX) {
        rc = listen_on(l, AF_UNIX, (struct sockaddr *)&l->addr.sa.un, l->addr.len, address);
        if (rc == 0 && l->addr.sa.un.sun_path[0]) {
            l->unlink_path = true;
            if (chmod(l->addr.sa.un.sun_path, 0600) < 0) {
                rc = vmsec__error_errno(VMSEC_EIO, errno, "chmod 0600 %s", address);
                goto fail;
            }
        }
    } else {
        if ((rc = resolve(&l->addr, address, true, &res)) < 0)
            goto fail;
        rc = listen_on(l, res->ai_family, res->ai_addr, res->ai_addrlen, address);
        freeaddrinfo(res);
    }
    if (rc < 0)
        goto fail;
    *out = l;
    return 0;
fail:
    vmsec_listener_free(l);
    return rc;
}

void vmsec_listener_free(vmsec_listener *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    if (l->unlink_path)
        unlink(l->addr.sa.un.sun_path);
    free(l->cids);
    free(l);
}

int vmsec_listener_fd(const vmsec_listener *l)
{
    return l ? l->fd : -1;
}

int vmsec_listener_address(const vmsec_listener *l, char *out, size_t out_len)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (!l || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_listener_address: NULL argument");
    if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
        return vmsec__error_errno(VMSEC_EIO, errno, "getsockname on a listener");
    return vmsec__sockaddr_format((struct sockaddr *)&ss, len, out, out_len);
}

int vmsec_listener_set_cid_filter(vmsec_listener *l, const uint32_t *cids, size_t n)
{
    uint32_t *c = NULL;
    if (!l || (!cids && n))
        return vmsec__error(VMSEC_EINVAL, "vmsec_listener_set_cid_filter: NULL argument");
    if (n) {
        if (!(c = malloc(n * sizeof(*c))))
            return vmsec__error(VMSEC_ENOMEM, "out of memory for a CID filter");
        memcpy(c, cids, n * sizeof(*c));
    }
    free(l->cids);
    l->cids = c;
    l->ncids = n;
    return 0;
}

int vmsec_listener_accept(vmsec_listener *l, int *fd, char *peer, size_t peer_len, uint32_t *peer_cid)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int c, rc;
    if (!l || !fd || (peer && !peer_len))
        return vmsec__error(VMSEC_EINVAL, "vmsec_listener_accept: NULL argument");
    *fd = -1;
    do {
        len = sizeof(ss);
        c = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
    } while (c < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (c < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return VMSEC_EAGAIN;
        return vmsec__error_errno(VMSEC_EIO, errno, "accept");
    }
    if (ss.ss_family == AF_VSOCK && l->ncids) {
        uint32_t cid = ((struct sockaddr_vm *)&ss)->svm_cid;
        bool ok = false;
        for (size_t i = 0; i < l->ncids; i++)
            ok |= l->cids[i] == cid;
        if (!ok) {
            close(c);
            return vmsec__error(VMSEC_EDENIED, "connection from vsock CID %u refused by the CID filter", cid);
        }
    }
    if (peer && (rc = vmsec__sockaddr_format((struct sockaddr *)&ss, len, peer, peer_len)) < 0) {
        close(c);
        return rc;
    }
    if (peer_cid)
        *peer_cid = ss.ss_family == AF_VSOCK ? ((struct sockaddr_vm *)&ss)->svm_cid : UINT32_MAX;
    *fd = c;
    return 0;
}
