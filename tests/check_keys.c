/* SPDX-License-Identifier: ISC */
/* Keys: generation, files, text form, fingerprints; success and every failure path. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmsec.h>

#include "testutil.h"

static char dir[512];
static char path[PATH_MAX];

static void setup(void)
{
    vt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/host.key", dir);
}

static void teardown(void)
{
    vt_rmtree(dir);
}

/* RFC 7748 section 6.1, Alice. */
static const char *alice_sk = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char *alice_pk = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

static void hex(uint8_t *out, const char *h, size_t n)
{
    size_t len;
    ck_assert_int_eq(sodium_hex2bin(out, n, h, strlen(h), NULL, &len, NULL), 0);
    ck_assert_uint_eq(len, n);
}

static vmsec_keypair *alice(void)
{
    uint8_t sk[32];
    vmsec_keypair *kp = NULL;
    hex(sk, alice_sk, 32);
    ck_assert_int_eq(vmsec_keypair_from_secret(&kp, sk, sizeof(sk)), 0);
    return kp;
}

START_TEST(sizes)
{
    ck_assert_uint_eq(vmsec_key_bytes(), VMSEC_KEY_BYTES);
    ck_assert_uint_eq(vmsec_key_bytes(), 32);
    ck_assert_uint_eq(vmsec_pubkey_text_max(), VMSEC_PUBKEY_TEXT_MAX);
    ck_assert_uint_eq(vmsec_fingerprint_max(), VMSEC_FINGERPRINT_MAX);
}
END_TEST

START_TEST(from_secret_derives_rfc7748_public_key)
{
    uint8_t pub[32], want[32];
    vmsec_keypair *kp = alice();
    hex(want, alice_pk, 32);
    ck_assert_int_eq(vmsec_keypair_public(kp, pub, sizeof(pub)), 0);
    ck_assert_mem_eq(pub, want, 32);
    vmsec_keypair_free(kp);
}
END_TEST

START_TEST(from_secret_rejects_bad_arguments)
{
    uint8_t sk[33] = {0};
    vmsec_keypair *kp = (vmsec_keypair *)1;
    ck_assert_int_eq(vmsec_keypair_from_secret(&kp, sk, 31), VMSEC_EINVAL);
    ck_assert_ptr_null(kp);
    ck_assert_int_eq(vmsec_keypair_from_secret(&kp, sk, 33), VMSEC_EINVAL);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "33 bytes"));
    ck_assert_int_eq(vmsec_keypair_from_secret(&kp, NULL, 32), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_keypair_from_secret(NULL, sk, 32), VMSEC_EINVAL);
}
END_TEST

START_TEST(generate_gives_distinct_valid_keys)
{
    vmsec_keypair *a = NULL, *b = NULL;
    uint8_t pa[32], pb[32], zero[32] = {0};
    ck_assert_int_eq(vmsec_keypair_generate(&a), 0);
    ck_assert_int_eq(vmsec_keypair_generate(&b), 0);
    ck_assert_int_eq(vmsec_keypair_public(a, pa, sizeof(pa)), 0);
    ck_assert_int_eq(vmsec_keypair_public(b, pb, sizeof(pb)), 0);
    ck_assert_mem_ne(pa, pb, 32);
    ck_assert_mem_ne(pa, zero, 32);
    ck_assert_int_eq(vmsec_keypair_generate(NULL), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_keypair_public(a, pa, 31), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_keypair_public(NULL, pa, 32), VMSEC_EINVAL);
    vmsec_keypair_free(a);
    vmsec_keypair_free(b);
    vmsec_keypair_free(NULL);
}
END_TEST

START_TEST(save_load_round_trip_with_mode_0600)
{
    vmsec_keypair *kp = alice(), *back = NULL;
    uint8_t p1[32], p2[32];
    struct stat st;
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(vmsec_keypair_load(&back, path), 0);
    vmsec_keypair_public(kp, p1, 32);
    vmsec_keypair_public(back, p2, 32);
    ck_assert_mem_eq(p1, p2, 32);
    vmsec_keypair_free(kp);
    vmsec_keypair_free(back);
}
END_TEST

START_TEST(save_writes_documented_format)
{
    vmsec_keypair *kp = alice();
    uint8_t sk[32];
    char want[128], b64[64], got[128] = {0};
    FILE *f;
    hex(sk, alice_sk, 32);
    sodium_bin2base64(b64, sizeof(b64), sk, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(want, sizeof(want), "vmsec-private-key-v1 x25519 %s\n", b64);
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), 0);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(got, 1, sizeof(got) - 1, f), strlen(want));
    fclose(f);
    ck_assert_str_eq(got, want);
    vmsec_keypair_free(kp);
}
END_TEST

