# -*- test-case-name: tests.test_commands -*-
"""
Turn one line of user input into a command value.

Pure functions and values: no Twisted, no I/O.  The command classes are
not C{frozen} only because a frozen dataclass is several times slower to
build, and one is built per line; treat them as immutable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chat.errors import InvalidName, InvalidRoom, ReservedName

MAX_NAME_LENGTH = 32
RESERVED_NAMES = frozenset({"all"})

# A name is 1-32 characters without whitespace or '*', not starting with '/'
# (commands) or '#' (rooms).  Non-printable characters are refused separately.
_NAME = re.compile(rf"[^\s*/#][^\s*]{{0,{MAX_NAME_LENGTH - 1}}}")


# A room name is '#' and 1-32 characters without whitespace, '*' or ','.
_ROOM = re.compile(rf"#[^\s*,]{{1,{MAX_NAME_LENGTH}}}")
TOPIC_MAX = 300


def is_room(text: str) -> bool:
    """
    Whether C{text} has the shape of a room name.
    """
    return _ROOM.fullmatch(text) is not None and text.isprintable()


def check_room(room: str) -> str:
    """
    Validate a room name.

    @return: C{room} unchanged.
    @raise InvalidRoom: with the reason, if C{room} breaks the rules.
    """
    if not is_room(room):
        raise InvalidRoom(
            f"a room name is '#' and 1 to {MAX_NAME_LENGTH} characters without "
            "spaces, '*', ',' or control characters, like #chess."
        )
    return room


def fold(name: str) -> str:
    """
    The key under which C{name} is compared: names are case-insensitive.
    """
    return name.casefold()


def is_name(text: str) -> bool:
    """
    Whether C{text} has the shape of a user name (reserved names included).
    """
    return _NAME.fullmatch(text) is not None and text.isprintable()


def check_name(name: str) -> str:
    """
    Validate a requested name.

    @return: C{name} unchanged.
    @raise InvalidName: with the reason, if C{name} breaks the rules.
    @raise ReservedName: if C{name} is reserved.
    """
    if not name:
        raise InvalidName("a name cannot be empty; please enter your name.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"a name is at most {MAX_NAME_LENGTH} characters; please choose "
            "a shorter one."
        )
    if name[0] in "/#":
        raise InvalidName(
            "a name cannot start with '/' or '#'; please choose another name."
        )
    if not is_name(name):
        raise InvalidName(
            "a name cannot contain spaces, '*' or control characters; "
            "please choose another name."
        )
    if fold(name) in RESERVED_NAMES:
        raise ReservedName(f"the name {name} is reserved; please choose another.")
    return name


@dataclass(slots=True)
class Say:
    """
    A message to everyone.
    """

    text: str


@dataclass(slots=True)
class Whisper:
    """
    C{target*text}: a private message.
    """

    target: str
    text: str


@dataclass(slots=True)
class RoomSay:
    """
    C{#room*text}: a message to a room's members.
    """

    room: str
    text: str


@dataclass(slots=True)
class Slash:
    """
    C{/name args}: a command; C{name} is lower-cased, C{args} is everything
    after the first space, exactly as sent.
    """

    name: str
    args: str


Command = Say | Whisper | RoomSay | Slash


def parse(line: str) -> Command:
    """
    Classify one line of input.

    C{ALL*text} is a broadcast, C{name*text} a private message,
    C{#room*text} a room message, C{/cmd args} a command; anything else
    (including C{2 * 3*x}, whose prefix is no name) is said to everyone.
    """
    if line.startswith("/"):
        name, _, args = line[1:].partition(" ")
        return Slash(name.lower(), args)
    target, star, text = line.partition("*")
    if star and target[:1] == "#" and is_room(target):
        return RoomSay(target, text)
    if star and is_name(target):
        if fold(target) in RESERVED_NAMES:
            return Say(text)
        return Whisper(target, text)
    return Say(line)
