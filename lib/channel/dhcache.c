/* SPDX-License-Identifier: ISC */
/* The static-static DH cache: see dhcache.h. */
#include "config.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "channel/dhcache.h"
#include "channel/guarded.h"

struct slot {
    uint8_t peer[32];
    uint8_t shared[32];
    uint64_t used; /* 0 = empty; else the tick of the last use */
};

struct bucket {
    struct slot slot[DH_CACHE_BUCKET_SLOTS];
};

_Static_assert(sizeof(struct bucket) <= VMSEC_GUARDED_SLOT_MAX, "a bucket is one slot of the guarded pool");

struct vmsec__dh_cache {
    atomic_uint refs;
    pthread_mutex_t lock;
    uint64_t tick;
    struct bucket *bucket[DH_CACHE_BUCKETS]; /* guarded, taken when its first result is stored */
};

vmsec__dh_cache *vmsec__dh_cache_new(void)
{
    vmsec__dh_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

vmsec__dh_cache *vmsec__dh_cache_ref(vmsec__dh_cache *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void vmsec__dh_cache_unref(vmsec__dh_cache *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (unsigned i = 0; i < DH_CACHE_BUCKETS; i++)
        vmsec__guarded_free(c->bucket[i]); /* wipes */
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static struct slot *find(struct bucket *b, const uint8_t peer[32])
{
    for (unsigned i = 0; b && i < DH_CACHE_BUCKET_SLOTS; i++)
        if (b->slot[i].used && memcmp(b->slot[i].peer, peer, 32) == 0) /* public keys: not secret */
            return &b->slot[i];
    return NULL;
}

bool vmsec__dh_cache_get(vmsec__dh_cache *c, const uint8_t peer[32], uint8_t shared[32])
{
    struct slot *s;
    if (!c)
        return false;
    pthread_mutex_lock(&c->lock);
    if ((s = find(c->bucket[peer[0] % DH_CACHE_BUCKETS], peer))) {
        memcpy(shared, s->shared, 32);
        s->used = ++c->tick;
    }
    pthread_mutex_unlock(&c->lock);
    return s != NULL;
}

void vmsec__dh_cache_put(vmsec__dh_cache *c, const uint8_t peer[32], const uint8_t shared[32])
{
    struct bucket **b;
    struct slot *s;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    b = &c->bucket[peer[0] % DH_CACHE_BUCKETS];
    if (!*b)
        *b = vmsec__guarded_alloc(sizeof(struct bucket)); /* zeroed; NULL: not cached this time */
    if (*b && !find(*b, peer)) {
        s = &(*b)->slot[0];
        for (unsigned i = 1; i < DH_CACHE_BUCKET_SLOTS && s->used; i++)
            if ((*b)->slot[i].used < s->used)
                s = &(*b)->slot[i];
        memcpy(s->peer, peer, 32);
        memcpy(s->shared, shared, 32);
        s->used = ++c->tick;
    }
    pthread_mutex_unlock(&c->lock);
}

unsigned vmsec__dh_cache_count(vmsec__dh_cache *c)
{
    unsigned n = 0;
    if (!c)
        return 0;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < DH_CACHE_BUCKETS; i++)
        for (unsigned j = 0; c->bucket[i] && j < DH_CACHE_BUCKET_SLOTS; j++)
            n += c->bucket[i]->slot[j].used != 0;
    pthread_mutex_unlock(&c->lock);
    return n;
}
