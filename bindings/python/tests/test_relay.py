# SPDX-License-Identifier: ISC
"""vmsec.relay: policy decisions, peer maps, and a relay forwarding a vmsec channel between two
Python peers over unix sockets (the relay sees only ciphertext)."""
import json
import os
import shutil
import socket
import tempfile
import threading
import unittest

import vmsec
from vmsec import relay

POLICY = """service echo port 7
group web = web-* host:web-1
allow echo from @web to db-1
deny echo from web-2 to *
"""


class TestPolicy(unittest.TestCase):
    def test_decisions(self):
        with relay.Policy.parse(POLICY, name="py.conf") as p:
            self.assertEqual(p.name, "py.conf")
            self.assertEqual(len(p), 2)
            allowed = p.check("echo", "web-1", "db-1")
            self.assertEqual(allowed, relay.Decision(True, 3, ""))
            denied = p.check("echo", "web-2", "db-2")
            self.assertFalse(denied.allowed)
            self.assertEqual(denied.line, 4)
            default = p.check("echo", "other", "db-1")
            self.assertEqual((default.allowed, default.line), (False, 0))
            self.assertIn("default deny", default.reason)
            self.assertEqual(p.service_port("echo"), 7)
            self.assertIsNone(p.service_port("ssh"))

    def test_errors_name_the_line(self):
        with self.assertRaises(vmsec.FormatError) as cm:
            relay.Policy.parse("service echo port 7\nallow echo form a to b\n", name="bad.conf")
        self.assertIn("bad.conf:2", str(cm.exception))
        with self.assertRaises(vmsec.NotFound):
            relay.Policy.load("/nonexistent/policy.conf")


class TestPeerMap(unittest.TestCase):
    def test_add_and_check(self):
        with vmsec.Keypair.generate() as a, vmsec.Keypair.generate() as b, relay.PeerMap() as m:
            m.add("web-1", a.public_key)
            m.add("web-2", b.public_key.text)
            m.check("web-1", a.public_key)
            self.assertIn(("web-2", b.public_key), m)
            self.assertNotIn(("web-1", b.public_key), m)
            self.assertNotIn(("nobody", a.public_key), m)
            with self.assertRaises(vmsec.AuthenticationError):
                m.check("web-1", b.public_key)
            with self.assertRaises(vmsec.AlreadyExists):
                m.add("web-1", b.public_key)


class TestRelay(unittest.TestCase):
    """host:web-1, a host-side caller on the relay's unix socket, reaches the echo service of db-1
    through the relay; db-1 is a Python vmsec listener."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vmsec-relay-")
        self.relay_path = os.path.join(self.dir, "relay.sock")
        self.db_path = os.path.join(self.dir, "db-1.sock")
        self.audit = []
        self.relay = relay.Relay()
        self.relay.set_policy(relay.Policy.parse(POLICY))
        self.relay.set_audit(self.audit.append, fd=-1)
        self.relay.set_connect(self.connect_target)
        self.relay.listen_unix(self.relay_path, "host:web-1")
        self.thread = threading.Thread(target=self.relay.run)
        self.thread.start()

    def connect_target(self, domain, port):
        if (domain, port) != ("db-1", 7):
            raise LookupError(domain)
        return vmsec.channel.connect_socket("unix:" + self.db_path, timeout=5)

    def tearDown(self):
        self.relay.interrupt()
        self.thread.join(10)
        self.relay.shutdown(0)
        self.relay.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_channel_through_the_relay(self):
        with vmsec.Keypair.generate() as web, vmsec.Keypair.generate() as db, \
                vmsec.Listener("unix:" + self.db_path) as listener:
            box = {}

            def target():
                try:
                    sock, _, _ = listener.accept_socket()
                    with sock:
                        box["origin"] = relay.read_origin(sock)
                        cfg = vmsec.ChannelConfig(db, trusted_peers=[web.public_key])
                        with vmsec.Channel.from_socket(sock, cfg, "responder") as ch:
                            for msg in ch:
                                ch.send(msg[::-1])
                except Exception as exc:  # handed to the test thread
                    box["error"] = exc

            t = threading.Thread(target=target)
            t.start()
            sock = vmsec.channel.connect_socket("unix:" + self.relay_path, timeout=5)
            with sock:
                relay.request(sock, "db-1", "echo")
                cfg = vmsec.ChannelConfig(web, trusted_peers=[db.public_key])
                with vmsec.Channel.from_socket(sock, cfg, "initiator") as ch:
                    self.assertEqual(ch.peer_key, db.public_key)
                    ch.send(b"through the relay")
                    ch.shutdown()
                    replies = list(ch)
            t.join(10)
            self.assertNotIn("error", box)
        self.assertEqual(replies, [b"yaler eht hguorht"])
        self.assertEqual(box["origin"], ("host:web-1", 2, "echo"))
        self.assertEqual(self.relay.stat("accepted"), 1)
        records = [json.loads(line) for line in self.audit]
        decision = records[0]
        self.assertEqual((decision["event"], decision["decision"], decision["rule"]), ("decision", "allow", "policy:3"))
        self.assertEqual((decision["source"], decision["target"], decision["service"]), ("host:web-1", "db-1", "echo"))
        self.assertIn("open", [r["event"] for r in records])

    def test_denied_and_unavailable(self):
        with vmsec.channel.connect_socket("unix:" + self.relay_path, timeout=5) as sock:
            with self.assertRaises(vmsec.Denied):
                relay.request(sock, "db-2", "echo")
        with vmsec.channel.connect_socket("unix:" + self.relay_path, timeout=5) as sock:
            with self.assertRaises(vmsec.ConnectionRefused):  # allowed, but nobody listens
                relay.request(sock, "db-1", "echo")
        self.assertGreaterEqual(self.relay.stat("denied"), 1)
        with self.assertRaises(ValueError):
            self.relay.stat("nonsense")

    def test_directory_resync_bounds(self):
        self.relay.set_directory_resync(1000)
        with self.assertRaises(vmsec.InvalidArgument):
            self.relay.set_directory_resync(50)


class TestRelayInOwnLoop(unittest.TestCase):
    """A relay driven from the test's own loop: fileno(), next_timeout(), dispatch(), snapshot()."""

    def test_snapshot_and_deadlines(self):
        d = tempfile.mkdtemp(prefix="vmsec-relay-")
        path = os.path.join(d, "relay.sock")
        try:
            with relay.Relay() as r:
                r.set_policy(relay.Policy.parse(POLICY, name="own.conf"))
                r.set_audit(lambda line: None, fd=-1)
                r.listen_unix(path, "host:web-1")
                self.assertIsNone(r.next_timeout())
                snap = r.snapshot()
                self.assertEqual((snap["sessions"], snap["policy"]["name"], snap["policy"]["rules"]),
                                 ([], "own.conf", 2))
                with socket.socket(socket.AF_UNIX) as caller:
                    caller.connect(path)
                    for _ in range(50):  # until the relay has accepted the caller
                        r.dispatch(0.1)
                        if r.snapshot()["sessions"]:
                            break
                    s = r.snapshot()
                    self.assertEqual([(x["state"], x["source"], x["source_cid"]) for x in s["sessions"]],
                                     [("request", "host:web-1", 2)])
                    self.assertEqual(s["sessions_pending"], 1)
                    # The caller's request deadline (5 s by default) is what the loop waits for.
                    t = r.next_timeout()
                    self.assertIsNotNone(t)
                    self.assertLessEqual(t, 5.0)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
