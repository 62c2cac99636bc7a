/* SPDX-License-Identifier: ISC */
/* Noise core units: every failure path of the handshake state (tampering, lengths, turns, buffers,
 * keys, psk modifiers); check_noise_dhcache.c the static-static DH cache, check_noise_kdf.c HMAC/HKDF
 * and protocol names, check_noise_transport.c the transport states (nonces, rekey). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "channel/noise.h"
#include "channel/noise_crypto.h"
#include "check_noise.h"
#include "vmsec/errors.h"

/* ---- handshakes ---------------------------------------------------------------------------- */

static void assert_failed_for_good(noise_handshake *hs)
{
    uint8_t buf[256], h[64];
    size_t len;
    noise_cipherstate a, b;
    ck_assert(!noise_handshake_my_turn(hs));
    ck_assert(!noise_handshake_complete(hs));
    ck_assert_int_eq(noise_handshake_write(hs, NULL, 0, buf, sizeof(buf), &len), VMSEC_ESTATE);
    ck_assert_int_eq(noise_handshake_read(hs, buf, 48, buf + 64, 64, &len), VMSEC_ESTATE);
    ck_assert_int_eq(noise_handshake_split(hs, &a, &b), VMSEC_ESTATE);
    ck_assert(!a.has_key && !b.has_key);
    ck_assert_uint_eq(noise_handshake_hash(hs, h, sizeof(h)), 0);
    ck_assert_ptr_null(noise_handshake_remote_static(hs));
}

/* Patterns whose every message carries a tag once a key exists, with all ciphers and hashes. */
static const char *const tamper_names[] = {
    "Noise_XX_25519_ChaChaPoly_SHA256", "Noise_IK_25519_AESGCM_BLAKE2b", "Noise_NK_25519_ChaChaPoly_SHA512",
    "Noise_NNpsk0+psk2_25519_AESGCM_SHA256", "Noise_KK_25519_ChaChaPoly_BLAKE2b", "Noise_X_25519_AESGCM_SHA512",
    "Noise_NN_25519_ChaChaPoly_SHA256", "Noise_X1X1_25519_ChaChaPoly_SHA256",
};

/* The side that failed at message `where`, from whether the reader or the writer failed. */
static noise_handshake *failed_side(struct pair *p, int where, bool reader)
{
    bool init_wrote = where % 2 == 0;
    return init_wrote == reader ? p->resp : p->init;
}

/* Flipping any bit of any handshake message makes the handshake fail with VMSEC_EAUTH: at that
 * message when it carries a tag, else at the next one (the peer's h then differs), and the side
 * that failed stays failed. */
START_TEST(tampering_any_byte_fails_auth)
{
    const char *name = tamper_names[_i];
    size_t sizes[8], nmsgs = 0, m, b;
    struct pair p;
    int where, rc;
    bool reader;

    if (!pair_new(&p, name, psk_a, psk_a))
        return;
    ck_assert_int_eq(pair_run(&p, no_tamper, &where, &reader, sizes), 0);
    nmsgs = (size_t)where + 1;
    assert_transport_works(&p, strlen(p.proto.pattern) == 1);
    pair_free(&p);

    for (m = 0; m < nmsgs; m++)
        for (b = 0; b < sizes[m]; b++) {
            struct tamper t = {(int)m, b, (uint8_t)(1u << (b % 8)), 0};
            pair_new(&p, name, psk_a, psk_a);
            rc = pair_run(&p, t, &where, &reader, NULL);
            ck_assert_msg(rc == VMSEC_EAUTH, "%s: flipping byte %zu of message %zu: rc %d", name, b, m, rc);
            ck_assert_msg(reader && ((size_t)where == m || (size_t)where == m + 1),
                          "%s: byte %zu of message %zu caught at message %d", name, b, m, where);
            assert_failed_for_good(failed_side(&p, where, reader));
            pair_free(&p);
        }
}
END_TEST

/* A message shorter than its tokens need, or longer than 65535 bytes, is VMSEC_EPROTO; one byte
 * short of a tagged message or one extra byte is VMSEC_EAUTH. Either way the reader has failed. */
