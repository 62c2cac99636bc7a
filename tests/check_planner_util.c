/* SPDX-License-Identifier: ISC */
/* Helpers of the check_planner program: planners on synthetic topologies, and placements, free CPUs
 * and SMT audits rendered as short strings that the tests compare whole. */
#include "check_planner.h"
#include "planner_topos.h"

vmsec_planner *mk_planner(const char *text)
{
    vmsec_topology *t;
    vmsec_planner *p;
    ck_assert_int_eq(vmsec_topology_parse(&t, text, strlen(text), "test"), 0);
    ck_assert_int_eq(vmsec_planner_new(&p, t), 0);
    vmsec_topology_free(t);
    return p;
}

vmsec_planner *mk_smt(unsigned int sockets, unsigned int cores, unsigned int threads, unsigned int nps)
{
    char *txt = pt_smt(sockets, cores, threads, nps);
    vmsec_planner *p = mk_planner(txt);
    free(txt);
    return p;
}

/* Compact view of a placement: "v=0,8 e=0,8 b=" (vCPU CPUs in order, emulator set, blocked set). */
const char *view(const vmsec_placement *pl)
{
    static char out[4096];
    char set[1024];
    unsigned int n, cpu;
    size_t len;
    ck_assert_int_eq(vmsec_placement_vcpu_count(pl, &n), 0);
    len = (size_t)snprintf(out, sizeof(out), "v=");
    for (unsigned int i = 0; i < n; i++) {
        ck_assert_int_eq(vmsec_placement_vcpu_cpu(pl, i, &cpu), 0);
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%u", i ? "," : "", cpu);
    }
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_EMULATOR, set, sizeof(set)), 0);
    len += (size_t)snprintf(out + len, sizeof(out) - len, " e=%s", set);
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_BLOCKED, set, sizeof(set)), 0);
    snprintf(out + len, sizeof(out) - len, " b=%s", set);
    return out;
}

/* Places (commit) or plans and returns view() or "ERR <code>: <message>". */
const char *req(vmsec_planner *p, const char *dom, unsigned int vcpus, int policy, int emu, int fit, bool commit)
{
    static char out[4096];
    vmsec_plan_request r = VMSEC_PLAN_REQUEST_INIT;
    vmsec_placement *pl = NULL;
    int rc;
    r.vcpus = vcpus;
    r.thread_policy = policy;
    r.emulator = emu;
    r.numa_fit = fit;
    rc = commit ? vmsec_planner_place(p, dom, &r, &pl) : vmsec_planner_plan(p, dom, &r, &pl);
    if (rc < 0) {
        ck_assert_ptr_null(pl);
        snprintf(out, sizeof(out), "ERR %d: %s", rc, vmsec_error_last());
        return out;
    }
    snprintf(out, sizeof(out), "%s", view(pl));
    vmsec_placement_free(pl);
    return out;
}

const char *freecpus(const vmsec_planner *p)
{
    static char out[VMSEC_PROFILE_CPUSET_TEXT_MAX];
    ck_assert_int_eq(vmsec_planner_free_cpus(p, out, sizeof(out)), 0);
    return out;
}

const char *audit_text(const vmsec_planner *p)
{
    static char out[8192];
    vmsec_smt_audit *a;
    ck_assert_int_eq(vmsec_planner_audit(p, &a), 0);
    ck_assert_int_eq(vmsec_smt_audit_to_text(a, out, sizeof(out), NULL), 0);
    vmsec_smt_audit_free(a);
    return out;
}
