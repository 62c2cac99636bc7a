/* SPDX-License-Identifier: ISC */
/* Helpers of the check_profile program: a scratch directory per test, parsing that must succeed or
 * fail, serialising to text, reading a file whole. */
#include "check_profile.h"

char dir[512];

void setup(void)
{
    vt_tmpdir(dir, sizeof(dir));
}

void teardown(void)
{
    vt_rmtree(dir);
}

const char *srcdir(void)
{
    const char *s = getenv("top_srcdir");
    return s && *s ? s : ".";
}

vmsec_profile *parse_ok(const char *text)
{
    vmsec_profile *p = NULL;
    int r = vmsec_profile_parse(&p, text, strlen(text), "t.conf");
    ck_assert_msg(r == 0, "parse failed (%d): %s\n--- text:\n%s", r, vmsec_error_last(), text);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Parses text that must fail with VMSEC_EFORMAT and returns the whole message. */
const char *parse_fail(const char *text, size_t len)
{
    vmsec_profile *p = (vmsec_profile *)1;
    int r = vmsec_profile_parse(&p, text, len, "t.conf");
    ck_assert_msg(r == VMSEC_EFORMAT, "expected EFORMAT, got %d for:\n%.200s", r, text);
    ck_assert_ptr_null(p);
    return vmsec_error_last();
}

char *to_text(const vmsec_profile *p)
{
    size_t need = 0;
    char *buf;
    ck_assert_msg(vmsec_profile_to_text(p, NULL, 0, &need) == 0, "%s", vmsec_error_last());
    ck_assert_ptr_nonnull(buf = malloc(need));
    ck_assert_int_eq(vmsec_profile_to_text(p, buf, need, NULL), 0);
    ck_assert_uint_eq(strlen(buf) + 1, need);
    return buf;
}

char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char buf[65536];
    size_t n;
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}
