/* SPDX-License-Identifier: ISC */
/* Private to the session layer (lib/channel/session*.c): the frame codec of doc/SESSIONS.md, the
 * session's state and what the session and its listener share. */
#ifndef VMSEC_SESSION_INTERNAL_H
#define VMSEC_SESSION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel/channel_internal.h"
#include "channel/session_ring.h"
#include "channel/transport_internal.h"
#include "common/internal.h"
#include "vmsec/session.h"

/* Frame types: the first byte of every channel message of a session (doc/SESSIONS.md). */
enum {
    SF_HELLO_NEW = 0x01,
    SF_HELLO_RESUME = 0x02,
    SF_WELCOME = 0x03,
    SF_UNKNOWN = 0x04,
    SF_DATA = 0x05,
    SF_ACK = 0x06,
    SF_CLOSE = 0x07,
};
#define SF_VERSION 1
#define SF_PROOF_LEN 32
#define SF_SECRET_LEN 32
#define SF_HDR VMSEC_SESSION_OVERHEAD /* type, seq, ack: DATA and CLOSE */
#define SF_MAX_CONTROL 64             /* every frame but DATA fits */

/* A parsed frame. Fields a type does not carry are zero; data points into the parsed buffer. */
struct vmsec__sframe {
    uint8_t type;
    uint8_t id[VMSEC_SESSION_ID_BYTES];
    uint64_t seq, ack; /* HELLO_RESUME and WELCOME carry the last sequence received in ack */
    uint8_t proof[SF_PROOF_LEN];
    const uint8_t *data;
    size_t len;
};

/* Parses one frame; VMSEC_EPROTO (naming the defect) for anything malformed. */
int vmsec__sframe_parse(const uint8_t *buf, size_t len, struct vmsec__sframe *f);
/* Writes a frame's header (all of it but a DATA frame's payload) into out (SF_MAX_CONTROL bytes);
 * returns its length. */
size_t vmsec__sframe_write(uint8_t *out, const struct vmsec__sframe *f);
void vmsec__put_u64(uint8_t *p, uint64_t v);
uint64_t vmsec__get_u64(const uint8_t *p);

/* The session secret from a first channel's exporter, and a side's resume proof over a channel's
 * handshake hash (doc/SESSIONS.md, section 3). */
void vmsec__session_derive(uint8_t secret[SF_SECRET_LEN], const uint8_t *exporter,
                           const uint8_t id[VMSEC_SESSION_ID_BYTES]);
void vmsec__session_proof(uint8_t proof[SF_PROOF_LEN], const uint8_t secret[SF_SECRET_LEN],
                          const uint8_t id[VMSEC_SESSION_ID_BYTES], vmsec_role role, const uint8_t *hhash,
                          size_t hlen);

/* A sent message kept until acknowledged: the whole DATA (or CLOSE) frame, ack patched when sent. */
struct sq_entry {
    struct sq_entry *next;
    uint64_t seq;
    size_t len, cap; /* cap: the allocation's size (session.c recycles large ones); 0: in the ring */
    uint8_t frame[];
};

/* A received message waiting for vmsec_session_recv (payload at frame + SF_HDR). */
struct rq_entry {
    struct rq_entry *next;
    bool close; /* the peer's CLOSE: delivering it ends the session */
    size_t len, cap;
    uint8_t frame[];
};

enum link_state { LINK_UP, LINK_DOWN };

/* The connecting side's attempt to open a link (session_link.c), one step at a time. */
enum attempt_step {
    AT_NONE,       /* no attempt under way */
    AT_DIAL,       /* to start: the dial hook, or a connect */
    AT_CONNECT,    /* a non-blocking connect in progress */
    AT_HANDSHAKE,  /* the channel's handshake */
    AT_HELLO,      /* HELLO_NEW or HELLO_RESUME to send */
    AT_WELCOME,    /* the HELLO to flush, then the peer's WELCOME to read */
};

struct vmsec__attempt {
    enum attempt_step step;
    bool resume;     /* HELLO_RESUME, else HELLO_NEW */
    bool sent;       /* a HELLO_NEW went out: the peer may hold the session from then on */
    bool fatal;      /* the attempt failed with a session-level refusal, not worth retrying */
    int64_t deadline; /* when the attempt ends, failed (VMSEC_ETIMEDOUT) */
    struct vmsec__connector conn; /* AT_CONNECT */
    vmsec_channel *ch;            /* from AT_HANDSHAKE on */
    uint64_t peer_recvd;          /* the WELCOME's received */
};

