/* SPDX-License-Identifier: ISC */
/* Talking to libvirt: error handling on the connections vmsec opens, and whether a connection
 * reaches this host (which decides if /proc and /sys describe the domain's host). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "isolation/virt.h"

int vmsec__libvirt_error(int code, const char *fmt, ...)
{
    char what[768];
    const char *m = virGetLastErrorMessage();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return vmsec__error(code, "%s: %s", what, m && *m ? m : "unknown libvirt error");
}

void vmsec__libvirt_quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

bool vmsec__conn_takes_no_flags(virConnectPtr conn)
{
    const char *type = conn ? virConnectGetType(conn) : NULL;
    return type && strcasecmp(type, "test") == 0;
}

bool vmsec__conn_is_local(virConnectPtr conn, char *why, size_t whylen)
{
    const char *type = virConnectGetType(conn);
    char *uri = virConnectGetURI(conn);
    bool local = true;

    if (type && strcasecmp(type, "test") == 0) {
        snprintf(why, whylen, "test driver");
        free(uri);
        return false;
    }
    if (uri) {
        const char *p = strstr(uri, "://");
        if (p) {
            char host[256];
            size_t l;
            p += 3;
            if (strchr(p, '@') && strchr(p, '@') < strchr(p, '/'))
                p = strchr(p, '@') + 1;
            l = strcspn(p, ":/?");
            if (l >= sizeof(host))
                l = sizeof(host) - 1;
            memcpy(host, p, l);
            host[l] = '\0';
            local = !*host || strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                    strcmp(host, "[::1]") == 0;
        }
        free(uri);
    }
    if (!local)
        snprintf(why, whylen, "remote host");
    return local;
}
