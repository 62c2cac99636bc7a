/* SPDX-License-Identifier: ISC */
/* vmsecd: keeps the isolation profiles recorded in domains' metadata true over every domain's
 * life, on every libvirt host it is given, through libvirt's events.
 *
 *   vmsecd [-c URI]... [options]
 *   vmsecd --status [--control PATH] [--json]
 *
 * One thread runs libvirt's default event loop; domain events, the periodic verify, reconnects,
 * the control socket and signals are all callbacks of that loop. SIGHUP reopens the audit file;
 * SIGTERM and SIGINT stop. See vmsecd(1). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "vmsecd.h"

extern cli vmsecd_cli;

static vmsecd daemon_state;
static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_hup;

/* The metrics server reads a rendered snapshot; refresh it after every change. */
void vmsecd_state_changed(vmsecd *d)
{
    if (d->opt.metrics)
        vmsecd_metrics_publish(vmsecd_state_metrics(d));
}

static void on_signal(int sig)
{
    char c = (char)sig;
    if (sig == SIGHUP)
        got_hup = 1;
    else
        daemon_state.stop = 1;
    (void)!write(sig_pipe[1], &c, 1);
}

/* Wakes the event loop so it sees stop and got_hup. */
static void on_sig_pipe(int watch, int fd, int events, void *opaque)
{
    char buf[16];
    vmsecd *d = opaque;
    (void)watch;
    (void)events;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    if (got_hup) {
        got_hup = 0;
        if (vmsecd_audit_open(d) < 0)
            cli_message(&vmsecd_cli, "keeping the previous audit output");
    }
}

static int setup_signals(vmsecd *d)
{
    struct sigaction sa = {.sa_handler = on_signal};
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return virEventAddHandle(sig_pipe[0], VIR_EVENT_HANDLE_READABLE, on_sig_pipe, d, NULL) < 0 ? -1 : 0;
}

/* libvirt's own error printing would duplicate what the audit records say. */
static void quiet_libvirt(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

static int run(vmsecd *d)
{
    if (vmsecd_audit_open(d) < 0)
        return CLI_EXIT_FAILURE;
    virSetErrorFunc(NULL, quiet_libvirt);
    if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0)
        return cli_error(&vmsecd_cli, VMSEC_ELIBVIRT, "cannot set up libvirt's event loop");
    if (setup_signals(d) < 0)
        return cli_error(&vmsecd_cli, VMSEC_EIO, "cannot set up signal handling");
    if (d->opt.control && vmsecd_control_listen(d, d->opt.control) < 0)
        return CLI_EXIT_FAILURE;
    if (d->opt.metrics) {
        if (vmsecd_metrics_start(d->opt.metrics) < 0)
            return CLI_EXIT_FAILURE;
        vmsecd_state_changed(d);
    }
    if (vmsecd_watch_start(d) < 0)
        return cli_error(&vmsecd_cli, VMSEC_ELIBVIRT, "cannot start the libvirt watches");
    vmsecd_notify("STATUS=connecting");
    while (!d->stop)
        if (virEventRunDefaultImpl() < 0) {
            cli_error(&vmsecd_cli, VMSEC_ELIBVIRT, "event loop failed");
            break;
        }
    vmsecd_notify("STOPPING=1");
    vmsecd_watch_stop(d);
    vmsecd_control_close();
    vmsecd_metrics_stop();
    vmsecd_replan_clear(d);
    return d->stop ? 0 : CLI_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    vmsecd *d = &daemon_state;
    vmsecd_options_parse(&d->opt, argc, argv);
    if (d->opt.status)
        return vmsecd_status_client(d->opt.control ? d->opt.control : VMSECD_DEFAULT_CONTROL, d->opt.json);
    return run(d);
}
