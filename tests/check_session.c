/* SPDX-License-Identifier: ISC */
/* Sessions (vmsec/session.h): the frame codec and proofs as pure logic, then sessions over real
 * sockets: exchange and orderly close, a resume after a reset, a listener that lost its state,
 * impostors, the reconnect deadline, back-pressure, and reconnect attempts that advance step by
 * step in a non-blocking event loop. It links the convenience library to build
 * impostors from the session's internals. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel/session_internal.h"
#include "channel_pair.h"

static vmsec_keypair *ka, *kb;
static vmsec_channel_config *cfg_a, *cfg_b; /* a: the connecting side, b: the accepting side */
static char dir[96], addr[VMSEC_ADDRESS_MAX + 32];

static void setup(void)
{
    vt_channel_pair_new(&ka, &kb, &cfg_a, &cfg_b);
    vmsec_channel_config_set_handshake_timeout(cfg_a, 2000);
    vmsec_channel_config_set_handshake_timeout(cfg_b, 2000);
    vt_tmpdir(dir, sizeof(dir));
    snprintf(addr, sizeof(addr), "unix:%s/s", dir);
}

static void teardown(void)
{
    vt_rmtree(dir);
    vt_channel_pair_free(ka, kb, cfg_a, cfg_b);
}

static vmsec_session_options fast_options(void)
{
    return vt_session_fast_options(5000);
}

/* ---- pure logic ------------------------------------------------------------------------------ */

START_TEST(frames_round_trip)
{
    static const uint8_t types[] = {SF_HELLO_NEW, SF_HELLO_RESUME, SF_WELCOME, SF_UNKNOWN, SF_DATA, SF_ACK, SF_CLOSE};
    static const size_t sizes[] = {18, 58, 57, 17, 17, 9, 17};
    for (size_t i = 0; i < sizeof(types); i++) {
        struct vmsec__sframe f = {.type = types[i], .seq = 5, .ack = 0x0102030405060708ull}, g;
        uint8_t buf[SF_MAX_CONTROL];
        size_t n;
        memset(f.id, 0xa5, sizeof(f.id));
        memset(f.proof, 0x5a, sizeof(f.proof));
        n = vmsec__sframe_write(buf, &f);
        ck_assert_uint_eq(n, sizes[i]);
        ck_assert_int_eq(vmsec__sframe_parse(buf, n, &g), 0);
        ck_assert_uint_eq(g.type, f.type);
        if (f.type != SF_HELLO_NEW && f.type != SF_UNKNOWN)
            ck_assert_uint_eq(g.ack, f.ack);
        if (f.type == SF_DATA || f.type == SF_CLOSE)
            ck_assert_uint_eq(g.seq, 5);
        if (f.type <= SF_UNKNOWN)
            ck_assert_mem_eq(g.id, f.id, sizeof(f.id));
        if (f.type == SF_HELLO_RESUME || f.type == SF_WELCOME)
            ck_assert_mem_eq(g.proof, f.proof, sizeof(f.proof));
    }
}
END_TEST

START_TEST(data_frames_carry_their_payload)
{
    static const uint8_t wire[SF_HDR] = {SF_DATA, 1, 2, 3, 4, 5, 6, 7, 8, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8};
    uint8_t buf[SF_HDR + 3];
    struct vmsec__sframe f = {.type = SF_DATA, .seq = 0x0102030405060708ull, .ack = 0xf1f2f3f4f5f6f7f8ull}, g;
    /* the numbers are big-endian (doc/SESSIONS.md) */
    ck_assert_uint_eq(vmsec__sframe_write(buf, &f), SF_HDR);
    ck_assert_mem_eq(buf, wire, SF_HDR);
    ck_assert_uint_eq(vmsec__get_u64(wire + 9), f.ack);
    f.seq = 1, f.ack = 0;
    vmsec__sframe_write(buf, &f);
    memcpy(buf + SF_HDR, "abc", 3);
    ck_assert_int_eq(vmsec__sframe_parse(buf, sizeof(buf), &g), 0);
    ck_assert_uint_eq(g.len, 3);
    ck_assert_mem_eq(g.data, "abc", 3);
}
END_TEST

START_TEST(malformed_frames_are_protocol_errors)
{
    uint8_t buf[SF_MAX_CONTROL + 1] = {0};
    struct vmsec__sframe f = {.type = SF_HELLO_NEW}, g;
    size_t n = vmsec__sframe_write(buf, &f);
    ck_assert_int_eq(vmsec__sframe_parse(buf, 0, &g), VMSEC_EPROTO);
    ck_assert_int_eq(vmsec__sframe_parse(buf, n - 1, &g), VMSEC_EPROTO);  /* short */
    ck_assert_int_eq(vmsec__sframe_parse(buf, n + 1, &g), VMSEC_EPROTO);  /* long */
    buf[1] = SF_VERSION + 1;
    ck_assert_int_eq(vmsec__sframe_parse(buf, n, &g), VMSEC_EPROTO);      /* another version */
    buf[0] = 0x08;
    ck_assert_int_eq(vmsec__sframe_parse(buf, SF_HDR, &g), VMSEC_EPROTO); /* unknown type */
    buf[0] = 0x00;
    ck_assert_int_eq(vmsec__sframe_parse(buf, SF_HDR, &g), VMSEC_EPROTO);
    memset(buf, 0, sizeof(buf));
    buf[0] = SF_DATA; /* sequence number 0 */
    ck_assert_int_eq(vmsec__sframe_parse(buf, SF_HDR, &g), VMSEC_EPROTO);
    ck_assert_int_eq(vmsec__sframe_parse(buf, SF_HDR - 1, &g), VMSEC_EPROTO);
}
END_TEST

/* A proof binds the secret, the side, the session id and the channel: change any one, it differs. */
START_TEST(proofs_bind_secret_side_id_and_channel)
{
    uint8_t secret[SF_SECRET_LEN], other[SF_SECRET_LEN], id[16], h[64], p[6][SF_PROOF_LEN];
    randombytes_buf(secret, sizeof(secret));
    randombytes_buf(other, sizeof(other));
    randombytes_buf(id, sizeof(id));
    randombytes_buf(h, sizeof(h));
    vmsec__session_proof(p[0], secret, id, VMSEC_ROLE_INITIATOR, h, 64);
    vmsec__session_proof(p[1], other, id, VMSEC_ROLE_INITIATOR, h, 64);
    vmsec__session_proof(p[2], secret, id, VMSEC_ROLE_RESPONDER, h, 64);
    h[0] ^= 1;
    vmsec__session_proof(p[3], secret, id, VMSEC_ROLE_INITIATOR, h, 64);
    h[0] ^= 1;
    id[0] ^= 1;
    vmsec__session_proof(p[4], secret, id, VMSEC_ROLE_INITIATOR, h, 64);
    id[0] ^= 1;
    vmsec__session_proof(p[5], secret, id, VMSEC_ROLE_INITIATOR, h, 64);
    for (int i = 1; i < 5; i++)
        ck_assert_mem_ne(p[0], p[i], SF_PROOF_LEN);
    ck_assert_mem_eq(p[0], p[5], SF_PROOF_LEN);
}
END_TEST

