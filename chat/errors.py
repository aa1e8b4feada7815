# -*- test-case-name: tests.core.test_session -*-
"""
The chat core's errors.

Every L{ChatError} carries a message that is safe to show to the user who
caused it, and a short machine-readable C{code} for JSON clients.  Only front
ends turn them into wire text.
"""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    """
    A request that cannot be carried out; C{str(error)} is shown to the user.

    @ivar fields: what a program needs to act on it (say, the C{id} of the
        file it is about), sent with the error in JSON mode.
    """

    code = "error"
    fields: dict[str, Any] = {}  # noqa: RUF012 -- replaced, never mutated

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InvalidName(ChatError):
    """
    A requested name breaks the naming rules.
    """

    code = "invalid-name"


class ReservedName(InvalidName):
    """
    A requested name is reserved (C{ALL}).
    """

    code = "reserved-name"


class NameInUse(ChatError):
    """
    Someone online already holds the requested name.
    """

    code = "name-in-use"


class NoSuchUser(ChatError):
    """
    A message was addressed to a name nobody online holds.
    """

    code = "no-such-user"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not online; /users lists who is.")
        self.name = name


class UnknownCommand(ChatError):
    """
    A slash command that does not exist.
    """

    code = "unknown-command"


class BadUsage(ChatError):
    """
    A command with missing or malformed arguments.
    """

    code = "usage"


class NotJoined(ChatError):
    """
    A command that needs a name was sent before choosing one.
    """

    code = "not-joined"


class BadInput(ChatError):
    """
    Input that cannot be read as a line of UTF-8 text within the limits.
    """

    code = "bad-input"


class WrongPassword(ChatError):
    """
    The password given for a registered name is not its password.
    """

    code = "wrong-password"


class Throttled(ChatError):
    """
    Too many wrong passwords for a name or from an address: wait.
    """

    code = "throttled"


class NoSuchAccount(ChatError):
    """
    No account has that name: an account command from a guest, or the
    store asked about a name nobody registered.
    """

    code = "no-such-account"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not registered; /register PASSWORD reserves it.")
        self.name = name


class StoreFailed(ChatError):
    """
    The store could not carry out a request; nothing was changed.
    """

    code = "store-failed"


class InvalidRoom(ChatError):
    """
    A room name that breaks the naming rules.
    """

    code = "invalid-room"


class NoSuchRoom(ChatError):
    """
    No room has that name (or the asker may not know of it).
    """

    code = "no-such-room"

    def __init__(self, room: str) -> None:
        super().__init__(f"there is no room {room}; /rooms lists them.")


class NotInRoom(ChatError):
    """
    Only members may do that in a room.
    """

    code = "not-in-room"

    def __init__(self, room: str) -> None:
        super().__init__(f"you are not in {room}; /join {room} first.")


class AlreadyInRoom(ChatError):
    """
    A C{/join} of a room the asker is in.
    """

    code = "already-in-room"

    def __init__(self, room: str) -> None:
        super().__init__(f"you are already in {room}.")


class InviteOnly(ChatError):
    """
    A C{/join} of an invite-only room without an invitation.
    """

    code = "invite-only"

    def __init__(self, room: str) -> None:
        super().__init__(
            f"{room} is invite-only; ask its owner or an operator for an /invite."
        )


class NotOperator(ChatError):
    """
    Only the room's owner and operators may do that.
    """

    code = "not-operator"


class NotOwner(ChatError):
    """
    Only the room's owner may do that.
    """

    code = "not-owner"


class FileTooLarge(ChatError):
    """
    A file over the size limit.
    """

    code = "file-too-large"


class QuotaExceeded(ChatError):
    """
    The sender's files waiting in the spool would take more than its quota.
    """

    code = "quota-exceeded"


class BadOffset(ChatError):
    """
    A chunk that does not start where the server's copy ends, or a read
    past a file's end; C{offset} is where to go on from.
    """

    code = "bad-offset"

    def __init__(self, text: str, file_id: int, offset: int) -> None:
        super().__init__(text)
        self.fields = {"id": file_id, "offset": offset}


