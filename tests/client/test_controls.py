"""
Tests for L{chat.client.controls}: the client escapes what the server's
text mode escapes, the same way.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from chat.client.controls import shown, shown_event
from chat.core import controls as core


class ShownTests(SynchronousTestCase):
    """
    L{shown} and L{shown_event}.
    """

    def test_same_as_server(self) -> None:
        """
        Every character of the Basic Multilingual Plane and beyond (the
        surrogates excepted) is shown as the server's text mode shows it.
        """
        text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
        self.assertEqual(shown(text), core.shown(text))

    def test_examples(self) -> None:
        """
        C0 controls in caret notation (tab kept), DEL as C{^?}, C1 and
        bidirectional controls as C{<U+XXXX>}; printable text unchanged.
        """
        self.assertEqual(
            shown("a\x1b[1m\r\n\t\x7f\x9b\u202eé😀"),
            "a^[[1m^M^J\t^?<U+009B><U+202E>é😀",
        )

    def test_event(self) -> None:
        """
        Every string of an event is escaped, at any depth; other values
        are kept.
        """
        self.assertEqual(
            shown_event({"text": "a\rb", "users": ["x\x1b"], "n": 3, "o": {"k": "\n"}}),
            {"text": "a^Mb", "users": ["x^["], "n": 3, "o": {"k": "^J"}},
        )
