/* SPDX-License-Identifier: ISC */
/* Private to libvmsec: who may have written a file the library trusts (a private key, a public key,
 * a peer map, a relay policy), checked on the open descriptor as ssh's StrictModes does. */
#ifndef VMSEC_FILEPERM_H
#define VMSEC_FILEPERM_H

#include <stddef.h>
#include <sys/stat.h>

/* The folder holding path ("." for a bare name, "/" for a file at the root) into dir of cap
 * bytes. Returns 0, or -1 when it does not fit. */
int vmsec__parent_dir(const char *path, char *dir, size_t cap);

/* A file holding a secret: a regular file owned by the effective user, with no access for group or
 * others. what names the file in messages ("key file"). Returns 0 or VMSEC_EPERM, naming the
 * fix. */
int vmsec__file_check_secret(const struct stat *st, const char *path, const char *what);

/* A file whose contents decide whom to trust: a regular file owned by the effective user or root,
 * writable by nobody else, in a directory that no one else can replace it in (owned by the user
 * or root, and not group- or world-writable unless sticky, as /tmp). Returns 0, VMSEC_EPERM
 * naming the fix, or VMSEC_EIO when the directory cannot be examined. */
int vmsec__file_check_trusted(const struct stat *st, const char *path, const char *what);

#endif
