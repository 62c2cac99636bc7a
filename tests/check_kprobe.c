/* SPDX-License-Identifier: ISC */
/* Kernel probes on fixture trees (cgroup v1 hybrid and v2 unified layouts): locating a domain's
 * cgroups, classifying QEMU threads, finding the QEMU process, and the kernel half of verify. */
#include <sys/stat.h>

#include <vmsec.h>

#include "isolation/domain_internal.h"
#include "isolation/hostcheck_internal.h"
#include "isolation/kprobe.h"
#include "testutil.h"

static char v1[PATH_MAX], v2[PATH_MAX];

static void setup(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(v1, sizeof(v1), "%s/tests/data/kprobe/v1", top ? top : ".");
    snprintf(v2, sizeof(v2), "%s/tests/data/kprobe/v2", top ? top : ".");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

START_TEST(locate_v1)
{
    struct vmsec__cgroups cg;
    ck_assert_int_eq(vmsec__cgroups_locate(v1, 4242, &cg), 0);
    for (int c = 0; c < VMSEC__CG_N; c++)
        ck_assert_int_eq(cg.ctl[c].version, 1);
    ck_assert(ends_with(cg.ctl[VMSEC__CG_CPU].dir, "/c/cpu/machine/qemu-1-d.libvirt-qemu"));
    ck_assert(ends_with(cg.ctl[VMSEC__CG_CPUSET].dir, "/c/cpuset/machine/qemu-1-d.libvirt-qemu"));
    ck_assert(ends_with(cg.ctl[VMSEC__CG_MEMORY].dir, "/c/memory/machine/qemu-1-d.libvirt-qemu"));
    ck_assert(ends_with(cg.ctl[VMSEC__CG_BLKIO].dir, "/c/io/machine/qemu-1-d.libvirt-qemu"));
    ck_assert_int_lt(vmsec__cgroups_locate(v1, 99999, &cg), 0); /* no such process */
}
END_TEST

START_TEST(locate_v2)
{
    struct vmsec__cgroups cg;
    ck_assert_int_eq(vmsec__cgroups_locate(v2, 777, &cg), 0);
    for (int c = 0; c < VMSEC__CG_N; c++) {
        ck_assert_int_eq(cg.ctl[c].version, 2);
        ck_assert(ends_with(cg.ctl[c].dir, "/c/machine/qemu-1-d.libvirt-qemu"));
    }
}
END_TEST

START_TEST(host_controllers)
{
    int version;
    ck_assert_uint_eq(vmsec__cg_host_controllers(v1, &version), 0xfu);
    ck_assert_int_eq(version, 1);
    ck_assert_uint_eq(vmsec__cg_host_controllers(v2, &version), 0xfu);
    ck_assert_int_eq(version, 2);
}
END_TEST

START_TEST(classify)
{
    unsigned int id;
    ck_assert_int_eq(vmsec__thread_classify("CPU 3/KVM", &id), VMSEC__THREAD_VCPU);
    ck_assert_uint_eq(id, 3);
    ck_assert_int_eq(vmsec__thread_classify("CPU 12/TCG", &id), VMSEC__THREAD_VCPU);
    ck_assert_uint_eq(id, 12);
    ck_assert_int_eq(vmsec__thread_classify("IO iothread2", &id), VMSEC__THREAD_IOTHREAD);
    ck_assert_uint_eq(id, 2);
    ck_assert_int_eq(vmsec__thread_classify("IO mon_iothread", &id), VMSEC__THREAD_EMULATOR);
    ck_assert_int_eq(vmsec__thread_classify("qemu-system-x86", &id), VMSEC__THREAD_EMULATOR);
    ck_assert_int_eq(vmsec__thread_classify("CPU 1/KVM extra", &id), VMSEC__THREAD_EMULATOR);
    ck_assert_int_eq(vmsec__thread_classify("CPU x/KVM", &id), VMSEC__THREAD_EMULATOR);
}
END_TEST

START_TEST(threads)
{
    struct vmsec__thread *t;
    size_t n, vcpus = 0, emu = 0, io = 0;
    ck_assert_int_eq(vmsec__threads_list(v1, 4242, &t, &n), 0);
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++) {
        char set[64];
        vmsec__cpuset_format(&t[i].allowed, set, sizeof(set));
        if (t[i].kind == VMSEC__THREAD_VCPU) {
            vcpus++;
            ck_assert_str_eq(set, t[i].id == 0 ? "2" : "3");
        } else if (t[i].kind == VMSEC__THREAD_IOTHREAD) {
            io++;
            ck_assert_uint_eq(t[i].id, 1);
            ck_assert_str_eq(set, "1");
        } else {
            emu++;
            ck_assert_str_eq(set, "0-3");
        }
    }
    ck_assert_uint_eq(vcpus, 2);
    ck_assert_uint_eq(io, 1);
    ck_assert_uint_eq(emu, 3);
    free(t);
}
END_TEST

