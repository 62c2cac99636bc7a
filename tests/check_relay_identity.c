/* SPDX-License-Identifier: ISC */
/* The relay's identity over time against a real libvirtd (tests/relay-identity.sh starts a
 * private one serving libvirt's test driver at $VMSEC_TEST_LIBVIRT_URI, and gives the commands
 * that kill it and start it again): a CID reused by another domain within a second, a tag
 * revoked on a running domain (through events, and with events lost through the periodic
 * resync), a libvirtd restart while the relay runs, and a deny-all policy that answers without
 * asking libvirt anything.
 *
 * Callers come in on the relay's unix listener bound to "c.<CID>.<NAME>.<n>"; a test hook
 * (vmsec__relay_set_peer_cid) makes the relay identify them through the directory by that CID,
 * exactly as it identifies vsock callers by the kernel's peer CID. Nothing listens on the
 * domains' CIDs, so an allowed request ends UNAVAILABLE, and the audit says why. */
#include <signal.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "relay_testutil.h"

#include "relay/relay_internal.h"

#define NS "https://vmsec.dev/xmlns/relay/1"
#define ADMIN_META "<vmsec:relay xmlns:vmsec='" NS "'><vmsec:tag>admin</vmsec:tag></vmsec:relay>"

static const char *lv_uri;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void lv_run(const char *which)
{
    const char *cmd = getenv(which);
    ck_assert_msg(cmd, "%s not set (run through tests/relay-identity.sh)", which);
    ck_assert_int_eq(system(cmd), 0);
}

/* A read-write connection of the test's own; it also keeps the test driver's state alive. */
static virConnectPtr lv_open(void)
{
    virConnectPtr c = virConnectOpen(lv_uri);
    ck_assert_msg(c, "%s: %s", lv_uri, virGetLastErrorMessage());
    return c;
}

/* Starts (defining it) domain name with vsock CID cid and the given metadata; returns its UUID. */
static void dom_start(virConnectPtr c, const char *name, unsigned cid, const char *meta, char uuid[RELAY_UUID_LEN])
{
    char xml[2048];
    snprintf(xml, sizeof(xml),
             "<domain type='test'><name>%s</name><memory>65536</memory><os><type>hvm</type></os>"
             "<metadata>%s</metadata>"
             "<devices><vsock model='virtio'><cid auto='no' address='%u'/></vsock></devices></domain>",
             name, meta ? meta : "", cid);
    virDomainPtr d = virDomainDefineXML(c, xml);
    ck_assert_msg(d, "define %s: %s", name, virGetLastErrorMessage());
    ck_assert_msg(virDomainCreate(d) == 0, "start %s: %s", name, virGetLastErrorMessage());
    if (uuid)
        ck_assert_int_eq(virDomainGetUUIDString(d, uuid), 0);
    virDomainFree(d);
}

static void dom_destroy(virConnectPtr c, const char *name)
{
    virDomainPtr d = virDomainLookupByName(c, name);
    ck_assert_msg(d, "%s: %s", name, virGetLastErrorMessage());
    ck_assert_msg(virDomainDestroy(d) == 0, "destroy %s: %s", name, virGetLastErrorMessage());
    virDomainFree(d);
}

/* Removes the vmsec relay metadata (and so every tag) of a running domain, live. */
static void dom_untag(virConnectPtr c, const char *name)
{
    virDomainPtr d = virDomainLookupByName(c, name);
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, NULL, NULL, NS, VIR_DOMAIN_AFFECT_LIVE) == 0,
                  "%s", virGetLastErrorMessage());
    virDomainFree(d);
}

