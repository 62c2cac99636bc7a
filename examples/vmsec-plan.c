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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>
#include <vmsec.h>

#define EXIT_FOUND 1
#define EXIT_ERROR 2

static void quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

static int usage(FILE *to, int rc)
{
    fprintf(to, "usage: vmsec-plan topology [-c URI]\n"
                "       vmsec-plan audit [-c URI] [--shared]\n"
                "       vmsec-plan plan [-c URI] [-t TOPOLOGY] [-r CPUS] [--shared]\n"
                "                       (-p PROFILE | -n VCPUS [--policy isolate|prefer|require]\n"
                "                        [--emulator share|dedicated] [--fit node|spread]) DOMAIN\n"
                "  -c URI       libvirt connection URI (default: libvirt's default)\n"
                "  -t TOPOLOGY  host topology in the text form instead of libvirt's (no domains loaded\n"
                "               unless -c is given too)\n"
                "  -r CPUS      CPUs reserved for the host, e.g. 0-1\n"
                "  --shared     domains on the connection do not block the free siblings of their cores\n"
                "exit status: 0 ok, 1 sharing found (audit) or does not fit (plan), 2 error\n");
    return rc;
}

static int fail(const char *what)
{
    fprintf(stderr, "vmsec-plan: %s: %s\n", what, vmsec_error_last());
    return EXIT_ERROR;
}

static int pick(const char *v, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    fprintf(stderr, "vmsec-plan: unknown value '%s'\n", v);
    return -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    buf[len] = '\0';
    fclose(f);
    return buf;
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
            fprintf(stderr, "vmsec-plan: %s\n", vmsec_error_last());
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
        fprintf(stderr, "vmsec-plan: %s\n", vmsec_error_last());
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

int main(int argc, char **argv)
{
    static const char *const policies[] = {"isolate", "prefer", "require"};
    static const char *const emulators[] = {"share", "dedicated"};
    static const char *const fits[] = {"node", "spread"};
    static const struct option opts[] = {{"shared", no_argument, NULL, 'S'},     {"policy", required_argument, NULL, 'P'},
                                         {"emulator", required_argument, NULL, 'E'}, {"fit", required_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *uri = NULL, *topo_path = NULL, *reserved = NULL, *profile_path = NULL, *cmd;
    vmsec_plan_request req = VMSEC_PLAN_REQUEST_INIT;
    unsigned int load_flags = 0;
    vmsec_topology *t = NULL;
    vmsec_planner *p = NULL;
    int c, rc;

    virSetErrorFunc(NULL, quiet);
    while ((c = getopt_long(argc, argv, "c:t:r:p:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': uri = optarg; break;
        case 't': topo_path = optarg; break;
        case 'r': reserved = optarg; break;
        case 'p': profile_path = optarg; break;
        case 'n': req.vcpus = (unsigned int)strtoul(optarg, NULL, 10); break;
        case 'S': load_flags |= VMSEC_LOAD_SHARED; break;
        case 'P': if (pick(optarg, policies, 3, &req.thread_policy) < 0) return usage(stderr, EXIT_ERROR); break;
        case 'E': if (pick(optarg, emulators, 2, &req.emulator) < 0) return usage(stderr, EXIT_ERROR); break;
        case 'F': if (pick(optarg, fits, 2, &req.numa_fit) < 0) return usage(stderr, EXIT_ERROR); break;
        case 'h': return usage(stdout, 0);
        default: return usage(stderr, EXIT_ERROR);
        }
    }
    if (optind >= argc)
        return usage(stderr, EXIT_ERROR);
    cmd = argv[optind++];
    if (strcmp(cmd, "topology") == 0 && optind == argc)
        return print_topology(uri);
    if (strcmp(cmd, "audit") != 0 && !(strcmp(cmd, "plan") == 0 && optind + 1 == argc && (profile_path || req.vcpus)))
        return usage(stderr, EXIT_ERROR);
    if (strcmp(cmd, "audit") == 0 && optind != argc)
        return usage(stderr, EXIT_ERROR);

    if (topo_path) {
        char *text = slurp(topo_path);
        if (!text) {
            fprintf(stderr, "vmsec-plan: cannot read %s\n", topo_path);
            return EXIT_ERROR;
        }
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
    if ((reserved && vmsec_planner_reserve(p, reserved) < 0) ||
        ((uri || !topo_path) && vmsec_planner_load_libvirt(p, uri, load_flags) < 0)) {
        rc = fail("planner");
        vmsec_planner_free(p);
        return rc;
    }
    rc = strcmp(cmd, "audit") == 0 ? audit(p) : plan(p, profile_path, &req, argv[optind]);
    vmsec_planner_free(p);
    return rc;
}
