/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/errors.h
 * @brief Error codes and per-thread error messages.
 *
 * Every function that can fail returns `int`: 0 on success or one of the negative codes below.
 * The numeric values are part of the ABI and never change once released; new codes are only ever
 * appended. The code tells a caller *what kind* of failure happened; vmsec_error_last() gives a
 * human-readable message with context (file, line, setting, peer) for the same thread.
 */
#ifndef VMSEC_ERRORS_H
#define VMSEC_ERRORS_H

#include <vmsec/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Error codes returned (negated) by vmsec functions. Values are stable across releases. */
typedef enum vmsec_error {
    VMSEC_OK = 0,            /**< Success. */
    VMSEC_EINVAL = -1,       /**< An argument is invalid (NULL, out of range, wrong size). */
    VMSEC_ENOMEM = -2,       /**< Memory (or guarded memory) could not be allocated. */
    VMSEC_EIO = -3,          /**< A system call failed (read, write, open, socket...). */
    VMSEC_EPERM = -4,        /**< Refused for safety or permissions (e.g. key file readable by others). */
    VMSEC_EFORMAT = -5,      /**< Malformed input: a file, text form, profile or message. */
    VMSEC_ENOTFOUND = -6,    /**< A named object (file, domain, key, setting) does not exist. */
    VMSEC_EEXIST = -7,       /**< The object already exists and would be overwritten. */
    VMSEC_EAGAIN = -8,       /**< The operation would block; retry when the descriptor is ready. */
    VMSEC_EAUTH = -9,        /**< Authentication failed: bad MAC, untrusted or wrong peer key, PSK mismatch. */
    VMSEC_EPROTO = -10,      /**< The peer violated the protocol (bad framing, announcement, state). */
    VMSEC_ETIMEDOUT = -11,   /**< A deadline passed (handshake, connect). */
    VMSEC_ECLOSED = -12,     /**< The peer closed the channel cleanly; no more messages will arrive. */
    VMSEC_ETRUNCATED = -13,  /**< The stream ended without a clean close (possible truncation attack). */
    VMSEC_ETOOBIG = -14,     /**< A message or value exceeds the configured or protocol maximum. */
    VMSEC_EUNSUPPORTED = -15,/**< Not supported here (cipher without hardware support, driver limits). */
    VMSEC_ESTATE = -16,      /**< The object is in the wrong state for this call (e.g. channel failed). */
    VMSEC_ECRYPTO = -17,     /**< A cryptographic primitive failed or could not be initialised. */
    VMSEC_ELIBVIRT = -18,    /**< libvirt reported an error (connection lost, operation refused). */
    VMSEC_EHOST = -19,       /**< The host cannot enforce what was asked (host check failed). */
    VMSEC_ECONNREFUSED = -20,/**< Nobody listens at the address, or the relay refused the connection. */
    VMSEC_EADDRINUSE = -21,  /**< The address (port, socket path) is already in use. */
    VMSEC_EDENIED = -22,     /**< Denied by policy. */
    VMSEC_EROLLEDBACK = -23, /**< An apply step failed and every change already made was restored. */
    VMSEC_EPARTIAL = -24,    /**< An apply step failed and restoring the previous state failed too. */
    VMSEC_EDRIFT = -25,      /**< Verification found the enforced state differs from the profile. */
    VMSEC_EINTERNAL = -26,   /**< An internal invariant was violated (a bug; please report it). */
    /** The peer sent a message larger than the configured maximum; the channel failed (unlike
     *  #VMSEC_ETOOBIG, which reports a buffer too small or a local value over a limit).
     *  Available since VMSEC_1.1. */
    VMSEC_EPEERTOOBIG = -27,
    /** The peer sent nothing (not even a keep-alive) within the channel's dead-peer timeout
     *  (vmsec_channel_config_set_keepalive()); the channel failed. Available since VMSEC_1.1. */
    VMSEC_EPEERDEAD = -28,
    /** The peer no longer knows the session being resumed (its process restarted and lost the
     *  session's state), or, on a session listener, a peer asked to resume a session this side
     *  does not know: messages may have been lost, so the session is over (vmsec/session.h).
     *  Available since VMSEC_1.1. */
    VMSEC_ESESSIONLOST = -29
} vmsec_error;

/**
 * @brief Returns a short, static description of an error code.
 * @param code A value of @ref vmsec_error (negative) or 0.
 * @return A static string, never NULL; "unknown error" for values this version does not know.
 */
VMSEC_EXPORT const char *vmsec_strerror(int code);

/**
 * @brief Returns the message describing the most recent failure in the calling thread.
 *
 * The message carries context such as `profile web.conf:12: unknown key 'cpu.pinn'`. Successful
 * calls do not clear it (like errno), so read it only right after a call returned a negative code.
 * The string stays valid until the next vmsec call in the same thread.
 *
 * @return A NUL-terminated string, never NULL; empty if no failure was recorded in this thread.
 */
VMSEC_EXPORT const char *vmsec_error_last(void);

/**
 * @brief Returns the code of the most recent failure in the calling thread (0 if none).
 * @return A value of @ref vmsec_error.
 */
VMSEC_EXPORT int vmsec_error_last_code(void);

/** @brief Forgets the calling thread's last error; vmsec_error_last() then returns "". */
VMSEC_EXPORT void vmsec_error_clear(void);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_ERRORS_H */
