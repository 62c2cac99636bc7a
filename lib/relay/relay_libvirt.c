/* SPDX-License-Identifier: ISC */
/* The relay's CID <-> domain directory, read from libvirt: each running domain's UUID, name,
 * <devices><vsock><cid address='N'/></vsock> and its vmsec relay tags in <metadata>.
 *
 * Identity over time (doc/RELAY.md): CIDs are reused (libvirt hands the lowest free one out
 * again), so the table is keyed by UUID and kept true by a thread of its own, never by the relay's
 * loop: libvirt's lifecycle, metadata and device events mark it dirty (a stopped domain leaves the
 * table at once), a full resync runs after each batch of events and at least every resync
 * interval (in case events are lost), and when the connection closes (libvirtd restarted) the
 * thread reconnects with backoff. Lookups only read the table under its mutex, and answer
 * "unknown" (VMSEC_ESTATE) until the first sync after a (re)connection and whenever the last sync
 * is older than twice the resync interval: the relay then refuses, it never guesses. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "common/internal.h"
#include "relay/policy_internal.h"
#include "relay/relay_internal.h"
#include "vmsec/relay.h"

#define RELAY_META_NS "https://vmsec.dev/xmlns/relay/1"
#define MAX_TAGS 64
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
#define TOMB_MAX 64
#define NEVENTS 4

struct dir_entry {
    char uuid[RELAY_UUID_LEN];
    char *name;
    uint32_t cid;
    uint64_t gen;
    char **tags; /* NULL-terminated */
};

struct relay_directory {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs; /* the owner, plus one per registered event callback (released by libvirt) */
    /* Under lock: the table and the thread's instructions. */
    struct dir_entry *e;
    size_t n;
    bool synced;        /* the table was synchronised on the current connection */
    int64_t synced_at;  /* when the last good sync began */
    bool dirty, broken, stop;
    unsigned int resync_ms;
    uint64_t next_gen;
    char tomb[TOMB_MAX][RELAY_UUID_LEN]; /* stopped while a sync ran: not to be brought back */
    size_t ntomb;
    bool tomb_over;
    uint64_t syncs;
    /* The thread's own. */
    char *uri;
    unsigned int flags;
    virConnectPtr conn;
    int cb[NEVENTS];
    bool close_cb;
    pthread_t thread;
    bool thread_started, evloop;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void quiet(void *user, virErrorPtr err)
{
    (void)user;
    (void)err;
}

static void free_tags(char **tags)
{
    for (size_t i = 0; tags && tags[i]; i++)
        free(tags[i]);
    free(tags);
}

static void entries_free(struct dir_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free_tags(e[i].tags);
    }
    free(e);
}

int vmsec__relay_dir_parse_xml(const char *xml, uint32_t *cid, char ***tags_out, size_t *ntags)
{
    *cid = 0;
    *tags_out = NULL;
    *ntags = 0;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return vmsec__error(VMSEC_EFORMAT, "relay: libvirt returned unparsable domain XML");
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    char **tags = calloc(MAX_TAGS + 1, sizeof(*tags));
    int rc = 0;
    if (!ctx || !tags || xmlXPathRegisterNs(ctx, (const xmlChar *)"r", (const xmlChar *)RELAY_META_NS) != 0) {
        rc = vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
        goto out;
    }
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)"string(/domain/devices/vsock/cid/@address)", ctx);
    if (o && o->type == XPATH_STRING && o->stringval && o->stringval[0]) {
        char *end;
        unsigned long v = strtoul((const char *)o->stringval, &end, 0);
        if (*end == '\0' && v > 2 && v < 0xFFFFFFFFul)
            *cid = (uint32_t)v;
    }
    xmlXPathFreeObject(o);
    o = xmlXPathEvalExpression((const xmlChar *)"/domain/metadata/r:relay/r:tag", ctx);
    if (o && o->nodesetval) {
        for (int i = 0; i < o->nodesetval->nodeNr && *ntags < MAX_TAGS; i++) {
            xmlChar *t = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
            /* Tags that could not appear in a policy are ignored rather than half-matched. */
            if (t && vmsec__policy_valid_name((const char *)t, VMSEC_POLICY_NAME_MAX))
                tags[(*ntags)++] = strdup((const char *)t);
            xmlFree(t);
            if (*ntags && !tags[*ntags - 1]) {
                rc = vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
                break;
            }
        }
    }
    xmlXPathFreeObject(o);
