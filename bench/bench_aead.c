/* SPDX-License-Identifier: ISC */
/* Single-core AEAD rate: the reference limit for channel throughput, and the figures that choose
 * which library runs what (configure --with-aead, lib/channel/noise_crypto.c).
 *
 * For each suite, encrypts one buffer in place over and over (ChaCha20-Poly1305 IETF and AES-256-GCM
 * through libsodium and through OpenSSL's libcrypto EVP, the way lib/channel/noise_aead_evp.c calls
 * it) and reports MB/s of plaintext. The nonce changes every call, as in a real channel. Then the
 * cost of one X25519 operation in each library, as a handshake would call it. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "bench.h"

#define SECONDS 0.4

typedef int (*seal_fn)(void *ctx, uint8_t *buf, size_t len, uint64_t n, uint8_t *tag);

static int sodium_chacha(void *ctx, uint8_t *buf, size_t len, uint64_t n, uint8_t *tag)
{
    uint8_t nonce[12] = {0};
    memcpy(nonce + 4, &n, 8);
    return crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, tag, NULL, buf, len, NULL, 0, NULL, nonce,
                                                              ctx);
}

static int sodium_aesgcm(void *ctx, uint8_t *buf, size_t len, uint64_t n, uint8_t *tag)
{
    uint8_t nonce[12] = {0};
    memcpy(nonce + 4, &n, 8);
    return crypto_aead_aes256gcm_encrypt_detached_afternm(buf, tag, NULL, buf, len, NULL, 0, NULL, nonce, ctx);
}

struct evp {
    EVP_CIPHER_CTX *c;
};

static int evp_seal(void *ctx, uint8_t *buf, size_t len, uint64_t n, uint8_t *tag)
{
    struct evp *e = ctx;
    uint8_t nonce[12] = {0};
    int out;
    OSSL_PARAM params[2];
    memcpy(nonce + 4, &n, 8);
    /* the tag through the provider's parameters, as the library does (cheaper than the ctrl) */
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_EncryptInit_ex(e->c, NULL, NULL, NULL, nonce) != 1 || EVP_EncryptUpdate(e->c, buf, &out, buf, (int)len) != 1 ||
        EVP_EncryptFinal_ex(e->c, buf + out, &out) != 1 || EVP_CIPHER_CTX_get_params(e->c, params) != 1)
        return -1;
    return 0;
}

struct row {
    const char *name, *impl;
    seal_fn fn;
    void *ctx;
};

static double rate(seal_fn fn, void *ctx, size_t len)
{
    uint8_t *buf = calloc(1, len), tag[16];
    uint64_t n = 0;
    double start = bench_thread_cpu(), el;
    size_t bytes = 0;
    do {
        for (int i = 0; i < 16; i++) {
            if (fn(ctx, buf, len, n++, tag) != 0)
                bench_die("AEAD failed");
            bytes += len;
        }
        el = bench_thread_cpu() - start;
    } while (el < SECONDS);
    free(buf);
    return (double)bytes / el / 1e6;
}

/* ---- X25519 ------------------------------------------------------------------------------------ */

#define X_ROUNDS 2000

struct x25519 {
    uint8_t sk[32], peer[32], out[32];
    EVP_PKEY *key, *peer_key;
};

static void x_sodium_dh(struct x25519 *x)
{
    if (crypto_scalarmult(x->out, x->sk, x->peer) != 0)
        bench_die("crypto_scalarmult");
}

static void x_sodium_base(struct x25519 *x)
{
    if (crypto_scalarmult_base(x->out, x->sk) != 0)
        bench_die("crypto_scalarmult_base");
}

/* The fastest fixed-base multiplication any library here offers (a comb over a precomputed table).
 * An X25519 key pair could be had from it plus a conversion to the Montgomery form; the handshake
 * lower bound in bench/summary.py counts it as a key pair's cost, which flatters that bound. */
static void x_sodium_ed_base(struct x25519 *x)
{
    if (crypto_scalarmult_ed25519_base(x->out, x->sk) != 0)
        bench_die("crypto_scalarmult_ed25519_base");
}

static void evp_derive(EVP_PKEY *key, EVP_PKEY *peer, uint8_t out[32])
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    size_t len = 32;
    if (!c || EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer(c, peer) != 1 ||
        EVP_PKEY_derive(c, out, &len) != 1 || len != 32)
        bench_die("EVP_PKEY_derive");
    EVP_PKEY_CTX_free(c);
}

/* What a handshake would do: the keys arrive as bytes, so each DH imports them first (importing a
 * private key also derives its public key, a second scalar multiplication). */
static void x_evp_dh_raw(struct x25519 *x)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, x->sk, 32),
             *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, x->peer, 32);
    if (!k || !p)
        bench_die("EVP_PKEY_new_raw_*_key");
    evp_derive(k, p, x->out);
    EVP_PKEY_free(k);
    EVP_PKEY_free(p);
}

/* The lower bound: both key objects made once. */
static void x_evp_dh_kept(struct x25519 *x)
{
    evp_derive(x->key, x->peer_key, x->out);
}

