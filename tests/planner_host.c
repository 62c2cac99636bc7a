/* SPDX-License-Identifier: ISC */
/* The planner on the real host, through libvirtd (qemu:///system): the topology libvirt reports
 * matches the kernel's (online CPUs, SMT siblings), the pins of the host's domains load, the
 * audit runs, and a one-vCPU plan lands on an online CPU or is refused with the shortfall.
 * TAP output; without a reachable libvirtd the test is skipped, or fails when VMSEC_REQUIRE_ALL=1. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <vmsec.h>

static int n, failed;

static void ok(int cond, const char *what)
{
    printf("%sok %d - %s\n", cond ? "" : "not ", ++n, what);
    if (!cond) {
        failed = 1;
        printf("# %s\n", vmsec_error_last());
    }
}

static int skip_or_fail(const char *why)
{
    const char *req = getenv("VMSEC_REQUIRE_ALL");
    if (req && strcmp(req, "1") == 0) {
        printf("not ok 1 - required component missing (VMSEC_REQUIRE_ALL=1): %s\n1..1\n", why);
        return 1;
    }
    printf("ok 1 # SKIP %s\n1..1\n", why);
    return 0;
}

static void quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

/* Compares libvirt's siblings of every online CPU with sysfs; returns the number of mismatches. */
static int compare_siblings(const vmsec_topology *t)
{
    int bad = 0;
    for (unsigned int cpu = 0; cpu < 8192; cpu++) {
        char path[128], kernel[256] = "", ours[256];
        FILE *f;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/topology/thread_siblings_list", cpu);
        if (!(f = fopen(path, "r")))
            continue; /* absent or offline */
        if (!fgets(kernel, sizeof(kernel), f))
            kernel[0] = '\0';
        fclose(f);
        kernel[strcspn(kernel, "\n")] = '\0';
        if (vmsec_topology_siblings(t, cpu, ours, sizeof(ours)) < 0 || strcmp(kernel, ours) != 0) {
            printf("# CPU %u: kernel siblings '%s', planner '%s'\n", cpu, kernel, ours);
            bad++;
        }
    }
    return bad;
}

int main(void)
{
    const char *uri = getenv("VMSEC_TEST_URI") ? getenv("VMSEC_TEST_URI") : "qemu:///system";
    vmsec_topology *t;
    vmsec_planner *p;
    vmsec_smt_audit *a;
    vmsec_plan_request req = VMSEC_PLAN_REQUEST_INIT;
    vmsec_placement *pl = NULL;
    unsigned int online, cores, nodes;
    char why[1200];
    int rc;

    virSetErrorFunc(NULL, quiet);
    if (vmsec_topology_from_libvirt(&t, uri) < 0) {
        snprintf(why, sizeof(why), "libvirtd not reachable at %s: %s", uri, vmsec_error_last());
        return skip_or_fail(why);
    }
    ok(vmsec_topology_counts(t, &online, &cores, &nodes) == 0, "topology counts");
    ok(online == (unsigned int)sysconf(_SC_NPROCESSORS_ONLN), "online CPUs equal the kernel's");
    ok(cores >= 1 && cores <= online && nodes >= 1, "cores and nodes are plausible");
    ok(compare_siblings(t) == 0, "SMT siblings of every online CPU equal sysfs thread_siblings_list");
    ok(vmsec_planner_new(&p, t) == 0, "planner for the host");
    ok(vmsec_planner_load_libvirt(p, uri, 0) == 0, "pins of every domain on the host load");
    ok(vmsec_planner_audit(p, &a) == 0, "SMT audit of the host's domains runs");
    vmsec_smt_audit_free(a);
    req.vcpus = 1;
    req.thread_policy = VMSEC_THREAD_PREFER;
    rc = vmsec_planner_plan(p, "vmsec-planner-host-test", &req, &pl);
    if (rc == 0) {
        unsigned int cpu = 0;
        char path[128];
        ok(vmsec_placement_vcpu_cpu(pl, 0, &cpu) == 0 && cpu < 8192, "one-vCPU plan gives a CPU");
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u", cpu);
        ok(access(path, F_OK) == 0, "the planned CPU exists on the host");
    } else {
        printf("# %s\n", vmsec_error_last());
        ok(rc == VMSEC_EHOST && strncmp(vmsec_error_last(), "cannot place domain", 19) == 0,
           "a full host refuses with the shortfall");
    }
    vmsec_placement_free(pl);
    vmsec_planner_free(p);
    vmsec_topology_free(t);
    printf("1..%d\n", n);
    return failed;
}
