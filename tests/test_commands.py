"""
Tests for L{chat.commands}: parsing lines and checking names.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from chat.commands import RoomSay, Say, Slash, Whisper, check_name, fold, parse
from chat.errors import InvalidName, ReservedName


class ParseTests(SynchronousTestCase):
    """
    L{parse} classifies lines as L{Say}, L{Whisper} or L{Slash}.
    """

    def test_private(self) -> None:
        """
        C{Name*text} is a private message with the text exactly as sent.
        """
        self.assertEqual(
            parse("Bob*Hello, how are you?"), Whisper("Bob", "Hello, how are you?")
        )
        self.assertEqual(parse("Bob* spaced "), Whisper("Bob", " spaced "))

    def test_only_first_star_splits(self) -> None:
        """
        C{a*b*c} is a private message to C{a} with text C{b*c}.
        """
        self.assertEqual(parse("a*b*c"), Whisper("a", "b*c"))

    def test_all_is_broadcast(self) -> None:
        """
        C{ALL*text}, in any case, is said to everyone.
        """
        self.assertEqual(parse("ALL*hey all"), Say("hey all"))
        self.assertEqual(parse("all*hey"), Say("hey"))

    def test_plain_line(self) -> None:
        """
        A line without a star, or whose prefix is no name, is said to all.
        """
        self.assertEqual(parse("hello"), Say("hello"))
        self.assertEqual(parse("2 * 3 is 6"), Say("2 * 3 is 6"))
        self.assertEqual(parse("*bold*"), Say("*bold*"))
        self.assertEqual(parse("#no room*x"), Say("#no room*x"))
        self.assertEqual(parse("#room*x"), RoomSay("#room", "x"))

    def test_slash(self) -> None:
        """
        C{/cmd args} is a command, lower-cased, with its arguments exactly as
        sent after the first space.
        """
        self.assertEqual(parse("/DM bob  hi "), Slash("dm", "bob  hi "))
        self.assertEqual(parse("/bm   spaced  "), Slash("bm", "  spaced  "))
        self.assertEqual(parse("/users"), Slash("users", ""))


class NameTests(SynchronousTestCase):
    """
    L{check_name} enforces the naming rules with reasons.
    """

    def test_valid(self) -> None:
        """
        Names of 1 to 32 printable non-space characters are accepted.
        """
        for name in ["a", "Alice", "x" * 32, "élodie", "bob_2", "a#b", "a/b"]:
            self.assertEqual(check_name(name), name)

    def test_invalid(self) -> None:
        """
        Empty, long, spaced, starred, slashed, hashed and control-character
        names are refused.
        """
        for name in ["", "x" * 33, "a b", "a*b", "/a", "#a", "a\tb", "a\x1bb"]:
            self.assertRaises(InvalidName, check_name, name)

    def test_reserved(self) -> None:
        """
        C{ALL} in any case is reserved.
        """
        for name in ["ALL", "all", "All"]:
            self.assertRaises(ReservedName, check_name, name)

    def test_fold(self) -> None:
        """
        Names compare case-insensitively.
        """
        self.assertEqual(fold("Alice"), fold("aLICE"))
