#!/bin/sh
# SPDX-License-Identifier: ISC
# Relay federation with the real programs (doc/RELAY.md, "Federation"): two vmsec-relayd on
# loopback TCP, hosts A and B, each with its own key, peer file, policy and --target-dir of
# "guests". A vmsec-nc --via caller on A (identity host:alice on A's unix socket) reaches a
# vmsec-nc -l --relayed service of domain vm2 on B through both relays; B names the caller
# A/host:alice, the identity its link with A proved. Waits are bounded; nothing is timed.
. "$top_srcdir/tests/tap.sh"
nc="$top_builddir/examples/vmsec-nc"
relayd="$top_builddir/examples/vmsec-relayd"
keygen="$top_builddir/examples/vmsec-keygen"
umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-relayd-fed.XXXXXX")
apid= bpid=
cleanup() {
    [ -n "$apid" ] && kill "$apid" 2>/dev/null
    [ -n "$bpid" ] && kill "$bpid" 2>/dev/null
    kill $(jobs -p) 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
if ! command -v python3 >/dev/null 2>&1; then
    skip_or_fail "python3 is needed to pick a free TCP port and to watch what relay B forwards"
    done_testing
fi
for k in ra rb alice bob; do
    "$keygen" -o "$tmp/$k" >/dev/null || { not_ok "vmsec-keygen works"; done_testing; }
done

wait_sock() { i=0; while [ ! -S "$1" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done; }
# wait_at_most SECONDS PID: waits for PID, killing it after SECONDS; its status in $wrc
wait_at_most() {
    i=0
    while kill -0 "$2" 2>/dev/null && [ $i -lt $(($1 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    kill "$2" 2>/dev/null
    wait "$2"; wrc=$?
}
# link SOCKET PEER KEY: the KEY of PEER's entry in the "links" of the relay's --status --json
link() {
    "$relayd" --status --status-socket "$1" --json | python3 -c '
import json, sys
for l in json.load(sys.stdin)["links"]:
    if l["peer"] == sys.argv[1]:
        print(l.get(sys.argv[2], "none"))' "$2" "$3"
}
# wait_grep FILE PATTERN: waits (at most 30 s) until FILE has a line matching PATTERN
wait_grep() { i=0; while ! grep -q -- "$2" "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$tmp/ta" "$tmp/tb" "$tmp/tbr"
printf 'B tcp:127.0.0.1:%s %s\n' "$port" "$(cat "$tmp/rb.pub")" > "$tmp/a.peers"
printf '# A dials us; we never dial A\nA - %s\n' "$(cat "$tmp/ra.pub")" > "$tmp/b.peers"
printf 'service echo port 5000\nservice admin port 5001\nallow * from host:alice to B/*\nallow echo from host:alice to C/vm2\n' > "$tmp/a.conf"
printf 'service echo port 5000\nservice admin port 5001\nallow echo from A/host:alice to *\n' > "$tmp/b.conf"

start_a() {
    "$relayd" -p "$tmp/a.conf" -V -l test:///default -q -u "$tmp/a.sock=host:alice" --target-dir "$tmp/ta" \
        --key "$tmp/ra" --peers "$tmp/a.peers" -a "$tmp/a.audit" --status-socket "$tmp/a.status" 2>"$tmp/a.err" &
    apid=$!
    wait_sock "$tmp/a.sock"
}
# B's link listener binds before its unix socket: once the socket is there, links are accepted
start_b() {
    rm -f "$tmp/b.sock" "$tmp/b.status"
    "$relayd" -p "$tmp/b.conf" -V -l test:///default -q -u "$tmp/b.sock" --target-dir "$tmp/tb" \
        --key "$tmp/rb" --peers "$tmp/b.peers" --listen-link "tcp:127.0.0.1:$port" -a "$tmp/b.audit" \
        --status-socket "$tmp/b.status" 2>>"$tmp/b.err" &
    bpid=$!
    wait_sock "$tmp/b.status"
}
start_b
start_a
check "relays A and B start with keys, peer files and B's link listener" \
    sh -c "[ -S '$tmp/a.status' ] && [ -S '$tmp/b.status' ]"
[ -S "$tmp/a.status" ] && [ -S "$tmp/b.status" ] || { diag "$(cat "$tmp/a.err" "$tmp/b.err")"; done_testing; }
got="$(link "$tmp/a.status" B state)/$(link "$tmp/a.status" B sessions)/$(link "$tmp/a.status" B last_error)"
check "--status --json before any session: peer B's link is down, no session, no error" [ "$got" = down/0/none ]

via="--via unix:$tmp/a.sock"
target="unix:$tmp/tb/vm2.5000"
# service ARGS...: a relayed listener for vm2's echo service on B in the background ($lpid), its
# stdin from $lin
service() {
    rm -f "$tmp/tb/vm2.5000"
    "$nc" -l --relayed -k "$tmp/bob" -t "$tmp/alice.pub" "$@" <"${lin:-/dev/null}" >"$tmp/l.out" 2>"$tmp/l.err" &
    lpid=$!
    wait_sock "$tmp/tb/vm2.5000"
}
caller() { # caller TARGET [SERVICE]: from A's guest alice, stdin/stdout as given
    "$nc" $via --to "$1" --service "${2:-echo}" -k "$tmp/alice" -t "$tmp/bob.pub"
}

# --- through both relays: bytes both ways, checksums on both sides ---
head -c 1000000 /dev/urandom > "$tmp/in.bin"
head -c 700000 /dev/urandom > "$tmp/in2.bin"
lin="$tmp/in2.bin" service -v "$target"
caller B/vm2 <"$tmp/in.bin" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 30 $lpid; lrc=$wrc
check "federated: caller and service exit 0" sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ]"
check "federated: the service on B got every byte the caller on A sent (sha256)" \
    [ "$(sha256sum < "$tmp/l.out")" = "$(sha256sum < "$tmp/in.bin")" ]
check "federated: the caller on A got every byte the service on B sent (sha256)" \
    [ "$(sha256sum < "$tmp/c.out")" = "$(sha256sum < "$tmp/in2.bin")" ]
check "federated -v: the service prints the remote identity B's relay vouches for" \
    grep -qx "vmsec-nc: the relay vouches for domain A/host:alice (cid 0), service echo" "$tmp/l.err"
[ $crc -eq 0 ] && [ $lrc -eq 0 ] || diag "$(cat "$tmp/c.err" "$tmp/l.err")"
check "relay A decided on B/vm2 and carried the session over its link to B" \
    sh -c "grep -q '\"decision\".*\"target\":\"B/vm2\".*allow' '$tmp/a.audit' && grep -q '\"link-open\".*\"peer\":\"B\"' '$tmp/a.audit'"
check "relay B decided on the source A/host:alice, named after A's key" \
    grep -q '"decision".*"source":"A/host:alice".*"target":"vm2".*allow' "$tmp/b.audit"
a_out=$(link "$tmp/a.status" B bytes_to_peer) a_in=$(link "$tmp/a.status" B bytes_from_peer)
check "--status --json: A's link to B carried 1 session, the bytes of both ways" \
    sh -c "[ $(link "$tmp/a.status" B sessions) -eq 1 ] && [ $a_out -gt 1000000 ] && [ $a_in -gt 700000 ]"
check "--status --json: B counts the session of peer A, the same bytes" \
    sh -c "[ $(link "$tmp/b.status" A sessions) -eq 1 ] && [ $(link "$tmp/b.status" A bytes_from_peer) -eq $a_out ] && [ $(link "$tmp/b.status" A bytes_to_peer) -eq $a_in ]"

# --- --exec: the command's environment carries the remote identity ---
service -e "$target" -- env
caller B/vm2 </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 30 $lpid; lrc=$wrc
check "federated --exec env: both sides exit 0" sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ]"
check "federated --exec env: VMSEC_ORIGIN_DOMAIN=A/host:alice" grep -qx "VMSEC_ORIGIN_DOMAIN=A/host:alice" "$tmp/c.out"
check "federated --exec env: VMSEC_ORIGIN_CID=0 (no CID on this host)" grep -qx "VMSEC_ORIGIN_CID=0" "$tmp/c.out"
check "federated --exec env: VMSEC_SERVICE=echo" grep -qx "VMSEC_SERVICE=echo" "$tmp/c.out"
check "federated --exec env: VMSEC_PEER_KEY is alice's proven key" grep -qx "VMSEC_PEER_KEY=$(cat "$tmp/alice.pub")" "$tmp/c.out"

service -e "$target" -- sha256sum
caller B/vm2 <"$tmp/in.bin" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 30 $lpid; lrc=$wrc
check "federated --exec sha256sum: the command read every byte, its answer came back" \
    sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ] && [ \"\$(cat '$tmp/c.out')\" = \"\$(sha256sum < '$tmp/in.bin')\" ]"

# --- the end-to-end channel is opaque to the relays: a recorder between relay B and the service
#     keeps every byte relay B forwards; the caller's plaintext marker is not among them ---
rm -f "$tmp/tb/vm2.5000"
python3 - "$tmp/tb/vm2.5000" "$tmp/tbr/vm2.5000" "$tmp/seen.bin" <<'PY' 2>"$tmp/rec.err" &
import os, select, socket, sys
lsn = socket.socket(socket.AF_UNIX); lsn.bind(sys.argv[1]); lsn.listen(1)
a, _ = lsn.accept()
b = socket.socket(socket.AF_UNIX); b.connect(sys.argv[2])
seen = open(sys.argv[3], "wb")
peer = {a: b, b: a}
while peer:
    for s in select.select(list(peer), [], [], 60)[0]:
        d = s.recv(65536)
        seen.write(d); seen.flush()
        if d:
            peer[s].sendall(d)
        else:
            try: peer[s].shutdown(socket.SHUT_WR)
            except OSError: pass
            del peer[s]
PY
recpid=$!
wait_sock "$tmp/tb/vm2.5000"
rm -f "$tmp/tbr/vm2.5000"
"$nc" -l --relayed -k "$tmp/bob" -t "$tmp/alice.pub" "unix:$tmp/tbr/vm2.5000" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
lpid=$!
wait_sock "$tmp/tbr/vm2.5000"
marker="plaintext-marker-$$-e2e"
printf '%s\n' "$marker" | caller B/vm2 >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 30 $lpid; lrc=$wrc
wait_at_most 30 $recpid
check "opaque: the marker crossed both relays to the service" sh -c "[ $crc -eq 0 ] && grep -qx '$marker' '$tmp/l.out'"
check "opaque: relay B forwarded bytes (its origin header among them)" grep -q "A/host:alice" "$tmp/seen.bin"
check "opaque: the marker is not in what relay B forwarded" sh -c "! grep -q '$marker' '$tmp/seen.bin'"

# --- B's policy decides on the remote source: A allows admin, B does not ---
caller B/vm2 admin </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
check "denied by B: the caller exits 1, nothing on stdout" sh -c "[ $crc -eq 1 ] && [ ! -s '$tmp/c.out' ]"
check "denied by B: the caller's one line says the relay denied" \
    sh -c "[ \$(wc -l < '$tmp/c.err') -eq 1 ] && grep -q \"relay denied service 'admin' on 'B/vm2'\" '$tmp/c.err'"
check "denied by B: B's audit denies the remote source A/host:alice" \
    grep -q '"decision".*"source":"A/host:alice".*"service":"admin".*deny' "$tmp/b.audit"
check "denied by B: A's audit says the peer denied" grep -q '"link-refused".*"peer-denied"' "$tmp/a.audit"

# --- a domain B does not have: B's no-such-target reaches the caller on A ---
caller B/ghost </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
check "no such target on B: the caller exits 1 with one line saying so" \
    sh -c "[ $crc -eq 1 ] && [ ! -s '$tmp/c.out' ] && [ \$(wc -l < '$tmp/c.err') -eq 1 ] && grep -q \"relay: no such target 'B/ghost' (service 'echo' allowed)\" '$tmp/c.err'"
check "no such target on B: B's audit names it, A's says the peer had no such target" \
    sh -c "grep -q '\"unavailable\".*\"target\":\"ghost\".*no-such-target' '$tmp/b.audit' && grep -q '\"link-refused\".*peer-no-such-target' '$tmp/a.audit'"
caller C/vm2 </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
check "no such linked host: relay A answers no such target" \
    sh -c "[ $crc -eq 1 ] && grep -q \"relay: no such target 'C/vm2'\" '$tmp/c.err'"

# --- the link killed under a running session, relay B restarted, a new request succeeds ---
service -e "$target" -- cat
mkfifo "$tmp/fifo"
caller B/vm2 <"$tmp/fifo" >"$tmp/c.out" 2>"$tmp/c.err" &
cpid=$!
exec 3>"$tmp/fifo"
printf 'before\n' >&3
wait_grep "$tmp/c.out" '^before$'
check "a session through both relays echoes" grep -qx before "$tmp/c.out"
got="$(link "$tmp/a.status" B state)/$(link "$tmp/b.status" A state)"
check "--status --json with a session running: both relays' links up" [ "$got" = up/up ]
check "--status --json with a session running: A counts its open link" [ "$(link "$tmp/a.status" B links)" -ge 1 ]
"$relayd" --status --status-socket "$tmp/a.status" >"$tmp/status.txt"
check "--status: a table line for peer B, its link up" grep -q '^B  *up  ' "$tmp/status.txt"
kill -9 "$bpid"
wait "$bpid" 2>/dev/null
bpid=
wait_at_most 30 $cpid; crc=$wrc
exec 3>&-
wait_at_most 30 $lpid
check "relay B killed: the caller's session ends as an error (exit 1)" [ "$crc" -eq 1 ]
wait_grep "$tmp/a.audit" '"link-close".*"peer":"B"'
check "relay B killed: relay A closes the link" grep -q '"link-close".*"peer":"B"' "$tmp/a.audit"
caller B/vm2 </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
check "relay B down: a new request is refused (exit 1), relay A says unavailable" \
    sh -c "[ $crc -eq 1 ] && grep -q 'unavailable' '$tmp/c.err'"
got="$(link "$tmp/a.status" B state)/$(link "$tmp/a.status" B last_error)"
check "--status --json: the link to B is down, the connect failure named" [ "$got" = down/link-connect-failed ]
start_b
service -e "$target" -- env
caller B/vm2 </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 30 $lpid; lrc=$wrc
check "relay B restarted: a new request succeeds through a new link" \
    sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ] && grep -qx 'VMSEC_ORIGIN_DOMAIN=A/host:alice' '$tmp/c.out'"
[ $crc -eq 0 ] || diag "$(cat "$tmp/c.err" "$tmp/l.err")"
got="$(link "$tmp/a.status" B last_error)/$(link "$tmp/b.status" A sessions)"
check "--status --json after the restart: the new link cleared the error; B restarted counts 1 session" [ "$got" = none/1 ]

# --- SIGHUP re-reads the peer file, atomically and failing closed like the policy ---
peers_events() { grep -c '"event":"peers"' "$tmp/b.audit"; }
hup_b() { # waits (at most 30 s) for the reload's audit record
    n=$(peers_events)
    kill -HUP "$bpid"
    i=0
    while [ "$(peers_events)" -le "$n" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
}
cp "$tmp/b.peers" "$tmp/b.peers.good"
printf 'A - %s\nC - x25519:' "$(cat "$tmp/ra.pub")" > "$tmp/b.peers"
hup_b
check "SIGHUP with a half-written peer file: refused, audited, B has no linked relay" \
    sh -c "tail -n 1 '$tmp/b.audit' | grep -q '\"event\":\"peers\".*\"status\":\"invalid\".*no terminating newline.*\"effect\":\"no-peers\"'"
check "after the failed reload B's status lists no link" \
    sh -c "'$relayd' --status --status-socket '$tmp/b.status' --json | grep -q '\"links\":\[\]'"
service -e "$target" -- env
caller B/vm2 </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
check "after the failed reload B refuses A's link: the caller gets unavailable" \
    sh -c "[ $crc -eq 1 ] && grep -q 'unavailable' '$tmp/c.err' && [ ! -s '$tmp/c.out' ]"
cp "$tmp/b.peers.good" "$tmp/b.peers.new" && mv "$tmp/b.peers.new" "$tmp/b.peers"
hup_b
check "SIGHUP with the peer file renamed into place: loaded, 1 peer" \
    sh -c "tail -n 1 '$tmp/b.audit' | grep -q '\"event\":\"peers\".*\"status\":\"loaded\",\"peers\":1'"
caller B/vm2 </dev/null >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 30 $lpid; lrc=$wrc
check "after the good reload a request through both relays succeeds again" \
    sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ] && grep -qx 'VMSEC_ORIGIN_DOMAIN=A/host:alice' '$tmp/c.out'"
[ $crc -eq 0 ] || diag "$(cat "$tmp/c.err" "$tmp/l.err")"

kill "$apid" "$bpid"
wait "$apid"; arc=$?
wait "$bpid"; brc=$?
apid= bpid=
check "both relays stop cleanly on SIGTERM" sh -c "[ $arc -eq 0 ] && [ $brc -eq 0 ]"
done_testing
