/* SPDX-License-Identifier: ISC */
/* A small strict JSON (RFC 8259) reader for test data: whole document in, tree out. */
#ifndef VMSEC_TEST_JSON_H
#define VMSEC_TEST_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
    json_type type;
    bool boolean;
    double number;
    char *string;              /* JSON_STRING: NUL-terminated UTF-8 (embedded NUL rejected) */
    size_t count;              /* JSON_ARRAY / JSON_OBJECT: number of items */
    char **keys;               /* JSON_OBJECT: item keys */
    struct json_value **items; /* JSON_ARRAY / JSON_OBJECT */
} json_value;

/* Parses len bytes; NULL on error with a message naming the line and column in err. */
json_value *json_parse(const char *text, size_t len, char *err, size_t err_len);
void json_free(json_value *v);
/* The member of an object called key, or NULL (also when v is not an object). */
const json_value *json_get(const json_value *v, const char *key);

#endif
