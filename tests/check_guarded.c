/* SPDX-License-Identifier: ISC */
/* The guarded slot allocator behind cipherstates and handshake states: zeroed, aligned, disjoint
 * slots across several chunks, wiped on free, dedicated blocks for large sizes, and thread safety. */
#include <pthread.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "channel/guarded.h"
#include "testutil.h"

#define MANY 700 /* more than one chunk of the small class */

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

START_TEST(slots_are_zeroed_aligned_and_disjoint)
{
    static uint8_t *p[MANY];
    size_t len = _i == 0 ? 160 : _i == 1 ? 1200 : 5000; /* small class, large class, dedicated */
    ck_assert_int_ge(sodium_init(), 0);
    for (int i = 0; i < MANY; i++) {
        ck_assert_ptr_nonnull(p[i] = vmsec__guarded_alloc(len));
        ck_assert_uint_eq((uintptr_t)p[i] % 64, 0);
        ck_assert(all_zero(p[i], len));
        memset(p[i], (uint8_t)(i + 1), len);
    }
    /* every slot still holds its own pattern: no two overlap */
    for (int i = 0; i < MANY; i++) {
        ck_assert_uint_eq(p[i][0], (uint8_t)(i + 1));
        ck_assert_uint_eq(p[i][len - 1], (uint8_t)(i + 1));
    }
    for (int i = 0; i < MANY; i++)
        vmsec__guarded_free(p[i]);
}
END_TEST

START_TEST(freed_slot_is_wiped_before_reuse)
{
    uint8_t *keep, *a, *b;
    ck_assert_int_ge(sodium_init(), 0);
    keep = vmsec__guarded_alloc(100); /* keeps the chunk alive */
    ck_assert_ptr_nonnull(a = vmsec__guarded_alloc(100));
    memset(a, 0xA5, 100);
    vmsec__guarded_free(a);
    ck_assert_ptr_nonnull(b = vmsec__guarded_alloc(100));
    ck_assert_ptr_eq(a, b); /* the slot just freed is the next one handed out */
    ck_assert(all_zero(b, 192));
    vmsec__guarded_free(b);
    vmsec__guarded_free(keep);
    vmsec__guarded_free(NULL);
}
END_TEST

static void *churn(void *arg)
{
    uint8_t tag = (uint8_t)(uintptr_t)arg;
    for (int i = 0; i < 20000; i++) {
        uint8_t *p = vmsec__guarded_alloc(i % 2 ? 150 : 1500);
        size_t len = i % 2 ? 150 : 1500;
        if (!p || !all_zero(p, len))
            return (void *)1;
        memset(p, tag, len);
        if (p[0] != tag || p[len - 1] != tag)
            return (void *)1;
        vmsec__guarded_free(p);
    }
    return NULL;
}

START_TEST(concurrent_alloc_and_free)
{
    pthread_t t1, t2;
    void *r1, *r2;
    ck_assert_int_ge(sodium_init(), 0);
    ck_assert_int_eq(pthread_create(&t1, NULL, churn, (void *)(uintptr_t)0x11), 0);
    ck_assert_int_eq(pthread_create(&t2, NULL, churn, (void *)(uintptr_t)0x22), 0);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    ck_assert_ptr_null(r1);
    ck_assert_ptr_null(r2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("guarded");
    TCase *tc = tcase_create("slots");
    tcase_add_loop_test(tc, slots_are_zeroed_aligned_and_disjoint, 0, 3);
    tcase_add_test(tc, freed_slot_is_wiped_before_reuse);
    tcase_add_test(tc, concurrent_alloc_and_free);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
