#!/bin/sh
# SPDX-License-Identifier: ISC
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
# Pipes, as wg genkey | wg pubkey.
priv=$("$keygen" -o -)
check "-o - writes the private key text to stdout" sh -c "echo '$priv' | grep -Eq '^vmsec-private-key-v1 x25519 [A-Za-z0-9+/]{43}=\$'"
pub=$(echo "$priv" | "$keygen" --pubkey)
check "--pubkey on stdin prints the public key text" sh -c "echo '$pub' | grep -Eq '^x25519:[A-Za-z0-9+/]{43}=\$'"
check "--pubkey PATH gives the same key as the file's .pub" [ "$("$keygen" --pubkey "$tmp/k")" = "$(cat "$tmp/k.pub")" ]
check "--pubkey of a pipe matches --pubkey of the same key in a file" sh -c "
  (umask 077; echo '$priv' > '$tmp/piped'); [ \"\$('$keygen' --pubkey '$tmp/piped')\" = '$pub' ]"
check "--long options: --output and --force" sh -c "'$keygen' --output '$tmp/long' >/dev/null && '$keygen' --force --output '$tmp/long' >/dev/null"
"$keygen" --pubkey <"$tmp/k.pub" >"$tmp/out5" 2>"$tmp/err5"; rc=$?
check "a public key where the private one belongs says so, exit 1" sh -c "[ $rc -eq 1 ] && grep -q 'holds a public key' '$tmp/err5' && [ ! -s '$tmp/out5' ]"
"$keygen" --pubkey "$tmp/k.pub" >/dev/null 2>"$tmp/err6"; rc=$?
check "a .pub file given as the private key is named, exit 1" sh -c "[ $rc -eq 1 ] && grep -q 'k.pub' '$tmp/err6'"
"$keygen" -o - >"$tmp/loose" 2>"$tmp/err7"
check "-o - into a file others can read warns, as wg genkey" grep -q "warning: writing the private key to a file group or others can access" "$tmp/err7"
(umask 077; "$keygen" -o - >"$tmp/tight" 2>"$tmp/err8")
check "-o - into a 0600 file does not warn" [ ! -s "$tmp/err8" ]
"$keygen" --pubkey -o "$tmp/x" >/dev/null 2>&1; rc=$?
check "--pubkey with -o is a usage error (2)" [ $rc -eq 2 ]
"$keygen" -f -o - >/dev/null 2>&1; rc=$?
check "-f with -o - is a usage error (2)" [ $rc -eq 2 ]
"$keygen" --pubkey a b >/dev/null 2>&1; rc=$?
check "--pubkey with two operands is a usage error (2)" [ $rc -eq 2 ]
done_testing
