#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Test relay between two unix sockets that can tamper with the client-to-server stream.

usage: relay.py LISTEN_PATH TARGET_PATH MODE OFFSET
  MODE flip: XOR byte OFFSET (0-based) of the client-to-server stream with 0x01
  MODE cut:  close both connections once OFFSET bytes went from client to server
  MODE pass: forward unchanged
  MODE stray: forward unchanged; after the client's end (so after its close_notify), write one
              stray byte to the server in a separate, later write
"""
import os
import socket
import sys
import threading
import time


def main():
    listen_path, target_path, mode, offset = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen_path)
    srv.listen(1)
    print("ready", flush=True)
    client, _ = srv.accept()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.connect(target_path)
    done = threading.Event()

    def upstream():
        seen = 0
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                break
            if not data:
                if mode == "stray":
                    time.sleep(0.3)  # the server has read close_notify by now: a later read gets the byte
                    try:
                        server.sendall(b"\x00")
                    except OSError:
                        pass
                # the client's half-close, passed on: the server may still send (its close_notify)
                try:
                    server.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if mode == "cut" and seen + len(data) >= offset:
                server.sendall(data[: offset - seen])
                break
            if mode == "flip" and seen <= offset < seen + len(data):
                b = bytearray(data)
                b[offset - seen] ^= 0x01
                data = bytes(b)
            seen += len(data)
            try:
                server.sendall(data)
            except OSError:  # the server gave up (e.g. on tampered data)
                break
        for s in (server, client):  # cut, or the server gave up: both connections vanish
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        done.set()

    def downstream():
        while not done.is_set():
            try:
                data = server.recv(65536)
            except OSError:
                break
            if not data:
                break
            try:
                client.sendall(data)
            except OSError:
                break
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=downstream, daemon=True)
    t.start()
    upstream()
    t.join(timeout=10)
    os.unlink(listen_path)


if __name__ == "__main__":
    main()
