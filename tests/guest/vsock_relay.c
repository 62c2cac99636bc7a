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

#include "gtap.h"
#include "gvsock.h"
#include "relay/relay_internal.h"

enum { PORT_RELAY = 7300, PORT_ECHO = 7301, PORT_NOBODY = 7302, PORT_FORGED = 7303, PORT_UNPRIVILEGED = 7304 };
#define MSG_LEN (1024 * 1024)
#define TIMEOUT_MS 60000

/* The name the directory gives CID 1; changed only while the relay thread is stopped. */
static const char *guest_name = "guest";

/* The one domain, with no tags, as the libvirt directory would copy it out. */
static int dir_fill(struct relay_ident *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", guest_name);
    snprintf(out->uuid, sizeof(out->uuid), "00000000-0000-0000-0000-000000000001");
    out->cid = VMADDR_CID_LOCAL;
    out->gen = 1;
    out->tags = calloc(1, sizeof(*out->tags));
    return out->tags ? 0 : VMSEC_ENOMEM;
}

static int dir_by_cid(void *d, uint32_t cid, struct relay_ident *out)
{
    (void)d;
    out->tags = NULL;
    return cid == VMADDR_CID_LOCAL ? dir_fill(out) : VMSEC_ENOTFOUND;
}

static int dir_by_name(void *d, const char *name, struct relay_ident *out)
{
    (void)d;
    out->tags = NULL;
    return strcmp(name, guest_name) == 0 ? dir_fill(out) : VMSEC_ENOTFOUND;
}

static int dir_check(void *d, const struct relay_ident *id)
{
    (void)d;
    return id->cid == VMADDR_CID_LOCAL && id->gen == 1 ? 0 : VMSEC_ESTATE;
}

static void dir_free(void *d)
{
    (void)d;
}

static const struct relay_dir_ops fixed_dir = {
    .by_cid = dir_by_cid, .by_name = dir_by_name, .check = dir_check, .free = dir_free};

static pthread_mutex_t audit_lock = PTHREAD_MUTEX_INITIALIZER;
static char audit[16384];
static size_t audit_len;

static void on_audit(void *user, const char *line)
{
    (void)user;
    pthread_mutex_lock(&audit_lock);
    size_t l = strlen(line);
    if (audit_len + l + 2 < sizeof(audit)) {
        memcpy(audit + audit_len, line, l);
        audit[audit_len + l] = '\n';
        audit_len += l + 1;
        audit[audit_len] = '\0';
    }
    pthread_mutex_unlock(&audit_lock);
}

static bool audit_has(const char *a, const char *b)
{
    pthread_mutex_lock(&audit_lock);
    bool found = false;
    for (char *line = audit; *line && !found;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        found = strstr(line, a) && strstr(line, b);
        *nl = '\n';
        line = nl + 1;
    }
    pthread_mutex_unlock(&audit_lock);
    return found;
}

static vmsec_keypair *kp_caller, *kp_target;
static uint8_t pub_caller[32], pub_target[32];

static vmsec_channel *open_channel(int fd, bool target)
{
    vmsec_channel_config *cfg = NULL;
    vmsec_channel *ch = NULL;
    if (vmsec_channel_config_new(&cfg) < 0 || vmsec_channel_config_set_keypair(cfg, target ? kp_target : kp_caller) < 0 ||
        vmsec_channel_config_add_trusted_peer(cfg, target ? pub_caller : pub_target, 32) < 0 ||
        vmsec_channel_config_set_handshake_timeout(cfg, TIMEOUT_MS) < 0 ||
        vmsec_channel_new(&ch, cfg, fd, target ? VMSEC_ROLE_RESPONDER : VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD) < 0) {
        vmsec_channel_config_free(cfg);
        return NULL;
    }
    vmsec_channel_config_free(cfg);
    if (vmsec_channel_handshake(ch) < 0) {
        gt_diag("handshake (%s): %s", target ? "target" : "caller", vmsec_error_last());
        vmsec_channel_free(ch);
        return NULL;
    }
    return ch;
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
        _exit(audit_has("\"reason\":\"relay-not-privileged\"", "\"service\":\"echo\"") ? 0 : 1);
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
                 vmsec_relay_set_audit_callback(r, on_audit, NULL) == 0;
    if (setup)
        vmsec__relay_set_directory(r, &fixed_dir, NULL);
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
    } else if (fd >= 0) {
        close(fd);
    }
    gt_ok(intact, "relay: 1 MiB message echoed intact through the relay");
    pthread_join(tt, NULL);
    close(t.lfd);
    gt_ok(t.origin_rc == 0 && strcmp(t.domain, "guest") == 0 && t.cid == VMADDR_CID_LOCAL &&
              strcmp(t.service, "echo") == 0,
          "relay: target learned source domain 'guest', CID %u and service from the origin header", t.cid);
    gt_ok(t.echoed, "relay: target saw a clean close after echoing");
    gt_ok(audit_has("\"event\":\"decision\"", "\"source\":\"guest\",\"source_cid\":1,\"target\":\"guest\","
                                              "\"service\":\"echo\",\"decision\":\"allow\""),
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
    guest_name = "host";
    pthread_create(&rt, NULL, relay_thread, r);
    fd = gv_connect(VMADDR_CID_LOCAL, PORT_RELAY);
    rc = fd >= 0 ? vmsec_relay_request(fd, "guest", "echo", TIMEOUT_MS) : -1;
    gt_ok(rc == VMSEC_EDENIED, "relay: a domain named 'host' is not taken for the host side");
    if (fd >= 0)
        close(fd);
    gt_ok(audit_has("\"event\":\"refused\"", "\"reason\":\"reserved-name\""),
          "relay: the refusal is audited as reserved-name");
    vmsec_relay_interrupt(r);
    pthread_join(rt, NULL);
    guest_name = "guest";
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
    gt_ok(audit_has("\"reason\":\"connect-failed\"", "\"service\":\"nobody\""),
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
