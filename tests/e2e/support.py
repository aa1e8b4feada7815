"""
Helpers for the end-to-end tests in L{tests.e2e}: the installed
C{twistd chat} run in a subprocess, and line-collecting clients on real
loopback sockets.

Every wait is bounded: a condition that does not come true within its timeout
fails the test with what was seen so far, so a hung server or a lost line
shows up as a readable failure, not as trial's global timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from OpenSSL import SSL

from twisted.internet import ssl
from twisted.internet.defer import Deferred, TimeoutError, succeed
from twisted.internet.endpoints import (
    TCP4ClientEndpoint,
    connectProtocol,
    quoteStringArgument,
    wrapClientTLS,
)
from twisted.internet.error import (
    ProcessDone,
    ProcessExitedAlready,
    ProcessTerminated,
)
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IReactorProcess,
    IReactorTCP,
    IReactorTime,
    IStreamClientEndpoint,
    ITransport,
)
from twisted.internet.protocol import ProcessProtocol, Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from tests.support import make_certificate

T = TypeVar("T")

#: Seconds any single wait may take before the test fails.
TIMEOUT: Final = 10.0

#: Options for a test that opens more connections from 127.0.0.1 than one
#: address may (16 at once, 30 a minute, by default): loopback is exempted.
EXEMPT_LOOPBACK: Final = ("--exempt", "127.0.0.0/8")

#: The installed C{twistd}: the one next to the interpreter running the tests.
TWISTD: Final = os.path.join(os.path.dirname(sys.executable), "twistd")

# What a client or the server log splits lines on.
_LINE_END: Final = re.compile(rb"\r\n|\n|\x00")
_TCP_PORT: Final = re.compile(r"ChatFactory starting on (\d+)$")
_TLS_PORT: Final = re.compile(r"ChatFactory \(TLS\) starting on (\d+)$")
#: The web door's line (issue 17): where a browser opens the client.
_WEB_PORT: Final = re.compile(r"txchat web client on https?://[^/]+:(\d+)/$")


def _clock() -> IReactorTime:
    from twisted.internet import reactor

    return cast(IReactorTime, reactor)


class WaitTimedOut(AssertionError):
    """
    Something a test waited for did not happen in time.
    """


class _Conditions:
    """
    Deferreds that fire once a condition holds, re-checked on new input.

    A condition is a callable returning C{None} while it does not hold and
    the value to fire with once it does; it is called again after each
    L{check}, so it may keep incremental state.
    """

    def __init__(self, describe: Callable[[], str]) -> None:
        self._pending: list[tuple[Callable[[], object], Deferred[Any]]] = []
        self._describe = describe

    def wait(
        self, condition: Callable[[], T | None], what: str, timeout: float
    ) -> Deferred[T]:
        """
        A L{Deferred} that fires with C{condition()}'s first non-C{None} value
        and fails with L{WaitTimedOut} after C{timeout} seconds.
        """
        value = condition()
        if value is not None:
            return succeed(value)

        def cancel(d: Deferred[T]) -> None:
            self._pending.remove(entry)

        def timed_out(result: object, seconds: float) -> T:
            raise WaitTimedOut(
                f"no {what} within {seconds} s; {self._describe()}"
            ) from None

        d: Deferred[T] = Deferred(cancel)
        entry: tuple[Callable[[], object], Deferred[Any]] = (condition, d)
        self._pending.append(entry)
        d.addTimeout(timeout, _clock(), onTimeoutCancel=timed_out)
        return d

    def check(self) -> None:
        """
        Fire every waiter whose condition now holds.
        """
        for entry in list(self._pending):
            condition, d = entry
            value = condition()
            if value is not None and entry in self._pending:
                self._pending.remove(entry)
                d.callback(value)

    def fail_all(self, why: str) -> None:
        """
        Fail every waiter still pending: what it waits for cannot come.
        """
        self.check()
        pending, self._pending = self._pending, []
        for _, d in pending:
            d.errback(WaitTimedOut(f"{why}; {self._describe()}"))


def _exception(reason: Failure) -> BaseException:
    value = reason.value
    assert value is not None
    return value


def _matcher(match: str | Callable[[str], bool]) -> Callable[[str], bool]:
    if isinstance(match, str):
        return lambda line: match in line
    return match


class LineClient(Protocol):
    """
    A chat user: writes raw bytes, collects every byte and line it receives.

    @ivar raw: every byte received, as received.
    @ivar lines: the received lines (split on CRLF, LF or NUL), decoded.
    @ivar reason: why the connection closed, once it has.
    """

    transport: ITransport

    def __init__(self, label: str) -> None:
        self.label = label
        self.raw = b""
        self.lines: list[str] = []
        self.reason: Failure | None = None
        self._partial = b""
        self._cursor = 0
        self._conditions = _Conditions(self._describe)
        self._lost: list[Deferred[BaseException]] = []

    def _describe(self) -> str:
        tail = self.lines[-5:]
        state = "open" if self.reason is None else "closed"
        return (
            f"{self.label} ({state}) has {len(self.lines)} lines, "
            f"unread from {self._cursor}, last {tail!r}, partial {self._partial!r}"
        )

    # Twisted calls these.

    def dataReceived(self, data: bytes) -> None:
        self.raw += data
        parts = _LINE_END.split(self._partial + data)
        self._partial = parts.pop()
        self.lines.extend(part.decode("utf-8", "replace") for part in parts)
        self._conditions.check()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.reason = reason
        self._conditions.fail_all("the connection closed")
        lost, self._lost = self._lost, []
        for d in lost:
            d.callback(_exception(reason))

    def connectionMade(self) -> None:
        # Send small writes at once, so byte-by-byte input really is.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)

    # Sending.

    def send(self, data: bytes) -> None:
        """
        Write C{data} as it is.
        """
        self.transport.write(data)

    def send_line(self, text: str, end: bytes = b"\r\n") -> None:
        """
        Write C{text} as UTF-8 followed by C{end}.
        """
        self.transport.write(text.encode("utf-8") + end)

    async def send_bytewise(self, data: bytes) -> None:
        """
        Write C{data} one byte per write, each in a later reactor iteration.
        """
        for i in range(len(data)):
            self.transport.write(data[i : i + 1])
            await deferLater(_clock(), 0)

    # Waiting.

    def expect(
        self,
        match: str | Callable[[str], bool],
        timeout: float = TIMEOUT,
        what: str | None = None,
    ) -> Deferred[str]:
        """
        The first unread line containing C{match} (or satisfying it, if it is
        a predicate); that line and every unread line before it become read.

        @param what: what is awaited, for the message if it does not come.
        """
        predicate = _matcher(match)
        if what is None:
            what = f"line containing {match!r}"

        def found() -> str | None:
            while self._cursor < len(self.lines):
                line = self.lines[self._cursor]
                self._cursor += 1
                if predicate(line):
                    return line
            return None

        return self._conditions.wait(found, what, timeout)

    def next_line(self, timeout: float = TIMEOUT) -> Deferred[str]:
        """
        The first unread line, whatever it is.
        """
        return self.expect(lambda line: True, timeout, "line at all")

    def unread(self) -> list[str]:
        """
        The lines received but not yet read; they become read.
        """
        lines = self.lines[self._cursor :]
        self._cursor = len(self.lines)
        return lines

    def wait_for_count(
        self, predicate: Callable[[str], bool], count: int, timeout: float = TIMEOUT
    ) -> Deferred[list[str]]:
        """
        The first C{count} received lines (read or not) satisfying
        C{predicate}, once that many have arrived.
        """
        matched: list[str] = []
        checked = 0

        def enough() -> list[str] | None:
            nonlocal checked
            for line in self.lines[checked:]:
                if predicate(line):
                    matched.append(line)
            checked = len(self.lines)
            return matched[:count] if len(matched) >= count else None

        return self._conditions.wait(enough, f"{count} matching lines", timeout)

    def wait_closed(self, timeout: float = TIMEOUT) -> Deferred[BaseException]:
        """
        Why the connection closed (the exception), once it has.
        """
        if self.reason is not None:
            return succeed(_exception(self.reason))

        def cancel(d: Deferred[BaseException]) -> None:
            self._lost.remove(d)

        def timed_out(result: object, seconds: float) -> BaseException:
            raise WaitTimedOut(
                f"connection not closed within {seconds} s; {self._describe()}"
            )

        d: Deferred[BaseException] = Deferred(cancel)
        self._lost.append(d)
        d.addTimeout(timeout, _clock(), onTimeoutCancel=timed_out)
        return d

    async def close(self) -> None:
        """
        Close the connection (cleanly, else by aborting) and wait until it is.
        """
        if self.reason is not None:
            return
        self.transport.loseConnection()
        try:
            await self.wait_closed(5)
        except WaitTimedOut:
            self.transport.abortConnection()  # type: ignore[attr-defined]
            await self.wait_closed()


class ChildProcess(ProcessProtocol):
    """
    A child process whose output tests wait on (bounded) and whose exit
    they can await.

    @ivar ended: why the process ended, once it has.
    """

    what = "the process"

    def __init__(self) -> None:
        self.ended: Failure | None = None
        self._conditions = _Conditions(self._describe)
        self._end_waiters: list[Deferred[BaseException]] = []

    def _describe(self) -> str:
        raise NotImplementedError

    def processEnded(self, reason: Failure) -> None:
        self.ended = reason
        self._conditions.fail_all(f"{self.what} exited")
        waiters, self._end_waiters = self._end_waiters, []
        for d in waiters:
            d.callback(_exception(reason))

    def _wait_ended(self, timeout: float) -> Deferred[BaseException]:
        if self.ended is not None:
            return succeed(_exception(self.ended))

        def cancel(d: Deferred[BaseException]) -> None:
            self._end_waiters.remove(d)

        d: Deferred[BaseException] = Deferred(cancel)
        self._end_waiters.append(d)
        d.addTimeout(timeout, _clock())
        return d


class ServerProcess(ChildProcess):
    """
    C{twistd chat} as a child process; collects its log (stdout and stderr).
    """

    what = "the server"

    def __init__(self) -> None:
        super().__init__()
        self.log_lines: list[str] = []
        self._partial = b""

    def _describe(self) -> str:
        return "server log so far:\n" + "\n".join(self.log_lines)

    def outReceived(self, data: bytes) -> None:
        parts = _LINE_END.split(self._partial + data)
        self._partial = parts.pop()
        self.log_lines.extend(part.decode("utf-8", "replace") for part in parts)
        self._conditions.check()

    errReceived = outReceived

    @property
    def log(self) -> str:
        """
        The server's log so far, one line per line.
        """
        return "\n".join(self.log_lines)

    def wait_for_log(
        self, pattern: str | re.Pattern[str], timeout: float = TIMEOUT
    ) -> Deferred[re.Match[str]]:
        """
        The first log line that C{pattern} matches (C{re.search}), once
        there is one.
        """
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for line in self.log_lines:
                match = regex.search(line)
                if match is not None:
                    return match
            return None

        return self._conditions.wait(found, f"log line like {regex.pattern!r}", timeout)

    def _signal(self, name: str) -> None:
        if self.ended is None and self.transport is not None:
            try:
                self.transport.signalProcess(name)
            except ProcessExitedAlready:
                pass  # reaped; processEnded comes once its pipes are closed

    killed = False

    async def kill(self) -> None:
        """
        SIGKILL the server, as a crash would end it, and wait until it has
        exited.
        """
        self.killed = True
        self._signal("KILL")
        await self._wait_ended(TIMEOUT)

    async def stop(self) -> None:
        """
        SIGTERM the server and wait until it exits (SIGKILL if it will not).

        @raise AssertionError: if it did not exit cleanly (status 0, or by
            the SIGTERM) or logged a traceback: either is a server bug.
        """
        if self.killed:
            return
        self._signal("TERM")
        try:
            reason = await self._wait_ended(TIMEOUT)
        except TimeoutError:
            self._signal("KILL")
            await self._wait_ended(TIMEOUT)
            raise AssertionError(
                f"the server ignored SIGTERM for {TIMEOUT} s; {self._describe()}"
            ) from None
        # twistd re-raises the signal that stopped it, to exit "by" it.
        clean = isinstance(reason, ProcessDone) or (
            isinstance(reason, ProcessTerminated) and reason.signal == signal.SIGTERM
        )
        if not clean:
            raise AssertionError(
                f"the server exited badly: {reason}; {self._describe()}"
            )
        if "Traceback" in self.log or "Unhandled" in self.log:
            raise AssertionError(f"the server logged an error; {self._describe()}")


@dataclass(frozen=True)
class ChatServer:
    """
    A running server: its process and where it listens (on 127.0.0.1).

    @ivar cert: the PEM certificate of the TLS listener, if there is one.
    @ivar directory: where it runs (its database and spool are there).
    """

    process: ServerProcess
    tcp_port: int
    tls_port: int | None = None
    cert: bytes | None = None
    directory: str = ""
    #: The web door's port, if it was asked for (L{start_web_server}).
    web_port: int | None = None


#: The repository's C{chat/}, the source of the installed copy.
SOURCE: Final = Path(__file__).resolve().parents[2] / "chat"


@cache
def stale_install() -> list[str]:
    """
    The modules of the repository's C{chat/}, subpackages included, that the
    installed copy (the one twistd imports in a fresh directory) lacks, has
    otherwise, or has and the repository does not: after an edit,
    C{make test} installs again, a bare trial run does not.
    """
    if "PYTHONPATH" in os.environ:  # twistd imports from there, not from the install
        return []
    installed = Path(sysconfig.get_paths()["purelib"]) / "chat"
    if not (SOURCE / "__init__.py").is_file():
        return [f"{SOURCE} (not a source tree)"]

    def modules(root: Path) -> set[Path]:
        return {path.relative_to(root) for path in root.rglob("*.py")}

    ours, theirs = modules(SOURCE), modules(installed)
    return sorted(
        str(path)
        for path in ours | theirs
        if path not in ours
        or path not in theirs
        or (installed / path).read_bytes() != (SOURCE / path).read_bytes()
    )


async def start_server(
    case: TestCase, *options: str, tls: bool = False, web: bool = False
) -> ChatServer:
    """
    Start C{twistd chat} the way users do, in a fresh directory, listening
    on ephemeral loopback ports; C{case} stops it in its cleanup.

    @param options: more C{twistd chat} options, e.g. C{--max-line-length}.
    @param tls: also listen with TLS, with a new self-signed certificate.
    @param web: serve the web client too, on an ephemeral port
        (L{ChatServer.web_port}); without it the server gets C{--no-web},
        so that no test takes the default port 8080.
    """
    stale = stale_install()
    if stale:
        case.fail(
            f"the installed chat differs from chat/ in {', '.join(stale)}: "
            "run make install (make test does)"
        )
    directory = os.path.abspath(case.mktemp())
    os.makedirs(directory)
    args = [TWISTD, "--nodaemon", "--pidfile=", "--logfile=-", "chat"]
    args += ["--listen", "tcp:0:interface=127.0.0.1"]
    cert: bytes | None = None
    if tls:
        cert_path, key_path = make_certificate(os.path.abspath(case.mktemp()))
        with open(cert_path, "rb") as f:
            cert = f.read()
        args += [
            "--listen",
            "ssl:0:interface=127.0.0.1"
            f":privateKey={quoteStringArgument(key_path)}"
            f":certKey={quoteStringArgument(cert_path)}",
        ]
    if web:
        args += ["--web", "tcp:0:interface=127.0.0.1"]
    elif "--web" not in options:
        args += ["--no-web"]
    args += options
    process = ServerProcess()
    from twisted.internet import reactor

    cast(IReactorProcess, reactor).spawnProcess(
        process, TWISTD, args, env=dict(os.environ), path=directory
    )
    case.addCleanup(process.stop)
    tcp_port = int((await process.wait_for_log(_TCP_PORT)).group(1))
    tls_port = None
    if tls:
        tls_port = int((await process.wait_for_log(_TLS_PORT)).group(1))
    web_port = None
    if web:
        web_port = int((await process.wait_for_log(_WEB_PORT)).group(1))
    return ChatServer(process, tcp_port, tls_port, cert, directory, web_port)


async def start_web_server(case: TestCase, *options: str) -> tuple[int, int]:
    """
    Start C{twistd chat} with the web door (as L{start_server} does, on
    ephemeral loopback ports): the line door's port and the web door's
    (the page is C{http://127.0.0.1:PORT/}, the WebSocket C{/ws}).
    """
    server = await start_server(case, *options, web=True)
    assert server.web_port is not None
    return server.tcp_port, server.web_port


def temp_dir(case: TestCase) -> str:
    """
    A new empty directory for C{case}, by absolute path (children run
    elsewhere).
    """
    path: str = os.path.abspath(case.mktemp())
    os.makedirs(path)
    return path


def temp_file(case: TestCase, name: str, data: bytes) -> str:
    """
    A file called C{name} holding C{data}, alone in a new directory.
    """
    path = os.path.join(temp_dir(case), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def tcp_endpoint(port: int) -> IStreamClientEndpoint:
    """
    A plain TCP endpoint for C{127.0.0.1:port}.
    """
    from twisted.internet import reactor

    return TCP4ClientEndpoint(cast(IReactorTCP, reactor), "127.0.0.1", port)


def tls_endpoint(
    server: ChatServer, creator: IOpenSSLClientConnectionCreator | None = None
) -> IStreamClientEndpoint:
    """
    A TLS endpoint for C{server}'s TLS listener that checks its certificate
    for C{localhost}, or uses C{creator} instead.
    """
    assert server.tls_port is not None and server.cert is not None
    if creator is None:
        creator = ssl.optionsForClientTLS(
            "localhost", trustRoot=ssl.Certificate.loadPEM(server.cert)
        )
    return wrapClientTLS(creator, tcp_endpoint(server.tls_port))


async def connect(
    case: TestCase, endpoint: IStreamClientEndpoint, label: str
) -> LineClient:
    """
    Connect a L{LineClient} that C{case} closes in its cleanup.
    """
    client = LineClient(label)
    await connectProtocol(endpoint, client).addTimeout(TIMEOUT, _clock())
    case.addCleanup(client.close)
    return client


async def log_in(
    case: TestCase, endpoint: IStreamClientEndpoint, name: str
) -> LineClient:
    """
    Connect, wait for the greeting, send C{name} and wait until it is
    accepted; the welcome line is read.
    """
    client = await connect(case, endpoint, name)
    await client.expect("name")
    client.send_line(name)
    welcome = await client.next_line()
    case.assertIn(name, welcome)
    case.assertFalse(welcome.startswith("ERROR"), welcome)
    return client


async def barrier(case: TestCase, client: LineClient) -> None:
    """
    Ask for C{/users} and check that the answer is C{client}'s next line:
    whatever the server sent C{client} before it has been read, so nothing
    unexpected is waiting.
    """
    client.send_line("/users")
    case.assertRegex(await client.next_line(), r"^\* Online \(\d+\): ")


class WebSocketClient:
    """
    A browser tab's WebSocket, on Twisted's WebSocket client: collects the
    JSON objects it is sent (L{events}).

    @ivar events: every JSON object received, in order.
    @ivar reason: why the connection closed, once it has.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.events: list[dict[str, Any]] = []
        self.reason: Failure | None = None
        self.transport: Any = None
        self._cursor = 0
        self._conditions = _Conditions(self._describe)
        self._lost: list[Deferred[BaseException]] = []

    def _describe(self) -> str:
        state = "open" if self.reason is None else "closed"
        return (
            f"{self.label} ({state}) has {len(self.events)} events, unread from "
            f"{self._cursor}, last {self.events[-3:]!r}"
        )

    # Twisted's WebSocketProtocol.

    def negotiationStarted(self, transport: Any) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        self.events.append(json.loads(message))
        self._conditions.check()

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        raise AssertionError(f"{self.label} was sent a binary message")

    def pongReceived(self, payload: bytes) -> None:
        pass

    def connectionLost(self, reason: Failure) -> None:
        self.reason = reason
        self._conditions.fail_all("the connection closed")
        lost, self._lost = self._lost, []
        for d in lost:
            d.callback(_exception(reason))

    # Use.

    def send(self, text: str) -> None:
        """
        One line, as one text message.
        """
        self.transport.sendTextMessage(text)

    def expect(
        self,
        kind: str,
        match: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = TIMEOUT,
    ) -> Deferred[dict[str, Any]]:
        """
        The first unread event of type C{kind} (for which C{match} is true,
        if given); it and every unread event before it become read.
        """

        def found() -> dict[str, Any] | None:
            while self._cursor < len(self.events):
                event = self.events[self._cursor]
                self._cursor += 1
                if event["type"] == kind and (match is None or match(event)):
                    return event
            return None

        return self._conditions.wait(found, f"{kind} event", timeout)

    def wait_closed(self, timeout: float = TIMEOUT) -> Deferred[BaseException]:
        """
        Fires with why the connection closed, once it has.
        """
        if self.reason is not None:
            return succeed(_exception(self.reason))
        d: Deferred[BaseException] = Deferred()
        self._lost.append(d)
        return d.addTimeout(timeout, _clock())

    def close(self) -> None:
        """
        Close the connection, if it is open.
        """
        if self.reason is None and self.transport is not None:
            self.transport.transport.abortConnection()


async def connect_web(
    case: TestCase,
    port: int,
    label: str,
    *,
    origin: str | None = None,
    cert: bytes | None = None,
) -> WebSocketClient:
    """
    Open C{ws://127.0.0.1:port/ws} as a page of C{origin} would [default:
    the page's own, C{http://127.0.0.1:port}]; C{case} closes it in its
    cleanup.  With C{cert} (PEM), C{wss://} to a server with that
    certificate for C{localhost}.  (Twisted's C{WebSocketClientEndpoint}
    sends no Origin, which the web door requires, so this does its
    handshake with one.)
    """
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import Request as WSRequest

    from twisted.web._websocket_impl import _WebSocketWireProtocol

    host = f"127.0.0.1:{port}"
    scheme = "http" if cert is None else "https"
    headers = [(b"origin", (origin or f"{scheme}://{host}").encode())]
    endpoint = tcp_endpoint(port)
    if cert is not None:
        creator = ssl.optionsForClientTLS(
            "localhost", trustRoot=ssl.Certificate.loadPEM(cert)
        )
        endpoint = wrapClientTLS(creator, endpoint)
    client = WebSocketClient(label)

    def bootstrap(connection: Any, transport: ITransport) -> None:
        transport.write(
            connection.send(WSRequest(host=host, target="/ws", extra_headers=headers))
        )

    wire: Any = _WebSocketWireProtocol(
        WSConnection(ConnectionType.CLIENT), bootstrap, client
    )
    await connectProtocol(endpoint, wire).addTimeout(TIMEOUT, _clock())
    done: Deferred[Any] = getattr(wire, "_done", None) or succeed(client)
    await done.addTimeout(TIMEOUT, _clock())
    case.addCleanup(client.close)
    return client


async def log_in_web(case: TestCase, port: int, name: str) -> WebSocketClient:
    """
    Open a WebSocket, answer the name prompt with C{name} and wait for the
    welcome and the files token.
    """
    client = await connect_web(case, port, name)
    await client.expect("prompt")
    client.send(name)
    welcome = await client.expect("welcome")
    case.assertEqual(welcome["name"], name)
    await client.expect("web-files")
    return client


@implementer(IOpenSSLClientConnectionCreator)
class OnlyTLS11:
    """
    Client TLS that offers TLS 1.1 and nothing else, and does not verify
    the server's certificate.

    OpenSSL refuses TLS 1.1 at its default security level, so the level is
    lowered: the ClientHello really goes out, and any refusal is the
    server's.
    """

    def clientConnectionForTLS(
        self, tlsProtocol: TLSMemoryBIOProtocol
    ) -> SSL.Connection:
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_min_proto_version(SSL.TLS1_1_VERSION)
        context.set_max_proto_version(SSL.TLS1_1_VERSION)
        context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        connection = SSL.Connection(context, None)
        connection.set_app_data(tlsProtocol)
        connection.set_connect_state()
        return connection
