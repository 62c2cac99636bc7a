/* SPDX-License-Identifier: ISC */
/* vmsec-profile: check, render, host-check, apply and verify isolation profiles.
 *
 *   vmsec-profile [--json] check PROFILE
 *   vmsec-profile [--json] render PROFILE DOMAIN.xml
 *   vmsec-profile [-c URI] [--json] [--wide] host-check PROFILE
 *   vmsec-profile [-c URI] [--json] [--wide] [--live] [--config] apply PROFILE DOMAIN
 *   vmsec-profile [-c URI] [--json] [--wide] verify PROFILE DOMAIN
 *
 * Options may come before or after the subcommand, as with virsh. --json makes every subcommand
 * print one JSON document (the report with the command, profile, digest, domain, URI and time);
 * tables fit 100 columns unless --wide.
 *
 * A profile stating placement intent (cpu.placement = dedicated, see doc/profile-format.md) is
 * planned against the connection's host and domains before host-check, apply and verify; render,
 * which has no connection, refuses it.
 *
 * Exit status: 0 success (verify: every check ok or not checkable here), 1 drift found (verify),
 * 2 error. */
#define _DEFAULT_SOURCE /* gmtime_r */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/virterror.h>
#include <vmsec.h>

#include "common/cli.h"
#include "common/json.h"

#define EXIT_DRIFT 1
#define EXIT_ERROR 2

static cli app;

/* vmsec reports libvirt's errors in its own messages; keep libvirt from printing them too. */
static void quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

static const char *const commands[] = { "check", "render", "host-check", "apply", "verify" };

static const cli_synopsis synopses[] = {
    { "check", "[--json] PROFILE" },
    { "render", "[--json] PROFILE DOMAIN.xml" },
    { "host-check", "[-c URI] [--json] [--wide] PROFILE" },
    { "apply", "[-c URI] [--live] [--config] [--json] [--wide] PROFILE DOMAIN" },
    { "verify", "[-c URI] [--json] [--wide] PROFILE DOMAIN" },
    { NULL, NULL },
};

static const char options[] = "  -c, --connect URI  libvirt connection URI (default: libvirt's default)\n"
                              "  --live             apply to the running domain only\n"
                              "  --config           apply to the persistent configuration only (both: both)\n"
                              "  --json             print one JSON document (errors too) instead of text\n"
                              "  --wide             do not shorten long values in tables (digests)\n"
                              "options may come before or after the command\n";

/* What the command line asked for. */
struct args {
    const char *uri, *profile, *operand; /* operand: DOMAIN or DOMAIN.xml */
    unsigned int flags;
    bool json, wide;
};

static int fail(const char *what)
{
    return cli_fail(&app, what);
}

/* ---- tables ----------------------------------------------------------------------------------- */

#define TABLE_WIDTH 100
#define CELL_MAX 20 /* longer values are shortened unless --wide (a digest is 71 characters) */
#define DETAIL_MIN 20
#define DETAIL_INDENT 4 /* a detail printed under its row */

static const char *const headings[] = { "SETTING", "STATUS", "EXPECTED", "ACTUAL", "SOURCE", "DETAIL" };

/* Field f (0 setting, 1 status, 2 expected, 3 actual, 4 source, 5 detail) of entry i. */
static const char *cell(const vmsec_report *r, size_t i, int f)
{
    static const int field[] = { VMSEC_REPORT_SETTING, -1, VMSEC_REPORT_EXPECTED, VMSEC_REPORT_ACTUAL,
                                 VMSEC_REPORT_SOURCE, VMSEC_REPORT_DETAIL };
    const char *v;
    if (f == 1)
        return vmsec_status_name(vmsec_report_status(r, i));
    v = vmsec_report_field(r, i, field[f]);
    return v && *v ? v : (f == 2 || f == 3) ? "-" : "";
}

