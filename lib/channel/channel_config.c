/* SPDX-License-Identifier: ISC */
/* Channel configurations: the Noise suite, pattern, keys, PSK, peer policy and limits shared by the
 * channels made from one configuration (which also owns their static-static DH cache). */
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel_internal.h"
#include "channel/dhcache.h"
#include "channel/keys_internal.h"
#include "common/internal.h"

size_t vmsec_channel_default_max_message(void) { return VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE; }
size_t vmsec_channel_max_message_limit(void) { return VMSEC_CHANNEL_MAX_MESSAGE_LIMIT; }
size_t vmsec_handshake_hash_max(void) { return VMSEC_HANDSHAKE_HASH_MAX; }
size_t vmsec_record_payload_max(void) { return VMSEC_RECORD_PAYLOAD_MAX; }
size_t vmsec_psk_bytes(void) { return VMSEC_PSK_BYTES; }

static uint8_t *guarded_dup(const uint8_t *src, size_t len)
{
    uint8_t *p = sodium_malloc(len);
    if (p) {
        memcpy(p, src, len);
        sodium_mprotect_readonly(p);
    }
    return p;
}

static void guarded_free(uint8_t **p)
{
    if (*p) {
        sodium_mprotect_readwrite(*p);
        sodium_free(*p);
        *p = NULL;
    }
}

/* One-way patterns (N, K, X) cannot carry replies, so a channel refuses them. */
static int check_protocol(const noise_protocol *p)
{
    if (strlen(p->pattern) < 2)
        return vmsec__error(VMSEC_EUNSUPPORTED,
                            "Noise protocol %s: one-way pattern %s cannot carry a two-way channel", p->name,
                            p->pattern);
    return 0;
}

int vmsec_channel_config_new(vmsec_channel_config **out)
{
    vmsec_channel_config *cfg;
    int rc;
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_config_new: out is NULL");
    *out = NULL;
    if ((rc = vmsec__ensure_init()) < 0)
        return rc;
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return vmsec__error(VMSEC_ENOMEM, "out of memory allocating a channel configuration");
    if ((rc = noise_protocol_parse(&cfg->proto, VMSEC_CHANNEL_DEFAULT_PROTOCOL)) < 0) {
        free(cfg);
        return rc;
    }
    cfg->max_message = VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE;
    cfg->rekey_interval = VMSEC_CHANNEL_DEFAULT_REKEY_INTERVAL;
    cfg->handshake_timeout_ms = VMSEC_CHANNEL_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    cfg->version = VMSEC_CHANNEL_PROTOCOL_VERSION;
    *out = cfg;
    return 0;
}

void vmsec__channel_config_clear(struct vmsec_channel_config *cfg)
{
    guarded_free(&cfg->secret);
    vmsec__dh_cache_unref(cfg->ss_cache);
    guarded_free(&cfg->psk);
    free(cfg->trusted);
    free(cfg->prologue);
    sodium_memzero(cfg, sizeof(*cfg));
}

void vmsec_channel_config_free(vmsec_channel_config *cfg)
{
    if (!cfg)
        return;
    vmsec__channel_config_clear(cfg);
    free(cfg);
}

int vmsec__channel_config_copy(struct vmsec_channel_config *dst, const struct vmsec_channel_config *src)
{
    *dst = *src;
    dst->secret = dst->psk = dst->prologue = NULL;
    dst->trusted = NULL;
    dst->ss_cache = vmsec__dh_cache_ref(src->ss_cache);
    if (src->secret && !(dst->secret = guarded_dup(src->secret, NOISE_DHLEN)))
        goto nomem;
    if (src->psk && !(dst->psk = guarded_dup(src->psk, NOISE_PSKLEN)))
        goto nomem;
    if (src->ntrusted) {
        if (!(dst->trusted = malloc(src->ntrusted * VMSEC_KEY_BYTES)))
            goto nomem;
        memcpy(dst->trusted, src->trusted, src->ntrusted * VMSEC_KEY_BYTES);
    }
    if (src->prologue_len) {
        if (!(dst->prologue = malloc(src->prologue_len)))
            goto nomem;
        memcpy(dst->prologue, src->prologue, src->prologue_len);
    }
    return 0;
nomem:
    vmsec__channel_config_clear(dst);
    return vmsec__error(VMSEC_ENOMEM, "out of memory copying a channel configuration");
}

