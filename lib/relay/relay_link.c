/* SPDX-License-Identifier: ISC */
/* Relay federation (doc/RELAY.md, "Federation"): links between relays over TCP, one link per
 * relayed session, each a vmsec channel (Noise IK) whose peer is named by the key it proved.
 *
 * A link bridges a socketpair to its channel. On the origin side the session of the calling guest
 * takes the socketpair's other end as its target; on the serving side the link hands the other
 * end to vmsec__relay_session_open() as a caller named PEER/DOMAIN. Everything the relay does for
 * a local session (policy, limits, origin header, forwarding with back-pressure, audit) thus
 * happens unchanged on both relays, and this file only runs the link: TCP connect, handshake,
 * forwarded request and status, then data and half-close messages. Nothing here blocks. */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/fileperm.h"
#include "common/internal.h"
#include "relay/policy_internal.h"
#include "relay/relay_audit.h"
#include "relay/relay_core.h"
#include "relay/relay_internal.h"
#include "relay/relay_link.h"
#include "vmsec/channel.h"
#include "vmsec/keys.h"
#include "vmsec/relay.h"

struct relay_peer {
    char name[VMSEC_POLICY_NAME_MAX + 1];
    char *address; /* "tcp:HOST:PORT", or NULL: this relay never dials it */
    uint8_t key[VMSEC_KEY_BYTES];
    /* for the status (vmsec__relay_link_peer_stat): what links that ended carried, and why the
     * last one failed (a literal; NULL once a handshake succeeded since) */
    uint64_t sessions, bytes_out, bytes_in;
    const char *last_error;
    struct relay_peer *next;
};

enum link_state {
    L_CONNECTING,  /* origin: TCP connect in progress */
    L_HANDSHAKE,   /* both: the channel's handshake */
    L_WAIT_STATUS, /* origin: forwarded request sent, waiting for the peer's status */
    L_WAIT_REPLY,  /* serving: request handed to the local session, waiting for its reply */
    L_BRIDGE,      /* both: data both ways */
    L_DRAIN        /* both: close_notify queued, flushing before close */
};

struct relay_link {
    struct endpoint net, loc; /* the TCP connection, the socketpair end the link owns */
    vmsec_engine *eng;
    enum link_state state;
    bool origin;
    struct session *s; /* the session it carries, or NULL once that ended */
    uint64_t sid;      /* its id, for the audit */
    struct relay_peer *peer;
    char peer_name[VMSEC_POLICY_NAME_MAX + 1];
    struct listener pseudo; /* serving side: the identity of the local caller */
    char source[VMSEC_POLICY_NAME_MAX + 1];
    uint8_t fwd[RELAY_FORWARD_FIXED + 3 * VMSEC_POLICY_NAME_MAX];
    size_t fwdlen;
    size_t skip;        /* origin: bytes of the origin header still to drop from loc */
    uint8_t rep[RELAY_REPLY_LEN];
    size_t replen;      /* serving: bytes of the local session's reply read so far */
    uint8_t *in;        /* plaintext from the peer waiting to be written to loc */
    size_t in_start, in_end;
    bool loc_eof, peer_eof, loc_shut, net_eof, net_shut;
    bool dead; /* closed, waiting to be freed after the event batch */
    int64_t deadline;
    uint64_t bytes_out, bytes_in;
    uint8_t msg[1 + RELAY_LINK_CHUNK]; /* one message being built or received */
    struct relay_link *prev, *next;
};


bool vmsec__relay_link_remote(const char *target)
{
    return strchr(target, '/') != NULL;
}

/* --- audit ------------------------------------------------------------------------------------- */

static void link_audit(vmsec_relay *r, const struct relay_link *k, const char *event, const char *reason)
{
    struct jbuf j;
    vmsec__relay_jbegin(&j, event);
    vmsec__relay_jnum(&j, "session", k->sid);
    vmsec__relay_jstr(&j, "peer", k->peer_name[0] ? k->peer_name : "?");
    vmsec__relay_jstr(&j, "side", k->origin ? "origin" : "serving");
    if (k->source[0])
        vmsec__relay_jstr(&j, "source", k->source);
    if (k->state >= L_BRIDGE) {
        vmsec__relay_jnum(&j, "bytes_to_peer", k->bytes_out);
        vmsec__relay_jnum(&j, "bytes_from_peer", k->bytes_in);
    }
    if (reason)
        vmsec__relay_jstr(&j, "reason", reason);
    vmsec__relay_jemit(r, &j);
}

/* --- life cycle -------------------------------------------------------------------------------- */

static struct relay_link *link_new(vmsec_relay *r, bool origin)
{
    struct relay_link *k = calloc(1, sizeof(*k));
    if (!k || !(k->in = malloc(RELAY_LINK_CHUNK))) {
        free(k);
        return NULL;
    }
    k->origin = origin;
    k->net = (struct endpoint){.kind = EP_LINK, .fd = -1, .owner = k};
    k->loc = (struct endpoint){.kind = EP_LINK, .fd = -1, .owner = k};
    k->next = r->links;
    if (r->links)
        r->links->prev = k;
    r->links = k;
    return k;
}

/* Ends a link's life: closed at once, freed after the event batch (vmsec__relay_link_reap), as
 * events for its endpoints may still be waiting in the batch. */
