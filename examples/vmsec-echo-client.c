/* SPDX-License-Identifier: ISC */
/* vmsec-echo-client: connects to vmsec-echo-server, sends each argument as one message, prints
 * what comes back and the round trip. From the host to the guest with CID 3:
 *   vmsec-echo-client -k host.key -t guest.pub vsock:3:5000 hello world
 *
 *   vmsec-echo-client -k KEYFILE -t PEER.pub ADDRESS MESSAGE... */
#define _POSIX_C_SOURCE 200809L /* getopt, clock_gettime */

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmsec.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    const char *key = NULL, *peer = NULL;
    vmsec_keypair *kp = NULL;
    vmsec_channel_config *cfg = NULL;
    vmsec_channel *ch = NULL;
    uint8_t trusted[VMSEC_KEY_BYTES], reply[4096];
    size_t len;
    int opt;

    while ((opt = getopt(argc, argv, "k:t:")) != -1) {
        if (opt == 'k') key = optarg;
        else if (opt == 't') peer = optarg;
        else return 2;
    }
    if (!key || !peer || argc - optind < 2) {
        fprintf(stderr, "usage: vmsec-echo-client -k KEYFILE -t PEER.pub ADDRESS MESSAGE...\n");
        return 2;
    }
    if (vmsec_keypair_load(&kp, key) < 0 || vmsec_pubkey_load_file(trusted, sizeof(trusted), peer) < 0 ||
        vmsec_channel_config_new(&cfg) < 0 || vmsec_channel_config_set_keypair(cfg, kp) < 0 ||
        vmsec_channel_config_add_trusted_peer(cfg, trusted, sizeof(trusted)) < 0 ||
        vmsec_channel_connect(&ch, cfg, argv[optind]) < 0)
        goto fail;
    for (int i = optind + 1; i < argc; i++) {
        double t0 = now_us();
        if (vmsec_channel_send(ch, (const uint8_t *)argv[i], strlen(argv[i]), 0) < 0 ||
            vmsec_channel_recv(ch, reply, sizeof(reply), &len) < 0)
            goto fail;
        printf("%.*s (%.0f us)\n", (int)len, (const char *)reply, now_us() - t0);
    }
    /* close_notify, then wait for the server's: both sides know nothing was cut. */
    if (vmsec_channel_close(ch) < 0 || vmsec_channel_recv(ch, reply, sizeof(reply), &len) != VMSEC_ECLOSED)
        goto fail;
    vmsec_channel_free(ch);
    vmsec_channel_config_free(cfg);
    vmsec_keypair_free(kp);
    return 0;
fail:
    fprintf(stderr, "vmsec-echo-client: %s\n", vmsec_error_last());
    vmsec_channel_free(ch);
    vmsec_channel_config_free(cfg);
    vmsec_keypair_free(kp);
    return 1;
}
