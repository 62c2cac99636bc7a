# SPDX-License-Identifier: ISC
# VMSEC_HARDENING: --enable-sanitizers and --enable-fuzzing (see doc/HARDENING.md).
# Expanded before LT_INIT so that libtool records the sanitizing compiler command.
AC_DEFUN([VMSEC_HARDENING], [
AC_REQUIRE([AC_PROG_CC])
AC_REQUIRE([AC_USE_SYSTEM_EXTENSIONS])
AC_ARG_ENABLE([sanitizers],
  [AS_HELP_STRING([--enable-sanitizers],
    [build everything with AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer;
     any report aborts the process (used by make check-asan)])],
  [], [enable_sanitizers=no])
AC_ARG_ENABLE([fuzzing],
  [AS_HELP_STRING([--enable-fuzzing],
    [build the fuzz/ targets as libFuzzer programs for make fuzz-smoke (clang only; implies
     --enable-sanitizers)])],
  [], [enable_fuzzing=no])
AS_IF([test "x$enable_fuzzing" = xyes], [enable_sanitizers=yes])

# libabigail 2.2 (the ABI gate) misreads where clang's DWARF 5 declares types, so clang gets
# DWARF 4 unless the user chose CFLAGS.
AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [[
#ifndef __clang__
#error not clang
#endif
]])], [vmsec_cc_is_clang=yes], [vmsec_cc_is_clang=no])
AS_IF([test "x$vmsec_cc_is_clang" = xyes && test -z "$ac_cv_env_CFLAGS_set"],
  [CFLAGS="$CFLAGS -gdwarf-4"])

vmsec_sanitize=""
AS_IF([test "x$enable_sanitizers" = xyes],
  [vmsec_sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"])
AS_IF([test "x$enable_fuzzing" = xyes],
  [vmsec_sanitize="$vmsec_sanitize -fsanitize=fuzzer-no-link"])
AS_IF([test -n "$vmsec_sanitize"], [
  # The flags go into CC itself rather than CFLAGS/LDFLAGS: libtool then uses them for every
  # compile and link (shared library included), and tests that build programs with $CC (the
  # pkg-config consumer, the ABI self-test) link the same sanitizer runtime.
  CC="$CC $vmsec_sanitize"
  # configure.ac expands AC_PROG_CC again later; make its cached answer the sanitizing command.
  ac_cv_prog_CC=$CC
  AC_MSG_CHECKING([whether $CC builds sanitized programs])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])], [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([$CC cannot build with $vmsec_sanitize])])
  # The ASan runtime a non-instrumented host program (python3 loading the library through ctypes)
  # must LD_PRELOAD in this build; exported to tests as VMSEC_SANITIZER_RUNTIME.
  AS_IF([test "x$vmsec_cc_is_clang" = xyes],
    [VMSEC_SANITIZER_RUNTIME="`$CC -print-runtime-dir`/libclang_rt.asan-`uname -m`.so"],
    [VMSEC_SANITIZER_RUNTIME=`$CC -print-file-name=libasan.so`])
  AC_MSG_CHECKING([for the ASan runtime to preload into host programs])
  AS_IF([test -f "$VMSEC_SANITIZER_RUNTIME"], [AC_MSG_RESULT([$VMSEC_SANITIZER_RUNTIME])],
    [AC_MSG_RESULT([not found]); VMSEC_SANITIZER_RUNTIME=""])
  # clang links the sanitizer runtimes into executables only, leaving them undefined in shared
  # libraries, so --no-undefined must go for sanitized clang builds (gcc links libasan into both).
])
AC_CONFIG_COMMANDS_PRE([
  AS_IF([test -n "$vmsec_sanitize" && test "x$vmsec_cc_is_clang" = xyes],
    [VMSEC_LDFLAGS=`echo "$VMSEC_LDFLAGS" | sed 's/ *-Wl,--no-undefined//'`])
])

VMSEC_FUZZ_LDFLAGS=""
AS_IF([test "x$enable_fuzzing" = xyes], [
  vmsec_save_LDFLAGS=$LDFLAGS
  LDFLAGS="$LDFLAGS -fsanitize=fuzzer"
  AC_MSG_CHECKING([whether $CC links libFuzzer targets])
  AC_LINK_IFELSE([AC_LANG_SOURCE([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return data && size ? 0 : 0; }
]])], [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([--enable-fuzzing needs clang with libFuzzer (CC=clang)])])
  LDFLAGS=$vmsec_save_LDFLAGS
  VMSEC_FUZZ_LDFLAGS="-fsanitize=fuzzer"
])
AC_SUBST([VMSEC_FUZZ_LDFLAGS])
AC_SUBST([VMSEC_SANITIZER_RUNTIME])
AM_CONDITIONAL([ENABLE_FUZZING], [test "x$enable_fuzzing" = xyes])
AM_CONDITIONAL([ENABLE_SANITIZERS], [test "x$enable_sanitizers" = xyes])
])
