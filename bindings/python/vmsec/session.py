# SPDX-License-Identifier: ISC
"""Sessions that survive a transport reset (vmsec/session.h, doc/SESSIONS.md).

A :class:`Session` carries messages over a sequence of channels: when the connection dies without
an orderly close (a migrated or restored VM, a restarted relay), the connecting side reconnects,
proves it resumes the same session, and both sides resend what the other did not receive. Every
message arrives exactly once, in order. A side that lost its state is reported as
:class:`vmsec.SessionLost`; a session not resumed within its reconnect deadline as
:class:`vmsec.TimedOut`.
"""
from __future__ import annotations

import ctypes
from typing import Callable, Iterator, Optional

from . import errors
from ._lib import defer_exception, lib
from .channel import ChannelConfig, Listener, _recv_message

OPTIONS_VERSION = 1
#: Connections a non-blocking :class:`SessionListener` keeps while their handshakes are under way.
PENDING_MAX = lib.vmsec_session_listener_pending_max()
_RECV_START = 64 * 1024
#: A resolver: given the last address, returns the address to reconnect to (None: skip this attempt).
ResolveFn = Callable[[str], Optional[str]]
_RESOLVE_CFUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)


class _Options(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("max_unacked_bytes", ctypes.c_size_t),
                ("max_unacked_messages", ctypes.c_size_t), ("ack_delay_ms", ctypes.c_uint),
                ("backoff_initial_ms", ctypes.c_uint), ("backoff_max_ms", ctypes.c_uint),
                ("reconnect_deadline_ms", ctypes.c_uint), ("resolve", ctypes.c_void_p),
                ("resolve_user", ctypes.c_void_p), ("dial", ctypes.c_void_p), ("dial_user", ctypes.c_void_p),
                ("accepted", ctypes.c_void_p), ("accepted_user", ctypes.c_void_p)]


def _options(resolve: Optional[ResolveFn] = None, **settings: Optional[int]) -> tuple[_Options, object]:
    """The C options with the library's defaults, then the given settings (None: keep the
    default); also the callback object to keep alive while the session exists."""
    opts = _Options()
    lib.vmsec_session_options_init(ctypes.byref(opts), OPTIONS_VERSION)
    for name, value in settings.items():
        if value is not None:
            setattr(opts, name, int(value))
    keep = None
    if resolve is not None:
        def trampoline(_user, buf, cap):  # noqa: ANN001
            try:
                address = resolve(ctypes.string_at(buf).decode())
                if address is None:
                    return -1
                raw = address.encode()
                if len(raw) >= cap:
                    raise ValueError(f"resolved address too long: {address!r}")
                ctypes.memmove(buf, raw + b"\0", len(raw) + 1)
                return 0
            except BaseException as exc:  # noqa: BLE001 - re-raised when the C call returns
                defer_exception(exc)
                return -1
        keep = _RESOLVE_CFUNC(trampoline)
        opts.resolve = ctypes.cast(keep, ctypes.c_void_p)
    return opts, keep


