# SPDX-License-Identifier: ISC
# bash completion for the vmsec tools (vmsec-keygen, vmsec-nc, vmsec-demo, vmsec-relayd,
# vmsec-profile, vmsec-plan, vmsecd).
#
# The options, subcommands and choices come from each tool's own --help, read once per shell and
# tool, so completion follows the installed version without a list to keep in step:
# - subcommands: the word after the tool's name on its usage lines ("vmsec-profile verify ...");
# - options: every -x and --long on the option lines;
# - an option's argument: choices written A|B|C on a usage line, addresses for ADDRESS, files for
#   the rest (FILE, PATH, PROFILE...), nothing for numbers and names (DOMAIN, NAME).

# _vmsec_help_parse TOOL: fills _vmsec_cmds[TOOL], _vmsec_opts[TOOL], _vmsec_args[TOOL] (options
# that take an argument, "opt=METAVAR" words) and _vmsec_choices[TOOL] ("opt=a|b|c" words).
_vmsec_help_parse()
{
    local tool=${1##*/} help line word prev cmds="" opts="" args="" choices="" in_usage=0
    help=$("$1" --help 2>/dev/null) || return 1
    while IFS= read -r line; do
        # usage lines: "usage: TOOL ...", then indented lines until the first option line
        case $line in
        "usage: "*) in_usage=1 ;;
        " "*) case ${line#"${line%%[! ]*}"} in -*) in_usage=0 ;; esac ;;
        *) in_usage=0 ;;
        esac
        if [ $in_usage = 1 ]; then
            set -f
            # shellcheck disable=SC2086
            set -- $line
            set +f
            [ "$1" = usage: ] && shift
            if [ "${1##*/}" = "$tool" ]; then
                shift
                case $1 in [a-z]*) cmds="$cmds $1" ;; esac
            fi
            prev=
            for word in "$@"; do
                word=${word#[(\[]}
                word=${word%%[])]*}
                case $word in
                *"|"*) [ -n "$prev" ] && choices="$choices $prev=$word" ;;
                esac
                prev=$word
            done
            continue
        fi
        case $line in
        " "*-*) ;;
        *) continue ;;
        esac
        set -f
        # shellcheck disable=SC2086
        set -- $line
        set +f
        while [ $# -gt 0 ]; do
            word=${1%,}
            case $word in
            -?|--?*)
                opts="$opts $word"
                case $2 in
                [A-Z]*) args="$args $word=${2%,}" ;;
                esac
                ;;
            *) break ;;
            esac
            shift
        done
    done <<<"$help"
    _vmsec_cmds[$tool]=$cmds
    _vmsec_opts[$tool]=$opts
    _vmsec_args[$tool]=$args
    _vmsec_choices[$tool]=$choices
}

_vmsec_complete()
{
    local tool=${1##*/} cur=${COMP_WORDS[COMP_CWORD]} prev="" word metavar i have_cmd=0
    [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    if [ -z "${_vmsec_opts[$tool]+set}" ]; then
        _vmsec_help_parse "$1" || return 0
    fi
    # the argument of the option before the cursor
    for word in ${_vmsec_choices[$tool]}; do
        if [ "${word%%=*}" = "$prev" ]; then
            word=${word#*=}
            # shellcheck disable=SC2207
            COMPREPLY=($(compgen -W "${word//|/ }" -- "$cur"))
            return 0
        fi
    done
    for word in ${_vmsec_args[$tool]}; do
        if [ "${word%%=*}" = "$prev" ]; then
            metavar=${word#*=}
            case $metavar in
            N|MS|BYTES|VCPUS|CPUS|SECONDS|P|E|F|DOMAIN|NAME) ;;
            ADDRESS) compopt -o nospace 2>/dev/null
               # shellcheck disable=SC2207
               COMPREPLY=($(compgen -W "vsock: unix: tcp:" -- "$cur")) ;;
            *) compopt -o filenames 2>/dev/null
               # shellcheck disable=SC2207
               COMPREPLY=($(compgen -f -- "$cur")) ;;
            esac
            return 0
        fi
    done
    case $cur in
    -*)
        # shellcheck disable=SC2207
        COMPREPLY=($(compgen -W "${_vmsec_opts[$tool]}" -- "$cur"))
        return 0
        ;;
    esac
    for ((i = 1; i < COMP_CWORD; i++)); do
        case " ${_vmsec_cmds[$tool]} " in
        *" ${COMP_WORDS[i]} "*) have_cmd=1 ;;
        esac
    done
    if [ -n "${_vmsec_cmds[$tool]}" ] && [ $have_cmd = 0 ]; then
        # shellcheck disable=SC2207
        COMPREPLY=($(compgen -W "${_vmsec_cmds[$tool]}" -- "$cur"))
        return 0
    fi
    if [ "$tool" = vmsec-nc ]; then
        case $cur in
        *:*) ;;
        *)
            compopt -o nospace 2>/dev/null
            # shellcheck disable=SC2207
            COMPREPLY=($(compgen -W "vsock: unix: tcp:" -- "$cur"))
            return 0
            ;;
        esac
    fi
    compopt -o filenames 2>/dev/null
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -f -- "$cur"))
}

declare -gA _vmsec_cmds _vmsec_opts _vmsec_args _vmsec_choices 2>/dev/null || return 0
complete -F _vmsec_complete vmsec-keygen vmsec-nc vmsec-demo vmsec-relayd vmsec-profile vmsec-plan vmsecd
