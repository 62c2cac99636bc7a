# SPDX-License-Identifier: ISC
"""Authenticated, encrypted channels (``include/vmsec/channel.h``, ``include/vmsec/transport.h``).

Three layers, as in C:

* :class:`ChannelConfig` - own keypair, trusted peers, Noise protocol, PSK, limits;
* :class:`Engine` - the sans-I/O protocol machine (bytes in, bytes out), for event loops,
  relays and tests;
* :class:`Channel` - an engine driven over a stream socket (vsock, unix, TCP), with
  :class:`Listener` for the accepting side.

>>> with vmsec.Keypair.generate() as me:                                   # doctest: +SKIP
...     cfg = vmsec.ChannelConfig(me, trusted_peers=[server_key])
...     with vmsec.Channel.connect("vsock:2:5000", cfg) as ch:
...         ch.send(b"hello")
...         reply = ch.recv()

Addresses are ``vsock:CID:PORT``, ``unix:PATH`` (``unix:@NAME`` is abstract) and
``tcp:HOST:PORT``. Every failure raises a :class:`vmsec.Error` subclass; authentication and
integrity failures fail the channel closed (later calls raise :class:`vmsec.StateError`).
"""
from __future__ import annotations

import ctypes
import os
import socket
import time
from typing import Callable, Iterable, Iterator, Optional, Union

from . import errors
from ._lib import defer_exception, lib
from .keys import KEY_BYTES, Keypair, PublicKey

DEFAULT_PROTOCOL = "Noise_XX_25519_ChaChaPoly_BLAKE2b"
DEFAULT_MAX_MESSAGE: int = lib.vmsec_channel_default_max_message()
MAX_MESSAGE_LIMIT: int = lib.vmsec_channel_max_message_limit()
HANDSHAKE_HASH_MAX: int = lib.vmsec_handshake_hash_max()
RECORD_PAYLOAD_MAX: int = lib.vmsec_record_payload_max()
PSK_BYTES: int = lib.vmsec_psk_bytes()
ADDRESS_MAX: int = lib.vmsec_address_max()

INITIATOR, RESPONDER = 1, 2
_ROLES = {"initiator": INITIATOR, "responder": RESPONDER, INITIATOR: INITIATOR, RESPONDER: RESPONDER}
#: ``vmsec_state`` values by number.
STATES = {1: "handshake", 2: "open", 3: "closed", 4: "failed"}
_OWN_FD = 0x1
_SEND_MORE = 0x1
_NO_CID = 0xFFFFFFFF
_RECV_START = 64 * 1024

#: Signature of a verify callback: receives the peer's :class:`PublicKey`, returns True to accept.
VerifyFn = Callable[[PublicKey], bool]
_VERIFY_CFUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)

KeyLike = Union[PublicKey, bytes, str]


