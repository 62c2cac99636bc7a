/* SPDX-License-Identifier: ISC */
/* Transports: address parsing, connect/listen/accept over unix and TCP, and every error path that
 * this host can reach (vsock is only parsed and probed here; real vsock runs in a guest test). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vmsec.h>

#include "testutil.h"

START_TEST(good_addresses_parse)
{
    const char *good[] = {"vsock:2:1234",      "vsock:host:1",      "vsock:local:5",  "vsock:any:any",
                          "vsock:4294967294:4294967294",            "unix:/run/x.sock", "unix:rel/path",
                          "unix:@abstract",    "tcp:127.0.0.1:0",   "tcp:localhost:65535", "tcp:[::1]:7000",
                          "tcp:example.org:443"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(vmsec_address_validate(good[i]) == 0, "%s: %s", good[i], vmsec_error_last());
    ck_assert_uint_eq(vmsec_address_max(), VMSEC_ADDRESS_MAX);
}
END_TEST

START_TEST(bad_addresses_are_refused_with_a_reason)
{
    struct {
        const char *addr;
        int code;
        const char *why;
    } bad[] = {
        {"", VMSEC_EFORMAT, "expected vsock"},
        {"udp:1.2.3.4:5", VMSEC_EFORMAT, "expected vsock"},
        {"vsock:", VMSEC_EFORMAT, "vsock:CID:PORT"},
        {"vsock:2", VMSEC_EFORMAT, "vsock:CID:PORT"},
        {"vsock:x:1", VMSEC_EFORMAT, "CID 'x'"},
        {"vsock:4294967295:1", VMSEC_EFORMAT, "CID"},
        {"vsock:-1:1", VMSEC_EFORMAT, "CID"},
        {"vsock:2:", VMSEC_EFORMAT, "port ''"},
        {"vsock:2:12a", VMSEC_EFORMAT, "port '12a'"},
        {"vsock:2:99999999999", VMSEC_EFORMAT, "port"},
        {"unix:", VMSEC_EFORMAT, "empty unix socket path"},
        {"unix:@", VMSEC_EFORMAT, "empty unix socket path"},
        {"tcp:", VMSEC_EFORMAT, "tcp:HOST:PORT"},
        {"tcp:host", VMSEC_EFORMAT, "tcp:HOST:PORT"},
        {"tcp::80", VMSEC_EFORMAT, "host is empty"},
        {"tcp:host:65536", VMSEC_EFORMAT, "port '65536'"},
        {"tcp:host:", VMSEC_EFORMAT, "port ''"},
        {"tcp:::1:80", VMSEC_EFORMAT, "brackets"},
        {"tcp:[::1:80", VMSEC_EFORMAT, "[IPV6]"},
        {"tcp:[::1]80", VMSEC_EFORMAT, "[IPV6]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = vmsec_address_validate(bad[i].addr);
        ck_assert_msg(rc == bad[i].code, "'%s' gave %d", bad[i].addr, rc);
        ck_assert_msg(strstr(vmsec_error_last(), bad[i].why) != NULL, "'%s': %s", bad[i].addr, vmsec_error_last());
    }
    ck_assert_int_eq(vmsec_address_validate(NULL), VMSEC_EINVAL);
}
END_TEST

START_TEST(unix_path_too_long)
{
    char addr[300] = "unix:/";
    vmsec_listener *l = (vmsec_listener *)1;
    int fd;
    memset(addr + 6, 'a', 107);
    addr[6 + 106] = 0; /* path of 107 bytes: the longest that fits */
    ck_assert_int_eq(vmsec_address_validate(addr), 0);
    memset(addr + 6, 'a', 200);
    addr[6 + 107] = 0; /* path of 108 bytes */
    ck_assert_int_eq(vmsec_address_validate(addr), VMSEC_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "exceeds the limit of 107"));
    ck_assert_int_eq(vmsec_listener_new(&l, addr), VMSEC_ETOOBIG);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(vmsec_transport_connect(addr, 1000, &fd), VMSEC_ETOOBIG);
    ck_assert_int_eq(fd, -1);
}
END_TEST

