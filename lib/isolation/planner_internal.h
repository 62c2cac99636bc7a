/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: never installed. Planner state shared by lib/isolation/planner*.c. */
#ifndef VMSEC_PLANNER_INTERNAL_H
#define VMSEC_PLANNER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "isolation/cpuset.h"
#include "isolation/topology.h"
#include "vmsec/planner.h"

/* Longest domain name the planner accepts (libvirt has no limit; real names are short). */
#define VMSEC__DOMAIN_NAME_MAX 1024u

/* Runs the statement after it once per CPU of set s, ascending, with the CPU in `var`. */
#define VMSEC__FOR_EACH_CPU(s, var)                                                         \
    for (unsigned int var##_w = 0; var##_w < VMSEC_CPUSET_WORDS; var##_w++)                 \
        for (uint64_t var##_b = (s)->bits[var##_w]; var##_b; var##_b &= var##_b - 1)        \
            for (unsigned int var = var##_w * 64u + (unsigned int)__builtin_ctzll(var##_b), \
                              var##_once = 1;                                               \
                 var##_once; var##_once = 0)

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

/* Holdings are kept by planner.c; placing (planner_place.c) reads the per-CPU state, sets the
 * domain's own holding aside while it plans and attaches the result. */
/* Free for anyone: online, used and blocked by no domain, not reserved. */
static inline bool vmsec__planner_cpu_free(const struct vmsec_planner *p, unsigned int cpu)
{
    return p->tp.cpu[cpu].online && !p->use[cpu] && !p->blk[cpu] && !vmsec__cpuset_has(&p->reserved, cpu);
}

/* Core c has nothing used, blocked or reserved (and one online CPU at least). */
static inline bool vmsec__planner_core_whole_free(const struct vmsec_planner *p, unsigned int c)
{
    return (p->whole_free[c / 64] >> (c % 64)) & 1u;
}

struct vmsec__holding *vmsec__holding_new(const char *name, const vmsec_cpuset *used, const vmsec_cpuset *blocked,
                                          const unsigned int *order, unsigned int norder);
void vmsec__holding_free(struct vmsec__holding *h);
/* Removes the domain's entry (and its effect) without freeing it; NULL if it holds nothing. */
struct vmsec__holding *vmsec__planner_detach(struct vmsec_planner *p, const char *name);
/* Inserts a holding (the name must not be held); cannot fail once room is reserved. */
int vmsec__planner_attach(struct vmsec_planner *p, struct vmsec__holding *h);
/* Makes room for one more holding, so that a following attach cannot fail. */
int vmsec__planner_reserve_room(struct vmsec_planner *p);
/* Parses a CPU list ("" or NULL: empty) that must name CPUs of the topology; errors say `what`. */
int vmsec__planner_parse_cpus(const struct vmsec_planner *p, const char *text, vmsec_cpuset *out, const char *what);
/* Writes s as text into buf, or VMSEC_ETOOBIG (recorded, naming `what`) if it does not fit. */
int vmsec__planner_put_set(const vmsec_cpuset *s, char *buf, size_t size, const char *what);

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
