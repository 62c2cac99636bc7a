/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/relay.h
 * @brief Host relay for guest-to-guest messaging: identify the caller, decide by policy, forward
 *        ciphertext.
 *
 * virtio-vsock connects a guest only to its host, so guest-to-guest traffic goes through a relay
 * on the host. The relay learns the caller's vsock CID from the kernel (a guest cannot forge it),
 * maps it to a libvirt domain, asks the @ref vmsec_policy whether that domain may reach the
 * requested service of the target domain, and if so connects to the target and copies bytes in
 * both directions without looking at them: the Noise channel runs end to end between the guests.
 *
 * The wire protocol (request, reply, origin header) is specified in doc/RELAY.md. This header has
 * three parts:
 * - the relay itself (@ref vmsec_relay): a single-threaded, non-blocking epoll loop;
 * - client helpers: vmsec_relay_request() for the caller and vmsec_relay_origin_read() for the
 *   target, run on a connected descriptor before vmsec_channel takes it over;
 * - @ref vmsec_peermap, so a target can require that the key authenticated by the handshake is
 *   the key of the domain the relay named.
 */
#ifndef VMSEC_RELAY_H
#define VMSEC_RELAY_H

#include <vmsec/common.h>
#include <vmsec/keys.h>
#include <vmsec/policy.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Version of the relay wire protocol spoken by this library. */
#define VMSEC_RELAY_PROTOCOL_VERSION 1
/** @brief The vsock port the relay listens on by default. */
#define VMSEC_RELAY_DEFAULT_PORT 7350
/** @brief vsock CID reported for callers that reach the relay over a unix socket (the host). */
#define VMSEC_RELAY_HOST_CID 2

/** @brief Protocol version, for bindings. @return #VMSEC_RELAY_PROTOCOL_VERSION. */
VMSEC_EXPORT unsigned int vmsec_relay_protocol_version(void);
/** @brief Default vsock port, for bindings. @return #VMSEC_RELAY_DEFAULT_PORT. */
VMSEC_EXPORT uint32_t vmsec_relay_default_port(void);

/** @brief Status byte of the relay's reply to a caller (doc/RELAY.md). */
typedef enum vmsec_relay_status {
    VMSEC_RELAY_ACCEPTED = 0,    /**< The target is connected; bytes now flow end to end. */
    VMSEC_RELAY_DENIED = 1,      /**< The policy refuses this (source, target, service). */
    VMSEC_RELAY_UNAVAILABLE = 2, /**< Allowed, but the target or service cannot be reached now. */
    VMSEC_RELAY_BAD_REQUEST = 3, /**< The request was malformed or came too slowly. */
    VMSEC_RELAY_BUSY = 4,        /**< A connection limit of the caller or of the relay was reached. */
    VMSEC_RELAY_INTERNAL = 5,    /**< The relay failed (out of memory, unknown caller identity...). */
    /** Allowed by the policy, but no target of that name exists (no running domain with a vsock
     *  device, no linked host of that name, or none on the linked host); since 1.1. Sent only
     *  after the policy allowed the request, so a caller the policy refuses learns nothing of
     *  which domains exist. A client older than 1.1 takes it for an unknown status and fails
     *  the request (#VMSEC_EPROTO), never as accepted. */
    VMSEC_RELAY_NO_SUCH_TARGET = 6
} vmsec_relay_status;

/** @brief Tunables of a relay, set with vmsec_relay_set_limit(). */
typedef enum vmsec_relay_limit {
    VMSEC_RELAY_LIMIT_SESSIONS = 1,       /**< Sessions in any state, all sources (default 1024). */
    VMSEC_RELAY_LIMIT_PER_SOURCE = 2,     /**< Forwarding sessions per source domain (default 64). */
    VMSEC_RELAY_LIMIT_PENDING_PER_SOURCE = 3, /**< Sessions not yet forwarding, per source (default 8). */
    VMSEC_RELAY_LIMIT_BUFFER = 4,         /**< Bytes buffered per direction per session (default 131072, min 4096). */
    VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS = 5, /**< Time for the caller to send its request (default 5000). */
    VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS = 6, /**< Time for the target to accept (default 5000). */
    VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS = 7 /**< Close forwarding sessions idle this long; 0 = never (default). */
} vmsec_relay_limit;

