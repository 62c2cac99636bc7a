/* SPDX-License-Identifier: ISC */
/* Re-planning a domain's CPU pins for this host, for the libvirt hook (daemon/hook.c) on an
 * incoming migration or a restore: the pins recorded on another host, or before a save, may now
 * belong to other domains. The domain XML comes in; the profile recorded in its metadata gives
 * the intent (stated, or read back from its pins: one dedicated CPU per vCPU, whole cores, a
 * dedicated emulator CPU if it had one); the planner places it against the host topology of the
 * connection and the pins of every running domain vmsecd enforces; the XML goes out with the new
 * pins in <cputune> and the concrete profile in the metadata record. libvirt is not called here:
 * libvirtd is waiting for the hook, and the topology was read when the connection was made.
 *
 * vmsecd then remembers the replan, so that when the domain starts with that record it applies
 * the new profile to the persistent definition too; otherwise the configuration's old record,
 * which vmsecd reads first, would undo the move. */
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/json.h"
#include "vmsecd.h"

#define XC(s) ((const xmlChar *)(s))
#define PINS_MAX 65536 /* text of a union of pins; longer ones are not kept as holdings */

/* ---- CPU sets, just enough to compare pins ---------------------------------------------------- */

#define SET_BITS 8192
typedef struct { unsigned char b[SET_BITS / 8]; } cpus;

static int cpus_add(cpus *s, const char *list)
{
    for (const char *p = list; *p;) {
        char *end;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (end == p)
            return -1;
        if (*end == '-')
            hi = strtoul(end + 1, &end, 10);
        if (hi < lo || hi >= SET_BITS || (*end && *end != ','))
            return -1;
        for (unsigned long c = lo; c <= hi; c++)
            s->b[c / 8] |= (unsigned char)(1u << (c % 8));
        p = *end ? end + 1 : end;
    }
    return 0;
}

static bool cpus_subset(const cpus *a, const cpus *b)
{
    for (size_t i = 0; i < sizeof(a->b); i++)
        if (a->b[i] & ~b->b[i])
            return false;
    return true;
}

/* ---- the pins a profile holds ------------------------------------------------------------------- */

/* Appends "," and s to *out (malloc'd, grown); false when out of room. */
static bool append(char **out, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (!n)
        return true;
    if (*len + n + 2 > PINS_MAX)
        return false;
    char *grown = realloc(*out, *len + n + 2);
    if (!grown)
        return false;
    *out = grown;
    snprintf(*out + *len, n + 2, "%s%s", *len ? "," : "", s);
    *len += n + (*len ? 1 : 0);
    return true;
}

char *vmsecd_replan_pins(const vmsec_profile *p)
{
    char buf[VMSEC_PROFILE_CPUSET_TEXT_MAX], *out = NULL;
    unsigned int n = 0, nio = 0;
    size_t len = 0;
    bool ok = true;
    vmsec_profile_get_vcpus(p, &n);
    vmsec_profile_get_iothreads(p, &nio);
    for (unsigned int i = 0; ok && i < n; i++)
        if (vmsec_profile_get_vcpu_pin(p, i, buf, sizeof(buf)) == 1)
            ok = append(&out, &len, buf);
    if (ok && vmsec_profile_get_emulator_pin(p, buf, sizeof(buf)) == 1)
        ok = append(&out, &len, buf);
    for (unsigned int id = 1; ok && id <= nio; id++)
        if (vmsec_profile_get_iothread_pin(p, id, buf, sizeof(buf)) == 1)
            ok = append(&out, &len, buf);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* Whether key (a pin) names the same CPUs in both profiles. */
static bool same_pin(const vmsec_profile *a, const vmsec_profile *b, const char *key)
{
    char va[VMSEC_PROFILE_CPUSET_TEXT_MAX], vb[VMSEC_PROFILE_CPUSET_TEXT_MAX];
    cpus sa = {{0}}, sb = {{0}};
    int ra = vmsec_profile_get(a, key, va, sizeof(va)), rb = vmsec_profile_get(b, key, vb, sizeof(vb));
    if (ra != 1 || rb != 1)
        return ra == rb;
    return cpus_add(&sa, va) == 0 && cpus_add(&sb, vb) == 0 && memcmp(&sa, &sb, sizeof(sa)) == 0;
}

/* Whether the plan kept every recorded pin: then the XML needs no change (the planner's NUMA
 * policy alone is no reason to rewrite a definition that works). */
static bool same_pins(const vmsec_profile *rec, const vmsec_profile *concrete)
{
    char key[32];
    unsigned int n = 0;
    vmsec_profile_get_vcpus(concrete, &n);
    for (unsigned int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "vcpu.%u.pin", i);
        if (!same_pin(rec, concrete, key))
            return false;
    }
    return same_pin(rec, concrete, "emulator.pin");
}

