/* SPDX-License-Identifier: ISC */
/* Ownership and mode checks for files the library trusts (see fileperm.h). A key or trust file
 * that another user could have written or replaced is refused rather than believed: a peer map
 * anyone can edit grants anyone the identity of any domain. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileperm.h"
#include "common/internal.h"

static const char *owner_word(uid_t uid)
{
    return uid == 0 ? "root" : "another user";
}

int vmsec__file_check_secret(const struct stat *st, const char *path, const char *what)
{
    uid_t me = geteuid();
    if (!S_ISREG(st->st_mode))
        return vmsec__error(VMSEC_EPERM, "%s %s is not a regular file", what, path);
    if (st->st_uid != me)
        return vmsec__error(VMSEC_EPERM,
                            "%s %s is owned by %s (uid %u), not by this user (uid %u); a secret must belong to "
                            "the user who uses it: 'chown %u %s'",
                            what, path, owner_word(st->st_uid), (unsigned)st->st_uid, (unsigned)me, (unsigned)me,
                            path);
    if (st->st_mode & (S_IRWXG | S_IRWXO))
        return vmsec__error(VMSEC_EPERM, "%s %s is accessible by group or others (mode %04o); run 'chmod 600 %s'",
                            what, path, (unsigned)(st->st_mode & 07777), path);
    return 0;
}

int vmsec__parent_dir(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return -1;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    return 0;
}

int vmsec__file_check_trusted(const struct stat *st, const char *path, const char *what)
{
    uid_t me = geteuid();
    char dir[PATH_MAX];
    struct stat ds;
    if (!S_ISREG(st->st_mode))
        return vmsec__error(VMSEC_EPERM, "%s %s is not a regular file", what, path);
    if (st->st_uid != me && st->st_uid != 0)
        return vmsec__error(VMSEC_EPERM, "%s %s is owned by uid %u, neither this user (uid %u) nor root: 'chown %u %s'",
                            what, path, (unsigned)st->st_uid, (unsigned)me, (unsigned)me, path);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return vmsec__error(VMSEC_EPERM, "%s %s is writable by group or others (mode %04o); run 'chmod go-w %s'",
                            what, path, (unsigned)(st->st_mode & 07777), path);
    if (vmsec__parent_dir(path, dir, sizeof(dir)) < 0)
        return vmsec__error(VMSEC_EIO, "%s %s: its folder's name is too long to examine", what, path);
    if (stat(dir, &ds) < 0)
        return vmsec__error_errno(VMSEC_EIO, errno, "%s %s: cannot examine its folder %s", what, path, dir);
    if (ds.st_uid != me && ds.st_uid != 0)
        return vmsec__error(VMSEC_EPERM,
                            "%s %s is in folder %s owned by uid %u, who could replace it; keep trust files in a "
                            "folder owned by this user or root",
                            what, path, dir, (unsigned)ds.st_uid);
    if ((ds.st_mode & (S_IWGRP | S_IWOTH)) && !(ds.st_mode & S_ISVTX))
        return vmsec__error(VMSEC_EPERM,
                            "%s %s is in folder %s, which group or others may write (mode %04o), so they could "
                            "replace it; run 'chmod go-w %s'",
                            what, path, dir, (unsigned)(ds.st_mode & 07777), dir);
    return 0;
}