/* The sender's buffer: acknowledgements release messages, and one beyond what was sent is a
 * protocol error. */
START_TEST(acknowledgements_release_the_buffer)
{
    vmsec_session *s;
    ck_assert_int_eq(vmsec__session_new(&s, cfg_a, NULL, VMSEC_ROLE_INITIATOR), 0);
    vmsec_session_set_nonblocking(s, 1);
    s->link = LINK_DOWN;
    s->down_since = vmsec__session_now();
    s->next_attempt = INT64_MAX; /* no reconnect: this test only looks at the buffer */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(vmsec_session_send(s, (const uint8_t *)"xy", 2), 0);
    ck_assert_uint_eq(s->sq_count, 3);
    ck_assert_uint_eq(s->sq_bytes, 3 * (SF_HDR + 2));
    ck_assert_int_eq(vmsec__session_acked(s, 2), 0);
    ck_assert_uint_eq(s->sq_count, 1);
    ck_assert_uint_eq(s->sq_head->seq, 3);
    ck_assert_int_eq(vmsec__session_acked(s, 1), 0); /* an old acknowledgement changes nothing */
    ck_assert_uint_eq(s->sq_count, 1);
    ck_assert_int_eq(vmsec__session_acked(s, 4), VMSEC_EPROTO);
    vmsec_session_free(s);
}
END_TEST

/* The resend ring, as session.c uses it: allocations of varied sizes taken at the tail and given
 * back oldest first, against a model of what is live. Every allocation is aligned, inside the
 * region and apart from every other live one (each holds a pattern checked when it is given
 * back); one is refused only when the live ones fill the region but for what the wrap can leave
 * unused (less than two of the largest allocations); an emptied ring takes its whole size again. */
START_TEST(the_resend_ring_hands_out_space_in_order)
{
    enum { CAP = 256 << 10, MAXN = 9000, LIVE = 512 };
    struct vmsec__sring r;
    uint8_t *mem = aligned_alloc(VMSEC__SRING_ALIGN, CAP);
    struct { uint8_t *p; size_t n; uint8_t tag; } q[LIVE];
    size_t qh = 0, qn = 0, live_bytes = 0, refused = 0, wraps = 0, last = 0;
    uint32_t x = 2463534242u;
    vmsec__sring_attach(&r, mem, CAP);
    for (int step = 0; step < 40000; step++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        if (qn < LIVE && (qn == 0 || x % 3)) {
            size_t n = 1 + x / 3 % MAXN, rn = (n + VMSEC__SRING_ALIGN - 1) / VMSEC__SRING_ALIGN * VMSEC__SRING_ALIGN;
            uint8_t *p = vmsec__sring_alloc(&r, n);
            if (!p) {
                ck_assert_msg(live_bytes + rn > CAP - 2 * (MAXN + VMSEC__SRING_ALIGN),
                              "refused %zu bytes with %zu of %d live", n, live_bytes, CAP);
                refused++;
                continue;
            }
            ck_assert(vmsec__sring_owns(&r, p));
            ck_assert_uint_eq((uintptr_t)p % VMSEC__SRING_ALIGN, 0);
            ck_assert_uint_le((size_t)(p - mem) + n, CAP);
            for (size_t i = 0; i < qn; i++) {
                const uint8_t *o = q[(qh + i) % LIVE].p;
                size_t on = q[(qh + i) % LIVE].n;
                ck_assert_msg(p + n <= o || o + on <= p, "overlapping allocations");
            }
            wraps += (size_t)(p - mem) < last;
            last = (size_t)(p - mem);
            q[(qh + qn) % LIVE].p = p;
            q[(qh + qn) % LIVE].n = n;
            q[(qh + qn) % LIVE].tag = (uint8_t)step;
            memset(p, (uint8_t)step, n);
            qn++;
            live_bytes += rn;
        } else {
            uint8_t *p = q[qh].p;
            size_t n = q[qh].n;
            ck_assert_msg(p[0] == q[qh].tag && !memcmp(p, p + 1, n - 1), "allocation overwritten");
            vmsec__sring_free_oldest(&r, p, n);
            live_bytes -= (n + VMSEC__SRING_ALIGN - 1) / VMSEC__SRING_ALIGN * VMSEC__SRING_ALIGN;
            qh = (qh + 1) % LIVE;
            qn--;
        }
    }
    ck_assert_uint_gt(refused, 0); /* the test filled the ring... */
    ck_assert_uint_gt(wraps, 100); /* ... and went round it */
    while (qn) {
        vmsec__sring_free_oldest(&r, q[qh].p, q[qh].n);
        qh = (qh + 1) % LIVE;
        qn--;
    }
    ck_assert_ptr_eq(vmsec__sring_alloc(&r, CAP), mem);
    free(mem);
}
END_TEST

/* The session reads every frame in place (vmsec__channel_next): a ready message is shown, not
 * consumed, until taken, and the expected outcomes on that path (a message, nothing yet) leave
 * vmsec_error_last() alone, while a public recv still explains a buffer too small. */
