/* SPDX-License-Identifier: ISC */
/* Regression tests for defects found by the sanitizer, valgrind and fuzzing runs. Each test names
 * the run that found the defect; the defect must stay fixed even in builds without that tool. */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include "common/internal.h"
#include "testutil.h"
#include "vmsec/errors.h"
#include "vmsec/keys.h"

/* valgrind (check_keys, pubkey_file): vmsec_pubkey_load_file() wraps the parser's message as
 * vmsec__error(rc, "%s:%u: %s", path, line, vmsec_error_last()), so the thread's message buffer was
 * both the source and the destination of vsnprintf: undefined behaviour, garbled text. */
START_TEST(error_context_may_quote_the_previous_message)
{
    vmsec__error(VMSEC_EFORMAT, "inner problem %d", 42);
    ck_assert_int_eq(vmsec__error(VMSEC_EFORMAT, "file.pub:3: %s", vmsec_error_last()), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "file.pub:3: inner problem 42");
    vmsec__error(VMSEC_EIO, "%s / %s", vmsec_error_last(), vmsec_error_last());
    ck_assert_str_eq(vmsec_error_last(), "file.pub:3: inner problem 42 / file.pub:3: inner problem 42");
    ck_assert_int_eq(vmsec_error_last_code(), VMSEC_EIO);
}
END_TEST

/* A message longer than the buffer is truncated, still NUL-terminated, and quoting it is safe. */
START_TEST(long_messages_truncate_safely)
{
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    vmsec__error(VMSEC_EINVAL, "%s", big);
    size_t len = strlen(vmsec_error_last());
    ck_assert_uint_gt(len, 100);
    ck_assert_uint_lt(len, sizeof(big) - 1);
    vmsec__error(VMSEC_EINVAL, "ctx: %s", vmsec_error_last());
    ck_assert_int_eq(strncmp(vmsec_error_last(), "ctx: xxx", 8), 0);
    ck_assert_uint_eq(strlen(vmsec_error_last()), len);
}
END_TEST

/* fuzz_keyfile: a key file whose base64 held bytes outside the alphabet (0xff 0xff, decoded by
 * libsodium 1.0.18 as "//") was accepted, so one key had several file forms. */
START_TEST(keyfile_with_non_alphabet_bytes_is_refused)
{
    static const char good[] = "vmsec-private-key-v1 x25519 AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n";
    char dir[PATH_MAX], path[PATH_MAX + 8], bad[sizeof(good)];
    vmsec_keypair *kp = NULL;

    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/key", dir);
    vt_write_file(path, good, sizeof(good) - 1, 0600);
    ck_assert_int_eq(vmsec_keypair_load(&kp, path), 0);
    vmsec_keypair_free(kp);
    for (size_t i = strlen("vmsec-private-key-v1 x25519 "); i < sizeof(good) - 3; i++) {
        memcpy(bad, good, sizeof(good));
        bad[i] = (char)0xff;
        vt_write_file(path, bad, sizeof(good) - 1, 0600);
        kp = NULL;
        ck_assert_int_eq(vmsec_keypair_load(&kp, path), VMSEC_EFORMAT);
        ck_assert_ptr_null(kp);
    }
    vt_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hardening");
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, error_context_may_quote_the_previous_message);
    tcase_add_test(tc, long_messages_truncate_safely);
    suite_add_tcase(s, tc);
    tc = tcase_create("keys");
    tcase_add_test(tc, keyfile_with_non_alphabet_bytes_is_refused);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
