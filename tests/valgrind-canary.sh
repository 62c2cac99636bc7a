#!/bin/sh
# SPDX-License-Identifier: ISC
# Run by make check-valgrind only: a deliberate definite leak and heap overflow in a Check test
# must each make valgrind (with the flags check-valgrind uses) fail the suite; no defect must pass.
. "$top_srcdir/tests/tap.sh"
canary="$top_builddir/tests/canary"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
[ -n "${VMSEC_VALGRIND:-}" ] || { not_ok "VMSEC_VALGRIND is not set (run through make check-valgrind)"; done_testing; }
for spec in none:0 leak:1 overflow:1; do
    mode=${spec%%:*} want=${spec#*:}
    # shellcheck disable=SC2086
    CK_FORK=no VMSEC_CANARY=$mode $VMSEC_VALGRIND "$canary" >"$tmp/out" 2>&1; rc=$?
    if [ "$want" = 0 ]; then
        check "no defect: valgrind passes the canary suite" [ $rc -eq 0 ]
    else
        check "$mode: valgrind fails the canary suite (exit $rc)" [ $rc -ne 0 ]
    fi
done
check "the leak is reported as definitely lost" sh -c \
    "CK_FORK=no VMSEC_CANARY=leak $VMSEC_VALGRIND '$canary' 2>&1 | grep -q 'definitely lost in'"
done_testing
