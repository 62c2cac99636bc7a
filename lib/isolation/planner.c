/* CPU placement planner: holdings per domain, and the placement of one request (see the rules
 * in include/vmsec/planner.h). State is kept in per-CPU counters and per-core summaries that are
 * refreshed only for the cores a change touches, so placing one domain costs a walk over the
 * candidate cores, never a rescan of every domain. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/planner_internal.h"

#define FOR_EACH_CPU(s, var)                                                                \
    for (unsigned int var##_w = 0; var##_w < VMSEC_CPUSET_WORDS; var##_w++)                 \
        for (uint64_t var##_b = (s)->bits[var##_w]; var##_b; var##_b &= var##_b - 1)        \
            for (unsigned int var = var##_w * 64u + (unsigned int)__builtin_ctzll(var##_b), \
                              var##_once = 1;                                               \
                 var##_once; var##_once = 0)

static const char *const policy_names[] = {"isolate", "prefer", "require"};

int vmsec_plan_request_init(vmsec_plan_request *req, unsigned int version)
{
    static const vmsec_plan_request init = VMSEC_PLAN_REQUEST_INIT;
    if (!req || version != VMSEC_PLAN_REQUEST_VERSION)
        return vmsec__error(VMSEC_EINVAL, "planner: request NULL or of unknown version %u", req ? version : 0);
    *req = init;
    return 0;
}

/* ---- per-core state --------------------------------------------------------------------------- */

static bool cpu_free(const struct vmsec_planner *p, unsigned int cpu)
{
    return p->tp.cpu[cpu].online && !p->use[cpu] && !p->blk[cpu] && !vmsec__cpuset_has(&p->reserved, cpu);
}

static bool core_is_whole_free(const struct vmsec_planner *p, unsigned int c)
{
    return (p->whole_free[c / 64] >> (c % 64)) & 1u;
}

static void refresh_core(struct vmsec_planner *p, unsigned int c)
{
    const unsigned int *cpus = vmsec__topo_core_cpus(&p->tp, c);
    unsigned int avail = 0;
    bool whole = p->tp.core[c].online > 0;
    for (unsigned int i = 0; i < p->tp.core[c].n; i++) {
        unsigned int cpu = cpus[i];
        if (p->use[cpu] || p->blk[cpu] || vmsec__cpuset_has(&p->reserved, cpu))
            whole = false;
        else if (p->tp.cpu[cpu].online)
            avail++;
    }
    p->avail[c] = avail;
    if (whole)
        p->whole_free[c / 64] |= 1ull << (c % 64);
    else
        p->whole_free[c / 64] &= ~(1ull << (c % 64));
}

/* Adds (delta 1) or removes (delta -1) a holding's effect on the counters. */
static void account(struct vmsec_planner *p, const struct vmsec__holding *h, int delta)
{
    FOR_EACH_CPU(&h->used, cpu)
    {
        p->use[cpu] += (uint32_t)delta;
        refresh_core(p, p->tp.cpu[cpu].core);
    }
    FOR_EACH_CPU(&h->blocked, cpu)
    {
        p->blk[cpu] += (uint32_t)delta;
        refresh_core(p, p->tp.cpu[cpu].core);
    }
}

/* ---- lifetime ---------------------------------------------------------------------------------- */

int vmsec_planner_new(vmsec_planner **out, const vmsec_topology *t)
{
    struct vmsec_planner *p;
    int rc;
    if (!out || !t)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    if ((rc = vmsec__topo_build(t, &p->tp)) < 0) {
        free(p);
        return rc;
    }
    if (p->tp.nonline == 0) {
        vmsec_planner_free(p);
        return vmsec__error(VMSEC_EHOST, "planner: the topology has no online CPU");
    }
    p->use = calloc(p->tp.nslots, sizeof(*p->use));
    p->blk = calloc(p->tp.nslots, sizeof(*p->blk));
    p->whole_free = calloc(p->tp.ncores / 64 + 1, sizeof(*p->whole_free));
    p->avail = calloc(p->tp.ncores, sizeof(*p->avail));
    if (!p->use || !p->blk || !p->whole_free || !p->avail) {
        vmsec_planner_free(p);
        return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    }
    for (unsigned int c = 0; c < p->tp.ncores; c++)
        refresh_core(p, c);
    *out = p;
    return 0;
}

static void holding_free(struct vmsec__holding *h)
{
    if (!h)
        return;
    free(h->name);
    free(h->order);
    free(h);
}

