/* SPDX-License-Identifier: ISC */
/* check_engine cases that attack the bytes on the wire: bit flips and truncation at every offset of
 * the handshake and of transport messages, replay and reordering, bad lengths, random edits. Every
 * one must fail closed: no altered message is ever delivered. */
#include <sodium.h>

#include "check_engine.h"
#include "common/internal.h"

/* Handshake under attack: `mutate` edits the bytes of handshake flight `which` (0-based, the
 * announcement counts as part of flight 0) before delivery. Returns true when the attack was
 * caught: no message ever flows, and the engine that received the bad flight or its peer failed. */
typedef size_t (*mutate_fn)(uint8_t *buf, size_t len, size_t arg);

static size_t flip(uint8_t *buf, size_t len, size_t off)
{
    buf[off] ^= (uint8_t)(1u << (off % 8));
    return len;
}

static size_t cut(uint8_t *buf, size_t len, size_t at)
{
    (void)buf;
    (void)len;
    return at;
}

/* Runs a handshake, mutating flight `which`; returns that flight's length (0 when past the last). */
static size_t attacked_handshake(const char *protocol, int which, mutate_fn mutate, size_t arg)
{
    pair p;
    int flight = 0;
    size_t flen = 0;
    bool mutated = false;
    pair_open(&p, protocol);
    for (;;) {
        vmsec_engine *from = flight % 2 ? p.r : p.i, *to = flight % 2 ? p.i : p.r;
        const uint8_t *buf;
        size_t len, used;
        uint8_t copy[4096];
        int rc;
        vmsec_engine_output(from, &buf, &len);
        if (len == 0)
            break;
        ck_assert_uint_le(len, sizeof(copy));
        memcpy(copy, buf, len);
        vmsec_engine_output_consume(from, len);
        if (flight == which) {
            flen = len;
            if (arg >= len)
                break;
            len = mutate(copy, len, arg);
            mutated = true;
        }
        rc = vmsec_engine_feed(to, copy, len, &used);
        if (rc < 0)
            break;
        if (mutated && mutate == cut)
            break; /* a cut stream ends there */
        flight++;
    }
    if (mutated) {
        uint8_t out[64];
        size_t olen;
        /* the stream ends for both; nobody may hold an open channel with a message to show */
        vmsec_engine_input_eof(p.i);
        vmsec_engine_input_eof(p.r);
        ck_assert_msg(vmsec_engine_state(p.i) != VMSEC_STATE_OPEN || vmsec_engine_state(p.r) != VMSEC_STATE_OPEN,
                      "%s flight %d offset %zu: both sides open", protocol, which, arg);
        ck_assert(vmsec_engine_state(p.i) == VMSEC_STATE_FAILED || vmsec_engine_state(p.r) == VMSEC_STATE_FAILED);
        ck_assert_int_ne(vmsec_engine_recv(p.i, out, sizeof(out), &olen), 0);
        ck_assert_int_ne(vmsec_engine_recv(p.r, out, sizeof(out), &olen), 0);
        ck_assert_int_ne(vmsec_engine_send(p.i, out, 1), 0);
        ck_assert_int_ne(vmsec_engine_send(p.r, out, 1), 0);
    }
    pair_free(&p);
    return flen;
}

static const char *attack_protocols[] = {"Noise_XX_25519_ChaChaPoly_BLAKE2b", "Noise_IK_25519_ChaChaPoly_SHA256",
                                         "Noise_KK_25519_ChaChaPoly_SHA512", "Noise_NK_25519_ChaChaPoly_BLAKE2b",
                                         "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b",
                                         "Noise_XXpsk3_25519_ChaChaPoly_SHA256"};

static void attack_every_byte(mutate_fn mutate)
{
    size_t nproto = quick ? 1 : VMSEC_ARRAY_LEN(attack_protocols);
    for (size_t pi = 0; pi < nproto; pi++) {
        int flights = 0;
        for (int which = 0; which < 3; which++) {
            size_t len = attacked_handshake(attack_protocols[pi], which, mutate, 0), off;
            if (len == 0)
                break;
            flights++;
            for (off = 1; off < len; off++)
                attacked_handshake(attack_protocols[pi], which, mutate, off);
        }
        ck_assert_int_ge(flights, 2);
    }
}

START_TEST(handshake_bit_flip_at_every_offset_fails_closed)
{
    attack_every_byte(flip);
}
END_TEST

START_TEST(handshake_truncation_at_every_offset_fails_closed)
{
    attack_every_byte(cut);
}
END_TEST

/* Transport messages under attack: three messages m1 m2 m3 from initiator to responder. */
static void open_and_capture(pair *p, uint8_t frames[3][256], size_t flen[3])
{
    const uint8_t *buf;
    size_t len;
    pair_open(p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    pump(p);
    for (int k = 0; k < 3; k++) {
        uint8_t msg[40];
        memset(msg, 'a' + k, sizeof(msg));
        ck_assert_int_eq(vmsec_engine_send(p->i, msg, sizeof(msg)), 0);
        vmsec_engine_output(p->i, &buf, &len);
        ck_assert_uint_le(len, 256);
        memcpy(frames[k], buf, len);
        flen[k] = len;
        vmsec_engine_output_consume(p->i, len);
    }
}

static void expect_dead(vmsec_engine *r)
{
    uint8_t out[64];
    size_t len;
    vmsec_engine_input_eof(r);
    ck_assert_int_eq(vmsec_engine_state(r), VMSEC_STATE_FAILED);
    ck_assert_int_eq(vmsec_engine_recv(r, out, sizeof(out), &len), VMSEC_ESTATE);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "failed earlier"));
    ck_assert_int_eq(vmsec_engine_send(r, out, 1), VMSEC_ESTATE);
}

