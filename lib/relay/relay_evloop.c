/* SPDX-License-Identifier: ISC */
/* The libvirt event loop the relay's directory needs for domain events and close callbacks.
 *
 * libvirt has one event implementation per process (virEventRegisterDefaultImpl() or
 * virEventRegisterImpl(), global and never undone). A library must not take that over from the
 * application embedding it, so: if an implementation is already registered when the first
 * directory opens, the application's loop delivers our events (it must keep running it); else
 * we register libvirt's default implementation and run it on a thread of ours, shared by every
 * directory in the process and stopped when the last one closes. An application that registers
 * its own implementation only after a relay used libvirt gets an error from libvirt: doc/RELAY.md. */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/internal.h"
#include "relay/relay_internal.h"

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int ev_users;
static bool ev_ours;    /* we registered the default implementation (sticks for the process) */
static bool ev_running; /* our thread runs it */
static int ev_stop;
static int ev_timer = -1;
static pthread_t ev_thread;

static void noop(int timer, void *opaque)
{
    (void)opaque;
    /* Fires once to wake the loop when it must stop; then sleeps again. */
    virEventUpdateTimeout(timer, -1);
}

static void *run(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&ev_stop, __ATOMIC_ACQUIRE))
        if (virEventRunDefaultImpl() < 0)
            break;
    return NULL;
}

/* Whether some implementation is registered: adding a timer fails only when none is. */
static bool impl_registered(void)
{
    int t = virEventAddTimeout(-1, noop, NULL, NULL);
    if (t < 0)
        return false;
    virEventRemoveTimeout(t);
    return true;
}

static int start_locked(void)
{
    if (!ev_ours) {
        if (impl_registered())
            return 0; /* the application's loop */
        if (virEventRegisterDefaultImpl() < 0)
            return vmsec__error(VMSEC_ELIBVIRT, "relay: cannot register libvirt's event loop: %s",
                                virGetLastErrorMessage());
        ev_ours = true;
    }
    if (ev_running)
        return 0;
    ev_timer = virEventAddTimeout(-1, noop, NULL, NULL);
    __atomic_store_n(&ev_stop, 0, __ATOMIC_RELEASE);
    if (ev_timer < 0 || pthread_create(&ev_thread, NULL, run, NULL) != 0) {
        if (ev_timer >= 0)
            virEventRemoveTimeout(ev_timer);
        ev_timer = -1;
        return vmsec__error(VMSEC_ENOMEM, "relay: cannot start the libvirt event thread");
    }
    ev_running = true;
    return 0;
}

int vmsec__relay_evloop_acquire(void)
{
    pthread_mutex_lock(&ev_lock);
    int rc = start_locked();
    if (rc == 0)
        ev_users++;
    pthread_mutex_unlock(&ev_lock);
    return rc;
}

void vmsec__relay_evloop_release(void)
{
    pthread_mutex_lock(&ev_lock);
    if (ev_users && --ev_users == 0 && ev_running) {
        /* One more turn of the loop after the stop flag: it also finishes removing the watches
         * of connections closed just before, so their memory is released. */
        __atomic_store_n(&ev_stop, 1, __ATOMIC_RELEASE);
        virEventUpdateTimeout(ev_timer, 0);
        pthread_join(ev_thread, NULL);
        virEventRemoveTimeout(ev_timer);
        ev_timer = -1;
        ev_running = false;
    }
    pthread_mutex_unlock(&ev_lock);
}
