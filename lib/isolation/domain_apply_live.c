/* SPDX-License-Identifier: ISC */
/* Applying a profile to the running domain: the vCPU, emulator and I/O thread pins, then the
 * scheduler, memory, NUMA and block I/O typed parameters, one setting at a time, each change a
 * step that records the value to set back (see domain_apply.c for the steps and their undoing). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "isolation/domain_apply.h"

static void cpuset_text(const vmsec_cpuset *s, char *buf, size_t size)
{
    vmsec__cpuset_format(s, buf, size);
}

/* True if the last libvirt error is a driver refusing the flags (the test driver takes only 0,
 * which on a running domain means live). */
static bool unsupported_flags(void)
{
    const char *m = virGetLastErrorMessage();
    return virGetLastErrorCode() == VIR_ERR_INVALID_ARG && m && strstr(m, "unsupported flags");
}

/* ---- pins ---------------------------------------------------------------------------------------- */

/* Pins a vCPU live. The test driver takes only flags 0 (= live on a running domain). */
int vmsec__apply_pin_vcpu(struct apply *a, unsigned int vcpu, const vmsec_cpuset *set)
{
    unsigned char map[VMSEC_CPUSET_MAX / 8];
    if (vmsec__cpuset_to_cpumap(set, map, (size_t)a->maplen) < 0)
        return -1;
    if (virDomainPinVcpuFlags(a->d->dom, vcpu, map, a->maplen, VIR_DOMAIN_AFFECT_LIVE) == 0)
        return 0;
    if (!unsupported_flags())
        return -1;
    return virDomainPinVcpuFlags(a->d->dom, vcpu, map, a->maplen, 0);
}

static int get_vcpu_pins(struct apply *a, unsigned char *maps, int nvcpus)
{
    int n = virDomainGetVcpuPinInfo(a->d->dom, nvcpus, maps, a->maplen, VIR_DOMAIN_AFFECT_LIVE);
    if (n < 0 && unsupported_flags())
        n = virDomainGetVcpuPinInfo(a->d->dom, nvcpus, maps, a->maplen, 0);
    return n;
}

