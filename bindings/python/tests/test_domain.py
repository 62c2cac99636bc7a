# SPDX-License-Identifier: ISC
"""vmsec.Domain and reports through the ctypes bindings, on libvirt's embedded test driver
(test:///default: a running domain "test"; every connection starts from the same fresh state)."""
import json
import os
import subprocess
import sys
import unittest

import vmsec

URI = "test:///default"
# The test driver's host has CPUs 0, 2 and 4 online.
FITS = """name = testdrv
vcpus = 2
vcpu.0.pin = 2
vcpu.1.pin = 4
emulator.pin = 0,2
memory.hard_limit = 1G
memory.soft_limit = 512M
"""
# The test driver has no cpu_shares scheduler parameter: the apply fails after the pins.
FAILS_LATE = "name = late\nvcpu.0.pin = 4\nvcpu.1.pin = 2\ncpu.shares = 512\n"
MISSING_CPUS = "name = missing\nvcpu.0.pin = 1\nvcpu.1.pin = 3\nmemory.hard_limit = 1G\n"


def _open():
    try:
        return vmsec.Domain(URI, "test")
    except vmsec.LibvirtError as exc:  # libvirt built without the test driver
        raise unittest.SkipTest(f"libvirt test driver unavailable: {exc}")


class TestDomain(unittest.TestCase):
    def setUp(self):
        self.dom = _open()

    def tearDown(self):
        self.dom.close()

    def test_open_errors(self):
        with self.assertRaises(vmsec.NotFound) as cm:
            vmsec.Domain(URI, "no-such-domain")
        self.assertIn("no-such-domain", str(cm.exception))
        with self.assertRaises(vmsec.LibvirtError):
            vmsec.Domain("nosuchdriver:///x", "test")

    def test_render_keeps_the_domain_and_is_idempotent(self):
        profile = vmsec.Profile.parse(FITS)
        xml = self.dom.xml()
        self.assertIn("<name>test</name>", xml)
        out = vmsec.domain.render(profile, xml)
        self.assertIn("<name>test</name>", out)
        self.assertRegex(out, r"<vcpupin vcpu=.0. cpuset=.2./>")
        self.assertRegex(out, r"<emulatorpin cpuset=.0,2./>")
        self.assertEqual(vmsec.domain.render(profile, out), out)
        self.assertEqual(self.dom.render(profile), out)
        with self.assertRaises(vmsec.FormatError):
            vmsec.domain.render(profile, "<domain>")
        with self.assertRaises(vmsec.FormatError) as cm:
            vmsec.domain.render(vmsec.Profile.parse("vcpu.7.pin = 0\n", name="big.conf"), xml)
        self.assertIn("big.conf:1", str(cm.exception))

    def test_host_check(self):
        ok = self.dom.host_check(vmsec.Profile.parse(FITS))
        self.assertTrue(ok.ok, str(ok))
        self.assertEqual(ok.message, "")
        bad = self.dom.host_check(vmsec.Profile.parse(MISSING_CPUS))
        self.assertFalse(bad.ok)
        problem = bad.with_status("problem")
        self.assertEqual([e.setting for e in problem], ["host.cpus"])
        self.assertIn("1,3", problem[0].detail)
        self.assertIn("host.cpus", bad.message)
        unchecked = bad.with_status("unchecked")
        self.assertTrue(unchecked)
        self.assertTrue(all("cannot be checked here" in e.detail for e in unchecked))

    def test_apply_verify_and_metadata(self):
        profile = vmsec.Profile.parse(FITS)
        self.assertIsNone(self.dom.applied())
        before = self.dom.verify(profile)
        self.assertFalse(before.ok)
        self.assertIn("drift", {e.status for e in before})
        self.assertIn("drifted", before.message)
        applied = self.dom.apply(profile)
        self.assertTrue(applied.ok, str(applied))
        self.assertIn("vcpu.0.pin", {e.setting for e in applied.with_status("applied")})
        after = self.dom.verify(profile)
        self.assertTrue(after.ok, str(after))
        self.assertEqual(after.count("drift"), 0)
        libvirt = {e.setting: e.actual for e in after if e.source == "libvirt"}
        self.assertEqual(libvirt["vcpu.0.pin"], "2")
        self.assertEqual(libvirt["memory.hard_limit"], "1G")
        kernel = [e for e in after if e.source.startswith("kernel")]
        self.assertTrue(kernel and all(e.status == "unchecked" for e in kernel))
        recorded, digest = self.dom.applied()
        self.assertEqual(recorded, profile)
        self.assertEqual(digest, profile.digest)
        data = after.as_dict()
        self.assertEqual(len(data["entries"]), len(after))
        self.assertEqual(data["entries"][0]["setting"], after[0].setting)
        json.loads(after.to_json())
        text = str(after)
        self.assertTrue(text.splitlines()[0].startswith("SETTING"))
        self.assertIn("entries", repr(after))

    def test_failed_apply_rolls_back_with_a_report(self):
        original = self.dom.xml()
        with self.assertRaises(vmsec.RolledBack) as cm:
            self.dom.apply(vmsec.Profile.parse(FAILS_LATE))
        self.assertIn("cpu.shares", str(cm.exception))
        report = cm.exception.report
        self.assertIsNotNone(report)
        self.assertEqual([e.setting for e in report.with_status("failed")], ["cpu.shares"])
        self.assertTrue(report.with_status("restored"))
        self.assertFalse(report.ok)
        restored = self.dom.xml()
        self.assertNotRegex(restored, r"<vcpupin vcpu=.0. cpuset=.4./>")
        self.assertNotRegex(restored, r"<vcpupin vcpu=.1. cpuset=.2./>")
        self.assertNotIn("<shares>", restored)
        self.assertNotIn("vmsec:profile", restored)
        self.assertNotIn("vmsec:profile", original)
        self.assertIsNone(self.dom.applied())

    def test_apply_refused_by_host_check_changes_nothing(self):
        original = self.dom.xml()
        with self.assertRaises(vmsec.HostError) as cm:
            self.dom.apply(vmsec.Profile.parse(MISSING_CPUS))
        self.assertIn("host.cpus", str(cm.exception))
        report = cm.exception.report
        self.assertIsNotNone(report)
        self.assertIn("host.cpus", [e.setting for e in report.with_status("problem")])
        self.assertEqual(self.dom.xml(), original)

    def test_closed(self):
        self.dom.close()
        self.dom.close()
        with self.assertRaises(ValueError):
            self.dom.xml()


