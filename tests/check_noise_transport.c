/* SPDX-License-Identifier: ISC */
/* Noise core units of the check_noise program: the transport cipher states after a handshake
 * (failed decryption, nonce exhaustion and encoding, rekey, limits and misuse). */
#include <sodium.h>

#include "check_noise.h"
#include "channel/noise_crypto.h"
#include "vmsec/errors.h"

/* ---- transport ----------------------------------------------------------------------------- */

static const char *const transport_names[] = {"Noise_NN_25519_ChaChaPoly_SHA256", "Noise_NN_25519_AESGCM_SHA256"};

static bool transport_pair(struct pair *p, int i)
{
    int where;
    bool reader;
    if (!pair_new(p, transport_names[i], NULL, NULL))
        return false;
    ck_assert_int_eq(pair_run(p, no_tamper, &where, &reader, NULL), 0);
    return true;
}

START_TEST(decrypt_failure_keeps_nonce_and_wipes_output)
{
    struct pair p;
    uint8_t ct[64], bad[64], out[64];
    if (!transport_pair(&p, _i))
        return;
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, (const uint8_t *)"secret message", 14, ct), 0);
    memcpy(bad, ct, 30);
    bad[3] ^= 0x20;
    memset(out, 0xaa, sizeof(out));
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, bad, 30, out), VMSEC_EAUTH);
    ck_assert_uint_eq(p.r_recv.n, 0);
    ck_assert(sodium_is_zero(out, 14));
    /* In place: the buffer is wiped too. */
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, bad, 30, bad), VMSEC_EAUTH);
    ck_assert(sodium_is_zero(bad, 14));
    /* Wrong associated data fails the same way. */
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, (const uint8_t *)"x", 1, ct, 30, out), VMSEC_EAUTH);
    ck_assert_uint_eq(p.r_recv.n, 0);
    /* The genuine message still decrypts: nothing moved. */
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, ct, 30, out), 0);
    ck_assert_mem_eq(out, "secret message", 14);
    ck_assert_uint_eq(p.r_recv.n, 1);
    /* A replay is now out of sequence. */
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, ct, 30, out), VMSEC_EAUTH);
    ck_assert_uint_eq(p.r_recv.n, 1);
    pair_free(&p);
}
END_TEST

START_TEST(nonce_exhaustion)
{
    struct pair p;
    uint8_t ct[64], out[64];
    if (!transport_pair(&p, _i))
        return;
    p.i_send.n = p.r_recv.n = UINT64_MAX - 1;
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, (const uint8_t *)"last", 4, ct), 0);
    ck_assert_uint_eq(p.i_send.n, UINT64_MAX);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, ct, 20, out), 0);
    ck_assert_mem_eq(out, "last", 4);
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, (const uint8_t *)"more", 4, ct), VMSEC_ESTATE);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "nonce"));
    ck_assert_uint_eq(p.i_send.n, UINT64_MAX);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, ct, 20, out), VMSEC_ESTATE);
    /* Rekey does not reset the nonce. */
    ck_assert_int_eq(noise_cipher_rekey(&p.i_send), 0);
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, (const uint8_t *)"more", 4, ct), VMSEC_ESTATE);
    pair_free(&p);
}
END_TEST

/* A transport pair whose cipher libsodium can also run directly, as the reference of the tests below
 * (a libcrypto-backend build runs AESGCM where libsodium cannot: no AES-NI). */
static bool reference_pair(struct pair *p, int i)
{
    if (!transport_pair(p, i))
        return false;
    if (p->i_send.cipher == NOISE_CIPHER_AESGCM && !crypto_aead_aes256gcm_is_available()) {
        ck_assert_msg(!require_all(), "no libsodium AES-GCM for the reference (VMSEC_REQUIRE_ALL=1)");
        pair_free(p);
        return false;
    }
    return true;
}

/* Rekey sets k = ENCRYPT(k, 2^64-1, empty, 32 zero bytes)[0:32], keeps n, and both sides stay in step. */
START_TEST(rekey_follows_the_spec)
{
    struct pair p;
    uint8_t zeros[32] = {0}, want[48], nonce[12], ct1[64], ct2[64], out[64];
    unsigned long long clen;
    if (!reference_pair(&p, _i))
        return;
    memset(nonce, 0xff, sizeof(nonce));
    memset(nonce, 0, 4); /* 2^64-1 encodes the same in either byte order */
    if (p.i_send.cipher == NOISE_CIPHER_AESGCM)
        crypto_aead_aes256gcm_encrypt(want, &clen, zeros, 32, NULL, 0, NULL, nonce, p.i_send.k);
    else
        crypto_aead_chacha20poly1305_ietf_encrypt(want, &clen, zeros, 32, NULL, 0, NULL, nonce, p.i_send.k);
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, (const uint8_t *)"abc", 3, ct1), 0);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, ct1, 19, out), 0);
    p.i_send.n = p.r_recv.n = 0;
    ck_assert_int_eq(noise_cipher_rekey(&p.i_send), 0);
    ck_assert_mem_eq(p.i_send.k, want, 32);
    ck_assert_uint_eq(p.i_send.n, 0);
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, (const uint8_t *)"abc", 3, ct2), 0);
    ck_assert_mem_ne(ct1, ct2, 19); /* same n, new key */
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, ct2, 19, out), VMSEC_EAUTH);
    ck_assert_int_eq(noise_cipher_rekey(&p.r_recv), 0);
    ck_assert_mem_eq(p.r_recv.k, p.i_send.k, 32);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, ct2, 19, out), 0);
    ck_assert_mem_eq(out, "abc", 3);
    pair_free(&p);
}
END_TEST

