/* SPDX-License-Identifier: ISC */
/* The transport AEAD of the Noise cipherstates, whichever backend the library was built with
 * (configure --with-aead), checked byte for byte against libsodium called directly with the Noise
 * nonces built here: in a libcrypto build this is the cross-check of the two implementations; in the
 * default build it checks the nonce encoding, the precomputed AES-GCM path, in-place use, rekey and
 * the fail-closed decryption. Messages of every awkward size up to the largest record, one
 * cipherstate for many messages (the libcrypto backend reuses one keyed context). */
#include "config.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "channel/guarded.h"
#include "channel/noise.h"
#include "channel/noise_crypto.h"
#include "testutil.h"
#include "vmsec/errors.h"

#define MAX_PLAIN (NOISE_MAX_MSG - NOISE_TAGLEN)

static const size_t sizes[] = {0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 1023, 1024, 4095, 16383,
                               16384, 65536 - 1024, MAX_PLAIN - 1, MAX_PLAIN};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NRANDOM 40

static bool require_all(void)
{
    const char *v = getenv("VMSEC_REQUIRE_ALL");
    return v && strcmp(v, "1") == 0;
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* The reference: libsodium with the nonce of the cipher's Noise definition, built independently. */
static void ref_nonce(noise_cipher_id c, uint64_t n, uint8_t nonce[12])
{
    memset(nonce, 0, 12);
    for (int i = 0; i < 8; i++)
        nonce[c == NOISE_CIPHER_AESGCM ? 11 - i : 4 + i] = (uint8_t)(n >> (8 * i));
}

static void ref_encrypt(noise_cipher_id c, const uint8_t *k, uint64_t n, const uint8_t *ad, size_t ad_len,
                        const uint8_t *m, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long clen = 0;
    ref_nonce(c, n, nonce);
    if (c == NOISE_CIPHER_AESGCM)
        ck_assert_int_eq(crypto_aead_aes256gcm_encrypt(out, &clen, m, len, ad, ad_len, NULL, nonce, k), 0);
    else
        ck_assert_int_eq(crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, m, len, ad, ad_len, NULL, nonce, k),
                         0);
    ck_assert_uint_eq(clen, len + NOISE_TAGLEN);
}

/* AESGCM needs libsodium's hardware AES-GCM for the reference (whatever the backend under test). */
static bool cipher_testable(noise_cipher_id c)
{
    ck_assert_int_ge(sodium_init(), 0);
    if (c == NOISE_CIPHER_AESGCM && !crypto_aead_aes256gcm_is_available()) {
        ck_assert_msg(!require_all(), "no hardware AES-GCM for the libsodium reference (VMSEC_REQUIRE_ALL=1)");
        return false;
    }
    return true;
}

/* A keyed cipherstate in guarded memory, as the engine keeps them; gcm: precompute AES-GCM. */
struct keyed {
    noise_cipherstate *cs;
    struct crypto_aead_aes256gcm_state_ *gcm;
};

static void keyed_new(struct keyed *s, noise_cipher_id c, const uint8_t *k, uint64_t n, bool precompute)
{
    ck_assert_ptr_nonnull(s->cs = vmsec__guarded_alloc(sizeof(*s->cs)));
    s->cs->cipher = c;
    memcpy(s->cs->k, k, NOISE_KEYLEN);
    s->cs->has_key = true;
    s->cs->n = n;
    s->gcm = NULL;
    if (precompute) {
        ck_assert_ptr_nonnull(s->gcm = vmsec__guarded_alloc(sizeof(crypto_aead_aes256gcm_state)));
        noise_cipher_precompute(s->cs, s->gcm);
    }
}

static void keyed_free(struct keyed *s)
{
    noise_cipher_wipe(s->cs);
    ck_assert(all_bytes((const uint8_t *)s->cs, sizeof(*s->cs), 0));
    vmsec__guarded_free(s->cs);
    vmsec__guarded_free(s->gcm);
}

/* Every size, fixed and random, through one sending and one receiving cipherstate: ciphertexts equal
 * libsodium's, in place and out of place; decryption gives the plaintext back; tampering with the
 * body, the tag or the AD fails closed (VMSEC_EAUTH, output wiped, nonce kept) and the state still
 * decrypts the genuine message afterwards. */
