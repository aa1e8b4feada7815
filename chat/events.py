# -*- test-case-name: tests.lines.test_render -*-
"""
What the chat core tells clients, free of any wire format: each door
renders these its own way (text lines, JSON objects, ...).

Events are immutable by convention, not C{frozen}: a frozen dataclass's
constructor is several times slower, and one is built per message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chat.errors import ChatError


@dataclass(slots=True, eq=False)
class Event:
    """
    Something a client is told, stamped with the server's time.

    @ivar time: POSIX time at which the server produced the event.
    """

    time: float


@dataclass(slots=True, eq=False)
class Welcome(Event):
    """
    The receiving client's name request was accepted.

    @ivar users: names online (the newcomer included); none when more
        than L{chat.core.limits.Limits.welcome_list} are.
    @ivar count: how many users are online.
    @ivar history_id: the newest history id given (resume, issue 16): a
        client that has shown higher ones knows they are of a history this
        server lost (an in-memory store restarted).
    """

    name: str
    users: tuple[str, ...]
    count: int
    history_id: int = 0


@dataclass(slots=True, eq=False)
class Joined(Event):
    """
    Another user joined the server.
    """

    name: str


@dataclass(slots=True, eq=False)
class Left(Event):
    """
    Another user left the server (quit, or its connection dropped).
    """

    name: str
    reason: str | None = None


@dataclass(slots=True, eq=False)
class Message(Event):
    """
    A message to everyone (C{ALL*text}, a plain line, C{/bm}).

    @ivar id: its history id (resume, issue 16), 0 if no history is kept.
    """

    sender: str
    text: str
    id: int = 0


@dataclass(slots=True, eq=False)
class Private(Event):
    """
    A private message to the receiving client.
    """

    sender: str
    recipient: str
    text: str


@dataclass(slots=True, eq=False)
class Action(Event):
    """
    C{/me waves}: an action by C{sender}, shown to everyone.

    @ivar id: its history id (resume, issue 16), 0 if no history is kept.
    """

    sender: str
    text: str
    id: int = 0


@dataclass(slots=True, eq=False)
class UserList(Event):
    """
    The answer to C{/users}.
    """

    users: tuple[str, ...]


@dataclass(slots=True, eq=False)
class Goodbye(Event):
    """
    The server is about to close the connection at the client's request.
    """

    reason: str | None = None


@dataclass(slots=True, eq=False)
class Prompt(Event):
    """
    The server asks the client for something: C{"name"}, or C{"password"}
    for the registered name C{name}.

    @ivar insecure: the answer would travel in clear (no TLS).
    """

    what: str
    name: str | None = None
    insecure: bool = False


@dataclass(slots=True, eq=False)
class AccountChanged(Event):
    """
    The asker's account was C{"registered"}, C{"password-changed"} or
    C{"unregistered"}.

    @ivar insecure: the password just travelled in clear (no TLS).
    """

    action: str
    name: str
    insecure: bool = False


@dataclass(slots=True, eq=False)
class Queued(Event):
    """
    A private message to an offline registered user was stored for later.
    """

    recipient: str
    id: int


@dataclass(slots=True, eq=False)
class Delivered(Event):
    """
    A private message reached its recipient, who is online.  Only a client
    that acknowledges its stored messages (a program keeping track of what
    it sent) is told, so that it shows a message as sent only once it is.
    """

    recipient: str


@dataclass(slots=True, eq=False)
class Stored(Event):
    """
    A private message kept while its recipient was offline; C{time} is when
    it was sent, C{id} what a client acknowledges it by.
    """

    sender: str
    recipient: str
    text: str
    id: int
    action: bool = False


@dataclass(slots=True, eq=False)
class StoredEnd(Event):
    """
    All C{count} stored messages were handed over.
    """

    count: int


@dataclass(slots=True, eq=False)
class Past(Event):
    """
    A message from history; C{time} is when it was said.

    @ivar room: the room's name, C{""} for the main channel.
    @ivar missed: said in the room while this member was away.
    @ivar id: its history id (resume, issue 16).
    """

    sender: str
    text: str
    action: bool = False
    room: str = ""
    missed: bool = False
    id: int = 0


@dataclass(slots=True, eq=False)
class PastEnd(Event):
    """
    The end of a replay of C{count} history entries.
    """

    count: int
    room: str = ""
    missed: bool = False


@dataclass(slots=True, eq=False)
class RoomMessage(Event):
    """
    A message to the members of C{room} (its name as shown).

    @ivar id: its history id (resume, issue 16), 0 if no history is kept.
    """

    room: str
    sender: str
    text: str
    id: int = 0


@dataclass(slots=True, eq=False)
class RoomEntered(Event):
    """
    The receiving client is now in C{room}: it joined, created it, or was
    put back in at login (C{rejoined}).

    @ivar members: names online in the room; none when more than
        L{chat.core.limits.Limits.room_list} are.
    @ivar count: how many members are online.
    """

    room: str
    members: tuple[str, ...]
    count: int
    topic: str
    owner: str | None
    invite_only: bool
    created: bool = False
    rejoined: bool = False


@dataclass(slots=True, eq=False)
class RoomJoined(Event):
    """
    Another member joined C{room}.
    """

    room: str
    name: str


@dataclass(slots=True, eq=False)
class RoomLeft(Event):
    """
    C{name} left C{room}, or was kicked from it by C{by}.
    """

    room: str
    name: str
    reason: str | None = None
    by: str | None = None


@dataclass(slots=True, eq=False)
class RoomTopic(Event):
    """
    C{by} set the topic of C{room}; C{by} is L{None} when the topic is just
    being shown.
    """

    room: str
    topic: str
    by: str | None = None


@dataclass(slots=True, eq=False)
class RoomMode(Event):
    """
    C{by} made C{room} invite-only, or open again.
    """

    room: str
    invite_only: bool
    by: str


@dataclass(slots=True, eq=False)
class RoomInvite(Event):
    """
    C{by} invited the receiving client to C{room}.
    """

    room: str
    by: str


@dataclass(slots=True, eq=False)
class RoomInvited(Event):
    """
    The asker's invitation of C{name} to C{room} was made.
    """

    room: str
    name: str


@dataclass(slots=True, eq=False)
class RoomOp(Event):
    """
    C{by} made C{name} an operator of C{room} (C{op}), or stopped it.
    """

    room: str
    name: str
    by: str
    op: bool


@dataclass(slots=True, eq=False)
class RoomInfo:
    """
    One line of C{/rooms}.
    """

    room: str
    count: int
    topic: str
    invite_only: bool
    member: bool


@dataclass(slots=True, eq=False)
class RoomList(Event):
    """
    The answer to C{/rooms}.
    """

    rooms: tuple[RoomInfo, ...]


@dataclass(slots=True, eq=False)
class RoomMembers(Event):
    """
    The answer to C{/who #room}: the members online.
    """

    room: str
    members: tuple[str, ...]
    owner: str | None
    operators: tuple[str, ...]


@dataclass(slots=True, eq=False)
class Error(Event):
    """
    A request was refused; C{code} is one of the L{chat.errors} codes.
    """

    code: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def refusing(cls, now: float, error: ChatError) -> Error:
        """
        The event that tells a client its request raised C{error}.
        """
        return cls(now, error.code, str(error), error.fields)


@dataclass(slots=True, eq=False)
class FileUpload(Event):
    """
    The server is ready for file C{id}'s bytes from C{offset} on.
    """

    id: int
    offset: int
    name: str
    size: int


@dataclass(slots=True, eq=False)
class FileAck(Event):
    """
    The server has C{offset} bytes of file C{id}.
    """

    id: int
    offset: int


@dataclass(slots=True, eq=False)
class FileSent(Event):
    """
    File C{id} is uploaded, checked and offered to C{to}; C{stored}: some
    recipient was offline and will be offered it at login.
    """

    id: int
    to: str
    name: str
    stored: bool


@dataclass(slots=True, eq=False)
class FileOffer(Event):
    """
    C{sender} offers the receiving client a file.

    @ivar room: the room it was sent to, or C{""}.
    @ivar expires: when the server deletes it.
    """

    id: int
    sender: str
    name: str
    size: int
    sha256: str
    room: str
    expires: float


@dataclass(slots=True, eq=False)
class FileChunk(Event):
    """
    C{data}, the bytes of file C{id} from C{offset}.
    """

    id: int
    offset: int
    data: bytes


@dataclass(slots=True, eq=False)
class FileDone(Event):
    """
    C{to} fetched (C{declined}: refused) the asker's file C{id}.
    """

    id: int
    to: str
    name: str
    declined: bool = False


@dataclass(slots=True, eq=False)
class FileUploadInfo:
    """
    One of the asker's unfinished uploads, in C{/file list}.
    """

    id: int
    to: str
    name: str
    size: int
    offset: int


@dataclass(slots=True, eq=False)
class FileList(Event):
    """
    The answer to C{/file list}.
    """

    offers: tuple[FileOffer, ...]
    uploads: tuple[FileUploadInfo, ...]


# Connections (issue 15, "conns").


@dataclass(slots=True, eq=False)
class ShuttingDown(Event):
    """
    The server is stopping (SIGTERM): the connection closes next.
    """


# Private history (issue 16, "history").


@dataclass(slots=True, eq=False)
class PrivatePast(Event):
    """
    A private message from a conversation's history (C{/history NAME});
    C{time} is when it was sent.

    @ivar other: the other party of the conversation, as the one who asked
        named it (as registered): a client files the line under it, whoever
        sent it.
    """

    sender: str
    recipient: str
    text: str
    other: str


@dataclass(slots=True, eq=False)
class PrivatePastEnd(Event):
    """
    The end of a replay of C{count} private messages with C{other}.
    """

    count: int
    other: str


@dataclass(slots=True, eq=False)
class PrivacyStatus(Event):
    """
    Whether this user's private messages are kept (C{/privacy}).

    @ivar changed: the user just changed it (else only asked).
    """

    history: bool
    changed: bool = False


# Mentions and away (issue 16, "mentions").


@dataclass(slots=True, eq=False)
class Away(Event):
    """
    C{name}, to whom the receiving client just sent a private message, is
    away (C{/away}); told once per sender until C{name} is back.
    """

    name: str
    reason: str


@dataclass(slots=True, eq=False)
class AwayStatus(Event):
    """
    The answer to C{/away}: the receiving client is now away with
    C{reason}, or (C{reason} L{None}) back.
    """

    reason: str | None
