/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: the relay's in-memory state (the relay object, its listeners, the sources
 * of requests and the sessions), shared by the files that make up the relay. */
#ifndef VMSEC_RELAY_CORE_H
#define VMSEC_RELAY_CORE_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "relay/relay_internal.h"
#include "vmsec/policy.h"
#include "vmsec/relay.h"

/* Counters are written by the loop thread and may be read from any thread (vmsec_relay_stat). */
#define STAT_ADD(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define STAT_SUB(field, n) __atomic_sub_fetch(&(field), (n), __ATOMIC_RELAXED)
/* Limits may be changed from any thread (vmsec_relay_set_limit) while the loop reads them. */
#define LIM(r, which) __atomic_load_n(&(r)->lim[(which)], __ATOMIC_RELAXED)

enum ep_kind { EP_WAKE, EP_LISTENER, EP_CLIENT, EP_TARGET, EP_LINK /* relay_link.c */ };
enum sess_state { S_REQUEST, S_CONNECTING, S_FORWARD, S_DEAD };

struct endpoint {
    enum ep_kind kind;
    int fd;
    uint32_t events;  /* interest currently registered (0: not in the epoll set) */
    void *owner;      /* struct session or struct listener */
};

struct listener {
    struct endpoint ep;
    bool vsock;
    char *path;   /* unix socket file to remove on free */
    char *domain; /* identity of unix callers */
    int64_t resume_at; /* paused after running out of descriptors; 0 = listening */
    bool link;   /* federation: accepts other relays' links (relay_link.c) */
    bool remote; /* federation: not listening; its callers are a link's, named by domain */
    struct listener *next;
};

struct source {
    char domain[VMSEC_POLICY_NAME_MAX + 1];
    unsigned int pending;    /* REQUEST + CONNECTING */
    unsigned int connecting; /* CONNECTING only (counts against the per-source active limit) */
    unsigned int active;     /* FORWARD */
    struct source *next;
};

/* One direction of a forwarding session. Bytes move through a kernel pipe with splice(2) (never
 * copied to user space), or, where a socket cannot splice or no pipe could be made, through data.
 * data also carries the relay's own header (origin or reply), sent before anything in the pipe.
 * Either way at most the session's cap bytes are held. */
struct pipebuf {
    uint8_t *data;
    size_t start, end;
    bool eof;     /* the reading side reached end of stream */
    bool shut;    /* the eof was propagated with shutdown(SHUT_WR) */
    bool piped;   /* the pipe is in use (else data holds cap bytes) */
    int pipe[2];  /* read end, write end (valid while piped) */
    size_t inpipe; /* bytes in the pipe */
};

struct session {
    struct endpoint cli, tgt;
    enum sess_state state;
    uint64_t id;
    struct source *src;
    uint32_t cid;
    char domain[VMSEC_POLICY_NAME_MAX + 1];
    /* Who the directory said the source and the target are (UUID, CID, generation), checked
     * again right before forwarding; have_* false for unix callers and injected callbacks. */
    struct relay_ident sid, tid;
    bool have_sid, have_tid;
    char target[VMSEC_POLICY_NAME_MAX + 1];
    char service[VMSEC_POLICY_SERVICE_MAX + 1];
    uint8_t req[RELAY_REQ_MAX];
    size_t reqlen;
    struct pipebuf c2t, t2c;
    size_t cap; /* size of each pipebuf, fixed when forwarding starts */
    uint64_t bytes_c2t, bytes_t2c;
    int64_t started; /* when the caller connected (vmsec__relay_now_ms) */
    int64_t deadline; /* request/connect deadline, or idle deadline (0: none) */
    struct relay_link *link; /* federation: the link carrying this session, or NULL */
    struct session *prev, *next;
};

/* Refusal records allowed per source and interval before the rest are only counted, the
 * interval, and the number of sources tracked (least recently refused evicted first); see
 * relay_audit.c and doc/RELAY.md, "Audit records". */
#define RELAY_AUDIT_REFUSALS 10
#define RELAY_AUDIT_INTERVAL_MS 1000
#define RELAY_AUDIT_SOURCES 64

struct audit_source {
    bool used;
    uint32_t cid;
    char domain[VMSEC_POLICY_NAME_MAX + 1];
    int64_t start;       /* when the current interval began */
    int64_t last;        /* last refusal, for the LRU */
    unsigned int logged; /* refusal records written in this interval */
    uint64_t suppressed; /* refusals counted but not written in this interval */
};

