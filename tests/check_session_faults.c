/* SPDX-License-Identifier: ISC */
/* Sessions under real faults: a TCP proxy between a client and a server session cuts the
 * connection at random points (during the handshake, mid-record, mid-acknowledgement; half of the
 * cuts are resets) while both sides stream data at each other through non-blocking sessions.
 * Every byte must arrive once and in order (each direction is a seeded pseudo-random stream the
 * receiver regenerates and compares), across at least VMSEC_SESSION_FAULT_CUTS cuts (default 100);
 * then both sessions close in order, and descriptors and heap are back to their baseline.
 *
 * Knobs (environment): VMSEC_SESSION_FAULT_BYTES, bytes each way (default 1 GiB: about 30 s on
 * two cores), VMSEC_SESSION_FAULT_CUTS (default 100), VMSEC_SESSION_FAULT_SEED (default: from the
 * clock, printed so that a failure can be replayed with the same cuts). */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "channel_pair.h"

#define DEFAULT_BYTES ((uint64_t)1 << 30)
#define MAX_MSG 65536
#define MAX_PAIRS 8

static uint64_t total_bytes, seed;
static unsigned int cuts_wanted;

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the data: a pseudo-random byte stream per direction ------------------------------------- */

typedef struct stream {
    uint64_t x, word;
    int have; /* bytes of word not yet used */
} stream;

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void stream_fill(stream *s, uint8_t *p, size_t n)
{
    while (n) {
        if (!s->have) {
            s->word = xorshift(&s->x);
            s->have = 8;
        }
        *p++ = (uint8_t)(s->word >> (8 * --s->have));
        n--;
    }
}

/* ---- the fault proxy ------------------------------------------------------------------------- */

typedef struct pair {
    int a, b;          /* client side, server side; -1 = unused */
    uint64_t budget;   /* bytes it relays before the cut */
} pair;

typedef struct proxy {
    int lfd;
    char target[VMSEC_ADDRESS_MAX];
    uint64_t rng;
    atomic_bool stop;
    atomic_uint cuts, early_cuts;
    pair p[MAX_PAIRS];
    pthread_t t;
} proxy;

