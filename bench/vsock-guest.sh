#!/bin/sh
# SPDX-License-Identifier: ISC
# Channel benchmarks over real AF_VSOCK: boots the QEMU test guest (tests/guest/guest.sh, the same
# kernel cache, initramfs and bounded boot as the guest tests) with bench/bench_vsock_guest and
# relays what it measured. Called by bench/run.sh:
#
#   vsock-guest.sh BUILDDIR SRCDIR
#
# Markdown goes to stdout (for bench/results.md), JSON lines are appended to $VMSEC_BENCH_JSON,
# progress and guest diagnostics go to stderr. A missing QEMU, busybox-static or kernel, or a guest
# that fails, gives a "skipped:" or "FAILED:" line in the section instead of numbers; the exit
# status is 0 either way, since a benchmark is not a test.
#
# The guest gets 2 vCPUs (sender and receiver threads run in parallel, as on the host) and QEMU's
# "max" CPU model, whose TCG emulation includes AES-NI and PCLMULQDQ, so the AESGCM suites run.
# VMSEC_GUEST_SMP and VMSEC_GUEST_CPU override both; the other VMSEC_GUEST_* settings apply too.
set -u
builddir=$1
srcdir=$2
prog=$builddir/bench/bench_vsock_guest
: "${VMSEC_GUEST_SMP:=2}" "${VMSEC_GUEST_CPU:=max}" "${VMSEC_GUEST_PROGRAM_TIMEOUT:=300}"

diag() { echo "vsock-guest: $*" >&2; }
json() { [ -n "${VMSEC_BENCH_JSON:-}" ] && echo "$1" >>"$VMSEC_BENCH_JSON"; return 0; }
section() { printf '## Channels over AF_VSOCK inside the test guest (QEMU TCG)\n\n'; }
# Ends the section without numbers: why, in the results and in the JSON lines.
give_up() { # skipped|FAILED REASON
    printf '%s: %s\n\n' "$1" "$2"
    why=$(printf '%s' "$2" | tr -d '"\134')
    json "{\"bench\":\"vsock_guest\",\"$(echo "$1" | tr '[:upper:]' '[:lower:]')\":\"$why\"}"
    exit 0
}

. "$srcdir/tests/guest/guest.sh"

section
guest_find_tools || give_up skipped "$guest_why"
[ -x "$prog" ] || give_up skipped "$prog was not built"
guest_is_static "$prog" || give_up skipped "$prog is not statically linked"
guest_fetch_kernel || give_up skipped "no guest kernel: $guest_why"

guest_work=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-guest-bench.XXXXXX") || give_up FAILED "no scratch directory"
trap guest_cleanup EXIT
trap 'exit 130' INT TERM
guest_build_initramfs "$guest_work/initramfs.cpio" "$prog" 2>"$guest_work/build.log" ||
    give_up FAILED "cannot build the initramfs: $(tail -n 1 "$guest_work/build.log")"
diag "booting $(basename "$guest_kdir") under $guest_qemu (TCG, -cpu $VMSEC_GUEST_CPU," \
    "$VMSEC_GUEST_SMP vCPUs); the benchmark takes a minute or two"
guest_reason=""
guest_boot "$guest_work/initramfs.cpio"

if [ "$guest_boot_ms" -eq 0 ]; then
    guest_console_tail >&2
    give_up FAILED "the guest did not boot: ${guest_reason:-QEMU exit status $guest_rc}"
fi

log=$guest_work/report.log
tr -d '\r' <"$guest_work/tap.log" >"$log" 2>/dev/null
m=$guest_marker
# The program's lines: whole JSON objects to the JSON file (a guest dying mid-line leaves half of
# one), the rest (tables) to stdout.
sed -n "/^$m begin /,/^$m end /p" "$log" | grep -v "^$m" >"$guest_work/out"
grep '^{.*}$' "$guest_work/out" | while IFS= read -r l; do json "$l"; done
sed -n "s/^$m stderr /guest: /p" "$log" >&2
status=$(sed -n "s/^$m end [^ ]* \([0-9]*\) .*/\1/p" "$log")

qemu_ver=$("$guest_qemu" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
printf 'Guest: Debian kernel %s under QEMU %s, TCG (no KVM), -cpu %s, %s vCPUs, %s MiB; booted to init in %s s,\n' \
    "$(cat "$guest_kdir/release")" "$qemu_ver" "$VMSEC_GUEST_CPU" "$VMSEC_GUEST_SMP" \
    "${VMSEC_GUEST_MEM:-512}" "$(guest_secs "$guest_boot_ms")"
printf 'whole run %s s. Emulated code runs tens of times slower than the host: compare rows with each\n' \
    "$(guest_secs "$guest_wall_ms")"
printf 'other and with the in-guest AEAD rate, not with the host tables.\n\n'
grep -v '^{' "$guest_work/out"

if grep -q "^$m module .* failed" "$log"; then
    give_up FAILED "$(sed -n "s/^$m module //p" "$log" | grep failed | head -n 1)"
fi
if [ -z "$status" ] || [ "$status" != 0 ]; then
    guest_console_tail >&2
    case ${status:-none} in
    none) why=${guest_reason:-the guest stopped while it was running} ;;
    12[4-9] | 1[3-9][0-9]) why="killed, exit status $status: the in-guest timeout (${VMSEC_GUEST_PROGRAM_TIMEOUT} s) or a signal" ;;
    *) why="exit status $status" ;;
    esac
    give_up FAILED "the benchmark did not run to completion in the guest ($why; guest console on stderr)"
fi
