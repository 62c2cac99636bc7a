/* SPDX-License-Identifier: ISC */
/* Host CPU topology: built CPU by CPU, parsed from a text form or from libvirt capabilities XML,
 * and derived into the indexed form the planner works on (lib/isolation/topology.h). */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/internal.h"
#include "isolation/topology.h"

#define TOPO_ID_MAX 1000000u /* socket, die and core ids: far above any real host */

int vmsec_topology_new(vmsec_topology **out)
{
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "topology: NULL argument");
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return vmsec__error(VMSEC_ENOMEM, "topology: out of memory");
    return 0;
}

void vmsec_topology_free(vmsec_topology *t)
{
    if (!t)
        return;
    free(t->cpu);
    free(t);
}

int vmsec__topology_add(struct vmsec_topology *t, unsigned int cpu, unsigned int node, bool has_ids,
                        unsigned int socket, unsigned int die, unsigned int core, bool online,
                        unsigned int key_kind, unsigned int key)
{
    struct vmsec__tcpu *c;
    if (cpu >= VMSEC_CPUSET_MAX)
        return vmsec__error(VMSEC_EINVAL, "topology: CPU %u is above the maximum %u", cpu, VMSEC_CPUSET_MAX - 1);
    if (node >= VMSEC_CPUSET_MAX)
        return vmsec__error(VMSEC_EINVAL, "topology: CPU %u: node %u is above the maximum %u", cpu, node,
                            VMSEC_CPUSET_MAX - 1);
    if (has_ids && (socket > TOPO_ID_MAX || die > TOPO_ID_MAX || core > TOPO_ID_MAX))
        return vmsec__error(VMSEC_EINVAL, "topology: CPU %u: socket, die or core id above %u", cpu, TOPO_ID_MAX);
    if (cpu >= t->cap) {
        unsigned int ncap = t->cap ? t->cap : 64;
        struct vmsec__tcpu *n;
        while (ncap <= cpu)
            ncap *= 2;
        if (ncap > VMSEC_CPUSET_MAX)
            ncap = VMSEC_CPUSET_MAX;
        n = realloc(t->cpu, ncap * sizeof(*n));
        if (!n)
            return vmsec__error(VMSEC_ENOMEM, "topology: out of memory");
        memset(n + t->cap, 0, (ncap - t->cap) * sizeof(*n));
        t->cpu = n;
        t->cap = ncap;
    }
    c = &t->cpu[cpu];
    if (c->present)
        return vmsec__error(VMSEC_EEXIST, "topology: CPU %u is listed twice", cpu);
    c->present = true;
    c->online = online;
    c->has_ids = has_ids;
    c->node = node;
    c->socket = socket;
    c->die = die;
    c->core_id = core;
    c->key_kind = key_kind;
    c->key = key;
    if (cpu >= t->nslots)
        t->nslots = cpu + 1;
    return 0;
}

int vmsec_topology_add_cpu(vmsec_topology *t, unsigned int cpu, unsigned int node, unsigned int socket,
                           unsigned int die, unsigned int core, int online)
{
    if (!t)
        return vmsec__error(VMSEC_EINVAL, "topology: NULL argument");
    return vmsec__topology_add(t, cpu, node, true, socket, die, core, online != 0, VMSEC__KEY_IDS, 0);
}

/* ---- derived form ------------------------------------------------------------------------- */

struct sortkey {
    unsigned int k[4];
    unsigned int cpu;
};

