/* SPDX-License-Identifier: ISC */
/* Isolation profiles: the text format (parser, canonical serialiser), files and the digest. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "isolation/profile_keys.h"

/* ---- parser ------------------------------------------------------------------------------ */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s))
        (*s)++, (*n)--;
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

/* Copies at most 64 bytes of s into out with unprintable bytes shown as '?', for messages. */
static const char *shown(const char *s, size_t n, char out[72])
{
    size_t i, k = n > 64 ? 64 : n;
    for (i = 0; i < k; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (n > k) {
        memcpy(out + k, "...", 4);
        return out;
    }
    out[i] = '\0';
    return out;
}

/* Bytes a line may hold: printable ASCII and tabs anywhere; other bytes >= 0x80 only in comments. */
static int check_bytes(struct vmsec__diag *d, const char *l, size_t n, unsigned int line)
{
    bool comment = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)l[i];
        if (!comment && c == '#')
            comment = true;
        if (c == 0) {
            vmsec__diag_add(d, line, NULL, "NUL byte at column %zu", i + 1);
            return -1;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f || (c >= 0x80 && !comment)) {
            vmsec__diag_add(d, line, NULL, "invalid byte 0x%02x at column %zu", c, i + 1);
            return -1;
        }
    }
    return 0;
}

static bool key_chars_ok(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '.' || k[i] == '_'))
            return false;
    return true;
}

static void rejected_add(struct vmsec__rejected *rj, const char *key, unsigned int line)
{
    if (rj->n < VMSEC_ARRAY_LEN(rj->e)) {
        rj->e[rj->n].line = line;
        snprintf(rj->e[rj->n].key, sizeof(rj->e[rj->n].key), "%s", key);
        rj->n++;
    }
}

/* State of one parse besides the profile itself. */
struct parse {
    struct vmsec__diag diag;
    struct vmsec__rejected rejected;
    /* Line of the first vcpu.N.pin / iothread.N.pin, by N (0: not seen); allocated on first use. */
    unsigned int *pin_seen[2];
};

/* vcpu.N.pin and iothread.N.pin: appended unsorted (sorted once at the end), duplicates found
 * through pin_seen, so a text listing thousands of pins in any order parses in linear time. */
static int parse_pin(struct vmsec_profile *p, struct parse *ps, const struct vmsec__slot *s, const char *val,
                     size_t vlen, unsigned int line)
{
    bool vcpu = s->kind == VMSEC__K_VCPU_PIN;
    unsigned int **seen = &ps->pin_seen[vcpu ? 0 : 1];
    char why[VMSEC__WHY_MAX];
    vmsec_cpuset cs;
    if (!*seen && !(*seen = calloc(VMSEC__MAX_IDS + 1, sizeof(**seen))))
        return VMSEC_ENOMEM;
    if ((*seen)[s->id]) {
        vmsec__diag_add(&ps->diag, line, NULL, "duplicate key '%s' (first set on line %u)", s->key, (*seen)[s->id]);
        return 0;
    }
    (*seen)[s->id] = line;
    if (vlen == 0 || memchr(val, '#', vlen)) {
        vmsec__diag_add(&ps->diag, line, s->key, "%s",
                        vlen ? "'#' in a value (comments must be on a line of their own)" : "missing value");
        return 0;
    }
    if (vmsec__cpuset_parse(&cs, val, vlen, 0, why, sizeof(why)) < 0) {
        vmsec__diag_add(&ps->diag, line, s->key, "%s", why);
        return 0;
    }
    if (vcpu)
        return vmsec__pin_append(&p->vcpu_pins, &p->n_vcpu_pins, s->id, &cs, line);
    return vmsec__pin_append(&p->iothread_pins, &p->n_iothread_pins, s->id, &cs, line);
}

