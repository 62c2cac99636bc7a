# SPDX-License-Identifier: ISC
"""CPU placement planner: dedicated, SMT-safe, NUMA-aware pinning across domains.

    from vmsec.planner import Topology, Planner

    with Planner(Topology.from_libvirt("qemu:///system")) as p:
        p.load_libvirt("qemu:///system")
        pl = p.place("web-1", vcpus=4, thread_policy="isolate", emulator="dedicated")
        print(pl.vcpu_cpus, pl.emulator)
        for a, b, core in p.audit():
            print(f"{a} and {b} share the core of CPU {core}")
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Optional

from ._lib import lib

_SET_MAX: int = 20480  # VMSEC_PROFILE_CPUSET_TEXT_MAX
_REQUEST_VERSION = 1
_POLICIES = {"isolate": 0, "prefer": 1, "require": 2}
_EMULATORS = {"share": 0, "dedicated": 1}
_FITS = {"node": 0, "spread": 1}
HOLD_ISOLATE = 0x1
LOAD_SHARED = 0x1


class _Request(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("vcpus", ctypes.c_uint), ("thread_policy", ctypes.c_int),
                ("emulator", ctypes.c_int), ("numa_fit", ctypes.c_int), ("reserved_cpus", ctypes.c_char_p)]


def _text(fn, *args) -> str:  # noqa: ANN001 - a (…, buf, size, needed) function
    need = ctypes.c_size_t()
    fn(*args, None, 0, ctypes.byref(need))
    buf = ctypes.create_string_buffer(need.value)
    fn(*args, buf, need.value, None)
    return buf.value.decode()


class Topology:
    """A host CPU topology (CPUs, SMT siblings, sockets, NUMA nodes)."""

    def __init__(self, handle: ctypes.c_void_p) -> None:
        self._h = handle

    @classmethod
    def from_text(cls, text: str, name: str = "<python>") -> "Topology":
        """Parses the text form (``cpu 0 node 0 socket 0 core 0`` per line)."""
        h = ctypes.c_void_p()
        data = text.encode()
        lib.vmsec_topology_parse(ctypes.byref(h), data, len(data), name.encode())
        return cls(h)

    @classmethod
    def from_capabilities(cls, xml: str) -> "Topology":
        """Reads libvirt capabilities XML."""
        h = ctypes.c_void_p()
        data = xml.encode()
        lib.vmsec_topology_from_capabilities(ctypes.byref(h), data, len(data))
        return cls(h)

    @classmethod
    def from_libvirt(cls, uri: Optional[str] = None) -> "Topology":
        """Reads the host topology through a (read-only) libvirt connection; None: the default URI."""
        h = ctypes.c_void_p()
        lib.vmsec_topology_from_libvirt(ctypes.byref(h), uri.encode() if uri else None)
        return cls(h)

    def to_text(self) -> str:
        """The text form, CPUs in ascending order."""
        return _text(lib.vmsec_topology_to_text, self._h)

    def counts(self) -> tuple[int, int, int]:
        """(online CPUs, cores, NUMA nodes)."""
        a, b, c = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
        lib.vmsec_topology_counts(self._h, ctypes.byref(a), ctypes.byref(b), ctypes.byref(c))
        return a.value, b.value, c.value

    def siblings(self, cpu: int) -> str:
        """The SMT siblings of a CPU (itself included) as a CPU list."""
        buf = ctypes.create_string_buffer(_SET_MAX)
        lib.vmsec_topology_siblings(self._h, cpu, buf, _SET_MAX)
        return buf.value.decode()

    def __repr__(self) -> str:
        if not self._h:
            return "<vmsec.planner.Topology closed>"
        cpus, cores, nodes = self.counts()
        return f"<vmsec.planner.Topology {cpus} CPUs, {cores} cores, {nodes} NUMA nodes>"

    def close(self) -> None:
        if self._h:
            lib.vmsec_topology_free(self._h)
            self._h = None

    def __enter__(self) -> "Topology":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


@dataclass(frozen=True)
class Placement:
    """The placement of one domain."""

    domain: str
    vcpu_cpus: tuple[int, ...]  # host CPU of each vCPU
    emulator: str               # emulator threads' CPU list
    used: str                   # every CPU the domain runs on
    blocked: str                # sibling threads kept free for its isolation
    nodes: str                  # NUMA nodes of the used CPUs
    profile_lines: str          # "vcpu.0.pin = 4\n...emulator.pin = ...\n"


class Planner:
    """Plans placements against a topology, reserved host CPUs and what each domain holds."""

    def __init__(self, topology: Topology) -> None:
        self._h = ctypes.c_void_p()
        lib.vmsec_planner_new(ctypes.byref(self._h), topology._h)

    def reserve(self, cpus: str) -> None:
        """Sets the CPUs reserved for the host (replacing the previous set)."""
        lib.vmsec_planner_reserve(self._h, cpus.encode())

    def hold(self, domain: str, cpus: str, isolate: bool = False) -> None:
        """Records CPUs a domain already runs on."""
        lib.vmsec_planner_hold(self._h, domain.encode(), cpus.encode(), HOLD_ISOLATE if isolate else 0)

    def release(self, domain: str) -> None:
        """Frees what a domain holds; raises :class:`vmsec.NotFound` if it holds nothing."""
        lib.vmsec_planner_release(self._h, domain.encode())

    def held(self, domain: str) -> Optional[str]:
        """The CPUs a domain holds, or None."""
        buf = ctypes.create_string_buffer(_SET_MAX)
        return buf.value.decode() if lib.vmsec_planner_held(self._h, domain.encode(), buf, _SET_MAX) else None

    def free_cpus(self) -> str:
        """CPUs free for any domain."""
        buf = ctypes.create_string_buffer(_SET_MAX)
        lib.vmsec_planner_free_cpus(self._h, buf, _SET_MAX)
        return buf.value.decode()

    def load_libvirt(self, uri: Optional[str] = None, shared: bool = False) -> None:
        """Records the pins of every domain on a libvirt connection."""
        lib.vmsec_planner_load_libvirt(self._h, uri.encode() if uri else None, LOAD_SHARED if shared else 0)

    def _run(self, fn, domain: str, vcpus: int, thread_policy: str, emulator: str, numa_fit: str,  # noqa: ANN001
             reserved_cpus: Optional[str]) -> Placement:
        req = _Request()
        lib.vmsec_plan_request_init(ctypes.byref(req), _REQUEST_VERSION)
        req.vcpus = vcpus
        req.thread_policy = _POLICIES[thread_policy]
        req.emulator = _EMULATORS[emulator]
        req.numa_fit = _FITS[numa_fit]
        req.reserved_cpus = reserved_cpus.encode() if reserved_cpus else None
        pl = ctypes.c_void_p()
        fn(self._h, domain.encode(), ctypes.byref(req), ctypes.byref(pl))
        try:
            cpu = ctypes.c_uint()
            cpus = []
            for i in range(vcpus):
                lib.vmsec_placement_vcpu_cpu(pl, i, ctypes.byref(cpu))
                cpus.append(cpu.value)
            sets = []
            for which in range(4):
                buf = ctypes.create_string_buffer(_SET_MAX)
                lib.vmsec_placement_cpuset(pl, which, buf, _SET_MAX)
                sets.append(buf.value.decode())
            return Placement(domain, tuple(cpus), sets[0], sets[1], sets[2], sets[3],
                             _text(lib.vmsec_placement_to_text, pl))
        finally:
            lib.vmsec_placement_free(pl)

    def place(self, domain: str, vcpus: int, thread_policy: str = "isolate", emulator: str = "share",
              numa_fit: str = "node", reserved_cpus: Optional[str] = None) -> Placement:
        """Plans and records a placement; raises :class:`vmsec.HostError` naming the shortfall."""
        return self._run(lib.vmsec_planner_place, domain, vcpus, thread_policy, emulator, numa_fit, reserved_cpus)

    def plan(self, domain: str, vcpus: int, thread_policy: str = "isolate", emulator: str = "share",
             numa_fit: str = "node", reserved_cpus: Optional[str] = None) -> Placement:
        """Like :meth:`place` without recording anything."""
        return self._run(lib.vmsec_planner_plan, domain, vcpus, thread_policy, emulator, numa_fit, reserved_cpus)

    def audit(self) -> list[tuple[str, str, int]]:
        """Every (domain_a, domain_b, lowest CPU of the core) whose CPUs share a physical core."""
        h = ctypes.c_void_p()
        lib.vmsec_planner_audit(self._h, ctypes.byref(h))
        try:
            n = ctypes.c_size_t()
            lib.vmsec_smt_audit_count(h, ctypes.byref(n))
            out = []
            a, b, core = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_uint()
            for i in range(n.value):
                lib.vmsec_smt_audit_get(h, i, ctypes.byref(a), ctypes.byref(b), ctypes.byref(core))
                out.append((a.value.decode(), b.value.decode(), core.value))
            return out
        finally:
            lib.vmsec_smt_audit_free(h)

    def __repr__(self) -> str:
        if not self._h:
            return "<vmsec.planner.Planner closed>"
        return f"<vmsec.planner.Planner free CPUs {self.free_cpus() or 'none'}>"

    def close(self) -> None:
        if self._h:
            lib.vmsec_planner_free(self._h)
            self._h = None

    def __enter__(self) -> "Planner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
