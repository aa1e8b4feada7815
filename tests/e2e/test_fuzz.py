"""
A bounded socket fuzzer: random lines and bytes, over several connections,
against the real C{twistd chat} on a real SQLite file.

The inputs come from a seeded L{random.Random}, so a failure names the seed
that reproduces them (C{TXCHAT_FUZZ_SEED}; their timing, and so which
connection each reaches, varies from run to run); C{TXCHAT_FUZZ_INPUTS} sets how
many (10**5 by default), C{TXCHAT_FUZZ_SECONDS} how long the run may take
at most.  Afterwards the server must be alive, answer new clients as
before, have logged no traceback, have answered no request with its
internal error, have logged no more than its log budget, and hold about the
memory it held after a warm-up of the same inputs.
"""

from __future__ import annotations

import os
import random
import time
from typing import Final, cast

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import connectProtocol
from twisted.internet.interfaces import (
    IConsumer,
    IPushProducer,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from chat.lines.commands import COMMANDS
from tests.e2e.support import (
    EXEMPT_LOOPBACK,
    TIMEOUT,
    ChatServer,
    LineClient,
    log_in,
    start_server,
    tcp_endpoint,
)
from tests.lines.test_fuzz import NUMBERS

#: The server's options besides where it listens: loopback is exempt from
#: the per-address and flood limits, so that the fuzzer's many connections
#: (reconnecting whenever the server closes one) are not refused and its
#: inputs reach every command, not the fakelag.
FUZZ_SERVER_ARGS: Final[tuple[str, ...]] = EXEMPT_LOOPBACK

#: Inputs (lines or raw pieces) written in one run.
INPUTS: Final = int(os.environ.get("TXCHAT_FUZZ_INPUTS", "100000"))
#: The seed of the inputs; random unless given.
SEED: Final = int(os.environ.get("TXCHAT_FUZZ_SEED", random.randrange(2**32)))
#: Seconds the inputs may take to write; the run stops there if not done.
SECONDS: Final = float(os.environ.get("TXCHAT_FUZZ_SECONDS", "120"))
#: Connections open at once.
CONNECTIONS: Final = 6
#: The first inputs, which warm the server up before its memory is measured.
WARM_UP: Final = max(1000, INPUTS // 10)
#: How much more memory the server may hold after the run than after the
#: warm-up.
RSS_SLACK: Final = 20 * 1024 * 1024
#: Log lines a second the server may write at most: the two budgets of
#: --log-rate (connection and security events, 100 each by default), each
#: with its count of what was left out, and slack for the server's own.
LOG_LINES_PER_SECOND: Final = 2 * 100 + 2 + 20

_log: Final = Logger(namespace="tests.e2e.test_fuzz")

#: What the core answers when a request raised something not a ChatError.
_INTERNAL: Final = b"the server could not carry that out"

_COMMAND_NAMES: Final = sorted(
    {c.usage.split()[0][1:] for c in COMMANDS if c.usage.startswith("/")}
    | {a.split()[0][1:] for c in COMMANDS for a in c.aliases if a.startswith("/")}
    | {"help", "mode", "file"} - {"quit", "exit"}
)
_NUMERIC: Final = (
    "/history N",
    "/history #x N",
    "/ack N",
    "/ack 1 N",
    "/file get N 0",
    "/file get 1 N",
    "/file resume N",
    "/file done N",
    "/file decline N",
    "/file cancel N",
    "/file offer bob N "
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 a.txt",
    "/file offer u3 5 "
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 N",
)
_WORDS: Final = (
    "alice",
    "Bob",
    "ALL",
    "#x",
    "#X",
    "#",
    "##",
    "+i",
    "-i",
    "json",
    "text",
    "sesame1",
    "short",
    "é",
    "e\u0301",
    "\x1b[2J",
    "\u202e",
    "",
)
_HTTP: Final = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
_TLS_HELLO: Final = (
    bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\x00\x02\x13\x01"
)
_ENDS: Final = (b"\n", b"\r\n", b"\x00", b"\r", b"")


class Inputs:
    """
    Random inputs from a seeded generator: lines of every kind, with any
    terminator or none, and raw bytes.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def start(self, n: int) -> bytes:
        """
        How connection C{n} starts: mostly a name (its own, or one others
        use), sometimes in JSON mode, sometimes nothing.
        """
        rng = self._rng
        if rng.random() < 0.02:
            # Another protocol's first bytes: HTTP, a TLS ClientHello.
            return rng.choice([_HTTP, _TLS_HELLO])
        name = rng.choice([f"u{n}", f"u{n}", f"u{n}", "alice", "bob", ""])
        mode = b"/mode json\n" if rng.random() < 0.2 else b""
        return mode + name.encode() + b"\n"

    def _word(self) -> bytes:
        rng = self._rng
        kind = rng.random()
        if kind < 0.4:
            return rng.choice(NUMBERS).encode()
        if kind < 0.8:
            return rng.choice(_WORDS).encode()
        return rng.randbytes(rng.randrange(1, 6))

    def next(self) -> bytes:
        """
        One input.
        """
        rng = self._rng
        kind = rng.random()
        end = rng.choice(_ENDS) if rng.random() < 0.2 else b"\n"
        if kind < 0.3:
            number = rng.choice(NUMBERS)
            if rng.random() < 0.2:
                number = "-" + number
            return rng.choice(_NUMERIC).replace("N", number).encode() + end
        if kind < 0.55:
            name = rng.choice(_COMMAND_NAMES)
            if rng.random() < 0.3:
                name = name.upper()
            words = [self._word() for _ in range(rng.randrange(4))]
            return b" ".join([b"/" + name.encode(), *words]) + end
        if kind < 0.6:
            # A chunk header whose length may lie, and some bytes.
            # (One that says 65536 takes the next 64 KiB as its bytes:
            # rarely, or it would swallow most of the run.)
            length = rng.choice([0, 1, 5, 16, 65537, -1, 2**64])
            if rng.random() < 0.01:
                length = 65536
            data = rng.randbytes(rng.randrange(0, 24))
            file_id = rng.randrange(64)
            return b"/file chunk %d 0 %d\n%b" % (file_id, length, data)
        if kind < 0.8:
            # Said to everyone, to someone, to a room.
            text = " ".join(self._word().decode("utf-8", "replace") for _ in range(3))
            to = rng.choice(["", "", "bob*", "alice*", "ALL*", "#x*", "nobody*"])
            return (to + text).encode() + end
        if kind < 0.81:
            return b"y" * rng.choice([4095, 4096, 4097, 9000]) + end
        if kind < 0.813:
            # A connection that quits loses what was written after.
            return rng.choice([b"/quit", b"/QUIT bye", b"/exit"]) + end
        if kind < 0.8135:
            # Rare: argon2 costs tens of milliseconds a hash.
            return (
                rng.choice([b"/register sesame1", b"/password sesame1 sesame2"]) + end
            )
        return rng.randbytes(rng.randrange(1, 40))


@implementer(IPushProducer)
class FuzzClient(Protocol):
    """
    One connection of the fuzzer: writes what it is given while the server
    keeps up, counts what it is sent.

    The socket buffers of loopback hold megabytes: a writer that only
    waited for them to fill would run thousands of inputs ahead of the
    server, and lose them all when the server closes the connection.  So
    a connection takes at most L{WINDOW} inputs after the last bytes the
    server sent it (most inputs have an answer).

    @ivar paused: the transport's buffer is full: write elsewhere meanwhile.
    @ivar credit: the inputs it may be written before the server answers.
    @ivar starved: when it last ran out of credit.
    @ivar internal: replies that were the server's internal error.
    """

    WINDOW: Final = 32

    transport: ITCPTransport

    def __init__(self) -> None:
        self.paused = False
        self.credit = self.WINDOW
        self.starved = 0.0
        self.closed = False
        self.received = 0
        self.internal = 0
        self._tail = b""
        self._lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        cast(IConsumer, self.transport).registerProducer(self, True)

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)
        self.credit = self.WINDOW
        seen = self._tail + data
        self.internal += seen.count(_INTERNAL)
        self._tail = seen[-len(_INTERNAL) + 1 :]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed = True
        self._lost.callback(None)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.paused = True

    async def close(self) -> None:
        """
        Close, and wait (bounded) until closed.
        """
        if self.closed:
            return
        self.transport.loseConnection()
        try:
            await self._lost.addTimeout(5, _clock())
        except Exception:
            self.transport.abortConnection()


def _clock() -> IReactorTime:
    from twisted.internet import reactor

    return cast(IReactorTime, reactor)


def rss(pid: int) -> int:
    """
    The resident memory of process C{pid}, in bytes.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class SocketFuzzTests(TestCase):
    """
    The real server survives any input, unchanged.
    """

    timeout = SECONDS + 120

    async def connect(self, server: ChatServer) -> FuzzClient:
        """
        A new fuzz connection; retried (bounded) while the server refuses.
        """
        give_up = time.monotonic() + TIMEOUT
        while True:
            client = FuzzClient()
            try:
                await connectProtocol(tcp_endpoint(server.tcp_port), client).addTimeout(
                    TIMEOUT, _clock()
                )
                return client
            except Exception:
                if time.monotonic() > give_up:
                    raise
                await deferLater(_clock(), 0.05)

    async def quiet(self, server: ChatServer, pid: int, bound: int = 0) -> int:
        """
        Let the server catch up, check it answers a new client, and measure
        its memory: the least of samples over a second, or (given a
        C{bound}) the first sample within it, for up to five: a password
        hash in progress holds 64 MiB for a moment, and must not count.
        """
        probe = await log_in(self, tcp_endpoint(server.tcp_port), f"probe{pid}")
        probe.send_line("/users")
        await probe.expect("* Online")
        await probe.close()
        samples = []
        for _ in range(50 if bound else 10):
            await deferLater(_clock(), 0.1)
            samples.append(rss(pid))
            if samples[-1] <= bound:
                break
        return min(samples)

    async def test_random_input(self) -> None:
        """
        After C{INPUTS} random inputs over connections that come and go, the
        server is alive and answers as before, logged no traceback and no
        more than its log budget, answered no request with its internal
        error, and holds about the memory it held after the warm-up.
        """
        where = f"(TXCHAT_FUZZ_SEED={SEED} TXCHAT_FUZZ_INPUTS={INPUTS})"
        server = await start_server(self, *FUZZ_SERVER_ARGS)
        process = server.process
        assert process.transport is not None
        pid = cast(int, process.transport.pid)
        inputs = Inputs(SEED)
        pick = random.Random(SEED + 1)
        clients: list[FuzzClient] = []
        done: list[FuzzClient] = []
        written = reconnects = 0
        before = 0
        started = time.monotonic()
        deadline = started + SECONDS
        n = 0
        while written < INPUTS and time.monotonic() < deadline:
            # Connections come and go: replace the ones the server closed.
            for i, client in enumerate(clients):
                if client.closed:
                    done.append(client)
                    n += 1
                    clients[i] = await self.connect(server)
                    clients[i].transport.write(inputs.start(n))
                    reconnects += 1
            while len(clients) < CONNECTIONS:
                n += 1
                client = await self.connect(server)
                client.transport.write(inputs.start(n))
                clients.append(client)
            now = time.monotonic()
            for client in clients:
                if not client.credit and now - client.starved > 2:
                    # Silent for long (a lying chunk header swallows what
                    # follows; a password hash takes its time): go.
                    client.transport.abortConnection()
                    client.starved = now
            ready = [c for c in clients if c.credit and not c.paused]
            if not ready:
                # The server is behind: let it catch up.
                await deferLater(_clock(), 0.002)
                continue
            for _ in range(200):
                client = pick.choice(ready)
                if client.closed or client.paused or not client.credit:
                    break
                if written == INPUTS:
                    break
                client.transport.write(inputs.next())
                written += 1
                client.credit -= 1
                if not client.credit:
                    client.starved = now
                if pick.random() < 0.0001:
                    # Sometimes the client is the one that goes.
                    client.transport.abortConnection()
                    break
            await deferLater(_clock(), 0)
            if written >= WARM_UP and not before:
                for client in clients:
                    await client.close()
                done += clients
                clients = []
                before = await self.quiet(server, pid)
        elapsed = time.monotonic() - started
        for client in clients:
            await client.close()
        done += clients
        after = await self.quiet(server, pid, before + RSS_SLACK)
        _log.info(
            "fuzzed with {written} inputs in {elapsed:.1f} s over {count} "
            "connections ({reconnects} replaced when closed), {received} bytes "
            "received, {lines} log lines; RSS {before} -> {after} {where}",
            written=written,
            elapsed=elapsed,
            count=len(done),
            reconnects=reconnects,
            received=sum(c.received for c in done),
            lines=len(process.log_lines),
            before=before,
            after=after,
            where=where,
        )
        # A server that limits what one address may send (without
        # --exempt) takes fewer in the time: useful work all the same, if
        # well past the warm-up; the log line above says how many.
        self.assertGreaterEqual(
            written, 2 * WARM_UP, f"only {written} inputs in time {where}"
        )
        self.assertIsNone(process.ended, where)
        log = process.log
        for bad in ("Traceback", "Unhandled"):
            at = log.find(bad)
            self.assertEqual(at, -1, f"{where} logged:\n{log[at - 500 : at + 2000]}")
        internal = sum(c.internal for c in done)
        self.assertEqual(internal, 0, f"internal errors answered {where}")
        self.assertLessEqual(
            len(process.log_lines),
            (time.monotonic() - started + 10) * LOG_LINES_PER_SECOND,
            where,
        )
        self.assertLessEqual(
            after, before + RSS_SLACK, f"RSS {before} -> {after} {where}"
        )
        await self.assertTalks(server)

    async def assertTalks(self, server: ChatServer) -> None:
        """
        Two new clients log in, talk, and are all that is online.
        """
        endpoint = tcp_endpoint(server.tcp_port)
        one = await log_in(self, endpoint, "zfuzzone")
        two = await log_in(self, endpoint, "zfuzztwo")
        one.send_line("hello after the storm")
        await two.expect("zfuzzone: hello after the storm")
        await self.only_online(two, "* Online (2): zfuzzone, zfuzztwo")

    async def only_online(self, client: LineClient, expected: str) -> None:
        """
        C{client} is soon told that only C{expected} are online: the fuzz
        connections' departures may still be on their way.
        """
        line = ""
        for _ in range(50):
            client.send_line("/users")
            line = await client.expect("* Online")
            if line == expected:
                return
            await deferLater(_clock(), 0.1)
        self.assertEqual(line, expected)
