/* SPDX-License-Identifier: ISC */
/* Isolation profile model: the names of its settings, error reporting, key resolution, where
 * values live (pin arrays, block devices), and which settings are set. Values themselves are
 * parsed, validated and formatted in profile_value.c. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "isolation/profile_keys.h"

const char *const vmsec__cpu_scope_names[VMSEC__CPU_SCOPES] = {"vcpu", "emulator", "iothread", "global"};
const char *const vmsec__numa_mode_names[4] = {"strict", "preferred", "interleave", "restrictive"};
const char *const vmsec__memory_limit_keys[VMSEC__MEM_LIMITS] = {
    "memory.hard_limit", "memory.soft_limit", "memory.swap_hard_limit"};
static const char *const placement_values[] = {"dedicated", NULL};
static const char *const thread_policy_values[] = {"isolate", "prefer", "require", NULL};
static const char *const emulator_values[] = {"share", "dedicated", NULL};
static const char *const numa_fit_values[] = {"node", "spread", NULL};
const char *const vmsec__intent_keys[VMSEC__INTENTS] = {"cpu.placement", "cpu.thread_policy", "cpu.emulator", "numa.fit"};
const char *const *const vmsec__intent_values[VMSEC__INTENTS] = {placement_values, thread_policy_values, emulator_values,
                                                                 numa_fit_values};
const char *const vmsec__blkio_field_names[VMSEC__BLKIO_FIELDS] = {
    "weight", "read_bytes_sec", "write_bytes_sec", "read_iops_sec", "write_iops_sec"};

/* ---- errors ------------------------------------------------------------------------------ */

char *vmsec__profile_where(const struct vmsec_profile *p, unsigned int line, char *buf, size_t size)
{
    const char *source = p && p->source ? p->source : "<api>";
    if (line)
        snprintf(buf, size, "profile %s:%u", source, line);
    else
        snprintf(buf, size, "profile %s", source);
    return buf;
}

int vmsec__profile_error(int code, const struct vmsec_profile *p, unsigned int line, const char *key,
                         const char *fmt, ...)
{
    char why[VMSEC__WHY_MAX * 2];
    char where[1024]; /* as long as any error message */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return vmsec__error(code, "%s: %s%s%s", vmsec__profile_where(p, line, where, sizeof(where)), key ? key : "",
                        key ? ": " : "", why);
}

void vmsec__diag_init(struct vmsec__diag *d, const char *source)
{
    d->source = source ? source : "<api>";
    d->count = 0;
}

void vmsec__diag_add(struct vmsec__diag *d, unsigned int line, const char *key, const char *fmt, ...)
{
    char why[VMSEC__WHY_MAX];
    va_list ap;
    unsigned int i = d->count < VMSEC__MAX_ERRORS ? d->count : VMSEC__MAX_ERRORS - 1;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    d->count++;
    if (d->count > VMSEC__MAX_ERRORS)
        return; /* counted, reported as "N more" */
    d->e[i].line = line;
    snprintf(d->e[i].msg, sizeof(d->e[i].msg), "%s%s%s", key ? key : "", key ? ": " : "", why);
}

int vmsec__diag_report(struct vmsec__diag *d, int code)
{
    char out[1024];
    size_t n = 0, kept = d->count < VMSEC__MAX_ERRORS ? d->count : VMSEC__MAX_ERRORS;
    unsigned int shown = 0;
    /* Stable insertion sort by line: errors found later on an earlier line come first. */
    for (size_t i = 1; i < kept; i++)
        for (size_t j = i; j > 0 && d->e[j - 1].line > d->e[j].line; j--) {
            struct vmsec__diag_entry t = d->e[j];
            d->e[j] = d->e[j - 1];
            d->e[j - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0; i < kept; i++) {
        char where[16] = "", one[sizeof(d->e[0].msg) + 64];
        int k;
        if (d->e[i].line)
            snprintf(where, sizeof(where), ":%u", d->e[i].line);
        k = snprintf(one, sizeof(one), "%sprofile %s%s: %s", i ? "\n" : "", d->source, where, d->e[i].msg);
        if (k < 0 || n + (size_t)k + 40 >= sizeof(out)) {
            if (i == 0) { /* the first error is always reported, truncated if it must be */
                snprintf(out, sizeof(out), "%s", one);
                shown = 1;
            }
            break;
        }
        memcpy(out + n, one, (size_t)k + 1);
        n += (size_t)k;
        shown++;
    }
    if (d->count > shown)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "\n(%u more errors)", d->count - shown);
    return vmsec__error(code, "%s", out);
}

