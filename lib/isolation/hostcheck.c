/* SPDX-License-Identifier: ISC */
/* Host check: gather facts (this host's /proc and /sys, or libvirt for a remote one), then decide
 * whether they let the host enforce a profile. */
#include "config.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "isolation/hostcheck_internal.h"
#include "isolation/planner_internal.h"
#include "isolation/kprobe.h"
#include "isolation/virt.h"
#include "common/units.h"
#include "vmsec/hostcheck.h"

#define CAP_SYS_RESOURCE_BIT 24

static int read_set(const char *path, vmsec_cpuset *s)
{
    char buf[VMSEC_CPUSET_TEXT_MAX], why[VMSEC_CPUSET_WHY_MAX];
    if (vmsec__kread(path, buf, sizeof(buf)) < 0)
        return -1;
    return vmsec__cpuset_parse(s, buf, strlen(buf), VMSEC_CPUSET_ALLOW_EMPTY, why, sizeof(why));
}

/* CapEff bit and hard RLIMIT_MEMLOCK of a process, from /proc/<pid>/{status,limits}. */
static bool memlock_of(const char *root, const char *pid, struct vmsec__host_facts *f)
{
    char path[512], line[256];
    bool cap = false, lim = false;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/proc/%s/status", root, pid);
    if ((fp = fopen(path, "re"))) {
        while (fgets(line, sizeof(line), fp))
            if (strncmp(line, "CapEff:", 7) == 0) {
                unsigned long long v = strtoull(line + 7, NULL, 16);
                f->cap_sys_resource = (v >> CAP_SYS_RESOURCE_BIT) & 1;
                cap = true;
            }
        fclose(fp);
    }
    snprintf(path, sizeof(path), "%s/proc/%s/limits", root, pid);
    if ((fp = fopen(path, "re"))) {
        while (fgets(line, sizeof(line), fp)) {
            char soft[32], hard[32];
            if (strncmp(line, "Max locked memory", 17) != 0 || sscanf(line + 17, "%31s %31s", soft, hard) != 2)
                continue;
            f->memlock_hard = strcmp(hard, "unlimited") == 0 ? UINT64_MAX : strtoull(hard, NULL, 10);
            lim = true;
        }
        fclose(fp);
    }
    return cap && lim;
}

/* The daemon that starts QEMU is the one whose capabilities and limits matter. */
static void gather_memlock(const char *root, struct vmsec__host_facts *f)
{
    static const char *const pidfiles[][2] = {
        { "/run/libvirt/virtqemud.pid", "virtqemud" },
        { "/run/libvirtd.pid", "libvirtd" },
        { "/var/run/libvirtd.pid", "libvirtd" },
    };
    char path[512], pid[32];

    for (size_t i = 0; i < VMSEC_ARRAY_LEN(pidfiles); i++) {
        snprintf(path, sizeof(path), "%s%s", root, pidfiles[i][0]);
        if (vmsec__kread(path, pid, sizeof(pid)) == 0 && *pid && memlock_of(root, pid, f)) {
            snprintf(f->memlock_who, sizeof(f->memlock_who), "%s (pid %s)", pidfiles[i][1], pid);
            f->memlock_known = true;
            return;
        }
    }
    if (memlock_of(root, "self", f)) {
        snprintf(f->memlock_who, sizeof(f->memlock_who), "this process (no libvirt daemon found)");
        f->memlock_known = true;
    }
}

static void gather_hugepages(const char *root, struct vmsec__host_facts *f)
{
    char path[512], buf[64], line[256];
    struct dirent *de;
    DIR *d;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/sys/kernel/mm/hugepages", root);
    if ((d = opendir(path))) {
        while ((de = readdir(d)) && f->n_hp < VMSEC__HP_SIZES) {
            unsigned long long kb;
            char extra;
            if (sscanf(de->d_name, "hugepages-%llukB%c", &kb, &extra) != 1)
                continue;
            snprintf(path, sizeof(path), "%s/sys/kernel/mm/hugepages/%s/free_hugepages", root, de->d_name);
            if (vmsec__kread(path, buf, sizeof(buf)) < 0)
                continue;
            f->hp[f->n_hp].size = kb * 1024;
            f->hp[f->n_hp].free = strtoull(buf, NULL, 10);
            f->n_hp++;
        }
        closedir(d);
    }
    snprintf(path, sizeof(path), "%s/proc/meminfo", root);
    if ((fp = fopen(path, "re"))) {
        while (fgets(line, sizeof(line), fp)) {
            unsigned long long kb;
            if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
                f->hp_default = kb * 1024;
        }
        fclose(fp);
    }
}

