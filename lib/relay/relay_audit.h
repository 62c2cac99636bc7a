/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: the relay's audit records (one JSON object per line) and the sinks they go
 * to: a descriptor, an append-only file, syslog and a callback. */
#ifndef VMSEC_RELAY_AUDIT_H
#define VMSEC_RELAY_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "relay/relay_core.h"

/* One record being built: vmsec__relay_jbegin(), fields, then vmsec__relay_jemit(), which frees it
 * (every jbegin must reach a jemit). */
struct jbuf {
    json_t *o;     /* the record; NULL once memory ran out */
    char time[32]; /* kept beside it for the record saying memory ran out */
    char event[32];
};

void vmsec__relay_jbegin(struct jbuf *j, const char *event);
void vmsec__relay_jstr(struct jbuf *j, const char *key, const char *val);
void vmsec__relay_jnum(struct jbuf *j, const char *key, uint64_t v);
/* The session's identity: id, source, and target and service once the request named them. */
void vmsec__relay_jsession(struct jbuf *j, const struct session *s);
/* The UUIDs the directory gave for the session's source and target, when it gave any. */
void vmsec__relay_juuids(struct jbuf *j, const struct session *s);
/* Closes the record and writes it to every configured sink. */
void vmsec__relay_jemit(vmsec_relay *r, struct jbuf *j);

/* The record of a file loaded into the relay (event "policy" or "peers"): loaded with its count
 * (count_key), or invalid with the error (vmsec_error_last(), also copied to msg) and what the
 * relay does now (effect). */
void vmsec__relay_audit_load(vmsec_relay *r, const char *event, const char *path, int rc, const char *count_key,
                             uint64_t count, const char *effect, char *msg, size_t msg_cap);
void vmsec__relay_audit_event(vmsec_relay *r, const struct session *s, const char *event, const char *reason);
void vmsec__relay_audit_decision(vmsec_relay *r, const struct session *s, bool allow, const char *rule);
/* Writes the aggregate record of every source whose interval has ended (all of them if @p all),
 * and schedules the loop to come back when the next one ends. */
void vmsec__relay_audit_flush(vmsec_relay *r, bool all);

#endif
