#!/bin/sh
# SPDX-License-Identifier: ISC
# Bash completion (examples/completion/vmsec.bash): registered for every installed tool, and
# completing what each tool's --help says: subcommands, options, choices, addresses and files.
. "$top_srcdir/tests/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmsec-completion.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! command -v bash >/dev/null 2>&1; then
    check "bash is installed (needed to test the completion)" false
    done_testing
    exit
fi
# comp TOOL WORD...: the completions bash would offer for the last WORD, one line, sorted
cat >"$tmp/comp.bash" <<EOS
PATH="$top_builddir/examples:$top_builddir/daemon:\$PATH"
. "$top_srcdir/examples/completion/vmsec.bash"
comp() { COMP_WORDS=("\$@"); COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1)); _vmsec_complete "\$1"; [ \${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "\${COMPREPLY[@]}" | sort | tr '\n' ' '; }
EOS
comp() { bash -c ". '$tmp/comp.bash'; comp \"\$@\"" comp "$@"; }
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

for prog in $VMSEC_BIN_PROGRAMS; do
    t=${prog##*/}
    check "completion is registered for $t" bash -c ". '$tmp/comp.bash'; complete -p $t | grep -q _vmsec_complete"
    out=$(comp "$t" --)
    missing=
    for opt in $("$top_builddir/$prog" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        has "$out" "$opt" || missing="$missing $opt"
    done
    check "$t: every long option of --help completes (missing:${missing:- none})" [ -z "$missing" ]
done
out=$(comp vmsec-profile "")
check "vmsec-profile offers its subcommands" sh -c "[ '$out' = 'apply check host-check render verify ' ]"
out=$(comp vmsec-profile verify "")
check "no subcommand is offered once one is given" sh -c "! echo '$out' | grep -qw verify"
out=$(comp vmsec-plan plan --policy "")
check "a choice list completes from the usage line (--policy)" [ "$out" = "isolate prefer require " ]
out=$(comp vmsec-plan plan --fit s)
check "a choice completes from its prefix (--fit s)" [ "$out" = "spread " ]
out=$(comp vmsec-nc "")
check "vmsec-nc completes address kinds" [ "$out" = "tcp: unix: vsock: " ]
out=$(comp vmsec-nc --vi)
out2=$(comp vmsec-nc --via "")
check "vmsec-nc --vi completes to --via, whose argument is an address kind" \
    sh -c "[ '$out' = '--via ' ] && [ '$out2' = 'tcp: unix: vsock: ' ]"
out=$(comp vmsec-nc --via unix:/x --to "")
check "vmsec-nc --to DOMAIN offers no file names" [ -z "$out" ]
out=$(comp vmsec-nc -l --rel)
check "vmsec-nc --rel completes to --relayed" [ "$out" = "--relayed " ]
out=$(comp vmsec-keygen --pu)
check "vmsec-keygen --pu completes to --pubkey" [ "$out" = "--pubkey " ]
out=$(comp vmsec-relayd --max-sessions "")
check "a numeric argument offers nothing" [ -z "$out" ]
: >"$tmp/policy-one.conf"
out=$(comp vmsec-relayd -p "$tmp/policy-")
check "a FILE argument completes file names" [ "$out" = "$tmp/policy-one.conf " ]
out=$(comp vmsec-profile check "$tmp/pol")
check "an operand completes file names" [ "$out" = "$tmp/policy-one.conf " ]
done_testing
