/* SPDX-License-Identifier: ISC */
/* The domain API on libvirt's embedded test driver (test:///default, domain "test", running and
 * persistent): render, apply to config and live separately, rollback, metadata, verify. */
#include <sys/stat.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <vmsec.h>

#include "testutil.h"

#define URI "test:///default"

static void quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

static void setup(void)
{
    virSetErrorFunc(NULL, quiet);
}

static vmsec_profile *profile(const char *text)
{
    vmsec_profile *p = NULL;
    ck_assert_msg(vmsec_profile_parse(&p, text, strlen(text), "t") == 0, "%s", vmsec_error_last());
    return p;
}

static vmsec_domain *open_test(void)
{
    vmsec_domain *d = NULL;
    ck_assert_msg(vmsec_domain_open(URI, "test", &d) == 0, "%s", vmsec_error_last());
    return d;
}

/* The test driver's host has CPUs 0, 2 and 4 online (of 8). */
static const char *pins = "name = t-pins\nvcpus = 2\nvcpu.0.pin = 2\nvcpu.1.pin = 4\nemulator.pin = 0,2\n"
                          "memory.hard_limit = 1G\nmemory.soft_limit = 512M\n";

static int status_of(const vmsec_report *r, const char *setting, const char *source)
{
    for (size_t i = 0; i < vmsec_report_count(r); i++)
        if (strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SETTING), setting) == 0 &&
            strncmp(vmsec_report_field(r, i, VMSEC_REPORT_SOURCE), source, strlen(source)) == 0)
            return vmsec_report_status(r, i);
    return -1;
}

START_TEST(open_and_wrap)
{
    vmsec_domain *d = NULL;
    virConnectPtr c;
    virDomainPtr dom;
    char *xml = NULL;

    ck_assert_int_eq(vmsec_domain_open(URI, "no-such-domain", &d), VMSEC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "no-such-domain"));
    ck_assert_int_eq(vmsec_domain_open("nosuchdriver:///", "test", &d), VMSEC_ELIBVIRT);
    ck_assert_int_eq(vmsec_domain_open(URI, NULL, &d), VMSEC_EINVAL);
    /* by UUID too */
    ck_assert_int_eq(vmsec_domain_open(URI, "6695eb01-f6a4-8304-79aa-97f2502e193f", &d), 0);
    vmsec_domain_free(d);

    c = virConnectOpen(URI);
    dom = virDomainLookupByName(c, "test");
    ck_assert_int_eq(vmsec_domain_wrap(dom, &d), 0);
    virDomainFree(dom); /* the handle keeps its own reference */
    ck_assert_int_eq(vmsec_domain_get_xml(d, 0, &xml), 0);
    ck_assert_ptr_nonnull(strstr(xml, "<name>test</name>"));
    vmsec_domain_xml_free(xml);
    vmsec_domain_free(d);
    virConnectClose(c);
    ck_assert_int_eq(vmsec_domain_wrap(NULL, &d), VMSEC_EINVAL);
}
END_TEST

START_TEST(render_domain_xml)
{
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile(pins);
    char *xml = NULL, *out = NULL;
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &xml), 0);
    ck_assert_int_eq(vmsec_domain_render(p, xml, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "<vcpupin vcpu=\"0\" cpuset=\"2\"/>"));
    ck_assert_ptr_nonnull(strstr(out, "<hard_limit unit=\"KiB\">1048576</hard_limit>"));
    ck_assert_ptr_nonnull(strstr(out, "<source file=\"/guest/diskimage1\"/>"));
    vmsec_domain_xml_free(out);
    vmsec_domain_xml_free(xml);
    vmsec_profile_free(p);
    vmsec_domain_free(d);
}
END_TEST

START_TEST(apply_config_only)
{
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile(pins), *back = NULL;
    vmsec_report *r = NULL;
    char *cfg = NULL, *live = NULL, digest[VMSEC_PROFILE_DIGEST_MAX], want[VMSEC_PROFILE_DIGEST_MAX];

    ck_assert_msg(vmsec_domain_apply(d, p, VMSEC_AFFECT_CONFIG, &r) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(status_of(r, "configuration", "libvirt"), VMSEC_STATUS_APPLIED);
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "libvirt"), -1); /* nothing live */
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &cfg), 0);
    ck_assert_int_eq(vmsec_domain_get_xml(d, 0, &live), 0);
    ck_assert_ptr_nonnull(strstr(cfg, "<vcpupin vcpu='0' cpuset='2'/>"));
    ck_assert_ptr_nonnull(strstr(cfg, "vmsec:profile"));
    ck_assert_ptr_null(strstr(live, "<vcpupin"));
    /* metadata in the config, not (yet) live */
    ck_assert_int_eq(vmsec_domain_get_applied(d, VMSEC_AFFECT_CONFIG, &back, digest, sizeof(digest)), 0);
    ck_assert_int_eq(vmsec_profile_digest(p, want, sizeof(want)), 0);
    ck_assert_str_eq(digest, want);
    ck_assert_int_eq(vmsec_profile_equal(p, back), 1);
    vmsec_profile_free(back);
    ck_assert_int_eq(vmsec_domain_get_applied(d, 0, &back, NULL, 0), VMSEC_ENOTFOUND);
    vmsec_domain_xml_free(cfg);
    vmsec_domain_xml_free(live);
    vmsec_report_free(r);
    vmsec_profile_free(p);
    vmsec_domain_free(d);
}
END_TEST

