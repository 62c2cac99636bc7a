/* SPDX-License-Identifier: ISC */
/* Library initialisation: libsodium once per process, on first use or through vmsec_init(). */
#include "config.h"

#include <pthread.h>
#include <sodium.h>

#include "common/internal.h"
#include "vmsec/common.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void init_do(void)
{
    init_result = sodium_init() < 0 ? VMSEC_ECRYPTO : 0;
}

int vmsec_init(void)
{
    pthread_once(&init_once, init_do);
    if (init_result < 0)
        return vmsec__error(init_result, "libsodium could not be initialised");
    return 0;
}

int vmsec__ensure_init(void)
{
    return vmsec_init();
}
