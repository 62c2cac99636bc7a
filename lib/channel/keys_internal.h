/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: the canonical-encoding test on X25519 public keys, for the channel files
 * that take keys in (configuration setters, the handshake's received static key). */
#ifndef VMSEC_KEYS_INTERNAL_H
#define VMSEC_KEYS_INTERNAL_H

#include <stdint.h>

/* NULL if pub (VMSEC_KEY_BYTES bytes) is the canonical encoding of an X25519 public key, else why
 * not, as a phrase for an error message. */
const char *vmsec__pubkey_noncanonical(const uint8_t *pub);

#endif
