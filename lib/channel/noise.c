/* SPDX-License-Identifier: ISC */
/* The Noise Protocol Framework, revision 34: CipherState, SymmetricState and HandshakeState
 * (section 5), sans I/O. Names and patterns are in noise_protocol.c, the primitives in
 * noise_crypto.c. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "channel/dhcache.h"
#include "channel/guarded.h"
#include "common/internal.h"
#include "channel/noise.h"
#include "channel/noise_crypto.h"
#include "channel/noise_pattern.h"

#define MAX_PSKS NOISE_PATTERN_MAX_PSKS

enum hs_state { HS_RUNNING, HS_COMPLETE, HS_SPLIT, HS_FAILED };

/* The whole HandshakeState lives in guarded memory (a slot of a shared sodium_malloc chunk, see
 * guarded.h): it holds s, e, ck, k and the PSKs. */
struct noise_handshake {
    noise_protocol proto;
    noise_pattern pat;
    size_t hashlen;
    bool initiator;
    enum hs_state state;
    unsigned msg;      /* index of the next handshake message */
    unsigned psk_next; /* index of the next psk token */
    bool has_s, has_e, has_rs, has_re;
    uint8_t s[NOISE_DHLEN], s_pub[NOISE_DHLEN];
    uint8_t e[NOISE_DHLEN], e_pub[NOISE_DHLEN];
    uint8_t rs[NOISE_DHLEN], re[NOISE_DHLEN];
    uint8_t ck[NOISE_MAX_HASHLEN], h[NOISE_MAX_HASHLEN];
    noise_cipherstate cs;
    bool psk_set[MAX_PSKS];
    uint8_t psk[MAX_PSKS][NOISE_PSKLEN];
    vmsec__dh_cache *ss_cache; /* not owned; NULL = compute "ss" every time */
};

/* ---- CipherState (section 5.1) ------------------------------------------------------------- */

static bool cipher_valid(noise_cipher_id id)
{
    return id == NOISE_CIPHER_CHACHAPOLY || id == NOISE_CIPHER_AESGCM;
}

/* True when two buffers share a byte without being the same buffer: AEAD in place is fine, a
 * shifted overlap would have the primitive read bytes it already overwrote. */
static bool overlap(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    if (!a || !b || !a_len || !b_len)
        return false;
    return pa < pb + b_len && pb < pa + a_len;
}

static void cs_init_key(noise_cipherstate *cs, const uint8_t *k)
{
    memcpy(cs->k, k, NOISE_KEYLEN);
    cs->n = 0;
    cs->has_key = true;
}

static int cs_check(const noise_cipherstate *cs, const char *what)
{
    if (!cipher_valid(cs->cipher))
        return vmsec__error(VMSEC_EINVAL, "Noise %s: cipher state has no valid cipher", what);
    if (!cs->has_key)
        return vmsec__error(VMSEC_ESTATE, "Noise %s: cipher state has no key", what);
    if (cs->n == UINT64_MAX)
        return vmsec__error(VMSEC_ESTATE, "Noise %s: nonce space exhausted; the session must end", what);
    return 0;
}

int noise_cipher_encrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *plain,
                         size_t len, uint8_t *out)
{
    int rc;
    if (!cs || !out || (!plain && len) || (!ad && ad_len))
        return vmsec__error(VMSEC_EINVAL, "noise_cipher_encrypt: NULL argument");
    if (out != plain && overlap(out, len + NOISE_TAGLEN, plain, len))
        return vmsec__error(VMSEC_EINVAL, "noise_cipher_encrypt: out overlaps plain without being equal");
    if ((rc = cs_check(cs, "encrypt")) < 0)
        return rc;
    if (len > NOISE_MAX_MSG - NOISE_TAGLEN)
        return vmsec__error(VMSEC_EPROTO, "Noise transport message of %zu bytes exceeds the %d-byte maximum",
                            len + NOISE_TAGLEN, NOISE_MAX_MSG);
    if ((rc = noise_aead_cs_encrypt(cs, ad, ad_len, plain, len, out)) < 0)
        return rc == VMSEC_ENOMEM ? vmsec__error(rc, "Noise encrypt: out of memory for the AEAD context")
                                  : vmsec__error(VMSEC_ECRYPTO, "Noise encrypt: AEAD primitive failed");
    cs->n++;
    return 0;
}

