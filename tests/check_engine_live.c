/* SPDX-License-Identifier: ISC */
/* Sans-I/O engine timers with a fake clock (protocol version 2): keep-alives sent exactly when due,
 * the dead-peer timeout, next_deadline, the time-based rekey record, and version 1 refusing both
 * record types. */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include <vmsec.h>

#include "channel/channel_internal.h"
#include "channel/engine_internal.h"
#include "check_engine.h"

#define PROTO VMSEC_CHANNEL_DEFAULT_PROTOCOL
#define RECORD_FRAME (2 + 1 + 16) /* an empty record on the wire */

typedef struct {
    unsigned int ka, dead, rekey_s, version;
    uint64_t counter; /* rekey interval in records; 0 = the default */
} live_cfg;

static vmsec_engine *live_engine(const live_cfg *lc, vmsec_role role)
{
    vmsec_channel_config *c = make_cfg(PROTO, role);
    vmsec_engine *e = NULL;
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, lc->ka, lc->dead), 0);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_time(c, lc->rekey_s), 0);
    if (lc->version)
        ck_assert_int_eq(vmsec_channel_config_set_protocol_version(c, lc->version), 0);
    if (lc->counter)
        ck_assert_int_eq(vmsec_channel_config_set_rekey_interval(c, lc->counter), 0);
    ck_assert_int_eq(vmsec_engine_new(&e, c, role), 0);
    vmsec_channel_config_free(c);
    return e;
}

/* Both engines open; each started its timers with a tick at `start`. */
static void live_pair(pair *p, const live_cfg *ci, const live_cfg *cr, uint64_t start)
{
    memset(p, 0, sizeof(*p));
    p->i = live_engine(ci, VMSEC_ROLE_INITIATOR);
    p->r = live_engine(cr, VMSEC_ROLE_RESPONDER);
    pump(p);
    ck_assert_int_eq(vmsec_engine_state(p->i), VMSEC_STATE_OPEN);
    ck_assert_int_eq(vmsec_engine_state(p->r), VMSEC_STATE_OPEN);
    ck_assert_int_eq(vmsec_engine_tick(p->i, start), 0);
    ck_assert_int_eq(vmsec_engine_tick(p->r, start), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p->i), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p->r), 0);
}

static uint64_t deadline(vmsec_engine *e)
{
    uint64_t d = 42;
    int rc = vmsec_engine_next_deadline(e, &d);
    ck_assert_int_ge(rc, 0);
    ck_assert_int_eq(rc, d != UINT64_MAX);
    return d;
}

/* Delivers the pending output and checks that no message came of it. */
static void pump_no_message(pair *p)
{
    uint8_t out[8];
    size_t len;
    pump(p);
    ck_assert_int_eq(p->rc_i, 0);
    ck_assert_int_eq(p->rc_r, 0);
    ck_assert_int_eq(vmsec_engine_recv(p->r, out, sizeof(out), &len), VMSEC_EAGAIN);
    ck_assert_int_eq(vmsec_engine_recv(p->i, out, sizeof(out), &len), VMSEC_EAGAIN);
}

START_TEST(keepalive_sent_exactly_when_due)
{
    live_cfg ci = {.ka = 100}, cr = {0};
    pair p;
    live_pair(&p, &ci, &cr, 1000);
    ck_assert_uint_eq(deadline(p.i), 1100);
    ck_assert_uint_eq(deadline(p.r), UINT64_MAX); /* nothing configured on this side */
    ck_assert_int_eq(vmsec_engine_tick(p.i, 1099), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), 0);
    ck_assert_int_eq(vmsec_engine_tick(p.i, 1100), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), RECORD_FRAME);
    ck_assert_uint_eq(deadline(p.i), 1200);
    pump_no_message(&p);
    /* a late tick sends one keep-alive, not one per missed interval */
    ck_assert_int_eq(vmsec_engine_tick(p.i, 1750), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), RECORD_FRAME);
    ck_assert_uint_eq(deadline(p.i), 1850);
    pump_no_message(&p);
    pair_free(&p);
}
END_TEST

