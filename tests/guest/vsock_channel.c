/* Guest test program: vmsec channels over real AF_VSOCK (loopback transport, CID 1).
 *
 * Runs inside the test guest (tests/guest/guest.sh), statically linked against the library's
 * channel, transport, Noise and key code and a static libsodium. It drives the public API exactly
 * as an application would: `vsock:1:PORT` addresses, every supported handshake pattern, peer CIDs,
 * a listener with many concurrent clients, large messages, the failure cases (no listener, port in
 * use, a peer dying mid-message, a CID filter) and a throughput comparison with raw vsock. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <vmsec.h>
#include <vmsec/channel.h>
#include <vmsec/transport.h>

#include "gtap.h"
#include "gvsock.h"

#define N_CLIENTS 64
#define HANDSHAKE_TIMEOUT_MS 120000u /* TCG with 64 concurrent handshakes on one vCPU is slow */
#define BENCH_MSG (64 * 1024)
#define BENCH_BYTES (32u * 1024 * 1024)

/* Ports: each test listens on its own. */
enum {
    PORT_PATTERNS = 7000, /* + pattern index */
    PORT_NEGATIVE = 7100,
    PORT_CID = 7110,
    PORT_MANY = 7120,
    PORT_LARGE = 7130,
    PORT_NOBODY = 7140,
    PORT_INUSE = 7150,
    PORT_DIES = 7160,
    PORT_FILTER = 7170,
    PORT_BENCH_RAW = 7180,
    PORT_BENCH_CH = 7181,
    PORT_BENCH_HS = 7182,
    PORT_POLL = 7190,
};

static vmsec_keypair *server_kp, *client_kp, *stranger_kp;
static uint8_t server_pub[VMSEC_KEY_BYTES], client_pub[VMSEC_KEY_BYTES];
static uint8_t stranger_pub[VMSEC_KEY_BYTES];
static uint8_t psk[VMSEC_PSK_BYTES];

/* The symbolic name of a result, for test descriptions. */
static const char *errname(int rc)
{
    static const char *const names[] = {
        "ok", "VMSEC_EINVAL", "VMSEC_ENOMEM", "VMSEC_EIO", "VMSEC_EPERM", "VMSEC_EFORMAT",
        "VMSEC_ENOTFOUND", "VMSEC_EEXIST", "VMSEC_EAGAIN", "VMSEC_EAUTH", "VMSEC_EPROTO",
        "VMSEC_ETIMEDOUT", "VMSEC_ECLOSED", "VMSEC_ETRUNCATED", "VMSEC_ETOOBIG",
        "VMSEC_EUNSUPPORTED", "VMSEC_ESTATE", "VMSEC_ECRYPTO", "VMSEC_ELIBVIRT", "VMSEC_EHOST",
        "VMSEC_ECONNREFUSED", "VMSEC_EADDRINUSE", "VMSEC_EDENIED", "VMSEC_EROLLEDBACK",
        "VMSEC_EPARTIAL", "VMSEC_EDRIFT", "VMSEC_EINTERNAL",
    };
    if (rc <= 0 && -rc < (int)(sizeof(names) / sizeof(names[0])))
        return names[-rc];
    return "unknown result";
}

static void addr(char *buf, size_t len, const char *cid, unsigned port)
{
    snprintf(buf, len, "vsock:%s:%u", cid, port);
}

/* --- configurations ------------------------------------------------------------------------- */

struct pattern {
    const char *name;
    bool initiator_static; /* the initiator has a static key */
    bool initiator_knows;  /* the initiator knows the responder's key before the handshake */
    bool responder_knows;  /* the responder knows the initiator's key before the handshake */
    bool psk;
};

static const struct pattern patterns[] = {
    { "XX", true, false, false, false },    { "IK", true, true, false, false },
    { "KK", true, true, true, false },      { "NK", false, true, false, false },
    { "IKpsk2", true, true, false, true }, { "XXpsk3", true, false, false, true },
    /* more interactive and deferred patterns, each with its own key knowledge */
    { "NX", false, false, false, false },  { "XK", true, true, false, false },
    { "IX", true, false, false, false },   { "KX", true, false, true, false },
    { "X1K1", true, true, false, false },  { "NK1", false, true, false, false },
};
#define N_PATTERNS (sizeof(patterns) / sizeof(patterns[0]))

/* A configuration for one side of `p`; NULL (with a not-ok line) on failure. */
static vmsec_channel_config *make_cfg(const struct pattern *p, bool initiator)
{
    vmsec_channel_config *cfg = NULL;
    int rc = vmsec_channel_config_new(&cfg);
    if (rc == 0)
        rc = vmsec_channel_config_set_pattern(cfg, p->name);
    if (rc == 0)
        rc = vmsec_channel_config_set_handshake_timeout(cfg, HANDSHAKE_TIMEOUT_MS);
    if (rc == 0 && (!initiator || p->initiator_static))
        rc = vmsec_channel_config_set_keypair(cfg, initiator ? client_kp : server_kp);
    if (rc == 0 && initiator) {
        rc = p->initiator_knows ? vmsec_channel_config_set_peer_key(cfg, server_pub, sizeof(server_pub))
                                : vmsec_channel_config_add_trusted_peer(cfg, server_pub, sizeof(server_pub));
    } else if (rc == 0) {
        if (!p->initiator_static)
            rc = vmsec_channel_config_set_allow_any_peer(cfg, 1);
        else if (p->responder_knows)
            rc = vmsec_channel_config_set_peer_key(cfg, client_pub, sizeof(client_pub));
        else
            rc = vmsec_channel_config_add_trusted_peer(cfg, client_pub, sizeof(client_pub));
    }
    if (rc == 0 && p->psk)
        rc = vmsec_channel_config_set_psk(cfg, psk, sizeof(psk));
    if (rc != 0) {
        gt_ok(false, "%s: %s configuration (%s: %s)", p->name, initiator ? "initiator" : "responder",
              errname(rc), vmsec_error_last());
        vmsec_channel_config_free(cfg);
        return NULL;
    }
    return cfg;
}

static const struct pattern *pattern_named(const char *name)
{
    for (size_t i = 0; i < N_PATTERNS; i++)
        if (strcmp(patterns[i].name, name) == 0)
            return &patterns[i];
    return NULL;
}

/* --- an echo server on a thread --------------------------------------------------------------- */

struct server {
    vmsec_listener *l;
    const vmsec_channel_config *cfg;
    pthread_t thread;
    int rc;        /* vmsec_channel_accept() */
    int end_rc;    /* the recv result that ended the echo loop */
    int cid_rc;
    uint32_t cid;
    int key_rc;
    uint8_t peer_key[VMSEC_KEY_BYTES];
    uint8_t hh[VMSEC_HANDSHAKE_HASH_MAX];
    size_t hh_len;
    size_t max;
    unsigned port;
};

