/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: a cache of static-static DH results (the Noise "ss" token), shared by every
 * channel made from one configuration.
 *
 * DH(s, rs) is the same for every handshake between the same two static keys, so a host or guest
 * that reconnects to a peer it has met before need not compute it again: for IK, the most common
 * pattern between a host and its guests, this saves one of the five X25519 operations on each side.
 * WireGuard precomputes the same value for each configured peer.
 *
 * The results are as secret as the static key they derive from: they live in guarded memory, are
 * looked up by the peer's public key (which is not secret) and are wiped when the last reference
 * goes. A miss costs the DH it would have cost anyway. The cache is bounded: DH_CACHE_BUCKETS
 * buckets of DH_CACHE_BUCKET_SLOTS results, chosen by the peer key's first byte, each replacing its
 * least recently used result; a bucket is one slot of the shared guarded pool (guarded.h), taken
 * when its first result is stored, so a first contact costs no system call. Safe to use from
 * several threads at once. */
#ifndef VMSEC_DHCACHE_H
#define VMSEC_DHCACHE_H

#include <stdbool.h>
#include <stdint.h>

#define DH_CACHE_BUCKETS 16
#define DH_CACHE_BUCKET_SLOTS 24

typedef struct vmsec__dh_cache vmsec__dh_cache;

/* A new, empty cache with one reference, or NULL when out of memory. */
vmsec__dh_cache *vmsec__dh_cache_new(void);
/* Takes one more reference (c may be NULL). */
vmsec__dh_cache *vmsec__dh_cache_ref(vmsec__dh_cache *c);
/* Drops one reference; the last one wipes and frees the cache (c may be NULL). */
void vmsec__dh_cache_unref(vmsec__dh_cache *c);
/* Copies the result cached for the peer's public key into shared; false when there is none. */
bool vmsec__dh_cache_get(vmsec__dh_cache *c, const uint8_t peer[32], uint8_t shared[32]);
/* Stores a result for the peer's public key (silently not stored when out of guarded memory). */
void vmsec__dh_cache_put(vmsec__dh_cache *c, const uint8_t peer[32], const uint8_t shared[32]);
/* Results held now, for tests. */
unsigned vmsec__dh_cache_count(vmsec__dh_cache *c);

#endif
