/* Single-core AEAD rate: the reference limit for channel throughput.
 *
 * For each suite, encrypts one buffer in place over and over (ChaCha20-Poly1305 IETF and AES-256-GCM
 * through libsodium, which vmsec uses, and through OpenSSL's libcrypto EVP, a candidate backend) and
 * reports MB/s of plaintext. The nonce changes every call, as in a real channel. */
#include <openssl/evp.h>
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
    memcpy(nonce + 4, &n, 8);
    if (EVP_EncryptInit_ex(e->c, NULL, NULL, NULL, nonce) != 1 || EVP_EncryptUpdate(e->c, buf, &out, buf, (int)len) != 1 ||
        EVP_EncryptFinal_ex(e->c, buf + out, &out) != 1 ||
        EVP_CIPHER_CTX_ctrl(e->c, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
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

int main(void)
{
    static const size_t sizes[] = {64, 1024, 65536, 1048576};
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
    printf("| cipher     | implementation |      64 B |     1 KiB |    64 KiB |     1 MiB |\n");
    printf("|------------|----------------|----------:|----------:|----------:|----------:|\n");
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
    return 0;
}
