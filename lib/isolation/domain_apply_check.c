/* SPDX-License-Identifier: ISC */
/* What an apply may change and whether its rollback put everything back.
 *
 * libvirt 9.0 marks a value as specified in the live definition whenever a live setter writes it
 * (vcpupin, emulatorpin, iothreadpin with <iothreadids>, <shares>, <period>, <quota>...) and no
 * API unmarks it: pinning to every CPU, quota -1 or period 0 leave the element in the live XML.
 * Such a change is exact to undo only where the live XML already states the value. The live
 * steps are therefore made in two passes: first those whose undo is exact, plus every fallible
 * one (memory limits, NUMA, block I/O), then the rest, once nothing is left to fail.
 *
 * After a rollback the live and persistent XML are read again and compared byte for byte with
 * the copies taken before the first change, and the tuning libvirt reads back from the cgroups
 * with the values read before: only when all match is the rollback called complete. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xpath.h>

#include "isolation/domain_apply.h"

int vmsec__apply_snapshot(struct apply *a, unsigned int flags)
{
    virDomainPtr dom = a->d->dom;
    if ((flags & VMSEC_AFFECT_LIVE) && !(a->xml_live = virDomainGetXMLDesc(dom, 0)))
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its live XML", a->d->name);
    if ((flags & VMSEC_AFFECT_CONFIG) && !(a->xml_config = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE)))
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read its configuration", a->d->name);
    if (a->xml_live && !(a->live_doc = vmsec__xml_parse(a->xml_live, "live domain XML")))
        return VMSEC_EFORMAT;
    return 0;
}

void vmsec__apply_snapshot_free(struct apply *a)
{
    free(a->xml_live);
    free(a->xml_config);
    if (a->live_doc)
        xmlFreeDoc(a->live_doc);
}

bool vmsec__apply_exact_undo(const struct apply *a, const char *xpath_fmt, ...)
{
    char xpath[160];
    va_list ap;
    xmlXPathContextPtr ctx;
    xmlXPathObjectPtr o = NULL;
    bool found;

    if (!a->live_doc) /* no live XML to keep identical (test driver fixtures) */
        return true;
    va_start(ap, xpath_fmt);
    vsnprintf(xpath, sizeof(xpath), xpath_fmt, ap);
    va_end(ap);
    if ((ctx = xmlXPathNewContext(a->live_doc)))
        o = xmlXPathEvalExpression(XC(xpath), ctx);
    found = o && o->nodesetval && o->nodesetval->nodeNr > 0;
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return found;
}

bool vmsec__apply_in_pass(const struct apply *a, bool exact)
{
    return exact != a->late;
}

static bool same_node(xmlDocPtr da, xmlNodePtr a, xmlDocPtr db, xmlNodePtr b)
{
    xmlBufferPtr x = xmlBufferCreate(), y = xmlBufferCreate();
    bool same = x && y && xmlNodeDump(x, da, a, 0, 0) >= 0 && xmlNodeDump(y, db, b, 0, 0) >= 0 &&
                strcmp((const char *)xmlBufferContent(x), (const char *)xmlBufferContent(y)) == 0;
    xmlBufferFree(x);
    xmlBufferFree(y);
    return same;
}

static void append(char *out, size_t size, const char *which, const xmlChar *name)
{
    size_t len = strlen(out);
    if (len < size)
        snprintf(out + len, size - len, "%s%s%s%s%s", len ? ", " : "", which, name ? " <" : "",
                 name ? (const char *)name : "", name ? ">" : "");
}

/* Appends the top-level elements that differ between two domain documents ("live XML
 * <cputune>"), so a report says what was not restored. */
