# SPDX-License-Identifier: ISC
"""vmsec.aio: channels on an asyncio event loop, over real unix and TCP loopback sockets."""
import asyncio
import os
import shutil
import socket
import tempfile
import time
import unittest

import vmsec
from vmsec import aio


class AioPeers(unittest.IsolatedAsyncioTestCase):
    """A server and a client keypair that trust each other, and a folder for unix sockets."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vmsec-aio-")
        self.server_kp = vmsec.Keypair.generate()
        self.client_kp = vmsec.Keypair.generate()
        self.server_cfg = vmsec.ChannelConfig(self.server_kp, trusted_peers=[self.client_kp.public_key])
        self.client_cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.server_kp.public_key])
        self.errors = []

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        for kp in (self.server_kp, self.client_kp):
            kp.close()

    def unix(self, name="s"):
        return "unix:" + os.path.join(self.dir, name)

    def on_error(self, exc, peer):
        self.errors.append(exc)

    async def echo_server(self, address):
        async def echo(ch):
            async for message in ch:
                await ch.send(message)
        return await aio.start_server(echo, address, self.server_cfg, on_error=self.on_error)


class TestRoundTrip(AioPeers):
    async def round_trip(self, address):
        async with await self.echo_server(address) as server:
            async with await aio.connect(server.address, self.client_cfg) as ch:
                self.assertEqual(ch.peer_key, self.server_kp.public_key)
                for i in range(500):
                    message = b"%d " % i * (i % 7 + 1)
                    await ch.send(message)
                    self.assertEqual(await ch.recv(), message)
                big = os.urandom(1 << 20)  # many records, and more than a socket buffer
                await ch.send(big)
                self.assertEqual(await ch.recv(), big)
        self.assertEqual(self.errors, [])

    async def test_unix_round_trip(self):
        await self.round_trip(self.unix())

    async def test_tcp_round_trip(self):
        await self.round_trip("tcp:127.0.0.1:0")

    async def test_connect_forms(self):
        """A socket path, host and port, and an existing socket reach the same server."""
        async with await self.echo_server(self.unix()) as server:
            path = server.address[5:]
            async with await aio.connect(path, self.client_cfg) as ch:
                await ch.send(b"path")
                self.assertEqual(await ch.recv(), b"path")
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(path)
            with sock:
                async with await aio.connect(sock, self.client_cfg) as ch:
                    await ch.send(b"socket")
                    self.assertEqual(await ch.recv(), b"socket")
        async with await self.echo_server("tcp:127.0.0.1:0") as server:
            port = int(server.address.rpartition(":")[2])
            async with await aio.connect("127.0.0.1", self.client_cfg, port=port) as ch:
                await ch.send(b"tcp")
                self.assertEqual(await ch.recv(), b"tcp")
        with self.assertRaises(vmsec.ConnectionRefused):
            await aio.connect(self.unix("nobody"), self.client_cfg)
        with self.assertRaises(vmsec.FormatError):
            await aio.connect("no-such-form", self.client_cfg)

    async def test_iteration_ends_at_clean_close(self):
        received = []
        done = asyncio.Event()

        async def collect(ch):
            async for message in ch:
                received.append(message)
            done.set()
        async with await aio.start_server(collect, self.unix(), self.server_cfg) as server:
            async with await aio.connect(server.address, self.client_cfg) as ch:
                for i in range(100):
                    await ch.send(b"m%d" % i, more=i % 10 != 9)
            await asyncio.wait_for(done.wait(), 10)
        self.assertEqual(received, [b"m%d" % i for i in range(100)])

    async def test_concurrent_clients(self):
        async with await self.echo_server(self.unix()) as server:
            async def client(n):
                cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.server_kp.public_key])
                async with await aio.connect(server.address, cfg) as ch:
                    for i in range(50):
                        msg = b"client %d message %d" % (n, i)
                        await ch.send(msg)
                        self.assertEqual(await ch.recv(), msg)
                return n
            results = await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(20))), 60)
        self.assertEqual(sorted(results), list(range(20)))
        self.assertEqual(self.errors, [])

    async def test_serve_until_cancelled(self):
        address = self.unix()
        task = asyncio.create_task(aio.serve(lambda ch: ch.send(b"hi"), address, self.server_cfg))
        for _ in range(100):
            if os.path.exists(address[5:]):
                break
            await asyncio.sleep(0.01)
        async with await aio.connect(address, self.client_cfg) as ch:
            self.assertEqual(await ch.recv(), b"hi")
            with self.assertRaises(vmsec.Closed):
                await ch.recv()
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertFalse(os.path.exists(address[5:]), "the socket file is removed")


class TestRefusals(AioPeers):
    async def test_peer_refuses_our_key(self):
        """The server trusts someone else: the server reports an authentication failure, the
        client fails its handshake (never an open channel)."""
        other = vmsec.Keypair.generate()
        self.server_cfg = vmsec.ChannelConfig(self.server_kp, trusted_peers=[other.public_key])
        async with await self.echo_server(self.unix()) as server:
            with self.assertRaises(vmsec.Error) as cm:
                ch = await aio.connect(server.address, self.client_cfg, timeout=10)
                await ch.recv()
            # XX: our handshake completes before the server judges our key; it then closes
            # without the key confirmation, and the channel says what that means
            self.assertIsInstance(cm.exception, (vmsec.Truncated, vmsec.SystemCallError))
            self.assertIn("the peer refused our key", str(cm.exception))
            for _ in range(100):
                if self.errors:
                    break
                await asyncio.sleep(0.01)
        self.assertEqual(len(self.errors), 1)
        self.assertIsInstance(self.errors[0], vmsec.AuthenticationError)
        self.assertIn("not trusted", str(self.errors[0]))
        other.close()

    async def test_we_refuse_the_peer(self):
        other = vmsec.Keypair.generate()
        cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[other.public_key])
        async with await self.echo_server(self.unix()) as server:
            with self.assertRaises(vmsec.AuthenticationError):
                await aio.connect(server.address, cfg)
        other.close()

    async def test_handshake_timeout(self):
        """A listener that accepts and never answers: the configuration's handshake timeout ends
        the handshake with vmsec.Timeout, and the loop stays free meanwhile."""
        path = os.path.join(self.dir, "silent")
        silent = socket.socket(socket.AF_UNIX)
        silent.bind(path)
        silent.listen()
        cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.server_kp.public_key],
                                  handshake_timeout=0.3)
        start = time.monotonic()
        with silent, self.assertRaises(vmsec.Timeout) as cm:
            await aio.connect(path, cfg)
        self.assertIsInstance(cm.exception, TimeoutError)
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        self.assertLess(time.monotonic() - start, 5)

    async def test_connect_timeout_argument(self):
        path = os.path.join(self.dir, "silent")
        silent = socket.socket(socket.AF_UNIX)
        silent.bind(path)
        silent.listen()
        with silent, self.assertRaises(vmsec.Timeout):
            await aio.connect(path, self.client_cfg, timeout=0.2)


class TestLoop(AioPeers):
    async def test_loop_not_blocked_during_handshake(self):
        """While a handshake waits for a slow server (a thread that accepts, then answers half a
        second later), another coroutine keeps ticking."""
        import threading

        listener = vmsec.Listener(self.unix())
        accepted = []

        def slow_server():
            sock, _, _ = listener.accept_socket()
            time.sleep(0.5)
            with sock:
                accepted.append(vmsec.Channel.from_socket(sock, self.server_cfg, "responder"))
        t = threading.Thread(target=slow_server)
        t.start()
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
        tick_task = asyncio.create_task(ticker())
        start = time.monotonic()
        try:
            ch = await aio.connect(listener.address, self.client_cfg, timeout=10)
        finally:
            tick_task.cancel()
        self.assertGreaterEqual(time.monotonic() - start, 0.45)
        await asyncio.get_running_loop().run_in_executor(None, t.join)
        self.assertGreater(ticks, 20, "the loop ran other coroutines during the handshake")
        accepted[0].send(b"from a thread")
        self.assertEqual(await ch.recv(), b"from a thread")
        await ch.close()
        accepted[0].close()
        listener.close()

    async def test_cancelled_recv_leaves_the_channel_usable(self):
        async with await self.echo_server(self.unix()) as server:
            async with await aio.connect(server.address, self.client_cfg) as ch:
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(ch.recv(), 0.1)  # nothing is coming: cancelled
                pending = asyncio.create_task(ch.recv())
                await asyncio.sleep(0.05)
                pending.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await pending
                self.assertEqual(ch.state, "open")
                await ch.send(b"still here")
                self.assertEqual(await ch.recv(), b"still here")

    async def test_keepalive_keeps_an_idle_channel_and_finds_a_dead_peer(self):
        cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.server_kp.public_key],
                                  keepalive=0.05, dead_after=0.3)
        self.server_cfg.set_keepalive(0.05, 0.3)
        async with await self.echo_server(self.unix()) as server:
            async with await aio.connect(server.address, cfg) as ch:
                await asyncio.sleep(1)  # idle for three dead-peer timeouts: keep-alives keep it up
                await ch.send(b"alive")
                self.assertEqual(await ch.recv(), b"alive")
        # a peer that completes the handshake and then goes silent (a paused VM)
        listener = vmsec.Listener(self.unix("quiet"))
        silent_cfg = vmsec.ChannelConfig(self.server_kp, trusted_peers=[self.client_kp.public_key])
        loop = asyncio.get_running_loop()
        accept = loop.run_in_executor(None, listener.accept, silent_cfg)
        ch = await aio.connect(listener.address, cfg)
        peer = await accept
        with self.assertRaises(vmsec.PeerDead):
            await asyncio.wait_for(ch.recv(), 10)
        await ch.close()
        peer.free()
        listener.close()

    async def test_repr_shows_the_peer_not_secrets(self):
        async with await self.echo_server(self.unix()) as server:
            self.assertIn(server.address, repr(server))
            async with await aio.connect(server.address, self.client_cfg) as ch:
                text = repr(ch)
                self.assertIn(self.server_kp.public_key.fingerprint, text)
                self.assertIn("open", text)
                self.assertIn("Noise_XX", text)
        self.assertIn("released", repr(ch))


if __name__ == "__main__":
    unittest.main()
