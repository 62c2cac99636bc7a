/* SPDX-License-Identifier: ISC */
/* Rendering a profile into domain XML with libxml2: only the elements the profile names change. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlsave.h>

#include "isolation/domain_internal.h"
#include "isolation/planner_internal.h"

const char *const vmsec__memory_param_names[VMSEC__MEM_LIMITS] = { "hard_limit", "soft_limit", "swap_hard_limit" };
const char *const vmsec__cputune_period_elems[VMSEC__CPU_SCOPES] = { "period", "emulator_period", "iothread_period",
                                                                     "global_period" };
const char *const vmsec__cputune_quota_elems[VMSEC__CPU_SCOPES] = { "quota", "emulator_quota", "iothread_quota",
                                                                    "global_quota" };

xmlDocPtr vmsec__xml_parse(const char *xml, const char *what)
{
    xmlDocPtr doc;
    xmlNodePtr root;
    if (!xml)
        return NULL;
    doc = xmlReadMemory(xml, (int)strlen(xml), what, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        vmsec__error(VMSEC_EFORMAT, "%s:%d: malformed XML: %s", what, e ? e->line : 0,
                     e && e->message ? e->message : "unknown parse error");
        return NULL;
    }
    root = xmlDocGetRootElement(doc);
    if (!root || xmlStrcmp(root->name, XC("domain")) != 0) {
        xmlFreeDoc(doc);
        vmsec__error(VMSEC_EFORMAT, "%s: the root element is not <domain>", what);
        return NULL;
    }
    return doc;
}

char *vmsec__xml_dump(xmlDocPtr doc)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlSaveCtxtPtr s = buf ? xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL) : NULL;
    char *out = NULL;
    if (s) {
        xmlSaveDoc(s, doc);
        xmlSaveClose(s);
        out = strdup((const char *)xmlBufferContent(buf));
    }
    if (buf)
        xmlBufferFree(buf);
    if (!out)
        vmsec__error(VMSEC_ENOMEM, "out of memory writing domain XML");
    return out;
}

xmlNodePtr vmsec__xml_child(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, XC(name)) == 0)
            return c;
    return NULL;
}

xmlNodePtr vmsec__xml_child_attr(xmlNodePtr parent, const char *name, const char *attr, const char *value)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
        xmlChar *v;
        bool match;
        if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, XC(name)) != 0)
            continue;
        v = xmlGetProp(c, XC(attr));
        match = v && xmlStrcmp(v, XC(value)) == 0;
        xmlFree(v);
        if (match)
            return c;
    }
    return NULL;
}

/* Removes whitespace-only text directly under an element vmsec manages. The parser drops such
 * text only where it sits between elements (XML_PARSE_NOBLANKS keeps it when it is an element's
 * whole content), so without this a second render would differ from the first. */
static void strip_blanks(xmlNodePtr e)
{
    xmlNodePtr c = e->children, next;
    for (; c; c = next) {
        next = c->next;
        if (c->type == XML_TEXT_NODE && xmlIsBlankNode(c)) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        }
    }
}

/* Returns the child, creating it (before <devices> at the top level, else last) if needed. */
static xmlNodePtr ensure(xmlNodePtr parent, const char *name)
{
    xmlNodePtr c = vmsec__xml_child(parent, name), devices;
    if (c) {
        strip_blanks(c);
        return c;
    }
    c = xmlNewNode(NULL, XC(name));
    if (!c)
        return NULL;
    devices = xmlStrcmp(parent->name, XC("domain")) == 0 ? vmsec__xml_child(parent, "devices") : NULL;
    return devices ? xmlAddPrevSibling(devices, c) : xmlAddChild(parent, c);
}

static void drop(xmlNodePtr parent, const char *name)
{
    xmlNodePtr c;
    while ((c = vmsec__xml_child(parent, name))) {
        xmlUnlinkNode(c);
        xmlFreeNode(c);
    }
}

static int set_text(xmlNodePtr parent, const char *name, const char *text)
{
    xmlNodePtr c = ensure(parent, name);
    if (!c)
        return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <%s>", name);
    xmlNodeSetContent(c, NULL);
    xmlNodeAddContent(c, XC(text));
    return 0;
}

