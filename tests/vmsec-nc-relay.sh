#!/bin/sh
# SPDX-License-Identifier: ISC
# vmsec-nc through a real vmsec-relayd: --via asks the relay and runs the channel end to end,
# -l --relayed reads the relay's origin header (and refuses a connection without a valid one),
# --exec hands the channel and the vouched origin to a command. The relay's callers come on its
# unix socket (identity "host", CID 2); libvirt's in-process test driver stands in for libvirtd,
# and --target-dir makes the relay reach target DOMAIN's port P at the unix socket t/DOMAIN.P,
# so no vsock is needed.
. "$top_srcdir/tests/tap.sh"
nc="$top_builddir/examples/vmsec-nc"
relayd="$top_builddir/examples/vmsec-relayd"
keygen="$top_builddir/examples/vmsec-keygen"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-nc-relay.XXXXXX")
rpid=
cleanup() { [ -n "$rpid" ] && kill "$rpid" 2>/dev/null; kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$keygen" -o "$tmp/a" >/dev/null && "$keygen" -o "$tmp/b" >/dev/null && "$keygen" -o "$tmp/c" >/dev/null ||
    { not_ok "vmsec-keygen works"; done_testing; }

wait_sock() { i=0; while [ ! -S "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; }
one_line() { [ "$(wc -l < "$1")" -eq 1 ]; }
# wait_at_most SECONDS PID: waits for PID, killing it after SECONDS; its status in $wrc
wait_at_most() {
    i=0
    while kill -0 "$2" 2>/dev/null && [ $i -lt $(($1 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    kill "$2" 2>/dev/null
    wait "$2"; wrc=$?
}

mkdir "$tmp/t"
printf 'service echo port 5000\nallow echo from host to vm1\nallow echo from host to ghost\n' > "$tmp/policy.conf"
"$relayd" -p "$tmp/policy.conf" -V -u "$tmp/relay.sock" -l test:///default --target-dir "$tmp/t" -q \
    -a "$tmp/audit.jsonl" 2>"$tmp/relayd.err" &
rpid=$!
wait_sock "$tmp/relay.sock"
check "vmsec-relayd --target-dir listens on its unix socket" test -S "$tmp/relay.sock"
[ -S "$tmp/relay.sock" ] || { diag "$(cat "$tmp/relayd.err")"; done_testing; }
via="--via unix:$tmp/relay.sock"
target="unix:$tmp/t/vm1.5000"

# target ARGS...: starts a relayed listener for vm1's echo service in the background ($lpid), its
# stdin from $lin (a background job's stdin is /dev/null unless redirected on the job itself)
target() {
    rm -f "$tmp/t/vm1.5000"
    "$nc" -l --relayed -k "$tmp/b" "$@" <"${lin:-/dev/null}" >"$tmp/l.out" 2>"$tmp/l.err" &
    lpid=$!
    wait_sock "$tmp/t/vm1.5000"
}

# --- allowed: both directions end to end, checksums on both sides ---
head -c 2000000 /dev/urandom > "$tmp/in.bin"
head -c 1500000 /dev/urandom > "$tmp/in2.bin"
lin="$tmp/in2.bin"
target -v -t "$tmp/a.pub" "$target"
lin=
"$nc" $via --to vm1 --service echo -k "$tmp/a" -t "$tmp/b.pub" <"$tmp/in.bin" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 20 $lpid; lrc=$wrc
check "relayed: both sides exit 0" sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ]"
check "relayed: the target got every byte the caller sent (sha256)" \
    [ "$(sha256sum < "$tmp/l.out")" = "$(sha256sum < "$tmp/in.bin")" ]
check "relayed: the caller got every byte the target sent (sha256)" \
    [ "$(sha256sum < "$tmp/c.out")" = "$(sha256sum < "$tmp/in2.bin")" ]
check "relayed: the relay forwarded the session (audit open for vm1)" \
    grep -q '"event":"open".*"source":"host","source_cid":2,"target":"vm1","service":"echo"' "$tmp/audit.jsonl"
check "relayed -v: the target prints the vouched origin" \
    grep -qx "vmsec-nc: the relay vouches for domain host (cid 2), service echo" "$tmp/l.err"
[ $crc -eq 0 ] && [ $lrc -eq 0 ] || diag "$(cat "$tmp/c.err" "$tmp/l.err")"

# --- -v on the caller names the target, the service and the relay ---
target -t "$tmp/a.pub" "$target"
printf 'x\n' | "$nc" -v $via --to vm1 --service echo -k "$tmp/a" -t "$tmp/b.pub" >/dev/null 2>"$tmp/c.err"
wait_at_most 20 $lpid
check "--via -v: the caller names target, service and relay, and the target's key" \
    grep -q "^vmsec-nc: connected to vm1 (service echo) via unix:$tmp/relay.sock, peer key fingerprint .* ($(cat "$tmp/b.pub"))\$" \
    "$tmp/c.err"

# --- refusals by the relay: one line with its reason, exit 1, nothing on stdout ---
"$nc" $via --to vm2 --service echo -k "$tmp/a" -t "$tmp/b.pub" </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
check "denied: exit 1, nothing on stdout" sh -c "[ $crc -eq 1 ] && [ ! -s '$tmp/c.out' ]"
check "denied: one line with the relay's reason" \
    sh -c "[ \$(wc -l < '$tmp/c.err') -eq 1 ] && grep -q \"^vmsec-nc: unix:$tmp/relay.sock: relay denied service 'echo' on 'vm2'\$\" '$tmp/c.err'"
"$nc" $via --to ghost --service echo -k "$tmp/a" -t "$tmp/b.pub" </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
check "allowed but no such target: exit 1, nothing on stdout" sh -c "[ $crc -eq 1 ] && [ ! -s '$tmp/c.out' ]"
check "allowed but no such target: one line, the relay says no such target" \
    sh -c "one_line() { [ \$(wc -l < \"\$1\") -eq 1 ]; }; one_line '$tmp/c.err' && grep -q \"relay: no such target 'ghost' (service 'echo' allowed)\" '$tmp/c.err'"
check "allowed but no such target: the relay's audit says no-such-target" \
    grep -q '"event":"unavailable".*"target":"ghost".*"reason":"no-such-target"' "$tmp/audit.jsonl"

# --- --exec: the command gets the channel and the origin in its environment ---
target -t "$tmp/a.pub" -e "$target" -- env
"$nc" $via --to vm1 --service echo -k "$tmp/a" -t "$tmp/b.pub" </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 20 $lpid; lrc=$wrc
check "--exec env: both sides exit 0" sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ]"
check "--exec env: VMSEC_ORIGIN_DOMAIN=host" grep -qx "VMSEC_ORIGIN_DOMAIN=host" "$tmp/c.out"
check "--exec env: VMSEC_ORIGIN_CID=2" grep -qx "VMSEC_ORIGIN_CID=2" "$tmp/c.out"
check "--exec env: VMSEC_SERVICE=echo" grep -qx "VMSEC_SERVICE=echo" "$tmp/c.out"
check "--exec env: VMSEC_PEER_KEY is the caller's proven key" grep -qx "VMSEC_PEER_KEY=$(cat "$tmp/a.pub")" "$tmp/c.out"
check "--exec: the target's own stdout stays empty" sh -c "[ $lrc -eq 0 ] && [ ! -s '$tmp/l.out' ]"

target -t "$tmp/a.pub" -e "$target" -- sha256sum
"$nc" $via --to vm1 --service echo -k "$tmp/a" -t "$tmp/b.pub" <"$tmp/in.bin" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 20 $lpid; lrc=$wrc
check "--exec sha256sum: the command read every byte the caller sent, and its answer came back" \
    sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ] && [ \"\$(cat '$tmp/c.out')\" = \"\$(sha256sum < '$tmp/in.bin')\" ]"

target -t "$tmp/a.pub" -e "$target" -- printf '%s\n' '$(echo no); `id`'
"$nc" $via --to vm1 --service echo -k "$tmp/a" -t "$tmp/b.pub" </dev/null >"$tmp/c.out" 2>"$tmp/c.err"
wait_at_most 20 $lpid
check "--exec runs argv as given, never through a shell" [ "$(cat "$tmp/c.out")" = '$(echo no); `id`' ]

target -t "$tmp/a.pub" -e "$target" -- false
"$nc" $via --to vm1 --service echo -k "$tmp/a" -t "$tmp/b.pub" </dev/null >/dev/null 2>"$tmp/c.err"
wait_at_most 20 $lpid; lrc=$wrc
check "--exec: a failing command fails the target (1), named in one line" \
    sh -c "[ $lrc -eq 1 ] && [ \$(wc -l < '$tmp/l.err') -eq 1 ] && grep -q 'false exited with status 1' '$tmp/l.err'"

# --- no valid origin header: refused before the handshake, nothing reaches the command ---
target -t "$tmp/a.pub" -e "$target" -- env
printf 'direct\n' | "$nc" -k "$tmp/a" -t "$tmp/b.pub" "$target" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 20 $lpid; lrc=$wrc
check "no origin header: one line saying so" \
    sh -c "[ \$(wc -l < '$tmp/l.err') -eq 1 ] && grep -q '^vmsec-nc: refused a client on $target: no valid relay origin header: relay: malformed origin header' '$tmp/l.err'"
check "no origin header (a direct client): both exit 1, nothing on either stdout" \
    sh -c "[ $lrc -eq 1 ] && [ $crc -eq 1 ] && [ ! -s '$tmp/c.out' ] && [ ! -s '$tmp/l.out' ]"

if command -v python3 >/dev/null 2>&1; then
    # header PATH TYPE: a header for "host" (CID 2), service echo, with the given type byte
    header() {
        python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"VMSR\x01" + bytes([int(sys.argv[2]), 4, 4]) + (2).to_bytes(4, "big") + b"hostecho")
time.sleep(0.5)
' "$@" 2>/dev/null
    }
    target -t "$tmp/a.pub" -e "$target" -- env
    header "$tmp/t/vm1.5000" 9
    wait_at_most 20 $lpid; lrc=$wrc
    check "a malformed origin header (wrong type) is refused, nothing run" \
        sh -c "[ $lrc -eq 1 ] && grep -q 'no valid relay origin header: relay: malformed origin header' '$tmp/l.err' && [ ! -s '$tmp/l.out' ]"
    # a python3 that user nobody may run (one under root's home may not be)
    nobody_py=
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
        for py in /usr/bin/python3 "$(command -v python3)"; do
            if setpriv --reuid=65534 --regid=65534 --clear-groups "$py" -c '' 2>/dev/null; then
                nobody_py=$py
                break
            fi
        done
    fi
    if [ -n "$nobody_py" ]; then
        # an abstract socket has no file mode, so a process of another user can reach it
        abstract="@vmsec-nc-relay-$$"
        "$nc" -l --relayed -k "$tmp/b" -t "$tmp/a.pub" -e "unix:$abstract" -- env >"$tmp/l.out" 2>"$tmp/l.err" &
        lpid=$!
        i=0
        while ! grep -q "$abstract\$" /proc/net/unix 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "$nobody_py -c '
import socket, time
s = socket.socket(socket.AF_UNIX); s.connect(\"\\0${abstract#@}\")
s.sendall(b\"VMSR\\x01\\x03\\x04\\x04\" + (2).to_bytes(4, \"big\") + b\"hostecho\"); time.sleep(0.5)'"
        wait_at_most 20 $lpid; lrc=$wrc
        check "a well-formed origin header from another user (not the relay) is refused, nothing run" \
            sh -c "[ $lrc -eq 1 ] && grep -q 'runs as uid 65534, neither root nor this process.s user' '$tmp/l.err' && [ ! -s '$tmp/l.out' ]"
        [ $lrc -eq 1 ] || diag "$(cat "$tmp/l.err")"
    else
        skip_or_fail "root, setpriv and a python3 that user nobody can run are needed to send a header as another user"
    fi
else
    skip_or_fail "python3 is needed to forge an origin header"
fi

# --- the end-to-end keys are checked as in direct mode: the relay cannot vouch for a key ---
target -t "$tmp/c.pub" "$target"
printf 'secret\n' | "$nc" $via --to vm1 --service echo -k "$tmp/a" -t "$tmp/b.pub" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 20 $lpid; lrc=$wrc
check "untrusted caller key: both sides exit 1" sh -c "[ $crc -eq 1 ] && [ $lrc -eq 1 ]"
check "untrusted caller key: the target says why in one line" sh -c "[ \$(wc -l < '$tmp/l.err') -eq 1 ] && grep -q 'not trusted' '$tmp/l.err'"
check "untrusted caller key: the caller says its key was refused" grep -q "the peer refused our key" "$tmp/c.err"
check "untrusted caller key: nothing on either stdout" sh -c "[ $lrc -eq 1 ] && [ ! -s '$tmp/l.out' ] && [ ! -s '$tmp/c.out' ]"
target -t "$tmp/a.pub" "$target"
printf 'secret\n' | "$nc" $via --to vm1 --service echo -k "$tmp/a" -t "$tmp/c.pub" --pattern IK >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 20 $lpid; lrc=$wrc
check "caller expecting another target key: both fail, nothing delivered" \
    sh -c "[ $crc -eq 1 ] && [ $lrc -eq 1 ] && [ ! -s '$tmp/l.out' ] && [ ! -s '$tmp/c.out' ]"

# --- usage errors: exit 2, one "vmsec-nc: " line naming the problem ---
usage() { # EXPECTED-TEXT ARGS...
    want=$1; shift
    "$nc" "$@" </dev/null >"$tmp/u.out" 2>"$tmp/u.err"; urc=$?
    check "usage error exits 2: vmsec-nc $*" usage_said
}
usage_said() { [ $urc -eq 2 ] && head -n 1 "$tmp/u.err" | grep -q -- "^vmsec-nc: .*$want" && [ ! -s "$tmp/u.out" ]; }
usage "--to and --service go with --via" --to vm1 --service echo "unix:$tmp/u"
usage "--via needs --to DOMAIN and --service NAME" --via "unix:$tmp/u" --to vm1
usage "unexpected operand" --via "unix:$tmp/u" --to vm1 --service echo "unix:$tmp/u"
usage "--via: .*address 'bogus'" --via bogus --to vm1 --service echo
usage "--to 'a/b/c': a name is 1 to 255 characters.*or HOST/DOMAIN" --via "unix:$tmp/u" --to a/b/c --service echo
usage "--to '/b': a name is 1 to 255 characters" --via "unix:$tmp/u" --to /b --service echo
usage "--service '': a name is 1 to 64" --via "unix:$tmp/u" --to vm1 --service ''
usage "it does not go with -l" -l --via "unix:$tmp/u" --to vm1 --service echo
usage "--relayed goes with -l" --relayed "unix:$tmp/u"
usage "--exec goes with -l --relayed" -l -e "unix:$tmp/u" env
usage "missing operand COMMAND" -l --relayed -e "unix:$tmp/u"
usage "--relayed: .*believed only over vsock or unix" -l --relayed tcp:127.0.0.1:0
usage "--resume does not go with --via" --resume 1000 --via "unix:$tmp/u" --to vm1 --service echo

kill "$rpid"
wait "$rpid"
rpid=
done_testing
