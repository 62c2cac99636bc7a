/* SPDX-License-Identifier: ISC */
/* A session listener's pending handshakes in non-blocking mode: every connection it accepts runs its
 * handshake and sends its HELLO one step at a time, in the calls that accept, each within its own
 * deadline, so that a peer that connects and stays silent holds nobody up. The set is bounded:
 * when it is full, the oldest is closed for the newest. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "channel/session_internal.h"
#include "common/internal.h"

static int epoll_add(int ep, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int vmsec__pending_init(vmsec_session_listener *sl)
{
    sl->conns = epoll_create1(EPOLL_CLOEXEC);
    sl->epfd = epoll_create1(EPOLL_CLOEXEC);
    sl->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (sl->conns < 0 || sl->epfd < 0 || sl->wake < 0 ||
        epoll_add(sl->conns, vmsec_listener_fd(sl->listener), EPOLLIN) < 0 ||
        epoll_add(sl->epfd, sl->conns, EPOLLIN) < 0 || epoll_add(sl->epfd, sl->wake, EPOLLIN) < 0) {
        int rc = vmsec__error_errno(VMSEC_EIO, errno, "session listener: its epoll set");
        vmsec__pending_fini(sl);
        return rc;
    }
    return 0;
}

void vmsec__pending_fini(vmsec_session_listener *sl)
{
    vmsec__pending_drop(sl);
    if (sl->conns >= 0)
        close(sl->conns);
    if (sl->epfd >= 0)
        close(sl->epfd);
    if (sl->wake >= 0)
        close(sl->wake);
    sl->conns = sl->epfd = sl->wake = -1;
}

bool vmsec__pending_mode(const vmsec_session_listener *sl)
{
    return atomic_load(&sl->nonblock);
}

void vmsec__pending_wake(vmsec_session_listener *sl, bool raise)
{
    uint64_t v = 1;
    ssize_t n;
    if (raise)
        n = write(sl->wake, &v, sizeof(v));
    else
        n = read(sl->wake, &v, sizeof(v)); /* EAGAIN when it was not raised */
    (void)n;
}

/* Closes pending connection i (its descriptor leaves the set with it). */
static void pending_remove(vmsec_session_listener *sl, size_t i, bool free_ch)
{
    struct vmsec__pending_conn *p = &sl->pend[i];
    epoll_ctl(sl->conns, EPOLL_CTL_DEL, p->fd, NULL);
    if (free_ch)
        vmsec_channel_free(p->ch);
    memmove(p, p + 1, (--sl->npend - i) * sizeof(*p));
}

void vmsec__pending_drop(vmsec_session_listener *sl)
{
    while (sl->npend)
        pending_remove(sl, sl->npend - 1, true);
}

int64_t vmsec__pending_due(const vmsec_session_listener *sl)
{
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < sl->npend; i++)
        if (sl->pend[i].deadline < due)
            due = sl->pend[i].deadline;
    return due;
}

/* One connection from the kernel's queue into the set (vmsec__session_listener_take). VMSEC_EAGAIN
 * once the queue is empty. */
static int pending_add(vmsec_session_listener *sl)
{
    struct vmsec__pending_conn p = {.events = EPOLLIN};
    int fd, rc;
    if ((rc = vmsec__session_listener_take(sl, &p.ch, &fd, &p.deadline)) < 0)
        return rc;
    p.fd = fd;
    if (sl->npend == VMSEC_SESSION_PENDING_MAX)
        pending_remove(sl, 0, true); /* the oldest makes way: silent peers cannot lock others out */
    if (epoll_add(sl->conns, fd, p.events) < 0) {
        rc = vmsec__error_errno(VMSEC_EIO, errno, "session listener: adding a connection to its epoll set");
        vmsec_channel_free(p.ch);
        return rc;
    }
    sl->pend[sl->npend++] = p;
    return 0;
}

/* The handshake, then the HELLO, as far as the socket allows: VMSEC_EAGAIN while it waits, else
 * the outcome of vmsec__session_listener_hello() or the failure (the channel is consumed then). */
