/* SPDX-License-Identifier: ISC */
/* Helpers for the relay guest programs (tests/guest/vsock_relay*.c): a one-domain directory in
 * place of libvirt, audit records kept in memory, and the guests' end-to-end vmsec channel. */
#ifndef VMSEC_GRELAY_H
#define VMSEC_GRELAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsec.h>

#include "relay/relay_internal.h"

/* The directory: CID 1 (this guest, seen through loopback) is the running domain `name`, with
 * no tags. Install with vmsec__relay_set_directory(r, &gr_fixed_dir, &dir); change the name only
 * while the relay is not running. */
struct gr_dir {
    const char *name;
};
extern const struct relay_dir_ops gr_fixed_dir;

/* A relay's audit records, one a line; install with vmsec_relay_set_audit_callback(r, gr_on_audit,
 * &audit). Lines beyond the buffer are dropped. */
struct gr_audit {
    pthread_mutex_t lock;
    char buf[32768];
    size_t len;
};
void gr_audit_init(struct gr_audit *a);
void gr_audit_reset(struct gr_audit *a);
void gr_on_audit(void *user, const char *line);
/* Whether one record holds every fragment (a NULL-terminated list, at most 8). */
bool gr_audit_has(struct gr_audit *a, const char *first, ...) __attribute__((sentinel));
/* The same, waiting up to 20 s for such a record (records of a session's end may follow the
 * caller's reply): a missing record is a failure, not a hang; never asserted on time. */
bool gr_audit_wait(struct gr_audit *a, const char *first, ...) __attribute__((sentinel));

/* The guests' channel on a relayed descriptor (owned from here on, closed on failure): keypair kp,
 * trusting only peer; the handshake done within timeout_ms. NULL on failure (a diagnostic says
 * why). */
vmsec_channel *gr_channel_open(int fd, bool responder, const vmsec_keypair *kp, const uint8_t peer[32],
                               int timeout_ms);

#endif
