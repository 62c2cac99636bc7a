/* SPDX-License-Identifier: ISC */
/* Who may send an origin header: vmsec_relay_origin_read() believes it only from a peer that
 * could be the relay (over vsock: a reserved port, tested in the guest, tests/guest/vsock_relay.c;
 * over a unix socket: root or the target's own user; never over IP). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "testutil.h"
#include <vmsec.h>

/* A well-formed header naming domain "a" (CID 5), service "echo". */
static const char header[] = "VMSR\x01\x03\x01\x04\x00\x00\x00\x05"
                             "aecho";
#define HEADER_LEN 17

static int read_origin(int fd)
{
    char dom[VMSEC_POLICY_NAME_MAX + 1], svc[VMSEC_POLICY_SERVICE_MAX + 1];
    uint32_t cid;
    return vmsec_relay_origin_read(fd, 2000, dom, sizeof(dom), &cid, svc, sizeof(svc));
}

START_TEST(header_over_tcp_is_refused)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    ck_assert(l >= 0 && c >= 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    int s = accept(l, NULL, NULL);
    ck_assert(s >= 0);
    ck_assert_int_eq(write(c, header, HEADER_LEN), HEADER_LEN);
    ck_assert_int_eq(read_origin(s), VMSEC_EPERM);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "only over vsock or a unix socket"));
    close(s);
    close(c);
    close(l);
}
END_TEST

START_TEST(header_from_our_own_user_over_unix_is_read)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(write(sv[0], header, HEADER_LEN), HEADER_LEN);
    ck_assert_int_eq(read_origin(sv[1]), 0);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(descriptor_that_is_no_socket_is_refused)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], header, HEADER_LEN), HEADER_LEN);
    ck_assert_int_eq(read_origin(p[0]), VMSEC_EINVAL);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* A process of another user reaches the target's unix socket (its mode lets everybody connect)
 * and sends a well-formed header: it is refused, whatever it claims. */
START_TEST(header_from_another_user_over_unix_is_refused)
{
    if (geteuid() != 0) {
        /* A developer's run skips, saying so; CI (VMSEC_REQUIRE_ALL=1) fails instead. */
        const char *v = getenv("VMSEC_REQUIRE_ALL");
        ck_assert_msg(!(v && *v && strcmp(v, "0") != 0), "not root: cannot run a client as another user");
        fprintf(stderr, "# skipped: a client of another user (needs root)\n");
        return;
    }
    struct passwd *nobody = getpwnam("nobody");
    ck_assert_ptr_nonnull(nobody);
    char dir[] = "/tmp/vmsec-origin-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s/target.sock", dir);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(chmod(a.sun_path, 0777), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0 ||
            connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
            _exit(1);
        /* The target may refuse (and close) before these bytes are written: not an error here. */
        (void)!send(c, header, HEADER_LEN, MSG_NOSIGNAL);
        char b;
        (void)!read(c, &b, 1); /* hold the connection until the target is done */
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    ck_assert(s >= 0);
    ck_assert_int_eq(read_origin(s), VMSEC_EPERM);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "neither root nor this process's user"));
    close(s);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(l);
    unlink(a.sun_path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("relay_origin");
    TCase *tc = tcase_create("relay_origin");
    tcase_add_test(tc, header_over_tcp_is_refused);
    tcase_add_test(tc, header_from_our_own_user_over_unix_is_read);
    tcase_add_test(tc, descriptor_that_is_no_socket_is_refused);
    tcase_add_test(tc, header_from_another_user_over_unix_is_refused);
    suite_add_tcase(s, tc);
    return vt_run_suite(s);
}
