/* SPDX-License-Identifier: ISC */
/* Kernel probes: cgroup (v1 and v2) locations of a QEMU process and its threads' affinity. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/internal.h"
#include "isolation/kprobe.h"

const char *const vmsec__cg_names[VMSEC__CG_N] = { "cpu", "cpuset", "memory", "blkio" };
/* The v2 name of each controller. */
static const char *const v2_names[VMSEC__CG_N] = { "cpu", "cpuset", "memory", "io" };

int vmsec__kread(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    if (n < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    close(fd);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    return 0;
}

static bool has_word(const char *list, const char *word, char sep)
{
    size_t wl = strlen(word);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, sep);
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && memcmp(p, word, wl) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* One cgroup mount from mountinfo: its root inside the hierarchy, mount point, and for v1 the
 * super options (controller list). */
struct cgmount {
    int version;
    char root[PATH_MAX];
    char point[PATH_MAX];
    char opts[512];
};

static size_t read_mounts(const char *root, struct cgmount *m, size_t max)
{
    char path[PATH_MAX], line[4096];
    size_t n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
    if (!(f = fopen(path, "re")))
        return 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        /* id parent maj:min root point opts [optional...] - fstype source superopts */
        char mroot[PATH_MAX], point[PATH_MAX], fstype[64], super[512];
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", mroot, point) != 2 ||
            sscanf(dash + 3, "%63s %*s %511s", fstype, super) != 2)
            continue;
        if (strcmp(fstype, "cgroup") == 0)
            m[n].version = 1;
        else if (strcmp(fstype, "cgroup2") == 0)
            m[n].version = 2;
        else
            continue;
        snprintf(m[n].root, sizeof(m[n].root), "%s", mroot);
        snprintf(m[n].point, sizeof(m[n].point), "%s%s", root, point);
        snprintf(m[n].opts, sizeof(m[n].opts), "%s", super);
        n++;
    }
    fclose(f);
    return n;
}

/* Joins mount point and a cgroup path made relative to the mount's root. */
static void join(char *out, size_t size, const struct cgmount *m, const char *cgpath)
{
    size_t rl = strlen(m->root);
    if (strcmp(m->root, "/") != 0 && strncmp(cgpath, m->root, rl) == 0)
        cgpath += rl;
    if (strcmp(cgpath, "/") == 0)
        cgpath = "";
    snprintf(out, size, "%s%s", m->point, cgpath);
}

/* QEMU's main thread sits in the domain's emulator group: the domain group is its parent. */
static void strip_emulator(char *dir)
{
    size_t l = strlen(dir);
    if (l > 9 && strcmp(dir + l - 9, "/emulator") == 0)
        dir[l - 9] = '\0';
}

int vmsec__cgroups_locate(const char *root, long pid, struct vmsec__cgroups *out)
{
    struct cgmount mounts[32];
    size_t nm = read_mounts(root, mounts, VMSEC_ARRAY_LEN(mounts));
    char path[PATH_MAX], line[4096], v2path[PATH_MAX] = "";
    FILE *f;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "%s/proc/%ld/cgroup", root, pid);
    if (!(f = fopen(path, "re")))
        return vmsec__error_errno(VMSEC_EIO, errno, "cannot read %s", path);
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        c2[1 + strcspn(c2 + 1, "\n")] = '\0';
        if (strcmp(line, "0") == 0 && c2 == c1 + 1) { /* "0::path": the v2 hierarchy */
            snprintf(v2path, sizeof(v2path), "%s", c2 + 1);
            continue;
        }
        for (int c = 0; c < VMSEC__CG_N; c++) {
            if (!has_word(c1 + 1, vmsec__cg_names[c], ','))
                continue;
            for (size_t i = 0; i < nm; i++) {
                if (mounts[i].version == 1 && has_word(mounts[i].opts, vmsec__cg_names[c], ',')) {
                    out->ctl[c].version = 1;
                    join(out->ctl[c].dir, sizeof(out->ctl[c].dir), &mounts[i], c2 + 1);
                    strip_emulator(out->ctl[c].dir);
                    break;
                }
            }
        }
    }
    fclose(f);
    if (!*v2path)
        return 0;
    for (size_t i = 0; i < nm; i++) {
        char dir[PATH_MAX], ctrls[512];
        if (mounts[i].version != 2)
            continue;
        join(dir, sizeof(dir), &mounts[i], v2path);
        strip_emulator(dir);
        snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
        if (vmsec__kread(path, ctrls, sizeof(ctrls)) < 0)
            continue;
        for (int c = 0; c < VMSEC__CG_N; c++) {
            if (out->ctl[c].version || !has_word(ctrls, v2_names[c], ' '))
                continue;
            out->ctl[c].version = 2;
            snprintf(out->ctl[c].dir, sizeof(out->ctl[c].dir), "%s", dir);
        }
        break;
    }
    return 0;
}

