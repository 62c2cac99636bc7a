/* SPDX-License-Identifier: ISC */
/* The libvirt QEMU hook, installed as $sysconfdir/libvirt/hooks/qemu.d/vmsec:
 *
 *   vmsec DOMAIN OPERATION SUB-OPERATION EXTRA   (the domain XML on standard input)
 *
 * On an incoming migration (`migrate begin`) and a restore (`restore begin`) libvirt takes what
 * the hook prints as the domain XML: the hook asks vmsecd, over its control socket, to re-plan
 * the domain's CPU pins for this host (daemon/replan.c) and prints the XML it gets back. It never
 * calls libvirt: libvirtd waits for the hook, so a call back could deadlock. When vmsecd cannot
 * be reached, fails, or the domain has no vmsec profile, the XML is passed through byte for byte
 * and the reason goes to standard error (libvirt's log) -- unless `on-failure = refuse` is
 * configured, in which case a failure exits 1 and libvirt aborts the operation. Every other
 * operation exits 0 at once with no output. See vmsec-hook(8). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <vmsec.h>

#ifndef VMSEC_HOOK_CONFIG
#define VMSEC_HOOK_CONFIG "/etc/vmsec/hook.conf"
#endif
#define DEFAULT_CONTROL "/run/vmsecd.sock"
#define XML_MAX (16u << 20)

typedef struct config {
    char control[108];
    char uri[1024];
    bool refuse;
    int timeout_ms;
} config;

static const char *domain = "?", *operation = "?";

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vmsec hook: %s %s: ", domain, operation);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The whole of standard input (libvirt writes the XML and closes); NULL past XML_MAX. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 65536;
    char *s = malloc(cap);
    *len = 0;
    for (ssize_t n; s;) {
        if (cap - *len < 2) {
            char *grown = cap * 2 > XML_MAX ? NULL : realloc(s, cap * 2);
            if (!grown) {
                free(s);
                return NULL;
            }
            s = grown;
            cap *= 2;
        }
        n = read(fd, s + *len, cap - *len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(s);
            return NULL;
        }
        if (n == 0)
            break;
        *len += (size_t)n;
    }
    if (s)
        s[*len] = '\0';
    return s;
}

static bool write_all(const char *s, size_t len)
{
    while (len) {
        ssize_t n = write(STDOUT_FILENO, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        s += n;
        len -= (size_t)n;
    }
    return true;
}

/* "key = value" lines, '#' comments. Returns false (said why) on a line it does not understand. */
static bool config_line(config *c, char *line, const char *path, int lineno)
{
    char *key = line + strspn(line, " \t"), *eq = strchr(key, '='), *v, *end;
    if (*key == '#' || *key == '\0' || *key == '\n')
        return true;
    if (!eq)
        goto bad;
    for (end = eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); end--)
        ;
    *end = '\0';
    v = eq + 1 + strspn(eq + 1, " \t");
    v[strcspn(v, "\r\n")] = '\0';
    for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
        *--end = '\0';
    if (strcmp(key, "control") == 0 && strlen(v) < sizeof(c->control) && *v)
        snprintf(c->control, sizeof(c->control), "%s", v);
    else if (strcmp(key, "uri") == 0 && strlen(v) < sizeof(c->uri))
        snprintf(c->uri, sizeof(c->uri), "%s", v);
    else if (strcmp(key, "on-failure") == 0 && (strcmp(v, "pass") == 0 || strcmp(v, "refuse") == 0))
        c->refuse = strcmp(v, "refuse") == 0;
    else if (strcmp(key, "timeout") == 0 && atoi(v) > 0 && atoi(v) <= 600)
        c->timeout_ms = atoi(v) * 1000;
    else
        goto bad;
    return true;
bad:
    say("%s:%d: cannot understand this line (keys: control, uri, on-failure = pass|refuse, timeout)", path, lineno);
    return false;
}

/* Defaults, the file (absent is fine), then the environment. False on a bad file or value. */
static bool load_config(config *c)
{
    const char *path = getenv("VMSEC_HOOK_CONFIG"), *e;
    char line[2048];
    bool ok = true;
    int n = 0;
    snprintf(c->control, sizeof(c->control), "%s", DEFAULT_CONTROL);
    c->uri[0] = '\0';
    c->refuse = false;
    c->timeout_ms = 10000;
    if (!path || !*path)
        path = VMSEC_HOOK_CONFIG;
    FILE *f = fopen(path, "re");
    if (!f && errno != ENOENT) {
        say("cannot read %s: %s", path, strerror(errno));
        ok = false;
    }
    while (f && fgets(line, sizeof(line), f))
        ok &= config_line(c, line, path, ++n);
    if (f)
        fclose(f);
    if ((e = getenv("VMSEC_HOOK_CONTROL")) && *e)
        snprintf(c->control, sizeof(c->control), "%s", e);
    if ((e = getenv("VMSEC_HOOK_ON_FAILURE")) && *e) {
        if (strcmp(e, "pass") != 0 && strcmp(e, "refuse") != 0) {
            say("VMSEC_HOOK_ON_FAILURE must be pass or refuse, not '%s'", e);
            ok = false;
        }
        c->refuse = strcmp(e, "refuse") == 0;
    }
    return ok;
}