out:
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    if (rc < 0) {
        free_tags(tags);
        *ntags = 0;
        return rc;
    }
    *tags_out = tags;
    return 0;
}


/* --- the table ---------------------------------------------------------------------------------- */

static bool same_tags(char **a, char **b)
{
    size_t i = 0;
    for (; a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return !a[i] && !b[i];
}

static const struct dir_entry *entry_by_uuid(const struct dir_entry *e, size_t n, const char *uuid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].uuid, uuid) == 0)
            return &e[i];
    return NULL;
}

/* Under lock: a stopped domain leaves the table at once, before the resync its event asks for. */
static void forget(struct relay_directory *d, const char *uuid)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].uuid, uuid) == 0) {
            free(d->e[i].name);
            free_tags(d->e[i].tags);
            d->e[i] = d->e[--d->n];
            break;
        }
    if (d->ntomb < TOMB_MAX)
        snprintf(d->tomb[d->ntomb++], RELAY_UUID_LEN, "%s", uuid);
    else
        d->tomb_over = true;
}

/* One running domain into e (left empty if it has no vsock CID or a name no policy can name). */
static int read_domain(virDomainPtr dom, struct dir_entry *e)
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    const char *name = virDomainGetName(dom);
    size_t nt;
    int rc = 0;
    memset(e, 0, sizeof(*e));
    /* A domain that vanished meanwhile is simply not in the table. */
    if (xml && name && virDomainGetUUIDString(dom, e->uuid) == 0 &&
        vmsec__policy_valid_name(name, VMSEC_POLICY_NAME_MAX) &&
        (rc = vmsec__relay_dir_parse_xml(xml, &e->cid, &e->tags, &nt)) == 0) {
        if (!e->cid) {
            free_tags(e->tags);
            e->tags = NULL;
        } else if (!(e->name = strdup(name))) {
            free_tags(e->tags);
            e->tags = NULL;
            rc = vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
        }
    } else if (rc == VMSEC_EFORMAT) {
        rc = 0;
    }
    free(xml);
    return rc;
}

/* The running domains with a CID, as libvirt lists them now. */
static int list_domains(struct relay_directory *d, struct dir_entry **out, size_t *nout)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(d->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0)
        return vmsec__error(VMSEC_ELIBVIRT, "relay: listing domains failed: %s", virGetLastErrorMessage());
    struct dir_entry *e = calloc((size_t)n + 1, sizeof(*e));
    size_t ne = 0;
    int rc = e ? 0 : vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
    for (int i = 0; i < n; i++) {
        if (rc == 0 && (rc = read_domain(doms[i], &e[ne])) == 0 && e[ne].name)
            ne++;
        virDomainFree(doms[i]);
    }
    free(doms);
    if (rc < 0) {
        entries_free(e, ne);
        return rc;
    }
    *out = e;
    *nout = ne;
    return 0;
}

/* Under lock: installs a fresh listing, minus domains that stopped while it was taken, with the
 * generation of each entry kept while its name, CID and tags stay the same. */
static void install(struct relay_directory *d, struct dir_entry *e, size_t n, int64_t started)
{
    for (size_t i = 0; i < n;) {
        bool stopped = false;
        for (size_t t = 0; t < d->ntomb && !stopped; t++)
            stopped = strcmp(d->tomb[t], e[i].uuid) == 0;
        if (stopped) {
            free(e[i].name);
            free_tags(e[i].tags);
            e[i] = e[--n];
            continue;
        }
        const struct dir_entry *old = entry_by_uuid(d->e, d->n, e[i].uuid);
        if (old && old->cid == e[i].cid && strcmp(old->name, e[i].name) == 0 && same_tags(old->tags, e[i].tags))
            e[i].gen = old->gen;
        else
            e[i].gen = ++d->next_gen;
        i++;
    }
    entries_free(d->e, d->n);
    d->e = e;
    d->n = n;
    d->synced = true;
    d->synced_at = started;
}

