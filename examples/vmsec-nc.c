/* SPDX-License-Identifier: ISC */
/* vmsec-nc: netcat over an authenticated, encrypted vmsec channel.
 *
 *   vmsec-nc [options] ADDRESS       connect to ADDRESS
 *   vmsec-nc -l [options] ADDRESS    accept one connection on ADDRESS
 *   vmsec-nc --via RELAY --to DOMAIN --service NAME [options]
 *                                    connect to DOMAIN's service through the host relay
 *   vmsec-nc -l --relayed [options] ADDRESS [-e [--] COMMAND [ARG...]]
 *                                    accept one relayed connection, naming its origin
 *
 * Copies stdin into the channel and the channel to stdout (with --exec: from and to COMMAND). Only
 * authenticated messages ever reach stdout. Exits 0 after both sides closed cleanly; otherwise
 * prints one line to stderr and exits 1.
 * With --keepalive, the receiving thread (blocked in vmsec_channel_recv) sends the keep-alives and
 * ends the program when the peer is silent for three intervals (a paused or vanished VM).
 * With --resume, the data goes over a session (vmsec/session.h) that survives a reset connection:
 * the connecting side reconnects and nothing is lost or repeated (one thread, a poll loop). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vmsec.h>

#include "common/cli.h"

#define CHUNK (64 * 1024)

static cli app;
static pthread_mutex_t die_lock = PTHREAD_MUTEX_INITIALIZER;

static const cli_synopsis synopses[] = {
    { NULL, "[-l] [options] ADDRESS" },
    { NULL, "--via ADDRESS --to DOMAIN --service NAME [options]" },
    { NULL, "-l --relayed [options] ADDRESS [-e [--] COMMAND [ARG...]]" },
    { NULL, NULL } };

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
    "                    connecting side reconnects for up to MS ms (both sides need it)\n"
    "      --via ADDRESS connect through the host relay (vmsec-relayd) at ADDRESS ...\n"
    "      --to DOMAIN   ... to the target domain DOMAIN (HOST/DOMAIN: a domain of the linked\n"
    "                    relay named HOST) ...\n"
    "      --service NAME  ... and its service NAME (the relay's policy decides)\n"
    "      --relayed     with -l: the connection comes through the relay; read its origin header\n"
    "                    (the calling domain, CID and service) and refuse a connection without one\n"
    "  -e, --exec        with -l --relayed: run COMMAND (the operands after ADDRESS; put -- before\n"
    "                    them if they have options) with the channel as its stdin and stdout, and\n"
    "                    VMSEC_ORIGIN_DOMAIN, VMSEC_ORIGIN_CID, VMSEC_SERVICE and VMSEC_PEER_KEY\n"
    "                    in its environment; never through a shell\n";

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

/* --exec: stdout is the command's stdin. A command that stopped reading (exited, or closed it) wants
 * no more input, as in a shell pipe: the rest is received and authenticated, then dropped. */
static bool command_mode, command_gone;

static void write_all(const uint8_t *p, size_t len)
{
    while (len && !command_gone) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EPIPE && command_mode) {
            command_gone = true;
        } else if (n < 0) {
            die("writing stdout: %s", strerror(errno));
        } else {
            p += n;
            len -= (size_t)n;
        }
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
    bool in_eof, eof_sent, peer_eof, verbose;
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

/* The listening side, once its session is open: connections are taken in the listener's
 * non-blocking mode, so that one that stays silent (or a slow handshake) never holds up the
 * session; a resume of ours is handed to it, anything else is closed. */
static void session_accept(struct nc_session *n)
{
    vmsec_session *other = NULL;
    int rc;
    while ((rc = vmsec_session_listener_accept(n->sl, &other)) != VMSEC_EAGAIN) {
        if (rc < 0 && n->verbose)
            cli_message(&app, "a connection was refused: %s", vmsec_error_last());
        vmsec_session_free(other); /* one session only; its peer sees the link fail */
        other = NULL;
    }
}

