/* SPDX-License-Identifier: ISC */
/* Private to the check_engine program: two engines wired together in memory, the keys and
 * configurations both sides use, and the builders of the cases kept in their own files. */
#ifndef VMSEC_CHECK_ENGINE_H
#define VMSEC_CHECK_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h> /* for testutil.h */

#include <vmsec.h>

#include "testutil.h"

/* Fresh key pairs per test (setup/teardown, a checked fixture), and their public halves. */
extern vmsec_keypair *kp_i, *kp_r, *kp_other;
extern uint8_t pub_i[32], pub_r[32], pub_other[32];
/* VMSEC_TEST_QUICK=1 (used under valgrind): the exhaustive loops cover fewer protocols. */
extern bool quick;
void setup(void);
void teardown(void);

extern const uint8_t psk_a[32], psk_b[32];
extern size_t max_override; /* non-zero: maximum message size for configurations made by make_cfg */

vmsec_channel_config *make_cfg(const char *protocol, vmsec_role role);

typedef struct {
    vmsec_engine *i, *r;
    int rc_i, rc_r; /* first error seen feeding each side */
} pair;

void pump(pair *p);
void pair_open(pair *p, const char *protocol);
void pair_free(pair *p);
void roundtrip(pair *p, bool from_i, const uint8_t *msg, size_t len);

/* Cases of the other files, added to the one "engine" test case in main's order. */
void engine_add_fail_closed_tests(TCase *tc);
void engine_add_random_edits_test(TCase *tc);
void engine_add_peer_auth_tests(TCase *tc);
void engine_add_key_confirmation_tests(TCase *tc);
void engine_add_pack_tests(TCase *tc);
void engine_add_liveness_tests(TCase *tc);

#endif
