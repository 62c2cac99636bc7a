/* SPDX-License-Identifier: ISC */
/* A session through the relay (tests/relay_testutil.h: the library's relay in a thread, identities
 * injected through the client sockets' bound names). The client's dial hook asks the relay for the
 * target on every link, the server's accepted hook reads the relay's origin header. The relay is
 * stopped and started again while megabytes flow each way: every byte arrives once, in order (the
 * receiver regenerates the sender's pseudo-random stream and compares). A relay that stays down
 * past the reconnect deadline ends the session on both sides with VMSEC_ETIMEDOUT. */
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>

#include "relay_testutil.h"

#define MAX_MSG 65536

static const char *policy_text = "service secure port 6000\n"
                                 "allow secure from alice to bob\n";

/* ---- the relay, stoppable and restartable in the same directory ----------------------------- */

static void relay_up(struct rt *t)
{
    unlink(t->sock); /* left behind by the relay that stopped */
    ck_assert_int_eq(vmsec_relay_new(&t->relay), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_fd(t->relay, -1), 0);
    ck_assert_int_eq(vmsec_relay_set_identify(t->relay, rt_identify, t), 0);
    ck_assert_int_eq(vmsec_relay_set_connect(t->relay, rt_connect, t), 0);
    {
        vmsec_policy *p = NULL;
        ck_assert_int_eq(vmsec_policy_load_string(&p, policy_text, strlen(policy_text), "t.conf"), 0);
        ck_assert_int_eq(vmsec_relay_set_policy(t->relay, p), 0);
    }
    ck_assert_int_eq(vmsec_relay_listen_unix(t->relay, t->sock, "host"), 0);
    ck_assert_int_eq(pthread_create(&t->thread, NULL, rt_thread, t), 0);
}

/* Stops the relay as a crash would for its connections: every one of them is closed. */
static void relay_down(struct rt *t)
{
    ck_assert_int_eq(vmsec_relay_interrupt(t->relay), 0);
    ck_assert_int_eq(pthread_join(t->thread, NULL), 0);
    vmsec_relay_free(t->relay);
    t->relay = NULL;
    unlink(t->sock);
}

/* ---- the hooks -------------------------------------------------------------------------------- */

/* alice (cid 3) connects to the relay and asks for bob's "secure" service: on every link. */
static int dial_via_relay(void *user, const char *address, unsigned int timeout_ms, int *fd)
{
    struct rt *t = user;
    struct sockaddr_un me, relay;
    int s, rc;
    (void)address;
    rt_sun(&me, "%s/c.3.alice.%d", t->dir, atomic_fetch_add(&t->nclient, 1));
    rt_sun(&relay, "%s", t->sock);
    if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return VMSEC_EIO;
    if (bind(s, (struct sockaddr *)&me, sizeof(me)) < 0 || connect(s, (struct sockaddr *)&relay, sizeof(relay)) < 0) {
        close(s);
        return VMSEC_ECONNREFUSED; /* the relay is down */
    }
    if ((rc = vmsec_relay_request(s, "bob", "secure", (int)timeout_ms)) < 0) {
        close(s);
        return rc;
    }
    *fd = s;
    return 0;
}

static int read_origin(void *user, int fd, unsigned int timeout_ms)
{
    char domain[64], service[65];
    uint32_t cid;
    int rc;
    (void)user;
    if ((rc = vmsec_relay_origin_read(fd, (int)timeout_ms, domain, sizeof(domain), &cid, service, sizeof(service))) < 0)
        return rc;
    return strcmp(domain, "alice") ? VMSEC_EPERM : 0;
}

/* ---- the two ends ----------------------------------------------------------------------------- */

typedef struct stream {
    uint64_t x;
} stream;

static uint8_t stream_byte(stream *s)
{
    s->x ^= s->x << 13;
    s->x ^= s->x >> 7;
    s->x ^= s->x << 17;
    return (uint8_t)(s->x >> 32);
}

typedef struct end {
    vmsec_session *s;
    vmsec_session_listener *sl; /* server */
    vmsec_listener *l;          /* server */
    stream out, in, sizes;
    uint64_t total, sent, received;
    uint8_t msg[MAX_MSG], got[MAX_MSG];
    size_t msg_len;
    bool closed;
    atomic_uint_least64_t progress; /* bytes received, for the test's relay kills */
    atomic_uint_least64_t limit;    /* send no further than this (the test holds data back) */
    int rc;
    pthread_t t;
} end;

static int send_some(end *e)
{
    uint64_t limit = atomic_load(&e->limit);
    int rc;
    while (e->sent < limit) {
        if (!e->msg_len) {
            e->msg_len = 1 + (stream_byte(&e->sizes) << 8 | stream_byte(&e->sizes)) % MAX_MSG;
            if (e->msg_len > limit - e->sent)
                e->msg_len = (size_t)(limit - e->sent);
            for (size_t i = 0; i < e->msg_len; i++)
                e->msg[i] = stream_byte(&e->out);
        }
        if ((rc = vmsec_session_send(e->s, e->msg, e->msg_len)) == VMSEC_EAGAIN)
            return 0;
        if (rc < 0)
            return rc;
        e->sent += e->msg_len;
        e->msg_len = 0;
    }
    return 0;
}

