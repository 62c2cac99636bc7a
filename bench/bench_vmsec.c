/* SPDX-License-Identifier: ISC */
/* vmsec contenders for the throughput and handshake benchmarks, written as a user would write them:
 * public API only (vmsec_channel over the socket for throughput, the sans-IO engine for handshakes). */
#include <stdio.h>
#include <stdlib.h>

#include <vmsec.h>

#include "bench.h"
#include "bench_handshake.h"
#include "bench_transport.h"

/* Built a second time against the library compiled with another AEAD backend (mk/aead.am): its
 * contenders' names and ids say so. */
#ifdef BENCH_AEAD_VARIANT
#define VARIANT_NAME " (" BENCH_AEAD_VARIANT " AEAD)"
#define VARIANT_ID "-" BENCH_AEAD_VARIANT
#else
#define VARIANT_NAME ""
#define VARIANT_ID ""
#endif

static vmsec_keypair *kp_init, *kp_resp;
static uint8_t pub_init[32], pub_resp[32];

static void keys_once(void)
{
    if (kp_init)
        return;
    if (vmsec_keypair_generate(&kp_init) < 0 || vmsec_keypair_generate(&kp_resp) < 0)
        bench_die(vmsec_error_last());
    vmsec_keypair_public(kp_init, pub_init, 32);
    vmsec_keypair_public(kp_resp, pub_resp, 32);
}

/* A configuration for one side: its own key, the other side trusted, the given protocol. */
static vmsec_channel_config *config(const char *protocol, int initiator)
{
    vmsec_channel_config *cfg;
    keys_once();
    if (vmsec_channel_config_new(&cfg) < 0 ||
        vmsec_channel_config_set_keypair(cfg, initiator ? kp_init : kp_resp) < 0 ||
        vmsec_channel_config_set_protocol(cfg, protocol) < 0 ||
        vmsec_channel_config_add_trusted_peer(cfg, initiator ? pub_resp : pub_init, 32) < 0 ||
        (initiator && vmsec_channel_config_set_peer_key(cfg, pub_resp, 32) < 0))
        bench_die(vmsec_error_last());
    return cfg;
}

/* ---- throughput ---------------------------------------------------------------------------------- */

/* The protocol name of a contender named "vmsec <protocol>[ (note)]". */
static const char *protocol_of(const struct contender *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", c->name + strlen("vmsec "));
    buf[strcspn(buf, " ")] = '\0';
    return buf;
}

/* One end: the channel and how many bytes the current batch holds, counted as
 * tls-*+batch counts them (bench_transport.c), so that both flush at the same messages. */
struct vm {
    vmsec_channel *ch;
    size_t batched;
};

static void *vm_open(const struct contender *c, int fd, int server)
{
    char proto[64];
    vmsec_channel_config *cfg = config(protocol_of(c, proto, sizeof(proto)), !server);
    struct vm *v = calloc(1, sizeof(*v));
    if (!v || vmsec_channel_new(&v->ch, cfg, fd, server ? VMSEC_ROLE_RESPONDER : VMSEC_ROLE_INITIATOR, 0) < 0 ||
        vmsec_channel_handshake(v->ch) < 0)
        bench_die(vmsec_error_last());
    vmsec_channel_config_free(cfg);
    return v;
}

static int vm_flush(void *p)
{
    struct vm *v = p;
    v->batched = 0;
    return vmsec_channel_flush(v->ch);
}

/* As tls-*+batch: a message that fits a batch joins it (VMSEC_SEND_MORE), after flushing the
 * batch if it would overflow; a larger one flushes the batch and is sent at once. */
static int vm_send(void *p, const uint8_t *msg, size_t len)
{
    struct vm *v = p;
    if (len + 4 > BENCH_BATCH) {
        if (vm_flush(v) < 0)
            return -1;
        return vmsec_channel_send(v->ch, msg, len, 0);
    }
    if (v->batched + len + 4 > BENCH_BATCH && vm_flush(v) < 0)
        return -1;
    v->batched += len + 4;
    return vmsec_channel_send(v->ch, msg, len, VMSEC_SEND_MORE);
}

static ssize_t vm_recv(void *p, uint8_t *out, size_t cap)
{
    struct vm *v = p;
    size_t len;
    int rc = vmsec_channel_recv(v->ch, out, cap, &len);
    return rc < 0 ? -1 : (ssize_t)len;
}

static void vm_close(void *p)
{
    struct vm *v = p;
    vmsec_channel_close(v->ch);
    vmsec_channel_free(v->ch);
    free(v);
}