static int block_cmp(const void *a, const void *b)
{
    return strcmp(((const struct vmsec__block_dev *)a)->name, ((const struct vmsec__block_dev *)b)->name);
}

/* The active scheduler of each block device: the bracketed word of queue/scheduler; by name, so
 * messages list them in a stable order. */
static void gather_block(const char *root, struct vmsec__host_facts *f)
{
    char path[512], buf[256];
    struct dirent *e;
    DIR *d;
    snprintf(path, sizeof(path), "%s/sys/block", root);
    if (!(d = opendir(path)))
        return;
    while ((e = readdir(d)) && f->n_block < VMSEC__BLOCK_DEVS) {
        const char *open_b, *close_b;
        struct vmsec__block_dev *b = &f->block[f->n_block];
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(b->name))
            continue;
        snprintf(path, sizeof(path), "%s/sys/block/%s/queue/scheduler", root, e->d_name);
        if (vmsec__kread(path, buf, sizeof(buf)) < 0 || !(open_b = strchr(buf, '[')) ||
            !(close_b = strchr(open_b, ']')) || (size_t)(close_b - open_b - 1) >= sizeof(b->sched))
            continue;
        snprintf(b->name, sizeof(b->name), "%s", e->d_name);
        snprintf(b->sched, sizeof(b->sched), "%.*s", (int)(close_b - open_b - 1), open_b + 1);
        f->n_block++;
    }
    closedir(d);
    qsort(f->block, f->n_block, sizeof(f->block[0]), block_cmp);
}

int vmsec__host_facts_local(const char *root, struct vmsec__host_facts *f)
{
    char path[512], buf[32];

    memset(f, 0, sizeof(*f));
    f->ksm_run = -1;
    snprintf(path, sizeof(path), "%s/sys/devices/system/cpu/online", root);
    f->cpus_known = read_set(path, &f->cpus_online) == 0;
    snprintf(path, sizeof(path), "%s/sys/devices/system/node/online", root);
    f->nodes_known = read_set(path, &f->nodes_online) == 0;
    if (!f->nodes_known) { /* a kernel without NUMA has exactly node 0 */
        vmsec__cpuset_zero(&f->nodes_online);
        vmsec__cpuset_add(&f->nodes_online, 0);
        f->nodes_known = true;
    }
    f->cg_mask = vmsec__cg_host_controllers(root, &f->cg_version);
    gather_memlock(root, f);
    gather_hugepages(root, f);
    gather_block(root, f);
    snprintf(path, sizeof(path), "%s/sys/kernel/mm/ksm/run", root);
    if (vmsec__kread(path, buf, sizeof(buf)) == 0)
        f->ksm_run = atoi(buf);
    return 0;
}

int vmsec__host_facts_libvirt(virConnectPtr conn, const char *why, struct vmsec__host_facts *f)
{
    unsigned char *map = NULL;
    unsigned int online = 0;
    char *caps;
    int n;

    memset(f, 0, sizeof(*f));
    f->ksm_run = -1;
    snprintf(f->unknown_why, sizeof(f->unknown_why), "%s", why);
    n = virNodeGetCPUMap(conn, &map, &online, 0);
    if (n >= 0) {
        f->cpus_known = vmsec__cpuset_from_cpumap(&f->cpus_online, map, ((size_t)n + 7) / 8) == 0;
        free(map);
    }
    caps = virConnectGetCapabilities(conn);
    if (caps) {
        xmlDocPtr doc = xmlReadMemory(caps, (int)strlen(caps), "capabilities.xml", NULL, XML_PARSE_NONET);
        xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
        xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression(XC("/capabilities/host/topology/cells/cell/@id"), ctx) : NULL;
        vmsec__cpuset_zero(&f->nodes_online);
        if (o && o->nodesetval && o->nodesetval->nodeNr > 0) {
            for (int i = 0; i < o->nodesetval->nodeNr; i++) {
                xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
                if (v)
                    vmsec__cpuset_add(&f->nodes_online, (unsigned)atoi((const char *)v));
                xmlFree(v);
            }
        } else {
            vmsec__cpuset_add(&f->nodes_online, 0);
        }
        f->nodes_known = true;
        xmlXPathFreeObject(o);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        free(caps);
    }
    virResetLastError();
    return 0;
}

