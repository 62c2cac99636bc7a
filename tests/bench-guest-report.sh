#!/bin/sh
# SPDX-License-Identifier: ISC
# The guest benchmark's reporting, without booting a guest: bench/vsock-guest.sh must say why it
# measured nothing (in the results and as a JSON line) and still succeed, so `make bench` goes on;
# bench/summary.py must turn guest results into ratio rows, show skipped suites, and leave the host
# summary alone when there are no guest results.
. "$top_srcdir/tests/tap.sh"

command -v python3 >/dev/null 2>&1 || { skip_or_fail "python3 not found"; done_testing; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-bench-guest.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# No QEMU: a "skipped:" line naming it, a JSON line saying the same, exit status 0.
VMSEC_BENCH_JSON=$tmp/no-qemu.jsonl VMSEC_GUEST_QEMU=$tmp/no-such-qemu \
    sh "$top_srcdir/bench/vsock-guest.sh" "$tmp" "$top_srcdir" >"$tmp/no-qemu.md" 2>"$tmp/no-qemu.err"
check "runner without QEMU exits 0" test $? -eq 0
check "runner without QEMU says why in the results" \
    grep -q "^skipped: $tmp/no-such-qemu not found" "$tmp/no-qemu.md"
check "runner without QEMU writes a JSON line saying why" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows == [{"bench": "vsock_guest", "skipped": sys.argv[2] + " not found (Debian package qemu-system-x86)"}]
' "$tmp/no-qemu.jsonl" "$tmp/no-such-qemu"

# Guest results: ratios against the in-guest AEAD rate and raw vsock; a skipped suite is shown.
cat >"$tmp/guest.jsonl" <<'EOF'
{"bench":"vsock_guest_aead","cipher":"ChaChaPoly","impl":"libsodium","size":65536,"mb_per_s":20.0}
{"bench":"vsock_guest_aead","cipher":"AESGCM","impl":"libsodium","skipped":"no AES-NI in guest"}
{"bench":"vsock_guest_throughput","contender":"raw","size":64,"mb_per_s":40.0,"msgs_per_s":625000}
{"bench":"vsock_guest_throughput","contender":"raw","size":65536,"mb_per_s":80.0,"msgs_per_s":1220.7}
{"bench":"vsock_guest_throughput","contender":"vmsec-chachapoly-blake2b","size":64,"mb_per_s":4.0,"msgs_per_s":62500}
{"bench":"vsock_guest_throughput","contender":"vmsec-chachapoly-blake2b","size":65536,"mb_per_s":10.0,"msgs_per_s":152.6}
{"bench":"vsock_guest_throughput","contender":"vmsec-aesgcm-sha256","skipped":"no AES-NI in guest"}
EOF
python3 "$top_srcdir/bench/summary.py" "$tmp/guest.jsonl" >"$tmp/guest.md"
check "summary: vmsec vs in-guest AEAD at 64 KiB" grep -Eq \
    '^\| 64 KiB throughput, vmsec-chachapoly-blake2b vs in-guest single-core libsodium ChaChaPoly \| 10\.0 MB/s \| 20\.0 MB/s \| 0\.50 \|$' \
    "$tmp/guest.md"
check "summary: vmsec vs raw vsock at 64 KiB" grep -Eq \
    '^\| 64 KiB throughput, vmsec-chachapoly-blake2b vs raw vsock \| 10\.0 MB/s \| 80\.0 MB/s \| 0\.12 \|$' "$tmp/guest.md"
check "summary: vmsec vs raw vsock, 64 B messages/s" grep -Eq \
    '^\| 64 B messages/s, vmsec-chachapoly-blake2b vs raw vsock \| 62500/s \| 625000/s \| 0\.10 \|$' "$tmp/guest.md"
check "summary: a suite skipped in the guest is shown with its reason" grep -Eq \
    '^\| vmsec-aesgcm-sha256 over guest vsock \| skipped: no AES-NI in guest \|' "$tmp/guest.md"
check "summary: guest rows carry no floor" sh -c "! grep -E 'guest|vsock' '$tmp/guest.md' | grep -Eq 'met|MISSED'"

# A skipped guest run is one row; no guest results at all, no guest table.
python3 "$top_srcdir/bench/summary.py" "$tmp/no-qemu.jsonl" >"$tmp/skipped.md"
check "summary: a skipped guest run is shown with its reason" grep -Eq \
    "^\| guest benchmark \| skipped: .*no-such-qemu not found" "$tmp/skipped.md"
echo '{"bench":"memory","channels":100,"heap_per_channel":1000}' >"$tmp/host.jsonl"
python3 "$top_srcdir/bench/summary.py" "$tmp/host.jsonl" >"$tmp/host.md"
check "summary: no guest table without guest results" sh -c "! grep -q 'inside the test guest' '$tmp/host.md'"
check "summary: host rows unchanged" grep -q '^| heap per idle channel (100 channels) | 1000 B | 1024 B | 0.98 | <= 1.00 | met |$' \
    "$tmp/host.md"
done_testing
