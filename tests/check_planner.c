/* SPDX-License-Identifier: ISC */
/* CPU placement planner: placement rules per thread policy, NUMA fit, reserved and offline CPUs,
 * refusals, determinism, re-planning, SMT audit, a randomised isolation property and pins read
 * from libvirt; topologies in check_planner_topology.c, profiles with intent in
 * check_planner_profile.c. */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <vmsec.h>

#include "check_planner.h"

/* ---- placement rules --------------------------------------------------------------------------- */

START_TEST(small_host_without_smt)
{
    static const char text[] = "cpu 0 node 0 socket 0 core 0\ncpu 1 node 0 socket 0 core 1\n"
                               "cpu 2 node 0 socket 0 core 2\ncpu 3 node 0 socket 0 core 3\n";
    vmsec_planner *p = mk_planner(text);
    ck_assert_str_eq(req(p, "a", 2, ISO, SHARE, NODE, true), "v=0,1 e=0-1 b=");
    ck_assert_str_eq(req(p, "b", 1, ISO, DED, NODE, true), "v=2 e=3 b=");
    ck_assert_str_eq(req(p, "c", 1, ISO, SHARE, NODE, true),
                     "ERR -19: cannot place domain 'c': needs 1 CPUs on whole free cores of one NUMA node (1 vCPU, "
                     "thread policy isolate); node 0 has 0 (0 cores)");
    ck_assert_str_eq(req(p, "c", 1, REQ, SHARE, NODE, true),
                     "ERR -19: cannot place domain 'c': thread policy require needs SMT cores (two or more online "
                     "threads), and the host has none");
    ck_assert_str_eq(freecpus(p), "");
    ck_assert_int_eq(vmsec_planner_release(p, "b"), 0);
    ck_assert_int_eq(vmsec_planner_release(p, "b"), VMSEC_ENOTFOUND);
    ck_assert_str_eq(req(p, "c", 2, PREF, SHARE, NODE, true), "v=2,3 e=2-3 b=");
    vmsec_planner_free(p);
}
END_TEST

/* 2 sockets x 4 cores x SMT-2: node 0 = CPUs 0-3 + 8-11, node 1 = 4-7 + 12-15; i and i+8 are siblings. */
START_TEST(isolate_packs_siblings_and_blocks_the_rest)
{
    vmsec_planner *p = mk_smt(2, 4, 2, 1);
    ck_assert_str_eq(req(p, "a", 2, ISO, SHARE, NODE, true), "v=0,8 e=0,8 b=");
    ck_assert_str_eq(req(p, "b", 3, ISO, SHARE, NODE, true), "v=1,9,2 e=1-2,9 b=10");
    /* a dedicated emulator CPU takes the leftover sibling of the domain's own core */
    ck_assert_str_eq(req(p, "c", 1, ISO, DED, NODE, true), "v=3 e=11 b=");
    ck_assert_str_eq(freecpus(p), "4-7,12-15");
    /* node 0 is full: the next isolated domain goes to node 1 */
    ck_assert_str_eq(req(p, "d", 1, ISO, SHARE, NODE, true), "v=4 e=4 b=12");
    /* a prefer domain may not use a sibling blocked by an isolated one */
    ck_assert_str_eq(req(p, "e", 5, PREF, SHARE, NODE, true), "v=5,13,6,14,7 e=5-7,13-14 b=");
    ck_assert_str_eq(freecpus(p), "15");
    ck_assert_str_eq(audit_text(p), "");
    vmsec_planner_free(p);
}
END_TEST

