"""
Tests for L{chat.lines.render}: every event in both formats.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from twisted.trial.unittest import SynchronousTestCase

from chat.core.controls import UNSAFE
from chat.events import (
    Action,
    Away,
    AwayStatus,
    Error,
    Event,
    FileDone,
    FileList,
    FileOffer,
    FileSent,
    FileUpload,
    FileUploadInfo,
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
    RoomEntered,
    RoomInfo,
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
    Stored,
    UserList,
    Welcome,
)
from chat.lines.commands import COMMANDS
from chat.lines.events import Help, ModeChanged
from chat.lines.render import encode, iso_time, json_object, text_lines

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

    def test_sizes(self) -> None:
        """
        File sizes read as words when small, in binary units when not.
        """
        shown = [
            text_lines(FileOffer(T, 1, "bob", "f", size, "0" * 64, "", T))[0]
            for size in (1, 5, 2 * 1024 * 1024)
        ]
        self.assertEqual(
            [line.split("(")[1].split(")")[0] for line in shown],
            ["1 byte", "5 bytes", "2.0 MiB"],
        )


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


ROOM_EVENTS: list[tuple[Event, list[str], dict[str, object]]] = [
    (
        RoomMessage(T, "#chess", "bob", "e4?"),
        ["#chess bob: e4?"],
        {"type": "message", "from": "bob", "text": "e4?", "room": "#chess"},
    ),
    (
        RoomEntered(T, "#chess", ("alice", "bob"), 2, "club", "alice", False),
        ["* You joined #chess (2 members: alice, bob). Topic: club"],
        {
            "type": "room-joined",
            "room": "#chess",
            "members": ["alice", "bob"],
            "count": 2,
            "topic": "club",
            "owner": "alice",
            "invite_only": False,
            "created": False,
            "rejoined": False,
        },
    ),
    (
        RoomEntered(T, "#big", (), 812, "", None, False, rejoined=True),
        ["* You are back in #big (812 members; /who #big lists them)."],
        {"type": "room-joined", "members": [], "count": 812, "rejoined": True},
    ),
    (
        RoomEntered(T, "#new", ("alice",), 1, "", "alice", False, created=True),
        ["* You created #new; you own it."],
        {"type": "room-joined", "created": True, "owner": "alice"},
    ),
    (
        RoomJoined(T, "#chess", "carol"),
        ["* carol joined #chess"],
        {"type": "room-join", "room": "#chess", "name": "carol"},
    ),
    (
        RoomLeft(T, "#chess", "carol", "bedtime"),
        ["* carol left #chess (bedtime)"],
        {"type": "room-leave", "name": "carol", "reason": "bedtime", "by": None},
    ),
    (
        RoomLeft(T, "#chess", "carol", "spam", "alice"),
        ["* carol was kicked from #chess by alice (spam)"],
        {"type": "room-leave", "name": "carol", "reason": "spam", "by": "alice"},
    ),
    (
        RoomTopic(T, "#chess", "club", "alice"),
        ["* alice set the topic of #chess: club"],
        {"type": "room-topic", "topic": "club", "by": "alice"},
    ),
    (
        RoomTopic(T, "#chess", "club"),
        ["* Topic of #chess: club"],
        {"type": "room-topic", "topic": "club", "by": None},
    ),
    (
        RoomTopic(T, "#chess", ""),
        ["* #chess has no topic."],
        {"type": "room-topic", "topic": ""},
    ),
    (
        RoomMode(T, "#chess", True, "alice"),
        ["* alice made #chess invite-only"],
        {"type": "room-mode", "invite_only": True, "by": "alice"},
    ),
    (
        RoomMode(T, "#chess", False, "alice"),
        ["* alice opened #chess to everyone"],
        {"type": "room-mode", "invite_only": False},
    ),
    (
        RoomInvite(T, "#chess", "alice"),
        ["* alice invites you to #chess; /join #chess to accept."],
        {"type": "room-invite", "room": "#chess", "by": "alice"},
    ),
    (
        RoomInvited(T, "#chess", "bob"),
        ["* bob is invited to #chess."],
        {"type": "room-invited", "room": "#chess", "name": "bob"},
    ),
    (
        RoomOp(T, "#chess", "bob", "alice", True),
        ["* alice made bob an operator of #chess"],
        {"type": "room-op", "name": "bob", "by": "alice", "op": True},
    ),
    (
        RoomOp(T, "#chess", "bob", "alice", False),
        ["* alice removed bob as an operator of #chess"],
        {"type": "room-op", "op": False},
    ),
    (
        RoomList(
            T,
            (
                RoomInfo("#chess", 3, "club", False, True),
                RoomInfo("#secret", 1, "", True, False),
            ),
        ),
        [
            "* Rooms (2):",
            "*   #chess  3 members  club",
            "*   #secret  1 member (invite-only)",
        ],
        {
            "type": "rooms",
            "rooms": [
                {
                    "room": "#chess",
                    "count": 3,
                    "topic": "club",
                    "invite_only": False,
                    "member": True,
                },
                {
                    "room": "#secret",
                    "count": 1,
                    "topic": "",
                    "invite_only": True,
                    "member": False,
                },
            ],
        },
    ),
    (
        RoomList(T, ()),
        ["* No rooms yet; /join #NAME creates one."],
        {"type": "rooms", "rooms": []},
    ),
    (
        RoomMembers(T, "#chess", ("Alice", "bob", "carol"), "alice", ("bob",)),
        ["* Members of #chess (3): @Alice, +bob, carol"],
        {
            "type": "room-members",
            "members": ["Alice", "bob", "carol"],
            "owner": "alice",
            "operators": ["bob"],
            "count": 3,
        },
    ),
    (
        Past(T, "bob", "e4?", room="#chess"),
        ["[history 2023-11-14 22:13 UTC] #chess bob: e4?"],
        {"type": "message", "history": True, "room": "#chess", "missed": False},
    ),
    (
        Past(T, "bob", "e4?", room="#chess", missed=True),
        ["[history 2023-11-14 22:13 UTC] #chess bob: e4?"],
        {"type": "message", "history": True, "missed": True},
    ),
    (
        PastEnd(T, 1, "#chess"),
        ["* End of #chess history (1 message)."],
        {"type": "history-end", "count": 1, "room": "#chess", "missed": False},
    ),
    (
        PastEnd(T, 0, "#chess"),
        ["* No history in #chess yet."],
        {"type": "history-end", "count": 0},
    ),
    (
        PastEnd(T, 3, "#chess", True),
        ["* End of what you missed in #chess (3 messages)."],
        {"type": "history-end", "missed": True},
    ),
]


class RoomRenderTests(SynchronousTestCase):
    """
    Every room event in both formats, as C{docs/protocol.rst} shows them.
    """

    def test_text(self) -> None:
        for event, lines, _ in ROOM_EVENTS:
            self.assertEqual(text_lines(event), lines)

    def test_json(self) -> None:
        for event, _, fields in ROOM_EVENTS:
            obj = json.loads(encode(event, "json", b"\n"))
            self.assertEqual({k: obj[k] for k in fields}, fields)
            self.assertEqual(obj["time"], iso_time(T))


# Private history (issue 16): shaped as live private messages and a room's
# history end, so that clients read them as they read those.
PRIVATE_HISTORY_EVENTS: list[tuple[Event, list[str], dict[str, object]]] = [
    (
        PrivatePast(T, "alice", "bob", "hi", "bob"),
        ["[history 2023-11-14 22:13 UTC] [private with bob] alice: hi"],
        {
            "type": "private",
            "from": "alice",
            "to": "bob",
            "text": "hi",
            "history": True,
            "with": "bob",
        },
    ),
    (
        PrivatePastEnd(T, 2, "bob"),
        ["* End of private history with bob (2 messages)."],
        {"type": "history-end", "count": 2, "room": None, "with": "bob"},
    ),
    (
        PrivatePastEnd(T, 0, "bob"),
        ["* No private messages with bob are kept."],
        {"type": "history-end", "count": 0, "with": "bob"},
    ),
    (
        PrivacyStatus(T, True),
        [
            "* Your private messages with registered users are kept; "
            "/privacy history off stops it and deletes them."
        ],
        {"type": "privacy", "history": True, "changed": False},
    ),
    (
        PrivacyStatus(T, False, changed=True),
        [
            "* Your private messages are no longer kept; what was kept of your "
            "conversations was deleted."
        ],
        {"type": "privacy", "history": False, "changed": True},
    ),
    (
        PrivacyStatus(T, True, changed=True),
        [
            "* From now on your private messages with registered users are kept; "
            "/history NAME shows them."
        ],
        {"type": "privacy", "history": True, "changed": True},
    ),
    (
        PrivacyStatus(T, False),
        ["* Your private messages are not kept; /privacy history on keeps them."],
        {"type": "privacy", "history": False},
    ),
]


class PrivateHistoryRenderTests(SynchronousTestCase):
    """
    The private history events in both formats, as C{docs/protocol.rst}
    shows them.
    """

    def test_text(self) -> None:
        for event, lines, _ in PRIVATE_HISTORY_EVENTS:
            self.assertEqual(text_lines(event), lines)

    def test_json(self) -> None:
        for event, _, fields in PRIVATE_HISTORY_EVENTS:
            obj = json.loads(encode(event, "json", b"\n"))
            self.assertEqual({k: obj[k] for k in fields}, fields)
            self.assertEqual(obj["time"], iso_time(T))


# Mentions and away (issue 16, "mentions").
AWAY_EVENTS: list[tuple[Event, list[str], dict[str, object]]] = [
    (
        Away(T, "bob", "lunch"),
        ["* bob is away: lunch"],
        {"type": "away", "name": "bob", "reason": "lunch", "from": None},
    ),
    (
        AwayStatus(T, "lunch"),
        ["* You are marked as away: lunch"],
        {"type": "away-status", "away": True, "reason": "lunch"},
    ),
    (
        AwayStatus(T, None),
        ["* You are no longer marked as away."],
        {"type": "away-status", "away": False, "reason": None},
    ),
]


class AwayRenderTests(SynchronousTestCase):
    """
    The away events in both formats, as C{docs/protocol.rst} shows them.
    """

    def test_text(self) -> None:
        for event, lines, _ in AWAY_EVENTS:
            self.assertEqual(text_lines(event), lines)

    def test_json(self) -> None:
        for event, _, fields in AWAY_EVENTS:
            obj = json.loads(encode(event, "json", b"\n"))
            self.assertEqual({k: obj[k] for k in fields}, fields)


# What a user could send to act on other users' terminals.
ATTACKS = {
    # Clear the screen, go home, and show a fake server notice.
    "clear": (
        "\x1b[2J\x1b[H* SERVER: your session expired",
        "^[[2J^[[H* SERVER: your session expired",
    ),
    # Back to the start of the line and overwrite it with a fake join.
    "cr": (
        "hi\r* mallory just joined the server",
        "hi^M* mallory just joined the server",
    ),
    # OSC 52: write the clipboard.
    "osc52": ("\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07", "^[]52;c;Y3VybCBldmlsIHwgc2g=^G"),
    # The C1 form of CSI, DEL, and a right-to-left override.
    "c1": ("a\x9b2Jb\x7fc\u202ed", "a<U+009B>2Jb^?c<U+202E>d"),
}


def _control_events(text: str) -> list[tuple[Event, str]]:
    """
    Every event that carries C{text} from a user, with the line a text-mode
    user sees when C{text} is C{"{}"}-formatted into it.
    """
    offer = FileOffer(T, 7, "bob", text, 5, "0" * 64, "", T)
    when = "2023-11-14 22:13 UTC"
    return [
        (Message(T, "bob", text), "bob: {}"),
        (Private(T, "bob", "alice", text), "[private] bob: {}"),
        (Action(T, "bob", text), "* bob {}"),
        (Left(T, "bob", text), "* bob left the chat ({})"),
        (Stored(T, "bob", "alice", text, 1), f"[private, sent {when}] bob: {{}}"),
        (
            Stored(T, "bob", "alice", text, 1, True),
            f"[private, sent {when}] * bob {{}}",
        ),
        (Past(T, "bob", text), f"[history {when}] bob: {{}}"),
        (
            PrivatePast(T, "bob", "alice", text, "bob"),
            f"[history {when}] [private with bob] bob: {{}}",
        ),
        (Past(T, "bob", text, True, "#chess"), f"[history {when}] #chess * bob {{}}"),
        (RoomMessage(T, "#chess", "bob", text), "#chess bob: {}"),
        (RoomLeft(T, "#chess", "bob", text), "* bob left #chess ({})"),
        (
            RoomLeft(T, "#chess", "bob", text, "alice"),
            "* bob was kicked from #chess by alice ({})",
        ),
        (RoomTopic(T, "#chess", text, "alice"), "* alice set the topic of #chess: {}"),
        (RoomTopic(T, "#chess", text), "* Topic of #chess: {}"),
        (
            RoomEntered(T, "#chess", ("bob",), 1, text, "bob", False),
            "* You joined #chess (1 member: bob). Topic: {}",
        ),
        (
            RoomList(T, (RoomInfo("#chess", 1, text, False, True),)),
            "*   #chess  1 member  {}",
        ),
        (
            offer,
            "* bob wants to send you {} (5 bytes), file 7; connect with "
            "chat-client to receive it (kept until 2023-11-14).",
        ),
        (FileList(T, (offer,), ()), "* bob wants to send you {} (5 bytes), file 7;"),
        (
            FileList(T, (), (FileUploadInfo(7, "bob", text, 5, 1),)),
            "* Your upload of {} to bob (file 7) stopped at",
        ),
        (FileSent(T, 7, "bob", text, False), "* {} (file 7) was offered to bob."),
        (FileDone(T, 7, "bob", text, True), "* bob declined {} (file 7)."),
        (FileUpload(T, 7, 0, text, 5), "* Ready for {} (file 7) from byte 0."),
        (Error(T, "no-such-user", text), "ERROR: {}"),
        (Away(T, "bob", text), "* bob is away: {}"),
    ]


def _strings(value: object) -> list[str]:
    """
    Every string in a JSON value, however deep.
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class ControlCharacterTests(SynchronousTestCase):
    """
    Text mode escapes the characters a terminal acts on in whatever users
    sent, in every event that carries it; JSON keeps them.
    """

    def test_every_event(self) -> None:
        """
        ESC, CR, OSC 52, C1, DEL and a bidi override reach a text-mode
        user escaped, in every event that carries user text.
        """
        for kind, (attack, escaped) in ATTACKS.items():
            for event, line in _control_events(attack):
                with self.subTest(kind=kind, event=type(event).__name__):
                    data = encode(event, "text", b"\r\n")
                    text = data.decode("utf-8")
                    self.assertTrue(text.endswith("\r\n"))
                    self.assertIn(line.format(escaped), text)
                    self.assertIsNone(UNSAFE.search(text[:-2].replace("\r\n", "")))

    def test_tab_kept(self) -> None:
        """
        A tab is shown as it is: it moves the cursor only to the next stop.
        """
        self.assertEqual(
            encode(Message(T, "bob", "a\tb\x1b"), "text", b"\n"), b"bob: a\tb^[\n"
        )

    def test_plain_text_unchanged(self) -> None:
        """
        Text without controls, non-ASCII and emoji sequences included
        (with their zero-width joiner), is shown as it is.
        """
        text = "caf\u00e9 \u2603 \U0001f469\u200d\U0001f4bb \u3000 \u00a0"
        self.assertEqual(
            encode(Message(T, "bob", text), "text", b"\n"),
            f"bob: {text}\n".encode(),
        )

    def test_json_keeps_them(self) -> None:
        """
        JSON gives programs the characters as sent, written as escapes: no
        raw control, DEL, C1 or bidi control is on the wire.
        """
        for attack, _ in ATTACKS.values():
            for event, _ in _control_events(attack):
                with self.subTest(event=type(event).__name__, attack=attack):
                    data = encode(event, "json", b"\n")
                    self.assertIsNone(UNSAFE.search(data[:-1].decode("utf-8")))
                    obj = json.loads(data)
                    self.assertTrue(any(attack in v for v in _strings(obj)), obj)
        data = encode(Message(T, "bob", "\x7f\x9b\u2028"), "json", b"\n")
        self.assertIn(b'"text":"\\u007f\\u009b\\u2028"', data)
        self.assertEqual(json.loads(data)["text"], "\x7f\x9b\u2028")

    @given(
        st.text(),
        st.sampled_from(range(len(_control_events("")))),
        st.sampled_from([b"\r\n", b"\n", b"\x00"]),
    )
    def test_no_control_ever(self, text: str, which: int, end: bytes) -> None:
        """
        Whatever a user sends, no text-mode line of any event carrying it
        holds a control character but its terminator and tabs.
        """
        event, _ = _control_events(text)[which]
        data = encode(event, "text", end).decode("utf-8")
        self.assertTrue(data.endswith(end.decode()))
        for line in data.split(end.decode())[:-1]:
            self.assertIsNone(UNSAFE.search(line), line)
            self.assertFalse(any(c < " " and c != "\t" for c in line), ascii(line))

    @given(st.text(), st.sampled_from(range(len(_control_events("")))))
    def test_json_round_trip(self, text: str, which: int) -> None:
        """
        JSON mode gives back exactly what was sent, and nothing on its
        line a terminal acts on.
        """
        event, _ = _control_events(text)[which]
        data = encode(event, "json", b"\n").decode("utf-8")
        self.assertIsNone(UNSAFE.search(data[:-1]))
        self.assertEqual(json.loads(data), json_object(event))