/* Whether column f may be shortened: values (a digest, a long cpuset, a cgroup path), never the
 * setting's name or its status. */
static bool shortens(int f, bool wide)
{
    return !wide && f >= 2;
}

static size_t shown_len(const char *v, bool shorten)
{
    size_t n = strlen(v);
    return shorten && n > CELL_MAX ? CELL_MAX : n;
}

/* A shortened value keeps its start (a digest's "sha256:" and first digits); a shortened source,
 * a path, keeps its end (the cgroup file or /proc task that was read). */
static void put_cell(const char *v, size_t width, bool shorten, bool last, bool keep_end)
{
    size_t n = strlen(v);
    if (shorten && n > CELL_MAX && keep_end)
        printf("...%s", v + n - (CELL_MAX - 3));
    else if (shorten && n > CELL_MAX)
        printf("%.*s...", CELL_MAX - 3, v);
    else
        fputs(v, stdout);
    if (!last)
        printf("%*s", (int)(width - shown_len(v, shorten) + 2), "");
}

/* The detail column, wrapped at spaces to width (no wrapping when width is 0). */
static void put_detail(const char *v, size_t indent, size_t width)
{
    size_t n = strlen(v);
    while (width && n > width) {
        size_t cut = width;
        while (cut > 0 && v[cut] != ' ')
            cut--;
        if (cut == 0)
            cut = width;
        printf("%.*s\n%*s", (int)cut, v, (int)indent, "");
        v += cut;
        n -= cut;
        while (*v == ' ')
            v++, n--;
    }
    printf("%s\n", v);
}

/* An aligned table of the report, within TABLE_WIDTH columns unless wide: long values are
 * shortened with "..." and the detail wraps, in its column or, when that would be too narrow, on
 * lines of its own under the row. */
static void print_table(const vmsec_report *r, bool wide)
{
    size_t n = vmsec_report_count(r), w[6], indent = 0, detail_width;
    bool below;
    if (n == 0)
        return;
    for (int f = 0; f < 6; f++) {
        w[f] = strlen(headings[f]);
        for (size_t i = 0; i < n; i++)
            if (shown_len(cell(r, i, f), shortens(f, wide)) > w[f])
                w[f] = shown_len(cell(r, i, f), shortens(f, wide));
    }
    for (int f = 0; f < 5; f++)
        indent += w[f] + 2;
    /* the detail wraps in its column, or, when the column would be too narrow, under the row */
    below = !wide && indent + DETAIL_MIN > TABLE_WIDTH;
    detail_width = wide ? 0 : below ? TABLE_WIDTH - DETAIL_INDENT : TABLE_WIDTH - indent;
    for (int f = 0; f < 5; f++)
        put_cell(headings[f], w[f], false, false, false);
    printf("%s\n", headings[5]);
    for (size_t i = 0; i < n; i++) {
        const char *detail = cell(r, i, 5);
        bool last = !*detail || below; /* no trailing blanks */
        for (int f = 0; f < 5; f++)
            put_cell(cell(r, i, f), w[f], shortens(f, wide), f == 4 && last, f == 4);
        if (below && *detail)
            printf("\n%*s", DETAIL_INDENT, "");
        put_detail(detail, below ? DETAIL_INDENT : indent, detail_width);
    }
}

/* ---- JSON --------------------------------------------------------------------------------------- */

/* The document every --json run prints: what was asked, of which profile; the report or the
 * result is added by the command, an error by cli_fail. Under --json, cli puts errors into it. */
