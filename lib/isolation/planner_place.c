/* SPDX-License-Identifier: ISC */
/* CPU placement planner: placing one request on the cores the holdings leave free (see the
 * rules in include/vmsec/planner.h), the message when it does not fit, and the placement it
 * returns. A domain that already holds CPUs is re-planned with its holding set aside and its
 * previous cores tried first. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/planner_internal.h"

static const char *const policy_names[] = {"isolate", "prefer", "require"};

int vmsec_plan_request_init(vmsec_plan_request *req, unsigned int version)
{
    static const vmsec_plan_request init = VMSEC_PLAN_REQUEST_INIT;
    if (!req || version != VMSEC_PLAN_REQUEST_VERSION)
        return vmsec__error(VMSEC_EINVAL, "planner: request NULL or of unknown version %u", req ? version : 0);
    *req = init;
    return 0;
}

/* ---- one request ------------------------------------------------------------------------------- */

struct attempt {
    const struct vmsec_planner *p;
    const vmsec_cpuset *xres;  /* CPUs this request may not use */
    unsigned int nv, ne;       /* vCPUs, dedicated emulator CPUs (0 or 1) */
    unsigned int got;          /* CPUs taken */
    unsigned int *cpus;        /* taken, in order: vCPUs then emulator */
    vmsec_cpuset taken;        /* the same CPUs as a set */
    vmsec_cpuset blocked;
    uint64_t *mark;            /* cores this attempt took from */
    const unsigned int *pref;  /* preferred cores, in order */
    unsigned int npref;
};

static bool marked(const struct attempt *a, unsigned int c)
{
    return (a->mark[c / 64] >> (c % 64)) & 1u;
}

static bool usable(const struct attempt *a, unsigned int cpu)
{
    return vmsec__planner_cpu_free(a->p, cpu) && !vmsec__cpuset_has(a->xres, cpu) && !vmsec__cpuset_has(&a->taken, cpu);
}

/* Whole free for this request: whole free and no CPU in the request's own reserved set. */
static bool whole_ok(const struct attempt *a, unsigned int c)
{
    const unsigned int *cpus = vmsec__topo_core_cpus(&a->p->tp, c);
    if (!vmsec__planner_core_whole_free(a->p, c) || marked(a, c))
        return false;
    for (unsigned int i = 0; i < a->p->tp.core[c].n; i++)
        if (vmsec__cpuset_has(a->xres, cpus[i]))
            return false;
    return true;
}

/* Takes up to `want` usable CPUs of core c in ascending order; with `block`, the rest of the
 * core is blocked. Returns the number taken. */
static unsigned int take(struct attempt *a, unsigned int c, unsigned int want, bool block)
{
    const unsigned int *cpus = vmsec__topo_core_cpus(&a->p->tp, c);
    unsigned int n = 0;
    a->mark[c / 64] |= 1ull << (c % 64);
    for (unsigned int i = 0; i < a->p->tp.core[c].n; i++) {
        if (n < want && usable(a, cpus[i])) {
            a->cpus[a->got++] = cpus[i];
            vmsec__cpuset_add(&a->taken, cpus[i]);
            n++;
        } else if (block) {
            vmsec__cpuset_add(&a->blocked, cpus[i]);
        }
    }
    return n;
}

/* Candidate cores of [cb, ce): the preferred ones first, then ascending. cb..ce iteration state
 * is in *it: values < npref index pref, others are cb + (it - npref). Returns false at the end. */
static bool next_core(const struct attempt *a, unsigned int cb, unsigned int ce, unsigned int *it, unsigned int *c)
{
    while (*it < a->npref) {
        unsigned int k = a->pref[(*it)++];
        if (k >= cb && k < ce) {
            *c = k;
            return true;
        }
    }
    while (*it - a->npref < ce - cb) {
        *c = cb + (*it - a->npref);
        (*it)++;
        return true;
    }
    return false;
}