/* ---- keys -------------------------------------------------------------------------------- */

static const struct {
    const char *key;
    enum vmsec__kind kind;
    int arg;
} fixed_keys[] = {
    {"name", VMSEC__K_NAME, 0},
    {"vcpus", VMSEC__K_VCPUS, 0},
    {"iothreads", VMSEC__K_IOTHREADS, 0},
    {"emulator.pin", VMSEC__K_EMULATOR_PIN, 0},
    {"cpu.shares", VMSEC__K_SHARES, 0},
    {"cpu.vcpu_period", VMSEC__K_PERIOD, VMSEC_CPU_SCOPE_VCPU},
    {"cpu.vcpu_quota", VMSEC__K_QUOTA, VMSEC_CPU_SCOPE_VCPU},
    {"cpu.emulator_period", VMSEC__K_PERIOD, VMSEC_CPU_SCOPE_EMULATOR},
    {"cpu.emulator_quota", VMSEC__K_QUOTA, VMSEC_CPU_SCOPE_EMULATOR},
    {"cpu.iothread_period", VMSEC__K_PERIOD, VMSEC_CPU_SCOPE_IOTHREAD},
    {"cpu.iothread_quota", VMSEC__K_QUOTA, VMSEC_CPU_SCOPE_IOTHREAD},
    {"cpu.global_period", VMSEC__K_PERIOD, VMSEC_CPU_SCOPE_GLOBAL},
    {"cpu.global_quota", VMSEC__K_QUOTA, VMSEC_CPU_SCOPE_GLOBAL},
    {"numa.mode", VMSEC__K_NUMA_MODE, 0},
    {"numa.nodeset", VMSEC__K_NUMA_NODESET, 0},
    {"memory.hard_limit", VMSEC__K_MEMLIMIT, VMSEC_MEMORY_HARD_LIMIT},
    {"memory.soft_limit", VMSEC__K_MEMLIMIT, VMSEC_MEMORY_SOFT_LIMIT},
    {"memory.swap_hard_limit", VMSEC__K_MEMLIMIT, VMSEC_MEMORY_SWAP_HARD_LIMIT},
    {"memory.locked", VMSEC__K_LOCKED, 0},
    {"memory.hugepages.size", VMSEC__K_HUGE_SIZE, 0},
    {"memory.hugepages.nodeset", VMSEC__K_HUGE_NODESET, 0},
    {"memory.nosharepages", VMSEC__K_NOSHARE, 0},
    {"blkio.weight", VMSEC__K_BLKIO_WEIGHT, 0},
    {"cpu.placement", VMSEC__K_INTENT, VMSEC__INTENT_PLACEMENT},
    {"cpu.thread_policy", VMSEC__K_INTENT, VMSEC__INTENT_THREAD_POLICY},
    {"cpu.emulator", VMSEC__K_INTENT, VMSEC__INTENT_EMULATOR},
    {"numa.fit", VMSEC__K_INTENT, VMSEC__INTENT_NUMA_FIT},
    {"host.reserved_cpus", VMSEC__K_HOST_RESERVED, 0},
};

static bool has_prefix(const char *s, size_t len, const char *prefix, size_t *plen)
{
    *plen = strlen(prefix);
    return len >= *plen && memcmp(s, prefix, *plen) == 0;
}

