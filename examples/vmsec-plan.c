/* SPDX-License-Identifier: ISC */
/* vmsec-plan: CPU placement planning and SMT-sharing audit from the command line.
 *
 *   vmsec-plan topology [-c URI]
 *   vmsec-plan audit [-c URI] [--shared]
 *   vmsec-plan plan [-c URI] [-t TOPOLOGY] [-r CPUS] [--shared] (-p PROFILE | -n VCPUS
 *                   [--policy isolate|prefer|require] [--emulator share|dedicated]
 *                   [--fit node|spread]) DOMAIN
 *
 * `plan` is a dry run: it prints the concrete profile (with -p) or the pins (with -n) the domain
 * would get against the pins every domain on the connection holds now; nothing is changed.
 * Exit status: 0 ok, 1 audit found sharing / the request does not fit, 2 error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>
#include <vmsec.h>

#include "common/cli.h"

#define EXIT_FOUND 1
#define EXIT_ERROR 2

static cli app;

static void quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

static const char *const commands[] = { "topology", "audit", "plan" };
static const char *const policies[] = { "isolate", "prefer", "require" };
static const char *const emulators[] = { "share", "dedicated" };
static const char *const fits[] = { "node", "spread" };

static const cli_synopsis synopses[] = {
    { "topology", "[-c URI]" },
    { "audit", "[-c URI] [--shared]" },
    { "plan", "[-c URI] [-t TOPOLOGY] [-r CPUS] [--shared]\n"
              "                       (-p PROFILE | -n VCPUS [--policy isolate|prefer|require]\n"
              "                        [--emulator share|dedicated] [--fit node|spread]) DOMAIN" },
    { NULL, NULL },
};

static const char options[] =
    "  -c URI       libvirt connection URI (default: libvirt's default)\n"
    "  -t TOPOLOGY  host topology in the text form instead of libvirt's (no domains loaded\n"
    "               unless -c is given too)\n"
    "  -r CPUS      CPUs reserved for the host, e.g. 0-1\n"
    "  --shared     domains on the connection do not block the free siblings of their cores\n"
    "  -p PROFILE   place the vCPUs of this profile\n"
    "  -n VCPUS     place this many vCPUs\n"
    "  --policy P   isolate (default), prefer or require\n"
    "  --emulator E share (default) or dedicated\n"
    "  --fit F      node (default) or spread\n";

static int fail(const char *what)
{
    return cli_fail(&app, what);
}

static int print_topology(const char *uri)
{
    vmsec_topology *t;
    size_t need;
    char *text;
    if (vmsec_topology_from_libvirt(&t, uri) < 0)
        return fail(uri);
    vmsec_topology_to_text(t, NULL, 0, &need);
    text = malloc(need);
    if (!text || vmsec_topology_to_text(t, text, need, NULL) < 0) {
        free(text);
        vmsec_topology_free(t);
        return fail("topology");
    }
    fputs(text, stdout);
    free(text);
    vmsec_topology_free(t);
    return 0;
}

static int audit(vmsec_planner *p)
{
    vmsec_smt_audit *a;
    size_t need, n;
    char *text;
    if (vmsec_planner_audit(p, &a) < 0)
        return fail("audit");
    vmsec_smt_audit_count(a, &n);
    vmsec_smt_audit_to_text(a, NULL, 0, &need);
    text = malloc(need);
    if (!text || vmsec_smt_audit_to_text(a, text, need, NULL) < 0) {
        free(text);
        vmsec_smt_audit_free(a);
        return fail("audit");
    }
    fputs(text, stdout);
    if (n == 0)
        printf("no two domains share a physical core\n");
    free(text);
    vmsec_smt_audit_free(a);
    return n ? EXIT_FOUND : 0;
}

static int print_profile(const vmsec_profile *p)
{
    size_t need;
    char *text;
    if (vmsec_profile_to_text(p, NULL, 0, &need) < 0 || !(text = malloc(need)))
        return fail("profile");
    if (vmsec_profile_to_text(p, text, need, NULL) < 0) {
        free(text);
        return fail("profile");
    }
    fputs(text, stdout);
    free(text);
    return 0;
}

static int plan(vmsec_planner *p, const char *profile_path, const vmsec_plan_request *req, const char *domain)
{
    vmsec_placement *pl = NULL;
    int rc;
    if (profile_path) {
        vmsec_profile *in, *out;
        if (vmsec_profile_load_file(&in, profile_path) < 0)
            return fail(profile_path);
        rc = vmsec_planner_place_profile(p, domain, in, &out, NULL);
        vmsec_profile_free(in);
        if (rc == VMSEC_EHOST) {
            cli_message(&app, "%s", vmsec_error_last());
            return EXIT_FOUND;
        }
        if (rc < 0)
            return fail(profile_path);
        rc = print_profile(out);
        vmsec_profile_free(out);
        return rc;
    }
    rc = vmsec_planner_plan(p, domain, req, &pl);
    if (rc == VMSEC_EHOST) {
        cli_message(&app, "%s", vmsec_error_last());
        return EXIT_FOUND;
    }
    if (rc < 0)
        return fail(domain);
    {
        size_t need;
        char *text;
        vmsec_placement_to_text(pl, NULL, 0, &need);
        text = malloc(need);
        if (!text || vmsec_placement_to_text(pl, text, need, NULL) < 0) {
            free(text);
            vmsec_placement_free(pl);
            return fail("placement");
        }
        fputs(text, stdout);
        free(text);
    }
    vmsec_placement_free(pl);
    return 0;
}

struct args {
    const char *uri, *topo_path, *reserved, *profile_path;
    unsigned int load_flags;
    vmsec_plan_request req;
};

/* Options (before or after the command, as getopt permutes) and operands; a usage error exits 2. */
static const char *parse(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        { "shared", no_argument, NULL, 'S' },         { "policy", required_argument, NULL, 'P' },
        { "emulator", required_argument, NULL, 'E' }, { "fit", required_argument, NULL, 'F' },
        CLI_COMMON_OPTIONS,                           { NULL, 0, NULL, 0 },
    };
    static const char *const domain[] = { "DOMAIN" };
    const char *cmd;
    int c;
    while ((c = cli_getopt(&app, argc, argv, "c:t:r:p:n:h", opts)) != -1) {
        switch (c) {
        case 'c': a->uri = optarg; break;
        case 't': a->topo_path = optarg; break;
        case 'r': a->reserved = optarg; break;
        case 'p': a->profile_path = optarg; break;
        case 'n': a->req.vcpus = (unsigned int)cli_number(&app, optarg, 4096); break;
        case 'S': a->load_flags |= VMSEC_LOAD_SHARED; break;
        case 'P': a->req.thread_policy = cli_choice(&app, optarg, policies, 3); break;
        case 'E': a->req.emulator = cli_choice(&app, optarg, emulators, 2); break;
        case 'F': a->req.numa_fit = cli_choice(&app, optarg, fits, 2); break;
        }
    }
    cmd = cli_command_pick(&app, argc, argv, commands, 3);
    if (strcmp(cmd, "plan") != 0) {
        cli_operands(&app, argc, argv, NULL, 0);
        return cmd;
    }
    if (!a->profile_path && !a->req.vcpus)
        cli_usage_error(&app, "plan: missing option -p PROFILE or -n VCPUS");
    cli_operands(&app, argc, argv, domain, 1);
    return cmd;
}

