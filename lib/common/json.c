/* SPDX-License-Identifier: ISC */
/* JSON output through jansson, with arbitrary bytes made valid UTF-8 first (see json.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmsec/errors.h"

#include "common/json.h"

/* One order for every document: members as inserted (the default since jansson 2.8; the flag
 * says so), no spaces, any value at the top level. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

static const unsigned char replacement[3] = { 0xEF, 0xBF, 0xBD }; /* U+FFFD */

/* Looks at the bytes at s (n >= 1) and returns how many form the next unit: a whole well-formed
 * sequence (*valid set) or a maximal subpart of one that breaks off (*valid cleared), which is at
 * least one byte. The ranges are Table 3-7 of the Unicode Standard: the second byte's range
 * excludes overlong forms (E0, F0), UTF-16 surrogates (ED) and code points past U+10FFFF (F4). */
static size_t utf8_unit(const unsigned char *s, size_t n, bool *valid)
{
    unsigned char b = s[0], lo = 0x80, hi = 0xBF;
    size_t need = 0, k;

    *valid = true;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        lo = b == 0xE0 ? 0xA0 : 0x80;
        hi = b == 0xED ? 0x9F : 0xBF;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        lo = b == 0xF0 ? 0x90 : 0x80;
        hi = b == 0xF4 ? 0x8F : 0xBF;
    }
    /* 80..BF, C0, C1 and F5..FF never start a sequence: a subpart of one byte. */
    for (k = 1; k < need && k < n; k++) {
        if (s[k] < lo || s[k] > hi)
            break;
        lo = 0x80;
        hi = 0xBF;
    }
    *valid = need != 0 && k == need;
    return k;
}

/* Writes the sanitised form of s into out (when not NULL) and returns its length. */
static size_t sanitize_into(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        bool valid;
        size_t k = utf8_unit(s + i, n - i, &valid);
        const unsigned char *from = valid ? s + i : replacement;
        size_t m = valid ? k : sizeof(replacement);
        if (out)
            memcpy(out + len, from, m);
        len += m;
        i += k;
    }
    return len;
}

char *vmsec__utf8_sanitize(const char *s, size_t n, size_t *out_len)
{
    size_t len;
    unsigned char *out;

    /* Each input byte yields at most three output bytes. */
    if (!s || n > (SIZE_MAX - 1) / 3)
        return NULL;
    len = sanitize_into((const unsigned char *)s, n, NULL);
    out = malloc(len + 1);
    if (!out)
        return NULL;
    sanitize_into((const unsigned char *)s, n, out);
    out[len] = '\0';
    if (out_len)
        *out_len = len;
    return (char *)out;
}

json_t *vmsec__json_strn(const char *s, size_t n)
{
    size_t len;
    char *clean;
    json_t *v;

    if (!s)
        return json_null();
    clean = vmsec__utf8_sanitize(s, n, &len);
    if (!clean)
        return NULL;
    /* Already checked, NULs included, which json_stringn would scan again. */
    v = json_stringn_nocheck(clean, len);
    free(clean);
    return v;
}

json_t *vmsec__json_str(const char *s)
{
    return vmsec__json_strn(s, s ? strlen(s) : 0);
}

int vmsec__json_set(json_t *obj, const char *key, json_t *value)
{
    size_t len;
    char *clean;
    int rc;

    if (!value)
        return VMSEC_ENOMEM;
    if (!key || !json_is_object(obj) || value == obj) {
        json_decref(value);
        return VMSEC_EINVAL;
    }
    clean = vmsec__utf8_sanitize(key, strlen(key), &len);
    if (!clean) {
        json_decref(value);
        return VMSEC_ENOMEM;
    }
    /* Steals value also when it fails, which past the checks above means out of memory. */
    rc = json_object_setn_new_nocheck(obj, clean, len, value);
    free(clean);
    return rc == 0 ? 0 : VMSEC_ENOMEM;
}

char *vmsec__json_dump(const json_t *v)
{
    return v ? json_dumps(v, DUMP_FLAGS) : NULL;
}

int vmsec__json_dumpf(const json_t *v, FILE *f)
{
    if (!v || !f)
        return VMSEC_EINVAL;
    return json_dumpf(v, f, DUMP_FLAGS) == 0 ? 0 : VMSEC_EIO;
}
