/* SPDX-License-Identifier: ISC */
/* The daemon's state rendered for the outside: one JSON document (the control socket) and the
 * Prometheus text exposition format (the metrics server). Pure functions of struct vmsecd, so the
 * unit test renders them without libvirt. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "vmsecd.h"

static const char *const status_names[VMSECD_NSTATUS] = {"unchecked", "ok", "drift", "error"};

const char *vmsecd_status_name(int status)
{
    return status >= 0 && status < VMSECD_NSTATUS ? status_names[status] : "unknown";
}

static json_t *time_or_null(double t)
{
    return t > 0 ? json_real(t) : json_null();
}

static json_t *domain_json(const vmsecd_domain *e)
{
    json_t *o = json_object(), *drifted = json_array();
    if (!o || !drifted) {
        json_decref(o);
        json_decref(drifted);
        return NULL;
    }
    for (const char *s = e->drifted; s && *s;) {
        size_t n = strcspn(s, ",");
        json_array_append_new(drifted, vmsec__json_strn(s, n));
        s += n + (s[n] == ',');
    }
    vmsec__json_set(o, "uuid", vmsec__json_str(e->uuid));
    vmsec__json_set(o, "name", vmsec__json_str(e->name));
    vmsec__json_set(o, "profile", vmsec__json_str(e->profile[0] ? e->profile : NULL));
    vmsec__json_set(o, "digest", vmsec__json_str(e->digest[0] ? e->digest : NULL));
    vmsec__json_set(o, "status", vmsec__json_str(vmsecd_status_name(e->status)));
    vmsec__json_set(o, "drifted", drifted);
    vmsec__json_set(o, "repairs", json_integer((json_int_t)e->repairs));
    vmsec__json_set(o, "last_verify", time_or_null(e->last_verify));
    return o;
}

static json_t *uri_json(const vmsecd_uri *u)
{
    json_t *o = json_object(), *doms = json_array();
    if (!o || !doms) {
        json_decref(o);
        json_decref(doms);
        return NULL;
    }
    for (const vmsecd_domain *e = u->domains; e; e = e->next)
        json_array_append_new(doms, domain_json(e));
    vmsec__json_set(o, "uri", vmsec__json_str(u->uri));
    vmsec__json_set(o, "host", vmsec__json_str(u->host[0] ? u->host : NULL));
    vmsec__json_set(o, "connected", json_boolean(u->conn != NULL && !u->close_pending));
    vmsec__json_set(o, "last_resync", time_or_null(u->last_resync));
    vmsec__json_set(o, "event_lag_seconds", json_real(u->event_lag));
    vmsec__json_set(o, "reconnects", json_integer((json_int_t)u->reconnects));
    vmsec__json_set(o, "domains", doms);
    return o;
}

char *vmsecd_state_json(const vmsecd *d)
{
    json_t *o = json_object(), *uris = json_array();
    char *text = NULL;
    if (o && uris) {
        for (size_t i = 0; i < d->nuris; i++)
            json_array_append_new(uris, uri_json(&d->uris[i]));
        vmsec__json_set(o, "version", vmsec__json_str(vmsec_version_string()));
        vmsec__json_set(o, "ready", json_boolean(d->ready));
        vmsec__json_set(o, "drift_policy", vmsec__json_str(d->opt.drift == VMSECD_DRIFT_REPAIR ? "repair" : "report"));
        vmsec__json_set(o, "uris", json_incref(uris));
        text = vmsec__json_dump(o);
    }
    json_decref(uris);
    json_decref(o);
    return text;
}

/* A growing text buffer; on allocation failure it stays NULL and the rendering gives NULL. */
typedef struct buf {
    char *s;
    size_t len, cap;
    bool failed;
} buf;

static void add(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        if (b->failed)
            return;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n >= 0 && b->s && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)(n < 0 ? 0 : n) + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s || n < 0) {
            free(s ? s : b->s);
            b->s = NULL;
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* A label value: backslash, quote and newline escaped as the exposition format requires. */
static void add_label(buf *b, const char *v)
{
    for (; *v; v++)
        add(b, "%s", *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : (char[]){*v, 0});
}

static void help(buf *b, const char *name, const char *type, const char *text)
{
    add(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

char *vmsecd_state_metrics(const vmsecd *d)
{
    buf b = {0};
    help(&b, "vmsecd_domains", "gauge", "Enforced running domains by status of their last verify.");
    for (size_t i = 0; i < d->nuris; i++) {
        unsigned long n[VMSECD_NSTATUS] = {0};
        for (const vmsecd_domain *e = d->uris[i].domains; e; e = e->next)
            n[e->status >= 0 && e->status < VMSECD_NSTATUS ? e->status : VMSECD_ERROR]++;
        for (int s = 0; s < VMSECD_NSTATUS; s++) {
            add(&b, "vmsecd_domains{uri=\"");
            add_label(&b, d->uris[i].uri);
            add(&b, "\",status=\"%s\"} %lu\n", status_names[s], n[s]);
        }
    }
    help(&b, "vmsecd_connected", "gauge", "1 while the libvirt connection is up.");
    for (size_t i = 0; i < d->nuris; i++) {
        add(&b, "vmsecd_connected{uri=\"");
        add_label(&b, d->uris[i].uri);
        add(&b, "\"} %d\n", d->uris[i].conn != NULL && !d->uris[i].close_pending);
    }
    help(&b, "vmsecd_reconnects_total", "counter", "Reconnections after a lost libvirt connection.");
    for (size_t i = 0; i < d->nuris; i++) {
        add(&b, "vmsecd_reconnects_total{uri=\"");
        add_label(&b, d->uris[i].uri);
        add(&b, "\"} %lu\n", d->uris[i].reconnects);
    }
    help(&b, "vmsecd_event_lag_seconds", "gauge", "Time from the last domain event to the end of its handling.");
    for (size_t i = 0; i < d->nuris; i++) {
        add(&b, "vmsecd_event_lag_seconds{uri=\"");
        add_label(&b, d->uris[i].uri);
        add(&b, "\"} %.6f\n", d->uris[i].event_lag);
    }
    help(&b, "vmsecd_drifts_total", "counter", "Drifted settings found.");
    add(&b, "vmsecd_drifts_total %lu\n", d->drifts);
    help(&b, "vmsecd_repairs_total", "counter", "Repairs (live re-applies) made.");
    add(&b, "vmsecd_repairs_total %lu\n", d->repairs);
    help(&b, "vmsecd_errors_total", "counter", "Failed reads, applies and verifies.");
    add(&b, "vmsecd_errors_total %lu\n", d->errors);
    help(&b, "vmsecd_verify_duration_seconds", "summary", "Time one verify of a domain takes.");
    add(&b, "vmsecd_verify_duration_seconds_sum %.6f\n", d->verify_seconds_sum);
    add(&b, "vmsecd_verify_duration_seconds_count %lu\n", d->verifies);
    help(&b, "vmsecd_last_verify_duration_seconds", "gauge", "Duration of the last verify.");
    add(&b, "vmsecd_last_verify_duration_seconds %.6f\n", d->verify_seconds);
    return b.s;
}
