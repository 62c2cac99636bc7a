# SPDX-License-Identifier: ISC
# Sourced by the guest tests (after tests/tap.sh): boots Debian's kernel under QEMU (TCG) with a
# busybox initramfs, loads the vsock loopback transport and runs static test programs inside the
# guest, relaying their TAP lines into this test's output.
#
# Why a guest: AF_VSOCK needs a transport. The host may have neither /dev/vhost-vsock nor
# vsock_loopback, but any guest kernel can load vsock_loopback and talk to itself over CID 1
# (VMADDR_CID_LOCAL), through the same socket layer that carries host<->guest traffic.
#
# Entry point: guest_run PROGRAM... (absolute paths of statically linked programs). Each program
# prints TAP on stdout; guest_run adds its own lines for every stage (kernel, initramfs, boot,
# modules, each program's completion, power-off). Everything it waits for is bounded, and a guest
# that crashes or hangs becomes `not ok` lines carrying the tail of the guest console.
#
# Environment (all optional):
#   VMSEC_GUEST_CACHE           kernel cache (default $XDG_CACHE_HOME/vmsec-guest, else
#                               ~/.cache/vmsec-guest)
#   VMSEC_GUEST_KERNEL_PKG      kernel image package (default: what linux-image-amd64 depends on)
#   VMSEC_GUEST_KERNEL_DEB      use this kernel .deb file instead of downloading one
#   VMSEC_GUEST_QEMU            QEMU binary (default qemu-system-x86_64)
#   VMSEC_GUEST_BUSYBOX         statically linked busybox (default: busybox on PATH)
#   VMSEC_GUEST_BOOT_TIMEOUT    seconds until the guest's init must have started (default 120)
#   VMSEC_GUEST_TIMEOUT         seconds for the whole guest run (default 600)
#   VMSEC_GUEST_PROGRAM_TIMEOUT seconds each program may run inside the guest (default 240)
#   VMSEC_GUEST_SMP, VMSEC_GUEST_MEM   vCPUs (default 1) and MiB (default 512)
#   VMSEC_GUEST_CPU             QEMU CPU model (default: QEMU's; "max" adds AES-NI, AVX2...)
#   VMSEC_GUEST_KEEP=1          keep the scratch directory (initramfs, console and TAP logs)

guest_modules="vsock vmw_vsock_virtio_transport_common vsock_loopback"
guest_marker="VMSEC-GUEST:"

guest_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Seconds with one decimal from a millisecond count.
guest_secs() { echo "$(($1 / 1000)).$((($1 % 1000) / 100))"; }

guest_diag_file() { # PREFIX FILE LINES: the last LINES lines of FILE as diagnostics
    [ -s "$2" ] || { diag "$1: (empty)"; return; }
    tail -n "$3" "$2" | tr -d '\r' | while IFS= read -r l; do echo "# $1| $l"; done
}

guest_is_static() {
    LC_ALL=C ldd "$1" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'
}

guest_cache_dir() {
    if [ -n "${VMSEC_GUEST_CACHE:-}" ]; then
        echo "$VMSEC_GUEST_CACHE"
    elif [ -n "${XDG_CACHE_HOME:-}" ]; then
        echo "$XDG_CACHE_HOME/vmsec-guest"
    elif [ -n "${HOME:-}" ] && [ "$HOME" != / ]; then
        echo "$HOME/.cache/vmsec-guest"
    else
        echo "${TMPDIR:-/tmp}/vmsec-guest-cache-$(id -u)"
    fi
}

# Looks for the tools; sets guest_qemu and guest_busybox, or guest_why and fails.
guest_find_tools() {
    guest_qemu=${VMSEC_GUEST_QEMU:-qemu-system-x86_64}
    if ! command -v "$guest_qemu" >/dev/null 2>&1; then
        guest_why="$guest_qemu not found (Debian package qemu-system-x86)"
        return 1
    fi
    guest_busybox=${VMSEC_GUEST_BUSYBOX:-$(command -v busybox 2>/dev/null)}
    if [ -z "$guest_busybox" ] || [ ! -x "$guest_busybox" ]; then
        guest_why="busybox not found (Debian package busybox-static)"
        return 1
    fi
    if ! guest_is_static "$guest_busybox"; then
        guest_why="$guest_busybox is dynamically linked; the guest needs busybox-static"
        return 1
    fi
    for t in cpio dpkg-deb tar; do
        command -v $t >/dev/null 2>&1 || { guest_why="$t not found"; return 1; }
    done
}

