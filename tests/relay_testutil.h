/* SPDX-License-Identifier: ISC */
/* Harness for relay tests over unix sockets. Identities are injected the way the kernel gives
 * them on vsock: each test client binds its socket to "c.<CID>.<DOMAIN>.<n>" in the scratch
 * directory, and the relay's identify callback reads that address with getpeername() (the
 * client cannot pick an address it did not bind). Targets listen on "t.<DOMAIN>.<PORT>". */
#ifndef VMSEC_RELAY_TESTUTIL_H
#define VMSEC_RELAY_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "testutil.h"
#include <vmsec.h>

struct rt {
    char dir[PATH_MAX];
    char sock[PATH_MAX + 32];
    vmsec_relay *relay;
    pthread_t thread;
    pthread_mutex_t lock;
    char *audit; /* all audit lines, '\n'-separated */
    size_t audit_len;
    atomic_int nclient;
};

static inline void rt_audit(void *user, const char *line)
{
    struct rt *t = user;
    pthread_mutex_lock(&t->lock);
    size_t l = strlen(line);
    t->audit = realloc(t->audit, t->audit_len + l + 2);
    memcpy(t->audit + t->audit_len, line, l);
    t->audit[t->audit_len + l] = '\n';
    t->audit_len += l + 1;
    t->audit[t->audit_len] = '\0';
    pthread_mutex_unlock(&t->lock);
}

/* Number of audit lines containing every one of the (NULL-terminated) fragments. */
static inline int rt_audit_count(struct rt *t, ...)
{
    int count = 0;
    pthread_mutex_lock(&t->lock);
    for (char *line = t->audit; line && *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        va_list ap;
        va_start(ap, t);
        bool all = true;
        for (const char *f; (f = va_arg(ap, const char *));)
            if (!strstr(line, f))
                all = false;
        va_end(ap);
        *nl = '\n';
        count += all;
        line = nl + 1;
    }
    pthread_mutex_unlock(&t->lock);
    return count;
}

/* Fills a unix socket address, failing the test if the path does not fit. */
static inline void rt_sun(struct sockaddr_un *sun, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void rt_sun(struct sockaddr_un *sun, const char *fmt, ...)
{
    va_list ap;
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    va_start(ap, fmt);
    int n = vsnprintf(sun->sun_path, sizeof(sun->sun_path), fmt, ap);
    va_end(ap);
    ck_assert(n > 0 && (size_t)n < sizeof(sun->sun_path));
}

static inline int rt_identify(void *user, int fd, uint32_t *cid, char *domain, size_t cap)
{
    (void)user;
    struct sockaddr_un sun;
    socklen_t sl = sizeof(sun);
    if (getpeername(fd, (struct sockaddr *)&sun, &sl) < 0 || sl <= offsetof(struct sockaddr_un, sun_path))
        return VMSEC_ENOTFOUND;
    const char *base = strrchr(sun.sun_path, '/');
    unsigned c;
    char name[256];
    if (!base || sscanf(base + 1, "c.%u.%255[^.].", &c, name) != 2)
        return VMSEC_ENOTFOUND;
    *cid = c;
    snprintf(domain, cap, "%s", name);
    return 0;
}

static inline int rt_connect(void *user, const char *domain, uint32_t port, int *fd)
{
    struct rt *t = user;
    struct sockaddr_un sun;
    rt_sun(&sun, "%s/t.%s.%u", t->dir, domain, port);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return VMSEC_EIO;
    if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS) {
        close(s);
        return VMSEC_ECONNREFUSED;
    }
    *fd = s;
    return 0;
}

static inline void *rt_thread(void *arg)
{
    struct rt *t = arg;
    ck_assert_int_eq(vmsec_relay_run(t->relay), 0);
    return NULL;
}

/* Starts a relay on a unix socket, its audit records collected in t->audit; with no_fd the
 * descriptor output is switched off explicitly, else left at its default. */
static inline void rt_start_with(struct rt *t, const char *policy, bool no_fd)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    vt_tmpdir(t->dir, sizeof(t->dir));
    snprintf(t->sock, sizeof(t->sock), "%s/relay.sock", t->dir);
    ck_assert_int_eq(vmsec_relay_new(&t->relay), 0);
    if (no_fd)
        ck_assert_int_eq(vmsec_relay_set_audit_fd(t->relay, -1), 0);
    ck_assert_int_eq(vmsec_relay_set_audit_callback(t->relay, rt_audit, t), 0);
    ck_assert_int_eq(vmsec_relay_set_identify(t->relay, rt_identify, t), 0);
    ck_assert_int_eq(vmsec_relay_set_connect(t->relay, rt_connect, t), 0);
    if (policy) {
        vmsec_policy *p = NULL;
        ck_assert_int_eq(vmsec_policy_load_string(&p, policy, strlen(policy), "t.conf"), 0);
        ck_assert_int_eq(vmsec_relay_set_policy(t->relay, p), 0);
    }
    ck_assert_int_eq(vmsec_relay_listen_unix(t->relay, t->sock, "host"), 0);
    ck_assert_int_eq(pthread_create(&t->thread, NULL, rt_thread, t), 0);
}

static inline void rt_start(struct rt *t, const char *policy)
{
    rt_start_with(t, policy, true);
}

static inline void rt_stop(struct rt *t)
{
    ck_assert_int_eq(vmsec_relay_interrupt(t->relay), 0);
    ck_assert_int_eq(pthread_join(t->thread, NULL), 0);
    vmsec_relay_free(t->relay);
    vt_rmtree(t->dir);
    free(t->audit);
    pthread_mutex_destroy(&t->lock);
}

/* A blocking client socket with the identity (cid, domain), connected to the relay. */
static inline int rt_client(struct rt *t, unsigned cid, const char *domain)
{
    struct sockaddr_un me, relay;
    rt_sun(&me, "%s/c.%u.%s.%d", t->dir, cid, domain, atomic_fetch_add(&t->nclient, 1));
    rt_sun(&relay, "%s", t->sock);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&me, sizeof(me)), 0);
    ck_assert_int_eq(connect(s, (struct sockaddr *)&relay, sizeof(relay)), 0);
    return s;
}

/* A listening target socket for (domain, port). */
static inline int rt_target_listen(struct rt *t, const char *domain, unsigned port)
{
    struct sockaddr_un sun;
    rt_sun(&sun, "%s/t.%s.%u", t->dir, domain, port);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(s, 16), 0);
    return s;
}

static inline void rt_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ck_assert_int_gt(n, 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Reads exactly len bytes; returns the number read before EOF. */
static inline size_t rt_read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, p + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(n, 0);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return got;
}

#endif
