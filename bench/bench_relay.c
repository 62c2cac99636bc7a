/* SPDX-License-Identifier: ISC */
/* Relayed vs direct: what the host relay costs a guest-to-guest connection.
 *
 * The peers talk over unix sockets on one host, either directly or through a vmsec_relay running
 * in its own thread (identities injected as in the relay tests). Two payloads:
 *   raw    opaque bytes (the relay's forwarding cost alone)
 *   vmsec  a vmsec channel end to end (default Noise protocol), as guests would run it
 * Measurements: bulk throughput (64 KiB writes/messages, one direction, acknowledged at the end;
 * best of TRIES, direct and relayed taking turns so a slow spell of the shared host lands on both),
 * the relay thread's CPU time per GiB it forwarded (the relay's own cost, which other load on the
 * host inflates far less than throughput), and round-trip latency of 64-byte messages (p50/p99).
 * Setup (connect, request, handshake) is outside the timed part. Results: a markdown table on
 * stdout and JSON lines in $VMSEC_BENCH_JSON. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vmsec.h>

#include "bench.h"

#define CHUNK 65536
#define PING 64
#define ROUNDS 5000
#define TRIES 3

static char g_dir[256];
static vmsec_keypair *g_kc, *g_ks;
static uint8_t g_pc[32], g_ps[32];

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_relay: %s: %s / %s\n", what, strerror(errno), vmsec_error_last());
    exit(1);
}

static void sun_set(struct sockaddr_un *sun, const char *name)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s", g_dir, name) >= sizeof(sun->sun_path))
        die("path too long");
}

static int identify(void *user, int fd, uint32_t *cid, char *domain, size_t cap)
{
    (void)user;
    (void)fd;
    *cid = 3;
    snprintf(domain, cap, "client");
    return 0;
}

static int connect_target(void *user, const char *domain, uint32_t port, int *fd)
{
    (void)user;
    (void)domain;
    (void)port;
    struct sockaddr_un sun;
    sun_set(&sun, "server.sock");
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0 || (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS))
        return VMSEC_ECONNREFUSED;
    *fd = s;
    return 0;
}

static int xconnect(const char *name)
{
    struct sockaddr_un sun;
    sun_set(&sun, name);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        die("connect");
    return s;
}

static void xwrite(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("send");
        p += w;
        n -= (size_t)w;
    }
}

static void xread(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("recv");
        p += r;
        n -= (size_t)r;
    }
}

struct job {
    bool relayed, vmsec, latency;
    size_t bytes;
    int lfd;
};

static vmsec_channel *channel(int fd, bool server)
{
    vmsec_channel_config *cfg;
    vmsec_channel *ch;
    if (vmsec_channel_config_new(&cfg) < 0 || vmsec_channel_config_set_keypair(cfg, server ? g_ks : g_kc) < 0 ||
        vmsec_channel_config_add_trusted_peer(cfg, server ? g_pc : g_ps, 32) < 0 ||
        vmsec_channel_new(&ch, cfg, fd, server ? VMSEC_ROLE_RESPONDER : VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD) < 0 ||
        vmsec_channel_handshake(ch) < 0)
        die("channel");
    vmsec_channel_config_free(cfg);
    return ch;
}

static void *server(void *arg)
{
    struct job *j = arg;
    int fd = accept(j->lfd, NULL, NULL);
    if (fd < 0)
        die("accept");
    if (j->relayed) {
        char dom[256];
        if (vmsec_relay_origin_read(fd, 5000, dom, sizeof(dom), NULL, NULL, 0) < 0)
            die("origin");
    }
    static uint8_t buf[CHUNK];
    size_t len;
    if (j->vmsec) {
        vmsec_channel *ch = channel(fd, true);
        if (j->latency) {
            for (int i = 0; i < ROUNDS; i++)
                if (vmsec_channel_recv(ch, buf, sizeof(buf), &len) < 0 || vmsec_channel_send(ch, buf, len, 0) < 0)
                    die("pong");
        } else {
            for (size_t got = 0; got < j->bytes; got += len)
                if (vmsec_channel_recv(ch, buf, sizeof(buf), &len) < 0)
                    die("sink");
            if (vmsec_channel_send(ch, buf, 1, 0) < 0)
                die("ack");
        }
        vmsec_channel_close(ch);
        vmsec_channel_free(ch);
    } else {
        if (j->latency) {
            for (int i = 0; i < ROUNDS; i++) {
                xread(fd, buf, PING);
                xwrite(fd, buf, PING);
            }
        } else {
            for (size_t got = 0; got < j->bytes;) {
                ssize_t r = recv(fd, buf, sizeof(buf), 0);
                if (r <= 0)
                    die("sink recv");
                got += (size_t)r;
            }
            xwrite(fd, buf, 1);
        }
        close(fd);
    }
    return NULL;
}

/* Runs one measurement; returns MB/s (throughput) or fills p50/p99 in microseconds (latency). */
static double run(bool relayed, bool use_vmsec, bool latency, size_t bytes, double *p50, double *p99)
{
    struct job j = {.relayed = relayed, .vmsec = use_vmsec, .latency = latency, .bytes = bytes};
    struct sockaddr_un sun;
    sun_set(&sun, "server.sock");
    unlink(sun.sun_path);
    j.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (j.lfd < 0 || bind(j.lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(j.lfd, 4) < 0)
        die("listen");
    pthread_t th;
    pthread_create(&th, NULL, server, &j);
    int fd = xconnect(relayed ? "relay.sock" : "server.sock");
    if (relayed && vmsec_relay_request(fd, "server", "bench", 5000) < 0)
        die("relay request");
    static uint8_t buf[CHUNK];
    memset(buf, 0x5a, sizeof(buf));
    vmsec_channel *ch = use_vmsec ? channel(fd, false) : NULL;
    double result = 0, t0 = bench_now();
    size_t len;
    if (latency) {
        double *rtt = malloc(ROUNDS * sizeof(*rtt));
        for (int i = 0; i < ROUNDS; i++) {
            double s = bench_now();
            if (ch) {
                if (vmsec_channel_send(ch, buf, PING, 0) < 0 || vmsec_channel_recv(ch, buf, sizeof(buf), &len) < 0)
                    die("ping");
            } else {
                xwrite(fd, buf, PING);
                xread(fd, buf, PING);
            }
            rtt[i] = (bench_now() - s) * 1e6;
        }
        *p50 = bench_quantile(rtt, ROUNDS, 0.50);
        *p99 = bench_quantile(rtt, ROUNDS, 0.99);
        free(rtt);
    } else {
        for (size_t sent = 0; sent < bytes; sent += CHUNK) {
            if (ch) {
                if (vmsec_channel_send(ch, buf, CHUNK, 0) < 0)
                    die("send");
            } else {
                xwrite(fd, buf, CHUNK);
            }
        }
        if (ch) {
            if (vmsec_channel_recv(ch, buf, sizeof(buf), &len) < 0)
                die("ack");
        } else {
            xread(fd, buf, 1);
        }
        result = (double)bytes / (bench_now() - t0) / 1e6;
    }
    if (ch) {
        vmsec_channel_close(ch);
        vmsec_channel_free(ch);
    } else {
        close(fd);
    }
    pthread_join(th, NULL);
    close(j.lfd);
    return result;
}

static pthread_t g_relay_thread;

/* CPU time the relay thread has used, in seconds. */
static double relay_cpu_s(void)
{
    clockid_t id;
    struct timespec ts;
    if (pthread_getcpuclockid(g_relay_thread, &id) != 0 || clock_gettime(id, &ts) < 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *relay_thread(void *arg)
{
    vmsec_relay_run(arg);
    return NULL;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof(g_dir), "%s/vmsec-bench-relay-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir))
        die("mkdtemp");
    if (vmsec_keypair_generate(&g_kc) < 0 || vmsec_keypair_generate(&g_ks) < 0 ||
        vmsec_keypair_public(g_kc, g_pc, 32) < 0 || vmsec_keypair_public(g_ks, g_ps, 32) < 0)
        die("keys");
    vmsec_relay *r;
    vmsec_policy *p;
    const char *text = "service bench port 1\nallow bench from client to server\n";
    struct sockaddr_un sun;
    sun_set(&sun, "relay.sock");
    if (vmsec_relay_new(&r) < 0 || vmsec_policy_load_string(&p, text, strlen(text), "bench") < 0 ||
        vmsec_relay_set_policy(r, p) < 0 || vmsec_relay_set_audit_fd(r, -1) < 0 ||
        vmsec_relay_set_identify(r, identify, NULL) < 0 || vmsec_relay_set_connect(r, connect_target, NULL) < 0 ||
        vmsec_relay_listen_unix(r, sun.sun_path, "host") < 0)
        die("relay");
    pthread_create(&g_relay_thread, NULL, relay_thread, r);

    const size_t bytes = (size_t)256 << 20;
    double ratio[2];
    printf("## Relay: relayed vs direct (unix sockets, one host)\n\n");
    printf("| payload | path | throughput (MB/s) | relay CPU (ms/GiB) | RTT p50 (us) | RTT p99 (us) |\n");
    printf("|---|---|---:|---:|---:|---:|\n");
    for (int v = 0; v < 2; v++) {
        size_t n = v ? bytes / 2 : bytes;
        double mbs[2] = {0, 0}, cpu = 0;
        for (int t = 0; t < TRIES; t++)
            for (int rel = 0; rel < 2; rel++) {
                double c0 = relay_cpu_s(), m = run(rel, v, false, n, NULL, NULL);
                if (rel)
                    cpu += relay_cpu_s() - c0;
                mbs[rel] = m > mbs[rel] ? m : mbs[rel];
            }
        double cpu_ms_gib = cpu * 1e3 / ((double)n * TRIES / (1 << 30)); /* mean over the tries */
        ratio[v] = mbs[1] / mbs[0];
        for (int rel = 0; rel < 2; rel++) {
            double p50 = 0, p99 = 0;
            run(rel, v, true, 0, &p50, &p99);
            const char *payload = v ? "vmsec" : "raw", *path = rel ? "relayed" : "direct";
            char cpu_cell[32] = "";
            if (rel)
                snprintf(cpu_cell, sizeof(cpu_cell), "%.0f", cpu_ms_gib);
            printf("| %s | %s | %.0f | %s | %.1f | %.1f |\n", payload, path, mbs[rel], cpu_cell, p50, p99);
            fflush(stdout);
            bench_json("{\"bench\":\"relay\",\"payload\":\"%s\",\"path\":\"%s\",\"throughput_mbps\":%.1f,"
                       "\"relay_cpu_ms_per_gib\":%.1f,\"rtt_p50_us\":%.2f,\"rtt_p99_us\":%.2f,\"chunk\":%d,"
                       "\"ping\":%d,\"tries\":%d}",
                       payload, path, mbs[rel], rel ? cpu_ms_gib : 0.0, p50, p99, CHUNK, PING, TRIES);
        }
    }
    printf("\nRelayed / direct throughput: raw %.2f, vmsec %.2f (floor 0.80, goal 0.90).\n", ratio[0], ratio[1]);
    printf("\nOne relay thread; 64 KiB writes (raw) or messages (vmsec), best of %d; relay CPU is the relay"
           " thread's CPU time per GiB forwarded (mean of the tries); RTT of %d-byte messages over %d"
           " rounds. The relay adds one more socket hop each way and moves ciphertext without"
           " decrypting it.\n\n",
           TRIES, PING, ROUNDS);
    vmsec_relay_interrupt(r);
    pthread_join(g_relay_thread, NULL);
    vmsec_relay_free(r);
    vmsec_keypair_free(g_kc);
    vmsec_keypair_free(g_ks);
    rmdir(g_dir);
    return 0;
}
