/* SPDX-License-Identifier: ISC */
/* Channel benchmarks over real AF_VSOCK, run inside the QEMU test guest by bench/vsock-guest.sh.
 *
 * The guest (tests/guest/guest.sh) loads the vsock loopback transport, so both ends talk over CID 1
 * through the socket layer that carries host-guest traffic. The harness mirrors bench_transport.c:
 * one sender thread and one receiver thread, messages sent with VMSEC_SEND_MORE and one final
 * flush, and a raw contender (no crypto) with a 4-byte length prefix and the same 16 KiB userspace
 * batching. Cells are sized by time, not count, because TCG runs code tens of times slower than
 * the host: the sender stops after CELL_SECONDS (and at least MIN_MSGS messages) and ends the
 * stream with a 1-byte message. Each cell is the best of CELL_RUNS runs: the emulated vCPUs are
 * host threads on a shared machine, and interference only ever slows a run down.
 *
 * Also measured in the guest: the single-core libsodium AEAD rate per cipher (the reference a
 * channel is judged against) and XX / IK handshake latency over vsock.
 *
 * Output, on stdout (the guest's report serial port): markdown tables, and JSON lines starting
 * with {"bench":"vsock_guest_...", which the host-side runner moves into results.jsonl. The guest
 * has no file the host could read back, hence stdout rather than $VMSEC_BENCH_JSON. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/uio.h>
#include <sys/utsname.h>

#include <sodium.h>
#include <vmsec.h>

#include "bench.h"
#include "gvsock.h"

#define CELL_SECONDS 0.5
#define CELL_RUNS 3
#define MIN_MSGS 4
#define AEAD_SECONDS 0.3
#define HS_SECONDS 3.0
#define HS_MIN 20
#define HS_MAX 400
#define PORT_THROUGHPUT 7300
#define PORT_HANDSHAKE 7301

static const size_t sizes[] = {64, 1024, 65536, 1048576};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* ---- output -------------------------------------------------------------------------------------- */

/* One JSON object per line on stdout; the runner tells them from the tables by the leading '{'. */
static void json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void json(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static const char *size_name(size_t size)
{
    return size == 64 ? "64 B" : size == 1024 ? "1 KiB" : size == 65536 ? "64 KiB" : "1 MiB";
}

/* ---- the guest CPU ------------------------------------------------------------------------------- */

static char cpu_model[128] = "unknown";
static bool cpu_aes, cpu_pclmul, cpu_avx2;

static bool has_flag(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = flags; (p = strstr(p, flag)) != NULL; p += n)
        if ((p == flags || p[-1] == ' ' || p[-1] == '\t') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void read_cpuinfo(void)
{
    char line[4096];
    bool model = false, flags = false;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f) && !(model && flags)) {
        char *v = strchr(line, ':');
        if (!v)
            continue;
        v += v[1] == ' ' ? 2 : 1;
        if (!model && strncmp(line, "model name", 10) == 0) {
            snprintf(cpu_model, sizeof(cpu_model), "%.*s", (int)strcspn(v, "\n"), v);
            model = true;
        } else if (!flags && strncmp(line, "flags", 5) == 0) {
            cpu_aes = has_flag(v, "aes");
            cpu_pclmul = has_flag(v, "pclmulqdq");
            cpu_avx2 = has_flag(v, "avx2");
            flags = true;
        }
    }
    fclose(f);
}

/* Why the AESGCM suites cannot run in this guest, or NULL when they can. */
static const char *aesgcm_unavailable(void)
{
    if (!cpu_aes)
        return "no AES-NI in guest";
    if (!crypto_aead_aes256gcm_is_available())
        return cpu_pclmul ? "libsodium offers no AES-GCM on this guest CPU" : "no PCLMULQDQ in guest";
    return NULL;
}

/* ---- single-core AEAD rate ------------------------------------------------------------------------ */

typedef int (*seal_fn)(void *ctx, uint8_t *buf, size_t len, uint64_t n, uint8_t *tag);

static int seal_chacha(void *ctx, uint8_t *buf, size_t len, uint64_t n, uint8_t *tag)
{
    uint8_t nonce[12] = {0};
    memcpy(nonce + 4, &n, 8);
    return crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, tag, NULL, buf, len, NULL, 0, NULL, nonce,
                                                              ctx);
}