START_TEST(prefer_packs_then_falls_back_and_audit_reports_sharing)
{
    vmsec_planner *p = mk_smt(2, 4, 2, 1);
    vmsec_smt_audit *a;
    const char *da, *db;
    unsigned int core;
    size_t n;
    ck_assert_str_eq(req(p, "x", 1, PREF, SHARE, NODE, true), "v=0 e=0 b=");
    /* a single vCPU goes to the partly used core first: prefer allows sharing with x */
    ck_assert_str_eq(req(p, "y", 1, PREF, SHARE, NODE, true), "v=8 e=8 b=");
    ck_assert_str_eq(req(p, "z", 3, PREF, SHARE, NODE, true), "v=1,9,2 e=1-2,9 b=");
    ck_assert_str_eq(audit_text(p), "domains 'x' and 'y' share core 0 (node 0, socket 0, CPUs 0,8)\n");
    ck_assert_int_eq(vmsec_planner_audit(p, &a), 0);
    ck_assert_int_eq(vmsec_smt_audit_count(a, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(vmsec_smt_audit_get(a, 0, &da, &db, &core), 0);
    ck_assert_str_eq(da, "x");
    ck_assert_str_eq(db, "y");
    ck_assert_uint_eq(core, 0);
    ck_assert_int_eq(vmsec_smt_audit_get(a, 1, &da, &db, &core), VMSEC_ENOTFOUND);
    vmsec_smt_audit_free(a);
    /* z's odd vCPU left CPU 10 free; a later single prefer vCPU shares that core */
    ck_assert_str_eq(req(p, "w", 1, PREF, SHARE, NODE, true), "v=10 e=10 b=");
    ck_assert_str_eq(audit_text(p), "domains 'x' and 'y' share core 0 (node 0, socket 0, CPUs 0,8)\n"
                                    "domains 'w' and 'z' share core 2 (node 0, socket 0, CPUs 2,10)\n");
    /* prefer falls back to any free CPU when whole cores run out */
    ck_assert_str_eq(req(p, "v", 6, PREF, SHARE, SPREAD, true), "v=4,12,5,13,6,14 e=4-6,12-14 b=");
    ck_assert_str_eq(req(p, "u", 3, PREF, SHARE, SPREAD, true), "v=3,11,7 e=3,7,11 b=");
    vmsec_planner_free(p);
}
END_TEST

START_TEST(require_uses_sibling_pairs)
{
    vmsec_planner *p = mk_smt(2, 4, 2, 1);
    ck_assert_str_eq(req(p, "a", 3, REQ, DED, NODE, true), "v=0,8,1 e=9 b=");
    ck_assert_str_eq(req(p, "b", 1, REQ, SHARE, NODE, true), "v=2 e=2 b=");
    /* b left CPU 10 free for others; require never takes a partly used core for vCPUs */
    ck_assert_str_eq(req(p, "c", 2, REQ, SHARE, NODE, true), "v=3,11 e=3,11 b=");
    ck_assert_str_eq(req(p, "d", 4, REQ, DED, NODE, false), "v=4,12,5,13 e=6 b=");
    ck_assert_str_eq(req(p, "d", 9, REQ, SHARE, NODE, false),
                     "ERR -19: cannot place domain 'd': needs 9 CPUs on whole free SMT cores of one NUMA node (9 vCPUs, "
                     "thread policy require); node 0 has 0 (0 cores), node 1 has 8 (4 cores)");
    vmsec_planner_free(p);
}
END_TEST

START_TEST(refusal_names_the_shortfall_per_node)
{
    /* 2 sockets x 4 cores x SMT-2; some cores taken so node 0 has 2 whole cores, node 1 has 3 */
    vmsec_planner *p = mk_smt(2, 4, 2, 1);
    ck_assert_int_eq(vmsec_planner_hold(p, "old1", "0-1", 0), 0);
    ck_assert_int_eq(vmsec_planner_hold(p, "old2", "15", VMSEC_HOLD_ISOLATE), 0);
    ck_assert_str_eq(req(p, "db", 8, ISO, SHARE, NODE, true),
                     "ERR -19: cannot place domain 'db': needs 8 CPUs on whole free cores of one NUMA node (8 vCPUs, "
                     "thread policy isolate); node 0 has 4 (2 cores), node 1 has 6 (3 cores)");
    ck_assert_str_eq(req(p, "db", 6, ISO, DED, NODE, true),
                     "ERR -19: cannot place domain 'db': needs 7 CPUs on whole free cores of one NUMA node (6 vCPUs + 1 "
                     "dedicated emulator CPU, thread policy isolate); node 0 has 4 (2 cores), node 1 has 6 (3 cores)");
    ck_assert_str_eq(req(p, "db", 11, ISO, SHARE, SPREAD, true),
                     "ERR -19: cannot place domain 'db': needs 11 CPUs on whole free cores (11 vCPUs, thread policy "
                     "isolate, spread over NUMA nodes); the host has 10: node 0 has 4 (2 cores), node 1 has 6 (3 cores)");
    ck_assert_str_eq(req(p, "db", 14, PREF, SHARE, NODE, true),
                     "ERR -19: cannot place domain 'db': needs 14 free CPUs of one NUMA node (14 vCPUs, thread policy "
                     "prefer); node 0 has 6, node 1 has 6");
    /* nothing was recorded by the refusals */
    ck_assert_int_eq(vmsec_planner_release(p, "db"), VMSEC_ENOTFOUND);
    /* spread spans nodes, lowest first, when no single node has room */
    ck_assert_str_eq(req(p, "db", 10, ISO, SHARE, SPREAD, true), "v=2,10,3,11,4,12,5,13,6,14 e=2-6,10-14 b=");
    vmsec_planner_free(p);
}
END_TEST

/* 2 sockets x 64 cores x SMT-2, 2 NUMA nodes per socket: node n has cores 32n..32n+31, CPU i and
 * i+128 are siblings. */
START_TEST(big_host_256_cpus_four_nodes)
{
    vmsec_planner *p = mk_smt(2, 64, 2, 2);
    vmsec_plan_request r = VMSEC_PLAN_REQUEST_INIT;
    vmsec_placement *pl;
    char nodes[32], used[256];
    ck_assert_int_eq(vmsec_planner_reserve(p, "0,128"), 0);
    ck_assert_str_eq(req(p, "a", 4, ISO, SHARE, NODE, true), "v=1,129,2,130 e=1-2,129-130 b=");
    r.vcpus = 58; /* the rest of node 0: 29 cores */
    ck_assert_int_eq(vmsec_planner_place(p, "b", &r, &pl), 0);
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_NODES, nodes, sizeof(nodes)), 0);
    ck_assert_str_eq(nodes, "0");
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_USED, used, sizeof(used)), 0);
    ck_assert_str_eq(used, "3-31,131-159");
    vmsec_placement_free(pl);
    ck_assert_str_eq(req(p, "c", 2, ISO, SHARE, NODE, true), "v=32,160 e=32,160 b=");
    ck_assert_str_eq(req(p, "d", 65, ISO, SHARE, NODE, false),
                     "ERR -19: cannot place domain 'd': needs 65 CPUs on whole free cores of one NUMA node (65 vCPUs, "
                     "thread policy isolate); node 0 has 0 (0 cores), node 1 has 62 (31 cores), node 2 has 64 (32 "
                     "cores), node 3 has 64 (32 cores)");
    r.vcpus = 65;
    r.numa_fit = SPREAD;
    ck_assert_int_eq(vmsec_planner_place(p, "d", &r, &pl), 0);
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_NODES, nodes, sizeof(nodes)), 0);
    ck_assert_str_eq(nodes, "1-2");
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_BLOCKED, used, sizeof(used)), 0);
    ck_assert_str_eq(used, "193");
    vmsec_placement_free(pl);
    ck_assert_str_eq(audit_text(p), "");
    vmsec_planner_free(p);
}
END_TEST