START_TEST(no_listener_is_refused_fast)
{
    vmsec_listener *l;
    char addr[VMSEC_ADDRESS_MAX], dir[64], path[128];
    int fd;
    /* a TCP port that was just free: bind, learn the port, close */
    ck_assert_int_eq(vmsec_listener_new(&l, "tcp:127.0.0.1:0"), 0);
    ck_assert_int_eq(vmsec_listener_address(l, addr, sizeof(addr)), 0);
    vmsec_listener_free(l);
    ck_assert_int_eq(vmsec_transport_connect(addr, 0, &fd), VMSEC_ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "nobody listens"));
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), addr));
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "unix:%s/none", dir);
    ck_assert_int_eq(vmsec_transport_connect(path, 0, &fd), VMSEC_ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "nobody listens"));
    /* a socket file whose listener is gone */
    snprintf(path, sizeof(path), "unix:%s/stale", dir);
    ck_assert_int_eq(vmsec_listener_new(&l, path), 0);
    close(vmsec_listener_fd(l));
    ck_assert_int_eq(vmsec_transport_connect(path, 0, &fd), VMSEC_ECONNREFUSED);
    vmsec_listener_free(l);
    vt_rmtree(dir);
}
END_TEST

START_TEST(address_in_use)
{
    vmsec_listener *a, *b = (vmsec_listener *)1;
    char addr[VMSEC_ADDRESS_MAX], dir[64], path[128];
    struct stat st;
    ck_assert_int_eq(vmsec_listener_new(&a, "tcp:127.0.0.1:0"), 0);
    ck_assert_int_eq(vmsec_listener_address(a, addr, sizeof(addr)), 0);
    ck_assert_int_eq(vmsec_listener_new(&b, addr), VMSEC_EADDRINUSE);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "already in use"));
    vmsec_listener_free(a);
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "unix:%s/s", dir);
    ck_assert_int_eq(vmsec_listener_new(&a, path), 0);
    ck_assert_int_eq(stat(path + 5, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(vmsec_listener_new(&b, path), VMSEC_EADDRINUSE);
    vmsec_listener_free(a);
    ck_assert_int_ne(stat(path + 5, &st), 0); /* removed by its listener */
    /* a regular file in the way is never removed */
    vt_write_file(path + 5, "x", 1, 0600);
    ck_assert_int_eq(vmsec_listener_new(&b, path), VMSEC_EADDRINUSE);
    ck_assert_int_eq(stat(path + 5, &st), 0);
    vt_rmtree(dir);
}
END_TEST

START_TEST(unix_and_abstract_accept_report_peers)
{
    char dir[64], path[128], abs_addr[64], peer[VMSEC_ADDRESS_MAX], bound[VMSEC_ADDRESS_MAX];
    const char *addrs[2];
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "unix:%s/s", dir);
    snprintf(abs_addr, sizeof(abs_addr), "unix:@vmsec-test-%d", (int)getpid());
    addrs[0] = path;
    addrs[1] = abs_addr;
    for (int k = 0; k < 2; k++) {
        vmsec_listener *l;
        int c, s;
        uint32_t cid = 0;
        ck_assert_int_eq(vmsec_listener_new(&l, addrs[k]), 0);
        ck_assert_int_eq(vmsec_listener_address(l, bound, sizeof(bound)), 0);
        ck_assert_str_eq(bound, addrs[k]);
        ck_assert_int_eq(vmsec_transport_connect(addrs[k], 1000, &c), 0);
        ck_assert_int_eq(vmsec_listener_accept(l, &s, peer, sizeof(peer), &cid), 0);
        ck_assert_str_eq(peer, "unix:");
        ck_assert_uint_eq(cid, UINT32_MAX);
        ck_assert_int_eq(write(c, "z", 1), 1);
        ck_assert_int_eq(read(s, peer, 1), 1);
        ck_assert_int_eq(peer[0], 'z');
        close(c);
        close(s);
        vmsec_listener_free(l);
    }
    vt_rmtree(dir);
}
END_TEST

