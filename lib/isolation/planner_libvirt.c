/* SPDX-License-Identifier: ISC */
/* Planner holdings from a libvirt connection: the pins of every defined or running domain. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/internal.h"
#include "isolation/planner_internal.h"

struct loaded {
    char *name;
    vmsec_cpuset cpus;
};

/* Adds the set in attribute `attr` of element n to *s; -1 with an error recorded if invalid. */
static int add_attr_set(xmlNode *n, const char *attr, vmsec_cpuset *s, const char *dom)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)attr);
    vmsec_cpuset one;
    char why[VMSEC_CPUSET_WHY_MAX];
    int bad;
    if (!v)
        return 0;
    bad = vmsec__cpuset_parse(&one, (const char *)v, strlen((const char *)v), VMSEC_CPUSET_ALLOW_EMPTY, why, sizeof(why));
    if (bad < 0) {
        vmsec__error(VMSEC_EFORMAT, "planner: domain '%s': <%s %s='%s'>: %s", dom, (const char *)n->name, attr,
                     (const char *)v, why);
        xmlFree(v);
        return -1;
    }
    xmlFree(v);
    for (unsigned int w = 0; w < VMSEC_CPUSET_WORDS; w++)
        s->bits[w] |= one.bits[w];
    return 0;
}

/* Union of <vcpu cpuset>, <cputune><vcpupin|emulatorpin|iothreadpin cpuset> of one XML description. */
static int pins_of(const char *xml, vmsec_cpuset *s, const char *dom)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNode *root;
    int rc = 0;
    if (!doc)
        return vmsec__error(VMSEC_EFORMAT, "planner: domain '%s': libvirt returned XML that does not parse", dom);
    root = xmlDocGetRootElement(doc);
    for (xmlNode *c = root ? root->children : NULL; c && rc == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrcmp(c->name, (const xmlChar *)"vcpu") == 0)
            rc = add_attr_set(c, "cpuset", s, dom);
        else if (xmlStrcmp(c->name, (const xmlChar *)"cputune") == 0)
            for (xmlNode *t = c->children; t && rc == 0; t = t->next)
                if (t->type == XML_ELEMENT_NODE && (xmlStrcmp(t->name, (const xmlChar *)"vcpupin") == 0 ||
                                                   xmlStrcmp(t->name, (const xmlChar *)"emulatorpin") == 0 ||
                                                   xmlStrcmp(t->name, (const xmlChar *)"iothreadpin") == 0))
                    rc = add_attr_set(t, "cpuset", s, dom);
    }
    xmlFreeDoc(doc);
    return rc < 0 ? VMSEC_EFORMAT : 0;
}

static int load_domain(virDomainPtr d, struct loaded *out)
{
    const char *name = virDomainGetName(d);
    int rc = 0;
    vmsec__cpuset_zero(&out->cpus);
    out->name = name ? strdup(name) : NULL;
    if (!out->name)
        return vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        char *xml;
        if (pass == 1 && (virDomainIsActive(d) != 1 || virDomainIsPersistent(d) != 1))
            break; /* the inactive definition differs from the live one only for running persistent domains */
        xml = virDomainGetXMLDesc(d, pass ? VIR_DOMAIN_XML_INACTIVE : 0);
        if (!xml)
            return vmsec__error(VMSEC_ELIBVIRT, "planner: domain '%s': cannot read its XML: %s", name,
                                virGetLastErrorMessage());
        rc = pins_of(xml, &out->cpus, name);
        free(xml);
    }
    return rc;
}

int vmsec_planner_load_libvirt(vmsec_planner *p, const char *uri, unsigned int flags)
{
    virConnectPtr conn;
    virDomainPtr *doms = NULL;
    struct loaded *ld = NULL;
    int n, rc = 0;
    if (!p)
        return vmsec__error(VMSEC_EINVAL, "planner: NULL argument");
    if (flags & ~VMSEC_LOAD_SHARED)
        return vmsec__error(VMSEC_EINVAL, "planner: unknown load flags 0x%x", flags & ~VMSEC_LOAD_SHARED);
    conn = virConnectOpenReadOnly(uri);
    if (!uri)
        uri = "the default libvirt URI";
    if (!conn)
        return vmsec__error(VMSEC_ELIBVIRT, "planner: cannot connect to %s: %s", uri, virGetLastErrorMessage());
    n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0) {
        rc = vmsec__error(VMSEC_ELIBVIRT, "planner: %s: cannot list domains: %s", uri, virGetLastErrorMessage());
        goto out;
    }
    ld = calloc((size_t)n + 1, sizeof(*ld));
    if (!ld) {
        rc = vmsec__error(VMSEC_ENOMEM, "planner: out of memory");
        goto out;
    }
    /* Read and check everything first, so a failure leaves the planner unchanged. */
    for (int i = 0; i < n && rc == 0; i++) {
        char what[64 + VMSEC__DOMAIN_NAME_MAX];
        if ((rc = load_domain(doms[i], &ld[i])) < 0)
            break;
        if ((rc = vmsec__planner_check_name(ld[i].name)) < 0)
            break;
        snprintf(what, sizeof(what), "planner: %s: domain '%s'", uri, ld[i].name);
        rc = vmsec__planner_check_cpus(p, &ld[i].cpus, what);
    }
    for (int i = 0; i < n && rc == 0; i++)
        if (!vmsec__cpuset_empty(&ld[i].cpus)) /* domains without pins float: nothing to hold */
            rc = vmsec__planner_set_holding(p, ld[i].name, &ld[i].cpus, !(flags & VMSEC_LOAD_SHARED));
out:
    for (int i = 0; ld && i < n; i++)
        free(ld[i].name);
    free(ld);
    for (int i = 0; doms && i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
    virConnectClose(conn);
    return rc;
}
