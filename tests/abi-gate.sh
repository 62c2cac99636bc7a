#!/bin/sh
# SPDX-License-Identifier: ISC
# ABI gate: the built libvmsec.so.1 must be compatible with the committed baseline
# abi/libvmsec.so.1.abi: nothing removed or changed, additions allowed. See doc/ABI.md.
. "$top_srcdir/tests/tap.sh"
so="$top_builddir/lib/.libs/libvmsec.so.1"
base="$top_srcdir/abi/libvmsec.so.1.abi"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
    skip_or_fail "libabigail (abidw, abidiff; package abigail-tools) is not installed"
    done_testing
fi
if [ "$(uname -m)" != x86_64 ]; then
    skip_or_fail "the ABI baseline describes x86_64; this is $(uname -m)"
    done_testing
fi
check "baseline $(basename "$base") is present" test -s "$base"
rc=0
"$top_srcdir/abi/vmsec-abi" compare "$base" "$so" "$top_srcdir/include/vmsec" "$top_builddir/include/vmsec" \
    >"$tmp/report" 2>&1 || rc=$?
if [ $rc -eq 3 ]; then
    skip_or_fail "$(cat "$tmp/report")"
else
    check "libvmsec.so.1 is ABI-compatible with the baseline (nothing removed or changed)" [ $rc -eq 0 ]
    sed 's/^/# /' "$tmp/report"
fi
done_testing
