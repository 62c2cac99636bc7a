#!/bin/sh
# SPDX-License-Identifier: ISC
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
# A pin to a CPU the host lacks: check passes, host-check and apply name the file, line and key.
printf 'name = web\nvcpus = 2\n\nvcpu.0.pin = 64\n' > "$out/web.conf"
"$tool" check "$out/web.conf" > /dev/null 2>&1
check "a pin to a CPU the host lacks passes check" test $? = 0
"$tool" host-check -c $uri "$out/web.conf" > /dev/null 2> "$out/pin.err"
check "... host-check exits 2" test $? = 2
check "... naming web.conf:4 and the key" grep -qF "web.conf:4: vcpu.0.pin = 64" "$out/pin.err"
"$tool" apply -c $uri "$out/web.conf" test > /dev/null 2> "$out/pin.err"
check "... apply exits 2" test $? = 2
check "... naming web.conf:4 and the key" grep -qF "web.conf:4: vcpu.0.pin = 64" "$out/pin.err"
"$tool" apply -c $uri "$data/testdrv-sched.conf" test > "$out/fail" 2> "$out/fail.err"
check "a failing apply exits 2" test $? = 2
check "its error names the setting and says it rolled back" grep -q "cpu.shares.*rolled back" "$out/fail.err"
"$tool" verify -c $uri --json "$data/testdrv.conf" test > "$out/v.json" 2> "$out/v.err"
check "verify --json is JSON with a summary" grep -q '"summary":{"ok":' "$out/v.json"
# The JSON stays JSON whatever the bytes around it: a profile under a directory whose name is not
# UTF-8 (byte 0xff), on a domain whose name is UTF-8 but not ASCII (a Latin-1 node file gives
# libvirt "t\u00ffst"). Python decodes strictly and must find that name unescaped in a detail.
odd="$out/$(printf 'dir\377')"
mkdir "$odd" && cp "$data/testdrv.conf" "$odd/p.conf"
printf '<?xml version="1.0" encoding="ISO-8859-1"?>\n<node><domain type="test"><name>t\377st</name>%s</domain></node>\n' \
    '<memory>65536</memory><vcpu>2</vcpu><os><type>hvm</type></os>' > "$out/node.xml"
"$tool" verify -c "test://$out/node.xml" --json "$odd/p.conf" "$(printf 't\303\277st')" > "$out/odd.json" 2> "$out/odd.err"
check "verify --json on a non-UTF-8 profile path and a non-ASCII domain name exits 1 (drift)" test $? = 1
check "the domain name is written as UTF-8, not escaped" grep -q "$(printf 'domain t\303\277st: ')" "$out/odd.json"
py=${VMSEC_PYTHON:-python3}
if command -v "$py" >/dev/null 2>&1; then
    for j in v odd; do
        check "verify --json output ($j) parses as strict UTF-8 JSON in Python" "$py" -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert d["entries"] and d["summary"]["drift"] > 0, d["summary"]
assert sys.argv[2] != "odd" or any("domain t\u00ffst:" in e["detail"] for e in d["entries"])
' "$out/$j.json" "$j"
    done
else
    skip_or_fail "python3 not found to parse the JSON output"
fi
"$tool" verify -c $uri "$data/testdrv.conf" no-such-domain 2> "$out/nf"
rc=$?
check "verify of a missing domain exits 2" test $rc = 2
check "the error names the missing domain" grep -q "no domain named 'no-such-domain'" "$out/nf"
"$tool" frobnicate 2>/dev/null
check "an unknown command exits 2" test $? = 2
# Options before the command, as virsh takes them.
"$tool" -c $uri verify "$data/testdrv.conf" test > "$out/pre" 2> "$out/pre.err"
check "options may come before the command (-c URI verify ...)" test $? = 1
"$tool" verify -c $uri "$data/testdrv.conf" test > "$out/post" 2>/dev/null
check "... with the same report as after it" cmp -s "$out/pre" "$out/post"
"$tool" --live verify -c $uri "$data/testdrv.conf" test > /dev/null 2> "$out/live.err"
check "--live with verify is a usage error naming it" sh -c "[ $? = 2 ] && grep -q -- '--live: only apply takes it' '$out/live.err'"
check "drift on test:///default explains that its state is per process" grep -q "starts afresh in every process" "$out/pre.err"
# Tables fit 100 columns; --wide shows the full digest.
check "verify's table fits 100 columns" sh -c "! awk 'length(\$0) > 100' '$out/pre' | grep -q ."
check "... shortening the digest" grep -q 'sha256:[0-9a-f]*\.\.\.' "$out/pre"
"$tool" -c $uri --wide verify "$data/testdrv.conf" test > "$out/wide" 2>/dev/null
check "--wide shows the whole digest" grep -Eq 'sha256:[0-9a-f]{64}' "$out/wide"
# --json on every command: one object naming command, profile, digest, and where it applies.
for cmd in check host-check apply verify; do
    case $cmd in
    check) set -- ;;
    host-check) set -- -c $uri ;;
    *) set -- -c $uri ;;
    esac
    operand=; [ $cmd = apply ] || [ $cmd = verify ] && operand=test
    "$tool" "$@" --json $cmd "$data/testdrv.conf" $operand > "$out/$cmd.json" 2>/dev/null
    if command -v "$py" >/dev/null 2>&1; then
        check "$cmd --json prints one JSON object with command, profile and digest" "$py" -c '
import json, sys, re
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert d["command"] == sys.argv[2], d
assert d["profile"].endswith("testdrv.conf") and re.match("sha256:[0-9a-f]{64}$", d["digest"]), d
assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", d["time"]), d
if sys.argv[2] == "check":
    assert d["valid"] is True and "uri" not in d
else:
    assert d["uri"] == "test:///default" and d["entries"] and "summary" in d, d
if sys.argv[2] in ("apply", "verify"):
    assert d["domain"] == "test", d
if sys.argv[2] == "verify":
    assert d["drift"] is True, d
' "$out/$cmd.json" $cmd
    fi
done
"$tool" --json render "$data/render.conf" "$data/render-in.xml" > "$out/render.json"
if command -v "$py" >/dev/null 2>&1; then
    check "render --json carries the same XML as render" "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["command"] == "render" and d["xml"] == open(sys.argv[2]).read(), d.keys()
' "$out/render.json" "$data/render-out.xml"
fi
done_testing
