/* SPDX-License-Identifier: ISC */
/* Fuzz target: vmsec_domain_render() with hostile domain XML and a fixed, valid profile that
 * touches every section the renderer writes. Oracles: a refusal leaves no output and a message;
 * rendered XML renders again to the same XML (rendering is idempotent). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmsec.h"

static vmsec_profile *profile;

static const char profile_text[] =
    "name = render-all\n"
    "vcpus = 4\n"
    "iothreads = 2\n"
    "vcpu.0.pin = 2\n"
    "vcpu.1.pin = 3\n"
    "emulator.pin = 0-1\n"
    "iothread.1.pin = 0\n"
    "iothread.2.pin = 1\n"
    "cpu.shares = 512\n"
    "cpu.vcpu_period = 100000\n"
    "cpu.vcpu_quota = 50000\n"
    "cpu.emulator_period = 200000\n"
    "cpu.emulator_quota = -1\n"
    "cpu.iothread_period = 100000\n"
    "cpu.iothread_quota = 20000\n"
    "cpu.global_period = 100000\n"
    "cpu.global_quota = 300000\n"
    "numa.mode = strict\n"
    "numa.nodeset = 0\n"
    "memory.hard_limit = 3G\n"
    "memory.soft_limit = 2G\n"
    "memory.swap_hard_limit = unlimited\n"
    "memory.locked = no\n"
    "memory.nosharepages = yes\n"
    "memory.hugepages.size = 2M\n"
    "blkio.weight = 300\n"
    "blkio.device.0.path = /dev/vg0/web1\n"
    "blkio.device.0.read_bytes_sec = 10485760\n"
    "blkio.device.0.write_iops_sec = 200\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (vmsec_profile_parse(&profile, profile_text, strlen(profile_text), "fixed") != 0 ||
        vmsec_profile_validate(profile) != 0) {
        fprintf(stderr, "fuzz_domain_render: fixed profile refused: %s\n", vmsec_error_last());
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = malloc(size + 1), *out = NULL, *out2 = NULL;
    FUZZ_ASSERT(xml);
    memcpy(xml, data, size);
    xml[size] = 0;
    int rc = vmsec_domain_render(profile, xml, &out);
    if (rc != 0) {
        FUZZ_ASSERT(out == NULL && *vmsec_error_last());
    } else {
        FUZZ_ASSERT(out);
        FUZZ_ASSERT(vmsec_domain_render(profile, out, &out2) == 0);
        FUZZ_ASSERT(strcmp(out, out2) == 0); /* idempotent (corpus: whitespace-only container) */
    }
    vmsec_domain_xml_free(out);
    vmsec_domain_xml_free(out2);
    free(xml);
    return 0;
}
