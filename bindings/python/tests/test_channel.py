# SPDX-License-Identifier: ISC
"""vmsec channels through the ctypes bindings: Python to Python over unix sockets, the sans-I/O
engine in memory, and Python to the C tool vmsec-nc in both directions."""
import os
import select
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import vmsec
from vmsec import channel as vch


def _require(reason):
    if os.environ.get("VMSEC_REQUIRE_ALL") == "1":
        raise AssertionError(reason)
    raise unittest.SkipTest(reason)


class Peers(unittest.TestCase):
    """Two keypairs and a temp dir for unix sockets."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vmsec-py-")
        self.addr = "unix:" + os.path.join(self.dir, "s")
        self.server_kp = vmsec.Keypair.generate()
        self.client_kp = vmsec.Keypair.generate()
        self.server_cfg = vmsec.ChannelConfig(self.server_kp, trusted_peers=[self.client_kp.public_key],
                                              handshake_timeout=10)
        self.client_cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.server_kp.public_key],
                                              handshake_timeout=10)

    def tearDown(self):
        for obj in (self.server_cfg, self.client_cfg, self.server_kp, self.client_kp):
            obj.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def serve(self, listener, handler, cfg=None):
        """Accepts one channel in a thread and runs handler(channel); returns a join function that
        re-raises the thread's exception."""
        box = {}

        def run():
            try:
                with listener.accept(cfg or self.server_cfg) as ch:
                    box["result"] = handler(ch)
            except BaseException as exc:  # handed to the test thread
                box["error"] = exc

        t = threading.Thread(target=run)
        t.start()

        def join():
            t.join(20)
            self.assertFalse(t.is_alive(), "server thread hung")
            if "error" in box:
                raise box["error"]
            return box.get("result")
        return join


