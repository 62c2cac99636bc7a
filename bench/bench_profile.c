/* SPDX-License-Identifier: ISC */
/* Time to apply and to verify a full profile, through the public API as a tool would call it.
 *   embedded: libvirt's in-process test:///default driver (domain "test"): the cost of vmsec and
 *             libvirt's API, no daemon, no kernel.
 *   libvirtd: a real QEMU domain when VMSEC_BENCH_URI and VMSEC_BENCH_DOMAIN name one (bench/run.sh
 *             sets them when it can start a test domain): includes RPC, cgroup writes and the
 *             kernel-level verification (cgroup files, /proc thread affinity). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmsec.h>

#include "bench.h"

#define ROUNDS 200

/* CPU bandwidth settings are left out: the embedded driver's scheduler is a stub that refuses them
 * (vmsec rolls the apply back), and the same profile is used for both targets. */
#define PROFILE_FMT \
    "name = bench\n" \
    "vcpus = 2\n" \
    "vcpu.0.pin = %s\n" \
    "vcpu.1.pin = %s\n" \
    "emulator.pin = %s\n" \
    "memory.hard_limit = 1G\n" \
    "memory.soft_limit = 512M\n" \
    "blkio.weight = 500\n"

/* Notes printed under the table: what a target measured differently, and why. */
static char notes[2048];

/* Only bfq or cfq give a domain a block I/O weight: where the host check finds neither (and
 * nothing else wrong), the target is measured without the weight, and a note says so. */
static void drop_unenforceable_weight(const char *label, vmsec_domain *d, vmsec_profile *p)
{
    vmsec_report *r = NULL;
    const char *why = NULL;
    size_t problems = 0, len = strlen(notes);

    if (vmsec_domain_host_check(d, p, VMSEC_AFFECT_LIVE, &r) != VMSEC_EHOST || !r)
        goto out;
    for (size_t i = 0; i < vmsec_report_count(r); i++) {
        if (vmsec_report_status(r, i) != VMSEC_STATUS_PROBLEM)
            continue;
        problems++;
        if (strcmp(vmsec_report_field(r, i, VMSEC_REPORT_SETTING), "blkio.weight") == 0)
            why = vmsec_report_field(r, i, VMSEC_REPORT_DETAIL);
    }
    if (problems == 1 && why && vmsec_profile_set_blkio_weight(p, 0) == 0 && len < sizeof(notes))
        snprintf(notes + len, sizeof(notes) - len, "%s: measured without `blkio.weight` (one live setting fewer), "
                 "which the host check refuses here: %s\n", label, why);
out:
    vmsec_report_free(r);
}

/* pins: the CPUs for vCPU 0, vCPU 1 and the emulator, which must exist on the target's host. */
static void run(const char *label, const char *uri, const char *name, const char *const pins[3])
{
    char profile_text[512];
    static double apply_t[ROUNDS], verify_t[ROUNDS];
    vmsec_domain *d;
    vmsec_profile *p;
    int rounds = ROUNDS;

    snprintf(profile_text, sizeof(profile_text), PROFILE_FMT, pins[0], pins[1], pins[2]);

    if (vmsec_profile_parse(&p, profile_text, strlen(profile_text), "bench") < 0 || vmsec_domain_open(uri, name, &d) < 0) {
        printf("| %-22s | %-36s |\n", label, vmsec_error_last());
        return;
    }
    drop_unenforceable_weight(label, d, p);
    for (int i = 0; i < rounds; i++) {
        double t0 = bench_now();
        int rc = vmsec_domain_apply(d, p, VMSEC_AFFECT_LIVE, NULL);
        double t1 = bench_now();
        int rv = rc < 0 ? rc : vmsec_domain_verify(d, p, 0, NULL); /* a failed apply keeps its message */
        double t2 = bench_now();
        if (rc < 0 || (rv < 0 && rv != VMSEC_EDRIFT)) {
            printf("| %-22s | failed: %s |\n", label, vmsec_error_last());
            rounds = 0;
            break;
        }
        apply_t[i] = (t1 - t0) * 1e3;
        verify_t[i] = (t2 - t1) * 1e3;
    }
    if (rounds) {
        double am = bench_quantile(apply_t, (size_t)rounds, 0.5), a99 = bench_quantile(apply_t, (size_t)rounds, 0.99);
        double vm = bench_quantile(verify_t, (size_t)rounds, 0.5), v99 = bench_quantile(verify_t, (size_t)rounds, 0.99);
        printf("| %-22s | %8.2f | %8.2f | %8.2f | %8.2f |\n", label, am, a99, vm, v99);
        bench_json("{\"bench\":\"profile\",\"target\":\"%s\",\"apply_median_ms\":%.3f,\"apply_p99_ms\":%.3f,"
                   "\"verify_median_ms\":%.3f,\"verify_p99_ms\":%.3f}",
                   label, am, a99, vm, v99);
    }
    vmsec_domain_free(d);
    vmsec_profile_free(p);
}

int main(void)
{
    const char *uri = getenv("VMSEC_BENCH_URI"), *name = getenv("VMSEC_BENCH_DOMAIN");
    printf("### Profile apply and verify (%d rounds, live: 2 vCPU pins, emulator pin, memory limits, block I/O weight)\n\n",
           ROUNDS);
    printf("| target                 | apply median ms | apply p99 ms | verify median ms | verify p99 ms |\n");
    printf("|------------------------|---------:|---------:|---------:|---------:|\n");
    static const char *const test_pins[3] = {"2", "4", "0,2"}; /* the test driver's host: CPUs 0, 2, 4 */
    static const char *const host_pins[3] = {"0", "1", "0-1"};
    run("embedded test driver", "test:///default", "test", test_pins);
    if (uri && name)
        run("libvirtd + QEMU (TCG)", uri, name, host_pins);
    else
        printf("| libvirtd + QEMU (TCG)  | not measured: set VMSEC_BENCH_URI and VMSEC_BENCH_DOMAIN |\n");
    printf("\n%s%s", notes, *notes ? "\n" : "");
    return 0;
}