static int cmp_sortkey(const void *a, const void *b)
{
    const struct sortkey *x = a, *y = b;
    for (int i = 0; i < 4; i++)
        if (x->k[i] != y->k[i])
            return x->k[i] < y->k[i] ? -1 : 1;
    return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

static int cmp_core(const void *a, const void *b)
{
    const struct vmsec__tcore *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first; /* first holds the lowest CPU id here */
}

void vmsec__topo_clear(struct vmsec__topo *tp)
{
    free(tp->cpu);
    free(tp->core);
    free(tp->core_cpus);
    free(tp->node);
    memset(tp, 0, sizeof(*tp));
}

/* Groups CPUs into cores (sorting by grouping key), checks that siblings share a node. */
static int group_cores(struct vmsec__topo *tp, struct sortkey *order, unsigned int n)
{
    unsigned int ncores = 0;
    qsort(order, n, sizeof(*order), cmp_sortkey);
    for (unsigned int i = 0; i < n; i++) {
        struct vmsec__tcpu *c = &tp->cpu[order[i].cpu];
        if (i == 0 || memcmp(order[i].k, order[i - 1].k, sizeof(order[i].k)) != 0) {
            struct vmsec__tcore *k = &tp->core[ncores++];
            k->node = c->node;
            k->first = order[i].cpu; /* lowest CPU id of the group: order is sorted by cpu within a key */
            k->socket = c->socket;
            k->die = c->die;
            k->core_id = c->core_id;
        } else if (c->node != tp->cpu[order[i - 1].cpu].node) {
            return vmsec__error(VMSEC_EFORMAT, "topology: CPUs %u and %u are threads of one core but on nodes %u and %u",
                                order[i - 1].cpu, order[i].cpu, tp->cpu[order[i - 1].cpu].node, c->node);
        }
        c->core = ncores - 1;
        tp->core[ncores - 1].n++;
        if (c->online)
            tp->core[ncores - 1].online++;
    }
    tp->ncores = ncores;
    return 0;
}

int vmsec__topo_build(const struct vmsec_topology *t, struct vmsec__topo *tp)
{
    struct sortkey *order = NULL;
    unsigned int n = 0, *remap = NULL;
    int rc = VMSEC_ENOMEM;

    memset(tp, 0, sizeof(*tp));
    tp->nslots = t->nslots;
    tp->cpu = calloc(t->nslots ? t->nslots : 1, sizeof(*tp->cpu));
    order = calloc(t->nslots ? t->nslots : 1, sizeof(*order));
    if (!tp->cpu || !order)
        goto oom;
    for (unsigned int i = 0; i < t->nslots; i++) {
        const struct vmsec__tcpu *c = &t->cpu[i];
        if (!c->present)
            continue;
        tp->cpu[i] = *c;
        vmsec__cpuset_add(&tp->present, i);
        if (c->online) {
            vmsec__cpuset_add(&tp->online, i);
            tp->nonline++;
        }
        order[n].cpu = i;
        order[n].k[0] = c->key_kind;
        if (c->key_kind == VMSEC__KEY_IDS) {
            order[n].k[1] = c->socket;
            order[n].k[2] = c->die;
            order[n].k[3] = c->core_id;
        } else {
            order[n].k[1] = c->key_kind == VMSEC__KEY_ALONE ? i : c->key;
        }
        n++;
    }
    tp->core = calloc(n ? n : 1, sizeof(*tp->core));
    tp->core_cpus = calloc(n ? n : 1, sizeof(*tp->core_cpus));
    remap = calloc(n ? n : 1, sizeof(*remap));
    if (!tp->core || !tp->core_cpus || !remap)
        goto oom;
    if ((rc = group_cores(tp, order, n)) < 0)
        goto fail;

    /* Order cores by (node, lowest CPU), then lay out their CPUs in ascending order. */
    {
        struct vmsec__tcore *sorted = tp->core;
        unsigned int *fill = calloc(tp->ncores ? tp->ncores : 1, sizeof(*fill));
        unsigned int off = 0;
        if (!fill)
            goto oom;
        for (unsigned int c = 0; c < tp->ncores; c++)
            sorted[c].nidx = c; /* old index, to remap CPUs */
        qsort(sorted, tp->ncores, sizeof(*sorted), cmp_core);
        for (unsigned int c = 0; c < tp->ncores; c++) {
            remap[sorted[c].nidx] = c;
            sorted[c].first = off;
            off += sorted[c].n;
            if (sorted[c].online > tp->max_threads)
                tp->max_threads = sorted[c].online;
        }
        for (unsigned int i = 0; i < t->nslots; i++) {
            struct vmsec__tcpu *c = &tp->cpu[i];
            if (!c->present)
                continue;
            c->core = remap[c->core];
            tp->core_cpus[tp->core[c->core].first + fill[c->core]++] = i; /* ascending: i ascends */
        }
        free(fill);
    }

    /* Nodes: runs of cores with the same node id. */
    tp->node = calloc(tp->ncores ? tp->ncores : 1, sizeof(*tp->node));
    if (!tp->node)
        goto oom;
    for (unsigned int c = 0; c < tp->ncores; c++) {
        if (c == 0 || tp->core[c].node != tp->core[c - 1].node) {
            tp->node[tp->nnodes].id = tp->core[c].node;
            tp->node[tp->nnodes].cbeg = c;
            tp->nnodes++;
        }
        tp->core[c].nidx = tp->nnodes - 1;
        tp->node[tp->nnodes - 1].cend = c + 1;
    }
    free(order);
    free(remap);
    return 0;
oom:
    rc = vmsec__error(VMSEC_ENOMEM, "topology: out of memory");
fail:
    free(order);
    free(remap);
    vmsec__topo_clear(tp);
    return rc;
}

int vmsec_topology_counts(const vmsec_topology *t, unsigned int *online_cpus, unsigned int *cores,
                          unsigned int *nodes)
{
    struct vmsec__topo tp;
    int rc;
    if (!t)
        return vmsec__error(VMSEC_EINVAL, "topology: NULL argument");
    if ((rc = vmsec__topo_build(t, &tp)) < 0)
        return rc;
    if (online_cpus)
        *online_cpus = tp.nonline;
    if (cores)
        *cores = tp.ncores;
    if (nodes)
        *nodes = tp.nnodes;
    vmsec__topo_clear(&tp);
    return 0;
}

static bool same_core(const struct vmsec__tcpu *a, unsigned int acpu, const struct vmsec__tcpu *b, unsigned int bcpu)
{
    if (a->key_kind != b->key_kind)
        return false;
    switch (a->key_kind) {
    case VMSEC__KEY_IDS: return a->socket == b->socket && a->die == b->die && a->core_id == b->core_id;
    case VMSEC__KEY_SIBLINGS: return a->key == b->key;
    default: return acpu == bcpu;
    }
}

int vmsec_topology_siblings(const vmsec_topology *t, unsigned int cpu, char *buf, size_t size)
{
    vmsec_cpuset s;
    if (!t || !buf)
        return vmsec__error(VMSEC_EINVAL, "topology: NULL argument");
    if (cpu >= t->nslots || !t->cpu[cpu].present)
        return vmsec__error(VMSEC_ENOTFOUND, "topology: no CPU %u", cpu);
    vmsec__cpuset_zero(&s);
    for (unsigned int i = 0; i < t->nslots; i++)
        if (t->cpu[i].present && same_core(&t->cpu[cpu], cpu, &t->cpu[i], i))
            vmsec__cpuset_add(&s, i);
    if (vmsec__cpuset_format(&s, buf, size) >= size)
        return vmsec__error(VMSEC_ETOOBIG, "topology: buffer of %zu bytes too small for the siblings of CPU %u", size, cpu);
    return 0;
}

/* ---- text form ---------------------------------------------------------------------------- */

static int word(const char **p, const char *end, const char **w, size_t *wl)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r'))
        (*p)++;
    *w = *p;
    while (*p < end && **p != ' ' && **p != '\t' && **p != '\r')
        (*p)++;
    *wl = (size_t)(*p - *w);
    return *wl > 0;
}

