/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: small guarded allocations (cipherstates, handshake states) carved from shared
 * sodium_malloc chunks, so that a channel costs no mmap/mprotect/mlock system calls, no guard-page
 * mappings of its own and no locked page of its own. The chunks are guarded, locked and excluded
 * from core dumps like any sodium_malloc memory; a slot is wiped when it is freed. */
#ifndef VMSEC_GUARDED_H
#define VMSEC_GUARDED_H

#include <stddef.h>

/* Largest size vmsec__guarded_alloc serves from a chunk; larger ones get their own sodium_malloc. */
#define VMSEC_GUARDED_SLOT_MAX 1984

/* Zeroed guarded memory of len bytes, 64-byte aligned, or NULL (out of memory). Thread-safe. */
void *vmsec__guarded_alloc(size_t len);
/* Wipes and releases what vmsec__guarded_alloc returned; NULL is ignored. Thread-safe. */
void vmsec__guarded_free(void *p);

#endif