int vmsec__host_facts_for(virConnectPtr conn, struct vmsec__host_facts *f)
{
    char why[64];
    if (conn && !vmsec__conn_is_local(conn, why, sizeof(why)))
        return vmsec__host_facts_libvirt(conn, why, f);
    return vmsec__host_facts_local("", f);
}

/* ---- evaluation -------------------------------------------------------------------------------- */

struct problems {
    char msg[4096];
    size_t len;
    unsigned int n;
};

static int problem(struct problems *pr, struct vmsec_report *r, const char *setting, const char *expected,
                   const char *actual, const char *fmt, ...) VMSEC_PRINTF(6, 7);

static int problem(struct problems *pr, struct vmsec_report *r, const char *setting, const char *expected,
                   const char *actual, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    pr->n++;
    if (pr->len < sizeof(pr->msg)) {
        int w = snprintf(pr->msg + pr->len, sizeof(pr->msg) - pr->len, "\n  - %s: %s", setting, detail);
        if (w > 0)
            pr->len += (size_t)w;
    }
    return vmsec__report_add(r, VMSEC_STATUS_PROBLEM, setting, expected, actual, "host", "%s", detail);
}

static void set_text(const vmsec_cpuset *s, char *buf, size_t size)
{
    vmsec__cpuset_format(s, buf, size);
}

/* Adds every CPU the profile pins to into `need`. */
static void pinned_cpus(const struct vmsec_profile *p, vmsec_cpuset *need)
{
    vmsec__cpuset_zero(need);
    for (size_t i = 0; i < p->n_vcpu_pins; i++)
        for (unsigned c = 0; c < VMSEC_CPUSET_MAX; c++)
            if (vmsec__cpuset_has(&p->vcpu_pins[i].cpus, c))
                vmsec__cpuset_add(need, c);
    for (size_t i = 0; i < p->n_iothread_pins; i++)
        for (unsigned c = 0; c < VMSEC_CPUSET_MAX; c++)
            if (vmsec__cpuset_has(&p->iothread_pins[i].cpus, c))
                vmsec__cpuset_add(need, c);
    if (p->emulator_pin.set)
        for (unsigned c = 0; c < VMSEC_CPUSET_MAX; c++)
            if (vmsec__cpuset_has(&p->emulator_pin.value, c))
                vmsec__cpuset_add(need, c);
}

/* Appends "; profile <source>:<line>: <key> = <cpus>" to buf if the pin names a CPU in miss, so
 * the problem leads to the line to fix rather than only to the CPUs. */
static void locate_pin(const struct vmsec_profile *p, const vmsec_cpuset *cpus, unsigned int line, const char *key,
                       const vmsec_cpuset *miss, char *buf, size_t size)
{
    char t[64], where[1024];
    size_t len = strlen(buf);
    bool hit = false;
    for (unsigned c = 0; c < VMSEC_CPUSET_MAX && !hit; c++)
        hit = vmsec__cpuset_has(cpus, c) && vmsec__cpuset_has(miss, c);
    if (!hit || len >= size)
        return;
    if (vmsec__cpuset_format(cpus, t, sizeof(t)) >= sizeof(t))
        snprintf(t + sizeof(t) - 4, 4, "..."); /* a long list: the line is what matters */
    snprintf(buf + len, size - len, "; %s: %s = %s", vmsec__profile_where(p, line, where, sizeof(where)), key, t);
}

