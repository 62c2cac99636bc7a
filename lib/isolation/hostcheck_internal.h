/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: host facts and their evaluation against a profile (lib/isolation/hostcheck.c).
 * Facts are gathered separately from their evaluation so unit tests can inject any host. */
#ifndef VMSEC_HOSTCHECK_INTERNAL_H
#define VMSEC_HOSTCHECK_INTERNAL_H

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdint.h>

#include "isolation/cpuset.h"
#include "isolation/profile_internal.h"
#include "common/report_internal.h"

#define VMSEC__HP_SIZES 8
#define VMSEC__BLOCK_DEVS 128

/* One block device of /sys/block and its active I/O scheduler ("mq-deadline", "bfq", "none"). */
struct vmsec__block_dev {
    char name[32];
    char sched[16];
};

struct vmsec__host_facts {
    /* Why kernel-level facts are unknown ("remote host", "test driver"), or "" when known. */
    char unknown_why[64];

    bool cpus_known;
    vmsec_cpuset cpus_online;
    bool nodes_known;
    vmsec_cpuset nodes_online;

    unsigned int cg_mask; /* 1 << VMSEC__CG_x per controller present */
    int cg_version;

    bool memlock_known;
    char memlock_who[96]; /* "libvirtd (pid 123)" or "this process" */
    bool cap_sys_resource;
    uint64_t memlock_hard; /* bytes; UINT64_MAX = unlimited */

    size_t n_hp;
    struct { uint64_t size, free; } hp[VMSEC__HP_SIZES]; /* bytes, pages */
    uint64_t hp_default; /* bytes; 0 if unknown */

    int ksm_run; /* -1 if unknown */

    /* /sys/block/<dev>/queue/scheduler (the first VMSEC__BLOCK_DEVS devices; none known when 0):
     * on cgroup v1, libvirt 9.0 sets per-device weights only through bfq or cfq. */
    size_t n_block;
    struct vmsec__block_dev block[VMSEC__BLOCK_DEVS];

    uint64_t guest_memory;  /* bytes the domain needs (0: unknown / no domain) */
    bool domain_running;
};

/* Facts of the host this process runs on (root "" for the real one). */
int vmsec__host_facts_local(const char *root, struct vmsec__host_facts *f);
/* CPU and node facts from libvirt (for remote hosts); kernel facts marked unknown with why. */
int vmsec__host_facts_libvirt(virConnectPtr conn, const char *why, struct vmsec__host_facts *f);
/* Evaluates; adds entries to r; returns 0 or VMSEC_EHOST with one message listing every problem. */
int vmsec__host_evaluate(const struct vmsec__host_facts *f, const struct vmsec_profile *p,
                         unsigned int flags, struct vmsec_report *r);
/* Gathers the right facts for a connection: local if it reaches this host's daemon. */
int vmsec__host_facts_for(virConnectPtr conn, struct vmsec__host_facts *f);

#endif
