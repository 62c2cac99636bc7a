/* SPDX-License-Identifier: ISC */
/* Sans-I/O channel engine: two engines wired together in memory (check_engine_pair.c). Every
 * pattern and suite, message sizes, rekeying, close versus truncation, the wire format and input
 * chunking here; tampering in check_engine_attack.c, peer authentication in check_engine_auth.c,
 * key confirmation (version 2) in check_engine_confirm.c.
 * VMSEC_TEST_QUICK=1 (used under valgrind) limits the exhaustive loops to fewer protocols. */
#include <sodium.h>
#include <sys/stat.h>

#include <vmsec.h>

#include "channel/channel_internal.h"
#include "channel/dhcache.h"
#include "common/internal.h"
#include "channel/noise_crypto.h"
#include "check_engine.h"

static const char *patterns[] = {"XX",   "IK",     "KK",     "NK",   "IKpsk2", "XXpsk3", "NNpsk0", "XK",
                                 "IX",   "KX",     "NX",     "XKpsk3", "NN",   "XN",     "KN",     "IN",
                                 "NK1",  "X1K1",   "XX1",    "K1K1",   "I1X1", "IK1",    "X1N",    "NNpsk0+psk2"};
static const char *suites[] = {"ChaChaPoly_BLAKE2b", "ChaChaPoly_SHA256", "ChaChaPoly_SHA512",
                               "AESGCM_BLAKE2b",     "AESGCM_SHA256",     "AESGCM_SHA512"};

static bool suite_usable(const char *suite)
{
    return strncmp(suite, "AESGCM", 6) != 0 || noise_aead_available(NOISE_CIPHER_AESGCM);
}

START_TEST(every_pattern_and_suite_handshakes_and_exchanges)
{
    uint8_t *big = malloc(3 * 65518 + 8);
    randombytes_buf(big, 3 * 65518 + 8);
    for (size_t pi = 0; pi < (quick ? 2 : VMSEC_ARRAY_LEN(patterns)); pi++) {
        for (size_t si = 0; si < (quick ? 1 : VMSEC_ARRAY_LEN(suites)); si++) {
            char name[80];
            pair p;
            uint8_t ki[32], kr[32], hi[64], hr[64];
            size_t hli, hlr;
            bool anon_i = patterns[pi][0] == 'N';
            if (!suite_usable(suites[si]))
                continue;
            snprintf(name, sizeof(name), "Noise_%s_25519_%s", patterns[pi], suites[si]);
            max_override = 3 * 65518 + 7;
            pair_open(&p, name);
            max_override = 0;
            ck_assert_int_eq(vmsec_engine_state(p.i), VMSEC_STATE_HANDSHAKE);
            pump(&p);
            ck_assert_msg(p.rc_i == 0 && p.rc_r == 0, "%s: %d %d %s", name, p.rc_i, p.rc_r, vmsec_error_last());
            ck_assert_int_eq(vmsec_engine_state(p.i), VMSEC_STATE_OPEN);
            ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_OPEN);
            if ((patterns[pi][1] == '1' ? patterns[pi][2] : patterns[pi][1]) == 'N') {
                ck_assert_int_eq(vmsec_engine_peer_key(p.i, kr, 32), VMSEC_ENOTFOUND);
            } else {
                ck_assert_int_eq(vmsec_engine_peer_key(p.i, kr, 32), 0);
                ck_assert_mem_eq(kr, pub_r, 32);
            }
            if (anon_i) {
                ck_assert_int_eq(vmsec_engine_peer_key(p.r, ki, 32), VMSEC_ENOTFOUND);
            } else {
                ck_assert_int_eq(vmsec_engine_peer_key(p.r, ki, 32), 0);
                ck_assert_mem_eq(ki, pub_i, 32);
            }
            ck_assert_int_eq(vmsec_engine_handshake_hash(p.i, hi, sizeof(hi), &hli), 0);
            ck_assert_int_eq(vmsec_engine_handshake_hash(p.r, hr, sizeof(hr), &hlr), 0);
            ck_assert_uint_eq(hli, strstr(name, "SHA256") ? 32 : 64);
            ck_assert_uint_eq(hli, hlr);
            ck_assert_mem_eq(hi, hr, hli);
            roundtrip(&p, true, big, 0);
            roundtrip(&p, false, big, 1);
            roundtrip(&p, true, big, 65518);
            roundtrip(&p, false, big, 65519);
            roundtrip(&p, true, big, 3 * 65518 + 7); /* the configured maximum */
            ck_assert_int_eq(vmsec_engine_send(p.r, big, 3 * 65518 + 8), VMSEC_ETOOBIG);
            roundtrip(&p, false, big, 3 * 65518 + 7);
            pair_free(&p);
        }
    }
    free(big);
}
END_TEST

