/* SPDX-License-Identifier: ISC */
/* Relay policy: parsing (line by line, fail closed with FILE:LINE: reason) and first-match
 * evaluation. Format: doc/policy-format.md. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileperm.h"
#include "common/internal.h"
#include "relay/policy_internal.h"
#include "vmsec/policy.h"

#define POLICY_FILE_MAX (16u << 20)
#define POLICY_MAX_RULES 100000u
#define POLICY_MAX_GROUPS 10000u
#define POLICY_MAX_MEMBERS 4096u
#define POLICY_MAX_SERVICES 10000u
#define POLICY_MAX_TOKENS 8u /* more than any valid line needs; longer lines are errors */

enum sel_kind { SEL_ANY, SEL_NAME, SEL_GLOB, SEL_GROUP, SEL_TAG };

struct selector {
    enum sel_kind kind;
    char *text;   /* name, pattern, tag or group name */
    size_t group; /* index into groups, SEL_GROUP only (resolved after parsing) */
};

struct group {
    char *name;
    unsigned int line;
    size_t n;
    struct selector *members;
};

struct rule {
    bool allow;
    char *service; /* "*", a name or a glob */
    struct selector src, dst;
    unsigned int line;
};

struct service {
    char *name;
    uint32_t port;
};

struct vmsec_policy {
    char *name;
    struct rule *rules;
    size_t nrules, caprules;
    struct group *groups;
    size_t ngroups, capgroups;
    struct service *services;
    size_t nservices, capservices;
};

size_t vmsec_policy_name_max(void) { return VMSEC_POLICY_NAME_MAX; }
size_t vmsec_policy_service_max(void) { return VMSEC_POLICY_SERVICE_MAX; }
size_t vmsec_policy_line_max(void) { return VMSEC_POLICY_LINE_MAX; }

bool vmsec__policy_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == ':';
}

bool vmsec__policy_valid_name(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || !vmsec__policy_name_char((unsigned char)s[n]))
            return false;
    return n > 0;
}

bool vmsec__policy_valid_remote(const char *s, size_t max)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || strlen(s) > max)
        return false;
    char host[VMSEC_POLICY_NAME_MAX + 1];
    size_t hl = (size_t)(slash - s);
    memcpy(host, s, hl);
    host[hl] = '\0';
    return vmsec__policy_valid_name(host, max) && vmsec__policy_valid_name(slash + 1, max);
}

bool vmsec__policy_valid_target(const char *s, size_t max)
{
    return vmsec__policy_valid_name(s, max) || vmsec__policy_valid_remote(s, max);
}

bool vmsec__policy_host_name(const char *name)
{
    return strncmp(name, "host", 4) == 0 && (name[4] == '\0' || name[4] == ':');
}

/* Wildcard match with '*' and '?' in O(len(p) * len(s)) worst case: on a mismatch only the most
 * recent '*' is retried, so hostile patterns like "*a*a*a*...b" cannot explode. */
bool vmsec__policy_glob(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static void selector_clear(struct selector *sel)
{
    free(sel->text);
    sel->text = NULL;
}

void vmsec_policy_free(vmsec_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++) {
        free(p->rules[i].service);
        selector_clear(&p->rules[i].src);
        selector_clear(&p->rules[i].dst);
    }
    for (size_t i = 0; i < p->ngroups; i++) {
        for (size_t j = 0; j < p->groups[i].n; j++)
            selector_clear(&p->groups[i].members[j]);
        free(p->groups[i].members);
        free(p->groups[i].name);
    }
    for (size_t i = 0; i < p->nservices; i++)
        free(p->services[i].name);
    free(p->rules);
    free(p->groups);
    free(p->services);
    free(p->name);
    free(p);
}

/* Grows an array by doubling; returns false when out of memory. */
static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 16;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return false;
    *arr = na;
    *cap = nc;
    return true;
}

struct parser {
    vmsec_policy *p;
    unsigned int line;
};

#define PERR(ps, code, ...) policy_error((ps), (code), __VA_ARGS__)

static int policy_error(struct parser *ps, int code, const char *fmt, ...) VMSEC_PRINTF(3, 4);
static int policy_error(struct parser *ps, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vmsec__error(code, "%s:%u: %s", ps->p->name, ps->line, msg);
}

