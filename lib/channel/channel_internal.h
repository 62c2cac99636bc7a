/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: the channel configuration shared by the engine and the fd channel. */
#ifndef VMSEC_CHANNEL_INTERNAL_H
#define VMSEC_CHANNEL_INTERNAL_H

#include <stdbool.h>

#include "channel/noise.h"
#include "vmsec/channel.h"

struct vmsec_channel_config {
    noise_protocol proto;
    uint8_t *secret; /* guarded, NOISE_DHLEN, or NULL */
    struct vmsec__dh_cache *ss_cache; /* "ss" results for this secret (dhcache.h), shared by copies */
    uint8_t pub[VMSEC_KEY_BYTES];
    uint8_t (*trusted)[VMSEC_KEY_BYTES];
    size_t ntrusted;
    uint8_t peer_key[VMSEC_KEY_BYTES];
    bool has_peer_key;
    vmsec_channel_verify_fn verify;
    void *verify_user;
    bool allow_any;
    /* Set only by the session layer: keep an exporter secret at Split (vmsec__engine_export);
     * here it fills padding, so plain channels pay nothing for it. */
    bool export_secret;
    uint8_t *psk; /* guarded, NOISE_PSKLEN, or NULL */
    uint8_t *prologue;
    size_t prologue_len;
    size_t max_message;
    uint64_t rekey_interval;
    unsigned int handshake_timeout_ms;
    unsigned int version; /* channel protocol version, 1 or 2 (doc/PROTOCOL.md) */
    /* liveness (version 2): keep-alive interval, dead-peer timeout, time-based rekey; 0 = off */
    unsigned int keepalive_ms, dead_after_ms, rekey_time_s;
};

/* Deep copy into zeroed *dst (guarded copies of secrets). Frees partial work on failure. */
int vmsec__channel_config_copy(struct vmsec_channel_config *dst, const struct vmsec_channel_config *src);
/* Releases what a copy or a configuration owns, without freeing cfg itself. */
void vmsec__channel_config_clear(struct vmsec_channel_config *cfg);

/* Fails the engine from outside (I/O error, timeout). side: 0 sending, 1 receiving, 2 both. */
int vmsec__engine_abort(vmsec_engine *e, int side, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The exporter secret of an open engine whose configuration set export_secret: NOISE_EXPORT_LEN
 * bytes derived from the final chaining key, secret, the same on both sides. VMSEC_ESTATE otherwise. */
int vmsec__engine_export(const vmsec_engine *e, uint8_t *out, size_t len);
int vmsec__channel_export(const vmsec_channel *ch, uint8_t *out, size_t len);
/* Releases the I/O buffers of an open engine with nothing pending in either direction (they come
 * back when bytes flow): for a channel that goes idle after a few small exchanges, as a session's
 * does after its opening. Does nothing while any input, message or output is pending. */
void vmsec__engine_trim(vmsec_engine *e);
void vmsec__channel_trim(vmsec_channel *ch);
/* The message vmsec_channel_recv() would hand out next (NULL if none is ready), read in place, and
 * the step that drops it as a recv would once copied: for a caller that needs only part of it. */
const uint8_t *vmsec__engine_msg_view(const vmsec_engine *e, size_t *len);
void vmsec__engine_msg_take(vmsec_engine *e);
/* vmsec_engine_recv() without the copy: 0 when a message is ready (*len: its size, see
 * vmsec__engine_msg_view), else what vmsec_engine_recv() returns when none is (VMSEC_EAGAIN,
 * unformatted, VMSEC_ECLOSED or the failure). */
int vmsec__engine_recv_ready(vmsec_engine *e, size_t *len);
/* vmsec_channel_recv() without the copy: reads (or, blocking, waits) until a message is ready and
 * returns 0 with *msg pointing at it in the channel's buffer, valid until vmsec__channel_msg_take()
 * drops it; otherwise exactly what vmsec_channel_recv() would return, VMSEC_EAGAIN without a
 * message formatted. For the session layer, which reads every message this way: a size probe
 * through vmsec_channel_recv(NULL, 0) formats a VMSEC_ETOOBIG message per frame. */
int vmsec__channel_next(vmsec_channel *ch, const uint8_t **msg, size_t *len);
void vmsec__channel_msg_take(vmsec_channel *ch);
/* True once close_notify was queued. */
bool vmsec__engine_send_closed(const vmsec_engine *e);
/* Version 2: this side read the last handshake message and queued its key-confirmation record,
 * so what it still has to write when it opens is that record (and nothing the peer waits on if
 * the peer already left). */
bool vmsec__engine_confirm_sent(const vmsec_engine *e);
/* Version 2: this side wrote the last handshake message and the peer's key-confirmation record has
 * not arrived yet: a peer that refuses our key closes the connection in this state. */
bool vmsec__engine_confirm_due(const vmsec_engine *e);
/* True once the transport reported the end of the stream (vmsec_engine_input_eof). */
bool vmsec__engine_input_ended(const vmsec_engine *e);

/* A message sealed piece by piece, so that a large one is written while the rest is still being
 * encrypted: vmsec__engine_send_begin admits the whole message (size limit, nonce space), then
 * vmsec__engine_send_piece seals msg[off, off + len), where len is a multiple of
 * VMSEC_RECORD_PAYLOAD_MAX except for the piece that ends the message (off + len == total). The
 * records are exactly those vmsec_engine_send would produce. No other send or close is accepted
 * until the last piece is sealed. */
int vmsec__engine_send_begin(vmsec_engine *e, size_t len);
int vmsec__engine_send_piece(vmsec_engine *e, const uint8_t *msg, size_t off, size_t len, size_t total);

/* The output already sealed, without sealing an open pack (vmsec_engine_output() would): a
 * non-blocking channel writes this first, and while the socket is full small messages keep
 * joining the pack. */
void vmsec__engine_output_sealed(vmsec_engine *e, const uint8_t **buf, size_t *len);
/* The timers of engine_live.c, split by side for a channel's two threads. vmsec__engine_tick_recv
 * stamps received records and runs only the dead-peer check, failing `side` (0 or 1) with
 * VMSEC_EPEERDEAD; vmsec__engine_tick_send runs only the sending side's timers (keep-alive,
 * rekey), as vmsec_engine_tick does after the dead-peer check. vmsec__engine_next_deadline is vmsec_engine_next_deadline, without the
 * keep-alive and rekey times unless send_side (a thread that cannot send them ignores them). */
int vmsec__engine_tick_recv(vmsec_engine *e, uint64_t now, int side);
int vmsec__engine_tick_send(vmsec_engine *e, uint64_t now);
int vmsec__engine_next_deadline(const vmsec_engine *e, bool send_side, uint64_t *deadline_ms);
/* Sending side: stamps the records sealed since the last tick as sent at `now`. */
void vmsec__engine_stamp_sent(vmsec_engine *e, uint64_t now);

/* Test-only hook (never exported): positions both cipherstates' nonces, to reach nonce exhaustion. */
void vmsec__engine_test_set_nonces(vmsec_engine *e, uint64_t send_n, uint64_t recv_n);
/* Test-only hook (never exported): seals one record of any type and data under the sending key,
 * to forge what a faulty or hostile peer holding the keys would send. */
int vmsec__engine_test_seal(vmsec_engine *e, uint8_t type, const uint8_t *data, size_t len);

#endif
