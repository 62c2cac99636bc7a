/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: never installed. The isolation profile model, readable directly by the
 * code that renders, applies and verifies profiles (lib/domain*.c).
 *
 * Every setting is optional: `set` false means "the profile does not mention it: leave the domain
 * alone". `line` is the 1-based line of the text the value came from, or 0 when it was set through
 * the API; use vmsec__profile_error() to report a problem with a setting, which formats
 * "profile <source>:<line>: <key>: <reason>" (or "profile <source>: <key>: ..." for line 0).
 *
 * Units in the model: sizes and throttles in bytes (or operations) per second, periods and quotas
 * in microseconds, exactly as libvirt's typed parameters take them except memory limits, which
 * libvirt takes in KiB (divide by 1024; they are always multiples of 1024).
 *
 * A profile returned by the parser has passed vmsec__profile_validate(); one built through the API
 * may not have, so callers that act on a profile call vmsec__profile_validate() first.
 *
 * Stability: fields are only ever added. */
#ifndef VMSEC_PROFILE_INTERNAL_H
#define VMSEC_PROFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isolation/cpuset.h"
#include "vmsec/profile.h"

#define VMSEC__CPU_SCOPES 4   /* indexed by vmsec_cpu_scope */
#define VMSEC__MEM_LIMITS 3   /* indexed by vmsec_memory_limit */
#define VMSEC__BLKIO_FIELDS 5 /* indexed by vmsec_blkio_field */
#define VMSEC__INTENTS 4      /* indexed by enum vmsec__intent */

/* Placement intent (planned by lib/planner*.c into vcpu.N.pin / emulator.pin): the keys
 * cpu.placement, cpu.thread_policy, cpu.emulator and numa.fit. Values index
 * vmsec__intent_values[intent]; they equal the planner's enums (vmsec_thread_policy,
 * vmsec_emulator_policy, vmsec_numa_fit), and cpu.placement has the one value `dedicated` (0). */
enum vmsec__intent { VMSEC__INTENT_PLACEMENT, VMSEC__INTENT_THREAD_POLICY, VMSEC__INTENT_EMULATOR, VMSEC__INTENT_NUMA_FIT };

/* Limits enforced by the parser and the setters (libvirt's documented ranges). */
#define VMSEC__PERIOD_MIN 1000ull
#define VMSEC__PERIOD_MAX 1000000ull
#define VMSEC__QUOTA_MIN 1000ll
#define VMSEC__QUOTA_MAX 17592186044415ll
#define VMSEC__SHARES_MIN 2ull
#define VMSEC__SHARES_MAX 262144ull
#define VMSEC__BLKIO_WEIGHT_MIN 10ull
#define VMSEC__BLKIO_WEIGHT_MAX 1000ull
#define VMSEC__THROTTLE_MAX 9223372036854775807ull
/* libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED is 2^53-1 KiB; we keep one KiB below it in bytes. */
#define VMSEC__MEMORY_MAX (9007199254740991ull * 1024ull - 1024ull)
#define VMSEC__HUGEPAGE_MIN (64ull * 1024)
#define VMSEC__HUGEPAGE_MAX (16ull * 1024 * 1024 * 1024)
/* memory.hugepages.size = default: the host's default huge page size (<hugepages/> without <page>). */
#define VMSEC__HUGEPAGE_DEFAULT UINT64_MAX
/* Highest id usable in vcpu.N.pin (N < this) and iothread.N.pin (1 <= N <= this). */
#define VMSEC__MAX_IDS VMSEC_CPUSET_MAX
#define VMSEC__BLKIO_MAX_DEVICES 256u

struct vmsec__u64 {
    bool set;
    unsigned int line;
    uint64_t value;
};

struct vmsec__i64 {
    bool set;
    unsigned int line;
    int64_t value;
};

/* Tri-state: unset, yes (value true), no (value false). */
struct vmsec__bool {
    bool set;
    unsigned int line;
    bool value;
};

struct vmsec__set {
    bool set;
    unsigned int line;
    vmsec_cpuset value;
};

/* One vcpu.N.pin or iothread.N.pin; arrays of them are kept sorted by id, ids unique. */
struct vmsec__pin {
    unsigned int id;
    unsigned int line;
    vmsec_cpuset cpus;
};

/* One blkio.device.N.*; `label` is the N of the text (a grouping label only: the canonical text
 * renumbers devices in path order). path is never NULL in a device of a valid profile; `path_line`
 * is the line of blkio.device.N.path. Devices are matched by path, never by label. */
struct vmsec__blkio_device {
    unsigned int label;
    char *path;
    unsigned int path_line;
    struct vmsec__u64 field[VMSEC__BLKIO_FIELDS]; /* indexed by vmsec_blkio_field */
};

struct vmsec_profile {
    char *source; /* name used in messages: file path, caller-given name, or "<api>" */

