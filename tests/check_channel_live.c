/* SPDX-License-Identifier: ISC */
/* Keep-alives and the dead-peer timeout over real sockets, in real time kept short (intervals of
 * 50 ms): an idle channel stays up, a stopped peer process, a silent peer and a peer that stops
 * reading are found dead, and a non-blocking poll loop runs on vmsec_channel_next_timeout_ms().
 * Timing assertions are orderings and generous bounds, so that valgrind or a loaded machine slows
 * the tests without failing them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vmsec.h>

#include "channel_pair.h"
#include "testutil.h"

#define KA_MS 50
#define DEAD_MS 500
#define SLACK_MS 4000 /* valgrind on a loaded 2-core machine */

static vmsec_keypair *ka, *kb;
static vmsec_channel_config *cfg_a, *cfg_b;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void setup(void)
{
    vt_channel_pair_new(&ka, &kb, &cfg_a, &cfg_b);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(cfg_a, KA_MS, DEAD_MS), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(cfg_b, KA_MS, DEAD_MS), 0);
}

static void teardown(void)
{
    vt_channel_pair_free(ka, kb, cfg_a, cfg_b);
}

typedef struct {
    vmsec_channel *ch;
    int rc;
    size_t len;
    uint8_t buf[64];
    int64_t done_at;
} call_arg;

static void *do_handshake(void *p)
{
    call_arg *a = p;
    a->rc = vmsec_channel_handshake(a->ch);
    return NULL;
}

static void *do_recv(void *p)
{
    call_arg *a = p;
    a->rc = vmsec_channel_recv(a->ch, a->buf, sizeof(a->buf), &a->len);
    a->done_at = now_ms();
    return NULL;
}

