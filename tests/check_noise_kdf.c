/* SPDX-License-Identifier: ISC */
/* Noise core units of the check_noise program: HMAC and HKDF against published vectors, and the
 * parsing of protocol names. */
#include <sodium.h>

#include "check_noise.h"
#include "channel/noise_crypto.h"
#include "vmsec/errors.h"

static void hex(uint8_t *out, const char *h, size_t n)
{
    size_t len;
    ck_assert_int_eq(sodium_hex2bin(out, n, h, strlen(h), NULL, &len, NULL), 0);
    ck_assert_uint_eq(len, n);
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

TCase *noise_kdf_tcase(void)
{
    TCase *kdf = tcase_create("hmac_hkdf");
    tcase_add_loop_test(kdf, hmac_sha256_sha512_rfc4231, 0, ARRAY_LEN(rfc4231));
    tcase_add_test(kdf, hmac_blake2b_is_rfc2104_not_keyed_blake2);
    tcase_add_test(kdf, hkdf_rfc5869_case3);
    return kdf;
}

TCase *noise_names_tcase(void)
{
    TCase *names = tcase_create("names");
    tcase_add_test(names, parse_accepts_valid_names);
    tcase_add_loop_test(names, parse_rejects_bad_names, 0, ARRAY_LEN(bad_names));
    tcase_add_test(names, parse_rejects_null);
    return names;
}