static void list_differences(const char *before, const char *after, const char *which, char *out, size_t size)
{
    xmlDocPtr b = vmsec__xml_parse(before, which), c = vmsec__xml_parse(after, which);
    xmlNodePtr rb = b ? xmlDocGetRootElement(b) : NULL, rc = c ? xmlDocGetRootElement(c) : NULL;
    size_t len = strlen(out);

    for (xmlNodePtr n = rb ? rb->children : NULL; n && rc; n = n->next) {
        xmlNodePtr m = vmsec__xml_child(rc, (const char *)n->name);
        if (n->type == XML_ELEMENT_NODE && (!m || !same_node(b, n, c, m)))
            append(out, size, which, n->name);
    }
    for (xmlNodePtr n = rc ? rc->children : NULL; n && rb; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !vmsec__xml_child(rb, (const char *)n->name))
            append(out, size, which, n->name); /* added */
    if (strlen(out) == len) /* differences outside elements, or unparsable */
        append(out, size, which, NULL);
    if (b)
        xmlFreeDoc(b);
    if (c)
        xmlFreeDoc(c);
}

static bool param_equal(const virTypedParameter *x, const virTypedParameter *y)
{
    if (x->type != y->type)
        return false;
    switch (x->type) {
    case VIR_TYPED_PARAM_STRING: return strcmp(x->value.s ? x->value.s : "", y->value.s ? y->value.s : "") == 0;
    case VIR_TYPED_PARAM_INT: return x->value.i == y->value.i;
    case VIR_TYPED_PARAM_UINT: return x->value.ui == y->value.ui;
    case VIR_TYPED_PARAM_LLONG: return x->value.l == y->value.l;
    case VIR_TYPED_PARAM_ULLONG: return x->value.ul == y->value.ul;
    default: return x->value.b == y->value.b;
    }
}

/* Compares the tuning libvirt reads from the cgroups now with what it read before the first
 * change; lists the parameters that differ. */
static void compare_groups(struct apply *a, char *out, size_t size)
{
    static const char *const group[] = { "scheduler", "memory", "numa", "blkio" };
    for (int g = 0; g < 4; g++) {
        virTypedParameterPtr now;
        int n;
        if (!a->cur[g] || vmsec__apply_read_group(a, g, &now, &n) < 0)
            continue;
        for (int i = 0; i < a->n_cur[g]; i++) {
            const virTypedParameter *was = &a->cur[g][i];
            size_t len = strlen(out);
            for (int k = 0; k < n; k++)
                if (strcmp(now[k].field, was->field) == 0 && !param_equal(&now[k], was) && len < size)
                    snprintf(out + len, size - len, "%s%s %s", len ? ", " : "", group[g], was->field);
        }
        virTypedParamsFree(now, n);
    }
}

int vmsec__apply_check_restored(struct apply *a, char *left, size_t size)
{
    char *now;
    size_t len = strlen(left);
    char diff[1024] = "";

    if (a->xml_live) {
        if (!(now = virDomainGetXMLDesc(a->d->dom, 0)))
            snprintf(diff + strlen(diff), sizeof(diff) - strlen(diff), "%slive XML (cannot be read again)", *diff ? ", " : "");
        else if (strcmp(now, a->xml_live) != 0)
            list_differences(a->xml_live, now, "live XML", diff, sizeof(diff));
        free(now);
    }
    if (a->xml_config) {
        if (!(now = virDomainGetXMLDesc(a->d->dom, VIR_DOMAIN_XML_INACTIVE)))
            snprintf(diff + strlen(diff), sizeof(diff) - strlen(diff), "%sconfiguration (cannot be read again)", *diff ? ", " : "");
        else if (strcmp(now, a->xml_config) != 0)
            list_differences(a->xml_config, now, "configuration", diff, sizeof(diff));
        free(now);
    }
    compare_groups(a, diff, sizeof(diff));
    if (!*diff)
        return 0;
    vmsec__report_add(a->r, VMSEC_STATUS_NOT_RESTORED, "rollback", "as before the apply", diff, "libvirt",
                      "differs from before the apply after every step was undone");
    if (len < size)
        snprintf(left + len, size - len, "%s%s", len ? ", " : "", diff);
    return -1;
}
