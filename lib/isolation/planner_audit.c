/* SPDX-License-Identifier: ISC */
/* CPU placement planner: the SMT audit, which lists every pair of domains whose held CPUs share
 * a core. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/planner_internal.h"

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
        VMSEC__FOR_EACH_CPU(&p->dom[d]->used, cpu)
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
