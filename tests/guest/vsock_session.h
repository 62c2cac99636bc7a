/* SPDX-License-Identifier: ISC */
/* Private to the vsock_session guest program: the fault proxy that sits between a session's two
 * ends over AF_VSOCK (vsock_session_proxy.c), and the vsock loopback transport's unload and reload
 * (vsock_session_module.c), which the rounds in vsock_session.c drive. */
#ifndef VMSEC_GUEST_VSOCK_SESSION_H
#define VMSEC_GUEST_VSOCK_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Ports: the responder's listener and the proxy in front of it. */
enum { PORT_SERVER = 7400, PORT_PROXY = 7401 };

#define MAX_PAIRS 8
#define EARLY_CUT 600 /* a cut within this many bytes of a connection: handshake, HELLO, WELCOME */

/* How the proxy ends a connection pair. */
enum cut_kind {
    CUT_CLOSE,    /* close(2) both sockets: each end sees the end of the stream */
    CUT_SHUTDOWN, /* shutdown(2) both sockets, then close them */
    CUT_HALF,     /* close the initiator's side only: the responder's link stays up, silent, until the
                     resume replaces it; its socket is closed at the next cut */
    CUT_KINDS
};

struct pair {
    int a, b;        /* initiator side, responder side; -1 = unused */
    uint64_t budget; /* bytes it relays (both ways) before the cut; UINT64_MAX: never */
    bool early;      /* the budget was below EARLY_CUT */
};

struct proxy {
    int lfd;
    uint64_t rng;
    uint64_t mean;          /* mean budget of a connection; 0: no random cuts */
    unsigned int cuts_max;  /* random cuts stop here, so that the transfer can finish */
    atomic_bool stop;
    atomic_bool dark_wanted; /* cut everything and stop listening (the transport goes away) */
    atomic_bool dark;        /* the proxy has no socket open */
    atomic_uint cuts, early_cuts, kinds[CUT_KINDS];
    atomic_uint connections;
    struct pair p[MAX_PAIRS];
    int orphan[MAX_PAIRS]; /* responder sides kept open by CUT_HALF */
    pthread_t t;
};

/* Starts the proxy thread on PORT_PROXY, relaying to PORT_SERVER on CID 1; 0 or -errno. */
int proxy_start(struct proxy *px, uint64_t seed, uint64_t mean, unsigned int cuts_max);
/* Stops the thread and closes everything. */
void proxy_stop(struct proxy *px);
/* Cuts every connection, closes the listener and waits until nothing is open (dark = true), or
 * until the proxy's next turn if ! dark. */
void proxy_set_dark(struct proxy *px, bool dark);

/* The loopback transport: unloaded (waiting, bounded, until nothing holds it) and loaded again from
 * the initramfs. Each returns 0 or -errno, and says why in a diagnostic. */
int module_unload(const char *name, unsigned int *attempts);
int module_load(const char *name);
bool module_loaded(const char *name);
/* The module's reference count (/sys/module/NAME/refcnt), -1 if unknown. */
long module_refcnt(const char *name);

#endif
