/* SPDX-License-Identifier: ISC */
/* Relay federation (doc/RELAY.md, "Federation"): two relays in threads, linked over loopback TCP,
 * each with unix-socket "guests" identified as in the other relay tests. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>

#include "relay_testutil.h"

#define TRANSFER (1u << 20)

/* A relay set up but not yet running, so the test can add its key and peers. */
static void lt_new(struct rt *t, const char *policy, const vmsec_keypair *kp)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    vt_tmpdir(t->dir, sizeof(t->dir));
    snprintf(t->sock, sizeof(t->sock), "%s/relay.sock", t->dir);
    ck_assert_int_eq(vmsec_relay_new(&t->relay), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_fd(t->relay, -1), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_callback(t->relay, rt_audit, t), 0);
    ck_assert_int_eq(vmsec_relay_set_identify(t->relay, rt_identify, t), 0);
    ck_assert_int_eq(vmsec_relay_set_connect(t->relay, rt_connect, t), 0);
    vmsec_policy *p = NULL;
    ck_assert_int_eq(vmsec_policy_load_string(&p, policy, strlen(policy), "t.conf"), 0);
    ck_assert_int_eq(vmsec_relay_set_policy(t->relay, p), 0);
    ck_assert_int_eq(vmsec_relay_listen_unix(t->relay, t->sock, "host"), 0);
    ck_assert_int_eq(vmsec_relay_set_keypair(t->relay, kp), 0);
}

static void lt_run(struct rt *t)
{
    ck_assert_int_eq(pthread_create(&t->thread, NULL, rt_thread, t), 0);
}

static void pub(const vmsec_keypair *kp, uint8_t key[32])
{
    ck_assert_int_eq(vmsec_keypair_public(kp, key, 32), 0);
}

/* A loopback port free now (the relays bind it right after). */
static unsigned free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(in);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&in, sizeof(in)), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&in, &sl), 0);
    close(s);
    return ntohs(in.sin_port);
}

/* Waits (without a time bound of its own: make check's timeout is the bound) for an audit line
 * with every fragment. */
#define WAIT_AUDIT(t, ...)                                                                                   \
    do {                                                                                                   \
        while (rt_audit_count((t), __VA_ARGS__, NULL) == 0)                                                \
            usleep(2000);                                                                                  \
    } while (0)

/* --- the target: reads the origin header, then echoes until end of stream ------------------------- */

struct target {
    bool hold; /* after the caller's end of stream, keep the connection until the relay drops it */
    int lfd;
    char origin[300];
    int rc;
    size_t echoed;
};

static void *target_thread(void *arg)
{
    struct target *g = arg;
    int fd = accept(g->lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    uint32_t cid = 0;
    g->rc = vmsec_relay_origin_read(fd, 5000, g->origin, sizeof(g->origin), &cid, NULL, 0);
    if (g->rc == 0) {
        static uint8_t buf[8192];
        for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) {
            if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
                break;
            g->echoed += (size_t)n;
        }
        struct pollfd pf = {.fd = fd, .events = 0};
        while (g->hold && poll(&pf, 1, -1) >= 0 && !(pf.revents & (POLLHUP | POLLERR)))
            ;
    }
    close(fd);
    return NULL;
}

static void target_start_hold(struct target *g, pthread_t *th, struct rt *t, const char *domain, bool hold)
{
    memset(g, 0, sizeof(*g));
    g->hold = hold;
    g->lfd = rt_target_listen(t, domain, 7);
    ck_assert_int_eq(pthread_create(th, NULL, target_thread, g), 0);
}

static void target_start(struct target *g, pthread_t *th, struct rt *t, const char *domain)
{
    target_start_hold(g, th, t, domain, false);
}

struct writer {
    int fd;
    size_t len;
};

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 131 + (i >> 9));
}