class TestWrap(unittest.TestCase):
    """Domain.wrap() takes a virDomainPtr held by the caller (here from libvirt through ctypes)."""

    def test_wrap_a_caller_held_domain(self):
        import ctypes
        import ctypes.util
        name = ctypes.util.find_library("virt") or "libvirt.so.0"
        try:
            virt = ctypes.CDLL(name)
        except OSError as exc:
            self.skipTest(f"libvirt shared library not found: {exc}")
        virt.virConnectOpen.restype = ctypes.c_void_p
        virt.virConnectOpen.argtypes = [ctypes.c_char_p]
        virt.virDomainLookupByName.restype = ctypes.c_void_p
        virt.virDomainLookupByName.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        virt.virDomainFree.argtypes = [ctypes.c_void_p]
        virt.virConnectClose.argtypes = [ctypes.c_void_p]
        conn = virt.virConnectOpen(URI.encode())
        self.assertTrue(conn)
        dom = virt.virDomainLookupByName(conn, b"test")
        self.assertTrue(dom)
        wrapped = vmsec.Domain.wrap(dom)
        virt.virDomainFree(dom)  # the handle holds its own references
        virt.virConnectClose(conn)
        profile = vmsec.Profile.parse(FITS)
        wrapped.apply(profile)
        self.assertTrue(wrapped.verify(profile).ok)
        self.assertIn("<name>test</name>", wrapped.xml())
        wrapped.close()
        with self.assertRaises(vmsec.InvalidArgument):
            vmsec.Domain.wrap(None)


# Runs in a child so that its stderr can be read: libvirt-python installs a global error handler
# that prints every libvirt error not caught by a handler of its own.
_QUIET_CHILD = """
import sys, libvirt, vmsec
conn = libvirt.open(sys.argv[1])
dom = vmsec.Domain.wrap(conn.lookupByName("test"))
assert dom.applied() is None
for text in sys.argv[2:]:
    profile = vmsec.Profile.parse(text)
    dom.host_check(profile)
    dom.verify(profile)
    try:
        dom.apply(profile)
    except (vmsec.RolledBack, vmsec.HostError):
        pass
    dom.verify(profile)
    dom.applied()
    dom.applied(config=True)
dom.close()
print("done")
"""


class TestLibvirtPython(unittest.TestCase):
    """A domain from libvirt-python: vmsec's probes (flags a driver refuses, metadata that is not
    there) must not reach the caller's error handler, which libvirt-python prints by default."""

    def test_probes_print_nothing(self):
        probe = subprocess.run([sys.executable, "-c", "import libvirt"], capture_output=True)
        if probe.returncode != 0:
            reason = "libvirt-python not importable (install python3-libvirt)"
            if os.environ.get("VMSEC_REQUIRE_ALL") == "1":
                self.fail(reason)
            self.skipTest(reason)
        r = subprocess.run([sys.executable, "-c", _QUIET_CHILD, URI, FITS, MISSING_CPUS],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "done\n")
        self.assertEqual(r.stderr, "")

    def test_real_errors_still_reach_the_caller(self):
        """Only probes are kept quiet: a failure the caller gets as an exception is libvirt's to
        report too (the test driver has no cpu_shares)."""
        probe = subprocess.run([sys.executable, "-c", "import libvirt"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("libvirt-python not importable")
        r = subprocess.run([sys.executable, "-c", _QUIET_CHILD, URI, FAILS_LATE],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cpu_shares", r.stderr)
        self.assertNotIn("unsupported flags", r.stderr)
        self.assertNotIn("metadata not found", r.stderr)


class TestReportModule(unittest.TestCase):
    def test_status_names(self):
        self.assertEqual(vmsec.domain.STATUSES[0], "ok")
        self.assertEqual(vmsec.domain.STATUSES[4], "next-boot")
        self.assertEqual(vmsec.domain.STATUSES[8], "problem")


if __name__ == "__main__":
    unittest.main()
