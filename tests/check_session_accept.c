/* SPDX-License-Identifier: ISC */
/* A non-blocking session listener in a single-threaded event loop, over real unix sockets: silent
 * peers do not hold up a good one (their connections stay open meanwhile), a resume through it
 * delivers every message once, the oldest pending connection makes way when the set is full, an
 * expired one is closed, failures come one per call, and a blocking session waiting for its resume
 * still accepts on the listener itself. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel_pair.h"

static vmsec_keypair *ka, *kb;
static vmsec_channel_config *cfg_a, *cfg_b; /* a: the connecting side, b: the accepting side */
static char dir[96], path[100], addr[VMSEC_ADDRESS_MAX + 32];

static void setup(void)
{
    vt_channel_pair_new(&ka, &kb, &cfg_a, &cfg_b);
    vmsec_channel_config_set_handshake_timeout(cfg_a, 5000);
    /* long enough that waiting out a silent peer would be seen (the suite's timeout is shorter) */
    vmsec_channel_config_set_handshake_timeout(cfg_b, 30000);
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/s", dir);
    snprintf(addr, sizeof(addr), "unix:%s", path);
}

static void teardown(void)
{
    vt_rmtree(dir);
    vt_channel_pair_free(ka, kb, cfg_a, cfg_b);
}

static vmsec_session_options fast_options(void)
{
    return vt_session_fast_options(10000);
}

/* A session listener in non-blocking mode. */
static void nb_listen(vmsec_listener **l, vmsec_session_listener **sl, const vmsec_session_options *o)
{
    ck_assert_int_eq(vmsec_listener_new(l, addr), 0);
    ck_assert_int_eq(vmsec_session_listener_new(sl, cfg_b, *l, o), 0);
    ck_assert_int_eq(vmsec_session_listener_set_nonblocking(*sl, 1), 0);
    ck_assert(fcntl(vmsec_listener_fd(*l), F_GETFL) & O_NONBLOCK);
}