static int min_timeout(int a, int b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* One turn: poll, accept a resume (listening side), move stdin in and the session out. 1: done. */
static int session_turn(struct nc_session *n)
{
    int t = vmsec_session_next_timeout_ms(n->s), rc;
    struct pollfd p[3] = {
        {.fd = vmsec_session_fd(n->s), .events = vmsec_session_poll_events(n->s)},
        {.fd = n->in_eof || n->in_len ? -1 : STDIN_FILENO, .events = POLLIN},
        {.fd = n->sl ? vmsec_session_listener_fd(n->sl) : -1, .events = POLLIN},
    };
    if (n->sl)
        t = min_timeout(t, vmsec_session_listener_next_timeout_ms(n->sl));
    poll(p, 3, t < 0 || t > 1000 ? 1000 : t);
    if (n->sl)
        session_accept(n); /* also when a pending connection's deadline passed */
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

static void run_session(vmsec_channel_config *cfg, const char *address, bool listen_mode, unsigned int deadline_ms,
                        bool verbose)
{
    struct nc_session n = {.out_cap = 256 * 1024, .verbose = verbose};
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
        check(vmsec_session_listener_set_nonblocking(n.sl, 1), "session listener");
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

/* What the command line asked for, beyond the channel configuration. */
struct nc_opts {
    const char *keyfile, *pattern, *suite, *via, *to, *service;
    unsigned int keepalive_ms, resume_ms, timeout_ms;
    bool listen, verbose, relayed, exec;
};

/* What the relay vouched for in its origin header (--relayed). */
struct origin {
    char domain[VMSEC_POLICY_NAME_MAX + 1], service[VMSEC_POLICY_SERVICE_MAX + 1];
    uint32_t cid;
};

/* --timeout for the relay's exchanges: 0 (none) is a deadline too far to matter. */
static int relay_timeout(const struct nc_opts *o)
{
    return o->timeout_ms ? (int)o->timeout_ms : INT_MAX;
}

/* --to and --service in the relay's name syntax (doc/RELAY.md): a name the relay can never accept
 * is a usage error, found before connecting. --to may name a domain of a linked host, HOST/DOMAIN
 * (doc/RELAY.md, "Federation"): one '/' between two names. */
static void check_relay_name(const char *option, const char *name, size_t max, bool remote)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+:-";
    size_t n = strlen(name), first = strspn(name, ok);
    bool valid = n > 0 && n <= max && first == n;
    if (remote && !valid && first > 0 && first + 1 < n && name[first] == '/')
        valid = n <= max && strspn(name + first + 1, ok) == n - first - 1;
    if (!valid)
        cli_usage_error(&app, "%s '%.64s': a name is 1 to %zu characters of A-Z a-z 0-9 . _ + : -%s", option, name,
                        max, remote ? ", or HOST/DOMAIN" : "");
}

/* The relay options make sense only together and with the matching mode. */
static void check_relay_options(const struct nc_opts *o, const char *address)
{
    if ((o->to || o->service) && !o->via)
        cli_usage_error(&app, "--to and --service go with --via (the relay to ask)");
    if (o->via && (!o->to || !o->service))
        cli_usage_error(&app, "--via needs --to DOMAIN and --service NAME");
    if (o->via && (o->listen || o->relayed))
        cli_usage_error(&app, "--via connects through a relay; it does not go with -l or --relayed");
    if (o->relayed && !o->listen)
        cli_usage_error(&app, "--relayed goes with -l: it accepts connections the relay makes");
    if (o->exec && !o->relayed)
        cli_usage_error(&app, "--exec goes with -l --relayed");
    if (o->resume_ms && (o->via || o->relayed))
        cli_usage_error(&app, "--resume does not go with --via or --relayed");
    if (o->via) {
        check_relay_name("--to", o->to, VMSEC_POLICY_NAME_MAX, true);
        check_relay_name("--service", o->service, VMSEC_POLICY_SERVICE_MAX, false);
    }
    /* the library never believes an origin header over IP: say so before listening */
    if (o->relayed && strncmp(address, "tcp:", 4) == 0)
        cli_usage_error(&app, "--relayed: a relay's origin header is believed only over vsock or unix, not %s",
                        address);
}

static void parse_options(int argc, char **argv, vmsec_channel_config *cfg, struct nc_opts *o)
{
    static const struct option opts[] = {
        { "listen", no_argument, NULL, 'l' },        { "key", required_argument, NULL, 'k' },
        { "trust", required_argument, NULL, 't' },   { "any-peer", no_argument, NULL, 'A' },
        { "pattern", required_argument, NULL, 'P' }, { "suite", required_argument, NULL, 'S' },
        { "psk", required_argument, NULL, 'K' },     { "timeout", required_argument, NULL, 'T' },
        { "protocol-version", required_argument, NULL, 'V' },
        { "keepalive", required_argument, NULL, 'a' }, { "verbose", no_argument, NULL, 'v' },
        { "resume", required_argument, NULL, 'R' },  { "via", required_argument, NULL, 'Y' },
        { "to", required_argument, NULL, 'O' },      { "service", required_argument, NULL, 'N' },
        { "relayed", no_argument, NULL, 'r' },       { "exec", no_argument, NULL, 'e' },
        CLI_COMMON_OPTIONS,                          { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = cli_getopt(&app, argc, argv, "lk:t:veh", opts)) != -1) {
        switch (c) {
        case 'l': o->listen = true; break;
        case 'v': o->verbose = true; break;
        case 'k': o->keyfile = optarg; break;
        case 't': add_trust(cfg, optarg); break;
        case 'A': check(vmsec_channel_config_set_allow_any_peer(cfg, 1), "--any-peer"); break;
        case 'P': o->pattern = optarg; break;
        case 'S': o->suite = optarg; break;
        case 'K': load_psk(cfg, optarg); break;
        case 'Y': o->via = optarg; break;
        case 'O': o->to = optarg; break;
        case 'N': o->service = optarg; break;
        case 'r': o->relayed = true; break;
        case 'e': o->exec = true; break;
        case 'V':
            if (vmsec_channel_config_set_protocol_version(cfg, (unsigned int)cli_number(&app, optarg, 255)) < 0)
                cli_usage_error(&app, "--protocol-version: %s", vmsec_error_last());
            break;
        case 'T':
            o->timeout_ms = (unsigned int)cli_number(&app, optarg, 86400000UL);
            check(vmsec_channel_config_set_handshake_timeout(cfg, o->timeout_ms), "--timeout");
            break;
        case 'a':
            o->keepalive_ms = (unsigned int)cli_number(&app, optarg, VMSEC_CHANNEL_KEEPALIVE_MAX_MS / 3);
            break;
        case 'R':
            if (!(o->resume_ms = (unsigned int)cli_number(&app, optarg, 86400000UL)))
                cli_usage_error(&app, "--resume: the reconnect deadline must be at least 1 ms");
            break;
        }
    }
}

/* The operands: none with --via, ADDRESS COMMAND [ARG...] with --exec, else ADDRESS. Returns the
 * address to listen on or connect to. */
static const char *parse_operands(int argc, char **argv, const struct nc_opts *o)
{
    static const char *const address[] = { "ADDRESS" };
    const char *where;
    if (o->via) {
        cli_operands(&app, argc, argv, address, 0);
        where = o->via;
    } else if (o->exec) {
        if (argc - optind < 1)
            cli_operands(&app, argc, argv, address, 1); /* says ADDRESS is missing */
        if (argc - optind < 2)
            cli_usage_error(&app, "missing operand COMMAND (--exec runs the operands after ADDRESS)");
        where = argv[optind];
    } else {
        cli_operands(&app, argc, argv, address, 1);
        where = argv[optind];
    }
    if (vmsec_address_validate(where) < 0)
        cli_usage_error(&app, "%s%s", o->via ? "--via: " : "", vmsec_error_last());
    check_relay_options(o, where);
    return where;
}

/* A value the library refuses is a usage error too; the library's message says why. */
static void configure(vmsec_channel_config *cfg, const struct nc_opts *o)
{
    vmsec_keypair *kp = NULL;
    if (o->pattern && vmsec_channel_config_set_pattern(cfg, o->pattern) < 0)
        cli_usage_error(&app, "--pattern: %s", vmsec_error_last());
    if (o->suite && vmsec_channel_config_set_suite(cfg, o->suite) < 0)
        cli_usage_error(&app, "--suite: %s", vmsec_error_last());
    /* three intervals: one late keep-alive (a busy or briefly descheduled peer) is no false alarm */
    if (vmsec_channel_config_set_keepalive(cfg, o->keepalive_ms, 3 * o->keepalive_ms) < 0)
        cli_usage_error(&app, "--keepalive: %s", vmsec_error_last());
    if (o->keyfile) {
        if (vmsec_keypair_load(&kp, o->keyfile) < 0)
            die_option("-k", o->keyfile);
    } else {
        check(vmsec_keypair_generate(&kp), "generating a throwaway key");
    }
    check(vmsec_channel_config_set_keypair(cfg, kp), "key");
    vmsec_keypair_free(kp);
}

/* --via: asks the relay for (--to, --service), then runs the channel as the initiator over the
 * same connection: the relay only copies bytes, the handshake is end to end. */
static vmsec_channel *connect_relayed(const vmsec_channel_config *cfg, const struct nc_opts *o)
{
    vmsec_channel *ch;
    char where[2 * VMSEC_ADDRESS_MAX + 64];
    int fd;
    if (vmsec_transport_connect(o->via, o->timeout_ms, &fd) < 0)
        die("%s", vmsec_error_last()); /* it says "connect to ADDRESS: ..." */
    if (vmsec_relay_request(fd, o->to, o->service, relay_timeout(o)) < 0)
        die("%s: %s", o->via, vmsec_error_last()); /* "relay denied service 'S' on 'D'", ... */
    snprintf(where, sizeof(where), "%s (service %s) via %s", o->to, o->service, o->via);
    check(vmsec_channel_new(&ch, cfg, fd, VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD), "channel");
    if (vmsec_channel_handshake(ch) < 0)
        die("handshake with %s: %s", where, vmsec_error_last());
    if (o->verbose)
        say_peer(ch, "connected to", where);
    return ch;
}

/* --relayed: the relay's origin header comes before the handshake. A connection without a valid
 * one (a direct client, a header from a process that cannot be the relay) is refused: the origin
 * is what a relayed command acts on. */
static void read_origin(int fd, const char *who, const struct nc_opts *o, struct origin *org)
{
    if (vmsec_relay_origin_read(fd, relay_timeout(o), org->domain, sizeof(org->domain), &org->cid, org->service,
                                sizeof(org->service)) < 0)
        die("refused %s: no valid relay origin header: %s", who, vmsec_error_last());
    if (o->verbose)
        cli_message(&app, "the relay vouches for domain %s (cid %u), service %s", org->domain, (unsigned)org->cid,
                    org->service);
}

/* -l: one connection, then the handshake as the responder (after the origin header, relayed). */
static vmsec_channel *accept_one(const vmsec_channel_config *cfg, const char *address, const struct nc_opts *o,
                                 struct origin *org)
{
    vmsec_listener *l;
    vmsec_channel *ch;
    char peer[VMSEC_ADDRESS_MAX], bound[VMSEC_ADDRESS_MAX], who[2 * VMSEC_ADDRESS_MAX + 16];
    int fd;
    if (vmsec_listener_new(&l, address) < 0)
        die("%s", vmsec_error_last()); /* it says "listen on ADDRESS: ..." */
    if (vmsec_listener_address(l, bound, sizeof(bound)) < 0)
        snprintf(bound, sizeof(bound), "%s", address);
    if (o->verbose)
        cli_message(&app, "listening on %s", bound); /* with the port picked for tcp:HOST:0 */
    if (vmsec_listener_accept(l, &fd, peer, sizeof(peer), NULL) < 0)
        die("accept on %s: %s", bound, vmsec_error_last());
    vmsec_listener_free(l); /* one connection only; a unix socket file goes away now */
    describe_peer(who, sizeof(who), peer, bound);
    if (o->relayed)
        read_origin(fd, who, o, org);
    check(vmsec_channel_new(&ch, cfg, fd, VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD), "channel");
    if (vmsec_channel_handshake(ch) < 0)
        die("handshake with %s: %s", who, vmsec_error_last());
    if (o->verbose)
        say_peer(ch, "accepted", who);
    return ch;
}

/* --exec: the origin and the proven peer key, for the command's environment. */
static void export_origin(const struct origin *org, vmsec_channel *ch)
{
    uint8_t key[VMSEC_KEY_BYTES];
    char text[VMSEC_PUBKEY_TEXT_MAX], cid[16];
    if (vmsec_channel_peer_key(ch, key, sizeof(key)) < 0 || vmsec_pubkey_to_text(key, text, sizeof(text)) < 0)
        die("peer key: %s", vmsec_error_last());
    snprintf(cid, sizeof(cid), "%u", (unsigned)org->cid);
    if (setenv("VMSEC_ORIGIN_DOMAIN", org->domain, 1) < 0 || setenv("VMSEC_ORIGIN_CID", cid, 1) < 0 ||
        setenv("VMSEC_SERVICE", org->service, 1) < 0 || setenv("VMSEC_PEER_KEY", text, 1) < 0)
        die("environment: %s", strerror(errno));
}

/* --exec: starts the command (argv as given, never through a shell: the origin is data) on two
 * pipes, which then take the place of this process's stdin and stdout, so the copying below
 * serves the command. It gets the default SIGPIPE back, which this process ignores. */
static pid_t spawn_command(char **argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t dfl;
    int in[2], out[2], rc;
    pid_t pid;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawnattr_init(&attr);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        die("cannot run %s: %s", argv[0], strerror(rc));
    if (dup2(out[0], STDIN_FILENO) < 0 || dup2(in[1], STDOUT_FILENO) < 0)
        die("dup2: %s", strerror(errno));
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    command_mode = true;
    return pid;
}

/* --exec: the command's exit status is ours to report: a failed command is a failed transfer. */
static void reap_command(pid_t pid, const char *name)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waiting for %s: %s", name, strerror(errno));
    if (WIFSIGNALED(status))
        die("%s was killed by signal %d", name, WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        die("%s exited with status %d", name, WEXITSTATUS(status));
}

/* Both directions until both ended: stdin into the channel on a thread, the channel to stdout
 * here. Under --exec, stdout is closed once the peer closed, so the command sees its input end. */
static void bridge(vmsec_channel *ch)
{
    pthread_t t;
    if (pthread_create(&t, NULL, stdin_to_channel, ch) != 0)
        die("cannot start a thread");
    channel_to_stdout(ch);
    if (command_mode)
        close(STDOUT_FILENO);
    pthread_join(t, NULL);
    if (send_error[0])
        die("%s", send_error);
}

int main(int argc, char **argv)
{
    struct nc_opts o = { .timeout_ms = 10000 };
    struct origin org = { .cid = 0 };
    vmsec_channel_config *cfg;
    vmsec_channel *ch;
    const char *address;
    pid_t pid = 0;

    cli_init(&app, "vmsec-nc", synopses, options,
             "exit status: 0 both sides closed cleanly, 1 any failure (also: the relay refused, the\n"
             "command failed), 2 usage error\n",
             CLI_EXIT_FAILURE, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    check(vmsec_init(), "init");
    check(vmsec_channel_config_new(&cfg), "configuration");
    parse_options(argc, argv, cfg, &o);
    address = parse_operands(argc, argv, &o);
    configure(cfg, &o);

    if (o.resume_ms) {
        run_session(cfg, address, o.listen, o.resume_ms, o.verbose);
        vmsec_channel_config_free(cfg);
        return 0;
    }
    if (o.via)
        ch = connect_relayed(cfg, &o);
    else if (o.listen)
        ch = accept_one(cfg, address, &o, &org);
    else if (vmsec_channel_connect(&ch, cfg, address) < 0)
        die("%s", vmsec_error_last()); /* it says "connect to ADDRESS: ..." */
    else if (o.verbose)
        say_peer(ch, "connected to", address);
    vmsec_channel_config_free(cfg);

    if (o.exec) {
        export_origin(&org, ch);
        pid = spawn_command(argv + optind + 1);
    }
    bridge(ch);
    if (pid)
        reap_command(pid, argv[optind + 1]);
    vmsec_channel_free(ch);
    return 0;
}
