/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: what the kernel enforces for a QEMU process (lib/isolation/kprobe.c).
 *
 * Every function takes a `root` prefixed to /proc, /sys and /run paths: "" on a real host, a
 * fixture directory in unit tests (tests/data/kprobe/...). Mount points found in mountinfo are
 * prefixed too, so a fixture tree is self-contained. */
#ifndef VMSEC_KPROBE_H
#define VMSEC_KPROBE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "isolation/cpuset.h"

enum { VMSEC__CG_CPU, VMSEC__CG_CPUSET, VMSEC__CG_MEMORY, VMSEC__CG_BLKIO, VMSEC__CG_N };
extern const char *const vmsec__cg_names[VMSEC__CG_N]; /* "cpu", "cpuset", "memory", "blkio" */

/* Where one controller of a domain lives: version 0 if the controller is not available. `dir` is
 * the domain's group (the parent of the emulator group QEMU's main thread sits in). */
struct vmsec__cgctl {
    int version;
    char dir[PATH_MAX];
};

struct vmsec__cgroups {
    struct vmsec__cgctl ctl[VMSEC__CG_N];
};

/* Locates the cgroups of process pid. Returns 0, or a negative code with the error recorded. */
int vmsec__cgroups_locate(const char *root, long pid, struct vmsec__cgroups *out);

/* Reads a small file into buf with trailing whitespace removed. Returns 0 or -errno (no error
 * recorded: callers decide whether absence matters). */
int vmsec__kread(const char *path, char *buf, size_t size);

/* Which cgroup controllers this host offers: bit (1 << VMSEC__CG_x) per controller; *version
 * receives 1 if any is on a v1 hierarchy, else 2 (0 if none). */
unsigned int vmsec__cg_host_controllers(const char *root, int *version);

enum { VMSEC__THREAD_EMULATOR, VMSEC__THREAD_VCPU, VMSEC__THREAD_IOTHREAD };

struct vmsec__thread {
    long tid;
    char comm[64];
    int kind;        /* VMSEC__THREAD_* */
    unsigned int id; /* vCPU number or iothread id */
    vmsec_cpuset allowed;
};

/* Lists the threads of pid with their kind (from the name QEMU gives them: "CPU N/KVM",
 * "CPU N/TCG", "IO iothreadN"; any other is an emulator thread) and their allowed CPUs.
 * *out is malloc'ed. Returns 0 or a negative code with the error recorded. */
int vmsec__threads_list(const char *root, long pid, struct vmsec__thread **out, size_t *n);
/* Classifies a thread name: returns the kind and stores the id. */
int vmsec__thread_classify(const char *comm, unsigned int *id);

/* Finds the QEMU process of a domain: the daemon's pid file (run/libvirt/qemu/NAME.pid) if the
 * process it names carries "-uuid UUID" on its command line, else a scan of /proc for that
 * argument. Returns the pid, or 0 if no such process runs on this host. */
long vmsec__qemu_pid(const char *root, const char *name, const char *uuid);

#endif