START_TEST(numa_fit_picks_lowest_node_with_room)
{
    /* asymmetric: node 0 has 2 cores, node 1 has 6 (SMT-2) */
    char text[2048];
    size_t len = 0;
    vmsec_planner *p;
    char nodes[64];
    vmsec_plan_request r = VMSEC_PLAN_REQUEST_INIT;
    vmsec_placement *pl;
    for (unsigned int c = 0; c < 8; c++)
        for (unsigned int t = 0; t < 2; t++)
            len += (size_t)snprintf(text + len, sizeof(text) - len, "cpu %u node %u socket 0 core %u\n", c + 8 * t,
                                    c < 2 ? 0 : 1, c);
    p = mk_planner(text);
    ck_assert_str_eq(req(p, "big", 6, ISO, SHARE, NODE, false), "v=2,10,3,11,4,12 e=2-4,10-12 b=");
    ck_assert_str_eq(req(p, "small", 4, ISO, SHARE, NODE, true), "v=0,8,1,9 e=0-1,8-9 b=");
    ck_assert_str_eq(req(p, "big", 13, ISO, SHARE, NODE, false),
                     "ERR -19: cannot place domain 'big': needs 13 CPUs on whole free cores of one NUMA node (13 vCPUs, "
                     "thread policy isolate); node 0 has 0 (0 cores), node 1 has 12 (6 cores)");
    vmsec_planner_release(p, "small");
    r.vcpus = 6;
    r.numa_fit = SPREAD;
    ck_assert_int_eq(vmsec_planner_place(p, "mid", &r, &pl), 0);
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_NODES, nodes, sizeof(nodes)), 0);
    ck_assert_str_eq(nodes, "1"); /* fits in node 1: spread does not split needlessly */
    vmsec_placement_free(pl);
    r.vcpus = 9;
    ck_assert_int_eq(vmsec_planner_place(p, "wide", &r, &pl), 0);
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_NODES, nodes, sizeof(nodes)), 0);
    ck_assert_str_eq(nodes, "0-1");
    ck_assert_str_eq(view(pl), "v=0,8,1,9,5,13,6,14,7 e=0-1,5-9,13-14 b=15");
    vmsec_placement_free(pl);
    vmsec_planner_free(p);
}
END_TEST

