/* SPDX-License-Identifier: ISC */
/* Synthetic host topologies in the planner's text form, shared by tests and the benchmark.
 * Numbering follows Linux on x86: the first threads of every core come first (socket by socket),
 * then the second threads, so CPU i and CPU i + cores_total are siblings. */
#ifndef VMSEC_PLANNER_TOPOS_H
#define VMSEC_PLANNER_TOPOS_H

#include <stdio.h>
#include <stdlib.h>

/* sockets x cores x threads; each socket split into nodes_per_socket equal NUMA nodes.
 * Returns a malloc'd text. */
static inline char *pt_smt(unsigned int sockets, unsigned int cores, unsigned int threads, unsigned int nodes_per_socket)
{
    size_t cap = (size_t)sockets * cores * threads * 64 + 1, len = 0;
    char *s = malloc(cap);
    unsigned int total = sockets * cores;
    if (!s)
        abort();
    s[0] = '\0';
    for (unsigned int t = 0; t < threads; t++)
        for (unsigned int so = 0; so < sockets; so++)
            for (unsigned int c = 0; c < cores; c++) {
                unsigned int cpu = t * total + so * cores + c;
                unsigned int node = so * nodes_per_socket + c / (cores / nodes_per_socket);
                len += (size_t)snprintf(s + len, cap - len, "cpu %u node %u socket %u core %u\n", cpu, node, so, c);
            }
    return s;
}

#endif