/* Parses one line (without its '\n'). Returns VMSEC_ENOMEM when parsing must stop, else 0. */
static int parse_line(struct vmsec_profile *p, struct parse *ps, const char *l, size_t n, unsigned int line)
{
    struct vmsec__diag *d = &ps->diag;
    struct vmsec__rejected *rj = &ps->rejected;
    const char *eq, *key, *val;
    size_t klen, vlen;
    struct vmsec__slot s;
    char why[VMSEC__WHY_MAX], q[72];
    unsigned int first;
    int r;

    if (n > VMSEC__LINE_MAX) {
        vmsec__diag_add(d, line, NULL, "line longer than %u bytes", VMSEC__LINE_MAX);
        return 0;
    }
    if (n && l[n - 1] == '\r')
        n--;
    if (check_bytes(d, l, n, line) < 0)
        return 0;
    trim(&l, &n);
    if (n == 0 || l[0] == '#')
        return 0;
    if (!(eq = memchr(l, '=', n))) {
        vmsec__diag_add(d, line, NULL, "expected 'key = value', got '%s'", shown(l, n, q));
        return 0;
    }
    key = l;
    klen = (size_t)(eq - l);
    val = eq + 1;
    vlen = n - klen - 1;
    trim(&key, &klen);
    trim(&val, &vlen);
    if (klen == 0) {
        vmsec__diag_add(d, line, NULL, "missing key before '='");
        return 0;
    }
    if (!key_chars_ok(key, klen) || (r = vmsec__slot_resolve(&s, key, klen, why, sizeof(why))) == -1) {
        char hint[VMSEC__KEY_MAX + 1];
        if (vmsec__profile_key_suggest(key, klen, hint, sizeof(hint)))
            vmsec__diag_add(d, line, NULL, "unknown key '%s' (did you mean '%s'?)", shown(key, klen, q), hint);
        else
            vmsec__diag_add(d, line, NULL, "unknown key '%s'", shown(key, klen, q));
        return 0;
    }
    if (r < 0) {
        vmsec__diag_add(d, line, shown(key, klen, q), "%s", why);
        return 0;
    }
    if (s.kind == VMSEC__K_VCPU_PIN || s.kind == VMSEC__K_IOTHREAD_PIN)
        return parse_pin(p, ps, &s, val, vlen, line);
    if (vmsec__slot_is_set(p, &s, &first) || (first = vmsec__rejected_line(rj, s.key)) != 0) {
        vmsec__diag_add(d, line, NULL, "duplicate key '%s' (first set on line %u)", s.key, first);
        return 0;
    }
    if (memchr(val, '#', vlen)) {
        vmsec__diag_add(d, line, s.key, "'#' in a value (comments must be on a line of their own)");
        rejected_add(rj, s.key, line);
        return 0;
    }
    r = vmsec__slot_set(p, &s, val, vlen, line, why, sizeof(why));
    if (r == VMSEC_ENOMEM)
        return r;
    if (r < 0) {
        vmsec__diag_add(d, line, s.key, "%s", why);
        rejected_add(rj, s.key, line);
    }
    return 0;
}

static int parse_text(vmsec_profile **out, const char *text, size_t len, const char *name)
{
    struct parse *ps;
    vmsec_profile *p = NULL;
    unsigned int line = 0;
    size_t pos = 0;
    int r = 0;

    if ((r = vmsec_profile_new(&p)) < 0)
        return r;
    if (!(p->source = strdup(name)) || !(ps = calloc(1, sizeof(*ps)))) {
        vmsec_profile_free(p);
        return vmsec__error(VMSEC_ENOMEM, "profile %s: out of memory", name);
    }
    vmsec__diag_init(&ps->diag, p->source);
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3; /* a UTF-8 byte order mark, as some editors write */
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if ((r = parse_line(p, ps, text + pos, n, ++line)) < 0)
            break;
        pos += n + 1;
    }
    vmsec__pins_sort(p->vcpu_pins, p->n_vcpu_pins);
    vmsec__pins_sort(p->iothread_pins, p->n_iothread_pins);
    /* Also after line errors, so one run reports every problem; settings whose value was rejected
     * are passed along so that they do not show up as missing. */
    if (r == 0)
        vmsec__profile_check(p, &ps->rejected, &ps->diag);
    if (r == VMSEC_ENOMEM)
        r = vmsec__error(VMSEC_ENOMEM, "profile %s: out of memory", name);
    else if (ps->diag.count)
        r = vmsec__diag_report(&ps->diag, VMSEC_EFORMAT);
    free(ps->pin_seen[0]);
    free(ps->pin_seen[1]);
    free(ps);
    if (r < 0) {
        vmsec_profile_free(p);
        return r;
    }
    *out = p;
    return 0;
}

int vmsec_profile_parse(vmsec_profile **out, const char *text, size_t len, const char *name)
{
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_parse: out is NULL");
    *out = NULL;
    if (!text && len)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_parse: text is NULL");
    if (!name)
        name = "<string>";
    if (len > VMSEC_PROFILE_TEXT_LIMIT)
        return vmsec__error(VMSEC_ETOOBIG, "profile %s: text of %zu bytes is larger than the limit of %u bytes", name,
                            len, VMSEC_PROFILE_TEXT_LIMIT);
    return parse_text(out, text ? text : "", len, name);
}

