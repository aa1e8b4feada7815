"""
End-to-end tests of the web door (issue 17): the installed C{twistd chat}
with C{--web}, real WebSocket clients (Twisted's, on wsproto) and
C{nc}-style line clients on loopback, in the same chat.
"""

from __future__ import annotations

import os

from twisted.internet.endpoints import quoteStringArgument
from twisted.trial.unittest import TestCase

from tests.e2e.support import (
    EXEMPT_LOOPBACK,
    TIMEOUT,
    connect,
    connect_web,
    log_in,
    log_in_web,
    start_server,
    start_web_server,
    tcp_endpoint,
)
from tests.support import make_certificate


class WebDoorTests(TestCase):
    """
    Browser tabs and line clients chat through one server.
    """

    timeout = 60

    async def test_chat_with_nc(self) -> None:
        """
        A tab and an C{nc} user talk in ALL, in a room and privately, both
        ways, and the server says where the web client is.
        """
        line_port, web_port = await start_web_server(self)
        web = await log_in_web(self, web_port, "webby")
        nc = await log_in(self, tcp_endpoint(line_port), "nccy")
        await web.expect("join", lambda e: e["name"] == "nccy")
        # ALL.
        nc.send_line("hello from nc")
        said = await web.expect("message")
        self.assertEqual((said["from"], said["text"]), ("nccy", "hello from nc"))
        web.send("hello from the web")
        self.assertEqual(await nc.expect("webby:"), "webby: hello from the web")
        # A room.
        web.send("/join #lounge")
        await web.expect("room-joined")
        nc.send_line("/join #lounge")
        await web.expect("room-join")
        await nc.expect("* You joined #lounge")
        web.send("#lounge*in the lounge")
        # (Live, or in the room's history replayed at the join.)
        said_in_room = await nc.expect("in the lounge")
        self.assertTrue(said_in_room.endswith("#lounge webby: in the lounge"))
        nc.send_line("#lounge*back at you")
        room = await web.expect("message", lambda e: e.get("room") == "#lounge")
        self.assertEqual(room["text"], "back at you")
        # Privately.
        web.send("nccy*just you")
        self.assertEqual(await nc.expect("just you"), "[private] webby: just you")
        nc.send_line("/dm webby and you")
        private = await web.expect("private")
        self.assertEqual((private["from"], private["text"]), ("nccy", "and you"))

    async def test_wss(self) -> None:
        """
        An C{ssl:} C{--web} serves https and wss: a tab logs in over TLS,
        and a registered name's password prompt is not marked insecure.
        """
        cert_path, key_path = make_certificate(os.path.abspath(self.mktemp()))
        with open(cert_path, "rb") as f:
            cert = f.read()
        server = await start_server(
            self,
            "--web",
            "ssl:0:interface=127.0.0.1"
            f":privateKey={quoteStringArgument(key_path)}"
            f":certKey={quoteStringArgument(cert_path)}",
        )
        found = await server.process.wait_for_log(
            r"txchat web client on https://127\.0\.0\.1:(\d+)/$"
        )
        port = int(found.group(1))
        alice = await connect_web(self, port, "alice", cert=cert)
        await alice.expect("prompt")
        alice.send("alice")
        await alice.expect("welcome")
        alice.send("/register sesame12")
        await alice.expect("account")
        alice.send("/quit")
        await alice.wait_closed()
        again = await connect_web(self, port, "alice again", cert=cert)
        await again.expect("prompt")
        again.send("alice")
        prompt = await again.expect("prompt")
        self.assertEqual((prompt["prompt"], prompt["insecure"]), ("password", False))
        again.send("sesame12")
        await again.expect("welcome")

    async def test_two_tabs_and_history(self) -> None:
        """
        Two tabs see each other's messages; a third that comes later gets
        them as history.
        """
        _, web_port = await start_web_server(self)
        alice = await log_in_web(self, web_port, "alice")
        bob = await log_in_web(self, web_port, "bob")
        alice.send("first")
        self.assertEqual((await bob.expect("message"))["text"], "first")
        carol = await connect_web(self, web_port, "carol")
        await carol.expect("prompt")
        carol.send("carol")
        await carol.expect("welcome")
        history = await carol.expect("message", lambda e: e.get("history") is True)
        self.assertEqual(history["text"], "first")

    async def test_origin_refused(self) -> None:
        """
        A WebSocket from another site's page is refused with 403 before
        any upgrade, and the log says so.
        """
        server = await start_server(self, web=True)
        assert server.web_port is not None
        raw = await connect(self, tcp_endpoint(server.web_port), "evil")
        raw.send(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n"
        )
        status = await raw.next_line()
        self.assertEqual(status, "HTTP/1.1 403 Forbidden")
        await server.process.wait_for_log("origin http://evil.example")

    async def test_page_served(self) -> None:
        """
        The site answers plain HTTP with the security headers.
        """
        server = await start_server(self, web=True)
        assert server.web_port is not None
        raw = await connect(self, tcp_endpoint(server.web_port), "browser")
        raw.send(b"GET /no-such-file HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await raw.expect("Content-Security-Policy: default-src 'none'")
        await raw.expect("X-Content-Type-Options: nosniff")

    async def test_oversize_message(self) -> None:
        """
        A message over the line limit closes the WebSocket (1009); the
        others are not disturbed.
        """
        _, web_port = await start_web_server(self, "--max-line-length", "100")
        alice = await log_in_web(self, web_port, "alice")
        mallory = await log_in_web(self, web_port, "mallory")
        mallory.send("x" * 101)
        await mallory.wait_closed()
        await alice.expect("leave", lambda e: e["name"] == "mallory")
        bob = await log_in_web(self, web_port, "bob")
        bob.send("still fine")
        self.assertEqual((await alice.expect("message"))["text"], "still fine")

    async def test_binary_refused(self) -> None:
        """
        A binary message is answered with a bad-input error, and nothing
        else happens.
        """
        _, web_port = await start_web_server(self)
        alice = await log_in_web(self, web_port, "alice")
        assert alice.transport is not None
        alice.transport.sendBytesMessage(b"\x00\x01")
        error = await alice.expect("error")
        self.assertEqual(error["code"], "bad-input")
        alice.send("/users")
        await alice.expect("users")

    async def test_non_reader_does_not_hold_up_others(self) -> None:
        """
        A tab that stops reading does not slow the others: they get every
        message of a burst while it is dropped for its send queue.
        """
        line_port, web_port = await start_web_server(
            self, *EXEMPT_LOOPBACK, "--send-queue", "20000"
        )
        stuck = await log_in_web(self, web_port, "stuck")
        reader = await log_in_web(self, web_port, "reader")
        nc = await log_in(self, tcp_endpoint(line_port), "talker")
        await reader.expect("join", lambda e: e["name"] == "talker")
        stuck.transport.transport.pauseProducing()
        count = 3000
        text = "y" * 2000
        for i in range(count):
            nc.send_line(f"{i:05} {text}")
        last = await reader.expect(
            "message", lambda e: e["text"].startswith(f"{count - 1:05}"), TIMEOUT * 3
        )
        self.assertEqual(last["from"], "talker")
        got = [e for e in reader.events if e["type"] == "message"]
        self.assertEqual(len(got), count)
        await nc.expect("stuck left the chat", TIMEOUT)
