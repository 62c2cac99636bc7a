/* SPDX-License-Identifier: ISC */
/* Guest test program: sessions (vmsec/session.h) over real AF_VSOCK, on the loopback transport
 * (CID 1) of the test guest (tests/guest/guest.sh).
 *
 * A session initiator and responder stream seeded pseudo-random data at each other through
 * non-blocking sessions, over vsock:1:PORT_PROXY, where a fault proxy (vsock_session_proxy.c)
 * relays to the responder on PORT_SERVER and cuts the vsock connections at seeded random byte
 * counts, in three ways. Every byte must arrive once and in order (each message is compared with
 * the regenerated stream, and each direction's FNV-1a checksum with the sender's), both ends must
 * report success (the initiator's orderly close, the responder's VMSEC_ECLOSED), and descriptors
 * must be back to their baseline. A second round does the same while the loopback transport
 * module itself is unloaded and loaded again, several times (vsock_session_module.c).
 *
 * The seed comes from the clock and is printed; the proxy's cuts follow from it, the scheduling
 * of the threads does not. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>

#include <vmsec.h>

#include "gtap.h"
#include "gvsock.h"
#include "vsock_session.h"

#define MAX_MSG 65536
#define FAULT_BYTES ((uint64_t)64 << 20) /* each way; about 20 s on one TCG vCPU */
#define FAULT_CUTS 40
#define RELOAD_BYTES ((uint64_t)24 << 20)
#define RELOADS 3
#define HANDSHAKE_TIMEOUT_MS 5000
#define GIVE_UP_MS 180000 /* an end that is not done by then fails, before the in-guest timeout */
#define TRANSPORT "vsock_loopback"
/* A non-blocking vsock connect(2), as vmsec_transport_connect() makes, holds its socket, and with
 * it the transport module, until the connect timeout (2 s by default) has passed, whatever became
 * of the connection: an initiator resuming more often than that keeps the module from ever being
 * unloaded. In the reload round it waits 2 to 4 s (equal jitter) before each attempt instead, and
 * the transport stays away longer than that, so that attempts find no transport at all. */
#define RELOAD_BACKOFF_MS 4000
#define GONE_MS 4500

static uint64_t seed;
static atomic_bool transport_gone;
/* The initiator's resume attempts in the round, and those made while the transport was unloaded. */
static atomic_uint resume_tries, tries_gone;

