"""
End-to-end tests: the installed C{twistd chat} in a subprocess, real clients
on real loopback sockets (TCP and TLS), asserting what users see.

Each test starts its own server (about half a second) so that no test can
see another's users; every wait is bounded (L{tests.e2e.support.TIMEOUT}).
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime

from OpenSSL import SSL

from twisted.internet import ssl
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.trial.unittest import TestCase

from tests.e2e.support import (
    EXEMPT_LOOPBACK,
    ChatServer,
    LineClient,
    OnlyTLS11,
    barrier,
    connect,
    log_in,
    start_server,
    tcp_endpoint,
    tls_endpoint,
)

GREETING = "Welcome to txchat! Please enter your name:"

# Loopback TLS takes milliseconds; a short bound keeps failures quick.
TLS_TIMEOUT = 5.0


class ConversationTests(TestCase):
    """
    Three plain-TCP users joining, talking in public and in private, and
    leaving.
    """

    endpoint: IStreamClientEndpoint

    async def _three_users(self) -> tuple[LineClient, LineClient, LineClient]:
        """
        Start a server and log in Alice, Bob and Carol, in that order; every
        line they were sent so far is read.
        """
        server = await start_server(self)
        self.endpoint = endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "Alice")
        bob = await log_in(self, endpoint, "Bob")
        self.assertEqual(await alice.next_line(), "* Bob just joined the server")
        carol = await log_in(self, endpoint, "Carol")
        for client in (alice, bob):
            self.assertEqual(await client.next_line(), "* Carol just joined the server")
        return alice, bob, carol

    async def test_greeting_and_welcome(self) -> None:
        """
        A new connection is asked for its name and welcomed by it, and the
        users already online are told who joined.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "Alice")
        self.assertEqual(alice.lines[0], GREETING)
        self.assertIn("name", alice.lines[0])
        self.assertTrue(alice.lines[1].startswith("* Hello Alice"), alice.lines[1])

        bob = await connect(self, endpoint, "Bob")
        self.assertEqual(await bob.next_line(), GREETING)
        bob.send_line("Bob")
        welcome = await bob.next_line()
        self.assertIn("Bob", welcome)
        self.assertIn("Online (2): Alice, Bob", welcome)
        self.assertEqual(await alice.next_line(), "* Bob just joined the server")

    async def test_broadcast(self) -> None:
        """
        A plain line and an C{ALL*text} line both reach every other user as
        C{sender: text}, and not the sender.
        """
        alice, bob, carol = await self._three_users()
        alice.send_line("Hello everyone")
        alice.send_line("ALL*Hello again, all of you")
        for client in (bob, carol):
            self.assertEqual(await client.next_line(), "Alice: Hello everyone")
            self.assertEqual(await client.next_line(), "Alice: Hello again, all of you")
        await barrier(self, alice)

    async def test_private_message(self) -> None:
        """
        C{Bob*text} reaches Bob alone, marked private, with the sender's name
        and the exact text.
        """
        alice, bob, carol = await self._three_users()
        alice.send_line("Bob*Hello, how are you?")
        self.assertEqual(await bob.next_line(), "[private] Alice: Hello, how are you?")
        alice.send_line("after the private one")
        self.assertEqual(await carol.next_line(), "Alice: after the private one")
        self.assertEqual(await bob.next_line(), "Alice: after the private one")
        await barrier(self, alice)

    async def test_private_to_absent_user(self) -> None:
        """
        A private message to a name nobody holds is refused with an C{ERROR:}
        line naming that user, and reaches nobody.
        """
        alice, bob, carol = await self._three_users()
        alice.send_line("Dave*are you there?")
        error = await alice.next_line()
        self.assertTrue(error.startswith("ERROR: "), error)
        self.assertIn("Dave", error)
        alice.send_line("still here")
        for client in (bob, carol):
            self.assertEqual(await client.next_line(), "Alice: still here")

    async def test_text_relayed_exactly(self) -> None:
        """
        The text of a plain, C{ALL*} or C{NAME*} message arrives exactly as
        typed: spaces, tabs, further C{*}s and non-ASCII included.
        """
        alice, bob, carol = await self._three_users()
        text = "  two  spaces,\ta tab, a*b*c, ünïcødé ✓  "
        alice.send_line(text)
        alice.send_line("ALL*" + text)
        alice.send_line("Bob*" + text)
        for client in (bob, carol):
            self.assertEqual(await client.next_line(), "Alice: " + text)
            self.assertEqual(await client.next_line(), "Alice: " + text)
        self.assertEqual(await bob.next_line(), "[private] Alice: " + text)
        await barrier(self, carol)

    async def test_quit(self) -> None:
        """
        C{/quit bye} says goodbye, closes the connection, ignores lines sent
        after it and tells the others who left and why.
        """
        alice, bob, carol = await self._three_users()
        alice.send(b"/quit bye\r\nnever delivered\r\n")
        self.assertEqual(await alice.next_line(), "* Goodbye!")
        await alice.wait_closed()
        self.assertEqual(alice.unread(), [])
        for client in (bob, carol):
            self.assertEqual(await client.next_line(), "* Alice left the chat (bye)")
            await barrier(self, client)

    async def test_connection_dropped(self) -> None:
        """
        When a user's connection closes without C{/quit}, the others are told
        and the name is free again at once.
        """
        alice, bob, carol = await self._three_users()
        await alice.close()
        for client in (bob, carol):
            self.assertEqual(
                await client.next_line(), "* Alice left the chat (connection closed)"
            )
        again = await log_in(self, self.endpoint, "alice")
        self.assertIn("Online (3): alice, Bob, Carol", again.lines[1])


