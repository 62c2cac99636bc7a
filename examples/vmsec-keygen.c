/* vmsec-keygen: create an X25519 keypair for vmsec channels.
 *
 *   vmsec-keygen -o PATH [-f]
 *
 * Writes the private key to PATH (mode 0600) and the public key text to PATH.pub, and prints the
 * public key text on stdout. Refuses to replace an existing key unless -f is given. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vmsec.h>

static int usage(FILE *to, int rc)
{
    fprintf(to, "usage: vmsec-keygen -o PATH [-f]\n"
                "  -o PATH  write the private key to PATH (0600) and the public key to PATH.pub\n"
                "  -f       replace an existing key\n");
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    unsigned flags = 0;
    vmsec_keypair *kp = NULL;
    uint8_t pub[VMSEC_KEY_BYTES];
    char text[VMSEC_PUBKEY_TEXT_MAX], pubpath[4096];
    FILE *f;
    int opt;

    while ((opt = getopt(argc, argv, "o:fh")) != -1) {
        switch (opt) {
        case 'o': path = optarg; break;
        case 'f': flags |= VMSEC_KEY_SAVE_OVERWRITE; break;
        case 'h': return usage(stdout, 0);
        default: return usage(stderr, 2);
        }
    }
    if (!path || optind != argc)
        return usage(stderr, 2);
    if ((size_t)snprintf(pubpath, sizeof(pubpath), "%s.pub", path) >= sizeof(pubpath)) {
        fprintf(stderr, "vmsec-keygen: path too long\n");
        return 1;
    }
    if (vmsec_keypair_generate(&kp) < 0 || vmsec_keypair_save(kp, path, flags) < 0) {
        fprintf(stderr, "vmsec-keygen: %s\n", vmsec_error_last());
        vmsec_keypair_free(kp);
        return 1;
    }
    vmsec_keypair_public(kp, pub, sizeof(pub));
    vmsec_keypair_free(kp);
    vmsec_pubkey_to_text(pub, text, sizeof(text));

    f = fopen(pubpath, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
        fprintf(stderr, "vmsec-keygen: cannot write %s: %s\n", pubpath, strerror(errno));
        unlink(path); /* leave no key without its public half */
        return 1;
    }
    printf("%s\n", text);
    return 0;
}
