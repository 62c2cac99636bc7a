#!/bin/sh
# SPDX-License-Identifier: ISC
# Installs into a scratch DESTDIR and builds an external program with `pkg-config --cflags --libs vmsec`.
. "$top_srcdir/tests/tap.sh"
dest=$(mktemp -d); trap 'rm -rf "$dest"' EXIT
check "make install DESTDIR=..." sh -c "$MAKE -s -C '$top_builddir' install DESTDIR='$dest' >'$dest/install.log' 2>&1"
pcdir=$(find "$dest" -name vmsec.pc -path '*pkgconfig*' -exec dirname {} \; | head -n 1)
check "vmsec.pc installed" test -n "$pcdir"
check "private headers are not installed" sh -c "! find '$dest' -name internal.h | grep -q ."
check "umbrella and module headers installed" sh -c "find '$dest' -path '*include/vmsec.h' | grep -q . && find '$dest' -path '*include/vmsec/keys.h' | grep -q ."
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest"
flags=$($PKG_CONFIG --cflags --libs vmsec)
check "pkg-config --cflags --libs vmsec" test -n "$flags"
cat > "$dest/consumer.c" <<'C'
#include <vmsec.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    vmsec_keypair *kp;
    uint8_t pub[VMSEC_KEY_BYTES];
    char text[VMSEC_PUBKEY_TEXT_MAX];
    if (vmsec_init() < 0 || vmsec_keypair_generate(&kp) < 0)
        return 1;
    vmsec_keypair_public(kp, pub, sizeof pub);
    vmsec_pubkey_to_text(pub, text, sizeof text);
    vmsec_keypair_free(kp);
    printf("%s %s\n", vmsec_version_string(), strncmp(text, "x25519:", 7) == 0 ? "ok" : "bad");
    return vmsec_version_major() == VMSEC_VERSION_MAJOR ? 0 : 1;
}
C
# shellcheck disable=SC2086
check "consumer compiles and links against the installed tree" \
    sh -c "$CC -std=c11 -Wall -Werror -o '$dest/consumer' '$dest/consumer.c' $flags 2>'$dest/cc.log'"
[ -s "$dest/cc.log" ] && sed 's/^/# /' "$dest/cc.log"
libdir=$(dirname "$(find "$dest" -name 'libvmsec.so.1' | head -n 1)")
out=$(LD_LIBRARY_PATH="$libdir" "$dest/consumer")
check "consumer runs against the installed libvmsec.so.1" [ "$out" = "$(sed -n 's/^#define VMSEC_VERSION_STRING "\(.*\)"/\1/p' "$top_builddir/include/vmsec/version.h") ok" ]
check "consumer resolves libvmsec.so.1 from the installed tree" \
    sh -c "LD_LIBRARY_PATH='$libdir' ldd '$dest/consumer' | grep -q '$libdir/libvmsec.so.1'"
# The AEAD backend configure chose (--with-aead) is what the .pc file and the library say.
backend=libsodium
grep -q '^#define VMSEC_AEAD_LIBCRYPTO 1' "$top_builddir/config.h" && backend=libcrypto
check "pkg-config --variable=aead_backend vmsec is $backend" [ "$($PKG_CONFIG --variable=aead_backend vmsec)" = "$backend" ]
static_flags=$($PKG_CONFIG --static --libs vmsec)
if [ $backend = libcrypto ]; then
    check "pkg-config --static --libs vmsec brings libcrypto (Requires.private)" \
        sh -c "echo ' $static_flags ' | grep -q -- ' -lcrypto '"
    check "the installed library links libcrypto directly" sh -c "readelf -d '$libdir/libvmsec.so.1' | grep NEEDED | grep -q 'libcrypto\.so'"
else
    check "pkg-config --static --libs vmsec does not bring libcrypto" sh -c "! echo ' $static_flags ' | grep -q -- ' -lcrypto '"
    check "the installed library does not link libcrypto directly (libvirt may, indirectly)" sh -c "! readelf -d '$libdir/libvmsec.so.1' | grep NEEDED | grep -q 'libcrypto\.so'"
fi
# JSON output goes through jansson (lib/common/json.c): a static link needs it.
check "pkg-config --static --libs vmsec brings jansson (Requires.private)" \
    sh -c "echo ' $static_flags ' | grep -q -- ' -ljansson '"
check "the installed library names its AEAD backend ($backend)" \
    sh -c "LC_ALL=C grep -a -q 'vmsec aead=$backend' '$libdir/libvmsec.so.1'"
done_testing
