#!/bin/sh
# SPDX-License-Identifier: ISC
# examples/vmsec-echo-server and vmsec-echo-client: authenticated echo over a unix socket (the same
# code runs over vsock: tests/guest covers AF_VSOCK), and a client with the wrong key is refused
# while the server keeps serving.
. "$top_srcdir/tests/tap.sh"
bin="$top_builddir/examples"
tmp=$(mktemp -d); trap 'kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
"$bin/vmsec-keygen" -o "$tmp/server.key" >/dev/null
"$bin/vmsec-keygen" -o "$tmp/client.key" >/dev/null
"$bin/vmsec-keygen" -o "$tmp/stranger.key" >/dev/null
addr="unix:$tmp/echo.sock"
"$bin/vmsec-echo-server" -n 2 -k "$tmp/server.key" -t "$tmp/client.key.pub" "$addr" 2>"$tmp/server.err" &
srv=$!
i=0; while [ ! -S "$tmp/echo.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "server listens" test -S "$tmp/echo.sock"

"$bin/vmsec-echo-client" -k "$tmp/stranger.key" -t "$tmp/server.key.pub" "$addr" hi >"$tmp/bad.out" 2>"$tmp/bad.err"
check "an untrusted client is refused" test $? = 1
check "the refusal says why on stderr" grep -q "vmsec-echo-client: " "$tmp/bad.err"
check "nothing echoed to the untrusted client" test ! -s "$tmp/bad.out"

"$bin/vmsec-echo-client" -k "$tmp/client.key" -t "$tmp/server.key.pub" "$addr" hello "vsock echo" >"$tmp/ok.out" 2>"$tmp/ok.err"
check "a trusted client succeeds after a refused one" test $? = 0
check "each message comes back with its round trip" \
    sh -c "sed -n 1p '$tmp/ok.out' | grep -Eq '^hello \([0-9]+ us\)\$' && sed -n 2p '$tmp/ok.out' | grep -Eq '^vsock echo \([0-9]+ us\)\$'"
wait $srv
check "the server exits 0 after serving its two connections" test $? = 0
check "the server logged the dropped client" grep -q "client dropped" "$tmp/server.err"
done_testing