int noise_cipher_decrypt(noise_cipherstate *cs, const uint8_t *ad, size_t ad_len, const uint8_t *cipher,
                         size_t len, uint8_t *out)
{
    int rc;
    if (!cs || !cipher || (!out && len > NOISE_TAGLEN) || (!ad && ad_len))
        return vmsec__error(VMSEC_EINVAL, "noise_cipher_decrypt: NULL argument");
    if (out != cipher && overlap(out, len > NOISE_TAGLEN ? len - NOISE_TAGLEN : 0, cipher, len))
        return vmsec__error(VMSEC_EINVAL, "noise_cipher_decrypt: out overlaps cipher without being equal");
    if ((rc = cs_check(cs, "decrypt")) < 0)
        return rc;
    if (len < NOISE_TAGLEN || len > NOISE_MAX_MSG)
        return vmsec__error(VMSEC_EPROTO, "Noise transport message of %zu bytes: must be %d to %d bytes", len,
                            NOISE_TAGLEN, NOISE_MAX_MSG);
    if ((rc = noise_aead_cs_decrypt(cs, ad, ad_len, cipher, len, out)) < 0) {
        if (rc == VMSEC_ENOMEM)
            return vmsec__error(rc, "Noise decrypt: out of memory for the AEAD context");
        if (rc != VMSEC_EAUTH)
            return vmsec__error(VMSEC_ECRYPTO, "Noise decrypt: AEAD primitive failed");
        return vmsec__error(VMSEC_EAUTH, "Noise transport message %llu failed authentication",
                            (unsigned long long)cs->n);
    }
    cs->n++;
    return 0;
}

int noise_cipher_rekey(noise_cipherstate *cs)
{
    uint8_t zeros[NOISE_KEYLEN] = {0}, tmp[NOISE_KEYLEN + NOISE_TAGLEN];
    if (!cs)
        return vmsec__error(VMSEC_EINVAL, "noise_cipher_rekey: cs is NULL");
    if (!cipher_valid(cs->cipher))
        return vmsec__error(VMSEC_EINVAL, "Noise rekey: cipher state has no valid cipher");
    if (!cs->has_key)
        return vmsec__error(VMSEC_ESTATE, "Noise rekey: cipher state has no key");
    if (noise_aead_encrypt(cs->cipher, cs->k, UINT64_MAX, NULL, 0, zeros, sizeof(zeros), tmp) < 0)
        return vmsec__error(VMSEC_ECRYPTO, "Noise rekey: AEAD primitive failed");
    memcpy(cs->k, tmp, NOISE_KEYLEN);
    sodium_memzero(tmp, sizeof(tmp));
    noise_aead_cs_release(cs); /* keyed with the old k; the next message keys a new one */
    if (cs->gcm && cs->cipher == NOISE_CIPHER_AESGCM)
        crypto_aead_aes256gcm_beforenm(cs->gcm, cs->k);
    return 0;
}

void noise_cipher_precompute(noise_cipherstate *cs, struct crypto_aead_aes256gcm_state_ *st)
{
#ifdef NOISE_AEAD_EVP
    (void)cs;
    (void)st; /* the EVP context created on first use holds the expanded key */
#else
    if (cs && st && cs->has_key && cs->cipher == NOISE_CIPHER_AESGCM) {
        crypto_aead_aes256gcm_beforenm(st, cs->k);
        cs->gcm = st;
    }
#endif
}

void noise_cipher_wipe(noise_cipherstate *cs)
{
    if (!cs)
        return;
    noise_aead_cs_release(cs);
    sodium_memzero(cs, sizeof(*cs));
}

/* ---- SymmetricState (section 5.2) ---------------------------------------------------------- */

static void mix_hash(noise_handshake *hs, const uint8_t *data, size_t len)
{
    noise_hash2(hs->proto.hash, hs->h, hs->hashlen, data, len, hs->h);
}

