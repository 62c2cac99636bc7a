/* SPDX-License-Identifier: ISC */
/* Private to the check_planner program: planners on synthetic hosts, compact views of placements,
 * free CPUs and SMT audits, and the builders of the test cases kept in their own files. */
#ifndef VMSEC_CHECK_PLANNER_H
#define VMSEC_CHECK_PLANNER_H

#include <stdbool.h>
#include <sys/stat.h> /* for testutil.h */

#include <vmsec.h>

#include "testutil.h"

vmsec_planner *mk_planner(const char *text);
/* A planner on pt_smt(sockets, cores, threads, nps) of planner_topos.h. */
vmsec_planner *mk_smt(unsigned int sockets, unsigned int cores, unsigned int threads, unsigned int nps);
const char *view(const vmsec_placement *pl);
const char *req(vmsec_planner *p, const char *dom, unsigned int vcpus, int policy, int emu, int fit, bool commit);
const char *freecpus(const vmsec_planner *p);
const char *audit_text(const vmsec_planner *p);

#define ISO VMSEC_THREAD_ISOLATE
#define PREF VMSEC_THREAD_PREFER
#define REQ VMSEC_THREAD_REQUIRE
#define SHARE VMSEC_EMULATOR_SHARE
#define DED VMSEC_EMULATOR_DEDICATED
#define NODE VMSEC_NUMA_FIT_NODE
#define SPREAD VMSEC_NUMA_FIT_SPREAD

TCase *planner_topology_tcase(void);
TCase *planner_profile_tcase(void);

#endif
