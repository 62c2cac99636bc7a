/* SPDX-License-Identifier: ISC */
/* vmsec-demo: both capabilities of libvmsec end to end, on any machine, without a daemon.
 *
 * 1. An isolation profile on libvirt's embedded test driver (test:///default, domain "test"): host
 *    check, transactional apply, verification against what libvirt reports. The test driver runs
 *    no QEMU process, so what the kernel enforces cannot be checked here, and the demo says so.
 * 2. A Noise channel between two peers with their own keys, over AF_VSOCK loopback when the
 *    kernel offers it and over a unix socket in a private temporary directory otherwise: mutual
 *    authentication, an echo exchange and the measured round trip.
 *
 * Text for people (aligned tables, status words) or --json for programs. Exit 0 on success. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vmsec.h>

#include "common/cli.h"
#include "common/json.h"

#define DEFAULT_URI "test:///default"
#define DEFAULT_DOMAIN "test"
#define PINGS 200
#define PING_BYTES 64
#define CELL 26 /* widest value shown in a table cell; longer ones (digests) are shortened */

/* Used when no profile file is given, so that an installed vmsec-demo needs no data files; it is
 * examples/profiles/demo.conf, made for the test driver's fake host (CPUs 0, 2 and 4 online). */
static const char builtin_profile[] =
    "name = demo\n"
    "vcpus = 2\n"
    "vcpu.0.pin = 2\n"
    "vcpu.1.pin = 4\n"
    "emulator.pin = 0\n"
    "memory.hard_limit = 1G\n"
    "memory.soft_limit = 768M\n";

static bool json;
static json_t *doc;       /* the --json document, written at the end */
static bool doc_complete = true; /* cleared when a member could not be added (out of memory) */
static const char *prog = "vmsec-demo";
static cli app;

static const cli_synopsis synopses[] = { { NULL, "[--json] [-c URI] [-d DOMAIN] [PROFILE]" }, { NULL, NULL } };

static const char options[] =
    "  PROFILE           profile file (default: a built-in profile for the test driver)\n"
    "  -c, --connect URI libvirt URI (default " DEFAULT_URI ", libvirt's embedded test driver)\n"
    "  -d, --domain NAME domain to apply the profile to (default " DEFAULT_DOMAIN ")\n"
    "      --json        one JSON document on standard output instead of tables (errors too)\n";

/* The step that failed and the library's reason. */
static int fail(const char *step)
{
    return cli_fail(&app, step);
}

/* --- output helpers --------------------------------------------------------------------------- */

/* doc[key] = v; v is stolen (a NULL v, from a constructor out of memory, marks the document
 * incomplete). */
static void add(json_t *obj, const char *key, json_t *v)
{
    if (vmsec__json_set(obj, key, v) < 0)
        doc_complete = false;
}

static void section(int n, const char *title, const char *status)
{
    if (!json)
        printf("\n%d. %-44s %s\n", n, title, status);
}

static void row(const char *key, const char *value)
{
    if (!json)
        printf("   %-16s %s\n", key, value);
}

static const char *cell(const char *s, char *buf, size_t size)
{
    if (!*s)
        return "-";
    if (strlen(s) <= CELL)
        return s;
    snprintf(buf, size, "%.*s...", CELL - 3, s);
    return buf;
}

