/* SPDX-License-Identifier: ISC */
/* check_engine cases on who the peer is: untrusted or wrong keys, no trust configured, the verify
 * callback, psk and prologue mismatches, a refused or tampered protocol announcement. */
#include "channel/channel_internal.h"
#include "channel/noise_crypto.h"
#include "check_engine.h"
#include "common/internal.h"

/* Handshake between two differently configured sides; returns the first error either side saw. */
static int handshake_cfgs(vmsec_channel_config *ci, vmsec_channel_config *cr, pair *p)
{
    memset(p, 0, sizeof(*p));
    ck_assert_int_eq(vmsec_engine_new(&p->i, ci, VMSEC_ROLE_INITIATOR), 0);
    ck_assert_int_eq(vmsec_engine_new(&p->r, cr, VMSEC_ROLE_RESPONDER), 0);
    pump(p);
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
    return p->rc_r ? p->rc_r : p->rc_i;
}

static void expect_refused(vmsec_channel_config *ci, vmsec_channel_config *cr, int code, const char *why)
{
    pair p;
    int rc = handshake_cfgs(ci, cr, &p);
    ck_assert_msg(rc == code, "%s: got %d (%s)", why, rc, vmsec_error_last());
    ck_assert(vmsec_engine_state(p.i) != VMSEC_STATE_OPEN || vmsec_engine_state(p.r) != VMSEC_STATE_OPEN);
    pair_free(&p);
}

START_TEST(untrusted_or_wrong_keys_are_refused)
{
    vmsec_channel_config *ci, *cr;
    /* XX: the responder trusts someone else */
    ci = make_cfg("Noise_XX_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_INITIATOR);
    ck_assert_int_eq(vmsec_channel_config_new(&cr), 0);
    vmsec_channel_config_set_keypair(cr, kp_r);
    vmsec_channel_config_add_trusted_peer(cr, pub_other, 32);
    expect_refused(ci, cr, VMSEC_EAUTH, "XX untrusted initiator");
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not trusted"));
    /* XX: the initiator trusts someone else */
    ck_assert_int_eq(vmsec_channel_config_new(&ci), 0);
    vmsec_channel_config_set_keypair(ci, kp_i);
    vmsec_channel_config_add_trusted_peer(ci, pub_other, 32);
    cr = make_cfg("Noise_XX_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_RESPONDER);
    expect_refused(ci, cr, VMSEC_EAUTH, "XX untrusted responder");
    /* IK: the initiator expects another responder key */
    ci = make_cfg("Noise_IK_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_INITIATOR);
    ck_assert_int_eq(vmsec_channel_config_set_peer_key(ci, pub_other, 32), 0);
    cr = make_cfg("Noise_IK_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_RESPONDER);
    expect_refused(ci, cr, VMSEC_EAUTH, "IK wrong responder key");
    /* KK: the responder expects another initiator */
    ci = make_cfg("Noise_KK_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_INITIATOR);
    cr = make_cfg("Noise_KK_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_RESPONDER);
    ck_assert_int_eq(vmsec_channel_config_set_peer_key(cr, pub_other, 32), 0);
    expect_refused(ci, cr, VMSEC_EAUTH, "KK wrong initiator key");
    /* NK: an anonymous initiator is refused unless any-peer was opted into */
    ci = make_cfg("Noise_NK_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_INITIATOR);
    cr = make_cfg("Noise_NK_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_RESPONDER);
    ck_assert_int_eq(vmsec_channel_config_set_allow_any_peer(cr, 0), 0);
    expect_refused(ci, cr, VMSEC_EAUTH, "NK anonymous initiator");
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "no static key"));
}
END_TEST

START_TEST(no_trust_configured_means_no_peer)
{
    vmsec_channel_config *ci = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_INITIATOR), *cr;
    ck_assert_int_eq(vmsec_channel_config_new(&cr), 0);
    vmsec_channel_config_set_keypair(cr, kp_r);
    expect_refused(ci, cr, VMSEC_EAUTH, "empty allowlist");
    ci = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_INITIATOR);
    ck_assert_int_eq(vmsec_channel_config_new(&cr), 0);
    vmsec_channel_config_set_keypair(cr, kp_r);
    vmsec_channel_config_set_allow_any_peer(cr, 1);
    {
        pair p;
        ck_assert_int_eq(handshake_cfgs(ci, cr, &p), 0);
        ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_OPEN);
        pair_free(&p);
    }
}
END_TEST

static int verify_calls;
static int verify_only_i(void *user, const uint8_t *key, size_t len)
{
    verify_calls++;
    ck_assert_uint_eq(len, 32);
    return memcmp(key, user, 32) == 0 ? 0 : -1;
}

START_TEST(verify_callback_decides)
{
    vmsec_channel_config *ci, *cr;
    pair p;
    ci = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_INITIATOR);
    ck_assert_int_eq(vmsec_channel_config_new(&cr), 0);
    vmsec_channel_config_set_keypair(cr, kp_r);
    vmsec_channel_config_set_verify(cr, verify_only_i, pub_i);
    verify_calls = 0;
    ck_assert_int_eq(handshake_cfgs(ci, cr, &p), 0);
    ck_assert_int_eq(verify_calls, 1);
    pair_free(&p);
    ci = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_INITIATOR);
    ck_assert_int_eq(vmsec_channel_config_new(&cr), 0);
    vmsec_channel_config_set_keypair(cr, kp_r);
    vmsec_channel_config_set_verify(cr, verify_only_i, pub_other);
    expect_refused(ci, cr, VMSEC_EAUTH, "verify callback refuses");
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "verify callback"));
}
END_TEST