START_TEST(bad_lengths_fail_the_handshake)
{
    struct pair p;
    int where;
    bool reader;
    uint8_t big[NOISE_MAX_MSG + 1] = {0}, out[64];
    size_t len;

    pair_new(&p, "Noise_XX_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(pair_run(&p, (struct tamper){0, 0, 0, 9 + 1}, &where, &reader, NULL), VMSEC_EPROTO);
    ck_assert(reader && where == 0);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "handshake message 1 is 31 bytes"));
    assert_failed_for_good(p.resp);
    pair_free(&p);

    pair_new(&p, "Noise_XX_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(pair_run(&p, (struct tamper){1, 0, 0, 1}, &where, &reader, NULL), VMSEC_EAUTH);
    assert_failed_for_good(p.init);
    pair_free(&p);

    pair_new(&p, "Noise_XX_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(pair_run(&p, (struct tamper){1, 0, 0, -1}, &where, &reader, NULL), VMSEC_EAUTH);
    pair_free(&p);

    pair_new(&p, "Noise_XX_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(noise_handshake_read(p.resp, big, sizeof(big), out, sizeof(out), &len), VMSEC_EPROTO);
    assert_failed_for_good(p.resp);
    ck_assert_int_eq(noise_handshake_read(p.resp, big, 0, out, sizeof(out), &len), VMSEC_ESTATE);
    pair_free(&p);

    pair_new(&p, "Noise_NN_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(noise_handshake_read(p.resp, big, 0, out, sizeof(out), &len), VMSEC_EPROTO);
    pair_free(&p);
}
END_TEST

/* A payload that would push a message past 65535 bytes fails the writer with VMSEC_EPROTO. */
START_TEST(oversized_payload_fails_the_writer)
{
    static uint8_t payload[NOISE_MAX_MSG], out[2 * NOISE_MAX_MSG];
    struct pair p;
    size_t len = 1;
    pair_new(&p, "Noise_NN_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(noise_handshake_write(p.init, payload, NOISE_MAX_MSG - 32 + 1, out, sizeof(out), &len),
                     VMSEC_EPROTO);
    ck_assert_uint_eq(len, 0);
    assert_failed_for_good(p.init);
    pair_free(&p);
    /* Exactly at the limit is fine. */
    pair_new(&p, "Noise_NN_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(noise_handshake_write(p.init, payload, NOISE_MAX_MSG - 32, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, NOISE_MAX_MSG);
    ck_assert_int_eq(noise_handshake_read(p.resp, out, len, payload, sizeof(payload), &len), 0);
    pair_free(&p);
}
END_TEST

START_TEST(wrong_turn_is_estate_and_harmless)
{
    struct pair p;
    uint8_t buf[256], pl[64];
    size_t len;
    int where;
    bool reader;
    noise_cipherstate a, b;

    pair_new(&p, "Noise_XX_25519_ChaChaPoly_BLAKE2b", NULL, NULL);
    ck_assert(noise_handshake_my_turn(p.init));
    ck_assert(!noise_handshake_my_turn(p.resp));
    ck_assert_int_eq(noise_handshake_write(p.resp, NULL, 0, buf, sizeof(buf), &len), VMSEC_ESTATE);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "message 1 is the initiator's to write"));
    ck_assert_int_eq(noise_handshake_read(p.init, buf, 32, pl, sizeof(pl), &len), VMSEC_ESTATE);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "message 1 is ours (the initiator's) to write"));
    ck_assert_int_eq(noise_handshake_split(p.init, &a, &b), VMSEC_ESTATE);
    ck_assert_int_eq(noise_handshake_split(p.resp, &a, &b), VMSEC_ESTATE);
    /* None of that hurt: the handshake completes and interoperates. */
    ck_assert_int_eq(pair_run(&p, no_tamper, &where, &reader, NULL), 0);
    assert_transport_works(&p, false);
    ck_assert_int_eq(noise_handshake_write(p.init, NULL, 0, buf, sizeof(buf), &len), VMSEC_ESTATE);
    ck_assert_int_eq(noise_handshake_read(p.resp, buf, 64, pl, sizeof(pl), &len), VMSEC_ESTATE);
    ck_assert_int_eq(noise_handshake_split(p.init, &a, &b), VMSEC_ESTATE); /* only once */
    ck_assert(noise_handshake_complete(p.init));
    pair_free(&p);
}
END_TEST