/* Prints a report as an aligned table (long values shortened, detail last). */
static void print_report(const vmsec_report *r)
{
    char b1[CELL + 4], b2[CELL + 4];
    size_t n = vmsec_report_count(r), wset = strlen("SETTING"), wsrc = strlen("SOURCE");
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(vmsec_report_field(r, i, VMSEC_REPORT_SETTING));
        size_t b = strlen(vmsec_report_field(r, i, VMSEC_REPORT_SOURCE));
        wset = a > wset ? a : wset;
        wsrc = b > wsrc ? b : wsrc;
    }
    printf("   %-*s  %-9s  %-*s  %-*s  %-*s  %s\n", (int)wset, "SETTING", "STATUS", CELL, "EXPECTED", CELL,
           "ACTUAL", (int)wsrc, "SOURCE", "DETAIL");
    for (size_t i = 0; i < n; i++) {
        const char *src = vmsec_report_field(r, i, VMSEC_REPORT_SOURCE);
        const char *detail = vmsec_report_field(r, i, VMSEC_REPORT_DETAIL);
        printf("   %-*s  %-9s  %-*s  %-*s  %-*s%s%s\n", (int)wset, vmsec_report_field(r, i, VMSEC_REPORT_SETTING),
               vmsec_status_name(vmsec_report_status(r, i)), CELL,
               cell(vmsec_report_field(r, i, VMSEC_REPORT_EXPECTED), b1, sizeof(b1)), CELL,
               cell(vmsec_report_field(r, i, VMSEC_REPORT_ACTUAL), b2, sizeof(b2)), *detail ? (int)wsrc : 0,
               *src ? src : "-", *detail ? "  " : "", detail);
    }
}

/* doc[name] = the library's JSON of the report, as a tree. */
static void json_report(const char *name, const vmsec_report *r)
{
    char *s = NULL;
    json_t *v = NULL;
    json_error_t err;
    if (vmsec_report_format(r, VMSEC_REPORT_JSON, &s) < 0) {
        cli_fail(&app, name);
    } else if (!(v = json_loads(s, JSON_DECODE_ANY, &err))) {
        cli_error(&app, VMSEC_EFORMAT, "the %s report is not JSON: %s", name, err.text);
    }
    vmsec_report_string_free(s);
    add(doc, name, v ? v : json_null());
}

/* --- part 1: the isolation profile -------------------------------------------------------------- */

static int load_profile(const char *path, vmsec_profile **p)
{
    if (path)
        return vmsec_profile_load_file(p, path);
    return vmsec_profile_parse(p, builtin_profile, sizeof(builtin_profile) - 1, "built-in demo profile");
}

static int profile_part(const char *uri, const char *name, const char *path)
{
    vmsec_profile *p = NULL;
    vmsec_domain *d = NULL;
    vmsec_report *hc = NULL, *ap = NULL, *ve = NULL;
    char pname[VMSEC_PROFILE_NAME_MAX + 1] = "(unnamed)", digest[VMSEC_PROFILE_DIGEST_MAX], line[256];
    int rc = 1;
    bool testdrv = strncmp(uri, "test:", 5) == 0;

    if (load_profile(path, &p) < 0)
        return fail("loading the profile");
    vmsec_profile_get_name(p, pname, sizeof(pname));
    if (vmsec_profile_digest(p, digest, sizeof(digest)) < 0) {
        rc = fail("digest");
        goto out;
    }
    if (vmsec_domain_open(uri, name, &d) < 0) {
        rc = fail("opening the domain");
        goto out;
    }
    if (json) {
        json_t *pj = json_object(), *dj = json_object();
        add(pj, "name", vmsec__json_str(pname));
        add(pj, "source", vmsec__json_str(path ? path : "built-in"));
        add(pj, "digest", vmsec__json_str(digest));
        add(doc, "profile", pj);
        add(dj, "uri", vmsec__json_str(uri));
        add(dj, "name", vmsec__json_str(name));
        add(dj, "kernel_checks", json_boolean(!testdrv));
        add(doc, "domain", dj);
    } else {
        section(1, "Isolation profile", "LOADED");
        snprintf(line, sizeof(line), "%s (%s)", pname, path ? path : "built-in");
        row("profile", line);
        row("digest", digest);
        snprintf(line, sizeof(line), "%s on %s%s", name, uri, testdrv ? " (libvirt's embedded test driver)" : "");
        row("domain", line);
    }

    /* Host check: can this host enforce it at all? Nothing changes if not. */
    int hrc = vmsec_domain_host_check(d, p, 0, &hc);
    if (hrc < 0 && hrc != VMSEC_EHOST) {
        rc = fail("host check");
        goto out;
    }
    if (json) {
        json_report("host_check", hc);
    } else {
        section(2, "Host check", hrc == 0 ? "PASSED" : "FAILED");
        print_report(hc);
    }
    if (hrc < 0) {
        rc = fail("host check");
        goto out;
    }

    /* Apply: transactional; on failure every change is undone and the report says so. */
    int arc = vmsec_domain_apply(d, p, 0, &ap);
    if (json) {
        if (ap)
            json_report("apply", ap);
    } else {
        section(3, "Apply", arc == 0 ? "APPLIED" : arc == VMSEC_EROLLEDBACK ? "ROLLED BACK" : "FAILED");
        if (ap)
            print_report(ap);
    }
    if (arc < 0) {
        rc = fail("apply");
        goto out;
    }

    /* Verify: libvirt's view always; the kernel's only where QEMU runs on this host. */
    int vrc = vmsec_domain_verify(d, p, 0, &ve);
    if (vrc < 0 && vrc != VMSEC_EDRIFT) {
        rc = fail("verify");
        goto out;
    }
    size_t ok = vmsec_report_count_status(ve, VMSEC_STATUS_OK);
    size_t drift = vmsec_report_count_status(ve, VMSEC_STATUS_DRIFT);
    size_t unchecked = vmsec_report_count_status(ve, VMSEC_STATUS_UNCHECKED);
    if (json) {
        json_report("verify", ve);
    } else {
        snprintf(line, sizeof(line), "%s (%zu ok, %zu drift, %zu cannot be checked here)",
                 drift ? "DRIFT" : "NO DRIFT", ok, drift, unchecked);
        section(4, "Verify", line);
        print_report(ve);
        if (unchecked)
            printf("   note: %s\n",
                   testdrv ? "the test driver runs no QEMU process, so what the kernel enforces (cgroup files,\n"
                             "         thread affinity) cannot be checked here; on a QEMU host these rows read ok or drift."
                           : "rows marked unchecked could not be read on this host; the detail column says why.");
    }
    rc = vrc < 0 ? fail("verify (drift)") : 0;
out:
    vmsec_report_free(hc);
    vmsec_report_free(ap);
    vmsec_report_free(ve);
    vmsec_domain_free(d);
    vmsec_profile_free(p);
    return rc;
}