static void link_free(vmsec_relay *r, struct relay_link *k)
{
    if (k->peer) {
        k->peer->bytes_out += k->bytes_out;
        k->peer->bytes_in += k->bytes_in;
    }
    if (k->prev)
        k->prev->next = k->next;
    else
        r->links = k->next;
    if (k->next)
        k->next->prev = k->prev;
    vmsec__relay_ep_close(r, &k->net);
    vmsec__relay_ep_close(r, &k->loc);
    vmsec_engine_free(k->eng);
    k->eng = NULL;
    k->dead = true;
    k->prev = NULL;
    k->next = r->link_zombies;
    r->link_zombies = k;
}

void vmsec__relay_link_reap(vmsec_relay *r)
{
    while (r->link_zombies) {
        struct relay_link *k = r->link_zombies;
        r->link_zombies = k->next;
        free(k->pseudo.domain);
        free(k->in);
        free(k);
    }
}

/* Ends a link. A session it still carries dies with it (a dropped link ends both guests' streams
 * as an error, never as a clean end of stream); an origin session not yet forwarding is refused. */
static void link_end(vmsec_relay *r, struct relay_link *k, const char *reason, int status)
{
    struct session *s = k->s;
    link_audit(r, k, "link-close", reason);
    if (k->peer && status != 0) /* a failure of the link, not of a session it carried */
        k->peer->last_error = reason;
    k->s = NULL;
    if (s) {
        s->link = NULL;
        if (s->state == S_CONNECTING)
            vmsec__relay_session_refuse(r, s, status, "unavailable", reason);
        else
            vmsec__relay_session_kill(r, s, reason);
    }
    link_free(r, k);
}

void vmsec__relay_link_detach(vmsec_relay *r, struct session *s)
{
    struct relay_link *k = s->link;
    s->link = NULL;
    k->s = NULL;
    /* A forwarding session may have left bytes and its end of stream in the socketpair, a refused
     * serving session its reply: the link drains them. An origin link not yet bridging has
     * nothing left to carry. */
    if (k->origin && k->state < L_BRIDGE) {
        link_audit(r, k, "link-close", "session-ended");
        link_free(r, k);
    } else if (k->state == L_BRIDGE && !k->deadline) {
        /* the guest is gone: the link gets the connect timeout to finish, then ends as dropped,
         * which ends the peer's session too rather than leave it half-open */
        k->deadline = vmsec__relay_now_ms() + LIM(r, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS);
        vmsec__relay_schedule(r, k->deadline);
    }
}

void vmsec__relay_link_expire(vmsec_relay *r, int64_t now)
{
    for (struct relay_link *k = r->links, *next; k; k = next) {
        next = k->next;
        if (!k->deadline)
            continue;
        if (k->deadline <= now)
            link_end(r, k, k->state == L_DRAIN ? "drain-timeout" : "link-timeout", VMSEC_RELAY_UNAVAILABLE);
        else
            vmsec__relay_schedule(r, k->deadline);
    }
}

static void peers_free(struct relay_peer *p)
{
    while (p) {
        struct relay_peer *next = p->next;
        free(p->address);
        free(p);
        p = next;
    }
}

void vmsec__relay_link_free_all(vmsec_relay *r)
{
    while (r->links)
        link_free(r, r->links);
    vmsec__relay_link_reap(r);
    peers_free(r->peers);
    r->peers = NULL;
    vmsec_channel_config_free(r->link_cfg);
    r->link_cfg = NULL;
}

/* --- peers ------------------------------------------------------------------------------------- */

static struct relay_peer *peer_by_name(vmsec_relay *r, const char *name, size_t len)
{
    for (struct relay_peer *p = r->peers; p; p = p->next)
        if (strlen(p->name) == len && memcmp(p->name, name, len) == 0)
            return p;
    return NULL;
}

static struct relay_peer *peer_by_key(vmsec_relay *r, const uint8_t *key)
{
    struct relay_peer *found = NULL;
    for (struct relay_peer *p = r->peers; p; p = p->next)
        if (sodium_memcmp(p->key, key, VMSEC_KEY_BYTES) == 0)
            found = p;
    return found;
}

/* The serving side's trust decision: only a key of the peer map opens a link. */
static int verify_peer(void *user, const uint8_t *key, size_t len)
{
    return len == VMSEC_KEY_BYTES && peer_by_key(user, key) ? 0 : -1;
}

/* Parses "tcp:HOST:PORT" (HOST a numeric IPv4 or bracketed IPv6 address, empty for any) with
 * inet_pton, never a resolver: the loop must not wait for DNS, and the static guest build has no
 * NSS. */
static int parse_tcp(const char *address, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[128], *port, *end = NULL;
    if (!address || strncmp(address, "tcp:", 4) != 0 || strlen(address + 4) >= sizeof(host))
        return vmsec__error(VMSEC_EINVAL, "relay link: address '%.64s' is not tcp:HOST:PORT", address ? address : "");
    snprintf(host, sizeof(host), "%s", address + 4);
    if (!(port = strrchr(host, ':')))
        return vmsec__error(VMSEC_EINVAL, "relay link: address '%.64s' has no port", address);
    *port++ = '\0';
    errno = 0;
    unsigned long pn = strtoul(port, &end, 10);
    if (!*port || *end || errno || pn > 65535)
        return vmsec__error(VMSEC_EINVAL, "relay link: address '%.64s': invalid port", address);
    memset(ss, 0, sizeof(*ss));
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)pn);
        *sl = sizeof(*in6);
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1)
            return 0;
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)pn);
        *sl = sizeof(*in4);
        if (hl == 0 || inet_pton(AF_INET, host, &in4->sin_addr) == 1)
            return 0; /* empty: INADDR_ANY (listeners) */
    }
    return vmsec__error(VMSEC_EINVAL, "relay link: address '%.64s': numeric host expected", address);
}

