/* SPDX-License-Identifier: ISC */
/* The relay's sessions. Each moves through REQUEST (read the caller's request) -> CONNECTING
 * (policy allowed; connect to the target) -> FORWARD (the loop moves ciphertext both ways, each
 * direction holding at most the buffer limit) and ends killed, then freed after the event batch.
 * Wire format: doc/RELAY.md. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "common/internal.h"
#include "relay/policy_internal.h"
#include "relay/relay_audit.h"
#include "relay/relay_core.h"
#include "relay/relay_internal.h"
#include "relay/relay_link.h"
#include "vmsec/policy.h"
#include "vmsec/relay.h"

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

void vmsec__relay_session_kill(vmsec_relay *r, struct session *s, const char *reason)
{
    if (s->state == S_DEAD)
        return;
    if (s->link) /* federation hook */
        vmsec__relay_link_detach(r, s);
    if (s->state == S_FORWARD) {
        s->src->active--;
        STAT_SUB(r->stat_active, 1);
        struct jbuf j;
        vmsec__relay_jbegin(&j, "close");
        vmsec__relay_jsession(&j, s);
        vmsec__relay_jnum(&j, "bytes_to_target", s->bytes_c2t);
        vmsec__relay_jnum(&j, "bytes_to_source", s->bytes_t2c);
        vmsec__relay_jstr(&j, "reason", reason);
        vmsec__relay_juuids(&j, s);
        vmsec__relay_jemit(r, &j);
    } else {
        s->src->pending--;
        STAT_SUB(r->stat_pending, 1);
        if (s->state == S_CONNECTING)
            s->src->connecting--;
    }
    source_put(r, s->src);
    vmsec__relay_ep_close(r, &s->cli);
    vmsec__relay_ep_close(r, &s->tgt);
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

