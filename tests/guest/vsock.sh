#!/bin/sh
# SPDX-License-Identifier: ISC
# Real AF_VSOCK: boots a QEMU guest (TCG) and runs the vsock test programs inside it, over the
# loopback transport (CID 1). See tests/guest/guest.sh for the harness and its settings.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/guest/guest.sh"

# The programs run in this order in one guest boot, so benchmark lines are comparable. To add a
# guest test: a static check program in mk/vsockguest.am, then its path here.
guest_run "$top_builddir/tests/guest/vsock_raw" "$top_builddir/tests/guest/vsock_channel"
done_testing