int main(int argc, char **argv)
{
    struct args a = { .req = VMSEC_PLAN_REQUEST_INIT };
    vmsec_topology *t = NULL;
    vmsec_planner *p = NULL;
    const char *cmd;
    int rc;

    cli_init(&app, "vmsec-plan", synopses, options,
             "exit status: 0 ok, 1 sharing found (audit) or does not fit (plan), 2 error\n", EXIT_ERROR, argc, argv);
    app.options_first = true;
    virSetErrorFunc(NULL, quiet);
    cmd = parse(argc, argv, &a);
    if (strcmp(cmd, "topology") == 0)
        return print_topology(a.uri);
    const char *topo_path = a.topo_path, *uri = a.uri;
    if (topo_path) {
        char *text = cli_read_file(topo_path);
        if (!text)
            return cli_error(&app, VMSEC_EIO, "cannot read %s: %s", topo_path, strerror(errno));
        rc = vmsec_topology_parse(&t, text, strlen(text), topo_path);
        free(text);
    } else {
        rc = vmsec_topology_from_libvirt(&t, uri);
    }
    if (rc < 0)
        return fail(topo_path ? topo_path : "topology");
    rc = vmsec_planner_new(&p, t);
    vmsec_topology_free(t);
    if (rc < 0)
        return fail("planner");
    if ((a.reserved && vmsec_planner_reserve(p, a.reserved) < 0) ||
        ((uri || !topo_path) && vmsec_planner_load_libvirt(p, uri, a.load_flags) < 0)) {
        rc = fail("planner");
        vmsec_planner_free(p);
        return rc;
    }
    rc = strcmp(cmd, "audit") == 0 ? audit(p) : plan(p, a.profile_path, &a.req, argv[optind]);
    vmsec_planner_free(p);
    return rc;
}
