/* SPDX-License-Identifier: ISC */
/* Relay over unix sockets with injected identities: forwarding, policy decisions and audit,
 * wire errors, half-close, back-pressure with a slow target, limits, reload, peer map, and the
 * splice path's edges (copying where splice is refused, no SIGPIPE from a peer that went away). */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdbool.h>

#include <jansson.h>

#include "relay_testutil.h"

static const char *policy_text = "service echo port 5000\n"
                                 "service sink port 5001\n"
                                 "service nowhere port 5002\n"
                                 "group clients = a b\n"
                                 "deny echo from b to target-2\n"
                                 "allow echo from @clients to target-*\n"
                                 "allow sink from @clients to slow\n"
                                 "allow nowhere from * to *\n"
                                 "allow undefined-service from * to *\n";

/* An echo server for one connection: records the origin header, echoes until EOF, then
 * half-closes (so a test sees the EOF come back through the relay). */
struct echo {
    int lfd;
    char domain[256], service[65];
    uint32_t cid;
    int origin_rc;
    size_t echoed;
    pthread_t thread;
};

static void *echo_thread(void *arg)
{
    struct echo *e = arg;
    int fd = accept(e->lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    e->origin_rc = vmsec_relay_origin_read(fd, 5000, e->domain, sizeof(e->domain), &e->cid, e->service,
                                           sizeof(e->service));
    if (e->origin_rc == 0) {
        uint8_t buf[8192];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
            rt_write_all(fd, buf, (size_t)n);
            e->echoed += (size_t)n;
        }
        shutdown(fd, SHUT_WR);
        /* Wait for the relay to close its side before closing ours. */
        while (recv(fd, buf, sizeof(buf), 0) > 0) {
        }
    }
    close(fd);
    return NULL;
}

static void echo_start(struct echo *e, struct rt *t, const char *domain, unsigned port)
{
    memset(e, 0, sizeof(*e));
    e->lfd = rt_target_listen(t, domain, port);
    ck_assert_int_eq(pthread_create(&e->thread, NULL, echo_thread, e), 0);
}

static void echo_join(struct echo *e)
{
    ck_assert_int_eq(pthread_join(e->thread, NULL), 0);
    close(e->lfd);
}

/* Sends len pseudo-random bytes through the relay and checks they come back unchanged, while a
 * second thread reads (so neither side blocks the other). */
struct pumper {
    int fd;
    const uint8_t *data;
    size_t len;
};

static void *send_thread(void *arg)
{
    struct pumper *p = arg;
    rt_write_all(p->fd, p->data, p->len);
    shutdown(p->fd, SHUT_WR);
    return NULL;
}

static void roundtrip(int fd, size_t len)
{
    uint8_t *data = malloc(len), *back = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 131 + (i >> 9));
    struct pumper p = {.fd = fd, .data = data, .len = len};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, send_thread, &p), 0);
    ck_assert_uint_eq(rt_read_all(fd, back, len + 1), len); /* then EOF: the half-close came back */
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert(memcmp(data, back, len) == 0);
    free(data);
    free(back);
}

START_TEST(allowed_pair_forwards_bytes_both_ways)
{
    struct rt t;
    struct echo e;
    rt_start(&t, policy_text);
    echo_start(&e, &t, "target-1", 5000);
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-1", "echo", 5000), 0);
    roundtrip(fd, 3u << 20);
    close(fd);
    echo_join(&e);
    ck_assert_int_eq(e.origin_rc, 0);
    ck_assert_str_eq(e.domain, "a");
    ck_assert_uint_eq(e.cid, 7);
    ck_assert_str_eq(e.service, "echo");
    ck_assert_uint_eq(e.echoed, 3u << 20);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"decision\"", "\"source\":\"a\"", "\"source_cid\":7",
                                    "\"target\":\"target-1\"", "\"service\":\"echo\"", "\"decision\":\"allow\"",
                                    "\"rule\":\"t.conf:6\"", "\"time\":\"20", NULL),
                     1);
    uint64_t v;
    ck_assert_int_eq(vmsec_relay_stat(t.relay, VMSEC_RELAY_STAT_ACCEPTED, &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(vmsec_relay_stat(t.relay, VMSEC_RELAY_STAT_BYTES, &v), 0);
    ck_assert_uint_ge(v, 2 * (3u << 20)); /* both directions, plus header and reply */
    /* The session ends once both half-closes went through. */
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq(vmsec_relay_stat(t.relay, VMSEC_RELAY_STAT_ACTIVE, &v), 0);
        if (v == 0)
            break;
        usleep(10000);
    }
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"close\"", "\"bytes_to_target\":3145745",
                                    "\"bytes_to_source\":3145736", "\"reason\":\"eof\"", NULL),
                     1);
    rt_stop(&t);
}
END_TEST

START_TEST(denied_pairs_are_refused_and_audited)
{
    struct rt t;
    rt_start(&t, policy_text);
    int lfd = rt_target_listen(&t, "target-2", 5000);
    /* An explicit deny rule, and the default deny. */
    int fd = rt_client(&t, 8, "b");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-2", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    fd = rt_client(&t, 9, "stranger");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-2", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    /* A target that does not exist is indistinguishable from a denied one for a caller the
     * policy does not allow. */
    fd = rt_client(&t, 9, "stranger");
    ck_assert_int_eq(vmsec_relay_request(fd, "no-such-vm", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"source\":\"b\"", "\"decision\":\"deny\"", "\"rule\":\"t.conf:5\"", NULL), 1);
    ck_assert_int_eq(rt_audit_count(&t, "\"source\":\"stranger\"", "\"source_cid\":9", "\"decision\":\"deny\"",
                                    "\"rule\":\"t.conf:default\"", NULL),
                     2);
    /* The relay never connected to the target. */
    int fl = fcntl(lfd, F_GETFL);
    fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
    ck_assert_int_lt(accept(lfd, NULL, NULL), 0);
    ck_assert_int_eq(errno, EAGAIN);
    close(lfd);
    uint64_t v;
    ck_assert_int_eq(vmsec_relay_stat(t.relay, VMSEC_RELAY_STAT_DENIED, &v), 0);
    ck_assert_uint_eq(v, 3);
    rt_stop(&t);
}
END_TEST

