/* SPDX-License-Identifier: ISC */
/* A session's resend region: one mapping that holds its unacknowledged messages once many bytes
 * are in flight (session.c decides when). Messages are acknowledged in the order they were sent,
 * so the region is used as a ring: allocations at the tail, releases at the head, and nothing to
 * search or coalesce.
 *
 * Why not malloc: a stream of large messages fills the window (8 MiB by default) with fresh heap
 * memory, and each 4 KiB page of it is zeroed by the kernel on first touch. On a virtual machine
 * a page fault costs several microseconds; bench_session measured about 2,000 of them per session
 * filling its window, a tenth of its sending thread's time. The region is advised for transparent
 * huge pages (where the system allows them on request), which fills the same window with a handful
 * of faults, and it keeps its pages from one message to the next. */
#include "config.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "channel/session_ring.h"
#include "vmsec/errors.h"

#define HUGE_PAGE ((size_t)2 << 20)

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

static void reset(struct vmsec__sring *r)
{
    r->head = r->tail = 0;
    r->mark = r->cap;
    r->live = 0;
    r->wrapped = false;
}

void vmsec__sring_attach(struct vmsec__sring *r, uint8_t *base, size_t cap)
{
    r->base = base;
    r->cap = cap / VMSEC__SRING_ALIGN * VMSEC__SRING_ALIGN;
    reset(r);
}

/* Regions of freed sessions kept for the next ones, which then find their pages already there (on
 * a virtual machine even a huge page costs the host a fault per small page on first touch). At
 * most CACHED regions, process-wide; they hold whatever messages they last held, like memory
 * given back to malloc. */
#define CACHED 2
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint8_t *base;
    size_t cap;
} cache[CACHED];

static uint8_t *cache_take(size_t cap)
{
    uint8_t *m = NULL;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHED && !m; i++)
        if (cache[i].base && cache[i].cap == cap) {
            m = cache[i].base;
            cache[i].base = NULL;
        }
    pthread_mutex_unlock(&cache_lock);
    return m;
}

static bool cache_keep(uint8_t *base, size_t cap)
{
    bool kept = false;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHED && !kept; i++)
        if (!cache[i].base) {
            cache[i].base = base;
            cache[i].cap = cap;
            kept = true;
        }
    pthread_mutex_unlock(&cache_lock);
    return kept;
}

int vmsec__sring_init(struct vmsec__sring *r, size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = round_up(cap, page), lead;
    uint8_t *m;
    if ((m = cache_take(len))) {
        vmsec__sring_attach(r, m, len);
        return 0;
    }
    /* map a huge page more than needed, keep the huge-page-aligned part: only aligned 2 MiB ranges
     * of a mapping can be backed by huge pages */
    m = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return VMSEC_ENOMEM; /* not an error to report: the session falls back to malloc */
    lead = round_up((uintptr_t)m, HUGE_PAGE) - (uintptr_t)m;
    if (lead)
        munmap(m, lead);
    munmap(m + lead + len, HUGE_PAGE - lead);
#ifdef MADV_HUGEPAGE
    (void)madvise(m + lead, len, MADV_HUGEPAGE); /* advice only: without huge pages it still works */
#endif
    vmsec__sring_attach(r, m + lead, len);
    return 0;
}

void vmsec__sring_release(struct vmsec__sring *r)
{
    if (r->base && !cache_keep(r->base, r->cap))
        munmap(r->base, r->cap);
    memset(r, 0, sizeof(*r));
}

void *vmsec__sring_alloc(struct vmsec__sring *r, size_t n)
{
    size_t at;
    n = round_up(n ? n : 1, VMSEC__SRING_ALIGN);
    if (!r->live)
        reset(r);
    if (!r->wrapped) {
        if (r->cap - r->tail >= n) {
            at = r->tail;
        } else if (r->head >= n) {
            /* the end cannot hold it: start again from the beginning, leaving [tail, cap) unused
             * until the allocations before it are given back */
            r->mark = r->tail;
            r->wrapped = true;
            at = 0;
        } else {
            return NULL;
        }
    } else if (r->head - r->tail >= n) {
        at = r->tail;
    } else {
        return NULL;
    }
    r->tail = at + n;
    r->live++;
    return r->base + at;
}

void vmsec__sring_free_oldest(struct vmsec__sring *r, const void *p, size_t n)
{
    size_t at = (size_t)((const uint8_t *)p - r->base);
    n = round_up(n ? n : 1, VMSEC__SRING_ALIGN);
    r->head = at + n;
    if (r->wrapped && r->head == r->mark) {
        /* the last allocation before the wrap: the oldest now starts at the beginning */
        r->head = 0;
        r->wrapped = false;
        r->mark = r->cap;
    }
    if (!--r->live)
        reset(r);
}
