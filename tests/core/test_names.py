"""
Tests for L{chat.core.names}: the naming rules every door shares.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from chat.core.names import MAX_NAME_LENGTH, check_name, fold, is_name
from chat.errors import InvalidName, ReservedName


class NameTests(SynchronousTestCase):
    """
    L{check_name} enforces the naming rules with reasons.
    """

    def test_valid(self) -> None:
        """
        Names of 1 to 32 printable non-space characters are accepted as
        given.
        """
        for name in ["a", "Alice", "x" * MAX_NAME_LENGTH, "élodie", "bob_2", "a#b"]:
            self.assertEqual(check_name(name), name)
        self.assertEqual(check_name("a/b"), "a/b")

    def test_invalid(self) -> None:
        """
        Empty, long, spaced, starred, slashed, hashed and control-character
        names are refused, each with a reason.
        """
        for name in ["", "x" * 33, "a b", "a*b", "/a", "#a", "a\tb", "a\x1bb"]:
            with self.assertRaises(InvalidName) as raised:
                check_name(name)
            self.assertIn("name", str(raised.exception))
            self.assertFalse(is_name(name), name)

    def test_reserved(self) -> None:
        """
        C{ALL} in any case is reserved, though it has the shape of a name.
        """
        for name in ["ALL", "all", "All"]:
            self.assertRaises(ReservedName, check_name, name)
            self.assertTrue(is_name(name))

    def test_fold(self) -> None:
        """
        Names compare case-insensitively.
        """
        self.assertEqual(fold("Alice"), fold("aLICE"))
        self.assertNotEqual(fold("alice"), fold("alicia"))