/** @brief Counters read with vmsec_relay_stat(). */
typedef enum vmsec_relay_counter {
    VMSEC_RELAY_STAT_ACTIVE = 1,   /**< Sessions currently forwarding. */
    VMSEC_RELAY_STAT_PENDING = 2,  /**< Sessions waiting for a request or a target connection. */
    VMSEC_RELAY_STAT_ACCEPTED = 3, /**< Sessions that reached forwarding, since creation. */
    VMSEC_RELAY_STAT_DENIED = 4,   /**< Requests denied by policy, since creation. */
    VMSEC_RELAY_STAT_REFUSED = 5,  /**< Requests refused for limits, errors or bad input, since creation. */
    VMSEC_RELAY_STAT_BYTES = 6     /**< Bytes forwarded in both directions, since creation. */
} vmsec_relay_counter;

/** @brief A relay: listeners, policy, sessions. Opaque; not thread-safe except where noted. */
typedef struct vmsec_relay vmsec_relay;

/**
 * @brief Identifies the caller of an accepted connection.
 *
 * The default (vmsec_relay_use_libvirt()) reads the peer CID with getpeername() on AF_VSOCK and
 * maps it to a running libvirt domain; tests and special deployments install their own.
 *
 * @param user       The pointer given to vmsec_relay_set_identify().
 * @param fd         The accepted connection.
 * @param cid        Receives the caller's CID.
 * @param domain     Receives the caller's domain name (NUL-terminated).
 * @param domain_cap Size of @p domain (#VMSEC_POLICY_NAME_MAX + 1).
 * @return 0, or a negative code to refuse the caller as unknown.
 */
typedef int (*vmsec_relay_identify_fn)(void *user, int fd, uint32_t *cid, char *domain, size_t domain_cap);

/**
 * @brief Starts a connection to a target domain's service.
 * @param user   The pointer given to vmsec_relay_set_connect().
 * @param domain The target domain, already allowed by policy.
 * @param port   The service port from the policy's `service` line.
 * @param fd     Receives a non-blocking stream socket, connected or with a connect in progress.
 * @return 0, or a negative code: #VMSEC_ENOTFOUND if the target does not exist (the caller gets
 *         #VMSEC_RELAY_NO_SUCH_TARGET since 1.1), any other for a target that cannot be reached
 *         (#VMSEC_RELAY_UNAVAILABLE).
 */
typedef int (*vmsec_relay_connect_fn)(void *user, const char *domain, uint32_t port, int *fd);

/**
 * @brief Receives one audit record.
 * @param user The pointer given to vmsec_relay_set_audit_callback().
 * @param line One JSON object, without the trailing newline.
 */
typedef void (*vmsec_relay_audit_fn)(void *user, const char *line);

/**
 * @brief Creates a relay with no listener, no policy (everything denied) and default limits.
 *
 * Until vmsec_relay_use_libvirt() or both vmsec_relay_set_identify() and vmsec_relay_set_connect()
 * are called, every caller is refused. Audit records go to standard error by default.
 *
 * @param out Receives the relay.
 * @return 0, #VMSEC_EINVAL, #VMSEC_ENOMEM or #VMSEC_EIO (epoll or eventfd failed).
 */
VMSEC_EXPORT int vmsec_relay_new(vmsec_relay **out);

/**
 * @brief Closes every session and listener (removing unix socket files it created) and frees.
 * @param r The relay, or NULL.
 */
VMSEC_EXPORT void vmsec_relay_free(vmsec_relay *r);