/* A deny-list written for canonical keys: refuses exactly the key at user. */
static int deny_calls;
static int verify_deny(void *user, const uint8_t *key, size_t len)
{
    deny_calls++;
    return len == 32 && memcmp(key, user, 32) == 0 ? -1 : 0;
}

/* In pattern `pattern`, one side (the initiator if liar_i) holds its usual private key but sends
 * its static public key with bit 255 flipped. X25519 ignores that bit, so every DH result is
 * unchanged and the handshake would succeed; the other side, trusting peers through a deny-list
 * of canonical keys (or any peer), must refuse it before the callback sees the key. With flip
 * false, the control: the deny-list refuses the canonical key. */
static void run_liar(const char *pattern, bool liar_i, bool flip, bool allow_any)
{
    char name[80];
    vmsec_channel_config *liar, *judge;
    pair p;
    int rc;
    snprintf(name, sizeof(name), "Noise_%s_25519_ChaChaPoly_BLAKE2b", pattern);
    liar = make_cfg(name, liar_i ? VMSEC_ROLE_INITIATOR : VMSEC_ROLE_RESPONDER);
    if (flip)
        liar->pub[31] ^= 0x80;
    ck_assert_int_eq(vmsec_channel_config_new(&judge), 0);
    ck_assert_int_eq(vmsec_channel_config_set_protocol(judge, name), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keypair(judge, liar_i ? kp_r : kp_i), 0);
    if (allow_any)
        ck_assert_int_eq(vmsec_channel_config_set_allow_any_peer(judge, 1), 0);
    else
        ck_assert_int_eq(vmsec_channel_config_set_verify(judge, verify_deny, liar_i ? pub_i : pub_r), 0);
    deny_calls = 0;
    rc = liar_i ? handshake_cfgs(liar, judge, &p) : handshake_cfgs(judge, liar, &p);
    ck_assert_msg(rc == VMSEC_EAUTH, "%s, %s lies: got %d (%s)", name, liar_i ? "initiator" : "responder", rc,
                  vmsec_error_last());
    ck_assert_int_eq(vmsec_engine_state(liar_i ? p.r : p.i), VMSEC_STATE_FAILED);
    if (flip) {
        ck_assert_msg(strstr(vmsec_error_last(), "static key is not canonical") &&
                          strstr(vmsec_error_last(), "bit 255"),
                      "%s: %s", name, vmsec_error_last());
        ck_assert_int_eq(deny_calls, 0);
    } else {
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "verify callback"));
        ck_assert_int_eq(deny_calls, 1);
    }
    pair_free(&p);
}

START_TEST(noncanonical_peer_static_key_is_refused_before_verify)
{
    /* patterns in which the initiator, then the responder, transmits its static key */
    static const char *init_sends[] = {"XX", "IK", "XK", "IX", "X1K1"}, *resp_sends[] = {"XX", "IX", "KX", "NX", "XX1"};
    for (size_t i = 0; i < VMSEC_ARRAY_LEN(init_sends); i++) {
        run_liar(init_sends[i], true, false, false);
        run_liar(init_sends[i], true, true, false);
        run_liar(init_sends[i], true, true, true);
    }
    for (size_t i = 0; i < VMSEC_ARRAY_LEN(resp_sends); i++) {
        run_liar(resp_sends[i], false, false, false);
        run_liar(resp_sends[i], false, true, false);
        if (resp_sends[i][0] != 'N') /* an NX initiator has no key for the liar to check */
            run_liar(resp_sends[i], false, true, true);
    }
}
END_TEST

/* IK's initiator knows the responder's key in advance, so a flipped one can only come from its
 * configuration, whose setters refuse it; one placed there anyway is still refused. */
