#!/bin/sh
# SPDX-License-Identifier: ISC
# Live migration between two libvirt daemons on this one machine. The destination libvirtd runs in
# its own network namespace (reached over qemu+tcp on a veth address) and its own mount namespace
# (private /run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and /etc/libvirt
# with its own host_uuid and hook folder), and puts its domains in their own cgroup partition.
# A domain pinned to CPU 1 migrates there from the harness's libvirtd while a domain on the
# destination already holds CPU 1: the destination's hook asks vmsecd (watching both URIs) to
# re-plan, the domain arrives on CPU 0, and vmsecd applies and verifies its profile there: ok.
# Then the destination libvirtd is restarted and vmsecd resyncs with it over the remote URI.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/libvirt-env.sh"

vmsecd="$top_builddir/daemon/vmsecd"
tool="$top_builddir/examples/vmsec-profile"
src=qemu:///system
ns=vmsec-migrate veth0=vmsecmig0 veth1=vmsecmig1 addr0=10.231.7.1 addr1=10.231.7.2
dst=qemu+tcp://$addr1/system
# The destination's cgroup partition: libvirt creates a domain's group under it, not the partition.
partition=/vmsecmig
lv_require
for b in ip nsenter unshare flock python3; do
    command -v $b >/dev/null 2>&1 || { skip_or_fail "$b is needed"; done_testing; }
done
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
# Under the lock nothing else uses these names: what a killed run left is ours to remove.
ns_state="$lv_state/migrate"
work=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-migrate-XXXXXX")
chmod 755 "$work"
a=vmsec-mig-a b=vmsec-mig-b
vpid=