/* Two blocking channels over a socketpair, handshaken in parallel. */
static void open_pair(vmsec_channel **a, vmsec_channel **b, const vmsec_channel_config *ca,
                      const vmsec_channel_config *cb)
{
    int sv[2];
    pthread_t t;
    call_arg ha = {0}, hb = {0};
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(vmsec_channel_new(a, ca, sv[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_new(b, cb, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    ha.ch = *a;
    hb.ch = *b;
    pthread_create(&t, NULL, do_handshake, &ha);
    do_handshake(&hb);
    pthread_join(t, NULL);
    ck_assert_msg(ha.rc == 0 && hb.rc == 0, "%d %d %s", ha.rc, hb.rc, vmsec_error_last());
}

/* Both sides wait in vmsec_channel_recv() with nothing to receive for more than three dead-peer
 * periods (and across time rekeys): their keep-alives keep them up, and messages still flow. */
START_TEST(idle_blocking_channel_stays_up)
{
    vmsec_channel *a, *b;
    call_arg ra = {0}, rb = {0};
    pthread_t ta, tb;
    ck_assert_int_eq(vmsec_channel_config_set_rekey_time(cfg_a, 1), 0);
    ck_assert_int_eq(vmsec_channel_config_set_rekey_time(cfg_b, 1), 0);
    open_pair(&a, &b, cfg_a, cfg_b);
    ra.ch = a;
    rb.ch = b;
    pthread_create(&ta, NULL, do_recv, &ra);
    pthread_create(&tb, NULL, do_recv, &rb);
    sleep_ms(3 * DEAD_MS + 700);
    ck_assert_int_eq(ra.done_at, 0); /* still waiting, not failed */
    ck_assert_int_eq(rb.done_at, 0);
    ck_assert_int_eq(vmsec_channel_send(a, (const uint8_t *)"ping", 4, 0), 0);
    ck_assert_int_eq(vmsec_channel_send(b, (const uint8_t *)"pong", 4, 0), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ck_assert_msg(ra.rc == 0 && rb.rc == 0, "%d %d %s", ra.rc, rb.rc, vmsec_error_last());
    ck_assert_mem_eq(rb.buf, "ping", 4);
    ck_assert_mem_eq(ra.buf, "pong", 4);
    ck_assert_int_eq(vmsec_channel_close(a), 0);
    ck_assert_int_eq(vmsec_channel_close(b), 0);
    ck_assert_int_eq(vmsec_channel_recv(a, ra.buf, sizeof(ra.buf), &ra.len), VMSEC_ECLOSED);
    ck_assert_int_eq(vmsec_channel_recv(b, rb.buf, sizeof(rb.buf), &rb.len), VMSEC_ECLOSED);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

static void *stop_later(void *p)
{
    call_arg *a = p; /* rc: the pid to stop; done_at: when */
    sleep_ms(3 * DEAD_MS);
    a->done_at = now_ms();
    kill((pid_t)a->rc, SIGSTOP);
    return NULL;
}

/* The peer is a child process with a channel that works (its receiving thread sends keep-alives)
 * until it is stopped with SIGSTOP, as a paused VM: the receiver fails with VMSEC_EPEERDEAD after
 * the stop, within the timeout and some slack, and not before. */
START_TEST(stopped_peer_process_is_found_dead)
{
    int sv[2], status;
    pid_t pid;
    vmsec_channel *a;
    call_arg ra = {0}, stop = {0};
    pthread_t t;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        vmsec_channel *b;
        uint8_t buf[16];
        size_t len;
        close(sv[0]);
        if (vmsec_channel_new(&b, cfg_b, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD) < 0)
            _exit(1);
        while (vmsec_channel_recv(b, buf, sizeof(buf), &len) == 0)
            ;
        _exit(0);
    }
    close(sv[1]);
    ck_assert_int_eq(vmsec_channel_new(&a, cfg_a, sv[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_msg(vmsec_channel_handshake(a) == 0, "%s", vmsec_error_last());
    stop.rc = (int)pid;
    pthread_create(&t, NULL, stop_later, &stop);
    ra.ch = a;
    do_recv(&ra);
    pthread_join(t, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ck_assert_msg(ra.rc == VMSEC_EPEERDEAD, "%d %s", ra.rc, vmsec_error_last());
    ck_assert_int_ge(ra.done_at, stop.done_at);
    ck_assert_int_le(ra.done_at - stop.done_at, DEAD_MS + SLACK_MS);
    ck_assert_int_eq(vmsec_channel_state(a), VMSEC_STATE_FAILED);
    vmsec_channel_free(a);
}
END_TEST

/* A peer that never sends (no keep-alives configured on its side, nothing to say) is dead to a side
 * with a dead-peer timeout, however long it keeps the connection open. */
START_TEST(silent_peer_is_found_dead_at_the_timeout)
{
    vmsec_channel *a, *b;
    call_arg ra = {0};
    int64_t start;
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(cfg_b, 0, 0), 0);
    open_pair(&a, &b, cfg_a, cfg_b);
    ra.ch = a;
    start = now_ms();
    do_recv(&ra);
    ck_assert_msg(ra.rc == VMSEC_EPEERDEAD, "%d %s", ra.rc, vmsec_error_last());
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "dead-peer timeout"));
    ck_assert_int_ge(ra.done_at - start, DEAD_MS - 20);
    ck_assert_int_le(ra.done_at - start, DEAD_MS + SLACK_MS);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

static void *do_big_send(void *p)
{
    call_arg *a = p;
    size_t size = 32u << 20;
    uint8_t *msg = calloc(1, size);
    a->rc = vmsec_channel_send(a->ch, msg, size, 0);
    a->done_at = now_ms();
    free(msg);
    return NULL;
}

/* A sending thread blocked in a write because the peer stopped reading wakes up at its deadlines
 * and fails with VMSEC_EPEERDEAD, as does the receiving thread. */
START_TEST(sender_blocked_by_a_peer_that_stopped_reading_is_told)
{
    vmsec_channel *a, *b;
    call_arg sa = {0}, ra = {0};
    pthread_t ts;
    int64_t start;
    ck_assert_int_eq(vmsec_channel_config_set_max_message(cfg_a, 32u << 20), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(cfg_b, 0, 0), 0);
    open_pair(&a, &b, cfg_a, cfg_b);
    sa.ch = ra.ch = a;
    start = now_ms();
    pthread_create(&ts, NULL, do_big_send, &sa);
    do_recv(&ra);
    pthread_join(ts, NULL);
    ck_assert_msg(sa.rc == VMSEC_EPEERDEAD || sa.rc == VMSEC_ESTATE, "%d %s", sa.rc, vmsec_error_last());
    ck_assert_msg(ra.rc == VMSEC_EPEERDEAD || ra.rc == VMSEC_ESTATE, "%d", ra.rc);
    ck_assert(sa.rc == VMSEC_EPEERDEAD || ra.rc == VMSEC_EPEERDEAD);
    ck_assert_int_le(sa.done_at - start, DEAD_MS + SLACK_MS);
    ck_assert_int_le(ra.done_at - start, DEAD_MS + SLACK_MS);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

/* One thread, two non-blocking channels, poll with the channels' own timeout: idle for more than
 * three dead-peer periods without a failure or a message; then only one side is serviced and it
 * finds the other dead. */
START_TEST(nonblocking_poll_loop_runs_on_the_next_timeout)
{
    int sv[2], wakeups = 0;
    vmsec_channel *ch[2];
    int64_t start, stop_b = 0, end = 0;
    uint8_t buf[16];
    size_t len;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert_int_eq(vmsec_channel_new(&ch[0], cfg_a, sv[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_new(&ch[1], cfg_b, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), 0);
    ck_assert_int_eq(vmsec_channel_next_timeout_ms(ch[0]), -1); /* the handshake has not started */
    ck_assert_int_eq(vmsec_channel_handshake(ch[0]), VMSEC_EAGAIN);
    ck_assert_int_ge(vmsec_channel_next_timeout_ms(ch[0]), 0); /* the handshake timeout */
    start = now_ms();
    for (;;) {
        struct pollfd p[2];
        int timeout = -1, n = stop_b ? 1 : 2, rc;
        for (int k = 0; k < n; k++) {
            int t = vmsec_channel_next_timeout_ms(ch[k]);
            p[k] = (struct pollfd){.fd = vmsec_channel_fd(ch[k]), .events = vmsec_channel_poll_events(ch[k])};
            if (t >= 0 && (timeout < 0 || t < timeout))
                timeout = t;
        }
        ck_assert_int_ge(timeout, 0); /* something is always armed */
        ck_assert_int_le(timeout, 10000);
        poll(p, (nfds_t)n, timeout);
        wakeups++;
        for (int k = 0; k < n; k++) {
            bool open;
            rc = vmsec_channel_tick(ch[k]);
            open = vmsec_channel_state(ch[k]) != VMSEC_STATE_HANDSHAKE;
            if (rc == 0 && open) {
                rc = vmsec_channel_recv(ch[k], buf, sizeof(buf), &len);
                ck_assert_int_ne(rc, 0); /* no message ever: keep-alives are not messages */
            }
            if (k == 0 && rc == VMSEC_EPEERDEAD) {
                end = now_ms();
                break;
            }
            ck_assert_msg(rc == 0 || rc == VMSEC_EAGAIN, "side %d: %d %s", k, rc, vmsec_error_last());
            if ((vmsec_channel_poll_events(ch[k]) & POLLOUT) && (rc = vmsec_channel_flush(ch[k])) != VMSEC_EAGAIN)
                ck_assert_int_eq(rc, 0);
        }
        if (end)
            break;
        if (!stop_b && now_ms() - start > 3 * DEAD_MS + 200)
            stop_b = now_ms();
        ck_assert_int_lt(now_ms() - start, 3 * DEAD_MS + 200 + DEAD_MS + SLACK_MS);
    }
    ck_assert_int_gt(stop_b, 0);
    ck_assert_int_ge(end - stop_b, DEAD_MS - KA_MS - 20);
    ck_assert_int_le(end - stop_b, DEAD_MS + SLACK_MS);
    /* woke for the timers, not in a busy loop: about one wake-up per keep-alive on each side */
    ck_assert_int_ge(wakeups, (3 * DEAD_MS) / KA_MS);
    ck_assert_int_le(wakeups, 20 * (end - start) / KA_MS + 50);
    vmsec_channel_free(ch[0]);
    vmsec_channel_free(ch[1]);
}
END_TEST

static void *send_later(void *p)
{
    call_arg *a = p;
    sleep_ms(a->rc);
    a->rc = vmsec_channel_send(a->ch, (const uint8_t *)"two", 3, 0);
    return NULL;
}

/* The application, not the peer, was busy: keep-alives waiting unread in the socket for longer
 * than the timeout are read and count, instead of the peer being declared dead. */
START_TEST(keepalives_left_unread_by_a_busy_receiver_still_count)
{
    vmsec_channel *a, *b;
    call_arg rb = {0}, sa = {0};
    pthread_t tb, ts;
    uint8_t buf[16];
    size_t len;
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(cfg_a, 0, DEAD_MS), 0); /* a only listens */
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(cfg_b, KA_MS, 0), 0);  /* b only talks */
    open_pair(&a, &b, cfg_a, cfg_b);
    rb.ch = b;
    pthread_create(&tb, NULL, do_recv, &rb); /* b's receiving thread sends its keep-alives */
    ck_assert_int_eq(vmsec_channel_send(b, (const uint8_t *)"one", 3, 0), 0);
    ck_assert_int_eq(vmsec_channel_recv(a, buf, sizeof(buf), &len), 0); /* a's timers start */
    sleep_ms(3 * DEAD_MS);
    sa.ch = b;
    sa.rc = DEAD_MS;
    pthread_create(&ts, NULL, send_later, &sa);
    ck_assert_msg(vmsec_channel_recv(a, buf, sizeof(buf), &len) == 0, "%s", vmsec_error_last());
    ck_assert_mem_eq(buf, "two", 3);
    pthread_join(ts, NULL);
    ck_assert_int_eq(sa.rc, 0);
    ck_assert_int_eq(vmsec_channel_close(a), 0);
    pthread_join(tb, NULL);
    ck_assert_int_eq(rb.rc, VMSEC_ECLOSED);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

/* Version 1, or no timer configured: nothing armed, blocking calls behave as before. */
START_TEST(no_timers_without_configuration_or_in_version_1)
{
    vmsec_channel *a, *b;
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(cfg_a, 1), 0);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(cfg_b, 1), 0);
    open_pair(&a, &b, cfg_a, cfg_b);
    ck_assert_int_eq(vmsec_channel_next_timeout_ms(a), -1);
    ck_assert_int_eq(vmsec_channel_tick(a), 0);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(cfg_a, 2), 0);
    ck_assert_int_eq(vmsec_channel_config_set_protocol_version(cfg_b, 2), 0);
    ck_assert_int_eq(vmsec_channel_config_set_keepalive(cfg_a, 0, 0), 0);
    open_pair(&a, &b, cfg_a, cfg_b);
    ck_assert_int_eq(vmsec_channel_next_timeout_ms(a), -1);
    ck_assert_int_eq(vmsec_channel_tick(a), 0);
    ck_assert_int_ge(vmsec_channel_next_timeout_ms(b), 0); /* b has its timers */
    ck_assert_int_le(vmsec_channel_next_timeout_ms(b), DEAD_MS);
    ck_assert_int_eq(vmsec_channel_next_timeout_ms(NULL), -1);
    ck_assert_int_eq(vmsec_channel_tick(NULL), VMSEC_EINVAL);
    vmsec_channel_free(a);
    vmsec_channel_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channel_live");
    TCase *tc = tcase_create("channel_live");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, idle_blocking_channel_stays_up);
    tcase_add_test(tc, stopped_peer_process_is_found_dead);
    tcase_add_test(tc, silent_peer_is_found_dead_at_the_timeout);
    tcase_add_test(tc, sender_blocked_by_a_peer_that_stopped_reading_is_told);
    tcase_add_test(tc, nonblocking_poll_loop_runs_on_the_next_timeout);
    tcase_add_test(tc, keepalives_left_unread_by_a_busy_receiver_still_count);
    tcase_add_test(tc, no_timers_without_configuration_or_in_version_1);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
