# -*- test-case-name: tests.test_transfers -*-
"""
File transfer through the server: offers, uploads into a spool directory,
downloads out of it, and the bookkeeping in the store.

Every disk operation (write, read, fsync, hashing) runs in one thread of
its own, in request order, so the reactor never waits for the disk; the
front end feeds uploads one chunk at a time and holds the connection's
next input until the chunk is written, which is the backpressure.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any, BinaryIO, Final, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.commands import fold, is_room
from chat.errors import (
    BadOffset,
    BadUsage,
    ChatError,
    ChecksumMismatch,
    FileTooLarge,
    NeedsJSON,
    NoSuchFile,
    NoSuchUser,
    NotInRoom,
    NotJoined,
    QuotaExceeded,
    Throttled,
)
from chat.events import (
    Error,
    FileAck,
    FileChunk,
    FileDone,
    FileList,
    FileOffer,
    FileSent,
    FileUpload,
    FileUploadInfo,
)
from chat.registry import IChatClient
from chat.store import FileRecord

if TYPE_CHECKING:
    from chat.dispatcher import Dispatcher

_log: Final = Logger(namespace="chat.transfers")
_T = TypeVar("_T")

CHUNK_MAX: Final = 64 * 1024
# Chunks of one upload that may wait for the file thread while the
# connection's input is read on.
WRITES_AHEAD: Final = 8
# Uploads one sender may have under way (each may hold its .part file open).
UPLOADS_AT_ONCE: Final = 32
_HEX: Final = frozenset("0123456789abcdef")

# Runs a function off the reactor thread, in order; returns its result.
IO = Callable[..., "Deferred[Any]"]


@dataclass
class _Upload:
    """
    An upload this server is receiving: the open C{.part} file and the
    running hash of what it holds.
    """

    record: FileRecord
    received: int
    hasher: Any
    handle: BinaryIO | None = None
    # Chunks received while a write was under way: the next write takes
    # them all, so a fast sender costs one thread hand-off per batch.
    queued: list[bytes] = field(default_factory=list)
    writing: bool = False
    # Connections held until the disk catches up.
    waiters: list[Deferred[None]] = field(default_factory=list)
    # The last chunk's request, answered by the checksum check.
    last: Deferred[None] | None = None


def _open_part(path: str, keep: int) -> BinaryIO:
    handle = open(path, "ab")  # noqa: SIM115 -- closed in _finish or _close
    handle.truncate(keep)
    handle.seek(keep)
    return handle


def _write(upload: _Upload, path: str, batch: list[bytes], start: int) -> None:
    if upload.handle is None:
        upload.handle = _open_part(path, start)
    for data in batch:
        upload.handle.write(data)
        upload.hasher.update(data)


def _finish(upload: _Upload, part: str, final: str) -> str:
    """
    Make the upload durable and say whether it is what was offered.

    @return: the hex digest of what arrived.
    """
    handle = upload.handle
    if handle is None:
        handle = upload.handle = _open_part(part, upload.received)
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    upload.handle = None
    digest: str = upload.hasher.hexdigest()
    if digest == upload.record.sha256:
        os.replace(part, final)
    else:
        os.unlink(part)
    return digest


def _close(upload: _Upload) -> None:
    if upload.handle is not None:
        upload.handle.close()
        upload.handle = None


def _rehash(path: str) -> tuple[int, Any]:
    """
    The size and running hash of a partial upload found on disk (after a
    restart, the hash state is gone).
    """
    hasher = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(1024 * 1024):
                hasher.update(block)
                size += len(block)
    except FileNotFoundError:
        open(path, "wb").close()
    return size, hasher


def _read(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _remove(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _int(word: str, what: str) -> int:
    if not word.isdigit():
        raise BadUsage(f"{what} must be a whole number")
    return int(word)


class Transfers:
    """
    The files of one dispatcher.

    @ivar spool: the directory files wait in, named by id.
    """

    def __init__(self, dispatcher: Dispatcher, spool: str, io: IO) -> None:
        self._d = dispatcher
        self.spool = spool
        self._io = io
        limits = dispatcher.limits
        self.max_size = limits.file_max_size
        self.quota = limits.file_quota
        self.max_age = limits.file_age
        self._uploads: dict[int, _Upload] = {}
        # Complete files being fetched: a get needs no store lookup.
        self._complete_files: dict[int, FileRecord] = {}
        self._stopping = False
        self._commands: dict[
            str, Callable[[IChatClient, str], Deferred[None] | None]
        ] = {
            "offer": self._offer,
            "resume": self._resume,
            "get": self._get,
            "done": self._done,
            "decline": self._decline,
            "cancel": self._cancel,
            "list": self._list,
        }
        # Guests offered files: they lose the offers when they disconnect.
        self._guest_offers: dict[str, set[int]] = {}

    def start(self) -> Deferred[None]:
        """
        Make the spool, and forget what only guests of an earlier run were
        offered (their names may belong to anyone now).
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        await self._io(os.makedirs, self.spool, exist_ok=True)
        for file_id in await self._d.store.drop_guest_recipients():
            await self._io(_remove, self._part(file_id), self._final(file_id))

    def stopping(self) -> None:
        """
        The server stops and its store closes: connections that close from
        now on change nothing (the next start drops guests' offers).
        """
        self._stopping = True

    def _part(self, file_id: int) -> str:
        return os.path.join(self.spool, f"{file_id}.part")

    def _final(self, file_id: int) -> str:
        return os.path.join(self.spool, str(file_id))

    def _now(self) -> float:
        return self._d.clock.seconds()

    @staticmethod
    def _binary(client: IChatClient) -> None:
        if not client.binary:
            raise NeedsJSON(
                "files travel in JSON mode only: use chat-client (or /mode json)."
            )

    # The /file command.

    def command(self, client: IChatClient, args: str) -> Deferred[None] | None:
        """
        C{/file SUBCOMMAND ...}.
        """
        sub, _, rest = args.strip().partition(" ")
        handler = self._commands.get(sub.lower())
        if handler is None:
            raise BadUsage(
                "usage: /file offer|chunk|resume|get|done|decline|cancel|list ..."
            )
        return handler(client, rest.strip())

    def _offer(self, client: IChatClient, args: str) -> Deferred[None]:
        self._binary(client)
        words = args.split(None, 3)
        if len(words) != 4:
            raise BadUsage("usage: /file offer TARGET SIZE SHA256 NAME")
        target, size_word, sha256, name = words
        size = _int(size_word, "SIZE")
        sha256 = sha256.lower()
        if len(sha256) != 64 or not set(sha256) <= _HEX:
            raise BadUsage("SHA256 is the 64 hex digits of the file's SHA-256")
        name = os.path.basename(name.replace("\\", "/")).strip()
        if not name or not name.isprintable() or name in (".", ".."):
            raise BadUsage("NAME must be a file name")
        if size > self.max_size:
            raise FileTooLarge(
                f"{name} is {size:,} bytes; files are at most {self.max_size:,} bytes."
            )
        sender = str(client.name)
        if target.startswith("#"):
            room = self._d.rooms.rooms.get(target) if is_room(target) else None
            if room is None or client not in room.online:
                raise NotInRoom(target)
            target = room.name
        else:
            key = fold(target)
            if key == fold(sender):
                raise BadUsage("you cannot send a file to yourself.")
            try:
                target = str(self._d.registry.lookup(target).name)
            except NoSuchUser:
                if key not in self._d.accounts:
                    raise
                target = self._d.accounts[key]
        self._check_uploads(fold(sender))
        return Deferred.fromCoroutine(
            self._create(client, fold(sender), sender, target, name, size, sha256)
        )

    def _check_uploads(self, key: str) -> None:
        under_way = sum(1 for u in self._uploads.values() if u.record.sender_key == key)
        if under_way >= UPLOADS_AT_ONCE:
            raise Throttled(
                f"you have {under_way} uploads under way; finish or cancel one "
                "before starting another."
            )

    async def _create(
        self,
        client: IChatClient,
        key: str,
        sender: str,
        target: str,
        name: str,
        size: int,
        sha256: str,
    ) -> None:
        used = await self._d.store.spool_usage(key)
        if used + size > self.quota:
            raise QuotaExceeded(
                f"your files waiting to be fetched take {used:,} bytes; with this "
                f"one they would pass your quota of {self.quota:,}."
            )
        record = await self._d.store.create_file(
            key, sender, target, name, size, sha256, self._now()
        )
        # The .part file is opened by the first write: an offer holds no
        # file descriptor.
        upload = _Upload(record, 0, hashlib.sha256())
        self._uploads[record.id] = upload
        client.deliver(FileUpload(self._now(), record.id, 0, name, size))
        if size == 0:
            await self._complete(client, upload)

    def chunk(
        self, client: IChatClient, file_id: int, offset: int, data: bytes
    ) -> Deferred[None] | None:
        """
        C{/file chunk ID OFFSET LENGTH} and its bytes, read by the front end.
        """
        if client.name is None:  # the front end reads chunks before dispatch
            raise NotJoined("please enter your name before using /file.")
        self._binary(client)
        upload = self._uploads.get(file_id)
        if upload is None or upload.record.sender_key != fold(str(client.name)):
            raise NoSuchFile(file_id)
        if offset != upload.received:
            client.deliver(
                FileUpload(
                    self._now(),
                    file_id,
                    upload.received,
                    upload.record.name,
                    upload.record.size,
                )
            )
            error = BadOffset(
                f"file {file_id}: the server has {upload.received} bytes; "
                f"send from there (that chunk was discarded)."
            )
            error.fields = {"id": file_id, "offset": upload.received}
            raise error
        if upload.received + len(data) > upload.record.size:
            error = BadOffset(
                f"file {file_id} is {upload.record.size} bytes; that chunk goes "
                "past its end and was discarded."
            )
            error.fields = {"id": file_id, "offset": upload.received}
            raise error
        upload.received += len(data)
        upload.queued.append(data)
        held: Deferred[None] | None = None
        if upload.received == upload.record.size:
            held = upload.last = Deferred()  # it waits for the check
        elif len(upload.queued) >= WRITES_AHEAD:
            # Otherwise only a disk that falls behind holds the input.
            held = Deferred()
            upload.waiters.append(held)
        if not upload.writing:
            self._flush(client, upload)
        return held

    def _flush(self, client: IChatClient, upload: _Upload) -> None:
        """
        Hand everything queued to the file thread in one go.
        """
        batch, upload.queued = upload.queued, []
        start = upload.received - sum(map(len, batch))
        # Where each chunk of the batch ends: each gets its own file-ack.
        ends = list(accumulate(map(len, batch), initial=start))[1:]
        upload.writing = True
        d = self._io(_write, upload, self._part(upload.record.id), batch, start)
        d.addCallbacks(
            self._written,
            self._write_failed,
            callbackArgs=(client, upload, ends),
            errbackArgs=(client, upload),
        )

    def _written(
        self, _: object, client: IChatClient, upload: _Upload, ends: list[int]
    ) -> None:
        upload.writing = False
        if self._uploads.get(upload.record.id) is not upload:
            # Cancelled or expired during the write: what is queued is
            # dropped, and nothing reopens the file.
            upload.queued = []
            self._checked(None, upload)
            return
        for end in ends:
            client.deliver(FileAck(self._now(), upload.record.id, end))
        if ends[-1] == upload.record.size:
            done = Deferred.fromCoroutine(self._complete(client, upload))
            done.addBoth(self._checked, upload)
            return
        if upload.queued:
            self._flush(client, upload)
        self._release(upload)

    def _release(self, upload: _Upload) -> None:
        """
        Let the connections held while the disk caught up read on.
        """
        waiters, upload.waiters = upload.waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def _checked(self, result: object, upload: _Upload) -> None:
        """
        The upload is over: the outcome (a failed check) goes to the last
        chunk's request, the one that waited for it.
        """
        self._release(upload)
        last, upload.last = upload.last, None
        if last is not None:
            last.callback(result)  # type: ignore[arg-type]
        elif isinstance(result, Failure):
            _log.failure("finishing file {id} failed", result, id=upload.record.id)

    def _write_failed(self, failure: Any, client: IChatClient, upload: _Upload) -> None:
        _log.failure("writing file {id} failed", failure, id=upload.record.id)
        upload.writing = False
        self._uploads.pop(upload.record.id, None)
        client.deliver(
            Error(
                self._now(),
                "internal",
                f"file {upload.record.id} could not be written; send it again.",
                {"id": upload.record.id},
            )
        )
        self._checked(None, upload)

    async def _complete(self, client: IChatClient, upload: _Upload) -> None:
        record = upload.record
        del self._uploads[record.id]
        digest = await self._io(
            _finish, upload, self._part(record.id), self._final(record.id)
        )
        if digest != record.sha256:
            await self._d.store.delete_file(record.id)
            mismatch = ChecksumMismatch(
                f"{record.name} arrived with SHA-256 {digest}, not the "
                f"{record.sha256} offered; it was discarded.  Send it again."
            )
            mismatch.fields = {"id": record.id}
            raise mismatch
        recipients = self._recipients(record)
        await self._d.store.complete_file(record.id, recipients)
        offer = self._offer_event(record)
        stored = False
        for key in recipients:
            recipient = self._online(key)
            if recipient is None:
                stored = True
                continue
            if key not in self._d.accounts:
                self._guest_offers.setdefault(key, set()).add(record.id)
            recipient.deliver(offer)
        client.deliver(
            FileSent(self._now(), record.id, record.target, record.name, stored)
        )

    def _recipients(self, record: FileRecord) -> list[str]:
        if not record.target.startswith("#"):
            return [fold(record.target)]
        room = self._d.rooms.rooms.get(record.target)
        if room is None:
            return []
        members = set(room.online.values()) | set(room.registered)
        members.discard(record.sender_key)
        return sorted(members)

    def _online(self, key: str) -> IChatClient | None:
        try:
            return self._d.registry.lookup(key)
        except NoSuchUser:
            return None

    def _offer_event(self, record: FileRecord) -> FileOffer:
        return FileOffer(
            self._now(),
            record.id,
            record.sender,
            record.name,
            record.size,
            record.sha256,
            record.target if record.target.startswith("#") else "",
            record.created + self.max_age,
        )

    def _resume(self, client: IChatClient, args: str) -> Deferred[None]:
        self._binary(client)
        file_id = _int(args, "ID")
        return Deferred.fromCoroutine(self._resumed(client, file_id))

    async def _resumed(self, client: IChatClient, file_id: int) -> None:
        key = fold(str(client.name))
        upload = self._uploads.get(file_id)
        if upload is None:
            record = await self._d.store.get_file(file_id)
            if record is None or record.complete or record.sender_key != key:
                raise NoSuchFile(file_id)
            self._check_uploads(key)
            # After a restart: what is on disk is what arrived.
            received, hasher = await self._io(_rehash, self._part(file_id))
            upload = self._uploads.setdefault(
                file_id, _Upload(record, received, hasher)
            )
        elif upload.record.sender_key != key:
            raise NoSuchFile(file_id)
        record = upload.record
        client.deliver(
            FileUpload(self._now(), file_id, upload.received, record.name, record.size)
        )

    async def _recipient_file(self, client: IChatClient, file_id: int) -> FileRecord:
        record = self._complete_files.get(file_id)
        if record is None:
            record = await self._d.store.get_file(file_id)
            if record is not None and record.complete:
                self._complete_files[file_id] = record
        if (
            record is None
            or not record.complete
            or fold(str(client.name)) not in record.recipients
        ):
            raise NoSuchFile(file_id)
        return record

    def _get(self, client: IChatClient, args: str) -> Deferred[None] | None:
        self._binary(client)
        words = args.split()
        if len(words) != 2:
            raise BadUsage("usage: /file get ID OFFSET")
        file_id, offset = _int(words[0], "ID"), _int(words[1], "OFFSET")
        record = self._complete_files.get(file_id)
        if record is None or fold(str(client.name)) not in record.recipients:
            # First get (or refused): look it up, holding later input.
            return Deferred.fromCoroutine(self._send_chunk(client, file_id, offset))
        # Known: read in the file thread and answer when read; later gets
        # are read meanwhile (the thread keeps them in order).
        self._read_chunk(client, record, offset).addErrback(
            self._read_failed, client, file_id
        )
        return None

    async def _send_chunk(self, client: IChatClient, file_id: int, offset: int) -> None:
        record = await self._recipient_file(client, file_id)
        await self._read_chunk(client, record, offset)

    def _read_chunk(
        self, client: IChatClient, record: FileRecord, offset: int
    ) -> Deferred[None]:
        if offset > record.size:
            error = BadOffset(f"file {record.id} is {record.size} bytes.")
            error.fields = {"id": record.id, "offset": record.size}
            raise error
        length = min(CHUNK_MAX, record.size - offset)
        d = self._io(_read, self._final(record.id), offset, length)
        return d.addCallback(
            lambda data: client.deliver(FileChunk(self._now(), record.id, offset, data))
        )

    def _read_failed(self, failure: Any, client: IChatClient, file_id: int) -> None:
        error = failure.value
        if isinstance(error, ChatError):
            client.deliver(Error.refusing(self._now(), error))
            return
        _log.failure("reading file {id} failed", failure, id=file_id)
        client.deliver(
            Error(
                self._now(),
                "internal",
                f"file {file_id} could not be read.",
                {"id": file_id},
            )
        )

    def _done(self, client: IChatClient, args: str) -> Deferred[None]:
        return Deferred.fromCoroutine(
            self._finished(client, _int(args, "ID"), declined=False)
        )

    def _decline(self, client: IChatClient, args: str) -> Deferred[None]:
        return Deferred.fromCoroutine(
            self._finished(client, _int(args, "ID"), declined=True)
        )

    async def _finished(
        self, client: IChatClient, file_id: int, declined: bool
    ) -> None:
        record = await self._recipient_file(client, file_id)
        key = fold(str(client.name))
        left = await self._d.store.remove_recipient(file_id, key)
        self._complete_files.pop(file_id, None)
        self._guest_offers.get(key, set()).discard(file_id)
        if not left:
            await self._forget(file_id)
        sender = self._online(record.sender_key)
        if sender is not None:
            sender.deliver(
                FileDone(self._now(), file_id, str(client.name), record.name, declined)
            )

    def _cancel(self, client: IChatClient, args: str) -> Deferred[None]:
        return Deferred.fromCoroutine(self._cancelled(client, _int(args, "ID")))

    async def _cancelled(self, client: IChatClient, file_id: int) -> None:
        record = await self._d.store.get_file(file_id)
        if record is None or record.sender_key != fold(str(client.name)):
            raise NoSuchFile(file_id)
        await self._forget(file_id)
        client.deliver(FileDone(self._now(), file_id, record.target, record.name, True))

    async def _forget(self, file_id: int, *, in_store: bool = True) -> None:
        """
        Drop a file everywhere: the cached record, the upload and its open
        file, the store's record (unless the store dropped it already), and
        the spool.
        """
        self._complete_files.pop(file_id, None)
        upload = self._uploads.pop(file_id, None)
        if upload is not None:
            await self._io(_close, upload)
        if in_store:
            await self._d.store.delete_file(file_id)
        await self._io(_remove, self._part(file_id), self._final(file_id))

    def _list(self, client: IChatClient, args: str) -> Deferred[None]:
        return Deferred.fromCoroutine(self._listed(client))

    async def _listed(self, client: IChatClient) -> None:
        key = fold(str(client.name))
        offers = await self.offers_for(key)
        uploads = []
        for record in await self._d.store.uploads_of(key):
            upload = self._uploads.get(record.id)
            if upload is not None:
                received = upload.received
            else:
                received = await self._io(_size, self._part(record.id))
            uploads.append(
                FileUploadInfo(
                    record.id, record.target, record.name, record.size, received
                )
            )
        client.deliver(FileList(self._now(), tuple(offers), tuple(uploads)))

    # Logins, logouts, expiry.

    async def offers_for(self, key: str) -> list[FileOffer]:
        """
        The files waiting for C{key}, as offers.
        """
        records = await self._d.store.files_for(key, self._now() - self.max_age)
        return [self._offer_event(record) for record in records]

    def gone(self, client: IChatClient) -> None:
        """
        C{client} disconnected: close its uploads' files (they can be
        resumed) and drop the offers made to it if it was a guest.
        """
        name = client.name
        if name is None:
            return
        key = fold(name)
        for upload in self._uploads.values():
            if upload.record.sender_key == key and upload.handle is not None:
                self._io(_close, upload).addErrback(_log_failure, "closing an upload")
        if self._stopping:
            return
        for file_id in self._guest_offers.pop(key, set()):
            d = Deferred.fromCoroutine(self._drop_offer(file_id, key))
            d.addErrback(_log_failure, "dropping a guest's offer")

    async def _drop_offer(self, file_id: int, key: str) -> None:
        left = await self._d.store.remove_recipient(file_id, key)
        self._complete_files.pop(file_id, None)  # its recipients changed
        if not left:
            await self._forget(file_id)

    def expire(self) -> Deferred[None]:
        """
        Delete files older than C{max_age}, from the store and the spool.
        """
        return Deferred.fromCoroutine(self._expire())

    async def _expire(self) -> None:
        ids = await self._d.store.expire_files(self._now() - self.max_age)
        for file_id in ids:
            await self._forget(file_id, in_store=False)
        if ids:
            _log.info("{count} expired files deleted", count=len(ids))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def _log_failure(failure: Any, what: str) -> None:
    _log.failure("{what} failed", failure, what=what)


def inline_io(f: Callable[..., _T], *args: Any, **kwargs: Any) -> Deferred[_T]:
    """
    An L{IO} that runs C{f} at once, in this thread: for tests.
    """
    try:
        return succeed(f(*args, **kwargs))
    except Exception as e:
        return fail(e)