START_TEST(frames_are_read_in_place_without_formatting_errors)
{
    vmsec_channel *tx, *rx;
    uint8_t big[70000];
    const uint8_t *m;
    size_t len;
    int sv[2], rc_tx = VMSEC_EAGAIN, rc_rx = VMSEC_EAGAIN;
    randombytes_buf(big, sizeof(big));
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert_int_eq(vmsec_channel_new(&tx, cfg_a, sv[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_new(&rx, cfg_b, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    while (rc_tx == VMSEC_EAGAIN || rc_rx == VMSEC_EAGAIN) {
        if (rc_tx == VMSEC_EAGAIN)
            rc_tx = vmsec_channel_handshake(tx);
        if (rc_rx == VMSEC_EAGAIN)
            rc_rx = vmsec_channel_handshake(rx);
    }
    ck_assert_int_eq(rc_tx, 0);
    ck_assert_int_eq(rc_rx, 0);
    vmsec_error_clear();
    ck_assert_int_eq(vmsec__channel_next(rx, &m, &len), VMSEC_EAGAIN);
    ck_assert_ptr_null(m);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(vmsec_error_last(), "");
    ck_assert_int_eq(vmsec_channel_send(tx, (const uint8_t *)"abc", 3, 0), 0);
    ck_assert_int_eq(vmsec_channel_send(tx, big, sizeof(big), 0), 0); /* two records */
    ck_assert_int_eq(vmsec_channel_send(tx, (const uint8_t *)"hello", 5, 0), 0);
    ck_assert_int_eq(vmsec_channel_flush(tx), 0);
    for (int i = 0; i < 2; i++) { /* shown again until taken */
        ck_assert_int_eq(vmsec__channel_next(rx, &m, &len), 0);
        ck_assert_uint_eq(len, 3);
        ck_assert_mem_eq(m, "abc", 3);
    }
    vmsec__channel_msg_take(rx);
    ck_assert_int_eq(vmsec__channel_next(rx, &m, &len), 0);
    ck_assert_uint_eq(len, sizeof(big));
    ck_assert_mem_eq(m, big, sizeof(big));
    vmsec__channel_msg_take(rx);
    ck_assert_str_eq(vmsec_error_last(), "");
    /* the public call keeps its size probe, and a message about it */
    ck_assert_int_eq(vmsec_channel_recv(rx, NULL, 0, &len), VMSEC_ETOOBIG);
    ck_assert_uint_eq(len, 5);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "does not fit"));
    ck_assert_int_eq(vmsec__channel_next(rx, &m, &len), 0);
    ck_assert_mem_eq(m, "hello", 5);
    vmsec__channel_msg_take(rx);
    ck_assert_int_eq(vmsec_channel_close(tx), 0);
    ck_assert_int_eq(vmsec__channel_next(rx, &m, &len), VMSEC_ECLOSED);
    ck_assert_ptr_null(m);
    vmsec_channel_free(tx);
    vmsec_channel_free(rx);
}
END_TEST

static void *accept_n(void *p);

/* ---- over sockets ---------------------------------------------------------------------------- */

typedef struct server {
    vmsec_listener *l;
    vmsec_session_listener *sl;
    vmsec_session *s;
    pthread_t t;
    int rc, mode;
    int accept_rc[4];
    int naccept;
    void *user;
    char got[8][32];
    int ngot;
} server;

static void server_listen(server *sv, const vmsec_session_options *o)
{
    ck_assert_int_eq(vmsec_listener_new(&sv->l, addr), 0);
    ck_assert_int_eq(vmsec_session_listener_new(&sv->sl, cfg_b, sv->l, o), 0);
}

static void server_stop(server *sv)
{
    vmsec_session_free(sv->s);
    vmsec_session_listener_free(sv->sl);
    vmsec_listener_free(sv->l);
    sv->s = NULL;
    sv->sl = NULL;
    sv->l = NULL;
}

/* Receives and echoes messages until the session ends; rc: how it ended. */
static void *echo_server(void *p)
{
    server *sv = p;
    uint8_t buf[64];
    size_t n;
    if ((sv->rc = vmsec_session_listener_accept(sv->sl, &sv->s)) < 0)
        return NULL;
    while ((sv->rc = vmsec_session_recv(sv->s, buf, sizeof(buf), &n)) == 0) {
        if (sv->ngot < 8)
            snprintf(sv->got[sv->ngot++], 32, "%.*s", (int)n, buf);
        if ((sv->rc = vmsec_session_send(sv->s, buf, n)) < 0)
            break;
    }
    return NULL;
}

static void expect_echo(vmsec_session *c, const char *m)
{
    uint8_t buf[64];
    size_t n;
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)m, strlen(m)), 0);
    ck_assert_msg(vmsec_session_recv(c, buf, sizeof(buf), &n) == 0, "%s", vmsec_error_last());
    ck_assert_uint_eq(n, strlen(m));
    ck_assert_mem_eq(buf, m, n);
}

START_TEST(exchange_and_orderly_close_end_both_sides)
{
    vmsec_session_options o = fast_options();
    server sv = {0};
    vmsec_session *c;
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, echo_server, &sv);
    ck_assert_msg(vmsec_session_connect(&c, cfg_a, addr, &o) == 0, "%s", vmsec_error_last());
    expect_echo(c, "one");
    expect_echo(c, "two");
    expect_echo(c, "");
    ck_assert_msg(vmsec_session_close(c) == 0, "%s", vmsec_error_last());
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.rc, VMSEC_ECLOSED);
    ck_assert_int_eq(sv.ngot, 3);
    ck_assert_str_eq(sv.got[1], "two");
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)"x", 1), VMSEC_ESTATE);
    ck_assert_uint_eq(vmsec_session_links(c), 1);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* The connection is reset under both sides: the client reconnects, the single-threaded server
 * (blocked in its recv) accepts the resume itself, and nothing is lost or repeated. */
START_TEST(a_reset_link_is_resumed_exactly_once)
{
    vmsec_session_options o = fast_options();
    server sv = {0};
    vmsec_session *c;
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, echo_server, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    expect_echo(c, "before");
    for (int i = 0; i < 3; i++) {
        shutdown(vmsec_session_fd(c), SHUT_RDWR);
        expect_echo(c, i == 0 ? "after1" : i == 1 ? "after2" : "after3");
    }
    ck_assert_uint_eq(vmsec_session_links(c), 4);
    ck_assert_int_eq(vmsec_session_close(c), 0);
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.rc, VMSEC_ECLOSED);
    ck_assert_int_eq(sv.ngot, 4);
    ck_assert_str_eq(sv.got[0], "before");
    ck_assert_str_eq(sv.got[3], "after3");
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* The accepting process "restarts": a new listener at the same address knows nothing. The
 * connecting side learns its session is lost, and so does the new listener. */
START_TEST(a_restarted_listener_reports_the_session_lost_on_both_sides)
{
    vmsec_session_options o = fast_options();
    server sv = {.mode = 1};
    vmsec_session *c;
    uint8_t buf[8];
    size_t n;
    int rc;
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)"hi", 2), 0);
    ck_assert_int_eq(vmsec_session_recv(sv.s, buf, sizeof(buf), &n), 0);
    /* the accepting process "restarts": its session and listeners vanish, new ones take over */
    server_stop(&sv);
    server_listen(&sv, &o);
    sv.naccept = 0;
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)"lost?", 5), 0);
    rc = vmsec_session_recv(c, buf, sizeof(buf), &n);
    ck_assert_msg(rc == VMSEC_ESESSIONLOST, "%d %s", rc, vmsec_error_last());
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)"x", 1), VMSEC_ESESSIONLOST);
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.accept_rc[0], VMSEC_ESESSIONLOST);
    ck_assert_ptr_null(sv.s);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* Accepts connections and records what each accept returned. */