/**
 * @brief Installs a policy, replacing the current one; established sessions are kept.
 *
 * Thread-safe: may be called while another thread runs the relay.
 *
 * @param r      The relay.
 * @param policy The new policy, owned by the relay from now on (also on failure); NULL denies
 *               everything.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_set_policy(vmsec_relay *r, vmsec_policy *policy);

/**
 * @brief Loads a policy file and installs it (reload); established sessions are kept.
 *
 * Fail closed: if the file does not parse, the relay denies every new request until a valid
 * policy is installed, writes an audit record naming `FILE:LINE: reason`, and returns the error.
 * Thread-safe like vmsec_relay_set_policy(); the audit record is emitted from the calling thread,
 * so an audit callback must tolerate that when reloads come from another thread.
 *
 * @param r    The relay.
 * @param path The policy file.
 * @return 0 or the error of vmsec_policy_load_file().
 */
VMSEC_EXPORT int vmsec_relay_load_policy(vmsec_relay *r, const char *path);

/**
 * @brief Sets a limit or timeout.
 * @param r     The relay.
 * @param which Which value (@ref vmsec_relay_limit).
 * @param value The new value; 0 is refused except for #VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS.
 * @return 0 or #VMSEC_EINVAL. Thread-safe. Buffer sizes apply to sessions that start forwarding
 *         afterwards; the other limits and timeouts to checks made afterwards.
 */
VMSEC_EXPORT int vmsec_relay_set_limit(vmsec_relay *r, int which, unsigned int value);

/**
 * @brief Sets how often the libvirt directory resynchronises in full; since 1.1.
 *
 * Events keep the directory current as they arrive; the resync bounds how long a change whose
 * event was lost can go unseen. Lookups fail closed (callers and targets unknown) when the last
 * sync is older than twice the interval, e.g. while libvirtd does not answer.
 *
 * @param r  The relay. Applies to the directory of vmsec_relay_use_libvirt(), set before or after.
 * @param ms Interval in milliseconds, 100 to 3600000; the default is 5000.
 * @return 0 or #VMSEC_EINVAL. Thread-safe.
 */
VMSEC_EXPORT int vmsec_relay_set_directory_resync(vmsec_relay *r, unsigned int ms);

/**
 * @brief Installs the caller-identification callback (replacing libvirt's, if any).
 * @param r    The relay.
 * @param fn   The callback, or NULL to refuse every caller.
 * @param user Passed to @p fn.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_set_identify(vmsec_relay *r, vmsec_relay_identify_fn fn, void *user);

/**
 * @brief Installs the target-connection callback (replacing libvirt's, if any).
 * @param r    The relay.
 * @param fn   The callback, or NULL to make every target unavailable.
 * @param user Passed to @p fn.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_set_connect(vmsec_relay *r, vmsec_relay_connect_fn fn, void *user);

/**
 * @brief Identifies callers and reaches targets through libvirt and AF_VSOCK (production mode).
 *
 * Callers on vsock listeners are identified by their peer CID, mapped to the running domain whose
 * XML has a vsock device with that CID (XPath `/domain/devices/vsock/cid/\@address`); unix-socket
 * callers by the name given to vmsec_relay_listen_unix(). Targets are reached at (their CID, the
 * service port). Domain metadata tags (doc/RELAY.md) feed `tag:NAME` policy selectors.
 *
 * Identity is keyed by domain UUID and kept by a thread of the library, never by the relay's
 * loop: libvirt's lifecycle, metadata-change and device events update it, a full resync runs at
 * least every vmsec_relay_set_directory_resync() interval (default 5 s), and the connection is
 * reopened after libvirtd restarts. Until the first sync after a (re)connection, or when the last
 * sync is older than twice the interval, every caller and target is unknown (fail closed). Before
 * forwarding, the relay checks both ends are still the same domains (UUID, CID and tags).
 *
 * Events need a libvirt event loop: if the application registered one (virEventRegisterImpl() or
 * virEventRegisterDefaultImpl()) before this call, it must keep running it; otherwise the library
 * registers libvirt's default implementation (once per process, as libvirt allows) and runs it
 * on a thread of its own while any relay uses libvirt.
 *
 * @param r   The relay.
 * @param uri libvirt connection URI (NULL: libvirt's default), e.g. `qemu:///system`.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ELIBVIRT if the connection fails.
 */
VMSEC_EXPORT int vmsec_relay_use_libvirt(vmsec_relay *r, const char *uri);

