/* SPDX-License-Identifier: ISC */
/* Domain handles, XML access, the metadata record of the applied profile, and the host check of
 * a domain. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "isolation/domain_internal.h"
#include "isolation/hostcheck_internal.h"
#include "isolation/planner_internal.h"

static int fill(struct vmsec_domain *d)
{
    const char *name = virDomainGetName(d->dom);
    if (!name || virDomainGetUUIDString(d->dom, d->uuid) < 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "cannot read the domain's name and UUID");
    snprintf(d->name, sizeof(d->name), "%s", name);
    return 0;
}

int vmsec_domain_open(const char *uri, const char *name, vmsec_domain **out)
{
    struct vmsec_domain *d;
    int rc;

    if (!name || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_domain_open: NULL argument");
    *out = NULL;
    if (!(d = calloc(1, sizeof(*d))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory opening domain %s", name);
    if (!(d->conn = virConnectOpen(uri))) {
        free(d);
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "cannot connect to %s", uri ? uri : "libvirt's default URI");
    }
    /* Our own connection: keep libvirt from printing its errors; vmsec reports them. */
    virConnSetErrorFunc(d->conn, NULL, vmsec__libvirt_quiet);
    d->dom = virDomainLookupByName(d->conn, name);
    if (!d->dom && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
        d->dom = virDomainLookupByUUIDString(d->conn, name); /* INVALID_ARG if it is no UUID */
    if (!d->dom) {
        rc = virGetLastErrorCode() == VIR_ERR_NO_DOMAIN || virGetLastErrorCode() == VIR_ERR_INVALID_ARG
                 ? vmsec__error(VMSEC_ENOTFOUND, "no domain named '%s' at %s", name, uri ? uri : "the default URI")
                 : vmsec__libvirt_error(VMSEC_ELIBVIRT, "cannot look up domain '%s'", name);
        virConnectClose(d->conn);
        free(d);
        return rc;
    }
    if ((rc = fill(d)) < 0) {
        vmsec_domain_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int vmsec_domain_wrap(struct _virDomain *dom, vmsec_domain **out)
{
    struct vmsec_domain *d;
    int rc;

    if (!dom || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_domain_wrap: NULL argument");
    *out = NULL;
    if (!(d = calloc(1, sizeof(*d))))
        return vmsec__error(VMSEC_ENOMEM, "out of memory wrapping a domain");
    d->conn = virDomainGetConnect(dom);
    if (!d->conn || virConnectRef(d->conn) < 0) {
        free(d);
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "cannot reference the domain's connection");
    }
    if (virDomainRef(dom) < 0) {
        virConnectClose(d->conn);
        free(d);
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "cannot reference the domain");
    }
    d->dom = dom;
    if ((rc = fill(d)) < 0) {
        vmsec_domain_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void vmsec_domain_free(vmsec_domain *d)
{
    if (!d)
        return;
    if (d->dom)
        virDomainFree(d->dom);
    if (d->conn)
        virConnectClose(d->conn);
    free(d);
}

int vmsec__domain_is_running(struct vmsec_domain *d)
{
    int a = virDomainIsActive(d->dom);
    if (a < 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its state", d->name);
    return a;
}

int vmsec__domain_prepare(struct vmsec_domain *d, const struct vmsec_profile *p)
{
    int rc;
    if ((rc = vmsec__profile_validate(p)) < 0)
        return rc;
    if ((rc = vmsec__profile_refuse_intent(p)) < 0) /* planner: intent needs planning first */
        return rc;
    return vmsec__domain_is_running(d);
}

int vmsec_domain_get_xml(vmsec_domain *d, unsigned int flags, char **out)
{
    unsigned int vflags = VIR_DOMAIN_XML_SECURE;
    if (!d || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_domain_get_xml: NULL argument");
    if (flags & VMSEC_AFFECT_CONFIG)
        vflags |= VIR_DOMAIN_XML_INACTIVE;
    if (!(*out = virDomainGetXMLDesc(d->dom, vflags)))
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its XML", d->name);
    return 0;
}

int vmsec__profile_text(const struct vmsec_profile *p, char **text)
{
    size_t needed = 0;
    int rc;
    *text = NULL;
    rc = vmsec_profile_to_text(p, NULL, 0, &needed);
    if (rc < 0 && rc != VMSEC_ETOOBIG)
        return rc;
    if (!(*text = malloc(needed + 1)))
        return vmsec__error(VMSEC_ENOMEM, "out of memory writing profile text");
    if ((rc = vmsec_profile_to_text(p, *text, needed + 1, &needed)) < 0) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

/* The metadata record: <profile name="..." digest="sha256:...">canonical text</profile>. */
static char *metadata_xml(const struct vmsec_profile *p)
{
    char digest[VMSEC_PROFILE_DIGEST_MAX], *text = NULL, *out = NULL;
    xmlDocPtr doc = NULL;
    xmlNodePtr node;
    xmlBufferPtr buf = NULL;

    if (vmsec_profile_digest(p, digest, sizeof(digest)) < 0 || vmsec__profile_text(p, &text) < 0)
        return NULL;
    if (!(doc = xmlNewDoc(XC("1.0"))) || !(node = xmlNewDocNode(doc, NULL, XC("profile"), NULL)))
        goto out;
    xmlDocSetRootElement(doc, node);
    xmlNewProp(node, XC("name"), XC(p->name.set ? p->name.value : ""));
    xmlNewProp(node, XC("digest"), XC(digest));
    xmlNodeAddContent(node, XC(text));
    if (!(buf = xmlBufferCreate()) || xmlNodeDump(buf, doc, node, 0, 0) < 0)
        goto out;
    out = strdup((const char *)xmlBufferContent(buf));
out:
    if (!out)
        vmsec__error(VMSEC_ENOMEM, "out of memory writing the metadata record");
    if (buf)
        xmlBufferFree(buf);
    xmlFreeDoc(doc);
    free(text);
    return out;
}

int vmsec__metadata_set(struct vmsec_domain *d, const struct vmsec_profile *p, unsigned int vflags)
{
    char *xml = metadata_xml(p);
    int rc;
    if (!xml)
        return vmsec_error_last_code() ? vmsec_error_last_code() : VMSEC_ENOMEM;
    rc = virDomainSetMetadata(d->dom, VIR_DOMAIN_METADATA_ELEMENT, xml, VMSEC_METADATA_PREFIX,
                              VMSEC_METADATA_URI, vflags);
    free(xml);
    if (rc < 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot record the profile in its metadata", d->name);
    return 0;
}

char *vmsec__metadata_get(struct vmsec_domain *d, unsigned int vflags)
{
    char *def = virDomainGetXMLDesc(d->dom, vflags & VIR_DOMAIN_AFFECT_CONFIG ? VIR_DOMAIN_XML_INACTIVE : 0);
    bool named = !def || strstr(def, "\"" VMSEC_METADATA_URI "\""); /* on doubt, ask */
    free(def);
    if (!named) {
        virResetLastError();
        return NULL;
    }
    return virDomainGetMetadata(d->dom, VIR_DOMAIN_METADATA_ELEMENT, VMSEC_METADATA_URI, vflags);
}

int vmsec_domain_get_applied(vmsec_domain *d, unsigned int flags, vmsec_profile **out, char *digest,
                             size_t digest_size)
{
    char *xml, mydigest[VMSEC_PROFILE_DIGEST_MAX];
    xmlDocPtr doc;
    xmlNodePtr root;
    xmlChar *rec_digest = NULL, *text = NULL;
    int rc;

    if (!d || !out || (digest && digest_size < VMSEC_PROFILE_DIGEST_MAX))
        return vmsec__error(VMSEC_EINVAL, "vmsec_domain_get_applied: NULL argument or digest buffer too small");
    *out = NULL;
    xml = vmsec__metadata_get(d, (flags & VMSEC_AFFECT_CONFIG) ? VIR_DOMAIN_AFFECT_CONFIG : VIR_DOMAIN_AFFECT_CURRENT);
    if (!xml) {
        virErrorPtr e = virGetLastError();
        if (!e || e->code == VIR_ERR_NO_DOMAIN_METADATA)
            return vmsec__error(VMSEC_ENOTFOUND, "domain %s: no vmsec profile is recorded", d->name);
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its metadata", d->name);
    }
    doc = xmlReadMemory(xml, (int)strlen(xml), "metadata", NULL, XML_PARSE_NONET);
    free(xml);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root) {
        rec_digest = xmlGetProp(root, XC("digest"));
        text = xmlNodeGetContent(root);
    }
    if (!rec_digest || !text) {
        rc = vmsec__error(VMSEC_EFORMAT, "domain %s: the vmsec metadata record is malformed", d->name);
    } else if ((rc = vmsec_profile_parse(out, (const char *)text, strlen((const char *)text), "domain metadata")) == 0) {
        if ((rc = vmsec_profile_digest(*out, mydigest, sizeof(mydigest))) == 0 &&
            strcmp(mydigest, (const char *)rec_digest) != 0)
            rc = vmsec__error(VMSEC_EFORMAT, "domain %s: the recorded profile's digest %s does not match its text (%s)",
                              d->name, (const char *)rec_digest, mydigest);
        if (rc == 0 && digest)
            snprintf(digest, digest_size, "%s", (const char *)rec_digest);
        if (rc < 0) {
            vmsec_profile_free(*out);
            *out = NULL;
        }
    }
    xmlFree(rec_digest);
    xmlFree(text);
    xmlFreeDoc(doc);
    return rc;
}

int vmsec_domain_host_check(vmsec_domain *d, const vmsec_profile *profile, unsigned int flags,
                            vmsec_report **report)
{
    struct vmsec__host_facts *f;
    struct vmsec_report *r;
    int running, rc;

    if (report)
        *report = NULL;
    if (!d || !profile)
        return vmsec__error(VMSEC_EINVAL, "vmsec_domain_host_check: NULL argument");
    if ((running = vmsec__domain_prepare(d, profile)) < 0)
        return running;
    if (!flags) {
        int persistent = virDomainIsPersistent(d->dom);
        flags = (running ? VMSEC_AFFECT_LIVE : 0) | (persistent == 1 ? VMSEC_AFFECT_CONFIG : 0);
    }
    if (!(f = malloc(sizeof(*f))) || !(r = vmsec__report_new())) {
        free(f);
        return vmsec__error(VMSEC_ENOMEM, "out of memory checking the host");
    }
    rc = vmsec__host_facts_for(d->conn, f);
    if (rc == 0) {
        unsigned long kib = virDomainGetMaxMemory(d->dom);
        f->guest_memory = (uint64_t)kib * 1024;
        f->domain_running = running;
        virResetLastError();
        rc = vmsec__host_evaluate(f, profile, flags, r);
    }
    free(f);
    if (report && (rc == 0 || rc == VMSEC_EHOST))
        *report = r;
    else
        vmsec_report_free(r);
    return rc;
}
