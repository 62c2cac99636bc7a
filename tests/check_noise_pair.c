/* SPDX-License-Identifier: ISC */
/* Helpers of the check_noise program: a handshake between two fixed-key sides, run message by
 * message with optional tampering, and the checks that both sides then agree. */
#include <sodium.h>

#include "check_noise.h"
#include "channel/noise_crypto.h"
#include "vmsec/errors.h"

bool require_all(void)
{
    const char *v = getenv("VMSEC_REQUIRE_ALL");
    return v && strcmp(v, "1") == 0;
}

/* Parses name; false (after checking the refusal is the documented one) when it names AESGCM on a
 * CPU without hardware AES-GCM, which fails instead under VMSEC_REQUIRE_ALL=1. */
bool parse_or_skip(noise_protocol *proto, const char *name)
{
    int rc = noise_protocol_parse(proto, name);
    if (rc == VMSEC_EUNSUPPORTED && strstr(name, "AESGCM") && !noise_aead_available(NOISE_CIPHER_AESGCM)) {
        ck_assert_msg(!require_all(), "%s: no hardware AES-GCM (VMSEC_REQUIRE_ALL=1)", name);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "AESGCM"));
        return false;
    }
    ck_assert_msg(rc == 0, "%s: %s", name, vmsec_error_last());
    return true;
}

uint8_t s_init[32], s_resp[32], p_init[32], p_resp[32], e_init[32], e_resp[32];
uint8_t psk_a[32], psk_b[32];

void keys_setup(void)
{
    size_t i;
    ck_assert_int_eq(sodium_init() < 0, 0);
    for (i = 0; i < 32; i++) {
        s_init[i] = (uint8_t)(i + 1);
        s_resp[i] = (uint8_t)(0x80 + i);
        e_init[i] = (uint8_t)(0x40 + i);
        e_resp[i] = (uint8_t)(0xc0 + i);
        psk_a[i] = (uint8_t)(0x11 * (i % 7));
        psk_b[i] = (uint8_t)(0x13 * (i % 5) + 1);
    }
    crypto_scalarmult_base(p_init, s_init);
    crypto_scalarmult_base(p_resp, s_resp);
}

/* Which static keys the pattern makes known before the first message. */
static void pre_messages(const char *pat, bool *resp_knows_init, bool *init_knows_resp)
{
    if (strlen(pat) == 1) {
        *init_knows_resp = true;
        *resp_knows_init = pat[0] == 'K';
        return;
    }
    *resp_knows_init = pat[0] == 'K';
    *init_knows_resp = pat[1 + (pat[1] == '1')] == 'K';
}

/* Creates both sides with fixed keys; false if the protocol is AESGCM without hardware support. */
bool pair_new(struct pair *p, const char *name, const uint8_t *psk_i, const uint8_t *psk_r)
{
    bool rki, ikr;
    static const uint8_t prologue[] = "vmsec test";
    memset(p, 0, sizeof(*p));
    if (!parse_or_skip(&p->proto, name))
        return false;
    pre_messages(p->proto.pattern, &rki, &ikr);
    if (!p->proto.psk_mask)
        psk_i = psk_r = NULL;
    ck_assert_msg(noise_handshake_new(&p->init, &p->proto, true, prologue, sizeof(prologue), s_init,
                                      ikr ? p_resp : NULL, psk_i) == 0, "%s", vmsec_error_last());
    ck_assert_msg(noise_handshake_new(&p->resp, &p->proto, false, prologue, sizeof(prologue), s_resp,
                                      rki ? p_init : NULL, psk_r) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(noise_handshake_set_ephemeral(p->init, e_init), 0);
    ck_assert_int_eq(noise_handshake_set_ephemeral(p->resp, e_resp), 0);
    return true;
}

void pair_free(struct pair *p)
{
    noise_handshake_free(p->init);
    noise_handshake_free(p->resp);
    noise_cipher_wipe(&p->i_send);
    noise_cipher_wipe(&p->i_recv);
    noise_cipher_wipe(&p->r_send);
    noise_cipher_wipe(&p->r_recv);
}

const struct tamper no_tamper = {-1, 0, 0, 0};

/* Runs the handshake. Returns 0 once both sides completed (and split), or the first failure; *where
 * gets the failing message index and *reader whether the reading side failed. */
int pair_run(struct pair *p, struct tamper t, int *where, bool *reader, size_t *sizes)
{
    uint8_t msg[NOISE_MAX_MSG + 8], got[NOISE_MAX_MSG];
    char payload[32];
    size_t len, got_len, want;
    int j, rc;

    for (j = 0; !noise_handshake_complete(p->init) || !noise_handshake_complete(p->resp); j++) {
        noise_handshake *from = noise_handshake_my_turn(p->init) ? p->init : p->resp;
        noise_handshake *to = from == p->init ? p->resp : p->init;
        *where = j;
        ck_assert_msg(noise_handshake_my_turn(from) && !noise_handshake_my_turn(to), "message %d: no turn", j);
        snprintf(payload, sizeof(payload), "payload %d", j);
        *reader = false;
        ck_assert_uint_eq(noise_handshake_write_size(to, 0), 0);
        want = noise_handshake_write_size(from, strlen(payload));
        if ((rc = noise_handshake_write(from, (const uint8_t *)payload, strlen(payload), msg, sizeof(msg), &len)) < 0)
            return rc;
        ck_assert_uint_eq(len, want);
        if (sizes)
            sizes[j] = len;
        if (j == t.msg) {
            if (t.mask)
                msg[t.byte] ^= t.mask;
            if (t.truncate < 0)
                memset(msg + len, 0, (size_t)-t.truncate);
            len = (size_t)((long)len - t.truncate);
        }
        *reader = true;
        if ((rc = noise_handshake_read(to, msg, len, got, sizeof(got), &got_len)) < 0)
            return rc;
        /* A message sent before any key exists is authenticated only by the next one. */
        if (j != t.msg) {
            ck_assert_uint_eq(got_len, strlen(payload));
            ck_assert_mem_eq(got, payload, got_len);
        }
    }
    ck_assert_int_eq(noise_handshake_split(p->init, &p->i_send, &p->i_recv), 0);
    ck_assert_int_eq(noise_handshake_split(p->resp, &p->r_send, &p->r_recv), 0);
    return 0;
}

/* A transport message each way proves both sides derived the same keys. */
void assert_transport_works(struct pair *p, bool one_way)
{
    uint8_t ct[64], pt[48];
    ck_assert_int_eq(noise_cipher_encrypt(&p->i_send, NULL, 0, (const uint8_t *)"ping", 4, ct), 0);
    ck_assert_int_eq(noise_cipher_decrypt(&p->r_recv, NULL, 0, ct, 4 + NOISE_TAGLEN, pt), 0);
    ck_assert_mem_eq(pt, "ping", 4);
    if (one_way)
        return;
    ck_assert_int_eq(noise_cipher_encrypt(&p->r_send, (const uint8_t *)"ad", 2, (const uint8_t *)"pong", 4, ct), 0);
    ck_assert_int_eq(noise_cipher_decrypt(&p->i_recv, (const uint8_t *)"ad", 2, ct, 4 + NOISE_TAGLEN, pt), 0);
    ck_assert_mem_eq(pt, "pong", 4);
}
