/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: relay federation (doc/RELAY.md, "Federation"). Two relays linked over TCP
 * by a mutually authenticated vmsec channel carry a guest's session to a domain of the other
 * host. The link bridges a local socketpair, which the relay's ordinary session machinery treats
 * as a target (origin side) or as a caller (serving side), to the link channel, so the sessions'
 * forwarding path stays the one of local sessions. */
#ifndef VMSEC_RELAY_LINK_H
#define VMSEC_RELAY_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "relay/relay_core.h"

/* Link channel messages after the handshake (doc/RELAY.md, "Link wire format"). */
#define RELAY_TYPE_FORWARD 4
#define RELAY_FORWARD_FIXED 14 /* magic, version, type, source_len, target_len, service_len, reserved, cid */
#define RELAY_LINK_DATA 0      /* first byte of a data message: the bytes follow */
#define RELAY_LINK_EOF 1       /* first byte of an end-of-stream message (half-close) */
#define RELAY_LINK_CHUNK 16384 /* largest data payload per message */

/* True if target names a domain of a linked host (HOST/DOMAIN). */
bool vmsec__relay_link_remote(const char *target);
/* Origin side: starts a link to the peer named by s->target's host part for session s. On success
 * *fd is the local end the session takes as its target; the session must not watch it until the
 * link calls vmsec__relay_session_event() on it (the peer accepted) or refuses the session. */
int vmsec__relay_link_connect(vmsec_relay *r, struct session *s, int *fd);
/* Serving side: a connection accepted on a link listener. */
void vmsec__relay_link_accept(vmsec_relay *r, int fd);
/* An event on a link's endpoint (EP_LINK). */
void vmsec__relay_link_event(vmsec_relay *r, struct endpoint *ep);
/* The session s is ending: its link forgets it (and ends unless it is still draining). */
void vmsec__relay_link_detach(vmsec_relay *r, struct session *s);
/* Links whose deadline passed (handshake, forwarded request) are closed. */
void vmsec__relay_link_expire(vmsec_relay *r, int64_t now);
/* Frees the links closed since the last call; the loop calls it after each event batch. */
void vmsec__relay_link_reap(vmsec_relay *r);
/* One peer's links for the status (doc/RELAY.md, "Status"). The strings belong to the relay. */
struct relay_link_stat {
    const char *peer;       /* the peer's host name */
    const char *state;      /* "up" (a link past its handshake), "connecting" or "down" (no link) */
    const char *last_error; /* why the last link failed, NULL if none did since a handshake succeeded */
    unsigned int links;     /* links up now (one per session) */
    uint64_t sessions;      /* sessions the links carried, since start */
    uint64_t bytes_to_peer, bytes_from_peer; /* the sessions' bytes, since start */
};
/* Fills st for the peer after prev (NULL: the first) and returns it; NULL after the last. Call
 * from the relay's thread. */
const struct relay_peer *vmsec__relay_link_peer_stat(const vmsec_relay *r, const struct relay_peer *prev,
                                                     struct relay_link_stat *st);
/* Frees every link and peer (vmsec_relay_free). */
void vmsec__relay_link_free_all(vmsec_relay *r);

#endif
