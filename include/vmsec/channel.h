/* SPDX-License-Identifier: ISC */
/**
 * @file vmsec/channel.h
 * @brief Mutually authenticated, forward-secret, encrypted message channels (Noise over a stream).
 *
 * Three layers, each usable on its own:
 *
 * - **Configuration** (@ref vmsec_channel_config): local key, trusted peers, Noise pattern and
 *   suite, PSK, prologue and limits. One configuration may serve any number of channels, and is
 *   copied into each engine when the engine is created.
 * - **Engine** (@ref vmsec_engine): the sans-I/O protocol machine. It consumes bytes received from
 *   the peer and produces bytes to send, and never touches a descriptor, a clock or a thread. It
 *   serves blocking sockets, event loops, relays and fuzzers alike.
 * - **Channel** (@ref vmsec_channel): an engine driven over a connected stream descriptor
 *   (AF_VSOCK, AF_UNIX or TCP), blocking or non-blocking.
 *
 * The wire protocol is specified in doc/PROTOCOL.md. In short: the initiator announces the full
 * Noise protocol name; the announcement is mixed into the prologue; every Noise message carries a
 * 2-byte big-endian length; application messages of up to the configured maximum are split into
 * typed records (data, last data, close_notify); both directions rekey in lockstep. In version 2
 * the side that read the last handshake message first sends a key-confirmation record, and the
 * side that wrote it reports nothing about its peer before the peer has proved its static key and
 * its presence in this session (see @ref VMSEC_STATE_OPEN).
 *
 * **Fail closed.** Any authentication, integrity or protocol failure moves the engine to
 * #VMSEC_STATE_FAILED: keys are wiped, no further plaintext is released and every later call
 * returns #VMSEC_ESTATE (vmsec_error_last() repeats the original reason). A configuration with
 * neither trusted peers nor a verify callback refuses every peer unless
 * vmsec_channel_config_set_allow_any_peer() was called explicitly. A peer whose static public key
 * is not in canonical encoding (vmsec_pubkey_validate()) is always refused, with #VMSEC_EAUTH,
 * before the allowlist or the verify callback see its key.
 *
 * **Threads.** Objects are not shared-state safe in general, with one documented exception: once the
 * handshake is complete, one thread may send (vmsec_engine_send(), output functions,
 * vmsec_channel_send(), vmsec_channel_flush(), vmsec_channel_close()) while another thread receives
 * (input functions, vmsec_engine_recv(), vmsec_channel_recv()) on the same object. A failure seen by
 * either thread fails the channel for both. vmsec_engine_tick() belongs to the sending side.
 * With keep-alives or a rekey time (vmsec_channel_config_set_keepalive()) a blocking channel's
 * sending calls hold a lock on the sending side, and a receiving thread waiting in
 * vmsec_channel_recv() takes it when free to write a due keep-alive (without blocking: a peer that
 * stopped reading cannot stall the receiver) and runs the dead-peer check itself; a sending thread
 * blocked in a write runs the timers of its side. vmsec_channel_tick() is a call on both sides.
 */
#ifndef VMSEC_CHANNEL_H
#define VMSEC_CHANNEL_H

#include <vmsec/common.h>
#include <vmsec/keys.h>
#include <vmsec/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Default Noise protocol: mutual authentication with static keys sent encrypted. */
#define VMSEC_CHANNEL_DEFAULT_PROTOCOL "Noise_XX_25519_ChaChaPoly_BLAKE2b"
/** @brief Default (and minimum allowed maximum) application message size: 16 MiB. */
#define VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE ((size_t)16 << 20)
/** @brief Largest value accepted by vmsec_channel_config_set_max_message(): 1 GiB. */
#define VMSEC_CHANNEL_MAX_MESSAGE_LIMIT ((size_t)1 << 30)
/** @brief Default number of transport messages per direction between two rekeys (2^20). */
#define VMSEC_CHANNEL_DEFAULT_REKEY_INTERVAL ((uint64_t)1 << 20)
/** @brief Default handshake timeout of a @ref vmsec_channel, in milliseconds. */
#define VMSEC_CHANNEL_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000u
/** @brief Largest handshake hash (BLAKE2b and SHA512 give 64 bytes, SHA256 gives 32). */
#define VMSEC_HANDSHAKE_HASH_MAX 64
/** @brief Largest application payload carried by one record (one Noise transport message). */
#define VMSEC_RECORD_PAYLOAD_MAX 65518
/** @brief Channel protocol version a new configuration speaks (doc/PROTOCOL.md); since 1.1. */
#define VMSEC_CHANNEL_PROTOCOL_VERSION 2
/** @brief Smallest non-zero keep-alive interval or dead-peer timeout, in milliseconds; since 1.1. */
#define VMSEC_CHANNEL_KEEPALIVE_MIN_MS 10u
/** @brief Largest keep-alive interval or dead-peer timeout (one day), in milliseconds; since 1.1. */
#define VMSEC_CHANNEL_KEEPALIVE_MAX_MS 86400000u
/** @brief Largest time between two time-based rekeys (one day), in seconds; since 1.1. */
#define VMSEC_CHANNEL_REKEY_TIME_MAX 86400u
/** @brief Size of the PSK given to vmsec_channel_config_set_psk(). */
#define VMSEC_PSK_BYTES 32

