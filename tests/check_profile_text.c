/* SPDX-License-Identifier: ISC */
/* check_profile cases on profile text: layout tolerance (CRLF, comments, tabs), hostile and
 * mutated input, and canonical round trips, including randomly built profiles. */
#include <sodium.h>

#include "check_profile.h"

/* ---- layout tolerance -------------------------------------------------------------------- */

START_TEST(crlf_blanks_comments_tabs_and_missing_final_newline)
{
    const char *a = "# comment\r\n\r\n  \t\r\n\tcpu.shares\t=\t512  \r\n   # indented comment with UTF-8: \xc3\xa9\r\n"
                    "name=web\r\nvcpu.0.pin = 1 \t";
    vmsec_profile *p = parse_ok(a), *q = parse_ok("name = web\nvcpu.0.pin = 1\ncpu.shares = 512\n");
    char buf[32];
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    ck_assert_int_eq(vmsec_profile_get(p, "vcpu.0.pin", buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "1");
    vmsec_profile_free(p);
    vmsec_profile_free(q);
    p = parse_ok("\xef\xbb\xbfname = web\r\n");
    ck_assert_int_eq(vmsec_profile_get_name(p, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "web");
    vmsec_profile_free(p);
    ck_assert_str_eq(parse_fail("name = web\n\xef\xbb\xbfvcpus = 1\n", 23), "profile t.conf:2: invalid byte 0xef at column 1");
    p = parse_ok("");
    q = parse_ok("\n\n# only comments\n");
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    {
        char *t = to_text(p);
        ck_assert_str_eq(t, "");
        free(t);
    }
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

START_TEST(hostile_inputs_are_rejected_cleanly)
{
    char *big = malloc(VMSEC_PROFILE_TEXT_LIMIT + 2);
    vmsec_profile *p = (vmsec_profile *)1;
    const char *msg;
    ck_assert_ptr_nonnull(big);
    /* a line over 4096 bytes */
    memset(big, 'a', 5000);
    memcpy(big, "name = ", 7);
    msg = parse_fail(big, 5000);
    ck_assert_str_eq(msg, "profile t.conf:1: line longer than 4096 bytes");
    /* a long key still gets a bounded message */
    memset(big, 'a', 4000);
    memcpy(big + 3990, " = 1", 4);
    msg = parse_fail(big, 3994);
    ck_assert_uint_lt(strlen(msg), 200);
    ck_assert_int_eq(strncmp(msg, "profile t.conf:1: unknown key 'aaaa", 35), 0);
    /* NUL bytes */
    msg = parse_fail("name = a\0b\n", 11);
    ck_assert_str_eq(msg, "profile t.conf:1: NUL byte at column 9");
    msg = parse_fail("# c\0mment\nname = x\n", 19);
    ck_assert_str_eq(msg, "profile t.conf:1: NUL byte at column 4");
    /* too large */
    memset(big, '\n', VMSEC_PROFILE_TEXT_LIMIT + 1);
    ck_assert_int_eq(vmsec_profile_parse(&p, big, VMSEC_PROFILE_TEXT_LIMIT + 1, "t.conf"), VMSEC_ETOOBIG);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(vmsec_error_last(), "profile t.conf: text of 1048577 bytes is larger than the limit of 1048576 bytes");
    /* exactly at the limit is fine */
    ck_assert_int_eq(vmsec_profile_parse(&p, big, VMSEC_PROFILE_TEXT_LIMIT, "t.conf"), 0);
    vmsec_profile_free(p);
    /* binary garbage: never accepted half-way, never crashes */
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + (size_t)randombytes_uniform(2000);
        randombytes_buf(big, n);
        p = (vmsec_profile *)1;
        int r = vmsec_profile_parse(&p, big, n, "t.conf");
        if (r == 0) { /* possible only for text that happens to be blank or comments */
            char *t = to_text(p);
            ck_assert_str_eq(t, "");
            free(t);
            vmsec_profile_free(p);
        } else {
            ck_assert_int_eq(r, VMSEC_EFORMAT);
            ck_assert_ptr_null(p);
            ck_assert_int_eq(strncmp(vmsec_error_last(), "profile t.conf:", 15), 0);
        }
    }
    free(big);
}
END_TEST

START_TEST(thousands_of_pins_in_any_order)
{
    size_t cap = 8192 * 40, n = 0;
    char *text = malloc(cap), *t, buf[32];
    vmsec_profile *p = NULL, *q = NULL;
    ck_assert_ptr_nonnull(text);
    for (unsigned v = 8192; v-- > 0;) /* descending: the worst order for sorted insertion */
        n += (size_t)snprintf(text + n, cap - n, "vcpu.%u.pin = 0-8191,^%u\n", v, v);
    ck_assert_int_eq(vmsec_profile_parse(&p, text, n, "many"), 0);
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 0, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "1-8191");
    ck_assert_int_eq(vmsec_profile_get_vcpu_pin(p, 4000, buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "0-3999,4001-8191");
    t = to_text(p);
    ck_assert_int_eq(strncmp(t, "vcpu.0.pin = 1-8191\nvcpu.1.pin = 0,2-8191\n", 41), 0);
    ck_assert_int_eq(vmsec_profile_parse(&q, t, strlen(t), "canon"), 0);
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    ck_assert_int_eq(vmsec_profile_check_domain(p, 8192, NULL, 0), 0);
    /* a duplicate far from its first occurrence is still found */
    n += (size_t)snprintf(text + n, cap - n, "vcpu.8191.pin = 1\n");
    ck_assert_str_eq(parse_fail(text, n), "profile t.conf:8193: duplicate key 'vcpu.8191.pin' (first set on line 1)");
    free(t);
    free(text);
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

START_TEST(mutated_texts_parse_or_fail_cleanly)
{
    char path[PATH_MAX];
    char *orig, *buf;
    size_t len;
    int accepted = 0;
    snprintf(path, sizeof(path), "%s/examples/profiles/full.conf", srcdir());
    orig = strdup(slurp(path));
    len = strlen(orig);
    buf = malloc(len + 1);
    for (int i = 0; i < 400; i++) {
        vmsec_profile *p = (vmsec_profile *)1, *q = NULL;
        int r;
        memcpy(buf, orig, len + 1);
        for (int k = 0, n = 1 + (int)randombytes_uniform(4); k < n; k++) {
            size_t at = randombytes_uniform((uint32_t)len);
            static const char pool[] = "0123456789-,^=#.\n\r\t xK";
            buf[at] = randombytes_uniform(4) ? pool[randombytes_uniform(sizeof(pool) - 1)] : (char)randombytes_random();
        }
        r = vmsec_profile_parse(&p, buf, len, "m.conf");
        if (r != 0) {
            ck_assert_int_eq(r, VMSEC_EFORMAT);
            ck_assert_ptr_null(p);
            ck_assert_int_eq(strncmp(vmsec_error_last(), "profile m.conf:", 15), 0);
            continue;
        }
        accepted++;
        {   /* whatever is accepted round-trips */
            char *t = to_text(p);
            ck_assert_msg(vmsec_profile_parse(&q, t, strlen(t), "canon") == 0, "%s", vmsec_error_last());
            ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
            free(t);
        }
        vmsec_profile_free(p);
        vmsec_profile_free(q);
    }
    ck_assert_int_gt(accepted, 0);
    free(buf);
    free(orig);
}
END_TEST

/* ---- round trips ------------------------------------------------------------------------- */

START_TEST(example_round_trip_is_canonical)
{
    char path[PATH_MAX];
    vmsec_profile *p = NULL, *q;
    char *t1, *t2;
    snprintf(path, sizeof(path), "%s/examples/profiles/full.conf", srcdir());
    ck_assert_int_eq(vmsec_profile_load_file(&p, path), 0);
    t1 = to_text(p);
    q = parse_ok(t1);
    ck_assert_int_eq(vmsec_profile_equal(p, q), 1);
    t2 = to_text(q);
    ck_assert_str_eq(t1, t2);
    ck_assert_str_eq(t1,
                     "name = full-example\nvcpus = 4\niothreads = 2\n"
                     "vcpu.0.pin = 4\nvcpu.1.pin = 5\nvcpu.2.pin = 6\nvcpu.3.pin = 7\n"
                     "emulator.pin = 0-1,3\niothread.1.pin = 2\niothread.2.pin = 2-3\n"
                     "cpu.shares = 2048\n"
                     "cpu.vcpu_period = 100000\ncpu.vcpu_quota = 80000\n"
                     "cpu.emulator_period = 100000\ncpu.emulator_quota = 20000\n"
                     "cpu.iothread_period = 100000\ncpu.iothread_quota = -1\n"
                     "cpu.global_period = 100000\ncpu.global_quota = 350000\n"
                     "numa.mode = strict\nnuma.nodeset = 0\n"
                     "memory.hard_limit = 8G\nmemory.soft_limit = 6G\nmemory.swap_hard_limit = 8G\n"
                     "memory.locked = yes\nmemory.hugepages.size = 2M\nmemory.hugepages.nodeset = 0\n"
                     "memory.nosharepages = yes\nblkio.weight = 500\n"
                     "blkio.device.0.path = /dev/vdb\nblkio.device.0.weight = 800\n"
                     "blkio.device.0.read_bytes_sec = 200M\nblkio.device.0.write_bytes_sec = 100M\n"
                     "blkio.device.0.read_iops_sec = 20000\nblkio.device.0.write_iops_sec = 10000\n");
    free(t1);
    free(t2);
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

START_TEST(order_spelling_and_device_labels_do_not_matter)
{
    vmsec_profile *a = parse_ok("memory.hard_limit = 4096M\nvcpu.1.pin = 3,2\nvcpu.0.pin = 0-1\n"
                                "blkio.device.9.path = /dev/b\nblkio.device.9.weight = 100\n"
                                "blkio.device.2.path = /dev/a\nblkio.device.2.read_iops_sec = 7\nmemory.locked = on\n");
    vmsec_profile *b = parse_ok("blkio.device.0.path = /dev/a\nblkio.device.0.read_iops_sec = 7\n"
                                "blkio.device.1.path = /dev/b\nblkio.device.1.weight = 100\n"
                                "memory.locked = yes\nvcpu.0.pin = 0,1\nvcpu.1.pin = 2-3\nmemory.hard_limit = 4G\n");
    char da[VMSEC_PROFILE_DIGEST_MAX], db[VMSEC_PROFILE_DIGEST_MAX];
    char *ta = to_text(a), *tb = to_text(b);
    ck_assert_int_eq(vmsec_profile_equal(a, b), 1);
    ck_assert_str_eq(ta, tb);
    ck_assert_int_eq(vmsec_profile_digest(a, da, sizeof(da)), 0);
    ck_assert_int_eq(vmsec_profile_digest(b, db, sizeof(db)), 0);
    ck_assert_str_eq(da, db);
    free(ta);
    free(tb);
    vmsec_profile_free(a);
    vmsec_profile_free(b);
}
END_TEST

static uint32_t pick(uint32_t n)
{
    return randombytes_uniform(n);
}

/* Builds a random consistent profile through the typed setters. */
static vmsec_profile *random_profile(void)
{
    vmsec_profile *p = NULL;
    char set[64], name[32];
    ck_assert_int_eq(vmsec_profile_new(&p), 0);
    if (pick(2)) {
        snprintf(name, sizeof(name), "p-%u.x_%u", pick(1000), pick(10));
        ck_assert_int_eq(vmsec_profile_set_name(p, name), 0);
    }
    unsigned nv = 1 + pick(64);
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_vcpus(p, nv), 0);
    for (unsigned i = 0, n = pick(6); i < n; i++) {
        unsigned lo = pick(8000);
        snprintf(set, sizeof(set), "%u-%u,%u,^%u", lo, lo + pick(100), pick(8192), lo);
        if (vmsec_profile_set_vcpu_pin(p, pick(nv), set) != 0) /* set may be empty after exclusion */
            ck_assert_int_eq(vmsec_error_last_code(), VMSEC_EFORMAT);
    }
    if (pick(2)) {
        snprintf(set, sizeof(set), "%u", pick(8192));
        ck_assert_int_eq(vmsec_profile_set_emulator_pin(p, set), 0);
    }
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_iothreads(p, 1 + pick(8)), 0);
    for (unsigned i = 0, n = pick(3); i < n; i++) {
        snprintf(set, sizeof(set), "%u-%u", i, i + pick(4));
        ck_assert_int_eq(vmsec_profile_set_iothread_pin(p, 1 + pick(8192), set), 0);
    }
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_cpu_shares(p, 2 + pick(262143)), 0);
    for (int s = 0; s < 4; s++) {
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_cpu_period(p, s, 1000 + pick(999001)), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_cpu_quota(p, s, pick(3) ? 1000 + (int64_t)pick(1u << 31) * 8191 : -1), 0);
    }
    if (pick(2)) {
        int mode = (int)pick(4);
        ck_assert_int_eq(vmsec_profile_set_numa_mode(p, mode), 0);
        snprintf(set, sizeof(set), mode == VMSEC_NUMA_PREFERRED ? "%u" : "0-%u", pick(4));
        ck_assert_int_eq(vmsec_profile_set_numa_nodeset(p, set), 0);
    }
    if (pick(2)) {
        uint64_t hard = (1 + (uint64_t)pick(1u << 30)) << (10 + pick(20));
        ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_HARD_LIMIT, hard), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_SOFT_LIMIT, (hard / 2048 + 1) * 1024), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_memory_limit(p, VMSEC_MEMORY_SWAP_HARD_LIMIT,
                                                            pick(2) ? VMSEC_PROFILE_UNLIMITED : hard), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_memory_locked(p, (int)pick(2)), 0);
    }
    if (pick(2)) {
        ck_assert_int_eq(vmsec_profile_set_hugepage_size(p, pick(4) ? 1ull << (16 + pick(19)) : VMSEC_PROFILE_UNLIMITED), 0);
        if (pick(2))
            ck_assert_int_eq(vmsec_profile_set_hugepage_nodeset(p, pick(2) ? "0" : "0-1,3"), 0);
    }
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_nosharepages(p, (int)pick(2)), 0);
    if (pick(2))
        ck_assert_int_eq(vmsec_profile_set_blkio_weight(p, 10 + pick(991)), 0);
    for (unsigned i = 0, n = pick(4); i < n; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/dev/vd%c", 'a' + (int)pick(26));
        for (int f = 0; f < 5; f++)
            if (pick(2) || f == 4)
                ck_assert_int_eq(vmsec_profile_set_blkio_device(p, path, f, f == 0 ? 10 + pick(991) :
                                                                f < 3 ? (1 + (uint64_t)pick(1u << 31)) << pick(30) :
                                                                1 + pick(1000000)), 0);
    }
    return p;
}

