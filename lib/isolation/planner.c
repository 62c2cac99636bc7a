/* SPDX-License-Identifier: ISC */
/* CPU placement planner: its state and the holdings per domain (see the rules in
 * include/vmsec/planner.h). State is kept in per-CPU counters and per-core summaries that are
 * refreshed only for the cores a change touches, so placing one domain (planner_place.c) costs a
 * walk over the candidate cores, never a rescan of every domain. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/planner_internal.h"

/* ---- per-core state --------------------------------------------------------------------------- */

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
    VMSEC__FOR_EACH_CPU(&h->used, cpu)
    {
        p->use[cpu] += (uint32_t)delta;
        refresh_core(p, p->tp.cpu[cpu].core);
    }
    VMSEC__FOR_EACH_CPU(&h->blocked, cpu)
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

void vmsec__holding_free(struct vmsec__holding *h)
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
        vmsec__holding_free(p->dom[i]);
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
    VMSEC__FOR_EACH_CPU(s, cpu)
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

struct vmsec__holding *vmsec__planner_detach(struct vmsec_planner *p, const char *name)
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

int vmsec__planner_attach(struct vmsec_planner *p, struct vmsec__holding *h)
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

int vmsec__planner_reserve_room(struct vmsec_planner *p)
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
    VMSEC__FOR_EACH_CPU(used, cpu)
    {
        unsigned int c = p->tp.cpu[cpu].core;
        const unsigned int *cpus = vmsec__topo_core_cpus(&p->tp, c);
        for (unsigned int i = 0; i < p->tp.core[c].n; i++)
            if (!vmsec__cpuset_has(used, cpus[i]))
                vmsec__cpuset_add(out, cpus[i]);
    }
}

struct vmsec__holding *vmsec__holding_new(const char *name, const vmsec_cpuset *used, const vmsec_cpuset *blocked,
                                          const unsigned int *order, unsigned int norder)
{
    struct vmsec__holding *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->name = strdup(name);
    h->order = malloc((norder ? norder : 1) * sizeof(*h->order));
    if (!h->name || !h->order) {
        vmsec__holding_free(h);
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
        vmsec__holding_free(vmsec__planner_detach(p, name));
        return 0;
    }
    if (isolate)
        siblings_of(p, used, &blocked);
    else
        vmsec__cpuset_zero(&blocked);
    order = malloc(vmsec__cpuset_count(used) * sizeof(*order));
    if (!order)
        return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    VMSEC__FOR_EACH_CPU(used, cpu)
    {
        order[n++] = cpu;
    }
    h = vmsec__holding_new(name, used, &blocked, order, n);
    free(order);
    if (!h || (rc = vmsec__planner_reserve_room(p)) < 0) {
        vmsec__holding_free(h);
        return h ? rc : vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    }
    old = vmsec__planner_detach(p, name);
    vmsec__holding_free(old);
    return vmsec__planner_attach(p, h);
}

int vmsec__planner_parse_cpus(const struct vmsec_planner *p, const char *text, vmsec_cpuset *out, const char *what)
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
    if ((rc = vmsec__planner_parse_cpus(p, cpus, &s, "planner: reserved CPUs")) < 0)
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
    if ((rc = vmsec__planner_parse_cpus(p, cpus, &s, what)) < 0)
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
    h = vmsec__planner_detach(p, domain);
    if (!h)
        return vmsec__error(VMSEC_ENOTFOUND, "planner: domain '%s' holds no CPUs", domain);
    vmsec__holding_free(h);
    return 0;
}

int vmsec__planner_put_set(const vmsec_cpuset *s, char *buf, size_t size, const char *what)
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
    rc = vmsec__planner_put_set(i >= 0 ? &p->dom[i]->used : &none, buf, size, "planner: held CPUs");
    return rc < 0 ? rc : i >= 0;
}

int vmsec_planner_free_cpus(const vmsec_planner *p, char *buf, size_t size)
{
    vmsec_cpuset s;
    if (!p || !buf)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    vmsec__cpuset_zero(&s);
    VMSEC__FOR_EACH_CPU(&p->tp.online, cpu)
    {
        if (vmsec__planner_cpu_free(p, cpu))
            vmsec__cpuset_add(&s, cpu);
    }
    return vmsec__planner_put_set(&s, buf, size, "planner: free CPUs");
}
