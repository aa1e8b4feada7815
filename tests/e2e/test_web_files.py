"""
End-to-end tests of files over HTTP: the installed C{twistd chat} with
its web door, browser sessions on real WebSockets (L{log_in_web}: with
the page's Origin, as a browser opens them) and HTTP requests written by
hand on loopback TCP, so that a test can send what a browser never does
(a body longer than it says, a wrong token).  A line-door user in JSON
mode (L{FileClient}) sends to and fetches from a browser session: the
same core transfer either way.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Final, cast

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import connectProtocol
from twisted.internet.interfaces import IReactorTime, ITransport
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tests.e2e.support import (
    TIMEOUT,
    log_in_web,
    start_server,
    tcp_endpoint,
)
from tests.e2e.support import (
    WebSocketClient as Browser,
)
from tests.e2e.test_files import CHUNK, FileClient, guest

MIB: Final = 1024 * 1024


def _reactor() -> IReactorTime:
    from twisted.internet import reactor

    return cast(IReactorTime, reactor)


def _timed(d: Deferred[Any], what: str, timeout: float = TIMEOUT) -> Deferred[Any]:
    def timed_out(result: object, seconds: float) -> object:
        raise AssertionError(f"{what}: nothing within {seconds} s")

    return d.addTimeout(timeout, _reactor(), onTimeoutCancel=timed_out)


async def browser(case: TestCase, port: int, name: str) -> tuple[Browser, str]:
    """
    A web session logged in as the guest C{name}: it and its files token.
    """
    client = await log_in_web(case, port, name)
    [files] = [event for event in client.events if event["type"] == "web-files"]
    case.assertEqual(files["path"], "/files/")
    token: str = files["token"]
    return client, token


def event(client: Browser, kind: str, **fields: object) -> Deferred[dict[str, Any]]:
    """
    The first unread event of type C{kind} with these C{fields}.
    """
    return client.expect(
        kind, lambda event: all(event.get(k) == v for k, v in fields.items())
    )


def types(client: Browser) -> list[str]:
    """
    The types of the events C{client} was sent.
    """
    return [event["type"] for event in client.events]


class HTTPResponse:
    """
    What one HTTP request got: the status, headers (names lowercased) and
    body, and whether the server closed the connection.
    """

    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ")[1]) if lines[0] else 0
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower()] = value.strip()

    def json(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.body))


class _Raw(Protocol):
    """
    One HTTP exchange written by hand: everything received until the
    server closes.
    """

    transport: ITransport

    def __init__(self) -> None:
        self.received = b""
        self.done: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback(self.received)


async def http(port: int, request: bytes, body: bytes = b"") -> HTTPResponse:
    """
    Send C{request} (its head; C{Connection: close} is added) then
    C{body}, and read the answer until the server closes.
    """
    protocol = _Raw()
    await _timed(connectProtocol(tcp_endpoint(port), protocol), "connecting")
    head = request.rstrip(b"\r\n") + b"\r\nConnection: close\r\n\r\n"
    protocol.transport.write(head + body)
    raw = await _timed(protocol.done, "the HTTP answer")
    return HTTPResponse(raw)


def put(port: int, file_id: int, offset: int, token: str, data: bytes) -> Any:
    return http(
        port,
        b"PUT /files/%d?offset=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d"
        % (file_id, offset, token.encode(), len(data)),
        data,
    )


def get(port: int, file_id: int, token: str, extra: bytes = b"") -> Any:
    return http(
        port,
        b"GET /files/%d?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
        % (file_id, token.encode(), extra),
    )


async def offer(client: Browser, to: str, data: bytes, name: str) -> int:
    """
    The browser offers C{data} as C{name} over its WebSocket: the id.
    """
    digest = hashlib.sha256(data).hexdigest()
    client.send(f"/file offer {to} {len(data)} {digest} {name}")
    upload = await event(client, "file-upload", name=name)
    file_id: int = upload["id"]
    return file_id


class WebFilesTests(TestCase):
    """
    Files over HTTP between browser sessions, and with the line door.
    """

    async def start(self, *options: str) -> tuple[int, int]:
        database = os.path.abspath(self.mktemp())
        server = await start_server(self, "--database", database, *options, web=True)
        assert server.web_port is not None
        return server.tcp_port, server.web_port

    async def test_browser_to_browser(self) -> None:
        """
        One browser uploads over HTTP, the other downloads it: the same
        bytes; the sender hears file-sent, then file-delivered, over its
        WebSocket, and no ack of the HTTP transfer.
        """
        _, web = await self.start()
        alice, alice_token = await browser(self, web, "alice")
        bob, bob_token = await browser(self, web, "bob")
        data = os.urandom(3 * MIB + 12345)
        file_id = await offer(alice, "bob", data, "photo é.jpg")
        response = await put(web, file_id, 0, alice_token, data)
        self.assertEqual(response.status, 204)
        await event(alice, "file-sent", id=file_id)
        offered = await event(bob, "file-offer", id=file_id)
        self.assertEqual(offered["size"], len(data))
        response = await get(web, file_id, bob_token)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, data)
        self.assertEqual(response.headers[b"content-type"], b"application/octet-stream")
        self.assertEqual(
            response.headers[b"content-disposition"],
            b'attachment; filename="photo _.jpg"; '
            b"filename*=UTF-8''photo%20%C3%A9.jpg",
        )
        self.assertEqual(response.headers[b"referrer-policy"], b"no-referrer")
        await event(alice, "file-delivered", id=file_id)
        self.assertNotIn("file-ack", types(alice))
        self.assertNotIn("file-chunk", types(bob))

    async def test_resumed_download(self) -> None:
        """
        A download cut short goes on with Range: the pieces make the file,
        and only the one with the last byte counts as delivered.
        """
        _, web = await self.start()
        alice, alice_token = await browser(self, web, "alice")
        bob, bob_token = await browser(self, web, "bob")
        data = os.urandom(MIB + 7)
        file_id = await offer(alice, "bob", data, "big.bin")
        self.assertEqual((await put(web, file_id, 0, alice_token, data)).status, 204)
        await event(bob, "file-offer", id=file_id)
        first = await get(web, file_id, bob_token, b"Range: bytes=0-500000\r\n")
        self.assertEqual(first.status, 206)
        self.assertEqual(
            first.headers[b"content-range"], b"bytes 0-500000/%d" % len(data)
        )
        rest = await get(web, file_id, bob_token, b"Range: bytes=500001-\r\n")
        self.assertEqual(rest.status, 206)
        self.assertEqual(first.body + rest.body, data)
        await event(alice, "file-delivered", id=file_id)
        self.assertEqual(types(alice).count("file-delivered"), 1)

    async def test_upload_in_parts(self) -> None:
        """
        An upload cut short goes on from the offset the server has.
        """
        _, web = await self.start()
        alice, alice_token = await browser(self, web, "alice")
        bob, bob_token = await browser(self, web, "bob")
        data = os.urandom(5 * CHUNK + 3)
        file_id = await offer(alice, "bob", data, "parts.bin")
        self.assertEqual(
            (await put(web, file_id, 0, alice_token, data[:CHUNK])).status, 204
        )
        wrong = await put(web, file_id, 0, alice_token, data)
        self.assertEqual(wrong.status, 409)
        self.assertEqual(wrong.json()["offset"], CHUNK)
        response = await put(web, file_id, CHUNK, alice_token, data[CHUNK:])
        self.assertEqual(response.status, 204)
        await event(alice, "file-sent", id=file_id)
        self.assertEqual((await get(web, file_id, bob_token)).body, data)
        await event(alice, "file-delivered", id=file_id)

    async def test_too_large_before_body(self) -> None:
        """
        A Content-Length over what the file lacks, or over the largest
        file, is refused at the headers: the answer comes and the
        connection closes though no byte of the body was sent.
        """
        _, web = await self.start("--max-file-size", "1000000")
        alice, alice_token = await browser(self, web, "alice")
        await browser(self, web, "bob")
        file_id = await offer(alice, "bob", b"x" * 1000, "small.txt")
        for length in (1001, 10**12):
            protocol = _Raw()
            await _timed(connectProtocol(tcp_endpoint(web), protocol), "connecting")
            protocol.transport.write(
                b"PUT /files/%d?offset=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                % (file_id, alice_token.encode(), length)
            )
            response = HTTPResponse(await _timed(protocol.done, "the 413"))
            self.assertEqual(response.status, 413)
            self.assertEqual(response.json()["code"], "file-too-large")

    async def test_wrong_token(self) -> None:
        """
        Another session's token, or none that exists: 401 both ways, and
        nothing of the file is given or taken.
        """
        _, web = await self.start()
        alice, alice_token = await browser(self, web, "alice")
        bob, bob_token = await browser(self, web, "bob")
        data = os.urandom(1000)
        file_id = await offer(alice, "bob", data, "secret.txt")
        bad = alice_token[:-1] + ("A" if alice_token[-1] != "A" else "B")
        self.assertEqual((await put(web, file_id, 0, bad, data)).status, 401)
        # Bob's token is a good token, but the upload is not his.
        self.assertEqual((await put(web, file_id, 0, bob_token, data)).status, 404)
        self.assertEqual((await put(web, file_id, 0, alice_token, data)).status, 204)
        await event(bob, "file-offer", id=file_id)
        self.assertEqual((await get(web, file_id, bad)).status, 401)
        self.assertEqual((await get(web, file_id, alice_token)).status, 404)
        self.assertEqual((await get(web, file_id, bob_token)).body, data)
        await event(alice, "file-delivered", id=file_id)

    async def test_line_to_browser(self) -> None:
        """
        A file a line-door user (JSON mode, as chat-client) sends reaches a
        browser session, which fetches it over HTTP.
        """
        tcp, web = await self.start()
        bob, bob_token = await browser(self, web, "bob")
        carol = await guest(self, tcp, "carol")
        data = os.urandom(2 * MIB + 1)
        file_id = await carol.offer("bob", data, "from-line.bin")
        await carol.upload(file_id, data, 0, len(data))
        await carol.event("file-sent", id=file_id)
        await event(bob, "file-offer", id=file_id)
        response = await get(web, file_id, bob_token)
        self.assertEqual((response.status, response.body), (200, data))
        await carol.event("file-delivered", id=file_id)

    async def test_browser_to_line(self) -> None:
        """
        A file a browser session uploads over HTTP reaches a line-door user,
        who fetches it with /file get.
        """
        tcp, web = await self.start()
        alice, alice_token = await browser(self, web, "alice")
        carol: FileClient = await guest(self, tcp, "carol")
        data = os.urandom(MIB + 99)
        file_id = await offer(alice, "carol", data, "to-line.bin")
        self.assertEqual((await put(web, file_id, 0, alice_token, data)).status, 204)
        await carol.event("file-offer", id=file_id)
        self.assertEqual(await carol.download(file_id, 0, len(data)), data)
        carol.send_line(f"/file done {file_id}")
        await event(alice, "file-delivered", id=file_id)
