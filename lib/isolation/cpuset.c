/* SPDX-License-Identifier: ISC */
/* CPU sets: fixed bitmaps with the kernel's list syntax ("0-3,8"), used by profiles, probes and
 * the planner. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "isolation/cpuset.h"

void vmsec__cpuset_zero(vmsec_cpuset *s)
{
    memset(s, 0, sizeof(*s));
}

int vmsec__cpuset_add(vmsec_cpuset *s, unsigned int cpu)
{
    if (cpu >= VMSEC_CPUSET_MAX)
        return -1;
    s->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
    return 0;
}

int vmsec__cpuset_del(vmsec_cpuset *s, unsigned int cpu)
{
    if (cpu >= VMSEC_CPUSET_MAX)
        return -1;
    s->bits[cpu / 64] &= ~(UINT64_C(1) << (cpu % 64));
    return 0;
}

bool vmsec__cpuset_has(const vmsec_cpuset *s, unsigned int cpu)
{
    return cpu < VMSEC_CPUSET_MAX && (s->bits[cpu / 64] >> (cpu % 64)) & 1u;
}

bool vmsec__cpuset_equal(const vmsec_cpuset *a, const vmsec_cpuset *b)
{
    return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0;
}

bool vmsec__cpuset_subset(const vmsec_cpuset *a, const vmsec_cpuset *b)
{
    for (size_t i = 0; i < VMSEC_CPUSET_WORDS; i++)
        if (a->bits[i] & ~b->bits[i])
            return false;
    return true;
}

bool vmsec__cpuset_empty(const vmsec_cpuset *s)
{
    for (size_t i = 0; i < VMSEC_CPUSET_WORDS; i++)
        if (s->bits[i])
            return false;
    return true;
}

unsigned int vmsec__cpuset_count(const vmsec_cpuset *s)
{
    unsigned int n = 0;
    for (size_t i = 0; i < VMSEC_CPUSET_WORDS; i++)
        n += (unsigned int)__builtin_popcountll(s->bits[i]);
    return n;
}

int vmsec__cpuset_max(const vmsec_cpuset *s)
{
    for (size_t i = VMSEC_CPUSET_WORDS; i-- > 0;)
        if (s->bits[i])
            return (int)(i * 64 + 63 - (size_t)__builtin_clzll(s->bits[i]));
    return -1;
}

/* Adds lo..hi (both < VMSEC_CPUSET_MAX) a word at a time: ranges in hostile input stay cheap. */
static void add_range(vmsec_cpuset *s, unsigned int lo, unsigned int hi)
{
    while (lo <= hi) {
        unsigned int w = lo / 64, b = lo % 64, n = hi - lo + 1 < 64 - b ? hi - lo + 1 : 64 - b;
        uint64_t mask = n == 64 ? UINT64_MAX : ((UINT64_C(1) << n) - 1) << b;
        s->bits[w] |= mask;
        lo += n;
    }
}