class ChecksumMismatch(ChatError):
    """
    The uploaded file's SHA-256 is not the one offered; it was discarded.
    """

    code = "checksum-mismatch"


class NoSuchFile(ChatError):
    """
    No file with that id is there for the asker.
    """

    code = "no-such-file"

    def __init__(self, file_id: int | str) -> None:
        super().__init__(f"there is no file {file_id} for you; /file list shows yours.")
        self.fields = {"id": file_id}


class NeedsJSON(ChatError):
    """
    File data cannot travel in text mode.
    """

    code = "needs-json"


class AccountExists(ChatError):
    """
    The name is registered already.
    """

    code = "account-exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is already registered.")
        self.name = name


class QueueFull(ChatError):
    """
    An offline account has as many stored messages as it may have.
    """

    code = "queue-full"

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(
            f"{name}'s offline queue is full ({limit} messages); try again later."
        )
        self.name = name
        self.limit = limit


# Files (issue 15): who may receive a file.


class NoRecipients(ChatError):
    """
    A file was offered to a room with nobody else in it to receive it.
    """

    code = "no-recipients"


class NotDelivered(ChatError):
    """
    A file's recipients are gone (a guest left, an account was deleted)
    before it was uploaded: it was discarded, not stored.
    """

    code = "not-delivered"


# Logins and passwords (issue 15).


class ServerBusy(ChatError):
    """
    Too many password checks and hashes wait for the hashing threads: try
    again in a few seconds (nothing was checked, nothing counted).
    """

    code = "busy"


# Flood control and slow consumers (issue 15).


class ExcessFlood(ChatError):
    """
    A client kept sending faster than its rate for longer than the server
    holds it back: it is dropped.
    """

    code = "excess-flood"

    def __init__(self) -> None:
        super().__init__(
            "you are sending faster than the server lets you, and kept on "
            "(excess flood); disconnecting."
        )


class SendQueueExceeded(ChatError):
    """
    A client does not read what the server sends: it is dropped.
    """

    code = "send-queue-exceeded"

    def __init__(self, limit: int) -> None:
        super().__init__(
            "you are not reading what the server sends (over "
            f"{limit // 1024} KiB waiting); disconnecting."
        )
        self.limit = limit


# Names and rooms that look like others (issue 15).


class LookalikeName(NameInUse):
    """
    A requested name looks like (has the confusable skeleton of) a name
    that someone online holds, or that is registered.
    """

    code = "lookalike-name"

    def __init__(self, name: str, other: str, why: str) -> None:
        super().__init__(
            f"{name} looks like {other}, who is {why}; please choose another name."
        )
        self.name = name
        self.other = other


class LookalikeRoom(InvalidRoom):
    """
    A new room's name looks like that of a room that exists.
    """

    code = "lookalike-room"

    def __init__(self, room: str, other: str) -> None:
        super().__init__(
            f"{room} looks like {other}, which exists; /join {other}, or choose "
            "another room name."
        )
        self.room = room
        self.other = other


# Connections (issue 15, "conns"): refusals of a connection as it opens,
# and the deadline for a name.


class TooManyConnections(ChatError):
    """
    The address (an IPv6 /64) has as many connections open, or opened as
    many in the last minute, as it may.
    """

    code = "too-many-connections"


class ServerFull(ChatError):
    """
    The server is near its limit of open descriptors: no more connections
    until some close.
    """

    code = "server-full"


class NameTimeout(ChatError):
    """
    The connection gave no name in time, and is closed.
    """

    code = "registration-timeout"


# Private history (issue 16, "history").


class NoPrivateHistory(ChatError):
    """
    Private history was asked of or for someone who has none: it is kept
    only between registered users.
    """

    code = "no-private-history"


# Resume after a reconnection (issue 16, "resume").


class UnknownHistoryId(BadUsage):
    """
    C{/since} named a history id this server has not given: the client's
    ids are of another server, or of history lost in a restart.
    """

    code = "unknown-history-id"