static int recv_some(end *e)
{
    size_t n;
    int rc;
    while ((rc = vmsec_session_recv(e->s, e->got, MAX_MSG, &n)) == 0) {
        for (size_t i = 0; i < n; i++)
            if (e->got[i] != stream_byte(&e->in)) {
                fprintf(stderr, "# corrupted, lost or repeated data at byte %llu\n",
                        (unsigned long long)(e->received + i));
                return VMSEC_EINTERNAL;
            }
        e->received += n;
        atomic_store(&e->progress, e->received);
    }
    if (rc == VMSEC_ECLOSED)
        e->closed = true;
    return rc == VMSEC_EAGAIN || rc == VMSEC_ECLOSED ? 0 : rc;
}

/* One turn of an end's event loop; 1 once its part is done. */
static int turn(end *e)
{
    bool server = e->sl != NULL;
    struct pollfd f[2] = {{.fd = vmsec_session_fd(e->s), .events = vmsec_session_poll_events(e->s)},
                          {.fd = server ? vmsec_listener_fd(e->l) : -1, .events = POLLIN}};
    int rc, t = vmsec_session_next_timeout_ms(e->s);
    poll(f, 2, t < 0 || t > 50 ? 50 : t);
    if (server && (f[1].revents & POLLIN)) {
        vmsec_session *fresh = NULL;
        if (vmsec_session_listener_accept(e->sl, &fresh) == 0 && fresh) {
            vmsec_session_free(fresh);
            fprintf(stderr, "# a second session was opened\n");
            return VMSEC_EPROTO;
        }
    }
    if ((rc = vmsec_session_tick(e->s)) < 0 || (rc = send_some(e)) < 0 || (rc = recv_some(e)) < 0)
        return rc;
    if (e->sent < e->total || e->received < e->total)
        return 0;
    if (server) /* the client closes once it has everything */
        return e->closed;
    rc = vmsec_session_close(e->s);
    return rc == 0 ? 1 : rc == VMSEC_EAGAIN ? 0 : rc;
}

static void *end_run(void *arg)
{
    end *e = arg;
    vmsec_session_set_nonblocking(e->s, 1);
    while ((e->rc = turn(e)) == 0)
        ;
    if (e->rc == 1)
        e->rc = 0;
    else
        fprintf(stderr, "# %s: %d %s\n", e->sl ? "server" : "client", e->rc, vmsec_error_last());
    return NULL;
}

/* ---- the fixture ------------------------------------------------------------------------------ */

static vmsec_keypair *ka, *kb;
static vmsec_channel_config *cfg_a, *cfg_b;
static struct rt rt;

static void setup(void)
{
    uint8_t pa[32], pb[32];
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(vmsec_keypair_generate(&ka), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&kb), 0);
    vmsec_keypair_public(ka, pa, 32);
    vmsec_keypair_public(kb, pb, 32);
    ck_assert_int_eq(vmsec_channel_config_new(&cfg_a), 0);
    ck_assert_int_eq(vmsec_channel_config_new(&cfg_b), 0);
    vmsec_channel_config_set_keypair(cfg_a, ka);
    vmsec_channel_config_set_keypair(cfg_b, kb);
    vmsec_channel_config_add_trusted_peer(cfg_a, pb, 32);
    vmsec_channel_config_add_trusted_peer(cfg_b, pa, 32);
    vmsec_channel_config_set_handshake_timeout(cfg_a, 2000);
    vmsec_channel_config_set_handshake_timeout(cfg_b, 2000);
    memset(&rt, 0, sizeof(rt));
    pthread_mutex_init(&rt.lock, NULL);
    vt_tmpdir(rt.dir, sizeof(rt.dir));
    snprintf(rt.sock, sizeof(rt.sock), "%s/relay.sock", rt.dir);
}

static void teardown(void)
{
    if (rt.relay)
        relay_down(&rt);
    vt_rmtree(rt.dir);
    pthread_mutex_destroy(&rt.lock);
    vmsec_channel_config_free(cfg_a);
    vmsec_channel_config_free(cfg_b);
    vmsec_keypair_free(ka);
    vmsec_keypair_free(kb);
}

static vmsec_session_options options(unsigned int deadline_ms)
{
    vmsec_session_options o;
    ck_assert_int_eq(vmsec_session_options_init(&o, VMSEC_SESSION_OPTIONS_VERSION), 0);
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 100;
    o.ack_delay_ms = 5;
    o.reconnect_deadline_ms = deadline_ms;
    o.dial = dial_via_relay;
    o.dial_user = &rt;
    o.accepted = read_origin;
    return o;
}

/* Opens the session through the relay: client and server end, each with its own stream seeds. */
static void open_pair(end *c, end *sv, const vmsec_session_options *o, uint64_t total)
{
    char bob[PATH_MAX + 64];
    snprintf(bob, sizeof(bob), "unix:%s/t.bob.6000", rt.dir);
    ck_assert_int_eq(vmsec_listener_new(&sv->l, bob), 0);
    ck_assert_int_eq(vmsec_session_listener_new(&sv->sl, cfg_b, sv->l, o), 0);
    c->out.x = sv->in.x = c->sizes.x = 0x9e3779b97f4a7c15ull;
    sv->out.x = c->in.x = sv->sizes.x = 0x2545f4914f6cdd1dull;
    c->total = sv->total = total;
    atomic_store(&c->limit, total);
    atomic_store(&sv->limit, total);
}