START_TEST(message_sizes_up_to_the_maximum)
{
    pair p;
    size_t max = VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE, len;
    uint8_t *big = malloc(max + 1);
    randombytes_buf(big, max + 1);
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    pump(&p);
    roundtrip(&p, true, big, max);
    roundtrip(&p, false, big, max);
    ck_assert_int_eq(vmsec_engine_send(p.i, big, max + 1), VMSEC_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "exceeds the maximum"));
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), 0);
    roundtrip(&p, true, big, 10); /* still usable */
    /* a too-small buffer keeps the message and reports its size */
    ck_assert_int_eq(vmsec_engine_send(p.r, big, 100), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.i, NULL, 0, &len), VMSEC_ETOOBIG);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(vmsec_engine_recv(p.i, big + max - 200, 100, &len), 0);
    ck_assert_uint_eq(len, 100);
    pair_free(&p);
    free(big);
}
END_TEST

START_TEST(receiver_enforces_its_own_maximum)
{
    vmsec_channel_config *ci = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_INITIATOR);
    vmsec_channel_config *cr = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_RESPONDER);
    pair p = {0};
    uint8_t msg[70000] = {0}, out[70000];
    size_t len;
    ck_assert_int_eq(vmsec_channel_config_set_max_message(cr, 1000), 0);
    ck_assert_int_eq(vmsec_channel_config_set_max_message(cr, 0), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_engine_new(&p.i, ci, VMSEC_ROLE_INITIATOR), 0);
    ck_assert_int_eq(vmsec_engine_new(&p.r, cr, VMSEC_ROLE_RESPONDER), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_send(p.i, msg, 1000), 0);
    ck_assert_int_eq(vmsec_engine_send(p.i, msg, 1001), 0);
    pump(&p);
    /* the authentic message before the oversize one is delivered; then the failure, then nothing */
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, 1000);
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_FAILED);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_EPEERTOOBIG);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "exceeds the maximum of 1000"));
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ESTATE);
    pair_free(&p);
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
}
END_TEST

static void open_with_rekey(pair *p, uint64_t ri, uint64_t rr)
{
    vmsec_channel_config *ci = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_INITIATOR);
    vmsec_channel_config *cr = make_cfg(VMSEC_CHANNEL_DEFAULT_PROTOCOL, VMSEC_ROLE_RESPONDER);
    memset(p, 0, sizeof(*p));
    ck_assert_int_eq(vmsec_channel_config_set_rekey_interval(ci, ri), 0);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_interval(cr, rr), 0);
    ck_assert_int_eq(vmsec_engine_new(&p->i, ci, VMSEC_ROLE_INITIATOR), 0);
    ck_assert_int_eq(vmsec_engine_new(&p->r, cr, VMSEC_ROLE_RESPONDER), 0);
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
    pump(p);
}