static void *accept_n(void *p)
{
    server *sv = p;
    for (int i = 0; i < sv->mode; i++) {
        vmsec_session *s = NULL;
        sv->accept_rc[sv->naccept++] = vmsec_session_listener_accept(sv->sl, &s);
        if (s)
            sv->s = s;
    }
    return NULL;
}

/* An impostor session: the real one's id (public) and address, its own configuration and secret. */
static vmsec_session *impostor(vmsec_session *real, const vmsec_channel_config *cfg, const vmsec_session_options *o)
{
    vmsec_session *imp;
    ck_assert_int_eq(vmsec__session_new(&imp, cfg, o, VMSEC_ROLE_INITIATOR), 0);
    memcpy(imp->id, real->id, sizeof(imp->id));
    memcpy(imp->peer_key, real->peer_key, sizeof(imp->peer_key));
    strcpy(imp->address, real->address);
    randombytes_buf(imp->secret, SF_SECRET_LEN);
    imp->down_since = vmsec__session_now();
    return imp;
}

START_TEST(impostors_with_the_session_id_are_refused)
{
    vmsec_session_options o = fast_options();
    vmsec_keypair *kc;
    vmsec_channel_config *cfg_c;
    uint8_t pc[32], pb[32];
    server sv = {.mode = 3};
    vmsec_session *c, *imp;
    /* a third key the server also trusts: only the session check can refuse it */
    ck_assert_int_eq(vmsec_keypair_generate(&kc), 0);
    vmsec_keypair_public(kc, pc, 32);
    vmsec_keypair_public(kb, pb, 32);
    vmsec_channel_config_new(&cfg_c);
    vmsec_channel_config_set_keypair(cfg_c, kc);
    vmsec_channel_config_add_trusted_peer(cfg_c, pb, 32);
    vmsec_channel_config_add_trusted_peer(cfg_b, pc, 32);
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    imp = impostor(c, cfg_c, &o); /* another static key */
    ck_assert_int_eq(vmsec__session_reconnect(imp), 0); /* refused without an answer: it retries */
    ck_assert_int_eq(imp->link, LINK_DOWN);
    vmsec_session_free(imp);
    imp = impostor(c, cfg_a, &o); /* the right key, but not the session secret */
    ck_assert_int_eq(vmsec__session_reconnect(imp), 0);
    ck_assert_int_eq(imp->link, LINK_DOWN);
    vmsec_session_free(imp);
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.accept_rc[0], 0);
    ck_assert_int_eq(sv.accept_rc[1], VMSEC_EAUTH);
    ck_assert_int_eq(sv.accept_rc[2], VMSEC_EAUTH);
    /* the real session went on untouched */
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)"still", 5), 0);
    {
        uint8_t buf[8];
        size_t n;
        ck_assert_int_eq(vmsec_session_recv(sv.s, buf, sizeof(buf), &n), 0);
        ck_assert_mem_eq(buf, "still", 5);
    }
    ck_assert_uint_eq(vmsec_session_links(c), 1);
    vmsec_session_free(c);
    server_stop(&sv);
    vmsec_channel_config_free(cfg_c);
    vmsec_keypair_free(kc);
}
END_TEST

/* Nobody resumes: each side gives up at its reconnect deadline, with VMSEC_ETIMEDOUT. */
START_TEST(the_reconnect_deadline_ends_both_sides)
{
    vmsec_session_options o = fast_options();
    server sv = {.mode = 1};
    vmsec_session *c;
    uint8_t buf[8];
    size_t n;
    int64_t t0;
    int rc;
    o.reconnect_deadline_ms = 300;
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.accept_rc[0], 0);
    /* the client vanishes without closing: the server waits 300 ms for a resume */
    vmsec_session_free(c);
    t0 = vmsec__session_now();
    rc = vmsec_session_recv(sv.s, buf, sizeof(buf), &n);
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d %s", rc, vmsec_error_last());
    ck_assert_int_ge(vmsec__session_now() - t0, 250);
    /* and a client whose server vanished for good */
    vmsec_session_free(sv.s);
    sv.s = NULL;
    sv.naccept = 0;
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    pthread_join(sv.t, NULL);
    server_stop(&sv);
    t0 = vmsec__session_now();
    rc = vmsec_session_recv(c, buf, sizeof(buf), &n);
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d %s", rc, vmsec_error_last());
    ck_assert_int_ge(vmsec__session_now() - t0, 250);
    vmsec_session_free(c);
}
END_TEST

static void *close_session(void *p)
{
    server *sv = p;
    sv->rc = vmsec_session_close(sv->s);
    return NULL;
}

/* Both sides close at once, each with messages the other has not read: both closes complete. */
START_TEST(simultaneous_closes_both_complete)
{
    vmsec_session_options o = fast_options();
    server sv = {.mode = 1};
    vmsec_session *c;
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)"unread", 6), 0);
    ck_assert_int_eq(vmsec_session_send(sv.s, (const uint8_t *)"unread", 6), 0);
    pthread_create(&sv.t, NULL, close_session, &sv);
    ck_assert_msg(vmsec_session_close(c) == 0, "%s", vmsec_error_last());
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.rc, 0);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* The accepting side gave up at its deadline: the late resume hears "unknown session", and the
 * connecting side learns the session is lost rather than waiting for its own deadline. */
START_TEST(a_session_that_gave_up_answers_a_late_resume_as_lost)
{
    vmsec_session_options o = fast_options(), slow = fast_options();
    server sv = {.mode = 1};
    vmsec_session *c;
    uint8_t buf[8];
    size_t n;
    int rc;
    o.reconnect_deadline_ms = 200;
    slow.backoff_initial_ms = slow.backoff_max_ms = 1000; /* first attempt after 500 to 1000 ms */
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &slow), 0);
    pthread_join(sv.t, NULL);
    shutdown(vmsec_session_fd(c), SHUT_RDWR);
    rc = vmsec_session_recv(sv.s, buf, sizeof(buf), &n);
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d %s", rc, vmsec_error_last());
    sv.naccept = 0;
    pthread_create(&sv.t, NULL, accept_n, &sv);
    rc = vmsec_session_recv(c, buf, sizeof(buf), &n);
    ck_assert_msg(rc == VMSEC_ESESSIONLOST, "%d %s", rc, vmsec_error_last());
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.accept_rc[0], VMSEC_ESESSIONLOST);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* A trusted peer sends HELLO_NEW with the id of a session the server holds (ids are public): the
 * server answers UNKNOWN before any WELCOME, and the session of that id goes on untouched. */