/* Reads a whole regular file of at most VMSEC_PROFILE_TEXT_LIMIT bytes. */
static int read_file(const char *path, char **data, size_t *len)
{
    struct stat st;
    size_t cap = VMSEC_PROFILE_TEXT_LIMIT + 1, n = 0;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return vmsec__error_errno(vmsec__errno_code(errno), errno, "profile %s: cannot open", path);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        if (!S_ISREG(st.st_mode))
            return vmsec__error(VMSEC_EINVAL, "profile %s: not a regular file", path);
        return vmsec__error_errno(VMSEC_EIO, e, "profile %s: cannot stat", path);
    }
    if (!(buf = malloc(cap))) {
        close(fd);
        return vmsec__error(VMSEC_ENOMEM, "profile %s: out of memory", path);
    }
    while (n < cap) {
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return vmsec__error_errno(VMSEC_EIO, e, "profile %s: read failed", path);
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (n > VMSEC_PROFILE_TEXT_LIMIT) {
        free(buf);
        return vmsec__error(VMSEC_ETOOBIG, "profile %s: file is larger than the limit of %u bytes", path,
                            VMSEC_PROFILE_TEXT_LIMIT);
    }
    *data = buf;
    *len = n;
    return 0;
}

int vmsec_profile_load_file(vmsec_profile **out, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    int r;
    if (!out)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_load_file: out is NULL");
    *out = NULL;
    if (!path)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_load_file: path is NULL");
    if ((r = read_file(path, &data, &len)) < 0)
        return r;
    r = parse_text(out, data, len, path);
    free(data);
    return r;
}

/* ---- serialiser -------------------------------------------------------------------------- */

struct sbuf {
    char *buf;
    size_t len, cap;
    bool oom;
};

static char *sb_reserve(struct sbuf *b, size_t extra)
{
    if (b->oom)
        return NULL;
    if (b->len + extra + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *n;
        while (cap < b->len + extra + 1)
            cap *= 2;
        if (!(n = realloc(b->buf, cap))) {
            b->oom = true;
            return NULL;
        }
        b->buf = n;
        b->cap = cap;
    }
    return b->buf + b->len;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    char *at = sb_reserve(b, n);
    if (at) {
        memcpy(at, s, n);
        b->len += n;
        b->buf[b->len] = '\0';
    }
}

/* Appends "key = <value>\n" where value comes from a formatter (snprintf convention). */
static void sb_slot(struct sbuf *b, const vmsec_profile *p, const struct vmsec__slot *s)
{
    size_t n;
    char *at;
    if (!vmsec__slot_is_set(p, s, NULL))
        return;
    sb_add(b, s->key, strlen(s->key));
    sb_add(b, " = ", 3);
    n = vmsec__slot_format(p, s, NULL, 0);
    if ((at = sb_reserve(b, n))) {
        vmsec__slot_format(p, s, at, n + 1);
        b->len += n;
    }
    sb_add(b, "\n", 1);
}

static void sb_key(struct sbuf *b, const vmsec_profile *p, const char *key)
{
    struct vmsec__slot s;
    char why[VMSEC__WHY_MAX];
    if (vmsec__slot_resolve(&s, key, strlen(key), why, sizeof(why)) == 0)
        sb_slot(b, p, &s);
}

static void sb_pins(struct sbuf *b, const vmsec_profile *p, const struct vmsec__pin *pins, size_t n, const char *kind)
{
    char key[40];
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s.%u.pin", kind, pins[i].id);
        sb_key(b, p, key);
    }
}

static void sb_devices(struct sbuf *b, const vmsec_profile *p)
{
    char line[VMSEC__KEY_MAX + 64];
    for (size_t i = 0; i < p->n_blkio_devices; i++) {
        const struct vmsec__blkio_device *d = vmsec__profile_device_sorted(p, i);
        for (int f = -1; f < VMSEC__BLKIO_FIELDS; f++) {
            size_t n = vmsec__device_format(d, f, NULL, 0);
            char *at;
            if (f >= 0 && !d->field[f].set)
                continue;
            snprintf(line, sizeof(line), "blkio.device.%zu.%s = ", i, f < 0 ? "path" : vmsec__blkio_field_names[f]);
            sb_add(b, line, strlen(line));
            if ((at = sb_reserve(b, n))) {
                vmsec__device_format(d, f, at, n + 1);
                b->len += n;
            }
            sb_add(b, "\n", 1);
        }
    }
}

