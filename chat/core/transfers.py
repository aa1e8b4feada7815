# -*- test-case-name: tests.core.test_transfers -*-
"""
File transfer through the server: offers, uploads into the spool,
downloads out of it, and the bookkeeping in the store.

The bytes go to an L{ISpool}, which does its I/O off the reactor thread.
An upload is fed one chunk at a time; a chunk's request waits (and so
holds the session's next requests) while the spool falls behind, which
is the backpressure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate
from typing import Final

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.core.accounts import Accounts
from chat.core.client import Client
from chat.core.limits import ID_MAX
from chat.core.names import fold, is_room
from chat.core.peers import Peers
from chat.core.rooms import Rooms
from chat.errors import (
    BadOffset,
    BadUsage,
    ChatError,
    ChecksumMismatch,
    FileTooLarge,
    NoSuchFile,
    NoSuchUser,
    NotInRoom,
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
from chat.store.interface import FileRecord
from chat.store.spool import ISpool

_log: Final = Logger(namespace="chat.core.transfers")
_HEX: Final = frozenset("0123456789abcdef")
#: The longest file name kept, in characters: what file systems allow.
FILE_NAME_MAX: Final = 255


@dataclass
class _Upload:
    """
    An upload this server is receiving: what it has, and the chunks that
    wait for the spool.
    """

    record: FileRecord
    received: int
    # Chunks received while a write was under way: the next write takes
    # them all, so a fast sender costs one thread hand-off per batch.
    queued: list[bytes] = field(default_factory=list)
    writing: bool = False
    # Requests held until the spool catches up.
    waiters: list[Deferred[None]] = field(default_factory=list)
    # The last chunk's request, answered by the checksum check.
    last: Deferred[None] | None = None


def file_name(name: str) -> str:
    """
    The name a file offered as C{name} is kept and shown under: its last
    path component, whatever the sender's separators.

    @raise BadUsage: if nothing usable is left, or it is too long.
    """
    name = name.replace("\\", "/").rpartition("/")[2].strip()
    if not name or not name.isprintable() or name in (".", ".."):
        raise BadUsage("NAME must be a file name")
    if len(name) > FILE_NAME_MAX:
        raise BadUsage(f"a file name is at most {FILE_NAME_MAX} characters")
    return name


def _check_id(file_id: int) -> None:
    """
    @raise NoSuchFile: if no file can have the id C{file_id}: it is never
        looked for (the store's integers are 64-bit).
    """
    if not 1 <= file_id <= ID_MAX:
        raise NoSuchFile(file_id)


class Transfers:
    """
    The files on their way through this server.
    """

    def __init__(
        self, peers: Peers, spool: ISpool, accounts: Accounts, rooms: Rooms
    ) -> None:
        self._clock = peers.clock
        self._store = peers.store
        self._presence = peers.presence
        self._delivery = peers.delivery
        self._limits = peers.limits
        self._spool = spool
        self._accounts = accounts
        self._rooms = rooms
        self._uploads: dict[int, _Upload] = {}
        # Complete files being fetched: a get needs no store lookup.
        self._complete_files: dict[int, FileRecord] = {}
        # Guests offered files: they lose the offers when they disconnect.
        self._guest_offers: dict[str, set[int]] = {}
        self._stopping = False

    def start(self) -> Deferred[None]:
        """
        Start the spool, and forget what only guests of an earlier run were
        offered (their names may belong to anyone now).
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        await self._spool.start()
        for file_id in await self._store.drop_guest_recipients():
            await self._spool.remove(file_id)

    def stopping(self) -> None:
        """
        The server stops and its store closes: connections that close from
        now on change nothing (the next start drops guests' offers).
        """
        self._stopping = True

    def open_uploads(self) -> int:
        """
        Uploads under way, each of which may hold a file open in the spool:
        counted against the descriptor limit (issue 15, "conns").
        """
        return len(self._uploads)

    def _now(self) -> float:
        return self._clock.seconds()

    def _send(self, client: Client, event: FileUpload | FileAck | FileChunk) -> None:
        self._delivery.send(client, event)

    # Offering and uploading.

    def offer(
        self, client: Client, target: str, size: int, sha256: str, name: str
    ) -> Deferred[None]:
        """
        Offer a file to C{target} (a user or a room): the answer says from
        where to upload it.
        """
        limits = self._limits
        sha256 = sha256.lower()
        if len(sha256) != 64 or not set(sha256) <= _HEX:
            raise BadUsage("SHA256 is the 64 hex digits of the file's SHA-256")
        name = file_name(name)
        if size < 0:
            raise BadUsage("SIZE must be a whole number")
        if size > limits.file_max_size:
            raise FileTooLarge(
                f"{name} is {size:,} bytes; files are at most "
                f"{limits.file_max_size:,} bytes."
            )
        sender, key = str(client.name), str(client.key)
        if target.startswith("#"):
            room = self._rooms.get(target) if is_room(target) else None
            if room is None or client not in room.online:
                raise NotInRoom(target)
            target = room.name
        else:
            target_key = fold(target)
            if target_key == key:
                raise BadUsage("you cannot send a file to yourself.")
            try:
                target = str(self._presence.lookup(target).name)
            except NoSuchUser:
                registered = self._accounts.registered(target_key)
                if registered is None:
                    raise
                target = registered
        self._check_uploads(key)
        record = FileRecord(0, key, sender, target, name, size, sha256)
        return Deferred.fromCoroutine(self._create(client, record))

    def _check_uploads(self, key: str) -> None:
        under_way = sum(1 for u in self._uploads.values() if u.record.sender_key == key)
        if under_way >= self._limits.uploads_at_once:
            raise Throttled(
                f"you have {under_way} uploads under way; finish or cancel one "
                "before starting another."
            )

    async def _create(self, client: Client, record: FileRecord) -> None:
        quota = self._limits.file_quota
        used = await self._store.spool_usage(record.sender_key)
        if used + record.size > quota:
            raise QuotaExceeded(
                f"your files waiting to be fetched take {used:,} bytes; with this "
                f"one they would pass your quota of {quota:,}."
            )
        record = await self._store.create_file(
            FileRecord(
                0,
                record.sender_key,
                record.sender,
                record.target,
                record.name,
                record.size,
                record.sha256,
                created=self._now(),
            )
        )
        upload = _Upload(record, 0)
        self._uploads[record.id] = upload
        self._send(
            client, FileUpload(self._now(), record.id, 0, record.name, record.size)
        )
        if record.size == 0:
            await self._complete(client, upload)

    def chunk(
        self, client: Client, file_id: int, offset: int, data: bytes
    ) -> Deferred[None] | None:
        """
        The bytes C{data} of file C{file_id} from C{offset}.

        @return: L{None}, or a L{Deferred} that fires when the sender may
            go on: once the spool caught up, or for the last chunk once the
            file was checked.
        """
        if not 1 <= len(data) <= self._limits.chunk_max:
            raise BadUsage(f"a chunk is 1 to {self._limits.chunk_max} bytes")
        _check_id(file_id)
        upload = self._uploads.get(file_id)
        if upload is None or upload.record.sender_key != client.key:
            raise NoSuchFile(file_id)
        if offset != upload.received:
            self._send(
                client,
                FileUpload(
                    self._now(),
                    file_id,
                    upload.received,
                    upload.record.name,
                    upload.record.size,
                ),
            )
            raise BadOffset(
                f"file {file_id}: the server has {upload.received} bytes; "
                f"send from there (that chunk was discarded).",
                file_id,
                upload.received,
            )
        if upload.received + len(data) > upload.record.size:
            raise BadOffset(
                f"file {file_id} is {upload.record.size} bytes; that chunk goes "
                "past its end and was discarded.",
                file_id,
                upload.received,
            )
        upload.received += len(data)
        upload.queued.append(data)
        held: Deferred[None] | None = None
        if upload.received == upload.record.size:
            held = upload.last = Deferred()  # it waits for the check
        elif len(upload.queued) >= self._limits.writes_ahead:
            # Otherwise only a spool that falls behind holds the sender.
            held = Deferred()
            upload.waiters.append(held)
        if not upload.writing:
            self._flush(client, upload)
        return held

    def _flush(self, client: Client, upload: _Upload) -> None:
        """
        Hand everything queued to the spool in one go.
        """
        batch, upload.queued = upload.queued, []
        start = upload.received - sum(map(len, batch))
        # Where each chunk of the batch ends: each gets its own file-ack.
        ends = list(accumulate(map(len, batch), initial=start))[1:]
        upload.writing = True
        d = self._spool.write(upload.record.id, start, batch)
        d.addCallbacks(
            self._written,
            self._write_failed,
            callbackArgs=(client, upload, ends),
            errbackArgs=(client, upload),
        )

    def _written(
        self, _: object, client: Client, upload: _Upload, ends: list[int]
    ) -> None:
        upload.writing = False
        if self._uploads.get(upload.record.id) is not upload:
            # Cancelled or expired during the write: what is queued is
            # dropped.
            upload.queued = []
            self._checked(None, upload)
            return
        for end in ends:
            self._send(client, FileAck(self._now(), upload.record.id, end))
        if ends[-1] == upload.record.size:
            done = Deferred.fromCoroutine(self._complete(client, upload))
            done.addBoth(self._checked, upload)
            return
        if upload.queued:
            self._flush(client, upload)
        self._release(upload)

    def _release(self, upload: _Upload) -> None:
        """
        Let the requests held while the spool caught up go on.
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

    def _write_failed(self, failure: Failure, client: Client, upload: _Upload) -> None:
        _log.failure("writing file {id} failed", failure, id=upload.record.id)
        upload.writing = False
        self._uploads.pop(upload.record.id, None)
        self._delivery.send(
            client,
            Error(
                self._now(),
                "internal",
                f"file {upload.record.id} could not be written; send it again.",
                {"id": upload.record.id},
            ),
        )
        self._checked(None, upload)

    async def _complete(self, client: Client, upload: _Upload) -> None:
        record = upload.record
        del self._uploads[record.id]
        digest = await self._spool.finish(record.id, record.sha256)
        if digest != record.sha256:
            await self._store.delete_file(record.id)
            mismatch = ChecksumMismatch(
                f"{record.name} arrived with SHA-256 {digest}, not the "
                f"{record.sha256} offered; it was discarded.  Send it again."
            )
            mismatch.fields = {"id": record.id}
            raise mismatch
        recipients = self._recipients(record)
        await self._store.complete_file(record.id, recipients)
        offer = self._offer_event(record)
        stored = False
        for key in recipients:
            recipient = self._presence.find(key)
            if recipient is None:
                stored = True
                continue
            if self._accounts.registered(key) is None:
                self._guest_offers.setdefault(key, set()).add(record.id)
            self._delivery.send(recipient, offer)
        self._delivery.send(
            client, FileSent(self._now(), record.id, record.target, record.name, stored)
        )

    def _recipients(self, record: FileRecord) -> list[str]:
        if not record.target.startswith("#"):
            return [fold(record.target)]
        room = self._rooms.get(record.target)
        if room is None:
            return []
        members = set(room.online.values()) | set(room.registered)
        members.discard(record.sender_key)
        return sorted(members)

    def _offer_event(self, record: FileRecord) -> FileOffer:
        return FileOffer(
            self._now(),
            record.id,
            record.sender,
            record.name,
            record.size,
            record.sha256,
            record.target if record.target.startswith("#") else "",
            record.created + self._limits.file_age,
        )

    def resume(self, client: Client, file_id: int) -> Deferred[None]:
        """
        Where to go on with the upload of file C{file_id}.
        """
        _check_id(file_id)
        return Deferred.fromCoroutine(self._resumed(client, file_id))

    async def _resumed(self, client: Client, file_id: int) -> None:
        key = str(client.key)
        upload = self._uploads.get(file_id)
        if upload is None:
            record = await self._store.get_file(file_id)
            if record is None or record.complete or record.sender_key != key:
                raise NoSuchFile(file_id)
            self._check_uploads(key)
            # After a restart: what the spool has is what arrived.
            received = await self._spool.received(file_id)
            upload = self._uploads.setdefault(file_id, _Upload(record, received))
        elif upload.record.sender_key != key:
            raise NoSuchFile(file_id)
        record = upload.record
        self._send(
            client,
            FileUpload(self._now(), file_id, upload.received, record.name, record.size),
        )

    # Downloading.

    async def _recipient_file(self, client: Client, file_id: int) -> FileRecord:
        record = self._complete_files.get(file_id)
        if record is None:
            record = await self._store.get_file(file_id)
            if record is not None and record.complete:
                self._complete_files[file_id] = record
        if record is None or not record.complete or client.key not in record.recipients:
            raise NoSuchFile(file_id)
        return record

    def get(self, client: Client, file_id: int, offset: int) -> Deferred[None] | None:
        """
        The next chunk of file C{file_id} from C{offset}.
        """
        _check_id(file_id)
        record = self._complete_files.get(file_id)
        if record is None or client.key not in record.recipients:
            # First get (or refused): look it up, holding later requests.
            return Deferred.fromCoroutine(self._send_chunk(client, file_id, offset))
        # Known: read by the spool and answered when read; later gets are
        # read meanwhile (the spool keeps them in order).
        self._read_chunk(client, record, offset).addErrback(
            self._read_failed, client, file_id
        )
        return None

    async def _send_chunk(self, client: Client, file_id: int, offset: int) -> None:
        record = await self._recipient_file(client, file_id)
        await self._read_chunk(client, record, offset)

    def _read_chunk(
        self, client: Client, record: FileRecord, offset: int
    ) -> Deferred[None]:
        if not 0 <= offset <= record.size:
            raise BadOffset(
                f"file {record.id} is {record.size} bytes.", record.id, record.size
            )
        length = min(self._limits.chunk_max, record.size - offset)
        d = self._spool.read(record.id, offset, length)
        return d.addCallback(
            lambda data: self._send(
                client, FileChunk(self._now(), record.id, offset, data)
            )
        )

    def _read_failed(self, failure: Failure, client: Client, file_id: int) -> None:
        error = failure.value
        if isinstance(error, ChatError):
            self._delivery.send(client, Error.refusing(self._now(), error))
            return
        _log.failure("reading file {id} failed", failure, id=file_id)
        self._delivery.send(
            client,
            Error(
                self._now(),
                "internal",
                f"file {file_id} could not be read.",
                {"id": file_id},
            ),
        )

    def done(self, client: Client, file_id: int) -> Deferred[None]:
        """
        C{client} has the whole of file C{file_id}.
        """
        _check_id(file_id)
        return Deferred.fromCoroutine(self._finished(client, file_id, declined=False))

    def decline(self, client: Client, file_id: int) -> Deferred[None]:
        """
        C{client} does not want file C{file_id}.
        """
        _check_id(file_id)
        return Deferred.fromCoroutine(self._finished(client, file_id, declined=True))

    async def _finished(self, client: Client, file_id: int, declined: bool) -> None:
        record = await self._recipient_file(client, file_id)
        key = str(client.key)
        left = await self._store.remove_recipient(file_id, key)
        self._complete_files.pop(file_id, None)
        self._guest_offers.get(key, set()).discard(file_id)
        if not left:
            await self._forget(file_id)
        sender = self._presence.find(record.sender_key)
        if sender is not None:
            self._delivery.send(
                sender,
                FileDone(self._now(), file_id, str(client.name), record.name, declined),
            )

    def cancel(self, client: Client, file_id: int) -> Deferred[None]:
        """
        The sender drops its file C{file_id}, uploaded or not.
        """
        _check_id(file_id)
        return Deferred.fromCoroutine(self._cancelled(client, file_id))

    async def _cancelled(self, client: Client, file_id: int) -> None:
        record = await self._store.get_file(file_id)
        if record is None or record.sender_key != client.key:
            raise NoSuchFile(file_id)
        await self._forget(file_id)
        self._delivery.send(
            client, FileDone(self._now(), file_id, record.target, record.name, True)
        )

    async def _forget(self, file_id: int, *, in_store: bool = True) -> None:
        """
        Drop a file everywhere: the cached record, the upload, the store's
        record (unless the store dropped it already), and the spool.
        """
        self._complete_files.pop(file_id, None)
        self._uploads.pop(file_id, None)
        if in_store:
            await self._store.delete_file(file_id)
        await self._spool.remove(file_id)

    def listing(self, client: Client) -> Deferred[None]:
        """
        The files waiting for C{client}, and its uploads to resume.
        """
        return Deferred.fromCoroutine(self._listed(client))

    async def _listed(self, client: Client) -> None:
        key = str(client.key)
        offers = await self.offers_for(key)
        uploads = []
        for record in await self._store.uploads_of(key):
            upload = self._uploads.get(record.id)
            if upload is not None:
                received = upload.received
            else:
                received = await self._spool.partial_size(record.id)
            uploads.append(
                FileUploadInfo(
                    record.id, record.target, record.name, record.size, received
                )
            )
        self._delivery.send(
            client, FileList(self._now(), tuple(offers), tuple(uploads))
        )

    # Logins, logouts, expiry.

    async def offers_for(self, key: str) -> list[FileOffer]:
        """
        The files waiting for C{key}, as offers.
        """
        oldest = self._now() - self._limits.file_age
        records = await self._store.files_for(key, oldest)
        return [self._offer_event(record) for record in records]

    def gone(self, client: Client) -> None:
        """
        C{client} disconnected: let go of its uploads (they can be resumed)
        and drop the offers made to it if it was a guest.
        """
        key = client.key
        if key is None:
            return
        for upload in self._uploads.values():
            if upload.record.sender_key == key:
                d = self._spool.release(upload.record.id)
                d.addErrback(_log_failure, "closing an upload")
        if self._stopping:
            return
        for file_id in self._guest_offers.pop(key, set()):
            d = Deferred.fromCoroutine(self._drop_offer(file_id, key))
            d.addErrback(_log_failure, "dropping a guest's offer")

    async def _drop_offer(self, file_id: int, key: str) -> None:
        left = await self._store.remove_recipient(file_id, key)
        self._complete_files.pop(file_id, None)  # its recipients changed
        if not left:
            await self._forget(file_id)

    def expire(self) -> Deferred[None]:
        """
        Delete files older than L{Limits.file_age}, from the store and the
        spool.
        """
        return Deferred.fromCoroutine(self._expire())

    async def _expire(self) -> None:
        ids = await self._store.expire_files(self._now() - self._limits.file_age)
        for file_id in ids:
            await self._forget(file_id, in_store=False)
        if ids:
            _log.info("{count} expired files deleted", count=len(ids))


def _log_failure(failure: Failure, what: str) -> None:
    _log.failure("{what} failed", failure, what=what)