/** @brief Default maximum message, for bindings. @return #VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE. */
VMSEC_EXPORT size_t vmsec_channel_default_max_message(void);
/** @brief Maximum message limit, for bindings. @return #VMSEC_CHANNEL_MAX_MESSAGE_LIMIT. */
VMSEC_EXPORT size_t vmsec_channel_max_message_limit(void);
/** @brief Largest handshake hash, for bindings. @return #VMSEC_HANDSHAKE_HASH_MAX. */
VMSEC_EXPORT size_t vmsec_handshake_hash_max(void);
/** @brief Payload of one record, for bindings. @return #VMSEC_RECORD_PAYLOAD_MAX. */
VMSEC_EXPORT size_t vmsec_record_payload_max(void);
/** @brief PSK size, for bindings. @return #VMSEC_PSK_BYTES. */
VMSEC_EXPORT size_t vmsec_psk_bytes(void);

/** @brief Which side of the handshake an engine or channel plays. */
typedef enum vmsec_role {
    VMSEC_ROLE_INITIATOR = 1, /**< Sends the announcement and the first handshake message (the connecting side). */
    VMSEC_ROLE_RESPONDER = 2  /**< Waits for the announcement (the accepting side). */
} vmsec_role;

/** @brief Life cycle of an engine or channel. */
typedef enum vmsec_state {
    /** The handshake is in progress; in protocol version 2 this includes waiting for the peer's
     *  key-confirmation record. Nothing about the peer is reported in this state. */
    VMSEC_STATE_HANDSHAKE = 1,
    /** Authenticated; messages flow both ways. Protocol version 2: the peer has proved in this
     *  session that it holds its static key (when the pattern gives it one) and that it is live
     *  (it used this session's fresh ephemeral keys), and the trust decision accepted it; a
     *  replayed or forged handshake message never leads here. Version 1 (opt-in) only guarantees
     *  that for the initiator; its responder may be open for a replayed first message. */
    VMSEC_STATE_OPEN = 2,
    VMSEC_STATE_CLOSED = 3,    /**< The peer sent close_notify: nothing more will arrive; sending is still allowed until vmsec_engine_close(). */
    VMSEC_STATE_FAILED = 4     /**< Failed closed: keys wiped, every call returns #VMSEC_ESTATE. */
} vmsec_state;

/* ------------------------------------------------------------------------------------------- */
/** @name Configuration */
/** @{ */

/** @brief Channel configuration: keys, trust, protocol and limits. Opaque. */
typedef struct vmsec_channel_config vmsec_channel_config;

/**
 * @brief Decides whether a peer's authenticated static public key is acceptable.
 *
 * Called at most once per channel, exactly when the peer has proved in this session that it holds
 * the key: after a message the peer encrypted under keys mixing both fresh ephemerals and the DH of
 * its static key with this side's ephemeral, or, for the side that wrote the last handshake message
 * without such a message, when the peer's key-confirmation record arrives (doc/PROTOCOL.md,
 * "Key confirmation"). It is never called for a key merely revealed, or for a replayed or forged
 * handshake message. A key that neither the allowlist, the callback nor any-peer could accept is
 * refused as soon as it is revealed, without calling the callback, so an unknown peer receives no
 * further handshake message. Protocol version 1 (opt-in) calls it as soon as the key is revealed,
 * before it is proved. The key is always canonical (vmsec_pubkey_validate()): a
 * non-canonical one is refused before the callback is called, so a deny-list comparing bytes
 * cannot be passed by a second encoding of a denied key.
 *
 * @param user The pointer given to vmsec_channel_config_set_verify().
 * @param peer_key The peer's static public key, #VMSEC_KEY_BYTES bytes.
 * @param key_len Always #VMSEC_KEY_BYTES.
 * @return 0 to accept the peer; any other value refuses it (the handshake fails with #VMSEC_EAUTH).
 */
typedef int (*vmsec_channel_verify_fn)(void *user, const uint8_t *peer_key, size_t key_len);

/**
 * @brief Creates a configuration with secure defaults.
 *
 * Defaults: #VMSEC_CHANNEL_DEFAULT_PROTOCOL, no local key, no trusted peer (so every peer is
 * refused), no PSK, empty prologue, #VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE,
 * #VMSEC_CHANNEL_DEFAULT_REKEY_INTERVAL, #VMSEC_CHANNEL_DEFAULT_HANDSHAKE_TIMEOUT_MS.
 *
 * @param[out] out Receives the configuration; free it with vmsec_channel_config_free().
 * @return 0, #VMSEC_EINVAL, #VMSEC_ENOMEM or #VMSEC_ECRYPTO.
 */
VMSEC_EXPORT int vmsec_channel_config_new(vmsec_channel_config **out);

/** @brief Wipes and frees a configuration. Accepts NULL. @param cfg The configuration. */
VMSEC_EXPORT void vmsec_channel_config_free(vmsec_channel_config *cfg);

/**
 * @brief Sets the local static keypair (copied into guarded memory; @p kp may be freed afterwards).
 * @param cfg The configuration.
 * @param kp The keypair, or NULL to remove it.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_channel_config_set_keypair(vmsec_channel_config *cfg, const vmsec_keypair *kp);

/**
 * @brief Sets the full Noise protocol name, e.g. `Noise_IKpsk2_25519_AESGCM_SHA256`.
 *
 * The DH function must be 25519. Patterns: any interactive pattern of the Noise specification
 * with optional `pskN` modifiers (XX, IK, KK, NK, IKpsk2, XXpsk3, ...); the one-way patterns N, K
 * and X are refused with #VMSEC_EUNSUPPORTED, as a channel carries replies. Ciphers:
 * ChaChaPoly, AESGCM (in a library built with the libsodium AEAD backend, only where the CPU has
 * AES-NI and CLMUL; the default build, which finds OpenSSL 3 at configure time, accepts it on any
 * CPU). Hashes: BLAKE2b, SHA256, SHA512.
 * A responder accepts exactly this protocol and refuses any other announcement.
 *
 * @param cfg The configuration.
 * @param name The protocol name.
 * @return 0; #VMSEC_EFORMAT for a malformed name or #VMSEC_EUNSUPPORTED for an unsupported part
 *         (vmsec_error_last() names it); #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_config_set_protocol(vmsec_channel_config *cfg, const char *name);

/**
 * @brief Sets the handshake pattern, keeping the suite (e.g. "IK", "XXpsk3").
 * @param cfg The configuration.
 * @param pattern The pattern with its modifiers.
 * @return As vmsec_channel_config_set_protocol().
 */