static int sync_table(struct relay_directory *d)
{
    pthread_mutex_lock(&d->lock);
    d->ntomb = 0;
    d->tomb_over = false;
    d->dirty = false;
    d->syncs++;
    pthread_mutex_unlock(&d->lock);
    int64_t started = mono_ms();
    struct dir_entry *e = NULL;
    size_t n = 0;
    int rc = list_domains(d, &e, &n);
    pthread_mutex_lock(&d->lock);
    if (rc < 0)
        d->synced = false;
    else if (d->tomb_over)
        d->dirty = true; /* too many domains stopped meanwhile to tell: take the listing again */
    else {
        install(d, e, n, started);
        e = NULL;
        n = 0;
    }
    pthread_mutex_unlock(&d->lock);
    entries_free(e, n);
    return rc;
}

/* --- events (called on the libvirt event loop's thread) ----------------------------------------- */

static void dir_unref(struct relay_directory *d)
{
    if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    entries_free(d->e, d->n);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d->uri);
    free(d);
}

static void event_freed(void *opaque)
{
    dir_unref(opaque);
}

static void wake(struct relay_directory *d, const char *stopped_uuid, bool broken)
{
    pthread_mutex_lock(&d->lock);
    if (stopped_uuid)
        forget(d, stopped_uuid);
    if (broken) {
        d->broken = true;
        d->synced = false;
    }
    d->dirty = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail, void *opaque)
{
    (void)c;
    (void)detail;
    char uuid[RELAY_UUID_LEN];
    /* The UUID is held by the event's domain object: no call to libvirtd. */
    bool stopped = event == VIR_DOMAIN_EVENT_STOPPED && virDomainGetUUIDString(dom, uuid) == 0;
    wake(opaque, stopped ? uuid : NULL, false);
}

static void on_metadata(virConnectPtr c, virDomainPtr dom, int type, const char *nsuri, void *opaque)
{
    (void)c;
    (void)dom;
    (void)type;
    (void)nsuri;
    wake(opaque, NULL, false);
}

static void on_device(virConnectPtr c, virDomainPtr dom, const char *alias, void *opaque)
{
    (void)c;
    (void)dom;
    (void)alias;
    wake(opaque, NULL, false);
}

static void on_close(virConnectPtr c, int reason, void *opaque)
{
    (void)c;
    (void)reason;
    wake(opaque, NULL, true);
}

static void register_events(struct relay_directory *d)
{
    static const int ids[NEVENTS] = {VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                                     VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED};
    virConnectDomainEventGenericCallback fns[NEVENTS] = {
        VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), VIR_DOMAIN_EVENT_CALLBACK(on_metadata),
        VIR_DOMAIN_EVENT_CALLBACK(on_device), VIR_DOMAIN_EVENT_CALLBACK(on_device)};
    for (int i = 0; i < NEVENTS; i++) {
        /* libvirt keeps a reference until it calls event_freed, even after deregistration while
         * a callback still runs. A failed registration leaves the periodic resync to cover. */
        __atomic_add_fetch(&d->refs, 1, __ATOMIC_ACQ_REL);
        d->cb[i] = virConnectDomainEventRegisterAny(d->conn, NULL, ids[i], fns[i], d, event_freed);
        if (d->cb[i] < 0)
            __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL);
    }
    /* Drivers without close callbacks (the in-process test driver) accept it and never call it;
     * a failed sync then tells the connection is gone. */
    d->close_cb = virConnectRegisterCloseCallback(d->conn, on_close, d, NULL) == 0;
}

/* --- the directory's thread --------------------------------------------------------------------- */

static int dir_connect(struct relay_directory *d)
{
    /* Read-only: the relay only ever looks domains up. */
    virConnectPtr c = virConnectOpenReadOnly(d->uri);
    if (!c)
        return vmsec__error(VMSEC_ELIBVIRT, "relay: cannot connect to libvirt%s%s: %s", d->uri ? " at " : "",
                            d->uri ? d->uri : "", virGetLastErrorMessage());
    virConnSetErrorFunc(c, NULL, quiet);
    d->conn = c;
    for (int i = 0; i < NEVENTS; i++)
        d->cb[i] = -1;
    d->close_cb = false;
    if (!(d->flags & RELAY_DIR_NO_EVENTS))
        register_events(d);
    return 0;
}

static void dir_disconnect(struct relay_directory *d)
{
    if (!d->conn)
        return;
    for (int i = 0; i < NEVENTS; i++)
        if (d->cb[i] >= 0)
            virConnectDomainEventDeregisterAny(d->conn, d->cb[i]);
    /* Once unregistered, on_close is not running and will not run (libvirt locks around it). */
    if (d->close_cb)
        virConnectUnregisterCloseCallback(d->conn, on_close);
    virConnectClose(d->conn);
    d->conn = NULL;
    pthread_mutex_lock(&d->lock);
    d->synced = false;
    pthread_mutex_unlock(&d->lock);
}

