# SPDX-License-Identifier: ISC
"""asyncio support: vmsec channels on an event loop.

>>> async def main():                                                       # doctest: +SKIP
...     async with await vmsec.aio.connect("unix:/run/echo.sock", cfg) as ch:
...         await ch.send(b"hello")
...         print(await ch.recv(), ch.peer_key.fingerprint)
...
>>> async def echo(ch):                                                     # doctest: +SKIP
...     async for message in ch:
...         await ch.send(message)
>>> server = await vmsec.aio.start_server(echo, "tcp:127.0.0.1:0", cfg)    # doctest: +SKIP

Each channel is the library's non-blocking channel on a non-blocking socket: the loop waits for
the events the channel asks for (``loop.add_reader``/``add_writer``) and for its next timer
(``vmsec_channel_next_timeout_ms``), so a handshake, a keep-alive or a slow peer never blocks the
loop. The verify callback of a :class:`~vmsec.ChannelConfig` runs on the loop's thread.

Timers: the handshake timeout of the configuration bounds each handshake (:class:`vmsec.Timeout`);
with keep-alives configured, a task per channel sends them while the channel is idle and finds a
silent peer dead (:class:`vmsec.PeerDead`, raised by the next call).

Cancellation: cancelling a pending :meth:`AsyncChannel.recv` or :meth:`AsyncChannel.send` leaves
the channel usable. A message is never lost or cut: what arrived stays buffered for the next
``recv()``, and a message ``send()`` accepted is sent whole (the rest is flushed by the next
call or by :meth:`AsyncChannel.close`). Cancelling a handshake (:func:`connect`) closes the
connection.
"""
from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
from typing import Awaitable, Callable, Optional, Union

from . import errors
from .channel import Channel, ChannelConfig
from .keys import PublicKey

_log = logging.getLogger("vmsec.aio")
#: Seconds between timer runs while one stays due (the library puts the dead-peer check off while
#: received bytes wait to be read: the reader is about to take them).
_RETRY = 0.01

#: A server's connection handler: called with each channel once its handshake is complete.
Handler = Callable[["AsyncChannel"], Awaitable[None]]


