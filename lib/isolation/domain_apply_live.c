/* SPDX-License-Identifier: ISC */
/* Applying a profile to the running domain, one setting at a time, each change a step that
 * records the value to set back (see domain_apply.c for the steps and their undoing). Two passes
 * (see domain_apply_check.c): first the values a rollback can set back exactly, with everything
 * that may fail (memory limits, NUMA, block I/O); then the pins and scheduler values libvirt
 * would keep in the live XML once set. */
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
    if (vmsec__conn_takes_no_flags(a->d->conn))
        return virDomainPinVcpuFlags(a->d->dom, vcpu, map, a->maplen, 0);
    if (virDomainPinVcpuFlags(a->d->dom, vcpu, map, a->maplen, VIR_DOMAIN_AFFECT_LIVE) == 0)
        return 0;
    if (!unsupported_flags())
        return -1;
    return virDomainPinVcpuFlags(a->d->dom, vcpu, map, a->maplen, 0);
}

static int get_vcpu_pins(struct apply *a, unsigned char *maps, int nvcpus)
{
    unsigned int f = vmsec__conn_takes_no_flags(a->d->conn) ? 0 : VIR_DOMAIN_AFFECT_LIVE;
    int n = virDomainGetVcpuPinInfo(a->d->dom, nvcpus, maps, a->maplen, f);
    if (n < 0 && f && unsupported_flags())
        n = virDomainGetVcpuPinInfo(a->d->dom, nvcpus, maps, a->maplen, 0);
    return n;
}

/* Whether a pin or scheduler value belongs to this pass (see domain_apply_check.c). */
static bool vcpu_pin_now(const struct apply *a, unsigned int id)
{
    return vmsec__apply_in_pass(a, vmsec__apply_exact_undo(a, "/domain/cputune/vcpupin[@vcpu='%u']", id));
}

static bool iothread_pin_now(const struct apply *a, unsigned int id)
{
    return vmsec__apply_in_pass(a, vmsec__apply_exact_undo(a, "/domain/cputune/iothreadpin[@iothread='%u']", id));
}

static bool cputune_now(const struct apply *a, const char *elem)
{
    return vmsec__apply_in_pass(a, vmsec__apply_exact_undo(a, "/domain/cputune/%s", elem));
}

static const char *const period_param[] = { "vcpu_period", "emulator_period", "iothread_period", "global_period" };
static const char *const quota_param[] = { "vcpu_quota", "emulator_quota", "iothread_quota", "global_quota" };

