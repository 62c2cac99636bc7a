/* SPDX-License-Identifier: ISC */
/* Channels over real sockets: unix socketpairs and TCP on 127.0.0.1, blocking and non-blocking
 * (poll), a sending and a receiving thread at once, batching, handshake timeout, vanishing peers,
 * a replayed handshake message. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vmsec.h>

#include "channel_pair.h"
#include "testutil.h"

static vmsec_keypair *ka, *kb;
static vmsec_channel_config *cfg_a, *cfg_b;
static size_t scale = 1; /* VMSEC_TEST_QUICK=1 (valgrind) moves a tenth of the data */

static void setup(void)
{
    scale = getenv("VMSEC_TEST_QUICK") && !strcmp(getenv("VMSEC_TEST_QUICK"), "1") ? 10 : 1;
    vt_channel_pair_new(&ka, &kb, &cfg_a, &cfg_b);
    vmsec_channel_config_set_handshake_timeout(cfg_a, 5000);
    vmsec_channel_config_set_handshake_timeout(cfg_b, 5000);
}

static void teardown(void)
{
    vt_channel_pair_free(ka, kb, cfg_a, cfg_b);
}

typedef struct {
    vmsec_channel *ch;
    int rc;
} hs_arg;

static void *do_handshake(void *p)
{
    hs_arg *a = p;
    a->rc = vmsec_channel_handshake(a->ch);
    return NULL;
}

