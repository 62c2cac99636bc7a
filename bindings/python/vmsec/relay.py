# SPDX-License-Identifier: ISC
"""The guest-to-guest relay, its policy and its peer map (``include/vmsec/relay.h``,
``include/vmsec/policy.h``).

The relay forwards ciphertext between guests by policy; the vmsec channel runs end to end, so the
caller hands the socket to :meth:`vmsec.Channel.from_socket` after :func:`request` (caller,
Noise initiator) or :func:`read_origin` (target, Noise responder)::

    sock = vmsec.channel.connect_socket("vsock:host:7350")
    vmsec.relay.request(sock, "db-1", "postgres")            # raises vmsec.Denied, ...
    with vmsec.Channel.from_socket(sock, cfg, "initiator") as ch:
        ...
"""
from __future__ import annotations

import ctypes
import json
import os
import socket
from typing import Callable, Iterable, NamedTuple, Optional, Tuple, Union

from . import errors
from ._lib import lib
from .keys import KEY_BYTES, Keypair, PublicKey

NAME_MAX: int = lib.vmsec_policy_name_max()
SERVICE_MAX: int = lib.vmsec_policy_service_max()
PROTOCOL_VERSION: int = lib.vmsec_relay_protocol_version()
DEFAULT_PORT: int = lib.vmsec_relay_default_port()
#: Limits by name, valued as ``vmsec_relay_limit``.
LIMITS = {"sessions": 1, "per_source": 2, "pending_per_source": 3, "buffer": 4,
          "request_timeout_ms": 5, "connect_timeout_ms": 6, "idle_timeout_ms": 7}
#: Counters by name, valued as ``vmsec_relay_counter``.
COUNTERS = {"active": 1, "pending": 2, "accepted": 3, "denied": 4, "refused": 5, "bytes": 6}

_IDENTIFY = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint32),
                             ctypes.c_void_p, ctypes.c_size_t)
_CONNECT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32,
                            ctypes.POINTER(ctypes.c_int))
_AUDIT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_EINTERNAL = -26

PathLike = Union[str, "os.PathLike[str]"]
FdLike = Union[socket.socket, int]


def _fd(sock: FdLike) -> int:
    return sock if isinstance(sock, int) else sock.fileno()


def _tags(tags: Iterable[str]):  # noqa: ANN202
    items = [t.encode() for t in tags]
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)


class Decision(NamedTuple):
    """A policy decision: whether allowed, the deciding rule's line (0: default deny), and why."""

    allowed: bool
    line: int
    reason: str


