/* SPDX-License-Identifier: ISC */
/* Relay wire format (doc/RELAY.md) and the blocking helpers callers and targets run on a
 * connected descriptor before a vmsec channel takes it over. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/fileperm.h"
#include "common/internal.h"
#include "relay/policy_internal.h"
#include "relay/relay_internal.h"
#include "vmsec/keys.h"
#include "vmsec/relay.h"

unsigned int vmsec_relay_protocol_version(void) { return VMSEC_RELAY_PROTOCOL_VERSION; }
uint32_t vmsec_relay_default_port(void) { return VMSEC_RELAY_DEFAULT_PORT; }

static void put_header(uint8_t *out, uint8_t type)
{
    memcpy(out, RELAY_MAGIC, 4);
    out[4] = VMSEC_RELAY_PROTOCOL_VERSION;
    out[5] = type;
}

static bool valid_bytes(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!vmsec__policy_name_char(s[i]))
            return false;
    return n > 0;
}

/* A target or source name: a local name, or HOST/DOMAIN (doc/RELAY.md, "Federation"). */
static bool valid_target_bytes(const uint8_t *s, size_t n)
{
    char name[VMSEC_POLICY_NAME_MAX + 1];
    if (n == 0 || n > VMSEC_POLICY_NAME_MAX || memchr(s, '\0', n))
        return false;
    memcpy(name, s, n);
    name[n] = '\0';
    return vmsec__policy_valid_target(name, VMSEC_POLICY_NAME_MAX);
}

enum relay_parse vmsec__relay_parse_request(const uint8_t *buf, size_t len, size_t *need,
                                            char target[VMSEC_POLICY_NAME_MAX + 1],
                                            char service[VMSEC_POLICY_SERVICE_MAX + 1])
{
    *need = RELAY_REQ_FIXED;
    /* Reject a wrong magic as soon as its first bytes arrive. */
    if (memcmp(buf, RELAY_MAGIC, len < 4 ? len : 4) != 0)
        return RELAY_PARSE_BAD;
    if (len < RELAY_REQ_FIXED)
        return RELAY_PARSE_NEED_MORE;
    size_t tlen = buf[6], slen = buf[7];
    if (buf[4] != VMSEC_RELAY_PROTOCOL_VERSION || buf[5] != RELAY_TYPE_REQUEST || tlen == 0 || slen == 0 ||
        slen > VMSEC_POLICY_SERVICE_MAX)
        return RELAY_PARSE_BAD;
    *need = RELAY_REQ_FIXED + tlen + slen;
    if (len < *need)
        return RELAY_PARSE_NEED_MORE;
    const uint8_t *t = buf + RELAY_REQ_FIXED, *s = t + tlen;
    if (!valid_target_bytes(t, tlen) || !valid_bytes(s, slen))
        return RELAY_PARSE_BAD;
    memcpy(target, t, tlen);
    target[tlen] = '\0';
    memcpy(service, s, slen);
    service[slen] = '\0';
    return RELAY_PARSE_OK;
}

size_t vmsec__relay_encode_request(uint8_t *out, const char *target, const char *service)
{
    size_t tlen = strlen(target), slen = strlen(service);
    put_header(out, RELAY_TYPE_REQUEST);
    out[6] = (uint8_t)tlen;
    out[7] = (uint8_t)slen;
    memcpy(out + RELAY_REQ_FIXED, target, tlen);
    memcpy(out + RELAY_REQ_FIXED + tlen, service, slen);
    return RELAY_REQ_FIXED + tlen + slen;
}

void vmsec__relay_encode_reply(uint8_t out[RELAY_REPLY_LEN], int status)
{
    put_header(out, RELAY_TYPE_REPLY);
    out[6] = (uint8_t)status;
    out[7] = 0;
}