/**
 * @brief Sends audit records (JSON lines) to a descriptor, e.g. 2 for standard error.
 *
 * A new relay writes them to standard error until this is called or, since 1.1, until an audit
 * callback is installed (an embedding that takes the records does not get them on its stderr
 * too, unless it asks with this function).
 * @param r  The relay.
 * @param fd Descriptor (not closed by the relay), or -1 to stop writing to a descriptor.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_set_audit_fd(vmsec_relay *r, int fd);

/**
 * @brief Appends audit records to a file (created 0600 if missing).
 *
 * Calling it again with the same path reopens the file (log rotation).
 *
 * @param r    The relay.
 * @param path The file, or NULL to stop writing to a file.
 * @return 0, #VMSEC_EINVAL or #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_relay_set_audit_file(vmsec_relay *r, const char *path);

/**
 * @brief Sends audit records to syslog (facility LOG_AUTHPRIV, ident set by the program).
 * @param r      The relay.
 * @param enable Non-zero to enable, 0 to disable.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_set_audit_syslog(vmsec_relay *r, int enable);

/**
 * @brief Hands every audit record to a callback as well.
 *
 * Since 1.1, installing a callback stops the default output to standard error, unless
 * vmsec_relay_set_audit_fd() chose a descriptor.
 * @param r    The relay.
 * @param fn   The callback, or NULL to remove it.
 * @param user Passed to @p fn.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_set_audit_callback(vmsec_relay *r, vmsec_relay_audit_fn fn, void *user);

/**
 * @brief Listens on a vsock port of the host (VMADDR_CID_ANY).
 * @param r    The relay.
 * @param port The port, e.g. #VMSEC_RELAY_DEFAULT_PORT.
 * @return 0, #VMSEC_EINVAL, #VMSEC_EADDRINUSE, #VMSEC_EUNSUPPORTED (no vsock) or #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_relay_listen_vsock(vmsec_relay *r, uint32_t port);

/**
 * @brief Listens on a unix stream socket for local (host) services.
 *
 * Unless an identify callback is installed, callers on this socket are identified as @p domain
 * with CID #VMSEC_RELAY_HOST_CID. Since 1.1 @p domain must be in the host side's namespace,
 * `host` or `host:NAME`, which no domain can take (a guest whose domain is named so is refused,
 * and policy wildcards and tags do not match it: doc/policy-format.md, "The host side"). The socket file is created with mode 0600 whatever the umask,
 * so only the relay's user (and root) may connect; grant others access through the directory
 * or by running them as that user (doc/RELAY.md).
 *
 * @param r      The relay.
 * @param path   Socket path; an existing socket file is replaced.
 * @param domain Identity given to callers: "host" or "host:NAME".
 * @return 0, #VMSEC_EINVAL (also: @p domain outside the host side's namespace), #VMSEC_ETOOBIG (path too long), #VMSEC_EADDRINUSE or #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_relay_listen_unix(vmsec_relay *r, const char *path, const char *domain);

/**
 * @brief Sets the relay's own static key, which it proves to linked relays; since 1.1.
 *
 * Federation (doc/RELAY.md, "Federation"): relays on different hosts link over TCP with a vmsec
 * channel (Noise IK) authenticated by these keys. Call before the relay runs.
 *
 * @param r  The relay.
 * @param kp The keypair (copied into guarded memory; @p kp may be freed afterwards).
 * @return 0, #VMSEC_EINVAL, #VMSEC_ENOMEM or #VMSEC_ECRYPTO.
 */
VMSEC_EXPORT int vmsec_relay_set_keypair(vmsec_relay *r, const vmsec_keypair *kp);