/* Ascending whole-free cores of [cb, ce) found through the bitmap, after the preferred ones. */
static bool next_whole(const struct attempt *a, unsigned int cb, unsigned int ce, unsigned int *it, unsigned int *c)
{
    while (*it < a->npref) {
        unsigned int k = a->pref[(*it)++];
        if (k >= cb && k < ce && whole_ok(a, k)) {
            *c = k;
            return true;
        }
    }
    for (unsigned int k = cb + (*it - a->npref); k < ce;) {
        uint64_t w = a->p->whole_free[k / 64] >> (k % 64);
        if (!w) {
            k = (k / 64 + 1) * 64;
            continue;
        }
        k += (unsigned int)__builtin_ctzll(w);
        if (k >= ce)
            break;
        *it = a->npref + (k - cb) + 1;
        if (whole_ok(a, k)) {
            *c = k;
            return true;
        }
        k++;
    }
    *it = a->npref + (ce - cb);
    return false;
}

static void reset(struct attempt *a)
{
    a->got = 0;
    vmsec__cpuset_zero(&a->taken);
    vmsec__cpuset_zero(&a->blocked);
    memset(a->mark, 0, (a->p->tp.ncores / 64 + 1) * sizeof(*a->mark));
}

/* Single free CPUs: partly used cores first, then whole free ones. */
static void take_singles(struct attempt *a, unsigned int cb, unsigned int ce, unsigned int need)
{
    for (int pass = 0; pass < 2 && a->got < need; pass++) {
        unsigned int it = 0, c;
        while (a->got < need && next_core(a, cb, ce, &it, &c)) {
            bool whole = vmsec__planner_core_whole_free(a->p, c);
            if (marked(a, c) && pass == 0)
                continue;
            if ((pass == 0 && whole) || !a->p->avail[c])
                continue;
            take(a, c, need - a->got, false);
        }
    }
}

static bool try_isolate(struct attempt *a, unsigned int cb, unsigned int ce)
{
    unsigned int need = a->nv + a->ne, it = 0, c;
    while (a->got < need && next_whole(a, cb, ce, &it, &c))
        take(a, c, need - a->got, true);
    return a->got == need;
}

static bool try_require(struct attempt *a, unsigned int cb, unsigned int ce)
{
    unsigned int it = 0, c, last = 0;
    bool any = false;
    while (a->got < a->nv && next_whole(a, cb, ce, &it, &c)) {
        if (a->p->tp.core[c].online < 2)
            continue;
        take(a, c, a->nv - a->got, false);
        last = c;
        any = true;
    }
    if (a->got < a->nv)
        return false;
    if (a->ne && any) /* the last core's other thread, if left */
        take(a, last, 1, false);
    if (a->got < a->nv + a->ne)
        take_singles(a, cb, ce, a->nv + a->ne);
    return a->got == a->nv + a->ne;
}

static bool try_prefer(struct attempt *a, unsigned int cb, unsigned int ce)
{
    unsigned int need = a->nv + a->ne, it = 0, c;
    while (a->got < need && next_whole(a, cb, ce, &it, &c))
        if (need - a->got >= a->p->tp.core[c].online)
            take(a, c, need - a->got, false);
    take_singles(a, cb, ce, need);
    return a->got == need;
}

static bool try_range(struct attempt *a, int policy, unsigned int cb, unsigned int ce)
{
    reset(a);
    switch (policy) {
    case VMSEC_THREAD_ISOLATE: return try_isolate(a, cb, ce);
    case VMSEC_THREAD_REQUIRE: return try_require(a, cb, ce);
    default: return try_prefer(a, cb, ce);
    }
}

/* ---- refusal messages -------------------------------------------------------------------------- */

struct node_room {
    unsigned int whole_cpus, whole_cores, smt_cpus, smt_cores, free_cpus;
};

static void node_room(const struct attempt *a, unsigned int n, struct node_room *r)
{
    const struct vmsec__tnode *node = &a->p->tp.node[n];
    memset(r, 0, sizeof(*r));
    for (unsigned int c = node->cbeg; c < node->cend; c++) {
        const unsigned int *cpus = vmsec__topo_core_cpus(&a->p->tp, c);
        unsigned int f = 0;
        for (unsigned int i = 0; i < a->p->tp.core[c].n; i++)
            f += usable(a, cpus[i]);
        r->free_cpus += f;
        if (whole_ok(a, c)) {
            r->whole_cpus += f;
            r->whole_cores++;
            if (a->p->tp.core[c].online >= 2) {
                r->smt_cpus += f;
                r->smt_cores++;
            }
        }
    }
}

