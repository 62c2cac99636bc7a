/* SPDX-License-Identifier: ISC */
/* Guest test program: relay federation (doc/RELAY.md, "Federation") with real AF_VSOCK guests.
 *
 * Runs inside the test guest (tests/guest/guest.sh), where the guest talks to itself over vsock
 * CID 1. Two relays run in this process, each with its own relay key and peer map, linked over
 * TCP on the guest's loopback interface (brought up here: the guest's init leaves it down):
 *
 *   caller --vsock--> relay A ("hostA" to B) ==TCP link, vmsec IK==> relay B ("hostB" to A)
 *          --vsock, reserved port--> target
 *
 * Relay A identifies the caller by the kernel-reported peer CID (its directory names CID 1
 * "guest"); the caller asks for "hostB/db"; relay B's directory names CID 1 "db", its policy
 * allows the remote source "hostA/guest", and the target reads that name from the origin header.
 * A vmsec channel between caller and target carries 1 MiB each way through both relays. Then B's
 * policy without the grant (a refusal, not a hang), and relay B gone and back (UNAVAILABLE, then
 * the next request links again). Only libvirt is replaced, by fixed one-domain directories. */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <vmsec.h>

#include "grelay.h"
#include "gtap.h"
#include "gvsock.h"

enum { PORT_RELAY_A = 7310, PORT_TARGET = 7311 };
#define LINK_ADDR "tcp:127.0.0.1:7352"
#define MSG_LEN (1024 * 1024)
#define TIMEOUT_MS 60000

static const char *const GRANT = "service echo port 7311\n"
                                 "allow echo from hostA/guest to db\n";
static const char *const NO_GRANT = "service echo port 7311\n"
                                    "allow echo from hostA/other to db\n";

/* --- one relay: a one-domain directory (CID 1 under this relay's name for it), its audit ------- */

struct side {
    struct gr_dir dir;
    struct gr_audit audit;
    vmsec_relay *r;
    pthread_t thread;
};

static void *relay_thread(void *arg)
{
    vmsec_relay_run(((struct side *)arg)->r);
    return NULL;
}

static vmsec_keypair *kp_a, *kp_b, *kp_caller, *kp_target;
static uint8_t pub_a[32], pub_b[32], pub_caller[32], pub_target[32];

static bool side_new(struct side *s, const char *domain, const char *policy, const vmsec_keypair *kp)
{
    memset(s, 0, sizeof(*s));
    gr_audit_init(&s->audit);
    s->dir.name = domain;
    vmsec_policy *p = NULL;
    bool ok = vmsec_relay_new(&s->r) == 0 && vmsec_policy_load_string(&p, policy, strlen(policy), "fed.conf") == 0 &&
              vmsec_relay_set_policy(s->r, p) == 0 && vmsec_relay_set_audit_fd(s->r, -1) == 0 &&
              vmsec_relay_set_audit_callback(s->r, gr_on_audit, &s->audit) == 0 && vmsec_relay_set_keypair(s->r, kp) == 0;
    if (ok)
        vmsec__relay_set_directory(s->r, &gr_fixed_dir, &s->dir);
    return ok;
}

/* Relay B: names the relay proving A's key "hostA", accepts links on the guest's loopback. */
static bool start_b(struct side *b, const char *policy)
{
    if (!side_new(b, "db", policy, kp_b) || vmsec_relay_add_peer(b->r, "hostA", NULL, pub_a, 32) != 0 ||
        vmsec_relay_listen_link(b->r, LINK_ADDR) != 0)
        return false;
    return pthread_create(&b->thread, NULL, relay_thread, b) == 0;
}

static void stop(struct side *s)
{
    vmsec_relay_interrupt(s->r);
    pthread_join(s->thread, NULL);
    vmsec_relay_free(s->r);
    s->r = NULL;
}

/* The guest's init leaves lo down; the link needs 127.0.0.1. */
static int loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    rc = rc < 0 ? -errno : 0;
    close(s);
    return rc;
}

/* --- the guests: caller and target, a vmsec channel end to end ---------------------------------- */

static vmsec_channel *open_channel(int fd, bool target)
{
    return gr_channel_open(fd, target, target ? kp_target : kp_caller, target ? pub_caller : pub_target, TIMEOUT_MS);
}

/* The caller sends stream 1, the target answers with stream 2; each side checks what it got
 * against the regenerated stream's FNV-1a checksum. */
static uint64_t stream_fnv(uint64_t seed)
{
    uint8_t *buf = malloc(MSG_LEN);
    if (!buf)
        return 0;
    gt_fill(buf, MSG_LEN, seed, 0);
    uint64_t h = gt_fnv(GT_FNV_INIT, buf, MSG_LEN);
    free(buf);
    return h;
}

