"""
The contract of L{ISpool}: one suite (L{SpoolContractMixin}) run against
L{MemorySpool} and L{DirectorySpool} (a real directory, written by the
spool's own thread, with the real reactor delivering results).
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from chat.store.interface import StoreError
from chat.store.spool import DirectorySpool, ISpool, MemorySpool
from tests.store.test_contract import fails

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object


def digest(data: bytes) -> str:
    """
    The hex SHA-256 of C{data}.
    """
    return hashlib.sha256(data).hexdigest()


class SpoolContractMixin(_Base):
    """
    What every L{ISpool} does; mixed into one L{TestCase} per spool.
    """

    #: No request may take longer than this, in seconds.
    timeout = 30

    def make_spool(self) -> ISpool:
        """
        A new, unstarted spool.
        """
        raise NotImplementedError

    def reopened(self, spool: ISpool) -> ISpool:
        """
        The unstarted spool a server restarted after closing C{spool} uses:
        what was left in it is there.
        """
        raise NotImplementedError

    async def start(self, spool: ISpool) -> ISpool:
        """
        Start C{spool}, to be closed when the test ends.
        """
        await spool.start()
        self.addCleanup(spool.close)
        return spool

    async def open_spool(self) -> ISpool:
        """
        A started spool, closed when the test ends.
        """
        return await self.start(self.make_spool())

    def test_provides_interface(self) -> None:
        """
        The spool provides L{ISpool}.
        """
        self.assertTrue(verifyObject(ISpool, self.make_spool()))

    async def test_write_and_finish(self) -> None:
        """
        Chunks written one after another make the partial copy; once
        finished with the right SHA-256 it is the complete copy, which is
        read by offset and length, and no partial copy is left.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"ab", b"cd"])
        await spool.write(7, 4, [b"ef"])
        self.assertEqual(await spool.partial_size(7), 6)
        self.assertEqual(await spool.received(7), 6)
        await fails(spool.read(7, 0, 6), FileNotFoundError)
        self.assertEqual(await spool.finish(7, digest(b"abcdef")), digest(b"abcdef"))
        self.assertEqual(await spool.read(7, 0, 100), b"abcdef")
        self.assertEqual(await spool.read(7, 2, 3), b"cde")
        self.assertEqual(await spool.read(7, 6, 10), b"")
        self.assertEqual(await spool.partial_size(7), 0)

    async def test_finish_mismatch(self) -> None:
        """
        A partial copy that does not hash to the SHA-256 given is deleted
        at the finish, which says what it hashed to.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"not what was offered"])
        self.assertEqual(
            await spool.finish(7, digest(b"offered")), digest(b"not what was offered")
        )
        await fails(spool.read(7, 0, 10), FileNotFoundError)
        self.assertEqual(await spool.partial_size(7), 0)
        self.assertEqual(await spool.received(7), 0)

    async def test_empty_file(self) -> None:
        """
        A file of no bytes, never written, finishes as an empty complete
        copy.
        """
        spool = await self.open_spool()
        self.assertEqual(await spool.finish(7, digest(b"")), digest(b""))
        self.assertEqual(await spool.read(7, 0, 10), b"")

    async def test_write_from_an_earlier_offset(self) -> None:
        """
        A write from an offset before the end of the partial copy drops
        what was beyond it first, and the hash follows.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"abcdef"])
        await spool.write(7, 3, [b"X", b"Y"])
        self.assertEqual(await spool.partial_size(7), 5)
        self.assertEqual(await spool.received(7), 5)
        self.assertEqual(await spool.finish(7, digest(b"abcXY")), digest(b"abcXY"))
        self.assertEqual(await spool.read(7, 0, 10), b"abcXY")

    async def test_write_beyond_the_end(self) -> None:
        """
        A write from beyond the end of the partial copy, which would leave
        a gap, is refused and changes nothing.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"abc"])
        await fails(spool.write(7, 4, [b"X"]), ValueError)
        await fails(spool.write(8, 1, [b"X"]), ValueError)
        self.assertEqual(await spool.partial_size(7), 3)
        self.assertEqual(await spool.received(7), 3)
        self.assertEqual(await spool.partial_size(8), 0)
        await spool.write(7, 3, [b"def"])
        self.assertEqual(await spool.finish(7, digest(b"abcdef")), digest(b"abcdef"))

    async def test_unknown_file(self) -> None:
        """
        A file the spool never saw has no bytes, and no complete copy.
        """
        spool = await self.open_spool()
        self.assertEqual(await spool.partial_size(99), 0)
        self.assertEqual(await spool.received(99), 0)
        await fails(spool.read(99, 0, 1), FileNotFoundError)

    async def test_files_apart(self) -> None:
        """
        Each id has its own copies.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"seven"])
        await spool.write(8, 0, [b"eight!"])
        self.assertEqual(
            (await spool.partial_size(7), await spool.partial_size(8)), (5, 6)
        )
        await spool.finish(8, digest(b"eight!"))
        self.assertEqual(await spool.partial_size(7), 5)
        self.assertEqual(await spool.read(8, 0, 10), b"eight!")

    async def test_release(self) -> None:
        """
        A released upload (its sender went away) keeps its partial copy
        and goes on from its end when written again.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"abc"])
        await spool.release(7)
        self.assertEqual(await spool.partial_size(7), 3)
        self.assertEqual(await spool.received(7), 3)
        await spool.write(7, 3, [b"def"])
        self.assertEqual(await spool.finish(7, digest(b"abcdef")), digest(b"abcdef"))
        self.assertEqual(await spool.read(7, 0, 10), b"abcdef")

    async def test_remove(self) -> None:
        """
        Removing a file deletes its copies, partial or complete, and no
        other file's; removing an unknown file is harmless.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"complete"])
        await spool.finish(7, digest(b"complete"))
        await spool.write(8, 0, [b"partial"])
        await spool.write(9, 0, [b"kept"])
        await spool.finish(9, digest(b"kept"))
        await spool.remove(7)
        await spool.remove(8)
        await spool.remove(10)
        await fails(spool.read(7, 0, 10), FileNotFoundError)
        self.assertEqual(await spool.partial_size(8), 0)
        self.assertEqual(await spool.read(9, 0, 10), b"kept")

    async def test_after_a_restart(self) -> None:
        """
        Partial copies outlive a restart: their size is known again, and
        the upload goes on from their end with the hash made again from
        what they hold; complete copies are still read.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"abc"])
        await spool.write(8, 0, [b"whole"])
        await spool.finish(8, digest(b"whole"))
        await spool.close()
        again = await self.start(self.reopened(spool))
        self.assertEqual(await again.partial_size(7), 3)
        self.assertEqual(await again.received(7), 3)
        await again.write(7, 3, [b"def"])
        self.assertEqual(await again.finish(7, digest(b"abcdef")), digest(b"abcdef"))
        self.assertEqual(await again.read(7, 0, 10), b"abcdef")
        self.assertEqual(await again.read(8, 0, 10), b"whole")

    async def test_closed(self) -> None:
        """
        Requests made after L{ISpool.close} fail with L{StoreError} rather
        than never answering, so nobody waits for them forever; releasing
        a file, which closing did already, succeeds.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"abc"])
        await spool.write(8, 0, [b"whole"])
        await spool.finish(8, digest(b"whole"))
        await spool.close()
        for request in (
            spool.write(7, 3, [b"def"]),
            spool.finish(7, digest(b"abc")),
            spool.received(7),
            spool.partial_size(7),
            spool.read(8, 0, 10),
            spool.remove(8),
        ):
            await fails(request, StoreError)
        await spool.release(7)