START_TEST(save_refuses_to_overwrite_unless_asked)
{
    vmsec_keypair *a = alice(), *b = NULL, *back = NULL;
    uint8_t pa[32], pb[32], pback[32];
    ck_assert_int_eq(vmsec_keypair_generate(&b), 0);
    ck_assert_int_eq(vmsec_keypair_save(a, path, 0), 0);
    ck_assert_int_eq(vmsec_keypair_save(b, path, 0), VMSEC_EEXIST);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "already exists"));
    ck_assert_int_eq(vmsec_keypair_load(&back, path), 0);
    vmsec_keypair_public(a, pa, 32);
    vmsec_keypair_public(back, pback, 32);
    ck_assert_mem_eq(pa, pback, 32);
    vmsec_keypair_free(back);
    ck_assert_int_eq(vmsec_keypair_save(b, path, VMSEC_KEY_SAVE_OVERWRITE), 0);
    ck_assert_int_eq(vmsec_keypair_load(&back, path), 0);
    vmsec_keypair_public(b, pb, 32);
    vmsec_keypair_public(back, pback, 32);
    ck_assert_mem_eq(pb, pback, 32);
    vmsec_keypair_free(a);
    vmsec_keypair_free(b);
    vmsec_keypair_free(back);
}
END_TEST

START_TEST(save_leaves_no_temporary_files)
{
    vmsec_keypair *kp = alice();
    char cmd[PATH_MAX + 64];
    FILE *p;
    char line[256];
    int n = 0;
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), 0);
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), VMSEC_EEXIST);
    snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
    p = popen(cmd, "r");
    while (fgets(line, sizeof(line), p))
        n++;
    pclose(p);
    ck_assert_int_eq(n, 1);
    vmsec_keypair_free(kp);
}
END_TEST

START_TEST(save_errors)
{
    vmsec_keypair *kp = alice();
    char bad[PATH_MAX];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/key", dir);
    ck_assert_int_eq(vmsec_keypair_save(kp, bad, 0), VMSEC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), bad));
    ck_assert_int_eq(vmsec_keypair_save(kp, "", 0), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_keypair_save(NULL, path, 0), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0x80), VMSEC_EINVAL);
    vmsec_keypair_free(kp);
}
END_TEST

START_TEST(load_refuses_group_or_world_accessible)
{
    vmsec_keypair *kp = alice(), *back = (vmsec_keypair *)1;
    unsigned modes[] = {0640, 0604, 0644, 0660, 0602, 0620, 0610};
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), 0);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        ck_assert_int_eq(chmod(path, modes[i]), 0);
        ck_assert_int_eq(vmsec_keypair_load(&back, path), VMSEC_EPERM);
        ck_assert_ptr_null(back);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "group or others"));
    }
    ck_assert_int_eq(chmod(path, 0400), 0);
    ck_assert_int_eq(vmsec_keypair_load(&back, path), 0);
    vmsec_keypair_free(back);
    vmsec_keypair_free(kp);
}
END_TEST

START_TEST(load_refuses_truncated_at_every_length)
{
    vmsec_keypair *kp = alice(), *back = NULL;
    char full[128] = {0}, p2[PATH_MAX];
    size_t len;
    FILE *f;
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), 0);
    f = fopen(path, "r");
    len = fread(full, 1, sizeof(full), f);
    fclose(f);
    ck_assert_uint_eq(len, 73);
    snprintf(p2, sizeof(p2), "%s/cut.key", dir);
    for (size_t cut = 0; cut < len; cut++) {
        vt_write_file(p2, full, cut, 0600);
        ck_assert_int_eq(vmsec_keypair_load(&back, p2), VMSEC_EFORMAT);
        ck_assert_ptr_null(back);
        ck_assert_msg(strstr(vmsec_error_last(), "truncated") != NULL, "cut %zu: %s", cut, vmsec_error_last());
    }
    vmsec_keypair_free(kp);
}
END_TEST

/* The key file's text round-trips through memory (for pipes), and a public key given where the
 * private one belongs is named as such, in a file or in text. */
