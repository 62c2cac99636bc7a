/* SPDX-License-Identifier: ISC */
/* X25519 keypairs: generation, guarded secrets, the strict key-file and public-key text forms,
 * fingerprints, and atomic 0600 key files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel/keys_internal.h"
#include "common/fileperm.h"
#include "common/internal.h"
#include "vmsec/keys.h"

#define KEYFILE_PREFIX "vmsec-private-key-v1 x25519 "
#define PUBKEY_PREFIX "x25519:"
#define B64_KEY_LEN 44 /* base64 (with padding) of 32 bytes */
#define KEYFILE_LEN (sizeof(KEYFILE_PREFIX) - 1 + B64_KEY_LEN + 1)
_Static_assert(KEYFILE_LEN + 1 == VMSEC_PRIVKEY_TEXT_MAX, "the key file line, its newline and a NUL");
#define FINGERPRINT_LABEL "vmsec-fingerprint-v1"

struct vmsec_keypair {
    uint8_t pub[VMSEC_KEY_BYTES];
    uint8_t *secret; /* sodium_malloc'd, read-only once set */
};

size_t vmsec_key_bytes(void) { return VMSEC_KEY_BYTES; }
size_t vmsec_pubkey_text_max(void) { return VMSEC_PUBKEY_TEXT_MAX; }
size_t vmsec_fingerprint_max(void) { return VMSEC_FINGERPRINT_MAX; }

const uint8_t *vmsec__keypair_secret(const struct vmsec_keypair *kp) { return kp->secret; }
const uint8_t *vmsec__keypair_pub(const struct vmsec_keypair *kp) { return kp->pub; }

/* X25519 reads a public key as a little-endian u-coordinate, ignores bit 255 and reduces the rest
 * modulo p = 2^255 - 19, so 2^255 + 19 byte strings are second encodings of keys that have a
 * canonical one: a peer holding one private key could present two public keys (and get two
 * fingerprints), and a deny-list written for one would miss the other. Such keys are refused, not
 * normalised. Keys the library derives itself (crypto_scalarmult_base) are always canonical. */
const char *vmsec__pubkey_noncanonical(const uint8_t *pub)
{
    if (pub[31] & 0x80)
        return "bit 255 is set (X25519 ignores that bit, so this is a second encoding of another key)";
    /* u >= p: byte 31 is 0x7f, bytes 30..1 are 0xff and byte 0 is at least 0xed (p's low byte). */
    if (pub[31] != 0x7f || pub[0] < 0xed)
        return NULL;
    for (int i = 1; i < 31; i++)
        if (pub[i] != 0xff)
            return NULL;
    return "its u-coordinate is not below 2^255-19 (a second encoding of a value from 0 to 18)";
}

int vmsec_pubkey_validate(const uint8_t *pub, size_t pub_len)
{
    const char *why;
    if (!pub || pub_len != VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "vmsec_pubkey_validate: %s", pub ? "key is not 32 bytes" : "NULL key");
    if ((why = vmsec__pubkey_noncanonical(pub)))
        return vmsec__error(VMSEC_EFORMAT, "public key is not canonical: %s", why);
    return 0;
}

/* Allocates a keypair whose guarded secret buffer is writable; the caller fills it, then calls
 * keypair_seal(). */
static int keypair_alloc(vmsec_keypair **out)
{
    vmsec_keypair *kp = calloc(1, sizeof(*kp));
    if (!kp)
        return vmsec__error(VMSEC_ENOMEM, "out of memory allocating a keypair");
    kp->secret = sodium_malloc(VMSEC_KEY_BYTES);
    if (!kp->secret) {
        free(kp);
        return vmsec__error(VMSEC_ENOMEM, "out of guarded memory for a private key");
    }
    *out = kp;
    return 0;
}

static int keypair_seal(vmsec_keypair *kp)
{
    if (crypto_scalarmult_base(kp->pub, kp->secret) != 0)
        return vmsec__error(VMSEC_ECRYPTO, "X25519 public key derivation failed");
    sodium_mprotect_readonly(kp->secret);
    return 0;
}

void vmsec_keypair_free(vmsec_keypair *kp)
{
    if (!kp)
        return;
    sodium_free(kp->secret); /* wipes before unmapping */
    sodium_memzero(kp->pub, sizeof(kp->pub));
    free(kp);
}