static void mix_key(noise_handshake *hs, const uint8_t *ikm, size_t len)
{
    uint8_t temp_k[NOISE_MAX_HASHLEN];
    noise_hkdf(hs->proto.hash, hs->ck, ikm, len, 2, hs->ck, temp_k, NULL);
    cs_init_key(&hs->cs, temp_k); /* truncated to 32 bytes when HASHLEN is 64 */
    sodium_memzero(temp_k, sizeof(temp_k));
}

static void mix_key_and_hash(noise_handshake *hs, const uint8_t *ikm, size_t len)
{
    uint8_t temp_h[NOISE_MAX_HASHLEN], temp_k[NOISE_MAX_HASHLEN];
    noise_hkdf(hs->proto.hash, hs->ck, ikm, len, 3, hs->ck, temp_h, temp_k);
    mix_hash(hs, temp_h, hs->hashlen);
    cs_init_key(&hs->cs, temp_k);
    sodium_memzero(temp_h, sizeof(temp_h));
    sodium_memzero(temp_k, sizeof(temp_k));
}

/* EncryptAndHash: out gets len (+ NOISE_TAGLEN once a key exists) bytes. */
static int encrypt_and_hash(noise_handshake *hs, const uint8_t *plain, size_t len, uint8_t *out, size_t *out_len)
{
    noise_cipherstate *cs = &hs->cs;
    if (!cs->has_key) {
        if (len)
            memmove(out, plain, len);
        *out_len = len;
    } else {
        if (cs->n == UINT64_MAX)
            return vmsec__error(VMSEC_ESTATE, "Noise handshake: nonce space exhausted");
        if (noise_aead_encrypt(cs->cipher, cs->k, cs->n, hs->h, hs->hashlen, plain, len, out) < 0)
            return vmsec__error(VMSEC_ECRYPTO, "Noise handshake: AEAD primitive failed");
        cs->n++;
        *out_len = len + NOISE_TAGLEN;
    }
    mix_hash(hs, out, *out_len);
    return 0;
}

/* DecryptAndHash: in is len bytes (tag included once a key exists); out must not overlap in. */
static int decrypt_and_hash(noise_handshake *hs, const uint8_t *in, size_t len, uint8_t *out, const char *what)
{
    noise_cipherstate *cs = &hs->cs;
    if (!cs->has_key) {
        if (len)
            memcpy(out, in, len);
    } else {
        if (cs->n == UINT64_MAX)
            return vmsec__error(VMSEC_ESTATE, "Noise handshake: nonce space exhausted");
        if (noise_aead_decrypt(cs->cipher, cs->k, cs->n, hs->h, hs->hashlen, in, len, out) < 0)
            return vmsec__error(VMSEC_EAUTH, "Noise handshake message %u: %s failed authentication",
                                hs->msg + 1, what);
        cs->n++;
    }
    mix_hash(hs, in, len);
    return 0;
}

/* ---- HandshakeState (section 5.3) ---------------------------------------------------------- */

static void wipe_secrets(noise_handshake *hs)
{
    sodium_memzero(hs->s, sizeof(hs->s));
    sodium_memzero(hs->e, sizeof(hs->e));
    sodium_memzero(hs->ck, sizeof(hs->ck));
    sodium_memzero(hs->psk, sizeof(hs->psk));
    noise_cipher_wipe(&hs->cs);
}

static int hs_fail(noise_handshake *hs, int rc)
{
    hs->state = HS_FAILED;
    wipe_secrets(hs);
    return rc;
}

static bool local_sends_s(const noise_handshake *hs)
{
    unsigned m, t;
    for (m = hs->initiator ? 0 : 1; m < hs->pat.nmsgs; m += 2)
        for (t = 0; t < hs->pat.ntok[m]; t++)
            if (hs->pat.tok[m][t] == NOISE_TOK_S)
                return true;
    return false;
}

