/* SPDX-License-Identifier: ISC */
/* The Noise primitives on libsodium: hashes, HMAC, HKDF, X25519 and the AEAD ciphers (the libcrypto
 * backend, noise_aead_evp.c, takes the transport records over 64 B when built in). */
#include "config.h"

#include <string.h>

#include "channel/noise_crypto.h"
#include "vmsec/errors.h"

#define MAX_BLOCKLEN 128

size_t noise_hash_len(noise_hash_id id)
{
    switch (id) {
    case NOISE_HASH_SHA256:
        return crypto_hash_sha256_BYTES;
    case NOISE_HASH_SHA512:
        return crypto_hash_sha512_BYTES;
    case NOISE_HASH_BLAKE2B:
        return crypto_generichash_BYTES_MAX;
    }
    return 0;
}

size_t noise_hash_blocklen(noise_hash_id id)
{
    switch (id) {
    case NOISE_HASH_SHA256:
        return 64;
    case NOISE_HASH_SHA512:
    case NOISE_HASH_BLAKE2B:
        return 128;
    }
    return 0;
}

void noise_hash_init(noise_hash_ctx *ctx, noise_hash_id id)
{
    ctx->id = id;
    switch (id) {
    case NOISE_HASH_SHA256:
        crypto_hash_sha256_init(&ctx->u.sha256);
        break;
    case NOISE_HASH_SHA512:
        crypto_hash_sha512_init(&ctx->u.sha512);
        break;
    case NOISE_HASH_BLAKE2B:
        crypto_generichash_init(&ctx->u.blake2b, NULL, 0, crypto_generichash_BYTES_MAX);
        break;
    }
}

void noise_hash_update(noise_hash_ctx *ctx, const uint8_t *data, size_t len)
{
    if (len == 0)
        return;
    switch (ctx->id) {
    case NOISE_HASH_SHA256:
        crypto_hash_sha256_update(&ctx->u.sha256, data, len);
        break;
    case NOISE_HASH_SHA512:
        crypto_hash_sha512_update(&ctx->u.sha512, data, len);
        break;
    case NOISE_HASH_BLAKE2B:
        crypto_generichash_update(&ctx->u.blake2b, data, len);
        break;
    }
}

void noise_hash_final(noise_hash_ctx *ctx, uint8_t *out)
{
    switch (ctx->id) {
    case NOISE_HASH_SHA256:
        crypto_hash_sha256_final(&ctx->u.sha256, out);
        break;
    case NOISE_HASH_SHA512:
        crypto_hash_sha512_final(&ctx->u.sha512, out);
        break;
    case NOISE_HASH_BLAKE2B:
        crypto_generichash_final(&ctx->u.blake2b, out, crypto_generichash_BYTES_MAX);
        break;
    }
    sodium_memzero(ctx, sizeof(*ctx));
}

void noise_hash2(noise_hash_id id, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                 uint8_t *out)
{
    noise_hash_ctx ctx;
    noise_hash_init(&ctx, id);
    noise_hash_update(&ctx, a, a_len);
    noise_hash_update(&ctx, b, b_len);
    noise_hash_final(&ctx, out);
}