/* Accepts one channel and echoes messages until the peer closes; then closes its side. */
static void *server_main(void *arg)
{
    struct server *s = arg;
    vmsec_channel *ch = NULL;
    size_t cap = s->max ? s->max : 1 << 20;
    uint8_t *buf = malloc(cap);
    s->rc = buf ? vmsec_channel_accept(&ch, s->cfg, s->l) : VMSEC_ENOMEM;
    if (s->rc != 0) {
        free(buf);
        return NULL;
    }
    s->cid_rc = vmsec_channel_peer_cid(ch, &s->cid);
    s->key_rc = vmsec_channel_peer_key(ch, s->peer_key, sizeof(s->peer_key));
    vmsec_channel_handshake_hash(ch, s->hh, sizeof(s->hh), &s->hh_len);
    for (;;) {
        size_t len = 0;
        int rc = vmsec_channel_recv(ch, buf, cap, &len);
        if (rc == 0)
            rc = vmsec_channel_send(ch, buf, len, 0);
        if (rc != 0) {
            s->end_rc = rc;
            break;
        }
    }
    if (s->end_rc == VMSEC_ECLOSED)
        vmsec_channel_close(ch);
    vmsec_channel_free(ch);
    free(buf);
    return NULL;
}

/* Starts server_main on a new listener; `allow` (if not NULL) is the listener's CID filter. */
static int server_start(struct server *s, const vmsec_channel_config *cfg, unsigned port, size_t max,
                        const uint32_t *allow, size_t n_allow)
{
    char a[64];
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->max = max;
    s->port = port;
    addr(a, sizeof(a), "any", port);
    int rc = vmsec_listener_new(&s->l, a);
    if (rc == 0 && allow)
        rc = vmsec_listener_set_cid_filter(s->l, allow, n_allow);
    if (rc != 0) {
        vmsec_listener_free(s->l);
        return rc;
    }
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
        vmsec_listener_free(s->l);
        return VMSEC_ENOMEM;
    }
    return 0;
}

static void server_join(struct server *s)
{
    pthread_join(s->thread, NULL);
    vmsec_listener_free(s->l);
}

/* Ends a server whose client never connected: a throwaway connection wakes its accept, and its
 * handshake then fails on the closed stream. (shutdown(2) does not wake a vsock accept.) */
static void server_abort(struct server *s)
{
    int fd = gv_connect(VMADDR_CID_LOCAL, s->port);
    if (fd >= 0)
        close(fd);
    server_join(s);
}

/* Sends msg and checks the echo. */
static bool echo_once(vmsec_channel *ch, const uint8_t *msg, size_t len, uint8_t *back, size_t cap)
{
    size_t got = 0;
    return vmsec_channel_send(ch, msg, len, 0) == 0 && vmsec_channel_recv(ch, back, cap, &got) == 0 &&
           got == len && (len == 0 || memcmp(back, msg, len) == 0);
}

/* --- every pattern: handshake, data, authentication, clean close ------------------------------ */

static void test_pattern(size_t idx)
{
    const struct pattern *p = &patterns[idx];
    unsigned port = PORT_PATTERNS + (unsigned)idx;
    vmsec_channel_config *scfg = make_cfg(p, false), *ccfg = make_cfg(p, true);
    struct server s;
    char a[64], proto[64] = "";
    if (!scfg || !ccfg)
        goto out;
    vmsec_channel_config_get_protocol(ccfg, proto, sizeof(proto));
    int rc = server_start(&s, scfg, port, 0, NULL, 0);
    if (!gt_ok(rc == 0, "%s: listener on vsock:any:%u (%s)", p->name, port, errname(rc)))
        goto out;
    vmsec_channel *ch = NULL;
    addr(a, sizeof(a), "1", port);
    rc = vmsec_channel_connect(&ch, ccfg, a);
    if (rc != 0) {
        gt_ok(false, "%s: handshake over %s (%s: %s)", proto, a, errname(rc), vmsec_error_last());
        server_abort(&s);
        goto out;
    }
    gt_ok(vmsec_channel_state(ch) == VMSEC_STATE_OPEN, "%s: handshake over %s", proto, a);

    static uint8_t msg[100000], back[100000];
    const size_t sizes[] = { 0, 1, 1000, sizeof(msg) };
    bool ok = true;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && ok; i++) {
        gt_fill(msg, sizes[i], idx * 10 + i, 0);
        ok = echo_once(ch, msg, sizes[i], back, sizeof(back));
    }
    gt_ok(ok, "%s: messages of 0, 1, 1000 and 100000 bytes echo back intact", p->name);

    uint8_t key[VMSEC_KEY_BYTES], hh[VMSEC_HANDSHAKE_HASH_MAX];
    size_t hh_len = 0;
    int krc = vmsec_channel_peer_key(ch, key, sizeof(key));
    vmsec_channel_handshake_hash(ch, hh, sizeof(hh), &hh_len);
    rc = vmsec_channel_close(ch);
    size_t len;
    int end = vmsec_channel_recv(ch, back, sizeof(back), &len);
    vmsec_channel_free(ch);
    server_join(&s);

    bool client_auth = krc == 0 && memcmp(key, server_pub, sizeof(key)) == 0;
    bool server_auth = p->initiator_static
                           ? s.key_rc == 0 && memcmp(s.peer_key, client_pub, sizeof(key)) == 0
                           : s.key_rc == VMSEC_ENOTFOUND;
    gt_ok(client_auth && server_auth, "%s: peer static keys as expected on both sides (%s)", p->name,
          p->initiator_static ? "mutual" : "responder only; initiator anonymous");
    gt_ok(hh_len > 0 && hh_len == s.hh_len && memcmp(hh, s.hh, hh_len) == 0,
          "%s: both sides derive the same handshake hash", p->name);
    gt_ok(rc == 0 && end == VMSEC_ECLOSED && s.end_rc == VMSEC_ECLOSED,
          "%s: close_notify seen as a clean close both ways (client %s, server %s)", p->name,
          errname(end), errname(s.end_rc));
out:
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- authentication failures ------------------------------------------------------------------ */

/* Runs one handshake expected to fail; returns the client's result, the server's in *srv. */
static int failing_handshake(const vmsec_channel_config *scfg, const vmsec_channel_config *ccfg,
                             unsigned port, int *srv)
{
    struct server s;
    char a[64];
    int rc = server_start(&s, scfg, port, 0, NULL, 0);
    if (rc != 0) {
        *srv = rc;
        return rc;
    }
    vmsec_channel *ch = NULL;
    addr(a, sizeof(a), "1", port);
    rc = vmsec_channel_connect(&ch, ccfg, a);
    if (rc == 0) {
        /* The responder decides last in some patterns: a message round trip settles it. */
        uint8_t b[8];
        size_t len;
        rc = vmsec_channel_send(ch, (const uint8_t *)"x", 1, 0);
        if (rc == 0)
            rc = vmsec_channel_recv(ch, b, sizeof(b), &len);
    }
    vmsec_channel_free(ch);
    if (rc == VMSEC_ECONNREFUSED)
        server_abort(&s);
    else
        server_join(&s);
    *srv = s.rc != 0 ? s.rc : s.end_rc;
    return rc;
}