static json_t *doc_new(const char *cmd, const struct args *a, const vmsec_profile *p)
{
    char digest[VMSEC_PROFILE_DIGEST_MAX] = "", name[VMSEC_PROFILE_NAME_MAX + 1] = "", when[32];
    time_t now = time(NULL);
    struct tm tm;
    json_t *d = json_object();
    if (!d)
        return NULL;
    vmsec__json_set(d, "command", vmsec__json_str(cmd));
    vmsec__json_set(d, "profile", vmsec__json_str(a->profile));
    if (p && vmsec_profile_digest(p, digest, sizeof(digest)) == 0) {
        vmsec_profile_get_name(p, name, sizeof(name));
        vmsec__json_set(d, "name", *name ? vmsec__json_str(name) : json_null());
        vmsec__json_set(d, "digest", vmsec__json_str(digest));
    }
    if (strcmp(cmd, "check") != 0 && strcmp(cmd, "render") != 0)
        vmsec__json_set(d, "uri", vmsec__json_str(a->uri)); /* null: libvirt's default */
    if (strcmp(cmd, "apply") == 0 || strcmp(cmd, "verify") == 0)
        vmsec__json_set(d, "domain", vmsec__json_str(a->operand));
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    vmsec__json_set(d, "time", vmsec__json_str(when));
    return d;
}

/* The report's entries and counts by status, as the library's JSON format names them. */
static void doc_add_report(json_t *d, const vmsec_report *r)
{
    static const char *const keys[] = { "setting", "status", "expected", "actual", "source", "detail" };
    static const int field[] = { VMSEC_REPORT_SETTING, -1, VMSEC_REPORT_EXPECTED, VMSEC_REPORT_ACTUAL,
                                 VMSEC_REPORT_SOURCE, VMSEC_REPORT_DETAIL };
    json_t *entries = json_array(), *summary = json_object();
    for (size_t i = 0; entries && i < vmsec_report_count(r); i++) {
        json_t *e = json_object();
        for (int f = 0; e && f < 6; f++)
            vmsec__json_set(e, keys[f], vmsec__json_str(f == 1 ? vmsec_status_name(vmsec_report_status(r, i))
                                                               : vmsec_report_field(r, i, field[f])));
        json_array_append_new(entries, e);
    }
    for (int s = VMSEC_STATUS_OK; summary && s <= VMSEC_STATUS_PROBLEM; s++)
        vmsec__json_set(summary, vmsec_status_name(s), json_integer((json_int_t)vmsec_report_count_status(r, s)));
    vmsec__json_set(d, "entries", entries);
    vmsec__json_set(d, "summary", summary);
}

/* ---- commands ----------------------------------------------------------------------------------- */

static int cmd_check(vmsec_profile *p, json_t *doc)
{
    char digest[VMSEC_PROFILE_DIGEST_MAX], name[VMSEC_PROFILE_NAME_MAX + 1] = "";
    if (vmsec_profile_digest(p, digest, sizeof(digest)) < 0)
        return fail("digest");
    if (doc)
        return vmsec__json_set(doc, "valid", json_true()) < 0 ? EXIT_ERROR : 0;
    vmsec_profile_get_name(p, name, sizeof(name));
    printf("profile %s is valid\ndigest  %s\n", *name ? name : "(unnamed)", digest);
    return 0;
}

static int cmd_render(vmsec_profile *p, const char *xmlpath, json_t *doc)
{
    char *xml = cli_read_file(xmlpath), *out = NULL;
    if (!xml)
        return cli_error(&app, VMSEC_EIO, "cannot read %s: %s", xmlpath, strerror(errno));
    if (vmsec_domain_render(p, xml, &out) < 0) {
        free(xml);
        return fail(xmlpath);
    }
    if (doc)
        vmsec__json_set(doc, "xml", vmsec__json_str(out));
    else
        fputs(out, stdout);
    vmsec_domain_xml_free(out);
    free(xml);
    return 0;
}

static void show_report(const vmsec_report *r, const struct args *a, json_t *doc)
{
    if (doc)
        doc_add_report(doc, r);
    else if (r)
        print_table(r, a->wide);
}

static int cmd_host_check(vmsec_profile *p, const struct args *a, json_t *doc)
{
    vmsec_report *r = NULL;
    int rc = vmsec_host_check(a->uri, p, 0, &r);
    show_report(r, a, doc);
    vmsec_report_free(r);
    return rc < 0 ? fail("host check") : 0;
}

