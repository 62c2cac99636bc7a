/* SPDX-License-Identifier: ISC */
/* Shared by the fuzz targets: the libFuzzer entry points. A target defines
 * LLVMFuzzerTestOneInput() and may define LLVMFuzzerInitialize(). It must accept any input without
 * crashing, leaking or tripping a sanitizer, and should abort() when an oracle (a round trip, an
 * invariant) fails, so that the fuzzer reports it. See doc/HARDENING.md. */
#ifndef VMSEC_FUZZ_H
#define VMSEC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with a message when an oracle fails: the fuzzer then saves the input. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: oracle failed: %s\n", __FILE__, __LINE__, #cond);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
