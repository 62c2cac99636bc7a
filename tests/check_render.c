/* SPDX-License-Identifier: ISC */
/* Rendering profiles into domain XML: golden output, idempotence, preservation, errors. */
#include <errno.h>
#include <sys/stat.h>

#include <vmsec.h>

#include "testutil.h"

static char *slurp(const char *rel)
{
    char path[PATH_MAX];
    const char *top = getenv("top_srcdir");
    FILE *f;
    char *buf;
    long n;
    snprintf(path, sizeof(path), "%s/tests/data/domain/%s", top ? top : ".", rel);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static vmsec_profile *load(const char *rel)
{
    char *text = slurp(rel);
    vmsec_profile *p = NULL;
    ck_assert_msg(vmsec_profile_parse(&p, text, strlen(text), rel) == 0, "%s", vmsec_error_last());
    free(text);
    return p;
}

static vmsec_profile *from_text(const char *text)
{
    vmsec_profile *p = NULL;
    ck_assert_msg(vmsec_profile_parse(&p, text, strlen(text), "inline") == 0, "%s", vmsec_error_last());
    return p;
}

static char *render_ok(const vmsec_profile *p, const char *xml)
{
    char *out = NULL;
    ck_assert_msg(vmsec_domain_render(p, xml, &out) == 0, "%s", vmsec_error_last());
    ck_assert_ptr_nonnull(out);
    return out;
}

START_TEST(golden_output)
{
    vmsec_profile *p = load("render.conf");
    char *in = slurp("render-in.xml"), *want = slurp("render-out.xml");
    char *out = render_ok(p, in);
    ck_assert_str_eq(out, want);
    vmsec_domain_xml_free(out);
    free(in);
    free(want);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(idempotent)
{
    vmsec_profile *p = load("render.conf");
    char *in = slurp("render-in.xml");
    char *once = render_ok(p, in), *twice = render_ok(p, once);
    ck_assert_str_eq(once, twice);
    vmsec_domain_xml_free(once);
    vmsec_domain_xml_free(twice);
    free(in);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(preserves_unrelated)
{
    vmsec_profile *p = load("render.conf");
    char *in = slurp("render-in.xml"), *out = render_ok(p, in);
    ck_assert_ptr_nonnull(strstr(out, "<!-- managed by the orchestrator: keep this comment -->"));
    ck_assert_ptr_nonnull(strstr(out, "<app:owner xmlns:app=\"https://example.org/app\">team-a</app:owner>"));
    ck_assert_ptr_nonnull(strstr(out, "<min_guarantee unit=\"KiB\">1024</min_guarantee>"));
    ck_assert_ptr_nonnull(strstr(out, "<source type=\"memfd\"/>"));
    ck_assert_ptr_nonnull(strstr(out, "<vcpupin vcpu=\"3\" cpuset=\"7\"/>")); /* not in the profile: kept */
    ck_assert_ptr_nonnull(strstr(out, "<source dev=\"/dev/vg0/web1\"/>"));
    /* changed in place, not duplicated */
    ck_assert_ptr_null(strstr(strstr(out, "<vcpupin vcpu=\"0\"") + 1, "<vcpupin vcpu=\"0\""));
    ck_assert_ptr_null(strstr(out, "<locked/>")); /* memory.locked = no removes it */
    ck_assert_ptr_null(strstr(out, "2048</shares>"));
    vmsec_domain_xml_free(out);
    free(in);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(empty_profile_changes_nothing)
{
    vmsec_profile *p = NULL, *q = load("render.conf");
    char *in = slurp("render-in.xml"), *a, *b;
    ck_assert_int_eq(vmsec_profile_new(&p), 0);
    a = render_ok(p, in);
    b = render_ok(p, a);
    ck_assert_str_eq(a, b);
    ck_assert_ptr_nonnull(strstr(a, "<shares>2048</shares>"));
    ck_assert_ptr_nonnull(strstr(a, "<locked/>"));
    ck_assert_ptr_null(strstr(a, "<numatune>"));
    vmsec_domain_xml_free(a);
    vmsec_domain_xml_free(b);
    free(in);
    vmsec_profile_free(p);
    vmsec_profile_free(q);
}
END_TEST

START_TEST(unlimited_and_flags)
{
    vmsec_profile *p = from_text("memory.hard_limit = unlimited\nmemory.hugepages.size = default\n");
    vmsec_profile *q = from_text("memory.hard_limit = 4G\nmemory.locked = yes\n");
    char *in = slurp("render-in.xml"), *out = render_ok(p, in), *out2;
    ck_assert_ptr_null(strstr(out, "<hard_limit"));
    ck_assert_ptr_nonnull(strstr(out, "<min_guarantee")); /* memtune kept for its other child */
    ck_assert_ptr_nonnull(strstr(out, "<hugepages/>"));
    out2 = render_ok(q, "<domain><name>x</name><devices/></domain>");
    ck_assert_ptr_nonnull(strstr(out2, "<memoryBacking>\n    <locked/>\n  </memoryBacking>"));
    ck_assert_ptr_nonnull(strstr(out2, "<hard_limit unit=\"KiB\">4194304</hard_limit>"));
    vmsec_domain_xml_free(out2);
    vmsec_profile_free(q);
    vmsec_domain_xml_free(out);
    free(in);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(new_elements_before_devices)
{
    vmsec_profile *p = from_text("vcpu.0.pin = 1\nblkio.weight = 100\n");
    const char *in = "<domain type='qemu'><name>x</name><vcpu>1</vcpu><devices/></domain>";
    char *out = render_ok(p, in);
    char *ct = strstr(out, "<cputune>"), *bt = strstr(out, "<blkiotune>"), *dv = strstr(out, "<devices/>");
    ck_assert_ptr_nonnull(ct);
    ck_assert_ptr_nonnull(bt);
    ck_assert_ptr_nonnull(dv);
    ck_assert(ct < dv && bt < dv);
    vmsec_domain_xml_free(out);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(errors)
{
    vmsec_profile *p = from_text("vcpus = 2\nvcpu.0.pin = 1\n"), *q = from_text("vcpu.5.pin = 1\n");
    vmsec_profile *io = from_text("iothread.3.pin = 0\n");
    char *in = slurp("render-in.xml"), *out = (char *)1;

    ck_assert_int_eq(vmsec_domain_render(p, "<domain><name>x</name", &out), VMSEC_EFORMAT);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "malformed XML"));
    ck_assert_int_eq(vmsec_domain_render(p, "<network><name>x</name></network>", &out), VMSEC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "<domain>"));
    /* the profile wants 2 vCPUs, the domain has 4 */
    ck_assert_int_eq(vmsec_domain_render(p, in, &out), VMSEC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "vcpus"));
    /* vCPU 5 of a 4-vCPU domain; I/O thread 3 of a domain with 2 */
    ck_assert_int_eq(vmsec_domain_render(q, in, &out), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_domain_render(io, in, &out), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_domain_render(NULL, in, &out), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_domain_render(p, NULL, &out), VMSEC_EINVAL);
    free(in);
    vmsec_profile_free(p);
    vmsec_profile_free(q);
    vmsec_profile_free(io);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, golden_output);
    tcase_add_test(tc, idempotent);
    tcase_add_test(tc, preserves_unrelated);
    tcase_add_test(tc, empty_profile_changes_nothing);
    tcase_add_test(tc, unlimited_and_flags);
    tcase_add_test(tc, new_elements_before_devices);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