START_TEST(no_keepalive_while_data_flows)
{
    live_cfg c = {.ka = 100};
    pair p;
    uint8_t msg[5] = "hello";
    live_pair(&p, &c, &c, 0);
    for (uint64_t t = 60; t < 2000; t += 60) {
        roundtrip(&p, true, msg, sizeof(msg));
        ck_assert_int_eq(vmsec_engine_tick(p.i, t), 0); /* stamps the record just sent */
        ck_assert_uint_eq(vmsec_engine_output_pending(p.i), 0);
        ck_assert_uint_eq(deadline(p.i), t + 100);
    }
    /* the responder sent nothing: it keeps its peer informed */
    ck_assert_int_eq(vmsec_engine_tick(p.r, 100), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p.r), RECORD_FRAME);
    pump_no_message(&p);
    pair_free(&p);
}
END_TEST

START_TEST(dead_peer_fails_at_the_deadline_and_not_before)
{
    live_cfg ci = {0}, cr = {.dead = 300};
    pair p;
    uint8_t out[8];
    size_t len;
    live_pair(&p, &ci, &cr, 5000);
    ck_assert_uint_eq(deadline(p.r), 5300);
    ck_assert_int_eq(vmsec_engine_tick(p.r, 5299), 0);
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_OPEN);
    ck_assert_int_eq(vmsec_engine_tick(p.r, 5300), VMSEC_EPEERDEAD);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "dead-peer timeout 300 ms"));
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_FAILED);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, sizeof(out), &len), VMSEC_ESTATE);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "dead-peer timeout"));
    ck_assert_int_eq(vmsec_engine_tick(p.r, 5400), VMSEC_ESTATE);
    ck_assert_int_eq(vmsec_engine_send(p.r, out, 1), VMSEC_ESTATE);
    ck_assert_int_eq(vmsec_engine_next_deadline(p.r, &(uint64_t){0}), 0);
    pair_free(&p);
}
END_TEST

START_TEST(keepalives_keep_the_peer_alive)
{
    live_cfg c = {.ka = 100, .dead = 300};
    pair p;
    uint64_t t, last;
    live_pair(&p, &c, &c, 0);
    /* both tick at their deadlines for 30 dead-peer periods: nobody fails, no message appears */
    for (t = 0; t < 9000;) {
        uint64_t di = deadline(p.i), dr = deadline(p.r);
        t = di < dr ? di : dr;
        ck_assert_int_eq(vmsec_engine_tick(p.i, t), 0);
        ck_assert_int_eq(vmsec_engine_tick(p.r, t), 0);
        pump_no_message(&p);
    }
    /* the initiator stops (a paused VM): the responder fails 300 ms after the tick that stamped
     * the last record it got, and not before */
    ck_assert_int_eq(vmsec_engine_tick(p.r, t + 50), 0);
    last = atomic_load(&p.r->last_recv);
    ck_assert_uint_ge(last, t - 100);
    ck_assert_int_eq(vmsec_engine_tick(p.r, last + 299), 0);
    ck_assert_int_eq(vmsec_engine_tick(p.r, last + 300), VMSEC_EPEERDEAD);
    pair_free(&p);
}
END_TEST