START_TEST(a_new_session_with_a_taken_id_is_refused)
{
    vmsec_session_options o = fast_options();
    server sv = {.mode = 1}, again;
    struct vmsec__sframe f = {.type = SF_HELLO_NEW};
    vmsec_session *c;
    vmsec_channel *raw;
    uint8_t *buf, got[8];
    size_t len, n;
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    pthread_join(sv.t, NULL);
    again = sv;
    again.naccept = 0;
    pthread_create(&again.t, NULL, accept_n, &again);
    ck_assert_int_eq(vmsec_channel_connect(&raw, cfg_a, addr), 0);
    memcpy(f.id, c->id, sizeof(f.id));
    ck_assert_int_eq(vmsec__session_write_frame(raw, &f, vmsec__session_now() + 2000), 0);
    ck_assert_int_eq(vmsec__session_read_frame(raw, vmsec__session_now() + 2000, &buf, &len), 0);
    ck_assert_int_eq(vmsec__sframe_parse(buf, len, &f), 0);
    free(buf);
    ck_assert_int_eq(f.type, SF_UNKNOWN);
    ck_assert_mem_eq(f.id, c->id, sizeof(f.id));
    vmsec_channel_free(raw);
    pthread_join(again.t, NULL);
    ck_assert_int_eq(again.accept_rc[0], VMSEC_EPROTO);
    ck_assert_ptr_eq(again.s, sv.s); /* no new session handed out */
    ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)"still", 5), 0);
    ck_assert_int_eq(vmsec_session_recv(sv.s, got, sizeof(got), &n), 0);
    ck_assert_mem_eq(got, "still", 5);
    ck_assert_uint_eq(vmsec_session_links(sv.s), 1);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* ---- a proxy that cuts a first link between the server's WELCOME and the client ------------- */

typedef struct cutter {
    char path[128], to[128];
    int lfd;
    atomic_int cut;   /* set by the test: drop the held frames and close the first connection */
    atomic_int conns; /* connections accepted */
    atomic_int stop;
    pthread_t t;
} cutter;

static int unix_fd(const char *path, bool listen_on)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (listen_on)
        ck_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0);
    else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Moves what c sent to s; from s to c only the first frame (the responder's handshake message)
 * on the first connection, holding the rest (key confirmation, WELCOME) until the cut. */
static void cutter_pipe(cutter *x, int c, int s, bool first)
{
    uint8_t buf[65536], hdr[2];
    size_t passed = 0, frame = 0; /* first connection: bytes passed from s, the first frame's size */
    for (;;) {
        struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = s, .events = POLLIN}};
        size_t want = !first ? sizeof(buf) : passed < 2 ? 2 - passed : frame - passed;
        ssize_t n;
        if (atomic_load(&x->stop) || (first && atomic_load(&x->cut)))
            return;
        p[1].fd = want ? s : -1; /* held: the rest waits for the cut */
        if (poll(p, 2, 10) <= 0)
            continue;
        if ((p[0].revents & (POLLIN | POLLHUP)) && ((n = read(c, buf, sizeof(buf))) <= 0 || write(s, buf, (size_t)n) != n))
            return;
        if (!(p[1].revents & (POLLIN | POLLHUP)))
            continue;
        if ((n = read(s, buf, want)) <= 0 || write(c, buf, (size_t)n) != n)
            return;
        if (first && passed < 2)
            memcpy(hdr + passed, buf, (size_t)n);
        passed += (size_t)n;
        if (first && passed == 2)
            frame = 2 + ((size_t)hdr[0] << 8 | hdr[1]);
    }
}

static void *cutter_run(void *p)
{
    cutter *x = p;
    int c, s;
    while (!atomic_load(&x->stop)) {
        struct pollfd l = {.fd = x->lfd, .events = POLLIN};
        if (poll(&l, 1, 10) <= 0 || (c = accept(x->lfd, NULL, NULL)) < 0)
            continue;
        if ((s = unix_fd(x->to, false)) >= 0) {
            cutter_pipe(x, c, s, atomic_fetch_add(&x->conns, 1) == 0);
            close(s);
        }
        close(c);
    }
    return NULL;
}

/* Accepts one session, has the proxy cut its first link, then echoes like echo_server. */
static void *accept_cut_echo(void *p)
{
    server *sv = p;
    uint8_t buf[64];
    size_t n;
    if ((sv->rc = vmsec_session_listener_accept(sv->sl, &sv->s)) < 0)
        return NULL;
    atomic_store(&((cutter *)sv->user)->cut, 1);
    while ((sv->rc = vmsec_session_recv(sv->s, buf, sizeof(buf), &n)) == 0) {
        if (sv->ngot < 8)
            snprintf(sv->got[sv->ngot++], 32, "%.*s", (int)n, buf);
        if ((sv->rc = vmsec_session_send(sv->s, buf, n)) < 0)
            break;
    }
    return NULL;
}

/* The first link is cut after the server accepted the session (and wrote its WELCOME) but before
 * the client read the WELCOME: the client's connect resumes that very session on its next link,
 * and the server's application, which already holds it, sees every message once. */
