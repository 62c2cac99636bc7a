/* SPDX-License-Identifier: ISC */
/* The channel engine's receiving side: the input buffer, framing, decrypting records and
 * reassembling messages, close_notify and the end of the stream, rekeying of the receiving key. */
#include "config.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "channel/engine_internal.h"

#define IN_CAP (2 * (FRAME_HDR + NOISE_MAX_MSG))
/* During the handshake the input buffer is sized for handshake messages, which carry no payload in
 * version 1 (the largest, e + encrypted s + tag, is 96 bytes): no 64 KiB buffer per handshake. */
#define HS_IN_CAP 1024

void vmsec__engine_free_msg(vmsec_engine *e)
{
    if (e->msg) {
        sodium_memzero(e->msg, e->msg_cap + 1);
        free(e->msg);
    }
    e->msg = NULL;
    e->msg_cap = 0;
}

void vmsec__engine_free_in(vmsec_engine *e)
{
    if (e->in) {
        sodium_memzero(e->in, e->in_hwm);
        free(e->in);
    }
    e->in = NULL;
    e->in_cap = e->in_start = e->in_end = e->in_hwm = 0;
}

static int in_alloc(vmsec_engine *e)
{
    size_t cap = atomic_load(&e->state) == VMSEC_STATE_HANDSHAKE ? HS_IN_CAP : IN_CAP;
    if (!e->in) {
        if (!(e->in = malloc(cap)))
            return vmsec__error(VMSEC_ENOMEM, "out of memory for %zu bytes of channel input", cap);
        e->in_cap = cap;
    }
    return 0;
}

/* Grows the input buffer to its full size (a frame larger than the handshake-sized buffer). */
static int in_grow(vmsec_engine *e)
{
    uint8_t *p;
    if (e->in_cap == IN_CAP)
        return 0;
    if (!(p = malloc(IN_CAP)))
        return vmsec__engine_fail(e, 1, VMSEC_ENOMEM, "out of memory for %d bytes of channel input", IN_CAP);
    memcpy(p, e->in + e->in_start, e->in_end - e->in_start);
    sodium_memzero(e->in, e->in_hwm);
    free(e->in);
    e->in = p;
    e->in_end -= e->in_start;
    e->in_hwm = e->in_end;
    e->in_start = 0;
    e->in_cap = IN_CAP;
    return 0;
}

void vmsec__engine_trim(vmsec_engine *e)
{
    if (atomic_load(&e->state) != VMSEC_STATE_OPEN)
        return;
    if (e->in_start == e->in_end && !e->msg_ready && !e->msg_len && e->pack_next == e->pack_end && !e->input_eof) {
        vmsec__engine_free_in(e);
        vmsec__engine_free_msg(e);
    }
    if (e->out_start == e->out_end && !e->pack_len && !e->partial)
        vmsec__engine_free_out(e);
}

int vmsec__engine_msg_reserve(vmsec_engine *e, size_t need)
{
    size_t cap;
    uint8_t *p;
    if (need <= e->msg_cap && e->msg)
        return 0;
    cap = e->msg_cap * 2 > need ? e->msg_cap * 2 : need;
    if (cap < NOISE_MAX_MSG && atomic_load(&e->state) != VMSEC_STATE_HANDSHAKE)
        cap = NOISE_MAX_MSG;
    if (cap > e->cfg.max_message)
        cap = e->cfg.max_message > NOISE_MAX_MSG ? e->cfg.max_message : NOISE_MAX_MSG;
    if (!(p = realloc(e->msg, cap + 1)))
        return vmsec__engine_fail(e, 1, VMSEC_ENOMEM, "out of memory for a %zu-byte message", cap);
    e->msg = p;
    e->msg_cap = cap;
    return 0;
}

/* Version 2: the side that wrote the last handshake message takes the confirm record first and
 * only then (without proof so far) goes OPEN; any other first record, a second confirm record, or
 * one carrying data is a protocol error. */
static int read_confirm(vmsec_engine *e, uint8_t type, size_t data_len)
{
    int side = atomic_load(&e->state) == VMSEC_STATE_HANDSHAKE ? 2 : 1;
    if (!e->confirm_due)
        return vmsec__engine_fail(e, side, VMSEC_EPROTO, "key confirmation record where none may follow");
    if (type != REC_CONFIRM)
        return vmsec__engine_fail(e, side, VMSEC_EPROTO,
                                  "first transport record has type 0x%02x, not the key confirmation", type);
    if (data_len)
        return vmsec__engine_fail(e, side, VMSEC_EPROTO, "key confirmation record carries %zu bytes of data",
                                  data_len);
    return vmsec__engine_confirmed(e);
}

