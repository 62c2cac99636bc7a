/* Verifying a profile: what libvirt reports for the domain, and what the kernel enforces for its
 * QEMU process (cgroup files, thread affinity, locked and mergeable memory). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <libvirt/virterror.h>

#include "isolation/domain_internal.h"
#include "isolation/planner_internal.h"
#include "isolation/kprobe.h"
#include "isolation/virt.h"
#include "common/units.h"

/* cgroup v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is unlimited. */
#define V1_UNLIMITED_FLOOR (1ull << 62)

struct verify {
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

/* Scratch for set texts (too large for every stack frame); per thread, so calls may run in parallel. */
static _Thread_local char tbuf[2][VMSEC_CPUSET_TEXT_MAX];

static int entry(struct verify *v, bool ok, const char *setting, const char *expected, const char *actual,
                 const char *source)
{
    return vmsec__report_add(v->r, ok ? VMSEC_STATUS_OK : VMSEC_STATUS_DRIFT, setting, expected, actual, source, NULL);
}

static int unchecked(struct verify *v, const char *setting, const char *expected, const char *why)
{
    return vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, setting, expected, NULL, "kernel",
                             "cannot be checked here (%s)", why);
}

static void bytes_text(uint64_t b, char *buf)
{
    if (b == VMSEC_PROFILE_UNLIMITED)
        strcpy(buf, "unlimited");
    else
        vmsec__size_format(b, buf);
}

/* ---- libvirt side -------------------------------------------------------------------------------- */

/* The shape the profile expects: vCPU and I/O thread counts. */
static int lv_shape(struct verify *v)
{
    char e[32], a[32];
    int n, rc = 0;

    if (v->p->vcpus.set) {
        n = virDomainGetVcpusFlags(v->d->dom, VIR_DOMAIN_AFFECT_CURRENT | VIR_DOMAIN_VCPU_MAXIMUM);
        if (n < 0)
            n = virDomainGetMaxVcpus(v->d->dom);
        if (n < 0)
            return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its vCPU count", v->d->name);
        snprintf(e, sizeof(e), "%" PRIu64, v->p->vcpus.value);
        snprintf(a, sizeof(a), "%d", n);
        rc = entry(v, (uint64_t)n == v->p->vcpus.value, "vcpus", e, a, "libvirt");
    }
    if (rc == 0 && v->p->iothreads.set) {
        virDomainIOThreadInfoPtr *info = NULL;
        n = virDomainGetIOThreadInfo(v->d->dom, &info, VIR_DOMAIN_AFFECT_CURRENT);
        if (n < 0)
            return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its I/O threads", v->d->name);
        for (int k = 0; k < n; k++)
            virDomainIOThreadInfoFree(info[k]);
        free(info);
        snprintf(e, sizeof(e), "%" PRIu64, v->p->iothreads.value);
        snprintf(a, sizeof(a), "%d", n);
        rc = entry(v, (uint64_t)n == v->p->iothreads.value, "iothreads", e, a, "libvirt");
    }
    return rc;
}

static int lv_pins(struct verify *v)
{
    const struct vmsec_profile *p = v->p;
    int rc = 0;

    if (p->n_vcpu_pins) {
        int nv = virDomainGetMaxVcpus(v->d->dom);
        unsigned char *maps = nv > 0 ? calloc((size_t)nv, (size_t)v->maplen) : NULL;
        int got = -1;
        if (maps) {
            got = virDomainGetVcpuPinInfo(v->d->dom, nv, maps, v->maplen, VIR_DOMAIN_AFFECT_CURRENT);
        }
        if (got < 0) {
            free(maps);
            return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its vCPU pins", v->d->name);
        }
        for (size_t i = 0; i < p->n_vcpu_pins && rc == 0; i++) {
            vmsec_cpuset cur;
            char setting[48];
            snprintf(setting, sizeof(setting), "vcpu.%u.pin", p->vcpu_pins[i].id);
            vmsec__cpuset_from_cpumap(&cur, maps + (size_t)p->vcpu_pins[i].id * (size_t)v->maplen, (size_t)v->maplen);
            vmsec__cpuset_format(&p->vcpu_pins[i].cpus, tbuf[0], sizeof(tbuf[0]));
            vmsec__cpuset_format(&cur, tbuf[1], sizeof(tbuf[1]));
            rc = entry(v, vmsec__cpuset_equal(&cur, &p->vcpu_pins[i].cpus), setting, tbuf[0], tbuf[1], "libvirt");
        }
        free(maps);
    }
    if (rc == 0 && p->emulator_pin.set) {
        unsigned char map[VMSEC_CPUSET_MAX / 8] = { 0 };
        vmsec_cpuset cur;
        if (virDomainGetEmulatorPinInfo(v->d->dom, map, v->maplen, VIR_DOMAIN_AFFECT_CURRENT) < 0)
            return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its emulator pin", v->d->name);
        vmsec__cpuset_from_cpumap(&cur, map, (size_t)v->maplen);
        vmsec__cpuset_format(&p->emulator_pin.value, tbuf[0], sizeof(tbuf[0]));
        vmsec__cpuset_format(&cur, tbuf[1], sizeof(tbuf[1]));
        rc = entry(v, vmsec__cpuset_equal(&cur, &p->emulator_pin.value), "emulator.pin", tbuf[0], tbuf[1], "libvirt");
    }
    if (rc == 0 && p->n_iothread_pins) {
        virDomainIOThreadInfoPtr *info = NULL;
        int n = virDomainGetIOThreadInfo(v->d->dom, &info, VIR_DOMAIN_AFFECT_CURRENT);
        if (n < 0)
            return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its I/O threads", v->d->name);
        for (size_t i = 0; i < p->n_iothread_pins && rc == 0; i++) {
            char setting[48];
            vmsec_cpuset cur;
            int k;
            snprintf(setting, sizeof(setting), "iothread.%u.pin", p->iothread_pins[i].id);
            vmsec__cpuset_format(&p->iothread_pins[i].cpus, tbuf[0], sizeof(tbuf[0]));
            for (k = 0; k < n && info[k]->iothread_id != p->iothread_pins[i].id; k++)
                ;
            if (k == n) {
                rc = vmsec__report_add(v->r, VMSEC_STATUS_DRIFT, setting, tbuf[0], "no such I/O thread", "libvirt", NULL);
                continue;
            }
            vmsec__cpuset_from_cpumap(&cur, info[k]->cpumap, (size_t)info[k]->cpumaplen);
            vmsec__cpuset_format(&cur, tbuf[1], sizeof(tbuf[1]));
            rc = entry(v, vmsec__cpuset_equal(&cur, &p->iothread_pins[i].cpus), setting, tbuf[0], tbuf[1], "libvirt");
        }
        for (int k = 0; k < n; k++)
            virDomainIOThreadInfoFree(info[k]);
        free(info);
    }
    return rc;
}