class TestChannel(Peers):
    def test_exchange_identity_and_clean_close(self):
        def echo(ch):
            got = list(ch)  # until the client's clean close
            for msg in got:
                ch.send(msg.upper())
            return got, ch.peer_key, ch.handshake_hash, ch.peer_cid

        with vmsec.Listener(self.addr) as listener:
            self.assertEqual(listener.address, self.addr)
            join = self.serve(listener, echo)
            with vmsec.Channel.connect(self.addr, self.client_cfg) as ch:
                self.assertEqual(ch.state, "open")
                self.assertEqual(ch.peer_key, self.server_kp.public_key)
                self.assertEqual(ch.protocol, vmsec.channel.DEFAULT_PROTOCOL)
                self.assertIsNone(ch.peer_cid)
                ch.send(b"one", more=True)
                ch.send(b"")
                ch.send(b"three")
                ch.shutdown()
                replies = list(ch)
                client_hash = ch.handshake_hash
            got, peer_key, server_hash, cid = join()
        self.assertEqual(got, [b"one", b"", b"three"])
        self.assertEqual(replies, [b"ONE", b"", b"THREE"])
        self.assertEqual(peer_key, self.client_kp.public_key)
        self.assertEqual(server_hash, client_hash)
        self.assertEqual(len(client_hash), 64)
        self.assertIsNone(cid)
        self.assertFalse(os.path.exists(self.addr[5:]), "listener removes its socket file")

    def test_batched_sends_keep_every_message(self):
        msgs = [bytes([i % 251]) * (i * 37 % 3000) for i in range(500)]
        with vmsec.Listener(self.addr) as listener:
            join = self.serve(listener, lambda ch: list(ch))
            with vmsec.Channel.connect(self.addr, self.client_cfg) as ch:
                for i, m in enumerate(msgs):
                    ch.send(m, more=True)
                    if i % 100 == 99:
                        ch.flush()
                ch.flush()
                ch.shutdown()
            self.assertEqual(join(), msgs)

    def test_large_message_grows_the_buffer(self):
        big = os.urandom(3 << 20)
        with vmsec.Listener(self.addr) as listener:
            join = self.serve(listener, lambda ch: ch.recv())
            with vmsec.Channel.connect(self.addr, self.client_cfg) as ch:
                ch.send(big)
            self.assertEqual(join(), big)

    def test_wrong_key_fails_closed(self):
        with vmsec.Keypair.generate() as other:
            cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[other.public_key], handshake_timeout=10)
            with vmsec.Listener(self.addr) as listener:
                join = self.serve(listener, lambda ch: ch.recv())
                with self.assertRaises(vmsec.AuthenticationError) as cm:
                    vmsec.Channel.connect(self.addr, cfg)
                self.assertIn("not trusted", str(cm.exception))
                with self.assertRaises(vmsec.Error) as server:
                    join()
                self.assertNotIsInstance(server.exception, vmsec.Closed)

    def test_no_trust_refuses_every_peer(self):
        cfg = vmsec.ChannelConfig(self.client_kp, handshake_timeout=10)
        with vmsec.Listener(self.addr) as listener:
            join = self.serve(listener, lambda ch: ch.recv())
            with self.assertRaises(vmsec.AuthenticationError):
                vmsec.Channel.connect(self.addr, cfg)
            with self.assertRaises(vmsec.Error):
                join()

    def test_verify_callback(self):
        seen = []

        def decide(key):
            seen.append(key)
            return key == self.server_kp.public_key

        def boom(key):
            raise RuntimeError("callback bug")

        for verify, accepted in ((decide, True), (lambda key: False, False), (boom, False)):
            cfg = vmsec.ChannelConfig(self.client_kp, verify=verify, handshake_timeout=10)
            with vmsec.Listener(self.addr) as listener:
                join = self.serve(listener, lambda ch: ch.recv())
                if accepted:
                    with vmsec.Channel.connect(self.addr, cfg) as ch:
                        ch.send(b"ok")
                    self.assertEqual(join(), b"ok")
                else:
                    with self.assertRaises(vmsec.AuthenticationError):
                        vmsec.Channel.connect(self.addr, cfg)
                    with self.assertRaises(vmsec.Error):
                        join()
            cfg.close()
        self.assertEqual(seen, [self.server_kp.public_key])

    def test_verify_callback_interrupted_refuses_and_reraises(self):
        # An exception that is not an Exception subclass must not leave the C return value to
        # chance (0 would accept the peer): the peer is refused, and the exception reaches the caller.
        for exc_type in (KeyboardInterrupt, SystemExit):
            def interrupted(key, exc_type=exc_type):
                raise exc_type()

            cfg = vmsec.ChannelConfig(self.client_kp, verify=interrupted, handshake_timeout=10)
            with vmsec.Listener(self.addr) as listener:
                join = self.serve(listener, lambda ch: ch.recv())
                with self.assertRaises(exc_type):
                    vmsec.Channel.connect(self.addr, cfg)
                with self.assertRaises(vmsec.Error):
                    join()
            cfg.close()
        # nothing is left over for a later, unrelated call
        with vmsec.Listener(self.addr) as listener:
            join = self.serve(listener, lambda ch: ch.recv())
            with vmsec.Channel.connect(self.addr, self.client_cfg) as ch:
                ch.send(b"after")
            self.assertEqual(join(), b"after")

    def test_truncation_is_not_a_clean_close(self):
        with vmsec.Listener(self.addr) as listener:
            join = self.serve(listener, lambda ch: list(ch))
            ch = vmsec.Channel.connect(self.addr, self.client_cfg)
            ch.send(b"partial")
            ch.free()  # no close_notify
            with self.assertRaises(vmsec.Truncated):
                join()

    def test_nonblocking_with_selectors(self):
        def slow_sender(ch):
            time.sleep(0.2)
            ch.send(b"late")
            return list(ch)

        with vmsec.Listener(self.addr) as listener:
            join = self.serve(listener, slow_sender)
            with vmsec.Channel.connect(self.addr, self.client_cfg) as ch:
                ch.nonblocking = True
                self.assertTrue(ch.nonblocking)
                with self.assertRaises(vmsec.WouldBlock):
                    ch.recv()
                self.assertTrue(ch.poll_events & select.POLLIN)
                sel = selectors.DefaultSelector()
                sel.register(ch, selectors.EVENT_READ)
                msg = None
                while msg is None:
                    self.assertTrue(sel.select(10), "no data within 10 s")
                    try:
                        msg = ch.recv()
                    except vmsec.WouldBlock:
                        pass
                sel.close()
                self.assertEqual(msg, b"late")
                ch.nonblocking = False
            self.assertEqual(join(), [])

    def test_from_socket(self):
        with vmsec.Listener(self.addr) as listener:
            join = self.serve(listener, lambda ch: ch.recv())
            sock = vch.connect_socket(self.addr, timeout=5)
            with vmsec.Channel.from_socket(sock, self.client_cfg, "initiator") as ch:
                sock.close()  # the channel has its own descriptor
                ch.send(b"via socket")
            self.assertEqual(join(), b"via socket")

    def test_addresses_and_config_errors(self):
        vch.validate_address("vsock:host:5000")
        vch.validate_address("tcp:[::1]:7000")
        for bad in ("", "vsock:2", "udp:1.2.3.4:5", "unix:" + "x" * 200):
            with self.assertRaises(vmsec.Error, msg=bad):
                vch.validate_address(bad)
        with self.assertRaises(vmsec.ConnectionRefused):
            vmsec.Channel.connect(self.addr, self.client_cfg)
        with vmsec.Listener(self.addr):
            with self.assertRaises(vmsec.AddressInUse):
                vmsec.Listener(self.addr)
        with self.assertRaises(vmsec.Error):
            vmsec.ChannelConfig(protocol="Noise_XX_448_ChaChaPoly_BLAKE2b")
        with self.assertRaises(vmsec.Error):
            vmsec.ChannelConfig(psk=b"short")
        with self.assertRaises(ValueError):
            self.client_cfg.add_trusted_peer(b"short")
        cfg = vmsec.ChannelConfig(pattern="IK", suite="ChaChaPoly_SHA256")
        self.assertEqual(cfg.protocol, "Noise_IK_25519_ChaChaPoly_SHA256")
        cfg.close()
        cfg.close()
        with self.assertRaises(ValueError):
            cfg.protocol

    def test_psk_pattern(self):
        psk = os.urandom(vch.PSK_BYTES)
        server = vmsec.ChannelConfig(self.server_kp, trusted_peers=[self.client_kp.public_key],
                                     pattern="XXpsk3", psk=psk)
        client = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.server_kp.public_key],
                                     pattern="XXpsk3", psk=psk)
        with vmsec.Listener(self.addr) as listener:
            join = self.serve(listener, lambda ch: (ch.recv(), ch.protocol), cfg=server)
            with vmsec.Channel.connect(self.addr, client) as ch:
                ch.send(b"psk")
            self.assertEqual(join(), (b"psk", "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"))