class AsyncChannel:
    """A vmsec channel driven by an asyncio event loop. Made by :func:`connect`,
    :meth:`from_socket` or a server; use it as an async context manager (leaving sends
    close_notify) and iterate over it with ``async for`` until the peer closes cleanly."""

    def __init__(self, channel: Channel, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self._ch = channel
        self._loop = loop or asyncio.get_running_loop()
        self._fd = channel.fileno()
        self._recv_lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self._error: Optional[BaseException] = None  # what the keep-alive task found
        self._timer_task: Optional[asyncio.Task] = None
        self._poke = asyncio.Event()
        self._closed = False
        self._waiters: set = set()

    @classmethod
    async def from_socket(cls, sock: socket.socket, config: ChannelConfig,
                          role: str = "initiator") -> "AsyncChannel":
        """Runs the handshake over a connected stream socket (the channel works on its own
        duplicate of the descriptor; the caller may close ``sock``) and returns the open channel."""
        ch = Channel.from_socket(sock, config, role, handshake=False)
        try:
            ch.nonblocking = True
            achan = cls(ch)
        except BaseException:
            ch.free()
            raise
        try:
            await achan._handshake()
        except BaseException:
            achan._free()
            raise
        achan._timer_task = achan._loop.create_task(achan._timers())
        return achan

    # ---- waiting on the loop ------------------------------------------------------------------

    async def _wait(self, read: bool, write: bool, timeout: Optional[float]) -> None:
        """Until the descriptor is readable (``read``), writable (``write``), ``timeout`` seconds
        pass or the keep-alive task records an error."""
        fut = self._loop.create_future()

        def wake(*_: object) -> None:
            if not fut.done():
                fut.set_result(None)

        if read:
            self._loop.add_reader(self._fd, wake)
        if write:
            self._loop.add_writer(self._fd, wake)
        timer = self._loop.call_later(timeout, wake) if timeout is not None else None
        self._waiters.add(wake)
        try:
            await fut
        finally:
            self._waiters.discard(wake)
            if read:
                self._loop.remove_reader(self._fd)
            if write:
                self._loop.remove_writer(self._fd)
            if timer is not None:
                timer.cancel()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise errors.StateError("channel is closed")

    async def _handshake(self) -> None:
        ch = self._ch
        while True:
            try:
                ch.handshake()
                return
            except errors.WouldBlock:
                pass
            events = ch.poll_events
            await self._wait(bool(events & select.POLLIN), bool(events & select.POLLOUT), ch.next_timeout)
            if ch.next_timeout == 0:
                ch.tick()  # raises vmsec.Timeout once the handshake timeout passed

    async def _flush(self) -> None:
        """Writes out what is buffered, waiting for the socket as needed (send lock held)."""
        ch = self._ch
        while ch.poll_events & select.POLLOUT:
            try:
                ch.flush()
            except errors.WouldBlock:
                # a peer that stops reading is found dead here too (with keep-alives)
                timeout = ch.next_timeout
                await self._wait(False, True, _RETRY if timeout == 0 else timeout)
                self._raise_error()
                if ch.state == "open" and ch.next_timeout == 0:
                    ch.tick()

    async def _timers(self) -> None:
        """Keep-alives, the dead-peer timeout and the rekey time, and flushing what a cancelled
        send or a received record (a rekey) left buffered, while nobody else calls in. Woken by
        every send and recv (the timers move then); ticking early does no harm."""
        ch = self._ch
        ticked = False
        try:
            while True:
                timeout = ch.next_timeout if ch.state == "open" else None
                if ticked and timeout == 0:
                    timeout = _RETRY  # a dead-peer check put off while bytes wait unread
                self._poke.clear()
                if timeout is None or timeout > 0:
                    try:
                        await asyncio.wait_for(self._poke.wait(), timeout)
                    except asyncio.TimeoutError:
                        pass
                ticked = False
                if self._closed:  # a cancel lost to wait_for's own timeout (Python < 3.12)
                    return
                if ch.state != "open":
                    continue
                ch.tick()
                ticked = True
                if ch.poll_events & select.POLLOUT and not self._send_lock.locked():
                    async with self._send_lock:
                        await self._flush()
        except errors.Error as exc:  # PeerDead, a broken socket: the next call raises it
            if isinstance(exc, errors.PeerDead) or ch.state == "failed":
                self._error = exc
            for wake in list(self._waiters):
                wake()

    # ---- the public face --------------------------------------------------------------------

    async def send(self, message: bytes, more: bool = False) -> None:
        """Sends one message; returns once the socket took it (``more=True``: it may stay
        buffered to share a record with the next ones, as :meth:`vmsec.Channel.send`)."""
        try:
            async with self._send_lock:
                self._raise_error()
                while True:
                    try:
                        self._ch.send(message, more)
                        break
                    except errors.WouldBlock:  # too much buffered: not accepted, flush and retry
                        await self._wait(False, True, None)
                        self._raise_error()
                        try:
                            self._ch.flush()
                        except errors.WouldBlock:
                            pass
                if not more:
                    await self._flush()
        finally:
            self._poke.set()

    async def flush(self) -> None:
        """Writes out messages held by ``send(..., more=True)``."""
        async with self._send_lock:
            self._raise_error()
            try:
                self._ch.flush()
            except errors.WouldBlock:
                pass
            await self._flush()

    async def recv(self) -> bytes:
        """Receives one message. Raises :class:`vmsec.Closed` after the peer's clean close,
        :class:`vmsec.Truncated` when the stream ended without one."""
        async with self._recv_lock:
            while True:
                self._raise_error()
                try:
                    message = self._ch.recv()
                except errors.WouldBlock:
                    await self._wait(True, False, None)
                    continue
                self._poke.set()
                return message

    def __aiter__(self) -> "AsyncChannel":
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except errors.Closed:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        """Sends close_notify when the channel is healthy, then releases it; idempotent. The
        peer sees anything else (an error, a cancelled close) as a truncation, never a clean end."""
        if self._closed:
            return
        try:
            if self._error is None and self._ch.state in ("open", "closed"):
                async with self._send_lock:
                    await self._shutdown()
        except errors.Error:
            pass  # the peer went away: it sees a truncation, which is honest
        finally:
            self._free()

    async def _shutdown(self) -> None:
        while True:
            try:
                self._ch.shutdown()
                return
            except errors.WouldBlock:
                await self._wait(False, True, self._ch.next_timeout)

    def _free(self) -> None:
        self._closed = True
        if self._timer_task is not None:
            self._timer_task.cancel()
            self._timer_task = None
        for wake in list(self._waiters):
            wake()
        self._ch.free()

    async def __aenter__(self) -> "AsyncChannel":
        return self

    async def __aexit__(self, exc_type, *exc: object) -> None:  # noqa: ANN001
        if exc_type is None:
            await self.close()
        else:
            self._free()

    @property
    def peer_key(self) -> PublicKey:
        """The peer's authenticated static public key."""
        return self._ch.peer_key

    @property
    def handshake_hash(self) -> bytes:
        """The Noise handshake hash (channel binding)."""
        return self._ch.handshake_hash

    @property
    def protocol(self) -> str:
        """The Noise protocol name."""
        return self._ch.protocol

    @property
    def state(self) -> str:
        """``open``, ``closed`` (peer closed), ``failed``, or ``released`` after :meth:`close`."""
        return "released" if self._closed else self._ch.state

    @property
    def peer_address(self) -> Optional[str]:
        """The peer's address as text, when known."""
        return self._ch.peer_address

    def fileno(self) -> int:
        """The socket descriptor (owned by the channel)."""
        return self._fd

    def __repr__(self) -> str:
        if self._closed:
            return "<vmsec.aio.AsyncChannel released>"
        return f"<vmsec.aio.AsyncChannel {self._ch._describe()}>"


# ---- connecting -------------------------------------------------------------------------------

def _parse(address: str, port: Optional[int]) -> "tuple[int, object]":
    """(family, sockaddr) for a vmsec address, a host name with ``port``, or a socket path."""
    if address.startswith("unix:"):
        path = address[5:]
        return socket.AF_UNIX, "\0" + path[1:] if path.startswith("@") else path
    if address.startswith("tcp:"):
        host, _, p = address[4:].rpartition(":")
        return socket.AF_INET6 if host.startswith("[") else socket.AF_INET, (host.strip("[]"), int(p))
    if address.startswith("vsock:"):
        cid, _, p = address[6:].partition(":")
        cid = {"host": 2, "local": 1}.get(cid, cid)
        return socket.AF_VSOCK, (int(cid), int(p))
    if port is not None:
        return socket.AF_INET, (address, int(port))
    if "/" in address or address.startswith("@"):
        return socket.AF_UNIX, "\0" + address[1:] if address.startswith("@") else address
    raise errors.FormatError(f"address '{address}': expected vsock:CID:PORT, unix:PATH, tcp:HOST:PORT, "
                             "a socket path, or a host name with port=")


async def _open_socket(address: str, port: Optional[int]) -> socket.socket:
    loop = asyncio.get_running_loop()
    family, addr = _parse(address, port)
    if family in (socket.AF_INET, socket.AF_INET6):
        host, p = addr  # type: ignore[misc]
        infos = await loop.getaddrinfo(host, p, type=socket.SOCK_STREAM)
        last: Optional[BaseException] = None
        for fam, kind, proto, _, sa in infos:
            sock = socket.socket(fam, kind, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, sa)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
            except BaseException:
                sock.close()
                raise
        raise last or OSError(f"cannot resolve {host}")
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, addr)
    except BaseException:
        sock.close()
        raise
    return sock