#define CFG_CHECK(fn)                                                                                              \
    do {                                                                                                           \
        if (!cfg)                                                                                                  \
            return vmsec__error(VMSEC_EINVAL, fn ": configuration is NULL");                                        \
    } while (0)

int vmsec_channel_config_set_keypair(vmsec_channel_config *cfg, const vmsec_keypair *kp)
{
    uint8_t *s = NULL;
    vmsec__dh_cache *cache = NULL;
    CFG_CHECK("vmsec_channel_config_set_keypair");
    if (kp && (!(s = guarded_dup(vmsec__keypair_secret(kp), NOISE_DHLEN)) || !(cache = vmsec__dh_cache_new()))) {
        guarded_free(&s);
        return vmsec__error(VMSEC_ENOMEM, "out of guarded memory for the channel's private key");
    }
    guarded_free(&cfg->secret);
    cfg->secret = s;
    vmsec__dh_cache_unref(cfg->ss_cache); /* results for the previous key, if any */
    cfg->ss_cache = cache;
    if (kp)
        memcpy(cfg->pub, vmsec__keypair_pub(kp), VMSEC_KEY_BYTES);
    else
        memset(cfg->pub, 0, VMSEC_KEY_BYTES);
    return 0;
}

static int set_name(vmsec_channel_config *cfg, const char *name)
{
    noise_protocol p;
    int rc;
    if ((rc = noise_protocol_parse(&p, name)) < 0 || (rc = check_protocol(&p)) < 0)
        return rc;
    cfg->proto = p;
    return 0;
}

int vmsec_channel_config_set_protocol(vmsec_channel_config *cfg, const char *name)
{
    CFG_CHECK("vmsec_channel_config_set_protocol");
    if (!name)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_config_set_protocol: name is NULL");
    return set_name(cfg, name);
}

static const char *pattern_end(const noise_protocol *p)
{
    return strchr(p->name + strlen("Noise_"), '_');
}

int vmsec_channel_config_set_pattern(vmsec_channel_config *cfg, const char *pattern)
{
    char name[2 * NOISE_MAX_NAME];
    CFG_CHECK("vmsec_channel_config_set_pattern");
    if (!pattern || !*pattern || strchr(pattern, '_'))
        return vmsec__error(VMSEC_EFORMAT, "channel pattern '%s': expected a pattern such as XX or IKpsk2",
                            pattern ? pattern : "(null)");
    if ((size_t)snprintf(name, sizeof(name), "Noise_%s%s", pattern, pattern_end(&cfg->proto)) >= sizeof(name))
        return vmsec__error(VMSEC_EFORMAT, "channel pattern '%.32s...': too long", pattern);
    return set_name(cfg, name);
}

int vmsec_channel_config_set_suite(vmsec_channel_config *cfg, const char *suite)
{
    char name[2 * NOISE_MAX_NAME];
    int plen;
    CFG_CHECK("vmsec_channel_config_set_suite");
    if (!suite || !strchr(suite, '_'))
        return vmsec__error(VMSEC_EFORMAT, "channel suite '%s': expected CIPHER_HASH such as ChaChaPoly_BLAKE2b",
                            suite ? suite : "(null)");
    plen = (int)(pattern_end(&cfg->proto) - cfg->proto.name);
    if ((size_t)snprintf(name, sizeof(name), "%.*s_25519_%s", plen, cfg->proto.name, suite) >= sizeof(name))
        return vmsec__error(VMSEC_EFORMAT, "channel suite '%.32s...': too long", suite);
    return set_name(cfg, name);
}

