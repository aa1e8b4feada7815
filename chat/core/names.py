# -*- test-case-name: tests.core.test_names -*-
"""
The rules for user and room names, the same behind every door.

Pure functions and plain data: no Twisted, no I/O.

A name (or room name) is read as Unicode's compatibility form (NFKC) and
then through the IETF PRECIS profile for user names (RFC 8265,
UsernameCaseMapped with case folding): so C{ａｌｉｃｅ}, C{𝐚𝐥𝐢𝐜𝐞} and
C{ALICE} are all the name C{alice}, and a decomposed C{josé} is the
precomposed one.  It is shown as typed, in that normal form with its case
kept (L{check_name} returns it), and compared by its key (L{fold}).
Invisible characters are refused outright, and L{Lookalikes} finds a name
whose confusable skeleton (Unicode TS #39) is that of another.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Final

from precis_i18n import get_profile

from chat.errors import InvalidName, InvalidRoom, ReservedName

MAX_NAME_LENGTH: Final = 32
RESERVED_NAMES: Final = frozenset({"all"})
TOPIC_MAX: Final = 300
# At most this many combining marks in a row (UTS #39, section 5.4).
MAX_MARKS: Final = 4

# A name is 1-32 characters without whitespace, '*' or ':', not starting
# with '/' (commands) or '#' (rooms).  No ':', as on IRC: "SERVER:" doing
# /me would pass for a server notice.  Non-printable characters are refused
# separately.
_NAME: Final = re.compile(rf"[^\s*:/#][^\s*:]{{0,{MAX_NAME_LENGTH - 1}}}")
# A room name is '#' and 1-32 characters without whitespace, '*' or ','.
_ROOM: Final = re.compile(rf"#[^\s*,]{{1,{MAX_NAME_LENGTH}}}")

# The key of a string that breaks the rules starts with this: no name's key
# does (a name has no spaces), so such a string finds nobody.
_INVALID: Final = " "
# Strings longer than this are not even normalized: no name is that long,
# even typed with compatibility characters.
_LONGEST: Final = 4 * (MAX_NAME_LENGTH + 1)

_KEY: Final = get_profile("UsernameCaseMapped:CaseFold")
_SHOWN: Final = get_profile("UsernameCasePreserved")

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt,
# 17.0.0), which unicodedata does not expose, and blanks that are not
# ignorable but show nothing: Braille's blank pattern.
_IGNORABLE: Final = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_INVISIBLE: Final = re.compile(
    "["
    + "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{chr(high)}"
        for low, high in _IGNORABLE
    )
    + r"\s\x00-\x1f\x7f-\x9f"
    + "]"
)

# What PRECIS's refusals mean, for the reason given to the user.
_KINDS: Final = {
    "unassigned": "a character this server does not know",
    "symbols": "a symbol",
    "punctuation": "punctuation other than ASCII's",
    "spaces": "a space",
    "controls": "a control character",
    "has_compat": "a compatibility character",
    "precis_ignorable_properties": "an invisible character",
    "old_hangul_jamo": "an old Hangul jamo",
    "other_letter_digits": "a character PRECIS does not allow",
}


def _describe(char: str) -> str:
    """
    C{U+00E9 LATIN SMALL LETTER E WITH ACUTE}: how a refused character is
    named in a reason (never the character itself, which may not show).
    """
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}"


def _refuse(what: str, reason: str, room: bool) -> InvalidName | InvalidRoom:
    text = f"a {what} cannot contain {reason}; please choose another {what}."
    return InvalidRoom(text) if room else InvalidName(text)


def _normalize(text: str, *, room: bool) -> str:
    """
    C{text} as shown: its NFKC form through PRECIS, case kept.

    @raise InvalidName: (L{InvalidRoom} if C{room}) with the reason.
    """
    what = "room name" if room else "name"
    if room:
        # The '#' is syntax, not part of the name: PRECIS's Bidi Rule would
        # refuse every right-to-left room name that starts with it.
        text = text[1:]
    invisible = _INVISIBLE.search(text)
    if invisible is not None:
        char = invisible.group()
        if char.isspace() and not unicodedata.category(char).startswith("C"):
            raise _refuse(what, "spaces", room)
        raise _refuse(
            what, f"invisible or control characters such as {_describe(char)}", room
        )
    nfkc = unicodedata.normalize("NFKC", text)
    try:
        shown = _SHOWN.enforce(nfkc)
        _KEY.enforce(shown)
    except UnicodeEncodeError as e:
        kind = e.reason.partition("/")[2]
        if kind == "bidi_rule":
            raise _refuse(
                what,
                "right-to-left letters mixed with others like this (RFC 5893)",
                room,
            ) from None
        value = str(e.object)
        if kind in _KINDS and 0 <= e.start < len(value):
            raise _refuse(
                what, f"{_KINDS[kind]} ({_describe(value[e.start])})", room
            ) from None
        raise _refuse(what, "this sequence of characters", room) from None
    marks = 0
    previous = ""
    for char in unicodedata.normalize("NFD", shown):
        if unicodedata.category(char) == "Mn":
            marks += 1
            if marks > MAX_MARKS or char == previous:
                raise _refuse(
                    what,
                    f"more than {MAX_MARKS} accents on one letter, or the same "
                    "accent twice",
                    room,
                )
        else:
            marks = 0
        previous = char
    return "#" + shown if room else shown


def fold(name: str) -> str:
    """
    The key under which C{name} is compared: its NFKC form through PRECIS's
    UsernameCaseMapped profile (case folded).

    Never raises: a string that breaks the rules gets a key no name has,
    and so finds nobody.  Printable ASCII takes a fast path; other strings
    are remembered (a bounded cache): lookups happen on every private
    message and join.
    """
    if name.isascii() and name.isprintable() and name and " " not in name:
        return name.lower()
    if name.isascii() or len(name) > _LONGEST:
        return _invalid(name)
    return _fold(name)


def _invalid(name: str) -> str:
    # Idempotent, as every key is: the key of a key is itself.
    return name if name.startswith(_INVALID) else _INVALID + name


@lru_cache(maxsize=4096)
def _fold(name: str) -> str:
    # A room's '#' stays out of PRECIS (see _normalize).
    room = name[:1] == "#" and len(name) > 1
    try:
        key = str(_KEY.enforce(unicodedata.normalize("NFKC", name[room:])))
    except UnicodeEncodeError:
        return _invalid(name)
    return "#" + key if room else key


def is_name(text: str) -> bool:
    """
    Whether C{text} has the shape of a user name (reserved names included).
    """
    return _NAME.fullmatch(text) is not None and text.isprintable()


def check_name(name: str) -> str:
    """
    Validate a requested name.

    @return: C{name} as it is shown: its NFKC form, case kept (the same as
        typed for any name in plain letters).
    @raise InvalidName: with the reason, if C{name} breaks the
        rules.
    @raise ReservedName: if C{name} is reserved, or looks like a reserved
        name.
    """
    if not name:
        raise InvalidName("a name cannot be empty; please enter your name.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"a name is at most {MAX_NAME_LENGTH} characters; please choose "
            "a shorter one."
        )
    if name[0] in "/#":
        raise InvalidName(
            "a name cannot start with '/' or '#'; please choose another name."
        )
    # Outside ASCII, invisible and disallowed characters first, with their
    # own reasons.
    shown = name if name.isascii() else _normalize(name, room=False)
    if not is_name(name):
        raise InvalidName(
            "a name cannot contain spaces, '*', ':' or control characters; "
            "please choose another name."
        )
    if shown is not name:
        if len(shown) > MAX_NAME_LENGTH:
            raise InvalidName(
                f"{shown} is more than {MAX_NAME_LENGTH} characters once "
                "normalized; please choose a shorter name."
            )
        if not is_name(shown):
            raise InvalidName(
                f"{name} reads as {shown}, and a name cannot contain spaces, "
                "'*' or ':', nor start with '/' or '#'; please choose another "
                "name."
            )
    key = fold(shown)
    if key in RESERVED_NAMES:
        raise ReservedName(f"the name {name} is reserved; please choose another.")
    for reserved in RESERVED_NAMES:
        if skeletons(shown) & skeletons(reserved):
            raise ReservedName(
                f"{name} looks like {reserved.upper()}, which is reserved; "
                "please choose another name."
            )
    return shown


def is_room(text: str) -> bool:
    """
    Whether C{text} has the shape of a room name.
    """
    return _ROOM.fullmatch(text) is not None and text.isprintable()


def check_room(room: str) -> str:
    """
    Validate a room name.

    @return: C{room} as it is shown: its NFKC form, case kept.
    @raise InvalidRoom: with the reason, if C{room} breaks the
        rules.
    """
    shape = InvalidRoom(
        f"a room name is '#' and 1 to {MAX_NAME_LENGTH} characters without "
        "spaces, '*', ',' or control characters, like #chess."
    )
    if room.isascii() or not room.startswith("#"):
        if not is_room(room):
            raise shape
        return room
    shown = _normalize(room, room=True)
    if not (is_room(room) and is_room(shown)):
        raise shape
    return shown


def stored(name: str) -> tuple[str, str] | None:
    """
    For the store's upgrade: the key and the shown form of a user or room
    name kept by an older txchat, or L{None} if it breaks today's rules.
    """
    try:
        shown = check_room(name) if name.startswith("#") else check_name(name)
    except (InvalidName, InvalidRoom):
        return None
    return fold(shown), shown


# Confusable skeletons (Unicode TS #39, section 4).

# Letters whose dot goes when an accent comes above (Soft_Dotted), followed
# by COMBINING DOT ABOVE: "i" + U+0307 looks like "i" (TS #39, 5.4).
_DOTTED_DOT: Final = re.compile("([ij\u0456\u0458\u012f\u0268\u1e2d\u1ecb])\u0307")
_prototypes: dict[str, str] = {}


def _table() -> dict[str, str]:
    """
    Unicode's confusables, read the first time a skeleton is needed.
    """
    if not _prototypes:
        from chat.core.confusables import MAPPINGS

        for line in MAPPINGS.splitlines():
            source, *target = line.split()
            _prototypes[chr(int(source, 16))] = "".join(chr(int(t, 16)) for t in target)
    return _prototypes


_ascii: tuple[dict[int, str], frozenset[str]] | None = None


def _ascii_table() -> tuple[dict[int, str], frozenset[str]]:
    """
    The prototypes of ASCII characters, for C{str.translate}, and the ASCII
    characters whose prototype is ASCII too (all but C{%}).
    """
    global _ascii
    if _ascii is None:
        table = {ord(c): p for c, p in _table().items() if c.isascii()}
        stays = frozenset(chr(i) for i in range(128) if table.get(i, chr(i)).isascii())
        _ascii = ({i: p for i, p in table.items() if p.isascii()}, stays)
    return _ascii


def skeleton(text: str) -> str:
    """
    The confusable skeleton of C{text}: two strings that look alike have the
    same one.

    TS #39's C{skeleton()} (NFD, each character to its prototype, NFD),
    with two tailorings: a soft-dotted letter's explicit dot above is
    dropped (TS #39, 5.4: C{i} + U+0307 looks like C{i}), and the result is
    case folded and mapped once more, since names are compared without
    case (C{I} and C{l} are alike, and so are C{ALICE} and C{aLIce}).
    """
    if text.isascii():
        ascii_table, leaves_ascii = _ascii_table()
        if leaves_ascii.issuperset(text):
            # Plain ASCII, as most names are: NFD changes nothing, nor does
            # the dot rule, and every prototype is ASCII again.
            for _ in range(2):
                text = text.translate(ascii_table).lower()
            return text
    return full_skeleton(text)


def full_skeleton(text: str) -> str:
    """
    L{skeleton} without its shortcut for ASCII.
    """
    table = _table()
    for _ in range(2):
        text = unicodedata.normalize("NFD", text)
        text = "".join([table.get(char, char) for char in text])
        text = _DOTTED_DOT.sub(r"\1", unicodedata.normalize("NFD", text))
        text = text.casefold()
    return text


@lru_cache(maxsize=1024)
def skeletons(shown: str) -> frozenset[str]:
    """
    The skeletons of the name shown as C{shown}: of its shown form and of
    its key, so that C{aIice} (capital I) looks like C{alice}, and
    C{ALİCE} (whose key is C{ali̇ce}) does too.
    """
    return frozenset({skeleton(shown), skeleton(fold(shown))})


class Lookalikes:
    """
    The skeletons of a set of names: who, among them, looks like a name.

    Kept in step by its owner on every change (a claim or release, a
    registration, a room made or dropped); a lookup costs a skeleton and a
    dictionary read, not a scan.
    """

    def __init__(self) -> None:
        self._names: dict[str, dict[str, str]] = {}
        self._of: dict[str, frozenset[str]] = {}

    def add(self, key: str, shown: str) -> None:
        """
        C{shown} (whose key is C{key}) is one of the names.
        """
        self.discard(key)
        found = self._of[key] = skeletons(shown)
        for each in found:
            self._names.setdefault(each, {})[key] = shown

    def discard(self, key: str) -> None:
        """
        The name whose key is C{key} is no longer one of them.
        """
        for each in self._of.pop(key, ()):
            names = self._names[each]
            del names[key]
            if not names:
                del self._names[each]

    def find(self, shown: str, key: str) -> str | None:
        """
        A name, other than C{key}'s own, that looks like C{shown}.
        """
        for each in skeletons(shown):
            for other, name in self._names.get(each, {}).items():
                if other != key:
                    return name
        return None

    def __iter__(self) -> Iterator[str]:
        return iter(self._of)

    def __len__(self) -> int:
        return len(self._of)