START_TEST(a_first_link_cut_before_the_welcome_is_resumed)
{
    vmsec_session_options o = fast_options();
    server sv = {0};
    cutter x = {0};
    char paddr[VMSEC_ADDRESS_MAX + 32];
    vmsec_session *c;
    snprintf(x.path, sizeof(x.path), "%s/p", dir);
    snprintf(x.to, sizeof(x.to), "%s/s", dir);
    snprintf(paddr, sizeof(paddr), "unix:%s", x.path);
    x.lfd = unix_fd(x.path, true);
    server_listen(&sv, &o);
    sv.user = &x;
    pthread_create(&x.t, NULL, cutter_run, &x);
    pthread_create(&sv.t, NULL, accept_cut_echo, &sv);
    ck_assert_msg(vmsec_session_connect(&c, cfg_a, paddr, &o) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(atomic_load(&x.conns), 2);
    expect_echo(c, "first");
    expect_echo(c, "second");
    ck_assert_int_eq(vmsec_session_close(c), 0);
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.rc, VMSEC_ECLOSED);
    ck_assert_int_eq(sv.ngot, 2);
    ck_assert_str_eq(sv.got[0], "first");
    ck_assert_uint_eq(vmsec_session_links(sv.s), 2);
    atomic_store(&x.stop, 1);
    pthread_join(x.t, NULL);
    close(x.lfd);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* A full buffer of unacknowledged messages refuses more (non-blocking) until the peer reads. */
/* A dial hook that connects to the real address until `silent` is set, then to a listener that
 * never accepts (the connection is queued, the handshake never answered); it keeps the largest
 * timeout it was given after that. */
typedef struct silent_dial {
    char silent_path[VMSEC_ADDRESS_MAX];
    atomic_int silent;
    unsigned int max_timeout_ms;
    int attempts;
} silent_dial;

static int dial_maybe_silent(void *user, const char *address, unsigned int timeout_ms, int *fd)
{
    silent_dial *d = user;
    if (!atomic_load(&d->silent))
        return vmsec_transport_connect(address, timeout_ms, fd);
    d->attempts++;
    if (timeout_ms > d->max_timeout_ms)
        d->max_timeout_ms = timeout_ms;
    return (*fd = unix_fd(d->silent_path, false)) < 0 ? VMSEC_EIO : 0;
}

/* A peer that accepts the connection but never answers the handshake, with a handshake timeout far
 * beyond the reconnect deadline, reached through the dial hook: the hook is given no more than what
 * remains of the reconnect deadline, the attempt's handshake then waits in the event loop (each
 * tick returns with the attempt waiting on its descriptor), and the session ends with
 * VMSEC_ETIMEDOUT (without the bound, the attempt would wait out the ten-minute handshake timeout). */
START_TEST(a_reconnect_attempt_ends_with_the_reconnect_deadline)
{
    vmsec_session_options o = fast_options();
    silent_dial d = {0};
    server sv = {.mode = 1};
    vmsec_session *c;
    int lfd, rc, waits = 0;
    snprintf(d.silent_path, sizeof(d.silent_path), "%s/silent", dir);
    lfd = unix_fd(d.silent_path, true);
    o.reconnect_deadline_ms = 300;
    o.dial = dial_maybe_silent;
    o.dial_user = &d;
    vmsec_channel_config_set_handshake_timeout(cfg_a, 600000);
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.accept_rc[0], 0);
    ck_assert_int_eq(vmsec_session_set_nonblocking(c, 1), 0);
    atomic_store(&d.silent, 1);
    shutdown(vmsec_session_fd(c), SHUT_RDWR);
    /* an event loop: wait as the session asks, then tick, until the session fails */
    while ((rc = vmsec_session_tick(c)) == 0) {
        struct pollfd p = {.fd = vmsec_session_fd(c), .events = vmsec_session_poll_events(c)};
        if (c->at && c->at->step == AT_HANDSHAKE) {
            waits++;
            ck_assert_int_eq(p.fd, vmsec_channel_fd(c->at->ch));
            ck_assert(p.events & POLLIN);
        }
        poll(&p, p.fd >= 0 ? 1 : 0, vmsec_session_next_timeout_ms(c));
    }
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d %s", rc, vmsec_error_last());
    ck_assert_int_ge(d.attempts, 1);
    ck_assert_int_ge(waits, 1);
    ck_assert_uint_le(d.max_timeout_ms, 300);
    ck_assert_int_eq(vmsec_session_fd(c), -1);
    vmsec_session_free(c);
    server_stop(&sv);
    close(lfd);
}
END_TEST

/* ---- reconnect attempts in a non-blocking event loop ----------------------------------------- */

static int resolve_to(void *user, char *address, size_t cap)
{
    snprintf(address, cap, "%s", (const char *)user);
    return 0;
}

/* One turn of a non-blocking event loop: wait as the session asks (at most max_ms, for the test's
 * own descriptors), then tick. */
static int turn(vmsec_session *c, int max_ms)
{
    struct pollfd p = {.fd = vmsec_session_fd(c), .events = vmsec_session_poll_events(c)};
    int t = vmsec_session_next_timeout_ms(c);
    poll(&p, p.fd >= 0 ? 1 : 0, t < 0 || t > max_ms ? max_ms : t);
    return vmsec_session_tick(c);
}

/* A session to the test's server, non-blocking, whose link was just reset; its reconnects go to
 * where (a resolver). */
static vmsec_session *reset_session(server *sv, vmsec_session_options *o, char *where)
{
    vmsec_session *c;
    o->resolve = resolve_to;
    o->resolve_user = where;
    server_listen(sv, o);
    pthread_create(&sv->t, NULL, accept_n, sv);
    ck_assert_msg(vmsec_session_connect(&c, cfg_a, addr, o) == 0, "%s", vmsec_error_last());
    pthread_join(sv->t, NULL);
    ck_assert_int_eq(sv->accept_rc[0], 0);
    ck_assert_int_eq(vmsec_session_set_nonblocking(c, 1), 0);
    shutdown(vmsec_session_fd(c), SHUT_RDWR);
    return c;
}

/* A listener that accepts the connection but never answers the handshake: each tick returns with the
 * attempt waiting for the answer on its new descriptor (POLLIN), the session takes messages and
 * has none to give meanwhile, and at the reconnect deadline the attempt is abandoned, its socket
 * closed, and the session fails with VMSEC_ETIMEDOUT. */
START_TEST(a_reconnect_to_a_silent_peer_waits_on_its_descriptor)
{
    vmsec_session_options o = fast_options();
    server sv = {.mode = 1};
    char path[128], silent[VMSEC_ADDRESS_MAX + 32];
    uint8_t buf[256];
    size_t n;
    vmsec_session *c;
    int lfd, peer = -1, rc, waits = 0;
    ssize_t got;
    snprintf(path, sizeof(path), "%s/silent", dir);
    snprintf(silent, sizeof(silent), "unix:%s", path);
    lfd = unix_fd(path, true);
    o.reconnect_deadline_ms = 300;
    vmsec_channel_config_set_handshake_timeout(cfg_a, 600000);
    c = reset_session(&sv, &o, silent);
    while ((rc = turn(c, 1000)) == 0) {
        if (!c->at || c->at->step != AT_HANDSHAKE)
            continue;
        waits++;
        ck_assert_int_ge(vmsec_session_fd(c), 0);
        ck_assert_int_eq(vmsec_session_fd(c), vmsec_channel_fd(c->at->ch));
        ck_assert(vmsec_session_poll_events(c) & POLLIN);
        ck_assert_int_le(vmsec_session_next_timeout_ms(c), 300);
        ck_assert_int_eq(vmsec_session_recv(c, buf, sizeof(buf), &n), VMSEC_EAGAIN);
        ck_assert_uint_eq(vmsec_session_links(c), 1);
        if (peer < 0) {
            /* the attempt's connection, with the initiator's first handshake message in it */
            ck_assert_int_ge(peer = accept(lfd, NULL, NULL), 0);
            ck_assert_int_gt(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 0);
            ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)"later", 5), 0);
        }
    }
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d %s", rc, vmsec_error_last());
    ck_assert_int_ge(waits, 1);
    ck_assert_int_eq(vmsec_session_fd(c), -1);
    while ((got = read(peer, buf, sizeof(buf))) > 0)
        ;
    ck_assert_int_eq(got, 0); /* the attempt's socket was closed */
    close(peer);
    close(lfd);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* A TCP listener whose accept queue is full (backlog 0, one connection queued): the kernel drops
 * further SYNs, so a connect to it stays in progress. Returns its descriptor; *queued: the queued
 * connection. */