int vmsec_keypair_generate(vmsec_keypair **out)
{
    vmsec_keypair *kp;
    int rc;
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_generate: out is NULL");
    *out = NULL;
    if ((rc = vmsec__ensure_init()) < 0 || (rc = keypair_alloc(&kp)) < 0)
        return rc;
    randombytes_buf(kp->secret, VMSEC_KEY_BYTES);
    if ((rc = keypair_seal(kp)) < 0) {
        vmsec_keypair_free(kp);
        return rc;
    }
    *out = kp;
    return 0;
}

int vmsec_keypair_from_secret(vmsec_keypair **out, const uint8_t *secret, size_t secret_len)
{
    vmsec_keypair *kp;
    int rc;
    if (!out || !secret)
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_from_secret: NULL argument");
    *out = NULL;
    if (secret_len != VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_from_secret: secret is %zu bytes, expected %d",
                            secret_len, VMSEC_KEY_BYTES);
    if ((rc = vmsec__ensure_init()) < 0 || (rc = keypair_alloc(&kp)) < 0)
        return rc;
    memcpy(kp->secret, secret, VMSEC_KEY_BYTES);
    if ((rc = keypair_seal(kp)) < 0) {
        vmsec_keypair_free(kp);
        return rc;
    }
    *out = kp;
    return 0;
}

int vmsec_keypair_public(const vmsec_keypair *kp, uint8_t *pub, size_t pub_len)
{
    if (!kp || !pub || pub_len < VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_public: NULL argument or buffer under %d bytes",
                            VMSEC_KEY_BYTES);
    memcpy(pub, kp->pub, VMSEC_KEY_BYTES);
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void fsync_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    int fd;
    if (vmsec__parent_dir(path, dir, sizeof(dir)) < 0)
        return;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
}

int vmsec_keypair_save(const vmsec_keypair *kp, const char *path, unsigned int flags)
{
    char tmp[PATH_MAX];
    char *line;
    int fd, rc = 0;

    if (!kp || !path || !*path)
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_save: NULL keypair or empty path");
    if (flags & ~VMSEC_KEY_SAVE_OVERWRITE)
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_save: unknown flags 0x%x", flags);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= sizeof(tmp))
        return vmsec__error(VMSEC_EINVAL, "key file path is too long");

    /* The encoded secret is assembled in guarded memory too. */
    line = sodium_malloc(KEYFILE_LEN + 1);
    if (!line)
        return vmsec__error(VMSEC_ENOMEM, "out of guarded memory");
    vmsec_keypair_to_text(kp, line, KEYFILE_LEN + 1);

    fd = mkstemp(tmp); /* creates the file 0600 */
    if (fd < 0) {
        int e = errno;
        sodium_free(line);
        return vmsec__error_errno(vmsec__errno_code(e) == VMSEC_ENOTFOUND ? VMSEC_ENOTFOUND : VMSEC_EIO, e,
                                  "cannot create a temporary file beside key file %s", path);
    }
    if (fchmod(fd, 0600) < 0 || write_all(fd, line, KEYFILE_LEN) < 0 || fsync(fd) < 0) {
        rc = vmsec__error_errno(VMSEC_EIO, errno, "cannot write key file %s", tmp);
        close(fd);
        goto fail;
    }
    if (close(fd) < 0) {
        rc = vmsec__error_errno(VMSEC_EIO, errno, "cannot write key file %s", tmp);
        goto fail;
    }
    if (flags & VMSEC_KEY_SAVE_OVERWRITE) {
        if (rename(tmp, path) < 0) {
            rc = vmsec__error_errno(VMSEC_EIO, errno, "cannot move key file into place at %s", path);
            goto fail;
        }
    } else {
        /* link() refuses to replace an existing file, atomically. */
        if (link(tmp, path) < 0) {
            int e = errno;
            rc = e == EEXIST
                     ? vmsec__error(VMSEC_EEXIST, "key file %s already exists; refusing to overwrite it", path)
                     : vmsec__error_errno(VMSEC_EIO, e, "cannot link key file into place at %s", path);
            goto fail;
        }
        unlink(tmp);
    }
    sodium_free(line);
    fsync_parent_dir(path);
    return 0;
fail:
    unlink(tmp);
    sodium_free(line);
    return rc;
}

/* libsodium 1.0.18's decoder reads some bytes outside the base64 alphabet (0xff) as valid digits,
 * so a decoded key is accepted only if it re-encodes to exactly the file's text (found by
 * fuzz_keyfile). Compared in constant time, in guarded memory: this is the secret. */
