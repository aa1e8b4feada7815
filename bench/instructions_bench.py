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
units that part did.  The ``tls-*`` scenarios put each connection
behind the server's TLS layer (as ``ssl:`` listeners do; clients are
pyOpenSSL objects in memory): their client records are encrypted before
the measured part, in both runs, so the difference is the server's work
alone (decrypting, the chat work, encrypting).  ``--tree`` measures
another checkout's ``chat`` (it works with the layout before issue 14 as
well as after), so two builds compare side by side::

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
    "tls-broadcast5": ("delivery over TLS: five senders a turn to 100", 5 * 99, 40),
    "tls-private": ("private message over TLS between 50 pairs", 100, 20),
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


class Pipe:
    """
    A TLS client in memory for one server connection: it encrypts what it
    sends and reads the server's bytes only while it handshakes.
    """

    def __init__(self, context: Any) -> None:
        from OpenSSL import SSL

        self.tls = SSL.Connection(context, None)
        self.tls.set_connect_state()
        self.server: Any = None

    def records(self, data: bytes) -> bytes:
        from OpenSSL import SSL

        self.tls.send(data)
        try:
            records: bytes = self.tls.bio_read(1 << 20)
        except SSL.WantReadError:
            return b""
        return records


class Calls:
    """
    C{callLater} for the TLS layer as the reactor does it (a C{DelayedCall}
    kept in a list, run once the turn is over), not as C{task.Clock} does
    (it sorts all its calls on each one, with a hundred timeouts pending).
    """

    def __init__(self) -> None:
        self.due: list[Any] = []

    def seconds(self) -> float:
        return 0.0

    def callLater(self, delay: float, f: Any, *args: Any, **kw: Any) -> Any:
        from twisted.internet.base import DelayedCall

        call = DelayedCall(delay, f, args, kw, self.due.remove, id, self.seconds)
        self.due.append(call)
        return call

    def run(self) -> None:
        while self.due:
            due, self.due = self.due, []
            for call in due:
                call.called = 1
                call.func(*call.args, **call.kw)


CALLS = Calls()


def tls_layer(factory: Any, clock: Any) -> Any:
    """
    What an C{ssl:} listener puts between the socket and the line door:
    the door's own TLS layer where there is one, else Twisted's.
    """
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from twisted.internet.ssl import CertificateOptions
    from twisted.protocols.tls import TLSMemoryBIOFactory

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    from OpenSSL import crypto

    given = CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),
        certificate=crypto.X509.from_cryptography(certificate),
    )
    try:
        from chat.tap import tls_options

        options = tls_options(given)
    except ImportError:
        options = given
    try:
        from chat.lines.tls import TLSFactory  # type: ignore[import-not-found]

        return TLSFactory(options, factory, CALLS)
    except ImportError:
        return TLSMemoryBIOFactory(options, False, factory, CALLS)


def tls_connect(factory: Any, clock: Any, count: int) -> list[Pipe]:
    """
    C{count} logged-in connections over TLS, their handshakes done.
    """
    from OpenSSL import SSL

    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    class Wire(StringTransport):
        """
        Hands the server's bytes to its client while it handshakes, then
        drops them, as the plain scenarios' sink does.
        """

        pipe: Pipe | None = None

        def write(self, data: bytes) -> None:
            if self.pipe is not None:
                self.pipe.tls.bio_write(data)

        def setTcpNoDelay(self, on: bool) -> None:
            pass

    layer = tls_layer(factory, clock)
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    pipes = []
    for i in range(count):
        pipe = Pipe(context)
        wire = Wire(peerAddress=IPv4Address("TCP", "127.0.0.1", i))
        wire.pipe = pipe
        server = layer.buildProtocol(None)
        server.makeConnection(wire)
        pipe.server = server
        for _ in range(8):
            try:
                pipe.tls.do_handshake()
            except SSL.WantReadError:
                pass
            try:
                hello = pipe.tls.bio_read(1 << 20)
            except SSL.WantReadError:
                hello = b""
            if hello:
                server.dataReceived(hello)
            clock.advance(0)
            CALLS.run()
        server.dataReceived(pipe.records(b"u%d\n" % i))
        clock.advance(0)
        CALLS.run()
        try:
            while pipe.tls.recv(1 << 16):
                pass
        except SSL.WantReadError:
            pass
        wire.pipe = None
        pipes.append(pipe)
    return pipes


def run_tls(name: str, repetitions: int, feed: bool) -> None:
    """
    A TLS scenario: every record is made first; only with C{feed} does the
    server get them.
    """
    clock, factory = build()
    if name == "tls-private":
        pipes = tls_connect(factory, clock, 100)
        lines = [b"u%d*" % (i ^ 1) + LINE for i in range(100)]
        turns = [
            [pipe.records(line) for pipe, line in zip(pipes, lines, strict=True)]
            for _ in range(repetitions)
        ]
    else:
        pipes = tls_connect(factory, clock, 100)
        senders = pipes[-5:]
        turns = [[pipe.records(LINE) for pipe in senders] for _ in range(repetitions)]
        pipes = senders
    if not feed:
        return
    for records in turns:
        for pipe, record in zip(pipes, records, strict=True):
            pipe.server.dataReceived(record)
        clock.advance(0)
        CALLS.run()


def run(name: str, repetitions: int) -> None:
    if name.startswith("tls-"):
        run_tls(name, repetitions, feed=True)
        return
    if name.startswith("made-tls-"):
        run_tls(name[5:], repetitions, feed=False)
        return
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
        if name.startswith("tls-"):
            # The same records made in both runs; only one hands them over.
            total = count(args.tree, name, repetitions) - count(
                args.tree, "made-" + name, repetitions
            )
        else:
            base = 10 if name == "login" else 0
            total = count(args.tree, name, repetitions + base) - count(
                args.tree, name, base
            )
        report(f"{name:11} {total // (per * repetitions):>9,} instructions per {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
