# SPDX-License-Identifier: ISC
"""CPU placement planner through the raw ctypes prototypes, against the freshly built library."""
import ctypes
import unittest

import vmsec
from vmsec import _lib

L = _lib.lib


class PlanRequest(ctypes.Structure):
    """Mirror of struct vmsec_plan_request (version 1)."""
    _fields_ = [("version", ctypes.c_uint), ("vcpus", ctypes.c_uint), ("thread_policy", ctypes.c_int),
                ("emulator", ctypes.c_int), ("numa_fit", ctypes.c_int), ("reserved_cpus", ctypes.c_char_p)]


TOPO = b"".join(b"cpu %d node 0 socket 0 core %d\n" % (c + 4 * t, c) for t in range(2) for c in range(4))


class TestPlanner(unittest.TestCase):
    def setUp(self):
        topo = ctypes.c_void_p()
        L.vmsec_topology_parse(ctypes.byref(topo), TOPO, len(TOPO), b"py")
        self.planner = ctypes.c_void_p()
        try:
            L.vmsec_planner_new(ctypes.byref(self.planner), topo)
        finally:
            L.vmsec_topology_free(topo)

    def tearDown(self):
        L.vmsec_planner_free(self.planner)

    def place(self, name, vcpus):
        req = PlanRequest()
        L.vmsec_plan_request_init(ctypes.byref(req), 1)
        req.vcpus = vcpus
        pl = ctypes.c_void_p()
        L.vmsec_planner_place(self.planner, name, ctypes.byref(req), ctypes.byref(pl))
        try:
            need = ctypes.c_size_t()
            L.vmsec_placement_to_text(pl, None, 0, ctypes.byref(need))
            buf = ctypes.create_string_buffer(need.value)
            L.vmsec_placement_to_text(pl, buf, need.value, None)
            return buf.value.decode()
        finally:
            L.vmsec_placement_free(pl)

    def test_isolate_places_on_sibling_threads(self):
        self.assertEqual(self.place(b"a", 2), "vcpu.0.pin = 0\nvcpu.1.pin = 4\nemulator.pin = 0,4\n")
        self.assertEqual(self.place(b"b", 1), "vcpu.0.pin = 1\nemulator.pin = 1\n")

    def test_refusal_raises_with_the_shortfall(self):
        with self.assertRaises(vmsec.Error) as ctx:
            self.place(b"big", 9)
        self.assertEqual(ctx.exception.code, -19)
        self.assertIn("needs 9 CPUs on whole free cores of one NUMA node", str(ctx.exception))


class TestPlannerWrapper(unittest.TestCase):
    def test_place_audit_release(self):
        from vmsec.planner import Planner, Topology
        with Topology.from_text(TOPO.decode()) as topo, Planner(topo) as p:
            self.assertEqual(topo.counts(), (8, 4, 1))
            self.assertEqual(topo.siblings(5), "1,5")
            pl = p.place("a", 3, emulator="dedicated")
            self.assertEqual(pl.vcpu_cpus, (0, 4, 1))
            self.assertEqual((pl.emulator, pl.used, pl.blocked, pl.nodes), ("5", "0-1,4-5", "", "0"))
            self.assertIn("vcpu.2.pin = 1\n", pl.profile_lines)
            p.hold("b", "2")
            p.hold("c", "6")
            self.assertEqual(p.audit(), [("b", "c", 2)])
            self.assertEqual(p.free_cpus(), "3,7")
            p.release("c")
            self.assertIsNone(p.held("c"))
            with self.assertRaises(vmsec.NotFound):
                p.release("c")
            with self.assertRaises(vmsec.HostError):
                p.plan("d", 4, thread_policy="require")
            self.assertEqual(p.plan("d", 2, thread_policy="prefer").vcpu_cpus, (3, 7))


if __name__ == "__main__":
    unittest.main()
