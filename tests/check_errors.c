/* SPDX-License-Identifier: ISC */
/* Error model, version queries and initialisation. */
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include <vmsec.h>

#include "testutil.h"

START_TEST(strerror_names_every_code)
{
    for (int code = VMSEC_EINVAL; code >= VMSEC_EPEERDEAD; code--) {
        const char *s = vmsec_strerror(code);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strcmp(s, "unknown error") != 0, "code %d has no description", code);
    }
    ck_assert_str_eq(vmsec_strerror(VMSEC_OK), "success");
    ck_assert_str_eq(vmsec_strerror(VMSEC_EAUTH), "authentication failed");
}
END_TEST

START_TEST(strerror_unknown_codes)
{
    ck_assert_str_eq(vmsec_strerror(1), "unknown error");
    ck_assert_str_eq(vmsec_strerror(VMSEC_ESESSIONLOST - 1), "unknown error");
    ck_assert_str_eq(vmsec_strerror(-100000), "unknown error");
    ck_assert_str_eq(vmsec_strerror((int)0x80000000u), "unknown error");
}
END_TEST

/* The numeric values are ABI: a renumbering must break this test. */
START_TEST(codes_are_pinned)
{
    ck_assert_int_eq(VMSEC_EINVAL, -1);
    ck_assert_int_eq(VMSEC_EIO, -3);
    ck_assert_int_eq(VMSEC_EAGAIN, -8);
    ck_assert_int_eq(VMSEC_EAUTH, -9);
    ck_assert_int_eq(VMSEC_ECLOSED, -12);
    ck_assert_int_eq(VMSEC_ETRUNCATED, -13);
    ck_assert_int_eq(VMSEC_ELIBVIRT, -18);
    ck_assert_int_eq(VMSEC_EDRIFT, -25);
    ck_assert_int_eq(VMSEC_EINTERNAL, -26);
    ck_assert_int_eq(VMSEC_EPEERTOOBIG, -27);
    ck_assert_int_eq(VMSEC_EPEERDEAD, -28);
    ck_assert_int_eq(VMSEC_ESESSIONLOST, -29);
    ck_assert_str_ne(vmsec_strerror(VMSEC_ESESSIONLOST), "unknown error");
}
END_TEST

START_TEST(error_last_carries_context_and_clears)
{
    vmsec_keypair *kp = NULL;
    vmsec_error_clear();
    ck_assert_str_eq(vmsec_error_last(), "");
    ck_assert_int_eq(vmsec_error_last_code(), 0);
    ck_assert_int_eq(vmsec_keypair_load(&kp, "/nonexistent/dir/key"), VMSEC_ENOTFOUND);
    ck_assert_ptr_null(kp);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "/nonexistent/dir/key"));
    ck_assert_int_eq(vmsec_error_last_code(), VMSEC_ENOTFOUND);
    /* A later success does not erase the message. */
    ck_assert_int_eq(vmsec_init(), 0);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "/nonexistent/dir/key"));
    vmsec_error_clear();
    ck_assert_str_eq(vmsec_error_last(), "");
}
END_TEST

static void *thread_fails_differently(void *arg)
{
    uint8_t pub[32];
    (void)arg;
    if (vmsec_pubkey_from_text(pub, sizeof(pub), "nonsense") != VMSEC_EFORMAT)
        return (void *)1;
    return strstr(vmsec_error_last(), "not a public key") ? NULL : (void *)2;
}

START_TEST(error_last_is_per_thread)
{
    pthread_t t;
    void *res;
    vmsec_keypair *kp;
    ck_assert_int_eq(vmsec_keypair_load(&kp, "/nonexistent/key-main-thread"), VMSEC_ENOTFOUND);
    ck_assert_int_eq(pthread_create(&t, NULL, thread_fails_differently, NULL), 0);
    ck_assert_int_eq(pthread_join(t, &res), 0);
    ck_assert_ptr_null(res);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "key-main-thread"));
}
END_TEST

static void *thread_init(void *arg)
{
    (void)arg;
    return vmsec_init() == 0 ? NULL : (void *)1;
}

START_TEST(init_is_idempotent_and_thread_safe)
{
    pthread_t t[8];
    void *res;
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, thread_init, NULL), 0);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(pthread_join(t[i], &res), 0);
        ck_assert_ptr_null(res);
    }
    ck_assert_int_eq(vmsec_init(), 0);
    ck_assert_int_eq(vmsec_init(), 0);
}
END_TEST

START_TEST(version_matches_headers)
{
    char expect[32];
    ck_assert_int_eq(vmsec_version_major(), VMSEC_VERSION_MAJOR);
    ck_assert_int_eq(vmsec_version_minor(), VMSEC_VERSION_MINOR);
    ck_assert_int_eq(vmsec_version_patch(), VMSEC_VERSION_PATCH);
    ck_assert_str_eq(vmsec_version_string(), VMSEC_VERSION_STRING);
    snprintf(expect, sizeof(expect), "%d.%d.%d", vmsec_version_major(), vmsec_version_minor(),
             vmsec_version_patch());
    ck_assert_str_eq(vmsec_version_string(), expect);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, strerror_names_every_code);
    tcase_add_test(tc, strerror_unknown_codes);
    tcase_add_test(tc, codes_are_pinned);
    tcase_add_test(tc, error_last_carries_context_and_clears);
    tcase_add_test(tc, error_last_is_per_thread);
    tcase_add_test(tc, init_is_idempotent_and_thread_safe);
    tcase_add_test(tc, version_matches_headers);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
