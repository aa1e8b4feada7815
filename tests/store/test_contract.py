"""
The contract of L{IChatStore}: one suite (L{StoreContractMixin}) run
against every store, L{MemoryStore} and L{SQLiteStore} on a real SQLite
file, through the record-taking API.

What only SQLite does is in L{tests.store.test_sqlite}.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from chat.errors import AccountExists, ChatError, NoSuchAccount, QueueFull
from chat.store.interface import (
    Account,
    FileRecord,
    HistoryEntry,
    IChatStore,
    Membership,
    PrivateEntry,
    RoomRecord,
    StoredMessage,
    guest_holder,
)
from chat.store.memory import MemoryStore
from chat.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object

_E = TypeVar("_E", bound=BaseException)

DAY = 86400.0


async def fails(result: Awaitable[object], kind: type[_E]) -> _E:
    """
    Wait for C{result} and check that it fails with C{kind}.

    @return: the exception.
    """
    try:
        value = await result
    except kind as e:
        return e
    raise AssertionError(f"expected {kind.__name__}, got {value!r}")


def entry(
    room: str, sender: str, text: str, time: float, kind: str = "message"
) -> HistoryEntry:
    """
    A history entry to add (its id is ignored).
    """
    return HistoryEntry(0, room, sender, text, time, kind)


class StoreContractMixin(_Base):
    """
    What every L{IChatStore} does; mixed into one L{TestCase} per store.
    """

    #: No request may take longer than this, in seconds.
    timeout = 30

    def make_store(self) -> IChatStore:
        """
        A new, unstarted store.
        """
        raise NotImplementedError

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
        await store.create_account(Account(key, name, "hash", 1.0))
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
            StoredMessage(0, key, "alice", text, now),
            max_count=max_count,
            max_age=max_age,
        )

    async def upload(
        self,
        store: IChatStore,
        name: str,
        now: float,
        size: int = 10,
        sender_key: str = "alice",
    ) -> FileRecord:
        """
        Start an upload of C{name} from C{sender_key} to Carol.
        """
        return await store.create_file(
            FileRecord(
                0,
                sender_key,
                sender_key.title(),
                "Carol",
                name,
                size,
                "ab" * 32,
                created=now,
            )
        )

    def test_provides_interface(self) -> None:
        """
        The store provides L{IChatStore}.
        """
        self.assertTrue(verifyObject(IChatStore, self.make_store()))

    # Accounts.

    async def test_accounts(self) -> None:
        """
        Accounts are created, found by key, listed, changed and deleted.
        """
        store = await self.open_store()
        self.assertIsNone(await store.get_account("bob"))
        account = await store.create_account(Account("bob", "Bob", "h1", 5.0))
        self.assertEqual(account, Account("bob", "Bob", "h1", 5.0))
        self.assertEqual(await store.get_account("bob"), account)
        await store.create_account(Account("carol", "CAROL", "h2", 6.0))
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
        error = await fails(
            store.create_account(Account("bob", "BOB", "other", 2.0)), AccountExists
        )
        self.assertIsInstance(error, ChatError)
        self.assertEqual(error.code, "account-exists")
        self.assertEqual(str(error), "BOB is already registered.")
        self.assertEqual(
            await store.get_account("bob"), Account("bob", "Bob", "hash", 1.0)
        )

    async def test_no_such_account(self) -> None:
        """
        Changing or deleting a missing account fails with L{NoSuchAccount}.
        """
        store = await self.open_store()
        error = await fails(store.set_password_hash("nobody", "h"), NoSuchAccount)
        self.assertEqual(error.code, "no-such-account")
        await fails(store.delete_account("nobody"), NoSuchAccount)
        self.assertEqual(await store.account_names(), {})

    # Stored messages.

    async def test_enqueue_pending_ack(self) -> None:
        """
        Stored messages come back oldest first, with the ids the store
        gave them, until acknowledged.
        """
        store = await self.with_account()
        first = await self.enqueue(store, "one", 10.0)
        second = await store.enqueue(
            StoredMessage(0, "bob", "carol", "waves", 11.0, "action"),
            max_count=10,
            max_age=DAY,
        )
        self.assertEqual(
            first, StoredMessage(first.id, "bob", "alice", "one", 10.0, "private")
        )
        self.assertEqual(second.kind, "action")
        self.assertGreater(first.id, 0)
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
        await store.create_account(Account("carol", "Carol", "hash", 1.0))
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
        await fails(self.enqueue(store, "hi"), NoSuchAccount)

    async def test_queue_full(self) -> None:
        """
        With C{max_count} messages waiting, the next is refused and not kept.
        """
        store = await self.with_account()
        kept = [await self.enqueue(store, str(i), max_count=2) for i in range(2)]
        error = await fails(self.enqueue(store, "three", max_count=2), QueueFull)
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
        await store.create_account(Account("carol", "Carol", "hash", 1.0))
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
        await store.create_account(Account("bob", "bob", "hash", 20.0))
        self.assertEqual(await store.pending("bob", 21.0, DAY), [])

    # Rooms.

    async def test_rooms(self) -> None:
        """
        Rooms keep their settings, registered members (operator flag, time
        last seen) and invitations; deleting an account or a room takes
        what hangs on it.
        """
        store = await self.with_account()
        await store.create_account(Account("carol", "Carol", "hash", 1.0))
        await store.save_room(RoomRecord("#chess", "#Chess", "bob", "", False, 5.0))
        await store.save_room(RoomRecord("#chess", "#Chess", "bob", "club", True, 99.0))
        await store.save_room(RoomRecord("#go", "#go", "nobody", "", False, 6.0))
        await store.save_member(Membership("#chess", "bob", True, 7.0))
        await store.save_member(Membership("#chess", "carol", False, 8.0))
        await store.save_member(Membership("#chess", "nobody", False, 8.0))
        await store.save_member(Membership("#gone", "carol", False, 8.0))
        await store.save_invite("#go", "carol")
        await store.save_invite("#go", "nobody")
        await store.save_invite("#gone", "carol")
        await store.set_seen("carol", 9.0)
        await store.save_member(Membership("#chess", "carol", True, 10.0))
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
                (
                    Membership("#chess", "bob", True, 7.0),
                    Membership("#chess", "carol", True, 9.0),
                ),
                frozenset(),
            ),
        )
        self.assertEqual(
            (go.owner, go.members, go.invites), (None, (), frozenset({"carol"}))
        )
        await store.delete_account("bob")
        await store.delete_invite("#go", "carol")
        await store.delete_member("#chess", "carol")
        chess, go = await store.load_rooms()
        self.assertEqual((chess.owner, chess.members), (None, ()))
        self.assertEqual(go.invites, frozenset())
        store.add_history(entry("#go", "carol", "gg", 11.0))
        await store.delete_room("#go")
        self.assertEqual([r.key for r in await store.load_rooms()], ["#chess"])
        self.assertEqual(await store.history("#go", 10), [])

    async def test_save_room_keeps_members(self) -> None:
        """
        Saving a room's settings changes neither its members nor its
        invitations, whatever the record given holds.
        """
        store = await self.with_account()
        await store.create_account(Account("carol", "Carol", "hash", 1.0))
        await store.save_room(RoomRecord("#chess", "#Chess", "bob", "", False, 5.0))
        await store.save_member(Membership("#chess", "bob", False, 7.0))
        await store.save_invite("#chess", "carol")
        await store.save_room(
            RoomRecord(
                "#chess",
                "#Chess",
                "bob",
                "new topic",
                False,
                5.0,
                (Membership("#chess", "carol", True, 8.0),),
                frozenset({"bob"}),
            )
        )
        [chess] = await store.load_rooms()
        self.assertEqual(
            (chess.topic, chess.members, chess.invites),
            (
                "new topic",
                (Membership("#chess", "bob", False, 7.0),),
                frozenset({"carol"}),
            ),
        )

    # Files.

    async def file_to(
        self,
        store: IChatStore,
        target: str,
        recipients: list[str],
        *,
        sender: str = "al",
        name: str = "f",
    ) -> FileRecord:
        """
        Record a file from C{sender} to C{target}, for C{recipients}.
        """
        return await store.create_file(
            FileRecord(0, sender, sender, target, name, 1, "0" * 64, created=1.0),
            recipients,
        )

    async def test_drop_orphans(self) -> None:
        """
        At start-up, guests' offers are forgotten, with the complete files
        nobody else is to fetch and the uploads to a user nobody is left
        to receive; so are files guests send.  Uploads to a room and files
        between registered users stay.
        """
        store = await self.with_account()
        await store.create_account(Account("al", "Al", "hash", 2.0))
        guest = guest_holder("eve", 1)
        shared = await self.file_to(store, "#r", [])
        to_guest = await self.file_to(store, "eve", [guest])
        half_to_guest = await self.file_to(store, "eve", [guest])
        half_to_room = await self.file_to(store, "#r", [])
        half_to_bob = await self.file_to(store, "Bob", ["bob"])
        from_guest = await self.file_to(store, "Bob", ["bob"], sender=guest)
        sent_by_guest = await self.file_to(store, "Bob", ["bob"], sender=guest)
        await store.complete_file(sent_by_guest.id, [])
        unbound = await self.file_to(store, "eve", ["eve"])
        self.assertEqual(
            await store.complete_file(shared.id, [guest, "bob"]), sorted(["bob", guest])
        )
        await store.complete_file(to_guest.id, [])
        await store.complete_file(unbound.id, [])
        self.assertEqual(
            await store.drop_orphans(),
            [to_guest.id, half_to_guest.id, from_guest.id, unbound.id],
        )
        kept = await store.get_file(shared.id)
        assert kept is not None
        self.assertEqual(kept.recipients, ("bob",))
        for record in (half_to_room, half_to_bob, sent_by_guest):
            self.assertIsNotNone(await store.get_file(record.id))
        self.assertEqual(await store.drop_orphans(), [])

    async def test_bound_to_the_account(self) -> None:
        """
        A sender and recipients are bound to the account registered under
        their key when recorded: once it is deleted, or the name
        registered again, the new holder of the name is neither offered
        the file nor its sender, and start-up forgets them.
        """
        store = await self.with_account()
        await store.create_account(Account("al", "Al", "hash", 2.0))
        to_bob = await self.file_to(store, "Bob", ["bob"])
        self.assertEqual(to_bob.sender_account, 2.0)
        self.assertEqual(to_bob.recipients, ("bob",))
        from_bob = await self.file_to(store, "Al", ["al"], sender="bob")
        self.assertEqual(from_bob.sender_account, 1.0)
        self.assertEqual(await store.complete_file(to_bob.id, []), ["bob"])
        await store.delete_account("bob")
        self.assertEqual(await store.files_for("bob", 0.0), [])
        self.assertEqual(await store.uploads_of("bob"), [])
        self.assertIsNone(await store.get_file(from_bob.id))
        gone = await store.get_file(to_bob.id)
        assert gone is not None
        self.assertEqual(gone.recipients, ())
        await store.create_account(Account("bob", "Bob", "other", 3.0))
        self.assertEqual(await store.files_for("bob", 0.0), [])
        self.assertEqual(await store.uploads_of("bob"), [])
        self.assertIsNone(await store.get_file(from_bob.id))
        self.assertEqual(await store.complete_file(to_bob.id, []), [])
        self.assertEqual(await store.drop_orphans(), sorted([to_bob.id, from_bob.id]))

    async def test_unbound_key_registered_later(self) -> None:
        """
        A key nobody had registered when it was recorded is not the
        account registered under it later.
        """
        store = await self.open_store()
        record = await self.file_to(store, "Bob", ["bob"], sender="al")
        await store.complete_file(record.id, [])
        self.assertEqual(len(await store.files_for("bob", 0.0)), 1)
        self.assertEqual(len(await store.uploads_of("al")), 0)
        await store.create_account(Account("bob", "Bob", "hash", 1.0))
        await store.create_account(Account("al", "Al", "hash", 1.0))
        self.assertEqual(await store.files_for("bob", 0.0), [])
        self.assertIsNone(await store.get_file(record.id))

    async def test_drop_holder(self) -> None:
        """
        Dropping a holder forgets the files it sends, complete or not
        (unless told to keep those complete), and its offers; the files it
        was offered go when nobody else is left to receive them (complete
        ones, and uploads to it), but uploads to a room stay; other
        holders' files are untouched.
        """
        store = await self.open_store()
        guest = guest_holder("bob", 7)
        other = guest_holder("bob", 8)
        sent = await self.file_to(store, "Carol", ["carol"], sender=guest)
        half_sent = await self.file_to(store, "Carol", ["carol"], sender=guest)
        to_it = await self.file_to(store, "bob", [guest])
        half_to_it = await self.file_to(store, "bob", [guest])
        to_room = await self.file_to(store, "#r", [])
        half_to_room = await self.file_to(store, "#r", [])
        to_other = await self.file_to(store, "bob", [other])
        await store.complete_file(sent.id, [])
        await store.complete_file(to_it.id, [])
        await store.complete_file(to_room.id, [guest, "carol"])
        await store.complete_file(to_other.id, [])
        self.assertEqual(
            await store.drop_holder(guest, keep_sent=True),
            [half_sent.id, to_it.id, half_to_it.id],
        )
        self.assertEqual(await store.drop_holder(guest), [sent.id])
        left = await store.get_file(to_room.id)
        assert left is not None
        self.assertEqual(left.recipients, ("carol",))
        self.assertIsNotNone(await store.get_file(half_to_room.id))
        self.assertEqual(
            [f.id for f in await store.files_for(other, 0.0)], [to_other.id]
        )
        self.assertEqual(await store.files_for(guest, 0.0), [])
        self.assertEqual(await store.drop_holder(guest), [])

    async def test_spool_total(self) -> None:
        """
        The spool's total counts every file's size, complete or not,
        whoever sent it.
        """
        store = await self.open_store()
        self.assertEqual(await store.spool_total(), 0)
        first = await self.upload(store, "a", 1.0, size=100)
        await self.upload(store, "b", 2.0, size=20, sender_key="dave")
        await store.complete_file(first.id, ["bob"])
        self.assertEqual(await store.spool_total(), 120)
        await store.delete_file(first.id)
        self.assertEqual(await store.spool_total(), 20)

    async def test_create_file(self) -> None:
        """
        A new file is recorded with every field as given, incomplete and
        offered to nobody, and read back by id; ids are not reused, since
        they name the spool's files.
        """
        store = await self.open_store()
        record = await store.create_file(
            FileRecord(
                0, "alice", "Alice", "#Chess", "notes.txt", 1234, "cd" * 32, created=5.0
            )
        )
        self.assertGreater(record.id, 0)
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
        Only L{IChatStore.get_file} says who the recipients are.
        """
        store = await self.open_store()
        record = await self.upload(store, "a", 5.0)
        self.assertEqual(await store.uploads_of("alice"), [record])
        self.assertEqual(await store.files_for("bob", 0.0), [])
        await store.complete_file(record.id, iter(["carol", "bob", "carol"]))
        done = replace(record, complete=True, recipients=("bob", "carol"))
        self.assertEqual(await store.get_file(record.id), done)
        offered = replace(done, recipients=())
        self.assertEqual(await store.files_for("bob", 0.0), [offered])
        self.assertEqual(await store.files_for("carol", 0.0), [offered])
        self.assertEqual(await store.files_for("dave", 0.0), [])
        self.assertEqual(await store.uploads_of("alice"), [])

    async def test_complete_deleted_file(self) -> None:
        """
        Completing a file deleted meanwhile (its sender cancelled it, or it
        expired, while the spool checked it) does nothing.
        """
        store = await self.open_store()
        record = await self.upload(store, "a", 5.0)
        await store.delete_file(record.id)
        await store.complete_file(record.id, ["bob"])
        self.assertIsNone(await store.get_file(record.id))
        self.assertEqual(await store.files_for("bob", 0.0), [])

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
        old, new = [replace(r, complete=True) for r in (old, new)]
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
        self.assertEqual(await store.get_file(record.id), left)
        self.assertEqual(
            await store.files_for("carol", 0.0), [replace(left, recipients=())]
        )
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
        self.assertEqual(
            await store.files_for("bob", 0.0), [replace(edge, recipients=())]
        )
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

    # History.

    async def test_history_since(self) -> None:
        """
        What a member missed: entries after C{since} up to C{until}, the
        newest C{limit} of them, oldest first.
        """
        store = await self.open_store()
        for i in range(6):
            store.add_history(entry("#chess", "bob", str(i), float(i)))
        store.add_history(entry("#go", "bob", "other room", 3.0))
        missed = await store.history_since("#chess", 1.0, 4.0, 2)
        self.assertEqual([e.text for e in missed], ["3", "4"])
        missed = await store.history_since("#chess", 1.0, 4.0, 10)
        self.assertEqual([e.text for e in missed], ["2", "3", "4"])
        self.assertEqual(await store.history_since("#chess", 5.0, 9.0, 0), [])

    # Resume (issue 16).

    async def test_history_ids(self) -> None:
        """
        L{IChatStore.add_history} gives every entry the next id, across
        rooms; L{IChatStore.history_after} gives a room's entries above an
        id, the newest C{limit} of them, oldest first.
        """
        store = await self.open_store()
        before = store.last_history_id
        added = [entry("", "alice", f"m{i}", float(i)) for i in range(4)]
        added.insert(2, entry("#go", "bob", "other room", 1.5))
        for e in added:
            store.add_history(e)
        self.assertEqual([e.id for e in added], list(range(before + 1, before + 6)))
        self.assertEqual(store.last_history_id, before + 5)
        main = await store.history("", 10)
        self.assertEqual([e.id for e in main], [e.id for e in added if not e.room])
        after = await store.history_after("", added[1].id, 10)
        self.assertEqual([e.text for e in after], ["m2", "m3"])
        self.assertEqual([e.id for e in after], [added[3].id, added[4].id])
        after = await store.history_after("", 0, 1)
        self.assertEqual([e.text for e in after], ["m3"])
        self.assertEqual(await store.history_after("", added[4].id, 10), [])
        self.assertEqual(await store.history_after("", 0, 0), [])
        room = await store.history_after("#go", 0, 10)
        self.assertEqual([e.id for e in room], [added[2].id])

    async def test_history(self) -> None:
        """
        L{IChatStore.history} gives the last C{limit} entries of a room,
        oldest first, including ones just added.
        """
        store = await self.open_store()
        for i in range(5):
            store.add_history(entry("", "alice", f"m{i}", float(i)))
        store.add_history(entry("", "bob", "waves", 5.0, "action"))
        entries = await store.history("", 3)
        self.assertEqual([e.text for e in entries], ["m3", "m4", "waves"])
        self.assertEqual(
            entries[-1], HistoryEntry(entries[-1].id, "", "bob", "waves", 5.0, "action")
        )
        self.assertEqual(entries[0].kind, "message")
        self.assertEqual(len(await store.history("", 100)), 6)
        self.assertEqual(await store.history("", 0), [])

    async def test_history_rooms(self) -> None:
        """
        Each room has its own history.
        """
        store = await self.open_store()
        store.add_history(entry("", "alice", "main", 1.0))
        store.add_history(entry("dev", "bob", "dev 1", 2.0))
        store.add_history(entry("dev", "bob", "dev 2", 3.0))
        self.assertEqual([e.text for e in await store.history("", 10)], ["main"])
        self.assertEqual(
            [(e.room, e.text) for e in await store.history("dev", 10)],
            [("dev", "dev 1"), ("dev", "dev 2")],
        )
        self.assertEqual(await store.history("other", 10), [])

    # Private history (issue 16).

    async def with_pair(self) -> IChatStore:
        """
        A started store with the accounts alice and bob.
        """
        store = await self.with_account()
        await store.create_account(Account("alice", "Alice", "hash", 1.0))
        return store

    async def test_private_history(self) -> None:
        """
        A conversation's private messages, either way, are given back
        oldest first to either party (entries just added included), apart
        from other conversations.
        """
        store = await self.with_pair()
        store.add_private(private("alice", "bob", "hi", 1.0))
        store.add_private(private("bob", "alice", "hello", 2.0))
        store.add_private(private("alice", "carol", "elsewhere", 3.0))
        store.add_private(private("alice", "bob", "bye", 4.0))
        for key, other in (("alice", "bob"), ("bob", "alice")):
            entries = await store.private_history(key, other, 10)
            self.assertEqual(
                [
                    (e.sender_key, e.recipient_key, e.sender, e.recipient, e.text)
                    for e in entries
                ],
                [
                    ("alice", "bob", "Alice", "Bob", "hi"),
                    ("bob", "alice", "Bob", "Alice", "hello"),
                    ("alice", "bob", "Alice", "Bob", "bye"),
                ],
            )
        [last] = await store.private_history("bob", "alice", 1)
        self.assertEqual((last.text, last.time, last.kind), ("bye", 4.0, "private"))
        self.assertEqual(await store.private_history("alice", "bob", 0), [])
        self.assertEqual(await store.private_history("bob", "carol", 10), [])

    async def test_private_history_deleted_with_account(self) -> None:
        """
        Deleting an account deletes the private history of its
        conversations; someone who registers the name later has none.
        """
        store = await self.with_pair()
        store.add_private(private("alice", "bob", "hi", 1.0))
        await store.delete_account("bob")
        await store.create_account(Account("bob", "Bob", "hash", 20.0))
        self.assertEqual(await store.private_history("alice", "bob", 10), [])

    async def test_private_opt_out(self) -> None:
        """
        An account that stops its private messages being kept is recorded
        (until it asks again, or is deleted), and what was kept of its
        conversations is deleted; other conversations stay.
        """
        store = await self.with_pair()
        await store.create_account(Account("carol", "Carol", "hash", 1.0))
        store.add_private(private("alice", "bob", "hi", 1.0))
        store.add_private(private("alice", "carol", "hey", 1.0))
        self.assertEqual(await store.private_opt_outs(), set())
        await store.set_private_history("bob", False)
        self.assertEqual(await store.private_opt_outs(), {"bob"})
        self.assertEqual(await store.private_history("alice", "bob", 10), [])
        self.assertEqual(
            [e.text for e in await store.private_history("alice", "carol", 10)],
            ["hey"],
        )
        await store.set_private_history("bob", True)
        self.assertEqual(await store.private_opt_outs(), set())
        await store.set_private_history("carol", False)
        await store.delete_account("carol")
        await store.set_private_history("nobody", False)
        self.assertEqual(await store.private_opt_outs(), set())


