/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: Noise handshake patterns (sections 7 and 9 of the specification), compiled
 * from the protocol name into token lists the HandshakeState walks. */
#ifndef VMSEC_NOISE_PATTERN_H
#define VMSEC_NOISE_PATTERN_H

#include <stdbool.h>
#include <stdint.h>

#include "channel/noise.h"

#define NOISE_PATTERN_MAX_MSGS 4   /* the longest patterns (X1K, X1X...) have four messages */
#define NOISE_PATTERN_MAX_TOKENS 8 /* five DH/key tokens at most, plus psk tokens at both ends */
#define NOISE_PATTERN_MAX_PSKS (NOISE_PATTERN_MAX_MSGS + 1)

enum noise_token { NOISE_TOK_E = 1, NOISE_TOK_S, NOISE_TOK_EE, NOISE_TOK_ES, NOISE_TOK_SE, NOISE_TOK_SS, NOISE_TOK_PSK };

/* A pattern with its psk modifiers applied (section 9.2). Messages alternate initiator, responder,
 * initiator... */
typedef struct noise_pattern {
    unsigned nmsgs;
    bool pre_s[2]; /* [0]: the initiator's static key is a pre-message, [1]: the responder's */
    uint8_t ntok[NOISE_PATTERN_MAX_MSGS];
    uint8_t tok[NOISE_PATTERN_MAX_MSGS][NOISE_PATTERN_MAX_TOKENS];
    unsigned npsks; /* number of psk tokens */
} noise_pattern;

/* Compiles the pattern of a parsed protocol; records an error if proto was not filled by
 * noise_protocol_parse. */
int noise_pattern_compile(noise_pattern *out, const noise_protocol *proto);

/* Key confirmation (doc/PROTOCOL.md, "Key confirmation"): the 0-based index of the first handshake
 * message, written by the peer of the side named by initiator, whose payload that side authenticates
 * under keys mixing ee and DH(peer static, own ephemeral) (ee alone when the peer has no static key):
 * from then on that side holds proof of the peer's key and liveness in this session. -1 when no
 * handshake message gives it; then only the peer's confirm record does. */
int noise_pattern_proof_msg(const noise_pattern *p, bool initiator);

#endif
