/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: never installed. Host CPU topology as the planner sees it.
 *
 * struct vmsec_topology is what callers build (CPU by CPU, from text or from libvirt XML);
 * struct vmsec__topo is the derived, indexed form the planner works on: cores (groups of SMT
 * siblings) ordered by NUMA node id then lowest CPU id, so every node's cores are one contiguous
 * index range [cbeg, cend). That order is the planner's documented placement order. */
#ifndef VMSEC_TOPOLOGY_H
#define VMSEC_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#include "isolation/cpuset.h"
#include "vmsec/planner.h"

/* How a CPU's core is identified: by (socket, die, core) ids, by its lowest listed sibling
 * (libvirt's `siblings`, which wins over ids), or alone (offline CPU with no topology). */
enum vmsec__core_key { VMSEC__KEY_IDS = 0, VMSEC__KEY_SIBLINGS = 1, VMSEC__KEY_ALONE = 2 };

struct vmsec__tcpu {
    bool present;
    bool online;
    bool has_ids; /* socket/die/core known (false for libvirt's offline CPUs) */
    unsigned int node, socket, die, core_id;
    unsigned int key_kind, key; /* grouping: see enum vmsec__core_key */
    unsigned int core;          /* derived: index into vmsec__topo.core */
};

struct vmsec_topology {
    struct vmsec__tcpu *cpu; /* indexed by CPU id */
    unsigned int nslots;     /* CPU ids are < nslots */
    unsigned int cap;
};

struct vmsec__tcore {
    unsigned int node;   /* node id */
    unsigned int nidx;   /* index into vmsec__topo.node */
    unsigned int first;  /* offset of its CPUs in vmsec__topo.core_cpus (ascending ids) */
    unsigned int n;      /* CPUs in the core, offline ones included */
    unsigned int online; /* online CPUs */
    unsigned int socket, die, core_id;
};

struct vmsec__tnode {
    unsigned int id;
    unsigned int cbeg, cend; /* its cores */
};

struct vmsec__topo {
    struct vmsec__tcpu *cpu;
    unsigned int nslots;
    struct vmsec__tcore *core;
    unsigned int ncores;
    unsigned int *core_cpus;
    struct vmsec__tnode *node;
    unsigned int nnodes;
    unsigned int nonline;
    unsigned int max_threads; /* most online threads in one core */
    vmsec_cpuset online;
    vmsec_cpuset present;
};

/* Adds a CPU with an explicit grouping key (see vmsec__core_key). */
int vmsec__topology_add(struct vmsec_topology *t, unsigned int cpu, unsigned int node, bool has_ids,
                        unsigned int socket, unsigned int die, unsigned int core, bool online,
                        unsigned int key_kind, unsigned int key);
/* Derives the indexed form; on failure records why and returns a negative code. */
int vmsec__topo_build(const struct vmsec_topology *t, struct vmsec__topo *out);
void vmsec__topo_clear(struct vmsec__topo *tp);
/* The CPUs of core c. */
static inline const unsigned int *vmsec__topo_core_cpus(const struct vmsec__topo *tp, unsigned int c)
{
    return tp->core_cpus + tp->core[c].first;
}

#endif
