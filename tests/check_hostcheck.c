/* SPDX-License-Identifier: ISC */
/* Host check with injected host facts: every problem kind, all reported together in one error. */
#include <sys/stat.h>

#include <jansson.h>
#include <vmsec.h>

#include "isolation/hostcheck_internal.h"
#include "isolation/kprobe.h"
#include "isolation/virt.h"
#include "testutil.h"

static vmsec_profile *profile(const char *text)
{
    vmsec_profile *p = NULL;
    ck_assert_msg(vmsec_profile_parse(&p, text, strlen(text), "hc") == 0, "%s", vmsec_error_last());
    return p;
}

/* A capable 4-CPU, 2-node host with 2M pages free, cgroups v1, KSM running. */
static void good_host(struct vmsec__host_facts *f)
{
    char why[64];
    memset(f, 0, sizeof(*f));
    vmsec__cpuset_parse(&f->cpus_online, "0-3", 3, 0, why, sizeof(why));
    vmsec__cpuset_parse(&f->nodes_online, "0-1", 3, 0, why, sizeof(why));
    f->cpus_known = f->nodes_known = true;
    f->cg_mask = 0xf;
    f->cg_version = 1;
    f->memlock_known = true;
    snprintf(f->memlock_who, sizeof(f->memlock_who), "libvirtd (pid 1)");
    f->cap_sys_resource = true;
    f->memlock_hard = 8u << 20;
    f->n_hp = 1;
    f->hp[0].size = 2u << 20;
    f->hp[0].free = 1024;
    f->hp_default = 2u << 20;
    f->ksm_run = 1;
    f->guest_memory = 1u << 30;
}

static size_t count(const vmsec_report *r, int status)
{
    return vmsec_report_count_status(r, status);
}

static int status_of(const vmsec_report *r, const char *setting)
{
    for (size_t i = 0; i < vmsec_report_count(r); i++)
        if (strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SETTING), setting) == 0)
            return vmsec_report_status(r, i);
    return -1;
}

static const char *full = "vcpu.0.pin = 2\nemulator.pin = 0-1\nnuma.mode = strict\nnuma.nodeset = 1\n"
                          "cpu.shares = 100\nmemory.hard_limit = 2G\nmemory.locked = yes\n"
                          "memory.hugepages.size = 2M\nmemory.nosharepages = yes\nblkio.weight = 100\n";

START_TEST(capable_host_passes)
{
    struct vmsec__host_facts f;
    vmsec_profile *p = profile(full);
    struct vmsec_report *r = vmsec__report_new();
    good_host(&f);
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_uint_eq(count(r, VMSEC_STATUS_PROBLEM), 0);
    ck_assert_int_eq(status_of(r, "host.cpus"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "host.numa_nodes"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "host.cgroup.cpu"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "host.cgroup.memory"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "host.cgroup.blkio"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "host.memlock"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "host.hugepages"), VMSEC_STATUS_OK);
    ck_assert_int_eq(status_of(r, "host.ksm"), VMSEC_STATUS_OK);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(every_problem_in_one_error)
{
    struct vmsec__host_facts f;
    vmsec_profile *p = profile("vcpu.0.pin = 2,6\nnuma.mode = strict\nnuma.nodeset = 3\nmemory.hard_limit = 2G\n"
                               "memory.locked = yes\nmemory.hugepages.size = 1G\nblkio.weight = 100\n");
    struct vmsec_report *r = vmsec__report_new();
    const char *m;
    good_host(&f);
    f.cg_mask &= ~(1u << VMSEC__CG_BLKIO);
    f.cap_sys_resource = false; /* and the 8M hard limit is below the 2G to lock */
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, VMSEC_AFFECT_CONFIG, r), VMSEC_EHOST);
    m = vmsec_error_last();
    ck_assert_ptr_nonnull(strstr(m, "5 problems"));
    ck_assert_ptr_nonnull(strstr(m, "host.cpus: CPU(s) 6"));
    ck_assert_ptr_nonnull(strstr(m, "host.numa_nodes: NUMA node(s) of nodeset 3"));
    ck_assert_ptr_nonnull(strstr(m, "host.cgroup.blkio"));
    ck_assert_ptr_nonnull(strstr(m, "host.memlock: memory locking is not permitted"));
    ck_assert_ptr_nonnull(strstr(m, "CAP_SYS_RESOURCE"));
    ck_assert_ptr_nonnull(strstr(m, "host.hugepages: the host has no 1G huge pages"));
    ck_assert_uint_eq(count(r, VMSEC_STATUS_PROBLEM), 5);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(missing_cpus_name_the_pins_lines)
{
    /* The host has CPUs 0-3: the problem names each pin that needs another CPU by line and key. */
    struct vmsec__host_facts f;
    vmsec_profile *p = profile("vcpus = 2\nvcpu.0.pin = 1\n\nvcpu.1.pin = 64\nemulator.pin = 3-4\n"
                               "iothread.1.pin = 2\n");
    struct vmsec_report *r = vmsec__report_new();
    const char *m;
    good_host(&f);
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), VMSEC_EHOST);
    m = vmsec_error_last();
    ck_assert_ptr_nonnull(strstr(m, "1 problem"));
    ck_assert_ptr_nonnull(strstr(m, "host.cpus: CPU(s) 4,64"));
    ck_assert_ptr_nonnull(strstr(m, "; profile hc:4: vcpu.1.pin = 64"));
    ck_assert_ptr_nonnull(strstr(m, "; profile hc:5: emulator.pin = 3-4"));
    ck_assert_ptr_null(strstr(m, "vcpu.0.pin"));
    ck_assert_ptr_null(strstr(m, "iothread.1.pin"));
    ck_assert_int_eq(status_of(r, "host.cpus"), VMSEC_STATUS_PROBLEM);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

