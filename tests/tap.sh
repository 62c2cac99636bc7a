# SPDX-License-Identifier: ISC
# Sourced by shell tests: minimal TAP producer.
# A test that cannot run for a missing component calls `skip_or_fail REASON`: a skip on a developer
# machine, a failure when VMSEC_REQUIRE_ALL=1 (CI sets it), so CI never counts a skip as a pass.
tap_n=0
tap_failed=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=1; echo "not ok $tap_n - $*"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else not_ok "$desc"; fi; }
skip_or_fail() {
    if [ "${VMSEC_REQUIRE_ALL:-0}" = 1 ]; then
        not_ok "required component missing (VMSEC_REQUIRE_ALL=1): $*"
    else
        tap_n=$((tap_n + 1)); echo "ok $tap_n # SKIP $*"
    fi
}
diag() { echo "# $*"; }
done_testing() { echo "1..$tap_n"; exit $tap_failed; }
