/* SPDX-License-Identifier: ISC */
/* A session (vmsec/session.h): numbered, acknowledged messages over channels that may be replaced.
 * This file holds the session's life cycle, the buffers of sent and received messages, and the
 * frames exchanged on an open link; session_link.c opens and resumes links, session_listener.c
 * holds the accepting side's table. */
#include "config.h"

#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel/guarded.h"
#include "channel/session_internal.h"
#include "common/internal.h"

/* Acknowledge at once after this many delivered messages, without waiting for ack_delay_ms. */
#define ACK_EVERY 32
#define VMSEC_MIN(a, b) ((a) < (b) ? (a) : (b))

size_t vmsec_session_id_bytes(void) { return VMSEC_SESSION_ID_BYTES; }

int64_t vmsec__session_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vmsec_session_options_init(vmsec_session_options *opts, unsigned int version)
{
    static const vmsec_session_options defaults = VMSEC_SESSION_OPTIONS_INIT;
    if (!opts || version != VMSEC_SESSION_OPTIONS_VERSION)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_options_init: %s", !opts ? "NULL options" : "unknown version");
    *opts = defaults;
    return 0;
}

static int check_options(const vmsec_session_options *o)
{
    if (o->version != VMSEC_SESSION_OPTIONS_VERSION)
        return vmsec__error(VMSEC_EINVAL, "session options: version %u, expected %u", o->version,
                            VMSEC_SESSION_OPTIONS_VERSION);
    if (!o->max_unacked_bytes || !o->max_unacked_messages || !o->backoff_initial_ms ||
        o->backoff_max_ms < o->backoff_initial_ms)
        return vmsec__error(VMSEC_EINVAL, "session options: the buffer limits and backoff must be non-zero, "
                                          "and backoff_max_ms at least backoff_initial_ms");
    return 0;
}

