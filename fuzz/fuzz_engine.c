/* SPDX-License-Identifier: ISC */
/* Fuzz target: the channel engine (vmsec_engine_*) fed hostile bytes in both roles and every state.
 *
 * Input layout: byte 0 chooses the attacked side (bit 0: 0 = responder, 1 = initiator), how many
 * honest handshake flights are exchanged first (bits 1-2), whether the honest peer also sends an
 * application message first (bit 3), and whether the fuzz bytes replace the honest peer's output or
 * are XORed into it (bit 4, a cheap way to reach every field of real records). Byte 1 is the chunk
 * size used to split the hostile bytes (0 means all at once), exercising partial reads.
 *
 * Oracles: the state never goes back (HANDSHAKE -> OPEN -> CLOSED, any -> FAILED, FAILED is final);
 * a feed error leaves the engine FAILED; once FAILED, recv never releases data and feed/send keep
 * failing; XOR mode with an all-zero mask delivers the honest message intact; released messages are
 * never longer than the configured maximum. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmsec.h"

#define MAX_MESSAGE 4096

static vmsec_channel_config *cfg_i, *cfg_r;
static const uint8_t honest_msg[] = "honest application message";

static vmsec_channel_config *make_config(const vmsec_keypair *own, const uint8_t *peer_pub)
{
    vmsec_channel_config *c = NULL;
    FUZZ_ASSERT(vmsec_channel_config_new(&c) == 0);
    FUZZ_ASSERT(vmsec_channel_config_set_keypair(c, own) == 0);
    FUZZ_ASSERT(vmsec_channel_config_add_trusted_peer(c, peer_pub, VMSEC_KEY_BYTES) == 0);
    FUZZ_ASSERT(vmsec_channel_config_set_max_message(c, MAX_MESSAGE) == 0);
    return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    vmsec_keypair *ki = NULL, *kr = NULL;
    uint8_t pi[VMSEC_KEY_BYTES], pr[VMSEC_KEY_BYTES];
    (void)argc;
    (void)argv;
    FUZZ_ASSERT(vmsec_keypair_generate(&ki) == 0 && vmsec_keypair_generate(&kr) == 0);
    FUZZ_ASSERT(vmsec_keypair_public(ki, pi, sizeof(pi)) == 0 && vmsec_keypair_public(kr, pr, sizeof(pr)) == 0);
    cfg_i = make_config(ki, pr);
    cfg_r = make_config(kr, pi);
    vmsec_keypair_free(ki);
    vmsec_keypair_free(kr);
    return 0;
}

/* Legal transitions only: equal, forward in the life cycle, or to FAILED. */
static void check_transition(int before, int after)
{
    FUZZ_ASSERT(after >= VMSEC_STATE_HANDSHAKE && after <= VMSEC_STATE_FAILED);
    if (before == VMSEC_STATE_FAILED)
        FUZZ_ASSERT(after == VMSEC_STATE_FAILED);
    FUZZ_ASSERT(after >= before);
}

/* Moves everything pending from one engine to the other; returns bytes moved. */
static size_t pump(vmsec_engine *from, vmsec_engine *to)
{
    const uint8_t *buf;
    size_t len, moved = 0;
    while (vmsec_engine_output(from, &buf, &len) == 0 && len > 0) {
        size_t used = 0;
        if (vmsec_engine_feed(to, buf, len, &used) != 0)
            return moved;
        FUZZ_ASSERT(vmsec_engine_output_consume(from, used) == 0);
        moved += used;
        if (used < len)
            break;
    }
    return moved;
}

/* Drains released messages, checking they respect the limit and never follow a failure. */
static void drain(vmsec_engine *e)
{
    uint8_t buf[MAX_MESSAGE];
    for (int i = 0; i < 64; i++) {
        size_t len = 0;
        int st = vmsec_engine_state(e);
        int rc = vmsec_engine_recv(e, buf, sizeof(buf), &len);
        if (st == VMSEC_STATE_FAILED)
            FUZZ_ASSERT(rc == VMSEC_ESTATE);
        if (rc != 0)
            break;
        FUZZ_ASSERT(len <= MAX_MESSAGE);
        FUZZ_ASSERT(vmsec_engine_state(e) != VMSEC_STATE_FAILED);
    }
}

