/* The channel engine's sending side: the output buffer, sealing messages into records (whole or
 * piece by piece), close_notify, and rekeying of the sending key. */
#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "channel/engine_internal.h"

#define REC_MAX_FRAME (FRAME_HDR + 1 + VMSEC_RECORD_PAYLOAD_MAX + NOISE_TAGLEN)
#define OUT_INITIAL (2 * REC_MAX_FRAME)
/* Data records may use nonces up to 2^64-3: 2^64-2 stays free for close_notify, 2^64-1 is reserved by Noise. */
#define NONCE_LAST_DATA (UINT64_MAX - 2)

int vmsec__engine_out_reserve(vmsec_engine *e, size_t need)
{
    size_t pending = e->out_end - e->out_start, cap;
    uint8_t *p;
    if (e->out_cap - e->out_end >= need)
        return 0;
    if (e->out_start > 0) {
        memmove(e->out, e->out + e->out_start, pending);
        e->out_start = 0;
        e->out_end = pending;
        if (e->out_cap - e->out_end >= need)
            return 0;
    }
    cap = e->out_cap * 2 > pending + need ? e->out_cap * 2 : pending + need;
    if (cap < OUT_INITIAL && atomic_load(&e->state) == VMSEC_STATE_OPEN)
        cap = OUT_INITIAL; /* data flows: start at two full records rather than growing in steps */
    if (!(p = realloc(e->out, cap)))
        return vmsec__error(VMSEC_ENOMEM, "out of memory for %zu bytes of channel output", cap);
    e->out = p;
    e->out_cap = cap;
    return 0;
}

void vmsec__engine_free_out(vmsec_engine *e)
{
    free(e->out);
    e->out = NULL;
    e->out_cap = e->out_start = e->out_end = 0;
    e->out_release = false;
}

int vmsec_engine_output(vmsec_engine *e, const uint8_t **buf, size_t *len)
{
    if (!e || !buf || !len)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_output: NULL argument");
    *buf = e->out ? e->out + e->out_start : (const uint8_t *)"";
    *len = e->out_end - e->out_start;
    return 0;
}

int vmsec_engine_output_consume(vmsec_engine *e, size_t len)
{
    if (!e || len > e->out_end - e->out_start)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_output_consume: %s", e ? "more than pending" : "engine is NULL");
    e->out_start += len;
    if (e->out_start == e->out_end) {
        e->out_start = e->out_end = 0;
        if (e->out_release && atomic_load(&e->state) != VMSEC_STATE_HANDSHAKE)
            vmsec__engine_free_out(e);
    }
    return 0;
}

size_t vmsec_engine_output_pending(const vmsec_engine *e)
{
    return e ? e->out_end - e->out_start : 0;
}

/* Encrypts one record (type || data) straight into the output buffer. */
static int write_record(vmsec_engine *e, uint8_t type, const uint8_t *data, size_t len)
{
    uint8_t *p = e->out + e->out_end;
    int rc;
    vmsec__engine_put_frame_len(p, 1 + len + NOISE_TAGLEN);
    p[2] = type;
    if (len)
        memcpy(p + 3, data, len);
    if ((rc = noise_cipher_encrypt(&e->cs[0], NULL, 0, p + 2, 1 + len, p + 2)) < 0)
        return vmsec__engine_fail(e, 0, rc, "encryption failed: %s", vmsec_error_last());
    e->out_end += FRAME_HDR + 1 + len + NOISE_TAGLEN;
    e->sent_activity = true;
    if (e->cfg.rekey_interval && ++e->sent_since_rekey == e->cfg.rekey_interval) {
        e->sent_since_rekey = 0;
        if ((rc = noise_cipher_rekey(&e->cs[0])) < 0)
            return vmsec__engine_fail(e, 0, rc, "rekey of the sending key failed");
    }
    return 0;
}

static int send_ready(vmsec_engine *e)
{
    int rc, st;
    if ((rc = vmsec__engine_failed_guard(e, 0)) < 0)
        return rc;
    st = atomic_load(&e->state);
    if (st == VMSEC_STATE_HANDSHAKE)
        return vmsec__error(VMSEC_ESTATE, "channel %s: handshake not complete", vmsec__engine_role_name(e));
    if (e->send_closed)
        return vmsec__error(VMSEC_ESTATE, "channel %s: already closed for sending", vmsec__engine_role_name(e));
    if (e->partial)
        return vmsec__error(VMSEC_ESTATE, "channel %s: the previous message is still being sent",
                            vmsec__engine_role_name(e));
    return 0;
}