/* Too small an output buffer is VMSEC_EINVAL and changes nothing: the same call then succeeds and
 * the result matches a run that never failed. */
START_TEST(buffer_too_small_is_retryable)
{
    struct pair p, ref;
    uint8_t m1[256], m1_ref[256], m2[256], pl[64];
    size_t len = 0, len_ref, need, pl_len = 7;
    uint8_t h1[64], h2[64];
    int where;
    bool reader;

    pair_new(&p, "Noise_IK_25519_ChaChaPoly_SHA256", NULL, NULL);
    pair_new(&ref, "Noise_IK_25519_ChaChaPoly_SHA256", NULL, NULL);
    need = noise_handshake_write_size(p.init, 5);
    ck_assert_uint_eq(need, 32 + 48 + 5 + 16);
    ck_assert_int_eq(noise_handshake_write(p.init, (const uint8_t *)"hello", 5, m1, need - 1, &len), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "needs 101 bytes"));
    ck_assert_uint_eq(len, 0);
    ck_assert(noise_handshake_my_turn(p.init));
    ck_assert_int_eq(noise_handshake_write(p.init, (const uint8_t *)"hello", 5, m1, need, &len), 0);
    ck_assert_int_eq(noise_handshake_write(ref.init, (const uint8_t *)"hello", 5, m1_ref, sizeof(m1_ref), &len_ref), 0);
    ck_assert_uint_eq(len, len_ref);
    ck_assert_mem_eq(m1, m1_ref, len);

    ck_assert_int_eq(noise_handshake_read(p.resp, m1, len, pl, 4, &pl_len), VMSEC_EINVAL);
    ck_assert_uint_eq(pl_len, 0);
    ck_assert_int_eq(noise_handshake_read(p.resp, m1, len, pl, 5, &pl_len), 0);
    ck_assert_uint_eq(pl_len, 5);
    ck_assert_mem_eq(pl, "hello", 5);
    ck_assert_int_eq(noise_handshake_write(p.resp, NULL, 0, m2, sizeof(m2), &len), 0);
    ck_assert_int_eq(noise_handshake_read(p.init, m2, len, NULL, 0, &pl_len), 0);
    ck_assert_uint_eq(pl_len, 0);
    ck_assert_int_eq(noise_handshake_split(p.init, &p.i_send, &p.i_recv), 0);
    ck_assert_int_eq(noise_handshake_split(p.resp, &p.r_send, &p.r_recv), 0);
    assert_transport_works(&p, false);
    ck_assert_uint_eq(noise_handshake_hash(p.init, h1, sizeof(h1)), 32);
    ck_assert_uint_eq(noise_handshake_hash(p.resp, h2, sizeof(h2)), 32);
    ck_assert_mem_eq(h1, h2, 32);
    ck_assert_uint_eq(noise_handshake_hash(p.resp, h2, 31), 0);
    (void)where;
    (void)reader;
    pair_free(&p);
    pair_free(&ref);
}
END_TEST

START_TEST(overlapping_buffers_are_refused)
{
    struct pair p;
    uint8_t buf[512];
    size_t len, pl_len;
    pair_new(&p, "Noise_NN_25519_ChaChaPoly_SHA256", NULL, NULL);
    memcpy(buf, "payload", 7);
    ck_assert_int_eq(noise_handshake_write(p.init, buf, 7, buf + 4, 200, &len), VMSEC_EINVAL);
    ck_assert_int_eq(noise_handshake_write(p.init, buf, 7, buf + 100, 200, &len), 0);
    ck_assert_int_eq(noise_handshake_read(p.resp, buf + 100, len, buf + 110, 100, &pl_len), VMSEC_EINVAL);
    ck_assert_int_eq(noise_handshake_read(p.resp, buf + 100, len, buf, 100, &pl_len), 0);
    ck_assert_uint_eq(pl_len, 7);
    ck_assert_mem_eq(buf, "payload", 7);
    pair_free(&p);
}
END_TEST

