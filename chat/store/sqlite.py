# -*- test-case-name: tests.store.test_sqlite -*-
"""
L{SQLiteStore}: the embedded default L{IChatStore}, one SQLite file used
through one connection from one thread of an L{adbapi.ConnectionPool}.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar, cast

from twisted.enterprise import adbapi
from twisted.internet import threads
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorFromThreads, IReactorTime
from twisted.logger import Logger
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
    StoreError,
    pair,
)

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Cursor(Protocol):
    """
    The part of a DB-API cursor that the SQLite interactions use: an
    L{sqlite3.Cursor}, or the L{adbapi.Transaction} that wraps one.
    """

    @property
    def lastrowid(self) -> int | None: ...

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> object: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


#: The name rules, for upgrades that re-key names: the key and the shown
#: form of a user or room name kept by an older txchat, or L{None} if it
#: breaks today's rules (L{chat.core.names.stored}; the store does not
#: import the core, which hands it over through L{SQLiteStore}).
NameRules = Callable[[str], "tuple[str, str] | None"]
#: A step of an upgrade done in Python: given the cursor, the name rules
#: (if any) and a list to which it appends what the log should say.
PythonStep = Callable[[Cursor, "NameRules | None", list[str]], None]


def _rekey_names(txn: Cursor, names: NameRules | None, notes: list[str]) -> None:
    """
    Schema 5: every name kept is keyed by the name rules of issue 15 (NFKC,
    then PRECIS's UsernameCaseMapped with case folding), where it was
    keyed by C{str.casefold}; accounts and rooms are shown in their normal
    form.

    Two accounts whose names are now one (C{ａｌｉｃｅ} and C{alice}): the
    older (by creation) keeps the name, the other is set aside under
    C{*} + its old key, which no name has (its stored messages are kept
    for the operator; its memberships, invitations and files offered to
    it go).  So is an account whose name breaks today's rules.  Two rooms
    now one: the older stays, the other is deleted with its history and
    memberships; so is a room whose name breaks the rules.  Each of these
    is logged.
    """
    txn.execute("SELECT key, name FROM accounts ORDER BY created, key")
    accounts: list[tuple[str, str]] = txn.fetchall()
    txn.execute("SELECT key, name FROM rooms ORDER BY created, key")
    rooms: list[tuple[str, str]] = txn.fetchall()
    txn.execute(
        "SELECT sender_key FROM files UNION SELECT recipient FROM file_recipients"
    )
    others = [key for (key,) in txn.fetchall()]
    if not (accounts or rooms or others):
        return
    if names is None:
        raise StoreError(
            "upgrading this database re-keys its names, which needs the name rules; "
            "open it with SQLiteStore(..., names=chat.core.names.stored)"
        )
    # Keys change under rows that refer to them: checked at the commit.
    txn.execute("PRAGMA defer_foreign_keys = ON")
    keys: dict[str, str] = {}
    shown: dict[str, str] = {}
    owners: dict[str, str] = {}
    aside: list[str] = []
    for old, name in accounts:
        rules = names(name)
        if rules is not None and rules[0] not in owners:
            keys[old], shown[old] = rules
            owners[rules[0]] = name
            continue
        keys[old] = "*" + old
        aside.append(old)
        why = (
            "breaks today's name rules"
            if rules is None
            else f"is now the same name as {owners[rules[0]]!r}, registered earlier"
        )
        notes.append(
            f"the registered name {name!r} {why}: it was set aside as "
            f"{keys[old]!r}, and nobody can log in to it"
        )
    for old in aside:
        for table in ("room_members", "room_invites"):
            txn.execute(f"DELETE FROM {table} WHERE member = ?", (old,))
        txn.execute("DELETE FROM file_recipients WHERE recipient = ?", (old,))
        txn.execute("UPDATE rooms SET owner = NULL WHERE owner = ?", (old,))
    room_keys: dict[str, str] = {}
    room_names: dict[str, str] = {}
    kept: dict[str, str] = {}
    for old, name in rooms:
        rules = names(name)
        if rules is not None and rules[0] not in kept:
            room_keys[old], room_names[old] = rules
            kept[rules[0]] = name
            continue
        why = (
            "breaks today's name rules"
            if rules is None
            else f"is now the same room as {kept[rules[0]]!r}, made earlier"
        )
        notes.append(f"the room {name!r} {why}: it was deleted, with its history")
        for table in ("room_members", "room_invites", "history"):
            txn.execute(f"DELETE FROM {table} WHERE room = ?", (old,))
        txn.execute("DELETE FROM rooms WHERE key = ?", (old,))
    _rename(txn, "accounts", "key", keys)
    txn.executemany(
        "UPDATE accounts SET name = ? WHERE key = ?",
        [(shown[old], keys[old]) for old in shown],
    )
    for table, column in (
        ("offline_messages", "recipient"),
        ("room_members", "member"),
        ("room_invites", "member"),
        ("rooms", "owner"),
    ):
        _rename(txn, table, column, keys)
    _rename(txn, "rooms", "key", room_keys)
    txn.executemany(
        "UPDATE rooms SET name = ? WHERE key = ?",
        [(room_names[old], room_keys[old]) for old in room_names],
    )
    for table in ("room_members", "room_invites", "history"):
        _rename(txn, table, "room", room_keys)
    # Files name guests too (uploads under way, recipients online).
    people = dict(keys)
    for old in others:
        if old not in people:
            rules = names(old)
            if rules is not None:
                people[old] = rules[0]
    _rename(txn, "files", "sender_key", people)
    _rename(txn, "file_recipients", "recipient", people, unique=True)


def _rename(
    txn: Cursor, table: str, column: str, keys: dict[str, str], *, unique: bool = False
) -> None:
    """
    Replace each old value of C{table.column} by its new one in C{keys}.

    In two passes, through values no name has (NUL first), so that a key
    that is another's new key is moved out of the way first.

    @param unique: two old values may become one where the column is part
        of a key: the second row is dropped.
    """
    changed = [(old, new) for old, new in keys.items() if old != new]
    if not changed:
        return
    txn.executemany(
        f"UPDATE {table} SET {column} = ? WHERE {column} = ?",
        [("\0" + old, old) for old, _ in changed],
    )
    verb = "UPDATE OR IGNORE" if unique else "UPDATE"
    txn.executemany(
        f"{verb} {table} SET {column} = ? WHERE {column} = ?",
        [(new, "\0" + old) for old, new in changed],
    )
    if unique:
        txn.executemany(
            f"DELETE FROM {table} WHERE {column} = ?",
            [("\0" + old,) for old, _ in changed],
        )


# Each step moves the schema up one version; step N makes version N.  Steps
# are only ever added: a released step must not change, since databases out
# there are at its version.  No executescript: it would commit the
# transaction that makes an upgrade all-or-nothing.  A step may be done in
# Python (L{PythonStep}).
MIGRATIONS: Sequence[Sequence[str | PythonStep]] = (
    (
        """
        CREATE TABLE accounts (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created REAL NOT NULL
        )
        """,
        # AUTOINCREMENT: ids are never reused, even after the newest
        # message is acknowledged, because clients acknowledge by id.
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
        # room '' is the main channel; named rooms come later.
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
        # owner: a registered owner only (a guest owns a room while online).
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
        # Registered members only: guests are members while connected.
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
        # Uploads in progress too: the spool's .part files are named by id.
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
    (
        # Files: senders and recipients bound to the account registered
        # under their key when they were recorded (its created time; NULL
        # for guests and unregistered keys), so that a file never goes to
        # the next holder of a name.
        "ALTER TABLE files ADD COLUMN sender_account REAL",
        "UPDATE files SET sender_account ="
        " (SELECT created FROM accounts WHERE key = sender_key)",
        "ALTER TABLE file_recipients ADD COLUMN account REAL",
        "UPDATE file_recipients SET account ="
        " (SELECT created FROM accounts WHERE key = recipient)",
    ),
    # Names keyed by the rules of issue 15 (PRECIS and NFKC).
    (_rekey_names,),
    # Private history (issue 16): the conversations of two registered
    # users, under their keys in order (low < high), whoever spoke; no
    # foreign keys, so that a batch is not refused for an account deleted
    # meanwhile (delete_account deletes its rows).
    (
        """
        CREATE TABLE private_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            low TEXT NOT NULL,
            high TEXT NOT NULL,
            sender_key TEXT NOT NULL,
            sender TEXT NOT NULL,
            recipient TEXT NOT NULL,
            text TEXT NOT NULL,
            time REAL NOT NULL,
            kind TEXT NOT NULL DEFAULT 'private'
        )
        """,
        "CREATE INDEX private_history_pair ON private_history (low, high, id)",
        "CREATE INDEX private_history_high ON private_history (high)",
        # Accounts whose private messages are not kept.
        """
        CREATE TABLE private_history_off (
            key TEXT PRIMARY KEY REFERENCES accounts (key) ON DELETE CASCADE
        )
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