struct target {
    int lfd;
    int origin_rc;
    char origin[300], service[65];
    uint32_t cid;
    bool got_intact, clean_close;
};

static void *target_thread(void *arg)
{
    struct target *t = arg;
    int fd = gv_accept(t->lfd, NULL);
    if (fd < 0)
        return NULL;
    t->origin_rc =
        vmsec_relay_origin_read(fd, TIMEOUT_MS, t->origin, sizeof(t->origin), &t->cid, t->service, sizeof(t->service));
    if (t->origin_rc < 0) {
        close(fd);
        return NULL;
    }
    vmsec_channel *ch = open_channel(fd, true);
    uint8_t *buf = malloc(MSG_LEN);
    size_t len = 0;
    if (ch && buf && vmsec_channel_recv(ch, buf, MSG_LEN, &len) == 0) {
        t->got_intact = len == MSG_LEN && gt_fnv(GT_FNV_INIT, buf, len) == stream_fnv(1);
        gt_fill(buf, MSG_LEN, 2, 0);
        if (vmsec_channel_send(ch, buf, MSG_LEN, 0) == 0)
            t->clean_close = vmsec_channel_recv(ch, buf, MSG_LEN, &len) == VMSEC_ECLOSED && vmsec_channel_close(ch) == 0;
    }
    free(buf);
    vmsec_channel_free(ch);
    return NULL;
}

/* One caller through A to hostB/db: the request's result; *intact whether both megabytes
 * arrived as sent (only tried when the relays accepted). */
static int call(struct target *t, bool *intact)
{
    *intact = false;
    pthread_t tt;
    bool threaded = t && pthread_create(&tt, NULL, target_thread, t) == 0;
    int fd = gv_connect(VMADDR_CID_LOCAL, PORT_RELAY_A);
    int rc = fd >= 0 ? vmsec_relay_request(fd, "hostB/db", "echo", TIMEOUT_MS) : fd;
    if (rc != 0)
        gt_diag("request: %s", fd >= 0 ? vmsec_error_last() : gv_errname(fd));
    vmsec_channel *ch = rc == 0 ? open_channel(fd, false) : NULL;
    if (rc != 0 && fd >= 0)
        close(fd);
    if (ch) {
        uint8_t *buf = malloc(MSG_LEN);
        size_t len = 0;
        double t0 = gt_now();
        if (buf) {
            gt_fill(buf, MSG_LEN, 1, 0);
            *intact = vmsec_channel_send(ch, buf, MSG_LEN, 0) == 0 && vmsec_channel_recv(ch, buf, MSG_LEN, &len) == 0 &&
                      len == MSG_LEN && gt_fnv(GT_FNV_INIT, buf, len) == stream_fnv(2);
            gt_diag("federation: 1 MiB each way through two relays in %.1f ms", (gt_now() - t0) * 1000);
            vmsec_channel_close(ch);
            vmsec_channel_recv(ch, buf, MSG_LEN, &len);
        }
        free(buf);
        vmsec_channel_free(ch);
    }
    if (threaded)
        pthread_join(tt, NULL); /* after a failure, its accept times out (GV_IO_TIMEOUT) */
    return rc;
}

static bool keys(void)
{
    return vmsec_init() == 0 && vmsec_keypair_generate(&kp_a) == 0 && vmsec_keypair_generate(&kp_b) == 0 &&
           vmsec_keypair_generate(&kp_caller) == 0 && vmsec_keypair_generate(&kp_target) == 0 &&
           vmsec_keypair_public(kp_a, pub_a, 32) == 0 && vmsec_keypair_public(kp_b, pub_b, 32) == 0 &&
           vmsec_keypair_public(kp_caller, pub_caller, 32) == 0 && vmsec_keypair_public(kp_target, pub_target, 32) == 0;
}