START_TEST(reserved_and_offline_cpus)
{
    /* SMT-2, 4 cores, one node; CPU 5 (sibling of 1) offline */
    static const char text[] = "cpu 0 node 0 socket 0 core 0\ncpu 1 node 0 socket 0 core 1\n"
                               "cpu 2 node 0 socket 0 core 2\ncpu 3 node 0 socket 0 core 3\n"
                               "cpu 4 node 0 socket 0 core 0\ncpu 5 node 0 socket 0 core 1 offline\n"
                               "cpu 6 node 0 socket 0 core 2\ncpu 7 node 0 socket 0 core 3\n";
    vmsec_planner *p = mk_planner(text);
    vmsec_plan_request r = VMSEC_PLAN_REQUEST_INIT;
    vmsec_placement *pl = NULL;
    ck_assert_int_eq(vmsec_planner_reserve(p, "0"), 0);
    ck_assert_str_eq(freecpus(p), "1-4,6-7");
    /* core 0 holds a reserved CPU: never whole free; core 1 has one online thread */
    ck_assert_str_eq(req(p, "a", 1, ISO, SHARE, NODE, true), "v=1 e=1 b=5");
    ck_assert_str_eq(req(p, "b", 2, ISO, SHARE, NODE, true), "v=2,6 e=2,6 b=");
    /* a request's own reserved CPUs add to the host's */
    r.vcpus = 1;
    r.reserved_cpus = "3";
    ck_assert_int_eq(vmsec_planner_plan(p, "c", &r, &pl), VMSEC_EHOST);
    r.thread_policy = PREF;
    ck_assert_int_eq(vmsec_planner_plan(p, "c", &r, &pl), 0);
    ck_assert_str_eq(view(pl), "v=4 e=4 b=");
    vmsec_placement_free(pl);
    r.reserved_cpus = "99";
    ck_assert_int_eq(vmsec_planner_plan(p, "c", &r, &pl), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "planner: request reserved_cpus: CPU 99 is not in the host topology");
    ck_assert_int_eq(vmsec_planner_reserve(p, "0-1,x"), VMSEC_EFORMAT);
    ck_assert_str_eq(freecpus(p), "3-4,7"); /* unchanged by the failed call */
    vmsec_planner_free(p);
}
END_TEST

