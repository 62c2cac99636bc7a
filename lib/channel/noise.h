/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: the Noise Protocol Framework (revision 34) core, sans I/O.
 *
 * This is the contract between the Noise implementation (lib/channel/noise.c) and the channel/record
 * layer (lib/channel*.c). Nothing here is exported from the shared library; unit tests reach it
 * through the libvmsec-core convenience library. */
#ifndef VMSEC_NOISE_H
#define VMSEC_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOISE_DHLEN 32
#define NOISE_KEYLEN 32
#define NOISE_PSKLEN 32
#define NOISE_TAGLEN 16
#define NOISE_MAX_MSG 65535
#define NOISE_MAX_HASHLEN 64
#define NOISE_MAX_NAME 64

typedef enum { NOISE_CIPHER_CHACHAPOLY = 1, NOISE_CIPHER_AESGCM = 2 } noise_cipher_id;
typedef enum { NOISE_HASH_SHA256 = 1, NOISE_HASH_SHA512 = 2, NOISE_HASH_BLAKE2B = 3 } noise_hash_id;

/* A parsed protocol name such as "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b". */
typedef struct noise_protocol {
    char name[NOISE_MAX_NAME];
    char pattern[16]; /* base pattern, e.g. "XX", "IK", "NK" */
    unsigned psk_mask; /* bit i set: psk modifier at position i (psk0 = bit 0, psk2 = bit 2...) */
    noise_cipher_id cipher;
    noise_hash_id hash;
} noise_protocol;

struct crypto_aead_aes256gcm_state_;

/* CipherState. n == UINT64_MAX is reserved: encrypt/decrypt fail with VMSEC_ESTATE (nonce exhaustion).
 * gcm: optional AES-GCM state precomputed from k (noise_cipher_precompute), kept in step by rekey;
 * NULL derives it per message (libsodium AEAD backend only).
 * aead_ctx: the libcrypto AEAD backend's keyed context (an EVP_CIPHER_CTX holding k's key schedule),
 * created by the first encrypt/decrypt of a record over 64 B, dropped by rekey and freed (cleansed)
 * by noise_cipher_wipe; always NULL with libsodium. A cipherstate that has one must not be copied by value, and must be
 * released with noise_cipher_wipe. */
typedef struct noise_cipherstate {
    uint8_t k[NOISE_KEYLEN];
    uint64_t n;
    bool has_key;
    noise_cipher_id cipher;
    struct crypto_aead_aes256gcm_state_ *gcm;
    void *aead_ctx;
} noise_cipherstate;

typedef struct noise_handshake noise_handshake;

/* Parses a protocol name; VMSEC_EUNSUPPORTED for unsupported patterns/DH/cipher/hash,
 * VMSEC_EFORMAT for malformed names, with vmsec_error_last() naming the part. A cipher the AEAD
 * backend cannot run here is refused with VMSEC_EUNSUPPORTED: with libsodium, AESGCM on a CPU without
 * hardware AES-GCM (see noise_aead_available). */
int noise_protocol_parse(noise_protocol *out, const char *name);

/* Creates a HandshakeState. s: local static X25519 secret (NULL if the pattern does not use it);
 * rs: responder/peer static public key known in advance (NULL if not pre-message); psk: 32 bytes or
 * NULL. Keys are copied into guarded memory. A missing key the pattern needs, or an rs / psk it
 * would not use, is VMSEC_EINVAL (an s it does not use is ignored). proto must come from
 * noise_protocol_parse unchanged. */
int noise_handshake_new(noise_handshake **out, const noise_protocol *proto, bool initiator,
                        const uint8_t *prologue, size_t prologue_len, const uint8_t *s, const uint8_t *rs,
                        const uint8_t *psk);
/* The same with the static public key of s given (s_pub, NOISE_DHLEN bytes; NULL derives it), for
 * callers that derived it once when the key was loaded: it saves a scalar multiplication per
 * handshake. s_pub must be the public key of s. */
int noise_handshake_new_pub(noise_handshake **out, const noise_protocol *proto, bool initiator,
                            const uint8_t *prologue, size_t prologue_len, const uint8_t *s, const uint8_t *s_pub,
                            const uint8_t *rs, const uint8_t *psk);
void noise_handshake_free(noise_handshake *hs);
/* Looks up and stores the "ss" DH result in cache (dhcache.h), which must outlive the handshake
 * state; NULL (the default) computes it every time. */
struct vmsec__dh_cache;
void noise_handshake_set_ss_cache(noise_handshake *hs, struct vmsec__dh_cache *cache);