/* Removes every domain a test made, so the next one starts from the test driver's own state. */
static void lv_clean(virConnectPtr c)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, 0);
    ck_assert_int_ge(n, 0);
    for (int i = 0; i < n; i++) {
        if (strncmp(virDomainGetName(doms[i]), "rid-", 4) == 0) {
            if (virDomainIsActive(doms[i]) == 1)
                virDomainDestroy(doms[i]);
            virDomainUndefine(doms[i]);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
}

static int peer_cid(int fd, uint32_t *cid)
{
    struct sockaddr_un sun;
    socklen_t sl = sizeof(sun);
    unsigned c;
    if (getpeername(fd, (struct sockaddr *)&sun, &sl) < 0 || sl <= offsetof(struct sockaddr_un, sun_path))
        return VMSEC_ENOTFOUND;
    const char *base = strrchr(sun.sun_path, '/');
    if (!base || sscanf(base + 1, "c.%u.", &c) != 1)
        return VMSEC_ENOTFOUND;
    *cid = c;
    return 0;
}

/* A relay whose callers and targets are known through a libvirt directory. */
static struct relay_directory *relay_start(struct rt *t, const char *policy, unsigned int resync_ms)
{
    struct relay_directory *d;
    vmsec_policy *p = NULL;
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    vt_tmpdir(t->dir, sizeof(t->dir));
    snprintf(t->sock, sizeof(t->sock), "%s/relay.sock", t->dir);
    ck_assert_int_eq(vmsec_relay_new(&t->relay), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_fd(t->relay, -1), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_callback(t->relay, rt_audit, t), 0);
    ck_assert_int_eq(vmsec_policy_load_string(&p, policy, strlen(policy), "id.conf"), 0);
    ck_assert_int_eq(vmsec_relay_set_policy(t->relay, p), 0);
    ck_assert_msg(vmsec__relay_dir_open(&d, lv_uri, 0) == 0, "%s", vmsec_error_last());
    vmsec__relay_use_directory(t->relay, d);
    ck_assert_int_eq(vmsec_relay_set_directory_resync(t->relay, resync_ms), 0);
    vmsec__relay_set_peer_cid(t->relay, peer_cid);
    ck_assert_int_eq(vmsec_relay_set_limit(t->relay, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS, 300), 0);
    ck_assert_int_eq(vmsec_relay_listen_unix(t->relay, t->sock, "host"), 0);
    ck_assert_int_eq(pthread_create(&t->thread, NULL, rt_thread, t), 0);
    return d;
}

static int ask(struct rt *t, unsigned cid, const char *target)
{
    int fd = rt_client(t, cid, "caller");
    int rc = vmsec_relay_request(fd, target, "echo", 5000);
    close(fd);
    return rc;
}

static size_t audit_mark(struct rt *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->audit_len;
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* Audit lines written after mark that contain every fragment (NULL-terminated). */
static int audit_since(struct rt *t, size_t mark, ...)
{
    int count = 0;
    pthread_mutex_lock(&t->lock);
    for (char *line = t->audit ? t->audit + mark : NULL; line && *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        va_list ap;
        va_start(ap, mark);
        bool all = true;
        for (const char *f; (f = va_arg(ap, const char *));)
            all = all && strstr(line, f);
        va_end(ap);
        *nl = '\n';
        count += all;
        line = nl + 1;
    }
    pthread_mutex_unlock(&t->lock);
    return count;
}

/* The name and UUID the directory gives for cid now ("" if none). */
static int dir_name(struct relay_directory *d, uint32_t cid, char name[256], char uuid[RELAY_UUID_LEN])
{
    struct relay_ident id;
    int rc = vmsec__relay_dir_by_cid(d, cid, &id);
    snprintf(name, 256, "%s", rc == 0 ? id.name : "");
    if (uuid)
        snprintf(uuid, RELAY_UUID_LEN, "%s", rc == 0 ? id.uuid : "");
    vmsec__relay_ident_clear(&id);
    return rc;
}

static bool dir_has_tag(struct relay_directory *d, uint32_t cid, const char *tag)
{
    struct relay_ident id;
    bool found = false;
    if (vmsec__relay_dir_by_cid(d, cid, &id) == 0)
        for (size_t i = 0; id.tags[i]; i++)
            found = found || strcmp(id.tags[i], tag) == 0;
    vmsec__relay_ident_clear(&id);
    return found;
}

static const char *cid_policy = "service echo port 5000\n"
                                "allow echo from tag:admin to *\n"
                                "allow echo from rid-client to rid-alice\n";

/* alice (CID 7, tag admin) is destroyed and mallory started on CID 7 at once: from then on no
 * caller on CID 7 is taken for alice, and requests for alice never reach mallory. */
START_TEST(cid_reused_by_another_domain_within_a_second)
{
    virConnectPtr c = lv_open();
    lv_clean(c);
    char alice[RELAY_UUID_LEN], mallory[RELAY_UUID_LEN], fragment[128];
    dom_start(c, "rid-alice", 7, ADMIN_META, alice);
    dom_start(c, "rid-client", 9, NULL, NULL);
    struct rt t;
    struct relay_directory *d = relay_start(&t, cid_policy, RELAY_DIR_RESYNC_MS);
    ck_assert_int_eq(ask(&t, 7, "rid-nosuch"), VMSEC_ENOTFOUND); /* allowed by tag admin */
    ck_assert_int_eq(rt_audit_count(&t, "\"source\":\"rid-alice\"", "\"decision\":\"allow\"", alice, NULL), 1);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", "no-such-target", NULL), 1);
    /* Allowed and looked up: nothing listens on CID 7, so the connection fails or times out. */
    ck_assert_int_eq(ask(&t, 9, "rid-alice"), VMSEC_ECONNREFUSED);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", "\"target\":\"rid-alice\"", alice, NULL), 1);
    ck_assert_int_eq(rt_audit_count(&t, "\"target\":\"rid-alice\"", "no-such-target", NULL), 0);

    size_t mark = audit_mark(&t);
    dom_destroy(c, "rid-alice");
    dom_start(c, "rid-mallory", 7, NULL, mallory);
    char name[256], uuid[RELAY_UUID_LEN];
    int64_t t0 = now_ms();
    bool saw_mallory = false;
    while (now_ms() - t0 < 1500) {
        if (dir_name(d, 7, name, uuid) == 0) {
            ck_assert_str_eq(uuid, mallory);
            saw_mallory = true;
        }
        ck_assert_int_eq(ask(&t, 7, "rid-nosuch"), VMSEC_EDENIED);
        int rc = ask(&t, 9, "rid-alice"); /* unreachable while listed, then no such target */
        ck_assert_msg(rc == VMSEC_ECONNREFUSED || rc == VMSEC_ENOTFOUND, "rc %d", rc);
        sleep_ms(50);
    }
    ck_assert_msg(saw_mallory, "the directory never saw mallory on CID 7");
    ck_assert_int_eq(audit_since(&t, mark, "\"source\":\"rid-alice\"", NULL), 0);
    ck_assert_int_eq(audit_since(&t, mark, "\"decision\":\"allow\"", "\"source_cid\":7", NULL), 0);
    ck_assert_int_gt(audit_since(&t, mark, "\"source\":\"rid-mallory\"", "\"decision\":\"deny\"", mallory, NULL), 0);
    snprintf(fragment, sizeof(fragment), "\"target_uuid\":\"%s\"", mallory);
    ck_assert_int_eq(audit_since(&t, mark, fragment, NULL), 0);
    ck_assert_int_eq(audit_since(&t, mark, "\"target\":\"rid-alice\"", "\"reason\":\"connect-", NULL), 0);
    ck_assert_int_gt(audit_since(&t, mark, "\"target\":\"rid-alice\"", "\"reason\":\"no-such-target\"", NULL), 0);
    rt_stop(&t);
    lv_clean(c);
    virConnectClose(c);
}
END_TEST