static int check_keys(const noise_handshake *hs, const uint8_t *s, const uint8_t *rs, const uint8_t *psk)
{
    const char *name = hs->proto.name;
    bool need_s = hs->pat.pre_s[hs->initiator ? 0 : 1] || local_sends_s(hs);
    bool need_rs = hs->pat.pre_s[hs->initiator ? 1 : 0];

    if (need_s && !s)
        return vmsec__error(VMSEC_EINVAL, "%s: the %s needs a local static key", name,
                            hs->initiator ? "initiator" : "responder");
    if (need_rs && !rs)
        return vmsec__error(VMSEC_EINVAL, "%s: the %s needs the peer's static public key in advance", name,
                            hs->initiator ? "initiator" : "responder");
    /* Refusing keys the pattern ignores keeps a caller from believing they protect anything. */
    if (!need_rs && rs)
        return vmsec__error(VMSEC_EINVAL, "%s: the peer's static key is not a pre-message for the %s; "
                            "check noise_handshake_remote_static() after the handshake instead", name,
                            hs->initiator ? "initiator" : "responder");
    if (hs->pat.npsks && !psk)
        return vmsec__error(VMSEC_EINVAL, "%s: a pre-shared key is required", name);
    if (!hs->pat.npsks && psk)
        return vmsec__error(VMSEC_EINVAL, "%s: a pre-shared key was given but the pattern has no psk modifier",
                            name);
    return 0;
}

static int hs_init(noise_handshake *hs, const noise_protocol *proto, bool initiator, const uint8_t *prologue,
                   size_t prologue_len, const uint8_t *s, const uint8_t *s_pub, const uint8_t *rs,
                   const uint8_t *psk)
{
    size_t name_len = strnlen(proto->name, NOISE_MAX_NAME);
    noise_protocol check;
    unsigned i;
    int rc;

    /* The name is what gets hashed, the fields are what runs: they must say the same thing. */
    if (name_len == NOISE_MAX_NAME)
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_new: protocol name is not terminated");
    if ((rc = noise_protocol_parse(&check, proto->name)) < 0)
        return rc;
    if (strcmp(check.pattern, proto->pattern) != 0 || check.psk_mask != proto->psk_mask ||
        check.cipher != proto->cipher || check.hash != proto->hash)
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_new: protocol fields disagree with its name '%s'",
                            proto->name);
    hs->proto = *proto;
    hs->initiator = initiator;
    hs->hashlen = noise_hash_len(proto->hash);
    hs->cs.cipher = proto->cipher;
    if ((rc = noise_pattern_compile(&hs->pat, proto)) < 0 || (rc = check_keys(hs, s, rs, psk)) < 0)
        return rc;

    if (s && (hs->pat.pre_s[initiator ? 0 : 1] || local_sends_s(hs))) {
        memcpy(hs->s, s, NOISE_DHLEN);
        if (s_pub)
            memcpy(hs->s_pub, s_pub, NOISE_DHLEN); /* derived once, when the key was loaded */
        else if (crypto_scalarmult_base(hs->s_pub, hs->s) != 0)
            return vmsec__error(VMSEC_EINVAL, "%s: invalid local static key", proto->name);
        hs->has_s = true;
    }
    if (rs) {
        memcpy(hs->rs, rs, NOISE_DHLEN);
        hs->has_rs = true;
    }
    for (i = 0; psk && i < hs->pat.npsks; i++) {
        memcpy(hs->psk[i], psk, NOISE_PSKLEN);
        hs->psk_set[i] = true;
    }

    /* InitializeSymmetric: a name that fits in HASHLEN is used zero-padded, a longer one hashed. */
    if (name_len <= hs->hashlen)
        memcpy(hs->h, proto->name, name_len);
    else
        noise_hash2(proto->hash, (const uint8_t *)proto->name, name_len, NULL, 0, hs->h);
    memcpy(hs->ck, hs->h, hs->hashlen);
    mix_hash(hs, prologue, prologue_len);
    if (hs->pat.pre_s[0])
        mix_hash(hs, initiator ? hs->s_pub : hs->rs, NOISE_DHLEN);
    if (hs->pat.pre_s[1])
        mix_hash(hs, initiator ? hs->rs : hs->s_pub, NOISE_DHLEN);
    hs->state = HS_RUNNING;
    return 0;
}

