/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: what the two halves of verification share. lib/isolation/domain_verify.c
 * reads libvirt and joins both halves into the report; lib/isolation/domain_verify_kernel.c reads
 * /proc and the cgroup files, and depends on nothing in domain_verify.c. */
#ifndef VMSEC_DOMAIN_VERIFY_H
#define VMSEC_DOMAIN_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "isolation/cpuset.h"
#include "isolation/domain_internal.h"
#include "isolation/kprobe.h"
#include "common/units.h"

struct vmsec__verify {
    const char *root; /* prefix of /proc and /sys: "" on a real host, a fixture tree in tests */
    struct vmsec_domain *d;
    const struct vmsec_profile *p;
    struct vmsec_report *r;
    bool running;
    char kwhy[128];   /* why kernel checks cannot run, or "" */
    long pid;
    struct vmsec__cgroups cg;
    struct vmsec__thread *threads;
    size_t n_threads;
    int maplen;
};

/* Scratch for set texts (too large for every stack frame); per thread, so calls may run in
 * parallel. One copy (in domain_verify_kernel.c) serves both halves. */
extern _Thread_local char vmsec__verify_tbuf[2][VMSEC_CPUSET_TEXT_MAX];

/* Adds an OK (ok) or DRIFT entry to the report. */
static inline int vmsec__verify_entry(struct vmsec__verify *v, bool ok, const char *setting, const char *expected,
                                      const char *actual, const char *source)
{
    return vmsec__report_add(v->r, ok ? VMSEC_STATUS_OK : VMSEC_STATUS_DRIFT, setting, expected, actual, source, NULL);
}

/* Writes a byte count as a size ("2G"), or "unlimited". */
static inline void vmsec__verify_bytes_text(uint64_t b, char *buf)
{
    if (b == VMSEC_PROFILE_UNLIMITED)
        strcpy(buf, "unlimited");
    else
        vmsec__size_format(b, buf);
}

/* The kernel half of vmsec_domain_verify: every kernel check or, when they cannot run here
 * (domain stopped, remote host, no QEMU process found), each setting reported so far marked
 * unchecked with why. */
int vmsec__verify_kernel_side(struct vmsec__verify *v);

#endif
