/* SPDX-License-Identifier: ISC */
/* The shared command-line helper of the vmsec tools; see cli.h for the conventions. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmsec.h>

#include "common/json.h"

void cli_init(cli *c, const char *prog, const cli_synopsis *synopses, const char *options,
              const char *exit_status, int error_exit, int argc, char **argv)
{
    memset(c, 0, sizeof(*c));
    c->prog = prog;
    c->synopses = synopses;
    c->options = options;
    c->exit_status = exit_status;
    c->error_exit = error_exit;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            c->json = true;
    opterr = 0; /* cli_getopt words the errors itself, naming the option */
}

static void print_synopses(const cli *c, FILE *to)
{
    const char *lead = "usage:";
    for (const cli_synopsis *s = c->synopses; s->args; s++) {
        if (c->command && s->command && strcmp(c->command, s->command) != 0)
            continue;
        fprintf(to, "%s %s%s%s %s\n", lead, c->prog, s->command ? " " : "", s->command ? s->command : "", s->args);
        lead = "      ";
    }
}

/* The column the descriptions of the tool's option list start at, to line up -h and --version. */
static int description_column(const char *options)
{
    const char *p = options + strspn(options, " ");
    p += strcspn(p, "\n");
    for (const char *q = options + strspn(options, " "); q < p; q++)
        if (q[0] == ' ' && q[1] == ' ')
            return (int)(q + strspn(q, " ") - options);
    return 15;
}

void cli_help(const cli *c)
{
    int col = description_column(c->options);
    print_synopses(c, stdout);
    fputs(c->options, stdout);
    printf("  %-*s%s\n", col - 2, "-h, --help", "print this text and exit");
    int indent = col >= 17 ? 6 : 2; /* under --help's long name when there is room */
    printf("%*s%-*s%s\n", indent, "", col - indent, "--version", "print the version and exit");
    fputs(c->exit_status, stdout);
    exit(CLI_EXIT_OK);
}

void cli_version(const cli *c)
{
    /* The library loaded at run time is what the tool really uses; the headers it was built
     * against are named too when they differ. */
    const char *runtime = vmsec_version_string();
    if (strcmp(runtime, VMSEC_VERSION_STRING) == 0)
        printf("%s (vmsec) %s\n", c->prog, runtime);
    else
        printf("%s (vmsec) %s (built with %s)\n", c->prog, runtime, VMSEC_VERSION_STRING);
    exit(CLI_EXIT_OK);
}

json_t *cli_error_object(int code, const char *message)
{
    json_t *o = json_object();
    if (!o || vmsec__json_set(o, "code", json_integer(code)) < 0 ||
        vmsec__json_set(o, "name", vmsec__json_str(cli_error_name(code))) < 0 ||
        vmsec__json_set(o, "message", vmsec__json_str(message)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Under --json every error is also JSON on stdout, so a consumer parsing stdout always gets JSON:
 * the "error" member of the document being built, or a document {"error": {...}} of its own. */
static void json_error(const cli *c, int code, const char *message)
{
    json_t *doc = c->json_doc ? c->json_doc : json_object();
    if (!doc)
        return;
    if (!json_object_get(doc, "error")) /* the first error is the cause; later ones follow from it */
        vmsec__json_set(doc, "error", cli_error_object(code, message));
    if (!c->json_doc) {
        vmsec__json_dumpf(doc, stdout);
        putchar('\n');
        fflush(stdout);
        json_decref(doc);
    }
}

int cli_verror(const cli *c, int code, const char *fmt, va_list ap)
{
    char message[4096];
    size_t n;
    vsnprintf(message, sizeof(message), fmt, ap);
    n = strlen(message);
    while (n && (message[n - 1] == '\n' || message[n - 1] == ' ')) /* libxml2's messages end in one */
        message[--n] = '\0';
    fflush(stdout); /* what the tool printed so far comes before the error */
    fprintf(stderr, "%s: %s\n", c->prog, message);
    if (c->json)
        json_error(c, code, message);
    return c->error_exit;
}

void cli_message(const cli *c, const char *fmt, ...)
{
    char message[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    fflush(stdout);
    /* one write: a reader polling stderr (a script waiting for "listening on ...") never sees
     * half a line */
    fprintf(stderr, "%s: %s\n", c->prog, message);
}

int cli_error(const cli *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cli_verror(c, code, fmt, ap);
    va_end(ap);
    return rc;
}

int cli_fail(const cli *c, const char *what)
{
    const char *msg = vmsec_error_last();
    int code = vmsec_error_last_code();
    if (code == 0) /* a failure always has a code, even if the library recorded none */
        code = VMSEC_EINTERNAL;
    if (!what || strstr(msg, what))
        return cli_error(c, code, "%s", msg);
    return cli_error(c, code, "%s: %s", what, msg);
}

void cli_usage_error(const cli *c, const char *fmt, ...)
{
    va_list ap;
    cli quiet = *c;
    va_start(ap, fmt);
    quiet.error_exit = CLI_EXIT_USAGE;
    cli_verror(&quiet, VMSEC_EINVAL, fmt, ap);
    va_end(ap);
    print_synopses(c, stderr);
    exit(CLI_EXIT_USAGE);
}

/* Names the option getopt refused. A long option is the word just consumed (up to any '=');
 * a short one is optopt, unless that word is a long option whose value optopt is. */
static void name_bad_option(cli *c, char **argv, const struct option *longopts)
{
    const char *word = argv[optind - 1], *eq = strchr(word, '=');
    int len = eq ? (int)(eq - word) : (int)strlen(word);
    bool is_long = strncmp(word, "--", 2) == 0 && optopt == 0;
    for (const struct option *o = longopts; !is_long && o && o->name; o++)
        is_long = strncmp(word, "--", 2) == 0 && o->val == optopt && (int)strlen(o->name) == len - 2 &&
                  strncmp(o->name, word + 2, (size_t)len - 2) == 0;
    if (is_long)
        snprintf(c->optname, sizeof(c->optname), "%.*s", len, word);
    else
        snprintf(c->optname, sizeof(c->optname), "-%c", optopt);
}

int cli_getopt(cli *c, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    char so[128];
    int longindex = -1, opt;
    snprintf(so, sizeof(so), ":%s", shortopts); /* ':' tells a missing argument from an unknown option */
    opt = getopt_long(argc, argv, so, longopts, &longindex);
    if (opt == -1)
        return -1;
    if (longindex >= 0)
        snprintf(c->optname, sizeof(c->optname), "--%s", longopts[longindex].name);
    else if (opt != '?' && opt != ':')
        snprintf(c->optname, sizeof(c->optname), "-%c", opt);
    else
        name_bad_option(c, argv, longopts);
    switch (opt) {
    case 'h': /* every tool has -h as well */
    case CLI_OPT_HELP:
        if (!c->options_first)
            cli_help(c);
        c->help_wanted = true;
        return cli_getopt(c, argc, argv, shortopts, longopts);
    case CLI_OPT_VERSION: cli_version(c);
    case ':': cli_usage_error(c, "%s: missing argument", c->optname);
    case '?': cli_usage_error(c, "unknown option '%s'", c->optname);
    default: return opt;
    }
}

int cli_choice(const cli *c, const char *value, const char *const *choices, size_t n)
{
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(value, choices[i]) == 0)
            return (int)i;
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", choices[i]);
    }
    cli_usage_error(c, "%s: '%s' is not one of: %s", c->optname, value, list);
}

unsigned long cli_number(const cli *c, const char *value, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || *end || errno)
        cli_usage_error(c, "%s: '%s' is not a number", c->optname, value);
    if (v > max)
        cli_usage_error(c, "%s: %s is more than %lu", c->optname, value, max);
    return v;
}

const char *cli_command_pick(cli *c, int argc, char **argv, const char *const *commands, size_t n)
{
    char list[256] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", commands[i]);
    if (c->help_wanted && (optind >= argc || argv[optind][0] == '-'))
        cli_help(c);
    if (optind >= argc)
        cli_usage_error(c, "missing command (one of: %s)", list);
    if (argv[optind][0] == '-') { /* only the common options come before the command */
        if (strcmp(argv[optind], "-h") == 0 || strcmp(argv[optind], "--help") == 0)
            cli_help(c);
        if (strcmp(argv[optind], "--version") == 0)
            cli_version(c);
        cli_usage_error(c, "unknown option '%s' (options follow the command)", argv[optind]);
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[optind], commands[i]) == 0) {
            optind++;
            c->command = commands[i];
            if (c->help_wanted)
                cli_help(c);
            return c->command;
        }
    if (c->help_wanted)
        cli_help(c);
    cli_usage_error(c, "unknown command '%s' (one of: %s)", argv[optind], list);
}