int noise_handshake_new(noise_handshake **out, const noise_protocol *proto, bool initiator,
                        const uint8_t *prologue, size_t prologue_len, const uint8_t *s, const uint8_t *rs,
                        const uint8_t *psk)
{
    return noise_handshake_new_pub(out, proto, initiator, prologue, prologue_len, s, NULL, rs, psk);
}

int noise_handshake_new_pub(noise_handshake **out, const noise_protocol *proto, bool initiator,
                            const uint8_t *prologue, size_t prologue_len, const uint8_t *s, const uint8_t *s_pub,
                            const uint8_t *rs, const uint8_t *psk)
{
    noise_handshake *hs;
    int rc;

    if (!out || !proto || (!prologue && prologue_len))
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_new: NULL argument");
    *out = NULL;
    if ((rc = vmsec__ensure_init()) < 0)
        return rc;
    if (!(hs = vmsec__guarded_alloc(sizeof(*hs))))
        return vmsec__error(VMSEC_ENOMEM, "out of guarded memory for a Noise handshake");
    if ((rc = hs_init(hs, proto, initiator, prologue, prologue_len, s, s_pub, rs, psk)) < 0) {
        vmsec__guarded_free(hs);
        return rc;
    }
    *out = hs;
    return 0;
}

void noise_handshake_free(noise_handshake *hs)
{
    vmsec__guarded_free(hs); /* wipes the whole state */
}

void noise_handshake_set_ss_cache(noise_handshake *hs, vmsec__dh_cache *cache)
{
    if (hs)
        hs->ss_cache = cache;
}

int noise_handshake_set_ephemeral(noise_handshake *hs, const uint8_t *e_secret)
{
    if (!hs || !e_secret)
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_set_ephemeral: NULL argument");
    if (hs->state != HS_RUNNING || hs->has_e)
        return vmsec__error(VMSEC_ESTATE, "noise_handshake_set_ephemeral: the ephemeral key is already in use");
    memcpy(hs->e, e_secret, NOISE_DHLEN);
    if (crypto_scalarmult_base(hs->e_pub, hs->e) != 0) {
        sodium_memzero(hs->e, sizeof(hs->e));
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_set_ephemeral: invalid key");
    }
    hs->has_e = true;
    return 0;
}

int noise_handshake_set_psk(noise_handshake *hs, unsigned index, const uint8_t *psk)
{
    if (!hs || !psk)
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_set_psk: NULL argument");
    if (index >= hs->pat.npsks)
        return vmsec__error(VMSEC_EINVAL, "%s: no psk token number %u (the pattern has %u)", hs->proto.name,
                            index, hs->pat.npsks);
    if (hs->state != HS_RUNNING || hs->msg != 0)
        return vmsec__error(VMSEC_ESTATE, "noise_handshake_set_psk: the handshake has already started");
    memcpy(hs->psk[index], psk, NOISE_PSKLEN);
    hs->psk_set[index] = true;
    return 0;
}

bool noise_handshake_my_turn(const noise_handshake *hs)
{
    return hs && hs->state == HS_RUNNING && (hs->msg % 2 == 0) == hs->initiator;
}

bool noise_handshake_complete(const noise_handshake *hs)
{
    return hs && (hs->state == HS_COMPLETE || hs->state == HS_SPLIT);
}

const uint8_t *noise_handshake_remote_static(const noise_handshake *hs)
{
    return hs && hs->has_rs && hs->state != HS_FAILED ? hs->rs : NULL;
}

size_t noise_handshake_hash(const noise_handshake *hs, uint8_t *out, size_t cap)
{
    if (!hs || !out || cap < hs->hashlen || hs->state == HS_FAILED)
        return 0;
    memcpy(out, hs->h, hs->hashlen);
    return hs->hashlen;
}

/* Bytes of the next message with no payload, its payload's tag included. */
static size_t message_overhead(const noise_handshake *hs)
{
    bool has_key = hs->cs.has_key;
    size_t size = 0;
    unsigned t;

    for (t = 0; t < hs->pat.ntok[hs->msg]; t++) {
        switch (hs->pat.tok[hs->msg][t]) {
        case NOISE_TOK_E:
            size += NOISE_DHLEN;
            has_key = has_key || hs->pat.npsks;
            break;
        case NOISE_TOK_S:
            size += NOISE_DHLEN + (has_key ? NOISE_TAGLEN : 0);
            break;
        default:
            has_key = true;
        }
    }
    return size + (has_key ? NOISE_TAGLEN : 0);
}

