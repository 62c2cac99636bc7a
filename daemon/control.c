/* SPDX-License-Identifier: ISC */
/* The control socket: a unix stream socket, mode 0600, on which every client is sent the state as
 * one JSON document (and a newline), then the connection is closed. The client side of it is
 * `vmsecd --status`. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cli.h"
#include "vmsecd.h"

extern cli vmsecd_cli;

static int listen_fd = -1, watch_id = -1;
static char listen_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static int address(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return cli_error(&vmsecd_cli, VMSEC_EINVAL, "control socket path too long: %s", path);
    memcpy(sa->sun_path, path, strlen(path));
    return 0;
}

static void on_accept(int watch, int fd, int events, void *opaque)
{
    vmsecd *d = opaque;
    struct timeval tv = {.tv_sec = 2};
    (void)watch;
    (void)events;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    /* A client that does not read must not stall the daemon's loop for long. */
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char *doc = vmsecd_state_json(d);
    if (doc) {
        size_t len = strlen(doc), off = 0;
        while (off < len) {
            ssize_t n = send(c, doc + off, len - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        send(c, "\n", 1, MSG_NOSIGNAL);
        free(doc);
    }
    close(c);
}

int vmsecd_control_listen(vmsecd *d, const char *path)
{
    struct sockaddr_un sa;
    if (address(path, &sa) < 0)
        return -1;
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd < 0)
        return cli_error(&vmsecd_cli, VMSEC_EIO, "control socket: %m");
    unlink(path); /* a socket left by a daemon that did not stop cleanly */
    /* The umask makes the socket 0600 from birth: no window in which others may connect. */
    mode_t old = umask(0177);
    int rc = bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(listen_fd, 16) < 0)
        return cli_error(&vmsecd_cli, VMSEC_EIO, "control socket %s: %m", path);
    snprintf(listen_path, sizeof(listen_path), "%s", path);
    watch_id = virEventAddHandle(listen_fd, VIR_EVENT_HANDLE_READABLE, on_accept, d, NULL);
    return watch_id < 0 ? cli_error(&vmsecd_cli, VMSEC_EIO, "control socket: cannot watch it") : 0;
}

void vmsecd_control_close(void)
{
    if (watch_id >= 0)
        virEventRemoveHandle(watch_id);
    if (listen_fd >= 0) {
        close(listen_fd);
        unlink(listen_path);
    }
    watch_id = listen_fd = -1;
}

static char *fetch(const char *path)
{
    struct sockaddr_un sa;
    size_t len = 0, cap = 4096;
    char *s = malloc(cap);
    int fd = -1;
    if (!s || address(path, &sa) < 0)
        goto fail;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        cli_error(&vmsecd_cli, VMSEC_EIO, "cannot reach vmsecd at %s: %m", path);
        goto fail;
    }
    for (ssize_t n; (n = read(fd, s + len, cap - len - 1)) > 0;) {
        len += (size_t)n;
        if (len + 1 == cap) {
            char *grown = realloc(s, cap *= 2);
            if (!grown)
                goto fail;
            s = grown;
        }
    }
    s[len] = '\0';
    close(fd);
    return s;
fail:
    if (fd >= 0)
        close(fd);
    free(s);
    return NULL;
}

static void print_table(json_t *doc)
{
    size_t i, j;
    json_t *u, *e;
    printf("%-40s %-9s %s\n", "URI", "STATE", "DOMAINS");
    json_array_foreach(json_object_get(doc, "uris"), i, u)
        printf("%-40s %-9s %zu\n", json_string_value(json_object_get(u, "uri")),
               json_is_true(json_object_get(u, "connected")) ? "connected" : "down",
               json_array_size(json_object_get(u, "domains")));
    printf("\n%-24s %-16s %-9s %-7s %s\n", "DOMAIN", "PROFILE", "STATUS", "REPAIRS", "DRIFTED");
    json_array_foreach(json_object_get(doc, "uris"), i, u) {
        json_array_foreach(json_object_get(u, "domains"), j, e) {
            json_t *drifted = json_object_get(e, "drifted"), *s;
            size_t k;
            printf("%-24s %-16s %-9s %-7lld ", json_string_value(json_object_get(e, "name")),
                   json_string_value(json_object_get(e, "profile")) ? json_string_value(json_object_get(e, "profile")) : "-",
                   json_string_value(json_object_get(e, "status")),
                   (long long)json_integer_value(json_object_get(e, "repairs")));
            json_array_foreach(drifted, k, s)
                printf("%s%s", k ? "," : "", json_string_value(s));
            printf("%s\n", json_array_size(drifted) ? "" : "-");
        }
    }
}

int vmsecd_status_client(const char *path, bool json)
{
    char *text = fetch(path);
    json_error_t err;
    if (!text)
        return CLI_EXIT_FAILURE;
    json_t *doc = json_loads(text, 0, &err);
    if (!doc) {
        free(text);
        return cli_error(&vmsecd_cli, VMSEC_EFORMAT, "vmsecd at %s sent no JSON document: %s", path, err.text);
    }
    if (json)
        fputs(text, stdout);
    else
        print_table(doc);
    json_decref(doc);
    free(text);
    return 0;
}