START_TEST(unavailable_targets_and_services)
{
    struct rt t;
    rt_start(&t, policy_text);
    /* Allowed, but nobody listens on the target port. */
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-9", "nowhere", 5000), VMSEC_ECONNREFUSED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", "\"reason\":\"connect-failed\"", NULL), 1);
    /* Allowed by a rule, but the policy has no port for the service. */
    fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "x", "undefined-service", 5000), VMSEC_ECONNREFUSED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", "\"reason\":\"unknown-service\"", NULL), 1);
    /* Unknown caller identity (the socket is not bound to an identity address). */
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun;
    rt_sun(&sun, "%s", t.sock);
    ck_assert_int_eq(connect(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(vmsec_relay_request(s, "target-1", "echo", 5000), VMSEC_EDENIED);
    close(s);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"refused\"", "\"reason\":\"unknown-source\"", NULL), 1);
    rt_stop(&t);
}
END_TEST

/* Connects like rt_connect, except that targets named "ghost-*" do not exist; counts calls. */
static atomic_int ghost_calls;
static int ghost_connect(void *user, const char *domain, uint32_t port, int *fd)
{
    atomic_fetch_add(&ghost_calls, 1);
    if (strncmp(domain, "ghost-", 6) == 0)
        return VMSEC_ENOTFOUND;
    return rt_connect(user, domain, port, fd);
}

/* An allowed request for a domain that does not exist is "no-such-target", not a failed
 * connection, for the caller (VMSEC_ENOTFOUND, naming the target) as in the audit; a denied one
 * is denied before anyone looks the target up. */
START_TEST(missing_target_is_no_such_target_after_the_policy)
{
    struct rt t;
    rt_start(&t, policy_text);
    ck_assert_int_eq(vmsec_relay_set_connect(t.relay, ghost_connect, &t), 0);
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "ghost-1", "nowhere", 5000), VMSEC_ENOTFOUND);
    ck_assert_str_eq(vmsec_error_last(), "relay: no such target 'ghost-1' (service 'nowhere' allowed)");
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", "\"target\":\"ghost-1\"",
                                    "\"reason\":\"no-such-target\"", NULL), 1);
    fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-9", "nowhere", 5000), VMSEC_ECONNREFUSED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"target\":\"target-9\"", "\"reason\":\"connect-failed\"", NULL), 1);
    ck_assert_int_eq(atomic_load(&ghost_calls), 2);
    /* Denied: the same answer for a missing target as for any other, and no lookup. */
    fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "ghost-2", "echo", 5000), VMSEC_EDENIED);
    close(fd);
    ck_assert_int_eq(atomic_load(&ghost_calls), 2);
    ck_assert_int_eq(rt_audit_count(&t, "\"target\":\"ghost-2\"", "\"decision\":\"deny\"", NULL), 1);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", "\"target\":\"ghost-2\"", NULL), 0);
    rt_stop(&t);
}
END_TEST

static int raw_reply(int fd)
{
    uint8_t rep[8];
    ck_assert_uint_eq(rt_read_all(fd, rep, sizeof(rep)), 8);
    ck_assert(memcmp(rep, "VMSR", 4) == 0);
    ck_assert_uint_eq(rep[4], 1);
    ck_assert_uint_eq(rep[5], 2);
    /* And the relay closed: EOF, or a reset if it closed with request bytes still unread. */
    uint8_t extra;
    ssize_t n;
    while ((n = recv(fd, &extra, 1, 0)) < 0 && errno == EINTR) {
    }
    ck_assert(n == 0 || (n < 0 && errno == ECONNRESET));
    return rep[6];
}

START_TEST(malformed_requests)
{
    struct rt t;
    rt_start(&t, policy_text);
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"GET / HTTP/1.1\r\n", 16},                /* wrong magic, rejected at once */
        {"VMSR\x02\x01\x01\x01" "ab", 10},         /* unknown version */
        {"VMSR\x01\x07\x01\x01" "ab", 10},         /* wrong type */
        {"VMSR\x01\x01\x00\x01" "a", 9},           /* empty target */
        {"VMSR\x01\x01\x01\x41" "a", 9},           /* service longer than 64 */
        {"VMSR\x01\x01\x01\x01" "a/", 10},         /* invalid character */
        {"VMSR\x01\x01\x01\x01" "a\0", 10},        /* NUL */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = rt_client(&t, 7, "a");
        rt_write_all(fd, bad[i].bytes, bad[i].len);
        ck_assert_int_eq(raw_reply(fd), VMSEC_RELAY_BAD_REQUEST);
        close(fd);
    }
    ck_assert_int_eq(rt_audit_count(&t, "\"reason\":\"bad-request\"", NULL), 7);
    /* A caller that never completes its request is cut off at the request timeout. */
    ck_assert_int_eq(vmsec_relay_set_limit(t.relay, VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS, 100), 0);
    int fd = rt_client(&t, 7, "a");
    rt_write_all(fd, "VMSR\x01\x01\x05", 7);
    ck_assert_int_eq(raw_reply(fd), VMSEC_RELAY_BAD_REQUEST);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"reason\":\"request-timeout\"", NULL), 1);
    /* Client-side validation. */
    ck_assert_int_eq(vmsec_relay_request(0, "bad/na/me", "echo", 10), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_request(0, "/name", "echo", 10), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_request(0, "ok", "", 10), VMSEC_EINVAL);
    rt_stop(&t);
}
END_TEST

