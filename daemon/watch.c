/* SPDX-License-Identifier: ISC */
/* One watch per libvirt URI: the connection (local or through libvirt's remote driver), its
 * domain events, and its loss. A lost connection (libvirtd restarted, network gone, keepalive
 * timed out) is noticed through the close callback; the watch then reconnects with a capped
 * exponential backoff, registers its events again and resyncs every domain, since events sent
 * while it was away are gone. Everything runs in libvirt's default event loop but the opening of
 * a connection, which has a thread of its own. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmsecd.h"

static void check_ready(vmsecd *d)
{
    if (d->ready)
        return;
    for (size_t i = 0; i < d->nuris; i++)
        if (!d->uris[i].attempted)
            return;
    d->ready = true;
    vmsecd_notify("READY=1");
}

/* A host that neither answers nor refuses holds its first attempt for minutes; systemd would give
 * up on the unit long before. Ready then means the other hosts are synced. */
#define READY_TIMEOUT_MS 30000

static void on_ready_timeout(int timer, void *opaque)
{
    vmsecd *d = opaque;
    virEventRemoveTimeout(timer);
    if (!d->ready) {
        d->ready = true;
        vmsecd_notify("READY=1");
    }
}

static void status_line(vmsecd *d)
{
    size_t up = 0, doms = 0;
    for (size_t i = 0; i < d->nuris; i++) {
        up += d->uris[i].conn != NULL;
        for (vmsecd_domain *e = d->uris[i].domains; e; e = e->next)
            doms++;
    }
    vmsecd_notify("STATUS=%zu/%zu connections, %zu domains enforced, %lu drifts, %lu repairs", up, d->nuris, doms,
                  d->drifts, d->repairs);
}

static const char *start_reason(int detail)
{
    switch (detail) {
    case VIR_DOMAIN_EVENT_STARTED_BOOTED: return "booted";
    case VIR_DOMAIN_EVENT_STARTED_MIGRATED: return "migrated";
    case VIR_DOMAIN_EVENT_STARTED_RESTORED: return "restored";
    case VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT: return "from-snapshot";
    case VIR_DOMAIN_EVENT_STARTED_WAKEUP: return "wakeup";
    default: return "started";
    }
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    vmsecd_uri *u = opaque;
    double t0 = vmsecd_mono();
    char uuid[VIR_UUID_STRING_BUFLEN];
    (void)conn;

    u->event_at = vmsecd_now();

    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
        /* A fresh QEMU: nothing of the live part is in force yet (a migration or restore brings
         * the definition, not the cgroups and affinities of this host). */
        vmsecd_enforce_domain(u, dom, detail != VIR_DOMAIN_EVENT_STARTED_WAKEUP, start_reason(detail));
        break;
    case VIR_DOMAIN_EVENT_RESUMED:
        /* A booting domain is resumed just before its STARTED event, which applies and verifies
         * it: a verify now would only delay that apply. Domains already enforced are verified. */
        if (!vmsecd_enforce_known(u, dom)) {
            u->event_at = 0;
            return 0;
        }
        vmsecd_enforce_domain(u, dom, false, "resumed");
        break;
    case VIR_DOMAIN_EVENT_DEFINED:
        vmsecd_enforce_domain(u, dom, false, "defined");
        break;
    case VIR_DOMAIN_EVENT_STOPPED:
    case VIR_DOMAIN_EVENT_UNDEFINED:
        if (virDomainGetUUIDString(dom, uuid) == 0)
            vmsecd_enforce_forget(u, uuid);
        u->event_at = 0;
        return 0;
    default:
        return 0;
    }
    u->event_at = 0;
    u->event_lag = vmsecd_mono() - t0;
    status_line(u->d);
    return 0;
}