START_TEST(qemu_pid)
{
    ck_assert_int_eq(vmsec__qemu_pid(v1, "demo", "2f5c2a8e-5d0c-4b8a-9a55-0c3f3f1a6e01"), 4242);
    /* a pid file naming another domain's process is not trusted: /proc is scanned instead */
    ck_assert_int_eq(vmsec__qemu_pid(v1, "stale", "2F5C2A8E-5D0C-4B8A-9A55-0C3F3F1A6E01"), 4242);
    ck_assert_int_eq(vmsec__qemu_pid(v1, "demo", "11111111-2222-3333-4444-555555555555"), 0);
}
END_TEST

static vmsec_profile *profile(const char *text)
{
    vmsec_profile *p = NULL;
    ck_assert_msg(vmsec_profile_parse(&p, text, strlen(text), "fixture") == 0, "%s", vmsec_error_last());
    return p;
}

/* Finds the entry of a setting whose source ends with suffix. */
static int status_of(const vmsec_report *r, const char *setting, const char *src_suffix, const char **actual)
{
    for (size_t i = 0; i < vmsec_report_count(r); i++)
        if (strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SETTING), setting) == 0 &&
            ends_with(vmsec_report_field(r, i, VMSEC_REPORT_SOURCE), src_suffix)) {
            if (actual)
                *actual = vmsec_report_field(r, i, VMSEC_REPORT_ACTUAL);
            return vmsec_report_status(r, i);
        }
    ck_abort_msg("no entry for %s from ...%s", setting, src_suffix);
    return -1;
}