static int number(const char *w, size_t wl, unsigned int max, unsigned int *out)
{
    unsigned long v = 0;
    if (wl == 0 || wl > 10)
        return -1;
    for (size_t i = 0; i < wl; i++) {
        if (w[i] < '0' || w[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(w[i] - '0');
    }
    if (v > max)
        return -1;
    *out = (unsigned int)v;
    return 0;
}

static bool is(const char *w, size_t wl, const char *s)
{
    return wl == strlen(s) && memcmp(w, s, wl) == 0;
}

static int parse_line(struct vmsec_topology *t, const char *name, unsigned int lineno, const char *p, const char *end)
{
    const char *w;
    size_t wl;
    unsigned int v[5] = {0, 0, 0, 0, 0}; /* cpu node socket die core */
    bool seen[5] = {false, false, false, false, false}, offline = false;
    static const char *const keys[5] = {"cpu", "node", "socket", "die", "core"};
    static const unsigned int max[5] = {VMSEC_CPUSET_MAX - 1, VMSEC_CPUSET_MAX - 1, TOPO_ID_MAX, TOPO_ID_MAX, TOPO_ID_MAX};
    int rc;

    while (word(&p, end, &w, &wl)) {
        int k = -1;
        if (is(w, wl, "offline")) {
            offline = true;
            continue;
        }
        for (int i = 0; i < 5; i++)
            if (is(w, wl, keys[i]))
                k = i;
        if (k < 0 || (k == 0) != !seen[0])
            return vmsec__error(VMSEC_EFORMAT, "topology %s:%u: expected %s, found '%.*s'", name, lineno,
                                seen[0] ? "node, socket, die, core or offline" : "cpu", (int)(wl > 32 ? 32 : wl), w);
        if (seen[k])
            return vmsec__error(VMSEC_EFORMAT, "topology %s:%u: '%s' given twice", name, lineno, keys[k]);
        if (!word(&p, end, &w, &wl) || number(w, wl, max[k], &v[k]) < 0)
            return vmsec__error(VMSEC_EFORMAT, "topology %s:%u: %s needs a number from 0 to %u", name, lineno, keys[k], max[k]);
        seen[k] = true;
    }
    for (int k = 1; k < 5; k++)
        if (!seen[k] && k != 3)
            return vmsec__error(VMSEC_EFORMAT, "topology %s:%u: cpu %u: missing '%s'", name, lineno, v[0], keys[k]);
    rc = vmsec__topology_add(t, v[0], v[1], true, v[2], v[3], v[4], !offline, VMSEC__KEY_IDS, 0);
    if (rc < 0) /* re-word the message with the line */
        return vmsec__error(rc == VMSEC_EEXIST ? VMSEC_EFORMAT : rc, "topology %s:%u: CPU %u listed twice", name, lineno, v[0]);
    return 0;
}

int vmsec_topology_parse(vmsec_topology **out, const char *text, size_t len, const char *name)
{
    vmsec_topology *t;
    const char *p = text, *end = text + len;
    unsigned int lineno = 0;
    int rc;
    if (!out || (!text && len))
        return vmsec__error(VMSEC_EINVAL, "topology: NULL argument");
    *out = NULL;
    if (!name)
        name = "<string>";
    if ((rc = vmsec_topology_new(&t)) < 0)
        return rc;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end, *q = p;
        lineno++;
        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (memchr(p, '\0', (size_t)(eol - p))) {
            vmsec_topology_free(t);
            return vmsec__error(VMSEC_EFORMAT, "topology %s:%u: NUL byte in text", name, lineno);
        }
        if (q < eol && *q != '#' && (rc = parse_line(t, name, lineno, q, eol)) < 0) {
            vmsec_topology_free(t);
            return rc;
        }
        p = nl ? nl + 1 : end;
    }
    *out = t;
    return 0;
}

int vmsec_topology_to_text(const vmsec_topology *t, char *buf, size_t size, size_t *needed)
{
    size_t len = 0;
    if (!t || (!buf && size))
        return vmsec__error(VMSEC_EINVAL, "topology: NULL argument");
    for (int pass = 0; pass < 2; pass++) {
        len = 0;
        for (unsigned int i = 0; i < t->nslots; i++) {
            const struct vmsec__tcpu *c = &t->cpu[i];
            char line[128];
            int k;
            if (!c->present)
                continue;
            if (c->has_ids)
                k = snprintf(line, sizeof(line), "cpu %u node %u socket %u die %u core %u%s\n", i, c->node, c->socket,
                             c->die, c->core_id, c->online ? "" : " offline");
            else /* an offline CPU libvirt gave no ids for: a core of its own, like the planner sees it */
                k = snprintf(line, sizeof(line), "cpu %u node %u socket %u die 0 core %u offline\n", i, c->node,
                             TOPO_ID_MAX, i);
            if (pass == 1)
                memcpy(buf + len, line, (size_t)k);
            len += (size_t)k;
        }
        if (needed)
            *needed = len + 1;
        if (pass == 0 && (!buf || size < len + 1)) {
            if (!buf)
                return 0;
            return vmsec__error(VMSEC_ETOOBIG, "topology: text needs %zu bytes, buffer has %zu", len + 1, size);
        }
    }
    buf[len] = '\0';
    return 0;
}

/* ---- libvirt capabilities ----------------------------------------------------------------- */

static xmlNode *child(xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, (const xmlChar *)name) == 0)
            return c;
    return NULL;
}

