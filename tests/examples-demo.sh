#!/bin/sh
# SPDX-License-Identifier: ISC
# examples/vmsec-demo: the README's demo runs end to end (test driver + channel) in both output
# modes, its built-in profile equals the shipped examples/profiles/demo.conf, and failures stop
# early with a reason.
. "$top_srcdir/tests/tap.sh"
demo="$top_builddir/examples/vmsec-demo"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$demo" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "text mode exits 0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/err"
check "text mode writes nothing on stderr" [ ! -s "$tmp/err" ]
check "host check passed" grep -Eq '^2\. Host check +PASSED$' "$tmp/out"
check "profile applied" grep -Eq '^3\. Apply +APPLIED$' "$tmp/out"
check "verify found no drift" grep -Eq '^4\. Verify +NO DRIFT \([1-9][0-9]* ok, 0 drift, [1-9][0-9]* cannot be checked here\)$' "$tmp/out"
check "verify shows libvirt's pin" grep -Eq '^   vcpu\.0\.pin +ok +2 +2 +libvirt' "$tmp/out"
check "kernel-level checks are honestly unchecked" grep -Eq '^   vcpu\.0\.pin +unchecked .*kernel +cannot be checked here' "$tmp/out"
check "explains what the test driver cannot enforce" grep -q "runs no QEMU process" "$tmp/out"
check "channel authenticated" grep -Eq '^5\. Secure channel +AUTHENTICATED$' "$tmp/out"
check "names the transport (vsock, or unix with the reason)" \
    grep -Eq '^   transport +(vsock loopback|unix socket in a private temporary directory \(vsock unavailable: .+\))$' "$tmp/out"
check "shows the suite" grep -Eq '^   protocol +Noise_XX_25519_ChaChaPoly_BLAKE2b$' "$tmp/out"
ifp=$(sed -n 's/^   initiator  *\([0-9a-f-]*\)  *\([0-9a-f-]*\)  *ok$/\1 \2/p' "$tmp/out")
rfp=$(sed -n 's/^   responder  *\([0-9a-f-]*\)  *\([0-9a-f-]*\)  *ok$/\1 \2/p' "$tmp/out")
check "each peer proved the other's key" sh -c "[ -n '$ifp' ] && [ '${ifp% *}' = '${rfp#* }' ] && [ '${rfp% *}' = '${ifp#* }' ] && [ '${ifp% *}' != '${rfp% *}' ]"
check "round trip measured" grep -Eq '^   round trip +min [0-9.]+ us +median [0-9.]+ us +max [0-9.]+ us$' "$tmp/out"
check "ends with RESULT: OK" sh -c "tail -n1 '$tmp/out' | grep -q '^RESULT: OK'"

"$top_builddir/examples/vmsec-demo" --json >"$tmp/json" 2>"$tmp/jerr"; rc=$?
check "--json exits 0" [ $rc -eq 0 ]
py=${VMSEC_PYTHON:-python3}
if command -v "$py" >/dev/null 2>&1; then
    cat > "$tmp/check.py" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c, v = d["channel"], d["verify"]
assert d["result"] == "ok", d["result"]
assert d["profile"]["digest"].startswith("sha256:") and d["profile"]["source"] == "built-in"
assert d["domain"] == {"uri": "test:///default", "name": "test", "kernel_checks": False}
assert d["host_check"]["summary"]["problem"] == 0
assert d["apply"]["summary"]["failed"] == 0 and d["apply"]["summary"]["applied"] > 0
assert v["summary"]["drift"] == 0 and v["summary"]["ok"] > 0 and v["summary"]["unchecked"] > 0
assert all(e["status"] == "unchecked" and "cannot be checked here" in e["detail"]
           for e in v["entries"] if e["source"].startswith("kernel"))
assert c["transport"] in ("vsock", "unix") and (c["transport"] == "vsock") == (c["vsock_unavailable"] is None)
assert c["mutually_authenticated"] is True and c["handshake_hash_equal"] is True
assert c["initiator"]["peer_fingerprint"] == c["responder"]["fingerprint"]
assert c["responder"]["peer_fingerprint"] == c["initiator"]["fingerprint"]
assert c["echoed"] == c["messages"] > 0
rt = c["round_trip_us"]
assert 0 < rt["min"] <= rt["median"] <= rt["max"]
print(d["profile"]["digest"])
PY
    digest=$("$py" "$tmp/check.py" "$tmp/json" 2>"$tmp/pyerr")
    check "--json is one valid document with the expected fields" [ -n "$digest" ]
    sed 's/^/# /' "$tmp/pyerr"
    "$demo" --json "$top_srcdir/examples/profiles/demo.conf" >"$tmp/json2" 2>/dev/null
    digest2=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["profile"]["digest"])' "$tmp/json2")
    check "the shipped demo.conf equals the built-in profile" eval '[ -n "$digest" ] && [ "$digest2" = "$digest" ]'
else
    skip_or_fail "python3 not found to check the JSON output"
fi

printf 'name = cpus-missing\nvcpu.0.pin = 1\n' > "$tmp/bad.conf"
"$demo" "$tmp/bad.conf" >"$tmp/bout" 2>"$tmp/berr"; rc=$?
check "a profile the host cannot enforce exits 1" [ $rc -eq 1 ]
check "... shows the failed host check" grep -Eq '^2\. Host check +FAILED$' "$tmp/bout"
check "... and applies nothing" sh -c "! grep -q 'Apply' '$tmp/bout'"
check "... with the reason on stderr" grep -q "host.cpus" "$tmp/berr"
"$demo" -d no-such-domain >/dev/null 2>"$tmp/nerr"; rc=$?
check "an unknown domain exits 1 naming it" sh -c "[ $rc -eq 1 ] && grep -q no-such-domain '$tmp/nerr'"
"$demo" --bogus >/dev/null 2>&1; rc=$?
check "a usage error exits 2" [ $rc -eq 2 ]
done_testing
