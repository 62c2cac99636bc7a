/* SPDX-License-Identifier: ISC */
/* vmsecd without libvirt: its command line, its audit records, the state rendered as the
 * control socket's JSON document and as Prometheus text, and the hook's replan. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"
#include "vmsecd.h"

/* getopt wants writable strings: parse copies (the options keep pointing into them, so the copy
 * lives until parsed_free(), at the end of the test). */
static char **copy;
static int copy_argc;

static int parse(vmsecd_options *o, int argc, const char **argv)
{
    copy = calloc((size_t)argc + 1, sizeof(*copy));
    copy_argc = argc;
    for (int i = 0; i < argc; i++)
        copy[i] = strdup(argv[i]);
    return vmsecd_options_parse(o, argc, copy);
}

static void parsed_free(void)
{
    for (int i = 0; copy && i < copy_argc; i++)
        free(copy[i]);
    free(copy);
    copy = NULL;
}

START_TEST(defaults_watch_the_system_uri)
{
    vmsecd_options o;
    const char *argv[] = {"vmsecd", NULL};
    ck_assert_int_eq(parse(&o, 1, argv), 0);
    ck_assert_uint_eq(o.nuris, 1);
    ck_assert_str_eq(o.uris[0], "qemu:///system");
    ck_assert_uint_eq(o.interval, 60);
    ck_assert_int_eq(o.drift, VMSECD_DRIFT_REPORT);
    ck_assert_uint_eq(o.repair_min_interval, 30);
    ck_assert_ptr_null(o.audit);
    ck_assert(!o.status);
    parsed_free();
}
END_TEST

START_TEST(options_are_read)
{
    vmsecd_options o;
    const char *argv[] = {"vmsecd", "-c", "qemu:///system", "--connect", "qemu+tcp://h/system", "--interval", "5",
                          "--drift", "repair", "--repair-min-interval", "0", "--audit", "a.log", "--control", "c.sock",
                          "--metrics", "127.0.0.1:9464", "--match", "web-*", NULL};
    ck_assert_int_eq(parse(&o, 19, argv), 0);
    ck_assert_uint_eq(o.nuris, 2);
    ck_assert_str_eq(o.uris[1], "qemu+tcp://h/system");
    ck_assert_uint_eq(o.interval, 5);
    ck_assert_int_eq(o.drift, VMSECD_DRIFT_REPAIR);
    ck_assert_uint_eq(o.repair_min_interval, 0);
    ck_assert_str_eq(o.audit, "a.log");
    ck_assert_str_eq(o.control, "c.sock");
    ck_assert_str_eq(o.metrics, "127.0.0.1:9464");
    ck_assert_str_eq(o.match, "web-*");
    parsed_free();
}
END_TEST

START_TEST(status_mode_is_read)
{
    vmsecd_options o;
    const char *argv[] = {"vmsecd", "--status", "--json", "--control", "x.sock", NULL};
    ck_assert_int_eq(parse(&o, 5, argv), 0);
    ck_assert(o.status && o.json);
    parsed_free();
}
END_TEST

/* Usage errors exit 2 (each test runs in its own process). */
START_TEST(unknown_drift_policy_is_a_usage_error)
{
    vmsecd_options o;
    const char *argv[] = {"vmsecd", "--drift", "ignore", NULL};
    parse(&o, 3, argv);
}
END_TEST

START_TEST(zero_interval_is_a_usage_error)
{
    vmsecd_options o;
    const char *argv[] = {"vmsecd", "--interval", "0", NULL};
    parse(&o, 3, argv);
}
END_TEST

START_TEST(metrics_without_port_is_a_usage_error)
{
    vmsecd_options o;
    const char *argv[] = {"vmsecd", "--metrics", "localhost", NULL};
    parse(&o, 3, argv);
}
END_TEST

START_TEST(json_without_status_is_a_usage_error)
{
    vmsecd_options o;
    const char *argv[] = {"vmsecd", "--json", NULL};
    parse(&o, 2, argv);
}
END_TEST