START_TEST(private_key_text_round_trip_and_public_key_slip)
{
    vmsec_keypair *kp = alice(), *back = NULL;
    char text[VMSEC_PRIVKEY_TEXT_MAX], small[VMSEC_PRIVKEY_TEXT_MAX - 1], pubtext[VMSEC_PUBKEY_TEXT_MAX];
    char p2[PATH_MAX + 16], filebuf[128] = {0};
    uint8_t a[32], b[32];
    FILE *f;
    size_t n;
    ck_assert_int_eq(vmsec_keypair_to_text(kp, text, sizeof(text)), 0);
    ck_assert_uint_eq(strlen(text), VMSEC_PRIVKEY_TEXT_MAX - 1);
    ck_assert_int_eq(vmsec_keypair_to_text(kp, small, sizeof(small)), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_keypair_to_text(NULL, text, sizeof(text)), VMSEC_EINVAL);
    /* the same bytes as the file vmsec_keypair_save writes */
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), 0);
    f = fopen(path, "r");
    n = fread(filebuf, 1, sizeof(filebuf), f);
    fclose(f);
    ck_assert_uint_eq(n, strlen(text));
    ck_assert_mem_eq(filebuf, text, n);
    /* back, with and without the newline; the same public key */
    vmsec_keypair_public(kp, a, 32);
    for (size_t len = strlen(text) - 1; len <= strlen(text); len++) {
        ck_assert_int_eq(vmsec_keypair_from_text(&back, text, len), 0);
        vmsec_keypair_public(back, b, 32);
        ck_assert_mem_eq(a, b, 32);
        vmsec_keypair_free(back);
        back = NULL;
    }
    /* every shorter text is cut off; a longer one, or one with a changed character, is refused */
    for (size_t len = 0; len + 1 < strlen(text); len++) {
        ck_assert_int_eq(vmsec_keypair_from_text(&back, text, len), VMSEC_EFORMAT);
        ck_assert_ptr_null(back);
        ck_assert_msg(strstr(vmsec_error_last(), "truncated"), "len %zu: %s", len, vmsec_error_last());
    }
    ck_assert_int_eq(vmsec_keypair_from_text(&back, text, sizeof(text)), VMSEC_EFORMAT);
    text[40] = text[40] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(vmsec_keypair_from_text(&back, text, strlen(text)), 0);
    vmsec_keypair_public(back, b, 32);
    ck_assert_int_ne(memcmp(a, b, 32), 0); /* another valid key: base64 carries no checksum */
    vmsec_keypair_free(back);
    back = NULL;
    text[28] = '*';
    ck_assert_int_eq(vmsec_keypair_from_text(&back, text, strlen(text)), VMSEC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "malformed"));
    ck_assert_ptr_null(strstr(vmsec_error_last(), text + 28)); /* the secret is never echoed */
    ck_assert_int_eq(vmsec_keypair_from_text(NULL, text, 3), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_keypair_from_text(&back, NULL, 3), VMSEC_EINVAL);
    /* a public key where the private one belongs: said plainly, in text and in a file */
    ck_assert_int_eq(vmsec_pubkey_to_text(a, pubtext, sizeof(pubtext)), 0);
    ck_assert_int_eq(vmsec_keypair_from_text(&back, pubtext, strlen(pubtext)), VMSEC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "holds a public key"));
    snprintf(p2, sizeof(p2), "%s/k.pub", dir);
    strcat(pubtext, "\n");
    vt_write_file(p2, pubtext, strlen(pubtext), 0600);
    ck_assert_int_eq(vmsec_keypair_load(&back, p2), VMSEC_EFORMAT);
    ck_assert_ptr_null(back);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "holds a public key"));
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), p2));
    vmsec_keypair_free(kp);
}
END_TEST

START_TEST(load_refuses_wrong_size_or_format)
{
    vmsec_keypair *back = NULL;
    const char *good = "vmsec-private-key-v1 x25519 dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n";
    char buf[1024];
    struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"vmsec-private-key-v1 x25519 dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\nX", "wrong size"},
        {"vmsec-private-key-v2 x25519 dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n", "bad header"},
        {"vmsec-private-key-v1 ed2551 dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n", "bad header"},
        {"vmsec-private-key-v1 x25519 dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L!o=\n", "malformed key"},
        {"vmsec-private-key-v1 x25519 dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo= ", "malformed key"},
        {"vmsec-private-key-v1 x25519 dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA\n", "malformed key"},
    };
    vt_write_file(path, good, strlen(good), 0600);
    ck_assert_int_eq(vmsec_keypair_load(&back, path), 0);
    vmsec_keypair_free(back);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s/bad%zu.key", dir, i);
        vt_write_file(buf, cases[i].text, strlen(cases[i].text), 0600);
        back = NULL;
        ck_assert_int_eq(vmsec_keypair_load(&back, buf), VMSEC_EFORMAT);
        ck_assert_ptr_null(back);
        ck_assert_msg(strstr(vmsec_error_last(), cases[i].why) != NULL, "case %zu: %s", i, vmsec_error_last());
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), buf));
    }
}
END_TEST