/* The length of the packed entry at data + off (bounds checked by the caller). */
static size_t entry_len(const uint8_t *data, size_t off)
{
    return (size_t)data[off] << 8 | data[off + 1];
}

/* A packed record (version 2) decrypted at msg + 1: every entry is checked before the first is
 * handed out, so nothing of a malformed record reaches the application. */
static int read_packed(vmsec_engine *e, size_t data_len)
{
    const uint8_t *data = e->msg + 1;
    size_t off = 0, n;
    if (e->msg_len != 0)
        return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "packed record inside a fragmented message");
    if (data_len == 0)
        return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "empty packed record");
    while (off < data_len) {
        if (data_len - off < 2)
            return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "packed record: %zu stray bytes after its last entry",
                                      data_len - off);
        n = entry_len(data, off);
        if (n > data_len - off - 2)
            return vmsec__engine_fail(e, 1, VMSEC_EPROTO,
                                      "packed record: entry of %zu bytes at offset %zu runs past its end (%zu bytes)",
                                      n, off, data_len);
        if (n > e->cfg.max_message)
            return vmsec__engine_fail(e, 1, VMSEC_EPEERTOOBIG,
                                      "packed record: peer's message of %zu bytes exceeds the maximum of %zu bytes", n,
                                      e->cfg.max_message);
        off += 2 + n;
    }
    e->pack_next = 0;
    e->pack_end = data_len;
    return 1;
}

/* Hands out the next entry of the packed record being read; 0 when none is left. */
static int next_entry(vmsec_engine *e)
{
    if (e->pack_next >= e->pack_end) {
        e->msg_off = e->pack_next = e->pack_end = 0;
        return 0;
    }
    e->msg_len = entry_len(e->msg + 1, e->pack_next);
    e->msg_off = e->pack_next + 2;
    e->pack_next = e->msg_off + e->msg_len;
    e->msg_ready = true;
    return 1;
}

/* Version 2 keep-alive and rekey records: empty, allowed anywhere after the handshake, also between
 * the records of one message (the message being assembled is untouched). */
static int read_control(vmsec_engine *e, uint8_t type, size_t data_len)
{
    int rc;
    if (data_len != 0)
        return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "%s record carries data",
                                  type == REC_REKEY ? "rekey" : "keep-alive");
    if (type == REC_REKEY && (rc = noise_cipher_rekey(&e->cs[1])) < 0)
        return vmsec__engine_fail(e, 1, rc, "rekey of the receiving key failed");
    return 0;
}

static int read_record(vmsec_engine *e, const uint8_t *frame, size_t len)
{
    size_t data_len = len - REC_MIN;
    uint8_t *dst, saved, type;
    int rc;
    if (e->peer_closed)
        return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "transport message after close_notify");
    /* In version 2 a record that starts a message may be a packed one, whose entries are checked
     * one by one once it is decrypted; msg_reserve gives at least one record's worth of room. */
    if (e->msg_len + data_len > e->cfg.max_message && (e->cfg.version < 2 || e->msg_len != 0))
        return vmsec__engine_fail(e, 1, VMSEC_EPEERTOOBIG, "peer's message exceeds the maximum of %zu bytes",
                                  e->cfg.max_message);
    if ((rc = vmsec__engine_msg_reserve(e, e->msg_len + data_len)) < 0)
        return rc;
    /* decrypt in place at the end of the message: the type byte lands on one byte of slack (or of
     * data already received), which is saved and restored */
    dst = e->msg + e->msg_len;
    saved = *dst;
    rc = noise_cipher_decrypt(&e->cs[1], NULL, 0, frame, len, dst);
    if (rc < 0)
        return vmsec__engine_fail(
            e, 1, rc == VMSEC_EAUTH ? VMSEC_EAUTH : rc,
            "transport message %llu failed authentication (tampered, replayed, reordered or truncated)",
            (unsigned long long)e->cs[1].n);
    type = *dst;
    *dst = saved;
    /* any authentic record proves the peer alive (relaxed: only a flag for the next tick) */
    atomic_store_explicit(&e->recv_activity, true, memory_order_relaxed);
    if (e->cfg.rekey_interval && ++e->recvd_since_rekey == e->cfg.rekey_interval) {
        e->recvd_since_rekey = 0;
        if ((rc = noise_cipher_rekey(&e->cs[1])) < 0)
            return vmsec__engine_fail(e, 1, rc, "rekey of the receiving key failed");
    }
    if (e->cfg.version >= 2 && (e->confirm_due || type == REC_CONFIRM))
        return read_confirm(e, type, data_len);
    if (type != REC_PACKED && e->msg_len + data_len > e->cfg.max_message)
        return vmsec__engine_fail(e, 1, VMSEC_EPEERTOOBIG, "peer's message exceeds the maximum of %zu bytes",
                                  e->cfg.max_message);
    switch (type) {
    case REC_MORE:
        if (data_len == 0)
            return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "empty continuation record");
        e->msg_len += data_len;
        return 0;
    case REC_LAST:
        e->msg_len += data_len;
        e->msg_ready = true;
        return 0;
    case REC_CLOSE:
        if (data_len != 0 || e->msg_len != 0)
            return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "close_notify %s",
                                      data_len ? "carries data" : "inside a message");
        e->peer_closed = true;
        atomic_store(&e->state, VMSEC_STATE_CLOSED);
        return 0;
    case REC_PACKED:
        if (e->cfg.version < 2)
            break;
        if ((rc = read_packed(e, data_len)) < 0)
            return rc;
        next_entry(e);
        return 0;
    case REC_KEEPALIVE:
    case REC_REKEY:
        if (e->cfg.version >= 2)
            return read_control(e, type, data_len);
        break;
    default:
        break;
    }
    return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "unknown record type 0x%02x", type);
}