static void *writer_thread(void *arg)
{
    struct writer *w = arg;
    static uint8_t buf[TRANSFER];
    for (size_t i = 0; i < w->len; i++)
        buf[i] = pattern(i);
    rt_write_all(w->fd, buf, w->len);
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

/* Sends len bytes through the relayed stream and checks the echo, then the end of stream. */
static void transfer(int fd, size_t len)
{
    static uint8_t got[TRANSFER + 1];
    struct writer w = {.fd = fd, .len = len};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_thread, &w), 0);
    size_t n = rt_read_all(fd, got, len + 1);
    ck_assert_uint_eq(n, len);
    for (size_t i = 0; i < len; i++)
        ck_assert_uint_eq(got[i], pattern(i));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* --- two linked relays -------------------------------------------------------------------------- */

struct fed {
    struct rt a, b;
    vmsec_keypair *ka, *kb;
    uint8_t pa[32], pb[32];
    char addr_b[64];
};

static const char *POLICY_A = "service echo port 7\n"
                              "allow echo from alice to hostB/bob\n"
                              "allow echo from carol to hostB/*\n";
static const char *POLICY_B = "service echo port 7\n"
                              "allow echo from hostA/alice to bob\n"
                              "deny echo from hostA/* to *\n";

static void fed_keys(struct fed *f)
{
    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(vmsec_keypair_generate(&f->ka), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&f->kb), 0);
    pub(f->ka, f->pa);
    pub(f->kb, f->pb);
    snprintf(f->addr_b, sizeof(f->addr_b), "tcp:127.0.0.1:%u", free_port());
}

static void fed_start_b(struct fed *f, const char *policy)
{
    lt_new(&f->b, policy, f->kb);
    ck_assert_int_eq(vmsec_relay_add_peer(f->b.relay, "hostA", NULL, f->pa, 32), 0);
    ck_assert_int_eq(vmsec_relay_listen_link(f->b.relay, f->addr_b), 0);
    lt_run(&f->b);
}

static void fed_start(struct fed *f, const char *policy_a, const char *policy_b, const char *a_dials)
{
    fed_keys(f);
    fed_start_b(f, policy_b);
    lt_new(&f->a, policy_a, f->ka);
    ck_assert_int_eq(vmsec_relay_add_peer(f->a.relay, "hostB", a_dials ? a_dials : f->addr_b, f->pb, 32), 0);
    lt_run(&f->a);
}

static void fed_stop(struct fed *f)
{
    rt_stop(&f->a);
    rt_stop(&f->b);
    vmsec_keypair_free(f->ka);
    vmsec_keypair_free(f->kb);
}

START_TEST(allowed_transfer_both_ways)
{
    struct fed f;
    fed_start(&f, POLICY_A, POLICY_B, NULL);
    struct target g;
    pthread_t th;
    target_start(&g, &th, &f.b, "bob");
    int c = rt_client(&f.a, 10, "alice");
    ck_assert_msg(vmsec_relay_request(c, "hostB/bob", "echo", 5000) == 0, "%s", vmsec_error_last());
    transfer(c, TRANSFER);
    close(c);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(g.rc, 0);
    /* the target learns the remote identity the linked relay vouched for */
    ck_assert_str_eq(g.origin, "hostA/alice");
    ck_assert_uint_eq(g.echoed, TRANSFER);
    /* both relays name the remote identity and the peer */
    WAIT_AUDIT(&f.a, "\"link-close\"", "\"peer\":\"hostB\"", "\"eof\"");
    WAIT_AUDIT(&f.b, "\"link-close\"", "\"peer\":\"hostA\"", "\"eof\"");
    ck_assert_int_eq(rt_audit_count(&f.b, "\"decision\"", "hostA/alice", "allow", NULL), 1);
    ck_assert_int_eq(rt_audit_count(&f.a, "\"decision\"", "hostB/bob", "allow", NULL), 1);
    ck_assert_int_eq(rt_audit_count(&f.b, "\"link-forward\"", "\"remote_cid\":10", NULL), 1);
    close(g.lfd);
    fed_stop(&f);
}
END_TEST

START_TEST(policy_of_b_denies)
{
    struct fed f;
    fed_start(&f, POLICY_A, POLICY_B, NULL);
    int c = rt_client(&f.a, 11, "carol");
    ck_assert_int_eq(vmsec_relay_request(c, "hostB/bob", "echo", 5000), VMSEC_EDENIED);
    close(c);
    WAIT_AUDIT(&f.b, "\"decision\"", "hostA/carol", "deny");
    WAIT_AUDIT(&f.a, "\"link-refused\"", "peer-denied");
    fed_stop(&f);
}
END_TEST

