/* SPDX-License-Identifier: ISC */
/* Sessions (doc/SESSIONS.md) against plain channels, in the same run, over TCP loopback:
 *   - throughput with 64 KiB messages and the rate of 64 B messages, one sender thread and one
 *     receiver thread, blocking calls; the channel flushes every message as a blocking session
 *     send does, so both rows move the same writes;
 *   - the time from a cut (shutdown(2) of the connecting side's socket) to the first message
 *     sent after it arriving at the peer, with the backoff at its minimum (1 ms): detection,
 *     backoff, reconnect, handshake, HELLO_RESUME/WELCOME and the send; median and p99;
 *   - the malloc heap per idle session, its channel included, beside the heap per idle channel
 *     (measured like bench_memory.c: growth over N open pairs, one malloc arena).
 * Throughput and rate: 7 interleaved tries, median and range of the ratios.
 * Results: a markdown table on stdout and JSON lines in $VMSEC_BENCH_JSON. */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vmsec.h>

#include "bench.h"

#define BIG 65536
#define BIG_COUNT 4096     /* 256 MiB */
#define SMALL 64
#define SMALL_COUNT 200000
#define CUTS 50
#define IDLE_PAIRS 500

static vmsec_channel_config *cfg_a, *cfg_b;
static char addr[VMSEC_ADDRESS_MAX];

static void configs(void)
{
    vmsec_keypair *a, *b;
    uint8_t pa[32], pb[32];
    if (vmsec_keypair_generate(&a) < 0 || vmsec_keypair_generate(&b) < 0)
        bench_die(vmsec_error_last());
    vmsec_keypair_public(a, pa, 32);
    vmsec_keypair_public(b, pb, 32);
    vmsec_channel_config_new(&cfg_a);
    vmsec_channel_config_new(&cfg_b);
    vmsec_channel_config_set_keypair(cfg_a, a);
    vmsec_channel_config_set_keypair(cfg_b, b);
    vmsec_channel_config_add_trusted_peer(cfg_a, pb, 32);
    vmsec_channel_config_add_trusted_peer(cfg_b, pa, 32);
    vmsec_keypair_free(a);
    vmsec_keypair_free(b);
}

static vmsec_session_options session_options(void)
{
    vmsec_session_options o;
    vmsec_session_options_init(&o, VMSEC_SESSION_OPTIONS_VERSION);
    o.backoff_initial_ms = o.backoff_max_ms = 1; /* the minimum */
    return o;
}

/* ---- one end of a transfer: a session or a channel ------------------------------------------- */

typedef struct end {
    vmsec_session *s;
    vmsec_channel *ch;
    size_t size, count;
    double cpu; /* its thread's CPU seconds */
    int rc;
} end;

static void *receiver(void *p)
{
    end *e = p;
    uint8_t *buf = malloc(e->size);
    size_t n;
    for (size_t i = 0; i < e->count && e->rc == 0; i++)
        e->rc = e->s ? vmsec_session_recv(e->s, buf, e->size, &n) : vmsec_channel_recv(e->ch, buf, e->size, &n);
    free(buf);
    e->cpu = bench_thread_cpu();
    return NULL;
}

/* Seconds to move count messages of size bytes from tx to rx; *cpu: both threads' CPU seconds. */
static double transfer(end *tx, end *rx, size_t size, size_t count, double *cpu)
{
    uint8_t *msg = calloc(1, size);
    pthread_t t;
    double t0, c0 = bench_thread_cpu();
    rx->size = tx->size = size;
    rx->count = tx->count = count;
    rx->rc = 0;
    pthread_create(&t, NULL, receiver, rx);
    t0 = bench_now();
    for (size_t i = 0; i < count; i++)
        if ((tx->s ? vmsec_session_send(tx->s, msg, size) : vmsec_channel_send(tx->ch, msg, size, 0)) < 0)
            bench_die(vmsec_error_last());
    *cpu = tx->cpu = bench_thread_cpu() - c0;
    pthread_join(t, NULL);
    t0 = bench_now() - t0;
    *cpu += rx->cpu;
    if (rx->rc < 0)
        bench_die(vmsec_error_last());
    free(msg);
    return t0;
}

/* ---- opening pairs ---------------------------------------------------------------------------- */

typedef struct acceptor {
    vmsec_listener *l;
    vmsec_session_listener *sl;
    vmsec_session *s;
    vmsec_channel *ch;
    atomic_llong got_at_ns; /* cut test: when the server received the message after the cut */
    int rc;
} acceptor;