/* Processes every complete frame in the input, stopping at a complete message not yet taken. */
static int process_input(vmsec_engine *e)
{
    int rc = 0;
    for (;;) {
        int st = atomic_load(&e->state);
        size_t avail = e->in_end - e->in_start, flen;
        const uint8_t *p;
        if (st == VMSEC_STATE_FAILED)
            return vmsec__error(e->fail_code, "%s", e->fail_msg);
        if (!e->in)
            break; /* released at the end of the handshake: nothing buffered */
        p = e->in + e->in_start; /* not before the check: arithmetic on NULL is undefined */
        if (st == VMSEC_STATE_HANDSHAKE && e->role == VMSEC_ROLE_RESPONDER && !e->announced) {
            if ((rc = vmsec__engine_read_announcement(e)) != 0)
                break;
            continue;
        }
        /* close_notify is the last thing on the stream: whatever follows it, a whole frame or one
         * byte, in this read or a later one, is a protocol error at once */
        if (e->peer_closed && avail)
            return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "%zu stray bytes after close_notify", avail);
        if (e->msg_ready || avail < FRAME_HDR)
            break;
        flen = (size_t)p[0] << 8 | p[1];
        /* records follow the handshake messages (version 2: while awaiting the confirm record too) */
        if (!e->hs && flen < REC_MIN)
            return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "transport message of %zu bytes is shorter than %d", flen,
                                      REC_MIN);
        if (avail < FRAME_HDR + flen) {
            if (FRAME_HDR + flen > e->in_cap)
                return in_grow(e);
            if (e->in_start + FRAME_HDR + flen > e->in_cap) {
                memmove(e->in, p, avail);
                e->in_start = 0;
                e->in_end = avail;
            }
            break;
        }
        e->in_start += FRAME_HDR + flen;
        rc = e->hs ? vmsec__engine_read_handshake(e, p + FRAME_HDR, flen) : read_record(e, p + FRAME_HDR, flen);
        if (rc < 0)
            return rc;
    }
    if (e->in_start == e->in_end) {
        e->in_start = e->in_end = 0;
    } else if (e->in_start > 0 && e->in_end == e->in_cap) {
        memmove(e->in, e->in + e->in_start, e->in_end - e->in_start);
        e->in_end -= e->in_start;
        e->in_start = 0;
    }
    return rc < 0 ? rc : 0;
}

int vmsec_engine_input_space(vmsec_engine *e, uint8_t **buf, size_t *cap)
{
    int rc;
    if (!e || !buf || !cap)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_input_space: NULL argument");
    if ((rc = vmsec__engine_failed_guard(e, 1)) < 0 || (rc = in_alloc(e)) < 0)
        return rc;
    /* records flow: offer reads of the full size, not the handshake-sized buffer's */
    if (e->in_cap < IN_CAP && atomic_load(&e->state) != VMSEC_STATE_HANDSHAKE && (rc = in_grow(e)) < 0)
        return rc;
    *buf = e->in + e->in_end;
    *cap = e->in_cap - e->in_end;
    return 0;
}

int vmsec_engine_input_commit(vmsec_engine *e, size_t len)
{
    int rc;
    if (!e)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_input_commit: engine is NULL");
    if ((rc = vmsec__engine_failed_guard(e, 1)) < 0)
        return rc;
    if (len > e->in_cap - e->in_end || (!e->in && len))
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_input_commit: %zu bytes exceed the input space", len);
    if (!e->in)
        return 0;
    e->in_end += len;
    if (e->in_end > e->in_hwm)
        e->in_hwm = e->in_end;
    return process_input(e);
}