static void test_negative(void)
{
    const struct pattern *xx = pattern_named("XX"), *ikpsk2 = pattern_named("IKpsk2");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    int srv = 0, cli;
    if (scfg && ccfg && vmsec_channel_config_set_keypair(ccfg, stranger_kp) == 0) {
        cli = failing_handshake(scfg, ccfg, PORT_NEGATIVE, &srv);
        gt_ok(srv == VMSEC_EAUTH && cli != 0,
              "XX: a client with an untrusted key is refused (server %s, client %s)", errname(srv),
              errname(cli));
    }
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);

    static const uint8_t other_psk[VMSEC_PSK_BYTES] = { 1 };
    scfg = make_cfg(ikpsk2, false);
    ccfg = make_cfg(ikpsk2, true);
    if (scfg && ccfg && vmsec_channel_config_set_psk(ccfg, other_psk, sizeof(other_psk)) == 0) {
        cli = failing_handshake(scfg, ccfg, PORT_NEGATIVE + 1, &srv);
        gt_ok(cli != 0 && srv != 0 && (cli == VMSEC_EAUTH || srv == VMSEC_EAUTH),
              "IKpsk2: a PSK mismatch fails the handshake with VMSEC_EAUTH (server %s, client %s)",
              errname(srv), errname(cli));
    }
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- peer CID ---------------------------------------------------------------------------------- */

static void test_peer_cid(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    vmsec_listener *l = NULL;
    char a[64], peer[VMSEC_ADDRESS_MAX] = "", bound[VMSEC_ADDRESS_MAX] = "";
    if (!scfg || !ccfg)
        goto out;
    addr(a, sizeof(a), "any", PORT_CID);
    int rc = vmsec_listener_new(&l, a);
    if (!gt_ok(rc == 0, "listener on %s (%s)", a, errname(rc)))
        goto out;
    rc = vmsec_listener_address(l, bound, sizeof(bound));
    gt_ok(rc == 0 && strstr(bound, ":7110") != NULL, "listener reports its address (%s)", bound);

    int cfd = -1, sfd = -1;
    uint32_t cid = 0;
    addr(a, sizeof(a), "local", PORT_CID);
    rc = vmsec_transport_connect(a, 10000, &cfd);
    gt_ok(rc == 0, "transport connects to %s (%s)", a, errname(rc));
    int arc = rc == 0 ? vmsec_listener_accept(l, &sfd, peer, sizeof(peer), &cid) : rc;
    gt_ok(arc == 0 && cid == VMADDR_CID_LOCAL && strncmp(peer, "vsock:1:", 8) == 0,
          "the listener reports the peer as CID 1 (%s, cid %u)", peer, cid);
    if (arc == 0) {
        vmsec_channel *sc = NULL, *cc = NULL;
        uint32_t scid = 0, ccid = 0;
        int r1 = vmsec_channel_new(&sc, scfg, sfd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD);
        int r2 = vmsec_channel_new(&cc, ccfg, cfd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD);
        if (r1 == 0 && r2 == 0) {
            sfd = cfd = -1;
            r1 = vmsec_channel_peer_cid(sc, &scid);
            r2 = vmsec_channel_peer_cid(cc, &ccid);
        }
        gt_ok(r1 == 0 && r2 == 0 && scid == VMADDR_CID_LOCAL && ccid == VMADDR_CID_LOCAL,
              "vmsec_channel_peer_cid gives 1 on both ends (%u, %u)", scid, ccid);
        vmsec_channel_free(sc);
        vmsec_channel_free(cc);
    }
    if (sfd >= 0)
        close(sfd);
    if (cfd >= 0)
        close(cfd);
out:
    vmsec_listener_free(l);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- 64 concurrent clients on one listener ----------------------------------------------------- */

struct many {
    vmsec_listener *l;
    vmsec_channel_config *scfg, *ccfg;
    pthread_barrier_t go;
    int ok[N_CLIENTS];
    int client_rc[N_CLIENTS];
    int accepted, served, cid1;
    int stop; /* set (under mu) once every client is done: the acceptor exits at its next accept */
    pthread_mutex_t mu;
};

struct worker_arg {
    struct many *m;
    int fd;
    uint32_t cid;
};

/* Server side of one connection: handshake, echo, clean close. */
static void *many_worker(void *p)
{
    struct worker_arg *w = p;
    vmsec_channel *ch = NULL;
    uint8_t buf[8192];
    size_t len;
    int rc = vmsec_channel_new(&ch, w->m->scfg, w->fd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD);
    if (rc != 0)
        close(w->fd);
    bool ok = rc == 0;
    while (ok) {
        rc = vmsec_channel_recv(ch, buf, sizeof(buf), &len);
        if (rc == VMSEC_ECLOSED)
            break;
        ok = rc == 0 && vmsec_channel_send(ch, buf, len, 0) == 0;
    }
    ok = ok && vmsec_channel_close(ch) == 0;
    vmsec_channel_free(ch);
    pthread_mutex_lock(&w->m->mu);
    w->m->served += ok;
    w->m->cid1 += w->cid == VMADDR_CID_LOCAL;
    pthread_mutex_unlock(&w->m->mu);
    free(w);
    return NULL;
}

static int spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    int rc = pthread_create(t, &at, fn, arg);
    pthread_attr_destroy(&at);
    return rc;
}

static void *many_acceptor(void *p)
{
    struct many *m = p;
    pthread_t workers[N_CLIENTS];
    int n = 0;
    while (n < N_CLIENTS) {
        struct worker_arg *w = malloc(sizeof(*w));
        if (!w)
            break;
        w->m = m;
        int rc = vmsec_listener_accept(m->l, &w->fd, NULL, 0, &w->cid);
        pthread_mutex_lock(&m->mu);
        int stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        if (rc != 0 || stop || spawn(&workers[n], many_worker, w) != 0) {
            if (rc == 0)
                close(w->fd);
            free(w);
            break;
        }
        n++;
    }
    m->accepted = n;
    for (int i = 0; i < n; i++)
        pthread_join(workers[i], NULL);
    return NULL;
}

struct client_arg {
    struct many *m;
    int idx;
};

