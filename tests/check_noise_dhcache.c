/* SPDX-License-Identifier: ISC */
/* check_noise handshake cases on the static-static DH cache: a cached result gives the same
 * handshake byte for byte, never vouches for a claimed key, and the cache is bounded and refcounted. */
#include <sodium.h>

#include "channel/dhcache.h"
#include "channel/noise_crypto.h"
#include "check_noise.h"
#include "vmsec/errors.h"

/* Runs a fixed-ephemeral handshake of name, with a static-static DH cache on each side (or none),
 * and returns the handshake hash. */
static size_t cached_run(const char *name, vmsec__dh_cache *ci, vmsec__dh_cache *cr, uint8_t *hash)
{
    struct pair p;
    int where;
    bool reader;
    size_t n;
    ck_assert(pair_new(&p, name, psk_a, psk_a));
    noise_handshake_set_ss_cache(p.init, ci);
    noise_handshake_set_ss_cache(p.resp, cr);
    ck_assert_msg(pair_run(&p, no_tamper, &where, &reader, NULL) == 0, "%s: %s", name, vmsec_error_last());
    assert_transport_works(&p, false);
    n = noise_handshake_hash(p.init, hash, 64);
    pair_free(&p);
    return n;
}

/* A cached "ss" result is the value DH would give: handshakes that hit the cache are byte for byte
 * the handshakes that computed it. Patterns without ss leave the cache alone. */
START_TEST(ss_cache_gives_the_same_handshake)
{
    static const char *names[] = {"Noise_IK_25519_ChaChaPoly_BLAKE2b", "Noise_KK_25519_AESGCM_SHA256",
                                  "Noise_IKpsk2_25519_ChaChaPoly_SHA512"};
    for (size_t k = 0; k < ARRAY_LEN(names); k++) {
        vmsec__dh_cache *ci = vmsec__dh_cache_new(), *cr = vmsec__dh_cache_new();
        uint8_t want[64], got[64];
        noise_protocol proto;
        size_t n;
        if (!parse_or_skip(&proto, names[k]))
            continue;
        n = cached_run(names[k], NULL, NULL, want);
        ck_assert_uint_eq(cached_run(names[k], ci, cr, got), n);
        ck_assert_mem_eq(got, want, n);
        ck_assert_uint_eq(vmsec__dh_cache_count(ci), 1);
        ck_assert_uint_eq(vmsec__dh_cache_count(cr), 1);
        ck_assert_uint_eq(cached_run(names[k], ci, cr, got), n); /* now from the cache */
        ck_assert_mem_eq(got, want, n);
        ck_assert_uint_eq(vmsec__dh_cache_count(ci), 1);
        vmsec__dh_cache_unref(ci);
        vmsec__dh_cache_unref(cr);
    }
    {
        vmsec__dh_cache *c = vmsec__dh_cache_new();
        uint8_t h[64];
        cached_run("Noise_XX_25519_ChaChaPoly_BLAKE2b", c, c, h);
        ck_assert_uint_eq(vmsec__dh_cache_count(c), 0);
        vmsec__dh_cache_unref(c);
    }
}
END_TEST

/* The cache is keyed by the peer's public key, but it never vouches for it: an initiator that
 * claims a known peer's key without its private key still fails, cache warm or not. */
START_TEST(ss_cache_does_not_vouch_for_a_claimed_key)
{
    static const uint8_t prologue[] = "vmsec test";
    vmsec__dh_cache *cr = vmsec__dh_cache_new();
    uint8_t h[64], s_x[32], msg[256], got[64];
    size_t len, got_len;
    noise_protocol proto;
    noise_handshake *init, *resp;
    cached_run("Noise_IK_25519_ChaChaPoly_BLAKE2b", NULL, cr, h); /* the real initiator, cached */
    ck_assert_uint_eq(vmsec__dh_cache_count(cr), 1);
    ck_assert(parse_or_skip(&proto, "Noise_IK_25519_ChaChaPoly_BLAKE2b"));
    randombytes_buf(s_x, sizeof(s_x));
    for (int warm = 0; warm < 2; warm++) {
        ck_assert_int_eq(noise_handshake_new_pub(&init, &proto, true, prologue, sizeof(prologue), s_x, p_init,
                                                 p_resp, NULL), 0);
        ck_assert_int_eq(noise_handshake_new(&resp, &proto, false, prologue, sizeof(prologue), s_resp, NULL, NULL), 0);
        noise_handshake_set_ss_cache(resp, warm ? cr : NULL);
        ck_assert_int_eq(noise_handshake_write(init, (const uint8_t *)"hi", 2, msg, sizeof(msg), &len), 0);
        ck_assert_int_eq(noise_handshake_read(resp, msg, len, got, sizeof(got), &got_len), VMSEC_EAUTH);
        noise_handshake_free(init);
        noise_handshake_free(resp);
    }
    vmsec__dh_cache_unref(cr);
}
END_TEST

/* Bounded: within a bucket (chosen by the key's first byte) the least recently used result makes
 * room; other buckets are untouched; references keep the cache alive. */
START_TEST(ss_cache_is_bounded_and_refcounted)
{
    vmsec__dh_cache *c = vmsec__dh_cache_new();
    uint8_t peer[32] = {0}, other[32] = {1}, shared[32], out[32];
    ck_assert(!vmsec__dh_cache_get(c, peer, out));
    memset(shared, 0x77, sizeof(shared));
    vmsec__dh_cache_put(c, other, shared);
    for (unsigned i = 0; i < DH_CACHE_BUCKET_SLOTS; i++) {
        peer[1] = (uint8_t)i; /* same bucket as peer[0] == 0 */
        memset(shared, (int)i, sizeof(shared));
        vmsec__dh_cache_put(c, peer, shared);
    }
    ck_assert_uint_eq(vmsec__dh_cache_count(c), DH_CACHE_BUCKET_SLOTS + 1);
    peer[1] = 0;
    ck_assert(vmsec__dh_cache_get(c, peer, out)); /* 0 is now the most recently used */
    ck_assert_uint_eq(out[31], 0);
    peer[1] = 0xee;
    memset(shared, 0xee, sizeof(shared));
    vmsec__dh_cache_put(c, peer, shared); /* evicts 1, the least recently used of the bucket */
    ck_assert_uint_eq(vmsec__dh_cache_count(c), DH_CACHE_BUCKET_SLOTS + 1);
    ck_assert(vmsec__dh_cache_get(c, peer, out));
    ck_assert_uint_eq(out[0], 0xee);
    peer[1] = 1;
    ck_assert(!vmsec__dh_cache_get(c, peer, out));
    peer[1] = 2;
    ck_assert(vmsec__dh_cache_get(c, peer, out));
    ck_assert_uint_eq(out[5], 2);
    ck_assert(vmsec__dh_cache_get(c, other, out)); /* another bucket: older, but kept */
    ck_assert_uint_eq(out[0], 0x77);
    ck_assert_ptr_eq(vmsec__dh_cache_ref(c), c);
    vmsec__dh_cache_unref(c);
    ck_assert(vmsec__dh_cache_get(c, peer, out)); /* one reference left */
    vmsec__dh_cache_unref(c);
    vmsec__dh_cache_unref(NULL);
    ck_assert(!vmsec__dh_cache_get(NULL, peer, out));
}
END_TEST

void noise_add_ss_cache_tests(TCase *hs)
{
    tcase_add_test(hs, ss_cache_gives_the_same_handshake);
    tcase_add_test(hs, ss_cache_does_not_vouch_for_a_claimed_key);
    tcase_add_test(hs, ss_cache_is_bounded_and_refcounted);
}