static bool valid_pattern(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || !(vmsec__policy_name_char((unsigned char)s[n]) || s[n] == '*' || s[n] == '?'))
            return false;
    return n > 0;
}

/* HOST/DOMAIN or HOST/PATTERN: the host part is spelled out, so a remote selector names one peer. */
static bool valid_remote_pattern(const char *s, size_t max)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || strlen(s) > max)
        return false;
    for (const char *c = s; c < slash; c++)
        if (!vmsec__policy_name_char((unsigned char)*c))
            return false;
    return valid_pattern(slash + 1, max);
}

/* Parses a source/target/member token. Groups are looked up later (forward references allowed). */
static int parse_selector(struct parser *ps, const char *tok, struct selector *out, bool allow_group,
                          const char *what)
{
    memset(out, 0, sizeof(*out));
    const char *text = tok;
    if (strcmp(tok, "*") == 0) {
        out->kind = SEL_ANY;
    } else if (tok[0] == '@') {
        if (!allow_group)
            return PERR(ps, VMSEC_EFORMAT, "%s '%.64s': groups cannot contain groups", what, tok);
        text = tok + 1;
        if (!vmsec__policy_valid_name(text, VMSEC_POLICY_NAME_MAX))
            return PERR(ps, VMSEC_EFORMAT, "invalid group name in %s '%.64s'", what, tok);
        out->kind = SEL_GROUP;
    } else if (strncmp(tok, "tag:", 4) == 0) {
        text = tok + 4;
        if (!vmsec__policy_valid_name(text, VMSEC_POLICY_NAME_MAX))
            return PERR(ps, VMSEC_EFORMAT, "invalid tag in %s '%.64s'", what, tok);
        out->kind = SEL_TAG;
    } else if (vmsec__policy_valid_target(tok, VMSEC_POLICY_NAME_MAX)) {
        out->kind = SEL_NAME;
    } else if (valid_pattern(tok, VMSEC_POLICY_NAME_MAX) || valid_remote_pattern(tok, VMSEC_POLICY_NAME_MAX)) {
        out->kind = SEL_GLOB;
    } else {
        return PERR(ps, VMSEC_EFORMAT,
                    "invalid %s '%.64s' (expected a domain name, a wildcard, HOST/DOMAIN, HOST/*, @group or tag:NAME)", what, tok);
    }
    if (out->kind != SEL_ANY && !(out->text = strdup(text)))
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    return 0;
}

static int parse_rule(struct parser *ps, char **tok, size_t ntok)
{
    vmsec_policy *p = ps->p;
    if (ntok != 6 || strcmp(tok[2], "from") != 0 || strcmp(tok[4], "to") != 0)
        return PERR(ps, VMSEC_EFORMAT, "expected '%s SERVICE from SOURCE to TARGET'", tok[0]);
    if (strcmp(tok[1], "*") != 0 && !valid_pattern(tok[1], VMSEC_POLICY_SERVICE_MAX))
        return PERR(ps, VMSEC_EFORMAT, "invalid service '%.64s'", tok[1]);
    if (p->nrules >= POLICY_MAX_RULES)
        return PERR(ps, VMSEC_ETOOBIG, "more than %u rules", POLICY_MAX_RULES);
    if (!grow((void **)&p->rules, &p->caprules, p->nrules, sizeof(*p->rules)))
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    struct rule *r = &p->rules[p->nrules];
    memset(r, 0, sizeof(*r));
    int rc;
    if ((rc = parse_selector(ps, tok[3], &r->src, true, "source")) < 0)
        return rc;
    if ((rc = parse_selector(ps, tok[5], &r->dst, true, "target")) < 0) {
        selector_clear(&r->src);
        return rc;
    }
    if (!(r->service = strdup(tok[1]))) {
        selector_clear(&r->src);
        selector_clear(&r->dst);
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    }
    r->allow = strcmp(tok[0], "allow") == 0;
    r->line = ps->line;
    p->nrules++;
    return 0;
}