int vmsec_engine_feed(vmsec_engine *e, const uint8_t *data, size_t len, size_t *consumed)
{
    size_t done = 0, n;
    int rc = 0;
    if (!e || (!data && len) || !consumed)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_feed: NULL argument");
    *consumed = 0;
    if ((rc = vmsec__engine_failed_guard(e, 1)) < 0 || (len && (rc = in_alloc(e)) < 0))
        return rc;
    while (done < len) {
        if (!e->in && (rc = in_alloc(e)) < 0) /* released after the key confirmation record */
            break;
        n = e->in_cap - e->in_end;
        if (n == 0)
            break;
        if (n > len - done)
            n = len - done;
        memcpy(e->in + e->in_end, data + done, n);
        e->in_end += n;
        if (e->in_end > e->in_hwm)
            e->in_hwm = e->in_end;
        done += n;
        if ((rc = process_input(e)) < 0)
            break;
    }
    *consumed = done;
    return rc;
}

static int eof_verdict(vmsec_engine *e);

int vmsec_engine_input_eof(vmsec_engine *e)
{
    int rc;
    if (!e)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_input_eof: engine is NULL");
    if ((rc = vmsec__engine_failed_guard(e, 1)) < 0)
        return rc;
    e->input_eof = true;
    /* Authentic messages buffered before the end are delivered first: records after a message the
     * caller has not taken yet (possibly the close_notify) are only read once it is taken. */
    if (e->msg_ready)
        return 0;
    return eof_verdict(e);
}

/* The end of the stream once every buffered record was read: clean after close_notify, else a
 * truncation. */
static int eof_verdict(vmsec_engine *e)
{
    if (e->peer_closed) {
        if (e->in_end != e->in_start)
            return vmsec__engine_fail(e, 1, VMSEC_EPROTO, "%zu stray bytes after close_notify",
                                      e->in_end - e->in_start);
        return 0;
    }
    if (atomic_load(&e->state) == VMSEC_STATE_HANDSHAKE)
        return vmsec__engine_fail(e, 2, VMSEC_ETRUNCATED, "peer closed the connection during the handshake");
    /* Open without the peer's key confirmation yet: a peer that refuses our key closes here
     * (version 2), and "truncation attack" would send the user looking for an attacker. */
    if (e->confirm_due && e->in_end == e->in_start)
        return vmsec__engine_fail(e, 1, VMSEC_ETRUNCATED,
                                  "stream ended without close_notify before the peer confirmed the handshake: "
                                  "the peer refused our key (or closed during the handshake)");
    return vmsec__engine_fail(e, 1, VMSEC_ETRUNCATED, "stream ended without close_notify (%s)",
                              e->msg_len || e->in_end != e->in_start ? "in the middle of a message"
                                                                     : "possible truncation attack");
}

int vmsec__engine_recv_ready(vmsec_engine *e, size_t *len)
{
    int rc;
    *len = 0;
    if (atomic_load(&e->state) == VMSEC_STATE_FAILED && (rc = vmsec__engine_failed_guard(e, 1)) < 0)
        return rc;
    if (!e->msg_ready) {
        if (e->peer_closed)
            return vmsec__error(VMSEC_ECLOSED, "channel %s: peer closed the channel", vmsec__engine_role_name(e));
        return VMSEC_EAGAIN;
    }
    *len = e->msg_len;
    return 0;
}

int vmsec_engine_recv(vmsec_engine *e, uint8_t *buf, size_t cap, size_t *len)
{
    int rc;
    if (!e || !len || (!buf && cap))
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_recv: NULL argument");
    if ((rc = vmsec__engine_recv_ready(e, len)) < 0)
        return rc;
    if (cap < e->msg_len)
        return vmsec__error(VMSEC_ETOOBIG, "message of %zu bytes does not fit a %zu-byte buffer", e->msg_len, cap);
    if (e->msg_len)
        memcpy(buf, e->msg + 1 + e->msg_off, e->msg_len);
    vmsec__engine_msg_take(e);
    return 0;
}

const uint8_t *vmsec__engine_msg_view(const vmsec_engine *e, size_t *len)
{
    *len = e->msg_ready ? e->msg_len : 0;
    return e->msg_ready ? e->msg + 1 + e->msg_off : NULL;
}

void vmsec__engine_msg_take(vmsec_engine *e)
{
    e->msg_len = 0;
    e->msg_ready = false;
    if (next_entry(e))
        return; /* the rest of a packed record: no new input is read before it is taken */
    if (process_input(e) < 0 || (e->input_eof && !e->msg_ready && eof_verdict(e) < 0))
        atomic_store(&e->fail_reported, false); /* this message was authentic; the next call reports the failure */
}
