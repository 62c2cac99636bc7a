/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/domain.h
 * @brief Isolation profiles on libvirt domains: render into XML, apply, verify, record.
 *
 * A @ref vmsec_domain wraps one libvirt domain, opened by URI and name or taken from a caller
 * that already holds a `virDomainPtr`. Every libvirt URI works, remote ones included; checks of
 * what the kernel enforces (cgroup files, thread affinity) run only when the domain's QEMU
 * process runs on this host, and are otherwise reported as "cannot be checked here".
 *
 * Applying is transactional: the previous values are recorded first, and if any step fails the
 * steps already made are undone (#VMSEC_EROLLEDBACK) or, if undoing fails too, the report lists
 * what was left changed (#VMSEC_EPARTIAL). The applied profile (name, digest and text) is kept
 * in the domain's metadata under the namespace #VMSEC_METADATA_URI, element `vmsec:profile`,
 * so `virsh metadata DOMAIN https://vmsec.org/xmlns/profile/1` shows it.
 */
#ifndef VMSEC_DOMAIN_H
#define VMSEC_DOMAIN_H

#include <vmsec/common.h>
#include <vmsec/hostcheck.h>
#include <vmsec/profile.h>
#include <vmsec/report.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief A libvirt domain handle. Opaque; free with vmsec_domain_free(). */
typedef struct vmsec_domain vmsec_domain;

/** @brief libvirt's domain object (`virDomainPtr` is `struct _virDomain *`). */
struct _virDomain;

/** @brief XML namespace of the metadata element vmsec records in domains. */
#define VMSEC_METADATA_URI "https://vmsec.org/xmlns/profile/1"
/** @brief Namespace prefix of the metadata element (`<vmsec:profile ...>`). */
#define VMSEC_METADATA_PREFIX "vmsec"

/**
 * @brief Opens a domain by connection URI and name (or UUID).
 * @param uri A libvirt URI (`qemu:///system`, `qemu+tcp://host/system`, `test:///default`...),
 *        or NULL for libvirt's default.
 * @param name The domain's name or UUID string.
 * @param out Receives the handle.
 * @return 0; #VMSEC_ELIBVIRT if the connection fails; #VMSEC_ENOTFOUND if there is no such
 *         domain; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_domain_open(const char *uri, const char *name, vmsec_domain **out);

/**
 * @brief Wraps a domain the caller already holds.
 *
 * The handle takes its own references (virDomainRef, virConnectRef): the caller keeps and frees
 * its `virDomainPtr` as usual.
 *
 * @param dom A `virDomainPtr`.
 * @param out Receives the handle.
 * @return 0; #VMSEC_EINVAL; #VMSEC_ELIBVIRT; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_domain_wrap(struct _virDomain *dom, vmsec_domain **out);

/**
 * @brief Releases a handle (and its libvirt references).
 * @param d The handle, or NULL.
 */
VMSEC_EXPORT void vmsec_domain_free(vmsec_domain *d);

/**
 * @brief Merges a profile into domain XML.
 *
 * Sets the elements the profile names in `<cputune>` (vcpupin, emulatorpin, iothreadpin, shares,
 * period and quota of every scope), `<numatune>`, `<memtune>`, `<memoryBacking>` (locked,
 * hugepages, nosharepages) and `<blkiotune>`; every other element, attribute, comment and
 * metadata is kept. Idempotent: rendering the output again gives the same text. The profile is
 * checked against the domain's vCPU count and I/O threads first.
 *
 * @param profile The profile.
 * @param xml Domain XML (as from `virsh dumpxml`).
 * @param out Receives the new XML; free it with vmsec_domain_xml_free().
 * @return 0; #VMSEC_EFORMAT (malformed XML, invalid profile, or a profile that does not fit the
 *         domain); #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_domain_render(const vmsec_profile *profile, const char *xml, char **out);

/**
 * @brief Frees XML returned by vmsec_domain_render() or vmsec_domain_get_xml().
 * @param xml The text, or NULL.
 */
VMSEC_EXPORT void vmsec_domain_xml_free(char *xml);

/**
 * @brief Returns the domain's XML.
 * @param d The domain.
 * @param flags #VMSEC_AFFECT_CONFIG for the persistent configuration, else the live definition.
 * @param out Receives the XML; free it with vmsec_domain_xml_free().
 * @return 0; #VMSEC_ELIBVIRT; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_domain_get_xml(vmsec_domain *d, unsigned int flags, char **out);

/**
 * @brief Runs the host check (see vmsec_host_check()) for this domain: its memory size and
 *        state are taken into account (huge pages needed, whether QEMU starts again).
 * @param d The domain.
 * @param profile The profile.
 * @param flags #VMSEC_AFFECT_LIVE and/or #VMSEC_AFFECT_CONFIG; 0 means what vmsec_domain_apply()
 *        would do with 0.
 * @param report Receives the report (also on #VMSEC_EHOST); may be NULL.
 * @return 0; #VMSEC_EHOST listing every problem; #VMSEC_EFORMAT; #VMSEC_ELIBVIRT; #VMSEC_EINVAL;
 *         #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_domain_host_check(vmsec_domain *d, const vmsec_profile *profile, unsigned int flags,
                                         vmsec_report **report);

/**
 * @brief Applies a profile to the running domain and/or its persistent configuration.
 *
 * Runs the host check first and changes nothing if it fails. The configuration is replaced in
 * one virDomainDefineXML() of the rendered XML; the running domain is changed one setting at a
 * time through virDomainPinVcpuFlags(), virDomainPinEmulator(), virDomainPinIOThread(),
 * virDomainSetSchedulerParametersFlags(), virDomainSetMemoryParameters(),
 * virDomainSetNumaParameters() and virDomainSetBlkioParameters(). Settings that cannot change on
 * a running domain (memory backing, the NUMA mode, a nodeset outside restrictive mode) are
 * written to the configuration and reported as #VMSEC_STATUS_NEXT_BOOT; with #VMSEC_AFFECT_LIVE
 * alone such a profile is refused (#VMSEC_EUNSUPPORTED) before any change.
 * Finally the profile is recorded in the domain's metadata.
 *
 * @param d The domain.
 * @param profile The profile.
 * @param flags #VMSEC_AFFECT_LIVE and/or #VMSEC_AFFECT_CONFIG; 0 means live if the domain runs
 *        and config if it is persistent.
 * @param report Receives a per-setting report (also on failure, when one was started; when the
 *        host check refuses, its report listing every problem); may be NULL.
 * @return 0; #VMSEC_EHOST; #VMSEC_EROLLEDBACK (a step failed, everything was restored; the message
 *         names the setting and libvirt's reason); #VMSEC_EPARTIAL (restoring failed too: the
 *         message lists what was left changed); #VMSEC_ELIBVIRT (connection lost or libvirt
 *         refused before any change); #VMSEC_EUNSUPPORTED; #VMSEC_EFORMAT; #VMSEC_EINVAL;
 *         #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_domain_apply(vmsec_domain *d, const vmsec_profile *profile, unsigned int flags,
                                    vmsec_report **report);

/**
 * @brief Compares the domain with a profile: the state libvirt reports and what the kernel
 *        enforces (cgroup files of the domain, allowed CPUs of each QEMU thread).
 *
 * A running domain is compared live; a stopped one through its configuration (kernel checks are
 * then "cannot be checked here (domain not running)"). A block I/O weight that no I/O scheduler
 * enforces (no bfq or cfq, where libvirt cannot even read the domain's block I/O tuning) is a
 * drift entry "not enforced"; the other settings are still verified.
 *
 * @param d The domain.
 * @param profile The profile.
 * @param flags 0 (reserved).
 * @param report Receives one entry per check (ok, drift or unchecked); may be NULL.
 * @return 0 if nothing drifted; #VMSEC_EDRIFT if some setting drifted (the report says which);
 *         #VMSEC_ELIBVIRT; #VMSEC_EFORMAT; #VMSEC_EINVAL; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_domain_verify(vmsec_domain *d, const vmsec_profile *profile, unsigned int flags,
                                     vmsec_report **report);

/**
 * @brief Reads back the profile recorded in the domain's metadata by vmsec_domain_apply().
 * @param d The domain.
 * @param flags #VMSEC_AFFECT_CONFIG to read the persistent configuration's metadata, else the
 *        live one.
 * @param out Receives the profile (parsed from the recorded text); free with vmsec_profile_free().
 * @param digest Receives the recorded digest (`sha256:...`), or NULL.
 * @param digest_size Size of @p digest (at least #VMSEC_PROFILE_DIGEST_MAX).
 * @return 0; #VMSEC_ENOTFOUND if no profile is recorded; #VMSEC_EFORMAT if the record is
 *         damaged (its digest does not match its text); #VMSEC_ELIBVIRT; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_domain_get_applied(vmsec_domain *d, unsigned int flags, vmsec_profile **out,
                                          char *digest, size_t digest_size);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_DOMAIN_H */
