/* SPDX-License-Identifier: ISC */
/* vmsec-nc: netcat over an authenticated, encrypted vmsec channel.
 *
 *   vmsec-nc [options] ADDRESS       connect to ADDRESS
 *   vmsec-nc -l [options] ADDRESS    accept one connection on ADDRESS
 *
 * Copies stdin into the channel and the channel to stdout. Only authenticated messages ever reach
 * stdout. Exits 0 after both sides closed cleanly; otherwise prints one line to stderr and exits 1.
 * With --keepalive, the receiving thread (blocked in vmsec_channel_recv) sends the keep-alives and
 * ends the program when the peer is silent for three intervals (a paused or vanished VM).
 * With --resume, the data goes over a session (vmsec/session.h) that survives a reset connection:
 * the connecting side reconnects and nothing is lost or repeated (one thread, a poll loop). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmsec.h>

#include "common/cli.h"

#define CHUNK (64 * 1024)

static cli app;
static pthread_mutex_t die_lock = PTHREAD_MUTEX_INITIALIZER;

static const cli_synopsis synopses[] = { { NULL, "[-l] [options] ADDRESS" }, { NULL, NULL } };

static const char options[] =
    "  ADDRESS           vsock:CID:PORT, unix:PATH or tcp:HOST:PORT\n"
    "  -l, --listen      accept one connection instead of connecting\n"
    "  -k, --key FILE    own private key (vmsec-keygen); a throwaway key if omitted\n"
    "  -t, --trust PEER  trusted peer: public key text (x25519:...) or a .pub file; repeatable\n"
    "      --any-peer    accept any peer key (insecure unless a PSK authenticates the peer)\n"
    "      --pattern P   Noise pattern (default XX; IK, KK, NK, IKpsk2, XXpsk3, ...)\n"
    "      --suite S     cipher suite (default ChaChaPoly_BLAKE2b; AESGCM_SHA256, ...)\n"
    "      --psk FILE    32-byte pre-shared key: 64 hex digits on one line, or 32 raw bytes\n"
    "      --protocol-version N  channel protocol version (default 2; 1 only to talk to an old\n"
    "                    peer: version 1 reports a peer before it proved its key, see PROTOCOL.md)\n"
    "      --timeout MS  connect and handshake timeout (default 10000; 0 = none)\n"
    "      --keepalive MS  keep-alive every MS ms when idle; the peer is dead after 3 x MS ms\n"
    "                    without a record (default 0 = off; the peer should use it too)\n"
    "  -v, --verbose     say on stderr where we listen and whom we talk to (the peer's key\n"
    "                    fingerprint)\n"
    "      --resume MS   carry the data in a session that survives a reset connection: the\n"
    "                    connecting side reconnects for up to MS ms (both sides need it)\n";

/* Prints one line and exits, from any thread; nothing buffered for stdout can leak since the
 * channel's data is written with write(2). */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
    va_list ap;
    char line[512];
    pthread_mutex_lock(&die_lock);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++) /* one line, even for a multi-line library message */
        if (*p == '\n')
            *p = ' ';
    cli_error(&app, vmsec_error_last_code() ? vmsec_error_last_code() : VMSEC_EIO, "%s", line);
    _exit(CLI_EXIT_FAILURE);
}

/* A library failure about an option's value: the value is named unless the message already names
 * it (a key file's errors name the file). */
static void __attribute__((noreturn)) die_option(const char *option, const char *value)
{
    const char *msg = vmsec_error_last();
    if (strstr(msg, value))
        die("%s: %s", option, msg);
    die("%s %s: %s", option, value, msg);
}