static int refuse(const struct attempt *a, const char *domain, const vmsec_plan_request *req)
{
    char msg[900], what[160];
    size_t len;
    int policy = req->thread_policy;
    const char *kind = policy == VMSEC_THREAD_ISOLATE   ? "CPUs on whole free cores"
                       : policy == VMSEC_THREAD_REQUIRE ? "CPUs on whole free SMT cores"
                                                        : "free CPUs";
    unsigned int total = 0;
    struct node_room r;

    if (policy == VMSEC_THREAD_REQUIRE && a->p->tp.max_threads < 2)
        return vmsec__error(VMSEC_EHOST,
                            "cannot place domain '%s': thread policy require needs SMT cores (two or more online threads), and the host has none",
                            domain);
    snprintf(what, sizeof(what), "%u vCPU%s%s, thread policy %s%s", a->nv, a->nv == 1 ? "" : "s",
             a->ne ? " + 1 dedicated emulator CPU" : "", policy_names[policy],
             req->numa_fit == VMSEC_NUMA_FIT_SPREAD ? ", spread over NUMA nodes" : "");
    len = (size_t)snprintf(msg, sizeof(msg), "cannot place domain '%s': needs %u %s%s (%s); ", domain, a->nv + a->ne,
                           kind, req->numa_fit == VMSEC_NUMA_FIT_NODE ? " of one NUMA node" : "", what);
    if (req->numa_fit == VMSEC_NUMA_FIT_SPREAD) {
        for (unsigned int n = 0; n < a->p->tp.nnodes; n++) {
            node_room(a, n, &r);
            total += policy == VMSEC_THREAD_ISOLATE ? r.whole_cpus : policy == VMSEC_THREAD_REQUIRE ? r.smt_cpus : r.free_cpus;
        }
        len += (size_t)snprintf(msg + len, len < sizeof(msg) ? sizeof(msg) - len : 0, "the host has %u: ", total);
    }
    for (unsigned int n = 0; n < a->p->tp.nnodes && len < sizeof(msg); n++) {
        unsigned int cpus, cores;
        node_room(a, n, &r);
        cpus = policy == VMSEC_THREAD_ISOLATE ? r.whole_cpus : policy == VMSEC_THREAD_REQUIRE ? r.smt_cpus : r.free_cpus;
        cores = policy == VMSEC_THREAD_ISOLATE ? r.whole_cores : r.smt_cores;
        if (policy == VMSEC_THREAD_PREFER)
            len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%snode %u has %u", n ? ", " : "", a->p->tp.node[n].id, cpus);
        else
            len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%snode %u has %u (%u core%s)", n ? ", " : "",
                                    a->p->tp.node[n].id, cpus, cores, cores == 1 ? "" : "s");
    }
    return vmsec__error(VMSEC_EHOST, "%s", msg);
}

/* ---- plan / place ------------------------------------------------------------------------------ */

static int check_request(const vmsec_plan_request *req)
{
    if (req->version != VMSEC_PLAN_REQUEST_VERSION)
        return vmsec__error(VMSEC_EINVAL, "planner: request version %u is not %u", req->version, VMSEC_PLAN_REQUEST_VERSION);
    if (req->vcpus < 1 || req->vcpus > VMSEC_CPUSET_MAX)
        return vmsec__error(VMSEC_EINVAL, "planner: request for %u vCPUs (1 to %u)", req->vcpus, VMSEC_CPUSET_MAX);
    if (req->thread_policy < VMSEC_THREAD_ISOLATE || req->thread_policy > VMSEC_THREAD_REQUIRE)
        return vmsec__error(VMSEC_EINVAL, "planner: unknown thread policy %d", req->thread_policy);
    if (req->emulator != VMSEC_EMULATOR_SHARE && req->emulator != VMSEC_EMULATOR_DEDICATED)
        return vmsec__error(VMSEC_EINVAL, "planner: unknown emulator policy %d", req->emulator);
    if (req->numa_fit != VMSEC_NUMA_FIT_NODE && req->numa_fit != VMSEC_NUMA_FIT_SPREAD)
        return vmsec__error(VMSEC_EINVAL, "planner: unknown NUMA fit %d", req->numa_fit);
    return 0;
}

/* Preferred cores: those of the previous holding, in the order its CPUs were given; `seen` is
 * a zeroed bitmap over cores, left zeroed. */
