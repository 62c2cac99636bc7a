/* SPDX-License-Identifier: ISC */
/* Policy parsing and evaluation, including hostile inputs. */
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "testutil.h"
#include <vmsec.h>

#include "relay/policy_internal.h"

static vmsec_policy *load(const char *text)
{
    vmsec_policy *p = NULL;
    int rc = vmsec_policy_load_string(&p, text, strlen(text), "t.conf");
    ck_assert_msg(rc == 0, "load failed: %s", vmsec_error_last());
    return p;
}

/* Asserts that text fails with code and that the message starts with "t.conf:LINE: " and contains
 * the given fragment. */
static void load_fails(const char *text, size_t len, int code, unsigned line, const char *fragment)
{
    vmsec_policy *p = (vmsec_policy *)1;
    char prefix[32];
    ck_assert_int_eq(vmsec_policy_load_string(&p, text, len, "t.conf"), code);
    ck_assert_ptr_null(p);
    snprintf(prefix, sizeof(prefix), "t.conf:%u: ", line);
    ck_assert_msg(strncmp(vmsec_error_last(), prefix, strlen(prefix)) == 0, "message '%s' lacks '%s'",
                  vmsec_error_last(), prefix);
    ck_assert_msg(strstr(vmsec_error_last(), fragment), "message '%s' lacks '%s'", vmsec_error_last(), fragment);
}

static int check(const vmsec_policy *p, const char *svc, const char *src, const char *dst, unsigned *line)
{
    return vmsec_policy_check(p, svc, src, NULL, dst, NULL, line);
}

START_TEST(first_match_wins_and_default_deny)
{
    vmsec_policy *p = load("# comment\n"
                           "service db port 5432\n"
                           "\n"
                           "deny db from web-evil to db-1\n"
                           "allow db from web-* to db-1   # trailing comment\n"
                           "deny * from * to db-2\n"
                           "allow * from * to db-2\n");
    unsigned line = 99;
    ck_assert_int_eq(check(p, "db", "web-1", "db-1", &line), 0);
    ck_assert_uint_eq(line, 5);
    ck_assert_int_eq(check(p, "db", "web-evil", "db-1", &line), VMSEC_EDENIED);
    ck_assert_uint_eq(line, 4);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "t.conf:4"));
    /* The later allow never wins over an earlier deny. */
    ck_assert_int_eq(check(p, "db", "web-1", "db-2", &line), VMSEC_EDENIED);
    ck_assert_uint_eq(line, 6);
    /* Nothing matches: default deny, line 0. */
    ck_assert_int_eq(check(p, "db", "other", "db-1", &line), VMSEC_EDENIED);
    ck_assert_uint_eq(line, 0);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "default deny"));
    ck_assert_int_eq(check(p, "ssh", "web-1", "db-1", &line), VMSEC_EDENIED);
    ck_assert_uint_eq(vmsec_policy_rule_count(p), 4);
    uint32_t port = 0;
    ck_assert_int_eq(vmsec_policy_service_port(p, "db", &port), 0);
    ck_assert_uint_eq(port, 5432);
    ck_assert_int_eq(vmsec_policy_service_port(p, "ssh", &port), VMSEC_ENOTFOUND);
    vmsec_policy_free(p);
}
END_TEST

