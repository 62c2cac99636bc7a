/* SPDX-License-Identifier: ISC */
/* Helpers of the vsock_channel guest program: its keys, the handshake patterns and a configuration
 * for either side of each, result names, and an echo server that accepts one channel on a thread. */
#include <sodium.h>

#include "gtap.h"
#include "gvsock.h"
#include "vsock_channel.h"

vmsec_keypair *server_kp, *client_kp, *stranger_kp;
uint8_t server_pub[VMSEC_KEY_BYTES], client_pub[VMSEC_KEY_BYTES];
uint8_t stranger_pub[VMSEC_KEY_BYTES];
uint8_t psk[VMSEC_PSK_BYTES];

/* The symbolic name of a result, for test descriptions. */
const char *errname(int rc)
{
    static const char *const names[] = {
        "ok", "VMSEC_EINVAL", "VMSEC_ENOMEM", "VMSEC_EIO", "VMSEC_EPERM", "VMSEC_EFORMAT",
        "VMSEC_ENOTFOUND", "VMSEC_EEXIST", "VMSEC_EAGAIN", "VMSEC_EAUTH", "VMSEC_EPROTO",
        "VMSEC_ETIMEDOUT", "VMSEC_ECLOSED", "VMSEC_ETRUNCATED", "VMSEC_ETOOBIG",
        "VMSEC_EUNSUPPORTED", "VMSEC_ESTATE", "VMSEC_ECRYPTO", "VMSEC_ELIBVIRT", "VMSEC_EHOST",
        "VMSEC_ECONNREFUSED", "VMSEC_EADDRINUSE", "VMSEC_EDENIED", "VMSEC_EROLLEDBACK",
        "VMSEC_EPARTIAL", "VMSEC_EDRIFT", "VMSEC_EINTERNAL",
    };
    if (rc <= 0 && -rc < (int)(sizeof(names) / sizeof(names[0])))
        return names[-rc];
    return "unknown result";
}

void addr(char *buf, size_t len, const char *cid, unsigned port)
{
    snprintf(buf, len, "vsock:%s:%u", cid, port);
}

/* --- configurations ------------------------------------------------------------------------- */

const struct pattern patterns[] = {
    { "XX", true, false, false, false },    { "IK", true, true, false, false },
    { "KK", true, true, true, false },      { "NK", false, true, false, false },
    { "IKpsk2", true, true, false, true }, { "XXpsk3", true, false, false, true },
    /* more interactive and deferred patterns, each with its own key knowledge */
    { "NX", false, false, false, false },  { "XK", true, true, false, false },
    { "IX", true, false, false, false },   { "KX", true, false, true, false },
    { "X1K1", true, true, false, false },  { "NK1", false, true, false, false },
};
#define N_PATTERNS (sizeof(patterns) / sizeof(patterns[0]))
const size_t n_patterns = N_PATTERNS;

/* A configuration for one side of `p`; NULL (with a not-ok line) on failure. */
vmsec_channel_config *make_cfg(const struct pattern *p, bool initiator)
{
    vmsec_channel_config *cfg = NULL;
    int rc = vmsec_channel_config_new(&cfg);
    if (rc == 0)
        rc = vmsec_channel_config_set_pattern(cfg, p->name);
    if (rc == 0)
        rc = vmsec_channel_config_set_handshake_timeout(cfg, HANDSHAKE_TIMEOUT_MS);
    if (rc == 0 && (!initiator || p->initiator_static))
        rc = vmsec_channel_config_set_keypair(cfg, initiator ? client_kp : server_kp);
    if (rc == 0 && initiator) {
        rc = p->initiator_knows ? vmsec_channel_config_set_peer_key(cfg, server_pub, sizeof(server_pub))
                                : vmsec_channel_config_add_trusted_peer(cfg, server_pub, sizeof(server_pub));
    } else if (rc == 0) {
        if (!p->initiator_static)
            rc = vmsec_channel_config_set_allow_any_peer(cfg, 1);
        else if (p->responder_knows)
            rc = vmsec_channel_config_set_peer_key(cfg, client_pub, sizeof(client_pub));
        else
            rc = vmsec_channel_config_add_trusted_peer(cfg, client_pub, sizeof(client_pub));
    }
    if (rc == 0 && p->psk)
        rc = vmsec_channel_config_set_psk(cfg, psk, sizeof(psk));
    if (rc != 0) {
        gt_ok(false, "%s: %s configuration (%s: %s)", p->name, initiator ? "initiator" : "responder",
              errname(rc), vmsec_error_last());
        vmsec_channel_config_free(cfg);
        return NULL;
    }
    return cfg;
}