START_TEST(next_deadline_follows_the_state)
{
    live_cfg c = {.ka = 100, .dead = 300, .rekey_s = 1};
    pair p;
    uint64_t d = 7;
    memset(&p, 0, sizeof(p));
    p.i = live_engine(&c, VMSEC_ROLE_INITIATOR);
    p.r = live_engine(&c, VMSEC_ROLE_RESPONDER);
    /* nothing armed during the handshake, and a tick then does nothing */
    ck_assert_int_eq(vmsec_engine_next_deadline(p.i, &d), 0);
    ck_assert_uint_eq(d, UINT64_MAX);
    ck_assert_int_eq(vmsec_engine_tick(p.r, 10), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p.r), 0);
    pump(&p);
    /* open, not ticked yet: "tick now" */
    ck_assert_uint_eq(deadline(p.i), 0);
    ck_assert_int_eq(vmsec_engine_tick(p.i, 2000), 0);
    ck_assert_uint_eq(deadline(p.i), 2100);
    ck_assert_int_eq(vmsec_engine_tick(p.i, 2100), 0);
    ck_assert_uint_eq(deadline(p.i), 2200);
    ck_assert_int_eq(vmsec_engine_tick(p.r, 2100), 0);
    pump(&p);
    /* the responder's dead timer restarts at the tick that stamps the keep-alive it got */
    ck_assert_int_eq(vmsec_engine_tick(p.r, 2150), 0);
    ck_assert_uint_le(deadline(p.r), 2200); /* its own keep-alive */
    /* closing for sending disarms keep-alive and rekey; the dead timer stays until the peer closes */
    ck_assert_int_eq(vmsec_engine_close(p.i), 0);
    ck_assert_int_eq(vmsec_engine_tick(p.i, 2200), 0);
    ck_assert_uint_eq(deadline(p.i), 2300); /* its dead timer: nothing came from the responder */
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.r, NULL, 0, &(size_t){0}), VMSEC_ECLOSED);
    ck_assert_int_eq(vmsec_engine_tick(p.r, 2250), 0);
    ck_assert_uint_eq(deadline(p.r), 2350); /* its keep-alive only: no dead timer after close_notify */
    ck_assert_int_eq(vmsec_engine_tick(p.r, 9000), 0);
    ck_assert_int_eq(vmsec_engine_state(p.r), VMSEC_STATE_CLOSED);
    pair_free(&p);
}
END_TEST

START_TEST(time_rekey_at_the_boundary_keeps_both_sides_in_step)
{
    /* the counter rekeys every 3 records as well, so both kinds of rekey meet on one record */
    live_cfg c = {.ka = 0, .rekey_s = 2, .counter = 3};
    pair p;
    uint8_t msg[70000], before[NOISE_KEYLEN];
    randombytes_buf(msg, sizeof(msg));
    live_pair(&p, &c, &c, 0);
    ck_assert_uint_eq(deadline(p.i), 2000);
    ck_assert_int_eq(vmsec_engine_tick(p.i, 1999), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), 0);
    memcpy(before, p.i->cs[0].k, sizeof(before));
    ck_assert_int_eq(vmsec_engine_tick(p.i, 2000), 0);
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), RECORD_FRAME);
    ck_assert_msg(memcmp(before, p.i->cs[0].k, sizeof(before)) != 0, "the sending key changed");
    pump_no_message(&p);
    ck_assert_mem_eq(p.i->cs[0].k, p.r->cs[1].k, NOISE_KEYLEN);
    for (uint64_t t = 2000; t < 2000 + 200 * 2000; t += 2000) {
        ck_assert_int_eq(vmsec_engine_tick(p.i, t), 0);
        ck_assert_int_eq(vmsec_engine_tick(p.r, t + 1000), 0);
        roundtrip(&p, true, msg, (t / 2000) % 2 ? 5 : sizeof(msg));
        roundtrip(&p, false, msg, (t / 2000) % 3 ? sizeof(msg) : 0);
    }
    pair_free(&p);
}
END_TEST