static int seal_aesgcm(void *ctx, uint8_t *buf, size_t len, uint64_t n, uint8_t *tag)
{
    uint8_t nonce[12] = {0};
    memcpy(nonce + 4, &n, 8);
    return crypto_aead_aes256gcm_encrypt_detached_afternm(buf, tag, NULL, buf, len, NULL, 0, NULL, nonce, ctx);
}

/* MB/s of plaintext sealed in place by one thread, on its own CPU time (as bench_aead.c). */
static double aead_rate(seal_fn fn, void *ctx, size_t len)
{
    uint8_t *buf = calloc(1, len), tag[16];
    uint64_t n = 0;
    size_t bytes = 0;
    double start = bench_thread_cpu(), el;
    if (!buf)
        bench_die("out of memory");
    do {
        for (int i = 0; i < 4; i++) {
            if (fn(ctx, buf, len, n++, tag) != 0)
                bench_die("AEAD failed");
            bytes += len;
        }
        el = bench_thread_cpu() - start;
    } while (el < AEAD_SECONDS);
    free(buf);
    return (double)bytes / el / 1e6;
}

static void bench_aead(void)
{
    static crypto_aead_aes256gcm_state aes;
    uint8_t key[32] = {1};
    const char *no_aes = aesgcm_unavailable();
    struct {
        const char *cipher;
        seal_fn fn;
        void *ctx;
        const char *skip;
    } rows[] = {{"ChaChaPoly", seal_chacha, key, NULL}, {"AESGCM", seal_aesgcm, &aes, no_aes}};

    if (!no_aes)
        crypto_aead_aes256gcm_beforenm(&aes, key);
    printf("### Single-core AEAD rate inside the test guest (libsodium, MB/s of plaintext)\n\n");
    printf("Sealing in place on one vCPU, best of %d runs of %.1f s: the reference for the channel rows.\n\n",
           CELL_RUNS, AEAD_SECONDS);
    printf("| cipher     |      64 B |     1 KiB |    64 KiB |     1 MiB |\n");
    printf("|------------|----------:|----------:|----------:|----------:|\n");
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        double mbs[NSIZES];
        if (rows[r].skip) {
            printf("| %-10s | skipped: %s | | | |\n", rows[r].cipher, rows[r].skip);
            json("{\"bench\":\"vsock_guest_aead\",\"cipher\":\"%s\",\"impl\":\"libsodium\",\"skipped\":\"%s\"}",
                 rows[r].cipher, rows[r].skip);
            continue;
        }
        for (size_t s = 0; s < NSIZES; s++) {
            mbs[s] = 0;
            for (int k = 0; k < CELL_RUNS; k++) {
                double m = aead_rate(rows[r].fn, rows[r].ctx, sizes[s]);
                mbs[s] = m > mbs[s] ? m : mbs[s];
            }
        }
        printf("| %-10s | %9.1f | %9.1f | %9.1f | %9.1f |\n", rows[r].cipher, mbs[0], mbs[1], mbs[2], mbs[3]);
        for (size_t s = 0; s < NSIZES; s++)
            json("{\"bench\":\"vsock_guest_aead\",\"cipher\":\"%s\",\"impl\":\"libsodium\",\"size\":%zu,"
                 "\"mb_per_s\":%.2f}",
                 rows[r].cipher, sizes[s], mbs[s]);
    }
    printf("\n");
}

/* ---- contenders ------------------------------------------------------------------------------------ */

static vmsec_keypair *kp_init, *kp_resp;
static uint8_t pub_init[32], pub_resp[32];

static void keys_once(void)
{
    if (vmsec_init() < 0 || vmsec_keypair_generate(&kp_init) < 0 || vmsec_keypair_generate(&kp_resp) < 0 ||
        vmsec_keypair_public(kp_init, pub_init, 32) < 0 || vmsec_keypair_public(kp_resp, pub_resp, 32) < 0)
        bench_die(vmsec_error_last());
}