# How long a statement waits for another process's lock (say, a backup or
# the sqlite3 shell) before it fails, in milliseconds.
BUSY_TIMEOUT = 5000


def migrate(
    cursor: Cursor,
    upto: int | None = None,
    *,
    names: NameRules | None = None,
    notes: list[str] | None = None,
) -> int:
    """
    Bring the schema up to version C{upto} (by default the newest) by
    applying the missing L{MIGRATIONS} in order.  Run it inside a
    transaction so that an upgrade happens entirely or not at all.

    @param names: the name rules, which steps that re-key names need when
        there are names to re-key.
    @param notes: what the upgrade did that the log should say is appended
        to it.
    @return: the schema version now.
    @raise StoreError: if the database is newer than L{SCHEMA_VERSION}; it
        is left untouched.  Also if a step needs the name rules and has
        none.
    """
    target = SCHEMA_VERSION if upto is None else upto
    cursor.execute("PRAGMA user_version")
    (version,) = cursor.fetchone()
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database schema version {version} is newer than this program "
            f"supports ({SCHEMA_VERSION}); upgrade txchat"
        )
    if version >= target:
        return int(version)
    for step in MIGRATIONS[version:target]:
        for statement in step:
            if isinstance(statement, str):
                cursor.execute(statement)
            else:
                statement(cursor, names, [] if notes is None else notes)
    # PRAGMA takes no parameters; target is an int we computed.
    cursor.execute(f"PRAGMA user_version = {int(target)}")
    return target


def _configure(connection: sqlite3.Connection) -> None:
    """
    Set up a new connection (C{cp_openfun}).

    WAL lets readers (a backup, the sqlite3 shell) work while we write, and
    makes a commit one append to the log.  C{synchronous=FULL} syncs that
    log on every commit: L{IChatStore.enqueue} promises that a stored
    message survives a power cut once the sender has been told.
    """
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT}")


# The interactions below run in the pool's thread.  The connection is in
# autocommit mode (isolation_level=None): each interaction that writes opens
# its transaction with BEGIN IMMEDIATE, so it takes the write lock before it
# reads; the pool commits when it returns and rolls back if it raises.


def _upgrade(txn: Cursor, names: NameRules | None) -> tuple[int, list[str]]:
    txn.execute("BEGIN IMMEDIATE")
    notes: list[str] = []
    return migrate(txn, names=names, notes=notes), notes


def _get_account(txn: Cursor, key: str) -> Account | None:
    txn.execute(
        "SELECT key, name, password_hash, created FROM accounts WHERE key = ?",
        (key,),
    )
    row = txn.fetchone()
    return None if row is None else Account(*row)


def _account_names(txn: Cursor) -> dict[str, str]:
    txn.execute("SELECT key, name FROM accounts")
    return dict(txn.fetchall())