static int full_tcp_listener(char *address, size_t cap, int *queued)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 0) == 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    snprintf(address, cap, "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
    ck_assert_msg(vmsec_transport_connect(address, 2000, queued) == 0, "%s", vmsec_error_last());
    return lfd;
}

/* A reconnect whose connect stays in progress: each tick returns with the attempt waiting for its
 * socket to become writable (POLLOUT), until the reconnect deadline ends the session. */
START_TEST(a_reconnect_attempt_waits_for_its_connect_in_progress)
{
    vmsec_session_options o = fast_options();
    server sv = {.mode = 1};
    char where[VMSEC_ADDRESS_MAX];
    uint8_t buf[8];
    size_t n;
    vmsec_session *c;
    int lfd, queued, rc, waits = 0;
    lfd = full_tcp_listener(where, sizeof(where), &queued);
    o.reconnect_deadline_ms = 300;
    vmsec_channel_config_set_handshake_timeout(cfg_a, 600000);
    c = reset_session(&sv, &o, where);
    while ((rc = turn(c, 1000)) == 0) {
        if (!c->at || c->at->step != AT_CONNECT)
            continue;
        waits++;
        ck_assert_int_ge(vmsec_session_fd(c), 0);
        ck_assert_int_eq(vmsec_session_poll_events(c), POLLOUT);
        ck_assert_int_eq(vmsec_session_recv(c, buf, sizeof(buf), &n), VMSEC_EAGAIN);
    }
    ck_assert_msg(rc == VMSEC_ETIMEDOUT, "%d %s", rc, vmsec_error_last());
    ck_assert_int_ge(waits, 1);
    ck_assert_int_eq(vmsec_session_fd(c), -1);
    close(queued);
    close(lfd);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* A TCP proxy run from the test's own event loop that moves at most 16 bytes each way per turn, to
 * the server's unix address: every handshake message and frame takes several turns. */
typedef struct slow_proxy {
    vmsec_listener *l;
    char addr[VMSEC_ADDRESS_MAX];
    int c, s;
} slow_proxy;

static void slow_proxy_move(int from, int to)
{
    uint8_t b[16];
    ssize_t n = read(from, b, sizeof(b));
    if (n > 0)
        ck_assert_int_eq(write(to, b, (size_t)n), n);
}

static void slow_proxy_turn(slow_proxy *x)
{
    if (x->c < 0) {
        if (vmsec_listener_accept(x->l, &x->c, NULL, 0, NULL) < 0)
            return;
        ck_assert_int_ge(x->s = unix_fd(addr + 5, false), 0);
        fcntl(x->c, F_SETFL, fcntl(x->c, F_GETFL) | O_NONBLOCK);
        fcntl(x->s, F_SETFL, fcntl(x->s, F_GETFL) | O_NONBLOCK);
    }
    slow_proxy_move(x->c, x->s);
    slow_proxy_move(x->s, x->c);
}

/* Messages sent before a reset and while the link is down arrive once and in order, both ways,
 * after a reconnect through the slow proxy that completes over many calls: no call runs the
 * attempt to its end, each returns with it waiting on its descriptor, first in the handshake, then
 * for the WELCOME. */
START_TEST(a_slow_reconnect_completes_across_many_ticks)
{
    static const char *const msgs[] = {"m1", "m2", "m3", "m4", "m5", "m6"};
    vmsec_session_options o = fast_options();
    server sv = {0};
    slow_proxy x = {.c = -1, .s = -1};
    uint8_t buf[64];
    size_t n;
    vmsec_session *c;
    int got = 0, mid = 0, rc;
    bool seen[AT_WELCOME + 1] = {false};
    ck_assert_int_eq(vmsec_listener_new(&x.l, "tcp:127.0.0.1:0"), 0);
    ck_assert_int_eq(vmsec_listener_address(x.l, x.addr, sizeof(x.addr)), 0);
    fcntl(vmsec_listener_fd(x.l), F_SETFL, O_NONBLOCK);
    vmsec_channel_config_set_handshake_timeout(cfg_a, 30000);
    vmsec_channel_config_set_handshake_timeout(cfg_b, 30000);
    o.reconnect_deadline_ms = 60000;
    o.resolve = resolve_to;
    o.resolve_user = x.addr;
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, echo_server, &sv);
    ck_assert_msg(vmsec_session_connect(&c, cfg_a, addr, &o) == 0, "%s", vmsec_error_last());
    ck_assert_int_eq(vmsec_session_set_nonblocking(c, 1), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)msgs[i], 2), 0);
    shutdown(vmsec_session_fd(c), SHUT_RDWR);
    for (int i = 3; i < 6; i++)
        ck_assert_int_eq(vmsec_session_send(c, (const uint8_t *)msgs[i], 2), 0);
    for (int i = 0; got < 6; i++) {
        ck_assert_int_lt(i, 200000);
        ck_assert_msg((rc = turn(c, 2)) == 0, "%d %s", rc, vmsec_error_last());
        if (c->at) {
            mid++;
            seen[c->at->step] = true;
            ck_assert_int_ge(vmsec_session_fd(c), 0);
            ck_assert_uint_eq(vmsec_session_links(c), 1);
        }
        slow_proxy_turn(&x);
        while ((rc = vmsec_session_recv(c, buf, sizeof(buf), &n)) == 0) {
            ck_assert_int_lt(got, 6);
            ck_assert_uint_eq(n, 2);
            ck_assert_mem_eq(buf, msgs[got], 2);
            got++;
        }
        ck_assert_msg(rc == VMSEC_EAGAIN, "%d %s", rc, vmsec_error_last());
    }
    ck_assert(seen[AT_HANDSHAKE] && seen[AT_WELCOME]);
    ck_assert_int_ge(mid, 4);
    ck_assert_uint_eq(vmsec_session_links(c), 2);
    while ((rc = vmsec_session_close(c)) == VMSEC_EAGAIN) {
        poll(NULL, 0, 1);
        slow_proxy_turn(&x);
    }
    ck_assert_msg(rc == 0, "%d %s", rc, vmsec_error_last());
    pthread_join(sv.t, NULL);
    ck_assert_int_eq(sv.rc, VMSEC_ECLOSED);
    ck_assert_int_eq(sv.ngot, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(sv.got[i], msgs[i]);
    vmsec_session_free(c);
    close(x.c);
    close(x.s);
    vmsec_listener_free(x.l);
    server_stop(&sv);
}
END_TEST

