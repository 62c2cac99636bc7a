/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/transport.h
 * @brief Stream transports for channels: AF_VSOCK, AF_UNIX and TCP, named by address strings.
 *
 * Address forms:
 * - `vsock:CID:PORT`: CID is a decimal number or `host` (2), `local` (1), `any` (listen only);
 *   PORT is a decimal number (0..4294967294) or `any` (listen only: the kernel picks one).
 * - `unix:PATH`: a filesystem socket (PATH shorter than 108 bytes); `unix:@NAME` is Linux's
 *   abstract namespace.
 * - `tcp:HOST:PORT`: HOST is a name, an IPv4 address or an IPv6 address in brackets
 *   (`tcp:[::1]:7000`); PORT is 0..65535 (0 when listening: the kernel picks one).
 *
 * Every descriptor returned is a blocking, close-on-exec stream socket.
 */
#ifndef VMSEC_TRANSPORT_H
#define VMSEC_TRANSPORT_H

#include <vmsec/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Buffer size (including the NUL) that always holds an address written by this module. */
#define VMSEC_ADDRESS_MAX 128

/** @brief Size of an address buffer, for bindings. @return #VMSEC_ADDRESS_MAX. */
VMSEC_EXPORT size_t vmsec_address_max(void);

/**
 * @brief Checks that an address string is well formed (no name resolution, no system call).
 * @param address The address.
 * @return 0; #VMSEC_EFORMAT naming what is wrong; #VMSEC_ETOOBIG for a unix path that is too long;
 *         #VMSEC_EINVAL for NULL.
 */
VMSEC_EXPORT int vmsec_address_validate(const char *address);

/**
 * @brief Connects a stream socket to @p address.
 * @param address The address.
 * @param timeout_ms Connection timeout in milliseconds; 0 means no limit.
 * @param[out] fd Receives the connected descriptor (the caller closes it).
 * @return 0; #VMSEC_ECONNREFUSED when nobody listens there (also a missing unix socket);
 *         #VMSEC_ETIMEDOUT; #VMSEC_ENOTFOUND (unknown host); #VMSEC_EUNSUPPORTED (no vsock
 *         transport in this kernel); #VMSEC_EFORMAT; #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_transport_connect(const char *address, unsigned int timeout_ms, int *fd);

/** @brief A listening socket. Opaque. */
typedef struct vmsec_listener vmsec_listener;

/**
 * @brief Binds and listens on @p address.
 *
 * A unix socket file is created with mode 0600 and removed again by vmsec_listener_free(); an
 * existing file at the path is never removed (#VMSEC_EADDRINUSE).
 *
 * @param[out] out Receives the listener; free it with vmsec_listener_free().
 * @param address The address.
 * @return 0; #VMSEC_EADDRINUSE; #VMSEC_EFORMAT; #VMSEC_ETOOBIG; #VMSEC_EPERM;
 *         #VMSEC_EUNSUPPORTED (no vsock transport); #VMSEC_ENOTFOUND; #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_listener_new(vmsec_listener **out, const char *address);

/** @brief Closes the listener (removing a unix socket file it created). Accepts NULL. @param l The listener. */
VMSEC_EXPORT void vmsec_listener_free(vmsec_listener *l);

/**
 * @brief Returns the listening descriptor (for poll/epoll; it stays owned by the listener).
 * @param l The listener.
 * @return The descriptor, or -1 when @p l is NULL.
 */
VMSEC_EXPORT int vmsec_listener_fd(const vmsec_listener *l);

/**
 * @brief Writes the bound address, with the port the kernel picked (e.g. `tcp:127.0.0.1:40123`).
 * @param l The listener.
 * @param[out] out Buffer; #VMSEC_ADDRESS_MAX bytes always suffice.
 * @param out_len Size of @p out.
 * @return 0, #VMSEC_EINVAL, #VMSEC_ETOOBIG or #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_listener_address(const vmsec_listener *l, char *out, size_t out_len);

/**
 * @brief Restricts vsock connections to the given peer CIDs (accept refuses others).
 * @param l The listener.
 * @param cids The allowed CIDs (copied), or NULL with @p n 0 to remove the filter.
 * @param n Number of CIDs.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_listener_set_cid_filter(vmsec_listener *l, const uint32_t *cids, size_t n);

/**
 * @brief Accepts one connection (blocks unless the listening descriptor was made non-blocking).
 * @param l The listener.
 * @param[out] fd Receives the connected descriptor (the caller closes it).
 * @param[out] peer Receives the peer address as text (`vsock:CID:PORT`, `tcp:...`, `unix:` for an
 *             unnamed peer); may be NULL.
 * @param peer_len Size of @p peer.
 * @param[out] peer_cid Receives the peer's vsock CID (UINT32_MAX for other transports); may be NULL.
 * @return 0; #VMSEC_EDENIED when the CID filter refused the peer (its connection is closed; call
 *         again); #VMSEC_EAGAIN (non-blocking listener); #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_listener_accept(vmsec_listener *l, int *fd, char *peer, size_t peer_len, uint32_t *peer_cid);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_TRANSPORT_H */