START_TEST(random_profiles_round_trip)
{
    for (int i = 0; i < 300; i++) {
        vmsec_profile *p = random_profile(), *q = NULL, *d = NULL;
        char *t1 = to_text(p), *t2;
        char d1[VMSEC_PROFILE_DIGEST_MAX], d2[VMSEC_PROFILE_DIGEST_MAX];
        ck_assert_msg(vmsec_profile_parse(&q, t1, strlen(t1), "rt") == 0, "%s\n%s", vmsec_error_last(), t1);
        ck_assert_msg(vmsec_profile_equal(p, q) == 1, "not equal after round trip:\n%s", t1);
        t2 = to_text(q);
        ck_assert_str_eq(t1, t2);
        ck_assert_int_eq(vmsec_profile_digest(p, d1, sizeof(d1)), 0);
        ck_assert_int_eq(vmsec_profile_digest(q, d2, sizeof(d2)), 0);
        ck_assert_str_eq(d1, d2);
        ck_assert_int_eq(vmsec_profile_dup(q, &d), 0);
        ck_assert_int_eq(vmsec_profile_equal(p, d), 1);
        free(t1);
        free(t2);
        vmsec_profile_free(p);
        vmsec_profile_free(q);
        vmsec_profile_free(d);
    }
}
END_TEST

void profile_add_text_tests(TCase *tc)
{
    tcase_add_test(tc, crlf_blanks_comments_tabs_and_missing_final_newline);
    tcase_add_test(tc, hostile_inputs_are_rejected_cleanly);
    tcase_add_test(tc, thousands_of_pins_in_any_order);
    tcase_add_test(tc, mutated_texts_parse_or_fail_cleanly);
    tcase_add_test(tc, example_round_trip_is_canonical);
    tcase_add_test(tc, order_spelling_and_device_labels_do_not_matter);
    tcase_add_test(tc, random_profiles_round_trip);
}