void vmsec_planner_free(vmsec_planner *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ndom; i++)
        holding_free(p->dom[i]);
    free(p->dom);
    free(p->use);
    free(p->blk);
    free(p->whole_free);
    free(p->avail);
    vmsec__topo_clear(&p->tp);
    free(p);
}

/* ---- holdings ---------------------------------------------------------------------------------- */

int vmsec__planner_check_name(const char *domain)
{
    if (!domain || !*domain)
        return vmsec__error(VMSEC_EINVAL, "planner: domain name is NULL or empty");
    if (strlen(domain) > VMSEC__DOMAIN_NAME_MAX)
        return vmsec__error(VMSEC_EINVAL, "planner: domain name longer than %u bytes", VMSEC__DOMAIN_NAME_MAX);
    return 0;
}

int vmsec__planner_check_cpus(const struct vmsec_planner *p, const vmsec_cpuset *s, const char *what)
{
    FOR_EACH_CPU(s, cpu)
    {
        if (!vmsec__cpuset_has(&p->tp.present, cpu))
            return vmsec__error(VMSEC_EFORMAT, "%s: CPU %u is not in the host topology", what, cpu);
    }
    return 0;
}

/* Binary search by name: index of the domain, or -(insertion point) - 1. */
static long find_dom(const struct vmsec_planner *p, const char *name)
{
    size_t lo = 0, hi = p->ndom;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->dom[mid]->name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* Removes the domain's entry (and its effect) without freeing it; NULL if it holds nothing. */
static struct vmsec__holding *detach(struct vmsec_planner *p, const char *name)
{
    long i = find_dom(p, name);
    struct vmsec__holding *h;
    if (i < 0)
        return NULL;
    h = p->dom[i];
    account(p, h, -1);
    memmove(&p->dom[i], &p->dom[i + 1], (p->ndom - (size_t)i - 1) * sizeof(*p->dom));
    p->ndom--;
    return h;
}

/* Inserts a holding (the name must not be held); cannot fail once room is reserved. */
static int attach(struct vmsec_planner *p, struct vmsec__holding *h)
{
    long i = find_dom(p, h->name);
    size_t at;
    if (i >= 0)
        return vmsec__error(VMSEC_EINTERNAL, "planner: domain '%s' attached twice", h->name);
    at = (size_t)(-i - 1);
    if (p->ndom == p->capdom) {
        size_t ncap = p->capdom ? p->capdom * 2 : 16;
        struct vmsec__holding **n = realloc(p->dom, ncap * sizeof(*n));
        if (!n)
            return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
        p->dom = n;
        p->capdom = ncap;
    }
    memmove(&p->dom[at + 1], &p->dom[at], (p->ndom - at) * sizeof(*p->dom));
    p->dom[at] = h;
    p->ndom++;
    account(p, h, 1);
    return 0;
}

static int reserve_dom_room(struct vmsec_planner *p)
{
    if (p->ndom < p->capdom)
        return 0;
    size_t ncap = p->capdom ? p->capdom * 2 : 16;
    struct vmsec__holding **n = realloc(p->dom, ncap * sizeof(*n));
    if (!n)
        return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    p->dom = n;
    p->capdom = ncap;
    return 0;
}

/* The other threads of every core `used` touches. */
static void siblings_of(const struct vmsec_planner *p, const vmsec_cpuset *used, vmsec_cpuset *out)
{
    vmsec__cpuset_zero(out);
    FOR_EACH_CPU(used, cpu)
    {
        unsigned int c = p->tp.cpu[cpu].core;
        const unsigned int *cpus = vmsec__topo_core_cpus(&p->tp, c);
        for (unsigned int i = 0; i < p->tp.core[c].n; i++)
            if (!vmsec__cpuset_has(used, cpus[i]))
                vmsec__cpuset_add(out, cpus[i]);
    }
}

static struct vmsec__holding *holding_new(const char *name, const vmsec_cpuset *used, const vmsec_cpuset *blocked,
                                          const unsigned int *order, unsigned int norder)
{
    struct vmsec__holding *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->name = strdup(name);
    h->order = malloc((norder ? norder : 1) * sizeof(*h->order));
    if (!h->name || !h->order) {
        holding_free(h);
        return NULL;
    }
    h->used = *used;
    h->blocked = *blocked;
    if (norder)
        memcpy(h->order, order, norder * sizeof(*order));
    h->norder = norder;
    return h;
}

int vmsec__planner_set_holding(struct vmsec_planner *p, const char *name, const vmsec_cpuset *used, bool isolate)
{
    struct vmsec__holding *h = NULL, *old;
    vmsec_cpuset blocked;
    unsigned int *order, n = 0;
    int rc;
    if (vmsec__cpuset_empty(used)) {
        holding_free(detach(p, name));
        return 0;
    }
    if (isolate)
        siblings_of(p, used, &blocked);
    else
        vmsec__cpuset_zero(&blocked);
    order = malloc(vmsec__cpuset_count(used) * sizeof(*order));
    if (!order)
        return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    FOR_EACH_CPU(used, cpu)
    {
        order[n++] = cpu;
    }
    h = holding_new(name, used, &blocked, order, n);
    free(order);
    if (!h || (rc = reserve_dom_room(p)) < 0) {
        holding_free(h);
        return h ? rc : vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    }
    old = detach(p, name);
    holding_free(old);
    return attach(p, h);
}

static int parse_cpus(const struct vmsec_planner *p, const char *text, vmsec_cpuset *out, const char *what)
{
    char why[VMSEC_CPUSET_WHY_MAX];
    if (!text || !*text) {
        vmsec__cpuset_zero(out);
        return 0;
    }
    if (vmsec__cpuset_parse(out, text, strlen(text), VMSEC_CPUSET_ALLOW_EMPTY, why, sizeof(why)) < 0)
        return vmsec__error(VMSEC_EFORMAT, "%s: '%s': %s", what, text, why);
    return vmsec__planner_check_cpus(p, out, what);
}

int vmsec_planner_reserve(vmsec_planner *p, const char *cpus)
{
    vmsec_cpuset s;
    int rc;
    if (!p)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    if ((rc = parse_cpus(p, cpus, &s, "planner: reserved CPUs")) < 0)
        return rc;
    p->reserved = s;
    for (unsigned int c = 0; c < p->tp.ncores; c++)
        refresh_core(p, c);
    return 0;
}

int vmsec_planner_hold(vmsec_planner *p, const char *domain, const char *cpus, unsigned int flags)
{
    vmsec_cpuset s;
    char what[64 + VMSEC__DOMAIN_NAME_MAX];
    long i;
    int rc;
    if (!p || !cpus)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    if ((rc = vmsec__planner_check_name(domain)) < 0)
        return rc;
    if (flags & ~VMSEC_HOLD_ISOLATE)
        return vmsec__error(VMSEC_EINVAL, "planner: unknown hold flags 0x%x", flags & ~VMSEC_HOLD_ISOLATE);
    snprintf(what, sizeof(what), "planner: domain '%s'", domain);
    if ((rc = parse_cpus(p, cpus, &s, what)) < 0)
        return rc;
    if (vmsec__cpuset_empty(&s))
        return vmsec__error(VMSEC_EFORMAT, "%s: empty CPU list", what);
    i = find_dom(p, domain);
    if (i >= 0) { /* add to what it holds: keep its earlier CPUs and blocks */
        struct vmsec__holding *h = p->dom[i];
        vmsec_cpuset blocked = h->blocked, extra;
        for (unsigned int w = 0; w < VMSEC_CPUSET_WORDS; w++)
            s.bits[w] |= h->used.bits[w];
        if (flags & VMSEC_HOLD_ISOLATE) {
            siblings_of(p, &s, &extra);
            for (unsigned int w = 0; w < VMSEC_CPUSET_WORDS; w++)
                blocked.bits[w] |= extra.bits[w];
        }
        for (unsigned int w = 0; w < VMSEC_CPUSET_WORDS; w++)
            blocked.bits[w] &= ~s.bits[w];
        account(p, h, -1);
        h->used = s;
        h->blocked = blocked;
        account(p, h, 1);
        return 0;
    }
    return vmsec__planner_set_holding(p, domain, &s, flags & VMSEC_HOLD_ISOLATE);
}

int vmsec_planner_release(vmsec_planner *p, const char *domain)
{
    struct vmsec__holding *h;
    if (!p || !domain)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    h = detach(p, domain);
    if (!h)
        return vmsec__error(VMSEC_ENOTFOUND, "planner: domain '%s' holds no CPUs", domain);
    holding_free(h);
    return 0;
}

static int put_set(const vmsec_cpuset *s, char *buf, size_t size, const char *what)
{
    if (vmsec__cpuset_format(s, buf, size) >= size)
        return vmsec__error(VMSEC_ETOOBIG, "%s: buffer of %zu bytes is too small", what, size);
    return 0;
}

int vmsec_planner_held(const vmsec_planner *p, const char *domain, char *buf, size_t size)
{
    long i;
    vmsec_cpuset none;
    int rc;
    if (!p || !domain || !buf)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    i = find_dom(p, domain);
    vmsec__cpuset_zero(&none);
    rc = put_set(i >= 0 ? &p->dom[i]->used : &none, buf, size, "planner: held CPUs");
    return rc < 0 ? rc : i >= 0;
}

int vmsec_planner_free_cpus(const vmsec_planner *p, char *buf, size_t size)
{
    vmsec_cpuset s;
    if (!p || !buf)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    vmsec__cpuset_zero(&s);
    FOR_EACH_CPU(&p->tp.online, cpu)
    {
        if (cpu_free(p, cpu))
            vmsec__cpuset_add(&s, cpu);
    }
    return put_set(&s, buf, size, "planner: free CPUs");
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
    return cpu_free(a->p, cpu) && !vmsec__cpuset_has(a->xres, cpu) && !vmsec__cpuset_has(&a->taken, cpu);
}

/* Whole free for this request: whole free and no CPU in the request's own reserved set. */
static bool whole_ok(const struct attempt *a, unsigned int c)
{
    const unsigned int *cpus = vmsec__topo_core_cpus(&a->p->tp, c);
    if (!core_is_whole_free(a->p, c) || marked(a, c))
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
            bool whole = core_is_whole_free(a->p, c);
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
        (rc = parse_cpus(p, req->reserved_cpus, &xres, "planner: request reserved_cpus")) < 0)
        return rc;
    if ((rc = reserve_dom_room(p)) < 0)
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

    old = detach(p, domain);
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
        h = holding_new(domain, &pl->used, &pl->blocked, a.cpus, a.got);
        if (!h)
            rc = vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    }
    if (rc == 0 && commit) {
        holding_free(old);
        old = NULL;
        attach(p, h); /* room reserved above: cannot fail */
    } else if (old) {
        attach(p, old); /* put the previous holding back */
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
    return put_set(s, buf, size, "placement");
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

/* ---- SMT audit --------------------------------------------------------------------------------- */

struct finding {
    unsigned int core_cpu, node, socket;
    size_t a, b;  /* indexes into names */
    char *cpus;   /* the core's CPUs as a list */
};

struct vmsec_smt_audit {
    char **names;
    size_t nnames;
    struct finding *f;
    size_t n;
};

struct pair {
    unsigned int core;
    size_t dom;
};

static int cmp_pair(const void *x, const void *y)
{
    const struct pair *a = x, *b = y;
    if (a->core != b->core)
        return a->core < b->core ? -1 : 1;
    return a->dom < b->dom ? -1 : a->dom > b->dom;
}

void vmsec_smt_audit_free(vmsec_smt_audit *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nnames; i++)
        free(a->names[i]);
    for (size_t i = 0; i < a->n; i++)
        free(a->f[i].cpus);
    free(a->names);
    free(a->f);
    free(a);
}

