/* SPDX-License-Identifier: ISC */
/* Guest test program: the relay over real AF_VSOCK (loopback transport, CID 1).
 *
 * Runs inside the test guest (tests/guest/guest.sh). Exercises the production paths that need a
 * vsock transport: vmsec_relay_listen_vsock(), caller identification from the kernel-reported
 * peer CID (getpeername on AF_VSOCK), and target connection over AF_VSOCK. Only libvirt is
 * replaced: a fixed directory maps CID 1 (this guest, seen through loopback) to domain "guest".
 * A vmsec channel then runs end to end through the relay. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <vmsec.h>

#include "grelay.h"
#include "gtap.h"
#include "gvsock.h"

enum { PORT_RELAY = 7300, PORT_ECHO = 7301, PORT_NOBODY = 7302, PORT_FORGED = 7303, PORT_UNPRIVILEGED = 7304 };
#define MSG_LEN (1024 * 1024)
#define TIMEOUT_MS 60000

/* CID 1 is "guest"; renamed only while the relay thread is stopped. */
static struct gr_dir dir = {"guest"};
static struct gr_audit audit;

static vmsec_keypair *kp_caller, *kp_target;
static uint8_t pub_caller[32], pub_target[32];

static vmsec_channel *open_channel(int fd, bool target)
{
    return gr_channel_open(fd, target, target ? kp_target : kp_caller, target ? pub_caller : pub_target, TIMEOUT_MS);
}

struct target_result {
    int lfd;
    int origin_rc;
    char domain[256], service[65];
    uint32_t cid;
    bool echoed;
};

static void *target_thread(void *arg)
{
    struct target_result *t = arg;
    int fd = gv_accept(t->lfd, NULL);
    if (fd < 0)
        return NULL;
    t->origin_rc = vmsec_relay_origin_read(fd, TIMEOUT_MS, t->domain, sizeof(t->domain), &t->cid, t->service,
                                           sizeof(t->service));
    if (t->origin_rc < 0) {
        close(fd);
        return NULL;
    }
    vmsec_channel *ch = open_channel(fd, true);
    if (!ch)
        return NULL;
    uint8_t *buf = malloc(MSG_LEN);
    size_t len;
    if (vmsec_channel_recv(ch, buf, MSG_LEN, &len) == 0 && vmsec_channel_send(ch, buf, len, 0) == 0)
        t->echoed = vmsec_channel_recv(ch, buf, MSG_LEN, &len) == VMSEC_ECLOSED && vmsec_channel_close(ch) == 0;
    free(buf);
    vmsec_channel_free(ch);
    return NULL;
}

static void *relay_thread(void *arg)
{
    vmsec_relay_run(arg);
    return NULL;
}

/* A relay running as an ordinary user cannot bind a reserved port, so it cannot connect to a
 * target from where targets believe origin headers: it says so instead of connecting from an
 * ordinary port. The relay runs in a child as user 65534; the child's exit status says whether
 * its audit named the reason, after the caller here got UNAVAILABLE. */