async def connect(address: Union[str, socket.socket], config: ChannelConfig, *, port: Optional[int] = None,
                  timeout: Optional[float] = None) -> AsyncChannel:
    """Connects and runs the handshake as initiator without blocking the loop.

    ``address`` is a vmsec address (``unix:PATH``, ``tcp:HOST:PORT``, ``vsock:CID:PORT``), a
    host name or IP address with ``port``, a socket path, or an already connected socket (which
    the caller keeps; the channel works on a duplicate). ``timeout`` bounds connecting and the
    handshake together (:class:`vmsec.Timeout`); the configuration's handshake timeout applies
    to the handshake either way. A refused connection raises :class:`vmsec.ConnectionRefused`."""
    async def run() -> AsyncChannel:
        if isinstance(address, socket.socket):
            return await AsyncChannel.from_socket(address, config, "initiator")
        try:
            sock = await _open_socket(address, port)
        except ConnectionRefusedError as exc:
            raise errors.ConnectionRefused(f"connect to {address}: {exc.strerror or exc}") from None
        except FileNotFoundError as exc:
            raise errors.ConnectionRefused(f"connect to {address}: {exc.strerror or exc}") from None
        try:
            ch = await AsyncChannel.from_socket(sock, config, "initiator")
        finally:
            sock.close()
        ch._ch.peer_address = address
        return ch

    if timeout is None:
        return await run()
    try:
        return await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise errors.Timeout(f"connect to {address}: no channel within {timeout:g} s") from None


