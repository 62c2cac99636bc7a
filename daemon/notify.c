/* SPDX-License-Identifier: ISC */
/* Readiness and status for systemd (Type=notify) through libsystemd's sd_notify; without
 * NOTIFY_SOCKET in the environment it does nothing. */
#include <stdarg.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "vmsecd.h"

void vmsecd_notify(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sd_notify(0, line);
}