/* Under lock: sleeps until ms from now, or until an event or the owner wakes the thread. */
static void wait_ms(struct relay_directory *d, int64_t ms)
{
    struct timespec ts;
    if (ms < 0)
        ms = 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&d->cond, &d->lock, &ts);
}

/* Under lock: one step of the thread's work; false when it only has to wait. */
static bool dir_step(struct relay_directory *d, int64_t *backoff)
{
    if (d->broken || !d->conn) {
        d->broken = false;
        pthread_mutex_unlock(&d->lock);
        dir_disconnect(d);
        int rc = dir_connect(d);
        pthread_mutex_lock(&d->lock);
        if (rc < 0) {
            d->broken = true;
            wait_ms(d, *backoff);
            *backoff = *backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : *backoff * 2;
            return true;
        }
        *backoff = RECONNECT_MIN_MS;
        d->dirty = true;
    }
    if (d->dirty || !d->synced || mono_ms() - d->synced_at >= d->resync_ms) {
        pthread_mutex_unlock(&d->lock);
        int rc = sync_table(d);
        pthread_mutex_lock(&d->lock);
        if (rc < 0) /* the connection is gone or libvirtd failed: start again from a new one */
            d->broken = true;
        return true;
    }
    return false;
}

static void *dir_thread(void *arg)
{
    struct relay_directory *d = arg;
    int64_t backoff = RECONNECT_MIN_MS;
    pthread_mutex_lock(&d->lock);
    while (!d->stop)
        if (!dir_step(d, &backoff) && !d->stop)
            wait_ms(d, d->synced_at + d->resync_ms - mono_ms());
    pthread_mutex_unlock(&d->lock);
    dir_disconnect(d);
    return NULL;
}

/* --- opening and lookups ------------------------------------------------------------------------ */

static int dir_start(struct relay_directory *d)
{
    int rc = vmsec__relay_evloop_acquire();
    if (rc < 0)
        return rc;
    d->evloop = true;
    /* The first connection and sync are made here, so that a wrong URI fails the caller. */
    if ((rc = dir_connect(d)) < 0 || (rc = sync_table(d)) < 0)
        return rc;
    if (pthread_create(&d->thread, NULL, dir_thread, d) != 0)
        return vmsec__error(VMSEC_ENOMEM, "relay: cannot start the directory thread");
    d->thread_started = true;
    return 0;
}

