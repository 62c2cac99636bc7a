/* SPDX-License-Identifier: ISC */
/* Private to the check_noise program: the fixed keys and the two-sided handshake runner that its
 * handshake and transport cases share, and the builders of the cases kept in their own files. */
#ifndef VMSEC_CHECK_NOISE_H
#define VMSEC_CHECK_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h> /* for testutil.h */

#include "channel/noise.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* True under VMSEC_REQUIRE_ALL=1, where a missing capability fails instead of skipping. */
bool require_all(void);
bool parse_or_skip(noise_protocol *proto, const char *name);

/* Fixed static, ephemeral and pre-shared keys, set by keys_setup (a checked fixture). */
extern uint8_t s_init[32], s_resp[32], p_init[32], p_resp[32], e_init[32], e_resp[32];
extern uint8_t psk_a[32], psk_b[32];
void keys_setup(void);

struct pair {
    noise_protocol proto;
    noise_handshake *init, *resp;
    noise_cipherstate i_send, i_recv, r_send, r_recv;
};

bool pair_new(struct pair *p, const char *name, const uint8_t *psk_i, const uint8_t *psk_r);
void pair_free(struct pair *p);

struct tamper {
    int msg;        /* message to alter, -1 for none */
    size_t byte;    /* byte to flip */
    uint8_t mask;
    long truncate;  /* bytes to remove from the end (negative: append that many) */
};
extern const struct tamper no_tamper;

int pair_run(struct pair *p, struct tamper t, int *where, bool *reader, size_t *sizes);
void assert_transport_works(struct pair *p, bool one_way);

/* The test cases of the other files, in the order main adds them. */
TCase *noise_kdf_tcase(void);
TCase *noise_names_tcase(void);
void noise_add_ss_cache_tests(TCase *hs); /* into the handshake case */
TCase *noise_transport_tcase(void);

#endif
