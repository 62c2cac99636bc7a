/* SPDX-License-Identifier: ISC */
/* Relayed vs direct: what the host relay, and two linked relays, cost a guest-to-guest connection.
 *
 * The peers talk over unix sockets on one host, over one of three paths:
 *   direct       client -> server
 *   relayed      client -> relay A -> server (a vmsec_relay in its own thread, identities
 *                injected as in the relay tests)
 *   two relays   client -> relay A -> loopback TCP link (Noise IK) -> relay B -> server, as
 *                between two hosts (doc/RELAY.md, "Federation"); each relay has its own thread
 * Two payloads:
 *   raw    opaque bytes (the relays' forwarding cost alone)
 *   vmsec  a vmsec channel end to end (default Noise protocol), as guests would run it
 * Measurements: bulk throughput (64 KiB writes/messages, one direction, acknowledged at the end),
 * TRIES runs per path, the three paths taking turns within each try (in a rotating order) so a
 * slow spell of the shared host lands on all of them; the median and the range of the tries, and
 * the median and range of the per-try ratios to direct. The relay threads' CPU time per GiB
 * forwarded (the relays' own cost, which other load inflates far less than throughput); the
 * round-trip latency of 64-byte messages (p50/p99); and the time a request takes to be accepted
 * (connect and request; through two relays that includes the link's TCP connect, its IK
 * handshake and the forwarded request, since each session opens its own link). Every socket
 * on every path keeps the system's default buffers, the relays' as well as the guests'; each relay
 * also holds up to its buffer limit (the library's default, set explicitly and printed) per direction
 * of a session, which a direct path lacks. Setup (connect, request,
 * handshake) is outside the timed throughput part. Results: markdown on stdout and JSON lines in
 * $VMSEC_BENCH_JSON; VMSEC_BENCH_RELAY_TRIES overrides the number of tries. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vmsec.h>

#include "bench.h"

#define CHUNK 65536
#define PING 64
#define ROUNDS 5000
#define TRIES 7
#define SETUPS 100          /* requests timed per path */
#define RELAY_BUFFER 131072 /* each relay's buffer per direction per session: the library's default */

enum path { DIRECT, RELAYED, TWO_RELAYS, NPATHS };
static const char *const path_name[NPATHS] = {"direct", "relayed", "two-relays"};

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

/* The send buffer every socket of every path has, the guests' and the relays' own: the system's
 * default, left alone, so that no hop of one path buffers more than the same hop of another. */
static int default_sndbuf(void)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), sz = 0;
    socklen_t sl = sizeof(sz);
    if (s < 0 || getsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, &sl) < 0)
        die("SO_SNDBUF");
    close(s);
    return sz;
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
    if (s < 0)
        die("socket");
    if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        die("connect");
    return s;
}

/* Connects a client along path p, its request accepted by the relay(s). */
static int path_connect(enum path p)
{
    int fd = xconnect(p == DIRECT ? "server.sock" : "relay.sock");
    if (p != DIRECT && vmsec_relay_request(fd, p == TWO_RELAYS ? "hostB/server" : "server", "bench", 5000) < 0)
        die("relay request");
    return fd;
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

static int server_accept(struct job *j)
{
    int fd = accept(j->lfd, NULL, NULL);
    if (fd < 0)
        die("accept");
    if (j->relayed) {
        char dom[256];
        if (vmsec_relay_origin_read(fd, 5000, dom, sizeof(dom), NULL, NULL, 0) < 0)
            die("origin");
    }
    return fd;
}

static void serve_vmsec(struct job *j, int fd, uint8_t *buf)
{
    vmsec_channel *ch = channel(fd, true);
    size_t len;
    if (j->latency) {
        for (int i = 0; i < ROUNDS; i++)
            if (vmsec_channel_recv(ch, buf, CHUNK, &len) < 0 || vmsec_channel_send(ch, buf, len, 0) < 0)
                die("pong");
    } else {
        for (size_t got = 0; got < j->bytes; got += len)
            if (vmsec_channel_recv(ch, buf, CHUNK, &len) < 0)
                die("sink");
        if (vmsec_channel_send(ch, buf, 1, 0) < 0)
            die("ack");
    }
    vmsec_channel_close(ch);
    vmsec_channel_free(ch);
}

static void serve_raw(struct job *j, int fd, uint8_t *buf)
{
    if (j->latency) {
        for (int i = 0; i < ROUNDS; i++) {
            xread(fd, buf, PING);
            xwrite(fd, buf, PING);
        }
    } else {
        for (size_t got = 0; got < j->bytes;) {
            ssize_t r = recv(fd, buf, CHUNK, 0);
            if (r <= 0)
                die("sink recv");
            got += (size_t)r;
        }
        xwrite(fd, buf, 1);
    }
    close(fd);
}

static void *server(void *arg)
{
    struct job *j = arg;
    static uint8_t buf[CHUNK];
    int fd = server_accept(j);
    if (j->vmsec)
        serve_vmsec(j, fd, buf);
    else
        serve_raw(j, fd, buf);
    return NULL;
}

static int server_listen(void)
{
    struct sockaddr_un sun;
    sun_set(&sun, "server.sock");
    unlink(sun.sun_path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 64) < 0)
        die("listen");
    return lfd;
}

