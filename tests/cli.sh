#!/bin/sh
# SPDX-License-Identifier: ISC
# The command-line conventions every installed program shares (examples/common/cli.h): --version
# and --help on the program and on each subcommand, usage errors that exit 2 and name the option,
# enumerations that list their choices, error lines that name the tool once, and under --json an
# error object on stdout.
. "$top_srcdir/tests/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
version=$(sed -n 's/^#define VMSEC_VERSION_STRING "\(.*\)"$/\1/p' "$top_builddir/include/vmsec/version.h")
py=${VMSEC_PYTHON:-python3}
command -v "$py" >/dev/null 2>&1 || py=

# The subcommands a program's --help lists: the word after the program name on each usage line,
# when it is not an option or operand.
subcommands() {
    "$1" --help | sed -n "s/^\(usage:\|      \) $2 \([a-z][a-z-]*\)\( .*\)\?\$/\2/p"
}

# is_json FILE: FILE is exactly one JSON object with an "error" member holding code, name and
# message (strict UTF-8, as a consumer reading bytes would decode it).
is_json_error() {
    [ -n "$py" ] && "$py" -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
e = d["error"]
assert isinstance(e["code"], int) and e["code"] < 0 and e["name"].startswith("VMSEC_E") and e["message"]
' "$1"
}

# once FILE NAME: exactly one error line ("NAME: ..."; the usage lines after it start with
# "usage:"), and it names the tool once.
once() {
    [ "$(grep -c "^$2: " "$1")" = 1 ] && [ "$(grep "^$2: " "$1" | grep -o "$2" | wc -l)" = 1 ]
}

for prog in $VMSEC_BIN_PROGRAMS; do
    name=$(basename "$prog")
    bin="$top_builddir/$prog"
    subs=$(subcommands "$bin" "$name" | tr '\n' ' ')
    case $name in
    vmsec-profile) check "$name --help lists its subcommands" test "$subs" = "check render host-check apply verify " ;;
    vmsec-plan) check "$name --help lists its subcommands" test "$subs" = "topology audit plan " ;;
    esac
    for sub in "" $subs; do
        what="$name${sub:+ $sub}"
        out=$("$bin" $sub --version 2>"$tmp/err"); rc=$?
        check "$what --version exits 0" test $rc = 0
        check "$what --version prints '$name (vmsec) $version'" test "$out" = "$name (vmsec) $version"
        "$bin" $sub --help >"$tmp/out" 2>"$tmp/err"; rc=$?
        check "$what --help exits 0" test $rc = 0
        check "$what --help prints its usage on stdout" grep -q "^usage: $what " "$tmp/out"
        check "$what --help lists --version and the exit statuses" \
            sh -c "grep -q -- '--version' '$tmp/out' && grep -q '^exit status: 0 ' '$tmp/out'"
        check "$what --help writes nothing on stderr" test ! -s "$tmp/err"
        "$bin" $sub --no-such-option >"$tmp/out" 2>"$tmp/err"; rc=$?
        check "$what: an unknown option exits 2" test $rc = 2
        check "$what: ... and is named on stderr" grep -q "^$name: unknown option '--no-such-option'" "$tmp/err"
        check "$what: ... in one line naming the tool once" once "$tmp/err" "$name"
        check "$what: ... with nothing on stdout" test ! -s "$tmp/out"
    done
done