START_TEST(origin_header_validation)
{
    int sv[2];
    char dom[256], svc[65];
    uint32_t cid;
    static const struct {
        const char *bytes;
        size_t len;
        int rc;
    } cases[] = {
        {"VMSR\x01\x03\x01\x04\x00\x00\x00\x05" "aecho", 17, 0},
        {"VMSR\x01\x02\x01\x04\x00\x00\x00\x05" "aecho", 17, VMSEC_EPROTO},
        {"XMSR\x01\x03\x01\x04\x00\x00\x00\x05" "aecho", 17, VMSEC_EPROTO},
        {"VMSR\x01\x03\x01\x04\x00\x00\x00\x05" "a ech", 17, VMSEC_EPROTO},
        {"VMSR\x01\x03\x00\x04\x00\x00\x00\x05" "echo", 16, VMSEC_EPROTO},
        /* Ten bytes, then "NEXT", then EOF: 14 bytes where the header needs 17. */
        {"VMSR\x01\x03\x01\x04\x00\x00", 10, VMSEC_ECLOSED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        rt_write_all(sv[0], cases[i].bytes, cases[i].len);
        rt_write_all(sv[0], "NEXT", 4);
        if (cases[i].rc == VMSEC_ECLOSED) {
            close(sv[0]);
            sv[0] = -1;
        }
        int rc = vmsec_relay_origin_read(sv[1], 1000, dom, sizeof(dom), &cid, svc, sizeof(svc));
        ck_assert_int_eq(rc, cases[i].rc);
        if (rc == 0 && cases[i].rc == 0) {
            ck_assert_str_eq(dom, "a");
            ck_assert_str_eq(svc, "echo");
            ck_assert_uint_eq(cid, 5);
            char next[4];
            /* Exactly the header was consumed: the next bytes belong to the channel. */
            ck_assert_uint_eq(rt_read_all(sv[1], next, 4), 4);
            ck_assert(memcmp(next, "NEXT", 4) == 0);
        }
        if (sv[0] >= 0)
            close(sv[0]);
        close(sv[1]);
    }
    /* A truncated header followed by EOF. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    rt_write_all(sv[0], "VMSR\x01\x03", 6);
    close(sv[0]);
    ck_assert_int_eq(vmsec_relay_origin_read(sv[1], 1000, dom, sizeof(dom), &cid, svc, sizeof(svc)), VMSEC_ECLOSED);
    close(sv[1]);
    /* Silence until the deadline. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(vmsec_relay_origin_read(sv[1], 50, dom, sizeof(dom), &cid, svc, sizeof(svc)), VMSEC_ETIMEDOUT);
    /* A buffer too small for the name. */
    rt_write_all(sv[0], "VMSR\x01\x03\x03\x04\x00\x00\x00\x05" "abcecho", 19);
    ck_assert_int_eq(vmsec_relay_origin_read(sv[1], 1000, dom, 3, &cid, svc, sizeof(svc)), VMSEC_ETOOBIG);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Each reply status as vmsec_relay_request() reports it; a status it does not know (a newer
 * relay's) fails the request as a protocol error, never as accepted, and nothing after the reply
 * is read. */
START_TEST(reply_status_results)
{
    static const struct {
        uint8_t status;
        int rc;
    } cases[] = {
        {VMSEC_RELAY_ACCEPTED, 0},          {VMSEC_RELAY_DENIED, VMSEC_EDENIED},
        {VMSEC_RELAY_UNAVAILABLE, VMSEC_ECONNREFUSED}, {VMSEC_RELAY_BAD_REQUEST, VMSEC_EPROTO},
        {VMSEC_RELAY_BUSY, VMSEC_ECONNREFUSED},        {VMSEC_RELAY_INTERNAL, VMSEC_ECONNREFUSED},
        {VMSEC_RELAY_NO_SUCH_TARGET, VMSEC_ENOTFOUND}, {7, VMSEC_EPROTO},
        {255, VMSEC_EPROTO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int sv[2];
        char reply[12] = "VMSR\x01\x02\x00\x00NEXT";
        reply[6] = (char)cases[i].status;
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        rt_write_all(sv[0], reply, sizeof(reply));
        ck_assert_int_eq(vmsec_relay_request(sv[1], "vm-1", "echo", 1000), cases[i].rc);
        if (cases[i].status == 7)
            ck_assert_str_eq(vmsec_error_last(), "relay: unknown reply status 7");
        char next[4];
        ck_assert_uint_eq(rt_read_all(sv[1], next, 4), 4);
        ck_assert(memcmp(next, "NEXT", 4) == 0);
        close(sv[0]);
        close(sv[1]);
    }
}
END_TEST

START_TEST(slow_target_does_not_stall_other_pairs)
{
    struct rt t;
    struct echo e;
    rt_start(&t, policy_text);
    ck_assert_int_eq(vmsec_relay_set_limit(t.relay, VMSEC_RELAY_LIMIT_BUFFER, 16384), 0);
    /* The slow target accepts and never reads. */
    int slow_l = rt_target_listen(&t, "slow", 5001);
    int slow_c = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(slow_c, "slow", "sink", 5000), 0);
    int slow_fd = accept(slow_l, NULL, NULL);
    ck_assert_int_ge(slow_fd, 0);
    /* A larger buffer limit set now applies to new sessions only: this one keeps its 16 KiB. */
    ck_assert_int_eq(vmsec_relay_set_limit(t.relay, VMSEC_RELAY_LIMIT_BUFFER, 1u << 20), 0);
    /* Push until the client blocks: back-pressure reached the caller, so the relay stopped
     * reading; what it accepted is bounded by socket buffers plus its own buffer. */
    int fl = fcntl(slow_c, F_GETFL);
    fcntl(slow_c, F_SETFL, fl | O_NONBLOCK);
    static uint8_t chunk[65536];
    size_t pushed = 0;
    int idle_rounds = 0;
    while (idle_rounds < 5) {
        ssize_t n = send(slow_c, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n > 0) {
            pushed += (size_t)n;
            idle_rounds = 0;
            ck_assert_uint_lt(pushed, 64u << 20); /* nothing buffers without bound */
        } else {
            ck_assert_int_eq(errno, EAGAIN);
            struct pollfd p = {.fd = slow_c, .events = POLLOUT};
            if (poll(&p, 1, 100) == 0)
                idle_rounds++;
        }
    }
    /* Meanwhile another pair moves 4 MiB through the same relay. */
    echo_start(&e, &t, "target-1", 5000);
    int fd = rt_client(&t, 8, "b");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-1", "echo", 5000), 0);
    roundtrip(fd, 4u << 20);
    close(fd);
    echo_join(&e);
    /* The slow pair is intact: once its target reads, everything pushed arrives. */
    size_t drained = 0;
    static uint8_t buf[65536];
    close(slow_c); /* EOF propagates after the buffered bytes */
    ssize_t n;
    while ((n = recv(slow_fd, buf, sizeof(buf), 0)) > 0)
        drained += (size_t)n;
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(drained, pushed + 12 + 1 + 4); /* + the origin header: 12 + "a" + "sink" */
    close(slow_fd);
    close(slow_l);
    rt_stop(&t);
}
END_TEST

/* A target whose connection never completes: the descriptor never becomes writable (the read end
 * of a pipe stands in for a connect stuck in SYN_SENT). */
static int stuck_pipe[2];
static int stuck_connect(void *user, const char *domain, uint32_t port, int *fd)
{
    if (strcmp(domain, "dead") == 0) {
        ck_assert_int_eq(pipe2(stuck_pipe, O_CLOEXEC | O_NONBLOCK), 0);
        *fd = stuck_pipe[0];
        return 0;
    }
    return rt_connect(user, domain, port, fd);
}

START_TEST(dead_target_times_out_and_idle_sessions_close)
{
    struct rt t;
    struct echo e;
    rt_start(&t, "service echo port 5000\nallow echo from a to *\n");
    ck_assert_int_eq(vmsec_relay_set_connect(t.relay, stuck_connect, &t), 0);
    ck_assert_int_eq(vmsec_relay_set_limit(t.relay, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS, 200), 0);
    ck_assert_int_eq(vmsec_relay_set_limit(t.relay, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS, 300), 0);
    /* While the dead target's connect is pending, another pair works. */
    int dead = rt_client(&t, 7, "a");
    uint8_t req[32];
    memcpy(req, "VMSR\x01\x01\x04\x04" "deadecho", 16);
    rt_write_all(dead, req, 16);
    echo_start(&e, &t, "alive", 5000);
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "alive", "echo", 5000), 0);
    roundtrip(fd, 100000); /* ends with the echo side's half-close: the session finishes */
    close(fd);
    echo_join(&e);
    ck_assert_int_eq(raw_reply(dead), VMSEC_RELAY_UNAVAILABLE);
    close(dead);
    close(stuck_pipe[1]);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"unavailable\"", "\"target\":\"dead\"",
                                    "\"reason\":\"connect-timeout\"", NULL),
                     1);
    /* An established session with no traffic is closed after the idle timeout. */
    int lfd = rt_target_listen(&t, "quiet", 5000);
    fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "quiet", "echo", 5000), 0);
    int tfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(tfd, 0);
    uint8_t b;
    ck_assert_uint_eq(rt_read_all(fd, &b, 1), 0); /* EOF once the relay gives up on the session */
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"close\"", "\"target\":\"quiet\"",
                                    "\"reason\":\"idle-timeout\"", NULL),
                     1);
    close(fd);
    close(tfd);
    close(lfd);
    rt_stop(&t);
}
END_TEST

