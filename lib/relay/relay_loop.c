/* SPDX-License-Identifier: ISC */
/* The relay's event loop: one thread, non-blocking sockets, epoll. It accepts callers (handing
 * each to relay_session.c), moves bytes between the two sides of a forwarding session (splice(2)
 * through a pipe per direction, so ciphertext never enters user space) with back-pressure, fires
 * deadlines, and stops on vmsec_relay_interrupt() (async-signal-safe). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
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

/* --- forwarding ------------------------------------------------------------------------------- */

#define SPLICE_BURST 16 /* splices into a pipe per event, so one busy session cannot starve others */
#define PIPE_DEFAULT_SIZE 65536

static bool dir_init(struct pipebuf *b, size_t cap, int fd_max)
{
    /* A pipe costs two descriptors: without them, the session still forwards, through data. */
    b->piped = pipe2(b->pipe, O_NONBLOCK | O_CLOEXEC) == 0;
    if (b->piped && b->pipe[1] >= fd_max) {
        close(b->pipe[0]);
        close(b->pipe[1]);
        b->piped = false;
    }
    if (b->piped && cap != PIPE_DEFAULT_SIZE)
        (void)fcntl(b->pipe[1], F_SETPIPE_SZ, (int)cap); /* a hint: inpipe is what bounds memory */
    b->data = malloc(b->piped ? RELAY_ORIGIN_MAX : cap);
    return b->data != NULL;
}

static void socket_prepare(int fd)
{
    /* splice(2) follows the descriptor's O_NONBLOCK, not SPLICE_F_NONBLOCK, on the socket side. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    /* Ciphertext records are the peers' framing; the relay must not hold them back (fails, and
     * does not matter, on unix and vsock sockets). */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool vmsec__relay_forward_init(vmsec_relay *r, struct session *s)
{
    (void)r;
    socket_prepare(s->cli.fd);
    socket_prepare(s->tgt.fd);
    /* Pipes take twice the descriptors of the sockets they serve: they stay in the lower
     * half of the descriptor table, so that under a low RLIMIT_NOFILE they do not crowd out the
     * sockets of later sessions (beyond that, sessions forward through data). */
    struct rlimit rl;
    int fd_max = INT_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < INT_MAX)
        fd_max = (int)(rl.rlim_cur / 2);
    return dir_init(&s->c2t, s->cap, fd_max) && dir_init(&s->t2c, s->cap, fd_max);
}

static void dir_free(struct pipebuf *b)
{
    if (b->piped) {
        close(b->pipe[0]);
        close(b->pipe[1]);
        b->piped = false;
    }
    free(b->data);
    b->data = NULL;
}

void vmsec__relay_forward_free(struct session *s)
{
    dir_free(&s->c2t);
    dir_free(&s->t2c);
}

/* splice(2)'s answers for a descriptor it does not support (EINVAL; older kernels, other types). */
static bool cannot_splice(int err)
{
    return err == EINVAL || err == EOPNOTSUPP || err == ENOSYS;
}

/* Leaves the splice path (a socket that cannot splice): what the pipe holds (at most cap bytes)
 * moves to data, which is empty whenever the pipe is used. */
static bool dir_unpipe(struct pipebuf *b, size_t cap)
{
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return false;
    b->data = d;
    b->start = b->end = 0;
    while (b->inpipe > 0) {
        ssize_t n = read(b->pipe[0], d + b->end, b->inpipe);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        b->end += (size_t)n;
        b->inpipe -= (size_t)n;
    }
    close(b->pipe[0]);
    close(b->pipe[1]);
    b->piped = false;
    return true;
}

