/* SPDX-License-Identifier: ISC */
/* The channel engine's handshake phase: the protocol announcement, the framed Noise handshake
 * messages, the trust decision on the peer's static key, and Split into the transport keys. */
#include "config.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "channel/engine_internal.h"
#include "channel/guarded.h"
#include "channel/keys_internal.h"
#include "channel/noise_crypto.h" /* NOISE_AEAD_EVP: which AEAD backend the cipherstates run on */
#include "channel/noise_pattern.h"

#define ANNOUNCE_MAGIC "VMSC"
#define ANNOUNCE_HDR 6 /* magic(4) version(1) name_len(1) */
/* Room for one handshake message: they carry no payload in version 1 (the largest, e + encrypted
 * s + tag, is 96 bytes). */
#define HS_MSG_MAX 512

/* Patterns name the initiator's static key first and the responder's second:
 * N = none, K = known in advance, X = transmitted, I = transmitted immediately; a '1' after a
 * letter marks a deferred pattern (X1K1...) and does not change whose key it is. */
static char init_token(const vmsec_engine *e) { return e->cfg.proto.pattern[0]; }
static char resp_token(const vmsec_engine *e)
{
    const char *p = e->cfg.proto.pattern + 1;
    return *p == '1' ? p[1] : p[0];
}
static char my_token(const vmsec_engine *e) { return e->role == VMSEC_ROLE_INITIATOR ? init_token(e) : resp_token(e); }
static char peer_token(const vmsec_engine *e) { return e->role == VMSEC_ROLE_INITIATOR ? resp_token(e) : init_token(e); }

static bool key_trusted(const vmsec_engine *e, const uint8_t *key)
{
    bool ok = false;
    if (e->cfg.has_peer_key && sodium_memcmp(e->cfg.peer_key, key, VMSEC_KEY_BYTES) == 0)
        ok = true;
    for (size_t i = 0; i < e->cfg.ntrusted; i++)
        if (sodium_memcmp(e->cfg.trusted[i], key, VMSEC_KEY_BYTES) == 0)
            ok = true;
    return ok;
}

/* The final trust decision: the trust list, else the verify callback, else any-peer. Version 2
 * makes it only once the peer proved its key and liveness in this session (proof_msg or the confirm
 * record); version 1 makes it as soon as the key is revealed. */
static int decide_peer(vmsec_engine *e)
{
    char fp[VMSEC_FINGERPRINT_MAX];
    if (e->peer_proved)
        return 0;
    e->peer_proved = true;
    if (!e->peer_checked)
        return 0; /* no static key (yet): finish_handshake requires any-peer */
    if (!e->peer_listed && !(e->cfg.verify && e->cfg.verify(e->cfg.verify_user, e->peer_key, VMSEC_KEY_BYTES) == 0) &&
        !e->cfg.allow_any) {
        vmsec_pubkey_fingerprint(e->peer_key, fp, sizeof(fp));
        return vmsec__engine_fail(e, 2, VMSEC_EAUTH, "peer static key %s is not trusted%s", fp,
                                  e->cfg.verify ? " (refused by the verify callback)" : "");
    }
    e->has_peer_key = true;
    return 0;
}

/* Made as soon as the handshake reveals the peer's static key: a key that nothing could accept is
 * refused at once, so a stranger gets no further handshake message. */
static int check_peer(vmsec_engine *e)
{
    const uint8_t *rs;
    const char *why;
    if (e->peer_checked || !(rs = noise_handshake_remote_static(e->hs)))
        return 0;
    /* Before the trust list or the verify callback see it: a second encoding of a key would pass
     * a deny-list written for the canonical one (see vmsec__pubkey_noncanonical). */
    if ((why = vmsec__pubkey_noncanonical(rs)))
        return vmsec__engine_fail(e, 2, VMSEC_EAUTH, "peer's static key is not canonical: %s", why);
    memcpy(e->peer_key, rs, VMSEC_KEY_BYTES);
    e->peer_listed = key_trusted(e, rs);
    e->peer_checked = true;
    if (e->cfg.version < 2)
        return decide_peer(e);
    if (!e->peer_listed && !e->cfg.verify && !e->cfg.allow_any)
        return decide_peer(e); /* refuses, with the same message as the final decision */
    return 0;
}

/* After Split the static secret, PSK, trust list and prologue are never used again: wipe and free
 * them, and the I/O buffers the handshake used (empty ones; the input may already hold records). */