void noise_hmac(noise_hash_id id, const uint8_t *key, size_t key_len, const uint8_t *a, size_t a_len,
                const uint8_t *b, size_t b_len, uint8_t *out)
{
    size_t blocklen = noise_hash_blocklen(id), hashlen = noise_hash_len(id);
    uint8_t pad[MAX_BLOCKLEN], inner[NOISE_MAX_HASHLEN];
    noise_hash_ctx ctx;
    size_t i;

    /* RFC 2104: a key longer than a block is hashed first; the key is then zero-padded to a block. */
    memset(pad, 0, sizeof(pad));
    if (key_len > blocklen)
        noise_hash2(id, key, key_len, NULL, 0, pad);
    else
        memcpy(pad, key, key_len);

    for (i = 0; i < blocklen; i++)
        pad[i] ^= 0x36;
    noise_hash_init(&ctx, id);
    noise_hash_update(&ctx, pad, blocklen);
    noise_hash_update(&ctx, a, a_len);
    noise_hash_update(&ctx, b, b_len);
    noise_hash_final(&ctx, inner);

    for (i = 0; i < blocklen; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    noise_hash_init(&ctx, id);
    noise_hash_update(&ctx, pad, blocklen);
    noise_hash_update(&ctx, inner, hashlen);
    noise_hash_final(&ctx, out);

    sodium_memzero(pad, sizeof(pad));
    sodium_memzero(inner, sizeof(inner));
}

void noise_hkdf(noise_hash_id id, const uint8_t *ck, const uint8_t *ikm, size_t ikm_len, unsigned num_outputs,
                uint8_t *out1, uint8_t *out2, uint8_t *out3)
{
    size_t hashlen = noise_hash_len(id);
    uint8_t temp_key[NOISE_MAX_HASHLEN], o1[NOISE_MAX_HASHLEN], o2[NOISE_MAX_HASHLEN];
    const uint8_t one = 0x01, two = 0x02, three = 0x03;

    noise_hmac(id, ck, hashlen, ikm, ikm_len, NULL, 0, temp_key);
    noise_hmac(id, temp_key, hashlen, &one, 1, NULL, 0, o1);
    noise_hmac(id, temp_key, hashlen, o1, hashlen, &two, 1, o2);
    if (num_outputs == 3)
        noise_hmac(id, temp_key, hashlen, o2, hashlen, &three, 1, out3);
    memcpy(out1, o1, hashlen);
    memcpy(out2, o2, hashlen);
    sodium_memzero(temp_key, sizeof(temp_key));
    sodium_memzero(o1, sizeof(o1));
    sodium_memzero(o2, sizeof(o2));
}

/* The 96-bit nonce: 32 zero bits, then n in the byte order each cipher's Noise definition uses. */
static void make_nonce(noise_cipher_id cipher, uint64_t n, uint8_t nonce[12])
{
    int i;
    memset(nonce, 0, 4);
    for (i = 0; i < 8; i++) {
        uint8_t byte = (uint8_t)(n >> (8 * i));
        if (cipher == NOISE_CIPHER_AESGCM)
            nonce[11 - i] = byte; /* big-endian */
        else
            nonce[4 + i] = byte; /* little-endian */
    }
}

/* libsodium never reads through these for empty inputs, but some of its paths reject NULL. */
static const uint8_t empty[1];

/* Names the backend in the shared object's read-only data too, so that a built library tells which
 * one it has (`strings libvmsec.so.1 | grep 'vmsec aead='`) without an exported symbol. */
#ifdef NOISE_AEAD_EVP
static const char build_ident[] = "vmsec aead=libcrypto";
#else
static const char build_ident[] = "vmsec aead=libsodium";
#endif

const char *noise_aead_backend(void)
{
    return build_ident + strlen("vmsec aead=");
}

bool noise_aead_available(noise_cipher_id cipher)
{
#ifdef NOISE_AEAD_EVP
    return noise_evp_available(cipher);
#else
    return cipher == NOISE_CIPHER_CHACHAPOLY || (cipher == NOISE_CIPHER_AESGCM && crypto_aead_aes256gcm_is_available());
#endif
}

#ifdef NOISE_AEAD_EVP
/* libsodium runs ChaChaPoly everywhere and AESGCM only with AES-NI and PCLMUL. */
static bool sodium_runs(noise_cipher_id cipher)
{
    return cipher == NOISE_CIPHER_CHACHAPOLY || crypto_aead_aes256gcm_is_available();
}

/* One message through a context keyed for it alone: for what libsodium cannot run here. */
static int evp_once(noise_cipher_id cipher, const uint8_t *k, const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *in, size_t len, uint8_t *out, bool seal)
{
    void *ctx;
    int rc;
    if (!(ctx = noise_evp_new(cipher, k, &rc))) {
        if (!seal && out && len > NOISE_TAGLEN)
            sodium_memzero(out, len - NOISE_TAGLEN);
        return -1;
    }
    rc = seal ? noise_evp_seal(ctx, nonce, ad, ad_len, in, len, out)
              : noise_evp_open(ctx, nonce, ad, ad_len, in, len, out); /* wipes out on failure */
    noise_evp_free(ctx);
    return rc == 0 ? 0 : -1;
}
#endif

/* The one-shot functions (handshake payloads, rekey, small transport records) run on libsodium
 * wherever it has the cipher, in both builds: a libcrypto context costs more to key than these
 * messages cost to seal. */
int noise_aead_encrypt(noise_cipher_id cipher, const uint8_t *k, uint64_t n, const uint8_t *ad, size_t ad_len,
                       const uint8_t *plain, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long clen;
    int rc;

    make_nonce(cipher, n, nonce);
#ifdef NOISE_AEAD_EVP
    if (!sodium_runs(cipher))
        return evp_once(cipher, k, nonce, ad, ad_len, plain, len, out, true);
#endif
    if (!ad)
        ad = empty;
    if (!plain)
        plain = empty;
    if (cipher == NOISE_CIPHER_AESGCM)
        rc = crypto_aead_aes256gcm_encrypt(out, &clen, plain, len, ad, ad_len, NULL, nonce, k);
    else
        rc = crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, plain, len, ad, ad_len, NULL, nonce, k);
    return rc == 0 && clen == len + NOISE_TAGLEN ? 0 : -1;
}

