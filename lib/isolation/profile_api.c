/* SPDX-License-Identifier: ISC */
/* Isolation profiles: object lifetime and the programmatic (generic and typed) accessors. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/profile_keys.h"
#include "common/units.h"

size_t vmsec_profile_digest_max(void) { return VMSEC_PROFILE_DIGEST_MAX; }
size_t vmsec_profile_cpuset_text_max(void) { return VMSEC_PROFILE_CPUSET_TEXT_MAX; }
size_t vmsec_profile_max_cpus(void) { return VMSEC_PROFILE_MAX_CPUS; }
size_t vmsec_profile_name_max(void) { return VMSEC_PROFILE_NAME_MAX; }

_Static_assert(VMSEC_PROFILE_MAX_CPUS == VMSEC_CPUSET_MAX, "public and internal CPU limits agree");
_Static_assert(VMSEC_PROFILE_CPUSET_TEXT_MAX == VMSEC_CPUSET_TEXT_MAX, "public and internal text sizes agree");

#define CHECK_NULL(fn, ptr)                                                                                           \
    do {                                                                                                              \
        if (!(ptr))                                                                                                   \
            return vmsec__error(VMSEC_EINVAL, "%s: %s is NULL", fn, #ptr);                                           \
    } while (0)

int vmsec_profile_new(vmsec_profile **out)
{
    CHECK_NULL("vmsec_profile_new", out);
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return vmsec__error(VMSEC_ENOMEM, "vmsec_profile_new: out of memory");
    return 0;
}

void vmsec_profile_free(vmsec_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_blkio_devices; i++)
        free(p->blkio_devices[i].path);
    free(p->blkio_devices);
    free(p->vcpu_pins);
    free(p->iothread_pins);
    free(p->source);
    free(p);
}

static void *dup_mem(const void *src, size_t n, size_t size, int *fail)
{
    void *d;
    if (n == 0)
        return NULL;
    if (!(d = malloc(n * size))) {
        *fail = 1;
        return NULL;
    }
    return memcpy(d, src, n * size);
}

int vmsec_profile_dup(const vmsec_profile *p, vmsec_profile **out)
{
    vmsec_profile *c;
    int fail = 0;
    CHECK_NULL("vmsec_profile_dup", out);
    *out = NULL;
    CHECK_NULL("vmsec_profile_dup", p);
    if (!(c = malloc(sizeof(*c))))
        return vmsec__error(VMSEC_ENOMEM, "vmsec_profile_dup: out of memory");
    *c = *p;
    c->source = NULL;
    c->vcpu_pins = dup_mem(p->vcpu_pins, p->n_vcpu_pins, sizeof(*p->vcpu_pins), &fail);
    c->iothread_pins = dup_mem(p->iothread_pins, p->n_iothread_pins, sizeof(*p->iothread_pins), &fail);
    c->blkio_devices = dup_mem(p->blkio_devices, p->n_blkio_devices, sizeof(*p->blkio_devices), &fail);
    if (c->blkio_devices)
        for (size_t i = 0; i < c->n_blkio_devices; i++)
            if (p->blkio_devices[i].path && !(c->blkio_devices[i].path = strdup(p->blkio_devices[i].path)))
                fail = 1;
    if (!c->blkio_devices)
        c->n_blkio_devices = 0; /* nothing to free below */
    if (p->source && !(c->source = strdup(p->source)))
        fail = 1;
    if (fail) {
        /* Paths not yet duplicated still point into p: detach them before freeing. */
        for (size_t i = 0; i < c->n_blkio_devices; i++)
            if (c->blkio_devices[i].path == p->blkio_devices[i].path)
                c->blkio_devices[i].path = NULL;
        vmsec_profile_free(c);
        return vmsec__error(VMSEC_ENOMEM, "vmsec_profile_dup: out of memory");
    }
    *out = c;
    return 0;
}

/* ---- generic accessors ------------------------------------------------------------------- */