static void *accept_first(void *arg)
{
    end *sv = arg;
    sv->rc = vmsec_session_listener_accept(sv->sl, &sv->s);
    return NULL;
}

static void close_pair(end *c, end *sv)
{
    vmsec_session_free(c->s);
    vmsec_session_free(sv->s);
    vmsec_session_listener_free(sv->sl);
    vmsec_listener_free(sv->l);
}

static void connect_pair(end *c, end *sv, const vmsec_session_options *o)
{
    char addr[PATH_MAX + 64];
    snprintf(addr, sizeof(addr), "unix:%s/relay.sock", rt.dir); /* informative: the dial hook decides */
    ck_assert_int_eq(pthread_create(&sv->t, NULL, accept_first, sv), 0);
    ck_assert_msg(vmsec_session_connect(&c->s, cfg_a, addr, o) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(pthread_join(sv->t, NULL), 0);
    ck_assert_msg(sv->rc == 0 && sv->s, "%d %s", sv->rc, vmsec_error_last());
}

/* Waits until both ends received at least n bytes (or one of them ended). */
static void wait_progress(end *c, end *sv, uint64_t n)
{
    while ((atomic_load(&c->progress) < n || atomic_load(&sv->progress) < n) && c->rc == 0 && sv->rc == 0 &&
           atomic_load(&c->progress) < c->total)
        poll(NULL, 0, 2);
}

START_TEST(a_session_survives_relay_restarts)
{
    /* each way; under make check-valgrind a little, which still crosses both restarts */
    const uint64_t total = getenv("VMSEC_UNDER_VALGRIND") ? 256u << 10 : 8u << 20;
    vmsec_session_options o = options(10000);
    end *c = calloc(1, sizeof(*c)), *sv = calloc(1, sizeof(*sv));
    relay_up(&rt);
    open_pair(c, sv, &o, total);
    /* Both ends send a quarter, then a half, then all of it, moving on only after a relay stop:
     * each stop finds bytes still due, and the bytes after it can only cross a new link, so the
     * two stops cost the session two links however fast or slow the machine is. */
    atomic_store(&c->limit, total / 4);
    atomic_store(&sv->limit, total / 4);
    connect_pair(c, sv, &o);
    pthread_create(&c->t, NULL, end_run, c);
    pthread_create(&sv->t, NULL, end_run, sv);
    for (int k = 1; k <= 2; k++) {
        wait_progress(c, sv, total * k / 4);
        relay_down(&rt);
        poll(NULL, 0, 200); /* down for a while: the client's attempts find no relay */
        relay_up(&rt);
        atomic_store(&c->limit, k == 1 ? total / 2 : total);
        atomic_store(&sv->limit, k == 1 ? total / 2 : total);
    }
    pthread_join(c->t, NULL);
    pthread_join(sv->t, NULL);
    ck_assert_int_eq(c->rc, 0);
    ck_assert_int_eq(sv->rc, 0);
    ck_assert_uint_eq(c->received, total);
    ck_assert_uint_eq(sv->received, total);
    ck_assert(sv->closed);
    fprintf(stderr, "# %llu bytes each way through the relay, stopped twice mid-stream: %llu links\n",
            (unsigned long long)total, (unsigned long long)vmsec_session_links(c->s));
    ck_assert_uint_ge(vmsec_session_links(c->s), 3);
    close_pair(c, sv);
    free(c);
    free(sv);
}
END_TEST

START_TEST(a_relay_that_stays_down_ends_the_session_at_the_deadline)
{
    vmsec_session_options o = options(400);
    end *c = calloc(1, sizeof(*c)), *sv = calloc(1, sizeof(*sv));
    uint8_t buf[8];
    size_t n;
    int rc;
    relay_up(&rt);
    open_pair(c, sv, &o, 0);
    connect_pair(c, sv, &o);
    ck_assert_int_eq(vmsec_session_send(c->s, (const uint8_t *)"hi", 2), 0);
    ck_assert_int_eq(vmsec_session_recv(sv->s, buf, sizeof(buf), &n), 0);
    relay_down(&rt);
    rc = vmsec_session_recv(c->s, buf, sizeof(buf), &n);
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d %s", rc, vmsec_error_last());
    rc = vmsec_session_recv(sv->s, buf, sizeof(buf), &n);
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d %s", rc, vmsec_error_last());
    ck_assert_int_eq(vmsec_session_send(c->s, (const uint8_t *)"x", 1), VMSEC_ETIMEDOUT);
    close_pair(c, sv);
    free(c);
    free(sv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session relay");
    TCase *tc = tcase_create("relay");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_session_survives_relay_restarts);
    tcase_add_test(tc, a_relay_that_stays_down_ends_the_session_at_the_deadline);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