static int set_u64(xmlNodePtr parent, const char *name, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return set_text(parent, name, buf);
}

/* <pin elem attr=id cpuset=...> under cputune, replacing the cpuset of an existing one. */
static int set_pin(xmlNodePtr cputune, const char *elem, const char *attr, unsigned int id, const vmsec_cpuset *s)
{
    static _Thread_local char text[VMSEC_CPUSET_TEXT_MAX];
    char idt[16];
    xmlNodePtr c;

    snprintf(idt, sizeof(idt), "%u", id);
    c = attr ? vmsec__xml_child_attr(cputune, elem, attr, idt) : vmsec__xml_child(cputune, elem);
    if (!c) {
        if (!(c = xmlNewChild(cputune, NULL, XC(elem), NULL)))
            return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <%s>", elem);
        if (attr)
            xmlNewProp(c, XC(attr), XC(idt));
    }
    vmsec__cpuset_format(s, text, sizeof(text));
    xmlSetProp(c, XC("cpuset"), XC(text));
    return 0;
}

static bool any_cputune(const struct vmsec_profile *p)
{
    bool any = p->n_vcpu_pins || p->n_iothread_pins || p->emulator_pin.set || p->cpu_shares.set;
    for (int s = 0; s < VMSEC__CPU_SCOPES; s++)
        any |= p->cpu_period[s].set || p->cpu_quota[s].set;
    return any;
}

static int render_cputune(const struct vmsec_profile *p, xmlNodePtr dom)
{
    xmlNodePtr ct;
    int rc = 0;
    char buf[32];

    if (!any_cputune(p))
        return 0;
    if (!(ct = ensure(dom, "cputune")))
        return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <cputune>");
    for (size_t i = 0; i < p->n_vcpu_pins && rc == 0; i++)
        rc = set_pin(ct, "vcpupin", "vcpu", p->vcpu_pins[i].id, &p->vcpu_pins[i].cpus);
    if (rc == 0 && p->emulator_pin.set)
        rc = set_pin(ct, "emulatorpin", NULL, 0, &p->emulator_pin.value);
    for (size_t i = 0; i < p->n_iothread_pins && rc == 0; i++)
        rc = set_pin(ct, "iothreadpin", "iothread", p->iothread_pins[i].id, &p->iothread_pins[i].cpus);
    if (rc == 0 && p->cpu_shares.set)
        rc = set_u64(ct, "shares", p->cpu_shares.value);
    for (int s = 0; s < VMSEC__CPU_SCOPES && rc == 0; s++) {
        if (p->cpu_period[s].set)
            rc = set_u64(ct, vmsec__cputune_period_elems[s], p->cpu_period[s].value);
        if (rc == 0 && p->cpu_quota[s].set) {
            snprintf(buf, sizeof(buf), "%" PRId64, p->cpu_quota[s].value);
            rc = set_text(ct, vmsec__cputune_quota_elems[s], buf);
        }
    }
    return rc;
}

static int render_numatune(const struct vmsec_profile *p, xmlNodePtr dom)
{
    static _Thread_local char text[VMSEC_CPUSET_TEXT_MAX];
    xmlNodePtr nt, mem;

    if (!p->numa_mode.set && !p->numa_nodeset.set)
        return 0;
    if (!(nt = ensure(dom, "numatune")) || !(mem = ensure(nt, "memory")))
        return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <numatune>");
    if (p->numa_mode.set)
        xmlSetProp(mem, XC("mode"), XC(vmsec__numa_mode_names[p->numa_mode.value]));
    if (p->numa_nodeset.set) {
        vmsec__cpuset_format(&p->numa_nodeset.value, text, sizeof(text));
        xmlSetProp(mem, XC("nodeset"), XC(text));
        xmlUnsetProp(mem, XC("placement")); /* an explicit nodeset means static placement */
    }
    return 0;
}

