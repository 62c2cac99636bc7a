#!/bin/sh
# SPDX-License-Identifier: ISC
# Profiles that state placement intent through the tools: vmsec-profile plans them before apply
# and verify (libvirt's embedded test driver, domain "test"), refuses to render them, and
# vmsec-plan prints the concrete profile.
. "$top_srcdir/tests/tap.sh"
profile_tool="$top_builddir/examples/vmsec-profile"
plan_tool="$top_builddir/examples/vmsec-plan"
intent="$top_srcdir/tests/data/planner-intent.conf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
uri=test:///default

"$profile_tool" apply -c $uri "$intent" test > "$tmp/apply" 2> "$tmp/apply.err"
check "apply of an intent profile exits 0" test $? -eq 0
check "vCPU 0 is pinned to the first free CPU" grep -Eq '^vcpu\.0\.pin +applied +0 ' "$tmp/apply"
check "vCPU 1 is pinned to the next free core" grep -Eq '^vcpu\.1\.pin +applied +2 ' "$tmp/apply"
check "the emulator shares the vCPUs' CPUs" grep -Eq '^emulator\.pin +applied +0,2 ' "$tmp/apply"
check "memory is bound to the vCPUs' node (numa.nodeset 0)" grep -Eq '^numa\.nodeset +(applied|next-boot) +0 ' "$tmp/apply"

"$profile_tool" verify -c $uri "$intent" test > "$tmp/verify" 2>&1
check "verify plans the same pins and finds the untouched domain drifted (exit 1)" test $? -eq 1
check "verify compares against the planned pins" grep -Eq '^vcpu\.0\.pin +drift +0 ' "$tmp/verify"

"$profile_tool" render "$intent" "$top_srcdir/tests/data/domain/render-in.xml" > /dev/null 2> "$tmp/render.err"
check "render refuses an intent profile (exit 2)" test $? -eq 2
check "and says why" grep -q "states placement intent (cpu.placement)" "$tmp/render.err"

sed 's/^host.reserved_cpus = .*/host.reserved_cpus = 1-15/' "$intent" > "$tmp/full.conf"
"$profile_tool" apply -c $uri "$tmp/full.conf" test > /dev/null 2> "$tmp/full.err"
check "an intent that does not fit exits 2" test $? -eq 2
check "naming the shortfall" grep -qF \
    "cannot place domain 'test': needs 2 CPUs on whole free cores of one NUMA node (2 vCPUs, thread policy isolate); node 0 has 1 (1 core), node 1 has 0 (0 cores)" \
    "$tmp/full.err"

printf 'cpu 0 node 0 socket 0 core 0\ncpu 1 node 0 socket 0 core 0\ncpu 2 node 1 socket 1 core 0\ncpu 3 node 1 socket 1 core 0\n' \
    > "$tmp/h.topo"
printf 'vcpus = 2\ncpu.placement = dedicated\ncpu.emulator = dedicated\ncpu.thread_policy = prefer\nnuma.fit = spread\n' \
    > "$tmp/p.conf"
"$plan_tool" plan -t "$tmp/h.topo" -p "$tmp/p.conf" web > "$tmp/plan" 2> "$tmp/plan.err"
check "vmsec-plan plan -p prints the concrete profile" test "$(cat "$tmp/plan")" = \
    "$(printf 'vcpus = 2\nvcpu.0.pin = 0\nvcpu.1.pin = 1\nemulator.pin = 2')"
done_testing