static const virTypedParameter *tp_find(virTypedParameterPtr ps, int n, const char *field)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ps[i].field, field) == 0)
            return &ps[i];
    return NULL;
}

static bool tp_int(const virTypedParameter *t, long long *out)
{
    if (!t)
        return false;
    switch (t->type) {
    case VIR_TYPED_PARAM_INT: *out = t->value.i; return true;
    case VIR_TYPED_PARAM_UINT: *out = t->value.ui; return true;
    case VIR_TYPED_PARAM_LLONG: *out = t->value.l; return true;
    case VIR_TYPED_PARAM_ULLONG: *out = (long long)t->value.ul; return true;
    default: return false;
    }
}

/* Compares an integer setting with a typed parameter. */
static int lv_num(struct verify *v, virTypedParameterPtr ps, int n, const char *field, const char *setting,
                  long long expected)
{
    long long cur;
    char e[32], a[32];
    snprintf(e, sizeof(e), "%lld", expected);
    if (!tp_int(tp_find(ps, n, field), &cur))
        return vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, setting, e, NULL, "libvirt",
                                 "cannot be checked here (this driver does not report %s)", field);
    snprintf(a, sizeof(a), "%lld", cur);
    return entry(v, cur == expected, setting, e, a, "libvirt");
}

typedef int (*getparams_fn)(virDomainPtr, virTypedParameterPtr, int *, unsigned int);

static int sched_get(virDomainPtr d, virTypedParameterPtr p, int *n, unsigned int f)
{
    if (!p) {
        char *t = virDomainGetSchedulerType(d, n);
        free(t);
        return t ? 0 : -1;
    }
    if (virDomainGetSchedulerParametersFlags(d, p, n, f) == 0)
        return 0;
    return virGetLastErrorCode() == VIR_ERR_INVALID_ARG ? virDomainGetSchedulerParameters(d, p, n) : -1;
}