/* A profile that states placement intent (cpu.placement = dedicated) is planned first: against
 * the host topology and the pins of every domain on the connection, preferring the domain's
 * current cores, so applying or verifying the same intent again gives the same pins. *p is
 * replaced by the concrete profile (vcpu.N.pin, emulator.pin). Returns 0 or EXIT_ERROR. */
static int states_intent(const vmsec_profile *p)
{
    char v[32];
    return vmsec_profile_get(p, "cpu.placement", v, sizeof(v)) == 1;
}

static int plan_intent(vmsec_profile **p, const char *uri, const char *name)
{
    vmsec_topology *t = NULL;
    vmsec_planner *pl = NULL;
    vmsec_profile *concrete = NULL;
    int rc;
    if (!states_intent(*p))
        return 0;
    if ((rc = vmsec_topology_from_libvirt(&t, uri)) == 0 && (rc = vmsec_planner_new(&pl, t)) == 0 &&
        (rc = vmsec_planner_load_libvirt(pl, uri, 0)) == 0)
        rc = vmsec_planner_place_profile(pl, name, *p, &concrete, NULL);
    vmsec_planner_free(pl);
    vmsec_topology_free(t);
    if (rc < 0)
        return fail("plan");
    vmsec_profile_free(*p);
    *p = concrete;
    return 0;
}

/* The embedded test driver keeps its state in the process: what one vmsec-profile run applied is
 * gone in the next. Say so where it explains a result. */
static void test_driver_hint(const struct args *a)
{
    if (a->uri && strncmp(a->uri, "test:///default", 15) == 0)
        cli_message(&app, "note: %s starts afresh in every process: a profile applied by an earlier run is not "
                          "there any more (vmsec-demo applies and verifies in one process)",
                    a->uri);
}

static int cmd_apply(vmsec_profile *p, const struct args *a, json_t *doc)
{
    vmsec_domain *d = NULL;
    vmsec_report *r = NULL;
    int rc;
    if (vmsec_domain_open(a->uri, a->operand, &d) < 0)
        return fail(a->operand);
    rc = vmsec_domain_apply(d, p, a->flags, &r);
    show_report(r, a, doc);
    vmsec_report_free(r);
    vmsec_domain_free(d);
    return rc < 0 ? fail("apply") : 0;
}

static int cmd_verify(vmsec_profile *p, const struct args *a, json_t *doc)
{
    vmsec_domain *d = NULL;
    vmsec_report *r = NULL;
    int rc;
    if (vmsec_domain_open(a->uri, a->operand, &d) < 0)
        return fail(a->operand);
    rc = vmsec_domain_verify(d, p, 0, &r);
    /* the report, or the error when verify failed: a failed verify reports nothing trustworthy */
    if (rc >= 0 || rc == VMSEC_EDRIFT)
        show_report(r, a, doc);
    vmsec_report_free(r);
    vmsec_domain_free(d);
    if (rc == VMSEC_EDRIFT) {
        if (doc)
            vmsec__json_set(doc, "drift", json_true());
        cli_message(&app, "%s", vmsec_error_last());
        test_driver_hint(a);
        return EXIT_DRIFT;
    }
    if (rc >= 0 && doc)
        vmsec__json_set(doc, "drift", json_false());
    return rc < 0 ? fail("verify") : 0;
}

/* Options (before or after the command, as getopt permutes, as virsh takes them) and operands;
 * a usage error exits 2. */