START_TEST(verify_kernel_v1)
{
    vmsec_profile *p = profile("vcpu.0.pin = 2\nvcpu.1.pin = 1\nemulator.pin = 0-3\niothread.1.pin = 1\n"
                               "cpu.shares = 512\ncpu.vcpu_period = 100000\ncpu.vcpu_quota = 50000\n"
                               "cpu.emulator_quota = 100000\ncpu.iothread_quota = 20000\n"
                               "memory.hard_limit = 1G\nmemory.soft_limit = 512M\n"
                               "numa.mode = strict\nnuma.nodeset = 0\nblkio.weight = 500\n");
    struct vmsec_report *r = vmsec__report_new();
    const char *actual;

    ck_assert_int_eq(vmsec__verify_kernel(v1, 4242, p, r), 0);
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "/task/4250/status", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "vcpu.0.pin", "vcpu0/cpuset.cpus", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "vcpu.1.pin", "/task/4251/status", &actual), VMSEC_STATUS_DRIFT);
    ck_assert_str_eq(actual, "3");
    ck_assert_int_eq(status_of(r, "vcpu.1.pin", "vcpu1/cpuset.cpus", NULL), VMSEC_STATUS_DRIFT);
    ck_assert_int_eq(status_of(r, "emulator.pin", "/task/*/status", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "iothread.1.pin", "/task/4260/status", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "cpu.shares", "qemu-1-d.libvirt-qemu/cpu.shares", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "cpu.vcpu_quota", "vcpu1/cpu.cfs_quota_us", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "cpu.vcpu_period", "vcpu0/cpu.cfs_period_us", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "cpu.emulator_quota", "emulator/cpu.cfs_quota_us", &actual), VMSEC_STATUS_DRIFT);
    ck_assert_str_eq(actual, "-1");
    ck_assert_int_eq(status_of(r, "cpu.iothread_quota", "iothread1/cpu.cfs_quota_us", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "memory.hard_limit", "memory.limit_in_bytes", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "memory.soft_limit", "memory.soft_limit_in_bytes", &actual), VMSEC_STATUS_DRIFT);
    ck_assert_str_eq(actual, "unlimited");
    ck_assert_int_eq(status_of(r, "numa.nodeset", "emulator/cpuset.mems", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "blkio.weight", "blkio.weight", &actual), VMSEC_STATUS_DRIFT);
    ck_assert_str_eq(actual, "300");
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(verify_kernel_v2)
{
    vmsec_profile *p = profile("cpu.shares = 512\ncpu.vcpu_quota = 50000\ncpu.emulator_period = 100000\n"
                               "cpu.global_quota = -1\nmemory.hard_limit = 1G\nmemory.soft_limit = 512M\n"
                               "memory.swap_hard_limit = unlimited\nnuma.mode = strict\nnuma.nodeset = 0\n"
                               "blkio.weight = 300\n");
    struct vmsec_report *r = vmsec__report_new();
    const char *actual;

    ck_assert_int_eq(vmsec__verify_kernel(v2, 777, p, r), 0);
    ck_assert_int_eq(status_of(r, "cpu.shares", "libvirt-qemu/cpu.weight", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "cpu.global_quota", "libvirt-qemu/cpu.max", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "cpu.emulator_period", "emulator/cpu.max", &actual), VMSEC_STATUS_DRIFT);
    ck_assert_str_eq(actual, "200000");
    ck_assert_int_eq(status_of(r, "memory.hard_limit", "memory.max", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "memory.soft_limit", "memory.high", &actual), VMSEC_STATUS_DRIFT);
    ck_assert_str_eq(actual, "unlimited");
    ck_assert_int_eq(status_of(r, "memory.swap_hard_limit", "memory.swap.max", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "numa.nodeset", "emulator/cpuset.mems", NULL), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "blkio.weight", "io.weight", NULL), VMSEC_STATUS_OK);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

