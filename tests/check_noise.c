/* Noise core units: HMAC/HKDF against published vectors, protocol names, and every failure path of
 * the handshake and transport states (tampering, lengths, turns, nonces, rekey, buffers). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "channel/dhcache.h"
#include "channel/noise.h"
#include "channel/noise_crypto.h"
#include "testutil.h"
#include "vmsec/errors.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void hex(uint8_t *out, const char *h, size_t n)
{
    size_t len;
    ck_assert_int_eq(sodium_hex2bin(out, n, h, strlen(h), NULL, &len, NULL), 0);
    ck_assert_uint_eq(len, n);
}

static bool require_all(void)
{
    const char *v = getenv("VMSEC_REQUIRE_ALL");
    return v && strcmp(v, "1") == 0;
}

/* Parses name; false (after checking the refusal is the documented one) when it names AESGCM on a
 * CPU without hardware AES-GCM, which fails instead under VMSEC_REQUIRE_ALL=1. */
static bool parse_or_skip(noise_protocol *proto, const char *name)
{
    int rc = noise_protocol_parse(proto, name);
    if (rc == VMSEC_EUNSUPPORTED && strstr(name, "AESGCM") && !noise_aead_available(NOISE_CIPHER_AESGCM)) {
        ck_assert_msg(!require_all(), "%s: no hardware AES-GCM (VMSEC_REQUIRE_ALL=1)", name);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "AESGCM"));
        return false;
    }
    ck_assert_msg(rc == 0, "%s: %s", name, vmsec_error_last());
    return true;
}

/* ---- HMAC and HKDF ------------------------------------------------------------------------- */

/* RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (case 5 is about truncated output). */
static const struct {
    const char *key, *data; /* hex */
    const char *sha256, *sha512;
} rfc4231[] = {
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
     "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
    {"4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
     "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"},
    {"0102030405060708090a0b0c0d0e0f10111213141516171819",
     "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
     "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"},
    {NULL /* 131 x 0xaa */, "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
     "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
    {NULL,
     "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e6720757365642062792074686520484d414320616c676f726974686d2e",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
     "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"},
};

static size_t rfc4231_inputs(int i, uint8_t *key, uint8_t *data)
{
    size_t key_len;
    if (rfc4231[i].key) {
        key_len = strlen(rfc4231[i].key) / 2;
        hex(key, rfc4231[i].key, key_len);
    } else {
        key_len = 131;
        memset(key, 0xaa, key_len);
    }
    hex(data, rfc4231[i].data, strlen(rfc4231[i].data) / 2);
    return key_len;
}

START_TEST(hmac_sha256_sha512_rfc4231)
{
    uint8_t key[131], data[256], want[64], got[64];
    size_t key_len = rfc4231_inputs(_i, key, data), data_len = strlen(rfc4231[_i].data) / 2;

    noise_hmac(NOISE_HASH_SHA256, key, key_len, data, data_len, NULL, 0, got);
    hex(want, rfc4231[_i].sha256, 32);
    ck_assert_mem_eq(got, want, 32);
    noise_hmac(NOISE_HASH_SHA512, key, key_len, data, data_len, NULL, 0, got);
    hex(want, rfc4231[_i].sha512, 64);
    ck_assert_mem_eq(got, want, 64);
    /* The data may come in two parts (HKDF's "output || byte" inputs). */
    noise_hmac(NOISE_HASH_SHA512, key, key_len, data, 3, data + 3, data_len - 3, got);
    ck_assert_mem_eq(got, want, 64);
}
END_TEST

/* HMAC-BLAKE2b is the RFC 2104 construction with a 128-byte block, not keyed BLAKE2b. The expected
 * values come from an independent RFC 2104 implementation (CPython's hmac over hashlib.blake2b). */
START_TEST(hmac_blake2b_is_rfc2104_not_keyed_blake2)
{
    uint8_t key[131], data[256], want[64], got[64], keyed[64];

    rfc4231_inputs(1, key, data);
    noise_hmac(NOISE_HASH_BLAKE2B, key, 4, data, 28, NULL, 0, got);
    hex(want, "6ff884f8ddc2a6586b3c98a4cd6ebdf14ec10204b6710073eb5865ade37a2643"
              "b8807c1335d107ecdb9ffeaeb6828c4625ba172c66379efcd222c2de11727ab4", 64);
    ck_assert_mem_eq(got, want, 64);
    crypto_generichash(keyed, 64, data, 28, key, 4);
    ck_assert_mem_ne(got, keyed, 64);

    rfc4231_inputs(5, key, data);
    noise_hmac(NOISE_HASH_BLAKE2B, key, 131, data, strlen(rfc4231[5].data) / 2, NULL, 0, got);
    hex(want, "ab347980a64b5e825dd10e7d32fd43a01a8e6dea267ab9ad7d913524526618925311afbcb0c49519cbebdd709540a8d725fb911ac2aee9b2a3aa43d796123393", 64);
    ck_assert_mem_eq(got, want, 64);
}
END_TEST

/* Noise's HKDF is RFC 5869 with salt = chaining key and empty info: RFC 5869 test case 3 (empty
 * salt, i.e. HashLen zero bytes) gives output1 || output2. */
START_TEST(hkdf_rfc5869_case3)
{
    uint8_t ck[32] = {0}, ikm[22], o1[64], o2[64], o3[64], want[42], want3[32];
    memset(ikm, 0x0b, sizeof(ikm));
    hex(want, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8", 42);
    noise_hkdf(NOISE_HASH_SHA256, ck, ikm, sizeof(ikm), 2, o1, o2, NULL);
    ck_assert_mem_eq(o1, want, 32);
    ck_assert_mem_eq(o2, want + 32, 10);
    /* T(3) of the same expansion (independent computation). */
    noise_hkdf(NOISE_HASH_SHA256, ck, ikm, sizeof(ikm), 3, o1, o2, o3);
    ck_assert_mem_eq(o1, want, 32);
    hex(want3, "36def6dc129c29271a0eb7ab14bd2ca88259f8a3a92ac2ec0e3e4fa046a4b90b", 32);
    ck_assert_mem_eq(o3, want3, 32);
    /* Outputs may overwrite the chaining key, as MixKey does. */
    noise_hkdf(NOISE_HASH_SHA256, ck, ikm, sizeof(ikm), 2, ck, o2, NULL);
    ck_assert_mem_eq(ck, want, 32);
}
END_TEST

/* ---- protocol names ------------------------------------------------------------------------ */

START_TEST(parse_accepts_valid_names)
{
    noise_protocol p;
    ck_assert_int_eq(noise_protocol_parse(&p, "Noise_XX_25519_ChaChaPoly_SHA256"), 0);
    ck_assert_str_eq(p.pattern, "XX");
    ck_assert_str_eq(p.name, "Noise_XX_25519_ChaChaPoly_SHA256");
    ck_assert_uint_eq(p.psk_mask, 0);
    ck_assert_int_eq(p.cipher, NOISE_CIPHER_CHACHAPOLY);
    ck_assert_int_eq(p.hash, NOISE_HASH_SHA256);
    ck_assert_int_eq(noise_protocol_parse(&p, "Noise_NNpsk0+psk2_25519_ChaChaPoly_BLAKE2b"), 0);
    ck_assert_str_eq(p.pattern, "NN");
    ck_assert_uint_eq(p.psk_mask, 0x5);
    ck_assert_int_eq(p.hash, NOISE_HASH_BLAKE2B);
    ck_assert_int_eq(noise_protocol_parse(&p, "Noise_XXpsk0+psk1+psk2+psk3_25519_ChaChaPoly_SHA512"), 0);
    ck_assert_uint_eq(p.psk_mask, 0xf);
    ck_assert_int_eq(p.hash, NOISE_HASH_SHA512);
    ck_assert_int_eq(noise_protocol_parse(&p, "Noise_X1K1_25519_ChaChaPoly_SHA256"), 0);
    ck_assert_str_eq(p.pattern, "X1K1");
    ck_assert_int_eq(noise_protocol_parse(&p, "Noise_Npsk1_25519_ChaChaPoly_SHA256"), 0);
    ck_assert_uint_eq(p.psk_mask, 0x2);
    if (parse_or_skip(&p, "Noise_IKpsk2_25519_AESGCM_SHA256"))
        ck_assert_int_eq(p.cipher, NOISE_CIPHER_AESGCM);
}
END_TEST

static const struct {
    const char *name;
    int rc;
    const char *says; /* the message names the offending part */
} bad_names[] = {
    {"Noise_XX_448_ChaChaPoly_SHA256", VMSEC_EUNSUPPORTED, "DH function '448'"},
    {"Noise_XX_25519_ChaChaPoly_BLAKE2s", VMSEC_EUNSUPPORTED, "hash 'BLAKE2s'"},
    {"Noise_XX_25519_AESGCM256_SHA256", VMSEC_EUNSUPPORTED, "cipher 'AESGCM256'"},
    {"Noise_XY_25519_ChaChaPoly_SHA256", VMSEC_EUNSUPPORTED, "pattern 'XY'"},
    {"Noise_XXfallback_25519_ChaChaPoly_SHA256", VMSEC_EUNSUPPORTED, "modifier 'fallback'"},
    {"Noise_XXhfs_25519_ChaChaPoly_SHA256", VMSEC_EUNSUPPORTED, "modifier 'hfs'"},
    {"Noise_XXpsk4_25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "'psk4' is past the last of the 3 messages"},
    {"Noise_Npsk2_25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "'psk2'"},
    {"Noise_XXpsk_25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "'psk'"},
    {"Noise_XXpsk01_25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "'psk01'"},
    {"Noise_XXpsk3+psk3_25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "appears twice"},
    {"Noise_XXpsk3+_25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "empty pattern modifier"},
    {"Noise_XXPSK3_25519_ChaChaPoly_SHA256", VMSEC_EUNSUPPORTED, "pattern 'XXPSK3'"},
    {"Noise_xx_25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "malformed handshake pattern 'xx'"},
    {"Noise_XX_25519_ChaChaPoly", VMSEC_EFORMAT, "Noise_<pattern>_<dh>_<cipher>_<hash>"},
    {"Noise_XX_25519_ChaChaPoly_SHA256_SHA256", VMSEC_EFORMAT, "Noise_<pattern>_<dh>_<cipher>_<hash>"},
    {"Noisy_XX_25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "'Noise_'"},
    {"Noise__25519_ChaChaPoly_SHA256", VMSEC_EFORMAT, "empty handshake pattern"},
    {"Noise_XX_25519__SHA256", VMSEC_EFORMAT, "empty cipher"},
    {"Noise_XX_25519_ChaChaPoly_SHA256 ", VMSEC_EFORMAT, "invalid character 0x20 at offset 32"},
    {"", VMSEC_EFORMAT, "Noise_<pattern>"},
    {"Noise_XXpsk0+psk1+psk2+psk3_25519_ChaChaPoly_BLAKE2bxxxxxxxxxxxxx", VMSEC_EFORMAT, "longer than 63"},
};

START_TEST(parse_rejects_bad_names)
{
    noise_protocol p;
    memset(&p, 0x55, sizeof(p));
    ck_assert_int_eq(noise_protocol_parse(&p, bad_names[_i].name), bad_names[_i].rc);
    ck_assert_msg(strstr(vmsec_error_last(), bad_names[_i].says), "%s: message '%s' lacks '%s'",
                  bad_names[_i].name, vmsec_error_last(), bad_names[_i].says);
    ck_assert_uint_eq(p.psk_mask, 0);
    ck_assert_str_eq(p.pattern, "");
}
END_TEST

START_TEST(parse_rejects_null)
{
    noise_protocol p;
    ck_assert_int_eq(noise_protocol_parse(&p, NULL), VMSEC_EINVAL);
    ck_assert_int_eq(noise_protocol_parse(NULL, "Noise_XX_25519_ChaChaPoly_SHA256"), VMSEC_EINVAL);
}
END_TEST

/* ---- handshakes ---------------------------------------------------------------------------- */

static uint8_t s_init[32], s_resp[32], p_init[32], p_resp[32], e_init[32], e_resp[32];
static uint8_t psk_a[32], psk_b[32];

static void keys_setup(void)
{
    size_t i;
    ck_assert_int_eq(sodium_init() < 0, 0);
    for (i = 0; i < 32; i++) {
        s_init[i] = (uint8_t)(i + 1);
        s_resp[i] = (uint8_t)(0x80 + i);
        e_init[i] = (uint8_t)(0x40 + i);
        e_resp[i] = (uint8_t)(0xc0 + i);
        psk_a[i] = (uint8_t)(0x11 * (i % 7));
        psk_b[i] = (uint8_t)(0x13 * (i % 5) + 1);
    }
    crypto_scalarmult_base(p_init, s_init);
    crypto_scalarmult_base(p_resp, s_resp);
}

struct pair {
    noise_protocol proto;
    noise_handshake *init, *resp;
    noise_cipherstate i_send, i_recv, r_send, r_recv;
};

/* Which static keys the pattern makes known before the first message. */
static void pre_messages(const char *pat, bool *resp_knows_init, bool *init_knows_resp)
{
    if (strlen(pat) == 1) {
        *init_knows_resp = true;
        *resp_knows_init = pat[0] == 'K';
        return;
    }
    *resp_knows_init = pat[0] == 'K';
    *init_knows_resp = pat[1 + (pat[1] == '1')] == 'K';
}

/* Creates both sides with fixed keys; false if the protocol is AESGCM without hardware support. */
static bool pair_new(struct pair *p, const char *name, const uint8_t *psk_i, const uint8_t *psk_r)
{
    bool rki, ikr;
    static const uint8_t prologue[] = "vmsec test";
    memset(p, 0, sizeof(*p));
    if (!parse_or_skip(&p->proto, name))
        return false;
    pre_messages(p->proto.pattern, &rki, &ikr);
    if (!p->proto.psk_mask)
        psk_i = psk_r = NULL;
    ck_assert_msg(noise_handshake_new(&p->init, &p->proto, true, prologue, sizeof(prologue), s_init,
                                      ikr ? p_resp : NULL, psk_i) == 0, "%s", vmsec_error_last());
    ck_assert_msg(noise_handshake_new(&p->resp, &p->proto, false, prologue, sizeof(prologue), s_resp,
                                      rki ? p_init : NULL, psk_r) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(noise_handshake_set_ephemeral(p->init, e_init), 0);
    ck_assert_int_eq(noise_handshake_set_ephemeral(p->resp, e_resp), 0);
    return true;
}

static void pair_free(struct pair *p)
{
    noise_handshake_free(p->init);
    noise_handshake_free(p->resp);
    noise_cipher_wipe(&p->i_send);
    noise_cipher_wipe(&p->i_recv);
    noise_cipher_wipe(&p->r_send);
    noise_cipher_wipe(&p->r_recv);
}

struct tamper {
    int msg;        /* message to alter, -1 for none */
    size_t byte;    /* byte to flip */
    uint8_t mask;
    long truncate;  /* bytes to remove from the end (negative: append that many) */
};
static const struct tamper no_tamper = {-1, 0, 0, 0};

/* Runs the handshake. Returns 0 once both sides completed (and split), or the first failure; *where
 * gets the failing message index and *reader whether the reading side failed. */
static int pair_run(struct pair *p, struct tamper t, int *where, bool *reader, size_t *sizes)
{
    uint8_t msg[NOISE_MAX_MSG + 8], got[NOISE_MAX_MSG];
    char payload[32];
    size_t len, got_len, want;
    int j, rc;

    for (j = 0; !noise_handshake_complete(p->init) || !noise_handshake_complete(p->resp); j++) {
        noise_handshake *from = noise_handshake_my_turn(p->init) ? p->init : p->resp;
        noise_handshake *to = from == p->init ? p->resp : p->init;
        *where = j;
        ck_assert_msg(noise_handshake_my_turn(from) && !noise_handshake_my_turn(to), "message %d: no turn", j);
        snprintf(payload, sizeof(payload), "payload %d", j);
        *reader = false;
        ck_assert_uint_eq(noise_handshake_write_size(to, 0), 0);
        want = noise_handshake_write_size(from, strlen(payload));
        if ((rc = noise_handshake_write(from, (const uint8_t *)payload, strlen(payload), msg, sizeof(msg), &len)) < 0)
            return rc;
        ck_assert_uint_eq(len, want);
        if (sizes)
            sizes[j] = len;
        if (j == t.msg) {
            if (t.mask)
                msg[t.byte] ^= t.mask;
            if (t.truncate < 0)
                memset(msg + len, 0, (size_t)-t.truncate);
            len = (size_t)((long)len - t.truncate);
        }
        *reader = true;
        if ((rc = noise_handshake_read(to, msg, len, got, sizeof(got), &got_len)) < 0)
            return rc;
        /* A message sent before any key exists is authenticated only by the next one. */
        if (j != t.msg) {
            ck_assert_uint_eq(got_len, strlen(payload));
            ck_assert_mem_eq(got, payload, got_len);
        }
    }
    ck_assert_int_eq(noise_handshake_split(p->init, &p->i_send, &p->i_recv), 0);
    ck_assert_int_eq(noise_handshake_split(p->resp, &p->r_send, &p->r_recv), 0);
    return 0;
}

/* A transport message each way proves both sides derived the same keys. */
static void assert_transport_works(struct pair *p, bool one_way)
{
    uint8_t ct[64], pt[48];
    ck_assert_int_eq(noise_cipher_encrypt(&p->i_send, NULL, 0, (const uint8_t *)"ping", 4, ct), 0);
    ck_assert_int_eq(noise_cipher_decrypt(&p->r_recv, NULL, 0, ct, 4 + NOISE_TAGLEN, pt), 0);
    ck_assert_mem_eq(pt, "ping", 4);
    if (one_way)
        return;
    ck_assert_int_eq(noise_cipher_encrypt(&p->r_send, (const uint8_t *)"ad", 2, (const uint8_t *)"pong", 4, ct), 0);
    ck_assert_int_eq(noise_cipher_decrypt(&p->i_recv, (const uint8_t *)"ad", 2, ct, 4 + NOISE_TAGLEN, pt), 0);
    ck_assert_mem_eq(pt, "pong", 4);
}

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
    TCase *kdf = tcase_create("hmac_hkdf");
    TCase *names = tcase_create("names");
    TCase *hs = tcase_create("handshake");
    TCase *tr = tcase_create("transport");

    tcase_add_loop_test(kdf, hmac_sha256_sha512_rfc4231, 0, ARRAY_LEN(rfc4231));
    tcase_add_test(kdf, hmac_blake2b_is_rfc2104_not_keyed_blake2);
    tcase_add_test(kdf, hkdf_rfc5869_case3);
    suite_add_tcase(s, kdf);

    tcase_add_test(names, parse_accepts_valid_names);
    tcase_add_loop_test(names, parse_rejects_bad_names, 0, ARRAY_LEN(bad_names));
    tcase_add_test(names, parse_rejects_null);
    suite_add_tcase(s, names);

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
    tcase_add_test(hs, ss_cache_gives_the_same_handshake);
    tcase_add_test(hs, ss_cache_does_not_vouch_for_a_claimed_key);
    tcase_add_test(hs, ss_cache_is_bounded_and_refcounted);
    tcase_add_test(hs, hooks_refuse_once_started);
    tcase_add_loop_test(hs, multiple_psks, 0, 2);
    tcase_add_test(hs, prologue_mismatch_fails);
    tcase_add_test(hs, random_ephemerals);
    tcase_add_test(hs, one_way_has_one_direction);
    tcase_add_loop_test(hs, psk_at_every_position, 0, ARRAY_LEN(all_patterns));
    tcase_add_loop_test(hs, random_first_messages, 0, ARRAY_LEN(all_patterns));
    suite_add_tcase(s, hs);

    tcase_add_checked_fixture(tr, keys_setup, NULL);
    tcase_add_loop_test(tr, decrypt_failure_keeps_nonce_and_wipes_output, 0, ARRAY_LEN(transport_names));
    tcase_add_loop_test(tr, nonce_exhaustion, 0, ARRAY_LEN(transport_names));
    tcase_add_loop_test(tr, rekey_follows_the_spec, 0, ARRAY_LEN(transport_names));
    tcase_add_loop_test(tr, nonce_encoding, 0, ARRAY_LEN(transport_names));
    tcase_add_loop_test(tr, transport_limits_and_misuse, 0, ARRAY_LEN(transport_names));
    suite_add_tcase(s, tr);

    return vt_run_suite(s);
}