VMSEC_EXPORT int vmsec_channel_config_set_pattern(vmsec_channel_config *cfg, const char *pattern);

/**
 * @brief Sets the cipher suite, keeping the pattern (e.g. "AESGCM_SHA256", "ChaChaPoly_BLAKE2b").
 * @param cfg The configuration.
 * @param suite CIPHER_HASH.
 * @return As vmsec_channel_config_set_protocol().
 */
VMSEC_EXPORT int vmsec_channel_config_set_suite(vmsec_channel_config *cfg, const char *suite);

/**
 * @brief Writes the configured Noise protocol name.
 * @param cfg The configuration.
 * @param[out] out Buffer for the NUL-terminated name; 64 bytes always suffice.
 * @param out_len Size of @p out.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ETOOBIG.
 */
VMSEC_EXPORT int vmsec_channel_config_get_protocol(const vmsec_channel_config *cfg, char *out, size_t out_len);

/**
 * @brief Adds a trusted peer static public key to the allowlist.
 *
 * If the pattern needs the peer's static key before the handshake (the initiator of IK, NK, KK
 * and the responder of KK) and vmsec_channel_config_set_peer_key() was not called, the allowlist
 * must hold exactly one key, which is then used.
 *
 * @param cfg The configuration.
 * @param key The public key; it must be canonical (vmsec_pubkey_validate()).
 * @param key_len Must be #VMSEC_KEY_BYTES.
 * @return 0, #VMSEC_EINVAL, #VMSEC_EFORMAT (the key is not canonical) or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_channel_config_add_trusted_peer(vmsec_channel_config *cfg, const uint8_t *key, size_t key_len);

/**
 * @brief Sets the peer's static key known before the handshake (pre-message key); it is trusted.
 * @param cfg The configuration.
 * @param key The public key, or NULL to unset; it must be canonical (vmsec_pubkey_validate()).
 * @param key_len #VMSEC_KEY_BYTES (ignored when @p key is NULL).
 * @return 0, #VMSEC_EINVAL or #VMSEC_EFORMAT (the key is not canonical).
 */
VMSEC_EXPORT int vmsec_channel_config_set_peer_key(vmsec_channel_config *cfg, const uint8_t *key, size_t key_len);

/**
 * @brief Installs a callback that decides on peer keys not in the allowlist.
 *
 * A key in the allowlist is accepted without calling @p fn; otherwise @p fn decides.
 *
 * @param cfg The configuration.
 * @param fn The callback, or NULL to remove it.
 * @param user Passed to @p fn.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_config_set_verify(vmsec_channel_config *cfg, vmsec_channel_verify_fn fn, void *user);

/**
 * @brief Explicitly accepts any peer, including peers without a static key (opt-in; insecure
 *        against active attackers unless a PSK or the handshake hash authenticates the peer).
 * @param cfg The configuration.
 * @param allow Non-zero to accept any peer, 0 for the fail-closed default.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_config_set_allow_any_peer(vmsec_channel_config *cfg, int allow);

/**
 * @brief Sets the pre-shared key used by `pskN` patterns (copied into guarded memory).
 * @param cfg The configuration.
 * @param psk The key, or NULL to unset.
 * @param psk_len #VMSEC_PSK_BYTES.
 * @return 0, #VMSEC_EINVAL or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_channel_config_set_psk(vmsec_channel_config *cfg, const uint8_t *psk, size_t psk_len);

/**
 * @brief Sets the application prologue; both sides must use the same bytes or the handshake fails.
 * @param cfg The configuration.
 * @param prologue The bytes (may be NULL when @p len is 0).
 * @param len At most 65535.
 * @return 0, #VMSEC_EINVAL, #VMSEC_ETOOBIG or #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_channel_config_set_prologue(vmsec_channel_config *cfg, const uint8_t *prologue, size_t len);

/**
 * @brief Sets the largest application message this side sends or accepts.
 * @param cfg The configuration.
 * @param max 1 to #VMSEC_CHANNEL_MAX_MESSAGE_LIMIT bytes.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_config_set_max_message(vmsec_channel_config *cfg, size_t max);

/**
 * @brief Sets the number of transport messages per direction between two rekeys.
 *
 * Both sides must use the same interval (it is part of the protocol agreement, like the suite).
 *
 * @param cfg The configuration.
 * @param interval Messages between rekeys; 0 disables rekeying.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_config_set_rekey_interval(vmsec_channel_config *cfg, uint64_t interval);

/**
 * @brief Sets how long a @ref vmsec_channel handshake may take in total.
 * @param cfg The configuration.
 * @param timeout_ms Milliseconds; 0 means no limit.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_config_set_handshake_timeout(vmsec_channel_config *cfg, unsigned int timeout_ms);

/**
 * @brief Selects the channel protocol version (doc/PROTOCOL.md); since 1.1.
 *
 * A new configuration speaks #VMSEC_CHANNEL_PROTOCOL_VERSION. Version 1 is kept only for peers
 * that cannot be upgraded yet, and only by explicit opt-in on both sides: an initiator announces
 * exactly its version, and a responder accepts exactly its own, so a version 2 side never falls
 * back to version 1 (an attacker cannot downgrade it). Version 1 lacks what version 2 adds; in
 * particular a version 1 responder reports the peer as authenticated before the peer proved
 * anything in the session (a replayed first handshake message opens it).
 *
 * @param cfg The configuration.
 * @param version 1 or 2.
 * @return 0, or #VMSEC_EINVAL (a NULL @p cfg) or #VMSEC_EUNSUPPORTED (another version).
 */
