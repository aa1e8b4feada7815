# -*- test-case-name: tests.client.test_session,tests.client.test_rooms -*-
"""
Plain one-line renderings of server events, from their fields (never by
parsing the server's human text).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chat.units import human_size

# chat-client's own commands, listed by /help before the server's.
CLIENT_HELP: tuple[tuple[str, str], ...] = (
    ("/send NAME|#ROOM PATH", "offer a file to NAME or to a room"),
    ("/accept ID [DIRECTORY]", "receive a file offered to you"),
    ("/decline ID", "refuse a file offered to you"),
    ("/cancel ID", "stop a file transfer"),
    ("/connect [HOST [PORT]]", "connect again now, or to another server"),
    ("CONNECT", "connect now, when not connected"),
    ("SEND TEXT", "send TEXT to everyone (as /bm)"),
    ("QUIT", "leave (also /quit, /exit, q, tata)"),
)
# Server commands that only programs need: chat-client sends them itself
# (and refuses /mode json|text, which would leave it deaf).
_PROGRAMS_ONLY = ("/ack", "/mode json", "/since")


def server_help(event: dict[str, Any]) -> list[tuple[str, str]]:
    """
    The server's commands from a C{help} event, as (usage, description)
    pairs, without those only programs need.
    """
    entries = []
    for entry in event.get("commands") or ():
        if not isinstance(entry, dict):
            continue
        usage = str(entry.get("usage", ""))
        if not usage or usage.startswith(_PROGRAMS_ONLY):
            continue
        about = str(entry.get("description", ""))
        aliases = entry.get("aliases")
        if isinstance(aliases, list) and aliases:
            about += f" (also {', '.join(str(a) for a in aliases)})"
        entries.append((usage, about))
    return entries


def help_lines(sections: list[tuple[str, list[tuple[str, str]]]]) -> list[str]:
    """
    C{/help}'s sections as lines, each entry's description in one column
    for all: as wide as the longest usage, so that none breaks it.
    """
    usages = [usage for _, entries in sections for usage, _ in entries]
    width = max((len(usage) for usage in usages), default=0)
    lines = []
    for title, entries in sections:
        lines.append(f"* {title}:")
        lines += [f"*   {usage:<{width}}  {about}" for usage, about in entries]
    return lines


def _help(event: dict[str, Any]) -> str:
    if not isinstance(event.get("commands"), list):
        return str(event.get("text", ""))
    sections = [
        ("chat-client's commands", list(CLIENT_HELP)),
        ("the server's commands", server_help(event)),
    ]
    return "\n".join(help_lines(sections))


def _names(users: Any) -> str:
    return ", ".join(str(u) for u in users or ())


def when(event: dict[str, Any]) -> datetime | None:
    """
    The event's C{time} (ISO 8601, UTC), or C{None} if missing or malformed.
    """
    iso = event.get("time")
    if not isinstance(iso, str):
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _at(event: dict[str, Any], layout: str) -> str:
    moment = when(event)
    return "?" if moment is None else moment.astimezone(UTC).strftime(layout)


def _plural(count: Any, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


_ACCOUNT = {
    "registered": "* {name} is now registered; it needs your password from now on",
    "password-changed": "* the password of {name} was changed",
    "unregistered": "* {name} is no longer registered",
}
_IN_CLEAR = " (warning: the password travelled in clear, without TLS)"


def _said(event: dict[str, Any]) -> str:
    sender, text = event.get("from"), event.get("text", "")
    room = event.get("room")
    where = f"{room} " if isinstance(room, str) and room else ""
    if event.get("type") == "action" or event.get("action") is True:
        return f"{where}* {sender} {text}"
    return f"{where}{sender}: {text}"


def _reason(event: dict[str, Any]) -> str:
    reason = event.get("reason")
    return f" ({reason})" if reason else ""


def _ranked(names: Any, owner: Any, operators: Any) -> str:
    """
    Names marked as the server marks them: C{@} owner, C{+} operator.
    """
    ops = {str(o).casefold() for o in operators or ()}
    owner_key = owner.casefold() if isinstance(owner, str) else None
    marked = []
    for name in names or ():
        key = str(name).casefold()
        mark = "@" if key == owner_key else "+" if key in ops else ""
        marked.append(f"{mark}{name}")
    return ", ".join(marked)


def _room_joined(event: dict[str, Any]) -> str:
    room = event.get("room")
    members = event.get("members") or []
    count = event.get("count", len(members))
    about = _plural(count, "member", "members")
    if members:
        about += f": {_names(members)}"
    if event.get("invite_only"):
        about += "; invite-only"
    if event.get("created"):
        line = f"* created {room} ({about}); you own it"
    elif event.get("rejoined"):
        line = f"* back in {room} ({about})"
    else:
        line = f"* joined {room} ({about})"
    topic = event.get("topic")
    return line + (f"; topic: {topic}" if topic else "")


def _rooms_list(rooms: Any) -> str:
    entries = [r for r in rooms or () if isinstance(r, dict)]
    if not entries:
        return "* no rooms yet; /join #name makes one"
    shown = []
    for entry in entries:
        facts = [_plural(entry.get("count", 0), "member", "members")]
        if entry.get("member"):
            facts.append("joined")
        if entry.get("invite_only"):
            facts.append("invite-only")
        topic = entry.get("topic")
        about = f": {topic}" if topic else ""
        shown.append(f"{entry.get('room')} ({', '.join(facts)}){about}")
    return f"* rooms ({len(entries)}): " + "; ".join(shown)


def _history_end(event: dict[str, Any]) -> str:
    count, room = event.get("count"), event.get("room")
    many = _plural(count, "message", "messages")
    if event.get("missed"):
        if not count:
            return f"* nothing missed in {room}"
        return f"* end of what you missed in {room} ({many})"
    if room:
        return (
            f"* end of {room} history ({many})"
            if count
            else f"* no history in {room} yet"
        )
    return f"* end of history ({many})" if count else "* no history yet"


def _room_event(event: dict[str, Any]) -> str | None:
    """
    The line for a room event other than messages, or C{None} if C{event}
    is none.
    """
    kind, room = event.get("type"), event.get("room")
    name, by = event.get("name"), event.get("by")
    match kind:
        case "room-joined":
            return _room_joined(event)
        case "room-join":
            return f"* {name} joined {room}"
        case "room-leave" if by:
            return f"* {name} was kicked from {room} by {by}{_reason(event)}"
        case "room-leave":
            return f"* {name} left {room}{_reason(event)}"
        case "room-topic":
            topic = event.get("topic")
            if by:
                if topic:
                    return f"* {by} set the topic of {room}: {topic}"
                return f"* {by} cleared the topic of {room}"
            return f"* topic of {room}: {topic}" if topic else f"* {room} has no topic"
        case "room-mode":
            closed = bool(event.get("invite_only"))
            if by:
                how = "made {} invite-only" if closed else "opened {} to everyone"
                return f"* {by} " + how.format(room)
            return f"* {room} is " + ("invite-only" if closed else "open to everyone")
        case "room-invite":
            return f"* {by} invites you to {room}; /join {room} to accept"
        case "room-invited":
            return f"* {name} is invited to {room}"
        case "room-op" if event.get("op"):
            return f"* {by} made {name} an operator of {room}"
        case "room-op":
            return f"* {by} removed {name} as an operator of {room}"
        case "room-members":
            members = event.get("members") or []
            count = event.get("count", len(members))
            listed = _ranked(members, event.get("owner"), event.get("operators"))
            return f"* members of {room} ({count}): {listed}"
        case "rooms":
            return _rooms_list(event.get("rooms"))
    return None


def _size(value: Any) -> str:
    return human_size(value) if isinstance(value, int) else "? B"


def _file(event: dict[str, Any]) -> str:
    """
    C{report.pdf (file 7)}, or C{file 7} when the name is not known
    (C{file} is the name the client added, C{name} the server's).
    """
    name, ident = event.get("file") or event.get("name"), event.get("id")
    return f"{name} (file {ident})" if name else f"file {ident}"


def _recipients(to: Any) -> str:
    return _names(to) if isinstance(to, list) else str(to)


def _offers_listed(event: dict[str, Any]) -> str:
    offers = [o for o in event.get("offers") or () if isinstance(o, dict)]
    uploads = [u for u in event.get("uploads") or () if isinstance(u, dict)]
    if not offers and not uploads:
        return "* no files are waiting for you or being sent by you"
    parts = []
    if offers:
        shown = "; ".join(
            f"{o.get('id')} {o.get('name')} ({_size(o.get('size'))}) "
            f"from {o.get('from')}"
            for o in offers
        )
        parts.append(f"* files for you ({len(offers)}): {shown}")
    if uploads:
        shown = "; ".join(
            f"{u.get('id')} {u.get('name')}"
            + (f" to {_recipients(u['to'])}" if u.get("to") else "")
            + f", {_size(u.get('offset'))} of {_size(u.get('size'))}"
            for u in uploads
        )
        parts.append(f"* your uploads ({len(uploads)}): {shown}")
    return "\n".join(parts)


def _file_event(event: dict[str, Any]) -> str | None:
    """
    The line for a file transfer event (C{file-saved} is the client's
    own: a download is complete), or C{None} for silent ones.
    """
    kind = event.get("type")
    ident = event.get("id")
    match kind:
        case "file-offer":
            room = event.get("room")
            where = f" in {room}" if isinstance(room, str) and room else ""
            return (
                f"* {event.get('from')} offers{where} {event.get('name')} "
                f"({_size(event.get('size'))}), file {ident}; "
                f"/accept {ident} or /decline {ident}"
            )
        case "file-sent":
            line = f"* sent {_file(event)} to {_recipients(event.get('to'))}"
            if event.get("stored"):
                line += "; those offline get it when they log in"
            return line
        case "file-delivered":
            return f"* {event.get('to')} received {_file(event)}"
        case "file-declined":
            who = event.get("to") or event.get("by") or event.get("from")
            return f"* {who} declined {_file(event)}"
        case "file-saved":
            return (
                f"* saved {event.get('name')} ({_size(event.get('size'))}) "
                f"from {event.get('from')} as {event.get('path')}"
            )
        case "file-list":
            return _offers_listed(event)
    return None


def plain(event: dict[str, Any]) -> str | None:
    """
    The line a person or a script reads for C{event}, or C{None} for events
    that show nothing.  Stored and history messages are marked with the
    time (UTC) they were sent; room messages start with the room, and those
    missed while away are marked with the date too, like stored ones.
    """
    kind = event.get("type")
    sender = event.get("from")
    text = event.get("text", "")
    if kind in ("message", "action") and event.get("missed"):
        return f"[missed, sent {_at(event, '%Y-%m-%d %H:%M')}] {_said(event)}"
    if kind in ("message", "action") and event.get("history"):
        return f"[history {_at(event, '%H:%M')}] {_said(event)}"
    if isinstance(kind, str) and kind.startswith("room"):
        line = _room_event(event)
        if line is not None:
            return line
    if isinstance(kind, str) and kind.startswith("file-"):
        return _file_event(event)
    match kind:
        case "message" | "action":
            return _said(event)
        case "private" if event.get("stored"):
            return f"[stored, sent {_at(event, '%Y-%m-%d %H:%M')}] {_said(event)}"
        case "private":
            return f"[private] {sender}: {text}"
        case "queued":
            return f"* {event.get('to')} is offline; your message was stored for them"
        case "account" if event.get("action") in _ACCOUNT:
            line = _ACCOUNT[event["action"]].format(name=event.get("name"))
            return line + (_IN_CLEAR if event.get("insecure") else "")
        case "stored-end":
            count = event.get("count")
            if not count:
                return None
            return f"* {_plural(count, 'message was', 'messages were')} waiting for you"
        case "history-end":
            return _history_end(event)
        case "join":
            return f"* {event.get('name')} joined"
        case "leave":
            return f"* {event.get('name')} left{_reason(event)}"
        case "welcome":
            users = event.get("users") or []
            count = event.get("count", len(users))
            listed = f": {_names(users)}" if users else ""
            return f"* joined as {event.get('name')}; {count} online{listed}"
        case "users":
            users = event.get("users") or []
            return f"* online ({len(users)}): {_names(users)}"
        case "help":
            return _help(event)
        case "mode" | "prompt" | "goodbye":
            return None
        case "error":
            return f"ERROR: {text}"
    return str(text) if text else None
