#!/bin/sh
# SPDX-License-Identifier: ISC
# The relay over real AF_VSOCK: boots the QEMU test guest (tests/guest/guest.sh) and runs
# tests/guest/vsock_relay inside it (vsock listener, peer-CID identification, vsock connection to
# the target, a vmsec channel end to end through the relay).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/guest/guest.sh"
guest_run "$top_builddir/tests/guest/vsock_relay"
done_testing