static int resolve(const vmsec_profile *p, const char *key, struct vmsec__slot *s)
{
    char why[VMSEC__WHY_MAX];
    int r = vmsec__slot_resolve(s, key, strlen(key), why, sizeof(why));
    if (r == -2)
        return vmsec__profile_error(VMSEC_ENOTFOUND, p, 0, NULL, "%.64s: %s", key, why);
    if (r < 0) {
        char hint[VMSEC__KEY_MAX + 1];
        if (vmsec__profile_key_suggest(key, strlen(key), hint, sizeof(hint)))
            return vmsec__profile_error(VMSEC_ENOTFOUND, p, 0, NULL, "unknown key '%.64s' (did you mean '%s'?)", key,
                                        hint);
        return vmsec__profile_error(VMSEC_ENOTFOUND, p, 0, NULL, "unknown key '%.64s'", key);
    }
    return 0;
}

static int set_slot(vmsec_profile *p, const struct vmsec__slot *s, const char *value)
{
    char why[VMSEC__WHY_MAX];
    int r = vmsec__slot_set(p, s, value, strlen(value), 0, why, sizeof(why));
    if (r == VMSEC_ENOMEM)
        return vmsec__error(r, "profile: out of memory");
    if (r < 0)
        return vmsec__profile_error(r, p, 0, s->key, "%s", why);
    return 0;
}

int vmsec_profile_set(vmsec_profile *p, const char *key, const char *value)
{
    struct vmsec__slot s;
    int r;
    CHECK_NULL("vmsec_profile_set", p);
    CHECK_NULL("vmsec_profile_set", key);
    CHECK_NULL("vmsec_profile_set", value);
    if ((r = resolve(p, key, &s)) < 0)
        return r;
    return set_slot(p, &s, value);
}

static int copy_out(const char *fn, const char *text, size_t n, char *buf, size_t size)
{
    if (n >= size)
        return vmsec__error(VMSEC_ETOOBIG, "%s: value needs %zu bytes, buffer has %zu", fn, n + 1, size);
    memcpy(buf, text, n + 1);
    return 1;
}

/* Formats a slot into buf: 1 set, 0 unset, ETOOBIG. */
static int get_slot(const char *fn, const vmsec_profile *p, const struct vmsec__slot *s, char *buf, size_t size)
{
    char *tmp;
    size_t n;
    int r;
    if (!vmsec__slot_is_set(p, s, NULL))
        return 0;
    n = vmsec__slot_format(p, s, NULL, 0);
    if (n >= size)
        return vmsec__error(VMSEC_ETOOBIG, "%s: value needs %zu bytes, buffer has %zu", fn, n + 1, size);
    if (!(tmp = malloc(n + 1)))
        return vmsec__error(VMSEC_ENOMEM, "%s: out of memory", fn);
    vmsec__slot_format(p, s, tmp, n + 1);
    r = copy_out(fn, tmp, n, buf, size);
    free(tmp);
    return r;
}

int vmsec_profile_get(const vmsec_profile *p, const char *key, char *buf, size_t size)
{
    struct vmsec__slot s;
    int r;
    CHECK_NULL("vmsec_profile_get", p);
    CHECK_NULL("vmsec_profile_get", key);
    CHECK_NULL("vmsec_profile_get", buf);
    if ((r = resolve(p, key, &s)) < 0)
        return r;
    return get_slot("vmsec_profile_get", p, &s, buf, size);
}

int vmsec_profile_unset(vmsec_profile *p, const char *key)
{
    struct vmsec__slot s;
    int r;
    CHECK_NULL("vmsec_profile_unset", p);
    CHECK_NULL("vmsec_profile_unset", key);
    if ((r = resolve(p, key, &s)) < 0)
        return r;
    vmsec__slot_unset(p, &s);
    return 0;
}

/* ---- typed accessors --------------------------------------------------------------------- */