START_TEST(transport_matches_libsodium)
{
    noise_cipher_id c = (_i & 1) ? NOISE_CIPHER_AESGCM : NOISE_CIPHER_CHACHAPOLY;
    bool precompute = (_i & 2) != 0;
    uint8_t *m = malloc(MAX_PLAIN), *want = malloc(NOISE_MAX_MSG), *got = malloc(NOISE_MAX_MSG),
            *buf = malloc(NOISE_MAX_MSG), *pt = malloc(MAX_PLAIN);
    uint8_t k[NOISE_KEYLEN], ad[64];
    /* every byte of the nonce differs, so a wrong byte order shows */
    const uint64_t n0 = 0x0102030405060708ull;
    struct keyed tx, rx;

    if (!cipher_testable(c))
        return;
    randombytes_buf(k, sizeof(k));
    randombytes_buf(ad, sizeof(ad));
    randombytes_buf(m, MAX_PLAIN);
    keyed_new(&tx, c, k, n0, precompute);
    keyed_new(&rx, c, k, n0, precompute);
    for (size_t i = 0; i < NSIZES + NRANDOM; i++) {
        size_t len = i < NSIZES ? sizes[i] : randombytes_uniform(MAX_PLAIN + 1);
        size_t ad_len = (size_t[]){0, 1, 32, 64}[i % 4];
        const uint8_t *a = ad_len ? ad : NULL;
        uint64_t n = tx.cs->n;
        bool in_place = i % 2 == 1;

        ref_encrypt(c, k, n, a, ad_len, m, len, want);
        memcpy(buf, m, len);
        ck_assert_int_eq(noise_cipher_encrypt(tx.cs, a, ad_len, len ? (in_place ? buf : m) : NULL, len,
                                              in_place ? buf : got), 0);
        ck_assert_msg(memcmp(in_place ? buf : got, want, len + NOISE_TAGLEN) == 0,
                      "%s: %zu bytes (ad %zu, %s): ciphertext differs from libsodium's", noise_aead_backend(), len,
                      ad_len, in_place ? "in place" : "out of place");
        ck_assert_uint_eq(tx.cs->n, n + 1);

        /* tampering, at a few sizes: fails closed and leaves the state usable */
        if (i % 5 == 0) {
            for (int t = 0; t < 3; t++) {
                size_t flip = t == 0 && len ? randombytes_uniform((uint32_t)len) : len + (size_t)t;
                uint8_t ad2[64];
                memcpy(got, want, len + NOISE_TAGLEN);
                memcpy(ad2, ad, sizeof(ad2));
                if (t == 2)
                    ad2[0] ^= 0x01; /* the AD differs (or one is added where there was none) */
                else
                    got[flip] ^= 0x80;
                memset(pt, 0xa5, len);
                ck_assert_int_eq(noise_cipher_decrypt(rx.cs, t == 2 ? ad2 : a, t == 2 && !ad_len ? 1 : ad_len,
                                                      got, len + NOISE_TAGLEN, len ? pt : NULL),
                                 VMSEC_EAUTH);
                ck_assert_msg(all_bytes(pt, len, 0), "%zu bytes: output not wiped after a bad tag", len);
                ck_assert_uint_eq(rx.cs->n, n);
                /* in place: the buffer's plaintext part is wiped too */
                ck_assert_int_eq(noise_cipher_decrypt(rx.cs, t == 2 ? ad2 : a, t == 2 && !ad_len ? 1 : ad_len,
                                                      got, len + NOISE_TAGLEN, len ? got : NULL),
                                 VMSEC_EAUTH);
                ck_assert(all_bytes(got, len, 0));
            }
        }
        memcpy(got, want, len + NOISE_TAGLEN);
        ck_assert_int_eq(noise_cipher_decrypt(rx.cs, a, ad_len, got, len + NOISE_TAGLEN,
                                              len ? (in_place ? pt : got) : NULL), 0);
        ck_assert_msg(memcmp(in_place ? pt : got, m, len) == 0, "%zu bytes: decryption differs", len);
        ck_assert_uint_eq(rx.cs->n, n + 1);
    }
    keyed_free(&tx);
    keyed_free(&rx);
    free(m);
    free(want);
    free(got);
    free(buf);
    free(pt);
}
END_TEST

/* One cipherstate that alternately encrypts and decrypts (the context switches direction), up to the
 * last nonce: n = 2^64-1 is reserved, and the high nonce bytes go where the cipher's encoding says. */
