/* SPDX-License-Identifier: ISC */
/* vmsec-relayd's status socket: the running relay answers each connection with one JSON document
 * (vmsec_relay_snapshot_json) and closes it; `vmsec-relayd --status` is the client, printing a
 * table or, with --json, the document itself. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <vmsec.h>

#include "vmsec-relayd-status.h"

static int unix_addr(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun->sun_path, path, strlen(path) + 1);
    return 0;
}

int relayd_status_listen(const char *path)
{
    struct sockaddr_un sun;
    struct stat st;
    if (unix_addr(&sun, path) < 0)
        return -1;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* a stale socket from a previous run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* The status names every domain talking through the relay: the relay's user (and root) only.
     * chmod() between bind() and listen() so nobody can connect while the mode is the umask's. */
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

void relayd_status_serve(vmsec_relay *r, int lfd)
{
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return; /* EAGAIN: all served */
        char *doc = NULL;
        if (vmsec_relay_snapshot_json(r, &doc) == 0) {
            /* One non-blocking send, so a client that does not read cannot stall the relay; the
             * buffer is grown to hold the whole document (root may exceed the system's limit). */
            size_t len = strlen(doc);
            int want = (int)(len + 4096);
            if (setsockopt(c, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0)
                (void)setsockopt(c, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
            doc[len] = '\n'; /* replaces the terminator: the document is sent as one line */
            (void)!send(c, doc, len + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            vmsec_relay_snapshot_free(doc);
        }
        close(c);
    }
}

/* Reads the whole answer (the server closes after it), within a few seconds. */
static char *fetch(const char *path)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || unix_addr(&sun, path) < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "vmsec-relayd: cannot reach the status socket %s: %s%s\n", path, strerror(e),
                e == ENOENT || e == ECONNREFUSED ? " (is vmsec-relayd running with --status-socket?)" : "");
        return NULL;
    }
    size_t len = 0, cap = 65536;
    char *buf = malloc(cap);
    for (ssize_t n = 1; buf && n > 0;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) {
            fprintf(stderr, "vmsec-relayd: no answer on %s within 5 s\n", path);
            free(buf);
            buf = NULL;
            break;
        }
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n > 0)
            len += (size_t)n;
    }
    close(fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "?";
}

/* Federation: one line per linked relay (none without --peers). */
static void print_links(const json_t *ls)
{
    if (json_array_size(ls) == 0)
        return;
    printf("\n%-20s  %-10s  %5s  %8s  %12s  %12s  %s\n", "PEER", "LINK", "OPEN", "SESSIONS", "TO PEER", "FROM PEER",
           "LAST ERROR");
    size_t i;
    const json_t *l;
    json_array_foreach(ls, i, l)
    {
        const char *err = json_string_value(json_object_get(l, "last_error"));
        printf("%-20.20s  %-10s  %5lld  %8lld  %12lld  %12lld  %s\n", str(l, "peer"), str(l, "state"),
               (long long)num(l, "links"), (long long)num(l, "sessions"), (long long)num(l, "bytes_to_peer"),
               (long long)num(l, "bytes_from_peer"), err ? err : "-");
    }
}

static void print_table(const json_t *d)
{
    const json_t *pol = json_object_get(d, "policy");
    printf("policy:   %s\n", json_object_get(pol, "name")
                                 ? str(pol, "name")
                                 : "none loaded: every request is denied");
    if (json_object_get(pol, "rules"))
        printf("rules:    %lld\n", (long long)num(pol, "rules"));
    printf("sessions: %lld forwarding, %lld pending\n", (long long)num(d, "sessions_forwarding"),
           (long long)num(d, "sessions_pending"));
    printf("totals:   %lld accepted, %lld denied, %lld refused, %lld bytes forwarded\n", (long long)num(d, "accepted"),
           (long long)num(d, "denied"), (long long)num(d, "refused"), (long long)num(d, "bytes"));
    const json_t *ss = json_object_get(d, "sessions");
    if (json_array_size(ss) == 0)
        return;
    printf("\n%8s  %-10s  %-20s  %-20s  %-12s  %12s  %12s  %8s\n", "SESSION", "STATE", "SOURCE", "TARGET", "SERVICE",
           "TO TARGET", "TO SOURCE", "AGE S");
    size_t i;
    const json_t *s;
    json_array_foreach(ss, i, s)
    {
        printf("%8lld  %-10s  %-20.20s  %-20.20s  %-12.12s  %12lld  %12lld  %8.1f\n", (long long)num(s, "session"),
               str(s, "state"), str(s, "source"), str(s, "target"), str(s, "service"),
               (long long)num(s, "bytes_to_target"), (long long)num(s, "bytes_to_source"),
               (double)num(s, "age_ms") / 1000.0);
    }
    if (num(d, "sessions_not_listed"))
        printf("(%lld more sessions not listed)\n", (long long)num(d, "sessions_not_listed"));
}

int relayd_status_client(const char *path, bool json)
{
    char *text = fetch(path);
    if (!text)
        return 1;
    json_error_t err;
    json_t *d = json_loads(text, 0, &err);
    if (!d || !json_is_object(d)) {
        fprintf(stderr, "vmsec-relayd: the status socket %s answered something that is not a status document\n",
                path);
        json_decref(d);
        free(text);
        return 1;
    }
    if (json)
        fputs(text, stdout);
    else {
        print_table(d);
        print_links(json_object_get(d, "links"));
    }
    json_decref(d);
    free(text);
    return 0;
}