/* Sets key to value text, or unsets it when value is NULL. */
static int set_text(vmsec_profile *p, const char *key, const char *value)
{
    struct vmsec__slot s;
    int r = resolve(p, key, &s);
    if (r < 0)
        return r;
    if (!value) {
        vmsec__slot_unset(p, &s);
        return 0;
    }
    return set_slot(p, &s, value);
}

static int set_num(vmsec_profile *p, const char *key, uint64_t v)
{
    char t[VMSEC_UNITS_TEXT_MAX];
    snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    return set_text(p, key, v ? t : NULL);
}

static int get_text(const char *fn, const vmsec_profile *p, const char *key, char *buf, size_t size)
{
    struct vmsec__slot s;
    int r;
    CHECK_NULL(fn, p);
    CHECK_NULL(fn, buf);
    if ((r = resolve(p, key, &s)) < 0)
        return r;
    return get_slot(fn, p, &s, buf, size);
}

static int get_u64(const struct vmsec__u64 *f, uint64_t *out)
{
    if (f->set)
        *out = f->value;
    return f->set;
}

static int bad_scope(const char *fn, int scope)
{
    return vmsec__error(VMSEC_EINVAL, "%s: %d is not a vmsec_cpu_scope", fn, scope);
}

int vmsec_profile_set_name(vmsec_profile *p, const char *name)
{
    CHECK_NULL("vmsec_profile_set_name", p);
    return set_text(p, "name", name);
}

int vmsec_profile_get_name(const vmsec_profile *p, char *buf, size_t size)
{
    return get_text("vmsec_profile_get_name", p, "name", buf, size);
}

int vmsec_profile_set_vcpus(vmsec_profile *p, unsigned int n)
{
    CHECK_NULL("vmsec_profile_set_vcpus", p);
    return set_num(p, "vcpus", n);
}

int vmsec_profile_get_vcpus(const vmsec_profile *p, unsigned int *n)
{
    CHECK_NULL("vmsec_profile_get_vcpus", p);
    CHECK_NULL("vmsec_profile_get_vcpus", n);
    if (p->vcpus.set)
        *n = (unsigned int)p->vcpus.value;
    return p->vcpus.set;
}

int vmsec_profile_set_iothreads(vmsec_profile *p, unsigned int n)
{
    CHECK_NULL("vmsec_profile_set_iothreads", p);
    return set_num(p, "iothreads", n);
}

int vmsec_profile_get_iothreads(const vmsec_profile *p, unsigned int *n)
{
    CHECK_NULL("vmsec_profile_get_iothreads", p);
    CHECK_NULL("vmsec_profile_get_iothreads", n);
    if (p->iothreads.set)
        *n = (unsigned int)p->iothreads.value;
    return p->iothreads.set;
}

static int bad_id(const char *fn, bool vcpu, unsigned int id)
{
    if (vcpu ? id < VMSEC__MAX_IDS : id >= 1 && id <= VMSEC__MAX_IDS)
        return 0;
    return vmsec__error(VMSEC_EINVAL, "%s: %s %u is out of range %u..%u", fn, vcpu ? "vCPU" : "iothread id", id,
                        vcpu ? 0 : 1, vcpu ? VMSEC__MAX_IDS - 1 : VMSEC__MAX_IDS);
}

int vmsec_profile_set_vcpu_pin(vmsec_profile *p, unsigned int vcpu, const char *cpuset)
{
    char key[32];
    CHECK_NULL("vmsec_profile_set_vcpu_pin", p);
    if (bad_id("vmsec_profile_set_vcpu_pin", true, vcpu))
        return VMSEC_EINVAL;
    snprintf(key, sizeof(key), "vcpu.%u.pin", vcpu);
    return set_text(p, key, cpuset);
}

int vmsec_profile_get_vcpu_pin(const vmsec_profile *p, unsigned int vcpu, char *buf, size_t size)
{
    char key[32];
    if (bad_id("vmsec_profile_get_vcpu_pin", true, vcpu))
        return VMSEC_EINVAL;
    snprintf(key, sizeof(key), "vcpu.%u.pin", vcpu);
    return get_text("vmsec_profile_get_vcpu_pin", p, key, buf, size);
}