VMSEC_EXPORT int vmsec_channel_config_set_protocol_version(vmsec_channel_config *cfg, unsigned int version);

/**
 * @brief Enables keep-alives and the dead-peer timeout (protocol version 2); since 1.1.
 *
 * Off by default. Once the handshake is complete, a side that has sent no record for
 * @p interval_ms sends a keep-alive record (empty, authenticated, otherwise ignored by the
 * receiver), and a side that has received no record of any kind for @p dead_after_ms fails the
 * channel with #VMSEC_EPEERDEAD: a paused or vanished peer VM is noticed without application
 * traffic. Each side's timeout relies on the peer's keep-alives, so both sides normally use the
 * same values (a peer that sends nothing for longer than our timeout is dead to us).
 *
 * The engine reads no clock: a @ref vmsec_engine acts on these timers only in vmsec_engine_tick().
 * A @ref vmsec_channel reads CLOCK_MONOTONIC itself: a blocking vmsec_channel_recv() wakes up to
 * send keep-alives and fails with #VMSEC_EPEERDEAD; a non-blocking user polls with
 * vmsec_channel_next_timeout_ms() and calls vmsec_channel_tick(). With protocol version 1 the
 * setting has no effect (version 1 has no keep-alive record).
 *
 * @param cfg The configuration.
 * @param interval_ms Keep-alive interval: 0 (send none) or #VMSEC_CHANNEL_KEEPALIVE_MIN_MS to
 *        #VMSEC_CHANNEL_KEEPALIVE_MAX_MS.
 * @param dead_after_ms Dead-peer timeout: 0 (never) or in the same range, and at least twice
 *        @p interval_ms when both are set (one late keep-alive is no false alarm).
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_config_set_keepalive(vmsec_channel_config *cfg, unsigned int interval_ms,
                                                    unsigned int dead_after_ms);

/**
 * @brief Rekeys the sending key every @p seconds as well (protocol version 2); since 1.1.
 *
 * Off by default. When the time is due a side sends a rekey record and then replaces its sending
 * key with Noise's Rekey() (doc/PROTOCOL.md, section 6); the peer replaces its receiving key when
 * it authenticates the record. This is in addition to the counter of
 * vmsec_channel_config_set_rekey_interval(), and needs no agreement: each side times its own
 * sending direction. WireGuard rekeys after 120 seconds, a sensible value.
 *
 * Rekey() gives key erasure: a key stolen from memory later does not decrypt traffic sent before
 * the rekey. It does not give post-compromise security: whoever holds the current key can compute
 * every later one, as Rekey() mixes in no fresh secret. Only a new handshake (a new channel)
 * recovers from a compromised key. The default is off because the counter already bounds how much
 * traffic one key protects, and because the engine learns the time only from vmsec_engine_tick().
 *
 * @param cfg The configuration.
 * @param seconds 0 (off) to #VMSEC_CHANNEL_REKEY_TIME_MAX.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_config_set_rekey_time(vmsec_channel_config *cfg, unsigned int seconds);

/** @} */
/* ------------------------------------------------------------------------------------------- */
/** @name Sans-I/O engine */
/** @{ */

/** @brief The protocol engine: bytes in, bytes out, no I/O. Opaque. */
typedef struct vmsec_engine vmsec_engine;

/**
 * @brief Creates an engine. An initiator queues its announcement and first handshake message at once.
 * @param[out] out Receives the engine; free it with vmsec_engine_free().
 * @param cfg The configuration (copied; may be freed afterwards).
 * @param role #VMSEC_ROLE_INITIATOR or #VMSEC_ROLE_RESPONDER.
 * @return 0; #VMSEC_EINVAL when the configuration lacks a key the pattern needs (message says which);
 *         #VMSEC_ENOMEM; #VMSEC_ECRYPTO.
 */
VMSEC_EXPORT int vmsec_engine_new(vmsec_engine **out, const vmsec_channel_config *cfg, vmsec_role role);

/** @brief Wipes and frees an engine. Accepts NULL. @param e The engine. */
VMSEC_EXPORT void vmsec_engine_free(vmsec_engine *e);

/**
 * @brief Feeds bytes received from the peer (copies them).
 *
 * Consumes as much as the engine can buffer; call vmsec_engine_recv() to make room when
 * @p consumed is less than @p len.
 *
 * @param e The engine.
 * @param data The bytes.
 * @param len Their number.
 * @param[out] consumed Receives how many bytes were taken.
 * @return 0 or a failure (#VMSEC_EAUTH, #VMSEC_EPROTO, #VMSEC_ETOOBIG, #VMSEC_ESTATE...) that failed the engine.
 */
VMSEC_EXPORT int vmsec_engine_feed(vmsec_engine *e, const uint8_t *data, size_t len, size_t *consumed);

/**
 * @brief Gives the engine's free input space, so a caller can read() straight into it (zero copy).
 *
 * The space stays valid until the next call on the receiving side (vmsec_engine_recv() may move it).
 *
 * @param e The engine.
 * @param[out] buf Receives where to write.
 * @param[out] cap Receives how many bytes may be written; 0 when a decrypted message must be taken first.
 * @return 0 or #VMSEC_ESTATE.
 */