START_TEST(rekey_in_lockstep)
{
    pair p;
    uint8_t msg[200000];
    randombytes_buf(msg, sizeof(msg));
    open_with_rekey(&p, 3, 3);
    for (int k = 0; k < 20; k++) {
        roundtrip(&p, true, msg, (size_t)k * 997);
        roundtrip(&p, false, msg, k % 3 ? 5 : sizeof(msg)); /* multi-record messages cross rekeys */
    }
    pair_free(&p);
}
END_TEST

START_TEST(rekey_mismatch_is_detected)
{
    pair p;
    uint8_t msg[8] = {0}, out[8];
    size_t len;
    open_with_rekey(&p, 3, 4);
    for (int k = 0; k < 3; k++)
        roundtrip(&p, true, msg, sizeof(msg));
    ck_assert_int_eq(vmsec_engine_send(p.i, msg, sizeof(msg)), 0);
    pump(&p);
    ck_assert_int_eq(p.rc_r, VMSEC_EAUTH);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ESTATE);
    pair_free(&p);
}
END_TEST

START_TEST(close_notify_is_a_clean_close_and_half_close_works)
{
    pair p;
    uint8_t msg[5] = "hello", out[16];
    size_t len;
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    ck_assert_int_eq(vmsec_engine_close(p.i), VMSEC_ESTATE); /* not before the handshake */
    pump(&p);
    ck_assert_int_eq(vmsec_engine_send(p.i, msg, 5), 0);
    ck_assert_int_eq(vmsec_engine_close(p.i), 0);
    ck_assert_int_eq(vmsec_engine_close(p.i), 0);
    ck_assert_int_eq(vmsec_engine_send(p.i, msg, 5), VMSEC_ESTATE);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ECLOSED);
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_CLOSED);
    ck_assert_int_eq(vmsec_engine_input_eof(p.r), 0);
    /* the other direction still works until the responder closes too */
    roundtrip(&p, false, msg, 5);
    ck_assert_int_eq(vmsec_engine_close(p.r), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.i, out, sizeof(out), &len), VMSEC_ECLOSED);
    ck_assert_int_eq(vmsec_engine_input_eof(p.i), 0);
    pair_free(&p);
}
END_TEST

/* After close_notify nothing may follow: a stray byte or frame arriving in a later feed fails the
 * receiving side at once, not only when it comes in the same read or at the end of the stream. */
START_TEST(input_after_close_notify_is_a_protocol_error)
{
    static const uint8_t frame[2 + 17] = {0x00, 0x11};
    pair p;
    uint8_t out[16];
    size_t len, used;
    for (int whole_frame = 0; whole_frame < 2; whole_frame++) {
        pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
        pump(&p);
        ck_assert_int_eq(vmsec_engine_close(p.i), 0);
        pump(&p);
        ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ECLOSED);
        ck_assert_int_eq(vmsec_engine_feed(p.r, frame, whole_frame ? sizeof(frame) : 1, &used), VMSEC_EPROTO);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "stray bytes after close_notify"));
        ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_FAILED);
        ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ESTATE);
        ck_assert_int_eq(vmsec_engine_input_eof(p.r), VMSEC_ESTATE);
        pair_free(&p);
    }
}
END_TEST

START_TEST(eof_without_close_notify_is_truncation)
{
    pair p;
    uint8_t msg[100000] = {0}, out[16];
    const uint8_t *buf;
    size_t len, used;
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_input_eof(p.r), VMSEC_ETRUNCATED);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "without close_notify"));
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_FAILED);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ESTATE);
    ck_assert_int_eq(vmsec_engine_send(p.r, msg, 1), VMSEC_ESTATE);
    /* mid-message: the first record of a two-record message arrives, then the stream ends */
    ck_assert_int_eq(vmsec_engine_send(p.i, msg, sizeof(msg)), 0);
    vmsec_engine_output(p.i, &buf, &len);
    ck_assert_int_eq(vmsec_engine_feed(p.r, buf, 2 + 65535, &used), VMSEC_ESTATE);
    pair_free(&p);

    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_send(p.i, msg, sizeof(msg)), 0);
    vmsec_engine_output(p.i, &buf, &len);
    ck_assert_int_eq(vmsec_engine_feed(p.r, buf, 2 + 65535, &used), 0);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_EAGAIN);
    ck_assert_int_eq(vmsec_engine_input_eof(p.r), VMSEC_ETRUNCATED);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "middle of a message"));
    pair_free(&p);
}
END_TEST