class MemorySpoolTests(SpoolContractMixin, TestCase):
    """
    L{MemorySpool} keeps the bytes in memory, and answers at once.
    """

    def make_spool(self) -> ISpool:
        return MemorySpool()

    def reopened(self, spool: ISpool) -> ISpool:
        # Nothing outlives the process: a restart in a test keeps the spool.
        return spool

    def test_already_fired(self) -> None:
        """
        Results are there at once: tests of the core need no reactor.
        """
        spool = MemorySpool()
        self.successResultOf(spool.write(7, 0, [b"abc"]))
        self.assertEqual(self.successResultOf(spool.partial_size(7)), 3)
        self.assertEqual(spool.partial, {7: bytearray(b"abc")})
        self.failureResultOf(spool.read(7, 0, 3), FileNotFoundError)


class DirectorySpoolTests(SpoolContractMixin, TestCase):
    """
    L{DirectorySpool} keeps the bytes in files in a directory of the
    test's, written by a thread of its own.
    """

    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())

    def make_spool(self) -> ISpool:
        return DirectorySpool(self.path)

    def reopened(self, spool: ISpool) -> ISpool:
        return DirectorySpool(self.path)

    async def test_files_named_by_id(self) -> None:
        """
        The spool makes its directory; file 7's partial copy is the file
        C{7.part} and its complete copy C{7}, and nothing is left of a file
        that failed its check or was removed.
        """
        spool = await self.open_spool()
        self.assertEqual(os.listdir(self.path), [])
        await spool.write(7, 0, [b"abc"])
        self.assertEqual(os.listdir(self.path), ["7.part"])
        await spool.finish(7, digest(b"abc"))
        self.assertEqual(os.listdir(self.path), ["7"])
        with open(os.path.join(self.path, "7"), "rb") as f:
            self.assertEqual(f.read(), b"abc")
        await spool.write(8, 0, [b"xyz"])
        self.assertEqual(sorted(os.listdir(self.path)), ["7", "8.part"])
        await spool.finish(8, digest(b"not xyz"))
        self.assertEqual(os.listdir(self.path), ["7"])
        await spool.remove(7)
        self.assertEqual(os.listdir(self.path), [])

    async def test_close_keeps_partial_copies(self) -> None:
        """
        Closing writes out what the partial copies hold, and leaves them
        for the next start.
        """
        spool = await self.open_spool()
        await spool.write(7, 0, [b"abc", b"def"])
        await spool.close()
        with open(os.path.join(self.path, "7.part"), "rb") as f:
            self.assertEqual(f.read(), b"abcdef")
