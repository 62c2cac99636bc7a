/* SPDX-License-Identifier: ISC */
/* Relay wire format: incremental request parsing, every truncation, hostile bytes. */
#include <stdint.h>
#include <sys/stat.h>

#include "testutil.h"
#include <vmsec.h>

#include "relay/relay_internal.h"

static char tgt[VMSEC_POLICY_NAME_MAX + 1], svc[VMSEC_POLICY_SERVICE_MAX + 1];

START_TEST(every_prefix_needs_more_until_complete)
{
    uint8_t req[RELAY_REQ_MAX];
    size_t len = vmsec__relay_encode_request(req, "db-1.example", "postgres");
    ck_assert_uint_eq(len, 8 + 12 + 8);
    for (size_t i = 0; i < len; i++) {
        size_t need = 0;
        ck_assert_int_eq(vmsec__relay_parse_request(req, i, &need, tgt, svc), RELAY_PARSE_NEED_MORE);
        ck_assert_uint_gt(need, i);
        ck_assert_uint_le(need, len); /* never asks for more than the request holds */
    }
    size_t need = 0;
    ck_assert_int_eq(vmsec__relay_parse_request(req, len, &need, tgt, svc), RELAY_PARSE_OK);
    ck_assert_str_eq(tgt, "db-1.example");
    ck_assert_str_eq(svc, "postgres");
    /* Longest legal names. */
    char longt[VMSEC_POLICY_NAME_MAX + 1], longs[VMSEC_POLICY_SERVICE_MAX + 1];
    memset(longt, 't', VMSEC_POLICY_NAME_MAX);
    longt[VMSEC_POLICY_NAME_MAX] = '\0';
    memset(longs, 's', VMSEC_POLICY_SERVICE_MAX);
    longs[VMSEC_POLICY_SERVICE_MAX] = '\0';
    len = vmsec__relay_encode_request(req, longt, longs);
    ck_assert_uint_eq(len, RELAY_REQ_MAX);
    ck_assert_int_eq(vmsec__relay_parse_request(req, len, &need, tgt, svc), RELAY_PARSE_OK);
    ck_assert_str_eq(tgt, longt);
    ck_assert_str_eq(svc, longs);
}
END_TEST

START_TEST(wrong_magic_is_refused_at_the_first_byte)
{
    size_t need;
    ck_assert_int_eq(vmsec__relay_parse_request((const uint8_t *)"G", 1, &need, tgt, svc), RELAY_PARSE_BAD);
    ck_assert_int_eq(vmsec__relay_parse_request((const uint8_t *)"VMX", 3, &need, tgt, svc), RELAY_PARSE_BAD);
    ck_assert_int_eq(vmsec__relay_parse_request((const uint8_t *)"VMS", 3, &need, tgt, svc), RELAY_PARSE_NEED_MORE);
}
END_TEST

START_TEST(random_bytes_never_parse_as_invalid_names)
{
    /* Random requests behind a valid header: the parser either waits, refuses, or returns names
     * made only of allowed characters with the announced lengths. */
    uint8_t buf[RELAY_REQ_MAX + 16];
    uint32_t x = 2463534242u;
    unsigned ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 8 + (x % (sizeof(buf) - 8));
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = (uint8_t)x;
            /* Bias towards the printable range so that some names are valid. */
            if (i >= 8 && (x & 0x100))
                buf[i] = (uint8_t)('a' + (x % 26));
        }
        memcpy(buf, "VMSR\x01\x01", 6);
        buf[6] = (uint8_t)(1 + (x >> 8) % 40);
        buf[7] = (uint8_t)(1 + (x >> 16) % 80);
        size_t need;
        enum relay_parse pr = vmsec__relay_parse_request(buf, len, &need, tgt, svc);
        if (pr == RELAY_PARSE_OK) {
            ok++;
            ck_assert_uint_eq(strlen(tgt), buf[6]);
            ck_assert_uint_eq(strlen(svc), buf[7]);
            ck_assert_uint_le(buf[7], VMSEC_POLICY_SERVICE_MAX);
            for (const char *p = tgt; *p; p++)
                ck_assert(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+:-", *p));
        } else if (pr == RELAY_PARSE_NEED_MORE) {
            ck_assert_uint_gt(need, len);
        }
    }
    ck_assert_uint_gt(ok, 0); /* the generator did reach valid requests */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("relay_wire");
    TCase *tc = tcase_create("relay_wire");
    tcase_add_test(tc, every_prefix_needs_more_until_complete);
    tcase_add_test(tc, wrong_magic_is_refused_at_the_first_byte);
    tcase_add_test(tc, random_bytes_never_parse_as_invalid_names);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