# Unpacks the kernel image and the vsock modules from a kernel .deb into DIR (flat: DIR/vmlinuz,
# DIR/<module>.ko, DIR/release). Compressed modules are decompressed here, on the host, so the
# guest only ever needs busybox's insmod.
guest_unpack_deb() { # DEB DIR
    list=$(dpkg-deb --fsys-tarfile "$1" | tar -t) || return 1
    image=$(echo "$list" | grep -E '^\./boot/vmlinuz-' | head -n 1)
    [ -n "$image" ] || { echo "no /boot/vmlinuz-* in $1"; return 1; }
    wanted=$image
    for m in $guest_modules; do
        f=$(echo "$list" | grep -E "/kernel/net/vmw_vsock/$m\.ko(\.xz|\.zst|\.gz)?\$" | head -n 1)
        [ -n "$f" ] || { echo "no $m.ko in $1"; return 1; }
        wanted="$wanted $f"
    done
    mkdir -p "$2/x" || return 1
    # shellcheck disable=SC2086
    dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2/x" $wanted || return 1
    mv "$2/x/$image" "$2/vmlinuz" || return 1
    echo "${image#./boot/vmlinuz-}" >"$2/release"
    for f in $wanted; do
        case $f in
        */vmlinuz-*) continue ;;
        *.ko) mv "$2/x/$f" "$2/" ;;
        *.ko.xz) xz -dc "$2/x/$f" >"$2/$(basename "$f" .xz)" ;;
        *.ko.zst) zstd -qdc "$2/x/$f" >"$2/$(basename "$f" .zst)" ;;
        *.ko.gz) gzip -dc "$2/x/$f" >"$2/$(basename "$f" .gz)" ;;
        esac || { echo "cannot decompress $f (xz-utils, zstd or gzip missing?)"; return 1; }
    done
    rm -rf "$2/x"
}

# Makes a cached kernel available; sets guest_kdir and guest_kdesc, or guest_why and fails.
# The cache is keyed by package name and version: a new Debian kernel is fetched once, then reused.
guest_fetch_kernel() {
    cache=$(guest_cache_dir)
    mkdir -p "$cache" 2>/dev/null || { guest_why="cannot create the kernel cache $cache"; return 1; }
    if [ -n "${VMSEC_GUEST_KERNEL_DEB:-}" ]; then
        pkg=$(dpkg-deb -f "$VMSEC_GUEST_KERNEL_DEB" Package) &&
        ver=$(dpkg-deb -f "$VMSEC_GUEST_KERNEL_DEB" Version) ||
            { guest_why="$VMSEC_GUEST_KERNEL_DEB is not a readable .deb"; return 1; }
    else
        pkg=${VMSEC_GUEST_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
            awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')}
        ver=""
        [ -n "$pkg" ] && ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
            awk '$1 == "Version:" { print $2; exit }')
        if [ -z "$ver" ]; then
            # No package index (offline, no apt): fall back to the newest cached kernel.
            last=$(ls -1td "$cache"/linux-image-*/ 2>/dev/null | head -n 1)
            if [ -n "$last" ] && [ -f "$last/complete" ]; then
                guest_kdir=${last%/}
                guest_kdesc="$(basename "$guest_kdir") (cached; apt could not resolve linux-image-amd64)"
                return 0
            fi
            guest_why="cannot resolve the kernel package (apt-cache depends linux-image-amd64;"
            guest_why="$guest_why run apt-get update) and none is cached in $cache"
            return 1
        fi
    fi
    key=$(echo "${pkg}_$ver" | tr -c 'A-Za-z0-9._+\n-' '_')
    guest_kdir=$cache/$key
    if [ -f "$guest_kdir/complete" ]; then
        guest_kdesc="$pkg $ver (cached in $cache)"
        return 0
    fi
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX") || { guest_why="cannot write to $cache"; return 1; }
    deb=${VMSEC_GUEST_KERNEL_DEB:-}
    if [ -z "$deb" ]; then
        if ! (cd "$tmp" && timeout 600 apt-get -q download "$pkg=$ver") >"$tmp/apt.log" 2>&1; then
            errs=$(grep -E '^(E|W):' "$tmp/apt.log" | head -n 2 | tr '\n' ' ')
            guest_why="apt-get download $pkg=$ver failed: $errs"
            rm -rf "$tmp"
            return 1
        fi
        deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
    fi
    if ! msg=$(guest_unpack_deb "$deb" "$tmp/k"); then
        guest_why="unpacking $pkg $ver: $msg"
        rm -rf "$tmp"
        return 1
    fi
    touch "$tmp/k/complete"
    # Atomic publish: a concurrent run that got there first wins and this copy is dropped.
    if mv -T "$tmp/k" "$guest_kdir" 2>/dev/null; then
        for old in "$cache"/linux-image-*; do # superseded kernels
            [ "$old" = "$guest_kdir" ] || [ ! -f "$old/complete" ] || rm -rf "$old"
        done
    fi
    rm -rf "$tmp"
    [ -f "$guest_kdir/complete" ] || { guest_why="cache entry $guest_kdir did not appear"; return 1; }
    guest_kdesc="$pkg $ver (downloaded into $cache)"
}

