# SPDX-License-Identifier: ISC
"""Profiles on libvirt domains: render, host check, apply, verify (``include/vmsec/domain.h``).

>>> with vmsec.Domain("test:///default", "test") as dom:                  # doctest: +SKIP
...     profile = vmsec.Profile.load("web.conf")
...     print(dom.host_check(profile))          # aligned table; .ok says whether it passed
...     dom.apply(profile)                       # transactional; raises with .report on failure
...     report = dom.verify(profile)
...     for entry in report:
...         print(entry.setting, entry.status, entry.actual)

Reports are plain data: iterate them for :class:`ReportEntry` tuples, ``str()`` gives the
library's aligned text table, :meth:`Report.to_json` its JSON.
"""
from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from . import errors
from ._lib import lib
from .profile import DIGEST_MAX, Profile

AFFECT_LIVE = 0x1
AFFECT_CONFIG = 0x2
#: XML namespace of the ``<vmsec:profile>`` metadata element.
METADATA_URI = "https://vmsec.org/xmlns/profile/1"
#: Status names (``vmsec_status_name()``) by ``vmsec_status`` value.
STATUSES = {code: lib.vmsec_status_name(code).decode() for code in range(9)}
_TEXT, _JSON = 0, 1
_FIELDS = 5


class ReportEntry(NamedTuple):
    """One line of a report: a setting (or host fact) and what was found."""

    setting: str
    status: str  #: ``ok``, ``drift``, ``unchecked``, ``applied``, ``next-boot``, ``failed``, ...
    expected: str
    actual: str
    source: str  #: ``libvirt`` or ``kernel <file>``
    detail: str


