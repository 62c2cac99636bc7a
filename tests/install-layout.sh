#!/bin/sh
# SPDX-License-Identifier: ISC
# `make install` puts everything the manual pages and the README refer to where they say: the
# format, protocol and relay documents and the examples in docdir, manual pages in sections 1, 5
# and 7 that man can render, the relay's systemd unit with the configured paths, bash completion.
. "$top_srcdir/tests/tap.sh"
dest=$(mktemp -d); trap 'rm -rf "$dest"' EXIT
check "make install DESTDIR=..." sh -c "$MAKE -s -C '$top_builddir' install DESTDIR='$dest' >'$dest/install.log' 2>&1"
prefix=$(sed -n "s/^prefix = //p" "$top_builddir/Makefile")
root="$dest$prefix"
doc="$root/share/doc/vmsec"
for f in README.md PROTOCOL.md RELAY.md profile-format.md policy-format.md architecture.md; do
    check "docdir has $f" test -s "$doc/$f"
done
for f in relay-policy.conf demo.conf pinned-small.conf full.conf; do
    check "docdir/examples has $f" test -s "$doc/examples/$f"
done
check "the installed example policy loads" sh -c "LD_LIBRARY_PATH='$top_builddir/lib/.libs' '$top_builddir/examples/vmsec-relayd' -p '$doc/examples/relay-policy.conf' --check"
for page in man1/vmsec-profile.1 man1/vmsec-relayd.1 man1/vmsecd.1 man5/vmsec-profile.5 man5/vmsec-policy.5 man7/vmsec.7; do
    check "$page is installed" test -s "$root/share/man/$page"
done
if command -v groff >/dev/null 2>&1; then
    for page in "$top_srcdir"/doc/man/*.5 "$top_srcdir"/doc/man/*.7; do
        check "$(basename "$page") renders without warnings" sh -c "groff -man -ww -z '$page' 2>&1 | (! grep -q .)"
    done
fi
# every page a page refers to with .BR name (N) exists in the source tree or is outside vmsec
for page in "$top_srcdir"/doc/man/*.[157]; do
    for ref in $(sed -n 's/^\.BR \(vmsec[a-z_-]*\) (\([157]\)).*/\1.\2/p' "$page"); do
        check "$(basename "$page") refers to an existing page $ref" test -f "$top_srcdir/doc/man/$ref"
    done
done
unit="$root/lib/systemd/system/vmsec-relayd.service"
check "the relay's systemd unit is installed" test -s "$unit"
check "the unit runs the installed vmsec-relayd" grep -q "^ExecStart=$prefix/bin/vmsec-relayd " "$unit"
check "the unit names the configured policy path" grep -q " -p $prefix/etc/vmsec/relay.conf " "$unit"
check "no @variable@ is left in the unit" sh -c "! grep -q '@[a-z]*@' '$unit'"
check "the unit keeps the capability the reserved vsock source port needs" grep -qx "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" "$unit"
check "the unit's status socket is in its runtime directory" \
    sh -c "grep -qx 'RuntimeDirectory=vmsec-relayd' '$unit' && grep -q '^ExecStart=.* --status-socket /run/vmsec-relayd/status' '$unit'"
unit="$root/lib/systemd/system/vmsecd.service"
check "vmsecd's systemd unit is installed" test -s "$unit"
check "vmsecd's unit is Type=notify and runs the installed vmsecd" \
    sh -c "grep -q '^Type=notify$' '$unit' && grep -q '^ExecStart=$prefix/bin/vmsecd ' '$unit'"
check "no @variable@ is left in vmsecd's unit" sh -c "! grep -q '@[a-z]*@' '$unit'"
hook="$dest$(sed -n "s/^sysconfdir = //p" "$top_builddir/Makefile" | sed "s|\${prefix}|$prefix|")/libvirt/hooks/qemu.d/vmsec"
libexec=$(sed -n "s/^libexecdir = //p" "$top_builddir/Makefile" | sed -e "s|\${exec_prefix}|$prefix|" -e "s|\${prefix}|$prefix|")
check "the libvirt hook program is installed, executable, in libexecdir" test -x "$dest$libexec/vmsec/vmsec-hook"
check "qemu.d/vmsec is a symbolic link to the installed hook program" \
    sh -c "[ -L '$hook' ] && [ \"\$(readlink '$hook')\" = '$libexec/vmsec/vmsec-hook' ]"
check "the hook's manual page is installed" test -s "$root/share/man/man8/vmsec-hook.8"
check "bash completion is installed for vmsecd" test -s "$root/share/bash-completion/completions/vmsecd"
check "bash completion is installed for vmsec-nc" test -s "$root/share/bash-completion/completions/vmsec-nc"
"$MAKE" -s -C "$top_builddir" uninstall DESTDIR="$dest" >"$dest/uninstall.log" 2>&1
left=$(find "$dest" \( -type f -o -type l \) ! -name "*.log" ! -name consumer.c)
check "make uninstall removes it all (left: ${left:-nothing})" [ -z "$left" ]
done_testing
