/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: shared by lib/domain*.c. */
#ifndef VMSEC_DOMAIN_INTERNAL_H
#define VMSEC_DOMAIN_INTERNAL_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/tree.h>

#include "common/internal.h"
#include "isolation/profile_internal.h"
#include "common/report_internal.h"
#include "isolation/virt.h"
#include "vmsec/domain.h"

struct vmsec_domain {
    virConnectPtr conn;
    virDomainPtr dom;
    char name[256];
    char uuid[VIR_UUID_STRING_BUFLEN];
};

/* Parses domain XML (blank text dropped so output is re-indented consistently). NULL on error,
 * with VMSEC_EFORMAT recorded. */
xmlDocPtr vmsec__xml_parse(const char *xml, const char *what);
/* Serialises a document without the XML declaration, indented. NULL on ENOMEM (recorded). */
char *vmsec__xml_dump(xmlDocPtr doc);
/* Merges the profile into a parsed domain document (see vmsec_domain_render). */
int vmsec__render_doc(const struct vmsec_profile *p, xmlDocPtr doc);
/* vCPU count and iothread ids of a domain document; *ids is malloc'ed. */
int vmsec__xml_counts(xmlDocPtr doc, unsigned int *nvcpus, unsigned int **ids, size_t *n);

/* Small libxml helpers. */
xmlNodePtr vmsec__xml_child(xmlNodePtr parent, const char *name);
xmlNodePtr vmsec__xml_child_attr(xmlNodePtr parent, const char *name, const char *attr, const char *value);

/* Text of the memory/blkio/scheduler names used in reports and libvirt typed parameters. */
extern const char *const vmsec__memory_param_names[VMSEC__MEM_LIMITS];
extern const char *const vmsec__cputune_period_elems[VMSEC__CPU_SCOPES];
extern const char *const vmsec__cputune_quota_elems[VMSEC__CPU_SCOPES];

/* Profile text and digest, malloc'ed / into buf. */
int vmsec__profile_text(const struct vmsec_profile *p, char **text);

/* The kernel half of verification for QEMU process pid, /proc and /sys under root (fixture
 * trees in unit tests). Adds entries to r; returns 0 or a negative code. */
int vmsec__verify_kernel(const char *root, long pid, const struct vmsec_profile *p, struct vmsec_report *r);

/* Verify and apply halves. */
int vmsec__domain_is_running(struct vmsec_domain *d);
/* What host check, apply and verify do first: the profile is valid and has no unplanned placement
 * intent; returns whether the domain runs (1/0) or a negative code. */
int vmsec__domain_prepare(struct vmsec_domain *d, const struct vmsec_profile *p);
int vmsec__metadata_set(struct vmsec_domain *d, const struct vmsec_profile *p, unsigned int vflags);
/* vmsec's metadata element as virDomainGetMetadata() would return it for vflags (AFFECT_LIVE,
 * AFFECT_CONFIG or 0 for current): NULL when there is none or on error (libvirt's last error set,
 * VIR_ERR_NO_DOMAIN_METADATA when there is none). Asking libvirt only when the definition names
 * our namespace keeps its "metadata not found" from a caller's error handler (vmsec_domain_wrap),
 * which prints it by default. */
char *vmsec__metadata_get(struct vmsec_domain *d, unsigned int vflags);

/* The device_* blkio parameters of a running domain, and "weight" if stated, read from its live
 * XML (for hosts where libvirt cannot read blkio parameters, see domain_blkio.c); *out is freed with
 * virTypedParamsFree. */
int vmsec__blkio_params_from_xml(struct vmsec_domain *d, virTypedParameterPtr *out, int *n);

#endif