/* The descriptor limit is restored even when an assertion fails, so later tests in the same
 * process (CK_FORK=no) do not inherit it. */
static struct rlimit saved_nofile;
static void save_nofile(void)
{
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
}
static void restore_nofile(void)
{
    setrlimit(RLIMIT_NOFILE, &saved_nofile);
}

START_TEST(out_of_descriptors_pauses_and_recovers)
{
    struct rt t;
    rt_start(&t, "deny echo from a to nobody\n");
    /* Client sockets are made first; then the process limit is lowered to the lowest free
     * descriptor, so the relay's accept() fails with EMFILE while they connect. */
    int c[3];
    struct sockaddr_un me, relay;
    rt_sun(&relay, "%s", t.sock);
    for (int i = 0; i < 3; i++) {
        c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        rt_sun(&me, "%s/c.7.a.emfile%d", t.dir, i);
        ck_assert_int_eq(bind(c[i], (struct sockaddr *)&me, sizeof(me)), 0);
    }
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = dup(0);
    ck_assert_int_ge(probe, 0);
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(connect(c[i], (struct sockaddr *)&relay, sizeof(relay)), 0);
        ssize_t w = send(c[i], "VMSR\x01\x01\x06\x04" "nobodyecho", 18, MSG_NOSIGNAL);
        ck_assert_msg(w == 18, "send: %s", strerror(errno));
    }
    usleep(100000); /* let the relay run into the limit (correctness does not depend on it) */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* Once descriptors are available again every caller is served. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(raw_reply(c[i]), VMSEC_RELAY_DENIED);
        close(c[i]);
    }
    rt_stop(&t);
}
END_TEST

struct later {
    int fd;
    size_t len;
};

static void *roundtrip_later(void *arg)
{
    struct later *l = arg;
    usleep(100000); /* start after the relay began shutting down */
    roundtrip(l->fd, l->len);
    return NULL;
}