static double ping_pong(int fd, vmsec_channel *ch, uint8_t *buf, double *p99)
{
    double *rtt = malloc(ROUNDS * sizeof(*rtt));
    size_t len;
    if (!rtt)
        die("malloc");
    for (int i = 0; i < ROUNDS; i++) {
        double s = bench_now();
        if (ch) {
            if (vmsec_channel_send(ch, buf, PING, 0) < 0 || vmsec_channel_recv(ch, buf, CHUNK, &len) < 0)
                die("ping");
        } else {
            xwrite(fd, buf, PING);
            xread(fd, buf, PING);
        }
        rtt[i] = (bench_now() - s) * 1e6;
    }
    double p50 = bench_quantile(rtt, ROUNDS, 0.50);
    *p99 = bench_quantile(rtt, ROUNDS, 0.99);
    free(rtt);
    return p50;
}

static double bulk(int fd, vmsec_channel *ch, uint8_t *buf, size_t bytes)
{
    size_t len;
    double t0 = bench_now();
    for (size_t sent = 0; sent < bytes; sent += CHUNK) {
        if (ch) {
            if (vmsec_channel_send(ch, buf, CHUNK, 0) < 0)
                die("send");
        } else {
            xwrite(fd, buf, CHUNK);
        }
    }
    if (ch) {
        if (vmsec_channel_recv(ch, buf, CHUNK, &len) < 0)
            die("ack");
    } else {
        xread(fd, buf, 1);
    }
    return (double)bytes / (bench_now() - t0) / 1e6;
}

/* Runs one measurement; returns MB/s (throughput) or the RTT p50 in microseconds, p99 in *p99. */
static double run(enum path p, bool use_vmsec, bool latency, size_t bytes, double *p99)
{
    struct job j = {.relayed = p != DIRECT, .vmsec = use_vmsec, .latency = latency, .bytes = bytes};
    j.lfd = server_listen();
    pthread_t th;
    pthread_create(&th, NULL, server, &j);
    int fd = path_connect(p);
    static uint8_t buf[CHUNK];
    memset(buf, 0x5a, sizeof(buf));
    vmsec_channel *ch = use_vmsec ? channel(fd, false) : NULL;
    double result = latency ? ping_pong(fd, ch, buf, p99) : bulk(fd, ch, buf, bytes);
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

/* --- setup: the time until a request is accepted --------------------------------------------------- */

static volatile int g_setup_stop;

/* Serves connections one after the other until told to stop: each is held until its caller's end
 * of stream comes through the relay(s), as closing first would fail a relay's session before it
 * replied. */
static void *setup_server(void *arg)
{
    int lfd = *(int *)arg;
    while (!g_setup_stop) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        uint8_t buf[512];
        while (recv(fd, buf, sizeof(buf), 0) > 0)
            ;
        close(fd);
    }
    return NULL;
}

/* Median and p90 (microseconds) of SETUPS requests along p, each on a new connection. */
static void setup_times(enum path p, double *p50, double *p90)
{
    int lfd = server_listen();
    pthread_t th;
    g_setup_stop = 0;
    pthread_create(&th, NULL, setup_server, &lfd);
    double t[SETUPS];
    for (int i = 0; i < SETUPS; i++) {
        double s = bench_now();
        int fd = path_connect(p);
        t[i] = (bench_now() - s) * 1e6;
        close(fd);
    }
    g_setup_stop = 1;
    close(path_connect(DIRECT)); /* wakes the accept */
    pthread_join(th, NULL);
    close(lfd);
    *p50 = bench_quantile(t, SETUPS, 0.50);
    *p90 = bench_quantile(t, SETUPS, 0.90);
}

/* --- the relays -------------------------------------------------------------------------------------- */

struct relay_thread {
    vmsec_relay *r;
    pthread_t th;
    const char *name;
};

static struct relay_thread g_ra = {.name = "relay-a"}, g_rb = {.name = "relay-b"};

