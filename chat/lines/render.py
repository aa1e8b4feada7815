# -*- test-case-name: tests.lines.test_render -*-
"""
Render chat events as the two wire formats of the line protocol.

Text mode is for people on C{nc} and C{telnet}: server notices start with
C{* }, errors with C{ERROR: }, messages with the sender's name.  JSON mode is
one object per line for programs.  Both are documented in
C{docs/protocol.rst}; change them together.

Whatever users sent (messages, reasons, topics, file names) reaches text
mode with the characters a terminal acts on escaped (L{shown}: C{^[} for
ESC), whole lines at a time so no field is forgotten; JSON keeps them, as
C{\\uXXXX} (L{json_safe}).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from chat.core.controls import json_safe, shown
from chat.core.names import fold
from chat.events import (
    AccountChanged,
    Action,
    Away,
    AwayStatus,
    Delivered,
    Error,
    Event,
    FileAck,
    FileChunk,
    FileDone,
    FileList,
    FileOffer,
    FileSent,
    FileUpload,
    Goodbye,
    Joined,
    Left,
    Message,
    Past,
    PastEnd,
    PrivacyStatus,
    Private,
    PrivatePast,
    PrivatePastEnd,
    Prompt,
    Queued,
    RoomEntered,
    RoomInvite,
    RoomInvited,
    RoomJoined,
    RoomLeft,
    RoomList,
    RoomMembers,
    RoomMessage,
    RoomMode,
    RoomOp,
    RoomTopic,
    ShuttingDown,
    Stored,
    StoredEnd,
    UserList,
    Welcome,
)
from chat.lines.events import Help, ModeChanged
from chat.units import human_size

MODES = ("text", "json")

GREETING = "Welcome to txchat! Please enter your name:"


def _users(users: tuple[str, ...]) -> str:
    return ", ".join(users)


def _welcome_text(e: Welcome) -> list[str]:
    if e.users:
        online = f"Online ({e.count}): {_users(e.users)}."
    else:
        online = f"{e.count} users online; /users lists them."
    return [f"* Hello {e.name}, you are in! {online} Type /help for commands."]


def _left_text(e: Left) -> list[str]:
    if e.reason:
        return [f"* {e.name} left the chat ({e.reason})"]
    return [f"* {e.name} left the chat"]


def _help_text(e: Help) -> list[str]:
    lines = ["* Commands:"]
    for c in e.commands:
        aliases = f" (also {', '.join(c.aliases)})" if c.aliases else ""
        lines.append(f"*   {c.usage:<18} {c.description}{aliases}")
    return lines


def _goodbye_text(e: Goodbye) -> list[str]:
    return ["* Goodbye!"]


_IN_CLEAR = (
    "* Warning: this connection is not encrypted, so the password travels "
    "in clear; connect with TLS to keep it safe."
)


def _prompt_text(e: Prompt) -> list[str]:
    if e.what != "password":
        return [GREETING]
    lines = [f"* {e.name} is a registered name; enter its password."]
    if e.insecure:
        lines.append(_IN_CLEAR)
    return [*lines, "Password:"]


_ACCOUNT_TEXT = {
    "registered": "* {name} is now registered: from now on it needs your password.",
    "password-changed": "* The password of {name} was changed.",
    "unregistered": "* {name} is no longer registered; its stored messages "
    "and private history were deleted.",
}


def _account_text(e: AccountChanged) -> list[str]:
    lines = [_ACCOUNT_TEXT[e.action].format(name=e.name)]
    if e.insecure:
        lines.append(_IN_CLEAR)
    return lines


@lru_cache(maxsize=256)
def _minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _when(t: float) -> str:
    # A catch-up renders many times in the same few minutes: strftime once.
    return _minute(int(t // 60))


def _said(sender: str, text: str, action: bool) -> str:
    return f"* {sender} {text}" if action else f"{sender}: {text}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _stored_end_text(e: StoredEnd) -> list[str]:
    if e.count == 0:
        return ["* No messages were waiting for you."]
    waiting = _count(e.count, "message was", "messages were")
    return [f"* {waiting} waiting for you."]


def _past_text(e: Past) -> list[str]:
    room = f"{e.room} " if e.room else ""
    return [f"[history {_when(e.time)}] {room}{_said(e.sender, e.text, e.action)}"]


def _past_end_text(e: PastEnd) -> list[str]:
    messages = _count(e.count, "message", "messages")
    if e.missed:
        return [f"* End of what you missed in {e.room} ({messages})."]
    if e.count == 0:
        return [f"* No history in {e.room} yet." if e.room else "* No history yet."]
    if e.room:
        return [f"* End of {e.room} history ({messages})."]
    return [f"* End of history ({messages})."]


# Private history (issue 16, "history").


def _private_past_text(e: PrivatePast) -> list[str]:
    return [f"[history {_when(e.time)}] [private with {e.other}] {e.sender}: {e.text}"]


def _private_past_end_text(e: PrivatePastEnd) -> list[str]:
    if e.count == 0:
        return [f"* No private messages with {e.other} are kept."]
    messages = _count(e.count, "message", "messages")
    return [f"* End of private history with {e.other} ({messages})."]


def _privacy_text(e: PrivacyStatus) -> list[str]:
    if e.changed and e.history:
        return [
            "* From now on your private messages with registered users are kept; "
            "/history NAME shows them."
        ]
    if e.changed:
        return [
            "* Your private messages are no longer kept; what was kept of your "
            "conversations was deleted."
        ]
    if e.history:
        return [
            "* Your private messages with registered users are kept; "
            "/privacy history off stops it and deletes them."
        ]
    return ["* Your private messages are not kept; /privacy history on keeps them."]


def _entered_text(e: RoomEntered) -> list[str]:
    if e.created:
        return [f"* You created {e.room}; you own it."]
    verb = "are back in" if e.rejoined else "joined"
    if e.members:
        members = f"{_count(e.count, 'member', 'members')}: {_users(e.members)}"
    else:
        members = f"{_count(e.count, 'member', 'members')}; /who {e.room} lists them"
    topic = f" Topic: {e.topic}" if e.topic else ""
    return [f"* You {verb} {e.room} ({members}).{topic}"]


def _room_left_text(e: RoomLeft) -> list[str]:
    reason = f" ({e.reason})" if e.reason else ""
    if e.by is not None:
        return [f"* {e.name} was kicked from {e.room} by {e.by}{reason}"]
    return [f"* {e.name} left {e.room}{reason}"]


def _topic_text(e: RoomTopic) -> list[str]:
    if e.by is not None:
        return [f"* {e.by} set the topic of {e.room}: {e.topic}"]
    if not e.topic:
        return [f"* {e.room} has no topic."]
    return [f"* Topic of {e.room}: {e.topic}"]


def _room_list_text(e: RoomList) -> list[str]:
    if not e.rooms:
        return ["* No rooms yet; /join #NAME creates one."]
    lines = [f"* Rooms ({len(e.rooms)}):"]
    for r in e.rooms:
        extra = " (invite-only)" if r.invite_only else ""
        topic = f"  {r.topic}" if r.topic else ""
        lines.append(
            f"*   {r.room}  {_count(r.count, 'member', 'members')}{extra}{topic}"
        )
    return lines


def _members_text(e: RoomMembers) -> list[str]:
    # The owner as registered, the members as they typed their names.
    owner = fold(e.owner) if e.owner else None
    ops = set(e.operators)

    def mark(name: str) -> str:
        if fold(name) == owner:
            return "@" + name
        return "+" + name if name in ops else name

    names = ", ".join(mark(n) for n in e.members)
    return [f"* Members of {e.room} ({len(e.members)}): {names}"]


def _size(n: int) -> str:
    # Words for small sizes: people on nc read "5 bytes" better than "5 B".
    if n < 1024:
        return f"{n} bytes" if n != 1 else "1 byte"
    return human_size(n)


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def _offer_text(e: FileOffer) -> list[str]:
    where = f" in {e.room}" if e.room else ""
    return [
        f"* {e.sender} wants to send you {e.name} ({_size(e.size)}), file {e.id}"
        f"{where}; connect with chat-client to receive it (kept until "
        f"{_day(e.expires)})."
    ]


def _sent_text(e: FileSent) -> list[str]:
    if e.stored:
        return [
            f"* {e.name} (file {e.id}) is kept for {e.to}; whoever is offline "
            "is offered it at their next login."
        ]
    return [f"* {e.name} (file {e.id}) was offered to {e.to}."]


def _done_text(e: FileDone) -> list[str]:
    verb = "declined" if e.declined else "received"
    return [f"* {e.to} {verb} {e.name} (file {e.id})."]


def _file_list_text(e: FileList) -> list[str]:
    if not e.offers and not e.uploads:
        return ["* No files for you, and no uploads of yours to resume."]
    lines = []
    for o in e.offers:
        lines += _offer_text(o)
    for u in e.uploads:
        lines.append(
            f"* Your upload of {u.name} to {u.to} (file {u.id}) stopped at "
            f"{_size(u.offset)} of {_size(u.size)}."
        )
    return lines


_TEXT: dict[type[Event], Callable[[Any], list[str]]] = {
    Message: lambda e: [f"{e.sender}: {e.text}"],
    Private: lambda e: [f"[private] {e.sender}: {e.text}"],
    Action: lambda e: [f"* {e.sender} {e.text}"],
    Joined: lambda e: [f"* {e.name} just joined the server"],
    Left: _left_text,
    Welcome: _welcome_text,
    UserList: lambda e: [f"* Online ({len(e.users)}): {_users(e.users)}"],
    Help: _help_text,
    ModeChanged: lambda e: [f"* Output mode is now {e.mode}."],
    Goodbye: _goodbye_text,
    Prompt: _prompt_text,
    Error: lambda e: [f"ERROR: {e.text}"],
    AccountChanged: _account_text,
    Queued: lambda e: [
        f"* {e.recipient} is offline; your message is stored and will be "
        "delivered when they next log in."
    ],
    Delivered: lambda e: [f"* delivered to {e.recipient}"],
    Stored: lambda e: [
        f"[private, sent {_when(e.time)}] {_said(e.sender, e.text, e.action)}"
    ],
    StoredEnd: _stored_end_text,
    Past: _past_text,
    PastEnd: _past_end_text,
    RoomMessage: lambda e: [f"{e.room} {e.sender}: {e.text}"],
    RoomEntered: _entered_text,
    RoomJoined: lambda e: [f"* {e.name} joined {e.room}"],
    RoomLeft: _room_left_text,
    RoomTopic: _topic_text,
    RoomMode: lambda e: [
        f"* {e.by} made {e.room} invite-only"
        if e.invite_only
        else f"* {e.by} opened {e.room} to everyone"
    ],
    RoomInvite: lambda e: [
        f"* {e.by} invites you to {e.room}; /join {e.room} to accept."
    ],
    RoomInvited: lambda e: [f"* {e.name} is invited to {e.room}."],
    RoomOp: lambda e: [
        f"* {e.by} made {e.name} an operator of {e.room}"
        if e.op
        else f"* {e.by} removed {e.name} as an operator of {e.room}"
    ],
    RoomList: _room_list_text,
    RoomMembers: _members_text,
    FileUpload: lambda e: [f"* Ready for {e.name} (file {e.id}) from byte {e.offset}."],
    FileAck: lambda e: [f"* File {e.id}: {e.offset} bytes received."],
    FileSent: _sent_text,
    FileOffer: _offer_text,
    FileChunk: lambda e: [f"* File {e.id}: {len(e.data)} bytes from {e.offset}."],
    FileDone: _done_text,
    FileList: _file_list_text,
    # Connections (issue 15, "conns").
    ShuttingDown: lambda e: [
        "* The server is shutting down; please reconnect in a moment."
    ],
    # Private history (issue 16, "history").
    PrivatePast: _private_past_text,
    PrivatePastEnd: _private_past_end_text,
    PrivacyStatus: _privacy_text,
    # Mentions and away (issue 16, "mentions").
    Away: lambda e: [f"* {e.name} is away: {e.reason}"],
    AwayStatus: lambda e: [
        f"* You are marked as away: {e.reason}"
        if e.reason is not None
        else "* You are no longer marked as away."
    ],
}


def text_lines(event: Event) -> list[str]:
    """
    The lines a person sees for C{event}, before L{shown} escapes them
    (L{encode} does): the C{text} of a JSON object keeps what users sent.
    """
    return _TEXT[type(event)](event)


def iso_time(t: float) -> str:
    """
    C{t} as ISO 8601 UTC with milliseconds, e.g. C{2026-11-21T15:43:16.123Z}.
    """
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _fields(event: Event) -> dict[str, Any]:
    match event:
        case (
            Message(sender=sender, text=text, id=id_)
            | Action(sender=sender, text=text, id=id_)
        ):
            # Resume (issue 16): the history id, when there is one.
            if id_:
                return {"from": sender, "text": text, "id": id_}
            return {"from": sender, "text": text}
        case Private(sender=sender, recipient=recipient, text=text):
            return {"from": sender, "to": recipient, "text": text}
        case Joined(name=name):
            return {"name": name}
        case Left(name=name, reason=reason):
            return {"name": name, "reason": reason}
        case Welcome(name=name, users=users, count=count):
            return {
                "name": name,
                "users": list(users),
                "count": count,
                "history_id": event.history_id,
            }
        case UserList(users=users):
            return {"users": list(users)}
        case Help(commands=commands):
            return {
                "commands": [
                    {
                        "usage": c.usage,
                        "description": c.description,
                        "aliases": list(c.aliases),
                    }
                    for c in commands
                ]
            }
        case ModeChanged(mode=mode):
            return {"mode": mode}
        case Goodbye(reason=reason):
            return {"reason": reason}
        case Prompt(what=what, name=name, insecure=insecure):
            return {"prompt": what, "name": name, "insecure": insecure}
        case AccountChanged(action=action, name=name, insecure=insecure):
            return {"action": action, "name": name, "insecure": insecure}
        case Queued(recipient=recipient, id=id_):
            return {"to": recipient, "id": id_}
        case Delivered(recipient=recipient):
            return {"to": recipient}
        case Stored(sender=sender, recipient=recipient, text=text, id=id_):
            return {
                "from": sender,
                "to": recipient,
                "text": text,
                "id": id_,
                "stored": True,
                "action": event.action,
            }
        case StoredEnd(count=count):
            return {"count": count}
        case Past(sender=sender, text=text, room=room, missed=missed):
            return {
                "from": sender,
                "text": text,
                "history": True,
                "room": room or None,
                "missed": missed,
                "id": event.id,
            }
        case PastEnd(count=count, room=room, missed=missed):
            return {"count": count, "room": room or None, "missed": missed}
        case RoomMessage(room=room, sender=sender, text=text, id=id_):
            if id_:
                return {"from": sender, "text": text, "room": room, "id": id_}
            return {"from": sender, "text": text, "room": room}
        case RoomEntered():
            return {
                "room": event.room,
                "members": list(event.members),
                "count": event.count,
                "topic": event.topic,
                "owner": event.owner,
                "invite_only": event.invite_only,
                "created": event.created,
                "rejoined": event.rejoined,
            }
        case RoomJoined(room=room, name=name):
            return {"room": room, "name": name}
        case RoomLeft(room=room, name=name, reason=reason, by=by):
            return {"room": room, "name": name, "reason": reason, "by": by}
        case RoomTopic(room=room, topic=topic, by=by):
            return {"room": room, "topic": topic, "by": by}
        case RoomMode(room=room, invite_only=invite_only, by=by):
            return {"room": room, "invite_only": invite_only, "by": by}
        case RoomInvite(room=room, by=by):
            return {"room": room, "by": by}
        case RoomInvited(room=room, name=name):
            return {"room": room, "name": name}
        case RoomOp(room=room, name=name, by=by, op=op):
            return {"room": room, "name": name, "by": by, "op": op}
        case RoomList(rooms=rooms):
            return {
                "rooms": [
                    {
                        "room": r.room,
                        "count": r.count,
                        "topic": r.topic,
                        "invite_only": r.invite_only,
                        "member": r.member,
                    }
                    for r in rooms
                ]
            }
        case FileUpload(id=id_, offset=offset, name=name, size=size):
            return {"id": id_, "offset": offset, "name": name, "size": size}
        case FileAck(id=id_, offset=offset):
            return {"id": id_, "offset": offset}
        case FileSent(id=id_, to=to, name=name, stored=stored):
            return {"id": id_, "to": to, "name": name, "stored": stored}
        case FileOffer():
            return _offer_fields(event)
        case FileChunk(id=id_, offset=offset, data=data):
            return {"id": id_, "offset": offset, "size": len(data)}
        case FileDone(id=id_, to=to, name=name):
            return {"id": id_, "to": to, "name": name}
        case FileList(offers=offers, uploads=uploads):
            return {
                "offers": [_offer_fields(o) for o in offers],
                "uploads": [
                    {
                        "id": u.id,
                        "to": u.to,
                        "name": u.name,
                        "size": u.size,
                        "offset": u.offset,
                    }
                    for u in uploads
                ],
            }
        case RoomMembers(room=room, members=members, owner=owner, operators=ops):
            return {
                "room": room,
                "members": list(members),
                "owner": owner,
                "operators": list(ops),
                "count": len(members),
            }
        case Error(code=code, text=text, fields=fields):
            return {**fields, "code": code, "text": text}
        case ShuttingDown():
            return {}
        # Private history (issue 16, "history"): shaped as a live private
        # message and a room's history end, with the conversation's other
        # party under "with".
        case PrivatePast(sender=sender, recipient=recipient, text=text, other=other):
            return {
                "from": sender,
                "to": recipient,
                "text": text,
                "history": True,
                "with": other,
            }
        case PrivatePastEnd(count=count, other=other):
            return {"count": count, "room": None, "missed": False, "with": other}
        case PrivacyStatus(history=history, changed=changed):
            return {"history": history, "changed": changed}
        case Away(name=name, reason=reason):
            return {"name": name, "reason": reason}
        case AwayStatus(reason=reason):
            return {"away": reason is not None, "reason": reason}
    raise TypeError(f"no JSON rendering for {event!r}")  # pragma: no cover


_TYPES: dict[type[Event], str] = {
    Message: "message",
    Private: "private",
    Action: "action",
    Joined: "join",
    Left: "leave",
    Welcome: "welcome",
    UserList: "users",
    Help: "help",
    ModeChanged: "mode",
    Goodbye: "goodbye",
    Prompt: "prompt",
    Error: "error",
    AccountChanged: "account",
    Queued: "queued",
    Delivered: "delivered",
    Stored: "private",
    StoredEnd: "stored-end",
    Past: "message",
    PastEnd: "history-end",
    RoomMessage: "message",
    RoomEntered: "room-joined",
    RoomJoined: "room-join",
    RoomLeft: "room-leave",
    RoomTopic: "room-topic",
    RoomMode: "room-mode",
    RoomInvite: "room-invite",
    RoomInvited: "room-invited",
    RoomOp: "room-op",
    RoomList: "rooms",
    RoomMembers: "room-members",
    FileUpload: "file-upload",
    FileAck: "file-ack",
    FileSent: "file-sent",
    FileOffer: "file-offer",
    FileChunk: "file-chunk",
    FileDone: "file-delivered",
    FileList: "file-list",
    ShuttingDown: "shutdown",
    # Private history (issue 16, "history").
    PrivatePast: "private",
    PrivatePastEnd: "history-end",
    PrivacyStatus: "privacy",
    # Mentions and away (issue 16, "mentions").
    Away: "away",
    AwayStatus: "away-status",
}


def _offer_fields(e: FileOffer) -> dict[str, Any]:
    return {
        "id": e.id,
        "from": e.sender,
        "name": e.name,
        "size": e.size,
        "sha256": e.sha256,
        "room": e.room or None,
        "expires": iso_time(e.expires),
    }


def json_object(event: Event) -> dict[str, Any]:
    """
    The JSON object for C{event}: C{type}, C{time}, C{from} (the sending
    user, or C{null} for the server), C{text} (what a person would read),
    and the event's own fields.
    """
    kind = _TYPES[type(event)]
    if isinstance(event, Past) and event.action:
        kind = "action"
    elif isinstance(event, FileDone) and event.declined:
        kind = "file-declined"
    obj: dict[str, Any] = {
        "type": kind,
        "time": iso_time(event.time),
        "from": None,
        "text": "\n".join(text_lines(event)),
    }
    obj.update(_fields(event))
    return obj


def encode(event: Event, mode: str, delimiter: bytes, mention: bool = False) -> bytes:
    """
    C{event} as bytes for a connection in C{mode} that ends lines with
    C{delimiter}.

    @param mention: it mentions the recipient (L{chat.core.mentions}): its
        JSON object says so; text mode shows it unchanged.
    """
    if type(event) is FileChunk:
        # A JSON line then the raw bytes, in either mode: only a client that
        # asked for them in JSON mode gets them.
        header = json.dumps(json_object(event), separators=(",", ":"))
        return header.encode("utf-8") + delimiter + event.data
    if mode == "text":
        lines = _TEXT[type(event)](event)
        if len(lines) == 1:
            line = lines[0]
            # The hot path: one isprintable() for a line with no controls.
            if not line.isprintable():
                line = shown(line)
            return line.encode("utf-8") + delimiter
        lines = [shown(line) for line in lines]
    else:
        obj = json_object(event)
        if mention:
            obj["mention"] = True
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        if not line.isprintable():
            line = json_safe(line)
        lines = [line]
    return delimiter.join(line.encode("utf-8") for line in lines) + delimiter
