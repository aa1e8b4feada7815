"""
What only L{SQLiteStore} does: its schema and migrations, its connection's
settings, durability across a reopen, closing, and the batching of history
writes.  What every store does is in L{tests.store.test_contract}.

These use a real SQLite file and the store's pool thread, with the real
reactor delivering results; history batches are scheduled on a clock of
the test's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from chat.core.names import stored
from chat.store.interface import (
    Account,
    FileRecord,
    Membership,
    RoomRecord,
    StoredMessage,
    StoreError,
)
from chat.store.sqlite import (
    BUSY_TIMEOUT,
    HISTORY_ROWS,
    MIGRATIONS,
    SCHEMA_VERSION,
    Cursor,
    SQLiteStore,
    _write_history,
    migrate,
)
from tests.store.test_contract import DAY, entry, fails, private

# The schema as released, frozen: each version's statements as chat/store.py
# at 6d7086e (the last release before the store became a package, at schema
# version 4) made them.  The upgrade tests build old databases from these,
# not from MIGRATIONS, so that a released step edited since (databases out
# there are at its version) fails them.  Once a release adds a step, copy
# it here.
RELEASED_SCHEMA: Sequence[Sequence[str]] = (
    (
        """
        CREATE TABLE accounts (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created REAL NOT NULL
        )
        """,
        """
        CREATE TABLE offline_messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recipient TEXT NOT NULL
                REFERENCES accounts (key) ON DELETE CASCADE,
            sender TEXT NOT NULL,
            text TEXT NOT NULL,
            time REAL NOT NULL,
            kind TEXT NOT NULL DEFAULT 'private'
        )
        """,
        "CREATE INDEX offline_messages_recipient ON offline_messages (recipient, id)",
    ),
    (
        """
        CREATE TABLE history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            room TEXT NOT NULL DEFAULT '',
            sender TEXT NOT NULL,
            text TEXT NOT NULL,
            time REAL NOT NULL,
            kind TEXT NOT NULL DEFAULT 'message'
        )
        """,
        "CREATE INDEX history_room_id ON history (room, id)",
    ),
    (
        """
        CREATE TABLE rooms (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            owner TEXT REFERENCES accounts (key) ON DELETE SET NULL,
            topic TEXT NOT NULL DEFAULT '',
            invite_only INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL
        )
        """,
        """
        CREATE TABLE room_members (
            room TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
            member TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
            operator INTEGER NOT NULL DEFAULT 0,
            seen REAL NOT NULL,
            PRIMARY KEY (room, member)
        )
        """,
        "CREATE INDEX room_members_member ON room_members (member)",
        """
        CREATE TABLE room_invites (
            room TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
            member TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
            PRIMARY KEY (room, member)
        )
        """,
        "CREATE INDEX history_room_time ON history (room, time)",
    ),
    (
        """
        CREATE TABLE files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sender_key TEXT NOT NULL,
            sender TEXT NOT NULL,
            target TEXT NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            complete INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL
        )
        """,
        "CREATE INDEX files_sender ON files (sender_key)",
        """
        CREATE TABLE file_recipients (
            file INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
            recipient TEXT NOT NULL,
            PRIMARY KEY (file, recipient)
        )
        """,
        "CREATE INDEX file_recipients_recipient ON file_recipients (recipient)",
    ),
)

# Rows for the tables each released step made, as that release wrote them.
RELEASED_ROWS: Sequence[Sequence[str]] = (
    (
        "INSERT INTO accounts (key, name, password_hash, created)"
        " VALUES ('bob', 'Bob', 'hash', 1.0), ('carol', 'Carol', 'hash', 1.5)",
        "INSERT INTO offline_messages (recipient, sender, text, time)"
        " VALUES ('bob', 'alice', 'kept', 2.0)",
    ),
    (
        "INSERT INTO history (room, sender, text, time)"
        " VALUES ('', 'alice', 'said', 3.0), ('#chess', 'bob', 'e4', 3.5)",
    ),
    (
        "INSERT INTO rooms (key, name, owner, topic, invite_only, created)"
        " VALUES ('#chess', '#Chess', 'bob', 'club', 1, 2.0)",
        "INSERT INTO room_members (room, member, operator, seen)"
        " VALUES ('#chess', 'bob', 0, 3.0)",
        "INSERT INTO room_invites (room, member) VALUES ('#chess', 'carol')",
    ),
    (
        "INSERT INTO files"
        " (sender_key, sender, target, name, size, sha256, complete, created)"
        " VALUES ('alice', 'Alice', '#Chess', 'notes.txt', 5, 'ab', 1, 4.0)",
        "INSERT INTO file_recipients (file, recipient) VALUES (1, 'bob')",
    ),
)


def released_database(path: str, version: int) -> None:
    """
    Make the database at C{path} as the release at schema C{version} did,
    from L{RELEASED_SCHEMA}, with the L{RELEASED_ROWS} its tables hold.
    """
    connection = sqlite3.connect(path)
    try:
        for step in (*RELEASED_SCHEMA[:version], *RELEASED_ROWS[:version]):
            for statement in step:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {version}")
        connection.commit()
    finally:
        connection.close()


def schema(connection: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """
    Every table and index of C{connection}'s database, with the SQL that
    made it, its spacing folded.
    """
    rows = connection.execute(
        "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    return [(kind, name, " ".join((sql or "").split())) for kind, name, sql in rows]


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


class SQLiteStoreTests(TestCase):
    """
    L{SQLiteStore} keeps everything in an SQLite file, written from a pool
    thread.
    """

    #: No request may take longer than this, in seconds.
    timeout = 30

    def setUp(self) -> None:
        self.clock = Clock()
        self.path = self.mktemp()
        self.events: list[LogEvent] = []
        observer = cast(ILogObserver, self.events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)

    async def open_sqlite(self, **kwargs: Any) -> SQLiteStore:
        """
        A started L{SQLiteStore} on C{self.path}, closed when the test ends.
        """
        store = SQLiteStore(self.path, clock=self.clock, **kwargs)
        await store.start()
        self.addCleanup(store.close)
        return store

    async def upload(
        self, store: SQLiteStore, name: str, now: float, size: int = 10
    ) -> FileRecord:
        """
        Start an upload of C{name} from Alice to Carol.
        """
        return await store.create_file(
            FileRecord(0, "alice", "Alice", "Carol", name, size, "ab" * 32, created=now)
        )

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

    # The schema and the connection.

    async def test_new_database(self) -> None:
        """
        A new database gets the current schema, in WAL mode.
        """
        await self.open_sqlite()
        self.assertEqual(user_version(self.path), SCHEMA_VERSION)
        connection = sqlite3.connect(self.path)
        self.addCleanup(connection.close)
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        self.assertEqual(mode, "wal")

    async def test_connection_settings(self) -> None:
        """
        The store's connection waits up to L{BUSY_TIMEOUT} milliseconds for
        another process's lock (a backup, the sqlite3 shell) rather than
        failing at once, syncs every commit, and enforces foreign keys.
        """
        store = await self.open_sqlite()
        pool = store._pool
        assert pool is not None

        def settings(txn: Cursor) -> list[int]:
            values = []
            for pragma in ("busy_timeout", "synchronous", "foreign_keys"):
                txn.execute(f"PRAGMA {pragma}")
                values.append(txn.fetchone()[0])
            return values

        values: list[int] = await pool.runInteraction(settings)
        # synchronous: 2 is FULL.
        self.assertEqual(values, [BUSY_TIMEOUT, 2, 1])
        self.assertEqual(BUSY_TIMEOUT, 5000)

    async def test_upgrade(self) -> None:
        """
        A database made by the first release is upgraded when opened, and
        keeps its data.
        """
        released_database(self.path, 1)
        self.assertEqual(user_version(self.path), 1)

        store = await self.open_sqlite(names=stored)
        self.assertEqual(user_version(self.path), SCHEMA_VERSION)
        self.assertEqual(
            await store.get_account("bob"), Account("bob", "Bob", "hash", 1.0)
        )
        [message] = await store.pending("bob", 3.0, DAY)
        self.assertEqual((message.text, message.kind), ("kept", "private"))
        store.add_history(entry("", "alice", "new table", 4.0))
        self.assertEqual(len(await store.history("", 10)), 1)

    async def test_upgrade_binds_files(self) -> None:
        """
        Upgrading a database from before files were bound to accounts
        binds the files and offers of registered names to their accounts
        (a later account of the same name gets none of them); at start-up
        the offers to guests of the old run are forgotten, with the files
        nobody is left to fetch.
        """
        released_database(self.path, 4)
        connection = sqlite3.connect(self.path)
        try:
            connection.execute(
                "INSERT INTO files"
                " (sender_key, sender, target, name, size, sha256, complete, created)"
                " VALUES ('bob', 'Bob', 'eve', 'to-guest', 1, 'ab', 1, 4.0)"
            )
            connection.execute(
                "INSERT INTO file_recipients (file, recipient) VALUES (2, 'eve')"
            )
            connection.commit()
        finally:
            connection.close()
        store = await self.open_sqlite(names=stored)
        self.assertEqual([f.id for f in await store.files_for("bob", 0.0)], [1])
        self.assertEqual(await store.drop_orphans(), [2])
        await store.delete_account("bob")
        await store.create_account(Account("bob", "Bob", "new", 9.0))
        self.assertEqual(await store.files_for("bob", 0.0), [])
        self.assertEqual(await store.drop_orphans(), [1])

    async def test_upgrade_from_every_version(self) -> None:
        """
        A database at any released schema version, the newest released
        included, is opened and upgraded to the newest: it keeps its
        accounts and messages (and, from the versions that have them, its
        history, rooms and files), can then store files, and ends up with
        the schema a new database gets, so a released step edited since
        shows.
        """
        connection = sqlite3.connect(":memory:")
        self.addCleanup(connection.close)
        migrate(connection.cursor())
        new_schema = schema(connection)
        for version in range(1, len(RELEASED_SCHEMA) + 1):
            self.path = self.mktemp()
            released_database(self.path, version)
            self.assertEqual(user_version(self.path), version)

            store = SQLiteStore(self.path, clock=self.clock, names=stored)
            await store.start()
            try:
                self.assertEqual(user_version(self.path), SCHEMA_VERSION)
                self.assertEqual(
                    await store.get_account("bob"),
                    Account("bob", "Bob", "hash", 1.0),
                )
                [message] = await store.pending("bob", 3.0, DAY)
                self.assertEqual(
                    (message.sender, message.text, message.kind),
                    ("alice", "kept", "private"),
                )
                said = [e.text for e in await store.history("", 10)]
                moves = [e.text for e in await store.history("#chess", 10)]
                if version >= 2:
                    self.assertEqual((said, moves), (["said"], ["e4"]))
                else:
                    self.assertEqual((said, moves), ([], []))
                rooms = await store.load_rooms()
                if version >= 3:
                    [room] = rooms
                    self.assertEqual(
                        (room.key, room.owner, room.topic, room.invite_only),
                        ("#chess", "bob", "club", True),
                    )
                    self.assertEqual(
                        room.members, (Membership("#chess", "bob", False, 3.0),)
                    )
                    self.assertEqual(room.invites, frozenset({"carol"}))
                else:
                    self.assertEqual(rooms, [])
                if version >= 4:
                    self.assertEqual(
                        await store.get_file(1),
                        FileRecord(
                            1,
                            "alice",
                            "Alice",
                            "#Chess",
                            "notes.txt",
                            5,
                            "ab",
                            True,
                            4.0,
                            ("bob",),
                        ),
                    )
                record = await store.create_file(
                    FileRecord(0, "bob", "Bob", "alice", "f.txt", 1, "0" * 64)
                )
                fetched = await store.get_file(record.id)
                assert fetched is not None
                self.assertEqual((fetched.name, fetched.size), ("f.txt", 1))
            finally:
                await store.close()
            upgraded = sqlite3.connect(self.path)
            try:
                self.assertEqual(schema(upgraded), new_schema)
            finally:
                upgraded.close()

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

    async def test_upgrade_rekeys_names(self) -> None:
        """
        Schema 5 keys every name by the rules of issue 15 (NFKC, PRECIS):
        a database of the newest release (schema 4) keeps its accounts,
        messages, rooms, memberships, invitations, history and files under
        the new keys, shown in their normal form.  Of two accounts now one
        name, the older keeps it and the other is set aside (with its
        messages, but not its memberships); of two rooms now one, the older
        stays and the other goes, with its history; a name or room that
        breaks the rules is set aside or deleted; each of these is logged.
        """
        released_database(self.path, 4)
        connection = sqlite3.connect(self.path)
        inserts: list[tuple[str, list[tuple[Any, ...]]]] = [
            (
                "INSERT INTO accounts (key, name, password_hash, created)"
                " VALUES (?, ?, 'hash', ?)",
                [
                    ("ａｌｉｃｅ", "ａｌｉｃｅ", 1.0),
                    ("alice", "alice", 2.0),
                    ("jose\u0301", "Jose\u0301", 1.0),
                    ("bob\u200b", "bob\u200b", 3.0),
                ],
            ),
            (
                "INSERT INTO offline_messages (recipient, sender, text, time)"
                " VALUES (?, 'dave', ?, 2.0)",
                [("ａｌｉｃｅ", "for the older"), ("alice", "for the newer")],
            ),
            (
                "INSERT INTO rooms (key, name, owner, topic, invite_only, created)"
                " VALUES (?, ?, ?, '', ?, ?)",
                [
                    ("#ｓｅｃｒｅｔ", "#ｓｅｃｒｅｔ", "ａｌｉｃｅ", 0, 1.0),
                    ("#secret", "#secret", "alice", 1, 2.0),
                    ("#tea\u2615", "#tea\u2615", None, 0, 1.0),
                ],
            ),
            (
                "INSERT INTO room_members (room, member, operator, seen)"
                " VALUES (?, ?, ?, 5.0)",
                [
                    ("#ｓｅｃｒｅｔ", "ａｌｉｃｅ", 1),
                    ("#secret", "alice", 0),
                    ("#chess", "jose\u0301", 0),
                    ("#chess", "alice", 0),
                ],
            ),
            (
                "INSERT INTO room_invites (room, member) VALUES (?, ?)",
                [("#chess", "alice"), ("#ｓｅｃｒｅｔ", "bob")],
            ),
            (
                "INSERT INTO history (room, sender, text, time)"
                " VALUES (?, 'x', ?, 4.0)",
                [("#ｓｅｃｒｅｔ", "older room"), ("#secret", "newer room")],
            ),
            (
                "INSERT INTO files"
                " (sender_key, sender, target, name, size, sha256, complete, created)"
                " VALUES ('ａｌｉｃｅ', 'ａｌｉｃｅ', 'carl', 'f', 1, 'ab', 1, 4.0)",
                [()],
            ),
            (
                "INSERT INTO file_recipients (file, recipient) VALUES (2, ?)",
                [("ａｌｉｃｅ",), ("alice",), ("ｃａｒｌ",), ("carl",)],
            ),
        ]
        for statement, rows in inserts:
            connection.executemany(statement, rows)
        connection.commit()
        connection.close()

        store = await self.open_sqlite(names=stored)
        self.assertEqual(user_version(self.path), SCHEMA_VERSION)
        self.assertEqual(
            await store.account_names(),
            {
                "bob": "Bob",
                "carol": "Carol",
                "alice": "alice",
                "*alice": "alice",
                "jos\u00e9": "Jos\u00e9",
                "*bob\u200b": "bob\u200b",
            },
        )
        self.assertEqual(
            await store.get_account("alice"), Account("alice", "alice", "hash", 1.0)
        )
        self.assertEqual(
            [m.text for m in await store.pending("alice", 3.0, DAY)], ["for the older"]
        )
        self.assertEqual(
            [m.text for m in await store.pending("*alice", 3.0, DAY)],
            ["for the newer"],
        )
        rooms = {room.key: room for room in await store.load_rooms()}
        self.assertEqual(sorted(rooms), ["#chess", "#secret"])
        secret = rooms["#secret"]
        self.assertEqual(
            (secret.name, secret.owner, secret.invite_only),
            ("#secret", "alice", False),
        )
        self.assertEqual(secret.members, (Membership("#secret", "alice", True, 5.0),))
        self.assertEqual(secret.invites, frozenset({"bob"}))
        chess = rooms["#chess"]
        self.assertEqual([m.member for m in chess.members], ["bob", "jos\u00e9"])
        self.assertEqual(chess.invites, frozenset({"carol"}))
        self.assertEqual(
            [e.text for e in await store.history("#secret", 10)], ["older room"]
        )
        self.assertEqual(await store.history("#ｓｅｃｒｅｔ", 10), [])
        file = await store.get_file(2)
        assert file is not None
        self.assertEqual(
            (file.sender_key, file.recipients), ("alice", ("alice", "carl"))
        )
        notes = sorted(str(e["note"]) for e in self.warnings() if "note" in e)
        self.assertEqual(
            notes,
            [
                "the registered name 'alice' is now the same name as 'ａｌｉｃｅ', "
                "registered earlier: it was set aside as '*alice', and nobody can "
                "log in to it",
                "the registered name 'bob\\u200b' breaks today's name rules: it "
                "was set aside as '*bob\\u200b', and nobody can log in to it",
                "the room '#secret' is now the same room as '#ｓｅｃｒｅｔ', made "
                "earlier: it was deleted, with its history",
                "the room '#tea\u2615' breaks today's name rules: it was deleted, "
                "with its history",
            ],
        )

    async def test_upgrade_needs_name_rules(self) -> None:
        """
        A database with names to re-key is not upgraded without the name
        rules: it is left at its version.
        """
        released_database(self.path, 4)
        store = SQLiteStore(self.path, clock=self.clock)
        self.addCleanup(store.close)
        error = await fails(store.start(), StoreError)
        self.assertIn("needs the name rules", str(error))
        await store.close()
        self.assertEqual(user_version(self.path), 4)

    async def test_newer_database_refused(self) -> None:
        """
        A database from a newer program is refused and left alone.
        """
        connection = sqlite3.connect(self.path)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        connection.close()
        store = SQLiteStore(self.path, clock=self.clock)
        self.addCleanup(store.close)
        error = await fails(store.start(), StoreError)
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

    async def test_started_twice(self) -> None:
        """
        A store is started once.
        """
        store = await self.open_sqlite()
        await fails(store.start(), StoreError)

    # Durability.

    async def test_durable(self) -> None:
        """
        Accounts, stored messages, rooms and history (written at close) are
        there after the store is closed and opened again.
        """
        store = await self.open_sqlite()
        await store.create_account(Account("bob", "Bob", "hash", 1.0))
        message = await store.enqueue(
            StoredMessage(0, "bob", "alice", "while you were out", 10.0),
            max_count=10,
            max_age=DAY,
        )
        room = RoomRecord("#chess", "#Chess", "bob", "club", True, 2.0)
        await store.save_room(room)
        await store.save_member(Membership("#chess", "bob", True, 2.5))
        store.add_history(entry("", "alice", "said", 3.0))
        store.add_history(entry("#chess", "bob", "e4", 4.0))
        await store.close()

        again = await self.open_sqlite()
        self.assertEqual(await again.pending("bob", 11.0, DAY), [message])
        self.assertEqual(await again.account_names(), {"bob": "Bob"})
        self.assertEqual(
            await again.load_rooms(),
            [replace(room, members=(Membership("#chess", "bob", True, 2.5),))],
        )
        self.assertEqual([e.text for e in await again.history("", 5)], ["said"])
        self.assertEqual([e.text for e in await again.history("#chess", 5)], ["e4"])

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
        self.assertEqual(
            await again.files_for("bob", 0.0), [replace(done, recipients=())]
        )
        self.assertEqual(await again.uploads_of("alice"), [partial])
        self.assertEqual(await again.spool_usage("alice"), 16)
        self.assertGreater((await self.upload(again, "next", 4.0)).id, newest.id)

    # Closing.

    async def test_close_waits(self) -> None:
        """
        L{SQLiteStore.close} lets requests under way finish; later ones fail
        with L{StoreError}, and history added then is ignored.
        """
        store = await self.open_sqlite()
        created = store.create_account(Account("bob", "Bob", "hash", 1.0))
        closed = store.close()
        also_closed = store.close()
        await fails(store.get_account("bob"), StoreError)
        self.assertEqual((await created).name, "Bob")
        await closed
        await also_closed
        store.add_history(entry("", "alice", "ignored", 2.0))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        again = await self.open_sqlite()
        self.assertEqual(await again.account_names(), {"bob": "Bob"})
        self.assertEqual(await again.history("", 10), [])

    async def test_close_unstarted(self) -> None:
        """
        A store that was never started closes at once, and gives up the
        history it was handed: nothing stays scheduled.
        """
        store = SQLiteStore(self.path, clock=self.clock)
        store.add_history(entry("", "alice", "never written", 1.0))
        await store.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        again = await self.open_sqlite()
        self.assertEqual(await again.history("", 10), [])

    # History.

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
            store.add_history(entry("", f"u{i % 7}", str(i), float(i), kinds[i % 2]))
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
        store.add_history(entry("", "alice", "1", 1.0))
        self.clock.advance(store.history_interval)
        store.add_history(entry("", "alice", "2", 2.0))
        store.add_history(entry("", "alice", "3", 3.0))
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
        pool = store._pool
        assert pool is not None
        store.add_history(entry("", "alice", "1", 1.0))
        self.clock.advance(store.history_interval)
        store.add_history(entry("", "alice", "2", 2.0))
        # The pool runs requests in order: once this one ran, the first
        # write is over (without anyone asking for a flush).
        await pool.runInteraction(lambda txn: None)
        self.assertEqual(sizes, [1])
        [pending] = self.clock.getDelayedCalls()
        self.assertAlmostEqual(pending.getTime(), 2 * store.history_interval)
        self.clock.advance(store.history_interval)
        await pool.runInteraction(lambda txn: None)
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
            store.add_history(entry("", "alice", str(i), float(i)))
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
            store.add_history(entry("r", "alice", str(i), float(i)))
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
        store.add_history(entry("r", "alice", "lost", 1.0))
        await store.flush_history()
        self.assertEqual(len(self.flushLoggedErrors(sqlite3.OperationalError)), 1)
        pool.runInteraction = run  # type: ignore[method-assign]
        store.add_history(entry("r", "alice", "kept", 2.0))
        self.assertEqual([e.text for e in await store.history("r", 10)], ["kept"])

    async def test_main_room_tail(self) -> None:
        """
        The main room's newest entries come from memory, including those
        not yet written, and are loaded from the file at start.
        """
        store = await self.open_sqlite()
        for i in range(5):
            store.add_history(entry("", "alice", str(i), float(i)))
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
            store.add_history(entry("a", "alice", str(i), 1.0))
        await store.flush_history()
        self.assertEqual(len(await store.history("a", 10)), 4)
        store.add_history(entry("b", "bob", "b0", 2.0))
        store.add_history(entry("a", "alice", "4", 2.0))
        await store.flush_history()
        self.assertEqual(
            [e.text for e in await store.history("a", 10)], ["2", "3", "4"]
        )
        self.assertEqual([e.text for e in await store.history("b", 10)], ["b0"])

    # Resume (issue 16).

    async def test_history_ids_survive_a_restart(self) -> None:
        """
        History ids go on growing after a restart, even past pruned rows,
        so that a client's "since N" still means the same entries.
        """
        store = await self.open_sqlite()
        first = entry("", "alice", "one", 1.0)
        store.add_history(first)
        store.add_history(entry("", "alice", "two", 2.0))
        await store.close()
        again = await self.open_sqlite()
        self.assertEqual(again.last_history_id, first.id + 1)
        third = entry("", "bob", "three", 3.0)
        again.add_history(third)
        self.assertEqual(third.id, first.id + 2)
        after = await again.history_after("", first.id, 10)
        self.assertEqual(
            [(e.id, e.text) for e in after],
            [(first.id + 1, "two"), (third.id, "three")],
        )

    # Private history (issue 16).

    async def test_upgrade_adds_private_history(self) -> None:
        """
        A database of the newest release (schema 6) gets the private
        history tables when opened, and keeps its data; the conversations
        kept then outlive a restart, and the opt-outs too.
        """
        released_database(self.path, 6)
        self.assertEqual(user_version(self.path), 6)
        store = await self.open_sqlite(names=stored)
        self.assertEqual(user_version(self.path), SCHEMA_VERSION)
        self.assertEqual(SCHEMA_VERSION, 7)
        self.assertEqual(
            await store.get_account("bob"), Account("bob", "Bob", "hash", 1.0)
        )
        await store.create_account(Account("alice", "Alice", "hash", 2.0))
        store.add_private(private("alice", "bob", "hi", 5.0))
        store.add_private(private("bob", "alice", "hello", 6.0))
        await store.set_private_history("bob", True)
        await store.close()
        again = await self.open_sqlite(names=stored)
        self.assertEqual(
            [
                (e.sender, e.recipient, e.text, e.time)
                for e in await again.private_history("bob", "alice", 10)
            ],
            [("Alice", "Bob", "hi", 5.0), ("Bob", "Alice", "hello", 6.0)],
        )
        await again.set_private_history("alice", False)
        await again.close()
        third = await self.open_sqlite(names=stored)
        self.assertEqual(await third.private_opt_outs(), {"alice"})
        self.assertEqual(await third.private_history("bob", "alice", 10), [])

    async def test_private_batched_with_history(self) -> None:
        """
        Private messages are written in the batches room history is
        written in: no transaction of their own.
        """
        store = await self.open_sqlite()
        sizes = self.count_history_writes(store)
        store.add_history(entry("", "alice", "said", 1.0))
        for i in range(3):
            store.add_private(private("alice", "bob", str(i), float(i)))
        self.assertEqual(sizes, [])
        self.clock.advance(store.history_interval)
        self.assertEqual(sizes, [4])
        await store.flush_history()
        entries = await store.private_history("bob", "alice", 10)
        self.assertEqual([e.text for e in entries], ["0", "1", "2"])
        self.assertEqual([e.text for e in await store.history("", 10)], ["said"])

    async def test_private_prune(self) -> None:
        """
        Every C{private_keep} private messages written, each conversation
        written to is cut down to its last C{private_keep} messages.
        """
        store = await self.open_sqlite(private_keep=3)
        for i in range(2):
            store.add_private(private("alice", "bob", str(i), 1.0))
        store.add_private(private("carol", "bob", "c", 1.0))
        await store.flush_history()
        for i in range(2, 5):
            store.add_private(private("bob", "alice", str(i), 2.0))
        await store.flush_history()
        self.assertEqual(
            [e.text for e in await store.private_history("alice", "bob", 10)],
            ["2", "3", "4"],
        )
        self.assertEqual(len(await store.private_history("bob", "carol", 10)), 1)

    async def test_private_after_a_full_batch(self) -> None:
        """
        A private entry left for the next batch (the one under way was
        full) is written by it.
        """
        store = await self.open_sqlite()
        store.history_batch = 2
        store.add_history(entry("", "alice", "a", 1.0))
        store.add_history(entry("", "alice", "b", 2.0))
        store.add_private(private("alice", "bob", "p", 3.0))
        await store.flush_history()
        self.assertEqual(
            [e.text for e in await store.private_history("bob", "alice", 10)], ["p"]
        )
        self.assertEqual([e.text for e in await store.history("", 10)], ["a", "b"])
