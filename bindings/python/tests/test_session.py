# SPDX-License-Identifier: ISC
"""vmsec sessions through the ctypes bindings: an echo over a session that survives resets, a
restarted listener reported as a lost session on both sides, and a non-blocking session listener
that a silent peer does not hold up."""
import os
import select
import shutil
import socket
import tempfile
import threading
import unittest

import vmsec

FAST = dict(backoff_initial_ms=10, backoff_max_ms=50, ack_delay_ms=5, reconnect_deadline_ms=5000)


class Sessions(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vmsec-py-")
        self.addr = "unix:" + os.path.join(self.dir, "s")
        self.server_kp = vmsec.Keypair.generate()
        self.client_kp = vmsec.Keypair.generate()
        self.server_cfg = vmsec.ChannelConfig(self.server_kp, trusted_peers=[self.client_kp.public_key],
                                              handshake_timeout=2)
        self.client_cfg = vmsec.ChannelConfig(self.client_kp, trusted_peers=[self.server_kp.public_key],
                                              handshake_timeout=2)

    def tearDown(self):
        for obj in (self.server_cfg, self.client_cfg, self.server_kp, self.client_kp):
            obj.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_echo_survives_resets_and_closes_in_order(self):
        box = {}
        with vmsec.Listener(self.addr) as listener, \
                vmsec.SessionListener(listener, self.server_cfg, **FAST) as table:
            def serve():
                try:
                    with table.accept() as s:
                        box["got"] = []
                        for message in s:  # ends with the client's orderly close
                            box["got"].append(message)
                            s.send(message.upper())
                        s.free()
                except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                    box["error"] = exc
            t = threading.Thread(target=serve)
            t.start()
            with vmsec.Session.connect(self.addr, self.client_cfg, **FAST) as s:
                self.assertEqual(len(s.id), 16)
                for word in (b"one", b"two", b"three"):
                    s.send(word)
                    self.assertEqual(s.recv(), word.upper())
                    # cut the connection under the session: the next exchange resumes it
                    socket.socket(fileno=os.dup(s.fileno())).shutdown(socket.SHUT_RDWR)
                self.assertEqual(s.links, 3)
                s.send(b"last")
                self.assertEqual(s.recv(), b"LAST")
            t.join(20)
            self.assertFalse(t.is_alive())
            if "error" in box:
                raise box["error"]
            self.assertEqual(box["got"], [b"one", b"two", b"three", b"last"])

    def test_a_restarted_listener_is_a_lost_session(self):
        listener = vmsec.Listener(self.addr)
        table = vmsec.SessionListener(listener, self.server_cfg, **FAST)
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("s", table.accept()))
        t.start()
        client = vmsec.Session.connect(self.addr, self.client_cfg, **FAST)
        t.join(20)
        box["s"].free()
        table.close()
        listener.close()
        with vmsec.Listener(self.addr) as listener, \
                vmsec.SessionListener(listener, self.server_cfg, **FAST) as table:
            def accept():
                try:
                    table.accept()
                except vmsec.SessionLost as exc:
                    box["lost"] = exc
            t = threading.Thread(target=accept)
            t.start()
            with self.assertRaises(vmsec.SessionLost):
                client.recv()
            t.join(20)
            self.assertIn("lost", box)
        client.free()

    def test_a_nonblocking_listener_is_not_held_up_by_a_silent_peer(self):
        server_cfg = vmsec.ChannelConfig(self.server_kp, trusted_peers=[self.client_kp.public_key],
                                         handshake_timeout=30)
        box = {}
        with vmsec.Listener(self.addr) as listener, \
                vmsec.SessionListener(listener, server_cfg, **FAST) as table:
            table.nonblocking = True
            self.assertTrue(table.nonblocking)
            self.assertIsNone(table.next_timeout)
            self.assertGreater(vmsec.session.PENDING_MAX, 0)
            silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            silent.connect(self.addr[len("unix:"):])
            t = threading.Thread(target=lambda: box.setdefault(
                "c", vmsec.Session.connect(self.addr, self.client_cfg, **FAST)))
            t.start()
            poller = select.poll()
            poller.register(table.fileno(), select.POLLIN)
            s = None
            while s is None:
                timeout = table.next_timeout
                poller.poll(None if timeout is None else timeout * 1000)
                try:
                    s = table.accept()
                except vmsec.WouldBlock:
                    pass
            t.join(20)
            # the silent peer's connection is still open, and pending
            silent.setblocking(False)
            with self.assertRaises(BlockingIOError):
                silent.recv(1)
            self.assertIsNotNone(table.next_timeout)
            with box["c"] as c:
                c.send(b"hello")
                self.assertEqual(s.recv(), b"hello")
                c.free()
            s.free()
            silent.close()
        server_cfg.close()


if __name__ == "__main__":
    unittest.main()