static int tcp_listen(uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A quarter of the connections are cut within their first 600 bytes (handshake, HELLO, WELCOME);
 * the others anywhere up to twice a mean that spreads the transfer (2 x total_bytes) over twice the
 * cuts wanted. After one and a half times the cuts wanted, the proxy lets the transfer finish. */
static uint64_t next_budget(proxy *px)
{
    uint64_t mean = total_bytes / cuts_wanted + 1;
    if (atomic_load(&px->cuts) >= cuts_wanted + cuts_wanted / 2)
        return UINT64_MAX; /* enough: let the transfer finish */
    if (xorshift(&px->rng) % 4 == 0)
        return xorshift(&px->rng) % 600;
    return xorshift(&px->rng) % (2 * mean);
}

static void cut(proxy *px, pair *p)
{
    if (xorshift(&px->rng) % 2) { /* a reset rather than an end of stream */
        struct linger lg = {1, 0};
        setsockopt(p->a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        setsockopt(p->b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(p->a);
    close(p->b);
    p->a = p->b = -1;
    if (p->budget != UINT64_MAX)
        atomic_fetch_add(&px->cuts, 1);
}

static void proxy_accept(proxy *px)
{
    int a = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC), b;
    if (a < 0)
        return;
    if (vmsec_transport_connect(px->target, 2000, &b) < 0) {
        close(a);
        return;
    }
    for (int i = 0; i < MAX_PAIRS; i++)
        if (px->p[i].a < 0) {
            px->p[i] = (pair){a, b, next_budget(px)};
            if (px->p[i].budget < 600)
                atomic_fetch_add(&px->early_cuts, 1);
            return;
        }
    close(a);
    close(b);
}

/* Relays what one side sent, no more than the budget left; 0 when the pair ended. */
static int relay(proxy *px, pair *p, int from, int to)
{
    uint8_t buf[65536];
    size_t want = p->budget < sizeof(buf) ? (size_t)p->budget : sizeof(buf);
    ssize_t n = want ? read(from, buf, want) : 0, off = 0;
    if (n <= 0 || (p->budget -= (uint64_t)n, 0)) {
        cut(px, p);
        return 0;
    }
    while (off < n) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0) {
            cut(px, p);
            return 0;
        }
        off += w;
    }
    if (p->budget == 0)
        cut(px, p);
    return 1;
}

static void *proxy_run(void *arg)
{
    proxy *px = arg;
    while (!atomic_load(&px->stop)) {
        struct pollfd f[1 + 2 * MAX_PAIRS];
        int n = 1;
        f[0] = (struct pollfd){.fd = px->lfd, .events = POLLIN};
        for (int i = 0; i < MAX_PAIRS; i++) {
            f[n++] = (struct pollfd){.fd = px->p[i].a, .events = POLLIN};
            f[n++] = (struct pollfd){.fd = px->p[i].b, .events = POLLIN};
        }
        if (poll(f, (nfds_t)n, 50) <= 0)
            continue;
        if (f[0].revents)
            proxy_accept(px);
        for (int i = 0; i < MAX_PAIRS; i++) {
            pair *p = &px->p[i];
            if (f[1 + 2 * i].revents && p->a >= 0 && !relay(px, p, p->a, p->b))
                continue;
            if (f[2 + 2 * i].revents && p->a >= 0)
                relay(px, p, p->b, p->a);
        }
    }
    for (int i = 0; i < MAX_PAIRS; i++)
        if (px->p[i].a >= 0) {
            close(px->p[i].a);
            close(px->p[i].b);
        }
    return NULL;
}

static int test_error(int code, const char *what, unsigned long long at)
{
    fprintf(stderr, "# %s (byte %llu)\n", what, at);
    return code;
}

/* ---- the two ends ---------------------------------------------------------------------------- */

typedef struct end {
    vmsec_session *s;
    vmsec_session_listener *sl; /* server only */
    vmsec_listener *l;
    const vmsec_channel_config *cfg;
    const char *address;
    stream out, in;
    uint64_t sent, received, rng;
    uint8_t *msg, *got, *want;
    size_t msg_len; /* a message generated and not yet accepted by the session */
    int rc;
    bool closed;
    atomic_bool done;      /* client: its close completed */
    atomic_bool *peer_done; /* server: the client's done */
    pthread_t t;
} end;

static int send_some(end *e)
{
    int rc;
    while (e->sent < total_bytes) {
        if (!e->msg_len) {
            uint64_t left = total_bytes - e->sent;
            e->msg_len = 1 + xorshift(&e->rng) % MAX_MSG;
            if (e->msg_len > left)
                e->msg_len = (size_t)left;
            stream_fill(&e->out, e->msg, e->msg_len);
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
        stream_fill(&e->in, e->want, n);
        if (memcmp(e->got, e->want, n))
            return test_error(VMSEC_EINTERNAL, "corrupted, lost or repeated data", (unsigned long long)e->received);
        e->received += n;
    }
    if (rc == VMSEC_ECLOSED)
        e->closed = true;
    return rc == VMSEC_EAGAIN || rc == VMSEC_ECLOSED ? 0 : rc;
}

/* One turn of an end's event loop; 1 when its part is done. */
static int turn(end *e, bool server)
{
    struct pollfd f[2] = {{.fd = vmsec_session_fd(e->s), .events = vmsec_session_poll_events(e->s)},
                          {.fd = server ? vmsec_listener_fd(e->l) : -1, .events = POLLIN}};
    int rc, t = vmsec_session_next_timeout_ms(e->s);
    poll(f, 2, t < 0 || t > 100 ? 100 : t);
    if (server && (f[1].revents & POLLIN)) {
        vmsec_session *fresh = NULL;
        if (vmsec_session_listener_accept(e->sl, &fresh) == 0 && fresh)
            return test_error(VMSEC_EPROTO, "a second session was opened", 0);
    }
    if ((rc = vmsec_session_tick(e->s)) < 0 || (rc = send_some(e)) < 0 || (rc = recv_some(e)) < 0)
        return rc;
    if (e->sent < total_bytes || e->received < total_bytes)
        return 0;
    /* The client closes once it has everything. The server, once it delivered the close, keeps its
     * session running until the client ended the link (its descriptor is then -1) or is done: a cut
     * may have eaten the acknowledgement of the close, which the client then resumes to learn. */
    if (server)
        return e->closed && (vmsec_session_fd(e->s) < 0 || atomic_load(e->peer_done));
    rc = vmsec_session_close(e->s);
    if (rc == 0)
        atomic_store(&e->done, true);
    return rc == 0 ? 1 : rc == VMSEC_EAGAIN ? 0 : rc;
}

static void *end_run(void *arg)
{
    end *e = arg;
    bool server = e->sl != NULL;
    int64_t give_up = now_ms() + 60000;
    vmsec_session_options o;
    vmsec_session_options_init(&o, VMSEC_SESSION_OPTIONS_VERSION);
    o.backoff_initial_ms = 5;
    o.backoff_max_ms = 50;
    o.ack_delay_ms = 5;
    while (!server && vmsec_session_connect(&e->s, e->cfg, e->address, &o) < 0)
        if (now_ms() > give_up) { /* the proxy may cut the first connection too */
            e->rc = VMSEC_ETIMEDOUT;
            return NULL;
        }
    while (server && (e->rc = vmsec_session_listener_accept(e->sl, &e->s)) < 0)
        if (now_ms() > give_up)
            return NULL;
    if (server) /* from now on accept only what poll announced */
        fcntl(vmsec_listener_fd(e->l), F_SETFL, fcntl(vmsec_listener_fd(e->l), F_GETFL) | O_NONBLOCK);
    vmsec_session_set_nonblocking(e->s, 1);
    while ((e->rc = turn(e, server)) == 0)
        ;
    if (e->rc == 1)
        e->rc = 0;
    else
        fprintf(stderr, "# %s: %d %s\n", server ? "server" : "client", e->rc, vmsec_error_last());
    return NULL;
}

/* ---- the test -------------------------------------------------------------------------------- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void end_init(end *e, const vmsec_channel_config *cfg, uint64_t out_seed, uint64_t in_seed)
{
    e->cfg = cfg;
    e->out.x = out_seed;
    e->in.x = in_seed;
    e->rng = out_seed ^ 0x9e3779b97f4a7c15ull;
    e->msg = malloc(MAX_MSG);
    e->got = malloc(MAX_MSG);
    e->want = malloc(MAX_MSG);
    ck_assert(e->msg && e->got && e->want);
}

static void end_free(end *e)
{
    vmsec_session_free(e->s);
    free(e->msg);
    free(e->got);
    free(e->want);
}

/* One transfer through the proxy: both ends, the proxy, and the checks of what arrived. */
static void run_round(const vmsec_channel_config *cfg_a, const vmsec_channel_config *cfg_b, bool report)
{
    char server_addr[VMSEC_ADDRESS_MAX], proxy_addr[64];
    proxy px = {.rng = seed * 2 + 1};
    end client = {0}, server = {0};
    vmsec_session_options fast;
    uint16_t port;
    int64_t t0;
    vmsec_session_options_init(&fast, VMSEC_SESSION_OPTIONS_VERSION);
    fast.backoff_initial_ms = 5;
    fast.backoff_max_ms = 50;
    fast.ack_delay_ms = 5;
    ck_assert_int_eq(vmsec_listener_new(&server.l, "tcp:127.0.0.1:0"), 0);
    vmsec_listener_address(server.l, server_addr, sizeof(server_addr));
    ck_assert_int_eq(vmsec_session_listener_new(&server.sl, cfg_b, server.l, &fast), 0);
    for (int i = 0; i < MAX_PAIRS; i++)
        px.p[i].a = px.p[i].b = -1;
    px.lfd = tcp_listen(&port);
    snprintf(px.target, sizeof(px.target), "%s", server_addr);
    snprintf(proxy_addr, sizeof(proxy_addr), "tcp:127.0.0.1:%u", port);
    client.address = proxy_addr;
    end_init(&client, cfg_a, seed | 1, (seed | 1) + 2);
    end_init(&server, cfg_b, (seed | 1) + 2, seed | 1);
    server.peer_done = &client.done;

    t0 = now_ms();
    pthread_create(&px.t, NULL, proxy_run, &px);
    pthread_create(&server.t, NULL, end_run, &server);
    pthread_create(&client.t, NULL, end_run, &client);
    pthread_join(client.t, NULL);
    pthread_join(server.t, NULL);
    atomic_store(&px.stop, true);
    pthread_join(px.t, NULL);
    if (report)
        printf("# %llu bytes each way in %.1f s, %u cuts (%u within 600 bytes of a connection), %llu links, "
               "seed %llu\n", (unsigned long long)total_bytes, (now_ms() - t0) / 1000.0, atomic_load(&px.cuts),
               atomic_load(&px.early_cuts), (unsigned long long)vmsec_session_links(client.s),
               (unsigned long long)seed);
    ck_assert_msg(client.rc == 0 && server.rc == 0, "client %d, server %d (seed %llu)", client.rc, server.rc,
                  (unsigned long long)seed);
    ck_assert_uint_eq(client.received, total_bytes);
    ck_assert_uint_eq(server.received, total_bytes);
    ck_assert_uint_ge(atomic_load(&px.cuts), cuts_wanted);
    end_free(&client);
    end_free(&server);
    vmsec_session_listener_free(server.sl);
    vmsec_listener_free(server.l);
    close(px.lfd);
}

START_TEST(every_byte_once_in_order_across_random_cuts)
{
    vmsec_keypair *ka, *kb;
    vmsec_channel_config *cfg_a, *cfg_b;
    uint64_t bytes = total_bytes;
    unsigned int cuts = cuts_wanted;
    int fds0, fds1;
    size_t heap0, heap1;
    vt_channel_pair_new(&ka, &kb, &cfg_a, &cfg_b);
    vmsec_channel_config_set_handshake_timeout(cfg_a, 2000);
    vmsec_channel_config_set_handshake_timeout(cfg_b, 2000);
    /* A small round first: what the process keeps once it has run threads and handshakes (libcrypto's
     * initialisation, glibc's cached thread stacks) is then in the baseline. */
    total_bytes = 1 << 16;
    cuts_wanted = 10;
    run_round(cfg_a, cfg_b, false);
    total_bytes = bytes;
    cuts_wanted = cuts;
    fds0 = count_fds();
    heap0 = mallinfo2().uordblks;
    run_round(cfg_a, cfg_b, true);
    fds1 = count_fds();
    heap1 = mallinfo2().uordblks;
    printf("# descriptors %d -> %d, heap in use %zu -> %zu bytes\n", fds0, fds1, heap0, heap1);
    ck_assert_int_eq(fds1, fds0);
    /* glibc counts the chunks its per-thread caches hold as in use, which moves the figure by a few
     * KiB from one round to the next whatever the round did (measured: the same with 150 or 600
     * cuts, 2 or 32 MB); a leak per message or per cut would show as far more. valgrind finds no
     * leak and nothing of the library still reachable at exit (tests/valgrind-channel.sh). */
    ck_assert_uint_le(heap1, heap0 + 32768);
    vt_channel_pair_free(ka, kb, cfg_a, cfg_b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session faults");
    TCase *tc = tcase_create("session faults");
    /* Under make check-valgrind, what tests/valgrind-channel.sh moves: every path in seconds, where
     * 1 GiB would take memcheck hours. */
    bool valgrind = getenv("VMSEC_UNDER_VALGRIND") != NULL;
    total_bytes = env_u64("VMSEC_SESSION_FAULT_BYTES", valgrind ? 1000000 : DEFAULT_BYTES);
    cuts_wanted = (unsigned int)env_u64("VMSEC_SESSION_FAULT_CUTS", valgrind ? 30 : 100);
    seed = env_u64("VMSEC_SESSION_FAULT_SEED", (uint64_t)time(NULL));
    if (!total_bytes || !cuts_wanted) {
        fprintf(stderr, "VMSEC_SESSION_FAULT_BYTES and VMSEC_SESSION_FAULT_CUTS must be positive\n");
        return 2;
    }
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, every_byte_once_in_order_across_random_cuts);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