/* Reads a CPU number at text[*pos]; digits only, bounded so it cannot overflow. */
static int read_cpu(const char *text, size_t len, size_t *pos, unsigned int *cpu, const char *noun,
                    char *why, size_t whylen)
{
    size_t i = *pos;
    unsigned long v = 0;
    if (i >= len || text[i] < '0' || text[i] > '9') {
        if (i >= len)
            snprintf(why, whylen, "expected a %s number at the end", noun);
        else
            snprintf(why, whylen, "expected a %s number at '%c'", noun, text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?');
        return -1;
    }
    while (i < len && text[i] >= '0' && text[i] <= '9') {
        v = v * 10 + (unsigned long)(text[i] - '0');
        if (v >= VMSEC_CPUSET_MAX) {
            size_t end = i;
            while (end < len && text[end] >= '0' && text[end] <= '9')
                end++;
            snprintf(why, whylen, "%s %.*s is above the maximum %u", noun, (int)(end - *pos > 20 ? 20 : end - *pos),
                     text + *pos, VMSEC_CPUSET_MAX - 1);
            return -1;
        }
        i++;
    }
    *cpu = (unsigned int)v;
    *pos = i;
    return 0;
}

int vmsec__cpuset_parse(vmsec_cpuset *out, const char *text, size_t len, unsigned int flags,
                        char *why, size_t whylen)
{
    vmsec_cpuset s, excl;
    size_t pos = 0;
    const char *noun = flags & VMSEC_CPUSET_NODES ? "node" : "CPU";
    vmsec__cpuset_zero(&s);
    vmsec__cpuset_zero(&excl);
    if (len == 0) {
        if (!(flags & VMSEC_CPUSET_ALLOW_EMPTY)) {
            snprintf(why, whylen, "empty %s set", noun);
            return -1;
        }
        *out = s;
        return 0;
    }
    for (;;) {
        bool negate = false;
        unsigned int lo, hi;
        if (pos < len && text[pos] == '^') {
            negate = true;
            pos++;
        }
        if (read_cpu(text, len, &pos, &lo, noun, why, whylen) < 0)
            return -1;
        hi = lo;
        if (pos < len && text[pos] == '-') {
            pos++;
            if (read_cpu(text, len, &pos, &hi, noun, why, whylen) < 0)
                return -1;
            if (hi < lo) {
                snprintf(why, whylen, "range %u-%u is reversed", lo, hi);
                return -1;
            }
        }
        add_range(negate ? &excl : &s, lo, hi);
        if (pos == len)
            break;
        if (text[pos] != ',') {
            unsigned char ch = (unsigned char)text[pos];
            if (ch >= 0x21 && ch < 0x7f)
                snprintf(why, whylen, "unexpected '%c' in %s set", ch, noun);
            else
                snprintf(why, whylen, "unexpected byte 0x%02x in %s set", ch, noun);
            return -1;
        }
        pos++;
        if (pos == len) {
            snprintf(why, whylen, "trailing ',' in %s set", noun);
            return -1;
        }
    }
    for (size_t i = 0; i < VMSEC_CPUSET_WORDS; i++)
        s.bits[i] &= ~excl.bits[i];
    if (!(flags & VMSEC_CPUSET_ALLOW_EMPTY) && vmsec__cpuset_empty(&s)) {
        snprintf(why, whylen, "%s set is empty after exclusions", noun);
        return -1;
    }
    *out = s;
    return 0;
}

size_t vmsec__cpuset_format(const vmsec_cpuset *s, char *buf, size_t size)
{
    size_t n = 0;
    unsigned int c = 0;
    char tmp[32];
    if (size)
        buf[0] = '\0';
    while (c < VMSEC_CPUSET_MAX) {
        unsigned int lo, hi;
        int k;
        if (!vmsec__cpuset_has(s, c)) {
            c++;
            continue;
        }
        lo = c;
        while (c + 1 < VMSEC_CPUSET_MAX && vmsec__cpuset_has(s, c + 1))
            c++;
        hi = c++;
        if (hi == lo)
            k = snprintf(tmp, sizeof(tmp), "%s%u", n ? "," : "", lo);
        else
            k = snprintf(tmp, sizeof(tmp), "%s%u-%u", n ? "," : "", lo, hi);
        if (n + (size_t)k < size)
            memcpy(buf + n, tmp, (size_t)k + 1);
        else if (size && n < size)
            buf[n] = '\0';
        n += (size_t)k;
    }
    return n;
}

int vmsec__cpuset_to_cpumap(const vmsec_cpuset *s, unsigned char *map, size_t maplen)
{
    int max = vmsec__cpuset_max(s);
    if (max >= 0 && (size_t)max / 8 >= maplen)
        return -1;
    memset(map, 0, maplen);
    for (int c = 0; c <= max; c++)
        if (vmsec__cpuset_has(s, (unsigned int)c))
            map[c / 8] |= (unsigned char)(1u << (c % 8));
    return 0;
}

int vmsec__cpuset_from_cpumap(vmsec_cpuset *out, const unsigned char *map, size_t maplen)
{
    vmsec_cpuset s;
    vmsec__cpuset_zero(&s);
    for (size_t i = 0; i < maplen; i++) {
        if (!map[i])
            continue;
        for (unsigned int b = 0; b < 8; b++)
            if ((map[i] >> b) & 1u)
                if (vmsec__cpuset_add(&s, (unsigned int)(i * 8 + b)) < 0)
                    return -1;
    }
    *out = s;
    return 0;
}