static int parse_group(struct parser *ps, char **tok, size_t ntok, const char *rest)
{
    vmsec_policy *p = ps->p;
    if (ntok < 3 || strcmp(tok[2], "=") != 0)
        return PERR(ps, VMSEC_EFORMAT, "expected 'group NAME = MEMBER...'");
    if (!vmsec__policy_valid_name(tok[1], VMSEC_POLICY_NAME_MAX))
        return PERR(ps, VMSEC_EFORMAT, "invalid group name '%.64s'", tok[1]);
    for (size_t i = 0; i < p->ngroups; i++)
        if (strcmp(p->groups[i].name, tok[1]) == 0)
            return PERR(ps, VMSEC_EFORMAT, "group '%s' already defined at line %u", tok[1], p->groups[i].line);
    if (p->ngroups >= POLICY_MAX_GROUPS)
        return PERR(ps, VMSEC_ETOOBIG, "more than %u groups", POLICY_MAX_GROUPS);
    if (!grow((void **)&p->groups, &p->capgroups, p->ngroups, sizeof(*p->groups)))
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    struct group *g = &p->groups[p->ngroups];
    memset(g, 0, sizeof(*g));
    if (!(g->name = strdup(tok[1])))
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    g->line = ps->line;
    p->ngroups++; /* owned by the policy from here on, so error paths free it */

    /* Members come from the raw rest of the line: a group may list more than POLICY_MAX_TOKENS. */
    char tokbuf[VMSEC_POLICY_LINE_MAX + 1];
    const char *s = rest;
    size_t cap = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            break;
        size_t n = strcspn(s, " \t");
        memcpy(tokbuf, s, n);
        tokbuf[n] = '\0';
        s += n;
        if (g->n >= POLICY_MAX_MEMBERS)
            return PERR(ps, VMSEC_ETOOBIG, "group '%s' has more than %u members", g->name, POLICY_MAX_MEMBERS);
        if (!grow((void **)&g->members, &cap, g->n, sizeof(*g->members)))
            return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
        int rc = parse_selector(ps, tokbuf, &g->members[g->n], false, "group member");
        if (rc < 0)
            return rc;
        g->n++;
    }
    if (g->n == 0)
        return PERR(ps, VMSEC_EFORMAT, "group '%s' has no members", g->name);
    return 0;
}

static int parse_service(struct parser *ps, char **tok, size_t ntok)
{
    vmsec_policy *p = ps->p;
    if (ntok != 4 || strcmp(tok[2], "port") != 0)
        return PERR(ps, VMSEC_EFORMAT, "expected 'service NAME port NUMBER'");
    if (!vmsec__policy_valid_name(tok[1], VMSEC_POLICY_SERVICE_MAX))
        return PERR(ps, VMSEC_EFORMAT, "invalid service name '%.64s'", tok[1]);
    char *end;
    errno = 0;
    unsigned long long port = strtoull(tok[3], &end, 10);
    /* 0xFFFFFFFF is VMADDR_PORT_ANY and not a port one can connect to. */
    if (tok[3][0] < '0' || tok[3][0] > '9' || *end || errno || port == 0 || port >= 0xFFFFFFFFull)
        return PERR(ps, VMSEC_EFORMAT, "invalid port '%.32s' (expected 1..4294967294)", tok[3]);
    for (size_t i = 0; i < p->nservices; i++)
        if (strcmp(p->services[i].name, tok[1]) == 0)
            return PERR(ps, VMSEC_EFORMAT, "service '%s' already defined", tok[1]);
    if (p->nservices >= POLICY_MAX_SERVICES)
        return PERR(ps, VMSEC_ETOOBIG, "more than %u services", POLICY_MAX_SERVICES);
    if (!grow((void **)&p->services, &p->capservices, p->nservices, sizeof(*p->services)))
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    if (!(p->services[p->nservices].name = strdup(tok[1])))
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    p->services[p->nservices++].port = (uint32_t)port;
    return 0;
}

static int parse_line(struct parser *ps, char *line)
{
    char *tok[POLICY_MAX_TOKENS];
    size_t ntok = 0;
    const char *rest = NULL;
    char *s = line;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            break;
        if (ntok == 3 && strcmp(tok[0], "group") == 0) {
            rest = s;
            break;
        }
        if (ntok == POLICY_MAX_TOKENS)
            return PERR(ps, VMSEC_EFORMAT, "too many words on the line");
        tok[ntok++] = s;
        s += strcspn(s, " \t");
        if (*s)
            *s++ = '\0';
    }
    if (ntok == 0)
        return 0;
    if (strcmp(tok[0], "allow") == 0 || strcmp(tok[0], "deny") == 0)
        return parse_rule(ps, tok, ntok);
    if (strcmp(tok[0], "group") == 0)
        return parse_group(ps, tok, ntok, rest ? rest : "");
    if (strcmp(tok[0], "service") == 0)
        return parse_service(ps, tok, ntok);
    return PERR(ps, VMSEC_EFORMAT, "unknown keyword '%.32s' (expected allow, deny, group or service)", tok[0]);
}

