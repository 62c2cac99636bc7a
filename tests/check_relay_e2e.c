/* SPDX-License-Identifier: ISC */
/* End to end: two peers run a vmsec channel through the relay under a policy. A tap between the
 * relay and the target records every byte the relay forwards, and the test checks that the
 * plaintext never appears in it. Denied pairs are refused with an audit line, and a target
 * rejects a caller whose authenticated key does not belong to the domain the relay named. */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>

#include "relay_testutil.h"

#define SECRET "TOP-SECRET-PLAINTEXT-"
#define MSG_LEN (200 * 1024)

static const char *policy_text = "service secure port 6000\n"
                                 "allow secure from alice to bob\n"
                                 "allow secure from carol to bob\n";

struct keys {
    vmsec_keypair *alice, *bob, *mallory;
    uint8_t alice_pub[32], bob_pub[32], mallory_pub[32];
};

static void keys_make(struct keys *k)
{
    ck_assert_int_eq(vmsec_keypair_generate(&k->alice), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&k->bob), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&k->mallory), 0);
    ck_assert_int_eq(vmsec_keypair_public(k->alice, k->alice_pub, 32), 0);
    ck_assert_int_eq(vmsec_keypair_public(k->bob, k->bob_pub, 32), 0);
    ck_assert_int_eq(vmsec_keypair_public(k->mallory, k->mallory_pub, 32), 0);
}

static void keys_free(struct keys *k)
{
    vmsec_keypair_free(k->alice);
    vmsec_keypair_free(k->bob);
    vmsec_keypair_free(k->mallory);
}

static vmsec_channel_config *config(const vmsec_keypair *me, const uint8_t *peer1, const uint8_t *peer2)
{
    vmsec_channel_config *cfg;
    ck_assert_int_eq(vmsec_channel_config_new(&cfg), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keypair(cfg, me), 0);
    ck_assert_int_eq(vmsec_channel_config_add_trusted_peer(cfg, peer1, 32), 0);
    if (peer2)
        ck_assert_int_eq(vmsec_channel_config_add_trusted_peer(cfg, peer2, 32), 0);
    return cfg;
}

/* --- the tap: relay <-> [socketpair | tap thread] <-> target ---------------------------------- */

struct tap {
    struct rt *rt;
    pthread_mutex_t lock;
    uint8_t *bytes; /* everything the relay forwarded, both directions */
    size_t len;
    int ntaps;
    pthread_t threads[8];
};

struct tap_pair {
    struct tap *tap;
    int a, b; /* a: relay side, b: target side */
};

static void tap_record(struct tap *t, const uint8_t *p, size_t n)
{
    pthread_mutex_lock(&t->lock);
    t->bytes = realloc(t->bytes, t->len + n);
    memcpy(t->bytes + t->len, p, n);
    t->len += n;
    pthread_mutex_unlock(&t->lock);
}

static void *tap_thread(void *arg)
{
    struct tap_pair *tp = arg;
    struct pollfd pfd[2] = {{.fd = tp->a, .events = POLLIN}, {.fd = tp->b, .events = POLLIN}};
    uint8_t buf[16384];
    int open = 2;
    while (open) {
        ck_assert_int_ge(poll(pfd, 2, -1), 0);
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int other = i == 0 ? tp->b : tp->a;
            ssize_t n = recv(pfd[i].fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                shutdown(other, SHUT_WR);
                pfd[i].fd = -1;
                open--;
                continue;
            }
            tap_record(tp->tap, buf, (size_t)n);
            rt_write_all(other, buf, (size_t)n);
        }
    }
    close(tp->a);
    close(tp->b);
    free(tp);
    return NULL;
}

static int tap_connect(void *user, const char *domain, uint32_t port, int *fd)
{
    struct tap *t = user;
    int target;
    int rc = rt_connect(t->rt, domain, port, &target);
    if (rc < 0)
        return rc;
    struct pollfd p = {.fd = target, .events = POLLOUT};
    poll(&p, 1, 5000);
    int fl = fcntl(target, F_GETFL);
    fcntl(target, F_SETFL, fl & ~O_NONBLOCK);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    struct tap_pair *tp = malloc(sizeof(*tp));
    *tp = (struct tap_pair){.tap = t, .a = sv[1], .b = target};
    ck_assert_int_lt(t->ntaps, 8);
    ck_assert_int_eq(pthread_create(&t->threads[t->ntaps++], NULL, tap_thread, tp), 0);
    *fd = sv[0];
    return 0;
}

static bool contains(const uint8_t *hay, size_t hlen, const void *needle, size_t nlen)
{
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return true;
    return false;
}

/* --- bob: the target ---------------------------------------------------------------------------- */

