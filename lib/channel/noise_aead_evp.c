/* SPDX-License-Identifier: ISC */
/* The AEAD backend on OpenSSL libcrypto (configure --with-aead=libcrypto, the default where OpenSSL 3
 * is found): ChaChaPoly and AESGCM through EVP, with the nonces noise_crypto.c builds, for transport
 * records over 64 B (noise_crypto.c says why). Compiled to nothing otherwise.
 *
 * The key itself stays where the caller keeps it (guarded memory). An EVP context holds its key
 * schedule in OpenSSL's heap: EVP_CIPHER_CTX_free cleanses that (the providers free their contexts
 * with OPENSSL_clear_free), and noise_cipher_wipe / rekey call it. */
#include "config.h"

#include "channel/noise_crypto.h"

#ifdef NOISE_AEAD_EVP

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <string.h>

#include "vmsec/errors.h"

/* Fetched once: an implicit fetch per EVP_CipherInit_ex would search the provider store per key. */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *evp_chachapoly, *evp_aesgcm;

static void fetch(void)
{
    evp_chachapoly = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    evp_aesgcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_CIPHER *evp_cipher(noise_cipher_id cipher)
{
    pthread_once(&fetch_once, fetch);
    switch (cipher) {
    case NOISE_CIPHER_CHACHAPOLY:
        return evp_chachapoly;
    case NOISE_CIPHER_AESGCM:
        return evp_aesgcm;
    }
    return NULL;
}

bool noise_evp_available(noise_cipher_id cipher)
{
    return evp_cipher(cipher) != NULL;
}

void *noise_evp_new(noise_cipher_id cipher, const uint8_t *k, int *rc)
{
    const EVP_CIPHER *c = evp_cipher(cipher);
    EVP_CIPHER_CTX *ctx;
    *rc = VMSEC_ECRYPTO;
    if (!c)
        return NULL;
    if (!(ctx = EVP_CIPHER_CTX_new())) {
        *rc = VMSEC_ENOMEM;
        return NULL;
    }
    if (EVP_CipherInit_ex(ctx, c, NULL, k, NULL, 1) != 1 || EVP_CIPHER_CTX_get_iv_length(ctx) != 12 ||
        EVP_CIPHER_CTX_get_key_length(ctx) != NOISE_KEYLEN) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    *rc = 0;
    return ctx;
}

void noise_evp_free(void *ctx)
{
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
}

/* The tag through the provider's parameters directly: EVP_CIPHER_CTX_ctrl would translate to the
 * same call, at twice the cost of this whole function (it counts for small records). */
static bool tag_param(EVP_CIPHER_CTX *ctx, uint8_t tag[NOISE_TAGLEN], bool get)
{
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, NOISE_TAGLEN);
    params[1] = OSSL_PARAM_construct_end();
    if (get)
        return EVP_CIPHER_CTX_get_params(ctx, params) == 1; /* (ChaCha20-Poly1305 sets no return_size) */
    return EVP_CIPHER_CTX_set_params(ctx, params) == 1;
}

/* The associated data, in pieces EVP's int lengths can take. */
static bool feed_ad(EVP_CIPHER_CTX *ctx, const uint8_t *ad, size_t ad_len)
{
    while (ad_len) {
        int chunk = ad_len > INT_MAX / 2 ? INT_MAX / 2 : (int)ad_len, outl;
        if (EVP_CipherUpdate(ctx, NULL, &outl, ad, chunk) != 1)
            return false;
        ad += chunk;
        ad_len -= (size_t)chunk;
    }
    return true;
}

/* The payload: EVP writes exactly what it reads (stream cipher modes); out may equal in. */
static bool crypt_data(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out)
{
    int outl = 0;
    if (len > INT_MAX)
        return false;
    if (len && (EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1 || (size_t)outl != len))
        return false;
    return true;
}

int noise_evp_seal(void *c, const uint8_t nonce[12], const uint8_t *ad, size_t ad_len, const uint8_t *plain,
                   size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = c;
    uint8_t tail[16];
    int outl = 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 1) != 1 || !feed_ad(ctx, ad, ad_len) ||
        !crypt_data(ctx, plain, len, out) || EVP_CipherFinal_ex(ctx, tail, &outl) != 1 || outl != 0 ||
        !tag_param(ctx, out + len, true)) {
        sodium_memzero(out, len + NOISE_TAGLEN);
        return VMSEC_ECRYPTO;
    }
    return 0;
}

int noise_evp_open(void *c, const uint8_t nonce[12], const uint8_t *ad, size_t ad_len, const uint8_t *cipher_text,
                   size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = c;
    size_t mlen = len - NOISE_TAGLEN;
    uint8_t tag[NOISE_TAGLEN], tail[16];
    int outl = 0, rc = VMSEC_ECRYPTO;

    /* copied first: the parameter is non-const, and an in-place decryption must not reach it */
    memcpy(tag, cipher_text + mlen, NOISE_TAGLEN);
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 0) == 1 &&
        tag_param(ctx, tag, false) && feed_ad(ctx, ad, ad_len) &&
        crypt_data(ctx, cipher_text, mlen, out)) {
        /* the tag check: only now is what went to out authentic */
        if (EVP_CipherFinal_ex(ctx, tail, &outl) == 1 && outl == 0)
            return 0;
        rc = VMSEC_EAUTH;
    }
    /* EVP decrypts before it verifies: nothing of an unauthenticated message may stay behind */
    if (out && mlen)
        sodium_memzero(out, mlen);
    return rc;
}

#else
/* ISO C wants a translation unit to declare something. */
typedef int noise_aead_evp_unused;
#endif
