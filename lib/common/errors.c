/* SPDX-License-Identifier: ISC */
/* Error codes and the per-thread last error message (vmsec_error_last()). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/internal.h"
#include "vmsec/errors.h"

#define ERROR_MSG_MAX 1024

static _Thread_local char last_msg[ERROR_MSG_MAX];
static _Thread_local int last_code;

static const char *const error_names[] = {
    [0] = "success",
    [-VMSEC_EINVAL] = "invalid argument",
    [-VMSEC_ENOMEM] = "out of memory",
    [-VMSEC_EIO] = "input/output error",
    [-VMSEC_EPERM] = "refused: unsafe or not permitted",
    [-VMSEC_EFORMAT] = "malformed input",
    [-VMSEC_ENOTFOUND] = "not found",
    [-VMSEC_EEXIST] = "already exists",
    [-VMSEC_EAGAIN] = "operation would block",
    [-VMSEC_EAUTH] = "authentication failed",
    [-VMSEC_EPROTO] = "protocol violation",
    [-VMSEC_ETIMEDOUT] = "timed out",
    [-VMSEC_ECLOSED] = "channel closed by peer",
    [-VMSEC_ETRUNCATED] = "stream truncated without clean close",
    [-VMSEC_ETOOBIG] = "too large",
    [-VMSEC_EUNSUPPORTED] = "not supported",
    [-VMSEC_ESTATE] = "invalid state for this operation",
    [-VMSEC_ECRYPTO] = "cryptographic failure",
    [-VMSEC_ELIBVIRT] = "libvirt error",
    [-VMSEC_EHOST] = "host cannot enforce the request",
    [-VMSEC_ECONNREFUSED] = "connection refused",
    [-VMSEC_EADDRINUSE] = "address already in use",
    [-VMSEC_EDENIED] = "denied by policy",
    [-VMSEC_EROLLEDBACK] = "failed and rolled back",
    [-VMSEC_EPARTIAL] = "failed and rollback incomplete",
    [-VMSEC_EDRIFT] = "drift from the profile detected",
    [-VMSEC_EINTERNAL] = "internal error",
    [-VMSEC_EPEERTOOBIG] = "peer's message exceeds the maximum",
    [-VMSEC_EPEERDEAD] = "peer sent nothing within the dead-peer timeout",
    [-VMSEC_ESESSIONLOST] = "session state lost by one side",
};

const char *vmsec_strerror(int code)
{
    if (code > 0 || (size_t)-(long)code >= VMSEC_ARRAY_LEN(error_names) || !error_names[-code])
        return "unknown error";
    return error_names[-code];
}

const char *vmsec_error_last(void)
{
    return last_msg;
}

int vmsec_error_last_code(void)
{
    return last_code;
}

void vmsec_error_clear(void)
{
    last_msg[0] = '\0';
    last_code = 0;
}

int vmsec__verror(int code, const char *fmt, va_list ap)
{
    /* Formatted aside first: callers add context to the previous message by passing
     * vmsec_error_last() as an argument, and vsnprintf's source and destination must not overlap. */
    char msg[ERROR_MSG_MAX];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        snprintf(msg, sizeof(msg), "%s", vmsec_strerror(code));
    memcpy(last_msg, msg, sizeof(last_msg));
    last_code = code;
    return code;
}

int vmsec__error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsec__verror(code, fmt, ap);
    va_end(ap);
    return code;
}

int vmsec__error_errno(int code, int errnum, const char *fmt, ...)
{
    char buf[ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return vmsec__error(code, "%s: %s", buf, strerror(errnum));
}

int vmsec__errno_code(int errnum)
{
    switch (errnum) {
    case ENOENT: return VMSEC_ENOTFOUND;
    case EEXIST: return VMSEC_EEXIST;
    case EACCES:
    case EPERM: return VMSEC_EPERM;
    case ENOMEM: return VMSEC_ENOMEM;
    case EAGAIN: return VMSEC_EAGAIN;
    case ETIMEDOUT: return VMSEC_ETIMEDOUT;
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENODEV: return VMSEC_ECONNREFUSED;
    case EADDRINUSE: return VMSEC_EADDRINUSE;
    case EINVAL: return VMSEC_EINVAL;
    default: return VMSEC_EIO;
    }
}
