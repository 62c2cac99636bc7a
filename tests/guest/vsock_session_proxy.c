/* SPDX-License-Identifier: ISC */
/* The fault proxy of the vsock_session guest program: it accepts AF_VSOCK connections on
 * PORT_PROXY, connects each to the session responder on PORT_SERVER (CID 1, the loopback
 * transport) and relays both ways, until a seeded budget of bytes is spent; then it cuts the pair
 * in one of three ways (enum cut_kind). A quarter of the budgets end within the first EARLY_CUT
 * bytes, in the handshake or the session's opening frames. "Dark" mode cuts everything and stops
 * listening, so that nothing of the proxy holds the vsock transport while it is unloaded. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtap.h"
#include "gvsock.h"
#include "vsock_session.h"

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static uint64_t next_budget(struct proxy *px)
{
    if (!px->mean || atomic_load(&px->cuts) >= px->cuts_max)
        return UINT64_MAX; /* no (more) random cuts: let the transfer finish */
    if (xorshift(&px->rng) % 4 == 0)
        return xorshift(&px->rng) % EARLY_CUT;
    return xorshift(&px->rng) % (2 * px->mean);
}

static void close_orphans(struct proxy *px)
{
    for (int i = 0; i < MAX_PAIRS; i++)
        if (px->orphan[i] >= 0) {
            close(px->orphan[i]);
            px->orphan[i] = -1;
        }
}

/* Ends a pair. A cut the budget asked for is counted; one of dark mode is not. */
static void cut(struct proxy *px, struct pair *p, bool counted)
{
    enum cut_kind kind = counted ? (enum cut_kind)(xorshift(&px->rng) % CUT_KINDS) : CUT_CLOSE;
    if (kind == CUT_HALF && p->early)
        kind = CUT_CLOSE; /* a silent link in the handshake would only stall the responder's accept */
    close_orphans(px);
    if (kind == CUT_SHUTDOWN) {
        shutdown(p->a, SHUT_RDWR);
        shutdown(p->b, SHUT_RDWR);
    }
    close(p->a);
    if (kind == CUT_HALF)
        px->orphan[0] = p->b;
    else
        close(p->b);
    p->a = p->b = -1;
    if (counted && p->budget != UINT64_MAX) {
        atomic_fetch_add(&px->cuts, 1);
        atomic_fetch_add(&px->kinds[kind], 1);
    }
}

static void proxy_accept(struct proxy *px)
{
    int a = gv_accept(px->lfd, NULL), b;
    if (a < 0)
        return;
    if ((b = gv_connect(VMADDR_CID_LOCAL, PORT_SERVER)) < 0) {
        close(a);
        return;
    }
    atomic_fetch_add(&px->connections, 1);
    for (int i = 0; i < MAX_PAIRS; i++)
        if (px->p[i].a < 0) {
            uint64_t budget = next_budget(px);
            px->p[i] = (struct pair){a, b, budget, budget < EARLY_CUT};
            if (px->p[i].early)
                atomic_fetch_add(&px->early_cuts, 1);
            return;
        }
    close(a);
    close(b);
}

/* Relays what one side sent, no more than the budget left; false when the pair ended. */
static bool relay(struct proxy *px, struct pair *p, int from, int to)
{
    uint8_t buf[65536];
    size_t want = p->budget < sizeof(buf) ? (size_t)p->budget : sizeof(buf);
    ssize_t n = want ? recv(from, buf, want, 0) : 0;
    if (n <= 0 || gv_write_all(to, buf, (size_t)n) < 0) {
        cut(px, p, true);
        return false;
    }
    if (p->budget != UINT64_MAX && (p->budget -= (uint64_t)n) == 0) {
        cut(px, p, true);
        return false;
    }
    return true;
}

/* Enters or leaves dark mode as asked. */
static void proxy_light(struct proxy *px)
{
    bool want_dark = atomic_load(&px->dark_wanted);
    if (want_dark && px->lfd >= 0) {
        for (int i = 0; i < MAX_PAIRS; i++)
            if (px->p[i].a >= 0)
                cut(px, &px->p[i], false);
        close_orphans(px);
        close(px->lfd);
        px->lfd = -1;
        atomic_store(&px->dark, true);
    } else if (!want_dark && px->lfd < 0) {
        if ((px->lfd = gv_listen(PORT_PROXY, 16)) >= 0)
            atomic_store(&px->dark, false);
    }
}

static void *proxy_run(void *arg)
{
    struct proxy *px = arg;
    while (!atomic_load(&px->stop)) {
        struct pollfd f[1 + 2 * MAX_PAIRS];
        proxy_light(px);
        f[0] = (struct pollfd){.fd = px->lfd, .events = POLLIN};
        for (int i = 0; i < MAX_PAIRS; i++) {
            f[1 + 2 * i] = (struct pollfd){.fd = px->p[i].a, .events = POLLIN};
            f[2 + 2 * i] = (struct pollfd){.fd = px->p[i].b, .events = POLLIN};
        }
        if (poll(f, 1 + 2 * MAX_PAIRS, 50) <= 0)
            continue;
        if (f[0].revents)
            proxy_accept(px);
        for (int i = 0; i < MAX_PAIRS; i++) {
            struct pair *p = &px->p[i];
            if (f[1 + 2 * i].revents && p->a >= 0 && !relay(px, p, p->a, p->b))
                continue;
            if (f[2 + 2 * i].revents && p->a >= 0)
                relay(px, p, p->b, p->a);
        }
    }
    atomic_store(&px->dark_wanted, true);
    proxy_light(px);
    return NULL;
}

int proxy_start(struct proxy *px, uint64_t seed, uint64_t mean, unsigned int cuts_max)
{
    int rc;
    *px = (struct proxy){.rng = seed * 2 + 1, .mean = mean, .cuts_max = cuts_max};
    for (int i = 0; i < MAX_PAIRS; i++) {
        px->p[i].a = px->p[i].b = -1;
        px->orphan[i] = -1;
    }
    if ((px->lfd = gv_listen(PORT_PROXY, 16)) < 0)
        return px->lfd;
    if ((rc = pthread_create(&px->t, NULL, proxy_run, px)) != 0) {
        close(px->lfd);
        return -rc;
    }
    return 0;
}

void proxy_stop(struct proxy *px)
{
    atomic_store(&px->stop, true);
    pthread_join(px->t, NULL);
}

void proxy_set_dark(struct proxy *px, bool dark)
{
    atomic_store(&px->dark_wanted, dark);
    for (int i = 0; i < 400 && atomic_load(&px->dark) != dark; i++)
        usleep(10 * 1000);
}
