/* SPDX-License-Identifier: ISC */
/* Cases of the check_engine program: message packing (protocol version 2, REC_PACKED). Several
 * messages share a record, the receiver hands them out one by one, and a malformed packed record
 * fails closed before any of its entries is released. */
#include <stdlib.h>
#include <string.h>

#include <vmsec.h>

#include "channel/channel_internal.h"
#include "check_engine.h"

#define PROTO "Noise_XX_25519_ChaChaPoly_BLAKE2b"
#define REC_MORE 0x00
#define REC_LAST 0x01
#define REC_PACKED 0x05
#define OVERHEAD (2 + 1 + 16) /* frame length, type byte, tag */

/* A pair speaking the given protocol version, handshake done. */
static void open_version(pair *p, unsigned int version, uint64_t rekey)
{
    vmsec_channel_config *ci = make_cfg(PROTO, VMSEC_ROLE_INITIATOR), *cr = make_cfg(PROTO, VMSEC_ROLE_RESPONDER);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(ci, version), 0);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(cr, version), 0);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_interval(ci, rekey), 0);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_interval(cr, rekey), 0);
    memset(p, 0, sizeof(*p));
    ck_assert_int_eq(vmsec_engine_new(&p->i, ci, VMSEC_ROLE_INITIATOR), 0);
    ck_assert_int_eq(vmsec_engine_new(&p->r, cr, VMSEC_ROLE_RESPONDER), 0);
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
    pump(p);
    ck_assert_int_eq(vmsec_engine_state(p->i), VMSEC_STATE_OPEN);
    ck_assert_int_eq(vmsec_engine_state(p->r), VMSEC_STATE_OPEN);
}

/* The frame lengths in the initiator's output (without consuming it); returns their number. */
static size_t frames(pair *p, size_t *lens, size_t cap)
{
    const uint8_t *buf;
    size_t len, off = 0, n = 0;
    ck_assert_int_eq(vmsec_engine_output(p->i, &buf, &len), 0);
    while (off < len) {
        size_t f = (size_t)buf[off] << 8 | buf[off + 1];
        if (n < cap)
            lens[n] = f;
        n++;
        off += 2 + f;
    }
    ck_assert_uint_eq(off, len);
    return n;
}

/* Message i of a test stream: size sizes[i], bytes derived from i. */
static void fill(uint8_t *buf, size_t len, size_t i)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(i * 31 + k);
}

static void expect(vmsec_engine *e, size_t i, size_t want, uint8_t *buf, uint8_t *ref, size_t cap)
{
    size_t len = 0;
    int rc = vmsec_engine_recv(e, buf, cap, &len);
    ck_assert_msg(rc == 0, "message %zu: %d %s", i, rc, vmsec_error_last());
    ck_assert_msg(len == want, "message %zu: %zu bytes, want %zu", i, len, want);
    fill(ref, want, i);
    if (want)
        ck_assert_mem_eq(buf, ref, want);
}

/* Sizes around every limit: empty, the packing cap (8 KiB), a record's payload, and many small. */
static const size_t mixed[] = {0,     1,     0,     64,    8190,  8191,  8192,  8193,  0,     65516, 65517,
                               65518, 65519, 64,    1024,  0,     100000, 3,    8192,  8192,  8192,  8192,
                               8192,  8192,  8192,  8192,  7,     131036, 0,     2,     65500, 1};

