/* SPDX-License-Identifier: ISC */
/* Keeping one domain true to its recorded profile: read the profile from the domain's metadata
 * (the persistent configuration's, else the live definition's), apply its live part when the
 * domain has just started, verify against the kernel, and on drift report or repair. Only the
 * library's public API is used. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "vmsecd.h"

static vmsecd_domain *find(vmsecd_uri *u, const char *uuid, bool create)
{
    vmsecd_domain *dom;
    for (dom = u->domains; dom; dom = dom->next)
        if (strcmp(dom->uuid, uuid) == 0)
            return dom;
    if (!create || !(dom = calloc(1, sizeof(*dom))))
        return NULL;
    snprintf(dom->uuid, sizeof(dom->uuid), "%s", uuid);
    dom->next = u->domains;
    u->domains = dom;
    return dom;
}

void vmsecd_domain_free(vmsecd_domain *dom)
{
    if (dom) {
        free(dom->drifted);
        free(dom->pins);
        free(dom);
    }
}

bool vmsecd_enforce_known(vmsecd_uri *u, virDomainPtr dom)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    return virDomainGetUUIDString(dom, uuid) == 0 && find(u, uuid, false) != NULL;
}

void vmsecd_enforce_forget(vmsecd_uri *u, const char *uuid)
{
    for (vmsecd_domain **p = &u->domains; *p; p = &(*p)->next)
        if (strcmp((*p)->uuid, uuid) == 0) {
            vmsecd_domain *dead = *p;
            *p = dead->next;
            vmsecd_domain_free(dead);
            vmsecd_state_changed(u->d);
            return;
        }
}

/* The recorded profile: the configuration's first (what the domain is meant to be), else the live
 * definition's (a transient domain has no configuration). */
static int recorded(vmsec_domain *vd, vmsec_profile **p, char *digest)
{
    int rc = vmsec_domain_get_applied(vd, VMSEC_AFFECT_CONFIG, p, digest, VMSEC_PROFILE_DIGEST_MAX);
    if (rc < 0 && rc != VMSEC_EFORMAT) /* a damaged record is reported, not passed over */
        rc = vmsec_domain_get_applied(vd, 0, p, digest, VMSEC_PROFILE_DIGEST_MAX);
    return rc;
}

static void record_error(vmsecd_uri *u, vmsecd_domain *dom, const char *step)
{
    dom->status = VMSECD_ERROR;
    u->d->errors++;
    vmsecd_audit(u->d, "error", u, dom, "step", step, "message", vmsec_error_last(), (char *)NULL);
}

/* One drift record per drifted setting; dom->drifted lists them. */
static void report_drift(vmsecd_uri *u, vmsecd_domain *dom, const vmsec_report *r)
{
    size_t len = 0;
    free(dom->drifted);
    dom->drifted = NULL;
    for (size_t i = 0; i < vmsec_report_count(r); i++) {
        if (vmsec_report_status(r, i) != VMSEC_STATUS_DRIFT)
            continue;
        const char *setting = vmsec_report_field(r, i, VMSEC_REPORT_SETTING);
        size_t n = strlen(setting);
        char *grown = realloc(dom->drifted, len + n + 2);
        if (grown) {
            dom->drifted = grown;
            snprintf(dom->drifted + len, n + 2, "%s%s", len ? "," : "", setting);
            len += n + (len ? 1 : 0);
        }
        u->d->drifts++;
        vmsecd_audit(u->d, "drift", u, dom, "setting", setting,
                     "expected", vmsec_report_field(r, i, VMSEC_REPORT_EXPECTED),
                     "actual", vmsec_report_field(r, i, VMSEC_REPORT_ACTUAL),
                     "source", vmsec_report_field(r, i, VMSEC_REPORT_SOURCE), (char *)NULL);
    }
}

