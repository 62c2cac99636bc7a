#!/bin/sh
# SPDX-License-Identifier: ISC
# vmsec-relayd as installed: --check, decisions and audit lines over its unix socket (identity
# "host"), fail-closed reload on SIGHUP, clean stop on SIGTERM. libvirt's in-process test driver
# stands in for libvirtd; its domains have no vsock device, so allowed requests end NO_SUCH_TARGET.
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
"$relayd" -p "$tmp/good.conf" -V -l test:///default -q --resync 50 2>"$tmp/err"; rc=$?
check "--resync outside 100..3600000 ms is refused" sh -c "test $rc = 1 && grep -q 'resync interval 50 ms outside 100..3600000' '$tmp/err'"
"$relayd" -p "$tmp/good.conf" -V -q --peers "$tmp/peers" 2>"$tmp/err"; rc=$?
check "--peers without --key is a usage error (2)" sh -c "test $rc = 2 && grep -q 'need --key' '$tmp/err'"

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
# A long request timeout: the --status checks below hold a silent caller as a pending session
# while a loaded machine runs two status queries.
"$relayd" -p "$tmp/policy.conf" -V -u "$tmp/relay.sock=host" -l test:///default --resync 1000 -q -a "$tmp/audit.jsonl" \
    --status-socket "$tmp/status.sock" --request-timeout 120000 2>"$tmp/stderr" &
pid=$!
i=0
while [ ! -S "$tmp/relay.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "the daemon listens on its unix socket" test -S "$tmp/relay.sock"

check "an allowed request for a domain that does not exist is NO_SUCH_TARGET (6)" test "$(ask vm1 echo)" = 6
check "a request no rule allows is DENIED (1)" test "$(ask vm2 echo)" = 1
check "audit: allow decision with rule file:line" grep -q '"event":"decision".*"source":"host","source_cid":2,"target":"vm1","service":"echo","decision":"allow","rule":"[^"]*policy.conf:2"' "$tmp/audit.jsonl"
check "audit: default deny" grep -q '"target":"vm2".*"decision":"deny","rule":"[^"]*policy.conf:default"' "$tmp/audit.jsonl"
check "audit: an allowed request for a domain that does not exist is no-such-target" \
    grep -q '"event":"unavailable".*"target":"vm1".*"reason":"no-such-target"' "$tmp/audit.jsonl"

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
check "a fixed policy is picked up on SIGHUP" test "$(ask vm1 echo)" = 6

# A reload that catches the file half-written (cut inside its last line) refuses it and fails
# closed; the complete file renamed into place (the way to write it) restores service.
loaded() { grep -c '"event":"policy"' "$tmp/audit.jsonl"; }
reload() {
    n=$(loaded)
    kill -HUP "$pid"
    i=0
    while [ "$(loaded)" -le "$n" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}
printf 'service echo port 5000\nallow echo from host to vm' > "$tmp/policy.conf"
reload
check "reload of a truncated policy is refused (no terminating newline)" \
    sh -c "tail -n 1 '$tmp/audit.jsonl' | grep -q '\"status\":\"invalid\".*no terminating newline.*deny-all'"
check "after a truncated reload everything is denied" test "$(ask vm1 echo)" = 1
cp "$tmp/good.conf" "$tmp/policy.conf.new" && mv "$tmp/policy.conf.new" "$tmp/policy.conf"
reload
check "the complete policy renamed into place is picked up on SIGHUP" test "$(ask vm1 echo)" = 6

# --status: the running relay's counters, policy and sessions, from its status socket. A caller
# that connected and sent nothing yet is a pending session.
check "the status socket is the relay's user's only (mode 0600)" test "$(stat -c %a "$tmp/status.sock")" = 600
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(120)' "$tmp/relay.sock" &
holder=$!
i=0
until "$relayd" --status --status-socket "$tmp/status.sock" --json > "$tmp/status.json" 2>"$tmp/status.err" &&
    grep -q '"state":"request"' "$tmp/status.json" || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
check "--status --json lists the pending caller, the policy and the counters" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['policy']['name'].endswith('policy.conf') and d['policy']['rules'] == 1, d['policy']
assert d['denied'] >= 2 and d['refused'] >= 3 and d['sessions_pending'] == 1, d
s = d['sessions']
assert len(s) == 1 and s[0]['source'] == 'host' and s[0]['source_cid'] == 2 and s[0]['state'] == 'request', s
assert d['sources'] == [{'source': 'host', 'forwarding': 0, 'pending': 1}], d['sources']
" "$tmp/status.json"
"$relayd" --status --status-socket "$tmp/status.sock" > "$tmp/status.txt" 2>&1
check "--status prints a table: policy, counters and a row per session" \
    sh -c "grep -q '^policy: .*policy.conf' '$tmp/status.txt' && grep -q '^totals: .* denied' '$tmp/status.txt' &&
           grep -q '^ *SESSION  STATE' '$tmp/status.txt' && grep -Eq '^ +[0-9]+  request +host ' '$tmp/status.txt'"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
"$relayd" --status --status-socket "$tmp/nothing.sock" > "$tmp/status-none.out" 2>&1
check "--status without a relay exits 1 and says where it looked" \
    sh -c "test $? = 1 && grep -q 'cannot reach the status socket .*nothing.sock.*--status-socket' '$tmp/status-none.out'"
"$relayd" --json -p "$tmp/policy.conf" > /dev/null 2>&1
check "--json without --status is a usage error (2)" test $? = 2

kill -TERM "$pid"
wait "$pid"; rc=$?
pid=
check "SIGTERM stops the daemon with status 0" test "$rc" = 0
check "the status socket file is removed" test ! -e "$tmp/status.sock"
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
