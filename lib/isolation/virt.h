/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: talking to libvirt (lib/isolation/virt.c), shared by the domain and host
 * check modules: error handling on connections vmsec opens, whether a connection reaches this
 * host, and the cast for the XML libvirt speaks. */
#ifndef VMSEC_VIRT_H
#define VMSEC_VIRT_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/internal.h"

/* libxml2 takes const xmlChar * for names and values; BAD_CAST would cast const away. */
#define XC(s) ((const xmlChar *)(s))

/* Error callback for connections vmsec opens itself: their errors reach the caller through
 * vmsec's own messages, so libvirt need not print them. */
void vmsec__libvirt_quiet(void *opaque, virErrorPtr err);

/* Records code with "<fmt>: <libvirt's last error message>". */
int vmsec__libvirt_error(int code, const char *fmt, ...) VMSEC_PRINTF(2, 3);

/* True if conn talks to a daemon on this host (no host in the URI, or a loopback one); if not,
 * says why ("remote host", "test driver") in why. */
bool vmsec__conn_is_local(virConnectPtr conn, char *why, size_t whylen);

/* True if conn's driver takes only flags 0 where others take VIR_DOMAIN_AFFECT_LIVE or
 * VIR_TYPED_PARAM_STRING_OKAY (the test driver; 0 means live on a running domain there). Asking
 * with the flags first and falling back would make libvirt report the refusal, which on a caller's
 * connection (vmsec_domain_wrap) its error handler prints: libvirt cannot tell us the caller's
 * handler, so none can be swapped in for one call and put back. */
bool vmsec__conn_takes_no_flags(virConnectPtr conn);

#endif