size_t noise_handshake_write_size(const noise_handshake *hs, size_t payload_len)
{
    if (!noise_handshake_my_turn(hs))
        return 0;
    return message_overhead(hs) + payload_len;
}

static int check_turn(const noise_handshake *hs, bool writing)
{
    const char *name = hs->proto.name;
    switch (hs->state) {
    case HS_FAILED:
        return vmsec__error(VMSEC_ESTATE, "%s: the handshake has failed", name);
    case HS_COMPLETE:
    case HS_SPLIT:
        return vmsec__error(VMSEC_ESTATE, "%s: the handshake is already complete", name);
    case HS_RUNNING:
        break;
    }
    if (writing && !noise_handshake_my_turn(hs))
        return vmsec__error(VMSEC_ESTATE, "%s: handshake message %u is the %s's to write; read it first", name,
                            hs->msg + 1, hs->initiator ? "responder" : "initiator");
    if (!writing && noise_handshake_my_turn(hs))
        return vmsec__error(VMSEC_ESTATE, "%s: handshake message %u is ours (the %s's) to write, not to read",
                            name, hs->msg + 1, hs->initiator ? "initiator" : "responder");
    return 0;
}

/* DH(), refusing an all-zero result: a low-order peer key would let an attacker fix the secret. */
static int dh(noise_handshake *hs, const char *token, bool local_e, bool remote_e)
{
    const uint8_t *sk = local_e ? hs->e : hs->s;
    const uint8_t *pk = remote_e ? hs->re : hs->rs;
    bool both_static = !local_e && !remote_e;
    uint8_t shared[NOISE_DHLEN];

    if (!(local_e ? hs->has_e : hs->has_s) || !(remote_e ? hs->has_re : hs->has_rs))
        return vmsec__error(VMSEC_EINTERNAL, "%s: token %s without its keys", hs->proto.name, token);
    /* static-static: the same for every handshake between these two keys (dhcache.h) */
    if (both_static && vmsec__dh_cache_get(hs->ss_cache, pk, shared)) {
        mix_key(hs, shared, sizeof(shared));
        sodium_memzero(shared, sizeof(shared));
        return 0;
    }
    if (crypto_scalarmult(shared, sk, pk) != 0 || sodium_is_zero(shared, sizeof(shared))) {
        sodium_memzero(shared, sizeof(shared));
        return vmsec__error(VMSEC_EAUTH,
                            "%s: handshake message %u, token %s: the peer's %s key is a low-order point",
                            hs->proto.name, hs->msg + 1, token, remote_e ? "ephemeral" : "static");
    }
    if (both_static)
        vmsec__dh_cache_put(hs->ss_cache, pk, shared);
    mix_key(hs, shared, sizeof(shared));
    sodium_memzero(shared, sizeof(shared));
    return 0;
}

/* The DH tokens and psk, which write and read process alike. */
static int mix_token(noise_handshake *hs, uint8_t tok)
{
    bool i = hs->initiator;
    switch (tok) {
    case NOISE_TOK_EE:
        return dh(hs, "ee", true, true);
    case NOISE_TOK_ES:
        return i ? dh(hs, "es", true, false) : dh(hs, "es", false, true);
    case NOISE_TOK_SE:
        return i ? dh(hs, "se", false, true) : dh(hs, "se", true, false);
    case NOISE_TOK_SS:
        return dh(hs, "ss", false, false);
    case NOISE_TOK_PSK:
        if (!hs->psk_set[hs->psk_next])
            return vmsec__error(VMSEC_EINTERNAL, "%s: psk %u not set", hs->proto.name, hs->psk_next);
        mix_key_and_hash(hs, hs->psk[hs->psk_next], NOISE_PSKLEN);
        sodium_memzero(hs->psk[hs->psk_next++], NOISE_PSKLEN);
        return 0;
    }
    return vmsec__error(VMSEC_EINTERNAL, "%s: bad token %u", hs->proto.name, tok);
}

