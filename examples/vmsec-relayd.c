/* SPDX-License-Identifier: ISC */
/* vmsec-relayd: the host relay for guest-to-guest vmsec channels.
 *
 *   vmsec-relayd -p POLICY [options]
 *
 * Listens on a vsock port of the host (and optionally a unix socket for host services), identifies
 * each caller by its vsock CID through libvirt, decides by the policy, and forwards ciphertext
 * between caller and target. SIGHUP reloads the policy (an invalid policy denies everything until
 * fixed) and the peer file (an invalid one leaves no linked relay until fixed), and reopens the
 * audit file; SIGTERM and SIGINT stop accepting, let sessions finish for
 * the drain timeout, and exit. See doc/RELAY.md. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <vmsec.h>

#include "common/cli.h"
#include "vmsec-relayd-status.h"

static vmsec_relay *g_relay;
static volatile sig_atomic_t g_reload, g_stop;
static cli app;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        g_reload = 1;
    else
        g_stop = 1;
    vmsec_relay_interrupt(g_relay);
}

static const cli_synopsis synopses[] = {
    { NULL, "-p POLICY [options]" }, { NULL, "--status [--status-socket PATH] [--json]" }, { NULL, NULL } };

#define STR_(x) #x
#define STR(x) STR_(x)
static const char options[] =
    "  -p, --policy FILE          relay policy (doc/policy-format.md)\n"
    "  -c, --check                parse the policy, report the first error, and exit\n"
    "  -v, --vsock-port N         vsock port to listen on (default " STR(VMSEC_RELAY_DEFAULT_PORT) ")\n"
    "  -V, --no-vsock             do not listen on vsock\n"
    "  -u, --unix PATH[=NAME]     also listen on a unix socket; callers are NAME: host (default)\n"
    "                             or host:SOMETHING, names no domain can take\n"
    "  -l, --libvirt URI          libvirt URI for CID lookups (default: libvirt's default)\n"
    "      --target-dir DIR       reach a target's service at the unix socket DIR/DOMAIN.PORT\n"
    "                             instead of its vsock CID (host services, tests)\n"
    "      --resync MS            resync the domain directory with libvirt this often (default 5000)\n"
    "      --key FILE             this relay's private key, for links with other relays\n"
    "      --peers FILE           linked relays: 'NAME tcp:ADDRESS:PORT|- x25519:KEY' lines\n"
    "      --listen-link ADDR     accept links from the peers on tcp:ADDRESS:PORT\n"
    "  -a, --audit-file FILE      append audit JSON lines to FILE\n"
    "  -s, --audit-syslog         send audit lines to syslog (LOG_AUTHPRIV)\n"
    "  -q, --quiet                do not write audit lines to standard error\n"
    "      --max-sessions N       sessions in any state (default 1024)\n"
    "      --max-per-source N     forwarding sessions per source domain (default 64)\n"
    "      --max-pending N        not-yet-forwarding sessions per source domain (default 8)\n"
    "      --buffer BYTES         buffer per direction per session (default 65536)\n"
    "      --request-timeout MS   time for a caller's request (default 5000)\n"
    "      --connect-timeout MS   time for a target to accept (default 5000)\n"
    "      --idle-timeout MS      close sessions idle this long (default: never)\n"
    "      --drain-timeout MS     on SIGTERM, let sessions finish this long (default 5000)\n"
    "      --status-socket PATH   answer status requests on this unix socket (mode 0600)\n"
    "      --status               print the running relay's sessions and counters, and exit\n"
    "                             (from --status-socket PATH, default " RELAYD_STATUS_DEFAULT ")\n"
    "      --json                 with --status: print the status document as JSON\n";

static int fail(const char *what)
{
    return cli_fail(&app, what);
}

/* --target-dir: the target's service port is the unix socket DIR/DOMAIN.PORT. A domain name has no
 * '/', so the path stays in DIR; a missing socket is the relay's no-such-target. */