START_TEST(control_records_between_the_records_of_a_message)
{
    live_cfg c = {.ka = 100, .rekey_s = 1};
    pair p;
    size_t total = 2 * VMSEC_RECORD_PAYLOAD_MAX + 10, len;
    uint8_t *msg = malloc(total), *out = malloc(total);
    randombytes_buf(msg, total);
    live_pair(&p, &c, &c, 0);
    ck_assert_int_eq(vmsec__engine_send_begin(p.i, total), 0);
    ck_assert_int_eq(vmsec__engine_send_piece(p.i, msg, 0, VMSEC_RECORD_PAYLOAD_MAX, total), 0);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_tick(p.i, 1000), 0); /* a rekey mid-message (it counts as sent) */
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), RECORD_FRAME);
    ck_assert_int_eq(vmsec_engine_tick(p.i, 1100), 0); /* and a keep-alive */
    ck_assert_uint_eq(vmsec_engine_output_pending(p.i), 2 * RECORD_FRAME);
    pump(&p);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, total, &len), VMSEC_EAGAIN);
    ck_assert_int_eq(vmsec__engine_send_piece(p.i, msg, VMSEC_RECORD_PAYLOAD_MAX, total - VMSEC_RECORD_PAYLOAD_MAX,
                                              total), 0);
    pump(&p);
    ck_assert_int_eq(p.rc_r, 0);
    ck_assert_int_eq(vmsec_engine_recv(p.r, out, total, &len), 0);
    ck_assert_uint_eq(len, total);
    ck_assert_mem_eq(out, msg, total);
    free(msg);
    free(out);
    pair_free(&p);
}
END_TEST

START_TEST(version_1_has_no_timers_and_refuses_both_records)
{
    static const uint8_t types[] = {REC_KEEPALIVE, REC_REKEY};
    live_cfg c = {.ka = 100, .dead = 300, .rekey_s = 1, .version = 1};
    for (size_t k = 0; k < VMSEC_ARRAY_LEN(types); k++) {
        pair p;
        char want[40];
        live_pair(&p, &c, &c, 0);
        ck_assert_int_eq(vmsec_engine_next_deadline(p.i, &(uint64_t){0}), 0);
        ck_assert_int_eq(vmsec_engine_tick(p.i, 100000), 0);
        ck_assert_int_eq(vmsec_engine_tick(p.r, 100000), 0);
        ck_assert_uint_eq(vmsec_engine_output_pending(p.i), 0);
        /* a version 2 record type forced onto the wire is an unknown type in version 1 */
        ck_assert_int_eq(vmsec__engine_send_control(p.i, types[k]), 0);
        pump(&p);
        ck_assert_int_eq(p.rc_r, VMSEC_EPROTO);
        snprintf(want, sizeof(want), "unknown record type 0x%02x", types[k]);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), want));
        pair_free(&p);
    }
}
END_TEST

START_TEST(keepalive_settings_are_validated)
{
    vmsec_channel_config *c = make_cfg(PROTO, VMSEC_ROLE_INITIATOR);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(NULL, 100, 300), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, 0, 0), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, 100, 200), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, 100, 0), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, 0, 300), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, 100, 199), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, 100, 100), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, 9, 0), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, 0, VMSEC_CHANNEL_KEEPALIVE_MAX_MS + 1), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(c, VMSEC_CHANNEL_KEEPALIVE_MIN_MS, VMSEC_CHANNEL_KEEPALIVE_MAX_MS), 0);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_time(NULL, 1), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_time(c, VMSEC_CHANNEL_REKEY_TIME_MAX), 0);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_time(c, VMSEC_CHANNEL_REKEY_TIME_MAX + 1), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_time(c, 0), 0);
    ck_assert_int_eq(vmsec_engine_tick(NULL, 0), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_engine_next_deadline(NULL, &(uint64_t){0}), VMSEC_EINVAL);
    vmsec_channel_config_free(c);
}
END_TEST

void engine_add_liveness_tests(TCase *tc)
{
    tcase_add_test(tc, keepalive_settings_are_validated);
    tcase_add_test(tc, keepalive_sent_exactly_when_due);
    tcase_add_test(tc, no_keepalive_while_data_flows);
    tcase_add_test(tc, dead_peer_fails_at_the_deadline_and_not_before);
    tcase_add_test(tc, keepalives_keep_the_peer_alive);
    tcase_add_test(tc, next_deadline_follows_the_state);
    tcase_add_test(tc, time_rekey_at_the_boundary_keeps_both_sides_in_step);
    tcase_add_test(tc, control_records_between_the_records_of_a_message);
    tcase_add_test(tc, version_1_has_no_timers_and_refuses_both_records);
}
