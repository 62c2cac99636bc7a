/* SPDX-License-Identifier: ISC */
/* Guarded memory for secrets: small slots carved from sodium_malloc'd chunks (guard pages, mlock,
 * wiped on free), so per-channel key material does not cost a page pair each. */
#include "config.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel/guarded.h"

#define CHUNK_BYTES (64 * 1024) /* a multiple of the page size: sodium_malloc returns it page-aligned */
#define SLOT_HDR 64              /* keeps the caller's pointer 64-byte aligned */
#define NCLASSES 2

/* A slot: [hdr: owning chunk, or NULL for a dedicated sodium_malloc][caller's bytes]. */
struct slot_hdr {
    struct chunk *chunk;
};

struct chunk {
    struct chunk *next;
    uint8_t *base; /* sodium_malloc'd, CHUNK_BYTES */
    void *free_list; /* free slots, linked through their first bytes after the header */
    size_t used;
    unsigned cls;
};

static const size_t slot_size[NCLASSES] = {256, 2048};
static struct chunk *chunks[NCLASSES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct chunk *chunk_new(unsigned cls)
{
    struct chunk *c = calloc(1, sizeof(*c));
    size_t n = CHUNK_BYTES / slot_size[cls];
    if (!c || !(c->base = sodium_malloc(CHUNK_BYTES))) {
        free(c);
        return NULL;
    }
    sodium_memzero(c->base, CHUNK_BYTES);
    c->cls = cls;
    for (size_t i = n; i-- > 0;) {
        uint8_t *s = c->base + i * slot_size[cls];
        memcpy(s + SLOT_HDR, &c->free_list, sizeof(void *));
        c->free_list = s;
    }
    c->next = chunks[cls];
    chunks[cls] = c;
    return c;
}

void *vmsec__guarded_alloc(size_t len)
{
    struct chunk *c;
    struct slot_hdr *h;
    uint8_t *s;
    unsigned cls = 0;
    while (cls < NCLASSES && len > slot_size[cls] - SLOT_HDR)
        cls++;
    if (cls == NCLASSES) {
        /* sodium_malloc puts the block against the end of a page: a multiple of 64 keeps it aligned */
        size_t total = (SLOT_HDR + len + 63) & ~(size_t)63;
        if (total < len || !(s = sodium_malloc(total)))
            return NULL;
        sodium_memzero(s, total);
        return s + SLOT_HDR; /* header NULL: dedicated */
    }
    pthread_mutex_lock(&lock);
    for (c = chunks[cls]; c && !c->free_list; c = c->next)
        ;
    if (!c && !(c = chunk_new(cls))) {
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    s = c->free_list;
    memcpy(&c->free_list, s + SLOT_HDR, sizeof(void *));
    c->used++;
    pthread_mutex_unlock(&lock);
    memset(s + SLOT_HDR, 0, sizeof(void *));
    h = (struct slot_hdr *)s;
    h->chunk = c;
    return s + SLOT_HDR;
}

void vmsec__guarded_free(void *p)
{
    uint8_t *s;
    struct chunk *c, **pp;
    if (!p)
        return;
    s = (uint8_t *)p - SLOT_HDR;
    c = ((struct slot_hdr *)s)->chunk;
    if (!c) {
        sodium_free(s); /* wipes */
        return;
    }
    sodium_memzero(s, slot_size[c->cls]);
    pthread_mutex_lock(&lock);
    memcpy(s + SLOT_HDR, &c->free_list, sizeof(void *));
    c->free_list = s;
    /* an empty chunk is returned unless it is the only one of its class (no map/unmap churn for
     * a process that opens and closes one channel at a time) */
    if (--c->used == 0 && !(chunks[c->cls] == c && !c->next)) {
        for (pp = &chunks[c->cls]; *pp != c; pp = &(*pp)->next)
            ;
        *pp = c->next;
        sodium_free(c->base);
        free(c);
    } else if (chunks[c->cls] != c) {
        /* move to the front: the next allocation finds a free slot at once */
        for (pp = &chunks[c->cls]; *pp != c; pp = &(*pp)->next)
            ;
        *pp = c->next;
        c->next = chunks[c->cls];
        chunks[c->cls] = c;
    }
    pthread_mutex_unlock(&lock);
}
