/* SPDX-License-Identifier: ISC */
/* No secret reaches an error message or stderr: runs failure paths (PSK mismatch, wrong static key,
 * tampered records, bad key sizes) with known secret and PSK bytes, and searches every
 * vmsec_error_last() text and everything written to stderr for their hex (either case) and base64
 * forms, and for any 8-byte window of them in hex. Plain TAP. */
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmsec.h"

static char forms[8][200];
static int nforms, test_no, failures;
static char seen[65536];

static void add_forms(const uint8_t *b, size_t n)
{
    sodium_bin2hex(forms[nforms++], sizeof(forms[0]), b, n);
    sodium_bin2hex(forms[nforms], sizeof(forms[0]), b, n);
    for (char *p = forms[nforms]; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    nforms++;
    sodium_bin2base64(forms[nforms++], sizeof(forms[0]), b, n, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(forms[nforms++], sizeof(forms[0]), b, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void note(void)
{
    strncat(seen, vmsec_error_last(), sizeof(seen) - strlen(seen) - 2);
    strcat(seen, "\n");
}

static void ok(int c, const char *what)
{
    printf("%s %d - %s\n", c ? "ok" : "not ok", ++test_no, what);
    failures += !c;
}

static int leaks(const char *text)
{
    for (int i = 0; i < nforms; i++) {
        if (strstr(text, forms[i]))
            return 1;
        /* any 16 hex digits (8 bytes) of a hex form */
        if (i % 4 < 2)
            for (size_t k = 0; k + 16 <= strlen(forms[i]); k += 2) {
                char w[17];
                memcpy(w, forms[i] + k, 16);
                w[16] = 0;
                if (strstr(text, w))
                    return 1;
            }
    }
    return 0;
}

static int pump(vmsec_engine *a, vmsec_engine *b, int flip)
{
    const uint8_t *buf;
    size_t len, used;
    int rc = 0;
    for (int round = 0; round < 8; round++) {
        vmsec_engine *from = round & 1 ? b : a, *to = round & 1 ? a : b;
        while (vmsec_engine_output(from, &buf, &len) == 0 && len > 0) {
            uint8_t *copy = malloc(len);
            memcpy(copy, buf, len);
            if (flip)
                copy[len - 1] ^= 1;
            rc = vmsec_engine_feed(to, copy, len, &used);
            free(copy);
            vmsec_engine_output_consume(from, len);
            if (rc) {
                note();
                return rc;
            }
        }
    }
    return rc;
}

int main(void)
{
    uint8_t psk_a[32], psk_b[32], sec_a[32], sec_b[32], pub_a[32], pub_b[32];
    vmsec_keypair *ka, *kb, *bad = NULL;
    char tmpl[] = "/tmp/vmsec-secrets-XXXXXX";
    int errfd = mkstemp(tmpl), saved = dup(2);
    if (sodium_init() < 0 || errfd < 0 || saved < 0)
        return 99;
    unlink(tmpl);
    dup2(errfd, 2);
    printf("1..3\n");
    for (int i = 0; i < 32; i++)
        psk_a[i] = (uint8_t)(0xA0 + i), psk_b[i] = (uint8_t)(0x30 + i), sec_a[i] = (uint8_t)(0x51 * i + 7),
        sec_b[i] = (uint8_t)(0x3B * i + 1);
    add_forms(psk_a, 32);
    add_forms(sec_a, 32);
    if (vmsec_keypair_from_secret(&ka, sec_a, 32) || vmsec_keypair_from_secret(&kb, sec_b, 32) ||
        vmsec_keypair_public(ka, pub_a, 32) || vmsec_keypair_public(kb, pub_b, 32))
        return 99;
    vmsec_keypair_from_secret(&bad, sec_a, 31);
    note();
    for (int mode = 0; mode < 3; mode++) {
        vmsec_channel_config *ca, *cb;
        vmsec_engine *a, *b;
        vmsec_channel_config_new(&ca);
        vmsec_channel_config_new(&cb);
        vmsec_channel_config_set_keypair(ca, ka);
        vmsec_channel_config_set_keypair(cb, kb);
        vmsec_channel_config_add_trusted_peer(ca, mode == 1 ? pub_a : pub_b, 32); /* 1: wrong peer */
        vmsec_channel_config_add_trusted_peer(cb, pub_a, 32);
        vmsec_channel_config_set_pattern(ca, "XXpsk3");
        vmsec_channel_config_set_pattern(cb, "XXpsk3");
        vmsec_channel_config_set_psk(ca, psk_a, 32);
        vmsec_channel_config_set_psk(cb, mode == 0 ? psk_b : psk_a, 32); /* 0: PSK mismatch */
        vmsec_engine_new(&a, ca, VMSEC_ROLE_INITIATOR);
        vmsec_engine_new(&b, cb, VMSEC_ROLE_RESPONDER);
        pump(a, b, mode == 2); /* 2: tampered flights */
        vmsec_engine_send(a, psk_a, 32);
        note();
        vmsec_engine_free(a);
        vmsec_engine_free(b);
        vmsec_channel_config_free(ca);
        vmsec_channel_config_free(cb);
    }
    ok(strlen(seen) > 40, "failure paths produced error messages to inspect");
    ok(!leaks(seen), "no hex or base64 form of a secret key or PSK in vmsec_error_last()");
    fflush(stderr);
    char errbuf[65536] = {0};
    ssize_t n = pread(errfd, errbuf, sizeof(errbuf) - 1, 0);
    dup2(saved, 2);
    ok(n >= 0 && !leaks(errbuf), "no secret in anything written to stderr");
    vmsec_keypair_free(ka);
    vmsec_keypair_free(kb);
    return failures ? 1 : 0;
}