static void *many_client(void *p)
{
    struct client_arg *a = p;
    static uint8_t out[N_CLIENTS][4096], in[N_CLIENTS][4096];
    char ad[64];
    vmsec_channel *ch = NULL;
    size_t len;
    gt_fill(out[a->idx], sizeof(out[0]), 500 + (uint64_t)a->idx, 0);
    addr(ad, sizeof(ad), "1", PORT_MANY);
    pthread_barrier_wait(&a->m->go);
    int rc = vmsec_channel_connect(&ch, a->m->ccfg, ad);
    if (rc == 0 && !echo_once(ch, out[a->idx], sizeof(out[0]), in[a->idx], sizeof(in[0])))
        rc = VMSEC_EPROTO;
    if (rc == 0)
        rc = vmsec_channel_close(ch);
    if (rc == 0) {
        rc = vmsec_channel_recv(ch, in[a->idx], sizeof(in[0]), &len);
        rc = rc == VMSEC_ECLOSED ? 0 : rc == 0 ? VMSEC_EPROTO : rc;
    }
    a->m->client_rc[a->idx] = rc;
    a->m->ok[a->idx] = rc == 0;
    vmsec_channel_free(ch);
    return NULL;
}

static void test_many(void)
{
    static struct many m;
    struct client_arg args[N_CLIENTS];
    pthread_t acceptor, clients[N_CLIENTS];
    const struct pattern *xx = pattern_named("XX");
    char a[64];
    int started = 0;

    memset(&m, 0, sizeof(m));
    pthread_mutex_init(&m.mu, NULL);
    m.scfg = make_cfg(xx, false);
    m.ccfg = make_cfg(xx, true);
    addr(a, sizeof(a), "any", PORT_MANY);
    int rc = m.scfg && m.ccfg ? vmsec_listener_new(&m.l, a) : VMSEC_EINVAL;
    if (!gt_ok(rc == 0, "listener for %d channel clients (%s)", N_CLIENTS, errname(rc)))
        goto out;
    double t0 = gt_now();
    pthread_barrier_init(&m.go, NULL, N_CLIENTS);
    spawn(&acceptor, many_acceptor, &m);
    for (int i = 0; i < N_CLIENTS; i++) {
        args[i].m = &m;
        args[i].idx = i;
        if (spawn(&clients[i], many_client, &args[i]) != 0)
            break;
        started++;
    }
    if (started < N_CLIENTS) {
        gt_ok(false, "could start only %d of %d client threads", started, N_CLIENTS);
        _exit(gt_done());
    }
    for (int i = 0; i < N_CLIENTS; i++)
        pthread_join(clients[i], NULL);
    pthread_mutex_lock(&m.mu);
    m.stop = 1;
    pthread_mutex_unlock(&m.mu);
    int ok = 0, first_bad = -1;
    for (int i = 0; i < N_CLIENTS; i++) {
        ok += m.ok[i];
        if (!m.ok[i] && first_bad < 0)
            first_bad = i;
    }
    if (ok < N_CLIENTS) { /* the acceptor may wait for clients that never came: wake it */
        int fd = gv_connect(VMADDR_CID_LOCAL, PORT_MANY);
        if (fd >= 0)
            close(fd);
    }
    pthread_join(acceptor, NULL);
    double secs = gt_now() - t0;
    pthread_barrier_destroy(&m.go);
    gt_ok(ok == N_CLIENTS,
          "%d concurrent XX channels: handshake, 4 KiB echo and clean close (%d did%s%s)", N_CLIENTS,
          ok, first_bad >= 0 ? "; first failure " : "",
          first_bad >= 0 ? errname(m.client_rc[first_bad]) : "");
    gt_ok(m.accepted == N_CLIENTS && m.served == N_CLIENTS && m.cid1 == N_CLIENTS,
          "one listener served all %d from CID 1 (accepted %d, served %d)", N_CLIENTS, m.accepted,
          m.served);
    gt_diag("bench: %d concurrent XX channels (connect, handshake, echo, close) in %.2f s",
            N_CLIENTS, secs);
out:
    vmsec_listener_free(m.l);
    vmsec_channel_config_free(m.scfg);
    vmsec_channel_config_free(m.ccfg);
    pthread_mutex_destroy(&m.mu);
}

/* --- an event loop: non-blocking channels under poll(2) ---------------------------------------- */

#define POLL_CLIENTS 16
#define POLL_MSGS 8
#define POLL_MSG_BYTES (200 * 1024)

struct poll_conn {
    vmsec_channel *ch;
    int phase; /* 0 handshake, 1 open, 2 closing, 3 done */
    uint8_t *pending; /* a message whose echo the channel refused (VMSEC_EAGAIN) */
    size_t plen;
};

/* Advances one connection as far as it goes without blocking; 0 or the failure. */
static int poll_service(struct poll_conn *c, uint8_t *buf, size_t cap, unsigned *stalls)
{
    int rc;
    size_t len;
    if (c->phase == 0) {
        if ((rc = vmsec_channel_handshake(c->ch)) != 0)
            return rc == VMSEC_EAGAIN ? 0 : rc;
        c->phase = 1;
    }
    while (c->phase == 1) {
        if ((rc = vmsec_channel_flush(c->ch)) != 0 && rc != VMSEC_EAGAIN)
            return rc;
        if (c->pending) {
            if ((rc = vmsec_channel_send(c->ch, c->pending, c->plen, 0)) != 0)
                return rc == VMSEC_EAGAIN ? 0 : rc;
            free(c->pending);
            c->pending = NULL;
        }
        rc = vmsec_channel_recv(c->ch, buf, cap, &len);
        if (rc == VMSEC_EAGAIN)
            return 0;
        if (rc == VMSEC_ECLOSED) {
            c->phase = 2;
            break;
        }
        if (rc != 0)
            return rc;
        rc = vmsec_channel_send(c->ch, buf, len, 0);
        if (rc == VMSEC_EAGAIN) { /* back-pressure: hold the echo, stop reading until it goes */
            (*stalls)++;
            if (!(c->pending = malloc(len)))
                return VMSEC_ENOMEM;
            memcpy(c->pending, buf, len);
            c->plen = len;
            return 0;
        }
        if (rc != 0)
            return rc;
    }
    if ((rc = vmsec_channel_close(c->ch)) != 0)
        return rc == VMSEC_EAGAIN ? 0 : rc;
    c->phase = 3;
    return 0;
}

struct poll_client {
    const vmsec_channel_config *cfg;
    int idx;
    int ok;
    vmsec_channel *ch;
    int send_rc;
};

static void *poll_client_send(void *p)
{
    struct poll_client *c = p;
    uint8_t *msg = malloc(POLL_MSG_BYTES);
    c->send_rc = msg ? 0 : VMSEC_ENOMEM;
    for (int i = 0; i < POLL_MSGS && c->send_rc == 0; i++) {
        gt_fill(msg, POLL_MSG_BYTES, 3000 + (uint64_t)c->idx * POLL_MSGS + (uint64_t)i, 0);
        c->send_rc = vmsec_channel_send(c->ch, msg, POLL_MSG_BYTES, 0);
    }
    free(msg);
    return NULL;
}