/**
 * @brief Adds a linked relay (a peer host); since 1.1.
 *
 * A peer is identified by the key its handshake proves, never by its address or by a name it
 * claims: its guests are named `HOST/DOMAIN` in this relay's policy and origin headers, HOST being
 * @p host. A guest reaches a domain of the peer by requesting the target `HOST/DOMAIN`. Call
 * before the relay runs.
 *
 * @param r       The relay.
 * @param host    This relay's name for the peer: a policy name, not `host` nor `host:...`.
 * @param address `tcp:ADDRESS:PORT` (numeric) of the peer's link listener, or NULL if this relay
 *                only accepts links from it.
 * @param key     The peer relay's public key (canonical, vmsec_pubkey_validate()).
 * @param key_len #VMSEC_KEY_BYTES.
 * @return 0, #VMSEC_EINVAL, #VMSEC_EFORMAT (key), #VMSEC_EEXIST (name or key already a peer),
 *         #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_relay_add_peer(vmsec_relay *r, const char *host, const char *address, const uint8_t *key,
                                      size_t key_len);

/**
 * @brief Adds the peers listed in a file of `NAME ADDRESS KEY` lines; since 1.1.
 *
 * ADDRESS is `tcp:ADDRESS:PORT` or `-` (this relay never dials that peer), KEY `x25519:BASE64`;
 * `#` starts a comment. All or nothing: on error no peer of the file is added and the message
 * names `FILE:LINE`. Like a peer map file (vmsec_peermap_load_file()), the file must be owned by
 * the effective user or root and writable by nobody else, in a folder no one else can write to.
 *
 * @param r    The relay.
 * @param path The file.
 * @return 0, #VMSEC_EFORMAT, #VMSEC_EEXIST, #VMSEC_ENOTFOUND, #VMSEC_EPERM, #VMSEC_EIO, #VMSEC_EINVAL,
 *         #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_relay_load_peers(vmsec_relay *r, const char *path);

/**
 * @brief Replaces the peers with those of a file (reload, e.g. on SIGHUP); since 1.1.
 *
 * The file is read as by vmsec_relay_load_peers(). Fail closed, like vmsec_relay_load_policy():
 * if it cannot be read or does not parse, the relay has no peer at all (no link is dialed or
 * accepted) until a reload succeeds, and the error names `FILE:LINE`. Either way an audit record
 * `peers` says `loaded` (with the number of peers) or `invalid` (with the error). Links already
 * open keep carrying their sessions; a peer that kept its name and key keeps its status counters.
 * Call it from the thread that runs the relay (between vmsec_relay_dispatch() calls), or while it
 * does not run.
 *
 * @param r    The relay.
 * @param path The file.
 * @return 0 or the error of vmsec_relay_load_peers().
 */
VMSEC_EXPORT int vmsec_relay_reload_peers(vmsec_relay *r, const char *path);

/**
 * @brief Accepts links from peer relays on a TCP address; since 1.1.
 *
 * Only a relay whose key was added with vmsec_relay_add_peer() completes the handshake. Needs
 * vmsec_relay_set_keypair() first (links are refused until then).
 *
 * @param r       The relay.
 * @param address `tcp:ADDRESS:PORT` with a numeric address, e.g. `tcp:0.0.0.0:7351`, `tcp:[::1]:7351`.
 * @return 0, #VMSEC_EINVAL, #VMSEC_EADDRINUSE or #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_relay_listen_link(vmsec_relay *r, const char *address);

/**
 * @brief Runs the relay until vmsec_relay_interrupt() is called.
 * @param r The relay.
 * @return 0 after an interrupt, or #VMSEC_EIO if epoll fails.
 */
VMSEC_EXPORT int vmsec_relay_run(vmsec_relay *r);

/**
 * @brief Handles the events ready now or within @p timeout_ms, then returns (for callers that
 *        embed the relay in their own loop; see vmsec_relay_fd()).
 * @param r          The relay.
 * @param timeout_ms Longest wait; 0 to poll, -1 to wait until something happens.
 * @return 0, or #VMSEC_EIO if epoll fails.
 */
VMSEC_EXPORT int vmsec_relay_dispatch(vmsec_relay *r, int timeout_ms);

