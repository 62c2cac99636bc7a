/* SPDX-License-Identifier: ISC */
/* Helpers for the relay guest programs (grelay.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grelay.h"
#include "gtap.h"
#include "gvsock.h"

static int dir_fill(const struct gr_dir *d, struct relay_ident *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", d->name);
    snprintf(out->uuid, sizeof(out->uuid), "00000000-0000-0000-0000-000000000001");
    out->cid = VMADDR_CID_LOCAL;
    out->gen = 1;
    out->tags = calloc(1, sizeof(*out->tags));
    return out->tags ? 0 : VMSEC_ENOMEM;
}

static int dir_by_cid(void *d, uint32_t cid, struct relay_ident *out)
{
    out->tags = NULL;
    return cid == VMADDR_CID_LOCAL ? dir_fill(d, out) : VMSEC_ENOTFOUND;
}

static int dir_by_name(void *d, const char *name, struct relay_ident *out)
{
    out->tags = NULL;
    return strcmp(name, ((const struct gr_dir *)d)->name) == 0 ? dir_fill(d, out) : VMSEC_ENOTFOUND;
}

static int dir_check(void *d, const struct relay_ident *id)
{
    (void)d;
    return id->cid == VMADDR_CID_LOCAL && id->gen == 1 ? 0 : VMSEC_ESTATE;
}

static void dir_free(void *d)
{
    (void)d;
}

const struct relay_dir_ops gr_fixed_dir = {
    .by_cid = dir_by_cid, .by_name = dir_by_name, .check = dir_check, .free = dir_free};

void gr_audit_init(struct gr_audit *a)
{
    pthread_mutex_init(&a->lock, NULL);
    a->len = 0;
    a->buf[0] = '\0';
}

void gr_audit_reset(struct gr_audit *a)
{
    pthread_mutex_lock(&a->lock);
    a->len = 0;
    a->buf[0] = '\0';
    pthread_mutex_unlock(&a->lock);
}

void gr_on_audit(void *user, const char *line)
{
    struct gr_audit *a = user;
    pthread_mutex_lock(&a->lock);
    size_t l = strlen(line);
    if (a->len + l + 2 < sizeof(a->buf)) {
        memcpy(a->buf + a->len, line, l);
        a->buf[a->len + l] = '\n';
        a->len += l + 1;
        a->buf[a->len] = '\0';
    }
    pthread_mutex_unlock(&a->lock);
}

static bool audit_has_all(struct gr_audit *a, const char *const *frag, size_t n)
{
    bool found = false;
    pthread_mutex_lock(&a->lock);
    for (char *line = a->buf; *line && !found;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        found = true;
        for (size_t i = 0; i < n && found; i++)
            found = strstr(line, frag[i]) != NULL;
        *nl = '\n';
        line = nl + 1;
    }
    pthread_mutex_unlock(&a->lock);
    return found;
}

#define FRAGMENTS(first, frag, n)                                                                  \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, first);                                                                       \
        for (const char *f = (first); f && (n) < 8; f = va_arg(ap, const char *))                  \
            (frag)[(n)++] = f;                                                                     \
        va_end(ap);                                                                                \
    } while (0)

bool gr_audit_has(struct gr_audit *a, const char *first, ...)
{
    const char *frag[8];
    size_t n = 0;
    FRAGMENTS(first, frag, n);
    return audit_has_all(a, frag, n);
}

bool gr_audit_wait(struct gr_audit *a, const char *first, ...)
{
    const char *frag[8];
    size_t n = 0;
    FRAGMENTS(first, frag, n);
    for (int i = 0; i < 1000; i++) {
        if (audit_has_all(a, frag, n))
            return true;
        usleep(20 * 1000);
    }
    return false;
}

vmsec_channel *gr_channel_open(int fd, bool responder, const vmsec_keypair *kp, const uint8_t peer[32],
                               int timeout_ms)
{
    vmsec_channel_config *cfg = NULL;
    vmsec_channel *ch = NULL;
    if (vmsec_channel_config_new(&cfg) < 0 || vmsec_channel_config_set_keypair(cfg, kp) < 0 ||
        vmsec_channel_config_add_trusted_peer(cfg, peer, 32) < 0 ||
        vmsec_channel_config_set_handshake_timeout(cfg, timeout_ms) < 0 ||
        vmsec_channel_new(&ch, cfg, fd, responder ? VMSEC_ROLE_RESPONDER : VMSEC_ROLE_INITIATOR,
                          VMSEC_CHANNEL_OWN_FD) < 0) {
        vmsec_channel_config_free(cfg);
        close(fd);
        return NULL;
    }
    vmsec_channel_config_free(cfg);
    if (vmsec_channel_handshake(ch) < 0) {
        gt_diag("handshake (%s): %s", responder ? "target" : "caller", vmsec_error_last());
        vmsec_channel_free(ch);
        return NULL;
    }
    return ch;
}
