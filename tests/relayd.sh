#!/bin/sh
# SPDX-License-Identifier: ISC
# vmsec-relayd as installed: --check, decisions and audit lines over its unix socket (identity
# "host"), fail-closed reload on SIGHUP, clean stop on SIGTERM. libvirt's in-process test driver
# stands in for libvirtd; its domains have no vsock device, so allowed requests end UNAVAILABLE.
. "$top_srcdir/tests/tap.sh"
relayd="$top_builddir/examples/vmsec-relayd"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-relayd.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

printf 'service echo port 5000\nallow echo from host to vm1\n' > "$tmp/good.conf"
printf 'service echo port 5000\nalow echo from host to vm1\n' > "$tmp/bad.conf"

check "--check accepts a valid policy" sh -c "'$relayd' -p '$tmp/good.conf' --check | grep -q '1 rules, ok'"
"$relayd" -p "$tmp/bad.conf" --check 2>"$tmp/err"; rc=$?
check "--check rejects an invalid policy with status 1" test "$rc" = 1
check "--check names FILE:LINE and the reason" grep -q "bad.conf:2: unknown keyword 'alow'" "$tmp/err"
check "the shipped example policy is valid" sh -c "'$relayd' -p '$top_srcdir/examples/relay-policy.conf' --check >/dev/null"
"$relayd" --bogus >/dev/null 2>&1; rc=$?
check "bad usage exits 2" test "$rc" = 2

if ! command -v python3 >/dev/null 2>&1; then
    skip_or_fail "python3 is needed to speak the relay protocol from a shell test"
    done_testing
fi

# ask TARGET SERVICE: prints the reply status byte of the relay at $relay_sock.
relay_sock="$tmp/relay.sock"
ask() {
    python3 - "$relay_sock" "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
t, v = sys.argv[2].encode(), sys.argv[3].encode()
s.sendall(b"VMSR\x01\x01" + bytes([len(t), len(v)]) + t + v)
rep = b""
while len(rep) < 8:
    chunk = s.recv(8 - len(rep))
    if not chunk:
        break
    rep += chunk
print(rep[6] if len(rep) == 8 and rep[:6] == b"VMSR\x01\x02" else "bad")
PY
}

cp "$tmp/good.conf" "$tmp/policy.conf"
"$relayd" -p "$tmp/policy.conf" -V -u "$tmp/relay.sock=host" -l test:///default -q -a "$tmp/audit.jsonl" \
    2>"$tmp/stderr" &
pid=$!
i=0
while [ ! -S "$tmp/relay.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "the daemon listens on its unix socket" test -S "$tmp/relay.sock"

check "an allowed request for a domain without vsock is UNAVAILABLE (2)" test "$(ask vm1 echo)" = 2
check "a request no rule allows is DENIED (1)" test "$(ask vm2 echo)" = 1
check "audit: allow decision with rule file:line" grep -q '"event":"decision".*"source":"host","source_cid":2,"target":"vm1","service":"echo","decision":"allow","rule":"[^"]*policy.conf:2"' "$tmp/audit.jsonl"
check "audit: default deny" grep -q '"target":"vm2".*"decision":"deny","rule":"[^"]*policy.conf:default"' "$tmp/audit.jsonl"

cp "$tmp/bad.conf" "$tmp/policy.conf"
kill -HUP "$pid"
i=0
while ! grep -q '"status":"invalid"' "$tmp/audit.jsonl" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "reload of an invalid policy is audited with FILE:LINE" grep -q '"event":"policy".*"status":"invalid".*policy.conf:2: unknown keyword.*"effect":"deny-all"' "$tmp/audit.jsonl"
check "after a failed reload everything is denied" test "$(ask vm1 echo)" = 1
check "audit: no-valid-policy" grep -q '"target":"vm1".*"decision":"deny","rule":"no-valid-policy"' "$tmp/audit.jsonl"

cp "$tmp/good.conf" "$tmp/policy.conf"
kill -HUP "$pid"
i=0
while [ "$(grep -c '"status":"loaded"' "$tmp/audit.jsonl")" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "a fixed policy is picked up on SIGHUP" test "$(ask vm1 echo)" = 2

kill -TERM "$pid"
wait "$pid"; rc=$?
pid=
check "SIGTERM stops the daemon with status 0" test "$rc" = 0
check "the unix socket file is removed" test ! -e "$tmp/relay.sock"
check "shutdown is audited" grep -q '"event":"shutdown","sessions_cut":0' "$tmp/audit.jsonl"
check "every audit line is a JSON object" python3 -c "
import json, sys
for line in open(sys.argv[1], encoding='utf-8'):
    json.loads(line)
" "$tmp/audit.jsonl"

# A policy file whose path is not UTF-8 (a directory named with byte 0xff): the audit lines naming
# it stay strict UTF-8 JSON, with U+FFFD in place of the byte.
odd="$tmp/pol$(printf '\377')"
mkdir "$odd" && cp "$tmp/good.conf" "$odd/policy.conf"
"$relayd" -p "$odd/policy.conf" -u "$tmp/relay2.sock=host" -l test:///default -q -a "$tmp/audit2.jsonl" \
    2>"$tmp/stderr2" &
pid=$!
i=0
while [ ! -S "$tmp/relay2.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
relay_sock="$tmp/relay2.sock"
check "with a non-UTF-8 policy path, a request no rule allows is DENIED (1)" test "$(ask vm2 echo)" = 1
kill -TERM "$pid"
wait "$pid"
pid=
check "audit lines naming a non-UTF-8 path are strict UTF-8 JSON, U+FFFD in place of 0xff" python3 -c "
import json, sys
recs = [json.loads(line) for line in open(sys.argv[1], encoding='utf-8')]
assert any(r['event'] == 'decision' and r['rule'].endswith('/pol\ufffd/policy.conf:default') for r in recs), recs
assert any(r['event'] == 'policy' and r['file'].endswith('/pol\ufffd/policy.conf') for r in recs), recs
" "$tmp/audit2.jsonl"
done_testing