VMSEC_EXPORT int vmsec_engine_input_space(vmsec_engine *e, uint8_t **buf, size_t *cap);

/**
 * @brief Declares that @p len bytes were written into the space from vmsec_engine_input_space(), and processes them.
 * @param e The engine.
 * @param len Bytes written.
 * @return As vmsec_engine_feed().
 */
VMSEC_EXPORT int vmsec_engine_input_commit(vmsec_engine *e, size_t len);

/**
 * @brief Tells the engine the peer's byte stream ended.
 *
 * May be called as soon as the transport reports the end: complete messages already buffered are
 * still delivered by vmsec_engine_recv(), and the verdict comes once the last of them is taken
 * (vmsec_engine_recv() then returns #VMSEC_ECLOSED after a close_notify, or #VMSEC_ETRUNCATED).
 * @param e The engine.
 * @return 0 if the peer had sent close_notify (clean close) or if buffered messages remain to be
 *         received (the verdict is then deferred to vmsec_engine_recv()); #VMSEC_ETRUNCATED
 *         otherwise (the engine fails).
 */
VMSEC_EXPORT int vmsec_engine_input_eof(vmsec_engine *e);

/**
 * @brief Exposes the bytes waiting to be sent to the peer (no copy).
 *
 * Protocol version 2: small messages queued while output was waiting were packed into one record
 * (see vmsec_engine_send()); that record is sealed by this call. A pack held open by
 * vmsec_engine_send_more() is not: it waits for vmsec_engine_flush() or a send without "more".
 * @param e The engine.
 * @param[out] buf Receives a pointer valid until the next call on the sending side.
 * @param[out] len Receives the number of bytes (0 when nothing is pending).
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_engine_output(vmsec_engine *e, const uint8_t **buf, size_t *len);

/**
 * @brief Marks @p len bytes of vmsec_engine_output() as sent.
 * @param e The engine.
 * @param len Bytes sent; at most what vmsec_engine_output() reported.
 * @return 0 or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_engine_output_consume(vmsec_engine *e, size_t len);

/**
 * @brief Returns the number of bytes waiting to be sent.
 * @param e The engine.
 * @return Pending output bytes, counting an open pack as the record it becomes once sealed (one
 *         held open by vmsec_engine_send_more() too, though vmsec_engine_output() exposes it only
 *         after vmsec_engine_flush()).
 */
VMSEC_EXPORT size_t vmsec_engine_output_pending(const vmsec_engine *e);

/**
 * @brief Encrypts an application message into the output (only once the handshake is complete).
 *
 * **Packing** (protocol version 2, doc/PROTOCOL.md): several small messages (up to 8 KiB each)
 * can share one record, which costs one AEAD operation and one frame instead of one per message;
 * the receiver still gets them one by one, with their boundaries. A message is packed when more
 * than one is queued: after vmsec_engine_send_more(), or when output is still waiting to be
 * written (vmsec_engine_output_pending() is not 0), in which case the pack is sealed by the next
 * vmsec_engine_output(). A message sent with nothing waiting is sealed as its own record at once:
 * packing never delays a lone message. Larger messages always go as their own records, after
 * whatever pack was open. With protocol version 1 every message is sealed as its own records.
 * @param e The engine.
 * @param msg The message (may be NULL when @p len is 0; empty messages are delivered as such).
 * @param len Up to the configured maximum.
 * @return 0; #VMSEC_ETOOBIG (nothing queued, engine still usable); #VMSEC_ESTATE during the
 *         handshake, after vmsec_engine_close() or after a failure; #VMSEC_ENOMEM.
 */
VMSEC_EXPORT int vmsec_engine_send(vmsec_engine *e, const uint8_t *msg, size_t len);

/**
 * @brief Like vmsec_engine_send(), saying more messages follow; since 1.1.
 *
 * Protocol version 2: a small message joins an open pack that stays open (and out of
 * vmsec_engine_output()) until a vmsec_engine_send() without "more", vmsec_engine_flush(),
 * vmsec_engine_close(), a message too large to be packed, or the pack filling one record. With
 * protocol version 1 this is vmsec_engine_send().
 * @param e The engine.
 * @param msg The message (may be NULL when @p len is 0).
 * @param len Up to the configured maximum.
 * @return As vmsec_engine_send().
 */
VMSEC_EXPORT int vmsec_engine_send_more(vmsec_engine *e, const uint8_t *msg, size_t len);

/**
 * @brief Seals the messages held by vmsec_engine_send_more() into the output; since 1.1.
 * @param e The engine.
 * @return 0 (also when nothing was held); #VMSEC_ESTATE after a failure; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_engine_flush(vmsec_engine *e);

/**
 * @brief Takes the next complete, authenticated message.
 * @param e The engine.
 * @param[out] buf Where to copy it (may be NULL when @p cap is 0).
 * @param cap Size of @p buf.
 * @param[out] len Receives the message size (also when #VMSEC_ETOOBIG is returned).
 * @return 0; #VMSEC_EAGAIN when no complete message is available yet; #VMSEC_ETOOBIG when @p cap
 *         is too small (the message stays queued); #VMSEC_ECLOSED after the peer's close_notify;
 *         #VMSEC_ESTATE after a failure.
 */
VMSEC_EXPORT int vmsec_engine_recv(vmsec_engine *e, uint8_t *buf, size_t cap, size_t *len);

/**
 * @brief Queues close_notify; afterwards vmsec_engine_send() fails with #VMSEC_ESTATE.
 * @param e The engine.
 * @return 0 (also when already closed) or #VMSEC_ESTATE before the handshake completed or after a failure.
 */
VMSEC_EXPORT int vmsec_engine_close(vmsec_engine *e);

