/* SPDX-License-Identifier: ISC */
/* The JSON module (lib/common/json.c): UTF-8 sanitising, strings, keys and compact dumps. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/json.h"
#include "vmsec/errors.h"
#include "testutil.h"

#define R "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */

/* An input of len bytes and what the sanitiser must make of it. */
struct utf8_case {
    const char *name;
    const char *in;
    size_t len;
    const char *out;
    size_t out_len;
};

#define CASE(name, in, out) { name, in, sizeof(in) - 1, out, sizeof(out) - 1 }
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct utf8_case valid_cases[] = {
    CASE("empty", "", ""),
    CASE("ascii", "hello, world ~\x7f", "hello, world ~\x7f"),
    CASE("two-byte", "caf\xC3\xA9 \xC2\x80 \xDF\xBF", "caf\xC3\xA9 \xC2\x80 \xDF\xBF"),
    CASE("three-byte", "\xE2\x82\xAC \xE0\xA0\x80 \xED\x9F\xBF \xEE\x80\x80 \xEF\xBF\xBF",
         "\xE2\x82\xAC \xE0\xA0\x80 \xED\x9F\xBF \xEE\x80\x80 \xEF\xBF\xBF"),
    CASE("four-byte", "\xF0\x9D\x84\x9E \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF", "\xF0\x9D\x84\x9E \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF"),
    CASE("U+FFFD itself", R, R),
};

/* Each maximal invalid subpart becomes one U+FFFD (Unicode chapter 3, "U+FFFD Substitution of
 * Maximal Subparts"); what follows a break is decoded afresh. */
static const struct utf8_case invalid_cases[] = {
    CASE("lone continuation byte", "a\x80z", "a" R "z"),
    CASE("continuation bytes", "\x80\xBF\x80", R R R),
    CASE("0xff", "path/\xFF.conf", "path/" R ".conf"),
    CASE("0xfe 0xff", "\xFE\xFF", R R),
    CASE("truncated 2-byte at end", "a\xC3", "a" R),
    CASE("truncated 3-byte at end", "a\xE2\x82", "a" R),
    CASE("truncated 3-byte (lead only) at end", "a\xE2", "a" R),
    CASE("truncated 4-byte at end", "a\xF0\x9F\x98", "a" R),
    CASE("truncated 4-byte (two bytes) at end", "a\xF0\x9F", "a" R),
    CASE("truncated 2-byte mid-string", "\xC3z", R "z"),
    CASE("truncated 3-byte mid-string", "\xE2\x82z", R "z"),
    CASE("truncated 4-byte mid-string", "\xF0\x9F\x98z", R "z"),
    CASE("truncated sequence before a valid one", "\xF0\x9F\xE2\x82\xAC", R "\xE2\x82\xAC"),
    CASE("overlong C0 80", "\xC0\x80", R R),
    CASE("overlong C1 BF", "\xC1\xBF", R R),
    CASE("overlong E0 80 80", "\xE0\x80\x80", R R R),
    CASE("overlong E0 9F BF", "\xE0\x9F\xBF", R R R),
    CASE("overlong F0 80 80 80", "\xF0\x80\x80\x80", R R R R),
    CASE("overlong F0 8F BF BF", "\xF0\x8F\xBF\xBF", R R R R),
    CASE("surrogate ED A0 80", "\xED\xA0\x80", R R R),
    CASE("surrogate ED BF BF", "\xED\xBF\xBF", R R R),
    CASE("surrogate pair", "\xED\xA0\xBD\xED\xB8\x80", R R R R R R),
    CASE("above U+10FFFF F4 90 80 80", "\xF4\x90\x80\x80", R R R R),
    CASE("F5 80 80 80", "\xF5\x80\x80\x80", R R R R),
    CASE("F7 BF BF BF", "\xF7\xBF\xBF\xBF", R R R R),
    CASE("F8..FF", "\xF8\xF9\xFA\xFB\xFC\xFD\xFE\xFF", R R R R R R R R),
    /* The example of the Unicode Standard's Table 3-8. */
    CASE("Unicode table 3-8", "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", "a" R R R "b" R "c" R R "d"),
    CASE("embedded NUL kept", "a\0\xFF", "a\0" R),
};

