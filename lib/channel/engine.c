/* SPDX-License-Identifier: ISC */
/* The sans-I/O channel engine (bytes in, bytes out): creation, teardown, failing closed, and what
 * the handshake established. Its phases: engine_handshake.c, engine_send.c, engine_recv.c. */
#include "config.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/engine_internal.h"
#include "channel/guarded.h"
#include "common/internal.h"

void vmsec__engine_wipe_key(vmsec_engine *e, int side)
{
    noise_cipher_wipe(&e->cs[side]);
    if (e->gcm)
        sodium_memzero(&e->gcm[side], sizeof(e->gcm[side]));
}

#define ENGINE_FAIL_MSG_MAX 256
/* never written: a pointer to it marks a failure whose message could not be allocated */
static char engine_fail_no_memory[] = "channel failed (out of memory for its message)";

const char *vmsec__engine_role_name(const vmsec_engine *e)
{
    return e->role == VMSEC_ROLE_INITIATOR ? "initiator" : "responder";
}

int vmsec__engine_fail(vmsec_engine *e, int side, int code, const char *fmt, ...)
{
    va_list ap;
    char msg[ENGINE_FAIL_MSG_MAX];
    bool first = false;
    int n;
    n = snprintf(msg, sizeof(msg), "channel %s: ", vmsec__engine_role_name(e));
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    /* the first failure (of either thread) is the one later calls repeat; fail_msg is written once,
     * before the state says FAILED, and only read after it does */
    if (atomic_compare_exchange_strong(&e->failing, &first, true)) {
        char *copy = strdup(msg);
        e->fail_msg = copy ? copy : engine_fail_no_memory;
        e->fail_code = code;
        atomic_store(&e->fail_reported, true);
        atomic_store(&e->state, VMSEC_STATE_FAILED);
    }
    if (side != 0) {
        vmsec__engine_wipe_key(e, 1);
        if (e->msg)
            sodium_memzero(e->msg, e->msg_cap + 1);
        e->msg_len = 0;
        e->msg_ready = false;
        e->msg_off = e->pack_next = e->pack_end = 0;
    }
    if (side != 1)
        vmsec__engine_wipe_key(e, 0);
    if (side == 2 && e->hs) {
        noise_handshake_free(e->hs);
        e->hs = NULL;
    }
    return vmsec__error(code, "%s", msg);
}

int vmsec__engine_failed_guard(vmsec_engine *e, int side)
{
    if (atomic_load(&e->state) != VMSEC_STATE_FAILED)
        return 0;
    vmsec__engine_wipe_key(e, side);
    if (!atomic_exchange(&e->fail_reported, true))
        return vmsec__error(e->fail_code, "%s", e->fail_msg);
    return vmsec__error(VMSEC_ESTATE, "channel failed earlier: %s", e->fail_msg);
}

/* ------------------------------------------------------------------------------------------------ */
/* Public API */

