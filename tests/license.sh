#!/bin/sh
# SPDX-License-Identifier: ISC
# Every source file says its license (ISC, COPYING) on an SPDX line in its first five lines, so a
# new file cannot quietly arrive without one. Sources are C, headers, shell and Python, autotools
# input (am, ac, m4, .in templates), the version script, suppression files, debian/rules and any
# script with a #! line; test vectors, fuzz corpora and test data are data, and are not checked.
# The tracked files are checked in a git clone, the distributed ones (less what autotools
# generated) in a release tarball.
. "$top_srcdir/tests/tap.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$top_srcdir" || exit 1
if git rev-parse --show-toplevel >/dev/null 2>&1 &&
   [ "$(git rev-parse --show-toplevel)" = "$(pwd -P)" ]; then
    git ls-files >"$tmp/all"
    diag "checking the files git tracks"
else
    # A tarball: leave out what autoreconf and configure write (they carry their own notices) and an
    # in-tree build's distcheck folders.
    find . -type f ! -path './build-aux/*' ! -path './autom4te.cache/*' ! -name Makefile.in \
        ! -name Makefile ! -name configure ! -name aclocal.m4 ! -name 'config.h.in' \
        ! -path './m4/libtool.m4' ! -path './m4/lt*.m4' ! -name libtool ! -name config.status \
        ! -path './_build/*' ! -path './vmsec-*/*' | sed 's|^\./||' >"$tmp/all"
    diag "no git clone here: checking the distributed files"
fi
: >"$tmp/sources"
while IFS= read -r f; do
    [ -f "$f" ] || continue
    case $f in
    tests/data/* | tests/vectors/* | fuzz/corpus/* | fuzz/findings/*) continue ;;
    *.c | *.h | *.sh | *.py | *.am | *.ac | *.m4 | *.in | *.bash | *.supp | *.sym | *.abignore) ;;
    debian/rules) ;;
    *) [ "$(head -c 2 "$f")" = '#!' ] || continue ;;
    esac
    echo "$f" >>"$tmp/sources"
done <"$tmp/all"
count=$(wc -l <"$tmp/sources")
diag "$count source files"
check "the source files are found (more than 200)" [ "$count" -gt 200 ]
: >"$tmp/missing"
while IFS= read -r f; do
    head -n 5 "$f" | grep -q 'SPDX-License-Identifier: ISC' || echo "$f" >>"$tmp/missing"
done <"$tmp/sources"
sed 's/^/# no SPDX-License-Identifier: ISC line: /' "$tmp/missing"
check "every source file has an SPDX-License-Identifier: ISC line" [ ! -s "$tmp/missing" ]
check "COPYING is the ISC license" grep -q '^ISC License' COPYING
done_testing