def _key_bytes(key: KeyLike) -> bytes:
    if isinstance(key, PublicKey):
        return key.raw
    if isinstance(key, str):
        return PublicKey.from_text(key).raw
    raw = bytes(key)
    if len(raw) != KEY_BYTES:
        raise ValueError(f"a public key is {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def validate_address(address: str) -> None:
    """Checks an address's syntax (no name resolution); raises :class:`vmsec.FormatError`."""
    lib.vmsec_address_validate(address.encode())


def connect_socket(address: str, timeout: Optional[float] = None) -> socket.socket:
    """Connects a plain stream socket to ``address`` (``timeout`` in seconds, None = no limit)."""
    fd = ctypes.c_int(-1)
    lib.vmsec_transport_connect(address.encode(), _ms(timeout), ctypes.byref(fd))
    return socket.socket(fileno=fd.value)


def _ms(seconds: Optional[float]) -> int:
    if seconds is None:
        return 0
    if seconds <= 0:
        raise ValueError("a timeout must be positive (None means no limit)")
    return max(1, int(seconds * 1000))


class ChannelConfig:
    """Keys, trust and protocol of channels; one configuration serves any number of channels
    (each channel and engine copies it when created).

    With neither trusted peers nor a ``verify`` callback every peer is refused, unless
    ``allow_any_peer=True`` is given explicitly.
    """

    def __init__(self, keypair: Optional[Keypair] = None, *, trusted_peers: Iterable[KeyLike] = (),
                 peer_key: Optional[KeyLike] = None, verify: Optional[VerifyFn] = None,
                 allow_any_peer: bool = False, protocol: Optional[str] = None, pattern: Optional[str] = None,
                 suite: Optional[str] = None, psk: Optional[bytes] = None, prologue: Optional[bytes] = None,
                 max_message: Optional[int] = None, rekey_interval: Optional[int] = None,
                 handshake_timeout: Optional[float] = None, protocol_version: Optional[int] = None,
                 keepalive: Optional[float] = None, dead_after: Optional[float] = None,
                 rekey_time: Optional[int] = None) -> None:
        self._cfg = ctypes.c_void_p()
        self._verify_ref = None  # keeps the ctypes callback alive as long as the C side may call it
        # what repr shows; the library has no getters for them
        self._own_fp: Optional[str] = None
        self._n_trusted = 0
        self._peer_fp: Optional[str] = None
        self._any_peer = False
        lib.vmsec_channel_config_new(ctypes.byref(self._cfg))
        if keypair is not None:
            self.set_keypair(keypair)
        if protocol is not None:
            self.protocol = protocol
        if pattern is not None:
            lib.vmsec_channel_config_set_pattern(self.handle, pattern.encode())
        if suite is not None:
            lib.vmsec_channel_config_set_suite(self.handle, suite.encode())
        for key in trusted_peers:
            self.add_trusted_peer(key)
        if peer_key is not None:
            lib.vmsec_channel_config_set_peer_key(self.handle, _key_bytes(peer_key), KEY_BYTES)
            self._peer_fp = PublicKey(_key_bytes(peer_key)).fingerprint
        if verify is not None:
            self.set_verify(verify)
        if allow_any_peer:
            lib.vmsec_channel_config_set_allow_any_peer(self.handle, 1)
            self._any_peer = True
        if psk is not None:
            psk = bytes(psk)
            lib.vmsec_channel_config_set_psk(self.handle, psk, len(psk))
        if prologue is not None:
            prologue = bytes(prologue)
            lib.vmsec_channel_config_set_prologue(self.handle, prologue, len(prologue))
        if max_message is not None:
            lib.vmsec_channel_config_set_max_message(self.handle, int(max_message))
        if rekey_interval is not None:
            lib.vmsec_channel_config_set_rekey_interval(self.handle, int(rekey_interval))
        if handshake_timeout is not None:
            lib.vmsec_channel_config_set_handshake_timeout(self.handle, _ms(handshake_timeout))
        if protocol_version is not None:
            self.protocol_version = protocol_version
        if keepalive is not None or dead_after is not None:
            self.set_keepalive(keepalive, dead_after)
        if rekey_time is not None:
            lib.vmsec_channel_config_set_rekey_time(self.handle, int(rekey_time))

    def set_keepalive(self, interval: Optional[float], dead_after: Optional[float] = None) -> None:
        """Keep-alives every ``interval`` seconds without sending, and :class:`vmsec.PeerDead`
        after ``dead_after`` seconds without receiving (protocol version 2; None = off for each;
        ``dead_after`` is at least twice ``interval`` when both are set)."""
        lib.vmsec_channel_config_set_keepalive(self.handle, _ms(interval), _ms(dead_after))

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_channel_config *``; raises if closed."""
        if not self._cfg:
            raise ValueError("channel configuration is closed")
        return self._cfg

    def set_keypair(self, keypair: Keypair) -> None:
        """Uses ``keypair`` as the local static key (copied into guarded memory)."""
        lib.vmsec_channel_config_set_keypair(self.handle, keypair.handle)
        self._own_fp = keypair.public_key.fingerprint

    def add_trusted_peer(self, key: KeyLike) -> None:
        """Adds a peer public key (PublicKey, 32 bytes or ``x25519:`` text) to the allowlist."""
        lib.vmsec_channel_config_add_trusted_peer(self.handle, _key_bytes(key), KEY_BYTES)
        self._n_trusted += 1

    def set_verify(self, verify: Optional[VerifyFn]) -> None:
        """Installs a callback deciding on peer keys outside the allowlist (True accepts). An
        exception raised by the callback refuses the peer (fail closed); KeyboardInterrupt and
        SystemExit refuse it too, and are raised again when the call that ran the handshake returns."""
        if verify is None:
            lib.vmsec_channel_config_set_verify(self.handle, None, None)
            self._verify_ref = None
            return

        def trampoline(_user, key, key_len):  # noqa: ANN001
            # Whatever happens in here refuses the peer: an exception escaping a ctypes callback
            # would leave the C return value to chance, and 0 accepts.
            try:
                return 0 if verify(PublicKey(ctypes.string_at(key, key_len))) else -1
            except Exception:  # a bug in the callback: refuse
                return -1
            except BaseException as exc:  # KeyboardInterrupt, SystemExit: refuse, raise once C returns
                defer_exception(exc)
                return -1

        ref = _VERIFY_CFUNC(trampoline)
        lib.vmsec_channel_config_set_verify(self.handle, ctypes.cast(ref, ctypes.c_void_p), None)
        self._verify_ref = ref

    @property
    def protocol(self) -> str:
        """The full Noise protocol name, e.g. ``Noise_XX_25519_ChaChaPoly_BLAKE2b``."""
        buf = ctypes.create_string_buffer(128)
        lib.vmsec_channel_config_get_protocol(self.handle, buf, len(buf))
        return buf.value.decode()

    @protocol.setter
    def protocol(self, name: str) -> None:
        lib.vmsec_channel_config_set_protocol(self.handle, name.encode())

    @property
    def protocol_version(self) -> int:
        """The channel protocol version (default 2); both sides must use the same one. Version 1
        (since 1.1 only by this explicit opt-in) reports a peer as authenticated before it proved its
        key in this session: use it only to talk to an older peer (doc/PROTOCOL.md, appendix)."""
        return getattr(self, "_protocol_version", 2)

    @protocol_version.setter
    def protocol_version(self, version: int) -> None:
        lib.vmsec_channel_config_set_protocol_version(self.handle, int(version))
        self._protocol_version = int(version)

    def __repr__(self) -> str:
        if not getattr(self, "_cfg", None):
            return "<vmsec.ChannelConfig closed>"
        trust = [f"{self._n_trusted} trusted peer{'s' if self._n_trusted != 1 else ''}"]
        if self._verify_ref is not None:
            trust.append("verify callback")
        if self._any_peer:
            trust.append("any peer")
        if self._peer_fp:
            trust.append(f"peer key {self._peer_fp}")
        key = f"key {self._own_fp}" if self._own_fp else "no key"
        return (f"<vmsec.ChannelConfig {self.protocol} v{self.protocol_version}, {key}, "
                f"{', '.join(trust)}>")

    def close(self) -> None:
        """Wipes and frees the configuration; idempotent. Channels made from it are unaffected."""
        if getattr(self, "_cfg", None):
            lib.vmsec_channel_config_free(self._cfg)
            self._cfg = ctypes.c_void_p()

    def __enter__(self) -> "ChannelConfig":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _handshake_hash(fn, handle) -> bytes:  # noqa: ANN001
    buf = ctypes.create_string_buffer(HANDSHAKE_HASH_MAX)
    n = ctypes.c_size_t()
    fn(handle, buf, HANDSHAKE_HASH_MAX, ctypes.byref(n))
    return buf.raw[:n.value]


def _peer_key(fn, handle) -> PublicKey:  # noqa: ANN001
    buf = ctypes.create_string_buffer(KEY_BYTES)
    fn(handle, buf, KEY_BYTES)
    return PublicKey(buf.raw)


def _recv_message(fn, handle, buf_holder: list) -> bytes:  # noqa: ANN001
    """Receives one message, growing the reusable buffer when the library says it is too small."""
    n = ctypes.c_size_t()
    while True:
        buf = buf_holder[0]
        try:
            fn(handle, buf, len(buf), ctypes.byref(n))
        except errors.TooBig:
            if n.value <= len(buf):
                raise
            buf_holder[0] = ctypes.create_string_buffer(n.value)
            continue
        return buf.raw[:n.value]


class Engine:
    """The sans-I/O protocol engine: feed it the peer's bytes, send what :meth:`data_to_send`
    returns, take messages with :meth:`recv`. It never touches a socket, a clock or a thread."""

    def __init__(self, config: ChannelConfig, role: Union[str, int]) -> None:
        self._e = ctypes.c_void_p()
        self._verify_ref = config._verify_ref
        self._role = "initiator" if _role(role) == INITIATOR else "responder"
        self._protocol = config.protocol
        self._buf = [ctypes.create_string_buffer(_RECV_START)]
        lib.vmsec_engine_new(ctypes.byref(self._e), config.handle, _role(role))

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_engine *``; raises if freed."""
        if not self._e:
            raise ValueError("engine is closed")
        return self._e

    def feed(self, data: bytes) -> int:
        """Feeds bytes received from the peer; returns how many were taken (take messages with
        :meth:`recv` to make room when fewer than ``len(data)``)."""
        data = bytes(data)
        n = ctypes.c_size_t()
        lib.vmsec_engine_feed(self.handle, data, len(data), ctypes.byref(n))
        return n.value

    def receive_into(self, sock: socket.socket) -> int:
        """Reads once from ``sock`` straight into the engine's input buffer (no copy) and returns
        the byte count. 0 means either no room (take messages with :meth:`recv` first) or the end
        of the stream: take the remaining messages, then call :meth:`feed_eof`."""
        ptr = ctypes.POINTER(ctypes.c_uint8)()
        cap = ctypes.c_size_t()
        lib.vmsec_engine_input_space(self.handle, ctypes.byref(ptr), ctypes.byref(cap))
        if cap.value == 0:
            return 0
        view = memoryview((ctypes.c_uint8 * cap.value).from_address(ctypes.addressof(ptr.contents))).cast("B")
        n = sock.recv_into(view, cap.value)
        if n:
            lib.vmsec_engine_input_commit(self.handle, n)
        return n

    def feed_eof(self) -> None:
        """Tells the engine the stream ended; raises :class:`vmsec.Truncated` without a clean close."""
        lib.vmsec_engine_input_eof(self.handle)

    @property
    def pending_output(self) -> int:
        """Bytes waiting to be sent to the peer."""
        return lib.vmsec_engine_output_pending(self.handle)

    def data_to_send(self, limit: Optional[int] = None) -> bytes:
        """Takes (and consumes) up to ``limit`` bytes that must be sent to the peer."""
        ptr = ctypes.POINTER(ctypes.c_uint8)()
        n = ctypes.c_size_t()
        lib.vmsec_engine_output(self.handle, ctypes.byref(ptr), ctypes.byref(n))
        count = n.value if limit is None else min(limit, n.value)
        if count == 0:
            return b""
        data = ctypes.string_at(ptr, count)
        lib.vmsec_engine_output_consume(self.handle, count)
        return data

    def send(self, message: bytes, more: bool = False) -> None:
        """Encrypts a message into the output (after the handshake). With ``more=True`` a small
        message is packed with the following ones into one record, held back from
        :meth:`data_to_send` until a send without ``more`` or :meth:`flush` (protocol version 2;
        the peer still receives each message on its own)."""
        message = bytes(message)
        if more:
            lib.vmsec_engine_send_more(self.handle, message, len(message))
        else:
            lib.vmsec_engine_send(self.handle, message, len(message))

    def flush(self) -> None:
        """Seals the messages held by ``send(..., more=True)`` into the output."""
        lib.vmsec_engine_flush(self.handle)

    def recv(self) -> Optional[bytes]:
        """The next complete message, or None when none is complete yet. Raises
        :class:`vmsec.Closed` after the peer's clean close."""
        try:
            return _recv_message(lib.vmsec_engine_recv, self.handle, self._buf)
        except errors.WouldBlock:
            return None

    def messages(self) -> Iterator[bytes]:
        """Yields every complete message available now (stops quietly at a clean close)."""
        while True:
            try:
                msg = self.recv()
            except errors.Closed:
                return
            if msg is None:
                return
            yield msg

    def close(self) -> None:
        """Queues close_notify; send the remaining :meth:`data_to_send` afterwards."""
        lib.vmsec_engine_close(self.handle)

    @property
    def state(self) -> str:
        """``handshake``, ``open``, ``closed`` (peer closed) or ``failed``."""
        return STATES.get(lib.vmsec_engine_state(self.handle), "unknown")

    @property
    def peer_key(self) -> PublicKey:
        """The peer's authenticated static key, once open (raises :class:`StateError` before: with
        protocol version 2 not until the peer proved its key in this session)."""
        return _peer_key(lib.vmsec_engine_peer_key, self.handle)

    @property
    def handshake_hash(self) -> bytes:
        """The Noise handshake hash (channel binding), 32 or 64 bytes."""
        return _handshake_hash(lib.vmsec_engine_handshake_hash, self.handle)

    def tick(self, now_ms: Optional[int] = None) -> None:
        """Runs the timers (keep-alives, dead-peer timeout, rekey time) at monotonic time
        ``now_ms`` (default: ``time.monotonic()``); send :meth:`data_to_send` afterwards. Raises
        :class:`vmsec.PeerDead` when the peer sent nothing within the dead-peer timeout."""
        if now_ms is None:
            now_ms = time.monotonic_ns() // 1_000_000
        lib.vmsec_engine_tick(self.handle, int(now_ms))

    @property
    def next_deadline(self) -> Optional[int]:
        """When :meth:`tick` has work to do, in the milliseconds of its clock (0: now), or None
        when no timer is armed."""
        d = ctypes.c_uint64()
        return d.value if lib.vmsec_engine_next_deadline(self.handle, ctypes.byref(d)) else None

    def __repr__(self) -> str:
        if not getattr(self, "_e", None):
            return "<vmsec.Engine freed>"
        try:
            peer = "peer " + self.peer_key.fingerprint
        except errors.Error:
            peer = "peer not proven"
        return f"<vmsec.Engine {self._role}, {self.state}, {peer}, {self._protocol}>"

    def free(self) -> None:
        """Wipes and frees the engine; idempotent."""
        if getattr(self, "_e", None):
            lib.vmsec_engine_free(self._e)
            self._e = ctypes.c_void_p()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __del__(self) -> None:
        self.free()


def _role(role: Union[str, int]) -> int:
    try:
        return _ROLES[role]
    except KeyError:
        raise ValueError(f"role must be 'initiator' or 'responder', not {role!r}") from None


class Channel:
    """A channel over a connected stream socket. Blocking unless :attr:`nonblocking` is set
    (then calls raise :class:`vmsec.WouldBlock`; wait for :attr:`poll_events` on
    :meth:`fileno`).

    Use as a context manager: leaving the block sends close_notify (when the channel is still
    healthy) and releases the socket. Iterating yields received messages until the peer closes
    cleanly; a truncated stream raises :class:`vmsec.Truncated` instead of ending quietly.
    """

    def __init__(self, handle: ctypes.c_void_p, config: ChannelConfig, peer: Optional[str] = None) -> None:
        self._ch = handle
        self._verify_ref = config._verify_ref
        self._protocol = config.protocol
        self._buf = [ctypes.create_string_buffer(_RECV_START)]
        self._shut = False
        #: The peer's address as text when known (``vsock:3:1234``, ``unix:``...).
        self.peer_address = peer

    @classmethod
    def connect(cls, address: str, config: ChannelConfig) -> "Channel":
        """Connects to ``address`` and runs the handshake as initiator."""
        handle = ctypes.c_void_p()
        lib.vmsec_channel_connect(ctypes.byref(handle), config.handle, address.encode())
        return cls(handle, config, address)

    @classmethod
    def from_socket(cls, sock: Union[socket.socket, int], config: ChannelConfig, role: Union[str, int],
                    handshake: bool = True) -> "Channel":
        """Wraps a connected stream socket (or descriptor). The channel works on its own duplicate
        of the descriptor, so the caller may close ``sock``. Runs the handshake unless asked not
        to (a non-blocking socket then needs :meth:`handshake` calls)."""
        fd = os.dup(sock if isinstance(sock, int) else sock.fileno())
        handle = ctypes.c_void_p()
        try:
            lib.vmsec_channel_new(ctypes.byref(handle), config.handle, fd, _role(role), _OWN_FD)
        except BaseException:
            os.close(fd)
            raise
        ch = cls(handle, config)
        if handshake:
            try:
                ch.handshake()
            except BaseException:
                ch.free()
                raise
        return ch

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_channel *``; raises if freed."""
        if not self._ch:
            raise ValueError("channel is closed")
        return self._ch

    def handshake(self) -> None:
        """Runs (or, non-blocking, continues) the handshake."""
        lib.vmsec_channel_handshake(self.handle)

    def send(self, message: bytes, more: bool = False) -> None:
        """Sends one message. With ``more=True`` it stays buffered until a later send without it,
        :meth:`flush` or about 64 KiB are waiting; small messages sent so share records (protocol
        version 2), which makes bursts of small messages much cheaper. The peer still receives
        each message on its own."""
        message = bytes(message)
        lib.vmsec_channel_send(self.handle, message, len(message), _SEND_MORE if more else 0)

    def flush(self) -> None:
        """Writes out everything buffered, including messages sent with ``more=True``."""
        lib.vmsec_channel_flush(self.handle)

    def recv(self) -> bytes:
        """Receives one complete, authenticated message. Raises :class:`vmsec.Closed` when the
        peer closed cleanly, :class:`vmsec.Truncated` when the stream ended without a close."""
        return _recv_message(lib.vmsec_channel_recv, self.handle, self._buf)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self.recv()
            except errors.Closed:
                return

    def shutdown(self) -> None:
        """Sends close_notify and shuts down the write side; messages can still be received."""
        lib.vmsec_channel_close(self.handle)
        self._shut = True

    def close(self) -> None:
        """Sends close_notify if the channel is healthy and not shut down yet, then releases it.
        A channel freed without close_notify is seen by the peer as truncated."""
        if not getattr(self, "_ch", None):
            return
        try:
            if not self._shut and self.state in ("open", "closed"):
                self.shutdown()
        except errors.Error:
            pass  # the socket is gone or would block: the peer sees a truncation, which is honest
        finally:
            self.free()

    def free(self) -> None:
        """Releases the channel and its socket at once (no close_notify); idempotent."""
        if getattr(self, "_ch", None):
            lib.vmsec_channel_free(self._ch)
            self._ch = ctypes.c_void_p()

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, exc_type, *exc: object) -> None:  # noqa: ANN001
        if exc_type is None:
            self.close()
        else:
            self.free()

    def __del__(self) -> None:
        self.free()

    def fileno(self) -> int:
        """The socket descriptor (for selectors); owned by the channel."""
        return lib.vmsec_channel_fd(self.handle)

    @property
    def nonblocking(self) -> bool:
        """Whether calls return :class:`vmsec.WouldBlock` instead of waiting."""
        import fcntl
        return bool(fcntl.fcntl(self.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK)

    @nonblocking.setter
    def nonblocking(self, value: bool) -> None:
        lib.vmsec_channel_set_nonblocking(self.handle, 1 if value else 0)

    @property
    def poll_events(self) -> int:
        """The ``select.POLLIN``/``POLLOUT`` mask to wait for before calling again."""
        return lib.vmsec_channel_poll_events(self.handle)

    @property
    def next_timeout(self) -> Optional[float]:
        """Seconds until the next timer (handshake timeout, keep-alive, dead-peer timeout, rekey
        time), for a selector's timeout; None when none is armed. Call :meth:`tick` when it passes."""
        ms = lib.vmsec_channel_next_timeout_ms(self.handle)
        return None if ms < 0 else ms / 1000

    def tick(self) -> None:
        """Runs the timers (non-blocking channels; blocking ones run them in :meth:`recv`).
        Raises :class:`vmsec.PeerDead` when the peer sent nothing within the dead-peer timeout."""
        lib.vmsec_channel_tick(self.handle)

    @property
    def state(self) -> str:
        """``handshake``, ``open``, ``closed`` (peer closed) or ``failed``."""
        return STATES.get(lib.vmsec_channel_state(self.handle), "unknown")

    @property
    def protocol(self) -> str:
        """The Noise protocol name the channel was configured with (the suite in use)."""
        return self._protocol

    @property
    def peer_key(self) -> PublicKey:
        """The peer's authenticated static public key."""
        return _peer_key(lib.vmsec_channel_peer_key, self.handle)

    @property
    def peer_cid(self) -> Optional[int]:
        """The peer's vsock context ID, or None when the socket is not AF_VSOCK."""
        cid = ctypes.c_uint32()
        try:
            lib.vmsec_channel_peer_cid(self.handle, ctypes.byref(cid))
        except errors.NotFound:
            return None
        return cid.value

    @property
    def handshake_hash(self) -> bytes:
        """The Noise handshake hash (channel binding), 32 or 64 bytes."""
        return _handshake_hash(lib.vmsec_channel_handshake_hash, self.handle)

    def _describe(self) -> str:
        """State, peer fingerprint (once proven), protocol and peer address, for reprs."""
        state = self.state
        try:
            peer = "peer " + self.peer_key.fingerprint
        except errors.Error:
            peer = "peer not proven"
        where = f" from {self.peer_address}" if self.peer_address else ""
        return f"{state}, {peer}{where}, {self._protocol}"

    def __repr__(self) -> str:
        if not getattr(self, "_ch", None):
            return "<vmsec.Channel freed>"
        return f"<vmsec.Channel {self._describe()}>"


class Listener:
    """A listening socket: ``with Listener("unix:/run/x.sock") as l: ch = l.accept(cfg)``.
    A unix socket file is created with mode 0600 and removed when the listener is closed."""

    def __init__(self, address: str) -> None:
        self._l = ctypes.c_void_p()
        lib.vmsec_listener_new(ctypes.byref(self._l), address.encode())

    @property
    def handle(self) -> ctypes.c_void_p:
        """The underlying ``vmsec_listener *``; raises if closed."""
        if not self._l:
            raise ValueError("listener is closed")
        return self._l

    @property
    def address(self) -> str:
        """The bound address, with the port the kernel picked."""
        buf = ctypes.create_string_buffer(ADDRESS_MAX)
        lib.vmsec_listener_address(self.handle, buf, ADDRESS_MAX)
        return buf.value.decode()

    def fileno(self) -> int:
        """The listening descriptor (for selectors); owned by the listener."""
        return lib.vmsec_listener_fd(self.handle)

    def set_cid_filter(self, cids: Iterable[int]) -> None:
        """Accepts vsock peers only from these CIDs (empty: no filter)."""
        ids = [int(c) for c in cids]
        arr = (ctypes.c_uint32 * len(ids))(*ids) if ids else None
        lib.vmsec_listener_set_cid_filter(self.handle, arr, len(ids))

    def accept(self, config: ChannelConfig) -> Channel:
        """Accepts one connection and runs the handshake as responder."""
        handle = ctypes.c_void_p()
        lib.vmsec_channel_accept(ctypes.byref(handle), config.handle, self.handle)
        return Channel(handle, config)

    def accept_socket(self) -> "tuple[socket.socket, str, Optional[int]]":
        """Accepts one plain connection: (socket, peer address, peer vsock CID or None)."""
        fd = ctypes.c_int(-1)
        peer = ctypes.create_string_buffer(ADDRESS_MAX)
        cid = ctypes.c_uint32()
        lib.vmsec_listener_accept(self.handle, ctypes.byref(fd), peer, ADDRESS_MAX, ctypes.byref(cid))
        return socket.socket(fileno=fd.value), peer.value.decode(), None if cid.value == _NO_CID else cid.value

    def __repr__(self) -> str:
        if not getattr(self, "_l", None):
            return "<vmsec.Listener closed>"
        return f"<vmsec.Listener {self.address}>"

    def close(self) -> None:
        """Closes the listener (removing a unix socket file it created); idempotent."""
        if getattr(self, "_l", None):
            lib.vmsec_listener_free(self._l)
            self._l = ctypes.c_void_p()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


__all__ = ["ChannelConfig", "Channel", "Engine", "Listener", "validate_address", "connect_socket",
           "DEFAULT_PROTOCOL", "INITIATOR", "RESPONDER"]
