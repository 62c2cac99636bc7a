/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: never installed. Fixed-size CPU (and NUMA node) sets.
 *
 * A set names CPUs 0 .. VMSEC_CPUSET_MAX-1 (8192, Debian's NR_CPUS, so any affinity the kernel
 * reports fits). The struct is a plain value: copy it with '=', compare with vmsec__cpuset_equal.
 * Text form is libvirt's and the kernel's list syntax: "0-3,8,10-11"; the parser also takes
 * libvirt's "^N" exclusions ("0-7,^3"), the formatter writes the canonical form (ascending,
 * maximal ranges, no exclusions). */
#ifndef VMSEC_CPUSET_H
#define VMSEC_CPUSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMSEC_CPUSET_MAX 8192u
#define VMSEC_CPUSET_WORDS (VMSEC_CPUSET_MAX / 64u)
/* Longest canonical text plus NUL: every even CPU of 0..8191 listed. */
#define VMSEC_CPUSET_TEXT_MAX 20480u
/* Room for a parse failure reason. */
#define VMSEC_CPUSET_WHY_MAX 128u

typedef struct vmsec_cpuset {
    uint64_t bits[VMSEC_CPUSET_WORDS];
} vmsec_cpuset;

/* Flags for vmsec__cpuset_parse. */
#define VMSEC_CPUSET_ALLOW_EMPTY 0x1u /* "" (or only exclusions) gives an empty set, not an error */
#define VMSEC_CPUSET_NODES 0x2u       /* messages speak of NUMA nodes instead of CPUs */

void vmsec__cpuset_zero(vmsec_cpuset *s);
/* Adds / removes / tests one CPU; add and del return -1 (and change nothing) if cpu >= MAX. */
int vmsec__cpuset_add(vmsec_cpuset *s, unsigned int cpu);
int vmsec__cpuset_del(vmsec_cpuset *s, unsigned int cpu);
bool vmsec__cpuset_has(const vmsec_cpuset *s, unsigned int cpu);
bool vmsec__cpuset_equal(const vmsec_cpuset *a, const vmsec_cpuset *b);
/* True if every CPU of a is in b. */
bool vmsec__cpuset_subset(const vmsec_cpuset *a, const vmsec_cpuset *b);
bool vmsec__cpuset_empty(const vmsec_cpuset *s);
unsigned int vmsec__cpuset_count(const vmsec_cpuset *s);
/* Highest CPU in the set, or -1 if empty. */
int vmsec__cpuset_max(const vmsec_cpuset *s);

/* Parses len bytes of text (no NUL needed; no surrounding spaces allowed). Returns 0, or -1 with
 * a short reason in why (e.g. "CPU 9000 is above the maximum 8191") and *out unchanged. */
int vmsec__cpuset_parse(vmsec_cpuset *out, const char *text, size_t len, unsigned int flags,
                        char *why, size_t whylen);
/* Writes the canonical text ("" for an empty set). Returns the text length; if it is >= size the
 * output was truncated (snprintf convention), so VMSEC_CPUSET_TEXT_MAX always suffices. */
size_t vmsec__cpuset_format(const vmsec_cpuset *s, char *buf, size_t size);

/* libvirt cpumaps (virDomainPinVcpu, virDomainGetVcpuPinInfo...): CPU n is bit (n % 8) of byte
 * (n / 8). to_cpumap writes maplen bytes (bits beyond maplen*8 must be empty, else -1 and nothing
 * written); from_cpumap returns -1 if the map names a CPU >= VMSEC_CPUSET_MAX. */
int vmsec__cpuset_to_cpumap(const vmsec_cpuset *s, unsigned char *map, size_t maplen);
int vmsec__cpuset_from_cpumap(vmsec_cpuset *out, const unsigned char *map, size_t maplen);

#endif
