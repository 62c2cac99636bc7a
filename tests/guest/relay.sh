#!/bin/sh
# SPDX-License-Identifier: ISC
# The relay over real AF_VSOCK: boots the QEMU test guest (tests/guest/guest.sh) and runs
# tests/guest/vsock_relay inside it (vsock listener, peer-CID identification, vsock connection to
# the target, a vmsec channel end to end through the relay), then tests/guest/vsock_relay_link in
# the same boot (two relays linked over TCP on the guest's loopback, vsock guests on both sides).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/guest/guest.sh"
guest_run "$top_builddir/tests/guest/vsock_relay" "$top_builddir/tests/guest/vsock_relay_link"
done_testing
