/* SPDX-License-Identifier: ISC */
/* The audit trail: one JSON line per record, through the project's JSON module (every string made
 * valid UTF-8), flushed at once so a reader following the file sees each record as it happens. */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "common/cli.h"
#include "common/json.h"
#include "vmsecd.h"

extern cli vmsecd_cli;

double vmsecd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double vmsecd_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int vmsecd_audit_open(vmsecd *d)
{
    if (!d->opt.audit) {
        d->audit = stderr;
        return 0;
    }
    FILE *f = fopen(d->opt.audit, "ae");
    if (!f)
        return cli_error(&vmsecd_cli, VMSEC_EIO, "cannot open the audit file %s: %m", d->opt.audit);
    if (d->audit && d->audit != stderr)
        fclose(d->audit);
    d->audit = f;
    return 0;
}

void vmsecd_time_text(double t, char *buf, size_t size)
{
    time_t sec = (time_t)t;
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)((t - (double)sec) * 1000) % 1000);
}

/* A record: time, event, the URI and host when given, the domain when given, then the pairs. */
void vmsecd_audit(vmsecd *d, const char *event, const vmsecd_uri *u, const vmsecd_domain *dom, ...)
{
    char when[40];
    json_t *o = json_object();
    va_list ap;

    if (!o)
        return;
    vmsecd_time_text(vmsecd_now(), when, sizeof(when));
    vmsec__json_set(o, "time", vmsec__json_str(when));
    vmsec__json_set(o, "event", vmsec__json_str(event));
    if (u) {
        vmsec__json_set(o, "uri", vmsec__json_str(u->uri));
        if (u->host[0])
            vmsec__json_set(o, "host", vmsec__json_str(u->host));
    }
    if (dom) {
        vmsec__json_set(o, "domain", vmsec__json_str(dom->name));
        vmsec__json_set(o, "uuid", vmsec__json_str(dom->uuid));
        if (dom->profile[0])
            vmsec__json_set(o, "profile", vmsec__json_str(dom->profile));
    }
    va_start(ap, dom);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        if (v)
            vmsec__json_set(o, k, vmsec__json_str(v));
    }
    va_end(ap);
    if (d->audit && vmsec__json_dumpf(o, d->audit) == 0) {
        fputc('\n', d->audit);
        fflush(d->audit);
    }
    json_decref(o);
}
