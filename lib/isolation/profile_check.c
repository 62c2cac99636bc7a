/* SPDX-License-Identifier: ISC */
/* Isolation profiles: consistency checks, checks against a domain, comparison. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/profile_keys.h"
#include "common/units.h"

unsigned int vmsec__rejected_line(const struct vmsec__rejected *rj, const char *key)
{
    for (unsigned int i = 0; rj && i < rj->n; i++)
        if (strcmp(rj->e[i].key, key) == 0) /* not-secret: a profile key name */
            return rj->e[i].line;
    return 0;
}

/* Whether a setting the check needs is missing from the text, not merely rejected (its line has
 * its own error; calling it missing too would be a false contradiction). */
static bool missing(bool set, const struct vmsec__rejected *rj, const char *key)
{
    return !set && vmsec__rejected_line(rj, key) == 0;
}

/* Whether any rejected key starts with prefix (a device's fields). */
static bool rejected_prefix(const struct vmsec__rejected *rj, const char *prefix)
{
    for (unsigned int i = 0; rj && i < rj->n; i++)
        if (strncmp(rj->e[i].key, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static void fmt_limit(uint64_t v, char *t)
{
    if (v == VMSEC_PROFILE_UNLIMITED)
        snprintf(t, VMSEC_UNITS_TEXT_MAX, "unlimited");
    else
        vmsec__size_format(v, t);
}

static void check_memory(const struct vmsec_profile *p, const struct vmsec__rejected *rj, struct vmsec__diag *d)
{
    const struct vmsec__u64 *hard = &p->memory_limit[VMSEC_MEMORY_HARD_LIMIT];
    const struct vmsec__u64 *soft = &p->memory_limit[VMSEC_MEMORY_SOFT_LIMIT];
    const struct vmsec__u64 *swap = &p->memory_limit[VMSEC_MEMORY_SWAP_HARD_LIMIT];
    char a[VMSEC_UNITS_TEXT_MAX], b[VMSEC_UNITS_TEXT_MAX];

    if (p->memory_locked.set && p->memory_locked.value) {
        if (missing(hard->set, rj, "memory.hard_limit"))
            vmsec__diag_add(d, p->memory_locked.line, "memory.locked",
                            "locking memory requires memory.hard_limit");
        else if (hard->set && hard->value == VMSEC_PROFILE_UNLIMITED)
            vmsec__diag_add(d, p->memory_locked.line, "memory.locked",
                            "locking memory requires a finite memory.hard_limit");
    }
    if (hard->set && soft->set && soft->value > hard->value) {
        fmt_limit(soft->value, a);
        fmt_limit(hard->value, b);
        vmsec__diag_add(d, soft->line, "memory.soft_limit", "%s is above memory.hard_limit %s", a, b);
    }
    if (hard->set && swap->set && swap->value < hard->value) {
        fmt_limit(swap->value, a);
        fmt_limit(hard->value, b);
        vmsec__diag_add(d, swap->line, "memory.swap_hard_limit", "%s is below memory.hard_limit %s", a, b);
    }
    if (p->hugepage_nodeset.set && missing(p->hugepage_size.set, rj, "memory.hugepages.size"))
        vmsec__diag_add(d, p->hugepage_nodeset.line, "memory.hugepages.nodeset", "requires memory.hugepages.size");
}

static void check_numa(const struct vmsec_profile *p, const struct vmsec__rejected *rj, struct vmsec__diag *d)
{
    char t[64];
    if (p->numa_mode.set && missing(p->numa_nodeset.set, rj, "numa.nodeset"))
        vmsec__diag_add(d, p->numa_mode.line, "numa.mode", "requires numa.nodeset");
    if (p->numa_nodeset.set && missing(p->numa_mode.set, rj, "numa.mode"))
        vmsec__diag_add(d, p->numa_nodeset.line, "numa.nodeset", "requires numa.mode");
    if (p->numa_mode.set && p->numa_nodeset.set && p->numa_mode.value == VMSEC_NUMA_PREFERRED &&
        vmsec__cpuset_count(&p->numa_nodeset.value) != 1) {
        size_t n = vmsec__cpuset_format(&p->numa_nodeset.value, t, sizeof(t));
        vmsec__diag_add(d, p->numa_nodeset.line, "numa.nodeset", "mode 'preferred' takes exactly one node, got %s%s",
                        t, n >= sizeof(t) ? "..." : "");
    }
}

static unsigned int first_line(const struct vmsec__blkio_device *dev)
{
    unsigned int l = dev->path ? dev->path_line : 0;
    for (int f = 0; f < VMSEC__BLKIO_FIELDS; f++)
        if (dev->field[f].set && (l == 0 || (dev->field[f].line && dev->field[f].line < l)))
            l = dev->field[f].line;
    return l;
}

static void check_devices(const struct vmsec_profile *p, const struct vmsec__rejected *rj, struct vmsec__diag *d)
{
    for (size_t i = 0; i < p->n_blkio_devices; i++) {
        const struct vmsec__blkio_device *dev = &p->blkio_devices[i];
        char key[48], sub[56];
        bool any = false;
        snprintf(key, sizeof(key), "blkio.device.%u", dev->label);
        for (int f = 0; f < VMSEC__BLKIO_FIELDS; f++)
            any |= dev->field[f].set;
        if (!dev->path) {
            snprintf(sub, sizeof(sub), "%s.path", key);
            if (missing(false, rj, sub))
                vmsec__diag_add(d, first_line(dev), key, "missing %s", sub);
            continue;
        }
        snprintf(sub, sizeof(sub), "%s.", key);
        if (!any && !rejected_prefix(rj, sub))
            vmsec__diag_add(d, dev->path_line, key, "sets nothing besides its path");
        for (size_t j = 0; j < i; j++)
            if (p->blkio_devices[j].path && strcmp(p->blkio_devices[j].path, dev->path) == 0) {
                vmsec__diag_add(d, dev->path_line, key, "%s is already used by blkio.device.%u", dev->path,
                                p->blkio_devices[j].label);
                break;
            }
    }
}

static void check_vcpus(const struct vmsec_profile *p, struct vmsec__diag *d)
{
    if (!p->vcpus.set)
        return;
    for (size_t i = 0; i < p->n_vcpu_pins; i++)
        if (p->vcpu_pins[i].id >= p->vcpus.value) {
            char key[32];
            snprintf(key, sizeof(key), "vcpu.%u.pin", p->vcpu_pins[i].id);
            vmsec__diag_add(d, p->vcpu_pins[i].line, key, "profile declares only vcpus = %llu",
                            (unsigned long long)p->vcpus.value);
        }
}

/* Placement intent: cpu.placement = dedicated needs vcpus and leaves the pins to the planner;
 * the other intent keys only mean something with it. */
static void check_intent(const struct vmsec_profile *p, const struct vmsec__rejected *rj, struct vmsec__diag *d)
{
    const struct vmsec__u64 *placement = &p->intent[VMSEC__INTENT_PLACEMENT];
    if (!placement->set) {
        if (!missing(false, rj, "cpu.placement"))
            return;
        for (int i = 1; i < VMSEC__INTENTS; i++)
            if (p->intent[i].set)
                vmsec__diag_add(d, p->intent[i].line, vmsec__intent_keys[i], "requires cpu.placement = dedicated");
        if (p->host_reserved.set)
            vmsec__diag_add(d, p->host_reserved.line, "host.reserved_cpus", "requires cpu.placement = dedicated");
        return;
    }
    if (missing(p->vcpus.set, rj, "vcpus"))
        vmsec__diag_add(d, placement->line, "cpu.placement", "requires vcpus (the number of vCPUs to place)");
    if (p->n_vcpu_pins)
        vmsec__diag_add(d, p->vcpu_pins[0].line, NULL,
                        "vcpu.%u.pin contradicts cpu.placement = dedicated (the planner chooses the pins)",
                        p->vcpu_pins[0].id);
    if (p->emulator_pin.set)
        vmsec__diag_add(d, p->emulator_pin.line, "emulator.pin",
                        "contradicts cpu.placement = dedicated (the planner chooses the pins)");
}

void vmsec__profile_check(const struct vmsec_profile *p, const struct vmsec__rejected *rj, struct vmsec__diag *d)
{
    check_intent(p, rj, d);
    check_vcpus(p, d);
    check_memory(p, rj, d);
    check_numa(p, rj, d);
    check_devices(p, rj, d);
}

int vmsec__profile_validate(const struct vmsec_profile *p)
{
    struct vmsec__diag d;
    vmsec__diag_init(&d, p->source);
    vmsec__profile_check(p, NULL, &d);
    return d.count ? vmsec__diag_report(&d, VMSEC_EFORMAT) : 0;
}

int vmsec_profile_validate(const vmsec_profile *p)
{
    if (!p)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_validate: profile is NULL");
    return vmsec__profile_validate(p);
}

static bool has_id(const unsigned int *ids, size_t n, unsigned int id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

int vmsec__profile_check_domain(const struct vmsec_profile *p, unsigned int nvcpus,
                                const unsigned int *iothread_ids, size_t n_iothreads)
{
    struct vmsec__diag d;
    char key[32];
    vmsec__diag_init(&d, p->source);
    if (p->vcpus.set && p->vcpus.value != nvcpus)
        vmsec__diag_add(&d, p->vcpus.line, "vcpus", "profile expects %llu vCPUs, domain has %u",
                        (unsigned long long)p->vcpus.value, nvcpus);
    for (size_t i = 0; i < p->n_vcpu_pins; i++)
        if (p->vcpu_pins[i].id >= nvcpus) {
            snprintf(key, sizeof(key), "vcpu.%u.pin", p->vcpu_pins[i].id);
            vmsec__diag_add(&d, p->vcpu_pins[i].line, key, "domain has only %u vCPU%s", nvcpus, nvcpus == 1 ? "" : "s");
        }
    if (p->iothreads.set && p->iothreads.value != n_iothreads)
        vmsec__diag_add(&d, p->iothreads.line, "iothreads", "profile expects %llu I/O threads, domain has %zu",
                        (unsigned long long)p->iothreads.value, n_iothreads);
    for (size_t i = 0; i < p->n_iothread_pins; i++)
        if (!has_id(iothread_ids, n_iothreads, p->iothread_pins[i].id)) {
            snprintf(key, sizeof(key), "iothread.%u.pin", p->iothread_pins[i].id);
            vmsec__diag_add(&d, p->iothread_pins[i].line, key, "domain has no I/O thread %u", p->iothread_pins[i].id);
        }
    if (n_iothreads == 0) {
        if (p->cpu_period[VMSEC_CPU_SCOPE_IOTHREAD].set)
            vmsec__diag_add(&d, p->cpu_period[VMSEC_CPU_SCOPE_IOTHREAD].line, "cpu.iothread_period",
                            "domain has no I/O threads");
        if (p->cpu_quota[VMSEC_CPU_SCOPE_IOTHREAD].set)
            vmsec__diag_add(&d, p->cpu_quota[VMSEC_CPU_SCOPE_IOTHREAD].line, "cpu.iothread_quota",
                            "domain has no I/O threads");
    }
    return d.count ? vmsec__diag_report(&d, VMSEC_EFORMAT) : 0;
}

int vmsec_profile_check_domain(const vmsec_profile *p, unsigned int nvcpus, const unsigned int *iothread_ids,
                               size_t n_iothreads)
{
    if (!p || (n_iothreads && !iothread_ids))
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_check_domain: %s is NULL", p ? "iothread_ids" : "profile");
    return vmsec__profile_check_domain(p, nvcpus, iothread_ids, n_iothreads);
}

/* ---- equality ---------------------------------------------------------------------------- */

#define SAME(x, y) ((x).set == (y).set && (!(x).set || (x).value == (y).value))
#define SAME_SET(x, y) ((x).set == (y).set && (!(x).set || vmsec__cpuset_equal(&(x).value, &(y).value)))

static bool same_pins(const struct vmsec__pin *a, size_t na, const struct vmsec__pin *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].id != b[i].id || !vmsec__cpuset_equal(&a[i].cpus, &b[i].cpus))
            return false;
    return true;
}

static bool same_devices(const struct vmsec_profile *a, const struct vmsec_profile *b)
{
    if (a->n_blkio_devices != b->n_blkio_devices)
        return false;
    for (size_t i = 0; i < a->n_blkio_devices; i++) {
        const struct vmsec__blkio_device *x = &a->blkio_devices[i], *y;
        if (!x->path) /* only in invalid profiles; compare by label then */
            y = NULL;
        else
            y = vmsec__profile_blkio_device(b, x->path);
        if (!y)
            return false;
        for (int f = 0; f < VMSEC__BLKIO_FIELDS; f++)
            if (!SAME(x->field[f], y->field[f]))
                return false;
    }
    return true;
}

static bool same_scalars(const struct vmsec_profile *a, const struct vmsec_profile *b)
{
    for (int i = 0; i < VMSEC__CPU_SCOPES; i++)
        if (!SAME(a->cpu_period[i], b->cpu_period[i]) || !SAME(a->cpu_quota[i], b->cpu_quota[i]))
            return false;
    for (int i = 0; i < VMSEC__MEM_LIMITS; i++)
        if (!SAME(a->memory_limit[i], b->memory_limit[i]))
            return false;
    for (int i = 0; i < VMSEC__INTENTS; i++)
        if (!SAME(a->intent[i], b->intent[i]))
            return false;
    if (!SAME_SET(a->host_reserved, b->host_reserved))
        return false;
    return SAME(a->vcpus, b->vcpus) && SAME(a->iothreads, b->iothreads) && SAME(a->cpu_shares, b->cpu_shares) &&
           SAME(a->numa_mode, b->numa_mode) && SAME(a->memory_locked, b->memory_locked) &&
           SAME(a->hugepage_size, b->hugepage_size) && SAME(a->nosharepages, b->nosharepages) &&
           SAME(a->blkio_weight, b->blkio_weight);
}

int vmsec_profile_equal(const vmsec_profile *a, const vmsec_profile *b)
{
    if (!a || !b)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_equal: profile is NULL");
    if (a->name.set != b->name.set || (a->name.set && strcmp(a->name.value, b->name.value) != 0))
        return 0;
    return same_scalars(a, b) && SAME_SET(a->emulator_pin, b->emulator_pin) &&
           SAME_SET(a->numa_nodeset, b->numa_nodeset) && SAME_SET(a->hugepage_nodeset, b->hugepage_nodeset) &&
           same_pins(a->vcpu_pins, a->n_vcpu_pins, b->vcpu_pins, b->n_vcpu_pins) &&
           same_pins(a->iothread_pins, a->n_iothread_pins, b->iothread_pins, b->n_iothread_pins) &&
           same_devices(a, b);
}

bool vmsec__profile_is_empty(const struct vmsec_profile *p)
{
    struct vmsec_profile empty;
    memset(&empty, 0, sizeof(empty));
    return vmsec_profile_equal(p, &empty) == 1;
}