void vmsec__relay_reap(vmsec_relay *r)
{
    vmsec__relay_link_reap(r); /* federation hook */
    while (r->zombies) {
        struct session *s = r->zombies;
        r->zombies = s->next;
        vmsec__relay_forward_free(s);
        vmsec__relay_ident_clear(&s->sid);
        vmsec__relay_ident_clear(&s->tid);
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
    vmsec__relay_session_kill(r, s, reason);
}

/* federation hook: a link refuses its origin session with the peer's status */
void vmsec__relay_session_refuse(vmsec_relay *r, struct session *s, int status, const char *event,
                                 const char *reason)
{
    session_refuse(r, s, status, event, reason);
}

/* --- identification and connection -------------------------------------------------------------- */

/* The caller's CID and domain. A directory identity is remembered by UUID (s->sid), so that a
 * later domain on the same CID is never taken for this one. */
static int identify(vmsec_relay *r, struct listener *l, struct session *s, char *domain, size_t cap)
{
    if (l->remote) { /* federation hook: a link's caller, named HOST/DOMAIN by the link */
        s->cid = 0;
        snprintf(domain, cap, "%s", l->domain);
        return 0;
    }
    if (r->identify)
        return r->identify(r->identify_user, s->cli.fd, &s->cid, domain, cap);
    if (!l->vsock && !r->peer_cid) {
        s->cid = VMSEC_RELAY_HOST_CID;
        snprintf(domain, cap, "%s", l->domain);
        return 0;
    }
    if (!r->dir_ops)
        return VMSEC_ENOTFOUND;
    if (l->vsock) {
        struct sockaddr_vm svm;
        socklen_t sl = sizeof(svm);
        if (getpeername(s->cli.fd, (struct sockaddr *)&svm, &sl) < 0 || svm.svm_family != AF_VSOCK)
            return VMSEC_EIO;
        s->cid = svm.svm_cid;
    } else if (r->peer_cid(s->cli.fd, &s->cid) < 0) {
        return VMSEC_EIO;
    }
    int rc = r->dir_ops->by_cid(r->dir, s->cid, &s->sid);
    if (rc < 0)
        return rc;
    s->have_sid = true;
    vmsec__relay_ident_clear(&s->sid); /* tags are read again when the request is decided */
    /* a domain named in the host side's namespace would pass for the host */
    if (vmsec__policy_host_name(s->sid.name))
        return VMSEC_EPERM;
    snprintf(domain, cap, "%s", s->sid.name);
    return 0;
}

/* Connects to the target: through the connect callback, or to the CID the directory gave. */
static int connect_target(vmsec_relay *r, struct session *s, uint32_t port, int *fd)
{
    if (vmsec__relay_link_remote(s->target)) /* federation hook */
        return vmsec__relay_link_connect(r, s, fd);
    if (r->connect)
        return r->connect(r->connect_user, s->target, port, fd);
    if (!s->have_tid)
        return VMSEC_ENOTFOUND;
    return vmsec__relay_vsock_connect_reserved(s->tid.cid, port, fd);
}

/* Reads the source's current entry (fresh tags) for the decision; false if the CID no longer
 * belongs to the domain (UUID and name) identified when the caller connected. */
static bool source_current(vmsec_relay *r, struct session *s)
{
    struct relay_ident now = {.tags = NULL};
    if (!s->have_sid)
        return true;
    if (r->dir_ops->by_cid(r->dir, s->cid, &now) < 0 || strcmp(now.uuid, s->sid.uuid) != 0 ||
        strcmp(now.name, s->domain) != 0) {
        vmsec__relay_ident_clear(&now);
        return false;
    }
    vmsec__relay_ident_clear(&s->sid);
    s->sid = now;
    return true;
}

/* Right before forwarding: both ends are still the domains the decision was made about. */
static const char *identity_changed(vmsec_relay *r, struct session *s)
{
    if (s->have_sid && r->dir_ops->check(r->dir, &s->sid) < 0)
        return "source-changed";
    if (s->have_tid && r->dir_ops->check(r->dir, &s->tid) < 0)
        return "target-changed";
    return NULL;
}

/* --- the session state machine ------------------------------------------------------------------ */

/* The policy decides on names and tags from the directory's table (memory, never libvirt, the
 * same work whether the target exists or not); only an allowed request learns whether the target
 * runs. */
static void decide(vmsec_relay *r, struct session *s)
{
    if (vmsec__policy_host_name(s->target)) { /* the host side is a caller, never a target */
        session_refuse(r, s, VMSEC_RELAY_DENIED, "refused", "reserved-name");
        return;
    }
    if (!source_current(r, s)) {
        session_refuse(r, s, VMSEC_RELAY_DENIED, "refused", "source-changed");
        return;
    }
    int lookup = r->dir_ops && !r->connect ? r->dir_ops->by_name(r->dir, s->target, &s->tid) : 0;
    s->have_tid = r->dir_ops && !r->connect && lookup == 0;
    const char *const *stags = s->have_sid ? (const char *const *)s->sid.tags : NULL;
    const char *const *ttags = s->have_tid ? (const char *const *)s->tid.tags : NULL;
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
    rc = connect_target(r, s, port, &fd);
    if (rc < 0 || fd < 0) {
        /* the relay's own shortcomings are named apart from the target's absence, and a
         * directory that cannot vouch for its table (stale) does not claim the target is gone */
        if (rc == VMSEC_ENOTFOUND && lookup != VMSEC_ESTATE) {
            session_refuse(r, s, VMSEC_RELAY_NO_SUCH_TARGET, "unavailable", "no-such-target");
            return;
        }
        const char *why = rc == VMSEC_ENOTFOUND     ? "directory-stale"
                          : rc == VMSEC_EPERM       ? "relay-not-privileged"
                          : rc == VMSEC_EADDRINUSE  ? "reserved-ports-exhausted"
                                                    : "connect-failed";
        session_refuse(r, s, VMSEC_RELAY_UNAVAILABLE, "unavailable", why);
        return;
    }
    s->tgt.fd = fd;
    s->state = S_CONNECTING;
    s->src->connecting++;
    s->deadline = vmsec__relay_now_ms() + LIM(r, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS);
    vmsec__relay_schedule(r, s->deadline);
    vmsec__relay_ep_set(r, &s->cli, 0);
    /* federation hook: a link reports its peer's answer itself */
    vmsec__relay_ep_set(r, &s->tgt, vmsec__relay_link_remote(s->target) ? 0 : EPOLLOUT);
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
        vmsec__relay_audit_event(r, s, "refused",
                                 n == 0 ? "closed-before-request" : "read-error");
        vmsec__relay_session_kill(r, s, "closed");
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
    const char *changed = identity_changed(r, s);
    if (changed) {
        if (strcmp(changed, "source-changed") == 0)
            session_refuse(r, s, VMSEC_RELAY_DENIED, "refused", changed);
        else
            session_refuse(r, s, VMSEC_RELAY_UNAVAILABLE, "unavailable", changed);
        return;
    }
    s->cap = LIM(r, VMSEC_RELAY_LIMIT_BUFFER);
    if (!vmsec__relay_forward_init(r, s)) {
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
    s->deadline = LIM(r, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS) ? vmsec__relay_now_ms() + LIM(r, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS) : 0;
    vmsec__relay_schedule(r, s->deadline);
    vmsec__relay_audit_event(r, s, "open", NULL);
}

void vmsec__relay_session_event(vmsec_relay *r, struct endpoint *ep, uint32_t events)
{
    if (ep->kind == EP_LINK) { /* federation hook */
        vmsec__relay_link_event(r, ep);
        return;
    }
    struct session *s = ep->owner;
    switch (s->state) {
    case S_REQUEST:
        on_request(r, s);
        break;
    case S_CONNECTING:
        if (ep->kind == EP_TARGET) {
            on_connected(r, s);
            if (s->state == S_FORWARD)
                vmsec__relay_pump(r, s, NULL, 0);
        } else {
            /* The caller hung up while we were connecting. */
            vmsec__relay_audit_event(r, s, "refused", "caller-closed");
            STAT_ADD(r->stat_refused, 1);
            vmsec__relay_session_kill(r, s, "closed");
        }
        break;
    case S_FORWARD:
        vmsec__relay_pump(r, s, ep, events);
        break;
    case S_DEAD:
        break;
    }
}

/* Admits a caller the loop has just accepted: identifies it and checks the limits, then waits
 * for its request. A caller refused here gets its status and is closed at once. */
void vmsec__relay_session_open(vmsec_relay *r, struct listener *l, int fd)
{
    if (l->link) { /* federation hook: another relay's link */
        vmsec__relay_link_accept(r, fd);
        return;
    }
    struct session *s = calloc(1, sizeof(*s));
    if (!s) {
        send_status(fd, VMSEC_RELAY_INTERNAL);
        close(fd);
        return;
    }
    s->id = ++r->next_id;
    s->started = vmsec__relay_now_ms();
    s->cli = (struct endpoint){.kind = EP_CLIENT, .fd = fd, .owner = s};
    s->tgt = (struct endpoint){.kind = EP_TARGET, .fd = -1, .owner = s};
    char domain[VMSEC_POLICY_NAME_MAX + 1] = "";
    int rc = identify(r, l, s, domain, sizeof(domain));
    const char *why = NULL;
    int status = VMSEC_RELAY_BUSY;
    if (rc < 0 || !(l->remote ? vmsec__policy_valid_remote(domain, VMSEC_POLICY_NAME_MAX)
                              : vmsec__policy_valid_name(domain, VMSEC_POLICY_NAME_MAX))) {
        why = rc == VMSEC_EPERM ? "reserved-name" : "unknown-source";
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
        vmsec__relay_ident_clear(&s->sid);
        free(s);
        return;
    }
    s->state = S_REQUEST;
    s->src->pending++;
    STAT_ADD(r->stat_pending, 1);
    r->nsessions++;
    s->next = r->sessions;
    if (r->sessions)
        r->sessions->prev = s;
    r->sessions = s;
    s->deadline = vmsec__relay_now_ms() + LIM(r, VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS);
    vmsec__relay_schedule(r, s->deadline);
    vmsec__relay_ep_set(r, &s->cli, EPOLLIN);
}

/* The session's deadline passed: for the request, the connection or (forwarding) the idle time. */
void vmsec__relay_session_timeout(vmsec_relay *r, struct session *s)
{
    if (s->state == S_REQUEST) {
        s->target[0] = '\0';
        session_refuse(r, s, VMSEC_RELAY_BAD_REQUEST, "refused", "request-timeout");
    } else if (s->state == S_CONNECTING) {
        session_refuse(r, s, VMSEC_RELAY_UNAVAILABLE, "unavailable", "connect-timeout");
    } else {
        vmsec__relay_session_kill(r, s, "idle-timeout");
    }
}