static void allowed(struct side *a, struct side *b)
{
    gr_audit_reset(&a->audit);
    gr_audit_reset(&b->audit);
    struct target t = {.lfd = gv_listen(PORT_TARGET, 4), .origin_rc = 1};
    bool intact;
    int rc = call(&t, &intact);
    gt_ok(rc == 0, "federation: caller over vsock to hostB/db, accepted by both relays (%s)",
          rc ? vmsec_error_last() : "ok");
    gt_ok(intact && t.got_intact, "federation: 1 MiB each way end to end, checksums match (caller %s, target %s)",
          intact ? "ok" : "bad", t.got_intact ? "ok" : "bad");
    gt_ok(t.clean_close, "federation: the target saw the caller's clean close");
    gt_ok(t.origin_rc == 0 && strcmp(t.origin, "hostA/guest") == 0 && t.cid == 0 && strcmp(t.service, "echo") == 0,
          "federation: origin header from relay B names 'hostA/guest', CID 0, service echo (got '%s', CID %u)",
          t.origin_rc == 0 ? t.origin : "-", t.cid);
    gt_ok(gr_audit_wait(&a->audit, "\"decision\"", "\"source\":\"guest\",\"source_cid\":1",
                        "\"target\":\"hostB/db\"", "\"allow\"", NULL),
          "federation: relay A decided on the kernel-reported CID 1 as 'guest'");
    gt_ok(gr_audit_wait(&b->audit, "\"link-forward\"", "\"peer\":\"hostA\"", "\"remote_cid\":1", NULL) &&
              gr_audit_wait(&b->audit, "\"decision\"", "\"source\":\"hostA/guest\"", "\"target\":\"db\"", "\"allow\"", NULL),
          "federation: relay B allowed hostA/guest, the name it gives A's key");
    gt_ok(gr_audit_wait(&a->audit, "\"link-close\"", "\"peer\":\"hostB\"", "\"eof\"", NULL) &&
              gr_audit_wait(&b->audit, "\"link-close\"", "\"peer\":\"hostA\"", "\"eof\"", NULL),
          "federation: both relays closed the link at end of stream");
    close(t.lfd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!gt_ok(keys(), "federation: keys"))
        return gt_done();
    int up = loopback_up();
    if (!gt_ok(up == 0, "federation: guest loopback interface up (%s)", gv_errname(up)))
        return gt_done();

    struct side a, b;
    const char *policy_a = "service echo port 7311\n"
                           "allow echo from guest to hostB/db\n";
    bool ok_a = side_new(&a, "guest", policy_a, kp_a) &&
                vmsec_relay_add_peer(a.r, "hostB", LINK_ADDR, pub_b, 32) == 0 &&
                vmsec_relay_listen_vsock(a.r, PORT_RELAY_A) == 0;
    bool ok_b = ok_a && start_b(&b, GRANT);
    if (!gt_ok(ok_a && ok_b, "federation: relay A on vsock port %d, relay B linked over %s (%s)", PORT_RELAY_A,
               LINK_ADDR, ok_b ? "ok" : vmsec_error_last()))
        return gt_done();
    pthread_create(&a.thread, NULL, relay_thread, &a);

    allowed(&a, &b);

    /* B's policy without the grant: B refuses, A passes the refusal on, no target is reached. */
    vmsec_policy *p = NULL;
    if (vmsec_policy_load_string(&p, NO_GRANT, strlen(NO_GRANT), "fed-nogrant.conf") == 0)
        vmsec_relay_set_policy(b.r, p);
    int lfd = gv_listen(PORT_TARGET, 4);
    bool intact;
    int rc = call(NULL, &intact);
    gt_ok(rc == VMSEC_EDENIED, "federation: without B's grant the caller is denied (%s)",
          rc ? vmsec_error_last() : "accepted");
    /* B connects to a target before it answers, so a connection would be pending by now */
    struct pollfd pf = {.fd = lfd, .events = POLLIN};
    gt_ok(lfd >= 0 && poll(&pf, 1, 0) == 0, "federation: no connection reached the target");
    close(lfd);
    gt_ok(gr_audit_wait(&b.audit, "\"decision\"", "\"source\":\"hostA/guest\"", "\"deny\"", NULL) &&
              gr_audit_wait(&a.audit, "\"link-refused\"", "\"peer-denied\"", NULL),
          "federation: B audits the denial, A the link refused as peer-denied");

    /* Relay B gone: the caller is told UNAVAILABLE (no hang). B back: the next request links again. */
    stop(&b);
    rc = call(NULL, &intact);
    gt_ok(rc == VMSEC_ECONNREFUSED, "federation: relay B down, the caller is told UNAVAILABLE (%s)",
          rc ? vmsec_error_last() : "accepted");
    gt_ok(gr_audit_wait(&a.audit, "\"link-close\"", "link-connect-failed", NULL),
          "federation: relay A audits link-connect-failed");
    bool restarted = start_b(&b, GRANT);
    gt_ok(restarted, "federation: relay B restarted on %s (%s)", LINK_ADDR, restarted ? "ok" : vmsec_error_last());
    if (restarted) {
        allowed(&a, &b);
        stop(&b);
    }
    stop(&a);
    vmsec_keypair_free(kp_a);
    vmsec_keypair_free(kp_b);
    vmsec_keypair_free(kp_caller);
    vmsec_keypair_free(kp_target);
    return gt_done();
}
