/* SPDX-License-Identifier: ISC */
/* Strict JSON reader for test vectors: no extensions, no trailing commas, duplicate keys rejected,
 * bounded nesting. Errors name the line and column. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_DEPTH 64

struct parser {
    const char *p, *start, *end;
    char *err;
    size_t err_len;
    bool failed;
};

static void fail(struct parser *ps, const char *what)
{
    size_t line = 1, col = 1;
    const char *q;
    if (ps->failed)
        return;
    for (q = ps->start; q < ps->p && q < ps->end; q++, col++)
        if (*q == '\n') {
            line++;
            col = 0;
        }
    snprintf(ps->err, ps->err_len, "line %zu, column %zu: %s", line, col, what);
    ps->failed = true;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static json_value *new_value(json_type type)
{
    json_value *v = calloc(1, sizeof(*v));
    if (v)
        v->type = type;
    return v;
}

static int hex4(struct parser *ps, unsigned *out)
{
    unsigned v = 0;
    int i;
    if (ps->end - ps->p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string at ps->p (on the opening quote); the result is malloc'd. */
static char *parse_string(struct parser *ps)
{
    const char *q;
    char *out, *w;
    ps->p++;
    /* Escapes only ever shrink the text, so the raw span bounds the decoded size. */
    for (q = ps->p; q < ps->end && *q != '"'; q++)
        if (*q == '\\')
            q++;
    if (q >= ps->end) {
        fail(ps, "unterminated string");
        return NULL;
    }
    if (!(w = out = malloc((size_t)(q - ps->p) + 1))) {
        fail(ps, "out of memory");
        return NULL;
    }
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p++;
        unsigned cp, lo;
        if (c < 0x20) {
            fail(ps, "control character in string");
            goto bad;
        }
        if (c != '\\') {
            *w++ = (char)c;
            continue;
        }
        switch (*ps->p++) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u':
            if (hex4(ps, &cp) < 0 || cp == 0) {
                fail(ps, "bad \\u escape");
                goto bad;
            }
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (!literal(ps, "\\u") || hex4(ps, &lo) < 0 || lo < 0xdc00 || lo >= 0xe000) {
                    fail(ps, "unpaired surrogate");
                    goto bad;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                fail(ps, "unpaired surrogate");
                goto bad;
            }
            w += put_utf8(w, cp);
            break;
        default:
            fail(ps, "bad escape");
            goto bad;
        }
    }
    ps->p++;
    *w = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

static json_value *parse_value(struct parser *ps, int depth);

static bool append(json_value *v, char *key, json_value *item)
{
    json_value **items = realloc(v->items, (v->count + 1) * sizeof(*items));
    char **keys;
    if (!items)
        return false;
    v->items = items;
    if (v->type == JSON_OBJECT) {
        if (!(keys = realloc(v->keys, (v->count + 1) * sizeof(*keys))))
            return false;
        v->keys = keys;
        keys[v->count] = key;
    }
    items[v->count++] = item;
    return true;
}

static json_value *parse_container(struct parser *ps, int depth, bool object)
{
    json_value *v = new_value(object ? JSON_OBJECT : JSON_ARRAY), *item;
    char close = object ? '}' : ']', *key = NULL;
    size_t i;

    if (!v) {
        fail(ps, "out of memory");
        return NULL;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return v;
    }
    for (;;) {
        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a string key");
                goto bad;
            }
            if (!(key = parse_string(ps)))
                goto bad;
            for (i = 0; i < v->count; i++)
                if (strcmp(v->keys[i], key) == 0) {
                    fail(ps, "duplicate key");
                    goto bad;
                }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, "expected ':'");
                goto bad;
            }
            ps->p++;
        }
        if (!(item = parse_value(ps, depth + 1)))
            goto bad;
        if (!append(v, key, item)) {
            json_free(item);
            fail(ps, "out of memory");
            goto bad;
        }
        key = NULL;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return v;
        }
        fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        goto bad;
    }
bad:
    free(key);
    json_free(v);
    return NULL;
}

static json_value *parse_number(struct parser *ps)
{
    const char *q = ps->p;
    char buf[64];
    json_value *v;

    if (q < ps->end && *q == '-')
        q++;
    if (q < ps->end && *q == '0')
        q++;
    else if (q < ps->end && *q >= '1' && *q <= '9')
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    else
        goto bad;
    if (q < ps->end && *q == '.') {
        if (++q >= ps->end || *q < '0' || *q > '9')
            goto bad;
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || *q < '0' || *q > '9')
            goto bad;
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if ((size_t)(q - ps->p) >= sizeof(buf))
        goto bad;
    memcpy(buf, ps->p, (size_t)(q - ps->p));
    buf[q - ps->p] = '\0';
    if (!(v = new_value(JSON_NUMBER))) {
        fail(ps, "out of memory");
        return NULL;
    }
    v->number = strtod(buf, NULL);
    ps->p = q;
    return v;
bad:
    fail(ps, "malformed number");
    return NULL;
}

static json_value *parse_value(struct parser *ps, int depth)
{
    json_value *v;
    skip_ws(ps);
    if (depth > MAX_DEPTH) {
        fail(ps, "nesting too deep");
        return NULL;
    }
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end of input");
        return NULL;
    }
    switch (*ps->p) {
    case '{':
        return parse_container(ps, depth, true);
    case '[':
        return parse_container(ps, depth, false);
    case '"':
        if (!(v = new_value(JSON_STRING)) || !(v->string = parse_string(ps))) {
            free(v);
            fail(ps, "bad string");
            return NULL;
        }
        return v;
    case 't':
    case 'f':
    case 'n':
        if (literal(ps, "true") || literal(ps, "false")) {
            if ((v = new_value(JSON_BOOL)))
                v->boolean = ps->p[-4] == 't'; /* "true" ends with its 't' four bytes back */
            return v;
        }
        if (literal(ps, "null"))
            return new_value(JSON_NULL);
        fail(ps, "unknown literal");
        return NULL;
    default:
        return parse_number(ps);
    }
}

json_value *json_parse(const char *text, size_t len, char *err, size_t err_len)
{
    struct parser ps = {text, text, text + len, err, err_len, false};
    json_value *v;

    if (memchr(text, '\0', len)) {
        snprintf(err, err_len, "NUL byte in input");
        return NULL;
    }
    if (!(v = parse_value(&ps, 0)))
        return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "trailing content after the document");
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(json_value *v)
{
    size_t i;
    if (!v)
        return;
    for (i = 0; i < v->count; i++) {
        json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

const json_value *json_get(const json_value *v, const char *key)
{
    size_t i;
    if (!v || v->type != JSON_OBJECT)
        return NULL;
    for (i = 0; i < v->count; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}
