/* SPDX-License-Identifier: ISC */
/* Guest test program: raw AF_VSOCK semantics over the loopback transport (CID 1).
 *
 * Runs inside the test guest (tests/guest/guest.sh), statically linked, and pins down the kernel
 * behaviour the vmsec channel layer builds on: addressing and peer CIDs, many concurrent
 * connections, what a connection to a port without a listener returns, port conflicts, and what a
 * reader sees when its peer dies in the middle of a message. It also measures raw throughput so
 * that the channel benchmark has a baseline from the same guest run. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtap.h"
#include "gvsock.h"

#define PORT_BASIC 5001
#define PORT_MANY 5002
#define PORT_LARGE 5003
#define PORT_NOBODY 5004
#define PORT_INUSE 5005
#define PORT_DIES 5006
#define PORT_FILTER 5007
#define PORT_BENCH 5008

#define N_CLIENTS 64
#define CLIENT_BYTES (16 * 1024)
#define LARGE_BYTES (8u * 1024 * 1024)
#define BENCH_MSG (64 * 1024)
#define BENCH_BYTES (256u * 1024 * 1024)

/* --- addressing, echo, half-close ------------------------------------------------------------- */

static void test_basic(void)
{
    int lfd = gv_listen(PORT_BASIC, 16);
    if (!gt_ok(lfd >= 0, "listener binds (VMADDR_CID_ANY, %d) (%s)", PORT_BASIC, gv_errname(lfd)))
        return;
    struct sockaddr_vm a;
    socklen_t alen = sizeof(a);
    gt_ok(getsockname(lfd, (struct sockaddr *)&a, &alen) == 0 && a.svm_port == PORT_BASIC,
          "getsockname on the listener reports port %d", PORT_BASIC);

    int cfd = gv_connect(VMADDR_CID_LOCAL, PORT_BASIC);
    if (!gt_ok(cfd >= 0, "connect to CID 1 port %d succeeds (%s)", PORT_BASIC, gv_errname(cfd))) {
        close(lfd);
        return;
    }
    struct sockaddr_vm peer = gv_addr(0, 0);
    int sfd = gv_accept(lfd, &peer);
    gt_ok(sfd >= 0, "accept returns the connection (%s)", gv_errname(sfd));
    gt_ok(sfd >= 0 && peer.svm_cid == VMADDR_CID_LOCAL, "accept reports peer CID 1 (got %u)",
          sfd >= 0 ? peer.svm_cid : 0);

    alen = sizeof(a);
    int rc = getpeername(cfd, (struct sockaddr *)&a, &alen);
    gt_ok(rc == 0 && a.svm_cid == VMADDR_CID_LOCAL && a.svm_port == PORT_BASIC,
          "client getpeername reports (1, %d) (got %u, %u)", PORT_BASIC, rc == 0 ? a.svm_cid : 0,
          rc == 0 ? a.svm_port : 0);
    alen = sizeof(a);
    if (getsockname(cfd, (struct sockaddr *)&a, &alen) == 0)
        gt_diag("client local address: CID %u port %u; server sees peer port %u", a.svm_cid,
                a.svm_port, sfd >= 0 ? peer.svm_port : 0);
    if (sfd < 0) {
        close(cfd);
        close(lfd);
        return;
    }

    uint8_t out[1000], in[1000], back[1000];
    int err = 0;
    gt_fill(out, sizeof(out), 1, 0);
    rc = gv_write_all(cfd, out, sizeof(out));
    size_t got = gv_read_all(sfd, in, sizeof(in), &err);
    bool same = rc == 0 && got == sizeof(in) && memcmp(in, out, sizeof(in)) == 0;
    if (same)
        same = gv_write_all(sfd, in, got) == 0 &&
               gv_read_all(cfd, back, sizeof(back), &err) == sizeof(back) &&
               memcmp(back, out, sizeof(back)) == 0;
    gt_ok(same, "1000 bytes echo back intact");

    /* Half-close: the server sees end of stream yet can still answer. */
    shutdown(cfd, SHUT_WR);
    char c;
    got = gv_read_all(sfd, &c, 1, &err);
    gt_ok(got == 0 && err == 1, "shutdown(SHUT_WR) gives the peer a clean end of stream (%s)",
          err == 1 ? "EOF" : gv_errname(err));
    bool reply = gv_write_all(sfd, "z", 1) == 0 && gv_read_all(cfd, &c, 1, &err) == 1 && c == 'z';
    gt_ok(reply, "the half-closed side still receives the reply");
    close(sfd);
    got = gv_read_all(cfd, &c, 1, &err);
    gt_ok(got == 0 && err == 1, "close by the server gives the client a clean end of stream (%s)",
          err == 1 ? "EOF" : gv_errname(err));
    close(cfd);
    close(lfd);
}

