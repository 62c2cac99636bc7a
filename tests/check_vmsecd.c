/* SPDX-License-Identifier: ISC */
/* vmsecd without libvirt: its command line, its audit records, and the state rendered as the
 * control socket's JSON document and as Prometheus text. */
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