int vmsec_engine_new(vmsec_engine **out, const vmsec_channel_config *cfg, vmsec_role role)
{
    vmsec_engine *e;
    struct vmsec_channel_config pub;
    int rc;
    if (!out || !cfg || (role != VMSEC_ROLE_INITIATOR && role != VMSEC_ROLE_RESPONDER))
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_new: %s", !out ? "out is NULL" : !cfg ? "configuration is NULL"
                                                                                    : "role is invalid");
    *out = NULL;
    if ((rc = vmsec__ensure_init()) < 0)
        return rc;
    if (!(e = calloc(1, sizeof(*e))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory allocating a channel engine");
    /* the configuration is copied without its secrets, which go into the engine's guarded block */
    pub = *cfg;
    pub.secret = pub.psk = NULL;
    if ((rc = vmsec__channel_config_copy(&e->cfg, &pub)) < 0) {
        free(e);
        return rc;
    }
    sodium_memzero(&pub, sizeof(pub));
    e->role = role;
    atomic_init(&e->state, VMSEC_STATE_HANDSHAKE);
    if (!(e->sec = vmsec__guarded_alloc(sizeof(*e->sec)))) {
        vmsec_engine_free(e);
        return vmsec__error(VMSEC_ENOMEM, "out of memory allocating the channel's guarded key memory");
    }
    e->cs = e->sec->cs;
    if (cfg->secret) {
        memcpy(e->sec->secret, cfg->secret, NOISE_DHLEN);
        e->cfg.secret = e->sec->secret;
    }
    if (cfg->psk) {
        memcpy(e->sec->psk, cfg->psk, NOISE_PSKLEN);
        e->cfg.psk = e->sec->psk;
    }
    if ((rc = vmsec__engine_handshake_begin(e)) < 0) {
        vmsec_engine_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void vmsec_engine_free(vmsec_engine *e)
{
    if (!e)
        return;
    if (e->hs)
        noise_handshake_free(e->hs);
    if (e->sec) {
        vmsec__engine_wipe_key(e, 0);
        vmsec__engine_wipe_key(e, 1);
        vmsec__guarded_free(e->sec); /* wipes the whole block */
    }
    vmsec__guarded_free(e->gcm);
    e->cfg.secret = e->cfg.psk = NULL; /* they pointed into e->sec */
    vmsec__engine_free_msg(e);
    vmsec__engine_free_in(e);
    vmsec__engine_free_out(e);
    vmsec__channel_config_clear(&e->cfg);
    if (e->fail_msg != engine_fail_no_memory)
        free(e->fail_msg);
    sodium_memzero(e, sizeof(*e));
    free(e);
}

int vmsec_engine_state(const vmsec_engine *e)
{
    return e ? atomic_load(&e->state) : VMSEC_STATE_FAILED;
}

static int open_guard(const vmsec_engine *e, const char *fn)
{
    int st;
    if (!e)
        return vmsec__error(VMSEC_EINVAL, "%s: engine is NULL", fn);
    st = atomic_load(&e->state);
    if (st == VMSEC_STATE_HANDSHAKE)
        return vmsec__error(VMSEC_ESTATE, "%s: handshake not complete", fn);
    if (st == VMSEC_STATE_FAILED)
        return vmsec__error(VMSEC_ESTATE, "%s: channel failed earlier: %s", fn, e->fail_msg);
    return 0;
}

int vmsec_engine_peer_key(const vmsec_engine *e, uint8_t *key, size_t key_len)
{
    int rc;
    if ((rc = open_guard(e, "vmsec_engine_peer_key")) < 0)
        return rc;
    if (!key || key_len < VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_peer_key: key buffer must hold %d bytes", VMSEC_KEY_BYTES);
    if (!e->has_peer_key)
        return vmsec__error(VMSEC_ENOTFOUND, "pattern %s gives the peer no static key", e->cfg.proto.pattern);
    memcpy(key, e->peer_key, VMSEC_KEY_BYTES);
    return 0;
}

int vmsec_engine_handshake_hash(const vmsec_engine *e, uint8_t *out, size_t cap, size_t *len)
{
    int rc;
    if ((rc = open_guard(e, "vmsec_engine_handshake_hash")) < 0)
        return rc;
    if (!out || !len)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_handshake_hash: NULL argument");
    *len = e->hhash_len;
    if (cap < e->hhash_len)
        return vmsec__error(VMSEC_ETOOBIG, "handshake hash needs %zu bytes, buffer has %zu", e->hhash_len, cap);
    memcpy(out, e->hhash, e->hhash_len);
    return 0;
}

int vmsec__engine_export(const vmsec_engine *e, uint8_t *out, size_t len)
{
    int rc;
    if ((rc = open_guard(e, "vmsec__engine_export")) < 0)
        return rc;
    if (!out || len != NOISE_EXPORT_LEN || !e->cfg.export_secret || !e->sec)
        return vmsec__error(VMSEC_ESTATE, "this channel keeps no exporter secret");
    memcpy(out, e->sec->secret, NOISE_EXPORT_LEN);
    return 0;
}

int vmsec__engine_abort(vmsec_engine *e, int side, int code, const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (atomic_load(&e->state) == VMSEC_STATE_FAILED)
        return vmsec__error(code, "%s", buf);
    return vmsec__engine_fail(e, side, code, "%s", buf);
}

bool vmsec__engine_send_closed(const vmsec_engine *e)
{
    return e->send_closed;
}

bool vmsec__engine_confirm_sent(const vmsec_engine *e)
{
    return e->confirm_sent;
}

bool vmsec__engine_confirm_due(const vmsec_engine *e)
{
    return atomic_load(&e->confirm_due);
}

bool vmsec__engine_input_ended(const vmsec_engine *e)
{
    return e->input_eof;
}

void vmsec__engine_test_set_nonces(vmsec_engine *e, uint64_t send_n, uint64_t recv_n)
{
    e->cs[0].n = send_n;
    e->cs[1].n = recv_n;
}