struct vmsec_session {
    vmsec_role role;
    struct vmsec_channel_config cfg; /* own copy, export_secret set */
    vmsec_session_options opts;
    uint8_t id[VMSEC_SESSION_ID_BYTES];
    uint8_t *secret; /* guarded, SF_SECRET_LEN */
    uint8_t peer_key[VMSEC_KEY_BYTES];
    char address[VMSEC_ADDRESS_MAX];
    bool nonblock;
    int fail_code; /* once non-zero every call repeats it */
    char fail_msg[256];
    /* the link */
    vmsec_channel *ch;
    enum link_state link;
    uint64_t links;
    int64_t down_since, next_attempt;
    unsigned int backoff_ms;
    struct vmsec__attempt *at; /* connecting side: the link being opened, NULL when none */
    /* sending: seq of the next message, highest acknowledged, highest written to this channel */
    uint64_t next_seq, acked, sent_upto;
    struct sq_entry *sq_head, *sq_tail, *sq_unsent;
    size_t sq_bytes, sq_count;
    struct vmsec__sring ring; /* where they are kept once many bytes are in flight (session.c) */
    uint64_t close_seq; /* our CLOSE's seq, 0 before vmsec_session_close() */
    bool close_done;
    /* receiving: highest seq received, highest delivered, highest acknowledged to the peer */
    uint64_t recvd, delivered, ack_sent;
    int64_t ack_due; /* 0: no acknowledgement owed */
    size_t unacked_bytes; /* frame bytes delivered since the last acknowledgement sent */
    struct rq_entry *rq_head, *rq_tail;
    size_t rq_bytes;
    /* freed message buffers kept for the next ones (session.c, buf_get) */
    struct vmsec__spare *pool;
    size_t pool_bytes;
    bool in_recv; /* the pump runs for vmsec_session_recv(): read only a little ahead */
    /* ... and while its queue is empty, the next message in order goes straight into its buffer */
    uint8_t *direct_buf;
    size_t direct_cap, *direct_len;
    bool direct_done;
    bool peer_closed; /* the peer's CLOSE was delivered */
    bool finished;    /* ... and then its channel ended with close_notify */
    /* accepting side */
    struct vmsec_session_listener *sl; /* NULL once the listener is freed */
    struct vmsec_session *sl_next, *sl_prev;
    vmsec_channel *pending; /* a verified resume, handed over by the listener (sl->lock) */
    uint64_t pending_recvd;
};

/* A connection accepted by a non-blocking session listener whose opening exchange is under way
 * (session_pending.c). */
struct vmsec__pending_conn {
    vmsec_channel *ch;
    int fd;           /* the channel's */
    int64_t deadline; /* accepted + the handshake timeout */
    bool hello;       /* the handshake is done: the HELLO is due */
    uint32_t events;  /* registered in the listener's connection set */
};

struct vmsec_session_listener {
    struct vmsec_channel_config cfg;
    vmsec_session_options opts;
    vmsec_listener *listener;
    pthread_mutex_t lock;        /* the table and every session's pending slot */
    pthread_mutex_t accept_lock; /* one accept at a time: a waiting session may accept too */
    struct vmsec_session *head;
    /* new sessions accepted by a waiting session, for the next vmsec_session_listener_accept */
    struct vmsec_session **fresh;
    size_t nfresh, fresh_cap;
    /* non-blocking mode (vmsec_session_listener_set_nonblocking, session_pending.c): conns, an epoll set of the listening socket and
     * every pending connection, is what a waiting session polls; epfd, given to event loops, holds
     * conns and wake, an eventfd readable while fresh sessions wait (sl->lock) */
    atomic_bool nonblock;
    int conns, wake, epfd;
    struct vmsec__pending_conn pend[VMSEC_SESSION_PENDING_MAX]; /* oldest first (accept_lock) */
    size_t npend;
    bool accept_rest; /* accept(2) failed (VMSEC_EIO): the next call does not accept */
    int deferred;     /* a failure to accept that a call returning a session could not report */
    char deferred_msg[256];
};

/* Written where a deadline is due: write what the socket takes now and wait for nothing. */
#define VMSEC__NO_WAIT INT64_MIN

/* session_listener.c: one connection taken from the kernel's queue: the accepted hook (blocking by
 * its contract), then a non-blocking responder channel over it (*fd, the channel's); *deadline:
 * when its opening exchange must be done. VMSEC_EAGAIN when none is queued on a non-blocking
 * listening socket. */
int vmsec__session_listener_take(vmsec_session_listener *sl, vmsec_channel **ch, int *fd, int64_t *deadline);
/* Accepts one connection, under accept_lock. *out: a new session or NULL.
 * In non-blocking mode it advances the pending connections instead (session_pending.c). */
int vmsec__session_listener_accept_one(vmsec_session_listener *sl, vmsec_session **out);
/* A connection's HELLO: a new session (*out) or a verified resume handed over (*out NULL); the
 * channel is consumed in every case. deadline: for the answer, or VMSEC__NO_WAIT. */
