#!/bin/sh
# SPDX-License-Identifier: ISC
# Integration: vmsecd against a real libvirtd with a QEMU (TCG) domain. It applies and verifies a
# recorded profile when the domain starts, reports and repairs drift made behind libvirt's back,
# survives a lost libvirt connection, serves its state on the control socket and as metrics, and
# tells systemd it is ready.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/libvirt-env.sh"

vmsecd="$top_builddir/daemon/vmsecd"
tool="$top_builddir/examples/vmsec-profile"
data="$top_srcdir/tests/data/domain"
uri=qemu:///system
lv_require
command -v python3 >/dev/null 2>&1 || { skip_or_fail "python3 is needed to receive sd_notify"; done_testing; }
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

# One persistent domain, kept between runs: defining a domain is slow on this kind of host. Its
# configuration carries the recorded profile; every run starts it afresh.
dom=vmsecd-it
work=$(mktemp -d "${TMPDIR:-/tmp}/vmsecd-test-XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    lv_alive || lv_start >/dev/null 2>&1
    virsh -q -c $uri destroy "$dom" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

if ! virsh -q -c $uri dominfo "$dom" >/dev/null 2>&1; then
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
    virsh -q -c $uri define "$work/dom.xml" >/dev/null 2>&1 || { skip_or_fail "cannot define a QEMU domain"; done_testing; }
fi
virsh -q -c $uri destroy "$dom" >/dev/null 2>&1
if ! virsh -c $uri metadata "$dom" https://vmsec.org/xmlns/profile/1 --config 2>/dev/null | grep -q 'name="vmsecd-it"'; then
    "$tool" apply -c $uri --config "$data/vmsecd.conf" "$dom" >"$work/config.out" 2>&1 ||
        { skip_or_fail "cannot record the profile in the configuration: $(cat "$work/config.out")"; done_testing; }
fi

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds or time runs out.
wait_for() {
    limit=$(($1 * 5)); shift; i=0
    while ! "$@" 2>/dev/null; do
        i=$((i + 1)); [ $i -ge $limit ] && return 1; sleep 0.2
    done
}
# audit_has FILE EVENT REGEX: a record of EVENT for the domain matching REGEX.
audit_has() { grep "\"event\":\"$2\"" "$1" | grep "\"domain\":\"$dom\"" | grep -q -- "$3"; }
audit_any() { grep -q "\"event\":\"$2\"" "$1"; }
qemu_pid() { cat /run/libvirt/qemu/$dom.pid 2>/dev/null; }
affinity() { p=$(qemu_pid); for t in /proc/$p/task/*; do [ "$(cat $t/comm)" = "$1" ] && sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' $t/status; done; }
tid_of() { p=$(qemu_pid); for t in /proc/$p/task/*; do [ "$(cat $t/comm)" = "$1" ] && basename $t; done; }

# A datagram socket standing in for systemd's notify socket.
python3 - "$work/notify.sock" "$work/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as log:
    while True:
        msg = s.recv(4096).decode()
        log.write(msg + "\n"); log.flush()
PY
pids="$pids $!"
wait_for 10 test -S "$work/notify.sock"
port=$((20000 + $$ % 20000))

# start_vmsecd AUDIT [OPTIONS]: vmsecd on this domain only (other engineers' domains share the host).
start_vmsecd() {
    audit=$1; shift
    NOTIFY_SOCKET="$work/notify.sock" "$vmsecd" -c $uri --match "$dom" --audit "$audit" \
        --control "$work/ctl.sock" "$@" 2>>"$work/vmsecd.err" &
    vpid=$!
    pids="$pids $vpid"
}
stop_vmsecd() { kill "$vpid" 2>/dev/null; wait "$vpid" 2>/dev/null; }

# ---- (e) readiness, (a) apply and verify on start -------------------------------------------------
start_vmsecd "$work/audit1" --interval 2 --drift report --metrics 127.0.0.1:$port
check "sd_notify READY=1 after the first sync" wait_for 30 grep -q '^READY=1' "$work/notify.log"
check "a STATUS= line is sent" grep -q '^STATUS=' "$work/notify.log"
check "the audit says connected and resync" sh -c "grep -q '\"event\":\"connected\".*\"uri\":\"$uri\"' '$work/audit1' && grep -q '\"event\":\"resync\"' '$work/audit1'"
check "the control socket is mode 0600" test "$(stat -c %a "$work/ctl.sock")" = 600
virsh -q -c $uri start "$dom" >/dev/null 2>&1
check "the domain starts" test -n "$(qemu_pid)"
check "a started domain is applied (audit 'applied', reason booted)" wait_for 30 audit_has "$work/audit1" applied '"reason":"booted"'
check "then verified ok" wait_for 30 audit_has "$work/audit1" verified '"result":"ok","reason":"booted"'
check "the record names the profile and host" audit_has "$work/audit1" applied '"host":"[^"]*".*"profile":"vmsecd-it"'
check "vCPU 0 runs on CPUs 0-1, as the profile says" test "$(affinity 'CPU 0/TCG')" = 0-1
check "vCPU 1 runs on CPU 0, as the profile says" test "$(affinity 'CPU 1/TCG')" = 0

# ---- (d) control socket, (f) metrics ------------------------------------------------------------------
"$vmsecd" --status --json --control "$work/ctl.sock" >"$work/status.json" 2>&1
check "--status --json exits 0" test $? = 0
check "the state names the domain with status ok and its profile" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
u = d['uris'][0]
e = [x for x in u['domains'] if x['name'] == sys.argv[2]][0]
assert u['connected'] and u['uri'] == 'qemu:///system' and u['last_resync']
assert e['status'] == 'ok' and e['profile'] == 'vmsecd-it' and e['digest'].startswith('sha256:')
assert e['drifted'] == [] and e['last_verify'] and len(e['uuid']) == 36
" "$work/status.json" "$dom"
"$vmsecd" --status --control "$work/ctl.sock" >"$work/status.txt" 2>&1
check "--status prints a table with the domain" grep -q "^$dom  *vmsecd-it  *ok " "$work/status.txt"
"$vmsecd" --status --control "$work/none.sock" >"$work/status-none.out" 2>&1
check "--status without a daemon exits 1 and says why" \
    sh -c "[ $? = 1 ] && grep -q 'cannot reach vmsecd at $work/none.sock' '$work/status-none.out'"
if command -v curl >/dev/null 2>&1; then
    curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics" 2>&1
    check "metrics are served over HTTP" test $? = 0
    check "metrics count the domain as ok" grep -q "^vmsecd_domains{uri=\"$uri\",status=\"ok\"} 1$" "$work/metrics"
    check "metrics carry the verify duration and reconnects" sh -c "grep -q '^vmsecd_verify_duration_seconds_count [1-9]' '$work/metrics' && grep -q '^vmsecd_reconnects_total{uri=\"$uri\"} 0' '$work/metrics'"
else
    skip_or_fail "curl is not installed"
fi

# ---- (b) drift: reported ------------------------------------------------------------------------------
taskset -p -c 0 "$(tid_of 'CPU 0/TCG')" >/dev/null
check "a drift record within the interval names setting, expected and actual" \
    wait_for 15 audit_has "$work/audit1" drift '"setting":"vcpu.0.pin","expected":"0-1","actual":"0"'
check "the drift record names the kernel source" audit_has "$work/audit1" drift '"source":"kernel /proc/'
check "report mode leaves the kernel as it is" test "$(affinity 'CPU 0/TCG')" = 0
"$vmsecd" --status --json --control "$work/ctl.sock" >"$work/status2.json" 2>&1
check "the control socket shows the drift" grep -q '"status":"drift","drifted":\["vcpu.0.pin"\]' "$work/status2.json"
mv "$work/audit1" "$work/audit1.rotated"
kill -HUP "$vpid"
check "SIGHUP reopens the audit file (a rotated file is left behind)" wait_for 10 audit_has "$work/audit1" verified '"reason":"interval"'
stop_vmsecd
check "STOPPING=1 on SIGTERM" grep -q '^STOPPING=1' "$work/notify.log"
check "the control socket is removed on exit" test ! -e "$work/ctl.sock"

# ---- (b) drift: repaired --------------------------------------------------------------------------------
start_vmsecd "$work/audit2" --interval 2 --drift repair --repair-min-interval 0
check "repair mode repairs the drift found at resync" wait_for 30 audit_has "$work/audit2" repaired '"reason":"drift"'
check "and verifies ok after the repair" wait_for 10 audit_has "$work/audit2" verified '"result":"ok","reason":"after-repair"'
check "vCPU 0 is back on CPUs 0-1" test "$(affinity 'CPU 0/TCG')" = 0-1
# The vCPU and emulator cgroups hold their threads to the pinned CPUs, so this drift is made in a
# cgroup file: the emulator's CPU quota.
cg_path=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/$(qemu_pid)/cgroup)
if [ -n "$cg_path" ]; then
    cg_file=$(awk '$9 == "cgroup" && $NF ~ /(^|,)cpu(,|$)/ {print $5}' /proc/self/mountinfo | head -1)${cg_path%/emulator}/emulator/cpu.cfs_quota_us
    quota() { cat "$cg_file"; }
    echo 100000 > "$cg_file"
else
    cg_path=$(awk -F: '$1 == 0 {print $3}' /proc/$(qemu_pid)/cgroup)
    cg_file=$(awk '$9 == "cgroup2" {print $5}' /proc/self/mountinfo | head -1)${cg_path%/emulator}/emulator/cpu.max
    quota() { cut -d' ' -f1 "$cg_file"; }
    echo "100000 100000" > "$cg_file"
fi
check "a drift in a cgroup file is repaired within the interval" \
    wait_for 15 sh -c "[ \$(grep -c '\"event\":\"repaired\"' '$work/audit2') -ge 2 ]"
check "the drift record named the emulator quota" audit_has "$work/audit2" drift '"setting":"cpu.emulator_quota","expected":"80000","actual":"100000"'
check "the emulator quota is back to 80000" wait_for 5 test "$(quota)" = 80000

# ---- save and restore: the restored QEMU is a new process ----------------------------------------------------
if virsh -q -c $uri save "$dom" "$work/saved" >/dev/null 2>&1 && virsh -q -c $uri restore "$work/saved" >/dev/null 2>&1; then
    check "a restored domain is applied (reason restored)" wait_for 30 audit_has "$work/audit2" applied '"reason":"restored"'
    check "and verified ok" wait_for 30 audit_has "$work/audit2" verified '"result":"ok","reason":"restored"'
else
    skip_or_fail "virsh save/restore of the test domain failed"
fi
rm -f "$work/saved"

# ---- (c) the libvirt connection is lost -----------------------------------------------------------------
if lv_owned; then
    how="libvirtd killed and restarted"
    lv_restart >/dev/null 2>&1
else
    # Not ours to kill: cut vmsecd's connection from the server side instead.
    how="vmsecd's client connection closed by libvirtd"
    for id in $(virt-admin -q srv-clients-list libvirtd 2>/dev/null | awk '$2 == "unix" {print $1}'); do
        virt-admin -q client-disconnect libvirtd "$id" >/dev/null 2>&1
    done
fi
diag "lost connection: $how"
check "vmsecd logs the disconnect" wait_for 15 audit_any "$work/audit2" disconnected
check "reconnects" wait_for 30 sh -c "[ \$(grep -c '\"event\":\"connected\"' '$work/audit2') -ge 2 ]"
check "and resyncs" wait_for 10 sh -c "[ \$(grep -c '\"event\":\"resync\"' '$work/audit2') -ge 2 ]"
n_applied=$(grep -c '"event":"applied"' "$work/audit2")
virsh -q -c $uri destroy "$dom" >/dev/null 2>&1
virsh -q -c $uri start "$dom" >/dev/null 2>&1
check "after reconnecting, a started domain is still applied" \
    wait_for 30 sh -c "[ \$(grep -c '\"event\":\"applied\"' '$work/audit2') -gt $n_applied ]"
check "the daemon is still running" kill -0 "$vpid"
stop_vmsecd
# ---- an unreachable URI beside a good one ------------------------------------------------------------------
# Nothing listens on port 9: that watch retries with a growing, capped wait, and readiness does
# not wait for it.
start_vmsecd "$work/audit3" --interval 60 -c qemu+tcp://127.0.0.1:9/system --reconnect-max 2
check "READY=1 even with a URI that cannot connect" wait_for 30 sh -c "[ \$(grep -c '^READY=1' '$work/notify.log') -ge 3 ]"
check "the failed connect is an error record with its retry delay" \
    wait_for 10 grep -q '"event":"error","uri":"qemu+tcp://127.0.0.1:9/system".*"step":"connect".*"retry_in":"1"' "$work/audit3"
check "the retry delay grows to the cap" \
    wait_for 10 grep -q '"event":"error","uri":"qemu+tcp://127.0.0.1:9/system".*"retry_in":"2"' "$work/audit3"
"$vmsecd" --status --json --control "$work/ctl.sock" >"$work/status3.json" 2>&1
check "the state shows one URI connected and one not" python3 -c "
import json, sys
u = json.load(open(sys.argv[1]))['uris']
assert [x['connected'] for x in u] == [True, False], u
assert u[0]['domains'][0]['status'] == 'ok'
" "$work/status3.json"
"$vmsecd" --status --control "$work/ctl.sock" >"$work/status3.txt" 2>&1
check "the table shows the unreachable URI as down" grep -q '^qemu+tcp://127.0.0.1:9/system  *down ' "$work/status3.txt"
stop_vmsecd
# ---- a remote URI, through libvirt's remote driver ------------------------------------------------------------
if virsh -q -c $lv_tcp_uri version >/dev/null 2>&1; then
    start_vmsecd "$work/audit4" --interval 60 -c $lv_tcp_uri
    check "over $lv_tcp_uri: connected and resynced with the running domain" \
        wait_for 30 grep -q "\"event\":\"resync\",\"uri\":\"$lv_tcp_uri\".*\"domains\":\"1\"" "$work/audit4"
    virsh -q -c $uri destroy "$dom" >/dev/null 2>&1
    virsh -q -c $uri start "$dom" >/dev/null 2>&1
    check "a start seen over TCP is applied through the remote driver" \
        wait_for 30 sh -c "grep '\"event\":\"applied\"' '$work/audit4' | grep -q '\"uri\":\"$lv_tcp_uri\"'"
    check "and verified ok over TCP" \
        wait_for 30 sh -c "grep '\"event\":\"verified\"' '$work/audit4' | grep '\"uri\":\"$lv_tcp_uri\"' | grep -q '\"result\":\"ok\",\"reason\":\"booted\"'"
    stop_vmsecd
else
    skip_or_fail "libvirtd does not listen on TCP 127.0.0.1 (not started by these tests)"
fi

# Connect attempts fail while libvirtd restarts; nothing else may.
check "no error records but failed connects" sh -c "! grep -h '\"event\":\"error\"' '$work/audit1.rotated' '$work/audit1' '$work/audit2' '$work/audit4' | grep -qv '\"step\":\"connect\"'"
diag "stderr: $(cat "$work/vmsecd.err")"
done_testing