unsigned int vmsec__cg_host_controllers(const char *root, int *version)
{
    struct cgmount mounts[32];
    size_t nm = read_mounts(root, mounts, VMSEC_ARRAY_LEN(mounts));
    unsigned int mask = 0;
    *version = 0;
    for (size_t i = 0; i < nm; i++) {
        if (mounts[i].version != 1)
            continue;
        for (int c = 0; c < VMSEC__CG_N; c++)
            if (has_word(mounts[i].opts, vmsec__cg_names[c], ','))
                mask |= 1u << c;
    }
    if (mask)
        *version = 1;
    for (size_t i = 0; i < nm; i++) {
        char path[PATH_MAX], ctrls[512];
        if (mounts[i].version != 2)
            continue;
        snprintf(path, sizeof(path), "%s/cgroup.controllers", mounts[i].point);
        if (vmsec__kread(path, ctrls, sizeof(ctrls)) < 0)
            continue;
        for (int c = 0; c < VMSEC__CG_N; c++)
            if (has_word(ctrls, v2_names[c], ' ') && !(mask & (1u << c))) {
                mask |= 1u << c;
                if (!*version)
                    *version = 2;
            }
    }
    return mask;
}

int vmsec__thread_classify(const char *comm, unsigned int *id)
{
    unsigned int n;
    char kind[8], extra;
    *id = 0;
    /* QEMU names vCPU threads "CPU <n>/<accel>" (KVM, TCG, HVF...). */
    if (sscanf(comm, "CPU %u/%7[A-Za-z]%c", &n, kind, &extra) == 2) {
        *id = n;
        return VMSEC__THREAD_VCPU;
    }
    /* libvirt names iothread objects "iothread<id>"; QEMU names their threads "IO <object id>". */
    if (sscanf(comm, "IO iothread%u%c", &n, &extra) == 1) {
        *id = n;
        return VMSEC__THREAD_IOTHREAD;
    }
    return VMSEC__THREAD_EMULATOR;
}

static int read_thread(const char *root, long pid, long tid, struct vmsec__thread *t)
{
    char path[PATH_MAX], line[VMSEC_CPUSET_TEXT_MAX + 64], why[VMSEC_CPUSET_WHY_MAX];
    FILE *f;
    bool found = false;

    t->tid = tid;
    snprintf(path, sizeof(path), "%s/proc/%ld/task/%ld/comm", root, pid, tid);
    if (vmsec__kread(path, t->comm, sizeof(t->comm)) < 0)
        return -1; /* the thread exited meanwhile */
    t->kind = vmsec__thread_classify(t->comm, &t->id);
    snprintf(path, sizeof(path), "%s/proc/%ld/task/%ld/status", root, pid, tid);
    if (!(f = fopen(path, "re")))
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
            char *v = line + 18;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            found = vmsec__cpuset_parse(&t->allowed, v, strlen(v), 0, why, sizeof(why)) == 0;
            break;
        }
    }
    fclose(f);
    return found ? 0 : -1;
}

int vmsec__threads_list(const char *root, long pid, struct vmsec__thread **out, size_t *n)
{
    char path[PATH_MAX];
    struct vmsec__thread *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    DIR *d;

    *out = NULL;
    *n = 0;
    snprintf(path, sizeof(path), "%s/proc/%ld/task", root, pid);
    if (!(d = opendir(path)))
        return vmsec__error_errno(VMSEC_EIO, errno, "cannot list the threads of process %ld (%s)", pid, path);
    while ((de = readdir(d))) {
        char *end;
        long tid = strtol(de->d_name, &end, 10);
        if (*end || tid <= 0)
            continue;
        if (cnt == cap) {
            struct vmsec__thread *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*nv));
            if (!nv) {
                free(v);
                closedir(d);
                return vmsec__error(VMSEC_ENOMEM, "out of memory listing threads");
            }
            v = nv;
        }
        if (read_thread(root, pid, tid, &v[cnt]) == 0)
            cnt++;
    }
    closedir(d);
    *out = v;
    *n = cnt;
    return 0;
}

/* True if /proc/pid/cmdline has the argument pair "-uuid" UUID. */
static bool cmdline_has_uuid(const char *root, long pid, const char *uuid)
{
    char path[PATH_MAX], buf[65536];
    ssize_t len;
    int fd;

    snprintf(path, sizeof(path), "%s/proc/%ld/cmdline", root, pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return false;
    buf[len] = '\0';
    for (char *p = buf; p < buf + len; p += strlen(p) + 1) {
        char *next = p + strlen(p) + 1;
        if (strcmp(p, "-uuid") == 0 && next < buf + len && strcasecmp(next, uuid) == 0)
            return true;
    }
    return false;
}

long vmsec__qemu_pid(const char *root, const char *name, const char *uuid)
{
    static const char *const dirs[] = { "/run/libvirt/qemu", "/var/run/libvirt/qemu" };
    char path[PATH_MAX], buf[32];
    struct dirent *de;
    DIR *d;
    long pid = 0;

    for (size_t i = 0; i < VMSEC_ARRAY_LEN(dirs); i++) {
        snprintf(path, sizeof(path), "%s%s/%s.pid", root, dirs[i], name);
        if (vmsec__kread(path, buf, sizeof(buf)) == 0) {
            long p = strtol(buf, NULL, 10);
            if (p > 0 && cmdline_has_uuid(root, p, uuid))
                return p;
        }
    }
    /* No usable pid file (another daemon layout, or a remote connection to this host). */
    snprintf(path, sizeof(path), "%s/proc", root);
    if (!(d = opendir(path)))
        return 0;
    while (!pid && (de = readdir(d))) {
        char *end;
        long p = strtol(de->d_name, &end, 10);
        if (!*end && p > 0 && cmdline_has_uuid(root, p, uuid))
            pid = p;
    }
    closedir(d);
    return pid;
}
