# -*- test-case-name: tests.web.test_files -*-
"""
Files over HTTP: the web door's uploads and downloads, on the same core
transfers as the line door's C{/file} commands.

A browser cannot put raw bytes on its WebSocket the way C{chat-client}
frames them between lines, and it saves downloads itself; so the bytes
travel over plain HTTP on the same site, authorised by a token the
session hands out after its login (L{WebFiles.attach}), and this module
translates each request into the session's own file calls:

  - C{PUT /files/ID?offset=N} with C{Authorization: Bearer TOKEN}: the
    body, cut into chunks of at most L{Limits.chunk_max} bytes, becomes
    L{Session.file_chunk} calls, a few at a time; the request's transport
    is paused while they wait for their C{file-ack}, so a fast uploader
    never piles bytes up in memory.  The body is never buffered by
    twisted.web: L{FilesRequest} (installed by L{WebFiles.install})
    takes it as it arrives.
  - C{GET /files/ID?token=TOKEN} (and C{HEAD}), with C{Range}: repeated
    L{Session.get_file} calls, a few outstanding, their C{file-chunk}s
    written as they come with backpressure from the HTTP transport.

The core's answers (acks, chunks, errors carrying the file's id) come
back through the WebSocket's event stream: the door hands every event to
L{WebFiles.intercept} first, which takes those of an HTTP transfer under
way and turns them into the HTTP answer.  Ownership, quotas, flood
accounting and the per-address caps are the core's, as for the line
door: nothing here lets a request past them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Final, cast
from urllib.parse import quote, unquote_to_bytes

from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from zope.interface import implementer

from chat.core.client import CLOSED
from chat.core.core import ChatCore
from chat.core.limits import ID_MAX, Limits
from chat.core.session import Session
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

_log: Final = Logger(namespace="chat.web.files")

#: Where the files resource is mounted: the site's C{/files/}.
PATH: Final = b"/files/"
#: Chunks of one upload handed to the core and not yet acknowledged.
UPLOAD_WINDOW: Final = 8
#: C{get}s of one download outstanding.
DOWNLOAD_WINDOW: Final = 8
#: HTTP transfers one token may have under way at once.
TRANSFERS_MAX: Final = 8
#: The largest request body the site takes anywhere but C{/files/}: no
#: other resource reads one, and twisted.web would keep it whole.
OTHER_BODY_MAX: Final = 64 * 1024
#: Files one token remembers the name and size of (from C{file-offer}
#: and C{file-list}); the oldest are forgotten first.
KNOWN_MAX: Final = 4096
#: A token longer than this is no token: not even hashed.
TOKEN_MAX: Final = 128
#: Query fields one request may carry.
QUERY_FIELDS_MAX: Final = 16

# Statuses twisted.web has no names for.
TOO_MANY_REQUESTS: Final = 429
UNPROCESSABLE_ENTITY: Final = 422

# What the core's error codes mean in HTTP.
_STATUS: Final = {
    "no-such-file": http.NOT_FOUND,
    "bad-offset": http.CONFLICT,
    "file-too-large": http.REQUEST_ENTITY_TOO_LARGE,
    "quota-exceeded": http.REQUEST_ENTITY_TOO_LARGE,
    "throttled": TOO_MANY_REQUESTS,
    "excess-flood": TOO_MANY_REQUESTS,
    "not-delivered": http.GONE,
    "checksum-mismatch": UNPROCESSABLE_ENTITY,
    "usage": http.BAD_REQUEST,
    "internal": http.INTERNAL_SERVER_ERROR,
    "store-failed": http.SERVICE_UNAVAILABLE,
}
# Errors that answer one chunk or get each (the others end a transfer
# without answering one of its requests).
_PER_REQUEST: Final = frozenset({"no-such-file", "bad-offset", "usage"})
#: The events L{WebFiles.intercept} takes or learns from: the door needs
#: to hand it only these.
INTERCEPTED: Final = frozenset(
    {FileAck, FileChunk, FileUpload, Error, FileList, FileOffer, FileSent, FileDone}
)
_ID: Final = re.compile(rb"[1-9][0-9]{0,18}")
_NUMBER: Final = re.compile(rb"[0-9]{1,19}")
_RANGE: Final = re.compile(rb"([0-9]*)-([0-9]*)")
# What a file name keeps in the ASCII fallback of Content-Disposition.
_PLAIN: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-_()+,=@~!#$&'[]"
)
# The headers of a file's bytes, which an error answer has not.
_FILE_HEADERS: Final = (
    b"Content-Disposition",
    b"Content-Range",
    b"ETag",
    b"Accept-Ranges",
)
_TOKEN_VALUE: Final = re.compile(rb"(?<=[?&]token=)[^&]*")


# Parsing what the client sent: pure functions, tested by value.


class RangeNotSatisfiable(Exception):
    """
    A C{Range} that no byte of the file is in: the answer is 416.
    """


def file_id(path: bytes, prefix: bytes = PATH) -> int | None:
    """
    The file id in C{path} (C{/files/ID}, the id in ASCII digits with no
    leading zero), or L{None}.
    """
    if not path.startswith(prefix):
        return None
    digits = path[len(prefix) :]
    if not _ID.fullmatch(digits):
        return None
    value = int(digits)
    return value if value <= ID_MAX else None


def parse_query(query: bytes) -> dict[str, str] | None:
    """
    The fields of a query string, percent-decoded as UTF-8; L{None} if it
    is malformed, names a field twice or has too many.
    """
    fields: dict[str, str] = {}
    parts = [part for part in query.split(b"&") if part]
    if len(parts) > QUERY_FIELDS_MAX:
        return None
    for part in parts:
        name, _, value = part.partition(b"=")
        try:
            key = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
            text = unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if key in fields:
            return None
        fields[key] = text
    return fields


def number(text: str | None) -> int | None:
    """
    A whole number written in 1 to 19 ASCII digits, or L{None}.
    """
    if text is None:
        return None
    raw = text.encode("utf-8")
    return int(raw) if _NUMBER.fullmatch(raw) else None


def bearer_token(values: Sequence[bytes] | None) -> str | None:
    """
    The token of a single C{Authorization: Bearer TOKEN} header.
    """
    if not values or len(values) != 1:
        return None
    scheme, _, token = values[0].strip().partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not token or len(token) > TOKEN_MAX:
        return None
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        return None


def _magnitude(digits: bytes) -> tuple[int, bytes]:
    """
    What orders decimal numbers as numbers, however many digits they have
    (a header may hold more than Python will make an int of).
    """
    digits = digits.lstrip(b"0")
    return len(digits), digits


def parse_range(value: bytes | None, size: int) -> tuple[int, int] | None:
    """
    The bytes a C{Range} header asks for, first and last included, or
    L{None} to answer the whole file: no header, one this server ignores
    (another unit, bad syntax), or several ranges (the whole file is
    their answer: RFC 9110 lets a server ignore a Range).

    @raise RangeNotSatisfiable: if the one range is outside the file.
    """
    if value is None:
        return None
    unit, equals, ranges = value.partition(b"=")
    if not equals or unit.strip().lower() != b"bytes":
        return None
    specs = [spec.strip(b" \t") for spec in ranges.split(b",")]
    specs = [spec for spec in specs if spec]
    if len(specs) != 1:
        return None
    match = _RANGE.fullmatch(specs[0])
    if match is None:
        return None
    first, last = match.groups()
    end = _magnitude(b"%d" % size)
    if not first:
        if not last:
            return None
        suffix = _magnitude(last)
        if suffix == (0, b"") or size == 0:
            raise RangeNotSatisfiable()
        return (0 if suffix >= end else size - int(suffix[1])), size - 1
    start = _magnitude(first)
    if last and start > _magnitude(last):
        return None
    if start >= end:
        raise RangeNotSatisfiable()
    # The first byte is in the file: a number an int holds.
    if not last or _magnitude(last) >= end:
        return int(first), size - 1
    return int(first), int(last)


def content_disposition(name: str) -> bytes:
    """
    C{attachment} with the file's name twice: percent-encoded UTF-8 in
    C{filename*} (RFC 6266, RFC 8187) and an ASCII fallback in
    C{filename} with anything unsafe replaced.
    """
    plain = "".join(c if c in _PLAIN else "_" for c in name).strip(" .") or "download"
    encoded = quote(name, safe="!#$&+^`|")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}".encode(
        "ascii"
    )


def redact(uri: bytes) -> bytes:
    """
    C{uri} with the value of its C{token} query field hidden: the access
    log shows the URI, and a token is a secret.
    """
    return _TOKEN_VALUE.sub(b"REDACTED", uri)


# Answers.


def _json(code: str, text: str, fields: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"code": code, "text": text, **(fields or {})}).encode()


def _common_headers(request: Request) -> None:
    request.setHeader(b"Cache-Control", b"no-store")
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    request.setHeader(b"Referrer-Policy", b"no-referrer")


def answer(
    request: Request,
    status: int,
    code: str,
    text: str,
    fields: dict[str, Any] | None = None,
    headers: dict[bytes, bytes] | None = None,
) -> None:
    """
    Finish C{request} with C{status} and a JSON body C{code}, C{text} and
    C{fields}, and C{headers} (unless its client is gone or it was
    answered).
    """
    if request._disconnected or request.finished:
        return
    body = _json(code, text, fields)
    request.setResponseCode(status)
    for name in _FILE_HEADERS:
        request.responseHeaders.removeHeader(name)
    for name, value in (headers or {}).items():
        request.setHeader(name, value)
    _common_headers(request)
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Content-Length", b"%d" % len(body))
    request.write(body)
    request.finish()


# The state of one token: its session and its transfers.


@dataclass(slots=True)
class _Known:
    """
    What the session was told of a file offered to it.
    """

    name: str
    size: int
    sha256: str


@dataclass(eq=False)
class _Entry:
    """
    One attached session: its token and its HTTP transfers.
    """

    token: str
    session: Session
    # Uploads under way or still waiting for answers to their chunks.
    uploads: dict[int, _Upload] = field(default_factory=dict)
    # The gets of downloads waiting for their chunk, by file, oldest first.
    gets: dict[int, deque[tuple[_Download, int]]] = field(default_factory=dict)
    # Files offered to the session, and its own uploads' (offset, size).
    offers: OrderedDict[int, _Known] = field(default_factory=OrderedDict)
    own: OrderedDict[int, tuple[int, int]] = field(default_factory=OrderedDict)
    # Upload resumes asked of the core for PUTs of files not known yet.
    resuming: dict[int, list[Callable[[Error | None], None]]] = field(
        default_factory=dict
    )
    # Answers still to come for chunks of uploads the core dropped.
    swallow: dict[int, int] = field(default_factory=dict)
    # File lists asked of the core for downloads of files not known yet.
    listings: int = 0
    listed: list[Callable[[bool], None]] = field(default_factory=list)
    transfers: int = 0
    alive: bool = True

    def offered(self, event: FileOffer) -> None:
        self.offers[event.id] = _Known(event.name, event.size, event.sha256)
        self.offers.move_to_end(event.id)
        if len(self.offers) > KNOWN_MAX:
            self.offers.popitem(last=False)

    def uploading(self, file_id: int, offset: int, size: int) -> None:
        self.own[file_id] = (offset, size)
        self.own.move_to_end(file_id)
        if len(self.own) > KNOWN_MAX:
            self.own.popitem(last=False)

    def started(self, request: Request) -> None:
        """
        Count C{request} among the token's transfers until it ends.
        """
        self.transfers += 1

        def ended(result: object) -> None:
            self.transfers -= 1

        request.notifyFinish().addBoth(ended)


# Uploads.


class _Upload:
    """
    One C{PUT}: its body, cut into chunks for the core, a few at a time.

    It lives on after its request ends while chunks it sent wait for
    their answers, so that those answers are taken here rather than
    shown to the WebSocket.
    """

    def __init__(
        self,
        files: WebFiles,
        entry: _Entry,
        request: FilesRequest,
        file_id: int,
        offset: int,
        length: int | None,
    ) -> None:
        self.files = files
        self.entry = entry
        self.request: FilesRequest | None = request
        self.id = file_id
        self.offset = offset
        self.length = length
        # Where the bytes handed to the core end, and the ends of the chunks
        # not yet acknowledged, oldest first.
        self.sent = offset
        self.unacked: deque[int] = deque()
        # Body bytes not yet handed to the core, and how many came.
        self.buffer = bytearray()
        self.received = 0
        # The most the body may carry: what the file lacks.
        self.limit = 0
        self.ready = False
        self.body_done = False
        self.answered = False
        self.paused = False
        self._pumping = False
        self._again = False
        # Requests for the same file waiting for this one to be over.
        self.then: list[Callable[[], None]] = []

    # From the request.

    def body(self, data: bytes) -> None:
        if self.answered:
            return
        self.received += len(data)
        if self.ready and self.received > self.limit:
            self.refuse(
                http.REQUEST_ENTITY_TOO_LARGE,
                "file-too-large",
                f"file {self.id} has {self.limit:,} bytes left to send; the body "
                "is longer.",
            )
            return
        self.buffer += data
        self.pump()

    def body_ended(self) -> None:
        self.body_done = True
        self.pump()

    def connection_lost(self) -> None:
        """
        The client went: nothing more is sent, and what was sent is still
        answered here.
        """
        self.request = None
        self.answered = True
        self.buffer = bytearray()
        self.settle()

    # Flow.

    def accept(self, limit: int) -> None:
        """
        The core's rules let the upload go: at most C{limit} bytes.
        """
        self.limit = limit
        self.ready = True
        self.entry.uploads[self.id] = self
        request = self.request
        if request is not None:
            request.go_on()
        if self.received > limit:
            self.refuse(
                http.REQUEST_ENTITY_TOO_LARGE,
                "file-too-large",
                f"file {self.id} has {limit:,} bytes left to send; the body is longer.",
            )
            return
        self.pump()

    def pump(self) -> None:
        """
        Hand the core whole chunks while the window has room (the rest of
        the body once it ended), and pause the client while it does not.
        """
        if self._pumping:
            self._again = True
            return
        self._pumping = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._step()
        finally:
            self._pumping = False

    def _step(self) -> None:
        request = self.request
        if request is None or self.answered or not self.ready:
            self._flow()
            return
        chunk_max = self.files.limits.chunk_max
        session = self.entry.session
        while len(self.unacked) < UPLOAD_WINDOW and (
            len(self.buffer) >= chunk_max or (self.body_done and self.buffer)
        ):
            data = bytes(self.buffer[:chunk_max])
            del self.buffer[:chunk_max]
            offset = self.sent
            self.sent += len(data)
            self.unacked.append(self.sent)
            session.file_chunk(self.id, offset, data)
            if self.answered:
                return
        self._flow()
        if self.body_done and not self.buffer and not self.unacked:
            self.answered = True
            self.finish_request()

    def _flow(self) -> None:
        full = len(self.buffer) >= self.files.limits.chunk_max or not self.ready
        self.hold(full and self.request is not None and not self.body_done)

    def hold(self, paused: bool) -> None:
        """
        Stop (or go on) reading the body from the client.  A pause is
        said again each time: the HTTP channel resumes its transport
        itself when its output drains.
        """
        if paused or self.paused:
            self.paused = paused
            if self.request is not None:
                self.request.pause_body(paused)

    def finish_request(self) -> None:
        request = self.request
        self._resume()
        if request is not None:
            request.upload_done()
        self.settle()

    def _resume(self) -> None:
        if self.paused and self.request is not None:
            self.request.pause_body(False)
        self.paused = False

    def refuse(
        self,
        status: int,
        code: str,
        text: str,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """
        Answer the request with an error now, whether or not its body
        is all in.
        """
        if self.answered:
            return
        self.answered = True
        self.buffer = bytearray()
        request = self.request
        self._resume()
        if request is not None:
            request.refuse(status, code, text, fields)
        self.settle()

    def settle(self) -> None:
        """
        Forget the upload once nothing it sent waits for an answer.
        """
        if not self.answered or self.unacked:
            return
        if self.entry.uploads.get(self.id) is self:
            del self.entry.uploads[self.id]
        then, self.then = self.then, []
        for start in then:
            start()

    # From the core.

    def acked(self, offset: int) -> None:
        unacked = self.unacked
        while unacked and unacked[0] <= offset:
            unacked.popleft()
        known = self.entry.own.get(self.id)
        if known is not None:
            self.entry.uploading(self.id, offset, known[1])
        if offset == self.offset + self.limit and not unacked:
            # The file's last byte is in: what the core says next (the
            # checksum's verdict, file-sent) is the WebSocket's.
            self.entry.own.pop(self.id, None)
            if self.entry.uploads.get(self.id) is self:
                del self.entry.uploads[self.id]
        if self.answered:
            self.settle()
        else:
            self.pump()

    def failed(self, event: Error) -> None:
        if event.code in _PER_REQUEST and self.unacked:
            self.unacked.popleft()
        if event.code == "bad-offset":
            # The core kept the upload: each chunk still on its way is
            # answered, and the next PUT waits for those answers.
            offset = event.fields.get("offset")
            known = self.entry.own.get(self.id)
            if isinstance(offset, int) and known is not None:
                self.entry.uploading(self.id, offset, known[1])
        else:
            self.dropped()
        if not self.answered:
            status = _STATUS.get(event.code, http.BAD_REQUEST)
            fields = {k: v for k, v in event.fields.items() if k in ("id", "offset")}
            self.refuse(status, event.code, event.text, fields)
        self.settle()

    def dropped(self) -> None:
        """
        The core dropped the upload (or never had it for this session):
        chunks on their way are answered with no-such-file or not at all,
        so they are not waited for; those answers that come are still
        taken off the WebSocket.
        """
        self.entry.own.pop(self.id, None)
        if self.unacked:
            self.entry.swallow[self.id] = len(self.unacked)
        self.unacked.clear()


# Downloads.


@implementer(IPushProducer)
class _Download:
    """
    One C{GET} of a file's bytes C{first} to C{last}: C{get}s a few
    ahead, written as they come, paused with the client's transport.
    """

    def __init__(
        self,
        files: WebFiles,
        entry: _Entry,
        request: Request,
        file_id: int,
        known: _Known,
        first: int,
        last: int,
    ) -> None:
        self.files = files
        self.entry = entry
        self.request = request
        self.id = file_id
        self.size = known.size
        self.first = first
        self.last = last
        self.next = first
        self.written = first
        self.outstanding = 0
        self.paused = False
        self.stopped = False
        self.started = False
        self._pumping = False
        self._again = False

    def start(self) -> None:
        self.request.registerProducer(self, True)
        self.request.notifyFinish().addCallbacks(self._finished, self._gone)
        self.pump()

    def pump(self) -> None:
        if self._pumping:
            self._again = True
            return
        self._pumping = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._step()
        finally:
            self._pumping = False

    def _step(self) -> None:
        chunk_max = self.files.limits.chunk_max
        session = self.entry.session
        while (
            not self.stopped
            and not self.paused
            and self.outstanding < DOWNLOAD_WINDOW
            and self.next <= self.last
        ):
            offset = self.next
            self.next += chunk_max
            self.outstanding += 1
            self.entry.gets.setdefault(self.id, deque()).append((self, offset))
            session.get_file(self.id, offset)

    # IPushProducer

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self.pump()

    def stopProducing(self) -> None:
        self.stop()

    # From the core.

    def chunk(self, offset: int, data: bytes) -> None:
        self.outstanding -= 1
        if self.stopped:
            return
        if offset > self.written or offset + len(data) <= self.written:
            # Never: the core answers gets in order.
            self.fail(http.INTERNAL_SERVER_ERROR, "internal", "the file was not read.")
            return
        data = data[self.written - offset : self.last + 1 - offset]
        if not data:
            self.fail(http.INTERNAL_SERVER_ERROR, "internal", "the file was not read.")
            return
        self.started = True
        self.request.write(data)
        self.written += len(data)
        if self.written > self.last:
            self.stopped = True
            self.request.unregisterProducer()
            self.request.finish()
            return
        self.pump()

    def failed(self, event: Error) -> None:
        self.outstanding -= 1
        if self.stopped:
            return
        status = _STATUS.get(event.code, http.BAD_REQUEST)
        self.fail(status, event.code, event.text, {"id": self.id})

    def fail(
        self,
        status: int,
        code: str,
        text: str,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """
        End the download: an error answer if nothing was written yet, else
        the connection is closed (its response is short of its length).
        """
        if self.stopped:
            return
        self.stop()
        request = self.request
        if request._disconnected or request.finished:
            return
        if self.started:
            request.loseConnection()
        else:
            answer(request, status, code, text, fields)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if not self.request._disconnected and self.request.producer is self:
            self.request.unregisterProducer()

    def _finished(self, result: object) -> None:
        if self.written > self.last == self.size - 1:
            # It carried the file's last byte: counts as /file done.
            self.entry.session.file_done(self.id)

    def _gone(self, failure: Failure) -> None:
        self.stop()


# The request and the resource.


class FilesRequest(Request):
    """
    A request that takes the body of an upload as it arrives, instead of
    keeping it whole (in memory or a temporary file) until it is all in;
    and that refuses a long body anywhere else before reading it.

    L{WebFiles.install} makes a subclass of it, bound to its L{WebFiles},
    the site's request factory.
    """

    files: WebFiles
    upload: _Upload | None = None
    # The answer was written by hand, and the connection is closing.
    refused = False
    # A body for anything but an upload: how much of it came.
    other_body = 0
    expects_continue = False

    def gotLength(self, length: int | None) -> None:
        # Called once the headers are in, before any of the body: the one
        # moment to decide how to read it.  twisted.web keeps the request
        # line on the channel until the body is all in (Twisted 26.10 has
        # no public way to it before): read there, and absent on a channel
        # without it (HTTP/2), where uploads are refused by the resource.
        channel = self.channel
        command = getattr(channel, "_command", None)
        path = getattr(channel, "_path", None)
        files = self.files
        if command == b"PUT" and isinstance(path, bytes) and path.startswith(PATH):
            self.method, self.uri = command, path
            self.clientproto = getattr(channel, "_version", b"HTTP/1.1")
            self.path, _, self.query = path.partition(b"?")
            self.uri = redact(path)
            self.content = BytesIO()
            expect = self.requestHeaders.getRawHeaders(b"Expect")
            if expect is not None:
                self.requestHeaders.removeHeader(b"Expect")
                self.expects_continue = (
                    expect[0].lower() == b"100-continue"
                    and self.clientproto == b"HTTP/1.1"
                )
            files.begin_upload(self, length)
            return
        if length is not None and length > OTHER_BODY_MAX:
            self.requestHeaders.removeHeader(b"Expect")
            self.refuse(
                http.REQUEST_ENTITY_TOO_LARGE,
                "too-large",
                "this request's body is too long.",
            )
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        upload = self.upload
        if upload is not None:
            upload.body(data)
            return
        self.other_body += len(data)
        if self.other_body > OTHER_BODY_MAX:
            self.refuse(
                http.REQUEST_ENTITY_TOO_LARGE,
                "too-large",
                "this request's body is too long.",
            )
            return
        super().handleContentChunk(data)

    def process(self) -> None:
        # twisted.web lets bytes 127 to 176 through in a request's target
        # (RFC 9112 allows none), and its own error pages then fail on
        # them: such a request is refused here, for the whole site.
        if not all(33 <= c <= 126 for c in self.uri):
            answer(self, http.BAD_REQUEST, "bad-request", "the URL is malformed.")
            return
        super().process()

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.refused:
            return
        if self.upload is not None:
            # Parsed at the headers; the answer waits for the acks.
            self.upload.body_ended()
            return
        super().requestReceived(command, path, version)

    def connectionLost(self, reason: Failure) -> None:
        upload = self.upload
        super().connectionLost(reason)
        if upload is not None:
            upload.connection_lost()

    # For the upload.

    def go_on(self) -> None:
        """
        The upload was accepted: a client that waits for C{100 Continue}
        may send its body.
        """
        channel = self.channel
        if self.expects_continue and not self.refused and channel is not None:
            self.expects_continue = False
            if channel.transport is not None:
                channel.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def pause_body(self, paused: bool) -> None:
        """
        Stop (or go on) reading the body from the client's connection.
        """
        channel = self.channel
        if channel is None:
            return
        producer = IPushProducer(channel.transport, None)
        if producer is None:
            return
        if paused:
            producer.pauseProducing()
        else:
            producer.resumeProducing()

    def upload_done(self) -> None:
        """
        Every byte of the body is in the spool: C{204}.
        """
        if self._disconnected or self.finished or self.refused:
            return
        self.setResponseCode(http.NO_CONTENT)
        _common_headers(self)
        self.finish()

    def refuse(
        self,
        status: int,
        code: str,
        text: str,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """
        Answer C{status} now.  Once the body is all in, as any answer;
        before, written by hand and the connection closed, so that the
        rest of the body is never read.
        """
        if self.refused or self._disconnected or self.finished:
            return
        if self.upload is not None and self.upload.body_done:
            answer(self, status, code, text, fields)
            return
        self.refused = True
        body = _json(code, text, fields)
        reason = http.RESPONSES.get(status, b"Error")
        head = [
            b"HTTP/1.1 %d %s" % (status, reason),
            b"Content-Type: application/json",
            b"Content-Length: %d" % len(body),
            b"Connection: close",
            b"Cache-Control: no-store",
            b"X-Content-Type-Options: nosniff",
            b"Referrer-Policy: no-referrer",
        ]
        channel = self.channel
        if channel.transport is not None:
            channel.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        channel.loseConnection()


@implementer(IResource)
class _FilesResource(Resource):
    """
    C{/files/ID}: downloads (C{GET}, C{HEAD}); uploads are taken by
    L{FilesRequest} before any resource sees them.
    """

    isLeaf = True

    def __init__(self, files: WebFiles) -> None:
        super().__init__()
        self._files = files

    def render(self, request: Request) -> int:
        if request.method in (b"GET", b"HEAD"):
            self._files.begin_download(request)
        elif request.method == b"PUT":
            # Only when WebFiles.install was not called for this site.
            _log.error(
                "an upload reached the resource: WebFiles.install(site) is missing"
            )
            answer(
                request,
                http.INTERNAL_SERVER_ERROR,
                "internal",
                "this server cannot take uploads.",
            )
        else:
            answer(
                request,
                http.NOT_ALLOWED,
                "bad-method",
                "files are fetched with GET and sent with PUT.",
                headers={b"Allow": b"GET, HEAD, PUT"},
            )
        return NOT_DONE_YET


class WebFiles:
    """
    File transfers over HTTP for the web door's sessions.

    @ivar resource: what the site mounts at C{/files}.
    """

    def __init__(self, core: ChatCore) -> None:
        self.limits: Limits = core.limits
        self.resource: IResource = _FilesResource(self)
        # The attached sessions, by the SHA-256 of their token: a lookup
        # compares digests, which tell an attacker nothing of a token.
        self._entries: dict[bytes, _Entry] = {}

    # The contract with the door.

    def install(self, site: Site) -> None:
        """
        Make C{site}'s requests L{FilesRequest}s, so that upload bodies
        stream (a subclass of its request factory if it has its own).
        """
        base = site.requestFactory
        bases: tuple[type, ...] = (FilesRequest,)
        if isinstance(base, type) and issubclass(base, Request):
            if not issubclass(base, FilesRequest) and base is not Request:
                bases = (FilesRequest, base)
        site.requestFactory = cast(
            "type[Request]", type("FilesRequest", bases, {"files": self})
        )

    def attach(self, session: Session) -> str:
        """
        A new token for C{session}'s HTTP transfers.
        """
        token = secrets.token_urlsafe(32)
        self._entries[_digest(token)] = _Entry(token, session)
        return token

    def detach(self, token: str) -> None:
        """
        The session's WebSocket closed: its token is dead, and its
        transfers under way end (an upload's connection is closed, a
        download stops).
        """
        entry = self._entries.pop(_digest(token), None)
        if entry is None:
            return
        entry.alive = False
        for upload in list(entry.uploads.values()):
            upload.unacked.clear()
            upload.refuse(http.UNAUTHORIZED, "bad-token", "your session ended.")
        entry.uploads.clear()
        for gets in entry.gets.values():
            for download, _ in gets:
                download.fail(http.UNAUTHORIZED, "bad-token", "your session ended.")
        entry.gets.clear()
        resuming, entry.resuming = entry.resuming, {}
        for waiters in resuming.values():
            for waiter in waiters:
                waiter(None)
        listed, entry.listed = entry.listed, []
        for then in listed:
            then(False)

    def intercept(self, token: str, event: Event) -> bool:
        """
        Take C{event}, bound for C{token}'s WebSocket, if it answers one of
        its HTTP transfers under way; note what it says of the session's
        files either way.

        @return: whether it was taken (the door does not send it).
        """
        kind = type(event)
        if kind not in INTERCEPTED:
            return False
        entry = self._entries.get(_digest(token))
        if entry is None:
            return False
        if kind is FileChunk:
            assert isinstance(event, FileChunk)
            return self._chunk(entry, event)
        if kind is FileAck:
            assert isinstance(event, FileAck)
            upload = entry.uploads.get(event.id)
            if upload is None:
                return self._swallowed(entry, event.id)
            upload.acked(event.offset)
            return True
        if kind is Error:
            assert isinstance(event, Error)
            return self._error(entry, event)
        if kind is FileUpload:
            assert isinstance(event, FileUpload)
            entry.uploading(event.id, event.offset, event.size)
            waiters = entry.resuming.pop(event.id, None)
            if waiters is not None:
                for waiter in waiters:
                    waiter(None)
                return True
            return event.id in entry.uploads
        if kind is FileOffer:
            assert isinstance(event, FileOffer)
            entry.offered(event)
            return False
        if kind is FileList:
            assert isinstance(event, FileList)
            for offer in event.offers:
                entry.offered(offer)
            for info in event.uploads:
                entry.uploading(info.id, info.offset, info.size)
            if not entry.listings:
                return False
            entry.listings -= 1
            listed, entry.listed = entry.listed, []
            for then in listed:
                then(True)
            return True
        if isinstance(event, FileSent | FileDone):
            entry.own.pop(event.id, None)
            upload = entry.uploads.get(event.id)
            if upload is not None and isinstance(event, FileDone):
                # Cancelled (/file cancel) during the upload.
                upload.dropped()
                upload.refuse(http.GONE, "cancelled", f"file {event.id} was cancelled.")
                upload.settle()
        return False

    # Routing the core's answers.

    def _chunk(self, entry: _Entry, event: FileChunk) -> bool:
        gets = entry.gets.get(event.id)
        if not gets:
            return False
        # The oldest get first: the core answers them in order.
        index = next((i for i, get in enumerate(gets) if get[1] == event.offset), None)
        if index is None:
            return False
        download = gets[index][0]
        del gets[index]
        if not gets:
            del entry.gets[event.id]
        download.chunk(event.offset, event.data)
        return True

    def _error(self, entry: _Entry, event: Error) -> bool:
        file_id = event.fields.get("id")
        if not isinstance(file_id, int):
            if entry.listings and event.code in ("internal", "store-failed"):
                # Perhaps a listing asked for: the downloads waiting for
                # it fail; the error is the WebSocket's too.
                entry.listings -= 1
                listed, entry.listed = entry.listed, []
                for then in listed:
                    then(False)
            return False
        if event.code not in _STATUS:
            # Not an error of a file's (should another kind name an id).
            return False
        gets = entry.gets.get(file_id)
        if gets:
            download, _ = gets.popleft()
            if not gets:
                del entry.gets[file_id]
            download.failed(event)
            return True
        upload = entry.uploads.get(file_id)
        if upload is not None:
            upload.failed(event)
            return True
        waiters = entry.resuming.pop(file_id, None)
        if waiters is not None:
            for waiter in waiters:
                waiter(event)
            return True
        if event.code == "no-such-file" and self._swallowed(entry, file_id):
            return True
        if event.code != "bad-offset":
            entry.own.pop(file_id, None)
        return False

    @staticmethod
    def _swallowed(entry: _Entry, file_id: int) -> bool:
        """
        Whether an answer for file C{file_id} is one of those still due for
        chunks of an upload the core dropped: taken, and counted.
        """
        left = entry.swallow.get(file_id)
        if left is None:
            return False
        if left > 1:
            entry.swallow[file_id] = left - 1
        else:
            del entry.swallow[file_id]
        return True

    # Who asks.

    def _entry(self, token: str | None) -> _Entry | None:
        """
        The live session C{token} belongs to, compared in constant time.
        """
        if token is None or len(token) > TOKEN_MAX:
            return None
        entry = self._entries.get(_digest(token))
        if entry is None or not hmac.compare_digest(
            entry.token.encode(), token.encode()
        ):
            return None
        if entry.session.state is CLOSED:
            return None
        return entry

    # Uploads.

    def begin_upload(self, request: FilesRequest, length: int | None) -> None:
        """
        The headers of a C{PUT /files/...} are in: refuse it at once, or
        let its body come.
        """
        entry = self._entry(
            bearer_token(request.requestHeaders.getRawHeaders(b"Authorization"))
        )
        if entry is None:
            request.refuse(
                http.UNAUTHORIZED,
                "bad-token",
                "uploads need Authorization: Bearer with your session's token.",
            )
            return
        if length is not None and length > self.limits.file_max_size:
            request.refuse(
                http.REQUEST_ENTITY_TOO_LARGE,
                "file-too-large",
                f"files are at most {self.limits.file_max_size:,} bytes.",
            )
            return
        target = file_id(request.path)
        if target is None:
            request.refuse(http.NOT_FOUND, "no-such-file", "there is no such file.")
            return
        query = parse_query(request.query)
        offset = number(None if query is None else query.get("offset"))
        if offset is None:
            request.refuse(
                http.BAD_REQUEST, "usage", "PUT /files/ID?offset=N: N is missing."
            )
            return
        if entry.transfers >= TRANSFERS_MAX:
            request.refuse(
                TOO_MANY_REQUESTS,
                "throttled",
                f"at most {TRANSFERS_MAX} transfers at once.",
            )
            return
        entry.started(request)
        upload = _Upload(self, entry, request, target, offset, length)
        request.upload = upload
        earlier = entry.uploads.get(target)
        if earlier is None:
            self._check_upload(upload)
        elif earlier.request is not None:
            request.refuse(
                http.CONFLICT,
                "busy",
                f"file {target} is being uploaded by another request.",
                {"id": target},
            )
        else:
            # The last one's chunks are still on their way: wait for them,
            # without reading this one's body meanwhile.
            upload.hold(True)
            earlier.then.append(lambda: self._check_upload(upload))

    def _check_upload(self, upload: _Upload) -> None:
        entry = upload.entry
        known = entry.own.get(upload.id)
        if known is None:
            self._resume(upload)
            return
        request = upload.request
        if request is None or upload.answered:
            return
        offset, size = known
        if upload.offset != offset:
            upload.refuse(
                http.CONFLICT,
                "bad-offset",
                f"file {upload.id}: the server has {offset} bytes; send from there.",
                {"id": upload.id, "offset": offset},
            )
            return
        limit = size - offset
        if upload.length is not None and upload.length > limit:
            upload.refuse(
                http.REQUEST_ENTITY_TOO_LARGE,
                "file-too-large",
                f"file {upload.id} has {limit:,} bytes left to send; the body is "
                "longer.",
                {"id": upload.id},
            )
            return
        upload.accept(limit)

    def _resume(self, upload: _Upload) -> None:
        """
        Ask the core where the session's upload of this file stands (it
        may be one of an earlier connection): the PUT waits, unread.
        """
        entry = upload.entry
        upload.hold(True)

        def answered(error: Error | None) -> None:
            if upload.answered:
                return
            if not entry.alive:
                upload.refuse(http.UNAUTHORIZED, "bad-token", "your session ended.")
                return
            if error is not None:
                status = _STATUS.get(error.code, http.BAD_REQUEST)
                upload.refuse(status, error.code, error.text, {"id": upload.id})
                return
            if upload.id not in entry.own:
                upload.refuse(
                    http.NOT_FOUND, "no-such-file", "there is no such upload for you."
                )
                return
            self._check_upload(upload)

        waiting = entry.resuming.setdefault(upload.id, [])
        waiting.append(answered)
        if len(waiting) == 1:
            entry.session.resume_upload(upload.id)

    # Downloads.

    def begin_download(self, request: Request) -> None:
        """
        C{GET} or C{HEAD /files/ID?token=TOKEN}.
        """
        query = parse_query(request.uri.partition(b"?")[2])
        request.uri = redact(request.uri)
        entry = self._entry(None if query is None else query.get("token"))
        if entry is None:
            answer(
                request,
                http.UNAUTHORIZED,
                "bad-token",
                "downloads need ?token= with your session's token.",
            )
            return
        target = file_id(request.path)
        if target is None:
            answer(request, http.NOT_FOUND, "no-such-file", "there is no such file.")
            return
        if entry.transfers >= TRANSFERS_MAX:
            answer(
                request,
                TOO_MANY_REQUESTS,
                "throttled",
                f"at most {TRANSFERS_MAX} transfers at once.",
            )
            return
        entry.started(request)
        if target in entry.offers:
            self._download(entry, request, target)
            return

        def listed(ok: bool) -> None:
            if request._disconnected or request.finished:
                return
            if not entry.alive:
                answer(request, http.UNAUTHORIZED, "bad-token", "your session ended.")
            elif not ok:
                answer(
                    request,
                    http.SERVICE_UNAVAILABLE,
                    "internal",
                    "the server could not look the file up; try again.",
                )
            else:
                self._download(entry, request, target)

        # Not offered on this WebSocket (it came with the login, say): the
        # session's file list says whether it is there for it.
        entry.listed.append(listed)
        entry.listings += 1
        entry.session.files()

    def _download(self, entry: _Entry, request: Request, target: int) -> None:
        known = entry.offers.get(target)
        if known is None:
            answer(
                request,
                http.NOT_FOUND,
                "no-such-file",
                f"there is no file {target} for you.",
                {"id": target},
            )
            return
        size = known.size
        etag = f'"{known.sha256}"'.encode("ascii")
        range_header = request.getHeader(b"Range")
        if_range = request.getHeader(b"If-Range")
        if if_range is not None and if_range.strip() != etag:
            range_header = None
        try:
            span = parse_range(range_header, size)
        except RangeNotSatisfiable:
            answer(
                request,
                http.REQUESTED_RANGE_NOT_SATISFIABLE,
                "bad-range",
                f"file {target} is {size:,} bytes.",
                {"id": target, "size": size},
                {b"Content-Range": b"bytes */%d" % size},
            )
            return
        if span is None:
            first, last = 0, size - 1
            request.setResponseCode(http.OK)
        else:
            first, last = span
            request.setResponseCode(http.PARTIAL_CONTENT)
            request.setHeader(b"Content-Range", b"bytes %d-%d/%d" % (first, last, size))
        _common_headers(request)
        request.setHeader(b"Content-Type", b"application/octet-stream")
        request.setHeader(b"Content-Disposition", content_disposition(known.name))
        request.setHeader(b"Content-Security-Policy", b"default-src 'none'; sandbox")
        request.setHeader(b"Accept-Ranges", b"bytes")
        request.setHeader(b"ETag", etag)
        request.setHeader(b"Content-Length", b"%d" % (last - first + 1))
        if request.method == b"HEAD":
            request.finish()
            return
        if size == 0:
            request.finish()
            entry.session.file_done(target)
            return
        _Download(self, entry, request, target, known, first, last).start()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