START_TEST(request_validation)
{
    vmsec_planner *p = mk_smt(1, 2, 2, 1);
    vmsec_plan_request r;
    vmsec_placement *pl = NULL;
    ck_assert_int_eq(vmsec_plan_request_init(&r, 99), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_plan_request_init(&r, VMSEC_PLAN_REQUEST_VERSION), 0);
    ck_assert_int_eq(r.thread_policy, VMSEC_THREAD_ISOLATE);
    ck_assert_int_eq(vmsec_planner_plan(p, "a", &r, &pl), VMSEC_EINVAL); /* 0 vCPUs */
    r.vcpus = 1;
    r.thread_policy = 7;
    ck_assert_int_eq(vmsec_planner_plan(p, "a", &r, &pl), VMSEC_EINVAL);
    r.thread_policy = ISO;
    r.emulator = 3;
    ck_assert_int_eq(vmsec_planner_plan(p, "a", &r, &pl), VMSEC_EINVAL);
    r.emulator = SHARE;
    ck_assert_int_eq(vmsec_planner_plan(p, "", &r, &pl), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_planner_plan(p, "a", &r, NULL), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_planner_hold(p, "a", "0-1,9", 0), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "planner: domain 'a': CPU 9 is not in the host topology");
    ck_assert_int_eq(vmsec_planner_hold(p, "a", "", 0), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_planner_hold(p, "a", "0", 4), VMSEC_EINVAL);
    vmsec_planner_free(p);
}
END_TEST

START_TEST(placement_text)
{
    vmsec_planner *p = mk_smt(1, 4, 2, 1);
    vmsec_plan_request r = VMSEC_PLAN_REQUEST_INIT;
    vmsec_placement *pl;
    char buf[256];
    size_t need;
    unsigned int cpu;
    r.vcpus = 3;
    r.emulator = DED;
    ck_assert_int_eq(vmsec_planner_place(p, "a", &r, &pl), 0);
    ck_assert_int_eq(vmsec_placement_to_text(pl, NULL, 0, &need), 0);
    ck_assert_int_eq(vmsec_placement_to_text(pl, buf, need - 1, NULL), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_placement_to_text(pl, buf, sizeof(buf), NULL), 0);
    ck_assert_str_eq(buf, "vcpu.0.pin = 0\nvcpu.1.pin = 4\nvcpu.2.pin = 1\nemulator.pin = 5\n");
    ck_assert_uint_eq(strlen(buf) + 1, need);
    ck_assert_int_eq(vmsec_placement_vcpu_cpu(pl, 3, &cpu), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_USED, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "0-1,4-5");
    ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_USED, buf, 3), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_planner_held(p, "a", buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "0-1,4-5");
    ck_assert_int_eq(vmsec_planner_held(p, "b", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "");
    vmsec_placement_free(pl);
    vmsec_planner_free(p);
}
END_TEST

/* ---- determinism, re-planning, audit ---------------------------------------------------------- */

/* Runs a fixed mixed sequence and returns the concatenated views. */
static char *run_sequence(void)
{
    vmsec_planner *p = mk_smt(2, 64, 2, 2);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    char name[32];
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(vmsec_planner_reserve(p, "0,128"), 0);
    for (unsigned int i = 0; i < 60; i++) {
        snprintf(name, sizeof(name), "vm%u", i);
        len += (size_t)snprintf(out + len, cap - len, "%s\n",
                                req(p, name, 1 + i % 5, (int)(i % 3), (int)(i % 2), (int)(i % 4 == 3), true));
        if (i % 7 == 6) {
            snprintf(name, sizeof(name), "vm%u", i - 3);
            ck_assert_int_eq(vmsec_planner_release(p, name), 0);
        }
    }
    vmsec_planner_free(p);
    return out;
}

