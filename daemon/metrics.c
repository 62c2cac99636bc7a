/* SPDX-License-Identifier: ISC */
/* Prometheus metrics over HTTP, served by libmicrohttpd in its own thread. That thread never looks
 * at the daemon's state: the event loop publishes a rendered text after every change, and the
 * server sends the latest one. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/cli.h"
#include "vmsecd.h"

extern cli vmsecd_cli;

static struct MHD_Daemon *server;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *published;

void vmsecd_metrics_publish(char *text)
{
    pthread_mutex_lock(&lock);
    free(published);
    published = text;
    pthread_mutex_unlock(&lock);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    struct MHD_Response *r;
    enum MHD_Result rc;
    unsigned int code = MHD_HTTP_OK;
    (void)cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return MHD_NO;
    pthread_mutex_lock(&lock);
    if (strcmp(url, "/metrics") == 0 || strcmp(url, "/") == 0) {
        const char *t = published ? published : "";
        char *copy = strdup(t); /* MHD frees it once sent */
        r = copy ? MHD_create_response_from_buffer(strlen(copy), copy, MHD_RESPMEM_MUST_FREE) : NULL;
    } else {
        code = MHD_HTTP_NOT_FOUND;
        static char not_found[] = "not found\n";
        r = MHD_create_response_from_buffer(sizeof(not_found) - 1, not_found, MHD_RESPMEM_PERSISTENT);
    }
    pthread_mutex_unlock(&lock);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

/* ADDR:PORT with an IPv4 address; [ADDR]:PORT or ADDR:PORT with an IPv6 one. */
int vmsecd_metrics_start(const char *addr_port)
{
    struct sockaddr_storage ss = {0};
    char host[128];
    const char *colon = strrchr(addr_port, ':');
    size_t n = (size_t)(colon - addr_port);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);

    if (*addr_port == '[' && n >= 2 && addr_port[n - 1] == ']')
        addr_port++, n -= 2;
    if (n >= sizeof(host) || !colon[1] || *end || port > 65535)
        return cli_error(&vmsecd_cli, VMSEC_EINVAL, "--metrics: not ADDR:PORT: %s", addr_port);
    memcpy(host, addr_port, n);
    host[n] = '\0';
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        return cli_error(&vmsecd_cli, VMSEC_EINVAL, "--metrics: not an IP address: %s", host);
    }
    server = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &ss,
                              MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!server)
        return cli_error(&vmsecd_cli, VMSEC_EIO, "--metrics: cannot listen on %s:%lu", host, port);
    return 0;
}

void vmsecd_metrics_stop(void)
{
    if (server)
        MHD_stop_daemon(server);
    server = NULL;
    vmsecd_metrics_publish(NULL);
}
