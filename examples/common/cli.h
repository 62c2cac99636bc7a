/* SPDX-License-Identifier: ISC */
/* The command-line conventions every vmsec tool shares: option parsing with --help and --version,
 * usage errors that name the option, error lines that name the tool once, errors as JSON for
 * --json consumers, and one set of exit statuses. Not installed: the tools link it next to
 * libvmsec and use nothing else beyond the library's public API.
 *
 * Exit statuses (each tool's man page says which of them it uses):
 *   0  success.
 *   1  the tool's documented "no": a failure (vmsec-keygen, vmsec-nc, vmsec-demo, vmsec-relayd)
 *      or, for tools that report findings, the finding itself (vmsec-profile verify: drift;
 *      vmsec-plan: sharing found, the request does not fit).
 *   2  the command line is wrong (unknown option, missing argument or operand, a value that is not
 *      one of the accepted ones). Tools whose 1 is a finding also exit 2 on every other error, so
 *      a finding is never confused with a failure to look.
 */
#ifndef VMSEC_EXAMPLES_CLI_H
#define VMSEC_EXAMPLES_CLI_H

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

/* getopt_long values of the two options every tool has; put CLI_COMMON_OPTIONS in the option
 * table before its terminating { NULL, 0, NULL, 0 }. */
#define CLI_OPT_HELP 0x1001
#define CLI_OPT_VERSION 0x1002
#define CLI_COMMON_OPTIONS \
    { "help", no_argument, NULL, CLI_OPT_HELP }, { "version", no_argument, NULL, CLI_OPT_VERSION }

/* One usage line: a subcommand (NULL for a tool without subcommands) and what follows it. */
typedef struct cli_synopsis {
    const char *command;
    const char *args;
} cli_synopsis;

typedef struct cli {
    const char *prog;               /* "vmsec-plan": the first word of every error line */
    const cli_synopsis *synopses;   /* usage lines, ended by { NULL, NULL } */
    const char *options;            /* the option list printed under the usage lines */
    const char *exit_status;        /* one line: what the exit statuses mean for this tool */
    const char *command;            /* the subcommand chosen, once known */
    int error_exit;                 /* status for a failure that is not a usage error: 1 or 2 */
    bool json;                      /* errors also go to stdout as {"error": {...}} */
    struct json_t *json_doc;        /* under --json, a document being built: the first error
                                       becomes its "error" member instead of a document of its own */
    bool options_first;             /* options come before the subcommand is known: --help waits
                                       for cli_command_pick, to print that subcommand's usage */
    bool help_wanted;
    char optname[64];               /* the option cli_getopt returned last, as typed: "-c", "--policy" */
} cli;

/* Sets up c; json starts true when argv has a "--json" before "--", so that even an error met
 * before getopt reaches --json is reported in JSON (the tool sets c->json from its own parsing
 * once options are done). */
void cli_init(cli *c, const char *prog, const cli_synopsis *synopses, const char *options,
              const char *exit_status, int error_exit, int argc, char **argv);

/* getopt_long that never returns '?' or ':': -h (list it in shortopts), --help and --version
 * print and exit 0, an unknown
 * option or a missing argument is a usage error naming it. Records the option in c->optname. */
int cli_getopt(cli *c, int argc, char **argv, const char *shortopts, const struct option *longopts);

/* Prints the usage (of c->command alone when set) to stdout, the exit statuses, and exits 0. */
void cli_help(const cli *c) __attribute__((noreturn));
/* Prints "PROG (vmsec) VERSION" for the library actually loaded, and exits 0. */
void cli_version(const cli *c) __attribute__((noreturn));

/* Usage errors: "PROG: message" and the usage lines on stderr, exit 2. */
void cli_usage_error(const cli *c, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/* optarg of the option just returned, when it must be one of choices (n of them): its index, or a
 * usage error listing the accepted values. */
int cli_choice(const cli *c, const char *value, const char *const *choices, size_t n);
/* optarg as an unsigned decimal number no larger than max, or a usage error. */
unsigned long cli_number(const cli *c, const char *value, unsigned long max);
/* The subcommand argv[optind] among commands (n of them), or a usage error listing them; sets
 * c->command and advances optind. -h, --help and --version may stand in its place. */
const char *cli_command_pick(cli *c, int argc, char **argv, const char *const *commands, size_t n);
/* Exactly n operands left (named by names[0..n-1]), or a usage error naming the missing one or
 * the first extra one. */
void cli_operands(const cli *c, int argc, char **argv, const char *const *names, int n);

/* A failure reported by the library: "PROG: [what: ]vmsec_error_last()" once, and the error
 * object on stdout under --json. what adds the context the library message lacks (a step such as
 * "apply"); it is left out when the message already contains it (a profile error names its file
 * and line, a domain error its name) or when it is NULL. Returns c->error_exit. */
int cli_fail(const cli *c, const char *what);
/* A failure found by the tool itself: "PROG: message", and under --json the error object with
 * code (a VMSEC_E* value the failure corresponds to). Returns c->error_exit. */
int cli_error(const cli *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cli_verror(const cli *c, int code, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* "PROG: message" on stderr, for what is not an error: a finding (drift, sharing) or a notice. */
void cli_message(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* {"code": -5, "name": "VMSEC_EFORMAT", "message": message}, through the JSON module (message
 * made valid UTF-8); NULL when out of memory. */
struct json_t *cli_error_object(int code, const char *message);

/* The whole file at path ("-": standard input), NUL-terminated; NULL with errno set when it cannot
 * be read. Free with free(). */
char *cli_read_file(const char *path);

/* "VMSEC_EFORMAT" for VMSEC_EFORMAT (-5): the name of a code as errors.h spells it. */
const char *cli_error_name(int code);

#endif