/* Verifies; returns the library's code (0, VMSEC_EDRIFT or an error). */
static int verify(vmsecd_uri *u, vmsecd_domain *dom, vmsec_domain *vd, const vmsec_profile *p, const char *reason)
{
    vmsec_report *r = NULL;
    double t0 = vmsecd_mono();
    int rc = vmsec_domain_verify(vd, p, 0, &r);
    u->d->verify_seconds = vmsecd_mono() - t0;
    u->d->verify_seconds_sum += u->d->verify_seconds;
    u->d->verifies++;
    dom->last_verify = vmsecd_now();
    if (rc == 0 || rc == VMSEC_EDRIFT) {
        char counts[64];
        snprintf(counts, sizeof(counts), "%zu/%zu", vmsec_report_count_status(r, VMSEC_STATUS_OK),
                 vmsec_report_count(r));
        dom->status = rc == 0 ? VMSECD_OK : VMSECD_DRIFTED;
        if (rc == 0) {
            free(dom->drifted);
            dom->drifted = NULL;
        } else {
            report_drift(u, dom, r);
        }
        char at[40];
        vmsecd_time_text(u->event_at, at, sizeof(at));
        vmsecd_audit(u->d, "verified", u, dom, "result", rc == 0 ? "ok" : "drift", "reason", reason,
                     "digest", dom->digest, "checks_ok", counts, "event_time", u->event_at > 0 ? at : NULL,
                     (char *)NULL);
    } else {
        record_error(u, dom, "verify");
    }
    vmsec_report_free(r);
    return rc;
}

static int apply_flags(vmsecd_uri *u, vmsecd_domain *dom, vmsec_domain *vd, const vmsec_profile *p,
                       unsigned int flags, const char *event, const char *reason)
{
    vmsec_report *r = NULL;
    int rc = vmsec_domain_apply(vd, p, flags, &r);
    if (rc == 0) {
        char n[32], at[40];
        snprintf(n, sizeof(n), "%zu", vmsec_report_count_status(r, VMSEC_STATUS_APPLIED));
        vmsecd_time_text(u->event_at, at, sizeof(at));
        vmsecd_audit(u->d, event, u, dom, "reason", reason, "digest", dom->digest, "settings", n, "event_time",
                     u->event_at > 0 ? at : NULL, (char *)NULL);
    } else {
        record_error(u, dom, event);
    }
    vmsec_report_free(r);
    return rc;
}

static int apply_live(vmsecd_uri *u, vmsecd_domain *dom, vmsec_domain *vd, const vmsec_profile *p,
                      const char *event, const char *reason)
{
    return apply_flags(u, dom, vd, p, VMSEC_AFFECT_LIVE, event, reason);
}

/* Drift under --drift repair: re-apply unless this domain was repaired too recently. */
static void repair(vmsecd_uri *u, vmsecd_domain *dom, vmsec_domain *vd, const vmsec_profile *p)
{
    double now = vmsecd_mono();
    if (dom->last_repair && now - dom->last_repair < u->d->opt.repair_min_interval) {
        vmsecd_audit(u->d, "repair-deferred", u, dom, "reason", "repair-min-interval", (char *)NULL);
        return;
    }
    dom->last_repair = now;
    if (apply_live(u, dom, vd, p, "repaired", "drift") == 0) {
        dom->repairs++;
        u->d->repairs++;
        verify(u, dom, vd, p, "after-repair");
    }
}

static void look(vmsecd_uri *u, vmsecd_domain *dom, vmsec_domain *vd, const vmsec_profile *p, unsigned int apply,
                 const char *reason)
{
    /* A failed apply is recorded, and the verify still runs: settings that only take effect at
     * boot came from the configuration, and the verify tells what is in force after all. */
    if (apply)
        apply_flags(u, dom, vd, p, apply, "applied", reason);
    if (verify(u, dom, vd, p, reason) == VMSEC_EDRIFT && u->d->opt.drift == VMSECD_DRIFT_REPAIR)
        repair(u, dom, vd, p);
}

