/* SPDX-License-Identifier: ISC */
/* The session frames of doc/SESSIONS.md: parsing, writing, and the secret and proofs a resume
 * carries. Pure functions: the fuzz target and the unit tests drive them directly. */
#include "config.h"

#include <endian.h>
#include <sodium.h>
#include <string.h>

#include "channel/session_internal.h"
#include "common/internal.h"

/* Big-endian, as one load or store and a byte swap: every DATA frame carries two of them. */
void vmsec__put_u64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

uint64_t vmsec__get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

/* Exact size of each control frame, and the least size of DATA; 0 = unknown type. */
static size_t frame_size(uint8_t type)
{
    switch (type) {
    case SF_HELLO_NEW: return 2 + VMSEC_SESSION_ID_BYTES;
    case SF_HELLO_RESUME: return 2 + VMSEC_SESSION_ID_BYTES + 8 + SF_PROOF_LEN;
    case SF_WELCOME: return 1 + VMSEC_SESSION_ID_BYTES + 8 + SF_PROOF_LEN;
    case SF_UNKNOWN: return 1 + VMSEC_SESSION_ID_BYTES;
    case SF_DATA: case SF_CLOSE: return SF_HDR;
    case SF_ACK: return 9;
    default: return 0;
    }
}

int vmsec__sframe_parse(const uint8_t *buf, size_t len, struct vmsec__sframe *f)
{
    size_t need;
    const uint8_t *p;
    memset(f, 0, sizeof(*f));
    if (!buf || len == 0)
        return vmsec__error(VMSEC_EPROTO, "session frame: empty");
    f->type = buf[0];
    if (!(need = frame_size(f->type)))
        return vmsec__error(VMSEC_EPROTO, "session frame: unknown type 0x%02x", f->type);
    if (len < need || (f->type != SF_DATA && len != need))
        return vmsec__error(VMSEC_EPROTO, "session frame type 0x%02x: %zu bytes, expected %s%zu", f->type, len,
                            f->type == SF_DATA ? "at least " : "", need);
    p = buf + 1;
    if (f->type == SF_HELLO_NEW || f->type == SF_HELLO_RESUME) {
        if (*p != SF_VERSION)
            return vmsec__error(VMSEC_EPROTO, "session frame: version %u, this side speaks %u", *p, SF_VERSION);
        p++;
    }
    switch (f->type) {
    case SF_HELLO_RESUME:
    case SF_WELCOME:
        memcpy(f->id, p, VMSEC_SESSION_ID_BYTES);
        f->ack = vmsec__get_u64(p + VMSEC_SESSION_ID_BYTES);
        memcpy(f->proof, p + VMSEC_SESSION_ID_BYTES + 8, SF_PROOF_LEN);
        break;
    case SF_HELLO_NEW:
    case SF_UNKNOWN:
        memcpy(f->id, p, VMSEC_SESSION_ID_BYTES);
        break;
    case SF_DATA:
    case SF_CLOSE:
        f->seq = vmsec__get_u64(p);
        f->ack = vmsec__get_u64(p + 8);
        if (f->seq == 0)
            return vmsec__error(VMSEC_EPROTO, "session frame type 0x%02x: sequence number 0", f->type);
        f->data = buf + SF_HDR;
        f->len = len - SF_HDR;
        break;
    case SF_ACK:
        f->ack = vmsec__get_u64(p);
        break;
    }
    return 0;
}

size_t vmsec__sframe_write(uint8_t *out, const struct vmsec__sframe *f)
{
    uint8_t *p = out;
    *p++ = f->type;
    if (f->type == SF_HELLO_NEW || f->type == SF_HELLO_RESUME)
        *p++ = SF_VERSION;
    switch (f->type) {
    case SF_HELLO_RESUME:
    case SF_WELCOME:
        memcpy(p, f->id, VMSEC_SESSION_ID_BYTES);
        vmsec__put_u64(p + VMSEC_SESSION_ID_BYTES, f->ack);
        memcpy(p + VMSEC_SESSION_ID_BYTES + 8, f->proof, SF_PROOF_LEN);
        p += VMSEC_SESSION_ID_BYTES + 8 + SF_PROOF_LEN;
        break;
    case SF_HELLO_NEW:
    case SF_UNKNOWN:
        memcpy(p, f->id, VMSEC_SESSION_ID_BYTES);
        p += VMSEC_SESSION_ID_BYTES;
        break;
    case SF_DATA:
    case SF_CLOSE:
        vmsec__put_u64(p, f->seq);
        vmsec__put_u64(p + 8, f->ack);
        p += 16;
        break;
    case SF_ACK:
        vmsec__put_u64(p, f->ack);
        p += 8;
        break;
    }
    return (size_t)(p - out);
}

void vmsec__session_derive(uint8_t secret[SF_SECRET_LEN], const uint8_t *exporter,
                           const uint8_t id[VMSEC_SESSION_ID_BYTES])
{
    static const char label[] = "vmsec session secret v1";
    crypto_generichash_state st;
    crypto_generichash_init(&st, exporter, NOISE_EXPORT_LEN, SF_SECRET_LEN);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
    crypto_generichash_update(&st, id, VMSEC_SESSION_ID_BYTES);
    crypto_generichash_final(&st, secret, SF_SECRET_LEN);
    sodium_memzero(&st, sizeof(st));
}

void vmsec__session_proof(uint8_t proof[SF_PROOF_LEN], const uint8_t secret[SF_SECRET_LEN],
                          const uint8_t id[VMSEC_SESSION_ID_BYTES], vmsec_role role, const uint8_t *hhash,
                          size_t hlen)
{
    static const char label[] = "vmsec session resume v1";
    uint8_t r = role == VMSEC_ROLE_INITIATOR ? 'I' : 'R';
    crypto_generichash_state st;
    crypto_generichash_init(&st, secret, SF_SECRET_LEN, SF_PROOF_LEN);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
    crypto_generichash_update(&st, &r, 1);
    crypto_generichash_update(&st, id, VMSEC_SESSION_ID_BYTES);
    crypto_generichash_update(&st, hhash, hlen);
    crypto_generichash_final(&st, proof, SF_PROOF_LEN);
    sodium_memzero(&st, sizeof(st));
}