/* ---- intent ------------------------------------------------------------------------------------- */

static bool states_intent(const vmsec_profile *p)
{
    char v[32];
    return vmsec_profile_get(p, "cpu.placement", v, sizeof(v)) == 1;
}

/* The intent behind a concrete profile: every vCPU pinned is read as "dedicated, whole cores";
 * an emulator pinned outside the vCPUs' CPUs as "a dedicated emulator CPU"; a strict one-node
 * memory policy as the planner's own (it sets it again for the new node). 1 with *out set, 0
 * when the profile pins no vCPU (nothing to re-plan), negative on error. */
static int intent_of(const vmsec_profile *p, vmsec_profile **out, const char **why)
{
    char buf[VMSEC_PROFILE_CPUSET_TEXT_MAX], key[32];
    unsigned int n = 0;
    cpus vcpu = {{0}}, emu = {{0}};
    int rc;
    if (states_intent(p))
        return (rc = vmsec_profile_dup(p, out)) < 0 ? rc : 1;
    if (vmsec_profile_get_vcpus(p, &n) < 0 || n == 0) {
        *why = "the recorded profile sets no vcpus";
        return 0;
    }
    for (unsigned int i = 0; i < n; i++) {
        if (vmsec_profile_get_vcpu_pin(p, i, buf, sizeof(buf)) != 1) {
            *why = "the recorded profile does not pin every vCPU";
            return 0;
        }
        if (cpus_add(&vcpu, buf) < 0)
            return VMSEC_EFORMAT;
    }
    bool dedicated = vmsec_profile_get_emulator_pin(p, buf, sizeof(buf)) == 1 && cpus_add(&emu, buf) == 0 &&
                     !cpus_subset(&emu, &vcpu);
    if ((rc = vmsec_profile_dup(p, out)) < 0)
        return rc;
    for (unsigned int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "vcpu.%u.pin", i);
        vmsec_profile_unset(*out, key);
    }
    vmsec_profile_unset(*out, "emulator.pin");
    if (vmsec_profile_get(p, "numa.mode", buf, sizeof(buf)) == 1 && strcmp(buf, "strict") == 0 &&
        vmsec_profile_get(p, "numa.nodeset", buf, sizeof(buf)) == 1 && !strpbrk(buf, ",-")) {
        vmsec_profile_unset(*out, "numa.mode");
        vmsec_profile_unset(*out, "numa.nodeset");
    }
    if ((rc = vmsec_profile_set(*out, "cpu.placement", "dedicated")) < 0 ||
        (rc = vmsec_profile_set(*out, "cpu.thread_policy", "isolate")) < 0 ||
        (rc = vmsec_profile_set(*out, "cpu.emulator", dedicated ? "dedicated" : "share")) < 0) {
        vmsec_profile_free(*out);
        *out = NULL;
        return rc;
    }
    return 1;
}

/* ---- the domain XML ----------------------------------------------------------------------------- */

/* The vmsec record in <metadata>, or NULL. */
static xmlNode *record_of(xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    for (xmlNode *m = root ? root->children : NULL; m; m = m->next)
        if (m->type == XML_ELEMENT_NODE && xmlStrcmp(m->name, XC("metadata")) == 0)
            for (xmlNode *r = m->children; r; r = r->next)
                if (r->type == XML_ELEMENT_NODE && r->ns && xmlStrcmp(r->ns->href, XC(VMSEC_METADATA_URI)) == 0)
                    return r;
    return NULL;
}