def _create_account(txn: Cursor, account: Account) -> Account:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute("SELECT 1 FROM accounts WHERE key = ?", (account.key,))
    if txn.fetchone() is not None:
        raise AccountExists(account.name)
    txn.execute(
        "INSERT INTO accounts (key, name, password_hash, created) VALUES (?, ?, ?, ?)",
        (account.key, account.name, account.password_hash, account.created),
    )
    return account


def _set_password_hash(txn: Cursor, key: str, password_hash: str) -> None:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute(
        "UPDATE accounts SET password_hash = ? WHERE key = ?", (password_hash, key)
    )
    if txn.rowcount == 0:
        raise NoSuchAccount(key)


def _delete_account(txn: Cursor, key: str) -> None:
    txn.execute("BEGIN IMMEDIATE")
    # Also done by ON DELETE CASCADE; explicit so it cannot depend on a PRAGMA.
    txn.execute("DELETE FROM offline_messages WHERE recipient = ?", (key,))
    txn.execute("DELETE FROM private_history_off WHERE key = ?", (key,))
    txn.execute("DELETE FROM accounts WHERE key = ?", (key,))
    if txn.rowcount == 0:
        raise NoSuchAccount(key)
    _forget_private(txn, key)


def _forget_private(txn: Cursor, key: str) -> None:
    txn.execute("DELETE FROM private_history WHERE low = ?", (key,))
    txn.execute("DELETE FROM private_history WHERE high = ?", (key,))


def _enqueue(
    txn: Cursor, message: StoredMessage, max_count: int, max_age: float
) -> StoredMessage:
    key = message.recipient
    txn.execute("BEGIN IMMEDIATE")
    txn.execute("SELECT name FROM accounts WHERE key = ?", (key,))
    row = txn.fetchone()
    if row is None:
        raise NoSuchAccount(key)
    txn.execute(
        "DELETE FROM offline_messages WHERE recipient = ? AND time < ?",
        (key, message.time - max_age),
    )
    txn.execute("SELECT count(*) FROM offline_messages WHERE recipient = ?", (key,))
    (count,) = txn.fetchone()
    if count >= max_count:
        raise QueueFull(row[0], max_count)
    txn.execute(
        "INSERT INTO offline_messages (recipient, sender, text, time, kind)"
        " VALUES (?, ?, ?, ?, ?)",
        (key, message.sender, message.text, message.time, message.kind),
    )
    assert txn.lastrowid is not None
    return replace(message, id=txn.lastrowid)


def _pending(txn: Cursor, key: str, oldest: float) -> list[StoredMessage]:
    txn.execute(
        "SELECT id, recipient, sender, text, time, kind FROM offline_messages"
        " WHERE recipient = ? AND time >= ? ORDER BY id",
        (key, oldest),
    )
    return [StoredMessage(*row) for row in txn.fetchall()]


def _expire(txn: Cursor, oldest: float) -> int:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute("DELETE FROM offline_messages WHERE time < ?", (oldest,))
    return txn.rowcount


def _ack(txn: Cursor, key: str, ids: list[int]) -> int:
    txn.execute("BEGIN IMMEDIATE")
    txn.executemany(
        "DELETE FROM offline_messages WHERE recipient = ? AND id = ?",
        [(key, id) for id in ids],
    )
    return txn.rowcount


# Rows per INSERT when history is written: 6 parameters each, within the
# 999 a statement may have in SQLite before 3.32.
HISTORY_ROWS: Final = 160
# Resume (issue 16): the id is the one add_history gave the entry.
_INSERT_HISTORY: Final = (
    "INSERT INTO history (id, room, sender, text, time, kind) VALUES "
)
_HISTORY_VALUES: Final = "(?, ?, ?, ?, ?, ?)"


_INSERT_PRIVATE: Final = (
    "INSERT INTO private_history"
    " (low, high, sender_key, sender, recipient, text, time, kind) VALUES "
)
_PRIVATE_VALUES: Final = "(?, ?, ?, ?, ?, ?, ?, ?)"
# 8 parameters a row: within 999.
PRIVATE_ROWS: Final = 120


def _write_history(
    txn: Cursor,
    batch: Iterable[HistoryEntry | PrivateEntry],
    prune: tuple[list[str], int] | None,
    private_prune: tuple[list[tuple[str, str]], int] | None = None,
    mixed: bool = False,
) -> None:
    """
    Write a batch of history in one transaction, and prune what C{prune}
    and C{private_prune} say.

    @param mixed: the batch may hold private entries (L{PrivateEntry}):
        sort them out (a batch of room history alone is not looked at
        twice).
    """
    txn.execute("BEGIN IMMEDIATE")
    # Up to HISTORY_ROWS rows per statement: sqlite3 lets the GIL go for
    # every statement it steps and takes it back after, and the reactor
    # thread pays for each of those hand-overs; executemany would make one
    # per row.
    if mixed:
        rows: list[HistoryEntry] = []
        private: list[PrivateEntry] = []
        for entry in batch:
            if type(entry) is HistoryEntry:
                rows.append(entry)
            else:
                private.append(cast(PrivateEntry, entry))
        _write_private(txn, private, private_prune)
    else:
        rows = cast(list[HistoryEntry], list(batch))
    for start in range(0, len(rows), HISTORY_ROWS):
        chunk = rows[start : start + HISTORY_ROWS]
        values: list[object] = []
        for e in chunk:
            values += (e.id, e.room, e.sender, e.text, e.time, e.kind)
        txn.execute(_INSERT_HISTORY + ", ".join([_HISTORY_VALUES] * len(chunk)), values)
    if prune is None:
        return
    rooms, keep = prune
    for room in rooms:
        # The newest row that is one too many; it and older ones go.
        txn.execute(
            "SELECT id FROM history WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
            (room, keep),
        )
        row = txn.fetchone()
        if row is not None:
            txn.execute(
                "DELETE FROM history WHERE room = ? AND id <= ?", (room, row[0])
            )


