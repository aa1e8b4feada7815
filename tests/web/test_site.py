"""
Tests for L{chat.web.site}: the static files, the security headers on
every response, the access log, and the listening service.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

from chat.web._websocket import CountedChannel
from chat.web.site import SECURITY_HEADERS, WebSite, static_directory, url
from tests.support import NoDelayTransport
from tests.web.support import HOST, WebTestCase


class SiteTests(WebTestCase):
    """
    What a browser is sent over plain HTTP.
    """

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        """
        The status, headers (lower-cased names) and body of a request.
        """
        channel = self.site.buildProtocol(IPv4Address("TCP", "192.0.2.9", 41000))
        assert channel is not None
        transport = NoDelayTransport()
        channel.makeConnection(transport)
        request = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        channel.dataReceived(request.encode() + b"Connection: close\r\n\r\n")
        self.clock.advance(0)
        head, _, body = transport.value().partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(": ")
            headers[name.lower()] = value
        return int(status.split()[1]), headers, body

    def assertSecure(self, headers: dict[str, str]) -> None:
        for name, value in SECURITY_HEADERS:
            self.assertEqual(headers.get(name.decode().lower()), value.decode())
        self.assertNotIn("set-cookie", headers)

    def test_index(self) -> None:
        """
        C{/} is the client's index.html, as HTML, with the headers.
        """
        status, headers, body = self.get("/")
        self.assertEqual(status, 200)
        self.assertIn(b"<title>txchat</title>", body)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertSecure(headers)

    def test_script(self) -> None:
        """
        A script is served as JavaScript (nosniff needs the right type).
        """
        status, headers, _ = self.get("/app.js")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/javascript; charset=utf-8")
        self.assertSecure(headers)

    def test_not_found(self) -> None:
        """
        A missing file is 404, with the headers too.
        """
        status, headers, _ = self.get("/nothing.js")
        self.assertEqual(status, 404)
        self.assertSecure(headers)

    def test_no_escape(self) -> None:
        """
        Nothing outside the static directory is served.
        """
        for path in ("/../site.py", "/%2e%2e/site.py", "/..%2fsite.py"):
            status, _, body = self.get(path)
            self.assertIn(status, (400, 404), path)
            self.assertNotIn(b"import", body)

    def test_csp(self) -> None:
        """
        The policy allows nothing but the page's own scripts, styles and
        connections, and no framing.
        """
        policy = dict(SECURITY_HEADERS)[b"Content-Security-Policy"].decode()
        for rule in (
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ):
            self.assertIn(rule, policy)
        self.assertNotIn("unsafe", policy)

    def test_ws_without_upgrade(self) -> None:
        """
        A plain GET of C{/ws} from the page's origin is refused, not served.
        """
        status, headers, _ = self.get("/ws")
        self.assertEqual(status, 403)  # no Origin: a plain GET has none
        self.assertSecure(headers)

    def test_log_has_no_query(self) -> None:
        """
        The access log leaves out the query string (a download's token).
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        self.get("/files/1?token=SECRET")
        logged = [e for e in events if e.get("path") is not None]
        self.assertEqual([e["path"] for e in logged], ["/files/1"])
        self.assertNotIn("SECRET", repr(list(events)))

    def test_static_directory(self) -> None:
        """
        The client's files are looked for inside the installed package.
        """
        self.assertEqual(static_directory().name, "static")
        self.assertEqual(static_directory().parent.name, "web")


class URLTests(WebTestCase):
    """
    The log line says where a browser opens the client.
    """

    def test_url(self) -> None:
        """
        Wildcard addresses become localhost; IPv6 is bracketed.
        """
        reactor = MemoryReactorClock()
        for host, secure, expected in [
            ("0.0.0.0", False, "http://localhost:8080/"),
            ("127.0.0.1", False, "http://127.0.0.1:8080/"),
            ("::1", True, "https://[::1]:8080/"),
        ]:
            port = reactor.listenTCP(8080, self.site, interface=host)
            port.getHost = lambda host=host: IPv4Address("TCP", host, 8080)
            self.assertEqual(url(port, secure), expected)


class HTTPLimitTests(WebTestCase):
    """
    HTTP connections are bounded per address and in all, so that idle
    ones cannot take the descriptors every door needs.
    """

    def open(self, host: str, port: int) -> CountedChannel | None:
        address = IPv4Address("TCP", host, port)
        assert isinstance(self.site, WebSite)
        channel = self.site.buildProtocol(address)
        if channel is not None:
            channel.makeConnection(NoDelayTransport(peerAddress=address))
        return channel

    def test_per_address(self) -> None:
        """
        Past twice the sessions an address may have, its connections are
        refused (closed at once); one that closes makes room; another
        address is not affected.
        """
        assert isinstance(self.site, WebSite)
        self.site.per_address = 2
        first = self.open("192.0.2.1", 1)
        assert first is not None
        self.assertIsNotNone(self.open("192.0.2.1", 2))
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        self.assertIsNone(self.open("192.0.2.1", 3))
        self.assertTrue([e for e in events if e.get("peer") == "192.0.2.1:3"])
        self.assertIsNotNone(self.open("198.51.100.1", 1))
        first.connectionLost(Failure(ConnectionDone()))
        self.assertIsNotNone(self.open("192.0.2.1", 4))

    def test_websocket_counts_until_closed(self) -> None:
        """
        A WebSocket is an HTTP connection of its address until it closes.
        """
        assert isinstance(self.site, WebSite)
        self.site.per_address = 1
        tab = self.connect("alice", peer="192.0.2.1")
        self.assertIsNone(self.open("192.0.2.1", 9))
        tab.lose()
        self.assertIsNotNone(self.open("192.0.2.1", 9))

    def test_descriptors(self) -> None:
        """
        Near the descriptor limit no HTTP connection is taken, from any
        address.
        """
        self.core.admission.descriptors = 66
        self.assertIsNotNone(self.open("192.0.2.1", 1))
        self.assertIsNotNone(self.open("192.0.2.2", 1))
        self.assertIsNone(self.open("192.0.2.3", 1))
