/* SPDX-License-Identifier: ISC */
/* Guest test program: vmsec channels over real AF_VSOCK (loopback transport, CID 1).
 *
 * Runs inside the test guest (tests/guest/guest.sh), statically linked against the library's
 * channel, transport, Noise and key code and a static libsodium. It drives the public API exactly
 * as an application would: `vsock:1:PORT` addresses, every supported handshake pattern, peer CIDs,
 * large messages and the failure cases (no listener, port in use, a peer dying mid-message, a CID
 * filter) here; many concurrent clients and a poll(2) loop in vsock_channel_load.c, a throughput
 * comparison with raw vsock in vsock_channel_bench.c, shared helpers in vsock_channel_util.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <vmsec.h>
#include <vmsec/channel.h>
#include <vmsec/transport.h>

#include "gtap.h"
#include "gvsock.h"
#include "vsock_channel.h"

/* --- every pattern: handshake, data, authentication, clean close ------------------------------ */

static void test_pattern(size_t idx)
{
    const struct pattern *p = &patterns[idx];
    unsigned port = PORT_PATTERNS + (unsigned)idx;
    vmsec_channel_config *scfg = make_cfg(p, false), *ccfg = make_cfg(p, true);
    struct server s;
    char a[64], proto[64] = "";
    if (!scfg || !ccfg)
        goto out;
    vmsec_channel_config_get_protocol(ccfg, proto, sizeof(proto));
    int rc = server_start(&s, scfg, port, 0, NULL, 0);
    if (!gt_ok(rc == 0, "%s: listener on vsock:any:%u (%s)", p->name, port, errname(rc)))
        goto out;
    vmsec_channel *ch = NULL;
    addr(a, sizeof(a), "1", port);
    rc = vmsec_channel_connect(&ch, ccfg, a);
    if (rc != 0) {
        gt_ok(false, "%s: handshake over %s (%s: %s)", proto, a, errname(rc), vmsec_error_last());
        server_abort(&s);
        goto out;
    }
    gt_ok(vmsec_channel_state(ch) == VMSEC_STATE_OPEN, "%s: handshake over %s", proto, a);

    static uint8_t msg[100000], back[100000];
    const size_t sizes[] = { 0, 1, 1000, sizeof(msg) };
    bool ok = true;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && ok; i++) {
        gt_fill(msg, sizes[i], idx * 10 + i, 0);
        ok = echo_once(ch, msg, sizes[i], back, sizeof(back));
    }
    gt_ok(ok, "%s: messages of 0, 1, 1000 and 100000 bytes echo back intact", p->name);

    uint8_t key[VMSEC_KEY_BYTES], hh[VMSEC_HANDSHAKE_HASH_MAX];
    size_t hh_len = 0;
    int krc = vmsec_channel_peer_key(ch, key, sizeof(key));
    vmsec_channel_handshake_hash(ch, hh, sizeof(hh), &hh_len);
    rc = vmsec_channel_close(ch);
    size_t len;
    int end = vmsec_channel_recv(ch, back, sizeof(back), &len);
    vmsec_channel_free(ch);
    server_join(&s);

    bool client_auth = krc == 0 && memcmp(key, server_pub, sizeof(key)) == 0;
    bool server_auth = p->initiator_static
                           ? s.key_rc == 0 && memcmp(s.peer_key, client_pub, sizeof(key)) == 0
                           : s.key_rc == VMSEC_ENOTFOUND;
    gt_ok(client_auth && server_auth, "%s: peer static keys as expected on both sides (%s)", p->name,
          p->initiator_static ? "mutual" : "responder only; initiator anonymous");
    gt_ok(hh_len > 0 && hh_len == s.hh_len && memcmp(hh, s.hh, hh_len) == 0,
          "%s: both sides derive the same handshake hash", p->name);
    gt_ok(rc == 0 && end == VMSEC_ECLOSED && s.end_rc == VMSEC_ECLOSED,
          "%s: close_notify seen as a clean close both ways (client %s, server %s)", p->name,
          errname(end), errname(s.end_rc));
out:
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- authentication failures ------------------------------------------------------------------ */

