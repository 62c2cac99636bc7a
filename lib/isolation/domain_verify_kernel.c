/* SPDX-License-Identifier: ISC */
/* Verifying a profile, kernel side: what the kernel enforces for the domain's QEMU process
 * (cgroup files, thread affinity, locked and mergeable memory, huge pages). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "isolation/domain_internal.h"
#include "isolation/domain_verify.h"
#include "isolation/kprobe.h"
#include "isolation/virt.h"

_Thread_local char vmsec__verify_tbuf[2][VMSEC_CPUSET_TEXT_MAX];

/* cgroup v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is unlimited. */
#define V1_UNLIMITED_FLOOR (1ull << 62)

static int unchecked(struct vmsec__verify *v, const char *setting, const char *expected, const char *why)
{
    return vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, setting, expected, NULL, "kernel",
                             "cannot be checked here (%s)", why);
}

static int k_threads(struct vmsec__verify *v, int kind, unsigned int id, bool any_id, const vmsec_cpuset *want,
                     const char *setting)
{
    vmsec__cpuset_format(want, vmsec__verify_tbuf[0], sizeof(vmsec__verify_tbuf[0]));
    size_t seen = 0;
    for (size_t i = 0; i < v->n_threads; i++) {
        const struct vmsec__thread *t = &v->threads[i];
        char src[128];
        if (t->kind != kind || (!any_id && t->id != id))
            continue;
        seen++;
        if (vmsec__cpuset_equal(&t->allowed, want) && kind == VMSEC__THREAD_EMULATOR)
            continue; /* emulator threads are many: only drifted ones get their own line */
        vmsec__cpuset_format(&t->allowed, vmsec__verify_tbuf[1], sizeof(vmsec__verify_tbuf[1]));
        snprintf(src, sizeof(src), "kernel /proc/%ld/task/%ld/status", v->pid, t->tid);
        if (vmsec__verify_entry(v, vmsec__cpuset_equal(&t->allowed, want), setting, vmsec__verify_tbuf[0],
                                vmsec__verify_tbuf[1], src) < 0)
            return VMSEC_ENOMEM;
    }
    if (!seen)
        return vmsec__report_add(v->r, VMSEC_STATUS_DRIFT, setting, vmsec__verify_tbuf[0], "no such thread", "kernel",
                                 "QEMU process %ld has no matching thread", v->pid);
    if (kind == VMSEC__THREAD_EMULATOR && vmsec_report_count(v->r) &&
        strcmp(vmsec_report_field(v->r, vmsec_report_count(v->r) - 1, VMSEC_REPORT_SETTING), setting) != 0) {
        char src[64];
        snprintf(src, sizeof(src), "kernel /proc/%ld/task/*/status", v->pid);
        return vmsec__report_add(v->r, VMSEC_STATUS_OK, setting, vmsec__verify_tbuf[0], vmsec__verify_tbuf[0], src,
                                 "%zu emulator thread(s)", seen);
    }
    return 0;
}

/* Reads a cgroup file of controller c (dir relative to the domain group, "" for the group). */
static int k_file(struct vmsec__verify *v, int c, const char *sub, const char *file, char *path, size_t psize, char *val,
                  size_t vsize)
{
    int n = snprintf(path, psize, "%s%s%s/%s", v->cg.ctl[c].dir, *sub ? "/" : "", sub, file);
    if (n < 0 || (size_t)n >= psize)
        return -ENAMETOOLONG;
    return vmsec__kread(path, val, vsize);
}

static int k_compare(struct vmsec__verify *v, const char *setting, const char *expected, const char *path, int err,
                     const char *actual, bool ok)
{
    char src[PATH_MAX + 8];
    if (err < 0)
        return vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, setting, expected, NULL, "kernel",
                                 "cannot be checked here (cannot read %s: %s)", path, strerror(-err));
    snprintf(src, sizeof(src), "kernel %s", path);
    return vmsec__verify_entry(v, ok, setting, expected, actual, src);
}

static int k_missing(struct vmsec__verify *v, const char *setting, const char *expected, int c)
{
    return vmsec__report_add(v->r, VMSEC_STATUS_UNCHECKED, setting, expected, NULL, "kernel",
                             "cannot be checked here (no %s cgroup controller for this domain)", vmsec__cg_names[c]);
}

