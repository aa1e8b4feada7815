"""
Tests for L{chat.store}.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from chat.errors import ChatError, NoSuchAccount
from chat.store import (
    HISTORY_ROWS,
    MIGRATIONS,
    SCHEMA_VERSION,
    Account,
    AccountExists,
    FileRecord,
    HistoryEntry,
    IChatStore,
    MemoryStore,
    QueueFull,
    RoomRecord,
    SQLiteStore,
    StoredMessage,
    StoreError,
    _write_history,
    migrate,
)

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object

_E = TypeVar("_E", bound=BaseException)

DAY = 86400.0


class StoreTestsMixin(_Base):
    """
    What every L{IChatStore} does; mixed into one L{TestCase} per store.
    """

    def make_store(self) -> IChatStore:
        """
        A new, unstarted store.
        """
        raise NotImplementedError

    async def fails(self, result: Awaitable[object], kind: type[_E]) -> _E:
        """
        Wait for C{result} and check that it fails with C{kind}.

        @return: the exception.
        """
        try:
            value = await result
        except kind as e:
            return e
        self.fail(f"expected {kind.__name__}, got {value!r}")

    async def open_store(self) -> IChatStore:
        """
        A started store, closed when the test ends.
        """
        store = self.make_store()
        await store.start()
        self.addCleanup(store.close)
        return store

    async def with_account(self, key: str = "bob", name: str = "Bob") -> IChatStore:
        """
        A started store with one account.
        """
        store = await self.open_store()
        await store.create_account(key, name, "hash", 1.0)
        return store

    async def enqueue(
        self,
        store: IChatStore,
        text: str,
        now: float = 10.0,
        key: str = "bob",
        max_count: int = 100,
        max_age: float = DAY,
    ) -> StoredMessage:
        """
        Store C{text} from alice for C{key}, with generous limits by default.
        """
        return await store.enqueue(
            key, "alice", text, now, max_count=max_count, max_age=max_age
        )

    def test_provides_interface(self) -> None:
        """
        The store provides L{IChatStore}.
        """
        self.assertTrue(verifyObject(IChatStore, self.make_store()))

    async def test_accounts(self) -> None:
        """
        Accounts are created, found by key, listed, changed and deleted.
        """
        store = await self.open_store()
        self.assertIsNone(await store.get_account("bob"))
        account = await store.create_account("bob", "Bob", "h1", 5.0)
        self.assertEqual(account, Account("bob", "Bob", "h1", 5.0))
        self.assertEqual(await store.get_account("bob"), account)
        await store.create_account("carol", "CAROL", "h2", 6.0)
        self.assertEqual(await store.account_names(), {"bob": "Bob", "carol": "CAROL"})
        await store.set_password_hash("bob", "h3")
        self.assertEqual(
            await store.get_account("bob"), Account("bob", "Bob", "h3", 5.0)
        )
        await store.delete_account("bob")
        self.assertIsNone(await store.get_account("bob"))
        self.assertEqual(await store.account_names(), {"carol": "CAROL"})

    async def test_account_exists(self) -> None:
        """
        A key is registered once; the error names the account as typed.
        """
        store = await self.with_account()
        error = await self.fails(
            store.create_account("bob", "BOB", "other", 2.0), AccountExists
        )
        self.assertIsInstance(error, ChatError)
        self.assertEqual(error.code, "account-exists")
        self.assertEqual(str(error), "BOB is already registered.")
        self.assertEqual(
            (await store.get_account("bob")), Account("bob", "Bob", "hash", 1.0)
        )

    async def test_no_such_account(self) -> None:
        """
        Changing or deleting a missing account fails with L{NoSuchAccount}.
        """
        store = await self.open_store()
        error = await self.fails(store.set_password_hash("nobody", "h"), NoSuchAccount)
        self.assertEqual(error.code, "no-such-account")
        await self.fails(store.delete_account("nobody"), NoSuchAccount)
        self.assertEqual(await store.account_names(), {})

    async def test_enqueue_pending_ack(self) -> None:
        """
        Stored messages come back oldest first until acknowledged.
        """
        store = await self.with_account()
        first = await self.enqueue(store, "one", 10.0)
        second = await store.enqueue(
            "bob", "carol", "waves", 11.0, "action", max_count=10, max_age=DAY
        )
        self.assertEqual(
            first, StoredMessage(first.id, "bob", "alice", "one", 10.0, "private")
        )
        self.assertEqual(second.kind, "action")
        self.assertGreater(second.id, first.id)
        self.assertEqual(await store.pending("bob", 12.0, DAY), [first, second])
        self.assertEqual(await store.ack("bob", [first.id]), 1)
        self.assertEqual(await store.pending("bob", 12.0, DAY), [second])
        self.assertEqual(await store.ack("bob", iter([second.id, second.id])), 1)
        self.assertEqual(await store.pending("bob", 12.0, DAY), [])

    async def test_ack_only_own(self) -> None:
        """
        An account cannot acknowledge (delete) another account's messages.
        """
        store = await self.with_account()
        await store.create_account("carol", "Carol", "hash", 1.0)
        for_bob = await self.enqueue(store, "for bob")
        for_carol = await self.enqueue(store, "for carol", key="carol")
        self.assertEqual(await store.ack("bob", [for_carol.id, 12345]), 0)
        self.assertEqual(await store.pending("carol", 12.0, DAY), [for_carol])
        self.assertEqual(await store.pending("bob", 12.0, DAY), [for_bob])

    async def test_enqueue_needs_account(self) -> None:
        """
        Messages are kept only for registered names.
        """
        store = await self.open_store()
        await self.fails(self.enqueue(store, "hi"), NoSuchAccount)

    async def test_queue_full(self) -> None:
        """
        With C{max_count} messages waiting, the next is refused and not kept.
        """
        store = await self.with_account()
        kept = [await self.enqueue(store, str(i), max_count=2) for i in range(2)]
        error = await self.fails(self.enqueue(store, "three", max_count=2), QueueFull)
        self.assertIsInstance(error, ChatError)
        self.assertEqual(error.code, "queue-full")
        self.assertEqual(
            str(error), "Bob's offline queue is full (2 messages); try again later."
        )
        self.assertEqual(await store.pending("bob", 12.0, DAY), kept)

    async def test_expired_messages(self) -> None:
        """
        Messages older than C{max_age} are not returned, and make room in a
        full queue.
        """
        store = await self.with_account()
        old = await self.enqueue(store, "old", 10.0, max_count=1, max_age=100.0)
        self.assertEqual(await store.pending("bob", 110.0, 100.0), [old])
        self.assertEqual(await store.pending("bob", 110.5, 100.0), [])
        new = await self.enqueue(store, "new", 111.0, max_count=1, max_age=100.0)
        self.assertEqual(await store.pending("bob", 111.0, DAY), [new])

    async def test_expire(self) -> None:
        """
        L{IChatStore.expire} deletes every account's messages past their
        age, whether or not their recipients come back, and nothing newer.
        """
        store = await self.with_account()
        await store.create_account("carol", "Carol", "hash", 1.0)
        await self.enqueue(store, "old for bob", 10.0)
        await self.enqueue(store, "old for carol", 10.0, key="carol")
        new = await self.enqueue(store, "new for bob", 50.0)
        self.assertEqual(await store.expire(110.0, 100.0), 0)
        self.assertEqual(await store.expire(110.5, 100.0), 2)
        self.assertEqual(await store.pending("bob", 0.0, DAY), [new])
        self.assertEqual(await store.pending("carol", 0.0, DAY), [])

    async def test_ids_not_reused(self) -> None:
        """
        After the newest message is acknowledged, the next gets a new id.
        """
        store = await self.with_account()
        first = await self.enqueue(store, "one")
        await store.ack("bob", [first.id])
        second = await self.enqueue(store, "two")
        self.assertGreater(second.id, first.id)

    async def test_delete_account_drops_messages(self) -> None:
        """
        Deleting an account deletes what was kept for it; someone who later
        registers the name does not get it.
        """
        store = await self.with_account()
        await self.enqueue(store, "private")
        await store.delete_account("bob")
        await store.create_account("bob", "bob", "hash", 20.0)
        self.assertEqual(await store.pending("bob", 21.0, DAY), [])

    async def test_rooms(self) -> None:
        """
        Rooms keep their settings, registered members (operator flag, time
        last seen) and invitations; deleting an account or a room takes
        what hangs on it.
        """
        store = await self.with_account()
        await store.create_account("carol", "Carol", "hash", 1.0)
        await store.save_room("#chess", "#Chess", "bob", "", False, 5.0)
        await store.save_room("#chess", "#Chess", "bob", "club", True, 99.0)
        await store.save_room("#go", "#go", "nobody", "", False, 6.0)
        await store.save_member("#chess", "bob", True, 7.0)
        await store.save_member("#chess", "carol", False, 8.0)
        await store.save_member("#chess", "nobody", False, 8.0)
        await store.save_member("#gone", "carol", False, 8.0)
        await store.save_invite("#go", "carol")
        await store.set_seen("carol", 9.0)
        await store.save_member("#chess", "carol", True, 10.0)
        chess, go = await store.load_rooms()
        self.assertEqual(
            chess,
            RoomRecord(
                "#chess",
                "#Chess",
                "bob",
                "club",
                True,
                5.0,
                {"bob": (True, 7.0), "carol": (True, 9.0)},
                frozenset(),
            ),
        )
        self.assertEqual((go.owner, go.members, go.invites), (None, {}, {"carol"}))
        await store.delete_account("bob")
        await store.delete_invite("#go", "carol")
        await store.delete_member("#chess", "carol")
        chess, go = await store.load_rooms()
        self.assertEqual((chess.owner, chess.members), (None, {}))
        self.assertEqual(go.invites, frozenset())
        store.add_history("#go", "carol", "gg", 11.0)
        await store.delete_room("#go")
        self.assertEqual([r.key for r in await store.load_rooms()], ["#chess"])
        self.assertEqual(await store.history("#go", 10), [])

    async def test_drop_guest_recipients(self) -> None:
        """
        At start-up, offers to names nobody registered are forgotten, with
        the complete files nobody else is to fetch; uploads under way and
        files for registered users stay.
        """
        store = await self.with_account()
        shared = await store.create_file("al", "al", "#r", "a", 1, "0" * 64, 1.0)
        guests = await store.create_file("al", "al", "eve", "b", 1, "0" * 64, 1.0)
        partial = await store.create_file("al", "al", "eve", "c", 1, "0" * 64, 1.0)
        await store.complete_file(shared.id, ["bob", "eve"])
        await store.complete_file(guests.id, ["eve"])
        self.assertEqual(await store.drop_guest_recipients(), [guests.id])
        kept = await store.get_file(shared.id)
        assert kept is not None
        self.assertEqual(kept.recipients, ("bob",))
        self.assertIsNone(await store.get_file(guests.id))
        self.assertIsNotNone(await store.get_file(partial.id))

    async def upload(
        self,
        store: IChatStore,
        name: str,
        now: float,
        size: int = 10,
        sender_key: str = "alice",
    ) -> FileRecord:
        """
        Start an upload of C{name} from C{sender_key} to carol.
        """
        return await store.create_file(
            sender_key, sender_key.title(), "Carol", name, size, "ab" * 32, now
        )

    async def test_create_file(self) -> None:
        """
        A new file is recorded with every field as given, incomplete and
        offered to nobody, and read back by id; ids are not reused, since
        they name the spool's files.
        """
        store = await self.open_store()
        record = await store.create_file(
            "alice", "Alice", "#Chess", "notes.txt", 1234, "cd" * 32, 5.0
        )
        self.assertEqual(
            record,
            FileRecord(
                record.id,
                "alice",
                "Alice",
                "#Chess",
                "notes.txt",
                1234,
                "cd" * 32,
                False,
                5.0,
                (),
            ),
        )
        self.assertEqual(await store.get_file(record.id), record)
        newer = await self.upload(store, "b", 6.0)
        self.assertGreater(newer.id, record.id)
        await store.delete_file(newer.id)
        self.assertGreater((await self.upload(store, "c", 7.0)).id, newer.id)
        self.assertIsNone(await store.get_file(newer.id))

    async def test_complete_file(self) -> None:
        """
        A completed file is offered to its recipients, each once, sorted;
        until then it is an upload of its sender's and offered to nobody.
        """
        store = await self.open_store()
        record = await self.upload(store, "a", 5.0)
        self.assertEqual(await store.uploads_of("alice"), [record])
        self.assertEqual(await store.files_for("bob", 0.0), [])
        await store.complete_file(record.id, iter(["carol", "bob", "carol"]))
        done = replace(record, complete=True, recipients=("bob", "carol"))
        self.assertEqual(await store.get_file(record.id), done)
        self.assertEqual(await store.files_for("bob", 0.0), [done])
        self.assertEqual(await store.files_for("carol", 0.0), [done])
        self.assertEqual(await store.files_for("dave", 0.0), [])
        self.assertEqual(await store.uploads_of("alice"), [])

    async def test_files_for(self) -> None:
        """
        A recipient is offered complete files created at or after the
        cut-off, oldest first, not uploads under way or older files.
        """
        store = await self.open_store()
        old = await self.upload(store, "old", 10.0)
        new = await self.upload(store, "new", 20.0, sender_key="dave")
        partial = await self.upload(store, "partial", 30.0)
        for record in (new, old):
            await store.complete_file(record.id, ["bob"])
        old, new = [replace(r, complete=True, recipients=("bob",)) for r in (old, new)]
        self.assertEqual(await store.files_for("bob", 0.0), [old, new])
        self.assertEqual(await store.files_for("bob", 10.0), [old, new])
        self.assertEqual(await store.files_for("bob", 10.5), [new])
        self.assertEqual(await store.files_for("bob", 20.5), [])
        self.assertEqual(await store.uploads_of("alice"), [partial])

    async def test_uploads_of(self) -> None:
        """
        A sender's uploads are its incomplete files, oldest first: not
        another sender's, and not those completed.
        """
        store = await self.open_store()
        first = await self.upload(store, "1", 1.0)
        await self.upload(store, "theirs", 2.0, sender_key="dave")
        done = await self.upload(store, "done", 3.0)
        last = await self.upload(store, "2", 4.0)
        await store.complete_file(done.id, ["bob"])
        self.assertEqual(await store.uploads_of("alice"), [first, last])
        self.assertEqual(await store.uploads_of("bob"), [])

    async def test_spool_usage(self) -> None:
        """
        A sender's quota counts the sizes of all its files in the spool,
        complete or not, and no one else's; deleted and expired files no
        longer count.
        """
        store = await self.open_store()
        self.assertEqual(await store.spool_usage("alice"), 0)
        partial = await self.upload(store, "partial", 1.0, size=100)
        done = await self.upload(store, "done", 2.0, size=20)
        await self.upload(store, "theirs", 3.0, size=5000, sender_key="dave")
        await store.complete_file(done.id, ["bob"])
        self.assertEqual(await store.spool_usage("alice"), 120)
        self.assertEqual(await store.spool_usage("dave"), 5000)
        await store.delete_file(partial.id)
        self.assertEqual(await store.spool_usage("alice"), 20)
        await store.expire_files(2.5)
        self.assertEqual(await store.spool_usage("alice"), 0)
        self.assertEqual(await store.spool_usage("dave"), 5000)

    async def test_remove_recipient(self) -> None:
        """
        A recipient who fetched or declined a file is no longer offered it;
        the count left tells the caller when to delete it, which the store
        does not do by itself.
        """
        store = await self.open_store()
        record = await self.upload(store, "a", 1.0)
        await store.complete_file(record.id, ["bob", "carol"])
        self.assertEqual(await store.remove_recipient(record.id, "bob"), 1)
        self.assertEqual(await store.remove_recipient(record.id, "bob"), 1)
        self.assertEqual(await store.remove_recipient(record.id, "dave"), 1)
        self.assertEqual(await store.files_for("bob", 0.0), [])
        left = replace(record, complete=True, recipients=("carol",))
        self.assertEqual(await store.files_for("carol", 0.0), [left])
        self.assertEqual(await store.remove_recipient(record.id, "carol"), 0)
        self.assertEqual(await store.get_file(record.id), replace(left, recipients=()))
        self.assertEqual(await store.remove_recipient(record.id + 1, "bob"), 0)

    async def test_expire_files(self) -> None:
        """
        Files created before the cut-off, complete or not, are forgotten and
        their ids returned for the spool to delete; younger ones stay.
        """
        store = await self.open_store()
        old_done = await self.upload(store, "old done", 10.0)
        old_partial = await self.upload(store, "old partial", 15.0)
        edge = await self.upload(store, "edge", 20.0)
        young = await self.upload(store, "young", 30.0)
        await store.complete_file(old_done.id, ["bob"])
        await store.complete_file(edge.id, ["bob"])
        self.assertEqual(await store.expire_files(10.0), [])
        self.assertEqual(await store.expire_files(20.0), [old_done.id, old_partial.id])
        self.assertIsNone(await store.get_file(old_done.id))
        self.assertIsNone(await store.get_file(old_partial.id))
        edge = replace(edge, complete=True, recipients=("bob",))
        self.assertEqual(await store.get_file(edge.id), edge)
        self.assertEqual(await store.get_file(young.id), young)
        self.assertEqual(await store.files_for("bob", 0.0), [edge])
        self.assertEqual(await store.uploads_of("alice"), [young])
        self.assertEqual(await store.expire_files(20.0), [])

    async def test_delete_file(self) -> None:
        """
        A deleted file is forgotten, with its offers, whether complete or
        not; others stay, and deleting a missing file is harmless.
        """
        store = await self.open_store()
        done = await self.upload(store, "done", 1.0)
        partial = await self.upload(store, "partial", 2.0)
        kept = await self.upload(store, "kept", 3.0)
        await store.complete_file(done.id, ["bob"])
        await store.delete_file(done.id)
        await store.delete_file(partial.id)
        await store.delete_file(done.id)
        self.assertIsNone(await store.get_file(done.id))
        self.assertIsNone(await store.get_file(partial.id))
        self.assertEqual(await store.files_for("bob", 0.0), [])
        self.assertEqual(await store.uploads_of("alice"), [kept])
        self.assertEqual(await store.remove_recipient(done.id, "bob"), 0)

    async def test_history_since(self) -> None:
        """
        What a member missed: entries after C{since} up to C{until}, the
        newest C{limit} of them, oldest first.
        """
        store = await self.open_store()
        for i in range(6):
            store.add_history("#chess", "bob", str(i), float(i))
        store.add_history("#go", "bob", "other room", 3.0)
        missed = await store.history_since("#chess", 1.0, 4.0, 2)
        self.assertEqual([e.text for e in missed], ["3", "4"])
        missed = await store.history_since("#chess", 1.0, 4.0, 10)
        self.assertEqual([e.text for e in missed], ["2", "3", "4"])
        self.assertEqual(await store.history_since("#chess", 5.0, 9.0, 0), [])

    async def test_history(self) -> None:
        """
        L{IChatStore.history} gives the last C{limit} entries of a room,
        oldest first, including ones just added.
        """
        store = await self.open_store()
        for i in range(5):
            store.add_history("", "alice", f"m{i}", float(i))
        store.add_history("", "bob", "waves", 5.0, "action")
        entries = await store.history("", 3)
        self.assertEqual([e.text for e in entries], ["m3", "m4", "waves"])
        self.assertEqual(
            entries[-1], HistoryEntry(entries[-1].id, "", "bob", "waves", 5.0, "action")
        )
        self.assertEqual(entries[0].kind, "message")
        self.assertEqual(sorted(e.id for e in entries), [e.id for e in entries])
        self.assertEqual(len(await store.history("", 100)), 6)
        self.assertEqual(await store.history("", 0), [])

    async def test_history_rooms(self) -> None:
        """
        Each room has its own history.
        """
        store = await self.open_store()
        store.add_history("", "alice", "main", 1.0)
        store.add_history("dev", "bob", "dev 1", 2.0)
        store.add_history("dev", "bob", "dev 2", 3.0)
        self.assertEqual([e.text for e in await store.history("", 10)], ["main"])
        self.assertEqual(
            [(e.room, e.text) for e in await store.history("dev", 10)],
            [("dev", "dev 1"), ("dev", "dev 2")],
        )
        self.assertEqual(await store.history("other", 10), [])


class MemoryStoreTests(StoreTestsMixin, TestCase):
    """
    L{MemoryStore} keeps everything in memory.
    """

    def make_store(self) -> IChatStore:
        return MemoryStore()

    def test_already_fired(self) -> None:
        """
        Results are there at once: tests of the dispatcher need no reactor.
        """
        store = MemoryStore()
        self.successResultOf(store.create_account("bob", "Bob", "hash", 1.0))
        self.assertEqual(self.successResultOf(store.account_names()), {"bob": "Bob"})
        self.failureResultOf(store.delete_account("carol"), NoSuchAccount)

    def test_history_keep(self) -> None:
        """
        Only the last C{history_keep} entries of each room are kept.
        """
        store = MemoryStore(history_keep=2)
        for i in range(4):
            store.add_history("", "alice", str(i), 1.0)
        store.add_history("dev", "alice", "dev", 1.0)
        entries = self.successResultOf(store.history("", 10))
        self.assertEqual([e.text for e in entries], ["2", "3"])
        self.assertEqual(len(self.successResultOf(store.history("dev", 10))), 1)


def user_version(path: str) -> int:
    """
    The schema version of the database at C{path}, read directly.
    """
    connection = sqlite3.connect(path)
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        return int(version)
    finally:
        connection.close()


class SQLiteStoreTests(StoreTestsMixin, TestCase):
    """
    L{SQLiteStore} keeps everything in an SQLite file, written from a pool
    thread.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.path = self.mktemp()
        self.events: list[LogEvent] = []
        observer = cast(ILogObserver, self.events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)

    def make_store(self) -> IChatStore:
        return SQLiteStore(self.path, clock=self.clock)

    async def open_sqlite(self, **kwargs: Any) -> SQLiteStore:
        """
        A started L{SQLiteStore} on C{self.path}, closed when the test ends.
        """
        store = SQLiteStore(self.path, clock=self.clock, **kwargs)
        await store.start()
        self.addCleanup(store.close)
        return store

    def count_history_writes(self, store: SQLiteStore) -> list[int]:
        """
        Record the size of each history batch written from now on.
        """
        pool = store._pool
        assert pool is not None
        run = pool.runInteraction
        sizes: list[int] = []

        def counting(interaction: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
            if interaction is _write_history:
                sizes.append(len(args[0]))
            result: Deferred[Any] = run(interaction, *args, **kwargs)
            return result

        self.patch(pool, "runInteraction", counting)
        return sizes

    def warnings(self) -> list[LogEvent]:
        """
        The warnings logged so far.
        """
        return [e for e in self.events if e["log_level"].name == "warn"]

    async def test_new_database(self) -> None:
        """
        A new database gets the current schema, in WAL mode.
        """
        await self.open_store()
        self.assertEqual(user_version(self.path), SCHEMA_VERSION)
        connection = sqlite3.connect(self.path)
        self.addCleanup(connection.close)
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        self.assertEqual(mode, "wal")

    async def test_upgrade(self) -> None:
        """
        A database made by the first version is upgraded when opened, and
        keeps its data.
        """
        connection = sqlite3.connect(self.path)
        migrate(connection.cursor(), upto=1)
        connection.execute(
            "INSERT INTO accounts (key, name, password_hash, created)"
            " VALUES ('bob', 'Bob', 'hash', 1.0)"
        )
        connection.execute(
            "INSERT INTO offline_messages (recipient, sender, text, time)"
            " VALUES ('bob', 'alice', 'kept', 2.0)"
        )
        connection.commit()
        connection.close()
        self.assertEqual(user_version(self.path), 1)

        store = await self.open_store()
        self.assertEqual(user_version(self.path), SCHEMA_VERSION)
        self.assertEqual(
            await store.get_account("bob"), Account("bob", "Bob", "hash", 1.0)
        )
        [message] = await store.pending("bob", 3.0, DAY)
        self.assertEqual((message.text, message.kind), ("kept", "private"))
        store.add_history("", "alice", "new table", 4.0)
        self.assertEqual(len(await store.history("", 10)), 1)

    async def test_upgrade_from_every_version(self) -> None:
        """
        A database at any older schema version is upgraded to the newest
        when opened, keeps its accounts (and, from the version that has
        them, its rooms), and can then store files.
        """
        for version in range(1, SCHEMA_VERSION):
            self.path = self.mktemp()
            connection = sqlite3.connect(self.path)
            migrate(connection.cursor(), upto=version)
            connection.execute(
                "INSERT INTO accounts (key, name, password_hash, created)"
                " VALUES ('bob', 'Bob', 'hash', 1.0)"
            )
            has_rooms = any(
                "CREATE TABLE rooms" in statement
                for step in MIGRATIONS[:version]
                for statement in step
            )
            if has_rooms:
                connection.execute(
                    "INSERT INTO rooms (key, name, owner, topic, invite_only,"
                    " created) VALUES ('#chess', '#Chess', 'bob', 'club', 1, 2.0)"
                )
                connection.execute(
                    "INSERT INTO room_members (room, member, operator, seen)"
                    " VALUES ('#chess', 'bob', 0, 3.0)"
                )
            connection.commit()
            connection.close()
            self.assertEqual(user_version(self.path), version)

            store = SQLiteStore(self.path, clock=self.clock)
            await store.start()
            try:
                self.assertEqual(user_version(self.path), SCHEMA_VERSION)
                self.assertEqual(
                    await store.get_account("bob"),
                    Account("bob", "Bob", "hash", 1.0),
                )
                rooms = await store.load_rooms()
                if has_rooms:
                    [room] = rooms
                    self.assertEqual(
                        (room.key, room.owner, room.topic, room.invite_only),
                        ("#chess", "bob", "club", True),
                    )
                    self.assertEqual(room.members, {"bob": (False, 3.0)})
                else:
                    self.assertEqual(rooms, [])
                record = await store.create_file(
                    "bob", "Bob", "alice", "f.txt", 1, "0" * 64, 4.0
                )
                fetched = await store.get_file(record.id)
                assert fetched is not None
                self.assertEqual((fetched.name, fetched.size), ("f.txt", 1))
            finally:
                await store.close()

    def test_migrate(self) -> None:
        """
        L{migrate} applies only the missing steps and reports the version.
        """
        connection = sqlite3.connect(":memory:")
        self.addCleanup(connection.close)
        cursor = connection.cursor()
        self.assertEqual(migrate(cursor, upto=1), 1)
        self.assertEqual(migrate(cursor), SCHEMA_VERSION)
        self.assertEqual(migrate(cursor), SCHEMA_VERSION)
        self.assertEqual(migrate(cursor, upto=1), SCHEMA_VERSION)
        self.assertEqual(SCHEMA_VERSION, len(MIGRATIONS))

    async def test_newer_database_refused(self) -> None:
        """
        A database from a newer program is refused and left alone.
        """
        connection = sqlite3.connect(self.path)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        connection.close()
        store = SQLiteStore(self.path, clock=self.clock)
        self.addCleanup(store.close)
        error = await self.fails(store.start(), StoreError)
        self.assertEqual(
            str(error),
            f"database schema version {SCHEMA_VERSION + 1} is newer than this "
            f"program supports ({SCHEMA_VERSION}); upgrade txchat",
        )
        await store.close()
        self.assertEqual(user_version(self.path), SCHEMA_VERSION + 1)
        connection = sqlite3.connect(self.path)
        self.addCleanup(connection.close)
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
        self.assertEqual(tables, [])

    async def test_durable(self) -> None:
        """
        Accounts, stored messages and history (written at close) are there
        after the store is closed and opened again.
        """
        store = await self.open_sqlite()
        await store.create_account("bob", "Bob", "hash", 1.0)
        message = await self.enqueue(store, "while you were out")
        store.add_history("", "alice", "said", 3.0)
        await store.close()

        again = await self.open_sqlite()
        self.assertEqual(await again.pending("bob", 11.0, DAY), [message])
        self.assertEqual(await again.account_names(), {"bob": "Bob"})
        self.assertEqual([e.text for e in await again.history("", 5)], ["said"])

    async def test_files_durable(self) -> None:
        """
        Files, their completion and recipients are there after the store is
        closed and opened again, and ids are still not reused: the spool
        names its files by id.
        """
        store = await self.open_sqlite()
        done = await self.upload(store, "done", 1.0, size=7)
        partial = await self.upload(store, "partial", 2.0, size=9)
        newest = await self.upload(store, "newest", 3.0)
        await store.complete_file(done.id, ["carol", "bob"])
        await store.delete_file(newest.id)
        await store.close()

        again = await self.open_sqlite()
        done = replace(done, complete=True, recipients=("bob", "carol"))
        self.assertEqual(await again.get_file(done.id), done)
        self.assertEqual(await again.files_for("bob", 0.0), [done])
        self.assertEqual(await again.uploads_of("alice"), [partial])
        self.assertEqual(await again.spool_usage("alice"), 16)
        self.assertGreater((await self.upload(again, "next", 4.0)).id, newest.id)

    async def test_close_waits(self) -> None:
        """
        L{SQLiteStore.close} lets requests under way finish; later ones fail
        with L{StoreError}.
        """
        store = await self.open_sqlite()
        created = store.create_account("bob", "Bob", "hash", 1.0)
        closed = store.close()
        also_closed = store.close()
        await self.fails(store.get_account("bob"), StoreError)
        self.assertEqual((await created).name, "Bob")
        await closed
        await also_closed
        store.add_history("", "alice", "ignored", 2.0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        again = await self.open_sqlite()
        self.assertEqual(await again.account_names(), {"bob": "Bob"})

    async def test_close_unstarted(self) -> None:
        """
        A store that was never started closes at once.
        """
        store = SQLiteStore(self.path, clock=self.clock)
        store.add_history("", "alice", "never written", 1.0)
        await store.close()

    async def test_history_batched(self) -> None:
        """
        Entries added in one turn of the reactor are written by one
        transaction, scheduled on the clock.
        """
        store = await self.open_sqlite()
        sizes = self.count_history_writes(store)
        # Several statements of HISTORY_ROWS rows and a shorter last one.
        count = 5 * HISTORY_ROWS + 37
        kinds = ("message", "action")
        for i in range(count):
            store.add_history("", f"u{i % 7}", str(i), float(i), kinds[i % 2])
        self.assertEqual(sizes, [])
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(store.history_interval)
        self.assertEqual(sizes, [count])
        await store.flush_history()
        self.assertGreater(count, store.HISTORY_TAIL)  # read from the file
        entries = await store.history("", count)
        self.assertEqual(
            [(e.sender, e.text, e.time, e.kind) for e in entries],
            [(f"u{i % 7}", str(i), float(i), kinds[i % 2]) for i in range(count)],
        )
        self.assertEqual(sizes, [count])

    async def test_history_one_write_at_a_time(self) -> None:
        """
        Entries added while a batch is being written wait for the next
        batch, so batches are written one after another, in order.
        """
        store = await self.open_sqlite()
        sizes = self.count_history_writes(store)
        store.add_history("", "alice", "1", 1.0)
        self.clock.advance(store.history_interval)
        store.add_history("", "alice", "2", 2.0)
        store.add_history("", "alice", "3", 3.0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(sizes, [1])
        await store.flush_history()
        self.assertEqual(sizes, [1, 2])
        entries = await store.history("", 10)
        self.assertEqual([e.text for e in entries], ["1", "2", "3"])

    async def test_history_written_at_intervals(self) -> None:
        """
        Entries that arrive while a batch is written wait for the next
        interval, not for the end of that write, so a steady stream makes
        a transaction per interval rather than one per reactor turn.
        """
        store = await self.open_sqlite()
        sizes = self.count_history_writes(store)
        store.add_history("", "alice", "1", 1.0)
        self.clock.advance(store.history_interval)
        store.add_history("", "alice", "2", 2.0)
        write = store._pool.runInteraction  # type: ignore[union-attr]
        # let the first write finish without asking for a flush
        await write(lambda txn: None)
        self.assertEqual(sizes, [1])
        [pending] = self.clock.getDelayedCalls()
        self.assertAlmostEqual(pending.getTime(), 2 * store.history_interval)
        self.clock.advance(store.history_interval)
        await write(lambda txn: None)
        self.assertEqual(sizes, [1, 1])

    async def test_history_batch_limit(self) -> None:
        """
        A long backlog is written in batches of at most C{history_batch}
        entries, one after another, in order.
        """
        store = await self.open_sqlite()
        store.history_batch = 3
        sizes = self.count_history_writes(store)
        for i in range(7):
            store.add_history("", "alice", str(i), float(i))
        self.clock.advance(store.history_interval)
        self.assertEqual(sizes, [3])
        await store.flush_history()
        self.assertEqual(sizes, [3, 3, 1])
        entries = await store.history("", 10)
        self.assertEqual([e.text for e in entries], [str(i) for i in range(7)])

    async def test_flush_nothing(self) -> None:
        """
        With nothing buffered, L{SQLiteStore.flush_history} writes nothing.
        """
        store = await self.open_sqlite()
        sizes = self.count_history_writes(store)
        await store.flush_history()
        self.assertEqual(sizes, [])

    async def test_history_buffer_limit(self) -> None:
        """
        Past C{history_buffer} unwritten entries, the oldest are dropped
        with a warning, and a count is logged when writing resumes.  (In a
        room other than the main one, whose newest entries are served from
        memory.)
        """
        store = await self.open_sqlite(history_buffer=3)
        for i in range(5):
            store.add_history("r", "alice", str(i), float(i))
        [warning] = self.warnings()
        self.assertEqual(warning["limit"], 3)
        entries = await store.history("r", 10)
        self.assertEqual([e.text for e in entries], ["2", "3", "4"])
        self.assertEqual([e.get("count") for e in self.warnings()], [None, 2])

    async def test_history_write_failure(self) -> None:
        """
        A batch that cannot be written is logged and given up: history is
        best-effort, and later batches are written.
        """
        store = await self.open_sqlite()
        pool = store._pool
        assert pool is not None
        run = pool.runInteraction

        def failing(interaction: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
            if interaction is _write_history:
                return fail(sqlite3.OperationalError("disk I/O error"))
            result: Deferred[Any] = run(interaction, *args, **kwargs)
            return result

        self.patch(pool, "runInteraction", failing)
        store.add_history("r", "alice", "lost", 1.0)
        await store.flush_history()
        self.assertEqual(len(self.flushLoggedErrors(sqlite3.OperationalError)), 1)
        pool.runInteraction = run  # type: ignore[method-assign]
        store.add_history("r", "alice", "kept", 2.0)
        self.assertEqual([e.text for e in await store.history("r", 10)], ["kept"])

    async def test_main_room_tail(self) -> None:
        """
        The main room's newest entries come from memory, including those
        not yet written, and are loaded from the file at start.
        """
        store = await self.open_sqlite()
        for i in range(5):
            store.add_history("", "alice", str(i), float(i))
        entries = store.history("", 3)
        self.assertEqual(
            [e.text for e in self.successResultOf(entries)], ["2", "3", "4"]
        )
        await store.close()
        again = await self.open_sqlite()
        self.assertEqual(
            [e.text for e in self.successResultOf(again.history("", 10))],
            ["0", "1", "2", "3", "4"],
        )

    async def test_prune(self) -> None:
        """
        Every C{prune_every} entries written, each room written to is cut
        down to its last C{history_keep} entries.
        """
        store = await self.open_sqlite(history_keep=3, prune_every=6)
        for i in range(4):
            store.add_history("a", "alice", str(i), 1.0)
        await store.flush_history()
        self.assertEqual(len(await store.history("a", 10)), 4)
        store.add_history("b", "bob", "b0", 2.0)
        store.add_history("a", "alice", "4", 2.0)
        await store.flush_history()
        self.assertEqual(
            [e.text for e in await store.history("a", 10)], ["2", "3", "4"]
        )
        self.assertEqual([e.text for e in await store.history("b", 10)], ["b0"])
