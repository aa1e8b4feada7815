"""
Tests for L{chat.render}: every event in both formats.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from chat.dispatcher import COMMANDS
from chat.events import (
    Action,
    Error,
    Event,
    Goodbye,
    Help,
    Joined,
    Left,
    Message,
    ModeChanged,
    Private,
    Prompt,
    UserList,
    Welcome,
)
from chat.render import encode, iso_time, json_object, text_lines

T = 1_700_000_000.0

ALL_EVENTS: list[Event] = [
    Welcome(T, "alice", ("alice", "bob"), 2),
    Welcome(T, "alice", (), 500),
    Joined(T, "bob"),
    Left(T, "bob"),
    Left(T, "bob", "bye"),
    Message(T, "bob", "hi all"),
    Private(T, "bob", "alice", "psst"),
    Action(T, "bob", "waves"),
    UserList(T, ("alice", "bob")),
    Help(T, COMMANDS),
    ModeChanged(T, "json"),
    Goodbye(T),
    Prompt(T, "name"),
    Error(T, "no-such-user", "carol is not online"),
]


class TextTests(SynchronousTestCase):
    """
    Text mode is what a person on nc reads.
    """

    def test_formats(self) -> None:
        """
        Each event type has its documented line.
        """
        self.assertEqual(
            [text_lines(e)[0] for e in ALL_EVENTS if not isinstance(e, Help)],
            [
                "* Hello alice, you are in! Online (2): alice, bob. "
                "Type /help for commands.",
                "* Hello alice, you are in! 500 users online; /users lists them. "
                "Type /help for commands.",
                "* bob just joined the server",
                "* bob left the chat",
                "* bob left the chat (bye)",
                "bob: hi all",
                "[private] bob: psst",
                "* bob waves",
                "* Online (2): alice, bob",
                "* Output mode is now json.",
                "* Goodbye!",
                "Welcome to txchat! Please enter your name:",
                "ERROR: carol is not online",
            ],
        )

    def test_help_lists_every_command(self) -> None:
        """
        C{/help} is one line per command after a heading.
        """
        lines = text_lines(Help(T, COMMANDS))
        self.assertEqual(len(lines), len(COMMANDS) + 1)
        self.assertIn("/dm NAME TEXT", lines[3])
        self.assertIn("also /msg", lines[3])

    def test_encode_terminator(self) -> None:
        """
        Multi-line events end every line with the connection's terminator.
        """
        data = encode(Help(T, COMMANDS), "text", b"\x00")
        self.assertEqual(data.count(b"\x00"), len(COMMANDS) + 1)
        self.assertTrue(data.endswith(b"\x00"))
        self.assertNotIn(b"\n", data)


class JSONTests(SynchronousTestCase):
    """
    JSON mode: one object per event with type, time, from and text.
    """

    def test_common_fields(self) -> None:
        """
        Every event has the common fields and encodes to a single line.
        """
        types = set()
        for event in ALL_EVENTS:
            data = encode(event, "json", b"\n")
            self.assertEqual(data.count(b"\n"), 1, data)
            obj = json.loads(data)
            self.assertEqual(obj, json_object(event))
            self.assertEqual(obj["time"], "2023-11-14T22:13:20.000Z")
            self.assertIn("from", obj)
            self.assertIsInstance(obj["text"], str)
            types.add(obj["type"])
        self.assertEqual(
            types,
            {
                "welcome",
                "join",
                "leave",
                "message",
                "private",
                "action",
                "users",
                "help",
                "mode",
                "goodbye",
                "prompt",
                "error",
            },
        )

    def test_message_fields(self) -> None:
        """
        Messages carry the sender and the text exactly as sent.
        """
        self.assertEqual(
            json_object(Private(T, "bob", "alice", "a\u00e9\u2603")),
            {
                "type": "private",
                "time": "2023-11-14T22:13:20.000Z",
                "from": "bob",
                "to": "alice",
                "text": "a\u00e9\u2603",
            },
        )

    def test_non_ascii_and_control(self) -> None:
        """
        JSON output is UTF-8 and escapes what would break framing.
        """
        data = encode(Message(T, "bob", "caf\u00e9 \x00 \r"), "json", b"\x00")
        self.assertEqual(data.count(b"\x00"), 1)
        self.assertIn("caf\u00e9".encode(), data)
        self.assertEqual(json.loads(data[:-1])["text"], "caf\u00e9 \x00 \r")

    def test_error_fields(self) -> None:
        """
        Errors carry a code and the text without the C{ERROR:} prefix.
        """
        obj = json_object(Error(T, "usage", "usage: /dm NAME TEXT"))
        self.assertEqual((obj["code"], obj["text"]), ("usage", "usage: /dm NAME TEXT"))

    def test_iso_time(self) -> None:
        """
        Times are UTC with milliseconds.
        """
        self.assertEqual(iso_time(0.5), "1970-01-01T00:00:00.500Z")
