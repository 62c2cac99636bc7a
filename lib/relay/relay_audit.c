/* SPDX-License-Identifier: ISC */
/* The relay's audit: records are built as jansson objects through the JSON module (which replaces
 * bytes that are not UTF-8, e.g. in a policy file's path, by U+FFFD) and written whole, one line
 * per record, to each sink (doc/RELAY.md, "Audit records"). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/json.h"
#include "relay/relay_audit.h"
#include "relay/relay_core.h"
#include "vmsec/relay.h"

/* A field that cannot be added (no memory) drops the record being built: vmsec__relay_jemit() then
 * writes the short record that says so in its place. */
static void jset(struct jbuf *j, const char *key, json_t *value)
{
    if (!j->o) {
        json_decref(value);
        return;
    }
    if (vmsec__json_set(j->o, key, value) < 0) {
        json_decref(j->o);
        j->o = NULL;
    }
}

void vmsec__relay_jstr(struct jbuf *j, const char *key, const char *val)
{
    jset(j, key, vmsec__json_str(val));
}

void vmsec__relay_jnum(struct jbuf *j, const char *key, uint64_t v)
{
    /* JSON integers are signed 64-bit in jansson; no counter of the relay gets near 2^63. */
    jset(j, key, json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v));
}

void vmsec__relay_jbegin(struct jbuf *j, const char *event)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(j->time, sizeof(j->time), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(j->time + n, sizeof(j->time) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    snprintf(j->event, sizeof(j->event), "%s", event);
    j->o = json_object();
    vmsec__relay_jstr(j, "time", j->time);
    vmsec__relay_jstr(j, "event", event);
}

static void write_line(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* auditing must never stall or kill the relay */
        s += w;
        n -= (size_t)w;
    }
}

/* The record as one line with room for a newline, or NULL when memory ran out. */
static char *record_line(struct jbuf *j)
{
    char *text = j->o ? vmsec__json_dump(j->o) : NULL, *line;

    json_decref(j->o);
    j->o = NULL;
    if (!text)
        return NULL;
    if (!(line = realloc(text, strlen(text) + 2)))
        free(text);
    return line;
}

void vmsec__relay_jemit(vmsec_relay *r, struct jbuf *j)
{
    /* time and event are the relay's own ASCII words, so the fallback needs no escaping. */
    char fallback[sizeof(j->time) + sizeof(j->event) + 64];
    char *line = record_line(j), *text = line;
    size_t n;

    if (!text) {
        snprintf(fallback, sizeof(fallback), "{\"time\":\"%s\",\"event\":\"%s\",\"audit_error\":\"out-of-memory\"}",
                 j->time, j->event);
        text = fallback;
    }
    n = strlen(text);
    if (r->audit_cb)
        r->audit_cb(r->audit_user, text);
    if (r->audit_syslog)
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", text);
    text[n] = '\n'; /* both buffers have room for it; one write() keeps the line whole */
    if (r->audit_fd >= 0)
        write_line(r->audit_fd, text, n + 1);
    if (r->audit_file_fd >= 0)
        write_line(r->audit_file_fd, text, n + 1);
    free(line);
}

void vmsec__relay_jsession(struct jbuf *j, const struct session *s)
{
    vmsec__relay_jnum(j, "session", s->id);
    vmsec__relay_jstr(j, "source", s->domain);
    vmsec__relay_jnum(j, "source_cid", s->cid);
    if (s->target[0]) {
        vmsec__relay_jstr(j, "target", s->target);
        vmsec__relay_jstr(j, "service", s->service);
    }
}

void vmsec__relay_juuids(struct jbuf *j, const struct session *s)
{
    if (s->have_sid)
        vmsec__relay_jstr(j, "source_uuid", s->sid.uuid);
    if (s->have_tid)
        vmsec__relay_jstr(j, "target_uuid", s->tid.uuid);
}

/* --- refusal rate limit -------------------------------------------------------------------------
 * One flooding caller must not be able to fill the audit log (or disk) with refusals: per source
 * (domain and CID), at most RELAY_AUDIT_REFUSALS refusal records are written per interval; the
 * rest are counted and reported in one "refusals-suppressed" record when the interval ends or
 * before the next record about that source. Only refusals (denied decisions and "refused" events)
 * are limited; allow decisions and every other event are always written. The table is fixed, so
 * memory stays bounded under any number of sources; an evicted source's count is written first,
 * so the counts always add up. */

static void write_suppressed(vmsec_relay *r, struct audit_source *a)
{
    if (!a->suppressed)
        return;
    struct jbuf j;
    vmsec__relay_jbegin(&j, "refusals-suppressed");
    vmsec__relay_jstr(&j, "source", a->domain);
    vmsec__relay_jnum(&j, "source_cid", a->cid);
    vmsec__relay_jnum(&j, "count", a->suppressed);
    vmsec__relay_jnum(&j, "interval_s", RELAY_AUDIT_INTERVAL_MS / 1000);
    a->suppressed = 0;
    vmsec__relay_jemit(r, &j);
}

static struct audit_source *source_find(vmsec_relay *r, const struct session *s, bool create)
{
    struct audit_source *lru = &r->audit_src[0];
    for (size_t i = 0; i < RELAY_AUDIT_SOURCES; i++) {
        struct audit_source *a = &r->audit_src[i];
        if (a->used && a->cid == s->cid && strcmp(a->domain, s->domain) == 0)
            return a;
        if (lru->used && (!a->used || a->last < lru->last))
            lru = a;
    }
    if (!create)
        return NULL;
    write_suppressed(r, lru);
    *lru = (struct audit_source){.used = true, .cid = s->cid};
    snprintf(lru->domain, sizeof(lru->domain), "%s", s->domain);
    return lru;
}

