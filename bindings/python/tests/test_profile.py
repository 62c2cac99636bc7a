# SPDX-License-Identifier: ISC
"""vmsec.Profile through the ctypes bindings, against the freshly built library."""
import os
import tempfile
import unittest

import vmsec

SMALL = """# two pinned vCPUs
name = web-small
vcpus = 2
vcpu.0.pin = 2
vcpu.1.pin = 3
emulator.pin = 0-1
memory.hard_limit = 2G
memory.locked = yes
memory.nosharepages = yes
"""


def _srcdir():
    return os.environ.get("VMSEC_TOP_SRCDIR")


class TestParse(unittest.TestCase):
    def test_parse_reads_typed_settings(self):
        p = vmsec.Profile.parse(SMALL, name="web.conf")
        self.assertEqual(p.name, "web-small")
        self.assertEqual(p.vcpus, 2)
        self.assertEqual(p.vcpu_pin(0), "2")
        self.assertEqual(p.vcpu_pin(1), "3")
        self.assertIsNone(p.vcpu_pin(2))
        self.assertEqual(p.emulator_pin, "0-1")
        self.assertEqual(p.memory_hard_limit, 2 << 30)
        self.assertIs(p.memory_locked, True)
        self.assertIs(p.nosharepages, True)
        self.assertIsNone(p.cpu_shares)
        self.assertIsNone(p.numa_mode)
        self.assertEqual(p["memory.hard_limit"], "2G")
        self.assertIn("vcpu.0.pin", p)
        self.assertNotIn("cpu.shares", p)
        with self.assertRaises(KeyError):
            p["cpu.shares"]

    def test_errors_name_source_and_line(self):
        with self.assertRaises(vmsec.FormatError) as cm:
            vmsec.Profile.parse("name = x\n\ncpu.pinn = 3\n", name="web.conf")
        self.assertIn("web.conf:3", str(cm.exception))
        self.assertIn("cpu.pinn", str(cm.exception))
        self.assertEqual(cm.exception.code, -5)

    def test_every_error_is_reported(self):
        with self.assertRaises(vmsec.FormatError) as cm:
            vmsec.Profile.from_text("vcpus = two\nnuma.mode = sideways\n")
        lines = str(cm.exception).splitlines()
        self.assertGreaterEqual(len(lines), 2)
        self.assertIn("<string>:1", lines[0])
        self.assertTrue(any("<string>:2" in line for line in lines[1:]))

    def test_contradiction_is_refused_when_parsing(self):
        with self.assertRaises(vmsec.FormatError) as cm:
            vmsec.Profile.parse("memory.locked = yes\n", name="lock.conf")
        self.assertIn("hard_limit", str(cm.exception))

    def test_too_big(self):
        with self.assertRaises(vmsec.TooBig):
            vmsec.Profile.parse("#" * (1024 * 1024 + 1))

    def test_bytes_input(self):
        self.assertEqual(vmsec.Profile.parse(SMALL.encode()).name, "web-small")


class TestFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def test_load_missing_file(self):
        path = os.path.join(self.dir.name, "none.conf")
        with self.assertRaises(FileNotFoundError) as cm:  # the built-in, as open() would raise
            vmsec.Profile.load(path)
        self.assertIsInstance(cm.exception, vmsec.NotFound)
        self.assertIn(path, str(cm.exception))

    def test_load_error_names_file_and_line(self):
        path = os.path.join(self.dir.name, "bad.conf")
        with open(path, "w") as f:
            f.write("name = ok\nvcpu.0.pin = 3-1\n")
        with self.assertRaises(vmsec.FormatError) as cm:
            vmsec.Profile.load(path)
        self.assertIn("bad.conf:2", str(cm.exception))

    def test_save_load_round_trip(self):
        p = vmsec.Profile.parse(SMALL)
        path = os.path.join(self.dir.name, "out.conf")
        p.save(path)
        back = vmsec.Profile.load(path)
        self.assertEqual(back, p)
        self.assertEqual(back.digest, p.digest)

    def test_shipped_examples(self):
        if not _srcdir():
            self.skipTest("VMSEC_TOP_SRCDIR not set (run through tests/python.sh)")
        full = vmsec.Profile.load(os.path.join(_srcdir(), "examples", "profiles", "full.conf"))
        self.assertEqual(full.iothreads, 2)
        self.assertEqual(full.iothread_pin(2), "2-3")
        self.assertEqual(full.cpu_period("vcpu"), 100000)
        self.assertEqual(full.cpu_quota("iothread"), vmsec.QUOTA_UNLIMITED)
        self.assertEqual(full.numa_mode, "strict")
        self.assertEqual(full.hugepage_size, 2 << 20)
        self.assertEqual(full.blkio_weight, 500)
        self.assertEqual(full.blkio_devices(), {"/dev/vdb": {
            "weight": 800, "read_bytes_sec": 200 << 20, "write_bytes_sec": 100 << 20,
            "read_iops_sec": 20000, "write_iops_sec": 10000}})
        self.assertEqual(full.emulator_pin, "0-1,3")  # canonical form of 0-3,^2


