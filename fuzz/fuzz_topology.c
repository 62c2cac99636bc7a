/* SPDX-License-Identifier: ISC */
/* Fuzz target: vmsec_topology_from_capabilities() (libvirt capabilities XML) and
 * vmsec_topology_parse() (the text form); byte 0 selects. Oracle: an accepted topology prints to
 * text that parses back to the same text. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmsec.h"

static char *print(const vmsec_topology *t)
{
    size_t needed = 0;
    FUZZ_ASSERT(vmsec_topology_to_text(t, NULL, 0, &needed) == 0);
    char *buf = malloc(needed);
    FUZZ_ASSERT(buf);
    FUZZ_ASSERT(vmsec_topology_to_text(t, buf, needed, &needed) == 0);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmsec_topology *t = NULL, *u = NULL;
    if (size < 1)
        return 0;
    int rc = data[0] & 1 ? vmsec_topology_parse(&t, (const char *)data + 1, size - 1, "fuzz")
                         : vmsec_topology_from_capabilities(&t, (const char *)data + 1, size - 1);
    if (rc != 0) {
        FUZZ_ASSERT(t == NULL && *vmsec_error_last());
        return 0;
    }
    char *t1 = print(t);
    FUZZ_ASSERT(vmsec_topology_parse(&u, t1, strlen(t1), "printed") == 0);
    char *t2 = print(u);
    FUZZ_ASSERT(strcmp(t1, t2) == 0);
    free(t1);
    free(t2);
    vmsec_topology_free(t);
    vmsec_topology_free(u);
    return 0;
}
