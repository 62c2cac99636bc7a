# SPDX-License-Identifier: ISC
"""Exceptions: one :class:`Error` subclass per ``VMSEC_E*`` code."""
from __future__ import annotations


class Error(Exception):
    """A vmsec call failed. ``code`` is the negative ``VMSEC_E*`` value; ``str()`` is the library's
    message (``vmsec_error_last()``) with its context."""

    code = 0

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


# code -> (class name, docstring, built-in bases); values are the C library's stable error codes.
# Each class also derives from the built-in exception that code means, so that code written for
# the standard library (``except TimeoutError``, ``except KeyError``...) handles it; no class takes
# a built-in's name.
_CODES = {
    -1: ("InvalidArgument", "An argument is invalid.", (ValueError,)),
    -2: ("OutOfMemory", "Memory could not be allocated.", (MemoryError,)),
    -3: ("SystemCallError", "A system call failed.", (OSError,)),
    -4: ("PermissionDenied", "Refused for safety or permissions.", (PermissionError,)),
    -5: ("FormatError", "Malformed input.", (ValueError,)),
    # a missing file and a missing key share one code: both built-ins apply
    -6: ("NotFound", "A named object does not exist.", (FileNotFoundError, KeyError)),
    -7: ("AlreadyExists", "The object exists and would be overwritten.", (FileExistsError,)),
    -8: ("WouldBlock", "The operation would block.", (BlockingIOError,)),
    -9: ("AuthenticationError", "Authentication failed.", ()),
    -10: ("ProtocolError", "The peer violated the protocol.", ()),
    -11: ("Timeout", "A deadline passed.", (TimeoutError,)),
    -12: ("Closed", "The peer closed the channel cleanly.", ()),
    -13: ("Truncated", "The stream ended without a clean close.", (ConnectionError,)),
    -14: ("TooBig", "A message or value is too large.", (ValueError,)),
    -15: ("Unsupported", "Not supported here.", ()),
    -16: ("StateError", "Wrong state for this call.", ()),
    -17: ("CryptoError", "A cryptographic primitive failed.", ()),
    -18: ("LibvirtError", "libvirt reported an error.", ()),
    -19: ("HostError", "The host cannot enforce the request.", ()),
    -20: ("ConnectionRefused", "Nobody listens at the address.", (ConnectionRefusedError,)),
    -21: ("AddressInUse", "The address is already in use.", (OSError,)),
    -22: ("Denied", "Denied by policy.", ()),
    -23: ("RolledBack", "An apply step failed and every change was restored.", ()),
    -24: ("PartiallyApplied", "An apply step failed and restoring failed too.", ()),
    -25: ("DriftError", "The enforced state differs from the profile.", ()),
    -26: ("InternalError", "An internal invariant was violated.", ()),
    -27: ("PeerMessageTooLarge", "The peer's message exceeds the maximum; the channel failed.", ()),
    -28: ("PeerDead", "The peer sent nothing within the dead-peer timeout; the channel failed.",
          (TimeoutError,)),
    -29: ("SessionLost", "One side lost the session's state; messages may be lost, the session is over.", ()),
}

#: Names of earlier releases that shadowed built-ins, kept as aliases (not exported by ``*``).
_OLD_NAMES = {"IOError": "SystemCallError", "PermissionError": "PermissionDenied"}

_BY_CODE: dict[int, type[Error]] = {}
for _code, (_name, _doc, _bases) in _CODES.items():
    _cls = type(_name, (Error,) + _bases, {"code": _code, "__doc__": _doc, "__module__": __name__})
    globals()[_name] = _cls
    _BY_CODE[_code] = _cls
for _old, _new in _OLD_NAMES.items():
    globals()[_old] = globals()[_new]


def from_code(code: int, message: str) -> Error:
    """Returns the exception instance for a negative error code."""
    cls = _BY_CODE.get(code, Error)
    return cls(message, code)


__all__ = ["Error", "from_code"] + [name for name, _, _ in _CODES.values()]
