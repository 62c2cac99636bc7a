#!/bin/sh
# Only in --enable-sanitizers builds: a deliberate leak, heap overflow and signed overflow in a
# Check test must each fail the suite, with Check forking or not, under the ASAN/LSAN/UBSAN
# options that make check exports; the same suite without a defect must pass.
. "$top_srcdir/tests/tap.sh"
canary="$top_builddir/tests/canary"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
VMSEC_CANARY=none "$canary" >"$tmp/none" 2>&1
check "the canary suite passes without a defect" [ $? -eq 0 ]
for fork in yes no; do
    for spec in "leak:ERROR: LeakSanitizer: detected memory leaks" \
                "overflow:ERROR: AddressSanitizer: heap-buffer-overflow" \
                "ub:runtime error: signed integer overflow"; do
        mode=${spec%%:*} report=${spec#*:}
        CK_FORK=$fork VMSEC_CANARY=$mode "$canary" >"$tmp/out" 2>&1; rc=$?
        check "$mode with CK_FORK=$fork fails the suite (exit $rc)" [ $rc -ne 0 ]
        check "$mode with CK_FORK=$fork is reported as '$report'" grep -qF "$report" "$tmp/out"
    done
done
done_testing