/* CPU time a relay thread has used, in seconds. */
static double relay_cpu_s(const struct relay_thread *t)
{
    clockid_t id;
    struct timespec ts;
    if (pthread_getcpuclockid(t->th, &id) != 0 || clock_gettime(id, &ts) < 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double relays_cpu_s(enum path p)
{
    return p == DIRECT ? 0 : relay_cpu_s(&g_ra) + (p == TWO_RELAYS ? relay_cpu_s(&g_rb) : 0);
}

static void *relay_main(void *arg)
{
    struct relay_thread *t = arg;
    pthread_setname_np(pthread_self(), t->name); /* for perf and top */
    vmsec_relay_run(t->r);
    return NULL;
}

static vmsec_relay *relay_new(const char *policy, const vmsec_keypair *kp)
{
    vmsec_relay *r;
    vmsec_policy *p;
    if (vmsec_relay_new(&r) < 0 || vmsec_policy_load_string(&p, policy, strlen(policy), "bench") < 0 ||
        vmsec_relay_set_policy(r, p) < 0 || vmsec_relay_set_audit_fd(r, -1) < 0 ||
        vmsec_relay_set_connect(r, connect_target, NULL) < 0 || vmsec_relay_set_keypair(r, kp) < 0 ||
        vmsec_relay_set_limit(r, VMSEC_RELAY_LIMIT_BUFFER, RELAY_BUFFER) < 0)
        die("relay");
    return r;
}

/* A loopback port free now (relay B binds it right after). */
static unsigned free_port(void)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(in);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&in, sizeof(in)) < 0 || getsockname(s, (struct sockaddr *)&in, &sl) < 0)
        die("free port");
    close(s);
    return ntohs(in.sin_port);
}

/* Relay A (unix listener for the client) and relay B (link listener on loopback), linked. */
static void relays_start(void)
{
    vmsec_keypair *ka, *kb;
    uint8_t pa[32], pb[32];
    char addr[64];
    struct sockaddr_un sun;
    if (vmsec_keypair_generate(&ka) < 0 || vmsec_keypair_generate(&kb) < 0 || vmsec_keypair_public(ka, pa, 32) < 0 ||
        vmsec_keypair_public(kb, pb, 32) < 0)
        die("relay keys");
    snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%u", free_port());
    g_ra.r = relay_new("service bench port 1\nallow bench from client to server\n"
                       "allow bench from client to hostB/server\n",
                       ka);
    g_rb.r = relay_new("service bench port 1\nallow bench from hostA/client to server\n", kb);
    sun_set(&sun, "relay.sock");
    if (vmsec_relay_set_identify(g_ra.r, identify, NULL) < 0 || vmsec_relay_listen_unix(g_ra.r, sun.sun_path, "host") < 0 ||
        vmsec_relay_add_peer(g_ra.r, "hostB", addr, pb, 32) < 0 || vmsec_relay_add_peer(g_rb.r, "hostA", NULL, pa, 32) < 0 ||
        vmsec_relay_listen_link(g_rb.r, addr) < 0)
        die("relay link");
    vmsec_keypair_free(ka);
    vmsec_keypair_free(kb);
    pthread_create(&g_ra.th, NULL, relay_main, &g_ra);
    pthread_create(&g_rb.th, NULL, relay_main, &g_rb);
}

static void relays_stop(void)
{
    struct relay_thread *t[2] = {&g_ra, &g_rb};
    for (int i = 0; i < 2; i++) {
        vmsec_relay_interrupt(t[i]->r);
        pthread_join(t[i]->th, NULL);
        vmsec_relay_free(t[i]->r);
    }
}

/* --- the tables ------------------------------------------------------------------------------------ */