static void expect_sanitized(const struct utf8_case *c)
{
    size_t len = (size_t)-1;
    char *out = vmsec__utf8_sanitize(c->in, c->len, &len);

    ck_assert_msg(out != NULL, "%s: NULL", c->name);
    ck_assert_msg(len == c->out_len && memcmp(out, c->out, len) == 0 && out[len] == '\0', "%s: wrong output (%zu bytes)",
                  c->name, len);
    free(out);
}

START_TEST(valid_utf8_passes_through)
{
    for (size_t i = 0; i < ARRAY_LEN(valid_cases); i++)
        expect_sanitized(&valid_cases[i]);
}
END_TEST

START_TEST(invalid_utf8_replaced_by_maximal_subpart)
{
    for (size_t i = 0; i < ARRAY_LEN(invalid_cases); i++)
        expect_sanitized(&invalid_cases[i]);
}
END_TEST

START_TEST(every_f5_to_ff_lead_is_one_replacement)
{
    for (unsigned b = 0xF5; b <= 0xFF; b++) {
        char in[4] = { (char)b, '\x80', '\x80', 'x' };
        size_t len;
        char *out = vmsec__utf8_sanitize(in, sizeof(in), &len);
        ck_assert_ptr_nonnull(out);
        ck_assert_str_eq(out, R R R "x");
        free(out);
    }
}
END_TEST

START_TEST(sanitize_null_and_length_optional)
{
    char *out;
    ck_assert_ptr_null(vmsec__utf8_sanitize(NULL, 0, NULL));
    out = vmsec__utf8_sanitize("\xFF", 1, NULL);
    ck_assert_str_eq(out, R);
    free(out);
}
END_TEST

/* Cross-check against jansson's own validator: input it accepts comes out unchanged, anything
 * else changes, and every output is accepted. All 1- and 2-byte inputs, then 3- and 4-byte inputs
 * with every non-ASCII lead (4-byte: F0..F7) and second byte, the later bytes taken around the
 * range boundaries. */
static void cross_check(const unsigned char *in, size_t n)
{
    size_t len;
    char *out = vmsec__utf8_sanitize((const char *)in, n, &len);
    json_t *orig = json_stringn((const char *)in, n), *clean;
    bool same;

    ck_assert_ptr_nonnull(out);
    same = len == n && memcmp(out, in, n) == 0;
    if ((orig != NULL) != same)
        ck_abort_msg("%02x %02x %02x %02x (%zu bytes): jansson %s it, the sanitiser %s it", in[0],
                     n > 1 ? in[1] : 0, n > 2 ? in[2] : 0, n > 3 ? in[3] : 0, n, orig ? "accepts" : "rejects",
                     same ? "keeps" : "changes");
    clean = json_stringn(out, len);
    ck_assert_msg(clean != NULL, "output not valid UTF-8 for %02x %02x", in[0], n > 1 ? in[1] : 0);
    json_decref(clean);
    json_decref(orig);
    free(out);
}

START_TEST(agrees_with_jansson_validator)
{
    static const unsigned char later[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xFF };
    unsigned char b[4];

    for (unsigned x = 0; x < 0x10000; x++) {
        b[0] = (unsigned char)(x >> 8), b[1] = (unsigned char)x;
        cross_check(b, 1);
        cross_check(b, 2);
    }
    for (unsigned x = 0x8000; x < 0x10000; x++) {
        b[0] = (unsigned char)(x >> 8), b[1] = (unsigned char)x;
        for (size_t t = 0; t < sizeof(later); t++) {
            b[2] = later[t];
            cross_check(b, 3);
            for (size_t f = 0; b[0] >= 0xF0 && b[0] <= 0xF7 && f < sizeof(later); f++) {
                b[3] = later[f];
                cross_check(b, 4);
            }
        }
    }
}
END_TEST

