/* SPDX-License-Identifier: ISC */
/* The region that holds a busy session's unacknowledged messages (session_ring.c). */
#ifndef VMSEC_SESSION_RING_H
#define VMSEC_SESSION_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Allocations are taken at the tail and given back oldest first, as a session's send queue takes
 * and releases its messages: live allocations are [head, tail) or, once the tail has wrapped to
 * the start, [head, mark) and [0, tail). */
struct vmsec__sring {
    uint8_t *base; /* NULL until vmsec__sring_init() */
    size_t cap;
    size_t head, tail, mark;
    size_t live; /* allocations not given back */
    bool wrapped;
};

/* Alignment of every allocation. */
#define VMSEC__SRING_ALIGN 64

/* Maps a region of at least cap bytes (rounded up to whole pages), aligned and advised for
 * transparent huge pages. Nothing is touched: memory is used as allocations first reach it. */
int vmsec__sring_init(struct vmsec__sring *r, size_t cap);
/* Unmaps the region (whatever is still allocated in it is gone). Accepts an unused ring. */
void vmsec__sring_release(struct vmsec__sring *r);
/* Sets up a ring over caller-provided memory (base aligned to VMSEC__SRING_ALIGN): for tests. */
void vmsec__sring_attach(struct vmsec__sring *r, uint8_t *base, size_t cap);
/* n bytes, contiguous and aligned, or NULL when the free space cannot hold them in one piece. */
void *vmsec__sring_alloc(struct vmsec__sring *r, size_t n);
/* Gives back the oldest live allocation, p of n bytes (as asked of vmsec__sring_alloc). */
void vmsec__sring_free_oldest(struct vmsec__sring *r, const void *p, size_t n);
/* Whether p lies in the ring's region. */
static inline bool vmsec__sring_owns(const struct vmsec__sring *r, const void *p)
{
    return r->base && (const uint8_t *)p >= r->base && (const uint8_t *)p < r->base + r->cap;
}

#endif
