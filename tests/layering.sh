#!/bin/sh
# SPDX-License-Identifier: ISC
# The library's layering (doc/architecture.md), checked from the #include lines under lib/:
#  - every source lives in an area folder: common, isolation, channel, relay;
#  - an area includes private headers only of its own and of common;
#  - an area includes only the public headers of the areas it may use (relay: channel's too), and
#    never the umbrella <vmsec.h>;
#  - no two modules use each other's internals: the module graph (a module is a file's name up to
#    its first '_', a private header's name less '_internal'/'_keys'/...) has no cycle.
. "$top_srcdir/tests/tap.sh"
lib="$top_srcdir/lib"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

public_of() {
    case $1 in
    common) echo "common errors version report" ;;
    isolation) echo "profile domain hostcheck planner" ;;
    channel) echo "keys channel transport session" ;;
    relay) echo "relay policy" ;;
    esac
}
uses() {
    case $1 in
    common) echo "common" ;;
    isolation) echo "common isolation" ;;
    channel) echo "common channel" ;;
    relay) echo "common channel relay" ;;
    esac
}

stray=$(cd "$lib" && find . -maxdepth 1 -name '*.[ch]' | sed 's|^\./||' | sort | tr '\n' ' ')
check "no source lives directly in lib/ (found: ${stray:-none})" [ -z "$stray" ]
areas=$(cd "$lib" && find . -mindepth 1 -maxdepth 1 -type d ! -name '.*' | sed 's|^\./||' | sort | tr '\n' ' ')
check "the areas are channel, common, isolation and relay (found: $areas)" \
    [ "$areas" = "channel common isolation relay " ]

n=0
for f in $(cd "$lib" && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
    n=$((n + 1))
    area=${f%%/*}
    allowed_private=$(uses "$area")
    allowed_public=""
    for a in $allowed_private; do allowed_public="$allowed_public $(public_of "$a")"; done
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]\([^">]*\)[">].*/\1/p' "$lib/$f" > "$tmp/inc"
    while read -r inc; do
        case $inc in
        vmsec.h) echo "$f: includes the umbrella <vmsec.h>; name the module headers it needs" ;;
        vmsec/*.h)
            h=${inc#vmsec/}; h=${h%.h}
            echo " $allowed_public " | grep -q " $h " ||
                echo "$f: area $area may not include public header $inc" ;;
        */*)
            a=${inc%%/*}
            if [ -d "$lib/$a" ]; then
                echo " $allowed_private " | grep -q " $a " ||
                    echo "$f: area $area may not include $inc (private to area $a)"
                [ -f "$lib/$inc" ] || echo "$f: includes $inc, which does not exist"
            fi ;;
        *.h)
            [ -f "$lib/$area/$inc" ] && echo "$f: includes \"$inc\" without its area (\"$area/$inc\")" ;;
        esac
    done < "$tmp/inc" >> "$tmp/violations"
done
check "the layering holds for the $n files under lib/" [ ! -s "$tmp/violations" ]
[ -s "$tmp/violations" ] && sed 's/^/# /' "$tmp/violations"

# Module graph: an edge M N for each private include of module N by a file of module M.
module_of() {
    b=$(basename "$1"); b=${b%.[ch]}
    case $b in
    internal) echo "common" ;;            # common/internal.h: the shared error helpers
    *) echo "${b%%_*}" ;;
    esac
}
for f in $(cd "$lib" && find . -name '*.[ch]' | sed 's|^\./||'); do
    m="${f%%/*}/$(module_of "$f")"
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z]*\/[^"]*\)".*/\1/p' "$lib/$f" |
        while read -r inc; do
            [ -f "$lib/$inc" ] || continue
            d="${inc%%/*}/$(module_of "$inc")"
            [ "$d" != "$m" ] && echo "$m $d"
        done
done | sort -u > "$tmp/edges"
check "the module graph has edges to check ($(wc -l < "$tmp/edges"))" [ -s "$tmp/edges" ]
tsort "$tmp/edges" > /dev/null 2> "$tmp/cycles"
check "no two modules under lib/ depend on each other's internals" [ ! -s "$tmp/cycles" ]
if [ -s "$tmp/cycles" ]; then
    sed 's/^/# /' "$tmp/cycles"
    sed 's/^/# edge: /' "$tmp/edges"
fi
done_testing
