"""
The door contract (L{tests.door_contract}) through the line door, in its
text mode and in its JSON mode: two drivers that send the text syntax and
read back what a person, or a program, reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from chat.core.core import ChatCore
from chat.core.limits import Limits
from chat.lines.factory import ChatFactory
from chat.lines.protocol import ChatProtocol
from chat.store.spool import MemorySpool
from tests.door_contract import DoorContract, Driver, Seen
from tests.support import START, SlowStore, fake_hasher, many_per_address

# What a person reads, back into what it says: the patterns are tried in
# order, so the general ones (a message, an action) come last.
_NAME: Final = r"[^\s*/#][^\s*]*"
_TEXT_LINES: Final[list[tuple[str, str, Mapping[str, Any]]]] = [
    ("prompt", r"Welcome to txchat! Please enter your name:", {"prompt": "name"}),
    ("prompt", r"Password:", {"prompt": "password"}),
    ("", rf"\* {_NAME} is a registered name; enter its password\.", {}),
    ("", r"\* Warning: this connection is not encrypted.*", {}),
    (
        "welcome",
        rf"\* Hello (?P<name>{_NAME}), you are in! (?:Online \(\d+\): "
        r"(?P<users>.*)\.|\d+ users online; /users lists them\.) Type /help "
        r"for commands\.",
        {},
    ),
    ("join", rf"\* (?P<name>{_NAME}) just joined the server", {}),
    ("leave", rf"\* (?P<name>{_NAME}) left the chat(?: \((?P<reason>.*)\))?", {}),
    ("users", r"\* Online \(\d+\): (?P<users>.*)", {}),
    ("goodbye", r"\* Goodbye!", {}),
    ("error", r"ERROR: (?P<text>.*)", {}),
    ("private", rf"\[private\] (?P<from>{_NAME}): (?P<text>.*)", {}),
    (
        "private",
        rf"\[private, sent [^\]]+\] (?P<from>{_NAME}): (?P<text>.*)",
        {"stored": True},
    ),
    ("queued", rf"\* (?P<to>{_NAME}) is offline; your message is stored.*", {}),
    ("stored-end", r"\* (?P<count>\d+) messages? w(?:as|ere) waiting for you\.", {}),
    ("stored-end", r"\* No messages were waiting for you\.", {"count": 0}),
    (
        "message",
        rf"\[history [^\]]+\] (?:(?P<room>#\S+) )?(?P<from>{_NAME}): (?P<text>.*)",
        {"history": True},
    ),
    (
        "action",
        rf"\[history [^\]]+\] (?:(?P<room>#\S+) )?\* (?P<from>{_NAME}) (?P<text>.*)",
        {"history": True},
    ),
    (
        "history-end",
        r"\* End of what you missed in (?P<room>#\S+) \((?P<count>\d+) messages?\)\.",
        {"missed": True},
    ),
    (
        "history-end",
        r"\* End of (?:(?P<room>#\S+) )?history \((?P<count>\d+) messages?\)\.",
        {},
    ),
    ("history-end", r"\* No history(?: in (?P<room>#\S+))? yet\.", {"count": 0}),
    (
        "account",
        rf"\* (?P<name>{_NAME}) is now registered: .*",
        {"action": "registered"},
    ),
    ("room-joined", r"\* You created (?P<room>#\S+); you own it\.", {"created": True}),
    ("room-joined", r"\* You joined (?P<room>#\S+) .*", {}),
    ("room-joined", r"\* You are back in (?P<room>#\S+) .*", {"rejoined": True}),
    ("room-join", rf"\* (?P<name>{_NAME}) joined (?P<room>#\S+)", {}),
    (
        "room-leave",
        rf"\* (?P<name>{_NAME}) was kicked from (?P<room>#\S+) by "
        rf"(?P<by>{_NAME})(?: \((?P<reason>.*)\))?",
        {},
    ),
    (
        "room-leave",
        rf"\* (?P<name>{_NAME}) left (?P<room>#\S+)(?: \((?P<reason>.*)\))?",
        {},
    ),
    (
        "room-topic",
        rf"\* (?P<by>{_NAME}) set the topic of (?P<room>#\S+): (?P<topic>.*)",
        {},
    ),
    (
        "room-invite",
        rf"\* (?P<by>{_NAME}) invites you to (?P<room>#\S+); .*",
        {},
    ),
    ("room-invited", rf"\* (?P<name>{_NAME}) is invited to (?P<room>#\S+)\.", {}),
    (
        "room-mode",
        rf"\* (?P<by>{_NAME}) made (?P<room>#\S+) invite-only",
        {"invite_only": True},
    ),
    ("message", rf"(?P<room>#\S+) (?P<from>{_NAME}): (?P<text>.*)", {}),
    ("message", rf"(?P<from>{_NAME}): (?P<text>.*)", {}),
    ("action", rf"\* (?P<from>{_NAME}) (?P<text>.*)", {}),
]
_PATTERNS: Final = [
    (kind, re.compile(pattern, re.DOTALL), extra)
    for kind, pattern, extra in _TEXT_LINES
]


def read_text(line: str) -> Seen | None:
    """
    What a person reads in C{line}; L{None} for lines that only explain
    another (the password prompt's).
    """
    for kind, pattern, extra in _PATTERNS:
        match = pattern.fullmatch(line)
        if match is None:
            continue
        if not kind:
            return None
        fields: dict[str, Any] = {
            k: v for k, v in match.groupdict().items() if v is not None
        }
        if "count" in fields:
            fields["count"] = int(fields["count"])
        if "users" in fields:
            fields["users"] = fields["users"].split(", ")
        return Seen(kind, {**fields, **extra})
    raise AssertionError(f"no pattern reads {line!r}")


_MEANINGFUL_TEXT: Final = {"message", "private", "action", "error"}


def read_json(line: str) -> Seen:
    """
    What a program reads in C{line}: the type and the fields that mean
    something (not the time, not the text of a notice, not nulls).
    """
    event = json.loads(line)
    kind = event.pop("type")
    event.pop("time")
    if kind not in _MEANINGFUL_TEXT:
        event.pop("text")
    if kind == "message" and event.get("room") is None:
        event.pop("room", None)
    if event.get("missed") is False:
        del event["missed"]
    return Seen(kind, {k: v for k, v in event.items() if v is not None})


class LineClient:
    """
    A client of the line door: what a user types, as lines, into a
    L{ChatProtocol} over a L{StringTransport}.
    """

    def __init__(
        self, driver: LineDriver, protocol: ChatProtocol, json: bool, exempt: bool
    ) -> None:
        self._driver = driver
        self._protocol = protocol
        self._transport = StringTransport()
        self._json = json
        protocol.makeConnection(self._transport)
        protocol.session.exempt = exempt
        if json:
            self._send("/mode json")

    def _send(self, line: str) -> None:
        self._protocol.dataReceived(line.encode("utf-8") + b"\n")

    def name(self, name: str) -> None:
        self._send(name)

    def password(self, password: str) -> None:
        self._send(password)

    def say(self, text: str) -> None:
        self._send(text)

    def whisper(self, to: str, text: str) -> None:
        self._send(f"{to}*{text}")

    def action(self, text: str) -> None:
        self._send(f"/me {text}")

    def users(self) -> None:
        self._send("/users")

    def history(self, count: int | None = None, room: str | None = None) -> None:
        words = [w for w in (room, None if count is None else str(count)) if w]
        self._send(" ".join(["/history", *words]))

    def register(self, password: str) -> None:
        self._send(f"/register {password}")

    def join(self, room: str) -> None:
        self._send(f"/join {room}")

    def say_in(self, room: str, text: str) -> None:
        self._send(f"{room}*{text}")

    def leave(self, room: str, reason: str | None = None) -> None:
        self._send(f"/leave {room} {reason or ''}".rstrip())

    def topic(self, room: str, text: str) -> None:
        self._send(f"/topic {room} {text}")

    def set_invite_only(self, room: str) -> None:
        self._send(f"/mode {room} +i")

    def invite(self, name: str, room: str) -> None:
        self._send(f"/invite {name} {room}")

    def kick(self, name: str, room: str, reason: str | None = None) -> None:
        self._send(f"/kick {name} {room} {reason or ''}".rstrip())

    def quit(self, reason: str | None = None) -> None:
        self._send(f"/quit {reason or ''}".rstrip())

    def received(self) -> list[Seen]:
        self._driver.clock.advance(0)
        data: bytes = self._transport.value()
        self._transport.clear()
        lines = re.split(r"\r\n|\n", data.decode("utf-8"))
        if lines[-1:] == [""]:
            lines.pop()
        if self._json:
            seen = []
            for line in lines:
                if line.startswith("{"):
                    seen.append(read_json(line))
                else:  # the greeting is text, before JSON is asked for
                    text = read_text(line)
                    if text is not None:
                        seen.append(text)
            return [s for s in seen if s.kind != "mode"]
        return [s for s in map(read_text, lines) if s is not None]

    @property
    def closed(self) -> bool:
        return bool(self._transport.disconnecting)


class LineDriver:
    """
    The line door on a core as the server builds it (L{SlowStore} answering
    at once until told otherwise).
    """

    def __init__(self, json: bool) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.store = SlowStore()
        self.store.holding = False
        self.core = ChatCore(
            self.clock,
            self.store,
            MemorySpool(),
            fake_hasher(),
            limits=many_per_address(Limits()),
        )
        self.core.start()
        self.factory = ChatFactory(self.core)
        self._json = json
        self._port = 40000

    def connect(self, peer: str = "192.0.2.1", *, exempt: bool = False) -> LineClient:
        self._port += 1
        protocol = self.factory.buildProtocol(IPv4Address("TCP", peer, self._port))
        return LineClient(self, protocol, self._json, exempt)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


class TextModeContractTests(DoorContract, SynchronousTestCase):
    """
    The door contract through the line door, as a person on C{nc} reads it.
    """

    def make_driver(self) -> Driver:
        return LineDriver(json=False)


class JSONModeContractTests(DoorContract, SynchronousTestCase):
    """
    The door contract through the line door in JSON mode, as C{chat-client}
    reads it.
    """

    def make_driver(self) -> Driver:
        return LineDriver(json=True)