START_TEST(load_refuses_missing_symlink_and_non_regular)
{
    vmsec_keypair *kp = alice(), *back = NULL;
    char link[PATH_MAX], fifo[PATH_MAX];
    ck_assert_int_eq(vmsec_keypair_load(&back, path), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), 0);
    snprintf(link, sizeof(link), "%s/link.key", dir);
    ck_assert_int_eq(symlink(path, link), 0);
    ck_assert_int_eq(vmsec_keypair_load(&back, link), VMSEC_EPERM);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "symbolic link"));
    ck_assert_int_eq(vmsec_keypair_load(&back, dir), VMSEC_EPERM);
    snprintf(fifo, sizeof(fifo), "%s/fifo.key", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(vmsec_keypair_load(&back, fifo), VMSEC_EPERM);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not a regular file"));
    ck_assert_int_eq(vmsec_keypair_load(NULL, path), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_keypair_load(&back, NULL), VMSEC_EINVAL);
    ck_assert_ptr_null(back);
    vmsec_keypair_free(kp);
}
END_TEST

START_TEST(error_messages_never_contain_the_secret)
{
    const char *text = "vmsec-private-key-v1 x25519 dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n";
    vmsec_keypair *back = NULL;
    vt_write_file(path, text, strlen(text), 0644);
    ck_assert_int_eq(vmsec_keypair_load(&back, path), VMSEC_EPERM);
    ck_assert_ptr_null(strstr(vmsec_error_last(), "dwdtCnMY"));
    vt_write_file(path, text, strlen(text) - 1, 0600);
    ck_assert_int_eq(vmsec_keypair_load(&back, path), VMSEC_EFORMAT);
    ck_assert_ptr_null(strstr(vmsec_error_last(), "dwdtCnMY"));
}
END_TEST

