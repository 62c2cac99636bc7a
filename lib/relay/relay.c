/* SPDX-License-Identifier: ISC */
/* The relay object: creation, configuration (policy, limits, identity and connection hooks),
 * listeners, counters and shutdown. The loop is in relay_loop.c, the sessions in relay_session.c,
 * the audit in relay_audit.c; doc/RELAY.md describes the whole. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "common/internal.h"
#include "relay/policy_internal.h"
#include "relay/relay_audit.h"
#include "relay/relay_core.h"
#include "relay/relay_internal.h"
#include "relay/relay_link.h"
#include "vmsec/relay.h"

int vmsec_relay_new(vmsec_relay **out)
{
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL output");
    *out = NULL;
    vmsec_relay *r = calloc(1, sizeof(*r));
    if (!r)
        return vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
    r->audit_fd = 2;
    r->audit_file_fd = -1;
    r->lim[VMSEC_RELAY_LIMIT_SESSIONS] = 1024;
    r->lim[VMSEC_RELAY_LIMIT_PER_SOURCE] = 64;
    r->lim[VMSEC_RELAY_LIMIT_PENDING_PER_SOURCE] = 8;
    r->lim[VMSEC_RELAY_LIMIT_BUFFER] = 131072;
    r->lim[VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS] = 5000;
    r->lim[VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS] = 5000;
    r->lim[VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS] = 0;
    pthread_mutex_init(&r->policy_lock, NULL);
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    r->wake = (struct endpoint){.kind = EP_WAKE, .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    if (r->epfd < 0 || r->wake.fd < 0) {
        int e = errno;
        vmsec_relay_free(r);
        return vmsec__error_errno(VMSEC_EIO, e, "relay: epoll/eventfd");
    }
    vmsec__relay_ep_set(r, &r->wake, EPOLLIN);
    *out = r;
    return 0;
}

static void close_listeners(vmsec_relay *r)
{
    while (r->listeners) {
        struct listener *l = r->listeners;
        r->listeners = l->next;
        vmsec__relay_ep_close(r, &l->ep);
        if (l->path)
            unlink(l->path);
        free(l->path);
        free(l->domain);
        free(l);
    }
}

int vmsec_relay_shutdown(vmsec_relay *r, int timeout_ms)
{
    if (!r || timeout_ms < 0)
        return vmsec__error(VMSEC_EINVAL, "relay shutdown: invalid argument");
    close_listeners(r);
    int64_t deadline = vmsec__relay_now_ms() + timeout_ms;
    int rc = 0;
    /* vmsec_relay_interrupt() during the drain (a second SIGTERM) cuts it short. */
    r->interrupted = 0;
    for (int64_t left; r->sessions && !r->interrupted && (left = deadline - vmsec__relay_now_ms()) > 0 && rc == 0;)
        rc = vmsec_relay_dispatch(r, left > 1000 ? 1000 : (int)left);
    unsigned int cut = 0;
    while (r->sessions) {
        vmsec__relay_session_kill(r, r->sessions, "shutdown");
        cut++;
    }
    vmsec__relay_reap(r);
    vmsec__relay_audit_flush(r, true);
    struct jbuf j;
    vmsec__relay_jbegin(&j, "shutdown");
    vmsec__relay_jnum(&j, "sessions_cut", cut);
    vmsec__relay_jemit(r, &j);
    return rc;
}

void vmsec_relay_free(vmsec_relay *r)
{
    if (!r)
        return;
    while (r->sessions)
        vmsec__relay_session_kill(r, r->sessions, "shutdown");
    vmsec__relay_reap(r);
    vmsec__relay_audit_flush(r, true);
    close_listeners(r);
    if (r->wake.fd >= 0)
        close(r->wake.fd);
    if (r->epfd >= 0)
        close(r->epfd);
    if (r->audit_file_fd >= 0)
        close(r->audit_file_fd);
    if (r->dir_ops)
        r->dir_ops->free(r->dir);
    vmsec__relay_link_free_all(r);
    vmsec_policy_free(r->policy);
    pthread_mutex_destroy(&r->policy_lock);
    free(r->audit_path);
    free(r);
}