START_TEST(policy_of_a_denies_without_a_link)
{
    struct fed f;
    fed_start(&f, POLICY_A, POLICY_B, NULL);
    int c = rt_client(&f.a, 12, "dave");
    ck_assert_int_eq(vmsec_relay_request(c, "hostB/bob", "echo", 5000), VMSEC_EDENIED);
    close(c);
    /* alice may reach hostB/bob only */
    c = rt_client(&f.a, 10, "alice");
    ck_assert_int_eq(vmsec_relay_request(c, "hostB/eve", "echo", 5000), VMSEC_EDENIED);
    close(c);
    ck_assert_int_eq(rt_audit_count(&f.a, "link-open", NULL), 0);
    ck_assert_int_eq(rt_audit_count(&f.b, "link", NULL), 0);
    fed_stop(&f);
}
END_TEST

START_TEST(unknown_host_is_no_target)
{
    struct fed f;
    fed_start(&f, "service echo port 7\nallow echo from alice to hostZ/bob\n", POLICY_B, NULL);
    int c = rt_client(&f.a, 10, "alice");
    ck_assert_int_eq(vmsec_relay_request(c, "hostZ/bob", "echo", 5000), VMSEC_ENOTFOUND);
    close(c);
    WAIT_AUDIT(&f.a, "\"unavailable\"", "no-such-target");
    fed_stop(&f);
}
END_TEST

/* Connects like rt_connect, except that targets named "ghost-*" do not exist. */
static int ghost_connect(void *user, const char *domain, uint32_t port, int *fd)
{
    if (strncmp(domain, "ghost-", 6) == 0)
        return VMSEC_ENOTFOUND;
    return rt_connect(user, domain, port, fd);
}

/* B's no-such-target for a request its policy allowed reaches A's caller as such; for a source
 * B's policy refuses, a missing target is denied like any other. */
START_TEST(peer_no_such_target_reaches_the_caller)
{
    struct fed f;
    fed_keys(&f);
    lt_new(&f.b, "service echo port 7\nallow echo from hostA/alice to *\n", f.kb);
    ck_assert_int_eq(vmsec_relay_set_connect(f.b.relay, ghost_connect, &f.b), 0);
    ck_assert_int_eq(vmsec_relay_add_peer(f.b.relay, "hostA", NULL, f.pa, 32), 0);
    ck_assert_int_eq(vmsec_relay_listen_link(f.b.relay, f.addr_b), 0);
    lt_run(&f.b);
    lt_new(&f.a, "service echo port 7\nallow echo from * to hostB/*\n", f.ka);
    ck_assert_int_eq(vmsec_relay_add_peer(f.a.relay, "hostB", f.addr_b, f.pb, 32), 0);
    lt_run(&f.a);
    int c = rt_client(&f.a, 10, "alice");
    ck_assert_int_eq(vmsec_relay_request(c, "hostB/ghost-1", "echo", 5000), VMSEC_ENOTFOUND);
    ck_assert_str_eq(vmsec_error_last(), "relay: no such target 'hostB/ghost-1' (service 'echo' allowed)");
    close(c);
    WAIT_AUDIT(&f.b, "\"unavailable\"", "\"target\":\"ghost-1\"", "no-such-target");
    WAIT_AUDIT(&f.a, "\"link-refused\"", "peer-no-such-target");
    c = rt_client(&f.a, 11, "carol");
    ck_assert_int_eq(vmsec_relay_request(c, "hostB/ghost-2", "echo", 5000), VMSEC_EDENIED);
    close(c);
    WAIT_AUDIT(&f.b, "\"decision\"", "hostA/carol", "deny");
    ck_assert_int_eq(rt_audit_count(&f.b, "ghost-2", "no-such-target", NULL), 0);
    fed_stop(&f);
}
END_TEST