class TLSTests(TestCase):
    """
    A TLS listener next to the TCP one, sharing its users.
    """

    async def test_tls_and_tcp_users_talk(self) -> None:
        """
        A TLS user and a TCP user exchange a private message and a broadcast,
        over TLS 1.2 or later with the server's certificate checked.
        """
        server = await start_server(self, tls=True)
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "Alice")
        bob = await connect(self, tls_endpoint(server), "Bob")
        self.assertEqual(await bob.next_line(TLS_TIMEOUT), GREETING)
        connection = bob.transport.getHandle()  # type: ignore[attr-defined]
        assert isinstance(connection, SSL.Connection)
        self.assertIn(connection.get_protocol_version_name(), ("TLSv1.2", "TLSv1.3"))
        bob.send_line("Bob")
        self.assertIn("Bob", await bob.next_line())
        self.assertEqual(await alice.next_line(), "* Bob just joined the server")

        bob.send_line("Alice*Hello over TLS")
        self.assertEqual(await alice.next_line(), "[private] Bob: Hello over TLS")
        alice.send_line("Hello over TCP")
        self.assertEqual(await bob.next_line(), "Alice: Hello over TCP")

    async def test_tls_1_1_refused(self) -> None:
        """
        A client that offers only TLS 1.1 fails the handshake with the
        server's protocol-version alert and gets no data, while a client
        capped at TLS 1.2 is served.
        """
        server = await start_server(self, tls=True)
        assert server.cert is not None
        tls12 = ssl.optionsForClientTLS(
            "localhost",
            trustRoot=ssl.Certificate.loadPEM(server.cert),
            extraCertificateOptions={"lowerMaximumSecurityTo": ssl.TLSVersion.TLSv1_2},
        )
        modern = await connect(self, tls_endpoint(server, tls12), "tls12")
        self.assertEqual(await modern.next_line(TLS_TIMEOUT), GREETING)

        old = await connect(self, tls_endpoint(server, OnlyTLS11()), "tls11")
        reason = await old.wait_closed(TLS_TIMEOUT)
        self.assertIsInstance(reason, SSL.Error)
        self.assertIn("protocol version", str(reason))
        self.assertEqual(old.raw, b"")


