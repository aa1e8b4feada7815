# -*- test-case-name: tests.core.test_controls -*-
"""
Characters a terminal or a text viewer acts on rather than shows: what
users send is shown with them escaped, so that nothing one user types
moves another user's cursor, clears their screen, rewrites a line, sets
their clipboard (OSC 52) or reorders what they read.

Every door that writes text for people uses L{shown}; one that writes JSON
uses L{json_safe}, which keeps the characters (as C{\\uXXXX}).  The log has
its own escaping (L{chat.core.logs.loggable}).

Escaped: the C0 controls but tab (C{^[} for ESC, C{^M} for CR, C{^@} for
NUL: the caret notation of C{cat -v}), DEL (C{^?}), the C1 controls
U+0080 to U+009F (C{<U+009B>}), the Unicode bidirectional controls (U+061C,
U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069), which reorder the rest
of a line ("Trojan Source"), and the line and paragraph separators U+2028
and U+2029, which some viewers take for line breaks.  Other format
characters (the zero-width joiner of emoji sequences, the zero-width
non-joiner of Persian) are text, and shown as they are.
"""

from __future__ import annotations

import re
from typing import Final

#: Every character L{shown} escapes.
UNSAFE: Final = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
)

# Those JSON leaves as they are (it escapes C0 itself).
_JSON_UNSAFE: Final = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
)


def _escape(c: str) -> str:
    code = ord(c)
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


# The ranges of UNSAFE, first and last.
_RANGES: Final = (
    (0x00, 0x08),
    (0x0A, 0x1F),
    (0x7F, 0x9F),
    (0x061C, 0x061C),
    (0x200E, 0x200F),
    (0x2028, 0x202E),
    (0x2066, 0x2069),
)
_ESCAPES: Final = {
    chr(code): _escape(chr(code))
    for first, last in _RANGES
    for code in range(first, last + 1)
}


def _escaped(match: re.Match[str]) -> str:
    return _ESCAPES[match.group()]


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def shown(text: str) -> str:
    """
    C{text} as a terminal may show it: what it would act on escaped.

    Costs one C{str.isprintable} for text without such characters (the
    escaped ones are all non-printable), so callers need no check of
    their own.
    """
    if text.isprintable():
        return text
    return UNSAFE.sub(_escaped, text)


def json_safe(line: str) -> str:
    """
    C{line}, a JSON text written with C{ensure_ascii=False}, with DEL, the
    C1 controls, the bidirectional controls and the line separators
    written as C{\\uXXXX}: a program decodes the same characters, and a
    person who reads the JSON in a terminal is not acted on.  (These
    characters can only be inside JSON strings, where C{\\uXXXX} means
    them.)
    """
    if line.isprintable():
        return line
    return _JSON_UNSAFE.sub(_json_escaped, line)