static void block_dev(struct vmsec__host_facts *f, const char *name, const char *sched)
{
    snprintf(f->block[f->n_block].name, sizeof(f->block[0].name), "%s", name);
    snprintf(f->block[f->n_block].sched, sizeof(f->block[0].sched), "%s", sched);
    f->n_block++;
}

START_TEST(blkio_device_weights_need_bfq_or_cfq_on_cgroup_v1)
{
    struct vmsec__host_facts f;
    vmsec_profile *p = profile("blkio.device.1.path = /dev/sda\nblkio.device.1.weight = 500\n"
                               "blkio.device.2.path = /dev/sdb\nblkio.device.2.read_iops_sec = 100\n");
    vmsec_profile *other = profile("blkio.device.3.path = /dev/mapper/vg-lv\nblkio.device.3.weight = 200\n");
    struct vmsec_report *r;
    const char *m;

    /* A bfq host: the weight can be applied. */
    good_host(&f);
    block_dev(&f, "sda", "bfq");
    block_dev(&f, "sdb", "mq-deadline");
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(status_of(r, "blkio.device.1.weight"), VMSEC_STATUS_OK);
    vmsec_report_free(r);
    /* mq-deadline: refused up front, naming the line, the setting and the reason. */
    good_host(&f);
    block_dev(&f, "sda", "mq-deadline");
    block_dev(&f, "sdb", "mq-deadline");
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), VMSEC_EHOST);
    m = vmsec_error_last();
    ck_assert_ptr_nonnull(strstr(m, "1 problem"));
    ck_assert_ptr_nonnull(strstr(m, "profile hc:2: blkio.device.1.weight = 500: /dev/sda uses the mq-deadline I/O "
                                    "scheduler; on cgroup v1 libvirt sets device weights only through bfq or cfq"));
    ck_assert_int_eq(status_of(r, "blkio.device.1.weight"), VMSEC_STATUS_PROBLEM);
    vmsec_report_free(r);
    /* A device /sys/block does not list: judged by the host's devices. */
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, other, 0, r), VMSEC_EHOST);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "no block device of the host uses the bfq or cfq I/O scheduler"));
    vmsec_report_free(r);
    block_dev(&f, "sdc", "cfq");
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, other, 0, r), 0);
    vmsec_report_free(r);
    /* cgroup v2 (io.weight) is not concerned. */
    f.n_block = 2;
    f.cg_version = 2;
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(status_of(r, "blkio.device.1.weight"), -1);
    vmsec_report_free(r);
    vmsec_profile_free(p);
    vmsec_profile_free(other);
}
END_TEST

static const char *detail_of(const vmsec_report *r, const char *setting)
{
    for (size_t i = 0; i < vmsec_report_count(r); i++)
        if (strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SETTING), setting) == 0)
            return vmsec_report_field(r, i, VMSEC_REPORT_DETAIL);
    return "";
}

