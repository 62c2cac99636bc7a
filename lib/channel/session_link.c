/* SPDX-License-Identifier: ISC */
/* Opening and resuming a session's links (doc/SESSIONS.md, sections 2 and 3): the connecting side
 * connects, runs a fresh handshake and proves the session, in an attempt that advances one step at
 * a time (non-blocking mode) or is waited for; the accepting side takes over a channel its listener
 * verified. Every attempt is bounded by the channel's handshake timeout. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel/session_internal.h"
#include "common/internal.h"

static int wait_until(vmsec_channel *ch, short events, int64_t deadline)
{
    struct pollfd p = {.fd = vmsec_channel_fd(ch), .events = events};
    int64_t left = deadline - vmsec__session_now();
    if (left <= 0)
        return vmsec__error(VMSEC_ETIMEDOUT, "session: the peer did not answer in time");
    if (poll(&p, 1, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)
        return vmsec__error_errno(VMSEC_EIO, errno, "poll on a session's channel");
    return 0;
}

int vmsec__session_handshake(vmsec_channel *ch, int64_t deadline)
{
    int rc;
    while ((rc = vmsec_channel_handshake(ch)) == VMSEC_EAGAIN)
        if ((rc = wait_until(ch, vmsec_channel_poll_events(ch), deadline)) < 0)
            return rc;
    return rc;
}

int vmsec__session_read_frame(vmsec_channel *ch, int64_t deadline, uint8_t **buf, size_t *len)
{
    size_t n = 0;
    int rc;
    *buf = NULL;
    while ((rc = vmsec_channel_recv(ch, NULL, 0, &n)) == VMSEC_EAGAIN)
        if ((rc = wait_until(ch, POLLIN, deadline)) < 0)
            return rc;
    if (rc == 0)
        return vmsec__error(VMSEC_EPROTO, "session: an empty session frame");
    if (rc != VMSEC_ETOOBIG)
        return rc;
    if (n > SF_MAX_CONTROL)
        return vmsec__error(VMSEC_EPROTO, "session: a %zu-byte frame where an opening frame was due", n);
    if (!(*buf = malloc(n)))
        return vmsec__error(VMSEC_ENOMEM, "out of memory for a session frame");
    if ((rc = vmsec_channel_recv(ch, *buf, n, len)) < 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

int vmsec__session_write_frame(vmsec_channel *ch, const struct vmsec__sframe *f, int64_t deadline)
{
    uint8_t buf[SF_MAX_CONTROL];
    size_t n = vmsec__sframe_write(buf, f);
    int rc;
    /* VMSEC_EAGAIN: too much is buffered and the frame was not taken; write out and send again */
    while ((rc = vmsec_channel_send(ch, buf, n, 0)) == VMSEC_EAGAIN) {
        if ((rc = vmsec_channel_flush(ch)) == VMSEC_EAGAIN)
            rc = wait_until(ch, POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    while ((rc = vmsec_channel_flush(ch)) == VMSEC_EAGAIN)
        if ((rc = wait_until(ch, POLLOUT, deadline)) < 0)
            return rc;
    return rc;
}

int vmsec__session_hash(vmsec_channel *ch, uint8_t *h, size_t *hlen)
{
    return vmsec_channel_handshake_hash(ch, h, VMSEC_HANDSHAKE_HASH_MAX, hlen);
}

unsigned int vmsec__session_handshake_timeout(const struct vmsec_channel_config *cfg)
{
    return cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : VMSEC_CHANNEL_DEFAULT_HANDSHAKE_TIMEOUT_MS;
}

static int64_t link_deadline(const struct vmsec_channel_config *cfg)
{
    return vmsec__session_now() + vmsec__session_handshake_timeout(cfg);
}

/* When a link attempt must be over: the handshake timeout, but no later than give_up, the end of
 * the reconnect deadline (a connect or handshake to an unresponsive peer must not keep the caller
 * past the point where the session fails with VMSEC_ETIMEDOUT anyway). */
static int64_t attempt_deadline(const vmsec_session *s, int64_t give_up)
{
    int64_t d = link_deadline(&s->cfg);
    return give_up < d ? give_up : d;
}

/* The end of the reconnect deadline of a link that is down; INT64_MAX without a deadline. */
static int64_t reconnect_give_up(const vmsec_session *s)
{
    return s->opts.reconnect_deadline_ms ? s->down_since + s->opts.reconnect_deadline_ms : INT64_MAX;
}

/* The responder's WELCOME: its proof over this channel's handshake hash. */
static int check_welcome(vmsec_session *s, vmsec_channel *ch, const struct vmsec__sframe *f, bool *fatal)
{
    uint8_t h[VMSEC_HANDSHAKE_HASH_MAX], want[SF_PROOF_LEN];
    size_t hlen;
    int rc;
    *fatal = true;
    if (f->type == SF_UNKNOWN && !memcmp(f->id, s->id, VMSEC_SESSION_ID_BYTES))
        return vmsec__error(VMSEC_ESESSIONLOST, "the peer does not know this session any more (it lost its state)");
    if (f->type != SF_WELCOME || memcmp(f->id, s->id, VMSEC_SESSION_ID_BYTES))
        return vmsec__error(VMSEC_EPROTO, "session: frame type 0x%02x where WELCOME was due", f->type);
    if ((rc = vmsec__session_hash(ch, h, &hlen)) < 0)
        return rc;
    vmsec__session_proof(want, s->secret, s->id, VMSEC_ROLE_RESPONDER, h, hlen);
    if (sodium_memcmp(want, f->proof, SF_PROOF_LEN))
        return vmsec__error(VMSEC_EAUTH, "session: the peer's proof of the session is wrong");
    *fatal = false;
    return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* The connecting side's attempt to open a link: connect (or the dial hook), handshake, HELLO, the
 * peer's WELCOME. Each step goes as far as it can without waiting and returns VMSEC_EAGAIN when it
 * has to wait for the descriptor; the attempt ends, failed, at its deadline. */

static int attempt_begin(vmsec_session *s, bool resume, int64_t give_up)
{
    if (!(s->at = calloc(1, sizeof(*s->at))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory for a link attempt");
    s->at->step = AT_DIAL;
    s->at->resume = resume;
    s->at->deadline = attempt_deadline(s, give_up);
    return 0;
}

void vmsec__session_attempt_clear(vmsec_session *s)
{
    if (!s->at)
        return;
    if (s->at->step == AT_CONNECT)
        vmsec__connector_clear(&s->at->conn);
    vmsec_channel_free(s->at->ch);
    free(s->at);
    s->at = NULL;
}

/* The attempt's channel over its connected socket, which the channel then owns. */
static int attempt_channel(vmsec_session *s, int fd)
{
    int fl, rc;
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        rc = vmsec__error_errno(VMSEC_EIO, errno, "session: O_NONBLOCK on %s", s->address);
        close(fd);
        return rc;
    }
    if ((rc = vmsec_channel_new(&s->at->ch, &s->cfg, fd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD)) < 0) {
        close(fd);
        return rc;
    }
    s->at->step = AT_HANDSHAKE;
    return 0;
}

/* The dial hook (a blocking call by its contract, given the time left), or a non-blocking connect. */
static int attempt_dial(vmsec_session *s)
{
    struct vmsec__attempt *a = s->at;
    int64_t left = a->deadline - vmsec__session_now(); /* > 0: attempt_step checked */
    int fd = -1, rc;
    if (s->opts.dial) {
        rc = s->opts.dial(s->opts.dial_user, s->address, left > UINT32_MAX ? UINT32_MAX : (unsigned int)left, &fd);
    } else if ((rc = vmsec__connector_start(&a->conn, s->address)) == VMSEC_EAGAIN) {
        a->step = AT_CONNECT;
        return rc;
    } else {
        fd = rc == 0 ? vmsec__connector_take(&a->conn) : -1;
        vmsec__connector_clear(&a->conn);
    }
    if (rc < 0)
        return vmsec__error(rc, "session: opening a link to %s: %s", s->address, vmsec_error_last());
    return attempt_channel(s, fd);
}

static int attempt_connect(vmsec_session *s)
{
    struct vmsec__attempt *a = s->at;
    int rc = vmsec__connector_step(&a->conn), fd;
    if (rc == VMSEC_EAGAIN)
        return rc;
    fd = rc == 0 ? vmsec__connector_take(&a->conn) : -1;
    vmsec__connector_clear(&a->conn);
    a->step = AT_DIAL; /* the connector is gone: nothing for vmsec__session_attempt_clear() */
    if (rc < 0)
        return vmsec__error(rc, "session: opening a link to %s: %s", s->address, vmsec_error_last());
    return attempt_channel(s, fd);
}

/* Once the handshake is done: a resume's peer must have the session's key; a new session takes
 * its keys from this channel before its HELLO_NEW, so that a link cut before the WELCOME can be
 * resumed like any other. */
static int attempt_handshake(vmsec_session *s)
{
    struct vmsec__attempt *a = s->at;
    uint8_t key[VMSEC_KEY_BYTES];
    int rc;
    if ((rc = vmsec_channel_handshake(a->ch)) < 0)
        return rc;
    a->fatal = true;
    if (a->resume) {
        if ((rc = vmsec_channel_peer_key(a->ch, key, sizeof(key))) < 0 || sodium_memcmp(key, s->peer_key, sizeof(key)))
            return vmsec__error(VMSEC_EAUTH, "session: the peer at %s has another static key", s->address);
    } else if ((rc = vmsec__session_keys(s, a->ch)) < 0) {
        return rc;
    }
    a->fatal = false;
    a->step = AT_HELLO;
    return 0;
}

/* HELLO_NEW, or HELLO_RESUME with what this side received and its proof over this channel. */
static int attempt_hello(vmsec_session *s)
{
    struct vmsec__attempt *a = s->at;
    struct vmsec__sframe f = {.type = a->resume ? SF_HELLO_RESUME : SF_HELLO_NEW, .ack = s->recvd};
    uint8_t h[VMSEC_HANDSHAKE_HASH_MAX], buf[SF_MAX_CONTROL];
    size_t hlen, n;
    int rc;
    memcpy(f.id, s->id, VMSEC_SESSION_ID_BYTES);
    if (a->resume) {
        if ((rc = vmsec__session_hash(a->ch, h, &hlen)) < 0)
            return rc;
        vmsec__session_proof(f.proof, s->secret, s->id, VMSEC_ROLE_INITIATOR, h, hlen);
    }
    n = vmsec__sframe_write(buf, &f);
    /* VMSEC_EAGAIN: not accepted, as earlier output waits for the socket */
    if ((rc = vmsec_channel_send(a->ch, buf, n, 0)) == VMSEC_EAGAIN && (rc = vmsec_channel_flush(a->ch)) == 0)
        rc = vmsec_channel_send(a->ch, buf, n, 0);
    if (rc < 0)
        return rc;
    a->sent = !a->resume;
    a->step = AT_WELCOME;
    return 0;
}

/* The HELLO written out, then the peer's answer: 0 once a WELCOME with the right proof came. */
static int attempt_welcome(vmsec_session *s)
{
    struct vmsec__attempt *a = s->at;
    struct vmsec__sframe f;
    uint8_t buf[SF_MAX_CONTROL];
    size_t n = 0;
    int rc;
    if ((rc = vmsec_channel_flush(a->ch)) < 0)
        return rc;
    if ((rc = vmsec_channel_recv(a->ch, NULL, 0, &n)) == 0)
        return vmsec__error(VMSEC_EPROTO, "session: an empty session frame");
    if (rc != VMSEC_ETOOBIG)
        return rc;
    if (n > sizeof(buf))
        return vmsec__error(VMSEC_EPROTO, "session: a %zu-byte frame where an opening frame was due", n);
    if ((rc = vmsec_channel_recv(a->ch, buf, sizeof(buf), &n)) < 0)
        return rc;
    if ((rc = vmsec__sframe_parse(buf, n, &f)) < 0) {
        a->fatal = true;
        return rc;
    }
    if ((rc = check_welcome(s, a->ch, &f, &a->fatal)) < 0)
        return rc;
    a->peer_recvd = f.ack;
    return 0;
}

/* Advances the attempt as far as it goes without waiting: 0 once the link is open (the channel in
 * s->at->ch), VMSEC_EAGAIN, or the failure that ended it (s->at->fatal: not worth retrying). */
static int attempt_step(vmsec_session *s)
{
    int rc;
    for (;;) {
        if (vmsec__session_now() >= s->at->deadline)
            return vmsec__error(VMSEC_ETIMEDOUT, "session: no link opened to %s in time", s->address);
        switch (s->at->step) {
        case AT_DIAL:
            rc = attempt_dial(s);
            break;
        case AT_CONNECT:
            rc = attempt_connect(s);
            break;
        case AT_HANDSHAKE:
            rc = attempt_handshake(s);
            break;
        case AT_HELLO:
            rc = attempt_hello(s);
            break;
        case AT_WELCOME:
            return attempt_welcome(s);
        default:
            return vmsec__error(VMSEC_ESTATE, "session: no link attempt under way");
        }
        if (rc < 0)
            return rc;
    }
}

int vmsec__session_attempt_fd(const vmsec_session *s)
{
    if (!s->at)
        return -1;
    if (s->at->step == AT_CONNECT)
        return vmsec__connector_fd(&s->at->conn);
    return s->at->ch ? vmsec_channel_fd(s->at->ch) : -1;
}

short vmsec__session_attempt_events(const vmsec_session *s)
{
    if (!s->at)
        return 0;
    if (s->at->step == AT_CONNECT)
        return vmsec__connector_fd(&s->at->conn) >= 0 ? POLLOUT : 0;
    return s->at->ch ? vmsec_channel_poll_events(s->at->ch) : 0;
}

int64_t vmsec__session_attempt_due(const vmsec_session *s)
{
    int64_t retry;
    if (!s->at)
        return 0;
    /* a unix listener's full backlog: connect again shortly */
    retry = s->at->step == AT_CONNECT ? vmsec__connector_due(&s->at->conn) : 0;
    return retry && retry < s->at->deadline ? retry : s->at->deadline;
}

/* Blocking mode: the attempt, waited for with poll(2) until it ends. */
static int attempt_run(vmsec_session *s)
{
    int rc;
    while ((rc = attempt_step(s)) == VMSEC_EAGAIN) {
        struct pollfd p = {.fd = vmsec__session_attempt_fd(s), .events = vmsec__session_attempt_events(s)};
        int64_t left = vmsec__session_attempt_due(s) - vmsec__session_now();
        if (poll(&p, p.fd >= 0, left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR)
            return vmsec__error_errno(VMSEC_EIO, errno, "poll on a session's link");
    }
    return rc;
}

/* Ends the attempt that ended with rc: on success, hands over its channel and the peer's received. */
static void attempt_end(vmsec_session *s, int rc, vmsec_channel **ch, uint64_t *peer_recvd, bool *fatal, bool *sent)
{
    *fatal = s->at->fatal;
    *sent = s->at->sent;
    if (rc == 0) {
        *ch = s->at->ch;
        s->at->ch = NULL;
        *peer_recvd = s->at->peer_recvd;
    }
    vmsec__session_attempt_clear(s);
}

int vmsec__session_install(vmsec_session *s, vmsec_channel *ch, uint64_t peer_recvd)
{
    int rc;
    vmsec_channel_free(s->ch);
    s->ch = ch;
    s->link = LINK_UP;
    s->links++;
    s->down_since = 0;
    s->backoff_ms = s->opts.backoff_initial_ms;
    if (peer_recvd < s->acked)
        return vmsec__session_fail(s, VMSEC_EPROTO, "the peer resumed at message %llu after acknowledging %llu",
                                   (unsigned long long)peer_recvd, (unsigned long long)s->acked);
    if ((rc = vmsec__session_acked(s, peer_recvd)) < 0)
        return rc;
    vmsec__session_rewind(s);
    s->ack_sent = 0; /* tell the peer what was delivered at the first occasion */
    /* the opening exchange grew the channel's buffers to full size: an idle link keeps none */
    vmsec__channel_trim(ch);
    return 0;
}

/* A reconnect attempt: started once the backoff is over, then advanced at every call (non-blocking
 * mode) or waited for (blocking mode). */
int vmsec__session_reconnect(vmsec_session *s)
{
    vmsec_channel *ch = NULL;
    uint64_t peer_recvd = 0;
    bool fatal = false, sent;
    int rc = 0;
    if (!s->at) {
        if (s->opts.resolve && s->opts.resolve(s->opts.resolve_user, s->address, sizeof(s->address)) < 0)
            rc = VMSEC_ENOTFOUND;
        else if ((rc = vmsec_address_validate(s->address)) == 0)
            rc = attempt_begin(s, true, reconnect_give_up(s));
    }
    if (rc == 0) {
        if ((rc = s->nonblock ? attempt_step(s) : attempt_run(s)) == VMSEC_EAGAIN)
            return 0;
        attempt_end(s, rc, &ch, &peer_recvd, &fatal, &sent);
    }
    if (rc == VMSEC_ESESSIONLOST && s->peer_closed) {
        s->finished = true; /* the peer closed the session and has forgotten it since: it is over */
        return 0;
    }
    if (rc < 0) {
        if (fatal)
            return vmsec__session_fail(s, rc, "resuming at %s: %s", s->address, vmsec_error_last());
        s->backoff_ms = s->backoff_ms > s->opts.backoff_max_ms / 2 ? s->opts.backoff_max_ms : s->backoff_ms * 2;
        s->next_attempt = vmsec__session_now() + vmsec__session_jitter(s->backoff_ms);
        return 0;
    }
    return vmsec__session_install(s, ch, peer_recvd);
}

/* Waits the backoff before the next attempt of a session's first link, and doubles it. */
static void first_link_backoff(vmsec_session *s, int64_t give_up)
{
    int64_t wait = vmsec__session_jitter(s->backoff_ms), left = give_up - vmsec__session_now();
    poll(NULL, 0, (int)(wait < left ? wait : left > 0 ? left : 0));
    s->backoff_ms = s->backoff_ms > s->opts.backoff_max_ms / 2 ? s->opts.backoff_max_ms : s->backoff_ms * 2;
}

/* One attempt of a session's first link, waited for. */
static int open_link(vmsec_session *s, bool resume, int64_t give_up, vmsec_channel **out, uint64_t *peer_recvd,
                     bool *fatal, bool *sent)
{
    int rc;
    *fatal = *sent = false;
    if ((rc = attempt_begin(s, resume, give_up)) < 0)
        return rc;
    rc = attempt_run(s);
    attempt_end(s, rc, out, peer_recvd, fatal, sent);
    return rc;
}

/* The first link of a new session. A failure before the HELLO_NEW went out is returned as such.
 * After it, the responder may hold the session (it may even have handed it to its application):
 * the link is resumed like any other, within the reconnect deadline. An UNKNOWN answer means the
 * responder holds nothing under this id (the HELLO_NEW never arrived, or the id is another
 * session's): nothing of the session exists anywhere, so it starts over under a fresh id. */
static int first_link(vmsec_session *s, vmsec_channel **ch, uint64_t *peer_recvd)
{
    int64_t give_up = s->opts.reconnect_deadline_ms ? vmsec__session_now() + s->opts.reconnect_deadline_ms : INT64_MAX;
    bool resume = false, began = false, fatal, sent;
    int rc;
    for (;;) {
        /* the first attempt has the handshake timeout, the later ones end with the deadline too */
        if ((rc = open_link(s, resume, began ? give_up : INT64_MAX, ch, peer_recvd, &fatal, &sent)) == 0)
            return 0;
        began |= sent;
        if (rc == VMSEC_ESESSIONLOST && began) {
            randombytes_buf(s->id, sizeof(s->id));
            resume = false;
        } else if (fatal || !began) {
            return rc;
        } else {
            resume = true;
        }
        do { /* a resolver that returns a negative value skips the attempt */
            if (vmsec__session_now() >= give_up)
                return vmsec__error(VMSEC_ETIMEDOUT, "session: no link opened within the reconnect deadline "
                                                     "(%u ms): %s", s->opts.reconnect_deadline_ms, vmsec_error_last());
            first_link_backoff(s, give_up);
        } while (s->opts.resolve && s->opts.resolve(s->opts.resolve_user, s->address, sizeof(s->address)) < 0);
        if ((rc = vmsec_address_validate(s->address)) < 0)
            return rc;
    }
}

int vmsec_session_connect(vmsec_session **out, const vmsec_channel_config *cfg, const char *address,
                          const vmsec_session_options *opts)
{
    vmsec_session *s;
    vmsec_channel *ch = NULL;
    uint64_t peer_recvd = 0;
    int rc;
    if (!out || !cfg || !address)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_connect: NULL argument");
    *out = NULL;
    if (strlen(address) >= VMSEC_ADDRESS_MAX)
        return vmsec__error(VMSEC_ETOOBIG, "session address too long");
    if ((rc = vmsec_address_validate(address)) < 0)
        return rc;
    if ((rc = vmsec__session_new(&s, cfg, opts, VMSEC_ROLE_INITIATOR)) < 0)
        return rc;
    strcpy(s->address, address);
    randombytes_buf(s->id, sizeof(s->id));
    if ((rc = first_link(s, &ch, &peer_recvd)) < 0 ||
        (peer_recvd != 0 && (rc = vmsec__error(VMSEC_EPROTO, "session: a new session's peer received %llu",
                                               (unsigned long long)peer_recvd)) < 0)) {
        vmsec_channel_free(ch);
        vmsec_session_free(s);
        return rc;
    }
    if ((rc = vmsec__session_install(s, ch, 0)) < 0) {
        vmsec_session_free(s);
        return rc;
    }
    s->links = 1;
    *out = s;
    return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* The accepting side */

int vmsec__session_take_pending(vmsec_session *s)
{
    struct vmsec__sframe f = {.type = SF_WELCOME, .ack = 0};
    uint8_t h[VMSEC_HANDSHAKE_HASH_MAX];
    vmsec_channel *ch;
    uint64_t peer_recvd;
    size_t hlen;
    int rc;
    if (!s->sl)
        return 0;
    pthread_mutex_lock(&s->sl->lock);
    ch = s->pending;
    peer_recvd = s->pending_recvd;
    s->pending = NULL;
    pthread_mutex_unlock(&s->sl->lock);
    if (!ch)
        return 0;
    memcpy(f.id, s->id, VMSEC_SESSION_ID_BYTES);
    f.ack = s->recvd;
    if ((rc = vmsec__session_hash(ch, h, &hlen)) < 0) {
        vmsec_channel_free(ch);
        return 0;
    }
    vmsec__session_proof(f.proof, s->secret, s->id, VMSEC_ROLE_RESPONDER, h, hlen);
    if ((rc = vmsec__session_write_frame(ch, &f, link_deadline(&s->cfg))) < 0) {
        vmsec_channel_free(ch); /* that link died too: wait for the next resume */
        return 0;
    }
    return vmsec__session_install(s, ch, peer_recvd);
}

int vmsec__session_wait_resume(vmsec_session *s, int timeout_ms)
{
    int t = timeout_ms < 0 || timeout_ms > 50 ? 50 : timeout_ms;
    if (!s->sl) {
        poll(NULL, 0, t);
        return 0;
    }
    return vmsec__session_listener_wait(s->sl, t);
}
