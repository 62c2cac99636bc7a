#!/bin/sh
# SPDX-License-Identifier: ISC
# vmsec-plan: topology capture, dry-run planning, refusals and the SMT audit, through the libvirt
# test driver (no daemon needed).
. "$top_srcdir/tests/tap.sh"
tool="$top_builddir/examples/vmsec-plan"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node="test://$top_srcdir/tests/data/planner-node.xml"

"$tool" topology -c test:///default > "$tmp/default.topo" 2> "$tmp/err"
check "topology prints one line per CPU of the test driver" test "$(wc -l < "$tmp/default.topo")" -eq 16
check "topology lines are in the text form" grep -qx 'cpu 9 node 1 socket 1 die 0 core 1' "$tmp/default.topo"

printf 'cpu 0 node 0 socket 0 core 0\ncpu 1 node 0 socket 0 core 1\ncpu 2 node 0 socket 0 core 0\ncpu 3 node 0 socket 0 core 1\n' \
    > "$tmp/smt.topo"
out=$("$tool" plan -t "$tmp/smt.topo" -n 3 --emulator dedicated web)
check "plan prints the pins (isolate packs siblings, emulator on the leftover thread)" \
    test "$out" = "$(printf 'vcpu.0.pin = 0\nvcpu.1.pin = 2\nvcpu.2.pin = 1\nemulator.pin = 3')"
out=$("$tool" plan -t "$tmp/smt.topo" -r 0 -n 2 --policy prefer web)
check "reserved CPUs are avoided" test "$out" = "$(printf 'vcpu.0.pin = 1\nvcpu.1.pin = 3\nemulator.pin = 1,3')"

"$tool" plan -t "$tmp/smt.topo" -n 5 web > "$tmp/out" 2> "$tmp/err"
check "a request that does not fit exits 1" test $? -eq 1
check "the refusal names the shortfall" grep -qF \
    "vmsec-plan: cannot place domain 'web': needs 5 CPUs on whole free cores of one NUMA node (5 vCPUs, thread policy isolate); node 0 has 4 (2 cores)" \
    "$tmp/err"

"$tool" audit -t "$tmp/default.topo" -c "$node" > "$tmp/out" 2> "$tmp/err"
check "audit exits 1 when domains share a core" test $? -eq 1
check "audit names the pair and the core" grep -qx \
    "domains 'cpuset' and 'pinned' share core 2 (node 0, socket 0, CPUs 2)" "$tmp/out"

out=$("$tool" plan -t "$tmp/default.topo" -c "$node" -n 2 new)
check "plan avoids the CPUs the connection's domains hold" \
    test "$out" = "$(printf 'vcpu.0.pin = 0\nvcpu.1.pin = 4\nemulator.pin = 0,4')"

"$tool" audit -c test:///default > "$tmp/out" 2> "$tmp/err"
check "audit of a host without pinned sharing exits 0" test $? -eq 0
check "and says so" grep -qx "no two domains share a physical core" "$tmp/out"

"$tool" plan -t "$tmp/smt.topo" web > /dev/null 2>&1
check "plan without -n or -p is a usage error (exit 2)" test $? -eq 2
"$tool" plan -t "$tmp/missing.topo" -n 1 web > /dev/null 2> "$tmp/err"
check "an unreadable topology file exits 2" test $? -eq 2
done_testing
