/* SPDX-License-Identifier: ISC */
/* Isolation profile values: each key's value parsed and validated into the model
 * (vmsec__slot_set), and formatted back canonically (vmsec__slot_format). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/profile_keys.h"
#include "common/units.h"

/* ---- values ------------------------------------------------------------------------------ */

static int parse_range(const char *v, size_t len, uint64_t lo, uint64_t hi, uint64_t *out, char *why, size_t wl)
{
    if (vmsec__parse_u64(v, len, out, why, wl) < 0)
        return -1;
    if (*out < lo || *out > hi) {
        snprintf(why, wl, "%llu is out of range %llu..%llu", (unsigned long long)*out, (unsigned long long)lo,
                 (unsigned long long)hi);
        return -1;
    }
    return 0;
}

static int parse_bool(const char *v, size_t len, bool *out, char *why, size_t wl)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strlen(yes[i]) == len && memcmp(v, yes[i], len) == 0)
            return *out = true, 0;
        if (strlen(no[i]) == len && memcmp(v, no[i], len) == 0)
            return *out = false, 0;
    }
    snprintf(why, wl, "'%.*s' is not yes or no", (int)(len > 32 ? 32 : len), v);
    return -1;
}

static int parse_name(const char *v, size_t len, char *why, size_t wl)
{
    bool ok = len >= 1 && len <= VMSEC_PROFILE_NAME_MAX && v[0] != '.' && v[0] != '-';
    for (size_t i = 0; ok && i < len; i++) {
        char c = v[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
             c == '-';
    }
    if (!ok)
        snprintf(why, wl, "'%.*s' is not a valid name (1 to %d of A-Z a-z 0-9 . _ -, not starting with . or -)",
                 (int)(len > 80 ? 80 : len), v, VMSEC_PROFILE_NAME_MAX);
    return ok ? 0 : -1;
}

static int parse_quota(const char *v, size_t len, int64_t *out, char *why, size_t wl)
{
    if (vmsec__parse_i64(v, len, out, why, wl) < 0)
        return -1;
    if (*out != -1 && (*out < VMSEC__QUOTA_MIN || *out > VMSEC__QUOTA_MAX)) {
        snprintf(why, wl, "%lld is out of range (-1 for no limit, or %lld..%lld)", (long long)*out,
                 (long long)VMSEC__QUOTA_MIN, (long long)VMSEC__QUOTA_MAX);
        return -1;
    }
    return 0;
}

static int parse_memlimit(const char *v, size_t len, uint64_t *out, char *why, size_t wl)
{
    char t[VMSEC_UNITS_TEXT_MAX];
    if (len == 9 && memcmp(v, "unlimited", 9) == 0)
        return *out = VMSEC_PROFILE_UNLIMITED, 0;
    if (vmsec__size_parse(v, len, out, why, wl) < 0)
        return -1;
    if (*out == 0)
        snprintf(why, wl, "0 is not a limit (write 'unlimited', or leave the key out)");
    else if (*out % 1024)
        snprintf(why, wl, "%s is not a multiple of 1024 (libvirt counts KiB)", vmsec__size_format(*out, t));
    else if (*out > VMSEC__MEMORY_MAX)
        snprintf(why, wl, "%s is above the maximum %s", vmsec__size_format(*out, t), "9007199254740990K");
    else
        return 0;
    return -1;
}

static int parse_hugesize(const char *v, size_t len, uint64_t *out, char *why, size_t wl)
{
    char t[VMSEC_UNITS_TEXT_MAX];
    if (len == 7 && memcmp(v, "default", 7) == 0)
        return *out = VMSEC__HUGEPAGE_DEFAULT, 0;
    if (vmsec__size_parse(v, len, out, why, wl) < 0)
        return -1;
    if (*out & (*out - 1) || *out == 0)
        snprintf(why, wl, "%s is not a power of two", vmsec__size_format(*out, t));
    else if (*out < VMSEC__HUGEPAGE_MIN || *out > VMSEC__HUGEPAGE_MAX)
        snprintf(why, wl, "%s is not a huge page size (64K..16G, or 'default')", vmsec__size_format(*out, t));
    else
        return 0;
    return -1;
}

static int parse_path(const char *v, size_t len, char *why, size_t wl)
{
    if (v[0] != '/') {
        snprintf(why, wl, "'%.*s' is not an absolute path", (int)(len > 80 ? 80 : len), v);
        return -1;
    }
    if (len > VMSEC__PATH_MAX) {
        snprintf(why, wl, "path longer than %u bytes", VMSEC__PATH_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (v[i] == ' ' || v[i] == '\t' || v[i] == ',' || v[i] == '#' || (unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
            snprintf(why, wl, "path must not contain spaces, commas, '#' or control characters");
            return -1;
        }
    return 0;
}

static int parse_dev_field(int field, const char *v, size_t len, uint64_t *out, char *why, size_t wl)
{
    switch (field) {
    case VMSEC_BLKIO_WEIGHT:
        return parse_range(v, len, VMSEC__BLKIO_WEIGHT_MIN, VMSEC__BLKIO_WEIGHT_MAX, out, why, wl);
    case VMSEC_BLKIO_READ_BYTES_SEC:
    case VMSEC_BLKIO_WRITE_BYTES_SEC:
        if (vmsec__size_parse(v, len, out, why, wl) < 0)
            return -1;
        break;
    default:
        if (vmsec__parse_u64(v, len, out, why, wl) < 0)
            return -1;
    }
    if (*out == 0 || *out > VMSEC__THROTTLE_MAX) {
        snprintf(why, wl, "%llu is out of range 1..%llu", (unsigned long long)*out,
                 (unsigned long long)VMSEC__THROTTLE_MAX);
        return -1;
    }
    return 0;
}

static void put_u64(struct vmsec__u64 *f, uint64_t v, unsigned int line)
{
    f->set = true;
    f->line = line;
    f->value = v;
}

/* One of the placement intent keys: a word from vmsec__intent_values[intent]. */
static int set_intent(struct vmsec_profile *p, int intent, const char *v, size_t len, unsigned int line, char *why,
                      size_t wl)
{
    const char *const *names = vmsec__intent_values[intent];
    size_t off = 0;
    for (uint64_t u = 0; names[u]; u++)
        if (strlen(names[u]) == len && memcmp(v, names[u], len) == 0) {
            put_u64(&p->intent[intent], u, line);
            return 0;
        }
    off = (size_t)snprintf(why, wl, "'%.*s' is not one of", (int)(len > 32 ? 32 : len), v);
    for (size_t u = 0; names[u] && off < wl; u++)
        off += (size_t)snprintf(why + off, wl - off, "%s %s", u ? "," : "", names[u]);
    return VMSEC_EFORMAT;
}

static int set_cpuset(struct vmsec__set *f, const char *v, size_t len, unsigned flags, unsigned line, char *why, size_t wl)
{
    vmsec_cpuset cs;
    if (vmsec__cpuset_parse(&cs, v, len, flags, why, wl) < 0)
        return VMSEC_EFORMAT;
    f->set = true;
    f->line = line;
    f->value = cs;
    return 0;
}

static int set_device(struct vmsec_profile *p, const struct vmsec__slot *s, const char *v, size_t len,
                      unsigned int line, char *why, size_t wl)
{
    struct vmsec__blkio_device *d = vmsec__device_by_label(p, s->id);
    uint64_t u = 0;
    char *path = NULL;
    if (s->kind == VMSEC__K_DEV_PATH) {
        if (parse_path(v, len, why, wl) < 0)
            return VMSEC_EFORMAT;
        /* v is a slice of the caller's text, which need not be NUL-terminated: copy exactly. */
        if (!(path = malloc(len + 1)))
            return VMSEC_ENOMEM;
        memcpy(path, v, len);
        path[len] = '\0';
    } else if (parse_dev_field(s->arg, v, len, &u, why, wl) < 0) {
        return VMSEC_EFORMAT;
    }
    if (!d && !(d = vmsec__device_add(p, s->id))) {
        free(path);
        if (p->n_blkio_devices >= VMSEC__BLKIO_MAX_DEVICES) {
            snprintf(why, wl, "more than %u devices", VMSEC__BLKIO_MAX_DEVICES);
            return VMSEC_EFORMAT;
        }
        return VMSEC_ENOMEM;
    }
    if (path) {
        free(d->path);
        d->path = path;
        d->path_line = line;
    } else {
        put_u64(&d->field[s->arg], u, line);
    }
    return 0;
}

int vmsec__slot_set(struct vmsec_profile *p, const struct vmsec__slot *s, const char *v, size_t len,
                    unsigned int line, char *why, size_t wl)
{
    uint64_t u = 0;
    int64_t q = 0;
    bool b = false;
    vmsec_cpuset cs;
    if (len == 0) {
        snprintf(why, wl, "missing value");
        return VMSEC_EFORMAT;
    }
    switch (s->kind) {
    case VMSEC__K_NAME:
        if (parse_name(v, len, why, wl) < 0)
            return VMSEC_EFORMAT;
        memcpy(p->name.value, v, len);
        p->name.value[len] = '\0';
        p->name.set = true;
        p->name.line = line;
        return 0;
    case VMSEC__K_VCPUS:
    case VMSEC__K_IOTHREADS:
        if (parse_range(v, len, 1, VMSEC__MAX_IDS, &u, why, wl) < 0)
            return VMSEC_EFORMAT;
        put_u64(s->kind == VMSEC__K_VCPUS ? &p->vcpus : &p->iothreads, u, line);
        return 0;
    case VMSEC__K_VCPU_PIN:
    case VMSEC__K_IOTHREAD_PIN:
        if (vmsec__cpuset_parse(&cs, v, len, 0, why, wl) < 0)
            return VMSEC_EFORMAT;
        if (s->kind == VMSEC__K_VCPU_PIN)
            return vmsec__pin_put(&p->vcpu_pins, &p->n_vcpu_pins, s->id, &cs, line);
        return vmsec__pin_put(&p->iothread_pins, &p->n_iothread_pins, s->id, &cs, line);
    case VMSEC__K_EMULATOR_PIN:
        return set_cpuset(&p->emulator_pin, v, len, 0, line, why, wl);
    case VMSEC__K_SHARES:
        if (parse_range(v, len, VMSEC__SHARES_MIN, VMSEC__SHARES_MAX, &u, why, wl) < 0)
            return VMSEC_EFORMAT;
        put_u64(&p->cpu_shares, u, line);
        return 0;
    case VMSEC__K_PERIOD:
        if (parse_range(v, len, VMSEC__PERIOD_MIN, VMSEC__PERIOD_MAX, &u, why, wl) < 0)
            return VMSEC_EFORMAT;
        put_u64(&p->cpu_period[s->arg], u, line);
        return 0;
    case VMSEC__K_QUOTA:
        if (parse_quota(v, len, &q, why, wl) < 0)
            return VMSEC_EFORMAT;
        p->cpu_quota[s->arg].set = true;
        p->cpu_quota[s->arg].line = line;
        p->cpu_quota[s->arg].value = q;
        return 0;
    case VMSEC__K_NUMA_MODE:
        for (u = 0; u < 4; u++)
            if (strlen(vmsec__numa_mode_names[u]) == len && memcmp(v, vmsec__numa_mode_names[u], len) == 0) {
                put_u64(&p->numa_mode, u, line);
                return 0;
            }
        snprintf(why, wl, "'%.*s' is not one of strict, preferred, interleave, restrictive", (int)(len > 32 ? 32 : len), v);
        return VMSEC_EFORMAT;
    case VMSEC__K_NUMA_NODESET:
        return set_cpuset(&p->numa_nodeset, v, len, VMSEC_CPUSET_NODES, line, why, wl);
    case VMSEC__K_MEMLIMIT:
        if (parse_memlimit(v, len, &u, why, wl) < 0)
            return VMSEC_EFORMAT;
        put_u64(&p->memory_limit[s->arg], u, line);
        return 0;
    case VMSEC__K_LOCKED:
    case VMSEC__K_NOSHARE:
        if (parse_bool(v, len, &b, why, wl) < 0)
            return VMSEC_EFORMAT;
        {
            struct vmsec__bool *f = s->kind == VMSEC__K_LOCKED ? &p->memory_locked : &p->nosharepages;
            f->set = true;
            f->line = line;
            f->value = b;
        }
        return 0;
    case VMSEC__K_HUGE_SIZE:
        if (parse_hugesize(v, len, &u, why, wl) < 0)
            return VMSEC_EFORMAT;
        put_u64(&p->hugepage_size, u, line);
        return 0;
    case VMSEC__K_HUGE_NODESET:
        return set_cpuset(&p->hugepage_nodeset, v, len, VMSEC_CPUSET_NODES, line, why, wl);
    case VMSEC__K_BLKIO_WEIGHT:
        if (parse_range(v, len, VMSEC__BLKIO_WEIGHT_MIN, VMSEC__BLKIO_WEIGHT_MAX, &u, why, wl) < 0)
            return VMSEC_EFORMAT;
        put_u64(&p->blkio_weight, u, line);
        return 0;
    case VMSEC__K_DEV_PATH:
    case VMSEC__K_DEV_FIELD:
        return set_device(p, s, v, len, line, why, wl);
    case VMSEC__K_INTENT:
        return set_intent(p, s->arg, v, len, line, why, wl);
    case VMSEC__K_HOST_RESERVED:
        return set_cpuset(&p->host_reserved, v, len, 0, line, why, wl);
    }
    return VMSEC_EINTERNAL;
}

/* ---- formatting -------------------------------------------------------------------------- */

static size_t fmt_text(char *buf, size_t size, const char *text)
{
    return (size_t)snprintf(buf, size, "%s", text);
}

size_t vmsec__device_format(const struct vmsec__blkio_device *d, int field, char *buf, size_t size)
{
    char t[VMSEC_UNITS_TEXT_MAX];
    if (field < 0)
        return d->path ? fmt_text(buf, size, d->path) : 0;
    if (!d->field[field].set)
        return 0;
    if (field == VMSEC_BLKIO_READ_BYTES_SEC || field == VMSEC_BLKIO_WRITE_BYTES_SEC)
        return fmt_text(buf, size, vmsec__size_format(d->field[field].value, t));
    return (size_t)snprintf(buf, size, "%llu", (unsigned long long)d->field[field].value);
}

static size_t fmt_u64(char *buf, size_t size, uint64_t v)
{
    return (size_t)snprintf(buf, size, "%llu", (unsigned long long)v);
}

size_t vmsec__slot_format(const struct vmsec_profile *p, const struct vmsec__slot *s, char *buf, size_t size)
{
    char t[VMSEC_UNITS_TEXT_MAX];
    const struct vmsec__pin *pin;
    const struct vmsec__blkio_device *d;
    uint64_t u;
    if (size)
        buf[0] = '\0';
    if (!vmsec__slot_is_set(p, s, NULL))
        return 0;
    switch (s->kind) {
    case VMSEC__K_NAME: return fmt_text(buf, size, p->name.value);
    case VMSEC__K_VCPUS: return fmt_u64(buf, size, p->vcpus.value);
    case VMSEC__K_IOTHREADS: return fmt_u64(buf, size, p->iothreads.value);
    case VMSEC__K_VCPU_PIN:
    case VMSEC__K_IOTHREAD_PIN:
        pin = s->kind == VMSEC__K_VCPU_PIN ? vmsec__profile_vcpu_pin(p, s->id) : vmsec__profile_iothread_pin(p, s->id);
        return vmsec__cpuset_format(&pin->cpus, buf, size);
    case VMSEC__K_EMULATOR_PIN: return vmsec__cpuset_format(&p->emulator_pin.value, buf, size);
    case VMSEC__K_SHARES: return fmt_u64(buf, size, p->cpu_shares.value);
    case VMSEC__K_PERIOD: return fmt_u64(buf, size, p->cpu_period[s->arg].value);
    case VMSEC__K_QUOTA:
        return (size_t)snprintf(buf, size, "%lld", (long long)p->cpu_quota[s->arg].value);
    case VMSEC__K_NUMA_MODE: return fmt_text(buf, size, vmsec__numa_mode_names[p->numa_mode.value]);
    case VMSEC__K_NUMA_NODESET: return vmsec__cpuset_format(&p->numa_nodeset.value, buf, size);
    case VMSEC__K_MEMLIMIT:
        u = p->memory_limit[s->arg].value;
        return fmt_text(buf, size, u == VMSEC_PROFILE_UNLIMITED ? "unlimited" : vmsec__size_format(u, t));
    case VMSEC__K_LOCKED: return fmt_text(buf, size, p->memory_locked.value ? "yes" : "no");
    case VMSEC__K_HUGE_SIZE:
        u = p->hugepage_size.value;
        return fmt_text(buf, size, u == VMSEC__HUGEPAGE_DEFAULT ? "default" : vmsec__size_format(u, t));
    case VMSEC__K_HUGE_NODESET: return vmsec__cpuset_format(&p->hugepage_nodeset.value, buf, size);
    case VMSEC__K_NOSHARE: return fmt_text(buf, size, p->nosharepages.value ? "yes" : "no");
    case VMSEC__K_BLKIO_WEIGHT: return fmt_u64(buf, size, p->blkio_weight.value);
    case VMSEC__K_INTENT: return fmt_text(buf, size, vmsec__intent_values[s->arg][p->intent[s->arg].value]);
    case VMSEC__K_HOST_RESERVED: return vmsec__cpuset_format(&p->host_reserved.value, buf, size);
    case VMSEC__K_DEV_PATH:
    case VMSEC__K_DEV_FIELD:
        d = vmsec__device_by_label(p, s->id);
        return vmsec__device_format(d, s->kind == VMSEC__K_DEV_PATH ? -1 : s->arg, buf, size);
    }
    return 0;
}