static void message_done(noise_handshake *hs)
{
    if (++hs->msg == hs->pat.nmsgs) {
        hs->state = HS_COMPLETE;
        sodium_memzero(hs->e, sizeof(hs->e)); /* no DH is left to do */
    }
}

static int write_tokens(noise_handshake *hs, uint8_t *out, size_t *pos)
{
    unsigned t;
    size_t n;
    int rc;

    for (t = 0; t < hs->pat.ntok[hs->msg]; t++) {
        uint8_t tok = hs->pat.tok[hs->msg][t];
        if (tok == NOISE_TOK_E) {
            if (!hs->has_e) {
                randombytes_buf(hs->e, NOISE_DHLEN);
                crypto_scalarmult_base(hs->e_pub, hs->e);
                hs->has_e = true;
            }
            memcpy(out + *pos, hs->e_pub, NOISE_DHLEN);
            *pos += NOISE_DHLEN;
            mix_hash(hs, hs->e_pub, NOISE_DHLEN);
            if (hs->pat.npsks)
                mix_key(hs, hs->e_pub, NOISE_DHLEN);
        } else if (tok == NOISE_TOK_S) {
            if ((rc = encrypt_and_hash(hs, hs->s_pub, NOISE_DHLEN, out + *pos, &n)) < 0)
                return rc;
            *pos += n;
        } else if ((rc = mix_token(hs, tok)) < 0) {
            return rc;
        }
    }
    return 0;
}

int noise_handshake_write(noise_handshake *hs, const uint8_t *payload, size_t payload_len, uint8_t *out,
                          size_t out_cap, size_t *out_len)
{
    size_t need, pos = 0, n;
    int rc;

    if (out_len)
        *out_len = 0;
    if (!hs || !out_len || !out || (!payload && payload_len))
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_write: NULL argument");
    if ((rc = check_turn(hs, true)) < 0)
        return rc;
    need = message_overhead(hs) + payload_len;
    if (payload_len > NOISE_MAX_MSG || need > NOISE_MAX_MSG)
        return hs_fail(hs, vmsec__error(VMSEC_EPROTO, "%s: handshake message %u would be %zu bytes, over the "
                                        "%d-byte maximum", hs->proto.name, hs->msg + 1, need, NOISE_MAX_MSG));
    if (need > out_cap)
        return vmsec__error(VMSEC_EINVAL, "%s: handshake message %u needs %zu bytes, the buffer has %zu",
                            hs->proto.name, hs->msg + 1, need, out_cap);
    if (overlap(out, need, payload, payload_len))
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_write: out overlaps payload");

    if ((rc = write_tokens(hs, out, &pos)) < 0 ||
        (rc = encrypt_and_hash(hs, payload, payload_len, out + pos, &n)) < 0) {
        sodium_memzero(out, need);
        return hs_fail(hs, rc);
    }
    *out_len = pos + n;
    message_done(hs);
    return 0;
}

static int read_tokens(noise_handshake *hs, const uint8_t *msg, size_t *pos)
{
    unsigned t;
    size_t n;
    int rc;

    for (t = 0; t < hs->pat.ntok[hs->msg]; t++) {
        uint8_t tok = hs->pat.tok[hs->msg][t];
        if (tok == NOISE_TOK_E) {
            memcpy(hs->re, msg + *pos, NOISE_DHLEN);
            hs->has_re = true;
            *pos += NOISE_DHLEN;
            mix_hash(hs, hs->re, NOISE_DHLEN);
            if (hs->pat.npsks)
                mix_key(hs, hs->re, NOISE_DHLEN);
        } else if (tok == NOISE_TOK_S) {
            n = NOISE_DHLEN + (hs->cs.has_key ? NOISE_TAGLEN : 0);
            if ((rc = decrypt_and_hash(hs, msg + *pos, n, hs->rs, "the static key")) < 0)
                return rc;
            hs->has_rs = true;
            *pos += n;
        } else if ((rc = mix_token(hs, tok)) < 0) {
            return rc;
        }
    }
    return 0;
}

