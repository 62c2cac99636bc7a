#!/bin/sh
# SPDX-License-Identifier: ISC
# Runs tests/planner_host (the host topology as libvirtd reports it, against sysfs) with a usable
# system libvirtd: takes the libvirt integration lock, since domain-qemu.sh kills and restarts the
# daemon on purpose, and starts libvirtd if nothing runs it. The program prints the TAP lines.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/libvirt-env.sh"
lv_require
mkdir -p "$lv_state"
exec 9>"$lv_state/lock"
if ! flock -w 900 9; then
    skip_or_fail "another libvirt integration run held the lock for 15 minutes"
    done_testing
fi
if ! lv_start >/dev/null 2>&1; then
    skip_or_fail "cannot start libvirtd"
    done_testing
fi
exec "$top_builddir/tests/planner_host"