static void *accept_one(void *p)
{
    acceptor *a = p;
    a->rc = a->sl ? vmsec_session_listener_accept(a->sl, &a->s) : vmsec_channel_accept(&a->ch, cfg_b, a->l);
    return NULL;
}

static void open_sessions(acceptor *a, vmsec_session **c)
{
    vmsec_session_options o = session_options();
    pthread_t t;
    a->sl = NULL;
    if (vmsec_session_listener_new(&a->sl, cfg_b, a->l, &o) < 0)
        bench_die(vmsec_error_last());
    pthread_create(&t, NULL, accept_one, a);
    if (vmsec_session_connect(c, cfg_a, addr, &o) < 0)
        bench_die(vmsec_error_last());
    pthread_join(t, NULL);
    if (a->rc < 0)
        bench_die(vmsec_error_last());
}

static void open_channels(acceptor *a, vmsec_channel **c)
{
    pthread_t t;
    vmsec_session_listener *sl = a->sl;
    a->sl = NULL;
    pthread_create(&t, NULL, accept_one, a);
    if (vmsec_channel_connect(c, cfg_a, addr) < 0)
        bench_die(vmsec_error_last());
    pthread_join(t, NULL);
    a->sl = sl;
    if (a->rc < 0)
        bench_die(vmsec_error_last());
}

/* ---- throughput and message rate -------------------------------------------------------------- */

/* thread[0], thread[1]: the sending and the receiving thread's CPU seconds */
static double session_run(acceptor *a, size_t size, size_t count, double *cpu, double thread[2])
{
    vmsec_session *cs;
    end tx = {0}, rx = {0};
    double t;
    open_sessions(a, &cs);
    tx.s = cs, rx.s = a->s;
    t = transfer(&tx, &rx, size, count, cpu);
    thread[0] = tx.cpu, thread[1] = rx.cpu;
    vmsec_session_free(cs); /* the receiver saw everything: no close needed */
    vmsec_session_free(a->s);
    vmsec_session_listener_free(a->sl);
    a->sl = NULL;
    return t;
}

static double channel_run(acceptor *a, size_t size, size_t count, double *cpu, double thread[2])
{
    vmsec_channel *cc;
    end tx = {0}, rx = {0};
    double t;
    open_channels(a, &cc);
    tx.ch = cc, rx.ch = a->ch;
    t = transfer(&tx, &rx, size, count, cpu);
    thread[0] = tx.cpu, thread[1] = rx.cpu;
    vmsec_channel_free(cc);
    vmsec_channel_free(a->ch);
    return t;
}

/* Each try runs a session and then a channel transfer, and its ratio compares the two runs of the
 * same try; the rows give the median of TRIES tries and the range of the ratios. On a shared
 * two-core machine a single best-of pick follows the noise of whichever run got lucky. */
#define TRIES 7