/* Runs one handshake expected to fail; returns the client's result, the server's in *srv. */
static int failing_handshake(const vmsec_channel_config *scfg, const vmsec_channel_config *ccfg,
                             unsigned port, int *srv)
{
    struct server s;
    char a[64];
    int rc = server_start(&s, scfg, port, 0, NULL, 0);
    if (rc != 0) {
        *srv = rc;
        return rc;
    }
    vmsec_channel *ch = NULL;
    addr(a, sizeof(a), "1", port);
    rc = vmsec_channel_connect(&ch, ccfg, a);
    if (rc == 0) {
        /* The responder decides last in some patterns: a message round trip settles it. */
        uint8_t b[8];
        size_t len;
        rc = vmsec_channel_send(ch, (const uint8_t *)"x", 1, 0);
        if (rc == 0)
            rc = vmsec_channel_recv(ch, b, sizeof(b), &len);
    }
    vmsec_channel_free(ch);
    if (rc == VMSEC_ECONNREFUSED)
        server_abort(&s);
    else
        server_join(&s);
    *srv = s.rc != 0 ? s.rc : s.end_rc;
    return rc;
}

static void test_negative(void)
{
    const struct pattern *xx = pattern_named("XX"), *ikpsk2 = pattern_named("IKpsk2");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    int srv = 0, cli;
    if (scfg && ccfg && vmsec_channel_config_set_keypair(ccfg, stranger_kp) == 0) {
        cli = failing_handshake(scfg, ccfg, PORT_NEGATIVE, &srv);
        gt_ok(srv == VMSEC_EAUTH && cli != 0,
              "XX: a client with an untrusted key is refused (server %s, client %s)", errname(srv),
              errname(cli));
    }
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);

    static const uint8_t other_psk[VMSEC_PSK_BYTES] = { 1 };
    scfg = make_cfg(ikpsk2, false);
    ccfg = make_cfg(ikpsk2, true);
    if (scfg && ccfg && vmsec_channel_config_set_psk(ccfg, other_psk, sizeof(other_psk)) == 0) {
        cli = failing_handshake(scfg, ccfg, PORT_NEGATIVE + 1, &srv);
        gt_ok(cli != 0 && srv != 0 && (cli == VMSEC_EAUTH || srv == VMSEC_EAUTH),
              "IKpsk2: a PSK mismatch fails the handshake with VMSEC_EAUTH (server %s, client %s)",
              errname(srv), errname(cli));
    }
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- peer CID ---------------------------------------------------------------------------------- */

