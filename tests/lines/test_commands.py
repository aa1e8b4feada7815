"""
Tests for the line door's syntax (L{chat.lines.commands},
L{chat.lines.syntax}): every form a user types, and the usage it is shown
when a form is wrong, on the wire.
"""

from __future__ import annotations

import json
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from chat.core.limits import Limits
from chat.core.session import Session
from chat.errors import BadUsage, UnknownCommand
from chat.lines.commands import COMMANDS, SlashCommands, chunk_header
from tests.support import LineTestCase

_SHA_OF_HI = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"


class CommandListTests(SynchronousTestCase):
    """
    What C{/help} lists is what the door understands.
    """

    def test_every_listed_command_exists(self) -> None:
        """
        Each command and alias C{/help} lists has a handler, or is one the
        door answers itself.
        """
        commands = SlashCommands(Limits())
        listed = {c.usage.split()[0] for c in COMMANDS}
        listed |= {a.split()[0] for c in COMMANDS for a in c.aliases}
        own = {"/help", "/quit", "/exit", "/since"}
        for usage in sorted(listed - own):
            if usage.startswith("/"):
                commands.handler(usage[1:])  # raises if unknown

    def test_only_command_methods(self) -> None:
        """
        User input reaches no method but a C{command_} one.
        """
        commands = SlashCommands(Limits())
        for name in ("handler", "__init__", "_limits", "command_users", "us-ers"):
            with self.assertRaises(UnknownCommand, msg=name):
                commands.handler(name)


