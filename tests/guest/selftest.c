/* SPDX-License-Identifier: ISC */
/* Guest program for the harness's own test (tests/guest/harness.sh): it misbehaves on purpose, in
 * the way its name says, so the harness can be shown to turn each failure into `not ok` lines.
 *   guest_badplan  reports one result but plans two, and writes a line to stderr
 *   guest_hang     reports one result, then never exits (the in-guest or overall timeout must act)
 *   guest_crash    reports one result, then crashes the guest kernel */
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "gtap.h"

int main(int argc, char **argv)
{
    const char *name = argc > 0 ? basename(argv[0]) : "";
    if (strcmp(name, "guest_badplan") == 0) {
        gt_ok(true, "first of two");
        fprintf(stderr, "a line on stderr\n");
        printf("1..2\n");
        return 0;
    }
    if (strcmp(name, "guest_hang") == 0) {
        gt_ok(true, "before the hang");
        for (;;)
            pause();
    }
    if (strcmp(name, "guest_crash") == 0) {
        gt_ok(true, "before the crash");
        int fd = open("/proc/sysrq-trigger", O_WRONLY);
        if (fd >= 0 && write(fd, "c", 1) == 1)
            pause(); /* not reached: the kernel panics */
        gt_diag("could not trigger a crash: %s", strerror(errno));
        return 1;
    }
    gt_ok(false, "unknown self-test program name '%s'", name);
    return gt_done();
}