/* Two URIs: one connected with a drifted and an ok domain, one down with none. */
static vmsecd_domain drifted = {.uuid = "6f1c1a52-0000-4000-8000-000000000001", .name = "web\"1",
                                .profile = "web", .digest = "sha256:ab", .status = VMSECD_DRIFTED,
                                .repairs = 2, .last_verify = 1700000000.5};
static vmsecd_domain fine = {.uuid = "6f1c1a52-0000-4000-8000-000000000002", .name = "db", .profile = "db",
                             .digest = "sha256:cd", .status = VMSECD_OK, .last_verify = 1700000001};

static void fill(vmsecd *d)
{
    memset(d, 0, sizeof(*d));
    drifted.drifted = strdup("vcpu.0.pin,cpu.shares");
    drifted.next = &fine;
    d->nuris = 2;
    d->uris[0].uri = "qemu:///system";
    snprintf(d->uris[0].host, sizeof(d->uris[0].host), "h1");
    d->uris[0].conn = (virConnectPtr)&d->uris[0]; /* only compared with NULL */
    d->uris[0].domains = &drifted;
    d->uris[0].last_resync = 1700000000;
    d->uris[0].event_lag = 0.25;
    d->uris[1].uri = "qemu+tcp://h\"2/system";
    d->uris[1].reconnects = 3;
    d->drifts = 4;
    d->repairs = 2;
    d->verifies = 10;
    d->verify_seconds_sum = 1.5;
    d->opt.drift = VMSECD_DRIFT_REPAIR;
}

START_TEST(state_as_json)
{
    vmsecd d;
    json_error_t err;
    fill(&d);
    char *text = vmsecd_state_json(&d);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_null(strchr(text, '\n'));
    json_t *doc = json_loads(text, 0, &err);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "drift_policy")), "repair");
    json_t *u0 = json_array_get(json_object_get(doc, "uris"), 0), *u1 = json_array_get(json_object_get(doc, "uris"), 1);
    ck_assert(json_is_true(json_object_get(u0, "connected")));
    ck_assert(json_is_false(json_object_get(u1, "connected")));
    ck_assert(json_is_null(json_object_get(u1, "last_resync")));
    ck_assert_int_eq(json_integer_value(json_object_get(u1, "reconnects")), 3);
    json_t *e = json_array_get(json_object_get(u0, "domains"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "name")), "web\"1");
    ck_assert_str_eq(json_string_value(json_object_get(e, "status")), "drift");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(e, "drifted"), 1)), "cpu.shares");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "repairs")), 2);
    e = json_array_get(json_object_get(u0, "domains"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "status")), "ok");
    ck_assert_uint_eq(json_array_size(json_object_get(e, "drifted")), 0);
    json_decref(doc);
    free(text);
    free(drifted.drifted);
}
END_TEST

START_TEST(state_as_prometheus_text)
{
    vmsecd d;
    fill(&d);
    char *text = vmsecd_state_metrics(&d);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE vmsecd_domains gauge\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_domains{uri=\"qemu:///system\",status=\"drift\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_domains{uri=\"qemu:///system\",status=\"ok\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_domains{uri=\"qemu+tcp://h\\\"2/system\",status=\"ok\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_connected{uri=\"qemu:///system\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_reconnects_total{uri=\"qemu+tcp://h\\\"2/system\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_event_lag_seconds{uri=\"qemu:///system\"} 0.250000\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_drifts_total 4\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_repairs_total 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_verify_duration_seconds_count 10\n"));
    ck_assert_ptr_nonnull(strstr(text, "vmsecd_verify_duration_seconds_sum 1.500000\n"));
    free(text);
    free(drifted.drifted);
}
END_TEST

