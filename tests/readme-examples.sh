#!/bin/sh
# SPDX-License-Identifier: ISC
# The C examples in README.md compile and link against the built library, warning-free, and the
# Python example is valid Python: documentation that does not build is a bug.
. "$top_srcdir/tests/tap.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
awk -v dir="$tmp" '
    /^```c$/ { n++; f = dir "/example" n ".c"; inblock = 1; next }
    /^```python$/ { p++; f = dir "/example" p ".py"; inblock = 1; next }
    /^```/ { inblock = 0; next }
    inblock { print > f }
' "$top_srcdir/README.md"
count=0
for src in "$tmp"/example*.c; do
    [ -f "$src" ] || continue
    count=$((count + 1))
    name=$(basename "$src" .c)
    check "README C example $count compiles and links (-Wall -Wextra -Werror)" \
        sh -c "$CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I'$top_srcdir/include' -I'$top_builddir/include' \
               -o '$tmp/$name' '$src' -L'$top_builddir/lib/.libs' -lvmsec 2>'$tmp/$name.err'"
    [ -s "$tmp/$name.err" ] && sed 's/^/# /' "$tmp/$name.err"
done
check "README has C examples for both capabilities" [ "$count" -ge 2 ]
for src in "$tmp"/example*.py; do
    [ -f "$src" ] || continue
    check "README Python example is valid Python" python3 -m py_compile "$src"
done
done_testing
