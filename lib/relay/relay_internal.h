/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: relay wire format (doc/RELAY.md) and the libvirt directory. */
#ifndef VMSEC_RELAY_INTERNAL_H
#define VMSEC_RELAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmsec/policy.h"

#define RELAY_MAGIC "VMSR"
#define RELAY_TYPE_REQUEST 1
#define RELAY_TYPE_REPLY 2
#define RELAY_TYPE_ORIGIN 3
#define RELAY_REQ_FIXED 8    /* magic, version, type, target_len, service_len */
#define RELAY_REPLY_LEN 8    /* magic, version, type, status, reserved */
#define RELAY_ORIGIN_FIXED 12 /* magic, version, type, source_len, service_len, cid (u32 BE) */
#define RELAY_REQ_MAX (RELAY_REQ_FIXED + VMSEC_POLICY_NAME_MAX + VMSEC_POLICY_SERVICE_MAX)
#define RELAY_ORIGIN_MAX (RELAY_ORIGIN_FIXED + VMSEC_POLICY_NAME_MAX + VMSEC_POLICY_SERVICE_MAX)

/* Result of looking at the first bytes of a request. */
enum relay_parse { RELAY_PARSE_NEED_MORE, RELAY_PARSE_OK, RELAY_PARSE_BAD };

/* Parses a request held in buf[0..len). On RELAY_PARSE_NEED_MORE *need is the total length needed
 * so far; on OK target and service are NUL-terminated copies. */
enum relay_parse vmsec__relay_parse_request(const uint8_t *buf, size_t len, size_t *need,
                                            char target[VMSEC_POLICY_NAME_MAX + 1],
                                            char service[VMSEC_POLICY_SERVICE_MAX + 1]);
size_t vmsec__relay_encode_request(uint8_t *out, const char *target, const char *service);
void vmsec__relay_encode_reply(uint8_t out[RELAY_REPLY_LEN], int status);
size_t vmsec__relay_encode_origin(uint8_t *out, const char *source, uint32_t cid, const char *service);

/* CID <-> domain directory. The relay reaches it only through these operations, so the relay
 * core builds without libvirt (e.g. for guest test programs); relay_libvirt.c provides the
 * libvirt implementation behind vmsec_relay_use_libvirt(). */
struct relay_dir_ops {
    int (*by_cid)(void *dir, uint32_t cid, char *name, size_t cap, const char *const **tags);
    int (*by_name)(void *dir, const char *name, uint32_t *cid, const char *const **tags, bool may_refresh);
    void (*free)(void *dir);
};
struct vmsec_relay;
/* Installs a directory (taking ownership of dir) and drops identify/connect callbacks. */
void vmsec__relay_set_directory(struct vmsec_relay *r, const struct relay_dir_ops *ops, void *dir);

/* The libvirt directory. */
struct relay_directory;
int vmsec__relay_dir_open(struct relay_directory **out, const char *uri);
void vmsec__relay_dir_free(struct relay_directory *d);
/* Domain of a running guest with this CID; tags is set to a NULL-terminated array owned by the
 * directory (valid until the next directory call). */
int vmsec__relay_dir_by_cid(struct relay_directory *d, uint32_t cid, char *name, size_t cap,
                            const char *const **tags);
/* may_refresh false: never refresh, so tags handed out earlier stay valid. */
int vmsec__relay_dir_by_name(struct relay_directory *d, const char *name, uint32_t *cid,
                             const char *const **tags, bool may_refresh);
/* Parses a domain's XML: CID (0 if none) and metadata tags. Exposed for unit tests. */
int vmsec__relay_dir_parse_xml(const char *xml, uint32_t *cid, char ***tags, size_t *ntags);

#endif
