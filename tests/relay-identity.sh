#!/bin/sh
# SPDX-License-Identifier: ISC
# The relay's identity over time against a real libvirtd (tests/check_relay_identity.c). The
# daemon is a private one of this test's own: libvirtd in session mode, unprivileged (as nobody
# when the test runs as root), its sockets and state in a scratch directory, serving libvirt's test
# driver at test+unix:///default. The test may kill it and start it again (the restart case)
# without touching the host's libvirtd, so it needs no lock shared with other libvirt tests.
. "$top_srcdir/tests/tap.sh"
prog="$top_builddir/tests/check_relay_identity"
if ! command -v libvirtd >/dev/null 2>&1 || ! command -v virsh >/dev/null 2>&1; then
    skip_or_fail "libvirtd and virsh are needed"
    done_testing
fi
as=
if [ "$(id -u)" = 0 ]; then
    if ! command -v setpriv >/dev/null 2>&1; then
        skip_or_fail "setpriv is needed to run libvirtd unprivileged"
        done_testing
    fi
    as="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-relay-id.XXXXXX")
[ -n "$as" ] && chown 65534:65534 "$tmp"
chmod 0755 "$tmp"
uri="test+unix:///default?socket=$tmp/run/libvirt/libvirt-sock"

# start.sh launches the daemon and waits until it answers; stop.sh kills it (as a crash would).
# --timeout: should this test die without cleaning up, the daemon leaves once idle.
cat > "$tmp/start.sh" <<SH
#!/bin/sh
cd "$tmp" || exit 1
HOME="$tmp" XDG_RUNTIME_DIR="$tmp/run" XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache" \\
    $as libvirtd --timeout 120 >>"$tmp/libvirtd.log" 2>&1 &
echo \$! > "$tmp/pid"
i=0
while ! virsh -q -c "$uri" version >/dev/null 2>&1; do
    [ \$i -lt 200 ] || exit 1
    sleep 0.1; i=\$((i + 1))
done
SH
cat > "$tmp/stop.sh" <<SH
#!/bin/sh
p=\$(cat "$tmp/pid")
kill -9 "\$p" 2>/dev/null
while kill -0 "\$p" 2>/dev/null; do sleep 0.05; done
rm -f "$tmp/run/libvirt/libvirt-sock" "$tmp/run/libvirt/libvirt-admin-sock"
SH
cleanup() { sh "$tmp/stop.sh" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
if ! sh "$tmp/start.sh"; then
    diag "$(tail -5 "$tmp/libvirtd.log" 2>/dev/null)"
    skip_or_fail "cannot start a private libvirtd"
    done_testing
fi
VMSEC_TEST_LIBVIRT_URI="$uri" VMSEC_TEST_LIBVIRTD_START="sh $tmp/start.sh" VMSEC_TEST_LIBVIRTD_STOP="sh $tmp/stop.sh" \
    "$prog"