static int render_memtune(const struct vmsec_profile *p, xmlNodePtr dom)
{
    xmlNodePtr mt = NULL;
    int rc = 0;

    for (int m = 0; m < VMSEC__MEM_LIMITS && rc == 0; m++) {
        const struct vmsec__u64 *l = &p->memory_limit[m];
        if (!l->set)
            continue;
        if (!mt && !(mt = ensure(dom, "memtune")))
            return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <memtune>");
        if (l->value == VMSEC_PROFILE_UNLIMITED) { /* libvirt: no element means unlimited */
            drop(mt, vmsec__memory_param_names[m]);
            continue;
        }
        if ((rc = set_u64(mt, vmsec__memory_param_names[m], l->value / 1024)) == 0)
            xmlSetProp(vmsec__xml_child(mt, vmsec__memory_param_names[m]), XC("unit"), XC("KiB"));
    }
    if (mt && !mt->children) { /* only "unlimited" asked and nothing else there */
        xmlUnlinkNode(mt);
        xmlFreeNode(mt);
    }
    return rc;
}

static int set_flag(xmlNodePtr parent, const char *name, bool on)
{
    if (!on) {
        drop(parent, name);
        return 0;
    }
    return ensure(parent, name) ? 0 : vmsec__error(VMSEC_ENOMEM, "out of memory rendering <%s>", name);
}

static int render_backing(const struct vmsec_profile *p, xmlNodePtr dom)
{
    static _Thread_local char text[VMSEC_CPUSET_TEXT_MAX];
    xmlNodePtr mb, hp, page;
    int rc = 0;

    if (!p->memory_locked.set && !p->nosharepages.set && !p->hugepage_size.set)
        return 0;
    if (!(mb = ensure(dom, "memoryBacking")))
        return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <memoryBacking>");
    if (p->hugepage_size.set) {
        /* Replaced in place (not dropped and re-added) so rendering twice gives the same order. */
        if ((hp = vmsec__xml_child(mb, "hugepages"))) {
            xmlNodePtr c;
            while ((c = hp->children)) {
                xmlUnlinkNode(c);
                xmlFreeNode(c);
            }
        } else if (!(hp = xmlNewChild(mb, NULL, XC("hugepages"), NULL))) {
            return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <hugepages>");
        }
        if (p->hugepage_size.value != VMSEC__HUGEPAGE_DEFAULT || p->hugepage_nodeset.set) {
            char size[32];
            if (!(page = xmlNewChild(hp, NULL, XC("page"), NULL)))
                return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <page>");
            if (p->hugepage_size.value != VMSEC__HUGEPAGE_DEFAULT) {
                snprintf(size, sizeof(size), "%" PRIu64, p->hugepage_size.value / 1024);
                xmlNewProp(page, XC("size"), XC(size));
                xmlNewProp(page, XC("unit"), XC("KiB"));
            }
            if (p->hugepage_nodeset.set) {
                vmsec__cpuset_format(&p->hugepage_nodeset.value, text, sizeof(text));
                xmlNewProp(page, XC("nodeset"), XC(text));
            }
        }
    }
    if (p->nosharepages.set)
        rc = set_flag(mb, "nosharepages", p->nosharepages.value);
    if (rc == 0 && p->memory_locked.set)
        rc = set_flag(mb, "locked", p->memory_locked.value);
    if (rc == 0 && !mb->children) {
        xmlUnlinkNode(mb);
        xmlFreeNode(mb);
    }
    return rc;
}

static xmlNodePtr blkio_device(xmlNodePtr bt, const char *path)
{
    for (xmlNodePtr c = bt->children; c; c = c->next) {
        xmlNodePtr pe;
        xmlChar *v;
        bool match;
        if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, XC("device")) != 0 ||
            !(pe = vmsec__xml_child(c, "path")))
            continue;
        v = xmlNodeGetContent(pe);
        match = v && xmlStrcmp(v, XC(path)) == 0;
        xmlFree(v);
        if (match)
            return c;
    }
    return NULL;
}

static int render_blkiotune(const struct vmsec_profile *p, xmlNodePtr dom)
{
    xmlNodePtr bt;
    int rc = 0;

    if (!p->blkio_weight.set && !p->n_blkio_devices)
        return 0;
    if (!(bt = ensure(dom, "blkiotune")))
        return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <blkiotune>");
    if (p->blkio_weight.set)
        rc = set_u64(bt, "weight", p->blkio_weight.value);
    for (size_t i = 0; i < p->n_blkio_devices && rc == 0; i++) {
        const struct vmsec__blkio_device *dv = &p->blkio_devices[i];
        xmlNodePtr de = blkio_device(bt, dv->path);
        if (!de) {
            if (!(de = xmlNewChild(bt, NULL, XC("device"), NULL)) ||
                !xmlNewTextChild(de, NULL, XC("path"), XC(dv->path)))
                return vmsec__error(VMSEC_ENOMEM, "out of memory rendering <blkiotune><device>");
        }
        for (int f = 0; f < VMSEC__BLKIO_FIELDS && rc == 0; f++)
            if (dv->field[f].set)
                rc = set_u64(de, vmsec__blkio_field_names[f], dv->field[f].value);
    }
    return rc;
}

