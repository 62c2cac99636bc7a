/* Private to libvmsec: never installed. Planner state shared by lib/planner*.c. */
#ifndef VMSEC_PLANNER_INTERNAL_H
#define VMSEC_PLANNER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "isolation/cpuset.h"
#include "isolation/topology.h"
#include "vmsec/planner.h"

/* Longest domain name the planner accepts (libvirt has no limit; real names are short). */
#define VMSEC__DOMAIN_NAME_MAX 1024u

/* What one domain holds. `order` lists the CPUs in the order the domain last received them
 * (vCPU 0, 1, ..., emulator), so re-planning can try the same cores first. */
struct vmsec__holding {
    char *name;
    vmsec_cpuset used;
    vmsec_cpuset blocked;
    unsigned int *order;
    unsigned int norder;
};

struct vmsec_planner {
    struct vmsec__topo tp;
    vmsec_cpuset reserved;
    uint32_t *use;        /* per CPU: how many domains use it (pins may overlap) */
    uint32_t *blk;        /* per CPU: how many domains block it */
    uint64_t *whole_free; /* bitmap over cores: nothing used, blocked or reserved in the core */
    uint32_t *avail;      /* per core: online CPUs free for anyone */
    struct vmsec__holding **dom; /* sorted by name */
    size_t ndom, capdom;
};

struct vmsec_placement {
    char *domain;
    unsigned int nvcpus;
    unsigned int *vcpu; /* host CPU of each vCPU */
    vmsec_cpuset emulator, used, blocked, nodes;
    int thread_policy, emulator_policy, numa_fit;
};

/* Replaces what `name` holds by `used` (blocking the other threads of its cores when isolate);
 * an empty `used` releases it. The CPUs must be in the topology (checked by the caller). */
int vmsec__planner_set_holding(struct vmsec_planner *p, const char *name, const vmsec_cpuset *used, bool isolate);
/* Records "domain: reason" style errors for a CPU set that names CPUs the topology lacks. */
int vmsec__planner_check_cpus(const struct vmsec_planner *p, const vmsec_cpuset *s, const char *what);
int vmsec__planner_check_name(const char *domain);

struct vmsec_profile;
/* For the code that renders, applies or verifies a profile: VMSEC_EFORMAT (recorded) if the
 * profile states placement intent (cpu.placement), which must be planned into pins first, so
 * an unplanned intent is never silently applied without pins; 0 otherwise. */
int vmsec__profile_refuse_intent(const struct vmsec_profile *p);

#endif