/* One side's configuration, as bench_vmsec.c builds it: own key, the other side trusted. */
static vmsec_channel_config *config(const char *protocol, int initiator)
{
    vmsec_channel_config *cfg;
    if (vmsec_channel_config_new(&cfg) < 0 ||
        vmsec_channel_config_set_keypair(cfg, initiator ? kp_init : kp_resp) < 0 ||
        vmsec_channel_config_set_protocol(cfg, protocol) < 0 ||
        vmsec_channel_config_add_trusted_peer(cfg, initiator ? pub_resp : pub_init, 32) < 0 ||
        (initiator && vmsec_channel_config_set_peer_key(cfg, pub_resp, 32) < 0))
        bench_die(vmsec_error_last());
    return cfg;
}

struct contender {
    const char *name;
    const char *id;
    const char *protocol; /* NULL: raw */
    const char *skip;     /* why it cannot run here, or NULL */
};

/* Raw: [u32 big-endian length][payload], small messages batched into 16 KiB writes. */
#define BATCH 16384
#define RBUF (1u << 18)

struct end {
    int fd;
    vmsec_channel *ch; /* NULL: raw */
    uint8_t wbuf[BATCH];
    size_t wlen;
    uint8_t *rbuf;
    size_t rstart, rend;
};

static struct end *end_open(const struct contender *c, int fd, int server)
{
    struct end *e = calloc(1, sizeof(*e));
    if (!e)
        bench_die("out of memory");
    e->fd = fd;
    if (c->protocol) {
        vmsec_channel_config *cfg = config(c->protocol, !server);
        if (vmsec_channel_new(&e->ch, cfg, fd, server ? VMSEC_ROLE_RESPONDER : VMSEC_ROLE_INITIATOR, 0) < 0 ||
            vmsec_channel_handshake(e->ch) < 0)
            bench_die(vmsec_error_last());
        vmsec_channel_config_free(cfg);
    } else if (!(e->rbuf = malloc(RBUF))) {
        bench_die("out of memory");
    }
    return e;
}

static int raw_flush(struct end *e)
{
    int rc = gv_write_all(e->fd, e->wbuf, e->wlen);
    e->wlen = 0;
    return rc;
}

static int end_flush(struct end *e)
{
    if (e->ch)
        return vmsec_channel_flush(e->ch);
    return e->wlen ? raw_flush(e) : 0;
}

static int end_send(struct end *e, const uint8_t *msg, size_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    if (e->ch)
        return vmsec_channel_send(e->ch, msg, len, VMSEC_SEND_MORE);
    if (len + 4 <= BATCH) {
        if (e->wlen + len + 4 > BATCH && raw_flush(e) < 0)
            return -1;
        memcpy(e->wbuf + e->wlen, hdr, 4);
        memcpy(e->wbuf + e->wlen + 4, msg, len);
        e->wlen += len + 4;
        return 0;
    }
    if (e->wlen && raw_flush(e) < 0)
        return -1;
    struct iovec iov[2] = {{hdr, 4}, {NULL, len}};
    memcpy(&iov[1].iov_base, &msg, sizeof(msg)); /* sendmsg takes non-const buffers */
    for (size_t left = len + 4; left > 0;) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t w = sendmsg(e->fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        left -= (size_t)w;
        for (int i = 0; i < 2; i++) {
            size_t take = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            w -= (ssize_t)take;
        }
    }
    return 0;
}