static int fetch(struct verify *v, getparams_fn fn, virTypedParameterPtr *out, int *n)
{
    *out = NULL;
    *n = 0;
    if (fn(v->d->dom, NULL, n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its tuning parameters", v->d->name);
    if (!(*out = calloc((size_t)*n + 1, sizeof(**out))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory reading tuning parameters");
    if (fn(v->d->dom, *out, n, VIR_DOMAIN_AFFECT_CURRENT) < 0) {
        free(*out);
        *out = NULL;
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its tuning parameters", v->d->name);
    }
    return 0;
}

static int lv_sched(struct verify *v)
{
    static const char *const scope[] = { "vcpu", "emulator", "iothread", "global" };
    const struct vmsec_profile *p = v->p;
    virTypedParameterPtr ps;
    bool any = p->cpu_shares.set;
    int n, rc;

    for (int s = 0; s < VMSEC__CPU_SCOPES; s++)
        any |= p->cpu_period[s].set || p->cpu_quota[s].set;
    if (!any)
        return 0;
    if ((rc = fetch(v, sched_get, &ps, &n)) < 0)
        return rc;
    if (p->cpu_shares.set)
        rc = lv_num(v, ps, n, "cpu_shares", "cpu.shares", (long long)p->cpu_shares.value);
    for (int s = 0; s < VMSEC__CPU_SCOPES && rc == 0; s++) {
        char field[32], setting[48];
        if (p->cpu_period[s].set) {
            snprintf(field, sizeof(field), "%s_period", scope[s]);
            snprintf(setting, sizeof(setting), "cpu.%s", field);
            rc = lv_num(v, ps, n, field, setting, (long long)p->cpu_period[s].value);
        }
        if (rc == 0 && p->cpu_quota[s].set) {
            snprintf(field, sizeof(field), "%s_quota", scope[s]);
            snprintf(setting, sizeof(setting), "cpu.%s", field);
            rc = lv_num(v, ps, n, field, setting, p->cpu_quota[s].value);
        }
    }
    virTypedParamsFree(ps, n);
    return rc;
}

static int lv_memory(struct verify *v)
{
    virTypedParameterPtr ps;
    bool any = false;
    int n, rc = 0;

    for (int m = 0; m < VMSEC__MEM_LIMITS; m++)
        any |= v->p->memory_limit[m].set;
    if (!any)
        return 0;
    if ((rc = fetch(v, virDomainGetMemoryParameters, &ps, &n)) < 0)
        return rc;
    for (int m = 0; m < VMSEC__MEM_LIMITS && rc == 0; m++) {
        const struct vmsec__u64 *l = &v->p->memory_limit[m];
        const virTypedParameter *t;
        char e[32], a[32];
        uint64_t cur;
        if (!l->set)
            continue;
        bytes_text(l->value, e);
        t = tp_find(ps, n, vmsec__memory_param_names[m]);
        if (!t || t->type != VIR_TYPED_PARAM_ULLONG) {
            rc = vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, vmsec__memory_limit_keys[m], e, NULL, "libvirt",
                                   "cannot be checked here (not reported by this driver)");
            continue;
        }
        cur = t->value.ul >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED ? VMSEC_PROFILE_UNLIMITED : t->value.ul * 1024;
        bytes_text(cur, a);
        rc = entry(v, cur == l->value, vmsec__memory_limit_keys[m], e, a, "libvirt");
    }
    virTypedParamsFree(ps, n);
    return rc;
}

static int lv_numa(struct verify *v)
{
    virTypedParameterPtr ps;
    int n, rc = 0;
    long long mode;

    if (!v->p->numa_mode.set && !v->p->numa_nodeset.set)
        return 0;
    if ((rc = fetch(v, virDomainGetNumaParameters, &ps, &n)) < 0)
        return rc;
    if (v->p->numa_mode.set) {
        const char *e = vmsec__numa_mode_names[v->p->numa_mode.value];
        bool got = tp_int(tp_find(ps, n, VIR_DOMAIN_NUMA_MODE), &mode);
        const char *a = got && mode >= 0 && mode < 4 ? vmsec__numa_mode_names[mode] : "unknown";
        rc = entry(v, got && mode == (long long)v->p->numa_mode.value, "numa.mode", e, a, "libvirt");
    }
    if (rc == 0 && v->p->numa_nodeset.set) {
        const virTypedParameter *t = tp_find(ps, n, VIR_DOMAIN_NUMA_NODESET);
        const char *a = t && t->type == VIR_TYPED_PARAM_STRING && t->value.s ? t->value.s : "";
        vmsec_cpuset cur;
        char why[VMSEC_CPUSET_WHY_MAX];
        bool ok = vmsec__cpuset_parse(&cur, a, strlen(a), VMSEC_CPUSET_ALLOW_EMPTY, why, sizeof(why)) == 0 &&
                  vmsec__cpuset_equal(&cur, &v->p->numa_nodeset.value);
        vmsec__cpuset_format(&v->p->numa_nodeset.value, tbuf[0], sizeof(tbuf[0]));
        rc = entry(v, ok, "numa.nodeset", tbuf[0], *a ? a : "(none)", "libvirt");
    }
    virTypedParamsFree(ps, n);
    return rc;
}

static uint64_t blkio_dev_value(const virTypedParameter *t, const char *path, bool *found)
{
    const char *s = t && t->type == VIR_TYPED_PARAM_STRING ? t->value.s : NULL;
    size_t pl = strlen(path);
    *found = false;
    while (s && *s) {
        const char *comma = strchr(s, ',');
        if (!comma)
            break;
        if ((size_t)(comma - s) == pl && strncmp(s, path, pl) == 0) {
            *found = true;
            return strtoull(comma + 1, NULL, 10);
        }
        s = strchr(comma + 1, ',');
        s = s ? s + 1 : NULL;
    }
    return 0;
}

static const char *const blkio_dev_param[VMSEC__BLKIO_FIELDS] = {
    "device_weight", "device_read_bytes_sec", "device_write_bytes_sec", "device_read_iops_sec", "device_write_iops_sec",
};

static int lv_blkio(struct verify *v)
{
    virTypedParameterPtr ps;
    int n, rc = 0;

    if (!v->p->blkio_weight.set && !v->p->n_blkio_devices)
        return 0;
    if ((rc = fetch(v, virDomainGetBlkioParameters, &ps, &n)) < 0)
        return rc;
    if (v->p->blkio_weight.set)
        rc = lv_num(v, ps, n, "weight", "blkio.weight", (long long)v->p->blkio_weight.value);
    for (size_t i = 0; i < v->p->n_blkio_devices && rc == 0; i++) {
        const struct vmsec__blkio_device *dv = &v->p->blkio_devices[i];
        for (int f = 0; f < VMSEC__BLKIO_FIELDS && rc == 0; f++) {
            char setting[1200], e[32], a[32];
            bool found;
            uint64_t cur;
            if (!dv->field[f].set)
                continue;
            cur = blkio_dev_value(tp_find(ps, n, blkio_dev_param[f]), dv->path, &found);
            snprintf(setting, sizeof(setting), "blkio.device(%s).%s", dv->path, vmsec__blkio_field_names[f]);
            snprintf(e, sizeof(e), "%" PRIu64, dv->field[f].value);
            snprintf(a, sizeof(a), found ? "%" PRIu64 : "(none)", cur);
            rc = entry(v, found && cur == dv->field[f].value, setting, e, a, "libvirt");
        }
    }
    virTypedParamsFree(ps, n);
    return rc;
}

/* Memory backing exists only in the XML: read it from the live (or stopped) definition. */
static int lv_backing(struct verify *v)
{
    const struct vmsec_profile *p = v->p;
    char *xml = NULL;
    xmlDocPtr doc;
    xmlNodePtr mb;
    int rc = 0;

    if (!p->memory_locked.set && !p->nosharepages.set && !p->hugepage_size.set)
        return 0;
    if ((rc = vmsec_domain_get_xml(v->d, v->running ? 0 : VMSEC_AFFECT_CONFIG, &xml)) < 0)
        return rc;
    doc = vmsec__xml_parse(xml, "domain XML");
    free(xml);
    if (!doc)
        return VMSEC_EFORMAT;
    mb = vmsec__xml_child(xmlDocGetRootElement(doc), "memoryBacking");
    if (p->memory_locked.set) {
        bool cur = vmsec__xml_child(mb, "locked") != NULL;
        rc = entry(v, cur == p->memory_locked.value, "memory.locked", p->memory_locked.value ? "yes" : "no",
                   cur ? "yes" : "no", "libvirt");
    }
    if (rc == 0 && p->nosharepages.set) {
        bool cur = vmsec__xml_child(mb, "nosharepages") != NULL;
        rc = entry(v, cur == p->nosharepages.value, "memory.nosharepages", p->nosharepages.value ? "yes" : "no",
                   cur ? "yes" : "no", "libvirt");
    }
    if (rc == 0 && p->hugepage_size.set) {
        xmlNodePtr hp = vmsec__xml_child(mb, "hugepages"), page = vmsec__xml_child(hp, "page");
        char e[32], a[32] = "none";
        xmlChar *size = page ? xmlGetProp(page, XC("size")) : NULL;
        uint64_t want = p->hugepage_size.value;
        bool ok;
        if (want == VMSEC__HUGEPAGE_DEFAULT)
            strcpy(e, "default");
        else
            vmsec__size_format(want, e);
        if (hp && !size)
            strcpy(a, "default");
        else if (size)
            vmsec__size_format(strtoull((const char *)size, NULL, 10) * 1024, a); /* libvirt writes KiB */
        ok = hp && (want == VMSEC__HUGEPAGE_DEFAULT ? !size : size && strcmp(e, a) == 0);
        rc = entry(v, ok, "memory.hugepages.size", e, a, "libvirt");
        xmlFree(size);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* The record vmsec_domain_apply() leaves in the metadata: which profile the domain claims. */
static int lv_record(struct verify *v)
{
    char want[VMSEC_PROFILE_DIGEST_MAX], have[VMSEC_PROFILE_DIGEST_MAX];
    vmsec_profile *rec = NULL;
    int rc = vmsec_profile_digest(v->p, want, sizeof(want));

    if (rc < 0)
        return rc;
    rc = vmsec_domain_get_applied(v->d, v->running ? 0 : VMSEC_AFFECT_CONFIG, &rec, have, sizeof(have));
    vmsec_profile_free(rec);
    if (rc == VMSEC_ENOTFOUND || rc == VMSEC_EFORMAT)
        return vmsec__report_add(v->r, rc == VMSEC_EFORMAT ? VMSEC_STATUS_DRIFT : VMSEC_STATUS_UNCHECKED,
                                 "profile.digest", want, rc == VMSEC_EFORMAT ? "damaged record" : NULL,
                                 "libvirt metadata", "%s", vmsec_error_last());
    if (rc < 0)
        return rc;
    return vmsec__report_add(v->r, strcmp(want, have) == 0 ? VMSEC_STATUS_OK : VMSEC_STATUS_DRIFT, "profile.digest",
                             want, have, "libvirt metadata",
                             strcmp(want, have) == 0 ? NULL : "the domain records another profile as applied");
}

/* ---- kernel side --------------------------------------------------------------------------------- */

static int k_threads(struct verify *v, int kind, unsigned int id, bool any_id, const vmsec_cpuset *want,
                     const char *setting)
{
    vmsec__cpuset_format(want, tbuf[0], sizeof(tbuf[0]));
    size_t seen = 0;
    for (size_t i = 0; i < v->n_threads; i++) {
        const struct vmsec__thread *t = &v->threads[i];
        char src[128];
        if (t->kind != kind || (!any_id && t->id != id))
            continue;
        seen++;
        if (vmsec__cpuset_equal(&t->allowed, want) && kind == VMSEC__THREAD_EMULATOR)
            continue; /* emulator threads are many: only drifted ones get their own line */
        vmsec__cpuset_format(&t->allowed, tbuf[1], sizeof(tbuf[1]));
        snprintf(src, sizeof(src), "kernel /proc/%ld/task/%ld/status", v->pid, t->tid);
        if (entry(v, vmsec__cpuset_equal(&t->allowed, want), setting, tbuf[0], tbuf[1], src) < 0)
            return VMSEC_ENOMEM;
    }
    if (!seen)
        return vmsec__report_add(v->r, VMSEC_STATUS_DRIFT, setting, tbuf[0], "no such thread", "kernel",
                                 "QEMU process %ld has no matching thread", v->pid);
    if (kind == VMSEC__THREAD_EMULATOR && vmsec_report_count(v->r) &&
        strcmp(vmsec_report_field(v->r, vmsec_report_count(v->r) - 1, VMSEC_REPORT_SETTING), setting) != 0) {
        char src[64];
        snprintf(src, sizeof(src), "kernel /proc/%ld/task/*/status", v->pid);
        return vmsec__report_add(v->r, VMSEC_STATUS_OK, setting, tbuf[0], tbuf[0], src, "%zu emulator thread(s)", seen);
    }
    return 0;
}

/* Reads a cgroup file of controller c (dir relative to the domain group, "" for the group). */
static int k_file(struct verify *v, int c, const char *sub, const char *file, char *path, size_t psize, char *val,
                  size_t vsize)
{
    int n = snprintf(path, psize, "%s%s%s/%s", v->cg.ctl[c].dir, *sub ? "/" : "", sub, file);
    if (n < 0 || (size_t)n >= psize)
        return -ENAMETOOLONG;
    return vmsec__kread(path, val, vsize);
}

static int k_compare(struct verify *v, const char *setting, const char *expected, const char *path, int err,
                     const char *actual, bool ok)
{
    char src[PATH_MAX + 8];
    if (err < 0)
        return vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, setting, expected, NULL, "kernel",
                                 "cannot be checked here (cannot read %s: %s)", path, strerror(-err));
    snprintf(src, sizeof(src), "kernel %s", path);
    return entry(v, ok, setting, expected, actual, src);
}

static int k_missing(struct verify *v, const char *setting, const char *expected, int c)
{
    return vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, setting, expected, NULL, "kernel",
                             "cannot be checked here (no %s cgroup controller for this domain)", vmsec__cg_names[c]);
}

static int k_pins(struct verify *v)
{
    const struct vmsec_profile *p = v->p;
    int rc = 0;
    for (size_t i = 0; i < p->n_vcpu_pins && rc == 0; i++) {
        char setting[48], path[PATH_MAX + 64], val[VMSEC_CPUSET_TEXT_MAX], sub[32], why[VMSEC_CPUSET_WHY_MAX];
        vmsec_cpuset cur;
        int err;
        snprintf(setting, sizeof(setting), "vcpu.%u.pin", p->vcpu_pins[i].id);
        if ((rc = k_threads(v, VMSEC__THREAD_VCPU, p->vcpu_pins[i].id, false, &p->vcpu_pins[i].cpus, setting)) < 0)
            break;
        if (!v->cg.ctl[VMSEC__CG_CPUSET].version)
            continue;
        snprintf(sub, sizeof(sub), "vcpu%u", p->vcpu_pins[i].id);
        err = k_file(v, VMSEC__CG_CPUSET, sub, "cpuset.cpus", path, sizeof(path), val, sizeof(val));
        if (err == -ENOENT)
            continue; /* libvirt pins by affinity only when cpuset is not delegated */
        vmsec__cpuset_format(&p->vcpu_pins[i].cpus, tbuf[0], sizeof(tbuf[0]));
        rc = k_compare(v, setting, tbuf[0], path, err, val,
                       err == 0 && vmsec__cpuset_parse(&cur, val, strlen(val), VMSEC_CPUSET_ALLOW_EMPTY, why,
                                                       sizeof(why)) == 0 &&
                           vmsec__cpuset_equal(&cur, &p->vcpu_pins[i].cpus));
    }
    if (rc == 0 && p->emulator_pin.set)
        rc = k_threads(v, VMSEC__THREAD_EMULATOR, 0, true, &p->emulator_pin.value, "emulator.pin");
    for (size_t i = 0; i < p->n_iothread_pins && rc == 0; i++) {
        char setting[48];
        snprintf(setting, sizeof(setting), "iothread.%u.pin", p->iothread_pins[i].id);
        rc = k_threads(v, VMSEC__THREAD_IOTHREAD, p->iothread_pins[i].id, false, &p->iothread_pins[i].cpus, setting);
    }
    return rc;
}

/* Groups a CPU scope's limits live in: vcpu -> vcpuN, emulator -> emulator, iothread -> iothreadN,
 * global -> the domain group. */
static size_t scope_dirs(struct verify *v, int scope, char (*sub)[32], size_t max)
{
    size_t n = 0;
    if (scope == VMSEC_CPU_SCOPE_EMULATOR || scope == VMSEC_CPU_SCOPE_GLOBAL) {
        snprintf(sub[n++], 32, "%s", scope == VMSEC_CPU_SCOPE_EMULATOR ? "emulator" : "");
        return n;
    }
    for (size_t i = 0; i < v->n_threads && n < max; i++) {
        const struct vmsec__thread *t = &v->threads[i];
        if ((scope == VMSEC_CPU_SCOPE_VCPU && t->kind == VMSEC__THREAD_VCPU) ||
            (scope == VMSEC_CPU_SCOPE_IOTHREAD && t->kind == VMSEC__THREAD_IOTHREAD))
            snprintf(sub[n++], 32, "%s%u", t->kind == VMSEC__THREAD_VCPU ? "vcpu" : "iothread", t->id);
    }
    return n;
}

static int k_cpu(struct verify *v)
{
    static const char *const scope[] = { "vcpu", "emulator", "iothread", "global" };
    const struct vmsec_profile *p = v->p;
    int version = v->cg.ctl[VMSEC__CG_CPU].version, rc = 0;
    char path[PATH_MAX + 64], val[128], e[32];

    if (p->cpu_shares.set) {
        snprintf(e, sizeof(e), "%" PRIu64, p->cpu_shares.value);
        if (!version)
            rc = k_missing(v, "cpu.shares", e, VMSEC__CG_CPU);
        else {
            int err = k_file(v, VMSEC__CG_CPU, "", version == 1 ? "cpu.shares" : "cpu.weight", path, sizeof(path), val,
                             sizeof(val));
            rc = k_compare(v, "cpu.shares", e, path, err, val, err == 0 && strtoull(val, NULL, 10) == p->cpu_shares.value);
        }
    }
    for (int s = 0; s < VMSEC__CPU_SCOPES && rc == 0; s++) {
        char sub[64][32], setting[48];
        size_t nd;
        if (!p->cpu_period[s].set && !p->cpu_quota[s].set)
            continue;
        if (!version) {
            snprintf(setting, sizeof(setting), "cpu.%s_%s", scope[s], p->cpu_period[s].set ? "period" : "quota");
            rc = k_missing(v, setting, NULL, VMSEC__CG_CPU);
            continue;
        }
        nd = scope_dirs(v, s, sub, 64);
        for (size_t k = 0; k < nd && rc == 0; k++) {
            long long period = -2, quota = -2;
            int err;
            if (version == 1) {
                char qpath[PATH_MAX + 64];
                err = k_file(v, VMSEC__CG_CPU, sub[k], "cpu.cfs_period_us", path, sizeof(path), val, sizeof(val));
                if (err == 0)
                    period = strtoll(val, NULL, 10);
                if (p->cpu_quota[s].set) {
                    int e2 = k_file(v, VMSEC__CG_CPU, sub[k], "cpu.cfs_quota_us", qpath, sizeof(qpath), val, sizeof(val));
                    if (e2 == 0)
                        quota = strtoll(val, NULL, 10);
                    snprintf(setting, sizeof(setting), "cpu.%s_quota", scope[s]);
                    snprintf(e, sizeof(e), "%" PRId64, p->cpu_quota[s].value);
                    rc = k_compare(v, setting, e, qpath, e2, val, quota == p->cpu_quota[s].value);
                }
            } else {
                char qv[32] = "", pv[32] = "";
                err = k_file(v, VMSEC__CG_CPU, sub[k], "cpu.max", path, sizeof(path), val, sizeof(val));
                if (err == 0 && sscanf(val, "%31s %31s", qv, pv) == 2) {
                    period = strtoll(pv, NULL, 10);
                    quota = strcmp(qv, "max") == 0 ? -1 : strtoll(qv, NULL, 10);
                }
                if (p->cpu_quota[s].set) {
                    char a[32];
                    snprintf(setting, sizeof(setting), "cpu.%s_quota", scope[s]);
                    snprintf(e, sizeof(e), "%" PRId64, p->cpu_quota[s].value);
                    snprintf(a, sizeof(a), "%lld", quota);
                    rc = k_compare(v, setting, e, path, err, a, quota == p->cpu_quota[s].value);
                }
            }
            if (rc == 0 && p->cpu_period[s].set) {
                char a[32];
                snprintf(setting, sizeof(setting), "cpu.%s_period", scope[s]);
                snprintf(e, sizeof(e), "%" PRIu64, p->cpu_period[s].value);
                snprintf(a, sizeof(a), "%lld", period);
                rc = k_compare(v, setting, e, path, err, a, period == (long long)p->cpu_period[s].value);
            }
        }
    }
    return rc;
}

static int k_memory(struct verify *v)
{
    static const char *const v1[] = { "memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes" };
    static const char *const v2[] = { "memory.max", "memory.high", "memory.swap.max" };
    int version = v->cg.ctl[VMSEC__CG_MEMORY].version, rc = 0;

    for (int m = 0; m < VMSEC__MEM_LIMITS && rc == 0; m++) {
        const struct vmsec__u64 *l = &v->p->memory_limit[m];
        char path[PATH_MAX + 64], val[64], e[32], a[32];
        uint64_t cur = 0;
        int err;
        if (!l->set)
            continue;
        bytes_text(l->value, e);
        if (!version) {
            rc = k_missing(v, vmsec__memory_limit_keys[m], e, VMSEC__CG_MEMORY);
            continue;
        }
        err = k_file(v, VMSEC__CG_MEMORY, "", version == 1 ? v1[m] : v2[m], path, sizeof(path), val, sizeof(val));
        if (err == -ENOENT && m == VMSEC_MEMORY_SWAP_HARD_LIMIT) {
            rc = vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, vmsec__memory_limit_keys[m], e, NULL, "kernel",
                                   "cannot be checked here (%s absent: swap accounting is off)", path);
            continue;
        }
        if (err == 0) {
            if (strcmp(val, "max") == 0)
                cur = VMSEC_PROFILE_UNLIMITED;
            else {
                cur = strtoull(val, NULL, 10);
                if (version == 1 && cur >= V1_UNLIMITED_FLOOR)
                    cur = VMSEC_PROFILE_UNLIMITED;
            }
        }
        bytes_text(cur, a);
        rc = k_compare(v, vmsec__memory_limit_keys[m], e, path, err, a, err == 0 && cur == l->value);
    }
    return rc;
}

static int k_numa(struct verify *v)
{
    char path[PATH_MAX + 64], val[VMSEC_CPUSET_TEXT_MAX], why[VMSEC_CPUSET_WHY_MAX];
    vmsec_cpuset cur;
    int err;

    if (!v->p->numa_nodeset.set)
        return 0;
    vmsec__cpuset_format(&v->p->numa_nodeset.value, tbuf[0], sizeof(tbuf[0]));
    if (v->p->numa_mode.set && v->p->numa_mode.value != VMSEC_NUMA_STRICT &&
        v->p->numa_mode.value != VMSEC_NUMA_RESTRICTIVE)
        return unchecked(v, "numa.nodeset", tbuf[0], "only strict and restrictive modes use cpuset.mems");
    if (!v->cg.ctl[VMSEC__CG_CPUSET].version)
        return k_missing(v, "numa.nodeset", tbuf[0], VMSEC__CG_CPUSET);
    err = k_file(v, VMSEC__CG_CPUSET, "emulator", "cpuset.mems", path, sizeof(path), val, sizeof(val));
    if (err == 0 && !*val) /* v2 leaves cpuset.mems empty until set: the effective set applies */
        err = k_file(v, VMSEC__CG_CPUSET, "emulator", "cpuset.mems.effective", path, sizeof(path), val, sizeof(val));
    return k_compare(v, "numa.nodeset", tbuf[0], path, err, val,
                     err == 0 && vmsec__cpuset_parse(&cur, val, strlen(val), VMSEC_CPUSET_ALLOW_EMPTY, why, sizeof(why)) == 0 &&
                         vmsec__cpuset_equal(&cur, &v->p->numa_nodeset.value));
}

/* Finds "maj:min <value>" (v1) in a per-device file; returns 0 if absent. */
static uint64_t dev_line(const char *val, const char *dev, const char *key, bool *found)
{
    size_t dl = strlen(dev);
    *found = false;
    for (const char *l = val; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, dev, dl) != 0 || l[dl] != ' ')
            continue;
        if (!key) {
            *found = true;
            return strtoull(l + dl + 1, NULL, 10);
        }
        for (const char *k = strstr(l, key); k && (!strchr(l, '\n') || k < strchr(l, '\n')); k = strstr(k + 1, key)) {
            if (k[-1] != ' ' || k[strlen(key)] != '=')
                continue;
            *found = strncmp(k + strlen(key) + 1, "max", 3) != 0;
            return *found ? strtoull(k + strlen(key) + 1, NULL, 10) : 0;
        }
    }
    return 0;
}