def _write_private(
    txn: Cursor,
    entries: list[PrivateEntry],
    prune: tuple[list[tuple[str, str]], int] | None,
) -> None:
    """
    Write private history (in L{_write_history}'s transaction), then
    prune the conversations C{prune} names down to the newest it says.
    """
    for start in range(0, len(entries), PRIVATE_ROWS):
        chunk = entries[start : start + PRIVATE_ROWS]
        values: list[object] = []
        for e in chunk:
            low, high = pair(e.sender_key, e.recipient_key)
            values += (low, high, e.sender_key, e.sender, e.recipient)
            values += (e.text, e.time, e.kind)
        txn.execute(_INSERT_PRIVATE + ", ".join([_PRIVATE_VALUES] * len(chunk)), values)
    if prune is None:
        return
    conversations, keep = prune
    for low, high in conversations:
        txn.execute(
            "SELECT id FROM private_history WHERE low = ? AND high = ?"
            " ORDER BY id DESC LIMIT 1 OFFSET ?",
            (low, high, keep),
        )
        row = txn.fetchone()
        if row is not None:
            txn.execute(
                "DELETE FROM private_history WHERE low = ? AND high = ? AND id <= ?",
                (low, high, row[0]),
            )


def _private_history(
    txn: Cursor, key: str, other: str, limit: int
) -> list[PrivateEntry]:
    low, high = pair(key, other)
    txn.execute(
        "SELECT id, sender_key, sender, recipient, text, time, kind"
        " FROM private_history WHERE low = ? AND high = ? ORDER BY id DESC LIMIT ?",
        (low, high, limit),
    )
    return [
        PrivateEntry(id_, sender_key, high if sender_key == low else low, sender, *rest)
        for id_, sender_key, sender, *rest in reversed(txn.fetchall())
    ]


def _private_opt_outs(txn: Cursor) -> set[str]:
    txn.execute("SELECT key FROM private_history_off")
    return {key for (key,) in txn.fetchall()}


def _set_private_history(txn: Cursor, key: str, keep: bool) -> None:
    txn.execute("BEGIN IMMEDIATE")
    if keep:
        txn.execute("DELETE FROM private_history_off WHERE key = ?", (key,))
        return
    txn.execute(
        "INSERT OR IGNORE INTO private_history_off (key)"
        " SELECT ? WHERE EXISTS (SELECT 1 FROM accounts WHERE key = ?)",
        (key, key),
    )
    _forget_private(txn, key)


def _load_rooms(txn: Cursor) -> list[RoomRecord]:
    txn.execute("SELECT room, member, operator, seen FROM room_members")
    members: dict[str, list[Membership]] = {}
    for room, member, operator, seen in txn.fetchall():
        members.setdefault(room, []).append(
            Membership(room, member, bool(operator), seen)
        )
    txn.execute("SELECT room, member FROM room_invites")
    invites: dict[str, set[str]] = {}
    for room, member in txn.fetchall():
        invites.setdefault(room, set()).add(member)
    txn.execute(
        "SELECT key, name, owner, topic, invite_only, created FROM rooms ORDER BY key"
    )
    return [
        RoomRecord(
            key,
            name,
            owner,
            topic,
            bool(invite_only),
            created,
            tuple(sorted(members.get(key, ()), key=lambda m: m.member)),
            frozenset(invites.get(key, ())),
        )
        for key, name, owner, topic, invite_only, created in txn.fetchall()
    ]


def _save_room(txn: Cursor, room: RoomRecord) -> None:
    txn.execute("BEGIN IMMEDIATE")
    owner = room.owner
    if owner is not None:
        txn.execute("SELECT 1 FROM accounts WHERE key = ?", (owner,))
        if txn.fetchone() is None:  # unregistered meanwhile
            owner = None
    txn.execute(
        "INSERT INTO rooms (key, name, owner, topic, invite_only, created)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " name = excluded.name, owner = excluded.owner, topic = excluded.topic,"
        " invite_only = excluded.invite_only",
        (room.key, room.name, owner, room.topic, int(room.invite_only), room.created),
    )


def _delete_room(txn: Cursor, key: str) -> None:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute("DELETE FROM rooms WHERE key = ?", (key,))
    txn.execute("DELETE FROM history WHERE room = ?", (key,))


def _save_member(txn: Cursor, membership: Membership) -> None:
    room, member = membership.room, membership.member
    txn.execute("BEGIN IMMEDIATE")
    # An account deleted meanwhile, or a room deleted meanwhile: nothing to
    # keep (the foreign keys would refuse the row).
    txn.execute(
        "INSERT INTO room_members (room, member, operator, seen)"
        " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE key = ?)"
        " AND EXISTS (SELECT 1 FROM rooms WHERE key = ?)"
        " ON CONFLICT (room, member) DO UPDATE SET operator = excluded.operator",
        (room, member, int(membership.operator), membership.seen, member, room),
    )


def _delete_member(txn: Cursor, room: str, member: str) -> None:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute(
        "DELETE FROM room_members WHERE room = ? AND member = ?", (room, member)
    )


def _set_seen(txn: Cursor, member: str, seen: float) -> None:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute("UPDATE room_members SET seen = ? WHERE member = ?", (seen, member))


def _save_invite(txn: Cursor, room: str, member: str) -> None:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute(
        "INSERT OR IGNORE INTO room_invites (room, member)"
        " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE key = ?)"
        " AND EXISTS (SELECT 1 FROM rooms WHERE key = ?)",
        (room, member, member, room),
    )


def _delete_invite(txn: Cursor, room: str, member: str) -> None:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute(
        "DELETE FROM room_invites WHERE room = ? AND member = ?", (room, member)
    )


def _history_since(
    txn: Cursor, room: str, since: float, until: float, limit: int
) -> list[HistoryEntry]:
    txn.execute(
        "SELECT id, room, sender, text, time, kind FROM history"
        " WHERE room = ? AND time > ? AND time <= ?"
        " ORDER BY time DESC, id DESC LIMIT ?",
        (room, since, until, limit),
    )
    return [HistoryEntry(*row) for row in reversed(txn.fetchall())]


