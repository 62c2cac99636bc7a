/* SPDX-License-Identifier: ISC */
/* The relay's libvirt directory, against libvirt's in-process test driver loaded with
 * tests/data/relay-node.xml (three running domains: web-1 CID 5 tagged "frontend", db-1 CID 6,
 * novsock without a vsock device). */
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <pthread.h>

#include "testutil.h"
#include <vmsec.h>

#include "relay/relay_internal.h"

static char uri[PATH_MAX + 64];

static void set_uri(void)
{
    const char *src = getenv("top_srcdir");
    char abs[PATH_MAX];
    if (!realpath(src ? src : ".", abs)) {
        perror("realpath");
        exit(1);
    }
    snprintf(uri, sizeof(uri), "test://%s/tests/data/relay-node.xml", abs);
}

START_TEST(parse_domain_xml)
{
    uint32_t cid;
    char **tags;
    size_t n;
    const char *xml = "<domain><name>x</name><metadata>"
                      "<r:relay xmlns:r='https://vmsec.dev/xmlns/relay/1'><r:tag>a</r:tag><r:tag>b c</r:tag>"
                      "<r:tag>d</r:tag></r:relay>"
                      "<o:relay xmlns:o='urn:other'><o:tag>not-ours</o:tag></o:relay></metadata>"
                      "<devices><vsock model='virtio'><cid auto='no' address='42'/></vsock></devices></domain>";
    ck_assert_int_eq(vmsec__relay_dir_parse_xml(xml, &cid, &tags, &n), 0);
    ck_assert_uint_eq(cid, 42);
    ck_assert_uint_eq(n, 2); /* "b c" is not a valid tag; the foreign namespace is ignored */
    ck_assert_str_eq(tags[0], "a");
    ck_assert_str_eq(tags[1], "d");
    ck_assert_ptr_null(tags[2]);
    for (size_t i = 0; i < n; i++)
        free(tags[i]);
    free(tags);
    /* Reserved CIDs (0..2) and garbage are "no CID". */
    ck_assert_int_eq(vmsec__relay_dir_parse_xml("<domain><devices><vsock><cid address='2'/></vsock></devices></domain>",
                                                &cid, &tags, &n), 0);
    ck_assert_uint_eq(cid, 0);
    free(tags);
    ck_assert_int_eq(vmsec__relay_dir_parse_xml("<domain><devices><vsock><cid address='5x'/></vsock></devices></domain>",
                                                &cid, &tags, &n), 0);
    ck_assert_uint_eq(cid, 0);
    free(tags);
    ck_assert_int_eq(vmsec__relay_dir_parse_xml("<domain><unclosed>", &cid, &tags, &n), VMSEC_EFORMAT);
}
END_TEST

START_TEST(directory_maps_cids_names_and_tags)
{
    struct relay_directory *d;
    struct relay_ident id;
    ck_assert_msg(vmsec__relay_dir_open(&d, uri, 0) == 0, "%s", vmsec_error_last());
    ck_assert(vmsec__relay_dir_ready(d));
    ck_assert_int_eq(vmsec__relay_dir_by_cid(d, 5, &id), 0);
    ck_assert_str_eq(id.name, "web-1");
    ck_assert_uint_eq(strlen(id.uuid), 36);
    ck_assert_str_eq(id.tags[0], "frontend");
    ck_assert_ptr_null(id.tags[1]);
    ck_assert_int_eq(vmsec__relay_dir_check(d, &id), 0);
    vmsec__relay_ident_clear(&id);
    ck_assert_int_eq(vmsec__relay_dir_by_cid(d, 6, &id), 0);
    ck_assert_str_eq(id.name, "db-1");
    vmsec__relay_ident_clear(&id);
    ck_assert_int_eq(vmsec__relay_dir_by_cid(d, 99, &id), VMSEC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "CID 99"));
    ck_assert_int_eq(vmsec__relay_dir_by_name(d, "db-1", &id), 0);
    ck_assert_uint_eq(id.cid, 6);
    ck_assert_ptr_null(id.tags[0]);
    /* An identity the directory never gave (another UUID on the same CID) does not check. */
    id.uuid[0] = id.uuid[0] == '0' ? '1' : '0';
    ck_assert_int_eq(vmsec__relay_dir_check(d, &id), VMSEC_ESTATE);
    vmsec__relay_ident_clear(&id);
    ck_assert_int_eq(vmsec__relay_dir_by_name(d, "novsock", &id), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec__relay_dir_by_name(d, "nosuch", &id), VMSEC_ENOTFOUND);
    vmsec__relay_dir_free(d);
    ck_assert_int_eq(vmsec__relay_dir_open(&d, "test:///nonexistent/file.xml", 0), VMSEC_ELIBVIRT);
}
END_TEST

static void *run_thread(void *arg)
{
    ck_assert_int_eq(vmsec_relay_run(arg), 0);
    return NULL;
}

static int ask(const char *sock, const char *target)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(sock), sizeof(sun.sun_path));
    memcpy(sun.sun_path, sock, strlen(sock) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    int rc = vmsec_relay_request(fd, target, "echo", 10000);
    close(fd);
    return rc;
}

