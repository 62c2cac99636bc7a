#!/bin/sh
# SPDX-License-Identifier: ISC
# debian/libvmsec1.symbols is what tools/debian-symbols writes from lib/libvmsec.sym, so the Debian
# package's symbols file cannot drift from the library's version script (regenerate it with
# tools/debian-symbols >debian/libvmsec1.symbols).
. "$top_srcdir/tests/tap.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
check "tools/debian-symbols reads lib/libvmsec.sym" \
    sh -c "'$top_srcdir/tools/debian-symbols' '$top_srcdir/lib/libvmsec.sym' >'$tmp/symbols'"
check "debian/libvmsec1.symbols matches lib/libvmsec.sym" \
    diff -u "$top_srcdir/debian/libvmsec1.symbols" "$tmp/symbols"
check "every version node of the script is in the symbols file" \
    sh -c "test \"\$(grep -c '^ VMSEC_1\.[0-9]*@' '$tmp/symbols')\" -eq \"\$(grep -Ec '^VMSEC_1\.[0-9]+ \{' '$top_srcdir/lib/libvmsec.sym')\""
done_testing
