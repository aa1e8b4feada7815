"""
Tests for L{chat.lines.syntax}: one line of text into a command value.
"""

from __future__ import annotations

from hypothesis import event, given
from hypothesis import strategies as st

from twisted.trial.unittest import SynchronousTestCase

from chat.core.names import is_name, is_room
from chat.lines.syntax import RoomSay, Say, Slash, Whisper, parse

#: Lines that start like each kind of line, or nearly (plain text alone is
#: nearly always L{Say}): a command, an address that is a name, a reserved
#: name, a room or no address at all, then anything.
lines = st.builds(
    str.__add__,
    st.sampled_from(
        ["", "/", "/x ", "bob*", "ALL*", "all*", "#r*", "#room*", "a b*", "*", "#*"]
    ),
    st.text(max_size=80),
)


class ParseTests(SynchronousTestCase):
    """
    L{parse} classifies lines as L{Say}, L{Whisper}, L{RoomSay} or L{Slash}.
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

    @given(lines)
    def test_any_line(self, line: str) -> None:
        """
        Any line is one of the four, and loses nothing: the text of what is
        said is what was typed after the address (or all of it), and an
        address is a name or a room by the core's rules.
        """
        command = parse(line)
        event(type(command).__name__)
        if isinstance(command, Slash):
            self.assertTrue(line.startswith("/"))
            name, _, args = line[1:].partition(" ")
            self.assertEqual((command.name, command.args), (name.lower(), args))
        elif isinstance(command, Whisper):
            self.assertTrue(is_name(command.target))
            self.assertEqual(line, f"{command.target}*{command.text}")
        elif isinstance(command, RoomSay):
            self.assertTrue(is_room(command.room))
            self.assertEqual(line, f"{command.room}*{command.text}")
        else:
            self.assertIsInstance(command, Say)
            self.assertTrue(line == command.text or line.endswith("*" + command.text))
