/* SPDX-License-Identifier: ISC */
/* vmsecd's shared state: the options, one watch per libvirt URI, one entry per enforced domain.
 * Private to the daemon (the files of daemon/). Everything runs on the thread that runs libvirt's
 * default event loop, except the metrics server, which only reads a text snapshot under its own
 * lock, and the threads that open connections (watch.c), which hand theirs over through a pipe. */
#ifndef VMSECD_H
#define VMSECD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <vmsec.h>

#define VMSECD_MAX_URIS 16
#define VMSECD_DEFAULT_URI "qemu:///system"
#define VMSECD_DEFAULT_CONTROL "/run/vmsecd.sock"

enum vmsecd_drift { VMSECD_DRIFT_REPORT = 0, VMSECD_DRIFT_REPAIR = 1 };

typedef struct vmsecd_options {
    const char *uris[VMSECD_MAX_URIS];
    size_t nuris;
    unsigned int interval;            /* seconds between periodic verifies */
    int drift;                        /* enum vmsecd_drift */
    unsigned int repair_min_interval; /* seconds between two repairs of one domain */
    unsigned int reconnect_max;       /* cap of the reconnect backoff, seconds */
    const char *audit;                /* NULL: stderr */
    const char *control;              /* NULL: no control socket */
    const char *metrics;              /* ADDR:PORT, NULL: no metrics */
    const char *match;                /* glob on domain names, NULL: every domain */
    bool status;                      /* client mode: print the daemon's state */
    bool json;                        /* client mode: the JSON document as it is */
} vmsecd_options;

/* What the last look at a domain found. */
enum vmsecd_status { VMSECD_UNCHECKED = 0, VMSECD_OK, VMSECD_DRIFTED, VMSECD_ERROR, VMSECD_NSTATUS };

typedef struct vmsecd_domain {
    struct vmsecd_domain *next;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char name[256];
    char profile[VMSEC_PROFILE_NAME_MAX + 1];
    char digest[VMSEC_PROFILE_DIGEST_MAX];
    int status;                       /* enum vmsecd_status */
    char *drifted;                    /* settings that drifted at the last verify, comma separated */
    unsigned long repairs;
    double last_verify;               /* wall clock, seconds; 0: never */
    double last_repair;               /* monotonic, seconds; 0: never */
    bool seen;                        /* marked during a resync */
    char *pins;                       /* the CPUs its profile pins (list syntax), NULL: none */
} vmsecd_domain;

typedef struct vmsecd_uri {
    const char *uri;
    char host[256];
    virConnectPtr conn;               /* NULL while disconnected */
    int cb_lifecycle, cb_metadata;    /* libvirt callback ids, -1 when not registered */
    bool close_pending;               /* the close callback ran; tear down from a timer */
    bool attempted;                   /* the first connect attempt is over (for READY=1) */
    bool connecting;                  /* a thread is opening the connection */
    virConnectPtr opened;             /* what that thread opened, NULL on failure */
    char open_error[512];             /* why the last open failed */
    unsigned int backoff;             /* seconds before the next reconnect attempt */
    int timer;                        /* reconnect timer, -1 when none */
    double last_resync;               /* wall clock; 0: never */
    double event_lag;                 /* seconds from the last event to its verify's end */
    double event_at;                  /* wall clock the event being handled arrived; 0: none */
    unsigned long reconnects;
    vmsecd_domain *domains;
    vmsec_topology *topology;         /* the host's, read at connect; NULL: unknown */
    struct vmsecd *d;
} vmsecd_uri;

typedef struct vmsecd {
    vmsecd_options opt;
    vmsecd_uri uris[VMSECD_MAX_URIS];
    size_t nuris;
    FILE *audit;
    unsigned long drifts, repairs, verifies, errors;
    double verify_seconds;            /* duration of the last verify */
    double verify_seconds_sum;
    bool ready;
    struct vmsecd_replan *replans;    /* replans handed to the hook, newest first */
    volatile int stop;
} vmsecd;

/* options.c */
int vmsecd_options_parse(vmsecd_options *o, int argc, char **argv);

/* audit.c: one JSON line per record; fields are key/value string pairs ended by NULL. */
int vmsecd_audit_open(vmsecd *d);
void vmsecd_audit(vmsecd *d, const char *event, const vmsecd_uri *u, const vmsecd_domain *dom, ...)
    __attribute__((sentinel));
double vmsecd_now(void);
void vmsecd_time_text(double t, char *buf, size_t size); /* wall clock seconds as the records' time */
double vmsecd_mono(void);

/* watch.c */
int vmsecd_watch_start(vmsecd *d);
void vmsecd_watch_stop(vmsecd *d);

/* enforce.c: reason says why the domain is looked at; apply says the live part is applied first. */
void vmsecd_enforce_domain(vmsecd_uri *u, virDomainPtr dom, bool apply, const char *reason);
void vmsecd_enforce_forget(vmsecd_uri *u, const char *uuid);
bool vmsecd_enforce_known(vmsecd_uri *u, virDomainPtr dom); /* it has an entry: enforced before */
void vmsecd_enforce_all(vmsecd_uri *u, const char *reason);
void vmsecd_domain_free(vmsecd_domain *dom);

/* state.c: the daemon's state as one JSON document and as Prometheus text (malloc'd). */
const char *vmsecd_status_name(int status);
char *vmsecd_state_json(const vmsecd *d);
char *vmsecd_state_metrics(const vmsecd *d);
void vmsecd_state_changed(vmsecd *d);

/* control.c */
int vmsecd_control_listen(vmsecd *d, const char *path);
void vmsecd_control_close(void);
int vmsecd_status_client(const char *path, bool json);

/* replan.c: the hook's re-plan of a domain's pins (the reply document), the replans it remembers
 * until the domain starts, and the topology of a connection's host. */
json_t *vmsecd_replan(vmsecd *d, const char *xml, const char *uri);
char *vmsecd_replan_pins(const vmsec_profile *p);
void vmsecd_replan_topology(vmsecd_uri *u);
bool vmsecd_replan_pending(const vmsecd *d, const char *name);
bool vmsecd_replan_take(vmsecd *d, const char *name, const char *digest);
void vmsecd_replan_clear(vmsecd *d);

/* metrics.c */
int vmsecd_metrics_start(const char *addr_port);
void vmsecd_metrics_publish(char *text);
void vmsecd_metrics_stop(void);

/* notify.c: sd_notify, a no-op without NOTIFY_SOCKET. */
void vmsecd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
