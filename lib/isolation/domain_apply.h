/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: what the two halves of applying a profile share. lib/isolation/domain_apply.c
 * runs an application (host check, the configuration in one define, the metadata) and undoes its
 * steps on failure; lib/isolation/domain_apply_live.c changes the running domain one setting at a
 * time, each change a step that records how to undo it; lib/isolation/domain_apply_check.c
 * orders them so a failure finds nothing libvirt cannot take back, and checks the rollback. */
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
    char *xml_live, *xml_config; /* byte-exact XML before any change (NULL: not affected) */
    xmlDocPtr live_doc;          /* xml_live parsed: which values the live XML already states */
    bool late;                   /* second live pass: the changes libvirt cannot take back exactly */
};

/* domain_apply.c: the steps. */
/* Appends a step of the given kind, covering the report entries added from now on. NULL on
 * ENOMEM (recorded). */
struct step *vmsec__apply_push(struct apply *a, int kind);
/* Forgets the last step (it changed nothing, or what it changed is already set back). */
void vmsec__apply_drop_last(struct apply *a);
/* Marks the last step failed with libvirt's reason and records which setting it was. */
int vmsec__apply_step_failed(struct apply *a, const char *setting, const char *expected, const char *old);

/* domain_apply_check.c: what a rollback can restore exactly, and whether it did. */
/* Reads the live (with VMSEC_AFFECT_LIVE) and persistent (with VMSEC_AFFECT_CONFIG) XML. */
int vmsec__apply_snapshot(struct apply *a, unsigned int flags);
void vmsec__apply_snapshot_free(struct apply *a);
/* True if the live XML before the apply has a node at the printf-formatted XPath: libvirt then
 * states that value already, and setting it back leaves the live XML as it was. */
bool vmsec__apply_exact_undo(const struct apply *a, const char *xpath_fmt, ...) VMSEC_PRINTF(2, 3);
/* True if a change whose undo is (not) exact belongs to the current live pass. */
bool vmsec__apply_in_pass(const struct apply *a, bool exact);
/* After a rollback: 0 if the XML and tuning read again match the copies from before, else -1
 * with the differences appended to left and a NOT_RESTORED report entry. */
int vmsec__apply_check_restored(struct apply *a, char *left, size_t size);

/* domain_apply_live.c: the running domain. */
/* Before any change: reads the live values to restore and checks what the kernel would refuse
 * only after changes libvirt cannot take back (quotas against the global one). */
int vmsec__apply_live_prepare(struct apply *a);
/* Makes every live change of the profile as its own step. */
int vmsec__apply_live(struct apply *a, unsigned int flags);
/* What undoing a pin or a typed-parameter step sets back. */
int vmsec__apply_pin_vcpu(struct apply *a, unsigned int vcpu, const vmsec_cpuset *set);
int vmsec__apply_set_params(struct vmsec_domain *d, int g, virTypedParameterPtr params, int n);
/* Reads a typed-parameter group of the running domain as libvirt reports it now (malloc'ed,
 * freed with virTypedParamsFree); -1 with a libvirt error, -2 on ENOMEM (recorded). */
int vmsec__apply_read_group(struct apply *a, int g, virTypedParameterPtr *out, int *n);

/* Settings that change only at the next boot. */
static inline bool vmsec__apply_needs_boot(const struct vmsec_profile *p)
{
    return p->memory_locked.set || p->hugepage_size.set || p->hugepage_nodeset.set || p->nosharepages.set;
}

#endif
