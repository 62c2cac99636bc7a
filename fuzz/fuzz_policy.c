/* SPDX-License-Identifier: ISC */
/* Fuzz target: vmsec_policy_load_string(), the relay policy language. Oracle: parsing is a pure
 * function of the text (a second parse gives the same verdict), and a refusal always comes with a
 * message. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmsec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmsec_policy *p = NULL, *q = NULL;
    int rc = vmsec_policy_load_string(&p, (const char *)data, size, "fuzz");
    if (rc != 0) {
        FUZZ_ASSERT(p == NULL);
        FUZZ_ASSERT(vmsec_error_last() && *vmsec_error_last());
    }
    int rc2 = vmsec_policy_load_string(&q, (const char *)data, size, "fuzz");
    FUZZ_ASSERT(rc == rc2);
    vmsec_policy_free(p);
    vmsec_policy_free(q);
    return 0;
}
