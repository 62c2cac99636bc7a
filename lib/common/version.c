/* SPDX-License-Identifier: ISC */
/* The library's version, for run-time checks against the headers the caller was built with. */
#include "config.h"

#include "vmsec/version.h"

const char *vmsec_version_string(void)
{
    return VMSEC_VERSION_STRING;
}

int vmsec_version_major(void)
{
    return VMSEC_VERSION_MAJOR;
}

int vmsec_version_minor(void)
{
    return VMSEC_VERSION_MINOR;
}

int vmsec_version_patch(void)
{
    return VMSEC_VERSION_PATCH;
}
