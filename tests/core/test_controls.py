"""
Tests for L{chat.core.controls}: what a terminal would act on is escaped.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from twisted.trial.unittest import SynchronousTestCase

from chat.core.controls import UNSAFE, json_safe, shown
from chat.core.names import check_name, check_room
from chat.core.transfers import file_name
from chat.errors import BadUsage, InvalidName, InvalidRoom


class ShownTests(SynchronousTestCase):
    """
    L{shown}: caret notation for C0 and DEL, C{<U+XXXX>} for the rest.
    """

    def test_escapes(self) -> None:
        """
        Each kind of control is written so that a person sees it.
        """
        self.assertEqual(shown("\x00\x07\x08\n\r\x1b\x1f\x7f"), "^@^G^H^J^M^[^_^?")
        self.assertEqual(
            shown("\x80\x9b\x9f\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069"),
            "<U+0080><U+009B><U+009F><U+061C><U+200E><U+200F><U+2028><U+2029>"
            "<U+202A><U+202E><U+2066><U+2069>",
        )

    def test_kept(self) -> None:
        """
        Tabs, spaces of other scripts, joiners and printable text are kept.
        """
        for text in (
            "a\tb",
            "\u3000\u00a0x",
            "\U0001f469\u200d\U0001f4bb",
            "caf\u00e9",
        ):
            self.assertEqual(shown(text), text)

    def test_printable_is_the_same_object(self) -> None:
        """
        Text without controls costs one check: it comes back as it is.
        """
        text = "hello world"
        self.assertIs(shown(text), text)

    @given(st.text())
    def test_nothing_unsafe_left(self, text: str) -> None:
        """
        Whatever the text, no unsafe character is left.
        """
        self.assertIsNone(UNSAFE.search(shown(text)))


class JSONSafeTests(SynchronousTestCase):
    """
    L{json_safe}: the same JSON value, with nothing a terminal acts on.
    """

    @given(st.text())
    def test_round_trip(self, text: str) -> None:
        """
        The JSON means the same, and holds no unsafe character.
        """
        line = json_safe(json.dumps({"text": text}, ensure_ascii=False))
        self.assertIsNone(UNSAFE.search(line))
        self.assertEqual(json.loads(line), {"text": text})


class NamesRefuseControlsTests(SynchronousTestCase):
    """
    What text mode would escape is refused in user, room and file names,
    which are shown everywhere: every character L{UNSAFE} matches.
    """

    @given(st.from_regex(UNSAFE, fullmatch=True), st.sampled_from(["", "a", "a" * 5]))
    def test_refused(self, control: str, around: str) -> None:
        name = around + control + around
        with self.assertRaises(InvalidName):
            check_name(name or control)
        with self.assertRaises(InvalidRoom):
            check_room("#" + name)
        if control not in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\u2028\u2029":
            # (White space is stripped from the ends of file names.)
            with self.assertRaises(BadUsage):
                file_name(name + ".txt")