START_TEST(ik_initiator_refuses_a_noncanonical_configured_responder_key)
{
    const char *name = "Noise_IK_25519_ChaChaPoly_BLAKE2b";
    vmsec_channel_config *ci, *cr;
    uint8_t flipped[32];
    pair p;
    memcpy(flipped, pub_r, 32);
    flipped[31] ^= 0x80;
    ci = make_cfg(name, VMSEC_ROLE_INITIATOR);
    ck_assert_int_eq(vmsec_channel_config_set_peer_key(ci, flipped, 32), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_channel_config_add_trusted_peer(ci, flipped, 32), VMSEC_EFORMAT);
    memcpy(ci->peer_key, flipped, 32); /* past the setters */
    ci->has_peer_key = true;
    vmsec_channel_config_set_verify(ci, verify_deny, pub_r);
    cr = make_cfg(name, VMSEC_ROLE_RESPONDER);
    memcpy(cr->pub, flipped, 32); /* so that both sides hash the same pre-message */
    deny_calls = 0;
    ck_assert_int_eq(handshake_cfgs(ci, cr, &p), VMSEC_EAUTH);
    ck_assert_int_eq(vmsec_engine_state(p.i), VMSEC_STATE_FAILED);
    ck_assert_msg(strstr(vmsec_error_last(), "static key is not canonical"), "%s", vmsec_error_last());
    ck_assert_int_eq(deny_calls, 0);
    pair_free(&p);
}
END_TEST

START_TEST(psk_mismatch_is_refused)
{
    const char *protos[] = {"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b", "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b",
                            "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b"};
    for (size_t k = 0; k < VMSEC_ARRAY_LEN(protos); k++) {
        vmsec_channel_config *ci = make_cfg(protos[k], VMSEC_ROLE_INITIATOR), *cr = make_cfg(protos[k], VMSEC_ROLE_RESPONDER);
        ck_assert_int_eq(vmsec_channel_config_set_psk(cr, psk_b, 32), 0);
        expect_refused(ci, cr, VMSEC_EAUTH, protos[k]);
    }
}
END_TEST

START_TEST(prologue_mismatch_is_refused)
{
    vmsec_channel_config *ci = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_INITIATOR);
    vmsec_channel_config *cr = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_RESPONDER);
    ck_assert_int_eq(vmsec_channel_config_set_prologue(ci, (const uint8_t *)"app-v1", 6), 0);
    ck_assert_int_eq(vmsec_channel_config_set_prologue(cr, (const uint8_t *)"app-v2", 6), 0);
    expect_refused(ci, cr, VMSEC_EAUTH, "prologue");
}
END_TEST

START_TEST(announcement_refused_or_tampered)
{
    vmsec_channel_config *ci, *cr;
    pair p;
    const uint8_t *buf;
    uint8_t copy[512];
    size_t len, used;
    const char *a = "Noise_XX_25519_ChaChaPoly_SHA256", *b = "Noise_XX_25519_ChaChaPoly_SHA512";
    /* a responder that allows only b refuses a */
    ci = make_cfg(a, VMSEC_ROLE_INITIATOR);
    cr = make_cfg(b, VMSEC_ROLE_RESPONDER);
    expect_refused(ci, cr, VMSEC_EPROTO, "other protocol");
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "accepts only Noise_XX_25519_ChaChaPoly_SHA512"));
    /* rewriting the announcement to what the responder allows breaks the handshake: the announcement
     * is part of the prologue. Same hash on both sides, so only the prologue differs. */
    ci = make_cfg("Noise_XX_25519_ChaChaPoly_BLAKE2b", VMSEC_ROLE_INITIATOR);
    cr = make_cfg("Noise_XX_25519_AESGCM_BLAKE2b", VMSEC_ROLE_RESPONDER);
    if (!noise_aead_available(NOISE_CIPHER_AESGCM)) {
        vmsec_channel_config_set_protocol(cr, "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b");
        vmsec_channel_config_set_protocol(ci, "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b");
    }
    memset(&p, 0, sizeof(p));
    ck_assert_int_eq(vmsec_engine_new(&p.i, ci, VMSEC_ROLE_INITIATOR), 0);
    ck_assert_int_eq(vmsec_engine_new(&p.r, cr, VMSEC_ROLE_RESPONDER), 0);
    vmsec_engine_output(p.i, &buf, &len);
    memcpy(copy, buf, len);
    vmsec_engine_output_consume(p.i, len);
    if (noise_aead_available(NOISE_CIPHER_AESGCM)) {
        /* "ChaChaPoly" -> "AESGCM": shorter name, so rebuild the announcement */
        const char *n = "Noise_XX_25519_AESGCM_BLAKE2b";
        size_t old = copy[5], nl = strlen(n);
        uint8_t rest[512];
        memcpy(rest, copy + 6 + old, len - 6 - old);
        copy[5] = (uint8_t)nl;
        memcpy(copy + 6, n, nl);
        memcpy(copy + 6 + nl, rest, len - 6 - old);
        len = len - old + nl;
    } else {
        copy[6 + 8] ^= 0x20; /* "XXpsk3" -> "XXPsk3": refused as another protocol */
    }
    vmsec_engine_feed(p.r, copy, len, &used);
    pump(&p);
    vmsec_engine_input_eof(p.r);
    vmsec_engine_input_eof(p.i);
    ck_assert(vmsec_engine_state(p.i) == VMSEC_STATE_FAILED || vmsec_engine_state(p.r) == VMSEC_STATE_FAILED);
    ck_assert(vmsec_engine_state(p.i) != VMSEC_STATE_OPEN || vmsec_engine_state(p.r) != VMSEC_STATE_OPEN);
    pair_free(&p);
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
}
END_TEST

