#!/usr/bin/env python3
"""
Instructions the server's own work costs, counted by callgrind: the same
count every run, where wall-clock figures on a shared machine move more
than the differences a change makes.

The real line protocol, core and MemoryStore run in this process on
StringTransports and a task.Clock (no sockets, no kernel), so what is
counted is Python's work: a broadcast's deliveries, a private message, a
login.  Each scenario runs twice under ``valgrind --tool=callgrind``, with
and without its measured part, and the difference is divided by how many
units that part did.  ``--tree`` measures another checkout's ``chat``
(it works with the layout before issue 14 as well as after), so two
builds compare side by side::

    python bench/instructions_bench.py                       # this checkout
    python bench/instructions_bench.py --tree /work/bench-base

Needs valgrind (Debian's ``valgrind``); a run takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from ipaddress import ip_network
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
LINE = b"%Mxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"

# name: (what one unit is, units per repetition, repetitions)
SCENARIOS: dict[str, tuple[str, int, int]] = {
    "broadcast1": ("delivery: one message a turn to 500", 499, 40),
    "broadcast5": ("delivery: five senders a turn to 100", 5 * 99, 40),
    "private": ("private message between 50 pairs", 100, 20),
    "login": ("login, 250 online before", 1, 5000),
    # The web door (issue 17): a line client's message to 500 WebSockets,
    # and to 500 line clients in JSON mode, as a WebSocket is.
    "webcast1": ("delivery: one message a turn to 500 WebSockets", 500, 40),
    "jsoncast1": ("delivery: one message a turn to 500 in JSON", 500, 40),
}


def build() -> tuple[Any, Any]:
    """
    A clock and a line-door factory on a core as the server builds it
    (or, before issue 14, the factory that was the core too).
    """
    from twisted.internet.defer import succeed
    from twisted.internet.task import Clock

    class Hasher:
        def hash(self, p: str) -> Any:
            return succeed("h:" + p)

        def verify(self, h: str, p: str) -> Any:
            return succeed(h == "h:" + p)

        def needs_rehash(self, h: str) -> bool:
            return False

        #: Threads it hashes in (the core's hashing queue asks).
        workers = 2

    clock = Clock()
    try:
        from chat.core.core import ChatCore
        from chat.lines.factory import ChatFactory
        from chat.store.memory import MemoryStore
        from chat.store.spool import MemorySpool
    except ImportError:  # the layout before issue 14
        from chat.protocol import ChatFactory as OldFactory  # type: ignore
        from chat.store import MemoryStore as OldStore  # type: ignore

        return clock, OldFactory(
            clock=clock, coalesce=True, store=OldStore(), hasher=Hasher()
        )
    try:
        # As --exempt 127.0.0.0/8 (issue 15 on): the scenarios open more
        # connections from one address than its limit, and send faster
        # than the flood limit on a clock that stands still.
        core = ChatCore(
            clock,
            MemoryStore(),
            MemorySpool(),
            Hasher(),  # type: ignore[arg-type]
            exempt=[ip_network("127.0.0.0/8")],
        )
    except TypeError:  # before issue 15
        core = ChatCore(clock, MemoryStore(), MemorySpool(), Hasher())  # type: ignore
    return clock, ChatFactory(core)


def connect(
    factory: Any, clock: Any, count: int, first: int = 0, *, json: bool = False
) -> list[Any]:
    """
    C{count} logged-in connections on StringTransports (in JSON mode, if
    C{json}).
    """
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    class Sink(StringTransport):
        def write(self, data: bytes) -> None:
            pass

        def setTcpNoDelay(self, on: bool) -> None:
            pass

    protocols = []
    for i in range(first, first + count):
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(Sink(peerAddress=IPv4Address("TCP", "127.0.0.1", i)))
        if json:
            protocol.dataReceived(b"/mode json\n")
        protocol.dataReceived(b"u%d\n" % i)
        clock.advance(0)
        protocols.append(protocol)
    return protocols


def connect_web(factory: Any, clock: Any, count: int) -> None:
    """
    C{count} logged-in WebSockets on the web door, through its site, on
    StringTransports that drop what they are written.
    """
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    from chat.web.door import WebDoor
    from chat.web.files import WebFiles
    from chat.web.site import make_site

    class Sink(StringTransport):
        def write(self, data: bytes) -> None:
            pass

        def setTcpNoDelay(self, on: bool) -> None:
            pass

    files = WebFiles(factory.core)
    site = make_site(
        WebDoor(factory.core, files=files), files, Path(tempfile.mkdtemp())
    )
    for i in range(count):
        address = IPv4Address("TCP", "127.0.0.1", 20_000 + i)
        channel = site.buildProtocol(address)
        channel.makeConnection(Sink(peerAddress=address))
        channel.dataReceived(
            b"GET /ws HTTP/1.1\r\nHost: chat:8080\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nOrigin: http://chat:8080\r\n\r\n"
        )
        name = b"w%d" % i
        channel.dataReceived(bytes((0x81, 0x80 | len(name))) + b"\0\0\0\0" + name)
        clock.advance(0)


def run(name: str, repetitions: int) -> None:
    clock, factory = build()
    if name in ("webcast1", "jsoncast1"):
        [sender] = connect(factory, clock, 1)
        if name == "webcast1":
            connect_web(factory, clock, 500)
        else:
            connect(factory, clock, 500, 1, json=True)
        for _ in range(repetitions):
            sender.dataReceived(LINE)
            clock.advance(0)
        return
    if name == "login":
        connect(factory, clock, 250)
        connect(factory, clock, repetitions, 10_000)
        return
    if name == "private":
        pairs = connect(factory, clock, 100)
        lines = [b"u%d*" % (i ^ 1) + LINE for i in range(100)]
        for _ in range(repetitions):
            for protocol, line in zip(pairs, lines, strict=True):
                protocol.dataReceived(line)
            clock.advance(0)
        return
    size, senders = (500, 1) if name == "broadcast1" else (100, 5)
    everyone = connect(factory, clock, size)
    for _ in range(repetitions):
        for protocol in everyone[-senders:]:
            protocol.dataReceived(LINE)
        clock.advance(0)


def count(tree: Path, name: str, repetitions: int) -> int:
    """
    Instructions of a whole run of C{name}, C{repetitions} times.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(HERE),
                "--child",
                name,
                str(repetitions),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise RuntimeError(result.stderr[-2000:])
    return int(match.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=HERE.parent.parent)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args(argv)
    if args.child:
        run(args.child[0], int(args.child[1]))
        return 0
    report: Callable[[str], None] = print
    report(f"chat from {args.tree}")
    for name in args.scenarios:
        unit, per, repetitions = SCENARIOS[name]
        base = 10 if name == "login" else 0
        total = count(args.tree, name, repetitions + base) - count(
            args.tree, name, base
        )
        report(f"{name:11} {total // (per * repetitions):>9,} instructions per {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