START_TEST(graceful_shutdown_lets_sessions_finish)
{
    struct rt t;
    struct echo e;
    rt_start(&t, policy_text);
    echo_start(&e, &t, "target-1", 5000);
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-1", "echo", 5000), 0);
    /* Stop the loop, then shut down from this thread while the session still has work to do. */
    ck_assert_int_eq(vmsec_relay_interrupt(t.relay), 0);
    ck_assert_int_eq(pthread_join(t.thread, NULL), 0);
    struct later l = {.fd = fd, .len = 1u << 20};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, roundtrip_later, &l), 0);
    ck_assert_int_eq(vmsec_relay_shutdown(t.relay, 30000), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0); /* the whole megabyte came back */
    close(fd);
    echo_join(&e);
    ck_assert_int_ne(access(t.sock, F_OK), 0); /* no longer accepting */
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"close\"", "\"reason\":\"eof\"", NULL), 1);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"shutdown\"", "\"sessions_cut\":0", NULL), 1);
    /* With a zero timeout, a session still open is cut. */
    vmsec_relay_free(t.relay);
    vt_rmtree(t.dir);
    free(t.audit);
    pthread_mutex_destroy(&t.lock);
    rt_start(&t, policy_text);
    int lfd = rt_target_listen(&t, "target-1", 5000);
    fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-1", "echo", 5000), 0);
    ck_assert_int_eq(vmsec_relay_interrupt(t.relay), 0);
    ck_assert_int_eq(pthread_join(t.thread, NULL), 0);
    ck_assert_int_eq(vmsec_relay_shutdown(t.relay, 0), 0);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"close\"", "\"reason\":\"shutdown\"", NULL), 1);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"shutdown\"", "\"sessions_cut\":1", NULL), 1);
    uint8_t b;
    ck_assert_uint_eq(rt_read_all(fd, &b, 1), 0);
    close(fd);
    close(lfd);
    vmsec_relay_free(t.relay);
    vt_rmtree(t.dir);
    free(t.audit);
    pthread_mutex_destroy(&t.lock);
}
END_TEST

START_TEST(per_source_limits)
{
    struct rt t;
    struct echo e1, e2;
    rt_start(&t, policy_text);
    ck_assert_int_eq(vmsec_relay_set_limit(t.relay, VMSEC_RELAY_LIMIT_PENDING_PER_SOURCE, 2), 0);
    ck_assert_int_eq(vmsec_relay_set_limit(t.relay, VMSEC_RELAY_LIMIT_PER_SOURCE, 1), 0);
    /* Two idle connections from a fill its pending quota; a third is refused as busy, while
     * another source is unaffected. */
    int p1 = rt_client(&t, 7, "a"), p2 = rt_client(&t, 7, "a");
    int p3 = rt_client(&t, 7, "a");
    ck_assert_int_eq(raw_reply(p3), VMSEC_RELAY_BUSY);
    close(p3);
    ck_assert_int_eq(rt_audit_count(&t, "\"source\":\"a\"", "\"reason\":\"pending-limit\"", NULL), 1);
    echo_start(&e1, &t, "target-1", 5000);
    int b = rt_client(&t, 8, "b");
    ck_assert_int_eq(vmsec_relay_request(b, "target-1", "echo", 5000), 0);
    close(p1);
    close(p2);
    /* One forwarding session per source: b's second is refused, a's first goes through. */
    int b2 = rt_client(&t, 8, "b");
    ck_assert_int_eq(vmsec_relay_request(b2, "target-3", "echo", 5000), VMSEC_ECONNREFUSED);
    close(b2);
    ck_assert_int_eq(rt_audit_count(&t, "\"source\":\"b\"", "\"reason\":\"source-limit\"", NULL), 1);
    echo_start(&e2, &t, "target-3", 5000);
    int a = -1;
    /* a's idle connections are released asynchronously; retry until its quota frees up. */
    for (int i = 0; i < 100; i++) {
        a = rt_client(&t, 7, "a");
        int rc = vmsec_relay_request(a, "target-3", "echo", 5000);
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, VMSEC_ECONNREFUSED);
        close(a);
        a = -1;
        usleep(10000);
    }
    ck_assert_int_ge(a, 0);
    roundtrip(a, 1000);
    roundtrip(b, 1000);
    close(a);
    close(b);
    echo_join(&e1);
    echo_join(&e2);
    rt_stop(&t);
}
END_TEST

START_TEST(reload_keeps_established_sessions)
{
    struct rt t;
    struct echo e;
    rt_start(&t, policy_text);
    echo_start(&e, &t, "target-1", 5000);
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-1", "echo", 5000), 0);
    /* An invalid policy file: fail closed for new requests, keep the established session. */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/bad.conf", t.dir);
    vt_write_file(path, "allow echo from a to\n", 21, 0644);
    ck_assert_int_eq(vmsec_relay_load_policy(t.relay, path), VMSEC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "bad.conf:1:"));
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"policy\"", "\"status\":\"invalid\"", "bad.conf:1:",
                                    "\"effect\":\"deny-all\"", NULL),
                     1);
    int fd2 = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd2, "target-1", "echo", 5000), VMSEC_EDENIED);
    close(fd2);
    ck_assert_int_eq(rt_audit_count(&t, "\"decision\":\"deny\"", "\"rule\":\"no-valid-policy\"", NULL), 1);
    /* A valid file again. */
    snprintf(path, sizeof(path), "%s/good.conf", t.dir);
    vt_write_file(path, policy_text, strlen(policy_text), 0644);
    ck_assert_int_eq(vmsec_relay_load_policy(t.relay, path), 0);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"policy\"", "\"status\":\"loaded\"", "\"rules\":5", NULL), 1);
    roundtrip(fd, 100000);
    close(fd);
    echo_join(&e);
    rt_stop(&t);
}
END_TEST

#define R "\xEF\xBF\xBD" /* U+FFFD */

/* Parses every audit line so far with jansson; returns the records as a JSON array. */
static json_t *audit_records(struct rt *t)
{
    json_t *all = json_array();
    pthread_mutex_lock(&t->lock);
    for (char *line = t->audit; line && *line;) {
        char *nl = strchr(line, '\n');
        json_error_t err;
        json_t *rec = json_loadb(line, (size_t)(nl - line), 0, &err);
        ck_assert_msg(rec != NULL, "audit line is not JSON (%s): %.*s", err.text, (int)(nl - line), line);
        json_array_append_new(all, rec);
        line = nl + 1;
    }
    pthread_mutex_unlock(&t->lock);
    return all;
}

