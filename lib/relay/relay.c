/* The relay: a single-threaded, non-blocking epoll loop. Each session moves through
 * REQUEST (read the caller's request) -> CONNECTING (policy allowed; connect to the target) ->
 * FORWARD (copy ciphertext both ways through two bounded buffers). Wire format: doc/RELAY.md. */
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
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "common/internal.h"
#include "relay/policy_internal.h"
#include "relay/relay_audit.h"
#include "relay/relay_core.h"
#include "relay/relay_internal.h"
#include "vmsec/relay.h"

#define MAX_EVENTS 64
/* Counters are written by the loop thread and may be read from any thread (vmsec_relay_stat). */
#define STAT_ADD(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define STAT_SUB(field, n) __atomic_sub_fetch(&(field), (n), __ATOMIC_RELAXED)
/* Limits may be changed from any thread (vmsec_relay_set_limit) while the loop reads them. */
#define LIM(r, which) __atomic_load_n(&(r)->lim[(which)], __ATOMIC_RELAXED)
#define ACCEPT_BURST 32 /* accepts per listener wakeup, so one listener cannot starve sessions */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- sources and sessions ----------------------------------------------------------------------- */

static struct source *source_get(vmsec_relay *r, const char *domain)
{
    for (struct source *s = r->sources; s; s = s->next)
        if (strcmp(s->domain, domain) == 0)
            return s;
    struct source *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    snprintf(s->domain, sizeof(s->domain), "%s", domain);
    s->next = r->sources;
    r->sources = s;
    return s;
}

static void source_put(vmsec_relay *r, struct source *src)
{
    if (src->pending || src->active || src->connecting)
        return;
    for (struct source **pp = &r->sources; *pp; pp = &(*pp)->next)
        if (*pp == src) {
            *pp = src->next;
            free(src);
            return;
        }
}

static void ep_set(vmsec_relay *r, struct endpoint *ep, uint32_t want)
{
    if (ep->fd < 0 || ep->events == want)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = ep};
    /* An endpoint with nothing to do leaves the set: otherwise a hang-up it cannot act on yet
     * (its peer's buffer is full) would be reported in a loop. */
    int op = want == 0 ? EPOLL_CTL_DEL : ep->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(r->epfd, op, ep->fd, &ev) == 0)
        ep->events = want;
}

static void ep_close(vmsec_relay *r, struct endpoint *ep)
{
    if (ep->fd < 0)
        return;
    ep_set(r, ep, 0);
    close(ep->fd);
    ep->fd = -1;
}

static void session_kill(vmsec_relay *r, struct session *s, const char *reason)
{
    if (s->state == S_DEAD)
        return;
    if (s->state == S_FORWARD) {
        s->src->active--;
        STAT_SUB(r->stat_active, 1);
        struct jbuf j;
        vmsec__relay_jbegin(&j, "close");
        vmsec__relay_jsession(&j, s);
        vmsec__relay_jnum(&j, "bytes_to_target", s->bytes_c2t);
        vmsec__relay_jnum(&j, "bytes_to_source", s->bytes_t2c);
        vmsec__relay_jstr(&j, "reason", reason);
        vmsec__relay_jemit(r, &j);
    } else {
        s->src->pending--;
        STAT_SUB(r->stat_pending, 1);
        if (s->state == S_CONNECTING)
            s->src->connecting--;
    }
    source_put(r, s->src);
    ep_close(r, &s->cli);
    ep_close(r, &s->tgt);
    s->state = S_DEAD;
    if (s->prev)
        s->prev->next = s->next;
    else
        r->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = r->zombies;
    r->zombies = s;
    r->nsessions--;
}

static void reap(vmsec_relay *r)
{
    while (r->zombies) {
        struct session *s = r->zombies;
        r->zombies = s->next;
        free(s->c2t.data);
        free(s->t2c.data);
        free(s);
    }
}

/* Sends a refusal on a socket that has just been accepted (its send buffer is empty, so the eight
 * bytes fit) and lets the caller close it. */