/* A peer that connects and says nothing. */
static int silent_peer(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* The server end of fd is still open: nothing to read, no end of stream. */
static bool still_open(int fd)
{
    char b;
    return recv(fd, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

/* The server closed its end of fd (waits for it). */
static bool closed_by_server(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char b;
    ck_assert_int_eq(poll(&p, 1, -1), 1);
    return recv(fd, &b, 1, 0) == 0;
}

/* A good client, in its own thread (vmsec_session_connect() blocks): connects, sends msg. */
typedef struct client {
    pthread_t t;
    vmsec_session_options o;
    vmsec_session *c;
    const char *msg;
    int rc;
} client;

static void *client_run(void *p)
{
    client *x = p;
    if ((x->rc = vmsec_session_connect(&x->c, cfg_a, addr, &x->o)) == 0 && x->msg)
        x->rc = vmsec_session_send(x->c, (const uint8_t *)x->msg, strlen(x->msg));
    return NULL;
}

static void client_start(client *x, const char *msg)
{
    x->o = fast_options();
    x->msg = msg;
    pthread_create(&x->t, NULL, client_run, x);
}

static vmsec_session *client_join(client *x)
{
    pthread_join(x->t, NULL);
    ck_assert_msg(x->rc == 0, "client: %d", x->rc);
    return x->c;
}

/* One turn of a single-threaded loop on the listener alone: poll, then accept until VMSEC_EAGAIN.
 * Returns the first new session; *failures counts the per-connection errors. */
static vmsec_session *listener_turn(vmsec_session_listener *sl, int *failures)
{
    struct pollfd p = {.fd = vmsec_session_listener_fd(sl), .events = POLLIN};
    vmsec_session *s = NULL;
    int rc;
    ck_assert_int_ge(p.fd, 0);
    poll(&p, 1, vmsec_session_listener_next_timeout_ms(sl));
    while ((rc = vmsec_session_listener_accept(sl, &s)) != VMSEC_EAGAIN) {
        if (rc < 0)
            ++*failures;
        else if (s)
            return s;
    }
    return NULL;
}

static vmsec_session *serve_until_session(vmsec_session_listener *sl)
{
    vmsec_session *s;
    int failures = 0;
    while (!(s = listener_turn(sl, &failures)))
        ;
    ck_assert_int_eq(failures, 0);
    return s;
}

static void expect_recv(vmsec_session *s, const char *m)
{
    uint8_t buf[64];
    size_t n;
    ck_assert_msg(vmsec_session_recv(s, buf, sizeof(buf), &n) == 0, "%s", vmsec_error_last());
    ck_assert_uint_eq(n, strlen(m));
    ck_assert_mem_eq(buf, m, n);
}

/* Silent peers connect first; a good client connects after them and gets its session from a
 * single-threaded loop, while every silent peer's connection is still open on the server side:
 * the listener did not wait any of them out. */
START_TEST(silent_peers_do_not_hold_up_a_good_one)
{
    vmsec_session_options o = fast_options();
    vmsec_listener *l;
    vmsec_session_listener *sl;
    vmsec_session *s;
    client x = {0};
    int silent[8];
    nb_listen(&l, &sl, &o);
    for (int i = 0; i < 8; i++)
        silent[i] = silent_peer();
    client_start(&x, "hello");
    s = serve_until_session(sl);
    expect_recv(s, "hello");
    for (int i = 0; i < 8; i++)
        ck_assert_msg(still_open(silent[i]), "silent peer %d: its connection was closed", i);
    ck_assert_int_gt(vmsec_session_listener_next_timeout_ms(sl), 0); /* they are pending */
    vmsec_session_free(client_join(&x));
    vmsec_session_free(s);
    vmsec_session_listener_free(sl); /* closes the pending connections */
    for (int i = 0; i < 8; i++) {
        ck_assert(closed_by_server(silent[i]));
        close(silent[i]);
    }
    vmsec_listener_free(l);
}
END_TEST

/* An event loop over the listener and both (non-blocking) sessions. */
typedef struct loop {
    vmsec_session_listener *sl;
    vmsec_session *s, *c;
    int resumes;
    char got[32][8];
    int ngot;
} loop;

static int min_timeout(int a, int b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static void loop_turn(loop *x)
{
    struct pollfd p[3] = {
        {.fd = vmsec_session_listener_fd(x->sl), .events = POLLIN},
        {.fd = vmsec_session_fd(x->s), .events = vmsec_session_poll_events(x->s)},
        {.fd = vmsec_session_fd(x->c), .events = vmsec_session_poll_events(x->c)},
    };
    int t = min_timeout(vmsec_session_listener_next_timeout_ms(x->sl),
                        min_timeout(vmsec_session_next_timeout_ms(x->s), vmsec_session_next_timeout_ms(x->c)));
    vmsec_session *n;
    uint8_t buf[64];
    size_t len;
    int rc;
    poll(p, 3, t);
    while ((rc = vmsec_session_listener_accept(x->sl, &n)) != VMSEC_EAGAIN) {
        ck_assert_msg(rc == 0, "accept: %s", vmsec_error_last());
        ck_assert_ptr_null(n); /* only resumes come */
        x->resumes++;
    }
    ck_assert_msg(vmsec_session_tick(x->c) == 0, "client: %s", vmsec_error_last());
    ck_assert_msg(vmsec_session_tick(x->s) == 0, "server: %s", vmsec_error_last());
    while ((rc = vmsec_session_recv(x->s, buf, sizeof(buf), &len)) == 0) {
        ck_assert_int_lt(x->ngot, 32);
        snprintf(x->got[x->ngot++], 8, "%.*s", (int)len, buf);
    }
    ck_assert_msg(rc == VMSEC_EAGAIN, "server recv: %s", vmsec_error_last());
}

static void loop_send(loop *x, int from, int to)
{
    char m[8];
    for (int i = from; i < to; i++) {
        snprintf(m, sizeof(m), "m%d", i);
        ck_assert_int_eq(vmsec_session_send(x->c, (const uint8_t *)m, strlen(m)), 0);
    }
    while (x->ngot < to)
        loop_turn(x);
}

/* The client's link is cut; it resumes through the non-blocking listener, driven by the same
 * single-threaded loop, and every message arrives once, in order. */
START_TEST(a_resume_through_a_nonblocking_listener_delivers_exactly_once)
{
    vmsec_session_options o = fast_options();
    vmsec_listener *l;
    client cl = {0};
    loop x = {0};
    nb_listen(&l, &x.sl, &o);
    client_start(&cl, NULL);
    x.s = serve_until_session(x.sl);
    x.c = client_join(&cl);
    ck_assert_int_eq(vmsec_session_set_nonblocking(x.s, 1), 0);
    ck_assert_int_eq(vmsec_session_set_nonblocking(x.c, 1), 0);
    loop_send(&x, 0, 5);
    for (int cut = 0; cut < 2; cut++) {
        shutdown(vmsec_session_fd(x.c), SHUT_RDWR);
        loop_send(&x, 5 + 5 * cut, 10 + 5 * cut);
    }
    ck_assert_int_ge(x.resumes, 2);
    ck_assert_uint_eq(vmsec_session_links(x.c), 3);
    ck_assert_int_eq(x.ngot, 15);
    for (int i = 0; i < 15; i++) {
        char m[8];
        snprintf(m, sizeof(m), "m%d", i);
        ck_assert_str_eq(x.got[i], m);
    }
    vmsec_session_free(x.c);
    vmsec_session_free(x.s);
    vmsec_session_listener_free(x.sl);
    vmsec_listener_free(l);
}
END_TEST

/* One more silent peer than the set holds: the oldest is closed, the others stay, and a good
 * client still gets in (closing the next oldest). */
START_TEST(the_oldest_pending_connection_makes_way)
{
    vmsec_session_options o = fast_options();
    enum { N = VMSEC_SESSION_PENDING_MAX + 1 };
    vmsec_listener *l;
    vmsec_session_listener *sl;
    vmsec_session *s, *none;
    client x = {0};
    int silent[N];
    ck_assert_uint_eq(vmsec_session_listener_pending_max(), VMSEC_SESSION_PENDING_MAX);
    nb_listen(&l, &sl, &o);
    for (int i = 0; i < N; i++) {
        silent[i] = silent_peer();
        ck_assert_int_eq(vmsec_session_listener_accept(sl, &none), VMSEC_EAGAIN); /* pending, in order */
    }
    ck_assert(closed_by_server(silent[0]));
    for (int i = 1; i < N; i++)
        ck_assert_msg(still_open(silent[i]), "silent peer %d: closed", i);
    client_start(&x, "in");
    s = serve_until_session(sl);
    expect_recv(s, "in");
    ck_assert(closed_by_server(silent[1]));
    for (int i = 2; i < N; i++)
        ck_assert_msg(still_open(silent[i]), "silent peer %d: closed", i);
    vmsec_session_free(client_join(&x));
    vmsec_session_free(s);
    vmsec_session_listener_free(sl);
    for (int i = 0; i < N; i++)
        close(silent[i]);
    vmsec_listener_free(l);
}
END_TEST

/* A pending connection whose handshake timeout passes is closed, and that is reported once. */
START_TEST(an_expired_pending_connection_is_closed)
{
    vmsec_session_options o = fast_options();
    vmsec_listener *l;
    vmsec_session_listener *sl;
    vmsec_session *s;
    int fd, rc;
    vmsec_channel_config_set_handshake_timeout(cfg_b, 200);
    nb_listen(&l, &sl, &o);
    ck_assert_int_eq(vmsec_session_listener_next_timeout_ms(sl), -1);
    fd = silent_peer();
    ck_assert_int_eq(vmsec_session_listener_accept(sl, &s), VMSEC_EAGAIN); /* it did not wait */
    ck_assert_int_ge(vmsec_session_listener_next_timeout_ms(sl), 0);
    ck_assert(still_open(fd));
    do {
        struct pollfd p = {.fd = vmsec_session_listener_fd(sl), .events = POLLIN};
        poll(&p, 1, vmsec_session_listener_next_timeout_ms(sl));
    } while ((rc = vmsec_session_listener_accept(sl, &s)) == VMSEC_EAGAIN);
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d: %s", rc, vmsec_error_last());
    ck_assert_ptr_null(s);
    ck_assert(closed_by_server(fd));
    ck_assert_int_eq(vmsec_session_listener_next_timeout_ms(sl), -1);
    ck_assert_int_eq(vmsec_session_listener_accept(sl, &s), VMSEC_EAGAIN);
    close(fd);
    vmsec_session_listener_free(sl);
    vmsec_listener_free(l);
}
END_TEST

/* Peers that hang up at once: each failure is reported by its own call, then VMSEC_EAGAIN. */
START_TEST(failures_are_reported_one_per_call)
{
    vmsec_session_options o = fast_options();
    vmsec_listener *l;
    vmsec_session_listener *sl;
    vmsec_session *s;
    nb_listen(&l, &sl, &o);
    close(silent_peer());
    close(silent_peer());
    ck_assert_int_lt(vmsec_session_listener_accept(sl, &s), 0);
    ck_assert_ptr_null(s);
    ck_assert_int_lt(vmsec_session_listener_accept(sl, &s), 0);
    ck_assert_int_eq(vmsec_session_listener_accept(sl, &s), VMSEC_EAGAIN);
    ck_assert_int_eq(vmsec_session_listener_next_timeout_ms(sl), -1);
    vmsec_session_listener_free(sl);
    vmsec_listener_free(l);
}
END_TEST

/* The accepted hook: refuses the first connection, records whether each descriptor was blocking. */
typedef struct hook {
    int calls, nonblocking;
} hook;

static int refuse_first(void *user, int fd, unsigned int timeout_ms)
{
    hook *h = user;
    ck_assert_uint_eq(timeout_ms, 30000);
    h->nonblocking += (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
    return ++h->calls == 1 ? VMSEC_EDENIED : 0;
}

/* The accepted hook still runs, on a blocking descriptor, for each connection; the one it refuses
 * is closed and its failure returned by one call, and the next connection goes on. */
START_TEST(the_accepted_hook_runs_on_each_connection)
{
    vmsec_session_options o = fast_options();
    vmsec_listener *l;
    vmsec_session_listener *sl;
    vmsec_session *s = NULL;
    client x = {0};
    hook h = {0};
    int fd, failures = 0;
    o.accepted = refuse_first;
    o.accepted_user = &h;
    nb_listen(&l, &sl, &o);
    fd = silent_peer();
    client_start(&x, "second");
    while (!s)
        s = listener_turn(sl, &failures);
    expect_recv(s, "second");
    ck_assert_int_eq(failures, 1);
    ck_assert_int_eq(h.calls, 2);
    ck_assert_int_eq(h.nonblocking, 0);
    ck_assert(closed_by_server(fd));
    close(fd);
    vmsec_session_free(client_join(&x));
    vmsec_session_free(s);
    vmsec_session_listener_free(sl);
    vmsec_listener_free(l);
}
END_TEST

/* A blocking session echoing in its own thread; rc: how it ended. */
typedef struct echo {
    pthread_t t;
    vmsec_session *s;
    int rc, ngot;
    char got[4][8];
} echo;

static void *echo_run(void *p)
{
    echo *e = p;
    uint8_t buf[64];
    size_t n;
    while ((e->rc = vmsec_session_recv(e->s, buf, sizeof(buf), &n)) == 0) {
        if (e->ngot < 4)
            snprintf(e->got[e->ngot++], 8, "%.*s", (int)n, buf);
        if ((e->rc = vmsec_session_send(e->s, buf, n)) < 0)
            break;
    }
    return NULL;
}

static void expect_echo(vmsec_session *c, const char *m)
{
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)m, strlen(m)), 0);
    expect_recv(c, m);
}

/* A blocking session of a non-blocking listener, waiting for its resume in another thread,
 * accepts on the listener itself (nobody else does meanwhile), while an event loop still gets the
 * new sessions that come in. */
START_TEST(a_waiting_blocking_session_resumes_through_a_nonblocking_listener)
{
    vmsec_session_options o = fast_options();
    vmsec_listener *l;
    vmsec_session_listener *sl;
    vmsec_session *c1, *s2;
    client x1 = {0}, x2 = {0};
    echo e = {0};
    nb_listen(&l, &sl, &o);
    client_start(&x1, NULL);
    e.s = serve_until_session(sl);
    c1 = client_join(&x1);
    pthread_create(&e.t, NULL, echo_run, &e);
    expect_echo(c1, "one");
    shutdown(vmsec_session_fd(c1), SHUT_RDWR); /* the echo thread waits for a resume */
    client_start(&x2, "two");
    s2 = serve_until_session(sl);              /* from the loop or from the waiting session */
    expect_recv(s2, "two");
    vmsec_session_free(client_join(&x2));
    expect_echo(c1, "three");                  /* resumed: only the echo thread accepts now */
    ck_assert_uint_eq(vmsec_session_links(c1), 2);
    ck_assert_int_eq(vmsec_session_close(c1), 0);
    pthread_join(e.t, NULL);
    ck_assert_int_eq(e.rc, VMSEC_ECLOSED);
    ck_assert_int_eq(e.ngot, 2);
    ck_assert_str_eq(e.got[0], "one");
    ck_assert_str_eq(e.got[1], "three");
    vmsec_session_free(c1);
    vmsec_session_free(e.s);
    vmsec_session_free(s2);
    vmsec_session_listener_free(sl);
    vmsec_listener_free(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session_accept");
    TCase *tc = tcase_create("session_accept");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20); /* below the 30 s handshake timeout: waiting out a silent peer fails */
    tcase_add_test(tc, silent_peers_do_not_hold_up_a_good_one);
    tcase_add_test(tc, a_resume_through_a_nonblocking_listener_delivers_exactly_once);
    tcase_add_test(tc, the_oldest_pending_connection_makes_way);
    tcase_add_test(tc, an_expired_pending_connection_is_closed);
    tcase_add_test(tc, failures_are_reported_one_per_call);
    tcase_add_test(tc, the_accepted_hook_runs_on_each_connection);
    tcase_add_test(tc, a_waiting_blocking_session_resumes_through_a_nonblocking_listener);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