static int is_canonical_b64_key(const uint8_t *secret, const char *line)
{
    char *enc = sodium_malloc(B64_KEY_LEN + 1);
    int same;
    if (!enc)
        return 0;
    sodium_bin2base64(enc, B64_KEY_LEN + 1, secret, VMSEC_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
    same = sodium_memcmp(enc, line + sizeof(KEYFILE_PREFIX) - 1, B64_KEY_LEN) == 0;
    sodium_free(enc);
    return same;
}

/* Parses the key file's text (buf[0, len), in guarded memory) into a new keypair. where names the
 * source in messages ("key file PATH", "private key text"). */
static int keypair_parse(vmsec_keypair **out, const char *buf, size_t len, const char *where)
{
    static const char pubprefix[] = "x25519:";
    vmsec_keypair *kp = NULL;
    size_t bin_len = 0;
    const char *end = NULL;
    int rc;
    /* The common slip: the public half where the private key belongs. */
    if (len >= sizeof(pubprefix) - 1 && memcmp(buf, pubprefix, sizeof(pubprefix) - 1) == 0)
        return vmsec__error(VMSEC_EFORMAT,
                            "%s holds a public key (x25519:...), not a private key: give the private key, "
                            "written by vmsec-keygen without the .pub suffix",
                            where);
    /* a beginning of a key is reported as cut off, not as something else */
    if (len < KEYFILE_LEN - 1 &&
        memcmp(buf, KEYFILE_PREFIX, len < sizeof(KEYFILE_PREFIX) - 1 ? len : sizeof(KEYFILE_PREFIX) - 1) == 0)
        return vmsec__error(VMSEC_EFORMAT, "%s is truncated: %zu bytes, expected %zu", where, len, KEYFILE_LEN);
    if (len < sizeof(KEYFILE_PREFIX) - 1 || memcmp(buf, KEYFILE_PREFIX, sizeof(KEYFILE_PREFIX) - 1) != 0)
        return vmsec__error(VMSEC_EFORMAT, "%s is not a vmsec X25519 private key (bad header)", where);
    if (len != KEYFILE_LEN && len != KEYFILE_LEN - 1)
        return vmsec__error(VMSEC_EFORMAT, "%s is of the wrong size: %zu bytes, expected %zu", where, len,
                            KEYFILE_LEN);
    if ((rc = keypair_alloc(&kp)) < 0)
        return rc;
    if ((len == KEYFILE_LEN && buf[KEYFILE_LEN - 1] != '\n') ||
        sodium_base642bin(kp->secret, VMSEC_KEY_BYTES, buf + sizeof(KEYFILE_PREFIX) - 1, B64_KEY_LEN, NULL,
                          &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != VMSEC_KEY_BYTES || end != buf + KEYFILE_LEN - 1 || !is_canonical_b64_key(kp->secret, buf)) {
        vmsec_keypair_free(kp);
        return vmsec__error(VMSEC_EFORMAT, "%s has a malformed key (expected %d base64 characters)", where,
                            B64_KEY_LEN);
    }
    if ((rc = keypair_seal(kp)) < 0) {
        vmsec_keypair_free(kp);
        return rc;
    }
    *out = kp;
    return 0;
}

/* Reads the whole of a (small) key file into buf, which holds cap bytes: more than a key file
 * needs, so that a longer file is seen as such. */
static int read_small(int fd, char *buf, size_t cap, size_t *len, const char *path)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vmsec__error_errno(VMSEC_EIO, errno, "cannot read key file %s", path);
        if (n == 0 || (got += (size_t)n) == cap)
            break;
    }
    *len = got;
    return 0;
}