size_t vmsec__relay_encode_origin(uint8_t *out, const char *source, uint32_t cid, const char *service)
{
    size_t dlen = strlen(source), slen = strlen(service);
    put_header(out, RELAY_TYPE_ORIGIN);
    out[6] = (uint8_t)dlen;
    out[7] = (uint8_t)slen;
    out[8] = (uint8_t)(cid >> 24);
    out[9] = (uint8_t)(cid >> 16);
    out[10] = (uint8_t)(cid >> 8);
    out[11] = (uint8_t)cid;
    memcpy(out + RELAY_ORIGIN_FIXED, source, dlen);
    memcpy(out + RELAY_ORIGIN_FIXED + dlen, service, slen);
    return RELAY_ORIGIN_FIXED + dlen + slen;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to become ready for events before the deadline. */
static int wait_fd(int fd, short events, int64_t deadline, const char *what)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return vmsec__error(VMSEC_ETIMEDOUT, "relay: timed out waiting for the %s", what);
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vmsec__error_errno(VMSEC_EIO, errno, "relay: poll");
        if (n > 0)
            return 0;
    }
}

static int write_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, deadline, "relay to accept the request");
            if (rc < 0)
                return rc;
        } else {
            return vmsec__error_errno(VMSEC_EIO, errno, "relay: send");
        }
    }
    return 0;
}

/* Reads exactly len bytes, never more, so what follows stays in the socket for the channel. */
static int read_exact(int fd, uint8_t *buf, size_t len, int64_t deadline, const char *what)
{
    while (len) {
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT); /* the deadline holds on blocking sockets too */
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n == 0) {
            return vmsec__error(VMSEC_ECLOSED, "relay: connection closed before the %s was complete", what);
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(fd, POLLIN, deadline, what);
            if (rc < 0)
                return rc;
        } else {
            return vmsec__error_errno(VMSEC_EIO, errno, "relay: recv");
        }
    }
    return 0;
}

int vmsec_relay_request(int fd, const char *target, const char *service, int timeout_ms)
{
    if (fd < 0 || !target || !service || timeout_ms < 0)
        return vmsec__error(VMSEC_EINVAL, "relay request: invalid argument");
    if (!vmsec__policy_valid_target(target, VMSEC_POLICY_NAME_MAX))
        return vmsec__error(VMSEC_EINVAL, "relay request: invalid target name '%.64s'", target);
    if (!vmsec__policy_valid_name(service, VMSEC_POLICY_SERVICE_MAX))
        return vmsec__error(VMSEC_EINVAL, "relay request: invalid service name '%.64s'", service);
    int64_t deadline = now_ms() + timeout_ms;
    uint8_t req[RELAY_REQ_MAX], rep[RELAY_REPLY_LEN];
    size_t len = vmsec__relay_encode_request(req, target, service);
    int rc = write_all(fd, req, len, deadline);
    /* The relay refuses some callers (unknown, over a limit) as soon as they connect, so the
     * request may hit a closed socket: the refusal is still waiting to be read. */
    if (rc == 0 || rc == VMSEC_EIO)
        rc = read_exact(fd, rep, sizeof(rep), deadline, "relay's reply");
    if (rc < 0)
        return rc == VMSEC_ECLOSED ? vmsec__error(VMSEC_ECONNREFUSED, "relay closed the connection without a reply")
                                   : rc;
    if (memcmp(rep, RELAY_MAGIC, 4) != 0 || rep[4] != VMSEC_RELAY_PROTOCOL_VERSION || rep[5] != RELAY_TYPE_REPLY)
        return vmsec__error(VMSEC_EPROTO, "relay: malformed reply");
    switch (rep[6]) {
    case VMSEC_RELAY_ACCEPTED:
        return 0;
    case VMSEC_RELAY_DENIED:
        return vmsec__error(VMSEC_EDENIED, "relay denied service '%s' on '%s'", service, target);
    case VMSEC_RELAY_UNAVAILABLE:
        return vmsec__error(VMSEC_ECONNREFUSED, "relay: service '%s' on '%s' is unavailable", service, target);
    case VMSEC_RELAY_BUSY:
        return vmsec__error(VMSEC_ECONNREFUSED, "relay: connection limit reached, try again later");
    case VMSEC_RELAY_BAD_REQUEST:
        return vmsec__error(VMSEC_EPROTO, "relay refused the request as malformed");
    case VMSEC_RELAY_INTERNAL:
        return vmsec__error(VMSEC_ECONNREFUSED, "relay: internal error or unknown caller");
    case VMSEC_RELAY_NO_SUCH_TARGET:
        return vmsec__error(VMSEC_ENOTFOUND, "relay: no such target '%s' (service '%s' allowed)", target, service);
    default:
        return vmsec__error(VMSEC_EPROTO, "relay: unknown reply status %u", rep[6]);
    }
}