/* Every pin naming a CPU of miss, located in the profile. */
static void locate_pins(const struct vmsec_profile *p, const vmsec_cpuset *miss, char *buf, size_t size)
{
    char key[32];
    buf[0] = '\0';
    for (size_t i = 0; i < p->n_vcpu_pins; i++) {
        snprintf(key, sizeof(key), "vcpu.%u.pin", p->vcpu_pins[i].id);
        locate_pin(p, &p->vcpu_pins[i].cpus, p->vcpu_pins[i].line, key, miss, buf, size);
    }
    if (p->emulator_pin.set)
        locate_pin(p, &p->emulator_pin.value, p->emulator_pin.line, "emulator.pin", miss, buf, size);
    for (size_t i = 0; i < p->n_iothread_pins; i++) {
        snprintf(key, sizeof(key), "iothread.%u.pin", p->iothread_pins[i].id);
        locate_pin(p, &p->iothread_pins[i].cpus, p->iothread_pins[i].line, key, miss, buf, size);
    }
}

static int check_sets(const struct vmsec__host_facts *f, const struct vmsec_profile *p, struct vmsec_report *r,
                      struct problems *pr)
{
    static _Thread_local char need_t[VMSEC_CPUSET_TEXT_MAX], have_t[VMSEC_CPUSET_TEXT_MAX], miss_t[VMSEC_CPUSET_TEXT_MAX];
    static _Thread_local char where_t[512];
    vmsec_cpuset need, miss;
    int rc = 0;

    pinned_cpus(p, &need);
    if (!vmsec__cpuset_empty(&need)) {
        set_text(&need, need_t, sizeof(need_t));
        if (!f->cpus_known) {
            rc = vmsec__report_add(r, VMSEC_STATUS_UNCHECKED, "host.cpus", need_t, NULL, NULL,
                                   "cannot be checked here: the online CPUs are unknown");
        } else {
            set_text(&f->cpus_online, have_t, sizeof(have_t));
            miss = need;
            for (unsigned c = 0; c < VMSEC_CPUSET_MAX; c++)
                if (vmsec__cpuset_has(&f->cpus_online, c))
                    vmsec__cpuset_del(&miss, c);
            set_text(&miss, miss_t, sizeof(miss_t));
            locate_pins(p, &miss, where_t, sizeof(where_t));
            rc = vmsec__cpuset_empty(&miss)
                     ? vmsec__report_add(r, VMSEC_STATUS_OK, "host.cpus", need_t, have_t, "host",
                                         "every pinned CPU is online")
                     : problem(pr, r, "host.cpus", need_t, have_t,
                               "CPU(s) %s named by the pins do not exist or are offline (online: %s)%s", miss_t,
                               have_t, where_t);
        }
    }
    if (rc == 0 && p->numa_nodeset.set) {
        set_text(&p->numa_nodeset.value, need_t, sizeof(need_t));
        set_text(&f->nodes_online, have_t, sizeof(have_t));
        if (!f->nodes_known)
            rc = vmsec__report_add(r, VMSEC_STATUS_UNCHECKED, "host.numa_nodes", need_t, NULL, NULL,
                                   "cannot be checked here: the online NUMA nodes are unknown");
        else if (vmsec__cpuset_subset(&p->numa_nodeset.value, &f->nodes_online))
            rc = vmsec__report_add(r, VMSEC_STATUS_OK, "host.numa_nodes", need_t, have_t, "host",
                                   "every node of the nodeset is online");
        else
            rc = problem(pr, r, "host.numa_nodes", need_t, have_t,
                         "NUMA node(s) of nodeset %s do not exist or are offline (online: %s)", need_t, have_t);
    }
    return rc;
}

static int check_cgroups(const struct vmsec__host_facts *f, const struct vmsec_profile *p, struct vmsec_report *r,
                         struct problems *pr)
{
    bool need[VMSEC__CG_N] = { false };
    static const char *const why[VMSEC__CG_N] = {
        "CPU shares, periods and quotas", "the NUMA nodeset (cpuset.mems)", "memory limits", "block I/O tuning",
    };
    int rc = 0;

    need[VMSEC__CG_CPU] = p->cpu_shares.set;
    for (int s = 0; s < VMSEC__CPU_SCOPES; s++)
        need[VMSEC__CG_CPU] |= p->cpu_period[s].set || p->cpu_quota[s].set;
    need[VMSEC__CG_CPUSET] = p->numa_nodeset.set;
    for (int m = 0; m < VMSEC__MEM_LIMITS; m++)
        need[VMSEC__CG_MEMORY] |= p->memory_limit[m].set;
    need[VMSEC__CG_BLKIO] = p->blkio_weight.set || p->n_blkio_devices > 0;