static int resolve_selector(struct parser *ps, struct selector *sel, unsigned int line)
{
    if (sel->kind != SEL_GROUP)
        return 0;
    for (size_t i = 0; i < ps->p->ngroups; i++)
        if (strcmp(ps->p->groups[i].name, sel->text) == 0) {
            sel->group = i;
            return 0;
        }
    ps->line = line;
    return PERR(ps, VMSEC_EFORMAT, "undefined group '@%s'", sel->text);
}

int vmsec_policy_load_string(vmsec_policy **out, const char *text, size_t len, const char *name)
{
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "policy: NULL output");
    *out = NULL;
    if (!text && len)
        return vmsec__error(VMSEC_EINVAL, "policy: NULL text");
    if (len > POLICY_FILE_MAX)
        return vmsec__error(VMSEC_ETOOBIG, "%s: larger than %u bytes", name ? name : "policy", POLICY_FILE_MAX);
    vmsec_policy *p = calloc(1, sizeof(*p));
    if (!p || !(p->name = strdup(name ? name : "policy"))) {
        free(p);
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    }
    struct parser ps = {.p = p, .line = 0};
    char buf[VMSEC_POLICY_LINE_MAX + 1];
    size_t pos = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        ps.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (n && text[pos + n - 1] == '\r')
            n--;
        if (n > VMSEC_POLICY_LINE_MAX)
            rc = PERR(&ps, VMSEC_ETOOBIG, "line longer than %u bytes", VMSEC_POLICY_LINE_MAX);
        else if (memchr(text + pos, '\0', n))
            rc = PERR(&ps, VMSEC_EFORMAT, "NUL byte in line");
        else {
            memcpy(buf, text + pos, n);
            buf[n] = '\0';
            for (size_t i = 0; i < n && rc == 0; i++)
                if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t')
                    rc = PERR(&ps, VMSEC_EFORMAT, "control character 0x%02x in line", (unsigned char)buf[i]);
            if (rc == 0)
                rc = parse_line(&ps, buf);
        }
        pos += (nl ? (size_t)(nl - (text + pos)) + 1 : len - pos);
    }
    for (size_t i = 0; i < p->nrules && rc == 0; i++) {
        rc = resolve_selector(&ps, &p->rules[i].src, p->rules[i].line);
        if (rc == 0)
            rc = resolve_selector(&ps, &p->rules[i].dst, p->rules[i].line);
    }
    if (rc < 0) {
        vmsec_policy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* A file edited in place can be read while half-written (a SIGHUP during the editor's save, say),
 * and a prefix cut at a line boundary may still parse, with rules missing or a name cut short
 * ("to vm12" read as "to vm1"). Every line of a policy file must therefore end in a newline: a
 * last line without one is taken for a truncated file and the whole file is refused. Writing the
 * new file beside the old one and rename()ing it over makes the switch atomic
 * (doc/policy-format.md). */
static int check_complete(const char *buf, size_t len, const char *path)
{
    if (len == 0 || buf[len - 1] == '\n')
        return 0;
    unsigned int line = 1;
    for (size_t i = 0; i < len; i++)
        line += buf[i] == '\n';
    return vmsec__error(VMSEC_EFORMAT,
                        "%s:%u: last line has no terminating newline (truncated or still being written?); "
                        "write the new file beside it and rename() it over",
                        path, line);
}

int vmsec_policy_load_file(vmsec_policy **out, const char *path)
{
    if (!out || !path)
        return vmsec__error(VMSEC_EINVAL, "policy: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return vmsec__error_errno(errno == ENOENT ? VMSEC_ENOTFOUND : vmsec__errno_code(errno), errno,
                                  "policy %s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vmsec__error(VMSEC_EIO, "policy %s: not a regular file", path);
    }
    /* the policy decides who reaches whom: refuse one another user could have written */
    int prc = vmsec__file_check_trusted(&st, path, "policy");
    if (prc < 0) {
        close(fd);
        return prc;
    }
    if ((unsigned long long)st.st_size > POLICY_FILE_MAX) {
        close(fd);
        return vmsec__error(VMSEC_ETOOBIG, "policy %s: larger than %u bytes", path, POLICY_FILE_MAX);
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return vmsec__error(VMSEC_ENOMEM, "policy: out of memory");
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return vmsec__error_errno(VMSEC_EIO, e, "policy %s: read failed", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) { /* the file grew while we read it */
            free(buf);
            close(fd);
            return vmsec__error(VMSEC_EIO, "policy %s: file changed while being read", path);
        }
    }
    close(fd);
    int rc = check_complete(buf, len, path);
    if (rc == 0)
        rc = vmsec_policy_load_string(out, buf, len, path);
    free(buf);
    return rc;
}

static bool has_tag(const char *const *tags, const char *tag)
{
    for (; tags && *tags; tags++)
        if (strcmp(*tags, tag) == 0)
            return true;
    return false;
}

/* A name of the host side is matched only by a selector that spells "host" out: its exact name,
 * or a wildcard beginning with "host". '*', other wildcards and tags match domains only, so no
 * rule written for guests reaches the host side by accident. Likewise a remote name (HOST/DOMAIN)
 * is matched only by a selector with a '/', which spells the peer out: no rule written for local
 * domains reaches another host's domains, or lets them in. */
static bool selector_match(const vmsec_policy *p, const struct selector *sel, const char *name,
                           const char *const *tags)
{
    bool host = vmsec__policy_host_name(name);
    bool remote = strchr(name, '/') != NULL;
    switch (sel->kind) {
    case SEL_ANY:
        return !host && !remote;
    case SEL_NAME:
        return strcmp(sel->text, name) == 0;
    case SEL_GLOB:
        return (!host || strncmp(sel->text, "host", 4) == 0) && remote == (strchr(sel->text, '/') != NULL) &&
               vmsec__policy_glob(sel->text, name);
    case SEL_TAG:
        return !host && !remote && has_tag(tags, sel->text);
    case SEL_GROUP: {
        const struct group *g = &p->groups[sel->group];
        for (size_t i = 0; i < g->n; i++)
            if (selector_match(p, &g->members[i], name, tags))
                return true;
        return false;
    }
    }
    return false;
}

int vmsec_policy_check(const vmsec_policy *p, const char *service, const char *source,
                       const char *const *source_tags, const char *target, const char *const *target_tags,
                       unsigned int *line)
{
    if (line)
        *line = 0;
    if (!service || !source || !target)
        return vmsec__error(VMSEC_EINVAL, "policy check: NULL name");
    if (!p)
        return vmsec__error(VMSEC_EDENIED, "no valid policy loaded: everything is denied");
    for (size_t i = 0; i < p->nrules; i++) {
        const struct rule *r = &p->rules[i];
        if (!vmsec__policy_glob(r->service, service) || !selector_match(p, &r->src, source, source_tags) ||
            !selector_match(p, &r->dst, target, target_tags))
            continue;
        if (line)
            *line = r->line;
        if (r->allow)
            return 0;
        return vmsec__error(VMSEC_EDENIED, "%s:%u: denies service '%s' from '%s' to '%s'", p->name, r->line,
                            service, source, target);
    }
    return vmsec__error(VMSEC_EDENIED, "%s: no rule allows service '%s' from '%s' to '%s' (default deny)",
                        p->name, service, source, target);
}

int vmsec_policy_service_port(const vmsec_policy *p, const char *service, uint32_t *port)
{
    if (!p || !service || !port)
        return vmsec__error(VMSEC_EINVAL, "policy: NULL argument");
    for (size_t i = 0; i < p->nservices; i++)
        if (strcmp(p->services[i].name, service) == 0) {
            *port = p->services[i].port;
            return 0;
        }
    return vmsec__error(VMSEC_ENOTFOUND, "%s: no 'service %s port N' line", p->name, service);
}

const char *vmsec_policy_name(const vmsec_policy *p)
{
    return p ? p->name : "(none)";
}

size_t vmsec_policy_rule_count(const vmsec_policy *p)
{
    return p ? p->nrules : 0;
}
