#!/bin/sh
# SPDX-License-Identifier: ISC
# The fail-closed engine suite (tampering at every offset, truncation, replay, wrong keys) and the
# channel suites (threads, keep-alive timers in real time) and the session suites (resumes, a
# non-blocking listener's pending handshakes, and a short run of the fault proxy) under valgrind memcheck: no invalid access, no use of
# uninitialised memory, no definite leak.
# VMSEC_TEST_QUICK=1 trims the exhaustive loops to two protocols to keep the run short.
. "$top_srcdir/tests/tap.sh"
if ! command -v valgrind >/dev/null 2>&1; then
    skip_or_fail "valgrind not found"
    done_testing
fi
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in check_engine check_channel check_channel_live check_session check_session_accept check_session_faults; do
    CK_FORK=no VMSEC_TEST_QUICK=1 VMSEC_SESSION_FAULT_BYTES=1000000 VMSEC_SESSION_FAULT_CUTS=30 "$top_builddir/libtool" --mode=execute valgrind -q --error-exitcode=99 \
        --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        "$top_builddir/tests/$t" >"$log" 2>&1
    rc=$?
    check "$t under valgrind memcheck: clean (exit $rc)" [ $rc -eq 0 ]
    [ $rc -eq 0 ] || sed 's/^/# /' "$log" | tail -40
done
done_testing