/**
 * @brief Returns the engine's state.
 * @param e The engine.
 * @return A value of @ref vmsec_state.
 */
VMSEC_EXPORT int vmsec_engine_state(const vmsec_engine *e);

/**
 * @brief Copies the peer's authenticated static public key.
 * @param e The engine.
 * @param[out] key Receives #VMSEC_KEY_BYTES bytes.
 * @param key_len Size of @p key.
 * @return 0; #VMSEC_ESTATE before #VMSEC_STATE_OPEN (in protocol version 2 not before the peer
 *         proved its key in this session: a side that wrote the last handshake message may still
 *         wait for the key-confirmation record) or after a failure; #VMSEC_ENOTFOUND if the
 *         pattern gives the peer no static key; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_engine_peer_key(const vmsec_engine *e, uint8_t *key, size_t key_len);

/**
 * @brief Copies the handshake hash (channel binding value; equal on both sides).
 * @param e The engine.
 * @param[out] out Buffer; #VMSEC_HANDSHAKE_HASH_MAX bytes always suffice.
 * @param cap Size of @p out.
 * @param[out] len Receives the hash length (32 or 64).
 * @return 0, #VMSEC_ESTATE before #VMSEC_STATE_OPEN (as vmsec_engine_peer_key()), #VMSEC_ETOOBIG
 *         or #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_engine_handshake_hash(const vmsec_engine *e, uint8_t *out, size_t cap, size_t *len);

/**
 * @brief Runs the engine's timers at monotonic time @p now_ms; since 1.1.
 *
 * The engine never reads a clock: the caller passes the time, in milliseconds of any monotonic
 * clock (CLOCK_MONOTONIC), never going back, and the same clock in every call on one engine. The
 * timers (vmsec_channel_config_set_keepalive(), vmsec_channel_config_set_rekey_time()) start at
 * the first tick after the handshake; from then on the engine stamps the records it sends and
 * receives with the time of the next tick. So call it at vmsec_engine_next_deadline(), and, for
 * exact timing, right after sending or feeding; a tick at any other time does no harm.
 *
 * When due, it queues a rekey record (rekeying the sending key) and a keep-alive record: send the
 * output as usual. When nothing arrived for the dead-peer timeout, it fails the engine with
 * #VMSEC_EPEERDEAD. It does nothing during the handshake, after vmsec_engine_close() (for
 * keep-alives and rekeys) or after the peer's close_notify (for the dead-peer timeout), nor with
 * protocol version 1.
 *
 * It is a call on the sending side (see Threads in vmsec/channel.h); its dead-peer check only
 * reads what the receiving side recorded.
 *
 * @param e The engine.
 * @param now_ms The current monotonic time in milliseconds.
 * @return 0; #VMSEC_EPEERDEAD (the engine failed); #VMSEC_ESTATE after an earlier failure;
 *         #VMSEC_ENOMEM; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_engine_tick(vmsec_engine *e, uint64_t now_ms);

/**
 * @brief Gives the time at which vmsec_engine_tick() has work to do; since 1.1.
 *
 * For event loops: wait at most until @p *deadline_ms (in the clock of vmsec_engine_tick()), then
 * tick. The value can be early (activity since the last tick is stamped only by the next one):
 * ticking early is harmless. 0 means "tick now" (the timers have not started yet).
 *
 * @param e The engine.
 * @param[out] deadline_ms Receives the deadline, or UINT64_MAX when no timer is armed.
 * @return 1 when a timer is armed, 0 when none is (no keep-alive, dead-peer timeout or rekey time
 *         configured, protocol version 1, handshake not complete, closed or failed); #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_engine_next_deadline(const vmsec_engine *e, uint64_t *deadline_ms);

/** @} */
/* ------------------------------------------------------------------------------------------- */
/** @name Channel over a stream descriptor */
/** @{ */

/** @brief An engine driven over a connected stream socket. Opaque. */
typedef struct vmsec_channel vmsec_channel;

/** @brief Flag for vmsec_channel_new(): close the descriptor in vmsec_channel_free(). */
#define VMSEC_CHANNEL_OWN_FD 0x1u
/** @brief Flag for vmsec_channel_send(): more messages follow; keep this one buffered (packed with the following ones into one record, protocol version 2) until a later send without it, vmsec_channel_flush(), vmsec_channel_close(), or about 64 KiB are waiting (then they are written at once). */
#define VMSEC_SEND_MORE 0x1u

/**
 * @brief Wraps a connected stream descriptor. Does not do any I/O.
 *
 * The channel is non-blocking exactly when the descriptor has O_NONBLOCK when this is called (see
 * vmsec_channel_set_nonblocking() to change it later). Writes use MSG_NOSIGNAL, so a vanished
 * peer gives #VMSEC_EIO rather than SIGPIPE.
 *
 * @param[out] out Receives the channel; free it with vmsec_channel_free().
 * @param cfg The configuration (copied).
 * @param fd A connected stream socket.
 * @param role #VMSEC_ROLE_INITIATOR (the connecting side) or #VMSEC_ROLE_RESPONDER.
 * @param flags 0 or #VMSEC_CHANNEL_OWN_FD.
 * @return 0, #VMSEC_EINVAL, #VMSEC_ENOMEM or #VMSEC_ECRYPTO.
 */
VMSEC_EXPORT int vmsec_channel_new(vmsec_channel **out, const vmsec_channel_config *cfg, int fd, vmsec_role role,
                                   unsigned int flags);

/**
 * @brief Frees the channel (closing the descriptor if owned) without sending close_notify.
 *
 * Unless vmsec_channel_close() completed first, the peer sees the end of the stream as a
 * truncation (#VMSEC_ETRUNCATED), never as a clean close.
 *
 * @param ch The channel, or NULL.
 */
