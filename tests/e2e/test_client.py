"""
End-to-end tests of C{chat-client} in scriptable mode: the installed script
in a subprocess with its stdin a pipe (not a terminal), talking to the
installed C{twistd chat} over real loopback sockets (TCP and TLS).

The servers and the raw line clients that watch what arrives come from
L{tests.e2e.support}; every wait is bounded by its C{TIMEOUT}.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Final, cast

from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.endpoints import quoteStringArgument
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IReactorProcess
from twisted.trial.unittest import TestCase

# Exported as well: tests.e2e.test_client_accounts imports it from here.
from tests.e2e.support import (
    TIMEOUT,
    ChildProcess,
    WaitTimedOut,
    barrier,
    log_in,
    start_server,
    tcp_endpoint,
)
from tests.support import make_certificate

#: The installed client: the one next to the interpreter running the tests.
CHAT_CLIENT: Final = os.path.join(os.path.dirname(sys.executable), "chat-client")

_TLS_PORT: Final = r"ChatFactory \(TLS\) starting on (\d+)$"


class ClientProcess(ChildProcess):
    """
    C{chat-client} as a child process: its stdin is ours to write and
    close; its stdout and stderr are collected separately.

    @ivar out: everything written to stdout, decoded.
    @ivar err: everything written to stderr, decoded.
    """

    what = "the client"

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self.out = ""
        self.err = ""
        self._out_cursor = 0
        self._err_cursor = 0

    def _describe(self) -> str:
        state = "running" if self.ended is None else f"ended ({self.ended.value})"
        return f"{self.label} ({state}) stdout:\n{self.out}\nstderr:\n{self.err}"

    @property
    def out_lines(self) -> list[str]:
        """
        The complete lines written to stdout so far.
        """
        return self.out.splitlines()

    # Twisted calls these.

    def outReceived(self, data: bytes) -> None:
        self.out += data.decode("utf-8", "replace")
        self._conditions.check()

    def errReceived(self, data: bytes) -> None:
        self.err += data.decode("utf-8", "replace")
        self._conditions.check()

    # Input.

    def send_line(self, text: str) -> None:
        """
        Write C{text} and a newline to the client's stdin.
        """
        assert self.transport is not None
        self.transport.write(text.encode("utf-8") + b"\n")

    def close_stdin(self) -> None:
        """
        End the client's input.
        """
        assert self.transport is not None
        self.transport.closeStdin()

    # Waiting.

    def expect_out(self, text: str, timeout: float = TIMEOUT) -> Deferred[str]:
        """
        The first unread stdout line containing C{text}; it and the lines
        before it become read.
        """

        def found() -> str | None:
            lines = self.out_lines
            if not self.out.endswith("\n"):
                lines = lines[:-1]
            while self._out_cursor < len(lines):
                line = lines[self._out_cursor]
                self._out_cursor += 1
                if text in line:
                    return line
            return None

        return self._conditions.wait(found, f"stdout line with {text!r}", timeout)

    def expect_err(self, text: str, timeout: float = TIMEOUT) -> Deferred[str]:
        """
        C{text}, once it appears in the unread part of stderr (a prompt has
        no newline, so this is not line based); what precedes it is read.
        """

        def found() -> str | None:
            index = self.err.find(text, self._err_cursor)
            if index < 0:
                return None
            self._err_cursor = index + len(text)
            return text

        return self._conditions.wait(found, f"{text!r} on stderr", timeout)

    async def exit_code(self, timeout: float = TIMEOUT) -> int:
        """
        The client's exit status, once it has exited by itself.
        """
        try:
            reason = await self._wait_ended(timeout)
        except TimeoutError:
            raise WaitTimedOut(
                f"no exit within {timeout} s; {self._describe()}"
            ) from None
        if isinstance(reason, ProcessDone):
            return 0
        assert isinstance(reason, ProcessTerminated), reason
        if reason.signal is not None:
            raise AssertionError(
                f"killed by signal {reason.signal}; {self._describe()}"
            )
        return int(reason.exitCode)

    async def kill(self) -> None:
        """
        SIGKILL the client if it is still running, and wait until it is gone.
        """
        if self.ended is None and self.transport is not None:
            try:
                self.transport.signalProcess("KILL")
            except ProcessExitedAlready:
                pass  # reaped; processEnded comes once its pipes are closed
        await self._wait_ended(TIMEOUT)


def run_client(
    case: TestCase, *args: str, stdin: str | None = None, label: str = "chat-client"
) -> ClientProcess:
    """
    Start C{chat-client args} with a pipe for stdin; C{case} kills it in its
    cleanup if it is still running.

    @param stdin: if given, written to the client's stdin, which is then
        closed; otherwise stdin stays open for L{ClientProcess.send_line}.
    """
    process = ClientProcess(label)
    from twisted.internet import reactor

    cast(IReactorProcess, reactor).spawnProcess(
        process, CHAT_CLIENT, [CHAT_CLIENT, *args], env=dict(os.environ)
    )
    case.addCleanup(process.kill)
    if stdin is not None:
        assert process.transport is not None
        process.transport.write(stdin.encode("utf-8"))
        process.transport.closeStdin()
    return process


def unused_port() -> int:
    """
    A loopback port nothing listens on (it was free a moment ago).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class ScriptedTCPTests(TestCase):
    """
    C{chat-client} over plain TCP, fed by a pipe the way scripts use it.
    """

    async def test_ci_bot(self) -> None:
        """
        C{printf 'ALL*build finished\\n' | chat-client --name ci-bot} joins,
        delivers the message to the other users, leaves and exits 0.
        """
        server = await start_server(self)
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self,
            *("--name", "ci-bot", "127.0.0.1", str(server.tcp_port)),
            stdin="ALL*build finished\n",
        )
        self.assertEqual(await client.exit_code(), 0)
        self.assertEqual(await watcher.next_line(), "* ci-bot just joined the server")
        self.assertEqual(await watcher.next_line(), "ci-bot: build finished")
        self.assertEqual(await watcher.next_line(), "* ci-bot left the chat (quit)")
        self.assertEqual(
            client.out_lines, ["* joined as ci-bot; 2 online: ci-bot, watcher"]
        )
        self.assertEqual(client.err, "")

    async def test_events_as_plain_lines(self) -> None:
        """
        What the server sends in JSON is printed as plain lines: the user
        list, joins, public, private and action messages, and leaves.
        """
        server = await start_server(self)
        port = str(server.tcp_port)
        client = run_client(self, "--name", "ci-bot", "127.0.0.1", port)
        await client.expect_out("* joined as ci-bot")
        client.send_line("/users")
        await client.expect_out("* online (1)")
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        await client.expect_out("* alice joined")
        for line in ("ci-bot*psst, a*b", "hello  all", "/me waves", "/quit"):
            alice.send_line(line)
        await client.expect_out("* alice left")
        client.close_stdin()
        self.assertEqual(await client.exit_code(), 0)
        self.assertEqual(
            client.out_lines,
            [
                "* joined as ci-bot; 1 online: ci-bot",
                "* online (1): ci-bot",
                "* alice joined",
                "[private] alice: psst, a*b",
                "alice: hello  all",
                "* alice waves",
                "* alice left (quit)",
            ],
        )

    async def test_send_and_quit_keywords(self) -> None:
        """
        C{SEND message} broadcasts the message and C{QUIT} leaves and exits
        0 by itself (stdin still open); what follows C{QUIT} is not sent.
        """
        server = await start_server(self)
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        start = len(watcher.lines)
        client = run_client(self, "--name", "ci-bot", "127.0.0.1", str(server.tcp_port))
        client.send_line("SEND hello everyone")
        client.send_line("QUIT")
        client.send_line("SEND not this one")
        self.assertEqual(await client.exit_code(), 0)
        await watcher.expect("* ci-bot left the chat")
        await barrier(self, watcher)
        self.assertEqual(
            watcher.lines[start:-1],
            [
                "* ci-bot just joined the server",
                "ci-bot: hello everyone",
                "* ci-bot left the chat (quit)",
            ],
        )

    async def test_connection_refused(self) -> None:
        """
        With nothing listening the client says C{ERROR: Connection Failed.}
        and exits non-zero.
        """
        client = run_client(
            self, "--name", "ci-bot", "127.0.0.1", str(unused_port()), stdin="hi\n"
        )
        self.assertNotEqual(await client.exit_code(), 0)
        self.assertTrue(client.err.startswith("ERROR: Connection Failed."), client.err)
        self.assertEqual(client.out, "")

    async def test_name_taken(self) -> None:
        """
        A taken C{--name} is said once, with the server's reason, and the
        client exits 1; its input (messages) is neither sent nor taken for
        another name.
        """
        server = await start_server(self)
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        client = run_client(
            self,
            *("--name", "alice", "127.0.0.1", str(server.tcp_port)),
            stdin="hi alice\nQUIT\n",
        )
        self.assertEqual(await client.exit_code(), 1)
        self.assertEqual(
            client.err,
            "ERROR: the name alice is already taken; please choose another.\n",
        )
        self.assertEqual(client.out, "")
        await barrier(self, alice)
        self.assertEqual(alice.unread(), [])

    async def test_name_from_input(self) -> None:
        """
        Without C{--name}, the first line of the input is the name (the
        whole pipe is read before the server asks) and the rest are
        messages.
        """
        server = await start_server(self)
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self, "127.0.0.1", str(server.tcp_port), stdin="bob\nhello\n"
        )
        self.assertEqual(await client.exit_code(), 0)
        self.assertEqual(await watcher.next_line(), "* bob just joined the server")
        self.assertEqual(await watcher.next_line(), "bob: hello")

    async def test_control_characters_escaped(self) -> None:
        """
        What another user sends is printed with its control characters
        escaped (C{^[} for ESC): nothing reaches the terminal raw.
        """
        server = await start_server(self)
        port = str(server.tcp_port)
        client = run_client(self, "--name", "ci-bot", "127.0.0.1", port)
        await client.expect_out("* joined as ci-bot")
        bob = await log_in(self, tcp_endpoint(server.tcp_port), "bob")
        bob.send_line("\x1b[2Jcleared\x07 \u202eevil")
        self.assertEqual(
            await client.expect_out("bob:"), "bob: ^[[2Jcleared^G <U+202E>evil"
        )
        self.assertNotIn("\x1b", client.out)
        client.close_stdin()
        self.assertEqual(await client.exit_code(), 0)

    async def test_reconnect_after_restart(self) -> None:
        """
        When the server goes away and a new one starts on the same port, the
        client reconnects and rejoins under the same name by itself, and
        exits 0 at the end of its input.
        """
        first = await start_server(self)
        port = first.tcp_port
        client = run_client(self, "--name", "ci-bot", "127.0.0.1", str(port))
        await client.expect_out("* joined as ci-bot")
        await first.process.stop()
        await client.expect_err("connection lost")
        second = await start_server(self, "--listen", f"tcp:{port}:interface=127.0.0.1")
        await second.process.wait_for_log(rf"ChatFactory starting on {port}$")
        await second.process.wait_for_log("ci-bot just joined the chat")
        await client.expect_out("* joined as ci-bot")
        watcher = await log_in(self, tcp_endpoint(port), "watcher")
        client.send_line("back again")
        self.assertEqual(await watcher.next_line(), "ci-bot: back again")
        client.close_stdin()
        self.assertEqual(await client.exit_code(), 0)
        self.assertEqual(await watcher.next_line(), "* ci-bot left the chat (quit)")

    async def test_shift_cipher(self) -> None:
        """
        A C{--shift-cipher} client's C{abc xyza} reaches a plain user as
        C{[shift] bcd yzab} and another C{--shift-cipher} client as
        C{abc xyza}; unmarked text reaches the latter unchanged.
        """
        server = await start_server(self)
        port = str(server.tcp_port)
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        bob = run_client(self, "--shift-cipher", "--name", "bob", "127.0.0.1", port)
        await bob.expect_out("* joined as bob")
        await watcher.expect("* bob just joined")
        alice = run_client(
            self,
            *("--shift-cipher", "--name", "alice", "127.0.0.1", port),
            stdin="abc xyza\n",
        )
        self.assertEqual(await alice.exit_code(), 0)
        await watcher.expect("* alice just joined")
        self.assertEqual(await watcher.next_line(), "alice: [shift] bcd yzab")
        self.assertEqual(await bob.expect_out("alice:"), "alice: abc xyza")
        watcher.send_line("zpaz")
        self.assertEqual(await bob.expect_out("watcher:"), "watcher: zpaz")
        bob.close_stdin()
        self.assertEqual(await bob.exit_code(), 0)