int vmsec__relay_dir_open(struct relay_directory **out, const char *uri, unsigned int flags)
{
    *out = NULL;
    struct relay_directory *d = calloc(1, sizeof(*d));
    if (!d || (uri && !(d->uri = strdup(uri)))) {
        free(d);
        return vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
    }
    d->refs = 1;
    d->flags = flags;
    d->resync_ms = RELAY_DIR_RESYNC_MS;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca; /* waits are measured on the clock the table's times use */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = dir_start(d);
    if (rc < 0) {
        vmsec__relay_dir_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void vmsec__relay_dir_free(struct relay_directory *d)
{
    if (!d)
        return;
    if (d->thread_started) {
        pthread_mutex_lock(&d->lock);
        d->stop = true;
        pthread_cond_signal(&d->cond);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
    } else {
        dir_disconnect(d);
    }
    if (d->evloop)
        vmsec__relay_evloop_release();
    dir_unref(d);
}

void vmsec__relay_dir_set_resync(struct relay_directory *d, unsigned int ms)
{
    pthread_mutex_lock(&d->lock);
    d->resync_ms = ms < RELAY_DIR_RESYNC_MIN_MS ? RELAY_DIR_RESYNC_MIN_MS : ms;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

uint64_t vmsec__relay_dir_syncs(struct relay_directory *d)
{
    pthread_mutex_lock(&d->lock);
    uint64_t n = d->syncs;
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* Under lock: whether the table may be believed (see the top of this file). */
static bool fresh(struct relay_directory *d)
{
    return d->synced && mono_ms() - d->synced_at <= 2 * (int64_t)d->resync_ms;
}

bool vmsec__relay_dir_ready(struct relay_directory *d)
{
    pthread_mutex_lock(&d->lock);
    bool ok = fresh(d);
    pthread_mutex_unlock(&d->lock);
    return ok;
}

static int ident_fill(struct relay_ident *out, const struct dir_entry *e)
{
    size_t nt = 0, bytes = 0;
    for (; e->tags[nt]; nt++)
        bytes += strlen(e->tags[nt]) + 1;
    char **t = malloc((nt + 1) * sizeof(*t) + bytes);
    if (!t)
        return vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
    char *p = (char *)(t + nt + 1);
    for (size_t i = 0; i < nt; i++) {
        size_t l = strlen(e->tags[i]) + 1;
        t[i] = memcpy(p, e->tags[i], l);
        p += l;
    }
    t[nt] = NULL;
    snprintf(out->name, sizeof(out->name), "%s", e->name);
    snprintf(out->uuid, sizeof(out->uuid), "%s", e->uuid);
    out->cid = e->cid;
    out->gen = e->gen;
    out->tags = t;
    return 0;
}

/* Under lock: the one entry with this name or CID. Two running domains claiming one CID is a
 * state the relay cannot attribute, so neither is found. */
static const struct dir_entry *find(struct relay_directory *d, const char *name, uint32_t cid)
{
    const struct dir_entry *hit = NULL;
    for (size_t i = 0; i < d->n; i++)
        if (name ? strcmp(d->e[i].name, name) == 0 : d->e[i].cid == cid) {
            if (hit)
                return NULL;
            hit = &d->e[i];
        }
    return hit;
}

static int lookup(struct relay_directory *d, const char *name, uint32_t cid, struct relay_ident *out)
{
    int rc;
    out->tags = NULL;
    pthread_mutex_lock(&d->lock);
    const struct dir_entry *e = fresh(d) ? find(d, name, cid) : NULL;
    if (e)
        rc = ident_fill(out, e);
    else if (!fresh(d))
        rc = vmsec__error(VMSEC_ESTATE, "relay: the domain directory is not synchronised with libvirt");
    else if (name)
        rc = vmsec__error(VMSEC_ENOTFOUND, "relay: no running domain '%s' with a vsock device", name);
    else
        rc = vmsec__error(VMSEC_ENOTFOUND, "relay: no running domain has vsock CID %u", cid);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int vmsec__relay_dir_by_cid(struct relay_directory *d, uint32_t cid, struct relay_ident *out)
{
    return lookup(d, NULL, cid, out);
}

int vmsec__relay_dir_by_name(struct relay_directory *d, const char *name, struct relay_ident *out)
{
    return lookup(d, name, 0, out);
}

int vmsec__relay_dir_check(struct relay_directory *d, const struct relay_ident *id)
{
    pthread_mutex_lock(&d->lock);
    const struct dir_entry *e = fresh(d) ? entry_by_uuid(d->e, d->n, id->uuid) : NULL;
    bool same = e && e->cid == id->cid && e->gen == id->gen && strcmp(e->name, id->name) == 0;
    pthread_mutex_unlock(&d->lock);
    if (!same)
        return vmsec__error(VMSEC_ESTATE, "relay: domain %s (%s) changed or stopped", id->name, id->uuid);
    return 0;
}

static int ops_by_cid(void *d, uint32_t cid, struct relay_ident *out)
{
    return vmsec__relay_dir_by_cid(d, cid, out);
}

static int ops_by_name(void *d, const char *name, struct relay_ident *out)
{
    return vmsec__relay_dir_by_name(d, name, out);
}

static int ops_check(void *d, const struct relay_ident *id)
{
    return vmsec__relay_dir_check(d, id);
}

static void ops_set_resync(void *d, unsigned int ms)
{
    vmsec__relay_dir_set_resync(d, ms);
}

static void ops_free(void *d)
{
    vmsec__relay_dir_free(d);
}

static const struct relay_dir_ops libvirt_ops = {
    .by_cid = ops_by_cid, .by_name = ops_by_name, .check = ops_check, .set_resync = ops_set_resync, .free = ops_free};

void vmsec__relay_use_directory(vmsec_relay *r, struct relay_directory *d)
{
    vmsec__relay_set_directory(r, &libvirt_ops, d);
}

int vmsec_relay_use_libvirt(vmsec_relay *r, const char *uri)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    struct relay_directory *d = NULL;
    int rc = vmsec__relay_dir_open(&d, uri, 0);
    if (rc < 0)
        return rc;
    vmsec__relay_use_directory(r, d);
    return 0;
}