static void feed_hostile(vmsec_engine *victim, const uint8_t *data, size_t size, size_t chunk, int eof)
{
    size_t off = 0;
    while (off < size) {
        size_t n = chunk ? (size - off < chunk ? size - off : chunk) : size - off, used = 0;
        int before = vmsec_engine_state(victim);
        int rc = vmsec_engine_feed(victim, data + off, n, &used);
        int after = vmsec_engine_state(victim);
        check_transition(before, after);
        FUZZ_ASSERT(used <= n);
        if (rc != 0) {
            FUZZ_ASSERT(after == VMSEC_STATE_FAILED);
            break;
        }
        drain(victim);
        check_transition(after, vmsec_engine_state(victim));
        if (used == 0 && vmsec_engine_state(victim) != VMSEC_STATE_FAILED) {
            /* Nothing taken even after draining: the engine is full of a message larger than our
             * buffer would allow (it cannot be) or closed; stop rather than spin. */
            break;
        }
        off += used;
    }
    if (eof) {
        vmsec_engine_input_eof(victim);
        drain(victim);
    }
}

static void check_failed_is_final(vmsec_engine *e)
{
    uint8_t b[16];
    size_t len = 0, used = 0;
    if (vmsec_engine_state(e) != VMSEC_STATE_FAILED)
        return;
    FUZZ_ASSERT(vmsec_engine_recv(e, b, sizeof(b), &len) == VMSEC_ESTATE);
    FUZZ_ASSERT(vmsec_engine_feed(e, b, sizeof(b), &used) != 0);
    FUZZ_ASSERT(vmsec_engine_send(e, b, sizeof(b)) != 0);
    FUZZ_ASSERT(vmsec_engine_state(e) == VMSEC_STATE_FAILED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmsec_engine *ini = NULL, *res = NULL;
    if (size < 2)
        return 0;
    int attack_initiator = data[0] & 1, flights = (data[0] >> 1) & 3;
    int honest_first = (data[0] >> 3) & 1, xor_mode = (data[0] >> 4) & 1;
    size_t chunk = data[1];
    data += 2;
    size -= 2;

    FUZZ_ASSERT(vmsec_engine_new(&ini, cfg_i, VMSEC_ROLE_INITIATOR) == 0);
    FUZZ_ASSERT(vmsec_engine_new(&res, cfg_r, VMSEC_ROLE_RESPONDER) == 0);
    vmsec_engine *victim = attack_initiator ? ini : res, *peer = attack_initiator ? res : ini;

    /* Honest flights: 0..3 exchanges (XX completes in three; a fourth pump is harmless). */
    for (int i = 0; i < flights; i++) {
        pump(ini, res);
        pump(res, ini);
    }
    if (flights == 3) {
        pump(ini, res);
        FUZZ_ASSERT(vmsec_engine_state(ini) == VMSEC_STATE_OPEN);
        FUZZ_ASSERT(vmsec_engine_state(res) == VMSEC_STATE_OPEN);
        if (honest_first)
            FUZZ_ASSERT(vmsec_engine_send(peer, honest_msg, sizeof(honest_msg)) == 0);
    }

    if (xor_mode) {
        /* Mutate what the honest peer would send next. */
        const uint8_t *out;
        size_t len = 0;
        int zero = 1;
        if (vmsec_engine_output(peer, &out, &len) == 0 && len > 0) {
            uint8_t *buf = malloc(len);
            FUZZ_ASSERT(buf);
            for (size_t i = 0; i < len; i++) {
                uint8_t m = i < size ? data[i] : 0;
                zero &= m == 0;
                buf[i] = out[i] ^ m;
            }
            int before = vmsec_engine_state(victim);
            feed_hostile(victim, buf, len, chunk, !zero);
            check_transition(before, vmsec_engine_state(victim));
            /* An untouched honest flight is never refused. */
            if (zero)
                FUZZ_ASSERT(vmsec_engine_state(victim) != VMSEC_STATE_FAILED);
            free(buf);
        }
    } else {
        feed_hostile(victim, data, size, chunk, 1);
    }
    check_failed_is_final(victim);

    vmsec_engine_free(ini);
    vmsec_engine_free(res);
    return 0;
}