static void check(int rc, const char *what)
{
    if (rc < 0)
        die("%s: %s", what, vmsec_error_last());
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static void load_psk(vmsec_channel_config *cfg, const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t raw[130], psk[32];
    size_t n;
    if (!f)
        die("--psk %s: %s", path, strerror(errno));
    n = fread(raw, 1, sizeof(raw) - 1, f);
    fclose(f);
    if (n == 32) {
        memcpy(psk, raw, 32);
    } else {
        raw[n] = '\0';
        while (n && (raw[n - 1] == '\n' || raw[n - 1] == '\r'))
            raw[--n] = '\0';
        if (n != 64)
            die("--psk %s: expected 64 hex digits or 32 raw bytes", path);
        for (size_t i = 0; i < 32; i++) {
            int hi = hexval(raw[2 * i]), lo = hexval(raw[2 * i + 1]);
            if (hi < 0 || lo < 0)
                die("--psk %s: expected 64 hex digits or 32 raw bytes", path);
            psk[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    check(vmsec_channel_config_set_psk(cfg, psk, sizeof(psk)), "--psk");
    explicit_bzero(psk, sizeof(psk));
    explicit_bzero(raw, sizeof(raw));
}

static void add_trust(vmsec_channel_config *cfg, const char *peer)
{
    uint8_t key[VMSEC_KEY_BYTES];
    if (strncmp(peer, "x25519:", 7) == 0) {
        /* a key written on the command line that is no key is a usage error; a file that cannot
         * be read is not */
        if (vmsec_pubkey_from_text(key, sizeof(key), peer) < 0)
            cli_usage_error(&app, "-t %s: %s", peer, vmsec_error_last());
    } else if (vmsec_pubkey_load_file(key, sizeof(key), peer) < 0) {
        die_option("-t", peer);
    }
    check(vmsec_channel_config_add_trusted_peer(cfg, key, sizeof(key)), "-t");
}

/* Why sending failed, if it did. A peer that vanishes makes the sending side fail (EPIPE) at
 * about the moment the receiving side finds the stream cut; the receiving side's verdict (was what
 * arrived complete and authentic?) is the one to report, so a sending failure is only reported
 * once the receiving side ended cleanly. */
static char send_error[512];

static void *stdin_to_channel(void *arg)
{
    vmsec_channel *ch = arg;
    uint8_t *buf = malloc(CHUNK);
    ssize_t n;
    if (!buf)
        die("out of memory");
    for (;;) {
        n = read(STDIN_FILENO, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("reading stdin: %s", strerror(errno));
        if (n == 0)
            break;
        if (vmsec_channel_send(ch, buf, (size_t)n, 0) < 0) {
            snprintf(send_error, sizeof(send_error), "send: %s", vmsec_error_last());
            free(buf);
            return NULL;
        }
    }
    if (vmsec_channel_close(ch) < 0)
        snprintf(send_error, sizeof(send_error), "close: %s", vmsec_error_last());
    free(buf);
    return NULL;
}

/* -v: the peer's proven key, as its fingerprint (what vmsec_pubkey_fingerprint() and the other
 * tools print) and its text form, so it can be compared with a .pub file or pasted into -t. */
static void say_peer(vmsec_channel *ch, const char *what, const char *where)
{
    uint8_t key[VMSEC_KEY_BYTES];
    char fp[VMSEC_FINGERPRINT_MAX], text[VMSEC_PUBKEY_TEXT_MAX];
    if (vmsec_channel_peer_key(ch, key, sizeof(key)) < 0 || vmsec_pubkey_fingerprint(key, fp, sizeof(fp)) < 0 ||
        vmsec_pubkey_to_text(key, text, sizeof(text)) < 0)
        die("peer key: %s", vmsec_error_last());
    cli_message(&app, "%s %s, peer key fingerprint %s (%s)", what, where, fp, text);
}

/* An accepted unix socket's peer is usually unnamed ("unix:"): name the listening address. */
static void describe_peer(char *out, size_t len, const char *peer, const char *address)
{
    if (strcmp(peer, "unix:") == 0)
        snprintf(out, len, "a client on %s", address);
    else
        snprintf(out, len, "%s", peer);
}

static void write_all(const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("writing stdout: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

static void channel_to_stdout(vmsec_channel *ch)
{
    size_t cap = 256 * 1024, len;
    uint8_t *buf = malloc(cap);
    int rc;
    if (!buf)
        die("out of memory");
    while ((rc = vmsec_channel_recv(ch, buf, cap, &len)) != VMSEC_ECLOSED) {
        /* VMSEC_ETOOBIG: our buffer is too small, the message waits (a peer's message over the
         * maximum is VMSEC_EPEERTOOBIG and fails the channel, reported below) */
        if (rc == VMSEC_ETOOBIG) {
            uint8_t *bigger = realloc(buf, len);
            if (!bigger)
                die("out of memory for a %zu-byte message", len);
            buf = bigger;
            cap = len;
            continue;
        }
        if (rc < 0)
            die("receive: %s", vmsec_error_last());
        write_all(buf, len);
    }
    free(buf);
}

/* --resume: the end of our input is told by an empty message (stdin never gives one); the session
 * is closed once both inputs ended, by whichever side learns it first. */
struct nc_session {
    vmsec_session *s;
    vmsec_session_listener *sl;
    vmsec_listener *l;
    uint8_t *in, *out;
    size_t in_len, out_cap;
    bool in_eof, eof_sent, peer_eof;
};

/* Takes what stdin has when poll said so; the chunk waits in in/in_len until the session takes it. */
static void session_read_stdin(struct nc_session *n)
{
    ssize_t r = read(STDIN_FILENO, n->in, CHUNK);
    if (r < 0 && errno != EINTR && errno != EAGAIN)
        die("reading stdin: %s", strerror(errno));
    if (r == 0)
        n->in_eof = true;
    else if (r > 0)
        n->in_len = (size_t)r;
}

/* Delivers what arrived to stdout; 1 once the peer closed the session. */
static int session_drain(struct nc_session *n)
{
    size_t len;
    int rc;
    while ((rc = vmsec_session_recv(n->s, n->out, n->out_cap, &len)) == 0 || rc == VMSEC_ETOOBIG) {
        if (rc == VMSEC_ETOOBIG) {
            if (!(n->out = realloc(n->out, len)))
                die("out of memory for a %zu-byte message", len);
            n->out_cap = len;
        } else if (len == 0) {
            n->peer_eof = true;
        } else {
            write_all(n->out, len);
        }
    }
    if (rc == VMSEC_ECLOSED)
        return 1;
    if (rc != VMSEC_EAGAIN)
        die("session: %s", vmsec_error_last());
    return 0;
}

/* One turn: poll, accept a resume (listening side), move stdin in and the session out. 1: done. */
static int session_turn(struct nc_session *n)
{
    int t = vmsec_session_next_timeout_ms(n->s), rc;
    struct pollfd p[3] = {
        {.fd = vmsec_session_fd(n->s), .events = vmsec_session_poll_events(n->s)},
        {.fd = n->in_eof || n->in_len ? -1 : STDIN_FILENO, .events = POLLIN},
        {.fd = n->l ? vmsec_listener_fd(n->l) : -1, .events = POLLIN},
    };
    poll(p, 3, t < 0 || t > 1000 ? 1000 : t);
    if (p[2].revents & POLLIN) {
        vmsec_session *other = NULL;
        if (vmsec_session_listener_accept(n->sl, &other) == 0 && other)
            vmsec_session_free(other); /* one session only; its peer sees the link fail */
    }
    if (p[1].revents)
        session_read_stdin(n);
    if ((rc = vmsec_session_tick(n->s)) < 0)
        die("session: %s", vmsec_error_last());
    if ((n->in_len || (n->in_eof && !n->eof_sent)) &&
        (rc = vmsec_session_send(n->s, n->in, n->in_len)) != VMSEC_EAGAIN) {
        if (rc < 0)
            die("session send: %s", vmsec_error_last());
        n->eof_sent = !n->in_len;
        n->in_len = 0;
    }
    if (session_drain(n))
        return 1;
    if (!n->eof_sent || !n->peer_eof)
        return 0;
    if ((rc = vmsec_session_close(n->s)) == VMSEC_EAGAIN)
        return 0;
    if (rc < 0)
        die("session close: %s", vmsec_error_last());
    return 1;
}

static void run_session(vmsec_channel_config *cfg, const char *address, bool listen_mode, unsigned int deadline_ms)
{
    struct nc_session n = {.out_cap = 256 * 1024};
    vmsec_session_options o;
    vmsec_session_options_init(&o, VMSEC_SESSION_OPTIONS_VERSION);
    o.reconnect_deadline_ms = deadline_ms;
    if (!(n.in = malloc(CHUNK)) || !(n.out = malloc(n.out_cap)))
        die("out of memory");
    if (listen_mode) {
        if (vmsec_listener_new(&n.l, address) < 0)
            die("%s", vmsec_error_last());
        check(vmsec_session_listener_new(&n.sl, cfg, n.l, &o), "session listener");
        if (vmsec_session_listener_accept(n.sl, &n.s) < 0 || !n.s)
            die("accept: %s", n.s ? "" : vmsec_error_last());
        fcntl(vmsec_listener_fd(n.l), F_SETFL, fcntl(vmsec_listener_fd(n.l), F_GETFL) | O_NONBLOCK);
    } else if (vmsec_session_connect(&n.s, cfg, address, &o) < 0) {
        die("%s", vmsec_error_last());
    }
    vmsec_session_set_nonblocking(n.s, 1);
    while (!session_turn(&n))
        ;
    /* the peer closed: keep the session until it ended the link, so our acknowledgement of its
     * close is not lost with us (at most a few seconds) */
    for (int i = 0; i < 300 && vmsec_session_fd(n.s) >= 0; i++) {
        poll(NULL, 0, 10);
        vmsec_session_tick(n.s);
    }
    vmsec_session_free(n.s);
    vmsec_session_listener_free(n.sl);
    vmsec_listener_free(n.l);
    free(n.in);
    free(n.out);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", no_argument, NULL, 'l' },        { "key", required_argument, NULL, 'k' },
        { "trust", required_argument, NULL, 't' },   { "any-peer", no_argument, NULL, 'A' },
        { "pattern", required_argument, NULL, 'P' }, { "suite", required_argument, NULL, 'S' },
        { "psk", required_argument, NULL, 'K' },     { "timeout", required_argument, NULL, 'T' },
        { "protocol-version", required_argument, NULL, 'V' },
        { "keepalive", required_argument, NULL, 'a' }, { "verbose", no_argument, NULL, 'v' },
        { "keepalive", required_argument, NULL, 'a' },
        { "resume", required_argument, NULL, 'R' },
        CLI_COMMON_OPTIONS,                          { NULL, 0, NULL, 0 },
    };
    static const char *const address[] = { "ADDRESS" };
    vmsec_channel_config *cfg;
    vmsec_keypair *kp = NULL;
    vmsec_channel *ch = NULL;
    const char *keyfile = NULL, *pattern = NULL, *suite = NULL;
    unsigned int keepalive_ms = 0, resume_ms = 0;
    bool listen_mode = false, verbose = false;
    pthread_t t;
    int c;

    cli_init(&app, "vmsec-nc", synopses, options,
             "exit status: 0 both sides closed cleanly, 1 any failure, 2 usage error\n", CLI_EXIT_FAILURE, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    check(vmsec_init(), "init");
    check(vmsec_channel_config_new(&cfg), "configuration");
    while ((c = cli_getopt(&app, argc, argv, "lk:t:vh", opts)) != -1) {
        switch (c) {
        case 'l': listen_mode = true; break;
        case 'v': verbose = true; break;
        case 'k': keyfile = optarg; break;
        case 't': add_trust(cfg, optarg); break;
        case 'A': check(vmsec_channel_config_set_allow_any_peer(cfg, 1), "--any-peer"); break;
        case 'P': pattern = optarg; break;
        case 'S': suite = optarg; break;
        case 'K': load_psk(cfg, optarg); break;
        case 'V':
            if (vmsec_channel_config_set_protocol_version(cfg, (unsigned int)cli_number(&app, optarg, 255)) < 0)
                cli_usage_error(&app, "--protocol-version: %s", vmsec_error_last());
            break;
        case 'T':
            check(vmsec_channel_config_set_handshake_timeout(cfg, (unsigned int)cli_number(&app, optarg, 86400000UL)),
                  "--timeout");
            break;
        case 'a':
            keepalive_ms = (unsigned int)cli_number(&app, optarg, VMSEC_CHANNEL_KEEPALIVE_MAX_MS / 3);
            break;
        case 'R':
            if (!(resume_ms = (unsigned int)cli_number(&app, optarg, 86400000UL)))
                cli_usage_error(&app, "--resume: the reconnect deadline must be at least 1 ms");
            break;
        }
    }
    cli_operands(&app, argc, argv, address, 1);
    if (vmsec_address_validate(argv[optind]) < 0)
        cli_usage_error(&app, "%s", vmsec_error_last());
    /* A value the library refuses is a usage error too; the library's message says why. */
    if (pattern && vmsec_channel_config_set_pattern(cfg, pattern) < 0)
        cli_usage_error(&app, "--pattern: %s", vmsec_error_last());
    if (suite && vmsec_channel_config_set_suite(cfg, suite) < 0)
        cli_usage_error(&app, "--suite: %s", vmsec_error_last());
    /* three intervals: one late keep-alive (a busy or briefly descheduled peer) is no false alarm */
    if (vmsec_channel_config_set_keepalive(cfg, keepalive_ms, 3 * keepalive_ms) < 0)
        cli_usage_error(&app, "--keepalive: %s", vmsec_error_last());
    if (keyfile) {
        if (vmsec_keypair_load(&kp, keyfile) < 0)
            die_option("-k", keyfile);
    } else {
        check(vmsec_keypair_generate(&kp), "generating a throwaway key");
    }
    check(vmsec_channel_config_set_keypair(cfg, kp), "key");
    vmsec_keypair_free(kp);

    if (resume_ms) {
        run_session(cfg, argv[optind], listen_mode, resume_ms);
        vmsec_channel_config_free(cfg);
        return 0;
    }
    if (listen_mode) {
        vmsec_listener *l;
        char peer[VMSEC_ADDRESS_MAX], bound[VMSEC_ADDRESS_MAX], who[2 * VMSEC_ADDRESS_MAX + 16];
        int fd;
        if (vmsec_listener_new(&l, argv[optind]) < 0)
            die("%s", vmsec_error_last()); /* it says "listen on ADDRESS: ..." */
        if (vmsec_listener_address(l, bound, sizeof(bound)) < 0)
            snprintf(bound, sizeof(bound), "%s", argv[optind]);
        if (verbose)
            cli_message(&app, "listening on %s", bound); /* with the port picked for tcp:HOST:0 */
        if (vmsec_listener_accept(l, &fd, peer, sizeof(peer), NULL) < 0)
            die("accept on %s: %s", bound, vmsec_error_last());
        vmsec_listener_free(l); /* one connection only; a unix socket file goes away now */
        describe_peer(who, sizeof(who), peer, bound);
        check(vmsec_channel_new(&ch, cfg, fd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), "channel");
        if (vmsec_channel_handshake(ch) < 0)
            die("handshake with %s: %s", who, vmsec_error_last());
        if (verbose)
            say_peer(ch, "accepted", who);
    } else if (vmsec_channel_connect(&ch, cfg, argv[optind]) < 0) {
        die("%s", vmsec_error_last()); /* it says "connect to ADDRESS: ..." */
    } else if (verbose) {
        say_peer(ch, "connected to", argv[optind]);
    }
    vmsec_channel_config_free(cfg);

    if (pthread_create(&t, NULL, stdin_to_channel, ch) != 0)
        die("cannot start a thread");
    channel_to_stdout(ch);
    pthread_join(t, NULL);
    if (send_error[0])
        die("%s", send_error);
    vmsec_channel_free(ch);
    return 0;
}