#define VM(proto, id) {"vmsec " proto VARIANT_NAME, id VARIANT_ID, 0, vm_open, vm_send, vm_flush, vm_recv, vm_close}
static const struct contender vm_contenders[] = {
    VM("Noise_XX_25519_ChaChaPoly_BLAKE2b", "vmsec-chachapoly-blake2b"),
    VM("Noise_XX_25519_ChaChaPoly_SHA256", "vmsec-chachapoly-sha256"),
    VM("Noise_XX_25519_AESGCM_BLAKE2b", "vmsec-aesgcm-blake2b"),
    VM("Noise_XX_25519_AESGCM_SHA256", "vmsec-aesgcm-sha256"),
};

size_t bench_vmsec_contenders(const struct contender **out, size_t cap)
{
    size_t n = 0;
    keys_once(); /* before the sender and receiver threads both call config() */
    for (size_t i = 0; i < sizeof(vm_contenders) / sizeof(vm_contenders[0]) && n < cap; i++) {
        vmsec_channel_config *cfg;
        char proto[64];
        if (vmsec_channel_config_new(&cfg) < 0)
            bench_die(vmsec_error_last());
        /* AESGCM is refused where libsodium has no hardware support: leave it out, say so. */
        if (vmsec_channel_config_set_protocol(cfg, protocol_of(&vm_contenders[i], proto, sizeof(proto))) < 0)
            fprintf(stderr, "bench: skipping %s: %s\n", vm_contenders[i].name, vmsec_error_last());
        else
            out[n++] = &vm_contenders[i];
        vmsec_channel_config_free(cfg);
    }
    return n;
}

/* ---- handshakes: two engines, bytes pumped in memory ------------------------------------------- */

struct hs_ctx {
    vmsec_channel_config *ci, *cr;
};

/* Moves everything one engine has to send into the other. */
static void pump(vmsec_engine *from, vmsec_engine *to)
{
    const uint8_t *buf;
    size_t len, used;
    while (vmsec_engine_output(from, &buf, &len) == 0 && len > 0) {
        if (vmsec_engine_feed(to, buf, len, &used) < 0)
            bench_die(vmsec_error_last());
        vmsec_engine_output_consume(from, used);
        if (used == 0)
            break;
    }
}

static double vm_handshake_once(void *arg)
{
    struct hs_ctx *c = arg;
    vmsec_engine *i, *r;
    double t0 = bench_now();
    if (vmsec_engine_new(&i, c->ci, VMSEC_ROLE_INITIATOR) < 0 || vmsec_engine_new(&r, c->cr, VMSEC_ROLE_RESPONDER) < 0)
        bench_die(vmsec_error_last());
    for (int round = 0; round < 8; round++) {
        pump(i, r);
        pump(r, i);
        if (vmsec_engine_state(i) == VMSEC_STATE_OPEN && vmsec_engine_state(r) == VMSEC_STATE_OPEN)
            break;
    }
    t0 = bench_now() - t0;
    if (vmsec_engine_state(i) != VMSEC_STATE_OPEN || vmsec_engine_state(r) != VMSEC_STATE_OPEN)
        bench_die("vmsec handshake did not complete");
    vmsec_engine_free(i);
    vmsec_engine_free(r);
    return t0;
}

/* IK with nothing cached: new configurations for each handshake (made before the clock starts), so
 * neither side has met the other's static key before and both compute "ss". */
static double vm_handshake_first_contact(void *arg)
{
    struct hs_ctx fresh = {config("Noise_IK_25519_ChaChaPoly_BLAKE2b", 1),
                           config("Noise_IK_25519_ChaChaPoly_BLAKE2b", 0)};
    double t = vm_handshake_once(&fresh);
    (void)arg;
    vmsec_channel_config_free(fresh.ci);
    vmsec_channel_config_free(fresh.cr);
    return t;
}

static struct hs_ctx hs_xx, hs_ik;
static struct hs_contender hs_contenders[] = {
    {"vmsec Noise_XX_25519_ChaChaPoly_BLAKE2b", "vmsec-xx", vm_handshake_once, &hs_xx},
    {"vmsec Noise_IK_25519_ChaChaPoly_BLAKE2b", "vmsec-ik", vm_handshake_once, &hs_ik},
    {"vmsec IK, first contact (no ss cached)", "vmsec-ik-first", vm_handshake_first_contact, NULL},
};
#define N_HS (sizeof(hs_contenders) / sizeof(hs_contenders[0]))

size_t bench_vmsec_handshakes(const struct hs_contender **out, size_t cap)
{
    hs_xx.ci = config("Noise_XX_25519_ChaChaPoly_BLAKE2b", 1);
    hs_xx.cr = config("Noise_XX_25519_ChaChaPoly_BLAKE2b", 0);
    hs_ik.ci = config("Noise_IK_25519_ChaChaPoly_BLAKE2b", 1);
    hs_ik.cr = config("Noise_IK_25519_ChaChaPoly_BLAKE2b", 0);
    for (size_t i = 0; i < N_HS && i < cap; i++)
        out[i] = &hs_contenders[i];
    return cap < N_HS ? cap : N_HS;
}
