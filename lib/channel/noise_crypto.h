/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: the Noise crypto functions (section 4 of the spec) on libsodium. HASH, HMAC
 * and HKDF exactly as the spec builds them, and the AEAD ciphers with their Noise nonce encodings.
 * Nothing here records an error message: callers know the context and do. */
#ifndef VMSEC_NOISE_CRYPTO_H
#define VMSEC_NOISE_CRYPTO_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel/noise.h"

/* Incremental HASH(). Lives on the stack only: libsodium's BLAKE2b state wants 64-byte alignment,
 * which the compiler guarantees there and malloc does not. Wipe it after use when keyed data went in. */
typedef struct noise_hash_ctx {
    noise_hash_id id;
    union {
        crypto_hash_sha256_state sha256;
        crypto_hash_sha512_state sha512;
        crypto_generichash_state blake2b;
    } u;
} noise_hash_ctx;

/* HASHLEN and BLOCKLEN of a hash function (0 for an unknown id). */
size_t noise_hash_len(noise_hash_id id);
size_t noise_hash_blocklen(noise_hash_id id);

void noise_hash_init(noise_hash_ctx *ctx, noise_hash_id id);
void noise_hash_update(noise_hash_ctx *ctx, const uint8_t *data, size_t len);
/* Writes HASHLEN bytes and wipes the context. */
void noise_hash_final(noise_hash_ctx *ctx, uint8_t *out);
/* HASH(a || b); either part may be empty. */
void noise_hash2(noise_hash_id id, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                 uint8_t *out);

/* HMAC-HASH(key, a || b) per RFC 2104 with the hash's BLOCKLEN (the spec's construction, also for
 * BLAKE2b: never its keyed mode). out gets HASHLEN bytes; out may alias key. */
void noise_hmac(noise_hash_id id, const uint8_t *key, size_t key_len, const uint8_t *a, size_t a_len,
                const uint8_t *b, size_t b_len, uint8_t *out);

/* HKDF(chaining_key, input_key_material, num_outputs) of the spec: out1, out2 and (when num_outputs
 * is 3) out3 each get HASHLEN bytes. ck is HASHLEN bytes; outputs may alias ck. */
void noise_hkdf(noise_hash_id id, const uint8_t *ck, const uint8_t *ikm, size_t ikm_len, unsigned num_outputs,
                uint8_t *out1, uint8_t *out2, uint8_t *out3);

/* ---- AEAD ------------------------------------------------------------------------------------
 * The ciphers run on libsodium, or, when built with VMSEC_AEAD_LIBCRYPTO (configure
 * --with-aead=libcrypto, the default where OpenSSL 3 is found), transport records over 64 B on
 * OpenSSL libcrypto: same nonces, same results, same failure behaviour. libsodium keeps the
 * one-shot messages (handshake payloads, rekey) and small records wherever it has the cipher. A
 * build of a subset of the library may opt out with VMSEC_AEAD_SODIUM_ONLY (the static guest test
 * agent, which carries libsodium only). */
#if defined(VMSEC_AEAD_LIBCRYPTO) && !defined(VMSEC_AEAD_SODIUM_ONLY)
#define NOISE_AEAD_EVP 1
#endif

/* "libsodium" or "libcrypto": the library these functions run the ciphers on. */
const char *noise_aead_backend(void);
/* True when the backend can run the cipher on this machine: libsodium's AES-GCM needs AES-NI and
 * PCLMUL, libcrypto's has a portable fallback. */
bool noise_aead_available(noise_cipher_id cipher);

/* ENCRYPT / DECRYPT with a cipherstate's key and nonce cs->n (n is not advanced; the caller checked
 * the key, the nonce and the lengths). Uses the precomputed AES-GCM state (cs->gcm) or, with
 * libcrypto and a record over 64 B, the cipherstate's keyed context (cs->aead_ctx), created by
 * the first such record. Same buffers as
 * noise_aead_encrypt / noise_aead_decrypt. Returns 0; VMSEC_EAUTH (decrypt: bad tag, out wiped);
 * VMSEC_ENOMEM (no memory for the context); VMSEC_ECRYPTO (the primitive failed, out wiped). */
int noise_aead_cs_encrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *plain,
                          size_t len, uint8_t *out);
int noise_aead_cs_decrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *cipher_text,
                          size_t len, uint8_t *out);
/* Frees (cleansing) what the backend derived from cs->k: after a rekey, and before a wipe. */
void noise_aead_cs_release(noise_cipherstate *cs);

/* ENCRYPT(k, n, ad, plaintext): writes len + NOISE_TAGLEN bytes to out (out may equal plain).
 * Returns 0, or -1 if the primitive failed (never expected). */
int noise_aead_encrypt(noise_cipher_id cipher, const uint8_t *k, uint64_t n, const uint8_t *ad, size_t ad_len,
                       const uint8_t *plain, size_t len, uint8_t *out);
/* The same with the AES-GCM key schedule precomputed (crypto_aead_aes256gcm_beforenm); libsodium only. */
int noise_aead_encrypt_gcm(const crypto_aead_aes256gcm_state *st, uint64_t n, const uint8_t *ad, size_t ad_len,
                           const uint8_t *plain, size_t len, uint8_t *out);
int noise_aead_decrypt_gcm(const crypto_aead_aes256gcm_state *st, uint64_t n, const uint8_t *ad, size_t ad_len,
                           const uint8_t *cipher_text, size_t len, uint8_t *out);
/* DECRYPT(k, n, ad, ciphertext): len >= NOISE_TAGLEN; writes len - NOISE_TAGLEN bytes to out (out may
 * equal cipher). Returns -1 on a bad tag, with out wiped. */
int noise_aead_decrypt(noise_cipher_id cipher, const uint8_t *k, uint64_t n, const uint8_t *ad, size_t ad_len,
                       const uint8_t *cipher_text, size_t len, uint8_t *out);

#ifdef NOISE_AEAD_EVP
/* The libcrypto backend (lib/channel/noise_aead_evp.c). ctx: an EVP_CIPHER_CTX keyed by noise_evp_new. */
bool noise_evp_available(noise_cipher_id cipher);
/* A context keyed with k (no nonce yet), or NULL: *rc gets VMSEC_ENOMEM or VMSEC_ECRYPTO. */
void *noise_evp_new(noise_cipher_id cipher, const uint8_t *k, int *rc);
void noise_evp_free(void *ctx);
/* One message; nonce is the 12-byte Noise nonce. Return codes as noise_aead_cs_encrypt/decrypt. */
int noise_evp_seal(void *ctx, const uint8_t nonce[12], const uint8_t *ad, size_t ad_len, const uint8_t *plain,
                   size_t len, uint8_t *out);
int noise_evp_open(void *ctx, const uint8_t nonce[12], const uint8_t *ad, size_t ad_len,
                   const uint8_t *cipher_text, size_t len, uint8_t *out);
#endif

#endif