static void run_mixed(unsigned int version, uint64_t rekey, int mode)
{
    size_t n = sizeof(mixed) / sizeof(mixed[0]), rounds = 3, total = n * rounds;
    uint8_t *buf = malloc(140000), *ref = malloc(140000);
    pair p;
    open_version(&p, version, rekey);
    for (size_t i = 0; i < total; i++) {
        size_t len = mixed[i % n];
        int rc;
        fill(buf, len, i);
        /* mode 0: MORE on all but every fifth; 1: never MORE, pump only every seventh (output
         * stays pending, so messages pack automatically); 2: MORE always, flush every ninth */
        if (mode == 0)
            rc = i % 5 == 4 ? vmsec_engine_send(p.i, buf, len) : vmsec_engine_send_more(p.i, buf, len);
        else if (mode == 1)
            rc = vmsec_engine_send(p.i, buf, len);
        else
            rc = vmsec_engine_send_more(p.i, buf, len);
        ck_assert_msg(rc == 0, "send %zu: %s", i, vmsec_error_last());
        if (mode == 2 && i % 9 == 8)
            ck_assert_int_eq(vmsec_engine_flush(p.i), 0);
        if ((mode == 1 && i % 7 == 6) || (mode != 1 && i % 13 == 12))
            pump(&p);
    }
    ck_assert_int_eq(vmsec_engine_flush(p.i), 0);
    ck_assert_int_eq(vmsec_engine_close(p.i), 0);
    for (size_t i = 0; i < total;) {
        size_t len = 0;
        int rc = vmsec_engine_recv(p.r, buf, 140000, &len);
        if (rc == VMSEC_EAGAIN) {
            size_t before = vmsec_engine_output_pending(p.i);
            pump(&p);
            ck_assert_msg(before > 0, "stuck at message %zu", i);
            ck_assert_int_eq(p.rc_r, 0);
            continue;
        }
        ck_assert_msg(rc == 0, "message %zu: %s", i, vmsec_error_last());
        ck_assert_msg(len == mixed[i % n], "message %zu: %zu bytes, want %zu", i, len, mixed[i % n]);
        fill(ref, len, i);
        if (len)
            ck_assert_mem_eq(buf, ref, len);
        i++;
    }
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.r, buf, 140000, &(size_t){0}), VMSEC_ECLOSED);
    pair_free(&p);
    free(buf);
    free(ref);
}

START_TEST(packed_messages_keep_their_boundaries)
{
    for (int mode = 0; mode < 3; mode++) {
        run_mixed(2, 0, mode);
        run_mixed(2, 3, mode); /* a packed record counts as one record for rekeying */
        run_mixed(1, 0, mode);
    }
}
END_TEST