class Seed003Tests(TestCase):
    """
    Seed 003's client flow, C{CONNECT}, C{SEND <message>}, C{QUIT}, against
    the real server.
    """

    async def test_pipeline(self) -> None:
        """
        C{printf 'CONNECT\\nSEND hi\\nQUIT\\n' | chat-client --name x}
        sends C{hi} and exits 0: the C{CONNECT} read while the client
        connects by itself does not cancel the attempt.
        """
        server = await start_server(self)
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self,
            *("--name", "x", "127.0.0.1", str(server.tcp_port)),
            stdin="CONNECT\nSEND hi\nQUIT\n",
        )
        self.assertEqual(await client.exit_code(), 0)
        self.assertEqual(await watcher.next_line(), "* x just joined the server")
        self.assertEqual(await watcher.next_line(), "x: hi")
        self.assertEqual(await watcher.next_line(), "* x left the chat (quit)")
        self.assertNotIn("ERROR", client.err)
        self.assertEqual(client.out_lines, ["* joined as x; 2 online: watcher, x"])

    async def test_no_connect(self) -> None:
        """
        With C{--no-connect} the client waits for C{CONNECT}, answering
        anything else with seed 003's line; after C{CONNECT} it chats.
        """
        server = await start_server(self)
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self, "--no-connect", "--name", "x", "127.0.0.1", str(server.tcp_port)
        )
        await client.expect_err("type CONNECT")
        client.send_line("hello")
        await client.expect_err(
            "ERROR: Please use the CONNECT, SEND <message>, and QUIT commands.\n"
        )
        await barrier(self, watcher)
        self.assertNotIn("x just joined", server.process.log)
        start = len(watcher.lines)
        client.send_line("CONNECT")
        await client.expect_out("* joined as x")
        client.send_line("SEND hi")
        client.send_line("QUIT")
        self.assertEqual(await client.exit_code(), 0)
        await watcher.expect("* x left the chat")
        self.assertEqual(
            watcher.lines[start:],
            [
                "* x just joined the server",
                "x: hi",
                "* x left the chat (quit)",
            ],
        )


