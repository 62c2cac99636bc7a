#!/bin/sh
# SPDX-License-Identifier: ISC
# Integration: a real libvirtd with a QEMU (TCG) domain. Apply a profile live, verify it in
# cgroups and thread affinity, detect drift made behind libvirt's back, a block I/O weight the host
# cannot enforce, roll back a failed apply, apply over the remote driver, survive libvirtd dying
# mid-apply, and check memory locking.
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

# ---- rollback on the pristine domain: nothing may be left behind ------------------------------------------
# What the kernel enforces for the domain: the tuning files of every cgroup v1 controller's
# domain directory and below (vcpuN, emulator, iothreadN), and each QEMU thread's CPU set.
kstate() {
    awk -F: '$2 != "" {print $2, $3}' /proc/$qemu_pid/cgroup | while read -r ctl path; do
        mnt=$(awk -v c="${ctl%%,*}" '$9 == "cgroup" { n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) print $5 }' /proc/self/mountinfo | head -1)
        [ -n "$mnt" ] || continue
        find "$mnt${path%/emulator}" \( -name 'cpu.shares' -o -name 'cpu.cfs_*_us' -o -name 'cpuset.cpus' -o \
            -name 'cpuset.mems' -o -name 'memory.*limit_in_bytes' -o -name 'blkio.throttle.*_device' -o \
            -name 'blkio.*weight*' \) 2>/dev/null | sort | while read -r f; do echo "$f: $(tr '\n' ' ' < "$f")"; done
    done
    for t in /proc/$qemu_pid/task/*; do
        echo "$(cat $t/comm): $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' $t/status)"
    done | grep -v '^worker' | sort
}
dumpall() {
    virsh -c $uri dumpxml "$dom" > "$work/$1-live.xml"
    virsh -c $uri dumpxml --inactive "$dom" > "$work/$1-config.xml"
    kstate > "$work/$1-kernel.txt"
}
dumpall pristine
"$tool" apply -c $uri --live --config --wide "$data/qemu-rollback.conf" "$dom" > "$work/rb.out" 2> "$work/rb.err"
rc=$?
dumpall rolledback
check "a live+config apply refused at its block I/O step exits 2" test $rc = 2
check "the error says every change was rolled back" grep -q "blkio.device(/dev/null).read_bytes_sec failed: .*every change was rolled back" "$work/rb.err"
check "the live XML is byte-identical after the rollback" cmp -s "$work/pristine-live.xml" "$work/rolledback-live.xml"
check "the persistent XML is byte-identical after the rollback" cmp -s "$work/pristine-config.xml" "$work/rolledback-config.xml"
check "cgroup files and thread affinity are unchanged" cmp -s "$work/pristine-kernel.txt" "$work/rolledback-kernel.txt"
check "the kernel state compared covers the memory and vCPU cgroups" \
    sh -c "grep -q 'memory.soft_limit_in_bytes' '$work/pristine-kernel.txt' && grep -q 'vcpu1/cpu.cfs_quota_us' '$work/pristine-kernel.txt'"
check "the memory limits it had set are reported restored" grep -q "memory.soft_limit .* restored" "$work/rb.out"
check "the pins libvirt would keep in the live XML were never made" sh -c "! grep -q 'vcpu.0.pin' '$work/rb.out'"
for f in live.xml config.xml kernel.txt; do
    diff "$work/pristine-$f" "$work/rolledback-$f" | sed 's/^/# /'
done

# The kernel refuses a hard limit below the memory QEMU already uses (EBUSY).
"$tool" apply -c $uri --live --wide "$data/qemu-membusy.conf" "$dom" > "$work/busy.out" 2> "$work/busy.err"
rc=$?
dumpall busy
check "an apply whose hard limit the kernel refuses exits 2" test $rc = 2
check "the error names memory.hard_limit and the kernel's reason" grep -q "memory.hard_limit.*\(busy\|Device or resource\)" "$work/busy.err"
check "the memory cgroup (soft and hard limit) is unchanged" cmp -s "$work/pristine-kernel.txt" "$work/busy-kernel.txt"
check "the live XML is byte-identical (no soft_limit left in <memtune>)" cmp -s "$work/pristine-live.xml" "$work/busy-live.xml"
check "the report does not claim the soft limit was applied" sh -c "! grep -q 'memory.soft_limit .* applied' '$work/busy.out'"
check "the error is truthful: nothing changed or everything rolled back" grep -q "nothing was changed\|every change was rolled back" "$work/busy.err"

# A quota contradiction the kernel would only find after values libvirt cannot take back.
"$tool" apply -c $uri --live "$data/qemu-quota.conf" "$dom" > "$work/quota.out" 2> "$work/quota.err"
rc=$?
dumpall quota
check "a vCPU quota above the global one is refused before any change" \
    sh -c "test $rc = 2 && grep -q 'nothing was changed: cpu.vcpu_quota 50000 .* exceeds cpu.global_quota 10000' '$work/quota.err'"
check "the live XML and the kernel state are as before" \
    sh -c "cmp -s '$work/pristine-live.xml' '$work/quota-live.xml' && cmp -s '$work/pristine-kernel.txt' '$work/quota-kernel.txt'"

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

# ---- block I/O weight: only the bfq or cfq I/O scheduler gives one ------------------------------------------
if grep -qs '\[\(bfq\|cfq\)\]' /sys/block/*/queue/scheduler; then
    diag "a block device uses bfq or cfq: the weight applies and verifies"
    "$tool" apply -c $uri --live "$data/qemu-weight.conf" "$dom" > "$work/weight-apply.out" 2>&1
    check "apply of blkio.weight succeeds where a device uses bfq or cfq" test $? = 0
    "$tool" verify -c $uri --wide "$data/qemu-weight.conf" "$dom" > "$work/weight-verify.out" 2>&1
    check "verify exits 0 with the weight enforced" test $? = 0
    check "the weight is read from the blkio cgroup" grep -q "blkio.weight .* ok .*kernel .*weight" "$work/weight-verify.out"
    "$tool" apply -c $uri --live "$data/qemu-live.conf" "$dom" >/dev/null 2>&1
else
    first_dev=$(ls /sys/block | head -1)
    diag "no block device uses bfq or cfq ($(for d in /sys/block/*; do [ -r "$d/queue/scheduler" ] && printf '%s: %s, ' "${d##*/}" "$(sed 's/.*\[\(.*\)\].*/\1/' "$d/queue/scheduler")"; done)): the weight is refused and reported not enforced"
    "$tool" host-check -c $uri "$data/qemu-weight.conf" > "$work/weight-hc.out" 2> "$work/weight-hc.err"
    check "host-check of a profile with blkio.weight exits 2" test $? = 2
    check "host-check names the line, the setting and every device's scheduler" \
        grep -q "blkio.weight: profile .*qemu-weight.conf:17: blkio.weight = 500: no block device of the host uses a proportional-weight I/O scheduler (bfq or cfq), so the kernel cannot enforce a block I/O weight (schedulers: .*$first_dev" "$work/weight-hc.err"
    check "host-check reports the other settings' facts as ok" grep -q "host.cgroup.cpu .* ok" "$work/weight-hc.out"
    dumpall preweight
    "$tool" apply -c $uri --live "$data/qemu-weight.conf" "$dom" > "$work/weight-apply.out" 2> "$work/weight-apply.err"
    rc=$?
    check "apply exits 2 with the host check's error naming blkio.weight" \
        sh -c "test $rc = 2 && grep -q 'host cannot enforce profile qemu-weight (1 problem):' '$work/weight-apply.err' && grep -q 'blkio.weight = 500' '$work/weight-apply.err'"
    dumpall weight
    check "the refused apply changed nothing (live XML, configuration, kernel state)" \
        sh -c "cmp -s '$work/preweight-live.xml' '$work/weight-live.xml' && cmp -s '$work/preweight-config.xml' '$work/weight-config.xml' && cmp -s '$work/preweight-kernel.txt' '$work/weight-kernel.txt'"
    "$tool" verify -c $uri --wide "$data/qemu-weight.conf" "$dom" > "$work/weight-verify.out" 2> "$work/weight-verify.err"
    check "verify does not fail outright: it exits 1 (drift)" test $? = 1
    check "libvirt's side: blkio.weight not enforced, with libvirt's reason" \
        grep -q "blkio.weight .* drift .* 500 .* (none) .* libvirt live XML .*not enforced: .*bfq or cfq" "$work/weight-verify.out"
    check "the kernel's side: the domain's blkio cgroup has no weight file" \
        grep -q "blkio.weight .* drift .* 500 .* not enforced .* kernel .*blkio.* not enforced: .*neither blkio.weight nor blkio.bfq.weight" "$work/weight-verify.out"
    check "the rest is verified in libvirt and the kernel" \
        sh -c "grep -q 'vcpu.0.pin .* ok .* kernel /proc/$qemu_pid/task/' '$work/weight-verify.out' && grep -q 'memory.hard_limit .* ok .*memory' '$work/weight-verify.out' && grep -q 'cpu.vcpu_quota .* ok .*vcpu1/cpu' '$work/weight-verify.out'"
    "$tool" verify -c $uri --json "$data/qemu-weight.conf" "$dom" > "$work/weight-verify.json" 2>/dev/null
    grep -o '"setting":"[^"]*","status":"drift"' "$work/weight-verify.json" | sed 's/"setting":"//; s/".*//' | sort -u > "$work/weight-drift.txt"
    check "the only drifts are blkio.weight and the record of the profile applied (qemu-live)" \
        test "$(tr '\n' ' ' < "$work/weight-drift.txt")" = "blkio.weight profile.digest "
    sed 's/^/# drift: /' "$work/weight-drift.txt"
    grep -h "blkio.weight" "$work/weight-hc.err" "$work/weight-verify.out" | tr -s ' ' | sed 's/^/# /'
fi

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
