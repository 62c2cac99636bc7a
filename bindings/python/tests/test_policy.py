# SPDX-License-Identifier: ISC
"""Relay policy through ctypes: the raw prototype table is enough to load and evaluate a policy."""
import ctypes
import unittest

import vmsec
from vmsec import _lib


class TestPolicy(unittest.TestCase):
    def load(self, text: bytes) -> ctypes.c_void_p:
        p = ctypes.c_void_p()
        _lib.lib.vmsec_policy_load_string(ctypes.byref(p), text, len(text), b"py.conf")
        self.addCleanup(_lib.lib.vmsec_policy_free, p)
        return p

    def test_first_match_and_default_deny(self):
        p = self.load(b"service db port 5432\ngroup web = web-*\nallow db from @web to db-1\n")
        line = ctypes.c_uint()
        tags = (ctypes.c_char_p * 1)(None)
        self.assertEqual(0, _lib.lib.vmsec_policy_check(p, b"db", b"web-3", tags, b"db-1", tags,
                                                         ctypes.byref(line)))
        self.assertEqual(3, line.value)
        with self.assertRaises(vmsec.Denied) as ctx:
            _lib.lib.vmsec_policy_check(p, b"db", b"other", None, b"db-1", None, None)
        self.assertIn("default deny", str(ctx.exception))
        port = ctypes.c_uint32()
        _lib.lib.vmsec_policy_service_port(p, b"db", ctypes.byref(port))
        self.assertEqual(5432, port.value)

    def test_tags_from_python(self):
        p = self.load(b"allow s from tag:front to *\n")
        tags = (ctypes.c_char_p * 2)(b"front", None)
        self.assertEqual(0, _lib.lib.vmsec_policy_check(p, b"s", b"any", tags, b"t", None, None))

    def test_parse_error_names_file_and_line(self):
        with self.assertRaises(vmsec.Error) as ctx:
            self.load(b"allow s from a to b\nbogus\n")
        self.assertIn("py.conf:2: unknown keyword 'bogus'", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
