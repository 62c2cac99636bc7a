#!/bin/sh
# vmsec-profile on files and on libvirt's embedded test driver: exit codes and output.
. "$top_srcdir/tests/tap.sh"
tool="$top_builddir/examples/vmsec-profile"
data="$top_srcdir/tests/data/domain"
uri=test:///default
out=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-tool-XXXXXX")
trap 'rm -rf "$out"' EXIT

"$tool" check "$data/render.conf" > "$out/check" 2>&1
check "check accepts a valid profile and prints its digest" grep -q '^digest  sha256:' "$out/check"
printf 'cpu.pinn = 1\n' > "$out/bad.conf"
"$tool" check "$out/bad.conf" 2> "$out/bad.err"
check "check exits 2 on an unknown key" test $? = 2
check "the error names file, line and key" grep -q "bad.conf:1: .*cpu.pinn" "$out/bad.err"
"$tool" render "$data/render.conf" "$data/render-in.xml" > "$out/render.xml"
check "render prints the golden XML" cmp -s "$out/render.xml" "$data/render-out.xml"
"$tool" render "$data/render.conf" "$out/render.xml" > "$out/render2.xml"
check "render is idempotent through the tool" cmp -s "$out/render.xml" "$out/render2.xml"
"$tool" render "$data/render.conf" "$out/missing.xml" 2>/dev/null
check "render exits 2 on a missing file" test $? = 2
"$tool" verify -c $uri "$data/testdrv.conf" test > "$out/v1" 2>&1
check "verify on an untouched domain exits 1 (drift)" test $? = 1
"$tool" host-check -c $uri "$data/testdrv.conf" > "$out/hc" 2>&1
check "host-check on the test driver exits 0" test $? = 0
check "host-check reports kernel facts as not checkable (test driver)" grep -q "cannot be checked here (test driver)" "$out/hc"
"$tool" apply -c $uri "$data/testdrv.conf" test > "$out/apply" 2>&1
check "apply exits 0" test $? = 0
check "apply reports each setting in an aligned table" sh -c "head -1 '$out/apply' | grep -q '^SETTING  *STATUS  *EXPECTED  *ACTUAL  *SOURCE'"
"$tool" apply -c $uri "$data/testdrv-sched.conf" test > "$out/fail" 2> "$out/fail.err"
check "a failing apply exits 2" test $? = 2
check "its error names the setting and says it rolled back" grep -q "cpu.shares.*rolled back" "$out/fail.err"
"$tool" verify -c $uri --json "$data/testdrv.conf" test > "$out/v.json" 2>&1
check "verify --json is JSON with a summary" grep -q '"summary":{"ok":' "$out/v.json"
"$tool" verify -c $uri "$data/testdrv.conf" no-such-domain 2> "$out/nf"
rc=$?
check "verify of a missing domain exits 2" test $rc = 2
check "the error names the missing domain" grep -q "no domain named 'no-such-domain'" "$out/nf"
"$tool" frobnicate 2>/dev/null
check "an unknown command exits 2" test $? = 2
done_testing