static const char *parse(int argc, char **argv, struct args *a)
{
    static const char *const one[] = { "PROFILE" }, *const xml[] = { "PROFILE", "DOMAIN.xml" },
                             *const two[] = { "PROFILE", "DOMAIN" };
    static const struct option opts[] = {
        { "connect", required_argument, NULL, 'c' }, { "live", no_argument, NULL, 'l' },
        { "config", no_argument, NULL, 'C' },        { "json", no_argument, NULL, 'j' },
        { "wide", no_argument, NULL, 'w' },          CLI_COMMON_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *cmd, *connect_opt = NULL, *flag_opt = NULL;
    int opt;
    app.options_first = true;
    while ((opt = cli_getopt(&app, argc, argv, "c:h", opts)) != -1) {
        switch (opt) {
        case 'c': a->uri = optarg; connect_opt = "-c"; break;
        case 'l': a->flags |= VMSEC_AFFECT_LIVE; flag_opt = "--live"; break;
        case 'C': a->flags |= VMSEC_AFFECT_CONFIG; flag_opt = "--config"; break;
        case 'j': a->json = true; break;
        case 'w': a->wide = true; break;
        }
    }
    app.json = a->json;
    cmd = cli_command_pick(&app, argc, argv, commands, sizeof(commands) / sizeof(commands[0]));
    if (connect_opt && (strcmp(cmd, "check") == 0 || strcmp(cmd, "render") == 0))
        cli_usage_error(&app, "%s: %s uses no connection", connect_opt, cmd);
    if (flag_opt && strcmp(cmd, "apply") != 0)
        cli_usage_error(&app, "%s: only apply takes it (%s changes nothing)", flag_opt, cmd);
    if (strcmp(cmd, "check") == 0 || strcmp(cmd, "host-check") == 0)
        cli_operands(&app, argc, argv, one, 1);
    else
        cli_operands(&app, argc, argv, strcmp(cmd, "render") == 0 ? xml : two, 2);
    a->profile = argv[optind];
    a->operand = argv[optind + 1];
    return cmd;
}

static int run(const char *cmd, vmsec_profile **p, const struct args *a, json_t *doc)
{
    if (strcmp(cmd, "render") == 0 && states_intent(*p))
        return cli_error(&app, VMSEC_EINVAL,
                         "%s states placement intent (cpu.placement); plan it with apply -c URI or vmsec-plan plan -p",
                         a->profile);
    if ((strcmp(cmd, "host-check") == 0 || strcmp(cmd, "apply") == 0 || strcmp(cmd, "verify") == 0) &&
        plan_intent(p, a->uri, strcmp(cmd, "host-check") == 0 ? "vmsec-host-check" : a->operand) != 0)
        return EXIT_ERROR;
    if (strcmp(cmd, "check") == 0)
        return cmd_check(*p, doc);
    if (strcmp(cmd, "render") == 0)
        return cmd_render(*p, a->operand, doc);
    if (strcmp(cmd, "host-check") == 0)
        return cmd_host_check(*p, a, doc);
    if (strcmp(cmd, "apply") == 0)
        return cmd_apply(*p, a, doc);
    return cmd_verify(*p, a, doc);
}

int main(int argc, char **argv)
{
    struct args a = { 0 };
    const char *cmd;
    vmsec_profile *p = NULL;
    json_t *doc = NULL;
    int rc;

    cli_init(&app, "vmsec-profile", synopses, options, "exit status: 0 ok, 1 drift found (verify), 2 error\n",
             EXIT_ERROR, argc, argv);
    virSetErrorFunc(NULL, quiet);
    optind = 1;
    cmd = parse(argc, argv, &a);
    if (vmsec_profile_load_file(&p, a.profile) < 0)
        return fail(a.profile);
    if (a.json && !(doc = app.json_doc = doc_new(cmd, &a, p))) {
        vmsec_profile_free(p);
        return cli_error(&app, VMSEC_ENOMEM, "out of memory for the JSON document");
    }
    rc = run(cmd, &p, &a, doc);
    vmsec_profile_free(p);
    if (doc) {
        app.json_doc = NULL;
        vmsec__json_dumpf(doc, stdout);
        putchar('\n');
        json_decref(doc);
    }
    return rc;
}
