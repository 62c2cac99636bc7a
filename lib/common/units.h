/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: never installed. Decimal integers and byte sizes in profile text.
 *
 * Sizes are a decimal number of bytes with an optional binary suffix: K M G T P E (also k, and
 * the IEC spellings KiB .. EiB), each a power of 1024. "MB"-style suffixes are refused as
 * ambiguous. No sign, no fraction, no spaces. */
#ifndef VMSEC_UNITS_H
#define VMSEC_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define VMSEC_UNITS_WHY_MAX 128u
/* Longest formatted size or integer plus NUL. */
#define VMSEC_UNITS_TEXT_MAX 24u

/* Unsigned decimal: digits only. Returns 0 or -1 with a reason in why. */
int vmsec__parse_u64(const char *text, size_t len, uint64_t *out, char *why, size_t whylen);
/* Signed decimal: optional '-' then digits. */
int vmsec__parse_i64(const char *text, size_t len, int64_t *out, char *why, size_t whylen);
/* Size in bytes with an optional binary suffix. */
int vmsec__size_parse(const char *text, size_t len, uint64_t *out, char *why, size_t whylen);
/* Formats bytes with the largest suffix that divides it exactly ("4G", "1536K", "1000").
 * buf must hold VMSEC_UNITS_TEXT_MAX bytes. Returns buf. */
char *vmsec__size_format(uint64_t bytes, char *buf);

#endif