static int pending_step(vmsec_session_listener *sl, struct vmsec__pending_conn *p, vmsec_session **out)
{
    struct vmsec__sframe f;
    uint8_t buf[SF_MAX_CONTROL];
    size_t n = 0;
    int rc;
    if (!p->hello) {
        if ((rc = vmsec_channel_handshake(p->ch)) < 0)
            goto fail;
        p->hello = true;
    }
    if ((rc = vmsec_channel_recv(p->ch, NULL, 0, &n)) == 0)
        rc = vmsec__error(VMSEC_EPROTO, "session: an empty session frame");
    else if (rc == VMSEC_ETOOBIG && n > sizeof(buf))
        rc = vmsec__error(VMSEC_EPROTO, "session: a %zu-byte frame where an opening frame was due", n);
    else if (rc == VMSEC_ETOOBIG && (rc = vmsec_channel_recv(p->ch, buf, sizeof(buf), &n)) == 0 &&
             (rc = vmsec__sframe_parse(buf, n, &f)) == 0) {
        if (f.type == SF_HELLO_NEW || f.type == SF_HELLO_RESUME)
            return vmsec__session_listener_hello(sl, p->ch, &f, VMSEC__NO_WAIT, out);
        rc = vmsec__error(VMSEC_EPROTO, "session: frame type 0x%02x where HELLO was due", f.type);
    }
fail:
    if (rc != VMSEC_EAGAIN)
        vmsec_channel_free(p->ch);
    return rc;
}

/* What the connection waits for now, told to the epoll set. */
static void pending_watch(vmsec_session_listener *sl, struct vmsec__pending_conn *p)
{
    short want = vmsec_channel_poll_events(p->ch);
    struct epoll_event ev = {.events = (want & POLLOUT ? EPOLLOUT : 0) | EPOLLIN};
    if (ev.events == p->events)
        return;
    ev.data.fd = p->fd;
    if (epoll_ctl(sl->conns, EPOLL_CTL_MOD, p->fd, &ev) == 0)
        p->events = ev.events;
}

/* A failure to accept kept for the next call, when a call had another outcome to return. */
static int deferred(vmsec_session_listener *sl)
{
    int rc = sl->deferred;
    sl->deferred = 0;
    return vmsec__error(rc, "%s", sl->deferred_msg);
}

int vmsec__pending_accept(vmsec_session_listener *sl, vmsec_session **out)
{
    bool rest = sl->accept_rest;
    int64_t now;
    int rc;
    *out = NULL;
    if (sl->deferred < 0)
        return deferred(sl);
    sl->accept_rest = false;
    /* at most a set's worth per call, so that a flood of connections cannot keep the call going */
    for (int i = 0; i < VMSEC_SESSION_PENDING_MAX && !rest; i++) {
        if ((rc = pending_add(sl)) == VMSEC_EAGAIN)
            break;
        if (rc < 0) { /* one connection's (the accepted hook, the CID filter), or accept(2)'s */
            sl->deferred = rc;
            snprintf(sl->deferred_msg, sizeof(sl->deferred_msg), "%s", vmsec_error_last());
            sl->accept_rest = rc == VMSEC_EIO; /* e.g. EMFILE: the socket stays readable */
            break;
        }
    }
    now = vmsec__session_now();
    for (size_t i = 0; i < sl->npend; i++) {
        struct vmsec__pending_conn *p = &sl->pend[i];
        if (now >= p->deadline) {
            pending_remove(sl, i, true);
            return vmsec__error(VMSEC_ETIMEDOUT, "session listener: a connection opened no session within the "
                                                 "handshake timeout (%u ms); closed",
                                vmsec__session_handshake_timeout(&sl->cfg));
        }
        if ((rc = pending_step(sl, p, out)) == VMSEC_EAGAIN) {
            pending_watch(sl, p);
            continue;
        }
        pending_remove(sl, i, false); /* the step consumed the channel */
        return rc;
    }
    return sl->deferred < 0 ? deferred(sl) : VMSEC_EAGAIN;
}