int vmsec_relay_set_policy(vmsec_relay *r, vmsec_policy *policy)
{
    if (!r) {
        vmsec_policy_free(policy);
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    }
    pthread_mutex_lock(&r->policy_lock);
    vmsec_policy *old = r->policy;
    r->policy = policy;
    pthread_mutex_unlock(&r->policy_lock);
    vmsec_policy_free(old);
    return 0;
}

int vmsec_relay_load_policy(vmsec_relay *r, const char *path)
{
    if (!r || !path)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL argument");
    vmsec_policy *p = NULL;
    int rc = vmsec_policy_load_file(&p, path);
    char msg[512] = "";
    vmsec__relay_audit_load(r, "policy", path, rc, "rules", rc < 0 ? 0 : vmsec_policy_rule_count(p), "deny-all", msg,
                            sizeof(msg));
    vmsec_relay_set_policy(r, p);
    if (rc < 0)
        return vmsec__error(rc, "%s (the relay now denies every request)", msg);
    return 0;
}

int vmsec_relay_set_limit(vmsec_relay *r, int which, unsigned int value)
{
    if (!r || which < VMSEC_RELAY_LIMIT_SESSIONS || which > VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS)
        return vmsec__error(VMSEC_EINVAL, "relay: unknown limit %d", which);
    if (value == 0 && which != VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS)
        return vmsec__error(VMSEC_EINVAL, "relay: limit %d cannot be 0", which);
    if (which == VMSEC_RELAY_LIMIT_BUFFER && (value < 4096 || value > (64u << 20)))
        return vmsec__error(VMSEC_EINVAL, "relay: buffer size %u outside 4096..64 MiB", value);
    if (which >= VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS && value > 86400000u)
        return vmsec__error(VMSEC_EINVAL, "relay: timeout %u ms longer than a day", value);
    __atomic_store_n(&r->lim[which], value, __ATOMIC_RELAXED);
    return 0;
}

int vmsec_relay_set_identify(vmsec_relay *r, vmsec_relay_identify_fn fn, void *user)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    r->identify = fn;
    r->identify_user = user;
    return 0;
}

int vmsec_relay_set_connect(vmsec_relay *r, vmsec_relay_connect_fn fn, void *user)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    r->connect = fn;
    r->connect_user = user;
    return 0;
}

int vmsec_relay_set_directory_resync(vmsec_relay *r, unsigned int ms)
{
    if (!r || ms < RELAY_DIR_RESYNC_MIN_MS || ms > RELAY_DIR_RESYNC_MAX_MS)
        return vmsec__error(VMSEC_EINVAL, "relay: directory resync interval %u ms outside %u..%u", ms,
                            RELAY_DIR_RESYNC_MIN_MS, RELAY_DIR_RESYNC_MAX_MS);
    __atomic_store_n(&r->dir_resync_ms, ms, __ATOMIC_RELAXED);
    /* The directory is set up before the loop runs and replaced only by the same thread. */
    if (r->dir_ops && r->dir_ops->set_resync)
        r->dir_ops->set_resync(r->dir, ms);
    return 0;
}

void vmsec__relay_set_directory(vmsec_relay *r, const struct relay_dir_ops *ops, void *dir)
{
    if (r->dir_ops)
        r->dir_ops->free(r->dir);
    r->dir_ops = ops;
    r->dir = dir;
    unsigned int resync = __atomic_load_n(&r->dir_resync_ms, __ATOMIC_RELAXED);
    if (resync && ops->set_resync)
        ops->set_resync(dir, resync);
    r->identify = NULL;
    r->connect = NULL;
}

void vmsec__relay_set_peer_cid(vmsec_relay *r, relay_peer_cid_fn fn)
{
    r->peer_cid = fn;
}

int vmsec__relay_add_listener(vmsec_relay *r, int fd, bool vsock, const char *path, const char *domain)
{
    struct listener *l = calloc(1, sizeof(*l));
    if (!l || (path && !(l->path = strdup(path))) || (domain && !(l->domain = strdup(domain)))) {
        if (l) {
            free(l->path);
            free(l);
        }
        close(fd);
        return vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
    }
    l->ep = (struct endpoint){.kind = EP_LISTENER, .fd = fd, .owner = l};
    l->vsock = vsock;
    vmsec__relay_ep_set(r, &l->ep, EPOLLIN);
    if (l->ep.events != EPOLLIN) {
        int e = errno;
        close(fd);
        if (path)
            unlink(path);
        free(l->path);
        free(l->domain);
        free(l);
        return vmsec__error_errno(VMSEC_EIO, e, "relay: epoll_ctl");
    }
    l->next = r->listeners;
    r->listeners = l;
    return 0;
}