static unsigned int pref_cores(const struct vmsec_planner *p, const struct vmsec__holding *old, unsigned int *out,
                               uint64_t *seen)
{
    unsigned int n = 0;
    for (unsigned int i = 0; old && i < old->norder; i++) {
        unsigned int c = p->tp.cpu[old->order[i]].core;
        if (!((seen[c / 64] >> (c % 64)) & 1u)) {
            seen[c / 64] |= 1ull << (c % 64);
            out[n++] = c;
        }
    }
    for (unsigned int i = 0; i < n; i++)
        seen[out[i] / 64] = 0;
    return n;
}

static int build_placement(const struct attempt *a, const char *domain, const vmsec_plan_request *req,
                           struct vmsec_placement **out)
{
    struct vmsec_placement *pl = calloc(1, sizeof(*pl));
    if (!pl || !(pl->domain = strdup(domain)) || !(pl->vcpu = malloc(a->nv * sizeof(*pl->vcpu)))) {
        vmsec_placement_free(pl);
        return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    }
    pl->nvcpus = a->nv;
    memcpy(pl->vcpu, a->cpus, a->nv * sizeof(*pl->vcpu));
    for (unsigned int i = 0; i < a->got; i++) {
        vmsec__cpuset_add(&pl->used, a->cpus[i]);
        vmsec__cpuset_add(&pl->nodes, a->p->tp.cpu[a->cpus[i]].node);
        if (i >= a->nv || !a->ne)
            vmsec__cpuset_add(&pl->emulator, a->cpus[i]);
    }
    pl->blocked = a->blocked;
    pl->thread_policy = req->thread_policy;
    pl->emulator_policy = req->emulator;
    pl->numa_fit = req->numa_fit;
    *out = pl;
    return 0;
}

/* Plans with the domain's own holding set aside; records the result when `commit`. */
static int plan(struct vmsec_planner *p, const char *domain, const vmsec_plan_request *req, bool commit,
                struct vmsec_placement **out)
{
    struct attempt a;
    vmsec_cpuset xres;
    struct vmsec__holding *old, *h = NULL;
    struct vmsec_placement *pl = NULL;
    unsigned int *prefc = NULL, home = 0;
    bool ok = false, has_home = false;
    int rc;

    if (!p || !req || (!out && !commit))
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    if (out)
        *out = NULL;
    if ((rc = vmsec__planner_check_name(domain)) < 0 || (rc = check_request(req)) < 0 ||
        (rc = vmsec__planner_parse_cpus(p, req->reserved_cpus, &xres, "planner: request reserved_cpus")) < 0)
        return rc;
    if ((rc = vmsec__planner_reserve_room(p)) < 0)
        return rc;

    memset(&a, 0, sizeof(a));
    a.p = p;
    a.xres = &xres;
    a.nv = req->vcpus;
    a.ne = req->emulator == VMSEC_EMULATOR_DEDICATED;
    a.cpus = malloc((a.nv + 1) * sizeof(*a.cpus));
    a.mark = calloc(p->tp.ncores / 64 + 1, sizeof(*a.mark));
    prefc = malloc((p->tp.ncores + 1) * sizeof(*prefc));
    if (!a.cpus || !a.mark || !prefc) {
        rc = vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
        goto out;
    }

    old = vmsec__planner_detach(p, domain);
    a.pref = prefc;
    a.npref = pref_cores(p, old, prefc, a.mark); /* a.mark is zero until the first attempt */
    if (a.npref) {
        home = p->tp.core[prefc[0]].nidx;
        has_home = true;
    }
    /* One node: the previous home node first, then ascending ids. */
    for (unsigned int k = 0; k <= p->tp.nnodes && !ok; k++) {
        unsigned int n = k == 0 ? home : k - 1;
        if ((k == 0 && !has_home) || (k > 0 && has_home && n == home))
            continue;
        if (n < p->tp.nnodes)
            ok = try_range(&a, req->thread_policy, p->tp.node[n].cbeg, p->tp.node[n].cend);
    }
    if (!ok && req->numa_fit == VMSEC_NUMA_FIT_SPREAD)
        ok = try_range(&a, req->thread_policy, 0, p->tp.ncores);
    if (!ok) {
        reset(&a);
        rc = refuse(&a, domain, req);
    }
    else
        rc = build_placement(&a, domain, req, &pl);
    if (rc == 0 && commit) {
        h = vmsec__holding_new(domain, &pl->used, &pl->blocked, a.cpus, a.got);
        if (!h)
            rc = vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    }
    if (rc == 0 && commit) {
        vmsec__holding_free(old);
        old = NULL;
        vmsec__planner_attach(p, h); /* room reserved above: cannot fail */
    } else if (old) {
        vmsec__planner_attach(p, old); /* put the previous holding back */
    }
    if (rc == 0 && out)
        *out = pl;
    else
        vmsec_placement_free(pl);
out:
    free(a.cpus);
    free(a.mark);
    free(prefc);
    return rc;
}