static int remaining(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : (int)ms;
}

/* Sends the request and reads the reply document; NULL (said why) on failure. */
static json_t *ask(const config *c, const char *request)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timespec deadline;
    size_t len = strlen(request), off = 0, cap = 65536, got = 0;
    char *buf = NULL;
    json_t *reply = NULL;
    json_error_t err;
    int fd;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += c->timeout_ms / 1000;
    memcpy(sa.sun_path, c->control, strlen(c->control));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        say("vmsecd is unreachable at %s: %s", c->control, strerror(errno));
        goto out;
    }
    while (off < len) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        ssize_t n = poll(&p, 1, remaining(&deadline)) == 1 ? send(fd, request + off, len - off, MSG_NOSIGNAL) : -2;
        if (n == -1 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            say("cannot send the request to vmsecd at %s: %s", c->control, n == -2 ? "timed out" : strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (got + 1 >= cap || !buf) {
            char *grown = got + 1 >= XML_MAX * 2 ? NULL : realloc(buf, buf ? cap *= 2 : cap);
            if (!grown) {
                say("vmsecd's reply is too long");
                goto out;
            }
            buf = grown;
        }
        ssize_t n = poll(&p, 1, remaining(&deadline)) == 1 ? read(fd, buf + got, cap - got - 1) : -2;
        if (n == -1 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            say("no reply from vmsecd at %s: %s", c->control, n == -2 ? "timed out" : strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (!(reply = json_loadb(buf, got, 0, &err)) || !json_is_object(reply)) {
        say("vmsecd at %s sent no JSON object: %s", c->control, reply ? "not an object" : err.text);
        json_decref(reply);
        reply = NULL;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return reply;
}

/* The XML vmsecd re-planned, or NULL (said why) to keep the input. *failed tells a failure from
 * an answer that nothing needs to change. */
static char *replan(const config *c, const char *xml, size_t len, bool *failed)
{
    json_t *req = json_object(), *reply = NULL;
    char *text = NULL, *out = NULL;
    *failed = true;
    if (!req || json_object_set_new(req, "op", json_string("replan")) < 0 ||
        json_object_set_new(req, "xml", json_stringn(xml, len)) < 0 ||
        (c->uri[0] && json_object_set_new(req, "uri", json_string(c->uri)) < 0) ||
        !(text = json_dumps(req, JSON_COMPACT))) {
        say("cannot write the request (is the XML valid UTF-8?)");
        goto out;
    }
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line)
        goto out;
    text = line;
    memcpy(text + n, "\n", 2);
    if (!(reply = ask(c, text)))
        goto out;
    const char *newxml = json_string_value(json_object_get(reply, "xml"));
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *why = json_string_value(json_object_get(reply, "error"));
        say("vmsecd cannot re-plan the domain: %s", why ? why : "(no reason given)");
    } else if (!json_is_true(json_object_get(reply, "changed")) || !newxml) {
        const char *why = json_string_value(json_object_get(reply, "reason"));
        say("the XML is passed through unchanged: %s", why ? why : "vmsecd changed nothing");
        *failed = false;
    } else if ((out = strdup(newxml))) {
        const char *pins = json_string_value(json_object_get(reply, "pins"));
        say("vmsecd re-planned the domain's CPUs: %s", pins ? pins : "?");
        *failed = false;
    }
out:
    json_decref(req);
    json_decref(reply);
    free(text);
    return out;
}

static int usage(void)
{
    fprintf(stderr, "usage: vmsec DOMAIN OPERATION SUB-OPERATION EXTRA  (a libvirt qemu hook; see vmsec-hook(8))\n");
    return 2;
}

int main(int argc, char **argv)
{
    config c;
    size_t len = 0;
    bool failed = false;
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("vmsec hook %s\n", vmsec_version_string());
        return 0;
    }
    if (argc < 3)
        return usage();
    domain = argv[1];
    operation = argv[2];
    bool filter = strcmp(operation, "migrate") == 0 || strcmp(operation, "restore") == 0;
    char *xml = read_all(STDIN_FILENO, &len); /* read even when unused: libvirt is writing it */
    if (!filter) {
        free(xml);
        return 0;
    }
    if (!xml) {
        say("cannot read the domain XML from standard input");
        return 1; /* nothing to pass through: libvirt would take empty output as "unchanged" */
    }
    char *out = NULL;
    if (!load_config(&c)) {
        failed = c.refuse = true; /* the administrator's intent is unknown: the safe side */
    } else if (!strstr(xml, "\"" VMSEC_METADATA_URI "\"") && !strstr(xml, "'" VMSEC_METADATA_URI "'")) {
        say("the XML is passed through unchanged: the domain has no vmsec profile");
    } else {
        out = replan(&c, xml, len, &failed);
    }
    if (failed && c.refuse) {
        say("refusing the %s (on-failure = refuse)", operation);
        free(xml);
        return 1;
    }
    if (failed)
        say("the XML is passed through unchanged (on-failure = pass)");
    bool ok = out ? write_all(out, strlen(out)) : write_all(xml, len);
    free(out);
    free(xml);
    return ok ? 0 : 1;
}
