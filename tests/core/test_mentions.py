"""
Tests for L{chat.core.mentions}: who a message mentions (issue 16).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from twisted.trial.unittest import SynchronousTestCase

from chat.core.mentions import MentionIndex, mentions
from chat.core.names import fold
from chat.events import Action, Event, Joined, Message, Private, RoomMessage

T = 1_700_000_000.0


class MentionsTests(SynchronousTestCase):
    """
    L{mentions}: a name as a whole word, compared as names are.
    """

    def test_words(self) -> None:
        """
        The name as a word, with punctuation around it, is a mention.
        """
        for text in (
            "alice",
            "hi alice",
            "alice: hi",
            "@alice?",
            "(alice)",
            "alice's turn",
            "hey,alice,look",
            "_x alice_",
        ):
            self.assertEqual(mentions(text, "alice"), "_x" not in text, text)

    def test_not_part_of_a_word(self) -> None:
        """
        A name inside a longer word is no mention: C{al} is not in
        C{alice}, nor C{alice} in C{malice}, C{alicex} or C{alice_}.
        """
        self.assertFalse(mentions("hi alice", "al"))
        for text in ("malice", "alicex", "alice_", "alice2", "alicé"):
            self.assertFalse(mentions(text, "alice"), text)

    def test_case_and_width(self) -> None:
        """
        Case and compatibility forms do not matter, as for names.
        """
        for text in ("ALICE!", "Alice", "ｈｉ ａｌｉｃｅ"):
            self.assertTrue(mentions(text, "alice"), text)
        self.assertTrue(mentions("hi JOSÉ", fold("José")))
        self.assertTrue(mentions("STRASSE ok", fold("straße")))

    def test_names_with_punctuation(self) -> None:
        """
        A name with punctuation of its own is found whole.
        """
        self.assertTrue(mentions("ask dr.who now", "dr.who"))
        self.assertTrue(mentions("dr.who", "dr.who"))
        self.assertFalse(mentions("ask dr.whom", "dr.who"))

    @given(st.text(max_size=60), st.sampled_from(["alice", "dr.who", "é", "a_b"]))
    def test_index_agrees(self, text: str, name: str) -> None:
        """
        The index says what L{mentions} says, for any text.
        """
        key = fold(name)
        index = MentionIndex([Message(T, "zed", text)])
        self.assertEqual(index.of(key) == [0], mentions(text, key))


class IndexTests(SynchronousTestCase):
    """
    L{MentionIndex}: the events of a batch that mention a recipient.
    """

    def test_kinds(self) -> None:
        """
        Messages, actions and room messages may mention; others not.
        """
        events: list[Event] = [
            Message(T, "bob", "hi alice"),
            Joined(T, "alice"),
            Private(T, "bob", "carol", "alice?"),
            Action(T, "bob", "waves at Alice"),
            RoomMessage(T, "#x", "bob", "ALICE"),
            Message(T, "bob", "hi carol"),
        ]
        index = MentionIndex(events)
        self.assertEqual(index.of("alice"), [0, 3, 4])
        self.assertEqual(index.of("carol"), [5])
        self.assertEqual(index.of("dave"), [])

    def test_not_the_sender(self) -> None:
        """
        A sender naming itself does not mention itself.
        """
        index = MentionIndex(
            [Message(T, "Alice", "alice here"), Message(T, "bob", "alice")]
        )
        self.assertEqual(index.of("alice"), [1])
        index = MentionIndex([Message(T, "dr.who", "dr.who here")])
        self.assertEqual(index.of("dr.who"), [])