static ssize_t raw_read(int fd, uint8_t *p, size_t n)
{
    for (;;) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

/* One whole message into out; its length, or -1. */
static ssize_t end_recv(struct end *e, uint8_t *out, size_t cap)
{
    if (e->ch) {
        size_t len;
        return vmsec_channel_recv(e->ch, out, cap, &len) < 0 ? -1 : (ssize_t)len;
    }
    for (;;) {
        size_t avail = e->rend - e->rstart;
        if (avail >= 4) {
            const uint8_t *h = e->rbuf + e->rstart;
            size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
            if (len > cap)
                return -1;
            if (avail >= 4 + len) {
                memcpy(out, h + 4, len);
                e->rstart += 4 + len;
                return (ssize_t)len;
            }
            if (len + 4 > RBUF) { /* large message: what is buffered, then the rest directly */
                size_t have = avail - 4;
                memcpy(out, h + 4, have);
                e->rstart = e->rend = 0;
                while (have < len) {
                    ssize_t r = raw_read(e->fd, out + have, len - have);
                    if (r <= 0)
                        return -1;
                    have += (size_t)r;
                }
                return (ssize_t)len;
            }
        }
        if (e->rstart > 0 && e->rend + 4 + 65536 > RBUF) {
            memmove(e->rbuf, e->rbuf + e->rstart, e->rend - e->rstart);
            e->rend -= e->rstart;
            e->rstart = 0;
        }
        ssize_t r = raw_read(e->fd, e->rbuf + e->rend, RBUF - e->rend);
        if (r <= 0)
            return -1;
        e->rend += (size_t)r;
    }
}

static void end_close(struct end *e)
{
    if (e->ch) {
        vmsec_channel_close(e->ch);
        vmsec_channel_free(e->ch);
    }
    free(e->rbuf);
    free(e);
}

/* ---- throughput ------------------------------------------------------------------------------------ */

struct run {
    const struct contender *c;
    int fd;
    size_t size, sent;
    int failed;
};

/* Sends size-byte messages for CELL_SECONDS, then a 1-byte message that ends the cell. The clock is
 * read every message for large sizes and every 256 for small ones: on TCG a clock read costs. */
static void *sender(void *arg)
{
    struct run *r = arg;
    uint8_t *msg = malloc(r->size);
    struct end *e = end_open(r->c, r->fd, 0);
    double t0 = bench_now();
    size_t i = 0;
    if (!msg)
        bench_die("out of memory");
    memset(msg, 0x5a, r->size);
    for (;;) {
        if (end_send(e, msg, r->size) < 0) {
            r->failed = 1;
            break;
        }
        i++;
        if ((r->size >= 65536 || (i & 255) == 0) && i >= MIN_MSGS && bench_now() - t0 >= CELL_SECONDS)
            break;
    }
    r->sent = i;
    if (!r->failed && (end_send(e, msg, 1) < 0 || end_flush(e) < 0))
        r->failed = 1;
    end_close(e);
    free(msg);
    return NULL;
}

/* One cell: a fresh vsock connection, handshake before the clock starts. */
static int measure(const struct contender *c, int lfd, size_t size, double *mbs, double *mps)
{
    struct run r = {.c = c, .size = size};
    uint8_t *buf = malloc(size);
    int cfd = gv_connect(VMADDR_CID_LOCAL, PORT_THROUGHPUT), sfd = cfd >= 0 ? gv_accept(lfd, NULL) : -1;
    pthread_t t;
    size_t got = 0;
    ssize_t n = -1;
    double t0, t1;
    if (!buf)
        bench_die("out of memory");
    if (cfd < 0 || sfd < 0) {
        fprintf(stderr, "bench: vsock connection to CID 1 port %d: %s\n", PORT_THROUGHPUT,
                gv_errname(cfd < 0 ? cfd : sfd));
        if (cfd >= 0)
            close(cfd);
        free(buf);
        return -1;
    }
    r.fd = cfd;
    if (pthread_create(&t, NULL, sender, &r) != 0)
        bench_die("pthread_create");
    struct end *e = end_open(c, sfd, 1);
    t0 = bench_now();
    while ((n = end_recv(e, buf, size)) == (ssize_t)size)
        got++;
    t1 = bench_now();
    pthread_join(t, NULL);
    end_close(e);
    close(cfd);
    close(sfd);
    free(buf);
    if (n != 1 || r.failed || got != r.sent || t1 <= t0) {
        fprintf(stderr, "bench: %s, %zu-byte messages: %zu of %zu received\n", c->name, size, got, r.sent);
        return -1;
    }
    *mps = (double)got / (t1 - t0);
    *mbs = *mps * (double)size / 1e6;
    return 0;
}

static void bench_throughput(void)
{
    const char *no_aes = aesgcm_unavailable();
    const struct contender all[] = {
        {"raw vsock (no crypto)", "raw", NULL, NULL},
        {"vmsec Noise_XX_25519_ChaChaPoly_BLAKE2b", "vmsec-chachapoly-blake2b", "Noise_XX_25519_ChaChaPoly_BLAKE2b",
         NULL},
        {"vmsec Noise_XX_25519_ChaChaPoly_SHA256", "vmsec-chachapoly-sha256", "Noise_XX_25519_ChaChaPoly_SHA256",
         NULL},
        {"vmsec Noise_XX_25519_AESGCM_BLAKE2b", "vmsec-aesgcm-blake2b", "Noise_XX_25519_AESGCM_BLAKE2b", no_aes},
        {"vmsec Noise_XX_25519_AESGCM_SHA256", "vmsec-aesgcm-sha256", "Noise_XX_25519_AESGCM_SHA256", no_aes},
    };
    int lfd = gv_listen(PORT_THROUGHPUT, 4);
    if (lfd < 0) {
        fprintf(stderr, "bench: vsock listener on port %d: %s\n", PORT_THROUGHPUT, gv_errname(lfd));
        printf("Channel throughput over vsock: FAILED (no vsock listener: %s)\n\n", gv_errname(lfd));
        return;
    }
    printf("### Channel throughput over AF_VSOCK inside the test guest (one sender, one receiver thread)\n\n");
    printf("MB/s of application payload (messages/s in parentheses); vsock loopback, CID 1; each cell is the "
           "best of %d runs of about %.1f s.\n\n", CELL_RUNS, CELL_SECONDS);
    printf("| %-39s |", "contender");
    for (size_t s = 0; s < NSIZES; s++)
        printf(" %18s |", size_name(sizes[s]));
    printf("\n|-----------------------------------------|");
    for (size_t s = 0; s < NSIZES; s++)
        printf("-------------------:|");
    printf("\n");
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        const struct contender *c = &all[i];
        double mbs[NSIZES], mps[NSIZES];
        int ok[NSIZES];
        if (c->skip) {
            printf("| %-39s | skipped: %s | — | — | — |\n", c->name, c->skip);
            json("{\"bench\":\"vsock_guest_throughput\",\"contender\":\"%s\",\"skipped\":\"%s\"}", c->id, c->skip);
            continue;
        }
        for (size_t s = 0; s < NSIZES; s++) {
            ok[s] = 0;
            mbs[s] = mps[s] = 0;
            for (int k = 0; k < CELL_RUNS; k++) {
                double b, m;
                if (measure(c, lfd, sizes[s], &b, &m) < 0) {
                    ok[s] = 0;
                    break;
                }
                ok[s] = 1;
                if (m > mps[s]) {
                    mbs[s] = b;
                    mps[s] = m;
                }
            }
        }
        printf("| %-39s |", c->name);
        for (size_t s = 0; s < NSIZES; s++) {
            if (ok[s])
                printf(" %6.2f (%7.0f/s) |", mbs[s], mps[s]);
            else
                printf(" %18s |", "FAILED");
        }
        printf("\n");
        for (size_t s = 0; s < NSIZES; s++)
            if (ok[s])
                json("{\"bench\":\"vsock_guest_throughput\",\"contender\":\"%s\",\"size\":%zu,"
                     "\"mb_per_s\":%.2f,\"msgs_per_s\":%.1f}",
                     c->id, sizes[s], mbs[s], mps[s]);
            else
                json("{\"bench\":\"vsock_guest_throughput\",\"contender\":\"%s\",\"size\":%zu,"
                     "\"failed\":\"%s messages did not all arrive\"}",
                     c->id, sizes[s], size_name(sizes[s]));
    }
    printf("\n");
    close(lfd);
}

