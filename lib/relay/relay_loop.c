/* SPDX-License-Identifier: ISC */
/* The relay's event loop: one thread, non-blocking sockets, epoll. It accepts callers (handing
 * each to relay_session.c), copies bytes between the two sides of a forwarding session with
 * back-pressure, fires deadlines, and stops on vmsec_relay_interrupt() (async-signal-safe). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "relay/relay_audit.h"
#include "relay/relay_core.h"
#include "relay/relay_link.h"
#include "vmsec/relay.h"

#define MAX_EVENTS 64
#define ACCEPT_BURST 32 /* accepts per listener wakeup, so one listener cannot starve sessions */

int64_t vmsec__relay_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vmsec__relay_ep_set(vmsec_relay *r, struct endpoint *ep, uint32_t want)
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

void vmsec__relay_ep_close(vmsec_relay *r, struct endpoint *ep)
{
    if (ep->fd < 0)
        return;
    vmsec__relay_ep_set(r, ep, 0);
    close(ep->fd);
    ep->fd = -1;
}

void vmsec__relay_schedule(vmsec_relay *r, int64_t deadline)
{
    if (deadline && (r->next_scan == 0 || deadline < r->next_scan))
        r->next_scan = deadline;
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

void vmsec__relay_pump(vmsec_relay *r, struct session *s)
{
    size_t cap = s->cap;
    uint64_t before = s->bytes_c2t + s->bytes_t2c;
    if (!pump_dir(r, &s->c2t, s->cli.fd, s->tgt.fd, cap, &s->bytes_c2t) ||
        !pump_dir(r, &s->t2c, s->tgt.fd, s->cli.fd, cap, &s->bytes_t2c)) {
        vmsec__relay_session_kill(r, s, "error");
        return;
    }
    if (s->c2t.shut && s->t2c.shut) {
        vmsec__relay_session_kill(r, s, "eof");
        return;
    }
    if (s->deadline && s->bytes_c2t + s->bytes_t2c != before) {
        s->deadline = vmsec__relay_now_ms() + LIM(r, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS);
        vmsec__relay_schedule(r, s->deadline);
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
    vmsec__relay_ep_set(r, &s->cli, ce);
    vmsec__relay_ep_set(r, &s->tgt, te);
}

static void on_accept(vmsec_relay *r, struct listener *l)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(l->ep.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* The pending connection stays queued and the listener stays readable: pause it
             * briefly rather than spin on a level-triggered event we cannot act on. */
            vmsec__relay_ep_set(r, &l->ep, 0);
            l->resume_at = vmsec__relay_now_ms() + 100;
            vmsec__relay_schedule(r, l->resume_at);
            return;
        }
        if (fd < 0)
            return; /* EAGAIN, or an aborted connection */
        vmsec__relay_session_open(r, l, fd);
    }
}

static void expire(vmsec_relay *r)
{
    int64_t now = vmsec__relay_now_ms();
    if (!r->next_scan || now < r->next_scan)
        return;
    r->next_scan = 0;
    vmsec__relay_audit_flush(r, false); /* refusal counts of intervals that ended */
    vmsec__relay_link_expire(r, now);   /* federation hook */
    for (struct listener *l = r->listeners; l; l = l->next) {
        if (l->resume_at && l->resume_at <= now) {
            l->resume_at = 0;
            vmsec__relay_ep_set(r, &l->ep, EPOLLIN);
        } else if (l->resume_at) {
            vmsec__relay_schedule(r, l->resume_at);
        }
    }
    for (struct session *s = r->sessions, *next; s; s = next) {
        next = s->next;
        if (!s->deadline)
            continue;
        if (s->deadline > now) {
            vmsec__relay_schedule(r, s->deadline);
            continue;
        }
        vmsec__relay_session_timeout(r, s);
    }
}

int vmsec_relay_dispatch(vmsec_relay *r, int timeout_ms)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    if (r->next_scan) {
        int64_t left = r->next_scan - vmsec__relay_now_ms();
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
            vmsec__relay_session_event(r, ep);
        }
    }
    expire(r);
    vmsec__relay_reap(r);
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
