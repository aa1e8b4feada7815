"""
Tests for files over HTTP (L{chat.web.files}): a real twisted.web L{Site}
on L{StringTransport}s, and a core built as the server builds it whose
sessions hand their events to L{WebFiles.intercept} first, as the web
door's connections do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import quote, unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Site

from chat.core.client import Batch
from chat.core.core import ChatCore
from chat.core.limits import Limits
from chat.events import (
    Error,
    Event,
    FileAck,
    FileChunk,
    FileDone,
    FileList,
    FileOffer,
    FileSent,
    FileUpload,
)
from chat.web.files import (
    DOWNLOAD_WINDOW,
    OTHER_BODY_MAX,
    UPLOAD_WINDOW,
    RangeNotSatisfiable,
    WebFiles,
    bearer_token,
    content_disposition,
    file_id,
    parse_query,
    parse_range,
    redact,
)
from tests.core.test_transfers import ManualSpool, digest
from tests.support import CoreTestCase, FakeHasher, Person, many_per_address

CHUNK = 64 * 1024


class WebPerson(Person):
    """
    A web door's session: what the core sends goes to L{WebFiles.intercept}
    first, and only what it does not take is kept (what the WebSocket
    would carry).
    """

    token: str | None = None

    def __init__(self, files: WebFiles, core: ChatCore, clock: Clock) -> None:
        self.files = files
        super().__init__(core, clock)

    def deliver(self, event: Event) -> None:
        if self.token is not None and self.files.intercept(self.token, event):
            return
        super().deliver(event)

    def deliver_batch(self, batch: Batch, skip: Sequence[int] | None) -> None:
        mine = set(skip or ())
        for index, event in enumerate(batch.events):
            if index not in mine:
                self.deliver(event)


class Response:
    """
    An HTTP response parsed from what the server wrote.
    """

    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ")[1])
        self.headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower()] = value.strip()

    def header(self, name: bytes) -> bytes | None:
        return self.headers.get(name.lower())

    def json(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.body))


class FilesTestCase(CoreTestCase):
    """
    A core, a L{WebFiles} on a site, and helpers to make HTTP requests.
    """

    limits = Limits(announce=5, offline_count=3, history_on_join=2)

    def setUp(self) -> None:
        super().setUp()
        self.files = WebFiles(self.core)
        root = Resource()
        root.putChild(b"files", self.files.resource)
        self.site = Site(root, reactor=self.clock)
        self.files.install(self.site)
        self.port = 50000

    def web(self, name: str) -> WebPerson:
        """
        A web user online as the guest C{name}, with a token.
        """
        person = WebPerson(self.files, self.core, self.clock)
        person.session.choose_name(name)
        person.take()
        person.token = self.files.attach(person.session)
        return person

    def connect_http(self) -> tuple[HTTPChannel, StringTransport]:
        self.port += 1
        address = IPv4Address("TCP", "127.0.0.1", self.port)
        channel = self.site.buildProtocol(address)
        transport = StringTransport(peerAddress=address)
        channel.makeConnection(transport)
        return cast(HTTPChannel, channel), transport

    def send(self, channel: HTTPChannel, data: bytes) -> None:
        channel.dataReceived(data)
        self.clock.advance(0)

    def response(self, transport: StringTransport) -> Response:
        self.clock.advance(0)
        raw: bytes = transport.value()
        transport.clear()
        self.assertTrue(raw.startswith(b"HTTP/1.1 "), raw[:200])
        return Response(raw)

    def put_head(
        self,
        file_id: int,
        offset: int,
        token: str | None,
        length: int | None,
        extra: bytes = b"",
    ) -> bytes:
        head = b"PUT /files/%d?offset=%d HTTP/1.1\r\nHost: x\r\n" % (file_id, offset)
        if token is not None:
            head += b"Authorization: Bearer " + token.encode() + b"\r\n"
        if length is None:
            head += b"Transfer-Encoding: chunked\r\n"
        else:
            head += b"Content-Length: %d\r\n" % length
        return head + extra + b"\r\n"

    def put(
        self, person: WebPerson, file_id: int, offset: int, data: bytes
    ) -> Response:
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, offset, person.token, len(data)))
        for start in range(0, len(data), 10_000):
            self.send(channel, data[start : start + 10_000])
        return self.response(transport)

    def get(
        self,
        person: WebPerson,
        file_id: int,
        extra: bytes = b"",
        method: bytes = b"GET",
        token: str | None = None,
    ) -> Response:
        channel, transport = self.connect_http()
        token = person.token if token is None else token
        assert token is not None
        self.send(
            channel,
            b"%s /files/%d?token=%s HTTP/1.1\r\nHost: x\r\n%s\r\n"
            % (method, file_id, token.encode(), extra),
        )
        return self.response(transport)

    def offer(self, person: Person, data: bytes, to: str, name: str = "a.bin") -> int:
        person.session.offer_file(to, len(data), digest(data), name)
        [upload] = self.of_type(person.take(), FileUpload)
        return upload.id

    def line_upload(self, person: Person, data: bytes, to: str) -> int:
        """
        C{person} (not a web user) sends C{data} to C{to} the line door's
        way: the file's id.
        """
        file_id = self.offer(person, data, to)
        for start in range(0, len(data), CHUNK):
            person.session.file_chunk(file_id, start, data[start : start + CHUNK])
        events = person.take()
        self.assertEqual(len(self.of_type(events, FileSent)), 1, events)
        return file_id


class UploadTests(FilesTestCase):
    """
    C{PUT /files/ID?offset=N}: a web user's upload.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.web("alice")
        self.bob = self.guest("bob")
        self.alice.take()

    def test_upload(self) -> None:
        """
        The body reaches the spool; the answer is 204 once it is all in; the
        recipient is offered the file, the sender told over the WebSocket,
        which never sees the acks of the HTTP transfer.
        """
        data = os.urandom(300_000)
        file_id = self.offer(self.alice, data, "bob", "report.pdf")
        response = self.put(self.alice, file_id, 0, data)
        self.assertEqual(response.status, 204)
        self.assertEqual(response.header(b"Cache-Control"), b"no-store")
        self.assertEqual(self.spool.complete[file_id], data)
        [offer] = self.of_type(self.bob.take(), FileOffer)
        self.assertEqual(
            (offer.id, offer.name, offer.size), (file_id, "report.pdf", len(data))
        )
        events = self.alice.take()
        self.assertEqual([type(e) for e in events], [FileSent])

    def test_in_parts(self) -> None:
        """
        A body shorter than the file is taken; the next PUT goes on from
        where it ended.
        """
        data = os.urandom(150_000)
        file_id = self.offer(self.alice, data, "bob")
        self.assertEqual(self.put(self.alice, file_id, 0, data[:100_000]).status, 204)
        self.assertEqual(self.spool.partial[file_id], data[:100_000])
        self.assertEqual(
            self.put(self.alice, file_id, 100_000, data[100_000:]).status, 204
        )
        self.assertEqual(self.spool.complete[file_id], data)

    def test_wrong_offset(self) -> None:
        """
        An offset that is not where the server's copy ends: 409 with the
        right one, before the body is read.
        """
        data = os.urandom(1000)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 10, self.alice.token, 990))
        response = self.response(transport)
        self.assertEqual(response.status, 409)
        self.assertEqual(
            response.json(),
            {
                "code": "bad-offset",
                "text": response.json()["text"],
                "id": file_id,
                "offset": 0,
            },
        )
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.alice.take(), [])

    def test_wrong_token(self) -> None:
        """
        A wrong or missing token: 401 at the headers, and nothing reaches
        the core.
        """
        data = os.urandom(1000)
        file_id = self.offer(self.alice, data, "bob")
        for token in ("x" * 43, None, self.alice.token + "x"):  # type: ignore[operator]
            channel, transport = self.connect_http()
            self.send(channel, self.put_head(file_id, 0, token, 1000) + data)
            response = self.response(transport)
            self.assertEqual(response.status, 401)
            self.assertEqual(response.json()["code"], "bad-token")
            self.assertTrue(transport.disconnecting)
        self.assertNotIn(file_id, self.spool.partial)

    def test_too_long(self) -> None:
        """
        A Content-Length over what the file lacks, or over the largest file,
        is refused with 413 before the body is read (no 100 Continue).
        """
        data = os.urandom(1000)
        file_id = self.offer(self.alice, data, "bob")
        for length in (1001, self.limits.file_max_size + 1):
            channel, transport = self.connect_http()
            self.send(
                channel,
                self.put_head(
                    file_id, 0, self.alice.token, length, b"Expect: 100-continue\r\n"
                ),
            )
            raw = transport.value()
            self.assertNotIn(b"100 Continue", raw)
            response = self.response(transport)
            self.assertEqual(response.status, 413)
            self.assertEqual(response.json()["code"], "file-too-large")
            self.assertTrue(transport.disconnecting)
        self.assertEqual(self.spool.partial.get(file_id, b""), b"")

    def test_chunked_over(self) -> None:
        """
        A chunked body that goes past the file's end is cut off with 413.
        """
        data = os.urandom(1000)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, None))
        self.send(channel, b"%x\r\n%s\r\n" % (1200, os.urandom(1200)))
        response = self.response(transport)
        self.assertEqual(response.status, 413)
        self.assertTrue(transport.disconnecting)

    def test_chunked(self) -> None:
        """
        A chunked body is taken as it comes.
        """
        data = os.urandom(200_000)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, None))
        for start in range(0, len(data), 7000):
            piece = data[start : start + 7000]
            self.send(channel, b"%x\r\n%s\r\n" % (len(piece), piece))
        self.send(channel, b"0\r\n\r\n")
        self.assertEqual(self.response(transport).status, 204)
        self.assertEqual(self.spool.complete[file_id], data)

    def test_continue(self) -> None:
        """
        A client that waits for 100 Continue gets it once the upload is
        accepted.
        """
        data = os.urandom(1000)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(
            channel,
            self.put_head(
                file_id, 0, self.alice.token, 1000, b"Expect: 100-continue\r\n"
            ),
        )
        self.assertEqual(transport.value(), b"HTTP/1.1 100 Continue\r\n\r\n")
        transport.clear()
        self.send(channel, data)
        self.assertEqual(self.response(transport).status, 204)

    def test_not_hers(self) -> None:
        """
        A file that is not the user's upload, or that does not exist: 404
        alike, and the core's refusal is not shown on the WebSocket.
        """
        carol = self.web("carol")
        data = os.urandom(1000)
        file_id = self.offer(carol, data, "bob")
        self.alice.take()
        for target in (file_id, file_id + 100):
            channel, transport = self.connect_http()
            self.send(channel, self.put_head(target, 0, self.alice.token, 1000) + data)
            response = self.response(transport)
            self.assertEqual(response.status, 404)
            self.assertEqual(response.json()["code"], "no-such-file")
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.spool.partial.get(file_id, b""), b"")

    def test_bad_paths(self) -> None:
        """
        Ids that are no ids are 404; a missing offset is 400.
        """
        for path in (b"/files/0", b"/files/01", b"/files/x", b"/files/1/2", b"/files/"):
            channel, transport = self.connect_http()
            self.send(
                channel,
                b"PUT %s?offset=0 HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
                b"Content-Length: 1\r\n\r\nx" % (path, self.alice.token.encode()),  # type: ignore[union-attr]
            )
            self.assertEqual(self.response(transport).status, 404, path)
        channel, transport = self.connect_http()
        self.send(
            channel,
            b"PUT /files/1 HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
            b"Content-Length: 1\r\n\r\nx" % self.alice.token.encode(),  # type: ignore[union-attr]
        )
        self.assertEqual(self.response(transport).status, 400)

    def test_checksum(self) -> None:
        """
        Bytes that do not match the SHA-256 offered: the PUT is answered
        204 (every byte is in), and the core's verdict goes to the
        WebSocket.
        """
        data = os.urandom(1000)
        file_id = self.offer(self.alice, data, "bob")
        self.assertEqual(self.put(self.alice, file_id, 0, os.urandom(1000)).status, 204)
        self.assertEqual(self.errors(self.alice.take()), ["checksum-mismatch"])

    def test_session_ends(self) -> None:
        """
        The WebSocket closes during an upload: its connection is closed,
        and the token is dead.
        """
        data = os.urandom(300_000)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, len(data)))
        self.send(channel, data[:100_000])
        assert self.alice.token is not None
        self.files.detach(self.alice.token)
        response = self.response(transport)
        self.assertEqual(response.status, 401)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.put(self.alice, file_id, 0, data).status, 401)

    def test_closed_session(self) -> None:
        """
        A token whose session closed is refused, even before the door
        detaches it.
        """
        data = os.urandom(10)
        file_id = self.offer(self.alice, data, "bob")
        self.alice.session.quit()
        self.assertEqual(self.put(self.alice, file_id, 0, data).status, 401)

    def test_other_bodies(self) -> None:
        """
        A long body anywhere but /files/ is refused before it is read.
        """
        channel, transport = self.connect_http()
        self.send(
            channel,
            b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (OTHER_BODY_MAX + 1),
        )
        self.assertEqual(self.response(transport).status, 413)
        self.assertTrue(transport.disconnecting)
        channel, transport = self.connect_http()
        self.send(channel, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        self.send(
            channel, b"%x\r\n%s\r\n" % (OTHER_BODY_MAX + 1, b"x" * (OTHER_BODY_MAX + 1))
        )
        self.assertEqual(self.response(transport).status, 413)


class BackpressureTests(FilesTestCase):
    """
    An upload to a spool slower than the network: the client is paused.
    """

    def setUp(self) -> None:
        self.manual = ManualSpool()
        super().setUp()
        self.core = ChatCore(
            self.clock,
            self.store,
            self.manual,
            FakeHasher(),  # type: ignore[arg-type]
            limits=many_per_address(self.limits),
        )
        self.successResultOf(self.core.start())
        self.alice = self.web("alice")
        self.bob = self.guest("bob")
        self.alice.take()

    def test_window(self) -> None:
        """
        At most L{UPLOAD_WINDOW} chunks wait for the spool; the transport
        is paused while the window is full, with at most a chunk and a
        read held, and resumed as the spool catches up.
        """
        data = os.urandom(30 * CHUNK)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, len(data)))
        fed = 0
        while transport.producerState != "paused" and fed < len(data):
            self.send(channel, data[fed : fed + CHUNK])
            fed += CHUNK
        self.assertEqual(transport.producerState, "paused")
        self.assertLessEqual(fed, (UPLOAD_WINDOW + 2) * CHUNK)
        self.assertEqual(transport.value(), b"")
        # The channel resumes its transport itself when its output drains:
        # the next read pauses it again.
        transport.resumeProducing()
        self.send(channel, data[fed : fed + CHUNK])
        fed += CHUNK
        self.assertEqual(transport.producerState, "paused")
        while fed < len(data):
            while transport.producerState == "paused":
                self.manual.run()
                self.clock.advance(0)
            self.send(channel, data[fed : fed + CHUNK])
            fed += CHUNK
        while self.manual.waiting:
            self.manual.run()
            self.clock.advance(0)
        self.assertEqual(self.response(transport).status, 204)
        self.assertEqual(self.manual.memory.complete[file_id], data)
        self.assertEqual(self.of_type(self.alice.take(), FileAck), [])

    def test_dropped(self) -> None:
        """
        A client that goes mid-upload: the chunks it sent are still
        answered off the WebSocket, and the next PUT goes on from where the
        server's copy ends.
        """
        data = os.urandom(10 * CHUNK)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, len(data)))
        self.send(channel, data[: 3 * CHUNK])
        channel.connectionLost(ConnectionDone())
        while self.manual.waiting:
            self.manual.run()
            self.clock.advance(0)
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(len(self.manual.memory.partial[file_id]), 3 * CHUNK)
        channel, transport = self.connect_http()
        self.send(
            channel, self.put_head(file_id, 3 * CHUNK, self.alice.token, 7 * CHUNK)
        )
        self.send(channel, data[3 * CHUNK :])
        while self.manual.waiting:
            self.manual.run()
            self.clock.advance(0)
        self.assertEqual(self.response(transport).status, 204)
        self.assertEqual(self.manual.memory.complete[file_id], data)

    def test_next_waits(self) -> None:
        """
        A PUT that comes while the chunks of one whose client went still
        wait for the spool is not read until they are answered, then goes
        on from where they end.
        """
        data = os.urandom(6 * CHUNK)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, len(data)))
        self.send(channel, data[: 2 * CHUNK])
        channel.connectionLost(ConnectionDone())
        self.assertNotEqual(self.manual.waiting, [])
        channel, transport = self.connect_http()
        self.send(
            channel, self.put_head(file_id, 2 * CHUNK, self.alice.token, 4 * CHUNK)
        )
        self.assertEqual(transport.producerState, "paused")
        self.run_spool()
        self.assertEqual(transport.producerState, "producing")
        self.send(channel, data[2 * CHUNK :])
        self.run_spool()
        self.assertEqual(self.response(transport).status, 204)
        self.assertEqual(self.manual.memory.complete[file_id], data)
        self.assertEqual([type(e) for e in self.alice.take()], [FileSent])

    def test_recipient_leaves(self) -> None:
        """
        The one recipient leaves mid-upload: the PUT is answered 410 at
        once, and neither that nor the refusals of the chunks still on
        their way reach the WebSocket.
        """
        data = os.urandom(12 * CHUNK)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, len(data)))
        self.send(channel, data[: 4 * CHUNK])
        self.bob.session.quit()
        self.clock.advance(0)
        response = self.response(transport)
        self.assertEqual(
            (response.status, response.json()["code"]), (410, "not-delivered")
        )
        self.assertTrue(transport.disconnecting)
        self.run_spool()
        self.assertEqual(self.of_type(self.alice.take(), Error), [])
        # The next PUT of it is told at once.
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, len(data)))
        self.run_spool()
        self.assertEqual(self.response(transport).status, 404)

    def test_cancelled(self) -> None:
        """
        The sender cancels over the WebSocket mid-upload: the PUT is
        answered 410, the WebSocket gets the cancel's own answer, and the
        next PUT of the file is answered at once.
        """
        data = os.urandom(12 * CHUNK)
        file_id = self.offer(self.alice, data, "bob")
        channel, transport = self.connect_http()
        self.send(channel, self.put_head(file_id, 0, self.alice.token, len(data)))
        self.send(channel, data[: 4 * CHUNK])
        self.alice.session.cancel_file(file_id)
        self.run_spool()
        response = self.response(transport)
        self.assertEqual((response.status, response.json()["code"]), (410, "cancelled"))
        [done] = self.of_type(self.alice.take(), FileDone)
        self.assertEqual((done.id, done.declined), (file_id, True))
        self.assertEqual(self.put(self.alice, file_id, 0, data).status, 404)

    def run_spool(self) -> None:
        while self.manual.waiting:
            self.manual.run()
            self.clock.advance(0)