START_TEST(apply_live_then_verify)
{
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile(pins), *back = NULL;
    vmsec_report *r = NULL;
    char *cfg = NULL;
    size_t kernel = 0;

    ck_assert_msg(vmsec_domain_apply(d, p, VMSEC_AFFECT_LIVE, &r) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "libvirt"), VMSEC_STATUS_APPLIED);
    ck_assert_int_eq(status_of(r, "memory.hard_limit", "libvirt"), VMSEC_STATUS_APPLIED);
    ck_assert_int_eq(status_of(r, "configuration", "libvirt"), -1);
    vmsec_report_free(r);
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &cfg), 0);
    ck_assert_ptr_null(strstr(cfg, "<vcpupin")); /* config untouched */
    vmsec_domain_xml_free(cfg);
    ck_assert_int_eq(vmsec_domain_get_applied(d, 0, &back, NULL, 0), 0);
    ck_assert_int_eq(vmsec_profile_equal(p, back), 1);
    vmsec_profile_free(back);

    ck_assert_msg(vmsec_domain_verify(d, p, 0, &r) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "libvirt"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "vcpu.1.pin", "libvirt"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "emulator.pin", "libvirt"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "memory.soft_limit", "libvirt"), VMSEC_STATUS_OK);
    for (size_t i = 0; i < vmsec_report_count(r); i++)
        if (strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SOURCE), "kernel") == 0) {
            kernel++;
            ck_assert_int_eq(vmsec_report_status(r, i), VMSEC_STATUS_UNCHECKED);
            ck_assert_str_eq(vmsec_report_field(r, i, VMSEC_REPORT_DETAIL), "cannot be checked here (test driver)");
        }
    ck_assert_uint_eq(kernel, 5);
    ck_assert_int_eq(status_of(r, "profile.digest", "libvirt metadata"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "vcpus", "libvirt"), VMSEC_STATUS_OK);
    ck_assert_uint_eq(vmsec_report_count_status(r, VMSEC_STATUS_DRIFT), 0);
    vmsec_report_free(r);
    vmsec_profile_free(p);
    vmsec_domain_free(d);
}
END_TEST

START_TEST(verify_detects_drift)
{
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile(pins);
    vmsec_report *r = NULL;
    virConnectPtr c = virConnectOpen(URI);
    virDomainPtr dom = virDomainLookupByName(c, "test");
    unsigned char map = 1u << 4;

    ck_assert_int_eq(vmsec_domain_apply(d, p, VMSEC_AFFECT_LIVE, NULL), 0);
    ck_assert_int_eq(virDomainPinVcpuFlags(dom, 0, &map, 1, 0), 0); /* behind vmsec's back */
    ck_assert_int_eq(vmsec_domain_verify(d, p, 0, &r), VMSEC_EDRIFT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "vcpu.0.pin"));
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "libvirt"), VMSEC_STATUS_DRIFT);
    ck_assert_int_eq(status_of(r, "vcpu.1.pin", "libvirt"), VMSEC_STATUS_OK);
    vmsec_report_free(r);
    virDomainFree(dom);
    virConnectClose(c);
    vmsec_profile_free(p);
    vmsec_domain_free(d);
}
END_TEST

/* Pins both vCPUs of the test domain to all its CPUs through libvirt, so its live XML states
 * them (a pin libvirt already states is one apply can set back exactly). */
static void state_pins(void)
{
    unsigned char all = 0xff;
    virConnectPtr c = virConnectOpen(URI);
    virDomainPtr dom = virDomainLookupByName(c, "test");
    for (unsigned int v = 0; v < 2; v++)
        ck_assert_int_eq(virDomainPinVcpuFlags(dom, v, &all, 1, 0), 0);
    virDomainFree(dom);
    virConnectClose(c);
}