static int connect_target_dir(void *dir, const char *domain, uint32_t port, int *fd)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.%u", (const char *)dir, domain, port);
    if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
        return VMSEC_ETOOBIG;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return VMSEC_EIO;
    if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS && errno != EAGAIN) {
        int e = errno;
        close(s);
        return e == ENOENT ? VMSEC_ENOTFOUND : VMSEC_ECONNREFUSED;
    }
    *fd = s;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"policy", required_argument, NULL, 'p'},     {"check", no_argument, NULL, 'c'},
        {"vsock-port", required_argument, NULL, 'v'}, {"no-vsock", no_argument, NULL, 'V'},
        {"unix", required_argument, NULL, 'u'},       {"libvirt", required_argument, NULL, 'l'},
        {"audit-file", required_argument, NULL, 'a'}, {"audit-syslog", no_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {"max-sessions", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_SESSIONS},
        {"max-per-source", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_PER_SOURCE},
        {"max-pending", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_PENDING_PER_SOURCE},
        {"buffer", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_BUFFER},
        {"request-timeout", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS},
        {"connect-timeout", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS},
        {"idle-timeout", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS},
        {"drain-timeout", required_argument, NULL, 'd'},
        {"resync", required_argument, NULL, 'r'},
        {"target-dir", required_argument, NULL, 'D'},
        {"key", required_argument, NULL, 'K'},
        {"peers", required_argument, NULL, 'P'},
        {"listen-link", required_argument, NULL, 'L'},
        {"status-socket", required_argument, NULL, 'S'},
        {"status", no_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'J'},
        CLI_COMMON_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *policy = NULL, *unix_arg = NULL, *uri = NULL, *audit_file = NULL, *status_path = NULL;
    char *target_dir = NULL; /* optarg, not const: it is the connect callback's user pointer */
    const char *key_file = NULL, *peers_file = NULL, *link_addr = NULL;
    bool status = false, json = false;
    unsigned int port = VMSEC_RELAY_DEFAULT_PORT, limits[16] = {0}, set[16] = {0}, drain_ms = 5000, resync_ms = 0;
    int check = 0, vsock = 1, use_syslog = 0, quiet = 0, opt;

    cli_init(&app, "vmsec-relayd", synopses, options,
             "exit status: 0 clean stop or policy ok (--check), 1 error, 2 usage error\n", CLI_EXIT_FAILURE, argc,
             argv);
    while ((opt = cli_getopt(&app, argc, argv, "p:cv:Vu:l:a:sqh", opts)) != -1) {
        switch (opt) {
        case 'p': policy = optarg; break;
        case 'c': check = 1; break;
        case 'v': port = (unsigned int)cli_number(&app, optarg, UINT_MAX); break;
        case 'V': vsock = 0; break;
        case 'd': drain_ms = (unsigned int)cli_number(&app, optarg, INT_MAX); break;
        case 'r': resync_ms = (unsigned int)cli_number(&app, optarg, UINT_MAX); break;
        case 'u': unix_arg = optarg; break;
        case 'l': uri = optarg; break;
        case 'D': target_dir = optarg; break;
        case 'a': audit_file = optarg; break;
        case 's': use_syslog = 1; break;
        case 'q': quiet = 1; break;
        case 'S': status_path = optarg; break;
        case 'T': status = true; break;
        case 'J': json = true; break;
        case 'K': key_file = optarg; break;
        case 'P': peers_file = optarg; break;
        case 'L': link_addr = optarg; break;
        default: /* the limits, 1000 + VMSEC_RELAY_LIMIT_* */
            limits[opt - 1000] = (unsigned int)cli_number(&app, optarg, UINT_MAX);
            set[opt - 1000] = 1;
            break;
        }
    }
    if (json && !status)
        cli_usage_error(&app, "--json goes with --status");
    if (status) {
        cli_operands(&app, argc, argv, NULL, 0);
        return relayd_status_client(status_path ? status_path : RELAYD_STATUS_DEFAULT, json);
    }
    if (!policy)
        cli_usage_error(&app, "missing option -p POLICY");
    if ((peers_file || link_addr) && !key_file)
        cli_usage_error(&app, "--peers and --listen-link need --key");
    cli_operands(&app, argc, argv, NULL, 0);

    if (check) {
        vmsec_policy *p = NULL;
        if (vmsec_policy_load_file(&p, policy) < 0)
            return fail(NULL); /* the message names FILE:LINE */
        printf("%s: %zu rules, ok\n", policy, vmsec_policy_rule_count(p));
        vmsec_policy_free(p);
        return 0;
    }

    if (vmsec_relay_new(&g_relay) < 0)
        return fail("cannot create the relay");
    if (use_syslog) {
        openlog("vmsec-relayd", LOG_PID, LOG_AUTHPRIV);
        vmsec_relay_set_audit_syslog(g_relay, 1);
    }
    if (quiet)
        vmsec_relay_set_audit_fd(g_relay, -1);
    if (audit_file && vmsec_relay_set_audit_file(g_relay, audit_file) < 0)
        return fail("audit file");
    for (int i = 0; i < 16; i++)
        if (set[i] && vmsec_relay_set_limit(g_relay, i, limits[i]) < 0)
            return fail("limit");
    /* A policy that does not parse is reported and denies everything; the relay still starts so
     * a later SIGHUP with a fixed file brings it into service. */
    if (vmsec_relay_load_policy(g_relay, policy) < 0)
        cli_message(&app, "%s", vmsec_error_last());
    if (resync_ms && vmsec_relay_set_directory_resync(g_relay, resync_ms) < 0)
        return fail("--resync");
    if (vmsec_relay_use_libvirt(g_relay, uri) < 0)
        return fail("libvirt");
    /* after libvirt, which installs its own way to reach targets; callers are still identified */
    if (target_dir && vmsec_relay_set_connect(g_relay, connect_target_dir, target_dir) < 0)
        return fail("--target-dir");
    if (vsock && vmsec_relay_listen_vsock(g_relay, port) < 0)
        return fail("vsock listener");
    if (key_file) { /* federation: doc/RELAY.md, "Federation" */
        vmsec_keypair *kp = NULL;
        if (vmsec_keypair_load(&kp, key_file) < 0 || vmsec_relay_set_keypair(g_relay, kp) < 0)
            return fail("--key");
        vmsec_keypair_free(kp);
        if (peers_file && vmsec_relay_load_peers(g_relay, peers_file) < 0)
            return fail("--peers");
        if (link_addr && vmsec_relay_listen_link(g_relay, link_addr) < 0)
            return fail("--listen-link");
    }
    if (unix_arg) {
        char path[4096];
        const char *eq = strchr(unix_arg, '=');
        snprintf(path, sizeof(path), "%.*s", eq ? (int)(eq - unix_arg) : (int)strlen(unix_arg), unix_arg);
        if (vmsec_relay_listen_unix(g_relay, path, eq ? eq + 1 : "host") < 0)
            return fail("unix listener");
    }
    int status_fd = -1;
    if (status_path && (status_fd = relayd_status_listen(status_path)) < 0) {
        cli_message(&app, "status socket %s: %s", status_path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cli_message(&app, "ready");

    int rc = 0;
    while (!g_stop) {
        /* The relay's events, its deadlines and the status socket, in this one thread. */
        struct pollfd p[2] = {{.fd = vmsec_relay_fd(g_relay), .events = POLLIN}, {.fd = status_fd, .events = POLLIN}};
        if (poll(p, 2, vmsec_relay_next_timeout_ms(g_relay)) < 0 && errno != EINTR) {
            rc = fail("poll");
            break;
        }
        if (vmsec_relay_dispatch(g_relay, 0) < 0) {
            rc = fail("event loop");
            break;
        }
        if (p[1].revents & POLLIN)
            relayd_status_serve(g_relay, status_fd);
        if (g_reload) {
            g_reload = 0;
            if (vmsec_relay_load_policy(g_relay, policy) < 0)
                cli_message(&app, "reload: %s", vmsec_error_last());
            if (peers_file && vmsec_relay_reload_peers(g_relay, peers_file) < 0)
                cli_message(&app, "reload: %s", vmsec_error_last());
            if (audit_file && vmsec_relay_set_audit_file(g_relay, audit_file) < 0)
                cli_message(&app, "reopen audit file: %s", vmsec_error_last());
        }
    }
    /* Stop accepting; give established sessions a moment to finish (a second signal cuts it). */
    if (status_fd >= 0) {
        close(status_fd);
        unlink(status_path);
    }
    if (rc == 0 && vmsec_relay_shutdown(g_relay, (int)drain_ms) < 0)
        rc = fail("shutdown");
    vmsec_relay_free(g_relay);
    cli_message(&app, "stopped");
    return rc;
}