/* ---- handshakes ------------------------------------------------------------------------------------- */

struct hs_server {
    int lfd;
    vmsec_channel_config *cfg;
    atomic_bool stop;
    int failed;
};

/* Responds to handshakes until the client sets stop and connects once more without one. */
static void *hs_serve(void *arg)
{
    struct hs_server *h = arg;
    for (;;) {
        vmsec_channel *ch = NULL;
        int fd = gv_accept(h->lfd, NULL);
        if (fd < 0) {
            h->failed = 1;
            return NULL;
        }
        int rc = vmsec_channel_new(&ch, h->cfg, fd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD);
        if (rc == 0)
            rc = vmsec_channel_handshake(ch);
        else
            close(fd);
        vmsec_channel_free(ch);
        if (atomic_load(&h->stop))
            return NULL;
        if (rc < 0)
            h->failed = 1;
    }
}

/* Initiator's handshake time per connection: from a connected socket to an open channel, with the
 * responder working in the other thread. Microseconds into v; returns how many, or 0. */
static size_t handshakes(const char *protocol, double *v)
{
    struct hs_server h = {.cfg = config(protocol, 0)};
    vmsec_channel_config *ccfg = config(protocol, 1);
    pthread_t t;
    size_t n = 0;
    double start;
    h.lfd = gv_listen(PORT_HANDSHAKE, 4);
    if (h.lfd < 0) {
        fprintf(stderr, "bench: vsock listener on port %d: %s\n", PORT_HANDSHAKE, gv_errname(h.lfd));
        return 0;
    }
    atomic_init(&h.stop, false);
    if (pthread_create(&t, NULL, hs_serve, &h) != 0)
        bench_die("pthread_create");
    start = bench_now();
    while (n < HS_MAX && (n < HS_MIN || bench_now() - start < HS_SECONDS)) {
        vmsec_channel *ch = NULL;
        int fd = gv_connect(VMADDR_CID_LOCAL, PORT_HANDSHAKE), rc = fd;
        double t0 = bench_now();
        if (fd >= 0 && (rc = vmsec_channel_new(&ch, ccfg, fd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD)) < 0)
            close(fd);
        if (rc >= 0)
            rc = vmsec_channel_handshake(ch);
        double dt = bench_now() - t0;
        vmsec_channel_free(ch);
        if (rc < 0) {
            fprintf(stderr, "bench: %s handshake over vsock: %s\n", protocol,
                    fd < 0 ? gv_errname(fd) : vmsec_error_last());
            n = 0;
            break;
        }
        v[n++] = dt * 1e6;
    }
    atomic_store(&h.stop, true);
    int fd = gv_connect(VMADDR_CID_LOCAL, PORT_HANDSHAKE); /* wakes the server's accept */
    if (fd >= 0)
        close(fd);
    pthread_join(t, NULL);
    close(h.lfd);
    vmsec_channel_config_free(h.cfg);
    vmsec_channel_config_free(ccfg);
    return h.failed ? 0 : n;
}

