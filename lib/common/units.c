/* SPDX-License-Identifier: ISC */
/* Number and size parsing for text formats ("4G", "512M"), with errors that quote the value. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/units.h"

/* Shows at most 32 bytes of an offending value, with unprintable bytes as '?'. */
static void quote(char *dst, size_t dstlen, const char *text, size_t len)
{
    size_t n = len < 32 ? len : 32, i;
    if (dstlen == 0)
        return;
    for (i = 0; i < n && i + 1 < dstlen; i++)
        dst[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
    dst[i] = '\0';
}

int vmsec__parse_u64(const char *text, size_t len, uint64_t *out, char *why, size_t whylen)
{
    char q[40];
    uint64_t v = 0;
    quote(q, sizeof(q), text, len);
    if (len == 0) {
        snprintf(why, whylen, "expected a number");
        return -1;
    }
    if (text[0] == '-') {
        snprintf(why, whylen, "'%s' is negative", q);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned d;
        if (text[i] < '0' || text[i] > '9') {
            snprintf(why, whylen, "'%s' is not a whole number", q);
            return -1;
        }
        d = (unsigned)(text[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            snprintf(why, whylen, "'%s' is too large", q);
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int vmsec__parse_i64(const char *text, size_t len, int64_t *out, char *why, size_t whylen)
{
    uint64_t v;
    bool neg = len > 0 && text[0] == '-';
    char q[40];
    if (vmsec__parse_u64(text + neg, len - neg, &v, why, whylen) < 0) {
        if (neg && len > 1 && text[1] == '-') {
            quote(q, sizeof(q), text, len);
            snprintf(why, whylen, "'%s' is not a whole number", q);
        }
        return -1;
    }
    if (v > (uint64_t)INT64_MAX + neg) {
        quote(q, sizeof(q), text, len);
        snprintf(why, whylen, "'%s' is out of range", q);
        return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static const char suffixes[] = "KMGTPE";

int vmsec__size_parse(const char *text, size_t len, uint64_t *out, char *why, size_t whylen)
{
    size_t digits = 0;
    unsigned shift = 0;
    uint64_t v;
    char q[40];
    quote(q, sizeof(q), text, len);
    while (digits < len && text[digits] >= '0' && text[digits] <= '9')
        digits++;
    if (digits == 0) {
        if (len && text[0] == '-')
            snprintf(why, whylen, "size '%s' is negative", q);
        else
            snprintf(why, whylen, "'%s' is not a size (e.g. 4096, 512M, 4G)", q);
        return -1;
    }
    if (digits < len) {
        const char *u = text + digits;
        size_t ulen = len - digits;
        const char *p = NULL;
        char c = u[0] == 'k' ? 'K' : u[0];
        if (c != '\0')
            p = memchr(suffixes, c, sizeof(suffixes) - 1);
        if (u[0] == '.' || u[0] == ',') {
            snprintf(why, whylen, "size '%s' is not a whole number", q);
            return -1;
        }
        if (!p || !(ulen == 1 || (ulen == 3 && u[1] == 'i' && u[2] == 'B'))) {
            if (p && ulen == 2 && (u[1] == 'B' || u[1] == 'b'))
                snprintf(why, whylen, "ambiguous unit in '%s': use %c or %ciB (powers of 1024)", q, *p, *p);
            else
                snprintf(why, whylen, "unknown unit in '%s' (use K, M, G, T, P, E: powers of 1024)", q);
            return -1;
        }
        shift = 10u * (unsigned)(p - suffixes + 1);
    }
    if (vmsec__parse_u64(text, digits, &v, why, whylen) < 0) {
        snprintf(why, whylen, "size '%s' is too large", q);
        return -1;
    }
    if (shift && v > (UINT64_MAX >> shift)) {
        snprintf(why, whylen, "size '%s' is too large", q);
        return -1;
    }
    *out = v << shift;
    return 0;
}

char *vmsec__size_format(uint64_t bytes, char *buf)
{
    unsigned i = 0;
    uint64_t v = bytes;
    while (v && i < sizeof(suffixes) - 1 && (v & 1023u) == 0) {
        v >>= 10;
        i++;
    }
    if (i == 0)
        snprintf(buf, VMSEC_UNITS_TEXT_MAX, "%llu", (unsigned long long)bytes);
    else
        snprintf(buf, VMSEC_UNITS_TEXT_MAX, "%llu%c", (unsigned long long)v, suffixes[i - 1]);
    return buf;
}
