/* vmsec-relayd: the host relay for guest-to-guest vmsec channels.
 *
 *   vmsec-relayd -p POLICY [options]
 *
 * Listens on a vsock port of the host (and optionally a unix socket for host services), identifies
 * each caller by its vsock CID through libvirt, decides by the policy, and forwards ciphertext
 * between caller and target. SIGHUP reloads the policy (an invalid policy denies everything until
 * fixed) and reopens the audit file; SIGTERM and SIGINT stop accepting, let sessions finish for
 * the drain timeout, and exit. See doc/RELAY.md. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <vmsec.h>

static vmsec_relay *g_relay;
static volatile sig_atomic_t g_reload, g_stop;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        g_reload = 1;
    else
        g_stop = 1;
    vmsec_relay_interrupt(g_relay);
}

static int usage(FILE *to, int rc)
{
    fprintf(to,
            "usage: vmsec-relayd -p POLICY [options]\n"
            "  -p, --policy FILE          relay policy (doc/policy-format.md)\n"
            "  -c, --check                parse the policy, report the first error, and exit\n"
            "  -v, --vsock-port N         vsock port to listen on (default %u)\n"
            "  -V, --no-vsock             do not listen on vsock\n"
            "  -u, --unix PATH[=NAME]     also listen on a unix socket; callers are NAME (default host)\n"
            "  -l, --libvirt URI          libvirt URI for CID lookups (default: libvirt's default)\n"
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
            "      --drain-timeout MS     on SIGTERM, let sessions finish this long (default 5000)\n",
            VMSEC_RELAY_DEFAULT_PORT);
    return rc;
}

static int parse_uint(const char *s, unsigned int *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v > UINT_MAX || s[0] == '-')
        return -1;
    *out = (unsigned int)v;
    return 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "vmsec-relayd: %s: %s\n", what, vmsec_error_last());
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"policy", required_argument, NULL, 'p'},     {"check", no_argument, NULL, 'c'},
        {"vsock-port", required_argument, NULL, 'v'}, {"no-vsock", no_argument, NULL, 'V'},
        {"unix", required_argument, NULL, 'u'},       {"libvirt", required_argument, NULL, 'l'},
        {"audit-file", required_argument, NULL, 'a'}, {"audit-syslog", no_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},            {"help", no_argument, NULL, 'h'},
        {"max-sessions", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_SESSIONS},
        {"max-per-source", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_PER_SOURCE},
        {"max-pending", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_PENDING_PER_SOURCE},
        {"buffer", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_BUFFER},
        {"request-timeout", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_REQUEST_TIMEOUT_MS},
        {"connect-timeout", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_CONNECT_TIMEOUT_MS},
        {"idle-timeout", required_argument, NULL, 1000 + VMSEC_RELAY_LIMIT_IDLE_TIMEOUT_MS},
        {"drain-timeout", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0}};
    const char *policy = NULL, *unix_arg = NULL, *uri = NULL, *audit_file = NULL;
    unsigned int port = VMSEC_RELAY_DEFAULT_PORT, limits[16] = {0}, set[16] = {0}, drain_ms = 5000;
    int check = 0, vsock = 1, use_syslog = 0, quiet = 0, opt;

    while ((opt = getopt_long(argc, argv, "p:cv:Vu:l:a:sqh", opts, NULL)) != -1) {
        switch (opt) {
        case 'p': policy = optarg; break;
        case 'c': check = 1; break;
        case 'v':
            if (parse_uint(optarg, &port) < 0)
                return usage(stderr, 2);
            break;
        case 'V': vsock = 0; break;
        case 'd':
            if (parse_uint(optarg, &drain_ms) < 0 || drain_ms > INT_MAX)
                return usage(stderr, 2);
            break;
        case 'u': unix_arg = optarg; break;
        case 'l': uri = optarg; break;
        case 'a': audit_file = optarg; break;
        case 's': use_syslog = 1; break;
        case 'q': quiet = 1; break;
        case 'h': return usage(stdout, 0);
        default:
            if (opt > 1000 && opt < 1016) {
                if (parse_uint(optarg, &limits[opt - 1000]) < 0)
                    return usage(stderr, 2);
                set[opt - 1000] = 1;
                break;
            }
            return usage(stderr, 2);
        }
    }
    if (!policy || optind != argc)
        return usage(stderr, 2);

    if (check) {
        vmsec_policy *p = NULL;
        if (vmsec_policy_load_file(&p, policy) < 0) {
            fprintf(stderr, "%s\n", vmsec_error_last());
            return 1;
        }
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
        fprintf(stderr, "vmsec-relayd: %s\n", vmsec_error_last());
    if (vmsec_relay_use_libvirt(g_relay, uri) < 0)
        return fail("libvirt");
    if (vsock && vmsec_relay_listen_vsock(g_relay, port) < 0)
        return fail("vsock listener");
    if (unix_arg) {
        char path[4096];
        const char *eq = strchr(unix_arg, '=');
        snprintf(path, sizeof(path), "%.*s", eq ? (int)(eq - unix_arg) : (int)strlen(unix_arg), unix_arg);
        if (vmsec_relay_listen_unix(g_relay, path, eq ? eq + 1 : "host") < 0)
            return fail("unix listener");
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "vmsec-relayd: ready\n");

    int rc = 0;
    while (!g_stop) {
        if (vmsec_relay_run(g_relay) < 0) {
            rc = fail("event loop");
            break;
        }
        if (g_reload) {
            g_reload = 0;
            if (vmsec_relay_load_policy(g_relay, policy) < 0)
                fprintf(stderr, "vmsec-relayd: reload: %s\n", vmsec_error_last());
            if (audit_file && vmsec_relay_set_audit_file(g_relay, audit_file) < 0)
                fprintf(stderr, "vmsec-relayd: reopen audit file: %s\n", vmsec_error_last());
        }
    }
    /* Stop accepting; give established sessions a moment to finish (a second signal cuts it). */
    if (rc == 0 && vmsec_relay_shutdown(g_relay, (int)drain_ms) < 0)
        rc = fail("shutdown");
    vmsec_relay_free(g_relay);
    fprintf(stderr, "vmsec-relayd: stopped\n");
    return rc;
}