static const char *const canonical_keys[] = {
    "cpu.placement", "cpu.thread_policy", "cpu.emulator", "numa.fit", "host.reserved_cpus",
    "cpu.shares",
    "cpu.vcpu_period", "cpu.vcpu_quota", "cpu.emulator_period", "cpu.emulator_quota",
    "cpu.iothread_period", "cpu.iothread_quota", "cpu.global_period", "cpu.global_quota",
    "numa.mode", "numa.nodeset",
    "memory.hard_limit", "memory.soft_limit", "memory.swap_hard_limit", "memory.locked",
    "memory.hugepages.size", "memory.hugepages.nodeset", "memory.nosharepages",
    "blkio.weight",
};

/* Canonical text into b (NUL-terminated even when empty). Fails on an inconsistent profile. */
static int serialise(const vmsec_profile *p, struct sbuf *b)
{
    int r = vmsec__profile_validate(p);
    if (r < 0)
        return r;
    memset(b, 0, sizeof(*b));
    sb_add(b, "", 0);
    sb_key(b, p, "name");
    sb_key(b, p, "vcpus");
    sb_key(b, p, "iothreads");
    sb_pins(b, p, p->vcpu_pins, p->n_vcpu_pins, "vcpu");
    sb_key(b, p, "emulator.pin");
    sb_pins(b, p, p->iothread_pins, p->n_iothread_pins, "iothread");
    for (size_t i = 0; i < VMSEC_ARRAY_LEN(canonical_keys); i++)
        sb_key(b, p, canonical_keys[i]);
    sb_devices(b, p);
    if (b->oom) {
        free(b->buf);
        return vmsec__error(VMSEC_ENOMEM, "profile: out of memory");
    }
    return 0;
}

int vmsec_profile_to_text(const vmsec_profile *p, char *buf, size_t size, size_t *needed)
{
    struct sbuf b;
    int r;
    if (!p)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_to_text: profile is NULL");
    if ((r = serialise(p, &b)) < 0)
        return r;
    if (needed)
        *needed = b.len + 1;
    if (buf && size < b.len + 1)
        r = vmsec__error(VMSEC_ETOOBIG, "vmsec_profile_to_text: text needs %zu bytes, buffer has %zu", b.len + 1, size);
    else if (buf)
        memcpy(buf, b.buf, b.len + 1);
    free(b.buf);
    return r;
}

int vmsec_profile_digest(const vmsec_profile *p, char *buf, size_t size)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    struct sbuf b;
    int r;
    if (!p || !buf)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_digest: %s is NULL", p ? "buf" : "profile");
    if (size < VMSEC_PROFILE_DIGEST_MAX)
        return vmsec__error(VMSEC_ETOOBIG, "vmsec_profile_digest: buffer of %zu bytes, need %d", size,
                            VMSEC_PROFILE_DIGEST_MAX);
    if ((r = vmsec__ensure_init()) < 0)
        return r;
    if ((r = serialise(p, &b)) < 0)
        return r;
    crypto_hash_sha256(h, (const unsigned char *)b.buf, b.len);
    free(b.buf);
    memcpy(buf, "sha256:", 7);
    sodium_bin2hex(buf + 7, size - 7, h, sizeof(h));
    return 0;
}

/* ---- saving ------------------------------------------------------------------------------ */

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

static void sync_parent(const char *path)
{
    char *dir = strdup(path), *slash;
    int fd;
    if (!dir)
        return;
    slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int vmsec_profile_save_file(const vmsec_profile *p, const char *path)
{
    struct sbuf b;
    char *tmp;
    int fd, r, e;
    if (!p || !path)
        return vmsec__error(VMSEC_EINVAL, "vmsec_profile_save_file: %s is NULL", p ? "path" : "profile");
    if ((r = serialise(p, &b)) < 0)
        return r;
    if (!(tmp = malloc(strlen(path) + 8))) {
        free(b.buf);
        return vmsec__error(VMSEC_ENOMEM, "profile %s: out of memory", path);
    }
    sprintf(tmp, "%s.XXXXXX", path);
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        e = errno;
        r = vmsec__error_errno(vmsec__errno_code(e), e, "profile %s: cannot create temporary file", path);
        goto out;
    }
    if (fchmod(fd, 0644) < 0 || write_all(fd, b.buf, b.len) < 0 || fsync(fd) < 0) {
        e = errno;
        close(fd);
        unlink(tmp);
        r = vmsec__error_errno(VMSEC_EIO, e, "profile %s: cannot write", path);
        goto out;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        e = errno;
        unlink(tmp);
        r = vmsec__error_errno(vmsec__errno_code(e), e, "profile %s: cannot write", path);
        goto out;
    }
    sync_parent(path);
out:
    free(tmp);
    free(b.buf);
    return r;
}