/* --- part 2: the channel -------------------------------------------------------------------------- */

struct responder {
    vmsec_channel_config *cfg;
    vmsec_listener *listener;
    uint8_t peer[VMSEC_KEY_BYTES];
    uint8_t hash[VMSEC_HANDSHAKE_HASH_MAX];
    size_t hash_len;
    size_t echoed;
    int rc;
    char error[256];
};

/* Accepts one channel and echoes every message until the initiator closes cleanly. */
static void *responder_main(void *arg)
{
    struct responder *r = arg;
    vmsec_channel *ch = NULL;
    uint8_t buf[PING_BYTES];
    size_t len;
    int rc = vmsec_channel_accept(&ch, r->cfg, r->listener);
    if (rc == 0)
        rc = vmsec_channel_peer_key(ch, r->peer, sizeof(r->peer));
    if (rc == 0)
        rc = vmsec_channel_handshake_hash(ch, r->hash, sizeof(r->hash), &r->hash_len);
    while (rc == 0 && (rc = vmsec_channel_recv(ch, buf, sizeof(buf), &len)) == 0) {
        rc = vmsec_channel_send(ch, buf, len, 0);
        r->echoed++;
    }
    if (rc == VMSEC_ECLOSED)
        rc = vmsec_channel_close(ch);
    if (rc < 0)
        snprintf(r->error, sizeof(r->error), "%s", vmsec_error_last());
    r->rc = rc;
    vmsec_channel_free(ch);
    return NULL;
}