int vmsec_relay_set_keypair(vmsec_relay *r, const vmsec_keypair *kp)
{
    if (!r || !kp)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL argument");
    vmsec_channel_config *cfg = NULL;
    int rc = vmsec_channel_config_new(&cfg);
    if (rc == 0)
        rc = vmsec_channel_config_set_keypair(cfg, kp);
    if (rc == 0)
        rc = vmsec_channel_config_set_pattern(cfg, "IK");
    if (rc == 0)
        rc = vmsec_channel_config_set_prologue(cfg, (const uint8_t *)"vmsec relay link 1", 18);
    if (rc < 0) {
        vmsec_channel_config_free(cfg);
        return rc;
    }
    vmsec_channel_config_free(r->link_cfg);
    r->link_cfg = cfg;
    return 0;
}

int vmsec_relay_add_peer(vmsec_relay *r, const char *host, const char *address, const uint8_t *key,
                         size_t key_len)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!r || !host || !key || key_len != VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "relay add peer: invalid argument");
    if (!vmsec__policy_valid_name(host, VMSEC_POLICY_NAME_MAX - 2) || vmsec__policy_host_name(host))
        return vmsec__error(VMSEC_EINVAL, "relay add peer: invalid host name '%.64s'", host);
    if (vmsec_pubkey_validate(key, key_len) < 0)
        return vmsec__error(VMSEC_EFORMAT, "relay add peer: key of '%.64s': %s", host, vmsec_error_last());
    if (address && parse_tcp(address, &ss, &sl) < 0)
        return VMSEC_EINVAL;
    if (peer_by_name(r, host, strlen(host)) || peer_by_key(r, key))
        return vmsec__error(VMSEC_EEXIST, "relay add peer: '%s' or its key is already a peer", host);
    struct relay_peer *p = calloc(1, sizeof(*p));
    if (!p || (address && !(p->address = strdup(address)))) {
        free(p);
        return vmsec__error(VMSEC_ENOMEM, "relay add peer: out of memory");
    }
    snprintf(p->name, sizeof(p->name), "%s", host);
    memcpy(p->key, key, VMSEC_KEY_BYTES);
    p->next = r->peers;
    r->peers = p;
    return 0;
}

int vmsec_relay_listen_link(vmsec_relay *r, const char *address)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!r)
        return vmsec__error(VMSEC_EINVAL, "relay: NULL");
    int rc = parse_tcp(address, &ss, &sl);
    if (rc < 0)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        return vmsec__error_errno(VMSEC_EIO, errno, "relay link: socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return vmsec__error_errno(e == EADDRINUSE ? VMSEC_EADDRINUSE : VMSEC_EIO, e, "relay: cannot listen on %s",
                                  address);
    }
    rc = vmsec__relay_add_listener(r, fd, false, NULL, NULL);
    if (rc == 0)
        r->listeners->link = true;
    return rc;
}

/* --- the channel's bytes ----------------------------------------------------------------------- */

