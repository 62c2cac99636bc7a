/* SPDX-License-Identifier: ISC */
/* vmsec-relayd's status socket (vmsec-relayd-status.c). */
#ifndef VMSEC_RELAYD_STATUS_H
#define VMSEC_RELAYD_STATUS_H

#include <stdbool.h>

#include <vmsec.h>

/* Where --status looks when no --status-socket is given (the shipped unit listens there). */
#define RELAYD_STATUS_DEFAULT "/run/vmsec-relayd/status"

/* A listening socket at path, mode 0600, non-blocking; -1 with errno set. */
int relayd_status_listen(const char *path);
/* Answers every waiting connection on lfd with the relay's snapshot; call from the relay's thread. */
void relayd_status_serve(vmsec_relay *r, int lfd);
/* --status: prints the running relay's status (a table, or the JSON document); the exit status. */
int relayd_status_client(const char *path, bool json);

#endif