static int k_blkio(struct verify *v)
{
    static const char *const v1f[] = { "blkio.weight_device", "blkio.throttle.read_bps_device",
                                       "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
                                       "blkio.throttle.write_iops_device" };
    static const char *const v2k[] = { NULL, "rbps", "wbps", "riops", "wiops" };
    int version = v->cg.ctl[VMSEC__CG_BLKIO].version, rc = 0;
    char path[PATH_MAX + 64], val[4096], e[32], a[32];

    if (!v->p->blkio_weight.set && !v->p->n_blkio_devices)
        return 0;
    if (!version)
        return k_missing(v, "blkio", NULL, VMSEC__CG_BLKIO);
    if (v->p->blkio_weight.set) {
        uint64_t cur = 0;
        int err;
        snprintf(e, sizeof(e), "%" PRIu64, v->p->blkio_weight.value);
        if (version == 1) {
            err = k_file(v, VMSEC__CG_BLKIO, "", "blkio.weight", path, sizeof(path), val, sizeof(val));
            if (err == -ENOENT)
                err = k_file(v, VMSEC__CG_BLKIO, "", "blkio.bfq.weight", path, sizeof(path), val, sizeof(val));
            cur = strtoull(val, NULL, 10);
        } else {
            err = k_file(v, VMSEC__CG_BLKIO, "", "io.weight", path, sizeof(path), val, sizeof(val));
            if (err == -ENOENT)
                err = k_file(v, VMSEC__CG_BLKIO, "", "io.bfq.weight", path, sizeof(path), val, sizeof(val));
            if (err == 0 && strncmp(val, "default ", 8) == 0)
                cur = strtoull(val + 8, NULL, 10);
        }
        snprintf(a, sizeof(a), "%" PRIu64, cur);
        if (err < 0)
            *val = '\0';
        rc = k_compare(v, "blkio.weight", e, path, err, a, err == 0 && cur == v->p->blkio_weight.value);
    }
    for (size_t i = 0; i < v->p->n_blkio_devices && rc == 0; i++) {
        const struct vmsec__blkio_device *dv = &v->p->blkio_devices[i];
        char dev[32], setting[1200];
        struct stat st;
        bool have_dev = stat(dv->path, &st) == 0 && S_ISBLK(st.st_mode);
        snprintf(dev, sizeof(dev), "%u:%u", have_dev ? major(st.st_rdev) : 0, have_dev ? minor(st.st_rdev) : 0);
        for (int f = 0; f < VMSEC__BLKIO_FIELDS && rc == 0; f++) {
            bool found = false;
            uint64_t cur;
            int err;
            if (!dv->field[f].set)
                continue;
            snprintf(setting, sizeof(setting), "blkio.device(%s).%s", dv->path, vmsec__blkio_field_names[f]);
            snprintf(e, sizeof(e), "%" PRIu64, dv->field[f].value);
            if (!have_dev) {
                rc = unchecked(v, setting, e, "the path is not a block device on this host");
                continue;
            }
            if (version == 1)
                err = k_file(v, VMSEC__CG_BLKIO, "", v1f[f], path, sizeof(path), val, sizeof(val));
            else
                err = k_file(v, VMSEC__CG_BLKIO, "", f == 0 ? "io.weight" : "io.max", path, sizeof(path), val, sizeof(val));
            cur = err == 0 ? dev_line(val, dev, version == 1 ? NULL : v2k[f], &found) : 0;
            if (err == 0 && version == 2 && f == 0)
                cur = dev_line(val, dev, NULL, &found);
            snprintf(a, sizeof(a), found ? "%" PRIu64 : "(none)", cur);
            rc = k_compare(v, setting, e, path, err, a, err == 0 && found && cur == dv->field[f].value);
        }
    }
    return rc;
}