static void test_peer_cid(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    vmsec_listener *l = NULL;
    char a[64], peer[VMSEC_ADDRESS_MAX] = "", bound[VMSEC_ADDRESS_MAX] = "";
    if (!scfg || !ccfg)
        goto out;
    addr(a, sizeof(a), "any", PORT_CID);
    int rc = vmsec_listener_new(&l, a);
    if (!gt_ok(rc == 0, "listener on %s (%s)", a, errname(rc)))
        goto out;
    rc = vmsec_listener_address(l, bound, sizeof(bound));
    gt_ok(rc == 0 && strstr(bound, ":7110") != NULL, "listener reports its address (%s)", bound);

    int cfd = -1, sfd = -1;
    uint32_t cid = 0;
    addr(a, sizeof(a), "local", PORT_CID);
    rc = vmsec_transport_connect(a, 10000, &cfd);
    gt_ok(rc == 0, "transport connects to %s (%s)", a, errname(rc));
    int arc = rc == 0 ? vmsec_listener_accept(l, &sfd, peer, sizeof(peer), &cid) : rc;
    gt_ok(arc == 0 && cid == VMADDR_CID_LOCAL && strncmp(peer, "vsock:1:", 8) == 0,
          "the listener reports the peer as CID 1 (%s, cid %u)", peer, cid);
    if (arc == 0) {
        vmsec_channel *sc = NULL, *cc = NULL;
        uint32_t scid = 0, ccid = 0;
        int r1 = vmsec_channel_new(&sc, scfg, sfd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD);
        int r2 = vmsec_channel_new(&cc, ccfg, cfd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD);
        if (r1 == 0 && r2 == 0) {
            sfd = cfd = -1;
            r1 = vmsec_channel_peer_cid(sc, &scid);
            r2 = vmsec_channel_peer_cid(cc, &ccid);
        }
        gt_ok(r1 == 0 && r2 == 0 && scid == VMADDR_CID_LOCAL && ccid == VMADDR_CID_LOCAL,
              "vmsec_channel_peer_cid gives 1 on both ends (%u, %u)", scid, ccid);
        vmsec_channel_free(sc);
        vmsec_channel_free(cc);
    }
    if (sfd >= 0)
        close(sfd);
    if (cfd >= 0)
        close(cfd);
out:
    vmsec_listener_free(l);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- large messages ---------------------------------------------------------------------------- */

static void test_large(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    const size_t max = VMSEC_CHANNEL_DEFAULT_MAX_MESSAGE;
    struct server s;
    uint8_t *msg = malloc(max + 1), *back = malloc(max);
    vmsec_channel *ch = NULL;
    char a[64];
    int rc;
    if (!scfg || !ccfg || !msg || !back)
        goto out;
    memset(msg, 0, max + 1);
    rc = server_start(&s, scfg, PORT_LARGE, max, NULL, 0);
    if (!gt_ok(rc == 0, "listener for large messages (%s)", errname(rc)))
        goto out;
    addr(a, sizeof(a), "1", PORT_LARGE);
    rc = vmsec_channel_connect(&ch, ccfg, a);
    if (rc == 0) {
        const size_t sizes[] = { VMSEC_RECORD_PAYLOAD_MAX, VMSEC_RECORD_PAYLOAD_MAX + 1,
                                 (1 << 20) + 7, max };
        int good = 0;
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            size_t len = 0;
            gt_fill(msg, sizes[i], 900 + i, 0);
            uint64_t want = gt_fnv(GT_FNV_INIT, msg, sizes[i]);
            memset(back, 0, sizes[i]);
            if (vmsec_channel_send(ch, msg, sizes[i], 0) == 0 &&
                vmsec_channel_recv(ch, back, max, &len) == 0 && len == sizes[i] &&
                gt_fnv(GT_FNV_INIT, back, len) == want)
                good++;
            else
                gt_diag("large message of %zu bytes: %s", sizes[i], vmsec_error_last());
        }
        gt_ok(good == 4, "messages of 65518, 65519, 1 MiB + 7 and 16 MiB (the maximum) echo back "
                         "with matching checksums (%d of 4)", good);
        rc = vmsec_channel_send(ch, msg, max + 1, 0);
        gt_ok(rc == VMSEC_ETOOBIG, "a message one byte over the maximum is refused with "
                                   "VMSEC_ETOOBIG (%s)", errname(rc));
        gt_ok(echo_once(ch, msg, 100, back, max), "the channel still works after the refusal");
        vmsec_channel_close(ch);
        size_t len;
        vmsec_channel_recv(ch, back, max, &len);
        vmsec_channel_free(ch);
        server_join(&s);
    } else {
        gt_ok(false, "connect for large messages (%s: %s)", errname(rc), vmsec_error_last());
        server_abort(&s);
    }
out:
    free(msg);
    free(back);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- no listener, port in use ------------------------------------------------------------------ */

static void test_nobody(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *ccfg = make_cfg(xx, true);
    vmsec_channel *ch = NULL;
    char a[64], port[16];
    if (!ccfg)
        return;
    addr(a, sizeof(a), "1", PORT_NOBODY);
    snprintf(port, sizeof(port), "%u", PORT_NOBODY);
    double t0 = gt_now();
    int rc = vmsec_channel_connect(&ch, ccfg, a);
    double ms = (gt_now() - t0) * 1000;
    const char *msg = vmsec_error_last();
    gt_ok(rc == VMSEC_ECONNREFUSED && ch == NULL,
          "connecting to %s with no listener fails with VMSEC_ECONNREFUSED (%s)", a, errname(rc));
    gt_ok(strstr(msg, port) != NULL, "the error message names the address (\"%s\")", msg);
    gt_diag("vmsec: connect to %s with no listener -> %s after %.1f ms", a, errname(rc), ms);
    vmsec_channel_free(ch);
    vmsec_channel_config_free(ccfg);
}

static void test_inuse(void)
{
    vmsec_listener *l1 = NULL, *l2 = NULL;
    char a[64], port[16];
    addr(a, sizeof(a), "any", PORT_INUSE);
    snprintf(port, sizeof(port), "%u", PORT_INUSE);
    int rc = vmsec_listener_new(&l1, a);
    if (!gt_ok(rc == 0, "first listener on %s (%s)", a, errname(rc)))
        return;
    rc = vmsec_listener_new(&l2, a);
    const char *msg = vmsec_error_last();
    gt_ok(rc == VMSEC_EADDRINUSE && l2 == NULL,
          "a second listener on %s fails with VMSEC_EADDRINUSE (%s)", a, errname(rc));
    gt_ok(strstr(msg, port) != NULL, "the error message names the address (\"%s\")", msg);
    vmsec_listener_free(l2);
    vmsec_listener_free(l1);
    l2 = NULL;
    rc = vmsec_listener_new(&l2, a);
    gt_ok(rc == 0, "the port can be listened on again after vmsec_listener_free (%s)", errname(rc));
    vmsec_listener_free(l2);
}

/* --- a peer that dies mid-message -------------------------------------------------------------- */

/* Child: connects, sends part of a message too big for the socket buffers, and is killed. */
static void dying_writer(const vmsec_channel_config *ccfg, int how)
{
    vmsec_channel *ch = NULL;
    char a[64];
    addr(a, sizeof(a), "1", PORT_DIES);
    if (vmsec_channel_connect(&ch, ccfg, a) != 0)
        _exit(2);
    if (how == 0) {
        /* Non-blocking: the send is accepted and written only as far as the socket takes it. */
        size_t len = 8u << 20;
        uint8_t *msg = calloc(1, len);
        if (!msg || vmsec_channel_set_nonblocking(ch, 1) != 0)
            _exit(3);
        int rc = vmsec_channel_send(ch, msg, len, 0);
        if (rc != 0 && rc != VMSEC_EAGAIN)
            _exit(4);
        raise(SIGKILL);
    }
    /* how == 1: a whole message, then the process exits without close_notify. */
    if (vmsec_channel_send(ch, (const uint8_t *)"last words", 10, 0) != 0)
        _exit(5);
    raise(SIGKILL);
    _exit(6);
}

static void test_peer_dies(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    vmsec_listener *l = NULL;
    char a[64];
    if (!scfg || !ccfg)
        goto out;
    if (vmsec_channel_config_set_max_message(scfg, 16u << 20) != 0)
        goto out;
    addr(a, sizeof(a), "any", PORT_DIES);
    int rc = vmsec_listener_new(&l, a);
    if (!gt_ok(rc == 0, "listener for the dying peer (%s)", errname(rc)))
        goto out;
    for (int how = 0; how < 2; how++) {
        pid_t pid = fork();
        if (pid == 0)
            dying_writer(ccfg, how);
        vmsec_channel *ch = NULL;
        uint8_t *buf = malloc(16u << 20);
        size_t len = 0;
        int first = VMSEC_ENOMEM, second = VMSEC_ENOMEM, status = 0;
        rc = buf ? vmsec_channel_accept(&ch, scfg, l) : VMSEC_ENOMEM;
        size_t len2 = 0;
        if (rc == 0) {
            first = vmsec_channel_recv(ch, buf, 16u << 20, &len);
            second = how == 0 ? first : vmsec_channel_recv(ch, buf, 16u << 20, &len2);
        }
        waitpid(pid, &status, 0);
        bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        if (how == 0) {
            gt_ok(killed && rc == 0 && first == VMSEC_ETRUNCATED,
                  "a peer killed in the middle of an 8 MiB message gives VMSEC_ETRUNCATED, not a "
                  "clean close (%s; writer %s)", errname(first), killed ? "killed" : "not killed");
            int again = ch ? vmsec_channel_recv(ch, buf, 16u << 20, &len2) : 0;
            gt_ok(again == VMSEC_ESTATE, "the truncated channel stays failed (%s)", errname(again));
        } else {
            gt_ok(killed && rc == 0 && first == 0 && len == 10 && memcmp(buf, "last words", 10) == 0 &&
                      second == VMSEC_ETRUNCATED,
                  "a peer killed between messages: its last message arrives, then "
                  "VMSEC_ETRUNCATED (%s, %s)", errname(first), errname(second));
        }
        vmsec_channel_free(ch);
        free(buf);
    }
out:
    vmsec_listener_free(l);
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- a listener that only accepts a given CID -------------------------------------------------- */

static void test_cid_filter(void)
{
    const struct pattern *xx = pattern_named("XX");
    vmsec_channel_config *scfg = make_cfg(xx, false), *ccfg = make_cfg(xx, true);
    struct server s;
    char a[64];
    if (!scfg || !ccfg)
        goto out;
    const uint32_t only1[] = { VMADDR_CID_LOCAL };
    int rc = server_start(&s, scfg, PORT_FILTER, 0, only1, 1);
    if (!gt_ok(rc == 0, "listener allowing only CID 1 (%s)", errname(rc)))
        goto out;
    addr(a, sizeof(a), "1", PORT_FILTER);
    vmsec_channel *ch = NULL;
    int crc = vmsec_channel_connect(&ch, ccfg, a);
    uint8_t b[16];
    gt_ok(crc == 0 && echo_once(ch, (const uint8_t *)"cid", 3, b, sizeof(b)),
          "a listener allowing only CID 1 serves a channel from CID 1 (%s)", errname(crc));
    if (ch) {
        size_t len;
        vmsec_channel_close(ch);
        vmsec_channel_recv(ch, b, sizeof(b), &len);
        vmsec_channel_free(ch);
        server_join(&s);
    } else {
        server_abort(&s);
    }

    /* Now only CID 3 is allowed: the accept refuses us and the connection is closed. */
    addr(a, sizeof(a), "any", PORT_FILTER);
    vmsec_listener *l = NULL;
    rc = vmsec_listener_new(&l, a);
    const uint32_t only3[] = { 3 };
    if (rc == 0)
        rc = vmsec_listener_set_cid_filter(l, only3, 1);
    int cfd = -1, sfd = -1, arc = VMSEC_EINVAL;
    addr(a, sizeof(a), "1", PORT_FILTER);
    if (rc == 0)
        rc = vmsec_transport_connect(a, 10000, &cfd);
    if (rc == 0)
        arc = vmsec_listener_accept(l, &sfd, NULL, 0, NULL);
    gt_ok(arc == VMSEC_EDENIED && sfd < 0, "a listener allowing only CID 3 refuses CID 1 with "
                                            "VMSEC_EDENIED (%s: %s)", errname(arc), vmsec_error_last());
    if (cfd >= 0) {
        vmsec_channel *cc = NULL;
        int hrc = vmsec_channel_new(&cc, ccfg, cfd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD);
        if (hrc == 0)
            hrc = vmsec_channel_handshake(cc);
        else
            close(cfd);
        gt_ok(hrc != 0 && vmsec_channel_state(cc) != VMSEC_STATE_OPEN,
              "the refused client's handshake fails instead of hanging (%s)", errname(hrc));
        vmsec_channel_free(cc);
    }
    if (sfd >= 0)
        close(sfd);
    vmsec_listener_free(l);
out:
    vmsec_channel_config_free(scfg);
    vmsec_channel_config_free(ccfg);
}

/* --- main -------------------------------------------------------------------------------------- */

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int rc = vmsec_init();
    if (rc == 0)
        rc = vmsec_keypair_generate(&server_kp);
    if (rc == 0)
        rc = vmsec_keypair_generate(&client_kp);
    if (rc == 0)
        rc = vmsec_keypair_generate(&stranger_kp);
    if (rc == 0)
        rc = vmsec_keypair_public(server_kp, server_pub, sizeof(server_pub));
    if (rc == 0)
        rc = vmsec_keypair_public(client_kp, client_pub, sizeof(client_pub));
    if (rc == 0)
        rc = vmsec_keypair_public(stranger_kp, stranger_pub, sizeof(stranger_pub));
    if (!gt_ok(rc == 0, "library initialised and keys generated in the guest (%s)", errname(rc))) {
        printf("Bail out! %s\n", vmsec_error_last());
        return 1;
    }
    gt_fill(psk, sizeof(psk), 42, 0);

    for (size_t i = 0; i < n_patterns; i++)
        test_pattern(i);
    test_negative();
    test_peer_cid();
    test_many();
    test_poll_server();
    test_large();
    test_nobody();
    test_inuse();
    test_peer_dies();
    test_cid_filter();
    test_bench();

    vmsec_keypair_free(server_kp);
    vmsec_keypair_free(client_kp);
    vmsec_keypair_free(stranger_kp);
    return gt_done();
}