/* A client that sends on one thread while it receives the echoes on another. */
static void *poll_client_main(void *p)
{
    struct poll_client *c = p;
    uint8_t *want = malloc(POLL_MSG_BYTES), *got = malloc(POLL_MSG_BYTES);
    char a[64];
    pthread_t sender;
    size_t len;
    int good = 0;
    addr(a, sizeof(a), "1", PORT_POLL);
    if (!want || !got || vmsec_channel_connect(&c->ch, c->cfg, a) != 0)
        goto out;
    if (spawn(&sender, poll_client_send, c) != 0)
        goto out;
    for (int i = 0; i < POLL_MSGS; i++) {
        gt_fill(want, POLL_MSG_BYTES, 3000 + (uint64_t)c->idx * POLL_MSGS + (uint64_t)i, 0);
        if (vmsec_channel_recv(c->ch, got, POLL_MSG_BYTES, &len) != 0 || len != POLL_MSG_BYTES ||
            memcmp(got, want, len) != 0)
            break;
        good++;
    }
    pthread_join(sender, NULL);
    c->ok = good == POLL_MSGS && c->send_rc == 0 && vmsec_channel_close(c->ch) == 0 &&
            vmsec_channel_recv(c->ch, got, POLL_MSG_BYTES, &len) == VMSEC_ECLOSED;
out:
    vmsec_channel_free(c->ch);
    free(want);
    free(got);
    return NULL;
}

/* The single-threaded server: one listener and every connection, driven by poll(2). */
struct poll_server {
    vmsec_listener *l;
    const vmsec_channel_config *cfg;
    struct poll_conn conns[POLL_CLIENTS];
    uint8_t *buf;
    int expected, accepted, done, failed, first_err;
    unsigned stalls;
};

static void poll_accept_ready(struct poll_server *ps)
{
    int fd;
    while (ps->accepted < ps->expected && vmsec_listener_accept(ps->l, &fd, NULL, 0, NULL) == 0) {
        struct poll_conn *c = &ps->conns[ps->accepted++];
        fcntl(fd, F_SETFL, O_NONBLOCK); /* before vmsec_channel_new: the channel follows the fd */
        if (vmsec_channel_new(&c->ch, ps->cfg, fd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD) != 0) {
            close(fd);
            ps->failed++;
        }
    }
}

static void poll_conn_end(struct poll_server *ps, struct poll_conn *c, int rc)
{
    if (rc != 0 && !ps->first_err)
        ps->first_err = rc;
    rc != 0 ? ps->failed++ : ps->done++;
    vmsec_channel_free(c->ch);
    free(c->pending);
    c->ch = NULL;
    c->pending = NULL;
}

/* Runs until every expected connection ended, or nothing happened for GV_IO_TIMEOUT seconds. */
static void poll_run(struct poll_server *ps)
{
    while (ps->done + ps->failed < ps->expected) {
        struct pollfd pfd[POLL_CLIENTS + 1];
        int map[POLL_CLIENTS + 1], n = 0;
        if (ps->accepted < ps->expected) {
            pfd[n] = (struct pollfd){ .fd = vmsec_listener_fd(ps->l), .events = POLLIN };
            map[n++] = -1;
        }
        for (int i = 0; i < ps->accepted; i++)
            if (ps->conns[i].ch) {
                pfd[n] = (struct pollfd){ .fd = vmsec_channel_fd(ps->conns[i].ch),
                                          .events = vmsec_channel_poll_events(ps->conns[i].ch) };
                map[n++] = i;
            }
        int r = poll(pfd, (nfds_t)n, GV_IO_TIMEOUT * 1000);
        if (r <= 0) {
            gt_diag("poll server: %s with %d of %d connections done",
                    r == 0 ? "no progress for 20 s" : "poll failed", ps->done, ps->expected);
            return;
        }
        for (int k = 0; k < n; k++) {
            if (!pfd[k].revents)
                continue;
            if (map[k] < 0) {
                poll_accept_ready(ps);
                continue;
            }
            struct poll_conn *c = &ps->conns[map[k]];
            int rc = poll_service(c, ps->buf, POLL_MSG_BYTES, &ps->stalls);
            if (rc != 0 || c->phase == 3)
                poll_conn_end(ps, c, rc);
        }
    }
}