/* A tag removed from a running domain withdraws its grant within moments, through the metadata
 * event: the periodic resync is a minute away. */
START_TEST(tag_revoked_on_a_running_domain_through_events)
{
    virConnectPtr c = lv_open();
    lv_clean(c);
    dom_start(c, "rid-alice", 7, ADMIN_META, NULL);
    struct rt t;
    struct relay_directory *d = relay_start(&t, cid_policy, 60000);
    ck_assert_int_eq(ask(&t, 7, "rid-nosuch"), VMSEC_ENOTFOUND);
    uint64_t syncs = vmsec__relay_dir_syncs(d);
    dom_untag(c, "rid-alice");
    int64_t t0 = now_ms();
    int rc;
    while ((rc = ask(&t, 7, "rid-nosuch")) != VMSEC_EDENIED && now_ms() - t0 < 3000)
        sleep_ms(20);
    ck_assert_int_eq(rc, VMSEC_EDENIED);
    ck_assert_int_lt(now_ms() - t0, 2000);
    ck_assert_uint_gt(vmsec__relay_dir_syncs(d), syncs); /* the event asked for it */
    ck_assert_int_gt(rt_audit_count(&t, "\"source\":\"rid-alice\"", "\"decision\":\"deny\"", "id.conf:default", NULL),
                     0);
    rt_stop(&t);
    lv_clean(c);
    virConnectClose(c);
}
END_TEST