int noise_aead_decrypt(noise_cipher_id cipher, const uint8_t *k, uint64_t n, const uint8_t *ad, size_t ad_len,
                       const uint8_t *cipher_text, size_t len, uint8_t *out)
{
    uint8_t nonce[12], dummy[1];
    unsigned long long mlen = 0;
    int rc;

    if (len < NOISE_TAGLEN)
        return -1;
    make_nonce(cipher, n, nonce);
#ifdef NOISE_AEAD_EVP
    if (!sodium_runs(cipher))
        return evp_once(cipher, k, nonce, ad, ad_len, cipher_text, len, out, false);
#endif
    if (!ad)
        ad = empty;
    if (!out)
        out = dummy; /* only when len == NOISE_TAGLEN: nothing is written */
    if (cipher == NOISE_CIPHER_AESGCM)
        rc = crypto_aead_aes256gcm_decrypt(out, &mlen, NULL, cipher_text, len, ad, ad_len, nonce, k);
    else
        rc = crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, cipher_text, len, ad, ad_len, nonce,
                                                       k);
    if (rc != 0 || mlen != len - NOISE_TAGLEN) {
        /* Nothing of an unauthenticated message may escape, whatever the primitive left behind. */
        if (out != dummy && len > NOISE_TAGLEN)
            sodium_memzero(out, len - NOISE_TAGLEN);
        return -1;
    }
    return 0;
}

int noise_aead_encrypt_gcm(const crypto_aead_aes256gcm_state *st, uint64_t n, const uint8_t *ad, size_t ad_len,
                           const uint8_t *plain, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long clen;
    make_nonce(NOISE_CIPHER_AESGCM, n, nonce);
    if (crypto_aead_aes256gcm_encrypt_afternm(out, &clen, plain ? plain : empty, len, ad ? ad : empty, ad_len, NULL,
                                              nonce, st) != 0)
        return -1;
    return clen == len + NOISE_TAGLEN ? 0 : -1;
}

int noise_aead_decrypt_gcm(const crypto_aead_aes256gcm_state *st, uint64_t n, const uint8_t *ad, size_t ad_len,
                           const uint8_t *cipher_text, size_t len, uint8_t *out)
{
    uint8_t nonce[12], dummy[1];
    unsigned long long mlen = 0;
    if (len < NOISE_TAGLEN)
        return -1;
    make_nonce(NOISE_CIPHER_AESGCM, n, nonce);
    if (!out)
        out = dummy; /* only when len == NOISE_TAGLEN: nothing is written */
    if (crypto_aead_aes256gcm_decrypt_afternm(out, &mlen, NULL, cipher_text, len, ad ? ad : empty, ad_len, nonce,
                                              st) != 0 ||
        mlen != len - NOISE_TAGLEN) {
        if (out != dummy && len > NOISE_TAGLEN)
            sodium_memzero(out, len - NOISE_TAGLEN);
        return -1;
    }
    return 0;
}