const struct pattern *pattern_named(const char *name)
{
    for (size_t i = 0; i < N_PATTERNS; i++)
        if (strcmp(patterns[i].name, name) == 0)
            return &patterns[i];
    return NULL;
}

/* --- an echo server on a thread --------------------------------------------------------------- */

/* Accepts one channel and echoes messages until the peer closes; then closes its side. */
static void *server_main(void *arg)
{
    struct server *s = arg;
    vmsec_channel *ch = NULL;
    size_t cap = s->max ? s->max : 1 << 20;
    uint8_t *buf = malloc(cap);
    s->rc = buf ? vmsec_channel_accept(&ch, s->cfg, s->l) : VMSEC_ENOMEM;
    if (s->rc != 0) {
        free(buf);
        return NULL;
    }
    s->cid_rc = vmsec_channel_peer_cid(ch, &s->cid);
    s->key_rc = vmsec_channel_peer_key(ch, s->peer_key, sizeof(s->peer_key));
    vmsec_channel_handshake_hash(ch, s->hh, sizeof(s->hh), &s->hh_len);
    for (;;) {
        size_t len = 0;
        int rc = vmsec_channel_recv(ch, buf, cap, &len);
        if (rc == 0)
            rc = vmsec_channel_send(ch, buf, len, 0);
        if (rc != 0) {
            s->end_rc = rc;
            break;
        }
    }
    if (s->end_rc == VMSEC_ECLOSED)
        vmsec_channel_close(ch);
    vmsec_channel_free(ch);
    free(buf);
    return NULL;
}

/* Starts server_main on a new listener; `allow` (if not NULL) is the listener's CID filter. */
int server_start(struct server *s, const vmsec_channel_config *cfg, unsigned port, size_t max,
                 const uint32_t *allow, size_t n_allow)
{
    char a[64];
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->max = max;
    s->port = port;
    addr(a, sizeof(a), "any", port);
    int rc = vmsec_listener_new(&s->l, a);
    if (rc == 0 && allow)
        rc = vmsec_listener_set_cid_filter(s->l, allow, n_allow);
    if (rc != 0) {
        vmsec_listener_free(s->l);
        return rc;
    }
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
        vmsec_listener_free(s->l);
        return VMSEC_ENOMEM;
    }
    return 0;
}

void server_join(struct server *s)
{
    pthread_join(s->thread, NULL);
    vmsec_listener_free(s->l);
}

/* Ends a server whose client never connected: a throwaway connection wakes its accept, and its
 * handshake then fails on the closed stream. (shutdown(2) does not wake a vsock accept.) */
void server_abort(struct server *s)
{
    int fd = gv_connect(VMADDR_CID_LOCAL, s->port);
    if (fd >= 0)
        close(fd);
    server_join(s);
}

/* Sends msg and checks the echo. */
bool echo_once(vmsec_channel *ch, const uint8_t *msg, size_t len, uint8_t *back, size_t cap)
{
    size_t got = 0;
    return vmsec_channel_send(ch, msg, len, 0) == 0 && vmsec_channel_recv(ch, back, cap, &got) == 0 &&
           got == len && (len == 0 || memcmp(back, msg, len) == 0);
}