static void test_poll_server(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    static struct poll_server ps;
    struct poll_client clients[POLL_CLIENTS];
    pthread_t threads[POLL_CLIENTS];
    char a[64];
    memset(&ps, 0, sizeof(ps));
    ps.cfg = scfg;
    ps.buf = malloc(POLL_MSG_BYTES);
    addr(a, sizeof(a), "any", PORT_POLL);
    int rc = scfg && ccfg && ps.buf ? vmsec_listener_new(&ps.l, a) : VMSEC_ENOMEM;
    if (rc == 0 && fcntl(vmsec_listener_fd(ps.l), F_SETFL, O_NONBLOCK) < 0)
        rc = VMSEC_EIO;
    if (!gt_ok(rc == 0, "non-blocking listener on %s (%s)", a, errname(rc)))
        goto out;
    for (int i = 0; i < POLL_CLIENTS; i++) {
        clients[i] = (struct poll_client){ .cfg = ccfg, .idx = i };
        if (spawn(&threads[i], poll_client_main, &clients[i]) != 0)
            break;
        ps.expected++;
    }
    poll_run(&ps);
    for (int i = 0; i < ps.accepted; i++) /* after a stall: closing unblocks the clients */
        if (ps.conns[i].ch)
            poll_conn_end(&ps, &ps.conns[i], VMSEC_ETIMEDOUT);
    int ok = 0;
    for (int i = 0; i < ps.expected; i++) {
        pthread_join(threads[i], NULL);
        ok += clients[i].ok;
    }
    gt_ok(ok == POLL_CLIENTS,
          "one poll(2) loop with non-blocking channels serves %d clients, each sending %d x 200 KiB "
          "on one thread while receiving the echoes on another (%d ok)", POLL_CLIENTS, POLL_MSGS, ok);
    gt_ok(ps.done == POLL_CLIENTS && ps.failed == 0,
          "the loop ended every connection with a clean close (%d done, %d failed%s%s)", ps.done,
          ps.failed, ps.first_err ? ", first: " : "", ps.first_err ? errname(ps.first_err) : "");
    gt_diag("poll server: echo refused with VMSEC_EAGAIN (back-pressure) %u times", ps.stalls);
out:
    vmsec_listener_free(ps.l);
    free(ps.buf);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- large messages ---------------------------------------------------------------------------- */

static void test_large(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    const size_t max = VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE;
    struct server s;
    uint8_t *msg = malloc(max + 1), *back = malloc(max);
    vmsec_channel *ch = NULL;
    char a[64];
    int rc;
    if (!scfg || !ccfg || !msg || !back)
        goto out;
    memset(msg, 0, max + 1);
    rc = server_start(&s, scfg, PORT_LARGE, max, NULL, 0);
    if (!gt_ok(rc == 0, "listener for large messages (%s)", errname(rc)))
        goto out;
    addr(a, sizeof(a), "1", PORT_LARGE);
    rc = vmsec_channel_connect(&ch, ccfg, a);
    if (rc == 0) {
        const size_t sizes[] = { VMSEC_RECORD_PAYLOAD_MAX, VMSEC_RECORD_PAYLOAD_MAX + 1,
                                 (1 << 20) + 7, max };
        int good = 0;
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            size_t len = 0;
            gt_fill(msg, sizes[i], 900 + i, 0);
            uint64_t want = gt_fnv(GT_FNV_INIT, msg, sizes[i]);
            memset(back, 0, sizes[i]);
            if (vmsec_channel_send(ch, msg, sizes[i], 0) == 0 &&
                vmsec_channel_recv(ch, back, max, &len) == 0 && len == sizes[i] &&
                gt_fnv(GT_FNV_INIT, back, len) == want)
                good++;
            else
                gt_diag("large message of %zu bytes: %s", sizes[i], vmsec_error_last());
        }
        gt_ok(good == 4, "messages of 65518, 65519, 1 MiB + 7 and 16 MiB (the maximum) echo back "
                         "with matching checksums (%d of 4)", good);
        rc = vmsec_channel_send(ch, msg, max + 1, 0);
        gt_ok(rc == VMSEC_ETOOBIG, "a message one byte over the maximum is refused with "
                                   "VMSEC_ETOOBIG (%s)", errname(rc));
        gt_ok(echo_once(ch, msg, 100, back, max), "the channel still works after the refusal");
        vmsec_channel_close(ch);
        size_t len;
        vmsec_channel_recv(ch, back, max, &len);
        vmsec_channel_free(ch);
        server_join(&s);
    } else {
        gt_ok(false, "connect for large messages (%s: %s)", errname(rc), vmsec_error_last());
        server_abort(&s);
    }
out:
    free(msg);
    free(back);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- no listener, port in use ------------------------------------------------------------------ */

static void test_nobody(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *ccfg = make_cfg(xx, true);
    vmsec_channel *ch = NULL;
    char a[64], port[16];
    if (!ccfg)
        return;
    addr(a, sizeof(a), "1", PORT_NOBODY);
    snprintf(port, sizeof(port), "%u", PORT_NOBODY);
    double t0 = gt_now();
    int rc = vmsec_channel_connect(&ch, ccfg, a);
    double ms = (gt_now() - t0) * 1000;
    const char *msg = vmsec_error_last();
    gt_ok(rc == VMSEC_ECONNREFUSED && ch == NULL,
          "connecting to %s with no listener fails with VMSEC_ECONNREFUSED (%s)", a, errname(rc));
    gt_ok(strstr(msg, port) != NULL, "the error message names the address (\"%s\")", msg);
    gt_diag("vmsec: connect to %s with no listener -> %s after %.1f ms", a, errname(rc), ms);
    vmsec_channel_free(ch);
    vmsec_channel_config_free(ccfg);
}

static void test_inuse(void)
{
    vmsec_listener *l1 = NULL, *l2 = NULL;
    char a[64], port[16];
    addr(a, sizeof(a), "any", PORT_INUSE);
    snprintf(port, sizeof(port), "%u", PORT_INUSE);
    int rc = vmsec_listener_new(&l1, a);
    if (!gt_ok(rc == 0, "first listener on %s (%s)", a, errname(rc)))
        return;
    rc = vmsec_listener_new(&l2, a);
    const char *msg = vmsec_error_last();
    gt_ok(rc == VMSEC_EADDRINUSE && l2 == NULL,
          "a second listener on %s fails with VMSEC_EADDRINUSE (%s)", a, errname(rc));
    gt_ok(strstr(msg, port) != NULL, "the error message names the address (\"%s\")", msg);
    vmsec_listener_free(l2);
    vmsec_listener_free(l1);
    l2 = NULL;
    rc = vmsec_listener_new(&l2, a);
    gt_ok(rc == 0, "the port can be listened on again after vmsec_listener_free (%s)", errname(rc));
    vmsec_listener_free(l2);
}

/* --- a peer that dies mid-message -------------------------------------------------------------- */

/* Child: connects, sends part of a message too big for the socket buffers, and is killed. */
static void dying_writer(const vmsec_channel_config *ccfg, int how)
{
    vmsec_channel *ch = NULL;
    char a[64];
    addr(a, sizeof(a), "1", PORT_DIES);
    if (vmsec_channel_connect(&ch, ccfg, a) != 0)
        _exit(2);
    if (how == 0) {
        /* Non-blocking: the send is accepted and written only as far as the socket takes it. */
        size_t len = 8u << 20;
        uint8_t *msg = calloc(1, len);
        if (!msg || vmsec_channel_set_nonblocking(ch, 1) != 0)
            _exit(3);
        int rc = vmsec_channel_send(ch, msg, len, 0);
        if (rc != 0 && rc != VMSEC_EAGAIN)
            _exit(4);
        raise(SIGKILL);
    }
    /* how == 1: a whole message, then the process exits without close_notify. */
    if (vmsec_channel_send(ch, (const uint8_t *)"last words", 10, 0) != 0)
        _exit(5);
    raise(SIGKILL);
    _exit(6);
}

static void test_peer_dies(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    vmsec_listener *l = NULL;
    char a[64];
    if (!scfg || !ccfg)
        goto out;
    if (vmsec_channel_config_set_max_message(scfg, 16u << 20) != 0)
        goto out;
    addr(a, sizeof(a), "any", PORT_DIES);
    int rc = vmsec_listener_new(&l, a);
    if (!gt_ok(rc == 0, "listener for the dying peer (%s)", errname(rc)))
        goto out;
    for (int how = 0; how < 2; how++) {
        pid_t pid = fork();
        if (pid == 0)
            dying_writer(ccfg, how);
        vmsec_channel *ch = NULL;
        uint8_t *buf = malloc(16u << 20);
        size_t len = 0;
        int first = VMSEC_ENOMEM, second = VMSEC_ENOMEM, status = 0;
        rc = buf ? vmsec_channel_accept(&ch, scfg, l) : VMSEC_ENOMEM;
        size_t len2 = 0;
        if (rc == 0) {
            first = vmsec_channel_recv(ch, buf, 16u << 20, &len);
            second = how == 0 ? first : vmsec_channel_recv(ch, buf, 16u << 20, &len2);
        }
        waitpid(pid, &status, 0);
        bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        if (how == 0) {
            gt_ok(killed && rc == 0 && first == VMSEC_ETRUNCATED,
                  "a peer killed in the middle of an 8 MiB message gives VMSEC_ETRUNCATED, not a "
                  "clean close (%s; writer %s)", errname(first), killed ? "killed" : "not killed");
            int again = ch ? vmsec_channel_recv(ch, buf, 16u << 20, &len2) : 0;
            gt_ok(again == VMSEC_ESTATE, "the truncated channel stays failed (%s)", errname(again));
        } else {
            gt_ok(killed && rc == 0 && first == 0 && len == 10 && memcmp(buf, "last words", 10) == 0 &&
                      second == VMSEC_ETRUNCATED,
                  "a peer killed between messages: its last message arrives, then "
                  "VMSEC_ETRUNCATED (%s, %s)", errname(first), errname(second));
        }
        vmsec_channel_free(ch);
        free(buf);
    }
out:
    vmsec_listener_free(l);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- a listener that only accepts a given CID -------------------------------------------------- */

static void test_cid_filter(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    struct server s;
    char a[64];
    if (!scfg || !ccfg)
        goto out;
    const uint32_t only1[] = { VMADDR_CID_LOCAL };
    int rc = server_start(&s, scfg, PORT_FILTER, 0, only1, 1);
    if (!gt_ok(rc == 0, "listener allowing only CID 1 (%s)", errname(rc)))
        goto out;
    addr(a, sizeof(a), "1", PORT_FILTER);
    vmsec_channel *ch = NULL;
    int crc = vmsec_channel_connect(&ch, ccfg, a);
    uint8_t b[16];
    gt_ok(crc == 0 && echo_once(ch, (const uint8_t *)"cid", 3, b, sizeof(b)),
          "a listener allowing only CID 1 serves a channel from CID 1 (%s)", errname(crc));
    if (ch) {
        size_t len;
        vmsec_channel_close(ch);
        vmsec_channel_recv(ch, b, sizeof(b), &len);
        vmsec_channel_free(ch);
        server_join(&s);
    } else {
        server_abort(&s);
    }

    /* Now only CID 3 is allowed: the accept refuses us and the connection is closed. */
    addr(a, sizeof(a), "any", PORT_FILTER);
    vmsec_listener *l = NULL;
    rc = vmsec_listener_new(&l, a);
    const uint32_t only3[] = { 3 };
    if (rc == 0)
        rc = vmsec_listener_set_cid_filter(l, only3, 1);
    int cfd = -1, sfd = -1, arc = VMSEC_EINVAL;
    addr(a, sizeof(a), "1", PORT_FILTER);
    if (rc == 0)
        rc = vmsec_transport_connect(a, 10000, &cfd);
    if (rc == 0)
        arc = vmsec_listener_accept(l, &sfd, NULL, 0, NULL);
    gt_ok(arc == VMSEC_EDENIED && sfd < 0, "a listener allowing only CID 3 refuses CID 1 with "
                                            "VMSEC_EDENIED (%s: %s)", errname(arc), vmsec_error_last());
    if (cfd >= 0) {
        vmsec_channel *cc = NULL;
        int hrc = vmsec_channel_new(&cc, ccfg, cfd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD);
        if (hrc == 0)
            hrc = vmsec_channel_handshake(cc);
        else
            close(cfd);
        gt_ok(hrc != 0 && vmsec_channel_state(cc) != VMSEC_STATE_OPEN,
              "the refused client's handshake fails instead of hanging (%s)", errname(hrc));
        vmsec_channel_free(cc);
    }
    if (sfd >= 0)
        close(sfd);
    vmsec_listener_free(l);
out:
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- throughput: raw vsock and channel in the same run ----------------------------------------- */

struct raw_sender {
    int fd;
    double t0;
    int rc;
};

static void *raw_send(void *p)
{
    struct raw_sender *s = p;
    static uint8_t buf[BENCH_MSG];
    gt_fill(buf, sizeof(buf), 1, 0);
    s->t0 = gt_now();
    for (size_t off = 0; off < BENCH_BYTES && s->rc == 0; off += sizeof(buf))
        s->rc = gv_write_all(s->fd, buf, sizeof(buf));
    return NULL;
}

static double bench_raw(void)
{
    static uint8_t buf[BENCH_MSG];
    int lfd = gv_listen(PORT_BENCH_RAW, 4);
    int cfd = lfd >= 0 ? gv_connect(VMADDR_CID_LOCAL, PORT_BENCH_RAW) : -1;
    int sfd = cfd >= 0 ? gv_accept(lfd, NULL) : -1;
    double mbps = 0;
    if (sfd >= 0) {
        struct raw_sender s = { .fd = cfd };
        pthread_t t;
        size_t got = 0;
        pthread_create(&t, NULL, raw_send, &s);
        while (got < BENCH_BYTES) {
            ssize_t r = recv(sfd, buf, sizeof(buf), 0);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        double secs = gt_now() - s.t0;
        pthread_join(t, NULL);
        if (got == BENCH_BYTES && secs > 0)
            mbps = BENCH_BYTES / secs / 1e6;
    }
    if (sfd >= 0)
        close(sfd);
    if (cfd >= 0)
        close(cfd);
    if (lfd >= 0)
        close(lfd);
    return mbps;
}

struct ch_sender {
    vmsec_channel *ch;
    double t0;
    int rc;
};

static void *ch_send(void *p)
{
    struct ch_sender *s = p;
    static uint8_t buf[BENCH_MSG];
    gt_fill(buf, sizeof(buf), 2, 0);
    s->rc = vmsec_channel_handshake(s->ch); /* the server's runs inside its first recv */
    s->t0 = gt_now();
    for (size_t off = 0; off < BENCH_BYTES && s->rc == 0; off += sizeof(buf))
        s->rc = vmsec_channel_send(s->ch, buf, sizeof(buf), 0);
    return NULL;
}

/* One direction, client to server, 64 KiB messages; MB/s of application data, or 0. */
static double bench_channel(const char *proto_pattern, char *proto, size_t proto_len)
{
    const struct pattern *p = pattern_named(proto_pattern);
    vmsec_channel_config *scfg = make_cfg(p, false), *ccfg = make_cfg(p, true);
    vmsec_listener *l = NULL;
    vmsec_channel *cc = NULL, *sc = NULL;
    int cfd = -1, sfd = -1;
    char a[64];
    double mbps = 0;
    static uint8_t buf[BENCH_MSG];
    if (!scfg || !ccfg)
        goto out;
    vmsec_channel_config_get_protocol(ccfg, proto, proto_len);
    addr(a, sizeof(a), "any", PORT_BENCH_CH);
    if (vmsec_listener_new(&l, a) != 0)
        goto out;
    addr(a, sizeof(a), "1", PORT_BENCH_CH);
    if (vmsec_transport_connect(a, 10000, &cfd) != 0 ||
        vmsec_listener_accept(l, &sfd, NULL, 0, NULL) != 0)
        goto out;
    if (vmsec_channel_new(&cc, ccfg, cfd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD) != 0)
        goto out;
    cfd = -1;
    if (vmsec_channel_new(&sc, scfg, sfd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD) != 0)
        goto out;
    sfd = -1;
    struct ch_sender s = { .ch = cc };
    pthread_t t;
    size_t got = 0, len;
    pthread_create(&t, NULL, ch_send, &s);
    while (got < BENCH_BYTES && vmsec_channel_recv(sc, buf, sizeof(buf), &len) == 0)
        got += len;
    double secs = gt_now() - s.t0;
    pthread_join(t, NULL);
    if (got == BENCH_BYTES && s.rc == 0 && secs > 0)
        mbps = BENCH_BYTES / secs / 1e6;
out:
    if (cfd >= 0)
        close(cfd);
    if (sfd >= 0)
        close(sfd);
    vmsec_channel_free(cc);
    vmsec_channel_free(sc);
    vmsec_listener_free(l);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
    return mbps;
}

struct hs_server {
    vmsec_listener *l;
    vmsec_channel_config *cfg;
    int n, done;
};

static void *hs_serve(void *p)
{
    struct hs_server *h = p;
    for (int i = 0; i < h->n; i++) {
        vmsec_channel *ch = NULL;
        if (vmsec_channel_accept(&ch, h->cfg, h->l) == 0)
            h->done++;
        vmsec_channel_free(ch);
    }
    return NULL;
}

/* Sequential XX handshakes per second (connect + full handshake, both ends in this guest). */
static double bench_handshakes(int n)
{
    const struct pattern *xx = pattern_named("XX");
    struct hs_server h = { .cfg = make_cfg(xx, false), .n = n };
    vmsec_channel_config *ccfg = make_cfg(xx, true);
    char a[64];
    double rate = 0;
    addr(a, sizeof(a), "any", PORT_BENCH_HS);
    if (h.cfg && ccfg && vmsec_listener_new(&h.l, a) == 0) {
        pthread_t t;
        int ok = 0;
        addr(a, sizeof(a), "1", PORT_BENCH_HS);
        pthread_create(&t, NULL, hs_serve, &h);
        double t0 = gt_now();
        for (int i = 0; i < n; i++) {
            vmsec_channel *ch = NULL;
            ok += vmsec_channel_connect(&ch, ccfg, a) == 0;
            vmsec_channel_free(ch);
        }
        pthread_join(t, NULL);
        double secs = gt_now() - t0;
        if (ok == n && h.done == n && secs > 0)
            rate = n / secs;
    }
    vmsec_listener_free(h.l);
    vmsec_channel_config_free(h.cfg);
    vmsec_channel_config_free(ccfg);
    return rate;
}

/* Raw ChaCha20-Poly1305 speed of this guest's CPU: what a channel that encrypts and decrypts on
 * the same vCPU can at best reach, so the channel figure can be judged against it. */
static void bench_aead(double *enc, double *dec)
{
    enum { CHUNK = BENCH_MSG, TOTAL = 16 << 20 };
    static uint8_t pt[CHUNK], ct[CHUNK + crypto_aead_chacha20poly1305_ietf_ABYTES];
    uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES] = { 7 };
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = { 0 };
    unsigned long long clen = 0;
    int bad = 0;
    double t0 = gt_now();
    for (int i = 0; i < TOTAL / CHUNK; i++)
        crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, pt, CHUNK, NULL, 0, NULL, nonce, key);
    double t1 = gt_now();
    for (int i = 0; i < TOTAL / CHUNK; i++)
        bad |= crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, clen, NULL, 0, nonce, key);
    double t2 = gt_now();
    *enc = t1 > t0 ? TOTAL / (t1 - t0) / 1e6 : 0;
    *dec = t2 > t1 && !bad ? TOTAL / (t2 - t1) / 1e6 : 0;
}

static void test_bench(void)
{
    char proto[64] = "";
    double raw = bench_raw();
    double ch = bench_channel("XX", proto, sizeof(proto));
    double hs = bench_handshakes(20);
    gt_ok(raw > 0 && ch > 0 && hs > 0, "benchmark transfers completed (raw vsock, %s, handshakes)",
          proto);
    gt_diag("bench: raw vsock, 64 KiB writes: %.1f MB/s (%u MiB)", raw, BENCH_BYTES >> 20);
    gt_diag("bench: vmsec channel %s over vsock, 64 KiB messages: %.1f MB/s (%.0f%% of raw vsock)",
            proto, ch, raw > 0 ? 100 * ch / raw : 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    gt_diag("bench: %s handshakes over vsock (connect + handshake, %ld vCPU): %.1f/s", proto, cpus,
            hs);
    double enc = 0, dec = 0;
    bench_aead(&enc, &dec);
    gt_diag("bench: ChaCha20-Poly1305 on one vCPU (libsodium): encrypt %.1f MB/s, decrypt %.1f MB/s; "
            "encrypting and decrypting on one vCPU caps a channel at %.1f MB/s",
            enc, dec, enc > 0 && dec > 0 ? 1 / (1 / enc + 1 / dec) : 0);
}

/* --- main -------------------------------------------------------------------------------------- */

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int rc = vmsec_init();
    if (rc == 0)
        rc = vmsec_keypair_generate(&server_kp);
    if (rc == 0)
        rc = vmsec_keypair_generate(&client_kp);
    if (rc == 0)
        rc = vmsec_keypair_generate(&stranger_kp);
    if (rc == 0)
        rc = vmsec_keypair_public(server_kp, server_pub, sizeof(server_pub));
    if (rc == 0)
        rc = vmsec_keypair_public(client_kp, client_pub, sizeof(client_pub));
    if (rc == 0)
        rc = vmsec_keypair_public(stranger_kp, stranger_pub, sizeof(stranger_pub));
    if (!gt_ok(rc == 0, "library initialised and keys generated in the guest (%s)", errname(rc))) {
        printf("Bail out! %s\n", vmsec_error_last());
        return 1;
    }
    gt_fill(psk, sizeof(psk), 42, 0);

    for (size_t i = 0; i < N_PATTERNS; i++)
        test_pattern(i);
    test_negative();
    test_peer_cid();
    test_many();
    test_poll_server();
    test_large();
    test_nobody();
    test_inuse();
    test_peer_dies();
    test_cid_filter();
    test_bench();

    vmsec_keypair_free(server_kp);
    vmsec_keypair_free(client_kp);
    vmsec_keypair_free(stranger_kp);
    return gt_done();
}
