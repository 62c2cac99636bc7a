/* SPDX-License-Identifier: ISC */
/* Fuzz target: vmsec_keypair_load(), the private key file loader, through a real 0600 file in a
 * private scratch directory (the loader's checks on the open file are part of what is tested), and
 * vmsec_keypair_from_text(), its text parser, on the same bytes.
 * Oracles: a well-formed-mode file is either refused with EFORMAT and a message, or accepted, and
 * an accepted key saves back to exactly the input bytes (one key, one file form). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "vmsec.h"

static char dir[4096], key_path[4200], out_path[4200];

static void cleanup(void)
{
    unlink(key_path);
    unlink(out_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* Every input is written to a file and every accepted key saved with fsync: on tmpfs that
     * costs microseconds instead of milliseconds. VMSEC_FUZZ_TMPDIR overrides. */
    const char *tmp = getenv("VMSEC_FUZZ_TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "%s/vmsec-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz_keyfile: mkdtemp");
        exit(1);
    }
    snprintf(key_path, sizeof(key_path), "%s/key", dir);
    snprintf(out_path, sizeof(out_path), "%s/saved", dir);
    atexit(cleanup);
    return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_ASSERT(fd >= 0);
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        FUZZ_ASSERT(n > 0);
        off += (size_t)n;
    }
    FUZZ_ASSERT(close(fd) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmsec_keypair *kp = NULL;
    uint8_t saved[256];

    write_file(key_path, data, size);
    int rc = vmsec_keypair_load(&kp, key_path);
    /* the text parser agrees with the file loader, except that a file must end in its newline */
    vmsec_keypair *kt = NULL;
    int rt = vmsec_keypair_from_text(&kt, (const char *)data, size);
    FUZZ_ASSERT(rt == 0 || rt == VMSEC_EFORMAT);
    FUZZ_ASSERT((rt == 0) == (kt != NULL));
    if (rc == 0)
        FUZZ_ASSERT(rt == 0);
    else if (rt == 0)
        FUZZ_ASSERT(size > 0 && data[size - 1] != '\n');
    vmsec_keypair_free(kt);
    if (rc < 0) {
        FUZZ_ASSERT(rc == VMSEC_EFORMAT);
        FUZZ_ASSERT(kp == NULL);
        FUZZ_ASSERT(vmsec_error_last()[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(rc == 0 && kp != NULL);
    FUZZ_ASSERT(vmsec_keypair_save(kp, out_path, VMSEC_KEY_SAVE_OVERWRITE) == 0);
    vmsec_keypair_free(kp);
    FILE *f = fopen(out_path, "rb");
    FUZZ_ASSERT(f != NULL);
    size_t n = fread(saved, 1, sizeof(saved), f);
    fclose(f);
    FUZZ_ASSERT(n == size && memcmp(saved, data, size) == 0);
    return 0;
}