/* Reads an unsigned attribute; 1 if present and valid, 0 if absent, -1 if invalid. */
static int uattr(xmlNode *n, const char *name, unsigned int max, unsigned int *out)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    int rc;
    if (!v)
        return 0;
    rc = number((const char *)v, strlen((const char *)v), max, out) == 0 ? 1 : -1;
    xmlFree(v);
    return rc;
}

static int caps_cpu(struct vmsec_topology *t, xmlNode *x, unsigned int node)
{
    unsigned int id, socket = 0, die = 0, core = 0, key_kind = VMSEC__KEY_IDS, key = 0;
    int has_socket, has_core;
    xmlChar *sib;
    if (uattr(x, "id", VMSEC_CPUSET_MAX - 1, &id) != 1)
        return vmsec__error(VMSEC_EFORMAT, "capabilities: node %u: <cpu> without a valid id", node);
    has_socket = uattr(x, "socket_id", TOPO_ID_MAX, &socket);
    has_core = uattr(x, "core_id", TOPO_ID_MAX, &core);
    if (has_socket < 0 || has_core < 0 || uattr(x, "die_id", TOPO_ID_MAX, &die) < 0)
        return vmsec__error(VMSEC_EFORMAT, "capabilities: CPU %u: invalid socket_id, die_id or core_id", id);
    if (!has_socket || !has_core) /* libvirt lists offline CPUs with their id only */
        return vmsec__topology_add(t, id, node, false, 0, 0, 0, false, VMSEC__KEY_ALONE, 0);
    sib = xmlGetProp(x, (const xmlChar *)"siblings");
    if (sib) {
        vmsec_cpuset s;
        char why[VMSEC_CPUSET_WHY_MAX];
        int bad = vmsec__cpuset_parse(&s, (const char *)sib, strlen((const char *)sib), 0, why, sizeof(why));
        xmlFree(sib);
        if (bad < 0)
            return vmsec__error(VMSEC_EFORMAT, "capabilities: CPU %u: siblings: %s", id, why);
        for (unsigned int i = 0; i < VMSEC_CPUSET_MAX; i++)
            if (vmsec__cpuset_has(&s, i)) {
                key = i < id ? i : id;
                break;
            }
        key_kind = VMSEC__KEY_SIBLINGS;
    }
    return vmsec__topology_add(t, id, node, true, socket, die, core, true, key_kind, key);
}