class TestEngine(unittest.TestCase):
    def setUp(self):
        self.a_kp, self.b_kp = vmsec.Keypair.generate(), vmsec.Keypair.generate()
        self.a = vmsec.Engine(vmsec.ChannelConfig(self.a_kp, trusted_peers=[self.b_kp.public_key]), "initiator")
        self.b = vmsec.Engine(vmsec.ChannelConfig(self.b_kp, trusted_peers=[self.a_kp.public_key]), "responder")

    def tearDown(self):
        self.a.free()
        self.b.free()
        self.a_kp.close()
        self.b_kp.close()

    def pump(self):
        """Moves bytes both ways until both engines are idle; returns the messages b received."""
        inbox = []
        moved = True
        while moved:
            moved = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                data = src.data_to_send()
                while data:
                    moved = True
                    data = data[dst.feed(data):]
                    if dst is self.b:
                        inbox.extend(self.b.messages())  # makes room for the rest
        return inbox

    def test_handshake_messages_and_close(self):
        self.assertEqual(self.a.state, "handshake")
        self.pump()
        self.assertEqual((self.a.state, self.b.state), ("open", "open"))
        self.assertEqual(self.a.peer_key, self.b_kp.public_key)
        self.assertEqual(self.a.handshake_hash, self.b.handshake_hash)
        self.assertIsNone(self.b.recv())
        self.a.send(b"hello")
        self.a.send(b"x" * 200000)
        self.assertGreater(self.a.pending_output, 200000)
        self.assertEqual(self.pump(), [b"hello", b"x" * 200000])
        self.a.close()
        self.pump()
        with self.assertRaises(vmsec.Closed):
            self.b.recv()
        self.assertEqual(self.b.state, "closed")
        self.b.feed_eof()  # clean close: no error
        with self.assertRaises(vmsec.StateError):
            self.a.send(b"after close")

    def test_key_confirmation_replayed_message_1_never_opens(self):
        """Protocol version 2: a replayed IK message 1 makes a responder answer, never open."""
        def ik(kp, peer, role, version=None):
            return vmsec.Engine(vmsec.ChannelConfig(kp, trusted_peers=[peer], pattern="IK",
                                                    protocol_version=version), role)
        init = ik(self.a_kp, self.b_kp.public_key, "initiator")
        msg1 = init.data_to_send()
        for version in (2, 1):
            fresh = ik(self.b_kp, self.a_kp.public_key, "responder", version)
            if version == 1:  # version 1 (opt-in) keeps its weakness: the replay opens it
                v1 = ik(self.a_kp, self.b_kp.public_key, "initiator", 1)
                fresh.feed(v1.data_to_send())
                self.assertEqual(fresh.state, "open")
                v1.free()
            else:
                fresh.feed(msg1)
                self.assertEqual(fresh.state, "handshake")
                with self.assertRaises(vmsec.StateError):
                    fresh.peer_key
                with self.assertRaises(vmsec.StateError):
                    fresh.handshake_hash
            fresh.free()
        init.free()

    def test_protocol_version_is_exact(self):
        with self.assertRaises(vmsec.Error):
            vmsec.ChannelConfig(self.a_kp, protocol_version=3)
        cfg = vmsec.ChannelConfig(self.a_kp, protocol_version=1)
        self.assertEqual(cfg.protocol_version, 1)
        self.assertEqual(vmsec.ChannelConfig(self.a_kp).protocol_version, 2)
        old = vmsec.Engine(cfg, "initiator")
        with self.assertRaises(vmsec.ProtocolError):
            self.b.feed(old.data_to_send())
        old.free()
    def test_more_packs_messages_until_flush(self):
        self.pump()
        msgs = [b"", b"a", b"bc" * 50, b"x" * 9000, b"d"]
        for m in msgs:
            self.a.send(m, more=True)
        # the small ones after the 9000-byte message (which goes alone) are held until the flush
        self.assertGreater(self.a.pending_output, 0)
        sealed = self.a.data_to_send()
        self.assertGreater(len(sealed), 9000)
        self.assertEqual(self.a.data_to_send(), b"")
        self.a.flush()
        held = self.a.data_to_send()
        self.assertEqual(len(held), 2 + 1 + 2 + 1 + 16)  # one record holding one entry
        inbox = []
        for data in (sealed, held):
            self.assertEqual(self.b.feed(data), len(data))
            inbox.extend(self.b.messages())
        self.assertEqual(inbox, msgs)
        # a lone message is its own record at once, no flush needed
        self.a.send(b"lone")
        self.assertEqual(self.pump(), [b"lone"])

    def test_version_1_never_packs(self):
        from vmsec._lib import lib
        a_cfg = vmsec.ChannelConfig(self.a_kp, trusted_peers=[self.b_kp.public_key])
        b_cfg = vmsec.ChannelConfig(self.b_kp, trusted_peers=[self.a_kp.public_key])
        for cfg in (a_cfg, b_cfg):
            lib.vmsec_channel_config_set_protocol_version(cfg.handle, 1)
        self.a.free()
        self.b.free()
        self.a, self.b = vmsec.Engine(a_cfg, "initiator"), vmsec.Engine(b_cfg, "responder")
        self.pump()
        for m in (b"one", b"two", b"three"):
            self.a.send(m, more=True)
        self.a.flush()
        self.assertEqual(self.a.pending_output, 22 + 22 + 24)  # three records, one per message
        self.assertEqual(self.pump(), [b"one", b"two", b"three"])
        a_cfg.close()
        b_cfg.close()

    def test_tampering_fails_closed(self):
        self.pump()
        self.a.send(b"secret")
        data = bytearray(self.a.data_to_send())
        data[-1] ^= 1
        with self.assertRaises(vmsec.AuthenticationError):
            self.b.feed(bytes(data))
        self.assertEqual(self.b.state, "failed")
        with self.assertRaises(vmsec.StateError) as cm:
            self.b.recv()
        self.assertIn("authentic", str(cm.exception).lower())

    def test_truncated_stream(self):
        self.pump()
        with self.assertRaises(vmsec.Truncated):
            self.b.feed_eof()

    def test_receive_into_socket(self):
        import socket
        self.pump()
        left, right = socket.socketpair()
        with left, right:
            self.a.send(b"zero copy")
            self.a.close()
            left.sendall(self.a.data_to_send())
            left.shutdown(socket.SHUT_WR)
            got = []
            while self.b.receive_into(right):
                got.extend(self.b.messages())
            got.extend(self.b.messages())
            self.b.feed_eof()  # after close_notify: a clean end
            self.assertEqual(got, [b"zero copy"])
            with self.assertRaises(vmsec.Closed):
                self.b.recv()
        left, right = socket.socketpair()
        with left, right:
            self.b.free()
            self.b = vmsec.Engine(vmsec.ChannelConfig(self.b_kp, trusted_peers=[self.a_kp.public_key]), "responder")
            left.close()
            self.assertEqual(self.b.receive_into(right), 0)
            with self.assertRaises(vmsec.Truncated):  # end of stream without close_notify
                self.b.feed_eof()


