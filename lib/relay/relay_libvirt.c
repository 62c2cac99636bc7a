/* SPDX-License-Identifier: ISC */
/* The relay's CID <-> domain directory, read from libvirt: each running domain's
 * <devices><vsock><cid address='N'/></vsock> and its vmsec relay tags in <metadata>. Cached;
 * refreshed on a miss at most once per second, so unknown CIDs cannot hammer libvirtd. */
#include "config.h"

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
#define REFRESH_MIN_MS 1000
#define MAX_TAGS 64

struct dir_entry {
    char *name;
    uint32_t cid;
    char **tags; /* NULL-terminated */
};

struct relay_directory {
    virConnectPtr conn;
    struct dir_entry *e;
    size_t n;
    int64_t last_refresh;
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

static int refresh(struct relay_directory *d)
{
    d->last_refresh = mono_ms();
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(d->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0)
        return vmsec__error(VMSEC_ELIBVIRT, "relay: listing domains failed: %s", virGetLastErrorMessage());
    struct dir_entry *e = calloc((size_t)n + 1, sizeof(*e));
    size_t ne = 0;
    int rc = e ? 0 : vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            char *xml = virDomainGetXMLDesc(doms[i], 0);
            const char *name = virDomainGetName(doms[i]);
            size_t nt;
            /* A domain that vanished meanwhile, or has no vsock, is simply not in the map. */
            if (xml && name && vmsec__relay_dir_parse_xml(xml, &e[ne].cid, &e[ne].tags, &nt) == 0) {
                if (e[ne].cid && (e[ne].name = strdup(name)))
                    ne++;
                else
                    free_tags(e[ne].tags);
            }
            free(xml);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (rc < 0) {
        entries_free(e, ne);
        return rc;
    }
    entries_free(d->e, d->n);
    d->e = e;
    d->n = ne;
    return 0;
}

int vmsec__relay_dir_open(struct relay_directory **out, const char *uri)
{
    *out = NULL;
    struct relay_directory *d = calloc(1, sizeof(*d));
    if (!d)
        return vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
    /* Read-only: the relay only ever looks domains up. */
    d->conn = virConnectOpenReadOnly(uri);
    if (!d->conn) {
        free(d);
        return vmsec__error(VMSEC_ELIBVIRT, "relay: cannot connect to libvirt%s%s: %s", uri ? " at " : "",
                            uri ? uri : "", virGetLastErrorMessage());
    }
    virConnSetErrorFunc(d->conn, NULL, quiet);
    int rc = refresh(d);
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
    entries_free(d->e, d->n);
    if (d->conn)
        virConnectClose(d->conn);
    free(d);
}

static const struct dir_entry *find(struct relay_directory *d, const char *name, uint32_t cid, bool allow_refresh)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < d->n; i++)
            if (name ? strcmp(d->e[i].name, name) == 0 : d->e[i].cid == cid)
                return &d->e[i];
        if (pass || !allow_refresh || mono_ms() - d->last_refresh < REFRESH_MIN_MS || refresh(d) < 0)
            break;
    }
    return NULL;
}

int vmsec__relay_dir_by_cid(struct relay_directory *d, uint32_t cid, char *name, size_t cap,
                            const char *const **tags)
{
    const struct dir_entry *e = find(d, NULL, cid, true);
    if (!e)
        return vmsec__error(VMSEC_ENOTFOUND, "relay: no running domain has vsock CID %u", cid);
    if (strlen(e->name) >= cap)
        return vmsec__error(VMSEC_ETOOBIG, "relay: domain name too long");
    memcpy(name, e->name, strlen(e->name) + 1);
    if (tags)
        *tags = (const char *const *)e->tags;
    return 0;
}

int vmsec__relay_dir_by_name(struct relay_directory *d, const char *name, uint32_t *cid,
                             const char *const **tags, bool may_refresh)
{
    const struct dir_entry *e = find(d, name, 0, may_refresh);
    if (!e)
        return vmsec__error(VMSEC_ENOTFOUND, "relay: no running domain '%s' with a vsock device", name);
    *cid = e->cid;
    if (tags)
        *tags = (const char *const *)e->tags;
    return 0;
}

static int ops_by_cid(void *d, uint32_t cid, char *name, size_t cap, const char *const **tags)
{
    return vmsec__relay_dir_by_cid(d, cid, name, cap, tags);
}

static int ops_by_name(void *d, const char *name, uint32_t *cid, const char *const **tags, bool may_refresh)
{
    return vmsec__relay_dir_by_name(d, name, cid, tags, may_refresh);
}

static void ops_free(void *d)
{
    vmsec__relay_dir_free(d);
}

static const struct relay_dir_ops libvirt_ops = {.by_cid = ops_by_cid, .by_name = ops_by_name, .free = ops_free};

int vmsec_relay_use_libvirt(vmsec_relay *r, const char *uri)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    struct relay_directory *d = NULL;
    int rc = vmsec__relay_dir_open(&d, uri);
    if (rc < 0)
        return rc;
    vmsec__relay_set_directory(r, &libvirt_ops, d);
    return 0;
}