class FramingTests(TestCase):
    """
    Lines may end with LF, CRLF or NUL, arrive together or byte by byte.
    """

    async def _check_replies_end_like_input(self, end: bytes) -> None:
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        framed = await connect(self, endpoint, "framed")
        self.assertEqual(await framed.next_line(), GREETING)
        framed.send_line("framed", end)
        self.assertIn("framed", await framed.next_line())
        bob = await log_in(self, endpoint, "Bob")
        self.assertEqual(await framed.next_line(), "* Bob just joined the server")
        bob.send_line("Hello framed")
        self.assertEqual(await framed.next_line(), "Bob: Hello framed")
        framed.send_line("/nosuchcommand", end)
        self.assertTrue((await framed.next_line()).startswith("ERROR: "))
        framed.send_line("Hello Bob", end)
        self.assertEqual(await bob.next_line(), "framed: Hello Bob")

        # Only the greeting predates the client's choice; it uses CRLF.
        expected = GREETING.encode() + b"\r\n"
        expected += b"".join(line.encode() + end for line in framed.lines[1:])
        self.assertEqual(framed.raw, expected)

    async def test_nul(self) -> None:
        """
        A client that ends its lines with NUL gets NUL-terminated replies.
        """
        await self._check_replies_end_like_input(b"\x00")

    async def test_crlf(self) -> None:
        """
        A client that ends its lines with CRLF gets CRLF-terminated replies.
        """
        await self._check_replies_end_like_input(b"\r\n")

    async def test_lf(self) -> None:
        """
        A client that ends its lines with a bare LF gets LF-terminated replies.
        """
        await self._check_replies_end_like_input(b"\n")

    async def test_pipelined(self) -> None:
        """
        A name and three messages written at once, before the greeting has
        arrived, are all acted on in order.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        bob = await log_in(self, endpoint, "Bob")
        eager = await connect(self, endpoint, "eager")
        eager.send(b"eager\r\none\r\ntwo\r\nthree\r\n")
        self.assertEqual(await bob.next_line(), "* eager just joined the server")
        self.assertEqual(await bob.next_line(), "eager: one")
        self.assertEqual(await bob.next_line(), "eager: two")
        self.assertEqual(await bob.next_line(), "eager: three")
        self.assertEqual(await eager.next_line(), GREETING)
        self.assertIn("eager", await eager.next_line())
        await barrier(self, eager)

    async def test_byte_by_byte(self) -> None:
        """
        The same input written one byte per write, each in its own reactor
        turn, gives the same lines as when written at once.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        bob = await log_in(self, endpoint, "Bob")
        slow = await connect(self, endpoint, "slow")
        await slow.send_bytewise("slow\r\nonë\r\ntwo\nthree\r\n".encode())
        self.assertEqual(await bob.next_line(), "* slow just joined the server")
        self.assertEqual(await bob.next_line(), "slow: onë")
        self.assertEqual(await bob.next_line(), "slow: two")
        self.assertEqual(await bob.next_line(), "slow: three")
        self.assertEqual(await slow.next_line(), GREETING)
        self.assertIn("slow", await slow.next_line())
        await barrier(self, slow)


class BadInputTests(TestCase):
    """
    Input the server refuses gets an C{ERROR:} line; the connection stays
    usable and nothing is delivered.
    """

    async def _two_users(self, *options: str) -> tuple[LineClient, LineClient]:
        server = await start_server(self, *options)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "Alice")
        bob = await log_in(self, endpoint, "Bob")
        self.assertEqual(await alice.next_line(), "* Bob just joined the server")
        return alice, bob

    async def test_invalid_utf8(self) -> None:
        """
        A line that is not UTF-8 is refused; the next line is delivered.
        """
        alice, bob = await self._two_users()
        alice.send(b"caf\xe9 au lait\r\n")
        error = await alice.next_line()
        self.assertTrue(error.startswith("ERROR: "), error)
        self.assertIn("UTF-8", error)
        alice.send_line("café au lait")
        self.assertEqual(await bob.next_line(), "Alice: café au lait")
        await barrier(self, alice)

    async def test_over_long_line(self) -> None:
        """
        A line over 4096 bytes is refused once (in one write or spread over
        several) and not delivered; a 4096-byte line is delivered.
        """
        alice, bob = await self._two_users()
        alice.send(b"x" * 4097 + b"\r\n")
        error = await alice.next_line()
        self.assertTrue(error.startswith("ERROR: "), error)
        self.assertIn("4096", error)
        alice.send_line("y" * 4096)
        self.assertEqual(await bob.next_line(), "Alice: " + "y" * 4096)

        # Refused as soon as more than the limit is waiting for its end...
        alice.send(b"z" * 3000)
        alice.send(b"z" * 3000)
        self.assertTrue((await alice.next_line()).startswith("ERROR: "))
        # ...and its rest is skipped, up to and including that end.
        alice.send(b"z" * 3000 + b"\r\nafter\r\n")
        self.assertEqual(await bob.next_line(), "Alice: after")
        await barrier(self, alice)

    async def test_max_line_length_option(self) -> None:
        """
        C{--max-line-length 100} accepts a 100-byte line and refuses a
        101-byte one, naming the limit.
        """
        alice, bob = await self._two_users("--max-line-length", "100")
        alice.send_line("a" * 101)
        error = await alice.next_line()
        self.assertTrue(error.startswith("ERROR: "), error)
        self.assertIn("100 bytes", error)
        alice.send_line("b" * 100)
        self.assertEqual(await bob.next_line(), "Alice: " + "b" * 100)
        await barrier(self, alice)


