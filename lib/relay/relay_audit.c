/* The relay's audit: records are built into a fixed buffer and written whole, one line per record,
 * to each sink (doc/RELAY.md, "Audit records"). */
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
#include "relay/relay_audit.h"
#include "relay/relay_core.h"
#include "vmsec/relay.h"

/* Appends text, always keeping room for the closing brace and newline vmsec__relay_jemit() adds. */
static void jraw(struct jbuf *j, const char *s)
{
    size_t l = strlen(s);
    if (j->n + l + 3 <= sizeof(j->s)) {
        memcpy(j->s + j->n, s, l + 1);
        j->n += l;
    }
}

void vmsec__relay_jstr(struct jbuf *j, const char *key, const char *val)
{
    char tmp[8];
    jraw(j, j->n > 1 ? ",\"" : "\"");
    jraw(j, key);
    jraw(j, "\":\"");
    for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            tmp[2] = '\0';
        } else if (*p < 0x20 || *p >= 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
        } else {
            tmp[0] = (char)*p;
            tmp[1] = '\0';
        }
        jraw(j, tmp);
    }
    jraw(j, "\"");
}

void vmsec__relay_jnum(struct jbuf *j, const char *key, uint64_t v)
{
    char tmp[32];
    jraw(j, j->n > 1 ? ",\"" : "\"");
    jraw(j, key);
    snprintf(tmp, sizeof(tmp), "\":%llu", (unsigned long long)v);
    jraw(j, tmp);
}

void vmsec__relay_jbegin(struct jbuf *j, const char *event)
{
    struct timespec ts;
    struct tm tm;
    char t[64];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(t + n, sizeof(t) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    j->n = 0;
    j->s[0] = '\0';
    jraw(j, "{");
    vmsec__relay_jstr(j, "time", t);
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

void vmsec__relay_jemit(vmsec_relay *r, struct jbuf *j)
{
    j->s[j->n++] = '}';
    j->s[j->n] = '\0';
    if (r->audit_cb)
        r->audit_cb(r->audit_user, j->s);
    if (r->audit_syslog)
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", j->s);
    j->s[j->n] = '\n'; /* jraw() kept room for it */
    if (r->audit_fd >= 0)
        write_line(r->audit_fd, j->s, j->n + 1);
    if (r->audit_file_fd >= 0)
        write_line(r->audit_file_fd, j->s, j->n + 1);
    j->s[j->n] = '\0';
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

void vmsec__relay_audit_event(vmsec_relay *r, const struct session *s, const char *event, const char *reason)
{
    struct jbuf j;
    vmsec__relay_jbegin(&j, event);
    vmsec__relay_jsession(&j, s);
    if (reason)
        vmsec__relay_jstr(&j, "reason", reason);
    vmsec__relay_jemit(r, &j);
}

void vmsec__relay_audit_decision(vmsec_relay *r, const struct session *s, bool allow, const char *rule)
{
    struct jbuf j;
    vmsec__relay_jbegin(&j, "decision");
    vmsec__relay_jsession(&j, s);
    vmsec__relay_jstr(&j, "decision", allow ? "allow" : "deny");
    vmsec__relay_jstr(&j, "rule", rule);
    vmsec__relay_jemit(r, &j);
}

/* --- sinks -------------------------------------------------------------------------------------- */

int vmsec_relay_set_audit_fd(vmsec_relay *r, int fd)
{
    if (!r || fd < -1)
        return vmsec__error(VMSEC_EINVAL, "relay: invalid audit descriptor");
    r->audit_fd = fd;
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
    return 0;
}
