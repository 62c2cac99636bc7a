/* SPDX-License-Identifier: ISC */
/* What the relay is doing right now, as one JSON document (vmsec_relay_snapshot_json): the
 * counters, the policy in force, each source's sessions and each session, for status tools such
 * as `vmsec-relayd --status`. Read from the loop's own state, so it is called from the thread that
 * runs the relay (doc/RELAY.md, "Status"). */
#include "config.h"

#include <stdlib.h>

#include "common/internal.h"
#include "common/json.h"
#include "relay/relay_core.h"
#include "relay/relay_link.h"
#include "vmsec/relay.h"

/* Sessions listed one by one; past this many only their number is given, so the document stays
 * small enough for a status socket to send at once. */
#define SNAPSHOT_MAX_SESSIONS 1000

static const char *state_name(enum sess_state s)
{
    switch (s) {
    case S_REQUEST: return "request";
    case S_CONNECTING: return "connecting";
    case S_FORWARD: return "forward";
    case S_DEAD: break;
    }
    return "closing";
}

/* Sets obj[key] = value; false (and value released) when memory runs out. */
static bool put(json_t *obj, const char *key, json_t *value)
{
    return value && vmsec__json_set(obj, key, value) == 0;
}

static bool put_num(json_t *obj, const char *key, uint64_t v)
{
    return put(obj, key, json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v));
}

static bool put_counters(json_t *o, const vmsec_relay *r)
{
    return put_num(o, "sessions_forwarding", __atomic_load_n(&r->stat_active, __ATOMIC_RELAXED)) &&
           put_num(o, "sessions_pending", __atomic_load_n(&r->stat_pending, __ATOMIC_RELAXED)) &&
           put_num(o, "accepted", __atomic_load_n(&r->stat_accepted, __ATOMIC_RELAXED)) &&
           put_num(o, "denied", __atomic_load_n(&r->stat_denied, __ATOMIC_RELAXED)) &&
           put_num(o, "refused", __atomic_load_n(&r->stat_refused, __ATOMIC_RELAXED)) &&
           put_num(o, "bytes", __atomic_load_n(&r->stat_bytes, __ATOMIC_RELAXED));
}

static bool put_policy(json_t *o, vmsec_relay *r)
{
    json_t *p = json_object();
    if (!put(o, "policy", p))
        return false;
    pthread_mutex_lock(&r->policy_lock);
    bool ok = r->policy ? put(p, "name", vmsec__json_str(vmsec_policy_name(r->policy))) &&
                              put_num(p, "rules", vmsec_policy_rule_count(r->policy))
                        : put(p, "effect", vmsec__json_str("deny-all"));
    pthread_mutex_unlock(&r->policy_lock);
    return ok;
}

static bool put_sources(json_t *o, const vmsec_relay *r)
{
    json_t *a = json_array();
    if (!put(o, "sources", a))
        return false;
    for (const struct source *src = r->sources; src; src = src->next) {
        json_t *e = json_object();
        if (!e || json_array_append_new(a, e) != 0 || !put(e, "source", vmsec__json_str(src->domain)) ||
            !put_num(e, "forwarding", src->active) || !put_num(e, "pending", src->pending))
            return false;
    }
    return true;
}

static bool put_session(json_t *a, const struct session *s, int64_t now)
{
    json_t *e = json_object();
    return e && json_array_append_new(a, e) == 0 && put_num(e, "session", s->id) &&
           put(e, "state", vmsec__json_str(state_name(s->state))) && put(e, "source", vmsec__json_str(s->domain)) &&
           put_num(e, "source_cid", s->cid) && put(e, "target", vmsec__json_str(s->target)) &&
           put(e, "service", vmsec__json_str(s->service)) && put_num(e, "bytes_to_target", s->bytes_c2t) &&
           put_num(e, "bytes_to_source", s->bytes_t2c) &&
           put_num(e, "age_ms", now > s->started ? (uint64_t)(now - s->started) : 0);
}

static bool put_sessions(json_t *o, const vmsec_relay *r)
{
    json_t *a = json_array();
    if (!put(o, "sessions", a))
        return false;
    int64_t now = vmsec__relay_now_ms();
    size_t n = 0;
    for (const struct session *s = r->sessions; s; s = s->next, n++)
        if (n < SNAPSHOT_MAX_SESSIONS && !put_session(a, s, now))
            return false;
    return put_num(o, "sessions_not_listed", n > SNAPSHOT_MAX_SESSIONS ? n - SNAPSHOT_MAX_SESSIONS : 0);
}

/* Per peer relay: its links' state and what they carried (federation). */
static bool put_links(json_t *o, const vmsec_relay *r)
{
    json_t *a = json_array();
    if (!put(o, "links", a))
        return false;
    struct relay_link_stat st;
    for (const struct relay_peer *p = vmsec__relay_link_peer_stat(r, NULL, &st); p;
         p = vmsec__relay_link_peer_stat(r, p, &st)) {
        json_t *e = json_object();
        if (!e || json_array_append_new(a, e) != 0 || !put(e, "peer", vmsec__json_str(st.peer)) ||
            !put(e, "state", vmsec__json_str(st.state)) || !put_num(e, "links", st.links) ||
            !put_num(e, "sessions", st.sessions) || !put_num(e, "bytes_to_peer", st.bytes_to_peer) ||
            !put_num(e, "bytes_from_peer", st.bytes_from_peer) ||
            (st.last_error && !put(e, "last_error", vmsec__json_str(st.last_error))))
            return false;
    }
    return true;
}

int vmsec_relay_snapshot_json(vmsec_relay *r, char **out)
{
    if (out)
        *out = NULL;
    if (!r || !out)
        return vmsec__error(VMSEC_EINVAL, "relay snapshot: NULL argument");
    json_t *o = json_object();
    bool ok = o && put_num(o, "version", 1) && put_counters(o, r) && put_policy(o, r) && put_sources(o, r) &&
              put_sessions(o, r) && put_links(o, r);
    char *text = ok ? vmsec__json_dump(o) : NULL;
    json_decref(o);
    if (!text)
        return vmsec__error(VMSEC_ENOMEM, "relay snapshot: out of memory");
    *out = text;
    return 0;
}

void vmsec_relay_snapshot_free(char *json)
{
    free(json);
}
