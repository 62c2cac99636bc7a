/* SPDX-License-Identifier: ISC */
/* Private to the channel engine (lib/channel/engine*.c): its state, the framing constants of
 * doc/PROTOCOL.md, and the helpers its lifecycle, handshake, send and receive files share. */
#ifndef VMSEC_ENGINE_INTERNAL_H
#define VMSEC_ENGINE_INTERNAL_H

#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel/channel_internal.h"
#include "channel/noise.h"
#include "common/internal.h"

#define FRAME_HDR 2
#define REC_MORE 0x00
#define REC_LAST 0x01
#define REC_CLOSE 0x02
/* Version 2 only (doc/PROTOCOL.md); in version 1 these are unknown types, a protocol error. */
#define REC_KEEPALIVE 0x03
#define REC_CONFIRM 0x04
#define REC_PACKED 0x05
#define REC_REKEY 0x06
#define REC_MIN (1 + NOISE_TAGLEN)

struct vmsec_engine {
    struct vmsec_channel_config cfg;
    vmsec_role role;
    atomic_int state;
    int fail_code;
    atomic_bool fail_reported; /* some call already returned fail_code */
    atomic_bool failing;       /* vmsec__engine_fail() has claimed fail_msg */
    /* Allocated by the failure that claims it (an idle channel carries no message buffer);
     * points to a static text when that allocation fails. */
    char *fail_msg;
    noise_handshake *hs;
    bool announced;        /* responder: announcement parsed */
    bool peer_checked;     /* the peer's static key was seen and passed the check made when it is revealed */
    bool has_peer_key;     /* the peer's static key passed the final trust decision */
    uint8_t peer_key[VMSEC_KEY_BYTES];
    uint8_t hhash[NOISE_MAX_HASHLEN];
    size_t hhash_len;
    /* One guarded slot per engine (lib/channel/guarded.h): both cipherstates and the engine's copies of the static secret
     * and PSK (the copies are wiped at Split; only the cipherstates outlive the handshake). */
    struct engine_secrets {
        noise_cipherstate cs[2];
        uint8_t secret[NOISE_DHLEN];
        uint8_t psk[NOISE_PSKLEN];
    } *sec;
    noise_cipherstate *cs; /* sec->cs: [0] send, [1] recv */
    crypto_aead_aes256gcm_state *gcm; /* AESGCM: both keys expanded once (guarded), or NULL */
    uint64_t sent_since_rekey, recvd_since_rekey;
    bool send_closed, peer_closed;
    bool partial; /* a message is being sealed piece by piece (vmsec__engine_send_piece) */
    bool input_eof; /* the transport ended; verdict deferred while a message waits to be taken */
    /* The I/O buffers are allocated when bytes flow and released once the handshake is done, so an
     * idle channel holds none of them. */
    /* input: raw bytes from the peer, [in_start, in_end) unprocessed */
    uint8_t *in;
    size_t in_cap, in_start, in_end, in_hwm; /* in_hwm: bytes ever written, wiped at free */
    /* the message being reassembled lives at msg + 1 (one byte of slack for in-place decryption) */
    uint8_t *msg;
    size_t msg_cap, msg_len;
    bool msg_ready;
    /* output: [out_start, out_end) pending */
    uint8_t *out;
    size_t out_cap, out_start, out_end;
    bool out_release; /* free the output buffer once drained (it held the handshake) */
    /* Key confirmation (version 2, doc/PROTOCOL.md "Key confirmation"): the final trust decision
     * (trust list, verify callback) waits until the peer proved its key and liveness, and the side
     * that wrote the last handshake message goes OPEN only with that proof. */
    int hs_msgs;       /* handshake messages written or read so far */
    int proof_msg;     /* the peer's message that proves it (noise_pattern_proof_msg); -1: the confirm record */
    bool peer_listed;  /* the peer's static key is in the trust list (looked up when it was revealed) */
    bool peer_proved;  /* the final trust decision was made */
    atomic_bool confirm_due; /* wrote the last handshake message: the first record must be the confirm
                              * record (atomic: a sending thread reads it to explain a failed write) */
    bool confirm_sent; /* read the last handshake message: the confirm record was queued */
    /* Message packing (version 2, REC_PACKED). Sending: an open pack is filled in the output
     * buffer right after the pending output, at out + out_end: frame header and type byte
     * reserved, then the entries, then room for the tag; it is sealed in place. pack_len counts
     * its entry bytes (0: no pack open; an entry is at least its 2-byte length). pack_hold: the
     * caller said more messages follow, so vmsec_engine_output() leaves the pack open.
     * Receiving: a decrypted packed record stays at msg + 1; the message handed out is at
     * msg + 1 + msg_off, and the entries not yet handed out are [pack_next, pack_end). */
    size_t pack_len;
    bool pack_hold;
    size_t msg_off, pack_next, pack_end;
    /* Liveness (keep-alives, dead-peer timeout, time-based rekey; engine_live.c). Times are the
     * caller's monotonic milliseconds, known only from vmsec_engine_tick(); records are stamped
     * with the time of the next tick. The sending side owns sent_activity and writes last_sent and
     * last_rekey; the receiving side only raises recv_activity. The others are atomic because the
     * receiving thread of a channel reads them to schedule its wake-ups. */
    bool sent_activity;          /* a record was sealed since the last tick */
    atomic_bool recv_activity;   /* a record was authenticated since the last tick */
    atomic_bool send_timers_on;  /* last_sent and last_rekey were started by a tick */
    atomic_bool recv_timer_on;   /* last_recv was started by a tick */
    _Atomic uint64_t last_sent, last_rekey, last_recv;
};

