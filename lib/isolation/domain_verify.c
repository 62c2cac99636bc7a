/* SPDX-License-Identifier: ISC */
/* Verifying a profile: what libvirt reports for the domain (its tuning, pins and definition), and
 * the report that joins it with what the kernel enforces (domain_verify_kernel.c). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "isolation/domain_internal.h"
#include "isolation/domain_verify.h"
#include "isolation/virt.h"
#include "common/units.h"

/* ---- libvirt side -------------------------------------------------------------------------------- */

/* The shape the profile expects: vCPU and I/O thread counts. */
static int lv_shape(struct vmsec__verify *v)
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
        rc = vmsec__verify_entry(v, (uint64_t)n == v->p->vcpus.value, "vcpus", e, a, "libvirt");
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
        rc = vmsec__verify_entry(v, (uint64_t)n == v->p->iothreads.value, "iothreads", e, a, "libvirt");
    }
    return rc;
}

static int lv_pins(struct vmsec__verify *v)
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
            vmsec__cpuset_format(&p->vcpu_pins[i].cpus, vmsec__verify_tbuf[0], sizeof(vmsec__verify_tbuf[0]));
            vmsec__cpuset_format(&cur, vmsec__verify_tbuf[1], sizeof(vmsec__verify_tbuf[1]));
            rc = vmsec__verify_entry(v, vmsec__cpuset_equal(&cur, &p->vcpu_pins[i].cpus), setting, vmsec__verify_tbuf[0],
                                     vmsec__verify_tbuf[1], "libvirt");
        }
        free(maps);
    }
    if (rc == 0 && p->emulator_pin.set) {
        unsigned char map[VMSEC_CPUSET_MAX / 8] = { 0 };
        vmsec_cpuset cur;
        if (virDomainGetEmulatorPinInfo(v->d->dom, map, v->maplen, VIR_DOMAIN_AFFECT_CURRENT) < 0)
            return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its emulator pin", v->d->name);
        vmsec__cpuset_from_cpumap(&cur, map, (size_t)v->maplen);
        vmsec__cpuset_format(&p->emulator_pin.value, vmsec__verify_tbuf[0], sizeof(vmsec__verify_tbuf[0]));
        vmsec__cpuset_format(&cur, vmsec__verify_tbuf[1], sizeof(vmsec__verify_tbuf[1]));
        rc = vmsec__verify_entry(v, vmsec__cpuset_equal(&cur, &p->emulator_pin.value), "emulator.pin",
                                 vmsec__verify_tbuf[0], vmsec__verify_tbuf[1], "libvirt");
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
            vmsec__cpuset_format(&p->iothread_pins[i].cpus, vmsec__verify_tbuf[0], sizeof(vmsec__verify_tbuf[0]));
            for (k = 0; k < n && info[k]->iothread_id != p->iothread_pins[i].id; k++)
                ;
            if (k == n) {
                rc = vmsec__report_add(v->r, VMSEC_STATUS_DRIFT, setting, vmsec__verify_tbuf[0], "no such I/O thread",
                                       "libvirt", NULL);
                continue;
            }
            vmsec__cpuset_from_cpumap(&cur, info[k]->cpumap, (size_t)info[k]->cpumaplen);
            vmsec__cpuset_format(&cur, vmsec__verify_tbuf[1], sizeof(vmsec__verify_tbuf[1]));
            rc = vmsec__verify_entry(v, vmsec__cpuset_equal(&cur, &p->iothread_pins[i].cpus), setting,
                                     vmsec__verify_tbuf[0], vmsec__verify_tbuf[1], "libvirt");
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
static int lv_num(struct vmsec__verify *v, virTypedParameterPtr ps, int n, const char *field, const char *setting,
                  long long expected)
{
    long long cur;
    char e[32], a[32];
    snprintf(e, sizeof(e), "%lld", expected);
    if (!tp_int(tp_find(ps, n, field), &cur))
        return vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, setting, e, NULL, "libvirt",
                                 "cannot be checked here (this driver does not report %s)", field);
    snprintf(a, sizeof(a), "%lld", cur);
    return vmsec__verify_entry(v, cur == expected, setting, e, a, "libvirt");
}

typedef int (*getparams_fn)(virDomainPtr, virTypedParameterPtr, int *, unsigned int);

static int sched_get(virDomainPtr d, virTypedParameterPtr p, int *n, unsigned int f)
{
    if (!p) {
        char *t = virDomainGetSchedulerType(d, n);
        free(t);
        return t ? 0 : -1;
    }
    if (vmsec__conn_takes_no_flags(virDomainGetConnect(d)))
        return virDomainGetSchedulerParameters(d, p, n);
    if (virDomainGetSchedulerParametersFlags(d, p, n, f) == 0)
        return 0;
    return virGetLastErrorCode() == VIR_ERR_INVALID_ARG ? virDomainGetSchedulerParameters(d, p, n) : -1;
}

static int fetch(struct vmsec__verify *v, getparams_fn fn, virTypedParameterPtr *out, int *n)
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

static int lv_sched(struct vmsec__verify *v)
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