_FILE_COLUMNS = (
    "id, sender_key, sender, target, name, size, sha256, complete, created,"
    " sender_account"
)
# The account a key is bound to now: its created time, or NULL.
_BOUND = "(SELECT created FROM accounts WHERE key = {})"
# A file whose sender is still the one bound (IS: NULL is NULL).
_VALID_FILE = "sender_account IS " + _BOUND.format("sender_key")
# A recipient row whose holder is still the one bound.
_VALID_RECIPIENT = "account IS " + _BOUND.format("recipient")


def _file_row(row: Any, recipients: tuple[str, ...] = ()) -> FileRecord:
    """
    The record of a row of L{_FILE_COLUMNS}; only L{_get_file} reads its
    recipients, a query of their own.
    """
    (
        id_,
        sender_key,
        sender,
        target,
        name,
        size,
        sha256,
        complete,
        created,
        sender_account,
    ) = row
    return FileRecord(
        id_,
        sender_key,
        sender,
        target,
        name,
        size,
        sha256,
        bool(complete),
        created,
        recipients,
        sender_account,
    )


def _add_recipients(txn: Cursor, file_id: int, recipients: Iterable[str]) -> None:
    """
    Offer file C{file_id} to C{recipients}, each bound to the account
    registered under it now (if any).
    """
    txn.executemany(
        "INSERT OR IGNORE INTO file_recipients (file, recipient, account)"
        " VALUES (?, ?, " + _BOUND.format("?") + ")",
        [(file_id, key, key) for key in set(recipients)],
    )


def _recipients(txn: Cursor, file_id: int) -> tuple[str, ...]:
    txn.execute(
        f"SELECT recipient FROM file_recipients WHERE file = ? AND {_VALID_RECIPIENT}"
        " ORDER BY recipient",
        (file_id,),
    )
    return tuple(r for (r,) in txn.fetchall())


def _create_file(txn: Cursor, file: FileRecord, recipients: list[str]) -> FileRecord:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute(
        "INSERT INTO files (sender_key, sender, target, name, size, sha256, created,"
        " sender_account) VALUES (?, ?, ?, ?, ?, ?, ?, " + _BOUND.format("?") + ")",
        (
            file.sender_key,
            file.sender,
            file.target,
            file.name,
            file.size,
            file.sha256,
            file.created,
            file.sender_key,
        ),
    )
    file_id = txn.lastrowid
    assert file_id is not None
    _add_recipients(txn, file_id, recipients)
    txn.execute("SELECT sender_account FROM files WHERE id = ?", (file_id,))
    (account,) = txn.fetchone()
    return replace(
        file,
        id=file_id,
        complete=False,
        recipients=_recipients(txn, file_id),
        sender_account=account,
    )


def _complete_file(txn: Cursor, file_id: int, recipients: list[str]) -> list[str]:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute("UPDATE files SET complete = 1 WHERE id = ?", (file_id,))
    if txn.rowcount == 0:
        # Deleted meanwhile (cancelled, expired): its recipients could not
        # be recorded (the foreign key), and there is nobody to offer it to.
        return []
    _add_recipients(txn, file_id, recipients)
    return list(_recipients(txn, file_id))


def _get_file(txn: Cursor, file_id: int) -> FileRecord | None:
    txn.execute(
        f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ? AND {_VALID_FILE}",
        (file_id,),
    )
    row = txn.fetchone()
    if row is None:
        return None
    return _file_row(row, _recipients(txn, file_id))


def _files_for(txn: Cursor, key: str, oldest: float) -> list[FileRecord]:
    txn.execute(
        f"SELECT {_FILE_COLUMNS} FROM files WHERE complete = 1 AND created >= ?"
        f" AND {_VALID_FILE} AND id IN (SELECT file FROM file_recipients"
        f" WHERE recipient = ? AND {_VALID_RECIPIENT}) ORDER BY id",
        (oldest, key),
    )
    return [_file_row(row) for row in txn.fetchall()]


def _uploads_of(txn: Cursor, key: str) -> list[FileRecord]:
    txn.execute(
        f"SELECT {_FILE_COLUMNS} FROM files WHERE sender_key = ? AND complete = 0"
        f" AND {_VALID_FILE} ORDER BY id",
        (key,),
    )
    return [_file_row(row) for row in txn.fetchall()]


def _spool_usage(txn: Cursor, key: str) -> int:
    txn.execute("SELECT coalesce(sum(size), 0) FROM files WHERE sender_key = ?", (key,))
    return int(txn.fetchone()[0])


def _spool_total(txn: Cursor) -> int:
    txn.execute("SELECT coalesce(sum(size), 0) FROM files")
    return int(txn.fetchone()[0])


def _remove_recipient(txn: Cursor, file_id: int, key: str) -> int:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute(
        "DELETE FROM file_recipients WHERE file = ? AND recipient = ?", (file_id, key)
    )
    return len(_recipients(txn, file_id))


def _delete_file(txn: Cursor, file_id: int) -> None:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute("DELETE FROM files WHERE id = ?", (file_id,))


def _expire_files(txn: Cursor, oldest: float) -> list[int]:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute("SELECT id FROM files WHERE created < ?", (oldest,))
    ids = [row[0] for row in txn.fetchall()]
    txn.execute("DELETE FROM files WHERE created < ?", (oldest,))
    return ids


def _delete_files(txn: Cursor, ids: list[int]) -> list[int]:
    txn.executemany("DELETE FROM files WHERE id = ?", [(i,) for i in ids])
    return ids