def private(sender: str, recipient: str, text: str, time: float) -> PrivateEntry:
    """
    A private message between two accounts, named as their keys titled.
    """
    return PrivateEntry(
        0, sender, recipient, sender.title(), recipient.title(), text, time
    )


class MemoryStoreTests(StoreContractMixin, TestCase):
    """
    L{MemoryStore} keeps everything in memory, and answers at once.
    """

    def make_store(self) -> IChatStore:
        return MemoryStore()

    def test_already_fired(self) -> None:
        """
        Results are there at once: tests of the core need no reactor.
        """
        store = MemoryStore()
        self.successResultOf(store.create_account(Account("bob", "Bob", "hash", 1.0)))
        self.assertEqual(self.successResultOf(store.account_names()), {"bob": "Bob"})
        self.failureResultOf(store.delete_account("carol"), NoSuchAccount)

    def test_history_keep(self) -> None:
        """
        Only the last C{history_keep} entries of each room are kept.
        """
        store = MemoryStore(history_keep=2)
        for i in range(4):
            store.add_history(entry("", "alice", str(i), 1.0))
        store.add_history(entry("dev", "alice", "dev", 1.0))
        entries = self.successResultOf(store.history("", 10))
        self.assertEqual([e.text for e in entries], ["2", "3"])
        self.assertEqual(len(self.successResultOf(store.history("dev", 10))), 1)

    def test_private_keep(self) -> None:
        """
        Only the last C{private_keep} messages of each conversation are
        kept.
        """
        store = MemoryStore(private_keep=2)
        for i in range(4):
            store.add_private(private("alice", "bob", str(i), 1.0))
        store.add_private(private("bob", "carol", "other", 1.0))
        entries = self.successResultOf(store.private_history("bob", "alice", 10))
        self.assertEqual([e.text for e in entries], ["2", "3"])
        self.assertEqual(
            len(self.successResultOf(store.private_history("carol", "bob", 10))), 1
        )


class SQLiteStoreContractTests(StoreContractMixin, TestCase):
    """
    L{SQLiteStore} on a real SQLite file in the test's temporary directory,
    written from its pool thread (the real reactor delivers the results);
    history is batched on a clock of the test's, and written when read.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.path = self.mktemp()

    def make_store(self) -> IChatStore:
        return SQLiteStore(self.path, clock=self.clock)
