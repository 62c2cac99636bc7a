#!/bin/sh
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
for prog in bench_aead bench_transport bench_handshake bench_memory bench_relay bench_profile bench_planner; do
    echo "== $prog" >&2
    run "$builddir/bench/$prog" | tee -a "$out"
done
[ -f "$builddir/bench/summary.sh" ] && $SHELL "$builddir/bench/summary.sh" >> "$out" || true
echo "results: $out (and $VMSEC_BENCH_JSON)" >&2
