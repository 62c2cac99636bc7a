/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: what the two halves of applying a profile share. lib/isolation/domain_apply.c
 * runs an application (host check, the configuration in one define, the metadata) and undoes its
 * steps on failure; lib/isolation/domain_apply_live.c changes the running domain one setting at a
 * time (pins, then the typed-parameter groups), each change a step that records how to undo it. */
#ifndef VMSEC_DOMAIN_APPLY_H
#define VMSEC_DOMAIN_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "isolation/domain_internal.h"

enum step_kind { ST_CONFIG, ST_VCPU_PIN, ST_EMU_PIN, ST_IO_PIN, ST_PARAM, ST_MEMORY, ST_NUMA, ST_META };
enum param_group { PG_SCHED, PG_MEMORY, PG_NUMA, PG_BLKIO };

struct step {
    int kind;
    unsigned int id;
    size_t first_entry, n_entries; /* report entries this step covers */
    int group;
    vmsec_cpuset old_set;
    virTypedParameterPtr old; /* parameters to set back */
    int n_old;
    char *old_xml;      /* ST_CONFIG: the configuration before; ST_META: metadata before (NULL: none) */
    unsigned int vflags;
};

struct apply {
    struct vmsec_domain *d;
    const struct vmsec_profile *p;
    struct vmsec_report *r;
    struct step *steps;
    size_t n, cap;
    int maplen;
    virTypedParameterPtr cur[4]; /* live parameters of each group before any change */
    int n_cur[4];
    char failed[160];
};

/* domain_apply.c: the steps. */
/* Appends a step of the given kind, covering the report entries added from now on. NULL on
 * ENOMEM (recorded). */
struct step *vmsec__apply_push(struct apply *a, int kind);
/* Marks the last step failed with libvirt's reason and records which setting it was. */
int vmsec__apply_step_failed(struct apply *a, const char *setting, const char *expected, const char *old);

/* domain_apply_live.c: the running domain. */
/* Reads the live values to restore, then makes every live change of the profile as its own step. */
int vmsec__apply_live(struct apply *a, unsigned int flags);
/* What undoing a pin or a typed-parameter step sets back. */
int vmsec__apply_pin_vcpu(struct apply *a, unsigned int vcpu, const vmsec_cpuset *set);
int vmsec__apply_set_params(struct vmsec_domain *d, int g, virTypedParameterPtr params, int n);

/* Settings that change only at the next boot. */
static inline bool vmsec__apply_needs_boot(const struct vmsec_profile *p)
{
    return p->memory_locked.set || p->hugepage_size.set || p->hugepage_nodeset.set || p->nosharepages.set;
}

#endif
