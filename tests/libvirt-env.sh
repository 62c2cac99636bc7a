# SPDX-License-Identifier: ISC
# Sourced by integration tests (after tap.sh): a system libvirtd with QEMU, reachable both on its
# UNIX socket and on TCP 127.0.0.1 (auth none) for the remote-driver tests.
#
#   lv_require          skip_or_fail (and exit) unless root, libvirtd, virtlogd, virsh and QEMU exist
#   lv_start            starts virtlogd and libvirtd (with the TCP listener) unless already usable
#   lv_owned            true if the running libvirtd was started by these tests (may be killed)
#   lv_restart          kills the libvirtd these tests started and starts it again
#   lv_tcp_uri          the remote URI: qemu+tcp://127.0.0.1/system
lv_tcp_uri=qemu+tcp://127.0.0.1/system
lv_state=${TMPDIR:-/tmp}/vmsec-test-libvirtd
lv_pidfile=/run/libvirtd.pid

lv_require() {
    missing=""
    for b in libvirtd virtlogd virsh qemu-system-x86_64 taskset; do
        command -v "$b" >/dev/null 2>&1 || missing="$missing $b"
    done
    if [ "$(id -u)" != 0 ]; then
        skip_or_fail "libvirt integration tests need root"
        done_testing
    fi
    if [ -n "$missing" ]; then
        skip_or_fail "missing:$missing"
        done_testing
    fi
}

lv_pid() { cat "$lv_pidfile" 2>/dev/null; }
lv_alive() { p=$(lv_pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# Ours: recorded by lv_launch, or (after an earlier run lost its state) running on this harness's
# own configuration file, which only lv_launch passes to libvirtd.
lv_owned() {
    p=$(lv_pid)
    [ -n "$p" ] || return 1
    { [ -f "$lv_state/owned-pid" ] && [ "$(cat "$lv_state/owned-pid")" = "$p" ]; } ||
        tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-f $lv_state/libvirtd.conf"
}

lv_wait_ready() {
    i=0
    while [ $i -lt 100 ]; do
        virsh -q -c qemu:///system version >/dev/null 2>&1 && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}

lv_launch() {
    mkdir -p "$lv_state" /var/log/libvirt /var/run/libvirt /var/lib/libvirt/qemu
    cat > "$lv_state/libvirtd.conf" <<'CONF'
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
auth_tcp = "none"
CONF
    # The daemons must not inherit the test's lock descriptor (9): they would hold it forever.
    pgrep -x virtlogd >/dev/null 2>&1 || virtlogd -d 9>&-
    libvirtd -d -l -f "$lv_state/libvirtd.conf" 9>&- || return 1
    lv_wait_ready || return 1
    lv_pid > "$lv_state/owned-pid"
}

lv_start() {
    if lv_alive && lv_wait_ready; then
        return 0
    fi
    lv_launch
}

# Starts libvirtd again; a daemon still alive is killed first, but only if it is ours.
lv_restart() {
    p=$(lv_pid)
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
        lv_owned || return 1
        kill -9 "$p" 2>/dev/null
        while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$lv_pidfile"
    lv_launch
}
