/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: relay wire format (doc/RELAY.md) and the libvirt directory. */
#ifndef VMSEC_RELAY_INTERNAL_H
#define VMSEC_RELAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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

/* Who may vouch for an origin (relay_origin.c). The relay connects to a target's vsock port from a
 * reserved port (<= 1023); VMSEC_EPERM when it may not bind one, VMSEC_EADDRINUSE when all are
 * taken. The check refuses an origin header from a peer that could not be the relay. */
int vmsec__relay_vsock_connect_reserved(uint32_t cid, uint32_t port, int *fd);
int vmsec__relay_origin_peer_check(int fd);

/* What the directory knows of one running domain, copied out to the relay (which never holds a
 * pointer into the directory, since the directory changes under it from its own thread). */
#define RELAY_UUID_LEN 37 /* a UUID in text form, with its terminator */
struct relay_ident {
    char name[VMSEC_POLICY_NAME_MAX + 1];
    char uuid[RELAY_UUID_LEN]; /* "" when the directory has no UUIDs (test directories) */
    uint32_t cid;
    uint64_t gen;  /* changes whenever the entry's name, CID or tags change */
    char **tags;   /* NULL-terminated; one allocation owned by the ident (vmsec__relay_ident_clear) */
};

static inline void vmsec__relay_ident_clear(struct relay_ident *id)
{
    free(id->tags);
    id->tags = NULL;
}

/* CID <-> domain directory. The relay reaches it only through these operations, so the relay
 * core builds without libvirt (e.g. for guest test programs); relay_libvirt.c provides the
 * libvirt implementation behind vmsec_relay_use_libvirt(). The operations are called on the
 * relay's loop and must not block: they read a table, never libvirt. */
struct relay_dir_ops {
    /* The running domain with this CID / name; VMSEC_ENOTFOUND, or VMSEC_ESTATE while the
     * directory cannot vouch for its table (not synchronised, or stale): unknown, so refuse. */
    int (*by_cid)(void *dir, uint32_t cid, struct relay_ident *out);
    int (*by_name)(void *dir, const char *name, struct relay_ident *out);
    /* 0 if the domain of id still runs with the same UUID, name, CID and generation. */
    int (*check)(void *dir, const struct relay_ident *id);
    /* Optional: the full resync interval (vmsec_relay_set_directory_resync); may be called from any
     * thread while the loop runs. */
    void (*set_resync)(void *dir, unsigned int ms);
    void (*free)(void *dir);
};
struct vmsec_relay;
/* Installs a directory (taking ownership of dir) and drops identify/connect callbacks. */
void vmsec__relay_set_directory(struct vmsec_relay *r, const struct relay_dir_ops *ops, void *dir);
/* Tests: callers on unix listeners are identified through the directory by the CID this returns
 * for their socket, as vsock callers are by the kernel's peer CID. */
typedef int (*relay_peer_cid_fn)(int fd, uint32_t *cid);
void vmsec__relay_set_peer_cid(struct vmsec_relay *r, relay_peer_cid_fn fn);

/* The libvirt directory (relay_libvirt.c). A thread of its own keeps a UUID-keyed table of the
 * running domains true from libvirt's lifecycle and metadata events, a periodic full resync
 * and reconnection after libvirtd restarts (doc/RELAY.md, "Identity over time"). */
struct relay_directory;
#define RELAY_DIR_NO_EVENTS 1u /* tests: register no event callback (events "lost") */
#define RELAY_DIR_RESYNC_MS 5000u /* default resync interval; lookups fail closed after twice it */
#define RELAY_DIR_RESYNC_MIN_MS 100u
#define RELAY_DIR_RESYNC_MAX_MS 3600000u
int vmsec__relay_dir_open(struct relay_directory **out, const char *uri, unsigned int flags);
void vmsec__relay_dir_free(struct relay_directory *d);
int vmsec__relay_dir_by_cid(struct relay_directory *d, uint32_t cid, struct relay_ident *out);
int vmsec__relay_dir_by_name(struct relay_directory *d, const char *name, struct relay_ident *out);
int vmsec__relay_dir_check(struct relay_directory *d, const struct relay_ident *id);
/* Sets the resync interval (bound on staleness when events are lost), at least 100 ms. */
void vmsec__relay_dir_set_resync(struct relay_directory *d, unsigned int ms);
/* Tests: number of full enumerations made of libvirt so far; whether the table is usable. */
uint64_t vmsec__relay_dir_syncs(struct relay_directory *d);
bool vmsec__relay_dir_ready(struct relay_directory *d);
/* Installs d as r's directory (taking ownership), as vmsec_relay_use_libvirt() does. */
void vmsec__relay_use_directory(struct vmsec_relay *r, struct relay_directory *d);

/* The process-wide libvirt event loop (relay_evloop.c): runs libvirt's default implementation
 * on a thread of ours unless the application registered an implementation of its own first. */
int vmsec__relay_evloop_acquire(void);
void vmsec__relay_evloop_release(void);

/* Parses a domain's XML: CID (0 if none) and metadata tags. Exposed for unit tests. */
int vmsec__relay_dir_parse_xml(const char *xml, uint32_t *cid, char ***tags, size_t *ntags);

#endif