int vmsec_profile_set_emulator_pin(vmsec_profile *p, const char *cpuset)
{
    CHECK_NULL("vmsec_profile_set_emulator_pin", p);
    return set_text(p, "emulator.pin", cpuset);
}

int vmsec_profile_get_emulator_pin(const vmsec_profile *p, char *buf, size_t size)
{
    return get_text("vmsec_profile_get_emulator_pin", p, "emulator.pin", buf, size);
}

int vmsec_profile_set_iothread_pin(vmsec_profile *p, unsigned int id, const char *cpuset)
{
    char key[32];
    CHECK_NULL("vmsec_profile_set_iothread_pin", p);
    if (bad_id("vmsec_profile_set_iothread_pin", false, id))
        return VMSEC_EINVAL;
    snprintf(key, sizeof(key), "iothread.%u.pin", id);
    return set_text(p, key, cpuset);
}

int vmsec_profile_get_iothread_pin(const vmsec_profile *p, unsigned int id, char *buf, size_t size)
{
    char key[32];
    if (bad_id("vmsec_profile_get_iothread_pin", false, id))
        return VMSEC_EINVAL;
    snprintf(key, sizeof(key), "iothread.%u.pin", id);
    return get_text("vmsec_profile_get_iothread_pin", p, key, buf, size);
}

int vmsec_profile_set_cpu_shares(vmsec_profile *p, uint64_t shares)
{
    CHECK_NULL("vmsec_profile_set_cpu_shares", p);
    return set_num(p, "cpu.shares", shares);
}

int vmsec_profile_get_cpu_shares(const vmsec_profile *p, uint64_t *shares)
{
    CHECK_NULL("vmsec_profile_get_cpu_shares", p);
    CHECK_NULL("vmsec_profile_get_cpu_shares", shares);
    return get_u64(&p->cpu_shares, shares);
}

int vmsec_profile_set_cpu_period(vmsec_profile *p, int scope, uint64_t period_us)
{
    char key[40];
    CHECK_NULL("vmsec_profile_set_cpu_period", p);
    if (scope < 0 || scope >= VMSEC__CPU_SCOPES)
        return bad_scope("vmsec_profile_set_cpu_period", scope);
    snprintf(key, sizeof(key), "cpu.%s_period", vmsec__cpu_scope_names[scope]);
    return set_num(p, key, period_us);
}

int vmsec_profile_get_cpu_period(const vmsec_profile *p, int scope, uint64_t *period_us)
{
    CHECK_NULL("vmsec_profile_get_cpu_period", p);
    CHECK_NULL("vmsec_profile_get_cpu_period", period_us);
    if (scope < 0 || scope >= VMSEC__CPU_SCOPES)
        return bad_scope("vmsec_profile_get_cpu_period", scope);
    return get_u64(&p->cpu_period[scope], period_us);
}

int vmsec_profile_set_cpu_quota(vmsec_profile *p, int scope, int64_t quota_us)
{
    char key[40], t[VMSEC_UNITS_TEXT_MAX];
    CHECK_NULL("vmsec_profile_set_cpu_quota", p);
    if (scope < 0 || scope >= VMSEC__CPU_SCOPES)
        return bad_scope("vmsec_profile_set_cpu_quota", scope);
    snprintf(key, sizeof(key), "cpu.%s_quota", vmsec__cpu_scope_names[scope]);
    snprintf(t, sizeof(t), "%lld", (long long)quota_us);
    return set_text(p, key, quota_us ? t : NULL);
}

int vmsec_profile_get_cpu_quota(const vmsec_profile *p, int scope, int64_t *quota_us)
{
    CHECK_NULL("vmsec_profile_get_cpu_quota", p);
    CHECK_NULL("vmsec_profile_get_cpu_quota", quota_us);
    if (scope < 0 || scope >= VMSEC__CPU_SCOPES)
        return bad_scope("vmsec_profile_get_cpu_quota", scope);
    if (p->cpu_quota[scope].set)
        *quota_us = p->cpu_quota[scope].value;
    return p->cpu_quota[scope].set;
}