START_TEST(blkio_weight_needs_a_proportional_scheduler)
{
    struct vmsec__host_facts f;
    vmsec_profile *p = profile("blkio.weight = 500\ncpu.shares = 100\n");
    struct vmsec_report *r;
    const char *m;

    /* This test host's shape: a virtio disk on mq-deadline, loop devices on none, cgroup v1. */
    good_host(&f);
    block_dev(&f, "loop0", "none");
    block_dev(&f, "vda", "mq-deadline");
    block_dev(&f, "loop1", "none");
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), VMSEC_EHOST);
    m = vmsec_error_last();
    ck_assert_ptr_nonnull(strstr(m, "1 problem"));
    ck_assert_ptr_nonnull(strstr(m, "blkio.weight: profile hc:1: blkio.weight = 500: no block device of the host "
                                    "uses a proportional-weight I/O scheduler (bfq or cfq), so the kernel cannot "
                                    "enforce a block I/O weight (schedulers: none (loop0, loop1); mq-deadline (vda))"));
    ck_assert_int_eq(status_of(r, "blkio.weight"), VMSEC_STATUS_PROBLEM);
    ck_assert_int_eq(status_of(r, "host.cgroup.cpu"), VMSEC_STATUS_OK); /* the rest is still checked */
    vmsec_report_free(r);
    /* One bfq device is enough: the weight is enforced there, and the entry says where. */
    block_dev(&f, "sdb", "bfq");
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(status_of(r, "blkio.weight"), VMSEC_STATUS_OK);
    ck_assert_str_eq(detail_of(r, "blkio.weight"), "enforced on the devices that use bfq or cfq (sdb: bfq)");
    vmsec_report_free(r);
    f.n_block = 3;
    block_dev(&f, "sda", "cfq");
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(status_of(r, "blkio.weight"), VMSEC_STATUS_OK);
    vmsec_report_free(r);
    /* cgroup v2: iocost may enforce io.weight, which is not read here: unchecked, not refused. */
    f.n_block = 3;
    f.cg_version = 2;
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(status_of(r, "blkio.weight"), VMSEC_STATUS_UNCHECKED);
    ck_assert_ptr_nonnull(strstr(detail_of(r, "blkio.weight"), "no block device uses bfq (none (loop0, loop1); "
                                                                "mq-deadline (vda))"));
    vmsec_report_free(r);
    /* Unknown block devices or a remote host: nothing to judge (the blkio controller entry says
     * why for a remote host). */
    f.cg_version = 1;
    f.n_block = 0;
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(status_of(r, "blkio.weight"), -1);
    vmsec_report_free(r);
    f.n_block = 3;
    snprintf(f.unknown_why, sizeof(f.unknown_why), "remote host");
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(status_of(r, "blkio.weight"), -1);
    ck_assert_int_eq(status_of(r, "host.cgroup.blkio"), VMSEC_STATUS_UNCHECKED);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(blkio_weight_problem_joins_the_others)
{
    /* A profile built through the API (no line) on a host without bfq, with another problem. */
    struct vmsec__host_facts f;
    vmsec_profile *p = profile("vcpu.0.pin = 9\n");
    struct vmsec_report *r = vmsec__report_new();
    const char *m;
    ck_assert_int_eq(vmsec_profile_set_blkio_weight(p, 300), 0);
    good_host(&f);
    block_dev(&f, "vda", "none");
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), VMSEC_EHOST);
    m = vmsec_error_last();
    ck_assert_ptr_nonnull(strstr(m, "2 problems"));
    ck_assert_ptr_nonnull(strstr(m, "host.cpus: CPU(s) 9"));
    ck_assert_ptr_nonnull(strstr(m, "blkio.weight = 300: no block device of the host uses a proportional-weight"));
    ck_assert_ptr_nonnull(strstr(m, "(schedulers: none (vda))"));
    ck_assert_uint_eq(count(r, VMSEC_STATUS_PROBLEM), 2);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(memlock_rules)
{
    struct vmsec__host_facts f;
    vmsec_profile *big = profile("memory.hard_limit = 2G\nmemory.locked = yes\n");
    vmsec_profile *small = profile("memory.hard_limit = 4M\nmemory.locked = yes\n");
    vmsec_profile *hard_only = profile("memory.hard_limit = 2G\n");
    struct vmsec_report *r;

    good_host(&f);
    f.cap_sys_resource = false;
    /* the daemon's hard RLIMIT_MEMLOCK (8M) covers 4M */
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, small, VMSEC_AFFECT_CONFIG, r), 0);
    ck_assert_int_eq(status_of(r, "host.memlock"), VMSEC_STATUS_OK);
    vmsec_report_free(r);
    /* a hard limit alone still becomes QEMU's RLIMIT_MEMLOCK at start */
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, hard_only, VMSEC_AFFECT_CONFIG, r), VMSEC_EHOST);
    vmsec_report_free(r);
    /* a live change on a running domain starts no QEMU: nothing to lock */
    f.domain_running = true;
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, hard_only, VMSEC_AFFECT_LIVE, r), 0);
    ck_assert_int_eq(status_of(r, "host.memlock"), -1);
    vmsec_report_free(r);
    /* an unlimited hard limit of the daemon is enough */
    f.domain_running = false;
    f.memlock_hard = UINT64_MAX;
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, big, 0, r), 0);
    vmsec_report_free(r);
    /* unreadable: not checkable, not a problem */
    f.memlock_known = false;
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, big, 0, r), 0);
    ck_assert_int_eq(status_of(r, "host.memlock"), VMSEC_STATUS_UNCHECKED);
    vmsec_report_free(r);
    vmsec_profile_free(big);
    vmsec_profile_free(small);
    vmsec_profile_free(hard_only);
}
END_TEST