int vmsec_planner_plan(vmsec_planner *p, const char *domain, const vmsec_plan_request *req, vmsec_placement **out)
{
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    return plan(p, domain, req, false, out);
}

int vmsec_planner_place(vmsec_planner *p, const char *domain, const vmsec_plan_request *req, vmsec_placement **out)
{
    return plan(p, domain, req, true, out);
}

/* ---- placement accessors ----------------------------------------------------------------------- */

void vmsec_placement_free(vmsec_placement *pl)
{
    if (!pl)
        return;
    free(pl->domain);
    free(pl->vcpu);
    free(pl);
}

int vmsec_placement_vcpu_count(const vmsec_placement *pl, unsigned int *n)
{
    if (!pl || !n)
        return vmsec__error(VMSEC_EINVAL, "placement: NULL argument");
    *n = pl->nvcpus;
    return 0;
}

int vmsec_placement_vcpu_cpu(const vmsec_placement *pl, unsigned int vcpu, unsigned int *cpu)
{
    if (!pl || !cpu)
        return vmsec__error(VMSEC_EINVAL, "placement: NULL argument");
    if (vcpu >= pl->nvcpus)
        return vmsec__error(VMSEC_ENOTFOUND, "placement: no vCPU %u (the placement has %u)", vcpu, pl->nvcpus);
    *cpu = pl->vcpu[vcpu];
    return 0;
}

int vmsec_placement_cpuset(const vmsec_placement *pl, int which, char *buf, size_t size)
{
    const vmsec_cpuset *s;
    if (!pl || !buf)
        return vmsec__error(VMSEC_EINVAL, "placement: NULL argument");
    switch (which) {
    case VMSEC_PLACEMENT_EMULATOR: s = &pl->emulator; break;
    case VMSEC_PLACEMENT_USED: s = &pl->used; break;
    case VMSEC_PLACEMENT_BLOCKED: s = &pl->blocked; break;
    case VMSEC_PLACEMENT_NODES: s = &pl->nodes; break;
    default: return vmsec__error(VMSEC_EINVAL, "placement: unknown set %d", which);
    }
    return vmsec__planner_put_set(s, buf, size, "placement");
}

int vmsec_placement_to_text(const vmsec_placement *pl, char *buf, size_t size, size_t *needed)
{
    char *set;
    size_t len = 0;
    if (!pl || (!buf && size))
        return vmsec__error(VMSEC_EINVAL, "placement: NULL argument");
    set = malloc(VMSEC_CPUSET_TEXT_MAX);
    if (!set)
        return vmsec__error(VMSEC_ENOMEM, "placement: out of memory");
    vmsec__cpuset_format(&pl->emulator, set, VMSEC_CPUSET_TEXT_MAX);
    for (int pass = 0; pass < 2; pass++) {
        char *dst = pass ? buf : NULL;
        size_t cap = pass ? size : 0;
        len = 0;
        for (unsigned int i = 0; i < pl->nvcpus; i++)
            len += (size_t)snprintf(dst ? dst + len : NULL, dst ? cap - len : 0, "vcpu.%u.pin = %u\n", i, pl->vcpu[i]);
        len += (size_t)snprintf(dst ? dst + len : NULL, dst ? cap - len : 0, "emulator.pin = %s\n", set);
        if (needed)
            *needed = len + 1;
        if (pass == 0 && (!buf || size < len + 1)) {
            free(set);
            if (!buf)
                return 0;
            return vmsec__error(VMSEC_ETOOBIG, "placement: text needs %zu bytes, buffer has %zu", len + 1, size);
        }
    }
    free(set);
    return 0;
}