/* With no event at all, the periodic resync still bounds how long a revoked tag or a reused CID
 * is believed: here 500 ms, plus the time a sync takes (the margin allows for a loaded host). */
START_TEST(lost_events_are_bounded_by_the_resync)
{
    virConnectPtr c = lv_open();
    lv_clean(c);
    char mallory[RELAY_UUID_LEN], name[256], uuid[RELAY_UUID_LEN];
    dom_start(c, "rid-alice", 7, ADMIN_META, NULL);
    struct relay_directory *d;
    ck_assert_msg(vmsec__relay_dir_open(&d, lv_uri, RELAY_DIR_NO_EVENTS) == 0, "%s", vmsec_error_last());
    vmsec__relay_dir_set_resync(d, 500);
    ck_assert(dir_has_tag(d, 7, "admin"));
    dom_untag(c, "rid-alice");
    int64_t t0 = now_ms();
    while (dir_has_tag(d, 7, "admin") && now_ms() - t0 < 3000)
        sleep_ms(10);
    ck_assert_int_lt(now_ms() - t0, 2000);
    ck_assert(!dir_has_tag(d, 7, "admin"));

    dom_destroy(c, "rid-alice");
    dom_start(c, "rid-mallory", 7, NULL, mallory);
    t0 = now_ms();
    while ((dir_name(d, 7, name, uuid) != 0 || strcmp(uuid, mallory) != 0) && now_ms() - t0 < 3000)
        sleep_ms(10);
    ck_assert_int_lt(now_ms() - t0, 2000);
    ck_assert_str_eq(name, "rid-mallory");
    vmsec__relay_dir_free(d);
    lv_clean(c);
    virConnectClose(c);
}
END_TEST

/* A deny-all policy answers every request, for targets that exist or not, from the table alone:
 * libvirt is never enumerated (the resync is a minute away and nothing changes). */
START_TEST(deny_all_answers_missing_targets_without_libvirt)
{
    virConnectPtr c = lv_open();
    lv_clean(c);
    dom_start(c, "rid-alice", 7, NULL, NULL);
    dom_start(c, "rid-client", 9, NULL, NULL);
    struct rt t;
    struct relay_directory *d = relay_start(&t, "service echo port 5000\n", 60000);
    uint64_t syncs = vmsec__relay_dir_syncs(d);
    char target[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20; i++) {
            snprintf(target, sizeof(target), "rid-missing-%d-%d", round, i);
            ck_assert_int_eq(ask(&t, 9, target), VMSEC_EDENIED);
        }
        ck_assert_int_eq(ask(&t, 9, "rid-alice"), VMSEC_EDENIED);
        sleep_ms(600); /* the old directory enumerated libvirt on a miss once per second */
    }
    ck_assert_uint_eq(vmsec__relay_dir_syncs(d), syncs);
    uint64_t denied;
    ck_assert_int_eq(vmsec_relay_stat(t.relay, VMSEC_RELAY_STAT_DENIED, &denied), 0);
    ck_assert_uint_eq(denied, 63);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", NULL), 0);
    rt_stop(&t);
    lv_clean(c);
    virConnectClose(c);
}
END_TEST

