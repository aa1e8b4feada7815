# -*- test-case-name: tests.core.test_transfers -*-
"""
File transfer through the server: offers, uploads into the spool,
downloads out of it, and the bookkeeping in the store.

The bytes go to an L{ISpool}, which does its I/O off the reactor thread.
An upload is fed one chunk at a time; a chunk's request waits (and so
holds the session's next requests) while the spool falls behind, which
is the backpressure.

Files belong to accounts and connections, not to names: a registered
user sends and receives as its account (the store binds the key to the
account, see L{FileRecord}); a guest as its connection (a
L{guest_holder}).  When a guest's connection closes, its offers and its
unfinished uploads go; the files it finished sending stay for their
other recipients, but nobody can resume or cancel them any more.
Unregistering drops all of an account's files, sent and offered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate
from typing import Final

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.core.accounts import Accounts
from chat.core.client import ONLINE, Client
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
    NoRecipients,
    NoSuchFile,
    NoSuchUser,
    NotDelivered,
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
from chat.store.interface import FileRecord, guest_holder, is_guest_holder
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
    # The sender's connection, and the one recipient of a file to a user
    # (a holder), told apart from a room's.
    client: Client
    to: str | None
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
        self._security_log = peers.security_log
        self._spool = spool
        self._accounts = accounts
        self._rooms = rooms
        # Uploads under way: their senders are online.
        self._uploads: dict[int, _Upload] = {}
        # Complete files being fetched: a get needs no store lookup.
        self._complete_files: dict[int, FileRecord] = {}
        # Guests' connections and their holders, both ways.
        self._guests: dict[Client, str] = {}
        self._guest_clients: dict[str, Client] = {}
        self._serial = 0
        # Files sent from a connection of this run: the address and size,
        # and their sum per address (the per-address cap).
        self._from: dict[int, tuple[str, int]] = {}
        self._address_bytes: dict[str, int] = {}
        # Bytes of offers still being recorded (the spool-wide cap).
        self._offering = 0
        self._stopping = False
        accounts.on_unregistered.append(self.unregistered)

    def start(self) -> Deferred[None]:
        """
        Start the spool, and forget what only guests of an earlier run were
        offered (their names may belong to anyone now).
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        await self._spool.start()
        for file_id in await self._store.drop_orphans():
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

    # Who holds files.

    def _holder(self, client: Client) -> str:
        """
        Who C{client} is for files: its key if its name is registered,
        else its connection's own guest holder.
        """
        key = str(client.key)
        if self._accounts.registered(key) is not None:
            return key
        holder = self._guests.get(client)
        if holder is None:
            self._serial += 1
            holder = self._guests[client] = guest_holder(key, self._serial)
            self._guest_clients[holder] = client
        return holder

    def _holders(self, client: Client) -> tuple[str, ...]:
        """
        Every holder C{client} is: L{_holder}, and the guest holder it had
        before it registered its name, if it had one (what it was sent or
        sent as a guest stays its own until it leaves).
        """
        holder = self._holder(client)
        guest = self._guests.get(client)
        return (holder,) if guest is None or guest == holder else (holder, guest)

    def _recipient_holder(self, client: Client, record: FileRecord) -> str | None:
        """
        Which of C{client}'s holders C{record} is offered to, if any.
        """
        for holder in self._holders(client):
            if holder in record.recipients:
                return holder
        return None

    def _alive(self, holder: str) -> bool:
        """
        Whether C{holder} is still there: a guest's connection open, an
        account registered.
        """
        if is_guest_holder(holder):
            return holder in self._guest_clients
        return self._accounts.registered(holder) is not None

    def _holder_client(self, holder: str) -> Client | None:
        """
        The connection online as C{holder}, if any.
        """
        if is_guest_holder(holder):
            return self._guest_clients.get(holder)
        client = self._presence.find(holder)
        if client is None or self._accounts.registered(holder) is None:
            return None
        return client

    def _room_recipients(self, room_name: str, sender: str) -> list[str]:
        """
        The holders a file to room C{room_name} goes to: its members
        online and its registered members, but its sender.
        """
        room = self._rooms.get(room_name)
        if room is None:
            return []
        members = {self._holder(member) for member in room.online}
        members |= set(room.registered)
        members.discard(sender)
        return sorted(members)

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
        holder = self._holder(client)
        to: str | None = None
        if target.startswith("#"):
            room = self._rooms.get(target) if is_room(target) else None
            if room is None or client not in room.online:
                raise NotInRoom(target)
            target = room.name
            if not self._room_recipients(target, holder):
                raise NoRecipients(
                    f"nobody else is in {target} to receive a file; nothing was sent."
                )
        else:
            target_key = fold(target)
            if target_key == key:
                raise BadUsage("you cannot send a file to yourself.")
            try:
                recipient = self._presence.lookup(target)
                target = str(recipient.name)
                to = self._holder(recipient)
            except NoSuchUser:
                registered = self._accounts.registered(target_key)
                if registered is None:
                    raise
                target, to = registered, target_key
        self._check_uploads(client, holder)
        self._check_space(client, size)
        record = FileRecord(0, holder, sender, target, name, size, sha256)
        # Counted from now, so that offers made meanwhile see this one.
        self._offering += size
        if not client.exempt:
            self._count_address(client.peer, size)
        d = Deferred.fromCoroutine(self._create(client, record, to))

        def counted(result: object) -> object:
            self._offering -= size
            if not client.exempt:
                self._count_address(client.peer, -size)
            return result

        return d.addBoth(counted)

    def _count_address(self, peer: str, size: int) -> None:
        left = self._address_bytes.get(peer, 0) + size
        if left > 0:
            self._address_bytes[peer] = left
        else:
            self._address_bytes.pop(peer, None)

    def _uncount(self, file_id: int) -> None:
        """
        File C{file_id} left the spool: its address's count goes down.
        """
        sent = self._from.pop(file_id, None)
        if sent is not None:
            self._count_address(sent[0], -sent[1])

    def _refused(self, client: Client, limit: str) -> None:
        """
        Log, as a security event, a file refused for a limit that protects
        the server rather than one user's quota.
        """
        self._security_log.warn(
            _log,
            "refused a file from {peer} ({name}): limit of {limit} reached",
            peer=client.peer,
            name=client.name,
            limit=limit,
        )

    def _check_uploads(self, client: Client, holder: str) -> None:
        """
        @raise Throttled: if C{holder}, C{client}'s address (unless
            exempt) or the server has as many uploads under way as it may:
            each may hold a spool file open.
        """
        limits = self._limits
        under_way = sum(
            1 for u in self._uploads.values() if u.record.sender_key == holder
        )
        if under_way >= limits.uploads_at_once:
            raise Throttled(
                f"you have {under_way} uploads under way; finish or cancel one "
                "before starting another."
            )
        if not client.exempt:
            peer = client.peer
            here = sum(1 for u in self._uploads.values() if u.client.peer == peer)
            if here >= limits.address_uploads_at_once:
                self._refused(client, "uploads from its address")
                raise Throttled(
                    f"{here} uploads are under way from your address; finish or "
                    "cancel one before starting another."
                )
        if len(self._uploads) >= limits.uploads_open_max:
            self._refused(client, "uploads on the server")
            raise Throttled(
                "the server has as many uploads under way as it takes; try again later."
            )

    def _check_space(self, client: Client, size: int) -> None:
        """
        @raise QuotaExceeded: if C{size} more bytes would pass the cap of
            C{client}'s address (unless exempt).
        """
        quota = self._limits.address_file_quota
        used = self._address_bytes.get(client.peer, 0)
        if not client.exempt and used + size > quota:
            self._refused(client, "bytes from its address")
            raise QuotaExceeded(
                f"files from your address waiting in the server take {used:,} "
                f"bytes; with this one they would pass its quota of {quota:,}."
            )

    async def _create(self, client: Client, record: FileRecord, to: str | None) -> None:
        quota = self._limits.file_quota
        used = await self._store.spool_usage(record.sender_key)
        if used + record.size > quota:
            raise QuotaExceeded(
                f"your files waiting to be fetched take {used:,} bytes; with this "
                f"one they would pass your quota of {quota:,}."
            )
        spool_quota = self._limits.spool_quota
        # Offers being recorded count, this one included.
        total = await self._store.spool_total() + self._offering
        if total > spool_quota:
            self._refused(client, "bytes in the spool")
            raise QuotaExceeded(
                f"the server's file space is full ({spool_quota:,} bytes); "
                "try again once files waiting there were fetched."
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
            ),
            [] if to is None else [to],
        )
        holder = record.sender_key
        if (
            client.state is not ONLINE
            or not self._alive(holder)
            or (not is_guest_holder(holder) and record.sender_account is None)
        ):
            # The sender left or gave its name up meanwhile.
            await self._store.delete_file(record.id)
            return
        if to is not None and (not self._alive(to) or not record.recipients):
            await self._store.delete_file(record.id)
            raise NotDelivered(f"{record.target} left; nothing was sent.")
        if not client.exempt:
            self._from[record.id] = (client.peer, record.size)
            self._count_address(client.peer, record.size)
        upload = _Upload(record, 0, client, to)
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
        if upload is None or upload.client is not client:
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
            # The spool deleted what arrived.
            self._uncount(record.id)
            await self._store.delete_file(record.id)
            mismatch = ChecksumMismatch(
                f"{record.name} arrived with SHA-256 {digest}, not the "
                f"{record.sha256} offered; it was discarded.  Send it again."
            )
            mismatch.fields = {"id": record.id}
            raise mismatch
        members = []
        if upload.to is None:
            members = self._room_recipients(record.target, record.sender_key)
        recipients = await self._store.complete_file(record.id, members)
        for holder in recipients:
            if not self._alive(holder):
                # Gone while the file was recorded: its drop came first.
                await self._store.remove_recipient(record.id, holder)
        recipients = [holder for holder in recipients if self._alive(holder)]
        if not recipients:
            await self._forget(record.id)
            raise self._not_delivered(record)
        offer = self._offer_event(record)
        stored = False
        for holder in recipients:
            recipient = self._holder_client(holder)
            if recipient is None:
                stored = True
            else:
                self._delivery.send(recipient, offer)
        self._delivery.send(
            client, FileSent(self._now(), record.id, record.target, record.name, stored)
        )

    @staticmethod
    def _not_delivered(record: FileRecord) -> NotDelivered:
        error = NotDelivered(
            f"{record.name} was not delivered: nobody who was to receive it is "
            f"left ({record.target}); it was discarded."
        )
        error.fields = {"id": record.id}
        return error

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
        holders = self._holders(client)
        upload = self._uploads.get(file_id)
        if upload is None:
            record = await self._store.get_file(file_id)
            if record is None or record.complete or record.sender_key not in holders:
                raise NoSuchFile(file_id)
            holder = record.sender_key
            to = None
            if not record.target.startswith("#"):
                if not record.recipients:
                    await self._forget(file_id)
                    raise self._not_delivered(record)
                to = record.recipients[0]
            self._check_uploads(client, holder)
            # After a reconnection or a restart: what the spool has is what
            # arrived.
            received = await self._spool.received(file_id)
            if client.state is not ONLINE:
                return
            upload = self._uploads.setdefault(
                file_id, _Upload(record, received, client, to)
            )
            if not client.exempt and file_id not in self._from:
                self._from[file_id] = (client.peer, record.size)
                self._count_address(client.peer, record.size)
        elif upload.client is not client:
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
        if (
            record is None
            or not record.complete
            or self._recipient_holder(client, record) is None
        ):
            raise NoSuchFile(file_id)
        return record

    def get(self, client: Client, file_id: int, offset: int) -> Deferred[None] | None:
        """
        The next chunk of file C{file_id} from C{offset}.
        """
        _check_id(file_id)
        record = self._complete_files.get(file_id)
        if record is None or self._recipient_holder(client, record) is None:
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
        holder = self._recipient_holder(client, record)
        assert holder is not None  # checked by _recipient_file
        left = await self._store.remove_recipient(file_id, holder)
        self._complete_files.pop(file_id, None)
        if not left:
            await self._forget(file_id)
        sender = self._holder_client(record.sender_key)
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
        if record is None or record.sender_key not in self._holders(client):
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
        self._uncount(file_id)
        if in_store:
            await self._store.delete_file(file_id)
        await self._spool.remove(file_id)

    def listing(self, client: Client) -> Deferred[None]:
        """
        The files waiting for C{client}, and its uploads to resume.
        """
        return Deferred.fromCoroutine(self._listed(client))

    async def _listed(self, client: Client) -> None:
        offers, records = [], []
        for holder in self._holders(client):
            offers += await self.offers_for(holder)
            records += await self._store.uploads_of(holder)
        uploads = []
        for record in sorted(records, key=lambda r: r.id):
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
        The files waiting for the holder C{key} (a registered user's key at
        login), as offers.
        """
        oldest = self._now() - self._limits.file_age
        records = await self._store.files_for(key, oldest)
        return [self._offer_event(record) for record in records]

    def gone(self, client: Client) -> None:
        """
        C{client} disconnected: let go of its uploads (a registered user
        can resume them), and if it was a guest, drop what it sent and
        what it was offered.
        """
        holder = self._guests.pop(client, None)
        if holder is not None:
            del self._guest_clients[holder]
        for file_id, upload in list(self._uploads.items()):
            if upload.client is client:
                del self._uploads[file_id]
                d = self._spool.release(file_id)
                d.addErrback(_log_failure, "closing an upload")
        if self._stopping or holder is None:
            return
        # What it finished sending stays for those still to receive it.
        self._drop(holder, keep_sent=True)

    def unregistered(self, client: Client, key: str) -> None:
        """
        The account C{key} was deleted: drop what it sent and what it was
        offered; the next holder of the name gets none of it.
        """
        self._complete_files.clear()
        for file_id, upload in list(self._uploads.items()):
            if upload.record.sender_key == key:
                del self._uploads[file_id]
                d = self._spool.release(file_id)
                d.addErrback(_log_failure, "closing an upload")
        self._drop(key)

    def _drop(self, holder: str, *, keep_sent: bool = False) -> None:
        """
        Drop what C{holder} sent (but, if C{keep_sent}, what it finished
        uploading) and was offered; the senders of uploads under way to it
        alone are told at once.
        """
        for upload in list(self._uploads.values()):
            if upload.to == holder:
                record = upload.record
                self._delivery.send(
                    upload.client,
                    Error.refusing(self._now(), self._not_delivered(record)),
                )
        d = Deferred.fromCoroutine(self._dropped(holder, keep_sent))
        d.addErrback(_log_failure, "dropping files")

    async def _dropped(self, holder: str, keep_sent: bool) -> None:
        for file_id in await self._store.drop_holder(holder, keep_sent=keep_sent):
            await self._forget(file_id, in_store=False)

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
