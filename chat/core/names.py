# -*- test-case-name: tests.core.test_names -*-
"""
The rules for user and room names, the same behind every door.

Pure functions: no Twisted, no I/O.  Names are compared by their folded
form (L{fold}) and shown as first typed.
"""

from __future__ import annotations

import re
from typing import Final

from chat.errors import InvalidName, InvalidRoom, ReservedName

MAX_NAME_LENGTH: Final = 32
RESERVED_NAMES: Final = frozenset({"all"})
TOPIC_MAX: Final = 300

# A name is 1-32 characters without whitespace or '*', not starting with '/'
# (commands) or '#' (rooms).  Non-printable characters are refused separately.
_NAME: Final = re.compile(rf"[^\s*/#][^\s*]{{0,{MAX_NAME_LENGTH - 1}}}")
# A room name is '#' and 1-32 characters without whitespace, '*' or ','.
_ROOM: Final = re.compile(rf"#[^\s*,]{{1,{MAX_NAME_LENGTH}}}")


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
    @raise InvalidName: with the reason, if C{name} breaks the
        rules.
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


def is_room(text: str) -> bool:
    """
    Whether C{text} has the shape of a room name.
    """
    return _ROOM.fullmatch(text) is not None and text.isprintable()


def check_room(room: str) -> str:
    """
    Validate a room name.

    @return: C{room} unchanged.
    @raise InvalidRoom: with the reason, if C{room} breaks the
        rules.
    """
    if not is_room(room):
        raise InvalidRoom(
            f"a room name is '#' and 1 to {MAX_NAME_LENGTH} characters without "
            "spaces, '*', ',' or control characters, like #chess."
        )
    return room
