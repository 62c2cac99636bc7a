/* SPDX-License-Identifier: ISC */
/* Applying a profile: host check, then the configuration in one define and the running domain
 * one setting at a time (domain_apply_live.c), each step recording how to undo itself; any
 * failure undoes the steps already made, newest first. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "isolation/domain_apply.h"

struct step *vmsec__apply_push(struct apply *a, int kind)
{
    struct step *s;
    if (a->n == a->cap) {
        struct step *ns = realloc(a->steps, (a->cap = a->cap ? a->cap * 2 : 16) * sizeof(*ns));
        if (!ns) {
            vmsec__error(VMSEC_ENOMEM, "out of memory applying a profile");
            return NULL;
        }
        a->steps = ns;
    }
    s = &a->steps[a->n++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->first_entry = vmsec_report_count(a->r);
    return s;
}

/* Frees what a step recorded to undo itself. */
static void step_clear(struct step *s)
{
    for (int k = 0; k < s->n_old; k++)
        if (s->old[k].type == VIR_TYPED_PARAM_STRING)
            free(s->old[k].value.s);
    free(s->old);
    free(s->old_xml);
    s->old = NULL;
    s->old_xml = NULL;
    s->n_old = 0;
}

void vmsec__apply_drop_last(struct apply *a)
{
    step_clear(&a->steps[--a->n]);
}

int vmsec__apply_step_failed(struct apply *a, const char *setting, const char *expected, const char *old)
{
    const char *m = virGetLastErrorMessage();
    snprintf(a->failed, sizeof(a->failed), "%s", setting);
    vmsec__report_add(a->r, VMSEC_STATUS_FAILED, setting, expected, old, "libvirt", "%s", m ? m : "unknown libvirt error");
    step_clear(&a->steps[--a->n]); /* nothing to undo for the failed step itself */
    return vmsec__error(VMSEC_ELIBVIRT, "%s", m ? m : "unknown libvirt error");
}

/* ---- configuration and metadata ------------------------------------------------------------------ */

static int apply_config(struct apply *a)
{
    char *old = NULL, *now = NULL;
    xmlDocPtr doc;
    struct step *s;
    virDomainPtr nd;
    int rc;

    if ((rc = vmsec_domain_get_xml(a->d, VMSEC_AFFECT_CONFIG, &old)) < 0)
        return rc;
    if (!(doc = vmsec__xml_parse(old, "configuration"))) {
        free(old);
        return VMSEC_EFORMAT;
    }
    rc = vmsec__render_doc(a->p, doc);
    if (rc == 0 && !(now = vmsec__xml_dump(doc)))
        rc = VMSEC_ENOMEM;
    xmlFreeDoc(doc);
    if (rc < 0 || !(s = vmsec__apply_push(a, ST_CONFIG))) {
        free(old);
        free(now);
        return rc < 0 ? rc : VMSEC_ENOMEM;
    }
    s->old_xml = old;
    nd = virDomainDefineXML(a->d->conn, now);
    free(now);
    if (!nd) {
        a->steps[a->n - 1].old_xml = NULL;
        free(old);
        return vmsec__apply_step_failed(a, "configuration", "profile rendered", NULL);
    }
    virDomainFree(nd);
    return vmsec__report_add(a->r, VMSEC_STATUS_APPLIED, "configuration", "profile rendered", NULL, "libvirt",
                             "persistent definition replaced (virDomainDefineXML)");
}

static int apply_metadata(struct apply *a, unsigned int vflags)
{
    struct step *s = vmsec__apply_push(a, ST_META);
    int rc;
    if (!s)
        return VMSEC_ENOMEM;
    s->vflags = vflags;
    s->old_xml = vmsec__metadata_get(a->d, vflags & VIR_DOMAIN_AFFECT_LIVE ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG);
    virResetLastError();
    if ((rc = vmsec__metadata_set(a->d, a->p, vflags)) < 0) {
        free(s->old_xml);
        snprintf(a->failed, sizeof(a->failed), "metadata");
        vmsec__report_add(a->r, VMSEC_STATUS_FAILED, "metadata", NULL, NULL, "libvirt", "%s", vmsec_error_last());
        a->n--;
        return rc;
    }
    return vmsec__report_add(a->r, VMSEC_STATUS_APPLIED, "metadata", VMSEC_METADATA_URI, NULL, "libvirt",
                             "profile name, digest and text recorded");
}

/* ---- undo ---------------------------------------------------------------------------------------- */

