"""
Tests for file transfer in the client, L{chat.client.files}, through
L{chat.client.session.ClientSession} and its views.

The test plays the server on a L{StringTransport}: it reads the lines and
raw chunk frames the client wrote, and feeds back JSON events and raw
chunks, as C{docs/protocol.rst} ("File transfer") describes them.  Hashing
"in a thread" runs through L{Threads}, which runs the work at once or when
told, so no test needs a reactor or a sleep.  Files live in
C{self.mktemp()} directories.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from chat.client.files import (
    CHUNK_SIZE,
    DONE,
    DOWNLOAD_WINDOW,
    FAILED,
    SENDING,
    UPLOAD_WINDOW,
    Progress,
    ProgressThrottle,
    human_time,
    numbered,
    place,
    safe_name,
)
from chat.client.format import plain
from chat.client.main import ClientOptions
from chat.client.script import ScriptView
from chat.client.session import SYNC_LINE, ClientSession
from chat.client.tui import TUIView
from chat.units import human_size
from tests.client.test_session import (
    SERVER,
    FakeTransport,
    SessionTestCase,
    event,
)
from tests.client.test_tui import SIZE

_T = TypeVar("_T")

# What the client writes: a line, or a chunk frame (id, offset, bytes).
Frame = str | tuple[int, int, bytes]


class Threads:
    """
    A stand-in for C{deferToThread}: runs the work at once, or, when
    C{hold} is set, only when L{run_all} is called (the reactor goes on
    meanwhile).
    """

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.held: list[tuple[Callable[[], Any], Deferred[Any]]] = []

    def __call__(self, work: Callable[[], _T], /) -> Deferred[_T]:
        d: Deferred[_T] = Deferred()
        self.held.append((work, d))
        if not self.hold:
            self.run_all()
        return d

    def run_all(self) -> None:
        held, self.held = self.held, []
        for work, d in held:
            try:
                result = work()
            except Exception:
                d.errback(Failure())
            else:
                d.callback(result)


def content(size: int, seed: int = 1) -> bytes:
    """
    C{size} reproducible pseudo-random bytes (every chunk different).
    """
    return random.Random(seed).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def frames(transport: FakeTransport) -> list[Frame]:
    """
    What the client wrote since the last call: lines, and C{/file chunk}
    frames as (id, offset, bytes).
    """
    data: bytes = transport.value()
    transport.clear()
    out: list[Frame] = []
    while data:
        line, _, data = data.partition(b"\n")
        text = line.decode("utf-8")
        if text.startswith("/file chunk "):
            ident, offset, length = (int(w) for w in text.split()[2:])
            out.append((ident, offset, data[:length]))
            data = data[length:]
        else:
            out.append(text)
    return out


def lines_of(sent: list[Frame]) -> list[str]:
    return [f for f in sent if isinstance(f, str)]


def chunks_of(sent: list[Frame]) -> list[tuple[int, int, bytes]]:
    return [f for f in sent if not isinstance(f, str)]


def json_line(kind: str, **fields: Any) -> bytes:
    return json.dumps(event(kind, **fields)).encode("utf-8") + b"\n"


def chunk_frame(ident: int, offset: int, data: bytes) -> bytes:
    """
    A C{file-chunk} event and its raw bytes, as the server sends them.
    """
    return json_line("file-chunk", id=ident, offset=offset, size=len(data)) + data


def offer_fields(
    data: bytes, name: str = "report.pdf", ident: int = 7, **more: Any
) -> dict[str, Any]:
    return {
        "id": ident,
        "from": "bob",
        "name": name,
        "size": len(data),
        "sha256": sha(data),
        "room": None,
        "expires": "2026-11-28T15:48:16.495Z",
        **more,
    }


class FilesTestCase(SessionTestCase):
    """
    A session joined as alice, with a download directory and L{Threads}.
    """

    def setUp(self) -> None:
        super().setUp()
        self.threads = Threads()
        self.downloads = os.path.abspath(self.mktemp())
        os.makedirs(self.downloads)
        self.auto_accept = False

    def make_session(self, name: str | None = "alice", **options: Any) -> ClientSession:
        return ClientSession(
            self.view,
            self.endpoint,
            server=SERVER,
            tls=False,
            clock=self.clock,
            name=name,
            download_dir=self.downloads,
            auto_accept=self.auto_accept,
            run_in_thread=self.threads,
            **options,
        )

    def file(self, data: bytes, name: str = "report.pdf") -> str:
        """
        A file holding C{data}, in a directory of its own.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def start_upload(
        self,
        transport: FakeTransport,
        session: ClientSession,
        data: bytes,
        target: str = "bob",
        ident: int = 7,
    ) -> list[Frame]:
        """
        C{/send} a file holding C{data}; answer the barrier and the offer.

        @return: what the client sent after the offer was accepted.
        """
        path = self.file(data)
        session.input_line(f"/send {target} {path}")
        self.assertEqual(
            frames(transport),
            [SYNC_LINE, f"/file offer {target} {len(data)} {sha(data)} report.pdf"],
        )
        transport.receive_event("mode", mode="json")
        transport.receive_event(
            "file-upload", id=ident, offset=0, name="report.pdf", size=len(data)
        )
        return frames(transport)

    def serve_gets(
        self,
        transport: FakeTransport,
        data: bytes,
        ident: int = 7,
        split: int | None = None,
    ) -> list[str]:
        """
        Answer every C{/file get} with its chunk of C{data} (fed C{split}
        bytes at a time if given) until the client asks for no more.

        @return: the other lines the client sent meanwhile.
        """
        others: list[str] = []
        while True:
            sent = lines_of(frames(transport))
            gets = [line for line in sent if line.startswith(f"/file get {ident} ")]
            others += [line for line in sent if line not in gets]
            if not gets:
                return others
            for line in gets:
                offset = int(line.split()[-1])
                reply = chunk_frame(ident, offset, data[offset : offset + CHUNK_SIZE])
                step = split or len(reply)
                for start in range(0, len(reply), step):
                    transport.receive(reply[start : start + step])

    def saved(self, name: str) -> bytes:
        with open(os.path.join(self.downloads, name), "rb") as f:
            return f.read()