static void x_evp_keygen(struct x25519 *x)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    size_t len = 32;
    if (!k || EVP_PKEY_get_raw_public_key(k, x->out, &len) != 1)
        bench_die("EVP_PKEY_Q_keygen");
    EVP_PKEY_free(k);
}

static void x25519_table(void)
{
    static const struct {
        const char *impl, *op, *id;
        void (*fn)(struct x25519 *);
    } rows[] = {
        {"libsodium", "crypto_scalarmult (DH)", "sodium-dh", x_sodium_dh},
        {"libsodium", "crypto_scalarmult_base (key pair)", "sodium-base", x_sodium_base},
        {"libsodium", "crypto_scalarmult_ed25519_base (fixed-base comb)", "sodium-ed-base", x_sodium_ed_base},
        {"OpenSSL", "EVP_PKEY_derive, keys imported from bytes (DH)", "evp-dh-raw", x_evp_dh_raw},
        {"OpenSSL", "EVP_PKEY_derive, key objects kept (DH)", "evp-dh-kept", x_evp_dh_kept},
        {"OpenSSL", "EVP_PKEY_Q_keygen (key pair)", "evp-keygen", x_evp_keygen},
    };
    static double v[X_ROUNDS];
    struct x25519 x;

    randombytes_buf(x.sk, sizeof(x.sk));
    if (crypto_scalarmult_base(x.peer, x.sk) != 0)
        bench_die("crypto_scalarmult_base");
    randombytes_buf(x.sk, sizeof(x.sk));
    x.key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, x.sk, 32);
    x.peer_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, x.peer, 32);
    if (!x.key || !x.peer_key)
        bench_die("EVP_PKEY_new_raw_*_key");
    printf("### X25519, one operation (µs, median of %d, one core)\n\n", X_ROUNDS);
    printf("| implementation | operation                                        | median µs |\n");
    printf("|----------------|--------------------------------------------------|----------:|\n");
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        for (int i = 0; i < X_ROUNDS / 10; i++) /* warm-up */
            rows[r].fn(&x);
        for (int i = 0; i < X_ROUNDS; i++) {
            double t0 = bench_thread_cpu();
            rows[r].fn(&x);
            v[i] = (bench_thread_cpu() - t0) * 1e6;
        }
        double med = bench_quantile(v, X_ROUNDS, 0.5);
        printf("| %-14s | %-48s | %9.1f |\n", rows[r].impl, rows[r].op, med);
        bench_json("{\"bench\":\"x25519\",\"impl\":\"%s\",\"op\":\"%s\",\"median_us\":%.2f}", rows[r].impl,
                   rows[r].id, med);
    }
    printf("\n");
    EVP_PKEY_free(x.key);
    EVP_PKEY_free(x.peer_key);
    sodium_memzero(&x, sizeof(x));
}

int main(void)
{
    static const size_t sizes[] = {16, 64, 1024, 65536, 1048576};
    uint8_t key[32] = {1};
    crypto_aead_aes256gcm_state aes;
    struct evp ev_chacha = {EVP_CIPHER_CTX_new()}, ev_aes = {EVP_CIPHER_CTX_new()};
    struct row rows[4];
    int nrows = 0;

    if (sodium_init() < 0)
        bench_die("sodium_init");
    EVP_EncryptInit_ex(ev_chacha.c, EVP_chacha20_poly1305(), NULL, key, NULL);
    EVP_EncryptInit_ex(ev_aes.c, EVP_aes_256_gcm(), NULL, key, NULL);
    rows[nrows++] = (struct row){"ChaChaPoly", "libsodium", sodium_chacha, key};
    if (crypto_aead_aes256gcm_is_available()) {
        crypto_aead_aes256gcm_beforenm(&aes, key);
        rows[nrows++] = (struct row){"AESGCM", "libsodium", sodium_aesgcm, &aes};
    }
    rows[nrows++] = (struct row){"ChaChaPoly", "OpenSSL", evp_seal, &ev_chacha};
    rows[nrows++] = (struct row){"AESGCM", "OpenSSL", evp_seal, &ev_aes};

    printf("### Single-core AEAD rate (MB/s of plaintext, one core)\n\n");
    printf("| cipher     | implementation |      16 B |      64 B |     1 KiB |    64 KiB |     1 MiB |\n");
    printf("|------------|----------------|----------:|----------:|----------:|----------:|----------:|\n");
    for (int r = 0; r < nrows; r++) {
        printf("| %-10s | %-14s |", rows[r].name, rows[r].impl);
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            double mbs = rate(rows[r].fn, rows[r].ctx, sizes[s]);
            printf(" %9.0f |", mbs);
            fflush(stdout);
            bench_json("{\"bench\":\"aead\",\"cipher\":\"%s\",\"impl\":\"%s\",\"size\":%zu,\"mb_per_s\":%.1f}",
                       rows[r].name, rows[r].impl, sizes[s], mbs);
        }
        printf("\n");
    }
    if (!crypto_aead_aes256gcm_is_available())
        printf("\nlibsodium reports no hardware AES-GCM on this CPU: the AESGCM suite is unavailable.\n");
    printf("\n");
    EVP_CIPHER_CTX_free(ev_chacha.c);
    EVP_CIPHER_CTX_free(ev_aes.c);
    x25519_table();
    return 0;
}