/* Locked memory shows as VmLck; unmergeable memory as the absence of the "mg" VmFlag; huge pages
 * as the "ht" VmFlag on some mapping. */
static int k_backing(struct verify *v)
{
    const struct vmsec_profile *p = v->p;
    char path[PATH_MAX], line[512], src[PATH_MAX + 8];
    unsigned long long vmlck = 0;
    bool mergeable = false, huge = false;
    FILE *f;
    int rc = 0;

    if (!p->memory_locked.set && !p->nosharepages.set && !p->hugepage_size.set)
        return 0;
    snprintf(path, sizeof(path), "%s/proc/%ld/status", v->root, v->pid);
    bool have_status = false;
    if ((f = fopen(path, "re"))) {
        while (fgets(line, sizeof(line), f))
            have_status |= sscanf(line, "VmLck: %llu kB", &vmlck) == 1;
        fclose(f);
    }
    if (p->memory_locked.set && !have_status) {
        rc = unchecked(v, "memory.locked", p->memory_locked.value ? "yes" : "no", "no VmLck in the process status");
    } else if (p->memory_locked.set) {
        char a[48];
        snprintf(a, sizeof(a), "VmLck %llu kB", vmlck);
        snprintf(src, sizeof(src), "kernel %s", path + strlen(v->root));
        rc = entry(v, (vmlck > 0) == p->memory_locked.value, "memory.locked", p->memory_locked.value ? "yes" : "no", a, src);
    }
    if (rc < 0 || (!p->nosharepages.set && !p->hugepage_size.set))
        return rc;
    snprintf(path, sizeof(path), "%s/proc/%ld/smaps", v->root, v->pid);
    snprintf(src, sizeof(src), "kernel %s", path);
    if (!(f = fopen(path, "re")))
        return unchecked(v, "memory.nosharepages", NULL, "cannot read the process's smaps");
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmFlags:", 8) != 0)
            continue;
        mergeable |= strstr(line, " mg") != NULL;
        huge |= strstr(line, " ht") != NULL;
    }
    fclose(f);
    if (p->nosharepages.set)
        rc = entry(v, mergeable != p->nosharepages.value, "memory.nosharepages", p->nosharepages.value ? "yes" : "no",
                   mergeable ? "mergeable mappings" : "no mergeable mapping", src);
    if (rc == 0 && p->hugepage_size.set)
        rc = entry(v, huge, "memory.hugepages.size", "huge pages", huge ? "hugetlb mappings" : "no hugetlb mapping", src);
    return rc;
}