/* Two blocking channels over a socketpair, handshaken in parallel. */
static void open_pair(vmsec_channel **a, vmsec_channel **b)
{
    int sv[2];
    pthread_t t;
    hs_arg ha, hb;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(vmsec_channel_new(a, cfg_a, sv[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_new(b, cfg_b, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    ha.ch = *a;
    hb.ch = *b;
    pthread_create(&t, NULL, do_handshake, &ha);
    do_handshake(&hb);
    pthread_join(t, NULL);
    ck_assert_msg(ha.rc == 0 && hb.rc == 0, "%d %d %s", ha.rc, hb.rc, vmsec_error_last());
}

typedef struct {
    vmsec_channel *ch;
    size_t count, size;
    int rc;
    uint8_t digest[32];
} stream_arg;

/* Sends count messages of size bytes (content derived from the index), then close_notify. */
static void *sender(void *p)
{
    stream_arg *s = p;
    uint8_t *buf = malloc(s->size + 8);
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    for (size_t i = 0; i < s->count && !s->rc; i++) {
        size_t len = s->size ? (i * 7919) % s->size : 0;
        memset(buf, (int)(i & 0xff), len);
        crypto_hash_sha256_update(&h, buf, len);
        s->rc = vmsec_channel_send(s->ch, buf, len, (i % 4 != 3 && i + 1 < s->count) ? VMSEC_SEND_MORE : 0);
    }
    if (!s->rc)
        s->rc = vmsec_channel_close(s->ch);
    crypto_hash_sha256_final(&h, s->digest);
    free(buf);
    return NULL;
}

/* Receives until close_notify, checking each message. */
static void *receiver(void *p)
{
    stream_arg *s = p;
    uint8_t *buf = malloc(s->size + 8);
    size_t len, i = 0;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    while ((s->rc = vmsec_channel_recv(s->ch, buf, s->size + 8, &len)) == 0) {
        size_t want = s->size ? (i * 7919) % s->size : 0;
        if (len != want || (len && buf[0] != (uint8_t)(i & 0xff))) {
            s->rc = -1000;
            break;
        }
        crypto_hash_sha256_update(&h, buf, len);
        i++;
    }
    if (s->rc == VMSEC_ECLOSED && i == s->count)
        s->rc = 0;
    crypto_hash_sha256_final(&h, s->digest);
    free(buf);
    return NULL;
}

START_TEST(blocking_socketpair_both_directions_at_once)
{
    vmsec_channel *a, *b;
    pthread_t t[3];
    stream_arg sa = {.count = 3000 / scale, .size = 70000}, rb = {.count = 3000 / scale, .size = 70000};
    stream_arg sb = {.count = 2000 / scale, .size = 3000}, ra = {.count = 2000 / scale, .size = 3000};
    uint8_t ka_[32], kb_[32], ha[64], hb[64], pa[32], pb[32];
    size_t hla, hlb;
    open_pair(&a, &b);
    /* one sender and one receiver thread on each channel, all four at once */
    sa.ch = rb.ch = NULL;
    sa.ch = a;
    rb.ch = b;
    sb.ch = b;
    ra.ch = a;
    pthread_create(&t[0], NULL, sender, &sa);
    pthread_create(&t[1], NULL, receiver, &rb);
    pthread_create(&t[2], NULL, sender, &sb);
    receiver(&ra);
    for (int k = 0; k < 3; k++)
        pthread_join(t[k], NULL);
    ck_assert_msg(sa.rc == 0 && rb.rc == 0 && sb.rc == 0 && ra.rc == 0, "%d %d %d %d", sa.rc, rb.rc, sb.rc, ra.rc);
    ck_assert_mem_eq(sa.digest, rb.digest, 32);
    ck_assert_mem_eq(sb.digest, ra.digest, 32);
    ck_assert_int_eq(vmsec_channel_peer_key(a, kb_, 32), 0);
    ck_assert_int_eq(vmsec_channel_peer_key(b, ka_, 32), 0);
    vmsec_keypair_public(ka, pa, 32);
    vmsec_keypair_public(kb, pb, 32);
    ck_assert_mem_eq(ka_, pa, 32);
    ck_assert_mem_eq(kb_, pb, 32);
    ck_assert_int_eq(vmsec_channel_handshake_hash(a, ha, sizeof(ha), &hla), 0);
    ck_assert_int_eq(vmsec_channel_handshake_hash(b, hb, sizeof(hb), &hlb), 0);
    ck_assert_uint_eq(hla, hlb);
    ck_assert_mem_eq(ha, hb, hla);
    ck_assert_int_eq(vmsec_channel_state(a), VMSEC_STATE_CLOSED);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

/* Large messages (up to 1 MiB, most longer than two records) are written in pieces while the rest
 * is encrypted; every byte arrives, in order, message boundaries intact. */
START_TEST(large_messages_stream_in_pieces)
{
    vmsec_channel *a, *b;
    pthread_t t;
    stream_arg s = {.count = 120 / scale, .size = 1 << 20}, r = {.count = 120 / scale, .size = 1 << 20};
    open_pair(&a, &b);
    s.ch = a;
    r.ch = b;
    pthread_create(&t, NULL, sender, &s);
    receiver(&r);
    pthread_join(t, NULL);
    ck_assert_msg(s.rc == 0 && r.rc == 0, "%d %d %s", s.rc, r.rc, vmsec_error_last());
    ck_assert_mem_eq(s.digest, r.digest, 32);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

/* The peer goes away while a large blocking send is being written: the send fails, the channel's
 * sending side stays failed, and a later send reports that failure. */
START_TEST(peer_vanishing_during_a_large_send)
{
    vmsec_channel *a, *b;
    uint8_t *msg = calloc(1, 4 << 20);
    int rc;
    open_pair(&a, &b);
    vmsec_channel_free(b); /* closes its socket */
    rc = vmsec_channel_send(a, msg, 4 << 20, 0);
    ck_assert_int_eq(rc, VMSEC_EIO);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "cut off"));
    rc = vmsec_channel_send(a, msg, 10, 0);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(strstr(vmsec_error_last(), "still being sent"));
    ck_assert_int_eq(vmsec_channel_state(a), VMSEC_STATE_FAILED);
    vmsec_channel_free(a);
    free(msg);
}
END_TEST

START_TEST(batching_defers_writes_until_flush)
{
    vmsec_channel *a, *b;
    uint8_t msg[10] = "0123456789", out[16];
    size_t len;
    int n = 0;
    open_pair(&a, &b);
    vmsec_channel_set_nonblocking(b, 1);
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(vmsec_channel_send(a, msg, sizeof(msg), VMSEC_SEND_MORE), 0);
    /* nothing was written: the receiver has nothing to read */
    ck_assert_int_eq(vmsec_channel_recv(b, out, sizeof(out), &len), VMSEC_EAGAIN);
    ck_assert(vmsec_channel_poll_events(a) & POLLOUT);
    ck_assert_int_eq(vmsec_channel_flush(a), 0);
    ck_assert(!(vmsec_channel_poll_events(a) & POLLOUT));
    while (n < 5) {
        struct pollfd p = {.fd = vmsec_channel_fd(b), .events = POLLIN};
        int rc = vmsec_channel_recv(b, out, sizeof(out), &len);
        if (rc == VMSEC_EAGAIN) {
            ck_assert_int_eq(poll(&p, 1, 5000), 1);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(len, 10);
        n++;
    }
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

/* A message sent without VMSEC_SEND_MORE reaches the peer without a flush, blocking or not. */
START_TEST(a_lone_message_is_written_at_once)
{
    vmsec_channel *a, *b;
    uint8_t out[8];
    size_t len;
    open_pair(&a, &b);
    for (int nb = 0; nb < 2; nb++) {
        struct pollfd p = {.fd = vmsec_channel_fd(b), .events = POLLIN};
        ck_assert_int_eq(vmsec_channel_set_nonblocking(a, nb), 0);
        ck_assert_int_eq(vmsec_channel_send(a, (const uint8_t *)"lone", 4, 0), 0);
        ck_assert(!(vmsec_channel_poll_events(a) & POLLOUT));
        ck_assert_int_eq(poll(&p, 1, 5000), 1);
        ck_assert_int_eq(vmsec_channel_recv(b, out, sizeof(out), &len), 0);
        ck_assert_uint_eq(len, 4);
        ck_assert_int_eq(memcmp(out, "lone", 4), 0);
    }
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

/* Copies bytes between two sockets both ways, counting those from a to b; while hold is set it
 * reads nothing from a, as a peer that stopped reading. */
typedef struct {
    int a, b;
    atomic_bool hold;
    atomic_size_t a_to_b;
} tap;

static void *tap_run(void *p)
{
    tap *t = p;
    bool open[2] = {true, true};
    uint8_t buf[16384];
    while (open[0] || open[1]) {
        bool hold = atomic_load(&t->hold);
        struct pollfd f[2] = {{.fd = t->a, .events = open[0] && !hold ? POLLIN : 0},
                              {.fd = t->b, .events = open[1] ? POLLIN : 0}};
        poll(f, 2, 10);
        for (int d = 0; d < 2; d++) {
            int src = d ? t->b : t->a, dst = d ? t->a : t->b;
            ssize_t n, w;
            if (!f[d].events || !f[d].revents)
                continue;
            if ((n = read(src, buf, sizeof(buf))) <= 0) {
                shutdown(dst, SHUT_WR);
                open[d] = false;
                continue;
            }
            for (ssize_t off = 0; off < n; off += w)
                if ((w = write(dst, buf + off, (size_t)(n - off))) < 0)
                    return NULL;
            if (d == 0)
                atomic_fetch_add(&t->a_to_b, (size_t)n);
        }
    }
    return NULL;
}

/* Receives n 64-byte messages numbered by their first and last byte, then the clean close. */
typedef struct {
    vmsec_channel *ch;
    size_t n;
} recv_arg;

static void *recv_numbered(void *p)
{
    recv_arg *r = p;
    uint8_t out[64];
    size_t len;
    for (size_t i = 0; i < r->n; i++) {
        ck_assert_int_eq(vmsec_channel_recv(r->ch, out, sizeof(out), &len), 0);
        ck_assert_uint_eq(len, sizeof(out));
        ck_assert_uint_eq(out[0], i & 0xff);
        ck_assert_uint_eq(out[63], i & 0xff);
    }
    ck_assert_int_eq(vmsec_channel_recv(r->ch, out, sizeof(out), &len), VMSEC_ECLOSED);
    return NULL;
}

/* Non-blocking sends while the socket is full are packed: many small messages cost far fewer
 * bytes than a record each, and each arrives whole, in order, once the peer reads again. */
START_TEST(nonblocking_sends_pack_while_the_socket_is_full)
{
    int s1[2], s2[2], small = 4096;
    size_t n = 3000 / scale, hs;
    vmsec_channel *a, *b;
    pthread_t t, h, r;
    hs_arg ha;
    recv_arg ra;
    tap tp = {0};
    uint8_t msg[64];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s1), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s2), 0);
    ck_assert_int_eq(setsockopt(s1[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    tp.a = s1[1];
    tp.b = s2[0];
    pthread_create(&t, NULL, tap_run, &tp);
    ck_assert_int_eq(vmsec_channel_new(&a, cfg_a, s1[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_new(&b, cfg_b, s2[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    ha.ch = a;
    pthread_create(&h, NULL, do_handshake, &ha);
    ck_assert_int_eq(vmsec_channel_handshake(b), 0);
    pthread_join(h, NULL);
    ck_assert_int_eq(ha.rc, 0);
    hs = atomic_load(&tp.a_to_b);
    atomic_store(&tp.hold, true);
    ck_assert_int_eq(vmsec_channel_set_nonblocking(a, 1), 0);
    for (size_t i = 0; i < n; i++) {
        memset(msg, (int)(i & 0xff), sizeof(msg));
        ck_assert_int_eq(vmsec_channel_send(a, msg, sizeof(msg), 0), 0);
    }
    ck_assert(vmsec_channel_poll_events(a) & POLLOUT);
    /* the peer reads again: what was queued drains (all of it may not fit the socket buffers) */
    ra.ch = b;
    ra.n = n;
    pthread_create(&r, NULL, recv_numbered, &ra);
    atomic_store(&tp.hold, false);
    for (int rc; (rc = vmsec_channel_flush(a)) != 0;) {
        struct pollfd p = {.fd = vmsec_channel_fd(a), .events = POLLOUT};
        ck_assert_int_eq(rc, VMSEC_EAGAIN);
        ck_assert_int_eq(poll(&p, 1, 5000), 1);
    }
    ck_assert_int_eq(vmsec_channel_set_nonblocking(a, 0), 0);
    ck_assert_int_eq(vmsec_channel_close(a), 0);
    pthread_join(r, NULL);
    /* one record per message would be n * (2 + 1 + 64 + 16) bytes; packed, an entry is 66 */
    ck_assert_msg(atomic_load(&tp.a_to_b) - hs < n * 83 * 9 / 10, "%zu bytes for %zu messages",
                  atomic_load(&tp.a_to_b) - hs, n);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
    pthread_join(t, NULL);
    close(s1[1]);
    close(s2[0]);
}
END_TEST

/* Drives both ends non-blocking from one thread with poll(): handshake, 20 MB each way, close. */
static void nonblocking_run(int fd_a, int fd_b)
{
    vmsec_channel *ch[2];
    size_t sent[2] = {0}, got[2] = {0}, total = 300 / scale, size = 65536 + 100;
    bool closed_sent[2] = {0}, closed_seen[2] = {0};
    uint8_t *buf = malloc(size), *in = malloc(size);
    ck_assert_int_eq(fcntl(fd_a, F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(vmsec_channel_new(&ch[0], cfg_a, fd_a, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_new(&ch[1], cfg_b, fd_b, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_set_nonblocking(ch[1], 1), 0);
    for (int k = 0; k < 2; k++) {
        int rc = vmsec_channel_handshake(ch[k]);
        ck_assert_int_eq(rc, VMSEC_EAGAIN);
    }
    while (!(closed_seen[0] && closed_seen[1])) {
        struct pollfd p[2];
        for (int k = 0; k < 2; k++) {
            int rc;
            size_t len;
            if (vmsec_channel_handshake(ch[k]) == VMSEC_EAGAIN)
                continue;
            while (sent[k] < total) {
                memset(buf, (int)(sent[k] & 0xff), size);
                rc = vmsec_channel_send(ch[k], buf, size, 0);
                if (rc == VMSEC_EAGAIN)
                    break;
                ck_assert_msg(rc == 0, "%s", vmsec_error_last());
                sent[k]++;
            }
            if (sent[k] == total && !closed_sent[k]) {
                rc = vmsec_channel_close(ch[k]);
                ck_assert(rc == 0 || rc == VMSEC_EAGAIN);
                closed_sent[k] = rc == 0;
            } else if (vmsec_channel_poll_events(ch[k]) & POLLOUT) {
                rc = vmsec_channel_flush(ch[k]);
                ck_assert(rc == 0 || rc == VMSEC_EAGAIN);
            }
            while (!closed_seen[k] && (rc = vmsec_channel_recv(ch[k], in, size, &len)) != VMSEC_EAGAIN) {
                if (rc == VMSEC_ECLOSED) {
                    closed_seen[k] = true;
                    break;
                }
                ck_assert_msg(rc == 0, "%s", vmsec_error_last());
                ck_assert_uint_eq(len, size);
                ck_assert_uint_eq(in[size - 1], got[k] & 0xff);
                got[k]++;
            }
        }
        for (int k = 0; k < 2; k++)
            p[k] = (struct pollfd){.fd = vmsec_channel_fd(ch[k]), .events = vmsec_channel_poll_events(ch[k])};
        ck_assert_int_ge(poll(p, 2, 5000), 1);
    }
    ck_assert_uint_eq(got[0], total);
    ck_assert_uint_eq(got[1], total);
    vmsec_channel_free(ch[0]);
    vmsec_channel_free(ch[1]);
    free(buf);
    free(in);
}

START_TEST(nonblocking_socketpair_with_poll)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    nonblocking_run(sv[0], sv[1]);
}
END_TEST

START_TEST(nonblocking_tcp_loopback_with_poll)
{
    vmsec_listener *l;
    char addr[VMSEC_ADDRESS_MAX], peer[VMSEC_ADDRESS_MAX];
    int c, s;
    uint32_t cid;
    ck_assert_int_eq(vmsec_listener_new(&l, "tcp:127.0.0.1:0"), 0);
    ck_assert_int_eq(vmsec_listener_address(l, addr, sizeof(addr)), 0);
    ck_assert_int_eq(vmsec_transport_connect(addr, 5000, &c), 0);
    ck_assert_int_eq(vmsec_listener_accept(l, &s, peer, sizeof(peer), &cid), 0);
    ck_assert_int_eq(strncmp(peer, "tcp:127.0.0.1:", 14), 0);
    ck_assert_uint_eq(cid, UINT32_MAX);
    vmsec_listener_free(l);
    nonblocking_run(c, s);
}
END_TEST

typedef struct {
    const vmsec_channel_config *cfg;
    vmsec_listener *l;
    int rc;
    uint8_t msg[64];
    size_t len;
} server_arg;

static void *server(void *p)
{
    server_arg *s = p;
    vmsec_channel *ch;
    if ((s->rc = vmsec_channel_accept(&ch, s->cfg, s->l)) < 0)
        return NULL;
    if ((s->rc = vmsec_channel_recv(ch, s->msg, sizeof(s->msg), &s->len)) == 0 &&
        (s->rc = vmsec_channel_send(ch, s->msg, s->len, 0)) == 0 &&
        (s->rc = vmsec_channel_recv(ch, s->msg, sizeof(s->msg), &s->len)) == VMSEC_ECLOSED)
        s->rc = vmsec_channel_close(ch);
    vmsec_channel_free(ch);
    return NULL;
}

START_TEST(connect_and_accept_over_tcp_and_unix)
{
    char dir[64], addrs[2][VMSEC_ADDRESS_MAX];
    vt_tmpdir(dir, sizeof(dir));
    snprintf(addrs[0], sizeof(addrs[0]), "unix:%s/s", dir);
    snprintf(addrs[1], sizeof(addrs[1]), "tcp:127.0.0.1:0");
    for (int k = 0; k < 2; k++) {
        vmsec_listener *l;
        char bound[VMSEC_ADDRESS_MAX];
        server_arg sa = {.cfg = cfg_b};
        pthread_t t;
        vmsec_channel *ch;
        uint8_t out[64];
        size_t len;
        uint32_t cid;
        ck_assert_int_eq(vmsec_listener_new(&l, addrs[k]), 0);
        ck_assert_int_eq(vmsec_listener_address(l, bound, sizeof(bound)), 0);
        sa.l = l;
        pthread_create(&t, NULL, server, &sa);
        ck_assert_msg(vmsec_channel_connect(&ch, cfg_a, bound) == 0, "%s", vmsec_error_last());
        ck_assert_int_eq(vmsec_channel_peer_cid(ch, &cid), VMSEC_ENOTFOUND);
        ck_assert_int_eq(vmsec_channel_send(ch, (const uint8_t *)"ping", 4, 0), 0);
        ck_assert_int_eq(vmsec_channel_recv(ch, out, sizeof(out), &len), 0);
        ck_assert_uint_eq(len, 4);
        ck_assert_int_eq(memcmp(out, "ping", 4), 0);
        ck_assert_int_eq(vmsec_channel_close(ch), 0);
        ck_assert_int_eq(vmsec_channel_recv(ch, out, sizeof(out), &len), VMSEC_ECLOSED);
        pthread_join(t, NULL);
        ck_assert_msg(sa.rc == 0, "%d", sa.rc);
        vmsec_channel_free(ch);
        vmsec_listener_free(l);
    }
    vt_rmtree(dir);
}
END_TEST

START_TEST(stalled_peer_times_out_the_handshake)
{
    int sv[2];
    vmsec_channel *ch;
    uint8_t out[8];
    size_t len;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    vmsec_channel_config_set_handshake_timeout(cfg_a, 200);
    ck_assert_int_eq(vmsec_channel_new(&ch, cfg_a, sv[0], VMSEC_ROLE_INITIATOR, 0), 0);
    /* the peer never answers */
    ck_assert_int_eq(vmsec_channel_handshake(ch), VMSEC_ETIMEDOUT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "timed out"));
    ck_assert_int_eq(vmsec_channel_state(ch), VMSEC_STATE_FAILED);
    ck_assert_int_eq(vmsec_channel_recv(ch, out, sizeof(out), &len), VMSEC_ESTATE);
    ck_assert_int_eq(vmsec_channel_send(ch, out, 1, 0), VMSEC_ESTATE);
    vmsec_channel_free(ch);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Writes all of an engine's output to fd, or only `limit` bytes of it. */
static void engine_write(vmsec_engine *e, int fd, size_t limit)
{
    const uint8_t *buf;
    size_t len;
    vmsec_engine_output(e, &buf, &len);
    if (len > limit)
        len = limit;
    while (len) {
        ssize_t n = write(fd, buf, len);
        ck_assert_int_gt(n, 0);
        vmsec_engine_output_consume(e, (size_t)n);
        buf += n;
        len -= (size_t)n;
    }
}

START_TEST(peer_vanishing_mid_message_is_truncation)
{
    int sv[2];
    vmsec_engine *e;
    vmsec_channel *b;
    pthread_t t;
    hs_arg hb;
    uint8_t *msg = calloc(1, 200000);
    size_t len;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(vmsec_channel_new(&b, cfg_b, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    hb.ch = b;
    pthread_create(&t, NULL, do_handshake, &hb);
    /* the sending side is a bare engine driven by hand, so it can stop mid-message */
    ck_assert_int_eq(vmsec_engine_new(&e, cfg_a, VMSEC_ROLE_INITIATOR), 0);
    while (vmsec_engine_state(e) == VMSEC_STATE_HANDSHAKE) {
        uint8_t *in;
        size_t cap;
        ssize_t n;
        engine_write(e, sv[0], SIZE_MAX);
        ck_assert_int_eq(vmsec_engine_input_space(e, &in, &cap), 0);
        n = read(sv[0], in, cap);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(vmsec_engine_input_commit(e, (size_t)n), 0);
    }
    engine_write(e, sv[0], SIZE_MAX);
    pthread_join(t, NULL);
    ck_assert_int_eq(hb.rc, 0);
    ck_assert_int_eq(vmsec_engine_send(e, msg, 10), 0);
    ck_assert_int_eq(vmsec_engine_send(e, msg, 200000), 0);
    engine_write(e, sv[0], vmsec_engine_output_pending(e) / 2);
    close(sv[0]);
    ck_assert_int_eq(vmsec_channel_recv(b, msg, 200000, &len), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(vmsec_channel_recv(b, msg, 200000, &len), VMSEC_ETRUNCATED);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "middle of a message"));
    ck_assert_int_eq(vmsec_channel_recv(b, msg, 200000, &len), VMSEC_ESTATE);
    vmsec_engine_free(e);
    vmsec_channel_free(b);
    free(msg);
}
END_TEST

START_TEST(peer_stalling_mid_handshake_times_out_nonblocking)
{
    int sv[2];
    vmsec_engine *e;
    vmsec_channel *ch;
    const uint8_t *buf;
    size_t len;
    int rc;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* the peer sends its announcement and half of its first handshake message, then stalls */
    ck_assert_int_eq(vmsec_engine_new(&e, cfg_a, VMSEC_ROLE_INITIATOR), 0);
    vmsec_engine_output(e, &buf, &len);
    ck_assert_int_eq(write(sv[0], buf, len - 16), (ssize_t)(len - 16));
    vmsec_channel_config_set_handshake_timeout(cfg_b, 300);
    ck_assert_int_eq(vmsec_channel_new(&ch, cfg_b, sv[1], VMSEC_ROLE_RESPONDER, 0), 0);
    ck_assert_int_eq(vmsec_channel_set_nonblocking(ch, 1), 0);
    while ((rc = vmsec_channel_handshake(ch)) == VMSEC_EAGAIN) {
        struct pollfd p = {.fd = vmsec_channel_fd(ch), .events = vmsec_channel_poll_events(ch)};
        poll(&p, 1, 50);
    }
    ck_assert_int_eq(rc, VMSEC_ETIMEDOUT);
    ck_assert_int_eq(vmsec_channel_state(ch), VMSEC_STATE_FAILED);
    ck_assert_int_eq(vmsec_channel_handshake(ch), VMSEC_ESTATE);
    vmsec_channel_free(ch);
    vmsec_engine_free(e);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* A peer that closes with our bytes unread resets the connection rather than ending the stream:
 * reported exactly like the end of the stream, as truncation (the close_notify never came). */
START_TEST(peer_resetting_the_connection_is_truncation)
{
    vmsec_channel *a, *b;
    uint8_t buf[64];
    size_t len;
    open_pair(&a, &b);
    ck_assert_int_eq(vmsec_channel_send(a, (const uint8_t *)"unread", 6, 0), 0);
    vmsec_channel_free(b); /* closes its socket with "unread" still queued: a's read sees ECONNRESET */
    ck_assert_int_eq(vmsec_channel_recv(a, buf, sizeof(buf), &len), VMSEC_ETRUNCATED);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "without close_notify"));
    vmsec_channel_free(a);
}
END_TEST

START_TEST(peer_closing_socket_after_messages_is_truncation_not_close)
{
    vmsec_channel *a, *b;
    uint8_t buf[16];
    size_t len;
    open_pair(&a, &b);
    ck_assert_int_eq(vmsec_channel_send(a, (const uint8_t *)"x", 1, 0), 0);
    vmsec_channel_free(a); /* no close_notify */
    ck_assert_int_eq(vmsec_channel_recv(b, buf, sizeof(buf), &len), 0);
    ck_assert_int_eq(vmsec_channel_recv(b, buf, sizeof(buf), &len), VMSEC_ETRUNCATED);
    vmsec_channel_free(b);
}
END_TEST

/* A bare engine as the peer of channel b over fd, driven by hand through the handshake. */
static vmsec_engine *hand_peer(vmsec_channel *b, int fd)
{
    vmsec_engine *e;
    pthread_t t;
    hs_arg hb = {.ch = b};
    pthread_create(&t, NULL, do_handshake, &hb);
    ck_assert_int_eq(vmsec_engine_new(&e, cfg_a, VMSEC_ROLE_INITIATOR), 0);
    while (vmsec_engine_state(e) == VMSEC_STATE_HANDSHAKE) {
        uint8_t *in;
        size_t cap;
        ssize_t n;
        engine_write(e, fd, SIZE_MAX);
        ck_assert_int_eq(vmsec_engine_input_space(e, &in, &cap), 0);
        n = read(fd, in, cap);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(vmsec_engine_input_commit(e, (size_t)n), 0);
    }
    engine_write(e, fd, SIZE_MAX);
    pthread_join(t, NULL);
    ck_assert_int_eq(hb.rc, 0);
    return e;
}

static void *write_stray_byte_later(void *p)
{
    int fd = *(int *)p;
    usleep(200 * 1000); /* the receiver has taken close_notify by now and waits for the end */
    ck_assert_int_eq(write(fd, "", 1), 1);
    shutdown(fd, SHUT_WR);
    return NULL;
}

/* A byte after close_notify is a protocol error also when it comes in a later write: the receiver
 * reads on to the end of the stream instead of stopping at close_notify. */
START_TEST(byte_after_close_notify_in_a_later_write_is_a_protocol_error)
{
    int sv[2];
    vmsec_engine *e;
    vmsec_channel *b;
    pthread_t t;
    uint8_t buf[16];
    size_t len;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(vmsec_channel_new(&b, cfg_b, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    e = hand_peer(b, sv[0]);
    ck_assert_int_eq(vmsec_engine_send(e, (const uint8_t *)"hi", 2), 0);
    ck_assert_int_eq(vmsec_engine_close(e), 0);
    engine_write(e, sv[0], SIZE_MAX);
    pthread_create(&t, NULL, write_stray_byte_later, &sv[0]);
    ck_assert_int_eq(vmsec_channel_recv(b, buf, sizeof(buf), &len), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(vmsec_channel_recv(b, buf, sizeof(buf), &len), VMSEC_EPROTO);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "stray bytes after close_notify"));
    ck_assert_int_eq(vmsec_channel_state(b), VMSEC_STATE_FAILED);
    pthread_join(t, NULL);
    vmsec_engine_free(e);
    vmsec_channel_free(b);
    close(sv[0]);
}
END_TEST

/* A peer that sends close_notify and then keeps the connection open without ending it does not
 * hang the receiver: after the handshake timeout the close is reported clean, and only once. */
START_TEST(peer_holding_the_stream_open_after_close_notify_is_waited_for_boundedly)
{
    int sv[2];
    vmsec_engine *e;
    vmsec_channel *b;
    uint8_t buf[16];
    size_t len;
    struct timespec t0, t1;
    long ms;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    vmsec_channel_config_set_handshake_timeout(cfg_b, 300);
    ck_assert_int_eq(vmsec_channel_new(&b, cfg_b, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    e = hand_peer(b, sv[0]);
    ck_assert_int_eq(vmsec_engine_close(e), 0);
    engine_write(e, sv[0], SIZE_MAX);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(vmsec_channel_recv(b, buf, sizeof(buf), &len), VMSEC_ECLOSED);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_int_ge(ms, 250);
    ck_assert_int_le(ms, 300 + 5000);
    ck_assert_int_eq(vmsec_channel_recv(b, buf, sizeof(buf), &len), VMSEC_ECLOSED); /* no second wait */
    ck_assert_int_eq(vmsec_channel_state(b), VMSEC_STATE_CLOSED);
    vmsec_engine_free(e);
    vmsec_channel_free(b);
    close(sv[0]);
}
END_TEST

START_TEST(untrusted_peer_over_socket)
{
    int sv[2];
    vmsec_channel *a, *b;
    vmsec_channel_config *c;
    pthread_t t;
    hs_arg ha;
    int rc;
    ck_assert_int_eq(vmsec_channel_config_new(&c), 0);
    vmsec_channel_config_set_keypair(c, kb);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(vmsec_channel_new(&a, cfg_a, sv[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_new(&b, c, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    ha.ch = a;
    pthread_create(&t, NULL, do_handshake, &ha);
    rc = vmsec_channel_handshake(b);
    ck_assert_int_eq(rc, VMSEC_EAUTH);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not trusted"));
    vmsec_channel_free(b);
    pthread_join(t, NULL);
    /* in XX the initiator finishes first; it then sees the refusal as the stream ending uncleanly */
    if (ha.rc == 0) {
        uint8_t buf[8];
        size_t len;
        ck_assert_int_eq(vmsec_channel_recv(a, buf, sizeof(buf), &len), VMSEC_ETRUNCATED);
    }
    vmsec_channel_free(a);
    vmsec_channel_config_free(c);
}
END_TEST

/* A captured IK message 1 replayed to vmsec_channel_accept (key confirmation, protocol version 2):
 * the responder answers, then waits for the confirm record only the real initiator can send and
 * fails at its handshake timeout; with the first session's confirm record replayed too it fails at
 * once. It never returns 0. */
typedef struct {
    vmsec_listener *l;
    vmsec_channel_config *cfg;
    int rc;
    int64_t ms;
} replay_arg;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *accept_one(void *p)
{
    replay_arg *a = p;
    vmsec_channel *ch = NULL;
    int64_t t0 = mono_ms();
    a->rc = vmsec_channel_accept(&ch, a->cfg, a->l);
    a->ms = mono_ms() - t0;
    vmsec_channel_free(ch);
    return NULL;
}

static vmsec_channel_config *ik_cfg(vmsec_keypair *mine, vmsec_keypair *peer)
{
    vmsec_channel_config *c;
    uint8_t pk[32];
    vmsec_keypair_public(peer, pk, 32);
    ck_assert_int_eq(vmsec_channel_config_new(&c), 0);
    ck_assert_int_eq(vmsec_channel_config_set_protocol(c, "Noise_IK_25519_ChaChaPoly_BLAKE2b"), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keypair(c, mine), 0);
    ck_assert_int_eq(vmsec_channel_config_add_trusted_peer(c, pk, 32), 0);
    ck_assert_int_eq(vmsec_channel_config_set_handshake_timeout(c, 300), 0);
    return c;
}

/* Moves an engine's pending output into buf (appending at *len), then into the other engine. */
static void move_capture(vmsec_engine *from, vmsec_engine *to, uint8_t *buf, size_t *len)
{
    const uint8_t *out;
    size_t n, used;
    vmsec_engine_output(from, &out, &n);
    memcpy(buf + *len, out, n);
    ck_assert_int_eq(vmsec_engine_feed(to, buf + *len, n, &used), 0);
    vmsec_engine_output_consume(from, n);
    *len += n;
}

START_TEST(replayed_ik_message_1_never_completes_accept)
{
    vmsec_channel_config *ci = ik_cfg(ka, kb), *cr = ik_cfg(kb, ka);
    vmsec_engine *ei, *er;
    uint8_t stream[512], reply[256];
    size_t msg1 = 0, all, rlen = 0;
    char dir[64], addr[VMSEC_ADDRESS_MAX];
    vmsec_listener *l;
    ck_assert_int_eq(vmsec_engine_new(&ei, ci, VMSEC_ROLE_INITIATOR), 0);
    ck_assert_int_eq(vmsec_engine_new(&er, cr, VMSEC_ROLE_RESPONDER), 0);
    move_capture(ei, er, stream, &msg1);
    move_capture(er, ei, reply, &rlen);
    all = msg1;
    move_capture(ei, er, stream, &all); /* the initiator's confirm record */
    ck_assert_int_eq(vmsec_engine_state(er), VMSEC_STATE_OPEN);
    ck_assert_uint_eq(all - msg1, 2 + 17);
    vmsec_engine_free(ei);
    vmsec_engine_free(er);
    vt_tmpdir(dir, sizeof(dir));
    snprintf(addr, sizeof(addr), "unix:%s/s", dir);
    ck_assert_int_eq(vmsec_listener_new(&l, addr), 0);
    for (int k = 0; k < 3; k++) {
        replay_arg ra = {.l = l, .cfg = cr};
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        pthread_t t;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
        pthread_create(&t, NULL, accept_one, &ra);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
        /* twice message 1 alone (any number of responders), then with the old confirm record */
        ck_assert_int_eq(write(fd, stream, k < 2 ? msg1 : all), (ssize_t)(k < 2 ? msg1 : all));
        pthread_join(t, NULL);
        if (k < 2) {
            ck_assert_msg(ra.rc == VMSEC_ETIMEDOUT, "replay %d: %d (%s)", k, ra.rc, vmsec_error_last());
            ck_assert_msg(ra.ms >= 250 && ra.ms < 300 + 2000, "timed out after %lld ms", (long long)ra.ms);
        } else {
            ck_assert_msg(ra.rc == VMSEC_EAUTH, "replayed confirm: %d (%s)", ra.rc, vmsec_error_last());
        }
        close(fd);
    }
    vmsec_listener_free(l);
    vmsec_channel_config_free(ci);
    vmsec_channel_config_free(cr);
    vt_rmtree(dir);
}
END_TEST

/* XX's initiator is open as soon as it wrote message 3 (message 2 proved the responder); if it then
 * sends, closes and leaves before the responder's key-confirmation record goes out, the responder
 * still completes its handshake and reads what was sent. */
START_TEST(peer_gone_before_our_confirm_record)
{
    int sv[2];
    vmsec_engine *e;
    vmsec_channel *b;
    uint8_t buf[512];
    size_t len, used;
    ssize_t n;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(vmsec_engine_new(&e, cfg_a, VMSEC_ROLE_INITIATOR), 0);
    ck_assert_int_eq(vmsec_channel_new(&b, cfg_b, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_set_nonblocking(b, 1), 0);
    engine_write(e, sv[0], SIZE_MAX);
    ck_assert_int_eq(vmsec_channel_handshake(b), VMSEC_EAGAIN); /* message 2 written */
    n = read(sv[0], buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(vmsec_engine_feed(e, buf, (size_t)n, &used), 0);
    ck_assert_int_eq(vmsec_engine_state(e), VMSEC_STATE_OPEN);
    ck_assert_int_eq(vmsec_engine_send(e, (const uint8_t *)"bye", 3), 0);
    ck_assert_int_eq(vmsec_engine_close(e), 0);
    engine_write(e, sv[0], SIZE_MAX);
    close(sv[0]);
    ck_assert_msg(vmsec_channel_handshake(b) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(vmsec_channel_recv(b, buf, sizeof(buf), &len), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(buf, "bye", 3), 0);
    ck_assert_int_eq(vmsec_channel_recv(b, buf, sizeof(buf), &len), VMSEC_ECLOSED);
    vmsec_channel_free(b);
    vmsec_engine_free(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("channel");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, blocking_socketpair_both_directions_at_once);
    tcase_add_test(tc, batching_defers_writes_until_flush);
    tcase_add_test(tc, a_lone_message_is_written_at_once);
    tcase_add_test(tc, nonblocking_sends_pack_while_the_socket_is_full);
    tcase_add_test(tc, large_messages_stream_in_pieces);
    tcase_add_test(tc, peer_vanishing_during_a_large_send);
    tcase_add_test(tc, nonblocking_socketpair_with_poll);
    tcase_add_test(tc, nonblocking_tcp_loopback_with_poll);
    tcase_add_test(tc, connect_and_accept_over_tcp_and_unix);
    tcase_add_test(tc, stalled_peer_times_out_the_handshake);
    tcase_add_test(tc, peer_vanishing_mid_message_is_truncation);
    tcase_add_test(tc, peer_stalling_mid_handshake_times_out_nonblocking);
    tcase_add_test(tc, peer_closing_socket_after_messages_is_truncation_not_close);
    tcase_add_test(tc, peer_resetting_the_connection_is_truncation);
    tcase_add_test(tc, untrusted_peer_over_socket);
    tcase_add_test(tc, replayed_ik_message_1_never_completes_accept);
    tcase_add_test(tc, peer_gone_before_our_confirm_record);
    tcase_add_test(tc, byte_after_close_notify_in_a_later_write_is_a_protocol_error);
    tcase_add_test(tc, peer_holding_the_stream_open_after_close_notify_is_waited_for_boundedly);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