# Options taking a value name themselves when the value is missing or refused.
plan="$top_builddir/examples/vmsec-plan"
profile="$top_builddir/examples/vmsec-profile"
demo="$top_builddir/examples/vmsec-demo"
relayd="$top_builddir/examples/vmsec-relayd"
for opt in "--policy isolate, prefer, require" "--emulator share, dedicated" "--fit node, spread"; do
    o=${opt%% *} choices=${opt#* }
    "$plan" plan -n 1 "$o" bogus web >"$tmp/out" 2>"$tmp/err"; rc=$?
    check "vmsec-plan $o bogus exits 2" test $rc = 2
    check "... and lists the choices" grep -qxF "vmsec-plan: $o: 'bogus' is not one of: $choices" "$tmp/err"
    "$plan" plan -n 1 web "$o" >/dev/null 2>"$tmp/err"; rc=$?
    check "vmsec-plan $o without a value exits 2 naming it" sh -c "[ $rc = 2 ] && grep -qxF 'vmsec-plan: $o: missing argument' '$tmp/err'"
done
"$plan" plan -n many web >/dev/null 2>"$tmp/err"; rc=$?
check "vmsec-plan -n many exits 2 naming -n" sh -c "[ $rc = 2 ] && grep -qxF \"vmsec-plan: -n: 'many' is not a number\" '$tmp/err'"
"$relayd" -p x --drain-timeout soon >/dev/null 2>"$tmp/err"; rc=$?
check "vmsec-relayd --drain-timeout soon exits 2 naming it" sh -c "[ $rc = 2 ] && grep -q '^vmsec-relayd: --drain-timeout: ' '$tmp/err'"
"$top_builddir/examples/vmsec-nc" --pattern XY unix:"$tmp/s" >/dev/null 2>"$tmp/err"; rc=$?
check "vmsec-nc --pattern XY is a usage error naming the option" sh -c "[ $rc = 2 ] && grep -q '^vmsec-nc: --pattern: ' '$tmp/err'"

# Missing operands and commands are named.
"$profile" verify web.conf >/dev/null 2>"$tmp/err"; rc=$?
check "vmsec-profile verify without DOMAIN exits 2 naming it" sh -c "[ $rc = 2 ] && grep -qxF 'vmsec-profile: missing operand DOMAIN' '$tmp/err'"
check "... and shows verify's usage" grep -q '^usage: vmsec-profile verify ' "$tmp/err"
"$profile" >/dev/null 2>"$tmp/err"; rc=$?
check "vmsec-profile without a command exits 2 listing the commands" \
    sh -c "[ $rc = 2 ] && grep -qF 'missing command (one of: check, render, host-check, apply, verify)' '$tmp/err'"
"$plan" plan -n 1 >/dev/null 2>"$tmp/err"; rc=$?
check "vmsec-plan plan without DOMAIN exits 2 naming it" sh -c "[ $rc = 2 ] && grep -qxF 'vmsec-plan: missing operand DOMAIN' '$tmp/err'"
"$top_builddir/examples/vmsec-keygen" >/dev/null 2>"$tmp/err"; rc=$?
check "vmsec-keygen without -o exits 2 naming it" sh -c "[ $rc = 2 ] && grep -q '^vmsec-keygen: missing option -o PATH' '$tmp/err'"
"$plan" --help audit >"$tmp/out"; rc=$?
check "vmsec-plan --help audit (options first) prints audit's usage" \
    sh -c "[ $rc = 0 ] && [ \$(grep -c '^usage: vmsec-plan audit ' '$tmp/out') = 1 ] && ! grep -q 'vmsec-plan plan' '$tmp/out'"

# An error at line 4 of a file names the tool once and the file and line once.
printf 'name = x\nvcpus = 1\n\ncpu.pinn = 1\n' > "$tmp/f.conf"
"$profile" check "$tmp/f.conf" 2>"$tmp/err"; rc=$?
check "vmsec-profile check: a bad profile exits 2" test $rc = 2
check "... in one line naming the tool once" once "$tmp/err" vmsec-profile
check "... and f.conf:4 once" test "$(grep -o 'f\.conf' "$tmp/err" | wc -l)" = 1
check "... which is the library's message after the tool name" grep -qx "vmsec-profile: profile $tmp/f.conf:4: unknown key 'cpu.pinn'" "$tmp/err"
# A bad line and a contradiction among the valid lines: check reports both.
printf 'cpu.shares = 1\nnuma.mode = strict\n' > "$tmp/g.conf"
"$profile" check "$tmp/g.conf" 2>"$tmp/err"; rc=$?
check "vmsec-profile check: a bad line and a contradiction exit 2" test $rc = 2
check "... reporting the bad line" grep -qF "g.conf:1: cpu.shares: 1 is out of range 2..262144" "$tmp/err"
check "... and the contradiction" grep -qF "g.conf:2: numa.mode: requires numa.nodeset" "$tmp/err"
"$plan" plan -t "$tmp/f.conf" -n 1 web 2>"$tmp/err"; rc=$?
check "vmsec-plan: a bad topology file exits 2, naming the tool and the file once" \
    sh -c "[ $rc = 2 ] && [ \$(grep -o 'vmsec-plan' '$tmp/err' | wc -l) = 1 ] && [ \$(grep -o 'f\.conf' '$tmp/err' | wc -l) = 1 ]"
"$demo" "$tmp/f.conf" >/dev/null 2>"$tmp/err"; rc=$?
check "vmsec-demo: a bad profile exits 1, naming the tool and the file once" \
    eval "[ $rc = 1 ] && once '$tmp/err' vmsec-demo && [ \$(grep -o 'f\.conf' '$tmp/err' | wc -l) = 1 ]"
printf 'service echo port 5000\n\n\nalow echo from host to vm1\n' > "$tmp/p.conf"
"$relayd" -p "$tmp/p.conf" --check 2>"$tmp/err"; rc=$?
check "vmsec-relayd --check: names the tool and p.conf:4 once" \
    eval "[ $rc = 1 ] && once '$tmp/err' vmsec-relayd && [ \$(grep -o 'p\.conf:4' '$tmp/err' | wc -l) = 1 ]"
"$profile" verify -c test:///default "$top_srcdir/tests/data/domain/testdrv.conf" no-such-domain 2>"$tmp/err"; rc=$?
check "vmsec-profile verify: a missing domain is named once" \
    eval "[ $rc = 2 ] && once '$tmp/err' vmsec-profile && [ \$(grep -o no-such-domain '$tmp/err' | wc -l) = 1 ]"

# Under --json an error is also a JSON object on stdout (vmsec-profile, vmsec-demo: the programs
# with --json), with the code's name from errors.h; bytes that are not UTF-8 become U+FFFD.
if [ -z "$py" ]; then
    skip_or_fail "python3 is needed to parse the JSON output"
    done_testing
fi
# json_field FILE EXPR: prints EXPR evaluated on the document d (strict UTF-8).
json_field() {
    "$py" -c 'import json, sys; d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8")); print(eval(sys.argv[2]))' "$1" "$2"
}
for sub in check render host-check apply verify; do
    "$profile" $sub --json --no-such-option >"$tmp/out" 2>"$tmp/err"; rc=$?
    check "vmsec-profile $sub --json: a usage error exits 2 with a JSON error on stdout" \
        eval '[ $rc = 2 ] && is_json_error "$tmp/out"'
    check "... naming the option (VMSEC_EINVAL)" \
        test "$(json_field "$tmp/out" 'd["error"]["name"] + " " + d["error"]["message"]')" = "VMSEC_EINVAL unknown option '--no-such-option'"
done
"$profile" check --json "$tmp/f.conf" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "vmsec-profile check --json: a bad profile gives a JSON error" eval '[ $rc = 2 ] && is_json_error "$tmp/out"'
check "... with the code, its name and the library's message" \
    test "$(json_field "$tmp/out" '"%d %s %s" % (d["error"]["code"], d["error"]["name"], d["error"]["message"])')" = \
    "-5 VMSEC_EFORMAT profile $tmp/f.conf:4: unknown key 'cpu.pinn'"
check "... and the same line on stderr" grep -qx "vmsec-profile: profile $tmp/f.conf:4: unknown key 'cpu.pinn'" "$tmp/err"
bad=$(printf 'web\377')
"$profile" verify --json -c test:///default "$top_srcdir/tests/data/domain/testdrv.conf" "$bad" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "vmsec-profile verify --json: a missing domain is one JSON error on stdout (no report)" \
    eval '[ $rc = 2 ] && is_json_error "$tmp/out" && [ "$(wc -l < "$tmp/out")" = 1 ]'
check "... VMSEC_ENOTFOUND, its invalid byte replaced by U+FFFD" \
    test "$(json_field "$tmp/out" 'd["error"]["name"] + " " + str("web\ufffd" in d["error"]["message"])')" = "VMSEC_ENOTFOUND True"

"$demo" --json --no-such-option >"$tmp/out" 2>"$tmp/err"; rc=$?
check "vmsec-demo --json: a usage error exits 2 with a JSON error on stdout" eval '[ $rc = 2 ] && is_json_error "$tmp/out"'
"$demo" --json -d "$bad" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "vmsec-demo --json: a failing step exits 1 with the error in the document" eval '[ $rc = 1 ] && is_json_error "$tmp/out"'
check "... VMSEC_ENOTFOUND naming the step, result failed" \
    test "$(json_field "$tmp/out" 'd["error"]["name"] + " " + d["error"]["message"].split(":")[0] + " " + d["result"]')" = \
    "VMSEC_ENOTFOUND opening the domain failed"
check "... the domain name's invalid byte replaced by U+FFFD" \
    test "$(json_field "$tmp/out" '"web\ufffd" in d["error"]["message"]')" = True
cp "$top_srcdir/examples/profiles/demo.conf" "$tmp/$bad.conf"
"$demo" --json "$tmp/$bad.conf" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "vmsec-demo --json with a profile path holding byte 0xff exits 0" test $rc = 0
check "... and its document is valid UTF-8 JSON echoing the path with U+FFFD" \
    test "$(json_field "$tmp/out" 'd["profile"]["source"].endswith("/web\ufffd.conf") and d["result"]')" = ok
done_testing