START_TEST(deterministic)
{
    char *a = run_sequence(), *b = run_sequence();
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
}
END_TEST

START_TEST(replan_keeps_placements_and_reuses_freed_cpus)
{
    vmsec_planner *p = mk_smt(2, 4, 2, 1);
    char a1[256];
    ck_assert_str_eq(req(p, "a", 2, ISO, SHARE, NODE, true), "v=0,8 e=0,8 b=");
    ck_assert_str_eq(req(p, "b", 2, ISO, SHARE, NODE, true), "v=1,9 e=1,9 b=");
    ck_assert_str_eq(req(p, "c", 2, ISO, SHARE, NODE, true), "v=2,10 e=2,10 b=");
    ck_assert_int_eq(vmsec_planner_release(p, "a"), 0);
    /* re-planning b and c with the same request keeps them where they are */
    ck_assert_str_eq(req(p, "c", 2, ISO, SHARE, NODE, true), "v=2,10 e=2,10 b=");
    ck_assert_str_eq(req(p, "b", 2, ISO, SHARE, NODE, false), "v=1,9 e=1,9 b=");
    /* a growing domain keeps its vCPUs and adds the lowest free cores */
    snprintf(a1, sizeof(a1), "%s", req(p, "c", 4, ISO, SHARE, NODE, true));
    ck_assert_str_eq(a1, "v=2,10,0,8 e=0,2,8,10 b=");
    /* freed CPUs are reused */
    ck_assert_int_eq(vmsec_planner_release(p, "b"), 0);
    ck_assert_str_eq(req(p, "d", 2, ISO, SHARE, NODE, true), "v=1,9 e=1,9 b=");
    /* re-planning from another node's holding: still prefers its home node when it fits */
    ck_assert_str_eq(req(p, "e", 2, ISO, SHARE, SPREAD, true), "v=3,11 e=3,11 b=");
    ck_assert_str_eq(req(p, "e", 4, ISO, SHARE, NODE, true), "v=4,12,5,13 e=4-5,12-13 b=");
    ck_assert_str_eq(req(p, "e", 2, ISO, SHARE, NODE, true), "v=4,12 e=4,12 b=");
    /* a re-plan that cannot fit leaves the old holding in place */
    ck_assert_str_eq(req(p, "e", 12, ISO, SHARE, NODE, true),
                     "ERR -19: cannot place domain 'e': needs 12 CPUs on whole free cores of one NUMA node (12 vCPUs, "
                     "thread policy isolate); node 0 has 2 (1 core), node 1 has 8 (4 cores)");
    {
        char held[64];
        ck_assert_int_eq(vmsec_planner_held(p, "e", held, sizeof(held)), 1);
        ck_assert_str_eq(held, "4,12");
    }
    vmsec_planner_free(p);
}
END_TEST

START_TEST(hold_and_audit)
{
    vmsec_planner *p = mk_smt(2, 4, 2, 1);
    ck_assert_int_eq(vmsec_planner_hold(p, "web", "0-1", 0), 0);
    ck_assert_int_eq(vmsec_planner_hold(p, "db", "8", 0), 0);
    ck_assert_int_eq(vmsec_planner_hold(p, "db", "3", VMSEC_HOLD_ISOLATE), 0); /* adds, blocks 11 */
    ck_assert_int_eq(vmsec_planner_hold(p, "cache", "9,8", 0), 0);
    ck_assert_str_eq(audit_text(p), "domains 'cache' and 'db' share core 0 (node 0, socket 0, CPUs 0,8)\n"
                                    "domains 'cache' and 'web' share core 0 (node 0, socket 0, CPUs 0,8)\n"
                                    "domains 'db' and 'web' share core 0 (node 0, socket 0, CPUs 0,8)\n"
                                    "domains 'cache' and 'web' share core 1 (node 0, socket 0, CPUs 1,9)\n");
    ck_assert_str_eq(freecpus(p), "2,4-7,10,12-15");
    ck_assert_int_eq(vmsec_planner_release(p, "cache"), 0);
    ck_assert_str_eq(audit_text(p), "domains 'db' and 'web' share core 0 (node 0, socket 0, CPUs 0,8)\n");
    ck_assert_str_eq(freecpus(p), "2,4-7,9-10,12-15"); /* 8 still used by db */
    vmsec_planner_free(p);
}
END_TEST