class Policy:
    """A relay policy (``service``, ``group``, ``allow`` and ``deny`` lines; first match wins,
    default deny). Errors name the file and line."""

    def __init__(self, handle: ctypes.c_void_p) -> None:
        self._p = handle

    @classmethod
    def parse(cls, text: Union[str, bytes], name: Optional[str] = None) -> "Policy":
        """Parses policy text; ``name`` stands for the file name in messages."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        handle = ctypes.c_void_p()
        lib.vmsec_policy_load_string(ctypes.byref(handle), data, len(data), None if name is None else name.encode())
        return cls(handle)

    @classmethod
    def load(cls, path: PathLike) -> "Policy":
        """Reads and parses a policy file."""
        handle = ctypes.c_void_p()
        lib.vmsec_policy_load_file(ctypes.byref(handle), os.fsencode(path))
        return cls(handle)

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_policy *``; raises if closed or handed to a relay."""
        if not self._p:
            raise ValueError("policy is closed (or owned by a relay)")
        return self._p

    @property
    def name(self) -> str:
        """The file path or name given at load time."""
        return lib.vmsec_policy_name(self.handle).decode()

    def __len__(self) -> int:
        return lib.vmsec_policy_rule_count(self.handle)

    def check(self, service: str, source: str, target: str, source_tags: Iterable[str] = (),
              target_tags: Iterable[str] = ()) -> Decision:
        """Decides whether ``source`` may reach ``service`` on ``target``."""
        line = ctypes.c_uint()
        try:
            lib.vmsec_policy_check(self.handle, service.encode(), source.encode(), _tags(source_tags),
                                   target.encode(), _tags(target_tags), ctypes.byref(line))
        except errors.Denied as exc:
            return Decision(False, line.value, str(exc))
        return Decision(True, line.value, "")

    def service_port(self, service: str) -> Optional[int]:
        """The vsock port of ``service``, or None when the policy does not name it."""
        port = ctypes.c_uint32()
        try:
            lib.vmsec_policy_service_port(self.handle, service.encode(), ctypes.byref(port))
        except errors.NotFound:
            return None
        return port.value

    def _release(self) -> ctypes.c_void_p:
        handle, self._p = self.handle, ctypes.c_void_p()
        return handle

    def __repr__(self) -> str:
        if not self._p:
            return "<vmsec.relay.Policy closed or owned by a relay>"
        return f"<vmsec.relay.Policy {self.name}, {len(self)} rule{'s' if len(self) != 1 else ''}>"

    def close(self) -> None:
        """Frees the policy; idempotent."""
        if getattr(self, "_p", None):
            lib.vmsec_policy_free(self._p)
            self._p = ctypes.c_void_p()

    def __enter__(self) -> "Policy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class PeerMap:
    """Which static key each domain must authenticate with (checked in constant time)."""

    def __init__(self, entries: Optional[dict] = None) -> None:
        self._m = ctypes.c_void_p()
        lib.vmsec_peermap_new(ctypes.byref(self._m))
        for domain, key in (entries or {}).items():
            self.add(domain, key)

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_peermap *``; raises if closed."""
        if not self._m:
            raise ValueError("peer map is closed")
        return self._m

    def add(self, domain: str, key: Union[PublicKey, str]) -> None:
        """Maps ``domain`` to ``key``; raises :class:`vmsec.AlreadyExists` for a mapped domain."""
        raw = (key if isinstance(key, PublicKey) else PublicKey.from_text(key)).raw
        lib.vmsec_peermap_add(self.handle, domain.encode(), raw, KEY_BYTES)

    def load(self, path: PathLike) -> None:
        """Adds the ``DOMAIN x25519:...`` lines of a file."""
        lib.vmsec_peermap_load_file(self.handle, os.fsencode(path))

    def check(self, domain: str, key: PublicKey) -> None:
        """Raises :class:`vmsec.AuthenticationError` unless ``key`` is ``domain``'s key."""
        lib.vmsec_peermap_check(self.handle, domain.encode(), key.raw, KEY_BYTES)

    def __contains__(self, item: Tuple[str, PublicKey]) -> bool:
        try:
            self.check(*item)
        except errors.AuthenticationError:
            return False
        return True

    def __repr__(self) -> str:
        return "<vmsec.relay.PeerMap closed>" if not self._m else "<vmsec.relay.PeerMap>"

    def close(self) -> None:
        """Frees the map; idempotent."""
        if getattr(self, "_m", None):
            lib.vmsec_peermap_free(self._m)
            self._m = ctypes.c_void_p()

    def __enter__(self) -> "PeerMap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Relay:
    """The relay engine of ``vmsec-relayd``, embeddable: listeners, policy, limits, audit, and
    either libvirt (:meth:`use_libvirt`) or callbacks to identify callers and reach targets.

    Run it with :meth:`run` in a thread (stop with :meth:`interrupt`, thread-safe) or drive it
    from your own loop with :meth:`fileno` and :meth:`dispatch`.
    """

    def __init__(self) -> None:
        self._r = ctypes.c_void_p()
        self._refs: dict = {}  # ctypes callbacks the C side may call
        lib.vmsec_relay_new(ctypes.byref(self._r))

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_relay *``; raises if closed."""
        if not self._r:
            raise ValueError("relay is closed")
        return self._r

    def set_policy(self, policy: Union[Policy, str, None]) -> None:
        """Installs a :class:`Policy` (the relay takes it over), a policy file path, or None
        (deny everything). A file that does not parse leaves the relay denying everything."""
        if isinstance(policy, Policy):
            lib.vmsec_relay_set_policy(self.handle, policy._release())
        elif policy is None:
            lib.vmsec_relay_set_policy(self.handle, None)
        else:
            lib.vmsec_relay_load_policy(self.handle, os.fsencode(policy))

    def set_limit(self, name: str, value: int) -> None:
        """Sets a limit by name (see :data:`LIMITS`)."""
        lib.vmsec_relay_set_limit(self.handle, _named(LIMITS, name, "limit"), int(value))

    def stat(self, name: str) -> int:
        """Reads a counter by name (see :data:`COUNTERS`); thread-safe."""
        value = ctypes.c_uint64()
        lib.vmsec_relay_stat(self.handle, _named(COUNTERS, name, "counter"), ctypes.byref(value))
        return value.value

    def use_libvirt(self, uri: Optional[str] = None) -> None:
        """Identifies callers by vsock CID and reaches targets through libvirt at ``uri``."""
        lib.vmsec_relay_use_libvirt(self.handle, None if uri is None else uri.encode())

    def set_directory_resync(self, ms: int) -> None:
        """Rebuilds the libvirt directory at least every ``ms`` milliseconds (100 to 3600000,
        default 5000): the bound on how long a change whose event was lost goes unseen."""
        lib.vmsec_relay_set_directory_resync(self.handle, int(ms))

    def set_identify(self, fn: Callable[[int], Optional[Tuple[str, int]]]) -> None:
        """``fn(fd) -> (domain, cid)`` names the caller of an accepted connection; None or an
        exception refuses it."""
        def trampoline(_user, fd, cid, buf, cap):  # noqa: ANN001
            try:
                found = fn(fd)
                if found is None:
                    return _EINTERNAL
                name = found[0].encode()
                if len(name) >= cap:
                    return _EINTERNAL
                ctypes.memmove(buf, name + b"\0", len(name) + 1)
                cid[0] = int(found[1])
                return 0
            except Exception:
                return _EINTERNAL
        self._refs["identify"] = ref = _IDENTIFY(trampoline)
        lib.vmsec_relay_set_identify(self.handle, ctypes.cast(ref, ctypes.c_void_p), None)

    def set_connect(self, fn: Callable[[str, int], socket.socket]) -> None:
        """``fn(domain, port) -> socket`` reaches an allowed target; the relay takes over a
        duplicate of the socket's descriptor (made non-blocking). An exception makes the target
        unavailable."""
        def trampoline(_user, domain, port, out):  # noqa: ANN001
            try:
                sock = fn(domain.decode(), port)
                fd = os.dup(_fd(sock))
                os.set_blocking(fd, False)
                out[0] = fd
                return 0
            except Exception:
                return _EINTERNAL
        self._refs["connect"] = ref = _CONNECT(trampoline)
        lib.vmsec_relay_set_connect(self.handle, ctypes.cast(ref, ctypes.c_void_p), None)

    def set_audit(self, fn: Optional[Callable[[str], None]] = None, *, fd: Optional[int] = None,
                  path: Optional[PathLike] = None, syslog: Optional[bool] = None) -> None:
        """Where audit records (one JSON object each) go: a callback, a descriptor (-1 stops), a
        file (appended, 0600), syslog. Arguments left out are unchanged."""
        if fn is not None:
            def trampoline(_user, line):  # noqa: ANN001
                try:
                    fn(line.decode())
                except Exception:  # an audit sink must not break the relay
                    pass
            self._refs["audit"] = ref = _AUDIT(trampoline)
            lib.vmsec_relay_set_audit_callback(self.handle, ctypes.cast(ref, ctypes.c_void_p), None)
        if fd is not None:
            lib.vmsec_relay_set_audit_fd(self.handle, int(fd))
        if path is not None:
            lib.vmsec_relay_set_audit_file(self.handle, os.fsencode(path))
        if syslog is not None:
            lib.vmsec_relay_set_audit_syslog(self.handle, 1 if syslog else 0)

    def listen_vsock(self, port: int = DEFAULT_PORT) -> None:
        """Listens on a host vsock port."""
        lib.vmsec_relay_listen_vsock(self.handle, int(port))

    def listen_unix(self, path: PathLike, domain: str = "host") -> None:
        """Listens on a unix socket whose callers are identified as ``domain``: ``"host"`` or
        ``"host:NAME"``, the host side's names, which no domain can take."""
        lib.vmsec_relay_listen_unix(self.handle, os.fsencode(path), domain.encode())

    def set_keypair(self, keypair: Keypair) -> None:
        """Sets this relay's static key, proved to linked relays (doc/RELAY.md, Federation)."""
        lib.vmsec_relay_set_keypair(self.handle, keypair.handle)

    def add_peer(self, host: str, address: Optional[str], key: Union[PublicKey, str]) -> None:
        """Links with the relay proving ``key``; its guests are named ``host/DOMAIN``. ``address``
        (``tcp:ADDRESS:PORT``) is where it accepts links, or None if this relay never dials it."""
        raw = (key if isinstance(key, PublicKey) else PublicKey.from_text(key)).raw
        lib.vmsec_relay_add_peer(self.handle, host.encode(), None if address is None else address.encode(),
                                 raw, KEY_BYTES)

    def load_peers(self, path: PathLike) -> None:
        """Adds the ``NAME ADDRESS|- x25519:...`` lines of a file, all or nothing."""
        lib.vmsec_relay_load_peers(self.handle, os.fsencode(path))

    def reload_peers(self, path: PathLike) -> None:
        """Replaces the peers with those of a file; on error the relay has none (fail closed)."""
        lib.vmsec_relay_reload_peers(self.handle, os.fsencode(path))

    def listen_link(self, address: str) -> None:
        """Accepts links from the peers on ``tcp:ADDRESS:PORT``."""
        lib.vmsec_relay_listen_link(self.handle, address.encode())

    def run(self) -> None:
        """Runs until :meth:`interrupt`."""
        lib.vmsec_relay_run(self.handle)

    def dispatch(self, timeout: Optional[float] = 0) -> None:
        """Handles what is ready within ``timeout`` seconds (None: wait for something)."""
        lib.vmsec_relay_dispatch(self.handle, -1 if timeout is None else int(timeout * 1000))

    def fileno(self) -> int:
        """A descriptor that becomes readable when :meth:`dispatch` has work."""
        return lib.vmsec_relay_fd(self.handle)

    def next_timeout(self) -> Optional[float]:
        """Seconds until the relay's next deadline (0 when one is due), or None when nothing is
        scheduled: how long an outer loop may wait on :meth:`fileno` before :meth:`dispatch`."""
        ms = lib.vmsec_relay_next_timeout_ms(self.handle)
        return None if ms < 0 else ms / 1000.0

    def snapshot(self) -> dict:
        """What the relay is doing now: counters, policy, sources and sessions (doc/RELAY.md,
        "Status"). Call it from the thread that runs the relay, or while it does not run."""
        out = ctypes.c_void_p()
        lib.vmsec_relay_snapshot_json(self.handle, ctypes.byref(out))
        try:
            return json.loads(ctypes.string_at(out).decode("utf-8"))
        finally:
            lib.vmsec_relay_snapshot_free(out)

    def interrupt(self) -> None:
        """Makes :meth:`run` return soon; thread-safe."""
        lib.vmsec_relay_interrupt(self.handle)

    def shutdown(self, timeout: float = 0) -> None:
        """Stops accepting and lets sessions finish for up to ``timeout`` seconds (call after
        :meth:`run` returned, from the same thread); then only :meth:`close` is allowed."""
        lib.vmsec_relay_shutdown(self.handle, int(timeout * 1000))

    def __repr__(self) -> str:
        if not self._r:
            return "<vmsec.relay.Relay closed>"
        counts = ", ".join(f"{name} {self.stat(name)}" for name in ("active", "accepted", "denied"))
        return f"<vmsec.relay.Relay {counts}>"

    def close(self) -> None:
        """Frees the relay, closing every listener and session; idempotent."""
        if getattr(self, "_r", None):
            lib.vmsec_relay_free(self._r)
            self._r = ctypes.c_void_p()

    def __enter__(self) -> "Relay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _named(table: dict, name: str, what: str) -> int:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; expected one of {', '.join(table)}") from None


def request(sock: FdLike, target: str, service: str, timeout: float = 5.0) -> None:
    """Caller side: asks the relay for ``service`` on ``target``. Raises :class:`vmsec.Denied`,
    :class:`vmsec.ConnectionRefused` (unavailable or busy), :class:`vmsec.Timeout`, ..."""
    lib.vmsec_relay_request(_fd(sock), target.encode(), service.encode(), int(timeout * 1000))


def read_origin(sock: FdLike, timeout: float = 5.0) -> Tuple[str, int, str]:
    """Target side: reads the relay's origin header; returns (caller domain, caller CID, service)."""
    domain = ctypes.create_string_buffer(NAME_MAX + 1)
    service = ctypes.create_string_buffer(SERVICE_MAX + 1)
    cid = ctypes.c_uint32()
    lib.vmsec_relay_origin_read(_fd(sock), int(timeout * 1000), domain, NAME_MAX + 1, ctypes.byref(cid),
                                service, SERVICE_MAX + 1)
    return domain.value.decode(), cid.value, service.value.decode()


__all__ = ["Policy", "PeerMap", "Relay", "Decision", "request", "read_origin", "LIMITS", "COUNTERS",
           "DEFAULT_PORT"]