#ifdef NOISE_AEAD_EVP
/* A record of up to this many plaintext bytes is sealed and opened by libsodium with the key itself:
 * bench/bench_aead measures libsodium at least as fast as libcrypto's keyed context up to 64 B and
 * faster for the smallest, and a channel that only ever carries such records (key confirmation,
 * keep-alives, close_notify) never pays the context's kilobyte of heap. The length is public, and
 * both libraries compute the same standard AEAD, so either side may use either. */
#define SODIUM_MAX_PLAIN 64

/* The cipherstate's keyed context for a record of len plaintext bytes, created on first use; NULL
 * with *rc = 0 when libsodium takes the record; NULL with *rc < 0 when there is no context. */
static void *cs_ctx(noise_cipherstate *cs, size_t len, int *rc)
{
    *rc = 0;
    if (len <= SODIUM_MAX_PLAIN && sodium_runs(cs->cipher))
        return NULL;
    if (!cs->aead_ctx)
        cs->aead_ctx = noise_evp_new(cs->cipher, cs->k, rc);
    return cs->aead_ctx;
}
#endif

/* libsodium with the cipherstate's key, or its precomputed AES-GCM state when it has one. */
static int sodium_cs_encrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *plain,
                             size_t len, uint8_t *out)
{
    if (cs->gcm && cs->cipher == NOISE_CIPHER_AESGCM)
        return noise_aead_encrypt_gcm(cs->gcm, cs->n, ad, ad_len, plain, len, out) < 0 ? VMSEC_ECRYPTO : 0;
    return noise_aead_encrypt(cs->cipher, cs->k, cs->n, ad, ad_len, plain, len, out) < 0 ? VMSEC_ECRYPTO : 0;
}

static int sodium_cs_decrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *cipher_text,
                             size_t len, uint8_t *out)
{
    if (cs->gcm && cs->cipher == NOISE_CIPHER_AESGCM)
        return noise_aead_decrypt_gcm(cs->gcm, cs->n, ad, ad_len, cipher_text, len, out) < 0 ? VMSEC_EAUTH : 0;
    return noise_aead_decrypt(cs->cipher, cs->k, cs->n, ad, ad_len, cipher_text, len, out) < 0 ? VMSEC_EAUTH : 0;
}

int noise_aead_cs_encrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *plain,
                          size_t len, uint8_t *out)
{
#ifdef NOISE_AEAD_EVP
    uint8_t nonce[12];
    void *ctx;
    int rc;
    if (!(ctx = cs_ctx(cs, len, &rc)))
        return rc < 0 ? rc : sodium_cs_encrypt(cs, ad, ad_len, plain, len, out);
    make_nonce(cs->cipher, cs->n, nonce);
    return noise_evp_seal(ctx, nonce, ad, ad_len, plain, len, out);
#else
    return sodium_cs_encrypt(cs, ad, ad_len, plain, len, out);
#endif
}

int noise_aead_cs_decrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *cipher_text,
                          size_t len, uint8_t *out)
{
#ifdef NOISE_AEAD_EVP
    uint8_t nonce[12];
    void *ctx;
    int rc;
    if (!(ctx = cs_ctx(cs, len - NOISE_TAGLEN, &rc))) {
        if (rc == 0)
            return sodium_cs_decrypt(cs, ad, ad_len, cipher_text, len, out);
        if (out && len > NOISE_TAGLEN)
            sodium_memzero(out, len - NOISE_TAGLEN);
        return rc;
    }
    make_nonce(cs->cipher, cs->n, nonce);
    return noise_evp_open(ctx, nonce, ad, ad_len, cipher_text, len, out);
#else
    return sodium_cs_decrypt(cs, ad, ad_len, cipher_text, len, out);
#endif
}

void noise_aead_cs_release(noise_cipherstate *cs)
{
#ifdef NOISE_AEAD_EVP
    noise_evp_free(cs->aead_ctx);
#endif
    cs->aead_ctx = NULL;
}
