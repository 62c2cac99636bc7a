/* SPDX-License-Identifier: ISC */
/* Load and fault test for channels over a real listener (unix socket):
 *   1. N (1,000) concurrent non-blocking channels, served by one poll loop in the main thread and
 *      driven by a few client threads, each also one poll loop. Every message carries a sequence
 *      number and a checksum; the server checks and echoes it, the client checks the echo.
 *   2. A seeded share of the clients dies at a random point (mid-handshake, mid-stream, after the
 *      last echo) by close() or shutdown(): the server must see a clean error (ETRUNCATED or EIO),
 *      never a crash, a hang or a message that was not sent.
 *   3. A slow reader: the sender gets VMSEC_EAGAIN and RSS stays bounded; afterwards the reader
 *      drains everything, nothing lost.
 *   4. Descriptors (/proc/self/fd) and the main arena heap (mallinfo2) return to their baseline.
 * VMSEC_LOAD_SEED sets the seed (printed), VMSEC_LOAD_CHANNELS the channel count. Plain TAP. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vmsec.h"

#define CLIENT_THREADS 4
#define MSGS_PER_CHANNEL 6
#define MSG_MAX 3000
#define WATCHDOG_S 300

static int test_no, failures;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", cond ? "ok" : "not ok", ++test_no);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    failures += !cond;
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void die(const char *what, int rc)
{
    printf("Bail out! %s: %d (%s)\n", what, rc, vmsec_error_last());
    exit(1);
}

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: seeded, reproducible, thread-local by construction */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* message = seq (4) | checksum of the payload (4) | payload; returns its length */
static size_t make_msg(uint8_t *buf, uint32_t seq, uint64_t *rng)
{
    size_t n = 1 + rng_next(rng) % (MSG_MAX - 8);
    for (size_t i = 0; i < n; i++)
        buf[8 + i] = (uint8_t)rng_next(rng);
    put32(buf, seq);
    put32(buf + 4, fnv1a(buf + 8, n));
    return n + 8;
}