START_TEST(pubkey_text_round_trip)
{
    uint8_t pub[32], back[32];
    char text[VMSEC_PUBKEY_TEXT_MAX], padded[128];
    hex(pub, alice_pk, 32);
    ck_assert_int_eq(vmsec_pubkey_to_text(pub, text, sizeof(text)), 0);
    ck_assert_str_eq(text, "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
    ck_assert_int_eq(vmsec_pubkey_from_text(back, sizeof(back), text), 0);
    ck_assert_mem_eq(pub, back, 32);
    snprintf(padded, sizeof(padded), "  \t%s\r\n", text);
    memset(back, 0, 32);
    ck_assert_int_eq(vmsec_pubkey_from_text(back, sizeof(back), padded), 0);
    ck_assert_mem_eq(pub, back, 32);
    ck_assert_int_eq(vmsec_pubkey_to_text(pub, text, strlen("x25519:") + 44), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_pubkey_to_text(pub, text, strlen("x25519:") + 45), 0);
    ck_assert_int_eq(vmsec_pubkey_to_text(NULL, text, sizeof(text)), VMSEC_EINVAL);
}
END_TEST

START_TEST(pubkey_text_rejects_malformed)
{
    uint8_t pub[32];
    const char *bad[] = {
        "",
        "x25519:",
        "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",          /* no prefix */
        "ed25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",  /* other algorithm */
        "X25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",   /* prefix is case-sensitive */
        "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm=",    /* short */
        "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA",   /* no padding */
        "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo==",  /* long */
        "x25519:hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=",   /* url-safe alphabet */
        "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066Spjqqb Tmo=",  /* embedded space */
        "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=",   /* non-canonical trailing bits */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(vmsec_pubkey_from_text(pub, sizeof(pub), bad[i]) == VMSEC_EFORMAT, "accepted '%s'", bad[i]);
    ck_assert_int_eq(vmsec_pubkey_from_text(pub, 31, "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="),
                     VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_pubkey_from_text(pub, 32, NULL), VMSEC_EINVAL);
}
END_TEST

/* Parts that need to give a file away to another user: root only. A developer's run skips them,
 * saying so; CI (VMSEC_REQUIRE_ALL=1) fails instead. */
static bool can_chown(void)
{
    const char *v = getenv("VMSEC_REQUIRE_ALL");
    if (geteuid() == 0)
        return true;
    ck_assert_msg(!(v && *v && strcmp(v, "0") != 0), "not root: cannot test files owned by another user");
    fprintf(stderr, "# skipped: files owned by another user (needs root)\n");
    return false;
}

/* As ssh's StrictModes: a secret owned by someone else, or a trust file (public key, peer map,
 * policy) that another user could write or replace, is refused, naming the fix. */
START_TEST(key_and_trust_files_refused_when_others_control_them)
{
    vmsec_keypair *kp = alice(), *back = NULL;
    vmsec_peermap *m = NULL;
    vmsec_policy *pol = NULL;
    uint8_t pub[32];
    char p[PATH_MAX + 16], sub[PATH_MAX], text[256], t[64];
    ck_assert_int_eq(vmsec_keypair_public(kp, pub, 32), 0);
    ck_assert_int_eq(vmsec_pubkey_to_text(pub, t, sizeof(t)), 0);
    /* the trust files, each written 0644 by this user: accepted */
    snprintf(p, sizeof(p), "%s/a.pub", dir);
    snprintf(text, sizeof(text), "%s\n", t);
    vt_write_file(p, text, strlen(text), 0644);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), 0);
    /* writable by group or others: refused */
    ck_assert_int_eq(chmod(p, 0664), 0);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_EPERM);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "writable by group or others (mode 0664)"));
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "chmod go-w"));
    ck_assert_int_eq(chmod(p, 0646), 0);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_EPERM);
    ck_assert_int_eq(chmod(p, 0644), 0);
    /* in a folder others may write (they could replace the file): refused; sticky (as /tmp): accepted */
    snprintf(sub, sizeof(sub), "%s/open", dir);
    ck_assert_int_eq(mkdir(sub, 0777), 0);
    ck_assert_int_eq(chmod(sub, 0777), 0);
    snprintf(p, sizeof(p), "%s/b.pub", sub);
    vt_write_file(p, text, strlen(text), 0644);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_EPERM);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "which group or others may write"));
    ck_assert_int_eq(chmod(sub, 01777), 0);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), 0);
    ck_assert_int_eq(chmod(sub, 0755), 0);
    /* a peer map and a policy follow the same rule */
    snprintf(p, sizeof(p), "%s/peers", dir);
    snprintf(text, sizeof(text), "web-1 %s\n", t);
    vt_write_file(p, text, strlen(text), 0666);
    ck_assert_int_eq(chmod(p, 0666), 0);
    ck_assert_int_eq(vmsec_peermap_new(&m), 0);
    ck_assert_int_eq(vmsec_peermap_load_file(m, p), VMSEC_EPERM);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "peer map"));
    ck_assert_int_eq(vmsec_peermap_check(m, "web-1", pub, 32), VMSEC_EAUTH); /* nothing was added */
    ck_assert_int_eq(chmod(p, 0644), 0);
    ck_assert_int_eq(vmsec_peermap_load_file(m, p), 0);
    ck_assert_int_eq(vmsec_peermap_check(m, "web-1", pub, 32), 0);
    snprintf(p, sizeof(p), "%s/policy", dir);
    vt_write_file(p, "service echo port 5000\n", 23, 0620);
    ck_assert_int_eq(chmod(p, 0620), 0);
    ck_assert_int_eq(vmsec_policy_load_file(&pol, p), VMSEC_EPERM);
    ck_assert_ptr_null(pol);
    ck_assert_int_eq(chmod(p, 0600), 0);
    ck_assert_int_eq(vmsec_policy_load_file(&pol, p), 0);
    vmsec_policy_free(pol);
    if (can_chown()) {
        /* a private key that belongs to another user: refused even though its mode is right */
        ck_assert_int_eq(vmsec_keypair_save(kp, path, 0), 0);
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        ck_assert_int_eq(vmsec_keypair_load(&back, path), VMSEC_EPERM);
        ck_assert_ptr_null(back);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "owned by another user (uid 65534)"));
        ck_assert_int_eq(chown(path, 0, 0), 0);
        ck_assert_int_eq(vmsec_keypair_load(&back, path), 0);
        vmsec_keypair_free(back);
        /* a trust file of another user, or in another user's folder: refused */
        snprintf(p, sizeof(p), "%s/a.pub", dir);
        ck_assert_int_eq(chown(p, 65534, 65534), 0);
        ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_EPERM);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "owned by uid 65534"));
        ck_assert_int_eq(chown(p, 0, 0), 0);
        ck_assert_int_eq(chown(sub, 65534, 65534), 0);
        snprintf(p, sizeof(p), "%s/b.pub", sub);
        ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_EPERM);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "owned by uid 65534, who could replace it"));
        ck_assert_int_eq(chown(sub, 0, 0), 0);
        ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), 0);
    }
    unlink(p);
    rmdir(sub);
    vmsec_peermap_free(m);
    vmsec_keypair_free(kp);
}
END_TEST