static void on_metadata(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *opaque)
{
    vmsecd_uri *u = opaque;
    double t0 = vmsecd_mono();
    (void)conn;
    if (type == VIR_DOMAIN_METADATA_ELEMENT && nsuri && strcmp(nsuri, VMSEC_METADATA_URI) != 0)
        return; /* someone else's metadata */
    u->event_at = vmsecd_now();
    vmsecd_enforce_domain(u, dom, false, "metadata-change");
    u->event_at = 0;
    u->event_lag = vmsecd_mono() - t0;
}

static void schedule(vmsecd_uri *u, unsigned int seconds);

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    static const char *const reasons[] = {"error", "eof", "keepalive", "client"};
    vmsecd_uri *u = opaque;
    (void)conn;
    if (u->close_pending)
        return;
    u->close_pending = true;
    vmsecd_audit(u->d, "disconnected", u, NULL, "reason",
                 reason >= 0 && reason < 4 ? reasons[reason] : "unknown", (char *)NULL);
    /* Tearing down inside libvirt's own callback is not allowed: do it from a timer. */
    schedule(u, 0);
}

static void teardown(vmsecd_uri *u)
{
    if (!u->conn)
        return;
    if (u->cb_lifecycle >= 0)
        virConnectDomainEventDeregisterAny(u->conn, u->cb_lifecycle);
    if (u->cb_metadata >= 0)
        virConnectDomainEventDeregisterAny(u->conn, u->cb_metadata);
    virConnectUnregisterCloseCallback(u->conn, on_close);
    u->cb_lifecycle = u->cb_metadata = -1;
    virConnectClose(u->conn);
    u->conn = NULL;
    for (vmsecd_domain *e = u->domains, *next; e; e = next) {
        next = e->next;
        vmsecd_domain_free(e);
    }
    u->domains = NULL;
    vmsec_topology_free(u->topology);
    u->topology = NULL;
    vmsecd_state_changed(u->d);
}

/* Registers the events on a fresh connection, in the loop's thread. */
static int attach(vmsecd_uri *u, virConnectPtr conn)
{
    u->conn = conn;
    char *host = virConnectGetHostname(u->conn);
    snprintf(u->host, sizeof(u->host), "%s", host ? host : "");
    free(host);
    /* Remote connections would otherwise notice a dead peer only at their next call. */
    virConnectSetKeepAlive(u->conn, 5, 3);
    if (virConnectRegisterCloseCallback(u->conn, on_close, u, NULL) < 0 ||
        (u->cb_lifecycle = virConnectDomainEventRegisterAny(u->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                            VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), u, NULL)) < 0 ||
        (u->cb_metadata = virConnectDomainEventRegisterAny(u->conn, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_metadata), u, NULL)) < 0) {
        snprintf(u->open_error, sizeof(u->open_error), "%s", virGetLastErrorMessage());
        teardown(u);
        return -1;
    }
    return 0;
}

static void connect_failed(vmsecd_uri *u)
{
    char wait[16];
    snprintf(wait, sizeof(wait), "%u", u->backoff);
    vmsecd_audit(u->d, "error", u, NULL, "step", "connect", "message", u->open_error, "retry_in", wait, (char *)NULL);
    u->attempted = true;
    check_ready(u->d);
    status_line(u->d);
    schedule(u, u->backoff);
    u->backoff = u->backoff * 2 > u->d->opt.reconnect_max ? u->d->opt.reconnect_max : u->backoff * 2;
}

static void connected(vmsecd_uri *u)
{
    if (u->attempted)
        u->reconnects++;
    u->backoff = 1;
    vmsecd_audit(u->d, "connected", u, NULL, (char *)NULL);
    vmsecd_replan_topology(u); /* now: the hook's replans must not call libvirt */
    vmsecd_enforce_all(u, "resync");
    u->last_resync = vmsecd_now();
    size_t n = 0;
    for (vmsecd_domain *e = u->domains; e; e = e->next)
        n++;
    char count[24];
    snprintf(count, sizeof(count), "%zu", n);
    vmsecd_audit(u->d, "resync", u, NULL, "domains", count, (char *)NULL);
    u->attempted = true;
    check_ready(u->d);
    status_line(u->d);
}