START_TEST(unknown_relay_key_refused)
{
    struct fed f;
    fed_keys(&f);
    vmsec_keypair *other = NULL;
    uint8_t po[32];
    ck_assert_int_eq(vmsec_keypair_generate(&other), 0);
    pub(other, po);
    /* B knows hostA by another key than the one A proves */
    lt_new(&f.b, POLICY_B, f.kb);
    ck_assert_int_eq(vmsec_relay_add_peer(f.b.relay, "hostA", NULL, po, 32), 0);
    ck_assert_int_eq(vmsec_relay_listen_link(f.b.relay, f.addr_b), 0);
    lt_run(&f.b);
    lt_new(&f.a, POLICY_A, f.ka);
    ck_assert_int_eq(vmsec_relay_add_peer(f.a.relay, "hostB", f.addr_b, f.pb, 32), 0);
    lt_run(&f.a);
    int c = rt_client(&f.a, 10, "alice");
    ck_assert_int_eq(vmsec_relay_request(c, "hostB/bob", "echo", 5000), VMSEC_ECONNREFUSED);
    close(c);
    WAIT_AUDIT(&f.b, "\"link-close\"", "handshake-failed");
    ck_assert_int_eq(rt_audit_count(&f.b, "link-forward", NULL), 0);
    ck_assert_int_eq(rt_audit_count(&f.b, "link-open", NULL), 0);
    vmsec_keypair_free(other);
    fed_stop(&f);
}
END_TEST

/* --- a hand-made peer relay: what a compromised relay can and cannot claim -------------------- */

static vmsec_channel *raw_link(const vmsec_keypair *kp, const uint8_t *server_key, const char *addr)
{
    vmsec_channel_config *cfg = NULL;
    vmsec_channel *ch = NULL;
    ck_assert_int_eq(vmsec_channel_config_new(&cfg), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keypair(cfg, kp), 0);
    ck_assert_int_eq(vmsec_channel_config_set_pattern(cfg, "IK"), 0);
    ck_assert_int_eq(vmsec_channel_config_set_prologue(cfg, (const uint8_t *)"vmsec relay link 1", 18), 0);
    ck_assert_int_eq(vmsec_channel_config_set_peer_key(cfg, server_key, 32), 0);
    ck_assert_msg(vmsec_channel_connect(&ch, cfg, addr) == 0, "%s", vmsec_error_last());
    vmsec_channel_config_free(cfg);
    return ch;
}

/* Sends a forwarded request (doc/RELAY.md, "Link wire format") and returns the status. */
static int raw_forward(vmsec_channel *ch, const char *source, const char *target)
{
    uint8_t m[300] = {'V', 'M', 'S', 'R', 1, 4};
    size_t sl = strlen(source), tl = strlen(target);
    m[6] = (uint8_t)sl;
    m[7] = (uint8_t)tl;
    m[8] = 4;
    m[13] = 42; /* cid */
    memcpy(m + 14, source, sl);
    memcpy(m + 14 + sl, target, tl);
    memcpy(m + 14 + sl + tl, "echo", 4);
    ck_assert_int_eq(vmsec_channel_send(ch, m, 18 + sl + tl, 0), 0);
    uint8_t rep[16];
    size_t len = 0;
    ck_assert_int_eq(vmsec_channel_recv(ch, rep, sizeof(rep), &len), 0);
    ck_assert_uint_eq(len, 8);
    ck_assert(memcmp(rep, "VMSR", 4) == 0 && rep[5] == 2);
    return rep[6];
}

