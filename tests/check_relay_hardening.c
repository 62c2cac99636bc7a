/* SPDX-License-Identifier: ISC */
/* Relay hardening: who may reach the unix listener, policy reloads from half-written files, and
 * the rate limit on refusal records in the audit. */
#include <signal.h>
#include <grp.h>
#include <sys/wait.h>
#include <time.h>

#include "relay_testutil.h"

static int64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool require_all(void)
{
    const char *v = getenv("VMSEC_REQUIRE_ALL");
    return v && *v && strcmp(v, "0") != 0;
}

/* Connects to path as uid/gid 65534 (nobody) in a child; returns the child's connect() errno,
 * 0 if it connected. */
static int connect_as_nobody(const char *path)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(100);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0)
            _exit(101);
        _exit(connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0 ? 0 : (errno & 0x7f));
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_lt(WEXITSTATUS(status), 100);
    return WEXITSTATUS(status);
}

START_TEST(unix_listener_is_owner_only_whatever_the_umask)
{
    char dir[PATH_MAX], sock[PATH_MAX + 16];
    vt_tmpdir(dir, sizeof(dir));
    /* The directory is open to all, so only the socket's own mode can keep others out. */
    ck_assert_int_eq(chmod(dir, 0755), 0);
    snprintf(sock, sizeof(sock), "%s/r.sock", dir);
    vmsec_relay *r;
    ck_assert_int_eq(vmsec_relay_new(&r), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_fd(r, -1), 0);
    mode_t old = umask(0);
    int rc = vmsec_relay_listen_unix(r, sock, "host");
    umask(old);
    ck_assert_int_eq(rc, 0);
    struct stat st;
    ck_assert_int_eq(stat(sock, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    if (geteuid() != 0) {
        ck_assert_msg(!require_all(), "connecting as another user needs root (VMSEC_REQUIRE_ALL=1)");
    } else {
        ck_assert_int_eq(connect_as_nobody(sock), EACCES);
        /* The same child reaches a socket it may write to: the refusal above is the mode's. */
        ck_assert_int_eq(chmod(sock, 0666), 0);
        ck_assert_int_eq(connect_as_nobody(sock), 0);
    }
    vmsec_relay_free(r);
    vt_rmtree(dir);
}
END_TEST

/* A reload that catches the policy half-written: the truncated rules never take effect, the
 * relay fails closed (no-valid-policy) and the next complete file restores the decisions. */
START_TEST(reload_of_a_truncated_policy_is_refused)
{
    static const char full[] = "service echo port 5000\n"
                               "deny echo from a to vm1\n"
                               "allow echo from a to vm*\n";
    struct rt t;
    rt_start(&t, NULL);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/relay.conf", t.dir);
    vt_write_file(path, full, strlen(full), 0644);
    ck_assert_int_eq(vmsec_relay_load_policy(t.relay, path), 0);
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "vm1", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"decision\":\"deny\"", "\"rule\":\"", "relay.conf:2\"", NULL), 1);
    /* Cut after "deny echo from a to vm": a prefix that parses and would allow a to vm1. */
    size_t cut = strlen("service echo port 5000\ndeny echo from a to vm");
    vt_write_file(path, full, cut, 0644);
    ck_assert_int_eq(vmsec_relay_load_policy(t.relay, path), VMSEC_EFORMAT);
    ck_assert_msg(strstr(vmsec_error_last(), "relay.conf:2: last line has no terminating newline"), "%s",
                  vmsec_error_last());
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"policy\"", "\"status\":\"invalid\"",
                                    "no terminating newline", "\"effect\":\"deny-all\"", NULL),
                     1);
    fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "vm1", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"decision\":\"deny\"", "\"rule\":\"no-valid-policy\"", NULL), 1);
    ck_assert_int_eq(rt_audit_count(&t, "\"decision\":\"allow\"", NULL), 0);
    /* The complete file, renamed into place, brings the previous decisions back. */
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s/relay.conf.new", t.dir);
    vt_write_file(tmp, full, strlen(full), 0644);
    ck_assert_int_eq(rename(tmp, path), 0);
    ck_assert_int_eq(vmsec_relay_load_policy(t.relay, path), 0);
    fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "vm1", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"decision\":\"deny\"", "relay.conf:2\"", NULL), 2);
    rt_stop(&t);
}
END_TEST

