"""
Tests for L{chat.core.names}: the naming rules every door shares.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from twisted.trial.unittest import SynchronousTestCase

from chat.core.confusables import MAPPINGS, UNICODE_VERSION
from chat.core.names import (
    MAX_MARKS,
    MAX_NAME_LENGTH,
    Lookalikes,
    _fold,
    check_name,
    check_room,
    fold,
    full_skeleton,
    is_name,
    skeleton,
    skeletons,
)
from chat.errors import InvalidName, InvalidRoom, ReservedName


class NameTests(SynchronousTestCase):
    """
    L{check_name} enforces the naming rules with reasons.
    """

    def test_no_colon(self) -> None:
        """
        A name has no C{:}, as on IRC (a fullwidth one reads as one): a
        user called C{SERVER:} doing C{/me} would pass for a notice of the
        server's (found by an attacker's review).
        """
        for name in ["SERVER:", "Warning:", "a:b", ":x", "a\uff1ab"]:
            with self.assertRaises(InvalidName, msg=name):
                check_name(name)
        self.assertFalse(is_name("SERVER:"))

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


# Names that cannot impersonate (issue 15).

#: Characters that show nothing (or nearly nothing) in a name.
INVISIBLE = [
    "\u034f",  # COMBINING GRAPHEME JOINER
    "\u3164",  # HANGUL FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\u1160",  # HANGUL JUNGSEONG FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
    "\ufe0f",  # VARIATION SELECTOR-16
    "\U000e0100",  # VARIATION SELECTOR-17
    "\u200b",  # ZERO WIDTH SPACE
    "\u200d",  # ZERO WIDTH JOINER
    "\u2060",  # WORD JOINER
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE
    "\u00ad",  # SOFT HYPHEN
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u061c",  # ARABIC LETTER MARK
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A
]


class NormalFormTests(SynchronousTestCase):
    """
    Names are compared by their NFKC form through PRECIS (RFC 8265), and
    shown in that form with their case.
    """

    def test_fullwidth(self) -> None:
        """
        A fullwidth name is the name in plain letters: same key, shown in
        plain letters.
        """
        self.assertEqual(fold("ａｌｉｃｅ"), "alice")
        self.assertEqual(check_name("ａｌｉｃｅ"), "alice")
        self.assertEqual(check_name("ＡＬＩＣＥ"), "ALICE")
        self.assertEqual(fold("ＡＬＩＣＥ"), "alice")

    def test_mathematical(self) -> None:
        """
        Mathematical bold letters are the plain letters.
        """
        self.assertEqual(check_name("𝐚𝐥𝐢𝐜𝐞"), "alice")
        self.assertEqual(fold("𝐚𝐥𝐢𝐜𝐞"), "alice")

    def test_decomposed(self) -> None:
        """
        A decomposed C{josé} is the precomposed one.
        """
        decomposed, precomposed = "jose\u0301", "jos\u00e9"
        self.assertEqual(fold(decomposed), fold(precomposed))
        self.assertEqual(check_name(decomposed), precomposed)

    def test_case_folded(self) -> None:
        """
        The key is case folded, not merely lowered: C{Straße} is
        C{STRASSE}.
        """
        self.assertEqual(fold("Straße"), fold("STRASSE"))
        self.assertEqual(check_name("Straße"), "Straße")

    def test_plain_names_unchanged(self) -> None:
        """
        Names in plain letters, accented or not, are shown exactly as typed.
        """
        for name in ["alice", "Élodie", "Zoë", "Ωmega", "Дмитрий", "山田", "bob_2"]:
            self.assertEqual(check_name(name), name)

    def test_refused_once_normalized(self) -> None:
        """
        A name that reads as a forbidden one once normalized is refused:
        SMALL ASTERISK is C{*}, FULLWIDTH SOLIDUS first is C{/}.
        """
        for name in ["a\ufe61b", "\uff0fnick"]:
            with self.assertRaises(InvalidName) as raised:
                check_name(name)
            self.assertIn("reads as", str(raised.exception))

    def test_symbols_refused(self) -> None:
        """
        PRECIS's user names are letters, digits and ASCII punctuation:
        symbols and emoji are refused, naming the character.
        """
        with self.assertRaises(InvalidName) as raised:
            check_name("bob\u2665")
        self.assertEqual(
            str(raised.exception),
            "a name cannot contain a symbol (U+2665 BLACK HEART SUIT); please "
            "choose another name.",
        )
        self.assertRaises(InvalidName, check_name, "bob\U0001f600")

    def test_bidi_rule(self) -> None:
        """
        Right-to-left names are welcome, mixed against RFC 5893's Bidi Rule
        they are not.
        """
        self.assertEqual(check_name("שלום"), "שלום")
        with self.assertRaises(InvalidName) as raised:
            check_name("שלוםabc")
        self.assertIn("right-to-left", str(raised.exception))

    def test_stacked_marks(self) -> None:
        """
        The same combining mark twice, or more than L{MAX_MARKS} in a row,
        is refused (UTS #39, 5.4).
        """
        self.assertEqual(MAX_MARKS, 4)
        self.assertEqual(check_name("e\u0301\u0302"), "\u00e9\u0302")
        for name in ["e\u0301\u0301", "e" + "\u0301\u0302\u0303\u0304\u0306"]:
            with self.assertRaises(InvalidName) as raised:
                check_name(name)
            self.assertIn("accent", str(raised.exception))

    def test_length_after_normalizing(self) -> None:
        """
        A name is at most L{MAX_NAME_LENGTH} characters as typed and once
        normalized (a ligature may become several letters).
        """
        self.assertRaises(InvalidName, check_name, "\ufb03" * 11 + "x")
        self.assertEqual(len(check_name("\ufb03" * 10)), 30)

    def test_invalid_fold(self) -> None:
        """
        L{fold} never raises: a string that breaks the rules gets a key no
        name has (it starts with a space), and that key is its own key.
        """
        for text in ["", "a b", "bob\u2665", "alice\u200b", "\u00e9" * 1000, "\x00"]:
            key = fold(text)
            self.assertTrue(key.startswith(" "), text)
            self.assertEqual(fold(key), key)
        self.assertNotEqual(fold("alice\u200b"), fold("alice"))


class InvisibleTests(SynchronousTestCase):
    """
    Invisible, default-ignorable and filler characters are refused, saying
    which.
    """

    def test_names(self) -> None:
        """
        C{alice} with any invisible character in it (or made of one) is
        refused, naming the character.
        """
        for char in INVISIBLE:
            for name in [f"alice{char}", f"al{char}ice", f"{char}alice"]:
                with self.assertRaises(InvalidName) as raised:
                    check_name(name)
                reason = str(raised.exception)
                self.assertIn(f"U+{ord(char):04X}", reason, repr(name))
                self.assertIn("invisible", reason)
                self.assertTrue(fold(name).startswith(" "))

    def test_rooms(self) -> None:
        """
        Room names follow the same rule.
        """
        for char in INVISIBLE:
            with self.assertRaises(InvalidRoom) as raised:
                check_room(f"#secret{char}")
            self.assertIn(f"U+{ord(char):04X}", str(raised.exception))

    def test_unicode_spaces(self) -> None:
        """
        Spaces outside ASCII are spaces: refused as such.
        """
        for name in ["a\u3000b", "a\u00a0b", "a\u2003b"]:
            with self.assertRaises(InvalidName) as raised:
                check_name(name)
            self.assertIn("spaces", str(raised.exception))


class RoomNameTests(SynchronousTestCase):
    """
    Room names are normalized like user names.
    """

    def test_fullwidth(self) -> None:
        """
        C{#ｓｅｃｒｅｔ} is C{#secret}; a fullwidth C{＃} does not start a
        room name.
        """
        self.assertEqual(check_room("#ｓｅｃｒｅｔ"), "#secret")
        self.assertEqual(fold("#ｓｅｃｒｅｔ"), fold("#SECRET"))
        self.assertRaises(InvalidRoom, check_room, "\uff03secret")

    def test_right_to_left(self) -> None:
        """
        The C{#} is not part of the name for PRECIS: a right-to-left room
        name passes the Bidi Rule.
        """
        self.assertEqual(check_room("#שלום"), "#שלום")
        self.assertEqual(fold("#שלום"), "#שלום")

    def test_symbols(self) -> None:
        """
        A symbol in a room name is refused with the reason.
        """
        with self.assertRaises(InvalidRoom) as raised:
            check_room("#tea\u2615")
        self.assertIn("U+2615", str(raised.exception))


class SkeletonTests(SynchronousTestCase):
    """
    L{skeleton} maps strings that look alike to one string (UTS #39).
    """

    def test_confusables(self) -> None:
        """
        Cyrillic and Greek lookalikes, digits for letters and capital I for
        l share a skeleton with the Latin name.
        """
        alice = skeletons("alice")
        for name in ["\u0430lice", "aIice", "a1ice", "\u0251lice", "ALİCE"]:
            self.assertTrue(skeletons(check_name(name)) & alice, name)
        self.assertFalse(skeletons("alicia") & alice)
        self.assertEqual(skeleton("\u0455ecret"), skeleton("secret"))

    def test_dotted_i(self) -> None:
        """
        C{ALİCE}'s key is C{ali̇ce} (an i with an explicit dot), which looks
        like C{alice} (UTS #39, 5.4).
        """
        self.assertEqual(fold("ALİCE"), "ali\u0307ce")
        self.assertNotEqual(fold("ALİCE"), fold("alice"))
        self.assertEqual(skeleton(fold("ALİCE")), skeleton("alice"))

    def test_table(self) -> None:
        """
        The table is Unicode's confusables: its version is known, and each
        character's skeleton is that of its prototype.
        """
        self.assertEqual(UNICODE_VERSION, "17.0.0")
        lines = MAPPINGS.splitlines()
        self.assertGreater(len(lines), 6000)
        for line in lines[::37]:
            source, *target = (chr(int(c, 16)) for c in line.split())
            self.assertEqual(skeleton(source), skeleton("".join(target)), line)

    @given(st.text(alphabet=st.characters(max_codepoint=127)))
    def test_ascii_shortcut(self, text: str) -> None:
        """
        The shortcut for ASCII gives what the whole algorithm gives (C{%},
        whose prototype is not ASCII, included).
        """
        self.assertEqual(skeleton(text), full_skeleton(text))


class LookalikesTests(SynchronousTestCase):
    """
    L{Lookalikes} indexes names by skeleton.
    """

    def test_find(self) -> None:
        """
        A name like one in the index is found, unless it is the same name
        (same key); names leave the index.
        """
        index = Lookalikes()
        index.add("alice", "Alice")
        self.assertEqual(index.find("\u0430lice", fold("\u0430lice")), "Alice")
        self.assertIsNone(index.find("ALICE", "alice"))
        self.assertIsNone(index.find("bob", "bob"))
        index.discard("alice")
        self.assertIsNone(index.find("\u0430lice", fold("\u0430lice")))
        self.assertEqual(len(index), 0)

    def test_two_alike(self) -> None:
        """
        Two names alike (registered before the rules) are both kept: with
        one gone, the other is still found.
        """
        index = Lookalikes()
        index.add("alice", "alice")
        index.add("\u0430lice", "\u0430lice")
        self.assertEqual(sorted(index), ["alice", "\u0430lice"])
        self.assertEqual(index.find("a1ice", "a1ice"), "alice")
        index.discard("alice")
        self.assertEqual(index.find("a1ice", "a1ice"), "\u0430lice")
        index.add("\u0430lice", "\u0430lice")
        self.assertEqual(len(index), 1)

    def test_reserved(self) -> None:
        """
        A name like C{ALL} is reserved too.
        """
        for name in ["\u0410LL", "A11", "ＡＬＬ", "𝐀𝐋𝐋"]:
            with self.assertRaises(ReservedName) as raised:
                check_name(name)
            self.assertIn("reserved", str(raised.exception))


class KeyPropertyTests(SynchronousTestCase):
    """
    Whatever a client sends as a name, it is refused with a reason or it
    has a key that is stable.
    """

    @settings(max_examples=500, deadline=None)
    @given(st.text(max_size=40))
    def test_refused_or_idempotent(self, text: str) -> None:
        """
        Any string is refused with an L{InvalidName} or is shown in a form
        whose key is its key, the key of its key, and L{check_name}'s own
        answer for it; L{fold} never raises and is idempotent.
        """
        key = fold(text)
        self.assertEqual(fold(key), key)
        try:
            shown = check_name(text)
        except InvalidName:
            return
        self.assertEqual(fold(shown), key)
        self.assertEqual(check_name(shown), shown)
        self.assertFalse(key.startswith(" "))

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.characters(codec="utf-8"), max_size=12))
    def test_stable(self, text: str) -> None:
        """
        A key does not depend on the cache: computed afresh, it is the same.
        """
        key = fold(text)
        _fold.cache_clear()
        self.assertEqual(fold(text), key)

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E)))
    def test_ascii_fast_path(self, text: str) -> None:
        """
        The fast path for printable ASCII gives what PRECIS gives.
        """
        self.assertEqual(fold(text), _fold(text))

    @settings(max_examples=300, deadline=None)
    @given(st.text(min_size=1, max_size=12).map(lambda t: "#" + t))
    def test_rooms(self, text: str) -> None:
        """
        Room names too are refused with an L{InvalidRoom} or have a stable
        key.
        """
        try:
            shown = check_room(text)
        except InvalidRoom:
            return
        self.assertEqual(fold(shown), fold(text))
        self.assertEqual(check_room(shown), shown)