int vmsec_relay_origin_read(int fd, int timeout_ms, char *domain, size_t domain_cap, uint32_t *cid, char *service,
                            size_t service_cap)
{
    if (fd < 0 || timeout_ms < 0 || !domain || !domain_cap || (service && !service_cap))
        return vmsec__error(VMSEC_EINVAL, "relay origin: invalid argument");
    int rc = vmsec__relay_origin_peer_check(fd);
    if (rc < 0)
        return rc;
    int64_t deadline = now_ms() + timeout_ms;
    uint8_t h[RELAY_ORIGIN_MAX];
    rc = read_exact(fd, h, RELAY_ORIGIN_FIXED, deadline, "relay's origin header");
    if (rc < 0)
        return rc;
    size_t dlen = h[6], slen = h[7];
    if (memcmp(h, RELAY_MAGIC, 4) != 0 || h[4] != VMSEC_RELAY_PROTOCOL_VERSION || h[5] != RELAY_TYPE_ORIGIN ||
        dlen == 0 || slen == 0 || slen > VMSEC_POLICY_SERVICE_MAX)
        return vmsec__error(VMSEC_EPROTO, "relay: malformed origin header");
    rc = read_exact(fd, h + RELAY_ORIGIN_FIXED, dlen + slen, deadline, "relay's origin header");
    if (rc < 0)
        return rc;
    const uint8_t *d = h + RELAY_ORIGIN_FIXED, *s = d + dlen;
    if (!valid_target_bytes(d, dlen) || !valid_bytes(s, slen))
        return vmsec__error(VMSEC_EPROTO, "relay: invalid name in origin header");
    if (dlen >= domain_cap || (service && slen >= service_cap))
        return vmsec__error(VMSEC_ETOOBIG, "relay origin: buffer too small");
    memcpy(domain, d, dlen);
    domain[dlen] = '\0';
    if (service) {
        memcpy(service, s, slen);
        service[slen] = '\0';
    }
    if (cid)
        *cid = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
    return 0;
}

/* --- domain -> key map ---------------------------------------------------------------------- */

struct peer_entry {
    char *domain;
    uint8_t key[VMSEC_KEY_BYTES];
};

struct vmsec_peermap {
    struct peer_entry *e;
    size_t n, cap;
};

int vmsec_peermap_new(vmsec_peermap **out)
{
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "peermap: NULL output");
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : vmsec__error(VMSEC_ENOMEM, "peermap: out of memory");
}

void vmsec_peermap_free(vmsec_peermap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->e[i].domain);
    free(m->e);
    free(m);
}

static struct peer_entry *peer_find(const vmsec_peermap *m, const char *domain)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->e[i].domain, domain) == 0)
            return &m->e[i];
    return NULL;
}

int vmsec_peermap_add(vmsec_peermap *m, const char *domain, const uint8_t *key, size_t key_len)
{
    if (!m || !domain || !key || key_len != VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "peermap add: invalid argument");
    if (vmsec_pubkey_validate(key, key_len) < 0)
        return vmsec__error(VMSEC_EFORMAT, "peermap add: key of domain '%.64s': %s", domain, vmsec_error_last());
    if (!vmsec__policy_valid_name(domain, VMSEC_POLICY_NAME_MAX))
        return vmsec__error(VMSEC_EINVAL, "peermap add: invalid domain name '%.64s'", domain);
    if (peer_find(m, domain))
        return vmsec__error(VMSEC_EEXIST, "peermap: domain '%s' already has a key", domain);
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        struct peer_entry *ne = realloc(m->e, nc * sizeof(*ne));
        if (!ne)
            return vmsec__error(VMSEC_ENOMEM, "peermap: out of memory");
        m->e = ne;
        m->cap = nc;
    }
    if (!(m->e[m->n].domain = strdup(domain)))
        return vmsec__error(VMSEC_ENOMEM, "peermap: out of memory");
    memcpy(m->e[m->n].key, key, VMSEC_KEY_BYTES);
    m->n++;
    return 0;
}