class NameTests(TestCase):
    """
    The naming rules, as a user meets them.
    """

    async def test_reserved_and_taken_names(self) -> None:
        """
        C{ALL} is reserved and C{ALICE} is taken while C{alice} is online;
        each refusal is an C{ERROR:} and the same connection can then pick a
        free name.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "alice")
        other = await connect(self, endpoint, "other")
        self.assertEqual(await other.next_line(), GREETING)
        other.send_line("ALL")
        error = await other.next_line()
        self.assertTrue(error.startswith("ERROR: "), error)
        self.assertIn("ALL", error)
        self.assertIn("reserved", error)
        other.send_line("ALICE")
        error = await other.next_line()
        self.assertTrue(error.startswith("ERROR: "), error)
        self.assertIn("ALICE", error)
        self.assertIn("taken", error)
        other.send_line("Bob")
        self.assertIn("Bob", await other.next_line())
        self.assertEqual(await alice.next_line(), "* Bob just joined the server")
        other.send_line("/users")
        self.assertEqual(await other.next_line(), "* Online (2): alice, Bob")


class JSONModeTests(TestCase):
    """
    C{/mode json}: one JSON object per line.
    """

    async def test_message_as_json(self) -> None:
        """
        After C{/mode json}, another user's message arrives as one JSON object
        of type C{message} with its sender, text and ISO 8601 UTC time.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "Alice")
        bob = await log_in(self, endpoint, "Bob")
        self.assertEqual(await alice.next_line(), "* Bob just joined the server")
        alice.send_line("/mode json")
        mode = json.loads(await alice.next_line())
        self.assertEqual((mode["type"], mode["mode"]), ("mode", "json"))

        before = time.time()
        bob.send_line('Hello in JSON, "quoted" ünïcode')
        message = json.loads(await alice.next_line())
        after = time.time()
        self.assertEqual(message["type"], "message")
        self.assertEqual(message["from"], "Bob")
        self.assertEqual(message["text"], 'Hello in JSON, "quoted" ünïcode')
        self.assertRegex(message["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        sent = datetime.fromisoformat(message["time"].replace("Z", "+00:00"))
        self.assertTrue(before - 1 <= sent.timestamp() <= after + 1, message["time"])

        bob.send_line("Alice*psst")
        private = json.loads(await alice.next_line())
        self.assertEqual(
            (private["type"], private["from"], private["to"], private["text"]),
            ("private", "Bob", "Alice", "psst"),
        )

        alice.send_line("Dave*hello?")
        error = json.loads(await alice.next_line())
        self.assertEqual(
            (error["type"], error["code"], error["from"]),
            ("error", "no-such-user", None),
        )
        self.assertIn("Dave", error["text"])
        self.assertFalse(error["text"].startswith("ERROR"), error["text"])


class ManyUsersTests(TestCase):
    """
    Many users at once: no message is lost or duplicated.
    """

    USERS = 200
    timeout = 60

    async def test_everyone_hears_everyone(self) -> None:
        """
        200 users log in and each says one line; every user receives exactly
        the other 199 lines.  (All from 127.0.0.1, which is exempted from the
        per-address limits for that.)
        """
        server = await start_server(self, *EXEMPT_LOOPBACK)
        endpoint = tcp_endpoint(server.tcp_port)
        names = [f"user{i:03}" for i in range(self.USERS)]
        limit = DeferredSemaphore(20)
        clients: list[LineClient] = await gatherResults(
            [limit.run(log_in, self, endpoint, name) for name in names],
            consumeErrors=True,
        )
        for client in clients:
            client.send_line(f"broadcast from {client.label}")

        said = re.compile(r"^(user\d{3}): broadcast from (user\d{3})$")

        def is_broadcast(line: str) -> bool:
            return said.match(line) is not None

        heard = await gatherResults(
            [
                client.wait_for_count(is_broadcast, self.USERS - 1, timeout=40)
                for client in clients
            ],
            consumeErrors=True,
        )
        for client, lines in zip(clients, heard, strict=True):
            senders = []
            for line in lines:
                match = said.match(line)
                assert match is not None
                self.assertEqual(match.group(1), match.group(2))
                senders.append(match.group(1))
            self.assertEqual(sorted(senders), [n for n in names if n != client.label])
        # Every join was announced to the users online before it (the first
        # line was said after the last join), and nothing else arrived.
        unread = [line for client in clients for line in client.unread()]
        joins = [line for line in unread if not is_broadcast(line)]
        self.assertEqual(len(joins), self.USERS * (self.USERS - 1) // 2)
        self.assertTrue(all(line.endswith(" just joined the server") for line in joins))
        await gatherResults(
            [Deferred.fromCoroutine(barrier(self, client)) for client in clients],
            consumeErrors=True,
        )
        for client in clients:
            self.assertEqual(
                sum(map(is_broadcast, client.lines)), self.USERS - 1, client.label
            )


class SlowReaderTests(TestCase):
    """
    A user whose client stops reading is cut off; nobody else loses a line.
    """

    timeout = 60
    CHUNKS = 25
    CHUNK_LINES = 160

    async def test_stuck_reader_disconnected(self) -> None:
        """
        A client that stops reading while another user sends 16 MB is
        disconnected once over the send queue's 1 MiB (the server says why
        in its log); the user who reads gets every line, in order.

        The sender waits for the reader after each 640 KB, so that only the
        stuck client falls behind.  It floods on purpose: flood control is
        lifted for it (with C{--exempt 127.0.0.0/8} it would be exempt).
        """
        server = await start_server(
            self, "--guest-flood-burst", "100000", "--guest-flood-rate", "100000"
        )
        endpoint = tcp_endpoint(server.tcp_port)
        stuck = await log_in(self, endpoint, "stuck")
        reader = await log_in(self, endpoint, "reader")
        sender = await log_in(self, endpoint, "sender")
        stuck.transport.pauseProducing()  # type: ignore[attr-defined]
        await reader.expect("sender just joined")
        body = "x" * 4000
        total = self.CHUNKS * self.CHUNK_LINES
        for chunk in range(self.CHUNKS):
            for i in range(chunk * self.CHUNK_LINES, (chunk + 1) * self.CHUNK_LINES):
                sender.send_line(f"{i:05} {body}")
            await reader.expect(f"sender: {i:05} ")
        lines = [line for line in reader.lines if line.startswith("sender: ")]
        numbers = [line[8:13] for line in lines]
        self.assertEqual(numbers, [f"{i:05}" for i in range(total)])
        await server.process.wait_for_log(
            r"disconnecting .* \(stuck\): it does not read.*send queue exceeded"
        )
        stuck.transport.resumeProducing()  # type: ignore[attr-defined]
        await stuck.wait_closed()
        for client in (sender, reader):
            # Read or not yet: it may have come between two of the chunks.
            left = await client.wait_for_count(
                lambda line: line.startswith("* stuck left the chat"), 1
            )
            self.assertEqual(left, ["* stuck left the chat (send queue exceeded)"])
            client.send_line("/users")
            await client.expect("* Online (2): ")


class ServerLogTests(TestCase):
    """
    What the server's operator sees in the log (twistd's stdout).
    """

    async def test_log_lines(self) -> None:
        """
        The log records the connection with its address, the join, a refused
        request with its reason, and the leave with its reason.
        """
        server: ChatServer = await start_server(self)
        log = server.process
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "Alice")
        peer = f"127.0.0.1:{alice.transport.getHost().port}"  # type: ignore[attr-defined]
        await log.wait_for_log(re.escape(f"connection from {peer}") + "$")
        await log.wait_for_log(r"\] Alice just joined the chat$")
        alice.send_line("Dave*hello?")
        self.assertTrue((await alice.next_line()).startswith("ERROR: "))
        await log.wait_for_log(
            re.escape(f"refused a request from {peer} (Alice): Dave is not online")
        )
        alice.send_line("/quit bye")
        await alice.wait_closed()
        await log.wait_for_log(r"\] Alice left the chat \(bye\)$")
        await log.wait_for_log(re.escape(f"connection from {peer} closed (Alice)"))

    async def test_files_private(self) -> None:
        """
        The database (password hashes) and the spool are the server's
        user's only, whatever the umask it was started with (found by an
        attacker's review: they were 0644).
        """
        server: ChatServer = await start_server(self)
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        alice.send_line("/register sesame-42")
        await alice.next_line()
        for name in ("chat.sqlite3", "chat-spool"):
            mode = os.stat(os.path.join(server.directory, name)).st_mode
            self.assertEqual(mode & 0o077, 0, f"{name}: {oct(mode)}")