int vmsec_keypair_load(vmsec_keypair **out, const char *path)
{
    struct stat st;
    char *buf = NULL, where[PATH_MAX + 16];
    size_t len = 0;
    int fd, rc;

    if (!out || !path)
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_load: NULL argument");
    *out = NULL;
    if ((rc = vmsec__ensure_init()) < 0)
        return rc;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return vmsec__error(VMSEC_EPERM, "key file %s is a symbolic link; refusing to follow it", path);
        return vmsec__error_errno(vmsec__errno_code(e) == VMSEC_ENOTFOUND ? VMSEC_ENOTFOUND
                                  : vmsec__errno_code(e) == VMSEC_EPERM   ? VMSEC_EPERM
                                                                          : VMSEC_EIO,
                                  e, "cannot open key file %s", path);
    }
    if (fstat(fd, &st) < 0) {
        rc = vmsec__error_errno(VMSEC_EIO, errno, "cannot stat key file %s", path);
        goto out;
    }
    if ((rc = vmsec__file_check_secret(&st, path, "key file")) < 0)
        goto out;
    snprintf(where, sizeof(where), "key file %s", path);
    if ((size_t)st.st_size > KEYFILE_LEN) {
        rc = vmsec__error(VMSEC_EFORMAT, "%s is of the wrong size: %lld bytes, expected %zu", where,
                          (long long)st.st_size, KEYFILE_LEN);
        goto out;
    }
    if (!(buf = sodium_malloc(KEYFILE_LEN + 1))) {
        rc = vmsec__error(VMSEC_ENOMEM, "out of guarded memory");
        goto out;
    }
    if ((rc = read_small(fd, buf, KEYFILE_LEN + 1, &len, path)) < 0)
        goto out;
    /* the file form always ends in its newline */
    if (len == KEYFILE_LEN - 1 && memcmp(buf, KEYFILE_PREFIX, sizeof(KEYFILE_PREFIX) - 1) == 0) {
        rc = vmsec__error(VMSEC_EFORMAT, "%s is truncated: %zu bytes, expected %zu", where, len, KEYFILE_LEN);
        goto out;
    }
    rc = keypair_parse(out, buf, len, where);
out:
    close(fd);
    sodium_free(buf);
    return rc;
}

int vmsec_keypair_from_text(vmsec_keypair **out, const char *text, size_t len)
{
    char *buf;
    int rc;
    if (!out || (!text && len))
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_from_text: NULL argument");
    *out = NULL;
    if ((rc = vmsec__ensure_init()) < 0)
        return rc;
    if (len > KEYFILE_LEN)
        return vmsec__error(VMSEC_EFORMAT, "private key text is of the wrong size: %zu bytes, expected %zu", len,
                            KEYFILE_LEN);
    /* parse a guarded copy, so that no error path reads past the caller's bytes */
    if (!(buf = sodium_malloc(KEYFILE_LEN + 1)))
        return vmsec__error(VMSEC_ENOMEM, "out of guarded memory");
    if (len)
        memcpy(buf, text, len);
    rc = keypair_parse(out, buf, len, "private key text");
    sodium_free(buf);
    return rc;
}