START_TEST(peer_is_named_by_its_key)
{
    struct fed f;
    fed_keys(&f);
    vmsec_keypair *kc = NULL;
    uint8_t pc[32];
    ck_assert_int_eq(vmsec_keypair_generate(&kc), 0);
    pub(kc, pc);
    lt_new(&f.b, "service echo port 7\nallow echo from hostC/alice to bob\n", f.kb);
    ck_assert_int_eq(vmsec_relay_add_peer(f.b.relay, "hostA", NULL, f.pa, 32), 0);
    ck_assert_int_eq(vmsec_relay_add_peer(f.b.relay, "hostC", NULL, pc, 32), 0);
    ck_assert_int_eq(vmsec_relay_listen_link(f.b.relay, f.addr_b), 0);
    lt_run(&f.b);
    struct target g;
    pthread_t th;
    target_start(&g, &th, &f.b, "bob");

    /* hostA cannot name a source of another host, nor a target beyond B */
    vmsec_channel *ch = raw_link(f.ka, f.pb, f.addr_b);
    ck_assert_int_eq(raw_forward(ch, "hostC/alice", "bob"), VMSEC_RELAY_BAD_REQUEST);
    vmsec_channel_free(ch);
    ch = raw_link(f.ka, f.pb, f.addr_b);
    ck_assert_int_eq(raw_forward(ch, "alice", "hostC/bob"), VMSEC_RELAY_BAD_REQUEST);
    vmsec_channel_free(ch);
    /* its own guests are hostA's: B's policy, allowing hostC/alice only, denies them */
    ch = raw_link(f.ka, f.pb, f.addr_b);
    ck_assert_int_eq(raw_forward(ch, "alice", "bob"), VMSEC_RELAY_DENIED);
    vmsec_channel_free(ch);
    /* the relay proving hostC's key gets hostC's name, and the target sees it */
    ch = raw_link(kc, f.pb, f.addr_b);
    ck_assert_int_eq(raw_forward(ch, "alice", "bob"), VMSEC_RELAY_ACCEPTED);
    uint8_t msg[6] = {0, 'h', 'e', 'l', 'l', 'o'}, back[16];
    size_t len = 0;
    ck_assert_int_eq(vmsec_channel_send(ch, msg, sizeof(msg), 0), 0);
    ck_assert_int_eq(vmsec_channel_recv(ch, back, sizeof(back), &len), 0);
    ck_assert_uint_eq(len, 6);
    ck_assert(memcmp(back, msg, 6) == 0);
    uint8_t eof = 1;
    ck_assert_int_eq(vmsec_channel_send(ch, &eof, 1, 0), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_str_eq(g.origin, "hostC/alice");
    vmsec_channel_free(ch);
    close(g.lfd);
    vmsec_keypair_free(kc);
    rt_stop(&f.b);
    vmsec_keypair_free(f.ka);
    vmsec_keypair_free(f.kb);
}
END_TEST

/* --- a TCP proxy between the relays, to cut the link -------------------------------------------- */

struct proxy {
    int lfd, a, b;
    char to[64];
    pthread_t th;
};

static void *proxy_thread(void *arg)
{
    struct proxy *p = arg;
    p->a = accept(p->lfd, NULL, NULL);
    if (p->a < 0)
        return NULL;
    unsigned port;
    ck_assert_int_eq(sscanf(p->to, "tcp:127.0.0.1:%u", &port), 1);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int b = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(b, (struct sockaddr *)&in, sizeof(in)), 0);
    __atomic_store_n(&p->b, b, __ATOMIC_RELEASE);
    struct pollfd pf[2] = {{.fd = p->a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    uint8_t buf[16384];
    for (;;) {
        if (poll(pf, 2, -1) < 0)
            break;
        int i = pf[0].revents ? 0 : 1;
        ssize_t n = recv(pf[i].fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        if (send(pf[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
            break;
    }
    return NULL;
}

static void proxy_start(struct proxy *p, const char *to, char *addr, size_t cap)
{
    memset(p, 0, sizeof(*p));
    p->b = -1;
    snprintf(p->to, sizeof(p->to), "%s", to);
    unsigned port = free_port();
    snprintf(addr, cap, "tcp:127.0.0.1:%u", port);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&in, sizeof(in)), 0);
    ck_assert_int_eq(listen(p->lfd, 4), 0);
    ck_assert_int_eq(pthread_create(&p->th, NULL, proxy_thread, p), 0);
}

START_TEST(dropped_link_ends_both_sides)
{
    struct fed f;
    struct proxy p;
    char via[64];
    fed_keys(&f);
    fed_start_b(&f, POLICY_B);
    proxy_start(&p, f.addr_b, via, sizeof(via));
    lt_new(&f.a, POLICY_A, f.ka);
    ck_assert_int_eq(vmsec_relay_add_peer(f.a.relay, "hostB", via, f.pb, 32), 0);
    lt_run(&f.a);
    struct target g;
    pthread_t th;
    target_start(&g, &th, &f.b, "bob");
    int c = rt_client(&f.a, 10, "alice");
    ck_assert_msg(vmsec_relay_request(c, "hostB/bob", "echo", 5000) == 0, "%s", vmsec_error_last());
    uint8_t buf[1000];
    memset(buf, 7, sizeof(buf));
    rt_write_all(c, buf, sizeof(buf));
    ck_assert_uint_eq(rt_read_all(c, buf, sizeof(buf)), sizeof(buf));
    /* mid-stream, the connection between the relays dies (both halves reset) */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(p.a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    setsockopt(p.b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    shutdown(p.a, SHUT_RDWR);
    shutdown(p.b, SHUT_RDWR);
    ck_assert_int_eq(pthread_join(p.th, NULL), 0);
    close(p.a);
    close(p.b);
    close(p.lfd);
    /* the guest's stream ends; both relays audit the drop and end their session */
    ssize_t n;
    while ((n = recv(c, buf, sizeof(buf), 0)) > 0)
        ;
    close(c);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    WAIT_AUDIT(&f.a, "\"link-close\"", "\"peer\":\"hostB\"", "link-dropped");
    WAIT_AUDIT(&f.b, "\"link-close\"", "\"peer\":\"hostA\"", "link-dropped");
    WAIT_AUDIT(&f.a, "\"close\"", "\"reason\":\"link-dropped\"");
    WAIT_AUDIT(&f.b, "\"close\"", "\"reason\":\"link-dropped\"");
    uint64_t active = 1;
    while (vmsec_relay_stat(f.a.relay, VMSEC_RELAY_STAT_ACTIVE, &active) == 0 && active)
        usleep(2000);
    close(g.lfd);
    fed_stop(&f);
}
END_TEST

START_TEST(relay_b_restarted)
{
    struct fed f;
    fed_start(&f, POLICY_A, POLICY_B, NULL);
    rt_stop(&f.b);
    int c = rt_client(&f.a, 10, "alice");
    ck_assert_int_eq(vmsec_relay_request(c, "hostB/bob", "echo", 5000), VMSEC_ECONNREFUSED);
    close(c);
    WAIT_AUDIT(&f.a, "\"link-close\"", "link-connect-failed");
    fed_start_b(&f, POLICY_B);
    for (int round = 0; round < 2; round++) {
        struct target g;
        pthread_t th;
        target_start(&g, &th, &f.b, "bob");
        c = rt_client(&f.a, 10, "alice");
        ck_assert_msg(vmsec_relay_request(c, "hostB/bob", "echo", 5000) == 0, "%s", vmsec_error_last());
        transfer(c, 70000);
        close(c);
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        ck_assert_str_eq(g.origin, "hostA/alice");
        close(g.lfd);
        {
            char path[PATH_MAX + 64];
            snprintf(path, sizeof(path), "%s/t.bob.7", f.b.dir);
            unlink(path);
        }
    }
    fed_stop(&f);
}
END_TEST

/* A's session ends on its idle timeout while B's target keeps its side open: A's link gets its
 * drain time, then ends as dropped, and B's session and target end with it (no half-open
 * session is left behind on B). */
START_TEST(origin_session_gone_ends_the_link)
{
    struct fed f;
    fed_keys(&f);
    fed_start_b(&f, POLICY_B);
    lt_new(&f.a, POLICY_A, f.ka);
    ck_assert_int_eq(vmsec_relay_add_peer(f.a.relay, "hostB", f.addr_b, f.pb, 32), 0);
    ck_assert_int_eq(vmsec_relay_set_limit(f.a.relay, VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS, 200), 0);
    ck_assert_int_eq(vmsec_relay_set_limit(f.a.relay, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS, 300), 0);
    lt_run(&f.a);
    struct target g;
    pthread_t th;
    target_start_hold(&g, &th, &f.b, "bob", true);
    int c = rt_client(&f.a, 10, "alice");
    ck_assert_msg(vmsec_relay_request(c, "hostB/bob", "echo", 5000) == 0, "%s", vmsec_error_last());
    WAIT_AUDIT(&f.a, "\"close\"", "idle-timeout");
    WAIT_AUDIT(&f.a, "\"link-close\"", "link-timeout");
    WAIT_AUDIT(&f.b, "\"close\"", "\"reason\":\"link-dropped\"");
    ck_assert_int_eq(pthread_join(th, NULL), 0); /* the target's connection was closed */
    ck_assert_str_eq(g.origin, "hostA/alice");
    close(c);
    close(g.lfd);
    fed_stop(&f);
}
END_TEST

START_TEST(api_arguments)
{
    vmsec_relay *r = NULL;
    vmsec_keypair *kp = NULL;
    uint8_t key[32];
    ck_assert_int_eq(vmsec_relay_new(&r), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&kp), 0);
    pub(kp, key);
    ck_assert_int_eq(vmsec_relay_set_keypair(NULL, kp), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_keypair(r, NULL), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_add_peer(r, "host", NULL, key, 32), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_add_peer(r, "a/b", NULL, key, 32), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_add_peer(r, "hostB", "tcp:nowhere", key, 32), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_add_peer(r, "hostB", "tcp:127.0.0.1:1", key, 31), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_add_peer(r, "hostB", "tcp:127.0.0.1:1", key, 32), 0);
    ck_assert_int_eq(vmsec_relay_add_peer(r, "hostB", NULL, key, 32), VMSEC_EEXIST);
    ck_assert_int_eq(vmsec_relay_add_peer(r, "hostC", NULL, key, 32), VMSEC_EEXIST);
    ck_assert_int_eq(vmsec_relay_listen_link(r, "unix:/x"), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_listen_link(r, "tcp:localhost:1"), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_listen_link(r, "tcp:127.0.0.1:65536"), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_listen_link(r, "tcp:127.0.0.1:"), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_add_peer(r, "hostF", "tcp:[::1]:7351", key, 32), VMSEC_EEXIST); /* parsed */
    ck_assert_int_eq(vmsec_relay_add_peer(r, "hostF", "tcp:[::1:7351", key, 32), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_relay_set_keypair(r, kp), 0);
    vmsec_keypair_free(kp);
    vmsec_relay_free(r);
}
END_TEST

/* A reload replaces the peers, fails closed (no peer at all) and audits either way. */
START_TEST(peer_file_reload)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], text[2][128], data[1024];
    struct rt t;
    vmsec_keypair *kp[2] = {NULL, NULL};
    uint8_t key[2][32];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(vmsec_keypair_generate(&kp[i]), 0);
        pub(kp[i], key[i]);
        ck_assert_int_eq(vmsec_pubkey_to_text(key[i], text[i], sizeof(text[i])), 0);
    }
    lt_new(&t, "service echo port 7\n", kp[0]);
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/peers", dir);
    snprintf(data, sizeof(data), "hostB - %s\nhostC - %s\n", text[0], text[1]);
    vt_write_file(path, data, strlen(data), 0600);
    ck_assert_msg(vmsec_relay_reload_peers(t.relay, path) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"peers\"", "\"status\":\"loaded\"", "\"peers\":2", NULL), 1);
    /* replaced, not added to: hostB alone, so hostC's name and key are free again */
    snprintf(data, sizeof(data), "hostB - %s\n", text[0]);
    vt_write_file(path, data, strlen(data), 0600);
    ck_assert_msg(vmsec_relay_reload_peers(t.relay, path) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(vmsec_relay_add_peer(t.relay, "hostC", NULL, key[1], 32), 0);
    ck_assert_int_eq(vmsec_relay_add_peer(t.relay, "hostB", NULL, key[0], 32), VMSEC_EEXIST);
    /* half written: refused, and the relay is left with no peer at all */
    snprintf(data, sizeof(data), "hostB - %s\nhostC - x25", text[0]);
    vt_write_file(path, data, strlen(data), 0600);
    ck_assert_int_eq(vmsec_relay_reload_peers(t.relay, path), VMSEC_EFORMAT);
    ck_assert_msg(strstr(vmsec_error_last(), "(the relay now has no linked relay)"), "%s", vmsec_error_last());
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"peers\"", "\"status\":\"invalid\"", "no terminating newline",
                                    "\"effect\":\"no-peers\"", NULL), 1);
    ck_assert_int_eq(vmsec_relay_add_peer(t.relay, "hostB", NULL, key[0], 32), 0);
    ck_assert_int_eq(vmsec_relay_reload_peers(t.relay, "/nonexistent/peers"), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec_relay_add_peer(t.relay, "hostB", NULL, key[0], 32), 0);
    ck_assert_int_eq(vmsec_relay_reload_peers(NULL, path), VMSEC_EINVAL);
    lt_run(&t);
    rt_stop(&t);
    for (int i = 0; i < 2; i++)
        vmsec_keypair_free(kp[i]);
    vt_rmtree(dir);
}
END_TEST

