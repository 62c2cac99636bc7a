/* vmsec-keygen: create an X25519 keypair for vmsec channels.
 *
 *   vmsec-keygen -o PATH [-f]
 *
 * Writes the private key to PATH (mode 0600) and the public key text to PATH.pub, and prints the
 * public key text on stdout. Refuses to replace an existing key unless -f is given. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vmsec.h>

#include "common/cli.h"

static const cli_synopsis synopses[] = { { NULL, "-o PATH [-f]" }, { NULL, NULL } };

int main(int argc, char **argv)
{
    const char *path = NULL;
    unsigned flags = 0;
    vmsec_keypair *kp = NULL;
    uint8_t pub[VMSEC_KEY_BYTES];
    char text[VMSEC_PUBKEY_TEXT_MAX], pubpath[4096];
    static const struct option opts[] = { CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
    cli c;
    FILE *f;
    int opt;

    cli_init(&c, "vmsec-keygen", synopses,
             "  -o PATH      write the private key to PATH (0600) and the public key to PATH.pub\n"
             "  -f           replace an existing key\n",
             "exit status: 0 ok, 1 the key could not be generated or written, 2 usage error\n", CLI_EXIT_FAILURE,
             argc, argv);
    while ((opt = cli_getopt(&c, argc, argv, "o:fh", opts)) != -1) {
        switch (opt) {
        case 'o': path = optarg; break;
        case 'f': flags |= VMSEC_KEY_SAVE_OVERWRITE; break;
        }
    }
    if (!path)
        cli_usage_error(&c, "missing option -o PATH");
    cli_operands(&c, argc, argv, NULL, 0);
    if ((size_t)snprintf(pubpath, sizeof(pubpath), "%s.pub", path) >= sizeof(pubpath))
        return cli_error(&c, VMSEC_EINVAL, "-o: path too long");
    if (vmsec_keypair_generate(&kp) < 0 || vmsec_keypair_save(kp, path, flags) < 0) {
        vmsec_keypair_free(kp);
        return cli_fail(&c, NULL);
    }
    vmsec_keypair_public(kp, pub, sizeof(pub));
    vmsec_keypair_free(kp);
    vmsec_pubkey_to_text(pub, text, sizeof(text));

    f = fopen(pubpath, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
        int err = errno;
        unlink(path); /* leave no key without its public half */
        return cli_error(&c, VMSEC_EIO, "cannot write %s: %s", pubpath, strerror(err));
    }
    printf("%s\n", text);
    return 0;
}