static int apply_vcpu_pins(struct apply *a)
{
    static _Thread_local char now[VMSEC_CPUSET_TEXT_MAX], old[VMSEC_CPUSET_TEXT_MAX];
    unsigned char *maps;
    int nvcpus, rc = 0;

    if (!a->p->n_vcpu_pins)
        return 0;
    nvcpus = virDomainGetVcpusFlags(a->d->dom, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_VCPU_MAXIMUM);
    if (nvcpus <= 0)
        nvcpus = virDomainGetMaxVcpus(a->d->dom);
    if (nvcpus <= 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its vCPU count", a->d->name);
    if (!(maps = calloc((size_t)nvcpus, (size_t)a->maplen)))
        return vmsec__error(VMSEC_ENOMEM, "out of memory reading vCPU pins");
    if (get_vcpu_pins(a, maps, nvcpus) < 0) {
        free(maps);
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its vCPU pins", a->d->name);
    }
    for (size_t i = 0; i < a->p->n_vcpu_pins && rc == 0; i++) {
        const struct vmsec__pin *pin = &a->p->vcpu_pins[i];
        char setting[48];
        struct step *s = vmsec__apply_push(a, ST_VCPU_PIN);
        if (!s) {
            rc = VMSEC_ENOMEM;
            break;
        }
        snprintf(setting, sizeof(setting), "vcpu.%u.pin", pin->id);
        s->id = pin->id;
        vmsec__cpuset_from_cpumap(&s->old_set, maps + (size_t)pin->id * (size_t)a->maplen, (size_t)a->maplen);
        cpuset_text(&pin->cpus, now, sizeof(now));
        cpuset_text(&s->old_set, old, sizeof(old));
        if (vmsec__apply_pin_vcpu(a, pin->id, &pin->cpus) < 0)
            rc = vmsec__apply_step_failed(a, setting, now, old);
        else
            rc = vmsec__report_add(a->r, VMSEC_STATUS_APPLIED, setting, now, old, "libvirt", "live");
    }
    free(maps);
    return rc;
}

static int apply_emulator_pin(struct apply *a)
{
    static _Thread_local char now[VMSEC_CPUSET_TEXT_MAX], old[VMSEC_CPUSET_TEXT_MAX];
    unsigned char map[VMSEC_CPUSET_MAX / 8] = { 0 };
    struct step *s;

    if (!a->p->emulator_pin.set)
        return 0;
    if (virDomainGetEmulatorPinInfo(a->d->dom, map, a->maplen, VIR_DOMAIN_AFFECT_LIVE) < 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its emulator pin", a->d->name);
    if (!(s = vmsec__apply_push(a, ST_EMU_PIN)))
        return VMSEC_ENOMEM;
    vmsec__cpuset_from_cpumap(&s->old_set, map, (size_t)a->maplen);
    cpuset_text(&a->p->emulator_pin.value, now, sizeof(now));
    cpuset_text(&s->old_set, old, sizeof(old));
    if (vmsec__cpuset_to_cpumap(&a->p->emulator_pin.value, map, (size_t)a->maplen) < 0 ||
        virDomainPinEmulator(a->d->dom, map, a->maplen, VIR_DOMAIN_AFFECT_LIVE) < 0)
        return vmsec__apply_step_failed(a, "emulator.pin", now, old);
    return vmsec__report_add(a->r, VMSEC_STATUS_APPLIED, "emulator.pin", now, old, "libvirt", "live");
}

static int apply_iothread_pins(struct apply *a)
{
    static _Thread_local char now[VMSEC_CPUSET_TEXT_MAX], old[VMSEC_CPUSET_TEXT_MAX];
    virDomainIOThreadInfoPtr *info = NULL;
    int n, rc = 0;

    if (!a->p->n_iothread_pins)
        return 0;
    if ((n = virDomainGetIOThreadInfo(a->d->dom, &info, VIR_DOMAIN_AFFECT_LIVE)) < 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its I/O threads", a->d->name);
    for (size_t i = 0; i < a->p->n_iothread_pins && rc == 0; i++) {
        const struct vmsec__pin *pin = &a->p->iothread_pins[i];
        unsigned char map[VMSEC_CPUSET_MAX / 8] = { 0 };
        char setting[48];
        struct step *s;
        int k;

        snprintf(setting, sizeof(setting), "iothread.%u.pin", pin->id);
        for (k = 0; k < n && info[k]->iothread_id != pin->id; k++)
            ;
        if (k == n) {
            rc = vmsec__error(VMSEC_EFORMAT, "domain %s has no I/O thread %u (%s)", a->d->name, pin->id, setting);
            break;
        }
        if (!(s = vmsec__apply_push(a, ST_IO_PIN))) {
            rc = VMSEC_ENOMEM;
            break;
        }
        s->id = pin->id;
        vmsec__cpuset_from_cpumap(&s->old_set, info[k]->cpumap, (size_t)info[k]->cpumaplen);
        cpuset_text(&pin->cpus, now, sizeof(now));
        cpuset_text(&s->old_set, old, sizeof(old));
        if (vmsec__cpuset_to_cpumap(&pin->cpus, map, (size_t)a->maplen) < 0 ||
            virDomainPinIOThread(a->d->dom, pin->id, map, a->maplen, VIR_DOMAIN_AFFECT_LIVE) < 0)
            rc = vmsec__apply_step_failed(a, setting, now, old);
        else
            rc = vmsec__report_add(a->r, VMSEC_STATUS_APPLIED, setting, now, old, "libvirt", "live");
    }
    for (int k = 0; k < n; k++)
        virDomainIOThreadInfoFree(info[k]);
    free(info);
    return rc;
}

/* ---- typed parameters ------------------------------------------------------------------------------ */

static int fetch_libvirt_group(struct apply *a, int g)
{
    virDomainPtr dom = a->d->dom;
    unsigned int f = VIR_DOMAIN_AFFECT_LIVE;
    int n = 0, n0, rc;
    virTypedParameterPtr params;

    if (a->cur[g])
        return 0;
    switch (g) {
    case PG_SCHED: {
        char *type = virDomainGetSchedulerType(dom, &n);
        free(type);
        rc = type ? 0 : -1;
        break;
    }
    case PG_MEMORY: rc = virDomainGetMemoryParameters(dom, NULL, &n, f); break;
    case PG_NUMA: rc = virDomainGetNumaParameters(dom, NULL, &n, f); break;
    default: rc = virDomainGetBlkioParameters(dom, NULL, &n, f); break;
    }
    if (rc < 0)
        return -1;
    if (!(params = calloc((size_t)n + 1, sizeof(*params)))) {
        vmsec__error(VMSEC_ENOMEM, "out of memory reading domain parameters");
        return -2;
    }
    n0 = n;
    switch (g) {
    case PG_SCHED: rc = virDomainGetSchedulerParametersFlags(dom, params, &n, f); break;
    case PG_MEMORY: rc = virDomainGetMemoryParameters(dom, params, &n, f); break;
    case PG_NUMA: rc = virDomainGetNumaParameters(dom, params, &n, f); break;
    default: rc = virDomainGetBlkioParameters(dom, params, &n, f); break;
    }
    if (rc < 0 && unsupported_flags()) { /* drivers without AFFECT_LIVE here: 0 is live when running */
        n = n0;
        switch (g) {
        case PG_SCHED: rc = virDomainGetSchedulerParameters(dom, params, &n); break;
        case PG_MEMORY: rc = virDomainGetMemoryParameters(dom, params, &n, 0); break;
        case PG_NUMA: rc = virDomainGetNumaParameters(dom, params, &n, 0); break;
        default: rc = virDomainGetBlkioParameters(dom, params, &n, 0); break;
        }
    }
    if (rc < 0) {
        free(params);
        return -1;
    }
    a->cur[g] = params;
    a->n_cur[g] = n;
    return 0;
}

/* A host without bfq or cfq has no blkio weights, and libvirt then reads no blkio parameter at
 * all; unless the profile asks for a weight (which such a host cannot give), the device values
 * to restore come from the live XML (domain_blkio.c). */
static int fetch_group(struct apply *a, int g)
{
    int rc = fetch_libvirt_group(a, g);
    if (rc == -1 && g == PG_BLKIO && !a->p->blkio_weight.set && a->p->n_blkio_devices) {
        virErrorPtr first = virSaveLastError();
        if (vmsec__blkio_params_from_xml(a->d, &a->cur[g], &a->n_cur[g]) == 0) {
            rc = 0;
        } else {
            char why[512];
            snprintf(why, sizeof(why), "%s", vmsec_error_last());
            vmsec__error(VMSEC_ELIBVIRT, "domain %s: cannot read its current tuning: %s (nor from its live XML: %s)",
                         a->d->name, first && first->message ? first->message : "unknown libvirt error", why);
            rc = -3; /* recorded */
        }
        virFreeError(first);
    }
    return rc;
}

static int set_params_flags(struct vmsec_domain *d, int g, virTypedParameterPtr params, int n, unsigned int f)
{
    switch (g) {
    case PG_SCHED: return virDomainSetSchedulerParametersFlags(d->dom, params, n, f);
    case PG_MEMORY: return virDomainSetMemoryParameters(d->dom, params, n, f);
    case PG_NUMA: return virDomainSetNumaParameters(d->dom, params, n, f);
    default: return virDomainSetBlkioParameters(d->dom, params, n, f);
    }
}

int vmsec__apply_set_params(struct vmsec_domain *d, int g, virTypedParameterPtr params, int n)
{
    if (set_params_flags(d, g, params, n, VIR_DOMAIN_AFFECT_LIVE) == 0)
        return 0;
    return unsupported_flags() ? set_params_flags(d, g, params, n, 0) : -1;
}

static void param_text(const virTypedParameter *p, char *buf, size_t size)
{
    switch (p ? p->type : 0) {
    case VIR_TYPED_PARAM_INT: snprintf(buf, size, "%d", p->value.i); break;
    case VIR_TYPED_PARAM_UINT: snprintf(buf, size, "%u", p->value.ui); break;
    case VIR_TYPED_PARAM_LLONG: snprintf(buf, size, "%lld", p->value.l); break;
    case VIR_TYPED_PARAM_ULLONG: snprintf(buf, size, "%llu", p->value.ul); break;
    case VIR_TYPED_PARAM_STRING: snprintf(buf, size, "%s", p->value.s ? p->value.s : ""); break;
    default: snprintf(buf, size, "(none)"); break;
    }
}

static const virTypedParameter *find_param(const struct apply *a, int g, const char *field)
{
    for (int i = 0; i < a->n_cur[g]; i++)
        if (strcmp(a->cur[g][i].field, field) == 0)
            return &a->cur[g][i];
    return NULL;
}

static void copy_param(virTypedParameterPtr dst, const virTypedParameter *src)
{
    *dst = *src;
    if (src->type == VIR_TYPED_PARAM_STRING)
        dst->value.s = strdup(src->value.s ? src->value.s : "");
}

/* One live typed-parameter change as its own undoable step. */
static int param_step(struct apply *a, int g, const char *setting, virTypedParameterPtr np, const char *now,
                      const virTypedParameter *old_override)
{
    char old[256];
    const virTypedParameter *cur = old_override ? old_override : find_param(a, g, np->field);
    struct step *s = vmsec__apply_push(a, ST_PARAM);
    if (!s)
        return VMSEC_ENOMEM;
    s->group = g;
    param_text(cur, old, sizeof(old));
    if (cur) {
        if (!(s->old = calloc(1, sizeof(*s->old))))
            return vmsec__error(VMSEC_ENOMEM, "out of memory applying a profile");
        copy_param(s->old, cur);
        snprintf(s->old->field, sizeof(s->old->field), "%s", np->field);
        s->n_old = 1;
    }
    if (vmsec__apply_set_params(a->d, g, np, 1) < 0)
        return vmsec__apply_step_failed(a, setting, now, old);
    return vmsec__report_add(a->r, VMSEC_STATUS_APPLIED, setting, now, old, "libvirt", "live");
}

static int apply_sched(struct apply *a)
{
    static const char *const period_param[] = { "vcpu_period", "emulator_period", "iothread_period", "global_period" };
    static const char *const quota_param[] = { "vcpu_quota", "emulator_quota", "iothread_quota", "global_quota" };
    const struct vmsec_profile *p = a->p;
    virTypedParameter np;
    char setting[48], now[32];
    int rc = 0;

    if (p->cpu_shares.set) {
        memset(&np, 0, sizeof(np));
        snprintf(np.field, sizeof(np.field), "cpu_shares");
        np.type = VIR_TYPED_PARAM_ULLONG;
        np.value.ul = p->cpu_shares.value;
        snprintf(now, sizeof(now), "%" PRIu64, p->cpu_shares.value);
        rc = param_step(a, PG_SCHED, "cpu.shares", &np, now, NULL);
    }
    for (int sc = 0; sc < VMSEC__CPU_SCOPES && rc == 0; sc++) {
        if (p->cpu_period[sc].set) {
            memset(&np, 0, sizeof(np));
            snprintf(np.field, sizeof(np.field), "%s", period_param[sc]);
            np.type = VIR_TYPED_PARAM_ULLONG;
            np.value.ul = p->cpu_period[sc].value;
            snprintf(setting, sizeof(setting), "cpu.%s", period_param[sc]);
            snprintf(now, sizeof(now), "%" PRIu64, p->cpu_period[sc].value);
            rc = param_step(a, PG_SCHED, setting, &np, now, NULL);
        }
        if (rc == 0 && p->cpu_quota[sc].set) {
            memset(&np, 0, sizeof(np));
            snprintf(np.field, sizeof(np.field), "%s", quota_param[sc]);
            np.type = VIR_TYPED_PARAM_LLONG;
            np.value.l = p->cpu_quota[sc].value;
            snprintf(setting, sizeof(setting), "cpu.%s", quota_param[sc]);
            snprintf(now, sizeof(now), "%" PRId64, p->cpu_quota[sc].value);
            rc = param_step(a, PG_SCHED, setting, &np, now, NULL);
        }
    }
    return rc;
}

static unsigned long long mem_kib(uint64_t bytes)
{
    return bytes == VMSEC_PROFILE_UNLIMITED ? VIR_DOMAIN_MEMORY_PARAM_UNLIMITED : bytes / 1024;
}

static void mem_text(const virTypedParameter *p, char *buf, size_t size)
{
    if (!p || p->type != VIR_TYPED_PARAM_ULLONG)
        snprintf(buf, size, "(none)");
    else if (p->value.ul >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)
        snprintf(buf, size, "unlimited");
    else
        snprintf(buf, size, "%llu KiB", p->value.ul);
}

/* All memory limits in one call: libvirt orders hard and swap limits itself (swap >= hard). */
static int apply_memory(struct apply *a)
{
    virTypedParameter np[VMSEC__MEM_LIMITS];
    struct step *s;
    int n = 0;
    size_t first;

    for (int m = 0; m < VMSEC__MEM_LIMITS; m++)
        n += a->p->memory_limit[m].set;
    if (!n)
        return 0;
    if (!(s = vmsec__apply_push(a, ST_MEMORY)))
        return VMSEC_ENOMEM;
    if (!(s->old = calloc(VMSEC__MEM_LIMITS, sizeof(*s->old))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory applying a profile");
    n = 0;
    first = vmsec_report_count(a->r);
    for (int m = 0; m < VMSEC__MEM_LIMITS; m++) {
        const virTypedParameter *cur;
        char now[32], old[32];
        if (!a->p->memory_limit[m].set)
            continue;
        memset(&np[n], 0, sizeof(np[n]));
        snprintf(np[n].field, sizeof(np[n].field), "%s", vmsec__memory_param_names[m]);
        np[n].type = VIR_TYPED_PARAM_ULLONG;
        np[n].value.ul = mem_kib(a->p->memory_limit[m].value);
        if ((cur = find_param(a, PG_MEMORY, np[n].field)))
            copy_param(&s->old[s->n_old++], cur);
        mem_text(&np[n], now, sizeof(now));
        mem_text(cur, old, sizeof(old));
        if (vmsec__report_add(a->r, VMSEC_STATUS_APPLIED, vmsec__memory_limit_keys[m], now, old, "libvirt", "live") < 0)
            return VMSEC_ENOMEM;
        n++;
    }
    s->n_entries = (size_t)n;
    if (vmsec__apply_set_params(a->d, PG_MEMORY, np, n) < 0) {
        const char *msg = virGetLastErrorMessage();
        for (size_t i = first; i < first + (size_t)n; i++)
            vmsec__report_update(a->r, i, VMSEC_STATUS_FAILED, msg);
        snprintf(a->failed, sizeof(a->failed), "%s", vmsec_report_field(a->r, first, VMSEC_REPORT_SETTING));
        a->n--;
        for (int i = 0; i < s->n_old; i++)
            if (s->old[i].type == VIR_TYPED_PARAM_STRING)
                free(s->old[i].value.s);
        free(s->old);
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "memory limits");
    }
    return 0;
}

/* Blkio device parameters are strings "path,value[,path,value...]": the old value for one path
 * is picked out of them (0 = none, which is also how libvirt removes a device setting). */
static uint64_t blkio_old_value(const virTypedParameter *cur, const char *path)
{
    const char *s = cur && cur->type == VIR_TYPED_PARAM_STRING ? cur->value.s : NULL;
    size_t pl = strlen(path);
    while (s && *s) {
        const char *comma = strchr(s, ',');
        if (!comma)
            break;
        if ((size_t)(comma - s) == pl && strncmp(s, path, pl) == 0)
            return strtoull(comma + 1, NULL, 10);
        s = strchr(comma + 1, ',');
        s = s ? s + 1 : NULL;
    }
    return 0;
}

static int apply_blkio(struct apply *a)
{
    static const char *const dev_param[VMSEC__BLKIO_FIELDS] = {
        "device_weight", "device_read_bytes_sec", "device_write_bytes_sec", "device_read_iops_sec", "device_write_iops_sec",
    };
    virTypedParameter np, old;
    char setting[1200], now[1100];
    int rc = 0;

    if (a->p->blkio_weight.set) {
        memset(&np, 0, sizeof(np));
        snprintf(np.field, sizeof(np.field), "weight");
        np.type = VIR_TYPED_PARAM_UINT;
        np.value.ui = (unsigned)a->p->blkio_weight.value;
        snprintf(now, sizeof(now), "%u", np.value.ui);
        rc = param_step(a, PG_BLKIO, "blkio.weight", &np, now, NULL);
    }
    for (size_t i = 0; i < a->p->n_blkio_devices && rc == 0; i++) {
        const struct vmsec__blkio_device *dv = &a->p->blkio_devices[i];
        for (int f = 0; f < VMSEC__BLKIO_FIELDS && rc == 0; f++) {
            char oldv[1100];
            if (!dv->field[f].set)
                continue;
            memset(&np, 0, sizeof(np));
            snprintf(np.field, sizeof(np.field), "%s", dev_param[f]);
            np.type = VIR_TYPED_PARAM_STRING;
            snprintf(now, sizeof(now), "%s,%" PRIu64, dv->path, dv->field[f].value);
            np.value.s = now;
            memset(&old, 0, sizeof(old));
            snprintf(old.field, sizeof(old.field), "%s", dev_param[f]);
            old.type = VIR_TYPED_PARAM_STRING;
            snprintf(oldv, sizeof(oldv), "%s,%" PRIu64, dv->path,
                     blkio_old_value(find_param(a, PG_BLKIO, dev_param[f]), dv->path));
            old.value.s = oldv;
            snprintf(setting, sizeof(setting), "blkio.device(%s).%s", dv->path, vmsec__blkio_field_names[f]);
            rc = param_step(a, PG_BLKIO, setting, &np, now, &old);
        }
    }
    return rc;
}

/* ---- NUMA ---------------------------------------------------------------------------------------- */

static bool numa_live_ok(const struct apply *a)
{
    const virTypedParameter *mode = find_param(a, PG_NUMA, VIR_DOMAIN_NUMA_MODE);
    int cur = mode && mode->type == VIR_TYPED_PARAM_INT ? mode->value.i : -1;
    if (a->p->numa_mode.set && (int)a->p->numa_mode.value != cur)
        return false; /* the mode only changes at boot */
    /* libvirt 9 moves a running domain's memory only in restrictive mode (cpuset.mems alone);
     * strict binds it with mbind at start. */
    return cur == VMSEC_NUMA_RESTRICTIVE;
}

static int apply_numa(struct apply *a, bool config)
{
    static _Thread_local char now[VMSEC_CPUSET_TEXT_MAX];
    virTypedParameter np;

    if (!a->p->numa_nodeset.set && !a->p->numa_mode.set)
        return 0;
    cpuset_text(&a->p->numa_nodeset.value, now, sizeof(now));
    if (!numa_live_ok(a)) {
        if (!config)
            return vmsec__error(VMSEC_EUNSUPPORTED,
                                "domain %s: numa.mode/numa.nodeset cannot change on the running domain (its mode "
                                "differs or is not restrictive); apply to the configuration too",
                                a->d->name);
        return vmsec__report_add(a->r, VMSEC_STATUS_NEXT_BOOT, "numa.nodeset", now, NULL, "libvirt",
                                 "a running domain's nodeset changes only in restrictive mode, its mode never: "
                                 "written to the configuration, takes effect at next boot");
    }
    if (!a->p->numa_nodeset.set)
        return 0;
    memset(&np, 0, sizeof(np));
    snprintf(np.field, sizeof(np.field), VIR_DOMAIN_NUMA_NODESET);
    np.type = VIR_TYPED_PARAM_STRING;
    np.value.s = now;
    return param_step(a, PG_NUMA, "numa.nodeset", &np, now, NULL);
}

/* ---- all live steps ------------------------------------------------------------------------------ */

static bool any_group(const struct vmsec_profile *p, int g)
{
    bool any = false;
    switch (g) {
    case PG_SCHED:
        any = p->cpu_shares.set;
        for (int s = 0; s < VMSEC__CPU_SCOPES; s++)
            any |= p->cpu_period[s].set || p->cpu_quota[s].set;
        return any;
    case PG_MEMORY:
        for (int m = 0; m < VMSEC__MEM_LIMITS; m++)
            any |= p->memory_limit[m].set;
        return any;
    case PG_NUMA: return p->numa_mode.set || p->numa_nodeset.set;
    default: return p->blkio_weight.set || p->n_blkio_devices;
    }
}

int vmsec__apply_live(struct apply *a, unsigned int flags)
{
    int rc, hostcpus;

    hostcpus = virNodeGetCPUMap(a->d->conn, NULL, NULL, 0);
    if (hostcpus <= 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "cannot read the host's CPU count");
    a->maplen = VIR_CPU_MAPLEN(hostcpus);
    for (int g = 0; g < 4; g++)
        if (any_group(a->p, g) && (rc = fetch_group(a, g)) < 0)
            return rc == -2 ? VMSEC_ENOMEM
                   : rc == -3 ? VMSEC_ELIBVIRT
                            : vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its current tuning",
                                                   a->d->name);
    if ((rc = apply_vcpu_pins(a)) < 0 || (rc = apply_emulator_pin(a)) < 0 || (rc = apply_iothread_pins(a)) < 0 ||
        (rc = apply_sched(a)) < 0 || (rc = apply_memory(a)) < 0 ||
        (rc = apply_numa(a, flags & VMSEC_AFFECT_CONFIG)) < 0 || (rc = apply_blkio(a)) < 0)
        return rc;
    if (vmsec__apply_needs_boot(a->p))
        rc = vmsec__report_add(a->r, VMSEC_STATUS_NEXT_BOOT, "memory.backing", NULL, NULL, "libvirt",
                               "memory.locked/hugepages/nosharepages are written to the configuration and take "
                               "effect at the next boot");
    return rc;
}
