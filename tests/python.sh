#!/bin/sh
# SPDX-License-Identifier: ISC
# The Python bindings: pip-installs bindings/python with Debian's python3 and no package index, then
# runs their unittest suites against the freshly built libvmsec.so.1. Each unittest case is one TAP line.
. "$top_srcdir/tests/tap.sh"
py=${VMSEC_PYTHON:-/usr/bin/python3}
if ! [ -x "$py" ] || ! "$py" -c 'import setuptools, pip' 2>/dev/null; then
    skip_or_fail "Debian python3 with pip and setuptools not found (install python3-pip python3-setuptools)"
    done_testing
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -R "$top_srcdir/bindings/python" "$tmp/src" && chmod -R u+w "$tmp/src"
check "pip install ./bindings/python (no index, Debian packages only)" \
    sh -c "'$py' -m pip install -q --no-index --no-build-isolation --no-deps --target '$tmp/site' '$tmp/src' >'$tmp/pip.log' 2>&1"
[ -s "$tmp/pip.log" ] && sed 's/^/# /' "$tmp/pip.log"
export VMSEC_LIBRARY="$top_builddir/lib/.libs/libvmsec.so.1"
# A sanitizer build's library needs its runtime loaded first; CPython's own allocations are not
# the library's, so leak detection is left to the C suites there.
if [ "${VMSEC_SANITIZED:-0}" = 1 ]; then
    if [ -z "${VMSEC_SANITIZER_RUNTIME:-}" ]; then
        skip_or_fail "sanitizer build without a known sanitizer runtime to preload into python3"
        done_testing
    fi
    # libtirpc (libvirt's XDR) is preloaded too: the runtime intercepts xdr_* and must find the
    # real functions at start-up, before python3 dlopens libvmsec -> libvirt -> libtirpc.
    tirpc=$(ldconfig -p 2>/dev/null | sed -n 's/^[[:space:]]*libtirpc\.so\.3 .*=> //p' | head -n 1)
    export LD_PRELOAD="$VMSEC_SANITIZER_RUNTIME${tirpc:+ $tirpc}" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
export PYTHONPATH="$tmp/site" VMSEC_TOP_BUILDDIR="$top_builddir" VMSEC_TOP_SRCDIR="$top_srcdir" PIP_ROOT_USER_ACTION=ignore
check "installed package imports from the install target" \
    sh -c "cd '$tmp' && '$py' -c 'import vmsec, sys; sys.exit(0 if vmsec.__file__.startswith(\"$tmp/site\") else 1)'"
VMSEC_LIBRARY=/nonexistent/libvmsec.so.1 "$py" -c 'import vmsec' 2>"$tmp/err" >/dev/null
check "a bad VMSEC_LIBRARY is a clear ImportError" grep -q "cannot load libvmsec.so.1 from /nonexistent" "$tmp/err"
# Run every test module; report each test case as a TAP line.
cat > "$tmp/run.py" <<'PY'
import sys, unittest
suite = unittest.defaultTestLoader.discover(sys.argv[1], pattern="test_*.py", top_level_dir=sys.argv[1])
def cases(s):
    for t in s:
        if isinstance(t, unittest.TestSuite):
            yield from cases(t)
        else:
            yield t
n = int(sys.argv[2]); failed = 0
for case in cases(suite):
    r = unittest.TestResult()
    case.run(r)
    n += 1
    if r.errors or r.failures or r.unexpectedSuccesses:
        failed = 1
        print(f"not ok {n} - python {case.id()}")
        for _, tb in r.errors + r.failures:
            print("\n".join("# " + l for l in tb.splitlines()))
    elif r.skipped:
        reason = r.skipped[0][1]
        print(f"ok {n} - python {case.id()} # SKIP {reason}")
    else:
        print(f"ok {n} - python {case.id()}")
if isinstance(suite, unittest.TestSuite) and suite.countTestCases() == 0:
    print(f"not ok {n + 1} - no python tests found"); n += 1; failed = 1
print(f"__N__ {n}")
sys.exit(failed)
PY
cd "$tmp" && "$py" run.py "$top_srcdir/bindings/python/tests" "$tap_n" > "$tmp/out" 2>"$tmp/err"; rc=$?
grep -v '^__N__' "$tmp/out"
tap_n=$(sed -n 's/^__N__ //p' "$tmp/out"); [ -n "$tap_n" ] || { tap_n=0; not_ok "python runner crashed"; sed 's/^/# /' "$tmp/err"; }
[ $rc -eq 0 ] || tap_failed=1
done_testing
