"""
Resume in the line door (issue 16): history events carry their id in
JSON, and C{/since ID} before the name limits the login's replay to what
came after it.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from twisted.internet.testing import StringTransport

from chat.errors import BadUsage
from chat.lines.commands import parse_history_id
from chat.lines.protocol import ChatProtocol
from tests.support import LineTestCase


class ResumeTests(LineTestCase):
    """
    Alice says things; bob comes and goes in JSON mode.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_t = self.connect("alice", exempt=True)

    def json_lines(self, transport: StringTransport) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.received(transport)]

    def come(
        self, *before: bytes, name: bytes = b"bob"
    ) -> tuple[ChatProtocol, list[dict[str, Any]]]:
        """
        C{name} connects in JSON mode, sends C{before}, then the name; what
        it was sent after the mode line.
        """
        bob, bob_t = self.connect()
        bob.dataReceived(b"/mode json\n")
        self.received(bob_t)
        for line in before:
            bob.dataReceived(line + b"\n")
        bob.dataReceived(name + b"\n")
        return bob, self.json_lines(bob_t)

    def say(self, *texts: str) -> None:
        for text in texts:
            self.alice.dataReceived(text.encode() + b"\n")
        self.received(self.alice_t)

    def test_live_and_replayed_ids(self) -> None:
        """
        A live message and action carry their history id in JSON; the same
        ids come back when they are replayed.
        """
        bob, first = self.come()
        self.say("one", "/me waves")
        bob_t = bob.transport
        assert isinstance(bob_t, StringTransport)
        live = self.json_lines(bob_t)
        self.assertEqual([e["type"] for e in live], ["message", "action"])
        ids = [e["id"] for e in live]
        self.assertEqual(ids, [1, 2])
        bob.dataReceived(b"/quit\n")
        _, again = self.come()
        past = [e for e in again if e.get("history")]
        self.assertEqual(
            [(e["id"], e["text"]) for e in past], [(1, "one"), (2, "waves")]
        )

    def test_since_limits_the_replay(self) -> None:
        """
        After C{/since 2} only the entries above id 2 are replayed, then the
        usual history end; C{/since} the newest id replays nothing.
        """
        self.say("one", "two", "three", "four")
        _, shown = self.come(b"/since 2")
        self.assertEqual(shown[0]["type"], "welcome")
        # The newest id, for a client to tell a history that was lost.
        self.assertEqual(shown[0]["history_id"], 4)
        past = [e for e in shown if e.get("history")]
        self.assertEqual(
            [(e["id"], e["text"]) for e in past], [(3, "three"), (4, "four")]
        )
        self.assertEqual(shown[-1]["type"], "history-end")
        self.assertEqual(shown[-1]["count"], 2)
        bob, shown = self.come(b"/since 4", name=b"carol")
        self.assertEqual([e["type"] for e in shown], ["welcome"])

    def test_since_at_most_the_usual_count(self) -> None:
        """
        C{/since 0} replays at most the usual count (the newest of them).
        """
        self.say(*[f"m{i}" for i in range(15)])
        _, shown = self.come(b"/since 0")
        past = [e for e in shown if e.get("history")]
        self.assertEqual(len(past), self.core.limits.history_on_join)
        self.assertEqual(past[-1]["text"], "m14")

    def test_without_since_unchanged(self) -> None:
        """
        Without C{/since}, the login replays the last lines as before.
        """
        self.say("one", "two")
        _, shown = self.come()
        past = [e for e in shown if e.get("history")]
        self.assertEqual([e["text"] for e in past], ["one", "two"])

    def test_unknown_or_garbage_id(self) -> None:
        """
        An id not given yet, a negative, a word or nothing gets an ERROR,
        and the usual history is shown.
        """
        self.say("one")
        lines = (b"/since 7", b"/since -1", b"/since x", b"/since", b"/since 1e3")
        for i, line in enumerate(lines):
            _, shown = self.come(line, name=b"user%d" % i)
            self.assertEqual(shown[0]["type"], "error", line)
            code = "unknown-history-id" if i == 0 else "usage"
            self.assertEqual(shown[0]["code"], code, line)
            past = [e for e in shown if e.get("history")]
            self.assertEqual([e["text"] for e in past], ["one"], line)

    def test_refused_in_one_read_with_the_name(self) -> None:
        """
        A refused C{/since} sent in one write with the name does not lose
        the name: the client is let in, with the usual history.
        """
        self.say("one")
        bob, bob_t = self.connect()
        bob.dataReceived(b"/mode json\n/since 99\nbob\n")
        shown = self.json_lines(bob_t)
        self.assertEqual(
            [e["type"] for e in shown],
            ["mode", "prompt", "error", "welcome", "message", "history-end"],
        )

    def test_since_once_in(self) -> None:
        """
        C{/since} after the name is refused: it only shapes the login.
        """
        bob, _ = self.come()
        bob.dataReceived(b"/since 0\n")
        bob_t = bob.transport
        assert isinstance(bob_t, StringTransport)
        (error,) = self.json_lines(bob_t)
        self.assertEqual(error["type"], "error")
        self.assertIn("before your name", error["text"])

    def test_text_mode_unchanged(self) -> None:
        """
        Text mode shows no ids.
        """
        carol, carol_t = self.connect("carol")
        self.say("hello")
        self.assertEqual(self.received(carol_t), ["alice: hello"])

    def test_room_message_id(self) -> None:
        """
        A room message carries its id too, from the same sequence.
        """
        self.say("one")
        bob, _ = self.come()
        bob.dataReceived(b"/join #go\n")
        self.alice.dataReceived(b"/join #go\n")
        self.alice.dataReceived(b"#go*hi\n")
        bob_t = bob.transport
        assert isinstance(bob_t, StringTransport)
        room = [e for e in self.json_lines(bob_t) if e.get("text") == "hi"]
        self.assertEqual([(e["room"], e["id"]) for e in room], [("#go", 2)])

    def rejoin(self, *lines: bytes) -> list[dict[str, Any]]:
        """
        Bob, in JSON mode, joins C{#go} with C{lines} (each a C{/join}):
        what each brought, one list for all.
        """
        bob, _ = self.come()
        bob_t = bob.transport
        assert isinstance(bob_t, StringTransport)
        shown: list[dict[str, Any]] = []
        for line in lines:
            bob.dataReceived(line + b"\n")
            self.clock.advance(0)
            shown += self.json_lines(bob_t)
            bob.dataReceived(b"/leave #go\n")
            self.json_lines(bob_t)
        return shown

    def say_in_go(self, *texts: str) -> None:
        self.alice.dataReceived(b"/join #go\n")
        self.say(*[f"#go*{text}" for text in texts])

    def test_join_since_limits_the_room_replay(self) -> None:
        """
        C{/join #go 2} shows the room's history above id 2 only (ids are
        one sequence across the server, so a main-channel line between
        counts too); C{/join #go} the newest id shows none.
        """
        self.say_in_go("one", "two")
        self.say("main")
        self.say_in_go("three")
        shown = self.rejoin(b"/join #go 2", b"/join #go 4")
        past = [(e["id"], e["text"]) for e in shown if e.get("history")]
        self.assertEqual(past, [(4, "three")])
        self.assertEqual([e["type"] for e in shown].count("room-joined"), 2, shown)

    def test_join_since_unknown_id_shows_the_usual(self) -> None:
        """
        An id this server never gave (an in-memory server restarted) asks
        for nothing: the usual history, as without an id.
        """
        self.say_in_go("one", "two")
        shown = self.rejoin(b"/join #go 99")
        past = [e["text"] for e in shown if e.get("history")]
        self.assertEqual(past, ["one", "two"])

    def test_join_garbage_id(self) -> None:
        """
        A word, a negative or a third word is a usage error naming the id,
        and nobody joins.
        """
        bob, _ = self.come()
        bob_t = bob.transport
        assert isinstance(bob_t, StringTransport)
        for line in (b"/join #go x", b"/join #go -1", b"/join #go 1 2"):
            bob.dataReceived(line + b"\n")
            (error,) = self.json_lines(bob_t)
            self.assertEqual((error["type"], error["code"]), ("error", "usage"))
            self.assertIn("/join #room [ID]", error["text"])


class ParseHistoryIdTests(LineTestCase):
    """
    L{parse_history_id} takes ASCII digits and nothing else.
    """

    @given(st.text(max_size=30))
    def test_any_text(self, text: str) -> None:
        """
        Any text is either a whole number of at most 18 ASCII digits or a
        L{BadUsage}; never another exception.
        """
        try:
            n = parse_history_id(text)
        except BadUsage:
            stripped = text.strip()
            self.assertFalse(
                stripped.isascii() and stripped.isdigit() and len(stripped) <= 18
            )
        else:
            self.assertEqual(str(n), str(int(text.strip())))
            self.assertGreaterEqual(n, 0)

    @given(st.integers(min_value=0, max_value=10**18 - 1))
    def test_numbers(self, n: int) -> None:
        """
        Every id round-trips, with spaces around it.
        """
        self.assertEqual(parse_history_id(f" {n} "), n)
