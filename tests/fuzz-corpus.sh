#!/bin/sh
# SPDX-License-Identifier: ISC
# Replays every fuzz target over its corpus (seeds and past findings, fuzz/corpus/<target>/): an
# input that once crashed a target, or fails one of its oracles, fails this test.
. "$top_srcdir/tests/tap.sh"
for t in $FUZZ_TARGETS; do
    name=$(basename "$t")
    corpus="$top_srcdir/fuzz/corpus/$name"
    if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
        not_ok "$name: no corpus in fuzz/corpus/$name/"
        continue
    fi
    # Both drivers take files as arguments and run each input once (libFuzzer: no fuzzing).
    # shellcheck disable=SC2046
    if "$top_builddir/$t" $(find "$corpus" -type f | sort) >"$name.replay.log" 2>&1; then
        ok "$name: replays $(find "$corpus" -type f | wc -l) corpus inputs ($FUZZ_ENGINE)"
    else
        not_ok "$name: corpus replay failed ($FUZZ_ENGINE)"
        tail -n 40 "$name.replay.log" | sed 's/^/# /'
    fi
    rm -f "$name.replay.log"
done
[ -n "$FUZZ_TARGETS" ] || not_ok "no fuzz targets are declared"
done_testing
