#!/bin/sh
# SPDX-License-Identifier: ISC
# Runs every benchmark once, side by side, and writes bench/results.md (the tables with the machine
# description) and bench/results.jsonl. Copy results.md to doc/benchmarks.md to publish a run.
set -eu
builddir=$1
srcdir=$2
out="$builddir/bench/results.md"
export VMSEC_BENCH_JSON="$builddir/bench/results.jsonl"
: > "$VMSEC_BENCH_JSON"
run() { libtool=$builddir/libtool; "$libtool" --mode=execute "$@"; }
{
    echo "# vmsec benchmarks"
    echo
    echo "Produced by \`make bench\` on $(date -u +%Y-%m-%d). Machine:"
    echo
    echo "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores;" \
         "AES-NI $(grep -qw aes /proc/cpuinfo && echo yes || echo no)," \
         "AVX2 $(grep -qw avx2 /proc/cpuinfo && echo yes || echo no)," \
         "AVX-512 $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)," \
         "VAES $(grep -qw vaes /proc/cpuinfo && echo yes || echo no)"
    echo "- Memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r)"
    echo "- libsodium $(pkg-config --modversion libsodium), OpenSSL $(pkg-config --modversion libssl)," \
         "libvirt $(pkg-config --modversion libvirt), compiler $(${CC:-cc} --version | head -n 1)"
    echo
} > "$out"
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# A real QEMU domain for the profile benchmark, through the integration tests' libvirtd harness.
bench_dom=""
start_bench_domain() {
    command -v virsh >/dev/null 2>&1 && command -v libvirtd >/dev/null 2>&1 || return 1
    [ "$(id -u)" = 0 ] || return 1
    skip_or_fail() { echo "bench: $*" >&2; }
    . "$srcdir/tests/libvirt-env.sh"
    lv_start >/dev/null 2>&1 || return 1
    bench_dom=vmsec-bench-$$
    cat > "$builddir/bench/dom.xml" <<XML
<domain type='qemu'>
  <name>$bench_dom</name>
  <memory unit='MiB'>96</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
XML
    virsh -q -c qemu:///system create "$builddir/bench/dom.xml" >/dev/null 2>&1 || { bench_dom=""; return 1; }
    export VMSEC_BENCH_URI=qemu:///system VMSEC_BENCH_DOMAIN=$bench_dom
}
stop_bench_domain() {
    [ -n "$bench_dom" ] || return 0
    virsh -q -c qemu:///system destroy "$bench_dom" >/dev/null 2>&1 ||
        echo "bench: could not destroy the domain $bench_dom" >&2
    bench_dom=""
}
trap stop_bench_domain EXIT
for prog in bench_aead bench_transport bench_handshake bench_memory bench_session bench_relay bench_profile bench_planner; do
    echo "== $prog" >&2
    [ $prog = bench_profile ] && { start_bench_domain || echo "bench: no libvirtd + QEMU domain for the profile benchmark" >&2; }
    run "$builddir/bench/$prog" | tee -a "$out"
    # a TCG guest spins on the host's cores: gone before anything else is measured
    [ $prog = bench_profile ] && stop_bench_domain
    if [ $prog = bench_transport ]; then echo "== bench_transport_other" >&2; run "$builddir/bench/bench_transport_other" | tee -a "$out"; fi
done
echo "== vmsecd (test driver, 1,000 domains; a QEMU domain through the libvirtd harness)" >&2
sh "$srcdir/bench/vmsecd.sh" "$builddir" "$srcdir" | tee -a "$out"
echo "== bench_vsock_guest (inside the QEMU test guest)" >&2
sh "$srcdir/bench/vsock-guest.sh" "$builddir" "$srcdir" | tee -a "$out"
python3 "$srcdir/bench/summary.py" "$VMSEC_BENCH_JSON" | tee -a "$out"
cat "$srcdir/bench/notes.md" >> "$out"
echo "results: $out (and $VMSEC_BENCH_JSON)" >&2
