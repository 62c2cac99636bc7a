/* SPDX-License-Identifier: ISC */
/* The control socket: a unix stream socket, mode 0600. A client sends one request line and is
 * answered with one JSON document (and a newline), then the connection is closed. The clients
 * are `vmsecd --status` and the libvirt hook (hook.c). */
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
#include "common/json.h"
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

/* A request is one JSON object on one line: {"op":"status"} or {"op":"replan","xml":...} (the
 * libvirt hook's; see replan.c). A client that sends nothing within REQUEST_WAIT_MS, or closes its
 * side at once, is sent the state, as the first version of the socket did for every client. */
#define REQUEST_MAX (16u << 20)
#define REQUEST_WAIT_MS 1000
#define REQUEST_DEADLINE_MS 10000

typedef struct client {
    vmsecd *d;
    int fd, watch, timer;
    char *buf;
    size_t len, cap;
} client;

static void finish(client *c)
{
    virEventRemoveHandle(c->watch);
    virEventRemoveTimeout(c->timer);
    close(c->fd);
    free(c->buf);
    free(c);
}

static void send_line(int fd, char *text)
{
    struct timeval tv = {.tv_sec = 2};
    size_t len = text ? strlen(text) : 0, off = 0;
    /* A client that does not read must not stall the daemon's loop for long. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    while (off < len) {
        ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (text)
        send(fd, "\n", 1, MSG_NOSIGNAL);
    free(text);
}

static char *error_doc(const char *why)
{
    json_t *o = json_object();
    vmsec__json_set(o, "ok", json_false());
    vmsec__json_set(o, "error", vmsec__json_str(why));
    char *text = vmsec__json_dump(o);
    json_decref(o);
    return text;
}

static char *answer(vmsecd *d, const char *req, size_t len)
{
    json_error_t err;
    json_t *o = len ? json_loadb(req, len, JSON_REJECT_DUPLICATES, &err) : NULL, *r;
    const char *op = json_string_value(json_object_get(o, "op"));
    char *text;
    if (!len || (op && strcmp(op, "status") == 0))
        text = vmsecd_state_json(d);
    else if (op && strcmp(op, "replan") == 0) {
        r = vmsecd_replan(d, json_string_value(json_object_get(o, "xml")), json_string_value(json_object_get(o, "uri")));
        text = vmsec__json_dump(r);
        json_decref(r);
    } else
        text = error_doc(!o ? "the request is not a JSON object" : op ? "unknown op" : "the request has no \"op\"");
    json_decref(o);
    return text;
}

static void serve(client *c)
{
    send_line(c->fd, answer(c->d, c->buf, c->len));
    finish(c);
}

static void on_readable(int watch, int fd, int events, void *opaque)
{
    client *c = opaque;
    (void)watch;
    (void)events;
    for (;;) {
        if (c->cap - c->len < 4096) {
            char *grown = c->len + 65536 > REQUEST_MAX ? NULL : realloc(c->buf, c->cap + 65536);
            if (!grown) {
                send_line(fd, error_doc("the request is too long"));
                finish(c);
                return;
            }
            c->buf = grown;
            c->cap += 65536;
        }
        ssize_t n = read(fd, c->buf + c->len, c->cap - c->len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) { /* end of the request (or a broken client: it gets what came) */
            serve(c);
            return;
        }
        if (c->len == 0)
            virEventUpdateTimeout(c->timer, REQUEST_DEADLINE_MS);
        c->len += (size_t)n;
        if (memchr(c->buf + c->len - (size_t)n, '\n', (size_t)n)) {
            serve(c);
            return;
        }
    }
}

static void on_wait_over(int timer, void *opaque)
{
    client *c = opaque;
    (void)timer;
    if (c->len == 0)
        serve(c); /* a reader of the first protocol: the state */
    else
        finish(c); /* half a request after the deadline: dropped */
}

static void on_accept(int watch, int fd, int events, void *opaque)
{
    client *c = calloc(1, sizeof(*c));
    (void)watch;
    (void)events;
    if (!c)
        return;
    c->d = opaque;
    c->watch = c->timer = -1;
    c->fd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c->fd < 0) {
        free(c);
        return;
    }
    c->watch = virEventAddHandle(c->fd, VIR_EVENT_HANDLE_READABLE, on_readable, c, NULL);
    c->timer = virEventAddTimeout(REQUEST_WAIT_MS, on_wait_over, c, NULL);
    if (c->watch < 0 || c->timer < 0)
        finish(c);
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
    static const char req[] = "{\"op\":\"status\"}\n";
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
        cli_error(&vmsecd_cli, VMSEC_EIO, "cannot send to vmsecd at %s: %m", path);
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