static char *child_text(xmlDoc *doc, const char *name)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, XC(name)) == 0) {
            xmlChar *t = xmlNodeGetContent(c);
            char *s = t ? strdup((const char *)t) : NULL;
            xmlFree(t);
            return s;
        }
    return NULL;
}

static xmlDoc *parse(const char *xml)
{
    return xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* The profile recorded in the XML; its digest must match its text (fail closed). */
static int recorded_in(xmlDoc *doc, vmsec_profile **p, char **why)
{
    char digest[VMSEC_PROFILE_DIGEST_MAX];
    xmlNode *r = record_of(doc);
    xmlChar *rec = r ? xmlGetProp(r, XC("digest")) : NULL, *text = r ? xmlNodeGetContent(r) : NULL;
    int rc = r ? 0 : VMSEC_ENOTFOUND;
    if (r && (!rec || !text))
        rc = VMSEC_EFORMAT;
    else if (r && (rc = vmsec_profile_parse(p, (const char *)text, strlen((const char *)text), "domain metadata")) == 0 &&
             (vmsec_profile_digest(*p, digest, sizeof(digest)) < 0 || strcmp(digest, (const char *)rec) != 0))
        rc = VMSEC_EFORMAT;
    if (rc == VMSEC_EFORMAT && asprintf(why, "the vmsec metadata record is damaged%s%s", *p ? "" : ": ",
                                        *p ? " (its digest does not match its text)" : vmsec_error_last()) < 0)
        *why = NULL;
    if (rc < 0 && *p) {
        vmsec_profile_free(*p);
        *p = NULL;
    }
    xmlFree(rec);
    xmlFree(text);
    return rc;
}

/* Replaces the record's digest and text by the concrete profile's; returns the new XML. */
static char *with_record(const char *rendered, const vmsec_profile *concrete)
{
    char digest[VMSEC_PROFILE_DIGEST_MAX], *text = NULL, *out = NULL;
    size_t need = 0;
    xmlDoc *doc = parse(rendered);
    xmlNode *r = doc ? record_of(doc) : NULL;
    xmlChar *mem = NULL;
    int len = 0;
    if (!r || vmsec_profile_digest(concrete, digest, sizeof(digest)) < 0)
        goto out;
    vmsec_profile_to_text(concrete, NULL, 0, &need);
    if (!(text = malloc(need + 1)) || vmsec_profile_to_text(concrete, text, need + 1, &need) < 0)
        goto out;
    xmlSetProp(r, XC("digest"), XC(digest));
    xmlNodeSetContent(r, NULL);
    xmlNodeAddContent(r, XC(text));
    xmlDocDumpMemory(doc, &mem, &len);
    if (mem)
        out = strdup((const char *)mem);
out:
    xmlFree(mem);
    free(text);
    xmlFreeDoc(doc);
    return out;
}

/* ---- the host and its holdings ------------------------------------------------------------------ */

/* A host whose capabilities list no CPUs (some drivers, such as the test driver reading a file,
 * give no NUMA cells) is described by its node info: CPUs numbered node by node, socket by
 * socket, core by core, thread by thread, as Linux numbers them on most hosts. */
static int topology_from_info(virConnectPtr conn, vmsec_topology **out)
{
    virNodeInfo ni;
    unsigned int cpu = 0;
    int rc;
    if (virNodeGetInfo(conn, &ni) < 0)
        return VMSEC_ELIBVIRT;
    if ((rc = vmsec_topology_new(out)) < 0)
        return rc;
    for (unsigned int n = 0; n < (ni.nodes ? ni.nodes : 1); n++)
        for (unsigned int s = 0; s < ni.sockets; s++)
            for (unsigned int c = 0; c < ni.cores; c++)
                for (unsigned int t = 0; t < ni.threads && cpu < ni.cpus; t++, cpu++)
                    if ((rc = vmsec_topology_add_cpu(*out, cpu, n, n * ni.sockets + s, 0, c, 1)) < 0)
                        return rc;
    return cpu ? 0 : VMSEC_EHOST;
}

void vmsecd_replan_topology(vmsecd_uri *u)
{
    char *caps = u->conn ? virConnectGetCapabilities(u->conn) : NULL;
    vmsec_topology_free(u->topology);
    u->topology = NULL;
    int rc = caps ? vmsec_topology_from_capabilities(&u->topology, caps, strlen(caps)) : VMSEC_ELIBVIRT;
    if (rc < 0 && caps) {
        vmsec_topology_free(u->topology);
        u->topology = NULL;
        rc = topology_from_info(u->conn, &u->topology);
    }
    if (rc < 0) {
        vmsec_topology_free(u->topology);
        u->topology = NULL;
        vmsecd_audit(u->d, "error", u, NULL, "step", "topology", "message",
                     rc == VMSEC_ELIBVIRT ? virGetLastErrorMessage() : vmsec_error_last(), (char *)NULL);
    }
    free(caps);
}

/* The connection whose host the hook runs on: the one named, else the first one up. */
static vmsecd_uri *host_uri(vmsecd *d, const char *uri)
{
    for (size_t i = 0; i < d->nuris; i++)
        if (d->uris[i].conn && !d->uris[i].close_pending && (!uri || strcmp(uri, d->uris[i].uri) == 0))
            return &d->uris[i];
    return NULL;
}

/* A planner holding, for every other running domain vmsecd enforces, the CPUs its profile pins
 * (with their cores: a pinned domain is taken to want its cores alone), then the domain's own
 * recorded pins, so that the planner tries its recorded cores first. *own_free tells whether every
 * recorded pin is free of the others (their cores' other threads included). */
static int planner_for(vmsecd_uri *u, const char *name, const vmsec_profile *rec, vmsec_planner **pl, bool *own_free)
{
    char avail[VMSEC_PROFILE_CPUSET_TEXT_MAX];
    cpus mine = {{0}}, unheld = {{0}};
    int rc = vmsec_planner_new(pl, u->topology);
    char *own = rc == 0 ? vmsecd_replan_pins(rec) : NULL;
    for (vmsecd_domain *e = u->domains; rc == 0 && e; e = e->next)
        if (e->pins && strcmp(e->name, name) != 0 &&
            vmsec_planner_hold(*pl, e->name, e->pins, VMSEC_HOLD_ISOLATE) < 0)
            vmsecd_audit(u->d, "error", u, e, "step", "replan-hold", "message", vmsec_error_last(), (char *)NULL);
    *own_free = own && rc == 0 && vmsec_planner_free_cpus(*pl, avail, sizeof(avail)) == 0 && cpus_add(&unheld, avail) == 0 &&
             cpus_add(&mine, own) == 0 && cpus_subset(&mine, &unheld);
    if (own)
        (void)vmsec_planner_hold(*pl, name, own, 0); /* pins that do not fit this host: planned afresh */
    free(own);
    return rc;
}

/* ---- remembered replans ------------------------------------------------------------------------- */

#define REPLANS_MAX 64

struct vmsecd_replan {
    struct vmsecd_replan *next;
    char name[256];
    char digest[VMSEC_PROFILE_DIGEST_MAX];
};

static void remember(vmsecd *d, const char *name, const vmsec_profile *concrete)
{
    struct vmsecd_replan *r = calloc(1, sizeof(*r)), **p;
    size_t n = 0;
    if (!r)
        return;
    snprintf(r->name, sizeof(r->name), "%s", name);
    vmsec_profile_digest(concrete, r->digest, sizeof(r->digest));
    vmsecd_replan_take(d, name, NULL); /* the latest replan of a domain is the one that counts */
    r->next = d->replans;
    d->replans = r;
    for (p = &d->replans; *p; p = &(*p)->next)
        if (++n == REPLANS_MAX) { /* forget the oldest */
            free((*p)->next);
            (*p)->next = NULL;
            break;
        }
}

bool vmsecd_replan_pending(const vmsecd *d, const char *name)
{
    for (const struct vmsecd_replan *r = d->replans; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return true;
    return false;
}

bool vmsecd_replan_take(vmsecd *d, const char *name, const char *digest)
{
    for (struct vmsecd_replan **p = &d->replans; *p; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0) {
            struct vmsecd_replan *r = *p;
            bool match = digest && strcmp(r->digest, digest) == 0;
            *p = r->next;
            free(r);
            return match;
        }
    return false;
}

void vmsecd_replan_clear(vmsecd *d)
{
    while (d->replans)
        vmsecd_replan_take(d, d->replans->name, NULL);
}

/* ---- the request -------------------------------------------------------------------------------- */

static json_t *unchanged(const char *why)
{
    json_t *o = json_object();
    vmsec__json_set(o, "ok", json_true());
    vmsec__json_set(o, "changed", json_false());
    vmsec__json_set(o, "reason", vmsec__json_str(why));
    return o;
}

static json_t *failed(const char *why)
{
    json_t *o = json_object();
    vmsec__json_set(o, "ok", json_false());
    vmsec__json_set(o, "error", vmsec__json_str(why));
    return o;
}

/* Plans the recorded profile of the domain in xml; the reply for the hook. */
static json_t *plan(vmsecd_uri *u, xmlDoc *doc, const char *xml, const char *name)
{
    vmsec_profile *rec = NULL, *intent = NULL, *concrete = NULL;
    vmsec_planner *pl = NULL;
    char *why = NULL, *rendered = NULL, *out = NULL;
    const char *reason = NULL;
    bool still_free = false;
    json_t *reply = NULL;
    int rc = recorded_in(doc, &rec, &why);
    if (rc == VMSEC_ENOTFOUND)
        reply = unchanged("the domain has no vmsec profile");
    else if (rc < 0)
        reply = failed(why ? why : vmsec_error_last());
    else if ((rc = intent_of(rec, &intent, &reason)) == 0)
        reply = unchanged(reason);
    else if (rc < 0 || !u->topology || (rc = planner_for(u, name, rec, &pl, &still_free)) < 0)
        reply = failed(u->topology ? vmsec_error_last() : "the host topology is unknown (see the audit trail)");
    else if (still_free)
        reply = unchanged("the recorded pins are free on this host");
    else if ((rc = vmsec_planner_place_profile(pl, name, intent, &concrete, NULL)) < 0)
        reply = failed(vmsec_error_last());
    else if (same_pins(rec, concrete))
        reply = unchanged("the recorded pins are free on this host");
    else if (vmsec_domain_render(concrete, xml, &rendered) < 0)
        reply = failed(vmsec_error_last());
    else if (!(out = with_record(rendered, concrete)))
        reply = failed("cannot write the new metadata record");
    if (!reply) {
        char *pins = vmsecd_replan_pins(concrete);
        reply = json_object();
        vmsec__json_set(reply, "ok", json_true());
        vmsec__json_set(reply, "changed", json_true());
        vmsec__json_set(reply, "pins", vmsec__json_str(pins));
        vmsec__json_set(reply, "xml", vmsec__json_str(out));
        remember(u->d, name, concrete);
        free(pins);
    }
    vmsec_domain_xml_free(rendered);
    free(out);
    free(why);
    vmsec_planner_free(pl);
    vmsec_profile_free(concrete);
    vmsec_profile_free(intent);
    vmsec_profile_free(rec);
    return reply;
}

json_t *vmsecd_replan(vmsecd *d, const char *xml, const char *uri)
{
    vmsecd_uri *u = host_uri(d, uri);
    xmlDoc *doc = xml ? parse(xml) : NULL;
    char *name = doc ? child_text(doc, "name") : NULL;
    json_t *reply;
    if (!xml)
        reply = failed("the request has no \"xml\"");
    else if (!doc || !name)
        reply = failed("the domain XML does not parse or has no <name>");
    else if (!u)
        reply = failed(uri ? "vmsecd does not watch that URI, or it is down" : "no libvirt connection is up");
    else
        reply = plan(u, doc, xml, name);
    if (u && name) {
        json_t *r = json_object_get(reply, "changed"), *e = json_object_get(reply, "error");
        vmsecd_audit(d, "replan", u, NULL, "domain", name,
                     "result", e ? "error" : json_is_true(r) ? "changed" : "unchanged",
                     "pins", json_string_value(json_object_get(reply, "pins")) ? json_string_value(json_object_get(reply, "pins")) : "-",
                     "reason", e ? json_string_value(e) : json_string_value(json_object_get(reply, "reason")) ? json_string_value(json_object_get(reply, "reason")) : "-",
                     (char *)NULL);
    }
    free(name);
    xmlFreeDoc(doc);
    return reply;
}
