/* SPDX-License-Identifier: ISC */
/* Helpers of the check_engine program: key pairs, matching configurations for both sides, and an
 * initiator and a responder engine that exchange bytes in memory. */
#include "check_engine.h"

vmsec_keypair *kp_i, *kp_r, *kp_other;
uint8_t pub_i[32], pub_r[32], pub_other[32];
bool quick;

void setup(void)
{
    ck_assert_int_eq(vmsec_keypair_generate(&kp_i), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&kp_r), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&kp_other), 0);
    vmsec_keypair_public(kp_i, pub_i, 32);
    vmsec_keypair_public(kp_r, pub_r, 32);
    vmsec_keypair_public(kp_other, pub_other, 32);
    quick = getenv("VMSEC_TEST_QUICK") && !strcmp(getenv("VMSEC_TEST_QUICK"), "1");
}

void teardown(void)
{
    vmsec_keypair_free(kp_i);
    vmsec_keypair_free(kp_r);
    vmsec_keypair_free(kp_other);
}

const uint8_t psk_a[32] = {1, 2, 3}, psk_b[32] = {1, 2, 4};
size_t max_override;

/* A configuration for one side of `protocol` where both sides know and trust each other. */
vmsec_channel_config *make_cfg(const char *protocol, vmsec_role role)
{
    vmsec_channel_config *c = NULL;
    bool init = role == VMSEC_ROLE_INITIATOR;
    ck_assert_int_eq(vmsec_channel_config_new(&c), 0);
    ck_assert_msg(vmsec_channel_config_set_protocol(c, protocol) == 0, "%s: %s", protocol, vmsec_error_last());
    ck_assert_int_eq(vmsec_channel_config_set_keypair(c, init ? kp_i : kp_r), 0);
    ck_assert_int_eq(vmsec_channel_config_add_trusted_peer(c, init ? pub_r : pub_i, 32), 0);
    ck_assert_int_eq(vmsec_channel_config_set_psk(c, psk_a, 32), 0);
    if (max_override)
        ck_assert_int_eq(vmsec_channel_config_set_max_message(c, max_override), 0);
    /* an initiator without a static key (N...) can only be accepted by explicit opt-in */
    if ((!init && strncmp(protocol, "Noise_N", 7) == 0) || (init && (protocol[7] == 'N' || (protocol[7] == '1' && protocol[8] == 'N'))))
        ck_assert_int_eq(vmsec_channel_config_set_allow_any_peer(c, 1), 0);
    return c;
}

/* Moves bytes both ways until nothing moves. */
void pump(pair *p)
{
    bool moved = true;
    while (moved) {
        moved = false;
        for (int dir = 0; dir < 2; dir++) {
            vmsec_engine *from = dir ? p->r : p->i, *to = dir ? p->i : p->r;
            int *rc = dir ? &p->rc_i : &p->rc_r;
            const uint8_t *buf;
            size_t len, used = 0;
            vmsec_engine_output(from, &buf, &len);
            if (!len || *rc)
                continue;
            *rc = vmsec_engine_feed(to, buf, len, &used);
            vmsec_engine_output_consume(from, used);
            moved = used > 0;
        }
    }
}

void pair_open(pair *p, const char *protocol)
{
    vmsec_channel_config *ci = make_cfg(protocol, VMSEC_ROLE_INITIATOR), *cr = make_cfg(protocol, VMSEC_ROLE_RESPONDER);
    memset(p, 0, sizeof(*p));
    ck_assert_msg(vmsec_engine_new(&p->i, ci, VMSEC_ROLE_INITIATOR) == 0, "%s: %s", protocol, vmsec_error_last());
    ck_assert_msg(vmsec_engine_new(&p->r, cr, VMSEC_ROLE_RESPONDER) == 0, "%s: %s", protocol, vmsec_error_last());
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
}

void pair_free(pair *p)
{
    vmsec_engine_free(p->i);
    vmsec_engine_free(p->r);
}

/* Sends msg from one engine and checks the other receives exactly it. */
void roundtrip(pair *p, bool from_i, const uint8_t *msg, size_t len)
{
    vmsec_engine *src = from_i ? p->i : p->r, *dst = from_i ? p->r : p->i;
    uint8_t *got = malloc(len + 1);
    size_t glen = 0;
    ck_assert_msg(vmsec_engine_send(src, msg, len) == 0, "send %zu: %s", len, vmsec_error_last());
    pump(p);
    ck_assert_int_eq(p->rc_i, 0);
    ck_assert_int_eq(p->rc_r, 0);
    ck_assert_msg(vmsec_engine_recv(dst, got, len + 1, &glen) == 0, "recv %zu: %s", len, vmsec_error_last());
    ck_assert_uint_eq(glen, len);
    if (len)
        ck_assert_mem_eq(got, msg, len);
    ck_assert_int_eq(vmsec_engine_recv(dst, got, len + 1, &glen), VMSEC_EAGAIN);
    free(got);
}