int vmsec__session_listener_hello(vmsec_session_listener *sl, vmsec_channel *ch, const struct vmsec__sframe *f,
                                  int64_t deadline, vmsec_session **out);
/* A blocking session's wait for its resume: accepts on the listener itself, at most timeout_ms. */
int vmsec__session_listener_wait(vmsec_session_listener *sl, int timeout_ms);

/* session_pending.c: a non-blocking listener's pending handshakes. */
int vmsec__pending_init(vmsec_session_listener *sl);
void vmsec__pending_fini(vmsec_session_listener *sl);
/* The listener is in non-blocking mode. */
bool vmsec__pending_mode(const vmsec_session_listener *sl);
/* Accepts what is queued, advances every pending connection, under accept_lock: 0 with a new
 * session or NULL (a resume handed over), VMSEC_EAGAIN, or one connection's failure. */
int vmsec__pending_accept(vmsec_session_listener *sl, vmsec_session **out);
/* The earliest pending deadline, INT64_MAX without any (accept_lock). */
int64_t vmsec__pending_due(const vmsec_session_listener *sl);
/* Closes every pending connection (accept_lock). */
void vmsec__pending_drop(vmsec_session_listener *sl);
/* The wake eventfd, under sl->lock: raised while sessions wait in fresh, lowered once none does. */
void vmsec__pending_wake(vmsec_session_listener *sl, bool raise);
void vmsec__session_listener_remove(vmsec_session *s);
/* A new session accepted by a waiting session, kept for the next vmsec_session_listener_accept. */
void vmsec__session_listener_keep(vmsec_session_listener *sl, vmsec_session *s);

/* session.c */
int vmsec__session_fail(vmsec_session *s, int code, const char *fmt, ...) VMSEC_PRINTF(3, 4);
void vmsec__session_link_lost(vmsec_session *s, int rc);
unsigned int vmsec__session_jitter(unsigned int ms);
/* The peer received every message up to ack (VMSEC_EPROTO if ack was never sent). */
int vmsec__session_acked(vmsec_session *s, uint64_t ack);
/* Resend every message the peer has not acknowledged, from the oldest. */
void vmsec__session_rewind(vmsec_session *s);
int vmsec__session_pump(vmsec_session *s);
/* session_link.c: the connecting side's reconnect attempt, the accepting side's take-over of a
 * resume its listener verified, and the accepting side's blocking wait for one. A reconnect
 * attempt advances as far as it can without waiting (non-blocking mode) or runs to its end. */
int vmsec__session_reconnect(vmsec_session *s);
/* A link's handshake timeout: the configuration's, or the channel default when it has none. */
unsigned int vmsec__session_handshake_timeout(const struct vmsec_channel_config *cfg);
/* An attempt under way: what to poll for (-1 / 0 / 0 when none), when it must be called again. */
int vmsec__session_attempt_fd(const vmsec_session *s);
short vmsec__session_attempt_events(const vmsec_session *s);
int64_t vmsec__session_attempt_due(const vmsec_session *s);
/* Abandons an attempt under way (its descriptor is closed). */
void vmsec__session_attempt_clear(vmsec_session *s);
int vmsec__session_take_pending(vmsec_session *s);
int vmsec__session_wait_resume(vmsec_session *s, int timeout_ms);
/* Installs a new link after a verified resume; peer_recvd: what the peer said it received. */
int vmsec__session_install(vmsec_session *s, vmsec_channel *ch, uint64_t peer_recvd);
int64_t vmsec__session_now(void);
int vmsec__session_new(vmsec_session **out, const struct vmsec_channel_config *cfg,
                       const vmsec_session_options *opts, vmsec_role role);
/* The peer key and the secret from a session's first channel, once its handshake is done. */
int vmsec__session_keys(vmsec_session *s, vmsec_channel *ch);
/* The accepting side's first channel: the keys, then the channel becomes the session's link. */
int vmsec__session_start(vmsec_session *s, vmsec_channel *ch);
/* Reads one frame from a channel within deadline (ms, monotonic); *buf is malloc'd. */
int vmsec__session_read_frame(vmsec_channel *ch, int64_t deadline, uint8_t **buf, size_t *len);
/* Writes a control frame and flushes it within deadline. */
int vmsec__session_write_frame(vmsec_channel *ch, const struct vmsec__sframe *f, int64_t deadline);
/* Runs the handshake of a non-blocking channel within deadline. */
int vmsec__session_handshake(vmsec_channel *ch, int64_t deadline);
int vmsec__session_hash(vmsec_channel *ch, uint8_t *h, size_t *hlen);

#endif
