# SPDX-License-Identifier: ISC
"""vmsec: VM isolation profiles and authenticated inter-VM channels (ctypes bindings for libvmsec)."""
from __future__ import annotations

from ._lib import lib as _cdll
from .errors import *  # noqa: F401,F403 - one exception class per error code
from .errors import Error
from .keys import KEY_BYTES, Keypair, PublicKey
from .profile import QUOTA_UNLIMITED, UNLIMITED, Profile
from .domain import Domain, Report, ReportEntry
from .channel import Channel, ChannelConfig, Engine, Listener
from .session import Session, SessionListener
from . import aio, planner, relay  # noqa: F401 - vmsec.aio, vmsec.planner, vmsec.relay


def __getattr__(name: str):
    """Earlier names that shadowed built-ins (``vmsec.IOError``, ``vmsec.PermissionError``)."""
    from . import errors as _errors
    new = _errors._OLD_NAMES.get(name)
    if new is None:
        raise AttributeError(f"module 'vmsec' has no attribute {name!r}")
    import warnings
    warnings.warn(f"vmsec.{name} is deprecated (it shadowed a built-in); use vmsec.{new}",
                  DeprecationWarning, stacklevel=2)
    return getattr(_errors, new)


def version() -> str:
    """The loaded library's version string."""
    return _cdll.vmsec_version_string().decode()


def version_info() -> tuple[int, int, int]:
    """The loaded library's (major, minor, patch)."""
    return (_cdll.vmsec_version_major(), _cdll.vmsec_version_minor(), _cdll.vmsec_version_patch())


def strerror(code: int) -> str:
    """The static description of an error code."""
    return _cdll.vmsec_strerror(code).decode()


__version__ = "0.1.0"
__all__ = [
    "Error", "version", "version_info", "strerror",
    "Keypair", "PublicKey", "KEY_BYTES",
    "Profile", "UNLIMITED", "QUOTA_UNLIMITED",
    "Domain", "Report", "ReportEntry",
    "Channel", "ChannelConfig", "Engine", "Listener",
    "Session", "SessionListener",
]