int vmsec__session_new(vmsec_session **out, const struct vmsec_channel_config *cfg,
                       const vmsec_session_options *opts, vmsec_role role)
{
    vmsec_session *s;
    int rc;
    *out = NULL;
    if (opts && (rc = check_options(opts)) < 0)
        return rc;
    if (!(s = calloc(1, sizeof(*s))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory allocating a session");
    if (!(s->secret = vmsec__guarded_alloc(SF_SECRET_LEN))) {
        free(s);
        return vmsec__error(VMSEC_ENOMEM, "out of memory for a session secret");
    }
    if ((rc = vmsec__channel_config_copy(&s->cfg, cfg)) < 0) {
        vmsec__guarded_free(s->secret);
        free(s);
        return rc;
    }
    s->cfg.export_secret = true;
    if (opts)
        s->opts = *opts;
    else
        vmsec_session_options_init(&s->opts, VMSEC_SESSION_OPTIONS_VERSION);
    s->role = role;
    s->next_seq = 1;
    s->backoff_ms = s->opts.backoff_initial_ms;
    s->link = LINK_DOWN;
    *out = s;
    return 0;
}

int vmsec__session_keys(vmsec_session *s, vmsec_channel *ch)
{
    uint8_t exporter[NOISE_EXPORT_LEN];
    int rc;
    if ((rc = vmsec_channel_peer_key(ch, s->peer_key, sizeof(s->peer_key))) < 0)
        return vmsec__error(VMSEC_EUNSUPPORTED, "a session needs the peer's static key: %s", vmsec_error_last());
    if ((rc = vmsec__channel_export(ch, exporter, sizeof(exporter))) < 0)
        return rc;
    vmsec__session_derive(s->secret, exporter, s->id);
    sodium_memzero(exporter, sizeof(exporter));
    return 0;
}

int vmsec__session_start(vmsec_session *s, vmsec_channel *ch)
{
    int rc;
    if ((rc = vmsec__session_keys(s, ch)) < 0)
        return rc;
    s->ch = ch;
    s->link = LINK_UP;
    s->links = 1;
    return 0;
}

/* Message buffers of POOL_MIN bytes or more are recycled rather than freed, up to POOL_BYTES per
 * session: a stream of large messages would otherwise malloc and free one per message in each
 * queue, and glibc, trimming the heap's top each time, makes the kernel zero fresh pages for every
 * message (bench_session measured the receiving thread's CPU time doubled by it). */
#define POOL_MIN 4096
#define POOL_BYTES ((size_t)1 << 20)
#define RECV_AHEAD (POOL_BYTES / 2)

struct vmsec__spare {
    struct vmsec__spare *next;
    size_t cap;
};

/* A buffer of at least need bytes (a recycled one at most twice that); *cap: its size. */
static void *buf_get(vmsec_session *s, size_t need, size_t *cap)
{
    if (need >= POOL_MIN) {
        for (struct vmsec__spare **p = &s->pool; *p; p = &(*p)->next)
            if ((*p)->cap >= need && (*p)->cap / 2 <= need) {
                struct vmsec__spare *b = *p;
                *p = b->next;
                s->pool_bytes -= b->cap;
                *cap = b->cap;
                return b;
            }
        need = (need + POOL_MIN - 1) / POOL_MIN * POOL_MIN;
    }
    *cap = need;
    return malloc(need);
}

static void buf_put(vmsec_session *s, void *p, size_t cap)
{
    struct vmsec__spare *b = p;
    if (cap < POOL_MIN || s->pool_bytes + cap > POOL_BYTES) {
        free(p);
        return;
    }
    b->cap = cap;
    b->next = s->pool;
    s->pool = b;
    s->pool_bytes += cap;
}

static void free_pool(vmsec_session *s)
{
    while (s->pool) {
        struct vmsec__spare *b = s->pool;
        s->pool = b->next;
        free(b);
    }
    s->pool_bytes = 0;
}

static void free_queues(vmsec_session *s)
{
    while (s->sq_head) {
        struct sq_entry *e = s->sq_head;
        s->sq_head = e->next;
        if (e->cap)
            free(e);
    }
    vmsec__sring_release(&s->ring);
    while (s->rq_head) {
        struct rq_entry *e = s->rq_head;
        s->rq_head = e->next;
        free(e);
    }
    s->sq_tail = s->sq_unsent = NULL;
    s->rq_tail = NULL;
    free_pool(s);
}

void vmsec_session_free(vmsec_session *s)
{
    if (!s)
        return;
    vmsec__session_listener_remove(s);
    vmsec__session_attempt_clear(s);
    vmsec_channel_free(s->ch);
    vmsec_channel_free(s->pending);
    free_queues(s);
    vmsec__guarded_free(s->secret);
    vmsec__channel_config_clear(&s->cfg);
    free(s);
}

int vmsec_session_set_nonblocking(vmsec_session *s, int nonblocking)
{
    if (!s)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_set_nonblocking: session is NULL");
    s->nonblock = nonblocking != 0;
    return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Failure and link loss */

/* Ends the session for good: every later call repeats code and the reason. */
int vmsec__session_fail(vmsec_session *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail_msg, sizeof(s->fail_msg), fmt, ap);
    va_end(ap);
    s->fail_code = code;
    vmsec__session_listener_remove(s); /* a resume now hears "unknown session": its state is gone */
    vmsec__session_attempt_clear(s);
    vmsec_channel_free(s->ch);
    s->ch = NULL;
    s->link = LINK_DOWN;
    return vmsec__error(code, "session: %s", s->fail_msg);
}

static int guard(vmsec_session *s)
{
    if (s->fail_code)
        return vmsec__error(s->fail_code, "session: %s", s->fail_msg);
    return 0;
}

/* The channel failed without an orderly session close: drop it and wait for a resume (the
 * connecting side schedules its first attempt after a jittered backoff). */
void vmsec__session_link_lost(vmsec_session *s, int rc)
{
    (void)rc;
    vmsec_channel_free(s->ch);
    s->ch = NULL;
    s->link = LINK_DOWN;
    if (!s->down_since)
        s->down_since = vmsec__session_now();
    s->next_attempt = s->down_since + vmsec__session_jitter(s->backoff_ms);
}

unsigned int vmsec__session_jitter(unsigned int ms)
{
    /* "equal jitter": half fixed, half random, so attempts of many sessions spread out */
    return ms / 2 + randombytes_uniform(ms / 2 + 1);
}

/* ------------------------------------------------------------------------------------------------ */
/* Sending: the buffer of unacknowledged messages */

/* A session whose unacknowledged messages pass RING_START bytes, with a window of at least
 * RING_WINDOW, keeps them in a ring (session_ring.c) from then on, until it is freed: mapped at the
 * window's size plus the queue entries' overhead and what a wrap around its end can leave unused
 * (RING_SLACK), and touched only as far as messages reach. Below that, messages come from malloc
 * and the pool of spare buffers, and an idle or lightly used session maps nothing. An allocation
 * the ring cannot hold in one piece falls back to malloc. */
#define RING_START ((size_t)512 << 10)
#define RING_WINDOW ((size_t)2 << 20)
#define RING_SLACK(window) ((window) / 16 + ((size_t)64 << 10))

static struct sq_entry *ring_get(vmsec_session *s, size_t need)
{
    size_t w = s->opts.max_unacked_bytes;
    if (!s->ring.base) {
        if (w < RING_WINDOW || s->sq_bytes + need < RING_START || w > SIZE_MAX / 2 ||
            vmsec__sring_init(&s->ring, w + RING_SLACK(w)) < 0)
            return NULL;
    }
    return vmsec__sring_alloc(&s->ring, need);
}

static void sq_put(vmsec_session *s, struct sq_entry *e)
{
    if (e->cap)
        buf_put(s, e, e->cap);
    else
        vmsec__sring_free_oldest(&s->ring, e, sizeof(*e) + e->len);
}

static int append_frame(vmsec_session *s, uint8_t type, const uint8_t *msg, size_t len)
{
    struct vmsec__sframe f = {.type = type, .seq = s->next_seq};
    size_t cap = 0, need = sizeof(struct sq_entry) + SF_HDR + len;
    struct sq_entry *e = ring_get(s, need);
    if (!e && !(e = buf_get(s, need, &cap)))
        return vmsec__error(VMSEC_ENOMEM, "out of memory queueing a session message");
    e->cap = cap;
    e->next = NULL;
    e->seq = s->next_seq++;
    e->len = SF_HDR + len;
    vmsec__sframe_write(e->frame, &f);
    if (len)
        memcpy(e->frame + SF_HDR, msg, len);
    if (s->sq_tail)
        s->sq_tail->next = e;
    else
        s->sq_head = e;
    s->sq_tail = e;
    if (!s->sq_unsent)
        s->sq_unsent = e;
    s->sq_bytes += e->len;
    s->sq_count++;
    return 0;
}

/* The peer received every message up to ack: they are never sent again. */
int vmsec__session_acked(vmsec_session *s, uint64_t ack)
{
    if (ack >= s->next_seq)
        return vmsec__session_fail(s, VMSEC_EPROTO, "the peer acknowledged message %llu, only %llu were sent",
                                   (unsigned long long)ack, (unsigned long long)(s->next_seq - 1));
    while (s->sq_head && s->sq_head->seq <= ack) {
        struct sq_entry *e = s->sq_head;
        if (s->sq_unsent == e)
            s->sq_unsent = e->next;
        s->sq_head = e->next;
        s->sq_bytes -= e->len;
        s->sq_count--;
        sq_put(s, e);
    }
    if (!s->sq_head)
        s->sq_tail = NULL;
    if (ack > s->acked)
        s->acked = ack;
    if (s->close_seq && s->acked >= s->close_seq)
        s->close_done = true;
    return 0;
}

/* After a resume the peer has received up to recvd: resend from there. */
void vmsec__session_rewind(vmsec_session *s)
{
    struct sq_entry *e = s->sq_head;
    while (e && e->seq <= s->acked)
        e = e->next;
    s->sq_unsent = e;
}

/* Enough was delivered that the peer, whose buffer of unacknowledged messages is assumed as large
 * as ours, should hear of it now: 32 messages, or a quarter of the buffer in messages or bytes (a
 * sender with a full buffer would otherwise stall until ack_delay_ms). */
static bool ack_now(const vmsec_session *s)
{
    uint64_t n = s->delivered - s->ack_sent, quarter = s->opts.max_unacked_messages / 4;
    return n >= ACK_EVERY || (n && n >= quarter) || s->unacked_bytes >= s->opts.max_unacked_bytes / 4;
}

/* The clock is read only when the timer decides: write_link runs for every message sent. */
static bool ack_owed(const vmsec_session *s)
{
    return s->delivered > s->ack_sent && (ack_now(s) || (s->ack_due && vmsec__session_now() >= s->ack_due));
}

static void ack_done(vmsec_session *s)
{
    s->ack_sent = s->delivered;
    s->ack_due = 0;
    s->unacked_bytes = 0;
}

/* Writes what the link can take: unsent messages (each carrying the current acknowledgement), then
 * an ACK frame if one is owed. A channel failure loses the link, nothing else. */
static int write_link(vmsec_session *s)
{
    int rc = 0;
    while (s->link == LINK_UP && s->sq_unsent) {
        struct sq_entry *e = s->sq_unsent;
        vmsec__put_u64(e->frame + 9, s->delivered);
        rc = vmsec_channel_send(s->ch, e->frame, e->len, e->next ? VMSEC_SEND_MORE : 0);
        if (rc == VMSEC_EAGAIN)
            break;
        if (rc < 0)
            goto lost;
        s->sent_upto = e->seq;
        s->sq_unsent = e->next;
        ack_done(s);
    }
    if (s->link == LINK_UP && ack_owed(s)) {
        uint8_t buf[SF_MAX_CONTROL];
        struct vmsec__sframe f = {.type = SF_ACK, .ack = s->delivered};
        rc = vmsec_channel_send(s->ch, buf, vmsec__sframe_write(buf, &f), 0);
        if (rc < 0 && rc != VMSEC_EAGAIN)
            goto lost;
        if (rc == 0)
            ack_done(s);
    }
    /* a flush with nothing pending (the send above wrote it all, or nothing was sent) is a no-op */
    if (s->link == LINK_UP && (vmsec_channel_poll_events(s->ch) & POLLOUT) && (rc = vmsec_channel_flush(s->ch)) < 0 &&
        rc != VMSEC_EAGAIN)
        goto lost;
    return 0;
lost:
    vmsec__session_link_lost(s, rc);
    return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Receiving */

static int take_frame(vmsec_session *s, struct rq_entry *e)
{
    struct vmsec__sframe f;
    int rc;
    if ((rc = vmsec__sframe_parse(e->frame, e->len, &f)) < 0) {
        buf_put(s, e, e->cap);
        return vmsec__session_fail(s, rc, "%s", vmsec_error_last());
    }
    if (f.type != SF_DATA && f.type != SF_CLOSE && f.type != SF_ACK) {
        buf_put(s, e, e->cap);
        return vmsec__session_fail(s, VMSEC_EPROTO, "frame type 0x%02x on an open link", f.type);
    }
    if ((rc = vmsec__session_acked(s, f.ack)) < 0 || f.type == SF_ACK || f.seq <= s->recvd) {
        buf_put(s, e, e->cap); /* an acknowledgement, or a message received before the link was replaced */
        return rc;
    }
    if (f.seq != s->recvd + 1 || (s->rq_tail && s->rq_tail->close)) {
        buf_put(s, e, e->cap);
        return vmsec__session_fail(s, VMSEC_EPROTO, "message %llu arrived after %llu%s", (unsigned long long)f.seq,
                                   (unsigned long long)s->recvd, s->rq_tail ? " and the peer's close" : "");
    }
    s->recvd = f.seq;
    e->close = f.type == SF_CLOSE;
    e->next = NULL;
    if (s->rq_tail)
        s->rq_tail->next = e;
    else
        s->rq_head = e;
    s->rq_tail = e;
    s->rq_bytes += e->len;
    return 0;
}

/* A DATA frame next in order, read for vmsec_session_recv() while its queue is empty: the payload
 * goes from the channel's buffer into the caller's, without a queue entry (one copy less per
 * message). 1: not such a frame (the caller queues it as usual). */
static int take_direct(vmsec_session *s, const uint8_t *frame, size_t n)
{
    /* a DATA frame is its type, seq and ack, then the payload: what vmsec__sframe_parse would find
     * (seq is never 0 here, recvd + 1 is at least 1); anything else goes the queue's way */
    size_t len = n - SF_HDR;
    int rc;
    if (!s->direct_buf || s->rq_head || n < SF_HDR || frame[0] != SF_DATA || len > s->direct_cap ||
        vmsec__get_u64(frame + 1) != s->recvd + 1)
        return 1;
    if ((rc = vmsec__session_acked(s, vmsec__get_u64(frame + 9))) < 0)
        return rc;
    if (len)
        memcpy(s->direct_buf, frame + SF_HDR, len);
    *s->direct_len = len;
    s->direct_buf = NULL;
    s->direct_done = true;
    s->recvd++;
    s->delivered++;
    s->unacked_bytes += n;
    if (!s->ack_due)
        s->ack_due = vmsec__session_now() + s->opts.ack_delay_ms;
    return 0;
}

/* Reads the frames that have arrived, while the received messages waiting for the application stay
 * under max_unacked_bytes (beyond that the socket's buffer pushes back on the peer). */
static int read_link(vmsec_session *s)
{
    /* Called for vmsec_session_recv(), which comes back for more once the queue is empty, it reads
     * only a little ahead: the rest waits in the socket rather than in freshly allocated buffers.
     * Once a message went straight into the caller's buffer it stops: what follows stays in the
     * channel for the next call, which takes it directly too, instead of being copied into a queue
     * entry and then again into the caller's buffer (bench_session: that copy, and the buffer's
     * malloc for small messages, made the receiving thread the busier one of the two). Blocking
     * calls only: a non-blocking caller may poll(2) after one message, and messages left in the
     * channel's buffer would not wake it. */
    size_t limit = s->in_recv ? VMSEC_MIN(RECV_AHEAD, s->opts.max_unacked_bytes) : s->opts.max_unacked_bytes;
    while (s->link == LINK_UP && s->rq_bytes < limit && !(s->in_recv && s->direct_done && !s->nonblock)) {
        struct rq_entry *e;
        const uint8_t *frame;
        size_t n, cap;
        /* read in place: the frame is copied once, into the caller's buffer or a queue entry */
        int rc = vmsec__channel_next(s->ch, &frame, &n);
        if (rc == VMSEC_EAGAIN)
            return 0;
        if (rc < 0) {
            if (rc == VMSEC_ECLOSED && (s->peer_closed || (s->rq_tail && s->rq_tail->close))) {
                vmsec_channel_free(s->ch); /* the peer's orderly end: nothing to resume */
                s->ch = NULL;
                s->link = LINK_DOWN;
                s->finished = true;
                return 0;
            }
            vmsec__session_link_lost(s, rc);
            return 0;
        }
        if (n == 0)
            return vmsec__session_fail(s, VMSEC_EPROTO, "an empty session frame");
        if (s->direct_buf && (rc = take_direct(s, frame, n)) != 1) {
            vmsec__channel_msg_take(s->ch);
            if (rc < 0)
                return rc;
            continue;
        }
        if (!(e = buf_get(s, sizeof(*e) + n, &cap)))
            return vmsec__session_fail(s, VMSEC_ENOMEM, "out of memory receiving a %zu-byte frame", n);
        e->cap = cap;
        e->len = n;
        memcpy(e->frame, frame, n);
        vmsec__channel_msg_take(s->ch);
        if ((rc = take_frame(s, e)) < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* The pump: everything a call does before it looks at the buffers */

/* Nothing left to resume: our close was acknowledged, or the peer ended its link after its close
 * (until then it may reconnect to learn that its close arrived). */
static bool ended(const vmsec_session *s)
{
    return s->close_done || s->finished;
}

int vmsec__session_pump(vmsec_session *s)
{
    int64_t now = vmsec__session_now();
    int rc;
    if ((rc = guard(s)) < 0)
        return rc;
    if (s->role == VMSEC_ROLE_RESPONDER && (rc = vmsec__session_take_pending(s)) < 0)
        return rc;
    if (s->link == LINK_DOWN && !ended(s)) {
        if (s->opts.reconnect_deadline_ms && now - s->down_since >= s->opts.reconnect_deadline_ms)
            return vmsec__session_fail(s, VMSEC_ETIMEDOUT, "not resumed within the reconnect deadline (%u ms)",
                                       s->opts.reconnect_deadline_ms);
        if (s->role == VMSEC_ROLE_INITIATOR && (s->at || now >= s->next_attempt) &&
            (rc = vmsec__session_reconnect(s)) < 0)
            return rc;
    }
    if (s->link == LINK_UP && (rc = vmsec_channel_tick(s->ch)) < 0)
        vmsec__session_link_lost(s, rc); /* keep-alives: a dead peer (VMSEC_EPEERDEAD) */
    if ((rc = write_link(s)) < 0 || (rc = read_link(s)) < 0)
        return rc;
    return write_link(s); /* what reading owes: acknowledgements */
}

/* Blocking mode: waits for the link's descriptor or the next timer; without a link, the accepting
 * side may accept on its listener itself, so a single-threaded server resumes too. */
static int wait_event(vmsec_session *s)
{
    int t = vmsec_session_next_timeout_ms(s);
    if (s->link == LINK_UP) {
        struct pollfd p = {.fd = vmsec_channel_fd(s->ch), .events = vmsec_session_poll_events(s)};
        poll(&p, 1, t);
        return 0;
    }
    if (s->role == VMSEC_ROLE_RESPONDER)
        return vmsec__session_wait_resume(s, t);
    poll(NULL, 0, t);
    return 0;
}

static bool window_full(const vmsec_session *s, size_t len)
{
    return s->sq_count >= s->opts.max_unacked_messages || s->sq_bytes + SF_HDR + len > s->opts.max_unacked_bytes;
}

int vmsec_session_send(vmsec_session *s, const uint8_t *msg, size_t len)
{
    int rc;
    if (!s || (!msg && len))
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_send: NULL argument");
    if ((rc = guard(s)) < 0)
        return rc;
    if (s->close_seq || s->peer_closed)
        return vmsec__error(VMSEC_ECLOSED, "session: %s closed the session", s->close_seq ? "this side" : "the peer");
    if (len > s->cfg.max_message - SF_HDR || len + SF_HDR > s->opts.max_unacked_bytes)
        return vmsec__error(VMSEC_ETOOBIG, "session message of %zu bytes: the limit is %zu", len,
                            VMSEC_MIN(s->cfg.max_message, s->opts.max_unacked_bytes) - SF_HDR);
    while (window_full(s, len)) {
        if ((rc = vmsec__session_pump(s)) < 0)
            return rc;
        if (!window_full(s, len))
            break;
        if (s->nonblock)
            return vmsec__error(VMSEC_EAGAIN, "session: %zu messages (%zu bytes) wait for the peer's acknowledgement",
                                s->sq_count, s->sq_bytes);
        wait_event(s);
    }
    if ((rc = append_frame(s, SF_DATA, msg, len)) < 0)
        return rc;
    if (s->link == LINK_UP)
        write_link(s);
    /* Blocking, like a blocking channel: the message is written out before returning, unless the
     * link is down (it goes out after the resume, from a later call). */
    while (!s->nonblock && s->link == LINK_UP && (s->sq_unsent || (vmsec_session_poll_events(s) & POLLOUT))) {
        wait_event(s);
        if ((rc = vmsec__session_pump(s)) < 0)
            return rc;
    }
    return 0;
}

/* Hands the next received message to the application. 1: nothing waits. */
static int deliver(vmsec_session *s, uint8_t *buf, size_t cap, size_t *len)
{
    struct rq_entry *e = s->rq_head;
    if (!e)
        return 1;
    if (e->close) {
        s->peer_closed = true;
    } else if ((*len = e->len - SF_HDR) > cap) {
        return vmsec__error(VMSEC_ETOOBIG, "session message of %zu bytes, buffer of %zu", *len, cap);
    } else if (*len) {
        memcpy(buf, e->frame + SF_HDR, *len);
    }
    s->delivered++;
    s->unacked_bytes += e->len;
    if (!s->ack_due)
        s->ack_due = vmsec__session_now() + (e->close ? 0 : s->opts.ack_delay_ms);
    s->rq_head = e->next;
    if (!s->rq_head)
        s->rq_tail = NULL;
    s->rq_bytes -= e->len;
    buf_put(s, e, e->cap);
    if (s->peer_closed) {
        s->ack_due = vmsec__session_now();
        write_link(s);
        return vmsec__error(VMSEC_ECLOSED, "session: the peer closed the session");
    }
    return 0;
}

int vmsec_session_recv(vmsec_session *s, uint8_t *buf, size_t cap, size_t *len)
{
    int rc;
    if (!s || !len || (!buf && cap))
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_recv: NULL argument");
    *len = 0;
    for (;;) {
        if ((rc = guard(s)) < 0)
            return rc;
        if (s->peer_closed) {
            write_link(s); /* the acknowledgement of the close */
            return vmsec__error(VMSEC_ECLOSED, "session: the peer closed the session");
        }
        if ((rc = deliver(s, buf, cap, len)) <= 0) {
            if (rc == 0 && ack_now(s))
                write_link(s);
            return rc;
        }
        s->in_recv = true;
        s->direct_buf = buf, s->direct_cap = cap, s->direct_len = len, s->direct_done = false;
        rc = vmsec__session_pump(s);
        s->in_recv = false;
        s->direct_buf = NULL;
        if (rc < 0)
            return rc;
        if (s->direct_done) {
            if (ack_now(s))
                write_link(s);
            return 0;
        }
        if (s->rq_head)
            continue;
        if (s->nonblock)
            return vmsec__error(VMSEC_EAGAIN, "session: no message yet");
        wait_event(s);
    }
}

/* A closing side takes no more messages: what arrives is acknowledged unread, so a peer closing at
 * the same time (its CLOSE waits in the queue) completes its close too. */
static void discard_received(vmsec_session *s)
{
    if (!s->rq_head)
        return;
    while (s->rq_head) {
        struct rq_entry *e = s->rq_head;
        s->peer_closed |= e->close;
        s->rq_head = e->next;
        s->rq_bytes -= e->len;
        s->delivered++;
        buf_put(s, e, e->cap);
    }
    s->rq_tail = NULL;
    s->ack_due = vmsec__session_now();
    write_link(s);
}

int vmsec_session_close(vmsec_session *s)
{
    int rc;
    if (!s)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_close: session is NULL");
    if ((rc = guard(s)) < 0)
        return rc;
    if (!s->close_seq) {
        if ((rc = append_frame(s, SF_CLOSE, NULL, 0)) < 0)
            return rc;
        s->close_seq = s->next_seq - 1;
    }
    for (;;) {
        if ((rc = vmsec__session_pump(s)) < 0)
            return rc;
        discard_received(s);
        if (s->close_done)
            break;
        if (s->nonblock)
            return vmsec__error(VMSEC_EAGAIN, "session: the close waits for the peer's acknowledgement");
        wait_event(s);
    }
    if (s->ch) {
        vmsec_channel_close(s->ch); /* best effort: the session is already closed on both sides */
        vmsec_channel_free(s->ch);
        s->ch = NULL;
        s->link = LINK_DOWN;
    }
    s->fail_code = VMSEC_ESTATE;
    snprintf(s->fail_msg, sizeof(s->fail_msg), "the session was closed");
    vmsec__session_listener_remove(s);
    return 0;
}

int vmsec_session_tick(vmsec_session *s)
{
    if (!s)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_tick: session is NULL");
    return vmsec__session_pump(s);
}

/* Without a link, a reconnect attempt's descriptor (connecting, handshake, opening exchange). */
int vmsec_session_fd(const vmsec_session *s)
{
    return !s ? -1 : s->ch ? vmsec_channel_fd(s->ch) : vmsec__session_attempt_fd(s);
}

short vmsec_session_poll_events(const vmsec_session *s)
{
    return !s ? 0 : s->ch ? vmsec_channel_poll_events(s->ch) : vmsec__session_attempt_events(s);
}

static int64_t min_due(int64_t a, int64_t b)
{
    return !a ? b : !b ? a : VMSEC_MIN(a, b);
}

int vmsec_session_next_timeout_ms(const vmsec_session *s)
{
    int64_t now = vmsec__session_now(), due = 0;
    int t;
    if (!s || s->fail_code)
        return -1;
    if (s->link == LINK_UP) {
        if ((t = vmsec_channel_next_timeout_ms(s->ch)) >= 0)
            due = now + t;
        if (s->delivered > s->ack_sent && s->ack_due)
            due = min_due(due, s->ack_due);
    } else if (!ended(s)) {
        if (s->opts.reconnect_deadline_ms)
            due = s->down_since + s->opts.reconnect_deadline_ms;
        /* the next attempt, or the end of the one under way; the accepting side looks for a resume
         * handed over by its listener */
        if (s->role == VMSEC_ROLE_INITIATOR)
            due = min_due(due, s->at ? vmsec__session_attempt_due(s) : s->next_attempt);
        else
            due = min_due(due, now + 20);
    }
    if (!due)
        return -1;
    return due <= now ? 0 : due - now > INT32_MAX ? INT32_MAX : (int)(due - now);
}

int vmsec_session_id(const vmsec_session *s, uint8_t *id, size_t cap)
{
    if (!s || !id)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_id: NULL argument");
    if (cap < VMSEC_SESSION_ID_BYTES)
        return vmsec__error(VMSEC_ETOOBIG, "a session id needs %d bytes", VMSEC_SESSION_ID_BYTES);
    memcpy(id, s->id, VMSEC_SESSION_ID_BYTES);
    return 0;
}

uint64_t vmsec_session_links(const vmsec_session *s)
{
    return s ? s->links : 0;
}