START_TEST(one_state_both_directions)
{
    noise_cipher_id c = _i ? NOISE_CIPHER_AESGCM : NOISE_CIPHER_CHACHAPOLY;
    uint8_t k[NOISE_KEYLEN], m[300], want[300 + NOISE_TAGLEN], got[300 + NOISE_TAGLEN];
    struct keyed s;
    size_t len = 0;
    if (!cipher_testable(c))
        return;
    randombytes_buf(k, sizeof(k));
    randombytes_buf(m, sizeof(m));
    keyed_new(&s, c, k, UINT64_MAX - 13, false);
    while (s.cs->n < UINT64_MAX) {
        uint64_t n = s.cs->n;
        len = (len + 23) % sizeof(m);
        ref_encrypt(c, k, n, NULL, 0, m, len, want);
        if (n % 2) {
            ck_assert_int_eq(noise_cipher_encrypt(s.cs, NULL, 0, m, len, got), 0);
            ck_assert(memcmp(got, want, len + NOISE_TAGLEN) == 0);
        } else {
            ck_assert_int_eq(noise_cipher_decrypt(s.cs, NULL, 0, want, len + NOISE_TAGLEN, got), 0);
            ck_assert(memcmp(got, m, len) == 0);
        }
        ck_assert_uint_eq(s.cs->n, n + 1);
    }
    ck_assert_int_eq(noise_cipher_encrypt(s.cs, NULL, 0, m, 1, got), VMSEC_ESTATE);
    ck_assert_int_eq(noise_cipher_decrypt(s.cs, NULL, 0, want, 1 + NOISE_TAGLEN, got), VMSEC_ESTATE);
    keyed_free(&s);
}
END_TEST

/* Rekey() is k = ENCRYPT(k, 2^64-1, "", zeros)[0:32]; what follows uses the new key only, even where
 * the old one was expanded (precomputed AES-GCM, the libcrypto context). */
START_TEST(rekey_matches_spec)
{
    noise_cipher_id c = (_i & 1) ? NOISE_CIPHER_AESGCM : NOISE_CIPHER_CHACHAPOLY;
    bool precompute = (_i & 2) != 0;
    uint8_t k[NOISE_KEYLEN], zeros[NOISE_KEYLEN] = {0}, next[NOISE_KEYLEN + NOISE_TAGLEN];
    uint8_t m[100], want[100 + NOISE_TAGLEN], got[100 + NOISE_TAGLEN], pt[100];
    struct keyed tx, rx;
    if (!cipher_testable(c))
        return;
    randombytes_buf(k, sizeof(k));
    randombytes_buf(m, sizeof(m));
    keyed_new(&tx, c, k, 7, precompute);
    keyed_new(&rx, c, k, 7, precompute);
    for (int round = 0; round < 3; round++) {
        /* a message under the current key (keys the libcrypto context) */
        ref_encrypt(c, k, tx.cs->n, NULL, 0, m, sizeof(m), want);
        ck_assert_int_eq(noise_cipher_encrypt(tx.cs, NULL, 0, m, sizeof(m), got), 0);
        ck_assert(memcmp(got, want, sizeof(got)) == 0);
        ck_assert_int_eq(noise_cipher_decrypt(rx.cs, NULL, 0, got, sizeof(got), got), 0);
        ck_assert(memcmp(got, m, sizeof(m)) == 0);

        ref_encrypt(c, k, UINT64_MAX, NULL, 0, zeros, sizeof(zeros), next);
        memcpy(k, next, NOISE_KEYLEN);
        ck_assert_int_eq(noise_cipher_rekey(tx.cs), 0);
        ck_assert(memcmp(tx.cs->k, k, NOISE_KEYLEN) == 0);
        ck_assert_uint_eq(tx.cs->n, 8 + 2 * (uint64_t)round); /* rekey keeps n */

        ref_encrypt(c, k, tx.cs->n, NULL, 0, m, sizeof(m), want);
        ck_assert_int_eq(noise_cipher_encrypt(tx.cs, NULL, 0, m, sizeof(m), got), 0);
        ck_assert_msg(memcmp(got, want, sizeof(got)) == 0, "round %d: not encrypted under the new key", round);
        /* the receiver, not rekeyed yet, refuses it; rekeyed, accepts it */
        ck_assert_int_eq(noise_cipher_decrypt(rx.cs, NULL, 0, got, sizeof(got), pt), VMSEC_EAUTH);
        ck_assert_int_eq(noise_cipher_rekey(rx.cs), 0);
        ck_assert_int_eq(noise_cipher_decrypt(rx.cs, NULL, 0, got, sizeof(got), got), 0);
        ck_assert(memcmp(got, m, sizeof(m)) == 0);
    }
    keyed_free(&tx);
    keyed_free(&rx);
}
END_TEST

/* Records just below and above the size where a libcrypto build moves from libsodium to its keyed
 * context, interleaved on one stream: each opens in the other state whichever library sealed it,
 * matches libsodium byte for byte, and a forged one of either size fails closed. */