/* A policy file's path is whatever bytes the file system holds. Records naming one that is not
 * UTF-8 (a directory called p<0xff>) are still JSON, with U+FFFD in place of the byte. */
START_TEST(audit_records_stay_json_for_non_utf8_paths)
{
    struct rt t;
    char dir[PATH_MAX + 16], path[PATH_MAX + 32], clean[PATH_MAX + 48];
    json_t *recs, *rec;
    size_t i;
    int seen = 0;

    rt_start(&t, NULL);
    snprintf(dir, sizeof(dir), "%s/p\xFF", t.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/bad.conf", dir);
    vt_write_file(path, "allow echo from a to\n", 21, 0644);
    ck_assert_int_eq(vmsec_relay_load_policy(t.relay, path), VMSEC_EFORMAT);
    snprintf(path, sizeof(path), "%s/good.conf", dir);
    vt_write_file(path, policy_text, strlen(policy_text), 0644);
    ck_assert_int_eq(vmsec_relay_load_policy(t.relay, path), 0);
    int fd = rt_client(&t, 7, "b");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-2", "echo", 5000), VMSEC_EDENIED);
    close(fd);

    pthread_mutex_lock(&t.lock);
    ck_assert_ptr_null(memchr(t.audit, 0xFF, t.audit_len));
    pthread_mutex_unlock(&t.lock);
    recs = audit_records(&t);
    json_array_foreach (recs, i, rec) {
        const char *event = json_string_value(json_object_get(rec, "event"));
        const char *status = json_string_value(json_object_get(rec, "status"));
        if (strcmp(event, "policy") == 0 && strcmp(status, "invalid") == 0) {
            snprintf(clean, sizeof(clean), "%s/p" R "/bad.conf", t.dir);
            ck_assert_str_eq(json_string_value(json_object_get(rec, "file")), clean);
            ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(rec, "error")), "p" R "/bad.conf:1:"));
            seen |= 1;
        } else if (strcmp(event, "policy") == 0) {
            snprintf(clean, sizeof(clean), "%s/p" R "/good.conf", t.dir);
            ck_assert_str_eq(json_string_value(json_object_get(rec, "file")), clean);
            ck_assert_int_eq(json_integer_value(json_object_get(rec, "rules")), 5);
            seen |= 2;
        } else if (strcmp(event, "decision") == 0) {
            snprintf(clean, sizeof(clean), "%s/p" R "/good.conf:5", t.dir);
            ck_assert_str_eq(json_string_value(json_object_get(rec, "rule")), clean);
            ck_assert_str_eq(json_string_value(json_object_get(rec, "decision")), "deny");
            ck_assert_str_eq(json_string_value(json_object_get(rec, "source")), "b");
            seen |= 4;
        }
    }
    ck_assert_int_eq(seen, 7);
    json_decref(recs);
    rt_stop(&t);
}
END_TEST

START_TEST(unix_listener_identity_and_audit_file)
{
    /* Without an identify callback, unix callers are the listener's configured identity. */
    char dir[PATH_MAX], sock[PATH_MAX + 16], audit[PATH_MAX + 16];
    vt_tmpdir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/r.sock", dir);
    snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
    vmsec_relay *r;
    vmsec_policy *p;
    const char *text = "allow echo from host to vm1\nallow echo from host to host:x\n";
    ck_assert_int_eq(vmsec_relay_new(&r), 0);
    ck_assert_int_eq(vmsec_policy_load_string(&p, text, strlen(text), "p"), 0);
    ck_assert_int_eq(vmsec_relay_set_policy(r, p), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_fd(r, -1), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_file(r, audit), 0);
    ck_assert_int_eq(vmsec_relay_listen_unix(r, sock, "host"), 0);
    ck_assert_int_eq(vmsec_relay_listen_unix(r, sock, "bad name"), VMSEC_EINVAL);
    /* unix callers are the host side: a name a domain could have is refused */
    ck_assert_int_eq(vmsec_relay_listen_unix(r, sock, "web-1"), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "'host' or 'host:web-1'"));
    ck_assert_int_eq(vmsec_relay_listen_unix(r, sock, "hostile"), VMSEC_EINVAL);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun;
    rt_sun(&sun, "%s", sock);
    ck_assert_int_eq(connect(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
    uint8_t req[32];
    memcpy(req, "VMSR\x01\x01\x03\x04" "vm2echo", 15);
    rt_write_all(s, req, 15);
    /* Drive the relay from this thread through dispatch until the reply arrives. */
    uint8_t rep[8];
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    while (poll(&pfd, 1, 0) == 0)
        ck_assert_int_eq(vmsec_relay_dispatch(r, 100), 0);
    ck_assert_uint_eq(rt_read_all(s, rep, 8), 8);
    ck_assert_uint_eq(rep[6], VMSEC_RELAY_DENIED);
    close(s);
    /* The host side is never a target, whatever a rule says. */
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
    memcpy(req, "VMSR\x01\x01\x06\x04" "host:xecho", 18);
    rt_write_all(s, req, 18);
    pfd.fd = s;
    while (poll(&pfd, 1, 0) == 0)
        ck_assert_int_eq(vmsec_relay_dispatch(r, 100), 0);
    ck_assert_uint_eq(rt_read_all(s, rep, 8), 8);
    ck_assert_uint_eq(rep[6], VMSEC_RELAY_DENIED);
    close(s);
    vmsec_relay_free(r);
    ck_assert_int_ne(access(sock, F_OK), 0); /* the socket file is removed */
    FILE *f = fopen(audit, "r");
    char line[1024];
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_ptr_nonnull(strstr(line, "\"source\":\"host\",\"source_cid\":2,\"target\":\"vm2\",\"service\":\"echo\""));
    ck_assert_ptr_nonnull(strstr(line, "\"decision\":\"deny\",\"rule\":\"p:default\"}"));
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_ptr_nonnull(strstr(line, "\"event\":\"refused\""));
    ck_assert_ptr_nonnull(strstr(line, "\"target\":\"host:x\""));
    ck_assert_ptr_nonnull(strstr(line, "\"reason\":\"reserved-name\""));
    ck_assert_ptr_null(fgets(line, sizeof(line), f)); /* and no allow decision */
    fclose(f);
    vt_rmtree(dir);
}
END_TEST

START_TEST(peermap_checks_domain_keys)
{
    vmsec_peermap *m;
    uint8_t k1[32], k2[32];
    memset(k1, 1, sizeof(k1));
    memset(k2, 2, sizeof(k2));
    ck_assert_int_eq(vmsec_peermap_new(&m), 0);
    ck_assert_int_eq(vmsec_peermap_add(m, "web-1", k1, 32), 0);
    ck_assert_int_eq(vmsec_peermap_add(m, "web-1", k2, 32), VMSEC_EEXIST);
    ck_assert_int_eq(vmsec_peermap_add(m, "web 2", k2, 32), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_peermap_add(m, "web-2", k2, 31), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_peermap_check(m, "web-1", k1, 32), 0);
    ck_assert_int_eq(vmsec_peermap_check(m, "web-1", k2, 32), VMSEC_EAUTH);
    ck_assert_int_eq(vmsec_peermap_check(m, "web-1", k1, 31), VMSEC_EAUTH);
    ck_assert_int_eq(vmsec_peermap_check(m, "web-9", k1, 32), VMSEC_EAUTH);
    /* File form, all or nothing. */
    char dir[PATH_MAX], path[PATH_MAX + 16], t1[64], t2[64], text[512];
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/peers", dir);
    ck_assert_int_eq(vmsec_pubkey_to_text(k2, t2, sizeof(t2)), 0);
    ck_assert_int_eq(vmsec_pubkey_to_text(k1, t1, sizeof(t1)), 0);
    snprintf(text, sizeof(text), "# peers\n\nweb-2 %s\ndb-1 not-a-key\n", t2);
    vt_write_file(path, text, strlen(text), 0644);
    ck_assert_int_eq(vmsec_peermap_load_file(m, path), VMSEC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "peers:4: invalid public key"));
    ck_assert_int_eq(vmsec_peermap_check(m, "web-2", k2, 32), VMSEC_EAUTH); /* nothing was added */
    snprintf(text, sizeof(text), "web-2 %s\ndb-1 %s # comment\n", t2, t1);
    vt_write_file(path, text, strlen(text), 0644);
    ck_assert_int_eq(vmsec_peermap_load_file(m, path), 0);
    ck_assert_int_eq(vmsec_peermap_check(m, "web-2", k2, 32), 0);
    ck_assert_int_eq(vmsec_peermap_check(m, "db-1", k1, 32), 0);
    ck_assert_int_eq(vmsec_peermap_load_file(m, path), VMSEC_EEXIST);
    vmsec_peermap_free(m);
    vt_rmtree(dir);
}
END_TEST