START_TEST(many_empty_messages_fill_more_than_one_record)
{
    size_t n = 40000, lens[4], got = 0, len;
    pair p;
    open_version(&p, 2, 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(vmsec_engine_send_more(p.i, NULL, 0), 0);
    ck_assert_int_eq(vmsec_engine_flush(p.i), 0);
    /* 2 bytes per entry: the first record is full (32759 entries), the second holds the rest */
    ck_assert_uint_eq(frames(&p, lens, 4), 2);
    ck_assert_uint_eq(lens[0], 1 + 65518 + 16);
    ck_assert_uint_eq(lens[1], 1 + 2 * (n - 32759) + 16);
    pump(&p);
    while (vmsec_engine_recv(p.r, NULL, 0, &len) == 0) {
        ck_assert_uint_eq(len, 0);
        got++;
        if (got % 1000 == 0)
            pump(&p);
    }
    ck_assert_uint_eq(got, n);
    pair_free(&p);
}
END_TEST

START_TEST(explicit_more_is_held_until_flush_and_a_lone_message_goes_at_once)
{
    uint8_t buf[64], ref[64];
    size_t lens[8], len;
    const uint8_t *out;
    pair p;
    open_version(&p, 2, 0);
    /* a lone message: its own record at once, exactly as in version 1 */
    fill(buf, 10, 0);
    ck_assert_int_eq(vmsec_engine_send(p.i, buf, 10), 0);
    ck_assert_uint_eq(frames(&p, lens, 8), 1);
    ck_assert_uint_eq(lens[0], 1 + 10 + 16);
    pump(&p);
    expect(p.r, 0, 10, buf, ref, sizeof(buf));
    /* more follows: held out of the output (but counted as pending) until flushed */
    for (size_t i = 1; i <= 3; i++) {
        fill(buf, 5 * i, i);
        ck_assert_int_eq(vmsec_engine_send_more(p.i, buf, 5 * i), 0);
    }
    ck_assert_int_eq(vmsec_engine_output(p.i, &out, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), OVERHEAD + 3 * 2 + 30);
    ck_assert_int_eq(vmsec_engine_flush(p.i), 0);
    ck_assert_uint_eq(frames(&p, lens, 8), 1);
    ck_assert_uint_eq(lens[0], 1 + 3 * 2 + 30 + 16);
    ck_assert_int_eq(vmsec_engine_flush(p.i), 0); /* nothing held: nothing more */
    ck_assert_uint_eq(frames(&p, lens, 8), 1);
    pump(&p);
    for (size_t i = 1; i <= 3; i++)
        expect(p.r, i, 5 * i, buf, ref, sizeof(buf));
    ck_assert_int_eq(vmsec_engine_recv(p.r, buf, sizeof(buf), &len), VMSEC_EAGAIN);
    /* a send without "more" seals the held pack with itself in it */
    for (size_t i = 4; i <= 6; i++) {
        fill(buf, i, i);
        ck_assert_int_eq(i < 6 ? vmsec_engine_send_more(p.i, buf, i) : vmsec_engine_send(p.i, buf, i), 0);
    }
    ck_assert_uint_eq(frames(&p, lens, 8), 1);
    ck_assert_uint_eq(lens[0], 1 + 3 * 2 + 15 + 16);
    pump(&p);
    for (size_t i = 4; i <= 6; i++)
        expect(p.r, i, i, buf, ref, sizeof(buf));
    pair_free(&p);
}
END_TEST

START_TEST(messages_queued_behind_pending_output_are_packed)
{
    uint8_t buf[64], ref[64];
    size_t lens[8];
    pair p;
    open_version(&p, 2, 0);
    for (size_t i = 0; i < 5; i++) {
        fill(buf, 20, i);
        ck_assert_int_eq(vmsec_engine_send(p.i, buf, 20), 0);
    }
    /* the first went alone; the four queued behind it share one record, sealed by output() */
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), (OVERHEAD + 20) + (OVERHEAD + 4 * 22));
    ck_assert_uint_eq(frames(&p, lens, 8), 2);
    ck_assert_uint_eq(lens[0], 1 + 20 + 16);
    ck_assert_uint_eq(lens[1], 1 + 4 * 22 + 16);
    /* while that output is not consumed, the next message is a new pack behind it */
    fill(buf, 20, 5);
    ck_assert_int_eq(vmsec_engine_send(p.i, buf, 20), 0);
    ck_assert_uint_eq(frames(&p, lens, 8), 3);
    pump(&p);
    for (size_t i = 0; i < 6; i++)
        expect(p.r, i, 20, buf, ref, sizeof(buf));
    pair_free(&p);
}
END_TEST

START_TEST(large_messages_and_close_notify_keep_their_order)
{
    size_t sizes[] = {3, 70000, 4, 9000, 5, 0}, n = 6, len;
    uint8_t *buf = malloc(70000), *ref = malloc(70000);
    pair p;
    open_version(&p, 2, 0);
    for (size_t i = 0; i < n; i++) {
        fill(buf, sizes[i], i);
        ck_assert_int_eq(vmsec_engine_send_more(p.i, buf, sizes[i]), 0);
    }
    ck_assert_int_eq(vmsec_engine_close(p.i), 0); /* seals the held pack before close_notify */
    ck_assert_int_eq(vmsec_engine_send(p.i, buf, 1), VMSEC_ESTATE);
    pump(&p);
    for (size_t i = 0; i < n; i++)
        expect(p.r, i, sizes[i], buf, ref, 70000);
    ck_assert_int_eq(vmsec_engine_recv(p.r, buf, 70000, &len), VMSEC_ECLOSED);
    pair_free(&p);
    free(buf);
    free(ref);
}
END_TEST

START_TEST(too_small_a_buffer_keeps_the_packed_entry)
{
    uint8_t buf[32], ref[32];
    size_t len;
    pair p;
    open_version(&p, 2, 0);
    fill(buf, 10, 0);
    ck_assert_int_eq(vmsec_engine_send_more(p.i, buf, 10), 0);
    fill(buf, 20, 1);
    ck_assert_int_eq(vmsec_engine_send(p.i, buf, 20), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.r, buf, 5, &len), VMSEC_ETOOBIG);
    ck_assert_uint_eq(len, 10);
    expect(p.r, 0, 10, buf, ref, 10);
    ck_assert_int_eq(vmsec_engine_recv(p.r, buf, 19, &len), VMSEC_ETOOBIG);
    ck_assert_uint_eq(len, 20);
    expect(p.r, 1, 20, buf, ref, 20);
    ck_assert_int_eq(vmsec_engine_recv(p.r, buf, 32, &len), VMSEC_EAGAIN);
    pair_free(&p);
}
END_TEST

