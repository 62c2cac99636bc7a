/* SPDX-License-Identifier: ISC */
/* The accepting side's table of sessions (vmsec_session_listener): a connection either opens a new
 * session or, once its resume is verified (same peer key, proof of the session secret over this
 * channel's handshake hash), is handed to the session it resumes. A blocking listener runs each
 * connection's opening exchange in the call that accepts it; a non-blocking one advances them all
 * step by step (session_pending.c). */
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

int vmsec_session_listener_new(vmsec_session_listener **out, const vmsec_channel_config *cfg,
                               vmsec_listener *listener, const vmsec_session_options *opts)
{
    vmsec_session_listener *sl;
    vmsec_session *probe;
    int rc;
    if (!out || !cfg || !listener)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_listener_new: NULL argument");
    *out = NULL;
    /* the options are checked once, here, by making a session that is never used */
    if ((rc = vmsec__session_new(&probe, cfg, opts, VMSEC_ROLE_RESPONDER)) < 0)
        return rc;
    vmsec_session_free(probe);
    if (!(sl = calloc(1, sizeof(*sl))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory allocating a session listener");
    if ((rc = vmsec__channel_config_copy(&sl->cfg, cfg)) < 0) {
        free(sl);
        return rc;
    }
    sl->cfg.export_secret = true;
    if (opts)
        sl->opts = *opts;
    else
        vmsec_session_options_init(&sl->opts, VMSEC_SESSION_OPTIONS_VERSION);
    sl->listener = listener;
    sl->conns = sl->wake = sl->epfd = -1;
    atomic_init(&sl->nonblock, false);
    if ((rc = vmsec__pending_init(sl)) < 0) {
        vmsec__channel_config_clear(&sl->cfg);
        free(sl);
        return rc;
    }
    pthread_mutex_init(&sl->lock, NULL);
    pthread_mutex_init(&sl->accept_lock, NULL);
    *out = sl;
    return 0;
}

void vmsec_session_listener_free(vmsec_session_listener *sl)
{
    if (!sl)
        return;
    pthread_mutex_lock(&sl->lock);
    for (vmsec_session *s = sl->head; s; s = s->sl_next)
        s->sl = NULL;
    sl->head = NULL;
    pthread_mutex_unlock(&sl->lock);
    for (size_t i = 0; i < sl->nfresh; i++)
        vmsec_session_free(sl->fresh[i]);
    free(sl->fresh);
    vmsec__pending_fini(sl);
    pthread_mutex_destroy(&sl->lock);
    pthread_mutex_destroy(&sl->accept_lock);
    vmsec__channel_config_clear(&sl->cfg);
    free(sl);
}

void vmsec__session_listener_remove(vmsec_session *s)
{
    vmsec_session_listener *sl = s->sl;
    if (!sl)
        return;
    pthread_mutex_lock(&sl->lock);
    if (s->sl_prev)
        s->sl_prev->sl_next = s->sl_next;
    else
        sl->head = s->sl_next;
    if (s->sl_next)
        s->sl_next->sl_prev = s->sl_prev;
    s->sl = NULL;
    pthread_mutex_unlock(&sl->lock);
}

void vmsec__session_listener_keep(vmsec_session_listener *sl, vmsec_session *s)
{
    pthread_mutex_lock(&sl->lock);
    if (sl->nfresh == sl->fresh_cap) {
        size_t cap = sl->fresh_cap ? 2 * sl->fresh_cap : 4;
        vmsec_session **p = realloc(sl->fresh, cap * sizeof(*p));
        if (!p) {
            pthread_mutex_unlock(&sl->lock);
            vmsec_session_free(s); /* its peer sees a lost link and, resuming, "unknown session" */
            return;
        }
        sl->fresh = p;
        sl->fresh_cap = cap;
    }
    sl->fresh[sl->nfresh++] = s;
    if (sl->nfresh == 1)
        vmsec__pending_wake(sl, true); /* an event loop polling the listener takes it */
    pthread_mutex_unlock(&sl->lock);
}

static vmsec_session *find(vmsec_session_listener *sl, const uint8_t *id)
{
    for (vmsec_session *s = sl->head; s; s = s->sl_next)
        if (!memcmp(s->id, id, VMSEC_SESSION_ID_BYTES))
            return s;
    return NULL;
}

static int refuse_unknown(vmsec_channel *ch, const struct vmsec__sframe *f, int64_t deadline);

/* An answer to a HELLO, flushed within deadline; with VMSEC__NO_WAIT, written as far as the socket
 * takes it now: the rest of a WELCOME goes out with the session's own calls (its channel has output
 * pending), the rest of an UNKNOWN is dropped with its channel. */
static int answer(vmsec_channel *ch, const struct vmsec__sframe *f, int64_t deadline)
{
    uint8_t buf[SF_MAX_CONTROL];
    int rc;
    if (deadline != VMSEC__NO_WAIT)
        return vmsec__session_write_frame(ch, f, deadline);
    /* a channel just out of its handshake has room for a control frame: VMSEC_EAGAIN is a failure */
    if ((rc = vmsec_channel_send(ch, buf, vmsec__sframe_write(buf, f), 0)) < 0)
        return rc;
    rc = vmsec_channel_flush(ch);
    return rc == VMSEC_EAGAIN ? 0 : rc;
}

/* HELLO_NEW: a session with the id the peer chose, then WELCOME. An id this side already holds is
 * refused with UNKNOWN before anything else, so that the session of that name is neither reset nor
 * taken over; accept_lock keeps the id free until the new session is in the table. */
static int open_session(vmsec_session_listener *sl, vmsec_channel *ch, const struct vmsec__sframe *f,
                        int64_t deadline, vmsec_session **out)
{
    struct vmsec__sframe w = {.type = SF_WELCOME};
    uint8_t h[VMSEC_HANDSHAKE_HASH_MAX];
    vmsec_session *s;
    size_t hlen;
    bool taken;
    int rc;
    pthread_mutex_lock(&sl->lock);
    taken = find(sl, f->id) != NULL;
    pthread_mutex_unlock(&sl->lock);
    if (taken) {
        refuse_unknown(ch, f, deadline);
        return vmsec__error(VMSEC_EPROTO, "session: a new session with the id of an existing one refused");
    }
    if ((rc = vmsec__session_new(&s, &sl->cfg, &sl->opts, VMSEC_ROLE_RESPONDER)) < 0) {
        vmsec_channel_free(ch);
        return rc;
    }
    memcpy(s->id, f->id, VMSEC_SESSION_ID_BYTES);
    if ((rc = vmsec__session_start(s, ch)) < 0 || (rc = vmsec__session_hash(ch, h, &hlen)) < 0) {
        if (!s->ch)
            vmsec_channel_free(ch);
        vmsec_session_free(s);
        return rc;
    }
    memcpy(w.id, s->id, VMSEC_SESSION_ID_BYTES);
    vmsec__session_proof(w.proof, s->secret, s->id, VMSEC_ROLE_RESPONDER, h, hlen);
    if ((rc = answer(ch, &w, deadline)) < 0) {
        vmsec_session_free(s);
        return rc;
    }
    vmsec__channel_trim(ch); /* the opening exchange grew its buffers: an idle session keeps none */
    pthread_mutex_lock(&sl->lock);
    if (find(sl, s->id)) {
        pthread_mutex_unlock(&sl->lock);
        vmsec_session_free(s);
        return vmsec__error(VMSEC_EPROTO, "session: a new session with the id of an existing one");
    }
    s->sl = sl;
    s->sl_next = sl->head;
    if (sl->head)
        sl->head->sl_prev = s;
    sl->head = s;
    pthread_mutex_unlock(&sl->lock);
    *out = s;
    return 0;
}

/* Says "unknown session" to a peer that wants to resume one this side does not know. */
static int refuse_unknown(vmsec_channel *ch, const struct vmsec__sframe *f, int64_t deadline)
{
    struct vmsec__sframe u = {.type = SF_UNKNOWN};
    memcpy(u.id, f->id, VMSEC_SESSION_ID_BYTES);
    if (answer(ch, &u, deadline) == 0)
        vmsec_channel_close(ch); /* non-blocking: as far as the socket takes it */
    vmsec_channel_free(ch);
    return vmsec__error(VMSEC_ESESSIONLOST, "a peer asked to resume a session this side does not know "
                                            "(lost with an earlier process?)");
}

/* HELLO_RESUME: the same peer key and its proof over this channel, then the session takes over. */
static int resume_session(vmsec_session_listener *sl, vmsec_channel *ch, const struct vmsec__sframe *f,
                          int64_t deadline)
{
    uint8_t h[VMSEC_HANDSHAKE_HASH_MAX], key[VMSEC_KEY_BYTES], want[SF_PROOF_LEN];
    size_t hlen;
    vmsec_session *s;
    if (vmsec__session_hash(ch, h, &hlen) < 0 || vmsec_channel_peer_key(ch, key, sizeof(key)) < 0) {
        vmsec_channel_free(ch);
        return VMSEC_EINTERNAL;
    }
    pthread_mutex_lock(&sl->lock);
    if (!(s = find(sl, f->id))) {
        pthread_mutex_unlock(&sl->lock);
        return refuse_unknown(ch, f, deadline);
    }
    vmsec__session_proof(want, s->secret, s->id, VMSEC_ROLE_INITIATOR, h, hlen);
    if (sodium_memcmp(key, s->peer_key, sizeof(key)) || sodium_memcmp(want, f->proof, SF_PROOF_LEN)) {
        bool other = sodium_memcmp(key, s->peer_key, sizeof(key)) != 0;
        pthread_mutex_unlock(&sl->lock);
        vmsec_channel_free(ch); /* no answer: the session goes on, untouched */
        return vmsec__error(VMSEC_EAUTH, "a resume of a known session refused: %s",
                            other ? "another peer key than the session's" : "wrong proof of the session secret");
    }
    vmsec_channel_free(s->pending);
    s->pending = ch;
    s->pending_recvd = f->ack;
    pthread_mutex_unlock(&sl->lock);
    return 0;
}

int vmsec__session_listener_hello(vmsec_session_listener *sl, vmsec_channel *ch, const struct vmsec__sframe *f,
                                  int64_t deadline, vmsec_session **out)
{
    *out = NULL;
    if (f->type == SF_HELLO_NEW)
        return open_session(sl, ch, f, deadline, out);
    return resume_session(sl, ch, f, deadline);
}

int vmsec__session_listener_take(vmsec_session_listener *sl, vmsec_channel **ch, int *fd, int64_t *deadline)
{
    unsigned int timeout = vmsec__session_handshake_timeout(&sl->cfg);
    int rc, fl;
    if ((rc = vmsec_listener_accept(sl->listener, fd, NULL, 0, NULL)) < 0)
        return rc;
    *deadline = vmsec__session_now() + timeout;
    if (sl->opts.accepted && (rc = sl->opts.accepted(sl->opts.accepted_user, *fd, timeout)) < 0) {
        close(*fd);
        return vmsec__error(rc, "session listener: the accepted connection was refused: %s", vmsec_error_last());
    }
    if ((fl = fcntl(*fd, F_GETFL)) < 0 || fcntl(*fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(*fd);
        return vmsec__error_errno(VMSEC_EIO, errno, "session listener: O_NONBLOCK");
    }
    if ((rc = vmsec_channel_new(ch, &sl->cfg, *fd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD)) < 0) {
        close(*fd);
        return rc;
    }
    return 0;
}

/* The accept of a listener not in non-blocking mode: the opening exchange runs in the call. */
static int accept_in_call(vmsec_session_listener *sl, vmsec_session **out)
{
    struct vmsec__sframe f;
    vmsec_channel *ch;
    int64_t deadline;
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd, rc;
    *out = NULL;
    if ((rc = vmsec__session_listener_take(sl, &ch, &fd, &deadline)) < 0)
        return rc;
    if ((rc = vmsec__session_handshake(ch, deadline)) < 0 ||
        (rc = vmsec__session_read_frame(ch, deadline, &buf, &len)) < 0 || (rc = vmsec__sframe_parse(buf, len, &f)) < 0)
        goto fail;
    free(buf);
    if (f.type == SF_HELLO_NEW || f.type == SF_HELLO_RESUME)
        return vmsec__session_listener_hello(sl, ch, &f, deadline, out);
    rc = vmsec__error(VMSEC_EPROTO, "session: frame type 0x%02x where HELLO was due", f.type);
    buf = NULL;
fail:
    free(buf);
    vmsec_channel_free(ch);
    return rc;
}

int vmsec__session_listener_accept_one(vmsec_session_listener *sl, vmsec_session **out)
{
    if (vmsec__pending_mode(sl))
        return vmsec__pending_accept(sl, out);
    return accept_in_call(sl, out);
}

int vmsec__session_listener_wait(vmsec_session_listener *sl, int timeout_ms)
{
    vmsec_session *fresh = NULL;
    struct pollfd p = {.events = POLLIN};
    int rc;
    if (vmsec__pending_mode(sl)) {
        /* accept_lock is only held while connections are advanced, never across this wait */
        p.fd = sl->conns;
        if (poll(&p, 1, timeout_ms) <= 0)
            return 0;
        pthread_mutex_lock(&sl->accept_lock);
    } else {
        if (pthread_mutex_trylock(&sl->accept_lock) != 0) {
            poll(NULL, 0, timeout_ms); /* another thread accepts for us */
            return 0;
        }
        p.fd = vmsec_listener_fd(sl->listener);
        if (poll(&p, 1, timeout_ms) <= 0) {
            pthread_mutex_unlock(&sl->accept_lock);
            return 0;
        }
    }
    if ((rc = vmsec__session_listener_accept_one(sl, &fresh)) == 0 && fresh)
        vmsec__session_listener_keep(sl, fresh);
    pthread_mutex_unlock(&sl->accept_lock);
    return 0;
}

int vmsec_session_listener_accept(vmsec_session_listener *sl, vmsec_session **out)
{
    int rc;
    if (!sl || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_listener_accept: NULL argument");
    *out = NULL;
    pthread_mutex_lock(&sl->lock);
    if (sl->nfresh) {
        *out = sl->fresh[0];
        memmove(sl->fresh, sl->fresh + 1, --sl->nfresh * sizeof(*sl->fresh));
        if (!sl->nfresh)
            vmsec__pending_wake(sl, false);
        pthread_mutex_unlock(&sl->lock);
        return 0;
    }
    pthread_mutex_unlock(&sl->lock);
    pthread_mutex_lock(&sl->accept_lock);
    rc = vmsec__session_listener_accept_one(sl, out);
    pthread_mutex_unlock(&sl->accept_lock);
    return rc;
}

int vmsec_session_listener_fd(const vmsec_session_listener *sl)
{
    return sl ? sl->epfd : -1;
}

int vmsec_session_listener_next_timeout_ms(vmsec_session_listener *sl)
{
    int64_t due, left;
    bool fresh;
    if (!sl)
        return -1;
    pthread_mutex_lock(&sl->lock);
    fresh = sl->nfresh != 0;
    pthread_mutex_unlock(&sl->lock);
    if (fresh)
        return 0;
    if (!vmsec__pending_mode(sl))
        return -1; /* nothing is pending: each accept runs its exchange to its end */
    pthread_mutex_lock(&sl->accept_lock);
    due = vmsec__pending_due(sl);
    pthread_mutex_unlock(&sl->accept_lock);
    if (due == INT64_MAX)
        return -1;
    left = due - vmsec__session_now();
    return left <= 0 ? 0 : left >= INT_MAX ? INT_MAX : (int)left + 1; /* + 1: past the deadline, not on it */
}

int vmsec_session_listener_set_nonblocking(vmsec_session_listener *sl, int nonblocking)
{
    int fd, fl;
    if (!sl)
        return vmsec__error(VMSEC_EINVAL, "vmsec_session_listener_set_nonblocking: NULL argument");
    pthread_mutex_lock(&sl->accept_lock);
    fd = vmsec_listener_fd(sl->listener);
    if (nonblocking && ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
        pthread_mutex_unlock(&sl->accept_lock);
        return vmsec__error_errno(VMSEC_EIO, errno, "session listener: O_NONBLOCK on the listening socket");
    }
    if (!nonblocking)
        vmsec__pending_drop(sl);
    atomic_store(&sl->nonblock, nonblocking != 0);
    pthread_mutex_unlock(&sl->accept_lock);
    return 0;
}

size_t vmsec_session_listener_pending_max(void)
{
    return VMSEC_SESSION_PENDING_MAX;
}