/* A frame starts with its length, big-endian. */
static inline void vmsec__engine_put_frame_len(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* engine.c: failure and keys */

/* Fails the engine closed. side: 0 send, 1 recv, 2 both (single-threaded phases). Only the failing
 * side's key is wiped here, so a concurrent thread on the other side never encrypts with a wiped key;
 * it wipes its own key when it sees the state. */
int vmsec__engine_fail(vmsec_engine *e, int side, int code, const char *fmt, ...) VMSEC_PRINTF(4, 5);
/* Guard for every call once failed: repeat the original reason under VMSEC_ESTATE. */
int vmsec__engine_failed_guard(vmsec_engine *e, int side);
/* Wipes one direction's key: its cipherstate and, for AESGCM, its expanded key. */
void vmsec__engine_wipe_key(vmsec_engine *e, int side);
const char *vmsec__engine_role_name(const vmsec_engine *e);

/* engine_handshake.c */

/* Right after creation: the initiator queues its announcement and first handshake message; the
 * responder checks that its configuration can answer the pattern before any peer connects. */
int vmsec__engine_handshake_begin(vmsec_engine *e);
/* Responder: parses the announcement at the start of the input; returns 1 when more bytes are needed. */
int vmsec__engine_read_announcement(vmsec_engine *e);
/* One handshake message from the peer, then every reply that is ours to write. */
int vmsec__engine_read_handshake(vmsec_engine *e, const uint8_t *frame, size_t len);
/* Version 2: the peer's confirm record authenticated; the final trust decision, then OPEN. */
int vmsec__engine_confirmed(vmsec_engine *e);

/* engine_send.c: the output buffer */

/* Seals an empty control record (keep-alive, or rekey: the sending key is rekeyed after it). */
int vmsec__engine_send_control(vmsec_engine *e, uint8_t type);

/* Room for need more bytes after the pending output; seals an open pack first (so a record written
 * next follows it), otherwise fails without touching the engine's state. */
int vmsec__engine_out_reserve(vmsec_engine *e, size_t need);
/* Releases the output buffer; bytes still pending are dropped. */
void vmsec__engine_free_out(vmsec_engine *e);
/* Version 2: queues the confirm record, the first transport record of the side that read the last
 * handshake message. */
int vmsec__engine_send_confirm(vmsec_engine *e);

/* engine_recv.c: the input buffer and the message being reassembled */

/* Room for a message of need bytes at msg + 1; fails the receiving side when out of memory. */
int vmsec__engine_msg_reserve(vmsec_engine *e, size_t need);
/* Wipe and release the reassembly and input buffers; they are allocated again when bytes flow. */
void vmsec__engine_free_msg(vmsec_engine *e);
void vmsec__engine_free_in(vmsec_engine *e);

#endif
