#!/usr/bin/env python3
"""
Issue 17 measurement: a large file through the web door's files over
HTTP, on loopback.

Starts the installed C{twistd chat} with its web door (fresh database and
spool in a temporary directory), logs two browser sessions in over
WebSockets (wsproto, blocking sockets), then:

  1. C{alice} offers a file of --mib MiB to C{bob} and uploads it with one
     C{PUT} (the body streamed from a generator, never whole here either);
  2. C{bob} downloads it with one C{GET}, reading 64 KiB at a time, and
     checks its SHA-256;
  3. reports both rates and the server's peak RSS (VmHWM) against its
     RSS before the transfer: what the server held of the file.

  .venv/bin/python bench/web_files_bench.py --mib 100 --port 56210

Rates depend on the machine and on what else runs on it; the memory
figure does not.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Message, Ping, TextMessage
from wsproto.events import Request as WSRequest

HOST = "127.0.0.1"
CHUNK = 64 * 1024


class Browser:
    """
    A blocking WebSocket session, as the page opens it.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.ws = WSConnection(ConnectionType.CLIENT)
        origin = f"http://{HOST}:{port}".encode()
        self.sock.sendall(
            self.ws.send(
                WSRequest(
                    host=f"{HOST}:{port}",
                    target="/ws",
                    extra_headers=[(b"origin", origin)],
                )
            )
        )
        self.events: list[dict[str, Any]] = []
        self._text = ""
        self.opened = False
        while not self.opened:
            self._read()

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the WebSocket")
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.opened = True
            elif isinstance(event, TextMessage):
                self._text += event.data
                if event.message_finished:
                    self.events.append(json.loads(self._text))
                    self._text = ""
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(Message(data=text)))

    def event(self, kind: str) -> dict[str, Any]:
        while True:
            for index, event in enumerate(self.events):
                if event["type"] == "error":
                    raise RuntimeError(f"waiting for {kind}: {event}")
                if event["type"] == kind:
                    del self.events[: index + 1]
                    return event
            self._read()


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def pattern(size: int) -> Iterator[bytes]:
    """
    C{size} bytes of a repeating pseudo-random block, 64 KiB at a time.
    """
    block = hashlib.sha512(b"txchat").digest() * (CHUNK // 64)
    left = size
    while left:
        piece = block[: min(CHUNK, left)]
        left -= len(piece)
        yield piece


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--port", type=int, default=56210, help="web port")
    parser.add_argument("--twistd", default=str(Path(sys.executable).parent / "twistd"))
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    digest = hashlib.sha256()
    for piece in pattern(size):
        digest.update(piece)
    sha = digest.hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [
                args.twistd,
                "--nodaemon",
                "--pidfile=",
                "--logfile=" + os.path.join(tmp, "log"),
                "chat",
                "--database",
                os.path.join(tmp, "chat.db"),
                "--listen",
                f"tcp:{args.port + 1}:interface={HOST}",
                "--web",
                f"tcp:{args.port}:interface={HOST}",
                "--max-file-size",
                str(max(args.mib, 100)),
            ],
            cwd=tmp,
        )
        try:
            for _ in range(200):
                try:
                    socket.create_connection((HOST, args.port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            alice, bob = Browser(args.port), Browser(args.port)
            tokens = {}
            for name, who in (("alice", alice), ("bob", bob)):
                who.event("prompt")
                who.send(name)
                who.event("welcome")
                tokens[name] = who.event("web-files")["token"]
            before = rss_kib(server.pid, "VmRSS")
            alice.send(f"/file offer bob {size} {sha} bench.bin")
            file_id = alice.event("file-upload")["id"]
            conn = http.client.HTTPConnection(HOST, args.port, timeout=60)
            start = time.perf_counter()
            conn.request(
                "PUT",
                f"/files/{file_id}?offset=0",
                body=pattern(size),
                headers={
                    "Authorization": f"Bearer {tokens['alice']}",
                    "Content-Length": str(size),
                },
            )
            response = conn.getresponse()
            response.read()
            up = time.perf_counter() - start
            assert response.status == 204, response.status
            alice.event("file-sent")
            bob.event("file-offer")
            conn = http.client.HTTPConnection(HOST, args.port, timeout=60)
            start = time.perf_counter()
            conn.request("GET", f"/files/{file_id}?token={tokens['bob']}")
            response = conn.getresponse()
            got = hashlib.sha256()
            received = 0
            while piece := response.read(CHUNK):
                got.update(piece)
                received += len(piece)
            down = time.perf_counter() - start
            assert response.status == 200 and got.hexdigest() == sha, received
            alice.event("file-delivered")
            peak = rss_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(15)
    mb = size / 1e6
    print(
        f"{args.mib} MiB: upload {mb / up:.0f} MB/s, download {mb / down:.0f} MB/s; "
        f"server RSS {before / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB "
        f"(+{(peak - before) / 1024:.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