void cli_operands(const cli *c, int argc, char **argv, const char *const *names, int n)
{
    int have = argc - optind;
    if (have < n)
        cli_usage_error(c, "missing operand %s", names[have]);
    if (have > n)
        cli_usage_error(c, "unexpected operand '%s'", argv[optind + n]);
}

const char *cli_error_name(int code)
{
    /* errors.h gives no names at run time; the values are ABI, so this table never goes stale,
     * it only misses codes newer than the tool. */
#define NAME(e) [-(e)] = #e
    static const char *const names[] = {
        NAME(VMSEC_OK),         NAME(VMSEC_EINVAL),      NAME(VMSEC_ENOMEM),       NAME(VMSEC_EIO),
        NAME(VMSEC_EPERM),      NAME(VMSEC_EFORMAT),     NAME(VMSEC_ENOTFOUND),    NAME(VMSEC_EEXIST),
        NAME(VMSEC_EAGAIN),     NAME(VMSEC_EAUTH),       NAME(VMSEC_EPROTO),       NAME(VMSEC_ETIMEDOUT),
        NAME(VMSEC_ECLOSED),    NAME(VMSEC_ETRUNCATED),  NAME(VMSEC_ETOOBIG),      NAME(VMSEC_EUNSUPPORTED),
        NAME(VMSEC_ESTATE),     NAME(VMSEC_ECRYPTO),     NAME(VMSEC_ELIBVIRT),     NAME(VMSEC_EHOST),
        NAME(VMSEC_ECONNREFUSED), NAME(VMSEC_EADDRINUSE), NAME(VMSEC_EDENIED),     NAME(VMSEC_EROLLEDBACK),
        NAME(VMSEC_EPARTIAL),   NAME(VMSEC_EDRIFT),      NAME(VMSEC_EINTERNAL), NAME(VMSEC_EPEERTOOBIG),
        NAME(VMSEC_EPEERDEAD),
        NAME(VMSEC_ESESSIONLOST),
    };
#undef NAME
    if (code > 0 || (size_t)-code >= sizeof(names) / sizeof(names[0]) || !names[-code])
        return "VMSEC_EUNKNOWN";
    return names[-code];
}

char *cli_read_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    int err = 0;
    if (!f)
        return NULL;
    errno = 0;
    do {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!nb) {
                err = ENOMEM;
                break;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    if (!err && ferror(f))
        err = errno ? errno : EIO; /* EISDIR for a directory */
    if (f != stdin)
        fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}