START_TEST(pubkey_file)
{
    uint8_t pub[32], want[32];
    char p[PATH_MAX];
    const char *with_comments = "# host key of web-1\n\n  x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n";
    hex(want, alice_pk, 32);
    snprintf(p, sizeof(p), "%s/a.pub", dir);
    vt_write_file(p, with_comments, strlen(with_comments), 0644);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), 0);
    ck_assert_mem_eq(pub, want, 32);
    vt_write_file(p, "# nothing\n", 10, 0644);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "holds no key"));
    vt_write_file(p, "\nx25519:zzz\n", 12, 0644);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), ":2:"));
    snprintf(p, sizeof(p), "%s/missing.pub", dir);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_ENOTFOUND);
    ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), NULL), VMSEC_EINVAL);
}
END_TEST

START_TEST(fingerprint_format_and_stability)
{
    uint8_t pub[32];
    char fp[VMSEC_FINGERPRINT_MAX], fp2[VMSEC_FINGERPRINT_MAX];
    hex(pub, alice_pk, 32);
    ck_assert_int_eq(vmsec_pubkey_fingerprint(pub, fp, sizeof(fp)), 0);
    ck_assert_uint_eq(strlen(fp), 19);
    for (int i = 0; i < 19; i++) {
        if (i % 5 == 4)
            ck_assert_int_eq(fp[i], '-');
        else
            ck_assert_ptr_nonnull(strchr("0123456789abcdef", fp[i]));
    }
    ck_assert_int_eq(vmsec_pubkey_fingerprint(pub, fp2, sizeof(fp2)), 0);
    ck_assert_str_eq(fp, fp2);
    pub[31] ^= 1;
    ck_assert_int_eq(vmsec_pubkey_fingerprint(pub, fp2, sizeof(fp2)), 0);
    ck_assert_str_ne(fp, fp2);
    ck_assert_int_eq(vmsec_pubkey_fingerprint(pub, fp2, 19), VMSEC_ETOOBIG);
    ck_assert_int_eq(vmsec_pubkey_fingerprint(NULL, fp2, 24), VMSEC_EINVAL);
}
END_TEST

/* X25519 ignores bit 255 and reduces modulo p = 2^255-19: those second encodings of a key are
 * refused everywhere a public key enters, and vmsec_pubkey_validate says why. */
static void set_u(uint8_t *pub, uint8_t low, uint8_t mid, uint8_t top)
{
    pub[0] = low;
    memset(pub + 1, mid, 30);
    pub[31] = top;
}

/* The non-canonical encodings under test, each with the words its refusal must contain. */
static size_t noncanonical_keys(uint8_t keys[][32], const char **why)
{
    size_t n = 0;
    hex(keys[n], alice_pk, 32); /* Alice's key with bit 255 set */
    keys[n][31] |= 0x80;
    why[n++] = "bit 255";
    set_u(keys[n], 0xed, 0xff, 0x7f); /* p itself: a second encoding of 0 */
    why[n++] = "2^255-19";
    set_u(keys[n], 0xf3, 0xff, 0x7f); /* p + 6 */
    why[n++] = "2^255-19";
    set_u(keys[n], 0xff, 0xff, 0x7f); /* 2^255 - 1, the largest */
    why[n++] = "2^255-19";
    set_u(keys[n], 0x09, 0x00, 0x80); /* the base point 9 with bit 255 set */
    why[n++] = "bit 255";
    return n;
}