START_TEST(failure_rolls_back)
{
    /* The test driver's scheduler has no cpu_shares: the pins go in, then get restored. */
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile("vcpu.0.pin = 4\nvcpu.1.pin = 2\ncpu.shares = 512\n"), *q = profile(pins), *back = NULL;
    vmsec_report *r = NULL;
    char *before = NULL, *after = NULL;

    state_pins();
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &before), 0);
    ck_assert_int_eq(vmsec_domain_apply(d, p, 0, &r), VMSEC_EROLLEDBACK);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "cpu.shares"));
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "rolled back"));
    ck_assert_int_eq(status_of(r, "cpu.shares", "libvirt"), VMSEC_STATUS_FAILED);
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "libvirt"), VMSEC_STATUS_RESTORED);
    ck_assert_int_eq(status_of(r, "configuration", "libvirt"), VMSEC_STATUS_RESTORED);
    vmsec_report_free(r);
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &after), 0);
    ck_assert_str_eq(before, after);
    /* live pins are back to all CPUs: a profile pinning them elsewhere drifts */
    ck_assert_int_eq(vmsec_domain_verify(d, q, 0, &r), VMSEC_EDRIFT);
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "libvirt"), VMSEC_STATUS_DRIFT);
    for (size_t i = 0; i < vmsec_report_count(r); i++)
        if (strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SETTING), "vcpu.0.pin") == 0 &&
            strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SOURCE), "libvirt") == 0)
            ck_assert_str_eq(vmsec_report_field(r, i, VMSEC_REPORT_ACTUAL), "0-7");
    ck_assert_int_eq(vmsec_domain_get_applied(d, 0, &back, NULL, 0), VMSEC_ENOTFOUND);
    ck_assert_ptr_null(back);
    vmsec_report_free(r);
    vmsec_profile_free(p);
    vmsec_domain_xml_free(before);
    vmsec_domain_xml_free(after);
    vmsec_profile_free(q);
    vmsec_domain_free(d);
}
END_TEST

START_TEST(failure_keeps_pristine_live_xml)
{
    /* No pin stated in the live XML: libvirt would keep one once set, so the pins wait until the
     * scheduler value (refused here) went in, and the live XML stays byte for byte. */
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile("vcpu.0.pin = 4\nvcpu.1.pin = 2\ncpu.shares = 512\n");
    vmsec_report *r = NULL;
    char *before = NULL, *after = NULL, *cbefore = NULL, *cafter = NULL;

    ck_assert_int_eq(vmsec_domain_get_xml(d, 0, &before), 0);
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &cbefore), 0);
    ck_assert_int_eq(vmsec_domain_apply(d, p, 0, &r), VMSEC_EROLLEDBACK);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "every change was rolled back"));
    ck_assert_int_eq(status_of(r, "cpu.shares", "libvirt"), VMSEC_STATUS_FAILED);
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "libvirt"), -1); /* never made */
    ck_assert_int_eq(status_of(r, "configuration", "libvirt"), VMSEC_STATUS_RESTORED);
    ck_assert_int_eq(vmsec_domain_get_xml(d, 0, &after), 0);
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &cafter), 0);
    ck_assert_str_eq(before, after);
    ck_assert_str_eq(cbefore, cafter);
    vmsec_report_free(r);
    vmsec_profile_free(p);
    vmsec_domain_xml_free(before);
    vmsec_domain_xml_free(after);
    vmsec_domain_xml_free(cbefore);
    vmsec_domain_xml_free(cafter);
    vmsec_domain_free(d);
}
END_TEST

START_TEST(quota_above_global_changes_nothing)
{
    /* The kernel would refuse it only after the pins went in: found before the configuration. */
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile("vcpu.0.pin = 4\ncpu.vcpu_period = 100000\ncpu.vcpu_quota = 50000\n"
                               "cpu.global_period = 100000\ncpu.global_quota = 10000\n");
    vmsec_report *r = NULL;
    char *before = NULL, *after = NULL;

    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &before), 0);
    ck_assert_int_eq(vmsec_domain_apply(d, p, 0, &r), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "nothing was changed: cpu.vcpu_quota 50000"));
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &after), 0);
    ck_assert_str_eq(before, after);
    vmsec_report_free(r);
    vmsec_profile_free(p);
    vmsec_domain_xml_free(before);
    vmsec_domain_xml_free(after);
    vmsec_domain_free(d);
}
END_TEST

