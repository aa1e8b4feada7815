"""
Tests for file transfer in the chat core (L{chat.transfers}) over
L{MemoryStore}, a real spool directory and disk operations run inline, and
for the raw chunk framing of L{chat.protocol}.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TypeVar

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from chat.errors import ChecksumMismatch
from chat.events import (
    Event,
    FileAck,
    FileChunk,
    FileDone,
    FileList,
    FileOffer,
    FileSent,
    FileUpload,
)
from chat.protocol import ChatFactory
from chat.render import text_lines
from chat.transfers import CHUNK_MAX, UPLOADS_AT_ONCE, _write
from tests.fakes import FakeClient
from tests.test_accounts import AccountsTestCase

_E = TypeVar("_E", bound=Event)


def of(events: list[Event], kind: type[_E]) -> list[_E]:
    return [e for e in events if isinstance(e, kind)]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class TransfersTestCase(AccountsTestCase):
    """
    Alice and Bob online in JSON mode; a spool of the test's own.
    """

    def setUp(self) -> None:
        super().setUp()
        transfers = self.dispatcher.transfers
        transfers.spool = os.path.abspath(self.mktemp())
        self.successResultOf(transfers.start())
        self.alice = self.json_guest("alice")
        self.bob = self.json_guest("bob")
        self.alice.take()

    def json_guest(self, name: str) -> FakeClient:
        client = self.guest(name)
        client.mode = "json"
        return client

    def offer(self, data: bytes, to: str = "bob", name: str = "report.pdf") -> int:
        self.send(self.alice, f"/file offer {to} {len(data)} {digest(data)} {name}")
        [upload] = of(self.alice.take(), FileUpload)
        self.assertEqual((upload.offset, upload.size), (0, len(data)))
        return upload.id

    def chunk(self, file_id: int, offset: int, data: bytes) -> list[Event]:
        self.send_chunk(self.alice, file_id, offset, data)
        return self.alice.take()

    def send_chunk(
        self, client: FakeClient, file_id: int, offset: int, data: bytes
    ) -> None:
        transfers = self.dispatcher.transfers
        self.answer(client, lambda: transfers.chunk(client, file_id, offset, data))

    def upload(self, data: bytes, to: str = "bob") -> int:
        file_id = self.offer(data, to)
        for offset in range(0, len(data), CHUNK_MAX):
            events = self.chunk(file_id, offset, data[offset : offset + CHUNK_MAX])
            self.assertEqual(self.errors(events), [])
        return file_id

    def download(self, client: FakeClient, file_id: int, size: int) -> bytes:
        data = b""
        while len(data) < size:
            self.send(client, f"/file get {file_id} {len(data)}")
            [chunk] = of(client.take(), FileChunk)
            self.assertEqual(chunk.offset, len(data))
            data += chunk.data
        return data


class UploadTests(TransfersTestCase):
    def test_round_trip(self) -> None:
        """
        A file of several chunks goes up, is acknowledged chunk by chunk,
        checked, offered to the recipient, and comes down byte-identical;
        once fetched it leaves the spool and the sender is told.
        """
        data = os.urandom(3 * CHUNK_MAX + 123)
        file_id = self.offer(data)
        acks = []
        for offset in range(0, len(data), CHUNK_MAX):
            events = self.chunk(file_id, offset, data[offset : offset + CHUNK_MAX])
            acks += [e.offset for e in of(events, FileAck)]
        self.assertEqual(acks, [CHUNK_MAX, 2 * CHUNK_MAX, 3 * CHUNK_MAX, len(data)])
        [sent] = of(events, FileSent)
        self.assertEqual((sent.to, sent.stored), ("bob", False))
        [offer] = of(self.bob.take(), FileOffer)
        self.assertEqual(
            (offer.id, offer.sender, offer.name, offer.size, offer.sha256),
            (file_id, "alice", "report.pdf", len(data), digest(data)),
        )
        self.assertEqual(self.download(self.bob, file_id, len(data)), data)
        self.send(self.bob, f"/file done {file_id}")
        [done] = of(self.alice.take(), FileDone)
        self.assertEqual((done.to, done.declined), ("bob", False))
        self.assertEqual(os.listdir(self.dispatcher.transfers.spool), [])

    def test_checksum_mismatch(self) -> None:
        """
        Bytes that do not hash to the offered SHA-256 are refused at the
        end, and nothing is offered or kept.
        """
        data = b"x" * 1000
        file_id = self.offer(data)
        events = self.chunk(file_id, 0, b"y" * 1000)
        self.assertEqual(self.errors(events), ["checksum-mismatch"])
        self.assertEqual(of(self.bob.take(), FileOffer), [])
        self.assertEqual(os.listdir(self.dispatcher.transfers.spool), [])
        self.send(self.alice, f"/file resume {file_id}")
        self.assertEqual(self.errors(self.alice.take()), ["no-such-file"])

    def test_bad_offset(self) -> None:
        """
        A chunk at the wrong place is discarded, and the sender is told
        where to go on from.
        """
        file_id = self.offer(b"abcdef")
        events = self.chunk(file_id, 3, b"def")
        self.assertEqual(self.errors(events), ["bad-offset"])
        self.assertEqual([e.offset for e in of(events, FileUpload)], [0])
        events = self.chunk(file_id, 0, b"abcdefg")
        self.assertEqual(self.errors(events), ["bad-offset"])
        self.chunk(file_id, 0, b"abc")
        events = self.chunk(file_id, 3, b"def")
        self.assertEqual(len(of(events, FileSent)), 1)

    def test_limits(self) -> None:
        """
        Files over the size limit, or past the sender's quota, are refused
        before any byte is sent; so are unknown targets, text mode and
        malformed offers.
        """
        self.dispatcher.transfers.max_size = 100
        self.dispatcher.transfers.quota = 150
        self.send(self.alice, f"/file offer bob 101 {digest(b'')} big")
        self.assertEqual(self.errors(self.alice.take()), ["file-too-large"])
        self.offer(b"x" * 100)
        self.send(self.alice, f"/file offer bob 60 {digest(b'')} more")
        self.send(self.alice, f"/file offer nobody 1 {digest(b'')} f")
        self.send(self.alice, f"/file offer #nowhere 1 {digest(b'')} f")
        self.send(self.alice, "/file offer bob 1 nothex f")
        self.send(self.alice, f"/file offer alice 1 {digest(b'')} f")
        self.assertEqual(
            self.errors(self.alice.take()),
            ["quota-exceeded", "no-such-user", "not-in-room", "usage", "usage"],
        )
        self.offer(b"y" * 50)
        self.send(self.alice, f"/file offer bob 1 {digest(b'z')} one-more")
        self.assertEqual(self.errors(self.alice.take()), ["quota-exceeded"])
        carol = self.guest("carol")
        self.send(carol, f"/file offer bob 1 {digest(b'')} f")
        self.assertEqual(self.errors(carol.take()), ["needs-json"])

    def test_uploads_at_once(self) -> None:
        """
        A sender has at most UPLOADS_AT_ONCE uploads under way (each may
        hold a file open); finishing or cancelling one makes room.
        """
        ids = [self.offer(b"xy", name=f"f{i}") for i in range(UPLOADS_AT_ONCE)]
        self.send(self.alice, f"/file offer bob 2 {digest(b'xy')} one-more")
        self.assertEqual(self.errors(self.alice.take()), ["throttled"])
        self.send(self.alice, f"/file cancel {ids[0]}")
        self.alice.take()
        self.offer(b"xy", name="now-there-is-room")

    def test_sender_cancels(self) -> None:
        """
        C{/file cancel} drops a half-sent upload, and a sent file not yet
        fetched, answering with file-declined for the target; the
        recipient can no longer fetch it.
        """
        half = self.offer(b"0123456789", name="half.bin")
        self.chunk(half, 0, b"01234")
        whole = self.upload(b"whole")
        self.alice.take()
        self.bob.take()
        spool = self.dispatcher.transfers.spool
        self.assertEqual(
            sorted(os.listdir(spool)), sorted([f"{half}.part", f"{whole}"])
        )
        for file_id in (half, whole):
            self.send(self.alice, f"/file cancel {file_id}")
            [done] = of(self.alice.take(), FileDone)
            self.assertEqual((done.id, done.to, done.declined), (file_id, "bob", True))
        self.assertEqual(os.listdir(spool), [])
        self.send(self.bob, f"/file get {whole} 0")
        self.assertEqual(self.errors(self.bob.take()), ["no-such-file"])
        self.assertEqual(self.errors(self.chunk(half, 5, b"56789")), ["no-such-file"])

    def test_name_is_a_base_name(self) -> None:
        """
        Only the last component of the offered name is kept: a path cannot
        escape anywhere.
        """
        self.send(self.alice, f"/file offer bob 1 {digest(b'x')} ../../etc/passwd")
        [upload] = of(self.alice.take(), FileUpload)
        self.assertEqual(upload.name, "passwd")

    def test_resume(self) -> None:
        """
        An upload cut off by a dropped connection goes on from where the
        server's copy ends, after the sender logs in again; the result
        checks out.
        """
        data = os.urandom(2 * CHUNK_MAX)
        file_id = self.offer(data)
        self.chunk(file_id, 0, data[:CHUNK_MAX])
        self.dispatcher.leave(self.alice, "connection closed", clean=False)
        alice = self.json_guest("alice")
        self.send(alice, "/file list")
        [listing] = of(alice.take(), FileList)
        self.assertEqual(
            [(u.id, u.offset) for u in listing.uploads], [(file_id, CHUNK_MAX)]
        )
        self.send(alice, f"/file resume {file_id}")
        [upload] = of(alice.take(), FileUpload)
        self.assertEqual(upload.offset, CHUNK_MAX)
        self.send_chunk(alice, file_id, CHUNK_MAX, data[CHUNK_MAX:])
        self.assertEqual(len(of(alice.take(), FileSent)), 1)
        [offer] = of(self.bob.take(), FileOffer)
        self.assertEqual(self.download(self.bob, offer.id, len(data)), data)

    def test_resume_after_restart(self) -> None:
        """
        With the in-memory state gone (a restart), the partial file on disk
        is hashed again and the upload goes on from its end.
        """
        data = os.urandom(CHUNK_MAX + 10)
        file_id = self.offer(data)
        self.chunk(file_id, 0, data[:CHUNK_MAX])
        upload = self.dispatcher.transfers._uploads.pop(file_id)
        assert upload.handle is not None
        upload.handle.close()
        self.send(self.alice, f"/file resume {file_id}")
        [resumed] = of(self.alice.take(), FileUpload)
        self.assertEqual(resumed.offset, CHUNK_MAX)
        events = self.chunk(file_id, CHUNK_MAX, data[CHUNK_MAX:])
        self.assertEqual(len(of(events, FileSent)), 1)

    def test_others_cannot_touch(self) -> None:
        """
        Only the sender resumes or cancels, only recipients fetch.
        """
        file_id = self.upload(b"secret")
        carol = self.json_guest("carol")
        self.send(carol, f"/file get {file_id} 0")
        self.send(carol, f"/file cancel {file_id}")
        self.send(carol, f"/file done {file_id}")
        self.assertEqual(self.errors(carol.take()), ["no-such-file"] * 3)
        self.send(self.alice, f"/file get {file_id} 0")
        self.assertEqual(self.errors(self.alice.take()), ["no-such-file"])


class DeliveryTests(TransfersTestCase):
    def test_offline_recipient(self) -> None:
        """
        A file to a registered user who is offline waits, and is offered at
        the next login.
        """
        dave = self.json_guest("dave")
        self.send(dave, "/register sesame1")
        self.dispatcher.leave(dave, "quit")
        file_id = self.offer(b"for later", to="dave")
        [sent] = of(self.chunk(file_id, 0, b"for later"), FileSent)
        self.assertTrue(sent.stored)
        dave, events = self.log_in("dave")
        [offer] = of(events, FileOffer)
        self.assertEqual((offer.id, offer.name), (file_id, "report.pdf"))
        dave.mode = "json"
        self.assertEqual(self.download(dave, file_id, 9), b"for later")

    def test_decline(self) -> None:
        """
        A declined file is gone from the spool and the sender is told.
        """
        file_id = self.upload(b"no thanks")
        self.alice.take()
        spool = self.dispatcher.transfers.spool
        self.assertEqual(os.listdir(spool), [str(file_id)])
        self.send(self.bob, f"/file decline {file_id}")
        [done] = of(self.alice.take(), FileDone)
        self.assertTrue(done.declined)
        self.assertEqual(os.listdir(spool), [])
        self.send(self.bob, f"/file get {file_id} 0")
        self.assertEqual(self.errors(self.bob.take()), ["no-such-file"])

    def test_room(self) -> None:
        """
        A file to a room is offered to every other member, and stays until
        the last of them has it.
        """
        carol = self.json_guest("carol")
        for client in (self.alice, self.bob, carol):
            self.send(client, "/join #team")
        file_id = self.upload(b"minutes", to="#team")
        offers = [of(c.take(), FileOffer) for c in (self.bob, carol)]
        self.assertEqual([[o.room for o in x] for x in offers], [["#team"], ["#team"]])
        self.send(self.bob, f"/file done {file_id}")
        self.assertEqual(self.download(carol, file_id, 7), b"minutes")
        self.send(carol, f"/file done {file_id}")
        self.assertEqual(os.listdir(self.dispatcher.transfers.spool), [])

    def test_guest_recipient_leaves(self) -> None:
        """
        A guest who disconnects loses its offers; the file goes when nobody
        is left to fetch it.
        """
        file_id = self.upload(b"bye")
        spool = self.dispatcher.transfers.spool
        self.assertEqual(os.listdir(spool), [str(file_id)])
        self.dispatcher.leave(self.bob, "quit")
        self.assertEqual(os.listdir(spool), [])

    def test_guest_leaves_after_another_fetched(self) -> None:
        """
        A guest who leaves loses a room file's offer even after another
        member fetched it (which keeps the file's record at hand): the
        next guest of that name cannot fetch it.
        """
        carol = self.json_guest("carol")
        for client in (self.alice, self.bob, carol):
            self.send(client, "/join #team")
        file_id = self.upload(b"minutes", to="#team")
        self.assertEqual(self.download(carol, file_id, 7), b"minutes")
        self.dispatcher.leave(self.bob, "quit")
        other_bob = self.json_guest("bob")
        self.send(other_bob, f"/file get {file_id} 0")
        self.assertEqual(self.errors(other_bob.take()), ["no-such-file"])

    def test_text_mode_notice(self) -> None:
        """
        A text-mode recipient is told a file waits; it cannot fetch it.
        """
        carol = self.guest("carol")
        file_id = self.upload(b"hello", to="carol")
        [offer] = of(carol.take(), FileOffer)
        self.send(carol, f"/file get {file_id} 0")
        self.assertEqual(self.errors(carol.take()), ["needs-json"])
        self.assertEqual(
            text_lines(offer),
            [
                f"* alice wants to send you report.pdf (5 bytes), file {file_id}; "
                "connect with chat-client to receive it (kept until 2023-11-21)."
            ],
        )

    def test_expiry(self) -> None:
        """
        Files past their age are deleted from the store and the spool.
        """
        file_id = self.upload(b"old")
        spool = self.dispatcher.transfers.spool
        max_age = self.dispatcher.transfers.max_age
        self.clock.advance(max_age - 1)
        self.successResultOf(self.dispatcher.expire_stored())
        self.assertEqual(os.listdir(spool), [str(file_id)])
        self.clock.advance(2)
        self.successResultOf(self.dispatcher.expire_stored())
        self.assertEqual(os.listdir(spool), [])
        self.send(self.bob, "/file list")
        [listing] = of(self.bob.take(), FileList)
        self.assertEqual(listing.offers, ())


class FramingTests(SynchronousTestCase):
    """
    The raw bytes of a chunk follow its line exactly, however the input is
    cut, and chat lines around them are read as lines.
    """

    def setUp(self) -> None:
        self.factory = ChatFactory(clock=Clock())
        spool = os.path.abspath(self.mktemp())
        self.factory.dispatcher.transfers.spool = spool
        self.successResultOf(self.factory.dispatcher.transfers.start())
        self.alice, self.alice_t = self.connect("alice")
        self.bob, self.bob_t = self.connect("bob")
        self.alice_t.clear()

    def connect(self, name: str) -> tuple[object, StringTransport]:
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"/mode json\r\n" + name.encode() + b"\r\n")
        transport.clear()
        return protocol, transport

    def events(self, transport: StringTransport) -> list[dict[str, object]]:
        lines = transport.value().split(b"\r\n")
        transport.clear()
        return [json.loads(line) for line in lines if line.startswith(b"{")]

    def test_chunks_between_lines(self) -> None:
        """
        A chunk whose bytes hold line ends and NULs, cut at every byte,
        with chat lines before and after it, arrives whole; the chat lines
        are relayed.
        """
        data = b"a\nb\x00c\r\nd" * 100
        self.alice.dataReceived(  # type: ignore[attr-defined]
            f"/file offer bob {len(data)} {digest(data)} notes.txt\r\n".encode()
        )
        [upload] = self.events(self.alice_t)
        stream = (
            b"before\r\n"
            + f"/file chunk {upload['id']} 0 {len(data)}\r\n".encode()
            + data
            + b"after\r\n"
        )
        for i in range(len(stream)):
            self.alice.dataReceived(stream[i : i + 1])  # type: ignore[attr-defined]
        types = [e["type"] for e in self.events(self.alice_t)]
        self.assertEqual(types, ["file-ack", "file-sent"])
        received = self.events(self.bob_t)
        self.assertEqual(
            [(e["type"], e.get("text")) for e in received if e["type"] == "message"],
            [("message", "before"), ("message", "after")],
        )
        self.assertEqual([e["type"] for e in received].count("file-offer"), 1)
        spool = self.factory.dispatcher.transfers.spool
        with open(os.path.join(spool, str(upload["id"])), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_chunk_in_one_segment(self) -> None:
        """
        Header, bytes and the next line in one segment.
        """
        data = b"\n" * 10
        self.alice.dataReceived(  # type: ignore[attr-defined]
            f"/file offer bob 10 {digest(data)} n\r\n".encode()
        )
        [upload] = self.events(self.alice_t)
        self.alice.dataReceived(  # type: ignore[attr-defined]
            f"/file chunk {upload['id']} 0 10\r\n".encode() + data + b"hi\r\n"
        )
        self.assertEqual(
            [e["type"] for e in self.events(self.alice_t)], ["file-ack", "file-sent"]
        )
        texts = [
            e.get("text") for e in self.events(self.bob_t) if e["type"] == "message"
        ]
        self.assertEqual(texts, ["hi"])

    def test_download_frame(self) -> None:
        """
        A chunk goes out as its JSON line and then exactly its bytes.
        """
        data = b"\r\n\x00binary"
        self.alice.dataReceived(  # type: ignore[attr-defined]
            f"/file offer bob {len(data)} {digest(data)} b\r\n".encode()
        )
        [upload] = self.events(self.alice_t)
        self.alice.dataReceived(  # type: ignore[attr-defined]
            f"/file chunk {upload['id']} 0 {len(data)}\r\n".encode() + data
        )
        self.bob_t.clear()
        self.bob.dataReceived(f"/file get {upload['id']} 0\r\n".encode())  # type: ignore[attr-defined]
        header, _, rest = self.bob_t.value().partition(b"\r\n")
        self.assertEqual(json.loads(header)["size"], len(data))
        self.assertEqual(rest, data)

    def test_bad_chunk_header(self) -> None:
        """
        A malformed chunk line is an error and no bytes are swallowed.
        """
        self.alice.dataReceived(b"/file chunk 1 0 99999999\r\nhello\r\n")  # type: ignore[attr-defined]
        events = self.events(self.alice_t)
        self.assertEqual([e["type"] for e in events], ["error"])
        texts = [
            e.get("text") for e in self.events(self.bob_t) if e["type"] == "message"
        ]
        self.assertEqual(texts, ["hello"])

    def test_chunk_before_a_name(self) -> None:
        """
        A chunk from a connection that has not given its name is refused:
        it does not count as the user called "None".
        """
        none, none_t = self.connect("None")
        data = b"0123456789"
        none.dataReceived(  # type: ignore[attr-defined]
            f"/file offer bob 10 {digest(data)} plan.pdf\r\n".encode()
        )
        [upload] = self.events(none_t)
        nameless = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 2))
        nameless_t = StringTransport()
        nameless.makeConnection(nameless_t)
        nameless.dataReceived(
            b"/mode json\r\n"
            + f"/file chunk {upload['id']} 0 5\r\n".encode()
            + b"01234"
        )
        [error] = [e for e in self.events(nameless_t) if e["type"] == "error"]
        self.assertEqual(error["code"], "not-joined")
        none.dataReceived(  # type: ignore[attr-defined]
            f"/file resume {upload['id']}\r\n".encode()
        )
        [resumed] = self.events(none_t)
        self.assertEqual((resumed["type"], resumed["offset"]), ("file-upload", 0))

    def test_error_fields(self) -> None:
        """
        File errors carry the file's id (and where to go on from) for
        programs, besides the text.
        """
        data = b"0123456789"
        self.alice.dataReceived(  # type: ignore[attr-defined]
            f"/file offer bob 10 {digest(data)} n\r\n".encode()
        )
        [upload] = self.events(self.alice_t)
        self.alice.dataReceived(  # type: ignore[attr-defined]
            f"/file chunk {upload['id']} 4 2\r\n".encode() + b"45"
        )
        error = self.events(self.alice_t)[-1]
        self.assertEqual(
            (error["code"], error["id"], error["offset"]),
            ("bad-offset", upload["id"], 0),
        )
        self.bob.dataReceived(b"/file get 999 0\r\n")  # type: ignore[attr-defined]
        [error] = [e for e in self.events(self.bob_t) if e["type"] == "error"]
        self.assertEqual((error["code"], error["id"]), ("no-such-file", 999))


class BatchingTests(TransfersTestCase):
    """
    With a disk slower than the network, chunks queue up and are written
    in batches; past a few, the connection's input is held.
    """

    def setUp(self) -> None:
        super().setUp()
        self.calls: list[tuple[Deferred[object], object, tuple[object, ...]]] = []

        def manual(f: object, *args: object, **kwargs: object) -> Deferred[object]:
            d: Deferred[object] = Deferred()
            self.calls.append((d, f, args))
            return d

        self.dispatcher.transfers._io = manual

    def run_io(self) -> None:
        """
        Carry out the oldest file operation.
        """
        d, f, args = self.calls.pop(0)
        d.callback(f(*args))  # type: ignore[operator]

    def send_ten(
        self, data: bytes, sha256: str | None = None
    ) -> tuple[int, list[Deferred[None] | None]]:
        """
        Offer C{data} (10,000 bytes) and send it in ten chunks while the
        first one's write is still running.
        """
        sha256 = sha256 or digest(data)
        self.send(self.alice, f"/file offer bob {len(data)} {sha256} batch.bin")
        # An offer opens nothing: the first write makes the .part file.
        self.assertEqual(self.calls, [])
        [upload] = of(self.alice.take(), FileUpload)
        transfers = self.dispatcher.transfers
        held = []
        for i in range(10):
            result = transfers.chunk(
                self.alice, upload.id, i * 1000, data[i * 1000 : (i + 1) * 1000]
            )
            held.append(result)
        return upload.id, held

    def test_batches(self) -> None:
        """
        Chunks queued behind a write go to the disk in one batch, and each
        is acknowledged: a client counts one file-ack per chunk.
        """
        data = os.urandom(10 * 1000)
        _, held = self.send_ten(data)
        # The first chunk went to the thread alone; the next eight queued
        # behind it; at the eighth queued the input is held; the tenth is
        # the last and waits for the check.
        self.assertEqual([h is None for h in held], [True] * 8 + [False, False])
        self.assertEqual(len(self.calls), 1)
        self.run_io()
        self.assertEqual([e.offset for e in of(self.alice.take(), FileAck)], [1000])
        self.assertTrue(held[8].called)  # type: ignore[union-attr]
        self.assertFalse(held[9].called)  # type: ignore[union-attr]
        self.assertEqual(len(self.calls), 1)  # chunks 2-10 in one write
        self.run_io()  # the write
        self.assertEqual(
            [e.offset for e in of(self.alice.take(), FileAck)],
            list(range(2000, 10001, 1000)),
        )
        self.assertFalse(held[9].called)  # type: ignore[union-attr]
        self.run_io()  # the check
        self.assertIsNone(self.successResultOf(held[9]))  # type: ignore[arg-type]
        [offer] = of(self.bob.take(), FileOffer)
        self.assertEqual(offer.size, len(data))

    def test_last_chunk_waits_for_the_check(self) -> None:
        """
        The last chunk's request is answered by the checksum check, even
        when an earlier write finishes after it arrived.
        """
        data = os.urandom(10 * 1000)
        _, held = self.send_ten(data, sha256="0" * 64)
        self.run_io()  # the first write: it releases chunk 9, not the last
        self.assertFalse(held[9].called)  # type: ignore[union-attr]
        self.run_io()  # chunks 2-10
        self.run_io()  # the check
        self.assertIsInstance(
            self.failureResultOf(held[9]).value,
            ChecksumMismatch,
        )
        self.assertEqual(of(self.alice.take(), FileSent), [])

    def test_cancelled_during_a_write(self) -> None:
        """
        A cancel while chunks wait behind a write drops them: nothing
        reopens the file, and the held request goes on.
        """
        data = os.urandom(10 * 1000)
        file_id, held = self.send_ten(data)
        self.send(self.alice, f"/file cancel {file_id}")
        self.run_io()  # the first write finishes
        while self.calls:  # the cancel's close and removal
            self.assertNotEqual(self.calls[0][1], _write)
            self.run_io()
        self.assertTrue(held[8].called)  # type: ignore[union-attr]
        self.assertIsNone(self.successResultOf(held[9]))  # type: ignore[arg-type]
        [done] = of(self.alice.take(), FileDone)
        self.assertTrue(done.declined)
        self.assertEqual(os.listdir(self.dispatcher.transfers.spool), [])
