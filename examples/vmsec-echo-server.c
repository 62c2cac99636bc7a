/* SPDX-License-Identifier: ISC */
/* vmsec-echo-server: the smallest useful vmsec server. Accepts authenticated channels one after
 * another and sends every message back. In a guest: `vmsec-echo-server -k guest.key -t host.pub`
 * listens on vsock port 5000 for the host; any address works (unix:PATH, tcp:HOST:PORT).
 *
 *   vmsec-echo-server -k KEYFILE -t PEER.pub [-n COUNT] [ADDRESS]   (default vsock:any:5000) */
#define _POSIX_C_SOURCE 200809L /* getopt, clock_gettime */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <vmsec.h>

static int serve(vmsec_channel *ch)
{
    static uint8_t msg[1 << 20];
    size_t len;
    int rc;
    while ((rc = vmsec_channel_recv(ch, msg, sizeof(msg), &len)) == 0)
        if ((rc = vmsec_channel_send(ch, msg, len, 0)) < 0)
            break;
    if (rc == VMSEC_ECLOSED) /* the client said goodbye: say it back */
        return vmsec_channel_close(ch);
    return rc;
}

int main(int argc, char **argv)
{
    const char *key = NULL, *peer = NULL, *address = "vsock:any:5000";
    long count = -1; /* connections to serve; -1: forever */
    vmsec_keypair *kp = NULL;
    vmsec_channel_config *cfg = NULL;
    vmsec_listener *l = NULL;
    uint8_t trusted[VMSEC_KEY_BYTES];
    int opt;

    while ((opt = getopt(argc, argv, "k:t:n:")) != -1) {
        if (opt == 'k') key = optarg;
        else if (opt == 't') peer = optarg;
        else if (opt == 'n') count = strtol(optarg, NULL, 10);
        else return 2;
    }
    if (optind < argc)
        address = argv[optind];
    if (!key || !peer) {
        fprintf(stderr, "usage: vmsec-echo-server -k KEYFILE -t PEER.pub [-n COUNT] [ADDRESS]\n");
        return 2;
    }
    if (vmsec_keypair_load(&kp, key) < 0 || vmsec_pubkey_load_file(trusted, sizeof(trusted), peer) < 0 ||
        vmsec_channel_config_new(&cfg) < 0 || vmsec_channel_config_set_keypair(cfg, kp) < 0 ||
        vmsec_channel_config_add_trusted_peer(cfg, trusted, sizeof(trusted)) < 0 ||
        vmsec_listener_new(&l, address) < 0) {
        fprintf(stderr, "vmsec-echo-server: %s\n", vmsec_error_last());
        return 1;
    }
    fprintf(stderr, "vmsec-echo-server: listening on %s\n", address);
    for (long served = 0; count < 0 || served < count; served++) {
        vmsec_channel *ch = NULL;
        /* A client that fails to authenticate costs one line on stderr, never the server. */
        if (vmsec_channel_accept(&ch, cfg, l) < 0 || vmsec_channel_handshake(ch) < 0 || serve(ch) < 0)
            fprintf(stderr, "vmsec-echo-server: client dropped: %s\n", vmsec_error_last());
        vmsec_channel_free(ch);
    }
    vmsec_listener_free(l);
    vmsec_channel_config_free(cfg);
    vmsec_keypair_free(kp);
    return 0;
}
