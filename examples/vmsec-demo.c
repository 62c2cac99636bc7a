/* vmsec-demo: shows the library working end to end on this machine. */
#include <stdio.h>
#include <string.h>

#include <vmsec.h>

static int fail(const char *what)
{
    fprintf(stderr, "vmsec-demo: %s: %s\n", what, vmsec_error_last());
    return 1;
}

int main(void)
{
    vmsec_keypair *host = NULL, *guest = NULL;
    uint8_t pub[VMSEC_KEY_BYTES];
    char text[VMSEC_PUBKEY_TEXT_MAX], fp[VMSEC_FINGERPRINT_MAX];

    if (vmsec_init() < 0)
        return fail("init");
    printf("vmsec %s (library %d.%d.%d)\n\n", VMSEC_VERSION_STRING, vmsec_version_major(), vmsec_version_minor(),
           vmsec_version_patch());
    if (vmsec_keypair_generate(&host) < 0 || vmsec_keypair_generate(&guest) < 0)
        return fail("generate keys");
    printf("%-8s %-21s %s\n", "PEER", "FINGERPRINT", "PUBLIC KEY");
    for (int i = 0; i < 2; i++) {
        vmsec_keypair_public(i ? guest : host, pub, sizeof(pub));
        vmsec_pubkey_to_text(pub, text, sizeof(text));
        vmsec_pubkey_fingerprint(pub, fp, sizeof(fp));
        printf("%-8s %-21s %s\n", i ? "guest" : "host", fp, text);
    }
    vmsec_keypair_free(host);
    vmsec_keypair_free(guest);
    return 0;
}