class TestLiveness(unittest.TestCase):
    """Keep-alives, the dead-peer timeout and the rekey time: engines on a fake clock, channels on
    a socketpair in real time (short intervals, generous bounds)."""

    def setUp(self):
        self.a_kp, self.b_kp = vmsec.Keypair.generate(), vmsec.Keypair.generate()

    def tearDown(self):
        self.a_kp.close()
        self.b_kp.close()

    def config(self, kp, peer, **kw):
        return vmsec.ChannelConfig(kp, trusted_peers=[peer.public_key], **kw)

    def test_settings_are_validated(self):
        with self.assertRaises(vmsec.InvalidArgument):
            self.config(self.a_kp, self.b_kp, keepalive=0.1, dead_after=0.15)
        with self.assertRaises(vmsec.InvalidArgument):
            self.config(self.a_kp, self.b_kp, rekey_time=86401)
        self.config(self.a_kp, self.b_kp, keepalive=0.1, dead_after=0.2, rekey_time=120).close()
        self.config(self.a_kp, self.b_kp, dead_after=5).close()

    def test_engine_timers_on_a_fake_clock(self):
        a = vmsec.Engine(self.config(self.a_kp, self.b_kp, keepalive=0.1, rekey_time=1), "initiator")
        b = vmsec.Engine(self.config(self.b_kp, self.a_kp, dead_after=0.3), "responder")
        try:
            self.assertIsNone(a.next_deadline)
            for _ in range(4):
                for src, dst in ((a, b), (b, a)):
                    data = src.data_to_send()
                    if data:
                        dst.feed(data)
            self.assertEqual((a.state, b.state), ("open", "open"))
            self.assertEqual(a.next_deadline, 0)
            a.tick(1000)
            b.tick(1000)
            self.assertEqual(a.next_deadline, 1100)
            self.assertEqual(b.next_deadline, 1300)
            a.tick(1100)
            b.feed(a.data_to_send())  # a keep-alive: no message, but b's timer restarts
            self.assertIsNone(b.recv())
            b.tick(1200)
            self.assertEqual(b.next_deadline, 1500)
            a.tick(2000)  # the rekey record (it counts as sent: no keep-alive with it)
            b.feed(a.data_to_send())
            a.send(b"after the rekey")
            b.feed(a.data_to_send())
            self.assertEqual(b.recv(), b"after the rekey")
            b.tick(2000)
            with self.assertRaises(vmsec.PeerDead):
                b.tick(2300)
            self.assertEqual(b.state, "failed")
        finally:
            a.free()
            b.free()

    def pair(self, cfg_a, cfg_b):
        import socket
        left, right = socket.socketpair()
        a = vch.Channel.from_socket(left, cfg_a, "initiator", handshake=False)
        b = vch.Channel.from_socket(right, cfg_b, "responder", handshake=False)
        left.close()
        right.close()
        t = threading.Thread(target=b.handshake)
        t.start()
        a.handshake()
        t.join(20)
        return a, b

    def test_silent_peer_is_dead_and_keepalives_keep_a_peer_alive(self):
        cfg_a = self.config(self.a_kp, self.b_kp, keepalive=0.05, dead_after=0.5)
        cfg_b = self.config(self.b_kp, self.a_kp, keepalive=0.05, dead_after=0.5)
        a, b = self.pair(cfg_a, cfg_b)
        box = {}

        def receive():
            try:
                box["msg"] = b.recv()
            except vmsec.Error as exc:
                box["error"] = exc
        t = threading.Thread(target=receive)
        t.start()
        with a, b:
            # b's receiving thread keeps a informed while a waits idle for three timeouts
            start = time.monotonic()
            with self.assertRaises(vmsec.WouldBlock):
                a.nonblocking = True
                while time.monotonic() - start < 1.7:
                    timeout = a.next_timeout
                    self.assertIsNotNone(timeout)
                    select.select([a], [], [], timeout)
                    a.tick()
                    a.recv()  # WouldBlock: keep-alives are no messages
            while True:
                try:
                    a.recv()
                except vmsec.WouldBlock:
                    break
            a.nonblocking = False
            a.send(b"still here")
            t.join(10)
            self.assertEqual(box, {"msg": b"still here"})
            # now b receives nothing and sends nothing: a finds it dead
            start = time.monotonic()
            with self.assertRaises(vmsec.PeerDead):
                a.recv()
            self.assertGreater(time.monotonic() - start, 0.3)
            self.assertLess(time.monotonic() - start, 5)
        for cfg in (cfg_a, cfg_b):
            cfg.close()


