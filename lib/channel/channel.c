/* SPDX-License-Identifier: ISC */
/* A channel: the sans-I/O engine driven over a connected stream socket. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "channel/channel_internal.h"
#include "common/internal.h"

/* Small messages sent with VMSEC_SEND_MORE are written once this much is buffered, and a large
 * message is written in pieces of about this size while the rest of it is still being encrypted.
 * It is kept well under a socket's default send buffer (about 208 KiB for unix sockets), so that a
 * sender thread and a receiver thread overlap: a batch larger than the buffer makes the sender wait
 * in write() while the receiver decrypts, and the two take turns instead of running at once. */
#define BATCH_FLUSH (64 * 1024)
/* A non-blocking send is refused (VMSEC_EAGAIN) while this much is still unsent. */
#define NONBLOCK_BUFFER_LIMIT (1024 * 1024)

struct vmsec_channel {
    vmsec_engine *e;
    int fd;
    bool own_fd;
    bool nonblock;
    bool shut_wr;
    unsigned int timeout_ms;
    int64_t deadline; /* handshake deadline in ms, 0 = not started */
    atomic_bool hs_done; /* handshake complete and its last message written */
    pthread_mutex_t hs_lock;
    /* Liveness (version 2 keep-alives, dead-peer timeout, rekey time): the engine's timers on
     * CLOCK_MONOTONIC. When live, every call on the sending side holds send_lock, so that a
     * blocked receiving thread may take it to write a keep-alive (see recv_timers). */
    bool live;
    unsigned int retry_ms; /* how soon a receiving thread that found send_lock taken looks again */
    pthread_mutex_t send_lock;
    bool close_waited; /* after close_notify, the wait for the end of the stream is over */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vmsec_channel_new(vmsec_channel **out, const vmsec_channel_config *cfg, int fd, vmsec_role role,
                      unsigned int flags)
{
    vmsec_channel *ch;
    int rc, fl;
    if (!out || !cfg || fd < 0 || (flags & ~VMSEC_CHANNEL_OWN_FD))
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_new: %s",
                            !out ? "out is NULL" : !cfg ? "configuration is NULL" : fd < 0 ? "bad descriptor" : "unknown flags");
    *out = NULL;
    if ((fl = fcntl(fd, F_GETFL)) < 0)
        return vmsec__error_errno(VMSEC_EINVAL, errno, "vmsec_channel_new: descriptor %d", fd);
    if (!(ch = calloc(1, sizeof(*ch))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory allocating a channel");
    if ((rc = vmsec_engine_new(&ch->e, cfg, role)) < 0) {
        free(ch);
        return rc;
    }
    pthread_mutex_init(&ch->hs_lock, NULL);
    pthread_mutex_init(&ch->send_lock, NULL);
    ch->live = cfg->version >= 2 && (cfg->keepalive_ms || cfg->dead_after_ms || cfg->rekey_time_s);
    ch->retry_ms = cfg->keepalive_ms ? cfg->keepalive_ms : 1000;
    ch->fd = fd;
    ch->own_fd = flags & VMSEC_CHANNEL_OWN_FD;
    ch->nonblock = fl & O_NONBLOCK;
    ch->timeout_ms = cfg->handshake_timeout_ms;
    *out = ch;
    return 0;
}

void vmsec_channel_free(vmsec_channel *ch)
{
    if (!ch)
        return;
    vmsec_engine_free(ch->e);
    if (ch->own_fd)
        close(ch->fd);
    pthread_mutex_destroy(&ch->hs_lock);
    pthread_mutex_destroy(&ch->send_lock);
    free(ch);
}

int vmsec_channel_set_nonblocking(vmsec_channel *ch, int nonblocking)
{
    int fl;
    if (!ch)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_set_nonblocking: channel is NULL");
    if ((fl = fcntl(ch->fd, F_GETFL)) < 0 ||
        fcntl(ch->fd, F_SETFL, nonblocking ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
        return vmsec__error_errno(VMSEC_EIO, errno, "fcntl O_NONBLOCK on channel descriptor %d", ch->fd);
    ch->nonblock = nonblocking != 0;
    return 0;
}

/* Waits for fd readiness in blocking mode; deadline 0 = none. Returns 0, or VMSEC_ETIMEDOUT. */
static int wait_fd(vmsec_channel *ch, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = ch->fd, .events = events};
        int64_t left = deadline ? deadline - now_ms() : -1;
        int r;
        if (deadline && left <= 0)
            return VMSEC_ETIMEDOUT;
        r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return vmsec__error_errno(VMSEC_EIO, errno, "poll on channel descriptor %d", ch->fd);
    }
}

/* Writes pending output once (as much as the socket takes). 0 = all written, VMSEC_EAGAIN, or
 * failure. flags: MSG_DONTWAIT to try without blocking even on a blocking descriptor. The records
 * already sealed go first: while the socket takes none of them, small messages keep joining the
 * engine's open pack, which vmsec_engine_output() seals once they are written. */
static int write_some_flags(vmsec_channel *ch, int side, int flags)
{
    const uint8_t *buf;
    size_t len;
    ssize_t n;
    int rc;
    vmsec__engine_output_sealed(ch->e, &buf, &len);
    for (;;) {
        if (!len && ((rc = vmsec_engine_output(ch->e, &buf, &len)) < 0 || !len))
            return rc;
        n = send(ch->fd, buf, len, MSG_NOSIGNAL | flags);
        if (n < 0 && errno == ENOTSOCK)
            n = write(ch->fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return VMSEC_EAGAIN;
            /* Version 2: a peer that was open before us (XX's initiator) may have sent its data and
             * close_notify and left before our key-confirmation record goes out. It needs nothing
             * more from us: the handshake is complete, what it sent is still to be read, and a
             * later send fails as any write to a vanished peer does. */
            if (side == 2 && (errno == EPIPE || errno == ECONNRESET) && vmsec__engine_confirm_sent(ch->e)) {
                vmsec_engine_output_consume(ch->e, len);
                return 0;
            }
            if ((errno == EPIPE || errno == ECONNRESET) && vmsec__engine_confirm_due(ch->e))
                return vmsec__engine_abort(ch->e, side, VMSEC_EIO, "writing to the peer: %s: the peer refused our key "
                                           "(or closed during the handshake)", strerror(errno));
            return vmsec__engine_abort(ch->e, side, VMSEC_EIO, "writing to the peer: %s", strerror(errno));
        }
        vmsec_engine_output_consume(ch->e, (size_t)n);
        vmsec__engine_output_sealed(ch->e, &buf, &len);
    }
}

static int write_some(vmsec_channel *ch, int side)
{
    return write_some_flags(ch, side, 0);
}

/* ------------------------------------------------------------------------------------------------ */
/* Timers (live channels only) */

/* An engine deadline as a wait_fd() deadline: 0 = none; a deadline already due stays non-zero. */
static int64_t wait_deadline(uint64_t d, int armed)
{
    if (!armed)
        return 0;
    return d > (uint64_t)INT64_MAX ? INT64_MAX : d ? (int64_t)d : 1;
}

/* The sending side's timers, with send_lock held: stamps what was sent and queues what is due. */
static int send_timers(vmsec_channel *ch)
{
    return vmsec__engine_tick_send(ch->e, (uint64_t)now_ms());
}

/* The dead-peer check, failing `side`. Skipped while bytes wait in the socket: records the caller
 * has not read yet (it was busy, not the peer) may well be keep-alives; they are stamped when read. */
static int dead_check(vmsec_channel *ch, int side)
{
    struct pollfd p = {.fd = ch->fd, .events = POLLIN};
    if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
        return 0;
    return vmsec__engine_tick_recv(ch->e, (uint64_t)now_ms(), side);
}

/* Waits until the descriptor is writable, waking at the deadlines to run the sending side's timers
 * and the dead-peer check (send_lock held): a sender blocked by a peer that stopped reading learns
 * it is dead. */
static int wait_writable(vmsec_channel *ch, int64_t deadline)
{
    for (;;) {
        uint64_t d;
        int64_t until;
        int rc, armed;
        if (vmsec_engine_state(ch->e) == VMSEC_STATE_FAILED) /* by the receiving thread: say why */
            return send_timers(ch);
        /* the dead-peer check also without a receiving thread */
        if ((rc = dead_check(ch, 0)) < 0 || (rc = send_timers(ch)) < 0)
            return rc;
        armed = vmsec__engine_next_deadline(ch->e, true, &d);
        until = wait_deadline(d, armed);
        if (until && until <= now_ms()) /* a dead-peer check put off while bytes wait unread */
            until = now_ms() + ch->retry_ms;
        if (!until || (deadline && deadline < until))
            return wait_fd(ch, POLLOUT, deadline);
        if ((rc = wait_fd(ch, POLLOUT, until)) != VMSEC_ETIMEDOUT)
            return rc;
    }
}

/* Writes everything pending; in blocking mode waits until done (until deadline, if non-zero). */
static int write_all(vmsec_channel *ch, int side, int64_t deadline)
{
    /* live: never block inside send(), so that the wait below runs the timers */
    int rc, flags = ch->live && side == 0 ? MSG_DONTWAIT : 0;
    while ((rc = write_some_flags(ch, side, flags)) == VMSEC_EAGAIN) {
        if (ch->nonblock)
            return VMSEC_EAGAIN;
        if ((rc = ch->live && side == 0 ? wait_writable(ch, deadline) : wait_fd(ch, POLLOUT, deadline)) < 0)
            return rc;
    }
    return rc;
}

/* Reads once into the engine. 0 = progress, VMSEC_EAGAIN, or failure (EOF ends as truncation or close). */
static int read_some(vmsec_channel *ch, int side)
{
    uint8_t *buf;
    size_t cap;
    ssize_t n;
    int rc;
    if ((rc = vmsec_engine_input_space(ch->e, &buf, &cap)) < 0)
        return rc;
    if (cap == 0)
        return vmsec__engine_abort(ch->e, side, VMSEC_EINTERNAL, "channel input buffer full");
    do
        n = read(ch->fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return VMSEC_EAGAIN;
        /* A peer that closed with our bytes still unread resets the connection (unix and vsock
         * sockets report it instead of the end of the stream, depending on timing): the same event
         * as an end of stream, so the same verdict, truncation unless close_notify came first. */
        if (errno != ECONNRESET)
            return vmsec__engine_abort(ch->e, side, VMSEC_EIO, "reading from the peer: %s", strerror(errno));
        n = 0;
    }
    if (n == 0)
        return vmsec_engine_input_eof(ch->e);
    return vmsec_engine_input_commit(ch->e, (size_t)n);
}

static int handshake_locked(vmsec_channel *ch)
{
    int rc;
    if (!ch->deadline)
        ch->deadline = ch->timeout_ms ? now_ms() + ch->timeout_ms : INT64_MAX;
    for (;;) {
        int st = vmsec_engine_state(ch->e);
        if (st == VMSEC_STATE_FAILED)
            return vmsec_engine_recv(ch->e, NULL, 0, &(size_t){0}); /* repeats the reason as VMSEC_ESTATE */
        if (ch->deadline != INT64_MAX && now_ms() >= ch->deadline)
            return vmsec__engine_abort(ch->e, 2, VMSEC_ETIMEDOUT, "channel handshake timed out after %u ms",
                                       ch->timeout_ms);
        if (vmsec_engine_output_pending(ch->e)) {
            rc = write_some(ch, 2);
            if (rc == VMSEC_EAGAIN && !ch->nonblock)
                rc = wait_fd(ch, POLLOUT, ch->deadline == INT64_MAX ? 0 : ch->deadline);
        } else if (st != VMSEC_STATE_HANDSHAKE) {
            return 0;
        } else {
            if (!ch->nonblock && (rc = wait_fd(ch, POLLIN, ch->deadline == INT64_MAX ? 0 : ch->deadline)) < 0)
                goto out;
            rc = read_some(ch, 2);
        }
    out:
        if (rc == VMSEC_ETIMEDOUT)
            continue; /* reported by the deadline check, which fails the engine */
        if (rc == VMSEC_EAGAIN && ch->nonblock)
            return VMSEC_EAGAIN;
        if (rc < 0 && rc != VMSEC_EAGAIN)
            return rc;
    }
}

int vmsec_channel_handshake(vmsec_channel *ch)
{
    int rc;
    if (!ch)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_handshake: channel is NULL");
    /* fast path once open: the state is atomic, and the lock only serialises the handshake itself
     * when a sending and a receiving thread both start it */
    if (atomic_load(&ch->hs_done))
        return 0;
    pthread_mutex_lock(&ch->hs_lock);
    rc = atomic_load(&ch->hs_done) ? 0 : handshake_locked(ch);
    if (rc == 0)
        atomic_store(&ch->hs_done, true);
    pthread_mutex_unlock(&ch->hs_lock);
    return rc;
}

/* Blocking send of a message longer than one record: each full record is written as soon as it
 * is sealed (once BATCH_FLUSH is pending), so the peer decrypts the start of the message while the
 * rest is encrypted. The last BATCH_FLUSH bytes are sealed together and left to the caller's flush
 * rule: writing a full record alone would hold back a short final record until the next message,
 * and keep the receiver waiting for it. A failure part-way fails the sending side: the peer then
 * sees the message cut off, never a shorter message. */
static int send_pieces(vmsec_channel *ch, const uint8_t *msg, size_t len)
{
    size_t off, n;
    int rc;
    if ((rc = vmsec__engine_send_begin(ch->e, len)) < 0)
        return rc;
    for (off = 0; off < len; off += n) {
        n = len - off > VMSEC_RECORD_PAYLOAD_MAX ? VMSEC_RECORD_PAYLOAD_MAX : len - off;
        if ((rc = vmsec__engine_send_piece(ch->e, msg, off, n, len)) < 0)
            return rc;
        if (len - off - n > BATCH_FLUSH && vmsec_engine_output_pending(ch->e) >= BATCH_FLUSH &&
            (rc = write_all(ch, 0, 0)) < 0)
            return vmsec__engine_abort(ch->e, 0, rc, "message of %zu bytes cut off after %zu bytes: %s", len,
                                       off + n, vmsec_error_last());
    }
    return 0;
}

static int send_message(vmsec_channel *ch, const uint8_t *msg, size_t len, unsigned int flags)
{
    int rc;
    if (ch->nonblock && vmsec_engine_output_pending(ch->e) >= NONBLOCK_BUFFER_LIMIT) {
        if ((rc = write_some(ch, 0)) < 0 && rc != VMSEC_EAGAIN)
            return rc;
        if (vmsec_engine_output_pending(ch->e) >= NONBLOCK_BUFFER_LIMIT)
            return VMSEC_EAGAIN;
    }
    if (!ch->nonblock && len > VMSEC_RECORD_PAYLOAD_MAX)
        rc = send_pieces(ch, msg, len);
    else if (flags & VMSEC_SEND_MORE)
        rc = vmsec_engine_send_more(ch->e, msg, len);
    else
        rc = vmsec_engine_send(ch->e, msg, len);
    if (rc < 0)
        return rc;
    if ((flags & VMSEC_SEND_MORE) && vmsec_engine_output_pending(ch->e) < BATCH_FLUSH)
        return 0;
    rc = ch->nonblock ? write_some(ch, 0) : write_all(ch, 0, 0);
    return rc == VMSEC_EAGAIN ? 0 : rc; /* accepted; the caller flushes when writable */
}

int vmsec_channel_send(vmsec_channel *ch, const uint8_t *msg, size_t len, unsigned int flags)
{
    int rc;
    if (!ch || (flags & ~VMSEC_SEND_MORE))
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_send: %s", ch ? "unknown flags" : "channel is NULL");
    if (!atomic_load(&ch->hs_done) && (rc = vmsec_channel_handshake(ch)) < 0)
        return rc;
    if (!ch->live)
        return send_message(ch, msg, len, flags);
    /* timers first: nothing is sent to a dead peer, and a due keep-alive or rekey goes out with
     * the message; the message itself is stamped as sent once sealed */
    pthread_mutex_lock(&ch->send_lock);
    if ((rc = send_timers(ch)) == 0)
        rc = send_message(ch, msg, len, flags);
    vmsec__engine_stamp_sent(ch->e, (uint64_t)now_ms());
    pthread_mutex_unlock(&ch->send_lock);
    return rc;
}

int vmsec_channel_flush(vmsec_channel *ch)
{
    int rc;
    if (!ch)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_flush: channel is NULL");
    if ((rc = vmsec_channel_handshake(ch)) < 0 || (rc = vmsec_engine_flush(ch->e)) < 0)
        return rc;
    if (!ch->live)
        return write_all(ch, 0, 0);
    pthread_mutex_lock(&ch->send_lock);
    rc = write_all(ch, 0, 0);
    pthread_mutex_unlock(&ch->send_lock);
    return rc;
}

/* The receiving thread's timers: it runs the dead-peer check itself, and the sending side's timers
 * too when no sending call holds send_lock (a call that does runs them itself). A keep-alive is
 * written without blocking, so a peer that stopped reading never blocks the receiving thread; what
 * the socket does not take stays queued and *events asks for POLLOUT. *until: when to come back. */
static int recv_timers(vmsec_channel *ch, int64_t *until, short *events)
{
    int64_t now = now_ms();
    uint64_t d;
    int rc, armed;
    if (vmsec_engine_state(ch->e) == VMSEC_STATE_FAILED) /* by the sending thread: say why */
        return vmsec_engine_recv(ch->e, NULL, 0, &(size_t){0});
    if ((rc = dead_check(ch, 1)) < 0)
        return rc;
    if (pthread_mutex_trylock(&ch->send_lock) == 0) {
        rc = send_timers(ch);
        if (rc == 0 && vmsec_engine_output_pending(ch->e) &&
            (rc = write_some_flags(ch, 0, MSG_DONTWAIT)) == VMSEC_EAGAIN) {
            rc = 0;
            *events |= POLLOUT;
        }
        armed = vmsec__engine_next_deadline(ch->e, true, &d);
        pthread_mutex_unlock(&ch->send_lock);
        if (rc < 0)
            return rc;
        *until = wait_deadline(d, armed);
        return 0;
    }
    armed = vmsec__engine_next_deadline(ch->e, false, &d);
    *until = wait_deadline(d, armed);
    if (!*until || *until > now + ch->retry_ms)
        *until = now + ch->retry_ms;
    return 0;
}

/* Blocking, live: waits until the descriptor is readable, running the timers at their deadlines. */
static int wait_readable(vmsec_channel *ch)
{
    for (;;) {
        struct pollfd p = {.fd = ch->fd, .events = POLLIN};
        int64_t until = 0, left;
        int rc, r;
        if ((rc = recv_timers(ch, &until, &p.events)) < 0)
            return rc;
        left = until ? until - now_ms() : -1;
        r = poll(&p, 1, left < 0 ? (until ? 0 : -1) : left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0 && errno != EINTR)
            return vmsec__error_errno(VMSEC_EIO, errno, "poll on channel descriptor %d", ch->fd);
        if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            return 0;
    }
}

/* Reads once into a live channel's engine (the records read are stamped by the next check). */
static int read_live(vmsec_channel *ch)
{
    int rc;
    if (!ch->nonblock && (rc = wait_readable(ch)) < 0)
        return rc;
    return read_some(ch, 1);
}

/* After the peer's close_notify the stream must end: a byte after it is a protocol error even when
 * it comes in a later write, so a blocking channel reads on until the end of the stream. A peer
 * using this library ends its stream right after close_notify (vmsec_channel_close() shuts the
 * write side down), so the wait is normally short; a peer that keeps the connection open without
 * sending is waited for at most the handshake timeout (its default when that is 0), and the close
 * is then reported clean. A non-blocking channel checks what has arrived, at every call until the
 * end comes. Returns VMSEC_ECLOSED, or the failure found. */
static int wait_for_end(vmsec_channel *ch)
{
    unsigned int grace = ch->timeout_ms ? ch->timeout_ms : VMSEC_CHANNEL_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    int64_t deadline = now_ms() + grace;
    int rc = 0;
    while (!vmsec__engine_input_ended(ch->e)) {
        if (!ch->nonblock && (rc = wait_fd(ch, POLLIN, deadline)) < 0)
            break;
        if ((rc = read_some(ch, 1)) < 0)
            break;
    }
    if (!ch->nonblock || vmsec__engine_input_ended(ch->e))
        ch->close_waited = true;
    if (rc < 0 && rc != VMSEC_ETIMEDOUT && rc != VMSEC_EAGAIN)
        return rc;
    return vmsec_engine_recv(ch->e, NULL, 0, &(size_t){0}); /* VMSEC_ECLOSED, naming the role */
}

/* Reads until the engine has a message and receives it into buf, or with peek only reports it (0,
 * *len its size); otherwise returns what a recv finds instead: VMSEC_EAGAIN (non-blocking),
 * VMSEC_ECLOSED or a failure. */
static int next_message(vmsec_channel *ch, uint8_t *buf, size_t cap, size_t *len, bool peek)
{
    int rc;
    *len = 0;
    if (!atomic_load(&ch->hs_done) && (rc = vmsec_channel_handshake(ch)) < 0)
        return rc;
    for (;;) {
        rc = peek ? vmsec__engine_recv_ready(ch->e, len) : vmsec_engine_recv(ch->e, buf, cap, len);
        if (rc == VMSEC_ECLOSED && !ch->close_waited)
            rc = wait_for_end(ch);
        if (rc != VMSEC_EAGAIN)
            return rc;
        if ((rc = ch->live ? read_live(ch) : read_some(ch, 1)) < 0)
            return rc;
    }
}

int vmsec_channel_recv(vmsec_channel *ch, uint8_t *buf, size_t cap, size_t *len)
{
    if (!ch || !len || (!buf && cap))
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_recv: NULL argument");
    return next_message(ch, buf, cap, len, false);
}

int vmsec_channel_close(vmsec_channel *ch)
{
    int rc;
    if (!ch)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_close: channel is NULL");
    if ((rc = vmsec_channel_handshake(ch)) < 0)
        return rc;
    if (ch->live)
        pthread_mutex_lock(&ch->send_lock);
    if ((rc = vmsec_engine_close(ch->e)) == 0)
        rc = write_all(ch, 0, 0);
    if (ch->live)
        pthread_mutex_unlock(&ch->send_lock);
    if (rc < 0)
        return rc;
    if (!ch->shut_wr) {
        shutdown(ch->fd, SHUT_WR);
        ch->shut_wr = true;
    }
    return 0;
}

int vmsec_channel_next_timeout_ms(const vmsec_channel *ch)
{
    int64_t until = 0, now;
    uint64_t d;
    if (!ch)
        return -1;
    if (!atomic_load(&ch->hs_done))
        until = ch->deadline != INT64_MAX ? ch->deadline : 0; /* 0 also before the handshake starts */
    else if (ch->live && vmsec__engine_next_deadline(ch->e, true, &d) > 0)
        until = wait_deadline(d, 1);
    if (!until)
        return -1;
    now = now_ms();
    return until <= now ? 0 : until - now > INT_MAX ? INT_MAX : (int)(until - now);
}

int vmsec_channel_tick(vmsec_channel *ch)
{
    int rc;
    if (!ch)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_tick: channel is NULL");
    if (!atomic_load(&ch->hs_done)) {
        rc = vmsec_channel_handshake(ch);
        return rc == VMSEC_EAGAIN ? 0 : rc;
    }
    if (!ch->live)
        return 0;
    if ((rc = dead_check(ch, 1)) < 0)
        return rc;
    pthread_mutex_lock(&ch->send_lock);
    if ((rc = send_timers(ch)) == 0 && vmsec_engine_output_pending(ch->e) &&
        (rc = write_some_flags(ch, 0, MSG_DONTWAIT)) == VMSEC_EAGAIN)
        rc = 0; /* the rest goes out with vmsec_channel_flush() once writable (POLLOUT) */
    pthread_mutex_unlock(&ch->send_lock);
    return rc;
}

short vmsec_channel_poll_events(const vmsec_channel *ch)
{
    if (!ch)
        return 0;
    return (short)(POLLIN | (vmsec_engine_output_pending(ch->e) ? POLLOUT : 0));
}

int vmsec_channel_fd(const vmsec_channel *ch)
{
    return ch ? ch->fd : -1;
}

int vmsec_channel_state(const vmsec_channel *ch)
{
    return ch ? vmsec_engine_state(ch->e) : VMSEC_STATE_FAILED;
}

int vmsec_channel_peer_key(const vmsec_channel *ch, uint8_t *key, size_t key_len)
{
    if (!ch)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_peer_key: channel is NULL");
    return vmsec_engine_peer_key(ch->e, key, key_len);
}

int vmsec_channel_handshake_hash(const vmsec_channel *ch, uint8_t *out, size_t cap, size_t *len)
{
    if (!ch)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_handshake_hash: channel is NULL");
    return vmsec_engine_handshake_hash(ch->e, out, cap, len);
}

int vmsec__channel_export(const vmsec_channel *ch, uint8_t *out, size_t len)
{
    if (!ch)
        return vmsec__error(VMSEC_EINVAL, "vmsec__channel_export: channel is NULL");
    return vmsec__engine_export(ch->e, out, len);
}

void vmsec__channel_trim(vmsec_channel *ch)
{
    if (ch)
        vmsec__engine_trim(ch->e);
}

int vmsec__channel_next(vmsec_channel *ch, const uint8_t **msg, size_t *len)
{
    int rc;
    *msg = NULL;
    if ((rc = next_message(ch, NULL, 0, len, true)) < 0)
        return rc;
    *msg = vmsec__engine_msg_view(ch->e, len);
    return 0;
}

void vmsec__channel_msg_take(vmsec_channel *ch)
{
    vmsec__engine_msg_take(ch->e);
}

int vmsec_channel_peer_cid(const vmsec_channel *ch, uint32_t *cid)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (!ch || !cid)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_peer_cid: NULL argument");
    if (getpeername(ch->fd, (struct sockaddr *)&ss, &len) < 0)
        return vmsec__error_errno(VMSEC_EIO, errno, "getpeername on channel descriptor %d", ch->fd);
    if (ss.ss_family != AF_VSOCK)
        return vmsec__error(VMSEC_ENOTFOUND, "channel descriptor %d is not an AF_VSOCK socket", ch->fd);
    *cid = ((struct sockaddr_vm *)&ss)->svm_cid;
    return 0;
}

static int finish_open(vmsec_channel **out, const vmsec_channel_config *cfg, int fd, vmsec_role role)
{
    vmsec_channel *ch;
    int rc = vmsec_channel_new(&ch, cfg, fd, role, VMSEC_CHANNEL_OWN_FD);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if ((rc = vmsec_channel_handshake(ch)) < 0) {
        vmsec_channel_free(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

int vmsec_channel_connect(vmsec_channel **out, const vmsec_channel_config *cfg, const char *address)
{
    int fd, rc;
    if (!out || !cfg)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_connect: NULL argument");
    *out = NULL;
    if ((rc = vmsec_transport_connect(address, cfg->handshake_timeout_ms, &fd)) < 0)
        return rc;
    return finish_open(out, cfg, fd, VMSEC_ROLE_INITIATOR);
}

int vmsec_channel_accept(vmsec_channel **out, const vmsec_channel_config *cfg, vmsec_listener *listener)
{
    int fd, rc;
    if (!out || !cfg || !listener)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_accept: NULL argument");
    *out = NULL;
    if ((rc = vmsec_listener_accept(listener, &fd, NULL, 0, NULL)) < 0)
        return rc;
    return finish_open(out, cfg, fd, VMSEC_ROLE_RESPONDER);
}