START_TEST(transport_bit_flip_and_truncation_at_every_offset_fail_closed)
{
    uint8_t frames[3][256], copy[256], out[64];
    size_t flen[3], used, len;
    for (int mode = 0; mode < 2; mode++) {
        for (size_t off = 0;; off++) {
            pair p;
            open_and_capture(&p, frames, flen);
            if (off >= flen[0]) {
                pair_free(&p);
                break;
            }
            memcpy(copy, frames[0], flen[0]);
            if (mode == 0)
                flip(copy, flen[0], off);
            vmsec_engine_feed(p.r, copy, mode == 0 ? flen[0] : off, &used);
            ck_assert_int_ne(vmsec_engine_recv(p.r, out, sizeof(out), &len), 0);
            expect_dead(p.r);
            pair_free(&p);
        }
    }
}
END_TEST

static void feed_sequence(const int *order, size_t n, int want)
{
    pair p;
    uint8_t frames[3][256], out[64];
    size_t flen[3], used, len;
    int rc = 0;
    open_and_capture(&p, frames, flen);
    for (size_t k = 0; k < n && rc == 0; k++) {
        rc = vmsec_engine_feed(p.r, frames[order[k]], flen[order[k]], &used);
        while (rc == 0 && vmsec_engine_recv(p.r, out, sizeof(out), &len) == 0)
            ck_assert_int_eq(out[0], 'a' + order[k]); /* only the authentic, in-order message */
    }
    ck_assert_int_eq(rc, want);
    expect_dead(p.r);
    pair_free(&p);
}

START_TEST(replayed_reordered_duplicated_or_dropped_messages_fail_closed)
{
    const int dup[] = {0, 0}, reorder[] = {1, 0}, replay[] = {0, 1, 0}, drop[] = {0, 2};
    feed_sequence(dup, 2, VMSEC_EAUTH);
    feed_sequence(reorder, 2, VMSEC_EAUTH);
    feed_sequence(replay, 3, VMSEC_EAUTH);
    feed_sequence(drop, 2, VMSEC_EAUTH);
}
END_TEST

START_TEST(bad_lengths_fail_closed)
{
    pair p;
    const uint8_t tiny[] = {0x00, 0x10}, zero[] = {0, 0};
    size_t used;
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_feed(p.r, tiny, sizeof(tiny), &used), VMSEC_EPROTO);
    expect_dead(p.r);
    pair_free(&p);
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_feed(p.i, zero, sizeof(zero), &used), VMSEC_EPROTO);
    expect_dead(p.i);
    pair_free(&p);
}
END_TEST

/* Random multi-byte edits (changes, insertions, deletions) of a stream of transport messages:
 * whatever the responder delivers is exactly a prefix of what was sent, never an altered message. */
static size_t mutate_random(uint8_t *buf, size_t len, size_t cap)
{
    int edits = 1 + (int)randombytes_uniform(4);
    for (int k = 0; k < edits && len > 0; k++) {
        size_t at = randombytes_uniform((uint32_t)len);
        switch (randombytes_uniform(3)) {
        case 0:
            buf[at] ^= (uint8_t)(1 + randombytes_uniform(255));
            break;
        case 1:
            if (len < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)randombytes_uniform(256);
                len++;
            }
            break;
        default:
            memmove(buf + at, buf + at + 1, len - at - 1);
            len--;
        }
    }
    return len;
}

START_TEST(random_edits_never_release_altered_plaintext)
{
    enum { NMSG = 6 };
    static uint8_t stream[400000];
    int iterations = quick ? 30 : 400;
    for (int it = 0; it < iterations; it++) {
        pair p;
        uint8_t msgs[NMSG][70000], out[70000];
        size_t sizes[NMSG], len, used, delivered = 0;
        const uint8_t *buf;
        int rc;
        pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
        pump(&p);
        for (int k = 0; k < NMSG; k++) {
            sizes[k] = k == 2 ? 66000 : randombytes_uniform(300);
            randombytes_buf(msgs[k], sizes[k]);
            ck_assert_int_eq(vmsec_engine_send(p.i, msgs[k], sizes[k]), 0);
        }
        ck_assert_int_eq(vmsec_engine_close(p.i), 0);
        vmsec_engine_output(p.i, &buf, &len);
        memcpy(stream, buf, len);
        len = mutate_random(stream, len, sizeof(stream));
        rc = vmsec_engine_feed(p.r, stream, len, &used);
        for (;;) {
            size_t glen;
            int r = vmsec_engine_recv(p.r, out, sizeof(out), &glen);
            if (r != 0)
                break;
            ck_assert_uint_lt(delivered, NMSG);
            ck_assert_uint_eq(glen, sizes[delivered]);
            ck_assert_int_eq(memcmp(out, msgs[delivered], glen), 0);
            delivered++;
        }
        (void)rc;
        /* the stream ends: clean only if it was the untouched stream (an edit that changed nothing) */
        if (vmsec_engine_input_eof(p.r) == 0)
            ck_assert_uint_eq(delivered, NMSG);
        else
            ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_FAILED);
        pair_free(&p);
    }
}
END_TEST

void engine_add_fail_closed_tests(TCase *tc)
{
    tcase_add_test(tc, handshake_bit_flip_at_every_offset_fails_closed);
    tcase_add_test(tc, handshake_truncation_at_every_offset_fails_closed);
    tcase_add_test(tc, transport_bit_flip_and_truncation_at_every_offset_fail_closed);
    tcase_add_test(tc, replayed_reordered_duplicated_or_dropped_messages_fail_closed);
    tcase_add_test(tc, bad_lengths_fail_closed);
}

void engine_add_random_edits_test(TCase *tc)
{
    tcase_add_test(tc, random_edits_never_release_altered_plaintext);
}
