/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/hostcheck.h
 * @brief Can this host enforce a profile? Checked before anything is changed.
 *
 * The check covers: the CPUs named by pins and the NUMA nodes of the nodeset exist and are online;
 * the cgroup controllers the profile's limits need are present; memory locking is permitted
 * (CAP_SYS_RESOURCE of the libvirt daemon, or its hard RLIMIT_MEMLOCK covers what QEMU must lock);
 * huge pages of the requested size exist and enough are free; the KSM state; and, for a block I/O
 * weight, that some block device uses the bfq or cfq I/O scheduler, the only ones that enforce one
 * (on cgroup v1 a problem otherwise; on v2, where iocost may enforce it, unchecked). Over a remote
 * connection, CPUs and nodes come from libvirt and the kernel-level facts are reported as
 * "cannot be checked here (remote host)".
 */
#ifndef VMSEC_HOSTCHECK_H
#define VMSEC_HOSTCHECK_H

#include <vmsec/common.h>
#include <vmsec/profile.h>
#include <vmsec/report.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Flag: act on (or check for) the running domain, like libvirt's VIR_DOMAIN_AFFECT_LIVE. */
#define VMSEC_AFFECT_LIVE 0x1u
/** @brief Flag: act on (or check for) the persistent configuration, used at the next boot. */
#define VMSEC_AFFECT_CONFIG 0x2u

/**
 * @brief Checks whether the host behind a libvirt connection can enforce a profile.
 *
 * Every problem found is both a #VMSEC_STATUS_PROBLEM entry of the report and a line of the
 * single error message recorded for vmsec_error_last().
 *
 * @param uri libvirt URI (e.g. `qemu:///system`, `qemu+tcp://host/system`), or NULL to check
 *        this host without libvirt.
 * @param profile The profile; it must pass vmsec_profile_validate().
 * @param flags #VMSEC_AFFECT_LIVE and/or #VMSEC_AFFECT_CONFIG (0 means both): memory locking
 *        matters only for settings used when QEMU starts, i.e. with #VMSEC_AFFECT_CONFIG.
 * @param report Receives the report (also on #VMSEC_EHOST); free it with vmsec_report_free().
 *        May be NULL.
 * @return 0 if the host can enforce the profile; #VMSEC_EHOST listing every problem;
 *         #VMSEC_EINVAL; #VMSEC_EFORMAT (invalid profile); #VMSEC_ELIBVIRT; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_host_check(const char *uri, const vmsec_profile *profile, unsigned int flags,
                                  vmsec_report **report);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_HOSTCHECK_H */