/* A low-order peer key gives an all-zero DH: refused with VMSEC_EAUTH, reading or writing. */
START_TEST(low_order_keys_are_refused)
{
    struct pair p;
    uint8_t msg[128] = {0}, out[128], pl[64];
    size_t len;

    pair_new(&p, "Noise_NK_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(noise_handshake_read(p.resp, msg, 32 + 16, pl, sizeof(pl), &len), VMSEC_EAUTH);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "low-order"));
    assert_failed_for_good(p.resp);
    pair_free(&p);

    pair_new(&p, "Noise_NN_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_int_eq(noise_handshake_read(p.resp, msg, 32, pl, sizeof(pl), &len), 0); /* no DH yet */
    memset(out, 0x77, sizeof(out));
    ck_assert_int_eq(noise_handshake_write(p.resp, NULL, 0, out, sizeof(out), &len), VMSEC_EAUTH);
    ck_assert_uint_eq(len, 0);
    ck_assert(sodium_is_zero(out, 32 + 16)); /* nothing half-written escapes */
    assert_failed_for_good(p.resp);
    pair_free(&p);
}
END_TEST

START_TEST(remote_static_appears_with_its_message)
{
    struct pair p;
    uint8_t m[256], pl[64];
    size_t len, pl_len;

    pair_new(&p, "Noise_XX_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_ptr_null(noise_handshake_remote_static(p.init));
    ck_assert_int_eq(noise_handshake_write(p.init, NULL, 0, m, sizeof(m), &len), 0);
    ck_assert_int_eq(noise_handshake_read(p.resp, m, len, pl, sizeof(pl), &pl_len), 0);
    ck_assert_int_eq(noise_handshake_write(p.resp, NULL, 0, m, sizeof(m), &len), 0);
    ck_assert_ptr_null(noise_handshake_remote_static(p.init));
    ck_assert_int_eq(noise_handshake_read(p.init, m, len, pl, sizeof(pl), &pl_len), 0);
    ck_assert_mem_eq(noise_handshake_remote_static(p.init), p_resp, 32);
    ck_assert_ptr_null(noise_handshake_remote_static(p.resp));
    ck_assert_int_eq(noise_handshake_write(p.init, NULL, 0, m, sizeof(m), &len), 0);
    ck_assert_int_eq(noise_handshake_read(p.resp, m, len, pl, sizeof(pl), &pl_len), 0);
    ck_assert_mem_eq(noise_handshake_remote_static(p.resp), p_init, 32);
    ck_assert_int_eq(noise_handshake_split(p.resp, &p.r_send, &p.r_recv), 0);
    ck_assert_mem_eq(noise_handshake_remote_static(p.resp), p_init, 32); /* still there after Split */
    pair_free(&p);

    /* A pre-message key is known from the start. */
    pair_new(&p, "Noise_NK_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert_mem_eq(noise_handshake_remote_static(p.init), p_resp, 32);
    pair_free(&p);
}
END_TEST

START_TEST(keys_must_match_the_pattern)
{
    noise_protocol proto;
    noise_handshake *hs = (noise_handshake *)1;

    ck_assert_int_eq(noise_protocol_parse(&proto, "Noise_XX_25519_ChaChaPoly_SHA256"), 0);
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, NULL, NULL, NULL), VMSEC_EINVAL);
    ck_assert_ptr_null(hs);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "needs a local static key"));
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, s_init, p_resp, NULL), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not a pre-message"));
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, s_init, NULL, psk_a), VMSEC_EINVAL);
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 5, s_init, NULL, NULL), VMSEC_EINVAL);
    ck_assert_int_eq(noise_handshake_new(&hs, NULL, true, NULL, 0, s_init, NULL, NULL), VMSEC_EINVAL);

    ck_assert_int_eq(noise_protocol_parse(&proto, "Noise_NK_25519_ChaChaPoly_SHA256"), 0);
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, NULL, NULL, NULL), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "peer's static public key in advance"));
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, false, NULL, 0, NULL, NULL, NULL), VMSEC_EINVAL);

    ck_assert_int_eq(noise_protocol_parse(&proto, "Noise_XXpsk3_25519_ChaChaPoly_SHA256"), 0);
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, s_init, NULL, NULL), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "pre-shared key is required"));
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, s_init, NULL, psk_a), 0);
    ck_assert_int_eq(noise_handshake_set_psk(hs, 1, psk_b), VMSEC_EINVAL);
    ck_assert_int_eq(noise_handshake_set_psk(hs, 0, psk_b), 0);
    noise_handshake_free(hs);

    /* A protocol struct not filled by the parser, or edited since, is refused. */
    memset(&proto, 0, sizeof(proto));
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, s_init, NULL, NULL), VMSEC_EFORMAT);
    ck_assert_int_eq(noise_protocol_parse(&proto, "Noise_XX_25519_ChaChaPoly_SHA256"), 0);
    proto.hash = NOISE_HASH_SHA512;
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, s_init, NULL, NULL), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "disagree"));
    ck_assert_int_eq(noise_protocol_parse(&proto, "Noise_XX_25519_ChaChaPoly_SHA256"), 0);
    memset(proto.name, 'A', sizeof(proto.name));
    ck_assert_int_eq(noise_handshake_new(&hs, &proto, true, NULL, 0, s_init, NULL, NULL), VMSEC_EINVAL);
}
END_TEST

