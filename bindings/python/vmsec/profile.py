# SPDX-License-Identifier: ISC
"""Isolation profiles: parse, build, serialise, digest and check them (``include/vmsec/profile.h``).

A profile is a set of optional settings; an unset setting reads as ``None`` and means "leave the
domain as it is". Every setter validates its value alone (raising :class:`vmsec.FormatError` with
the library's reason); :meth:`Profile.validate` checks the settings against each other. Parse
errors name the source and line, e.g. ``profile web.conf:12: unknown key 'cpu.pinn'``.

>>> p = Profile.parse("name = web\\nvcpus = 2\\nvcpu.0.pin = 2\\n", name="web.conf")
>>> p.vcpu_pin(0)
'2'
>>> p.memory_hard_limit = 4 << 30
>>> print(p.to_text())  # doctest: +SKIP
"""
from __future__ import annotations

import ctypes
import os
from typing import Dict, Iterable, Iterator, Optional, Union

from ._lib import lib

#: Memory limit value meaning "unlimited"; also the huge page size meaning "the host default".
UNLIMITED: int = (1 << 64) - 1
#: CPU quota meaning "no limit".
QUOTA_UNLIMITED: int = -1
DIGEST_MAX: int = lib.vmsec_profile_digest_max()
CPUSET_TEXT_MAX: int = lib.vmsec_profile_cpuset_text_max()
MAX_CPUS: int = lib.vmsec_profile_max_cpus()
NAME_MAX: int = lib.vmsec_profile_name_max()

#: NUMA modes by name, valued as ``vmsec_numa_mode`` (libvirt's virDomainNumatuneMemMode).
NUMA_MODES = {"strict": 0, "preferred": 1, "interleave": 2, "restrictive": 3}
#: CPU bandwidth scopes by name, valued as ``vmsec_cpu_scope``.
CPU_SCOPES = {"vcpu": 0, "emulator": 1, "iothread": 2, "global": 3}
#: Per-device block I/O fields by name, valued as ``vmsec_blkio_field``.
BLKIO_FIELDS = {"weight": 0, "read_bytes_sec": 1, "write_bytes_sec": 2, "read_iops_sec": 3, "write_iops_sec": 4}
_MEMORY = {"hard": 0, "soft": 1, "swap_hard": 2}
_PATH_MAX = 4096

PathLike = Union[str, "os.PathLike[str]"]


def _enum(table: Dict[str, int], name: str, what: str) -> int:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; expected one of {', '.join(table)}") from None


def _text_getter(fn, *args) -> Optional[str]:  # noqa: ANN001
    buf = ctypes.create_string_buffer(CPUSET_TEXT_MAX)
    return buf.value.decode() if fn(*args, buf, CPUSET_TEXT_MAX) else None


def _num_getter(fn, ctype, *args) -> Optional[int]:  # noqa: ANN001
    out = ctype()
    return out.value if fn(*args, ctypes.byref(out)) else None


def _text_property(getter: str, setter: str, doc: str) -> property:
    def fget(self: "Profile") -> Optional[str]:
        return _text_getter(getattr(lib, getter), self._p)

    def fset(self: "Profile", value: Optional[str]) -> None:
        getattr(lib, setter)(self._p, None if value is None else str(value).encode())

    return property(fget, fset, lambda self: fset(self, None), doc)


def _count_property(getter: str, setter: str, ctype, unset, doc: str) -> property:  # noqa: ANN001
    def fget(self: "Profile") -> Optional[int]:
        return _num_getter(getattr(lib, getter), ctype, self._p)

    def fset(self: "Profile", value: Optional[int]) -> None:
        getattr(lib, setter)(self._p, unset if value is None else _positive(value))

    return property(fget, fset, lambda self: fset(self, None), doc)


def _bool_property(getter: str, setter: str, doc: str) -> property:
    def fget(self: "Profile") -> Optional[bool]:
        value = _num_getter(getattr(lib, getter), ctypes.c_int, self._p)
        return None if value is None else bool(value)

    def fset(self: "Profile", value: Optional[bool]) -> None:
        getattr(lib, setter)(self._p, -1 if value is None else int(bool(value)))

    return property(fget, fset, lambda self: fset(self, None), doc)


def _memory_property(which: str, doc: str) -> property:
    def fget(self: "Profile") -> Optional[int]:
        return _num_getter(lib.vmsec_profile_get_memory_limit, ctypes.c_uint64, self._p, _MEMORY[which])

    def fset(self: "Profile", value: Optional[int]) -> None:
        lib.vmsec_profile_set_memory_limit(self._p, _MEMORY[which], 0 if value is None else _positive(value))

    return property(fget, fset, lambda self: fset(self, None), doc)


