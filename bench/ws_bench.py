#!/usr/bin/env python
"""
The web door under load (issue 17, "Measure"), side by side with the line
door in the same run, on one C{twistd chat} (this venv's, as users start
it, with a fresh database in a temporary directory).

  broadcast   N users log in, S of them send M broadcasts each, closed loop
              (each sender keeps --window messages outstanding, seen by a
              watcher); deliveries/s, p50/p99 latency at every receiver.
              The line door's side is chatload's "fanout N S M"
              (../shared/bench, make -C ../shared/bench); the WebSocket
              side is this script's own generator, in Python on Twisted:
              it does the handshake (with an Origin) and writes masked
              frames itself, and counts tokens in what it reads without
              parsing frames (as chatload does), so that it costs as little
              as Python can.  Its CPU time is reported next to the
              server's: when it is near one core, the generator, not the
              server, is the limit.
  idle        memory per idle connection: the server's RSS before and
              after K logged-in, idle WebSockets (and K line clients, on a
              server of their own), divided by K.

Usage (the server listens on 127.0.0.1 only, on ports the system picks):

  .venv/bin/python bench/ws_bench.py          # 100 and 1000 users, 5000 idle
  .venv/bin/python bench/ws_bench.py --quick  # a correctness run: small counts
  .venv/bin/python bench/ws_bench.py --only idle --idle 5000

One JSON object per phase on stdout, a summary table on stderr.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
TWISTD = str(Path(sys.executable).with_name("twistd"))
DEFAULT_CHATLOAD = HERE.parent.parent / "shared" / "bench" / "chatload"
# chatload's token: %M<sender:6 hex>:<seq:8 hex>:<send time:12 hex>: (the
# time in microseconds of CLOCK_MONOTONIC), padded with x.
TOKEN = re.compile(rb"%M([0-9a-f]{6}):([0-9a-f]{8}):([0-9a-f]{12}):")
TOKEN_MAX = 34
MASK = b"\x80"  # the mask bit; the key is four zero bytes: the payload as it is


def now_us() -> int:
    return time.monotonic_ns() // 1000


def token(sender: int, seq: int, size: int) -> str:
    text = f"%M{sender:06x}:{seq:08x}:{now_us():012x}:"
    return text + "x" * max(0, size - len(text))


def client_frame(text: str) -> bytes:
    """
    One masked text frame from a client (RFC 6455 5.3; a zero key).
    """
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, 0x80 | size))
    else:
        header = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[int], fraction: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# The server.


class Server:
    """
    C{twistd chat} from this venv, in a temporary directory, listening on
    ports the system picks (fixed ports in the ephemeral range meet the
    TIME_WAIT sockets of a run's thousands of clients), read from its log.
    """

    def __init__(self, *extra: str) -> None:
        self.directory = tempfile.mkdtemp(prefix="ws-bench-")
        self.log = Path(self.directory) / "twistd.log"
        argv = [
            TWISTD,
            "--nodaemon",
            "--pidfile=",
            f"--logfile={self.log}",
            "chat",
            "--listen",
            f"tcp:0:interface={HOST}:backlog=1024",
            "--web",
            f"tcp:0:interface={HOST}:backlog=1024",
            "--exempt",
            "127.0.0.0/8",
            "--web-ping",
            "3600",
            # (No replay at login: the tokens of an earlier phase would be
            # counted again.)
            "--history-on-join",
            "0",
            "--database",
            str(Path(self.directory) / "chat.sqlite3"),
            *extra,
        ]
        self.process = subprocess.Popen(
            argv,
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while "txchat web client on" not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.text()}")
            time.sleep(0.1)
        text = self.text()
        line = re.search(r"ChatFactory starting on (\d+)", text)
        web = re.search(r"txchat web client on http://[^/]+:(\d+)/", text)
        assert line is not None and web is not None, text
        self.line_port, self.web_port = int(line.group(1)), int(web.group(1))

    def text(self) -> str:
        try:
            return self.log.read_text()
        except FileNotFoundError:
            return ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


# The WebSocket generator.

_CLOSED = Failure(ConnectionDone())


class Tab(Protocol):
    """
    One browser-protocol user: the handshake, the name, then tokens
    counted in whatever it reads.
    """

    def __init__(self, run: Run, index: int, name: str) -> None:
        self.run = run
        self.index = index
        self.name = name
        self.upgraded = False
        self.ready: defer.Deferred[Tab] = defer.Deferred()
        self.head = b""
        self.tail = b""
        self.count = 0
        self.login = b""

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)  # type: ignore[attr-defined]
        key = base64.b64encode(os.urandom(16)).decode()
        host = f"{HOST}:{self.run.port}"
        self.transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}\r\n\r\n"
            ).encode()
        )

    def dataReceived(self, data: bytes) -> None:
        if not self.upgraded:
            self.head += data
            head, sep, rest = self.head.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.errback(RuntimeError(head[:200].decode("latin-1")))
                return
            self.upgraded = True
            self.head = b""
            data = rest
        if not self.ready.called:
            self.login += data
            if b'"prompt":"name"' in self.login:
                self.login = b""
                self.transport.write(client_frame(self.name))
            elif b'"type":"welcome"' in self.login:
                self.login = b""
                self.ready.callback(self)
            return
        scan = self.tail + data
        skip = len(self.tail)
        self.tail = scan[-TOKEN_MAX:]
        run = self.run
        for match in TOKEN.finditer(scan):
            if match.end() <= skip:
                continue
            self.count += 1
            run.delivered(self, match)

    def connectionLost(self, reason: Failure = _CLOSED) -> None:
        if not self.ready.called:
            self.ready.errback(reason)
        self.run.lost += 1


class Run:
    """
    One broadcast phase over WebSockets: N tabs, S senders, M messages each.
    """

    def __init__(
        self, port: int, users: int, senders: int, messages: int, window: int, size: int
    ) -> None:
        self.port = port
        self.users, self.senders, self.messages = users, senders, messages
        self.window, self.size = window, size
        self.tabs: list[Tab] = []
        self.sent = [0] * users
        self.seen = [0] * users  # by the sender's watcher
        self.latencies: list[int] = []
        self.lost = 0
        self.total = 0
        self.expected = senders * messages * (users - 1)
        self.done: defer.Deferred[None] = defer.Deferred()
        self.first = self.users - senders

    def watcher(self, sender: int) -> int:
        return 1 if sender == 0 else 0

    def delivered(self, tab: Tab, match: re.Match[bytes]) -> None:
        self.total += 1
        self.latencies.append(now_us() - int(match.group(3), 16))
        sender = int(match.group(1), 16)
        if tab.index == self.watcher(sender):
            self.seen[sender] += 1
            self.send_more(sender)
        if self.total >= self.expected and not self.done.called:
            self.done.callback(None)

    def send_more(self, sender: int) -> None:
        tab = self.tabs[sender]
        while (
            self.sent[sender] < self.messages
            and self.sent[sender] - self.seen[sender] < self.window
        ):
            self.sent[sender] += 1
            tab.transport.write(
                client_frame(token(sender, self.sent[sender], self.size))
            )


async def open_tabs(
    reactor: Any,
    port: int,
    count: int,
    make: Callable[[int], Protocol],
    window: int = 200,
) -> list[Any]:
    """
    C{count} connections, at most C{window} logging in at once.
    """
    endpoint = TCP4ClientEndpoint(reactor, HOST, port, timeout=30)
    opened: list[Any] = [None] * count
    semaphore = defer.DeferredSemaphore(window)

    async def one(i: int) -> None:
        await semaphore.acquire()
        try:
            protocol = make(i)
            await connectProtocol(endpoint, protocol)
            await protocol.ready  # type: ignore[attr-defined]
            opened[i] = protocol
        finally:
            semaphore.release()

    await defer.gatherResults(
        [defer.Deferred.fromCoroutine(one(i)) for i in range(count)],
        consumeErrors=True,
    )
    return opened


async def ws_broadcast(
    reactor: Any, server: Server, users: int, senders: int, messages: int, args: Any
) -> dict[str, Any]:
    run = Run(server.web_port, users, senders, messages, args.window, args.size)
    run.tabs = await open_tabs(
        reactor, server.web_port, users, lambda i: Tab(run, i, f"w{users}x{i}")
    )
    await task.deferLater(reactor, 1.0)  # the joins settle
    for tab in run.tabs:
        tab.count = 0
    run.latencies.clear()
    run.total = 0
    server_cpu, my_cpu, start = cpu_seconds(server.pid), own_cpu(), time.monotonic()
    for sender in range(senders):
        run.send_more(sender)
    timeout = reactor.callLater(
        args.timeout, lambda: run.done.called or run.done.callback(None)
    )
    await run.done
    if timeout.active():
        timeout.cancel()
    elapsed = time.monotonic() - start
    result = {
        "door": "web",
        "phase": f"fanout {users} {senders} {messages}",
        "deliveries": run.total,
        "expected": run.expected,
        "lost": run.expected - run.total,
        "deliveries_per_s": round(run.total / elapsed),
        "p50_ms": (percentile(run.latencies, 0.5) or 0) / 1000,
        "p99_ms": (percentile(run.latencies, 0.99) or 0) / 1000,
        "seconds": round(elapsed, 3),
        "server_cpu_s": round(cpu_seconds(server.pid) - server_cpu, 3),
        "generator_cpu_s": round(own_cpu() - my_cpu, 3),
    }
    for tab in run.tabs:
        tab.transport.loseConnection()
    await task.deferLater(reactor, 1.0)
    return result


def line_broadcast(
    server: Server, users: int, senders: int, messages: int, args: Any
) -> dict[str, Any]:
    """
    chatload's fanout against the line door.
    """
    argv = [
        str(args.chatload),
        "--port",
        str(server.line_port),
        "--login",
        r"{name}\n",
        "--ready",
        "* Hello ",
        "--bcast",
        r"{payload}\n",
        "--prefix",
        f"l{users}x",
        "--size",
        str(args.size),
        "--window",
        str(args.window),
        "--timeout",
        str(args.timeout),
        "fanout",
        str(users),
        str(senders),
        str(messages),
    ]
    server_cpu = cpu_seconds(server.pid)
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=args.timeout + 60
    )
    data = json.loads(out.stdout)
    lat = data.get("lat_all_us") or {}
    return {
        "door": "line",
        "phase": f"fanout {users} {senders} {messages}",
        "deliveries": data.get("delivered"),
        "expected": data.get("expected"),
        "lost": data.get("lost"),
        "deliveries_per_s": round(data.get("deliveries_per_s") or 0),
        "p50_ms": (lat.get("p50") or 0) / 1000,
        "p99_ms": (lat.get("p99") or 0) / 1000,
        "seconds": data.get("meas_s"),
        # (chatload's own CPU is in its output: C, one thread.)
        "server_cpu_s": round(cpu_seconds(server.pid) - server_cpu, 3),
        "generator_cpu_s": data.get("gen_cpu_s"),
        "chatload": {k: v for k, v in data.items() if k not in ("lat_all_hist",)},
    }


# Idle connections.


class LineUser(Protocol):
    """
    One idle line-door user.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready: defer.Deferred[LineUser] = defer.Deferred()
        self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        if self.ready.called:
            return
        self.buffer += data
        if b"name" in self.buffer and not self.buffer.startswith(b"sent"):
            self.transport.write(self.name.encode() + b"\n")
            self.buffer = b"sent"
        if b"you are in" in self.buffer:
            self.ready.callback(self)


async def idle(reactor: Any, server: Server, door: str, count: int) -> dict[str, Any]:
    """
    RSS per idle, logged-in connection of C{door}.
    """
    port = server.web_port if door == "web" else server.line_port
    run = Run(port, 1, 0, 0, 1, 8)

    def make(i: int) -> Protocol:
        return Tab(run, i, f"i{i}") if door == "web" else LineUser(f"i{i}")

    # One connection first, so that what is made once is in the baseline.
    [warm] = await open_tabs(reactor, port, 1, make)
    await task.deferLater(reactor, 2.0)
    before = rss_kib(server.pid)
    users = await open_tabs(reactor, port, count, lambda i: make(i + 1))
    await task.deferLater(reactor, 3.0)
    after = rss_kib(server.pid)
    result = {
        "door": door,
        "phase": f"idle {count}",
        "connections": count,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": round((after - before) / count, 2),
    }
    for user in [warm, *users]:
        user.transport.loseConnection()
    await task.deferLater(reactor, 1.0)
    return result


async def main(reactor: Any, args: Any) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = []
    if args.only in (None, "broadcast"):
        server = Server()
        try:
            for users in args.users:
                if not args.no_line:
                    results.append(
                        line_broadcast(server, users, args.senders, args.messages, args)
                    )
                    print(json.dumps(results[-1]), flush=True)
                results.append(
                    await ws_broadcast(
                        reactor, server, users, args.senders, args.messages, args
                    )
                )
                print(json.dumps(results[-1]), flush=True)
        finally:
            server.stop()
    if args.only in (None, "idle") and args.idle:
        for door in ("web", "line"):
            server = Server()
            try:
                results.append(await idle(reactor, server, door, args.idle))
                print(json.dumps(results[-1]), flush=True)
            finally:
                server.stop()
    print(file=sys.stderr)
    for r in results:
        if "kib_per_connection" in r:
            print(
                f"{r['door']:5} {r['phase']:22} {r['kib_per_connection']:8.2f} "
                f"KiB/connection  (RSS {r['rss_before_kib']} -> "
                f"{r['rss_after_kib']} KiB)",
                file=sys.stderr,
            )
        else:
            print(
                f"{r['door']:5} {r['phase']:22} {r['deliveries_per_s']:>9} "
                f"deliveries/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                f"  lost {r['lost']}  server CPU {r['server_cpu_s']} s"
                f"  generator CPU {r['generator_cpu_s']} s",
                file=sys.stderr,
            )


def parse(argv: Sequence[str]) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--users", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000]
    )
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--chatload", type=Path, default=DEFAULT_CHATLOAD)
    parser.add_argument(
        "--no-line", action="store_true", help="the WebSocket side only"
    )
    parser.add_argument("--only", choices=("broadcast", "idle"))
    parser.add_argument(
        "--quick", action="store_true", help="small counts: a correctness run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.messages, args.idle = [20, 100], 10, 200
    return args


if __name__ == "__main__":
    task.react(
        lambda reactor: defer.Deferred.fromCoroutine(main(reactor, parse(sys.argv[1:])))
    )