/* Opening a connection may wait minutes for an unreachable host (TCP, SSH): it runs in a thread of
 * its own, so that the other hosts' events keep flowing, and hands the result to the loop through
 * a pipe carrying the watch's index. */
static int opened_pipe[2] = {-1, -1};

static void *opener(void *arg)
{
    vmsecd_uri *u = arg;
    unsigned char idx = (unsigned char)(u - u->d->uris);
    u->opened = virConnectOpen(u->uri);
    if (!u->opened)
        snprintf(u->open_error, sizeof(u->open_error), "%s", virGetLastErrorMessage());
    (void)!write(opened_pipe[1], &idx, 1);
    return NULL;
}

static void on_opened(int watch, int fd, int events, void *opaque)
{
    vmsecd *d = opaque;
    unsigned char idx[VMSECD_MAX_URIS];
    ssize_t n = read(fd, idx, sizeof(idx));
    (void)watch;
    (void)events;
    for (ssize_t i = 0; i < n; i++) {
        vmsecd_uri *u = &d->uris[idx[i] % VMSECD_MAX_URIS];
        u->connecting = false;
        if (u->opened && attach(u, u->opened) == 0)
            connected(u);
        else
            connect_failed(u);
        u->opened = NULL;
    }
}

/* The reconnect timer (also the first connect): tear down a closed connection, open a new one. */
static void on_timer(int timer, void *opaque)
{
    vmsecd_uri *u = opaque;
    pthread_t t;
    pthread_attr_t attr;
    (void)timer;
    virEventRemoveTimeout(u->timer);
    u->timer = -1;
    if (u->close_pending) {
        u->close_pending = false;
        teardown(u);
        u->backoff = 1;
    }
    if (u->conn || u->connecting)
        return;
    u->connecting = true;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, opener, u) != 0) {
        u->connecting = false;
        snprintf(u->open_error, sizeof(u->open_error), "cannot start a thread to connect");
        connect_failed(u);
    }
    pthread_attr_destroy(&attr);
}

static void schedule(vmsecd_uri *u, unsigned int seconds)
{
    if (u->timer >= 0)
        virEventRemoveTimeout(u->timer);
    u->timer = virEventAddTimeout((int)(seconds * 1000), on_timer, u, NULL);
}

/* The periodic verify of every domain on every connection. */
static void on_interval(int timer, void *opaque)
{
    vmsecd *d = opaque;
    (void)timer;
    for (size_t i = 0; i < d->nuris; i++)
        if (d->uris[i].conn && !d->uris[i].close_pending)
            vmsecd_enforce_all(&d->uris[i], "interval");
    status_line(d);
}

int vmsecd_watch_start(vmsecd *d)
{
    if (pipe2(opened_pipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
        virEventAddHandle(opened_pipe[0], VIR_EVENT_HANDLE_READABLE, on_opened, d, NULL) < 0)
        return -1;
    d->nuris = d->opt.nuris;
    for (size_t i = 0; i < d->nuris; i++) {
        vmsecd_uri *u = &d->uris[i];
        u->uri = d->opt.uris[i];
        u->d = d;
        u->cb_lifecycle = u->cb_metadata = u->timer = -1;
        u->backoff = 1;
        schedule(u, 0);
    }
    if (virEventAddTimeout((int)(d->opt.interval * 1000), on_interval, d, NULL) < 0 ||
        virEventAddTimeout(READY_TIMEOUT_MS, on_ready_timeout, d, NULL) < 0)
        return -1;
    return 0;
}

void vmsecd_watch_stop(vmsecd *d)
{
    for (size_t i = 0; i < d->nuris; i++) {
        if (d->uris[i].timer >= 0)
            virEventRemoveTimeout(d->uris[i].timer);
        d->uris[i].timer = -1;
        teardown(&d->uris[i]);
    }
}