static double median(const double *v, int n, double *lo, double *hi)
{
    double s[64];
    memcpy(s, v, (size_t)n * sizeof(*v));
    qsort(s, (size_t)n, sizeof(*s), bench_cmp_double);
    *lo = s[0];
    *hi = s[n - 1];
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Throughput of each path over the tries (the paths taking turns), then latency; one table row
 * per path. Returns the median ratios to direct in ratio[]. */
static void payload_rows(bool use_vmsec, int tries, double ratio[NPATHS])
{
    const size_t n = use_vmsec ? (size_t)128 << 20 : (size_t)256 << 20;
    const char *payload = use_vmsec ? "vmsec" : "raw";
    double mbs[NPATHS][64], rat[NPATHS][64], cpu[NPATHS] = {0};
    for (int t = 0; t < tries; t++) {
        for (int k = 0; k < NPATHS; k++) {
            enum path p = (enum path)((t + k) % NPATHS);
            double c0 = relays_cpu_s(p);
            mbs[p][t] = run(p, use_vmsec, false, n, NULL);
            cpu[p] += relays_cpu_s(p) - c0;
        }
        for (int p = 0; p < NPATHS; p++)
            rat[p][t] = mbs[p][t] / mbs[DIRECT][t];
    }
    for (int p = 0; p < NPATHS; p++) {
        double lo, hi, rlo, rhi, p99 = 0;
        double med = median(mbs[p], tries, &lo, &hi), rmed = median(rat[p], tries, &rlo, &rhi);
        double p50 = run((enum path)p, use_vmsec, true, 0, &p99);
        double cpu_ms_gib = cpu[p] * 1e3 / ((double)n * tries / (1 << 30)); /* mean over the tries */
        char cpu_cell[32] = "", ratio_cell[48] = "";
        if (p != DIRECT) {
            snprintf(cpu_cell, sizeof(cpu_cell), "%.0f", cpu_ms_gib);
            snprintf(ratio_cell, sizeof(ratio_cell), "%.2f (%.2f-%.2f)", rmed, rlo, rhi);
        }
        ratio[p] = rmed;
        printf("| %s | %s | %.0f (%.0f-%.0f) | %s | %s | %.1f | %.1f |\n", payload, path_name[p], med, lo, hi,
               ratio_cell, cpu_cell, p50, p99);
        fflush(stdout);
        bench_json("{\"bench\":\"relay\",\"payload\":\"%s\",\"path\":\"%s\",\"throughput_mbps\":%.1f,"
                   "\"throughput_min_mbps\":%.1f,\"throughput_max_mbps\":%.1f,\"ratio_median\":%.3f,"
                   "\"ratio_min\":%.3f,\"ratio_max\":%.3f,\"relay_cpu_ms_per_gib\":%.1f,\"rtt_p50_us\":%.2f,"
                   "\"rtt_p99_us\":%.2f,\"chunk\":%d,\"ping\":%d,\"tries\":%d}",
                   payload, path_name[p], med, lo, hi, rmed, rlo, rhi, p == DIRECT ? 0.0 : cpu_ms_gib, p50, p99,
                   CHUNK, PING, tries);
    }
}

static void setup_rows(void)
{
    double p50[NPATHS], p90[NPATHS];
    for (int p = RELAYED; p < NPATHS; p++)
        setup_times((enum path)p, &p50[p], &p90[p]);
    printf("\n| request accepted (connect + request) | median (us) | p90 (us) |\n|---|---:|---:|\n");
    printf("| one relay | %.0f | %.0f |\n", p50[RELAYED], p90[RELAYED]);
    printf("| two relays (a new link: TCP connect, Noise IK handshake, forwarded request) | %.0f | %.0f |\n",
           p50[TWO_RELAYS], p90[TWO_RELAYS]);
    for (int p = RELAYED; p < NPATHS; p++)
        bench_json("{\"bench\":\"relay_setup\",\"path\":\"%s\",\"median_us\":%.1f,\"p90_us\":%.1f,\"requests\":%d}",
                   path_name[p], p50[p], p90[p], SETUPS);
}

static int tries_wanted(void)
{
    const char *e = getenv("VMSEC_BENCH_RELAY_TRIES");
    int n = e && *e ? atoi(e) : TRIES;
    return n < 1 ? 1 : n > 64 ? 64 : n;
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
    relays_start();
    int tries = tries_wanted();
    double ratio[2][NPATHS];
    printf("## Relay: relayed and two linked relays vs direct (unix sockets, one host)\n\n");
    printf("| payload | path | throughput (MB/s), median (range) | / direct, median (range) | relay CPU (ms/GiB) |"
           " RTT p50 (us) | RTT p99 (us) |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    for (int v = 0; v < 2; v++)
        payload_rows(v, tries, ratio[v]);
    setup_rows();
    printf("\nRelayed / direct throughput, median of %d tries: raw %.2f, vmsec %.2f (floor 0.80, goal 0.90);"
           " two relays / direct: raw %.2f, vmsec %.2f.\n",
           tries, ratio[0][RELAYED], ratio[1][RELAYED], ratio[0][TWO_RELAYS], ratio[1][TWO_RELAYS]);
    printf("\n64 KiB writes (raw) or messages (vmsec); each try runs the three paths in turn and its ratios"
           " compare paths of the same try; ranges are the lowest and highest of the %d tries. Every socket,"
           " the guests' and the relays', has the default %d KiB send buffer; each relay also holds up to"
           " %d KiB per direction of a session (its buffer limit, the default), buffering a direct path"
           " lacks. Relay CPU is the relay threads' CPU time per GiB forwarded"
           " (both relays for two relays; mean of the tries). RTT of %d-byte messages over %d rounds. A relay"
           " moves ciphertext without decrypting it; two linked relays also seal and open it again on"
           " their link (a vmsec channel over TCP, at most 16 KiB per message). Each request through two"
           " relays opens its own link (doc/RELAY.md, \"Federation\"), so there is no request over an"
           " established link to time.\n\n",
           tries, default_sndbuf() >> 10, RELAY_BUFFER >> 10, PING, ROUNDS);
    relays_stop();
    vmsec_keypair_free(g_kc);
    vmsec_keypair_free(g_ks);
    char path[300];
    snprintf(path, sizeof(path), "%s/server.sock", g_dir);
    unlink(path);
    rmdir(g_dir);
    return 0;
}