void vmsec__relay_audit_flush(vmsec_relay *r, bool all)
{
    int64_t now = vmsec__relay_now_ms();
    for (size_t i = 0; i < RELAY_AUDIT_SOURCES; i++) {
        struct audit_source *a = &r->audit_src[i];
        if (!a->used)
            continue;
        if (all || now - a->start >= RELAY_AUDIT_INTERVAL_MS)
            write_suppressed(r, a);
        else if (a->suppressed)
            vmsec__relay_schedule(r, a->start + RELAY_AUDIT_INTERVAL_MS);
    }
}

/* Whether a refusal record about this session may be written now. */
static bool refusal_allowed(vmsec_relay *r, const struct session *s)
{
    int64_t now = vmsec__relay_now_ms();
    struct audit_source *a = source_find(r, s, true);
    a->last = now;
    if (now - a->start >= RELAY_AUDIT_INTERVAL_MS) {
        write_suppressed(r, a);
        a->start = now;
        a->logged = 0;
    }
    if (a->logged < RELAY_AUDIT_REFUSALS) {
        a->logged++;
        return true;
    }
    if (a->suppressed++ == 0)
        vmsec__relay_schedule(r, a->start + RELAY_AUDIT_INTERVAL_MS);
    return false;
}

/* Whether a record about this session may be written now: a refusal while its source is within
 * the limit; any other record always, after the source's pending count (so the log stays in
 * order). */
static bool record_allowed(vmsec_relay *r, const struct session *s, bool refusal)
{
    struct audit_source *a;
    if (refusal)
        return refusal_allowed(r, s);
    if ((a = source_find(r, s, false)))
        write_suppressed(r, a);
    return true;
}

void vmsec__relay_audit_load(vmsec_relay *r, const char *event, const char *path, int rc, const char *count_key,
                             uint64_t count, const char *effect, char *msg, size_t msg_cap)
{
    struct jbuf j;
    vmsec__relay_jbegin(&j, event);
    vmsec__relay_jstr(&j, "file", path);
    if (rc < 0) {
        snprintf(msg, msg_cap, "%s", vmsec_error_last());
        vmsec__relay_jstr(&j, "status", "invalid");
        vmsec__relay_jstr(&j, "error", msg);
        vmsec__relay_jstr(&j, "effect", effect);
    } else {
        vmsec__relay_jstr(&j, "status", "loaded");
        vmsec__relay_jnum(&j, count_key, count);
    }
    /* called outside the loop thread too: each sink gets the line in one write(), which keeps
     * lines whole without synchronising with a running loop */
    vmsec__relay_jemit(r, &j);
}

void vmsec__relay_audit_event(vmsec_relay *r, const struct session *s, const char *event, const char *reason)
{
    if (!record_allowed(r, s, strcmp(event, "refused") == 0))
        return;
    struct jbuf j;
    vmsec__relay_jbegin(&j, event);
    vmsec__relay_jsession(&j, s);
    if (reason)
        vmsec__relay_jstr(&j, "reason", reason);
    vmsec__relay_juuids(&j, s);
    vmsec__relay_jemit(r, &j);
}

void vmsec__relay_audit_decision(vmsec_relay *r, const struct session *s, bool allow, const char *rule)
{
    if (!record_allowed(r, s, !allow))
        return;
    struct jbuf j;
    vmsec__relay_jbegin(&j, "decision");
    vmsec__relay_jsession(&j, s);
    vmsec__relay_jstr(&j, "decision", allow ? "allow" : "deny");
    vmsec__relay_jstr(&j, "rule", rule);
    vmsec__relay_juuids(&j, s);
    vmsec__relay_jemit(r, &j);
}

/* --- sinks -------------------------------------------------------------------------------------- */

int vmsec_relay_set_audit_fd(vmsec_relay *r, int fd)
{
    if (!r || fd < -1)
        return vmsec__error(VMSEC_EINVAL, "relay: invalid audit descriptor");
    r->audit_fd = fd;
    r->audit_fd_chosen = true;
    return 0;
}

int vmsec_relay_set_audit_file(vmsec_relay *r, const char *path)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    int fd = -1;
    char *copy = NULL;
    if (path) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
            return vmsec__error_errno(VMSEC_EIO, errno, "relay: cannot open audit file %s", path);
        if (!(copy = strdup(path))) {
            close(fd);
            return vmsec__error(VMSEC_ENOMEM, "relay: out of memory");
        }
    }
    if (r->audit_file_fd >= 0)
        close(r->audit_file_fd);
    free(r->audit_path);
    r->audit_file_fd = fd;
    r->audit_path = copy;
    return 0;
}

int vmsec_relay_set_audit_syslog(vmsec_relay *r, int enable)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    r->audit_syslog = enable != 0;
    return 0;
}

int vmsec_relay_set_audit_callback(vmsec_relay *r, vmsec_relay_audit_fn fn, void *user)
{
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    r->audit_cb = fn;
    r->audit_user = user;
    /* an embedding that takes the records itself does not also want them on its stderr */
    if (fn && !r->audit_fd_chosen)
        r->audit_fd = -1;
    return 0;
}