# ---- serving ----------------------------------------------------------------------------------

class Server:
    """Accepts connections and runs ``handler(channel)`` for each, as :func:`asyncio.start_server`
    does for streams. The handshake runs on the loop; a failed one is logged (logger
    ``vmsec.aio``) or passed to ``on_error(exc, peer_address)``. The channel is closed when the
    handler returns (close_notify) or raises (a truncation for the peer)."""

    def __init__(self, handler: Handler, address: str, config: ChannelConfig,
                 on_error: Optional[Callable[[BaseException, str], None]] = None) -> None:
        from .channel import Listener
        self._handler = handler
        self._config = config
        self._on_error = on_error
        self._listener = Listener(address)
        self._loop = asyncio.get_running_loop()
        self._tasks: set = set()
        self._serving = True
        self._closed = self._loop.create_future()
        os.set_blocking(self._listener.fileno(), False)
        self._loop.add_reader(self._listener.fileno(), self._accept)

    @property
    def address(self) -> str:
        """The bound address (with the port the kernel picked for ``tcp:HOST:0``)."""
        return self._address if not self._serving else self._listener.address

    def _accept(self) -> None:
        while self._serving:
            try:
                sock, peer, _ = self._listener.accept_socket()
            except errors.WouldBlock:
                return
            except errors.Error as exc:
                self._report(exc, "")
                return
            task = self._loop.create_task(self._serve_one(sock, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _report(self, exc: BaseException, peer: str) -> None:
        if self._on_error is not None:
            self._on_error(exc, peer)
        else:
            _log.warning("vmsec channel from %s: %s", peer or "a peer", exc)

    async def _serve_one(self, sock: socket.socket, peer: str) -> None:
        try:
            with sock:
                sock.setblocking(False)
                ch = await AsyncChannel.from_socket(sock, self._config, "responder")
            ch._ch.peer_address = peer
        except errors.Error as exc:
            self._report(exc, peer)
            return
        async with ch:
            await self._handler(ch)

    def close(self) -> None:
        """Stops accepting (a unix socket file is removed); running handlers go on."""
        if self._serving:
            self._address = self._listener.address
            self._serving = False
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            if not self._closed.done():
                self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Waits until closed and every running handler finished."""
        await asyncio.shield(self._closed)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def serve_forever(self) -> None:
        """Serves until cancelled (then closes)."""
        try:
            await asyncio.shield(self._closed)
        finally:
            self.close()

    def is_serving(self) -> bool:
        return self._serving

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()

    def __repr__(self) -> str:
        state = "serving" if self._serving else "closed"
        return f"<vmsec.aio.Server {self.address} {state}, {len(self._tasks)} connection(s)>"


async def start_server(handler: Handler, address: str, config: ChannelConfig, *,
                       on_error: Optional[Callable[[BaseException, str], None]] = None) -> Server:
    """Listens on ``address`` (``unix:PATH``, ``tcp:HOST:PORT``, ``vsock:any:PORT``) and returns
    the :class:`Server`, already accepting."""
    return Server(handler, address, config, on_error)


async def serve(handler: Handler, address: str, config: ChannelConfig, *,
                on_error: Optional[Callable[[BaseException, str], None]] = None) -> None:
    """:func:`start_server` and :meth:`Server.serve_forever`: serves until cancelled."""
    server = await start_server(handler, address, config, on_error=on_error)
    try:
        await server.serve_forever()
    finally:
        server.close()


__all__ = ["AsyncChannel", "Server", "connect", "start_server", "serve"]