/* The v1 fixture without blkio.weight: the domain's group exists, no scheduler weighs it. */
START_TEST(verify_kernel_weight_not_enforced)
{
    vmsec_profile *p = profile("cpu.shares = 512\nblkio.weight = 500\n");
    struct vmsec_report *r = vmsec__report_new();
    char tmp[PATH_MAX], cmd[4 * PATH_MAX];
    const char *actual = NULL, *detail = NULL;

    vt_tmpdir(tmp, sizeof(tmp));
    snprintf(cmd, sizeof(cmd), "cp -R '%s' '%s/v1' && rm '%s/v1/c/io/machine/qemu-1-d.libvirt-qemu/blkio.weight'", v1,
             tmp, tmp);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/v1", tmp);
    ck_assert_int_eq(vmsec__verify_kernel(cmd, 4242, p, r), 0);
    for (size_t i = 0; i < vmsec_report_count(r); i++)
        if (strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SETTING), "blkio.weight") == 0) {
            ck_assert_int_eq(vmsec_report_status(r, i), VMSEC_STATUS_DRIFT);
            ck_assert(ends_with(vmsec_report_field(r, i, VMSEC_REPORT_SOURCE), "/c/io/machine/qemu-1-d.libvirt-qemu"));
            actual = vmsec_report_field(r, i, VMSEC_REPORT_ACTUAL);
            detail = vmsec_report_field(r, i, VMSEC_REPORT_DETAIL);
        }
    ck_assert_str_eq(actual, "not enforced");
    ck_assert_str_eq(detail, "not enforced: the domain's blkio cgroup has neither blkio.weight nor blkio.bfq.weight, "
                             "which only the bfq or cfq I/O scheduler provides");
    ck_assert_int_eq(status_of(r, "cpu.shares", "qemu-1-d.libvirt-qemu/cpu.shares", NULL), VMSEC_STATUS_OK);
    vt_rmtree(tmp);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(verify_kernel_memory_backing)
{
    vmsec_profile *p = profile("memory.hard_limit = 1G\nmemory.locked = yes\nmemory.nosharepages = yes\n"
                               "memory.hugepages.size = 2M\n");
    struct vmsec_report *r = vmsec__report_new();
    const char *actual;

    /* v1 fixture: 96 MiB locked, one mergeable mapping, one hugetlb mapping */
    ck_assert_int_eq(vmsec__verify_kernel(v1, 4242, p, r), 0);
    ck_assert_int_eq(status_of(r, "memory.locked", "/proc/4242/status", &actual), VMSEC_STATUS_OK);
    ck_assert_str_eq(actual, "VmLck 98304 kB");
    ck_assert_int_eq(status_of(r, "memory.nosharepages", "/proc/4242/smaps", &actual), VMSEC_STATUS_DRIFT);
    ck_assert_str_eq(actual, "mergeable mappings");
    ck_assert_int_eq(status_of(r, "memory.hugepages.size", "/proc/4242/smaps", NULL), VMSEC_STATUS_OK);
    vmsec_report_free(r);
    /* v2 fixture: no VmLck line and no smaps: not checkable rather than a false drift */
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__verify_kernel(v2, 777, p, r), 0);
    ck_assert_int_eq(status_of(r, "memory.locked", "kernel", NULL), VMSEC_STATUS_UNCHECKED);
    ck_assert_int_eq(status_of(r, "memory.nosharepages", "kernel", NULL), VMSEC_STATUS_UNCHECKED);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(host_facts_fixture)
{
    struct vmsec__host_facts f;
    char set[64];
    ck_assert_int_eq(vmsec__host_facts_local(v1, &f), 0);
    ck_assert(f.cpus_known);
    vmsec__cpuset_format(&f.cpus_online, set, sizeof(set));
    ck_assert_str_eq(set, "0-3");
    vmsec__cpuset_format(&f.nodes_online, set, sizeof(set));
    ck_assert_str_eq(set, "0");
    ck_assert_uint_eq(f.cg_mask, 0xfu);
    ck_assert(f.memlock_known);
    ck_assert(!f.cap_sys_resource);
    ck_assert_uint_eq(f.memlock_hard, 8388608u);
    ck_assert_ptr_nonnull(strstr(f.memlock_who, "libvirtd (pid 555)"));
    ck_assert_uint_eq(f.hp_default, 2048u * 1024);
    ck_assert_uint_eq(f.n_hp, 2);
    ck_assert_int_eq(f.ksm_run, 1);
    /* the active scheduler of each block device */
    ck_assert_uint_eq(f.n_block, 2);
    for (size_t i = 0; i < f.n_block; i++)
        ck_assert_str_eq(f.block[i].sched, strcmp(f.block[i].name, "vda") == 0 ? "mq-deadline" : "bfq");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kprobe");
    TCase *tc = tcase_create("kprobe");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, locate_v1);
    tcase_add_test(tc, locate_v2);
    tcase_add_test(tc, host_controllers);
    tcase_add_test(tc, classify);
    tcase_add_test(tc, threads);
    tcase_add_test(tc, qemu_pid);
    tcase_add_test(tc, verify_kernel_v1);
    tcase_add_test(tc, verify_kernel_v2);
    tcase_add_test(tc, verify_kernel_weight_not_enforced);
    tcase_add_test(tc, verify_kernel_memory_backing);
    tcase_add_test(tc, host_facts_fixture);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
