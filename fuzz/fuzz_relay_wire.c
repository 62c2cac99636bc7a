/* SPDX-License-Identifier: ISC */
/* Fuzz target: the relay wire parsers (doc/RELAY.md). Byte 0 selects the parser:
 *   0: vmsec__relay_parse_request() as the relay applies it, growing the buffer to what it asks;
 *   1: vmsec_relay_origin_read() on a socketpair holding the bytes (then EOF), as a target reads it;
 *   2: vmsec_relay_request() reading the fuzzed reply after its own request;
 *   3: vmsec__relay_dir_parse_xml(), the domain XML the libvirt directory reads CIDs and tags from.
 * Oracles: a parsed request re-encodes to exactly the bytes it was parsed from; "need more" always
 * asks for more than it was given and no more than RELAY_REQ_MAX; strings returned are
 * NUL-terminated within their buffers. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "relay/relay_internal.h"
#include "vmsec.h"

static void parse_request(const uint8_t *data, size_t size)
{
    char target[VMSEC_POLICY_NAME_MAX + 1], service[VMSEC_POLICY_SERVICE_MAX + 1];
    size_t have = size < RELAY_REQ_FIXED ? size : RELAY_REQ_FIXED;
    for (;;) {
        size_t need = 0;
        enum relay_parse pr = vmsec__relay_parse_request(data, have, &need, target, service);
        if (pr == RELAY_PARSE_BAD)
            return;
        if (pr == RELAY_PARSE_OK) {
            uint8_t again[RELAY_REQ_MAX];
            FUZZ_ASSERT(memchr(target, 0, sizeof(target)) && memchr(service, 0, sizeof(service)));
            size_t n = vmsec__relay_encode_request(again, target, service);
            FUZZ_ASSERT(n <= have && memcmp(again, data, n) == 0);
            return;
        }
        FUZZ_ASSERT(need > have && need <= RELAY_REQ_MAX);
        if (need > size)
            return;
        have = need;
    }
}

static int loaded_pair(const uint8_t *data, size_t size, int sv[2])
{
    FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    if (size > 65536)
        size = 65536; /* fits the socket buffer: the write must not block */
    for (size_t off = 0; off < size;) {
        ssize_t n = write(sv[1], data + off, size - off);
        FUZZ_ASSERT(n > 0);
        off += (size_t)n;
    }
    shutdown(sv[1], SHUT_WR);
    return 0;
}

static void origin_read(const uint8_t *data, size_t size)
{
    int sv[2];
    char domain[VMSEC_POLICY_NAME_MAX + 1], service[VMSEC_POLICY_SERVICE_MAX + 1];
    uint32_t cid = 0;
    loaded_pair(data, size, sv);
    if (vmsec_relay_origin_read(sv[0], 1000, domain, sizeof(domain), &cid, service, sizeof(service)) == 0) {
        FUZZ_ASSERT(memchr(domain, 0, sizeof(domain)) && memchr(service, 0, sizeof(service)));
        uint8_t again[RELAY_ORIGIN_MAX];
        size_t n = vmsec__relay_encode_origin(again, domain, cid, service);
        FUZZ_ASSERT(n <= size && memcmp(again, data, n) == 0);
    }
    close(sv[0]);
    close(sv[1]);
}

static void request_reply(const uint8_t *data, size_t size)
{
    int sv[2];
    loaded_pair(data, size, sv);
    int rc = vmsec_relay_request(sv[0], "target", "svc", 1000);
    FUZZ_ASSERT(rc <= 0);
    close(sv[0]);
    close(sv[1]);
}

static void dir_xml(const uint8_t *data, size_t size)
{
    char *xml = malloc(size + 1), **tags = NULL;
    uint32_t cid = 0;
    size_t ntags = 0;
    FUZZ_ASSERT(xml);
    memcpy(xml, data, size);
    xml[size] = 0;
    if (vmsec__relay_dir_parse_xml(xml, &cid, &tags, &ntags) == 0) {
        for (size_t i = 0; i < ntags; i++) {
            FUZZ_ASSERT(tags[i]);
            free(tags[i]);
        }
        free(tags);
    } else {
        FUZZ_ASSERT(tags == NULL || ntags == 0);
        free(tags);
    }
    free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] & 3) {
    case 0: parse_request(data + 1, size - 1); break;
    case 1: origin_read(data + 1, size - 1); break;
    case 2: request_reply(data + 1, size - 1); break;
    default: dir_xml(data + 1, size - 1); break;
    }
    return 0;
}