def _drop_holder(txn: Cursor, holder: str, keep_sent: bool = False) -> list[int]:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute(
        "SELECT id FROM files WHERE sender_key = ? AND (complete = 0 OR NOT ?)",
        (holder, keep_sent),
    )
    ids = {row[0] for row in txn.fetchall()}
    txn.execute("SELECT file FROM file_recipients WHERE recipient = ?", (holder,))
    offered = {row[0] for row in txn.fetchall()} - ids
    txn.execute("DELETE FROM file_recipients WHERE recipient = ?", (holder,))
    for file_id in sorted(offered):
        # Complete files, and uploads to a user: no one left to receive it.
        txn.execute("SELECT complete, target FROM files WHERE id = ?", (file_id,))
        complete, target = txn.fetchone()
        if (complete or not target.startswith("#")) and not _recipients(txn, file_id):
            ids.add(file_id)
    return _delete_files(txn, sorted(ids))


def _drop_orphans(txn: Cursor) -> list[int]:
    txn.execute("BEGIN IMMEDIATE")
    txn.execute(
        f"DELETE FROM file_recipients WHERE account IS NULL OR NOT ({_VALID_RECIPIENT})"
    )
    txn.execute(
        f"SELECT id FROM files WHERE NOT ({_VALID_FILE})"
        " OR (sender_account IS NULL AND complete = 0)"
        " OR ((complete = 1 OR substr(target, 1, 1) != '#')"
        " AND id NOT IN (SELECT file FROM file_recipients))"
        " ORDER BY id"
    )
    return _delete_files(txn, [row[0] for row in txn.fetchall()])


def _history(txn: Cursor, room: str, limit: int) -> list[HistoryEntry]:
    txn.execute(
        "SELECT id, room, sender, text, time, kind FROM history"
        " WHERE room = ? ORDER BY id DESC LIMIT ?",
        (room, limit),
    )
    return [HistoryEntry(*row) for row in reversed(txn.fetchall())]


# Resume (issue 16).


def _history_after(
    txn: Cursor, room: str, after: int, limit: int
) -> list[HistoryEntry]:
    txn.execute(
        "SELECT id, room, sender, text, time, kind FROM history"
        " WHERE room = ? AND id > ? ORDER BY id DESC LIMIT ?",
        (room, after, limit),
    )
    return [HistoryEntry(*row) for row in reversed(txn.fetchall())]


def _last_history_id(txn: Cursor) -> int:
    """
    The highest history id ever given (AUTOINCREMENT's record of it, as
    rows may have been pruned since).
    """
    txn.execute("SELECT max(id) FROM history")
    row = txn.fetchone()
    last = (row[0] or 0) if row else 0
    txn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'history'")
    row = txn.fetchone()
    return max(last, row[0] if row else 0)