# Writes the guest's /init. It reports on the second serial port (ttyS1), which carries nothing
# else; the first (ttyS0) is the kernel console, kept for diagnostics.
guest_write_init() { # FILE PROGRAM_NAMES...
    f=$1
    shift
    cat >"$f" <<EOF
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
exec 3>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
echo "$guest_marker init \$(up)" >&3
for m in $guest_modules; do
    if out=\$(insmod /modules/\$m.ko 2>&1); then
        echo "$guest_marker module \$m ok" >&3
    else
        echo "$guest_marker module \$m failed: \$out" >&3
    fi
done
for p in $*; do
    echo "$guest_marker begin \$p" >&3
    timeout ${VMSEC_GUEST_PROGRAM_TIMEOUT:-240} /tests/\$p >&3 2>/tmp/stderr
    rc=\$?
    sed "s/^/$guest_marker stderr /" /tmp/stderr >&3
    echo "$guest_marker end \$p \$rc \$(up)" >&3
done
echo "$guest_marker done \$(up)" >&3
sync
poweroff -f
EOF
    chmod 755 "$f"
}

# Builds the initramfs (an uncompressed newc cpio) into FILE.
guest_build_initramfs() { # FILE PROGRAM...
    out=$1
    shift
    root=$guest_work/root
    mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/dev" "$root/proc" \
        "$root/sys" "$root/tmp" "$root/modules" "$root/tests" || return 1
    cp "$guest_busybox" "$root/bin/busybox" || return 1
    for m in $guest_modules; do
        cp "$guest_kdir/$m.ko" "$root/modules/" || return 1
    done
    names=""
    for p in "$@"; do
        cp "$p" "$root/tests/" || return 1
        names="$names $(basename "$p")"
    done
    guest_write_init "$root/init" $names
    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out"
}

