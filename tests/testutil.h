/* SPDX-License-Identifier: ISC */
/* Helpers shared by the Check suites: TAP output through automake's tap-driver, scratch dirs. */
#ifndef VMSEC_TESTUTIL_H
#define VMSEC_TESTUTIL_H

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs a suite, one TAP line per test on stdout; returns the process exit status. */
static inline int vt_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Creates a fresh scratch directory under $TMPDIR and writes its path into buf. */
static inline void vt_tmpdir(char *buf, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/vmsec-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

/* Removes a scratch directory and everything in it. */
static inline void vt_rmtree(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes a file with the given mode. */
static inline void vt_write_file(const char *path, const char *data, size_t len, unsigned mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

#endif