int vmsec_keypair_to_text(const vmsec_keypair *kp, char *out, size_t cap)
{
    if (!kp || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_keypair_to_text: NULL argument");
    if (cap < KEYFILE_LEN + 1)
        return vmsec__error(VMSEC_ETOOBIG, "vmsec_keypair_to_text: buffer of %zu bytes is too small (need %zu)", cap,
                            KEYFILE_LEN + 1);
    memcpy(out, KEYFILE_PREFIX, sizeof(KEYFILE_PREFIX) - 1);
    sodium_bin2base64(out + sizeof(KEYFILE_PREFIX) - 1, B64_KEY_LEN + 1, kp->secret, VMSEC_KEY_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    out[KEYFILE_LEN - 1] = '\n';
    out[KEYFILE_LEN] = '\0';
    return 0;
}

int vmsec_pubkey_to_text(const uint8_t *pub, char *out, size_t out_len)
{
    if (!pub || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_pubkey_to_text: NULL argument");
    if (out_len < sizeof(PUBKEY_PREFIX) + B64_KEY_LEN)
        return vmsec__error(VMSEC_ETOOBIG, "vmsec_pubkey_to_text: buffer of %zu bytes is too small (need %zu)",
                            out_len, sizeof(PUBKEY_PREFIX) + B64_KEY_LEN);
    memcpy(out, PUBKEY_PREFIX, sizeof(PUBKEY_PREFIX) - 1);
    sodium_bin2base64(out + sizeof(PUBKEY_PREFIX) - 1, B64_KEY_LEN + 1, pub, VMSEC_KEY_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int vmsec_pubkey_from_text(uint8_t *pub, size_t pub_len, const char *text)
{
    const char *s, *e, *end = NULL;
    size_t bin_len = 0;
    uint8_t tmp[VMSEC_KEY_BYTES];
    char canon[VMSEC_PUBKEY_TEXT_MAX];

    if (!pub || !text || pub_len < VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "vmsec_pubkey_from_text: NULL argument or buffer under %d bytes",
                            VMSEC_KEY_BYTES);
    if (vmsec__ensure_init() < 0)
        return VMSEC_ECRYPTO;
    for (s = text; *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'; s++)
        ;
    for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'); e--)
        ;
    if ((size_t)(e - s) != sizeof(PUBKEY_PREFIX) - 1 + B64_KEY_LEN ||
        memcmp(s, PUBKEY_PREFIX, sizeof(PUBKEY_PREFIX) - 1) != 0)
        return vmsec__error(VMSEC_EFORMAT, "not a public key: expected '%s' followed by %d base64 characters",
                            PUBKEY_PREFIX, B64_KEY_LEN);
    s += sizeof(PUBKEY_PREFIX) - 1;
    if (sodium_base642bin(tmp, sizeof(tmp), s, B64_KEY_LEN, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != VMSEC_KEY_BYTES || end != e)
        return vmsec__error(VMSEC_EFORMAT, "public key text has invalid base64");
    /* Only the canonical encoding is accepted, so one key has exactly one text form. */
    vmsec_pubkey_to_text(tmp, canon, sizeof(canon));
    if (memcmp(canon + sizeof(PUBKEY_PREFIX) - 1, s, B64_KEY_LEN) != 0)
        return vmsec__error(VMSEC_EFORMAT, "public key text is not in canonical base64");
    if (vmsec_pubkey_validate(tmp, sizeof(tmp)) < 0)
        return VMSEC_EFORMAT;
    memcpy(pub, tmp, VMSEC_KEY_BYTES);
    return 0;
}

int vmsec_pubkey_load_file(uint8_t *pub, size_t pub_len, const char *path)
{
    char line[512];
    unsigned lineno = 0;
    struct stat st;
    FILE *f;
    int rc = 0;

    if (!pub || !path || pub_len < VMSEC_KEY_BYTES)
        return vmsec__error(VMSEC_EINVAL, "vmsec_pubkey_load_file: NULL argument or buffer under %d bytes",
                            VMSEC_KEY_BYTES);
    f = fopen(path, "re");
    if (!f) {
        int e = errno;
        return vmsec__error_errno(e == ENOENT ? VMSEC_ENOTFOUND : VMSEC_EIO, e, "cannot open public key file %s",
                                  path);
    }
    if (fstat(fileno(f), &st) < 0 || (rc = vmsec__file_check_trusted(&st, path, "public key file")) < 0) {
        rc = rc < 0 ? rc : vmsec__error_errno(VMSEC_EIO, errno, "cannot stat public key file %s", path);
        fclose(f);
        return rc;
    }
    while (fgets(line, sizeof(line), f)) {
        const char *p = line;
        lineno++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
            continue;
        fclose(f);
        rc = vmsec_pubkey_from_text(pub, pub_len, p);
        if (rc < 0)
            return vmsec__error(rc, "%s:%u: %s", path, lineno, vmsec_error_last());
        return 0;
    }
    rc = ferror(f) ? vmsec__error_errno(VMSEC_EIO, errno, "cannot read public key file %s", path)
                   : vmsec__error(VMSEC_EFORMAT, "public key file %s holds no key", path);
    fclose(f);
    return rc;
}

int vmsec_pubkey_fingerprint(const uint8_t *pub, char *out, size_t out_len)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t h[32];
    crypto_generichash_state st;
    const char *why;
    size_t o = 0;

    if (!pub || !out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_pubkey_fingerprint: NULL argument");
    if (out_len < 20)
        return vmsec__error(VMSEC_ETOOBIG, "vmsec_pubkey_fingerprint: buffer of %zu bytes is too small (need 20)",
                            out_len);
    /* One key, one fingerprint: a second encoding would get a different one. */
    if ((why = vmsec__pubkey_noncanonical(pub)))
        return vmsec__error(VMSEC_EFORMAT, "refusing to fingerprint a public key that is not canonical: %s", why);
    if (vmsec__ensure_init() < 0)
        return VMSEC_ECRYPTO;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)FINGERPRINT_LABEL, sizeof(FINGERPRINT_LABEL) - 1);
    crypto_generichash_update(&st, pub, VMSEC_KEY_BYTES);
    crypto_generichash_final(&st, h, sizeof(h));
    for (int i = 0; i < 8; i++) {
        if (i && i % 2 == 0)
            out[o++] = '-';
        out[o++] = hex[h[i] >> 4];
        out[o++] = hex[h[i] & 15];
    }
    out[o] = '\0';
    return 0;
}