static char audit[8192];
static size_t audit_len;
static void on_audit(void *user, const char *line)
{
    (void)user;
    size_t l = strlen(line);
    if (audit_len + l + 2 < sizeof(audit)) {
        memcpy(audit + audit_len, line, l);
        audit[audit_len + l] = '\n';
        audit_len += l + 1;
    }
}

START_TEST(relay_uses_libvirt_tags_in_decisions)
{
    /* Host services (unix listener) may reach domains tagged "frontend": web-1 is allowed (and then
     * unreachable: the test driver runs no guest), db-1 is denied. */
    char dir[PATH_MAX], sock[PATH_MAX + 16];
    vt_tmpdir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/r.sock", dir);
    const char *text = "service echo port 5000\nallow echo from host to tag:frontend\n";
    vmsec_relay *r;
    vmsec_policy *p;
    ck_assert_int_eq(vmsec_relay_new(&r), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_fd(r, -1), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_callback(r, on_audit, NULL), 0);
    ck_assert_int_eq(vmsec_policy_load_string(&p, text, strlen(text), "tags.conf"), 0);
    ck_assert_int_eq(vmsec_relay_set_policy(r, p), 0);
    ck_assert_int_eq(vmsec_relay_use_libvirt(r, uri), 0);
    ck_assert_int_eq(vmsec_relay_set_limit(r, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS, 300), 0);
    ck_assert_int_eq(vmsec_relay_listen_unix(r, sock, "host"), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, run_thread, r), 0);
    ck_assert_int_eq(ask(sock, "web-1"), VMSEC_ECONNREFUSED);
    ck_assert_int_eq(ask(sock, "db-1"), VMSEC_EDENIED);
    ck_assert_int_eq(vmsec_relay_interrupt(r), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    vmsec_relay_free(r);
    audit[audit_len] = '\0';
    ck_assert_ptr_nonnull(strstr(audit, "\"target\":\"web-1\",\"service\":\"echo\",\"decision\":\"allow\",\"rule\":\"tags.conf:2\""));
    ck_assert_ptr_nonnull(strstr(audit, "\"target\":\"db-1\",\"service\":\"echo\",\"decision\":\"deny\",\"rule\":\"tags.conf:default\""));
    ck_assert_ptr_nonnull(strstr(audit, "\"event\":\"unavailable\""));
    vt_rmtree(dir);
}
END_TEST

/* Allowed requests learn whether the target runs: a missing domain is "no-such-target", a running
 * one (unreachable here: the test driver runs no guest) is tried, and its UUID audited. */
START_TEST(relay_reports_no_such_target_and_uuids)
{
    char dir[PATH_MAX], sock[PATH_MAX + 16];
    vt_tmpdir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/r.sock", dir);
    const char *text = "service echo port 5000\nallow echo from host to *\n";
    vmsec_relay *r;
    vmsec_policy *p;
    audit_len = 0;
    ck_assert_int_eq(vmsec_relay_new(&r), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_fd(r, -1), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_callback(r, on_audit, NULL), 0);
    ck_assert_int_eq(vmsec_policy_load_string(&p, text, strlen(text), "all.conf"), 0);
    ck_assert_int_eq(vmsec_relay_set_policy(r, p), 0);
    ck_assert_int_eq(vmsec_relay_set_directory_resync(r, 60000), 0);
    ck_assert_int_eq(vmsec_relay_use_libvirt(r, uri), 0);
    ck_assert_int_eq(vmsec_relay_set_directory_resync(r, 30000), 0);
    ck_assert_int_eq(vmsec_relay_set_limit(r, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS, 300), 0);
    ck_assert_int_eq(vmsec_relay_listen_unix(r, sock, "host"), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, run_thread, r), 0);
    ck_assert_int_eq(ask(sock, "nosuch"), VMSEC_ENOTFOUND);
    ck_assert_int_eq(ask(sock, "novsock"), VMSEC_ENOTFOUND);
    ck_assert_int_eq(ask(sock, "db-1"), VMSEC_ECONNREFUSED);
    ck_assert_int_eq(vmsec_relay_interrupt(r), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    vmsec_relay_free(r);
    audit[audit_len] = '\0';
    ck_assert_ptr_nonnull(strstr(audit, "\"target\":\"nosuch\",\"service\":\"echo\",\"reason\":\"no-such-target\"}"));
    ck_assert_ptr_nonnull(strstr(audit, "\"target\":\"novsock\",\"service\":\"echo\",\"reason\":\"no-such-target\"}"));
    const char *db = strstr(audit, "\"event\":\"unavailable\",\"session\":3");
    ck_assert_ptr_nonnull(db);
    ck_assert_ptr_null(strstr(audit, "no-such-target\",\"target_uuid"));
    ck_assert_msg(strstr(db, "\"reason\":\"connect-") && strstr(db, "\"target_uuid\":\""), "%s", db);
    vt_rmtree(dir);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    set_uri();
    Suite *s = suite_create("relay_dir");
    TCase *tc = tcase_create("relay_dir");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parse_domain_xml);
    tcase_add_test(tc, directory_maps_cids_names_and_tags);
    tcase_add_test(tc, relay_uses_libvirt_tags_in_decisions);
    tcase_add_test(tc, relay_reports_no_such_target_and_uuids);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
