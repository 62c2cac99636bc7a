/* SPDX-License-Identifier: ISC */
/* Unloading and reloading a vsock transport module inside the test guest, through the system
 * calls that rmmod and insmod use (the guest's /init loaded the modules from the initramfs's /modules).
 *
 * The kernel refuses to unload a module whose reference count is not zero, and AF_VSOCK takes a
 * reference on the transport for every socket assigned to it (a connecting, accepted or connected
 * socket, until the socket is freed; listening sockets have none). A closed connection lets go of
 * its reference once the peer's reset arrived, so the unload is retried for a while. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gtap.h"
#include "vsock_session.h"

#define UNLOAD_TRIES 1000 /* 10 ms apart: up to 10 s, beyond the 8 s a vsock close may linger */

long module_refcnt(const char *name)
{
    char path[128];
    long n = -1;
    snprintf(path, sizeof(path), "/sys/module/%s/refcnt", name);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = -1;
        fclose(f);
    }
    return n;
}

bool module_loaded(const char *name)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "/sys/module/%s", name);
    return stat(path, &st) == 0;
}

int module_unload(const char *name, unsigned int *attempts)
{
    int e = 0;
    for (*attempts = 1; *attempts <= UNLOAD_TRIES; (*attempts)++) {
        if (syscall(SYS_delete_module, name, O_NONBLOCK) == 0)
            return 0;
        e = errno;
        if (e != EWOULDBLOCK && e != EBUSY && e != EAGAIN)
            break; /* EPERM, ENOENT, ENOSYS (no CONFIG_MODULE_UNLOAD)...: retrying will not help */
        usleep(10 * 1000);
    }
    gt_diag("delete_module(%s): %s, reference count %ld, after %u attempts", name, strerror(e),
            module_refcnt(name), *attempts > UNLOAD_TRIES ? UNLOAD_TRIES : *attempts);
    return -e;
}

int module_load(const char *name)
{
    char path[128];
    int fd, e = 0;
    snprintf(path, sizeof(path), "/modules/%s.ko", name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        e = errno;
        gt_diag("open %s: %s", path, strerror(e));
        return -e;
    }
    if (syscall(SYS_finit_module, fd, "", 0) != 0) {
        e = errno;
        gt_diag("finit_module(%s): %s", path, strerror(e));
    }
    close(fd);
    return -e;
}
