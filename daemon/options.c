/* SPDX-License-Identifier: ISC */
/* vmsecd's command line, parsed with the conventions every vmsec tool shares (examples/common/cli):
 * a wrong option or value is a usage error naming it, exit 2. */
#include <limits.h>
#include <string.h>

#include "common/cli.h"
#include "vmsecd.h"

cli vmsecd_cli;

static const cli_synopsis synopses[] = {
    { NULL, "[-c URI]... [options]" }, { NULL, "--status [--control PATH] [--json]" }, { NULL, NULL } };

static const char options[] =
    "  -c, --connect URI           libvirt URI to watch, repeatable (default " VMSECD_DEFAULT_URI ")\n"
    "  -n, --match GLOB            enforce only domains whose name matches GLOB (default: all)\n"
    "  -i, --interval SEC          verify every domain this often (default 60)\n"
    "  -d, --drift POLICY          on drift: report (default) or repair\n"
    "      --repair-min-interval SEC\n"
    "                              least time between two repairs of one domain (default 30)\n"
    "      --reconnect-max SEC     longest wait between reconnect attempts (default 60)\n"
    "  -a, --audit FILE            append audit JSON lines to FILE (default: standard error)\n"
    "  -s, --control PATH          serve the state as JSON on this unix socket (mode 0600)\n"
    "  -m, --metrics ADDR:PORT     serve Prometheus metrics over HTTP on ADDR:PORT\n"
    "      --status                print the state of a running vmsecd and exit\n"
    "      --json                  with --status: print the JSON document as it is\n";

enum { OPT_REPAIR_MIN = 0x2001, OPT_RECONNECT_MAX, OPT_STATUS, OPT_JSON };

static void defaults(vmsecd_options *o)
{
    memset(o, 0, sizeof(*o));
    o->interval = 60;
    o->repair_min_interval = 30;
    o->reconnect_max = 60;
}

/* Fills o from argv; exits on --help, --version and usage errors. Returns 0. */
int vmsecd_options_parse(vmsecd_options *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"connect", required_argument, NULL, 'c'},  {"interval", required_argument, NULL, 'i'},
        {"drift", required_argument, NULL, 'd'},    {"audit", required_argument, NULL, 'a'},
        {"control", required_argument, NULL, 's'},  {"metrics", required_argument, NULL, 'm'},
        {"match", required_argument, NULL, 'n'},
        {"repair-min-interval", required_argument, NULL, OPT_REPAIR_MIN},
        {"reconnect-max", required_argument, NULL, OPT_RECONNECT_MAX},
        {"status", no_argument, NULL, OPT_STATUS},  {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_OPTIONS,
        {NULL, 0, NULL, 0}};
    static const char *const drifts[] = {"report", "repair"};
    int opt;

    defaults(o);
    cli_init(&vmsecd_cli, "vmsecd", synopses, options,
             "exit status: 0 clean stop (--status: state printed), 1 error, 2 usage error\n", CLI_EXIT_FAILURE, argc,
             argv);
    optind = 1;
    while ((opt = cli_getopt(&vmsecd_cli, argc, argv, "c:i:d:a:s:m:n:h", opts)) != -1) {
        switch (opt) {
        case 'c':
            if (o->nuris == VMSECD_MAX_URIS)
                cli_usage_error(&vmsecd_cli, "at most %d URIs", VMSECD_MAX_URIS);
            o->uris[o->nuris++] = optarg;
            break;
        case 'i': o->interval = (unsigned int)cli_number(&vmsecd_cli, optarg, 86400); break;
        case 'd': o->drift = cli_choice(&vmsecd_cli, optarg, drifts, 2); break;
        case 'a': o->audit = optarg; break;
        case 's': o->control = optarg; break;
        case 'm': o->metrics = optarg; break;
        case 'n': o->match = optarg; break;
        case OPT_REPAIR_MIN: o->repair_min_interval = (unsigned int)cli_number(&vmsecd_cli, optarg, 86400); break;
        case OPT_RECONNECT_MAX: o->reconnect_max = (unsigned int)cli_number(&vmsecd_cli, optarg, 3600); break;
        case OPT_STATUS: o->status = true; break;
        case OPT_JSON: o->json = true; break;
        }
    }
    cli_operands(&vmsecd_cli, argc, argv, NULL, 0);
    if (o->interval == 0)
        cli_usage_error(&vmsecd_cli, "--interval must be at least 1 second");
    if (o->reconnect_max == 0)
        cli_usage_error(&vmsecd_cli, "--reconnect-max must be at least 1 second");
    if (o->json && !o->status)
        cli_usage_error(&vmsecd_cli, "--json goes with --status");
    if (o->metrics && !strchr(o->metrics, ':'))
        cli_usage_error(&vmsecd_cli, "--metrics wants ADDR:PORT, not '%s'", o->metrics);
    if (o->nuris == 0)
        o->uris[o->nuris++] = VMSECD_DEFAULT_URI;
    vmsecd_cli.json = o->json;
    return 0;
}