static int apply_vcpu_pins(struct apply *a)
{
    static _Thread_local char now[VMSEC_CPUSET_TEXT_MAX], old[VMSEC_CPUSET_TEXT_MAX];
    unsigned char *maps;
    int nvcpus, rc = 0;
    size_t todo = 0;

    for (size_t i = 0; i < a->p->n_vcpu_pins; i++)
        todo += vcpu_pin_now(a, a->p->vcpu_pins[i].id);
    if (!todo)
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
        struct step *s;
        if (!vcpu_pin_now(a, pin->id))
            continue;
        if (!(s = vmsec__apply_push(a, ST_VCPU_PIN))) {
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

    if (!a->p->emulator_pin.set || !cputune_now(a, "emulatorpin"))
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
    size_t todo = 0;

    for (size_t i = 0; i < a->p->n_iothread_pins; i++)
        todo += iothread_pin_now(a, a->p->iothread_pins[i].id);
    if (!todo)
        return 0;
    if ((n = virDomainGetIOThreadInfo(a->d->dom, &info, VIR_DOMAIN_AFFECT_LIVE)) < 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its I/O threads", a->d->name);
    for (size_t i = 0; i < a->p->n_iothread_pins && rc == 0; i++) {
        const struct vmsec__pin *pin = &a->p->iothread_pins[i];
        unsigned char map[VMSEC_CPUSET_MAX / 8] = { 0 };
        char setting[48];
        struct step *s;
        int k;

        if (!iothread_pin_now(a, pin->id))
            continue;
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

int vmsec__apply_read_group(struct apply *a, int g, virTypedParameterPtr *out, int *nout)
{
    virDomainPtr dom = a->d->dom;
    unsigned int f = vmsec__conn_takes_no_flags(a->d->conn) ? 0 : VIR_DOMAIN_AFFECT_LIVE;
    int n = 0, n0, rc;
    virTypedParameterPtr params;

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
    case PG_SCHED:
        rc = f ? virDomainGetSchedulerParametersFlags(dom, params, &n, f) : virDomainGetSchedulerParameters(dom, params, &n);
        break;
    case PG_MEMORY: rc = virDomainGetMemoryParameters(dom, params, &n, f); break;
    case PG_NUMA: rc = virDomainGetNumaParameters(dom, params, &n, f); break;
    default: rc = virDomainGetBlkioParameters(dom, params, &n, f); break;
    }
    if (rc < 0 && f && unsupported_flags()) { /* drivers without AFFECT_LIVE here: 0 is live when running */
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
    *out = params;
    *nout = n;
    return 0;
}

static int fetch_libvirt_group(struct apply *a, int g)
{
    return a->cur[g] ? 0 : vmsec__apply_read_group(a, g, &a->cur[g], &a->n_cur[g]);
}

/* A host without bfq or cfq has no blkio weights, and libvirt then reads no blkio parameter at
 * all; unless the profile asks for a weight (which such a host cannot give), the device values
 * to restore come from the live XML (domain_blkio.c). */
static int fetch_group(struct apply *a, int g)
{
    int rc = fetch_libvirt_group(a, g);
    if (rc == -1 && g == PG_BLKIO && a->p->blkio_weight.set && virGetLastErrorCode() == VIR_ERR_OPERATION_INVALID) {
        /* Reached only where the host check could not look (a remote host): name the setting. */
        char e[32];
        snprintf(e, sizeof(e), "%" PRIu64, a->p->blkio_weight.value);
        snprintf(a->failed, sizeof(a->failed), "blkio.weight");
        vmsec__libvirt_error(VMSEC_ELIBVIRT, "libvirt cannot read or set the domain's block I/O weight (its host "
                                             "gives weights only through the bfq or cfq I/O scheduler)");
        vmsec__report_add(a->r, VMSEC_STATUS_FAILED, "blkio.weight", e, NULL, "libvirt", "%s", vmsec_error_last());
        return -3; /* recorded */
    }
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
    if (vmsec__conn_takes_no_flags(d->conn))
        return set_params_flags(d, g, params, n, 0);
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

/* ---- CPU bandwidth -------------------------------------------------------------------------------- */

/* A scope's period and quota as they will be after the apply: the profile's, else the current. */
static void bandwidth_after(const struct apply *a, int sc, uint64_t *period, int64_t *quota)
{
    const virTypedParameter *cp = find_param(a, PG_SCHED, period_param[sc]);
    const virTypedParameter *cq = find_param(a, PG_SCHED, quota_param[sc]);

    *period = a->p->cpu_period[sc].set ? a->p->cpu_period[sc].value
              : cp && cp->type == VIR_TYPED_PARAM_ULLONG ? cp->value.ul
                                                         : 0;
    *quota = a->p->cpu_quota[sc].set ? a->p->cpu_quota[sc].value
             : cq && cq->type == VIR_TYPED_PARAM_LLONG ? cq->value.l
                                                       : -1;
}

/* The kernel refuses (cgroup v1: EINVAL) or caps (v2) a vCPU, emulator or I/O thread quota
 * above the domain's global one, relative to their periods. Found on the way, it would leave
 * the values set before it in the live XML (see domain_apply_check.c): refused here instead. */
static int check_bandwidth(const struct apply *a)
{
    static const char *const scope[] = { "vcpu", "emulator", "iothread" };
    uint64_t gp, cp;
    int64_t gq, cq;

    if (!a->cur[PG_SCHED])
        return 0;
    bandwidth_after(a, VMSEC_CPU_SCOPE_GLOBAL, &gp, &gq);
    if (gq <= 0 || !gp)
        return 0;
    for (int sc = 0; sc < VMSEC_CPU_SCOPE_GLOBAL; sc++) {
        bandwidth_after(a, sc, &cp, &cq);
        if (cq > 0 && cp && (long double)cq * (long double)gp > (long double)gq * (long double)cp)
            return vmsec__error(VMSEC_EINVAL,
                                "cpu.%s_quota %" PRId64 " per %" PRIu64 " us exceeds cpu.global_quota %" PRId64
                                " per %" PRIu64 " us: the kernel refuses a thread group more CPU time than the whole "
                                "domain",
                                scope[sc], cq, cp, gq, gp);
    }
    return 0;
}

/* The kernel checks each quota against the domain's global one as it is at that moment: a global
 * quota that grows (or goes) is set before the thread groups' quotas, one that shrinks after. */
static bool global_first(const struct apply *a)
{
    const virTypedParameter *cp = find_param(a, PG_SCHED, period_param[VMSEC_CPU_SCOPE_GLOBAL]);
    const virTypedParameter *cq = find_param(a, PG_SCHED, quota_param[VMSEC_CPU_SCOPE_GLOBAL]);
    uint64_t gp;
    int64_t gq;

    bandwidth_after(a, VMSEC_CPU_SCOPE_GLOBAL, &gp, &gq);
    if (gq <= 0)
        return true;
    if (!cq || cq->type != VIR_TYPED_PARAM_LLONG || cq->value.l <= 0 || !cp || cp->type != VIR_TYPED_PARAM_ULLONG)
        return false; /* from unlimited to a limit */
    return (long double)gq * (long double)cp->value.ul >= (long double)cq->value.l * (long double)gp;
}

static int apply_sched(struct apply *a)
{
    static const int up[] = { VMSEC_CPU_SCOPE_GLOBAL, VMSEC_CPU_SCOPE_VCPU, VMSEC_CPU_SCOPE_EMULATOR, VMSEC_CPU_SCOPE_IOTHREAD };
    bool gfirst = global_first(a); /* else the scopes in their order, global last */
    const struct vmsec_profile *p = a->p;
    virTypedParameter np;
    char setting[48], now[32];
    int rc = 0;

    if (p->cpu_shares.set && cputune_now(a, "shares")) {
        memset(&np, 0, sizeof(np));
        snprintf(np.field, sizeof(np.field), "cpu_shares");
        np.type = VIR_TYPED_PARAM_ULLONG;
        np.value.ul = p->cpu_shares.value;
        snprintf(now, sizeof(now), "%" PRIu64, p->cpu_shares.value);
        rc = param_step(a, PG_SCHED, "cpu.shares", &np, now, NULL);
    }
    for (int i = 0; i < VMSEC__CPU_SCOPES && rc == 0; i++) {
        int sc = gfirst ? up[i] : i;
        if (p->cpu_period[sc].set && cputune_now(a, vmsec__cputune_period_elems[sc])) {
            memset(&np, 0, sizeof(np));
            snprintf(np.field, sizeof(np.field), "%s", period_param[sc]);
            np.type = VIR_TYPED_PARAM_ULLONG;
            np.value.ul = p->cpu_period[sc].value;
            snprintf(setting, sizeof(setting), "cpu.%s", period_param[sc]);
            snprintf(now, sizeof(now), "%" PRIu64, p->cpu_period[sc].value);
            rc = param_step(a, PG_SCHED, setting, &np, now, NULL);
        }
        if (rc == 0 && p->cpu_quota[sc].set && cputune_now(a, vmsec__cputune_quota_elems[sc])) {
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

/* A refused memory call: its entries say why, and what libvirt may have applied of it is set
 * back at once; if that fails too the step stays, and the rollback tries again and names it. */
static int memory_failed(struct apply *a, size_t first, size_t n)
{
    struct step *s = &a->steps[a->n - 1];
    virErrorPtr why = virSaveLastError();
    const char *msg = why && why->message ? why->message : "unknown libvirt error";
    bool undone = s->n_old == 0 || vmsec__apply_set_params(a->d, PG_MEMORY, s->old, s->n_old) == 0;
    int rc;

    for (size_t i = first; i < first + n; i++)
        vmsec__report_update(a->r, i, VMSEC_STATUS_FAILED, msg);
    snprintf(a->failed, sizeof(a->failed), "%s", vmsec_report_field(a->r, first, VMSEC_REPORT_SETTING));
    rc = vmsec__error(VMSEC_ELIBVIRT, "%s", msg);
    virFreeError(why);
    if (undone)
        vmsec__apply_drop_last(a);
    return rc;
}

/* One libvirt call for the limits in `which` (bit m: memory_limit[m]), as one step. libvirt 9.0
 * writes the soft limit first, then the hard and swap limits in the order the kernel accepts
 * (swap >= hard); a refused call may thus leave part of it applied, which is set back at once. */
static int memory_step(struct apply *a, unsigned int which)
{
    virTypedParameter np[VMSEC__MEM_LIMITS];
    struct step *s;
    int n = 0;
    size_t first;

    if (!(s = vmsec__apply_push(a, ST_MEMORY)))
        return VMSEC_ENOMEM;
    if (!(s->old = calloc(VMSEC__MEM_LIMITS, sizeof(*s->old))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory applying a profile");
    first = vmsec_report_count(a->r);
    for (int m = 0; m < VMSEC__MEM_LIMITS; m++) {
        const virTypedParameter *cur;
        char now[32], old[32];
        if (!(which & (1u << m)))
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
    if (vmsec__apply_set_params(a->d, PG_MEMORY, np, n) == 0)
        return 0;
    return memory_failed(a, first, (size_t)n);
}

/* The hard and swap limits first, in one call so libvirt orders them: they are what the kernel
 * refuses (EBUSY below the current usage), and the soft limit is then left untouched. */
static int apply_memory(struct apply *a)
{
    const struct vmsec__u64 *l = a->p->memory_limit;
    unsigned int hard = (l[VMSEC_MEMORY_HARD_LIMIT].set ? 1u << VMSEC_MEMORY_HARD_LIMIT : 0) |
                        (l[VMSEC_MEMORY_SWAP_HARD_LIMIT].set ? 1u << VMSEC_MEMORY_SWAP_HARD_LIMIT : 0);
    int rc = 0;
    if (hard)
        rc = memory_step(a, hard);
    if (rc == 0 && l[VMSEC_MEMORY_SOFT_LIMIT].set)
        rc = memory_step(a, 1u << VMSEC_MEMORY_SOFT_LIMIT);
    return rc;
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

/* The weight stays in the live XML once set, like the scheduler values (a device throttle set
 * back to 0 leaves it). */
static int apply_blkio_weight(struct apply *a)
{
    virTypedParameter np;
    char now[32];

    if (!a->p->blkio_weight.set ||
        !vmsec__apply_in_pass(a, vmsec__apply_exact_undo(a, "/domain/blkiotune/weight")))
        return 0;
    memset(&np, 0, sizeof(np));
    snprintf(np.field, sizeof(np.field), "weight");
    np.type = VIR_TYPED_PARAM_UINT;
    np.value.ui = (unsigned)a->p->blkio_weight.value;
    snprintf(now, sizeof(now), "%u", np.value.ui);
    return param_step(a, PG_BLKIO, "blkio.weight", &np, now, NULL);
}

static int apply_blkio(struct apply *a)
{
    static const char *const dev_param[VMSEC__BLKIO_FIELDS] = {
        "device_weight", "device_read_bytes_sec", "device_write_bytes_sec", "device_read_iops_sec", "device_write_iops_sec",
    };
    virTypedParameter np, old;
    char setting[1200], now[1100];
    int rc = 0;

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

/* True if the running domain already has the profile's mode and nodeset: a domain started from
 * XML rendered from this profile (the hook's re-plan on restore or incoming migration) has them. */
static bool numa_live_same(const struct apply *a)
{
    const virTypedParameter *mode = find_param(a, PG_NUMA, VIR_DOMAIN_NUMA_MODE);
    const virTypedParameter *set = find_param(a, PG_NUMA, VIR_DOMAIN_NUMA_NODESET);
    char why[VMSEC_CPUSET_WHY_MAX];
    vmsec_cpuset cur;

    if (a->p->numa_mode.set &&
        !(mode && mode->type == VIR_TYPED_PARAM_INT && mode->value.i == (int)a->p->numa_mode.value))
        return false;
    if (!a->p->numa_nodeset.set)
        return true;
    return set && set->type == VIR_TYPED_PARAM_STRING && set->value.s &&
           vmsec__cpuset_parse(&cur, set->value.s, strlen(set->value.s),
                               VMSEC_CPUSET_ALLOW_EMPTY | VMSEC_CPUSET_NODES, why, sizeof(why)) == 0 &&
           vmsec__cpuset_equal(&cur, &a->p->numa_nodeset.value);
}

static int apply_numa(struct apply *a, bool config)
{
    static _Thread_local char now[VMSEC_CPUSET_TEXT_MAX];
    virTypedParameter np;

    if (!a->p->numa_nodeset.set && !a->p->numa_mode.set)
        return 0;
    cpuset_text(&a->p->numa_nodeset.value, now, sizeof(now));
    if (!numa_live_ok(a)) {
        if (numa_live_same(a))
            return 0; /* nothing to change, which libvirt would refuse outside restrictive mode */
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

int vmsec__apply_live_prepare(struct apply *a)
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
    return check_bandwidth(a);
}

int vmsec__apply_live(struct apply *a, unsigned int flags)
{
    int rc;

    /* First the changes a rollback takes back exactly and everything that can fail; then the
     * block I/O weight, scheduler values and pins libvirt would keep in the live XML, the most
     * likely to be refused first (the pins were checked against the host). */
    a->late = false;
    if ((rc = apply_vcpu_pins(a)) < 0 || (rc = apply_emulator_pin(a)) < 0 || (rc = apply_iothread_pins(a)) < 0 ||
        (rc = apply_sched(a)) < 0 || (rc = apply_memory(a)) < 0 ||
        (rc = apply_numa(a, flags & VMSEC_AFFECT_CONFIG)) < 0 || (rc = apply_blkio_weight(a)) < 0 ||
        (rc = apply_blkio(a)) < 0)
        return rc;
    a->late = true;
    if ((rc = apply_blkio_weight(a)) < 0 || (rc = apply_sched(a)) < 0 || (rc = apply_vcpu_pins(a)) < 0 ||
        (rc = apply_emulator_pin(a)) < 0 || (rc = apply_iothread_pins(a)) < 0)
        return rc;
    if (vmsec__apply_needs_boot(a->p))
        rc = vmsec__report_add(a->r, VMSEC_STATUS_NEXT_BOOT, "memory.backing", NULL, NULL, "libvirt",
                               "memory.locked/hugepages/nosharepages are written to the configuration and take "
                               "effect at the next boot");
    return rc;
}