# Starts QEMU and waits, bounded, for init (boot timeout) and for power-off (overall timeout).
# Sets guest_rc (QEMU's exit status, or "timeout"), guest_boot_ms (0 if init never ran) and
# guest_wall_ms.
guest_boot() { # INITRAMFS
    boot_limit=$((${VMSEC_GUEST_BOOT_TIMEOUT:-120} * 1000))
    all_limit=$((${VMSEC_GUEST_TIMEOUT:-600} * 1000))
    t0=$(guest_now_ms)
    # shellcheck disable=SC2086
    "$guest_qemu" -accel tcg -m "${VMSEC_GUEST_MEM:-512}" -smp "${VMSEC_GUEST_SMP:-1}" \
        ${VMSEC_GUEST_CPU:+-cpu "$VMSEC_GUEST_CPU"} \
        -nodefaults -no-user-config -display none -no-reboot \
        -chardev file,id=con,path="$guest_work/console.log" -serial chardev:con \
        -chardev file,id=tap,path="$guest_work/tap.log" -serial chardev:tap \
        -kernel "$guest_kdir/vmlinuz" -initrd "$1" \
        -append "console=ttyS0 panic=-1 oops=panic" \
        </dev/null >"$guest_work/qemu.log" 2>&1 &
    guest_qemu_pid=$!
    guest_boot_ms=0
    guest_rc=timeout
    while :; do
        now=$(guest_now_ms)
        if [ $guest_boot_ms -eq 0 ] && grep -q "^$guest_marker init" "$guest_work/tap.log" 2>/dev/null; then
            guest_boot_ms=$((now - t0))
        fi
        if ! kill -0 "$guest_qemu_pid" 2>/dev/null; then
            wait "$guest_qemu_pid"
            guest_rc=$?
            break
        fi
        if [ $guest_boot_ms -eq 0 ] && [ $((now - t0)) -gt $boot_limit ]; then
            guest_reason="no init within the boot timeout (${VMSEC_GUEST_BOOT_TIMEOUT:-120} s)"
            guest_kill
            break
        fi
        if [ $((now - t0)) -gt $all_limit ]; then
            guest_reason="guest still running at the overall timeout (${VMSEC_GUEST_TIMEOUT:-600} s)"
            guest_kill
            break
        fi
        sleep 0.25
    done
    guest_qemu_pid=""
    guest_wall_ms=$(($(guest_now_ms) - t0))
}

guest_kill() {
    [ -n "${guest_qemu_pid:-}" ] || return 0
    kill "$guest_qemu_pid" 2>/dev/null
    i=0
    while kill -0 "$guest_qemu_pid" 2>/dev/null && [ $i -lt 20 ]; do
        sleep 0.25
        i=$((i + 1))
    done
    kill -9 "$guest_qemu_pid" 2>/dev/null
    wait "$guest_qemu_pid" 2>/dev/null
    guest_qemu_pid=""
}

guest_cleanup() {
    guest_kill
    if [ "${VMSEC_GUEST_KEEP:-0}" = 1 ]; then
        echo "# guest scratch directory kept: $guest_work"
    else
        rm -rf "$guest_work"
    fi
}

# Shows, once, what the guest console says about how the guest died: from the first sign of a
# kernel crash when there is one, else its last lines; then QEMU's own messages.
guest_console_tail() {
    [ -z "${guest_console_shown:-}" ] || { diag "(guest console shown above)"; return; }
    guest_console_shown=1
    con=$guest_work/console.log
    first=$(grep -nE 'Kernel panic|BUG:|Oops|general protection|Call Trace' "$con" 2>/dev/null |
        head -n 1 | cut -d: -f1)
    if [ -n "$first" ]; then
        start=$((first > 3 ? first - 3 : 1))
        sed -n "$start,$((start + 44))p" "$con" >"$guest_work/console.excerpt"
        guest_diag_file "console" "$guest_work/console.excerpt" 45
    else
        guest_diag_file "console" "$con" 25
    fi
    guest_diag_file "qemu" "$guest_work/qemu.log" 5
}

# Relays what the guest reported on its TAP port, one program after another.
guest_relay() { # PROGRAM_NAMES...
    cur=""
    started=""
    guest_done=0
    while IFS= read -r line; do
        case $line in
        "$guest_marker init "*) ;;
        "$guest_marker module "*)
            rest=${line#"$guest_marker module "}
            case $rest in
            *" ok") ok "guest loaded ${rest% ok}.ko" ;;
            *) not_ok "guest loaded ${rest%% *}.ko: ${rest#* }" ;;
            esac
            ;;
        "$guest_marker begin "*)
            cur=${line#"$guest_marker begin "}
            started="$started $cur"
            n=0 plan="" nfail=0
            ;;
        "$guest_marker end "*)
            # shellcheck disable=SC2086
            guest_end_program ${line#"$guest_marker end "}
            cur=""
            ;;
        "$guest_marker done "*) guest_done=1 ;;
        "$guest_marker stderr "*) diag "${cur:-guest} stderr| ${line#"$guest_marker stderr "}" ;;
        "ok "* | "not ok "*)
            res=${line%%ok*}ok
            desc=$(echo "$line" | sed -E 's/^(not )?ok( [0-9]+)?( -)? ?//')
            n=$((n + 1))
            if [ "$res" = ok ]; then
                ok "${cur:-guest}: $desc"
            else
                nfail=$((nfail + 1))
                not_ok "${cur:-guest}: $desc"
            fi
            ;;
        1..*) plan=${line#1..} ;;
        "Bail out!"*) not_ok "${cur:-guest}: ${line}" ;;
        "#"*) echo "$line" ;;
        "") ;;
        *) diag "${cur:-guest}| $line" ;;
        esac
    done <<EOF