static int64_t now_ms(void)
{
    return (int64_t)(gt_now() * 1000);
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* ---- the two ends ---------------------------------------------------------------------------- */

struct end {
    vmsec_session *s;
    vmsec_session_listener *sl; /* responder only */
    vmsec_listener *l;
    const vmsec_channel_config *cfg;
    const char *address;
    unsigned int backoff_ms; /* initiator: a fixed reconnect backoff, 0: 5 to 50 ms */
    uint64_t total, seed_out, seed_in, rng, rng0;
    uint64_t sent, received, fnv_out, fnv_in;
    _Atomic uint64_t progress;  /* received, for the thread that reloads the transport */
    atomic_uint attempts;       /* initiator: vmsec_session_connect() calls made */
    atomic_uint *peer_attempts; /* responder: the initiator's */
    unsigned int accepted;      /* responder: sessions accepted */
    uint8_t *msg, *got, *want;
    size_t msg_len; /* a message generated and not yet accepted by the session */
    int rc;
    bool closed;
    atomic_bool done;       /* initiator: its close completed */
    atomic_bool *peer_done; /* responder: the initiator's done */
    atomic_bool finished;   /* the thread ended */
    int64_t give_up;
    pthread_t t;
};

static int failed(int rc, const char *what, uint64_t at)
{
    gt_diag("%s (byte %llu)", what, (unsigned long long)at);
    return rc;
}

static int send_some(struct end *e)
{
    int rc;
    while (e->sent < e->total) {
        if (!e->msg_len) {
            uint64_t left = e->total - e->sent;
            e->msg_len = 1 + xorshift(&e->rng) % MAX_MSG;
            if (e->msg_len > left)
                e->msg_len = (size_t)left;
            gt_fill(e->msg, e->msg_len, e->seed_out, e->sent);
        }
        if ((rc = vmsec_session_send(e->s, e->msg, e->msg_len)) == VMSEC_EAGAIN)
            return 0;
        if (rc < 0)
            return rc;
        e->fnv_out = gt_fnv(e->fnv_out, e->msg, e->msg_len);
        e->sent += e->msg_len;
        e->msg_len = 0;
    }
    return 0;
}

static int recv_some(struct end *e)
{
    size_t n;
    int rc;
    while ((rc = vmsec_session_recv(e->s, e->got, MAX_MSG, &n)) == 0) {
        if (e->received + n > e->total)
            return failed(VMSEC_EINTERNAL, "more data than was sent", e->received);
        gt_fill(e->want, n, e->seed_in, e->received);
        if (memcmp(e->got, e->want, n))
            return failed(VMSEC_EINTERNAL, "corrupted, lost or repeated data", e->received);
        e->fnv_in = gt_fnv(e->fnv_in, e->got, n);
        e->received += n;
        atomic_store(&e->progress, e->received);
    }
    if (rc == VMSEC_ECLOSED)
        e->closed = true;
    return rc == VMSEC_EAGAIN || rc == VMSEC_ECLOSED ? 0 : rc;
}

/* The initiator's first link can be cut after the responder accepted its session but before the
 * initiator read the WELCOME: its connect call failed, and it calls again, for a new session (doc/
 * SESSIONS.md, section 5). Only a session that never received a byte may be replaced so, and only
 * by a session from another of the initiator's connect calls; anything else is an error. */
static int take_fresh(struct end *e, vmsec_session *fresh)
{
    if (e->received || ++e->accepted > atomic_load(e->peer_attempts)) {
        vmsec_session_free(fresh);
        return failed(VMSEC_EPROTO, "a second session was opened", e->received);
    }
    gt_diag("the initiator's session %u never reached it: the responder takes the next", e->accepted - 1);
    vmsec_session_free(e->s);
    e->s = fresh;
    vmsec_session_set_nonblocking(e->s, 1);
    e->rng = e->rng0;
    e->sent = e->received = e->msg_len = 0;
    e->fnv_out = e->fnv_in = GT_FNV_INIT;
    e->closed = false;
    return 0;
}

/* One turn of an end's event loop; 1 when its part is done. */
static int turn(struct end *e, bool server)
{
    struct pollfd f[2] = {{.fd = vmsec_session_fd(e->s), .events = vmsec_session_poll_events(e->s)},
                          {.fd = server ? vmsec_listener_fd(e->l) : -1, .events = POLLIN}};
    int rc, t = vmsec_session_next_timeout_ms(e->s);
    poll(f, 2, t < 0 || t > 100 ? 100 : t);
    if (now_ms() > e->give_up)
        return failed(VMSEC_ETIMEDOUT, server ? "responder gave up" : "initiator gave up", e->received);
    if (server && (f[1].revents & POLLIN)) {
        vmsec_session *fresh = NULL;
        if (vmsec_session_listener_accept(e->sl, &fresh) == 0 && fresh)
            return take_fresh(e, fresh);
    }
    if ((rc = vmsec_session_tick(e->s)) < 0 || (rc = send_some(e)) < 0 || (rc = recv_some(e)) < 0)
        return rc;
    if (e->sent < e->total || e->received < e->total)
        return 0;
    /* The responder, once it delivered the close, keeps its session running until the initiator
     * ended the link (the descriptor is then -1) or is done: a cut may have eaten the
     * acknowledgement of the close, which the initiator then resumes to learn. */
    if (server)
        return e->closed && (vmsec_session_fd(e->s) < 0 || atomic_load(e->peer_done));
    rc = vmsec_session_close(e->s);
    if (rc == 0)
        atomic_store(&e->done, true);
    return rc == 0 ? 1 : rc == VMSEC_EAGAIN ? 0 : rc;
}

/* The first session: the initiator retries (the proxy may cut its first connections too); the
 * responder polls its listener, so that neither can block past its give-up time. */
static int open_session(struct end *e, bool server, const vmsec_session_options *o)
{
    int rc;
    do {
        if (server) {
            struct pollfd p = {.fd = vmsec_listener_fd(e->l), .events = POLLIN};
            if (poll(&p, 1, 100) > 0 && (rc = vmsec_session_listener_accept(e->sl, &e->s)) == 0 && e->s)
                return 0;
        } else {
            atomic_fetch_add(&e->attempts, 1);
            if ((rc = vmsec_session_connect(&e->s, e->cfg, e->address, o)) == 0)
                return 0;
        }
    } while (now_ms() < e->give_up);
    return failed(VMSEC_ETIMEDOUT, server ? "no session accepted" : "no session opened", 0);
}

/* Called before each of the initiator's resume attempts: counts those that will find no transport. */
static int count_attempt(void *user, char *address, size_t cap)
{
    (void)user, (void)address, (void)cap;
    atomic_fetch_add(&resume_tries, 1);
    if (atomic_load(&transport_gone))
        atomic_fetch_add(&tries_gone, 1);
    return 0;
}

static void *end_run(void *arg)
{
    struct end *e = arg;
    bool server = e->sl != NULL;
    vmsec_session_options o;
    vmsec_session_options_init(&o, VMSEC_SESSION_OPTIONS_VERSION);
    o.backoff_initial_ms = e->backoff_ms ? e->backoff_ms : 5;
    o.backoff_max_ms = e->backoff_ms ? e->backoff_ms : 50;
    o.ack_delay_ms = 5;
    o.resolve = count_attempt;
    if ((e->rc = open_session(e, server, &o)) == 0) {
        e->accepted = 1;
        vmsec_session_set_nonblocking(e->s, 1);
        while ((e->rc = turn(e, server)) == 0)
            ;
        if (e->rc == 1)
            e->rc = 0;
    }
    if (e->rc < 0)
        gt_diag("%s: %d %s", server ? "responder" : "initiator", e->rc, vmsec_error_last());
    atomic_store(&e->finished, true);
    return NULL;
}

static bool end_init(struct end *e, const vmsec_channel_config *cfg, uint64_t total, uint64_t out, uint64_t in)
{
    e->cfg = cfg;
    e->total = total;
    e->seed_out = out;
    e->seed_in = in;
    e->rng = e->rng0 = out ^ 0x9e3779b97f4a7c15ull;
    e->fnv_out = e->fnv_in = GT_FNV_INIT;
    e->give_up = now_ms() + GIVE_UP_MS;
    e->msg = malloc(MAX_MSG);
    e->got = malloc(MAX_MSG);
    e->want = malloc(MAX_MSG);
    return e->msg && e->got && e->want;
}

static void end_free(struct end *e)
{
    vmsec_session_free(e->s);
    free(e->msg);
    free(e->got);
    free(e->want);
}

/* ---- rounds ---------------------------------------------------------------------------------- */

struct round {
    const char *name;
    uint64_t bytes;        /* each way */
    unsigned int cuts;     /* random cuts wanted (the proxy cuts up to half as many more) */
    unsigned int reloads;  /* unloads and reloads of the transport */
    unsigned int backoff_ms; /* the initiator's reconnect backoff, 0: 5 to 50 ms */
    unsigned int reloaded; /* how many succeeded */
};

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* While both ends run: at evenly spaced points of the transfer, once the session resumed after the
 * previous reload (a MiB moved since), the proxy lets go of every connection and the transport
 * module is unloaded, then loaded again. */
static void reload_during(struct round *r, struct proxy *px, struct end *c, struct end *s)
{
    uint64_t floor = 0;
    /* On one vCPU the two busy ends would keep this thread from noticing the points in time: measured
     * up to 10 MB late at nice 0, which can put the last reload past the end of the transfer. */
    if (r->reloads)
        setpriority(PRIO_PROCESS, (id_t)gettid(), -10);
    for (unsigned int i = 0; i < r->reloads; i++) {
        uint64_t at = 2 * r->bytes * (i + 1) / (r->reloads + 2); /* the last leaves 2/(reloads + 2) to go */
        unsigned int attempts = 0, loads = 0;
        if (at < floor)
            at = floor;
        while (atomic_load(&c->progress) + atomic_load(&s->progress) < at && !atomic_load(&c->finished) &&
               !atomic_load(&s->finished))
            usleep(10 * 1000);
        int64_t t0 = now_ms();
        proxy_set_dark(px, true);
        /* This thread can be late (one vCPU): only a reload with data still to move forces a resume. */
        uint64_t moved = atomic_load(&c->progress) + atomic_load(&s->progress);
        bool running = moved < 2 * r->bytes;
        int rc = module_unload(TRANSPORT, &attempts);
        int64_t t1 = now_ms();
        if (rc == 0) {
            atomic_store(&transport_gone, true);
            usleep(GONE_MS * 1000);
            atomic_store(&transport_gone, false);
        }
        while (!module_loaded(TRANSPORT) && (rc = module_load(TRANSPORT)) < 0 && ++loads < 3)
            usleep(100 * 1000);
        proxy_set_dark(px, false);
        floor = atomic_load(&c->progress) + atomic_load(&s->progress) + (1 << 20);
        gt_diag("%s: %s %s at byte %llu of %llu (%u unload attempts in %lld ms), back after %lld ms; "
                "%u connections so far, %u resume attempts (%u without a transport)", r->name,
                rc < 0 ? "could not reload" : running ? "reloaded" : "(the transfer was over) reloaded", TRANSPORT,
                (unsigned long long)moved, (unsigned long long)(2 * r->bytes), attempts, (long long)(t1 - t0), (long long)(now_ms() - t0),
                atomic_load(&px->connections), atomic_load(&resume_tries), atomic_load(&tries_gone));
        if (rc == 0 && running)
            r->reloaded++;
    }
    setpriority(PRIO_PROCESS, (id_t)gettid(), 0);
}

/* Starts the responder, the proxy and both ends; returns once both ends are done (or gave up). */
static bool run_ends(struct round *r, const vmsec_channel_config *ca, const vmsec_channel_config *cb,
                     struct end *c, struct end *s, struct proxy *px)
{
    static char server_addr[32], proxy_addr[32];
    vmsec_session_options fast;
    int rc;
    vmsec_session_options_init(&fast, VMSEC_SESSION_OPTIONS_VERSION);
    fast.backoff_initial_ms = 5;
    fast.backoff_max_ms = 50;
    fast.ack_delay_ms = 5;
    snprintf(server_addr, sizeof(server_addr), "vsock:any:%u", PORT_SERVER);
    snprintf(proxy_addr, sizeof(proxy_addr), "vsock:1:%u", PORT_PROXY);
    if ((rc = vmsec_listener_new(&s->l, server_addr)) < 0 ||
        (rc = vmsec_session_listener_new(&s->sl, cb, s->l, &fast)) < 0 ||
        (rc = fcntl(vmsec_listener_fd(s->l), F_SETFL, O_NONBLOCK)) < 0) {
        gt_ok(false, "%s: a session responder listens on %s (%s)", r->name, server_addr, vmsec_error_last());
        return false;
    }
    if ((rc = proxy_start(px, seed, r->cuts ? r->bytes / r->cuts + 1 : 0, r->cuts + r->cuts / 2)) < 0) {
        gt_ok(false, "%s: the fault proxy listens on %s (%s)", r->name, proxy_addr, gv_errname(rc));
        return false;
    }
    c->address = proxy_addr;
    atomic_store(&resume_tries, 0);
    atomic_store(&tries_gone, 0);
    c->backoff_ms = r->backoff_ms;
    if (!end_init(c, ca, r->bytes, seed | 1, (seed | 1) + 2) ||
        !end_init(s, cb, r->bytes, (seed | 1) + 2, seed | 1)) {
        gt_ok(false, "%s: buffers", r->name);
        proxy_stop(px);
        return false;
    }
    s->peer_done = &c->done;
    s->peer_attempts = &c->attempts;
    pthread_create(&s->t, NULL, end_run, s);
    pthread_create(&c->t, NULL, end_run, c);
    reload_during(r, px, c, s);
    pthread_join(c->t, NULL);
    pthread_join(s->t, NULL);
    proxy_stop(px);
    return true;
}

/* The checks of one round's transfer. */
static void report(const struct round *r, const struct end *c, const struct end *s, const struct proxy *px,
                   double secs)
{
    gt_diag("%s: %llu bytes each way in %.1f s, %u cuts (close %u, shutdown %u, half-open %u; %u within %d bytes "
            "of a connection), %u proxied connections, %llu links, seed %llu",
            r->name, (unsigned long long)r->bytes, secs, atomic_load(&px->cuts), atomic_load(&px->kinds[CUT_CLOSE]),
            atomic_load(&px->kinds[CUT_SHUTDOWN]), atomic_load(&px->kinds[CUT_HALF]), atomic_load(&px->early_cuts),
            EARLY_CUT, atomic_load(&px->connections), (unsigned long long)vmsec_session_links(c->s),
            (unsigned long long)seed);
    gt_ok(c->rc == 0 && s->rc == 0,
          "%s: both ends report success (initiator closed: %d, responder saw the close: %d)", r->name, c->rc, s->rc);
    gt_ok(c->received == r->bytes && s->received == r->bytes && c->fnv_in == s->fnv_out && s->fnv_in == c->fnv_out,
          "%s: every byte once, in order (%llu of %llu and %llu of %llu bytes; checksums %016llx %016llx)", r->name,
          (unsigned long long)s->received, (unsigned long long)c->sent, (unsigned long long)c->received,
          (unsigned long long)s->sent, (unsigned long long)s->fnv_in, (unsigned long long)c->fnv_in);
    if (r->cuts)
        gt_ok(atomic_load(&px->cuts) >= r->cuts && vmsec_session_links(c->s) > 1,
              "%s: the proxy cut the vsock connections %u times (%u wanted), the session resumed over %llu links",
              r->name, atomic_load(&px->cuts), r->cuts, (unsigned long long)vmsec_session_links(c->s));
    if (r->reloads)
        gt_ok(r->reloaded == r->reloads && vmsec_session_links(c->s) > r->reloads && atomic_load(&tries_gone) > 0,
              "%s: %s unloaded and loaded again %u of %u times during the session, which resumed over %llu links "
              "(%u resume attempts found no transport)", r->name, TRANSPORT, r->reloaded, r->reloads,
              (unsigned long long)vmsec_session_links(c->s), atomic_load(&tries_gone));
}

/* One transfer: both ends, the proxy, the checks of what arrived and of the descriptors. */
static void run_round(struct round *r, const vmsec_channel_config *ca, const vmsec_channel_config *cb, bool quiet)
{
    struct end c = {0}, s = {0};
    struct proxy px;
    int fds0 = count_fds(), fds1;
    double t0 = gt_now();
    gt_diag("%s: %s reference count %ld before the round", r->name, TRANSPORT, module_refcnt(TRANSPORT));
    bool ran = run_ends(r, ca, cb, &c, &s, &px);
    if (ran && !quiet)
        report(r, &c, &s, &px, gt_now() - t0);
    end_free(&c);
    end_free(&s);
    vmsec_session_listener_free(s.sl);
    vmsec_listener_free(s.l);
    fds1 = count_fds();
    usleep(300 * 1000);
    gt_diag("%s: %s reference count %ld after the round", r->name, TRANSPORT, module_refcnt(TRANSPORT));
    if (!quiet)
        gt_ok(fds1 == fds0 && fds0 > 0, "%s: descriptors back to the baseline (%d before, %d after)", r->name, fds0,
              fds1);
    else if (!(ran && c.rc == 0 && s.rc == 0))
        gt_ok(false, "%s: a first, small transfer (initiator %d, responder %d)", r->name, c.rc, s.rc);
}

/* ---- main ------------------------------------------------------------------------------------ */

static vmsec_channel_config *make_cfg(const vmsec_keypair *own, const vmsec_keypair *peer)
{
    vmsec_channel_config *cfg = NULL;
    uint8_t pub[VMSEC_KEY_BYTES];
    if (vmsec_channel_config_new(&cfg) < 0 || vmsec_keypair_public(peer, pub, sizeof(pub)) < 0 ||
        vmsec_channel_config_set_keypair(cfg, own) < 0 ||
        vmsec_channel_config_add_trusted_peer(cfg, pub, sizeof(pub)) < 0 ||
        vmsec_channel_config_set_handshake_timeout(cfg, HANDSHAKE_TIMEOUT_MS) < 0) {
        vmsec_channel_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Unloading the transport needs a module with an exit function in a kernel built with
 * CONFIG_MODULE_UNLOAD; a transport built in, or loaded some other way, cannot go. */
static bool transport_is_a_module(void)
{
    return gt_ok(module_loaded(TRANSPORT) && access("/sys/module/" TRANSPORT "/refcnt", R_OK) == 0 &&
                     access("/modules/" TRANSPORT ".ko", R_OK) == 0,
                 "transport reload: %s is a loaded module that can be unloaded (/sys/module/%s/refcnt), and "
                 "/modules/%s.ko can load it again", TRANSPORT, TRANSPORT, TRANSPORT);
}

int main(void)
{
    vmsec_keypair *ka = NULL, *kb = NULL;
    vmsec_channel_config *ca = NULL, *cb = NULL;
    struct round warm = {"warm-up", 256 << 10, 4, 0, 0, 0};
    struct round cuts = {"cuts", FAULT_BYTES, FAULT_CUTS, 0, 0, 0};
    struct round reload = {"transport reload", RELOAD_BYTES, 0, RELOADS, RELOAD_BACKOFF_MS, 0};
    signal(SIGPIPE, SIG_IGN);
    seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    gt_diag("seed %llu", (unsigned long long)seed);
    if (!gt_ok(vmsec_keypair_generate(&ka) == 0 && vmsec_keypair_generate(&kb) == 0 && (ca = make_cfg(ka, kb)) &&
                   (cb = make_cfg(kb, ka)),
               "keys and configurations for both ends")) {
        printf("Bail out! no channel configuration\n");
        return 1;
    }
    /* A small round first, so that what the process keeps once it has run threads and handshakes is
     * in the descriptor baseline. */
    run_round(&warm, ca, cb, true);
    run_round(&cuts, ca, cb, false);
    if (transport_is_a_module())
        run_round(&reload, ca, cb, false);
    gt_ok(module_loaded(TRANSPORT), "%s is loaded at the end", TRANSPORT);
    vmsec_channel_config_free(ca);
    vmsec_channel_config_free(cb);
    vmsec_keypair_free(ka);
    vmsec_keypair_free(kb);
    return gt_done();
}