class Report:
    """An ordered list of :class:`ReportEntry` from a host check, an apply or a verification."""

    def __init__(self, handle: ctypes.c_void_p, message: str = "") -> None:
        self._r = handle
        #: The library's message when the operation failed (empty on success).
        self.message = message
        self._entries: List[ReportEntry] = []
        for i in range(lib.vmsec_report_count(handle)):
            fields = [(lib.vmsec_report_field(handle, i, f) or b"").decode("utf-8", "replace")
                      for f in range(_FIELDS)]
            status = STATUSES.get(lib.vmsec_report_status(handle, i), "unknown")
            self._entries.append(ReportEntry(fields[0], status, *fields[1:]))

    def __iter__(self) -> Iterator[ReportEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> ReportEntry:
        return self._entries[index]

    def count(self, status: str) -> int:
        """Number of entries with ``status`` (a name such as ``drift``)."""
        return sum(1 for e in self._entries if e.status == status)

    def with_status(self, *statuses: str) -> List[ReportEntry]:
        """The entries whose status is one of ``statuses``."""
        return [e for e in self._entries if e.status in statuses]

    @property
    def ok(self) -> bool:
        """True when nothing drifted, failed, stayed changed or is a host problem."""
        return not self.with_status("drift", "failed", "not-restored", "problem")

    def _format(self, kind: int) -> str:
        out = ctypes.c_void_p()
        lib.vmsec_report_format(self._r, kind, ctypes.byref(out))
        try:
            return ctypes.string_at(out).decode("utf-8", "replace")
        finally:
            lib.vmsec_report_string_free(out)

    def to_text(self) -> str:
        """The library's aligned text table."""
        return self._format(_TEXT)

    def to_json(self) -> str:
        """The library's JSON: ``{"entries": [...], "summary": {...}}``."""
        return self._format(_JSON)

    def as_dict(self) -> Dict[str, Any]:
        """The JSON form, parsed."""
        return json.loads(self.to_json())

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={n}" for s, n in sorted({e.status: self.count(e.status) for e in self}.items()))
        return f"<vmsec.Report {len(self)} entries ({counts})>"

    def __del__(self) -> None:
        if getattr(self, "_r", None):
            lib.vmsec_report_free(self._r)
            self._r = None


def _flags(live: bool, config: bool) -> int:
    return (AFFECT_LIVE if live else 0) | (AFFECT_CONFIG if config else 0)


def _with_report(fn, *args, raise_codes: Tuple[type, ...] = ()) -> Report:  # noqa: ANN001
    """Calls ``fn(*args, &report)``; attaches the report to any exception. Errors whose class is
    in ``raise_codes`` are returned as a report with ``message`` instead of raised."""
    rep = ctypes.c_void_p()
    try:
        fn(*args, ctypes.byref(rep))
    except errors.Error as exc:
        report = Report(rep) if rep else None
        if report is not None and isinstance(exc, raise_codes):
            report.message = str(exc)
            return report
        exc.report = report  # type: ignore[attr-defined]
        raise
    return Report(rep)


def host_check(profile: Profile, uri: Optional[str] = None, *, live: bool = False,
               config: bool = False) -> Report:
    """Can the host behind ``uri`` (None: this host, without libvirt) enforce ``profile``?
    Returns the report; ``report.ok`` is False (and ``report.message`` lists every problem)
    when it cannot."""
    return _with_report(lib.vmsec_host_check, None if uri is None else uri.encode(), profile.handle,
                        _flags(live, config), raise_codes=(errors.HostError,))


def render(profile: Profile, xml: str) -> str:
    """Merges ``profile`` into domain XML, keeping everything else; idempotent."""
    out = ctypes.c_void_p()
    lib.vmsec_domain_render(profile.handle, xml.encode(), ctypes.byref(out))
    try:
        return ctypes.string_at(out).decode()
    finally:
        lib.vmsec_domain_xml_free(out)


class Domain:
    """One libvirt domain, opened by connection URI and name (or UUID)."""

    def __init__(self, uri: Optional[str], name: str) -> None:
        """Opens ``name`` on ``uri`` (None: libvirt's default URI)."""
        self._d = ctypes.c_void_p()
        lib.vmsec_domain_open(None if uri is None else uri.encode(), name.encode(), ctypes.byref(self._d))
        self.uri, self.name = uri, name

    @classmethod
    def wrap(cls, virdomain: Any) -> "Domain":
        """Wraps a domain held by libvirt-python (a ``libvirt.virDomain``) or a raw
        ``virDomainPtr`` address; the handle takes its own libvirt references."""
        ptr = virdomain
        capsule = getattr(virdomain, "_o", None)
        if capsule is not None:
            get = ctypes.pythonapi.PyCapsule_GetPointer
            get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
            ptr = get(capsule, b"virDomainPtr")
        self = cls.__new__(cls)
        self._d = ctypes.c_void_p()
        lib.vmsec_domain_wrap(ctypes.c_void_p(ptr), ctypes.byref(self._d))
        self.uri, self.name = None, getattr(virdomain, "name", lambda: None)()
        return self

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_domain *``; raises if closed."""
        if not self._d:
            raise ValueError("domain handle is closed")
        return self._d

    def xml(self, config: bool = False) -> str:
        """The live definition, or with ``config=True`` the persistent configuration."""
        out = ctypes.c_void_p()
        lib.vmsec_domain_get_xml(self.handle, AFFECT_CONFIG if config else 0, ctypes.byref(out))
        try:
            return ctypes.string_at(out).decode()
        finally:
            lib.vmsec_domain_xml_free(out)

    def render(self, profile: Profile, config: bool = False) -> str:
        """This domain's XML with ``profile`` merged in (nothing is changed)."""
        return render(profile, self.xml(config))

    def host_check(self, profile: Profile, *, live: bool = False, config: bool = False) -> Report:
        """The host check for this domain (its memory size and state count); ``report.ok`` is
        False when the host cannot enforce the profile."""
        return _with_report(lib.vmsec_domain_host_check, self.handle, profile.handle, _flags(live, config),
                            raise_codes=(errors.HostError,))

    def apply(self, profile: Profile, *, live: bool = False, config: bool = False) -> Report:
        """Applies ``profile`` transactionally (neither flag: live if running, config if
        persistent) and records it in the domain's metadata. On failure the exception
        (:class:`vmsec.RolledBack`, :class:`vmsec.PartiallyApplied`, :class:`vmsec.HostError`...)
        carries the per-setting report as ``exc.report``."""
        return _with_report(lib.vmsec_domain_apply, self.handle, profile.handle, _flags(live, config))

    def verify(self, profile: Profile) -> Report:
        """Compares the domain (libvirt's view and the kernel's) with ``profile``. Drift is a
        result, not an error: ``report.ok`` is False and ``report.with_status("drift")`` lists it."""
        return _with_report(lib.vmsec_domain_verify, self.handle, profile.handle, 0,
                            raise_codes=(errors.DriftError,))

    def applied(self, config: bool = False) -> Optional[Tuple[Profile, str]]:
        """The profile recorded by :meth:`apply` and its digest, or None when none is recorded.
        Raises :class:`vmsec.FormatError` when the record was tampered with."""
        out = ctypes.c_void_p()
        digest = ctypes.create_string_buffer(DIGEST_MAX)
        try:
            lib.vmsec_domain_get_applied(self.handle, AFFECT_CONFIG if config else 0, ctypes.byref(out),
                                         digest, DIGEST_MAX)
        except errors.NotFound:
            return None
        return Profile._adopt(out), digest.value.decode()

    def close(self) -> None:
        """Releases the handle and its libvirt references; idempotent."""
        if getattr(self, "_d", None):
            lib.vmsec_domain_free(self._d)
            self._d = ctypes.c_void_p()

    def __enter__(self) -> "Domain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vmsec.Domain {self.name!r} on {self.uri or 'default URI'}>"


__all__ = ["Domain", "Report", "ReportEntry", "host_check", "render", "AFFECT_LIVE", "AFFECT_CONFIG",
           "METADATA_URI"]