/* --- 64 concurrent clients ------------------------------------------------------------------- */

struct many {
    int lfd;
    pthread_barrier_t go;
    int ok[N_CLIENTS];
    unsigned peer_ports[N_CLIENTS];
    unsigned peer_cids[N_CLIENTS];
    int accepted;
};

struct conn_arg {
    int fd;
};

static void *echo_conn(void *p)
{
    struct conn_arg *c = p;
    uint8_t buf[4096];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || gv_write_all(c->fd, buf, (size_t)r) < 0)
            break;
    }
    close(c->fd);
    free(c);
    return NULL;
}

static int spawn_detached(void *(*fn)(void *), void *arg)
{
    pthread_attr_t at;
    pthread_t t;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, fn, arg);
    pthread_attr_destroy(&at);
    return rc;
}

static void *many_server(void *p)
{
    struct many *m = p;
    for (int i = 0; i < N_CLIENTS; i++) {
        struct sockaddr_vm peer = gv_addr(0, 0);
        int fd = gv_accept(m->lfd, &peer);
        if (fd < 0)
            break;
        m->peer_ports[i] = peer.svm_port;
        m->peer_cids[i] = peer.svm_cid;
        m->accepted = i + 1;
        struct conn_arg *c = malloc(sizeof(*c));
        if (!c) {
            close(fd);
            break;
        }
        c->fd = fd;
        if (spawn_detached(echo_conn, c) != 0) {
            close(fd);
            free(c);
            break;
        }
    }
    return NULL;
}

struct client_arg {
    struct many *m;
    int idx;
};

static void *many_client(void *p)
{
    struct client_arg *a = p;
    static uint8_t out[N_CLIENTS][CLIENT_BYTES], in[N_CLIENTS][CLIENT_BYTES];
    int err = 0;
    gt_fill(out[a->idx], CLIENT_BYTES, 100 + (uint64_t)a->idx, 0);
    pthread_barrier_wait(&a->m->go);
    int fd = gv_connect(VMADDR_CID_LOCAL, PORT_MANY);
    if (fd < 0)
        return NULL;
    /* Small enough to sit in the socket buffers: write everything, then read the echo. */
    if (gv_write_all(fd, out[a->idx], CLIENT_BYTES) == 0 &&
        gv_read_all(fd, in[a->idx], CLIENT_BYTES, &err) == CLIENT_BYTES &&
        memcmp(in[a->idx], out[a->idx], CLIENT_BYTES) == 0)
        a->m->ok[a->idx] = 1;
    close(fd);
    return NULL;
}

