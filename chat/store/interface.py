# -*- test-case-name: tests.store.test_contract -*-
"""
What the chat core keeps beyond a connection or the process: the
L{IChatStore} interface and the records it takes and returns.

Every method but L{IChatStore.add_history} returns a L{Deferred}, so a
store may do its I/O anywhere but on the reactor thread.  Methods that
create something take the record to create, with C{id} 0, and return it
with the id the store gave it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface


@dataclass(frozen=True, slots=True)
class Account:
    """
    A registered name.

    @ivar key: the folded name (L{chat.core.names.fold}), unique.
    @ivar name: the name as registered, for display.
    @ivar password_hash: an encoded hash, never the password.
    @ivar created: when it was registered, in Unix seconds.
    """

    key: str
    name: str
    password_hash: str
    created: float


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """
    A message kept for an offline account until it is acknowledged.

    @ivar id: unique and never reused: clients acknowledge by id.
    @ivar recipient: the recipient's key.
    @ivar kind: C{"private"} or C{"action"}.
    """

    id: int
    recipient: str
    sender: str
    text: str
    time: float
    kind: str = "private"


@dataclass(slots=True)
class HistoryEntry:
    """
    A message as it was said in a room.  Not frozen: one is made for every
    message said, and a frozen dataclass is several times slower to build;
    treat it as immutable.

    @ivar id: given by L{IChatStore.add_history} (it sets it: ids grow
        across all rooms and survive a restart), so that a client can
        resume after the last one it has (issue 16).
    @ivar room: the room's key, C{""} for the main channel everyone is in.
    @ivar kind: C{"message"} or C{"action"}.
    """

    id: int
    room: str
    sender: str
    text: str
    time: float
    kind: str = "message"


# Private history (issue 16): what two registered users said to each other.


@dataclass(slots=True)
class PrivateEntry:
    """
    A private message between two registered users, kept as their
    conversation's history.  Not frozen, as L{HistoryEntry}: one is made
    for every private message; treat it as immutable.

    @ivar id: ignored by L{IChatStore.add_private}; an entry given back
        carries a store's row number or 0.
    @ivar sender_key: the sender's account key.
    @ivar recipient_key: the recipient's account key.
    @ivar sender: the sender's name as shown.
    @ivar recipient: the recipient's name as shown.
    """

    id: int
    sender_key: str
    recipient_key: str
    sender: str
    recipient: str
    text: str
    time: float
    kind: str = "private"


def pair(key: str, other: str) -> tuple[str, str]:
    """
    The conversation between two accounts, the same whoever speaks: their
    keys in order.
    """
    return (key, other) if key <= other else (other, key)


@dataclass(frozen=True, slots=True)
class Membership:
    """
    A registered member of a room.

    @ivar operator: whether it is one of the room's operators.
    @ivar seen: when it last logged out: what it missed is newer.
    """

    room: str
    member: str
    operator: bool
    seen: float


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """
    A room as the store keeps it.

    @ivar key: the folded room name (C{#chess}).
    @ivar owner: the owner's account key, or L{None}: only a registered
        owner is kept.
    @ivar members: its registered members (L{IChatStore.load_rooms} fills
        it; L{IChatStore.save_room} ignores it).
    @ivar invites: keys of registered names invited and not yet joined
        (likewise).
    """

    key: str
    name: str
    owner: str | None
    topic: str
    invite_only: bool
    created: float
    members: tuple[Membership, ...] = ()
    invites: frozenset[str] = frozenset()


#: What marks a guest's holder (L{guest_holder}): no key contains it.
GUEST_MARK: Final = "*"


def guest_holder(key: str, serial: int) -> str:
    """
    The holder that stands for one guest connection named C{key} in the
    files it sends or is offered: unique to that connection (C{serial}),
    so that the next guest of the same name is someone else.
    """
    return f"{key}{GUEST_MARK}{serial}"


def is_guest_holder(holder: str) -> bool:
    """
    Whether C{holder} stands for a guest connection, not an account's key.
    """
    return GUEST_MARK in holder


@dataclass(frozen=True, slots=True)
class FileRecord:
    """
    A file in the spool.

    A file's sender and recipients are I{holders}: an account's key, or a
    guest connection's L{guest_holder}.  The store binds an account's key
    to the account registered under it when it records it (by the
    account's C{created} time): should the account be deleted, or the name
    registered again, what was bound to the old account is no longer seen
    (and is forgotten at the next L{IChatStore.drop_orphans}).

    @ivar sender_key: the holder that uploads it, for resuming and quota.
    @ivar target: a user's name or a room's, as the sender gave it.
    @ivar complete: uploaded and checked; only then is it offered.
    @ivar recipients: holders of those who have not fetched or declined
        it, sorted; filled in by L{IChatStore.get_file} and
        L{IChatStore.create_file} only.
    @ivar sender_account: the C{created} time of the account C{sender_key}
        was bound to, or L{None} (a guest, or a key nobody registered);
        set by the store.
    """

    id: int
    sender_key: str
    sender: str
    target: str
    name: str
    size: int
    sha256: str
    complete: bool = False
    created: float = 0.0
    recipients: tuple[str, ...] = ()
    sender_account: float | None = None


class StoreError(Exception):
    """
    The store cannot be used as asked: for the operator, not for users.
    """


class IChatStore(Interface):
    """
    Where the chat core keeps what must outlive a connection or the process.

    A result is durable when its L{Deferred} fires.  Names are passed as
    keys (the folded name, L{chat.core.names.fold}) that identify an
    account; records carry the name as typed, for display.  Times are Unix
    seconds.
    """

    def start() -> Deferred[None]:
        """
        Open the store, upgrading its schema if it is older.

        @raise StoreError: if the store is newer than this program.
        """

    def close() -> Deferred[None]:
        """
        Write buffered history, wait for requests under way, and close.
        Requests made afterwards fail with L{StoreError}.
        """

    def get_account(key: str) -> Deferred[Account | None]:
        """
        The account registered under C{key}, or L{None}.
        """

    def account_names() -> Deferred[dict[str, str]]:
        """
        Every registered name: a dict from key to name as registered.
        """

    def create_account(account: Account) -> Deferred[Account]:
        """
        Register C{account}.

        @raise chat.errors.AccountExists: if its key is registered.
        """

    def set_password_hash(key: str, password_hash: str) -> Deferred[None]:
        """
        Replace an account's password hash.

        @raise chat.errors.NoSuchAccount: if C{key} is not registered.
        """

    def delete_account(key: str) -> Deferred[None]:
        """
        Remove an account, the messages stored for it, and the private
        history of its conversations (L{add_private}), entries not yet
        written included.

        @raise chat.errors.NoSuchAccount: if C{key} is not registered.
        """

    def enqueue(
        message: StoredMessage, *, max_count: int, max_age: float
    ) -> Deferred[StoredMessage]:
        """
        Keep C{message} for an offline account, in one transaction: first
        drop the recipient's messages older than C{max_age} seconds, then
        store this one unless C{max_count} are stored already.

        The L{Deferred} fires only once the message is durable, so the sender
        may be told it was stored.

        @return: the message with its id.
        @raise chat.errors.NoSuchAccount: if the recipient is not registered.
        @raise chat.errors.QueueFull: if the recipient has C{max_count}
            messages waiting; nothing was stored.
        """

    def pending(
        recipient_key: str, now: float, max_age: float
    ) -> Deferred[list[StoredMessage]]:
        """
        The messages waiting for C{recipient_key}, oldest first, leaving out
        those older than C{max_age} seconds.  They stay until L{ack}ed.
        """

    def ack(recipient_key: str, ids: Iterable[int]) -> Deferred[int]:
        """
        Delete the stored messages with these ids that belong to
        C{recipient_key}; ids of other accounts' messages are ignored.

        @return: how many were deleted.
        """

    def expire(now: float, max_age: float) -> Deferred[int]:
        """
        Delete every account's stored messages older than C{max_age}
        seconds, so that those of users who never come back do not stay.

        @return: how many were deleted.
        """

    def load_rooms() -> Deferred[list[RoomRecord]]:
        """
        Every room kept, with its registered members and invitations.
        """

    def save_room(room: RoomRecord) -> Deferred[None]:
        """
        Create C{room} or update its settings (not its members or
        invitations).  An owner that is not registered (any more) is
        kept as none.
        """

    def delete_room(key: str) -> Deferred[None]:
        """
        Forget room C{key}, its members, invitations and history.
        """

    def save_member(membership: Membership) -> Deferred[None]:
        """
        Make an account a member of a room, or update whether it is an
        operator (keeping its C{seen} time if it was a member already).
        Nothing is kept if the account or the room is gone.
        """

    def delete_member(room: str, member: str) -> Deferred[None]:
        """
        C{member} is no longer a member of C{room}.
        """

    def set_seen(member: str, seen: float) -> Deferred[None]:
        """
        C{member} logged out at C{seen}: in every room it is a member of,
        what it missed is newer than that.
        """

    def save_invite(room: str, member: str) -> Deferred[None]:
        """
        Invite the account C{member} to C{room}.
        """

    def delete_invite(room: str, member: str) -> Deferred[None]:
        """
        The invitation of C{member} to C{room} was used (or withdrawn).
        """

    def create_file(
        file: FileRecord, recipients: Iterable[str] = ()
    ) -> Deferred[FileRecord]:
        """
        Record a file about to be uploaded (C{complete} false), binding
        its sender, and the holders C{recipients} it is for (a file to a
        user has its recipient from the start, so that the recipient's
        leaving can drop it; a room's are known at L{complete_file}).

        @return: the record with its id, which names it in the spool, its
            C{sender_account}, and its recipients.
        """

    def complete_file(file_id: int, recipients: Iterable[str]) -> Deferred[list[str]]:
        """
        The file is uploaded and checked: offer it to C{recipients} too
        (bound as they are recorded).  Nothing is done if it was deleted
        meanwhile (cancelled, expired, dropped).

        @return: every holder it is now offered to, sorted (none if it was
            deleted): those recorded at L{create_file} and still valid, and
            C{recipients}.
        """

    def get_file(file_id: int) -> Deferred[FileRecord | None]:
        """
        The file with this id, with its valid recipients, or L{None} (also
        if its sender's account is gone).
        """

    def files_for(recipient_key: str, oldest: float) -> Deferred[list[FileRecord]]:
        """
        Complete files waiting for the holder C{recipient_key} (offered to
        it while bound as it is now), created after C{oldest}, oldest
        first; their C{recipients} left empty (a login needs only the
        offers, not who else may fetch them).
        """

    def uploads_of(sender_key: str) -> Deferred[list[FileRecord]]:
        """
        The holder C{sender_key}'s files not yet completely uploaded (bound
        as it is now).
        """

    def spool_usage(sender_key: str) -> Deferred[int]:
        """
        Bytes of all of the holder C{sender_key}'s files in the spool
        (their sizes).
        """

    def spool_total() -> Deferred[int]:
        """
        Bytes of all files in the spool, complete or not (their sizes).
        """

    def remove_recipient(file_id: int, recipient_key: str) -> Deferred[int]:
        """
        C{recipient_key} fetched or declined the file.

        @return: how many valid recipients are left.
        """

    def delete_file(file_id: int) -> Deferred[None]:
        """
        Forget the file.
        """

    def expire_files(oldest: float) -> Deferred[list[int]]:
        """
        Forget every file created before C{oldest}.

        @return: their ids, so that the spool can delete them.
        """

    def drop_holder(holder: str, *, keep_sent: bool = False) -> Deferred[list[int]]:
        """
        C{holder} is gone (a guest's connection closed, an account was
        deleted): forget the files it sends (but, if C{keep_sent}, those
        it finished uploading) and its offers, and the files it was
        offered that nobody else is left to receive (complete ones, and
        uploads to it alone).

        @return: the ids of the files forgotten, for the spool.
        """

    def drop_orphans() -> Deferred[list[int]]:
        """
        At start-up: guests of an earlier run are gone, so forget their
        offers and their unfinished uploads; forget the files and offers
        of holders bound to an account that is gone, and offers to keys
        nobody registered; then the files nobody is left to receive
        (complete ones, and uploads to a user).

        @return: the ids of the files forgotten, for the spool.
        """

    def add_history(entry: HistoryEntry) -> None:
        """
        Remember a message said in a room, and set its C{id} to the next
        history id (one more than C{last_history_id}, which it updates).

        Not a L{Deferred}: this is called for every message on the hot path.
        History is best-effort; a store may write it in batches and, if the
        disk cannot keep up, drop entries not yet written.
        """

    def flush_history() -> Deferred[None]:
        """
        Write the history added so far; fires when it is written (or,
        after an error that was logged, given up).
        """

    def history(room: str, limit: int) -> Deferred[list[HistoryEntry]]:
        """
        The last C{limit} entries of C{room}, oldest first, including
        entries added but not yet written.  Only the most recent entries of
        each room are kept (C{history_keep} of them).
        """

    # Resume (issue 16).

    last_history_id = Attribute(
        "The highest history id given so far (0 for none); read at start."
    )

    def history_after(
        room: str, after: int, limit: int
    ) -> Deferred[list[HistoryEntry]]:
        """
        The last C{limit} entries of C{room} whose id is above C{after},
        oldest first: what a client that has everything up to C{after}
        missed.
        """

    def history_since(
        room: str, since: float, until: float, limit: int
    ) -> Deferred[list[HistoryEntry]]:
        """
        The last C{limit} entries of C{room} said after C{since} and no
        later than C{until}, oldest first: what a member missed.
        """

    # Private history (issue 16).

    def add_private(entry: PrivateEntry) -> None:
        """
        Remember a private message between two registered users (its C{id}
        is ignored).  Best-effort and batched, as L{add_history}: called
        for every such message.
        """

    def private_history(
        key: str, other: str, limit: int
    ) -> Deferred[list[PrivateEntry]]:
        """
        The last C{limit} private messages between the accounts C{key} and
        C{other}, either way, oldest first, including entries added but
        not yet written.  Only the most recent of each conversation are
        kept (C{private_keep} of them).
        """

    def private_opt_outs() -> Deferred[set[str]]:
        """
        The keys of the accounts that asked for their private messages not
        to be kept (L{set_private_history}).
        """

    def set_private_history(key: str, keep: bool) -> Deferred[None]:
        """
        Whether the private messages of the account C{key} are kept.  Not
        keeping them also deletes what was kept of its conversations (both
        sides': a conversation is kept once), entries not yet written
        included.  Nothing is recorded if C{key} is not registered.
        """