class TestWithCTool(Peers):
    """A Python peer against the C program vmsec-nc from the build tree."""

    def setUp(self):
        super().setUp()
        builddir = os.environ.get("VMSEC_TOP_BUILDDIR")
        self.nc = os.path.join(builddir or "", "examples", "vmsec-nc")
        if not builddir or not os.access(self.nc, os.X_OK):
            _require("vmsec-nc not built (VMSEC_TOP_BUILDDIR unset or examples/vmsec-nc missing)")
        self.nc_key = os.path.join(self.dir, "nc.key")
        with vmsec.Keypair.generate() as kp:
            kp.save(self.nc_key)
            self.nc_pub = kp.public_key

    def start_nc(self, data, trust):
        # The C tool carries its own sanitizer runtime in sanitizer builds: python3's preload
        # (tests/python.sh) is for python3 only.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        proc = subprocess.Popen([self.nc, "-l", "-k", self.nc_key, "-t", str(trust), "--timeout", "10000",
                                 self.addr], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        proc.stdin.write(data)
        proc.stdin.close()
        proc.stdin = None  # for communicate()
        deadline = time.monotonic() + 10
        while not os.path.exists(self.addr[5:]):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                self.fail("vmsec-nc did not listen: " + proc.stderr.read().decode())
            time.sleep(0.02)
        return proc

    def connect(self, cfg):
        """Connects once vmsec-nc listens: its socket file appears at bind(), a moment before
        listen(), and a refused connection does not use up its single accept."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return vmsec.Channel.connect(self.addr, cfg)
            except vmsec.ConnectionRefused:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def finish(self, proc):
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        return proc.returncode, out, err.decode()

    def test_both_directions(self):
        from_c = b"from C\n" * 1000
        from_py = [b"from Python\n", os.urandom(100000)]
        proc = self.start_nc(from_c, self.client_kp.public_key)
        cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.nc_pub], handshake_timeout=10)
        with self.connect(cfg) as ch:
            self.assertEqual(ch.peer_key, self.nc_pub)
            for msg in from_py:
                ch.send(msg)
            ch.shutdown()
            received = b"".join(ch)  # vmsec-nc sends stdin in chunks, then closes cleanly
        rc, out, err = self.finish(proc)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, b"".join(from_py))
        self.assertEqual(received, from_c)

    def test_python_refuses_wrong_c_key(self):
        proc = self.start_nc(b"must not arrive", self.client_kp.public_key)
        with vmsec.Keypair.generate() as other:
            cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[other.public_key], handshake_timeout=10)
            with self.assertRaises(vmsec.AuthenticationError):
                self.connect(cfg)
        rc, out, err = self.finish(proc)
        self.assertNotEqual(rc, 0)
        self.assertEqual(out, b"")
        self.assertIn("handshake", err)

    def test_c_refuses_wrong_python_key(self):
        with vmsec.Keypair.generate() as other:
            proc = self.start_nc(b"must not arrive", other.public_key)
        cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.nc_pub], handshake_timeout=10)
        received = []
        with self.assertRaises(vmsec.Error) as cm:
            with self.connect(cfg) as ch:
                ch.send(b"must not arrive either")
                received.extend(ch)
        self.assertNotIsInstance(cm.exception, vmsec.Closed)
        self.assertEqual(received, [])
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, 1)
        self.assertEqual(out, b"")
        self.assertIn("not trusted", err)


if __name__ == "__main__":
    unittest.main()
