# -*- test-case-name: tests.store.test_contract -*-
"""
L{MemoryStore}: an L{IChatStore} that keeps everything in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import replace

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from chat.errors import AccountExists, NoSuchAccount, QueueFull
from chat.store.interface import (
    Account,
    FileRecord,
    HistoryEntry,
    IChatStore,
    Membership,
    PrivateEntry,
    RoomRecord,
    StoredMessage,
    pair,
)


@implementer(IChatStore)
class MemoryStore:
    """
    An L{IChatStore} that keeps everything in memory and answers at once
    (its L{Deferred}s have fired already): for tests, and for servers that
    need no durability.
    """

    def __init__(
        self, *, history_keep: int = 100_000, private_keep: int = 1000
    ) -> None:
        self.history_keep = history_keep
        self.private_keep = private_keep
        self._private: dict[tuple[str, str], deque[PrivateEntry]] = {}
        self._private_off: set[str] = set()
        self._accounts: dict[str, Account] = {}
        self._queues: dict[str, list[StoredMessage]] = {}
        self._next_message = 1
        self._history: dict[str, deque[HistoryEntry]] = {}
        # Resume (issue 16): the last history id given.
        self.last_history_id = 0
        self._rooms: dict[str, RoomRecord] = {}
        self._files: dict[int, FileRecord] = {}
        # File id -> recipient holder -> the account it was bound to.
        self._recipients: dict[int, dict[str, float | None]] = {}
        self._next_file = 1

    def start(self) -> Deferred[None]:
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)

    def get_account(self, key: str) -> Deferred[Account | None]:
        return succeed(self._accounts.get(key))

    def account_names(self) -> Deferred[dict[str, str]]:
        return succeed({key: a.name for key, a in self._accounts.items()})

    def create_account(self, account: Account) -> Deferred[Account]:
        if account.key in self._accounts:
            return fail(AccountExists(account.name))
        self._accounts[account.key] = account
        return succeed(account)

    def set_password_hash(self, key: str, password_hash: str) -> Deferred[None]:
        account = self._accounts.get(key)
        if account is None:
            return fail(NoSuchAccount(key))
        self._accounts[key] = replace(account, password_hash=password_hash)
        return succeed(None)

    def delete_account(self, key: str) -> Deferred[None]:
        if self._accounts.pop(key, None) is None:
            return fail(NoSuchAccount(key))
        self._queues.pop(key, None)
        self._forget_private(key)
        self._private_off.discard(key)
        # What the foreign keys do in SQLite.
        for room, record in list(self._rooms.items()):
            self._rooms[room] = replace(
                record,
                owner=None if record.owner == key else record.owner,
                members=tuple(m for m in record.members if m.member != key),
                invites=record.invites - {key},
            )
        return succeed(None)

    def enqueue(
        self, message: StoredMessage, *, max_count: int, max_age: float
    ) -> Deferred[StoredMessage]:
        key = message.recipient
        account = self._accounts.get(key)
        if account is None:
            return fail(NoSuchAccount(key))
        oldest = message.time - max_age
        queue = [m for m in self._queues.get(key, []) if m.time >= oldest]
        self._queues[key] = queue
        if len(queue) >= max_count:
            return fail(QueueFull(account.name, max_count))
        stored = replace(message, id=self._next_message)
        self._next_message += 1
        queue.append(stored)
        return succeed(stored)

    def pending(
        self, recipient_key: str, now: float, max_age: float
    ) -> Deferred[list[StoredMessage]]:
        oldest = now - max_age
        queue = self._queues.get(recipient_key, [])
        return succeed([m for m in queue if m.time >= oldest])

    def ack(self, recipient_key: str, ids: Iterable[int]) -> Deferred[int]:
        queue = self._queues.get(recipient_key, [])
        gone = set(ids)
        kept = [m for m in queue if m.id not in gone]
        if queue:
            self._queues[recipient_key] = kept
        return succeed(len(queue) - len(kept))

    def expire(self, now: float, max_age: float) -> Deferred[int]:
        oldest, count = now - max_age, 0
        for key, queue in list(self._queues.items()):
            kept = [m for m in queue if m.time >= oldest]
            count += len(queue) - len(kept)
            self._queues[key] = kept
        return succeed(count)

    def load_rooms(self) -> Deferred[list[RoomRecord]]:
        return succeed([self._rooms[key] for key in sorted(self._rooms)])

    def save_room(self, room: RoomRecord) -> Deferred[None]:
        owner = room.owner if room.owner in self._accounts else None
        old = self._rooms.get(room.key)
        self._rooms[room.key] = replace(
            room,
            owner=owner,
            created=old.created if old else room.created,
            members=old.members if old else (),
            invites=old.invites if old else frozenset(),
        )
        return succeed(None)

    def delete_room(self, key: str) -> Deferred[None]:
        self._rooms.pop(key, None)
        self._history.pop(key, None)
        return succeed(None)

    def save_member(self, membership: Membership) -> Deferred[None]:
        record = self._rooms.get(membership.room)
        if record is None or membership.member not in self._accounts:
            return succeed(None)
        members = {m.member: m for m in record.members}
        old = members.get(membership.member)
        if old is not None:
            membership = replace(membership, seen=old.seen)
        members[membership.member] = membership
        self._set_members(record, members.values())
        return succeed(None)

    def _set_members(self, record: RoomRecord, members: Iterable[Membership]) -> None:
        self._rooms[record.key] = replace(
            record, members=tuple(sorted(members, key=lambda m: m.member))
        )

    def delete_member(self, room: str, member: str) -> Deferred[None]:
        record = self._rooms.get(room)
        if record is not None:
            self._set_members(record, (m for m in record.members if m.member != member))
        return succeed(None)

    def set_seen(self, member: str, seen: float) -> Deferred[None]:
        for record in list(self._rooms.values()):
            if not any(m.member == member for m in record.members):
                continue  # called at every logout: leave other rooms alone
            self._set_members(
                record,
                [
                    replace(m, seen=seen) if m.member == member else m
                    for m in record.members
                ],
            )
        return succeed(None)

    def save_invite(self, room: str, member: str) -> Deferred[None]:
        record = self._rooms.get(room)
        if record is not None and member in self._accounts:
            self._rooms[room] = replace(record, invites=record.invites | {member})
        return succeed(None)

    def delete_invite(self, room: str, member: str) -> Deferred[None]:
        record = self._rooms.get(room)
        if record is not None:
            self._rooms[room] = replace(record, invites=record.invites - {member})
        return succeed(None)

    # Files: a record's recipients are kept with what each was bound to
    # (L{_recipients}), as SQLite keeps them in rows.

    def _bound(self, key: str) -> float | None:
        """
        What a holder is bound to now: the created time of the account
        registered under it, or L{None}.
        """
        account = self._accounts.get(key)
        return None if account is None else account.created

    def _valid(self, record: FileRecord) -> bool:
        return record.sender_account == self._bound(record.sender_key)

    def _valid_recipients(self, file_id: int) -> tuple[str, ...]:
        bound = self._recipients.get(file_id, {})
        return tuple(
            sorted(key for key, account in bound.items() if account == self._bound(key))
        )

    def _add_recipients(self, file_id: int, recipients: Iterable[str]) -> None:
        bound = self._recipients.setdefault(file_id, {})
        for key in recipients:
            bound.setdefault(key, self._bound(key))

    def create_file(
        self, file: FileRecord, recipients: Iterable[str] = ()
    ) -> Deferred[FileRecord]:
        record = replace(
            file,
            id=self._next_file,
            complete=False,
            recipients=(),
            sender_account=self._bound(file.sender_key),
        )
        self._next_file += 1
        self._files[record.id] = record
        self._add_recipients(record.id, recipients)
        return succeed(replace(record, recipients=self._valid_recipients(record.id)))

    def complete_file(
        self, file_id: int, recipients: Iterable[str]
    ) -> Deferred[list[str]]:
        record = self._files.get(file_id)
        if record is None:
            return succeed([])
        self._files[file_id] = replace(record, complete=True)
        self._add_recipients(file_id, recipients)
        return succeed(list(self._valid_recipients(file_id)))

    def get_file(self, file_id: int) -> Deferred[FileRecord | None]:
        record = self._files.get(file_id)
        if record is None or not self._valid(record):
            return succeed(None)
        return succeed(replace(record, recipients=self._valid_recipients(file_id)))

    def files_for(
        self, recipient_key: str, oldest: float
    ) -> Deferred[list[FileRecord]]:
        return succeed(
            [
                f
                for i, f in sorted(self._files.items())
                if f.complete
                and f.created >= oldest
                and self._valid(f)
                and recipient_key in self._valid_recipients(i)
            ]
        )

    def uploads_of(self, sender_key: str) -> Deferred[list[FileRecord]]:
        return succeed(
            [
                f
                for _, f in sorted(self._files.items())
                if f.sender_key == sender_key and not f.complete and self._valid(f)
            ]
        )

    def spool_usage(self, sender_key: str) -> Deferred[int]:
        return succeed(
            sum(f.size for f in self._files.values() if f.sender_key == sender_key)
        )

    def spool_total(self) -> Deferred[int]:
        return succeed(sum(f.size for f in self._files.values()))

    def remove_recipient(self, file_id: int, recipient_key: str) -> Deferred[int]:
        self._recipients.get(file_id, {}).pop(recipient_key, None)
        return succeed(len(self._valid_recipients(file_id)))

    def _delete(self, ids: Iterable[int]) -> list[int]:
        ids = sorted(ids)
        for i in ids:
            self._files.pop(i, None)
            self._recipients.pop(i, None)
        return ids

    def delete_file(self, file_id: int) -> Deferred[None]:
        self._delete([file_id])
        return succeed(None)

    def expire_files(self, oldest: float) -> Deferred[list[int]]:
        return succeed(
            self._delete(i for i, f in self._files.items() if f.created < oldest)
        )

    def _unreceived(self, file_id: int) -> bool:
        """
        Whether nobody is left to receive file C{file_id} though it is
        complete or an upload to a user.
        """
        record = self._files[file_id]
        return (
            record.complete or not record.target.startswith("#")
        ) and not self._valid_recipients(file_id)

    def drop_holder(
        self, holder: str, *, keep_sent: bool = False
    ) -> Deferred[list[int]]:
        ids = {
            i
            for i, f in self._files.items()
            if f.sender_key == holder and not (keep_sent and f.complete)
        }
        for i, bound in self._recipients.items():
            if bound.pop(holder, False) is not False and i not in ids:
                if self._unreceived(i):
                    ids.add(i)
        return succeed(self._delete(ids))

    def drop_orphans(self) -> Deferred[list[int]]:
        for bound in self._recipients.values():
            for key, account in list(bound.items()):
                if account is None or account != self._bound(key):
                    del bound[key]
        return succeed(
            self._delete(
                i
                for i, f in self._files.items()
                if not self._valid(f)
                or (f.sender_account is None and not f.complete)
                or self._unreceived(i)
            )
        )

    def history_since(
        self, room: str, since: float, until: float, limit: int
    ) -> Deferred[list[HistoryEntry]]:
        if limit <= 0:
            return succeed([])
        entries = [e for e in self._history.get(room, ()) if since < e.time <= until]
        return succeed(entries[-limit:])

    def add_history(self, entry: HistoryEntry) -> None:
        self.last_history_id += 1
        entry.id = self.last_history_id
        entries = self._history.get(entry.room)
        if entries is None:
            entries = self._history[entry.room] = deque(maxlen=self.history_keep)
        entries.append(entry)

    def flush_history(self) -> Deferred[None]:
        return succeed(None)

    def history_after(
        self, room: str, after: int, limit: int
    ) -> Deferred[list[HistoryEntry]]:
        if limit <= 0:
            return succeed([])
        entries = [e for e in self._history.get(room, ()) if e.id > after]
        return succeed(entries[-limit:])

    def history(self, room: str, limit: int) -> Deferred[list[HistoryEntry]]:
        if limit <= 0:
            return succeed([])
        entries = self._history.get(room, ())
        return succeed(list(entries)[-limit:])

    # Private history (issue 16).

    def add_private(self, entry: PrivateEntry) -> None:
        conversation = pair(entry.sender_key, entry.recipient_key)
        entries = self._private.get(conversation)
        if entries is None:
            entries = self._private[conversation] = deque(maxlen=self.private_keep)
        entries.append(entry)

    def private_history(
        self, key: str, other: str, limit: int
    ) -> Deferred[list[PrivateEntry]]:
        if limit <= 0:
            return succeed([])
        entries = self._private.get(pair(key, other), ())
        return succeed(list(entries)[-limit:])

    def private_opt_outs(self) -> Deferred[set[str]]:
        return succeed(set(self._private_off))

    def set_private_history(self, key: str, keep: bool) -> Deferred[None]:
        if keep:
            self._private_off.discard(key)
        elif key in self._accounts:
            self._private_off.add(key)
            self._forget_private(key)
        return succeed(None)

    def _forget_private(self, key: str) -> None:
        for conversation in [c for c in self._private if key in c]:
            del self._private[conversation]
