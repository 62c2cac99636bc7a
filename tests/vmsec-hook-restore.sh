#!/bin/sh
# SPDX-License-Identifier: ISC
# The libvirt hook on a real restore: a QEMU domain pinned to CPU 1 is saved; meanwhile another
# domain takes CPU 1; on restore libvirtd runs the hook (qemu.d/vmsec), vmsecd re-plans the saved
# domain onto CPU 0, and once it runs vmsecd applies and verifies the new profile: ok. The hook is
# installed in libvirtd's hook folder for the test only (libvirtd looks for hooks when it starts,
# so the harness's libvirtd is restarted around it), as a wrapper pointing at this build.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/libvirt-env.sh"

vmsecd="$top_builddir/daemon/vmsecd"
tool="$top_builddir/examples/vmsec-profile"
uri=qemu:///system
hookdir=/etc/libvirt/hooks/qemu.d
hook="$hookdir/vmsec-test-$$"
lv_require
command -v python3 >/dev/null 2>&1 || { skip_or_fail "python3 is needed"; done_testing; }
mkdir -p "$lv_state"
exec 9>"$lv_state/lock"
if ! flock -w 900 9; then
    skip_or_fail "another libvirt integration run held the lock for 15 minutes"
    done_testing
fi
if ! lv_start; then
    skip_or_fail "cannot start libvirtd"
    done_testing
fi
if ! lv_owned; then
    skip_or_fail "the running libvirtd is not the harness's: it cannot be restarted to see the hook"
    done_testing
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-hook-restore-XXXXXX")
chmod 755 "$work"
a=vmsec-hook-a b=vmsec-hook-b
vpid= restarted= made=
cleanup() {
    [ -n "$vpid" ] && kill "$vpid" 2>/dev/null
    virsh -q -c $uri destroy $a >/dev/null 2>&1
    virsh -q -c $uri destroy $b >/dev/null 2>&1
    rm -f "$hook"
    [ -n "$made" ] && rmdir $made 2>/dev/null
    # libvirtd still believes it has qemu hooks: a restart makes it look again
    [ -n "$restarted" ] && lv_restart >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
virsh -q -c $uri destroy $a >/dev/null 2>&1
virsh -q -c $uri destroy $b >/dev/null 2>&1

printf 'name = hook-restore\nvcpus = 1\nvcpu.0.pin = 1\nemulator.pin = 1\n' > "$work/p.conf"
digest=$("$tool" --json check "$work/p.conf" | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
# A transient one-vCPU domain pinned to CPU 1, the profile recorded in its metadata.
domain_xml() {
    cat <<XML
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='1'/><emulatorpin cpuset='1'/></cputune>
  <metadata><vmsec:profile xmlns:vmsec="https://vmsec.org/xmlns/profile/1" name="hook-restore" digest="$digest">$(cat "$work/p.conf")</vmsec:profile></metadata>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
XML
}
domain_xml $a > "$work/a.xml"
domain_xml $b > "$work/b.xml"
wait_for() {
    limit=$(($1 * 5)); shift; i=0
    while ! "$@" 2>/dev/null; do
        i=$((i + 1)); [ $i -ge $limit ] && return 1; sleep 0.2
    done
}
audit_has() { grep "\"event\":\"$2\"" "$1" | grep "\"domain\":\"$3\"" | grep -q -- "$4"; }
vcpu0() { virsh -q -c $uri vcpupin "$1" 2>/dev/null | awk '$1 == "0" { print $2 }'; }

# The hook, as libvirtd will run it (with a cleared environment): a wrapper naming this build's
# hook and a configuration pointing at this test's vmsecd, reached through a symbolic link in the
# hook folder as `make install` and the package install it.
printf 'control = %s/ctl.sock\non-failure = refuse\n' "$work" > "$work/hook.conf"
made=
[ -d /etc/libvirt/hooks ] || made=/etc/libvirt/hooks
[ -d "$hookdir" ] || made="$hookdir $made"
mkdir -p "$hookdir"
printf '#!/bin/sh\nVMSEC_HOOK_CONFIG=%s/hook.conf exec %s/daemon/vmsec-hook "$@" 2>>%s/hook.log\n' \
    "$work" "$(cd "$top_builddir" && pwd)" "$work" > "$work/hook.sh"
chmod 755 "$work/hook.sh"
ln -s "$work/hook.sh" "$hook"
check "libvirtd restarted to find the hook" lv_restart
restarted=1

"$vmsecd" -c $uri --match 'vmsec-hook-*' --control "$work/ctl.sock" --audit "$work/audit" --interval 3600 \
    2>"$work/vmsecd.err" &
vpid=$!
wait_for 20 grep -q '"event":"resync"' "$work/audit"
virsh -q -c $uri create "$work/a.xml" >/dev/null 2>&1
wait_for 30 audit_has "$work/audit" verified $a '"result":"ok"'
check "domain a: vmsecd verified its profile (ok), vCPU 0 on CPU 1" \
    sh -c "grep '\"event\":\"verified\"' '$work/audit' | grep '\"domain\":\"$a\"' | grep -q '\"result\":\"ok\"' && [ \"\$(virsh -q -c $uri vcpupin $a | awk '\$1 == \"0\" { print \$2 }')\" = 1 ]"
check "virsh save" sh -c "virsh -q -c $uri save $a '$work/a.save' >'$work/save.out' 2>&1"
virsh -q -c $uri create "$work/b.xml" >/dev/null 2>&1
wait_for 30 audit_has "$work/audit" verified $b '"result":"ok"'
check "meanwhile domain b takes CPU 1 (verified ok)" audit_has "$work/audit" verified $b '"result":"ok"'
check "virsh restore (the hook runs)" sh -c "virsh -q -c $uri restore '$work/a.save' >'$work/restore.out' 2>&1"
check "the hook logged the re-plan" grep -q "$a restore: vmsecd re-planned the domain's CPUs" "$work/hook.log"
check "vmsecd audited the replan" audit_has "$work/audit" replan $a '"result":"changed"'
check "the restored domain's vCPU 0 is on CPU 0, not b's CPU 1" test "$(vcpu0 $a)" = 0
wait_for 30 audit_has "$work/audit" verified $a '"reason":"restored".*"result":"ok"\|"result":"ok".*"reason":"restored"'
check "vmsecd applied and verified the re-planned profile on restore: ok" \
    sh -c "grep '\"event\":\"verified\"' '$work/audit' | grep '\"domain\":\"$a\"' | grep '\"reason\":\"restored\"' | grep -q '\"result\":\"ok\"'"
check "its live part applied without an error (NUMA strict, already as planned)" sh -c "
    grep '\"event\":\"applied\"' '$work/audit' | grep '\"domain\":\"$a\"' | grep -q '\"reason\":\"restored\"' &&
    ! grep '\"event\":\"error\"' '$work/audit' | grep -q '\"domain\":\"$a\"'"
"$vmsecd" --status --json --control "$work/ctl.sock" > "$work/status.json" 2>&1
check "the state shows both domains ok" python3 -c "
import json, sys
doms = {e['name']: e for u in json.load(open(sys.argv[1]))['uris'] for e in u['domains']}
assert doms['$a']['status'] == 'ok' and doms['$b']['status'] == 'ok', doms
" "$work/status.json"
[ "$tap_failed" != 0 ] && { diag "hook log:"; sed 's/^/# /' "$work/hook.log"; diag "audit:"; sed 's/^/# /' "$work/audit"; }
done_testing
