#!/bin/sh
# SPDX-License-Identifier: ISC
# Proves the ABI gate catches breaks: scratch copies of libvmsec.so.1 are linked from the real
# objects with one deliberate change each, and abi/vmsec-abi must accept the compatible one and
# reject every incompatible one. The reference ABI is dumped from this build, so the test does not
# depend on the committed baseline being current.
. "$top_srcdir/tests/tap.sh"
tool="$top_srcdir/abi/vmsec-abi"
core="$top_builddir/lib/.libs/libvmsec-core.a"
sym="$top_srcdir/lib/libvmsec.sym"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
hd="$tmp/include/vmsec"

if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
    skip_or_fail "libabigail (abidw, abidiff; package abigail-tools) is not installed"
    done_testing
fi
rc=0
"$tool" dump "$top_builddir/lib/.libs/libvmsec.so.1" "$tmp/probe.abi" "$top_srcdir/include/vmsec" \
    >"$tmp/probe.log" 2>&1 || rc=$?
if [ $rc -eq 3 ]; then
    skip_or_fail "$(cat "$tmp/probe.log")"
    done_testing
fi

# Scratch headers: the public headers (source and generated), which mutations may edit.
mkdir -p "$hd" "$tmp/objs"
cp "$top_srcdir"/include/vmsec/*.h "$hd/"
cp "$top_builddir/include/vmsec/version.h" "$hd/version.h" 2>/dev/null || :
(cd "$tmp/objs" && ar x "$core")
cflags="-std=c11 -g -gdwarf-4 -O0 -fPIC -fvisibility=hidden -DHAVE_CONFIG_H -I$tmp/include -I$top_builddir
        -I$top_srcdir/lib ${VMSEC_SODIUM_CFLAGS:-}"

# link NAME VERSION_SCRIPT [EXTRA_OBJECT...]: a libvmsec.so.1 from the real objects.
link() {
    name=$1 script=$2; shift 2
    # shellcheck disable=SC2086
    $CC -shared -o "$tmp/$name.so" -Wl,-soname,libvmsec.so.1 -Wl,--version-script="$script" \
        "$tmp"/objs/*.o "$@" >"$tmp/$name.link.log" 2>&1
}
# verdict NAME: the exit status of `vmsec-abi compare` against the reference ABI.
verdict() {
    rc=0
    "$tool" compare "$tmp/reference.abi" "$tmp/$1.so" "$hd" >"$tmp/$1.report" 2>&1 || rc=$?
    sed 's/^/# /' "$tmp/$1.report"
    return $rc
}

check "scratch link of the unmodified objects" link same "$sym"
check "reference ABI dumped" "$tool" dump "$tmp/same.so" "$tmp/reference.abi" "$hd"
check "unmodified library passes the gate" verdict same

# Compatible: a new function in a new version node.
printf '#include <vmsec/common.h>\nVMSEC_EXPORT int vmsec_selftest_added(long x);\n' > "$hd/added.h"
printf '#include <vmsec/added.h>\nint vmsec_selftest_added(long x) { return (int)x; }\n' > "$tmp/added.c"
cp "$sym" "$tmp/added.sym"
printf 'VMSEC_1.99 { global: vmsec_selftest_added; } VMSEC_1.0;\n' >> "$tmp/added.sym"
# shellcheck disable=SC2086
check "compile an added function" $CC $cflags -c "$tmp/added.c" -o "$tmp/added.o"
link added "$tmp/added.sym" "$tmp/added.o"
check "an added symbol in a new version node passes the gate" verdict added
rm -f "$hd/added.h"

# Incompatible: vmsec_strerror dropped from the version script.
grep -v 'vmsec_strerror;' "$sym" > "$tmp/removed.sym"
link removed "$tmp/removed.sym"
verdict removed; rc=$?
check "a removed symbol fails the gate" [ $rc -eq 1 ]
check "the report names the removed symbol" grep -q "vmsec_strerror" "$tmp/removed.report"

# Incompatible: vmsec_strerror moved from VMSEC_1.0 to a later node.
grep -v 'vmsec_strerror;' "$sym" > "$tmp/moved.sym"
printf 'VMSEC_1.99 { global: vmsec_strerror; } VMSEC_1.0;\n' >> "$tmp/moved.sym"
link moved "$tmp/moved.sym"
verdict moved; rc=$?
check "a symbol moved to another version node fails the gate" [ $rc -eq 1 ]

# Option structs (doc/ABI.md): any layout change is reported, appending included (a release that
# appends records it with make abi-update); inserting before existing members is a real break.
# opts_v1 is the reference here.
# opts NAME MEMBERS: a library exporting vmsec_selftest_use(const vmsec_selftest_options *).
opts() {
    mkdir -p "$tmp/$1/vmsec"
    printf '#include <vmsec/common.h>\ntypedef struct vmsec_selftest_options { unsigned int version; %s } vmsec_selftest_options;\nVMSEC_EXPORT int vmsec_selftest_use(const vmsec_selftest_options *opts);\n' \
        "$2" > "$tmp/$1/vmsec/opts.h"
    printf '#include <vmsec/opts.h>\nint vmsec_selftest_use(const vmsec_selftest_options *opts) { return (int)opts->version + opts->a; }\n' \
        > "$tmp/$1/opts.c"
    cp "$sym" "$tmp/$1.sym"
    printf 'VMSEC_1.99 { global: vmsec_selftest_use; } VMSEC_1.0;\n' >> "$tmp/$1.sym"
    # shellcheck disable=SC2086
    $CC $cflags -I"$tmp/$1" -c "$tmp/$1/opts.c" -o "$tmp/$1.o" && link "$1" "$tmp/$1.sym" "$tmp/$1.o"
}
check "build the option struct reference" opts opts_v1 "int a;"
"$tool" dump "$tmp/opts_v1.so" "$tmp/opts_v1.abi" "$tmp/opts_v1/vmsec"
check "build an option struct with a member appended" opts opts_appended "int a; long added;"
check "build an option struct with a member inserted" opts opts_inserted "long added; int a;"
rc=0; "$tool" compare "$tmp/opts_v1.abi" "$tmp/opts_appended.so" "$tmp/opts_appended/vmsec" >"$tmp/appended.report" 2>&1 || rc=$?
sed 's/^/# /' "$tmp/appended.report"
check "a member appended to an option struct is reported for review" [ $rc -eq 1 ]
rc=0; "$tool" compare "$tmp/opts_v1.abi" "$tmp/opts_inserted.so" "$tmp/opts_inserted/vmsec" >"$tmp/inserted.report" 2>&1 || rc=$?
sed 's/^/# /' "$tmp/inserted.report"
check "a member inserted into a versioned option struct fails the gate" [ $rc -eq 1 ]

# mutate_keys NAME SED_SCRIPT: a library whose keys.c (and scratch keys.h) went through SED_SCRIPT.
mutate_keys() {
    sed "$2" "$top_srcdir/lib/channel/keys.c" > "$tmp/$1.c"
    cp "$top_srcdir/include/vmsec/keys.h" "$hd/keys.h"
    sed -i "$2" "$hd/keys.h"
    ! cmp -s "$top_srcdir/lib/channel/keys.c" "$tmp/$1.c" || { diag "$1: the mutation did not apply to keys.c"; return 1; }
    mkdir -p "$tmp/$1.objs"
    cp "$tmp"/objs/*.o "$tmp/$1.objs/"
    rm -f "$tmp/$1.objs/"*keys.o
    # shellcheck disable=SC2086
    $CC $cflags -c "$tmp/$1.c" -o "$tmp/$1.objs/keys.o" &&
        $CC -shared -o "$tmp/$1.so" -Wl,-soname,libvmsec.so.1 -Wl,--version-script="$sym" "$tmp/$1.objs"/*.o
}

# Compatible: the layout of a private type (the opaque vmsec_keypair) changes.
check "build with a field added to the private struct vmsec_keypair" \
    mutate_keys private 's/^struct vmsec_keypair {$/struct vmsec_keypair {\n    uint64_t selftest_private_field;/'
check "a private type's layout change passes the gate" verdict private

# Incompatible: vmsec_key_bytes() returns int instead of size_t (header and source changed alike).
check "build with vmsec_key_bytes() returning int" \
    mutate_keys changed 's/size_t vmsec_key_bytes(void)/int vmsec_key_bytes(void)/'
check "the signature mutation reached the header too" grep -q 'int vmsec_key_bytes(void);' "$hd/keys.h"
verdict changed; rc=$?
check "a changed return type fails the gate" [ $rc -eq 1 ]
check "the report names the changed function" grep -q "vmsec_key_bytes" "$tmp/changed.report"
done_testing
