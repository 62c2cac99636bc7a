#!/bin/sh
# SPDX-License-Identifier: ISC
# Secrets hygiene of the library sources (tools/secrets-lint): no variable-time comparison, plain
# memset, plain malloc or message on secret material in lib/. The lint is first shown to flag
# each rule on a known-bad sample and to pass a clean one, so a silent lint cannot pass this test.
. "$top_srcdir/tests/tap.sh"
lint="$top_srcdir/tools/secrets-lint"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if ! command -v perl >/dev/null; then
    skip_or_fail "perl is not installed"
    done_testing
fi

cat > "$tmp/bad.c" <<'C'
#include <sodium.h>
int bad(const unsigned char *mac, const unsigned char *expected_tag, struct hs *st, char *buf)
{
    if (memcmp(mac, expected_tag, 16) != 0)
        return -1;
    memset(st->chaining_key, 0, 32);
    st->secret = malloc(32);
    return vmsec__error(VMSEC_EAUTH, "bad psk %s", st->psk);
}
C
cat > "$tmp/good.c" <<'C'
#include <sodium.h>
int good(const unsigned char *mac, const unsigned char *expected_tag, struct hs *st, char *buf)
{
    /* memcmp(mac, tag, 16) in a comment is not code */
    if (sodium_memcmp(mac, expected_tag, 16) != 0)
        return vmsec__error(VMSEC_EAUTH, "memcmp(key) in a string: bad tag (%zu bytes)", st->secret_len);
    if (memcmp(st->remote_key, buf, 32) == 0) /* not-secret: public static key lookup */
        return 1;
    sodium_memzero(st->chaining_key, 32);
    st->secret = sodium_malloc(32);
    return memcmp(buf, st->pub, 32);
}
C
"$lint" "$tmp/bad.c" > "$tmp/bad.out"; rc=$?
check "lint fails on a known-bad sample" [ $rc -eq 1 ]
for rule in compare wipe alloc message; do
    check "lint reports the '$rule' rule" grep -q "^$tmp/bad.c:[0-9]*: $rule:" "$tmp/bad.out"
done
"$lint" "$tmp/good.c" > "$tmp/good.out"; rc=$?
check "lint passes comments, strings, sizes, waivers and sodium_* calls" [ $rc -eq 0 ]
sed 's/^/# /' "$tmp/good.out"

# Every C source and private header of the library, in whatever area folder it lives.
find "$top_srcdir/lib" -name '*.[ch]' | sort > "$tmp/lib.files"
check "the lint sees the library's sources ($(wc -l < "$tmp/lib.files") files)" [ "$(wc -l < "$tmp/lib.files")" -ge 40 ]
# shellcheck disable=SC2046
"$lint" $(cat "$tmp/lib.files") > "$tmp/lib.out"; rc=$?
check "lib/ has no secrets hygiene findings" [ $rc -eq 0 ]
sed 's/^/# /' "$tmp/lib.out"
done_testing
