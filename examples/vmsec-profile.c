/* vmsec-profile: check, render, host-check, apply and verify isolation profiles.
 *
 *   vmsec-profile check PROFILE
 *   vmsec-profile render PROFILE DOMAIN.xml
 *   vmsec-profile host-check [-c URI] PROFILE
 *   vmsec-profile apply [-c URI] [--live] [--config] PROFILE DOMAIN
 *   vmsec-profile verify [-c URI] [--json] PROFILE DOMAIN
 *
 * A profile stating placement intent (cpu.placement = dedicated, see doc/profile-format.md) is
 * planned against the connection's host and domains before host-check, apply and verify; render,
 * which has no connection, refuses it.
 *
 * Exit status: 0 success (verify: every check ok or not checkable here), 1 drift found (verify),
 * 2 error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>
#include <vmsec.h>

#include "common/cli.h"

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
    { "check", "PROFILE" },
    { "render", "PROFILE DOMAIN.xml" },
    { "host-check", "[-c URI] PROFILE" },
    { "apply", "[-c URI] [--live] [--config] PROFILE DOMAIN" },
    { "verify", "[-c URI] [--json] PROFILE DOMAIN" },
    { NULL, NULL },
};

static const char options[] = "  -c URI       libvirt connection URI (default: libvirt's default)\n"
                              "  --live       apply to the running domain only\n"
                              "  --config     apply to the persistent configuration only (both: both)\n"
                              "  --json       print the verification report as JSON, errors too\n";

static int fail(const char *what)
{
    return cli_fail(&app, what);
}

static int print_report(const vmsec_report *r, int kind, FILE *to)
{
    char *text = NULL;
    if (!r || vmsec_report_count(r) == 0)
        return 0;
    if (vmsec_report_format(r, kind, &text) < 0)
        return -1;
    fputs(text, to);
    vmsec_report_string_free(text);
    return 0;
}

static int cmd_check(vmsec_profile *p)
{
    char digest[VMSEC_PROFILE_DIGEST_MAX], name[VMSEC_PROFILE_NAME_MAX + 1] = "";
    if (vmsec_profile_digest(p, digest, sizeof(digest)) < 0)
        return fail("digest");
    vmsec_profile_get_name(p, name, sizeof(name));
    printf("profile %s is valid\ndigest  %s\n", *name ? name : "(unnamed)", digest);
    return 0;
}

static int cmd_render(vmsec_profile *p, const char *xmlpath)
{
    char *xml = cli_read_file(xmlpath), *out = NULL;
    if (!xml)
        return cli_error(&app, VMSEC_EIO, "cannot read %s: %s", xmlpath, strerror(errno));
    if (vmsec_domain_render(p, xml, &out) < 0) {
        free(xml);
        return fail(xmlpath);
    }
    fputs(out, stdout);
    vmsec_domain_xml_free(out);
    free(xml);
    return 0;
}

static int cmd_host_check(vmsec_profile *p, const char *uri)
{
    vmsec_report *r = NULL;
    int rc = vmsec_host_check(uri, p, 0, &r);
    print_report(r, VMSEC_REPORT_TEXT, stdout);
    vmsec_report_free(r);
    if (rc < 0)
        return fail("host check");
    return 0;
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

static int cmd_apply(vmsec_profile *p, const char *uri, const char *name, unsigned int flags)
{
    vmsec_domain *d = NULL;
    vmsec_report *r = NULL;
    int rc;
    if (vmsec_domain_open(uri, name, &d) < 0)
        return fail(name);
    rc = vmsec_domain_apply(d, p, flags, &r);
    print_report(r, VMSEC_REPORT_TEXT, stdout);
    vmsec_report_free(r);
    vmsec_domain_free(d);
    if (rc < 0)
        return fail("apply");
    return 0;
}

static int cmd_verify(vmsec_profile *p, const char *uri, const char *name, int json)
{
    vmsec_domain *d = NULL;
    vmsec_report *r = NULL;
    int rc;
    if (vmsec_domain_open(uri, name, &d) < 0)
        return fail(name);
    rc = vmsec_domain_verify(d, p, 0, &r);
    /* Under --json stdout holds one document: the report, or the error when verify failed. */
    if (!json || rc >= 0 || rc == VMSEC_EDRIFT)
        print_report(r, json ? VMSEC_REPORT_JSON : VMSEC_REPORT_TEXT, stdout);
    vmsec_report_free(r);
    vmsec_domain_free(d);
    if (rc == VMSEC_EDRIFT) {
        cli_message(&app, "%s", vmsec_error_last());
        return EXIT_DRIFT;
    }
    return rc < 0 ? fail("verify") : 0;
}

