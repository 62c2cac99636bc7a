/* SPDX-License-Identifier: ISC */
/* vmsec-keygen: create an X25519 keypair for vmsec channels.
 *
 *   vmsec-keygen -o PATH [-f]     private key to PATH (0600), public key text to PATH.pub and stdout
 *   vmsec-keygen -o -             private key to stdout, for a pipe (as `wg genkey`)
 *   vmsec-keygen --pubkey [PATH]  public key text of the private key in PATH or on stdin (as `wg pubkey`)
 *
 * Refuses to replace an existing key unless -f is given. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmsec.h>

#include "common/cli.h"

#define OPT_PUBKEY 0x2001

static const cli_synopsis synopses[] = {
    { NULL, "-o PATH [-f]" }, { NULL, "-o -" }, { NULL, "--pubkey [PATH]" }, { NULL, NULL } };

static int print_public(const vmsec_keypair *kp)
{
    uint8_t pub[VMSEC_KEY_BYTES];
    char text[VMSEC_PUBKEY_TEXT_MAX];
    vmsec_keypair_public(kp, pub, sizeof(pub));
    vmsec_pubkey_to_text(pub, text, sizeof(text));
    printf("%s\n", text);
    return fflush(stdout) == 0 ? 0 : -1;
}

/* --pubkey: the private key from a file (checked as every key file is) or from standard input. */
static int pubkey_mode(cli *c, const char *path)
{
    vmsec_keypair *kp = NULL;
    char buf[2 * VMSEC_PRIVKEY_TEXT_MAX];
    size_t len = 0;
    int rc;
    if (path) {
        rc = vmsec_keypair_load(&kp, path);
    } else {
        if (isatty(STDIN_FILENO))
            cli_usage_error(c, "--pubkey reads the private key on standard input: pipe it in or name a file");
        while (len < sizeof(buf)) {
            ssize_t n = read(STDIN_FILENO, buf + len, sizeof(buf) - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                explicit_bzero(buf, sizeof(buf));
                return cli_error(c, VMSEC_EIO, "cannot read standard input: %s", strerror(errno));
            }
            if (n == 0)
                break;
            len += (size_t)n;
        }
        rc = vmsec_keypair_from_text(&kp, buf, len);
        explicit_bzero(buf, sizeof(buf));
    }
    if (rc < 0)
        return cli_fail(c, NULL);
    rc = print_public(kp);
    vmsec_keypair_free(kp);
    return rc < 0 ? cli_error(c, VMSEC_EIO, "cannot write standard output") : 0;
}

/* -o -: the private key's text to standard output, nothing on disk. */
static int stdout_mode(cli *c)
{
    vmsec_keypair *kp = NULL;
    char text[VMSEC_PRIVKEY_TEXT_MAX];
    int ok;
    struct stat st;
    /* as wg genkey: a redirection made with the default umask leaves the key readable by others,
     * and vmsec refuses to load such a file */
    if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
        cli_message(c, "warning: writing the private key to a file group or others can access (mode %04o); "
                       "run 'umask 077' first, or 'chmod 600' the file",
                    (unsigned)(st.st_mode & 07777));
    if (vmsec_keypair_generate(&kp) < 0)
        return cli_fail(c, NULL);
    vmsec_keypair_to_text(kp, text, sizeof(text));
    vmsec_keypair_free(kp);
    ok = fputs(text, stdout) >= 0 && fflush(stdout) == 0;
    explicit_bzero(text, sizeof(text));
    return ok ? 0 : cli_error(c, VMSEC_EIO, "cannot write standard output");
}

static int file_mode(cli *c, const char *path, unsigned flags)
{
    vmsec_keypair *kp = NULL;
    uint8_t pub[VMSEC_KEY_BYTES];
    char text[VMSEC_PUBKEY_TEXT_MAX], pubpath[4096];
    FILE *f;
    if ((size_t)snprintf(pubpath, sizeof(pubpath), "%s.pub", path) >= sizeof(pubpath))
        return cli_error(c, VMSEC_EINVAL, "-o: path too long");
    if (vmsec_keypair_generate(&kp) < 0 || vmsec_keypair_save(kp, path, flags) < 0) {
        vmsec_keypair_free(kp);
        return cli_fail(c, NULL);
    }
    vmsec_keypair_public(kp, pub, sizeof(pub));
    vmsec_keypair_free(kp);
    vmsec_pubkey_to_text(pub, text, sizeof(text));

    f = fopen(pubpath, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
        int err = errno;
        unlink(path); /* leave no key without its public half */
        return cli_error(c, VMSEC_EIO, "cannot write %s: %s", pubpath, strerror(err));
    }
    printf("%s\n", text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    unsigned flags = 0;
    bool pubkey = false;
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                          { "force", no_argument, NULL, 'f' },
                                          { "pubkey", no_argument, NULL, OPT_PUBKEY },
                                          CLI_COMMON_OPTIONS,
                                          { NULL, 0, NULL, 0 } };
    static const char *const key_operand[] = { "PATH" };
    cli c;
    int opt;

    cli_init(&c, "vmsec-keygen", synopses,
             "  -o, --output PATH  write the private key to PATH (0600) and the public key to PATH.pub;\n"
             "                     with PATH '-', write the private key to standard output instead\n"
             "  -f, --force        replace an existing key\n"
             "      --pubkey       print the public key of the private key in PATH, or on standard input\n",
             "exit status: 0 ok, 1 the key could not be generated, read or written, 2 usage error\n",
             CLI_EXIT_FAILURE, argc, argv);
    while ((opt = cli_getopt(&c, argc, argv, "o:fh", opts)) != -1) {
        switch (opt) {
        case 'o': path = optarg; break;
        case 'f': flags |= VMSEC_KEY_SAVE_OVERWRITE; break;
        case OPT_PUBKEY: pubkey = true; break;
        }
    }
    if (pubkey) {
        if (path || flags)
            cli_usage_error(&c, "--pubkey writes nothing: it takes neither -o nor -f");
        cli_operands(&c, argc, argv, key_operand, optind < argc ? 1 : 0);
        return pubkey_mode(&c, optind < argc ? argv[optind] : NULL);
    }
    if (!path)
        cli_usage_error(&c, "missing option -o PATH (or -o - for standard output, or --pubkey)");
    cli_operands(&c, argc, argv, NULL, 0);
    if (strcmp(path, "-") == 0) {
        if (flags)
            cli_usage_error(&c, "-f replaces a key file; -o - writes none");
        return stdout_mode(&c);
    }
    return file_mode(&c, path, flags);
}