START_TEST(hooks_refuse_once_started)
{
    struct pair p;
    uint8_t m[256];
    size_t len;
    pair_new(&p, "Noise_NNpsk2_25519_ChaChaPoly_SHA256", psk_a, psk_a);
    ck_assert_int_eq(noise_handshake_set_ephemeral(p.init, e_resp), VMSEC_ESTATE); /* already set */
    ck_assert_int_eq(noise_handshake_write(p.init, NULL, 0, m, sizeof(m), &len), 0);
    ck_assert_int_eq(noise_handshake_set_psk(p.init, 0, psk_b), VMSEC_ESTATE);
    pair_free(&p);
}
END_TEST

/* Several psk modifiers, each with its own key, set through noise_handshake_set_psk. */
START_TEST(multiple_psks)
{
    static const char *const names[] = {"Noise_NNpsk0+psk2_25519_ChaChaPoly_BLAKE2b",
                                        "Noise_XXpsk0+psk1+psk2+psk3_25519_AESGCM_SHA512"};
    const char *name = names[_i];
    struct pair p;
    int where;
    bool reader;
    unsigned k, npsks = _i == 0 ? 2 : 4;

    if (!pair_new(&p, name, psk_a, psk_a))
        return;
    ck_assert_int_eq(noise_handshake_set_psk(p.init, npsks - 1, psk_b), 0);
    ck_assert_int_eq(noise_handshake_set_psk(p.resp, npsks - 1, psk_b), 0);
    ck_assert_int_eq(noise_handshake_set_psk(p.resp, npsks, psk_b), VMSEC_EINVAL);
    ck_assert_int_eq(pair_run(&p, no_tamper, &where, &reader, NULL), 0);
    assert_transport_works(&p, false);
    pair_free(&p);

    /* Any psk differing between the sides makes the handshake fail at the first message that
     * authenticates it. */
    for (k = 0; k < npsks; k++) {
        pair_new(&p, name, psk_a, psk_a);
        ck_assert_int_eq(noise_handshake_set_psk(p.resp, k, psk_b), 0);
        ck_assert_int_eq(pair_run(&p, no_tamper, &where, &reader, NULL), VMSEC_EAUTH);
        ck_assert(reader);
        pair_free(&p);
    }
}
END_TEST

START_TEST(prologue_mismatch_fails)
{
    noise_protocol proto;
    noise_handshake *a, *b;
    uint8_t m[128], pl[16];
    size_t len;
    ck_assert_int_eq(noise_protocol_parse(&proto, "Noise_NN_25519_ChaChaPoly_SHA256"), 0);
    ck_assert_int_eq(noise_handshake_new(&a, &proto, true, (const uint8_t *)"v1", 2, NULL, NULL, NULL), 0);
    ck_assert_int_eq(noise_handshake_new(&b, &proto, false, (const uint8_t *)"v2", 2, NULL, NULL, NULL), 0);
    ck_assert_int_eq(noise_handshake_write(a, NULL, 0, m, sizeof(m), &len), 0);
    ck_assert_int_eq(noise_handshake_read(b, m, len, pl, sizeof(pl), &len), 0);
    ck_assert_int_eq(noise_handshake_write(b, NULL, 0, m, sizeof(m), &len), 0);
    ck_assert_int_eq(noise_handshake_read(a, m, len, pl, sizeof(pl), &len), VMSEC_EAUTH);
    noise_handshake_free(a);
    noise_handshake_free(b);
}
END_TEST

