#!/bin/sh
# SPDX-License-Identifier: ISC
# The guest harness itself (tests/guest/guest.sh): a program with a wrong plan, a program that
# hangs, a guest kernel that crashes and a guest that outlives the overall timeout must each give
# `not ok` lines (with the console tail where the guest died), and never a hung make check.
. "$top_srcdir/tests/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-harness.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
selftest="$top_builddir/tests/guest/selftest"
for p in guest_badplan guest_hang guest_crash; do
    cp "$selftest" "$tmp/$p" || { not_ok "copy $selftest"; done_testing; }
done

inner() { # OUT PROGRAM...: runs the harness in a child shell (its own TAP stream and exit trap)
    out=$1
    shift
    # shellcheck disable=SC2016
    sh -c '. "$top_srcdir/tests/tap.sh"; . "$top_srcdir/tests/guest/guest.sh"; guest_run "$@"; done_testing' \
        inner "$@" >"$out" 2>&1
}

# Valid TAP: as many results as the plan says.
tap_valid() {
    n=$(grep -Ec '^(not )?ok [0-9]+' "$1")
    [ "$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$1")" = "$n" ] && [ "$n" -gt 0 ]
}

# --- one boot: wrong plan, in-guest timeout, kernel crash ----------------------------------------
VMSEC_GUEST_PROGRAM_TIMEOUT=3 inner "$tmp/a.tap" "$tmp/guest_badplan" "$tmp/guest_hang" "$tmp/guest_crash"
rc=$?
if grep -q '# SKIP' "$tmp/a.tap"; then
    skip_or_fail "$(sed -n 's/^ok [0-9]* # SKIP //p' "$tmp/a.tap" | head -n 1)"
    done_testing
fi
sed 's/^/#   | /' "$tmp/a.tap"
check "the harness exits non-zero when guest tests fail" [ $rc -ne 0 ]
check "its output is valid TAP (plan matches the results)" tap_valid "$tmp/a.tap"
check "results printed before a failure are relayed" \
    grep -q '^ok [0-9]* - guest_badplan: first of two$' "$tmp/a.tap"
check "a plan that does not match the results is a failure" \
    grep -q '^not ok [0-9]* - guest_badplan ran to completion: plan 1..2 but 1 results' "$tmp/a.tap"
check "a program's stderr is relayed as a diagnostic" \
    grep -q '^# guest_badplan stderr| a line on stderr$' "$tmp/a.tap"
check "a program killed by the in-guest timeout is a failure" \
    grep -q '^not ok [0-9]* - guest_hang ran to completion: killed' "$tmp/a.tap"
check "the guest goes on with the next program after a timeout" \
    grep -q '^ok [0-9]* - guest_crash: before the crash$' "$tmp/a.tap"
check "a guest kernel crash is a failure of the running program" \
    grep -q '^not ok [0-9]* - guest_crash ran to completion: the guest stopped' "$tmp/a.tap"
check "the console tail shows the crash" \
    grep -Eq '^# console\|.*(Kernel panic|sysrq: Trigger a crash)' "$tmp/a.tap"
check "a guest that did not power off cleanly is a failure" \
    grep -q '^not ok [0-9]* - guest powered off cleanly' "$tmp/a.tap"

# --- one boot: the overall timeout stops a hung guest -------------------------------------------
# Boot time varies with load; the limit leaves the guest a while to run, but is far shorter than
# the in-guest timeout, so only the host-side overall timeout can end this run.
boot=$(sed -n 's/.*guest booted to init (\([0-9]*\)\..*/\1/p' "$tmp/a.tap")
limit=$((${boot:-10} + 10))
start=$(date +%s)
VMSEC_GUEST_PROGRAM_TIMEOUT=600 VMSEC_GUEST_TIMEOUT=$limit inner "$tmp/b.tap" "$tmp/guest_hang"
rc=$?
took=$(($(date +%s) - start))
sed 's/^/#   | /' "$tmp/b.tap"
check "a guest outliving the overall timeout fails the run" [ $rc -ne 0 ]
check "the failure names the overall timeout" grep -q '^not ok .*overall timeout' "$tmp/b.tap"
# Not a speed check: the margin is wide (a loaded CI machine took 54 s for a 33 s limit); what
# fails is a harness that waits for the in-guest timeout (600 s) or forever.
check "the run ends after the overall timeout, not the in-guest one (${took} s for a ${limit} s limit)" \
    [ "$took" -lt $((limit + 120)) ]
check "its output is valid TAP" tap_valid "$tmp/b.tap"
done_testing