/* Writes ascending CPU ids as a list with ranges ("0-1,128"). */
static void format_ids(const unsigned int *ids, unsigned int n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned int i = 0; i < n && len < size;) {
        unsigned int j = i;
        while (j + 1 < n && ids[j + 1] == ids[j] + 1)
            j++;
        if (j == i)
            len += (size_t)snprintf(buf + len, size - len, "%s%u", i ? "," : "", ids[i]);
        else
            len += (size_t)snprintf(buf + len, size - len, "%s%u-%u", i ? "," : "", ids[i], ids[j]);
        i = j + 1;
    }
}

static int add_finding(const struct vmsec_planner *p, struct vmsec_smt_audit *au, size_t *cap, unsigned int c,
                       size_t da, size_t db)
{
    const unsigned int *cpus = vmsec__topo_core_cpus(&p->tp, c);
    struct finding *f;
    char set[512];
    if (au->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct finding *nf = realloc(au->f, ncap * sizeof(*nf));
        if (!nf)
            return vmsec__error(VMSEC_ENOMEM, "audit: out of memory");
        au->f = nf;
        *cap = ncap;
    }
    format_ids(cpus, p->tp.core[c].n, set, sizeof(set)); /* a core has a handful of threads */
    f = &au->f[au->n];
    f->core_cpu = cpus[0];
    f->node = p->tp.core[c].node;
    f->socket = p->tp.core[c].socket;
    f->a = da;
    f->b = db;
    if (!(f->cpus = strdup(set)))
        return vmsec__error(VMSEC_ENOMEM, "audit: out of memory");
    au->n++;
    return 0;
}