int vmsec_channel_config_get_protocol(const vmsec_channel_config *cfg, char *out, size_t out_len)
{
    CFG_CHECK("vmsec_channel_config_get_protocol");
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_config_get_protocol: out is NULL");
    if (strlen(cfg->proto.name) >= out_len)
        return vmsec__error(VMSEC_ETOOBIG, "protocol name needs %zu bytes, buffer has %zu",
                            strlen(cfg->proto.name) + 1, out_len);
    strcpy(out, cfg->proto.name);
    return 0;
}

int vmsec_channel_config_add_trusted_peer(vmsec_channel_config *cfg, const uint8_t *key, size_t key_len)
{
    uint8_t(*t)[VMSEC_KEY_BYTES];
    const char *why;
    CFG_CHECK("vmsec_channel_config_add_trusted_peer");
    if (!key || key_len != VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "trusted peer key must be %d bytes, got %zu", VMSEC_KEY_BYTES,
                            key ? key_len : 0);
    if ((why = vmsec__pubkey_noncanonical(key)))
        return vmsec__error(VMSEC_EFORMAT, "trusted peer key is not canonical: %s", why);
    t = realloc(cfg->trusted, (cfg->ntrusted + 1) * VMSEC_KEY_BYTES);
    if (!t)
        return vmsec__error(VMSEC_ENOMEM, "out of memory adding a trusted peer");
    memcpy(t[cfg->ntrusted], key, VMSEC_KEY_BYTES);
    cfg->trusted = t;
    cfg->ntrusted++;
    return 0;
}

int vmsec_channel_config_set_peer_key(vmsec_channel_config *cfg, const uint8_t *key, size_t key_len)
{
    const char *why;
    CFG_CHECK("vmsec_channel_config_set_peer_key");
    if (!key) {
        cfg->has_peer_key = false;
        return 0;
    }
    if (key_len != VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "peer key must be %d bytes, got %zu", VMSEC_KEY_BYTES, key_len);
    if ((why = vmsec__pubkey_noncanonical(key)))
        return vmsec__error(VMSEC_EFORMAT, "peer key is not canonical: %s", why);
    memcpy(cfg->peer_key, key, VMSEC_KEY_BYTES);
    cfg->has_peer_key = true;
    return 0;
}

int vmsec_channel_config_set_verify(vmsec_channel_config *cfg, vmsec_channel_verify_fn fn, void *user)
{
    CFG_CHECK("vmsec_channel_config_set_verify");
    cfg->verify = fn;
    cfg->verify_user = user;
    return 0;
}

int vmsec_channel_config_set_allow_any_peer(vmsec_channel_config *cfg, int allow)
{
    CFG_CHECK("vmsec_channel_config_set_allow_any_peer");
    cfg->allow_any = allow != 0;
    return 0;
}

int vmsec_channel_config_set_psk(vmsec_channel_config *cfg, const uint8_t *psk, size_t psk_len)
{
    uint8_t *p = NULL;
    CFG_CHECK("vmsec_channel_config_set_psk");
    if (psk && psk_len != VMSEC_PSK_BYTES)
        return vmsec__error(VMSEC_EINVAL, "PSK must be %d bytes, got %zu", VMSEC_PSK_BYTES, psk_len);
    if (psk && !(p = guarded_dup(psk, NOISE_PSKLEN)))
        return vmsec__error(VMSEC_ENOMEM, "out of guarded memory for the PSK");
    guarded_free(&cfg->psk);
    cfg->psk = p;
    return 0;
}

