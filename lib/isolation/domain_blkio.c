/* SPDX-License-Identifier: ISC */
/* A running domain's block I/O tuning as its live XML states it.
 *
 * libvirt 9.0 reads every blkio parameter of a running domain in one call that starts with the
 * weight, which exists only under the bfq and cfq I/O schedulers: on a host whose disks use
 * mq-deadline, kyber or none, virDomainGetBlkioParameters fails outright although per-device
 * throttles still work. Apply then takes the values it must be able to restore from the live
 * XML, which libvirt keeps in step with every change it makes, and verify the values libvirt
 * states (the weight too, if the XML has one). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolation/domain_internal.h"

/* Appends "path,value" to the comma-separated list in *list (libvirt's device parameter form). */
static int append_device(char **list, const char *path, const char *value)
{
    size_t old = *list ? strlen(*list) : 0, need = old + (old ? 1 : 0) + strlen(path) + 1 + strlen(value) + 1;
    char *nl = realloc(*list, need);
    if (!nl)
        return vmsec__error(VMSEC_ENOMEM, "out of memory reading block I/O tuning");
    snprintf(nl + old, need - old, "%s%s,%s", old ? "," : "", path, value);
    *list = nl;
    return 0;
}

static int collect(xmlNodePtr blkiotune, char *lists[VMSEC__BLKIO_FIELDS])
{
    for (xmlNodePtr dev = blkiotune ? blkiotune->children : NULL; dev; dev = dev->next) {
        xmlNodePtr path;
        xmlChar *p;
        int rc = 0;
        if (dev->type != XML_ELEMENT_NODE || !xmlStrEqual(dev->name, XC("device")))
            continue;
        if (!(path = vmsec__xml_child(dev, "path")) || !(p = xmlNodeGetContent(path)))
            continue;
        for (int f = 0; f < VMSEC__BLKIO_FIELDS && rc == 0; f++) {
            xmlNodePtr e = vmsec__xml_child(dev, vmsec__blkio_field_names[f]);
            xmlChar *v = e ? xmlNodeGetContent(e) : NULL;
            if (v)
                rc = append_device(&lists[f], (const char *)p, (const char *)v);
            xmlFree(v);
        }
        xmlFree(p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int vmsec__blkio_params_from_xml(struct vmsec_domain *d, virTypedParameterPtr *out, int *n)
{
    char *xml = NULL, *lists[VMSEC__BLKIO_FIELDS] = { NULL };
    int rc, max = 0;
    xmlDocPtr doc;
    xmlNodePtr bt, w;
    xmlChar *wv = NULL;

    *out = NULL;
    *n = 0;
    if ((rc = vmsec_domain_get_xml(d, 0, &xml)) < 0)
        return rc;
    doc = vmsec__xml_parse(xml, "live domain XML");
    free(xml);
    if (!doc)
        return VMSEC_EFORMAT;
    bt = vmsec__xml_child(xmlDocGetRootElement(doc), "blkiotune");
    rc = collect(bt, lists);
    if (rc == 0 && (w = vmsec__xml_child(bt, "weight")) && (wv = xmlNodeGetContent(w)) &&
        virTypedParamsAddUInt(out, n, &max, "weight", (unsigned int)strtoul((const char *)wv, NULL, 10)) < 0)
        rc = vmsec__libvirt_error(VMSEC_ENOMEM, "cannot hold block I/O tuning");
    xmlFree(wv);
    xmlFreeDoc(doc);
    for (int f = 0; f < VMSEC__BLKIO_FIELDS; f++) {
        char field[VIR_TYPED_PARAM_FIELD_LENGTH];
        snprintf(field, sizeof(field), "device_%s", vmsec__blkio_field_names[f]);
        if (rc == 0 && virTypedParamsAddString(out, n, &max, field, lists[f] ? lists[f] : "") < 0)
            rc = vmsec__libvirt_error(VMSEC_ENOMEM, "cannot hold block I/O tuning");
        free(lists[f]);
    }
    if (rc < 0) {
        virTypedParamsFree(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
