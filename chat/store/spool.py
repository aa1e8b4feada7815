# -*- test-case-name: tests.store.test_spool -*-
"""
Where files wait between their upload and their downloads: the L{ISpool}
interface, L{DirectorySpool} (files in a directory, written and read by a
thread of its own) and L{MemorySpool}.

The chat core keeps the bookkeeping (who sent what to whom, in the store)
and the protocol of a transfer; a spool only keeps bytes, named by the
file's id, and checks them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, BinaryIO, Concatenate, ParamSpec, TypeVar, cast

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from zope.interface import Interface, implementer

from chat.store.interface import StoreError

_P = ParamSpec("_P")
_T = TypeVar("_T")

# Bytes read at a time when a partial copy is hashed again.
_BLOCK = 1 << 20


class ISpool(Interface):
    """
    The bytes of files in transit, named by id.

    A file has a partial copy while it is uploaded and a complete one once
    L{finish} found it whole.  Requests are carried out in the order they
    were made; every method returns a L{Deferred}.
    """

    def start() -> Deferred[None]:
        """
        Get ready (make the directory, start the thread).
        """

    def close() -> Deferred[None]:
        """
        Finish the requests under way and stop; partial copies stay, to
        be resumed after a restart.  Requests made afterwards fail with
        L{StoreError} (so nobody waits for them forever), but for
        L{release}, which close did for every file.
        """

    def write(file_id: int, offset: int, chunks: Sequence[bytes]) -> Deferred[None]:
        """
        Write C{chunks}, one after the other, into the partial copy from
        C{offset} on (anything beyond C{offset} is dropped first), keeping
        the running SHA-256 of the copy.

        @raise ValueError: if C{offset} is beyond the end of the partial
            copy: the write would leave a gap.  Nothing is written.
        """

    def finish(file_id: int, sha256: str) -> Deferred[str]:
        """
        Make the partial copy durable and check it: if its SHA-256 is
        C{sha256} it becomes the complete copy, otherwise it is deleted.

        @return: the hex digest of what arrived.
        """

    def received(file_id: int) -> Deferred[int]:
        """
        How many bytes the partial copy holds, for resuming an upload (after
        a restart the running hash is made again from the copy).
        """

    def partial_size(file_id: int) -> Deferred[int]:
        """
        How many bytes the partial copy holds (0 if there is none); cheap.
        """

    def read(file_id: int, offset: int, length: int) -> Deferred[bytes]:
        """
        Up to C{length} bytes of the complete copy from C{offset}.
        """

    def release(file_id: int) -> Deferred[None]:
        """
        Nobody is uploading the file now: let go of its open partial copy
        (the upload can be resumed).
        """

    def remove(file_id: int) -> Deferred[None]:
        """
        Delete both copies of the file, if there are any.
        """


@dataclass
class _Part:
    """
    A partial copy: the running hash and size of what it holds, and its
    open handle while it is written.
    """

    size: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    handle: BinaryIO | None = None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


@implementer(ISpool)
class DirectorySpool:
    """
    An L{ISpool} in a directory: the partial copy of file 7 is C{7.part},
    the complete one C{7}.

    Every disk operation (write, read, fsync, hashing) runs in one thread
    of its own, in request order, so the reactor never waits for the disk.
    """

    def __init__(self, path: str, reactor: IReactorFromThreads | None = None) -> None:
        """
        @param reactor: where results are delivered; the global reactor by
            default.
        """
        self.path = path
        self._reactor = reactor
        self._pool = ThreadPool(1, 1, "txchat-files")
        self._closed = False
        # Touched only in the spool's thread.
        self._parts: dict[int, _Part] = {}

    def _in_thread(
        self, f: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> Deferred[_T]:
        if self._closed:
            # A stopped ThreadPool drops work silently: it would never fire.
            return fail(StoreError("the spool is closed"))
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = cast(IReactorFromThreads, global_reactor)
        return deferToThreadPool(reactor, self._pool, f, *args, **kwargs)

    def _part_path(self, file_id: int) -> str:
        return os.path.join(self.path, f"{file_id}.part")

    def _final_path(self, file_id: int) -> str:
        return os.path.join(self.path, str(file_id))

    def start(self) -> Deferred[None]:
        self._closed = False
        self._pool.start()
        return self._in_thread(os.makedirs, self.path, exist_ok=True)

    def close(self) -> Deferred[None]:
        if self._closed or not self._pool.started:
            self._closed = True
            return succeed(None)
        d = self._in_thread(self._close_all)
        self._closed = True

        def stop(result: object) -> object:
            # Joins the thread, idle now: this was the last request.
            self._pool.stop()
            return result

        return d.addBoth(stop)

    def _close_all(self) -> None:
        for part in self._parts.values():
            part.close()
        self._parts.clear()

    def write(
        self, file_id: int, offset: int, chunks: Sequence[bytes]
    ) -> Deferred[None]:
        return self._in_thread(self._write, file_id, offset, list(chunks))

    def _write(self, file_id: int, offset: int, chunks: list[bytes]) -> None:
        part = self._parts.get(file_id)
        if part is None or part.size != offset:
            part = self._parts[file_id] = self._rehash(file_id, offset)
            if part.size < offset:
                raise _gap(file_id, offset, part.size)
        if part.handle is None:
            handle = open(self._part_path(file_id), "ab")  # noqa: SIM115
            handle.truncate(offset)
            handle.seek(offset)
            part.handle = handle
        for data in chunks:
            part.handle.write(data)
            part.hasher.update(data)
            part.size += len(data)

    def _rehash(self, file_id: int, upto: int | None = None) -> _Part:
        """
        The partial copy as it is on disk (up to C{upto} bytes), its hash
        made again: after a restart, or a write from another offset.
        """
        old = self._parts.pop(file_id, None)
        if old is not None:
            old.close()
        part = _Part()
        try:
            with open(self._part_path(file_id), "rb") as f:
                while upto is None or part.size < upto:
                    want = _BLOCK if upto is None else min(_BLOCK, upto - part.size)
                    block = f.read(want)
                    if not block:
                        break
                    part.hasher.update(block)
                    part.size += len(block)
        except FileNotFoundError:
            pass
        return part

    def finish(self, file_id: int, sha256: str) -> Deferred[str]:
        return self._in_thread(self._finish, file_id, sha256)

    def _finish(self, file_id: int, sha256: str) -> str:
        part = self._parts.pop(file_id, None)
        if part is None:
            part = self._rehash(file_id)
        path = self._part_path(file_id)
        if part.handle is None:
            part.handle = open(path, "ab")  # noqa: SIM115
        part.handle.flush()
        os.fsync(part.handle.fileno())
        part.close()
        digest: str = part.hasher.hexdigest()
        if digest == sha256:
            os.replace(path, self._final_path(file_id))
        else:
            os.unlink(path)
        return digest

    def received(self, file_id: int) -> Deferred[int]:
        return self._in_thread(self._received, file_id)

    def _received(self, file_id: int) -> int:
        part = self._parts.get(file_id)
        if part is None:
            part = self._parts[file_id] = self._rehash(file_id)
        return part.size

    def partial_size(self, file_id: int) -> Deferred[int]:
        return self._in_thread(self._partial_size, file_id)

    def _partial_size(self, file_id: int) -> int:
        part = self._parts.get(file_id)
        if part is not None:
            return part.size
        try:
            return os.path.getsize(self._part_path(file_id))
        except FileNotFoundError:
            return 0

    def read(self, file_id: int, offset: int, length: int) -> Deferred[bytes]:
        return self._in_thread(self._read, file_id, offset, length)

    def _read(self, file_id: int, offset: int, length: int) -> bytes:
        with open(self._final_path(file_id), "rb") as f:
            f.seek(offset)
            return f.read(length)

    def release(self, file_id: int) -> Deferred[None]:
        if self._closed:
            return succeed(None)
        return self._in_thread(self._release, file_id)

    def _release(self, file_id: int) -> None:
        part = self._parts.get(file_id)
        if part is not None:
            part.close()

    def remove(self, file_id: int) -> Deferred[None]:
        return self._in_thread(self._remove, file_id)

    def _remove(self, file_id: int) -> None:
        part = self._parts.pop(file_id, None)
        if part is not None:
            part.close()
        for path in (self._part_path(file_id), self._final_path(file_id)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def _gap(file_id: int, offset: int, size: int) -> ValueError:
    """
    The error for a write from C{offset} into a partial copy of C{size}
    bytes, which would leave a gap: the core never makes one.
    """
    return ValueError(
        f"file {file_id}: a write from byte {offset} would leave a gap after"
        f" the {size} bytes of its partial copy"
    )


def _while_open(
    f: Callable[Concatenate[MemorySpool, _P], Deferred[_T]],
) -> Callable[Concatenate[MemorySpool, _P], Deferred[_T]]:
    """
    The L{MemorySpool} method C{f}, failing with L{StoreError} once the
    spool is closed, as L{DirectorySpool}'s do.
    """

    @wraps(f)
    def method(
        self: MemorySpool, /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Deferred[_T]:
        if self._closed:
            return fail(StoreError("the spool is closed"))
        return f(self, *args, **kwargs)

    return method


@implementer(ISpool)
class MemorySpool:
    """
    An L{ISpool} in memory that answers at once (its L{Deferred}s have
    fired already): for tests, and for servers that keep no files.

    @ivar complete: the complete copies, by id.
    @ivar partial: the partial copies, by id.
    """

    def __init__(self) -> None:
        self.complete: dict[int, bytes] = {}
        self.partial: dict[int, bytearray] = {}
        self._closed = False

    def start(self) -> Deferred[None]:
        self._closed = False
        return succeed(None)

    def close(self) -> Deferred[None]:
        self._closed = True
        return succeed(None)

    @_while_open
    def write(
        self, file_id: int, offset: int, chunks: Sequence[bytes]
    ) -> Deferred[None]:
        copy = self.partial.setdefault(file_id, bytearray())
        if offset > len(copy):
            return fail(_gap(file_id, offset, len(copy)))
        del copy[offset:]
        for data in chunks:
            copy += data
        return succeed(None)

    @_while_open
    def finish(self, file_id: int, sha256: str) -> Deferred[str]:
        data = bytes(self.partial.pop(file_id, b""))
        digest = hashlib.sha256(data).hexdigest()
        if digest == sha256:
            self.complete[file_id] = data
        return succeed(digest)

    @_while_open
    def received(self, file_id: int) -> Deferred[int]:
        return succeed(len(self.partial.setdefault(file_id, bytearray())))

    @_while_open
    def partial_size(self, file_id: int) -> Deferred[int]:
        return succeed(len(self.partial.get(file_id, b"")))

    @_while_open
    def read(self, file_id: int, offset: int, length: int) -> Deferred[bytes]:
        data = self.complete.get(file_id)
        if data is None:
            return fail(FileNotFoundError(file_id))
        return succeed(data[offset : offset + length])

    def release(self, file_id: int) -> Deferred[None]:
        return succeed(None)

    @_while_open
    def remove(self, file_id: int) -> Deferred[None]:
        self.partial.pop(file_id, None)
        self.complete.pop(file_id, None)
        return succeed(None)
