"""
End-to-end tests: other protocols spoken to the plain chat port of the real
C{twistd chat} (a TLS client, a web client) are closed, and nothing of
theirs is broadcast or kept; control characters reach nc users escaped.
"""

from __future__ import annotations

import socket
import ssl

from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from tests.e2e.support import (
    TIMEOUT,
    LineClient,
    barrier,
    log_in,
    start_server,
    tcp_endpoint,
)

CLOSING = r"closing 127\.0\.0\.1:\d+: {what} on the chat port"


def tls_to(port: int) -> str:
    """
    What C{openssl s_client} does, with Python's ssl module: a TLS
    handshake with the plain port; the error it ends with.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost"):
                return "no error"
        except (ssl.SSLError, OSError) as e:
            return str(e)


def http_get(port: int) -> bytes:
    """
    What C{curl http://127.0.0.1:PORT/} sends, on a raw socket; everything
    the server sends back until it closes.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        raw.sendall(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.5.0\r\n"
            b"Accept: */*\r\n\r\n"
        )
        received = b""
        while True:
            data = raw.recv(4096)
            if not data:
                return received
            received += data


class ForeignProtocolTests(TestCase):
    """
    A TLS client and an HTTP request on the plain port.
    """

    async def assertNothingSeen(self, alice: LineClient) -> None:
        """
        Alice, online all along, was told of nobody and nothing, and no
        history was kept.
        """
        self.assertEqual(alice.unread(), [])
        alice.send_line("/users")
        self.assertEqual(await alice.next_line(), "* Online (1): alice")
        alice.send_line("/history")
        self.assertEqual(await alice.next_line(), "* No history yet.")

    async def test_tls_client(self) -> None:
        server = await start_server(self)
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        error = await deferToThread(tls_to, server.tcp_port)
        self.assertNotEqual(error, "no error")
        await server.process.wait_for_log(CLOSING.format(what="a TLS handshake"))
        await self.assertNothingSeen(alice)

    async def test_http_get(self) -> None:
        server = await start_server(self)
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        response = await deferToThread(http_get, server.tcp_port)
        greeting, _, http = response.partition(b"\r\n")
        self.assertEqual(greeting, b"Welcome to txchat! Please enter your name:")
        self.assertTrue(http.startswith(b"HTTP/1.0 400 Bad Request\r\n"), http)
        self.assertIn(b"connect with nc, telnet or chat-client", http.lower())
        await server.process.wait_for_log(CLOSING.format(what="an HTTP request"))
        await self.assertNothingSeen(alice)


class ControlCharacterTests(TestCase):
    """
    What one nc user types reaches another escaped.
    """

    async def test_escaped(self) -> None:
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "alice")
        mallory = await log_in(self, endpoint, "mallory")
        await alice.expect("mallory just joined")
        mallory.send(b"\x1b[2J\x1b[H* SERVER: type /register PASSWORD\r\n")
        mallory.send(b"/me \x1b]52;c;ZXZpbA==\x07 hi\rhello\n")
        await barrier(self, mallory)
        self.assertEqual(
            await alice.next_line(),
            "mallory: ^[[2J^[[H* SERVER: type /register PASSWORD",
        )
        self.assertEqual(
            await alice.next_line(), "* mallory ^[]52;c;ZXZpbA==^G hi^Mhello"
        )
        self.assertNotIn(b"\x1b", alice.raw)
        self.assertNotIn(b"\x07", alice.raw)
