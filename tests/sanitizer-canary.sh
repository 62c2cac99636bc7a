#!/bin/sh
# SPDX-License-Identifier: ISC
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

# Host programs that are not instrumented (python3 with ctypes, as the bindings' tests use) load
# the sanitized library only with the runtime preloaded; VMSEC_SANITIZER_RUNTIME names it.
if ! command -v python3 >/dev/null; then
    skip_or_fail "python3 is not installed"
else
    check "VMSEC_SANITIZER_RUNTIME names the ASan runtime" test -f "${VMSEC_SANITIZER_RUNTIME:-}"
    check "python3 ctypes loads the sanitized libvmsec.so.1 with the runtime preloaded" sh -c \
        "LD_PRELOAD='$VMSEC_SANITIZER_RUNTIME' ASAN_OPTIONS=\"\$ASAN_OPTIONS:detect_leaks=0\" python3 -c \
        'import ctypes, sys; l = ctypes.CDLL(sys.argv[1]); sys.exit(l.vmsec_init())' '$top_builddir/lib/.libs/libvmsec.so.1'"
fi
done_testing