START_TEST(eof_after_a_packed_record_delivers_every_entry_first)
{
    uint8_t buf[32], ref[32];
    pair p;
    open_version(&p, 2, 0);
    for (size_t i = 0; i < 3; i++) {
        fill(buf, 8, i);
        ck_assert_int_eq(vmsec_engine_send_more(p.i, buf, 8), 0);
    }
    ck_assert_int_eq(vmsec_engine_flush(p.i), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_input_eof(p.r), 0);
    for (size_t i = 0; i < 3; i++)
        expect(p.r, i, 8, buf, ref, sizeof(buf));
    ck_assert_int_eq(vmsec_engine_recv(p.r, buf, sizeof(buf), &(size_t){0}), VMSEC_ETRUNCATED);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "without close_notify"));
    pair_free(&p);
}
END_TEST

/* Forges one record from the initiator, feeds it, and expects the responder to fail with code and
 * a message naming why, releasing nothing. prefix: a record sealed before it (REC_MORE), or none. */
static void forged(unsigned int version, size_t max, int prefix, const uint8_t *data, size_t len, int code,
                   const char *why)
{
    pair p;
    size_t got;
    uint8_t buf[256];
    max_override = max;
    open_version(&p, version, 0);
    max_override = 0;
    if (prefix)
        ck_assert_int_eq(vmsec__engine_test_seal(p.i, REC_MORE, (const uint8_t *)"abc", 3), 0);
    ck_assert_int_eq(vmsec__engine_test_seal(p.i, REC_PACKED, data, len), 0);
    pump(&p);
    ck_assert_msg(p.rc_r == code, "%s: got %d (%s)", why, p.rc_r, vmsec_error_last());
    ck_assert_msg(strstr(vmsec_error_last(), why), "want '%s' in '%s'", why, vmsec_error_last());
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_FAILED);
    ck_assert_int_eq(vmsec_engine_recv(p.r, buf, sizeof(buf), &got), VMSEC_ESTATE);
    ck_assert_uint_eq(got, 0);
    pair_free(&p);
}

START_TEST(malformed_packed_records_fail_closed)
{
    /* a valid first entry never escapes a record whose later entries are bad */
    static const uint8_t past_end[] = {0, 2, 'o', 'k', 0, 9, 'x', 'y'}, stray[] = {0, 2, 'o', 'k', 0},
                         ok[] = {0, 3, 'a', 'b', 'c'}, big[] = {0, 200};
    uint8_t over[2 + 200] = {0, 200}, fits[5 * 60];
    forged(2, 0, 0, NULL, 0, VMSEC_EPROTO, "empty packed record");
    forged(2, 0, 0, past_end, sizeof(past_end), VMSEC_EPROTO, "runs past its end");
    forged(2, 0, 0, big, sizeof(big), VMSEC_EPROTO, "runs past its end");
    forged(2, 0, 0, stray, sizeof(stray), VMSEC_EPROTO, "stray bytes");
    forged(2, 0, 1, ok, sizeof(ok), VMSEC_EPROTO, "inside a fragmented message");
    forged(2, 100, 0, over, sizeof(over), VMSEC_EPEERTOOBIG, "exceeds the maximum of 100");
    forged(1, 0, 0, ok, sizeof(ok), VMSEC_EPROTO, "unknown record type 0x05");
    /* the receiver's maximum limits each message, not the record: five 58-byte entries pass 100 */
    {
        pair p;
        uint8_t buf[100];
        size_t len;
        memset(fits, 0, sizeof(fits));
        for (size_t k = 0; k < 5; k++)
            fits[k * 60 + 1] = 58;
        max_override = 100;
        open_version(&p, 2, 0);
        max_override = 0;
        ck_assert_int_eq(vmsec__engine_test_seal(p.i, REC_PACKED, fits, sizeof(fits)), 0);
        pump(&p);
        ck_assert_int_eq(p.rc_r, 0);
        for (size_t k = 0; k < 5; k++) {
            ck_assert_int_eq(vmsec_engine_recv(p.r, buf, sizeof(buf), &len), 0);
            ck_assert_uint_eq(len, 58);
        }
        pair_free(&p);
    }
}
END_TEST