/* The unix listener's mode: owner only (see vmsec_relay_listen_unix). */
#define VMSEC__RELAY_UNIX_MODE 0600

static int bind_error(int e, const char *what)
{
    return vmsec__error_errno(e == EADDRINUSE ? VMSEC_EADDRINUSE : VMSEC_EIO, e, "relay: cannot listen on %s", what);
}

int vmsec_relay_listen_vsock(vmsec_relay *r, uint32_t port)
{
    if (!r || port == VMADDR_PORT_ANY)
        return vmsec__error(VMSEC_EINVAL, "relay: invalid vsock port");
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vmsec__error_errno(errno == EAFNOSUPPORT ? VMSEC_EUNSUPPORTED : VMSEC_EIO, errno,
                                  "relay: vsock socket");
    struct sockaddr_vm svm = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
    if (bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        char what[32];
        snprintf(what, sizeof(what), "vsock port %u", port);
        return bind_error(e, what);
    }
    return vmsec__relay_add_listener(r, fd, true, NULL, NULL);
}

int vmsec_relay_listen_unix(vmsec_relay *r, const char *path, const char *domain)
{
    if (!r || !path || !domain)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL argument");
    if (!vmsec__policy_valid_name(domain, VMSEC_POLICY_NAME_MAX))
        return vmsec__error(VMSEC_EINVAL, "relay: invalid identity '%.64s' for unix callers", domain);
    if (!vmsec__policy_host_name(domain))
        return vmsec__error(VMSEC_EINVAL,
                            "relay: the identity '%.64s' of unix callers is not in the host side's namespace: "
                            "use 'host' or 'host:%.64s', names no domain can take",
                            domain, domain);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path))
        return vmsec__error(VMSEC_ETOOBIG, "relay: unix socket path too long: %s", path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* a stale socket from a previous run; anything else is left alone */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vmsec__error_errno(VMSEC_EIO, errno, "relay: unix socket");
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int e = errno;
        close(fd);
        return bind_error(e, path);
    }
    /* Every caller on this socket gets the listener's identity, so only the relay's own user may
     * connect: the mode is set explicitly rather than left to the process umask (umask 000 would
     * hand the identity to every local user). fchmod() on a socket does not reach the inode bind()
     * creates, and changing the umask around bind() is process-wide (racy in a library), so the
     * path is chmod()ed after bind() and before listen(): until listen() a connect() is refused
     * whatever the mode, so no caller can get in during the window. A failed chmod() is fatal. */
    if (chmod(path, VMSEC__RELAY_UNIX_MODE) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return bind_error(e, path);
    }
    return vmsec__relay_add_listener(r, fd, false, path, domain);
}

int vmsec_relay_stat(const vmsec_relay *r, int which, uint64_t *value)
{
    if (!r || !value)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL argument");
    switch (which) {
    case VMSEC_RELAY_STAT_ACTIVE: *value = __atomic_load_n(&r->stat_active, __ATOMIC_RELAXED); return 0;
    case VMSEC_RELAY_STAT_PENDING: *value = __atomic_load_n(&r->stat_pending, __ATOMIC_RELAXED); return 0;
    case VMSEC_RELAY_STAT_ACCEPTED: *value = __atomic_load_n(&r->stat_accepted, __ATOMIC_RELAXED); return 0;
    case VMSEC_RELAY_STAT_DENIED: *value = __atomic_load_n(&r->stat_denied, __ATOMIC_RELAXED); return 0;
    case VMSEC_RELAY_STAT_REFUSED: *value = __atomic_load_n(&r->stat_refused, __ATOMIC_RELAXED); return 0;
    case VMSEC_RELAY_STAT_BYTES: *value = __atomic_load_n(&r->stat_bytes, __ATOMIC_RELAXED); return 0;
    default: return vmsec__error(VMSEC_EINVAL, "relay: unknown counter %d", which);
    }
}