START_TEST(cgroup_v2_shares_range)
{
    struct vmsec__host_facts f;
    vmsec_profile *big = profile("cpu.shares = 20000\n"), *ok = profile("cpu.shares = 10000\n");
    struct vmsec_report *r = vmsec__report_new();
    good_host(&f);
    f.cg_version = 2;
    ck_assert_int_eq(vmsec__host_evaluate(&f, big, 0, r), VMSEC_EHOST);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "cpu.weight"));
    vmsec_report_free(r);
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, ok, 0, r), 0);
    vmsec_report_free(r);
    f.cg_version = 1; /* v1 cpu.shares takes it */
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, big, 0, r), 0);
    vmsec_report_free(r);
    vmsec_profile_free(big);
    vmsec_profile_free(ok);
}
END_TEST

START_TEST(hugepage_counts)
{
    struct vmsec__host_facts f;
    vmsec_profile *p = profile("memory.hugepages.size = 2M\n"), *d = profile("memory.hugepages.size = default\n");
    struct vmsec_report *r = vmsec__report_new();
    good_host(&f);
    f.hp[0].free = 511; /* 1 GiB of guest memory needs 512 pages of 2M */
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), VMSEC_EHOST);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "needs 512, 511 are free"));
    vmsec_report_free(r);
    f.hp[0].free = 512;
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, d, 0, r), 0);
    vmsec_report_free(r);
    f.hp_default = 0;
    r = vmsec__report_new();
    ck_assert_int_eq(vmsec__host_evaluate(&f, d, 0, r), VMSEC_EHOST);
    vmsec_report_free(r);
    vmsec_profile_free(p);
    vmsec_profile_free(d);
}
END_TEST