/* Version 2 never falls back to version 1; version 1 works only when both sides opted in, and its
 * announcement carries version byte 1 (a peer that rewrites the byte breaks the prologue). */
START_TEST(protocol_version_is_exact_and_opt_in)
{
    const char *proto = "Noise_XX_25519_ChaChaPoly_BLAKE2b";
    vmsec_channel_config *ci, *cr;
    const uint8_t *buf;
    size_t len;
    pair p;
    static const uint8_t msg[] = "hello";
    /* defaults: version 2 on the wire */
    ci = make_cfg(proto, VMSEC_ROLE_INITIATOR);
    memset(&p, 0, sizeof(p));
    ck_assert_int_eq(vmsec_engine_new(&p.i, ci, VMSEC_ROLE_INITIATOR), 0);
    vmsec_engine_output(p.i, &buf, &len);
    ck_assert_uint_ge(len, 6);
    ck_assert_uint_eq(buf[4], VMSEC_CHANNEL_PROTOCOL_VERSION);
    ck_assert_uint_eq(VMSEC_CHANNEL_PROTOCOL_VERSION, 2);
    pair_free(&p);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(ci, 0), VMSEC_EUNSUPPORTED);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(ci, 3), VMSEC_EUNSUPPORTED);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(NULL, 1), VMSEC_EINVAL);
    /* a version 1 initiator is refused by a default responder, naming the opt-in */
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(ci, 1), 0);
    cr = make_cfg(proto, VMSEC_ROLE_RESPONDER);
    expect_refused(ci, cr, VMSEC_EPROTO, "version 1 initiator, version 2 responder");
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "version 1 needs an explicit opt-in"));
    /* and a version 2 initiator by a version 1 responder */
    ci = make_cfg(proto, VMSEC_ROLE_INITIATOR);
    cr = make_cfg(proto, VMSEC_ROLE_RESPONDER);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(cr, 1), 0);
    expect_refused(ci, cr, VMSEC_EPROTO, "version 2 initiator, version 1 responder");
    /* both opted in: version 1 works */
    ci = make_cfg(proto, VMSEC_ROLE_INITIATOR);
    cr = make_cfg(proto, VMSEC_ROLE_RESPONDER);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(ci, 1), 0);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(cr, 1), 0);
    memset(&p, 0, sizeof(p));
    ck_assert_int_eq(vmsec_engine_new(&p.i, ci, VMSEC_ROLE_INITIATOR), 0);
    ck_assert_int_eq(vmsec_engine_new(&p.r, cr, VMSEC_ROLE_RESPONDER), 0);
    vmsec_engine_output(p.i, &buf, &len);
    ck_assert_uint_eq(buf[4], 1);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_state(p.i), VMSEC_STATE_OPEN);
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_OPEN);
    roundtrip(&p, true, msg, sizeof(msg));
    pair_free(&p);
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
}
END_TEST

void engine_add_peer_auth_tests(TCase *tc)
{
    tcase_add_test(tc, untrusted_or_wrong_keys_are_refused);
    tcase_add_test(tc, no_trust_configured_means_no_peer);
    tcase_add_test(tc, verify_callback_decides);
    tcase_add_test(tc, noncanonical_peer_static_key_is_refused_before_verify);
    tcase_add_test(tc, ik_initiator_refuses_a_noncanonical_configured_responder_key);
    tcase_add_test(tc, psk_mismatch_is_refused);
    tcase_add_test(tc, prologue_mismatch_is_refused);
    tcase_add_test(tc, announcement_refused_or_tampered);
    tcase_add_test(tc, protocol_version_is_exact_and_opt_in);
}
