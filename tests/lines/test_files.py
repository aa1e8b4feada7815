"""
Tests for files through the line door (L{chat.lines.protocol}): the raw
bytes of a chunk framed between lines, the download frame, and file
errors as JSON clients see them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from chat.lines.factory import ChatFactory
from chat.lines.protocol import ChatProtocol
from tests.support import CoreTestCase


def digest(data: bytes) -> str:
    """
    The hex SHA-256 of C{data}, as a sender offers it.
    """
    return hashlib.sha256(data).hexdigest()


class FileFramingTests(CoreTestCase):
    """
    The raw bytes of a chunk follow its line exactly, however the input is
    cut, and chat lines around them are read as lines.  Alice and Bob are
    connected in JSON mode.
    """

    def setUp(self) -> None:
        super().setUp()
        self.factory = ChatFactory(self.core)
        self.alice, self.alice_t = self.connect_line("alice")
        self.bob, self.bob_t = self.connect_line("bob")
        self.received(self.alice_t)

    def connect_line(
        self, name: str | None, *, mode: str = "json", port: int = 1
    ) -> tuple[ChatProtocol, StringTransport]:
        """
        A new connection in C{mode}, given the name C{name} unless it is
        L{None}; what it was sent so far is dropped.
        """
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", port))
        transport = StringTransport()
        protocol.makeConnection(transport)
        lines = f"/mode {mode}\r\n" if mode != "text" else ""
        if name is not None:
            lines += f"{name}\r\n"
        protocol.dataReceived(lines.encode())
        self.received(transport)
        return protocol, transport

    def received(self, transport: StringTransport) -> bytes:
        """
        What C{transport} was sent since last asked, once the turn is over.
        """
        self.clock.advance(0)
        data: bytes = transport.value()
        transport.clear()
        return data

    def events(self, transport: StringTransport) -> list[dict[str, Any]]:
        """
        The JSON objects C{transport} was sent since last asked.
        """
        lines = self.received(transport).split(b"\r\n")
        return [json.loads(line) for line in lines if line.startswith(b"{")]

    def offer(self, data: bytes, name: str = "notes.txt") -> int:
        """
        Alice offers C{data} to Bob: the id she is to upload it under.
        """
        self.alice.dataReceived(
            f"/file offer bob {len(data)} {digest(data)} {name}\r\n".encode()
        )
        [upload] = self.events(self.alice_t)
        self.assertEqual((upload["type"], upload["offset"]), ("file-upload", 0))
        file_id: int = upload["id"]
        return file_id

    def test_chunks_between_lines(self) -> None:
        """
        A chunk whose bytes hold line ends and NULs, cut at every byte,
        with chat lines before and after it, arrives whole; the chat lines
        are relayed.
        """
        data = b"a\nb\x00c\r\nd" * 100
        file_id = self.offer(data)
        stream = (
            b"before\r\n"
            + f"/file chunk {file_id} 0 {len(data)}\r\n".encode()
            + data
            + b"after\r\n"
        )
        for i in range(len(stream)):
            self.alice.dataReceived(stream[i : i + 1])
        types = [e["type"] for e in self.events(self.alice_t)]
        self.assertEqual(types, ["file-ack", "file-sent"])
        received = self.events(self.bob_t)
        self.assertEqual(
            [e.get("text") for e in received if e["type"] == "message"],
            ["before", "after"],
        )
        self.assertEqual([e["type"] for e in received].count("file-offer"), 1)
        self.assertEqual(self.spool.complete, {file_id: data})

    def test_chunk_in_one_segment(self) -> None:
        """
        Header, bytes and the next line in one segment.
        """
        data = b"\n" * 10
        file_id = self.offer(data)
        self.alice.dataReceived(
            f"/file chunk {file_id} 0 10\r\n".encode() + data + b"hi\r\n"
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
        file_id = self.offer(data)
        self.alice.dataReceived(
            f"/file chunk {file_id} 0 {len(data)}\r\n".encode() + data
        )
        self.received(self.bob_t)
        self.bob.dataReceived(f"/file get {file_id} 0\r\n".encode())
        header, _, rest = self.received(self.bob_t).partition(b"\r\n")
        chunk = json.loads(header)
        self.assertEqual(
            (chunk["type"], chunk["id"], chunk["offset"], chunk["size"]),
            ("file-chunk", file_id, 0, len(data)),
        )
        self.assertEqual(rest, data)

    def test_bad_chunk_header(self) -> None:
        """
        A malformed chunk line is an error and no bytes are swallowed.
        """
        self.alice.dataReceived(b"/file chunk 1 0 99999999\r\nhello\r\n")
        self.alice.dataReceived(b"/file chunk 1 zero 5\r\nworld\r\n")
        events = self.events(self.alice_t)
        self.assertEqual(
            [(e["type"], e["code"]) for e in events], [("error", "usage")] * 2
        )
        texts = [
            e.get("text") for e in self.events(self.bob_t) if e["type"] == "message"
        ]
        self.assertEqual(texts, ["hello", "world"])

    def test_chunk_before_a_name(self) -> None:
        """
        A chunk from a connection that has not given its name is refused
        (its bytes are read and dropped): it does not count as the user
        called "None".
        """
        none, none_t = self.connect_line("None", port=2)
        data = b"0123456789"
        none.dataReceived(f"/file offer bob 10 {digest(data)} plan.pdf\r\n".encode())
        [upload] = self.events(none_t)
        nameless, nameless_t = self.connect_line(None, port=3)
        nameless.dataReceived(
            f"/file chunk {upload['id']} 0 5\r\n".encode() + b"01234" + b"/users\r\n"
        )
        errors = [e for e in self.events(nameless_t) if e["type"] == "error"]
        self.assertEqual([e["code"] for e in errors], ["not-joined", "not-joined"])
        none.dataReceived(f"/file resume {upload['id']}\r\n".encode())
        [resumed] = self.events(none_t)
        self.assertEqual((resumed["type"], resumed["offset"]), ("file-upload", 0))

    def test_error_fields(self) -> None:
        """
        File errors carry the file's id (and where to go on from) for
        programs, besides the text.
        """
        file_id = self.offer(b"0123456789")
        self.alice.dataReceived(f"/file chunk {file_id} 4 2\r\n".encode() + b"45")
        error = self.events(self.alice_t)[-1]
        self.assertEqual(
            (error["type"], error["code"], error["id"], error["offset"]),
            ("error", "bad-offset", file_id, 0),
        )
        self.bob.dataReceived(b"/file get 999 0\r\n")
        [error] = [e for e in self.events(self.bob_t) if e["type"] == "error"]
        self.assertEqual((error["code"], error["id"]), ("no-such-file", 999))

    def test_text_mode_needs_json(self) -> None:
        """
        File data travels in JSON mode only: in text mode an offer, a
        chunk (its bytes are read and dropped), a resume and a get are
        refused; listing one's files is not.
        """
        carol, carol_t = self.connect_line("carol", mode="text", port=4)
        carol.dataReceived(
            f"/file offer bob 5 {digest(b'hello')} f\r\n".encode()
            + b"/file chunk 1 0 5\r\nhello"
            + b"/file resume 1\r\n"
            + b"/file get 1 0\r\n"
            + b"/file list\r\n"
        )
        lines = self.received(carol_t).decode().splitlines()
        refusal = (
            "ERROR: files travel in JSON mode only: use chat-client (or /mode json)."
        )
        self.assertEqual(lines[:4], [refusal] * 4)
        self.assertEqual(len(lines), 5)
        self.assertNotIn("ERROR", lines[4])
        self.assertEqual(self.successResultOf(self.store.uploads_of("carol")), [])
