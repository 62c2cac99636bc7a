/* SPDX-License-Identifier: ISC */
/* The channel engine's timers (protocol version 2): keep-alives, the dead-peer timeout and the
 * time-based rekey. The engine reads no clock; the caller's ticks carry the time. */
#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "channel/engine_internal.h"

#define NEVER UINT64_MAX

static uint64_t after(uint64_t t, uint64_t interval)
{
    return t > NEVER - interval ? NEVER : t + interval;
}

static uint64_t rekey_ms(const vmsec_engine *e)
{
    return (uint64_t)e->cfg.rekey_time_s * 1000;
}

/* Whether the send-side timers (keep-alive, rekey) run: version 2, configured, handshake done. */
static bool send_timers_apply(const vmsec_engine *e, int st)
{
    return e->cfg.version >= 2 && (e->cfg.keepalive_ms || e->cfg.rekey_time_s) &&
           (st == VMSEC_STATE_OPEN || st == VMSEC_STATE_CLOSED);
}

/* The dead-peer timer runs from the end of the handshake until the peer's close_notify. */
static bool recv_timer_applies(const vmsec_engine *e, int st)
{
    return e->cfg.version >= 2 && e->cfg.dead_after_ms && st == VMSEC_STATE_OPEN;
}

int vmsec__engine_tick_recv(vmsec_engine *e, uint64_t now, int side)
{
    bool off = false;
    uint64_t last;
    if (!recv_timer_applies(e, atomic_load(&e->state)))
        return 0;
    if (atomic_compare_exchange_strong(&e->recv_timer_on, &off, true)) {
        atomic_store(&e->recv_activity, false);
        atomic_store(&e->last_recv, now);
        return 0;
    }
    if (atomic_exchange(&e->recv_activity, false))
        atomic_store(&e->last_recv, now);
    last = atomic_load(&e->last_recv);
    if (now < after(last, e->cfg.dead_after_ms))
        return 0;
    return vmsec__engine_fail(e, side, VMSEC_EPEERDEAD, "peer sent nothing for %llu ms (dead-peer timeout %u ms)",
                              (unsigned long long)(now - last), e->cfg.dead_after_ms);
}

static int tick_send(vmsec_engine *e, uint64_t now)
{
    int rc;
    if (e->send_closed) { /* nothing more to send: disarm, so no event loop wakes up for them */
        atomic_store(&e->last_sent, NEVER);
        atomic_store(&e->last_rekey, NEVER);
        atomic_store(&e->send_timers_on, true);
        return 0;
    }
    if (!atomic_load(&e->send_timers_on)) {
        atomic_store(&e->last_sent, now);
        atomic_store(&e->last_rekey, now);
        atomic_store(&e->send_timers_on, true);
        e->sent_activity = false;
        return 0;
    }
    if (e->sent_activity)
        atomic_store(&e->last_sent, now);
    if (e->cfg.rekey_time_s && now >= after(atomic_load(&e->last_rekey), rekey_ms(e))) {
        if ((rc = vmsec__engine_send_control(e, REC_REKEY)) < 0)
            return rc;
        atomic_store(&e->last_rekey, now);
        atomic_store(&e->last_sent, now);
    }
    if (e->cfg.keepalive_ms && now >= after(atomic_load(&e->last_sent), e->cfg.keepalive_ms)) {
        if ((rc = vmsec__engine_send_control(e, REC_KEEPALIVE)) < 0)
            return rc;
        atomic_store(&e->last_sent, now);
    }
    e->sent_activity = false;
    return 0;
}

void vmsec__engine_stamp_sent(vmsec_engine *e, uint64_t now)
{
    if (e->sent_activity && atomic_load(&e->send_timers_on) && !e->send_closed) {
        atomic_store(&e->last_sent, now);
        e->sent_activity = false;
    }
}

int vmsec__engine_tick_send(vmsec_engine *e, uint64_t now)
{
    int rc;
    if ((rc = vmsec__engine_failed_guard(e, 0)) < 0)
        return rc;
    if (!send_timers_apply(e, atomic_load(&e->state)))
        return 0;
    return tick_send(e, now);
}

int vmsec_engine_tick(vmsec_engine *e, uint64_t now_ms)
{
    int rc;
    if (!e)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_tick: engine is NULL");
    if ((rc = vmsec__engine_failed_guard(e, 0)) < 0 || (rc = vmsec__engine_tick_recv(e, now_ms, 0)) < 0)
        return rc;
    return vmsec__engine_tick_send(e, now_ms);
}

int vmsec__engine_next_deadline(const vmsec_engine *e, bool send_side, uint64_t *deadline_ms)
{
    int st = atomic_load(&e->state);
    uint64_t d = NEVER;
    if (send_side && send_timers_apply(e, st)) {
        if (!atomic_load(&e->send_timers_on))
            d = 0;
        if (e->cfg.keepalive_ms && after(atomic_load(&e->last_sent), e->cfg.keepalive_ms) < d)
            d = after(atomic_load(&e->last_sent), e->cfg.keepalive_ms);
        if (e->cfg.rekey_time_s && after(atomic_load(&e->last_rekey), rekey_ms(e)) < d)
            d = after(atomic_load(&e->last_rekey), rekey_ms(e));
    }
    if (recv_timer_applies(e, st)) {
        if (!atomic_load(&e->recv_timer_on))
            d = 0;
        else if (after(atomic_load(&e->last_recv), e->cfg.dead_after_ms) < d)
            d = after(atomic_load(&e->last_recv), e->cfg.dead_after_ms);
    }
    *deadline_ms = d;
    return d != NEVER;
}

int vmsec_engine_next_deadline(const vmsec_engine *e, uint64_t *deadline_ms)
{
    if (!e || !deadline_ms)
        return vmsec__error(VMSEC_EINVAL, "vmsec_engine_next_deadline: NULL argument");
    return vmsec__engine_next_deadline(e, true, deadline_ms);
}