static void release_handshake_material(vmsec_engine *e)
{
    sodium_memzero(e->sec->secret, sizeof(e->sec->secret));
    sodium_memzero(e->sec->psk, sizeof(e->sec->psk));
    e->cfg.secret = e->cfg.psk = NULL;
    free(e->cfg.trusted);
    e->cfg.trusted = NULL;
    e->cfg.ntrusted = 0;
    free(e->cfg.prologue);
    e->cfg.prologue = NULL;
    e->cfg.prologue_len = 0;
    if (e->msg_len == 0)
        vmsec__engine_free_msg(e);
    if (e->in && e->in_start == e->in_end)
        vmsec__engine_free_in(e);
    if (e->out_start == e->out_end)
        vmsec__engine_free_out(e);
    else
        e->out_release = true; /* the last handshake message is still to be written */
}

/* After Split, version 2: the side that read the last handshake message holds proof of the peer
 * (noise_pattern_proof_msg, checked for every pattern by the tests) and sends the confirm record
 * before anything else; the side that wrote it requires that record first and, without proof so
 * far, stays in the handshake state until it authenticates. */
static int open_or_await_confirm(vmsec_engine *e, bool wrote_last)
{
    int rc;
    if (!wrote_last) {
        if (!e->peer_proved)
            return vmsec__engine_fail(e, 2, VMSEC_EINTERNAL, "pattern %s: no proof of the peer at the end",
                                      e->cfg.proto.pattern);
        if ((rc = vmsec__engine_send_confirm(e)) < 0)
            return rc;
        e->confirm_sent = true;
        e->out_release = true; /* an idle channel keeps no output buffer */
    } else {
        e->confirm_due = true;
        if (!e->peer_proved)
            return 0;
    }
    atomic_store(&e->state, VMSEC_STATE_OPEN);
    return 0;
}

int vmsec__engine_confirmed(vmsec_engine *e)
{
    int rc;
    e->confirm_due = false;
    /* an idle channel keeps no buffers: the ones that took the (empty) record go (the frame was
     * consumed and decrypted; data after it keeps them) */
    if (e->in && e->in_start == e->in_end)
        vmsec__engine_free_in(e);
    if (e->msg_len == 0 && !e->msg_ready)
        vmsec__engine_free_msg(e);
    if (atomic_load(&e->state) != VMSEC_STATE_HANDSHAKE)
        return 0; /* it had proof from a handshake message and is open already */
    if ((rc = decide_peer(e)) < 0)
        return rc;
    if (e->out_release && e->out_start == e->out_end)
        vmsec__engine_free_out(e);
    atomic_store(&e->state, VMSEC_STATE_OPEN);
    return 0;
}

static int finish_handshake(vmsec_engine *e, bool wrote_last)
{
    uint8_t exported[NOISE_EXPORT_LEN];
    int rc;
    if (!e->peer_checked && !e->cfg.allow_any)
        return vmsec__engine_fail(e, 2, VMSEC_EAUTH,
                                  "pattern %s gives the peer no static key and any-peer was not allowed",
                                  e->cfg.proto.pattern);
    e->hhash_len = noise_handshake_hash(e->hs, e->hhash, sizeof(e->hhash));
    if (e->cfg.export_secret && (rc = noise_handshake_export(e->hs, exported)) < 0)
        return vmsec__engine_fail(e, 2, rc, "Noise export failed");
    if ((rc = noise_handshake_split(e->hs, &e->cs[0], &e->cs[1])) < 0)
        return vmsec__engine_fail(e, 2, rc, "Noise Split() failed");
#ifndef NOISE_AEAD_EVP
    /* AES-GCM: the key schedule and GHASH key once per key (and rekey), not per record; without
     * the memory for it every record derives them, as before. (The libcrypto backend keeps its
     * own keyed context per cipherstate instead.) */
    if (e->cfg.proto.cipher == NOISE_CIPHER_AESGCM && (e->gcm = vmsec__guarded_alloc(2 * sizeof(*e->gcm)))) {
        noise_cipher_precompute(&e->cs[0], &e->gcm[0]);
        noise_cipher_precompute(&e->cs[1], &e->gcm[1]);
    }
#endif
    noise_handshake_free(e->hs);
    e->hs = NULL;
    release_handshake_material(e);
    if (e->cfg.export_secret) {
        /* the static secret's slot is free from Split on: the exporter costs no memory */
        memcpy(e->sec->secret, exported, NOISE_EXPORT_LEN);
        sodium_memzero(exported, sizeof(exported));
    }
    if (e->cfg.version >= 2)
        return open_or_await_confirm(e, wrote_last);
    atomic_store(&e->state, VMSEC_STATE_OPEN); /* version 1: before the peer proved anything */
    return 0;
}