static void test_many(void)
{
    static struct many m;
    struct client_arg args[N_CLIENTS];
    pthread_t server, clients[N_CLIENTS];
    int started = 0;

    memset(&m, 0, sizeof(m));
    m.lfd = gv_listen(PORT_MANY, 128);
    if (!gt_ok(m.lfd >= 0, "listener for %d clients (%s)", N_CLIENTS, gv_errname(m.lfd)))
        return;
    pthread_barrier_init(&m.go, NULL, N_CLIENTS);
    pthread_create(&server, NULL, many_server, &m);
    for (int i = 0; i < N_CLIENTS; i++) {
        args[i].m = &m;
        args[i].idx = i;
        if (pthread_create(&clients[i], NULL, many_client, &args[i]) != 0)
            break;
        started++;
    }
    if (started < N_CLIENTS) {
        /* The barrier would never open; this is a resource failure of the guest, not of vsock. */
        gt_ok(false, "could start only %d of %d client threads", started, N_CLIENTS);
        _exit(gt_done());
    }
    for (int i = 0; i < N_CLIENTS; i++)
        pthread_join(clients[i], NULL);
    /* If clients failed, the accept loop ends on the listener's receive timeout. */
    pthread_join(server, NULL);
    close(m.lfd);

    int ok = 0, distinct = 1, cid1 = 1;
    for (int i = 0; i < N_CLIENTS; i++)
        ok += m.ok[i];
    for (int i = 0; i < m.accepted; i++) {
        cid1 &= m.peer_cids[i] == VMADDR_CID_LOCAL;
        for (int j = 0; j < i; j++)
            distinct &= m.peer_ports[i] != m.peer_ports[j];
    }
    gt_ok(ok == N_CLIENTS, "%d concurrent clients each get their %d bytes echoed intact (%d did)",
          N_CLIENTS, CLIENT_BYTES, ok);
    gt_ok(m.accepted == N_CLIENTS && distinct && cid1,
          "the listener accepted %d connections from CID 1 with distinct peer ports (%d)",
          N_CLIENTS, m.accepted);
    pthread_barrier_destroy(&m.go);
}

/* --- large transfer with checksums ---------------------------------------------------------- */

/* Streams `total` bytes to fd in `chunk`-sized writes; returns the checksum of what was sent, or
 * 0 on error. Without `verify` (benchmarks) the same buffer is resent and nothing is hashed, so
 * the figure measures the transport, not the emulated CPU generating test data. */
static uint64_t send_stream(int fd, uint64_t seed, size_t total, size_t chunk, bool verify)
{
    static uint8_t buf[BENCH_MSG];
    uint64_t h = GT_FNV_INIT;
    if (chunk > sizeof(buf))
        return 0;
    if (!verify)
        gt_fill(buf, sizeof(buf), seed, 0);
    for (size_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? total - off : chunk;
        if (verify) {
            gt_fill(buf, n, seed, off);
            h = gt_fnv(h, buf, n);
        }
        if (gv_write_all(fd, buf, n) < 0)
            return 0;
    }
    return h;
}

struct sender {
    int fd;
    uint64_t seed;
    size_t total, chunk;
    bool verify;
    uint64_t sum;
    double t0;
};

static void *sender_thread(void *p)
{
    struct sender *s = p;
    s->t0 = gt_now();
    s->sum = send_stream(s->fd, s->seed, s->total, s->chunk, s->verify);
    return NULL;
}

