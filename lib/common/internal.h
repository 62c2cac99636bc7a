/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: never installed. Helpers shared by every module. */
#ifndef VMSEC_INTERNAL_H
#define VMSEC_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "vmsec/errors.h"

#define VMSEC_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Records a message for vmsec_error_last() and returns code, so callers write
 * `return vmsec__error(VMSEC_EINVAL, "profile %s:%u: ...", ...);`. */
int vmsec__error(int code, const char *fmt, ...) VMSEC_PRINTF(2, 3);
int vmsec__verror(int code, const char *fmt, va_list ap) VMSEC_PRINTF(2, 0);
/* Same, appending ": <strerror(errnum)>". */
int vmsec__error_errno(int code, int errnum, const char *fmt, ...) VMSEC_PRINTF(3, 4);
/* Maps an errno value from a failed system call to the closest vmsec code. */
int vmsec__errno_code(int errnum);

/* Ensures libsodium is initialised; records an error and returns VMSEC_ECRYPTO if it cannot be. */
int vmsec__ensure_init(void);

/* Secret half of a keypair (guarded memory, readable) and its public half. */
struct vmsec_keypair;
const uint8_t *vmsec__keypair_secret(const struct vmsec_keypair *kp);
const uint8_t *vmsec__keypair_pub(const struct vmsec_keypair *kp);

#define VMSEC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