static void expect_dump(const json_t *v, const char *want)
{
    char *text = vmsec__json_dump(v);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, want);
    free(text);
}

START_TEST(strings_null_and_multibyte_unescaped)
{
    json_t *v = vmsec__json_str(NULL);
    ck_assert(json_is_null(v));
    expect_dump(v, "null");
    json_decref(v);

    v = vmsec__json_str("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E");
    expect_dump(v, "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E\"");
    json_decref(v);

    v = vmsec__json_str("web-\xFF.conf");
    ck_assert_str_eq(json_string_value(v), "web-" R ".conf");
    expect_dump(v, "\"web-" R ".conf\"");
    json_decref(v);
}
END_TEST

START_TEST(control_characters_and_quotes_escaped)
{
    json_t *v = vmsec__json_str("q\"b\\s/\n\t\r\b\f\x01\x1f\x7f");
    expect_dump(v, "\"q\\\"b\\\\s/\\n\\t\\r\\b\\f\\u0001\\u001F\x7f\"");
    json_decref(v);
}
END_TEST

START_TEST(embedded_nul_kept_as_u0000)
{
    json_t *v = vmsec__json_strn("a\0b\xFF", 4), *back;
    char *text;
    json_error_t err;

    ck_assert_uint_eq(json_string_length(v), 6);
    ck_assert(memcmp(json_string_value(v), "a\0b" R, 7) == 0);
    text = vmsec__json_dump(v);
    ck_assert_str_eq(text, "\"a\\u0000b" R "\"");
    back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    ck_assert_msg(back != NULL, "%s", err.text);
    ck_assert(json_equal(back, v));
    json_decref(back);
    free(text);
    json_decref(v);
}
END_TEST

START_TEST(keys_sanitized_order_kept)
{
    json_t *o = json_object(), *a = json_array();

    ck_assert_int_eq(vmsec__json_set(o, "zeta", json_integer(1)), 0);
    ck_assert_int_eq(vmsec__json_set(o, "k\xFF\xC0\x80", vmsec__json_str("v")), 0);
    ck_assert_int_eq(json_array_append_new(a, json_null()), 0);
    ck_assert_int_eq(json_array_append_new(a, json_true()), 0);
    ck_assert_int_eq(json_array_append_new(a, vmsec__json_str("\xED\xA0\x80")), 0);
    ck_assert_int_eq(vmsec__json_set(o, "alpha", a), 0);
    ck_assert_ptr_nonnull(json_object_get(o, "k" R R R));
    expect_dump(o, "{\"zeta\":1,\"k" R R R "\":\"v\",\"alpha\":[null,true,\"" R R R "\"]}");
    /* Setting an existing key replaces the value in place. */
    ck_assert_int_eq(vmsec__json_set(o, "zeta", json_false()), 0);
    expect_dump(o, "{\"zeta\":false,\"k" R R R "\":\"v\",\"alpha\":[null,true,\"" R R R "\"]}");
    json_decref(o);
}
END_TEST

START_TEST(set_reports_errors_and_steals)
{
    json_t *o = json_object(), *arr = json_array();

    ck_assert_int_eq(vmsec__json_set(o, "x", NULL), VMSEC_ENOMEM);
    ck_assert_int_eq(vmsec__json_set(o, NULL, json_integer(1)), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec__json_set(arr, "x", json_integer(1)), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec__json_set(NULL, "x", vmsec__json_str("s")), VMSEC_EINVAL);
    json_incref(o); /* the reference the failed call below drops */
    ck_assert_int_eq(vmsec__json_set(o, "self", o), VMSEC_EINVAL);
    ck_assert_uint_eq(json_object_size(o), 0);
    json_decref(arr);
    json_decref(o);
}
END_TEST