/* Reads the number in "<prefix>N<rest>"; canonical decimal only (no sign, no leading zero). */
static int key_number(const char *s, size_t len, size_t *pos, unsigned long *out)
{
    size_t i = *pos;
    unsigned long v = 0;
    if (i >= len || s[i] < '0' || s[i] > '9' || (s[i] == '0' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9'))
        return -1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (i - *pos >= 9)
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    *pos = i;
    *out = v;
    return 0;
}

static int resolve_indexed(struct vmsec__slot *s, const char *key, size_t len, char *why, size_t whylen)
{
    size_t pl, pos;
    unsigned long n;
    if (has_prefix(key, len, "vcpu.", &pl) || has_prefix(key, len, "iothread.", &pl)) {
        bool vcpu = key[0] == 'v';
        pos = pl;
        if (key_number(key, len, &pos, &n) < 0 || len - pos != 4 || memcmp(key + pos, ".pin", 4) != 0)
            return -1;
        if (vcpu && n >= VMSEC__MAX_IDS) {
            snprintf(why, whylen, "vCPU number %lu is above the maximum %u", n, VMSEC__MAX_IDS - 1);
            return -2;
        }
        if (!vcpu && (n < 1 || n > VMSEC__MAX_IDS)) {
            snprintf(why, whylen, "iothread id %lu is out of range 1..%u", n, VMSEC__MAX_IDS);
            return -2;
        }
        s->kind = vcpu ? VMSEC__K_VCPU_PIN : VMSEC__K_IOTHREAD_PIN;
        s->id = (unsigned int)n;
        return 0;
    }
    if (has_prefix(key, len, "blkio.device.", &pl)) {
        pos = pl;
        if (key_number(key, len, &pos, &n) < 0 || pos >= len || key[pos] != '.')
            return -1;
        pos++;
        if (len - pos == 4 && memcmp(key + pos, "path", 4) == 0) {
            s->kind = VMSEC__K_DEV_PATH;
        } else {
            int f = -1;
            for (int i = 0; i < VMSEC__BLKIO_FIELDS; i++)
                if (strlen(vmsec__blkio_field_names[i]) == len - pos &&
                    memcmp(key + pos, vmsec__blkio_field_names[i], len - pos) == 0)
                    f = i;
            if (f < 0)
                return -1;
            s->kind = VMSEC__K_DEV_FIELD;
            s->arg = f;
        }
        if (n >= VMSEC__BLKIO_MAX_DEVICES) {
            snprintf(why, whylen, "device number %lu is above the maximum %u", n, VMSEC__BLKIO_MAX_DEVICES - 1);
            return -2;
        }
        s->id = (unsigned int)n;
        return 0;
    }
    return -1;
}

int vmsec__slot_resolve(struct vmsec__slot *s, const char *key, size_t len, char *why, size_t whylen)
{
    int r;
    memset(s, 0, sizeof(*s));
    if (len == 0 || len > VMSEC__KEY_MAX)
        return -1;
    for (size_t i = 0; i < VMSEC_ARRAY_LEN(fixed_keys); i++)
        if (strlen(fixed_keys[i].key) == len && memcmp(fixed_keys[i].key, key, len) == 0) {
            s->kind = fixed_keys[i].kind;
            s->arg = fixed_keys[i].arg;
            memcpy(s->key, key, len);
            return 0;
        }
    r = resolve_indexed(s, key, len, why, whylen);
    if (r == 0)
        memcpy(s->key, key, len);
    return r;
}

/* ---- did you mean ------------------------------------------------------------------------ */

/* Edit distance with adjacent transpositions (optimal string alignment), capped: a result above
 * cap means "too far", which is all the caller needs. */
static size_t key_distance(const char *a, size_t la, const char *b, size_t lb, size_t cap)
{
    size_t d[VMSEC__KEY_MAX + 2][VMSEC__KEY_MAX + 2];
    if (la > VMSEC__KEY_MAX || lb > VMSEC__KEY_MAX || (la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* The key as a template: lower case, each run of digits "N" (the first run is kept in num). */
static size_t key_template(const char *key, size_t len, char *out, char *num, size_t numcap)
{
    size_t o = 0;
    num[0] = '\0';
    for (size_t i = 0; i < len && o < VMSEC__KEY_MAX;) {
        if (key[i] >= '0' && key[i] <= '9') {
            size_t j = i;
            while (j < len && key[j] >= '0' && key[j] <= '9')
                j++;
            if (!num[0] && j - i < numcap) {
                size_t z = i;
                while (z + 1 < j && key[z] == '0') /* canonical: "01" is read as 1 */
                    z++;
                memcpy(num, key + z, j - z);
                num[j - z] = '\0';
            }
            out[o++] = 'N';
            i = j;
        } else {
            char c = key[i++];
            out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; /* keys are lower case */
        }
    }
    out[o] = '\0';
    return o;
}

int vmsec__profile_key_suggest(const char *key, size_t len, char *out, size_t cap)
{
    char tmpl[VMSEC__KEY_MAX + 1], num[16], cand[VMSEC__KEY_MAX + 1], best[VMSEC__KEY_MAX + 1] = "";
    size_t tl, limit, best_d;
    if (len == 0 || len > VMSEC__KEY_MAX)
        return 0;
    tl = key_template(key, len, tmpl, num, sizeof(num));
    limit = tl < 6 ? 1 : tl < 12 ? 2 : 3; /* a few slips, never a different word */
    best_d = limit + 1;
    for (size_t i = 0; i < VMSEC_ARRAY_LEN(fixed_keys) + 3 + VMSEC__BLKIO_FIELDS; i++) {
        size_t d;
        if (i < VMSEC_ARRAY_LEN(fixed_keys))
            snprintf(cand, sizeof(cand), "%s", fixed_keys[i].key);
        else if (i == VMSEC_ARRAY_LEN(fixed_keys))
            snprintf(cand, sizeof(cand), "vcpu.N.pin");
        else if (i == VMSEC_ARRAY_LEN(fixed_keys) + 1)
            snprintf(cand, sizeof(cand), "iothread.N.pin");
        else if (i == VMSEC_ARRAY_LEN(fixed_keys) + 2)
            snprintf(cand, sizeof(cand), "blkio.device.N.path");
        else
            snprintf(cand, sizeof(cand), "blkio.device.N.%s",
                     vmsec__blkio_field_names[i - VMSEC_ARRAY_LEN(fixed_keys) - 3]);
        d = key_distance(tmpl, tl, cand, strlen(cand), limit);
        if (d < best_d) {
            best_d = d;
            memcpy(best, cand, sizeof(best));
        }
    }
    if (!best[0] || cap == 0)
        return 0;
    /* back from the template: the user's number where the key has one */
    {
        char *n = strchr(best, 'N');
        if (n && num[0])
            snprintf(out, cap, "%.*s%s%s", (int)(n - best), best, num, n + 1);
        else
            snprintf(out, cap, "%s", best);
    }
    return strlen(out) != len || memcmp(out, key, len) != 0; /* never "did you mean" the same */
}

/* ---- pins and devices -------------------------------------------------------------------- */

static struct vmsec__pin *pin_find(struct vmsec__pin *pins, size_t n, unsigned int id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pins[mid].id == id)
            return &pins[mid];
        if (pins[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Makes room for one more pin. Capacity is implicit (the next power of two at or above n), so
 * appending n pins costs O(n) copies in total. */
static int pin_grow(struct vmsec__pin **pins, size_t n)
{
    struct vmsec__pin *grown;
    if (n != 0 && (n & (n - 1)) != 0)
        return 0;
    grown = realloc(*pins, (n ? 2 * n : 1) * sizeof(**pins));
    if (!grown)
        return VMSEC_ENOMEM;
    *pins = grown;
    return 0;
}

int vmsec__pin_append(struct vmsec__pin **pins, size_t *n, unsigned int id, const vmsec_cpuset *cpus,
                      unsigned int line)
{
    if (pin_grow(pins, *n) < 0)
        return VMSEC_ENOMEM;
    (*pins)[*n].id = id;
    (*pins)[*n].line = line;
    (*pins)[*n].cpus = *cpus;
    (*n)++;
    return 0;
}

static int pin_cmp(const void *a, const void *b)
{
    unsigned int x = ((const struct vmsec__pin *)a)->id, y = ((const struct vmsec__pin *)b)->id;
    return x < y ? -1 : x > y;
}

void vmsec__pins_sort(struct vmsec__pin *pins, size_t n)
{
    if (n > 1)
        qsort(pins, n, sizeof(*pins), pin_cmp);
}

/* Inserts or replaces, keeping the array sorted by id. */
int vmsec__pin_put(struct vmsec__pin **pins, size_t *n, unsigned int id, const vmsec_cpuset *cpus, unsigned int line)
{
    struct vmsec__pin *found = pin_find(*pins, *n, id);
    size_t at;
    if (found) {
        found->cpus = *cpus;
        found->line = line;
        return 0;
    }
    if (vmsec__pin_append(pins, n, id, cpus, line) < 0)
        return VMSEC_ENOMEM;
    at = *n - 1;
    if (at > 0 && (*pins)[at - 1].id > id) { /* out of order: move it into place */
        struct vmsec__pin tmp = (*pins)[at];
        size_t to = 0;
        while ((*pins)[to].id < id)
            to++;
        memmove(*pins + to + 1, *pins + to, (at - to) * sizeof(**pins));
        (*pins)[to] = tmp;
    }
    return 0;
}

static void pin_del(struct vmsec__pin *pins, size_t *n, unsigned int id)
{
    struct vmsec__pin *found = pin_find(pins, *n, id);
    if (found) {
        size_t at = (size_t)(found - pins);
        memmove(pins + at, pins + at + 1, (*n - at - 1) * sizeof(*pins));
        (*n)--;
    }
}

const struct vmsec__pin *vmsec__profile_vcpu_pin(const struct vmsec_profile *p, unsigned int vcpu)
{
    return pin_find(p->vcpu_pins, p->n_vcpu_pins, vcpu);
}

const struct vmsec__pin *vmsec__profile_iothread_pin(const struct vmsec_profile *p, unsigned int id)
{
    return pin_find(p->iothread_pins, p->n_iothread_pins, id);
}

struct vmsec__blkio_device *vmsec__device_by_label(const struct vmsec_profile *p, unsigned int label)
{
    for (size_t i = 0; i < p->n_blkio_devices; i++)
        if (p->blkio_devices[i].label == label)
            return &p->blkio_devices[i];
    return NULL;
}

const struct vmsec__blkio_device *vmsec__profile_blkio_device(const struct vmsec_profile *p, const char *path)
{
    for (size_t i = 0; i < p->n_blkio_devices; i++)
        if (p->blkio_devices[i].path && strcmp(p->blkio_devices[i].path, path) == 0)
            return &p->blkio_devices[i];
    return NULL;
}

struct vmsec__blkio_device *vmsec__device_add(struct vmsec_profile *p, unsigned int label)
{
    struct vmsec__blkio_device *grown;
    if (p->n_blkio_devices >= VMSEC__BLKIO_MAX_DEVICES)
        return NULL;
    grown = realloc(p->blkio_devices, (p->n_blkio_devices + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    p->blkio_devices = grown;
    grown += p->n_blkio_devices++;
    memset(grown, 0, sizeof(*grown));
    grown->label = label;
    return grown;
}

/* Removes a device that no longer holds anything. */
static void dev_gc(struct vmsec_profile *p, struct vmsec__blkio_device *d)
{
    size_t at = (size_t)(d - p->blkio_devices);
    if (d->path)
        return;
    for (int f = 0; f < VMSEC__BLKIO_FIELDS; f++)
        if (d->field[f].set)
            return;
    memmove(d, d + 1, (p->n_blkio_devices - at - 1) * sizeof(*d));
    p->n_blkio_devices--;
}

/* ---- slots set or not -------------------------------------------------------------------- */

bool vmsec__slot_is_set(const struct vmsec_profile *p, const struct vmsec__slot *s, unsigned int *line)
{
    const struct vmsec__pin *pin;
    const struct vmsec__blkio_device *d;
    bool set = false;
    unsigned int l = 0;
#define TAKE(f) (set = (f).set, l = (f).line)
    switch (s->kind) {
    case VMSEC__K_NAME: TAKE(p->name); break;
    case VMSEC__K_VCPUS: TAKE(p->vcpus); break;
    case VMSEC__K_IOTHREADS: TAKE(p->iothreads); break;
    case VMSEC__K_VCPU_PIN:
    case VMSEC__K_IOTHREAD_PIN:
        pin = s->kind == VMSEC__K_VCPU_PIN ? vmsec__profile_vcpu_pin(p, s->id) : vmsec__profile_iothread_pin(p, s->id);
        if (pin)
            set = true, l = pin->line;
        break;
    case VMSEC__K_EMULATOR_PIN: TAKE(p->emulator_pin); break;
    case VMSEC__K_SHARES: TAKE(p->cpu_shares); break;
    case VMSEC__K_PERIOD: TAKE(p->cpu_period[s->arg]); break;
    case VMSEC__K_QUOTA: TAKE(p->cpu_quota[s->arg]); break;
    case VMSEC__K_NUMA_MODE: TAKE(p->numa_mode); break;
    case VMSEC__K_NUMA_NODESET: TAKE(p->numa_nodeset); break;
    case VMSEC__K_MEMLIMIT: TAKE(p->memory_limit[s->arg]); break;
    case VMSEC__K_LOCKED: TAKE(p->memory_locked); break;
    case VMSEC__K_HUGE_SIZE: TAKE(p->hugepage_size); break;
    case VMSEC__K_HUGE_NODESET: TAKE(p->hugepage_nodeset); break;
    case VMSEC__K_NOSHARE: TAKE(p->nosharepages); break;
    case VMSEC__K_BLKIO_WEIGHT: TAKE(p->blkio_weight); break;
    case VMSEC__K_INTENT: TAKE(p->intent[s->arg]); break;
    case VMSEC__K_HOST_RESERVED: TAKE(p->host_reserved); break;
    case VMSEC__K_DEV_PATH:
        if ((d = vmsec__device_by_label(p, s->id)) && d->path)
            set = true, l = d->path_line;
        break;
    case VMSEC__K_DEV_FIELD:
        if ((d = vmsec__device_by_label(p, s->id)))
            TAKE(d->field[s->arg]);
        break;
    }
#undef TAKE
    if (line)
        *line = l;
    return set;
}

void vmsec__slot_unset(struct vmsec_profile *p, const struct vmsec__slot *s)
{
    struct vmsec__blkio_device *d;
    switch (s->kind) {
    case VMSEC__K_NAME: memset(&p->name, 0, sizeof(p->name)); break;
    case VMSEC__K_VCPUS: p->vcpus.set = false; break;
    case VMSEC__K_IOTHREADS: p->iothreads.set = false; break;
    case VMSEC__K_VCPU_PIN: pin_del(p->vcpu_pins, &p->n_vcpu_pins, s->id); break;
    case VMSEC__K_IOTHREAD_PIN: pin_del(p->iothread_pins, &p->n_iothread_pins, s->id); break;
    case VMSEC__K_EMULATOR_PIN: p->emulator_pin.set = false; break;
    case VMSEC__K_SHARES: p->cpu_shares.set = false; break;
    case VMSEC__K_PERIOD: p->cpu_period[s->arg].set = false; break;
    case VMSEC__K_QUOTA: p->cpu_quota[s->arg].set = false; break;
    case VMSEC__K_NUMA_MODE: p->numa_mode.set = false; break;
    case VMSEC__K_NUMA_NODESET: p->numa_nodeset.set = false; break;
    case VMSEC__K_MEMLIMIT: p->memory_limit[s->arg].set = false; break;
    case VMSEC__K_LOCKED: p->memory_locked.set = false; break;
    case VMSEC__K_HUGE_SIZE: p->hugepage_size.set = false; break;
    case VMSEC__K_HUGE_NODESET: p->hugepage_nodeset.set = false; break;
    case VMSEC__K_NOSHARE: p->nosharepages.set = false; break;
    case VMSEC__K_BLKIO_WEIGHT: p->blkio_weight.set = false; break;
    case VMSEC__K_INTENT: p->intent[s->arg].set = false; break;
    case VMSEC__K_HOST_RESERVED: p->host_reserved.set = false; break;
    case VMSEC__K_DEV_PATH:
    case VMSEC__K_DEV_FIELD:
        if (!(d = vmsec__device_by_label(p, s->id)))
            break;
        if (s->kind == VMSEC__K_DEV_PATH) {
            free(d->path);
            d->path = NULL;
        } else {
            d->field[s->arg].set = false;
        }
        dev_gc(p, d);
        break;
    }
}