# The cgroup directories of the partition, one per mounted hierarchy (v1 controllers and v2).
partition_dirs() {
    awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/mounts | while read -r m; do
        echo "$m/${partition#/}.partition"
    done
}
ns_pid_alive() { p=$(cat "$ns_state/$1.pid" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# Stops everything of the destination: its domains, daemons, namespace, partition and files.
ns_down() {
    virsh -q -c $dst destroy $a >/dev/null 2>&1
    virsh -q -c $dst destroy $b >/dev/null 2>&1
    for f in libvirtd virtlogd; do
        ns_pid_alive $f && kill "$(cat "$ns_state/$f.pid")"
    done
    # Whatever else still runs in the namespace (a QEMU that libvirtd left behind) goes too; its
    # private mounts go with the last process of the mount namespace.
    for sig in TERM KILL; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -$sig "$p" 2>/dev/null; done
        i=0
        while [ -n "$(ip netns pids $ns 2>/dev/null)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    done
    ip link del $veth0 2>/dev/null
    ip netns del $ns 2>/dev/null
    partition_dirs | while read -r d; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf "$ns_state"
}
cleanup() {
    [ -n "$vpid" ] && kill "$vpid" 2>/dev/null
    virsh -q -c $src destroy $a >/dev/null 2>&1
    ns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP
ns_down
virsh -q -c $src destroy $a >/dev/null 2>&1

# ---- the destination -------------------------------------------------------------------------------
ns_net() {
    ip netns add $ns && ip link add $veth0 type veth peer name $veth1 && ip link set $veth1 netns $ns &&
        ip addr add $addr0/30 dev $veth0 && ip link set $veth0 up &&
        ip netns exec $ns sh -c "ip addr add $addr1/30 dev $veth1 && ip link set $veth1 up && ip link set lo up"
}
# libvirt creates no partition itself ("Failed to create v2 cgroup .../vmsecmig.partition/: No such
# file or directory"): it is made in every hierarchy, cpuset's with its parent's CPUs and nodes.
ns_partition() {
    for d in $(partition_dirs); do mkdir -p "$d" || return 1; done
    c=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/ { print $2; exit }' /proc/mounts)
    [ -z "$c" ] || { cat "$c/cpuset.cpus" > "$c/${partition#/}.partition/cpuset.cpus" &&
        cat "$c/cpuset.mems" > "$c/${partition#/}.partition/cpuset.mems"; }
}
# A copy of this host's libvirt configuration with its own libvirtd.conf (TCP listener on the
# namespace address, host UUID) and hook folder; the capability cache is copied to start faster.
ns_files() {
    mkdir -p "$ns_state/run" "$ns_state/lib" "$ns_state/cache" "$ns_state/etc" "$ns_state/log/qemu" &&
        cp -a /etc/libvirt/. "$ns_state/etc/" && rm -rf "$ns_state/etc/hooks" &&
        mkdir -p "$ns_state/etc/hooks/qemu.d" || return 1
    [ -d /var/cache/libvirt ] && cp -a /var/cache/libvirt/. "$ns_state/cache/"
    cat > "$ns_state/etc/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 1
listen_addr = "$addr1"
auth_tcp = "none"
host_uuid = "5f0a1e2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b"
CONF
}
ns_wait_ready() {
    i=0
    while [ $i -lt 150 ]; do
        virsh -q -c $dst version >/dev/null 2>&1 && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
# The daemons of a new mount namespace (private propagation: nothing leaks to the host's mounts).
ns_start() {
    nsenter --net=/run/netns/$ns unshare --mount --propagation private sh -ec "
        mount --bind '$ns_state/run' /run/libvirt
        mount --bind '$ns_state/lib' /var/lib/libvirt
        mount --bind '$ns_state/cache' /var/cache/libvirt
        mount --bind '$ns_state/etc' /etc/libvirt
        mount --bind '$ns_state/log' /var/log/libvirt
        virtlogd -d -p '$ns_state/virtlogd.pid'
        libvirtd -d -l -f /etc/libvirt/libvirtd.conf -p '$ns_state/libvirtd.pid'
    " 9>&- && ns_wait_ready
}
# libvirtd again, in the namespaces virtlogd still holds.
ns_restart() {
    p=$(cat "$ns_state/libvirtd.pid") && kill "$p" || return 1
    while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    nsenter -t "$(cat "$ns_state/virtlogd.pid")" -m -n libvirtd -d -l -f /etc/libvirt/libvirtd.conf \
        -p "$ns_state/libvirtd.pid" 9>&- && ns_wait_ready
}

# The hook, as the destination libvirtd will run it: a wrapper naming this build's hook, with a
# configuration pointing at this test's vmsecd and the destination's URI (whose holdings count).
printf 'control = %s/ctl.sock\nuri = %s\non-failure = refuse\n' "$work" "$dst" > "$work/hook.conf"
hook_wrapper() {
    printf '#!/bin/sh\nVMSEC_HOOK_CONFIG=%s/hook.conf exec %s/daemon/vmsec-hook "$@" 2>>%s/hook.log\n' \
        "$work" "$(cd "$top_builddir" && pwd)" "$work" > "$ns_state/etc/hooks/qemu.d/vmsec" &&
        chmod 755 "$ns_state/etc/hooks/qemu.d/vmsec"
}
if ! ns_net || ! ns_partition || ! ns_files || ! hook_wrapper || ! ns_start; then
    skip_or_fail "cannot start a second libvirtd in its own namespaces"
    done_testing
fi
ok "a second libvirtd runs in its own network and mount namespaces, reached as $dst"
uuid() { virsh -q -c "$1" capabilities | sed -n 's|.*<uuid>\(.*\)</uuid>.*|\1|p' | head -n 1; }
check "its host UUID is its own" test "$(uuid $dst)" != "$(uuid $src)"

# ---- the domains ----------------------------------------------------------------------------------
printf 'name = migrate\nvcpus = 1\nvcpu.0.pin = 1\nemulator.pin = 1\n' > "$work/p.conf"
digest=$("$tool" --json check "$work/p.conf" | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
# domain_xml NAME [RESOURCE]: one vCPU pinned to CPU 1, the profile recorded in its metadata.
domain_xml() {
    cat <<XML
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='1'/><emulatorpin cpuset='1'/></cputune>
  <metadata><vmsec:profile xmlns:vmsec="https://vmsec.org/xmlns/profile/1" name="migrate" digest="$digest">$(cat "$work/p.conf")</vmsec:profile></metadata>
  $2
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
XML
}
domain_xml $a > "$work/a.xml"
domain_xml $b "<resource><partition>$partition</partition></resource>" > "$work/b.xml"
wait_for() {
    limit=$(($1 * 5)); shift; i=0
    while ! "$@" 2>/dev/null; do
        i=$((i + 1)); [ $i -ge $limit ] && return 1; sleep 0.2
    done
}
# audit_on URI EVENT DOMAIN REGEX: a record of EVENT for DOMAIN on URI matching REGEX.
audit_on() {
    grep "\"event\":\"$2\"" "$work/audit" | grep "\"uri\":\"$1\"" | grep "\"domain\":\"$3\"" | grep -q -- "$4"
}
vcpu0() { virsh -q -c "$1" vcpupin "$2" 2>/dev/null | awk '$1 == "0" { print $2 }'; }
# on_destination NAME: the domain runs on the destination, its QEMU in the namespace and partition.
on_destination() {
    [ "$(virsh -q -c $dst domstate "$1" 2>/dev/null)" = running ] || return 1
    for p in $(ip netns pids $ns); do
        if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "qemu-system.* -name guest=$1,"; then
            grep -q ":$partition.partition/" "/proc/$p/cgroup" && return 0
        fi
    done
    return 1
}
# The CPUs the kernel lets a domain's vCPU 0 thread ("CPU 0/TCG") on the destination run on: vmsecd
# reports its kernel-side checks unchecked there (a qemu+tcp host that is not loopback is remote).
ns_vcpu0_affinity() {
    for p in $(ip netns pids $ns); do
        tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "qemu-system.* -name guest=$1," || continue
        for t in /proc/$p/task/*; do
            [ "$(cat "$t/comm")" = "CPU 0/TCG" ] && sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$t/status"
        done
    done
}

"$vmsecd" -c $src -c $dst --match 'vmsec-mig-*' --control "$work/ctl.sock" --audit "$work/audit" \
    --interval 3600 2>"$work/vmsecd.err" &
vpid=$!
wait_for 30 sh -c "grep '\"event\":\"resync\"' '$work/audit' | grep -q '\"uri\":\"$dst\"'"
check "vmsecd watches both URIs" sh -c "grep '\"event\":\"resync\"' '$work/audit' | grep -q '\"uri\":\"$src\"' &&
    grep '\"event\":\"resync\"' '$work/audit' | grep -q '\"uri\":\"$dst\"'"
virsh -q -c $dst create "$work/b.xml" >"$work/create-b.out" 2>&1
wait_for 60 audit_on $dst verified $b '"result":"ok"'
check "domain b on the destination holds CPU 1 (verified ok)" audit_on $dst verified $b '"result":"ok"'
virsh -q -c $src create "$work/a.xml" >"$work/create-a.out" 2>&1
wait_for 60 audit_on $src verified $a '"result":"ok"'
check "domain a on the source, vCPU 0 on CPU 1 (verified ok)" \
    sh -c "grep '\"event\":\"verified\"' '$work/audit' | grep '\"uri\":\"$src\"' | grep '\"domain\":\"$a\"' | grep -q '\"result\":\"ok\"' && [ \"\$(virsh -q -c $src vcpupin $a | awk '\$1 == \"0\" { print \$2 }')\" = 1 ]"

# ---- the migration --------------------------------------------------------------------------------
# Its destination XML puts the domain in the destination's partition; the QEMU stream goes to the
# namespace address (the destination would otherwise offer its host name).
virsh -q -c $src dumpxml --migratable $a 2>/dev/null |
    sed "s|<partition>[^<]*</partition>|<partition>$partition</partition>|" > "$work/a-dst.xml"
check "virsh migrate --live to $dst (the hook runs)" sh -c "virsh -q -c $src migrate --live $a $dst \
    --migrateuri tcp:$addr1 --xml '$work/a-dst.xml' >'$work/migrate.out' 2>&1"
check "the hook logged the re-plan" grep -q "$a migrate: vmsecd re-planned the domain's CPUs" "$work/hook.log"
check "vmsecd audited the replan for the destination" audit_on $dst replan $a '"result":"changed"'
check "the domain left the source" sh -c "! virsh -q -c $src domstate $a >/dev/null 2>&1"
check "it runs on the destination, in its namespaces and partition" on_destination $a
check "its vCPU 0 is on CPU 0 there, not b's CPU 1" test "$(vcpu0 $dst $a)" = 0
check "and the kernel runs that vCPU thread on CPU 0 only" test "$(ns_vcpu0_affinity $a)" = 0
wait_for 60 audit_on $dst verified $a '"reason":"migrated".*"result":"ok"\|"result":"ok".*"reason":"migrated"'
check "vmsecd applied and verified the re-planned profile on the destination: ok" \
    sh -c "grep '\"event\":\"verified\"' '$work/audit' | grep '\"uri\":\"$dst\"' | grep '\"domain\":\"$a\"' | grep '\"reason\":\"migrated\"' | grep -q '\"result\":\"ok\"'"
check "its live part applied there without an error (NUMA strict, already as planned)" sh -c "
    grep '\"event\":\"applied\"' '$work/audit' | grep '\"uri\":\"$dst\"' | grep '\"domain\":\"$a\"' | grep -q '\"reason\":\"migrated\"' &&
    ! grep '\"event\":\"error\"' '$work/audit' | grep -q '\"domain\":\"$a\"'"
"$vmsecd" --status --json --control "$work/ctl.sock" > "$work/status.json" 2>&1
check "the state shows both domains ok on the destination" python3 -c "
import json, sys
u = [u for u in json.load(open(sys.argv[1]))['uris'] if u['uri'] == '$dst'][0]
doms = {e['name']: e for e in u['domains']}
assert doms['$a']['status'] == 'ok' and doms['$b']['status'] == 'ok', doms
" "$work/status.json"

# ---- the remote daemon restarted ------------------------------------------------------------------
resyncs() { grep '"event":"resync"' "$work/audit" | grep -c "\"uri\":\"$dst\""; }
before=$(resyncs)
check "the destination libvirtd restarts (domains kept)" ns_restart
wait_for 60 sh -c "[ \$(grep '\"event\":\"resync\"' '$work/audit' | grep -c '\"uri\":\"$dst\"') -gt $before ]"
check "vmsecd reconnects and resyncs with both domains" sh -c "
    grep '\"event\":\"resync\"' '$work/audit' | grep '\"uri\":\"$dst\"' | tail -n 1 | grep -q '\"domains\":\"2\"'"
"$vmsecd" --status --json --control "$work/ctl.sock" > "$work/status2.json" 2>&1
check "and still finds both ok" python3 -c "
import json, sys
u = [u for u in json.load(open(sys.argv[1]))['uris'] if u['uri'] == '$dst'][0]
doms = {e['name']: e for e in u['domains']}
assert u['connected'] and doms['$a']['status'] == 'ok' and doms['$b']['status'] == 'ok', u
" "$work/status2.json"
if [ "$tap_failed" != 0 ]; then
    for f in create-a.out create-b.out migrate.out hook.log vmsecd.err audit; do
        diag "$f:"; sed 's/^/# /' "$work/$f" 2>/dev/null
    done
fi
done_testing
