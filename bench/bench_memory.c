/* SPDX-License-Identifier: ISC */
/* Memory per idle open channel: opens N channel pairs over socketpairs (handshake done, no traffic
 * in flight) and divides the growth by 2N (every pair is two channels). Two figures: the malloc heap
 * in use (mallinfo2) and the process's resident set, which also counts libsodium's guarded
 * allocations (mmap'd pages with guard pages, outside the malloc heap) if the channel uses any. */
#include <malloc.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vmsec.h>

#include "bench.h"

#define PAIRS 5000 /* 10,000 channels */

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

int main(void)
{
    vmsec_keypair *a, *b;
    vmsec_channel_config *ca, *cb;
    uint8_t pa[32], pb[32];
    static vmsec_channel *ch[2 * PAIRS];
    size_t before, after;
    long rss_before, rss_after;
    double per, rss_per;

    if (vmsec_keypair_generate(&a) < 0 || vmsec_keypair_generate(&b) < 0)
        bench_die(vmsec_error_last());
    vmsec_keypair_public(a, pa, 32);
    vmsec_keypair_public(b, pb, 32);
    vmsec_channel_config_new(&ca);
    vmsec_channel_config_new(&cb);
    vmsec_channel_config_set_keypair(ca, a);
    vmsec_channel_config_set_keypair(cb, b);
    vmsec_channel_config_set_protocol(ca, "Noise_IK_25519_ChaChaPoly_BLAKE2b");
    vmsec_channel_config_set_protocol(cb, "Noise_IK_25519_ChaChaPoly_BLAKE2b");
    vmsec_channel_config_add_trusted_peer(ca, pb, 32);
    vmsec_channel_config_set_peer_key(ca, pb, 32);
    vmsec_channel_config_add_trusted_peer(cb, pa, 32);

    before = mallinfo2().uordblks;
    rss_before = rss_bytes();
    for (int i = 0; i < PAIRS; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
            bench_die("socketpair (raise the descriptor limit: ulimit -n 30000)");
        if (vmsec_channel_new(&ch[2 * i], ca, sv[0], VMSEC_ROLE_INITIATOR, VMSEC_CHANNEL_OWN_FD) < 0 ||
            vmsec_channel_new(&ch[2 * i + 1], cb, sv[1], VMSEC_ROLE_RESPONDER, VMSEC_CHANNEL_OWN_FD) < 0)
            bench_die(vmsec_error_last());
        /* Non-blocking handshake, stepped until both sides are open. */
        for (int round = 0; round < 16; round++) {
            int r1 = vmsec_channel_handshake(ch[2 * i]), r2 = vmsec_channel_handshake(ch[2 * i + 1]);
            if (r1 == 0 && r2 == 0)
                break;
            if ((r1 < 0 && r1 != VMSEC_EAGAIN) || (r2 < 0 && r2 != VMSEC_EAGAIN))
                bench_die(vmsec_error_last());
        }
        if (vmsec_channel_state(ch[2 * i]) != VMSEC_STATE_OPEN || vmsec_channel_state(ch[2 * i + 1]) != VMSEC_STATE_OPEN)
            bench_die("handshake did not complete");
    }
    after = mallinfo2().uordblks;
    rss_after = rss_bytes();
    per = (double)(after - before) / (2.0 * PAIRS);
    rss_per = (double)(rss_after - rss_before) / (2.0 * PAIRS);
    printf("### Memory per idle channel\n\n");
    printf("| channels | heap per channel | resident set per channel | floor (1 KiB heap) |\n");
    printf("|---------:|-----------------:|-------------------------:|:-------------------|\n");
    printf("| %8d | %14.0f B | %22.0f B | %s |\n\n", 2 * PAIRS, per, rss_per, per <= 1024 ? "met" : "MISSED");
    bench_json("{\"bench\":\"memory\",\"channels\":%d,\"heap_per_channel\":%.0f,\"rss_per_channel\":%.0f}",
               2 * PAIRS, per, rss_per);
    for (int i = 0; i < 2 * PAIRS; i++)
        vmsec_channel_free(ch[i]);
    vmsec_channel_config_free(ca);
    vmsec_channel_config_free(cb);
    vmsec_keypair_free(a);
    vmsec_keypair_free(b);
    return 0;
}