/* Every setting the profile has, as "cannot be checked here (why)" on the kernel side. */
static int k_all_unchecked(struct verify *v, const char *why)
{
    const struct vmsec_profile *p = v->p;
    size_t before = vmsec_report_count(v->r);
    int rc = 0;
    for (size_t i = 0; i < before && rc == 0; i++) {
        const char *s = vmsec_report_field(v->r, i, VMSEC_REPORT_SETTING);
        bool dup = strcmp(s, "profile.digest") == 0 || strcmp(s, "configuration") == 0 ||
                   strcmp(s, "vcpus") == 0 || strcmp(s, "iothreads") == 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup |= strcmp(s, vmsec_report_field(v->r, k, VMSEC_REPORT_SETTING)) == 0;
        if (!dup)
            rc = unchecked(v, s, vmsec_report_field(v->r, i, VMSEC_REPORT_EXPECTED), why);
    }
    (void)p;
    return rc;
}

static int kernel_checks(struct verify *v);

static int kernel_side(struct verify *v)
{
    if (!v->running)
        return k_all_unchecked(v, "domain not running");
    if (!vmsec__conn_is_local(v->d->conn, v->kwhy, sizeof(v->kwhy)))
        return k_all_unchecked(v, v->kwhy);
    v->pid = vmsec__qemu_pid(v->root, v->d->name, v->d->uuid);
    if (!v->pid)
        return k_all_unchecked(v, "no QEMU process of this domain on this host: remote host");
    return kernel_checks(v);
}