/* Without the test hook, ephemerals are random: two runs differ, and still interoperate. */
START_TEST(random_ephemerals)
{
    noise_protocol proto;
    noise_handshake *a, *b, *c;
    uint8_t m1[64], m2[64], pl[16];
    size_t l1, l2;
    ck_assert_int_eq(noise_protocol_parse(&proto, "Noise_NN_25519_ChaChaPoly_SHA256"), 0);
    ck_assert_int_eq(noise_handshake_new(&a, &proto, true, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert_int_eq(noise_handshake_new(&b, &proto, true, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert_int_eq(noise_handshake_new(&c, &proto, false, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert_int_eq(noise_handshake_write(a, NULL, 0, m1, sizeof(m1), &l1), 0);
    ck_assert_int_eq(noise_handshake_write(b, NULL, 0, m2, sizeof(m2), &l2), 0);
    ck_assert_mem_ne(m1, m2, 32);
    ck_assert_int_eq(noise_handshake_read(c, m1, l1, pl, sizeof(pl), &l2), 0);
    ck_assert_int_eq(noise_handshake_write(c, NULL, 0, m2, sizeof(m2), &l2), 0);
    ck_assert_int_eq(noise_handshake_read(a, m2, l2, pl, sizeof(pl), &l1), 0);
    ck_assert(noise_handshake_complete(a) && noise_handshake_complete(c));
    noise_handshake_free(a);
    noise_handshake_free(b);
    noise_handshake_free(c);
}
END_TEST

/* Every base pattern (one-way, fundamental, deferred). */
static const char *const all_patterns[] = {
    "N", "K", "X", "NN", "NK", "NX", "XN", "XK", "XX", "KN", "KK", "KX", "IN", "IK", "IX",
    "NK1", "NX1", "X1N", "X1K", "XK1", "X1K1", "X1X", "XX1", "X1X1", "K1N", "K1K", "KK1", "K1K1",
    "K1X", "KX1", "K1X1", "I1N", "I1K", "IK1", "I1K1", "I1X", "IX1", "I1X1",
};

static void run_named(const char *pattern, const char *mods, const char *suite)
{
    char name[NOISE_MAX_NAME];
    struct pair p;
    int where;
    bool reader;
    snprintf(name, sizeof(name), "Noise_%s%s_25519_%s", pattern, mods, suite);
    pair_new(&p, name, psk_a, psk_a);
    ck_assert_msg(pair_run(&p, no_tamper, &where, &reader, NULL) == 0, "%s: %s", name, vmsec_error_last());
    assert_transport_works(&p, strlen(pattern) == 1);
    pair_free(&p);
}

/* psk modifiers work at every position of every pattern, alone and all together. */
START_TEST(psk_at_every_position)
{
    const char *pat = all_patterns[_i];
    char mods[64] = "", one[16];
    unsigned pos, nmsgs;
    noise_protocol proto;

    run_named(pat, "", "ChaChaPoly_BLAKE2b");
    for (nmsgs = 1; nmsgs < 8; nmsgs++) {
        char name[NOISE_MAX_NAME];
        snprintf(name, sizeof(name), "Noise_%spsk%u_25519_ChaChaPoly_SHA256", pat, nmsgs + 1);
        if (noise_protocol_parse(&proto, name) == VMSEC_EFORMAT)
            break;
    }
    ck_assert_msg(nmsgs >= 1 && nmsgs <= 4, "%s: %u messages", pat, nmsgs);
    for (pos = 0; pos <= nmsgs; pos++) {
        snprintf(one, sizeof(one), "psk%u", pos);
        run_named(pat, one, "ChaChaPoly_SHA256");
        if (strlen(mods) + strlen(one) + 2 < sizeof(mods)) {
            if (pos)
                strcat(mods, "+");
            strcat(mods, one);
        }
    }
    /* Names longer than 63 bytes cannot exist; use the shortest suite. */
    if (strlen(pat) + strlen(mods) + sizeof("Noise___25519_AESGCM_SHA256") <= NOISE_MAX_NAME)
        run_named(pat, mods, "AESGCM_SHA256");
}
END_TEST

/* Random bytes as the first message: too short is VMSEC_EPROTO, a tagged message VMSEC_EAUTH, an
 * untagged one is accepted (it is authenticated by the next message). Never anything else. */
START_TEST(random_first_messages)
{
    const char *pat = all_patterns[_i];
    uint8_t msg[200], pl[200];
    size_t len, pl_len, overhead;
    int k, rc;

    for (k = 0; k < 40; k++) {
        struct pair p;
        char name[NOISE_MAX_NAME];
        snprintf(name, sizeof(name), "Noise_%s_25519_ChaChaPoly_SHA256", pat);
        pair_new(&p, name, NULL, NULL);
        overhead = noise_handshake_write_size(p.init, 0);
        len = (size_t)k * 5;
        randombytes_buf(msg, len);
        rc = noise_handshake_read(p.resp, msg, len, pl, sizeof(pl), &pl_len);
        if (len < overhead)
            ck_assert_int_eq(rc, VMSEC_EPROTO);
        /* Untagged first messages are "e" (32 bytes) or "e, s" (64); any tag adds 16 and an encrypted
         * s another 16, so every tagged one is 48, 80 or 96 bytes. */
        else if (overhead % 32 != 0 || overhead > 64)
            ck_assert_msg(rc == VMSEC_EAUTH, "%s: %zu random bytes: rc %d", name, len, rc);
        else
            ck_assert_msg(rc == 0 && pl_len == len - overhead, "%s: %zu random bytes: rc %d", name, len, rc);
        if (rc < 0)
            assert_failed_for_good(p.resp);
        pair_free(&p);
    }
}
END_TEST

/* One-way patterns only send from initiator to responder: the other direction has no key. */
START_TEST(one_way_has_one_direction)
{
    struct pair p;
    uint8_t ct[64], out[64];
    int where;
    bool reader;
    pair_new(&p, "Noise_K_25519_ChaChaPoly_SHA256", NULL, NULL);
    ck_assert(!noise_handshake_my_turn(p.resp));
    ck_assert_int_eq(pair_run(&p, no_tamper, &where, &reader, NULL), 0);
    ck_assert_int_eq(where, 0);
    assert_transport_works(&p, true);
    ck_assert_int_eq(noise_cipher_encrypt(&p.r_send, NULL, 0, ct, 4, out), VMSEC_ESTATE);
    ck_assert_int_eq(noise_cipher_decrypt(&p.i_recv, NULL, 0, ct, 20, out), VMSEC_ESTATE);
    pair_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("noise");
    TCase *hs = tcase_create("handshake");

    suite_add_tcase(s, noise_kdf_tcase());
    suite_add_tcase(s, noise_names_tcase());

    tcase_add_checked_fixture(hs, keys_setup, NULL);
    tcase_set_timeout(hs, 60);
    tcase_add_loop_test(hs, tampering_any_byte_fails_auth, 0, ARRAY_LEN(tamper_names));
    tcase_add_test(hs, bad_lengths_fail_the_handshake);
    tcase_add_test(hs, oversized_payload_fails_the_writer);
    tcase_add_test(hs, wrong_turn_is_estate_and_harmless);
    tcase_add_test(hs, buffer_too_small_is_retryable);
    tcase_add_test(hs, overlapping_buffers_are_refused);
    tcase_add_test(hs, low_order_keys_are_refused);
    tcase_add_test(hs, remote_static_appears_with_its_message);
    tcase_add_test(hs, keys_must_match_the_pattern);
    noise_add_ss_cache_tests(hs);
    tcase_add_test(hs, hooks_refuse_once_started);
    tcase_add_loop_test(hs, multiple_psks, 0, 2);
    tcase_add_test(hs, prologue_mismatch_fails);
    tcase_add_test(hs, random_ephemerals);
    tcase_add_test(hs, one_way_has_one_direction);
    tcase_add_loop_test(hs, psk_at_every_position, 0, ARRAY_LEN(all_patterns));
    tcase_add_loop_test(hs, random_first_messages, 0, ARRAY_LEN(all_patterns));
    suite_add_tcase(s, hs);

    suite_add_tcase(s, noise_transport_tcase());

    return vt_run_suite(s);
}