static double median(const double *v, size_t n)
{
    double c[TRIES];
    memcpy(c, v, n * sizeof(*v));
    qsort(c, n, sizeof(*c), bench_cmp_double);
    return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

static double vmin(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double vmax(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* Each thread's CPU time per message, session against channel (medians of the tries): steadier
 * than the wall-clock ratio on a loaded machine, and it says which side a difference is on. */
static void cpu_rows(const char *what, size_t count, double ths[2][TRIES], double thc[2][TRIES])
{
    static const char *side[] = {"sender", "receiver"};
    for (int i = 0; i < 2; i++) {
        double us = median(ths[i], TRIES) / count * 1e6, uc = median(thc[i], TRIES) / count * 1e6;
        printf("| %s, %s CPU/msg | %.2f us | %.2f us | %.2f | | | |\n", what, side[i], us, uc, us / uc);
        bench_json("{\"bench\":\"session\",\"what\":\"thread_cpu\",\"messages\":\"%s\",\"thread\":\"%s\","
                   "\"session_us_per_msg\":%.3f,\"channel_us_per_msg\":%.3f}",
                   what, side[i], us, uc);
    }
}

static void rates(acceptor *a)
{
    static const struct { size_t size, count; } runs[] = {{BIG, BIG_COUNT}, {SMALL, SMALL_COUNT}};
    printf("### Sessions against plain channels (TCP loopback, one thread per side, median of %d tries)\n\n",
           TRIES);
    printf("| messages | session | channel | ratio, median (range) | floor | | CPU s, session / channel |\n"
           "|---|---:|---:|---:|---:|---|---:|\n");
    for (size_t r = 0; r < 2; r++) {
        double ts[TRIES], tc[TRIES], cs[TRIES], cc[TRIES], ratio[TRIES], ths[2][TRIES], thc[2][TRIES];
        double mr, lo, hi, n = (double)runs[r].count;
        for (int k = 0; k < TRIES; k++) {
            double th[2];
            ts[k] = session_run(a, runs[r].size, runs[r].count, &cs[k], th);
            ths[0][k] = th[0], ths[1][k] = th[1];
            tc[k] = channel_run(a, runs[r].size, runs[r].count, &cc[k], th);
            thc[0][k] = th[0], thc[1][k] = th[1];
            ratio[k] = tc[k] / ts[k];
        }
        mr = median(ratio, TRIES), lo = vmin(ratio, TRIES), hi = vmax(ratio, TRIES);
        if (runs[r].size == BIG) {
            double ms = runs[r].size * n / median(ts, TRIES) / 1e6, mc = runs[r].size * n / median(tc, TRIES) / 1e6;
            printf("| 64 KiB throughput | %.0f MB/s | %.0f MB/s | %.2f (%.2f-%.2f) | >= 0.90 | %s | %.2f / %.2f |\n",
                   ms, mc, mr, lo, hi, mr >= 0.9 ? "met" : "MISSED", median(cs, TRIES), median(cc, TRIES));
            bench_json("{\"bench\":\"session\",\"what\":\"throughput\",\"size\":%zu,\"session_mb_per_s\":%.1f,"
                       "\"channel_mb_per_s\":%.1f,\"ratio\":%.3f,\"ratio_min\":%.3f,\"ratio_max\":%.3f,"
                       "\"tries\":%d,\"session_cpu_s\":%.3f,\"channel_cpu_s\":%.3f}",
                       runs[r].size, ms, mc, mr, lo, hi, TRIES, median(cs, TRIES), median(cc, TRIES));
            cpu_rows("64 KiB", runs[r].count, ths, thc);
        } else {
            double ms = n / median(ts, TRIES), mc = n / median(tc, TRIES);
            printf("| 64 B messages/s | %.0f/s | %.0f/s | %.2f (%.2f-%.2f) | >= 0.90 | %s | %.2f / %.2f |\n", ms, mc,
                   mr, lo, hi, mr >= 0.9 ? "met" : "MISSED", median(cs, TRIES), median(cc, TRIES));
            bench_json("{\"bench\":\"session\",\"what\":\"rate\",\"size\":%zu,\"session_msgs_per_s\":%.0f,"
                       "\"channel_msgs_per_s\":%.0f,\"ratio\":%.3f,\"ratio_min\":%.3f,\"ratio_max\":%.3f,"
                       "\"tries\":%d,\"session_cpu_s\":%.3f,\"channel_cpu_s\":%.3f}",
                       runs[r].size, ms, mc, mr, lo, hi, TRIES, median(cs, TRIES), median(cc, TRIES));
            cpu_rows("64 B", runs[r].count, ths, thc);
        }
    }
    printf("\n");
}

/* ---- time from a cut to the first byte after it ----------------------------------------------- */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The server: records when each message arrives, echoes it (blocking: it accepts resumes itself). */
static void *stamp_echo(void *p)
{
    acceptor *a = p;
    uint8_t buf[16];
    size_t n;
    while (vmsec_session_recv(a->s, buf, sizeof(buf), &n) == 0) {
        atomic_store(&a->got_at_ns, now_ns());
        if (vmsec_session_send(a->s, buf, n) < 0)
            break;
    }
    return NULL;
}

static void resume_latency(acceptor *a)
{
    vmsec_session *c;
    pthread_t t;
    double ms[CUTS];
    uint8_t buf[16];
    size_t n;
    open_sessions(a, &c);
    pthread_create(&t, NULL, stamp_echo, a);
    if (vmsec_session_send(c, (const uint8_t *)"warm", 4) < 0 || vmsec_session_recv(c, buf, sizeof(buf), &n) < 0)
        bench_die(vmsec_error_last());
    for (int i = 0; i < CUTS; i++) {
        long long t0 = now_ns();
        shutdown(vmsec_session_fd(c), SHUT_RDWR);
        if (vmsec_session_send(c, (const uint8_t *)"after", 5) < 0 || vmsec_session_recv(c, buf, sizeof(buf), &n) < 0)
            bench_die(vmsec_error_last());
        ms[i] = (double)(atomic_load(&a->got_at_ns) - t0) / 1e6;
    }
    if (vmsec_session_close(c) < 0)
        bench_die(vmsec_error_last());
    pthread_join(t, NULL);
    vmsec_session_free(c);
    vmsec_session_free(a->s);
    vmsec_session_listener_free(a->sl);
    a->sl = NULL;
    {
        double med = bench_quantile(ms, CUTS, 0.5), p99 = bench_quantile(ms, CUTS, 0.99);
        printf("### Session resume after a cut (TCP loopback, backoff 1 ms, %d cuts)\n\n", CUTS);
        printf("| from the cut to the first message after it at the peer | median | p99 |\n|---|---:|---:|\n");
        printf("| detection, backoff, connect, handshake, resume, send | %.2f ms | %.2f ms |\n\n", med, p99);
        bench_json("{\"bench\":\"session\",\"what\":\"resume\",\"cuts\":%d,\"median_ms\":%.3f,\"p99_ms\":%.3f}", CUTS,
                   med, p99);
    }
}

/* ---- heap per idle session -------------------------------------------------------------------- */

static double heap_per(acceptor *a, bool sessions)
{
    static vmsec_session *s[2 * IDLE_PAIRS];
    static vmsec_channel *ch[2 * IDLE_PAIRS];
    vmsec_session_options o = session_options();
    size_t before;
    double per;
    if (sessions && vmsec_session_listener_new(&a->sl, cfg_b, a->l, &o) < 0)
        bench_die(vmsec_error_last());
    before = mallinfo2().uordblks;
    for (int i = 0; i < IDLE_PAIRS; i++) {
        pthread_t t;
        int rc;
        pthread_create(&t, NULL, accept_one, a);
        rc = sessions ? vmsec_session_connect(&s[2 * i], cfg_a, addr, &o) : vmsec_channel_connect(&ch[2 * i], cfg_a, addr);
        pthread_join(t, NULL);
        if (rc < 0 || a->rc < 0)
            bench_die(vmsec_error_last());
        s[2 * i + 1] = a->s;
        ch[2 * i + 1] = a->ch;
    }
    per = (double)(mallinfo2().uordblks - before) / (2.0 * IDLE_PAIRS);
    for (int i = 0; i < 2 * IDLE_PAIRS; i++)
        sessions ? vmsec_session_free(s[i]) : vmsec_channel_free(ch[i]);
    if (sessions)
        vmsec_session_listener_free(a->sl);
    a->sl = NULL;
    return per;
}

static void memory(acceptor *a)
{
    double ch = heap_per(a, false), se = heap_per(a, true);
    printf("### Memory per idle session\n\n");
    printf("| sessions | heap per session (its channel included) | heap per channel | session's own |\n");
    printf("|---:|---:|---:|---:|\n| %d | %.0f B | %.0f B | %.0f B |\n\n", 2 * IDLE_PAIRS, se, ch, se - ch);
    bench_json("{\"bench\":\"session\",\"what\":\"memory\",\"sessions\":%d,\"heap_per_session\":%.0f,"
               "\"heap_per_channel\":%.0f}", 2 * IDLE_PAIRS, se, ch);
}

/* With an argument (rates, resume, memory), runs that part alone: for profiling. */
int main(int argc, char **argv)
{
    acceptor a = {0};
    const char *only = argc > 1 ? argv[1] : "";
    /* one malloc arena: mallinfo2() sees only the main one, and the accepting thread allocates too */
    mallopt(M_ARENA_MAX, 1);
    configs();
    if (vmsec_listener_new(&a.l, "tcp:127.0.0.1:0") < 0 || vmsec_listener_address(a.l, addr, sizeof(addr)) < 0)
        bench_die(vmsec_error_last());
    if (!*only || !strcmp(only, "rates"))
        rates(&a);
    if (!*only || !strcmp(only, "resume"))
        resume_latency(&a);
    if (!*only || !strcmp(only, "memory"))
        memory(&a);
    vmsec_listener_free(a.l);
    vmsec_channel_config_free(cfg_a);
    vmsec_channel_config_free(cfg_b);
    return 0;
}
