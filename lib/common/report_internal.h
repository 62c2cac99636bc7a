/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: building reports (lib/common/report.c). */
#ifndef VMSEC_REPORT_INTERNAL_H
#define VMSEC_REPORT_INTERNAL_H

#include "common/internal.h"
#include "vmsec/report.h"

/* Returns NULL (and records VMSEC_ENOMEM) when out of memory. */
struct vmsec_report *vmsec__report_new(void);
/* Appends an entry; NULL fields become "". The detail is printf-formatted (NULL for none).
 * Returns 0 or VMSEC_ENOMEM (recorded). */
int vmsec__report_add(struct vmsec_report *r, int status, const char *setting, const char *expected,
                      const char *actual, const char *source, const char *detail_fmt, ...)
    VMSEC_PRINTF(7, 8);
/* Changes the status (and optionally replaces the detail) of entry index. */
int vmsec__report_update(struct vmsec_report *r, size_t index, int status, const char *detail);

#endif