    for (int c = 0; c < VMSEC__CG_N && rc == 0; c++) {
        char setting[64];
        if (!need[c])
            continue;
        snprintf(setting, sizeof(setting), "host.cgroup.%s", vmsec__cg_names[c]);
        if (*f->unknown_why)
            rc = vmsec__report_add(r, VMSEC_STATUS_UNCHECKED, setting, "present", NULL, NULL,
                                   "cannot be checked here (%s)", f->unknown_why);
        else if (c == VMSEC__CG_CPU && f->cg_version == 2 && p->cpu_shares.set && p->cpu_shares.value > 10000)
            rc = problem(pr, r, "host.cgroup.cpu", "cpu.weight <= 10000", "cgroup v2",
                         "cpu.shares %" PRIu64 " cannot be applied: libvirt writes it to cgroup v2 cpu.weight, "
                         "whose maximum is 10000", p->cpu_shares.value);
        else if (f->cg_mask & (1u << c))
            rc = vmsec__report_add(r, VMSEC_STATUS_OK, setting, "present", "present", "kernel",
                                   "cgroup v%d controller for %s", f->cg_version, why[c]);
        else
            rc = problem(pr, r, setting, "present", "absent",
                         "the %s cgroup controller needed for %s is not available", vmsec__cg_names[c], why[c]);
    }
    return rc;
}

static bool weight_sched(const char *sched)
{
    return strcmp(sched, "bfq") == 0 || strcmp(sched, "cfq") == 0;
}

/* The device's scheduler if /sys/block lists it by the path's last component (/dev/sda: sda),
 * else NULL (a partition, a symlink, or a device past the bound). */
static const char *device_sched(const struct vmsec__host_facts *f, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    for (size_t i = 0; i < f->n_block; i++)
        if (strcmp(f->block[i].name, base) == 0)
            return f->block[i].sched;
    return NULL;
}

/* On cgroup v1 libvirt 9.0 writes a device weight to blkio.weight_device (cfq) or
 * blkio.bfq.weight_device and fails when neither exists, which is so when the device's scheduler
 * is neither: say so before apply. A device /sys/block does not name is judged by the host: a
 * problem only when no block device uses bfq or cfq. */
static int check_blkio_weights(const struct vmsec__host_facts *f, const struct vmsec_profile *p,
                               struct vmsec_report *r, struct problems *pr)
{
    bool any = false;
    int rc = 0;
    if (*f->unknown_why || f->cg_version != 1 || f->n_block == 0 || !(f->cg_mask & (1u << VMSEC__CG_BLKIO)))
        return 0;
    for (size_t i = 0; i < f->n_block; i++)
        any |= weight_sched(f->block[i].sched);
    for (size_t i = 0; i < p->n_blkio_devices && rc == 0; i++) {
        const struct vmsec__blkio_device *dev = &p->blkio_devices[i];
        const struct vmsec__u64 *w = &dev->field[VMSEC_BLKIO_WEIGHT];
        const char *sched;
        char key[48], where[1024];
        if (!w->set || !dev->path)
            continue;
        sched = device_sched(f, dev->path);
        snprintf(key, sizeof(key), "blkio.device.%u.weight", dev->label);
        if (sched ? weight_sched(sched) : any)
            rc = vmsec__report_add(r, VMSEC_STATUS_OK, key, "bfq or cfq", sched ? sched : "bfq or cfq on the host",
                                   "kernel /sys/block", "cgroup v1 device weights go through the %s scheduler",
                                   sched ? sched : "bfq or cfq");
        else
            rc = problem(pr, r, key, "bfq or cfq", sched ? sched : "no bfq or cfq",
                         "%s: %s = %" PRIu64 ": %s uses the %s I/O scheduler; on cgroup v1 libvirt sets "
                         "device weights only through bfq or cfq", vmsec__profile_where(p, w->line, where, sizeof(where)), key,
                         w->value, sched ? dev->path : "no block device of the host", sched ? sched : "bfq or cfq");
    }
    return rc;
}

