"""
Property-based tests for L{chat.client.cipher}: what holds for any text,
not just the examples in L{tests.client.test_session}.
"""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from twisted.trial.unittest import SynchronousTestCase

from chat.client.cipher import decode, encode, shift, unshift


class ShiftCipherPropertyTests(SynchronousTestCase):
    """
    The shift cipher loses nothing and touches nothing but ASCII letters.
    """

    @given(st.text())
    def test_round_trip(self, text: str) -> None:
        """
        L{decode} gives back any text L{encode}d, and says it was shifted.
        """
        self.assertEqual(decode(encode(text)), (text, True))

    @given(st.text())
    def test_only_ascii_letters_change(self, text: str) -> None:
        """
        L{shift} changes every ASCII letter and nothing else, and
        L{unshift} undoes it.
        """
        shifted = shift(text)
        self.assertEqual(len(shifted), len(text))
        for before, after in zip(text, shifted, strict=True):
            if before in string.ascii_letters:
                self.assertNotEqual(after, before)
                self.assertIn(after, string.ascii_letters)
            else:
                self.assertEqual(after, before)
        self.assertEqual(unshift(shifted), text)