VMSEC_EXPORT void vmsec_channel_free(vmsec_channel *ch);

/**
 * @brief Switches the descriptor (and so the channel) between blocking and non-blocking mode.
 * @param ch The channel.
 * @param nonblocking Non-zero for non-blocking.
 * @return 0, #VMSEC_EINVAL or #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_channel_set_nonblocking(vmsec_channel *ch, int nonblocking);

/**
 * @brief Runs the handshake.
 *
 * Blocking mode: returns when done, failed, or the configured handshake timeout passed.
 * Non-blocking mode: returns #VMSEC_EAGAIN until done; poll for vmsec_channel_poll_events() and
 * call again. The timeout counts from the first call in both modes.
 *
 * Returns 0 only in #VMSEC_STATE_OPEN: in protocol version 2 the peer has then proved its static
 * key and its presence in this session. The side that wrote the last handshake message waits for
 * the peer's key-confirmation record (no extra round trip for the other side): a replayed or forged
 * handshake message ends in #VMSEC_ETIMEDOUT (or a failure as soon as the stream shows one), never
 * in 0. Whatever was queued with the confirmation record stays buffered for vmsec_channel_recv().
 *
 * @param ch The channel.
 * @return 0; #VMSEC_EAGAIN; #VMSEC_ETIMEDOUT; #VMSEC_EAUTH (bad MAC, untrusted key, PSK
 *         mismatch); #VMSEC_EPROTO (bad framing, refused announcement, a missing or malformed
 *         key-confirmation record); #VMSEC_ETRUNCATED (the peer went away); #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_channel_handshake(vmsec_channel *ch);

/**
 * @brief Sends one application message (runs the handshake first if needed).
 *
 * Without #VMSEC_SEND_MORE the message and everything buffered before it are written out before
 * returning (blocking mode) or as far as the socket accepts (non-blocking mode: the rest stays
 * buffered; call vmsec_channel_flush() when the descriptor is writable).
 *
 * Packing (protocol version 2): small messages (up to 8 KiB) sent with #VMSEC_SEND_MORE are packed
 * into shared records, sealed by the next send without the flag or vmsec_channel_flush(). In
 * non-blocking mode, small messages sent while earlier output is still waiting for the socket are
 * packed too, and the pack is sealed when the socket takes the earlier output (a send or
 * vmsec_channel_flush()). A message sent alone is written at once, as its own record. The peer
 * receives every message separately either way.
 *
 * In blocking mode a message longer than one record (#VMSEC_RECORD_PAYLOAD_MAX) is written record
 * by record while the rest of it is still being encrypted, so a receiving thread decrypts the start
 * of a large message while the sender seals its end. If writing fails part way, the channel fails
 * for sending and the peer sees the message cut off (#VMSEC_ETRUNCATED), never a shorter message.
 *
 * @param ch The channel.
 * @param msg The message (NULL allowed when @p len is 0).
 * @param len Up to the configured maximum.
 * @param flags 0 or #VMSEC_SEND_MORE.
 * @return 0 when the message was accepted; #VMSEC_EAGAIN (non-blocking: too much is buffered and
 *         the message was NOT accepted; flush and retry); #VMSEC_ETOOBIG (not accepted, channel
 *         usable); #VMSEC_ESTATE; #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_channel_send(vmsec_channel *ch, const uint8_t *msg, size_t len, unsigned int flags);

/**
 * @brief Writes out everything buffered, including messages held by #VMSEC_SEND_MORE.
 * @param ch The channel.
 * @return 0 when nothing remains buffered; #VMSEC_EAGAIN (non-blocking); #VMSEC_EIO; #VMSEC_ESTATE.
 */
VMSEC_EXPORT int vmsec_channel_flush(vmsec_channel *ch);

/**
 * @brief Receives one complete, authenticated message (runs the handshake first if needed).
 * @param ch The channel.
 * @param[out] buf Buffer (NULL allowed when @p cap is 0).
 * @param cap Size of @p buf; pass 0 to learn the size of the next message.
 * @param[out] len Receives the message size.
 * @return 0; #VMSEC_EAGAIN (non-blocking); #VMSEC_ETOOBIG (@p cap too small; message kept, size
 *         in @p len); #VMSEC_ECLOSED (peer closed cleanly: a blocking channel first reads on to the
 *         end of the stream, which must follow close_notify with nothing in between, waiting for
 *         it at most the handshake timeout, or its default when that is 0; a non-blocking one
 *         checks what has arrived, at every call until the end); #VMSEC_ETRUNCATED (stream ended,
 *         or the connection was reset, without close_notify); #VMSEC_EAUTH / #VMSEC_EPROTO
 *         (tampering, or bytes after close_notify; channel failed); #VMSEC_EPEERDEAD (with vmsec_channel_config_set_keepalive(): nothing
 *         arrived within the dead-peer timeout; a blocking call wakes up for it and meanwhile sends
 *         the keep-alives that are due); #VMSEC_ESTATE; #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_channel_recv(vmsec_channel *ch, uint8_t *buf, size_t cap, size_t *len);

/**
 * @brief Sends close_notify, writes out everything buffered and shuts down the write side.
 *
 * The peer's messages can still be received until it closes too (#VMSEC_ECLOSED).
 *
 * @param ch The channel.
 * @return 0; #VMSEC_EAGAIN (non-blocking: call again when writable); #VMSEC_ESTATE; #VMSEC_EIO.
 */
VMSEC_EXPORT int vmsec_channel_close(vmsec_channel *ch);

