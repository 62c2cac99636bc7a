/* SPDX-License-Identifier: ISC */
/* vsock_channel guest tests under load: 64 concurrent clients on one listener, and an event loop
 * serving non-blocking channels under poll(2). */
#include <fcntl.h>
#include <poll.h>

#include <sodium.h>

#include "gtap.h"
#include "gvsock.h"
#include "vsock_channel.h"

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

void test_many(void)
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

void test_poll_server(void)
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