/* Marks the CPUs of a list such as "0-3,8" in seen[]; fails if one is marked already. */
static void mark_disjoint(const char *list, unsigned char *seen, const char *who)
{
    const char *q = list;
    while (*q) {
        char *end;
        unsigned long a = strtoul(q, &end, 10), b = a;
        if (*end == '-')
            b = strtoul(end + 1, &end, 10);
        for (unsigned long c = a; c <= b; c++) {
            ck_assert_msg(!seen[c], "CPU %lu given twice (%s)", c, who);
            seen[c] = 1;
        }
        q = *end == ',' ? end + 1 : end;
    }
}

/* Property: under isolate, no two domains ever share a core, whatever the sequence of requests
 * and releases (mixed with prefer/require domains), and node-fit placements stay on one node. */
START_TEST(property_isolate_never_shares_a_core)
{
    unsigned int seed = 12345u + (unsigned int)_i;
    vmsec_planner *p = mk_smt(2, 16, 2, 2);
    bool live[24] = {false}, iso[24] = {false};
    for (unsigned int step = 0; step < 300; step++) {
        unsigned int d = (unsigned int)rand_r(&seed) % 24;
        char name[16], held[256];
        snprintf(name, sizeof(name), "d%02u", d);
        if (live[d] && rand_r(&seed) % 3 == 0) {
            ck_assert_int_eq(vmsec_planner_release(p, name), 0);
            live[d] = false;
            continue;
        }
        {
            vmsec_plan_request r = VMSEC_PLAN_REQUEST_INIT;
            vmsec_placement *pl = NULL;
            char nodes[32];
            int rc;
            r.vcpus = 1 + (unsigned int)rand_r(&seed) % 6;
            r.thread_policy = rand_r(&seed) % 2 ? ISO : (int)(rand_r(&seed) % 3);
            r.emulator = (int)(rand_r(&seed) % 2);
            r.numa_fit = (int)(rand_r(&seed) % 2);
            rc = vmsec_planner_place(p, name, &r, &pl);
            if (rc == VMSEC_EHOST) {
                ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "cannot place domain"));
                continue;
            }
            ck_assert_int_eq(rc, 0);
            live[d] = true;
            iso[d] = r.thread_policy == ISO;
            ck_assert_int_eq(vmsec_placement_cpuset(pl, VMSEC_PLACEMENT_NODES, nodes, sizeof(nodes)), 0);
            if (r.numa_fit == NODE)
                ck_assert_ptr_null(strpbrk(nodes, ",-"));
            ck_assert_int_eq(vmsec_planner_held(p, name, held, sizeof(held)), 1);
            vmsec_placement_free(pl);
        }
        /* no CPU is ever given to two domains */
        {
            unsigned char seen[64] = {0};
            for (unsigned int k = 0; k < 24; k++) {
                char nm[16], h2[256];
                snprintf(nm, sizeof(nm), "d%02u", k);
                ck_assert_int_eq(vmsec_planner_held(p, nm, h2, sizeof(h2)), live[k]);
                mark_disjoint(h2, seen, nm);
            }
        }
        /* no finding may involve an isolated domain */
        {
            vmsec_smt_audit *a;
            size_t n;
            ck_assert_int_eq(vmsec_planner_audit(p, &a), 0);
            ck_assert_int_eq(vmsec_smt_audit_count(a, &n), 0);
            for (size_t i = 0; i < n; i++) {
                const char *x, *y;
                unsigned int core;
                ck_assert_int_eq(vmsec_smt_audit_get(a, i, &x, &y, &core), 0);
                ck_assert_msg(!iso[atoi(x + 1)] && !iso[atoi(y + 1)], "isolated domain shares core %u: %s %s", core, x, y);
            }
            vmsec_smt_audit_free(a);
        }
    }
    vmsec_planner_free(p);
}
END_TEST