START_TEST(audit_records_are_json_lines)
{
    char dir[256], path[300], line[1024];
    vmsecd d;
    json_error_t err;
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/audit", dir);
    fill(&d);
    d.opt.audit = path;
    ck_assert_int_eq(vmsecd_audit_open(&d), 0);
    vmsecd_audit(&d, "drift", &d.uris[0], &drifted, "setting", "vcpu.0.pin", "expected", "0-1", "actual", "0",
                 "skipped", (const char *)NULL, (char *)NULL);
    fclose(d.audit);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    json_t *o = json_loads(line, 0, &err);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "event")), "drift");
    ck_assert_str_eq(json_string_value(json_object_get(o, "uri")), "qemu:///system");
    ck_assert_str_eq(json_string_value(json_object_get(o, "host")), "h1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "domain")), "web\"1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "profile")), "web");
    ck_assert_str_eq(json_string_value(json_object_get(o, "expected")), "0-1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "actual")), "0");
    ck_assert_ptr_null(json_object_get(o, "skipped"));
    ck_assert_ptr_nonnull(json_object_get(o, "time"));
    json_decref(o);
    unlink(path);
    rmdir(dir);
    free(drifted.drifted);
}
END_TEST

/* ---- the hook's replan, without libvirt (replan.c calls none) ---------------------------------- */

static vmsecd rp;
static vmsecd_domain holder = {.name = "holder"};

/* A vmsecd with one connection on a 4-CPU, one-node host (no SMT) where 'holder' pins CPUs 0-1. */
static void replan_setup(void)
{
    static const char topo[] = "cpu 0 node 0 socket 0 core 0\ncpu 1 node 0 socket 0 core 1\n"
                               "cpu 2 node 0 socket 0 core 2\ncpu 3 node 0 socket 0 core 3\n";
    memset(&rp, 0, sizeof(rp));
    rp.nuris = 1;
    rp.uris[0].uri = "test:///replan";
    rp.uris[0].conn = (virConnectPtr)&rp; /* never used: only "connected" matters */
    rp.uris[0].d = &rp;
    rp.uris[0].domains = &holder;
    holder.pins = strdup("0,1,0-1");
    rp.audit = fopen("/dev/null", "w");
    ck_assert_int_eq(vmsec_topology_parse(&rp.uris[0].topology, topo, strlen(topo), "test"), 0);
}

static void replan_teardown(void)
{
    vmsecd_replan_clear(&rp);
    vmsec_topology_free(rp.uris[0].topology);
    free(holder.pins);
    holder.pins = NULL;
    fclose(rp.audit);
}

/* Domain XML for 'moved' with its vCPUs pinned as given, and the profile recorded (digest set
 * right unless bad_digest). */
static char *domain_xml(const char *pin0, const char *pin1, bool record, bool bad_digest)
{
    char text[512], digest[VMSEC_PROFILE_DIGEST_MAX], *xml;
    vmsec_profile *p;
    snprintf(text, sizeof(text), "name = moving\nvcpus = 2\nvcpu.0.pin = %s\nvcpu.1.pin = %s\nemulator.pin = %s,%s\n",
             pin0, pin1, pin0, pin1);
    ck_assert_int_eq(vmsec_profile_parse(&p, text, strlen(text), "test"), 0);
    ck_assert_int_eq(vmsec_profile_digest(p, digest, sizeof(digest)), 0);
    vmsec_profile_free(p);
    if (bad_digest)
        digest[10] = digest[10] == '0' ? '1' : '0';
    ck_assert_int_ge(asprintf(&xml,
                              "<domain type='kvm'><name>moved</name><vcpu>2</vcpu><cputune>"
                              "<vcpupin vcpu='0' cpuset='%s'/><vcpupin vcpu='1' cpuset='%s'/></cputune>%s%s%s%s%s"
                              "<os><type>hvm</type></os></domain>",
                              pin0, pin1, record ? "<metadata><vmsec:profile xmlns:vmsec='" VMSEC_METADATA_URI
                                                   "' name='moving' digest='" : "",
                              record ? digest : "", record ? "'>" : "", record ? text : "",
                              record ? "</vmsec:profile></metadata>" : ""), 0);
    return xml;
}

START_TEST(replan_moves_off_held_cpus)
{
    char *xml = domain_xml("0", "1", true, false);
    json_t *r = vmsecd_replan(&rp, xml, NULL);
    ck_assert(json_is_true(json_object_get(r, "ok")));
    ck_assert(json_is_true(json_object_get(r, "changed")));
    const char *out = json_string_value(json_object_get(r, "xml"));
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(strstr(out, "<vcpupin vcpu=\"0\" cpuset=\"2\"/>"));
    ck_assert_ptr_nonnull(strstr(out, "<vcpupin vcpu=\"1\" cpuset=\"3\"/>"));
    ck_assert_ptr_nonnull(strstr(out, "vcpu.0.pin = 2")); /* the record follows the pins */
    ck_assert_ptr_null(strstr(out, "vcpu.0.pin = 0"));
    ck_assert(vmsecd_replan_pending(&rp, "moved"));
    ck_assert(!vmsecd_replan_take(&rp, "moved", "sha256:00")); /* another record: not the replan */
    ck_assert(!vmsecd_replan_pending(&rp, "moved"));
    json_decref(r);
    free(xml);
}
END_TEST

START_TEST(replan_keeps_free_pins)
{
    char *xml = domain_xml("3", "2", true, false);
    json_t *r = vmsecd_replan(&rp, xml, NULL);
    ck_assert(json_is_true(json_object_get(r, "ok")));
    ck_assert(json_is_false(json_object_get(r, "changed")));
    ck_assert_str_eq(json_string_value(json_object_get(r, "reason")), "the recorded pins are free on this host");
    ck_assert(!vmsecd_replan_pending(&rp, "moved"));
    json_decref(r);
    free(xml);
}
END_TEST

START_TEST(replan_without_profile_changes_nothing)
{
    char *xml = domain_xml("0", "1", false, false);
    json_t *r = vmsecd_replan(&rp, xml, NULL);
    ck_assert(json_is_false(json_object_get(r, "changed")));
    ck_assert_str_eq(json_string_value(json_object_get(r, "reason")), "the domain has no vmsec profile");
    json_decref(r);
    free(xml);
}
END_TEST

START_TEST(replan_refuses_a_damaged_record)
{
    char *xml = domain_xml("0", "1", true, true);
    json_t *r = vmsecd_replan(&rp, xml, NULL);
    ck_assert(json_is_false(json_object_get(r, "ok")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "error")), "damaged"));
    json_decref(r);
    free(xml);
}
END_TEST

