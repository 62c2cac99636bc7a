/* SPDX-License-Identifier: ISC */
/* Fuzz target: vmsec_pubkey_from_text(), the public key text parser (config files, command
 * lines). Oracles: only EFORMAT is an acceptable failure, with a message; an accepted text is the
 * canonical form (re-encoding gives the same characters, up to surrounding white space) of a
 * canonical key (vmsec_pubkey_validate: bit 255 clear, u-coordinate below 2^255-19). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmsec.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    uint8_t pub[VMSEC_KEY_BYTES], again[VMSEC_KEY_BYTES];
    char canon[VMSEC_PUBKEY_TEXT_MAX];

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int rc = vmsec_pubkey_from_text(pub, sizeof(pub), text);
    if (rc < 0) {
        FUZZ_ASSERT(rc == VMSEC_EFORMAT);
        FUZZ_ASSERT(vmsec_error_last()[0] != '\0');
    } else {
        const char *s = text;
        FUZZ_ASSERT(rc == 0);
        FUZZ_ASSERT(vmsec_pubkey_validate(pub, sizeof(pub)) == 0);
        FUZZ_ASSERT(vmsec_pubkey_to_text(pub, canon, sizeof(canon)) == 0);
        while (is_space(*s))
            s++;
        size_t n = strlen(canon);
        FUZZ_ASSERT(strncmp(s, canon, n) == 0);
        for (s += n; *s; s++)
            FUZZ_ASSERT(is_space(*s));
        FUZZ_ASSERT(vmsec_pubkey_from_text(again, sizeof(again), canon) == 0);
        FUZZ_ASSERT(memcmp(pub, again, sizeof(pub)) == 0);
    }
    free(text);
    return 0;
}