START_TEST(refusals_change_nothing)
{
    vmsec_domain *d = open_test();
    vmsec_profile *lock = profile("memory.hard_limit = 1G\nmemory.locked = yes\n");
    vmsec_profile *cpus = profile("vcpu.0.pin = 1\n"); /* CPU 1 is offline on the test host */
    vmsec_profile *shape = profile("vcpus = 3\nvcpu.0.pin = 2\n");
    vmsec_report *r = NULL;
    char *before = NULL, *after = NULL;

    ck_assert_int_eq(vmsec_domain_get_xml(d, 0, &before), 0);
    ck_assert_int_eq(vmsec_domain_apply(d, lock, VMSEC_AFFECT_LIVE, &r), VMSEC_EUNSUPPORTED);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "next boot"));
    ck_assert_int_eq(vmsec_domain_apply(d, cpus, 0, &r), VMSEC_EHOST);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "CPU(s) 1"));
    /* The refusing host check's report reaches the caller, naming the problem. */
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_ge(vmsec_report_count_status(r, VMSEC_STATUS_PROBLEM), 1);
    {
        int found = 0;
        for (size_t i = 0; i < vmsec_report_count(r); i++)
            found |= vmsec_report_status(r, i) == VMSEC_STATUS_PROBLEM &&
                     strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SETTING), "host.cpus") == 0;
        ck_assert_msg(found, "no host.cpus problem in the apply report");
    }
    vmsec_report_free(r);
    r = NULL;
    ck_assert_int_eq(vmsec_domain_apply(d, shape, 0, &r), VMSEC_EFORMAT);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(vmsec_domain_apply(d, cpus, 0x80, &r), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_domain_get_xml(d, 0, &after), 0);
    ck_assert_str_eq(before, after);
    vmsec_domain_xml_free(before);
    vmsec_domain_xml_free(after);
    vmsec_profile_free(lock);
    vmsec_profile_free(cpus);
    vmsec_profile_free(shape);
    vmsec_domain_free(d);
}
END_TEST

START_TEST(next_boot_settings)
{
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile("memory.hard_limit = 1G\nmemory.locked = yes\nmemory.nosharepages = yes\n");
    vmsec_report *r = NULL;
    char *cfg = NULL;
    ck_assert_msg(vmsec_domain_apply(d, p, 0, &r) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(status_of(r, "memory.backing", "libvirt"), VMSEC_STATUS_NEXT_BOOT);
    ck_assert_int_eq(vmsec_domain_get_xml(d, VMSEC_AFFECT_CONFIG, &cfg), 0);
    ck_assert_ptr_nonnull(strstr(cfg, "<locked/>"));
    ck_assert_ptr_nonnull(strstr(cfg, "<nosharepages/>"));
    vmsec_domain_xml_free(cfg);
    vmsec_report_free(r);
    vmsec_profile_free(p);
    vmsec_domain_free(d);
}
END_TEST

START_TEST(damaged_record_is_refused)
{
    vmsec_domain *d = open_test();
    vmsec_profile *p = profile(pins), *back = NULL;
    vmsec_report *r = NULL;
    virConnectPtr c = virConnectOpen(URI);
    virDomainPtr dom = virDomainLookupByName(c, "test");

    ck_assert_int_eq(vmsec_domain_apply(d, p, VMSEC_AFFECT_LIVE, NULL), 0);
    /* someone edits the recorded text but not its digest */
    ck_assert_int_eq(virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                          "<profile name=\"t-pins\" digest=\"sha256:00\">name = t-pins\n</profile>",
                                          "vmsec", VMSEC_METADATA_URI, VIR_DOMAIN_AFFECT_LIVE),
                     0);
    ck_assert_int_eq(vmsec_domain_get_applied(d, 0, &back, NULL, 0), VMSEC_EFORMAT);
    ck_assert_ptr_null(back);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "does not match"));
    ck_assert_int_eq(vmsec_domain_verify(d, p, 0, &r), VMSEC_EDRIFT);
    ck_assert_int_eq(status_of(r, "profile.digest", "libvirt metadata"), VMSEC_STATUS_DRIFT);
    vmsec_report_free(r);
    virDomainFree(dom);
    virConnectClose(c);
    vmsec_profile_free(p);
    vmsec_domain_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("domain");
    TCase *tc = tcase_create("test-driver");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, open_and_wrap);
    tcase_add_test(tc, render_domain_xml);
    tcase_add_test(tc, apply_config_only);
    tcase_add_test(tc, apply_live_then_verify);
    tcase_add_test(tc, verify_detects_drift);
    tcase_add_test(tc, failure_rolls_back);
    tcase_add_test(tc, failure_keeps_pristine_live_xml);
    tcase_add_test(tc, quota_above_global_changes_nothing);
    tcase_add_test(tc, refusals_change_nothing);
    tcase_add_test(tc, next_boot_settings);
    tcase_add_test(tc, damaged_record_is_refused);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