class _Recorder:
    """
    A session that records the history requests made of it.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def history(self, count: int | None = None, room: str | None = None) -> None:
        self.calls.append(("history", count, room))

    def private_history(self, name: str, count: int | None = None) -> None:
        self.calls.append(("private", name, count))

    def privacy(self, history: bool | None = None) -> None:
        self.calls.append(("privacy", history))


class HistorySyntaxTests(SynchronousTestCase):
    """
    C{/history} tells a count, a room and a name apart; C{/privacy}.
    """

    def calls(self, command: str, args: str) -> list[tuple[object, ...]]:
        session = _Recorder()
        handler = SlashCommands(Limits()).handler(command)
        handler(cast(Session, session), args)
        return session.calls

    def test_forms(self) -> None:
        """
        A lone number is a count; a word starting with C{#} a room; any
        other word a name (a user named C{20} takes a count too).
        """
        for args, call in (
            ("", ("history", None, None)),
            ("20", ("history", 20, None)),
            (" 20 ", ("history", 20, None)),
            ("#room", ("history", None, "#room")),
            ("#room 20", ("history", 20, "#room")),
            ("bob", ("private", "bob", None)),
            ("bob 20", ("private", "bob", 20)),
            ("20 5", ("private", "20", 5)),
            ("off", ("private", "off", None)),
        ):
            self.assertEqual(self.calls("history", args), [call], args)

    def test_bad_forms(self) -> None:
        """
        More than two words, or a count that is not a number, is shown the
        usage.
        """
        for args in ("bob x", "#room -1", "bob 2 3", "20 x", "bob ²"):
            with self.assertRaises(BadUsage, msg=args):
                self.calls("history", args)

    @given(st.text(max_size=40))
    @settings(max_examples=300, deadline=None)
    def test_any_text(self, args: str) -> None:
        """
        Whatever follows C{/history}, it is one request or a usage error.
        """
        try:
            calls = self.calls("history", args)
        except BadUsage:
            return
        self.assertEqual(len(calls), 1)

    def test_privacy(self) -> None:
        """
        C{/privacy} asks; C{/privacy history on|off} (any case) sets; a
        user named C{off} cannot be mistaken for it.
        """
        self.assertEqual(self.calls("privacy", ""), [("privacy", None)])
        self.assertEqual(self.calls("privacy", "history off"), [("privacy", False)])
        self.assertEqual(self.calls("privacy", "HISTORY On"), [("privacy", True)])
        for args in ("off", "history", "history off now", "history yes"):
            with self.assertRaises(BadUsage, msg=args):
                self.calls("privacy", args)


class ChunkHeaderTests(SynchronousTestCase):
    """
    C{/file chunk ID OFFSET LENGTH}.
    """

    def test_header(self) -> None:
        """
        The id, offset and length are read from the line.
        """
        self.assertEqual(chunk_header(b"/file chunk 7 128 64", 64), (7, 128, 64))

    def test_malformed(self) -> None:
        """
        Missing or non-numeric words, and lengths out of 1 to the maximum,
        are usage errors.
        """
        for line in (
            b"/file chunk 7 128",
            b"/file chunk 7 x 64",
            b"/file chunk 7 0 0",
            b"/file chunk 7 0 65",
            b"/file chunk 7 0 -1",
            b"/file chunk 7 0 64 extra",
        ):
            with self.assertRaises(BadUsage, msg=line):
                chunk_header(line, 64)


class SyntaxTests(LineTestCase):
    """
    The forms of the text syntax, and their usage errors, as users see them.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_t = self.connect("alice")
        self.bob, self.bob_t = self.connect("bob")
        self.received(self.alice_t)

    def send(self, line: bytes) -> list[str]:
        """
        Alice sends C{line}: what she is sent back.
        """
        self.alice.dataReceived(line + b"\n")
        return self.received(self.alice_t)

    def test_help(self) -> None:
        """
        C{/help} lists every command, one a line, before a name too.
        """
        lines = self.send(b"/help")
        self.assertEqual(lines[0], "* Commands:")
        self.assertEqual(len(lines), len(COMMANDS) + 1)
        stranger, stranger_t = self.connect()
        stranger.dataReceived(b"/HELP\n")
        self.assertEqual(len(self.received(stranger_t)), len(COMMANDS) + 1)

    def test_unknown(self) -> None:
        """
        An unknown command, or a name that is not a word, is refused with a
        pointer to C{/help}.
        """
        for line, name in [
            (b"/_handler_for x", "/_handler_for"),
            (b"/join_ #x", "/join_"),
            (b"/", "/"),
        ]:
            self.assertEqual(
                self.send(line),
                [
                    f"ERROR: unknown command {name}; type /help for the list "
                    "of commands."
                ],
            )
        self.assertEqual(
            self.send(b"/frobnicate now"),
            [
                "ERROR: unknown command /frobnicate; type /help for the list "
                "of commands."
            ],
        )

    def test_before_a_name(self) -> None:
        """
        Before a name only C{/help}, C{/mode} and C{/quit} are answered;
        other commands say which needs a name.
        """
        stranger, stranger_t = self.connect()
        stranger.dataReceived(b"/users\n/join #x\n/mode json\n")
        lines = self.received(stranger_t)
        self.assertEqual(
            lines[:2],
            [
                "ERROR: please enter your name before using /users.",
                "ERROR: please enter your name before using /join.",
            ],
        )
        self.assertEqual(
            [json.loads(line)["type"] for line in lines[2:]], ["mode", "prompt"]
        )
        stranger.dataReceived(b"/quit\n")
        self.assertTrue(stranger_t.disconnecting)

    def test_blank_lines(self) -> None:
        """
        Empty and blank lines are ignored, but count against the client's
        share of a turn: a flood of them waits like any other.
        """
        self.assertEqual(self.send(b"   \n\n\t"), [])
        self.assertEqual(self.received(self.bob_t), [])
        share = self.limits.requests_per_turn
        # Past the flood limit too, which this is not about.
        self.alice.session.exempt = True
        self.alice.dataReceived(b"\n" * share + b"/users\n")
        self.assertEqual(self.alice_t.producerState, "paused")
        self.assertEqual(self.alice_t.value(), b"")
        self.assertEqual(self.received(self.alice_t)[0], "* Online (2): alice, bob")
        self.assertEqual(self.alice_t.producerState, "producing")

    def test_broadcast_forms(self) -> None:
        """
        A plain line, C{ALL*text} in any case and C{/bm text} all go to
        everyone; C{/bm} with no text shows its usage, C{ALL*} alone is
        refused.
        """
        for line in (b"one", b"ALL*two", b"all*three", b"/bm four", b"2 * 3*x"):
            self.send(line)
        self.send(b"/BM  kept as typed ")
        self.assertEqual(
            self.received(self.bob_t),
            [
                "alice: one",
                "alice: two",
                "alice: three",
                "alice: four",
                "alice: 2 * 3*x",
                "alice:  kept as typed ",
            ],
        )
        self.assertEqual(self.send(b"/bm  "), ["ERROR: usage: /bm TEXT"])
        self.assertEqual(
            self.send(b"ALL*"), ["ERROR: an empty message cannot be sent."]
        )
        self.assertEqual(self.received(self.bob_t), [])

    def test_private_forms(self) -> None:
        """
        C{NAME*text}, C{/dm} and C{/msg} are private; without text they show
        their usage.
        """
        for line in (b"bob*one", b"/dm bob two", b"/MSG bob three"):
            self.send(line)
        self.assertEqual(
            self.received(self.bob_t),
            ["[private] alice: one", "[private] alice: two", "[private] alice: three"],
        )
        self.assertEqual(
            self.send(b"bob*"),
            ["ERROR: empty message; usage: NAME*TEXT or /dm NAME TEXT"],
        )
        self.assertEqual(self.send(b"/dm bob"), ["ERROR: usage: /dm NAME TEXT"])
        self.assertEqual(self.send(b"/dm bob   "), ["ERROR: usage: /dm NAME TEXT"])
        self.assertEqual(self.send(b"/dm"), ["ERROR: usage: /dm NAME TEXT"])

    def test_me(self) -> None:
        """
        C{/me} needs an action.
        """
        self.assertEqual(self.send(b"/me"), ["ERROR: usage: /me ACTION"])
        self.send(b"/me waves")
        self.assertEqual(self.received(self.bob_t), ["* alice waves"])

    def test_who(self) -> None:
        """
        C{/who} alone is C{/users}; with a room it lists the room.
        """
        self.assertEqual(self.send(b"/who"), ["* Online (2): alice, bob"])
        self.assertEqual(self.send(b"/WHO"), ["* Online (2): alice, bob"])
        self.send(b"/join #x")
        self.assertEqual(self.send(b"/who #x"), ["* Members of #x (1): @alice"])
        self.assertEqual(len(self.send(b"/who nobody")), 1)

    def test_history(self) -> None:
        """
        C{/history [#ROOM | NAME] [N]}: N must be a number, within the
        limit; a name asks for a private conversation, which a guest has
        none of.
        """
        self.send(b"said")
        self.assertEqual(self.send(b"/history 1")[-1], "* End of history (1 message).")
        self.assertEqual(
            self.send(b"/history bob lots"),
            ["ERROR: usage: /history [#ROOM | NAME] [N], N from 1 to 200"],
        )
        guest = (
            "ERROR: private conversations are kept only between registered "
            "users; /register PASSWORD to keep yours."
        )
        self.assertEqual(self.send(b"/history bob"), [guest])
        self.assertEqual(self.send(b"/history bob 5"), [guest])
        [error] = self.send(b"/history 201")
        self.assertTrue(error.startswith("ERROR: "), error)
        # A digit int() does not take: a name, then.
        self.assertEqual(self.send("/history ²".encode()), [guest])
        self.assertEqual(
            self.send("/history #x ²".encode()),
            ["ERROR: usage: /history [#ROOM | NAME] [N], N from 1 to 200"],
        )
        self.assertEqual(
            self.send(b"/privacy history maybe"),
            ["ERROR: usage: /privacy [history on|off]"],
        )
        self.assertEqual(
            self.send(b"/privacy"),
            [guest],
        )
        self.send(b"/join #x")
        self.assertEqual(self.send(b"/history #x"), ["* No history in #x yet."])
        self.assertEqual(self.send(b"/history #x 5"), ["* No history in #x yet."])

    def test_away(self) -> None:
        """
        C{/away REASON} is confirmed; whoever sends a private message is
        told once, with the reason; C{/away} alone is back.
        """
        self.bob.dataReceived(b"/away  gone to lunch \n")
        self.assertEqual(
            self.received(self.bob_t), ["* You are marked as away: gone to lunch"]
        )
        self.assertEqual(self.send(b"/dm bob hi"), ["* bob is away: gone to lunch"])
        self.assertEqual(self.send(b"bob*again"), [])
        self.bob.dataReceived(b"/AWAY\n")
        self.assertEqual(
            self.received(self.bob_t),
            [
                "[private] alice: hi",
                "[private] alice: again",
                "* You are no longer marked as away.",
            ],
        )
        self.assertEqual(self.send(b"/dm bob back?"), [])

    def test_ack(self) -> None:
        """
        C{/ack} takes ids, numbers only.
        """
        usage = ["ERROR: usage: /ack ID [ID ...] (the ids of stored messages)"]
        self.assertEqual(self.send(b"/ack"), usage)
        self.assertEqual(self.send(b"/ack 1 x"), usage)
        self.assertEqual(self.send("/ack 1 ²".encode()), usage)
        self.assertEqual(self.send(b"/ack 3 4"), [])

    def test_account_usage(self) -> None:
        """
        The account commands take their words, no more, no fewer.
        """
        self.assertEqual(
            self.send(b"/register"),
            ["ERROR: usage: /register PASSWORD (one word, no spaces)"],
        )
        self.assertEqual(
            self.send(b"/register two words"),
            ["ERROR: usage: /register PASSWORD (one word, no spaces)"],
        )
        self.assertEqual(
            self.send(b"/password one"), ["ERROR: usage: /password OLD NEW"]
        )
        self.assertEqual(
            self.send(b"/unregister"), ["ERROR: usage: /unregister PASSWORD"]
        )

    def test_room_usage(self) -> None:
        """
        The room commands show their usage when words are missing.
        """
        self.send(b"/join #x")
        for line, usage in [
            (
                b"/join",
                "usage: /join #room [ID], ID the last history id you have of it",
            ),
            (
                b"/join #a #b",
                "usage: /join #room [ID], ID the last history id you have of it",
            ),
            (b"/say #x", "usage: /say #room TEXT"),
            (b"#x*", "empty message; usage: #room*TEXT or /say #room TEXT"),
            (b"/leave", "usage: /leave #room [REASON]"),
            (b"/topic", "usage: /topic #room [TEXT]"),
            (b"/invite bob", "usage: /invite NAME #room"),
            (b"/kick bob", "usage: /kick NAME #room [REASON]"),
            (b"/op bob", "usage: /op NAME #room"),
            (b"/deop", "usage: /deop NAME #room"),
            (b"/mode #x +q", "usage: /mode #room +i (invite-only) or -i (open)"),
        ]:
            self.assertEqual(self.send(line), [f"ERROR: {usage}"], line)

    def test_room_forms(self) -> None:
        """
        C{#room*text} and C{/say} talk in a room; C{/part} is C{/leave}.
        """
        for client in (self.alice, self.bob):
            client.dataReceived(b"/join #x\n")
        self.received(self.bob_t)
        self.send(b"#x*one")
        self.send(b"/say #X two")
        self.send(b"/part #x gone")
        self.assertEqual(
            self.received(self.bob_t),
            ["#x alice: one", "#x alice: two", "* alice left #x (gone)"],
        )

    def test_mode(self) -> None:
        """
        C{/mode json|text} switches the format; anything else is refused.
        """
        self.assertEqual(self.send(b"/mode"), ["ERROR: usage: /mode json|text"])
        self.assertEqual(
            self.send(b"/mode xml"), ["ERROR: unknown mode xml; usage: /mode json|text"]
        )
        [line] = self.send(b"/MODE JSON")
        self.assertEqual(json.loads(line)["mode"], "json")
        self.assertEqual(self.send(b"/mode text"), ["* Output mode is now text."])

    def test_exit(self) -> None:
        """
        C{/exit} is C{/quit}, reason and all.
        """
        self.assertEqual(self.send(b"/exit later"), ["* Goodbye!"])
        self.assertTrue(self.alice_t.disconnecting)
        self.assertEqual(self.received(self.bob_t), ["* alice left the chat (later)"])

    def test_password_prompt(self) -> None:
        """
        At the password prompt the next line is the password, slash or
        not; only C{/quit} quits.
        """
        self.send(b"/register sesame1")
        self.send(b"/quit")
        stranger, stranger_t = self.connect()
        stranger.dataReceived(b"alice\n")
        self.assertEqual(self.received(stranger_t)[-1], "Password:")
        stranger.dataReceived(b"/users\n")
        self.assertEqual(
            self.received(stranger_t),
            [
                "ERROR: wrong password for alice; enter a name again.",
                "Welcome to txchat! Please enter your name:",
            ],
        )
        stranger.dataReceived(b"alice\n/QUIT\n")
        self.assertEqual(self.received(stranger_t)[-1], "* Goodbye!")
        self.assertTrue(stranger_t.disconnecting)
        other, other_t = self.connect()
        other.dataReceived(b"alice\n/exit\n")
        self.assertEqual(self.received(other_t)[-1], "* Goodbye!")

    def test_file_offer_in_text(self) -> None:
        """
        A text-mode user who is sent a file is told so, and what to fetch it
        with.
        """
        self.alice.dataReceived(b"/mode json\n")
        self.received(self.alice_t)
        self.alice.session.offer_file("bob", 2, _SHA_OF_HI, "hi.txt")
        [upload] = self.received(self.alice_t)
        file_id = json.loads(upload)["id"]
        self.alice.session.file_chunk(file_id, 0, b"hi")
        [line] = self.received(self.bob_t)
        self.assertTrue(
            line.startswith(
                f"* alice wants to send you hi.txt (2 bytes), file {file_id};"
            ),
            line,
        )
        self.assertIn("connect with chat-client to receive it", line)

    def test_file_needs_json(self) -> None:
        """
        File data travels in JSON mode only; what carries none does not
        need it; an unknown C{/file} request shows the usage.
        """
        needs = [
            "ERROR: files travel in JSON mode only: use chat-client (or /mode json)."
        ]
        self.assertEqual(self.send(b"/file offer bob 5 abc a.txt"), needs)
        self.assertEqual(self.send(b"/file get 1 0"), needs)
        self.assertEqual(self.send(b"/file resume 1"), needs)
        self.assertEqual(
            self.send(b"/file list"),
            ["* No files for you, and no uploads of yours to resume."],
        )
        self.assertEqual(
            self.send("/file done ²".encode()),
            ["ERROR: ID must be a whole number"],
        )
        self.assertEqual(
            self.send(b"/file rename 1"),
            ["ERROR: usage: /file offer|chunk|resume|get|done|decline|cancel|list ..."],
        )


# What follows a command: words, numbers (ASCII and not), rooms, names.
_ARGUMENT = st.one_of(
    st.text(max_size=12),
    # Digits of every script, and the like ("²" is a digit to isdigit()).
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=3),
    st.sampled_from(["1", "0", "201", "-1", "99999999999999999999999", "²", "٣"]),
    st.sampled_from(["#x", "#", "bob", "alice", "+i", "-i", "json", "text"]),
)


class AnyCommandTests(LineTestCase):
    """
    Whatever follows a command, the door answers it: no exception reaches
    Twisted (which would drop the connection and log a traceback).
    """

    @settings(max_examples=500)
    @given(
        st.sampled_from(
            sorted(
                {c.usage.split()[0] for c in COMMANDS if c.usage.startswith("/")}
                - {"/quit"}
                | {"/msg", "/part", "/deop", "/who", "/file"}
            )
        ),
        st.lists(_ARGUMENT, max_size=5),
    )
    def test_any_arguments(self, command: str, words: list[str]) -> None:
        """
        Any command with any arguments is carried out or refused, and the
        connection stays open.
        """
        alice, alice_t = self.connect("alice")
        line = " ".join([command, *words]).encode("utf-8")[:60]
        line = line.decode("utf-8", "ignore").encode("utf-8")
        try:
            alice.dataReceived(line.replace(b"\n", b" ").replace(b"\x00", b" ") + b"\n")
            self.received(alice_t)
            self.assertFalse(alice_t.disconnecting, line)
        finally:
            alice.connectionLost(Failure(ConnectionDone()))
            self.clock.advance(0)