/* The active scheduler of every block device, devices grouped by scheduler:
 * "none (loop0, loop1); mq-deadline (vda)". Cut short with "..." if it does not fit. */
static void block_summary(const struct vmsec__host_facts *f, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < f->n_block && len < size; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(f->block[k].sched, f->block[i].sched) == 0;
        if (seen)
            continue;
        len += (size_t)snprintf(buf + len, size - len, "%s%s (", len ? "; " : "", f->block[i].sched);
        for (size_t k = i, n = 0; k < f->n_block && len < size; k++)
            if (strcmp(f->block[k].sched, f->block[i].sched) == 0)
                len += (size_t)snprintf(buf + len, size - len, "%s%s", n++ ? ", " : "", f->block[k].name);
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, ")");
    }
    if (len >= size && size > 4)
        snprintf(buf + size - 4, 4, "...");
}

/* The domain's block I/O weight is a proportional share only bfq (blkio.bfq.weight, io.bfq.weight)
 * or cfq (v1 blkio.weight, kernels before 5.0) enforce. Without either on any device libvirt 9.0
 * fails to set it ("valid only for bfq or cfq scheduler"), or sets a value nothing obeys: on
 * cgroup v1 that is a problem. On v2 iocost (io.weight) may enforce it where io.cost.qos enables
 * it, which this check does not read: unchecked. */
static int check_blkio_weight(const struct vmsec__host_facts *f, const struct vmsec_profile *p,
                              struct vmsec_report *r, struct problems *pr)
{
    const struct vmsec__u64 *w = &p->blkio_weight;
    char have[256], devs[512], where[1024];
    size_t len = 0;

    if (!w->set || *f->unknown_why || f->n_block == 0 || !(f->cg_mask & (1u << VMSEC__CG_BLKIO)))
        return 0;
    have[0] = '\0';
    for (size_t i = 0; i < f->n_block && len < sizeof(have); i++)
        if (weight_sched(f->block[i].sched))
            len += (size_t)snprintf(have + len, sizeof(have) - len, "%s%s: %s", len ? ", " : "", f->block[i].name,
                                    f->block[i].sched);
    if (len)
        return vmsec__report_add(r, VMSEC_STATUS_OK, "blkio.weight", "bfq or cfq", have, "kernel /sys/block",
                                 "enforced on the devices that use bfq or cfq (%s)", have);
    block_summary(f, devs, sizeof(devs));
    if (f->cg_version != 1)
        return vmsec__report_add(r, VMSEC_STATUS_UNCHECKED, "blkio.weight", "bfq or cfq", "no bfq or cfq", NULL,
                                 "cannot be checked here: no block device uses bfq (%s); on cgroup v2 only iocost "
                                 "enforces the weight where io.cost.qos enables it",
                                 devs);
    return problem(pr, r, "blkio.weight", "bfq or cfq", "no bfq or cfq",
                   "%s: blkio.weight = %" PRIu64 ": no block device of the host uses a proportional-weight I/O "
                   "scheduler (bfq or cfq), so the kernel cannot enforce a block I/O weight (schedulers: %s)",
                   vmsec__profile_where(p, w->line, where, sizeof(where)), w->value, devs);
}

/* Bytes QEMU must be allowed to lock when it starts, or 0 if nothing: libvirt raises QEMU's
 * RLIMIT_MEMLOCK to the hard limit when one is set, else to "unlimited" for <locked/>. */
static uint64_t memlock_needed(const struct vmsec_profile *p)
{
    const struct vmsec__u64 *hard = &p->memory_limit[VMSEC_MEMORY_HARD_LIMIT];
    if (hard->set && hard->value != VMSEC_PROFILE_UNLIMITED)
        return hard->value;
    if (p->memory_locked.set && p->memory_locked.value)
        return UINT64_MAX;
    return 0;
}

static void bytes_text(uint64_t b, char *buf)
{
    if (b == UINT64_MAX)
        strcpy(buf, "unlimited");
    else
        vmsec__size_format(b, buf);
}