int noise_handshake_read(noise_handshake *hs, const uint8_t *msg, size_t msg_len, uint8_t *payload,
                         size_t payload_cap, size_t *payload_len)
{
    size_t overhead, plain_len, pos = 0;
    int rc;

    if (payload_len)
        *payload_len = 0;
    if (!hs || !payload_len || (!msg && msg_len) || (!payload && payload_cap))
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_read: NULL argument");
    if ((rc = check_turn(hs, false)) < 0)
        return rc;
    overhead = message_overhead(hs);
    if (msg_len > NOISE_MAX_MSG || msg_len < overhead)
        return hs_fail(hs, vmsec__error(VMSEC_EPROTO, "%s: handshake message %u is %zu bytes; it must be %zu to %d",
                                        hs->proto.name, hs->msg + 1, msg_len, overhead, NOISE_MAX_MSG));
    plain_len = msg_len - overhead;
    if (plain_len > payload_cap)
        return vmsec__error(VMSEC_EINVAL, "%s: handshake message %u carries a %zu-byte payload, the buffer has %zu",
                            hs->proto.name, hs->msg + 1, plain_len, payload_cap);
    if (overlap(payload, plain_len, msg, msg_len))
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_read: payload overlaps msg");

    if ((rc = read_tokens(hs, msg, &pos)) < 0 ||
        (rc = decrypt_and_hash(hs, msg + pos, msg_len - pos, payload, "the payload")) < 0) {
        if (payload)
            sodium_memzero(payload, plain_len);
        hs->has_rs = false;
        sodium_memzero(hs->rs, sizeof(hs->rs));
        return hs_fail(hs, rc);
    }
    *payload_len = plain_len;
    message_done(hs);
    return 0;
}

int noise_handshake_export(const noise_handshake *hs, uint8_t out[NOISE_EXPORT_LEN])
{
    uint8_t t1[NOISE_MAX_HASHLEN], t2[NOISE_MAX_HASHLEN], t3[NOISE_MAX_HASHLEN];
    if (!hs || !out || hs->state != HS_COMPLETE)
        return vmsec__error(VMSEC_ESTATE, "noise_handshake_export: needs a complete handshake not split yet");
    /* HKDF's outputs are chained blocks, so the first two are exactly Split()'s keys and the
     * third is independent of them: knowing the transport keys gives nothing of it. */
    noise_hkdf(hs->proto.hash, hs->ck, NULL, 0, 3, t1, t2, t3);
    memcpy(out, t3, NOISE_EXPORT_LEN);
    sodium_memzero(t1, sizeof(t1));
    sodium_memzero(t2, sizeof(t2));
    sodium_memzero(t3, sizeof(t3));
    return 0;
}

int noise_handshake_split(noise_handshake *hs, noise_cipherstate *send, noise_cipherstate *recv)
{
    uint8_t k1[NOISE_MAX_HASHLEN], k2[NOISE_MAX_HASHLEN];
    noise_cipherstate *c1, *c2;

    if (!hs || !send || !recv || send == recv)
        return vmsec__error(VMSEC_EINVAL, "noise_handshake_split: NULL argument");
    memset(send, 0, sizeof(*send));
    memset(recv, 0, sizeof(*recv));
    if (hs->state != HS_COMPLETE)
        return vmsec__error(VMSEC_ESTATE, "%s: split needs a complete handshake that was not split yet",
                            hs->proto.name);
    noise_hkdf(hs->proto.hash, hs->ck, NULL, 0, 2, k1, k2, NULL);
    c1 = hs->initiator ? send : recv;
    c2 = hs->initiator ? recv : send;
    c1->cipher = c2->cipher = hs->proto.cipher;
    cs_init_key(c1, k1);
    /* One-way patterns (section 7.4) only ever send from initiator to responder: the reverse
     * direction gets no key, so using it fails instead of silently working. */
    if (hs->pat.nmsgs > 1)
        cs_init_key(c2, k2);
    sodium_memzero(k1, sizeof(k1));
    sodium_memzero(k2, sizeof(k2));
    wipe_secrets(hs);
    hs->state = HS_SPLIT;
    return 0;
}