/* A domain started from XML the hook re-planned carries the new profile in its live record; it
 * replaces the configuration's (read first otherwise), in the configuration too, so that the
 * domain keeps its new CPUs. Returns the live profile then, else p as it was. */
static vmsec_profile *replanned(vmsecd_uri *u, virDomainPtr dom, vmsec_domain *vd, const char *name,
                                vmsec_profile *p, char *digest, unsigned int *apply)
{
    char live_digest[VMSEC_PROFILE_DIGEST_MAX];
    vmsec_profile *live = NULL;
    if (!*apply || !vmsecd_replan_pending(u->d, name))
        return p;
    if (vmsec_domain_get_applied(vd, 0, &live, live_digest, sizeof(live_digest)) < 0 ||
        !vmsecd_replan_take(u->d, name, live_digest)) {
        vmsec_profile_free(live);
        return p;
    }
    vmsec_profile_free(p);
    snprintf(digest, VMSEC_PROFILE_DIGEST_MAX, "%s", live_digest);
    *apply = VMSEC_AFFECT_LIVE | (virDomainIsPersistent(dom) == 1 ? VMSEC_AFFECT_CONFIG : 0);
    return live;
}

void vmsecd_enforce_domain(vmsecd_uri *u, virDomainPtr dom, bool apply_live_part, const char *reason)
{
    unsigned int apply = apply_live_part ? VMSEC_AFFECT_LIVE : 0;
    char uuid[VIR_UUID_STRING_BUFLEN], digest[VMSEC_PROFILE_DIGEST_MAX] = "";
    vmsec_domain *vd = NULL;
    vmsec_profile *p = NULL;
    vmsecd_domain *e;

    if (virDomainGetUUIDString(dom, uuid) < 0)
        return;
    if (u->d->opt.match && fnmatch(u->d->opt.match, virDomainGetName(dom), 0) != 0)
        return; /* not ours to look after */
    if (virDomainIsActive(dom) != 1) {
        vmsecd_enforce_forget(u, uuid); /* only running domains are enforced */
        return;
    }
    if (vmsec_domain_wrap(dom, &vd) < 0)
        return;
    int rc = recorded(vd, &p, digest);
    if (rc == VMSEC_ENOTFOUND) {
        vmsecd_enforce_forget(u, uuid); /* no profile: not ours */
    } else if ((e = find(u, uuid, true))) {
        e->seen = true;
        snprintf(e->name, sizeof(e->name), "%s", virDomainGetName(dom));
        if (rc < 0) {
            record_error(u, e, "read-profile");
        } else {
            p = replanned(u, dom, vd, e->name, p, digest, &apply);
            free(e->pins);
            e->pins = vmsecd_replan_pins(p);
            snprintf(e->digest, sizeof(e->digest), "%s", digest);
            vmsec_profile_get_name(p, e->profile, sizeof(e->profile));
            look(u, e, vd, p, apply, reason);
        }
        vmsecd_state_changed(u->d);
    }
    vmsec_profile_free(p);
    vmsec_domain_free(vd);
}

/* Every domain of the connection: the periodic verify and the resync after a (re)connect. Entries
 * for domains that no longer run are dropped. */
void vmsecd_enforce_all(vmsecd_uri *u, const char *reason)
{
    virDomainPtr *doms = NULL;
    int n;

    if (!u->conn)
        return;
    n = virConnectListAllDomains(u->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0)
        return;
    for (vmsecd_domain *e = u->domains; e; e = e->next)
        e->seen = false;
    for (int i = 0; i < n; i++) {
        vmsecd_enforce_domain(u, doms[i], false, reason);
        virDomainFree(doms[i]);
    }
    free(doms);
    for (vmsecd_domain **p = &u->domains; *p;) {
        vmsecd_domain *e = *p;
        if (e->seen) {
            p = &e->next;
        } else {
            *p = e->next;
            vmsecd_domain_free(e);
        }
    }
    vmsecd_state_changed(u->d);
}