/* Writes every handshake message that is ours to write, framed. */
static int write_handshake(vmsec_engine *e)
{
    size_t len;
    int rc;
    while (e->hs && !noise_handshake_complete(e->hs) && noise_handshake_my_turn(e->hs)) {
        if ((rc = vmsec__engine_out_reserve(e, FRAME_HDR + HS_MSG_MAX)) < 0)
            return vmsec__engine_fail(e, 2, rc, "out of memory for a handshake message");
        rc = noise_handshake_write(e->hs, NULL, 0, e->out + e->out_end + FRAME_HDR, HS_MSG_MAX, &len);
        if (rc < 0)
            return vmsec__engine_fail(e, 2, rc, "writing a handshake message failed: %s", vmsec_error_last());
        vmsec__engine_put_frame_len(e->out + e->out_end, len);
        e->out_end += FRAME_HDR + len;
        e->hs_msgs++;
        if (noise_handshake_complete(e->hs))
            return finish_handshake(e, true);
    }
    return 0;
}

static int start_handshake(vmsec_engine *e, const uint8_t *announce, size_t alen)
{
    const struct vmsec_channel_config *c = &e->cfg;
    const uint8_t *s = NULL, *rs = NULL, *psk = NULL;
    uint8_t *prologue;
    int rc;
    char mine = my_token(e), peer = peer_token(e);
    if (mine != 'N') {
        if (!c->secret)
            return vmsec__error(VMSEC_EINVAL, "pattern %s needs a local static key for the %s; set a keypair",
                                c->proto.pattern, vmsec__engine_role_name(e));
        s = c->secret;
    }
    if (peer == 'K') {
        if (c->has_peer_key)
            rs = c->peer_key;
        else if (c->ntrusted == 1)
            rs = c->trusted[0];
        else
            return vmsec__error(VMSEC_EINVAL,
                                "pattern %s needs the peer's static key in advance for the %s: set the peer key "
                                "or trust exactly one peer (%zu trusted)",
                                c->proto.pattern, vmsec__engine_role_name(e), c->ntrusted);
    }
    if (c->proto.psk_mask) {
        if (!c->psk)
            return vmsec__error(VMSEC_EINVAL, "pattern %s needs a PSK; set one", c->proto.pattern);
        psk = c->psk;
    }
    /* prologue = announcement || application prologue: a changed announcement breaks the handshake */
    if (!(prologue = malloc(alen + c->prologue_len)))
        return vmsec__error(VMSEC_ENOMEM, "out of memory for the handshake prologue");
    memcpy(prologue, announce, alen);
    if (c->prologue_len)
        memcpy(prologue + alen, c->prologue, c->prologue_len);
    rc = noise_handshake_new_pub(&e->hs, &c->proto, e->role == VMSEC_ROLE_INITIATOR, prologue,
                                 alen + c->prologue_len, s, s ? c->pub : NULL, rs, psk);
    free(prologue);
    if (rc == 0)
        noise_handshake_set_ss_cache(e->hs, c->ss_cache); /* e->cfg holds a reference */
    return rc;
}

static size_t build_announcement(const vmsec_engine *e, uint8_t *buf)
{
    size_t n = strlen(e->cfg.proto.name);
    memcpy(buf, ANNOUNCE_MAGIC, 4);
    buf[4] = (uint8_t)e->cfg.version;
    buf[5] = (uint8_t)n;
    memcpy(buf + ANNOUNCE_HDR, e->cfg.proto.name, n);
    return ANNOUNCE_HDR + n;
}

/* The responder checks its own requirements now rather than when the peer connects. */
static int check_responder(const vmsec_engine *e)
{
    char peer = peer_token(e);
    if (my_token(e) != 'N' && !e->cfg.secret)
        return vmsec__error(VMSEC_EINVAL, "pattern %s needs a local static key for the responder; set a keypair",
                            e->cfg.proto.pattern);
    if (peer == 'K' && !e->cfg.has_peer_key && e->cfg.ntrusted != 1)
        return vmsec__error(VMSEC_EINVAL,
                            "pattern %s needs the initiator's static key in advance: set the peer key or trust "
                            "exactly one peer",
                            e->cfg.proto.pattern);
    if (e->cfg.proto.psk_mask && !e->cfg.psk)
        return vmsec__error(VMSEC_EINVAL, "pattern %s needs a PSK; set one", e->cfg.proto.pattern);
    return 0;
}

