# -*- test-case-name: tests.client.test_rooms -*-
"""
What the client knows of the server's rooms, kept up to date from the room
events of the JSON mode (C{docs/protocol.rst}, "Rooms").

Views read it to show a room's topic and members; the session reads it to
put the user back in its rooms after a reconnection.  Names are compared
case-insensitively and kept as the server shows them, like the server does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# The server's own naming rules and parser: one definition for both ends.
from chat.core.names import fold
from chat.lines.syntax import RoomSay, parse


def room_line(line: str) -> tuple[str, str] | None:
    """
    The room and text of C{#room*TEXT}, or C{None} for any other line.
    """
    command = parse(line)
    if isinstance(command, RoomSay):
        return command.room, command.text
    return None


@dataclass
class Room:
    """
    One room as last heard of.

    @ivar member: the user is in it.  It stays true while the connection
        is down: the session puts the user back in on reconnecting.
    @ivar count: members online, if known.
    @ivar members: their names, if known (the server does not list them
        for big rooms).
    @ivar operators: folded names of its operators.
    @ivar invited: the user was invited and has not joined yet.
    """

    name: str
    member: bool = False
    topic: str | None = None
    count: int | None = None
    members: list[str] | None = None
    owner: str | None = None
    operators: set[str] = field(default_factory=set)
    invite_only: bool = False
    invited: bool = False

    def marked(self, name: str) -> str:
        """
        C{name} with its rank in the room: C{@} owner, C{+} operator.
        """
        if self.owner is not None and fold(self.owner) == fold(name):
            return f"@{name}"
        if fold(name) in self.operators:
            return f"+{name}"
        return name

    def add_member(self, name: str) -> None:
        """
        C{name} joined: listed (if the list is known) and counted, once.
        """
        if self.members is not None:
            if fold(name) in _folded(self.members):
                return
            self.members.append(name)
        if self.count is not None:
            self.count += 1

    def remove_member(self, name: str) -> None:
        """
        C{name} left or was kicked: no longer listed, counted or operator.
        """
        if self.members is not None:
            self.members = [m for m in self.members if fold(m) != fold(name)]
        if self.count is not None:
            self.count = max(0, self.count - 1)
        self.operators.discard(fold(name))


def _folded(names: list[str]) -> set[str]:
    return {fold(n) for n in names}


def _names(value: Any) -> list[str]:
    return [str(n) for n in value] if isinstance(value, list) else []


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class Rooms:
    """
    The rooms the client has heard of, by folded name, in the order first
    heard of.
    """

    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    def __len__(self) -> int:
        return len(self._rooms)

    def get(self, name: str) -> Room | None:
        """
        The room called C{name} (any case), if heard of.
        """
        return self._rooms.get(fold(name))

    def joined(self) -> list[Room]:
        """
        The rooms the user is in.
        """
        return [room for room in self._rooms.values() if room.member]

    def clear(self) -> None:
        """
        Forget every room (another server).
        """
        self._rooms.clear()

    def _room(self, name: str) -> Room:
        room = self._rooms.get(fold(name))
        if room is None:
            room = self._rooms[fold(name)] = Room(name)
        return room

    def update(self, event: dict[str, Any], me: str | None) -> Room | None:
        """
        Apply one server event; events of other types change nothing.

        @param me: the user's name, to tell its own leaving or kick.
        @return: the room the event is about, if any.
        """
        kind = event.get("type")
        if kind == "rooms":
            for entry in event.get("rooms") or ():
                if isinstance(entry, dict) and isinstance(entry.get("room"), str):
                    self._listed(entry)
            return None
        name = event.get("room")
        if not isinstance(name, str) or not name:
            return None
        if kind == "room-joined":
            return self._joined(name, event)
        if kind == "room-invite":
            invited = self._room(name)
            invited.invited = True
            return invited
        room = self._rooms.get(fold(name))
        if room is None:
            return None
        who = str(event.get("name") or "")
        match kind:
            case "room-join":
                room.add_member(who)
            case "room-leave" if me is not None and fold(who) == fold(me):
                room.member = False
            case "room-leave":
                room.remove_member(who)
            case "room-topic":
                room.topic = _text(event.get("topic"))
            case "room-mode":
                room.invite_only = bool(event.get("invite_only"))
            case "room-op" if event.get("op"):
                room.operators.add(fold(who))
            case "room-op":
                room.operators.discard(fold(who))
            case "room-members":
                room.members = _names(event.get("members"))
                room.count = _count(event.get("count"))
                if room.count is None:
                    room.count = len(room.members)
                room.owner = _text(event.get("owner"))
                room.operators = _folded(_names(event.get("operators")))
        return room

    def _joined(self, name: str, event: dict[str, Any]) -> Room:
        room = self._room(name)
        room.member = True
        room.invited = False
        room.count = _count(event.get("count"))
        members = _names(event.get("members"))
        # The list is left empty for big rooms: then it is unknown.
        room.members = members if members or room.count == 0 else None
        room.topic = _text(event.get("topic"))
        room.owner = _text(event.get("owner"))
        room.invite_only = bool(event.get("invite_only"))
        return room

    def _listed(self, entry: dict[str, Any]) -> None:
        room = self._room(entry["room"])
        count = _count(entry.get("count"))
        if count is not None and count != room.count:
            room.count = count
            room.members = None  # changed while we were not told who
        room.topic = _text(entry.get("topic"))
        room.invite_only = bool(entry.get("invite_only"))
        if "member" in entry:
            room.member = bool(entry["member"])