struct vmsec_relay {
    int epfd;
    struct endpoint wake;
    volatile int interrupted;
    pthread_mutex_t policy_lock;
    vmsec_policy *policy;
    struct listener *listeners;
    struct session *sessions; /* live sessions */
    struct session *zombies;  /* killed during the current event batch, freed after it */
    struct source *sources;
    unsigned int nsessions;
    uint64_t next_id;
    int64_t next_scan;
    unsigned int lim[8];
    uint64_t stat_accepted, stat_denied, stat_refused, stat_bytes, stat_active, stat_pending;
    vmsec_relay_identify_fn identify;
    void *identify_user;
    vmsec_relay_connect_fn connect;
    void *connect_user;
    const struct relay_dir_ops *dir_ops; /* CID <-> domain directory (libvirt), or NULL */
    void *dir;
    unsigned int dir_resync_ms; /* vmsec_relay_set_directory_resync(), 0: the directory's default */
    relay_peer_cid_fn peer_cid; /* tests: unix callers identified by this CID (vmsec__relay_set_peer_cid) */
    int audit_fd;
    bool audit_fd_chosen; /* set by vmsec_relay_set_audit_fd(); until then a callback replaces stderr */
    int audit_file_fd;
    char *audit_path;
    bool audit_syslog;
    vmsec_relay_audit_fn audit_cb;
    void *audit_user;
    struct audit_source audit_src[RELAY_AUDIT_SOURCES];
    /* splice(2) into a socket has no MSG_NOSIGNAL: SIGPIPE is blocked on the loop's thread while
     * an event batch splices, and one it raised is taken back before the old mask returns. */
    bool sigpipe_held, sigpipe_raised, sigpipe_was_pending;
    sigset_t sigpipe_old;
    /* Federation (relay_link.c): this relay's key and link protocol, the linked relays, the
     * links open now. */
    struct vmsec_channel_config *link_cfg;
    struct relay_peer *peers;
    struct relay_link *links;
    struct relay_link *link_zombies; /* closed during the current event batch, freed after it */
};

/* Adds a listening socket (taking fd) to the relay (relay.c). */
int vmsec__relay_add_listener(vmsec_relay *r, int fd, bool vsock, const char *path, const char *domain);

/* The event loop (relay_loop.c). */
int64_t vmsec__relay_now_ms(void);
/* Makes the loop wake up by this deadline (0: none). */
void vmsec__relay_schedule(vmsec_relay *r, int64_t deadline);
/* Registers the events the loop should report for ep (0: none, the endpoint leaves the set). */
void vmsec__relay_ep_set(vmsec_relay *r, struct endpoint *ep, uint32_t want);
void vmsec__relay_ep_close(vmsec_relay *r, struct endpoint *ep);
/* Moves what is ready in a forwarding session and updates its interest: the directions that
 * events (epoll) on ep concern, or both if ep is NULL. */
void vmsec__relay_pump(vmsec_relay *r, struct session *s, const struct endpoint *ep, uint32_t events);
/* Sets up both directions of a session about to forward (s->cap bytes each); false: no memory. */
bool vmsec__relay_forward_init(vmsec_relay *r, struct session *s);
/* Releases what vmsec__relay_forward_init() set up (the session may never have reached it). */
void vmsec__relay_forward_free(struct session *s);

/* The sessions (relay_session.c). */
void vmsec__relay_session_open(vmsec_relay *r, struct listener *l, int fd);
void vmsec__relay_session_event(vmsec_relay *r, struct endpoint *ep, uint32_t events);
void vmsec__relay_session_timeout(vmsec_relay *r, struct session *s);
/* Refuses a session that has not started forwarding: status to the caller, audit, kill. */
void vmsec__relay_session_refuse(vmsec_relay *r, struct session *s, int status, const char *event,
                                 const char *reason);
/* Ends a session (audited if it was forwarding) and queues it for vmsec__relay_reap(). */
void vmsec__relay_session_kill(vmsec_relay *r, struct session *s, const char *reason);
/* Frees the sessions killed since the last call; the loop calls it after each event batch. */
void vmsec__relay_reap(vmsec_relay *r);

#endif