int vmsec__engine_handshake_begin(vmsec_engine *e)
{
    uint8_t announce[ANNOUNCE_HDR + NOISE_MAX_NAME];
    noise_pattern pat;
    size_t alen;
    int rc;
    if ((rc = noise_pattern_compile(&pat, &e->cfg.proto)) < 0)
        return rc;
    e->proof_msg = noise_pattern_proof_msg(&pat, e->role == VMSEC_ROLE_INITIATOR);
    if (e->role != VMSEC_ROLE_INITIATOR)
        return check_responder(e);
    alen = build_announcement(e, announce);
    rc = start_handshake(e, announce, alen);
    if (rc == 0 && (rc = vmsec__engine_out_reserve(e, alen)) == 0) {
        memcpy(e->out, announce, alen);
        e->out_end = alen;
        rc = write_handshake(e);
    }
    return rc;
}

int vmsec__engine_read_announcement(vmsec_engine *e)
{
    const uint8_t *p = e->in + e->in_start;
    size_t avail = e->in_end - e->in_start, n;
    char got[256];
    int rc;
    if (avail < ANNOUNCE_HDR)
        return memcmp(p, ANNOUNCE_MAGIC, avail < 4 ? avail : 4)
                   ? vmsec__engine_fail(e, 2, VMSEC_EPROTO, "peer is not a vmsec channel (bad magic)")
                   : 1;
    if (memcmp(p, ANNOUNCE_MAGIC, 4) != 0)
        return vmsec__engine_fail(e, 2, VMSEC_EPROTO, "peer is not a vmsec channel (bad magic)");
    /* exactly the configured version: a version 2 side never falls back to version 1 */
    if (p[4] != e->cfg.version)
        return vmsec__engine_fail(e, 2, VMSEC_EPROTO,
                                  "peer speaks channel protocol version %u, this side speaks %u%s", p[4],
                                  e->cfg.version,
                                  p[4] == 1 ? " (version 1 needs an explicit opt-in on both sides)" : "");
    n = p[5];
    if (n == 0 || n >= NOISE_MAX_NAME)
        return vmsec__engine_fail(e, 2, VMSEC_EPROTO, "announced protocol name length %zu is invalid", n);
    if (avail < ANNOUNCE_HDR + n)
        return 1;
    for (size_t i = 0; i < n; i++)
        got[i] = (p[ANNOUNCE_HDR + i] >= 0x21 && p[ANNOUNCE_HDR + i] < 0x7f) ? (char)p[ANNOUNCE_HDR + i] : '?';
    got[n] = '\0';
    if (n != strlen(e->cfg.proto.name) || memcmp(p + ANNOUNCE_HDR, e->cfg.proto.name, n) != 0)
        return vmsec__engine_fail(e, 2, VMSEC_EPROTO, "peer announced %s but this side accepts only %s", got,
                                  e->cfg.proto.name);
    if ((rc = start_handshake(e, p, ANNOUNCE_HDR + n)) < 0)
        return vmsec__engine_fail(e, 2, rc, "cannot start the handshake: %s", vmsec_error_last());
    e->in_start += ANNOUNCE_HDR + n;
    e->announced = true;
    return 0;
}

int vmsec__engine_read_handshake(vmsec_engine *e, const uint8_t *frame, size_t len)
{
    size_t plen;
    int rc;
    if ((rc = vmsec__engine_msg_reserve(e, len)) < 0) /* a payload is never longer than its message */
        return rc;
    rc = noise_handshake_read(e->hs, frame, len, e->msg + 1, e->msg_cap, &plen);
    if (rc < 0)
        return vmsec__engine_fail(e, 2, rc, "handshake message rejected (%s): wrong key, PSK, prologue or tampering",
                                  vmsec_error_last());
    if (plen != 0)
        return vmsec__engine_fail(e, 2, VMSEC_EPROTO, "handshake payload of %zu bytes where version %u requires none",
                                  plen, e->cfg.version);
    if ((rc = check_peer(e)) < 0)
        return rc;
    /* version 2: the verify callback runs exactly when the peer has proved its key, never earlier */
    if (e->cfg.version >= 2 && e->proof_msg >= 0 && e->hs_msgs >= e->proof_msg && (rc = decide_peer(e)) < 0)
        return rc;
    e->hs_msgs++;
    if (noise_handshake_complete(e->hs))
        return finish_handshake(e, false);
    return write_handshake(e);
}