def _interaction(
    f: Callable[Concatenate[Cursor, _P], _T],
) -> Callable[Concatenate[SQLiteStore, _P], Deferred[_T]]:
    """
    The store method that runs the interaction C{f} in the pool's thread,
    with the method's arguments: the L{IChatStore} method of the same name
    says what it does.
    """

    def method(
        self: SQLiteStore, /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Deferred[_T]:
        return self._call(f, *args, **kwargs)

    method.__name__ = f.__name__.lstrip("_")
    return method


@implementer(IChatStore)
class SQLiteStore:
    """
    An L{IChatStore} in one SQLite file.

    One connection, used from one pool thread: SQLite writes one
    transaction at a time anyway, and requests run in the order they were
    made.  History is written in batches: L{add_history} only appends to a
    buffer, and one transaction writes everything that arrived while the
    previous one ran, which keeps up with far more messages than a
    transaction per message would.

    @ivar path: the database file.
    @ivar history_keep: how many history entries to keep for each room.
    @ivar history_buffer: at most this many entries wait to be written; past
        it the oldest are dropped (and a warning logged), so a stalled disk
        cannot use up memory.
    @ivar prune_every: how many entries to write between two prunings of
        history down to C{history_keep} per room; so a room holds at most
        about C{history_keep + prune_every} entries on disk.
    """

    _log = Logger()
    # Entries of the main room kept in memory for history().
    HISTORY_TAIL = 200

    # At most this many entries per transaction: requests made meanwhile
    # (an offline message, a login) wait for the batch under way, so it
    # must stay short.  Some 10,000 rows take a tenth of a second.
    history_batch = 10_000
    # Seconds between two history writes while fewer than history_batch
    # entries wait.  A transaction per reactor turn would mean thousands of
    # thread hand-offs a second under load, each costing the reactor time;
    # a tenth of a second is not noticed (history() writes first), and a
    # crash loses at most that much history.
    history_interval = 0.1

    def __init__(
        self,
        path: str,
        *,
        clock: IReactorTime | None = None,
        history_keep: int = 100_000,
        history_buffer: int = 100_000,
        prune_every: int | None = None,
        names: NameRules | None = None,
        private_keep: int = 1000,
    ) -> None:
        """
        @param names: the name rules (L{chat.core.names.stored}), which an
            upgrade from a schema before version 6 needs when it has names
            to re-key.
        @param private_keep: how many private messages to keep for each
            conversation of two users; the oldest are pruned, as a room's
            history is (so at most about twice as many are on disk).
        """
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        if history_keep < 1 or history_buffer < 1 or private_keep < 1:
            raise ValueError(
                "history_keep, history_buffer and private_keep must be positive"
            )
        self.path = path
        self._names = names
        self._clock: IReactorTime = clock
        self.history_keep = history_keep
        self.history_buffer = history_buffer
        self.prune_every = prune_every if prune_every is not None else history_keep
        self._pool: adbapi.ConnectionPool | None = None
        self._open = False
        self._closing = False
        # Who waits for close() to finish, and whether it has.
        self._closed: list[Deferred[None]] | None = None
        self._shut = False
        # Requests under way, and who waits for there to be none.
        self._running = 0
        self._idle: list[Deferred[None]] = []
        # History not yet written.  Entries are numbered in the order they
        # were added: _added is the next number, and every entry numbered
        # below _written is on disk (or was given up).
        self._buffer: deque[HistoryEntry | PrivateEntry] = deque(maxlen=history_buffer)
        self._added = 0
        self._written = 0
        self._writing = False
        self._flush_call: IDelayedCall | None = None
        self._flushed: list[tuple[int, Deferred[None]]] = []
        self._dropped = 0
        self._rooms: set[str] = set()
        self._since_prune = 0
        # The main channel's newest entries, so that the replay at every
        # login needs no disk read.
        self._tail: deque[HistoryEntry] = deque(maxlen=self.HISTORY_TAIL)
        # Resume (issue 16): the last history id given; read at start.
        self.last_history_id = 0
        # Private history (issue 16): written with the rest, conversations
        # pruned after every private_keep entries.
        self.private_keep = private_keep
        self._pairs: set[tuple[str, str]] = set()
        self._since_private_prune = 0
        # Private entries added since the buffer was last taken whole: the
        # batches may hold some.
        self._privates_buffered = 0

    # Opening and closing.

    def start(self) -> Deferred[None]:
        """
        Open the database (creating it if needed) and upgrade its schema.
        """
        if self._pool is not None:
            return fail(StoreError("the store was started already"))
        self._pool = adbapi.ConnectionPool(
            "sqlite3",
            self.path,
            check_same_thread=False,
            isolation_level=None,
            cp_min=1,
            cp_max=1,
            cp_openfun=_configure,
        )
        # The pool starts itself when the reactor starts; under a running
        # reactor (trial, or a service started late) it must be told.
        if not self._pool.running:
            self._pool.start()
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        version, notes = await self._call(_upgrade, self._names)
        for note in notes:
            self._log.warn("upgrading {path}: {note}", path=self.path, note=note)
        self._tail.extendleft(
            reversed(await self._call(_history, "", self.HISTORY_TAIL))
        )
        last = await self._call(_last_history_id)
        for entry in self._buffer:
            # Added before the store knew its ids: numbered again.
            if type(entry) is HistoryEntry:
                last += 1
                entry.id = last
        self.last_history_id = last
        self._log.info(
            "opened {path} (schema version {version})", path=self.path, version=version
        )
        self._open = True
        if self._buffer:
            self._write_batch()

    def close(self) -> Deferred[None]:
        """
        Write buffered history, wait for requests under way, then close the
        connection (in its own thread: closing may checkpoint the log).
        """
        if self._shut:
            return succeed(None)
        d: Deferred[None] = Deferred()
        if self._closed is not None:
            self._closed.append(d)
            return d
        self._closed = [d]
        Deferred.fromCoroutine(self._close())
        return d

    async def _close(self) -> None:
        try:
            if self._open:
                await self.flush_history()
            self._closing = True
            self._give_up_history()
            if self._running:
                idle: Deferred[None] = Deferred()
                self._idle.append(idle)
                await idle
            pool = self._pool
            if pool is not None:
                if pool.running:
                    from twisted.internet import reactor

                    try:
                        await threads.deferToThreadPool(
                            cast(IReactorFromThreads, reactor),
                            pool.threadpool,
                            _disconnect,
                            pool,
                        )
                    except Exception:
                        self._log.failure("closing {path} failed", path=self.path)
                pool.close()
        finally:
            self._closing = self._shut = True
            waiting, self._closed = self._closed or [], []
            for d in waiting:
                d.callback(None)

    def _call(
        self,
        interaction: Callable[Concatenate[Cursor, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_T]:
        """
        Run C{interaction} in the pool's thread, keeping count of requests
        under way for L{close}.
        """
        if self._pool is None or self._closing:
            return fail(StoreError("the store is not open"))
        d: Deferred[_T] = self._pool.runInteraction(interaction, *args, **kwargs)
        self._running += 1

        def finished(result: _T) -> _T:
            self._running -= 1
            if not self._running:
                idle, self._idle = self._idle, []
                for waiter in idle:
                    waiter.callback(None)
            return result

        return d.addBoth(finished)

    # Accounts.

    get_account = _interaction(_get_account)
    account_names = _interaction(_account_names)
    create_account = _interaction(_create_account)
    set_password_hash = _interaction(_set_password_hash)

    def delete_account(self, key: str) -> Deferred[None]:
        # Its private history goes too, entries not yet written included.
        return self._after_flush(_delete_account, key)

    # Offline messages.

    def enqueue(
        self, message: StoredMessage, *, max_count: int, max_age: float
    ) -> Deferred[StoredMessage]:
        return self._call(_enqueue, message, max_count, max_age)

    def pending(
        self, recipient_key: str, now: float, max_age: float
    ) -> Deferred[list[StoredMessage]]:
        return self._call(_pending, recipient_key, now - max_age)

    def ack(self, recipient_key: str, ids: Iterable[int]) -> Deferred[int]:
        return self._call(_ack, recipient_key, [int(id) for id in ids])

    def expire(self, now: float, max_age: float) -> Deferred[int]:
        return self._call(_expire, now - max_age)

    # Rooms.

    load_rooms = _interaction(_load_rooms)
    save_room = _interaction(_save_room)

    def delete_room(self, key: str) -> Deferred[None]:
        # Its history goes too, entries not yet written included.
        return self._after_flush(_delete_room, key)

    save_member = _interaction(_save_member)
    delete_member = _interaction(_delete_member)
    set_seen = _interaction(_set_seen)
    save_invite = _interaction(_save_invite)
    delete_invite = _interaction(_delete_invite)

    # Files.

    def create_file(
        self, file: FileRecord, recipients: Iterable[str] = ()
    ) -> Deferred[FileRecord]:
        return self._call(_create_file, file, list(recipients))

    def complete_file(
        self, file_id: int, recipients: Iterable[str]
    ) -> Deferred[list[str]]:
        return self._call(_complete_file, file_id, list(recipients))

    get_file = _interaction(_get_file)
    files_for = _interaction(_files_for)
    uploads_of = _interaction(_uploads_of)
    spool_usage = _interaction(_spool_usage)
    spool_total = _interaction(_spool_total)
    remove_recipient = _interaction(_remove_recipient)
    delete_file = _interaction(_delete_file)
    expire_files = _interaction(_expire_files)
    drop_holder = _interaction(_drop_holder)
    drop_orphans = _interaction(_drop_orphans)

    # History.

    def history_since(
        self, room: str, since: float, until: float, limit: int
    ) -> Deferred[list[HistoryEntry]]:
        if limit <= 0:
            return succeed([])
        return self._after_flush(_history_since, room, since, until, limit)

    def add_history(self, entry: HistoryEntry) -> None:
        if self._closing:
            return
        self.last_history_id += 1
        entry.id = self.last_history_id
        self._buffered(entry)
        room = entry.room
        if not room:
            self._tail.append(entry)
        self._rooms.add(room)
        self._write_soon()

    def history_after(
        self, room: str, after: int, limit: int
    ) -> Deferred[list[HistoryEntry]]:
        if limit <= 0:
            return succeed([])
        return self._after_flush(_history_after, room, after, limit)

    def _buffered(self, entry: HistoryEntry | PrivateEntry) -> None:
        """
        Keep C{entry} for the next batch; past the buffer's size the
        oldest unwritten entry goes (said once in the log).
        """
        if len(self._buffer) == self.history_buffer:
            if not self._dropped:
                self._log.warn(
                    "history is arriving faster than it can be written: the "
                    "oldest of {limit} unwritten entries are being dropped",
                    limit=self.history_buffer,
                )
            self._dropped += 1
        self._buffer.append(entry)
        self._added += 1

    def _write_soon(self) -> None:
        if self._flush_call is None and not self._writing:
            self._flush_call = self._clock.callLater(
                self.history_interval, self._write_batch
            )

    def flush_history(self) -> Deferred[None]:
        target = self._added
        if self._written >= target:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._flushed.append((target, d))
        self._write_batch()
        return d

    def history(self, room: str, limit: int) -> Deferred[list[HistoryEntry]]:
        if limit <= 0:
            return succeed([])
        if not room and limit <= self.HISTORY_TAIL and self._open:
            return succeed(list(self._tail)[-limit:])
        return self._after_flush(_history, room, limit)

    # Private history (issue 16).

    def add_private(self, entry: PrivateEntry) -> None:
        if self._closing:
            return
        self._buffered(entry)
        self._privates_buffered += 1
        self._pairs.add(pair(entry.sender_key, entry.recipient_key))
        self._since_private_prune += 1
        self._write_soon()

    def private_history(
        self, key: str, other: str, limit: int
    ) -> Deferred[list[PrivateEntry]]:
        if limit <= 0:
            return succeed([])
        return self._after_flush(_private_history, key, other, limit)

    private_opt_outs = _interaction(_private_opt_outs)

    def set_private_history(self, key: str, keep: bool) -> Deferred[None]:
        return self._after_flush(_set_private_history, key, keep)

    def _after_flush(
        self,
        interaction: Callable[Concatenate[Cursor, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_T]:
        """
        Run C{interaction}, which reads or deletes history, once the
        entries added so far are written: it must see them.
        """
        d = self.flush_history()
        return d.addCallback(lambda _: self._call(interaction, *args, **kwargs))

    def _cancel_write(self) -> None:
        # Whether it was due or not: a write starts now, or none is needed.
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None

    def _write_batch(self) -> None:
        """
        Write the buffered entries (up to L{history_batch}) in one
        transaction, unless one is under way: then they wait for the next,
        so batches are written in order.
        """
        self._cancel_write()
        if self._writing or not self._buffer or not self._open or self._closing:
            return
        batch: (
            Sequence[HistoryEntry | PrivateEntry] | deque[HistoryEntry | PrivateEntry]
        )
        mixed = self._privates_buffered > 0
        if len(self._buffer) <= self.history_batch:
            batch, self._buffer = self._buffer, deque(maxlen=self.history_buffer)
            self._privates_buffered = 0
        else:
            popleft = self._buffer.popleft
            batch = [popleft() for _ in range(self.history_batch)]
        # What is left in the buffer are the newest entries.
        end = self._added - len(self._buffer)
        if self._dropped:
            self._log.warn(
                "{count} history entries were dropped: the disk did not keep up",
                count=self._dropped,
            )
            self._dropped = 0
        prune = None
        self._since_prune += len(batch)
        if self._since_prune >= self.prune_every:
            prune = (sorted(self._rooms), self.history_keep)
            self._rooms = set()
            self._since_prune = 0
        private_prune = None
        if self._since_private_prune >= self.private_keep:
            private_prune = (sorted(self._pairs), self.private_keep)
            self._pairs = set()
            self._since_private_prune = 0
        self._writing = True
        d = self._call(_write_history, batch, prune, private_prune, mixed)
        d.addErrback(
            lambda f: self._log.failure(
                "could not write {count} history entries", f, count=len(batch)
            )
        )
        d.addCallback(lambda _: self._history_written(end))

    def _history_written(self, end: int) -> None:
        self._writing = False
        self._written = end
        if len(self._buffer) >= self.history_batch or (self._flushed and self._buffer):
            self._write_batch()
        elif self._buffer and self._flush_call is None:
            self._flush_call = self._clock.callLater(
                self.history_interval, self._write_batch
            )
        self._notify_flushed()

    def _give_up_history(self) -> None:
        """
        Closing, or never opened: what is still buffered will not be written.
        """
        self._cancel_write()
        self._buffer.clear()
        self._privates_buffered = 0
        self._written = self._added
        self._notify_flushed()

    def _notify_flushed(self) -> None:
        done = [d for target, d in self._flushed if target <= self._written]
        self._flushed = [(t, d) for t, d in self._flushed if t > self._written]
        for d in done:
            d.callback(None)


def _disconnect(pool: adbapi.ConnectionPool) -> None:
    """
    Close the pool's connection from the thread that opened it.
    """
    connection = pool.connections.get(pool.threadID())
    if connection is not None:
        pool.disconnect(connection)
