"""
Tests for what the line door does with text and bytes that are not what
they should be: control characters on their way to other users' terminals
and to the log, and other protocols (TLS, HTTP) spoken to the plain port.
"""

from __future__ import annotations

import io
import ssl

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher, textFileLogObserver

from chat.core.controls import UNSAFE
from tests.support import LineTestCase


def client_hello() -> bytes:
    """
    The first bytes a TLS client sends: a ClientHello record.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class ControlCharacterTests(LineTestCase):
    """
    What a user types never reaches another text-mode user's terminal as
    a control, whatever the way it takes; JSON users get it as sent.
    """

    def test_message_action_private(self) -> None:
        """
        A screen-clearing fake notice, a CR overwriting the line and an
        OSC 52 clipboard write arrive escaped as messages, actions and
        private messages.
        """
        mallory, _ = self.connect("mallory")
        alice, alice_t = self.connect("alice")
        mallory.dataReceived(
            b"\x1b[2J\x1b[H* SERVER: your session expired, type /register X\n"
            b"/me \rhi\r* bob just joined the server\n"
            b"alice*\x1b]52;c;cm0gLXJmIH4=\x07\xc2\x9b\n"
        )
        self.assertEqual(
            self.received(alice_t),
            [
                "mallory: ^[[2J^[[H* SERVER: your session expired, type /register X",
                "* mallory ^Mhi^M* bob just joined the server",
                "[private] mallory: ^[]52;c;cm0gLXJmIH4=^G<U+009B>",
            ],
        )

    def test_rooms_topics_reasons_history(self) -> None:
        """
        Room messages, topics, leave and kick reasons, the quit reason and
        replayed history arrive escaped.
        """
        mallory, mallory_t = self.connect("mallory")
        alice, alice_t = self.connect("alice")
        mallory.dataReceived(b"/join #x\n")
        alice.dataReceived(b"/join #x\n")
        mallory.dataReceived(
            b"#x*\x1b[31mred\n/topic #x \x1b[2Jtopic\n/kick alice #x x\rkicked\n"
        )
        self.received(mallory_t)
        lines = self.received(alice_t)
        self.assertIn("#x mallory: ^[[31mred", lines)
        self.assertIn("* mallory set the topic of #x: ^[[2Jtopic", lines)
        self.assertIn("* alice was kicked from #x by mallory (x^Mkicked)", lines)
        mallory.dataReceived(b"\x1b[5mblink\n/leave #x \x7fbye\n/quit \x1b[Hq\n")
        self.assertEqual(
            self.received(alice_t),
            ["mallory: ^[[5mblink", "* mallory left the chat (^[[Hq)"],
        )
        bob, bob_t = self.connect()
        bob.dataReceived(b"bob\n")
        self.clock.advance(1)
        history = [line for line in self.received(bob_t) if line.startswith("[history")]
        self.assertEqual(len(history), 1)
        self.assertTrue(history[0].endswith("mallory: ^[[5mblink"), history)

    def test_json_keeps_them(self) -> None:
        """
        A JSON client gets the characters as sent, escaped by JSON.
        """
        mallory, _ = self.connect("mallory")
        alice, alice_t = self.connect("alice")
        alice.dataReceived(b"/mode json\n")
        self.received(alice_t)
        mallory.dataReceived(b"\x1b[2J\xc2\x9b\n")
        [line] = self.received(alice_t)
        self.assertIn('"text":"\\u001b[2J\\u009b"', line)
        self.assertIsNone(UNSAFE.search(line))

    def test_log_not_forged(self) -> None:
        """
        A quit reason with CR and LF-like characters cannot forge a line of
        the log: a real log observer writes one line, escaped.
        """
        out = io.StringIO()
        observer = textFileLogObserver(out)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        mallory, _ = self.connect("mallory")
        mallory.dataReceived(
            b"/quit bye\r2026-12-03 [-] root in\x1b[2K\xc2\x85\xe2\x80\xa8x\n"
        )
        self.clock.advance(1)
        lines = out.getvalue().split("\n")
        [left] = [line for line in lines if "left the chat" in line]
        self.assertIn("(bye\\r2026-12-03 [-] root in\\x1b[2K\\x85\\u2028x)", left)
        self.assertEqual([line for line in lines if "root in" in line], [left])


class ForeignProtocolTests(LineTestCase):
    """
    A TLS client or an HTTP request on the plain port is closed with one
    answer it can read (HTTP) or none (TLS), before its bytes become a user,
    a message or history.
    """

    def setUp(self) -> None:
        super().setUp()
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)
        self.alice, self.alice_t = self.connect("alice")

    def assertNothingHappened(self) -> None:
        """
        Alice was told nothing, nobody else is online and nothing was kept
        as history.
        """
        self.clock.advance(1)
        self.assertEqual(self.received(self.alice_t), [])
        self.assertEqual(len(self.core.presence), 1)
        self.assertEqual(self.successResultOf(self.store.history("", 10)), [])

    def logged(self) -> list[str]:
        return [
            e["what"]
            for e in self.events
            if e.get("log_format") == "closing {peer}: {what} on the chat port"
        ]

    def test_tls_client_hello(self) -> None:
        """
        A ClientHello is not read as lines: the connection is closed, with
        nothing sent after the greeting (a TLS client could not read it).
        """
        protocol, transport = self.connect()
        protocol.dataReceived(client_hello())
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(b"more\n")
        self.assertEqual(transport.value(), b"")
        self.assertNothingHappened()
        self.assertEqual(self.logged(), ["a TLS handshake"])

    def test_tls_byte_by_byte(self) -> None:
        """
        The first byte alone is enough to tell.
        """
        protocol, transport = self.connect()
        for byte in client_hello():
            protocol.dataReceived(bytes([byte]))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        self.assertNothingHappened()

    def test_http_request(self) -> None:
        """
        An HTTP request gets a minimal HTTP error saying what port this is,
        and is closed; its headers are not read as messages.
        """
        for request in (
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8\r\n\r\n",
            b"POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
            b"HEAD / HTTP/1.1\n\n",
            b"GET / HTTP/1.1\r\n",
        ):
            protocol, transport = self.connect()
            protocol.dataReceived(request)
            self.assertTrue(transport.disconnecting)
            response = transport.value()
            head, _, body = response.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.0 400 Bad Request\r\n"), head)
            self.assertIn(b"Content-Type: text/plain; charset=utf-8", head)
            self.assertIn(f"Content-Length: {len(body)}".encode(), head)
            self.assertIn(b"nc, telnet or chat-client", body)
            protocol.dataReceived(b"GET / HTTP/1.1\r\n")
            self.assertEqual(transport.value(), response)
        self.assertNothingHappened()
        self.assertEqual(self.logged(), ["an HTTP request"] * 4)

    def test_http_split(self) -> None:
        """
        A request line in pieces is recognised once whole.
        """
        protocol, transport = self.connect()
        for piece in (b"GE", b"T /index.html HT", b"TP/1.1\r", b"\nHost: x\r\n"):
            protocol.dataReceived(piece)
        self.assertTrue(transport.value().startswith(b"HTTP/1.0 400 "))
        self.assertNothingHappened()

    def test_names_still_work(self) -> None:
        """
        Names and commands that merely look like the start of a request
        are not taken for one, nor are later lines.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(b"GET\n")
        self.assertIn("Hello GET", self.received(transport)[0])
        protocol.dataReceived(b"GET / HTTP/1.1\n")
        self.assertFalse(transport.disconnecting)
        self.assertEqual(self.received(self.alice_t)[-1], "GET: GET / HTTP/1.1")