static int lv_memory(struct vmsec__verify *v)
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
        vmsec__verify_bytes_text(l->value, e);
        t = tp_find(ps, n, vmsec__memory_param_names[m]);
        if (!t || t->type != VIR_TYPED_PARAM_ULLONG) {
            rc = vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, vmsec__memory_limit_keys[m], e, NULL, "libvirt",
                                   "cannot be checked here (not reported by this driver)");
            continue;
        }
        cur = t->value.ul >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED ? VMSEC_PROFILE_UNLIMITED : t->value.ul * 1024;
        vmsec__verify_bytes_text(cur, a);
        rc = vmsec__verify_entry(v, cur == l->value, vmsec__memory_limit_keys[m], e, a, "libvirt");
    }
    virTypedParamsFree(ps, n);
    return rc;
}

static int lv_numa(struct vmsec__verify *v)
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
        rc = vmsec__verify_entry(v, got && mode == (long long)v->p->numa_mode.value, "numa.mode", e, a, "libvirt");
    }
    if (rc == 0 && v->p->numa_nodeset.set) {
        const virTypedParameter *t = tp_find(ps, n, VIR_DOMAIN_NUMA_NODESET);
        const char *a = t && t->type == VIR_TYPED_PARAM_STRING && t->value.s ? t->value.s : "";
        vmsec_cpuset cur;
        char why[VMSEC_CPUSET_WHY_MAX];
        bool ok = vmsec__cpuset_parse(&cur, a, strlen(a), VMSEC_CPUSET_ALLOW_EMPTY, why, sizeof(why)) == 0 &&
                  vmsec__cpuset_equal(&cur, &v->p->numa_nodeset.value);
        vmsec__cpuset_format(&v->p->numa_nodeset.value, vmsec__verify_tbuf[0], sizeof(vmsec__verify_tbuf[0]));
        rc = vmsec__verify_entry(v, ok, "numa.nodeset", vmsec__verify_tbuf[0], *a ? a : "(none)", "libvirt");
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

/* libvirt 9.0 reads a running domain's blkio parameters in one call that starts with the weight,
 * and fails outright ("valid only for bfq or cfq scheduler") where the domain's cgroup has none:
 * then the weight is not enforced, and the device values come from the live XML (domain_blkio.c). */
static int lv_blkio_fallback(struct vmsec__verify *v, virTypedParameterPtr *ps, int *n, char *why, size_t size)
{
    const char *m = virGetLastErrorMessage();
    char first[512];
    snprintf(first, sizeof(first), "%s", vmsec_error_last());
    snprintf(why, size, "%s", m && *m ? m : "unknown libvirt error");
    if (virGetLastErrorCode() != VIR_ERR_OPERATION_INVALID)
        return vmsec__error(VMSEC_ELIBVIRT, "%s", first);
    if (vmsec__blkio_params_from_xml(v->d, ps, n) < 0)
        return vmsec__error(VMSEC_ELIBVIRT, "%s (nor from its live XML: %s)", first, vmsec_error_last());
    return 0;
}

static int lv_blkio(struct vmsec__verify *v)
{
    virTypedParameterPtr ps;
    char why[512] = "";
    const char *src = "libvirt";
    int n, rc = 0;

    if (!v->p->blkio_weight.set && !v->p->n_blkio_devices)
        return 0;
    if ((rc = fetch(v, virDomainGetBlkioParameters, &ps, &n)) == VMSEC_ELIBVIRT) {
        if ((rc = lv_blkio_fallback(v, &ps, &n, why, sizeof(why))) < 0)
            return rc;
        src = "libvirt live XML";
    }
    if (rc < 0)
        return rc;
    if (v->p->blkio_weight.set && *why) {
        long long cur;
        char e[32], a[32] = "(none)";
        snprintf(e, sizeof(e), "%" PRIu64, v->p->blkio_weight.value);
        if (tp_int(tp_find(ps, n, "weight"), &cur))
            snprintf(a, sizeof(a), "%lld", cur);
        rc = vmsec__report_add(v->r, VMSEC_STATUS_DRIFT, "blkio.weight", e, a, src,
                               "not enforced: libvirt cannot read or set a block I/O weight for this domain (%s); "
                               "the kernel gives one only through the bfq or cfq I/O scheduler",
                               why);
    } else if (v->p->blkio_weight.set) {
        rc = lv_num(v, ps, n, "weight", "blkio.weight", (long long)v->p->blkio_weight.value);
    }
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
            rc = vmsec__verify_entry(v, found && cur == dv->field[f].value, setting, e, a, src);
        }
    }
    virTypedParamsFree(ps, n);
    return rc;
}

/* Memory backing exists only in the XML: read it from the live (or stopped) definition. */
static int lv_backing(struct vmsec__verify *v)
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
        rc = vmsec__verify_entry(v, cur == p->memory_locked.value, "memory.locked",
                                 p->memory_locked.value ? "yes" : "no", cur ? "yes" : "no", "libvirt");
    }
    if (rc == 0 && p->nosharepages.set) {
        bool cur = vmsec__xml_child(mb, "nosharepages") != NULL;
        rc = vmsec__verify_entry(v, cur == p->nosharepages.value, "memory.nosharepages",
                                 p->nosharepages.value ? "yes" : "no", cur ? "yes" : "no", "libvirt");
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
        rc = vmsec__verify_entry(v, ok, "memory.hugepages.size", e, a, "libvirt");
        xmlFree(size);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* The record vmsec_domain_apply() leaves in the metadata: which profile the domain claims. */
static int lv_record(struct vmsec__verify *v)
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

/* A stopped domain: the configuration must already be what rendering the profile gives. */
static int config_side(struct vmsec__verify *v)
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
    struct vmsec__verify v = { .root = "", .d = d, .p = profile };
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
        rc = vmsec__verify_kernel_side(&v);
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
