# SPDX-License-Identifier: ISC
"""Reprs: every object says what it is (fingerprints, state, protocol, counts) in a REPL or a log
line, and no repr or str ever shows a private key, in any encoding."""
import base64
import os
import shutil
import socket
import tempfile
import threading
import unittest

import vmsec
from vmsec import planner, relay

SECRET = bytes(range(1, 33))


def secret_forms(kp):
    """Every way a private key could leak into text: its key file line, the base64 in it, the raw
    bytes as Python shows them, hex."""
    text = kp.private_text().decode()
    b64 = text.split()[-1]
    raw = base64.b64decode(b64)
    return [text.strip(), b64, b64.rstrip("="), repr(raw), raw.hex(), raw.hex().upper(), str(raw)]


class TestNoSecretInRepr(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vmsec-repr-")
        self.kp = vmsec.Keypair.from_secret(SECRET)
        self.peer = vmsec.Keypair.generate()
        self.forms = secret_forms(self.kp) + [SECRET.hex(), repr(SECRET)]

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def assertClean(self, obj):
        for text in (repr(obj), str(obj), f"{obj!r:>10}"):
            for form in self.forms:
                self.assertNotIn(form, text, f"a form of the private key appears in {text!r}")
        return repr(obj)

    def test_keys(self):
        fp = self.kp.public_key.fingerprint
        text = self.assertClean(self.kp)
        self.assertIn(fp, text)
        self.assertIn("Keypair", text)
        text = self.assertClean(self.kp.public_key)
        self.assertIn(fp, text)
        self.assertIn(self.kp.public_key.text, text)
        self.assertEqual(str(self.kp.public_key), self.kp.public_key.text)  # str stays the text form
        self.kp.close()
        self.assertIn("closed", repr(self.kp))

    def test_config_engine_channel_listener(self):
        cfg = vmsec.ChannelConfig(self.kp, trusted_peers=[self.peer.public_key])
        text = self.assertClean(cfg)
        self.assertIn(self.kp.public_key.fingerprint, text)
        self.assertIn("Noise_XX", text)
        self.assertIn("1 trusted peer", text)
        peer_cfg = vmsec.ChannelConfig(self.peer, trusted_peers=[self.kp.public_key])

        a, b = vmsec.Engine(cfg, "initiator"), vmsec.Engine(peer_cfg, "responder")
        self.assertIn("handshake", self.assertClean(a))
        for _ in range(4):
            b.feed(a.data_to_send())
            a.feed(b.data_to_send())
        text = self.assertClean(a)
        self.assertIn("open", text)
        self.assertIn(self.peer.public_key.fingerprint, text)
        self.assertIn("initiator", text)

        listener = vmsec.Listener("unix:" + os.path.join(self.dir, "s"))
        self.assertIn(listener.address, self.assertClean(listener))
        accepted = []
        t = threading.Thread(target=lambda: accepted.append(listener.accept(peer_cfg)))
        t.start()
        ch = vmsec.Channel.connect(listener.address, cfg)
        t.join()
        text = self.assertClean(ch)
        self.assertIn("open", text)
        self.assertIn(self.peer.public_key.fingerprint, text)
        self.assertIn(listener.address, text)
        self.assertIn(cfg.protocol, text)
        self.assertClean(accepted[0])
        ch.close()
        accepted[0].close()
        listener.close()
        for obj in (ch, listener, cfg):
            obj.close()
            self.assertClean(obj)
        a.free()
        self.assertIn("freed", repr(a))

    def test_async_channel(self):
        import asyncio
        from vmsec import aio
        cfg = vmsec.ChannelConfig(self.kp, trusted_peers=[self.peer.public_key])
        peer_cfg = vmsec.ChannelConfig(self.peer, trusted_peers=[self.kp.public_key])

        async def main():
            left, right = socket.socketpair()
            with left, right:
                server = asyncio.ensure_future(aio.AsyncChannel.from_socket(right, peer_cfg, "responder"))
                ch = await aio.AsyncChannel.from_socket(left, cfg, "initiator")
                other = await server
                texts = [self.assertClean(ch), self.assertClean(other)]
                await ch.close()
                await other.close()
                return texts
        texts = asyncio.run(main())
        self.assertIn(self.peer.public_key.fingerprint, texts[0])
        self.assertIn(self.kp.public_key.fingerprint, texts[1])

    def test_other_objects(self):
        policy = relay.Policy.parse("allow postgres from web-1 to db-1\n", name="relay.policy")
        text = self.assertClean(policy)
        self.assertIn("relay.policy", text)
        self.assertIn("1 rule", text)
        self.assertIn("Relay", self.assertClean(relay.Relay()))
        self.assertIn("PeerMap", self.assertClean(relay.PeerMap({"web-1": self.kp.public_key})))
        topo = planner.Topology.from_text("".join(f"cpu {c} node 0 socket 0 core {c}\n" for c in range(4)))
        self.assertIn("4 CPUs", self.assertClean(topo))
        self.assertIn("free CPUs 0-3", self.assertClean(planner.Planner(topo)))
        profile = vmsec.Profile.parse("name = web\nvcpus = 2\n")
        self.assertIn("web", self.assertClean(profile))


if __name__ == "__main__":
    unittest.main()
