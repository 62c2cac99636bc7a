/* SPDX-License-Identifier: ISC */
/* Reports: an ordered list of per-setting entries, formatted as an aligned table or JSON
 * (through lib/common/json.c: bytes that are not UTF-8 become U+FFFD there). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/report_internal.h"

#define NFIELDS 5

struct entry {
    int status;
    char *field[NFIELDS];
};

struct vmsec_report {
    struct entry *e;
    size_t n, cap;
};

static const char *const status_names[] = {
    "ok", "drift", "unchecked", "applied", "next-boot", "failed", "restored", "not-restored", "problem",
};

static const char *const field_names[NFIELDS] = { "setting", "expected", "actual", "source", "detail" };

struct vmsec_report *vmsec__report_new(void)
{
    struct vmsec_report *r = calloc(1, sizeof(*r));
    if (!r)
        vmsec__error(VMSEC_ENOMEM, "out of memory allocating a report");
    return r;
}

static void entry_free(struct entry *e)
{
    for (int f = 0; f < NFIELDS; f++)
        free(e->field[f]);
}

int vmsec__report_add(struct vmsec_report *r, int status, const char *setting, const char *expected,
                      const char *actual, const char *source, const char *detail_fmt, ...)
{
    struct entry e = { .status = status };
    const char *in[NFIELDS - 1] = { setting, expected, actual, source };
    va_list ap;
    int ok = 1;

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct entry *ne = realloc(r->e, cap * sizeof(*ne));
        if (!ne)
            return vmsec__error(VMSEC_ENOMEM, "out of memory growing a report");
        r->e = ne;
        r->cap = cap;
    }
    for (int f = 0; f < NFIELDS - 1; f++)
        ok &= (e.field[f] = strdup(in[f] ? in[f] : "")) != NULL;
    if (detail_fmt) {
        va_start(ap, detail_fmt);
        if (vasprintf(&e.field[NFIELDS - 1], detail_fmt, ap) < 0)
            e.field[NFIELDS - 1] = NULL;
        va_end(ap);
    } else {
        e.field[NFIELDS - 1] = strdup("");
    }
    ok &= e.field[NFIELDS - 1] != NULL;
    if (!ok) {
        entry_free(&e);
        return vmsec__error(VMSEC_ENOMEM, "out of memory adding a report entry");
    }
    r->e[r->n++] = e;
    return 0;
}

int vmsec__report_update(struct vmsec_report *r, size_t index, int status, const char *detail)
{
    if (index >= r->n)
        return vmsec__error(VMSEC_EINTERNAL, "report entry %zu does not exist", index);
    r->e[index].status = status;
    if (detail) {
        char *d = strdup(detail);
        if (!d)
            return vmsec__error(VMSEC_ENOMEM, "out of memory updating a report entry");
        free(r->e[index].field[NFIELDS - 1]);
        r->e[index].field[NFIELDS - 1] = d;
    }
    return 0;
}

size_t vmsec_report_count(const vmsec_report *r)
{
    return r ? r->n : 0;
}

int vmsec_report_status(const vmsec_report *r, size_t index)
{
    if (!r || index >= r->n)
        return vmsec__error(VMSEC_EINVAL, "report entry %zu does not exist", index);
    return r->e[index].status;
}

const char *vmsec_report_field(const vmsec_report *r, size_t index, int field)
{
    if (!r || index >= r->n || field < 0 || field >= NFIELDS)
        return NULL;
    return r->e[index].field[field];
}

size_t vmsec_report_count_status(const vmsec_report *r, int status)
{
    size_t n = 0;
    for (size_t i = 0; r && i < r->n; i++)
        n += r->e[i].status == status;
    return n;
}

const char *vmsec_status_name(int status)
{
    if (status < 0 || (size_t)status >= VMSEC_ARRAY_LEN(status_names))
        return "unknown";
    return status_names[status];
}

/* One entry as an object: setting and status first, then the other fields in their order. */
static json_t *entry_json(const struct entry *e)
{
    json_t *o = json_object();
    int rc = o ? 0 : VMSEC_ENOMEM;

    if (rc == 0)
        rc = vmsec__json_set(o, field_names[0], vmsec__json_str(e->field[0]));
    if (rc == 0)
        rc = vmsec__json_set(o, "status", vmsec__json_str(vmsec_status_name(e->status)));
    for (int k = 1; rc == 0 && k < NFIELDS; k++)
        rc = vmsec__json_set(o, field_names[k], vmsec__json_str(e->field[k]));
    if (rc < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* {"entries":[...],"summary":{...}} with each entry, and the summary, on a line of its own, so a
 * line-oriented reader (grep) sees one setting per line. Every value goes through the JSON module. */
static int format_json(const vmsec_report *r, FILE *f)
{
    json_t *summary = json_object();
    int rc = summary ? 0 : VMSEC_ENOMEM;

    fputs("{\"entries\":[", f);
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        json_t *e = entry_json(&r->e[i]);
        fputs(i ? ",\n" : "\n", f);
        rc = e ? vmsec__json_dumpf(e, f) : VMSEC_ENOMEM;
        json_decref(e);
    }
    for (size_t s = 0; rc == 0 && s < VMSEC_ARRAY_LEN(status_names); s++)
        rc = vmsec__json_set(summary, status_names[s],
                             json_integer((json_int_t)vmsec_report_count_status(r, (int)s)));
    fputs("],\n\"summary\":", f);
    if (rc == 0)
        rc = vmsec__json_dumpf(summary, f);
    fputs("}\n", f);
    json_decref(summary);
    return rc;
}

/* Columns: SETTING STATUS EXPECTED ACTUAL SOURCE, then the detail (unaligned, last). */
static void format_text(const vmsec_report *r, FILE *f)
{
    static const char *const head[] = { "SETTING", "STATUS", "EXPECTED", "ACTUAL", "SOURCE" };
    size_t w[5];
    for (int c = 0; c < 5; c++)
        w[c] = strlen(head[c]);
    for (size_t i = 0; i < r->n; i++) {
        const char *col[5] = { r->e[i].field[0], vmsec_status_name(r->e[i].status), r->e[i].field[1],
                               r->e[i].field[2], r->e[i].field[3] };
        for (int c = 0; c < 5; c++)
            if (strlen(col[c]) > w[c])
                w[c] = strlen(col[c]);
    }
    fprintf(f, "%-*s  %-*s  %-*s  %-*s  %-*s  DETAIL\n", (int)w[0], head[0], (int)w[1], head[1],
            (int)w[2], head[2], (int)w[3], head[3], (int)w[4], head[4]);
    for (size_t i = 0; i < r->n; i++) {
        const char *col[5] = { r->e[i].field[0], vmsec_status_name(r->e[i].status),
                               *r->e[i].field[1] ? r->e[i].field[1] : "-",
                               *r->e[i].field[2] ? r->e[i].field[2] : "-",
                               *r->e[i].field[3] ? r->e[i].field[3] : "-" };
        /* The last column is padded only when a detail follows it: no trailing blanks. */
        const char *detail = r->e[i].field[4];
        fprintf(f, "%-*s  %-*s  %-*s  %-*s  ", (int)w[0], col[0], (int)w[1], col[1], (int)w[2], col[2], (int)w[3],
                col[3]);
        if (*detail)
            fprintf(f, "%-*s  %s", (int)w[4], col[4], detail);
        else
            fputs(col[4], f);
        fputc('\n', f);
    }
}

int vmsec_report_format(const vmsec_report *r, int kind, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    FILE *f;

    if (!r || !out || (kind != VMSEC_REPORT_TEXT && kind != VMSEC_REPORT_JSON))
        return vmsec__error(VMSEC_EINVAL, "vmsec_report_format: NULL argument or unknown format %d", kind);
    *out = NULL;
    f = open_memstream(&buf, &len);
    if (!f)
        return vmsec__error(VMSEC_ENOMEM, "out of memory formatting a report");
    if (kind == VMSEC_REPORT_JSON)
        rc = format_json(r, f);
    else
        format_text(r, f);
    /* Writing to memory fails only for want of it. */
    if (fclose(f) != 0 || rc < 0 || !buf) {
        free(buf);
        return vmsec__error(VMSEC_ENOMEM, "out of memory formatting a report");
    }
    *out = buf;
    return 0;
}

void vmsec_report_string_free(char *s)
{
    free(s);
}

void vmsec_report_free(vmsec_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        entry_free(&r->e[i]);
    free(r->e);
    free(r);
}