int vmsec_peermap_load_file(vmsec_peermap *m, const char *path)
{
    if (!m || !path)
        return vmsec__error(VMSEC_EINVAL, "peermap load: NULL argument");
    FILE *f = fopen(path, "re");
    if (!f)
        return vmsec__error_errno(errno == ENOENT ? VMSEC_ENOTFOUND : VMSEC_EIO, errno, "peermap %s: cannot open",
                                  path);
    /* a peer map grants domain identities: refuse one another user could have written */
    struct stat st;
    int prc = fstat(fileno(f), &st) < 0 ? vmsec__error_errno(VMSEC_EIO, errno, "peermap %s: cannot stat", path)
                                        : vmsec__file_check_trusted(&st, path, "peer map");
    if (prc < 0) {
        fclose(f);
        return prc;
    }
    size_t n0 = m->n;
    char line[1024];
    unsigned int lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            rc = vmsec__error(VMSEC_EFORMAT, "%s:%u: line too long", path, lineno);
            break;
        }
        char *save = NULL, *dom = strtok_r(line, " \t\r\n", &save);
        if (!dom || dom[0] == '#')
            continue;
        char *text = strtok_r(NULL, " \t\r\n", &save), *extra = strtok_r(NULL, " \t\r\n", &save);
        uint8_t key[VMSEC_KEY_BYTES];
        if (!text || (extra && extra[0] != '#'))
            rc = vmsec__error(VMSEC_EFORMAT, "%s:%u: expected 'DOMAIN x25519:KEY'", path, lineno);
        else if (vmsec_pubkey_from_text(key, sizeof(key), text) < 0)
            rc = vmsec__error(VMSEC_EFORMAT, "%s:%u: invalid public key: %s", path, lineno, vmsec_error_last());
        else if ((rc = vmsec_peermap_add(m, dom, key, sizeof(key))) < 0) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", vmsec_error_last());
            rc = vmsec__error(rc, "%s:%u: %s", path, lineno, msg);
        }
    }
    if (rc == 0 && ferror(f))
        rc = vmsec__error(VMSEC_EIO, "peermap %s: read error", path);
    fclose(f);
    if (rc < 0) { /* all or nothing */
        while (m->n > n0)
            free(m->e[--m->n].domain);
    }
    return rc;
}

int vmsec_peermap_check(const vmsec_peermap *m, const char *domain, const uint8_t *key, size_t key_len)
{
    if (!m || !domain || !key)
        return vmsec__error(VMSEC_EINVAL, "peermap check: NULL argument");
    int rc = vmsec__ensure_init();
    if (rc < 0)
        return rc;
    /* The map holds only canonical keys; say why a second encoding of one does not match it. */
    if (key_len == VMSEC_KEY_BYTES && vmsec_pubkey_validate(key, key_len) < 0)
        return vmsec__error(VMSEC_EAUTH, "peer key for domain '%.64s' refused: %s", domain, vmsec_error_last());
    const struct peer_entry *e = peer_find(m, domain);
    if (!e)
        return vmsec__error(VMSEC_EAUTH, "peer domain '%.64s' has no registered key", domain);
    if (key_len != VMSEC_KEY_BYTES || sodium_memcmp(e->key, key, VMSEC_KEY_BYTES) != 0)
        return vmsec__error(VMSEC_EAUTH, "peer key does not belong to domain '%s'", domain);
    return 0;
}
