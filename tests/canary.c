/* SPDX-License-Identifier: ISC */
/* A Check suite that is wrong on purpose, so the sanitizer and valgrind runs can prove that they
 * turn each kind of defect into a failure (tests/sanitizer-canary.sh, tests/valgrind-canary.sh).
 * VMSEC_CANARY selects the defect: none, leak, overflow or ub. Never part of plain make check. */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

START_TEST(canary)
{
    const char *mode = getenv("VMSEC_CANARY");
    /* Sizes computed at run time so the compiler cannot see (and reject or remove) the defect. */
    size_t n = 8 + (getenv("VMSEC_CANARY_NEVER_SET") != NULL);

    ck_assert_ptr_nonnull(mode);
    if (strcmp(mode, "leak") == 0) {
        char *volatile p = malloc(n);
        p[0] = 1;
        p = NULL;
    } else if (strcmp(mode, "overflow") == 0) {
        char *p = malloc(n);
        ((volatile char *)p)[n] = 1;
        free(p);
    } else if (strcmp(mode, "ub") == 0) {
        volatile int i = INT_MAX;
        i = i + (int)(n - 7);
    } else {
        ck_assert_str_eq(mode, "none");
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("canary");
    TCase *tc = tcase_create("canary");
    tcase_add_test(tc, canary);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