START_TEST(peer_file)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], text[128], data[1024];
    vmsec_relay *r = NULL;
    vmsec_keypair *kp = NULL;
    uint8_t key[32];
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/peers", dir);
    ck_assert_int_eq(vmsec_relay_new(&r), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&kp), 0);
    pub(kp, key);
    ck_assert_int_eq(vmsec_pubkey_to_text(key, text, sizeof(text)), 0);
    /* all or nothing: the third line is bad, so hostB of the first is not kept */
    snprintf(data, sizeof(data), "# peers\nhostB tcp:127.0.0.1:7351 %s\n\nhostC - x25519:AAAA\n", text);
    vt_write_file(path, data, strlen(data), 0600);
    ck_assert_int_eq(vmsec_relay_load_peers(r, path), VMSEC_EFORMAT);
    ck_assert_msg(strstr(vmsec_error_last(), "peers:4: invalid public key"), "%s", vmsec_error_last());
    snprintf(data, sizeof(data), "hostB tcp:127.0.0.1:7351 %s # comment\n", text);
    vt_write_file(path, data, strlen(data), 0600);
    ck_assert_msg(vmsec_relay_load_peers(r, path) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(vmsec_relay_add_peer(r, "hostB", NULL, key, 32), VMSEC_EEXIST);
    snprintf(data, sizeof(data), "hostD nowhere %s\n", text);
    vt_write_file(path, data, strlen(data), 0600);
    ck_assert_int_eq(vmsec_relay_load_peers(r, path), VMSEC_EFORMAT);
    ck_assert_msg(strstr(vmsec_error_last(), "peers:1:"), "%s", vmsec_error_last());
    /* a file others may write cannot decide who names guests */
    snprintf(data, sizeof(data), "hostE - %s\n", text);
    vt_write_file(path, data, strlen(data), 0666);
    ck_assert_int_eq(vmsec_relay_load_peers(r, path), VMSEC_EPERM);
    ck_assert_int_eq(vmsec_relay_load_peers(r, "/nonexistent/peers"), VMSEC_ENOTFOUND);
    /* a file cut inside its last line (being written) is refused as a whole */
    snprintf(data, sizeof(data), "# peers\nhostF - %s", text);
    vt_write_file(path, data, strlen(data), 0600);
    ck_assert_int_eq(vmsec_relay_load_peers(r, path), VMSEC_EFORMAT);
    ck_assert_msg(strstr(vmsec_error_last(), "peers:2: last line has no terminating newline"), "%s",
                  vmsec_error_last());
    vmsec_keypair_free(kp);
    vmsec_relay_free(r);
    vt_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("relay_link");
    TCase *tc = tcase_create("link");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, api_arguments);
    tcase_add_test(tc, peer_file);
    tcase_add_test(tc, peer_file_reload);
    tcase_add_test(tc, allowed_transfer_both_ways);
    tcase_add_test(tc, policy_of_b_denies);
    tcase_add_test(tc, policy_of_a_denies_without_a_link);
    tcase_add_test(tc, unknown_host_is_no_target);
    tcase_add_test(tc, peer_no_such_target_reaches_the_caller);
    tcase_add_test(tc, unknown_relay_key_refused);
    tcase_add_test(tc, peer_is_named_by_its_key);
    tcase_add_test(tc, dropped_link_ends_both_sides);
    tcase_add_test(tc, relay_b_restarted);
    tcase_add_test(tc, origin_session_gone_ends_the_link);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