/* Reads `total` bytes, checksumming them when `verify`; the count read. */
static size_t recv_stream(int fd, size_t total, uint64_t *sum, bool verify)
{
    static uint8_t buf[BENCH_MSG];
    size_t got = 0;
    uint64_t h = GT_FNV_INIT;
    while (got < total) {
        size_t want = total - got < sizeof(buf) ? total - got : sizeof(buf);
        ssize_t r = recv(fd, buf, want, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (verify)
            h = gt_fnv(h, buf, (size_t)r);
        got += (size_t)r;
    }
    *sum = h;
    return got;
}

/* One-way transfer from a client to the accepted server socket; true when every byte arrived (and,
 * with `verify`, the checksums match). *secs gets the time from first write to last read. */
static bool transfer(unsigned port, size_t total, size_t chunk, bool verify, double *secs)
{
    int lfd = gv_listen(port, 4);
    if (lfd < 0)
        return false;
    int cfd = gv_connect(VMADDR_CID_LOCAL, port);
    int sfd = cfd >= 0 ? gv_accept(lfd, NULL) : -1;
    close(lfd);
    bool ok = false;
    if (sfd >= 0) {
        struct sender s = {
            .fd = cfd, .seed = port, .total = total, .chunk = chunk, .verify = verify
        };
        pthread_t t;
        uint64_t rsum = 0;
        pthread_create(&t, NULL, sender_thread, &s);
        size_t got = recv_stream(sfd, total, &rsum, verify);
        double t1 = gt_now();
        pthread_join(t, NULL);
        *secs = t1 - s.t0;
        ok = got == total && s.sum != 0 && s.sum == rsum;
        if (!ok)
            gt_diag("transfer on port %u: %zu of %zu bytes, checksums %016llx / %016llx", port,
                    got, total, (unsigned long long)s.sum, (unsigned long long)rsum);
    }
    if (sfd >= 0)
        close(sfd);
    if (cfd >= 0)
        close(cfd);
    return ok;
}

static void test_large(void)
{
    double secs;
    gt_ok(transfer(PORT_LARGE, LARGE_BYTES, 50001, true, &secs),
          "8 MiB in odd-sized writes arrives complete with a matching checksum");
}

/* --- failures: no listener, port in use ------------------------------------------------------- */

static void test_nobody(void)
{
    double t0 = gt_now();
    int fd = gv_connect(VMADDR_CID_LOCAL, PORT_NOBODY);
    double ms = (gt_now() - t0) * 1000;
    gt_ok(fd == -ECONNRESET || fd == -ECONNREFUSED,
          "connect to a port with no listener is refused, not timed out (%s)", gv_errname(fd));
    gt_diag("vsock: connect to CID 1 port %d with no listener -> %s after %.1f ms", PORT_NOBODY,
            gv_errname(fd), ms);
    if (fd >= 0)
        close(fd);
}

static void test_inuse(void)
{
    int a = gv_listen(PORT_INUSE, 4);
    if (!gt_ok(a >= 0, "first listener on port %d (%s)", PORT_INUSE, gv_errname(a)))
        return;
    int b = gv_listen(PORT_INUSE, 4);
    gt_ok(b == -EADDRINUSE, "a second bind to port %d fails with EADDRINUSE (%s)", PORT_INUSE,
          gv_errname(b));
    if (b >= 0)
        close(b);
    close(a);
    b = gv_listen(PORT_INUSE, 4);
    gt_ok(b >= 0, "the port can be bound again once the listener is closed (%s)", gv_errname(b));
    if (b >= 0)
        close(b);
}

/* --- a peer that dies mid-message ------------------------------------------------------------ */

static void test_peer_dies(void)
{
    enum { DECLARED = 1024 * 1024, SENT = 64 * 1024 };
    int lfd = gv_listen(PORT_DIES, 4);
    if (!gt_ok(lfd >= 0, "listener for the dying peer (%s)", gv_errname(lfd)))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        static uint8_t buf[SENT];
        uint32_t hdr = DECLARED;
        int fd = gv_connect(VMADDR_CID_LOCAL, PORT_DIES);
        gt_fill(buf, sizeof(buf), 7, 0);
        if (fd >= 0 && gv_write_all(fd, &hdr, sizeof(hdr)) == 0)
            gv_write_all(fd, buf, sizeof(buf));
        raise(SIGKILL);
        _exit(99);
    }
    static uint8_t buf[DECLARED], want[SENT];
    uint32_t hdr = 0;
    int err = 0, status = 0;
    int sfd = gv_accept(lfd, NULL);
    size_t got = 0;
    if (sfd >= 0 && gv_read_all(sfd, &hdr, sizeof(hdr), &err) == sizeof(hdr))
        got = gv_read_all(sfd, buf, hdr <= DECLARED ? hdr : DECLARED, &err);
    waitpid(pid, &status, 0);
    gt_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer was killed mid-message");
    gt_ok(hdr == DECLARED && got < DECLARED && (err == 1 || err == -ECONNRESET),
          "the reader sees the stream end early: %zu of %d bytes, then %s", got, DECLARED,
          err == 1 ? "EOF" : gv_errname(err));
    gt_fill(want, sizeof(want), 7, 0);
    gt_ok(got <= SENT && memcmp(buf, want, got) == 0, "the bytes that did arrive are intact");
    gt_diag("vsock: peer killed after %d of %d bytes -> reader got %zu bytes then %s", SENT,
            DECLARED, got, err == 1 ? "EOF" : gv_errname(err));
    if (sfd >= 0)
        close(sfd);
    close(lfd);
}