/* The transport may report its end while authentic messages are still buffered: they are delivered
 * first, then the verdict (clean close or truncation) comes from vmsec_engine_recv(). */
START_TEST(eof_after_buffered_messages_delivers_them)
{
    pair p;
    uint8_t out[16];
    size_t len;
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_send(p.i, (const uint8_t *)"one", 3), 0);
    ck_assert_int_eq(vmsec_engine_send(p.i, (const uint8_t *)"two", 3), 0);
    ck_assert_int_eq(vmsec_engine_close(p.i), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_input_eof(p.r), 0); /* deferred: messages wait */
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), 0);
    ck_assert_mem_eq(out, "one", 3);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), 0);
    ck_assert_mem_eq(out, "two", 3);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ECLOSED);
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_CLOSED);
    pair_free(&p);

    /* the same without close_notify: the message is authentic, the end is a truncation */
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_send(p.i, (const uint8_t *)"one", 3), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_input_eof(p.r), 0);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), 0);
    ck_assert_mem_eq(out, "one", 3);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ETRUNCATED);
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_FAILED);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ESTATE);
    pair_free(&p);
}
END_TEST

START_TEST(nonce_exhaustion_stops_data_before_the_reserved_nonce)
{
    pair p;
    uint8_t msg[10] = {0}, out[10];
    size_t len;
    open_with_rekey(&p, 0, 0);
    vmsec__engine_test_set_nonces(p.i, UINT64_MAX - 4, 0);
    vmsec__engine_test_set_nonces(p.r, 0, UINT64_MAX - 4);
    roundtrip(&p, true, msg, sizeof(msg)); /* nonce 2^64-5 */
    roundtrip(&p, true, msg, sizeof(msg)); /* 2^64-4 */
    roundtrip(&p, true, msg, sizeof(msg)); /* 2^64-3: the last data nonce */
    ck_assert_int_eq(vmsec_engine_send(p.i, msg, sizeof(msg)), VMSEC_ESTATE);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "nonce space exhausted"));
    ck_assert_int_eq(vmsec_engine_close(p.i), 0); /* close_notify at 2^64-2 */
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ECLOSED);
    pair_free(&p);
}
END_TEST

/* Moves everything pending from one engine to the other in chunks of random sizes (1 byte up to a
 * few hundred KiB) through the zero-copy input interface, taking messages whenever input stalls. */
static size_t chunked_transfer(vmsec_engine *from, vmsec_engine *to, uint8_t *got, size_t cap, size_t *lens)
{
    const uint8_t *buf;
    size_t len, n = 0, glen;
    vmsec_engine_output(from, &buf, &len);
    while (len) {
        uint8_t *space;
        size_t room, chunk = randombytes_uniform(4) == 0 ? 1 : randombytes_uniform(300000) + 1;
        if (randombytes_uniform(3) == 0)
            while (vmsec_engine_recv(to, got, cap, &glen) == 0)
                lens[n++] = glen;
        ck_assert_int_eq(vmsec_engine_input_space(to, &space, &room), 0);
        if (room == 0) {
            ck_assert_int_eq(vmsec_engine_recv(to, got, cap, &glen), 0); /* only a waiting message fills it */
            lens[n++] = glen;
            continue;
        }
        if (chunk > room)
            chunk = room;
        if (chunk > len)
            chunk = len;
        memcpy(space, buf, chunk);
        ck_assert_msg(vmsec_engine_input_commit(to, chunk) == 0, "%s", vmsec_error_last());
        vmsec_engine_output_consume(from, chunk);
        vmsec_engine_output(from, &buf, &len);
    }
    while (vmsec_engine_recv(to, got, cap, &glen) == 0)
        lens[n++] = glen;
    return n;
}

