#!/bin/sh
# examples/vmsec-keygen: writes PATH (0600) and PATH.pub, prints the public key text.
. "$top_srcdir/tests/tap.sh"
keygen="$top_builddir/examples/vmsec-keygen"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$("$keygen" -o "$tmp/k")
check "exits 0" [ $? -eq 0 ]
check "prints the public key text" sh -c "echo '$out' | grep -Eq '^x25519:[A-Za-z0-9+/]{43}=\$'"
check "PATH.pub holds the same text" [ "$(cat "$tmp/k.pub")" = "$out" ]
check "private key has mode 0600" [ "$(stat -c %a "$tmp/k")" = 600 ]
check "private key is in the documented format" grep -Eq '^vmsec-private-key-v1 x25519 [A-Za-z0-9+/]{43}=$' "$tmp/k"
"$keygen" -o "$tmp/k" >"$tmp/out2" 2>"$tmp/err2"; rc=$?
check "refuses to overwrite an existing key" [ $rc -ne 0 ]
check "says why on stderr" grep -q "already exists" "$tmp/err2"
check "prints nothing on stdout on failure" [ ! -s "$tmp/out2" ]
check "existing key untouched" [ "$(cat "$tmp/k.pub")" = "$out" ]
out2=$("$keygen" -f -o "$tmp/k")
check "-f replaces the key" [ "$out2" != "$out" ] && [ "$(cat "$tmp/k.pub")" = "$out2" ]
"$keygen" >/dev/null 2>"$tmp/err3"; rc=$?
check "usage error without -o exits 2" [ $rc -eq 2 ]
"$keygen" -o "$tmp/nodir/k" >/dev/null 2>"$tmp/err4"; rc=$?
check "unwritable path fails with the path in the message" sh -c "[ $rc -eq 1 ] && grep -q nodir '$tmp/err4'"
done_testing