# Fields the server fills from a fixed set, never with what users send.
_FIXED = frozenset({"what", "action", "mode", "code"})


def _everywhere(event: Event, text: str) -> Event:
    """
    C{event} with every string field it carries (names too, in tuples as
    well) replaced by C{text}.
    """
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name in _FIXED:
            continue
        if isinstance(value, str):
            changes[f.name] = text
        elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            changes[f.name] = tuple(text for _ in value)
    return dataclasses.replace(event, **changes)


_SAMPLES: list[Event] = [
    *(e for e in ALL_EVENTS if not isinstance(e, Help)),
    *(e for e, _, _ in ROOM_EVENTS),
    *(e for e, _, _ in PRIVATE_HISTORY_EVENTS),
    *(e for e, _ in _control_events("x")),
]


class AnyFieldTests(SynchronousTestCase):
    """
    Not only the text of messages: whatever string field of any event a
    user could ever fill (names included, should a door let one through),
    text mode writes no control.
    """

    @given(st.text(), st.sampled_from(_SAMPLES))
    def test_no_control_in_any_field(self, text: str, event: Event) -> None:
        data = encode(_everywhere(event, text), "text", b"\n").decode("utf-8")
        for line in data.split("\n")[:-1]:
            self.assertIsNone(UNSAFE.search(line), ascii(line))