class UploadTests(FilesTestCase):
    """
    C{/send}: hash, offer, then chunks within a window of acknowledgements.
    """

    def test_offer_after_hashing_in_thread(self) -> None:
        """
        The file is hashed off the reactor thread; the offer (after a
        L{SYNC_LINE}) goes only when the hash is known, and chat lines typed
        meanwhile go out at once.
        """
        self.threads.hold = True
        session, transport = self.joined()
        data = content(1000)
        path = self.file(data, "notes.txt")
        session.input_line(f"/send bob {path}")
        session.input_line("bob*hashing now")
        self.assertEqual(frames(transport), ["bob*hashing now"])
        self.threads.run_all()
        self.assertEqual(
            frames(transport),
            [SYNC_LINE, f"/file offer bob 1000 {sha(data)} notes.txt"],
        )

    def test_window_and_acks(self) -> None:
        """
        At most L{UPLOAD_WINDOW} chunks of 64 KiB are unacknowledged: each
        C{file-ack} lets one more go; the bytes sent are the file's, and
        C{file-sent} ends the upload.
        """
        session, transport = self.joined()
        data = content(20 * CHUNK_SIZE + 100)
        first = self.start_upload(transport, session, data)
        self.assertEqual(len(first), UPLOAD_WINDOW)
        self.assertEqual(
            [(i, o, len(d)) for i, o, d in chunks_of(first)],
            [(7, n * CHUNK_SIZE, CHUNK_SIZE) for n in range(UPLOAD_WINDOW)],
        )
        transport.receive_event("file-ack", id=7, offset=CHUNK_SIZE)
        [(_, offset, _)] = chunks_of(frames(transport))
        self.assertEqual(offset, UPLOAD_WINDOW * CHUNK_SIZE)
        # Acknowledge the rest, one by one.
        received = b"".join(d for _, _, d in chunks_of(first))
        received += data[UPLOAD_WINDOW * CHUNK_SIZE : (UPLOAD_WINDOW + 1) * CHUNK_SIZE]
        acked = CHUNK_SIZE
        while acked < len(received):
            acked += CHUNK_SIZE
            transport.receive_event("file-ack", id=7, offset=min(acked, len(data)))
            received += b"".join(d for _, _, d in chunks_of(frames(transport)))
        self.assertEqual(received, data)
        self.assertTrue(session.transfers.busy())
        transport.receive_event(
            "file-sent", id=7, to="bob", name="report.pdf", stored=False
        )
        self.assertFalse(session.transfers.busy())
        self.assertEqual(self.view.progresses[-1].state, DONE)
        self.assertEqual(
            plain(self.view.events[-1]), "* sent report.pdf (file 7) to bob"
        )
        self.assertEqual(self.view.errors, [])

    def test_chat_line_goes_before_remaining_chunks(self) -> None:
        """
        A line typed during an upload is written at once, behind the chunks
        already in flight and before any further chunk.
        """
        session, transport = self.joined()
        data = content(40 * CHUNK_SIZE)
        self.start_upload(transport, session, data)
        session.input_line("bob*still there?")
        transport.receive_event("file-ack", id=7, offset=CHUNK_SIZE)
        sent = frames(transport)
        self.assertEqual(sent[0], "bob*still there?")
        self.assertEqual(
            [(i, o) for i, o, _ in chunks_of(sent[1:])],
            [(7, UPLOAD_WINDOW * CHUNK_SIZE)],
        )

    def test_reads_only_what_the_window_allows(self) -> None:
        """
        The file is read a chunk at a time as the window opens: with the
        window full, nothing more has been read from it.
        """
        session, transport = self.joined()
        data = content(40 * CHUNK_SIZE)
        self.start_upload(transport, session, data)
        [upload] = session.transfers._uploads
        assert upload.file is not None
        self.assertEqual(upload.file.tell(), UPLOAD_WINDOW * CHUNK_SIZE)

    def test_offer_answer_after_barrier(self) -> None:
        """
        An error answering a line sent before the offer (it comes before
        the L{SYNC_LINE}'s answer) is shown as it is; the error after it
        refuses the offer.
        """
        session, transport = self.joined()
        data = content(100)
        session.input_line("carol*hi")
        session.input_line(f"/send carol {self.file(data)}")
        frames(transport)
        transport.receive_event(
            "error", code="no-such-user", text="carol is not online."
        )
        self.assertEqual(self.view.errors, ["ERROR: carol is not online."])
        self.assertTrue(session.transfers.busy())
        transport.receive_event("mode", mode="json")
        transport.receive_event(
            "error", code="no-such-user", text="carol is not online."
        )
        self.assertEqual(
            self.view.errors[1],
            "ERROR: cannot send report.pdf to carol: carol is not online.",
        )
        self.assertFalse(session.transfers.busy())

    def test_file_too_large(self) -> None:
        """
        A refused offer (C{file-too-large}, C{quota-exceeded}) is an error
        naming the file and the server's reason; nothing is sent.
        """
        session, transport = self.joined()
        session.input_line(f"/send bob {self.file(content(10))}")
        frames(transport)
        transport.receive_event("mode", mode="json")
        transport.receive_event(
            "error", code="file-too-large", text="files are at most 100 bytes."
        )
        self.assertEqual(
            self.view.errors,
            ["ERROR: cannot send report.pdf to bob: files are at most 100 bytes."],
        )
        self.assertEqual(frames(transport), [])

    def test_no_such_file_to_send(self) -> None:
        """
        A path that is not a file is refused before anything is sent.
        """
        session, transport = self.joined()
        missing = os.path.join(self.mktemp(), "nope.bin")
        session.input_line(f"/send bob {missing}")
        self.assertEqual(
            self.view.errors, [f"ERROR: cannot send {missing}: no such file"]
        )
        session.input_line("/send bob")
        self.assertEqual(self.view.errors[-1], "ERROR: usage: /send NAME|#room PATH")
        self.assertEqual(frames(transport), [])

    def test_ids_ascii_digits(self) -> None:
        """
        A file id is ASCII digits: C{/accept ²} (a digit to C{str.isdigit},
        not to C{int}) is a usage error, not a crash of the client.
        """
        session, transport = self.joined()
        for command in ("/accept", "/decline", "/cancel"):
            session.input_line(f"{command} \u00b2")
            self.assertTrue(self.view.errors[-1].startswith(f"ERROR: usage: {command}"))
        self.assertEqual(frames(transport), [])

    def test_room_and_quoted_path(self) -> None:
        """
        C{/send #room PATH} offers to the room; a path with spaces may be
        quoted.
        """
        session, transport = self.joined()
        data = content(10)
        path = self.file(data, "my notes.txt")
        session.input_line(f'/send #team "{path}"')
        self.assertEqual(
            frames(transport),
            [SYNC_LINE, f"/file offer #team 10 {sha(data)} my notes.txt"],
        )

    def test_checksum_mismatch(self) -> None:
        """
        C{checksum-mismatch} after the last acknowledgement fails the
        upload with the server's reason.
        """
        session, transport = self.joined()
        data = content(CHUNK_SIZE + 10)
        self.start_upload(transport, session, data)
        transport.receive_event("file-ack", id=7, offset=CHUNK_SIZE)
        transport.receive_event("file-ack", id=7, offset=len(data))
        transport.receive_event(
            "error",
            code="checksum-mismatch",
            text="report.pdf arrived damaged; it was discarded.  Send it again.",
        )
        self.assertEqual(
            self.view.errors,
            [
                "ERROR: sending report.pdf (file 7) to bob failed: report.pdf "
                "arrived damaged; it was discarded.  Send it again."
            ],
        )
        self.assertFalse(session.transfers.busy())
        self.assertEqual(self.view.progresses[-1].state, FAILED)

    def test_bad_offset_from_text(self) -> None:
        """
        On C{bad-offset} (as the server sends it: C{file-upload} with its
        offset, then the error) the client waits for the answers to the
        chunks in flight, then goes on from the server's offset.
        """
        session, transport = self.joined()
        data = content(30 * CHUNK_SIZE)
        self.start_upload(transport, session, data)
        transport.receive_event("file-ack", id=7, offset=CHUNK_SIZE)
        frames(transport)  # chunk 16
        # The server lost chunk 1: it has one chunk; chunks 1 to 16 are bad.
        for _ in range(UPLOAD_WINDOW):
            transport.receive_event(
                "file-upload", id=7, offset=CHUNK_SIZE, name="report.pdf", size=0
            )
            transport.receive_event(
                "error",
                code="bad-offset",
                text=f"file 7: the server has {CHUNK_SIZE} bytes; send from there "
                "(that chunk was discarded).",
                id=7,
                offset=CHUNK_SIZE,
            )
            if _ < UPLOAD_WINDOW - 1:
                self.assertEqual(frames(transport), [])
        resent = chunks_of(frames(transport))
        self.assertEqual(
            [o for _, o, _ in resent],
            [n * CHUNK_SIZE for n in range(1, UPLOAD_WINDOW + 1)],
        )
        self.assertEqual(resent[0][2], data[CHUNK_SIZE : 2 * CHUNK_SIZE])
        self.assertEqual(self.view.errors, [])

    def test_bad_offset_field(self) -> None:
        """
        The C{id} and C{offset} fields of C{bad-offset} say where to go on
        from; an acknowledgement overtaken by the errors (the server acknowledges
        once the chunk is on disk) does not move the upload back.
        """
        session, transport = self.joined()
        data = content(3 * CHUNK_SIZE)
        self.assertEqual(len(self.start_upload(transport, session, data)), 3)
        transport.receive_event("error", code="bad-offset", id=7, offset=CHUNK_SIZE)
        transport.receive_event("file-ack", id=7, offset=CHUNK_SIZE)
        self.assertEqual(frames(transport), [])
        transport.receive_event("error", code="bad-offset", id=7, offset=CHUNK_SIZE)
        self.assertEqual(
            [o for _, o, _ in chunks_of(frames(transport))],
            [CHUNK_SIZE, 2 * CHUNK_SIZE],
        )
        self.assertEqual(self.view.errors, [])

    def test_error_naming_a_file(self) -> None:
        """
        An error goes to the transfer its C{id} field names (answers may
        overtake each other, so their order cannot tell).
        """
        session, transport = self.joined()
        self.start_upload(transport, session, content(3 * CHUNK_SIZE), ident=7)
        self.start_upload(transport, session, content(3 * CHUNK_SIZE), ident=8)
        transport.receive_event(
            "error", code="no-such-file", text="there is no file 8 for you.", id=8
        )
        self.assertEqual(
            self.view.errors,
            [
                "ERROR: sending report.pdf (file 8) to bob failed: there is no "
                "file 8 for you."
            ],
        )
        self.assertIsNotNone(session.transfers.upload(7))
        self.assertIsNone(session.transfers.upload(8))
        transport.receive_event("file-ack", id=7, offset=CHUNK_SIZE)
        transport.receive_event(
            "error", code="no-such-file", text="there is no file 8 for you.", id=8
        )
        self.assertEqual(len(self.view.errors), 1)

    def test_resume_after_reconnect(self) -> None:
        """
        After a dropped connection the upload asks where to go on
        (C{/file resume ID}) and sends from there, read again from the file.
        """
        session, transport = self.joined()
        data = content(20 * CHUNK_SIZE)
        self.start_upload(transport, session, data)
        for n in range(1, 4):
            transport.receive_event("file-ack", id=7, offset=n * CHUNK_SIZE)
        transport.server_close(Failure(ConnectionLost("gone")))
        self.assertTrue(session.transfers.busy())
        self.clock.advance(2)
        again = self.endpoint.last
        again.receive_event("prompt", prompt="name", text="name?")
        self.welcome(again)
        self.assertEqual(frames(again)[-1], "/file resume 7")
        again.receive_event(
            "file-upload", id=7, offset=2 * CHUNK_SIZE, name="report.pdf", size=0
        )
        resent = chunks_of(frames(again))
        self.assertEqual(
            resent[0][1:], (2 * CHUNK_SIZE, data[2 * CHUNK_SIZE : 3 * CHUNK_SIZE])
        )
        self.assertEqual(len(resent), UPLOAD_WINDOW)
        received = data[: 2 * CHUNK_SIZE] + b"".join(d for _, _, d in resent)
        for _, offset, part in resent:
            again.receive_event("file-ack", id=7, offset=offset + len(part))
            received += b"".join(d for _, _, d in chunks_of(frames(again)))
        self.assertEqual(received, data)

    def test_offer_again_if_unanswered(self) -> None:
        """
        An offer whose answer was lost with the connection is made again.
        """
        session, transport = self.joined()
        data = content(10)
        session.input_line(f"/send bob {self.file(data)}")
        frames(transport)
        transport.server_close(Failure(ConnectionLost("gone")))
        self.clock.advance(2)
        again = self.endpoint.last
        again.receive_event("prompt", prompt="name", text="name?")
        self.welcome(again)
        self.assertEqual(
            frames(again)[-2:],
            [SYNC_LINE, f"/file offer bob 10 {sha(data)} report.pdf"],
        )

    def test_cancel(self) -> None:
        """
        C{/cancel ID} stops sending and tells the server; the answers to
        what was in flight, and the server's C{file-declined}, are not
        shown.
        """
        session, transport = self.joined()
        self.start_upload(transport, session, content(30 * CHUNK_SIZE))
        session.input_line("/cancel 7")
        self.assertEqual(frames(transport), ["/file cancel 7"])
        self.assertFalse(session.transfers.busy())
        transport.receive_event("file-ack", id=7, offset=CHUNK_SIZE)
        transport.receive_event("file-declined", id=7, to="bob", name="report.pdf")
        self.assertEqual(frames(transport), [])
        self.assertEqual(
            self.view.notices,
            [
                "preparing report.pdf for bob (checksum)",
                "cancelled sending report.pdf (file 7)",
            ],
        )
        self.assertEqual([e["type"] for e in self.view.events], ["welcome"])

    def test_chunk_line_typed_refused(self) -> None:
        """
        C{/file chunk} typed by hand is refused: its raw bytes would be
        taken from the lines after it.
        """
        session, transport = self.joined()
        session.input_line("/file chunk 7 0 10")
        self.assertEqual(
            self.view.errors, ["ERROR: /file chunk is the client's own; use /send"]
        )
        session.input_line("/file list")
        self.assertEqual(frames(transport), ["/file list"])


