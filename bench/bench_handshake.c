/* SPDX-License-Identifier: ISC */
/* Handshake latency: complete handshakes between an initiator and a responder in one thread, bytes
 * pumped through memory, so the figure is the CPU cost of both sides with no scheduler noise.
 *   TLS 1.3: X25519 key share, Ed25519 certificate verified by the client, no tickets.
 *   vmsec: XX and IK with X25519 static keys, peer key checked against an allowlist (bench_vmsec.c).
 * Reports median and p99 in microseconds; the contenders take turns (see report()). */
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

/* The contenders run in turn, one handshake each per round, so that whatever slows the machine
 * down for a while (other guests on the host, frequency changes) weighs on all of them alike and
 * the ratios compare like with like. */
#define MAX_CONTENDERS 8

static void report(const struct hs_contender *const *c, size_t n, double *medians)
{
    static double v[MAX_CONTENDERS][ROUNDS];
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < WARMUP; i++)
            c[k]->once(c[k]->ctx);
    for (int i = 0; i < ROUNDS; i++)
        for (size_t k = 0; k < n; k++)
            v[k][i] = c[k]->once(c[k]->ctx) * 1e6;
    for (size_t k = 0; k < n; k++) {
        double med = bench_quantile(v[k], ROUNDS, 0.5), p99 = bench_quantile(v[k], ROUNDS, 0.99);
        printf("| %-34s | %10.1f | %10.1f |\n", c[k]->name, med, p99);
        bench_json("{\"bench\":\"handshake\",\"contender\":\"%s\",\"median_us\":%.1f,\"p99_us\":%.1f}", c[k]->id,
                   med, p99);
        medians[k] = med;
    }
    fflush(stdout);
}

static double tls_thunk(void *ctx)
{
    return tls_once(ctx);
}

int main(void)
{
    struct tls_env env;
    const struct hs_contender *c[MAX_CONTENDERS];
    double medians[MAX_CONTENDERS];

    tls_env_init(&env, "TLS_CHACHA20_POLY1305_SHA256");
    const struct hs_contender tls = {"TLS 1.3 (X25519, Ed25519 cert)", "tls13", tls_thunk, &env};
    c[0] = &tls;
    size_t n = 1 + bench_vmsec_handshakes(c + 1, MAX_CONTENDERS - 1);
    printf("### Handshake latency (both sides in one thread, %d handshakes each, contenders in turn)\n\n", ROUNDS);
    printf("| contender                          | median µs  |   p99 µs   |\n");
    printf("|------------------------------------|-----------:|-----------:|\n");
    report(c, n, medians);
    for (size_t k = 1; k < n; k++)
        bench_json("{\"bench\":\"handshake-ratio\",\"contender\":\"%s\",\"vs_tls13\":%.3f}", c[k]->id,
                   medians[k] / medians[0]);
    printf("\n");
    tls_env_free(&env);
    return 0;
}