START_TEST(arbitrary_input_chunking_gives_the_same_messages)
{
    pair p;
    static size_t sizes[200], lens[200];
    uint8_t *msg = malloc(300000), *got = malloc(300000);
    size_t n;
    randombytes_buf(msg, 300000);
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    /* the handshake itself one byte at a time */
    while (vmsec_engine_state(p.r) != VMSEC_STATE_OPEN || vmsec_engine_output_pending(p.r) ||
           vmsec_engine_output_pending(p.i)) {
        for (int dir = 0; dir < 2; dir++) {
            vmsec_engine *from = dir ? p.r : p.i, *to = dir ? p.i : p.r;
            const uint8_t *buf;
            size_t len, used;
            vmsec_engine_output(from, &buf, &len);
            if (len) {
                ck_assert_int_eq(vmsec_engine_feed(to, buf, 1, &used), 0);
                vmsec_engine_output_consume(from, used);
            }
        }
    }
    for (int round = 0; round < (quick ? 2 : 10); round++) {
        for (size_t k = 0; k < 200; k++) {
            sizes[k] = randombytes_uniform(8) == 0 ? randombytes_uniform(300000) : randombytes_uniform(100);
            ck_assert_int_eq(vmsec_engine_send(p.i, msg, sizes[k]), 0);
        }
        n = chunked_transfer(p.i, p.r, got, 300000, lens);
        ck_assert_uint_eq(n, 200);
        for (size_t k = 0; k < 200; k++)
            ck_assert_uint_eq(lens[k], sizes[k]);
    }
    roundtrip(&p, true, msg, 299999); /* content intact after all that */
    pair_free(&p);
    free(msg);
    free(got);
}
END_TEST



/* The example of doc/PROTOCOL.md section 8, byte for byte where the bytes are not random. */
static void take(vmsec_engine *from, vmsec_engine *to, uint8_t *copy, size_t *len)
{
    const uint8_t *buf;
    size_t used;
    vmsec_engine_output(from, &buf, len);
    memcpy(copy, buf, *len);
    vmsec_engine_output_consume(from, *len);
    ck_assert_int_eq(vmsec_engine_feed(to, copy, *len, &used), 0);
    ck_assert_uint_eq(used, *len);
}

START_TEST(wire_format_matches_the_specification)
{
    static const uint8_t announce[] = "VMSC\x02\x21Noise_XX_25519_ChaChaPoly_BLAKE2b";
    pair p;
    uint8_t b[512];
    size_t len;
    pair_open(&p, "Noise_XX_25519_ChaChaPoly_BLAKE2b");
    take(p.i, p.r, b, &len);
    ck_assert_uint_eq(len, 39 + 2 + 32);
    ck_assert_mem_eq(b, announce, 39);
    ck_assert_uint_eq(b[39], 0x00);
    ck_assert_uint_eq(b[40], 0x20);
    take(p.r, p.i, b, &len);
    ck_assert_uint_eq(len, 2 + 96);
    ck_assert_uint_eq(b[1], 0x60);
    take(p.i, p.r, b, &len);
    ck_assert_uint_eq(len, 2 + 64);
    ck_assert_uint_eq(b[1], 0x40);
    /* version 2: the reader of the last handshake message sends the confirm record first, an empty
     * record of type 0x04 (2 + 1 + 16 bytes) */
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_OPEN);
    take(p.r, p.i, b, &len);
    ck_assert_uint_eq(len, 2 + 17);
    ck_assert_uint_eq(b[0], 0x00);
    ck_assert_uint_eq(b[1], 0x11);
    ck_assert_int_eq(vmsec_engine_send(p.i, (const uint8_t *)"hi", 2), 0);
    ck_assert_int_eq(vmsec_engine_close(p.i), 0);
    take(p.i, p.r, b, &len);
    ck_assert_uint_eq(len, 2 + 19 + 2 + 17);
    ck_assert_uint_eq(b[0], 0x00);
    ck_assert_uint_eq(b[1], 0x13);
    ck_assert_uint_eq(b[21], 0x00);
    ck_assert_uint_eq(b[22], 0x11);
    ck_assert_int_eq(vmsec_engine_recv(p.r, b, sizeof(b), &len), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(memcmp(b, "hi", 2), 0);
    ck_assert_int_eq(vmsec_engine_recv(p.r, b, sizeof(b), &len), VMSEC_ECLOSED);
    pair_free(&p);
}
END_TEST