/**
 * @brief Returns the poll(2) events the caller should wait for before calling the channel again.
 * @param ch The channel.
 * @return A mask of POLLIN and POLLOUT (POLLOUT while output is buffered).
 */
VMSEC_EXPORT short vmsec_channel_poll_events(const vmsec_channel *ch);

/**
 * @brief Gives the poll(2) timeout until the channel's next timer; since 1.1.
 *
 * For event loops on a non-blocking channel: poll for vmsec_channel_poll_events() with this
 * timeout, then call vmsec_channel_tick() (and receive or flush as the events say):
 *
 * @code
 * struct pollfd p = {.fd = vmsec_channel_fd(ch), .events = vmsec_channel_poll_events(ch)};
 * poll(&p, 1, vmsec_channel_next_timeout_ms(ch));
 * if ((rc = vmsec_channel_tick(ch)) < 0) ... // VMSEC_EPEERDEAD, ...
 * @endcode
 *
 * The timers are the handshake timeout until the handshake is complete, then keep-alives, the
 * dead-peer timeout and the rekey time (vmsec_channel_config_set_keepalive(),
 * vmsec_channel_config_set_rekey_time()). A blocking channel runs them itself.
 *
 * @param ch The channel.
 * @return Milliseconds until the next timer (0 when one is due), or -1 when none is armed (or
 *         @p ch is NULL).
 */
VMSEC_EXPORT int vmsec_channel_next_timeout_ms(const vmsec_channel *ch);

/**
 * @brief Runs the channel's timers on CLOCK_MONOTONIC; since 1.1.
 *
 * Before the handshake is complete, continues it as vmsec_channel_handshake() does (which fails it
 * once its timeout passed). Afterwards, fails the channel with #VMSEC_EPEERDEAD when the peer sent
 * nothing within the dead-peer timeout, and writes a keep-alive or rekey record when one is due
 * (what the socket does not take stays buffered: poll for POLLOUT and call vmsec_channel_flush()).
 * Calling it early or often does no harm. A call on both sides (see Threads above).
 *
 * @param ch The channel.
 * @return 0; #VMSEC_EPEERDEAD; any error of vmsec_channel_handshake(); #VMSEC_ESTATE; #VMSEC_EIO;
 *         #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_tick(vmsec_channel *ch);

/**
 * @brief Returns the descriptor.
 * @param ch The channel.
 * @return The descriptor given to vmsec_channel_new(), or -1 when @p ch is NULL.
 */
VMSEC_EXPORT int vmsec_channel_fd(const vmsec_channel *ch);

/**
 * @brief Returns the channel's state.
 * @param ch The channel.
 * @return A value of @ref vmsec_state.
 */
VMSEC_EXPORT int vmsec_channel_state(const vmsec_channel *ch);

/**
 * @brief Copies the peer's authenticated static public key (once #VMSEC_STATE_OPEN).
 * @param ch The channel.
 * @param[out] key Receives #VMSEC_KEY_BYTES bytes.
 * @param key_len Size of @p key.
 * @return As vmsec_engine_peer_key().
 */
VMSEC_EXPORT int vmsec_channel_peer_key(const vmsec_channel *ch, uint8_t *key, size_t key_len);

/**
 * @brief Copies the handshake hash (channel binding).
 * @param ch The channel.
 * @param[out] out Buffer; #VMSEC_HANDSHAKE_HASH_MAX bytes always suffice.
 * @param cap Size of @p out.
 * @param[out] len Receives the hash length.
 * @return As vmsec_engine_handshake_hash().
 */
VMSEC_EXPORT int vmsec_channel_handshake_hash(const vmsec_channel *ch, uint8_t *out, size_t cap, size_t *len);

/**
 * @brief Gives the peer's vsock context ID when the descriptor is an AF_VSOCK socket.
 * @param ch The channel.
 * @param[out] cid Receives the CID.
 * @return 0; #VMSEC_ENOTFOUND when the socket is not AF_VSOCK; #VMSEC_EIO; #VMSEC_EINVAL.
 */
VMSEC_EXPORT int vmsec_channel_peer_cid(const vmsec_channel *ch, uint32_t *cid);

/**
 * @brief Connects to @p address (see vmsec/transport.h) and runs the handshake as initiator.
 *
 * The configured handshake timeout bounds the connection attempt and, separately, the handshake.
 *
 * @param[out] out Receives a blocking channel that owns its descriptor.
 * @param cfg The configuration.
 * @param address `vsock:CID:PORT`, `unix:PATH` or `tcp:HOST:PORT`.
 * @return 0 or any error of vmsec_transport_connect() and vmsec_channel_handshake().
 */
VMSEC_EXPORT int vmsec_channel_connect(vmsec_channel **out, const vmsec_channel_config *cfg, const char *address);

/**
 * @brief Accepts one connection on @p listener and runs the handshake as responder.
 *
 * Returns 0 only once the initiator has proved its static key and its presence in this session
 * (protocol version 2; see vmsec_channel_handshake()): in patterns where the responder writes the
 * last handshake message (IK, KK, NK, IX...), after the initiator's key-confirmation record. A
 * replayed or forged first message fails with #VMSEC_ETIMEDOUT at the configured handshake timeout.
 *
 * @param[out] out Receives a blocking channel that owns its descriptor.
 * @param cfg The configuration.
 * @param listener A listener from vmsec_listener_new() (see vmsec/transport.h).
 * @return 0 or any error of vmsec_listener_accept() and vmsec_channel_handshake().
 */
VMSEC_EXPORT int vmsec_channel_accept(vmsec_channel **out, const vmsec_channel_config *cfg,
                                      vmsec_listener *listener);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* VMSEC_CHANNEL_H */