static int k_pins(struct vmsec__verify *v)
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
        vmsec__cpuset_format(&p->vcpu_pins[i].cpus, vmsec__verify_tbuf[0], sizeof(vmsec__verify_tbuf[0]));
        rc = k_compare(v, setting, vmsec__verify_tbuf[0], path, err, val,
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
static size_t scope_dirs(struct vmsec__verify *v, int scope, char (*sub)[32], size_t max)
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

static int k_cpu(struct vmsec__verify *v)
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

static int k_memory(struct vmsec__verify *v)
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
        vmsec__verify_bytes_text(l->value, e);
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
        vmsec__verify_bytes_text(cur, a);
        rc = k_compare(v, vmsec__memory_limit_keys[m], e, path, err, a, err == 0 && cur == l->value);
    }
    return rc;
}

static int k_numa(struct vmsec__verify *v)
{
    char path[PATH_MAX + 64], val[VMSEC_CPUSET_TEXT_MAX], why[VMSEC_CPUSET_WHY_MAX];
    vmsec_cpuset cur;
    int err;

    if (!v->p->numa_nodeset.set)
        return 0;
    vmsec__cpuset_format(&v->p->numa_nodeset.value, vmsec__verify_tbuf[0], sizeof(vmsec__verify_tbuf[0]));
    if (v->p->numa_mode.set && v->p->numa_mode.value != VMSEC_NUMA_STRICT &&
        v->p->numa_mode.value != VMSEC_NUMA_RESTRICTIVE)
        return unchecked(v, "numa.nodeset", vmsec__verify_tbuf[0], "only strict and restrictive modes use cpuset.mems");
    if (!v->cg.ctl[VMSEC__CG_CPUSET].version)
        return k_missing(v, "numa.nodeset", vmsec__verify_tbuf[0], VMSEC__CG_CPUSET);
    err = k_file(v, VMSEC__CG_CPUSET, "emulator", "cpuset.mems", path, sizeof(path), val, sizeof(val));
    if (err == 0 && !*val) /* v2 leaves cpuset.mems empty until set: the effective set applies */
        err = k_file(v, VMSEC__CG_CPUSET, "emulator", "cpuset.mems.effective", path, sizeof(path), val, sizeof(val));
    return k_compare(v, "numa.nodeset", vmsec__verify_tbuf[0], path, err, val,
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

static int k_blkio(struct vmsec__verify *v)
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
        char src[PATH_MAX + 8];
        struct stat st;
        uint64_t cur = 0;
        int err;
        snprintf(src, sizeof(src), "kernel %s", v->cg.ctl[VMSEC__CG_BLKIO].dir);
        snprintf(e, sizeof(e), "%" PRIu64, v->p->blkio_weight.value);
        if (version == 1) {
            err = k_file(v, VMSEC__CG_BLKIO, "", "blkio.weight", path, sizeof(path), val, sizeof(val));
            if (err == -ENOENT)
                err = k_file(v, VMSEC__CG_BLKIO, "", "blkio.bfq.weight", path, sizeof(path), val, sizeof(val));
            if (err == 0)
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
        if (err == -ENOENT && stat(v->cg.ctl[VMSEC__CG_BLKIO].dir, &st) == 0)
            /* The group exists without the files: only bfq or cfq adds them, so nothing weighs
             * the domain's I/O (and libvirt cannot set the weight). */
            rc = vmsec__report_add(v->r, VMSEC_STATUS_DRIFT, "blkio.weight", e, "not enforced", src,
                                   "not enforced: the domain's blkio cgroup has neither %s nor %s, which only the "
                                   "bfq or cfq I/O scheduler provides",
                                   version == 1 ? "blkio.weight" : "io.weight",
                                   version == 1 ? "blkio.bfq.weight" : "io.bfq.weight");
        else
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
static int k_backing(struct vmsec__verify *v)
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
        rc = vmsec__verify_entry(v, (vmlck > 0) == p->memory_locked.value, "memory.locked",
                                 p->memory_locked.value ? "yes" : "no", a, src);
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
        rc = vmsec__verify_entry(v, mergeable != p->nosharepages.value, "memory.nosharepages",
                                 p->nosharepages.value ? "yes" : "no",
                                 mergeable ? "mergeable mappings" : "no mergeable mapping", src);
    if (rc == 0 && p->hugepage_size.set)
        rc = vmsec__verify_entry(v, huge, "memory.hugepages.size", "huge pages",
                                 huge ? "hugetlb mappings" : "no hugetlb mapping", src);
    return rc;
}

/* Every setting the profile has, as "cannot be checked here (why)" on the kernel side. */
static int k_all_unchecked(struct vmsec__verify *v, const char *why)
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

static int kernel_checks(struct vmsec__verify *v);

int vmsec__verify_kernel_side(struct vmsec__verify *v)
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
    struct vmsec__verify v = { .root = root, .p = p, .r = r, .running = true, .pid = pid };
    int rc = kernel_checks(&v);
    free(v.threads);
    return rc;
}

static int kernel_checks(struct vmsec__verify *v)
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