/**
 * @brief Returns a descriptor that becomes readable when vmsec_relay_dispatch() has work.
 * @param r The relay.
 * @return The descriptor (owned by the relay), or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_fd(const vmsec_relay *r);

/**
 * @brief Milliseconds until the relay's next deadline (a request, connect or idle timeout), for
 *        callers that embed it in their own loop.
 *
 * Wait on vmsec_relay_fd() at most this long, then call vmsec_relay_dispatch() with a timeout of
 * 0, so timeouts fire on time even when no descriptor becomes ready. Available since VMSEC_1.1.
 *
 * @param r The relay.
 * @return Milliseconds until the next deadline (0 when one is due), or -1 when nothing is
 *         scheduled (or @p r is NULL).
 */
VMSEC_EXPORT int vmsec_relay_next_timeout_ms(const vmsec_relay *r);

/**
 * @brief What the relay is doing now, as one JSON document.
 *
 * The counters of vmsec_relay_stat(), the policy in force (its name and rule count, or
 * `"effect":"deny-all"`), each source domain's forwarding and pending sessions, and each session
 * (id, state, source and its CID, target, service, bytes each way, age), the first 1000 of them
 * (`sessions_not_listed` counts the rest). doc/RELAY.md, "Status", lists the fields.
 *
 * The sessions belong to the relay's loop: call this from the thread that runs the relay
 * (between vmsec_relay_dispatch() calls), or while it does not run. Available since VMSEC_1.1.
 *
 * @param r   The relay.
 * @param out Receives a NUL-terminated document; free it with vmsec_relay_snapshot_free().
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_relay_snapshot_json(vmsec_relay *r, char **out);

/** @brief Frees a document from vmsec_relay_snapshot_json(). Accepts NULL. Since VMSEC_1.1.
 *  @param json The document. */
VMSEC_EXPORT void vmsec_relay_snapshot_free(char *json);

/**
 * @brief Stops accepting and lets established sessions finish (graceful shutdown).
 *
 * Closes every listener at once (removing unix socket files), then keeps forwarding until no
 * session remains, @p timeout_ms passed or vmsec_relay_interrupt() is called, then closes what is
 * left and writes a `shutdown` audit record. Call it from the thread that runs the relay, after vmsec_relay_run() returned;
 * the relay must then only be freed.
 *
 * @param r          The relay.
 * @param timeout_ms Longest time to wait for sessions; 0 closes them at once.
 * @return 0, #VMSEC_EINVAL, or #VMSEC_EIO if epoll fails.
 */
VMSEC_EXPORT int vmsec_relay_shutdown(vmsec_relay *r, int timeout_ms);

/**
 * @brief Makes vmsec_relay_run() return soon. Async-signal-safe and thread-safe.
 * @param r The relay.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_interrupt(vmsec_relay *r);

/**
 * @brief Reads a counter. Thread-safe: may be called while another thread runs the relay.
 * @param r     The relay.
 * @param which Which counter (@ref vmsec_relay_counter).
 * @param value Receives the value.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_stat(const vmsec_relay *r, int which, uint64_t *value);

/**
 * @brief Caller side: asks the relay on a connected descriptor for (target, service).
 *
 * Sends the request and reads exactly the reply, nothing more, so the descriptor can then be
 * handed to a vmsec channel (the caller is the Noise initiator). Works on blocking and
 * non-blocking descriptors.
 *
 * @param fd         Connected stream socket to the relay.
 * @param target     Target domain name (1..#VMSEC_POLICY_NAME_MAX of `[A-Za-z0-9._+:-]`).
 * @param service    Service name (1..#VMSEC_POLICY_SERVICE_MAX, same characters).
 * @param timeout_ms Deadline for the whole exchange.
 * @return 0 once the relay accepted; #VMSEC_EDENIED (policy), #VMSEC_ENOTFOUND (allowed, but no
 *         such target; since 1.1, before which it was #VMSEC_ECONNREFUSED), #VMSEC_ECONNREFUSED
 *         (unavailable or busy), #VMSEC_EPROTO (bad reply or request refused as malformed),
 *         #VMSEC_ETIMEDOUT, #VMSEC_EIO, #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_relay_request(int fd, const char *target, const char *service, int timeout_ms);

/**
 * @brief Target side: reads the origin header the relay sends before forwarding.
 *
 * Reads exactly the header, so the descriptor can then be handed to a vmsec channel (the target
 * is the Noise responder).
 *
 * Since 1.1 it first checks that the peer could be the relay, and refuses (#VMSEC_EPERM, nothing
 * read) a header any other process could have sent: over vsock the peer must have connected from
 * a reserved port (<= 1023), as the relay does; over a unix socket it must run as root or as this
 * process's user; over any other socket family the header is never believed. doc/RELAY.md, "Who
 * may send an origin header".
 *
 * @param fd          Accepted stream socket from the relay.
 * @param timeout_ms  Deadline.
 * @param domain      Receives the caller's domain name (NUL-terminated).
 * @param domain_cap  Size of @p domain; #VMSEC_POLICY_NAME_MAX + 1 always suffices.
 * @param cid         Receives the caller's CID (may be NULL).
 * @param service     Receives the requested service (may be NULL).
 * @param service_cap Size of @p service; #VMSEC_POLICY_SERVICE_MAX + 1 always suffices.
 * @return 0, #VMSEC_EPERM (the peer cannot be the relay), #VMSEC_EPROTO (malformed header),
 *         #VMSEC_ETOOBIG (buffer too small), #VMSEC_ETIMEDOUT, #VMSEC_ECLOSED (connection closed
 *         first), #VMSEC_EIO, #VMSEC_EINVAL (also: @p fd is not a socket).
 */