class ResumeTests(FilesTestCase):
    """
    A registered user goes on with an upload of an earlier connection.
    """

    def test_new_token(self) -> None:
        """
        A PUT for an upload the new session was not told of asks the core
        where it stands (the answer does not reach the WebSocket), then
        goes on.
        """
        self.registered("alice")
        self.registered("bob")
        first = WebPerson(self.files, self.core, self.clock)
        first.session.choose_name("alice")
        first.session.log_in("sesame1")
        first.take()
        first.token = self.files.attach(first.session)
        data = os.urandom(3 * CHUNK)
        file_id = self.offer(first, data, "bob")
        self.assertEqual(self.put(first, file_id, 0, data[:CHUNK]).status, 204)
        assert first.token is not None
        self.files.detach(first.token)
        first.session.closed(delivered=True)
        again = WebPerson(self.files, self.core, self.clock)
        again.session.choose_name("alice")
        again.session.log_in("sesame1")
        again.take()
        again.token = self.files.attach(again.session)
        self.assertEqual(self.put(again, file_id, CHUNK, data[CHUNK:]).status, 204)
        self.assertEqual(self.spool.complete[file_id], data)
        self.assertEqual(self.of_type(again.take(), FileUpload), [])


class DownloadTests(FilesTestCase):
    """
    C{GET /files/ID?token=TOKEN}: a web user's download.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.guest("alice")
        self.bob = self.web("bob")
        self.alice.take()
        self.data = os.urandom(200_000)
        self.fid = self.line_upload(self.alice, self.data, "bob")
        self.bob.take()

    def test_download(self) -> None:
        """
        The whole file, with the headers of a download; it counts as
        fetched (the sender is told), and the WebSocket sees no chunk.
        """
        response = self.get(self.bob, self.fid)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, self.data)
        self.assertEqual(response.header(b"Content-Type"), b"application/octet-stream")
        self.assertEqual(response.header(b"Content-Length"), b"%d" % len(self.data))
        self.assertEqual(response.header(b"Accept-Ranges"), b"bytes")
        self.assertEqual(response.header(b"X-Content-Type-Options"), b"nosniff")
        self.assertEqual(response.header(b"Cache-Control"), b"no-store")
        self.assertEqual(response.header(b"Referrer-Policy"), b"no-referrer")
        self.assertEqual(
            response.header(b"Content-Disposition"),
            b"attachment; filename=\"a.bin\"; filename*=UTF-8''a.bin",
        )
        self.assertEqual(response.header(b"ETag"), b'"%s"' % digest(self.data).encode())
        [done] = self.of_type(self.alice.take(), FileDone)
        self.assertEqual((done.id, done.to, done.declined), (self.fid, "bob", False))
        events = self.bob.take()
        self.assertEqual(self.of_type(events, FileChunk), [])
        self.assertEqual(self.of_type(events, FileList), [])
        # Fetched: it is no longer there for bob.
        self.assertEqual(self.get(self.bob, self.fid).status, 404)

    def test_range(self) -> None:
        """
        A range is answered 206 with Content-Range; one that does not reach
        the file's end does not count as fetched, one that does does.
        """
        response = self.get(self.bob, self.fid, b"Range: bytes=70000-140000\r\n")
        self.assertEqual(response.status, 206)
        self.assertEqual(response.body, self.data[70000:140001])
        self.assertEqual(
            response.header(b"Content-Range"), b"bytes 70000-140000/%d" % len(self.data)
        )
        self.assertEqual(self.of_type(self.alice.take(), FileDone), [])
        response = self.get(self.bob, self.fid, b"Range: bytes=140001-\r\n")
        self.assertEqual(response.status, 206)
        self.assertEqual(response.body, self.data[140001:])
        self.assertEqual(len(self.of_type(self.alice.take(), FileDone)), 1)

    def test_suffix(self) -> None:
        """
        C{bytes=-N}: the last N bytes.
        """
        response = self.get(self.bob, self.fid, b"Range: bytes=-10\r\n")
        self.assertEqual((response.status, response.body), (206, self.data[-10:]))

    def test_unsatisfiable(self) -> None:
        """
        A range past the end: 416 with the size.
        """
        response = self.get(self.bob, self.fid, b"Range: bytes=200000-\r\n")
        self.assertEqual(response.status, 416)
        self.assertEqual(response.header(b"Content-Range"), b"bytes */200000")
        self.assertIsNone(response.header(b"Content-Disposition"))

    def test_several_ranges(self) -> None:
        """
        Several ranges are answered with the whole file.
        """
        response = self.get(self.bob, self.fid, b"Range: bytes=0-1, 5-6\r\n")
        self.assertEqual((response.status, response.body), (200, self.data))

    def test_if_range(self) -> None:
        """
        If-Range with another validator: the whole file; with the file's
        ETag: the range.
        """
        response = self.get(
            self.bob,
            self.fid,
            b'Range: bytes=0-9\r\nIf-Range: "%s"\r\n' % digest(self.data).encode(),
        )
        self.assertEqual((response.status, response.body), (206, self.data[:10]))
        response = self.get(
            self.bob, self.fid, b'Range: bytes=0-9\r\nIf-Range: "x"\r\n'
        )
        self.assertEqual((response.status, response.body), (200, self.data))

    def test_head(self) -> None:
        """
        HEAD: the headers only, and it does not count as fetched.
        """
        response = self.get(self.bob, self.fid, method=b"HEAD")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"")
        self.assertEqual(response.header(b"Content-Length"), b"200000")
        self.assertEqual(self.of_type(self.alice.take(), FileDone), [])

    def test_wrong_token(self) -> None:
        """
        A wrong token: 401, and nothing is asked of the core.
        """
        response = self.get(self.bob, self.fid, token="nope")
        self.assertEqual(response.status, 401)
        self.assertEqual(self.bob.take(), [])

    def test_not_his(self) -> None:
        """
        A file offered to someone else, or none: 404 alike.
        """
        carol = self.web("carol")
        for target in (self.fid, self.fid + 50):
            response = self.get(carol, target)
            self.assertEqual(response.status, 404)
            self.assertEqual(response.json()["code"], "no-such-file")
        self.assertEqual(carol.take(), [])

    def test_offered_at_login(self) -> None:
        """
        A file the WebSocket was not told of (offered at login, say) is
        looked up in the session's file list, which the WebSocket does not
        see.
        """
        other = self.files.attach(self.bob.session)
        # Offers seen under the first token only: the second knows none.
        self.bob.token = other
        response = self.get(self.bob, self.fid)
        self.assertEqual((response.status, response.body), (200, self.data))
        self.assertEqual(self.of_type(self.bob.take(), FileList), [])

    def test_unicode_name(self) -> None:
        """
        A name beyond ASCII: percent-encoded UTF-8, and a safe fallback.
        """
        data = b"x"
        file_id = self.line_upload(self.alice, data, "bob")
        del file_id
        self.alice.session.offer_file(
            "bob", 1, digest(data), 'r\u00e9sum\u00e9 "1";.txt'
        )
        [upload] = self.of_type(self.alice.take(), FileUpload)
        self.alice.session.file_chunk(upload.id, 0, data)
        self.alice.take()
        response = self.get(self.bob, upload.id)
        self.assertEqual(
            response.header(b"Content-Disposition"),
            b"attachment; filename=\"r_sum_ _1__.txt\"; filename*=UTF-8''"
            + quote('r\u00e9sum\u00e9 "1";.txt', safe="!#$&+^`|").encode(),
        )

    def test_empty(self) -> None:
        """
        An empty file: 200 with no body, and fetched.
        """
        file_id = self.offer(self.alice, b"", "bob")
        self.alice.take()
        response = self.get(self.bob, file_id)
        self.assertEqual((response.status, response.body), (200, b""))
        self.assertEqual(len(self.of_type(self.alice.take(), FileDone)), 1)

    def test_redacted(self) -> None:
        """
        The access log never shows a token.
        """
        path = self.mktemp()
        self.site.logPath = path
        self.site.startFactory()
        self.addCleanup(self.site.stopFactory)
        self.assertEqual(self.get(self.bob, self.fid).status, 200)
        self.site.stopFactory()
        with open(path) as log:
            logged = log.read()
        self.assertIn(f"/files/{self.fid}?token=REDACTED", logged)
        assert self.bob.token is not None
        self.assertNotIn(self.bob.token, logged)


class DownloadFlowTests(FilesTestCase):
    """
    Downloads from a spool whose reads the test carries out.
    """

    def setUp(self) -> None:
        self.manual = ManualSpool()
        super().setUp()
        self.core = ChatCore(
            self.clock,
            self.store,
            self.manual,
            FakeHasher(),  # type: ignore[arg-type]
            limits=many_per_address(self.limits),
        )
        self.successResultOf(self.core.start())
        self.alice = self.guest("alice")
        self.bob = self.web("bob")
        self.alice.take()
        self.data = os.urandom(20 * CHUNK)
        self.fid = self.offer(self.alice, self.data, "bob")
        for start in range(0, len(self.data), CHUNK):
            self.alice.session.file_chunk(
                self.fid, start, self.data[start : start + CHUNK]
            )
            while self.manual.waiting:
                self.manual.run()
                self.clock.advance(0)
        self.alice.take()
        self.bob.take()

    def run_spool(self) -> None:
        while self.manual.waiting:
            self.manual.run()
            self.clock.advance(0)

    def start(self) -> tuple[HTTPChannel, StringTransport]:
        channel, transport = self.connect_http()
        assert self.bob.token is not None
        self.send(
            channel,
            b"GET /files/%d?token=%s HTTP/1.1\r\n\r\n"
            % (self.fid, self.bob.token.encode()),
        )
        return channel, transport

    def test_window(self) -> None:
        """
        At most L{DOWNLOAD_WINDOW} gets wait; while the client does not read
        (the transport pauses its producer) no more are asked.
        """
        channel, transport = self.start()
        # The first get waits for the file's record: the others behind it.
        self.assertEqual(self.manual.pending(), ["read"])
        self.manual.run()
        self.clock.advance(0)
        self.assertEqual(self.manual.pending(), ["read"] * DOWNLOAD_WINDOW)
        # What the transport does when its buffer fills, and empties.
        http_channel = channel._channel  # type: ignore[attr-defined]
        http_channel.pauseProducing()
        self.run_spool()
        self.assertEqual(self.manual.pending(), [])
        http_channel.resumeProducing()
        self.assertEqual(self.manual.pending(), ["read"] * DOWNLOAD_WINDOW)
        self.run_spool()
        response = self.response(transport)
        self.assertEqual((response.status, response.body), (200, self.data))

    def test_client_goes(self) -> None:
        """
        A client that disconnects mid-download stops the gets, and the file
        is not counted as fetched; the answers still on their way do not
        reach the WebSocket.
        """
        channel, transport = self.start()
        self.manual.run()
        self.clock.advance(0)
        channel.connectionLost(ConnectionDone())
        self.run_spool()
        self.assertEqual(self.manual.pending(), [])
        self.assertEqual(self.of_type(self.alice.take(), FileDone), [])
        self.assertEqual(self.bob.take(), [])

    def test_session_ends(self) -> None:
        """
        The WebSocket closes mid-download: the download stops, its
        connection is closed.
        """
        channel, transport = self.start()
        self.manual.run()
        self.clock.advance(0)
        assert self.bob.token is not None
        self.files.detach(self.bob.token)
        self.assertTrue(transport.disconnecting)
        self.run_spool()
        self.assertEqual(self.manual.pending(), [])


# Parsers, by value and with hypothesis.


class ParserTests(SynchronousTestCase):
    """
    The pure parsers of what clients send.
    """

    def test_range_forms(self) -> None:
        """
        The three forms of a single range, and what is ignored.
        """
        self.assertEqual(parse_range(b"bytes=0-9", 100), (0, 9))
        self.assertEqual(parse_range(b"bytes=90-", 100), (90, 99))
        self.assertEqual(parse_range(b"bytes=-10", 100), (90, 99))
        self.assertEqual(parse_range(b"bytes=-1000", 100), (0, 99))
        self.assertEqual(parse_range(b"bytes=5-1000", 100), (5, 99))
        self.assertEqual(parse_range(b"BYTES = 1-2", 100), (1, 2))
        for ignored in (
            None,
            b"items=0-1",
            b"bytes=5-1",
            b"bytes=-",
            b"bytes=a-b",
            b"bytes=0-1,2-3",
            b"bytes",
        ):
            self.assertIsNone(parse_range(ignored, 100), ignored)
        for unsatisfiable in (b"bytes=100-", b"bytes=-0", b"bytes=%s-" % (b"9" * 40,)):
            self.assertRaises(RangeNotSatisfiable, parse_range, unsatisfiable, 100)
        self.assertRaises(RangeNotSatisfiable, parse_range, b"bytes=0-", 0)
        many = b"9" * 5000
        self.assertRaises(RangeNotSatisfiable, parse_range, b"bytes=%s-" % many, 100)
        self.assertEqual(parse_range(b"bytes=0-%s" % many, 100), (0, 99))
        self.assertEqual(parse_range(b"bytes=-%s" % many, 100), (0, 99))
        self.assertIsNone(parse_range(b"bytes=%s-1" % many, 100))

    @given(st.binary(max_size=60), st.integers(min_value=0, max_value=2**40))
    def test_range_any(self, value: bytes, size: int) -> None:
        """
        Any header: ignored, unsatisfiable, or bytes inside the file.
        """
        try:
            span = parse_range(value, size)
        except RangeNotSatisfiable:
            return
        if span is not None:
            first, last = span
            self.assertTrue(0 <= first <= last < size, (value, size, span))

    @given(
        st.integers(min_value=0, max_value=10**30),
        st.integers(min_value=0, max_value=10**30) | st.none(),
        st.integers(min_value=1, max_value=2**40),
    )
    def test_range_model(self, first: int, last: int | None, size: int) -> None:
        """
        C{bytes=A-B} and C{bytes=A-} against the RFC's rules.
        """
        spec = b"bytes=%d-%s" % (first, b"" if last is None else b"%d" % last)
        end = 10**40 if last is None else last
        if first > end:
            self.assertIsNone(parse_range(spec, size))
        elif first >= size:
            self.assertRaises(RangeNotSatisfiable, parse_range, spec, size)
        else:
            self.assertEqual(parse_range(spec, size), (first, min(end, size - 1)))

    @given(st.binary(max_size=200))
    def test_query_any(self, query: bytes) -> None:
        """
        Any query string: fields of text, or refused; never an exception.
        """
        fields = parse_query(query)
        if fields is not None:
            self.assertLessEqual(len(fields), 16)

    def test_query(self) -> None:
        """
        Fields are percent-decoded; a field named twice refuses the query.
        """
        self.assertEqual(
            parse_query(b"token=a%2Db&offset=3"), {"token": "a-b", "offset": "3"}
        )
        self.assertIsNone(parse_query(b"token=a&token=b"))
        self.assertIsNone(parse_query(b"token=%ff"))
        self.assertEqual(parse_query(b""), {})

    @given(st.lists(st.binary(max_size=80), max_size=3))
    def test_bearer_any(self, values: list[bytes]) -> None:
        """
        Any Authorization headers: a short ASCII token, or none.
        """
        token = bearer_token(values)
        if token is not None:
            self.assertTrue(0 < len(token) <= 128 and token.isascii())

    def test_bearer(self) -> None:
        """
        One C{Bearer TOKEN}, the scheme in any case.
        """
        self.assertEqual(bearer_token([b"Bearer abc"]), "abc")
        self.assertEqual(bearer_token([b"bearer  abc "]), "abc")
        self.assertIsNone(bearer_token([b"Basic abc"]))
        self.assertIsNone(bearer_token([b"Bearer a", b"Bearer a"]))
        self.assertIsNone(bearer_token(None))

    @given(st.binary(max_size=40))
    def test_file_id_any(self, tail: bytes) -> None:
        """
        Any path: an id in range written canonically, or none.
        """
        found = file_id(b"/files/" + tail)
        if found is not None:
            self.assertEqual(b"%d" % found, tail)
            self.assertTrue(1 <= found < 2**63)

    @given(st.text(min_size=1, max_size=255))
    def test_disposition_any(self, name: str) -> None:
        """
        Any name makes a header of printable ASCII that holds it whole.
        """
        header = content_disposition(name)
        text = header.decode("ascii")
        self.assertTrue(text.isprintable())
        self.assertEqual(text.count('"'), 2)
        encoded = text.rpartition("UTF-8''")[2]
        self.assertEqual(unquote(encoded, errors="surrogatepass"), name)

    def test_redact(self) -> None:
        """
        The token's value is hidden wherever it is in the query.
        """
        self.assertEqual(redact(b"/files/1?token=abc"), b"/files/1?token=REDACTED")
        self.assertEqual(
            redact(b"/files/1?a=1&token=abc&b=2"), b"/files/1?a=1&token=REDACTED&b=2"
        )
        self.assertEqual(redact(b"/files/1?xtoken=abc"), b"/files/1?xtoken=abc")


class HostileRequestTests(FilesTestCase):
    """
    Whatever a client sends to /files/, it gets an HTTP answer and the
    server raises nothing.
    """

    def setUp(self) -> None:
        super().setUp()
        self.bob = self.web("bob")

    @settings(max_examples=150, deadline=None)
    @given(
        method=st.sampled_from([b"GET", b"HEAD", b"PUT", b"POST", b"DELETE", b"put"]),
        tail=st.binary(max_size=30).filter(lambda b: not set(b) & set(b" \r\n\t#")),
        query=st.binary(max_size=60).filter(lambda b: not set(b) & set(b" \r\n\t#")),
        headers=st.lists(
            st.sampled_from(
                [
                    b"Range",
                    b"If-Range",
                    b"Authorization",
                    b"Content-Length",
                    b"Expect",
                    b"Transfer-Encoding",
                ]
            ).flatmap(
                lambda name: (
                    st.binary(max_size=40)
                    .filter(lambda v: not set(v) & set(b"\r\n\x00"))
                    .map(lambda v: name + b": " + v)
                )
            ),
            max_size=4,
        ),
        body=st.binary(max_size=100),
        good_token=st.booleans(),
    )
    def test_anything(
        self,
        method: bytes,
        tail: bytes,
        query: bytes,
        headers: list[bytes],
        body: bytes,
        good_token: bool,
    ) -> None:
        """
        Random methods, paths, queries, headers and bodies.
        """
        assert self.bob.token is not None
        if good_token:
            query += b"&token=" + self.bob.token.encode()
            headers = [*headers, b"Authorization: Bearer " + self.bob.token.encode()]
        channel, transport = self.connect_http()
        request = b"%s /files/%s?%s HTTP/1.1\r\n%s\r\n" % (
            method,
            tail,
            query,
            b"".join(h + b"\r\n" for h in headers),
        )
        self.send(channel, request + body)
        self.clock.advance(0)
        raw = transport.value()
        if raw:
            self.assertTrue(raw.startswith(b"HTTP/1.1 "), raw[:100])
        channel.connectionLost(ConnectionDone())