START_TEST(remote_host_is_unchecked)
{
    struct vmsec__host_facts f;
    vmsec_profile *p = profile(full);
    struct vmsec_report *r = vmsec__report_new();
    good_host(&f);
    snprintf(f.unknown_why, sizeof(f.unknown_why), "remote host");
    f.memlock_known = false;
    f.cg_mask = 0;
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(status_of(r, "host.cpus"), VMSEC_STATUS_OK); /* from libvirt */
    ck_assert_int_eq(status_of(r, "host.cgroup.cpu"), VMSEC_STATUS_UNCHECKED);
    ck_assert_int_eq(status_of(r, "host.memlock"), VMSEC_STATUS_UNCHECKED);
    for (size_t i = 0; i < vmsec_report_count(r); i++)
        if (vmsec_report_status(r, i) == VMSEC_STATUS_UNCHECKED)
            ck_assert_ptr_nonnull(strstr(vmsec_report_field(r, i, VMSEC_REPORT_DETAIL), "(remote host)"));
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(this_host_is_consistent)
{
    /* The real host: whatever it is, EHOST comes exactly with problem entries. */
    vmsec_profile *p = profile("vcpu.0.pin = 0\nmemory.hard_limit = 64G\nmemory.locked = yes\n");
    vmsec_report *r = NULL;
    int rc = vmsec_host_check(NULL, p, 0, &r);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(rc == VMSEC_EHOST, vmsec_report_count_status(r, VMSEC_STATUS_PROBLEM) > 0);
    ck_assert(rc == 0 || rc == VMSEC_EHOST);
    vmsec_report_free(r);
    ck_assert_int_eq(vmsec_host_check(NULL, NULL, 0, &r), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_host_check("nosuchdriver:///x", p, 0, &r), VMSEC_ELIBVIRT);
    vmsec_profile_free(p);
}
END_TEST

START_TEST(facts_from_libvirt)
{
    /* The path remote hosts take: CPUs from virNodeGetCPUMap, nodes from the capabilities. */
    struct vmsec__host_facts f;
    virConnectPtr c = virConnectOpen("test:///default");
    char set[64];
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(vmsec__host_facts_libvirt(c, "remote host", &f), 0);
    ck_assert(f.cpus_known && f.nodes_known);
    vmsec__cpuset_format(&f.cpus_online, set, sizeof(set));
    ck_assert_str_eq(set, "0,2,4"); /* the test driver's fixed online map */
    vmsec__cpuset_format(&f.nodes_online, set, sizeof(set));
    ck_assert_str_eq(set, "0-1");
    ck_assert_str_eq(f.unknown_why, "remote host");
    ck_assert(!f.memlock_known);
    ck_assert_int_eq(f.ksm_run, -1);
    ck_assert(vmsec__conn_is_local(c, set, sizeof(set)) == false);
    ck_assert_str_eq(set, "test driver");
    virConnectClose(c);
}
END_TEST

START_TEST(report_formats)
{
    struct vmsec__host_facts f;
    vmsec_profile *p = profile(full);
    struct vmsec_report *r = vmsec__report_new();
    char *text = NULL, *json = NULL;
    good_host(&f);
    f.cpus_known = false;
    ck_assert_int_eq(vmsec__host_evaluate(&f, p, 0, r), 0);
    ck_assert_int_eq(vmsec_report_format(r, VMSEC_REPORT_TEXT, &text), 0);
    ck_assert(strncmp(text, "SETTING", 7) == 0);
    ck_assert_ptr_nonnull(strstr(text, "\nhost.cpus "));
    ck_assert_ptr_null(strstr(text, " \n")); /* no trailing blanks */
    ck_assert_int_eq(vmsec_report_format(r, VMSEC_REPORT_JSON, &json), 0);
    ck_assert(strncmp(json, "{\"entries\":[", 12) == 0);
    ck_assert_ptr_nonnull(strstr(json, "\"setting\":\"host.cpus\",\"status\":\"unchecked\""));
    ck_assert_ptr_nonnull(strstr(json, "\"summary\":{\"ok\":"));
    vmsec_report_string_free(text);
    ck_assert_int_eq(vmsec_report_format(r, 7, &text), VMSEC_EINVAL);
    ck_assert_ptr_null(vmsec_report_field(r, 999, VMSEC_REPORT_SETTING));
    ck_assert_int_eq(vmsec_report_status(r, 999), VMSEC_EINVAL);
    ck_assert_str_eq(vmsec_status_name(VMSEC_STATUS_NEXT_BOOT), "next-boot");
    ck_assert_str_eq(vmsec_status_name(99), "unknown");
    vmsec_report_string_free(json);
    vmsec_report_free(r);
    vmsec_profile_free(p);
}
END_TEST

/* The JSON layout, pinned: one entry per line, then the summary, members in a fixed order. */
START_TEST(report_json_layout)
{
    struct vmsec_report *r = vmsec__report_new();
    char *json = NULL;

    ck_assert_int_eq(vmsec__report_add(r, VMSEC_STATUS_OK, "vcpus", "2", "2", "libvirt", NULL), 0);
    ck_assert_int_eq(vmsec__report_add(r, VMSEC_STATUS_DRIFT, "name", "caf\xC3\xA9", NULL, NULL, "say \"%s\"\n\t", "hi"),
                     0);
    ck_assert_int_eq(vmsec_report_format(r, VMSEC_REPORT_JSON, &json), 0);
    ck_assert_str_eq(json, "{\"entries\":[\n"
                           "{\"setting\":\"vcpus\",\"status\":\"ok\",\"expected\":\"2\",\"actual\":\"2\","
                           "\"source\":\"libvirt\",\"detail\":\"\"},\n"
                           "{\"setting\":\"name\",\"status\":\"drift\",\"expected\":\"caf\xC3\xA9\",\"actual\":\"\","
                           "\"source\":\"\",\"detail\":\"say \\\"hi\\\"\\n\\t\"}],\n"
                           "\"summary\":{\"ok\":1,\"drift\":1,\"unchecked\":0,\"applied\":0,\"next-boot\":0,"
                           "\"failed\":0,\"restored\":0,\"not-restored\":0,\"problem\":0}}\n");
    vmsec_report_string_free(json);
    vmsec_report_free(r);

    r = vmsec__report_new();
    ck_assert_int_eq(vmsec_report_format(r, VMSEC_REPORT_JSON, &json), 0);
    ck_assert_str_eq(json, "{\"entries\":[],\n\"summary\":{\"ok\":0,\"drift\":0,\"unchecked\":0,\"applied\":0,"
                           "\"next-boot\":0,\"failed\":0,\"restored\":0,\"not-restored\":0,\"problem\":0}}\n");
    vmsec_report_string_free(json);
    vmsec_report_free(r);
}
END_TEST

#define R "\xEF\xBF\xBD" /* U+FFFD */

/* Bytes that are not UTF-8 (a device path with 0xff, a truncated or overlong sequence) become
 * U+FFFD, one per maximal invalid subpart: the document stays JSON that parses back. */
START_TEST(report_json_replaces_invalid_utf8)
{
    struct vmsec_report *r = vmsec__report_new();
    char *json = NULL;
    json_t *doc, *e;
    json_error_t err;

    ck_assert_int_eq(vmsec__report_add(r, VMSEC_STATUS_DRIFT, "blkio.device(/dev/vd\xFF).weight", "1\xC0\x80",
                                       "\xED\xA0\x80", "kernel /sys/fs/cgroup/\xFE", "tab\t%s", "\xE2\x82"),
                     0);
    ck_assert_int_eq(vmsec_report_format(r, VMSEC_REPORT_JSON, &json), 0);
    ck_assert_ptr_nonnull(strstr(json, "\n{\"setting\":\"blkio.device(/dev/vd" R ").weight\",\"status\":\"drift\","
                                       "\"expected\":\"1" R R "\",\"actual\":\"" R R R "\","
                                       "\"source\":\"kernel /sys/fs/cgroup/" R "\",\"detail\":\"tab\\t" R "\"}],\n"));
    doc = json_loads(json, 0, &err);
    ck_assert_msg(doc != NULL, "%s: %s", err.text, json);
    e = json_array_get(json_object_get(doc, "entries"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "setting")), "blkio.device(/dev/vd" R ").weight");
    ck_assert_str_eq(json_string_value(json_object_get(e, "detail")), "tab\t" R);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "summary"), "drift")), 1);
    /* The report itself keeps the bytes it was given: only the JSON text replaces them. */
    ck_assert_str_eq(vmsec_report_field(r, 0, VMSEC_REPORT_SETTING), "blkio.device(/dev/vd\xFF).weight");
    json_decref(doc);
    vmsec_report_string_free(json);
    vmsec_report_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostcheck");
    TCase *tc = tcase_create("hostcheck");
    tcase_add_test(tc, capable_host_passes);
    tcase_add_test(tc, every_problem_in_one_error);
    tcase_add_test(tc, missing_cpus_name_the_pins_lines);
    tcase_add_test(tc, blkio_device_weights_need_bfq_or_cfq_on_cgroup_v1);
    tcase_add_test(tc, blkio_weight_needs_a_proportional_scheduler);
    tcase_add_test(tc, blkio_weight_problem_joins_the_others);
    tcase_add_test(tc, memlock_rules);
    tcase_add_test(tc, cgroup_v2_shares_range);
    tcase_add_test(tc, hugepage_counts);
    tcase_add_test(tc, remote_host_is_unchecked);
    tcase_add_test(tc, this_host_is_consistent);
    tcase_add_test(tc, facts_from_libvirt);
    tcase_add_test(tc, report_formats);
    tcase_add_test(tc, report_json_layout);
    tcase_add_test(tc, report_json_replaces_invalid_utf8);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
