# SPDX-License-Identifier: ISC
"""Keys, errors and versions through the ctypes bindings, against the freshly built library."""
import os
import stat
import tempfile
import threading
import unittest

import vmsec

ALICE_SK = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PK_TEXT = "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="


class TestLibrary(unittest.TestCase):
    def test_version(self):
        major, minor, patch = vmsec.version_info()
        self.assertEqual(vmsec.version(), f"{major}.{minor}.{patch}")

    def test_strerror(self):
        self.assertEqual(vmsec.strerror(-9), "authentication failed")
        self.assertEqual(vmsec.strerror(12345), "unknown error")

    def test_error_classes_match_codes(self):
        for code in range(-1, -29, -1):
            exc = vmsec.errors.from_code(code, "m")
            self.assertIsInstance(exc, vmsec.Error)
            self.assertEqual(exc.code, code)
            self.assertIsNot(type(exc), vmsec.Error)
        self.assertIs(type(vmsec.errors.from_code(-999, "m")), vmsec.Error)


class TestKeys(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "host.key")

    def tearDown(self):
        self.dir.cleanup()

    def test_from_secret_rfc7748(self):
        with vmsec.Keypair.from_secret(ALICE_SK) as kp:
            self.assertEqual(kp.public_key.text, ALICE_PK_TEXT)
            self.assertEqual(str(kp.public_key), ALICE_PK_TEXT)

    def test_generate_distinct(self):
        with vmsec.Keypair.generate() as a, vmsec.Keypair.generate() as b:
            self.assertNotEqual(a.public_key, b.public_key)
            self.assertEqual(len(a.public_key.raw), vmsec.KEY_BYTES)

    def test_save_load_round_trip(self):
        with vmsec.Keypair.generate() as kp:
            kp.save(self.path)
            self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
            with vmsec.Keypair.load(self.path) as back:
                self.assertEqual(back.public_key, kp.public_key)

    def test_save_refuses_existing(self):
        with vmsec.Keypair.generate() as kp:
            kp.save(self.path)
            with self.assertRaises(vmsec.AlreadyExists) as cm:
                kp.save(self.path)
            self.assertIn("already exists", str(cm.exception))
            self.assertEqual(cm.exception.code, -7)
            kp.save(self.path, overwrite=True)

    def test_private_text_round_trip(self):
        with vmsec.Keypair.generate() as kp:
            text = kp.private_text()
            self.assertTrue(text.startswith(b"vmsec-private-key-v1 x25519 "))
            kp.save(self.path)
            with open(self.path, "rb") as f:
                self.assertEqual(f.read(), text)  # the key file's bytes
            with vmsec.Keypair.from_text(text) as back:
                self.assertEqual(back.public_key, kp.public_key)
            with vmsec.Keypair.from_text(text.decode().rstrip("\n")) as back:
                self.assertEqual(back.public_key, kp.public_key)
            with self.assertRaises(vmsec.FormatError) as cm:
                vmsec.Keypair.from_text(kp.public_key.text)
            self.assertIn("holds a public key", str(cm.exception))
            with self.assertRaises(ValueError):  # FormatError is a ValueError too
                vmsec.Keypair.from_text(text[:40])

    def test_load_errors_carry_context(self):
        with self.assertRaises(vmsec.NotFound) as cm:
            vmsec.Keypair.load(self.path)
        self.assertIn(self.path, str(cm.exception))
        with vmsec.Keypair.generate() as kp:
            kp.save(self.path)
        os.chmod(self.path, 0o644)
        with self.assertRaises(vmsec.PermissionDenied) as cm:
            vmsec.Keypair.load(self.path)
        self.assertIn("group or others", str(cm.exception))
        self.assertIsInstance(cm.exception, PermissionError)  # the built-in
        os.chmod(self.path, 0o600)
        with open(self.path, "r+b") as f:
            f.truncate(20)
        with self.assertRaises(vmsec.FormatError) as cm:
            vmsec.Keypair.load(self.path)
        self.assertIn("truncated", str(cm.exception))

    def test_closed_keypair(self):
        kp = vmsec.Keypair.generate()
        kp.close()
        kp.close()
        with self.assertRaises(ValueError):
            _ = kp.public_key

    def test_public_key_text(self):
        pk = vmsec.PublicKey.from_text("  " + ALICE_PK_TEXT + "\n")
        self.assertEqual(pk.text, ALICE_PK_TEXT)
        self.assertRegex(pk.fingerprint, r"^[0-9a-f]{4}(-[0-9a-f]{4}){3}$")
        for bad in ("", "x25519:", ALICE_PK_TEXT[7:], ALICE_PK_TEXT + "A"):
            with self.assertRaises(vmsec.FormatError):
                vmsec.PublicKey.from_text(bad)
        with self.assertRaises(ValueError):
            vmsec.PublicKey(b"short")

    def test_non_canonical_public_keys_are_refused(self):
        """Bit 255 set, or a u-coordinate from 2^255-19 up: second encodings of a key."""
        import base64
        canonical = vmsec.PublicKey.from_text(ALICE_PK_TEXT).raw
        flipped = canonical[:31] + bytes([canonical[31] | 0x80])
        unreduced = b"\xed" + b"\xff" * 30 + b"\x7f"  # 2^255-19, a second encoding of 0
        for raw, why in ((flipped, "bit 255"), (unreduced, "2^255-19")):
            with self.subTest(why=why):
                with self.assertRaisesRegex(vmsec.FormatError, "not canonical.*" + why.replace("^", r"\^")):
                    vmsec.PublicKey.validate(raw)
                with self.assertRaisesRegex(vmsec.FormatError, "not canonical"):
                    vmsec.PublicKey.from_text("x25519:" + base64.b64encode(raw).decode())
                with self.assertRaises(vmsec.FormatError):
                    vmsec.PublicKey(raw)
        vmsec.PublicKey.validate(canonical)
        with self.assertRaises(vmsec.InvalidArgument):
            vmsec.PublicKey.validate(canonical[:31])

    def test_public_key_file(self):
        pub = os.path.join(self.dir.name, "a.pub")
        with open(pub, "w") as f:
            f.write("# comment\n" + ALICE_PK_TEXT + "\n")
        self.assertEqual(vmsec.PublicKey.load(pub).text, ALICE_PK_TEXT)

    def test_errors_are_per_thread(self):
        seen = {}

        def worker():
            try:
                vmsec.PublicKey.from_text("nonsense")
            except vmsec.FormatError as exc:
                seen["msg"] = str(exc)

        with self.assertRaises(vmsec.NotFound) as cm:
            vmsec.Keypair.load(self.path)
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        self.assertIn("not a public key", seen["msg"])
        self.assertIn(self.path, str(cm.exception))


if __name__ == "__main__":
    unittest.main()
