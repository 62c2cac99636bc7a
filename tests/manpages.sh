#!/bin/sh
# SPDX-License-Identifier: ISC
# Every installed program has a manual page whose NAME section names it, and groff renders each
# page without warnings (when groff is installed).
. "$top_srcdir/tests/tap.sh"
for prog in $VMSEC_BIN_PROGRAMS; do
    name=$(basename "$prog")
    page="$top_srcdir/doc/man/$name.1"
    check "$name has a manual page" test -f "$page"
    [ -f "$page" ] || continue
    check "$name.1 NAME section names the program" grep -q "^$name \\\\- " "$page"
    check "$name.1 is listed for installation" sh -c "echo ' $VMSEC_MAN1 ' | grep -q ' doc/man/$name.1 '"
    if command -v groff >/dev/null 2>&1; then
        check "$name.1 renders without warnings" sh -c "groff -man -ww -z '$page' 2>&1 | (! grep -q .)"
    fi
done
done_testing
