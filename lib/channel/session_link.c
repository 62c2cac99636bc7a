/* SPDX-License-Identifier: ISC */
/* Opening and resuming a session's links (doc/SESSIONS.md, sections 2 and 3): the connecting side
 * connects, runs a fresh handshake and proves the session; the accepting side takes over a channel
 * its listener verified. Every step here is bounded by the channel's handshake timeout. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
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
    int rc = vmsec_channel_send(ch, buf, vmsec__sframe_write(buf, f), 0);
    if (rc < 0 && rc != VMSEC_EAGAIN)
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

static int64_t link_deadline(const struct vmsec_channel_config *cfg)
{
    unsigned int t = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : VMSEC_CHANNEL_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    return vmsec__session_now() + t;
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

/* A connected, non-blocking channel that completed its handshake. */
static int dial(vmsec_session *s, int64_t deadline, vmsec_channel **out)
{
    int fd, rc, fl;
    int64_t now = vmsec__session_now();
    unsigned int left;
    *out = NULL;
    /* a timeout of 0 would mean none to vmsec_transport_connect() */
    if (deadline <= now)
        return vmsec__error(VMSEC_ETIMEDOUT, "session: no time left to open a link to %s", s->address);
    left = deadline - now > UINT32_MAX ? UINT32_MAX : (unsigned int)(deadline - now);
    if (s->opts.dial)
        rc = s->opts.dial(s->opts.dial_user, s->address, left, &fd);
    else
        rc = vmsec_transport_connect(s->address, left, &fd);
    if (rc < 0)
        return vmsec__error(rc, "session: opening a link to %s: %s", s->address, vmsec_error_last());
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fd);
        return vmsec__error_errno(VMSEC_EIO, errno, "session: O_NONBLOCK on %s", s->address);
    }
    if ((rc = vmsec_channel_new(out, &s->cfg, fd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD)) < 0) {
        close(fd);
        return rc;
    }
    if ((rc = vmsec__session_handshake(*out, deadline)) < 0) {
        vmsec_channel_free(*out);
        *out = NULL;
    }
    return rc;
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

/* Opens a link: HELLO_NEW (resume false) or HELLO_RESUME, then the peer's WELCOME. *fatal tells a
 * session-level refusal (lost, forged, another peer) from a transport failure worth retrying;
 * *sent that a HELLO_NEW went out (the peer may hold the session from then on). A new session's
 * keys come from this channel before its HELLO_NEW, so that a link cut before the WELCOME can be
 * resumed like any other. */
static int open_link(vmsec_session *s, bool resume, int64_t give_up, vmsec_channel **out, uint64_t *peer_recvd,
                     bool *fatal, bool *sent)
{
    int64_t deadline = attempt_deadline(s, give_up);
    struct vmsec__sframe f = {.type = resume ? SF_HELLO_RESUME : SF_HELLO_NEW, .ack = s->recvd};
    uint8_t h[VMSEC_HANDSHAKE_HASH_MAX], key[VMSEC_KEY_BYTES], *buf = NULL;
    size_t hlen, len;
    vmsec_channel *ch;
    int rc;
    *fatal = *sent = false;
    if ((rc = dial(s, deadline, &ch)) < 0)
        return rc;
    memcpy(f.id, s->id, VMSEC_SESSION_ID_BYTES);
    if (resume) {
        if ((rc = vmsec_channel_peer_key(ch, key, sizeof(key))) < 0 || sodium_memcmp(key, s->peer_key, sizeof(key))) {
            *fatal = true;
            rc = vmsec__error(VMSEC_EAUTH, "session: the peer at %s has another static key", s->address);
            goto out;
        }
        if ((rc = vmsec__session_hash(ch, h, &hlen)) < 0)
            goto out;
        vmsec__session_proof(f.proof, s->secret, s->id, VMSEC_ROLE_INITIATOR, h, hlen);
    } else if ((rc = vmsec__session_keys(s, ch)) < 0) {
        *fatal = true;
        goto out;
    }
    *sent = !resume;
    if ((rc = vmsec__session_write_frame(ch, &f, deadline)) < 0 ||
        (rc = vmsec__session_read_frame(ch, deadline, &buf, &len)) < 0)
        goto out;
    if ((rc = vmsec__sframe_parse(buf, len, &f)) < 0) {
        *fatal = true;
        goto out;
    }
    if ((rc = check_welcome(s, ch, &f, fatal)) < 0)
        goto out;
    *peer_recvd = f.ack;
    *out = ch;
    ch = NULL;
out:
    free(buf);
    vmsec_channel_free(ch);
    return rc;
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

int vmsec__session_reconnect(vmsec_session *s)
{
    vmsec_channel *ch = NULL;
    uint64_t peer_recvd = 0;
    bool fatal = false, sent;
    int rc = 0;
    if (s->opts.resolve && s->opts.resolve(s->opts.resolve_user, s->address, sizeof(s->address)) < 0)
        rc = VMSEC_ENOTFOUND;
    else if ((rc = vmsec_address_validate(s->address)) == 0)
        rc = open_link(s, true, reconnect_give_up(s), &ch, &peer_recvd, &fatal, &sent);
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
    vmsec_session_listener *sl = s->sl;
    int t = timeout_ms < 0 || timeout_ms > 50 ? 50 : timeout_ms;
    if (!sl || pthread_mutex_trylock(&sl->accept_lock) != 0) {
        poll(NULL, 0, t); /* another thread accepts for us */
        return 0;
    }
    struct pollfd p = {.fd = vmsec_listener_fd(sl->listener), .events = POLLIN};
    if (poll(&p, 1, t) > 0) {
        vmsec_session *fresh = NULL;
        if (vmsec__session_listener_accept_one(sl, &fresh) == 0 && fresh)
            vmsec__session_listener_keep(sl, fresh);
    }
    pthread_mutex_unlock(&sl->accept_lock);
    return 0;
}