/* The checks that admit a whole message before any of its records is sealed. */
static int send_admit(vmsec_engine *e, size_t len)
{
    size_t nrec;
    int rc;
    if ((rc = send_ready(e)) < 0)
        return rc;
    if (len > e->cfg.max_message)
        return vmsec__error(VMSEC_ETOOBIG, "message of %zu bytes exceeds the maximum of %zu", len, e->cfg.max_message);
    nrec = len ? (len + VMSEC_RECORD_PAYLOAD_MAX - 1) / VMSEC_RECORD_PAYLOAD_MAX : 1;
    if (e->cs[0].n > NONCE_LAST_DATA || NONCE_LAST_DATA - e->cs[0].n < nrec - 1)
        return vmsec__error(VMSEC_ESTATE,
                            "channel %s: nonce space exhausted after %llu messages; only close_notify "
                            "can still be sent, open a new channel",
                            vmsec__engine_role_name(e), (unsigned long long)e->cs[0].n);
    return 0;
}

/* Seals msg[off, off + len) of a message of total bytes as records; the record holding the
 * message's last byte is marked last. */
static int send_records(vmsec_engine *e, const uint8_t *msg, size_t off, size_t len, size_t total)
{
    size_t end = off + len, nrec = len ? (len + VMSEC_RECORD_PAYLOAD_MAX - 1) / VMSEC_RECORD_PAYLOAD_MAX : 1;
    int rc;
    if ((rc = vmsec__engine_out_reserve(e, len + nrec * (FRAME_HDR + 1 + NOISE_TAGLEN))) < 0)
        return rc;
    do {
        size_t n = end - off > VMSEC_RECORD_PAYLOAD_MAX ? VMSEC_RECORD_PAYLOAD_MAX : end - off;
        if ((rc = write_record(e, off + n == total ? REC_LAST : REC_MORE, msg ? msg + off : NULL, n)) < 0)
            return rc;
        off += n;
    } while (off < end);
    return 0;
}

int vmsec_engine_send(vmsec_engine *e, const uint8_t *msg, size_t len)
{
    int rc;
    if (!e || (!msg && len))
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_send: NULL argument");
    if ((rc = send_admit(e, len)) < 0)
        return rc;
    return send_records(e, msg, 0, len, len);
}

int vmsec__engine_send_begin(vmsec_engine *e, size_t len)
{
    int rc;
    if ((rc = send_admit(e, len)) < 0)
        return rc;
    e->partial = true;
    return 0;
}

int vmsec__engine_send_piece(vmsec_engine *e, const uint8_t *msg, size_t off, size_t len, size_t total)
{
    int rc;
    if ((rc = vmsec__engine_failed_guard(e, 0)) < 0)
        return rc;
    if (len % VMSEC_RECORD_PAYLOAD_MAX && off + len != total)
        return vmsec__engine_abort(e, 0, VMSEC_EINTERNAL, "message piece of %zu bytes is not whole records", len);
    if ((rc = send_records(e, msg, off, len, total)) < 0) {
        if (off == 0 && atomic_load(&e->state) != VMSEC_STATE_FAILED) {
            e->partial = false; /* out of memory before anything was sealed: refused, channel usable */
            return rc;
        }
        return vmsec__engine_abort(e, 0, rc, "message of %zu bytes cut off after %zu bytes: %s", total, off,
                                   vmsec_error_last());
    }
    if (off + len == total)
        e->partial = false;
    return 0;
}

int vmsec__engine_send_control(vmsec_engine *e, uint8_t type)
{
    int rc;
    /* like data: the nonces from NONCE_LAST_DATA on stay free for close_notify */
    if (e->cs[0].n > NONCE_LAST_DATA)
        return 0;
    if ((rc = vmsec__engine_out_reserve(e, FRAME_HDR + REC_MIN)) < 0 || (rc = write_record(e, type, NULL, 0)) < 0)
        return rc;
    /* after the counter's rekey, if this record was due for one: the receiver does the same */
    if (type == REC_REKEY && (rc = noise_cipher_rekey(&e->cs[0])) < 0)
        return vmsec__engine_fail(e, 0, rc, "rekey of the sending key failed");
    return 0;
}

int vmsec_engine_close(vmsec_engine *e)
{
    int rc;
    if (!e)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_close: engine is NULL");
    if (e->send_closed && atomic_load(&e->state) != VMSEC_STATE_FAILED)
        return 0;
    if ((rc = send_ready(e)) < 0)
        return rc;
    if ((rc = vmsec__engine_out_reserve(e, FRAME_HDR + REC_MIN)) < 0 || (rc = write_record(e, REC_CLOSE, NULL, 0)) < 0)
        return rc;
    e->send_closed = true;
    vmsec__engine_wipe_key(e, 0);
    return 0;
}