START_TEST(limit_and_argument_validation)
{
    vmsec_relay *r;
    ck_assert_int_eq(vmsec_relay_new(&r), 0);
    ck_assert_int_eq(vmsec_relay_set_limit(r, 0, 5), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_limit(r, 99, 5), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_limit(r, VMSEC_RELAY_LIMIT_SESSIONS, 0), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_limit(r, VMSEC_RELAY_LIMIT_BUFFER, 100), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_limit(r, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS, 0), 0);
    ck_assert_int_eq(vmsec_relay_set_directory_resync(r, 99), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_directory_resync(r, 3600001), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_directory_resync(NULL, 1000), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_directory_resync(r, 100), 0); /* kept for a later directory */
    ck_assert_int_eq(vmsec_relay_listen_unix(r, "/nonexistent-dir/x.sock", "host"), VMSEC_EIO);
    ck_assert_int_ge(vmsec_relay_fd(r), 0);
    uint64_t v;
    ck_assert_int_eq(vmsec_relay_stat(r, 42, &v), VMSEC_EINVAL);
    vmsec_relay_free(r);
    ck_assert_uint_eq(vmsec_relay_protocol_version(), VMSEC_RELAY_PROTOCOL_VERSION);
    ck_assert_uint_eq(vmsec_relay_default_port(), VMSEC_RELAY_DEFAULT_PORT);
    ck_assert_uint_eq(vmsec_policy_name_max(), VMSEC_POLICY_NAME_MAX);
}
END_TEST

/* --- the splice path's edges ---------------------------------------------------------------------- */

/* splice(2) refuses to write into a descriptor opened for appending (EINVAL), sockets included:
 * a real way to make a session's target one the relay cannot splice into. */
static int connect_append(void *user, const char *domain, uint32_t port, int *fd)
{
    int rc = rt_connect(user, domain, port, fd);
    if (rc == 0) {
        int fl = fcntl(*fd, F_GETFL);
        ck_assert_int_eq(fcntl(*fd, F_SETFL, fl | O_APPEND), 0);
    }
    return rc;
}

START_TEST(copies_when_splice_is_refused)
{
    /* The premise: this kernel refuses the splice, so the session below must take the copying
     * path (a kernel that splices here would make this test prove nothing: fail instead). */
    int p[2], sp[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    ck_assert_int_eq(fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) | O_APPEND), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    errno = 0;
    ck_assert_int_eq(splice(p[0], NULL, sp[0], NULL, 1, SPLICE_F_NONBLOCK), -1);
    ck_assert_int_eq(errno, EINVAL);
    close(p[0]);
    close(p[1]);
    close(sp[0]);
    close(sp[1]);

    struct rt t;
    struct echo e;
    rt_start(&t, policy_text);
    ck_assert_int_eq(vmsec_relay_set_connect(t.relay, connect_append, &t), 0);
    echo_start(&e, &t, "target-1", 5000);
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-1", "echo", 5000), 0);
    /* More than the pipe holds, so bytes already spliced into it move to the copying buffer. */
    roundtrip(fd, 3u << 20);
    close(fd);
    echo_join(&e);
    ck_assert_int_eq(e.origin_rc, 0);
    ck_assert_uint_eq(e.echoed, 3u << 20);
    uint64_t v = 1;
    for (int i = 0; i < 500 && v; i++) {
        ck_assert_int_eq(vmsec_relay_stat(t.relay, VMSEC_RELAY_STAT_ACTIVE, &v), 0);
        if (v)
            usleep(10000);
    }
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"close\"", "\"bytes_to_target\":3145745",
                                    "\"bytes_to_source\":3145736", "\"reason\":\"eof\"", NULL),
                     1);
    rt_stop(&t);
}
END_TEST