static int undo(struct apply *a, struct step *s)
{
    unsigned char map[VMSEC_CPUSET_MAX / 8] = { 0 };
    virDomainPtr nd;

    switch (s->kind) {
    case ST_CONFIG:
        if (!(nd = virDomainDefineXML(a->d->conn, s->old_xml)))
            return -1;
        virDomainFree(nd);
        return 0;
    case ST_VCPU_PIN: return vmsec__apply_pin_vcpu(a, s->id, &s->old_set);
    case ST_EMU_PIN:
        vmsec__cpuset_to_cpumap(&s->old_set, map, (size_t)a->maplen);
        return virDomainPinEmulator(a->d->dom, map, a->maplen, VIR_DOMAIN_AFFECT_LIVE);
    case ST_IO_PIN:
        vmsec__cpuset_to_cpumap(&s->old_set, map, (size_t)a->maplen);
        return virDomainPinIOThread(a->d->dom, s->id, map, a->maplen, VIR_DOMAIN_AFFECT_LIVE);
    case ST_PARAM: return s->n_old ? vmsec__apply_set_params(a->d, s->group, s->old, s->n_old) : 0;
    case ST_MEMORY: return s->n_old ? vmsec__apply_set_params(a->d, PG_MEMORY, s->old, s->n_old) : 0;
    case ST_META:
        return virDomainSetMetadata(a->d->dom, VIR_DOMAIN_METADATA_ELEMENT, s->old_xml,
                                    s->old_xml ? VMSEC_METADATA_PREFIX : NULL, VMSEC_METADATA_URI, s->vflags);
    }
    return -1;
}

/* Undoes every step, newest first. Returns the number of steps that could not be undone and
 * lists their settings in `left`. */
static unsigned int rollback(struct apply *a, char *left, size_t size)
{
    unsigned int bad = 0;
    size_t len = 0;
    left[0] = '\0';
    for (size_t i = a->n; i-- > 0;) {
        struct step *s = &a->steps[i];
        size_t ne = s->n_entries ? s->n_entries : 1;
        bool ok = undo(a, s) == 0;
        const char *why = ok ? NULL : virGetLastErrorMessage();
        for (size_t e = s->first_entry; e < s->first_entry + ne && e < vmsec_report_count(a->r); e++) {
            vmsec__report_update(a->r, e, ok ? VMSEC_STATUS_RESTORED : VMSEC_STATUS_NOT_RESTORED, why);
            if (!ok && len < size) {
                int w = snprintf(left + len, size - len, "%s%s", len ? ", " : "",
                                 vmsec_report_field(a->r, e, VMSEC_REPORT_SETTING));
                if (w > 0)
                    len += (size_t)w;
            }
        }
        bad += !ok;
    }
    return bad;
}

static void free_steps(struct apply *a)
{
    for (size_t i = 0; i < a->n; i++)
        step_clear(&a->steps[i]);
    free(a->steps);
    for (int g = 0; g < 4; g++)
        if (a->cur[g])
            virTypedParamsFree(a->cur[g], a->n_cur[g]);
    vmsec__apply_snapshot_free(a);
}

/* ---- driver -------------------------------------------------------------------------------------- */

/* Checks the profile fits the domain (vCPU count, I/O thread ids) as libvirt describes it. */
static int check_shape(struct apply *a, unsigned int flags)
{
    char *xml = NULL;
    xmlDocPtr doc;
    unsigned int nvcpus, *ids;
    size_t nids;
    int rc;

    if ((rc = vmsec_domain_get_xml(a->d, flags & VMSEC_AFFECT_LIVE ? 0 : VMSEC_AFFECT_CONFIG, &xml)) < 0)
        return rc;
    doc = vmsec__xml_parse(xml, "domain XML");
    free(xml);
    if (!doc)
        return VMSEC_EFORMAT;
    rc = vmsec__xml_counts(doc, &nvcpus, &ids, &nids);
    xmlFreeDoc(doc);
    if (rc == 0) {
        rc = vmsec__profile_check_domain(a->p, nvcpus, ids, nids);
        free(ids);
    }
    return rc;
}

