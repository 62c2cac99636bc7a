/* SPDX-License-Identifier: ISC */
/* Fuzz target: the session frame parser (doc/SESSIONS.md). Oracles: a frame that parses writes
 * back to exactly its bytes (a DATA frame's header, then its payload in place); a frame that does
 * not parse leaves the error code VMSEC_EPROTO. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/session_internal.h"
#include "fuzz.h"
#include "vmsec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmsec__sframe f;
    uint8_t again[SF_MAX_CONTROL];
    size_t n;
    if (vmsec__sframe_parse(data, size, &f) < 0) {
        FUZZ_ASSERT(vmsec_error_last_code() == VMSEC_EPROTO);
        return 0;
    }
    n = vmsec__sframe_write(again, &f);
    FUZZ_ASSERT(n <= size && memcmp(again, data, n) == 0);
    if (f.type == SF_DATA) {
        FUZZ_ASSERT(n == SF_HDR && f.data == data + SF_HDR && f.len == size - SF_HDR && f.seq != 0);
    } else {
        FUZZ_ASSERT(n == size && f.len == 0);
    }
    return 0;
}
