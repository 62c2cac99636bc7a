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

    def test_status_functions_raise(self):
        import ctypes
        import vmsec
        with self.assertRaises(vmsec.InvalidArgument):
            _lib.lib.vmsec_keypair_generate(None)
        self.assertEqual(ctypes.c_int, _lib.lib.vmsec_init.restype)


if __name__ == "__main__":
    unittest.main()