/* Tries AF_VSOCK loopback (CID 1): listen on any port, and connect to it once. */
static int try_vsock(vmsec_listener **l, char *connect_to, size_t size, char *why, size_t why_size)
{
    char bound[VMSEC_ADDRESS_MAX];
    int fd = -1, afd = -1;
    const char *port;
    if (vmsec_listener_new(l, "vsock:any:any") < 0 || vmsec_listener_address(*l, bound, sizeof(bound)) < 0)
        goto unavailable;
    port = strrchr(bound, ':');
    snprintf(connect_to, size, "vsock:local:%s", port ? port + 1 : "");
    if (vmsec_transport_connect(connect_to, 500, &fd) < 0)
        goto unavailable;
    if (vmsec_listener_accept(*l, &afd, NULL, 0, NULL) < 0)
        goto unavailable;
    close(fd);
    close(afd);
    return 0;
unavailable:
    snprintf(why, why_size, "%s", vmsec_error_last());
    if (fd >= 0)
        close(fd);
    vmsec_listener_free(*l);
    *l = NULL;
    return -1;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static int fingerprint(const vmsec_keypair *kp, const uint8_t *raw, char *fp)
{
    uint8_t pub[VMSEC_KEY_BYTES];
    if (kp && vmsec_keypair_public(kp, pub, sizeof(pub)) < 0)
        return -1;
    return vmsec_pubkey_fingerprint(kp ? pub : raw, fp, VMSEC_FINGERPRINT_MAX);
}

/* Both configurations trust exactly the other side's key. */
static int configure(vmsec_keypair *self, vmsec_keypair *peer, vmsec_channel_config **cfg)
{
    uint8_t pub[VMSEC_KEY_BYTES];
    if (vmsec_channel_config_new(cfg) < 0 || vmsec_channel_config_set_keypair(*cfg, self) < 0 ||
        vmsec_keypair_public(peer, pub, sizeof(pub)) < 0 ||
        vmsec_channel_config_add_trusted_peer(*cfg, pub, sizeof(pub)) < 0)
        return -1;
    return vmsec_channel_config_set_handshake_timeout(*cfg, 10000);
}

static int exchange(vmsec_channel *ch, double *rtt)
{
    uint8_t ping[PING_BYTES], pong[PING_BYTES];
    size_t len;
    for (int i = 0; i < PINGS; i++) {
        memset(ping, i & 0xff, sizeof(ping));
        double t0 = now_us();
        if (vmsec_channel_send(ch, ping, sizeof(ping), 0) < 0 || vmsec_channel_recv(ch, pong, sizeof(pong), &len) < 0)
            return -1;
        rtt[i] = now_us() - t0;
        if (len != sizeof(ping) || memcmp(ping, pong, len) != 0) {
            cli_error(&app, VMSEC_EAUTH, "echo %d came back altered", i);
            return -1;
        }
    }
    return 0;
}

/* doc["channel"]; fps: own and proven peer fingerprints of the initiator, then of the responder. */
static void channel_json(const char *transport, const char *why, const char *address, const char *protocol,
                         const char *const fps[4], bool mutual, bool same_hash, size_t echoed, const double *rtt)
{
    json_t *cj = json_object(), *ij = json_object(), *rj = json_object(), *tj = json_object();
    add(cj, "transport", vmsec__json_str(transport));
    add(cj, "vsock_unavailable", *why ? vmsec__json_str(why) : json_null());
    add(cj, "address", vmsec__json_str(address));
    add(cj, "protocol", vmsec__json_str(protocol));
    add(ij, "fingerprint", vmsec__json_str(fps[0]));
    add(ij, "peer_fingerprint", vmsec__json_str(fps[1]));
    add(cj, "initiator", ij);
    add(rj, "fingerprint", vmsec__json_str(fps[2]));
    add(rj, "peer_fingerprint", vmsec__json_str(fps[3]));
    add(cj, "responder", rj);
    add(cj, "mutually_authenticated", json_boolean(mutual));
    add(cj, "handshake_hash_equal", json_boolean(same_hash));
    add(cj, "messages", json_integer(PINGS));
    add(cj, "message_bytes", json_integer(PING_BYTES));
    add(cj, "echoed", json_integer((json_int_t)echoed));
    add(tj, "min", json_real(rtt[0]));
    add(tj, "median", json_real(rtt[PINGS / 2]));
    add(tj, "max", json_real(rtt[PINGS - 1]));
    add(cj, "round_trip_us", tj);
    add(doc, "channel", cj);
}

static int channel_part(int n)
{
    vmsec_keypair *ikp = NULL, *rkp = NULL;
    vmsec_channel_config *icfg = NULL;
    vmsec_channel *ch = NULL;
    struct responder r = {0};
    pthread_t thread;
    bool started = false;
    char address[VMSEC_ADDRESS_MAX], why[256] = "", dir[] = "/tmp/vmsec-demo-XXXXXX", *tmpdir = NULL;
    char protocol[64], ifp[VMSEC_FINGERPRINT_MAX], rfp[VMSEC_FINGERPRINT_MAX], seen_by_i[VMSEC_FINGERPRINT_MAX],
        seen_by_r[VMSEC_FINGERPRINT_MAX], hhex[2 * VMSEC_HANDSHAKE_HASH_MAX + 1], line[320];
    uint8_t peer[VMSEC_KEY_BYTES], hash[VMSEC_HANDSHAKE_HASH_MAX];
    size_t hash_len = 0;
    double rtt[PINGS];
    const char *transport = "vsock";
    int rc = 1;

    if (vmsec_keypair_generate(&ikp) < 0 || vmsec_keypair_generate(&rkp) < 0)
        return fail("generating keys");
    if (configure(ikp, rkp, &icfg) < 0 || configure(rkp, ikp, &r.cfg) < 0) {
        rc = fail("channel configuration");
        goto out;
    }
    if (try_vsock(&r.listener, address, sizeof(address), why, sizeof(why)) < 0) {
        transport = "unix";
        if (!(tmpdir = mkdtemp(dir))) {
            rc = cli_error(&app, VMSEC_EIO, "mkdtemp: %s", strerror(errno));
            goto out;
        }
        snprintf(address, sizeof(address), "unix:%s/demo.sock", tmpdir);
        if (vmsec_listener_new(&r.listener, address) < 0) {
            rc = fail("listening");
            goto out;
        }
    }
    if (pthread_create(&thread, NULL, responder_main, &r) != 0) {
        rc = cli_error(&app, VMSEC_ENOMEM, "cannot start the responder thread");
        goto out;
    }
    started = true;
    if (vmsec_channel_connect(&ch, icfg, address) < 0) {
        rc = fail("connecting");
        goto out;
    }
    if (vmsec_channel_peer_key(ch, peer, sizeof(peer)) < 0 ||
        vmsec_channel_handshake_hash(ch, hash, sizeof(hash), &hash_len) < 0 || exchange(ch, rtt) < 0 ||
        vmsec_channel_close(ch) < 0 || vmsec_channel_recv(ch, NULL, 0, &(size_t){0}) != VMSEC_ECLOSED) {
        rc = fail("the message exchange");
        goto out;
    }
    pthread_join(thread, NULL);
    started = false;
    if (r.rc < 0) {
        rc = cli_error(&app, r.rc, "responder: %s", r.error);
        goto out;
    }
    if (vmsec_channel_config_get_protocol(icfg, protocol, sizeof(protocol)) < 0 || fingerprint(ikp, NULL, ifp) < 0 ||
        fingerprint(rkp, NULL, rfp) < 0 || fingerprint(NULL, peer, seen_by_i) < 0 ||
        fingerprint(NULL, r.peer, seen_by_r) < 0) {
        rc = fail("reading identities");
        goto out;
    }
    bool mutual = strcmp(seen_by_i, rfp) == 0 && strcmp(seen_by_r, ifp) == 0;
    bool same_hash = hash_len == r.hash_len && memcmp(hash, r.hash, hash_len) == 0;
    qsort(rtt, PINGS, sizeof(rtt[0]), cmp_double);
    hex(hash, hash_len < 8 ? hash_len : 8, hhex);

    if (json) {
        channel_json(transport, why, address, protocol, (const char *[]){ ifp, seen_by_i, rfp, seen_by_r }, mutual,
                     same_hash, r.echoed, rtt);
    } else {
        section(n, "Secure channel", mutual && same_hash ? "AUTHENTICATED" : "FAILED");
        if (*why)
            snprintf(line, sizeof(line), "unix socket in a private temporary directory (vsock unavailable: %s)", why);
        else
            snprintf(line, sizeof(line), "vsock loopback (CID 1)");
        row("transport", line);
        row("protocol", protocol);
        printf("   %-10s  %-20s  %-20s  %s\n", "PEER", "OWN KEY", "PEER KEY (PROVEN)", "STATUS");
        printf("   %-10s  %-20s  %-20s  %s\n", "initiator", ifp, seen_by_i, strcmp(seen_by_i, rfp) ? "MISMATCH" : "ok");
        printf("   %-10s  %-20s  %-20s  %s\n", "responder", rfp, seen_by_r, strcmp(seen_by_r, ifp) ? "MISMATCH" : "ok");
        snprintf(line, sizeof(line), "%s on both sides (%s...)", same_hash ? "equal" : "DIFFERENT", hhex);
        row("handshake hash", line);
        snprintf(line, sizeof(line), "%d sent, %zu echoed, %d bytes each, then a clean close", PINGS, r.echoed,
                 PING_BYTES);
        row("messages", line);
        snprintf(line, sizeof(line), "min %.1f us   median %.1f us   max %.1f us", rtt[0], rtt[PINGS / 2],
                 rtt[PINGS - 1]);
        row("round trip", line);
    }
    rc = mutual && same_hash && r.echoed == PINGS ? 0 : 1;
    if (rc)
        cli_error(&app, VMSEC_EAUTH, "the peers do not agree on identities or handshake");
out:
    if (started) { /* unblock a responder still waiting in accept or recv */
        vmsec_channel_free(ch);
        ch = NULL;
        if (r.listener)
            shutdown(vmsec_listener_fd(r.listener), SHUT_RDWR);
        pthread_join(thread, NULL);
    }
    vmsec_channel_free(ch);
    vmsec_listener_free(r.listener);
    if (tmpdir)
        rmdir(tmpdir);
    vmsec_channel_config_free(icfg);
    vmsec_channel_config_free(r.cfg);
    vmsec_keypair_free(ikp);
    vmsec_keypair_free(rkp);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },       { "connect", required_argument, NULL, 'c' },
        { "domain", required_argument, NULL, 'd' }, CLI_COMMON_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *uri = DEFAULT_URI, *domain = DEFAULT_DOMAIN, *path = NULL;
    int c, rc;

    cli_init(&app, prog, synopses, options, "exit status: 0 every step succeeded, 1 a step failed, 2 usage error\n",
             CLI_EXIT_FAILURE, argc, argv);
    while ((c = cli_getopt(&app, argc, argv, "c:d:h", opts)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'c': uri = optarg; break;
        case 'd': domain = optarg; break;
        }
    }
    app.json = json;
    if (argc - optind > 1)
        cli_usage_error(&app, "unexpected operand '%s'", argv[optind + 1]);
    path = optind < argc ? argv[optind] : NULL;
    if (json) { /* errors from here on are the document's "error" member */
        if (!(doc = json_object()))
            return cli_error(&app, VMSEC_ENOMEM, "out of memory");
        app.json_doc = doc;
        add(doc, "version", vmsec__json_str(vmsec_version_string()));
    }
    rc = vmsec_init() < 0 ? fail("initialisation") : 0;
    if (rc == 0 && !json)
        printf("vmsec %s: isolation profiles and authenticated channels, end to end\n", vmsec_version_string());
    if (rc == 0)
        rc = profile_part(uri, domain, path);
    if (rc == 0)
        rc = channel_part(5);
    if (json) {
        add(doc, "result", vmsec__json_str(rc == 0 ? "ok" : "failed"));
        if (!doc_complete || vmsec__json_dumpf(doc, stdout) < 0 || putchar('\n') == EOF || fflush(stdout) != 0) {
            app.json_doc = NULL;
            app.json = false; /* stdout is what failed */
            rc = cli_error(&app, VMSEC_EIO, "cannot write the JSON document");
        }
        json_decref(doc);
    } else
        printf("\nRESULT: %s\n", rc == 0 ? "OK (every step succeeded)" : "FAILED (the reason is on standard error)");
    return rc;
}