START_TEST(switch_sizes_interoperate)
{
    noise_cipher_id c = _i ? NOISE_CIPHER_AESGCM : NOISE_CIPHER_CHACHAPOLY;
    static const size_t lens[] = {64, 65, 0, 66, 63, 200, 1, 65, 64, 4096, 16, 64};
    uint8_t k[NOISE_KEYLEN], ad[32], m[4096], want[4096 + NOISE_TAGLEN], got[4096 + NOISE_TAGLEN], pt[4096];
    struct keyed tx, rx;
    if (!cipher_testable(c))
        return;
    randombytes_buf(k, sizeof(k));
    randombytes_buf(ad, sizeof(ad));
    randombytes_buf(m, sizeof(m));
    keyed_new(&tx, c, k, 0, false);
    keyed_new(&rx, c, k, 0, true);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i];
        ref_encrypt(c, k, tx.cs->n, ad, sizeof(ad), m, len, want);
        ck_assert_int_eq(noise_cipher_encrypt(tx.cs, ad, sizeof(ad), m, len, got), 0);
        ck_assert_msg(memcmp(got, want, len + NOISE_TAGLEN) == 0, "%zu bytes: differs from libsodium", len);
        if (i % 3 == 2) {
            got[len] ^= 0x80;
            ck_assert_int_eq(noise_cipher_decrypt(rx.cs, ad, sizeof(ad), got, len + NOISE_TAGLEN, pt), VMSEC_EAUTH);
            ck_assert(all_bytes(pt, len, 0));
            got[len] ^= 0x80;
        }
        ck_assert_int_eq(noise_cipher_decrypt(rx.cs, ad, sizeof(ad), got, len + NOISE_TAGLEN, pt), 0);
        ck_assert(memcmp(pt, m, len) == 0);
    }
    ck_assert_uint_eq(rx.cs->n, tx.cs->n);
    keyed_free(&tx);
    keyed_free(&rx);
}
END_TEST

/* The backend is the one configure chose, it can run what it claims, and only the libcrypto backend
 * keeps a per-cipherstate context, which a wipe frees (leaks show under valgrind and LSan). */
START_TEST(backend_as_configured)
{
    noise_protocol proto;
    uint8_t k[NOISE_KEYLEN] = {1}, ct[NOISE_TAGLEN + 4], big[65] = {0}, big_ct[sizeof(big) + NOISE_TAGLEN];
    struct keyed s;
#ifdef NOISE_AEAD_EVP
    ck_assert_str_eq(noise_aead_backend(), "libcrypto");
    ck_assert(noise_aead_available(NOISE_CIPHER_AESGCM)); /* portable fallback: no AES-NI needed */
#else
    ck_assert_str_eq(noise_aead_backend(), "libsodium");
    ck_assert_int_eq(noise_aead_available(NOISE_CIPHER_AESGCM), crypto_aead_aes256gcm_is_available() != 0);
#endif
    ck_assert(noise_aead_available(NOISE_CIPHER_CHACHAPOLY));
    ck_assert_int_eq(noise_protocol_parse(&proto, "Noise_XX_25519_AESGCM_SHA256"),
                     noise_aead_available(NOISE_CIPHER_AESGCM) ? 0 : VMSEC_EUNSUPPORTED);

    keyed_new(&s, NOISE_CIPHER_CHACHAPOLY, k, 0, false);
    ck_assert_ptr_null(s.cs->aead_ctx);
    ck_assert_int_eq(noise_cipher_encrypt(s.cs, NULL, 0, (const uint8_t *)"ping", 4, ct), 0);
    ck_assert_ptr_null(s.cs->aead_ctx); /* a small record: libsodium, no context in either build */
    ck_assert_int_eq(noise_cipher_encrypt(s.cs, NULL, 0, big, sizeof(big), big_ct), 0);
#ifdef NOISE_AEAD_EVP
    ck_assert_ptr_nonnull(s.cs->aead_ctx);
    ck_assert_int_eq(noise_cipher_rekey(s.cs), 0);
    ck_assert_ptr_null(s.cs->aead_ctx); /* dropped with the old key */
    ck_assert_int_eq(noise_cipher_encrypt(s.cs, NULL, 0, big, sizeof(big), big_ct), 0);
    ck_assert_ptr_nonnull(s.cs->aead_ctx);
#else
    ck_assert_ptr_null(s.cs->aead_ctx);
#endif
    keyed_free(&s); /* asserts the wipe left nothing, the context pointer included */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("aead");
    TCase *tc = tcase_create("transport");
    tcase_add_test(tc, backend_as_configured);
    /* 0: ChaChaPoly, 1: AESGCM, 2 and 3: the same with the AES-GCM state precomputed */
    tcase_add_loop_test(tc, transport_matches_libsodium, 0, 4);
    tcase_add_loop_test(tc, one_state_both_directions, 0, 2);
    tcase_add_loop_test(tc, rekey_matches_spec, 0, 4);
    tcase_add_loop_test(tc, switch_sizes_interoperate, 0, 2);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