/* A target that stops reading: shutdown(SHUT_RD) makes the relay's next write to it fail with
 * EPIPE, which splice (no MSG_NOSIGNAL) reports with a SIGPIPE. */
struct deaf {
    int lfd;
    size_t got;
    pthread_t thread;
};

static void *deaf_thread(void *arg)
{
    struct deaf *d = arg;
    int fd = accept(d->lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    char dom[256];
    ck_assert_int_eq(vmsec_relay_origin_read(fd, 5000, dom, sizeof(dom), NULL, NULL, 0), 0);
    static uint8_t buf[65536];
    while (d->got < sizeof(buf)) { /* some data first: the session is splicing by then */
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        ck_assert_int_gt(n, 0);
        d->got += (size_t)n;
    }
    ck_assert_int_eq(shutdown(fd, SHUT_RD), 0);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    while (poll(&pf, 1, -1) >= 0 && !(pf.revents & (POLLHUP | POLLERR))) /* until the relay closes */
        if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == 0)
            break;
    close(fd);
    return NULL;
}

START_TEST(peer_gone_while_splicing_raises_no_sigpipe)
{
    /* SIGPIPE's default action, as in a program that never thought of it: a SIGPIPE the relay
     * let through would end this process, and the test with it. */
    ck_assert(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    /* The premise: a splice into a socket whose peer stopped reading does raise SIGPIPE here. */
    sigset_t set, old, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
    int p[2], sp[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    ck_assert_int_eq(shutdown(sp[1], SHUT_RD), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    errno = 0;
    ck_assert_int_eq(splice(p[0], NULL, sp[0], NULL, 1, SPLICE_F_NONBLOCK), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(sigpending(&pending), 0);
    ck_assert_int_eq(sigismember(&pending, SIGPIPE), 1);
    struct timespec zero = {0, 0};
    ck_assert_int_eq(sigtimedwait(&set, NULL, &zero), SIGPIPE);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    for (int i = 0; i < 4; i++)
        close(i < 2 ? p[i] : sp[i - 2]);

    struct rt t;
    rt_start(&t, policy_text);
    struct deaf d = {.lfd = rt_target_listen(&t, "target-1", 5000)};
    ck_assert_int_eq(pthread_create(&d.thread, NULL, deaf_thread, &d), 0);
    int fd = rt_client(&t, 7, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-1", "echo", 5000), 0);
    static uint8_t buf[65536];
    memset(buf, 0x5a, sizeof(buf));
    for (size_t sent = 0; sent < (64u << 20);) { /* until the relay drops the session */
        ssize_t n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    close(fd);
    ck_assert_int_eq(pthread_join(d.thread, NULL), 0);
    close(d.lfd);
    while (rt_audit_count(&t, "\"event\":\"close\"", "\"reason\":\"error\"", NULL) == 0)
        usleep(2000);
    /* Alive, nothing pending, and the relay still forwards. */
    ck_assert_int_eq(sigpending(&pending), 0);
    ck_assert_int_eq(sigismember(&pending, SIGPIPE), 0);
    struct echo e;
    echo_start(&e, &t, "target-2", 5000);
    fd = rt_client(&t, 8, "a");
    ck_assert_int_eq(vmsec_relay_request(fd, "target-2", "echo", 5000), 0);
    roundtrip(fd, 1u << 20);
    close(fd);
    echo_join(&e);
    rt_stop(&t);
    ck_assert(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("relay");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, allowed_pair_forwards_bytes_both_ways);
    tcase_add_test(tc, denied_pairs_are_refused_and_audited);
    tcase_add_test(tc, unavailable_targets_and_services);
    tcase_add_test(tc, missing_target_is_no_such_target_after_the_policy);
    tcase_add_test(tc, malformed_requests);
    tcase_add_test(tc, origin_header_validation);
    tcase_add_test(tc, reply_status_results);
    tcase_add_test(tc, slow_target_does_not_stall_other_pairs);
    tcase_add_test(tc, per_source_limits);
    tcase_add_test(tc, graceful_shutdown_lets_sessions_finish);
    tcase_add_test(tc, dead_target_times_out_and_idle_sessions_close);
    tcase_add_test(tc, reload_keeps_established_sessions);
    tcase_add_test(tc, audit_records_stay_json_for_non_utf8_paths);
    tcase_add_test(tc, unix_listener_identity_and_audit_file);
    tcase_add_test(tc, peermap_checks_domain_keys);
    tcase_add_test(tc, limit_and_argument_validation);
    suite_add_tcase(s, tc);
    /* valgrind emulates the descriptor limit itself (an accept() over it closes the connection
     * instead of failing with EMFILE), so its memcheck run excludes this tag; every other run
     * (plain, sanitizers, clang) runs it. */
    TCase *fd = tcase_create("fdlimit");
    tcase_set_timeout(fd, 60);
    tcase_set_tags(fd, "fdlimit");
    tcase_add_checked_fixture(fd, save_nofile, restore_nofile);
    tcase_add_test(fd, out_of_descriptors_pauses_and_recovers);
    suite_add_tcase(s, fd);
    TCase *sp = tcase_create("splice");
    tcase_set_timeout(sp, 60);
    tcase_add_test(sp, copies_when_splice_is_refused);
    tcase_add_test(sp, peer_gone_while_splicing_raises_no_sigpipe);
    suite_add_tcase(s, sp);
    return vt_run_suite(s);
}