/* ---- libvirt domains --------------------------------------------------------------------------- */

START_TEST(load_pins_from_libvirt)
{
    const char *srcdir = getenv("top_srcdir");
    char uri[4096];
    vmsec_planner *p;
    vmsec_topology *t;
    char held[64];
    snprintf(uri, sizeof(uri), "test://%s/tests/data/planner-node.xml", srcdir ? srcdir : ".");
    /* the custom-file test driver reports no topology; its host is test:///default's */
    ck_assert_int_eq(vmsec_topology_from_libvirt(&t, uri), VMSEC_EFORMAT);
    ck_assert_str_eq(vmsec_error_last(), "capabilities: the host topology lists no CPUs");
    ck_assert_int_eq(vmsec_topology_from_libvirt(&t, "test:///default"), 0);
    ck_assert_int_eq(vmsec_planner_new(&p, t), 0);
    vmsec_topology_free(t);
    ck_assert_int_eq(vmsec_planner_load_libvirt(p, uri, 0), 0);
    ck_assert_int_eq(vmsec_planner_held(p, "pinned", held, sizeof(held)), 1);
    ck_assert_str_eq(held, "1-3");
    ck_assert_int_eq(vmsec_planner_held(p, "floating", held, sizeof(held)), 0);
    ck_assert_int_eq(vmsec_planner_held(p, "cpuset", held, sizeof(held)), 1);
    ck_assert_str_eq(held, "2,5");
    ck_assert_str_eq(audit_text(p), "domains 'cpuset' and 'pinned' share core 2 (node 0, socket 0, CPUs 2)\n");
    ck_assert_str_eq(freecpus(p), "0,4,6-15");
    ck_assert_str_eq(req(p, "new", 2, ISO, SHARE, NODE, true), "v=0,4 e=0,4 b=");
    ck_assert_int_eq(vmsec_planner_load_libvirt(p, "nosuchdriver:///", 0), VMSEC_ELIBVIRT);
    vmsec_planner_free(p);
}
END_TEST

static void quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

int main(void)
{
    virSetErrorFunc(NULL, quiet); /* expected libvirt failures are checked through vmsec's messages */
    Suite *s = suite_create("planner");
    TCase *tc;
    suite_add_tcase(s, planner_topology_tcase());
    tc = tcase_create("placement");
    tcase_add_test(tc, small_host_without_smt);
    tcase_add_test(tc, isolate_packs_siblings_and_blocks_the_rest);
    tcase_add_test(tc, prefer_packs_then_falls_back_and_audit_reports_sharing);
    tcase_add_test(tc, require_uses_sibling_pairs);
    tcase_add_test(tc, refusal_names_the_shortfall_per_node);
    tcase_add_test(tc, big_host_256_cpus_four_nodes);
    tcase_add_test(tc, numa_fit_picks_lowest_node_with_room);
    tcase_add_test(tc, reserved_and_offline_cpus);
    tcase_add_test(tc, request_validation);
    tcase_add_test(tc, placement_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("replan");
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, replan_keeps_placements_and_reuses_freed_cpus);
    tcase_add_test(tc, hold_and_audit);
    tcase_add_loop_test(tc, property_isolate_never_shares_a_core, 0, 20);
    tcase_add_test(tc, load_pins_from_libvirt);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, planner_profile_tcase());
    return vt_run_suite(s);
}