int vmsec__verify_kernel(const char *root, long pid, const struct vmsec_profile *p, struct vmsec_report *r)
{
    struct verify v = { .root = root, .p = p, .r = r, .running = true, .pid = pid };
    int rc = kernel_checks(&v);
    free(v.threads);
    return rc;
}

static int kernel_checks(struct verify *v)
{
    int rc;
    if ((rc = vmsec__cgroups_locate(v->root, v->pid, &v->cg)) < 0 ||
        (rc = vmsec__threads_list(v->root, v->pid, &v->threads, &v->n_threads)) < 0)
        return rc;
    if ((rc = k_pins(v)) < 0 || (rc = k_cpu(v)) < 0 || (rc = k_memory(v)) < 0 || (rc = k_numa(v)) < 0 ||
        (rc = k_blkio(v)) < 0 || (rc = k_backing(v)) < 0)
        return rc;
    return 0;
}

/* A stopped domain: the configuration must already be what rendering the profile gives. */
static int config_side(struct verify *v)
{
    char *xml = NULL, *norm = NULL, *rendered = NULL;
    xmlDocPtr doc;
    int rc;

    if ((rc = vmsec_domain_get_xml(v->d, VMSEC_AFFECT_CONFIG, &xml)) < 0)
        return rc;
    if (!(doc = vmsec__xml_parse(xml, "configuration"))) {
        free(xml);
        return VMSEC_EFORMAT;
    }
    norm = vmsec__xml_dump(doc);
    rc = vmsec__render_doc(v->p, doc);
    if (rc == 0)
        rendered = vmsec__xml_dump(doc);
    xmlFreeDoc(doc);
    free(xml);
    if (rc == 0 && norm && rendered)
        rc = vmsec__report_add(v->r, strcmp(norm, rendered) == 0 ? VMSEC_STATUS_OK : VMSEC_STATUS_DRIFT,
                               "configuration", "profile rendered", strcmp(norm, rendered) == 0 ? "same" : "differs",
                               "libvirt config", NULL);
    free(norm);
    free(rendered);
    return rc;
}