static void sigpipe_hold(vmsec_relay *r)
{
    if (r->sigpipe_held)
        return;
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    r->sigpipe_raised = false;
    r->sigpipe_was_pending = false;
    r->sigpipe_held = pthread_sigmask(SIG_BLOCK, &set, &r->sigpipe_old) == 0;
    /* Only a SIGPIPE the thread already blocked can be pending: not ours to take back. */
    if (r->sigpipe_held && sigismember(&r->sigpipe_old, SIGPIPE) == 1 && sigpending(&pending) == 0)
        r->sigpipe_was_pending = sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_release(vmsec_relay *r)
{
    if (!r->sigpipe_held)
        return;
    if (r->sigpipe_raised && !r->sigpipe_was_pending) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &r->sigpipe_old, NULL);
    r->sigpipe_held = false;
}

/* Sends what data holds (the relay's header, or everything on the copying path). */
static bool flush_data(vmsec_relay *r, struct pipebuf *b, int dst, uint64_t *counter)
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

/* Sends what the pipe holds, after data. */
static bool flush_pipe(vmsec_relay *r, struct pipebuf *b, int dst, size_t cap, uint64_t *counter)
{
    while (b->piped && b->inpipe > 0 && b->end == b->start) {
        sigpipe_hold(r);
        ssize_t n = splice(b->pipe[0], NULL, dst, NULL, b->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            bool full = (size_t)n < b->inpipe;
            b->inpipe -= (size_t)n;
            *counter += (uint64_t)n;
            STAT_ADD(r->stat_bytes, (uint64_t)n);
            /* Short: the destination's buffer filled up, and a second splice would only learn
             * EAGAIN. The loop polls level-triggered, so a destination that is writable after
             * all is reported at once. */
            if (full)
                break;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else if (n < 0 && cannot_splice(errno)) {
            return dir_unpipe(b, cap) && flush_data(r, b, dst, counter);
        } else {
            r->sigpipe_raised |= n < 0 && errno == EPIPE;
            return false;
        }
    }
    return true;
}

static bool flush_dir(vmsec_relay *r, struct pipebuf *b, int dst, size_t cap, uint64_t *counter)
{
    return flush_data(r, b, dst, counter) && flush_pipe(r, b, dst, cap, counter);
}

/* The copying path: write what is buffered, read once into the free space, write again. */
static bool copy_dir(vmsec_relay *r, struct pipebuf *b, int src, int dst, size_t cap, uint64_t *counter)
{
    if (!flush_data(r, b, dst, counter))
        return false;
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
        return flush_data(r, b, dst, counter);
    }
    return true;
}

/* The splice path: socket -> pipe -> socket until the source is empty or the destination full.
 * The source is read only into an empty pipe: while the destination is full, what its sender
 * writes waits in the source socket, and the relay sleeps until the destination drains instead
 * of waking for each write to top the pipe up (a wakeup per write, and a futile splice out each
 * time). Returns false if the session must die. */