def _positive(value: int) -> int:
    # 0 means "unset" in the C setters; refuse it (and negatives) here so that a typo does not
    # silently clear a setting. Use None (or del) to unset.
    value = int(value)
    if value <= 0:
        raise ValueError(f"expected a positive number, got {value} (assign None to unset)")
    return value


class Profile:
    """An isolation profile. Build one empty, from text or from a file; settings are properties
    (``None`` = unset; ``del`` unsets too) or text keys through :meth:`set` / ``p[key]``.

    Profiles compare equal when their settings are equal (source names and lines are ignored).
    """

    __slots__ = ("_p",)

    def __init__(self, settings: Optional[Dict[str, object]] = None, **properties: object) -> None:
        """Creates a profile; ``settings`` maps text keys (``"vcpu.0.pin"``) to values, keyword
        arguments set properties (``vcpus=2``)."""
        self._p = ctypes.c_void_p()
        lib.vmsec_profile_new(ctypes.byref(self._p))
        for key, value in (settings or {}).items():
            self.set(key, value)
        for attr, value in properties.items():
            if not isinstance(getattr(type(self), attr, None), property):
                raise AttributeError(f"Profile has no setting property {attr!r}")
            setattr(self, attr, value)

    @classmethod
    def _adopt(cls, handle: ctypes.c_void_p) -> "Profile":
        self = cls.__new__(cls)
        self._p = handle
        return self

    @classmethod
    def parse(cls, text: Union[str, bytes], name: Optional[str] = None) -> "Profile":
        """Parses profile text; ``name`` is used in error messages (default ``<string>``).

        Raises :class:`vmsec.FormatError` listing every error, one per line, each as
        ``profile <name>:<line>: <reason>``; :class:`vmsec.TooBig` beyond 1 MiB."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        handle = ctypes.c_void_p()
        lib.vmsec_profile_parse(ctypes.byref(handle), data, len(data), None if name is None else name.encode())
        return cls._adopt(handle)

    from_text = parse

    @classmethod
    def load(cls, path: PathLike) -> "Profile":
        """Reads and parses a profile file; errors name the path and line."""
        handle = ctypes.c_void_p()
        lib.vmsec_profile_load_file(ctypes.byref(handle), os.fsencode(path))
        return cls._adopt(handle)

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_profile *`` (for other bindings); raises if closed."""
        if not self._p:
            raise ValueError("profile is closed")
        return self._p

    def close(self) -> None:
        """Frees the profile; idempotent."""
        if getattr(self, "_p", None):
            lib.vmsec_profile_free(self._p)
            self._p = ctypes.c_void_p()

    def __enter__(self) -> "Profile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def copy(self) -> "Profile":
        """An independent copy (source names and lines included)."""
        handle = ctypes.c_void_p()
        lib.vmsec_profile_dup(self.handle, ctypes.byref(handle))
        return Profile._adopt(handle)

    __copy__ = copy

    # --- whole-profile operations ---------------------------------------------------------------
    def validate(self) -> None:
        """Checks the settings against each other; raises :class:`vmsec.FormatError` listing every
        contradiction (e.g. memory locking without a finite hard limit)."""
        lib.vmsec_profile_validate(self.handle)

    def check_domain(self, vcpus: int, iothread_ids: Iterable[int] = ()) -> None:
        """Checks the profile against a domain with ``vcpus`` vCPUs and these I/O thread ids;
        raises :class:`vmsec.FormatError` naming every mismatch."""
        ids = [int(i) for i in iothread_ids]
        arr = (ctypes.c_uint * len(ids))(*ids) if ids else None
        lib.vmsec_profile_check_domain(self.handle, int(vcpus), arr, len(ids))

    def to_text(self) -> str:
        """The canonical text: every set key once, in a fixed order, with canonical values."""
        needed = ctypes.c_size_t()
        lib.vmsec_profile_to_text(self.handle, None, 0, ctypes.byref(needed))
        buf = ctypes.create_string_buffer(needed.value)
        lib.vmsec_profile_to_text(self.handle, buf, needed.value, None)
        return buf.value.decode()

    def save(self, path: PathLike) -> None:
        """Writes the canonical text to ``path`` atomically (mode 0644, replacing the file)."""
        lib.vmsec_profile_save_file(self.handle, os.fsencode(path))

    @property
    def digest(self) -> str:
        """``sha256:`` and the hex SHA-256 of the canonical text (stable across releases)."""
        buf = ctypes.create_string_buffer(DIGEST_MAX)
        lib.vmsec_profile_digest(self.handle, buf, DIGEST_MAX)
        return buf.value.decode()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        try:
            return f"<vmsec.Profile {self.name or '(unnamed)'} {self.digest}>"
        except Exception:  # an inconsistent profile has no digest; still show something
            return f"<vmsec.Profile {self.name or '(unnamed)'} (inconsistent)>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return lib.vmsec_profile_equal(self.handle, other.handle) == 1

    __hash__ = None  # type: ignore[assignment]  # mutable

    # --- settings by text key -------------------------------------------------------------------
    def set(self, key: str, value: object) -> None:
        """Sets any setting as a line ``key = value`` would (``bool`` becomes yes/no).

        Raises :class:`vmsec.NotFound` for an unknown key, :class:`vmsec.FormatError` for a bad
        value."""
        if isinstance(value, bool):
            value = "yes" if value else "no"
        lib.vmsec_profile_set(self.handle, key.encode(), str(value).encode())

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """Reads any setting as canonical text, or ``default`` when unset."""
        size = CPUSET_TEXT_MAX + _PATH_MAX
        buf = ctypes.create_string_buffer(size)
        return buf.value.decode() if lib.vmsec_profile_get(self.handle, key.encode(), buf, size) else default

    def unset(self, key: str) -> None:
        """Unsets any setting by key (unsetting an unset setting is fine)."""
        lib.vmsec_profile_unset(self.handle, key.encode())

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: object) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self.unset(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def items(self) -> Iterator[tuple]:
        """(key, canonical value) for every set setting, in canonical order."""
        for line in self.to_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                yield key.strip(), value.strip()

    # --- typed settings ---------------------------------------------------------------------------
    name = _text_property("vmsec_profile_get_name", "vmsec_profile_set_name",
                          "Profile name (1..64 of ``A-Za-z0-9._-``), or None.")
    vcpus = _count_property("vmsec_profile_get_vcpus", "vmsec_profile_set_vcpus", ctypes.c_uint, 0,
                            "Expected number of vCPUs, or None.")
    iothreads = _count_property("vmsec_profile_get_iothreads", "vmsec_profile_set_iothreads", ctypes.c_uint, 0,
                                "Expected number of I/O threads, or None.")
    emulator_pin = _text_property("vmsec_profile_get_emulator_pin", "vmsec_profile_set_emulator_pin",
                                  "CPU set of the emulator threads (canonical text, e.g. ``0-1``), or None.")
    cpu_shares = _count_property("vmsec_profile_get_cpu_shares", "vmsec_profile_set_cpu_shares",
                                 ctypes.c_uint64, 0, "CPU shares (2..262144), or None.")
    numa_nodeset = _text_property("vmsec_profile_get_numa_nodeset", "vmsec_profile_set_numa_nodeset",
                                  "NUMA nodeset, or None.")
    memory_hard_limit = _memory_property("hard", "memory.hard_limit in bytes (or UNLIMITED), or None.")
    memory_soft_limit = _memory_property("soft", "memory.soft_limit in bytes (or UNLIMITED), or None.")
    memory_swap_hard_limit = _memory_property("swap_hard", "memory.swap_hard_limit in bytes, or None.")
    memory_locked = _bool_property("vmsec_profile_get_memory_locked", "vmsec_profile_set_memory_locked",
                                   "Whether guest memory is locked, or None.")
    hugepage_size = _count_property("vmsec_profile_get_hugepage_size", "vmsec_profile_set_hugepage_size",
                                    ctypes.c_uint64, 0,
                                    "Huge page size in bytes (UNLIMITED = host default), or None.")
    hugepage_nodeset = _text_property("vmsec_profile_get_hugepage_nodeset", "vmsec_profile_set_hugepage_nodeset",
                                      "Guest NUMA nodes backed by huge pages, or None.")
    nosharepages = _bool_property("vmsec_profile_get_nosharepages", "vmsec_profile_set_nosharepages",
                                  "Whether KSM page sharing is disabled, or None.")
    blkio_weight = _count_property("vmsec_profile_get_blkio_weight", "vmsec_profile_set_blkio_weight",
                                   ctypes.c_uint, 0, "Domain block I/O weight (10..1000), or None.")

    @property
    def numa_mode(self) -> Optional[str]:
        """NUMA memory mode: ``strict``, ``preferred``, ``interleave``, ``restrictive``, or None."""
        value = _num_getter(lib.vmsec_profile_get_numa_mode, ctypes.c_int, self.handle)
        return None if value is None else {v: k for k, v in NUMA_MODES.items()}.get(value, str(value))

    @numa_mode.setter
    def numa_mode(self, mode: Optional[str]) -> None:
        lib.vmsec_profile_set_numa_mode(self.handle, -1 if mode is None else _enum(NUMA_MODES, mode, "NUMA mode"))

    @numa_mode.deleter
    def numa_mode(self) -> None:
        self.numa_mode = None

    def vcpu_pin(self, vcpu: int) -> Optional[str]:
        """The CPU set vCPU ``vcpu`` is pinned to, or None."""
        return _text_getter(lib.vmsec_profile_get_vcpu_pin, self.handle, int(vcpu))

    def set_vcpu_pin(self, vcpu: int, cpuset: Optional[str]) -> None:
        """Pins vCPU ``vcpu`` to ``cpuset`` (libvirt syntax ``0-3,^2``); None unsets."""
        lib.vmsec_profile_set_vcpu_pin(self.handle, int(vcpu), None if cpuset is None else cpuset.encode())

    def iothread_pin(self, iothread: int) -> Optional[str]:
        """The CPU set of I/O thread id ``iothread`` (1-based, as libvirt), or None."""
        return _text_getter(lib.vmsec_profile_get_iothread_pin, self.handle, int(iothread))

    def set_iothread_pin(self, iothread: int, cpuset: Optional[str]) -> None:
        """Pins I/O thread id ``iothread`` to ``cpuset``; None unsets."""
        lib.vmsec_profile_set_iothread_pin(self.handle, int(iothread), None if cpuset is None else cpuset.encode())

    def cpu_period(self, scope: str) -> Optional[int]:
        """CFS period in microseconds for ``scope`` (vcpu, emulator, iothread, global), or None."""
        return _num_getter(lib.vmsec_profile_get_cpu_period, ctypes.c_uint64, self.handle,
                           _enum(CPU_SCOPES, scope, "CPU scope"))

    def set_cpu_period(self, scope: str, period_us: Optional[int]) -> None:
        """Sets the CFS period (1000..1000000 us) for ``scope``; None unsets."""
        lib.vmsec_profile_set_cpu_period(self.handle, _enum(CPU_SCOPES, scope, "CPU scope"),
                                         0 if period_us is None else _positive(period_us))

    def cpu_quota(self, scope: str) -> Optional[int]:
        """CFS quota in microseconds for ``scope`` (QUOTA_UNLIMITED = no limit), or None."""
        return _num_getter(lib.vmsec_profile_get_cpu_quota, ctypes.c_int64, self.handle,
                           _enum(CPU_SCOPES, scope, "CPU scope"))

    def set_cpu_quota(self, scope: str, quota_us: Optional[int]) -> None:
        """Sets the CFS quota for ``scope`` (QUOTA_UNLIMITED or 1000..); None unsets."""
        if quota_us is not None and quota_us != QUOTA_UNLIMITED:
            quota_us = _positive(quota_us)
        lib.vmsec_profile_set_cpu_quota(self.handle, _enum(CPU_SCOPES, scope, "CPU scope"),
                                        0 if quota_us is None else quota_us)

    # --- per-device block I/O -------------------------------------------------------------------
    def blkio_devices(self) -> Dict[str, Dict[str, int]]:
        """Per-device settings: ``{"/dev/sdb": {"weight": 500, "read_bytes_sec": ...}}``."""
        count = ctypes.c_size_t()
        lib.vmsec_profile_blkio_device_count(self.handle, ctypes.byref(count))
        result: Dict[str, Dict[str, int]] = {}
        buf = ctypes.create_string_buffer(_PATH_MAX)
        for i in range(count.value):
            lib.vmsec_profile_blkio_device_path(self.handle, i, buf, _PATH_MAX)
            path = buf.value.decode()
            fields = {}
            for fname, fid in BLKIO_FIELDS.items():
                value = _num_getter(lib.vmsec_profile_get_blkio_device, ctypes.c_uint64, self.handle,
                                    path.encode(), fid)
                if value is not None:
                    fields[fname] = value
            result[path] = fields
        return result

    def set_blkio_device(self, path: str, field: str, value: Optional[int]) -> None:
        """Sets (or with None unsets) one per-device setting such as ``("/dev/sdb", "weight", 500)``."""
        fid = _enum(BLKIO_FIELDS, field, "block I/O field")
        if value is None:
            lib.vmsec_profile_unset_blkio_device(self.handle, path.encode(), fid)
        else:
            lib.vmsec_profile_set_blkio_device(self.handle, path.encode(), fid, _positive(value))


__all__ = ["Profile", "UNLIMITED", "QUOTA_UNLIMITED", "NUMA_MODES", "CPU_SCOPES", "BLKIO_FIELDS"]
