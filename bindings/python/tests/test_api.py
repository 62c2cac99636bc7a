# SPDX-License-Identifier: ISC
"""The prototype table covers exactly the library's public API (lib/libvmsec.sym)."""
import os
import re
import unittest

from vmsec import _lib


class TestPrototypeTable(unittest.TestCase):
    def test_every_exported_symbol_is_declared(self):
        srcdir = os.environ.get("VMSEC_TOP_SRCDIR")
        if not srcdir:
            self.skipTest("VMSEC_TOP_SRCDIR not set (run through tests/python.sh)")
        with open(os.path.join(srcdir, "lib", "libvmsec.sym")) as f:
            exported = set(re.findall(r"^\s*(vmsec_[a-z0-9_]+);", f.read(), re.M))
        declared = set(_lib.PROTOTYPES)
        self.assertEqual(sorted(exported - declared), [], "exported but not declared in bindings")
        self.assertEqual(sorted(declared - exported), [], "declared in bindings but not exported")

    def test_prototypes_match_the_headers(self):
        """Each entry has the C function's parameter count and a return type that fits it."""
        import ctypes
        import glob
        srcdir = os.environ.get("VMSEC_TOP_SRCDIR")
        if not srcdir:
            self.skipTest("VMSEC_TOP_SRCDIR not set (run through tests/python.sh)")
        decls = {}
        # Generated headers (vmsec/version.h) live in the build tree, which differs out of tree.
        builddir = os.environ.get("VMSEC_TOP_BUILDDIR", srcdir)
        headers = set(glob.glob(os.path.join(srcdir, "include", "vmsec", "*.h")))
        headers |= set(glob.glob(os.path.join(builddir, "include", "vmsec", "*.h")))
        for header in sorted(headers):
            with open(header) as f:
                text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
            text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
            for m in re.finditer(r"VMSEC_EXPORT\s+([^;{]*?)\b(vmsec_\w+)\s*\(([^)]*)\)\s*;", text, re.S):
                params = " ".join(m.group(3).split())
                decls[m.group(2)] = (" ".join(m.group(1).split()), 0 if params in ("", "void") else params.count(",") + 1)
        returns = {"int": (_lib.STATUS, ctypes.c_int), "size_t": (ctypes.c_size_t,), "void": (None,),
                   "const char *": (ctypes.c_char_p,), "unsigned int": (ctypes.c_uint,),
                   "uint32_t": (ctypes.c_uint32,), "uint64_t": (ctypes.c_uint64,), "short": (ctypes.c_short,)}
        for name, (restype, argtypes) in _lib.PROTOTYPES.items():
            with self.subTest(name=name):
                if name not in decls:
                    self.fail(f"{name}: no VMSEC_EXPORT declaration in include/vmsec/")
                ret, nparams = decls[name]
                self.assertEqual(len(argtypes), nparams, f"{name} takes {nparams} parameters in C")
                self.assertIn(restype, returns.get(ret, ()), f"{name} returns {ret} in C")

    def test_status_functions_raise(self):
        import ctypes
        import vmsec
        with self.assertRaises(vmsec.InvalidArgument):
            _lib.lib.vmsec_keypair_generate(None)
        self.assertEqual(ctypes.c_int, _lib.lib.vmsec_init.restype)


if __name__ == "__main__":
    unittest.main()


class TestExceptions(unittest.TestCase):
    """One class per error code, each also the built-in its code means; none takes a built-in's name."""

    def test_every_code_has_its_class_and_builtin(self):
        import builtins
        import warnings
        import vmsec
        from vmsec import errors
        expected = {
            -1: (ValueError,), -2: (MemoryError,), -3: (OSError,), -4: (PermissionError,),
            -5: (ValueError,), -6: (FileNotFoundError, KeyError), -7: (FileExistsError,),
            -8: (BlockingIOError,), -11: (TimeoutError,), -13: (ConnectionError,), -14: (ValueError,),
            -20: (ConnectionRefusedError,), -21: (OSError,),
        }
        for code, (name, _doc, _bases) in errors._CODES.items():
            exc = errors.from_code(code, "message from the library")
            self.assertIs(type(exc), getattr(vmsec, name))
            self.assertIsInstance(exc, vmsec.Error)
            self.assertEqual(exc.code, code)
            self.assertEqual(str(exc), "message from the library")
            self.assertFalse(hasattr(builtins, name), f"vmsec.{name} shadows a built-in")
            self.assertNotEqual(vmsec.strerror(code), "")
            for base in expected.get(code, ()):
                self.assertIsInstance(exc, base, f"{name} should be a {base.__name__}")
        # the built-in names a star import would shadow are not exported
        self.assertNotIn("IOError", vmsec.__all__ + errors.__all__)
        self.assertNotIn("PermissionError", vmsec.__all__ + errors.__all__)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertIs(vmsec.PermissionError, vmsec.PermissionDenied)
            self.assertIs(vmsec.IOError, vmsec.SystemCallError)
        self.assertEqual([w.category for w in caught], [DeprecationWarning, DeprecationWarning])
        with self.assertRaises(AttributeError):
            vmsec.NoSuchThing  # noqa: B018