class ScriptedTLSTests(TestCase):
    """
    C{chat-client --tls}: verified, or refused.
    """

    async def test_tls(self) -> None:
        """
        C{--tls --cafile cert.pem} to host C{localhost} verifies the
        server's certificate, joins and talks to plain-TCP users.
        """
        server = await start_server(self, tls=True)
        assert server.tls_port is not None and server.cert is not None
        cafile = os.path.abspath(self.mktemp())
        with open(cafile, "wb") as f:
            f.write(server.cert)
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self,
            *("--tls", "--cafile", cafile, "--name", "tlsbot"),
            *("localhost", str(server.tls_port)),
            stdin="hello over tls\n",
        )
        self.assertEqual(await client.exit_code(), 0)
        self.assertEqual(await watcher.next_line(), "* tlsbot just joined the server")
        self.assertEqual(await watcher.next_line(), "tlsbot: hello over tls")
        self.assertEqual(client.err, "")

    async def test_self_signed(self) -> None:
        """
        C{--tls} against a self-signed certificate says that it is not
        trusted and how to trust it, and exits 1 without sending anything.
        """
        server = await start_server(self, tls=True)
        client = run_client(
            self,
            *("--tls", "--name", "spy", "localhost", str(server.tls_port)),
            stdin="secret\n",
        )
        self.assertEqual(await client.exit_code(), 1)
        self.assertEqual(
            client.err,
            f"ERROR: TLS failed: the certificate of localhost:{server.tls_port} "
            "is not trusted (self-signed, or from an authority this system "
            "does not know); not connecting without TLS. If you trust it, "
            "give its certificate (or its authority's) with --cafile FILE.\n",
        )
        self.assertNotIn("secret", server.process.log)

    async def test_plain_port(self) -> None:
        """
        C{--tls} against a plain-text port says that the port does not
        speak TLS, and exits 1.
        """
        server = await start_server(self)
        client = run_client(
            self,
            *("--tls", "--name", "spy", "127.0.0.1", str(server.tcp_port)),
            stdin="secret\n",
        )
        self.assertEqual(await client.exit_code(), 1)
        self.assertEqual(
            client.err,
            f"ERROR: TLS failed: 127.0.0.1:{server.tcp_port} does not speak "
            "TLS (a plain-text port?); give the server's TLS port.\n",
        )

    async def test_wrong_host_refused(self) -> None:
        """
        A certificate for another host name is refused with an C{ERROR} on
        stderr and a non-zero exit; nothing is sent without TLS.
        """
        cert, key = make_certificate(os.path.abspath(self.mktemp()), "wrong.example")
        listen = (
            "ssl:0:interface=127.0.0.1"
            f":privateKey={quoteStringArgument(key)}"
            f":certKey={quoteStringArgument(cert)}"
        )
        server = await start_server(self, "--listen", listen)
        tls_port = (await server.process.wait_for_log(_TLS_PORT)).group(1)
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self,
            *("--cafile", cert, "--name", "spy", "localhost", tls_port),
            stdin="secret\n",
        )
        self.assertNotEqual(await client.exit_code(), 0)
        self.assertTrue(client.err.startswith("ERROR: TLS failed"), client.err)
        self.assertIn("localhost", client.err)
        self.assertIn("is for another host name", client.err)
        self.assertEqual(client.out, "")
        await barrier(self, watcher)
        self.assertNotIn("spy", server.process.log)
        self.assertNotIn("secret", server.process.log)
