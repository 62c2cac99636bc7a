/* SPDX-License-Identifier: ISC */
/* vsock_channel guest throughput figures (# bench: lines, never asserted): raw vsock against a
 * channel in the same run, handshake latency, and the AEAD rate on one vCPU. */
#include <sodium.h>

#include "gtap.h"
#include "gvsock.h"
#include "vsock_channel.h"

/* --- throughput: raw vsock and channel in the same run ----------------------------------------- */

struct raw_sender {
    int fd;
    double t0;
    int rc;
};

static void *raw_send(void *p)
{
    struct raw_sender *s = p;
    static uint8_t buf[BENCH_MSG];
    gt_fill(buf, sizeof(buf), 1, 0);
    s->t0 = gt_now();
    for (size_t off = 0; off < BENCH_BYTES && s->rc == 0; off += sizeof(buf))
        s->rc = gv_write_all(s->fd, buf, sizeof(buf));
    return NULL;
}

static double bench_raw(void)
{
    static uint8_t buf[BENCH_MSG];
    int lfd = gv_listen(PORT_BENCH_RAW, 4);
    int cfd = lfd >= 0 ? gv_connect(VMADDR_CID_LOCAL, PORT_BENCH_RAW) : -1;
    int sfd = cfd >= 0 ? gv_accept(lfd, NULL) : -1;
    double mbps = 0;
    if (sfd >= 0) {
        struct raw_sender s = { .fd = cfd };
        pthread_t t;
        size_t got = 0;
        pthread_create(&t, NULL, raw_send, &s);
        while (got < BENCH_BYTES) {
            ssize_t r = recv(sfd, buf, sizeof(buf), 0);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        double secs = gt_now() - s.t0;
        pthread_join(t, NULL);
        if (got == BENCH_BYTES && secs > 0)
            mbps = BENCH_BYTES / secs / 1e6;
    }
    if (sfd >= 0)
        close(sfd);
    if (cfd >= 0)
        close(cfd);
    if (lfd >= 0)
        close(lfd);
    return mbps;
}

struct ch_sender {
    vmsec_channel *ch;
    double t0;
    int rc;
};

static void *ch_send(void *p)
{
    struct ch_sender *s = p;
    static uint8_t buf[BENCH_MSG];
    gt_fill(buf, sizeof(buf), 2, 0);
    s->rc = vmsec_channel_handshake(s->ch); /* the server's runs inside its first recv */
    s->t0 = gt_now();
    for (size_t off = 0; off < BENCH_BYTES && s->rc == 0; off += sizeof(buf))
        s->rc = vmsec_channel_send(s->ch, buf, sizeof(buf), 0);
    return NULL;
}

/* One direction, client to server, 64 KiB messages; MB/s of application data, or 0. */
static double bench_channel(const char *proto_pattern, char *proto, size_t proto_len)
{
    const struct pattern *p = pattern_named(proto_pattern);
    vmsec_channel_config *scfg = make_cfg(p, false), *ccfg = make_cfg(p, true);
    vmsec_listener *l = NULL;
    vmsec_channel *cc = NULL, *sc = NULL;
    int cfd = -1, sfd = -1;
    char a[64];
    double mbps = 0;
    static uint8_t buf[BENCH_MSG];
    if (!scfg || !ccfg)
        goto out;
    vmsec_channel_config_get_protocol(ccfg, proto, proto_len);
    addr(a, sizeof(a), "any", PORT_BENCH_CH);
    if (vmsec_listener_new(&l, a) != 0)
        goto out;
    addr(a, sizeof(a), "1", PORT_BENCH_CH);
    if (vmsec_transport_connect(a, 10000, &cfd) != 0 ||
        vmsec_listener_accept(l, &sfd, NULL, 0, NULL) != 0)
        goto out;
    if (vmsec_channel_new(&cc, ccfg, cfd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD) != 0)
        goto out;
    cfd = -1;
    if (vmsec_channel_new(&sc, scfg, sfd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD) != 0)
        goto out;
    sfd = -1;
    struct ch_sender s = { .ch = cc };
    pthread_t t;
    size_t got = 0, len;
    pthread_create(&t, NULL, ch_send, &s);
    while (got < BENCH_BYTES && vmsec_channel_recv(sc, buf, sizeof(buf), &len) == 0)
        got += len;
    double secs = gt_now() - s.t0;
    pthread_join(t, NULL);
    if (got == BENCH_BYTES && s.rc == 0 && secs > 0)
        mbps = BENCH_BYTES / secs / 1e6;
out:
    if (cfd >= 0)
        close(cfd);
    if (sfd >= 0)
        close(sfd);
    vmsec_channel_free(cc);
    vmsec_channel_free(sc);
    vmsec_listener_free(l);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
    return mbps;
}

struct hs_server {
    vmsec_listener *l;
    vmsec_channel_config *cfg;
    int n, done;
};

static void *hs_serve(void *p)
{
    struct hs_server *h = p;
    for (int i = 0; i < h->n; i++) {
        vmsec_channel *ch = NULL;
        if (vmsec_channel_accept(&ch, h->cfg, h->l) == 0)
            h->done++;
        vmsec_channel_free(ch);
    }
    return NULL;
}

/* Sequential XX handshakes per second (connect + full handshake, both ends in this guest). */
static double bench_handshakes(int n)
{
    const struct pattern *xx = pattern_named("XX");
    struct hs_server h = { .cfg = make_cfg(xx, false), .n = n };
    vmsec_channel_config *ccfg = make_cfg(xx, true);
    char a[64];
    double rate = 0;
    addr(a, sizeof(a), "any", PORT_BENCH_HS);
    if (h.cfg && ccfg && vmsec_listener_new(&h.l, a) == 0) {
        pthread_t t;
        int ok = 0;
        addr(a, sizeof(a), "1", PORT_BENCH_HS);
        pthread_create(&t, NULL, hs_serve, &h);
        double t0 = gt_now();
        for (int i = 0; i < n; i++) {
            vmsec_channel *ch = NULL;
            ok += vmsec_channel_connect(&ch, ccfg, a) == 0;
            vmsec_channel_free(ch);
        }
        pthread_join(t, NULL);
        double secs = gt_now() - t0;
        if (ok == n && h.done == n && secs > 0)
            rate = n / secs;
    }
    vmsec_listener_free(h.l);
    vmsec_channel_config_free(h.cfg);
    vmsec_channel_config_free(ccfg);
    return rate;
}

/* Raw ChaCha20-Poly1305 speed of this guest's CPU: what a channel that encrypts and decrypts on
 * the same vCPU can at best reach, so the channel figure can be judged against it. */
static void bench_aead(double *enc, double *dec)
{
    enum { CHUNK = BENCH_MSG, TOTAL = 16 << 20 };
    static uint8_t pt[CHUNK], ct[CHUNK + crypto_aead_chacha20poly1305_ietf_ABYTES];
    uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES] = { 7 };
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = { 0 };
    unsigned long long clen = 0;
    int bad = 0;
    double t0 = gt_now();
    for (int i = 0; i < TOTAL / CHUNK; i++)
        crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, pt, CHUNK, NULL, 0, NULL, nonce, key);
    double t1 = gt_now();
    for (int i = 0; i < TOTAL / CHUNK; i++)
        bad |= crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, clen, NULL, 0, nonce, key);
    double t2 = gt_now();
    *enc = t1 > t0 ? TOTAL / (t1 - t0) / 1e6 : 0;
    *dec = t2 > t1 && !bad ? TOTAL / (t2 - t1) / 1e6 : 0;
}

void test_bench(void)
{
    char proto[64] = "";
    double raw = bench_raw();
    double ch = bench_channel("XX", proto, sizeof(proto));
    double hs = bench_handshakes(20);
    gt_ok(raw > 0 && ch > 0 && hs > 0, "benchmark transfers completed (raw vsock, %s, handshakes)",
          proto);
    gt_diag("bench: raw vsock, 64 KiB writes: %.1f MB/s (%u MiB)", raw, BENCH_BYTES >> 20);
    gt_diag("bench: vmsec channel %s over vsock, 64 KiB messages: %.1f MB/s (%.0f%% of raw vsock)",
            proto, ch, raw > 0 ? 100 * ch / raw : 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    gt_diag("bench: %s handshakes over vsock (connect + handshake, %ld vCPU): %.1f/s", proto, cpus,
            hs);
    double enc = 0, dec = 0;
    bench_aead(&enc, &dec);
    gt_diag("bench: ChaCha20-Poly1305 on one vCPU (libsodium): encrypt %.1f MB/s, decrypt %.1f MB/s; "
            "encrypting and decrypting on one vCPU caps a channel at %.1f MB/s",
            enc, dec, enc > 0 && dec > 0 ? 1 / (1 / enc + 1 / dec) : 0);
}

