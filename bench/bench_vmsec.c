/* vmsec contenders for the throughput benchmark. Filled in once the channel API exists. */
#include "bench_transport.h"

size_t bench_vmsec_contenders(const struct contender **out, size_t cap)
{
    (void)out;
    (void)cap;
    return 0;
}

#include "bench_handshake.h"

size_t bench_vmsec_handshakes(const struct hs_contender **out, size_t cap)
{
    (void)out;
    (void)cap;
    return 0;
}