static int finish_failure(struct apply *a, int rc)
{
    char left[1024], first[1024];
    unsigned int bad;
    bool alive;

    snprintf(first, sizeof(first), "%s", vmsec_error_last());
    if (!a->n && *a->failed)
        return vmsec__error(rc, "domain %s: applying %s failed: %s; nothing was changed", a->d->name, a->failed, first);
    if (!a->n)
        return rc == VMSEC_ELIBVIRT || rc < 0 ? vmsec__error(rc, "domain %s: nothing was changed: %s", a->d->name, first)
                                              : rc;
    bad = rollback(a, left, sizeof(left));
    alive = virConnectIsAlive(a->d->conn) == 1;
    if (!alive)
        return vmsec__error(VMSEC_ELIBVIRT,
                            "domain %s: the connection to libvirt was lost while applying (at %s: %s)%s%s", a->d->name,
                            *a->failed ? a->failed : "?", first,
                            bad ? "; not restored: " : "; every step was undone, but the result cannot be read back",
                            bad ? left : "");
    /* Every undo may succeed and still leave a trace (libvirt keeps a value once set): only
     * reading everything back tells. */
    if (vmsec__apply_check_restored(a, left, sizeof(left)) < 0)
        bad++;
    if (bad)
        return vmsec__error(VMSEC_EPARTIAL, "domain %s: applying %s failed (%s) and restoring failed; not restored: %s",
                            a->d->name, *a->failed ? a->failed : "a setting", first, left);
    return vmsec__error(VMSEC_EROLLEDBACK, "domain %s: applying %s failed: %s; every change was rolled back",
                        a->d->name, *a->failed ? a->failed : "a setting", first);
}

int vmsec_domain_apply(vmsec_domain *d, const vmsec_profile *profile, unsigned int flags, vmsec_report **report)
{
    struct apply a = { .d = d, .p = profile };
    int running, persistent, rc;
    unsigned int meta = 0;

    if (report)
        *report = NULL;
    if (!d || !profile || (flags & ~(VMSEC_AFFECT_LIVE | VMSEC_AFFECT_CONFIG)))
        return vmsec__error(VMSEC_EINVAL, "vmsec_domain_apply: NULL argument or unknown flags 0x%x", flags);
    if ((running = vmsec__domain_prepare(d, profile)) < 0)
        return running;
    if ((persistent = virDomainIsPersistent(d->dom)) < 0)
        return vmsec__libvirt_error(VMSEC_ELIBVIRT, "domain %s: cannot read whether it is persistent", d->name);
    if (!flags)
        flags = (running ? VMSEC_AFFECT_LIVE : 0) | (persistent ? VMSEC_AFFECT_CONFIG : 0);
    if ((flags & VMSEC_AFFECT_LIVE) && !running)
        return vmsec__error(VMSEC_ESTATE, "domain %s is not running: cannot apply live", d->name);
    if ((flags & VMSEC_AFFECT_CONFIG) && !persistent)
        return vmsec__error(VMSEC_ESTATE, "domain %s is transient: it has no configuration to apply to", d->name);
    if ((flags & VMSEC_AFFECT_LIVE) && !(flags & VMSEC_AFFECT_CONFIG) && vmsec__apply_needs_boot(profile))
        return vmsec__error(VMSEC_EUNSUPPORTED,
                            "domain %s: memory.locked, memory.hugepages.* and memory.nosharepages cannot change on "
                            "a running domain; apply to the configuration too (they take effect at next boot)",
                            d->name);
    /* A refusing host check hands its report (every problem) to the caller. */
    if ((rc = vmsec_domain_host_check(d, profile, flags, report)) < 0)
        return rc;
    if (report) {
        vmsec_report_free(*report);
        *report = NULL;
    }
    if ((rc = check_shape(&a, flags)) < 0)
        return rc;
    if (!(a.r = vmsec__report_new()))
        return VMSEC_ENOMEM;
    if ((rc = vmsec__apply_snapshot(&a, flags)) < 0) {
        free_steps(&a);
        vmsec_report_free(a.r);
        return rc;
    }

    if (flags & VMSEC_AFFECT_LIVE)
        rc = vmsec__apply_live_prepare(&a);
    if (rc == 0 && (flags & VMSEC_AFFECT_CONFIG)) {
        rc = apply_config(&a);
        meta |= VIR_DOMAIN_AFFECT_CONFIG;
    }
    if (rc == 0 && (flags & VMSEC_AFFECT_LIVE)) {
        rc = vmsec__apply_live(&a, flags);
        meta |= VIR_DOMAIN_AFFECT_LIVE;
    }
    if (rc == 0)
        rc = apply_metadata(&a, meta);
    if (rc < 0)
        rc = finish_failure(&a, rc);
    free_steps(&a);
    if (report)
        *report = a.r;
    else
        vmsec_report_free(a.r);
    return rc;
}