/* libvirtd is killed and started again while the relay runs: meanwhile every caller is unknown
 * (fail closed); afterwards the relay has resynced, alice (wiped with the daemon's state) is
 * never identified again, and a new domain on her CID is seen through the new connection's
 * events. */
START_TEST(libvirtd_restart_while_the_relay_runs)
{
    virConnectPtr c = lv_open();
    lv_clean(c);
    char bob[RELAY_UUID_LEN], name[256], uuid[RELAY_UUID_LEN];
    dom_start(c, "rid-alice", 7, ADMIN_META, NULL);
    struct rt t;
    struct relay_directory *d = relay_start(&t, cid_policy, 60000);
    ck_assert_int_eq(ask(&t, 7, "rid-nosuch"), VMSEC_ENOTFOUND);
    virConnectClose(c);

    lv_run("VMSEC_TEST_LIBVIRTD_STOP");
    int64_t t0 = now_ms();
    while (vmsec__relay_dir_ready(d) && now_ms() - t0 < 3000)
        sleep_ms(10);
    ck_assert_msg(!vmsec__relay_dir_ready(d), "the directory did not notice libvirtd went away");
    size_t mark = audit_mark(&t);
    ck_assert_int_eq(ask(&t, 7, "rid-nosuch"), VMSEC_EDENIED);
    ck_assert_int_eq(audit_since(&t, mark, "\"event\":\"refused\"", "unknown-source", NULL), 1);

    lv_run("VMSEC_TEST_LIBVIRTD_START");
    c = lv_open();
    t0 = now_ms();
    while (!vmsec__relay_dir_ready(d) && now_ms() - t0 < 15000)
        sleep_ms(20);
    ck_assert_msg(vmsec__relay_dir_ready(d), "the directory did not resync after the restart");
    ck_assert_int_eq(dir_name(d, 7, name, NULL), VMSEC_ENOTFOUND);
    ck_assert_int_eq(ask(&t, 7, "rid-nosuch"), VMSEC_EDENIED);

    dom_start(c, "rid-bob", 7, NULL, bob);
    t0 = now_ms();
    while (dir_name(d, 7, name, uuid) != 0 && now_ms() - t0 < 3000)
        sleep_ms(10);
    ck_assert_int_lt(now_ms() - t0, 2000); /* an event, not the resync a minute away */
    ck_assert_str_eq(uuid, bob);
    ck_assert_int_eq(ask(&t, 7, "rid-nosuch"), VMSEC_EDENIED);
    ck_assert_int_eq(audit_since(&t, mark, "\"source\":\"rid-alice\"", NULL), 0);
    ck_assert_int_eq(audit_since(&t, mark, "\"source\":\"rid-bob\"", "\"decision\":\"deny\"", bob, NULL), 1);
    rt_stop(&t);
    lv_clean(c);
    virConnectClose(c);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    lv_uri = getenv("VMSEC_TEST_LIBVIRT_URI");
    if (!lv_uri) {
        fprintf(stderr, "VMSEC_TEST_LIBVIRT_URI not set: run tests/relay-identity.sh\n");
        return 1;
    }
    Suite *s = suite_create("relay-identity");
    TCase *tc = tcase_create("relay-identity");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, cid_reused_by_another_domain_within_a_second);
    tcase_add_test(tc, tag_revoked_on_a_running_domain_through_events);
    tcase_add_test(tc, lost_events_are_bounded_by_the_resync);
    tcase_add_test(tc, deny_all_answers_missing_targets_without_libvirt);
    tcase_add_test(tc, libvirtd_restart_while_the_relay_runs);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