    struct {
        bool set;
        unsigned int line;
        char value[VMSEC_PROFILE_NAME_MAX + 1];
    } name;

    struct vmsec__u64 vcpus;     /* expected <vcpu> count */
    struct vmsec__u64 iothreads; /* expected <iothreads> count */

    struct vmsec__pin *vcpu_pins; /* <cputune><vcpupin vcpu= cpuset=>; virDomainPinVcpu */
    size_t n_vcpu_pins;
    struct vmsec__set emulator_pin; /* <cputune><emulatorpin cpuset=>; virDomainPinEmulator */
    struct vmsec__pin *iothread_pins; /* <cputune><iothreadpin iothread= cpuset=>; virDomainPinIOThread */
    size_t n_iothread_pins;

    struct vmsec__u64 cpu_shares;                   /* <cputune><shares>; "cpu_shares" */
    struct vmsec__u64 cpu_period[VMSEC__CPU_SCOPES]; /* <period>, <emulator_period>, ... */
    struct vmsec__i64 cpu_quota[VMSEC__CPU_SCOPES];  /* <quota>, <emulator_quota>, ... */

    struct vmsec__u64 numa_mode;   /* value is a vmsec_numa_mode; <numatune><memory mode=> */
    struct vmsec__set numa_nodeset; /* <numatune><memory nodeset=> */

    struct vmsec__u64 memory_limit[VMSEC__MEM_LIMITS]; /* bytes or VMSEC_PROFILE_UNLIMITED; <memtune> */
    struct vmsec__bool memory_locked;      /* <memoryBacking><locked/> */
    struct vmsec__u64 hugepage_size;       /* bytes or VMSEC__HUGEPAGE_DEFAULT; <hugepages><page size=> */
    struct vmsec__set hugepage_nodeset;    /* <page nodeset=> (guest NUMA nodes) */
    struct vmsec__bool nosharepages;       /* <memoryBacking><nosharepages/> */

    struct vmsec__u64 blkio_weight; /* <blkiotune><weight>; "weight" */
    struct vmsec__blkio_device *blkio_devices; /* <blkiotune><device>; in insertion order */
    size_t n_blkio_devices;

    struct vmsec__u64 intent[VMSEC__INTENTS]; /* placement intent, see enum vmsec__intent */
    struct vmsec__set host_reserved;          /* host.reserved_cpus: CPUs the planner leaves alone */
};

/* Text names, for messages and for code that maps settings. */
extern const char *const vmsec__cpu_scope_names[VMSEC__CPU_SCOPES];   /* "vcpu", "emulator", ... */
extern const char *const vmsec__numa_mode_names[4];                   /* "strict", ... */
extern const char *const vmsec__memory_limit_keys[VMSEC__MEM_LIMITS]; /* "memory.hard_limit", ... */
extern const char *const vmsec__blkio_field_names[VMSEC__BLKIO_FIELDS]; /* "weight", "read_bytes_sec", ... */
extern const char *const vmsec__intent_keys[VMSEC__INTENTS];          /* "cpu.placement", ... */
extern const char *const *const vmsec__intent_values[VMSEC__INTENTS]; /* NULL-terminated value names */

/* Writes "profile <source>:<line>" (no ":<line>" when line is 0) into buf: where a setting of p
 * stands, for messages that point at the line to fix. Returns buf. */
char *vmsec__profile_where(const struct vmsec_profile *p, unsigned int line, char *buf, size_t size);

/* Records "profile <source>:<line>: <key>: <reason>" (no ":<line>" when line is 0; no "<key>: "
 * when key is NULL) as the thread's error and returns code. */
int vmsec__profile_error(int code, const struct vmsec_profile *p, unsigned int line, const char *key,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Cross-setting checks; on failure records every problem and returns VMSEC_EFORMAT. */
int vmsec__profile_validate(const struct vmsec_profile *p);

/* Checks the profile against a domain's vCPU count and iothread ids (see
 * vmsec_profile_check_domain); on failure records every mismatch, returns VMSEC_EFORMAT. */
int vmsec__profile_check_domain(const struct vmsec_profile *p, unsigned int nvcpus,
                                const unsigned int *iothread_ids, size_t n_iothreads);

/* Lookups; NULL when unset. */
const struct vmsec__pin *vmsec__profile_vcpu_pin(const struct vmsec_profile *p, unsigned int vcpu);
const struct vmsec__pin *vmsec__profile_iothread_pin(const struct vmsec_profile *p, unsigned int id);
const struct vmsec__blkio_device *vmsec__profile_blkio_device(const struct vmsec_profile *p, const char *path);

/* The index-th block device in path order (the order of the canonical text); NULL past the end. */
const struct vmsec__blkio_device *vmsec__profile_device_sorted(const struct vmsec_profile *p, size_t index);

/* True if the profile sets nothing at all. */
bool vmsec__profile_is_empty(const struct vmsec_profile *p);

#endif