START_TEST(nonblocking_accept_and_listener_errors)
{
    vmsec_listener *l;
    int fd;
    ck_assert_int_eq(vmsec_listener_new(&l, "tcp:127.0.0.1:0"), 0);
    ck_assert_int_ge(vmsec_listener_fd(l), 0);
    ck_assert_int_eq(fcntl(vmsec_listener_fd(l), F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(vmsec_listener_accept(l, &fd, NULL, 0, NULL), VMSEC_EAGAIN);
    ck_assert_int_eq(vmsec_listener_set_cid_filter(l, NULL, 1), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_listener_set_cid_filter(l, (const uint32_t[]){3, 4}, 2), 0);
    ck_assert_int_eq(vmsec_listener_set_cid_filter(l, NULL, 0), 0);
    vmsec_listener_free(l);
    vmsec_listener_free(NULL);
    ck_assert_int_eq(vmsec_listener_fd(NULL), -1);
    ck_assert_int_eq(vmsec_listener_new(&l, "tcp:no-such-host.invalid:1"), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec_transport_connect("tcp:127.0.0.1:0", 0, &fd), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_transport_connect("vsock:any:5", 0, &fd), VMSEC_EFORMAT);
    ck_assert_int_eq(vmsec_transport_connect("vsock:2:any", 0, &fd), VMSEC_EFORMAT);
}
END_TEST

static void *accept_one_later(void *p)
{
    int lfd = *(int *)p, fd;
    poll(NULL, 0, 50);
    if ((fd = accept(lfd, NULL, NULL)) >= 0)
        close(fd);
    return NULL;
}

/* A unix listener whose backlog is full refuses a non-blocking connect with EAGAIN, with nothing in
 * progress: the connect is tried again until the deadline, and succeeds once the listener accepts. */
START_TEST(a_full_unix_backlog_is_waited_out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char dir[96], addr[VMSEC_ADDRESS_MAX];
    int lfd, queued, fd = -1;
    pthread_t t;
    vt_tmpdir(dir, sizeof(dir));
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/full", dir);
    snprintf(addr, sizeof(addr), "unix:%s", sa.sun_path);
    ck_assert_int_ge(lfd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 0), 0);
    /* fill the backlog: the next non-blocking connect is refused with EAGAIN */
    ck_assert_int_ge(queued = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0), 0);
    ck_assert_int_eq(connect(queued, (struct sockaddr *)&sa, sizeof(sa)), 0);
    {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ck_assert_int_eq(connect(probe, (struct sockaddr *)&sa, sizeof(sa)), -1);
        ck_assert_int_eq(errno, EAGAIN);
        close(probe);
    }
    ck_assert_int_eq(vmsec_transport_connect(addr, 30, &fd), VMSEC_ETIMEDOUT);
    ck_assert_int_eq(fd, -1);
    pthread_create(&t, NULL, accept_one_later, &lfd);
    ck_assert_msg(vmsec_transport_connect(addr, 30000, &fd) == 0, "%s", vmsec_error_last());
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    pthread_join(t, NULL);
    close(fd);
    close(queued);
    close(lfd);
    vt_rmtree(dir);
}
END_TEST

/* Without a vsock transport in this kernel both directions fail with a clear, specific error;
 * with one (in a guest) connecting to a CID nobody serves must still fail, never hang. */
START_TEST(vsock_errors_are_clear)
{
    vmsec_listener *l = NULL;
    int fd = -1, rc;
    rc = vmsec_transport_connect("vsock:2:9", 2000, &fd);
    ck_assert_msg(rc < 0, "connected to vsock:2:9");
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "vsock:2:9"));
    ck_assert_int_eq(fd, -1);
    rc = vmsec_listener_new(&l, "vsock:any:any");
    if (rc == 0) {
        char bound[VMSEC_ADDRESS_MAX];
        ck_assert_int_eq(vmsec_listener_address(l, bound, sizeof(bound)), 0);
        ck_assert_int_eq(strncmp(bound, "vsock:", 6), 0);
        vmsec_listener_free(l);
    } else {
        ck_assert_int_eq(rc, VMSEC_EUNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "no vsock transport"));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("transport");
    tcase_add_test(tc, good_addresses_parse);
    tcase_add_test(tc, bad_addresses_are_refused_with_a_reason);
    tcase_add_test(tc, unix_path_too_long);
    tcase_add_test(tc, no_listener_is_refused_fast);
    tcase_add_test(tc, address_in_use);
    tcase_add_test(tc, unix_and_abstract_accept_report_peers);
    tcase_add_test(tc, nonblocking_accept_and_listener_errors);
    tcase_add_test(tc, vsock_errors_are_clear);
    tcase_add_test(tc, a_full_unix_backlog_is_waited_out);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