int vmsec_profile_set_numa_mode(vmsec_profile *p, int mode)
{
    CHECK_NULL("vmsec_profile_set_numa_mode", p);
    if (mode > VMSEC_NUMA_RESTRICTIVE)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_set_numa_mode: %d is not a vmsec_numa_mode", mode);
    return set_text(p, "numa.mode", mode < 0 ? NULL : vmsec__numa_mode_names[mode]);
}

int vmsec_profile_get_numa_mode(const vmsec_profile *p, int *mode)
{
    CHECK_NULL("vmsec_profile_get_numa_mode", p);
    CHECK_NULL("vmsec_profile_get_numa_mode", mode);
    if (p->numa_mode.set)
        *mode = (int)p->numa_mode.value;
    return p->numa_mode.set;
}

int vmsec_profile_set_numa_nodeset(vmsec_profile *p, const char *nodeset)
{
    CHECK_NULL("vmsec_profile_set_numa_nodeset", p);
    return set_text(p, "numa.nodeset", nodeset);
}

int vmsec_profile_get_numa_nodeset(const vmsec_profile *p, char *buf, size_t size)
{
    return get_text("vmsec_profile_get_numa_nodeset", p, "numa.nodeset", buf, size);
}

int vmsec_profile_set_memory_limit(vmsec_profile *p, int which, uint64_t bytes)
{
    CHECK_NULL("vmsec_profile_set_memory_limit", p);
    if (which < 0 || which >= VMSEC__MEM_LIMITS)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_set_memory_limit: %d is not a vmsec_memory_limit", which);
    if (bytes == VMSEC_PROFILE_UNLIMITED)
        return set_text(p, vmsec__memory_limit_keys[which], "unlimited");
    return set_num(p, vmsec__memory_limit_keys[which], bytes);
}

int vmsec_profile_get_memory_limit(const vmsec_profile *p, int which, uint64_t *bytes)
{
    CHECK_NULL("vmsec_profile_get_memory_limit", p);
    CHECK_NULL("vmsec_profile_get_memory_limit", bytes);
    if (which < 0 || which >= VMSEC__MEM_LIMITS)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_get_memory_limit: %d is not a vmsec_memory_limit", which);
    return get_u64(&p->memory_limit[which], bytes);
}

static int set_tristate(vmsec_profile *p, const char *fn, const char *key, int v)
{
    CHECK_NULL(fn, p);
    if (v < -1 || v > 1)
        return vmsec__error(VMSEC_EINVAL, "%s: %d is not 1, 0 or -1", fn, v);
    return set_text(p, key, v < 0 ? NULL : v ? "yes" : "no");
}

static int get_tristate(const char *fn, const vmsec_profile *p, const struct vmsec__bool *f, int *out)
{
    CHECK_NULL(fn, out);
    if (f->set)
        *out = f->value;
    return f->set;
}

int vmsec_profile_set_memory_locked(vmsec_profile *p, int locked)
{
    return set_tristate(p, "vmsec_profile_set_memory_locked", "memory.locked", locked);
}

int vmsec_profile_get_memory_locked(const vmsec_profile *p, int *locked)
{
    CHECK_NULL("vmsec_profile_get_memory_locked", p);
    return get_tristate("vmsec_profile_get_memory_locked", p, &p->memory_locked, locked);
}

int vmsec_profile_set_hugepage_size(vmsec_profile *p, uint64_t bytes)
{
    CHECK_NULL("vmsec_profile_set_hugepage_size", p);
    if (bytes == VMSEC__HUGEPAGE_DEFAULT)
        return set_text(p, "memory.hugepages.size", "default");
    return set_num(p, "memory.hugepages.size", bytes);
}