int vmsec__xml_counts(xmlDocPtr doc, unsigned int *nvcpus, unsigned int **ids, size_t *n)
{
    xmlNodePtr dom = xmlDocGetRootElement(doc), v = vmsec__xml_child(dom, "vcpu");
    xmlNodePtr ioids = vmsec__xml_child(dom, "iothreadids"), io = vmsec__xml_child(dom, "iothreads");
    xmlChar *t;
    size_t cnt = 0, cap = 0;

    *nvcpus = 1;
    *ids = NULL;
    *n = 0;
    if (v && (t = xmlNodeGetContent(v))) {
        *nvcpus = (unsigned)strtoul((const char *)t, NULL, 10);
        xmlFree(t);
    }
    if (ioids) {
        for (xmlNodePtr c = ioids->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, XC("iothread")) != 0 ||
                !(t = xmlGetProp(c, XC("id"))))
                continue;
            if (cnt == cap) {
                unsigned int *ni = realloc(*ids, (cap = cap ? cap * 2 : 8) * sizeof(*ni));
                if (!ni) {
                    xmlFree(t);
                    return vmsec__error(VMSEC_ENOMEM, "out of memory reading iothread ids");
                }
                *ids = ni;
            }
            (*ids)[cnt++] = (unsigned)strtoul((const char *)t, NULL, 10);
            xmlFree(t);
        }
    } else if (io && (t = xmlNodeGetContent(io))) {
        unsigned long k = strtoul((const char *)t, NULL, 10);
        xmlFree(t);
        if (k > VMSEC__MAX_IDS)
            k = VMSEC__MAX_IDS;
        if (k && !(*ids = malloc(k * sizeof(**ids))))
            return vmsec__error(VMSEC_ENOMEM, "out of memory reading iothread ids");
        for (cnt = 0; cnt < k; cnt++)
            (*ids)[cnt] = (unsigned)cnt + 1; /* <iothreads>N</iothreads> alone: ids 1..N */
    }
    *n = cnt;
    return 0;
}

int vmsec__render_doc(const struct vmsec_profile *p, xmlDocPtr doc)
{
    xmlNodePtr dom = xmlDocGetRootElement(doc);
    unsigned int nvcpus, *ids;
    size_t nids;
    int rc;

    if ((rc = vmsec__profile_validate(p)) < 0 || (rc = vmsec__xml_counts(doc, &nvcpus, &ids, &nids)) < 0)
        return rc;
    rc = vmsec__profile_check_domain(p, nvcpus, ids, nids);
    free(ids);
    if (rc < 0)
        return rc;
    if ((rc = render_cputune(p, dom)) < 0 || (rc = render_numatune(p, dom)) < 0 ||
        (rc = render_memtune(p, dom)) < 0 || (rc = render_backing(p, dom)) < 0 ||
        (rc = render_blkiotune(p, dom)) < 0)
        return rc;
    return 0;
}

int vmsec_domain_render(const vmsec_profile *profile, const char *xml, char **out)
{
    xmlDocPtr doc;
    int rc;

    if (!profile || !xml || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_domain_render: NULL argument");
    *out = NULL;
    if ((rc = vmsec__profile_refuse_intent(profile)) < 0) /* planner: intent needs planning first */
        return rc;
    if (!(doc = vmsec__xml_parse(xml, "domain XML")))
        return VMSEC_EFORMAT;
    rc = vmsec__render_doc(profile, doc);
    if (rc == 0 && !(*out = vmsec__xml_dump(doc)))
        rc = VMSEC_ENOMEM;
    xmlFreeDoc(doc);
    return rc;
}

void vmsec_domain_xml_free(char *xml)
{
    free(xml);
}