class TestBuild(unittest.TestCase):
    def test_build_with_properties_equals_parsed(self):
        p = vmsec.Profile(name="web-small", vcpus=2, emulator_pin="0-1",
                          memory_hard_limit=2 << 30, memory_locked=True, nosharepages=True)
        p.set_vcpu_pin(0, "2")
        p.set_vcpu_pin(1, "3")
        parsed = vmsec.Profile.parse(SMALL)
        self.assertEqual(p, parsed)
        self.assertEqual(p.digest, parsed.digest)
        self.assertEqual(p.to_text(), parsed.to_text())
        self.assertRegex(p.digest, r"^sha256:[0-9a-f]{64}$")

    def test_build_with_keys(self):
        p = vmsec.Profile({"vcpus": 2, "vcpu.0.pin": "0-3,^2", "memory.locked": False})
        self.assertEqual(p.vcpu_pin(0), "0-1,3")
        self.assertIs(p.memory_locked, False)
        p["cpu.shares"] = 1024
        self.assertEqual(p.cpu_shares, 1024)
        del p["cpu.shares"]
        self.assertIsNone(p.cpu_shares)
        self.assertEqual(dict(p.items()), {"vcpus": "2", "vcpu.0.pin": "0-1,3", "memory.locked": "no"})

    def test_every_key_reachable_by_text(self):
        # Keys without a typed property (placement intent for the planner) work through set/get.
        p = vmsec.Profile(vcpus=2)
        p["cpu.placement"] = "dedicated"
        self.assertEqual(p["cpu.placement"], "dedicated")
        self.assertIn("cpu.placement = dedicated", p.to_text())
        p.set_vcpu_pin(0, "1")
        with self.assertRaises(vmsec.FormatError) as cm:
            p.validate()
        self.assertIn("cpu.placement", str(cm.exception))

    def test_digest_changes_with_any_setting(self):
        p = vmsec.Profile.parse(SMALL)
        before = p.digest
        q = p.copy()
        q.cpu_shares = 2048
        self.assertNotEqual(q.digest, before)
        self.assertNotEqual(q, p)
        self.assertEqual(p.digest, before)  # the copy is independent
        q.cpu_shares = None
        self.assertEqual(q.digest, before)

    def test_unset_with_del_and_none(self):
        p = vmsec.Profile.parse(SMALL)
        del p.emulator_pin
        self.assertIsNone(p.emulator_pin)
        p.set_vcpu_pin(1, None)
        self.assertIsNone(p.vcpu_pin(1))
        p.numa_mode = "interleave"
        self.assertEqual(p.numa_mode, "interleave")
        del p.numa_mode
        self.assertIsNone(p.numa_mode)

    def test_unlimited_and_numbers(self):
        p = vmsec.Profile()
        p.memory_soft_limit = vmsec.UNLIMITED
        self.assertEqual(p.memory_soft_limit, vmsec.UNLIMITED)
        self.assertEqual(p["memory.soft_limit"], "unlimited")
        p.set_cpu_quota("global", vmsec.QUOTA_UNLIMITED)
        self.assertEqual(p.cpu_quota("global"), -1)
        p.set_cpu_period("emulator", 50000)
        self.assertEqual(p.cpu_period("emulator"), 50000)
        p.set_blkio_device("/dev/sdb", "read_iops_sec", 300)
        self.assertEqual(p.blkio_devices(), {"/dev/sdb": {"read_iops_sec": 300}})
        p.set_blkio_device("/dev/sdb", "read_iops_sec", None)
        self.assertEqual(p.blkio_devices(), {})

    def test_setter_errors(self):
        p = vmsec.Profile()
        with self.assertRaises(vmsec.FormatError) as cm:
            p.name = "-bad name"
        self.assertIn("name", str(cm.exception))
        with self.assertRaises(vmsec.FormatError):
            p.emulator_pin = "3-1"
        with self.assertRaises(vmsec.FormatError):
            p.cpu_shares = 1
        with self.assertRaises(KeyError):  # an unknown key, as a dict would say
            p.set("cpu.pinn", "3")
        with self.assertRaises(vmsec.InvalidArgument):
            p.set_vcpu_pin(vmsec.profile.MAX_CPUS, "1")
        with self.assertRaises(ValueError):
            p.numa_mode = "sideways"
        with self.assertRaises(ValueError):
            p.vcpus = 0  # 0 would silently unset in C; None is the way to unset
        with self.assertRaises(ValueError):
            p.cpu_period("hypervisor")
        with self.assertRaises(AttributeError):
            vmsec.Profile(no_such_setting=1)
        self.assertIsNone(p.name)  # failed setters changed nothing

    def test_validate(self):
        p = vmsec.Profile(memory_locked=True)
        with self.assertRaises(vmsec.FormatError) as cm:
            p.validate()
        self.assertIn("hard_limit", str(cm.exception))
        with self.assertRaises(vmsec.FormatError):
            p.to_text()
        with self.assertRaises(vmsec.FormatError):
            _ = p.digest
        self.assertIn("inconsistent", repr(p))
        p.memory_hard_limit = 1 << 30
        p.validate()
        self.assertIn("memory.locked = yes", p.to_text())

    def test_check_domain(self):
        p = vmsec.Profile.parse("vcpu.3.pin = 1\niothread.2.pin = 0\n", name="dom.conf")
        p.check_domain(4, [1, 2])
        with self.assertRaises(vmsec.FormatError) as cm:
            p.check_domain(2, [1])
        msg = str(cm.exception)
        self.assertIn("dom.conf:1", msg)
        self.assertIn("vcpu.3.pin", msg)
        self.assertIn("iothread.2.pin", msg)

    def test_closed(self):
        p = vmsec.Profile()
        p.close()
        p.close()
        with self.assertRaises(ValueError):
            p.validate()
        with vmsec.Profile(vcpus=1) as q:
            self.assertEqual(q.vcpus, 1)
        with self.assertRaises(ValueError):
            _ = q.handle


if __name__ == "__main__":
    unittest.main()
