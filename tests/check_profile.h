/* SPDX-License-Identifier: ISC */
/* Private to the check_profile program: scratch directory, parse and serialise helpers, the table
 * of every key, and the builders of the cases kept in their own files. */
#ifndef VMSEC_CHECK_PROFILE_H
#define VMSEC_CHECK_PROFILE_H

#include <stddef.h>
#include <sys/stat.h> /* for testutil.h */

#include <vmsec.h>

#include "testutil.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A fresh scratch directory per test (setup/teardown, a checked fixture). */
extern char dir[512];
void setup(void);
void teardown(void);

const char *srcdir(void);
vmsec_profile *parse_ok(const char *text);
const char *parse_fail(const char *text, size_t len);
char *to_text(const vmsec_profile *p);
char *slurp(const char *path);

/* Every key with a value and its canonical spelling (NULL: a value the parser must refuse). */
struct key_case {
    const char *key, *value, *canonical;
};
extern const struct key_case keys[];
extern const size_t nkeys;

/* Cases of the other files, added to the one "core" test case in main's order. */
void profile_add_text_tests(TCase *tc);
void profile_add_api_tests(TCase *tc);

#endif
