#!/bin/sh
# SPDX-License-Identifier: ISC
# Sessions over real AF_VSOCK: boots the QEMU test guest (tests/guest/guest.sh) and runs
# tests/guest/vsock_session inside it: a session initiator and responder over vsock:1:PORT
# through a fault proxy that cuts the vsock connections at seeded random points, then while the
# vsock_loopback transport module is unloaded and loaded again. Every byte once and in order.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/guest/guest.sh"
guest_run "$top_builddir/tests/guest/vsock_session"
done_testing
