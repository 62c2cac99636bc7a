/* SPDX-License-Identifier: ISC */
/* Fuzz target: vmsec_profile_parse(). Oracles: a refusal comes with a message and no profile; a
 * valid profile prints (vmsec_profile_to_text()) to text that parses back to a profile printing the
 * same text (parse -> to_text -> parse is a fixed point). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmsec.h"

static char *print(const vmsec_profile *p)
{
    size_t needed = 0;
    if (vmsec_profile_to_text(p, NULL, 0, &needed) != 0)
        return NULL;
    char *buf = malloc(needed);
    FUZZ_ASSERT(buf);
    FUZZ_ASSERT(vmsec_profile_to_text(p, buf, needed, &needed) == 0);
    FUZZ_ASSERT(strlen(buf) + 1 == needed);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmsec_profile *p = NULL, *q = NULL;
    int rc = vmsec_profile_parse(&p, (const char *)data, size, "fuzz");
    if (rc != 0) {
        FUZZ_ASSERT(p == NULL && *vmsec_error_last());
        return 0;
    }
    if (vmsec_profile_validate(p) == 0) {
        char *t1 = print(p);
        FUZZ_ASSERT(t1);
        FUZZ_ASSERT(vmsec_profile_parse(&q, t1, strlen(t1), "printed") == 0);
        FUZZ_ASSERT(vmsec_profile_validate(q) == 0);
        char *t2 = print(q);
        FUZZ_ASSERT(t2 && strcmp(t1, t2) == 0);
        free(t1);
        free(t2);
        vmsec_profile_free(q);
    }
    vmsec_profile_free(p);
    return 0;
}