static int check_memlock(const struct vmsec__host_facts *f, const struct vmsec_profile *p, unsigned int flags,
                         struct vmsec_report *r, struct problems *pr)
{
    uint64_t need = memlock_needed(p);
    char need_t[VMSEC_UNITS_TEXT_MAX + 16], have_t[VMSEC_UNITS_TEXT_MAX + 64];

    /* Only QEMU's start applies the limit: a live change on a running domain needs nothing. */
    if (!need || (!(flags & VMSEC_AFFECT_CONFIG) && f->domain_running))
        return 0;
    bytes_text(need, need_t);
    if (*f->unknown_why)
        return vmsec__report_add(r, VMSEC_STATUS_UNCHECKED, "host.memlock", need_t, NULL, NULL,
                                 "cannot be checked here (%s)", f->unknown_why);
    if (!f->memlock_known)
        return vmsec__report_add(r, VMSEC_STATUS_UNCHECKED, "host.memlock", need_t, NULL, NULL,
                                 "cannot be checked here: the daemon's capabilities and limits are unreadable");
    bytes_text(f->memlock_hard, have_t);
    if (f->cap_sys_resource)
        return vmsec__report_add(r, VMSEC_STATUS_OK, "host.memlock", need_t, "CAP_SYS_RESOURCE", "host",
                                 "%s may raise QEMU's RLIMIT_MEMLOCK", f->memlock_who);
    if (f->memlock_hard >= need)
        return vmsec__report_add(r, VMSEC_STATUS_OK, "host.memlock", need_t, have_t, "host",
                                 "the hard RLIMIT_MEMLOCK of %s covers it", f->memlock_who);
    return problem(pr, r, "host.memlock", need_t, have_t,
                   "memory locking is not permitted: QEMU must lock %s but %s lacks CAP_SYS_RESOURCE and its "
                   "hard RLIMIT_MEMLOCK is %s (libvirt would fail with \"cannot limit locked memory\")",
                   need_t, f->memlock_who, have_t);
}

static int check_hugepages(const struct vmsec__host_facts *f, const struct vmsec_profile *p, struct vmsec_report *r,
                           struct problems *pr)
{
    char size_t_[VMSEC_UNITS_TEXT_MAX], need_t[64], have_t[64];
    uint64_t size;
    size_t i;

    if (!p->hugepage_size.set)
        return 0;
    size = p->hugepage_size.value == VMSEC__HUGEPAGE_DEFAULT ? f->hp_default : p->hugepage_size.value;
    if (*f->unknown_why)
        return vmsec__report_add(r, VMSEC_STATUS_UNCHECKED, "host.hugepages", NULL, NULL, NULL,
                                 "cannot be checked here (%s)", f->unknown_why);
    if (!size)
        return problem(pr, r, "host.hugepages", "default", "none",
                       "huge pages are not supported by this kernel (no default huge page size)");
    vmsec__size_format(size, size_t_);
    for (i = 0; i < f->n_hp && f->hp[i].size != size; i++)
        ;
    if (i == f->n_hp)
        return problem(pr, r, "host.hugepages", size_t_, "none", "the host has no %s huge pages", size_t_);
    if (f->guest_memory && !f->domain_running) {
        uint64_t pages = (f->guest_memory + size - 1) / size;
        snprintf(need_t, sizeof(need_t), "%" PRIu64 " x %s", pages, size_t_);
        snprintf(have_t, sizeof(have_t), "%" PRIu64 " free", f->hp[i].free);
        if (f->hp[i].free < pages)
            return problem(pr, r, "host.hugepages", need_t, have_t,
                           "not enough free %s huge pages: the guest needs %" PRIu64 ", %" PRIu64 " are free",
                           size_t_, pages, f->hp[i].free);
        return vmsec__report_add(r, VMSEC_STATUS_OK, "host.hugepages", need_t, have_t, "host", "enough are free");
    }
    snprintf(have_t, sizeof(have_t), "%" PRIu64 " free", f->hp[i].free);
    if (f->hp[i].free == 0 && !f->domain_running)
        return problem(pr, r, "host.hugepages", size_t_, have_t, "no %s huge page is free", size_t_);
    return vmsec__report_add(r, VMSEC_STATUS_OK, "host.hugepages", size_t_, have_t, "host",
                             "the page size exists%s", f->domain_running ? " (domain running: counted at next boot)" : "");
}

