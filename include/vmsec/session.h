/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/session.h
 * @brief Sessions that survive a transport reset: nothing lost, nothing duplicated; since 1.1.
 *
 * A vsock connection dies when its VM migrates or is snapshotted and restored, or when a relay or
 * agent restarts. A @ref vmsec_session carries application messages over a sequence of channels
 * (vmsec/channel.h): each side numbers the messages it sends, the receiver acknowledges them, and
 * the sender keeps what is not yet acknowledged in a bounded buffer. When a channel fails without
 * an orderly session close (reset, end of stream, #VMSEC_EPEERDEAD...), the connecting side
 * reconnects with capped exponential backoff and jitter, runs a fresh handshake (new keys), proves
 * that it resumes the same session with the same peer, and both sides resend from the last message
 * the other received. The application receives every message exactly once, in order.
 *
 * The wire additions are specified in doc/SESSIONS.md. In short: session frames are channel
 * messages; a session secret is derived from the first handshake's chaining key; a resume is
 * proved by both sides with a MAC under that secret over the new channel's handshake hash, and the
 * new channel's peer key must be the session's. The 16-byte session id is not secret.
 *
 * A side that lost the session's state (a restarted process) answers a resume with "unknown
 * session": both sides then report #VMSEC_ESESSIONLOST, never a silent loss. A session that is
 * not resumed within its reconnect deadline fails with #VMSEC_ETIMEDOUT.
 *
 * **Threads.** A session is used by one thread at a time. Sessions of one
 * @ref vmsec_session_listener may be used by different threads, and the listener by another.
 *
 * **Event loops.** In non-blocking mode a reconnect attempt (connect, handshake, resume) never
 * waits: it advances as far as its socket allows in the calls that run the session
 * (vmsec_session_tick(), vmsec_session_recv()...), and vmsec_session_fd(),
 * vmsec_session_poll_events() and vmsec_session_next_timeout_ms() say what it waits for (see
 * doc/SESSIONS.md, section 7). On the accepting side, vmsec_session_listener_set_nonblocking()
 * makes vmsec_session_listener_accept() non-blocking too: it keeps the connections whose
 * handshake and opening frame are under way in a bounded set (#VMSEC_SESSION_PENDING_MAX),
 * advances them as far as their sockets allow, and vmsec_session_listener_fd() and
 * vmsec_session_listener_next_timeout_ms() say when to call it again. What still runs in the
 * call: the @ref vmsec_session_options dial and accepted hooks (blocking calls by their contract,
 * bounded by the time they are given), resolving a tcp: host name, vmsec_session_connect(), and,
 * without that switch, the opening exchange of each connection vmsec_session_listener_accept()
 * accepts (bounded by the configuration's handshake timeout; with a listening descriptor made
 * O_NONBLOCK, it returns #VMSEC_EAGAIN when none is queued, but a connection that stays silent
 * then holds the call for that long).
 *
 * Both sides must have a static key (patterns such as XX, IK, KK).
 */
#ifndef VMSEC_SESSION_H
#define VMSEC_SESSION_H

#include <vmsec/channel.h>
#include <vmsec/common.h>
#include <vmsec/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Size of a session id (public, random). */
#define VMSEC_SESSION_ID_BYTES 16
/** @brief Bytes a session frame adds to an application message (doc/SESSIONS.md). */
#define VMSEC_SESSION_OVERHEAD 17
/**
 * @brief Connections a @ref vmsec_session_listener in non-blocking mode keeps while their
 *        handshake and opening frame are under way; when one more is accepted, the oldest is
 *        closed. Since 1.1.
 */
#define VMSEC_SESSION_PENDING_MAX 64
/** @brief Version of @ref vmsec_session_options this header describes. */
#define VMSEC_SESSION_OPTIONS_VERSION 1

/** @brief Session id size, for bindings. @return #VMSEC_SESSION_ID_BYTES. */
VMSEC_EXPORT size_t vmsec_session_id_bytes(void);

/**
 * @brief Gives the address to reconnect to, e.g. the new CID of a migrated guest.
 * Called before every reconnect attempt, in the call that starts it.
 * @param user The pointer given in @ref vmsec_session_options.
 * @param[out] address Buffer for the NUL-terminated address (see vmsec/transport.h); it holds the
 *             address of the previous attempt when called.
 * @param cap Size of @p address (#VMSEC_ADDRESS_MAX).
 * @return 0 to connect to @p address; a negative value skips this attempt (the backoff goes on).
 */
typedef int (*vmsec_session_resolve_fn)(void *user, char *address, size_t cap);

/**
 * @brief Opens the stream descriptor of a link, in place of vmsec_transport_connect(); since 1.1.
 * Called for every link the connecting side opens (the first one and every reconnect attempt),
 * e.g. to connect to a relay and ask it for the target with vmsec_relay_request(): a relay that
 * restarted is then asked again. It may block, for at most @p timeout_ms: a reconnect attempt that
 * starts waits in it, also in non-blocking mode (without a hook the connect does not block); the
 * handshake and the resume on the descriptor it gives are then non-blocking.
 * @param user The pointer given in @ref vmsec_session_options.
 * @param address The address of this attempt (after the resolver, if any).
 * @param timeout_ms Time left for this attempt, handshake included: the handshake timeout, or
 *            less when the reconnect deadline ends sooner.
 * @param[out] fd Receives a connected stream socket, ready for the Noise handshake as initiator;
 *            the session owns it from then on.
 * @return 0, or a negative error code: the attempt failed (a reconnect goes on with the backoff;
 *         vmsec_session_connect() returns it).
 */
typedef int (*vmsec_session_dial_fn)(void *user, const char *address, unsigned int timeout_ms, int *fd);

/**
 * @brief Runs on each descriptor a @ref vmsec_session_listener accepts, before the handshake; since 1.1.
 * E.g. vmsec_relay_origin_read() for a target reached through a relay.
 * It is a blocking call by its contract, also in the listener's non-blocking mode, where it runs
 * in vmsec_session_listener_accept() for each connection taken from the kernel's queue: a hook
 * that waits for the peer (such as vmsec_relay_origin_read()) holds the accepting thread for up
 * to @p timeout_ms when the peer is silent, so it suits listeners that only trusted peers (a
 * relay) can reach.
 * @param user The pointer given in @ref vmsec_session_options.
 * @param fd The accepted descriptor (blocking; not owned: the listener closes it on failure).
 * @param timeout_ms The handshake timeout (its time counts against it).
 * @return 0 to go on with the handshake, or a negative error code: the connection is closed and
 *         vmsec_session_listener_accept() returns that code.
 */
typedef int (*vmsec_session_accepted_fn)(void *user, int fd, unsigned int timeout_ms);

/** @brief Options of a session; initialise with #VMSEC_SESSION_OPTIONS_INIT or vmsec_session_options_init(). */
typedef struct vmsec_session_options {
    unsigned int version;             /**< #VMSEC_SESSION_OPTIONS_VERSION. */
    size_t max_unacked_bytes;         /**< Bytes of sent, unacknowledged messages kept (default 8 MiB); a larger message is refused. */
    size_t max_unacked_messages;      /**< Sent, unacknowledged messages kept (default 1024). */
    unsigned int ack_delay_ms;        /**< Longest wait before acknowledging a delivered message (default 20). */
    unsigned int backoff_initial_ms;  /**< First reconnect delay (default 100); doubles per failed attempt. */
    unsigned int backoff_max_ms;      /**< Cap of the reconnect delay (default 5000). */
    unsigned int reconnect_deadline_ms; /**< How long a session waits to be resumed before #VMSEC_ETIMEDOUT (default 60000; 0: forever). */
    vmsec_session_resolve_fn resolve; /**< Connecting side: where to reconnect; NULL: the same address. */
    void *resolve_user;               /**< Passed to @p resolve. */
    vmsec_session_dial_fn dial;       /**< Connecting side: opens each link's descriptor; NULL: vmsec_transport_connect(). */
    void *dial_user;                  /**< Passed to @p dial. */
    vmsec_session_accepted_fn accepted; /**< Accepting side: runs on each accepted descriptor; NULL: nothing. */
    void *accepted_user;              /**< Passed to @p accepted. */
} vmsec_session_options;

/** @brief Static initialiser with the defaults. */
#define VMSEC_SESSION_OPTIONS_INIT \
    {VMSEC_SESSION_OPTIONS_VERSION, (size_t)8 << 20, 1024, 20, 100, 5000, 60000, NULL, NULL, NULL, NULL, NULL, NULL}

/**
 * @brief Fills @p opts with the defaults.
 * @param[out] opts The options.
 * @param version #VMSEC_SESSION_OPTIONS_VERSION.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_session_options_init(vmsec_session_options *opts, unsigned int version);

/** @brief A session: ordered, exactly-once messages over channels that may be replaced. Opaque. */
typedef struct vmsec_session vmsec_session;

/** @brief The accepting side's table of sessions, over a @ref vmsec_listener. Opaque. */
typedef struct vmsec_session_listener vmsec_session_listener;

/**
 * @brief Connects to @p address and starts a new session (blocking).
 * Connects, runs the handshake as initiator and the session's opening exchange, bounded by the
 * configuration's handshake timeout. A failure before the opening frame went out is returned as
 * such, without retrying. A link that fails after it (the peer may hold the session already) is
 * resumed with the backoff of @p opts until the session is open, within the reconnect deadline
 * (doc/SESSIONS.md, section 3).
 * @param[out] out Receives a blocking session; free it with vmsec_session_free().
 * @param cfg The channel configuration (copied); both sides need a static key.
 * @param address The address (vmsec/transport.h).
 * @param opts Options, or NULL for the defaults.
 * @return 0 or any error of vmsec_channel_connect(); #VMSEC_EPROTO; #VMSEC_EAUTH; #VMSEC_EINVAL;
 *         #VMSEC_ETIMEDOUT (not opened within the reconnect deadline).
 */
VMSEC_EXPORT int vmsec_session_connect(vmsec_session **out, const vmsec_channel_config *cfg, const char *address,
                                       const vmsec_session_options *opts);

/**
 * @brief Creates the table of sessions accepted on @p listener.
 * @param[out] out Receives it; free it with vmsec_session_listener_free().
 * @param cfg The channel configuration (copied).
 * @param listener The listener (not owned; it must outlive the session listener).
 * @param opts Options of the sessions it accepts, or NULL for the defaults.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_session_listener_new(vmsec_session_listener **out, const vmsec_channel_config *cfg,
                                            vmsec_listener *listener, const vmsec_session_options *opts);

/**
 * @brief Frees the table. Its sessions stay usable but can no longer be resumed. Accepts NULL.
 * Call it when no call on one of its sessions is running in another thread.
 * @param sl The session listener.
 */
VMSEC_EXPORT void vmsec_session_listener_free(vmsec_session_listener *sl);

/**
 * @brief Accepts one connection: a new session, or the resumption of a known one.
 * A resumption is verified (same peer key, proof of the session secret) and handed to its
 * session, which continues at its next call; @p *out is then NULL.
 *
 * **Default mode.** Accepts one connection (waiting for one, unless the listening descriptor was
 * made O_NONBLOCK: then #VMSEC_EAGAIN when none is queued), runs the handshake and reads the
 * peer's opening frame in the call, bounded by the handshake timeout.
 *
 * **Non-blocking mode** (vmsec_session_listener_set_nonblocking()). The call never waits for a
 * peer: it accepts what the kernel has queued into a set of pending connections, each with its
 * own deadline (the handshake timeout), and advances every pending one as far as its socket
 * allows: the handshake, the HELLO, then the answer (a WELCOME that does not fit the socket at
 * once goes out with the new session's own calls). It
 * returns at the first outcome, a new session, a resume handed over or one connection's failure,
 * and #VMSEC_EAGAIN once there is none. At most #VMSEC_SESSION_PENDING_MAX connections are
 * pending: accepting one more closes the oldest, without an error, so that silent peers cannot
 * lock out a good one. A pending connection that fails or whose deadline passes is closed, and its
 * failure returned (one per call; a failure to accept, e.g. the @p accepted hook's refusal, in a
 * call that returns something else comes with the next call). The hook @p accepted of the
 * options still runs, blocking, on each connection accepted. An event loop polls vmsec_session_listener_fd() for POLLIN with
 * vmsec_session_listener_next_timeout_ms(), then calls this function until #VMSEC_EAGAIN:
 * @code
 * struct pollfd p = {.fd = vmsec_session_listener_fd(sl), .events = POLLIN};
 * poll(&p, 1, vmsec_session_listener_next_timeout_ms(sl));
 * while ((rc = vmsec_session_listener_accept(sl, &s)) != VMSEC_EAGAIN) {
 *     if (rc < 0)
 *         log(vmsec_error_last()); // one connection failed and was closed: go on
 *     else if (s)
 *         add(s);                  // a new session (blocking: set it non-blocking)
 *     else
 *         tick_all();              // a session was resumed: it continues at its next call
 * }
 * @endcode
 * Every return other than #VMSEC_EAGAIN means "call again": a failure concerns one connection,
 * except #VMSEC_EIO from accept(2) (e.g. out of descriptors): the next call then does not
 * accept, so that such a loop ends, and the one after it tries again.
 * @param sl The session listener.
 * @param[out] out Receives a new blocking session, or NULL when the connection resumed one.
 * @return 0; #VMSEC_EAGAIN (default mode: no connection queued on a listening descriptor made
 *         O_NONBLOCK; non-blocking mode: nothing finished, call again when
 *         vmsec_session_listener_fd() is readable or the timeout passed); #VMSEC_ESESSIONLOST (the
 *         peer asked to resume a session this side does not know; it was told so); #VMSEC_EAUTH
 *         (a resume with a wrong peer key or proof: refused); #VMSEC_EPROTO (among others: a new
 *         session under the id of one this side holds, refused with "unknown session", the
 *         existing session untouched); #VMSEC_ETIMEDOUT (non-blocking: a pending connection's
 *         deadline passed); an error of the accepted hook; #VMSEC_EDENIED, #VMSEC_EIO (accept);
 *         any error of the handshake.
 */
VMSEC_EXPORT int vmsec_session_listener_accept(vmsec_session_listener *sl, vmsec_session **out);

/**
 * @brief Gives the descriptor an event loop polls for a session listener; since 1.1.
 * An epoll descriptor, fixed for the listener's life and owned by it, that is readable (POLLIN)
 * when vmsec_session_listener_accept() has something to do: a connection queued on the
 * listening socket, a pending connection whose socket is ready, or a new session accepted by a
 * session waiting for its resume in another call. Poll it with
 * vmsec_session_listener_next_timeout_ms(), or add it to an epoll set (level-triggered).
 * Meant for non-blocking mode; in the default mode it is readable when a connection is queued.
 * @param sl The session listener.
 * @return The descriptor, or -1 for NULL.
 */
VMSEC_EXPORT int vmsec_session_listener_fd(const vmsec_session_listener *sl);

/**
 * @brief Gives the poll(2) timeout until the earliest deadline of a pending connection (in
 *        non-blocking mode, the first vmsec_session_listener_accept() after it closes that
 *        connection); since 1.1.
 * @param sl The session listener.
 * @return Milliseconds (0: call vmsec_session_listener_accept() now, also when a new session
 *         waits in it), or -1 when nothing is pending (always in the default mode).
 */
VMSEC_EXPORT int vmsec_session_listener_next_timeout_ms(vmsec_session_listener *sl);

/**
 * @brief Switches vmsec_session_listener_accept() between its default mode and non-blocking mode
 *        (see there); since 1.1.
 * Turning it on also makes the listening descriptor O_NONBLOCK. Turning it off closes the
 * connections still pending and leaves the descriptor's flag as it is. Switch before the
 * listener's first accept; its sessions may run meanwhile (a blocking session of the listener
 * that waits for its resume accepts in either mode).
 * An event loop in the default mode that polls vmsec_listener_fd() must poll
 * vmsec_session_listener_fd() instead once it turns this on: a pending connection's progress
 * does not show on the listening socket.
 * @param sl The session listener.
 * @param nonblocking Non-zero for non-blocking mode.
 * @return 0, #VMSEC_EINVAL or #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_session_listener_set_nonblocking(vmsec_session_listener *sl, int nonblocking);

/** @brief The bound of pending connections, for bindings; since 1.1. @return #VMSEC_SESSION_PENDING_MAX. */
VMSEC_EXPORT size_t vmsec_session_listener_pending_max(void);

/**
 * @brief Frees the session without closing it (the peer sees a lost link, then its deadline).
 * Wipes the session secret. Accepts NULL.
 * @param s The session.
 */
VMSEC_EXPORT void vmsec_session_free(vmsec_session *s);

/**
 * @brief Switches the session between blocking and non-blocking mode.
 * @param s The session.
 * @param nonblocking Non-zero for non-blocking.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_session_set_nonblocking(vmsec_session *s, int nonblocking);

/**
 * @brief Sends one message; it is kept until the peer acknowledges it.
 * A blocking call returns once the message was written to the current link (or, with no link,
 * once it was queued: it goes out after the resume, from a later call); a non-blocking one
 * writes what the socket takes and leaves the rest to later calls.
 * @param s The session.
 * @param msg The message (NULL allowed when @p len is 0).
 * @param len At most the channel's maximum message minus #VMSEC_SESSION_OVERHEAD, and at most
 *        max_unacked_bytes.
 * @return 0 (accepted: it will be delivered once, across reconnects); #VMSEC_EAGAIN (non-blocking:
 *         the unacknowledged buffer is full, nothing accepted; a blocking call waits instead);
 *         #VMSEC_ETOOBIG; #VMSEC_ECLOSED (the session was closed); #VMSEC_ESESSIONLOST;
 *         #VMSEC_ETIMEDOUT (not resumed within the reconnect deadline); #VMSEC_EPROTO; #VMSEC_EAUTH.
 */
VMSEC_EXPORT int vmsec_session_send(vmsec_session *s, const uint8_t *msg, size_t len);

/**
 * @brief Receives the next message, in order, exactly once.
 * @param s The session.
 * @param[out] buf Buffer (NULL allowed when @p cap is 0).
 * @param cap Size of @p buf.
 * @param[out] len Receives the message size.
 * @return 0; #VMSEC_EAGAIN (non-blocking); #VMSEC_ETOOBIG (message kept, size in @p len);
 *         #VMSEC_ECLOSED (the peer closed the session: every message before its close was
 *         delivered); the failures of vmsec_session_send().
 */
VMSEC_EXPORT int vmsec_session_recv(vmsec_session *s, uint8_t *buf, size_t cap, size_t *len);

/**
 * @brief Closes the session in order: returns once the peer acknowledged every message sent and
 *        the close itself (across reconnects if needed), then closes the channel.
 * Messages from the peer not yet received are discarded (acknowledged unread, so a peer that
 * closes at the same time completes its close too). The peer's vmsec_session_recv() returns
 * #VMSEC_ECLOSED once it delivered everything sent before the close.
 * @param s The session.
 * @return 0; #VMSEC_EAGAIN (non-blocking: call again); the failures of vmsec_session_send().
 */
VMSEC_EXPORT int vmsec_session_close(vmsec_session *s);

/**
 * @brief Gives the descriptor to poll: the current channel's; without one, that of the reconnect
 *        attempt under way (connecting, handshake, resume); or -1 while there is neither (then
 *        poll with vmsec_session_next_timeout_ms() alone).
 * It changes when the session reconnects, and every attempt has a new one: take it afresh after
 * every call on the session (an epoll user re-registers it when it changed).
 * @param s The session.
 * @return The descriptor or -1.
 */
VMSEC_EXPORT int vmsec_session_fd(const vmsec_session *s);

/**
 * @brief Returns the poll(2) events to wait for on vmsec_session_fd().
 * During a reconnect attempt: POLLOUT while its connect is in progress, then what its channel
 * waits for (the peer's handshake message or WELCOME: POLLIN).
 * @param s The session.
 * @return A mask of POLLIN and POLLOUT, 0 without a descriptor.
 */
VMSEC_EXPORT short vmsec_session_poll_events(const vmsec_session *s);

/**
 * @brief Gives the poll(2) timeout until the session's next timer (acknowledgement, the next
 *        reconnect attempt or the end of the one under way, deadline, the channel's keep-alives),
 *        for a non-blocking session:
 * @code
 * struct pollfd p = {.fd = vmsec_session_fd(s), .events = vmsec_session_poll_events(s)};
 * poll(&p, 1, vmsec_session_next_timeout_ms(s));
 * if ((rc = vmsec_session_tick(s)) < 0) ... // VMSEC_ESESSIONLOST, VMSEC_ETIMEDOUT...
 * @endcode
 * @param s The session.
 * @return Milliseconds (0 when a timer is due), or -1 when none is armed.
 */
VMSEC_EXPORT int vmsec_session_next_timeout_ms(const vmsec_session *s);

/**
 * @brief Runs the session: timers, reconnect attempts, writing and reading what the descriptor
 *        allows. Calling it early or often does no harm.
 * In non-blocking mode it starts a reconnect attempt once the backoff is over and advances it as
 * far as the socket allows, returning 0 while it waits (see vmsec_session_fd()); an attempt
 * that fails is followed by the next backoff, and the reconnect deadline ends the session.
 * @param s The session.
 * @return 0 (also while a reconnect attempt waits); the failures of vmsec_session_send().
 */
VMSEC_EXPORT int vmsec_session_tick(vmsec_session *s);

/**
 * @brief Copies the session id (public: it names the session, it does not authenticate anyone).
 * @param s The session.
 * @param[out] id Receives #VMSEC_SESSION_ID_BYTES bytes.
 * @param cap Size of @p id.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ETOOBIG.
 */
VMSEC_EXPORT int vmsec_session_id(const vmsec_session *s, uint8_t *id, size_t cap);

/**
 * @brief Counts the channels this session has used (1 before any reconnect).
 * @param s The session.
 * @return The count, 0 for NULL.
 */
VMSEC_EXPORT uint64_t vmsec_session_links(const vmsec_session *s);

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_SESSION_H */