static bool splice_dir(vmsec_relay *r, struct pipebuf *b, int src, int dst, size_t cap, uint64_t *counter)
{
    bool more = true;
    for (int i = 0;; i++) {
        if (!flush_dir(r, b, dst, cap, counter))
            return false;
        if (!b->piped)
            return b->eof || copy_dir(r, b, src, dst, cap, counter);
        /* Flushed just above: a pipe that still holds bytes has a full destination. */
        if (!more || b->eof || b->end > b->start || b->inpipe > 0 || i == SPLICE_BURST)
            return true;
        size_t want = cap;
        ssize_t n = splice(src, NULL, b->pipe[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            b->inpipe += (size_t)n;
            /* Short: the source was emptied (or the pipe ran out of slots). Polling the source
             * again costs less than one more splice to learn which; a readable source is
             * reported again, since the loop polls level-triggered. */
            more = (size_t)n == want;
        } else if (n == 0) {
            b->eof = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return true; /* an empty source (an empty pipe has free slots) */
        } else if (cannot_splice(errno)) {
            if (!dir_unpipe(b, cap))
                return false;
        } else if (errno != EINTR) {
            return false;
        }
    }
}

static bool pump_dir(vmsec_relay *r, struct pipebuf *b, int src, int dst, size_t cap, uint64_t *counter)
{
    bool ok = b->eof ? flush_dir(r, b, dst, cap, counter)
              : b->piped ? splice_dir(r, b, src, dst, cap, counter)
                         : copy_dir(r, b, src, dst, cap, counter);
    if (!ok)
        return false;
    if (b->eof && b->start == b->end && b->inpipe == 0 && !b->shut) {
        shutdown(dst, SHUT_WR); /* propagate the half-close */
        b->shut = true;
    }
    return true;
}

static bool has_output(const struct pipebuf *b)
{
    return b->end > b->start || b->inpipe > 0;
}

/* Back-pressure: read a side only while the direction it feeds has room. */
static bool has_room(const struct pipebuf *b, size_t cap)
{
    if (b->eof)
        return false;
    if (b->piped)
        return b->end == b->start && b->inpipe == 0; /* see splice_dir() */
    return b->end < cap || b->start > 0; /* compacted on demand */
}

void vmsec__relay_pump(vmsec_relay *r, struct session *s, const struct endpoint *ep, uint32_t events)
{
    size_t cap = s->cap;
    uint64_t before = s->bytes_c2t + s->bytes_t2c;
    /* A readable side feeds one direction, a writable side drains the other: a direction nothing
     * happened to keeps its state and its interest, so pumping it would cost a syscall for
     * nothing (a small message each way would pay a futile read per hop). */
    bool c2t = true, t2c = true;
    if (ep && !(events & (EPOLLHUP | EPOLLERR))) {
        bool in = events & EPOLLIN, out = events & EPOLLOUT;
        c2t = ep->kind == EP_CLIENT ? in : out;
        t2c = ep->kind == EP_CLIENT ? out : in;
    }
    if ((c2t && !pump_dir(r, &s->c2t, s->cli.fd, s->tgt.fd, cap, &s->bytes_c2t)) ||
        (t2c && !pump_dir(r, &s->t2c, s->tgt.fd, s->cli.fd, cap, &s->bytes_t2c))) {
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
    uint32_t ce = 0, te = 0;
    if (has_room(&s->c2t, cap))
        ce |= EPOLLIN;
    if (has_output(&s->t2c))
        ce |= EPOLLOUT;
    if (has_room(&s->t2c, cap))
        te |= EPOLLIN;
    if (has_output(&s->c2t))
        te |= EPOLLOUT;
    vmsec__relay_ep_set(r, &s->cli, ce);
    vmsec__relay_ep_set(r, &s->tgt, te);
}

/* --- the loop ---------------------------------------------------------------------------------- */

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

int vmsec_relay_next_timeout_ms(const vmsec_relay *r)
{
    if (!r || !r->next_scan) /* as vmsec_channel_next_timeout_ms(): -1 is "none", never an error */
        return -1;
    int64_t left = r->next_scan - vmsec__relay_now_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int vmsec_relay_dispatch(vmsec_relay *r, int timeout_ms)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    int next = vmsec_relay_next_timeout_ms(r);
    if (next >= 0 && (timeout_ms < 0 || next < timeout_ms))
        timeout_ms = next;
    bool held = r->sigpipe_held; /* by vmsec_relay_run() for all its batches */
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
            vmsec__relay_session_event(r, ep, ev[i].events);
        }
    }
    if (!held)
        sigpipe_release(r);
    expire(r);
    vmsec__relay_reap(r);
    return 0;
}

int vmsec_relay_run(vmsec_relay *r)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    /* This thread runs only the relay until it returns: SIGPIPE stays blocked for the whole
     * run, which saves changing the mask for each event batch. */
    sigpipe_hold(r);
    int rc = 0;
    while (!r->interrupted && rc >= 0)
        rc = vmsec_relay_dispatch(r, -1);
    sigpipe_release(r);
    if (rc < 0)
        return rc;
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