int vmsec_profile_get_hugepage_size(const vmsec_profile *p, uint64_t *bytes)
{
    CHECK_NULL("vmsec_profile_get_hugepage_size", p);
    CHECK_NULL("vmsec_profile_get_hugepage_size", bytes);
    return get_u64(&p->hugepage_size, bytes);
}

int vmsec_profile_set_hugepage_nodeset(vmsec_profile *p, const char *nodeset)
{
    CHECK_NULL("vmsec_profile_set_hugepage_nodeset", p);
    return set_text(p, "memory.hugepages.nodeset", nodeset);
}

int vmsec_profile_get_hugepage_nodeset(const vmsec_profile *p, char *buf, size_t size)
{
    return get_text("vmsec_profile_get_hugepage_nodeset", p, "memory.hugepages.nodeset", buf, size);
}

int vmsec_profile_set_nosharepages(vmsec_profile *p, int nosharepages)
{
    return set_tristate(p, "vmsec_profile_set_nosharepages", "memory.nosharepages", nosharepages);
}

int vmsec_profile_get_nosharepages(const vmsec_profile *p, int *nosharepages)
{
    CHECK_NULL("vmsec_profile_get_nosharepages", p);
    return get_tristate("vmsec_profile_get_nosharepages", p, &p->nosharepages, nosharepages);
}

int vmsec_profile_set_blkio_weight(vmsec_profile *p, unsigned int weight)
{
    CHECK_NULL("vmsec_profile_set_blkio_weight", p);
    return set_num(p, "blkio.weight", weight);
}

int vmsec_profile_get_blkio_weight(const vmsec_profile *p, unsigned int *weight)
{
    CHECK_NULL("vmsec_profile_get_blkio_weight", p);
    CHECK_NULL("vmsec_profile_get_blkio_weight", weight);
    if (p->blkio_weight.set)
        *weight = (unsigned int)p->blkio_weight.value;
    return p->blkio_weight.set;
}

/* ---- block devices ----------------------------------------------------------------------- */

static int bad_field(const char *fn, int field)
{
    return vmsec__error(VMSEC_EINVAL, "%s: %d is not a vmsec_blkio_field", fn, field);
}

static void dev_slot(struct vmsec__slot *s, unsigned int label, int field)
{
    memset(s, 0, sizeof(*s));
    s->kind = field < 0 ? VMSEC__K_DEV_PATH : VMSEC__K_DEV_FIELD;
    s->arg = field;
    s->id = label;
    if (field < 0)
        snprintf(s->key, sizeof(s->key), "blkio.device.%u.path", label);
    else
        snprintf(s->key, sizeof(s->key), "blkio.device.%u.%s", label, vmsec__blkio_field_names[field]);
}

/* Smallest label no device uses. */
static unsigned int free_label(const vmsec_profile *p)
{
    for (unsigned int l = 0;; l++) {
        bool used = false;
        for (size_t i = 0; i < p->n_blkio_devices && !used; i++)
            used = p->blkio_devices[i].label == l;
        if (!used)
            return l;
    }
}

int vmsec_profile_set_blkio_device(vmsec_profile *p, const char *path, int field, uint64_t value)
{
    const struct vmsec__blkio_device *d;
    struct vmsec__slot s, ps;
    char t[VMSEC_UNITS_TEXT_MAX];
    bool created = false;
    int r;
    CHECK_NULL("vmsec_profile_set_blkio_device", p);
    CHECK_NULL("vmsec_profile_set_blkio_device", path);
    if (field < 0 || field >= VMSEC__BLKIO_FIELDS)
        return bad_field("vmsec_profile_set_blkio_device", field);
    d = vmsec__profile_blkio_device(p, path);
    if (!d) {
        if (p->n_blkio_devices >= VMSEC__BLKIO_MAX_DEVICES)
            return vmsec__profile_error(VMSEC_EFORMAT, p, 0, "blkio.device", "more than %u devices",
                                        VMSEC__BLKIO_MAX_DEVICES);
        dev_slot(&ps, free_label(p), -1);
        if ((r = set_slot(p, &ps, path)) < 0)
            return r;
        created = true;
        d = vmsec__profile_blkio_device(p, path);
    }
    dev_slot(&s, d->label, field);
    snprintf(t, sizeof(t), "%llu", (unsigned long long)value);
    r = set_slot(p, &s, t);
    if (r < 0 && created)
        vmsec__slot_unset(p, &ps); /* leave no device without settings behind */
    return r;
}