/* Sum of "count" over the refusals-suppressed records about source a. */
static unsigned long suppressed_total(struct rt *t, int *lines)
{
    unsigned long total = 0;
    *lines = 0;
    for (const char *p = t->audit; p && (p = strstr(p, "\"event\":\"refusals-suppressed\"")); p++) {
        const char *nl = strchr(p, '\n'), *c = strstr(p, "\"count\":");
        ck_assert_ptr_nonnull(c);
        ck_assert(c < nl);
        ck_assert_msg(strstr(p, "\"source\":\"a\"") < nl, "%.*s", (int)(nl - p), p);
        ck_assert(strstr(p, "\"interval_s\":1") < nl);
        total += strtoul(c + 8, NULL, 10);
        (*lines)++;
    }
    return total;
}

START_TEST(refusal_records_are_rate_limited_per_source)
{
    enum { N = 1000 };
    struct rt t;
    rt_start(&t, "service echo port 5000\nallow echo from a to ok\n");
    int64_t t0 = test_now_ms();
    for (int i = 0; i < N; i++) {
        int fd = rt_client(&t, 7, "a");
        ck_assert_int_eq(vmsec_relay_request(fd, "vm", "echo", 5000), VMSEC_EDENIED);
        close(fd);
        if (i == N / 2) { /* allowed (nobody listens, so unavailable): always recorded */
            fd = rt_client(&t, 7, "a");
            ck_assert_int_eq(vmsec_relay_request(fd, "ok", "echo", 5000), VMSEC_ECONNREFUSED);
            close(fd);
        }
    }
    int64_t elapsed = test_now_ms() - t0;
    /* Another source is not held back by the first one's flood. */
    int fd = rt_client(&t, 8, "b");
    ck_assert_int_eq(vmsec_relay_request(fd, "vm", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"source\":\"b\"", "\"decision\":\"deny\"", NULL), 1);
    ck_assert_int_eq(vmsec_relay_interrupt(t.relay), 0);
    ck_assert_int_eq(pthread_join(t.thread, NULL), 0);
    vmsec_relay_free(t.relay); /* writes the counts still pending */
    int denied = rt_audit_count(&t, "\"source\":\"a\"", "\"decision\":\"deny\"", NULL), aggregates;
    unsigned long suppressed = suppressed_total(&t, &aggregates);
    /* Every interval of 1 s that saw refusals writes at most 10 of them. */
    int intervals = (int)(elapsed / 1000) + 2;
    ck_assert_msg(denied >= 10 && denied <= 10 * intervals, "%d refusal records in %lld ms", denied,
                  (long long)elapsed);
    ck_assert_int_le(aggregates, intervals);
    ck_assert_uint_eq((unsigned long)denied + suppressed, N);
    ck_assert_int_eq(rt_audit_count(&t, "\"source\":\"a\"", "\"decision\":\"allow\"", "\"target\":\"ok\"", NULL),
                     1);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", "\"target\":\"ok\"", NULL), 1);
    vt_rmtree(t.dir);
    free(t.audit);
    pthread_mutex_destroy(&t.lock);
}
END_TEST

/* Runs one denied request through a relay whose audit callback is set; returns what the relay
 * wrote to standard error meanwhile (captured in a file). */
static size_t stderr_bytes_of_one_refusal(struct rt *t, bool explicit_fd2)
{
    char path[PATH_MAX];
    struct stat st;
    int saved = dup(2), cap, fd;
    snprintf(path, sizeof(path), "%s", "/tmp/vmsec-stderr-XXXXXX");
    ck_assert_int_ge(cap = mkstemp(path), 0);
    ck_assert_int_eq(dup2(cap, 2), 2);
    rt_start_with(t, "service echo port 5000\n", false);
    if (explicit_fd2)
        ck_assert_int_eq(vmsec_relay_set_audit_fd(t->relay, 2), 0);
    fd = rt_client(t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "vm", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(t, "\"decision\":\"deny\"", NULL), 1); /* the callback had it */
    rt_stop(t);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    ck_assert_int_eq(fstat(cap, &st), 0);
    close(cap);
    unlink(path);
    return (size_t)st.st_size;
}

/* An embedded relay that takes its audit records through a callback writes nothing to stderr,
 * unless it asks for stderr explicitly. */
START_TEST(audit_callback_replaces_stderr_unless_asked)
{
    struct rt t;
    ck_assert_uint_eq(stderr_bytes_of_one_refusal(&t, false), 0);
    ck_assert_uint_gt(stderr_bytes_of_one_refusal(&t, true), 0);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("relay-hardening");
    TCase *tc = tcase_create("relay-hardening");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, unix_listener_is_owner_only_whatever_the_umask);
    tcase_add_test(tc, reload_of_a_truncated_policy_is_refused);
    tcase_add_test(tc, refusal_records_are_rate_limited_per_source);
    tcase_add_test(tc, audit_callback_replaces_stderr_unless_asked);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
