#!/bin/sh
# SPDX-License-Identifier: ISC
# The shared object exports exactly the versioned vmsec_* symbols that the version script lists and
# the public headers declare with VMSEC_EXPORT, and carries the SONAME libvmsec.so.1.
. "$top_srcdir/tests/tap.sh"
so="$top_builddir/lib/.libs/libvmsec.so.1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

check "built $so" test -f "$so"
readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p' > "$tmp/soname"
check "SONAME is libvmsec.so.1" [ "$(cat "$tmp/soname")" = libvmsec.so.1 ]

nm -D --defined-only --with-symbol-versions "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort > "$tmp/dynsym"
check "every exported symbol is vmsec_* versioned VMSEC_1.x" \
    sh -c "! grep -Ev '^vmsec_[a-z0-9_]+@@?VMSEC_1\.[0-9]+\$' '$tmp/dynsym'"
sed 's/@.*//' "$tmp/dynsym" | sort -u > "$tmp/exported"
sed -n 's/^[[:space:]]*\(vmsec_[a-z0-9_]*\);.*/\1/p' "$top_srcdir/lib/libvmsec.sym" | sort -u > "$tmp/script"
cat "$top_srcdir"/include/vmsec/*.h "$top_builddir"/include/vmsec/version.h 2>/dev/null |
    tr '\n' ' ' | sed 's/;/;\n/g' | grep 'VMSEC_EXPORT' |
    sed -n 's/.*[^a-z0-9_]\(vmsec_[a-z0-9_]*\)[[:space:]]*(.*/\1/p' | sort -u > "$tmp/headers"
check "exported symbols equal the version script" cmp -s "$tmp/exported" "$tmp/script"
check "version script equals VMSEC_EXPORT declarations in the headers" cmp -s "$tmp/script" "$tmp/headers"
if ! cmp -s "$tmp/exported" "$tmp/script" || ! cmp -s "$tmp/script" "$tmp/headers"; then
    diag "exported vs script:"; diff "$tmp/exported" "$tmp/script" | sed 's/^/# /'
    diag "script vs headers:"; diff "$tmp/script" "$tmp/headers" | sed 's/^/# /'
fi
check "no test-only hook is exported" sh -c "! grep -q -e '__' -e 'test' '$tmp/exported'"
done_testing