static int check_ksm(const struct vmsec__host_facts *f, const struct vmsec_profile *p, struct vmsec_report *r)
{
    char actual[32];
    if (!p->nosharepages.set)
        return 0;
    if (f->ksm_run < 0)
        return vmsec__report_add(r, VMSEC_STATUS_UNCHECKED, "host.ksm", NULL, NULL, NULL,
                                 "cannot be checked here (%s)", *f->unknown_why ? f->unknown_why : "no KSM in this kernel");
    snprintf(actual, sizeof(actual), "run=%d", f->ksm_run);
    if (p->nosharepages.value)
        return vmsec__report_add(r, VMSEC_STATUS_OK, "host.ksm", "no merging", actual, "kernel /sys/kernel/mm/ksm/run",
                                 "%s", f->ksm_run == 1 ? "KSM runs; the guest opts out of merging (mem-merge=off)"
                                                      : "KSM is not running; the guest opts out of merging anyway");
    return vmsec__report_add(r, VMSEC_STATUS_OK, "host.ksm", "merging allowed", actual, "kernel /sys/kernel/mm/ksm/run",
                             "%s", f->ksm_run == 1 ? "KSM runs and may merge guest pages" : "KSM is not running: no merging happens");
}

int vmsec__host_evaluate(const struct vmsec__host_facts *f, const struct vmsec_profile *p, unsigned int flags,
                         struct vmsec_report *r)
{
    struct problems pr = { .len = 0, .n = 0 };
    int rc;

    if (!flags)
        flags = VMSEC_AFFECT_LIVE | VMSEC_AFFECT_CONFIG;
    if ((rc = check_sets(f, p, r, &pr)) < 0 || (rc = check_cgroups(f, p, r, &pr)) < 0 ||
        (rc = check_blkio_weight(f, p, r, &pr)) < 0 || (rc = check_blkio_weights(f, p, r, &pr)) < 0 ||
        (rc = check_memlock(f, p, flags, r, &pr)) < 0 || (rc = check_hugepages(f, p, r, &pr)) < 0 ||
        (rc = check_ksm(f, p, r)) < 0)
        return rc;
    if (pr.n)
        return vmsec__error(VMSEC_EHOST, "host cannot enforce profile %s (%u problem%s):%s",
                            p->name.set ? p->name.value : p->source ? p->source : "<unnamed>", pr.n,
                            pr.n == 1 ? "" : "s", pr.msg);
    return 0;
}

int vmsec_host_check(const char *uri, const vmsec_profile *profile, unsigned int flags, vmsec_report **report)
{
    struct vmsec__host_facts *f;
    struct vmsec_report *r;
    virConnectPtr conn = NULL;
    int rc;

    if (report)
        *report = NULL;
    if (!profile)
        return vmsec__error(VMSEC_EINVAL, "vmsec_host_check: profile is NULL");
    if ((rc = vmsec__profile_validate(profile)) < 0)
        return rc;
    if ((rc = vmsec__profile_refuse_intent(profile)) < 0) /* planner: intent needs planning first */
        return rc;
    if (!(f = malloc(sizeof(*f))) || !(r = vmsec__report_new())) {
        free(f);
        return vmsec__error(VMSEC_ENOMEM, "out of memory checking the host");
    }
    if (uri) {
        conn = virConnectOpen(uri);
        if (!conn) {
            const char *m = virGetLastErrorMessage();
            free(f);
            vmsec_report_free(r);
            return vmsec__error(VMSEC_ELIBVIRT, "cannot connect to %s: %s", uri, m ? m : "unknown libvirt error");
        }
        virConnSetErrorFunc(conn, NULL, vmsec__libvirt_quiet);
    }
    rc = vmsec__host_facts_for(conn, f);
    if (rc == 0)
        rc = vmsec__host_evaluate(f, profile, flags, r);
    if (conn)
        virConnectClose(conn);
    free(f);
    if (report && (rc == 0 || rc == VMSEC_EHOST))
        *report = r;
    else
        vmsec_report_free(r);
    return rc;
}
