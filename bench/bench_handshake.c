/* SPDX-License-Identifier: ISC */
/* Handshake latency: complete handshakes between an initiator and a responder in one thread, bytes
 * pumped through memory, so the figure is the CPU cost of both sides with no scheduler noise.
 *   TLS 1.3: X25519 key share, Ed25519 certificate verified by the client, no tickets.
 *   vmsec: XX and IK with X25519 static keys, peer key checked against an allowlist (bench_vmsec.c).
 * Reports median and p99 in microseconds. */
#include "bench.h"
#include "bench_handshake.h"
#include "tls.h"

#define ROUNDS 2000
#define WARMUP 50

static double tls_once(struct tls_env *env)
{
    SSL *c = SSL_new(env->client), *s = SSL_new(env->server);
    BIO *cb, *sb;
    double t0;
    int cdone = 0, sdone = 0;
    BIO_new_bio_pair(&cb, 0, &sb, 0);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    t0 = bench_now();
    for (int i = 0; i < 64 && !(cdone && sdone); i++) {
        if (!cdone) {
            int rc = SSL_do_handshake(c);
            if (rc == 1)
                cdone = 1;
            else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
                tls_die("TLS client handshake");
        }
        if (!sdone) {
            int rc = SSL_do_handshake(s);
            if (rc == 1)
                sdone = 1;
            else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
                tls_die("TLS server handshake");
        }
    }
    t0 = bench_now() - t0;
    if (!cdone || !sdone)
        bench_die("TLS handshake did not finish");
    SSL_free(c);
    SSL_free(s);
    return t0;
}

static void report(const char *name, const char *id, double (*once)(void *), void *ctx, double *median_out)
{
    static double v[ROUNDS];
    double med, p99;
    for (int i = 0; i < WARMUP; i++)
        once(ctx);
    for (int i = 0; i < ROUNDS; i++)
        v[i] = once(ctx) * 1e6;
    med = bench_quantile(v, ROUNDS, 0.5);
    p99 = bench_quantile(v, ROUNDS, 0.99);
    printf("| %-34s | %10.1f | %10.1f |\n", name, med, p99);
    fflush(stdout);
    bench_json("{\"bench\":\"handshake\",\"contender\":\"%s\",\"median_us\":%.1f,\"p99_us\":%.1f}", id, med, p99);
    if (median_out)
        *median_out = med;
}

static double tls_thunk(void *ctx)
{
    return tls_once(ctx);
}

int main(void)
{
    struct tls_env env;
    double tls_median = 0;
    const struct hs_contender *hs[8];
    size_t n;

    tls_env_init(&env, "TLS_CHACHA20_POLY1305_SHA256");
    printf("### Handshake latency (both sides in one thread, %d handshakes)\n\n", ROUNDS);
    printf("| contender                          | median µs  |   p99 µs   |\n");
    printf("|------------------------------------|-----------:|-----------:|\n");
    report("TLS 1.3 (X25519, Ed25519 cert)", "tls13", tls_thunk, &env, &tls_median);
    n = bench_vmsec_handshakes(hs, 8);
    for (size_t i = 0; i < n; i++) {
        double med;
        report(hs[i]->name, hs[i]->id, hs[i]->once, hs[i]->ctx, &med);
        bench_json("{\"bench\":\"handshake-ratio\",\"contender\":\"%s\",\"vs_tls13\":%.3f}", hs[i]->id,
                   med / tls_median);
    }
    printf("\n");
    tls_env_free(&env);
    return 0;
}