/* pr lists (core, domain) once per domain present on a core, sorted: every pair of domains
 * on one core is a finding. */
static int audit_fill(const struct vmsec_planner *p, struct vmsec_smt_audit *au, const struct pair *pr, size_t npr)
{
    size_t cap = 0;
    int rc;
    for (size_t i = 0; i < npr;) {
        size_t j = i;
        while (j < npr && pr[j].core == pr[i].core)
            j++;
        for (size_t x = i; x < j; x++)
            for (size_t y = x + 1; y < j; y++)
                if ((rc = add_finding(p, au, &cap, pr[x].core, pr[x].dom, pr[y].dom)) < 0)
                    return rc;
        i = j;
    }
    return 0;
}

int vmsec_planner_audit(const vmsec_planner *p, vmsec_smt_audit **out)
{
    struct vmsec_smt_audit *au;
    struct pair *pr = NULL;
    size_t npr = 0, cap = 0;
    unsigned int *last = NULL;
    int rc = 0;
    if (!p || !out)
        return vmsec__error(VMSEC_EINVAL, "audit: NULL argument");
    *out = NULL;
    au = calloc(1, sizeof(*au));
    last = malloc((p->tp.ncores + 1) * sizeof(*last));
    if (!au || !last || (p->ndom && !(au->names = calloc(p->ndom, sizeof(*au->names))))) {
        rc = vmsec__error(VMSEC_ENOMEM, "audit: out of memory");
        goto out;
    }
    for (unsigned int c = 0; c < p->tp.ncores; c++)
        last[c] = UINT32_MAX;
    for (size_t d = 0; d < p->ndom; d++) {
        if (!(au->names[d] = strdup(p->dom[d]->name))) {
            rc = vmsec__error(VMSEC_ENOMEM, "audit: out of memory");
            goto out;
        }
        au->nnames++;
        FOR_EACH_CPU(&p->dom[d]->used, cpu)
        {
            unsigned int c = p->tp.cpu[cpu].core;
            if (last[c] == (unsigned int)d)
                continue;
            last[c] = (unsigned int)d;
            if (npr == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct pair *n = realloc(pr, ncap * sizeof(*n));
                if (!n) {
                    rc = vmsec__error(VMSEC_ENOMEM, "audit: out of memory");
                    goto out;
                }
                pr = n;
                cap = ncap;
            }
            pr[npr].core = c;
            pr[npr].dom = d;
            npr++;
        }
    }
    if (npr)
        qsort(pr, npr, sizeof(*pr), cmp_pair);
    rc = audit_fill(p, au, pr, npr);
out:
    free(pr);
    free(last);
    if (rc < 0)
        vmsec_smt_audit_free(au);
    else
        *out = au;
    return rc;
}

