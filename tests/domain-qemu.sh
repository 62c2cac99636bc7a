#!/bin/sh
# SPDX-License-Identifier: ISC
# Integration: a real libvirtd with a QEMU (TCG) domain. Apply a profile live, verify it in
# cgroups and thread affinity, detect drift made behind libvirt's back, roll back a failed apply,
# apply over the remote driver, survive libvirtd dying mid-apply, and check memory locking.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/libvirt-env.sh"

tool="$top_builddir/examples/vmsec-profile"
data="$top_srcdir/tests/data/domain"
uri=qemu:///system
lv_require
# One run at a time on this host (the test restarts libvirtd); never wait forever.
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

dom=vmsec-it-$$
work=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-qemu-XXXXXX")
cleanup() {
    [ -n "${qemu_pid:-}" ] && kill -CONT "$qemu_pid" 2>/dev/null
    lv_alive || lv_start >/dev/null 2>&1
    virsh -q -c $uri destroy "$dom" >/dev/null 2>&1
    virsh -q -c $uri undefine "$dom" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

cat > "$work/dom.xml" <<XML
<domain type='qemu'>
  <name>$dom</name>
  <memory unit='MiB'>96</memory>
  <vcpu>2</vcpu>
  <iothreads>1</iothreads>
  <numatune><memory mode='restrictive' nodeset='0'/></numatune>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
XML
if ! virsh -q -c $uri define "$work/dom.xml" >/dev/null || ! virsh -q -c $uri start "$dom" >/dev/null; then
    skip_or_fail "cannot define and start a QEMU domain"
    done_testing
fi
qemu_pid=$(cat /run/libvirt/qemu/$dom.pid)
diag "domain $dom runs as QEMU pid $qemu_pid"
# The CPU set each thread may run on, by thread name.
affinity() { for t in /proc/$qemu_pid/task/*; do [ "$(cat $t/comm)" = "$1" ] && sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' $t/status; done; }
tid_of() { for t in /proc/$qemu_pid/task/*; do [ "$(cat $t/comm)" = "$1" ] && basename $t; done; }
# The domain's cpu cgroup (v1 "cpu" hierarchy, else the v2 unified one), without "/emulator".
cg_path=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/$qemu_pid/cgroup)
if [ -n "$cg_path" ]; then
    cg_dir=$(awk '$9 == "cgroup" && $NF ~ /(^|,)cpu(,|$)/ {print $5}' /proc/self/mountinfo | head -1)${cg_path%/emulator}
    set_emulator_quota() { echo "$1" > "$cg_dir/emulator/cpu.cfs_quota_us"; }
else
    cg_path=$(awk -F: '$1 == 0 {print $3}' /proc/$qemu_pid/cgroup)
    cg_dir=$(awk '$9 == "cgroup2" {print $5}' /proc/self/mountinfo | head -1)${cg_path%/emulator}
    set_emulator_quota() { echo "$1 100000" > "$cg_dir/emulator/cpu.max"; }
fi
shares() { cat "$cg_dir/cpu.shares" 2>/dev/null || cat "$cg_dir/cpu.weight"; }

# TCG vCPU threads carry QEMU's "CPU N/TCG" names (the verifier also knows "CPU N/KVM").
check "vCPU threads are named 'CPU N/TCG' under TCG" test -n "$(tid_of 'CPU 0/TCG')" -a -n "$(tid_of 'CPU 1/TCG')"

# ---- apply live, verify in libvirt, cgroups and affinity --------------------------------------------
"$tool" apply -c $uri --live "$data/qemu-live.conf" "$dom" > "$work/apply.out" 2>&1
check "apply --live succeeds" test $? = 0
check "vCPU 0 thread now runs on CPUs 0-1" test "$(affinity 'CPU 0/TCG')" = 0-1
check "vCPU 1 thread now runs only on CPU 0" test "$(affinity 'CPU 1/TCG')" = 0
check "cpu.shares is 512 in the domain cgroup" test "$(shares)" = 512
"$tool" verify -c $uri --wide "$data/qemu-live.conf" "$dom" > "$work/verify.out" 2>&1
rc=$?
check "verify exits 0 right after apply" test $rc = 0
check "verify read thread affinity from /proc" grep -q "vcpu.0.pin .* ok .* kernel /proc/$qemu_pid/task/" "$work/verify.out"
check "verify read the cgroup quota of each vCPU" grep -q "cpu.vcpu_quota .* ok .*vcpu1/cpu" "$work/verify.out"
check "verify read the NUMA nodeset from cpuset.mems" grep -q "numa.nodeset .* ok .*emulator/cpuset.mems" "$work/verify.out"
check "verify read the live memory limit from the memory cgroup" grep -q "memory.hard_limit .* ok .*memory" "$work/verify.out"
check "metadata records the profile" sh -c "virsh -c $uri metadata '$dom' https://vmsec.org/xmlns/profile/1 | grep -q 'name=\"qemu-live\"'"
"$tool" verify -c $uri --json "$data/qemu-live.conf" "$dom" > "$work/verify.json" 2>/dev/null
check "verify --json reports no drift" grep -q '"drift":0' "$work/verify.json"

# ---- drift behind libvirt's back ----------------------------------------------------------------------
taskset -p -c 0 "$(tid_of 'CPU 0/TCG')" >/dev/null
"$tool" verify -c $uri --wide "$data/qemu-live.conf" "$dom" > "$work/drift.out" 2> "$work/drift.err"
rc=$?
check "verify exits 1 after taskset moved vCPU 0" test $rc = 1
check "the drifted setting is named with its kernel source" grep -q "vcpu.0.pin .* drift .* 0-1 .* 0 .*kernel /proc/$qemu_pid/task" "$work/drift.out"
check "stderr names the drift" grep -q "vcpu.0.pin" "$work/drift.err"
"$tool" apply -c $uri --live "$data/qemu-live.conf" "$dom" >/dev/null 2>&1
set_emulator_quota 100000
"$tool" verify -c $uri --wide "$data/qemu-live.conf" "$dom" > "$work/drift2.out" 2>&1
rc=$?
check "verify exits 1 after a cgroup file was rewritten" test $rc = 1
check "the drifted emulator quota is named with its cgroup file" grep -q "cpu.emulator_quota .* drift .* 80000 .* 100000 .*emulator/cpu\.\(cfs_quota_us\|max\)" "$work/drift2.out"
"$tool" apply -c $uri --live "$data/qemu-live.conf" "$dom" >/dev/null 2>&1
"$tool" verify -c $uri "$data/qemu-live.conf" "$dom" >/dev/null 2>&1
check "re-applying repairs the drift" test $? = 0

# ---- a later step fails: earlier ones are rolled back ---------------------------------------------------
"$tool" apply -c $uri --live --wide "$data/qemu-fail.conf" "$dom" > "$work/fail.out" 2> "$work/fail.err"
rc=$?
check "apply of a profile whose last step libvirt refuses exits 2" test $rc = 2
check "the error names the failed setting and libvirt's reason" grep -q "blkio.device(/dev/null).read_bytes_sec failed: .*block device.*rolled back" "$work/fail.err"
check "the pins it had changed are restored" test "$(affinity 'CPU 0/TCG')" = 0-1 -a "$(affinity 'CPU 1/TCG')" = 0
check "cpu.shares is restored" test "$(shares)" = 512
check "the report lists restored settings" grep -q "vcpu.0.pin .* restored" "$work/fail.out"
"$tool" verify -c $uri "$data/qemu-live.conf" "$dom" >/dev/null 2>&1
check "the domain still verifies against the previous profile" test $? = 0

# ---- remote driver over TCP -------------------------------------------------------------------------------
if virsh -q -c $lv_tcp_uri version >/dev/null 2>&1; then
    "$tool" apply -c $lv_tcp_uri --live "$data/qemu-remote.conf" "$dom" > "$work/remote.out" 2>&1
    check "apply over $lv_tcp_uri succeeds" test $? = 0
    check "the remote apply moved vCPU 0 to CPU 0" test "$(affinity 'CPU 0/TCG')" = 0
    "$tool" verify -c $lv_tcp_uri --wide "$data/qemu-remote.conf" "$dom" > "$work/remote-verify.out" 2>&1
    check "verify over TCP exits 0" test $? = 0
    check "a loopback URI still gets kernel checks" grep -q "kernel /proc/$qemu_pid/task" "$work/remote-verify.out"
else
    skip_or_fail "libvirtd does not listen on TCP 127.0.0.1 (not started by these tests)"
fi

# ---- libvirtd dies mid-apply ---------------------------------------------------------------------------------
# QEMU is stopped so the apply blocks in its first monitor call (I/O thread info), after the vCPU
# pins went in; then libvirtd is killed under it.
if lv_owned; then
    virsh -q -c $uri vcpupin "$dom" 0 0 --live >/dev/null
    kill -STOP "$qemu_pid"
    "$tool" apply -c $uri --live "$data/qemu-live.conf" "$dom" > "$work/kill.out" 2> "$work/kill.err" &
    apply_pid=$!
    i=0
    while [ "$(affinity 'CPU 0/TCG')" != 0-1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 1
    check "the apply is under way (vCPU 0 already moved back to CPUs 0-1)" test "$(affinity 'CPU 0/TCG')" = 0-1
    kill -9 "$(lv_pid)"
    wait $apply_pid
    rc=$?
    kill -CONT "$qemu_pid"
    check "apply exits 2 (error), not a crash" test $rc = 2
    check "the error says the libvirt connection was lost" grep -q "connection to libvirt was lost" "$work/kill.err"
    check "the error lists what could not be restored" grep -q "not restored: .*vcpu" "$work/kill.err"
    lv_restart
    check "libvirtd restarts and still sees the domain" sh -c "virsh -c $uri domstate '$dom' | grep -q running"
    "$tool" apply -c $uri --live "$data/qemu-live.conf" "$dom" >/dev/null 2>&1
    check "apply works again after the restart" test $? = 0
else
    skip_or_fail "the running libvirtd was not started by these tests: not killing it"
fi

# ---- memory locking: the host check decides ------------------------------------------------------------------
"$tool" host-check -c $uri "$data/qemu-locked.conf" > "$work/lock.out" 2> "$work/lock.err"
rc=$?
virsh -c $uri dumpxml --inactive "$dom" > "$work/before.xml"
"$tool" apply -c $uri "$data/qemu-locked.conf" "$dom" > "$work/lock-apply.out" 2> "$work/lock-apply.err"
arc=$?
virsh -c $uri dumpxml --inactive "$dom" > "$work/after.xml"
if [ $rc = 0 ]; then
    diag "this host permits memory locking: checking it is enforced after a restart"
    check "apply of memory.locked succeeds where the host check passes" test $arc = 0
    virsh -q -c $uri destroy "$dom" >/dev/null 2>&1
    virsh -q -c $uri start "$dom" >/dev/null 2>&1
    qemu_pid=$(cat /run/libvirt/qemu/$dom.pid)
    "$tool" verify -c $uri --wide "$data/qemu-locked.conf" "$dom" > "$work/lock-verify.out" 2>&1
    check "locked memory is enforced (VmLck)" grep -q "memory.locked .* ok .*VmLck" "$work/lock-verify.out"
else
    diag "this host does not permit memory locking: checking the refusal"
    check "host-check exits 2" test $rc = 2
    check "host-check says memory locking is not permitted and why" grep -q "memory locking is not permitted.*CAP_SYS_RESOURCE" "$work/lock.err"
    check "apply refuses with the same host error" grep -q "host cannot enforce profile qemu-locked" "$work/lock-apply.err"
    check "apply exits 2" test $arc = 2
    check "the configuration is unchanged" cmp -s "$work/before.xml" "$work/after.xml"
fi
done_testing