/* Options and operands of the subcommand; a usage error exits 2. */
static void parse(int argc, char **argv, const char **uri, unsigned int *flags, int *json)
{
    static const char *const one[] = { "PROFILE" }, *const xml[] = { "PROFILE", "DOMAIN.xml" },
                             *const two[] = { "PROFILE", "DOMAIN" };
    static const struct option opts[] = {
        { "connect", required_argument, NULL, 'c' }, { "live", no_argument, NULL, 'l' },
        { "config", no_argument, NULL, 'C' },        { "json", no_argument, NULL, 'j' },
        CLI_COMMON_OPTIONS,                          { NULL, 0, NULL, 0 },
    };
    const char *cmd = cli_command_pick(&app, argc, argv, commands, sizeof(commands) / sizeof(commands[0]));
    int opt;
    while ((opt = cli_getopt(&app, argc, argv, "c:h", opts)) != -1) {
        switch (opt) {
        case 'c':
            if (strcmp(cmd, "check") == 0 || strcmp(cmd, "render") == 0)
                cli_usage_error(&app, "%s: %s uses no connection", app.optname, cmd);
            *uri = optarg;
            break;
        case 'l': *flags |= VMSEC_AFFECT_LIVE; break;
        case 'C': *flags |= VMSEC_AFFECT_CONFIG; break;
        case 'j': *json = 1; break;
        }
    }
    app.json = *json;
    if (strcmp(cmd, "check") == 0 || strcmp(cmd, "host-check") == 0)
        cli_operands(&app, argc, argv, one, 1);
    else
        cli_operands(&app, argc, argv, strcmp(cmd, "render") == 0 ? xml : two, 2);
}

int main(int argc, char **argv)
{
    const char *uri = NULL, *cmd;
    unsigned int flags = 0;
    int json = 0, rc;
    vmsec_profile *p = NULL;

    cli_init(&app, "vmsec-profile", synopses, options, "exit status: 0 ok, 1 drift found (verify), 2 error\n",
             EXIT_ERROR, argc, argv);
    virSetErrorFunc(NULL, quiet);
    optind = 1;
    parse(argc, argv, &uri, &flags, &json);
    cmd = app.command;
    if (vmsec_profile_load_file(&p, argv[optind]) < 0)
        return fail(argv[optind]);
    if (strcmp(cmd, "render") == 0 && states_intent(p)) {
        vmsec_profile_free(p);
        return cli_error(&app, VMSEC_EINVAL,
                         "%s states placement intent (cpu.placement); plan it with apply -c URI or vmsec-plan plan -p",
                         argv[optind]);
    }
    if ((strcmp(cmd, "host-check") == 0 || strcmp(cmd, "apply") == 0 || strcmp(cmd, "verify") == 0) &&
        plan_intent(&p, uri, strcmp(cmd, "host-check") == 0 ? "vmsec-host-check" : argv[optind + 1]) != 0) {
        vmsec_profile_free(p);
        return EXIT_ERROR;
    }
    if (strcmp(cmd, "check") == 0)
        rc = cmd_check(p);
    else if (strcmp(cmd, "render") == 0)
        rc = cmd_render(p, argv[optind + 1]);
    else if (strcmp(cmd, "host-check") == 0)
        rc = cmd_host_check(p, uri);
    else if (strcmp(cmd, "apply") == 0)
        rc = cmd_apply(p, uri, argv[optind + 1], flags);
    else
        rc = cmd_verify(p, uri, argv[optind + 1], json);
    vmsec_profile_free(p);
    return rc;
}