START_TEST(api_misuse_is_refused)
{
    pair p;
    uint8_t k[32], h[64];
    size_t len;
    vmsec_channel_config *c;
    pair_open(&p, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    ck_assert_int_eq(vmsec_engine_send(p.i, k, 1), VMSEC_ESTATE);
    ck_assert_int_eq(vmsec_engine_recv(p.i, k, 1, &len), VMSEC_EAGAIN);
    ck_assert_int_eq(vmsec_engine_peer_key(p.i, k, 32), VMSEC_ESTATE);
    ck_assert_int_eq(vmsec_engine_handshake_hash(p.i, h, 64, &len), VMSEC_ESTATE);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_peer_key(p.i, k, 31), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_engine_handshake_hash(p.i, h, 10, &len), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_engine_new(NULL, NULL, VMSEC_ROLE_INITIATOR), VMSEC_EINVAL);
    pair_free(&p);
    /* missing keys are reported when the engine is created */
    ck_assert_int_eq(vmsec_channel_config_new(&c), 0);
    ck_assert_int_eq(vmsec_engine_new(&p.i, c, VMSEC_ROLE_INITIATOR), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "local static key"));
    ck_assert_int_eq(vmsec_channel_config_set_protocol(c, "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b"), 0);
    vmsec_channel_config_set_keypair(c, kp_i);
    ck_assert_int_eq(vmsec_engine_new(&p.i, c, VMSEC_ROLE_INITIATOR), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "in advance"));
    vmsec_channel_config_add_trusted_peer(c, pub_r, 32);
    ck_assert_int_eq(vmsec_engine_new(&p.i, c, VMSEC_ROLE_INITIATOR), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "PSK"));
    vmsec_channel_config_free(c);
}
END_TEST

START_TEST(config_names)
{
    vmsec_channel_config *c;
    char name[64];
    ck_assert_int_eq(vmsec_channel_config_new(&c), 0);
    ck_assert_int_eq(vmsec_channel_config_get_protocol(c, name, sizeof(name)), 0);
    ck_assert_str_eq(name, VMSEC_CHANNEL_DEFAULT_PROTOCOL);
    ck_assert_int_eq(vmsec_channel_config_set_pattern(c, "IKpsk2"), 0);
    ck_assert_int_eq(vmsec_channel_config_set_suite(c, "ChaChaPoly_SHA512"), 0);
    ck_assert_int_eq(vmsec_channel_config_get_protocol(c, name, sizeof(name)), 0);
    ck_assert_str_eq(name, "Noise_IKpsk2_25519_ChaChaPoly_SHA512");
    ck_assert_int_eq(vmsec_channel_config_get_protocol(c, name, 10), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_channel_config_set_pattern(c, "QQ"), VMSEC_EUNSUPPORTED);
    ck_assert_int_eq(vmsec_channel_config_set_pattern(c, "X"), VMSEC_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "one-way"));
    ck_assert_int_eq(vmsec_channel_config_set_suite(c, "Rot13_MD5"), VMSEC_EUNSUPPORTED);
    ck_assert_int_eq(vmsec_channel_config_set_suite(c, "nounderscore"), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_channel_config_set_protocol(c, "Noise_XX_448_ChaChaPoly_BLAKE2b"), VMSEC_EUNSUPPORTED);
    ck_assert_int_eq(vmsec_channel_config_get_protocol(c, name, sizeof(name)), 0);
    ck_assert_str_eq(name, "Noise_IKpsk2_25519_ChaChaPoly_SHA512"); /* failures changed nothing */
    ck_assert_int_eq(vmsec_channel_config_set_psk(c, psk_a, 31), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_channel_config_add_trusted_peer(c, pub_i, 31), VMSEC_EINVAL);
    ck_assert_uint_eq(vmsec_channel_default_max_message(), VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE);
    ck_assert_uint_eq(vmsec_channel_max_message_limit(), VMSEC_CHANNEL_MAX_MESSAGE_LIMIT);
    ck_assert_uint_eq(vmsec_handshake_hash_max(), 64);
    ck_assert_uint_eq(vmsec_record_payload_max(), 65518);
    ck_assert_uint_eq(vmsec_psk_bytes(), 32);
    vmsec_channel_config_free(c);
}
END_TEST