static void bench_handshakes(void)
{
    static double v[HS_MAX];
    static const struct {
        const char *protocol, *id;
    } rows[] = {{"Noise_XX_25519_ChaChaPoly_BLAKE2b", "vmsec-xx"}, {"Noise_IK_25519_ChaChaPoly_BLAKE2b", "vmsec-ik"}};
    printf("### Handshake latency over AF_VSOCK inside the test guest\n\n");
    printf("Initiator's time from a connected vsock socket to an open channel; the responder runs in another "
           "thread.\n\n");
    printf("| contender                               | handshakes | median µs  |   p99 µs   |\n");
    printf("|-----------------------------------------|-----------:|-----------:|-----------:|\n");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t n = handshakes(rows[i].protocol, v);
        if (n == 0) {
            printf("| vmsec %-33s | FAILED | | |\n", rows[i].protocol);
            json("{\"bench\":\"vsock_guest_handshake\",\"contender\":\"%s\",\"failed\":\"see stderr\"}", rows[i].id);
            continue;
        }
        double med = bench_quantile(v, n, 0.5), p99 = bench_quantile(v, n, 0.99);
        printf("| vmsec %-33s | %10zu | %10.0f | %10.0f |\n", rows[i].protocol, n, med, p99);
        json("{\"bench\":\"vsock_guest_handshake\",\"contender\":\"%s\",\"count\":%zu,\"median_us\":%.1f,"
             "\"p99_us\":%.1f}",
             rows[i].id, n, med, p99);
    }
    printf("\n");
}

int main(void)
{
    struct utsname u;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    keys_once();
    read_cpuinfo();
    uname(&u);
    printf("Inside the guest: kernel %s, %ld vCPU%s (%s); AES-NI %s, PCLMULQDQ %s, AVX2 %s; libsodium %s.\n\n",
           u.release, cpus, cpus == 1 ? "" : "s", cpu_model, cpu_aes ? "yes" : "no", cpu_pclmul ? "yes" : "no",
           cpu_avx2 ? "yes" : "no", sodium_version_string());
    json("{\"bench\":\"vsock_guest_env\",\"vcpus\":%ld,\"cpu\":\"%s\",\"aes_ni\":%s,\"kernel\":\"%s\"}", cpus,
         cpu_model, cpu_aes ? "true" : "false", u.release);
    bench_aead();
    bench_throughput();
    bench_handshakes();
    vmsec_keypair_free(kp_init);
    vmsec_keypair_free(kp_resp);
    return 0;
}
