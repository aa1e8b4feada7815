"""
Tests for file transfer in the chat core (L{chat.core.transfers}), through
the typed session API, over a L{MemoryStore} and a L{MemorySpool} (or a
spool whose requests the test carries out by hand).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer
from zope.interface.verify import verifyObject

from chat.core.core import ChatCore
from chat.errors import ChecksumMismatch
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
from chat.store.interface import FileRecord
from chat.store.memory import MemoryStore
from chat.store.spool import ISpool, MemorySpool
from tests.support import CoreTestCase, Person, fake_hasher


def digest(data: bytes) -> str:
    """
    The hex SHA-256 of C{data}, as a sender offers it.
    """
    return hashlib.sha256(data).hexdigest()


@dataclass
class _Request:
    """
    A request to a L{ManualSpool}, waiting to be carried out.
    """

    what: str
    chunks: int
    call: Callable[[], Deferred[Any]]
    result: Deferred[Any]


@implementer(ISpool)
class ManualSpool:
    """
    An L{ISpool} over a L{MemorySpool} whose requests are carried out only
    when the test says (L{run}), one at a time and in the order they were
    made, as L{chat.store.spool.DirectorySpool}'s thread does: a disk
    slower than the network.  Starting and closing answer at once.

    @ivar memory: where the bytes are.
    @ivar waiting: the requests not carried out yet, oldest first.
    """

    def __init__(self) -> None:
        self.memory = MemorySpool()
        self.waiting: list[_Request] = []

    def pending(self) -> list[str]:
        """
        What the waiting requests are (C{"write"}, C{"finish"}, ...).
        """
        return [request.what for request in self.waiting]

    def run(self) -> str:
        """
        Carry out the oldest waiting request.

        @return: what it was.
        """
        request = self.waiting.pop(0)
        request.call().chainDeferred(request.result)
        return request.what

    def _later(
        self, what: str, call: Callable[[], Deferred[Any]], chunks: int = 0
    ) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.waiting.append(_Request(what, chunks, call, d))
        return d

    def start(self) -> Deferred[None]:
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)

    def write(
        self, file_id: int, offset: int, chunks: Sequence[bytes]
    ) -> Deferred[None]:
        chunks = list(chunks)
        return self._later(
            "write", lambda: self.memory.write(file_id, offset, chunks), len(chunks)
        )

    def finish(self, file_id: int, sha256: str) -> Deferred[str]:
        return self._later("finish", lambda: self.memory.finish(file_id, sha256))

    def received(self, file_id: int) -> Deferred[int]:
        return self._later("received", lambda: self.memory.received(file_id))

    def partial_size(self, file_id: int) -> Deferred[int]:
        return self._later("partial_size", lambda: self.memory.partial_size(file_id))

    def read(self, file_id: int, offset: int, length: int) -> Deferred[bytes]:
        return self._later("read", lambda: self.memory.read(file_id, offset, length))

    def release(self, file_id: int) -> Deferred[None]:
        return self._later("release", lambda: self.memory.release(file_id))

    def remove(self, file_id: int) -> Deferred[None]:
        return self._later("remove", lambda: self.memory.remove(file_id))


class TransfersTestCase(CoreTestCase):
    """
    Alice and Bob online as guests.
    """

    def setUp(self) -> None:
        super().setUp()
        self.enter()

    def enter(self) -> None:
        """
        Alice and Bob come online on the current core.
        """
        self.alice = self.guest("alice")
        self.bob = self.guest("bob")
        self.alice.take()

    def new_core(self, spool: ISpool | None = None) -> ChatCore:
        """
        A started core on the test's store and C{spool} (by default the
        test's spool), as the server builds it.
        """
        core = ChatCore(
            self.clock,
            self.store,
            self.spool if spool is None else spool,
            fake_hasher(),
            limits=self.limits,
        )
        self.successResultOf(core.start())
        return core

    def restart(self) -> None:
        """
        The server stops and starts again on the same store and spool:
        nobody is online on the new core.
        """
        self.successResultOf(self.core.stopping())
        self.successResultOf(self.core.close())
        self.core = self.new_core()

    def spool_files(self, spool: MemorySpool | None = None) -> list[str]:
        """
        The copies C{spool} (by default the test's) holds, named as
        L{chat.store.spool.DirectorySpool} names its files: C{7.part} for
        a partial copy, C{7} for a complete one.
        """
        spool = self.spool if spool is None else spool
        return sorted(
            [f"{file_id}.part" for file_id in spool.partial]
            + [str(file_id) for file_id in spool.complete]
        )

    def offer(self, data: bytes, to: str = "bob", name: str = "report.pdf") -> int:
        """
        Alice offers C{data} to C{to}: the id she is to upload it under.
        """
        self.alice.session.offer_file(to, len(data), digest(data), name)
        [upload] = self.of_type(self.alice.take(), FileUpload)
        self.assertEqual((upload.offset, upload.size), (0, len(data)))
        return upload.id

    def chunk(self, file_id: int, offset: int, data: bytes) -> list[Event]:
        """
        Alice sends a chunk of file C{file_id}: what she was sent after.
        """
        self.alice.session.file_chunk(file_id, offset, data)
        return self.alice.take()

    def upload(self, data: bytes, to: str = "bob") -> int:
        """
        Alice offers and uploads C{data} to C{to}, in chunks as large as
        they may be: the file's id.
        """
        file_id = self.offer(data, to)
        chunk_max = self.limits.chunk_max
        for offset in range(0, len(data), chunk_max):
            events = self.chunk(file_id, offset, data[offset : offset + chunk_max])
            self.assertEqual(self.errors(events), [])
        return file_id

    def download(self, person: Person, file_id: int, size: int) -> bytes:
        """
        C{person} fetches the C{size} bytes of file C{file_id}, chunk by
        chunk.
        """
        data = b""
        while len(data) < size:
            person.session.get_file(file_id, len(data))
            [chunk] = self.of_type(person.take(), FileChunk)
            self.assertEqual(chunk.offset, len(data))
            data += chunk.data
        return data


class UploadTests(TransfersTestCase):
    """
    Offering and uploading files.
    """

    def test_round_trip(self) -> None:
        """
        A file of several chunks goes up, is acknowledged chunk by chunk,
        checked, offered to the recipient, and comes down byte-identical;
        once fetched it leaves the spool and the sender is told.
        """
        chunk_max = self.limits.chunk_max
        data = os.urandom(3 * chunk_max + 123)
        file_id = self.offer(data)
        acks = []
        for offset in range(0, len(data), chunk_max):
            events = self.chunk(file_id, offset, data[offset : offset + chunk_max])
            acks += [e.offset for e in self.of_type(events, FileAck)]
        self.assertEqual(acks, [chunk_max, 2 * chunk_max, 3 * chunk_max, len(data)])
        [sent] = self.of_type(events, FileSent)
        self.assertEqual((sent.to, sent.stored), ("bob", False))
        [offer] = self.of_type(self.bob.take(), FileOffer)
        self.assertEqual(
            (offer.id, offer.sender, offer.name, offer.size, offer.sha256),
            (file_id, "alice", "report.pdf", len(data), digest(data)),
        )
        self.assertEqual(self.download(self.bob, file_id, len(data)), data)
        self.bob.session.file_done(file_id)
        [done] = self.of_type(self.alice.take(), FileDone)
        self.assertEqual((done.to, done.declined), ("bob", False))
        self.assertEqual(self.spool_files(), [])

    def test_checksum_mismatch(self) -> None:
        """
        Bytes that do not hash to the offered SHA-256 are refused at the
        end, and nothing is offered or kept.
        """
        file_id = self.offer(b"x" * 1000)
        events = self.chunk(file_id, 0, b"y" * 1000)
        self.assertEqual(self.errors(events), ["checksum-mismatch"])
        self.assertEqual(self.of_type(self.bob.take(), FileOffer), [])
        self.assertEqual(self.spool_files(), [])
        self.alice.session.resume_upload(file_id)
        self.assertEqual(self.errors(self.alice.take()), ["no-such-file"])

    def test_bad_offset(self) -> None:
        """
        A chunk at the wrong place, or past the file's end, is discarded,
        and the sender is told where to go on from.
        """
        file_id = self.offer(b"abcdef")
        events = self.chunk(file_id, 3, b"def")
        self.assertEqual(self.errors(events), ["bad-offset"])
        self.assertEqual([e.offset for e in self.of_type(events, FileUpload)], [0])
        events = self.chunk(file_id, 0, b"abcdefg")
        self.assertEqual(self.errors(events), ["bad-offset"])
        self.chunk(file_id, 0, b"abc")
        events = self.chunk(file_id, 3, b"def")
        self.assertEqual(len(self.of_type(events, FileSent)), 1)

    def test_uploads_at_once(self) -> None:
        """
        A sender has at most L{Limits.uploads_at_once} uploads under way
        (each may hold a file open); cancelling one makes room.
        """
        ids = [
            self.offer(b"xy", name=f"f{i}") for i in range(self.limits.uploads_at_once)
        ]
        self.alice.session.offer_file("bob", 2, digest(b"xy"), "one-more")
        self.assertEqual(self.errors(self.alice.take()), ["throttled"])
        self.alice.session.cancel_file(ids[0])
        self.alice.take()
        self.offer(b"xy", name="now-there-is-room")

    def test_sender_cancels(self) -> None:
        """
        Cancelling drops a half-sent upload, and a sent file not yet
        fetched, answering with a declined file-done for the target; the
        recipient can no longer fetch it.
        """
        half = self.offer(b"0123456789", name="half.bin")
        self.chunk(half, 0, b"01234")
        whole = self.upload(b"whole")
        self.alice.take()
        self.bob.take()
        self.assertEqual(self.spool_files(), sorted([f"{half}.part", f"{whole}"]))
        for file_id in (half, whole):
            self.alice.session.cancel_file(file_id)
            [done] = self.of_type(self.alice.take(), FileDone)
            self.assertEqual((done.id, done.to, done.declined), (file_id, "bob", True))
        self.assertEqual(self.spool_files(), [])
        self.bob.session.get_file(whole, 0)
        self.assertEqual(self.errors(self.bob.take()), ["no-such-file"])
        self.assertEqual(self.errors(self.chunk(half, 5, b"56789")), ["no-such-file"])

    def test_name_is_a_base_name(self) -> None:
        """
        Only the last component of the offered name is kept, whatever the
        separators: a path cannot escape anywhere; at most 255 characters
        of it.
        """
        self.alice.session.offer_file("bob", 1, digest(b"x"), "../../etc/passwd")
        self.alice.session.offer_file("bob", 1, digest(b"x"), "C:\\Users\\a\\n.txt")
        self.alice.session.offer_file("bob", 1, digest(b"x"), "../..")
        self.alice.session.offer_file("bob", 1, digest(b"x"), "/tmp/" + "n" * 255)
        self.alice.session.offer_file("bob", 1, digest(b"x"), "n" * 256)
        events = self.alice.take()
        self.assertEqual(
            [e.name for e in self.of_type(events, FileUpload)],
            ["passwd", "n.txt", "n" * 255],
        )
        self.assertEqual(self.errors(events), ["usage", "usage"])

    def register_both(self) -> None:
        """
        Alice and Bob register their names.
        """
        for person in (self.alice, self.bob):
            person.session.register("sesame1")
            person.take()

    def test_resume(self) -> None:
        """
        An upload cut off by a dropped connection goes on from where the
        server's copy ends, once the sender is back (logged in to her
        account); the result checks out.
        """
        self.register_both()
        chunk_max = self.limits.chunk_max
        data = os.urandom(2 * chunk_max)
        file_id = self.offer(data)
        self.chunk(file_id, 0, data[:chunk_max])
        self.alice.session.closed("connection lost", delivered=False)
        alice, _ = self.log_in("alice")
        alice.session.files()
        [listing] = self.of_type(alice.take(), FileList)
        self.assertEqual(
            [(u.id, u.offset) for u in listing.uploads], [(file_id, chunk_max)]
        )
        alice.session.resume_upload(file_id)
        [upload] = self.of_type(alice.take(), FileUpload)
        self.assertEqual(upload.offset, chunk_max)
        alice.session.file_chunk(file_id, chunk_max, data[chunk_max:])
        self.assertEqual(len(self.of_type(alice.take(), FileSent)), 1)
        [offer] = self.of_type(self.bob.take(), FileOffer)
        self.assertEqual(self.download(self.bob, offer.id, len(data)), data)

    def test_resume_after_restart(self) -> None:
        """
        After a restart (a new core on the same store and spool), what the
        spool holds of an upload is where it goes on from.
        """
        self.register_both()
        chunk_max = self.limits.chunk_max
        data = os.urandom(chunk_max + 10)
        file_id = self.offer(data)
        self.chunk(file_id, 0, data[:chunk_max])
        self.restart()
        self.alice, _ = self.log_in("alice")
        self.bob, _ = self.log_in("bob")
        self.alice.session.files()
        [listing] = self.of_type(self.alice.take(), FileList)
        self.assertEqual(
            [(u.id, u.offset) for u in listing.uploads], [(file_id, chunk_max)]
        )
        self.alice.session.resume_upload(file_id)
        [resumed] = self.of_type(self.alice.take(), FileUpload)
        self.assertEqual(resumed.offset, chunk_max)
        events = self.chunk(file_id, chunk_max, data[chunk_max:])
        [sent] = self.of_type(events, FileSent)
        self.assertEqual((sent.id, sent.stored), (file_id, False))
        self.assertEqual(self.download(self.bob, file_id, len(data)), data)

    def test_others_cannot_touch(self) -> None:
        """
        Only the sender resumes, uploads to or cancels a file, only its
        recipients fetch, finish or decline it.
        """
        file_id = self.upload(b"secret")
        half = self.offer(b"half of it")
        carol = self.guest("carol")
        carol.session.get_file(file_id, 0)
        carol.session.cancel_file(file_id)
        carol.session.file_done(file_id)
        carol.session.decline_file(file_id)
        carol.session.resume_upload(half)
        carol.session.file_chunk(half, 0, b"half")
        carol.session.cancel_file(half)
        self.assertEqual(self.errors(carol.take()), ["no-such-file"] * 7)
        self.alice.session.get_file(file_id, 0)
        self.assertEqual(self.errors(self.alice.take()), ["no-such-file"])
        self.assertEqual(self.spool_files(), [str(file_id)])


class SixtyFourBitStore(MemoryStore):
    """
    A L{MemoryStore} that refuses ids SQLite cannot hold, as C{sqlite3}
    does: with an C{OverflowError}.
    """

    def get_file(self, file_id: int) -> Deferred[FileRecord | None]:
        if file_id >= 2**63:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return super().get_file(file_id)

    def remove_recipient(self, file_id: int, recipient_key: str) -> Deferred[int]:
        if file_id >= 2**63:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return super().remove_recipient(file_id, recipient_key)


class HugeIdTests(TransfersTestCase):
    """
    An id larger than any file can have names no file, and never reaches
    the store (which could not take it).
    """

    def setUp(self) -> None:
        self.store = SixtyFourBitStore()
        super().setUp()

    def test_no_such_file(self) -> None:
        """
        Every request naming a file by a number past 64 bits is told there
        is no such file; a download's offset before the start is refused.
        """
        huge = 2**64
        session = self.bob.session
        session.get_file(huge, 0)
        session.file_done(huge)
        session.decline_file(huge)
        session.resume_upload(huge)
        session.file_chunk(huge, 0, b"data")
        session.cancel_file(huge)
        self.assertEqual(self.errors(self.bob.take()), ["no-such-file"] * 6)
        file_id = self.upload(b"fine")
        session.get_file(file_id, -1)
        self.assertEqual(self.errors(self.bob.take()), ["bad-offset"])


class LimitTests(TransfersTestCase):
    """
    What a sender may offer: size, quota, target and form.
    """

    limits = replace(CoreTestCase.limits, file_max_size=100, file_quota=150)

    def test_limits(self) -> None:
        """
        Files over the size limit, or past the sender's quota, are refused
        before any byte is sent; so are unknown targets and malformed
        offers.
        """
        empty = digest(b"")
        self.alice.session.offer_file("bob", 101, empty, "big")
        self.assertEqual(self.errors(self.alice.take()), ["file-too-large"])
        self.offer(b"x" * 100)
        self.alice.session.offer_file("bob", 60, empty, "more")
        self.alice.session.offer_file("nobody", 1, empty, "f")
        self.alice.session.offer_file("#nowhere", 1, empty, "f")
        self.alice.session.offer_file("bob", 1, "nothex", "f")
        self.alice.session.offer_file("alice", 1, empty, "f")
        self.alice.session.offer_file("bob", -1, empty, "f")
        self.assertEqual(
            self.errors(self.alice.take()),
            [
                "quota-exceeded",
                "no-such-user",
                "not-in-room",
                "usage",
                "usage",
                "usage",
            ],
        )
        self.offer(b"y" * 50)
        self.alice.session.offer_file("bob", 1, digest(b"z"), "one-more")
        self.assertEqual(self.errors(self.alice.take()), ["quota-exceeded"])

    def test_chunk_size(self) -> None:
        """
        A chunk is 1 to L{Limits.chunk_max} bytes.
        """
        file_id = self.offer(b"x" * 100)
        self.assertEqual(self.errors(self.chunk(file_id, 0, b"")), ["usage"])
        self.assertEqual(self.errors(self.chunk(file_id, 0, b"x" * 100)), [])


class DeliveryTests(TransfersTestCase):
    """
    Who is offered a file, when, and for how long.
    """

    def test_offline_recipient(self) -> None:
        """
        A file to a registered user who is offline waits, and is offered at
        the next login.
        """
        self.registered("dave")
        file_id = self.offer(b"for later", to="dave")
        [sent] = self.of_type(self.chunk(file_id, 0, b"for later"), FileSent)
        self.assertTrue(sent.stored)
        dave, events = self.log_in("dave")
        [offer] = self.of_type(events, FileOffer)
        self.assertEqual((offer.id, offer.name), (file_id, "report.pdf"))
        self.assertEqual(self.download(dave, file_id, 9), b"for later")

    def test_decline(self) -> None:
        """
        A declined file is gone from the spool and the sender is told.
        """
        file_id = self.upload(b"no thanks")
        self.alice.take()
        self.assertEqual(self.spool_files(), [str(file_id)])
        self.bob.session.decline_file(file_id)
        [done] = self.of_type(self.alice.take(), FileDone)
        self.assertEqual((done.id, done.to, done.declined), (file_id, "bob", True))
        self.assertEqual(self.spool_files(), [])
        self.bob.session.get_file(file_id, 0)
        self.assertEqual(self.errors(self.bob.take()), ["no-such-file"])

    def test_room(self) -> None:
        """
        A file to a room is offered to every other member, and stays until
        the last of them has it.
        """
        carol = self.guest("carol")
        for person in (self.alice, self.bob, carol):
            person.session.join("#team")
        file_id = self.upload(b"minutes", to="#team")
        offers = [self.of_type(p.take(), FileOffer) for p in (self.bob, carol)]
        self.assertEqual([[o.room for o in x] for x in offers], [["#team"], ["#team"]])
        self.bob.session.file_done(file_id)
        self.assertEqual(self.errors(self.bob.take()), [])
        self.assertEqual(self.spool_files(), [str(file_id)])
        self.assertEqual(self.download(carol, file_id, 7), b"minutes")
        carol.session.file_done(file_id)
        self.assertEqual(self.spool_files(), [])

    def test_guest_recipient_leaves(self) -> None:
        """
        A guest who disconnects loses its offers; the file goes when nobody
        is left to fetch it.
        """
        file_id = self.upload(b"bye")
        self.assertEqual(self.spool_files(), [str(file_id)])
        self.bob.session.quit()
        self.assertEqual(self.spool_files(), [])

    def test_guest_leaves_after_another_fetched(self) -> None:
        """
        A guest who leaves loses a room file's offer even after another
        member fetched it (which keeps the file's record at hand): the
        next guest of that name cannot fetch it.
        """
        carol = self.guest("carol")
        for person in (self.alice, self.bob, carol):
            person.session.join("#team")
        file_id = self.upload(b"minutes", to="#team")
        self.assertEqual(self.download(carol, file_id, 7), b"minutes")
        self.bob.session.quit()
        other_bob = self.guest("bob")
        other_bob.session.get_file(file_id, 0)
        self.assertEqual(self.errors(other_bob.take()), ["no-such-file"])

    def test_expiry(self) -> None:
        """
        Files past their age, complete or not, are deleted from the store
        and the spool.
        """
        file_id = self.upload(b"old")
        half = self.offer(b"half of it")
        self.chunk(half, 0, b"half")
        self.assertEqual(self.spool_files(), sorted([str(file_id), f"{half}.part"]))
        self.clock.advance(self.limits.file_age - 1)
        self.successResultOf(self.core.expire())
        self.assertEqual(self.spool_files(), sorted([str(file_id), f"{half}.part"]))
        self.clock.advance(2)
        self.successResultOf(self.core.expire())
        self.assertEqual(self.spool_files(), [])
        self.bob.session.files()
        [listing] = self.of_type(self.bob.take(), FileList)
        self.assertEqual(listing.offers, ())
        self.assertEqual(self.errors(self.chunk(half, 4, b" of it")), ["no-such-file"])


class BatchingTests(TransfersTestCase):
    """
    With a spool slower than the network, chunks queue up and are written
    in batches; past L{Limits.writes_ahead}, the sender's input is held.
    """

    def setUp(self) -> None:
        super().setUp()
        self.manual = ManualSpool()
        self.core = self.new_core(self.manual)
        self.enter()

    def test_manual_spool(self) -> None:
        """
        The test double provides L{ISpool}.
        """
        self.assertTrue(verifyObject(ISpool, self.manual))

    def send_ten(
        self, data: bytes, sha256: str | None = None
    ) -> tuple[int, list[Deferred[None] | None]]:
        """
        Offer C{data} (10,000 bytes) and hand the core its ten chunks of
        1,000 bytes while the first one's write is under way.

        @return: the file's id, and what each chunk's request returned.
        """
        sha256 = sha256 or digest(data)
        self.alice.session.offer_file("bob", len(data), sha256, "batch.bin")
        # An offer opens nothing: the first write makes the partial copy.
        self.assertEqual(self.manual.pending(), [])
        [upload] = self.of_type(self.alice.take(), FileUpload)
        transfers = self.core.transfers
        held = [
            transfers.chunk(
                self.alice.session,
                upload.id,
                i * 1000,
                data[i * 1000 : (i + 1) * 1000],
            )
            for i in range(10)
        ]
        return upload.id, held

    def acks(self) -> list[int]:
        """
        The offsets of the file-acks Alice was sent since last asked.
        """
        return [e.offset for e in self.of_type(self.alice.take(), FileAck)]

    def test_batches(self) -> None:
        """
        Chunks queued behind a write go to the spool in one batch, and each
        is acknowledged: a client counts one file-ack per chunk.
        """
        data = os.urandom(10 * 1000)
        _, held = self.send_ten(data)
        # The first chunk went to the spool alone; the next eight queued
        # behind it; at the eighth queued the sender is held; the tenth is
        # the last and waits for the check.
        self.assertEqual([h is None for h in held], [True] * 8 + [False, False])
        last, ninth = held[9], held[8]
        assert last is not None and ninth is not None
        self.assertEqual(
            [(r.what, r.chunks) for r in self.manual.waiting], [("write", 1)]
        )
        self.manual.run()
        self.assertEqual(self.acks(), [1000])
        self.assertTrue(ninth.called)
        self.assertFalse(last.called)
        # Chunks 2 to 10 in one write.
        self.assertEqual(
            [(r.what, r.chunks) for r in self.manual.waiting], [("write", 9)]
        )
        self.manual.run()
        self.assertEqual(self.acks(), list(range(2000, 10001, 1000)))
        self.assertFalse(last.called)
        self.assertEqual(self.manual.run(), "finish")
        self.assertIsNone(self.successResultOf(last))
        [offer] = self.of_type(self.bob.take(), FileOffer)
        self.assertEqual(offer.size, len(data))
        self.assertEqual(self.manual.memory.complete, {offer.id: data})

    def test_last_chunk_waits_for_the_check(self) -> None:
        """
        The last chunk's request is answered by the checksum check, even
        when an earlier write finishes after it arrived.
        """
        data = os.urandom(10 * 1000)
        _, held = self.send_ten(data, sha256="0" * 64)
        last = held[9]
        assert last is not None
        self.manual.run()  # the first write: it lets chunk 9 go, not the last
        self.assertFalse(last.called)
        self.manual.run()  # chunks 2 to 10
        self.assertFalse(last.called)
        self.assertEqual(self.manual.run(), "finish")
        self.failureResultOf(last, ChecksumMismatch)
        self.assertEqual(self.of_type(self.alice.take(), FileSent), [])
        self.assertEqual(self.spool_files(self.manual.memory), [])

    def test_cancelled_during_a_write(self) -> None:
        """
        A cancel while chunks wait behind a write drops them: nothing
        writes the file again, and the held requests go on.
        """
        data = os.urandom(10 * 1000)
        file_id, held = self.send_ten(data)
        self.alice.session.cancel_file(file_id)
        self.assertEqual(self.manual.pending(), ["write", "remove"])
        self.manual.run()  # the first write finishes
        self.assertEqual(self.manual.pending(), ["remove"])
        ninth, last = held[8], held[9]
        assert ninth is not None and last is not None
        self.assertTrue(ninth.called)
        self.assertIsNone(self.successResultOf(last))
        self.manual.run()
        [done] = self.of_type(self.alice.take(), FileDone)
        self.assertEqual((done.id, done.declined), (file_id, True))
        self.assertEqual(self.spool_files(self.manual.memory), [])
        self.assertEqual(self.manual.pending(), [])

    def test_input_held_while_the_spool_is_behind(self) -> None:
        """
        Through the session, the sender's input is paused once
        L{Limits.writes_ahead} chunks wait for the spool, and stays paused
        until the last chunk is checked: a request made meanwhile is
        answered after the file is sent.
        """
        data = os.urandom(10 * 1000)
        self.alice.session.offer_file("bob", len(data), digest(data), "held.bin")
        [upload] = self.of_type(self.alice.take(), FileUpload)
        paused = []
        for i in range(10):
            self.alice.session.file_chunk(
                upload.id, i * 1000, data[i * 1000 : (i + 1) * 1000]
            )
            paused.append(self.alice.paused)
        self.assertEqual(paused, [False] * 8 + [True, True])
        self.alice.session.files()
        while self.manual.waiting:
            self.manual.run()
            if self.manual.waiting:
                self.assertTrue(self.alice.paused)
        self.assertFalse(self.alice.paused)
        events = self.alice.take()
        self.assertEqual(
            [e.offset for e in self.of_type(events, FileAck)],
            list(range(1000, 10001, 1000)),
        )
        self.assertEqual(
            [type(e) for e in events if isinstance(e, FileSent | FileList)],
            [FileSent, FileList],
        )


class OwnershipTests(TransfersTestCase):
    """
    Files belong to accounts and connections, not to names: the next
    holder of a name gets none of what an earlier one sent or was sent.
    """

    def test_unregistered_recipient(self) -> None:
        """
        Once Bob unregisters, the files sent to him are gone: the next
        guest called Bob neither lists nor fetches them, and the spool is
        empty.
        """
        self.bob.session.register("sesame1")
        self.bob.take()
        file_id = self.upload(b"for bob only")
        self.bob.session.unregister("sesame1")
        self.bob.session.quit()
        self.assertEqual(self.spool_files(), [])
        bob = self.guest("bob")
        bob.session.files()
        [listing] = self.of_type(bob.take(), FileList)
        self.assertEqual(listing.offers, ())
        bob.session.get_file(file_id, 0)
        self.assertEqual(self.errors(bob.take()), ["no-such-file"])

    def test_unregistered_offline_recipient(self) -> None:
        """
        The same for a file stored for an offline account, and one being
        uploaded to it: the sender is told that one was not delivered.
        """
        self.registered("dave")
        stored = self.upload(b"stored", to="dave")
        half = self.offer(b"half of it", to="dave")
        self.chunk(half, 0, b"half")
        dave, _ = self.log_in("dave")
        dave.session.unregister("sesame1")
        self.assertEqual(self.errors(self.alice.take()), ["not-delivered"])
        dave.session.quit()
        self.assertEqual(self.spool_files(), [])
        dave = self.guest("dave")
        dave.session.files()
        [listing] = self.of_type(dave.take(), FileList)
        self.assertEqual(listing.offers, ())
        for file_id in (stored, half):
            dave.session.get_file(file_id, 0)
        self.assertEqual(self.errors(dave.take()), ["no-such-file"] * 2)
        self.assertEqual(self.errors(self.chunk(half, 4, b" of it")), ["no-such-file"])

    def test_unregistered_sender(self) -> None:
        """
        Unregistering drops what the account sent: its uploads under way
        and its files not yet fetched; the next Alice cannot resume or
        cancel them, and Bob cannot fetch them.
        """
        self.alice.session.register("sesame1")
        self.alice.take()
        sent = self.upload(b"sent")
        half = self.offer(b"half of it")
        self.chunk(half, 0, b"half")
        self.alice.session.unregister("sesame1")
        self.alice.session.quit()
        self.assertEqual(self.spool_files(), [])
        alice = self.guest("alice")
        alice.session.files()
        [listing] = self.of_type(alice.take(), FileList)
        self.assertEqual(listing.uploads, ())
        alice.session.resume_upload(half)
        alice.session.cancel_file(sent)
        self.assertEqual(self.errors(alice.take()), ["no-such-file"] * 2)
        self.bob.session.get_file(sent, 0)
        self.assertEqual(self.errors(self.bob.take()), ["no-such-file"])

    def test_name_registered_again(self) -> None:
        """
        A file stored for an account is not offered to a new account of
        the same name, even if the store still had it.
        """
        self.registered("dave")
        file_id = self.upload(b"for the first dave", to="dave")
        dave, _ = self.log_in("dave")
        self.clock.advance(1)
        # The name given up and taken again behind the core's back: the
        # store's binding alone keeps the file from the new account.
        self.successResultOf(self.store.delete_account("dave"))
        dave.session.register("sesame1")
        dave.session.files()
        [listing] = self.of_type(dave.take(), FileList)
        self.assertEqual(listing.offers, ())
        dave.session.get_file(file_id, 0)
        self.assertEqual(self.errors(dave.take()), ["no-such-file"])

    def test_guest_recipient_leaves_mid_upload(self) -> None:
        """
        A guest who leaves while a file to it is uploaded takes it along:
        the sender is told it was not delivered (not that it was stored),
        the next guest called Bob is not offered it, and the spool is
        empty.
        """
        file_id = self.offer(b"0123456789")
        self.chunk(file_id, 0, b"01234")
        self.bob.session.quit()
        self.assertEqual(self.errors(self.alice.take()), ["not-delivered"])
        bob = self.guest("bob")
        events = self.chunk(file_id, 5, b"56789")
        self.assertEqual(self.of_type(events, FileSent), [])
        self.assertEqual(self.errors(events), ["no-such-file"])
        self.assertEqual(self.of_type(bob.take(), FileOffer), [])
        bob.session.files()
        [listing] = self.of_type(bob.take(), FileList)
        self.assertEqual(listing.offers, ())
        self.assertEqual(self.spool_files(), [])

    def test_guest_recipient_gone_at_completion(self) -> None:
        """
        If the recipient's offer is gone by the time the file is checked,
        the sender is told it was not delivered, and nothing is kept.
        """
        file_id = self.offer(b"abc")
        record = self.successResultOf(self.store.get_file(file_id))
        assert record is not None
        [holder] = record.recipients
        self.successResultOf(self.store.remove_recipient(file_id, holder))
        events = self.chunk(file_id, 0, b"abc")
        self.assertEqual(self.errors(events), ["not-delivered"])
        self.assertEqual(self.of_type(events, FileSent), [])
        self.assertEqual(self.spool_files(), [])

    def test_guest_sender_leaves(self) -> None:
        """
        A guest's unfinished uploads die with its connection: the next
        guest called Alice cannot list, resume or cancel them, nor cancel
        what the first Alice finished sending, which Bob can still fetch.
        """
        sent = self.upload(b"sent")
        half = self.offer(b"half of it")
        self.chunk(half, 0, b"half")
        self.alice.session.closed("connection lost", delivered=False)
        self.assertEqual(self.spool_files(), [str(sent)])
        alice = self.guest("alice")
        alice.session.files()
        [listing] = self.of_type(alice.take(), FileList)
        self.assertEqual(listing.uploads, ())
        alice.session.resume_upload(half)
        alice.session.cancel_file(half)
        alice.session.cancel_file(sent)
        self.assertEqual(self.errors(alice.take()), ["no-such-file"] * 3)
        self.assertEqual(self.download(self.bob, sent, 4), b"sent")
        self.bob.session.file_done(sent)
        self.assertEqual(self.errors(self.bob.take()), [])
        self.assertEqual(self.of_type(alice.take(), FileDone), [])
        self.assertEqual(self.spool_files(), [])

    def test_guest_registers(self) -> None:
        """
        A guest who registers its name keeps what it was offered and its
        uploads as a guest, for as long as it stays connected.
        """
        file_id = self.upload(b"before")
        self.alice.session.offer_file("bob", 10, digest(b"half of it"), "h")
        [upload] = self.of_type(self.alice.take(), FileUpload)
        self.alice.session.register("sesame1")
        self.bob.session.register("sesame1")
        self.alice.take()
        self.bob.take()
        self.alice.session.files()
        [listing] = self.of_type(self.alice.take(), FileList)
        self.assertEqual([u.id for u in listing.uploads], [upload.id])
        self.assertEqual(
            len(self.of_type(self.chunk(upload.id, 0, b"half of it"), FileSent)), 1
        )
        self.assertEqual(self.download(self.bob, file_id, 6), b"before")
        self.bob.session.file_done(file_id)
        self.assertEqual(self.errors(self.bob.take()), [])

    def test_registered_files_stay(self) -> None:
        """
        A registered sender's file to an offline account outlives the
        sender's connection.
        """
        self.alice.session.register("sesame1")
        self.alice.take()
        self.registered("dave")
        file_id = self.upload(b"kept", to="dave")
        self.alice.session.quit()
        dave, events = self.log_in("dave")
        [offer] = self.of_type(events, FileOffer)
        self.assertEqual(self.download(dave, offer.id, 4), b"kept")
        self.assertEqual(offer.id, file_id)

    def test_room_without_recipients(self) -> None:
        """
        A file to a room nobody else is in (online or registered) is
        refused before any byte is sent; a registered member offline is
        someone to receive it.
        """
        self.alice.session.join("#empty")
        self.alice.take()
        self.alice.session.offer_file("#empty", 3, digest(b"abc"), "a.txt")
        self.assertEqual(self.errors(self.alice.take()), ["no-recipients"])
        self.assertEqual(self.successResultOf(self.store.spool_total()), 0)
        self.registered("dave")
        dave, _ = self.log_in("dave")
        dave.session.join("#empty")
        dave.session.quit()
        self.upload(b"abc", to="#empty")


class CapTests(TransfersTestCase):
    """
    Caps on what the spool holds and how many uploads are open: per
    address, and for the whole server.
    """

    limits = replace(
        CoreTestCase.limits,
        file_quota=100,
        address_file_quota=250,
        spool_quota=400,
        uploads_at_once=3,
        address_uploads_at_once=4,
        uploads_open_max=6,
    )

    def guests(self, count: int, peer: str = "192.0.2.1") -> list[Person]:
        """
        C{count} guests online from C{peer}.
        """
        return [self.guest(f"g{i}", peer=peer) for i in range(count)]

    def test_guests_changing_names(self) -> None:
        """
        Guests from one address that each send a file within their own
        quota to an offline account and leave count together against the
        address's quota: what they finished sending stays for its
        recipient, but a third file is refused.
        """
        self.registered("dave")
        people = self.guests(3, peer="198.51.100.1")
        for person in people[:2]:
            person.session.offer_file("dave", 100, digest(b"x" * 100), "f")
            [upload] = self.of_type(person.take(), FileUpload)
            person.session.file_chunk(upload.id, 0, b"x" * 100)
            self.assertEqual(len(self.of_type(person.take(), FileSent)), 1)
            person.session.quit()
        people[2].session.offer_file("dave", 100, digest(b"x" * 100), "f")
        self.assertEqual(self.errors(people[2].take()), ["quota-exceeded"])
        self.assertEqual(self.successResultOf(self.store.spool_total()), 200)
        dave, events = self.log_in("dave")
        self.assertEqual(len(self.of_type(events, FileOffer)), 2)

    def test_address_quota(self) -> None:
        """
        The files from one address's connections count against its quota
        however many names it uses; another address, or an exempt
        client, is not held by it; what leaves the spool makes room.
        """
        people = self.guests(3)
        for person in people[:2]:
            person.session.offer_file("bob", 100, digest(b"x" * 100), "f")
            self.assertEqual(self.errors(person.take()), [])
        people[2].session.offer_file("bob", 60, digest(b"x" * 60), "f")
        self.assertEqual(self.errors(people[2].take()), ["quota-exceeded"])
        people[2].session.exempt = True
        people[2].session.offer_file("bob", 60, digest(b"x" * 60), "f")
        self.assertEqual(self.errors(people[2].take()), [])
        elsewhere = self.guest("far", peer="203.0.113.9")
        elsewhere.session.offer_file("bob", 60, digest(b"x" * 60), "f")
        self.assertEqual(self.errors(elsewhere.take()), [])
        people[0].session.quit()
        self.alice.session.offer_file("bob", 100, digest(b"x" * 100), "f")
        self.assertEqual(self.errors(self.alice.take()), [])

    def test_spool_quota(self) -> None:
        """
        The spool as a whole holds at most L{Limits.spool_quota} bytes,
        exempt clients included.
        """
        people = [self.guest(f"p{i}", peer=f"203.0.113.{i}") for i in range(5)]
        for person in people[:4]:
            person.session.offer_file("bob", 100, digest(b"x" * 100), "f")
            self.assertEqual(self.errors(person.take()), [])
        people[4].session.exempt = True
        people[4].session.offer_file("bob", 1, digest(b"x"), "f")
        [error] = [e for e in people[4].take() if isinstance(e, Error)]
        self.assertEqual(error.code, "quota-exceeded")
        self.assertIn("server", error.text)

    def test_uploads_per_address(self) -> None:
        """
        One address has at most L{Limits.address_uploads_at_once} uploads
        under way whatever names it uses (each may hold a spool file
        open); an exempt client is not held by it, but the server's own
        bound holds everyone.
        """
        first, second = self.guests(2)
        for i in range(3):
            first.session.offer_file("bob", 1, digest(b"x"), f"f{i}")
        self.assertEqual(self.errors(first.take()), [])
        second.session.offer_file("bob", 1, digest(b"x"), "f")
        second.session.offer_file("bob", 1, digest(b"x"), "g")
        self.assertEqual(self.errors(second.take()), ["throttled"])
        second.session.exempt = True
        second.session.offer_file("bob", 1, digest(b"x"), "g")
        self.assertEqual(self.errors(second.take()), [])
        other = self.guest("other", peer="203.0.113.9")
        other.session.exempt = True
        other.session.offer_file("bob", 1, digest(b"x"), "h")
        other.session.offer_file("bob", 1, digest(b"x"), "i")
        self.assertEqual(self.errors(other.take()), ["throttled"])