int vmsec_domain_verify(vmsec_domain *d, const vmsec_profile *profile, unsigned int flags, vmsec_report **report)
{
    struct verify v = { .root = "", .d = d, .p = profile };
    int rc, running, hostcpus;

    if (report)
        *report = NULL;
    if (!d || !profile || flags)
        return vmsec__error(VMSEC_EINVAL, "vmsec_domain_verify: NULL argument or unknown flags 0x%x", flags);
    if ((running = vmsec__domain_prepare(d, profile)) < 0)
        return running;
    v.running = running;
    if ((hostcpus = virNodeGetCPUMap(d->conn, NULL, NULL, 0)) <= 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "cannot read the host's CPU count");
    v.maplen = VIR_CPU_MAPLEN(hostcpus);
    if (!(v.r = vmsec__report_new()))
        return VMSEC_ENOMEM;
    rc = running ? 0 : config_side(&v);
    if (rc == 0 && running)
        if ((rc = lv_shape(&v)) == 0 && (rc = lv_pins(&v)) == 0 && (rc = lv_sched(&v)) == 0 && (rc = lv_memory(&v)) == 0 &&
            (rc = lv_numa(&v)) == 0 && (rc = lv_blkio(&v)) == 0)
            rc = 0;
    if (rc == 0)
        rc = lv_backing(&v);
    if (rc == 0)
        rc = lv_record(&v);
    if (rc == 0)
        rc = kernel_side(&v);
    free(v.threads);
    if (rc == 0 && vmsec_report_count_status(v.r, VMSEC_STATUS_DRIFT)) {
        size_t n = vmsec_report_count_status(v.r, VMSEC_STATUS_DRIFT);
        const char *first = "";
        for (size_t i = 0; i < vmsec_report_count(v.r); i++)
            if (vmsec_report_status(v.r, i) == VMSEC_STATUS_DRIFT) {
                first = vmsec_report_field(v.r, i, VMSEC_REPORT_SETTING);
                break;
            }
        rc = vmsec__error(VMSEC_EDRIFT, "domain %s: %zu check%s drifted from the profile (first: %s)", d->name, n,
                          n == 1 ? "" : "s", first);
    }
    if (report && (rc == 0 || rc == VMSEC_EDRIFT))
        *report = v.r;
    else
        vmsec_report_free(v.r);
    return rc;
}
