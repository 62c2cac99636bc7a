#!/bin/sh
# SPDX-License-Identifier: ISC
# examples/vmsec-nc end to end: 1 GiB through two processes over a unix socket with matching
# checksums; untrusted peers, tampering and truncation end with a non-zero exit, one line on stderr
# and no unauthenticated byte on stdout.
. "$top_srcdir/tests/tap.sh"
nc="$top_builddir/examples/vmsec-nc"
keygen="$top_builddir/examples/vmsec-keygen"
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
"$keygen" -o "$tmp/a" >/dev/null && "$keygen" -o "$tmp/b" >/dev/null && "$keygen" -o "$tmp/c" >/dev/null ||
    { not_ok "vmsec-keygen works"; done_testing; }
gib=${VMSEC_NC_BYTES:-1073741824}

# waits (up to 10 s) for a socket file to appear
wait_sock() { i=0; while [ ! -S "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; }
one_line() { [ "$(wc -l < "$1")" -eq 1 ]; }
# wait_at_most SECONDS PID: waits for PID, killing it after SECONDS; its status in $wrc. No
# background watchdog: a subshell killed right after its fork can still run this script's EXIT
# trap (which removes $tmp) before it resets its traps.
wait_at_most() {
    i=0
    while kill -0 "$2" 2>/dev/null && [ $i -lt $(($1 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    kill "$2" 2>/dev/null
    wait "$2"; wrc=$?
}

# --- bulk transfer with checksums on both ends ---
mkfifo "$tmp/fifo"
"$nc" -l -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" </dev/null 2>"$tmp/l.err" | sha256sum > "$tmp/out.sum" &
lpid=$!
wait_sock "$tmp/s"
sha256sum < "$tmp/fifo" > "$tmp/in.sum" &
head -c "$gib" /dev/urandom | tee "$tmp/fifo" | "$nc" -k "$tmp/a" -t "$tmp/b.pub" "unix:$tmp/s" 2>"$tmp/c.err" >"$tmp/c.out"
crc=$?
wait $lpid; lrc=$?
wait
check "bulk: connecting side exits 0" [ $crc -eq 0 ]
check "bulk: listening side exits 0" [ $lrc -eq 0 ]
check "bulk: $gib bytes arrive with the same sha256" sh -c "[ -s '$tmp/in.sum' ] && cmp -s '$tmp/in.sum' '$tmp/out.sum'"
check "bulk: nothing on stderr" sh -c "[ ! -s '$tmp/c.err' ] && [ ! -s '$tmp/l.err' ]"
[ $crc -eq 0 ] && [ $lrc -eq 0 ] || diag "$(cat "$tmp/c.err" "$tmp/l.err")"

# --- a short text both ways, half-close: the listener answers after the client's EOF ---
printf 'reply\n' > "$tmp/reply"
"$nc" -l -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" <"$tmp/reply" >"$tmp/l.out" 2>"$tmp/l.err" &
lpid=$!
wait_sock "$tmp/s"
printf 'hello\n' | "$nc" -k "$tmp/a" -t "$tmp/b.pub" "unix:$tmp/s" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait $lpid; lrc=$?
check "both directions: exit 0 on both sides" sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ]"
check "both directions: listener got the client's text" [ "$(cat "$tmp/l.out")" = hello ]
check "both directions: client got the listener's text" [ "$(cat "$tmp/c.out")" = reply ]

# --- untrusted peer: the listener trusts only c ---
"$nc" -l -k "$tmp/b" -t "$tmp/c.pub" "unix:$tmp/s" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
lpid=$!
wait_sock "$tmp/s"
printf 'secret\n' | "$nc" -k "$tmp/a" -t "$tmp/b.pub" "unix:$tmp/s" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait $lpid; lrc=$?
check "untrusted: listener exits non-zero" [ $lrc -ne 0 ]
check "untrusted: client exits non-zero" [ $crc -ne 0 ]
check "untrusted: listener says why in one line" sh -c "one_line() { [ \$(wc -l < \"\$1\") -eq 1 ]; }; one_line '$tmp/l.err' && grep -q 'not trusted' '$tmp/l.err'"
check "untrusted: client reports one line" one_line "$tmp/c.err"
check "untrusted: nothing on either stdout" sh -c "[ ! -s '$tmp/l.out' ] && [ ! -s '$tmp/c.out' ]"
check "untrusted: the refused client says its key was refused" grep -q "the peer refused our key (or closed during the handshake)" "$tmp/c.err"
check "untrusted: the refused client does not suspect an attack" sh -c "! grep -q 'truncation attack' '$tmp/c.err'"
check "untrusted: the listener names the unix socket, not 'unix::'" \
    sh -c "grep -q 'handshake with a client on unix:$tmp/s: ' '$tmp/l.err' && ! grep -q 'unix::' '$tmp/l.err'"

# --- -v: where we listen and the peer's proven key, on both sides ---
"$nc" -v -l -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
lpid=$!
wait_sock "$tmp/s"
printf 'verbose\n' | "$nc" -v -k "$tmp/a" -t "$tmp/b.pub" "unix:$tmp/s" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 20 $lpid; lrc=$wrc
fpre='[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}'
check "-v: both sides exit 0 and deliver" sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ] && [ \"\$(cat '$tmp/l.out')\" = verbose ]"
check "-v: the listener says where it listens" grep -qx "vmsec-nc: listening on unix:$tmp/s" "$tmp/l.err"
check "-v: the client names the address and the listener's key (fingerprint and b.pub's text)" \
    grep -qx "vmsec-nc: connected to unix:$tmp/s, peer key fingerprint $fpre ($(cat "$tmp/b.pub"))" "$tmp/c.err"
check "-v: the listener names the client's key (fingerprint and a.pub's text)" \
    grep -qx "vmsec-nc: accepted a client on unix:$tmp/s, peer key fingerprint $fpre ($(cat "$tmp/a.pub"))" "$tmp/l.err"
if [ "${VMSEC_SANITIZED:-0}" != 1 ] && command -v python3 >/dev/null 2>&1; then
    fp=$(PYTHONPATH="$top_srcdir/bindings/python" VMSEC_LIBRARY="$top_builddir/lib/.libs/libvmsec.so.1" \
        python3 -c 'import sys, vmsec; print(vmsec.PublicKey.load(sys.argv[1]).fingerprint)' "$tmp/b.pub")
    check "-v: the fingerprint is the library's (vmsec_pubkey_fingerprint) for b.pub" \
        sh -c "[ -n '$fp' ] && grep -q 'peer key fingerprint $fp ' '$tmp/c.err'"
fi
"$nc" -v -l -k "$tmp/b" -t "$tmp/a.pub" tcp:127.0.0.1:0 </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
lpid=$!
# waits (up to 30 s) for the whole line, not just its start
listen_port() { sed -n 's/^vmsec-nc: listening on tcp:127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/l.err"; }
i=0; while [ -z "$(listen_port)" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
port=$(listen_port)
[ -n "$port" ] || { echo "# listener's stderr:"; sed 's/^/#   /' "$tmp/l.err"; }
check "-v: a tcp listener on port 0 says the port it got" sh -c "[ -n '$port' ] && [ '$port' != 0 ]"
printf 'tcp\n' | "$nc" -k "$tmp/a" -t "$tmp/b.pub" "tcp:127.0.0.1:${port:-1}" >/dev/null 2>"$tmp/c.err"
wait_at_most 20 $lpid; lrc=$wrc
check "-v: over tcp the listener names the client's address" \
    sh -c "[ $lrc -eq 0 ] && grep -q '^vmsec-nc: accepted tcp:127.0.0.1:[0-9]*, peer key fingerprint ' '$tmp/l.err'"

# --- usage errors exit 2 with one "vmsec-nc: " line naming the problem; failures exit 1 ---
usage() { # EXPECTED-TEXT ARGS...: exit 2, the first stderr line names it
    want=$1; shift
    "$nc" "$@" </dev/null >"$tmp/u.out" 2>"$tmp/u.err"; urc=$?
    check "usage error exits 2: vmsec-nc $*" usage_said
}
usage_said() { [ $urc -eq 2 ] && head -n 1 "$tmp/u.err" | grep -q -- "^vmsec-nc: .*$want" && [ ! -s "$tmp/u.out" ]; }
usage "missing operand ADDRESS"
usage "unexpected operand 'extra'" "unix:$tmp/u" extra
usage "unknown option '-x'" -x "unix:$tmp/u"
usage "--timeout: missing argument" --timeout
usage "--timeout: 'soon' is not a number" --timeout soon "unix:$tmp/u"
usage "--pattern: .*ZZ" --pattern ZZ "unix:$tmp/u"
usage "--suite: .*foo" --suite foo "unix:$tmp/u"
usage "address 'bogus:addr'" bogus:addr
usage "address 'tcp:host'" tcp:host
usage "address 'vsock:x:1'" -l vsock:x:1
usage "-t x25519:garbage: not a public key" -t x25519:garbage "unix:$tmp/u"
"$nc" -t "$tmp/nonexistent.pub" "unix:$tmp/u" </dev/null >/dev/null 2>"$tmp/u.err"; urc=$?
check "a -t file that cannot be read is a failure (1), not a usage error" sh -c "[ $urc -eq 1 ] && grep -q nonexistent.pub '$tmp/u.err'"
"$nc" "unix:$tmp/nobody" </dev/null >/dev/null 2>"$tmp/u.err"; urc=$?
check "an address nobody listens on is a failure (1) naming it" sh -c "[ $urc -eq 1 ] && grep -q 'unix:$tmp/nobody' '$tmp/u.err'"

# --- wrong key: the client expects c's key but talks to b ---
"$nc" -l -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
lpid=$!
wait_sock "$tmp/s"
printf 'secret\n' | "$nc" -k "$tmp/a" -t "$tmp/c.pub" --pattern IK "unix:$tmp/s" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait $lpid; lrc=$?
check "wrong key / other pattern: both exit non-zero" sh -c "[ $crc -ne 0 ] && [ $lrc -ne 0 ]"
check "wrong key: listener names the refused announcement" grep -q "accepts only Noise_XX" "$tmp/l.err"
check "wrong key: nothing on either stdout" sh -c "[ ! -s '$tmp/l.out' ] && [ ! -s '$tmp/c.out' ]"

# --- --protocol-version: version 1 only by opt-in on both sides, never a fallback ---
for pair in "1 1 0" "1 2 1" "2 1 1"; do
    set -- $pair
    "$nc" -l -k "$tmp/b" -t "$tmp/a.pub" --protocol-version "$1" "unix:$tmp/s" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
    lpid=$!
    wait_sock "$tmp/s"
    printf 'v1 data\n' | "$nc" -k "$tmp/a" -t "$tmp/b.pub" --protocol-version "$2" "unix:$tmp/s" >/dev/null 2>"$tmp/c.err"; crc=$?
    wait $lpid; lrc=$?
    rm -f "$tmp/s"
    if [ "$3" = 0 ]; then
        check "--protocol-version 1 on both sides delivers" sh -c "[ $lrc -eq 0 ] && [ $crc -eq 0 ] && [ \"\$(cat '$tmp/l.out')\" = 'v1 data' ]"
    else
        check "--protocol-version $1 listener, $2 client: both fail, nothing delivered" sh -c "[ $lrc -ne 0 ] && [ $crc -ne 0 ] && [ ! -s '$tmp/l.out' ]"
    fi
done
"$nc" --protocol-version 3 "unix:$tmp/s" </dev/null >/dev/null 2>"$tmp/err"; rc=$?
check "--protocol-version 3 is a usage error naming the option" sh -c "[ $rc = 2 ] && grep -q '^vmsec-nc: --protocol-version: ' '$tmp/err'"

# --- PSK patterns work with matching PSKs and fail with different ones ---
printf '%064d\n' 7 > "$tmp/psk1"; printf '%064d\n' 8 > "$tmp/psk2"
for pair in "psk1 psk1 0" "psk1 psk2 1"; do
    set -- $pair
    "$nc" -l -k "$tmp/b" -t "$tmp/a.pub" --pattern XXpsk3 --psk "$tmp/$1" "unix:$tmp/s" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
    lpid=$!
    wait_sock "$tmp/s"
    printf 'psk data\n' | "$nc" -k "$tmp/a" -t "$tmp/b.pub" --pattern XXpsk3 --psk "$tmp/$2" "unix:$tmp/s" >/dev/null 2>"$tmp/c.err"
    wait $lpid; lrc=$?
    if [ "$3" = 0 ]; then
        check "XXpsk3 with matching PSKs delivers" sh -c "[ $lrc -eq 0 ] && [ \"\$(cat '$tmp/l.out')\" = 'psk data' ]"
    else
        check "XXpsk3 PSK mismatch: listener fails with nothing on stdout" sh -c "[ $lrc -ne 0 ] && [ ! -s '$tmp/l.out' ]"
    fi
done

# --- keep-alives: an idle connection stays up; a stopped (paused) peer is found dead ---
rm -f "$tmp/kin" "$tmp/kin2"; mkfifo "$tmp/kin" "$tmp/kin2"
"$nc" -l -k "$tmp/b" -t "$tmp/a.pub" --keepalive 100 "unix:$tmp/s" <"$tmp/kin" >"$tmp/l.out" 2>"$tmp/l.err" &
lpid=$!
exec 7>"$tmp/kin" # both stdins stay open and silent
wait_sock "$tmp/s"
"$nc" -k "$tmp/a" -t "$tmp/b.pub" --keepalive 100 "unix:$tmp/s" <"$tmp/kin2" >"$tmp/c.out" 2>"$tmp/c.err" &
cpid=$!
exec 9>"$tmp/kin2"
sleep 1.5 # five dead-peer timeouts (300 ms) with nothing to send
check "keepalive: an idle connection stays up on both sides" sh -c "kill -0 $lpid && kill -0 $cpid"
kill -STOP $cpid
wait_at_most 30 $lpid; lrc=$wrc
kill -KILL $cpid; wait $cpid 2>/dev/null
exec 7>&- 9>&-
check "keepalive: a stopped peer is found dead (exit 1)" [ $lrc -eq 1 ]
check "keepalive: the listener says why in one line" sh -c "[ \$(wc -l < '$tmp/l.err') -eq 1 ] && grep -q 'dead-peer timeout' '$tmp/l.err'"
check "keepalive: nothing on stdout" [ ! -s "$tmp/l.out" ]
"$nc" --keepalive 5 unix:/nonexistent 2>"$tmp/u.err"; urc=$?
check "keepalive: an interval under 10 ms is a usage error" sh -c "[ $urc -eq 2 ] && grep -q -- '--keepalive' '$tmp/u.err'"

# --- tampering and truncation through a relay ---
if command -v python3 >/dev/null 2>&1; then
    head -c 3000000 /dev/urandom > "$tmp/in.bin"
    relay() { # MODE OFFSET: runs a transfer through the relay; sets lrc, rrc and fills l.out / l.err
        rm -f "$tmp/r" "$tmp/s" "$tmp/lin"
        if [ "$1" = cut ]; then
            # The listener's stdin stays open until the transfer is over: it sends nothing, so what
            # it reports is what its receiving side found, not a write into the cut connection.
            mkfifo "$tmp/lin"
            "$nc" -l -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" <"$tmp/lin" >"$tmp/l.out" 2>"$tmp/l.err" &
            lpid=$!
            exec 8>"$tmp/lin"
        else
            "$nc" -l -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
            lpid=$!
        fi
        wait_sock "$tmp/s"
        python3 "$top_srcdir/tests/relay.py" "$tmp/r" "$tmp/s" "$1" "$2" >/dev/null &
        rpid=$!
        wait_sock "$tmp/r"
        "$nc" -k "$tmp/a" -t "$tmp/b.pub" "unix:$tmp/r" <"$tmp/in.bin" >/dev/null 2>"$tmp/c.err"
        wait $lpid; lrc=$?
        wait $rpid; rrc=$?
        [ "$1" = cut ] && exec 8>&-
        return 0
    }
    is_prefix() { n=$(wc -c < "$tmp/l.out"); [ "$n" -lt 3000000 ] && cmp -s -n "$n" "$tmp/l.out" "$tmp/in.bin"; }
    for off in 0 5 60 150 200 1000000; do
        relay flip $off
        check "flip byte $off: listener exits non-zero with one line" sh -c "[ $rrc -eq 0 ] && [ $lrc -ne 0 ] && [ \$(wc -l < '$tmp/l.err') -eq 1 ]"
        check "flip byte $off: stdout holds only an authentic prefix" is_prefix
    done
    relay flip 60
    check "flip in the handshake leaves stdout empty" [ ! -s "$tmp/l.out" ]
    for off in 10 100 500000; do
        relay cut $off
        check "cut after $off bytes: listener exits non-zero" sh -c "[ $rrc -eq 0 ] && [ $lrc -ne 0 ]"
        check "cut after $off bytes: reported as truncation, not a clean close" grep -Eq "without close_notify|during the handshake" "$tmp/l.err"
        check "cut after $off bytes: stdout holds only an authentic prefix" is_prefix
    done
    relay stray 0
    check "stray byte written after close_notify: listener exits non-zero" sh -c "[ $rrc -eq 0 ] && [ $lrc -ne 0 ]"
    check "stray byte after close_notify: reported as a protocol error" grep -q "stray bytes after close_notify" "$tmp/l.err"
    # a peer's message over the listener's maximum (16 MiB) fails the channel with its own error,
    # not as a message to buffer ("out of memory for a 0-byte message" before VMSEC_EPEERTOOBIG);
    # the sender is the Python binding (python3 cannot load a sanitizer build's library unaided)
    if [ "${VMSEC_SANITIZED:-0}" != 1 ]; then
        "$nc" -l -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
        lpid=$!
        wait_sock "$tmp/s"
        PYTHONPATH="$top_srcdir/bindings/python" VMSEC_LIBRARY="$top_builddir/lib/.libs/libvmsec.so.1" python3 -c '
import sys, vmsec
cfg = vmsec.ChannelConfig(vmsec.Keypair.load(sys.argv[1]), trusted_peers=[open(sys.argv[2]).read().strip()],
                          max_message=32 << 20)
ch = vmsec.Channel.connect(sys.argv[3], cfg)
try:
    ch.send(b"x" * (17 << 20))
except vmsec.Error:
    pass  # the listener gave up part way
' "$tmp/a" "$tmp/b.pub" "unix:$tmp/s" 2>"$tmp/p.err"
        wait_at_most 20 $lpid; lrc=$wrc # a sender that never connected must not hang us
        check "peer message over the maximum: listener exits 1 with nothing on stdout" sh -c "[ $lrc -eq 1 ] && [ ! -s '$tmp/l.out' ]"
        check "peer message over the maximum: reported as such" grep -q "peer's message exceeds the maximum" "$tmp/l.err"
    fi
    relay pass 0
    check "relay passing bytes unchanged: clean transfer" sh -c "[ $rrc -eq 0 ] && [ $lrc -eq 0 ] && cmp -s '$tmp/l.out' '$tmp/in.bin'"
    # --resume: a proxy resets the first three connections after 700 kB each; the session
    # reconnects and both directions arrive whole, once
    head -c 3000000 /dev/urandom > "$tmp/in2.bin"
    rm -f "$tmp/r" "$tmp/s"
    "$nc" -l --resume 20000 -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" <"$tmp/in2.bin" >"$tmp/l.out" 2>"$tmp/l.err" &
    lpid=$!
    wait_sock "$tmp/s"
    python3 -c '
import socket, struct, sys, threading
srv = socket.socket(socket.AF_UNIX); srv.bind(sys.argv[1]); srv.listen(4)
def pipe(a, b, limit, ends):
    n = 0
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            if limit and n + len(data) > limit:
                break
            b.sendall(data); n += len(data)
    except OSError:
        pass
    for s in ends:  # a reset: both sockets closed at once, unread bytes dropped
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close()
for i in range(4):
    c, _ = srv.accept()
    u = socket.socket(socket.AF_UNIX); u.connect(sys.argv[2])
    limit = 700000 if i < 3 else 0
    threading.Thread(target=pipe, args=(u, c, 0, []), daemon=True).start()
    t = threading.Thread(target=pipe, args=(c, u, limit, [c, u] if limit else []))
    t.start(); t.join() if limit else None
threading.Event().wait(30)
' "$tmp/r" "$tmp/s" &
ppid=$!
wait_sock "$tmp/r"
"$nc" --resume 20000 -k "$tmp/a" -t "$tmp/b.pub" "unix:$tmp/r" <"$tmp/in.bin" >"$tmp/c.out" 2>"$tmp/c.err"; crc=$?
wait_at_most 20 $lpid; lrc=$wrc
kill $ppid 2>/dev/null; wait $ppid 2>/dev/null
check "--resume across three resets: both sides exit 0" sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ]"
check "--resume across three resets: the listener got every byte once" cmp -s "$tmp/l.out" "$tmp/in.bin"
check "--resume across three resets: the client got every byte once" cmp -s "$tmp/c.out" "$tmp/in2.bin"
[ $crc -eq 0 ] && [ $lrc -eq 0 ] || diag "$(cat "$tmp/c.err" "$tmp/l.err")"
# --resume: with the session open, a client connects to the listening side and stays silent
# (the handshake timeout is 60 s). The session goes on meanwhile: the listener receives the rest of
# the data and ends, and only its exit closes the silent connection. A listener that ran the
# silent connection's handshake in its loop would drop it first, with the data stuck at half.
rm -f "$tmp/s" "$tmp/cin" "$tmp/silent.ready" "$tmp/silent.at"
mkfifo "$tmp/cin"
"$nc" -l --resume 20000 --timeout 60000 -k "$tmp/b" -t "$tmp/a.pub" "unix:$tmp/s" </dev/null >"$tmp/l.out" 2>"$tmp/l.err" &
lpid=$!
wait_sock "$tmp/s"
"$nc" --resume 20000 -k "$tmp/a" -t "$tmp/b.pub" "unix:$tmp/s" <"$tmp/cin" >/dev/null 2>"$tmp/c.err" &
cpid=$!
exec 7>"$tmp/cin"
head -c 1000000 "$tmp/in.bin" >&7
i=0; while [ "$(stat -c %s "$tmp/l.out")" -lt 1000000 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
open(sys.argv[2], "w").close()
s.recv(1)  # the listener never answers: this returns at its end (EOF)
with open(sys.argv[3], "w") as f:
    f.write(str(os.stat(sys.argv[4]).st_size))
' "$tmp/s" "$tmp/silent.ready" "$tmp/silent.at" "$tmp/l.out" 7>&- &
spid=$!
i=0; while [ ! -e "$tmp/silent.ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
tail -c +1000001 "$tmp/in.bin" >&7
exec 7>&-
wait_at_most 20 $cpid; crc=$wrc
wait_at_most 20 $lpid; lrc=$wrc
wait_at_most 10 $spid
check "--resume with a silent connection pending: both sides exit 0" sh -c "[ $crc -eq 0 ] && [ $lrc -eq 0 ]"
check "--resume with a silent connection pending: the listener got every byte" cmp -s "$tmp/l.out" "$tmp/in.bin"
check "--resume with a silent connection pending: it stayed open until the data was all in" \
    sh -c "[ \"\$(cat '$tmp/silent.at' 2>/dev/null)\" = \"$(stat -c %s "$tmp/in.bin")\" ]"
[ $crc -eq 0 ] && [ $lrc -eq 0 ] || diag "$(cat "$tmp/c.err" "$tmp/l.err")"
else
    skip_or_fail "python3 not found (needed for the tampering relay)"
fi
done_testing