START_TEST(version_1_never_packs)
{
    uint8_t buf[16] = {0};
    size_t lens[8];
    pair p;
    open_version(&p, 1, 0);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(vmsec_engine_send_more(p.i, buf, 16), 0);
    ck_assert_int_eq(vmsec_engine_send(p.i, buf, 16), 0);
    ck_assert_int_eq(vmsec_engine_flush(p.i), 0);
    ck_assert_uint_eq(frames(&p, lens, 8), 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq(lens[i], 1 + 16 + 16);
    pump(&p);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(vmsec_engine_recv(p.r, buf, 16, &lens[0]), 0);
    pair_free(&p);
}
END_TEST

/* A pack takes one data nonce; a message that would need the nonce kept for close_notify is
 * refused, and close still seals the open pack before close_notify. */
START_TEST(packs_respect_the_nonce_limit)
{
    uint8_t small[16] = {1}, big[9000] = {2}, out[9000];
    size_t len;
    pair p;
    open_version(&p, 2, 0);
    vmsec__engine_test_set_nonces(p.i, UINT64_MAX - 3, 0);
    vmsec__engine_test_set_nonces(p.r, 0, UINT64_MAX - 3);
    ck_assert_int_eq(vmsec_engine_send_more(p.i, small, sizeof(small)), 0); /* the pack: 2^64-4 */
    ck_assert_int_eq(vmsec_engine_send_more(p.i, small, sizeof(small)), 0);
    ck_assert_int_eq(vmsec_engine_send(p.i, big, sizeof(big)), 0); /* 2^64-3, the last data nonce */
    ck_assert_int_eq(vmsec_engine_send_more(p.i, small, sizeof(small)), VMSEC_ESTATE);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "nonce space exhausted"));
    ck_assert_int_eq(vmsec_engine_close(p.i), 0);
    pump(&p);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), 0);
        ck_assert_uint_eq(len, i < 2 ? sizeof(small) : sizeof(big));
    }
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ECLOSED);
    pair_free(&p);
    /* the pack holds the last data nonce: a message needing one more record is refused */
    open_version(&p, 2, 0);
    vmsec__engine_test_set_nonces(p.i, UINT64_MAX - 2, 0);
    vmsec__engine_test_set_nonces(p.r, 0, UINT64_MAX - 2);
    ck_assert_int_eq(vmsec_engine_send_more(p.i, small, sizeof(small)), 0);
    ck_assert_int_eq(vmsec_engine_send(p.i, big, sizeof(big)), VMSEC_ESTATE);
    ck_assert_int_eq(vmsec_engine_close(p.i), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, sizeof(small));
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ECLOSED);
    pair_free(&p);
}
END_TEST

void engine_add_pack_tests(TCase *tc)
{
    tcase_add_test(tc, packed_messages_keep_their_boundaries);
    tcase_add_test(tc, many_empty_messages_fill_more_than_one_record);
    tcase_add_test(tc, explicit_more_is_held_until_flush_and_a_lone_message_goes_at_once);
    tcase_add_test(tc, messages_queued_behind_pending_output_are_packed);
    tcase_add_test(tc, large_messages_and_close_notify_keep_their_order);
    tcase_add_test(tc, too_small_a_buffer_keeps_the_packed_entry);
    tcase_add_test(tc, eof_after_a_packed_record_delivers_every_entry_first);
    tcase_add_test(tc, malformed_packed_records_fail_closed);
    tcase_add_test(tc, version_1_never_packs);
    tcase_add_test(tc, packs_respect_the_nonce_limit);
}