/* Writes what the engine has for the peer. False if the connection failed. */
static bool net_flush(struct relay_link *k)
{
    const uint8_t *buf;
    size_t len;
    while (vmsec_engine_output(k->eng, &buf, &len) == 0 && len > 0) {
        ssize_t n = send(k->net.fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            vmsec_engine_output_consume(k->eng, (size_t)n);
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
}

/* Reads what the engine can take. Returns 0, or the reason the link failed. */
static const char *net_read(struct relay_link *k)
{
    for (;;) {
        uint8_t *buf;
        size_t cap;
        if (vmsec_engine_input_space(k->eng, &buf, &cap) < 0)
            return "channel-failed";
        if (cap == 0)
            return NULL;
        ssize_t n = recv(k->net.fd, buf, cap, MSG_DONTWAIT);
        if (n > 0) {
            if (vmsec_engine_input_commit(k->eng, (size_t)n) < 0)
                return k->state == L_HANDSHAKE ? "handshake-failed" : "channel-failed";
        } else if (n == 0) {
            k->net_eof = true;
            int rc = vmsec_engine_input_eof(k->eng);
            if (rc == 0 || rc == VMSEC_ECLOSED)
                return NULL;
            return k->state == L_HANDSHAKE ? "handshake-failed" : "link-dropped";
        } else if (errno == EINTR) {
            continue;
        } else {
            return errno == EAGAIN || errno == EWOULDBLOCK ? NULL : "link-dropped";
        }
    }
}

static bool send_msg(struct relay_link *k, const uint8_t *msg, size_t len)
{
    return vmsec_engine_send(k->eng, msg, len) == 0;
}

/* Registers the link's interest. Reads are bounded: the peer is read only while the plaintext it
 * sent has been delivered, loc only while the engine's output is under one chunk. */
static void link_interest(vmsec_relay *r, struct relay_link *k)
{
    uint32_t net = 0, loc = 0;
    uint8_t *buf;
    size_t cap = 0;
    if (k->state == L_CONNECTING) {
        vmsec__relay_ep_set(r, &k->net, EPOLLOUT);
        return;
    }
    if (!k->net_eof && k->in_start == k->in_end && vmsec_engine_input_space(k->eng, &buf, &cap) == 0 && cap > 0)
        net |= EPOLLIN;
    if (vmsec_engine_output_pending(k->eng) > 0)
        net |= EPOLLOUT;
    if (k->state == L_WAIT_REPLY || (k->state == L_BRIDGE && !k->loc_eof &&
                                     vmsec_engine_output_pending(k->eng) < RELAY_LINK_CHUNK))
        loc |= EPOLLIN;
    if (k->in_start < k->in_end)
        loc |= EPOLLOUT;
    vmsec__relay_ep_set(r, &k->net, net);
    vmsec__relay_ep_set(r, &k->loc, loc);
}

/* TCP keep-alives on a link: a peer host that vanished (crash, cable) is noticed after about a
 * minute of silence even when the guests send nothing, and its sessions end as dropped. */
#define LINK_KEEPIDLE_S 30
#define LINK_KEEPINTVL_S 10
#define LINK_KEEPCNT 3

static void link_keepalive(int fd)
{
    int on = 1, idle = LINK_KEEPIDLE_S, intvl = LINK_KEEPINTVL_S, cnt = LINK_KEEPCNT;
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* --- origin side ------------------------------------------------------------------------------- */

static size_t encode_forward(uint8_t *out, const char *source, uint32_t cid, const char *target, const char *service)
{
    size_t sl = strlen(source), tl = strlen(target), vl = strlen(service);
    memcpy(out, RELAY_MAGIC, 4);
    out[4] = VMSEC_RELAY_PROTOCOL_VERSION;
    out[5] = RELAY_TYPE_FORWARD;
    out[6] = (uint8_t)sl;
    out[7] = (uint8_t)tl;
    out[8] = (uint8_t)vl;
    out[9] = 0;
    out[10] = (uint8_t)(cid >> 24);
    out[11] = (uint8_t)(cid >> 16);
    out[12] = (uint8_t)(cid >> 8);
    out[13] = (uint8_t)cid;
    memcpy(out + RELAY_FORWARD_FIXED, source, sl);
    memcpy(out + RELAY_FORWARD_FIXED + sl, target, tl);
    memcpy(out + RELAY_FORWARD_FIXED + sl + tl, service, vl);
    return RELAY_FORWARD_FIXED + sl + tl + vl;
}

static int start_engine(vmsec_relay *r, struct relay_link *k, const uint8_t *peer_key)
{
    int rc = vmsec_channel_config_set_peer_key(r->link_cfg, peer_key, peer_key ? VMSEC_KEY_BYTES : 0);
    if (rc == 0)
        rc = vmsec_channel_config_set_verify(r->link_cfg, peer_key ? NULL : verify_peer, r);
    if (rc == 0)
        rc = vmsec_engine_new(&k->eng, r->link_cfg, peer_key ? VMSEC_ROLE_INITIATOR : VMSEC_ROLE_RESPONDER);
    return rc;
}

int vmsec__relay_link_connect(vmsec_relay *r, struct session *s, int *fd)
{
    const char *slash = strchr(s->target, '/');
    struct relay_peer *p = peer_by_name(r, s->target, (size_t)(slash - s->target));
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!p) /* no such host: the caller learns there is no such target */
        return vmsec__error(VMSEC_ENOTFOUND, "relay link: no linked host for '%s'", s->target);
    if (!p->address) /* a host that only dials us: reachable only while it does */
        return vmsec__error(VMSEC_ECONNREFUSED, "relay link: peer '%s' has no address to dial", p->name);
    if (!r->link_cfg)
        return vmsec__error(VMSEC_ESTATE, "relay link: this relay has no key");
    if (parse_tcp(p->address, &ss, &sl) < 0)
        return VMSEC_EINVAL;
    struct relay_link *k = link_new(r, true);
    int sp[2] = {-1, -1};
    if (!k)
        return vmsec__error(VMSEC_ENOMEM, "relay link: out of memory");
    snprintf(k->peer_name, sizeof(k->peer_name), "%s", p->name);
    snprintf(k->source, sizeof(k->source), "%s", s->domain);
    k->peer = p;
    k->sid = s->id;
    int rc = start_engine(r, k, p->key);
    if (rc == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
        rc = vmsec__error_errno(VMSEC_EIO, errno, "relay link: socketpair");
    if (rc == 0 && (k->net.fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        rc = vmsec__error_errno(VMSEC_EIO, errno, "relay link: socket");
    if (rc == 0)
        link_keepalive(k->net.fd);
    if (rc == 0 && connect(k->net.fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
        rc = vmsec__error_errno(VMSEC_ECONNREFUSED, errno, "relay link: connect to %s", p->address);
    if (rc < 0) {
        if (sp[0] >= 0)
            close(sp[0]);
        if (sp[1] >= 0)
            close(sp[1]);
        link_free(r, k);
        return rc;
    }
    k->loc.fd = sp[1];
    k->fwdlen = encode_forward(k->fwd, s->domain, s->cid, slash + 1, s->service);
    k->skip = RELAY_ORIGIN_FIXED + strlen(s->domain) + strlen(s->service);
    k->state = L_CONNECTING;
    k->s = s;
    s->link = k;
    link_audit(r, k, "link-open", NULL);
    link_interest(r, k);
    *fd = sp[0];
    return 0;
}

/* The peer's status for our forwarded request. Returns false if the link is gone. */
static bool on_status(vmsec_relay *r, struct relay_link *k, const uint8_t *m, size_t len)
{
    if (len != RELAY_REPLY_LEN || memcmp(m, RELAY_MAGIC, 4) != 0 || m[5] != RELAY_TYPE_REPLY) {
        link_end(r, k, "bad-status", VMSEC_RELAY_UNAVAILABLE);
        return false;
    }
    struct session *s = k->s;
    if (m[6] != VMSEC_RELAY_ACCEPTED) {
        /* The peer's refusal reaches the guest as it was given (a status this relay does not
         * know as unavailable); the link then ends. */
        int st = m[6] <= VMSEC_RELAY_NO_SUCH_TARGET ? m[6] : VMSEC_RELAY_UNAVAILABLE;
        const char *why = st == VMSEC_RELAY_DENIED           ? "peer-denied"
                          : st == VMSEC_RELAY_NO_SUCH_TARGET ? "peer-no-such-target"
                                                             : "peer-unavailable";
        link_audit(r, k, "link-refused", why);
        k->s = NULL;
        s->link = NULL;
        link_free(r, k);
        vmsec__relay_session_refuse(r, s, st, st == VMSEC_RELAY_DENIED ? "refused" : "unavailable", why);
        return false;
    }
    k->state = L_BRIDGE;
    if (k->peer)
        k->peer->sessions++;
    /* the session now connects its caller to us, as to a local target that accepted */
    vmsec__relay_session_event(r, &s->tgt, 0);
    return true;
}

/* --- serving side ------------------------------------------------------------------------------ */

void vmsec__relay_link_accept(vmsec_relay *r, int fd)
{
    struct relay_link *k = r->link_cfg ? link_new(r, false) : NULL;
    if (!k) {
        close(fd);
        return;
    }
    k->net.fd = fd;
    link_keepalive(fd);
    k->sid = ++r->next_id;
    if (start_engine(r, k, NULL) < 0) {
        link_end(r, k, "engine-failed", 0);
        return;
    }
    k->state = L_HANDSHAKE;
    /* the handshake and the forwarded request get the time a local caller gets for its request */
    k->deadline = vmsec__relay_now_ms() + LIM(r, VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS);
    vmsec__relay_schedule(r, k->deadline);
    link_interest(r, k);
}

static bool plain_name(const uint8_t *p, size_t n, char *out)
{
    if (n == 0 || n > VMSEC_POLICY_NAME_MAX || memchr(p, '\0', n))
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return vmsec__policy_valid_name(out, VMSEC_POLICY_NAME_MAX);
}

/* Sends the status of a forwarded request and, unless accepted, ends the link gracefully. */
static void serve_status(vmsec_relay *r, struct relay_link *k, int status)
{
    uint8_t rep[RELAY_REPLY_LEN];
    vmsec__relay_encode_reply(rep, status);
    send_msg(k, rep, sizeof(rep));
    if (status == VMSEC_RELAY_ACCEPTED) {
        k->state = L_BRIDGE;
        if (k->peer)
            k->peer->sessions++;
        return;
    }
    link_audit(r, k, "link-refused", "session-refused");
    vmsec_engine_close(k->eng);
    k->state = L_DRAIN;
    k->deadline = vmsec__relay_now_ms() + LIM(r, VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS);
    vmsec__relay_schedule(r, k->deadline);
}

/* A forwarded request: the source is named PEER/DOMAIN after the key the peer proved, whatever
 * the request says, and the request goes to the relay's session machinery as a local caller's. */
static bool on_forward(vmsec_relay *r, struct relay_link *k, const uint8_t *m, size_t len)
{
    char src[VMSEC_POLICY_NAME_MAX + 1], tgt[VMSEC_POLICY_NAME_MAX + 1], svc[VMSEC_POLICY_NAME_MAX + 1];
    size_t sl = len >= RELAY_FORWARD_FIXED ? m[6] : 0, tl = len >= RELAY_FORWARD_FIXED ? m[7] : 0;
    size_t vl = len >= RELAY_FORWARD_FIXED ? m[8] : 0;
    if (len < RELAY_FORWARD_FIXED || memcmp(m, RELAY_MAGIC, 4) != 0 || m[4] != VMSEC_RELAY_PROTOCOL_VERSION ||
        m[5] != RELAY_TYPE_FORWARD || len != RELAY_FORWARD_FIXED + sl + tl + vl ||
        !plain_name(m + RELAY_FORWARD_FIXED, sl, src) || !plain_name(m + RELAY_FORWARD_FIXED + sl, tl, tgt) ||
        !plain_name(m + RELAY_FORWARD_FIXED + sl + tl, vl, svc) || vl > VMSEC_POLICY_SERVICE_MAX ||
        strlen(k->peer_name) + 1 + sl > VMSEC_POLICY_NAME_MAX) {
        serve_status(r, k, VMSEC_RELAY_BAD_REQUEST);
        return true;
    }
    size_t pl = strlen(k->peer_name); /* PEER/DOMAIN, its length checked above */
    memcpy(k->source, k->peer_name, pl);
    k->source[pl] = '/';
    memcpy(k->source + pl + 1, src, sl + 1);
    uint32_t cid = (uint32_t)m[10] << 24 | (uint32_t)m[11] << 16 | (uint32_t)m[12] << 8 | m[13];
    int sp[2];
    if (!(k->pseudo.domain = strdup(k->source)) ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0) {
        serve_status(r, k, VMSEC_RELAY_INTERNAL);
        return true;
    }
    k->pseudo.remote = true;
    k->loc.fd = sp[1];
    uint8_t req[RELAY_REQ_MAX];
    size_t rl = vmsec__relay_encode_request(req, tgt, svc);
    (void)!send(sp[1], req, rl, MSG_NOSIGNAL | MSG_DONTWAIT); /* an empty socketpair takes it whole */
    struct jbuf j;
    vmsec__relay_jbegin(&j, "link-forward");
    vmsec__relay_jnum(&j, "session", k->sid);
    vmsec__relay_jstr(&j, "peer", k->peer_name);
    vmsec__relay_jstr(&j, "source", k->source);
    vmsec__relay_jnum(&j, "remote_cid", cid);
    vmsec__relay_jstr(&j, "target", tgt);
    vmsec__relay_jstr(&j, "service", svc);
    vmsec__relay_jemit(r, &j);
    k->state = L_WAIT_REPLY;
    k->deadline = 0; /* the session's own deadlines apply from here */
    vmsec__relay_session_open(r, &k->pseudo, sp[0]);
    /* an admitted caller is the newest session; a refused one already has its reply written */
    if (r->sessions && r->sessions->cli.fd == sp[0]) {
        k->s = r->sessions;
        k->s->link = k;
        k->sid = k->s->id;
    }
    return true;
}

/* The local session's reply to the forwarded request, read from loc. */
static void on_reply(vmsec_relay *r, struct relay_link *k)
{
    while (k->replen < RELAY_REPLY_LEN) {
        ssize_t n = recv(k->loc.fd, k->rep + k->replen, RELAY_REPLY_LEN - k->replen, MSG_DONTWAIT);
        if (n > 0) {
            k->replen += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        serve_status(r, k, VMSEC_RELAY_INTERNAL);
        return;
    }
    serve_status(r, k, k->rep[6]);
}

/* --- both sides -------------------------------------------------------------------------------- */

/* The handshake completed: the origin side sends its request; the serving side names the peer
 * by the key it proved (the verify callback accepted only keys of the peer map). */
static bool on_open(vmsec_relay *r, struct relay_link *k)
{
    if (k->origin) {
        k->state = L_WAIT_STATUS;
        if (k->peer)
            k->peer->last_error = NULL;
        send_msg(k, k->fwd, k->fwdlen);
        return true;
    }
    uint8_t key[VMSEC_KEY_BYTES];
    struct relay_peer *p = vmsec_engine_peer_key(k->eng, key, sizeof(key)) == 0 ? peer_by_key(r, key) : NULL;
    if (!p) {
        link_end(r, k, "unknown-peer", 0);
        return false;
    }
    k->peer = p;
    p->last_error = NULL;
    snprintf(k->peer_name, sizeof(k->peer_name), "%s", p->name);
    k->state = L_WAIT_STATUS; /* serving: waiting for the forwarded request */
    link_audit(r, k, "link-open", NULL);
    return true;
}

/* One message of the peer. Returns false if the link is gone. */
static bool on_message(vmsec_relay *r, struct relay_link *k, size_t len)
{
    const uint8_t *m = k->msg;
    if (k->state == L_WAIT_STATUS)
        return k->origin ? on_status(r, k, m, len) : on_forward(r, k, m, len);
    if (k->state == L_DRAIN)
        return true;
    if (k->state != L_BRIDGE || len == 0 || m[0] > RELAY_LINK_EOF || k->peer_eof ||
        (m[0] == RELAY_LINK_EOF && len != 1)) {
        link_end(r, k, "bad-message", VMSEC_RELAY_UNAVAILABLE);
        return false;
    }
    if (m[0] == RELAY_LINK_EOF) {
        k->peer_eof = true;
        return true;
    }
    memcpy(k->in, m + 1, len - 1);
    k->in_start = 0;
    k->in_end = len - 1;
    k->bytes_in += len - 1;
    return true;
}

/* Takes the peer's messages while the previous one was delivered. */
static bool take_messages(vmsec_relay *r, struct relay_link *k)
{
    while (k->in_start == k->in_end) {
        if (k->state == L_HANDSHAKE) {
            int st = vmsec_engine_state(k->eng);
            if (st == VMSEC_STATE_HANDSHAKE)
                return true;
            if (st != VMSEC_STATE_OPEN && st != VMSEC_STATE_CLOSED) {
                link_end(r, k, "handshake-failed", VMSEC_RELAY_UNAVAILABLE);
                return false;
            }
            if (!on_open(r, k))
                return false;
        }
        size_t len = 0;
        int rc = vmsec_engine_recv(k->eng, k->msg, sizeof(k->msg), &len);
        if (rc == VMSEC_EAGAIN)
            return true;
        if (rc == VMSEC_ECLOSED && (k->state == L_DRAIN || (k->state == L_BRIDGE && k->peer_eof)))
            return true;
        if (rc < 0) {
            link_end(r, k, rc == VMSEC_ECLOSED ? "link-closed" : rc == VMSEC_ETRUNCATED ? "link-dropped" : "channel-failed",
                     VMSEC_RELAY_UNAVAILABLE);
            return false;
        }
        if (!on_message(r, k, len))
            return false;
    }
    return true;
}

/* Chunks read from loc per event (up to 256 KiB): the loop seals and sends several while the peer
 * takes them, instead of one per wakeup, yet one busy link cannot starve the others. */
#define LINK_BURST 16

/* Bridges loc and the channel. Returns false if the link is gone. */
static bool bridge(vmsec_relay *r, struct relay_link *k)
{
    while (k->in_start < k->in_end) {
        ssize_t n = send(k->loc.fd, k->in + k->in_start, k->in_end - k->in_start, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            k->in_start += (size_t)n;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else if (!(n < 0 && errno == EINTR)) {
            link_end(r, k, "session-closed", 0);
            return false;
        }
    }
    if (k->in_start == k->in_end && k->peer_eof && !k->loc_shut) {
        shutdown(k->loc.fd, SHUT_WR); /* the peer's half-close */
        k->loc_shut = true;
    }
    for (int i = 0; !k->loc_eof && i < LINK_BURST; i++) {
        /* At most one chunk waits for the peer: send it before reading more (a connection that
         * failed is noticed by the caller's flush). */
        if (vmsec_engine_output_pending(k->eng) >= RELAY_LINK_CHUNK &&
            (!net_flush(k) || vmsec_engine_output_pending(k->eng) >= RELAY_LINK_CHUNK))
            break;
        size_t want = k->skip ? k->skip : RELAY_LINK_CHUNK;
        ssize_t n = recv(k->loc.fd, k->msg + 1, want, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* end of stream (or the session reset it): the peer learns it */
            k->msg[0] = RELAY_LINK_EOF;
            send_msg(k, k->msg, 1);
            k->loc_eof = true;
        } else if (k->skip) { /* the origin header meant for a local target: the peer sends its own */
            k->skip -= (size_t)n;
        } else {
            k->msg[0] = RELAY_LINK_DATA;
            send_msg(k, k->msg, 1 + (size_t)n);
            k->bytes_out += (uint64_t)n;
        }
    }
    if (k->loc_eof && k->loc_shut) {
        vmsec_engine_close(k->eng);
        k->state = L_DRAIN;
        k->deadline = vmsec__relay_now_ms() + LIM(r, VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS);
        vmsec__relay_schedule(r, k->deadline);
    }
    return true;
}

/* Connected (origin side): SO_ERROR says whether the peer's relay answered. */
static bool on_connected(vmsec_relay *r, struct relay_link *k)
{
    int err = 0;
    socklen_t el = sizeof(err);
    if (getsockopt(k->net.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return true;
    if (err) {
        link_end(r, k, "link-connect-failed", VMSEC_RELAY_UNAVAILABLE);
        return false;
    }
    k->state = L_HANDSHAKE;
    return true;
}

void vmsec__relay_link_event(vmsec_relay *r, struct endpoint *ep)
{
    struct relay_link *k = ep->owner;
    if (k->dead) /* an event of the batch that closed it */
        return;
    if (k->state == L_CONNECTING && !on_connected(r, k))
        return;
    if (k->state == L_CONNECTING)
        return;
    const char *why = k->net_eof ? NULL : net_read(k);
    if (why && k->state != L_DRAIN) {
        link_end(r, k, why, VMSEC_RELAY_UNAVAILABLE);
        return;
    }
    if (!take_messages(r, k))
        return;
    if (k->state == L_WAIT_REPLY)
        on_reply(r, k);
    /* Messages already in the engine raise no event: deliver them while loc takes them. */
    while (k->state == L_BRIDGE) {
        if (!bridge(r, k))
            return;
        bool delivered = k->in_start == k->in_end;
        if (!take_messages(r, k))
            return;
        if (!delivered || (k->in_start == k->in_end && !(k->peer_eof && !k->loc_shut)))
            break;
    }
    if (!net_flush(k) && k->state != L_DRAIN) {
        link_end(r, k, "link-dropped", VMSEC_RELAY_UNAVAILABLE);
        return;
    }
    /* Draining: once our close_notify is out, half-close and wait for the peer's end, so that
     * closing never resets a connection whose last bytes the peer has yet to read. */
    if (k->state == L_DRAIN && !k->net_shut && vmsec_engine_output_pending(k->eng) == 0) {
        shutdown(k->net.fd, SHUT_WR);
        k->net_shut = true;
    }
    if (k->state == L_DRAIN && (why || k->net_eof)) {
        if (k->s)
            k->s->link = NULL;
        link_audit(r, k, "link-close", "eof");
        link_free(r, k);
        return;
    }
    link_interest(r, k);
}

/* --- status ----------------------------------------------------------------------------------- */

const struct relay_peer *vmsec__relay_link_peer_stat(const vmsec_relay *r, const struct relay_peer *prev,
                                                     struct relay_link_stat *st)
{
    const struct relay_peer *p = prev ? prev->next : r->peers;
    if (!p)
        return NULL;
    unsigned int up = 0, connecting = 0;
    *st = (struct relay_link_stat){.peer = p->name, .last_error = p->last_error, .sessions = p->sessions,
                                   .bytes_to_peer = p->bytes_out, .bytes_from_peer = p->bytes_in};
    for (const struct relay_link *k = r->links; k; k = k->next) {
        if (k->peer != p)
            continue;
        if (k->state == L_CONNECTING || k->state == L_HANDSHAKE)
            connecting++;
        else
            up++;
        st->bytes_to_peer += k->bytes_out;
        st->bytes_from_peer += k->bytes_in;
    }
    st->links = up;
    st->state = up ? "up" : connecting ? "connecting" : "down";
    return p;
}

/* --- the peer file ----------------------------------------------------------------------------- */

/* One `NAME ADDRESS KEY` line ('-' for no address); comments and blank lines are skipped. */
static int peer_line(vmsec_relay *r, char *line, const char *path, unsigned int lineno)
{
    char *save = NULL, *name = strtok_r(line, " \t\r\n", &save);
    if (!name || name[0] == '#')
        return 0;
    char *addr = strtok_r(NULL, " \t\r\n", &save), *text = strtok_r(NULL, " \t\r\n", &save);
    char *extra = strtok_r(NULL, " \t\r\n", &save);
    uint8_t key[VMSEC_KEY_BYTES];
    if (!addr || !text || (extra && extra[0] != '#'))
        return vmsec__error(VMSEC_EFORMAT, "%s:%u: expected 'NAME tcp:ADDRESS:PORT|- x25519:KEY'", path, lineno);
    if (vmsec_pubkey_from_text(key, sizeof(key), text) < 0)
        return vmsec__error(VMSEC_EFORMAT, "%s:%u: invalid public key: %s", path, lineno, vmsec_error_last());
    int rc = vmsec_relay_add_peer(r, name, strcmp(addr, "-") == 0 ? NULL : addr, key, sizeof(key));
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", vmsec_error_last());
        return vmsec__error(rc == VMSEC_EINVAL ? VMSEC_EFORMAT : rc, "%s:%u: %s", path, lineno, msg);
    }
    return 0;
}

int vmsec_relay_load_peers(vmsec_relay *r, const char *path)
{
    if (!r || !path)
        return vmsec__error(VMSEC_EINVAL, "relay load peers: NULL argument");
    FILE *f = fopen(path, "re");
    if (!f)
        return vmsec__error_errno(errno == ENOENT ? VMSEC_ENOTFOUND : VMSEC_EIO, errno, "relay peers %s: cannot open",
                                  path);
    /* the file decides which relays may name guests: refuse one another user could have written */
    struct stat st;
    int rc = fstat(fileno(f), &st) < 0 ? vmsec__error_errno(VMSEC_EIO, errno, "relay peers %s: cannot stat", path)
                                       : vmsec__file_check_trusted(&st, path, "relay peer file");
    struct relay_peer *before = r->peers;
    char line[1024];
    unsigned int lineno = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n')
            rc = vmsec__error(VMSEC_EFORMAT, "%s:%u: line too long", path, lineno);
        else if (line[len - 1] != '\n') /* as for the policy: a reload never takes half a file */
            rc = vmsec__error(VMSEC_EFORMAT,
                              "%s:%u: last line has no terminating newline (truncated or still being written?)",
                              path, lineno);
        else
            rc = peer_line(r, line, path, lineno);
    }
    if (rc == 0 && ferror(f))
        rc = vmsec__error(VMSEC_EIO, "relay peers %s: read error", path);
    fclose(f);
    while (rc < 0 && r->peers != before) { /* all or nothing */
        struct relay_peer *p = r->peers;
        r->peers = p->next;
        free(p->address);
        free(p);
    }
    return rc;
}

/* The peer of the new map with old's name and key, or NULL. */
static struct relay_peer *peer_same(struct relay_peer *list, const struct relay_peer *old)
{
    for (struct relay_peer *p = list; p; p = p->next)
        if (strcmp(p->name, old->name) == 0 && sodium_memcmp(p->key, old->key, VMSEC_KEY_BYTES) == 0)
            return p;
    return NULL;
}

/* After a reload: a peer that kept its name and key keeps its counters, and its links follow it
 * into the new map; a link whose peer went (or changed key) carries on without one, as
 * established sessions survive a policy reload, and leaves the status. */
static void peers_replace(vmsec_relay *r, struct relay_peer *old)
{
    for (struct relay_link *k = r->links; k; k = k->next)
        if (k->peer)
            k->peer = peer_same(r->peers, k->peer);
    for (struct relay_peer *q = old; q; q = q->next) {
        struct relay_peer *p = peer_same(r->peers, q);
        if (p) {
            p->sessions = q->sessions;
            p->bytes_out = q->bytes_out;
            p->bytes_in = q->bytes_in;
            p->last_error = q->last_error;
        }
    }
    peers_free(old);
}

int vmsec_relay_reload_peers(vmsec_relay *r, const char *path)
{
    if (!r || !path)
        return vmsec__error(VMSEC_EINVAL, "relay reload peers: NULL argument");
    struct relay_peer *old = r->peers;
    r->peers = NULL;
    int rc = vmsec_relay_load_peers(r, path); /* all or nothing: no peer at all on error */
    char msg[512] = "";
    size_t n = 0;
    for (const struct relay_peer *p = r->peers; p; p = p->next)
        n++;
    vmsec__relay_audit_load(r, "peers", path, rc, "peers", n, "no-peers", msg, sizeof(msg));
    peers_replace(r, old);
    if (rc < 0)
        return vmsec__error(rc, "%s (the relay now has no linked relay)", msg);
    return 0;
}