$(tr -d '\r' <"$guest_work/tap.log" 2>/dev/null)
EOF
    if [ -n "$cur" ]; then
        not_ok "$cur ran to completion: the guest stopped while it was running" \
            "(${guest_reason:-guest crashed})"
        guest_console_tail
    fi
    for p in "$@"; do
        case " $started " in
        *" $p "*) ;;
        *) not_ok "$p ran in the guest: never started" ;;
        esac
    done
}

guest_end_program() { # NAME STATUS UPTIME
    if [ "$2" -ge 124 ] 2>/dev/null; then
        why="killed (exit status $2; 124+ means the in-guest timeout or a signal)"
    elif [ -z "$plan" ]; then
        why="no TAP plan (exit status $2)"
    elif [ "$plan" != "$n" ]; then
        why="plan 1..$plan but $n results"
    elif [ "$2" -ne 0 ] && [ "$nfail" -eq 0 ]; then
        why="exit status $2 without a failing test"
    else
        ok "$1 ran to completion ($n tests, exit status $2)"
        return
    fi
    not_ok "$1 ran to completion: $why"
}

# The whole run: tools, kernel, initramfs, boot, relay. Ends with TAP lines only; the caller
# calls done_testing.
guest_run() { # PROGRAM...
    if ! guest_find_tools; then
        skip_or_fail "guest tests: $guest_why"
        return 0
    fi
    for p in "$@"; do
        if [ ! -x "$p" ]; then
            skip_or_fail "guest tests: $p was not built"
            return 0
        fi
        if ! guest_is_static "$p"; then
            skip_or_fail "guest tests: $p is not statically linked"
            return 0
        fi
    done
    if ! guest_fetch_kernel; then
        skip_or_fail "guest tests: no guest kernel: $guest_why"
        return 0
    fi
    ok "guest kernel $guest_kdesc, release $(cat "$guest_kdir/release" 2>/dev/null)"

    guest_work=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-guest.XXXXXX") || { not_ok "scratch directory"; return 0; }
    trap guest_cleanup EXIT
    trap 'exit 130' INT TERM
    names=""
    for p in "$@"; do names="$names $(basename "$p")"; done
    if ! guest_build_initramfs "$guest_work/initramfs.cpio" "$@" 2>"$guest_work/build.log"; then
        not_ok "initramfs built"
        guest_diag_file build "$guest_work/build.log" 10
        return 0
    fi
    kib=$(($(wc -c <"$guest_work/initramfs.cpio") / 1024))
    ok "initramfs built ($kib KiB: busybox, vsock modules,$names)"

    guest_reason=""
    guest_boot "$guest_work/initramfs.cpio"
    if [ $guest_boot_ms -gt 0 ]; then
        up=$(sed -n "s/^$guest_marker init \([0-9.]*\).*/\1/p" "$guest_work/tap.log" | tr -d '\r')
        ok "guest booted to init ($(guest_secs $guest_boot_ms) s wall, kernel uptime ${up:-?} s)"
    else
        not_ok "guest booted to init: ${guest_reason:-QEMU exited with status $guest_rc}"
        guest_console_tail
        return 0
    fi
    # shellcheck disable=SC2086
    guest_relay $names
    if [ "$guest_rc" = 0 ] && [ $guest_done = 1 ]; then
        ok "guest powered off cleanly ($(guest_secs $guest_wall_ms) s wall in all)"
    else
        not_ok "guest powered off cleanly: ${guest_reason:-QEMU exit status $guest_rc}"
        guest_console_tail
    fi
}
