#!/bin/sh
# SPDX-License-Identifier: ISC
# The libvirt hook (qemu.d/vmsec) and vmsecd's replan request, against a vmsecd watching a test
# driver host (16 CPUs, two NUMA nodes) where the running domain 'holder' pins CPUs 0-1: a restored
# or migrating domain recorded on CPUs 0-1 is re-planned onto other CPUs; without vmsecd, without
# a profile, or with its pins still free, the XML passes through byte for byte, the reason logged;
# with on-failure = refuse, a failure exits 1. No libvirtd is needed.
. "$top_srcdir/tests/tap.sh"

vmsecd="$top_builddir/daemon/vmsecd"
hook="$top_builddir/daemon/vmsec-hook"
tool="$top_builddir/examples/vmsec-profile"
command -v python3 >/dev/null 2>&1 || { skip_or_fail "python3 is needed to read the XML"; done_testing; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-hook-XXXXXX")
vpid=
trap '[ -n "$vpid" ] && kill "$vpid" 2>/dev/null; [ -n "$KEEP" ] || rm -rf "$work"' EXIT
# The hook must not read the host's configuration in a test.
VMSEC_HOOK_CONFIG="$work/none.conf"; export VMSEC_HOOK_CONFIG
unset VMSEC_HOOK_CONTROL VMSEC_HOOK_ON_FAILURE

# profile NAME PINS...: a profile pinning vCPU i to the i-th CPU, the emulator on all of them.
profile() {
    f="$work/$1.conf"; name=$1; shift
    { echo "name = $name"; echo "vcpus = $#"; i=0
      for c in "$@"; do echo "vcpu.$i.pin = $c"; i=$((i + 1)); done
      echo "emulator.pin = $(echo "$@" | tr ' ' ,)"; } > "$f"
}
digest() { "$tool" --json check "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])'; }
# domain NAME TYPE PROFILE PINS...: a domain definition carrying the profile in its metadata.
domain() {
    name=$1 type=$2 prof=$3; shift 3
    echo "<domain type='$type'>"
    echo "  <name>$name</name>"
    echo "  <memory>65536</memory>"
    echo "  <vcpu>$#</vcpu>"
    echo "  <cputune>"; i=0
    for c in "$@"; do echo "    <vcpupin vcpu='$i' cpuset='$c'/>"; i=$((i + 1)); done
    echo "    <emulatorpin cpuset='$(echo "$@" | tr ' ' ,)'/>"; echo "  </cputune>"
    if [ -n "$prof" ]; then
        echo "  <metadata>"
        printf '    <vmsec:profile xmlns:vmsec="https://vmsec.org/xmlns/profile/1" name="%s" digest="%s">' \
            "$prof" "$(digest "$work/$prof.conf")"
        cat "$work/$prof.conf"; echo "</vmsec:profile>"
        echo "  </metadata>"
    fi
    echo "  <os><type>hvm</type></os>"
    echo "</domain>"
}
profile held 0 1
profile moving 0 1
profile free 4 5
{ echo "<node>"
  echo "  <cpu><mhz>2000</mhz><model>i686</model><active>16</active><nodes>2</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>"
  echo "  <memory>8388608</memory>"
  domain holder test held 0 1
  echo "</node>"; } > "$work/host.xml"
domain moved kvm moving 0 1 > "$work/moved.xml"
domain stays kvm free 4 5 > "$work/stays.xml"
domain plain kvm "" 0 1 > "$work/plain.xml"

# run_hook NAME OP [ENV...]: the hook as libvirt runs it; out, err and rc under $work/NAME.
run_hook() {
    n=$1 op=$2 in=$3; shift 3
    env "$@" "$hook" "$(sed -n 's:.*<name>\(.*\)</name>.*:\1:p' "$in")" "$op" begin - \
        <"$in" >"$work/$n.out" 2>"$work/$n.err"
    echo $? >"$work/$n.rc"
}
rc() { cat "$work/$1.rc"; }
# pins FILE: the CPUs of <vcpupin> and <emulatorpin>, and the vCPU pins in the metadata record.
pins() {
    python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
d = ET.parse(sys.argv[1]).getroot()
tune = [p.get("cpuset") for p in d.find("cputune")]
rec = d.find("metadata/{https://vmsec.org/xmlns/profile/1}profile").text
meta = [l.split("=")[1].strip() for l in rec.splitlines() if l.startswith("vcpu.")]
print(" ".join(tune), "|", " ".join(meta))
PY
}

# ---- without vmsecd ---------------------------------------------------------------------------------
ctl="$work/ctl.sock"
run_hook unreach restore "$work/moved.xml" VMSEC_HOOK_CONTROL="$ctl"
check "vmsecd unreachable: the hook exits 0" test "$(rc unreach)" = 0
check "vmsecd unreachable: the XML passes through byte for byte" cmp -s "$work/moved.xml" "$work/unreach.out"
check "vmsecd unreachable: the reason is logged" grep -q "^vmsec hook: moved restore: vmsecd is unreachable at $ctl" "$work/unreach.err"
run_hook refuse restore "$work/moved.xml" VMSEC_HOOK_CONTROL="$ctl" VMSEC_HOOK_ON_FAILURE=refuse
check "on-failure=refuse (environment): exits 1 with no output" sh -c "[ $(rc refuse) = 1 ] && [ ! -s '$work/refuse.out' ]"
check "on-failure=refuse: says it refuses" grep -q "refusing the restore (on-failure = refuse)" "$work/refuse.err"
printf '# the hook configuration\ncontrol = %s\non-failure = refuse\ntimeout = 5\n' "$ctl" > "$work/hook.conf"
run_hook refuse2 migrate "$work/moved.xml" VMSEC_HOOK_CONFIG="$work/hook.conf"
check "on-failure = refuse (configuration file): a migration is refused" \
    sh -c "[ $(rc refuse2) = 1 ] && [ ! -s '$work/refuse2.out' ] && grep -q 'unreachable at $ctl' '$work/refuse2.err'"
printf 'on-failure = maybe\n' > "$work/bad.conf"
run_hook badconf restore "$work/moved.xml" VMSEC_HOOK_CONFIG="$work/bad.conf"
check "a configuration line it does not understand refuses, naming the line" \
    sh -c "[ $(rc badconf) = 1 ] && grep -q 'bad.conf:1: cannot understand' '$work/badconf.err'"
run_hook plain0 restore "$work/plain.xml" VMSEC_HOOK_CONTROL="$ctl" VMSEC_HOOK_ON_FAILURE=refuse
check "a domain without a vmsec profile passes through, even with refuse" \
    sh -c "[ $(rc plain0) = 0 ] && cmp -s '$work/plain.xml' '$work/plain0.out' && grep -q 'the domain has no vmsec profile' '$work/plain0.err'"
for op in prepare start started stopped release reconnect attach; do
    run_hook "op-$op" "$op" "$work/moved.xml" VMSEC_HOOK_CONTROL="$ctl" VMSEC_HOOK_ON_FAILURE=refuse
    check "operation $op: exits 0, prints nothing, logs nothing" \
        sh -c "[ $(rc "op-$op") = 0 ] && [ ! -s '$work/op-$op.out' ] && [ ! -s '$work/op-$op.err' ]"
done
"$hook" >/dev/null 2>&1
check "without arguments: usage error (exit 2)" test $? = 2

# ---- with vmsecd ------------------------------------------------------------------------------------
"$vmsecd" -c "test://$work/host.xml" --control "$ctl" --audit "$work/audit" --interval 3600 2>"$work/vmsecd.err" &
vpid=$!
i=0; while [ $i -lt 100 ] && ! grep -q '"event":"resync"' "$work/audit" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
check "vmsecd enforces the holder" grep -q '"event":"resync".*"domains":"1"' "$work/audit"
run_hook moved restore "$work/moved.xml" VMSEC_HOOK_CONTROL="$ctl"
check "restore: the hook exits 0" test "$(rc moved)" = 0
moved_pins=$(pins "$work/moved.out")
check "restore: the XML pins CPUs 2-3, not the holder's 0-1, and so does the record" \
    test "$moved_pins" = "2 3 2-3 | 2 3"
python3 -c 'import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot().find("metadata/{https://vmsec.org/xmlns/profile/1}profile")
open(sys.argv[2], "w").write(r.text); print(r.get("digest"))' "$work/moved.out" "$work/new.conf" > "$work/new.digest"
check "restore: the record's digest matches its new text" test "$(cat "$work/new.digest")" = "$(digest "$work/new.conf")"
check "restore: the rest of the definition is kept" sh -c "grep -q '<name>moved</name>' '$work/moved.out' && grep -q '<type>hvm</type>' '$work/moved.out'"
check "restore: the hook logs the new pins" grep -q "moved restore: vmsecd re-planned the domain's CPUs" "$work/moved.err"
check "vmsecd audits the replan" grep -q '"event":"replan".*"domain":"moved","result":"changed"' "$work/audit"
run_hook migrated migrate "$work/moved.xml" VMSEC_HOOK_CONTROL="$ctl"
check "migrate: re-planned the same way" test "$(rc migrated) $(pins "$work/migrated.out")" = "0 2 3 2-3 | 2 3"
run_hook stays restore "$work/stays.xml" VMSEC_HOOK_CONTROL="$ctl" VMSEC_HOOK_ON_FAILURE=refuse
check "pins still free: byte for byte, the reason logged" \
    sh -c "[ $(rc stays) = 0 ] && cmp -s '$work/stays.xml' '$work/stays.out' && grep -q 'recorded pins are free' '$work/stays.err'"
run_hook plain restore "$work/plain.xml" VMSEC_HOOK_CONTROL="$ctl"
check "no vmsec profile: byte for byte" cmp -s "$work/plain.xml" "$work/plain.out"
profile big 0 1 2 3 4 5 6 7 8
domain big kvm big 0 1 2 3 4 5 6 7 8 > "$work/big.xml"
run_hook big restore "$work/big.xml" VMSEC_HOOK_CONTROL="$ctl"
check "no room: passes through, vmsecd's reason logged" \
    sh -c "[ $(rc big) = 0 ] && cmp -s '$work/big.xml' '$work/big.out' && grep -q 'vmsecd cannot re-plan the domain: cannot place' '$work/big.err'"
run_hook big2 restore "$work/big.xml" VMSEC_HOOK_CONTROL="$ctl" VMSEC_HOOK_ON_FAILURE=refuse
check "no room, on-failure=refuse: exits 1" sh -c "[ $(rc big2) = 1 ] && [ ! -s '$work/big2.out' ]"

# The control socket's other clients still work.
"$vmsecd" --status --json --control "$ctl" > "$work/status.json" 2>&1
check "--status still reads the state" grep -q '"name":"holder"' "$work/status.json"
python3 - "$ctl" > "$work/old.json" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
print(s.makefile().read())
PY
check "a client that sends nothing gets the state (the socket's first protocol)" grep -q '"name":"holder"' "$work/old.json"
printf '{"op":"dance"}\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); s.shutdown(socket.SHUT_WR)
print(s.makefile().read())' "$ctl" > "$work/unknown.json"
check "an unknown op is answered with an error" grep -q '"ok":false,"error":"unknown op"' "$work/unknown.json"
kill "$vpid"; wait "$vpid" 2>/dev/null; vpid=
done_testing