/* Test-only hook (never exported): use this ephemeral secret instead of a random one. */
int noise_handshake_set_ephemeral(noise_handshake *hs, const uint8_t *e_secret);

/* Replaces the PSK of the index-th psk token (0-based, in handshake order; e.g. for NNpsk0+psk2
 * index 0 is psk0 and 1 is psk2) before the first message; noise_handshake_new's psk fills every
 * one. VMSEC_EINVAL for an index the pattern lacks, VMSEC_ESTATE once the handshake has started. */
int noise_handshake_set_psk(noise_handshake *hs, unsigned index, const uint8_t *psk);

/* Size of the next handshake message carrying payload_len payload bytes; 0 when it is not ours to
 * write. */
size_t noise_handshake_write_size(const noise_handshake *hs, size_t payload_len);

/* True when the next handshake message is ours to write. */
bool noise_handshake_my_turn(const noise_handshake *hs);
/* True after the last handshake message was written or read. */
bool noise_handshake_complete(const noise_handshake *hs);

/* WriteMessage / ReadMessage. out_cap / payload_cap bound the output; *out_len / *payload_len get the
 * size. Any failure (VMSEC_EAUTH on a bad MAC or key, VMSEC_EPROTO on wrong length) leaves the
 * handshake failed: every later call returns VMSEC_ESTATE.
 * Caller mistakes found before anything is processed change nothing and the call may be retried:
 * VMSEC_EINVAL for a NULL argument or an output buffer too small (see noise_handshake_write_size),
 * VMSEC_ESTATE for a call out of turn. The output must not overlap the input. On failure no byte of
 * an unauthenticated payload is left in the output buffer. */
int noise_handshake_write(noise_handshake *hs, const uint8_t *payload, size_t payload_len, uint8_t *out,
                          size_t out_cap, size_t *out_len);
int noise_handshake_read(noise_handshake *hs, const uint8_t *msg, size_t msg_len, uint8_t *payload,
                         size_t payload_cap, size_t *payload_len);

/* Peer static public key once known (after the message that carries it), else NULL. */
const uint8_t *noise_handshake_remote_static(const noise_handshake *hs);
/* Handshake hash h (available at any time; final after completion). Returns the bytes written
 * (HASHLEN), or 0 when cap < HASHLEN or the handshake failed. */
size_t noise_handshake_hash(const noise_handshake *hs, uint8_t *out, size_t cap);

/* Size of the secret noise_handshake_export() gives. */
#define NOISE_EXPORT_LEN 32
/* Before Split(): a secret of the completed handshake for a layer above (vmsec sessions), the
 * third output of HKDF(ck, empty), of which Split()'s keys are the first two. */
int noise_handshake_export(const noise_handshake *hs, uint8_t out[NOISE_EXPORT_LEN]);
/* Split(): after completion, the initiator's sending state is c1, the responder's is c2. send and recv
 * are overwritten, so they must not hold a keyed context (noise_cipher_wipe a used one first). */
int noise_handshake_split(noise_handshake *hs, noise_cipherstate *send, noise_cipherstate *recv);

/* Transport encryption: out must have room for len + NOISE_TAGLEN (encrypt) or len - NOISE_TAGLEN
 * (decrypt). decrypt returns VMSEC_EAUTH on a bad tag and does not advance n. out may equal plain /
 * cipher (in place); any other overlap is undefined. A message (tag included) over NOISE_MAX_MSG or
 * shorter than the tag: VMSEC_EPROTO. A failed decrypt wipes out; a failed call never advances n.
 * After Split in a one-way pattern the unused direction has no key (VMSEC_ESTATE). */
int noise_cipher_encrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *plain,
                         size_t len, uint8_t *out);
int noise_cipher_decrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *cipher,
                         size_t len, uint8_t *out);
/* Rekey(): k = ENCRYPT(k, maxnonce, zerolen, zeros)[0:32]. */
int noise_cipher_rekey(noise_cipherstate *cs);
void noise_cipher_wipe(noise_cipherstate *cs);
/* For an AESGCM cipherstate with a key: expands k into *st (guarded memory the caller owns and wipes)
 * once, instead of per message; later rekeys refresh it. No effect for other ciphers, nor with the
 * libcrypto AEAD backend (whose per-cipherstate context already holds the expanded key). */
void noise_cipher_precompute(noise_cipherstate *cs, struct crypto_aead_aes256gcm_state_ *st);

#endif