int vmsec_smt_audit_count(const vmsec_smt_audit *a, size_t *n)
{
    if (!a || !n)
        return vmsec__error(VMSEC_EINVAL, "audit: NULL argument");
    *n = a->n;
    return 0;
}

int vmsec_smt_audit_get(const vmsec_smt_audit *a, size_t index, const char **domain_a, const char **domain_b,
                        unsigned int *core_cpu)
{
    if (!a || !domain_a || !domain_b || !core_cpu)
        return vmsec__error(VMSEC_EINVAL, "audit: NULL argument");
    if (index >= a->n)
        return vmsec__error(VMSEC_ENOTFOUND, "audit: no finding %zu (there are %zu)", index, a->n);
    *domain_a = a->names[a->f[index].a];
    *domain_b = a->names[a->f[index].b];
    *core_cpu = a->f[index].core_cpu;
    return 0;
}

int vmsec_smt_audit_to_text(const vmsec_smt_audit *a, char *buf, size_t size, size_t *needed)
{
    size_t len = 0;
    if (!a || (!buf && size))
        return vmsec__error(VMSEC_EINVAL, "audit: NULL argument");
    for (size_t i = 0; i < a->n; i++) {
        const struct finding *f = &a->f[i];
        len += (size_t)snprintf(NULL, 0, "domains '%s' and '%s' share core %u (node %u, socket %u, CPUs %s)\n",
                                a->names[f->a], a->names[f->b], f->core_cpu, f->node, f->socket, f->cpus);
    }
    if (needed)
        *needed = len + 1;
    if (!buf)
        return 0;
    if (size < len + 1)
        return vmsec__error(VMSEC_ETOOBIG, "audit: text needs %zu bytes, buffer has %zu", len + 1, size);
    len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < a->n; i++) {
        const struct finding *f = &a->f[i];
        len += (size_t)snprintf(buf + len, size - len, "domains '%s' and '%s' share core %u (node %u, socket %u, CPUs %s)\n",
                                a->names[f->a], a->names[f->b], f->core_cpu, f->node, f->socket, f->cpus);
    }
    return 0;
}
