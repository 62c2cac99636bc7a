/* SPDX-License-Identifier: ISC */
/* Internal helpers: CPU sets (parse, canonical format, set algebra, libvirt cpumaps) and the
 * integer and size parsers used by profiles. */
#include <stdint.h>
#include <sys/stat.h>

#include "isolation/cpuset.h"
#include "common/units.h"

#include "testutil.h"

static char why[VMSEC_CPUSET_WHY_MAX];

static vmsec_cpuset parse_ok(const char *text)
{
    vmsec_cpuset s;
    why[0] = '\0';
    ck_assert_msg(vmsec__cpuset_parse(&s, text, strlen(text), 0, why, sizeof(why)) == 0, "%s: %s", text, why);
    return s;
}

static const char *canon(const char *text)
{
    static char buf[VMSEC_CPUSET_TEXT_MAX];
    vmsec_cpuset s = parse_ok(text);
    vmsec__cpuset_format(&s, buf, sizeof(buf));
    return buf;
}

START_TEST(parse_and_canonical_format)
{
    static const struct { const char *in, *out; } cases[] = {
        {"0", "0"},
        {"0-3,8,10-11", "0-3,8,10-11"},
        {"5,3,1-2", "1-3,5"},
        {"0-7,^3", "0-2,4-7"},
        {"^3,0-7", "0-2,4-7"},
        {"0-7,^2-5", "0-1,6-7"},
        {"1,1,1", "1"},
        {"3-3", "3"},
        {"007", "7"},
        {"8191", "8191"},
        {"0-1,2-3", "0-3"},
        {"62-65", "62-65"},
        {"63,64", "63-64"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_str_eq(canon(cases[i].in), cases[i].out);
}
END_TEST

START_TEST(parse_errors_say_why)
{
    static const struct { const char *in, *why; } cases[] = {
        {"", "empty CPU set"},
        {"8192", "CPU 8192 is above the maximum 8191"},
        {"0-99999999999999999999999", "CPU 99999999999999999999 is above the maximum 8191"},
        {"3-1", "range 3-1 is reversed"},
        {"1,,2", "expected a CPU number at ','"},
        {"1,", "trailing ',' in CPU set"},
        {"-1", "expected a CPU number at '-'"},
        {"1-", "expected a CPU number at the end"},
        {"a", "expected a CPU number at 'a'"},
        {"1 ", "unexpected byte 0x20 in CPU set"},
        {" 1", "expected a CPU number at ' '"},
        {"1;2", "unexpected ';' in CPU set"},
        {"^1", "CPU set is empty after exclusions"},
        {"1-2,^1-2", "CPU set is empty after exclusions"},
        {"^", "expected a CPU number at the end"},
        {"1^2", "unexpected '^' in CPU set"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vmsec_cpuset s, before;
        vmsec__cpuset_zero(&s);
        vmsec__cpuset_add(&s, 42);
        before = s;
        ck_assert_int_eq(vmsec__cpuset_parse(&s, cases[i].in, strlen(cases[i].in), 0, why, sizeof(why)), -1);
        ck_assert_str_eq(why, cases[i].why);
        ck_assert(vmsec__cpuset_equal(&s, &before)); /* untouched on failure */
    }
}
END_TEST

START_TEST(parse_flags)
{
    vmsec_cpuset s;
    ck_assert_int_eq(vmsec__cpuset_parse(&s, "", 0, VMSEC_CPUSET_ALLOW_EMPTY, why, sizeof(why)), 0);
    ck_assert(vmsec__cpuset_empty(&s));
    ck_assert_int_eq(vmsec__cpuset_parse(&s, "^1", 2, VMSEC_CPUSET_ALLOW_EMPTY, why, sizeof(why)), 0);
    ck_assert(vmsec__cpuset_empty(&s));
    ck_assert_int_eq(vmsec__cpuset_parse(&s, "9000", 4, VMSEC_CPUSET_NODES, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "node 9000 is above the maximum 8191");
    /* Length is honoured: bytes after len are not read. */
    ck_assert_int_eq(vmsec__cpuset_parse(&s, "1-2garbage", 3, 0, why, sizeof(why)), 0);
    ck_assert_uint_eq(vmsec__cpuset_count(&s), 2);
}
END_TEST

START_TEST(set_algebra)
{
    vmsec_cpuset a = parse_ok("0-3,8"), b = parse_ok("0-8"), e;
    vmsec__cpuset_zero(&e);
    ck_assert_uint_eq(vmsec__cpuset_count(&a), 5);
    ck_assert_int_eq(vmsec__cpuset_max(&a), 8);
    ck_assert_int_eq(vmsec__cpuset_max(&e), -1);
    ck_assert(vmsec__cpuset_empty(&e));
    ck_assert(!vmsec__cpuset_empty(&a));
    ck_assert(vmsec__cpuset_subset(&a, &b));
    ck_assert(!vmsec__cpuset_subset(&b, &a));
    ck_assert(vmsec__cpuset_subset(&e, &a));
    ck_assert(!vmsec__cpuset_equal(&a, &b));
    ck_assert(vmsec__cpuset_has(&a, 8));
    ck_assert(!vmsec__cpuset_has(&a, 7));
    ck_assert(!vmsec__cpuset_has(&a, 100000));
    ck_assert_int_eq(vmsec__cpuset_add(&a, VMSEC_CPUSET_MAX), -1);
    ck_assert_int_eq(vmsec__cpuset_del(&a, VMSEC_CPUSET_MAX), -1);
    ck_assert_int_eq(vmsec__cpuset_add(&a, VMSEC_CPUSET_MAX - 1), 0);
    ck_assert_int_eq(vmsec__cpuset_max(&a), (int)VMSEC_CPUSET_MAX - 1);
    ck_assert_int_eq(vmsec__cpuset_del(&a, 8), 0);
    ck_assert_str_eq(canon("0-8191"), "0-8191");
    ck_assert_uint_eq(vmsec__cpuset_count(&a), 5);
}
END_TEST

START_TEST(format_worst_case_fits_and_truncation_is_reported)
{
    vmsec_cpuset s;
    char buf[VMSEC_CPUSET_TEXT_MAX], small[8];
    size_t n;
    vmsec__cpuset_zero(&s);
    for (unsigned c = 0; c < VMSEC_CPUSET_MAX; c += 2)
        vmsec__cpuset_add(&s, c);
    n = vmsec__cpuset_format(&s, buf, sizeof(buf));
    ck_assert_uint_lt(n, sizeof(buf));
    ck_assert_uint_eq(strlen(buf), n);
    ck_assert_int_eq(strncmp(buf, "0,2,4,", 6), 0);
    ck_assert_uint_eq(vmsec__cpuset_format(&s, NULL, 0), n);
    ck_assert_uint_eq(vmsec__cpuset_format(&s, small, sizeof(small)), n);
    ck_assert_uint_lt(strlen(small), sizeof(small));
    vmsec__cpuset_zero(&s);
    ck_assert_uint_eq(vmsec__cpuset_format(&s, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(cpumap_conversion)
{
    vmsec_cpuset s = parse_ok("0,9,15"), back;
    unsigned char map[4] = {0xff, 0xff, 0xff, 0xff}, big[VMSEC_CPUSET_MAX / 8 + 1];
    ck_assert_int_eq(vmsec__cpuset_to_cpumap(&s, map, sizeof(map)), 0);
    ck_assert_uint_eq(map[0], 0x01);
    ck_assert_uint_eq(map[1], 0x82);
    ck_assert_uint_eq(map[2], 0);
    ck_assert_uint_eq(map[3], 0);
    ck_assert_int_eq(vmsec__cpuset_from_cpumap(&back, map, sizeof(map)), 0);
    ck_assert(vmsec__cpuset_equal(&s, &back));
    /* A map too short for the set is refused rather than silently truncated. */
    ck_assert_int_eq(vmsec__cpuset_to_cpumap(&s, map, 1), -1);
    /* A map naming a CPU beyond the set's range is refused. */
    memset(big, 0, sizeof(big));
    big[VMSEC_CPUSET_MAX / 8] = 1;
    ck_assert_int_eq(vmsec__cpuset_from_cpumap(&back, big, sizeof(big)), -1);
    big[VMSEC_CPUSET_MAX / 8] = 0;
    big[VMSEC_CPUSET_MAX / 8 - 1] = 0x80;
    ck_assert_int_eq(vmsec__cpuset_from_cpumap(&back, big, sizeof(big)), 0);
    ck_assert_int_eq(vmsec__cpuset_max(&back), (int)VMSEC_CPUSET_MAX - 1);
}
END_TEST

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

START_TEST(random_sets_round_trip)
{
    static char buf[VMSEC_CPUSET_TEXT_MAX];
    for (int i = 0; i < 300; i++) {
        vmsec_cpuset s, t, u;
        unsigned char map[VMSEC_CPUSET_MAX / 8];
        unsigned span = 1u + (unsigned)(next() % VMSEC_CPUSET_MAX);
        unsigned n = 1 + (unsigned)(next() % 64);
        vmsec__cpuset_zero(&s);
        for (unsigned k = 0; k < n; k++) {
            unsigned lo = (unsigned)(next() % span), len = (unsigned)(next() % 8);
            for (unsigned c = lo; c <= lo + len && c < VMSEC_CPUSET_MAX; c++)
                vmsec__cpuset_add(&s, c);
        }
        vmsec__cpuset_format(&s, buf, sizeof(buf));
        ck_assert_int_eq(vmsec__cpuset_parse(&t, buf, strlen(buf), 0, why, sizeof(why)), 0);
        ck_assert_msg(vmsec__cpuset_equal(&s, &t), "round trip of %s", buf);
        ck_assert_int_eq(vmsec__cpuset_to_cpumap(&s, map, sizeof(map)), 0);
        ck_assert_int_eq(vmsec__cpuset_from_cpumap(&u, map, sizeof(map)), 0);
        ck_assert(vmsec__cpuset_equal(&s, &u));
    }
}
END_TEST

/* ---- units ----------------------------------------------------------------------------- */

static char uwhy[VMSEC_UNITS_WHY_MAX];

static uint64_t size_ok(const char *t)
{
    uint64_t v = 0;
    ck_assert_msg(vmsec__size_parse(t, strlen(t), &v, uwhy, sizeof(uwhy)) == 0, "%s: %s", t, uwhy);
    return v;
}

START_TEST(sizes_parse)
{
    ck_assert_uint_eq(size_ok("0"), 0);
    ck_assert_uint_eq(size_ok("4096"), 4096);
    ck_assert_uint_eq(size_ok("1K"), 1024);
    ck_assert_uint_eq(size_ok("1k"), 1024);
    ck_assert_uint_eq(size_ok("1KiB"), 1024);
    ck_assert_uint_eq(size_ok("512M"), 512ull << 20);
    ck_assert_uint_eq(size_ok("512MiB"), 512ull << 20);
    ck_assert_uint_eq(size_ok("4G"), 4ull << 30);
    ck_assert_uint_eq(size_ok("1T"), 1ull << 40);
    ck_assert_uint_eq(size_ok("3P"), 3ull << 50);
    ck_assert_uint_eq(size_ok("15E"), 15ull << 60);
    ck_assert_uint_eq(size_ok("18446744073709551615"), UINT64_MAX);
}
END_TEST

START_TEST(sizes_reject)
{
    static const struct { const char *in, *why; } cases[] = {
        {"", "'' is not a size (e.g. 4096, 512M, 4G)"},
        {"-1", "size '-1' is negative"},
        {"-1G", "size '-1G' is negative"},
        {"1.5G", "size '1.5G' is not a whole number"},
        {"4MB", "ambiguous unit in '4MB': use M or MiB (powers of 1024)"},
        {"4X", "unknown unit in '4X' (use K, M, G, T, P, E: powers of 1024)"},
        {"4 G", "unknown unit in '4 G' (use K, M, G, T, P, E: powers of 1024)"},
        {"4Gi", "unknown unit in '4Gi' (use K, M, G, T, P, E: powers of 1024)"},
        {"4GiBs", "unknown unit in '4GiBs' (use K, M, G, T, P, E: powers of 1024)"},
        {"G", "'G' is not a size (e.g. 4096, 512M, 4G)"},
        {"16E", "size '16E' is too large"},
        {"18446744073709551616", "size '18446744073709551616' is too large"},
        {"17179869184G", "size '17179869184G' is too large"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 7;
        ck_assert_int_eq(vmsec__size_parse(cases[i].in, strlen(cases[i].in), &v, uwhy, sizeof(uwhy)), -1);
        ck_assert_str_eq(uwhy, cases[i].why);
        ck_assert_uint_eq(v, 7);
    }
}
END_TEST

START_TEST(sizes_format)
{
    char b[VMSEC_UNITS_TEXT_MAX];
    ck_assert_str_eq(vmsec__size_format(0, b), "0");
    ck_assert_str_eq(vmsec__size_format(1000, b), "1000");
    ck_assert_str_eq(vmsec__size_format(1024, b), "1K");
    ck_assert_str_eq(vmsec__size_format(1536ull << 20, b), "1536M");
    ck_assert_str_eq(vmsec__size_format(4ull << 30, b), "4G");
    ck_assert_str_eq(vmsec__size_format(1ull << 60, b), "1E");
    ck_assert_str_eq(vmsec__size_format(1ull << 63, b), "8E");
    ck_assert_str_eq(vmsec__size_format(UINT64_MAX, b), "18446744073709551615");
    for (int i = 0; i < 500; i++) {
        uint64_t v = next() >> (next() % 64), w;
        if (i % 2)
            v <<= 10 * (next() % 6);
        vmsec__size_format(v, b);
        ck_assert_int_eq(vmsec__size_parse(b, strlen(b), &w, uwhy, sizeof(uwhy)), 0);
        ck_assert_uint_eq(v, w);
    }
}
END_TEST

START_TEST(integers)
{
    uint64_t u;
    int64_t s;
    ck_assert_int_eq(vmsec__parse_u64("18446744073709551615", 20, &u, uwhy, sizeof(uwhy)), 0);
    ck_assert_uint_eq(u, UINT64_MAX);
    ck_assert_int_eq(vmsec__parse_u64("18446744073709551616", 20, &u, uwhy, sizeof(uwhy)), -1);
    ck_assert_str_eq(uwhy, "'18446744073709551616' is too large");
    ck_assert_int_eq(vmsec__parse_u64("-5", 2, &u, uwhy, sizeof(uwhy)), -1);
    ck_assert_str_eq(uwhy, "'-5' is negative");
    ck_assert_int_eq(vmsec__parse_u64("+5", 2, &u, uwhy, sizeof(uwhy)), -1);
    ck_assert_str_eq(uwhy, "'+5' is not a whole number");
    ck_assert_int_eq(vmsec__parse_u64("0x10", 4, &u, uwhy, sizeof(uwhy)), -1);
    ck_assert_int_eq(vmsec__parse_u64("", 0, &u, uwhy, sizeof(uwhy)), -1);
    ck_assert_str_eq(uwhy, "expected a number");
    ck_assert_int_eq(vmsec__parse_i64("-1", 2, &s, uwhy, sizeof(uwhy)), 0);
    ck_assert_int_eq(s, -1);
    ck_assert_int_eq(vmsec__parse_i64("-9223372036854775808", 20, &s, uwhy, sizeof(uwhy)), 0);
    ck_assert_int_eq(s, INT64_MIN);
    ck_assert_int_eq(vmsec__parse_i64("9223372036854775807", 19, &s, uwhy, sizeof(uwhy)), 0);
    ck_assert_int_eq(s, INT64_MAX);
    ck_assert_int_eq(vmsec__parse_i64("9223372036854775808", 19, &s, uwhy, sizeof(uwhy)), -1);
    ck_assert_str_eq(uwhy, "'9223372036854775808' is out of range");
    ck_assert_int_eq(vmsec__parse_i64("--1", 3, &s, uwhy, sizeof(uwhy)), -1);
    ck_assert_str_eq(uwhy, "'--1' is not a whole number");
    ck_assert_int_eq(vmsec__parse_i64("-", 1, &s, uwhy, sizeof(uwhy)), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpuset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parse_and_canonical_format);
    tcase_add_test(tc, parse_errors_say_why);
    tcase_add_test(tc, parse_flags);
    tcase_add_test(tc, set_algebra);
    tcase_add_test(tc, format_worst_case_fits_and_truncation_is_reported);
    tcase_add_test(tc, cpumap_conversion);
    tcase_add_test(tc, random_sets_round_trip);
    tcase_add_test(tc, sizes_parse);
    tcase_add_test(tc, sizes_reject);
    tcase_add_test(tc, sizes_format);
    tcase_add_test(tc, integers);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