static void unprivileged_relay_says_why(vmsec_relay *r)
{
    int go[2];
    if (pipe(go) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        pthread_t rt;
        if (setgid(65534) != 0 || setuid(65534) != 0 || vmsec_relay_listen_vsock(r, PORT_UNPRIVILEGED) != 0)
            _exit(2);
        pthread_create(&rt, NULL, relay_thread, r);
        char b;
        (void)!read(go[0], &b, 1); /* the caller is done */
        vmsec_relay_interrupt(r);
        pthread_join(rt, NULL);
        _exit(gr_audit_has(&audit, "\"reason\":\"relay-not-privileged\"", "\"service\":\"echo\"", NULL) ? 0 : 1);
    }
    close(go[0]);
    int rc = -1, fd = -1, status = -1;
    for (int i = 0; pid > 0 && i < 100 && fd < 0; i++) { /* until the child listens */
        fd = gv_connect(VMADDR_CID_LOCAL, PORT_UNPRIVILEGED);
        if (fd < 0)
            usleep(50 * 1000);
    }
    if (fd >= 0) {
        rc = vmsec_relay_request(fd, "guest", "echo", TIMEOUT_MS);
        close(fd);
    }
    gt_ok(rc == VMSEC_ECONNREFUSED, "relay: a relay without privilege answers UNAVAILABLE (%s)",
          rc ? vmsec_error_last() : "accepted");
    close(go[1]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    gt_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "relay: its audit names the reason, relay-not-privileged (child status %d)", status);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    gr_audit_init(&audit);
    if (!gt_ok(vmsec_init() == 0 && vmsec_keypair_generate(&kp_caller) == 0 &&
                   vmsec_keypair_generate(&kp_target) == 0 && vmsec_keypair_public(kp_caller, pub_caller, 32) == 0 &&
                   vmsec_keypair_public(kp_target, pub_target, 32) == 0,
               "relay: keys"))
        return gt_done();

    vmsec_relay *r = NULL;
    vmsec_policy *p = NULL;
    const char *text = "service echo port 7301\n"
                       "service nobody port 7302\n"
                       "allow echo from guest to guest\n"
                       "allow nobody from guest to guest\n";
    bool setup = vmsec_relay_new(&r) == 0 && vmsec_policy_load_string(&p, text, strlen(text), "guest.conf") == 0 &&
                 vmsec_relay_set_policy(r, p) == 0 && vmsec_relay_set_audit_fd(r, -1) == 0 &&
                 vmsec_relay_set_audit_callback(r, gr_on_audit, &audit) == 0;
    if (setup)
        vmsec__relay_set_directory(r, &gr_fixed_dir, &dir);
    int lrc = setup ? vmsec_relay_listen_vsock(r, PORT_RELAY) : -1;
    if (!gt_ok(setup && lrc == 0, "relay: listens on vsock port %d (%s)", PORT_RELAY, lrc ? vmsec_error_last() : "ok"))
        return gt_done();
    pthread_t rt;
    pthread_create(&rt, NULL, relay_thread, r);

    /* An allowed request: identification by peer CID, connection to the target over vsock. */
    struct target_result t = {.lfd = gv_listen(PORT_ECHO, 4), .origin_rc = 1};
    pthread_t tt;
    pthread_create(&tt, NULL, target_thread, &t);
    int fd = gv_connect(VMADDR_CID_LOCAL, PORT_RELAY);
    int rc = fd >= 0 ? vmsec_relay_request(fd, "guest", "echo", TIMEOUT_MS) : -1;
    gt_ok(rc == 0, "relay: request over vsock accepted (%s)", rc ? vmsec_error_last() : "ok");
    vmsec_channel *ch = rc == 0 ? open_channel(fd, false) : NULL;
    gt_ok(ch != NULL, "relay: vmsec channel handshake end to end through the relay");
    bool intact = false;
    if (ch) {
        uint8_t *msg = malloc(MSG_LEN), *back = malloc(MSG_LEN);
        gt_fill(msg, MSG_LEN, 42, 0);
        size_t len = 0;
        double t0 = gt_now();
        intact = vmsec_channel_send(ch, msg, MSG_LEN, 0) == 0 && vmsec_channel_recv(ch, back, MSG_LEN, &len) == 0 &&
                 len == MSG_LEN && memcmp(msg, back, MSG_LEN) == 0;
        gt_diag("relay: 1 MiB echoed through the relay in %.1f ms", (gt_now() - t0) * 1000);
        vmsec_channel_close(ch);
        vmsec_channel_recv(ch, back, MSG_LEN, &len);
        vmsec_channel_free(ch);
        free(msg);
        free(back);
    } else if (fd >= 0 && rc != 0) { /* a failed handshake closed it */
        close(fd);
    }
    gt_ok(intact, "relay: 1 MiB message echoed intact through the relay");
    pthread_join(tt, NULL);
    close(t.lfd);
    gt_ok(t.origin_rc == 0 && strcmp(t.domain, "guest") == 0 && t.cid == VMADDR_CID_LOCAL &&
              strcmp(t.service, "echo") == 0,
          "relay: target learned source domain 'guest', CID %u and service from the origin header", t.cid);
    gt_ok(t.echoed, "relay: target saw a clean close after echoing");
    gt_ok(gr_audit_has(&audit, "\"event\":\"decision\"",
                       "\"source\":\"guest\",\"source_cid\":1,\"target\":\"guest\",\"service\":\"echo\",\"decision\":\"allow\"",
                       NULL),
          "relay: audit record names the kernel-reported source CID");

    /* Any other process can reach the target too, but only from an ordinary port: a well-formed
     * origin header it sends is refused, where the relay's (from a reserved port) was read. */
    int flfd = gv_listen(PORT_FORGED, 1), ffd = gv_connect(VMADDR_CID_LOCAL, PORT_FORGED);
    int afd = flfd >= 0 && ffd >= 0 ? gv_accept(flfd, NULL) : -1;
    uint8_t forged[RELAY_ORIGIN_MAX];
    size_t flen = vmsec__relay_encode_origin(forged, "admin", 7, "echo");
    int frc = afd >= 0 && write(ffd, forged, flen) == (ssize_t)flen
                  ? vmsec_relay_origin_read(afd, TIMEOUT_MS, t.domain, sizeof(t.domain), &t.cid, t.service,
                                            sizeof(t.service))
                  : -1;
    gt_ok(frc == VMSEC_EPERM, "relay: an origin header sent from an unreserved vsock port is refused (%s)",
          frc ? vmsec_error_last() : "read");
    if (afd >= 0)
        close(afd);
    if (ffd >= 0)
        close(ffd);
    if (flfd >= 0)
        close(flfd);

    vmsec_relay_interrupt(r);
    pthread_join(rt, NULL);
    unprivileged_relay_says_why(r);

    /* A domain named in the host side's namespace would pass for the host: it is refused. */
    dir.name = "host";
    pthread_create(&rt, NULL, relay_thread, r);
    fd = gv_connect(VMADDR_CID_LOCAL, PORT_RELAY);
    rc = fd >= 0 ? vmsec_relay_request(fd, "guest", "echo", TIMEOUT_MS) : -1;
    gt_ok(rc == VMSEC_EDENIED, "relay: a domain named 'host' is not taken for the host side");
    if (fd >= 0)
        close(fd);
    gt_ok(gr_audit_has(&audit, "\"event\":\"refused\"", "\"reason\":\"reserved-name\"", NULL),
          "relay: the refusal is audited as reserved-name");
    vmsec_relay_interrupt(r);
    pthread_join(rt, NULL);
    dir.name = "guest";
    pthread_create(&rt, NULL, relay_thread, r);

    /* Denied by default, and allowed but nobody listening. */
    fd = gv_connect(VMADDR_CID_LOCAL, PORT_RELAY);
    rc = fd >= 0 ? vmsec_relay_request(fd, "guest", "ssh", TIMEOUT_MS) : -1;
    gt_ok(rc == VMSEC_EDENIED, "relay: request no rule allows is denied over vsock");
    if (fd >= 0)
        close(fd);
    fd = gv_connect(VMADDR_CID_LOCAL, PORT_RELAY);
    rc = fd >= 0 ? vmsec_relay_request(fd, "guest", "nobody", TIMEOUT_MS) : -1;
    gt_ok(rc == VMSEC_ECONNREFUSED, "relay: allowed service with no vsock listener is unavailable");
    if (fd >= 0)
        close(fd);
    gt_ok(gr_audit_has(&audit, "\"reason\":\"connect-failed\"", "\"service\":\"nobody\"", NULL),
          "relay: failed vsock connect to the target is audited");

    /* A caller whose CID the directory does not know is refused: a fresh relay without the map. */
    vmsec_relay_interrupt(r);
    pthread_join(rt, NULL);
    vmsec__relay_set_directory(r, NULL, NULL);
    fd = gv_connect(VMADDR_CID_LOCAL, PORT_RELAY);
    pthread_create(&rt, NULL, relay_thread, r);
    rc = fd >= 0 ? vmsec_relay_request(fd, "guest", "echo", TIMEOUT_MS) : -1;
    gt_ok(rc == VMSEC_EDENIED, "relay: caller with an unknown CID is denied");
    if (fd >= 0)
        close(fd);
    vmsec_relay_interrupt(r);
    pthread_join(rt, NULL);
    vmsec_relay_free(r);
    vmsec_keypair_free(kp_caller);
    vmsec_keypair_free(kp_target);
    return gt_done();
}