int vmsec_topology_from_capabilities(vmsec_topology **out, const char *xml, size_t len)
{
    xmlDoc *doc;
    xmlNode *cells;
    vmsec_topology *t = NULL;
    int rc = 0;
    if (!out || !xml)
        return vmsec__error(VMSEC_EINVAL, "topology: NULL argument");
    *out = NULL;
    if (len > INT_MAX)
        return vmsec__error(VMSEC_ETOOBIG, "capabilities: %zu bytes is too large", len);
    doc = xmlReadMemory(xml, (int)len, "capabilities.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return vmsec__error(VMSEC_EFORMAT, "capabilities: not well-formed XML");
    cells = child(child(child(xmlDocGetRootElement(doc), "host"), "topology"), "cells");
    if (!cells || xmlStrcmp(xmlDocGetRootElement(doc)->name, (const xmlChar *)"capabilities") != 0) {
        rc = vmsec__error(VMSEC_EFORMAT, "capabilities: no <host><topology><cells> element");
        goto out;
    }
    if ((rc = vmsec_topology_new(&t)) < 0)
        goto out;
    for (xmlNode *cell = cells->children; cell && rc == 0; cell = cell->next) {
        unsigned int node;
        if (cell->type != XML_ELEMENT_NODE || xmlStrcmp(cell->name, (const xmlChar *)"cell") != 0)
            continue;
        if (uattr(cell, "id", VMSEC_CPUSET_MAX - 1, &node) != 1) {
            rc = vmsec__error(VMSEC_EFORMAT, "capabilities: <cell> without a valid id");
            break;
        }
        for (xmlNode *c = child(cell, "cpus") ? child(cell, "cpus")->children : NULL; c && rc == 0; c = c->next)
            if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, (const xmlChar *)"cpu") == 0)
                rc = caps_cpu(t, c, node);
    }
    if (rc == VMSEC_EEXIST)
        rc = VMSEC_EFORMAT;
    if (rc == 0 && t->nslots == 0)
        rc = vmsec__error(VMSEC_EFORMAT, "capabilities: the host topology lists no CPUs");
out:
    xmlFreeDoc(doc);
    if (rc < 0)
        vmsec_topology_free(t);
    else
        *out = t;
    return rc;
}

int vmsec_topology_from_libvirt(vmsec_topology **out, const char *uri)
{
    virConnectPtr conn;
    char *caps;
    int rc;
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "topology: NULL argument");
    *out = NULL;
    conn = virConnectOpenReadOnly(uri);
    if (!uri)
        uri = "the default libvirt URI";
    if (!conn)
        return vmsec__error(VMSEC_ELIBVIRT, "topology: cannot connect to %s: %s", uri, virGetLastErrorMessage());
    caps = virConnectGetCapabilities(conn);
    if (!caps) {
        rc = vmsec__error(VMSEC_ELIBVIRT, "topology: %s: cannot read capabilities: %s", uri, virGetLastErrorMessage());
    } else {
        rc = vmsec_topology_from_capabilities(out, caps, strlen(caps));
        free(caps);
    }
    virConnectClose(conn);
    return rc;
}