int vmsec_channel_config_set_prologue(vmsec_channel_config *cfg, const uint8_t *prologue, size_t len)
{
    uint8_t *p = NULL;
    CFG_CHECK("vmsec_channel_config_set_prologue");
    if (len && !prologue)
        return vmsec__error(VMSEC_EINVAL, "vmsec_channel_config_set_prologue: prologue is NULL");
    if (len > 65535)
        return vmsec__error(VMSEC_ETOOBIG, "prologue of %zu bytes exceeds 65535", len);
    if (len) {
        if (!(p = malloc(len)))
            return vmsec__error(VMSEC_ENOMEM, "out of memory for the prologue");
        memcpy(p, prologue, len);
    }
    free(cfg->prologue);
    cfg->prologue = p;
    cfg->prologue_len = len;
    return 0;
}

int vmsec_channel_config_set_max_message(vmsec_channel_config *cfg, size_t max)
{
    CFG_CHECK("vmsec_channel_config_set_max_message");
    if (max < 1 || max > VMSEC_CHANNEL_MAX_MESSAGE_LIMIT)
        return vmsec__error(VMSEC_EINVAL, "maximum message size %zu is outside 1..%zu", max,
                            (size_t)VMSEC_CHANNEL_MAX_MESSAGE_LIMIT);
    cfg->max_message = max;
    return 0;
}

int vmsec_channel_config_set_rekey_interval(vmsec_channel_config *cfg, uint64_t interval)
{
    CFG_CHECK("vmsec_channel_config_set_rekey_interval");
    cfg->rekey_interval = interval;
    return 0;
}

int vmsec_channel_config_set_handshake_timeout(vmsec_channel_config *cfg, unsigned int timeout_ms)
{
    CFG_CHECK("vmsec_channel_config_set_handshake_timeout");
    cfg->handshake_timeout_ms = timeout_ms;
    return 0;
}

static bool keepalive_range_ok(unsigned int ms)
{
    return ms == 0 || (ms >= VMSEC_CHANNEL_KEEPALIVE_MIN_MS && ms <= VMSEC_CHANNEL_KEEPALIVE_MAX_MS);
}

int vmsec_channel_config_set_keepalive(vmsec_channel_config *cfg, unsigned int interval_ms, unsigned int dead_after_ms)
{
    CFG_CHECK("vmsec_channel_config_set_keepalive");
    if (!keepalive_range_ok(interval_ms) || !keepalive_range_ok(dead_after_ms))
        return vmsec__error(VMSEC_EINVAL, "keep-alive interval %u ms / dead-peer timeout %u ms: each is 0 (off) or %u..%u ms",
                            interval_ms, dead_after_ms, VMSEC_CHANNEL_KEEPALIVE_MIN_MS, VMSEC_CHANNEL_KEEPALIVE_MAX_MS);
    /* a keep-alive sent a little late (the caller's tick came late, the peer was busy) must not
     * make the other side declare us dead: the timeout spans at least two intervals */
    if (interval_ms && dead_after_ms && dead_after_ms / 2 < interval_ms)
        return vmsec__error(VMSEC_EINVAL, "dead-peer timeout %u ms must be at least twice the keep-alive interval %u ms",
                            dead_after_ms, interval_ms);
    cfg->keepalive_ms = interval_ms;
    cfg->dead_after_ms = dead_after_ms;
    return 0;
}

int vmsec_channel_config_set_rekey_time(vmsec_channel_config *cfg, unsigned int seconds)
{
    CFG_CHECK("vmsec_channel_config_set_rekey_time");
    if (seconds > VMSEC_CHANNEL_REKEY_TIME_MAX)
        return vmsec__error(VMSEC_EINVAL, "rekey time %u s exceeds the maximum of %u s", seconds,
                            VMSEC_CHANNEL_REKEY_TIME_MAX);
    cfg->rekey_time_s = seconds;
    return 0;
}

int vmsec_channel_config_set_protocol_version(vmsec_channel_config *cfg, unsigned int version)
{
    CFG_CHECK("vmsec_channel_config_set_protocol_version");
    if (version != 1 && version != 2)
        return vmsec__error(VMSEC_EUNSUPPORTED, "channel protocol version %u is not supported (1 or 2)", version);
    cfg->version = version;
    return 0;
}