START_TEST(validate_refuses_noncanonical_and_says_why)
{
    uint8_t keys[8][32], pub[32];
    const char *why[8];
    size_t n = noncanonical_keys(keys, why);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(vmsec_pubkey_validate(keys[i], 32) == VMSEC_EFORMAT, "key %zu accepted", i);
        ck_assert_msg(strstr(vmsec_error_last(), "not canonical") && strstr(vmsec_error_last(), why[i]),
                      "key %zu: %s", i, vmsec_error_last());
    }
    hex(pub, alice_pk, 32);
    ck_assert_int_eq(vmsec_pubkey_validate(pub, 32), 0);
    set_u(pub, 0xec, 0xff, 0x7f); /* p - 1, the largest canonical value */
    ck_assert_int_eq(vmsec_pubkey_validate(pub, 32), 0);
    set_u(pub, 0xff, 0xff, 0x7f);
    pub[17] = 0xfe; /* below p because of a middle byte */
    ck_assert_int_eq(vmsec_pubkey_validate(pub, 32), 0);
    memset(pub, 0, 32);
    ck_assert_int_eq(vmsec_pubkey_validate(pub, 32), 0);
    ck_assert_int_eq(vmsec_pubkey_validate(NULL, 32), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_pubkey_validate(pub, 31), VMSEC_EINVAL);
    ck_assert_int_eq(vmsec_pubkey_validate(pub, 33), VMSEC_EINVAL);
}
END_TEST

START_TEST(generated_keys_are_canonical)
{
    for (int i = 0; i < 64; i++) {
        vmsec_keypair *kp = NULL;
        uint8_t pub[32];
        ck_assert_int_eq(vmsec_keypair_generate(&kp), 0);
        ck_assert_int_eq(vmsec_keypair_public(kp, pub, 32), 0);
        ck_assert_msg(vmsec_pubkey_validate(pub, 32) == 0, "%s", vmsec_error_last());
        vmsec_keypair_free(kp);
    }
}
END_TEST

START_TEST(text_fingerprint_and_setters_refuse_noncanonical)
{
    uint8_t keys[8][32], pub[32], good[32];
    const char *why[8];
    char text[VMSEC_PUBKEY_TEXT_MAX], fp[VMSEC_FINGERPRINT_MAX];
    vmsec_channel_config *cfg = NULL;
    size_t n = noncanonical_keys(keys, why);
    hex(good, alice_pk, 32);
    ck_assert_int_eq(vmsec_channel_config_new(&cfg), 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(vmsec_pubkey_to_text(keys[i], text, sizeof(text)), 0);
        memcpy(pub, good, 32);
        ck_assert_msg(vmsec_pubkey_from_text(pub, sizeof(pub), text) == VMSEC_EFORMAT, "accepted %s", text);
        ck_assert_msg(strstr(vmsec_error_last(), "not canonical") && strstr(vmsec_error_last(), why[i]), "%s",
                      vmsec_error_last());
        ck_assert_mem_eq(pub, good, 32); /* untouched */
        ck_assert_int_eq(vmsec_pubkey_fingerprint(keys[i], fp, sizeof(fp)), VMSEC_EFORMAT);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not canonical"));
        ck_assert_int_eq(vmsec_channel_config_set_peer_key(cfg, keys[i], 32), VMSEC_EFORMAT);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not canonical"));
        ck_assert_int_eq(vmsec_channel_config_add_trusted_peer(cfg, keys[i], 32), VMSEC_EFORMAT);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not canonical"));
    }
    ck_assert_int_eq(vmsec_pubkey_fingerprint(good, fp, sizeof(fp)), 0);
    ck_assert_int_eq(vmsec_channel_config_set_peer_key(cfg, good, 32), 0);
    ck_assert_int_eq(vmsec_channel_config_add_trusted_peer(cfg, good, 32), 0);
    vmsec_channel_config_free(cfg);
}
END_TEST