static void send_status(int fd, int status)
{
    uint8_t rep[RELAY_REPLY_LEN];
    vmsec__relay_encode_reply(rep, status);
    (void)!send(fd, rep, sizeof(rep), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void session_refuse(vmsec_relay *r, struct session *s, int status, const char *event, const char *reason)
{
    if (status == VMSEC_RELAY_DENIED)
        STAT_ADD(r->stat_denied, 1);
    else
        STAT_ADD(r->stat_refused, 1);
    if (event)
        vmsec__relay_audit_event(r, s, event, reason);
    send_status(s->cli.fd, status);
    /* Discard what the caller already sent, so closing does not reset the connection before
     * the caller has read the status (bounded: a refusal costs at most one small read). */
    uint8_t sink[4096];
    (void)!recv(s->cli.fd, sink, sizeof(sink), MSG_DONTWAIT);
    session_kill(r, s, reason);
}

static void schedule(vmsec_relay *r, int64_t deadline)
{
    if (deadline && (r->next_scan == 0 || deadline < r->next_scan))
        r->next_scan = deadline;
}

/* --- identification and connection -------------------------------------------------------------- */

static int identify(vmsec_relay *r, struct listener *l, int fd, uint32_t *cid, char *domain, size_t cap)
{
    if (r->identify)
        return r->identify(r->identify_user, fd, cid, domain, cap);
    if (!l->vsock) {
        *cid = VMSEC_RELAY_HOST_CID;
        snprintf(domain, cap, "%s", l->domain);
        return 0;
    }
    if (!r->dir_ops)
        return VMSEC_ENOTFOUND;
    struct sockaddr_vm svm;
    socklen_t sl = sizeof(svm);
    if (getpeername(fd, (struct sockaddr *)&svm, &sl) < 0 || svm.svm_family != AF_VSOCK)
        return VMSEC_EIO;
    *cid = svm.svm_cid;
    return r->dir_ops->by_cid(r->dir, svm.svm_cid, domain, cap, NULL);
}

static int connect_target(vmsec_relay *r, const char *domain, uint32_t port, int *fd)
{
    if (r->connect)
        return r->connect(r->connect_user, domain, port, fd);
    if (!r->dir_ops)
        return VMSEC_ENOTFOUND;
    uint32_t cid;
    int rc = r->dir_ops->by_name(r->dir, domain, &cid, NULL, true);
    if (rc < 0)
        return rc;
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return vmsec__error_errno(VMSEC_EIO, errno, "relay: vsock socket");
    struct sockaddr_vm svm = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
    if (connect(s, (struct sockaddr *)&svm, sizeof(svm)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(s);
        return vmsec__error_errno(VMSEC_ECONNREFUSED, e, "relay: connect to %s (cid %u port %u)", domain, cid, port);
    }
    *fd = s;
    return 0;
}

/* --- the session state machine ------------------------------------------------------------------ */

static void decide(vmsec_relay *r, struct session *s)
{
    const char *const *stags = NULL, *const *ttags = NULL;
    if (r->dir_ops && !r->identify) {
        uint32_t cid;
        /* Target first: it may refresh the directory, which would invalidate earlier tags. */
        if (r->dir_ops->by_name(r->dir, s->target, &cid, &ttags, true) < 0)
            ttags = NULL;
        if (r->dir_ops->by_name(r->dir, s->domain, &cid, &stags, false) < 0)
            stags = NULL;
    }
    unsigned int line = 0;
    uint32_t port = 0;
    char rule[600];
    pthread_mutex_lock(&r->policy_lock);
    int rc = vmsec_policy_check(r->policy, s->service, s->domain, stags, s->target, ttags, &line);
    bool have_port = rc == 0 && vmsec_policy_service_port(r->policy, s->service, &port) == 0;
    if (!r->policy)
        snprintf(rule, sizeof(rule), "no-valid-policy");
    else if (line == 0)
        snprintf(rule, sizeof(rule), "%s:default", vmsec_policy_name(r->policy));
    else
        snprintf(rule, sizeof(rule), "%s:%u", vmsec_policy_name(r->policy), line);
    pthread_mutex_unlock(&r->policy_lock);

    vmsec__relay_audit_decision(r, s, rc == 0, rule);
    if (rc < 0) {
        session_refuse(r, s, VMSEC_RELAY_DENIED, NULL, NULL);
        return;
    }
    if (!have_port) {
        session_refuse(r, s, VMSEC_RELAY_UNAVAILABLE, "unavailable", "unknown-service");
        return;
    }
    if (s->src->active + s->src->connecting >= LIM(r, VMSEC_RELAY_LIMIT_PER_SOURCE)) {
        session_refuse(r, s, VMSEC_RELAY_BUSY, "refused", "source-limit");
        return;
    }
    int fd = -1;
    if (connect_target(r, s->target, port, &fd) < 0 || fd < 0) {
        session_refuse(r, s, VMSEC_RELAY_UNAVAILABLE, "unavailable", "connect-failed");
        return;
    }
    s->tgt.fd = fd;
    s->state = S_CONNECTING;
    s->src->connecting++;
    s->deadline = now_ms() + LIM(r, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS);
    schedule(r, s->deadline);
    ep_set(r, &s->cli, 0);
    ep_set(r, &s->tgt, EPOLLOUT);
}

static void on_request(vmsec_relay *r, struct session *s)
{
    size_t need = RELAY_REQ_FIXED;
    for (;;) {
        enum relay_parse pr = vmsec__relay_parse_request(s->req, s->reqlen, &need, s->target, s->service);
        if (pr == RELAY_PARSE_BAD) {
            s->target[0] = '\0';
            session_refuse(r, s, VMSEC_RELAY_BAD_REQUEST, "refused", "bad-request");
            return;
        }
        if (pr == RELAY_PARSE_OK) {
            decide(r, s);
            return;
        }
        /* Read only up to the end of the request: the caller's channel bytes stay in the socket. */
        ssize_t n = recv(s->cli.fd, s->req + s->reqlen, need - s->reqlen, 0);
        if (n > 0) {
            s->reqlen += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        s->target[0] = '\0';
        STAT_ADD(r->stat_refused, 1);
        vmsec__relay_audit_event(r, s, "refused", n == 0 ? "closed-before-request" : "read-error");
        session_kill(r, s, "closed");
        return;
    }
}

static void on_connected(vmsec_relay *r, struct session *s)
{
    int err = 0;
    socklen_t el = sizeof(err);
    if (getsockopt(s->tgt.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    if (err) {
        session_refuse(r, s, VMSEC_RELAY_UNAVAILABLE, "unavailable", "connect-failed");
        return;
    }
    s->cap = LIM(r, VMSEC_RELAY_LIMIT_BUFFER);
    s->c2t.data = malloc(s->cap);
    s->t2c.data = malloc(s->cap);
    if (!s->c2t.data || !s->t2c.data) {
        session_refuse(r, s, VMSEC_RELAY_INTERNAL, "refused", "out-of-memory");
        return;
    }
    /* The origin header goes first to the target, the acceptance first to the caller; only then
     * are the two streams joined. */
    s->c2t.end = vmsec__relay_encode_origin(s->c2t.data, s->domain, s->cid, s->service);
    vmsec__relay_encode_reply(s->t2c.data, VMSEC_RELAY_ACCEPTED);
    s->t2c.end = RELAY_REPLY_LEN;
    s->src->pending--;
    s->src->connecting--;
    s->src->active++;
    STAT_SUB(r->stat_pending, 1);
    STAT_ADD(r->stat_active, 1);
    STAT_ADD(r->stat_accepted, 1);
    s->state = S_FORWARD;
    s->deadline = LIM(r, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS) ? now_ms() + LIM(r, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS) : 0;
    schedule(r, s->deadline);
    vmsec__relay_audit_event(r, s, "open", NULL);
}

/* Moves bytes one step in one direction: write what is buffered, read once into the free space,
 * write again. Returns false if the session must die. */
static bool flush_dir(vmsec_relay *r, struct pipebuf *b, int dst, uint64_t *counter)
{
    while (b->end > b->start) {
        ssize_t n = send(dst, b->data + b->start, b->end - b->start, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            b->start += (size_t)n;
            *counter += (uint64_t)n;
            STAT_ADD(r->stat_bytes, (uint64_t)n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            return false;
        }
    }
    if (b->start == b->end)
        b->start = b->end = 0;
    return true;
}

static bool pump_dir(vmsec_relay *r, struct pipebuf *b, int src, int dst, size_t cap, uint64_t *counter)
{
    if (!flush_dir(r, b, dst, counter))
        return false;
    if (!b->eof) {
        if (b->end == cap && b->start > 0) {
            memmove(b->data, b->data + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
        if (b->end < cap) {
            ssize_t n = recv(src, b->data + b->end, cap - b->end, MSG_DONTWAIT);
            if (n > 0)
                b->end += (size_t)n;
            else if (n == 0)
                b->eof = true;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return false;
            if (!flush_dir(r, b, dst, counter))
                return false;
        }
    }
    if (b->eof && b->start == b->end && !b->shut) {
        shutdown(dst, SHUT_WR); /* propagate the half-close */
        b->shut = true;
    }
    return true;
}

static void pump(vmsec_relay *r, struct session *s)
{
    size_t cap = s->cap;
    uint64_t before = s->bytes_c2t + s->bytes_t2c;
    if (!pump_dir(r, &s->c2t, s->cli.fd, s->tgt.fd, cap, &s->bytes_c2t) ||
        !pump_dir(r, &s->t2c, s->tgt.fd, s->cli.fd, cap, &s->bytes_t2c)) {
        session_kill(r, s, "error");
        return;
    }
    if (s->c2t.shut && s->t2c.shut) {
        session_kill(r, s, "eof");
        return;
    }
    if (s->deadline && s->bytes_c2t + s->bytes_t2c != before) {
        s->deadline = now_ms() + LIM(r, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS);
        schedule(r, s->deadline);
    }
    /* Back-pressure: read a side only while the buffer it feeds has room. A buffer that is
     * compacted on demand has room whenever end < cap or start > 0. */
    uint32_t ce = 0, te = 0;
    if (!s->c2t.eof && (s->c2t.end < cap || s->c2t.start > 0))
        ce |= EPOLLIN;
    if (s->t2c.end > s->t2c.start)
        ce |= EPOLLOUT;
    if (!s->t2c.eof && (s->t2c.end < cap || s->t2c.start > 0))
        te |= EPOLLIN;
    if (s->c2t.end > s->c2t.start)
        te |= EPOLLOUT;
    ep_set(r, &s->cli, ce);
    ep_set(r, &s->tgt, te);
}

static void on_session_event(vmsec_relay *r, struct endpoint *ep)
{
    struct session *s = ep->owner;
    switch (s->state) {
    case S_REQUEST:
        on_request(r, s);
        break;
    case S_CONNECTING:
        if (ep->kind == EP_TARGET) {
            on_connected(r, s);
            if (s->state == S_FORWARD)
                pump(r, s);
        } else {
            /* The caller hung up while we were connecting. */
            vmsec__relay_audit_event(r, s, "refused", "caller-closed");
            STAT_ADD(r->stat_refused, 1);
            session_kill(r, s, "closed");
        }
        break;
    case S_FORWARD:
        pump(r, s);
        break;
    case S_DEAD:
        break;
    }
}

static void on_accept(vmsec_relay *r, struct listener *l)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(l->ep.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* The pending connection stays queued and the listener stays readable: pause it
             * briefly rather than spin on a level-triggered event we cannot act on. */
            ep_set(r, &l->ep, 0);
            l->resume_at = now_ms() + 100;
            schedule(r, l->resume_at);
            return;
        }
        if (fd < 0)
            return; /* EAGAIN, or an aborted connection */
        struct session *s = calloc(1, sizeof(*s));
        if (!s) {
            send_status(fd, VMSEC_RELAY_INTERNAL);
            close(fd);
            continue;
        }
        s->id = ++r->next_id;
        s->cli = (struct endpoint){.kind = EP_CLIENT, .fd = fd, .owner = s};
        s->tgt = (struct endpoint){.kind = EP_TARGET, .fd = -1, .owner = s};
        char domain[VMSEC_POLICY_NAME_MAX + 1] = "";
        int rc = identify(r, l, fd, &s->cid, domain, sizeof(domain));
        const char *why = NULL;
        int status = VMSEC_RELAY_BUSY;
        if (rc < 0 || !vmsec__policy_valid_name(domain, VMSEC_POLICY_NAME_MAX)) {
            why = "unknown-source";
            status = VMSEC_RELAY_DENIED;
            snprintf(s->domain, sizeof(s->domain), "%s", "?");
        } else {
            snprintf(s->domain, sizeof(s->domain), "%s", domain);
            if (r->nsessions >= LIM(r, VMSEC_RELAY_LIMIT_SESSIONS))
                why = "session-limit";
            else if (!(s->src = source_get(r, domain)))
                why = "out-of-memory", status = VMSEC_RELAY_INTERNAL;
            else if (s->src->pending >= LIM(r, VMSEC_RELAY_LIMIT_PENDING_PER_SOURCE))
                why = "pending-limit";
        }
        if (why) {
            vmsec__relay_audit_event(r, s, "refused", why);
            if (status == VMSEC_RELAY_DENIED)
                STAT_ADD(r->stat_denied, 1);
            else
                STAT_ADD(r->stat_refused, 1);
            send_status(fd, status);
            close(fd);
            if (s->src)
                source_put(r, s->src);
            free(s);
            continue;
        }
        s->state = S_REQUEST;
        s->src->pending++;
        STAT_ADD(r->stat_pending, 1);
        r->nsessions++;
        s->next = r->sessions;
        if (r->sessions)
            r->sessions->prev = s;
        r->sessions = s;
        s->deadline = now_ms() + LIM(r, VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS);
        schedule(r, s->deadline);
        ep_set(r, &s->cli, EPOLLIN);
    }
}

static void expire(vmsec_relay *r)
{
    int64_t now = now_ms();
    if (!r->next_scan || now < r->next_scan)
        return;
    r->next_scan = 0;
    for (struct listener *l = r->listeners; l; l = l->next) {
        if (l->resume_at && l->resume_at <= now) {
            l->resume_at = 0;
            ep_set(r, &l->ep, EPOLLIN);
        } else if (l->resume_at) {
            schedule(r, l->resume_at);
        }
    }
    for (struct session *s = r->sessions, *next; s; s = next) {
        next = s->next;
        if (!s->deadline)
            continue;
        if (s->deadline > now) {
            schedule(r, s->deadline);
            continue;
        }
        if (s->state == S_REQUEST) {
            s->target[0] = '\0';
            session_refuse(r, s, VMSEC_RELAY_BAD_REQUEST, "refused", "request-timeout");
        } else if (s->state == S_CONNECTING) {
            session_refuse(r, s, VMSEC_RELAY_UNAVAILABLE, "unavailable", "connect-timeout");
        } else {
            session_kill(r, s, "idle-timeout");
        }
    }
}

int vmsec_relay_dispatch(vmsec_relay *r, int timeout_ms)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    if (r->next_scan) {
        int64_t left = r->next_scan - now_ms();
        if (left < 0)
            left = 0;
        if (timeout_ms < 0 || left < timeout_ms)
            timeout_ms = (int)(left > 60000 ? 60000 : left);
    }
    struct epoll_event ev[MAX_EVENTS];
    int n = epoll_wait(r->epfd, ev, MAX_EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR)
        return vmsec__error_errno(VMSEC_EIO, errno, "relay: epoll_wait");
    for (int i = 0; i < n; i++) {
        struct endpoint *ep = ev[i].data.ptr;
        if (ep->kind == EP_WAKE) {
            uint64_t v;
            (void)!read(ep->fd, &v, sizeof(v));
            r->interrupted = 1;
        } else if (ep->kind == EP_LISTENER) {
            on_accept(r, ep->owner);
        } else {
            on_session_event(r, ep);
        }
    }
    expire(r);
    reap(r);
    return 0;
}

int vmsec_relay_run(vmsec_relay *r)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    while (!r->interrupted) {
        int rc = vmsec_relay_dispatch(r, -1);
        if (rc < 0)
            return rc;
    }
    r->interrupted = 0;
    return 0;
}

int vmsec_relay_interrupt(vmsec_relay *r)
{
    if (!r)
        return VMSEC_EINVAL; /* no error message: must stay async-signal-safe */
    uint64_t one = 1;
    (void)!write(r->wake.fd, &one, sizeof(one));
    return 0;
}

int vmsec_relay_fd(const vmsec_relay *r)
{
    return r ? r->epfd : vmsec__error(VMSEC_EINVAL, "relay: NULL");
}

/* --- configuration ------------------------------------------------------------------------------ */

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
    r->lim[VMSEC_RELAY_LIMIT_BUFFER] = 65536;
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
    ep_set(r, &r->wake, EPOLLIN);
    *out = r;
    return 0;
}

static void close_listeners(vmsec_relay *r)
{
    while (r->listeners) {
        struct listener *l = r->listeners;
        r->listeners = l->next;
        ep_close(r, &l->ep);
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
    int64_t deadline = now_ms() + timeout_ms;
    int rc = 0;
    /* vmsec_relay_interrupt() during the drain (a second SIGTERM) cuts it short. */
    r->interrupted = 0;
    for (int64_t left; r->sessions && !r->interrupted && (left = deadline - now_ms()) > 0 && rc == 0;)
        rc = vmsec_relay_dispatch(r, left > 1000 ? 1000 : (int)left);
    unsigned int cut = 0;
    while (r->sessions) {
        session_kill(r, r->sessions, "shutdown");
        cut++;
    }
    reap(r);
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
        session_kill(r, r->sessions, "shutdown");
    reap(r);
    close_listeners(r);
    if (r->wake.fd >= 0)
        close(r->wake.fd);
    if (r->epfd >= 0)
        close(r->epfd);
    if (r->audit_file_fd >= 0)
        close(r->audit_file_fd);
    if (r->dir_ops)
        r->dir_ops->free(r->dir);
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
    struct jbuf j;
    char msg[512] = "";
    vmsec__relay_jbegin(&j, "policy");
    vmsec__relay_jstr(&j, "file", path);
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "%s", vmsec_error_last());
        vmsec__relay_jstr(&j, "status", "invalid");
        vmsec__relay_jstr(&j, "error", msg);
        vmsec__relay_jstr(&j, "effect", "deny-all");
    } else {
        vmsec__relay_jstr(&j, "status", "loaded");
        vmsec__relay_jnum(&j, "rules", vmsec_policy_rule_count(p));
    }
    /* Audit from the loop thread's sinks is not synchronised with a concurrent loop; the line is
     * written with one write() per sink, which keeps lines whole. */
    vmsec__relay_jemit(r, &j);
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

void vmsec__relay_set_directory(vmsec_relay *r, const struct relay_dir_ops *ops, void *dir)
{
    if (r->dir_ops)
        r->dir_ops->free(r->dir);
    r->dir_ops = ops;
    r->dir = dir;
    r->identify = NULL;
    r->connect = NULL;
}

static int add_listener(vmsec_relay *r, int fd, bool vsock, const char *path, const char *domain)
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
    ep_set(r, &l->ep, EPOLLIN);
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
    return add_listener(r, fd, true, NULL, NULL);
}

int vmsec_relay_listen_unix(vmsec_relay *r, const char *path, const char *domain)
{
    if (!r || !path || !domain)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL argument");
    if (!vmsec__policy_valid_name(domain, VMSEC_POLICY_NAME_MAX))
        return vmsec__error(VMSEC_EINVAL, "relay: invalid identity '%.64s' for unix callers", domain);
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
    if (listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return bind_error(e, path);
    }
    return add_listener(r, fd, false, path, domain);
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