/* A message sealed piece by piece (what a blocking channel does for a large message, writing each
 * piece while the next is encrypted) gives the same records as sealing it whole, and nothing else
 * can be sent until its last piece is sealed. */
START_TEST(message_sealed_in_pieces_matches_whole_sealing)
{
    static const size_t sizes[] = {VMSEC_RECORD_PAYLOAD_MAX + 1, 2 * VMSEC_RECORD_PAYLOAD_MAX,
                                   3 * VMSEC_RECORD_PAYLOAD_MAX + 5, 300000};
    const size_t R = VMSEC_RECORD_PAYLOAD_MAX;
    pair p;
    uint8_t *msg = malloc(300000), *got = malloc(300001);
    pair_open(&p, "Noise_XX_25519_ChaChaPoly_BLAKE2b");
    pump(&p);
    randombytes_buf(msg, 300000);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t len = sizes[k], pending_whole, glen, nrec = (len + R - 1) / R;
        const uint8_t *out;
        /* whole: the reference size */
        ck_assert_int_eq(vmsec_engine_send(p.i, msg, len), 0);
        pending_whole = vmsec_engine_output_pending(p.i);
        ck_assert_uint_eq(pending_whole, len + nrec * (2 + 1 + 16));
        pump(&p);
        ck_assert_int_eq(vmsec_engine_recv(p.r, got, len + 1, &glen), 0);
        ck_assert_uint_eq(glen, len);
        /* in pieces of one record, each taken by the peer before the next is sealed */
        ck_assert_int_eq(vmsec__engine_send_begin(p.i, len), 0);
        for (size_t off = 0; off < len; off += R) {
            size_t n = len - off > R ? R : len - off, olen;
            if (off) {
                ck_assert_int_eq(vmsec_engine_send(p.i, msg, 1), VMSEC_ESTATE);
                ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "still being sent"));
                ck_assert_int_eq(vmsec_engine_close(p.i), VMSEC_ESTATE);
            }
            ck_assert_int_eq(vmsec__engine_send_piece(p.i, msg, off, n, len), 0);
            vmsec_engine_output(p.i, &out, &olen);
            ck_assert_uint_eq(olen, 2 + 1 + n + 16);
            ck_assert_uint_eq((size_t)out[0] << 8 | out[1], 1 + n + 16);
            pump(&p);
            ck_assert_int_eq(vmsec_engine_recv(p.r, got, len + 1, &glen), off + n == len ? 0 : VMSEC_EAGAIN);
        }
        ck_assert_uint_eq(glen, len);
        ck_assert_mem_eq(got, msg, len);
    }
    /* a piece that is not whole records, short of the end, fails the sending side */
    ck_assert_int_eq(vmsec__engine_send_begin(p.i, 3 * R), 0);
    ck_assert_int_eq(vmsec__engine_send_piece(p.i, msg, 0, R + 1, 3 * R), VMSEC_EINTERNAL);
    ck_assert_int_eq(vmsec_engine_state(p.i), VMSEC_STATE_FAILED);
    ck_assert_int_lt(vmsec_engine_send(p.i, msg, 1), 0);
    pair_free(&p);
    free(msg);
    free(got);
}
END_TEST