START_TEST(a_full_buffer_pushes_back)
{
    vmsec_session_options o = fast_options();
    server sv = {.mode = 1};
    vmsec_session *c;
    uint8_t buf[8];
    size_t n;
    int sent = 0;
    o.max_unacked_messages = 4;
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, accept_n, &sv);
    ck_assert_int_eq(vmsec_session_connect(&c, cfg_a, addr, &o), 0);
    pthread_join(sv.t, NULL);
    vmsec_session_set_nonblocking(c, 1);
    while (vmsec_session_send(c, (const uint8_t *)"m", 1) == 0)
        sent++;
    ck_assert_int_eq(sent, 4);
    ck_assert_int_eq(vmsec_error_last_code(), VMSEC_EAGAIN);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(vmsec_session_recv(sv.s, buf, sizeof(buf), &n), 0);
    for (int i = 0; i < 200 && vmsec_session_send(c, (const uint8_t *)"m", 1) == VMSEC_EAGAIN; i++)
        poll(NULL, 0, 5), vmsec_session_tick(sv.s);
    ck_assert_uint_le(c->sq_count, 4);
    ck_assert_uint_ge(c->acked, 4);
    {
        uint8_t *big = calloc(1, (size_t)9 << 20);
        ck_assert_int_eq(vmsec_session_send(c, big, (size_t)9 << 20), VMSEC_ETOOBIG);
        free(big);
    }
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

/* A stream of large messages: once more than a few hundred KiB are unacknowledged the sender keeps
 * them in its resend ring, which it goes round several times; the link is cut twice mid-stream,
 * and the messages kept in the ring (and those from malloc before it) are resent: every message
 * arrives once, in order, intact. */
#define RING_MSGS 400
#define RING_MSG ((size_t)60000)

static void ring_fill(uint8_t *m, int i)
{
    for (size_t k = 0; k < RING_MSG; k++)
        m[k] = (uint8_t)(i * 131 + k * 7 + (k >> 9));
}

static atomic_int ring_reader_done;

static void *ring_reader(void *p)
{
    server *sv = p;
    uint8_t *got = malloc(RING_MSG), *want = malloc(RING_MSG);
    size_t n;
    sv->rc = vmsec_session_listener_accept(sv->sl, &sv->s);
    for (int i = 0; i < RING_MSGS && sv->rc == 0; i++) {
        if ((sv->rc = vmsec_session_recv(sv->s, got, RING_MSG, &n)) < 0)
            break;
        ring_fill(want, i);
        if (n != RING_MSG || memcmp(got, want, n)) {
            sv->rc = -1000 - i;
            break;
        }
        sv->ngot++;
    }
    free(got);
    free(want);
    atomic_store(&ring_reader_done, 1);
    return NULL;
}

START_TEST(large_messages_in_flight_are_resent_from_the_ring)
{
    vmsec_session_options o = fast_options();
    server sv = {0};
    vmsec_session *c;
    uint8_t *m = malloc(RING_MSG);
    bool in_ring = false;
    int i = 0, cuts = 0;
    atomic_store(&ring_reader_done, 0);
    server_listen(&sv, &o);
    pthread_create(&sv.t, NULL, ring_reader, &sv);
    ck_assert_msg(vmsec_session_connect(&c, cfg_a, addr, &o) == 0, "%s", vmsec_error_last());
    ck_assert_ptr_null(c->ring.base); /* nothing in flight yet: no region */
    ck_assert_int_eq(vmsec_session_set_nonblocking(c, 1), 0);
    while (i < RING_MSGS) {
        int rc;
        ring_fill(m, i);
        if ((rc = vmsec_session_send(c, m, RING_MSG)) == 0) {
            i++;
            for (struct sq_entry *e = c->sq_head; e && !in_ring; e = e->next)
                in_ring = e->cap == 0;
            if ((i == RING_MSGS / 3 || i == 2 * RING_MSGS / 3) && c->sq_count > 8) {
                shutdown(vmsec_session_fd(c), SHUT_RDWR);
                cuts++;
            }
            continue;
        }
        ck_assert_msg(rc == VMSEC_EAGAIN, "%s", vmsec_error_last());
        ck_assert_msg(!atomic_load(&ring_reader_done), "the reader stopped: %d after %d messages", sv.rc, sv.ngot);
        ck_assert_int_ge(turn(c, 100), 0);
    }
    while (c->sq_count && !atomic_load(&ring_reader_done))
        ck_assert_int_ge(turn(c, 100), 0);
    pthread_join(sv.t, NULL);
    ck_assert_msg(sv.rc == 0, "reader: %d after %d messages (%s)", sv.rc, sv.ngot, vmsec_error_last());
    ck_assert_int_eq(sv.ngot, RING_MSGS);
    ck_assert_msg(in_ring, "no message was kept in the ring");
    ck_assert_ptr_nonnull(c->ring.base);
    ck_assert_int_ge(cuts, 1);
    ck_assert_uint_eq(vmsec_session_links(c), 1 + (uint64_t)cuts);
    free(m);
    vmsec_session_free(c);
    server_stop(&sv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frames_round_trip);
    tcase_add_test(tc, data_frames_carry_their_payload);
    tcase_add_test(tc, malformed_frames_are_protocol_errors);
    tcase_add_test(tc, proofs_bind_secret_side_id_and_channel);
    tcase_add_test(tc, acknowledgements_release_the_buffer);
    tcase_add_test(tc, the_resend_ring_hands_out_space_in_order);
    tcase_add_test(tc, frames_are_read_in_place_without_formatting_errors);
    tcase_add_test(tc, exchange_and_orderly_close_end_both_sides);
    tcase_add_test(tc, a_reset_link_is_resumed_exactly_once);
    tcase_add_test(tc, a_restarted_listener_reports_the_session_lost_on_both_sides);
    tcase_add_test(tc, impostors_with_the_session_id_are_refused);
    tcase_add_test(tc, the_reconnect_deadline_ends_both_sides);
    tcase_add_test(tc, simultaneous_closes_both_complete);
    tcase_add_test(tc, a_session_that_gave_up_answers_a_late_resume_as_lost);
    tcase_add_test(tc, a_full_buffer_pushes_back);
    tcase_add_test(tc, large_messages_in_flight_are_resent_from_the_ring);
    tcase_add_test(tc, a_new_session_with_a_taken_id_is_refused);
    tcase_add_test(tc, a_first_link_cut_before_the_welcome_is_resumed);
    tcase_add_test(tc, a_reconnect_attempt_ends_with_the_reconnect_deadline);
    tcase_add_test(tc, a_reconnect_to_a_silent_peer_waits_on_its_descriptor);
    tcase_add_test(tc, a_reconnect_attempt_waits_for_its_connect_in_progress);
    tcase_add_test(tc, a_slow_reconnect_completes_across_many_ticks);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