START_TEST(files_and_peermap_refuse_noncanonical)
{
    uint8_t keys[8][32], pub[32], good[32];
    const char *why[8];
    char text[VMSEC_PUBKEY_TEXT_MAX], p[PATH_MAX], body[256];
    vmsec_peermap *m = NULL;
    size_t n = noncanonical_keys(keys, why);
    hex(good, alice_pk, 32);
    snprintf(p, sizeof(p), "%s/k.pub", dir);
    ck_assert_int_eq(vmsec_peermap_new(&m), 0);
    for (size_t i = 0; i < n; i++) {
        vmsec_pubkey_to_text(keys[i], text, sizeof(text));
        snprintf(body, sizeof(body), "# flipped\n%s\n", text);
        vt_write_file(p, body, strlen(body), 0644);
        ck_assert_int_eq(vmsec_pubkey_load_file(pub, sizeof(pub), p), VMSEC_EFORMAT);
        ck_assert_msg(strstr(vmsec_error_last(), "k.pub:2:") && strstr(vmsec_error_last(), why[i]), "%s",
                      vmsec_error_last());
        ck_assert_int_eq(vmsec_peermap_add(m, "web-1", keys[i], 32), VMSEC_EFORMAT);
        ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not canonical"));
        snprintf(body, sizeof(body), "# peers\nweb-2 x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\nweb-1 %s\n",
                 text);
        vt_write_file(p, body, strlen(body), 0644);
        ck_assert_int_eq(vmsec_peermap_load_file(m, p), VMSEC_EFORMAT);
        ck_assert_msg(strstr(vmsec_error_last(), "k.pub:3:") && strstr(vmsec_error_last(), "not canonical"), "%s",
                      vmsec_error_last());
        ck_assert_int_eq(vmsec_peermap_check(m, "web-2", good, 32), VMSEC_EAUTH); /* all or nothing */
    }
    ck_assert_int_eq(vmsec_peermap_add(m, "web-1", good, 32), 0);
    ck_assert_int_eq(vmsec_peermap_check(m, "web-1", good, 32), 0);
    ck_assert_int_eq(vmsec_peermap_check(m, "web-1", keys[0], 32), VMSEC_EAUTH); /* Alice, bit 255 set */
    ck_assert_ptr_nonnull(strstr(vmsec_error_last(), "not canonical"));
    vmsec_peermap_free(m);
}
END_TEST

/* Pins the fingerprint construction: BLAKE2b-256("vmsec-fingerprint-v1" || key), first 8 bytes. */
START_TEST(fingerprint_matches_definition)
{
    uint8_t pub[32], h[32];
    char fp[VMSEC_FINGERPRINT_MAX], want[32];
    crypto_generichash_state st;
    hex(pub, alice_pk, 32);
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"vmsec-fingerprint-v1", 20);
    crypto_generichash_update(&st, pub, 32);
    crypto_generichash_final(&st, h, 32);
    snprintf(want, sizeof(want), "%02x%02x-%02x%02x-%02x%02x-%02x%02x", h[0], h[1], h[2], h[3], h[4], h[5], h[6],
             h[7]);
    ck_assert_int_eq(vmsec_pubkey_fingerprint(pub, fp, sizeof(fp)), 0);
    ck_assert_str_eq(fp, want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keys");
    TCase *pure = tcase_create("pure");
    TCase *files = tcase_create("files");
    if (sodium_init() < 0)
        return EXIT_FAILURE;
    tcase_add_test(pure, sizes);
    tcase_add_test(pure, from_secret_derives_rfc7748_public_key);
    tcase_add_test(pure, from_secret_rejects_bad_arguments);
    tcase_add_test(pure, generate_gives_distinct_valid_keys);
    tcase_add_test(pure, pubkey_text_round_trip);
    tcase_add_test(pure, pubkey_text_rejects_malformed);
    tcase_add_test(pure, fingerprint_format_and_stability);
    tcase_add_test(pure, fingerprint_matches_definition);
    tcase_add_test(pure, validate_refuses_noncanonical_and_says_why);
    tcase_add_test(pure, generated_keys_are_canonical);
    tcase_add_test(pure, text_fingerprint_and_setters_refuse_noncanonical);
    tcase_add_checked_fixture(files, setup, teardown);
    tcase_add_test(files, save_load_round_trip_with_mode_0600);
    tcase_add_test(files, save_writes_documented_format);
    tcase_add_test(files, save_refuses_to_overwrite_unless_asked);
    tcase_add_test(files, save_leaves_no_temporary_files);
    tcase_add_test(files, save_errors);
    tcase_add_test(files, load_refuses_group_or_world_accessible);
    tcase_add_test(files, load_refuses_truncated_at_every_length);
    tcase_add_test(files, load_refuses_wrong_size_or_format);
    tcase_add_test(files, private_key_text_round_trip_and_public_key_slip);
    tcase_add_test(files, load_refuses_missing_symlink_and_non_regular);
    tcase_add_test(files, error_messages_never_contain_the_secret);
    tcase_add_test(files, pubkey_file);
    tcase_add_test(files, key_and_trust_files_refused_when_others_control_them);
    tcase_add_test(files, files_and_peermap_refuse_noncanonical);
    suite_add_tcase(s, pure);
    suite_add_tcase(s, files);
    return vt_run_suite(s);
}