/* Channels made from one configuration share its static-static DH results: an IK reconnect finds
 * "ss" cached on both sides and still agrees on everything; a new keypair starts a new cache. */
START_TEST(reconnects_share_the_configuration_ss_cache)
{
    const char *ik = "Noise_IK_25519_ChaChaPoly_BLAKE2b";
    vmsec_channel_config *ci = make_cfg(ik, VMSEC_ROLE_INITIATOR), *cr = make_cfg(ik, VMSEC_ROLE_RESPONDER);
    for (int round = 0; round < 3; round++) {
        pair p;
        uint8_t hi[64], hr[64];
        size_t li, lr;
        memset(&p, 0, sizeof(p));
        ck_assert_int_eq(vmsec_engine_new(&p.i, ci, VMSEC_ROLE_INITIATOR), 0);
        ck_assert_int_eq(vmsec_engine_new(&p.r, cr, VMSEC_ROLE_RESPONDER), 0);
        pump(&p);
        ck_assert_msg(p.rc_i == 0 && p.rc_r == 0, "round %d: %s", round, vmsec_error_last());
        roundtrip(&p, true, (const uint8_t *)"again", 5);
        ck_assert_int_eq(vmsec_engine_handshake_hash(p.i, hi, sizeof(hi), &li), 0);
        ck_assert_int_eq(vmsec_engine_handshake_hash(p.r, hr, sizeof(hr), &lr), 0);
        ck_assert_mem_eq(hi, hr, li);
        ck_assert_uint_eq(vmsec__dh_cache_count(ci->ss_cache), 1);
        ck_assert_uint_eq(vmsec__dh_cache_count(cr->ss_cache), 1);
        pair_free(&p);
    }
    ck_assert_int_eq(vmsec_channel_config_set_keypair(ci, kp_i), 0);
    ck_assert_uint_eq(vmsec__dh_cache_count(ci->ss_cache), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keypair(ci, NULL), 0);
    ck_assert_ptr_null(ci->ss_cache);
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
}
END_TEST


int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, config_names);
    tcase_add_test(tc, every_pattern_and_suite_handshakes_and_exchanges);
    tcase_add_test(tc, message_sizes_up_to_the_maximum);
    tcase_add_test(tc, receiver_enforces_its_own_maximum);
    tcase_add_test(tc, rekey_in_lockstep);
    tcase_add_test(tc, rekey_mismatch_is_detected);
    tcase_add_test(tc, close_notify_is_a_clean_close_and_half_close_works);
    tcase_add_test(tc, input_after_close_notify_is_a_protocol_error);
    tcase_add_test(tc, eof_without_close_notify_is_truncation);
    tcase_add_test(tc, eof_after_buffered_messages_delivers_them);
    engine_add_fail_closed_tests(tc);
    engine_add_peer_auth_tests(tc);
    engine_add_key_confirmation_tests(tc);
    tcase_add_test(tc, nonce_exhaustion_stops_data_before_the_reserved_nonce);
    tcase_add_test(tc, api_misuse_is_refused);
    tcase_add_test(tc, wire_format_matches_the_specification);
    tcase_add_test(tc, arbitrary_input_chunking_gives_the_same_messages);
    engine_add_random_edits_test(tc);
    tcase_add_test(tc, message_sealed_in_pieces_matches_whole_sealing);
    tcase_add_test(tc, reconnects_share_the_configuration_ss_cache);
    engine_add_pack_tests(tc);
    engine_add_liveness_tests(tc);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