/* --- a listener that only accepts one CID ----------------------------------------------------- */

/* Accepts one connection; keeps it only when the peer's CID is `allowed`. Returns the fd, or -1
 * when the connection was refused (closed at once). */
static int accept_from(int lfd, unsigned allowed)
{
    struct sockaddr_vm peer = gv_addr(0, 0);
    int fd = gv_accept(lfd, &peer);
    if (fd < 0)
        return -1;
    if (peer.svm_cid != allowed) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_filter(void)
{
    int lfd = gv_listen(PORT_FILTER, 4);
    if (!gt_ok(lfd >= 0, "listener for the CID filter (%s)", gv_errname(lfd)))
        return;
    int err = 0;
    char c = 0;
    int cfd = gv_connect(VMADDR_CID_LOCAL, PORT_FILTER);
    int sfd = cfd >= 0 ? accept_from(lfd, VMADDR_CID_LOCAL) : -1;
    bool ok = sfd >= 0 && gv_write_all(cfd, "a", 1) == 0 && gv_read_all(sfd, &c, 1, &err) == 1 &&
              c == 'a';
    gt_ok(ok, "a listener accepting only CID 1 serves a client from CID 1");
    if (sfd >= 0)
        close(sfd);
    if (cfd >= 0)
        close(cfd);

    cfd = gv_connect(VMADDR_CID_LOCAL, PORT_FILTER);
    sfd = cfd >= 0 ? accept_from(lfd, 3) : -1;
    size_t got = 1;
    if (cfd >= 0) {
        gv_write_all(cfd, "b", 1); /* may already fail: the peer is gone */
        got = gv_read_all(cfd, &c, 1, &err);
    }
    gt_ok(cfd >= 0 && sfd < 0 && got == 0 && (err == 1 || err == -ECONNRESET),
          "a listener accepting only CID 3 drops the client from CID 1 (client sees %s)",
          err == 1 ? "EOF" : gv_errname(err));
    if (sfd >= 0)
        close(sfd);
    if (cfd >= 0)
        close(cfd);
    close(lfd);
}

/* --- throughput ------------------------------------------------------------------------------- */

static void test_bench(void)
{
    double secs = 0;
    bool ok = transfer(PORT_BENCH, BENCH_BYTES, BENCH_MSG, false, &secs);
    gt_ok(ok, "benchmark transfer of %u MiB arrives intact", BENCH_BYTES >> 20);
    if (ok && secs > 0)
        gt_diag("bench: raw vsock stream, 64 KiB writes: %.1f MB/s (%u MiB in %.2f s)",
                BENCH_BYTES / secs / 1e6, BENCH_BYTES >> 20, secs);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (!gt_ok(fd >= 0, "an AF_VSOCK stream socket can be created (%s)", gv_errname(fd < 0 ? -errno : 0))) {
        printf("Bail out! AF_VSOCK unavailable in the guest\n");
        return 1;
    }
    close(fd);
    test_basic();
    test_many();
    test_large();
    test_nobody();
    test_inuse();
    test_peer_dies();
    test_filter();
    test_bench();
    return gt_done();
}