START_TEST(empty_and_null_policy_deny_everything)
{
    vmsec_policy *p = load("");
    ck_assert_int_eq(check(p, "a", "b", "c", NULL), VMSEC_EDENIED);
    vmsec_policy_free(p);
    ck_assert_int_eq(check(NULL, "a", "b", "c", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(vmsec_policy_check(NULL, NULL, "b", NULL, "c", NULL, NULL), VMSEC_EINVAL);
}
END_TEST

START_TEST(groups_and_tags)
{
    vmsec_policy *p = load("allow api from @web to @back\n"
                           "group web = web-1 tag:frontend\n" /* forward reference is fine */
                           "group back = db-? tag:backend\n");
    const char *front[] = {"x", "frontend", NULL};
    const char *back[] = {"backend", NULL};
    ck_assert_int_eq(check(p, "api", "web-1", "db-1", NULL), 0);
    ck_assert_int_eq(check(p, "api", "web-2", "db-1", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(check(p, "api", "web-1", "db-12", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(vmsec_policy_check(p, "api", "anyname", front, "store", back, NULL), 0);
    ck_assert_int_eq(vmsec_policy_check(p, "api", "anyname", back, "store", back, NULL), VMSEC_EDENIED);
    /* A tag on the wrong side does not count. */
    ck_assert_int_eq(vmsec_policy_check(p, "api", "anyname", front, "store", front, NULL), VMSEC_EDENIED);
    vmsec_policy_free(p);
}
END_TEST

/* The host side ("host", "host:NAME") is matched only by selectors that spell "host" out, so a
 * rule written for guests ('*', a wildcard, a tag, a group of those) never admits it. */
START_TEST(host_side_is_matched_only_by_name)
{
    vmsec_policy *p = load("allow a from * to *\n"
                           "allow b from h* to *\n"
                           "allow c from tag:ops to *\n"
                           "allow d from @admins to *\n"
                           "group admins = web-1 host:backup\n"
                           "allow e from host to *\n"
                           "allow f from host:* to *\n"
                           "allow g from host* to *\n"
                           "allow h from ho?t to *\n");
    const char *ops[] = {"ops", NULL};
    const char *hosts[] = {"host", "host:backup", "host:x"};
    for (size_t i = 0; i < 3; i++) {
        const char *h = hosts[i];
        ck_assert_int_eq(check(p, "a", h, "db-1", NULL), VMSEC_EDENIED);
        ck_assert_int_eq(check(p, "b", h, "db-1", NULL), VMSEC_EDENIED);
        ck_assert_int_eq(vmsec_policy_check(p, "c", h, ops, "db-1", NULL, NULL), VMSEC_EDENIED);
        ck_assert_int_eq(check(p, "d", h, "db-1", NULL), strcmp(h, "host:backup") == 0 ? 0 : VMSEC_EDENIED);
        ck_assert_int_eq(check(p, "e", h, "db-1", NULL), strcmp(h, "host") == 0 ? 0 : VMSEC_EDENIED);
        ck_assert_int_eq(check(p, "f", h, "db-1", NULL), strcmp(h, "host") == 0 ? VMSEC_EDENIED : 0);
        ck_assert_int_eq(check(p, "g", h, "db-1", NULL), 0);
        ck_assert_int_eq(check(p, "h", h, "db-1", NULL), VMSEC_EDENIED);
    }
    /* The same rules still match domains, including names that merely begin with "host". */
    ck_assert_int_eq(check(p, "a", "web-1", "db-1", NULL), 0);
    ck_assert_int_eq(check(p, "b", "hostname-1", "db-1", NULL), 0);
    ck_assert_int_eq(check(p, "a", "hosts", "db-1", NULL), 0);
    ck_assert_int_eq(vmsec_policy_check(p, "c", "web-2", ops, "db-1", NULL, NULL), 0);
    ck_assert_int_eq(check(p, "h", "hoxt", "db-1", NULL), 0);
    vmsec_policy_free(p);
}
END_TEST

/* Remote names (HOST/DOMAIN, doc/RELAY.md "Federation") are matched only by selectors that spell
 * a peer out; '*', local wildcards and tags never reach them. */
START_TEST(remote_names_need_a_remote_selector)
{
    vmsec_policy *p = load("allow a from * to *\n"
                           "allow b from a* to *\n"
                           "allow c from tag:ops to *\n"
                           "allow d from hostA/alice to db-1\n"
                           "allow e from hostA/* to db-1\n"
                           "allow f from @remote to db-1\n"
                           "group remote = hostB/web-? hostC/*\n"
                           "allow g from web-1 to hostB/db-*\n"
                           "allow h from web-1 to *\n");
    const char *ops[] = {"ops", NULL};
    ck_assert_int_eq(check(p, "a", "hostA/alice", "db-1", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(check(p, "b", "hostA/alice", "db-1", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(vmsec_policy_check(p, "c", "hostA/alice", ops, "db-1", NULL, NULL), VMSEC_EDENIED);
    ck_assert_int_eq(check(p, "d", "hostA/alice", "db-1", NULL), 0);
    ck_assert_int_eq(check(p, "d", "hostB/alice", "db-1", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(check(p, "d", "alice", "db-1", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(check(p, "e", "hostA/bob", "db-1", NULL), 0);
    ck_assert_int_eq(check(p, "e", "hostAA/bob", "db-1", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(check(p, "f", "hostB/web-2", "db-1", NULL), 0);
    ck_assert_int_eq(check(p, "f", "hostC/x", "db-1", NULL), 0);
    ck_assert_int_eq(check(p, "f", "hostA/web-2", "db-1", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(check(p, "g", "web-1", "hostB/db-7", NULL), 0);
    ck_assert_int_eq(check(p, "h", "web-1", "hostB/db-7", NULL), VMSEC_EDENIED);
    ck_assert_int_eq(check(p, "h", "web-1", "db-7", NULL), 0);
    ck_assert_int_eq(check(p, "a", "web-1", "db-7", NULL), 0);
    vmsec_policy_free(p);
    load_fails("allow a from /x to *\n", 21, VMSEC_EFORMAT, 1, "HOST/DOMAIN");
    load_fails("allow a from h*/x to *\n", 23, VMSEC_EFORMAT, 1, "HOST/DOMAIN");
    load_fails("allow a from h/x/y to *\n", 24, VMSEC_EFORMAT, 1, "HOST/DOMAIN");
}
END_TEST

START_TEST(syntax_errors_name_file_and_line)
{
    const char *t;
    t = "service a port 1\nfrobnicate x\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 2, "unknown keyword 'frobnicate'");
    t = "allow a from b\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "expected 'allow SERVICE from SOURCE to TARGET'");
    t = "allow a from b to c extra\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "expected");
    t = "allow a from b too c\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "expected");
    t = "\n\ngroup g = a\ngroup g = b\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 4, "group 'g' already defined at line 3");
    t = "allow a from @nope to b\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "undefined group '@nope'");
    t = "group g = @h\ngroup h = a\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "groups cannot contain groups");
    t = "group g =\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "has no members");
    t = "group g a b\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "expected 'group NAME = MEMBER...'");
    t = "allow a from b/c/e to d\n"; /* one '/' is HOST/DOMAIN (federation); two are nothing */
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "invalid source 'b/c/e'");
    t = "allow a from b to tag:\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "invalid tag");
    t = "allow a\"b from b to c\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "invalid service");
    t = "service a port 0\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "invalid port '0'");
    t = "service a port 4294967295\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "invalid port");
    t = "service a port -1\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "invalid port");
    t = "service a port 12x\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "invalid port");
    t = "service a port 1\nservice a port 2\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 2, "service 'a' already defined");
    t = "Allow a from b to c\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "unknown keyword 'Allow'");
}
END_TEST

START_TEST(hostile_bytes)
{
    /* NUL inside a line. */
    static const char nul[] = "allow a from b to c\nallow a\0x from b to c\n";
    load_fails(nul, sizeof(nul) - 1, VMSEC_EFORMAT, 2, "NUL byte");
    /* Other control characters. */
    const char *t = "allow a from b to c\x1b[2J\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "control character 0x1b");
    /* A line one byte over the limit; the limit itself is fine. */
    size_t n = VMSEC_POLICY_LINE_MAX + 1;
    char *big = malloc(n + 2);
    memset(big, ' ', n);
    memcpy(big, "# ", 2);
    big[n] = '\n';
    load_fails(big, n + 1, VMSEC_ETOOBIG, 1, "line longer than 4096");
    vmsec_policy *p = NULL;
    ck_assert_int_eq(vmsec_policy_load_string(&p, big, n - 1, "t.conf"), 0);
    vmsec_policy_free(p);
    free(big);
    /* A name longer than the maximum. */
    char longname[400], line[600];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    snprintf(line, sizeof(line), "allow s from %s to b\n", longname);
    load_fails(line, strlen(line), VMSEC_EFORMAT, 1, "invalid source");
    /* Non-ASCII (UTF-8) in a name. */
    t = "allow s from caf\xc3\xa9 to b\n";
    load_fails(t, strlen(t), VMSEC_EFORMAT, 1, "invalid source");
    /* CRLF line ends are accepted. */
    t = "allow s from a to b\r\nservice s port 7\r\n";
    p = load(t);
    ck_assert_int_eq(check(p, "s", "a", "b", NULL), 0);
    vmsec_policy_free(p);
    /* A file without a final newline. */
    p = load("allow s from a to b");
    ck_assert_int_eq(check(p, "s", "a", "b", NULL), 0);
    vmsec_policy_free(p);
}
END_TEST

START_TEST(deep_wildcards_stay_linear)
{
    /* 120 stars against a 255-byte name that almost matches: a backtracking matcher would take
     * astronomically long; the linear one answers at once (no timing asserted, the test would
     * simply never finish). */
    char pat[256], name[256], rule[600];
    size_t k = 0;
    for (int i = 0; i < 120; i++) {
        pat[k++] = '*';
        pat[k++] = 'a';
    }
    pat[k++] = 'b';
    pat[k] = '\0';
    memset(name, 'a', 254);
    name[254] = '\0';
    ck_assert(!vmsec__policy_glob(pat, name));
    memset(name, 'a', 100); /* 100 a's then b: the pattern needs 120 */
    strcpy(name + 100, "b");
    ck_assert(!vmsec__policy_glob(pat, name));
    memset(name, 'a', 130);
    strcpy(name + 130, "b");
    ck_assert(vmsec__policy_glob(pat, name));
    snprintf(rule, sizeof(rule), "allow s from %s to t\n", pat);
    vmsec_policy *p = load(rule);
    memset(name, 'a', 254);
    name[254] = '\0';
    ck_assert_int_eq(check(p, "s", name, "t", NULL), VMSEC_EDENIED);
    vmsec_policy_free(p);
    /* Matcher semantics. */
    ck_assert(vmsec__policy_glob("*", ""));
    ck_assert(vmsec__policy_glob("web-*", "web-"));
    ck_assert(vmsec__policy_glob("web-*", "web-12"));
    ck_assert(!vmsec__policy_glob("web-*", "web"));
    ck_assert(vmsec__policy_glob("?b*c", "abxxc"));
    ck_assert(!vmsec__policy_glob("?b*c", "bxxc"));
    ck_assert(vmsec__policy_glob("*a*b", "xxaxxb"));
    ck_assert(!vmsec__policy_glob("*a*b", "xxbxxa"));
    ck_assert(vmsec__policy_glob("a**b", "ab"));
}
END_TEST

START_TEST(load_file_and_errors)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/p.conf", dir);
    const char *t = "service s port 9\nallow s from a to b\nallow s from a to\n";
    vt_write_file(path, t, strlen(t), 0644);
    vmsec_policy *p = NULL;
    ck_assert_int_eq(vmsec_policy_load_file(&p, path), VMSEC_EFORMAT);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof(want), "%s:3: ", path);
    ck_assert_msg(strncmp(vmsec_error_last(), want, strlen(want)) == 0, "%s", vmsec_error_last());
    t = "service s port 9\nallow s from a to b\n";
    vt_write_file(path, t, strlen(t), 0644);
    ck_assert_int_eq(vmsec_policy_load_file(&p, path), 0);
    ck_assert_str_eq(vmsec_policy_name(p), path);
    vmsec_policy_free(p);
    /* A file cut short before its last newline (read while being written) is refused whole,
     * even though the prefix parses. */
    t = "service s port 9\nallow s from a to b\nallow s from a to vm12";
    vt_write_file(path, t, strlen(t) - 1, 0644);
    ck_assert_int_eq(vmsec_policy_load_file(&p, path), VMSEC_EFORMAT);
    ck_assert_ptr_null(p);
    ck_assert_msg(strncmp(vmsec_error_last(), want, strlen(want)) == 0, "%s", vmsec_error_last());
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "no terminating newline"));
    vt_write_file(path, "", 0, 0644); /* an empty file is complete: it denies everything */
    ck_assert_int_eq(vmsec_policy_load_file(&p, path), 0);
    ck_assert_uint_eq(vmsec_policy_rule_count(p), 0);
    vmsec_policy_free(p);
    snprintf(path, sizeof(path), "%s/missing", dir);
    ck_assert_int_eq(vmsec_policy_load_file(&p, path), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec_policy_load_file(&p, dir), VMSEC_EIO);
    vt_rmtree(dir);
}
END_TEST

START_TEST(many_rules_and_members)
{
    /* A large but legal policy: 5000 rules and a 300-member group. */
    size_t cap = 5000 * 48 + 4096 * 12 + 64, len = 0;
    char *t = malloc(cap);
    len += (size_t)snprintf(t + len, cap - len, "group big =");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(t + len, cap - len, " m%d", i);
    len += (size_t)snprintf(t + len, cap - len, "\n");
    for (int i = 0; i < 5000; i++)
        len += (size_t)snprintf(t + len, cap - len, "deny s%d from a%d to b\n", i, i);
    len += (size_t)snprintf(t + len, cap - len, "allow s from @big to b\n");
    vmsec_policy *p = NULL;
    ck_assert_int_eq(vmsec_policy_load_string(&p, t, len, "t.conf"), 0);
    ck_assert_int_eq(check(p, "s", "m299", "b", NULL), 0);
    ck_assert_int_eq(check(p, "s7", "a7", "b", NULL), VMSEC_EDENIED);
    vmsec_policy_free(p);
    free(t);
}
END_TEST

START_TEST(random_bytes_fail_cleanly)
{
    /* Random and mutated policies: every load either succeeds or fails with a FILE:LINE message;
     * nothing crashes, and a successful load evaluates. */
    static const char *words[] = {"allow", "deny", "group", "service", "from", "to", "port", "=", "*", "@g",
                                  "tag:x", "web-*", "a", "b", "5000", "#", "\t", " ", "\n", "\r\n", "?"};
    char text[2048];
    uint32_t x = 88172645u;
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = 0;
        int n = 1 + (int)(x % 40);
        for (int i = 0; i < n && len < sizeof(text) - 16; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if (x % 7 == 0) {
                text[len++] = (char)(x >> 8); /* any byte, NUL included */
            } else {
                const char *w = words[(x >> 4) % (sizeof(words) / sizeof(words[0]))];
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%s ", w);
            }
        }
        vmsec_policy *p = NULL;
        int rc = vmsec_policy_load_string(&p, text, len, "r.conf");
        if (rc == 0) {
            ck_assert_ptr_nonnull(p);
            rc = check(p, "a", "a", "b", NULL);
            ck_assert(rc == 0 || rc == VMSEC_EDENIED);
            vmsec_policy_free(p);
        } else {
            ck_assert_ptr_null(p);
            ck_assert_msg(strncmp(vmsec_error_last(), "r.conf:", 7) == 0, "%s", vmsec_error_last());
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, first_match_wins_and_default_deny);
    tcase_add_test(tc, empty_and_null_policy_deny_everything);
    tcase_add_test(tc, groups_and_tags);
    tcase_add_test(tc, host_side_is_matched_only_by_name);
    tcase_add_test(tc, remote_names_need_a_remote_selector);
    tcase_add_test(tc, syntax_errors_name_file_and_line);
    tcase_add_test(tc, hostile_bytes);
    tcase_add_test(tc, deep_wildcards_stay_linear);
    tcase_add_test(tc, load_file_and_errors);
    tcase_add_test(tc, many_rules_and_members);
    tcase_add_test(tc, random_bytes_fail_cleanly);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
