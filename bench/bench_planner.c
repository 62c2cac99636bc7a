/* SPDX-License-Identifier: ISC */
/* Planner benchmark: 1,000 placements of 2-4 vCPU domains onto large SMT-2 hosts. Prints a
 * markdown table (median of 5 runs) and JSON lines through bench.h.
 *
 * On the 256-CPU host 1,000 isolated domains cannot all fit at once, so the run churns: when a
 * placement is refused (the host is full), the oldest live domains are released until it fits,
 * as on a host where VMs come and go. Every refusal and release is part of the measured time. */
#include <stdbool.h>
#include <stdint.h>

#include <vmsec.h>

#include "bench.h"
#include "../tests/planner_topos.h"

#define DOMAINS 1000u
#define RUNS 5

struct result {
    double total;
    unsigned int refusals, releases;
};

static vmsec_planner *planner_for(unsigned int sockets, unsigned int cores, unsigned int nps)
{
    char *txt = pt_smt(sockets, cores, 2, nps);
    vmsec_topology *t;
    vmsec_planner *p = NULL;
    if (vmsec_topology_parse(&t, txt, strlen(txt), "bench") < 0 || vmsec_planner_new(&p, t) < 0)
        bench_die(vmsec_error_last());
    free(txt);
    vmsec_topology_free(t);
    return p;
}

static struct result run(unsigned int sockets, unsigned int cores, unsigned int nps, int policy, int emulator)
{
    vmsec_planner *p = planner_for(sockets, cores, nps);
    struct result r = {0, 0, 0};
    uint32_t seed = 42;
    unsigned int oldest = 0;
    double t0;
    if (vmsec_planner_reserve(p, "0,256") < 0 && vmsec_planner_reserve(p, "0") < 0)
        bench_die(vmsec_error_last());
    t0 = bench_now();
    for (unsigned int i = 0; i < DOMAINS; i++) {
        vmsec_plan_request req = VMSEC_PLAN_REQUEST_INIT;
        char name[32];
        int rc;
        seed = seed * 1664525u + 1013904223u;
        req.vcpus = 2 + (seed >> 16) % 3;
        req.thread_policy = policy;
        req.emulator = emulator;
        snprintf(name, sizeof(name), "vm%04u", i);
        while ((rc = vmsec_planner_place(p, name, &req, NULL)) == VMSEC_EHOST) {
            char old[32];
            r.refusals++;
            if (oldest >= i)
                bench_die("a lone domain does not fit the host");
            snprintf(old, sizeof(old), "vm%04u", oldest++);
            if (vmsec_planner_release(p, old) < 0)
                bench_die(vmsec_error_last());
            r.releases++;
        }
        if (rc < 0)
            bench_die(vmsec_error_last());
    }
    r.total = bench_now() - t0;
    vmsec_planner_free(p);
    return r;
}

static int cmp_result(const void *a, const void *b)
{
    const struct result *x = a, *y = b;
    return (x->total > y->total) - (x->total < y->total);
}

static void row(const char *scenario, const char *host, unsigned int sockets, unsigned int cores, unsigned int nps,
                int policy, int emulator)
{
    struct result rs[RUNS], m;
    for (int i = 0; i < RUNS; i++)
        rs[i] = run(sockets, cores, nps, policy, emulator);
    qsort(rs, RUNS, sizeof(rs[0]), cmp_result);
    m = rs[RUNS / 2];
    printf("| %s | %s | %u | %u | %u | %.2f | %.2f |\n", scenario, host, DOMAINS, m.refusals, m.releases, m.total * 1e3,
           m.total * 1e6 / DOMAINS);
    bench_json("{\"bench\":\"planner\",\"scenario\":\"%s\",\"host\":\"%s\",\"domains\":%u,\"refusals\":%u,"
               "\"releases\":%u,\"total_ms\":%.3f,\"per_domain_us\":%.3f}",
               scenario, host, DOMAINS, m.refusals, m.releases, m.total * 1e3, m.total * 1e6 / DOMAINS);
}

static void audit_row(void)
{
    vmsec_planner *p = planner_for(2, 64, 2);
    vmsec_smt_audit *a;
    double t0, dt;
    char name[32], cpu[16];
    size_t n = 0;
    /* 256 single-CPU domains, every core shared by two: the worst case for the audit */
    for (unsigned int i = 0; i < 256; i++) {
        snprintf(name, sizeof(name), "vm%03u", i);
        snprintf(cpu, sizeof(cpu), "%u", i);
        if (vmsec_planner_hold(p, name, cpu, 0) < 0)
            bench_die(vmsec_error_last());
    }
    t0 = bench_now();
    if (vmsec_planner_audit(p, &a) < 0 || vmsec_smt_audit_count(a, &n) < 0)
        bench_die(vmsec_error_last());
    dt = bench_now() - t0;
    printf("| SMT audit, %zu shared cores found | 2 sockets, 256 CPUs, SMT-2, 4 nodes | 256 | - | - | %.3f | %.2f |\n", n,
           dt * 1e3, dt * 1e6 / 256);
    bench_json("{\"bench\":\"planner\",\"scenario\":\"audit\",\"domains\":256,\"findings\":%zu,\"total_ms\":%.3f}", n,
               dt * 1e3);
    vmsec_smt_audit_free(a);
    vmsec_planner_free(p);
}

int main(void)
{
    printf("\n## CPU placement planner\n\n");
    printf("1,000 placements of domains with 2-4 vCPUs (median of %d runs). On the 256-CPU host the domains do "
           "not all fit, so the oldest are released whenever a placement is refused; refusals and releases are "
           "included in the time.\n\n",
           RUNS);
    printf("| Scenario | Host | Domains | Refusals | Releases | Total (ms) | Per domain (us) |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    row("isolate, shared emulator, one NUMA node", "2 sockets, 256 CPUs, SMT-2, 4 nodes", 2, 64, 2, VMSEC_THREAD_ISOLATE,
        VMSEC_EMULATOR_SHARE);
    row("isolate, dedicated emulator CPU", "2 sockets, 256 CPUs, SMT-2, 4 nodes", 2, 64, 2, VMSEC_THREAD_ISOLATE,
        VMSEC_EMULATOR_DEDICATED);
    row("prefer, shared emulator", "2 sockets, 256 CPUs, SMT-2, 4 nodes", 2, 64, 2, VMSEC_THREAD_PREFER,
        VMSEC_EMULATOR_SHARE);
    row("isolate, no churn (all fit)", "4 sockets, 8192 CPUs, SMT-2, 8 nodes", 4, 1024, 2, VMSEC_THREAD_ISOLATE,
        VMSEC_EMULATOR_SHARE);
    audit_row();
    return 0;
}