int vmsec_profile_unset_blkio_device(vmsec_profile *p, const char *path, int field)
{
    const struct vmsec__blkio_device *d;
    struct vmsec__slot s;
    bool any = false;
    CHECK_NULL("vmsec_profile_unset_blkio_device", p);
    CHECK_NULL("vmsec_profile_unset_blkio_device", path);
    if (field < 0 || field >= VMSEC__BLKIO_FIELDS)
        return bad_field("vmsec_profile_unset_blkio_device", field);
    if (!(d = vmsec__profile_blkio_device(p, path)))
        return 0;
    dev_slot(&s, d->label, field);
    vmsec__slot_unset(p, &s);
    for (int f = 0; f < VMSEC__BLKIO_FIELDS; f++)
        any |= d->field[f].set;
    if (!any) {
        dev_slot(&s, d->label, -1);
        vmsec__slot_unset(p, &s);
    }
    return 0;
}

int vmsec_profile_get_blkio_device(const vmsec_profile *p, const char *path, int field, uint64_t *value)
{
    const struct vmsec__blkio_device *d;
    CHECK_NULL("vmsec_profile_get_blkio_device", p);
    CHECK_NULL("vmsec_profile_get_blkio_device", path);
    CHECK_NULL("vmsec_profile_get_blkio_device", value);
    if (field < 0 || field >= VMSEC__BLKIO_FIELDS)
        return bad_field("vmsec_profile_get_blkio_device", field);
    if (!(d = vmsec__profile_blkio_device(p, path)))
        return 0;
    return get_u64(&d->field[field], value);
}

int vmsec_profile_blkio_device_count(const vmsec_profile *p, size_t *count)
{
    CHECK_NULL("vmsec_profile_blkio_device_count", p);
    CHECK_NULL("vmsec_profile_blkio_device_count", count);
    *count = p->n_blkio_devices;
    return 0;
}

/* The index-th device in path order (devices without a path sort last). */
const struct vmsec__blkio_device *vmsec__profile_device_sorted(const struct vmsec_profile *p, size_t index)
{
    for (size_t i = 0; i < p->n_blkio_devices; i++) {
        const struct vmsec__blkio_device *d = &p->blkio_devices[i];
        size_t before = 0;
        for (size_t j = 0; j < p->n_blkio_devices; j++) {
            const struct vmsec__blkio_device *e = &p->blkio_devices[j];
            int c = !e->path ? (d->path ? 1 : 0) : !d->path ? -1 : strcmp(e->path, d->path);
            if (c < 0 || (c == 0 && j < i))
                before++;
        }
        if (before == index)
            return d;
    }
    return NULL;
}

int vmsec_profile_blkio_device_path(const vmsec_profile *p, size_t index, char *buf, size_t size)
{
    const struct vmsec__blkio_device *d;
    CHECK_NULL("vmsec_profile_blkio_device_path", p);
    CHECK_NULL("vmsec_profile_blkio_device_path", buf);
    d = vmsec__profile_device_sorted(p, index);
    if (!d || !d->path)
        return vmsec__error(VMSEC_ENOTFOUND, "vmsec_profile_blkio_device_path: no device %zu (profile has %zu)",
                            index, p->n_blkio_devices);
    return copy_out("vmsec_profile_blkio_device_path", d->path, strlen(d->path), buf, size) < 0 ? VMSEC_ETOOBIG : 0;
}
