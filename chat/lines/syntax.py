# -*- test-case-name: tests.lines.test_syntax -*-
"""
The line door's text syntax: one line of input into a command value.

Pure functions and values: no Twisted, no I/O.  C{chat-client} reads its
user's lines with it too, to know what they address.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.core.names import RESERVED_NAMES, fold, is_name, is_room


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


# Not frozen: a frozen dataclass is several times slower to build, and
# one is built per line; treat them as immutable.
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