struct bob {
    int lfd;
    struct keys *k;
    vmsec_peermap *peers;
    int result;          /* of the peer map check */
    char domain[256];
    pthread_t thread;
};

static void *bob_thread(void *arg)
{
    struct bob *b = arg;
    int fd = accept(b->lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    uint32_t cid;
    char service[65];
    ck_assert_int_eq(vmsec_relay_origin_read(fd, 5000, b->domain, sizeof(b->domain), &cid, service, sizeof(service)), 0);
    ck_assert_str_eq(service, "secure");
    /* Bob accepts alice's and mallory's keys at the channel level... */
    vmsec_channel_config *cfg = config(b->k->bob, b->k->alice_pub, b->k->mallory_pub);
    vmsec_channel *ch;
    ck_assert_int_eq(vmsec_channel_new(&ch, cfg, fd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_handshake(ch), 0);
    /* ...but only from the domain each key belongs to. */
    uint8_t peer[32];
    ck_assert_int_eq(vmsec_channel_peer_key(ch, peer, sizeof(peer)), 0);
    b->result = vmsec_peermap_check(b->peers, b->domain, peer, sizeof(peer));
    if (b->result == 0) {
        uint8_t *msg = malloc(MSG_LEN);
        size_t len;
        ck_assert_int_eq(vmsec_channel_recv(ch, msg, MSG_LEN, &len), 0);
        ck_assert_uint_eq(len, MSG_LEN);
        ck_assert(memcmp(msg, SECRET, strlen(SECRET)) == 0);
        memcpy(msg, "ACK-", 4); /* the reply is secret too */
        ck_assert_int_eq(vmsec_channel_send(ch, msg, len, 0), 0);
        ck_assert_int_eq(vmsec_channel_recv(ch, msg, MSG_LEN, &len), VMSEC_ECLOSED);
        ck_assert_int_eq(vmsec_channel_close(ch), 0);
        free(msg);
    }
    vmsec_channel_free(ch);
    vmsec_channel_config_free(cfg);
    return NULL;
}

static void bob_start(struct bob *b, struct rt *t, struct keys *k)
{
    memset(b, 0, sizeof(*b));
    b->k = k;
    b->result = 1;
    b->lfd = rt_target_listen(t, "bob", 6000);
    ck_assert_int_eq(vmsec_peermap_new(&b->peers), 0);
    ck_assert_int_eq(vmsec_peermap_add(b->peers, "alice", k->alice_pub, 32), 0);
    ck_assert_int_eq(vmsec_peermap_add(b->peers, "mallory", k->mallory_pub, 32), 0);
    ck_assert_int_eq(pthread_create(&b->thread, NULL, bob_thread, b), 0);
}

static void bob_join(struct bob *b)
{
    ck_assert_int_eq(pthread_join(b->thread, NULL), 0);
    close(b->lfd);
    vmsec_peermap_free(b->peers);
}

static void setup(struct rt *t, struct tap *tap)
{
    rt_start(t, policy_text);
    memset(tap, 0, sizeof(*tap));
    tap->rt = t;
    pthread_mutex_init(&tap->lock, NULL);
    ck_assert_int_eq(vmsec_relay_set_connect(t->relay, tap_connect, tap), 0);
}

static void teardown(struct rt *t, struct tap *tap)
{
    for (int i = 0; i < tap->ntaps; i++)
        ck_assert_int_eq(pthread_join(tap->threads[i], NULL), 0);
    free(tap->bytes);
    pthread_mutex_destroy(&tap->lock);
    rt_stop(t);
}

START_TEST(channel_through_relay_carries_only_ciphertext)
{
    struct rt t;
    struct tap tap;
    struct keys k;
    struct bob b;
    keys_make(&k);
    setup(&t, &tap);
    bob_start(&b, &t, &k);

    int fd = rt_client(&t, 3, "alice");
    ck_assert_int_eq(vmsec_relay_request(fd, "bob", "secure", 5000), 0);
    vmsec_channel_config *cfg = config(k.alice, k.bob_pub, NULL);
    vmsec_channel *ch;
    ck_assert_int_eq(vmsec_channel_new(&ch, cfg, fd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_handshake(ch), 0);
    uint8_t peer[32];
    ck_assert_int_eq(vmsec_channel_peer_key(ch, peer, 32), 0);
    ck_assert(memcmp(peer, k.bob_pub, 32) == 0);
    uint8_t *msg = malloc(MSG_LEN), *back = malloc(MSG_LEN);
    for (size_t i = 0; i < MSG_LEN; i += strlen(SECRET))
        memcpy(msg + i, SECRET, MSG_LEN - i < strlen(SECRET) ? MSG_LEN - i : strlen(SECRET));
    ck_assert_int_eq(vmsec_channel_send(ch, msg, MSG_LEN, 0), 0);
    size_t len;
    ck_assert_int_eq(vmsec_channel_recv(ch, back, MSG_LEN, &len), 0);
    ck_assert_uint_eq(len, MSG_LEN);
    ck_assert(memcmp(back, "ACK-", 4) == 0 && memcmp(back + 4, msg + 4, MSG_LEN - 4) == 0);
    ck_assert_int_eq(vmsec_channel_close(ch), 0);
    ck_assert_int_eq(vmsec_channel_recv(ch, back, MSG_LEN, &len), VMSEC_ECLOSED);
    vmsec_channel_free(ch);
    vmsec_channel_config_free(cfg);
    bob_join(&b);
    ck_assert_int_eq(b.result, 0);
    ck_assert_str_eq(b.domain, "alice");
    ck_assert_int_eq(rt_audit_count(&t, "\"decision\":\"allow\"", "\"source\":\"alice\"", "\"target\":\"bob\"",
                                    "\"rule\":\"t.conf:2\"", NULL),
                     1);
    /* Joining the taps completes the capture; keep it past the teardown. */
    for (int i = 0; i < tap.ntaps; i++)
        ck_assert_int_eq(pthread_join(tap.threads[i], NULL), 0);
    tap.ntaps = 0;
    uint8_t *cap = tap.bytes;
    size_t caplen = tap.len;
    tap.bytes = NULL;
    teardown(&t, &tap);

    /* The relay forwarded both messages (2 x 200 KiB plus framing)... */
    ck_assert_uint_gt(caplen, 2 * MSG_LEN);
    /* ...starting with the origin header, which is the only cleartext it adds... */
    ck_assert(memcmp(cap, "VMSR\x01\x03\x05\x06\x00\x00\x00\x03" "alicesecure", 23) == 0);
    /* ...and no plaintext: not the marker, not any 16-byte window of the message. */
    ck_assert(contains(cap, caplen, "alicesecure", 11)); /* control: the search does find cleartext */
    ck_assert(!contains(cap, caplen, "SECRET", 6));
    ck_assert(!contains(cap, caplen, "PLAINTEXT", 9));
    ck_assert(!contains(cap, caplen, msg + 1000, 16));
    free(cap);
    free(msg);
    free(back);
    keys_free(&k);
}
END_TEST

START_TEST(denied_pair_is_refused_with_audit_line)
{
    struct rt t;
    struct tap tap;
    setup(&t, &tap);
    int lfd = rt_target_listen(&t, "bob", 6000);
    int fd = rt_client(&t, 4, "mallory");
    ck_assert_int_eq(vmsec_relay_request(fd, "bob", "secure", 5000), VMSEC_EDENIED);
    close(fd);
    ck_assert_int_eq(rt_audit_count(&t, "\"event\":\"decision\"", "\"source\":\"mallory\"", "\"source_cid\":4",
                                    "\"target\":\"bob\"", "\"service\":\"secure\"", "\"decision\":\"deny\"",
                                    "\"rule\":\"t.conf:default\"", NULL),
                     1);
    ck_assert_int_eq(tap.ntaps, 0); /* the relay never connected to bob */
    close(lfd);
    teardown(&t, &tap);
}
END_TEST

START_TEST(key_of_another_domain_is_rejected_by_the_target)
{
    /* carol is allowed by policy, but authenticates with mallory's key: bob's channel accepts the
     * key, and the peer map check against the relay-named domain refuses it. */
    struct rt t;
    struct tap tap;
    struct keys k;
    struct bob b;
    keys_make(&k);
    setup(&t, &tap);
    bob_start(&b, &t, &k);
    int fd = rt_client(&t, 5, "carol");
    ck_assert_int_eq(vmsec_relay_request(fd, "bob", "secure", 5000), 0);
    vmsec_channel_config *cfg = config(k.mallory, k.bob_pub, NULL);
    vmsec_channel *ch;
    ck_assert_int_eq(vmsec_channel_new(&ch, cfg, fd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_handshake(ch), 0);
    bob_join(&b);
    ck_assert_str_eq(b.domain, "carol");
    ck_assert_int_eq(b.result, VMSEC_EAUTH);
    vmsec_channel_free(ch);
    vmsec_channel_config_free(cfg);
    teardown(&t, &tap);
    keys_free(&k);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("relay_e2e");
    TCase *tc = tcase_create("relay_e2e");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, channel_through_relay_carries_only_ciphertext);
    tcase_add_test(tc, denied_pair_is_refused_with_audit_line);
    tcase_add_test(tc, key_of_another_domain_is_rejected_by_the_target);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