START_TEST(replan_without_room_is_an_error)
{
    char *xml = domain_xml("0", "1", true, false);
    free(holder.pins);
    holder.pins = strdup("0-2");
    json_t *r = vmsecd_replan(&rp, xml, NULL);
    ck_assert(json_is_false(json_object_get(r, "ok")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "error")), "cannot place"));
    json_decref(r);
    r = vmsecd_replan(&rp, "<domain", NULL);
    ck_assert(json_is_false(json_object_get(r, "ok")));
    json_decref(r);
    free(xml);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmsecd");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults_watch_the_system_uri);
    tcase_add_test(tc, options_are_read);
    tcase_add_test(tc, status_mode_is_read);
    tcase_add_test(tc, state_as_json);
    tcase_add_test(tc, state_as_prometheus_text);
    tcase_add_test(tc, audit_records_are_json_lines);
    suite_add_tcase(s, tc);
    TCase *replan = tcase_create("replan");
    tcase_add_checked_fixture(replan, replan_setup, replan_teardown);
    tcase_add_test(replan, replan_moves_off_held_cpus);
    tcase_add_test(replan, replan_keeps_free_pins);
    tcase_add_test(replan, replan_without_profile_changes_nothing);
    tcase_add_test(replan, replan_refuses_a_damaged_record);
    tcase_add_test(replan, replan_without_room_is_an_error);
    suite_add_tcase(s, replan);
    /* Usage errors end the process: they need Check's fork mode, which make check-valgrind turns
     * off (CK_FORK=no), so they carry the tag it leaves out. */
    TCase *usage = tcase_create("usage");
    tcase_set_tags(usage, "forks");
    tcase_add_exit_test(usage, unknown_drift_policy_is_a_usage_error, 2);
    tcase_add_exit_test(usage, zero_interval_is_a_usage_error, 2);
    tcase_add_exit_test(usage, metrics_without_port_is_a_usage_error, 2);
    tcase_add_exit_test(usage, json_without_status_is_a_usage_error, 2);
    suite_add_tcase(s, usage);
    return vt_run_suite(s);
}