class DownloadTests(FilesTestCase):
    """
    C{file-offer}, C{/accept} and the download into C{NAME.part}.
    """

    def offer(self, transport: FakeTransport, data: bytes, **more: Any) -> None:
        transport.receive_event("file-offer", **offer_fields(data, **more))

    def test_offer_accept_download(self) -> None:
        """
        The offer is shown; C{/accept} asks for L{DOWNLOAD_WINDOW} chunks at
        once, writes them to C{NAME.part}, and once all are in and the
        SHA-256 matches, renames it and sends C{/file done}.
        """
        session, transport = self.joined()
        data = content(20 * CHUNK_SIZE + 5)
        self.offer(transport, data)
        self.assertEqual(
            plain(self.view.events[-1]),
            "* bob offers report.pdf (1.3 MiB), file 7; /accept 7 or /decline 7",
        )
        session.input_line("/accept 7")
        gets = lines_of(frames(transport))
        self.assertEqual(
            gets, [f"/file get 7 {n * CHUNK_SIZE}" for n in range(DOWNLOAD_WINDOW)]
        )
        transport.receive(chunk_frame(7, 0, data[:CHUNK_SIZE]))
        part = os.path.join(self.downloads, "report.pdf.part")
        self.assertEqual(os.path.getsize(part), CHUNK_SIZE)
        self.assertEqual(
            lines_of(frames(transport)), [f"/file get 7 {DOWNLOAD_WINDOW * CHUNK_SIZE}"]
        )
        for n in [*range(1, DOWNLOAD_WINDOW), DOWNLOAD_WINDOW]:
            offset = n * CHUNK_SIZE
            transport.receive(
                chunk_frame(7, offset, data[offset : offset + CHUNK_SIZE])
            )
        others = self.serve_gets(transport, data)
        self.assertEqual(others, ["/file done 7"])
        self.assertEqual(self.saved("report.pdf"), data)
        self.assertFalse(os.path.exists(part))
        saved = self.view.events[-1]
        self.assertEqual(saved["type"], "file-saved")
        self.assertEqual(
            plain(saved),
            f"* saved report.pdf (1.3 MiB) from bob as "
            f"{os.path.join(self.downloads, 'report.pdf')}",
        )
        self.assertFalse(session.transfers.busy())
        self.assertEqual(self.view.errors, [])

    def test_split_raw_frames(self) -> None:
        """
        A chunk's bytes may come split anywhere, and the lines after it in
        the same read: exactly C{size} bytes are taken, then lines again.
        """
        session, transport = self.joined()
        data = content(3 * CHUNK_SIZE + 3)
        self.offer(transport, data)
        session.input_line("/accept 7")
        frames(transport)
        for offset in range(0, len(data), CHUNK_SIZE):
            reply = chunk_frame(7, offset, data[offset : offset + CHUNK_SIZE])
            # A message glued to the chunk's end, then one byte at a time
            # around the line/raw boundary.
            reply += json_line("message", **{"from": "bob"}, text=f"at {offset}")
            cut = reply.index(b"\n") - 3
            transport.receive(reply[:cut])
            for byte in reply[cut : cut + 10]:
                transport.receive(bytes([byte]))
            transport.receive(reply[cut + 10 : -40])
            transport.receive(reply[-40:])
        self.assertEqual(self.saved("report.pdf"), data)
        self.assertEqual(
            [e["text"] for e in self.view.events if e["type"] == "message"],
            [f"at {n * CHUNK_SIZE}" for n in range(4)],
        )
        self.assertEqual(self.view.errors, [])

    def test_byte_by_byte(self) -> None:
        """
        A small file fed one byte at a time arrives whole.
        """
        session, transport = self.joined()
        data = content(300)
        self.offer(transport, data)
        session.input_line("/accept 7")
        others = self.serve_gets(transport, data, split=1)
        self.assertEqual(others, ["/file done 7"])
        self.assertEqual(self.saved("report.pdf"), data)

    def test_checksum_mismatch(self) -> None:
        """
        Bytes that do not hash to the offer's SHA-256 are an error: the
        partial file is deleted and nothing is saved or confirmed.
        """
        session, transport = self.joined()
        data = content(2 * CHUNK_SIZE)
        self.offer(transport, data)
        session.input_line("/accept 7")
        damaged = data[:100] + b"X" + data[101:]
        others = self.serve_gets(transport, damaged)
        self.assertEqual(others, [])
        self.assertEqual(os.listdir(self.downloads), [])
        [error] = self.view.errors
        self.assertEqual(
            error,
            "ERROR: report.pdf (file 7) from bob is damaged (its SHA-256 does not "
            "match the offer); the partial file was deleted",
        )
        self.assertFalse(session.transfers.busy())

    def test_name_collision(self) -> None:
        """
        An existing file is never replaced: the download gets the first free
        name of C{NAME (1).ext}, C{NAME (2).ext}...
        """
        for name in ("report.pdf", "report (1).pdf"):
            with open(os.path.join(self.downloads, name), "wb") as f:
                f.write(b"mine")
        session, transport = self.joined()
        data = content(10)
        self.offer(transport, data)
        session.input_line("/accept 7")
        self.serve_gets(transport, data)
        self.assertEqual(self.saved("report.pdf"), b"mine")
        self.assertEqual(self.saved("report (1).pdf"), b"mine")
        self.assertEqual(self.saved("report (2).pdf"), data)
        self.assertEqual(numbered("archive", 3), "archive (3)")
        self.assertEqual(numbered(".profile", 1), ".profile (1)")

    def test_unsafe_name(self) -> None:
        """
        The offered name loses any directory part and control characters.
        """
        self.assertEqual(safe_name("../../etc/passwd", 7), "passwd")
        self.assertEqual(safe_name("..\\evil\x1b[2J.txt", 7), "evil[2J.txt")
        self.assertEqual(safe_name("..", 7), "file-7")
        self.assertEqual(len(safe_name("a" * 300 + ".pdf", 7)), 200)
        session, transport = self.joined()
        data = content(10)
        self.offer(transport, data, name="../../x.sh")
        session.input_line("/accept 7")
        self.serve_gets(transport, data)
        self.assertEqual(os.listdir(self.downloads), ["x.sh"])

    def test_accept_into_directory(self) -> None:
        """
        C{/accept ID DIR} saves into DIR; a DIR that is not a directory and
        an unknown id are errors.
        """
        session, transport = self.joined()
        data = content(10)
        self.offer(transport, data)
        session.input_line("/accept 8")
        session.input_line(f"/accept 7 {os.path.join(self.downloads, 'nope')}")
        self.assertEqual(
            self.view.errors,
            [
                "ERROR: no file 8 is offered to you; /file list lists them.",
                f"ERROR: {os.path.join(self.downloads, 'nope')} is not a directory.",
            ],
        )
        other = self.mktemp()
        os.makedirs(other)
        session.input_line(f"/accept 7 {other}")
        self.serve_gets(transport, data)
        with open(os.path.join(other, "report.pdf"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_decline(self) -> None:
        """
        C{/decline ID} tells the server and forgets the offer.
        """
        session, transport = self.joined()
        self.offer(transport, content(10))
        session.input_line("/decline 7")
        self.assertEqual(frames(transport), ["/file decline 7"])
        session.input_line("/accept 7")
        self.assertIn("no file 7", self.view.errors[-1])

    def test_resume_after_reconnect(self) -> None:
        """
        A download interrupted by a dropped connection goes on after the
        reconnection from the size of the partial file.
        """
        session, transport = self.joined()
        data = content(12 * CHUNK_SIZE)
        self.offer(transport, data)
        session.input_line("/accept 7")
        frames(transport)
        for n in range(3):
            offset = n * CHUNK_SIZE
            transport.receive(
                chunk_frame(7, offset, data[offset : offset + CHUNK_SIZE])
            )
        # Half of the fourth chunk, then the connection drops.
        transport.receive(
            chunk_frame(7, 3 * CHUNK_SIZE, data[3 * CHUNK_SIZE : 4 * CHUNK_SIZE])[:-100]
        )
        transport.server_close(Failure(ConnectionLost("gone")))
        part = os.path.join(self.downloads, "report.pdf.part")
        self.assertEqual(os.path.getsize(part), 3 * CHUNK_SIZE)
        self.clock.advance(2)
        again = self.endpoint.last
        again.receive_event("prompt", prompt="name", text="name?")
        self.welcome(again)
        gets = [line for line in lines_of(frames(again)) if "/file get" in line]
        self.assertEqual(gets[0], f"/file get 7 {3 * CHUNK_SIZE}")
        self.assertEqual(len(gets), DOWNLOAD_WINDOW)
        for line in gets:
            offset = int(line.split()[-1])
            again.receive(chunk_frame(7, offset, data[offset : offset + CHUNK_SIZE]))
        self.serve_gets(again, data)
        self.assertEqual(self.saved("report.pdf"), data)

    def test_resume_from_partial_file(self) -> None:
        """
        Accepting a file whose C{.part} is already there (an earlier run)
        hashes the partial bytes in a thread, then fetches only the rest.
        """
        data = content(5 * CHUNK_SIZE)
        with open(os.path.join(self.downloads, "report.pdf.part"), "wb") as f:
            f.write(data[: 2 * CHUNK_SIZE + 10])
        self.threads.hold = True
        session, transport = self.joined()
        self.offer(transport, data)
        session.input_line("/accept 7")
        self.assertEqual(frames(transport), [])
        self.threads.run_all()
        self.assertEqual(
            lines_of(frames(transport)),
            [f"/file get 7 {2 * CHUNK_SIZE + 10 + n * CHUNK_SIZE}" for n in range(3)],
        )
        self.threads.hold = False
        for n in range(3):
            offset = 2 * CHUNK_SIZE + 10 + n * CHUNK_SIZE
            transport.receive(
                chunk_frame(7, offset, data[offset : offset + CHUNK_SIZE])
            )
        self.assertEqual(lines_of(frames(transport)), ["/file done 7"])
        self.assertEqual(self.saved("report.pdf"), data)

    def test_stale_partial_file(self) -> None:
        """
        A C{.part} left by another file with the same name is found out by
        the checksum: the file is fetched again from the start.
        """
        data = content(3 * CHUNK_SIZE)
        with open(os.path.join(self.downloads, "report.pdf.part"), "wb") as f:
            f.write(b"something else")
        session, transport = self.joined()
        self.offer(transport, data)
        session.input_line("/accept 7")
        self.assertEqual(self.serve_gets(transport, data), ["/file done 7"])
        self.assertEqual(self.saved("report.pdf"), data)
        self.assertIn("held the start of another file", self.view.notices[-1])
        self.assertEqual(self.view.errors, [])

    def test_short_chunks(self) -> None:
        """
        A chunk shorter than asked for (not at the end) makes the client ask
        again from where its copy ends; the chunks answering the gets sent
        before are dropped.
        """
        session, transport = self.joined()
        data = content(4 * CHUNK_SIZE)
        self.offer(transport, data)
        session.input_line("/accept 7")
        gets = lines_of(frames(transport))
        self.assertEqual(len(gets), 4)
        transport.receive(chunk_frame(7, 0, data[:1000]))
        for n in range(1, 4):
            offset = n * CHUNK_SIZE
            transport.receive(
                chunk_frame(7, offset, data[offset : offset + CHUNK_SIZE])
            )
        again = lines_of(frames(transport))
        self.assertEqual(
            again, [f"/file get 7 {1000 + n * CHUNK_SIZE}" for n in range(4)]
        )
        for line in again:
            offset = int(line.split()[-1])
            transport.receive(
                chunk_frame(7, offset, data[offset : offset + CHUNK_SIZE])
            )
        self.assertEqual(self.serve_gets(transport, data), ["/file done 7"])
        self.assertEqual(self.saved("report.pdf"), data)

    def test_server_error_during_download(self) -> None:
        """
        C{no-such-file} answering a get (the offer expired) fails the
        download once; the answers to the other gets are not shown again.
        """
        session, transport = self.joined()
        self.offer(transport, content(5 * CHUNK_SIZE))
        session.input_line("/accept 7")
        frames(transport)
        for _ in range(5):
            transport.receive_event(
                "error", code="no-such-file", text="there is no file 7 for you."
            )
        self.assertEqual(
            self.view.errors,
            [
                "ERROR: receiving report.pdf (file 7) from bob failed: there is "
                "no file 7 for you."
            ],
        )
        self.assertEqual(os.listdir(self.downloads), [])

    def test_empty_file(self) -> None:
        """
        An empty file needs no chunk: it is saved at once.
        """
        session, transport = self.joined()
        self.offer(transport, b"")
        session.input_line("/accept 7")
        self.assertEqual(lines_of(frames(transport)), ["/file done 7"])
        self.assertEqual(self.saved("report.pdf"), b"")

    def test_bad_chunk_size_drops_connection(self) -> None:
        """
        A C{file-chunk} without a believable size loses the framing: the
        client says so and drops the connection (to reconnect).
        """
        session, transport = self.joined()
        transport.receive(json_line("file-chunk", id=7, offset=0, size="many"))
        self.assertTrue(transport.disconnecting)
        self.assertIn("file chunk of size 'many'", self.view.errors[-1])

    def test_unasked_chunk_skipped(self) -> None:
        """
        The bytes of a chunk nobody asked for are skipped, and the lines
        after them read.
        """
        session, transport = self.joined()
        transport.receive(
            chunk_frame(9, 0, b"\n{not json}\n" * 10)
            + json_line("message", **{"from": "bob"}, text="after")
        )
        self.assertEqual(
            [e.get("text") for e in self.view.events if e["type"] == "message"],
            ["after"],
        )


class ScriptTests(FilesTestCase):
    """
    Scriptable mode: C{--auto-accept}, progress lines, and a script's end
    of input waiting for its transfers.
    """

    def setUp(self) -> None:
        super().setUp()
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.view = ScriptView(self.out, self.err)  # type: ignore[assignment]

    def script_session(self) -> tuple[ClientSession, FakeTransport]:
        session, transport = self.joined()
        self.view.session = session  # type: ignore[attr-defined]
        self.view.when_finished(lambda code: None)  # type: ignore[attr-defined]
        self.out.seek(0)
        self.out.truncate()
        return session, transport

    def test_auto_accept(self) -> None:
        """
        With C{--auto-accept} an offered file is fetched without asking,
        and where it was saved is printed.
        """
        self.auto_accept = True
        session, transport = self.script_session()
        data = content(2 * CHUNK_SIZE)
        transport.receive_event("file-offer", **offer_fields(data))
        self.serve_gets(transport, data)
        path = os.path.join(self.downloads, "report.pdf")
        self.assertEqual(
            self.out.getvalue().splitlines(),
            [
                "* bob offers report.pdf (128.0 KiB), file 7; /accept 7 or /decline 7",
                f"* saved report.pdf (128.0 KiB) from bob as {path}",
            ],
        )
        self.assertEqual(self.saved("report.pdf"), data)

    def test_progress_lines(self) -> None:
        """
        An upload prints a progress line at the start, then at most one a
        second unless another tenth went by, and a final one.
        """
        session, transport = self.script_session()
        data = content(100 * CHUNK_SIZE)
        self.start_upload(transport, session, data)
        received = 0
        while received < len(data):
            received = min(len(data), received + CHUNK_SIZE)
            self.clock.advance(0.1)  # 64 KiB per 0.1 s: 640 KiB/s
            transport.receive_event("file-ack", id=7, offset=received)
            frames(transport)
        transport.receive_event(
            "file-sent", id=7, to="bob", name="report.pdf", stored=True
        )
        lines = self.err.getvalue().splitlines()
        progress = [line for line in lines if line.startswith("* sending")]
        self.assertEqual(progress[0], "* sending report.pdf to bob: 0%")
        self.assertEqual(
            progress[1], "* sending report.pdf to bob: 10% 640.0 KiB/s 9 s left"
        )
        self.assertEqual(len(progress), 11)
        self.assertEqual(progress[-1], "* sending report.pdf to bob: 100% 640.0 KiB/s")
        self.assertEqual(
            lines[-1], "* sent report.pdf to bob: 6.2 MiB in 10 s (640.0 KiB/s)"
        )
        self.assertEqual(
            self.out.getvalue().splitlines(),
            [
                "* sent report.pdf (file 7) to bob; those offline get it when "
                "they log in"
            ],
        )

    def test_end_of_input_waits_for_upload(self) -> None:
        """
        A script's input may end right after C{/send}: the session quits
        only once the file is sent.
        """
        session, transport = self.script_session()
        data = content(CHUNK_SIZE)
        path = self.file(data)
        session.input_line(f"/send bob {path}")
        session.end_of_input()
        self.assertEqual(frames(transport)[-1].split()[:2], ["/file", "offer"])  # type: ignore[union-attr]
        transport.receive_event("mode", mode="json")
        transport.receive_event(
            "file-upload", id=7, offset=0, name="report.pdf", size=CHUNK_SIZE
        )
        transport.receive_event("file-ack", id=7, offset=CHUNK_SIZE)
        self.assertEqual(len(chunks_of(frames(transport))), 1)
        transport.receive_event(
            "file-sent", id=7, to="bob", name="report.pdf", stored=False
        )
        self.assertEqual(frames(transport), ["/quit"])


class ProgressTests(SynchronousTestCase):
    """
    L{Progress} texts, L{ProgressThrottle}, and the full-screen bar.
    """

    def progress(
        self, done: int, at: float, state: str = SENDING, **more: Any
    ) -> Progress:
        fields: dict[str, Any] = {
            "key": 1,
            "sending": True,
            "name": "report.pdf",
            "peer": "bob",
            "done": done,
            "size": 1000,
            "rate": None,
            "left": None,
            "elapsed": at,
            "state": state,
            "at": at,
            **more,
        }
        return Progress(**fields)

    def test_texts(self) -> None:
        """
        Sizes and times read like people write them.
        """
        self.assertEqual(human_size(512), "512 B")
        self.assertEqual(human_size(2 * 1024 * 1024), "2.0 MiB")
        self.assertEqual(human_time(0.42), "0.4 s")
        self.assertEqual(human_time(2.4), "2 s")
        self.assertEqual(human_time(185), "3 min 5 s")
        self.assertEqual(human_time(3720), "1 h 2 min")
        self.assertEqual(
            self.progress(450, 1, rate=12.3 * 1024 * 1024, left=2).describe(),
            "sending report.pdf to bob: 45% 12.3 MiB/s 2 s left",
        )
        received = self.progress(1000, 4, DONE, sending=False)
        self.assertEqual(
            received.describe(), "received report.pdf from bob: 1000 B in 4 s (250 B/s)"
        )

    def test_throttle(self) -> None:
        """
        The first report is due, then one per second or per ten percent,
        and the end; a failure prints no progress line.
        """
        throttle = ProgressThrottle()
        due = [
            throttle.due(self.progress(done, at))
            for done, at in [(0, 0), (50, 0.5), (110, 0.6), (120, 1.0), (130, 1.7)]
        ]
        self.assertEqual(due, [True, False, True, False, True])
        self.assertTrue(throttle.due(self.progress(1000, 2, DONE)))
        self.assertFalse(throttle.due(self.progress(10, 3, FAILED)))

    def test_bar_in_tui(self) -> None:
        """
        The full-screen view shows a running transfer as a bar with rate and
        time left above the status line, and removes it when it ends.
        """
        view = TUIView(Clock())
        view.progress(self.progress(450, 1, rate=1024.0, left=2))
        rows = [r.decode().rstrip() for r in view.widget.render(SIZE).text]
        self.assertEqual(
            rows[-3],
            "send report.pdf to bob [#########-----------] 45% 1.0 KiB/s 2 s left",
        )
        view.progress(self.progress(1000, 2, DONE))
        rows = [r.decode().rstrip() for r in view.widget.render(SIZE).text]
        self.assertNotIn("report.pdf", "\n".join(rows))


class FormatTests(SynchronousTestCase):
    """
    Plain lines for the file events.
    """

    def test_events(self) -> None:
        """
        Offers (to a room too), deliveries, refusals and lists read well.
        """
        data = b"x" * 2048
        self.assertEqual(
            plain(event("file-offer", **offer_fields(data, room="#team"))),
            "* bob offers in #team report.pdf (2.0 KiB), file 7; "
            "/accept 7 or /decline 7",
        )
        self.assertEqual(
            plain(event("file-delivered", id=7, to="bob", name="report.pdf")),
            "* bob received report.pdf (file 7)",
        )
        self.assertEqual(
            plain(event("file-declined", id=7, to="bob", name="report.pdf")),
            "* bob declined report.pdf (file 7)",
        )
        self.assertEqual(
            plain(
                event(
                    "file-list",
                    offers=[offer_fields(data)],
                    uploads=[
                        {
                            "id": 9,
                            "to": "carol",
                            "name": "a.bin",
                            "size": 4096,
                            "offset": 1024,
                        }
                    ],
                )
            ),
            "* files for you (1): 7 report.pdf (2.0 KiB) from bob\n"
            "* your uploads (1): 9 a.bin to carol, 1.0 KiB of 4.0 KiB",
        )
        self.assertIsNone(plain(event("file-ack", id=7, offset=5)))

    def test_place_never_replaces(self) -> None:
        """
        L{place} takes the first free numbered name and leaves the files
        with the taken ones alone.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        for name in ("a.txt", "a (1).txt", "part"):
            with open(os.path.join(directory, name), "w") as f:
                f.write(name)
        self.assertEqual(
            place(os.path.join(directory, "part"), directory, "a.txt"),
            os.path.join(directory, "a (2).txt"),
        )
        self.assertEqual(
            sorted(os.listdir(directory)), ["a (1).txt", "a (2).txt", "a.txt"]
        )


class OptionsTests(SynchronousTestCase):
    """
    C{--download-dir} and C{--auto-accept}.
    """

    def test_options(self) -> None:
        """
        The download directory defaults to the current one and must exist.
        """
        self.assertEqual(ClientOptions([])["download_dir"], ".")
        self.assertFalse(ClientOptions([])["auto_accept"])
        directory = self.mktemp()
        os.makedirs(directory)
        options = ClientOptions(["--download-dir", directory, "--auto-accept"])
        self.assertEqual(options["download_dir"], directory)
        self.assertTrue(options["auto_accept"])
        with self.assertRaises(UsageError):
            ClientOptions(["--download-dir", os.path.join(directory, "nope")])