static int msg_valid(const uint8_t *buf, size_t len)
{
    return len >= 9 && get32(buf + 4) == fnv1a(buf + 8, len - 8);
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static long rss_kib(void)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

static int set_nonblock(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- configuration ---------------------------------------------------------------------------- */
static vmsec_channel_config *cfg_client, *cfg_server;

static void make_configs(void)
{
    vmsec_keypair *kc = NULL, *ks = NULL;
    uint8_t pc[VMSEC_KEY_BYTES], ps[VMSEC_KEY_BYTES];
    if (vmsec_keypair_generate(&kc) || vmsec_keypair_generate(&ks) || vmsec_keypair_public(kc, pc, sizeof(pc)) ||
        vmsec_keypair_public(ks, ps, sizeof(ps)))
        die("keys", -1);
    if (vmsec_channel_config_new(&cfg_client) || vmsec_channel_config_new(&cfg_server) ||
        vmsec_channel_config_set_keypair(cfg_client, kc) || vmsec_channel_config_set_keypair(cfg_server, ks) ||
        vmsec_channel_config_add_trusted_peer(cfg_client, ps, sizeof(ps)) ||
        vmsec_channel_config_add_trusted_peer(cfg_server, pc, sizeof(pc)) ||
        vmsec_channel_config_set_max_message(cfg_client, MSG_MAX) ||
        vmsec_channel_config_set_max_message(cfg_server, MSG_MAX))
        die("configs", -1);
    /* Under valgrind (make check-valgrind sets VMSEC_UNDER_VALGRIND) a thousand handshakes take
     * far longer than the default 10 s handshake timeout: allow up to the watchdog. */
    if (getenv("VMSEC_UNDER_VALGRIND") &&
        (vmsec_channel_config_set_handshake_timeout(cfg_client, WATCHDOG_S * 1000) ||
         vmsec_channel_config_set_handshake_timeout(cfg_server, WATCHDOG_S * 1000)))
        die("handshake timeout", -1);
    vmsec_keypair_free(kc);
    vmsec_keypair_free(ks);
}

/* ---- clients ---------------------------------------------------------------------------------- */
enum kill_how { KILL_NONE, KILL_CLOSE, KILL_SHUTDOWN };

struct client {
    vmsec_channel *ch;
    int fd;
    enum kill_how kill;
    int kill_at; /* kill once this many echoes came back; -1: before the handshake completes */
    uint32_t sent, echoed;
    uint64_t rng, rng_check; /* the same stream twice: one makes messages, one checks echoes */
    int done, ok;
};

struct client_thread {
    pthread_t tid;
    struct client *c;
    size_t n;
    char address[128];
    unsigned long bad_echo, clean_end, errors;
};

static void client_kill(struct client *c)
{
    if (c->kill == KILL_SHUTDOWN)
        shutdown(c->fd, SHUT_RDWR);
    vmsec_channel_free(c->ch); /* no close_notify: the server must call it a truncation */
    c->ch = NULL;
    c->done = c->ok = 1;
}

/* Advances one client as far as it can without blocking. */
static void client_step(struct client_thread *t, struct client *c)
{
    uint8_t buf[MSG_MAX], want[MSG_MAX];
    size_t len;
    int rc;
    if (c->kill != KILL_NONE && c->kill_at < 0) {
        /* dies mid-handshake: after the first flight, with the rest never answered */
        rc = vmsec_channel_handshake(c->ch);
        client_kill(c);
        return;
    }
    rc = vmsec_channel_handshake(c->ch);
    if (rc == VMSEC_EAGAIN)
        return;
    if (rc) {
        t->errors++, c->done = 1;
        diag("client handshake: %d %s", rc, vmsec_error_last());
        return;
    }
    for (;;) {
        rc = vmsec_channel_recv(c->ch, buf, sizeof(buf), &len);
        if (rc == VMSEC_EAGAIN)
            break;
        if (rc == VMSEC_ECLOSED && c->echoed == MSGS_PER_CHANNEL) {
            t->clean_end++;
            vmsec_channel_free(c->ch);
            c->ch = NULL;
            c->done = c->ok = 1;
            return;
        }
        if (rc) {
            t->errors++, c->done = 1;
            diag("client recv: %d %s", rc, vmsec_error_last());
            return;
        }
        size_t wl = make_msg(want, c->echoed, &c->rng_check);
        if (len != wl || memcmp(buf, want, len) != 0)
            t->bad_echo++;
        c->echoed++;
        if (c->kill != KILL_NONE && (int)c->echoed >= c->kill_at) {
            client_kill(c);
            return;
        }
    }
    while (c->sent < MSGS_PER_CHANNEL && c->sent <= c->echoed + 1) { /* two in flight at most */
        len = make_msg(buf, c->sent, &c->rng);
        rc = vmsec_channel_send(c->ch, buf, len, 0);
        if (rc == VMSEC_EAGAIN) {
            /* not accepted: rewind the generator by regenerating from a copy next time */
            die("client send refused a small message", rc);
        }
        if (rc) {
            t->errors++, c->done = 1;
            return;
        }
        c->sent++;
    }
    if (c->echoed == MSGS_PER_CHANNEL) {
        rc = vmsec_channel_close(c->ch);
        if (rc && rc != VMSEC_EAGAIN) {
            t->errors++, c->done = 1;
            return;
        }
    }
    rc = vmsec_channel_flush(c->ch);
    if (rc && rc != VMSEC_EAGAIN && rc != VMSEC_ESTATE)
        t->errors++, c->done = 1;
}

static void *client_main(void *arg)
{
    struct client_thread *t = arg;
    struct pollfd *pf = calloc(t->n, sizeof(*pf));
    size_t *idx = calloc(t->n, sizeof(*idx));
    if (!pf || !idx)
        die("calloc", 0);
    for (size_t i = 0; i < t->n; i++) {
        struct client *c = &t->c[i];
        int rc = vmsec_transport_connect(t->address, 10000, &c->fd);
        if (rc)
            die("connect", rc);
        set_nonblock(c->fd);
        if ((rc = vmsec_channel_new(&c->ch, cfg_client, c->fd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD)))
            die("client channel", rc);
        client_step(t, c);
    }
    for (;;) {
        size_t n = 0;
        for (size_t i = 0; i < t->n; i++) {
            struct client *c = &t->c[i];
            if (c->done)
                continue;
            pf[n].fd = c->fd, pf[n].events = vmsec_channel_poll_events(c->ch), pf[n].revents = 0;
            idx[n++] = i;
        }
        if (n == 0)
            break;
        if (poll(pf, n, WATCHDOG_S * 1000) <= 0) {
            diag("client thread: %zu channels stuck", n);
            t->errors += n;
            break;
        }
        for (size_t k = 0; k < n; k++)
            if (pf[k].revents)
                client_step(t, &t->c[idx[k]]);
    }
    for (size_t i = 0; i < t->n; i++)
        vmsec_channel_free(t->c[i].ch);
    free(pf);
    free(idx);
    return NULL;
}

/* ---- server ----------------------------------------------------------------------------------- */
struct session {
    vmsec_channel *ch;
    uint32_t next_seq;
};

struct server_result {
    unsigned long accepted, clean, truncated, io, other, bad_msgs, msgs;
};

static void server_end(struct session *s, int rc, struct server_result *r)
{
    if (rc == VMSEC_ECLOSED) {
        r->clean++;
        rc = vmsec_channel_close(s->ch); /* answers close_notify; a vanished client is fine here */
        (void)rc;
    } else if (rc == VMSEC_ETRUNCATED) {
        r->truncated++;
    } else if (rc == VMSEC_EIO) {
        r->io++;
    } else {
        r->other++;
        diag("server: unexpected end %d: %s", rc, vmsec_error_last());
    }
    vmsec_channel_free(s->ch);
    s->ch = NULL;
}

static void server_step(struct session *s, struct server_result *r)
{
    uint8_t buf[MSG_MAX];
    size_t len;
    int rc = vmsec_channel_handshake(s->ch);
    if (rc == VMSEC_EAGAIN)
        return;
    if (rc) {
        server_end(s, rc, r);
        return;
    }
    for (;;) {
        rc = vmsec_channel_recv(s->ch, buf, sizeof(buf), &len);
        if (rc == VMSEC_EAGAIN)
            break;
        if (rc) {
            server_end(s, rc, r);
            return;
        }
        r->msgs++;
        if (!msg_valid(buf, len) || get32(buf) != s->next_seq)
            r->bad_msgs++;
        s->next_seq++;
        rc = vmsec_channel_send(s->ch, buf, len, VMSEC_SEND_MORE);
        if (rc) {
            server_end(s, rc, r);
            return;
        }
    }
    rc = vmsec_channel_flush(s->ch);
    if (rc && rc != VMSEC_EAGAIN)
        server_end(s, rc, r);
}

/* Serves exactly `expect` connections until every one has ended. Returns the channels left. */
static size_t serve(vmsec_listener *l, size_t expect, struct server_result *r)
{
    struct session *s = calloc(expect, sizeof(*s));
    struct pollfd *pf = calloc(expect + 1, sizeof(*pf));
    size_t *idx = calloc(expect + 1, sizeof(*idx)), live = 0, stuck = 0;
    if (!s || !pf || !idx)
        die("calloc", 0);
    int lfd = vmsec_listener_fd(l);
    set_nonblock(lfd);
    while (r->accepted < expect || live > 0) {
        size_t n = 0;
        if (r->accepted < expect)
            pf[n].fd = lfd, pf[n].events = POLLIN, pf[n].revents = 0, idx[n++] = (size_t)-1;
        for (size_t i = 0; i < r->accepted; i++)
            if (s[i].ch)
                pf[n].fd = vmsec_channel_fd(s[i].ch), pf[n].events = vmsec_channel_poll_events(s[i].ch),
                pf[n].revents = 0, idx[n++] = i;
        if (poll(pf, n, WATCHDOG_S * 1000) <= 0) {
            stuck = live + (expect - r->accepted);
            break;
        }
        for (size_t k = 0; k < n; k++) {
            if (!pf[k].revents)
                continue;
            if (idx[k] == (size_t)-1) {
                int fd, rc = VMSEC_EAGAIN;
                while (r->accepted < expect && (rc = vmsec_listener_accept(l, &fd, NULL, 0, NULL)) == 0) {
                    set_nonblock(fd);
                    if ((rc = vmsec_channel_new(&s[r->accepted].ch, cfg_server, fd, VMSEC_ROLE_RESPONDER,
                                                VMSEC_CHANNEL_OWN_FD)))
                        die("server channel", rc);
                    r->accepted++, live++;
                }
                if (rc != VMSEC_EAGAIN && r->accepted < expect)
                    die("accept", rc);
                continue;
            }
            server_step(&s[idx[k]], r);
            if (!s[idx[k]].ch)
                live--;
        }
    }
    for (size_t i = 0; i < expect; i++)
        vmsec_channel_free(s[i].ch);
    free(s);
    free(pf);
    free(idx);
    return stuck;
}

struct round {
    size_t channels;
    unsigned kill_percent;
    uint64_t seed;
    /* results */
    struct server_result srv;
    unsigned long killed, bad_echo, clean_end, client_errors, stuck;
};

static void run_round(const char *address, vmsec_listener *l, struct round *rd)
{
    struct client_thread t[CLIENT_THREADS];
    struct client *cs = calloc(rd->channels, sizeof(*cs));
    uint64_t rng = rd->seed;
    if (!cs)
        die("calloc", 0);
    for (size_t i = 0; i < rd->channels; i++) {
        struct client *c = &cs[i];
        c->rng = c->rng_check = rng_next(&rng);
        if (rng_next(&rng) % 100 < rd->kill_percent) {
            c->kill = rng_next(&rng) & 1 ? KILL_CLOSE : KILL_SHUTDOWN;
            c->kill_at = (int)(rng_next(&rng) % (MSGS_PER_CHANNEL + 2)) - 1; /* -1 .. MSGS_PER_CHANNEL */
            rd->killed++;
        }
    }
    memset(&rd->srv, 0, sizeof(rd->srv));
    for (int i = 0; i < CLIENT_THREADS; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        t[i].c = cs + rd->channels * i / CLIENT_THREADS;
        t[i].n = rd->channels * (i + 1) / CLIENT_THREADS - rd->channels * i / CLIENT_THREADS;
        snprintf(t[i].address, sizeof(t[i].address), "%s", address);
        if (pthread_create(&t[i].tid, NULL, client_main, &t[i]))
            die("pthread_create", 0);
    }
    rd->stuck = serve(l, rd->channels, &rd->srv);
    for (int i = 0; i < CLIENT_THREADS; i++) {
        pthread_join(t[i].tid, NULL);
        rd->bad_echo += t[i].bad_echo;
        rd->clean_end += t[i].clean_end;
        rd->client_errors += t[i].errors;
    }
    free(cs);
}

/* ---- slow reader ------------------------------------------------------------------------------ */
static void slow_reader(void)
{
    int sv[2], rc;
    vmsec_channel *a, *b;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
        die("socketpair", errno);
    if ((rc = vmsec_channel_new(&a, cfg_client, sv[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD)) ||
        (rc = vmsec_channel_new(&b, cfg_server, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD)))
        die("slow channels", rc);
    for (int i = 0; i < 100; i++) {
        int ra = vmsec_channel_handshake(a), rb = vmsec_channel_handshake(b);
        if (!ra && !rb)
            break;
    }
    ok(vmsec_channel_state(a) == VMSEC_STATE_OPEN && vmsec_channel_state(b) == VMSEC_STATE_OPEN,
       "slow reader: handshake over a non-blocking socketpair");

    uint8_t msg[MSG_MAX];
    uint64_t rng = 42, check = 42;
    long rss0 = rss_kib(), rss_max = rss0;
    uint32_t sent = 0, eagain = 0;
    /* Offer 64 MiB while the reader sleeps: the sender must push back long before. */
    for (size_t offered = 0; offered < ((size_t)64 << 20);) {
        uint64_t save = rng;
        size_t len = make_msg(msg, sent, &rng);
        rc = vmsec_channel_send(a, msg, len, 0);
        offered += len;
        if (rc == VMSEC_EAGAIN) {
            rng = save; /* not accepted: the same message is offered again */
            eagain++;
            if (eagain > 1000)
                break;
            continue;
        }
        if (rc)
            die("slow send", rc);
        sent++;
        long r = rss_kib();
        if (r > rss_max)
            rss_max = r;
    }
    ok(eagain > 0, "slow reader: the sender sees VMSEC_EAGAIN (accepted %u messages, %u refusals)", sent, eagain);
    ok(rss_max - rss0 < 16 * 1024, "slow reader: RSS grew by %ld KiB at most while offering 64 MiB", rss_max - rss0);

    /* Now read everything, flushing the sender as room appears: nothing lost, nothing reordered. */
    uint32_t got = 0, bad = 0;
    for (int spins = 0; got < sent && spins < 1000000; spins++) {
        size_t len;
        vmsec_channel_flush(a);
        rc = vmsec_channel_recv(b, msg, sizeof(msg), &len);
        if (rc == VMSEC_EAGAIN)
            continue;
        if (rc)
            die("slow recv", rc);
        uint8_t want[MSG_MAX];
        size_t wl = make_msg(want, got, &check);
        bad += wl != len || memcmp(want, msg, len) != 0;
        got++;
    }
    ok(got == sent && bad == 0, "slow reader: all %u accepted messages arrive intact and in order (%u bad)", got, bad);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}

/* ---- regression: connect to a unix listener whose backlog is full ---------------------------- */
/* Before the fix, vmsec_transport_connect() took the EAGAIN of a non-blocking unix connect for a
 * connection in progress and returned an unconnected descriptor (sends then failed with ENOTCONN).
 * Now it retries until the deadline: every descriptor it returns is connected. */
static void full_backlog(const char *dir)
{
    char address[160];
    vmsec_listener *l;
    int fds[200], connected = 0, timedout = 0, other = 0, unconnected = 0;
    snprintf(address, sizeof(address), "unix:%s/backlog", dir);
    if (vmsec_listener_new(&l, address))
        die("backlog listener", -1);
    for (int i = 0; i < 200; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int rc = vmsec_transport_connect(address, 20, &fds[i]);
        if (rc == 0) {
            connected++;
            unconnected += getpeername(fds[i], (struct sockaddr *)&ss, &len) != 0;
            continue;
        }
        fds[i] = -1;
        if (rc == VMSEC_ETIMEDOUT)
            timedout++;
        else
            other++;
        if (timedout > 5)
            break;
    }
    ok(unconnected == 0 && other == 0 && timedout > 0,
       "connect to a unix listener with a full backlog: %d connected, %d timed out, %d unconnected, %d other",
       connected, timedout, unconnected, other);
    for (int i = 0; i < connected; i++)
        close(fds[i]);
    vmsec_listener_free(l);
}

/* ---- main ------------------------------------------------------------------------------------- */
int main(void)
{
    struct rlimit rl;
    size_t channels = 1000;
    const char *env = getenv("VMSEC_LOAD_CHANNELS"), *req = getenv("VMSEC_REQUIRE_ALL");
    uint64_t seed = getenv("VMSEC_LOAD_SEED") ? strtoull(getenv("VMSEC_LOAD_SEED"), NULL, 0) : (uint64_t)time(NULL);
    if (env)
        channels = strtoul(env, NULL, 10);
    printf("1..14\n");
    diag("seed %llu (VMSEC_LOAD_SEED reproduces a run)", (unsigned long long)seed);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    size_t room = rl.rlim_cur > 128 ? (rl.rlim_cur - 128) / 2 : 0;
    if (room < channels) {
        diag("RLIMIT_NOFILE hard limit %llu allows only %zu channels (two descriptors each): scaled down from %zu",
             (unsigned long long)rl.rlim_max, room, channels);
        if (room < 1000 && req && !strcmp(req, "1") && !env)
            die("VMSEC_REQUIRE_ALL=1 and 1,000 channels are impossible under this RLIMIT_NOFILE", (int)room);
        channels = room;
    }

    char dir[] = "/tmp/vmsec-load-XXXXXX", address[128];
    if (!mkdtemp(dir))
        die("mkdtemp", errno);
    snprintf(address, sizeof(address), "unix:%s/sock", dir);
    make_configs();
    vmsec_listener *l;
    int rc = vmsec_listener_new(&l, address);
    if (rc)
        die("listener", rc);

    /* Warm-up round: lazy initialisation (libsodium, thread arenas) happens before the baseline. */
    struct round warm = {.channels = 8, .kill_percent = 0, .seed = seed};
    run_round(address, l, &warm);
    int fd0 = count_fds();
    size_t heap0 = mallinfo2().uordblks;

    /* 1. all healthy */
    struct round a = {.channels = channels, .kill_percent = 0, .seed = seed};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_round(address, l, &a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    diag("%zu channels, %d messages each way per channel: %.2f s (information only)", channels, MSGS_PER_CHANNEL,
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    ok(a.srv.accepted == channels && a.stuck == 0, "%zu concurrent channels accepted, none stuck", channels);
    ok(a.srv.msgs == channels * MSGS_PER_CHANNEL && a.srv.bad_msgs == 0,
       "server received %lu messages with valid checksums in order (%lu bad)", a.srv.msgs, a.srv.bad_msgs);
    ok(a.clean_end == channels && a.bad_echo == 0 && a.client_errors == 0,
       "every client got every echo intact and a clean close (%lu clean, %lu bad, %lu errors)", a.clean_end,
       a.bad_echo, a.client_errors);
    ok(a.srv.clean == channels && a.srv.truncated + a.srv.io + a.srv.other == 0,
       "server saw %lu clean closes and no errors", a.srv.clean);

    /* 2. a seeded 30% of the clients die at random points */
    struct round b = {.channels = channels, .kill_percent = 30, .seed = seed ^ 0x5eed};
    run_round(address, l, &b);
    diag("faults: %lu killed; server saw %lu clean, %lu truncated, %lu I/O errors, %lu other", b.killed, b.srv.clean,
         b.srv.truncated, b.srv.io, b.srv.other);
    ok(b.srv.accepted == channels && b.stuck == 0, "with killed peers: all %zu channels ended, none stuck", channels);
    ok(b.srv.other == 0 && b.srv.bad_msgs == 0 && b.srv.clean == channels - b.killed &&
           b.srv.truncated + b.srv.io == b.killed,
       "killed peers give the server ETRUNCATED or EIO only, the others close cleanly with intact data");
    ok(b.clean_end == channels - b.killed && b.bad_echo == 0 && b.client_errors == 0,
       "surviving clients are unaffected (%lu clean)", b.clean_end);

    /* 3. slow reader */
    slow_reader();
    full_backlog(dir);

    /* 4. baseline */
    int fd1 = count_fds();
    size_t heap1 = mallinfo2().uordblks;
    ok(fd1 == fd0, "descriptors back to baseline (%d before, %d after)", fd0, fd1);
    ok(heap1 <= heap0 + 64 * 1024, "main-arena heap back to baseline (%zu before, %zu after)", heap0, heap1);

    vmsec_listener_free(l);
    rmdir(dir);
    vmsec_channel_config_free(cfg_client);
    vmsec_channel_config_free(cfg_server);
    return failures ? 1 : 0;
}