VMSEC_EXPORT int vmsec_relay_origin_read(int fd, int timeout_ms, char *domain, size_t domain_cap, uint32_t *cid,
                                         char *service, size_t service_cap);

/** @brief Map from domain name to the static public key that domain must authenticate with. Opaque. */
typedef struct vmsec_peermap vmsec_peermap;

/**
 * @brief Creates an empty map.
 * @param out Receives the map.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_peermap_new(vmsec_peermap **out);

/** @brief Frees a map. Accepts NULL. @param m The map. */
VMSEC_EXPORT void vmsec_peermap_free(vmsec_peermap *m);

/**
 * @brief Adds the key of a domain.
 * @param m       The map.
 * @param domain  Domain name.
 * @param key     Public key; it must be canonical (vmsec_pubkey_validate()).
 * @param key_len Must be #VMSEC_KEY_BYTES.
 * @return 0, #VMSEC_EEXIST (domain already mapped), #VMSEC_EFORMAT (the key is not canonical),
 *         #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_peermap_add(vmsec_peermap *m, const char *domain, const uint8_t *key, size_t key_len);

/**
 * @brief Adds the entries of a file of `DOMAIN x25519:BASE64` lines (`#` comments, blank lines).
 *
 * All or nothing: on error the map is unchanged and the message names `FILE:LINE`. Keys are read
 * with vmsec_pubkey_from_text(), so a non-canonical key is refused (#VMSEC_EFORMAT).
 *
 * Since 1.1 the file is trusted only if nobody else could have written it, as ssh's StrictModes:
 * it must be owned by the effective user or root and not writable by group or others, and its
 * folder must be owned by the effective user or root and not writable by group or others unless
 * sticky (as /tmp). Otherwise #VMSEC_EPERM, naming the fix.
 *
 * @param m    The map.
 * @param path The file.
 * @return 0, #VMSEC_EFORMAT, #VMSEC_EEXIST, #VMSEC_ENOTFOUND, #VMSEC_EPERM, #VMSEC_EIO, #VMSEC_EINVAL,
 *         #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_peermap_load_file(vmsec_peermap *m, const char *path);

/**
 * @brief Checks that @p key is the key of @p domain (constant-time comparison).
 *
 * Use after the handshake on a relayed channel: @p domain from vmsec_relay_origin_read(), @p key
 * the peer key the channel authenticated.
 *
 * @param m       The map.
 * @param domain  The domain the relay named.
 * @param key     The authenticated peer key.
 * @param key_len Its length.
 * @return 0 if they match; #VMSEC_EAUTH if the domain is unknown, its key differs or @p key is not
 *         canonical (vmsec_pubkey_validate(); the message says so); #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_peermap_check(const vmsec_peermap *m, const char *domain, const uint8_t *key,
                                     size_t key_len);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_RELAY_H */