class Session:
    """An ordered, exactly-once message session (blocking unless :attr:`nonblocking` is set; then
    calls raise :class:`vmsec.WouldBlock`: wait for :attr:`poll_events` on :meth:`fileno`, at
    most :attr:`next_timeout` seconds, and call :meth:`tick`)."""

    def __init__(self, handle: ctypes.c_void_p, keep: object = None) -> None:
        self._s = handle
        self._keep = keep
        self._buf = [ctypes.create_string_buffer(_RECV_START)]

    @classmethod
    def connect(cls, address: str, config: ChannelConfig, *, resolve: Optional[ResolveFn] = None,
                **settings: Optional[int]) -> "Session":
        """Connects to ``address`` and opens a new session. Settings: ``max_unacked_bytes``,
        ``max_unacked_messages``, ``ack_delay_ms``, ``backoff_initial_ms``, ``backoff_max_ms``,
        ``reconnect_deadline_ms``. ``resolve(last_address)`` names where to reconnect (a migrated
        guest may have a new CID)."""
        opts, keep = _options(resolve, **settings)
        handle = ctypes.c_void_p()
        lib.vmsec_session_connect(ctypes.byref(handle), config.handle, address.encode(), ctypes.byref(opts))
        return cls(handle, keep)

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_session *``; raises if freed."""
        if not self._s:
            raise ValueError("session is closed")
        return self._s

    def send(self, message: bytes) -> None:
        """Sends one message; it is kept until the peer acknowledges it."""
        message = bytes(message)
        lib.vmsec_session_send(self.handle, message, len(message))

    def recv(self) -> bytes:
        """Receives the next message. Raises :class:`vmsec.Closed` once the peer closed the session."""
        return _recv_message(lib.vmsec_session_recv, self.handle, self._buf)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self.recv()
            except errors.Closed:
                return

    def close(self) -> None:
        """Closes the session in order (returns once the peer acknowledged everything) and frees it."""
        if getattr(self, "_s", None):
            try:
                lib.vmsec_session_close(self._s)
            finally:
                self.free()

    def free(self) -> None:
        """Frees the session without closing it (the peer sees a lost link); idempotent."""
        if getattr(self, "_s", None):
            lib.vmsec_session_free(self._s)
            self._s = ctypes.c_void_p()

    def fileno(self) -> int:
        """The current channel's descriptor, else the reconnect attempt's, or -1 between attempts;
        it changes on every attempt: take it afresh after every call."""
        return lib.vmsec_session_fd(self.handle)

    @property
    def poll_events(self) -> int:
        """The ``select.POLLIN``/``POLLOUT`` mask to wait for on :meth:`fileno`."""
        return lib.vmsec_session_poll_events(self.handle)

    @property
    def next_timeout(self) -> Optional[float]:
        """Seconds until the next timer (acknowledgement, reconnect attempt, deadline); None: none."""
        ms = lib.vmsec_session_next_timeout_ms(self.handle)
        return None if ms < 0 else ms / 1000

    def tick(self) -> None:
        """Runs timers, reconnect attempts and I/O (non-blocking sessions)."""
        lib.vmsec_session_tick(self.handle)

    @property
    def nonblocking(self) -> bool:
        """Whether calls raise :class:`vmsec.WouldBlock` instead of waiting."""
        return bool(getattr(self, "_nonblocking", False))

    @nonblocking.setter
    def nonblocking(self, value: bool) -> None:
        lib.vmsec_session_set_nonblocking(self.handle, 1 if value else 0)
        self._nonblocking = bool(value)

    @property
    def id(self) -> bytes:
        """The session id (public: it names the session, it authenticates nobody)."""
        n = lib.vmsec_session_id_bytes()
        buf = ctypes.create_string_buffer(n)
        lib.vmsec_session_id(self.handle, buf, n)
        return buf.raw

    @property
    def links(self) -> int:
        """How many channels the session has used (1 before any reconnect)."""
        return lib.vmsec_session_links(self.handle)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, exc_type, *exc: object) -> None:  # noqa: ANN001
        if exc_type is None:
            self.close()
        else:
            self.free()

    def __del__(self) -> None:
        self.free()


class SessionListener:
    """The accepting side's table of sessions over a :class:`vmsec.Listener` (which must outlive it)."""

    def __init__(self, listener: Listener, config: ChannelConfig, **settings: Optional[int]) -> None:
        opts, _ = _options(None, **settings)
        self._listener = listener
        self._sl = ctypes.c_void_p()
        lib.vmsec_session_listener_new(ctypes.byref(self._sl), config.handle, listener.handle, ctypes.byref(opts))

    def accept(self) -> Optional[Session]:
        """Accepts one connection: a new :class:`Session`, or None when it resumed a known one.
        Raises :class:`vmsec.SessionLost` for a resume of a session this side does not know.
        With :attr:`nonblocking` set it never waits: it raises :class:`vmsec.WouldBlock` when no
        pending connection finished; any other error concerns one connection (closed): call
        again until :class:`vmsec.WouldBlock`, then wait for :meth:`fileno` to be readable or
        :attr:`next_timeout`."""
        handle = ctypes.c_void_p()
        lib.vmsec_session_listener_accept(self._sl, ctypes.byref(handle))
        return Session(handle) if handle else None

    @property
    def nonblocking(self) -> bool:
        """Whether :meth:`accept` is non-blocking: handshakes then advance step by step over the
        calls, at most :data:`PENDING_MAX` at a time (the oldest is closed for a new one), and an
        event loop waits on :meth:`fileno`. Set it before the first :meth:`accept`."""
        return bool(getattr(self, "_nonblocking", False))

    @nonblocking.setter
    def nonblocking(self, value: bool) -> None:
        lib.vmsec_session_listener_set_nonblocking(self._sl, 1 if value else 0)
        self._nonblocking = bool(value)

    def fileno(self) -> int:
        """A descriptor (fixed) that is readable when :meth:`accept` has something to do."""
        return lib.vmsec_session_listener_fd(self._sl)

    @property
    def next_timeout(self) -> Optional[float]:
        """Seconds until the earliest pending connection's deadline; None: nothing pending."""
        ms = lib.vmsec_session_listener_next_timeout_ms(self._sl)
        return None if ms < 0 else ms / 1000

    def close(self) -> None:
        """Frees the table (its sessions can no longer be resumed); idempotent."""
        if getattr(self, "_sl", None):
            lib.vmsec_session_listener_free(self._sl)
            self._sl = ctypes.c_void_p()

    def __enter__(self) -> "SessionListener":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


__all__ = ["Session", "SessionListener", "OPTIONS_VERSION", "PENDING_MAX"]