/* n goes into the nonce little-endian for ChaChaPoly and big-endian for AESGCM, after 4 zero bytes. */
START_TEST(nonce_encoding)
{
    struct pair p;
    uint8_t nonce[12] = {0}, want[32], got[32];
    unsigned long long clen;
    const uint64_t n = 0x0102030405060708ULL;
    int i;
    if (!reference_pair(&p, _i))
        return;
    for (i = 0; i < 8; i++)
        nonce[p.i_send.cipher == NOISE_CIPHER_AESGCM ? 11 - i : 4 + i] = (uint8_t)(n >> (8 * i));
    if (p.i_send.cipher == NOISE_CIPHER_AESGCM)
        crypto_aead_aes256gcm_encrypt(want, &clen, (const uint8_t *)"data", 4, (const uint8_t *)"ad", 2, NULL,
                                      nonce, p.i_send.k);
    else
        crypto_aead_chacha20poly1305_ietf_encrypt(want, &clen, (const uint8_t *)"data", 4, (const uint8_t *)"ad", 2,
                                                  NULL, nonce, p.i_send.k);
    p.i_send.n = n;
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, (const uint8_t *)"ad", 2, (const uint8_t *)"data", 4, got), 0);
    ck_assert_mem_eq(got, want, 20);
    pair_free(&p);
}
END_TEST

START_TEST(transport_limits_and_misuse)
{
    static uint8_t big[NOISE_MAX_MSG + 16];
    struct pair p;
    uint8_t ct[64], out[64];
    noise_cipherstate empty;
    if (!transport_pair(&p, _i))
        return;
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, big, NOISE_MAX_MSG - NOISE_TAGLEN + 1, big),
                     VMSEC_EPROTO);
    ck_assert_uint_eq(p.i_send.n, 0);
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, big, NOISE_MAX_MSG - NOISE_TAGLEN, big), 0);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, big, NOISE_MAX_MSG + 1, big), VMSEC_EPROTO);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, big, NOISE_TAGLEN - 1, big), VMSEC_EPROTO);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, big, NOISE_MAX_MSG, big), 0);
    ck_assert_uint_eq(p.r_recv.n, 1);
    /* An empty message is just a tag. */
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, NULL, 0, ct), 0);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, ct, NOISE_TAGLEN, NULL), 0);
    /* Shifted overlap is refused; exact in-place is fine (vectors cover it). */
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, big, 10, big + 1), VMSEC_EINVAL);
    ck_assert_int_eq(noise_cipher_decrypt(&p.r_recv, NULL, 0, big, 30, big + 2), VMSEC_EINVAL);
    ck_assert_uint_eq(p.i_send.n, 2);
    /* A wiped or never-keyed state refuses to work. */
    memset(&empty, 0, sizeof(empty));
    empty.cipher = p.i_send.cipher;
    ck_assert_int_eq(noise_cipher_encrypt(&empty, NULL, 0, ct, 4, out), VMSEC_ESTATE);
    ck_assert_int_eq(noise_cipher_rekey(&empty), VMSEC_ESTATE);
    noise_cipher_wipe(&p.i_send);
    ck_assert(!p.i_send.has_key && sodium_is_zero(p.i_send.k, 32));
    ck_assert_int_eq(noise_cipher_encrypt(&p.i_send, NULL, 0, ct, 4, out), VMSEC_EINVAL);
    pair_free(&p);
}
END_TEST

TCase *noise_transport_tcase(void)
{
    TCase *tr = tcase_create("transport");
    tcase_add_checked_fixture(tr, keys_setup, NULL);
    tcase_add_loop_test(tr, decrypt_failure_keeps_nonce_and_wipes_output, 0, ARRAY_LEN(transport_names));
    tcase_add_loop_test(tr, nonce_exhaustion, 0, ARRAY_LEN(transport_names));
    tcase_add_loop_test(tr, rekey_follows_the_spec, 0, ARRAY_LEN(transport_names));
    tcase_add_loop_test(tr, nonce_encoding, 0, ARRAY_LEN(transport_names));
    tcase_add_loop_test(tr, transport_limits_and_misuse, 0, ARRAY_LEN(transport_names));
    return tr;
}