START_TEST(dumpf_writes_the_same_text)
{
    json_t *o = json_object();
    char *buf = NULL, *text;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_int_eq(vmsec__json_set(o, "path", vmsec__json_str("/etc/\xFF")), 0);
    ck_assert_int_eq(vmsec__json_dumpf(o, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    text = vmsec__json_dump(o);
    ck_assert_str_eq(buf, text);
    ck_assert_str_eq(text, "{\"path\":\"/etc/" R "\"}");
    ck_assert_ptr_null(vmsec__json_dump(NULL));
    ck_assert_int_eq(vmsec__json_dumpf(NULL, stdout), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec__json_dumpf(o, NULL), VMSEC_EINVAL);
    free(text);
    free(buf);
    json_decref(o);
}
END_TEST

/* Every invalid input, as a key and as a value, dumps to text that jansson parses back to exactly
 * the sanitised bytes. */
START_TEST(dump_reparses_to_sanitized_value)
{
    for (size_t i = 0; i < ARRAY_LEN(invalid_cases); i++) {
        const struct utf8_case *c = &invalid_cases[i];
        json_t *o = json_object(), *back;
        size_t klen, vlen;
        char *key = vmsec__utf8_sanitize(c->in, strlen(c->in), &klen); /* keys stop at a NUL */
        char *val = vmsec__utf8_sanitize(c->in, c->len, &vlen);
        char *text;
        json_error_t err;
        const char *k;
        json_t *v;

        ck_assert_int_eq(vmsec__json_set(o, c->in, vmsec__json_strn(c->in, c->len)), 0);
        text = vmsec__json_dump(o);
        ck_assert_msg(text != NULL, "%s: no dump", c->name);
        ck_assert_msg(strchr(text, '\n') == NULL, "%s: not one line", c->name);
        back = json_loads(text, JSON_ALLOW_NUL, &err);
        ck_assert_msg(back != NULL, "%s: %s does not parse: %s", c->name, text, err.text);
        ck_assert_uint_eq(json_object_size(back), 1);
        json_object_foreach (back, k, v) {
            ck_assert_msg(strlen(k) == klen && memcmp(k, key, klen) == 0, "%s: key differs", c->name);
            ck_assert_msg(json_string_length(v) == vlen && memcmp(json_string_value(v), val, vlen) == 0,
                          "%s: value differs", c->name);
        }
        json_decref(back);
        free(text);
        free(key);
        free(val);
        json_decref(o);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, valid_utf8_passes_through);
    tcase_add_test(tc, invalid_utf8_replaced_by_maximal_subpart);
    tcase_add_test(tc, every_f5_to_ff_lead_is_one_replacement);
    tcase_add_test(tc, sanitize_null_and_length_optional);
    tcase_add_test(tc, strings_null_and_multibyte_unescaped);
    tcase_add_test(tc, control_characters_and_quotes_escaped);
    tcase_add_test(tc, embedded_nul_kept_as_u0000);
    tcase_add_test(tc, keys_sanitized_order_kept);
    tcase_add_test(tc, set_reports_errors_and_steals);
    tcase_add_test(tc, dumpf_writes_the_same_text);
    tcase_add_test(tc, dump_reparses_to_sanitized_value);
    suite_add_tcase(s, tc);
    /* Every 1- and 2-byte input and the 3- and 4-byte boundaries: seconds natively, minutes under
     * valgrind, which make check-valgrind skips by this tag (the cases above cover memory safety). */
    TCase *ex = tcase_create("exhaustive");
    tcase_set_tags(ex, "exhaustive");
    tcase_set_timeout(ex, 120);
    tcase_add_test(ex, agrees_with_jansson_validator);
    suite_add_tcase(s, ex);
    return vt_run_suite(s);
}
