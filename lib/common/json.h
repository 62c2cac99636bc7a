/* SPDX-License-Identifier: ISC */
/* Private to libvmsec and its programs: every JSON document vmsec writes goes through jansson and
 * this thin layer (lib/common/json.c), so that no byte of a value reaches the output unchecked.
 *
 * Strings from the outside world (profile paths, domain names, libvirt values, rule texts) are
 * arbitrary bytes. JSON text must be UTF-8 (RFC 8259 section 8.1), so before a string or key
 * enters a document each maximal invalid subsequence is replaced by U+FFFD, as the Unicode
 * Standard (chapter 3, "U+FFFD Substitution of Maximal Subparts") and the WHATWG Encoding
 * Standard recommend: a decoder reading our bytes back sees the same number of replacement
 * characters any conforming decoder would. Valid UTF-8 is kept as it is, and written unescaped.
 * A NUL byte is a valid code point: vmsec__json_strn() keeps it and the document says \u0000.
 *
 * json.c uses only jansson, libc and the error codes of <vmsec/errors.h>, and records nothing
 * for vmsec_error_last(): the caller knows what was being written and says so. The command-line
 * tools compile the same file into their own helper library. */
#ifndef VMSEC_JSON_H
#define VMSEC_JSON_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Copies n bytes of s with every maximal invalid UTF-8 subsequence replaced by U+FFFD (EF BF BD).
 * The copy is NUL-terminated (embedded NULs are kept); its length goes to *out_len when out_len
 * is not NULL. Returns NULL when out of memory or when s is NULL. Free with free(). */
char *vmsec__utf8_sanitize(const char *s, size_t n, size_t *out_len);

/* A new JSON string holding the NUL-terminated s, or the n bytes at s, sanitised as above.
 * A NULL s gives JSON null. Returns NULL only when out of memory. */
json_t *vmsec__json_str(const char *s);
json_t *vmsec__json_strn(const char *s, size_t n);

/* Sets obj[key] = value, keeping insertion order, with key sanitised as above. Steals value,
 * also on failure, so calls nest: vmsec__json_set(o, "n", json_integer(n)). A NULL value (a
 * constructor that ran out of memory) gives VMSEC_ENOMEM; a NULL key or obj that is not an
 * object gives VMSEC_EINVAL. Returns 0 on success. */
int vmsec__json_set(json_t *obj, const char *key, json_t *value);

/* v as compact one-line text (no spaces, no newline, members in insertion order, valid UTF-8
 * written as it is). Any value may be dumped, not only objects and arrays.
 * vmsec__json_dump returns a NUL-terminated string to free with free(), or NULL when out of memory;
 * vmsec__json_dumpf writes to f and returns 0, VMSEC_EINVAL for a NULL argument, or VMSEC_EIO. */
char *vmsec__json_dump(const json_t *v);
int vmsec__json_dumpf(const json_t *v, FILE *f);

#endif
