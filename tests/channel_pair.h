/* SPDX-License-Identifier: ISC */
/* Shared by the channel suites over real sockets: two key pairs and two configurations that trust
 * each other, made and freed by each suite's fixture. */
#ifndef VMSEC_CHANNEL_PAIR_H
#define VMSEC_CHANNEL_PAIR_H

#include <signal.h>

#include <vmsec.h>

#include "testutil.h"

static inline void vt_channel_pair_new(vmsec_keypair **ka, vmsec_keypair **kb, vmsec_channel_config **cfg_a,
                                       vmsec_channel_config **cfg_b)
{
    uint8_t pa[32], pb[32];
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(vmsec_keypair_generate(ka), 0);
    ck_assert_int_eq(vmsec_keypair_generate(kb), 0);
    vmsec_keypair_public(*ka, pa, 32);
    vmsec_keypair_public(*kb, pb, 32);
    ck_assert_int_eq(vmsec_channel_config_new(cfg_a), 0);
    ck_assert_int_eq(vmsec_channel_config_new(cfg_b), 0);
    vmsec_channel_config_set_keypair(*cfg_a, *ka);
    vmsec_channel_config_set_keypair(*cfg_b, *kb);
    vmsec_channel_config_add_trusted_peer(*cfg_a, pb, 32);
    vmsec_channel_config_add_trusted_peer(*cfg_b, pa, 32);
}

static inline void vt_channel_pair_free(vmsec_keypair *ka, vmsec_keypair *kb, vmsec_channel_config *cfg_a,
                                        vmsec_channel_config *cfg_b)
{
    vmsec_channel_config_free(cfg_a);
    vmsec_channel_config_free(cfg_b);
    vmsec_keypair_free(ka);
    vmsec_keypair_free(kb);
}

/* Session options for tests: short backoff (10-50 ms) and acknowledgement delay (5 ms), and the
 * given reconnect deadline. */
static inline vmsec_session_options vt_session_fast_options(unsigned int reconnect_deadline_ms)
{
    vmsec_session_options o;
    ck_assert_int_eq(vmsec_session_options_init(&o, VMSEC_SESSION_OPTIONS_VERSION), 0);
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 50;
    o.ack_delay_ms = 5;
    o.reconnect_deadline_ms = reconnect_deadline_ms;
    return o;
}

#endif
